//! TLS for the HTTP client: the run's rustls configurations (certificates checked against the
//! system roots, or any certificate accepted with `--insecure`), built once, on the first https
//! connection, and shared by every user; each user resumes only its own sessions, as one
//! person's browser does, so a new session starts with a full handshake.

use crate::replay::trusted_certs::TrustedCerts;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio_rustls::TlsConnector;

/// TLS sessions a user keeps for resumption (one per host it talks to, a few hosts at most).
const USER_SESSIONS: usize = 4;

/// The run's TLS configurations, shared by every clone (all users of a run). Nothing is built,
/// and no certificate file read, until a user first connects over https.
#[derive(Clone, Default)]
pub struct SharedTls(Arc<Configs>);

#[derive(Default)]
struct Configs {
    verified: OnceLock<Arc<ClientConfig>>,
    insecure: OnceLock<Arc<ClientConfig>>,
}

impl fmt::Debug for SharedTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTls")
            .field("built", &self.0.verified.get().is_some())
            .finish()
    }
}

impl SharedTls {
    /// Certificates are checked against `roots` instead of the system's (a private CA).
    pub fn with_roots(roots: RootCertStore) -> Self {
        let shared = SharedTls::default();
        let _ = shared.0.verified.set(Arc::new(config(Some(roots), false)));
        shared
    }

    /// `--cacert`: the system's roots plus these certificates.
    pub fn trusting(extra: &TrustedCerts) -> Self {
        let mut roots = system_roots();
        let (_, ignored) = roots.add_parsable_certificates(extra.certs.iter().cloned());
        if ignored > 0 {
            tracing::warn!("--cacert: {ignored} certificate(s) could not be used as roots");
        }
        Self::with_roots(roots)
    }

    /// The run-wide configuration; `insecure` accepts any certificate.
    pub fn config(&self, insecure: bool) -> Arc<ClientConfig> {
        let cell = if insecure {
            &self.0.insecure
        } else {
            &self.0.verified
        };
        cell.get_or_init(|| Arc::new(config(None, insecure)))
            .clone()
    }

    /// A connector for one user: the run's configuration with the user's own session cache,
    /// offering HTTP/2 before HTTP/1.1 when `http2` (as browsers do).
    pub fn user_connector(&self, insecure: bool, http2: bool) -> TlsConnector {
        let mut config = (*self.config(insecure)).clone();
        config.resumption = Resumption::in_memory_sessions(USER_SESSIONS);
        if http2 {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        TlsConnector::from(Arc::new(config))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Speaks HTTP/1.1 only (ALPN), TLS 1.2 and 1.3; verified against `roots`, else the system's.
fn config(roots: Option<RootCertStore>, insecure: bool) -> ClientConfig {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3");
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots.unwrap_or_else(system_roots))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// The system's trusted roots (on Debian /etc/ssl/certs, or $SSL_CERT_FILE / $SSL_CERT_DIR).
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!("loading system certificates: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            "no trusted root certificates found (install ca-certificates or set SSL_CERT_FILE): \
             every https request will fail its certificate check; --insecure skips it"
        );
    } else if ignored > 0 {
        tracing::debug!("{ignored} system certificates could not be parsed");
    }
    roots
}

/// `--insecure`: any certificate is accepted (like curl -k), but the handshake's signatures are
/// still checked, so the connection is a real TLS session with whoever holds the key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name a certificate must match (and the SNI sent: none for an IP address, as browsers do).
pub fn server_name(host: &url::Host<&str>) -> Option<ServerName<'static>> {
    match host {
        url::Host::Domain(name) => ServerName::try_from(name.to_string()).ok(),
        url::Host::Ipv4(ip) => Some(ServerName::IpAddress(std::net::IpAddr::V4(*ip).into())),
        url::Host::Ipv6(ip) => Some(ServerName::IpAddress(std::net::IpAddr::V6(*ip).into())),
    }
}

/// Says once per process why a TLS handshake failed (the run's report only counts them), so
/// that a self-signed test host is recognised at once.
pub fn report_first_failure(url: &url::Url, e: &std::io::Error, insecure: bool) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    let hint = if insecure {
        ""
    } else {
        " (--insecure accepts any certificate)"
    };
    tracing::error!(
        "TLS handshake with {} failed: {e}{hint}; such requests count as `tls` failures",
        url.origin().ascii_serialization()
    );
}

/// Whether an I/O error carries a TLS failure (a bad certificate, a protocol error, an alert).
pub fn is_tls_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::answer_each_head;
    use super::super::{ClientOptions, Request, Tag, UserClient};
    use super::*;
    use crate::metrics::{Outcome, SampleKind, Sink};
    use rustls::pki_types::PrivateKeyDer;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::net::TcpListener;
    use url::Url;

    /// A completed handshake's SNI and ALPN protocol.
    type Session = (Option<String>, Option<Vec<u8>>);

    /// What an HTTPS test server saw.
    #[derive(Default)]
    pub struct Seen {
        pub handshakes: AtomicUsize,
        pub sessions: Mutex<Vec<Session>>,
        /// Every request head received.
        pub heads: Mutex<Vec<String>>,
    }

    /// A TLS acceptor with a self-signed certificate for `names` offering `alpn` (a client
    /// offering h2 first falls back to http/1.1 when only that is offered), and the certificate.
    pub fn self_signed(
        names: &[&str],
        alpn: &[&[u8]],
    ) -> (tokio_rustls::TlsAcceptor, CertificateDer<'static>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = rcgen::generate_simple_self_signed(names).unwrap();
        let cert = key.cert.der().clone();
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.clone()],
                PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        (tokio_rustls::TlsAcceptor::from(Arc::new(config)), cert)
    }

    /// An HTTPS server on 127.0.0.1 with a self-signed certificate for `names`; answers every
    /// request 200 "ok" (closing after each when `close_each`); returns its port, its
    /// certificate and what it saw.
    pub async fn https_server(
        names: &[&str],
        close_each: bool,
    ) -> (u16, CertificateDer<'static>, Arc<Seen>) {
        let (acceptor, cert) = self_signed(names, &[b"http/1.1"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, seen) = (acceptor.clone(), seen2.clone());
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        return;
                    };
                    seen.handshakes.fetch_add(1, Ordering::SeqCst);
                    let (_, conn) = s.get_ref();
                    let session = (
                        conn.server_name().map(str::to_string),
                        conn.alpn_protocol().map(<[u8]>::to_vec),
                    );
                    seen.sessions.lock().unwrap().push(session);
                    let heads = |head| seen.heads.lock().unwrap().push(head);
                    answer_each_head(&mut s, Duration::ZERO, close_each, heads).await;
                });
            }
        });
        (port, cert, seen)
    }

    fn get(url: &str) -> Request {
        Request::get(Url::parse(url).unwrap(), SampleKind::Document)
    }

    fn tag() -> Tag {
        Tag {
            flow: Arc::from("f"),
            step: None,
            trace: None,
            capture: None,
        }
    }

    fn client(tls: SharedTls, insecure: bool, sink: &Sink) -> UserClient {
        let opts = ClientOptions {
            tls,
            insecure,
            ..ClientOptions::default()
        };
        UserClient::new(
            &opts,
            crate::replay::http::record::MetricObserver::shared(sink.recorder(0)),
        )
        .unwrap()
    }

    fn trusting(cert: &CertificateDer<'static>) -> SharedTls {
        let mut roots = RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        SharedTls::with_roots(roots)
    }

    #[tokio::test]
    async fn cacert_trusts_its_certificates_besides_the_systems() {
        let (port, cert, _) = https_server(&["localhost"], false).await;
        let url = format!("https://localhost:{port}/");
        let sink = Sink::new();
        let system_only = client(SharedTls::default(), false, &sink);
        assert!(system_only.send(get(&url), &tag(), &[]).await.is_err());
        let extra = TrustedCerts { certs: vec![cert] };
        let user = client(SharedTls::trusting(&extra), false, &sink);
        let r = user.send(get(&url), &tag(), &[]).await.unwrap();
        assert_eq!(r.status, 200);
    }

    #[tokio::test]
    async fn a_trusted_certificate_is_verified_with_sni_and_alpn_over_one_kept_connection() {
        let (port, cert, seen) = https_server(&["localhost"], false).await;
        let sink = Sink::new();
        let user = client(trusting(&cert), false, &sink);
        let url = format!("https://localhost:{port}/page?q=1");
        for _ in 0..3 {
            let r = user.send(get(&url), &tag(), &[]).await.unwrap();
            assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
        }
        assert_eq!(seen.handshakes.load(Ordering::SeqCst), 1);
        let sessions = seen.sessions.lock().unwrap().clone();
        assert_eq!(
            sessions,
            vec![(Some("localhost".to_string()), Some(b"http/1.1".to_vec()))]
        );
        let heads = seen.heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 3);
        assert!(heads[0].starts_with("GET /page?q=1 HTTP/1.1\r\nhost: localhost:"));
    }

    #[tokio::test]
    async fn an_untrusted_or_misnamed_certificate_is_a_tls_failure() {
        let (port, cert, seen) = https_server(&["localhost"], false).await;
        let sink = Sink::new();
        // Self-signed, checked against the system's roots.
        let user = client(SharedTls::default(), false, &sink);
        let url = format!("https://localhost:{port}/");
        assert_eq!(
            user.send(get(&url), &tag(), &[]).await.err(),
            Some(Outcome::Tls)
        );
        // Trusted, but issued for another name than the one asked for.
        let user = client(trusting(&cert), false, &sink);
        let url = format!("https://127.0.0.1:{port}/");
        assert_eq!(
            user.send(get(&url), &tag(), &[]).await.err(),
            Some(Outcome::Tls)
        );
        assert!(seen.heads.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn insecure_accepts_a_self_signed_certificate_for_any_name() {
        let (port, _, seen) = https_server(&["test.invalid"], false).await;
        let sink = Sink::new();
        let user = client(SharedTls::default(), true, &sink);
        let url = format!("https://127.0.0.1:{port}/");
        let r = user.send(get(&url), &tag(), &[]).await.unwrap();
        assert_eq!(r.status, 200);
        // An IP address is not sent as SNI (as browsers do).
        assert_eq!(seen.sessions.lock().unwrap()[0].0, None);
    }

    #[tokio::test]
    async fn a_tls_connection_the_server_closed_is_replaced() {
        let (port, _, seen) = https_server(&["localhost"], true).await;
        let sink = Sink::new();
        let user = client(SharedTls::default(), true, &sink);
        let url = format!("https://localhost:{port}/");
        for _ in 0..3 {
            assert_eq!(user.send(get(&url), &tag(), &[]).await.unwrap().status, 200);
        }
        assert_eq!(seen.handshakes.load(Ordering::SeqCst), 3);
        assert_eq!(seen.heads.lock().unwrap().len(), 3);
    }
}
