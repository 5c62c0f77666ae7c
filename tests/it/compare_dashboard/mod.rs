//! `throng compare`, the HTML report, the live dashboard, `throng report`/`diff`, and Ctrl-C:
//! numbers cross-checked with the demo shop's own counters, pages checked in real headless
//! Chromium (no console errors, charts with data points, live numbers moving, Stop working).

mod chromium;
mod dashboard_guard;

use crate::support;
use crate::support::wait_for;
use chromium::Checker;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use throng::app::compare::{compare_argv, Phase};
use throng::demo::Stats;
use throng::metrics::{Mode, RunSummary, SampleKind};

// ---------- compare ----------

/// "METHOD /path" (the demo's route key) of a request name "METHOD URL".
fn route(name: &str) -> String {
    let (method, url) = name.split_once(' ').unwrap();
    format!("{method} {}", url::Url::parse(url).unwrap().path())
}

/// browse.json without its recorded AJAX calls, as a flow recorded without network capture
/// would be: the HTTP replay cannot know about them, the browsers still make them.
fn flow_without_ajax(dir: &Path) -> PathBuf {
    let mut flow: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(support::flow_path("browse.json")).unwrap())
            .unwrap();
    for step in flow["steps"].as_array_mut().unwrap() {
        if let Some(reqs) = step
            .get_mut("network")
            .and_then(|n| n.get_mut("requests"))
            .and_then(|r| r.as_array_mut())
        {
            reqs.retain(|r| r["kind"] != "ajax");
        }
    }
    let path = dir.join("browse-no-ajax.json");
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_lists_exactly_the_requests_the_browsers_sent_and_http_did_not() {
    let server = support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = flow_without_ajax(dir.path());
    let out = dir.path().join("out");
    let per_mode: Arc<Mutex<BTreeMap<Mode, Stats>>> = Default::default();
    let mut on_phase = {
        let per_mode = per_mode.clone();
        let server = &server;
        move |p: Phase| match p {
            Phase::Starting(_) => server.reset_stats(),
            Phase::Finished(m) => {
                per_mode.lock().unwrap().insert(m, server.stats());
            }
        }
    };
    let base = server.base_url();
    let argv = [
        "throng",
        "compare",
        flow.to_str().unwrap(),
        "--target",
        &base,
        "--users",
        "2",
        "--iterations",
        "1",
        "--think-scale",
        "0.2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    let outcome = compare_argv(argv, &mut on_phase)
        .await
        .expect("compare runs");
    let c = outcome.comparison.expect("both modes ran");
    let per_mode = per_mode.lock().unwrap().clone();
    let (http_seen, browser_seen) = (&per_mode[&Mode::Http], &per_mode[&Mode::Browser]);

    // The HTTP side is what the flow replays, and the target saw exactly that.
    let http_routes: BTreeMap<String, u64> =
        c.http.names.iter().fold(BTreeMap::new(), |mut m, (n, s)| {
            *m.entry(route(n)).or_default() += s.count;
            m
        });
    assert_eq!(http_routes, http_seen.routes, "HTTP side = server's counts");
    assert!(c.http.kind(SampleKind::Ajax).is_none_or(|k| k.count == 0));
    assert!(c.http.kind(SampleKind::Polling).unwrap().count > 0);

    // The browser side has the AJAX calls, the poller and the static assets the pages make.
    let browser_routes: BTreeSet<String> = c.browser.names.keys().map(|n| route(n)).collect();
    for (page, product) in [("home", None), ("product", Some("x"))] {
        for call in support::ajax_after_load(page, product) {
            let path = call.split('?').next().unwrap();
            assert!(
                browser_routes.contains(&format!("GET {path}")),
                "browser side lacks {path}"
            );
        }
    }
    let browser_kinds = |k| c.browser.kind(k).map_or(0, |k| k.count);
    assert!(browser_kinds(SampleKind::Polling) > 0);
    assert!(
        browser_kinds(SampleKind::Static) >= 15,
        "css, js, font, logo, 12 images"
    );
    assert!(
        browser_kinds(SampleKind::Ajax) >= 7,
        "2 users x (featured, cart, reviews, stock, related)"
    );
    for route_key in &browser_routes {
        assert!(
            browser_seen.route(route_key) > 0,
            "{route_key}: the browsers' requests reached the target"
        );
    }

    // "Missing from HTTP" is exactly what the server saw from the browsers and never from HTTP.
    let expected: BTreeSet<String> = browser_seen
        .routes
        .keys()
        .filter(|r| http_seen.route(r) == 0)
        .cloned()
        .collect();
    let listed: BTreeSet<String> = c.missing_from_http.iter().map(|o| route(&o.name)).collect();
    assert!(!expected.is_empty());
    assert_eq!(listed, expected, "missing-from-HTTP list");
    let reverse: BTreeSet<String> = http_seen
        .routes
        .keys()
        .filter(|r| browser_seen.route(r) == 0)
        .cloned()
        .collect();
    let listed: BTreeSet<String> = c
        .missing_from_browser
        .iter()
        .map(|o| route(&o.name))
        .collect();
    assert_eq!(listed, reverse, "missing-from-browser list");
    for o in &c.missing_from_http {
        assert_eq!(o.count, browser_seen.route(&route(&o.name)), "{}", o.name);
    }

    // Rates, page loads and cost are there.
    assert!(c.browser.page_load.is_some() && c.http.page_load.is_some());
    assert!(c.browser.facts.user_minutes() > 0.0);
    let bc = c.browser.facts.cost.unwrap();
    assert!(
        bc.cpu_children_s > 0.0,
        "the browsers' CPU is measured: {bc:?}"
    );
    assert!(
        bc.mem_children_mb > 10.0,
        "the browsers' memory is measured: {bc:?}"
    );
    assert_eq!(c.http.facts.cost.unwrap().cpu_children_s, 0.0);
    server.shutdown().await;

    // The HTML report holds the comparison; `throng report` renders the same page.
    let report = out.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    for o in &c.missing_from_http {
        assert!(html.contains(&o.name), "{} in report.html", o.name);
    }
    let again = dir.path().join("again.html");
    let st = crate::support::throng()
        .args(["report", out.join("results.json").to_str().unwrap(), "-o"])
        .arg(&again)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);

    let page = Checker::open(url::Url::from_file_path(&report).unwrap().as_str()).await;
    for chart in [
        "chart-users",
        "chart-rps",
        "chart-latency",
        "chart-distribution",
        "chart-page-load",
        "chart-compare-kinds",
    ] {
        assert!(page.points(chart).await > 0, "{chart} has data points");
    }
    let rows: u64 = page
        .eval("document.querySelectorAll('#missing-from-http tbody tr').length")
        .await;
    assert_eq!(rows as usize, c.missing_from_http.len());
    page.screenshot("compare-report-top", Some("compare")).await;
    page.screenshot("compare-report-charts", Some("charts"))
        .await;
    assert_eq!(page.errors(), Vec::<String>::new(), "console errors");
    page.close().await;
}

// ---------- the dashboard and Ctrl-C, through the binary ----------

/// The throng binary, running; stderr lines are collected.
struct Throng {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Throng {
    fn start(args: &[&str]) -> Throng {
        let mut child = crate::support::throng()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("throng starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Throng { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// A real SIGINT, as Ctrl-C sends.
    fn interrupt(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    async fn wait_exit(&mut self, limit: Duration) -> i32 {
        let status = wait_for("throng to exit", limit, || {
            let s = self.child.try_wait().unwrap();
            async move { s }
        })
        .await;
        status.code().unwrap_or(-1)
    }
}

impl Drop for Throng {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_summary(path: &Path) -> RunSummary {
    RunSummary::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "left a temporary file: {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_a_live_run_changes_users_and_stops_it() {
    let server = support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = server.base_url();
    let flow = support::flow_path("browse.json");
    let mut throng = Throng::start(&[
        "run",
        flow.to_str().unwrap(),
        "--target",
        &base,
        "--users",
        "2",
        "--duration",
        "5m",
        "--think-scale",
        "0.3",
        "--ui-bind",
        "127.0.0.1:0",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let url = wait_for("the dashboard address", Duration::from_secs(30), || {
        let err = throng.stderr();
        async move {
            err.lines()
                .find_map(|l| l.strip_prefix("dashboard at "))
                .map(str::to_string)
        }
    })
    .await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let checker = Checker::open(&url).await;
    let page = &checker;

    // The numbers move while the run goes.
    let first: u64 = wait_for(
        "requests on the page",
        Duration::from_secs(30),
        || async move {
            let t = page.text("requests").await.replace(',', "");
            t.parse::<u64>().ok().filter(|n| *n > 0)
        },
    )
    .await;
    let later: u64 = wait_for(
        "the request count to grow",
        Duration::from_secs(30),
        || async move {
            let t = page.text("requests").await.replace(',', "");
            t.parse::<u64>().ok().filter(|n| *n > first)
        },
    )
    .await;
    assert!(later > first);
    for chart in ["chart-users", "chart-rps", "chart-latency"] {
        let p = wait_for(chart, Duration::from_secs(10), || async move {
            Some(page.points(chart).await).filter(|p| *p > 0)
        })
        .await;
        assert!(p > 0);
    }
    let rows: u64 = page
        .eval("document.querySelectorAll('#entries tbody tr').length")
        .await;
    assert!(rows > 5, "the requests table fills: {rows}");
    assert_eq!(page.text("state").await, "running");

    // Change the user count from the page.
    page.eval::<bool>("(() => { const i = document.getElementById('users-input'); i.value = '4'; return true; })()")
        .await;
    page.click("apply-users").await;
    wait_for("4 users", Duration::from_secs(20), || async move {
        let (users, target) = (page.text("users").await, page.text("target").await);
        (users == "4" && target == "4").then_some(())
    })
    .await;
    page.screenshot("dashboard-running", None).await;

    // Stop: the run ends, its reports are written, the page says so.
    page.click("stop").await;
    wait_for("finished", Duration::from_secs(60), || async move {
        page.text("state")
            .await
            .starts_with("finished")
            .then_some(())
    })
    .await;
    let results = out.join("results.json");
    let summary = wait_for("results.json", Duration::from_secs(10), || {
        let r = results.clone();
        async move { r.exists().then(|| read_summary(&r)) }
    })
    .await;
    assert_eq!(summary.counters.get("run.interrupted"), Some(&1));
    assert!(summary.peak_users >= 4, "peak {}", summary.peak_users);
    assert!(out.join("report.html").exists());
    no_temp_files(&out);
    let total = summary.total(None, None).count;
    assert_eq!(
        page.text("requests").await.replace(',', ""),
        total.to_string(),
        "the page shows the final count"
    );
    // Downloads serve the same run (the page's links carry its token).
    let link: String = page
        .eval("document.querySelector('a[href*=\"results.json\"]').href")
        .await;
    assert!(link.contains("?token="), "{link}");
    let dl = reqwest::get(link).await.unwrap().text().await.unwrap();
    assert_eq!(
        RunSummary::from_json(&dl).unwrap().total(None, None).count,
        total
    );
    page.screenshot("dashboard-stopped", None).await;
    assert_eq!(page.errors(), Vec::<String>::new(), "console errors");
    checker.close().await;

    // The dashboard stays until Ctrl-C.
    throng.interrupt();
    assert_eq!(
        throng.wait_exit(Duration::from_secs(20)).await,
        0,
        "{}",
        throng.stderr()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_still_writes_the_report() {
    let server = support::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let base = server.base_url();
    let flow = support::flow_path("browse.json");
    let mut throng = Throng::start(&[
        "run",
        flow.to_str().unwrap(),
        "--target",
        &base,
        "--users",
        "3",
        "--duration",
        "10m",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let s = &server;
    wait_for("load on the demo", Duration::from_secs(30), || async move {
        (s.stats().total > 20).then_some(())
    })
    .await;
    throng.interrupt();
    let code = throng.wait_exit(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{}", throng.stderr());
    let summary = read_summary(&out.join("results.json"));
    assert_eq!(summary.counters.get("run.interrupted"), Some(&1));
    assert!(summary.total(None, None).count > 20);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.trim_end().ends_with("</html>"));
    no_temp_files(&out);
    server.shutdown().await;
}

// ---------- diff ----------

fn saved_run(dir: &Path, name: &str, latency_ms: u64, fail_every: u64) -> PathBuf {
    use throng::metrics::{MetricKey, Outcome, Sink};
    let sink = Sink::new();
    let r = sink.recorder(0);
    let key = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Ajax, "GET /api/x");
    for i in 0..500 {
        let o = if fail_every > 0 && i % fail_every == 0 {
            Outcome::Status(503)
        } else {
            Outcome::Ok
        };
        r.record(&key, Duration::from_millis(latency_ms), o);
    }
    let summary = sink.finish();
    let meta = throng::report::RunMeta::new(vec!["f".into()], vec![Mode::Http], "test", 0);
    let d = dir.join(name);
    throng::report::write_all(&d, &summary, &meta, &[]).unwrap();
    d.join("results.json")
}

#[test]
fn diff_exits_3_on_a_regression_and_0_within_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let base = saved_run(dir.path(), "base", 100, 0);
    let same = saved_run(dir.path(), "same", 104, 0);
    let slower = saved_run(dir.path(), "slower", 150, 0);
    let failing = saved_run(dir.path(), "failing", 100, 10);
    let diff = |a: &Path, b: &Path, tol: &str| {
        let o = crate::support::throng()
            .arg("diff")
            .args([a, b])
            .args(["--tolerance", tol])
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert_eq!(diff(&base, &same, "10%").0, 0);
    let (code, text) = diff(&base, &slower, "10%");
    assert_eq!(code, 3, "{text}");
    assert!(text
        .lines()
        .any(|l| l.trim_start().starts_with('!') && l.contains("GET /api/x")));
    assert_eq!(diff(&base, &slower, "60%").0, 0, "within a wider tolerance");
    assert_eq!(diff(&base, &failing, "10").0, 3, "more errors");
    assert_eq!(diff(&base, &same, "ten").0, 2, "bad tolerance is bad input");
}
