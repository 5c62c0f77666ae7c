//! Checking a recorded flow the way a careful person would: the caller replays it once over
//! HTTP against the same site (the recorder does not run replays) and hands over what each flow
//! request got; this diffs those answers with the recording's, says which requests differ and
//! why (an uncorrelated value, a page-made id, a header the flow dropped, a cookie a script set),
//! and correlates what the diff reveals: a value that differed between recording and replay
//! and that later requests send becomes an extracted variable, a page-made id a generated one.

mod fix;
mod values;

use crate::build::Slot;
use crate::capture::{Capture, RawRequest};
use crate::correlate::{tokenish, whole_matches};
use crate::made::{first_sent, loose_shape, strict_shape};
use crate::secrets::{SecretValue, Seen};
pub use fix::Fix;
use std::collections::{BTreeMap, HashMap};
use throng_flow::{Flow, RequestKind};
use values::{apply, id_named, json_shape, placed_values, regex_rule, title, Answer};

/// What a recording (or an import) saw, kept in memory to verify the flow written from it.
#[derive(Clone, Default)]
pub struct Recording {
    pub(crate) cap: Capture,
    pub(crate) slots: Vec<Slot>,
    pub(crate) secrets: Vec<SecretValue>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Recording({} requests, {} secrets)",
            self.cap.requests.len(),
            self.secrets.len()
        )
    }
}

impl Recording {
    /// Nothing recorded but the secrets typed (a Recorder export): the replay is checked only.
    pub(crate) fn with_secrets(secrets: Vec<SecretValue>) -> Self {
        Recording {
            secrets,
            ..Default::default()
        }
    }

    pub(crate) fn of(built: crate::build::Built, cap: Capture) -> Self {
        Recording {
            cap,
            slots: built.slots,
            secrets: built.secrets,
        }
    }

    /// Whether the recording holds answers to compare a replay with (a Recorder export has none).
    pub fn has_answers(&self) -> bool {
        !self.cap.requests.is_empty()
    }

    /// The values of the flow's secret variables as they were typed or sent when recording
    /// (name -> value), for the verifying replay only: they are never written.
    pub fn secret_values(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for s in self.secrets.iter().filter(|s| s.seen != Seen::Draft) {
            out.entry(s.name.clone()).or_insert_with(|| s.value.clone());
        }
        out
    }
}

/// One flow request as the verifying replay sent it and what came back.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub step: usize,
    /// `network.requests[index]`; a document's redirect hops the client followed run to `last`.
    pub index: usize,
    pub last: usize,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Why no answer came.
    pub error: Option<String>,
}

/// A flow request whose replay differed from the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub step: usize,
    /// `METHOD URL` as the flow has it.
    pub request: String,
    /// What differed: `recorded 200, replay 403`, `page title ...`.
    pub difference: String,
    /// The recording got an answer and the replay an error status or none.
    pub failed: bool,
    /// Why, as far as the recording tells.
    pub why: Vec<String>,
    /// The answer differs only because the recording itself saved something there (a write
    /// to the same resource): the app's state moved on, the replay is right.
    pub saved_by_recording: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} {}: {}",
            self.step + 1,
            self.request,
            self.difference
        )?;
        if !self.why.is_empty() {
            write!(f, " ({})", self.why.join("; "))?;
        }
        Ok(())
    }
}

/// The diff of a verifying replay.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Flow requests compared (documents and API calls that got an answer).
    pub compared: usize,
    pub findings: Vec<Finding>,
    /// Changes the diff calls for (apply them with [`apply_fixes`]).
    pub fixes: Vec<Fix>,
}

/// Diffs what the replay got (`observed`) with what the recording got.
pub fn diagnose(rec: &Recording, flow: &Flow, observed: &[Observed]) -> Verdict {
    let raw_of: HashMap<(usize, usize), usize> = rec
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Slot::Request { step, index } => Some(((*step, *index), i)),
            _ => None,
        })
        .collect();
    let seen: BTreeMap<(usize, usize), &Observed> =
        observed.iter().map(|o| ((o.step, o.index), o)).collect();
    let mut verdict = Verdict::default();
    for (&(step, index), obs) in &seen {
        let Some(net) = flow.steps.get(step).and_then(|s| s.network.as_ref()) else {
            continue;
        };
        let Some(req) = net.requests.get(index) else {
            continue;
        };
        if !matches!(req.kind, RequestKind::Document | RequestKind::Ajax) {
            continue;
        }
        let recorded_status = net.requests.get(obs.last).and_then(|r| r.status);
        let raw = raw_of.get(&(step, obs.last)).map(|&i| &rec.cap.requests[i]);
        let replayed = Answer {
            mime: header(&obs.headers, "content-type").unwrap_or(""),
            headers: &obs.headers,
            body: &obs.body,
        };
        if obs.error.is_none() {
            verdict.compared += 1;
        }
        if let Some(raw) = raw {
            verdict
                .fixes
                .extend(differing_values(rec, flow, (step, index), raw, &replayed));
        }
        let Some(difference) = difference(recorded_status, obs, raw, &replayed) else {
            continue;
        };
        let failed = recorded_status.is_none_or(|s| s < 400) && obs.status.is_none_or(|s| s >= 400);
        let sent = raw_of
            .get(&(step, index))
            .map(|&i| (i, &rec.cap.requests[i]));
        let (mut why, fixes) = explain(rec, flow, (step, index), sent, &seen);
        verdict.fixes.extend(fixes);
        let write = sent
            .filter(|_| !failed)
            .and_then(|(_, r)| written_by_recording(rec, r));
        if let Some(w) = &write {
            why.push(format!(
                "the recording's own {} {} saved what it answers now: the app's state moved on",
                w.method,
                without_query(&w.url)
            ));
        }
        verdict.findings.push(Finding {
            step,
            request: format!("{} {}", req.method, req.url),
            difference,
            failed,
            why,
            saved_by_recording: write.is_some(),
        });
    }
    verdict.fixes.dedup();
    verdict
}

/// Applies `fixes` to a copy of `flow`; the new flow (when it changed) and one line per change.
pub fn apply_fixes(flow: &Flow, fixes: &[Fix]) -> (Option<Flow>, Vec<String>) {
    let mut fixed = flow.clone();
    let mut done = Vec::new();
    for f in fixes {
        done.extend(fix::apply(&mut fixed, f));
    }
    if done.is_empty() || throng_flow::to_checked_json(&fixed, &fixed.title).is_err() {
        return (None, Vec::new());
    }
    (Some(fixed), done)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How the replay's answer differs from the recording's: status, page title, JSON fields.
fn difference(
    recorded: Option<u16>,
    obs: &Observed,
    raw: Option<&RawRequest>,
    replayed: &Answer<'_>,
) -> Option<String> {
    let Some(status) = obs.status else {
        let why = obs.error.as_deref().unwrap_or("no answer");
        return Some(format!("no answer at replay ({why})"));
    };
    if let Some(r) = recorded.filter(|r| *r != status) {
        return Some(format!("recorded {r}, replay {status}"));
    }
    let recorded = raw.and_then(Answer::recorded)?;
    if let (Some(a), Some(b)) = (title(&recorded), title(replayed)) {
        if a != b {
            return Some(format!("page title {a:?} at recording, {b:?} at replay"));
        }
    }
    let (a, b) = (json_shape(&recorded)?, json_shape(replayed)?);
    let missing: Vec<&String> = a.difference(&b).take(3).collect();
    let new: Vec<&String> = b.difference(&a).take(3).collect();
    if missing.is_empty() && new.is_empty() {
        return None;
    }
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    Some(match (missing.is_empty(), new.is_empty()) {
        (false, true) => format!("answer lacks {}", list(&missing)),
        (true, false) => format!("answer has new {}", list(&new)),
        _ => format!("answer lacks {}, has new {}", list(&missing), list(&new)),
    })
}

/// Values an answer holds at one place that differ between recording and replay, and that
/// later requests send as recorded: they must be extracted.
fn differing_values(
    rec: &Recording,
    flow: &Flow,
    (step, index): (usize, usize),
    raw: &RawRequest,
    replayed: &Answer<'_>,
) -> Vec<Fix> {
    let Some(recorded) = Answer::recorded(raw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in placed_values(&recorded) {
        let worth = tokenish(&p.value) || p.value.len() >= 6 || id_named(&p.key);
        if !worth || matches!(p.value.as_str(), "true" | "false" | "null") || p.value.is_empty() {
            continue;
        }
        let Some(now) = apply(&p.rule, replayed) else {
            continue;
        };
        if now == p.value || rec.secrets.iter().any(|s| s.value == p.value) {
            continue;
        }
        if sent_later(flow, (step, index), &p.value) {
            out.push(Fix::Extract {
                step,
                index,
                rule: p.rule,
                hint: p.key,
                value: p.value,
            });
        }
    }
    out
}

/// Whether a flow request after `(step, index)` sends `value` as a whole value, literally.
fn sent_later(flow: &Flow, (step, index): (usize, usize), value: &str) -> bool {
    let mut found = false;
    flow.for_each_value(|site, text| {
        let later = site.step > step
            || (site.step == step
                && match site.place {
                    throng_flow::Place::RequestUrl { index: i }
                    | throng_flow::Place::RequestBody { index: i }
                    | throng_flow::Place::RequestHeader { index: i, .. } => i > index,
                    _ => false,
                });
        if later && !found && site.place != throng_flow::Place::TypedValue {
            let skip = text.find("://").map_or(0, |i| {
                i + 3 + text[i + 3..].find('/').unwrap_or(text.len() - i - 3)
            });
            found = crate::correlate::encoded_forms(value)
                .iter()
                .any(|f| !whole_matches(text, f, skip).is_empty());
        }
    });
    found
}

/// Why a request's answer differed, from what it sent and what the recording knows.
fn explain(
    rec: &Recording,
    flow: &Flow,
    (step, index): (usize, usize),
    sent: Option<(usize, &RawRequest)>,
    seen: &BTreeMap<(usize, usize), &Observed>,
) -> (Vec<String>, Vec<Fix>) {
    let mut why = Vec::new();
    let mut fixes = Vec::new();
    let req = &flow.steps[step]
        .network
        .as_ref()
        .expect("observed request")
        .requests[index];
    let mut text = req.url.clone();
    text.extend(req.body.iter().map(|b| format!("\n{b}")));
    text.extend(req.headers.values().map(|v| format!("\n{v}")));
    let mut literal = throng_flow::substitute(&text, |_| Some(" "));
    // A multipart body's boundary is the client's choice: any value works, none is an id.
    if let Some(b) = req.headers.iter().find_map(|(k, v)| {
        k.eq_ignore_ascii_case("content-type")
            .then(|| multipart_boundary(v))
            .flatten()
    }) {
        literal = literal.replace(b, " ");
    }
    let started = sent.map_or(f64::MAX, |(_, r)| r.start_ms);
    for value in literal_values(&literal) {
        // Handed out before the page first sent it (an echo of a page-made id is no source).
        let before = started.min(first_sent(&rec.cap, value));
        let source = rec
            .cap
            .requests
            .iter()
            .enumerate()
            .find(|(_, r)| r.end_ms.unwrap_or(r.start_ms) <= before && handed_out(r, value));
        match source {
            Some((i, r)) => {
                why.push(format!(
                    "an uncorrelated value {} (handed out by {} {})",
                    short(value),
                    r.method,
                    r.url
                ));
                fixes.extend(extract_from(rec, i, r, value, seen));
            }
            None if strict_shape(value, 0.0, f64::MAX) || loose_shape(value) => {
                why.push(format!(
                    "a page-made id {} replayed as recorded",
                    short(value)
                ));
                fixes.push(Fix::Generate {
                    value: value.to_string(),
                    hint: "id".into(),
                });
            }
            None => {}
        }
    }
    if let Some((_, raw)) = sent {
        for name in ["origin", "referer"] {
            let kept = req.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
            if let (Some(v), false) = (header(&raw.headers, name), kept) {
                why.push(format!("a missing header ({name}: {v})"));
                fixes.push(Fix::Header {
                    step,
                    index,
                    name: name.into(),
                    value: v.to_string(),
                });
            }
        }
        for cookie in script_cookies(rec, raw) {
            why.push(format!(
                "a cookie the page's script set ({cookie}), which HTTP mode does not send"
            ));
        }
    }
    (why, fixes)
}

/// A request of the recording that changed the resource `read` reads (a write to the same
/// URL, query aside): a later answer to `read` may hold what it saved.
fn written_by_recording<'a>(rec: &'a Recording, read: &RawRequest) -> Option<&'a RawRequest> {
    let path = without_query(&read.url);
    rec.cap.requests.iter().find(|r| {
        !matches!(r.method.as_str(), "GET" | "HEAD" | "OPTIONS")
            && r.status.is_some_and(|s| s < 400)
            && without_query(&r.url) == path
    })
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The boundary of a `multipart/*` content type (`boundary=...`, quoted or not).
fn multipart_boundary(content_type: &str) -> Option<&str> {
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return None;
    }
    let at = content_type.to_ascii_lowercase().find("boundary=")? + "boundary=".len();
    let b = content_type[at..]
        .split(';')
        .next()?
        .trim()
        .trim_matches('"');
    (!b.is_empty()).then_some(b)
}

/// Tokens of a request's literal text worth explaining: long, generated-looking.
fn literal_values(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')))
        .filter(|t| tokenish(t) || strict_shape(t, 0.0, f64::MAX))
        .collect();
    out.dedup();
    out.truncate(8);
    out
}

/// Whether an answer handed `value` out (body, headers, a cookie).
fn handed_out(r: &RawRequest, value: &str) -> bool {
    r.response_body
        .as_deref()
        .is_some_and(|b| b.contains(value))
        || r.response_headers.iter().any(|(_, v)| v.contains(value))
}

/// An extraction of `value` from raw request `i`'s answer, if that request is in the flow and
/// its replay answer holds another value at the same place.
fn extract_from(
    rec: &Recording,
    i: usize,
    r: &RawRequest,
    value: &str,
    seen: &BTreeMap<(usize, usize), &Observed>,
) -> Option<Fix> {
    let Slot::Request { step, index } = rec.slots.get(i).copied()? else {
        return None;
    };
    let recorded = Answer::recorded(r)?;
    let placed = placed_values(&recorded)
        .into_iter()
        .find(|p| p.value == value);
    let (rule, hint) = match placed {
        Some(p) => (p.rule, p.key),
        None => (regex_rule(recorded.body, value)?, "value".to_string()),
    };
    let obs = seen.get(&(step, index))?;
    let replayed = Answer {
        mime: header(&obs.headers, "content-type").unwrap_or(""),
        headers: &obs.headers,
        body: &obs.body,
    };
    let now = apply(&rule, &replayed)?;
    (now != value).then(|| Fix::Extract {
        step,
        index,
        rule,
        hint,
        value: value.to_string(),
    })
}

/// Cookies the browser sent with `raw` that no answer of the recording set (a script did).
fn script_cookies(rec: &Recording, raw: &RawRequest) -> Vec<String> {
    let Some(cookies) = header(&raw.headers, "cookie") else {
        return Vec::new();
    };
    let set: Vec<String> = rec
        .cap
        .requests
        .iter()
        .flat_map(|r| r.response_headers.iter())
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .flat_map(|(_, v)| {
            v.lines()
                .map(|l| l.split('=').next().unwrap_or("").trim().to_string())
        })
        .collect();
    cookies
        .split(';')
        .filter_map(|c| c.split('=').next().map(str::trim))
        .filter(|n| !n.is_empty() && !set.iter().any(|s| s == n))
        .map(String::from)
        .take(3)
        .collect()
}

/// A value shown in a finding: cut to 24 characters.
fn short(v: &str) -> String {
    if v.chars().count() <= 24 {
        format!("`{v}`")
    } else {
        format!("`{}…`", v.chars().take(24).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
