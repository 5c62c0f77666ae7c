//! Debug logs keep secrets out: the shop flow (CSRF login with a session cookie) replayed in
//! both modes with `THRONG_LOG=trace` logs cookies, raw CDP messages and WebSocket frames and
//! the cookie jar, and no line holds the password, the token, a session cookie's value or a
//! CSRF token.

use crate::support::{demo, flow_path};
use regex::Regex;

async fn debug_run(base: &str, mode: &str) -> String {
    let out = crate::support::throng_async()
        .arg("run")
        .arg(flow_path("shop.json"))
        .args(["--var", "password=wonderland", "--target", base])
        .args(["--mode", mode, "--users", "1", "--iterations", "1"])
        .args(["--duration", "60s", "--think", "0s", "-q"])
        .args(["--token", "tok-3xample-secret"])
        .env("THRONG_LOG", "trace")
        .output()
        .await
        .expect("throng runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_hold_no_cookie_values_passwords_or_tokens() {
    let site = demo().await;
    let base = site.base_url();
    let sid = Regex::new(r"sid=[0-9a-f]{8}").unwrap();
    let cookie_value = Regex::new(r#"\\"name\\":\\"sid\\",\\"value\\":\\"[0-9a-f]"#).unwrap();
    let csrf = Regex::new(r#"csrf(=|\\*" value=\\*")[0-9a-f]{8}"#).unwrap();
    let hex = Regex::new(r"0x[0-9a-f]{32}").unwrap();
    for mode in ["http", "browser"] {
        let log = debug_run(&base, mode).await;
        // The log is the real thing: cookies were there to redact.
        assert!(
            log.contains("DEBUG") && log.contains("***"),
            "{mode}: nothing was redacted: {log}"
        );
        for (i, line) in log.lines().enumerate() {
            assert!(
                !line.contains("wonderland") && !line.contains("tok-3xample-secret"),
                "{mode} line {i}: {line}"
            );
            for re in [&sid, &cookie_value, &csrf, &hex] {
                assert!(!re.is_match(line), "{mode} line {i}: {line}");
            }
        }
    }
    site.shutdown().await;
}
