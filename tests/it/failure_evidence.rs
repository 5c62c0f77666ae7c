//! A replay that fails on a real server shows why: real Chromium against a page (served by
//! Python's http.server) whose selector is missing and whose script fails keeps a screenshot,
//! the page's URL, title and console errors, listed in results.json, linked from report.html
//! and named in the terminal summary; HTTP mode keeps the failing response (status, URL, first
//! bytes) with the secret it sent redacted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let server = Server { child, port };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("http.server did not listen");
}

/// Runs `flow` once with one user in `mode`, results in `out`; returns stdout and results.json.
fn run(flow: &Path, mode: &str, out: &Path, extra: &[&str]) -> (String, serde_json::Value) {
    let o = crate::support::throng()
        .arg("run")
        .arg(flow)
        .args(["--mode", mode, "--users", "1", "--iterations", "1"])
        .args(["--duration", "60s", "--think", "0s", "-q", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("throng runs");
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let text = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("results.json: {e}\n{}", String::from_utf8_lossy(&o.stderr)));
    (stdout, serde_json::from_str(&text).unwrap())
}

#[test]
fn a_failed_step_keeps_a_screenshot_the_page_and_its_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("index.html"),
        r#"<!doctype html><html><head><title>Broken page</title></head><body style="background:#fc0">
<h1>Checkout</h1><button data-testid="pay-later">Pay later</button>
<script>console.error("boom from the page"); missingFunction();</script></body></html>"#,
    )
    .unwrap();
    let server = serve(&site);
    let o = format!("http://127.0.0.1:{}", server.port);
    let flow = serde_json::json!({
        "title": "broken", "origin": o,
        "steps": [
            {"type": "navigate", "url": format!("{o}/index.html")},
            {"type": "click", "selectors": [["[data-testid=pay-now]"]], "timeout": 1500}
        ]
    });
    let path = dir.path().join("broken.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    let out = dir.path().join("out");
    let (stdout, results) = run(&path, "browser", &out, &[]);
    let failures = results["summary"]["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let f = &failures[0];
    assert_eq!(f["mode"], "browser");
    assert_eq!(f["step"], 1);
    assert!(f["message"].as_str().unwrap().contains("step 2"), "{f}");
    assert_eq!(f["url"], format!("{o}/index.html"));
    assert_eq!(f["title"], "Broken page");
    let console: Vec<&str> = f["console"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        console.iter().any(|c| c.contains("boom from the page"))
            && console.iter().any(|c| c.contains("missingFunction")),
        "{console:?}"
    );
    let shot = f["screenshot"].as_str().expect("a screenshot");
    let png = std::fs::read(out.join(shot)).expect("the screenshot file");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains(&format!(r#"<img src="{shot}""#)),
        "report links it"
    );
    assert!(stdout.contains("Failed steps kept: 1"), "{stdout}");
    assert!(stdout.contains(&format!("screenshot: {shot}")), "{stdout}");
}

#[test]
fn a_failed_http_step_keeps_the_response_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let o = format!("http://127.0.0.1:{}", server.port);
    let flow = serde_json::json!({
        "title": "missing", "origin": o,
        "variables": [{"name": "token", "secret": {}}],
        "steps": [{"type": "navigate", "url": format!("{o}/nothere.html?token=${{token}}")}]
    });
    let path = dir.path().join("missing.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    let out = dir.path().join("out");
    let secret = "s3cret-Value-42";
    let (stdout, results) = run(&path, "http", &out, &["--var", &format!("token={secret}")]);
    let f = &results["summary"]["failures"][0];
    assert_eq!(f["mode"], "http");
    assert_eq!(f["status"], 404);
    assert!(
        f["body"].as_str().unwrap().contains("File not found"),
        "{f}"
    );
    assert_eq!(f["url"], format!("{o}/nothere.html?token=***"));
    let saved = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(!saved.contains(secret) && !stdout.contains(secret));
    assert!(stdout.contains("at status 404"), "{stdout}");
}
