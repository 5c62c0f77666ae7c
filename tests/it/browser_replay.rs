//! Browser replay against the demo site with real headless Chromium: request counts equal
//! the server's, every navigation has page-load metrics, an open tab keeps polling, a killed
//! browser loses only its sessions and leaves no process behind.

use crate::support::{demo, wait_for};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use throng::demo::Stats;
use throng::flow::Flow;
use throng::metrics::{Mode, RunSummary, SampleKind, Sink};
use throng::plan::ThinkPolicy;
use throng::replay::browser::{BrowserKind, BrowserOptions, BrowserPool, Session, SessionOutcome};
use throng::replay::{PreparedFlow, VarSources, Vars};
use tokio_util::sync::CancellationToken;
use url::Url;

fn prepared(base: &str, flow: serde_json::Value) -> Arc<PreparedFlow> {
    let flow: Flow = serde_json::from_value(flow).expect("flow parses");
    let origin = Url::parse(base).unwrap();
    Arc::new(PreparedFlow::new(
        "test",
        flow,
        origin,
        Arc::new(VarSources::default()),
    ))
}

fn options(processes: usize, per_process: usize) -> BrowserOptions {
    BrowserOptions {
        processes: Some(processes),
        sessions_per_process: Some(per_process),
        step_timeout: Duration::from_secs(20),
        ..BrowserOptions::default()
    }
}

/// Browse flow: home, a product page (navigation asserted), a search; each page waits for
/// its AJAX calls (`data-ready`) so nothing is cut off by the next navigation.
fn browse_flow(base: &str) -> serde_json::Value {
    serde_json::json!({
        "title": "browse",
        "steps": [
            {"type": "navigate", "url": format!("{base}/"),
             "network": {"requests": [], "polling": [
                 {"method": "GET", "url": format!("{base}/api/notifications"), "periodMs": 2000}]}},
            {"type": "waitForElement", "selectors": [["body[data-ready='1']"]]},
            {"type": "click", "selectors": [["aria/Nope"], ["[data-testid=product-link]"]],
             "offsetX": 5, "offsetY": 5, "assertedEvents": [{"type": "navigation"}]},
            {"type": "waitForElement", "selectors": [["body[data-ready='1']"]]},
            {"type": "change", "selectors": [["[data-testid=search]"]], "value": "lamp"},
            {"type": "keyDown", "key": "Enter", "assertedEvents": [{"type": "navigation"}]},
            {"type": "keyUp", "key": "Enter"},
            {"type": "waitForElement", "selectors": [["body[data-ready='1']"]],
             "checks": [{"bodyContains": "lamp"}]}
        ]
    })
}

/// Runs `sessions` sessions of `flow`, `parallel` at a time; returns the outcomes.
async fn run_sessions(
    pool: &Arc<BrowserPool>,
    sink: &Sink,
    flow: &Arc<PreparedFlow>,
    sessions: usize,
    parallel: usize,
    dwell: Duration,
) -> Vec<SessionOutcome> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let (pool, sink, flow, next) = (pool.clone(), sink.clone(), flow.clone(), next.clone());
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            let think = ThinkPolicy::Fixed(Duration::ZERO);
            let cancel = CancellationToken::new();
            loop {
                let user = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if user >= sessions {
                    return outcomes;
                }
                let mut vars = Vars::new();
                let recorder = sink.recorder(user as u64);
                let s = Session {
                    flow: &flow,
                    user_id: user as u64,
                    vars: &mut vars,
                    recorder: &recorder,
                    think: &think,
                    cancel: &cancel,
                    dwell,
                    handoff: None,
                };
                outcomes.push(pool.run_session(s).await);
            }
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.expect("session task"));
    }
    all
}

/// throng's request count per kind (browser mode).
fn counts_by_kind(summary: &RunSummary) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for e in summary.entries.iter().filter(|e| e.mode == Mode::Browser) {
        *out.entry(e.kind.as_str()).or_insert(0) += e.count;
    }
    out
}

/// The demo's counts mapped to the same kinds by route.
fn demo_by_kind(stats: &Stats) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for (route, n) in &stats.routes {
        let path = route.split_once(' ').map_or("", |(_, p)| p);
        let kind = if path == "/api/notifications" {
            "polling"
        } else if path.starts_with("/api/") {
            "ajax"
        } else if path.starts_with("/static/") || path == "/favicon.ico" {
            "static"
        } else {
            "document"
        };
        *out.entry(kind).or_insert(0) += n;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_kind_request_counts_equal_the_demo_sites_and_every_navigation_has_page_load() {
    truth(BrowserKind::HeadlessShell).await;
}

/// Full Chromium also fetches the page's favicon (resource type Other, counted as static
/// from its image response); the headless shell never asks for it. Counts match either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_kind_request_counts_equal_the_demo_sites_with_full_chromium() {
    truth(BrowserKind::Chromium).await;
}

async fn truth(kind: BrowserKind) {
    let site = demo().await;
    let base = site.base_url();
    let flow = prepared(&base, browse_flow(&base));
    let sink = Sink::new();
    let opts = BrowserOptions {
        kind: Some(kind),
        ..options(2, 2)
    };
    let pool = BrowserPool::launch(opts, sink.clone()).await.expect("pool");
    site.reset_stats();
    // 2.5 s dwell: one notifications poll per session, counted as polling.
    let outcomes = run_sessions(&pool, &sink, &flow, 6, 4, Duration::from_millis(2500)).await;
    pool.shutdown().await;
    let summary = sink.finish();
    assert!(
        outcomes.iter().all(|o| *o == SessionOutcome::Completed),
        "{outcomes:?}"
    );
    let ours = counts_by_kind(&summary);
    let theirs = demo_by_kind(&site.stats());
    for kind in ["document", "static", "ajax", "polling"] {
        assert_eq!(
            ours.get(kind),
            theirs.get(kind),
            "{kind}: throng {ours:?} vs demo {theirs:?}\n{:#?}\n{:#?}",
            site.stats().routes,
            summary
                .entries
                .iter()
                .map(|e| format!("{} {} {}", e.kind, e.name, e.count))
                .collect::<Vec<_>>()
        );
    }
    assert!(theirs["polling"] >= 6, "{theirs:?}");
    // Three navigations per session, each with page-load, TTFB, DCL and FCP.
    let page = |k: SampleKind| summary.total(Some(Mode::Browser), Some(k)).count;
    assert_eq!(page(SampleKind::Document), 18);
    assert_eq!(page(SampleKind::PageLoad), 18);
    assert_eq!(page(SampleKind::Ttfb), 18);
    assert_eq!(page(SampleKind::DomContentLoaded), 18);
    assert_eq!(page(SampleKind::Fcp), 18);
    assert_eq!(page(SampleKind::Step), 6 * 8);
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_open_10s_on_a_2s_poller_makes_5_polling_requests() {
    let site = demo().await;
    let base = site.base_url();
    let mut flow = serde_json::json!({
        "title": "tab left open",
        "steps": [{"type": "navigate", "url": format!("{base}/"),
                   "network": {"requests": [], "polling": [
                       {"method": "GET", "url": format!("{base}/api/notifications"), "periodMs": 2000}]}}]
    });
    flow["dwellMs"] = 10_000.into();
    let flow = prepared(&base, flow);
    let sink = Sink::new();
    let pool = BrowserPool::launch(options(1, 1), sink.clone())
        .await
        .expect("pool");
    let outcomes = run_sessions(&pool, &sink, &flow, 1, 1, Duration::from_secs(10)).await;
    pool.shutdown().await;
    assert_eq!(outcomes, vec![SessionOutcome::Completed]);
    let summary = sink.finish();
    let polls = summary
        .total(Some(Mode::Browser), Some(SampleKind::Polling))
        .count;
    assert!((4..=6).contains(&polls), "{polls} polling requests");
    assert_eq!(polls, site.stats().route("GET /api/notifications"));
    site.shutdown().await;
}

/// Sessions that end right after their last page's load event (dwell 0), and sessions that
/// end just as the page's 2 s poller fires: every document has its page-load sample and
/// every request the site saw is counted once (finished, or `interrupted` by the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_ending_right_after_load_keep_every_page_load_and_request() {
    let site = demo().await;
    let base = site.base_url();
    // Documents that load nothing after their load event: the session ends at once.
    let quiet = prepared(
        &base,
        serde_json::json!({"title": "quiet", "steps": [
            {"type": "navigate", "url": format!("{base}/api/featured")},
            {"type": "navigate", "url": format!("{base}/api/stock?product=1")}
        ]}),
    );
    // A page whose poller fires 2 s after load, as the session ends.
    let polled = prepared(
        &base,
        serde_json::json!({"title": "polled", "steps": [
            {"type": "navigate", "url": format!("{base}/search?q=lamp"),
             "network": {"requests": [], "polling": [
                 {"method": "GET", "url": format!("{base}/api/notifications"), "periodMs": 2000}]}}
        ]}),
    );
    let sink = Sink::new();
    let pool = BrowserPool::launch(options(1, 2), sink.clone())
        .await
        .expect("pool");
    site.reset_stats();
    let mut outcomes = run_sessions(&pool, &sink, &quiet, 8, 2, Duration::ZERO).await;
    outcomes.extend(run_sessions(&pool, &sink, &polled, 4, 2, Duration::from_millis(2000)).await);
    pool.shutdown().await;
    let summary = sink.finish();
    assert!(
        outcomes.iter().all(|o| *o == SessionOutcome::Completed),
        "{outcomes:?}"
    );
    let stats = site.stats();
    let counted: u64 = counts_by_kind(&summary)
        .iter()
        .filter(|(k, _)| ["document", "static", "ajax", "polling"].contains(k))
        .map(|(_, n)| n)
        .sum();
    let detail = || {
        format!(
            "site {:#?}\nthrong {:#?}\ncounters {:#?}",
            stats.routes,
            summary
                .entries
                .iter()
                .map(|e| format!(
                    "{} {} {} {:?}",
                    e.kind, e.name, e.count, e.failures_by_outcome
                ))
                .collect::<Vec<_>>(),
            summary.counters
        )
    };
    assert_eq!(counted, stats.total, "{}", detail());
    let page = |k: SampleKind| summary.total(Some(Mode::Browser), Some(k)).count;
    assert_eq!(page(SampleKind::Document), 20, "{}", detail());
    assert_eq!(page(SampleKind::PageLoad), 20, "{}", detail());
    assert!(page(SampleKind::Ttfb) >= 16, "{}", detail());
    assert_eq!(summary.counters.get("page_loads.unfinished"), None);
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_names_the_step_and_what_it_waited_for() {
    let site = demo().await;
    let base = site.base_url();
    let flow = prepared(
        &base,
        serde_json::json!({"title": "t", "steps": [
            {"type": "navigate", "url": format!("{base}/")},
            {"type": "click", "selectors": [["[data-testid=buy]"], ["text/No such text"]], "timeout": 1000}
        ]}),
    );
    let sink = Sink::new();
    let pool = BrowserPool::launch(options(1, 1), sink.clone())
        .await
        .expect("pool");
    let outcomes = run_sessions(&pool, &sink, &flow, 1, 1, Duration::ZERO).await;
    pool.shutdown().await;
    assert_eq!(
        outcomes,
        vec![SessionOutcome::Failed(
            "step 2 click [data-testid=buy]: no element matched any selector within 1s".into()
        )]
    );
    let steps = sink
        .finish()
        .total(Some(Mode::Browser), Some(SampleKind::Step));
    assert_eq!((steps.count, steps.failures), (2, 1));
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_other_hosts_are_blocked_unless_allowed() {
    let site = demo().await;
    let base = site.base_url();
    let port = site.addr().port();
    // Same server under another host name: a different host for the page at 127.0.0.1.
    let other = format!("http://localhost:{port}/api/cart/count");
    let flow = prepared(
        &base,
        serde_json::json!({"title": "t", "steps": [
            {"type": "navigate", "url": format!("{base}/")},
            {"type": "waitForExpression",
             "expression": format!("fetch('{other}', {{mode: 'no-cors'}}).then(() => true, () => true)")}
        ]}),
    );
    for allowed in [false, true] {
        let sink = Sink::new();
        let mut opts = options(1, 1);
        if allowed {
            opts.allow_hosts = vec!["localhost".into()];
        }
        let pool = BrowserPool::launch(opts, sink.clone()).await.expect("pool");
        site.reset_stats();
        let outcomes = run_sessions(&pool, &sink, &flow, 1, 1, Duration::ZERO).await;
        pool.shutdown().await;
        assert_eq!(outcomes, vec![SessionOutcome::Completed]);
        let summary = sink.finish();
        let blocked = summary
            .counters
            .get("requests.blocked")
            .copied()
            .unwrap_or(0);
        // The page itself also calls /api/cart/count on its own origin after load.
        let served = site.stats().route("GET /api/cart/count");
        if allowed {
            assert_eq!(blocked, 0);
            assert_eq!(served, 2);
        } else {
            assert_eq!(blocked, 1);
            assert_eq!(served, 1);
            // Counted, not failed: it never left the browser (as in HTTP mode).
            assert!(summary
                .entries
                .iter()
                .all(|e| e.name != format!("GET {other}")));
        }
    }
    site.shutdown().await;
}

/// Waits (killed processes take a moment to exit) until no live process is left in `groups`.
async fn no_process_left(groups: &[u32]) {
    let left = wait_for(
        "the browsers' processes to exit",
        Duration::from_secs(10),
        || async {
            let live = live_in_groups(groups);
            live.is_empty().then_some(())
        },
    );
    left.await;
}

/// Process ids whose process group is one of `groups` and that are not zombies.
fn live_in_groups(groups: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state ppid pgrp ...
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[0] != "Z" && groups.contains(&f[2].parse().unwrap_or(0)) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_browser_mid_run_loses_its_sessions_replaces_it_and_leaves_no_process() {
    let site = demo().await;
    let base = site.base_url();
    let flow = prepared(
        &base,
        serde_json::json!({"title": "t", "steps": [{"type": "navigate", "url": format!("{base}/")}]}),
    );
    let sink = Sink::new();
    let pool = BrowserPool::launch(options(2, 2), sink.clone())
        .await
        .expect("pool");
    let run = {
        let (pool, sink, flow) = (pool.clone(), sink.clone(), flow.clone());
        tokio::spawn(async move {
            run_sessions(&pool, &sink, &flow, 12, 4, Duration::from_secs(2)).await
        })
    };
    // Wait until both processes serve sessions and pages load, then kill one by pid.
    let pids = wait_for("both browsers", Duration::from_secs(10), || async {
        Some(pool.browser_pids().await).filter(|p| p.len() == 2)
    })
    .await;
    wait_for("pages loading", Duration::from_secs(30), || async {
        (site.stats().total >= 4).then_some(())
    })
    .await;
    let victim = pids[0];
    // SAFETY: kill(2) on a process this test's pool started.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    let outcomes = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the run completes")
        .unwrap();
    let all_pids: Vec<u32> = {
        let mut p = pids.clone();
        p.extend(pool.browser_pids().await);
        p
    };
    assert!(
        !pool.browser_pids().await.contains(&victim),
        "the killed browser was replaced"
    );
    pool.shutdown().await;
    let summary = sink.finish();
    let lost = outcomes
        .iter()
        .filter(|o| **o == SessionOutcome::Lost)
        .count() as u64;
    let completed = outcomes
        .iter()
        .filter(|o| **o == SessionOutcome::Completed)
        .count();
    assert_eq!(outcomes.len(), 12);
    assert!(lost >= 1, "{outcomes:?}");
    assert_eq!(summary.counters.get("sessions.lost"), Some(&lost));
    assert_eq!(completed as u64 + lost, 12, "{outcomes:?}");
    assert!(
        summary
            .counters
            .get("browsers.replaced")
            .copied()
            .unwrap_or(0)
            >= 1
    );
    // No orphans: nothing left in any browser's process group (zombies aside).
    no_process_left(&all_pids).await;
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_browser_is_killed_its_session_lost_and_the_next_one_runs() {
    let site = demo().await;
    let base = site.base_url();
    let flow = prepared(
        &base,
        serde_json::json!({"title": "t", "steps": [{"type": "navigate", "url": format!("{base}/")}]}),
    );
    let sink = Sink::new();
    // The watchdog's verdict comes sooner than a run's 20 s; the mechanism is the same.
    let opts = BrowserOptions {
        hung_after: Duration::from_secs(5),
        ..options(1, 1)
    };
    let pool = BrowserPool::launch(opts, sink.clone()).await.expect("pool");
    let hung = pool.browser_pids().await;
    let run = {
        let (pool, sink, flow) = (pool.clone(), sink.clone(), flow.clone());
        tokio::spawn(async move {
            run_sessions(&pool, &sink, &flow, 1, 1, Duration::from_secs(120)).await
        })
    };
    // Freeze the browser once its session is under way.
    wait_for(
        "the session's first request",
        Duration::from_secs(30),
        || async { (site.stats().total >= 1).then_some(()) },
    )
    .await;
    // SAFETY: kill(2) on a process group this test's pool started; SIGSTOP freezes it.
    unsafe { libc::kill(-(hung[0] as i32), libc::SIGSTOP) };
    let first = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the watchdog ends the session")
        .unwrap();
    assert_eq!(first, vec![SessionOutcome::Lost]);
    let second = run_sessions(&pool, &sink, &flow, 1, 1, Duration::ZERO).await;
    assert_eq!(second, vec![SessionOutcome::Completed]);
    let now = pool.browser_pids().await;
    pool.shutdown().await;
    let summary = sink.finish();
    assert_eq!(summary.counters.get("browsers.hung"), Some(&1));
    assert_eq!(summary.counters.get("sessions.lost"), Some(&1));
    let mut groups = hung.clone();
    groups.extend(now);
    no_process_left(&groups).await;
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_run_from_the_command_line_ends_without_error_lines() {
    let server = demo().await;
    let base = server.base_url();
    let flow = crate::support::flow_path("browse.json");
    let out = crate::support::throng_async()
        .args([
            "run",
            flow.to_str().unwrap(),
            "--mode",
            "browser",
            "--target",
            &base,
        ])
        .args([
            "--users",
            "2",
            "--iterations",
            "1",
            "--think-scale",
            "0.1",
            "--quiet",
        ])
        .output()
        .await
        .expect("throng runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Closing the browsers at the end is throng's doing, not an error to show the user.
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sessions.completed"));
    server.shutdown().await;
}
