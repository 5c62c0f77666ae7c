//! Turns a raw capture into a flow: steps in order with think times, each step's requests and
//! pollers, navigations the steps caused, then correlation and secret scrubbing.

use crate::capture::{origin_of, Capture, RawStep, SecretField};
use crate::held::{is_event_source, is_stream, Placer};
use crate::network::{cdp_resource_type, detect_polling, kept_headers, kind_of};
use crate::secrets::{SecretStep, SecretValue};
use crate::{correlate, made, secrets};
use std::collections::HashMap;
use throng_flow::{
    Action, AssertedEvent, Flow, Network, Poller, RecordedRequest, RequestKind, Step, FORMAT_V1,
};

/// Where a raw request ended up in the flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// Not replayed (preflight, websocket, data: URL).
    Dropped,
    /// `steps[step].network.requests[index]`
    Request { step: usize, index: usize },
    /// `steps[step].network.polling[index]`
    Poller { step: usize, index: usize },
    /// `steps[step].network.eventSources[index]`
    EventSource { step: usize, index: usize },
    /// `steps[step].network.streams[index]`
    Stream { step: usize, index: usize },
    /// `steps[step].network.webSockets[index]`: its URL, or its `message`-th sent message.
    WebSocket {
        step: usize,
        index: usize,
        message: Option<usize>,
    },
}

/// Requests may be stamped a little before the step that caused them (two clocks: the page's and
/// the network stack's); this much slack keeps them with their step.
const CLOCK_SLACK_MS: f64 = 3.0;

/// A shorter pause after the last step is the time it took to close the window, not reading.
const MIN_DWELL_MS: f64 = 500.0;

/// A step's network quiet this long has settled (Puppeteer's `networkidle0` window): a request
/// starting later is background, not part of what the step waited for.
const QUIET_MS: f64 = 500.0;

/// A built flow with what the recorder decided on the user's behalf.
#[derive(Debug, Clone)]
pub struct Built {
    pub flow: Flow,
    /// The values that became `${variables}` (printed by `record` and `import`).
    pub correlations: Vec<correlate::Correlation>,
    /// The ids the page made up itself, now generated per session (printed too).
    pub made: Vec<made::PageMade>,
    /// Why the correlations were dropped: the correlated flow did not pass throng's loader.
    pub dropped: Option<String>,
    /// The secrets hidden, with their values (in memory only: a verifying replay needs them).
    pub secrets: Vec<SecretValue>,
    /// Where each captured request went in the flow.
    pub slots: Vec<Slot>,
}

/// Builds the flow from everything captured.
pub fn build(cap: &Capture) -> Flow {
    build_report(cap).flow
}

/// Builds the flow and says which correlations it made; a flow that would not load with them is
/// written without them (and `dropped` says why).
pub fn build_report(cap: &Capture) -> Built {
    let raw_steps = ordered_steps(&cap.steps);
    let times: Vec<f64> = raw_steps.iter().map(|s| s.t_ms).collect();
    // A key release causes nothing its press did not: requests stay with the key down.
    let owns: Vec<bool> = raw_steps
        .iter()
        .map(|s| !matches!(s.action, Action::KeyUp { .. }))
        .collect();
    let step_of = |t: f64| -> usize {
        (0..times.len())
            .rev()
            .find(|&i| owns[i] && times[i] <= t + CLOCK_SLACK_MS)
            .unwrap_or(0)
    };
    let mut steps: Vec<Step> = raw_steps
        .iter()
        .map(|s| {
            let mut step = Step::new(s.action.clone());
            if !s.frame.is_empty() {
                step.frame = Some(s.frame.clone());
            }
            step
        })
        .collect();

    let reqs = &cap.requests;
    let kinds: Vec<Option<RequestKind>> = reqs
        .iter()
        .map(|r| kind_of(r.resource_type.as_deref(), r.mime.as_deref(), &r.url))
        .collect();
    let polling = detect_polling(reqs, &kinds);
    let mut order: Vec<usize> = (0..reqs.len()).collect();
    order.sort_by(|&a, &b| reqs[a].start_ms.total_cmp(&reqs[b].start_ms));

    // The step that created each document owns the document's pollers.
    let mut doc_step: HashMap<&str, usize> = HashMap::new();
    for &i in &order {
        let r = &reqs[i];
        if let (Some(doc), Some(RequestKind::Document)) = (r.doc.as_deref(), kinds[i]) {
            doc_step.entry(doc).or_insert_with(|| step_of(r.start_ms));
        }
    }

    let mut placer = Placer::new(&step_of, &times, &doc_step);
    let mut slots = vec![Slot::Dropped; reqs.len()];
    let mut activity_end = vec![f64::MIN; steps.len()];
    let mut poller_at: HashMap<(usize, String), usize> = HashMap::new();
    for &i in &order {
        let r = &reqs[i];
        let Some(kind) = kinds[i] else { continue };
        if steps.is_empty() {
            break;
        }
        let step = step_of(r.start_ms);
        let owner = r
            .doc
            .as_deref()
            .and_then(|d| doc_step.get(d).copied())
            .unwrap_or(step);
        // Held open while its page is: a stream of the page, not a request that never ended.
        if is_event_source(r) {
            slots[i] = placer.event_source(&mut steps, r);
            continue;
        }
        if is_stream(r, Some(kind)) {
            slots[i] = placer.stream(&mut steps, r);
            continue;
        }
        let external = origin_of(&r.url).as_deref() != Some(cap.origin.as_str());
        if let Some(found) = polling.get(&i) {
            let net = steps[owner].network.get_or_insert_with(Network::default);
            let at = (owner, found.key.clone());
            let index = *poller_at.entry(at).or_insert_with(|| {
                net.polling.push(Poller {
                    method: r.method.clone(),
                    url: r.url.clone(),
                    period_ms: found.period_ms,
                    headers: kept_headers(&r.headers, RequestKind::Polling),
                    body: r.body.clone(),
                    status: found.status,
                });
                net.polling.len() - 1
            });
            slots[i] = Slot::Poller { step: owner, index };
            continue;
        }
        if let Some(end) = r.end_ms {
            // What the step waited for: its first request and every one that started before
            // its network had been quiet for QUIET_MS. A later one (a timer's poll, a beacon)
            // is the page's background, not a reason to shorten the pause that follows.
            let first = activity_end[step] == f64::MIN;
            if first || r.start_ms <= activity_end[step] + QUIET_MS {
                activity_end[step] = activity_end[step].max(end);
            }
        }
        let net = steps[step].network.get_or_insert_with(Network::default);
        net.requests.push(RecordedRequest {
            id: None,
            kind,
            resource_type: r.resource_type.as_deref().map(cdp_resource_type),
            method: r.method.clone(),
            url: r.url.clone(),
            headers: kept_headers(&r.headers, kind),
            body: r.body.clone(),
            status: r.status,
            initiator: r.initiator.clone(),
            external,
            // What never answered when recorded (cancelled, a network error) may not at replay.
            optional: r.failed && r.status.is_none(),
        });
        slots[i] = Slot::Request {
            step,
            index: net.requests.len() - 1,
        };
        // A navigation a click or key caused: the step must wait for it at replay.
        if r.main_document && r.page_initiated && steps[step].action.is_user_action() {
            steps[step].asserted_events = vec![AssertedEvent::navigation(
                Some(r.final_url.clone()).filter(|u| !u.is_empty()),
            )];
        }
    }

    let socket_uses = if steps.is_empty() {
        Vec::new()
    } else {
        placer.web_sockets(cap, &mut steps)
    };

    // Think time: the pause between the end of the previous step's activity and this step.
    for i in 0..steps.len() {
        let think = if i == 0 {
            0.0
        } else {
            let prev_end = if activity_end[i - 1] <= times[i] {
                activity_end[i - 1]
            } else {
                f64::MIN
            };
            times[i] - times[i - 1].max(prev_end)
        };
        steps[i].think_time_ms = Some(think.max(0.0).round() as u64);
    }

    // The tab left open after the last step (its pollers running) is part of the flow.
    let dwell_ms = match (cap.end_ms, times.last(), activity_end.last()) {
        (Some(end), Some(&t), Some(&a)) => {
            let idle = end - t.max(a);
            (idle >= MIN_DWELL_MS).then(|| idle.round() as u64)
        }
        _ => None,
    };
    let mut flow = Flow {
        format: Some(FORMAT_V1.to_string()),
        title: cap.title.clone(),
        origin: Some(cap.origin.clone()).filter(|o| !o.is_empty()),
        selector_attribute: cap.selector_attribute.clone(),
        timeout: None,
        variables: Vec::new(),
        steps,
        dwell_ms,
        capped: Some(cap.capped.clone()).filter(|c| !c.is_empty()),
        tracestate: None,
    };
    let secret_of = ever_secret(&raw_steps);
    let typed: Vec<&str> = raw_steps
        .iter()
        .zip(&secret_of)
        .filter(|(_, secret)| secret.is_none())
        .filter_map(|(s, _)| match &s.action {
            Action::Change { value, .. } => Some(value.as_str()),
            _ => None,
        })
        .collect();
    let secret_steps: Vec<SecretStep<'_>> = raw_steps
        .iter()
        .zip(&secret_of)
        .enumerate()
        .filter_map(|(i, (s, secret))| match (&s.action, secret) {
            (Action::Change { value, .. }, Some(field)) => Some((i, *field, value.as_str())),
            _ => None,
        })
        .collect();
    let hide = |flow: &mut Flow| {
        let mut hidden = secrets::scrub(&secret_steps, &cap.drafts, &typed, flow);
        hidden.extend(secrets::hide_credential_headers(flow));
        hidden
    };
    let mut plain = flow.clone();
    let plain_secrets = hide(&mut plain);
    let plain = |dropped: Option<String>| Built {
        flow: plain.clone(),
        correlations: Vec::new(),
        made: Vec::new(),
        dropped,
        secrets: plain_secrets.clone(),
        slots: slots.clone(),
    };
    if cap.no_correlate {
        return plain(None);
    }
    let correlations = correlate::correlate(reqs, &kinds, &slots, &socket_uses, &typed, &mut flow);
    let hidden = hide(&mut flow);
    let made = made::generate_page_made(cap, &typed, &mut flow);
    match throng_flow::to_checked_json(&flow, &cap.title) {
        Err(e) if !correlations.is_empty() || !made.is_empty() => plain(Some(e.to_string())),
        _ => Built {
            flow,
            correlations,
            made,
            dropped: None,
            secrets: hidden,
            slots,
        },
    }
}

/// The secret field of each step: its own, or that of a step on the same field (selectors)
/// that was a secret once (a "show password" toggle does not make a password public).
fn ever_secret<'a>(steps: &[&'a RawStep]) -> Vec<Option<&'a SecretField>> {
    let selectors = |s: &RawStep| match &s.action {
        Action::Change { selectors, .. } => Some(selectors.clone()),
        _ => None,
    };
    let known: Vec<(throng_flow::Selectors, &SecretField)> = steps
        .iter()
        .filter_map(|s| Some((selectors(s)?, s.secret.as_ref()?)))
        .collect();
    steps
        .iter()
        .map(|s| {
            s.secret.as_ref().or_else(|| {
                let mine = selectors(s)?;
                known.iter().find(|(k, _)| *k == mine).map(|(_, f)| *f)
            })
        })
        .collect()
}

/// Steps in time order (stable), with a double click replacing the two clicks before it.
fn ordered_steps(steps: &[RawStep]) -> Vec<&RawStep> {
    let mut v: Vec<&RawStep> = steps.iter().collect();
    v.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    let mut out: Vec<&RawStep> = Vec::with_capacity(v.len());
    for s in v {
        if let Action::DoubleClick(double) = &s.action {
            for _ in 0..2 {
                let drop = matches!(out.last(), Some(p) if matches!(&p.action,
                    Action::Click(click) if click.selectors == double.selectors) && s.t_ms - p.t_ms < 800.0);
                if drop {
                    out.pop();
                }
            }
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::RawRequest;

    fn req(url: &str, rt: &str, doc: &str, start: f64, end: f64) -> RawRequest {
        RawRequest {
            method: "GET".into(),
            url: url.into(),
            final_url: url.into(),
            resource_type: Some(rt.into()),
            doc: Some(doc.into()),
            start_ms: start,
            end_ms: Some(end),
            status: Some(200),
            ..Default::default()
        }
    }

    #[test]
    fn requests_go_to_their_step_and_think_time_counts_from_the_end_of_activity() {
        let nav = Action::navigate("http://h/");
        let key = |up: bool| {
            let key = "Enter".to_string();
            if up {
                Action::KeyUp { key }
            } else {
                Action::KeyDown { key }
            }
        };
        let mut doc2 = req("http://h/next", "Document", "d2", 5010.0, 5100.0);
        doc2.main_document = true;
        doc2.page_initiated = true;
        let cap = Capture {
            title: "t".into(),
            origin: "http://h".into(),
            steps: vec![
                RawStep::new(0.0, nav),
                RawStep::new(5000.0, key(false)),
                RawStep::new(5020.0, key(true)),
            ],
            requests: vec![
                req("http://h/", "Document", "d1", 1.0, 100.0),
                req("http://h/app.js", "Script", "d1", 120.0, 300.0),
                req("http://h/api/n", "Fetch", "d1", 1300.0, 1310.0),
                req("http://h/api/n", "Fetch", "d1", 3300.0, 3310.0),
                req("http://h/api/n", "Fetch", "d1", 5290.0, 5300.0),
                doc2,
                req("http://h/app.css", "Stylesheet", "d2", 5110.0, 5150.0),
                req("http://other/x.js", "Script", "d2", 5120.0, 5160.0),
            ],
            ..Default::default()
        };
        let flow = build(&cap);
        let net = |i: usize| flow.steps[i].network.clone().unwrap_or_default();
        assert_eq!(
            net(0).requests.len(),
            2,
            "document and script stay with navigate"
        );
        assert_eq!(net(0).polling.len(), 1);
        assert_eq!(net(0).polling[0].period_ms, 2000);
        // The key release owns nothing: the new page's requests stay with the key press.
        let kd = net(1);
        assert_eq!(kd.requests.len(), 3);
        assert_eq!(kd.requests[0].kind, RequestKind::Document);
        assert!(kd.requests[2].external);
        assert_eq!(
            flow.steps[1].asserted_events[0].url.as_deref(),
            Some("http://h/next")
        );
        assert!(flow.steps[2].network.is_none());
        // The pause before the key press counts from when the home page finished loading.
        assert_eq!(flow.steps[1].think_time_ms, Some(4700));
    }

    #[test]
    fn a_request_after_the_page_settled_does_not_shorten_the_next_pause() {
        let cap = Capture {
            title: "t".into(),
            origin: "http://h".into(),
            steps: vec![
                RawStep::new(0.0, Action::navigate("http://h/")),
                RawStep::new(3000.0, Action::navigate("http://h/b")),
            ],
            requests: vec![
                req("http://h/", "Document", "d1", 1.0, 100.0),
                // Started while the page still loaded: part of the step.
                req("http://h/app.js", "Script", "d1", 400.0, 500.0),
                // A one-off timer's fetch 2.4 s after the page settled, just before the next step.
                req("http://h/api/poll", "Fetch", "d1", 2900.0, 2990.0),
                req("http://h/b", "Document", "d2", 3001.0, 3100.0),
            ],
            ..Default::default()
        };
        let flow = build(&cap);
        assert_eq!(flow.steps[1].think_time_ms, Some(2500));
        assert_eq!(flow.steps[0].network.as_ref().unwrap().requests.len(), 3);
    }

    #[test]
    fn live_connections_go_to_the_action_that_opened_them_with_values_correlated() {
        use crate::capture::RawWebSocket;
        let click = Action::Click(throng_flow::Pointer {
            selectors: throng_flow::Selectors(vec![vec!["#login".into()]]),
            offset_x: 1.0,
            offset_y: 1.0,
            button: None,
            device_type: None,
            duration: None,
        });
        let mut login = req("http://h/api/token", "Fetch", "d1", 5010.0, 5030.0);
        login.method = "POST".into();
        login.mime = Some("application/json".into());
        login.response_body =
            Some(r#"{"token":"tok3n-9f8e7d6c5b4a","ticket":"t1ck3t99887766"}"#.into());
        let mut results = req("http://h/api/results", "Fetch", "d1", 5100.0, 0.0);
        results.method = "POST".into();
        results.end_ms = None;
        results.head_ms = Some(5110.0);
        results.mime = Some("text/event-stream".into());
        results.events = 3;
        results.body = Some(r#"{"q":"lamp"}"#.into());
        results.headers = vec![("Authorization".into(), "Bearer tok3n-9f8e7d6c5b4a".into())];
        let mut doc = req("http://h/", "Document", "d1", 1.0, 100.0);
        doc.main_document = true;
        let socket = |url: &str, start: f64, sent: Vec<(f64, String, bool)>| RawWebSocket {
            doc: Some("d1".into()),
            url: url.into(),
            start_ms: start,
            open_ms: Some(start + 5.0),
            sent,
            ..Default::default()
        };
        let cap = Capture {
            title: "t".into(),
            origin: "http://h".into(),
            steps: vec![
                RawStep::new(0.0, Action::navigate("http://h/")),
                RawStep::new(5000.0, click),
            ],
            requests: vec![doc, login, results],
            web_sockets: vec![
                socket("ws://h/ws/live", 300.0, vec![]),
                socket(
                    "ws://h/ws/feed?ticket=t1ck3t99887766",
                    5040.0,
                    vec![(
                        5050.0,
                        r#"{"type":"auth","token":"tok3n-9f8e7d6c5b4a"}"#.into(),
                        false,
                    )],
                ),
            ],
            ..Default::default()
        };
        let built = build_report(&cap);
        let flow = &built.flow;
        let net = |i: usize| flow.steps[i].network.clone().unwrap_or_default();
        // The page's own socket stays with the page load, 300 ms after it.
        assert_eq!(net(0).web_sockets.len(), 1);
        assert_eq!(net(0).web_sockets[0].after_ms, Some(300));
        // The one the login opened is the click's, with the login's values as variables.
        let ws = &net(1).web_sockets[0];
        assert_eq!(ws.after_ms, Some(40));
        assert_eq!(ws.url, "ws://h/ws/feed?ticket=${ticket}", "{flow:#?}");
        assert_eq!(ws.sent[0].data, r#"{"type":"auth","token":"${token}"}"#);
        assert_eq!(ws.sent[0].offset_ms, 5);
        // The event stream read through fetch is a stream of the click, not a request.
        let click = net(1);
        assert_eq!(click.requests.len(), 1, "{click:#?}");
        let stream = &click.streams[0];
        assert_eq!(stream.after_ms, Some(100));
        assert_eq!(stream.events, 3);
        assert_eq!(stream.method, "POST");
        assert_eq!(stream.headers["authorization"], "Bearer ${token}");
        assert!(built
            .correlations
            .iter()
            .any(|c| c.name == "token" && c.used.iter().any(|u| u.contains("WebSocket"))));
        throng_flow::to_checked_json(flow, "t.json").expect("the flow loads");
    }
}
