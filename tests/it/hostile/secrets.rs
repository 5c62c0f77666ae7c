//! Secrets stay where they belong (items 16 and 18): a URL's password reaches only the host
//! it is for (as Basic auth), never a report, a metric label, the terminal or a Job's
//! arguments; a flow's data files sit under its directory unless a flag allows another.

use super::{ended, throng};
use crate::prometheus::free_port;
use crate::support::{demo, wait_for};
use serde::Deserialize as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SITE_PASSWORD: &str = "site-pass-7q";
const PUSH_PASSWORD: &str = "push-pass-9w";

/// A remote-write receiver that keeps every request (headers and body) and answers 204.
async fn keeping_receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let keep = kept.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await
                    else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if request.len() < end + 4 + length {
                        continue;
                    }
                    keep.lock().unwrap().push(std::mem::take(&mut request));
                    let _ = tcp
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (addr.to_string(), kept)
}

/// The body of a kept request, decoded (snappy, then the protobuf): its series' labels.
fn labels(request: &[u8]) -> String {
    use prost::Message as _;
    let at = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&request[at..])
        .unwrap();
    let write =
        throng::live::prometheus::remote_write::WriteRequest::decode(raw.as_slice()).unwrap();
    format!("{write:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_passwords_reach_only_their_host_and_never_a_report_label_or_log() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (push_addr, kept) = keeping_receiver().await;
    let metrics = format!("127.0.0.1:{}", free_port());
    let target = site
        .base_url()
        .replace("http://", &format!("http://alice:{SITE_PASSWORD}@"));
    let push = format!("http://bob:{PUSH_PASSWORD}@{push_addr}/api/v1/write");
    let run = throng(&[
        "run",
        &format!("{target}/"),
        "-d",
        "3s",
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--metrics",
        &metrics,
        "--metrics-linger",
        "3s",
        "--remote-write",
        &push,
        "--remote-write-interval",
        "300ms",
    ])
    .spawn()
    .unwrap();
    let scrape = wait_for(
        "a scrape with requests",
        Duration::from_secs(30),
        || async {
            let text = reqwest::get(format!("http://{metrics}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("throng_requests_total{").then_some(text)
        },
    )
    .await;
    let (code, stdout, stderr) = ended(run, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}");
    let pushes = kept.lock().unwrap().clone();
    assert!(!pushes.is_empty());
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("bob:{PUSH_PASSWORD}"));
    let mut places = vec![("stdout", stdout), ("stderr", stderr), ("/metrics", scrape)];
    for p in &pushes {
        let head = String::from_utf8_lossy(p).to_ascii_lowercase();
        assert!(head.contains(&format!(
            "authorization: basic {}",
            basic.to_ascii_lowercase()
        )));
        assert!(head.starts_with("post /api/v1/write http/1.1"), "{head}");
        places.push(("push", labels(p)));
    }
    for file in ["results.json", "report.html", "stats.csv", "history.csv"] {
        places.push((file, std::fs::read_to_string(out.join(file)).unwrap()));
    }
    for (place, text) in &places {
        for secret in [SITE_PASSWORD, PUSH_PASSWORD] {
            assert!(!text.contains(secret), "{secret} in {place}");
        }
    }
    assert!(places
        .iter()
        .any(|(p, t)| *p == "results.json" && t.contains("GET http://127.0.0.1")));

    // `throng k8s`: the passwords go to the Secret; the Job's arguments name them.
    let (code, yaml, stderr) = ended(
        throng(&[
            "k8s",
            &format!("{target}/"),
            "--workers",
            "2",
            "--image",
            "throng:test",
            "--remote-write",
            &push,
        ])
        .spawn()
        .unwrap(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let docs: Vec<serde_json::Value> = yaml_serde::Deserializer::from_str(&yaml)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .collect();
    for doc in &docs {
        let text = doc.to_string();
        let secret = doc["kind"] == "Secret";
        for pw in [SITE_PASSWORD, PUSH_PASSWORD] {
            assert_eq!(text.contains(pw), secret, "{pw} in a {}", doc["kind"]);
        }
    }
    let coordinator = docs
        .iter()
        .find(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .ends_with("-coordinator")
                && d["kind"] == "Job"
        })
        .unwrap();
    let args = coordinator["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        args.contains("http://$(THRONG_USERINFO_0)@127.0.0.1"),
        "{args}"
    );
    assert!(args.contains("@127.0.0.1:"), "{args}");
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flows_data_file_must_sit_under_its_directory_unless_allowed() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let flows = tmp.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    let private = tmp.path().join("private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(private.join("keys.csv"), "k\nPRIVATE-LINE-1\n").unwrap();
    // Reached by `..`, by an absolute path, and by a link inside the flow's directory.
    std::os::unix::fs::symlink(private.join("keys.csv"), flows.join("link.csv")).unwrap();
    let base = site.base_url();
    for file in [
        "../private/keys.csv".to_string(),
        private.join("keys.csv").display().to_string(),
        "link.csv".to_string(),
    ] {
        let flow = flows.join("f.json");
        std::fs::write(
            &flow,
            format!(
                r#"{{"title": "x", "origin": "{base}",
                    "variables": [{{"name": "k", "csv": {{"file": "{file}", "column": "k"}}}}],
                    "steps": [{{"type": "navigate", "url": "{base}/?k=${{k}}"}}]}}"#
            ),
        )
        .unwrap();
        let f = flow.to_str().unwrap();
        for args in [
            vec!["validate", f],
            vec!["run", f, "-d", "1s", "-q"],
            vec!["k8s", f, "--workers", "1", "--image", "t"],
        ] {
            let (code, stdout, stderr) =
                ended(throng(&args).spawn().unwrap(), Duration::from_secs(30)).await;
            assert_eq!(code, 2, "{args:?} {file}: {stderr}");
            assert!(
                stderr.contains("is outside the flow's directory"),
                "{stderr}"
            );
            assert!(stderr.contains("--allow-data"), "{stderr}");
            assert!(!stdout.contains("PRIVATE-LINE"), "{stdout}");
        }
        let allowed = private.to_str().unwrap();
        let (code, _, stderr) = ended(
            throng(&["validate", f, "--allow-data", allowed])
                .spawn()
                .unwrap(),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
    }
    assert_eq!(site.stats().total, 0, "no line was sent to the target");
    site.shutdown().await;
}
