//! The `throng` binary under test, spawned one way everywhere: from the repository root,
//! with no token or demo password leaking in from the environment of whoever runs the tests.

/// Path of the binary cargo built for these tests.
pub const THRONG: &str = env!("CARGO_BIN_EXE_throng");

/// `throng` as a blocking command, in the repository root.
pub fn throng() -> std::process::Command {
    let mut c = std::process::Command::new(THRONG);
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("THRONG_TOKEN")
        .env_remove("THRONG_DEMO_PASSWORD");
    c
}

/// `throng` as an async command, in the repository root, killed when dropped.
pub fn throng_async() -> tokio::process::Command {
    let mut c = tokio::process::Command::from(throng());
    c.kill_on_drop(true);
    c
}

/// Runs a command to its end: exit code (-1 when killed by a signal), stdout, stderr.
pub fn output(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("throng runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
