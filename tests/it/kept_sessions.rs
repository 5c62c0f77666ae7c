//! Sessions kept whole (`--keep-sessions`) against a real server (Python's http.server) that
//! logs every request it answers: a failed session's HAR holds exactly the requests the server
//! logged for it, imports with `throng import`, never holds the password typed or the session
//! cookie in clear, and the count and body caps hold. Browser mode (real Chromium) also keeps a
//! filmstrip, and report.html links both beside the failed step.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Logs `METHOD PATH user=<u>` per request (the `u` query parameter or form field, else the
/// `u` cookie the first page sets, tells sessions apart); a login sets a session cookie;
/// `/big` is 200 KB; `/api/cart` fails.
const SERVER: &str = r#"
import sys, http.server, urllib.parse
LOG = sys.argv[2]
BIG = ("<p>" + "x" * 1000 + "</p>\n") * 200
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def note(self, body=""):
        q = urllib.parse.urlparse(self.path).query + "&" + body
        c = (self.headers.get("Cookie") or "").replace("; ", "&")
        u = urllib.parse.parse_qs(q).get("u", urllib.parse.parse_qs(c).get("u", ["?"]))[0]
        with open(LOG, "a") as f:
            f.write("%s %s user=%s\n" % (self.command, urllib.parse.urlparse(self.path).path, u))
    def send(self, status, body, ctype="text/html", extra=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.note()
        p = urllib.parse.urlparse(self.path).path
        if p == "/big":
            self.send(200, "<html><title>big</title><body>" + BIG + "</body></html>")
        elif p == "/api/cart":
            self.send(500, '{"error":"cart is down"}', "application/json")
        elif p == "/favicon.ico":
            self.send(404, "")
        else:
            u = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("u", ["?"])[0]
            self.send(200, '<html><head><title>Shop</title></head><body><h1>Shop</h1>'
                '<form method="post" action="/login"><input name="u"><input type="password" name="pw">'
                '<button id="go" type="submit">Log in</button></form>'
                '<button id="cart" onclick="fetch(\'/api/cart?u=\' + new URLSearchParams(location.search).get(\'u\'))'
                '.then(r => r.status >= 500 && document.body.append(\'cart is down\'))">Cart</button></body></html>',
                extra=[("Set-Cookie", "u=" + u + "; Path=/")])
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        self.note(body)
        u = urllib.parse.parse_qs(body).get("u", ["?"])[0]
        self.send(303, "", extra=[("Location", "/home?u=" + u), ("Set-Cookie", "sid=SIDsecretCOOKIE77; Path=/")])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = dir.join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let log = dir.join("requests.log");
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let server = Server { child, port, log };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the server did not listen");
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests logged for user `u`, as `METHOD PATH`.
    fn logged(&self, u: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.ends_with(&format!(" user={u}")))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
            .collect();
        lines.sort();
        lines
    }
}

const PASSWORD: &str = "hunter2-Secret!";

fn run(flow: &Path, mode: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = crate::support::throng()
        .arg("run")
        .arg(flow)
        .args(["--mode", mode, "--users", "1"])
        .args(["--duration", "60s", "--think", "0s", "-q", "--out"])
        .arg(out)
        .args(["--var", &format!("password={PASSWORD}")])
        .args(extra)
        .output()
        .expect("throng runs");
    let text = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("results.json: {e}\n{}", String::from_utf8_lossy(&o.stderr)));
    serde_json::from_str(&text).unwrap()
}

/// Every file under `dir`, as bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The HAR's requests as `METHOD PATH`, sorted.
fn har_requests(har: &serde_json::Value) -> Vec<String> {
    let mut got: Vec<String> = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let url = url::Url::parse(e["request"]["url"].as_str().unwrap()).unwrap();
            format!(
                "{} {}",
                e["request"]["method"].as_str().unwrap(),
                url.path()
            )
        })
        .collect();
    got.sort();
    got
}

/// A valid HAR 1.2 as Chrome DevTools reads it: the fields it requires.
fn assert_valid_har(har: &serde_json::Value) {
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert!(log["creator"]["name"].is_string() && log["creator"]["version"].is_string());
    for p in log["pages"].as_array().unwrap() {
        assert!(p["id"].is_string() && p["startedDateTime"].is_string());
        assert!(p["pageTimings"].is_object(), "{p}");
    }
    let entries = log["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        assert!(e["startedDateTime"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(e["time"].as_f64().unwrap() >= 0.0);
        for k in ["method", "url", "httpVersion"] {
            assert!(e["request"][k].is_string(), "{k}: {e}");
        }
        for k in ["cookies", "headers", "queryString"] {
            assert!(e["request"][k].is_array(), "{k}: {e}");
            assert!(
                k == "queryString" || e["response"][k].is_array(),
                "{k}: {e}"
            );
        }
        assert!(e["response"]["status"].is_u64() && e["response"]["content"].is_object());
        assert!(e["cache"].is_object());
        for k in ["send", "wait", "receive"] {
            assert!(e["timings"][k].as_f64().unwrap() >= 0.0, "{k}: {e}");
        }
    }
}

/// `throng import` turns the HAR into a flow.
fn imports(har: &Path, dir: &Path) {
    let flow = dir.join("imported.json");
    let o = crate::support::throng()
        .arg("import")
        .arg(har)
        .arg("-o")
        .arg(&flow)
        .output()
        .unwrap();
    assert!(
        o.status.success() && flow.is_file(),
        "throng import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn http_flow(o: &str, user: &str) -> serde_json::Value {
    serde_json::json!({
        "title": "shop", "origin": o,
        "variables": [{"name": "password", "secret": {}}],
        "steps": [
            {"type": "navigate", "url": format!("{o}/?u={user}")},
            {"type": "click", "selectors": [["#go"]], "network": {"requests": [
                {"kind": "document", "method": "POST", "url": format!("{o}/login"),
                 "headers": {"content-type": "application/x-www-form-urlencoded"},
                 "body": format!("u={user}&pw=${{password}}"), "status": 303},
                {"kind": "document", "url": format!("{o}/home?u={user}"), "status": 200}
            ]}},
            {"type": "navigate", "url": format!("{o}/big?u={user}")},
            {"type": "click", "selectors": [["#cart"]], "network": {"requests": [
                {"kind": "ajax", "url": format!("{o}/api/cart?u={user}"), "status": 200}
            ]}}
        ]
    })
}

#[test]
fn a_failed_http_session_is_kept_as_the_har_of_what_the_server_saw() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let path = dir.path().join("shop.json");
    std::fs::write(&path, http_flow(&server.origin(), "h1").to_string()).unwrap();
    let out = dir.path().join("out");
    // Three failing iterations, two kept: the count cap holds.
    let results = run(
        &path,
        "http",
        &out,
        &["--iterations", "3", "--keep-sessions", "2"],
    );
    let kept = results["summary"]["sessions"]
        .as_array()
        .expect("kept sessions");
    assert_eq!(kept.len(), 2, "{kept:#?}");
    let dirs = std::fs::read_dir(out.join("sessions")).unwrap().count();
    assert_eq!(dirs, 2, "two session directories");
    let k = &kept[0];
    assert_eq!(
        (k["mode"].as_str(), k["outcome"].as_str()),
        (Some("http"), Some("failed"))
    );
    assert_eq!(k["failedStep"], 3);
    let har_path = out.join(k["har"].as_str().unwrap());
    let har: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&har_path).unwrap()).unwrap();
    assert_valid_har(&har);
    // Each session sent what the server logged for one iteration (three in all).
    let logged = server.logged("h1");
    assert_eq!(logged.len() % 3, 0, "{logged:?}");
    let per_session: Vec<String> = logged.iter().step_by(3).cloned().collect();
    assert_eq!(har_requests(&har), per_session);
    let entries = har["log"]["entries"].as_array().unwrap();
    let big = entries
        .iter()
        .find(|e| e["request"]["url"].as_str().unwrap().contains("/big"))
        .unwrap();
    let text = big["response"]["content"]["text"].as_str().unwrap();
    assert!(
        text.len() <= 64 * 1024 && text.starts_with("<html>"),
        "{}",
        text.len()
    );
    assert!(har["log"]["comment"].as_str().unwrap().contains("cut"));
    let login = entries
        .iter()
        .find(|e| e["request"]["method"] == "POST")
        .unwrap();
    assert_eq!(login["request"]["postData"]["text"], "u=h1&pw=***");
    assert_eq!(login["response"]["status"], 303);
    // Cookies as sent: none before the login, the session's (masked) after it.
    let cookie = |e: &serde_json::Value| {
        e["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case("cookie"))
            .map(|h| h["value"].as_str().unwrap().to_string())
    };
    assert_eq!(cookie(&entries[0]), None, "the first request has no cookie");
    assert_eq!(cookie(login).as_deref(), Some("***"));
    let home = entries
        .iter()
        .find(|e| e["request"]["url"].as_str().unwrap().contains("/home"))
        .unwrap();
    assert_eq!(cookie(home).as_deref(), Some("***"));
    // The password typed and the session cookie are in no kept file.
    for (p, bytes) in files(&out.join("sessions")) {
        for secret in [PASSWORD, "hunter2-Secret%21", "SIDsecretCOOKIE77"] {
            assert!(!contains(&bytes, secret), "{secret} in {}", p.display());
        }
    }
    imports(&har_path, dir.path());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains(k["har"].as_str().unwrap()),
        "report.html links the HAR"
    );
}

#[test]
fn keeping_sessions_off_keeps_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let path = dir.path().join("shop.json");
    std::fs::write(&path, http_flow(&server.origin(), "h2").to_string()).unwrap();
    let out = dir.path().join("out");
    let results = run(
        &path,
        "http",
        &out,
        &["--iterations", "1", "--keep-sessions", "none"],
    );
    assert!(results["summary"]["sessions"].is_null());
    assert!(!out.join("sessions").exists());
}

#[test]
fn a_failed_browser_session_keeps_its_har_and_filmstrip() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let o = server.origin();
    let flow = serde_json::json!({
        "title": "shop", "origin": o,
        "variables": [{"name": "password", "secret": {}}],
        "steps": [
            {"type": "navigate", "url": format!("{o}/?u=b1")},
            {"type": "change", "selectors": [["input[name=u]"]], "value": "b1"},
            {"type": "change", "selectors": [["input[name=pw]"]], "value": "${password}"},
            {"type": "click", "selectors": [["#go"]], "assertedEvents": [
                {"type": "navigation", "url": format!("{o}/home?u=b1")}
            ]},
            {"type": "click", "selectors": [["#cart"]], "network": {"requests": [
                {"kind": "ajax", "resourceType": "Fetch", "url": format!("{o}/api/cart?u=b1"), "status": 200}
            ]}}
        ]
    });
    let path = dir.path().join("shop.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    let out = dir.path().join("out");
    let results = run(
        &path,
        "browser",
        &out,
        &["--iterations", "1", "--filmstrip"],
    );
    let kept = results["summary"]["sessions"]
        .as_array()
        .expect("kept sessions");
    assert_eq!(kept.len(), 1, "{results:#}");
    let k = &kept[0];
    assert_eq!(
        (k["mode"].as_str(), k["outcome"].as_str()),
        (Some("browser"), Some("failed"))
    );
    assert_eq!(k["failedStep"], 4);
    let har_path = out.join(k["har"].as_str().unwrap());
    let har: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&har_path).unwrap()).unwrap();
    assert_valid_har(&har);
    assert_eq!(har_requests(&har), server.logged("b1"));
    let login = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request"]["method"] == "POST")
        .expect("the login's POST");
    assert_eq!(login["request"]["postData"]["text"], "u=b1&pw=***");
    // A JPEG after each step ran (the cart's click ran; its request failed it after) and one
    // at the failure.
    let film: Vec<&str> = k["filmstrip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(film.len(), 6, "{film:?}");
    for (i, f) in film[..5].iter().enumerate() {
        assert!(f.ends_with(&format!("step-{:02}.jpg", i + 1)), "{film:?}");
    }
    assert!(film[5].ends_with("step-05-failed.jpg"), "{film:?}");
    for f in &film {
        let jpeg = std::fs::read(out.join(f)).unwrap();
        assert!(
            jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() < 200_000,
            "{f}"
        );
    }
    for (p, bytes) in files(&out.join("sessions")) {
        for secret in [PASSWORD, "hunter2-Secret%21", "SIDsecretCOOKIE77"] {
            assert!(!contains(&bytes, secret), "{secret} in {}", p.display());
        }
    }
    imports(&har_path, dir.path());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(k["har"].as_str().unwrap()) && html.contains(film[5]));
}
