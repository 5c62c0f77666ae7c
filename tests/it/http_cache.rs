//! HTTP mode caches assets as Chromium does (RFC 9111): Debian's nginx serves static files
//! with `Last-Modified` only (`etag off`, no Cache-Control); its access log must show the
//! same requests, with the same statuses, for HTTP mode as for browser mode on the same
//! three-page flow. Old files are fresh by heuristic (fetched once per user), files modified
//! seconds ago are stale by the next page (revalidated: 304).

use crate::support::nginx::{self, Nginx};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const ASSETS: [&str; 3] = ["/s/app.css", "/s/app.js", "/s/logo.svg"];
const PAGES: [&str; 3] = ["/p1.html", "/p2.html", "/p3.html"];

/// Writes the site (three pages sharing three assets, every file modified `age` ago) and
/// starts nginx on it, logging `method uri status` per request.
fn start(age: Duration) -> Nginx {
    let staging = tempfile::tempdir().unwrap();
    let site = staging.path().join("site");
    std::fs::create_dir_all(site.join("s")).unwrap();
    let page = |n: usize| {
        format!(
            r#"<!doctype html><html><head><title>page {n}</title><link rel="stylesheet" href="/s/app.css"><script src="/s/app.js"></script></head><body><img src="/s/logo.svg" width="10" height="10"><p>page {n}</p></body></html>"#
        )
    };
    let mut files: Vec<(PathBuf, String)> = (1..=3)
        .map(|n| (site.join(format!("p{n}.html")), page(n)))
        .collect();
    files.push((site.join("s/app.css"), "body{color:#333}".into()));
    files.push((site.join("s/app.js"), "window.x=1;".into()));
    files.push((
        site.join("s/logo.svg"),
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#.into(),
    ));
    for (path, text) in files {
        std::fs::write(&path, text).unwrap();
    }
    touch(&site, age);
    let port = nginx::free_port();
    let body = format!(
        r#"  types {{ text/html html; text/css css; application/javascript js; image/svg+xml svg; }}
  log_format small '$request_method $uri $status';
  access_log DIR/access.log small;
  server {{
    listen 127.0.0.1:{port};
    root DIR/site;
    etag off;
  }}"#
    );
    nginx::start(&body, &[port], |into| {
        std::fs::rename(&site, into.join("site")).unwrap();
    })
}

/// Sets every file's modification time to `age` ago.
fn touch(site: &Path, age: Duration) {
    let mtime = SystemTime::now() - age;
    for name in PAGES.iter().chain(ASSETS.iter()) {
        let path = site.join(name.trim_start_matches('/'));
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(mtime).unwrap();
    }
}

/// The flow as the recorder writes it: three navigations, each with its document and assets.
fn flow(dir: &Path, port: u16) -> PathBuf {
    let o = format!("http://127.0.0.1:{port}");
    let req = |kind: &str, rt: &str, path: &str| serde_json::json!({"kind": kind, "resourceType": rt, "method": "GET", "url": format!("{o}{path}")});
    let steps: Vec<serde_json::Value> = PAGES
        .iter()
        .map(|p| {
            serde_json::json!({"type": "navigate", "url": format!("{o}{p}"), "network": {"requests": [
                req("document", "Document", p),
                req("static", "Stylesheet", ASSETS[0]),
                req("static", "Script", ASSETS[1]),
                req("static", "Image", ASSETS[2]),
            ]}})
        })
        .collect();
    let flow = serde_json::json!({
        "format": "throng-flow/1", "title": "cache", "origin": o, "steps": steps
    });
    let path = dir.join("flow.json");
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

/// The access log as counts of `GET /path status`.
fn log_counts(nginx: &Nginx) -> BTreeMap<String, u64> {
    let text = nginx.access_log();
    let mut out = BTreeMap::new();
    for l in text.lines() {
        *out.entry(l.to_string()).or_default() += 1;
    }
    out
}

/// Runs the flow once per user in `mode` (think time between pages `think`); returns the
/// access log lines it caused.
fn run(nginx: &Nginx, mode: &str, users: u32, think: &str) -> BTreeMap<String, u64> {
    let before = log_counts(nginx);
    let flow = flow(nginx.dir.path(), nginx.ports[0]);
    let out = crate::support::throng()
        .arg("run")
        .arg(&flow)
        .args([
            "--mode",
            mode,
            "--users",
            &users.to_string(),
            "--ramp",
            "0s",
        ])
        .args(["--iterations", "1", "--duration", "60s", "--think", think])
        .args(["-q", "--out", "-", "--format", "json"])
        .output()
        .expect("throng runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counted: u64 = results["summary"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| matches!(e["kind"].as_str(), Some("document" | "static")))
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    // Every request throng counted is in the log (nginx writes it after answering).
    let mut after = log_counts(nginx);
    for _ in 0..100 {
        let logged: u64 = after.values().sum::<u64>() - before.values().sum::<u64>();
        if logged >= counted {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        after = log_counts(nginx);
    }
    for (line, n) in before {
        *after.get_mut(&line).unwrap() -= n;
    }
    after.retain(|_, n| *n > 0);
    after
}

#[test]
fn http_mode_sends_what_chromium_sends_for_assets_with_only_last_modified() {
    // Modified 10 days ago: fresh for a day by heuristic, fetched once per user.
    let nginx = start(Duration::from_secs(10 * 24 * 3600));
    let users = 2;
    let browser = run(&nginx, "browser", users, "0s");
    let http = run(&nginx, "http", users, "0s");
    for asset in ASSETS {
        assert_eq!(
            browser.get(&format!("GET {asset} 200")),
            Some(&(users as u64)),
            "Chromium fetched {asset} once per user: {browser:#?}"
        );
    }
    assert_eq!(http, browser, "nginx's log: http mode vs browser mode");
}

#[test]
fn http_mode_revalidates_assets_modified_seconds_ago_as_chromium_does() {
    // Modified 2 s before each run: fresh for a fraction of a second, stale when the next
    // page comes 2 s later; both modes revalidate (If-Modified-Since), nginx answers 304.
    let age = Duration::from_secs(2);
    let nginx = start(age);
    let users = 1;
    let browser = run(&nginx, "browser", users, "2s");
    touch(&nginx.dir.path().join("site"), age);
    let http = run(&nginx, "http", users, "2s");
    for asset in ASSETS {
        assert_eq!(
            browser.get(&format!("GET {asset} 304")),
            Some(&2),
            "Chromium revalidated {asset} on pages 2 and 3: {browser:#?}"
        );
    }
    assert_eq!(http, browser, "nginx's log: http mode vs browser mode");
}
