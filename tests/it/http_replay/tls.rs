//! HTTPS in HTTP mode: a TLS test host with a certificate made at test time, `--insecure`,
//! redirects from plain HTTP, untrusted certificates.

use super::*;
use std::sync::Arc;

/// HTTPS test host: a TLS server on 127.0.0.1 with a certificate for "localhost" made at test
/// time, and a plain HTTP server beside it that redirects everything to it (as a site's port 80
/// does). `/login` sets a Secure cookie and redirects to `/account`; anything else is 200.
struct HttpsHost {
    tls_port: u16,
    plain_port: u16,
    /// Request heads received over TLS, and over plain HTTP.
    tls_heads: Arc<std::sync::Mutex<Vec<String>>>,
    plain_heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpsHost {
    async fn start() -> HttpsHost {
        use tokio::net::TcpListener;
        let acceptor = crate::support::tls::self_signed(&["localhost"], &[]).acceptor;
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_port = tls.local_addr().unwrap().port();
        let host = HttpsHost {
            tls_port,
            plain_port: plain.local_addr().unwrap().port(),
            tls_heads: Default::default(),
            plain_heads: Default::default(),
        };
        let heads = host.tls_heads.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tls.accept().await.unwrap();
                let (acceptor, heads) = (acceptor.clone(), heads.clone());
                tokio::spawn(async move {
                    // A client that rejects the certificate ends the handshake: nothing served.
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        serve_http1(stream, heads, |path| match path {
                            "/login" => "HTTP/1.1 302 Found\r\nLocation: /account\r\nSet-Cookie: sid=s3cret; Secure; HttpOnly; Path=/\r\nContent-Length: 0\r\n\r\n".to_string(),
                            _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
                        })
                        .await;
                    }
                });
            }
        });
        let heads = host.plain_heads.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = plain.accept().await.unwrap();
                let heads = heads.clone();
                tokio::spawn(serve_http1(tcp, heads, move |path| {
                    format!("HTTP/1.1 301 Moved Permanently\r\nLocation: https://localhost:{tls_port}{path}\r\nContent-Length: 0\r\n\r\n")
                }));
            }
        });
        host
    }
}

/// Answers each request head read from `stream` with `reply(path)`, keeping the connection.
async fn serve_http1<S>(
    mut stream: S,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    reply: impl Fn(&str) -> String,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut buf, mut got) = (vec![0u8; 4096], Vec::new());
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            got.drain(..end + 4);
            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
            heads.lock().unwrap().push(head);
            if stream.write_all(reply(&path).as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn https_run_spec(url: &str, insecure: bool, iterations: u64) -> RunSpec {
    let mut spec = RunSpec::single(
        config::url_flow(url).unwrap(),
        LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(2, Duration::ZERO, Duration::from_secs(20)).unwrap(),
            ),
            iterations: Some(iterations),
            think: ThinkPolicy::Recorded {
                scale: 0.0,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain: throng::plan::DEFAULT_DRAIN,
        },
        Mode::Http,
    );
    spec.http.client.insecure = insecure;
    spec
}

fn requests_by_outcome(summary: &RunSummary) -> (u64, BTreeMap<String, u64>) {
    let mut failures = BTreeMap::new();
    let mut count = 0;
    for e in summary.entries.iter().filter(|e| e.kind.is_request()) {
        count += e.count;
        for (k, v) in &e.failures_by_outcome {
            *failures.entry(k.clone()).or_default() += v;
        }
    }
    (count, failures)
}

#[tokio::test]
async fn https_with_insecure_counts_match_the_server_and_http_redirects_to_https() {
    let host = HttpsHost::start().await;
    // Self-signed: accepted with --insecure. Two users, four iterations each.
    let url = format!("https://localhost:{}/page", host.tls_port);
    let summary = run::execute(
        https_run_spec(&url, true, 4),
        Sink::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let (count, failures) = requests_by_outcome(&summary);
    assert_eq!(failures, BTreeMap::new());
    assert_eq!(count, 8);
    assert_eq!(host.tls_heads.lock().unwrap().len() as u64, count);

    // http -> https (301), a Secure session cookie set over TLS (302), sent back over TLS.
    host.tls_heads.lock().unwrap().clear();
    let url = format!("http://localhost:{}/login", host.plain_port);
    let summary = run::execute(
        https_run_spec(&url, true, 1),
        Sink::new(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let (count, failures) = requests_by_outcome(&summary);
    assert_eq!(failures, BTreeMap::new());
    let names: BTreeMap<&str, u64> = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| (e.name.as_str(), e.count))
        .collect();
    let (plain, tls) = (host.plain_port, host.tls_port);
    assert_eq!(
        names,
        BTreeMap::from([
            (format!("GET http://localhost:{plain}/login").as_str(), 2),
            (format!("GET https://localhost:{tls}/login").as_str(), 2),
            (format!("GET https://localhost:{tls}/account").as_str(), 2),
        ])
    );
    let tls_heads = host.tls_heads.lock().unwrap().clone();
    assert_eq!(
        host.plain_heads.lock().unwrap().len() + tls_heads.len(),
        count as usize
    );
    let account: Vec<_> = tls_heads
        .iter()
        .filter(|h| h.starts_with("GET /account "))
        .collect();
    assert_eq!(account.len(), 2);
    assert!(
        account.iter().all(|h| h.contains("\r\ncookie: sid=s3cret")),
        "{account:?}"
    );
}

#[test]
fn an_untrusted_certificate_is_a_tls_failure_unless_insecure() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let host = rt.block_on(HttpsHost::start());
    let url = format!("https://localhost:{}/", host.tls_port);
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &Path| {
        crate::support::throng()
            .args(["run", &url, "--users", "1", "--iterations", "3", "-q"])
            .args(["--duration", "20s", "--out"])
            .arg(out)
            .args(extra)
            .output()
            .unwrap()
    };
    let results = |out: &Path| {
        throng::report::read_results(&out.join("results.json"))
            .unwrap()
            .summary
    };

    // Without --insecure the self-signed certificate fails the check: counted, reported.
    let out = run(&[], &dir.path().join("strict"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every session failed (each of the 3 iterations): exit 1 even without a threshold.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("tls"), "{stdout}");
    let (count, failures) = requests_by_outcome(&results(&dir.path().join("strict")));
    assert_eq!(count, 3);
    assert_eq!(failures, BTreeMap::from([("tls".to_string(), 3)]));
    assert!(host.tls_heads.lock().unwrap().is_empty());

    // -k accepts it: every request reaches the server.
    let out = run(&["-k"], &dir.path().join("insecure"));
    assert_eq!(out.status.code(), Some(0));
    let (count, failures) = requests_by_outcome(&results(&dir.path().join("insecure")));
    assert_eq!((count, failures.len()), (3, 0));
    assert_eq!(host.tls_heads.lock().unwrap().len(), 3);
}
