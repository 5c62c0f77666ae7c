//! The coordinator's rules (items 8, 11, 12, 13, 14): always a token, every message bound
//! to its run, shares checked before the run, a plan not carried out said so, worker names
//! escaped on the terminal.

use super::{ended, results, worker, Coordinator, TOKEN};
use crate::prometheus::free_port;
use crate::support::{demo, wait_for};
use std::time::Duration;

/// Without `--token` the coordinator makes one and prints how workers get it; a local
/// process without it gets nothing (no `--var` secret), a worker with it runs the plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_always_has_a_token_and_an_outsider_gets_no_secret() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = format!("{}/", site.base_url());
    let coord = Coordinator::start(
        "127.0.0.1:0",
        false,
        &[
            &target,
            "-d",
            "2s",
            "--workers",
            "1",
            "-q",
            "--var",
            "password=hunter2-secret",
        ],
    )
    .await;
    let token = wait_for("the generated token", Duration::from_secs(10), || async {
        coord.stderr().lines().find_map(|l| {
            l.strip_prefix("coordinator: no --token given, so this run's token is ")
                .map(str::to_string)
        })
    })
    .await;
    assert!(token.len() >= 32, "{token}");
    assert!(coord
        .stderr()
        .contains(&format!("THRONG_TOKEN={token} throng worker --connect")));
    // A plain local client: a hello, a join it cannot prove, an assignment it has no session for.
    let http = reqwest::Client::new();
    let mut seen = String::new();
    let hello = serde_json::json!({"name": "curl", "nonce": "bm9uY2U", "key": "a2V5",
        "now_unix_ms": 0, "memory_bytes": null});
    let r = http
        .post(format!("{}/v1/hello", coord.addr))
        .json(&hello)
        .send()
        .await
        .unwrap();
    seen.push_str(&r.text().await.unwrap());
    let challenge: serde_json::Value = serde_json::from_str(&seen).unwrap();
    let answer = serde_json::json!({"id": challenge["id"], "proof": "Zm9yZ2Vk"});
    let r = http
        .post(format!("{}/v1/join", coord.addr))
        .json(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    seen.push_str(&r.text().await.unwrap());
    for run in [challenge["run"].as_str().unwrap(), "guess"] {
        let r = http
            .post(format!("{}/v1/assignment", coord.addr))
            .header("x-throng-run", run)
            .header("x-throng-worker", "0")
            .header("x-throng-seq", "1")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
        seen.push_str(&r.text().await.unwrap());
    }
    assert!(!seen.contains("hunter2-secret"), "{seen}");
    assert!(!seen.contains(&token), "{seen}");
    let (wcode, _, werr) = ended(
        worker(&coord.addr, "w", &token, tmp.path()),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(wcode, 0, "{werr}");
    let (code, stderr) = coord.end(Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(site.stats().total > 0);
    site.shutdown().await;
}

/// A coordinator restarted on the same address with the same token tells the old run's
/// worker to stop at its next report, instead of taking its load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_coordinator_tells_the_old_runs_worker_to_stop() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let target = format!("{}/", site.base_url());
    let args = [
        &target as &str,
        "-d",
        "60s",
        "--workers",
        "1",
        "-q",
        "--think",
        "100ms",
    ];
    let mut first = Coordinator::start(&listen, true, &args).await;
    let w = worker(&first.addr, "old", TOKEN, tmp.path());
    wait_for("load from the worker", Duration::from_secs(30), || async {
        (site.stats().total >= 5).then_some(())
    })
    .await;
    first.child.start_kill().unwrap();
    let _ = first.child.wait().await;
    let mut second_args = args.to_vec();
    second_args.extend(["--wait-workers", "4s"]);
    let second = Coordinator::start(&listen, true, &second_args).await;
    let (wcode, _, werr) = ended(w, Duration::from_secs(30)).await;
    assert!(werr.contains("no longer knows this run"), "{werr}");
    assert!(
        !werr.contains("unreachable"),
        "stopped for the run id: {werr}"
    );
    assert_eq!(wcode, 1, "its measurements went nowhere: {werr}");
    let seen = site.stats().total;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.stats().total, seen, "no load after the stop");
    let (code, stderr) = second.end(Duration::from_secs(30)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("only 0 of 1 workers joined"), "{stderr}");
    site.shutdown().await;
}

/// `--workers 1 -u 10000000`: refused before any load, naming the flag and the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_that_does_not_fit_its_worker_is_refused_before_the_run() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = format!("{}/", site.base_url());
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[
            &target,
            "-u",
            "10000000",
            "-d",
            "5s",
            "--workers",
            "1",
            "-q",
        ],
    )
    .await;
    let (wcode, _, werr) = ended(
        worker(&coord.addr, "small", TOKEN, tmp.path()),
        Duration::from_secs(30),
    )
    .await;
    let (code, stderr) = coord.end(Duration::from_secs(30)).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--users: 10000000 users would need about")
            && stderr.contains("worker 0 (small)"),
        "{stderr}"
    );
    assert_eq!(wcode, 1, "{werr}");
    assert!(werr.contains("the coordinator says stop"), "{werr}");
    assert_eq!(site.stats().total, 0, "no load was sent");
    site.shutdown().await;
}

/// Every worker lost mid-plan: the coordinator waits, a new worker rejoins and takes the
/// whole share; the gap is a plan not carried out (exit 1, said so). The lost worker's name
/// reaches the terminal escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_every_worker_waits_for_a_rejoin_and_a_gap_exits_1() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let target = format!("{}/", site.base_url());
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[
            &target,
            "-d",
            "14s",
            "--workers",
            "1",
            "-q",
            "--think",
            "100ms",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let mut first = worker(&coord.addr, "evil\x1b[31mname", TOKEN, tmp.path());
    wait_for(
        "load from the first worker",
        Duration::from_secs(30),
        || async { (site.stats().total >= 3).then_some(()) },
    )
    .await;
    first.start_kill().unwrap();
    let _ = first.wait().await;
    wait_for(
        "the coordinator waits for a rejoin",
        Duration::from_secs(30),
        || async {
            coord
                .stderr()
                .contains("waiting for one to rejoin")
                .then_some(())
        },
    )
    .await;
    let before = site.stats().total;
    let (wcode, _, werr) = ended(
        worker(&coord.addr, "second", TOKEN, tmp.path()),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(wcode, 0, "{werr}");
    assert!(werr.contains("share 1 of 1"), "{werr}");
    assert!(
        site.stats().total > before,
        "the rejoined worker ran the rest"
    );
    let (code, stderr) = coord.end(Duration::from_secs(60)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the plan was not carried out"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "a raw escape reached the terminal: {stderr}"
    );
    assert!(stderr.contains("evil\\u{1b}[31mname"), "{stderr}");
    let rows = results(&out)["meta"]["workers"].as_array().unwrap().clone();
    let status: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["lost", "done"], "{rows:?}");
    site.shutdown().await;
}

/// A TLS-terminating proxy on a free port in front of `upstream` (as an ingress would be),
/// with a self-signed certificate for `localhost`; returns its port and the certificate's PEM.
async fn tls_proxy(upstream: std::net::SocketAddr) -> (u16, String) {
    let tls = crate::support::tls::self_signed(&["localhost"], &[]);
    let acceptor = tls.acceptor;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, tls.cert_pem)
}

/// Workers reach a coordinator over https, trusting its certificate with `--cacert`; without
/// it they refuse the unknown certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reaches_its_coordinator_over_https_with_cacert() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let target = format!("{}/", site.base_url());
    let coord = Coordinator::start(
        "127.0.0.1:0",
        true,
        &[&target, "-d", "2s", "--workers", "1", "-q"],
    )
    .await;
    let upstream = coord.addr.trim_start_matches("http://").parse().unwrap();
    let (port, pem) = tls_proxy(upstream).await;
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let https = format!("https://localhost:{port}");
    let untrusted = super::throng(&["worker", "--connect", &https, "--wait", "1s"])
        .env("THRONG_TOKEN", TOKEN)
        .spawn()
        .unwrap();
    let (code, _, stderr) = ended(untrusted, Duration::from_secs(30)).await;
    assert_ne!(code, 0);
    assert!(
        stderr.to_ascii_lowercase().contains("certificate"),
        "{stderr}"
    );
    let trusted = super::throng(&[
        "worker",
        "--connect",
        &https,
        "--cacert",
        ca.to_str().unwrap(),
    ])
    .env("THRONG_TOKEN", TOKEN)
    .env("TMPDIR", tmp.path())
    .spawn()
    .unwrap();
    let (wcode, _, werr) = ended(trusted, Duration::from_secs(60)).await;
    assert_eq!(wcode, 0, "{werr}");
    assert!(
        werr.contains(&format!("joined https://localhost:{port}")),
        "{werr}"
    );
    let (code, stderr) = coord.end(Duration::from_secs(30)).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(site.stats().total > 0);
    site.shutdown().await;
}
