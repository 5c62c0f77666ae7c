//! metrics_report tests: snapshot-style checks of the report formats (CSV, JSON, HTML, terminal)
//! on a fixed synthetic run, JSON round trip and merge, atomic writes, and the HTML report
//! rendered by real headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use throng::metrics::{
    EntryParts, EntrySummary, MetricKey, Mode, RunSummary, SampleKind, SecondStats,
};
use throng::report::{
    diff, read_results, render_html, render_summary, write_all, write_atomic, RunMeta, Threshold,
    ThresholdResult,
};

/// One key's parts: `n` samples at `first_ms`, `first_ms + step_ms`, ...; every `fail_every`th fails.
fn parts(n: u64, first_ms: u64, step_ms: u64, fail_every: u64, late_ms: Option<u64>) -> EntryParts {
    let mut p = EntryParts::empty();
    for i in 0..n {
        let us = (first_ms + i * step_ms) * 1000;
        p.raw.record(us).unwrap();
        p.count += 1;
        if fail_every > 0 && i % fail_every == 0 {
            p.failures += 1;
            *p.failures_by_outcome
                .entry("status 503".into())
                .or_default() += 1;
        }
    }
    if let Some(late) = late_ms {
        // Ten timers fired late: on time they took first_ms, from the intended start `late`.
        let mut c = p.raw.clone();
        c.record_n(late * 1000, 10).unwrap();
        p.raw.record_n(first_ms * 1000, 10).unwrap();
        p.count += 10;
        p.corrected = Some(c);
    }
    p.bytes = p.count * 512;
    p
}

/// A fixed run: http and browser, a 60 s ramp from 1 to 60 users where p95 climbs after 40.
pub fn fixture() -> RunSummary {
    let duration = Duration::from_secs(60);
    let key =
        |mode, step, kind, name: &str| MetricKey::new(mode, "Browse and buy", step, kind, name);
    let origin = "http://127.0.0.1:8080";
    let specs = [
        (
            key(
                Mode::Http,
                Some(0),
                SampleKind::Document,
                &format!("GET {origin}/"),
            ),
            parts(100, 10, 1, 0, None),
        ),
        (
            key(
                Mode::Http,
                Some(0),
                SampleKind::Static,
                &format!("GET {origin}/app.js"),
            ),
            parts(100, 2, 0, 0, None),
        ),
        (
            key(
                Mode::Http,
                Some(0),
                SampleKind::PageLoad,
                &format!("GET {origin}/"),
            ),
            parts(100, 30, 2, 0, None),
        ),
        (
            key(
                Mode::Http,
                Some(1),
                SampleKind::Ajax,
                &format!("GET {origin}/api/search"),
            ),
            parts(200, 5, 1, 50, None),
        ),
        (
            key(
                Mode::Http,
                Some(1),
                SampleKind::Polling,
                &format!("GET {origin}/api/notifications"),
            ),
            parts(300, 3, 0, 0, Some(2_500)),
        ),
        (
            key(
                Mode::Browser,
                Some(0),
                SampleKind::Document,
                &format!("GET {origin}/"),
            ),
            parts(50, 12, 1, 0, None),
        ),
        (
            key(
                Mode::Browser,
                Some(0),
                SampleKind::PageLoad,
                &format!("GET {origin}/"),
            ),
            parts(50, 150, 4, 0, None),
        ),
        (
            key(
                Mode::Browser,
                Some(1),
                SampleKind::Ajax,
                &format!("GET {origin}/api/featured"),
            ),
            parts(50, 8, 1, 0, None),
        ),
    ];
    let entries = specs
        .iter()
        .map(|(k, p)| EntrySummary::from_parts(k, p, duration))
        .collect();
    let series = (1..=60u64)
        .map(|t| {
            let p95 = if t <= 40 {
                20.0
            } else {
                20.0 + (t - 40) as f64 * 6.0
            };
            SecondStats {
                t_ms: t * 1000,
                interval_ms: 1000,
                users: t,
                requests: 10 + t,
                failures: u64::from(t % 10 == 0),
                rps: (10 + t) as f64,
                p50_ms: Some(p95 / 2.0),
                p95_ms: Some(p95),
                p99_ms: Some(p95 * 1.5),
                page_loads: 2,
                page_load_p95_ms: Some(p95 * 3.0),
            }
        })
        .collect();
    RunSummary {
        started_unix_ms: 1_700_000_000_000,
        duration,
        peak_users: 60,
        entries,
        series,
        counters: BTreeMap::from([
            ("cdp.dropped_events".to_string(), 3),
            ("users.started".to_string(), 60),
            ("sessions.failed".to_string(), 0),
        ]),
        generator: None,
        failures: Vec::new(),
        sessions: Vec::new(),
    }
}

fn meta() -> RunMeta {
    RunMeta {
        command_line: vec!["throng".into(), "run".into(), "flows/shop.json".into()],
        flows: vec!["flows/shop.json".into()],
        modes: vec![Mode::Http, Mode::Browser],
        plan: "ramp 1 -> 60 users over 60s".into(),
        started_unix_ms: 1_700_000_000_000,
        version: "0.1.0".into(),
        mode_facts: Vec::new(),
        workers: Vec::new(),
    }
}

fn thresholds(s: &RunSummary) -> Vec<ThresholdResult> {
    ["p95(page-load)<300ms", "errors<1%", "count(document)>=10"]
        .iter()
        .map(|t| Threshold::parse(t).unwrap().evaluate(s))
        .collect()
}

fn out_dir(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    (tmp, dir)
}

#[test]
fn write_all_writes_the_four_files() {
    let s = fixture();
    let (_tmp, dir) = out_dir("out");
    let paths = write_all(&dir, &s, &meta(), &thresholds(&s)).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["results.json", "stats.csv", "history.csv", "report.html"]
    );
    for p in &paths {
        assert!(std::fs::metadata(p).unwrap().len() > 100, "{}", p.display());
    }
}

#[test]
fn stats_csv_has_one_row_per_key() {
    let s = fixture();
    let (_tmp, dir) = out_dir("csv");
    write_all(&dir, &s, &meta(), &[]).unwrap();
    let text = std::fs::read_to_string(dir.join("stats.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "mode,flow,step,kind,name,count,failures,error_rate,rps,bytes,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,mean_ms,corrected_p95_ms,corrected_p99_ms,failures_by_outcome,interrupted"
    );
    assert_eq!(lines.len(), 1 + s.entries.len());
    // 100 documents at 10, 11, ..., 109 ms over 60 s.
    assert_eq!(
        lines[1],
        "http,Browse and buy,0,document,GET http://127.0.0.1:8080/,100,0,0,1.667,51200,59.007,99.007,104.063,108.031,109.055,59.504,,,,0"
    );
    // 200 AJAX calls, every 50th a 503.
    let ajax = lines.iter().find(|l| l.contains("/api/search")).unwrap();
    assert!(
        ajax.starts_with(
            "http,Browse and buy,1,ajax,GET http://127.0.0.1:8080/api/search,200,4,0.02,3.333,"
        ),
        "{ajax}"
    );
    assert!(ajax.ends_with(",,,status 503=4,0"), "{ajax}");
    // The polling entry has a late timer: corrected columns filled.
    let poll = lines
        .iter()
        .find(|l| l.contains("/api/notifications"))
        .unwrap();
    assert!(poll.ends_with(",3.001,2500.607,,0"), "{poll}");
}

#[test]
fn history_csv_has_one_row_per_second() {
    let s = fixture();
    let (_tmp, dir) = out_dir("hist");
    write_all(&dir, &s, &meta(), &[]).unwrap();
    let text = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "t_s,users,requests,failures,rps,failures_per_s,p50_ms,p95_ms,p99_ms,page_loads,page_load_p95_ms"
    );
    assert_eq!(lines.len(), 61);
    assert_eq!(lines[1], "1,1,11,0,11,0,10,20,30,2,60");
    assert_eq!(lines[50], "50,50,60,1,60,1,40,80,120,2,240");
}

#[test]
fn results_json_round_trips_and_merges() {
    let s = fixture();
    let th = thresholds(&s);
    let (_tmp, dir) = out_dir("json");
    write_all(&dir, &s, &meta(), &th).unwrap();
    let path = dir.join("results.json");
    let r = read_results(&path).unwrap();
    assert_eq!(r.summary, s);
    assert_eq!(r.meta, meta());
    assert_eq!(r.thresholds, th);
    let text = std::fs::read_to_string(&path).unwrap();
    let again = RunSummary::from_json(&text).unwrap();
    assert_eq!(again, s);
    assert!(
        text.contains("\"histogram\": \"HIST"),
        "V2 histograms are stored"
    );

    // Two machines ran the same plan at the same time: counts and histograms add exactly.
    let mut merged = again.clone();
    merged.merge(&s);
    assert_eq!(merged.duration, s.duration);
    for (m, one) in merged.entries.iter().zip(&s.entries) {
        assert_eq!(m.count, 2 * one.count);
        assert_eq!(m.failures, 2 * one.failures);
        let (mh, oh) = (m.histogram().unwrap(), one.histogram().unwrap());
        assert_eq!(mh.len(), 2 * oh.len());
        assert_eq!(m.latency.p95_ms, one.latency.p95_ms);
    }
    assert_eq!(merged.series.len(), 60);
    assert_eq!(merged.series[0].requests, 22);
    assert_eq!(merged.counters["cdp.dropped_events"], 6);

    // A corrupted file is one clear error naming the file.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        text.replacen("\"histogram\": \"HIST", "\"histogram\": \"XIST", 1),
    )
    .unwrap();
    let err = format!("{:#}", read_results(&bad).unwrap_err());
    assert!(
        err.contains("bad.json") && err.contains("histogram"),
        "{err}"
    );
}

fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let pat = format!("{attr}=\"");
    html.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

#[test]
fn html_report_has_charts_with_data_tables_and_the_knee() {
    let s = fixture();
    let html = render_html(&s, &meta(), &thresholds(&s));
    for id in [
        "chart-users",
        "chart-rps",
        "chart-failures",
        "chart-latency",
        "chart-distribution",
        "chart-page-load",
    ] {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} missing"));
        let points: usize = attr_values(&html[at..], "data-points")[0].parse().unwrap();
        assert!(points > 0, "{id} has no data points");
    }
    // Users chart: one point per second; latency chart: p50, p95, p99 and page-load lines.
    let users_at = html.find("id=\"chart-users\"").unwrap();
    assert_eq!(attr_values(&html[users_at..], "data-points")[0], "60");
    for series in ["p50", "p95", "p99", "page-load p95"] {
        assert!(
            html.contains(&format!("data-series=\"{series}\"")),
            "{series}"
        );
    }
    // Distribution: one line per (mode, kind) with samples.
    let dist_at = html.find("id=\"chart-distribution\"").unwrap();
    let dist = &html[dist_at..html[dist_at..].find("</figure>").unwrap() + dist_at];
    assert_eq!(
        dist.matches("<polyline").count(),
        8,
        "5 http + 3 browser kinds"
    );
    // Page load per step: bars for both modes.
    assert!(html.contains("http p95") && html.contains("browser p95"));
    // The knee is where p95 started to climb (about 42 users in the fixture).
    assert!(html.contains("class=\"knee\""));
    let knee = &html[html.find("knee ≈ ").unwrap() + "knee ≈ ".len()..];
    let users: u64 = knee[..knee.find(' ').unwrap()].parse().unwrap();
    assert!((41..=45).contains(&users), "knee at {users}");
    // Tables, thresholds, counters.
    for section in [
        "totals",
        "requests",
        "failures",
        "counters",
        "thresholds",
        "run",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    assert!(html.contains("cdp.dropped_events"));
    assert!(
        !html.contains("sessions.failed"),
        "zero counters are left out"
    );
    assert!(html.contains("✗ fail") && html.contains("✓ pass"));
    assert!(html.contains("/api/notifications"));
    // Self-contained: no scripts, no external resources.
    assert!(!html.contains("<script"));
    assert!(attr_values(&html, "src").is_empty());
    assert!(attr_values(&html, "href").is_empty());
    assert!(!html.contains("url("));
}

#[test]
fn html_escapes_names() {
    let mut s = fixture();
    s.entries[0].name = "GET http://h/<script>alert(1)</script>".into();
    let html = render_html(&s, &meta(), &[]);
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(1)"));
}

#[test]
fn terminal_summary_shows_tables_counters_and_thresholds() {
    let s = fixture();
    let text = render_summary(&s, &meta(), &thresholds(&s));
    println!("{text}");
    assert!(
        text.contains("810 requests · 13.5 req/s · 4 failed (0.49%) · peak 60 users"),
        "{text}"
    );
    assert!(text.contains("http · Browse and buy"));
    assert!(text.contains("browser · Browse and buy"));
    assert!(text.contains("Totals by kind"));
    assert!(text.contains("Coordinated omission"));
    let counter = text
        .lines()
        .find(|l| l.contains("cdp.dropped_events"))
        .unwrap();
    assert!(counter.trim_start().starts_with('!'), "{counter}");
    assert!(!text.contains("sessions.failed"));
    assert!(text.contains("Thresholds: 2/3 passed"));
    assert!(text
        .lines()
        .any(|l| l.contains("✗ FAIL") && l.contains("p95(page-load)<300ms")));
    let doc = text
        .lines()
        .find(|l| {
            l.contains("document") && l.contains("GET http://127.0.0.1:8080/") && l.contains("100")
        })
        .unwrap();
    assert!(
        doc.contains("  59.0  ") && doc.ends_with("  109.1"),
        "{doc}"
    );
}

#[test]
fn diff_of_saved_runs_flags_the_slower_name() {
    let base = fixture();
    let mut slower = fixture();
    let k = MetricKey::new(
        Mode::Http,
        "Browse and buy",
        Some(1),
        SampleKind::Ajax,
        "GET http://127.0.0.1:8080/api/search",
    );
    slower.entries[3] = EntrySummary::from_parts(&k, &parts(200, 50, 2, 50, None), slower.duration);
    let d = diff(&base, &slower, 10.0);
    let flagged: Vec<_> = d
        .rows
        .iter()
        .filter(|r| r.flagged())
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        flagged,
        ["(all requests)", "GET http://127.0.0.1:8080/api/search"]
    );
    assert!(d.to_string().contains("2 regression(s)"));
}

fn no_temp_files(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn report_files_are_replaced_atomically() {
    let s = fixture();
    let (_tmp, dir) = out_dir("atomic");
    write_all(&dir, &s, &meta(), &[]).unwrap();
    let html_path = dir.join("report.html");
    let first = std::fs::read(&html_path).unwrap();

    // A reader holding the old file keeps reading the whole old file after a rewrite.
    let old = std::fs::File::open(&html_path).unwrap();
    let mut bigger = fixture();
    bigger
        .entries
        .extend(fixture().entries.into_iter().map(|mut e| {
            e.flow = "Another flow".into();
            e
        }));
    write_all(&dir, &bigger, &meta(), &[]).unwrap();
    let mut old_bytes = Vec::new();
    std::io::Read::read_to_end(&mut &old, &mut old_bytes).unwrap();
    assert_eq!(old_bytes, first);
    assert!(std::fs::read_to_string(&html_path)
        .unwrap()
        .contains("Another flow"));
    no_temp_files(&dir);

    // Readers racing a writer only ever see complete files.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), html_path.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(text.starts_with("<!DOCTYPE html>") && text.ends_with("</html>\n"));
                reads += 1;
            }
            reads
        })
    };
    for i in 0..12 {
        let s = if i % 2 == 0 { &s } else { &bigger };
        write_all(&dir, s, &meta(), &[]).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    no_temp_files(&dir);

    // A failed write leaves the old file in place and no temp file behind.
    let target = dir.join("sub");
    std::fs::create_dir(&target).unwrap();
    assert!(
        write_atomic(&target, b"x").is_err(),
        "cannot replace a directory"
    );
    no_temp_files(&dir);
}

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[test]
fn html_report_renders_in_headless_chromium_without_errors() {
    let Some(bin) = chromium() else {
        eprintln!("no chromium installed: skipping");
        return;
    };
    let s = fixture();
    let (tmp, dir) = out_dir("chromium");
    write_all(&dir, &s, &meta(), &thresholds(&s)).unwrap();
    let url = format!("file://{}", dir.join("report.html").display());
    let profile = tmp.path().join("profile");
    let shot = dir.join("report.png");
    let run = |extra: &[&str]| {
        Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args([
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1400,3000",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium")
    };
    let out = run(&["--dump-dom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    // The parsed DOM holds the SVG charts with their points.
    assert!(
        dom.matches("<polyline").count() >= 12,
        "charts missing from the DOM"
    );
    assert!(dom.matches("<circle").count() >= 60);
    assert!(dom.contains("knee ≈"));
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("ERR_FILE"))
        .collect();
    assert!(console.is_empty(), "console output: {console:?}");

    let out = run(&[&format!("--screenshot={}", shot.display())]);
    assert!(out.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 20_000,
        "screenshot looks empty: {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("THRONG_KEEP_REPORT") {
        std::fs::copy(
            dir.join("report.html"),
            Path::new(&keep).join("report.html"),
        )
        .unwrap();
        std::fs::copy(&shot, Path::new(&keep).join("report.png")).unwrap();
    }
}
