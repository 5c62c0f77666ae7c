//! The dashboard's JSON endpoints (live numbers, snapshot tables and series), its controls
//! and the downloads of the current snapshot.

use crate::sync::Locked;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::metrics::{RunSummary, SampleKind};
use crate::report::{renderers, Format, ReportInput};

use super::{Shared, UiCommand, MAX_USERS};

type St = State<Arc<Shared>>;

/// The headline numbers, cheap enough for every second.
#[derive(Debug, Serialize)]
pub(super) struct Live {
    run: u32,
    /// "idle", "running", "stopping" or "finished".
    state: &'static str,
    elapsed_s: f64,
    total_s: Option<f64>,
    users: u64,
    target_users: Option<u32>,
    rps: f64,
    p95_ms: Option<f64>,
    requests: u64,
    errors: u64,
    title: String,
    modes: String,
    plan: String,
}

pub(super) async fn live(State(s): St) -> Json<Live> {
    let cur = s.current.locked();
    let Some(c) = cur.as_ref() else {
        return Json(Live {
            run: 0,
            state: "idle",
            elapsed_s: 0.0,
            total_s: None,
            users: 0,
            target_users: None,
            rps: 0.0,
            p95_ms: None,
            requests: 0,
            errors: 0,
            title: String::new(),
            modes: String::new(),
            plan: String::new(),
        });
    };
    let l = c.numbers.live();
    let (mut rps, mut p95_ms) = (l.rps, l.p95_ms);
    let (state, elapsed, requests, errors) = match &c.finished {
        Some(f) => {
            // Once finished, the whole run's rate and p95 replace the last second's.
            let t = f.total(None, None);
            rps = f.rps(None);
            p95_ms = t.quantile_ms(0.95);
            ("finished", f.duration.as_secs_f64(), t.count, t.failures)
        }
        None if c.control.is_stopping() => {
            ("stopping", l.elapsed.as_secs_f64(), l.requests, l.errors)
        }
        None => ("running", l.elapsed.as_secs_f64(), l.requests, l.errors),
    };
    Json(Live {
        run: c.number,
        state,
        elapsed_s: (elapsed * 10.0).round() / 10.0,
        total_s: c.total.map(|t| t.as_secs_f64()),
        users: if c.finished.is_some() { 0 } else { l.users },
        target_users: c.control.target_users(),
        rps,
        p95_ms,
        requests,
        errors,
        title: c.meta.flows.join(", "),
        modes: c.meta.modes_text(),
        plan: c.meta.plan.clone(),
    })
}

/// The current summary: the final one once finished, else a live snapshot.
fn summary(s: &Shared) -> Option<(RunSummary, crate::report::RunMeta)> {
    let cur = s.current.locked();
    let c = cur.as_ref()?;
    let summary = match &c.finished {
        Some(f) => f.clone(),
        None => c.numbers.snapshot(),
    };
    Some((summary, c.meta.clone()))
}

pub(super) async fn stats(State(s): St) -> Json<Value> {
    let Some((sum, _)) = summary(&s) else {
        return Json(
            json!({"series": [], "kinds": [], "entries": [], "counters": {}, "workers": []}),
        );
    };
    // A distributed run's workers (the coordinator's dashboard), each as it last reported.
    let workers = s
        .current
        .locked()
        .as_ref()
        .map(|c| c.numbers.workers())
        .unwrap_or_default();
    let series: Vec<Value> = sum
        .series
        .iter()
        .map(|p| {
            json!({
                "t": p.t_ms as f64 / 1000.0,
                "users": p.users,
                "rps": p.rps,
                "failures_per_s": p.failures_per_s(),
                "p50": p.p50_ms,
                "p95": p.p95_ms,
                "p99": p.p99_ms,
                "page_load_p95": p.page_load_p95_ms,
            })
        })
        .collect();
    let secs = sum.duration.as_secs_f64().max(1e-9);
    let mut kinds = Vec::new();
    for mode in sum.modes() {
        for kind in SampleKind::ALL {
            let t = sum.total(Some(mode), Some(kind));
            if t.count == 0 {
                continue;
            }
            let l = t.stats();
            kinds.push(json!({
                "mode": mode, "kind": kind, "count": t.count, "failures": t.failures,
                "rps": t.count as f64 / secs,
                "p50": l.p50_ms, "p95": l.p95_ms, "p99": l.p99_ms, "max": l.max_ms,
            }));
        }
    }
    let entries: Vec<Value> = sum
        .entries
        .iter()
        .map(|e| {
            json!({
                "mode": e.mode, "flow": e.flow, "step": e.step.map(|s| s + 1), "kind": e.kind,
                "name": e.name, "count": e.count, "failures": e.failures, "rps": e.rps,
                "p50": e.latency.p50_ms, "p95": e.latency.p95_ms, "p99": e.latency.p99_ms,
                "max": e.latency.max_ms,
            })
        })
        .collect();
    Json(json!({
        "duration_s": sum.duration.as_secs_f64(),
        "series": series,
        "kinds": kinds,
        "entries": entries,
        "counters": sum.counters,
        "workers": workers,
    }))
}

pub(super) async fn stop(State(s): St) -> impl IntoResponse {
    match s.current.locked().as_ref() {
        Some(c) if c.finished.is_none() => {
            c.control.stop();
            (StatusCode::OK, Json(json!({"ok": true})))
        }
        _ => (
            StatusCode::CONFLICT,
            Json(json!({"ok": false, "error": "no run is going"})),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct UsersBody {
    users: Option<u32>,
}

/// A user count above the cap, refused.
fn too_many(n: u32) -> Option<(StatusCode, Json<Value>)> {
    (n > MAX_USERS).then(|| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "error": format!("{n} users: at most {MAX_USERS} from the dashboard")})),
        )
    })
}

pub(super) async fn users(State(s): St, Json(body): Json<UsersBody>) -> impl IntoResponse {
    let Some(n) = body.users else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "error": "expected {\"users\": N}"})),
        );
    };
    if let Some(refused) = too_many(n) {
        return refused;
    }
    match s.current.locked().as_ref() {
        Some(c) if c.finished.is_none() => {
            if c.control.set_users(n) {
                (StatusCode::OK, Json(json!({"ok": true, "users": n})))
            } else {
                (
                    StatusCode::CONFLICT,
                    Json(json!({"ok": false, "error": "an arrival-rate plan has no user count"})),
                )
            }
        }
        _ => (
            StatusCode::CONFLICT,
            Json(json!({"ok": false, "error": "no run is going"})),
        ),
    }
}

pub(super) async fn start(State(s): St, body: axum::body::Bytes) -> impl IntoResponse {
    let running = s
        .current
        .locked()
        .as_ref()
        .is_some_and(|c| c.finished.is_none());
    if running {
        return (
            StatusCode::CONFLICT,
            Json(json!({"ok": false, "error": "a run is going: stop it first"})),
        );
    }
    // An empty object (or no count) keeps the plan's user count.
    let users = match serde_json::from_slice::<UsersBody>(&body) {
        Ok(b) => b.users,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"ok": false, "error": "expected {} or {\"users\": N}"})),
            )
        }
    };
    if let Some(refused) = users.and_then(too_many) {
        return refused;
    }
    match s.commands.send(UiCommand::Start { users }) {
        Ok(()) => (StatusCode::OK, Json(json!({"ok": true}))),
        Err(_) => (
            StatusCode::CONFLICT,
            Json(json!({"ok": false, "error": "this throng takes no new runs"})),
        ),
    }
}

pub(super) async fn download(State(s): St, Path(file): Path<String>) -> Response {
    let Some((summary, meta)) = summary(&s) else {
        return (StatusCode::NOT_FOUND, "no run yet").into_response();
    };
    let Some(exporter) = Format::FILES
        .into_iter()
        .flat_map(renderers)
        .find(|e| e.file_name() == file)
    else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let input = ReportInput {
        summary: &summary,
        meta: &meta,
        thresholds: &[],
    };
    match exporter.render(&input) {
        Ok(bytes) => {
            let mime = match file.rsplit('.').next() {
                Some("json") => "application/json",
                Some("csv") => "text/csv; charset=utf-8",
                _ => "text/html; charset=utf-8",
            };
            (
                [
                    (header::CONTENT_TYPE, mime.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

/// The shown run for Prometheus (the same families as `--metrics`).
pub(super) async fn metrics(State(s): St, headers: axum::http::HeaderMap) -> Response {
    let source = s.current.locked().as_ref().map(|c| {
        let mode = c.meta.modes.first().copied();
        c.numbers.source(mode.unwrap_or(crate::metrics::Mode::Http))
    });
    let families = crate::live::prometheus::families::gather(source.as_slice(), None);
    crate::live::prometheus::scrape_response(&families, &headers)
}
