//! HTTP mode against Debian's nginx serving HTTP/2 over TLS with a self-signed certificate
//! (`--cacert`): nginx's own access log shows how every request arrived (protocol, connection
//! serial number), and its per-route counts must equal throng's.

use crate::support::nginx::{self, free_port, Nginx};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pages: a document with a stylesheet, a script and an image, two JSON endpoints.
const SERVER: &str = r#"
    ssl_certificate DIR/cert.pem;
    ssl_certificate_key DIR/key.pem;
    location = / {
      default_type text/html;
      return 200 '<!doctype html><html><head><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js"></script></head><body><img src="/static/logo.svg"><a href="/about">about</a></body></html>';
    }
    location = /about { default_type text/html; return 200 '<!doctype html><html><head><link rel="stylesheet" href="/static/app.css"></head><body>about</body></html>'; }
    location = /static/app.css { default_type text/css; return 200 'body { color: #333 }'; }
    location = /static/app.js { default_type application/javascript; return 200 'console.log(1)'; }
    location = /static/logo.svg { default_type image/svg+xml; return 200 '<svg xmlns="http://www.w3.org/2000/svg"/>'; }
    location /api/ { default_type application/json; return 200 '{"ok":true}'; }
"#;

/// nginx on two loopback ports with a certificate for `localhost`; logs go to
/// `access.log` as `connection protocol method uri status port`. The first port keeps
/// connections open (HTTP/2's defaults), the second ends each after 4 requests (GOAWAY).
fn start_nginx() -> Nginx {
    let (port, short_port) = (free_port(), free_port());
    let body = format!(
        r#"  log_format conns '$connection $server_protocol $request_method $uri $status $server_port';
  access_log DIR/access.log conns;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    {SERVER}
  }}
  server {{
    listen 127.0.0.1:{short_port} ssl http2;
    keepalive_requests 4;
    {SERVER}
  }}"#
    );
    nginx::start(&body, &[port, short_port], nginx::write_localhost_cert)
}

/// A flow of two pages on `https://localhost:PORT`: the home page (document, its three assets,
/// an AJAX call) and the about page (document, stylesheet, AJAX).
fn flow(dir: &Path, port: u16) -> PathBuf {
    let o = format!("https://localhost:{port}");
    let req = |kind: &str, rt: &str, path: &str| serde_json::json!({"kind": kind, "resourceType": rt, "method": "GET", "url": format!("{o}{path}")});
    let flow = serde_json::json!({
        "format": "throng-flow/1",
        "title": "nginx h2",
        "origin": o,
        "steps": [
            {"type": "navigate", "url": format!("{o}/"), "network": {"requests": [
                req("document", "Document", "/"),
                req("static", "Stylesheet", "/static/app.css"),
                req("static", "Script", "/static/app.js"),
                req("static", "Image", "/static/logo.svg"),
                req("ajax", "Fetch", "/api/items"),
            ]}},
            {"type": "navigate", "url": format!("{o}/about"), "network": {"requests": [
                req("document", "Document", "/about"),
                req("static", "Stylesheet", "/static/app.css"),
                req("ajax", "XHR", "/api/more"),
            ]}}
        ]
    });
    let path = dir.join(format!("flow-{port}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

/// One access-log line.
#[derive(Debug)]
struct Logged {
    connection: u64,
    protocol: String,
    route: String,
    port: u16,
}

fn read_log(nginx: &Nginx) -> Vec<Logged> {
    let text = nginx.access_log();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Logged {
                connection: f[0].parse().unwrap(),
                protocol: f[1].to_string(),
                route: format!("{} {}", f[2], f[3]),
                port: f[5].parse().unwrap(),
            }
        })
        .collect()
}

/// Runs the flow with `users` users for 2 iterations; returns throng's request counts per
/// route (`GET /path`), its counters and its total failures.
fn run_throng(
    nginx: &Nginx,
    port: u16,
    users: u32,
    extra: &[&str],
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>, u64) {
    let flow = flow(nginx.dir.path(), port);
    let out = crate::support::throng()
        .arg("run")
        .arg(&flow)
        .args([
            "--users",
            &users.to_string(),
            "--ramp",
            "0s",
            "--iterations",
            "2",
        ])
        .args([
            "--duration",
            "60s",
            "--think",
            "0s",
            "-q",
            "--out",
            "-",
            "--format",
            "json",
        ])
        .arg("--cacert")
        .arg(nginx.dir.path().join("cert.pem"))
        .args(extra)
        .output()
        .expect("throng runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let prefix = format!("https://localhost:{port}");
    let mut routes = BTreeMap::new();
    let mut failures = 0;
    for e in results["summary"]["entries"].as_array().expect("entries") {
        let kind = e["kind"].as_str().unwrap();
        if !matches!(
            kind,
            "document" | "static" | "ajax" | "polling" | "beacon" | "other"
        ) {
            continue;
        }
        failures += e["failures"].as_u64().unwrap();
        let name = e["name"].as_str().unwrap().replacen(&prefix, "", 1);
        *routes.entry(name).or_default() += e["count"].as_u64().unwrap();
    }
    let counters = serde_json::from_value(results["summary"]["counters"].clone()).unwrap();
    (routes, counters, failures)
}

/// nginx's per-route counts for one port, once its log has every request throng counted.
fn logged_routes(nginx: &Nginx, port: u16, expected: u64) -> (Vec<Logged>, BTreeMap<String, u64>) {
    for _ in 0..100 {
        let lines: Vec<Logged> = read_log(nginx)
            .into_iter()
            .filter(|l| l.port == port)
            .collect();
        if lines.len() as u64 >= expected {
            let mut routes = BTreeMap::new();
            for l in &lines {
                *routes.entry(l.route.clone()).or_default() += 1;
            }
            return (lines, routes);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nginx logged fewer than {expected} requests on port {port}");
}

#[test]
fn http_mode_speaks_http2_to_nginx_one_connection_per_user_and_http1_when_asked() {
    let nginx = start_nginx();
    let users = 3;
    let (ours, counters, failures) = run_throng(&nginx, nginx.ports[0], users, &[]);
    assert_eq!(failures, 0, "{ours:?}");
    let total: u64 = ours.values().sum();
    // 2 iterations of 5 + 3 requests (assets may be cached between pages: at least the
    // documents and AJAX calls).
    assert!(total >= u64::from(users) * 2 * 4, "{ours:?}");
    let (lines, theirs) = logged_routes(&nginx, nginx.ports[0], total);
    assert!(lines.iter().all(|l| l.protocol == "HTTP/2.0"), "{lines:?}");
    let connections: BTreeSet<u64> = lines.iter().map(|l| l.connection).collect();
    assert_eq!(connections.len(), users as usize, "{lines:?}");
    let routes: BTreeMap<String, u64> = ours.iter().map(|(name, n)| (name.clone(), *n)).collect();
    assert_eq!(routes, theirs);
    let key = format!("connections.h2.localhost:{}", nginx.ports[0]);
    assert_eq!(counters.get(&key), Some(&u64::from(users)), "{counters:?}");

    // --http1: the same run over HTTP/1.1.
    let before = read_log(&nginx).len();
    let (ours, counters, failures) = run_throng(&nginx, nginx.ports[0], users, &["--http1"]);
    assert_eq!(failures, 0);
    let total: u64 = ours.values().sum();
    let lines = wait_lines(&nginx, before as u64 + total);
    let new = &lines[before..];
    assert!(new.iter().all(|l| l.protocol == "HTTP/1.1"), "{new:?}");
    assert!(counters
        .keys()
        .any(|k| k.starts_with("connections.http1.localhost:")));
    assert!(!counters.keys().any(|k| k.starts_with("connections.h2.")));
}

fn wait_lines(nginx: &Nginx, n: u64) -> Vec<Logged> {
    for _ in 0..100 {
        let lines = read_log(nginx);
        if lines.len() as u64 >= n {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nginx logged fewer than {n} requests");
}

#[test]
fn nginx_closing_http2_connections_with_goaway_costs_no_request() {
    let nginx = start_nginx();
    let users = 2;
    let (ours, counters, failures) = run_throng(&nginx, nginx.ports[1], users, &[]);
    assert_eq!(failures, 0, "{ours:?}");
    let total: u64 = ours.values().sum();
    let (lines, theirs) = logged_routes(&nginx, nginx.ports[1], total);
    assert_eq!(ours, theirs);
    assert!(lines.iter().all(|l| l.protocol == "HTTP/2.0"));
    // Four requests per connection, then GOAWAY and a new connection.
    let connections: BTreeSet<u64> = lines.iter().map(|l| l.connection).collect();
    assert!(connections.len() as u64 >= total / 4, "{lines:?}");
    let key = format!("connections.h2.localhost:{}", nginx.ports[1]);
    assert_eq!(counters.get(&key), Some(&(connections.len() as u64)));
}
