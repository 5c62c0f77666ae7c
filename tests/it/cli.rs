//! The command line as a user meets it: help, validate, exit codes, one-line errors.

use std::path::Path;
use std::process::Command;

fn throng(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_throng"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("throng runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
            vec!["run", "flows/shop.json", "--target", "ftp://x"],
            "--target",
        ),
        (vec!["run", "nope.json"], "nope.json"),
        (vec!["demo-site", "--latency-ms", "9-1"], "--latency-ms"),
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
