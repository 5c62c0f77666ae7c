//! Bad input and unreachable targets in HTTP mode: one-line errors with exit 2, failures
//! counted with a clear reason, never a crash.

use super::*;

fn one_line_error(args: &[&str]) -> (i32, String) {
    let out = crate::support::throng()
        .args(args)
        .output()
        .expect("throng runs");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn bad_stages_string_is_one_line_exit_2() {
    let (code, err) = one_line_error(&[
        "run",
        "http://127.0.0.1:9/",
        "--stages",
        "10@30s,x@1m",
        "-q",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "throng: --stages `10@30s,x@1m`: stage 2 `x@1m`: `x` is not a number"
    );
}

#[test]
fn zero_user_threads_is_one_line_exit_2() {
    let (code, err) = one_line_error(&["run", "http://127.0.0.1:9/", "--threads", "0", "-q"]);
    assert_eq!(
        (code, err.as_str()),
        (2, "throng: --threads must be at least 1")
    );
}

#[test]
fn missing_csv_file_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("csv.json");
    std::fs::write(
        &flow,
        r#"{"title":"t","origin":"http://127.0.0.1:9","variables":[{"name":"u","csv":{"file":"users.csv","column":"name"}}],
            "steps":[{"type":"navigate","url":"http://127.0.0.1:9/?u=${u}"}]}"#,
    )
    .unwrap();
    let (code, err) = one_line_error(&["run", flow.to_str().unwrap(), "-q"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("throng: ") && err.contains("users.csv") && err.contains("No such file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unreachable_target_is_counted_as_refused_not_a_crash() {
    // Port 9 (discard) is closed on loopback: every request is refused.
    let out = crate::support::throng()
        .args([
            "run",
            "http://127.0.0.1:9/",
            "--users",
            "2",
            "--duration",
            "1s",
            "-q",
            "--threshold",
            "errors<1%",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "failed threshold exit code; stdout: {stdout}"
    );
    assert!(stdout.contains("refused"), "{stdout}");
}

#[test]
fn flow_whose_origin_is_down_fails_sessions_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = crate::support::throng()
        .args([
            "run",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("flows/browse.json")
                .to_str()
                .unwrap(),
        ])
        .args([
            "--target",
            "http://127.0.0.1:9",
            "--users",
            "1",
            "--duration",
            "1s",
            "-q",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every session failed: the run fails even without a threshold, naming the failure.
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("every session failed") && stderr.contains("Refused"),
        "{stderr}"
    );
    assert!(
        stdout.contains("document request failed (Refused)"),
        "{stdout}"
    );
    assert!(out_dir.join("results.json").exists());
}
