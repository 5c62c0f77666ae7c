//! A small site for recorder tests, with its own state to check what each virtual user did:
//! a queue page that makes up its session id in JavaScript (Gradio-like: join with a session
//! hash, fetch the job's result), a page whose API answers 401 before login and polls a status,
//! and a sign-up page with a password strength meter, a show-password toggle and a password
//! sent base64-encoded.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// What the site saw, per session id and per visitor.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Queue jobs: id -> (session hash, input, delivered).
    pub jobs: BTreeMap<u64, (String, String, bool)>,
    /// Joins refused because the session already had a job waiting.
    pub busy: u64,
    /// Result fetches that found no job of that session.
    pub not_found: u64,
    /// Poll page, per visitor cookie: (GET /api/me 401s, 200s, logins, acts, status polls).
    pub visitors: BTreeMap<String, Visitor>,
    /// Sign-ups: user -> password (decoded from base64).
    pub signups: BTreeMap<String, String>,
    /// Strength checks received.
    pub strength: u64,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Visitor {
    pub me_401: u64,
    pub me_200: u64,
    pub logins: u64,
    pub logged_in: bool,
    pub acts: Vec<String>,
    pub polls: u64,
}

pub const POLL_PASSWORD: &str = "Poll-pass 1";

type Shared = Arc<Mutex<Seen>>;

/// The running site.
pub struct Site {
    pub base: String,
    seen: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub async fn start() -> Site {
        let seen: Shared = Arc::default();
        let app = Router::new()
            .route("/queue", get(|| async { Html(QUEUE) }))
            .route("/api/join", post(join))
            .route("/api/result/{id}", get(result))
            .route("/poll", get(poll_page))
            .route("/api/me", get(me))
            .route("/api/login", post(login))
            .route("/api/act", post(act))
            .route("/api/status", post(status))
            .route("/signup", get(|| async { Html(SIGNUP) }))
            .route("/strength", get(strength))
            .route("/api/signup", post(signup))
            .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Site { base, seen, task }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        *self.seen.lock().unwrap() = Seen::default();
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn join(State(s): State<Shared>, Json(v): Json<Value>) -> Response {
    let hash = v["session_hash"].as_str().unwrap_or_default().to_string();
    let data = v["data"].as_str().unwrap_or_default().to_string();
    let mut s = s.lock().unwrap();
    // One job at a time per session, as a queue's session slot is.
    if hash.is_empty() || s.jobs.values().any(|(h, _, done)| *h == hash && !done) {
        s.busy += 1;
        return (StatusCode::CONFLICT, Json(json!({"error": "busy"}))).into_response();
    }
    let id = s.jobs.len() as u64 + 1;
    s.jobs.insert(id, (hash, data, false));
    Json(json!({"job_id": id})).into_response()
}

async fn result(
    State(s): State<Shared>,
    Path(id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let hash = q.get("session_hash").cloned().unwrap_or_default();
    let mut s = s.lock().unwrap();
    match s.jobs.get_mut(&id) {
        Some((h, data, done)) if *h == hash && !*done => {
            *done = true;
            Json(json!({"result": format!("{} #{id}", data.to_uppercase())})).into_response()
        }
        _ => {
            s.not_found += 1;
            (StatusCode::NOT_FOUND, Json(json!({"error": "no such job"}))).into_response()
        }
    }
}

fn visitor(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("visitor="))
        .map(String::from)
}

async fn poll_page(State(s): State<Shared>) -> Response {
    let mut s = s.lock().unwrap();
    let id = format!("v{}", s.visitors.len() + 1);
    s.visitors.insert(id.clone(), Visitor::default());
    (
        [(header::SET_COOKIE, format!("visitor={id}; Path=/"))],
        Html(POLL),
    )
        .into_response()
}

fn with_visitor<R>(
    s: &Shared,
    headers: &HeaderMap,
    f: impl FnOnce(&mut Visitor) -> R,
) -> Option<R> {
    let id = visitor(headers)?;
    let mut s = s.lock().unwrap();
    s.visitors.get_mut(&id).map(f)
}

async fn me(State(s): State<Shared>, headers: HeaderMap) -> StatusCode {
    with_visitor(&s, &headers, |v| {
        if v.logged_in {
            v.me_200 += 1;
            StatusCode::OK
        } else {
            v.me_401 += 1;
            StatusCode::UNAUTHORIZED
        }
    })
    .unwrap_or(StatusCode::UNAUTHORIZED)
}

async fn login(State(s): State<Shared>, headers: HeaderMap, Json(v): Json<Value>) -> StatusCode {
    let ok = v["password"] == POLL_PASSWORD;
    with_visitor(&s, &headers, |vis| {
        if ok {
            vis.logins += 1;
            vis.logged_in = true;
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        }
    })
    .unwrap_or(StatusCode::FORBIDDEN)
}

async fn act(State(s): State<Shared>, headers: HeaderMap, Json(v): Json<Value>) -> StatusCode {
    let op = v["op"].as_str().unwrap_or("?").to_string();
    with_visitor(&s, &headers, |vis| {
        if vis.logged_in {
            vis.acts.push(op);
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        }
    })
    .unwrap_or(StatusCode::UNAUTHORIZED)
}

async fn status(State(s): State<Shared>, headers: HeaderMap) -> Json<Value> {
    with_visitor(&s, &headers, |v| v.polls += 1);
    Json(json!({"ok": true}))
}

async fn strength(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    s.lock().unwrap().strength += 1;
    let n = q.get("p").map_or(0, |p| p.chars().count());
    Json(json!({"score": n.min(10)}))
}

async fn signup(State(s): State<Shared>, Json(v): Json<Value>) -> StatusCode {
    use base64::Engine as _;
    let user = v["user"].as_str().unwrap_or_default().to_string();
    let secret = v["pw_b64"].as_str().unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(secret) else {
        return StatusCode::BAD_REQUEST;
    };
    let password = String::from_utf8_lossy(&bytes).into_owned();
    s.lock().unwrap().signups.insert(user, password);
    StatusCode::CREATED
}

const QUEUE: &str = r#"<!doctype html><html><head><title>Queue</title></head><body>
<input data-testid="prompt" id="prompt" name="prompt">
<button data-testid="run" id="run">Run</button>
<pre data-testid="out" id="out"></pre>
<script>
// The page makes its session id up itself, as Gradio's client does.
const session_hash = Math.random().toString(36).slice(2);
document.getElementById('run').addEventListener('click', async () => {
  const data = document.getElementById('prompt').value;
  const j = await (await fetch('/api/join', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({session_hash: session_hash, data: data})})).json();
  const r = await (await fetch('/api/result/' + j.job_id + '?session_hash=' + session_hash)).json();
  document.getElementById('out').textContent = r.result;
  document.body.setAttribute('data-done', '1');
});
</script></body></html>"#;

const POLL: &str = r#"<!doctype html><html><head><title>Poll</title></head><body>
<input data-testid="user" name="user"><input data-testid="pw" name="password" type="password">
<button data-testid="login" type="button">Log in</button>
<button data-testid="preview" type="button">Preview</button>
<button data-testid="save" type="button">Save</button>
<div id="me"></div>
<script>
const json = {'content-type': 'application/json'};
async function me() { const r = await fetch('/api/me'); document.getElementById('me').textContent = r.status; return r.status; }
me();
setInterval(() => fetch('/api/status', {method: 'POST', headers: json, body: JSON.stringify({t: Date.now()})}), 500);
const q = (t) => document.querySelector('[data-testid=' + t + ']');
q('login').addEventListener('click', async () => {
  await fetch('/api/login', {method: 'POST', headers: json,
    body: JSON.stringify({user: q('user').value, password: q('pw').value})});
  if (await me() === 200) { document.body.setAttribute('data-in', '1'); }
});
q('preview').addEventListener('click', () => fetch('/api/act', {method: 'POST', headers: json, body: JSON.stringify({op: 'preview', text: 'draft'})}));
q('save').addEventListener('click', () => fetch('/api/act', {method: 'POST', headers: json, body: JSON.stringify({op: 'save'})}));
</script></body></html>"#;

const SIGNUP: &str = r#"<!doctype html><html><head><title>Sign up</title></head><body>
<input data-testid="user" name="user">
<input data-testid="pw" id="pw" name="password" type="password">
<button data-testid="show" id="show" type="button">Show</button>
<span id="meter"></span>
<button data-testid="signup" id="signup" type="button">Sign up</button>
<script>
const pw = document.getElementById('pw');
pw.addEventListener('input', async () => {
  const r = await fetch('/strength?p=' + encodeURIComponent(pw.value));
  document.getElementById('meter').textContent = (await r.json()).score;
});
document.getElementById('show').addEventListener('click', () => { pw.type = pw.type === 'password' ? 'text' : 'password'; });
document.getElementById('signup').addEventListener('click', async () => {
  const r = await fetch('/api/signup', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({user: document.querySelector('[data-testid=user]').value, pw_b64: btoa(pw.value)})});
  document.body.setAttribute('data-done', String(r.status));
});
</script></body></html>"#;

/// Replays `flow` once per user in HTTP mode against `base`: `users` at once, think times as
/// recorded times `think_scale`, `vars` as `--var`s.
pub async fn replay_http(
    base: &str,
    flow: &std::path::Path,
    users: u32,
    vars: &[(&str, &str)],
    think_scale: f64,
) -> throng::metrics::RunSummary {
    use std::time::Duration;
    use throng::plan::{Arrival, LoadPlan, Stages, ThinkPolicy};
    let target = url::Url::parse(base).unwrap();
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let flow =
        throng::cli::config::prepare_flow(flow, Some(&target), &vars).expect("flow prepares");
    let spec = throng::run::RunSpec::single(
        flow,
        LoadPlan {
            browsers: None,
            arrival: Arrival::Users(
                Stages::ramp_and_hold(users, Duration::ZERO, Duration::from_secs(60)).unwrap(),
            ),
            iterations: Some(1),
            think: ThinkPolicy::Recorded {
                scale: think_scale,
                jitter: 0.0,
            },
            dwell: Some(Duration::ZERO),
            grace: Duration::ZERO,
            drain: throng::plan::DEFAULT_DRAIN,
        },
        throng::metrics::Mode::Http,
    );
    throng::run::execute(
        spec,
        throng::metrics::Sink::new(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("replay runs")
}
