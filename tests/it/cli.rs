//! The command line as a user meets it: help, validate, exit codes, one-line errors.

use std::path::Path;

fn throng(args: &[&str]) -> (i32, String, String) {
    crate::support::bin::output(crate::support::throng().args(args))
}

#[test]
fn help_lists_every_subcommand_with_a_description() {
    let (code, stdout, _) = throng(&["--help"]);
    assert_eq!(code, 0);
    for sub in ["run", "demo", "validate", "demo-site", "record", "import"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{sub} ")))
            .unwrap_or_else(|| panic!("`{sub}` missing from --help:\n{stdout}"));
        assert!(line.trim().len() > sub.len() + 10, "no description: {line}");
    }
    let (code, stdout, _) = throng(&["run", "--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Examples:") && stdout.contains("--stages"),
        "{stdout}"
    );
}

#[test]
fn validate_passes_the_example_flows_and_skips_the_schema() {
    let mut args = vec!["validate"];
    let flows: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"))
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_name()?.to_string_lossy().into_owned();
            (p.extension()? == "json").then(|| format!("flows/{name}"))
        })
        .collect();
    args.extend(flows.iter().map(String::as_str));
    let (code, stdout, stderr) = throng(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("flows/shop.json: \"") && stdout.contains("steps"),
        "{stdout}"
    );
    assert!(
        stdout.contains("flows/schema.json: the flow JSON Schema"),
        "{stdout}"
    );
}

#[test]
fn a_broken_flow_is_one_located_line_and_exit_2() {
    let (code, stdout, stderr) = throng(&[
        "validate",
        "tests/fixtures/flows/invalid/empty_selectors.json",
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(
        stderr.trim(),
        "tests/fixtures/flows/invalid/empty_selectors.json:16:7: step 3 (click): `selectors` must be a non-empty list"
    );
    let (code, _, stderr) = throng(&[
        "run",
        "tests/fixtures/flows/invalid/empty_selectors.json",
        "-q",
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("throng: tests/fixtures/flows/invalid/empty_selectors.json:16:7:"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_name_the_flag() {
    for (args, needle) in [
        (
            vec!["run", "http://127.0.0.1:9/", "--duration", "5x"],
            "--duration",
        ),
        (
            vec!["run", "http://127.0.0.1:9/", "--users", "0"],
            "--users",
        ),
        (
            vec!["run", "http://127.0.0.1:9/", "--think", "2s..1s"],
            "--think",
        ),
        (
            vec![
                "run",
                "http://127.0.0.1:9/",
                "--threshold",
                "p95(page-load)<<1s",
            ],
            "--threshold",
        ),
        (
            vec!["run", "http://127.0.0.1:9/", "--var", "novalue"],
            "--var",
        ),
        (
            vec![
                "run",
                "http://127.0.0.1:9/",
                "--mode",
                "browser",
                "--cpu-slowdown",
                "0.5",
            ],
            "--cpu-slowdown",
        ),
        (
            vec!["run", "flows/shop.json", "--target", "ftp://x"],
            "--target",
        ),
        (vec!["run", "nope.json"], "nope.json"),
        (vec!["demo-site", "--latency-ms", "9-1"], "--latency-ms"),
        (
            vec!["run", "http://127.0.0.1:9/", "--timeout", "0s"],
            "--timeout",
        ),
        (
            vec![
                "run",
                "http://127.0.0.1:9/",
                "--mode",
                "browser",
                "--chrome",
                "/nonexistent/chromium",
            ],
            "--chrome /nonexistent/chromium",
        ),
        (
            vec![
                "run",
                "flows/portal-api.json",
                "--login",
                "flows/portal-login.json",
            ]
            .into_iter()
            .chain(["--login-share", "0"])
            .collect(),
            "--login-share",
        ),
        (
            vec!["run", "flows/portal-api.json", "--login", "nope.json"],
            "--login: nope.json",
        ),
        (
            vec![
                "run",
                "flows/portal-api.json",
                "--login",
                "flows/portal-login.json",
            ]
            .into_iter()
            .chain(["--mode", "browser"])
            .collect(),
            "--login",
        ),
        (
            vec![
                "run",
                "flows/portal-api.json",
                "--login",
                "flows/portal-login.json",
            ]
            .into_iter()
            .chain(["--workers", "2", "--listen", "127.0.0.1:0"])
            .collect(),
            "--login",
        ),
        (
            vec![
                "k8s",
                "flows/portal-api.json",
                "--login",
                "flows/portal-login.json",
            ]
            .into_iter()
            .chain(["--image", "t", "--workers", "2"])
            .collect(),
            "--login: session handoff is not supported on Kubernetes",
        ),
    ] {
        let (code, _, stderr) = throng(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_secret_without_a_value_says_how_to_give_it() {
    let (code, _, stderr) = throng(&["run", "flows/shop.json", "-q", "--duration", "1s"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--var password=VALUE"), "{stderr}");
}

#[test]
fn an_unusable_out_is_bad_input_before_any_load_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // Port 9 (discard) on loopback: nothing listens, so a run that started would take 2 s.
    let started = std::time::Instant::now();
    let (code, _, stderr) = throng(&[
        "run",
        "http://127.0.0.1:9/",
        "-d",
        "2s",
        "-q",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--out") && stderr.contains("not a directory"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("throng: http mode"),
        "the run started: {stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    for (args, needle) in [
        (vec!["--format", "yaml", "--out", "x"], "--format `yaml`"),
        (vec!["--format", "json"], "--format: also give --out"),
        (vec!["--out", "-"], "--out -: name exactly one --format"),
    ] {
        let mut all = vec!["run", "http://127.0.0.1:9/", "-q"];
        all.extend(args);
        let (code, _, stderr) = throng(&all);
        assert_eq!(code, 2, "{all:?}: {stderr}");
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_formats_go_to_the_out_dir_or_alone_to_stdout() {
    let demo = crate::support::demo().await;
    let url = format!("{}/", demo.base_url());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("only-json");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", url.as_str(), "-u", "2", "-d", "1s", "-q"];
        args.extend(extra);
        throng(&args)
    };
    let (code, stdout, stderr) = run(&["--format", "json,html", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["report.html", "results.json"]);
    assert!(stdout.contains("requests ·"), "summary on stdout: {stdout}");
    // `--out -`: stdout is exactly the one format; the summary moves to stderr.
    let (code, stdout, stderr) = run(&["--format", "json", "--out", "-"]);
    assert_eq!(code, 0, "{stderr}");
    let results: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(results["format"], "throng-results/1");
    assert!(stderr.contains("requests ·"), "{stderr}");
    demo.shutdown().await;
}

#[test]
fn a_closed_stdout_is_a_normal_end() {
    use std::process::Stdio;
    let mut child = crate::support::throng()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["validate"; 1])
        .args(std::iter::repeat_n("flows/shop.json", 2000))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_run_like_ctrl_c_and_the_report_is_written() {
    let demo = crate::support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let child = crate::support::throng()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            &format!("{}/", demo.base_url()),
            "-u",
            "2",
            "-d",
            "60s",
            "-q",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Wait until requests flow, then send SIGTERM (what Kubernetes and CI runners send).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while demo.stats().total < 5 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(demo.stats().total >= 5, "the run never sent requests");
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let requests = results["summary"]["entries"].as_array().map_or(0, |e| {
        e.iter()
            .map(|e| e["count"].as_u64().unwrap_or(0))
            .sum::<u64>()
    });
    assert!(requests >= 5, "{results}");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn var_values_are_not_stored_and_a_run_whose_every_session_failed_exits_1() {
    let demo = crate::support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A page that answers 404: every session fails at its first step.
    let (code, _, stderr) = throng(&[
        "run",
        &format!("{}/no-such-page", demo.base_url()),
        "-u",
        "2",
        "-d",
        "1s",
        "-q",
        "--var",
        "password=wonderland-9",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("every session failed"), "{stderr}");
    assert!(stderr.contains("404"), "names the failure: {stderr}");
    for file in ["results.json", "report.html"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(
            !text.contains("wonderland-9"),
            "{file} holds the --var value"
        );
        assert!(
            text.contains("password=***"),
            "{file} shows the redacted flag"
        );
    }
    demo.shutdown().await;
}

#[test]
fn export_flags_are_checked_before_any_load() {
    // A --metrics address already taken, a remote-write URL that is not http(s): bad input.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, stderr) = throng(&[
        "run",
        "http://127.0.0.1:9/",
        "--users",
        "1",
        "--duration",
        "1s",
        "-q",
        "--metrics",
        &addr,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("--metrics {addr}: cannot listen there")),
        "{stderr}"
    );
    for (args, hint) in [
        (
            vec!["--remote-write", "ftp://127.0.0.1/x"],
            "--remote-write ftp://127.0.0.1/x: expected an http",
        ),
        (
            vec!["--remote-write", "not a url"],
            "--remote-write `not a url`",
        ),
        (
            vec!["--metrics-linger", "soon", "--metrics", "127.0.0.1:0"],
            "--metrics-linger",
        ),
        (
            vec![
                "--remote-write",
                "http://127.0.0.1:9/w",
                "--remote-write-interval",
                "1ms",
            ],
            "at least 100ms",
        ),
    ] {
        let mut all = vec![
            "run",
            "http://127.0.0.1:9/",
            "--users",
            "1",
            "--duration",
            "1s",
            "-q",
        ];
        all.extend(args);
        let (code, _, stderr) = throng(&all);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(hint), "{hint}: {stderr}");
    }
}

#[test]
fn demo_ends_with_the_servers_count_beside_throngs() {
    let (code, stdout, stderr) = throng(&[
        "demo",
        "--mode",
        "http",
        "--users",
        "3",
        "--duration",
        "6s",
        "-q",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let nums: Vec<u64> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        last.starts_with("server saw ") && nums.len() >= 2 && nums[0] > 0,
        "{last}"
    );
    // The server counts requests as they arrive: equal, unless a request cut off at the run's
    // end never reached it, and then the line says so.
    if nums[0] != nums[1] {
        let cut = nums.get(3).copied().unwrap_or(0);
        assert!(
            last.contains("cut off at the run's end")
                && nums[1] > nums[0]
                && nums[1] - nums[0] <= cut,
            "{last}"
        );
    }
}
