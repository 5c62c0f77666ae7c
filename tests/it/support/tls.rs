//! A self-signed certificate and a TLS acceptor for test servers on loopback.

use std::sync::Arc;

/// A certificate for `names` (DNS names or IP addresses), as DER for a client's roots and PEM
/// for files and `--cacert`.
pub struct SelfSigned {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A TLS acceptor with a fresh self-signed certificate for `names`, offering `alpn`.
pub fn self_signed(names: &[&str], alpn: &[&[u8]]) -> SelfSigned {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = rcgen::generate_simple_self_signed(names).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    SelfSigned {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert_der: key.cert.der().clone(),
        cert_pem: key.cert.pem(),
        key_pem: key.signing_key.serialize_pem(),
    }
}
