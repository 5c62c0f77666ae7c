//! Ids the page makes up itself (a session hash, a UUID, a nonce, a client timestamp): a value
//! that first appears in a request, never in an earlier response, script or typed text. Replayed
//! as a literal, every virtual user would share one server-side session; each becomes a
//! `generate` variable instead, made up anew per session in the recorded value's shape and the
//! same wherever it recurs (URLs, bodies, headers, WebSocket messages).
//!
//! Told by shape (UUIDs, hex, base36 or base62 with digits and letters well mixed, epoch times
//! near the recording, `Math.random()` decimals), or by varying where the page sends it: one
//! field of one request with two different values of a looser shape.

use crate::capture::{Capture, RawRequest};
use crate::correlate::{origin_len, replace_whole, unique_name, whole_matches};
use std::collections::{HashMap, HashSet};
use throng_flow::{Flow, Place, RequestKind, Variable};

/// One page-made id the flow now generates.
#[derive(Debug, Clone, PartialEq)]
pub struct PageMade {
    pub name: String,
    /// The value the recording saw (its shape is what replays make).
    pub like: String,
    /// Where it is used: `step N METHOD URL` (or the socket), first ones only.
    pub used: Vec<String>,
}

impl std::fmt::Display for PageMade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "${{{}}}: made up by the page (recorded as {}), generated per session, used in {}",
            self.name,
            self.like,
            self.used.join(", ")
        )
    }
}

/// Epoch times within this much of the recording are client timestamps.
const CLOCK_WINDOW_MS: f64 = 2.0 * 86_400_000.0;
/// Page-made ids looked at, at most (a flow sending thousands is no session id's flow).
const MAX_IDS: usize = 64;

/// Finds page-made ids in `flow`'s requests and makes them generated variables.
pub fn generate_page_made(cap: &Capture, typed: &[&str], flow: &mut Flow) -> Vec<PageMade> {
    let origin = flow.origin.clone().unwrap_or_default();
    let (lo, hi) = recording_span(cap);
    // Every literal token where the page sends values, with the field it was sent in.
    let mut seen: Vec<(String, Option<String>, String)> = Vec::new();
    let mut by_field: HashMap<(String, String), HashSet<String>> = HashMap::new();
    flow.for_each_value(|site, value| {
        let Some((skip, what)) = request_side(flow, site.step, site.place, value, &origin) else {
            return;
        };
        let literal = throng_flow::substitute(value, |_| Some(" "));
        let header = match site.place {
            Place::RequestHeader { name, .. }
            | Place::PollerHeader { name, .. }
            | Place::EventSourceHeader { name, .. } => Some(name.to_string()),
            _ => None,
        };
        for (at, token) in tokens(&literal, skip) {
            let field = field_before(&literal, at).or_else(|| header.clone());
            if let Some(f) = &field {
                by_field
                    .entry((what.clone(), f.clone()))
                    .or_default()
                    .insert(token.to_string());
            }
            if !seen.iter().any(|(t, _, _)| t == token) {
                seen.push((token.to_string(), field, what.clone()));
            }
        }
    });
    let varies = |what: &str, field: &Option<String>| {
        field.as_ref().is_some_and(|f| {
            by_field
                .get(&(what.to_string(), f.clone()))
                .is_some_and(|v| v.iter().filter(|t| loose_shape(t)).count() >= 2)
        })
    };
    let mut found: Vec<(String, Option<String>)> = Vec::new();
    let mut sources: Option<Sources> = None;
    for (token, field, what) in &seen {
        // A field named as an id holding an id-like value the server never handed out.
        let named = field.as_deref().is_some_and(id_field) && token.len() >= 6;
        let shaped = strict_shape(token, lo, hi)
            || (loose_shape(token) && varies(what, field))
            || (named
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !shaped || typed.iter().any(|t| t.contains(token.as_str())) {
            continue;
        }
        // Built once, and only when some value looks made up.
        let sources = sources.get_or_insert_with(|| Sources::of(cap));
        if !sources.first_sent_by_page(cap, token) {
            continue;
        }
        found.push((token.clone(), field.clone()));
        if found.len() == MAX_IDS {
            break;
        }
    }
    let mut made = Vec::new();
    for (token, field) in found {
        made.extend(generate_value(
            flow,
            &token,
            field.as_deref().unwrap_or("id"),
        ));
    }
    made
}

/// Makes `token` a generated variable named after `hint` wherever it is a whole value (not in
/// typed text); None when it is nowhere.
pub(crate) fn generate_value(flow: &mut Flow, token: &str, hint: &str) -> Option<PageMade> {
    let origin = flow.origin.clone().unwrap_or_default();
    let mut taken: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let name = unique_name(hint, &mut taken);
    let with = format!("${{{name}}}");
    let forms = [token.to_string()];
    let mut used = Vec::new();
    let snapshot = flow.clone();
    flow.for_each_value_mut(|site, value| {
        if matches!(
            site.place,
            Place::TypedValue | Place::RequestInitiator { .. }
        ) {
            return;
        }
        let skip = if is_url(site.place) {
            origin_len(value, &origin)
        } else {
            0
        };
        if whole_matches(value, token, skip).is_empty() {
            return;
        }
        replace_whole(value, &forms, &with, skip);
        let at = describe(&snapshot, site.step, site.place);
        if used.len() < 4 && !used.contains(&at) {
            used.push(at);
        }
    });
    if used.is_empty() {
        return None;
    }
    flow.variables
        .push(Variable::generated(name.clone(), token));
    Some(PageMade {
        name,
        like: token.to_string(),
        used,
    })
}

/// The earliest and latest request times of the recording (client timestamps fall near them).
fn recording_span(cap: &Capture) -> (f64, f64) {
    let times = cap.requests.iter().map(|r| r.start_ms);
    let lo = times.clone().fold(f64::MAX, f64::min);
    let hi = times.fold(f64::MIN, f64::max);
    if lo > hi {
        (0.0, 0.0)
    } else {
        (lo, hi)
    }
}

/// Whether a visited value is one the page sends (not an asset, not the person's typing), with
/// the bytes of it to skip (a URL's origin) and what it is (method and path, for varying fields).
fn request_side(
    flow: &Flow,
    step: usize,
    place: Place<'_>,
    value: &str,
    origin: &str,
) -> Option<(usize, String)> {
    let net = flow.steps[step].network.as_ref();
    let request_what = |index: usize| {
        let r = &net?.requests[index];
        (r.kind != RequestKind::Static).then(|| format!("{} {}", r.method, path_of(&r.url)))
    };
    match place {
        Place::RequestUrl { index } => Some((origin_len(value, origin), request_what(index)?)),
        Place::RequestHeader { index, .. } | Place::RequestBody { index } => {
            Some((0, request_what(index)?))
        }
        Place::PollerUrl { index }
        | Place::PollerHeader { index, .. }
        | Place::PollerBody { index } => {
            let p = &net?.polling[index];
            let skip = if matches!(place, Place::PollerUrl { .. }) {
                origin_len(value, origin)
            } else {
                0
            };
            Some((skip, format!("{} {}", p.method, path_of(&p.url))))
        }
        Place::EventSourceUrl { index } => {
            let url = &net?.event_sources[index].url;
            Some((origin_len(value, origin), format!("SSE {}", path_of(url))))
        }
        Place::EventSourceHeader { index, .. } => Some((
            0,
            format!("SSE {}", path_of(&net?.event_sources[index].url)),
        )),
        Place::WebSocketUrl { index } | Place::WebSocketMessage { index, .. } => {
            let url = &net?.web_sockets[index].url;
            let skip = if matches!(place, Place::WebSocketUrl { .. }) {
                origin_len(value, origin)
            } else {
                0
            };
            Some((skip, format!("WS {}", path_of(url))))
        }
        _ => None,
    }
}

fn path_of(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let from = rest.find('/').unwrap_or(rest.len());
    let path = &rest[from..];
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

/// Runs of id characters (letters, digits, `-`, `_`, `.`) that are whole values, after `skip`.
fn tokens(text: &str, skip: usize) -> Vec<(usize, &str)> {
    let id_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = skip.min(bytes.len());
    while i < bytes.len() {
        if !id_char(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && id_char(bytes[i]) {
            i += 1;
        }
        let token = &text[start..i];
        if (6..=128).contains(&token.len()) && whole_matches(text, token, skip).contains(&start) {
            out.push((start, token));
        }
    }
    out
}

/// The field a value at `at` is sent in: `field=value` or `"field": value`.
pub(crate) fn field_before(text: &str, at: usize) -> Option<String> {
    if let Some(name) = multipart_field(&text[..at]) {
        return Some(name);
    }
    let before = text[..at].trim_end_matches(['"', ' ']);
    let before = before
        .strip_suffix(['=', ':'])?
        .trim_end_matches(['"', ' ']);
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
    let name = &before[start..];
    (!name.is_empty() && name.len() <= 64).then(|| name.to_string())
}

/// The field of a multipart part whose value starts right after `before` (its headers, a blank
/// line): the `name` of its `Content-Disposition`.
fn multipart_field(before: &str) -> Option<String> {
    let head = before
        .strip_suffix("\r\n\r\n")
        .or_else(|| before.strip_suffix("\n\n"))?;
    let mut part = head.lines().rev().take_while(|l| !l.starts_with("--"));
    let line = part.find(|l| {
        l.trim_start()
            .to_ascii_lowercase()
            .starts_with("content-disposition:")
    })?;
    let at = line.find("name=\"")? + "name=\"".len();
    let name = &line[at..at + line[at..].find('"')?];
    (!name.is_empty() && name.len() <= 64).then(|| name.to_string())
}

/// Shapes apps make ids in: a UUID; hex, base36 or base62 with digits and letters well mixed;
/// an epoch time within two days of the recording; a `Math.random()` decimal.
pub(crate) fn strict_shape(t: &str, lo_ms: f64, hi_ms: f64) -> bool {
    if t.len() == 36 && t.chars().filter(|c| *c == '-').count() == 4 {
        let shape = throng_flow::shape_of(t);
        return matches!(shape, throng_flow::Shape::Uuid { .. });
    }
    if let Some(frac) = t.strip_prefix("0.") {
        return frac.len() >= 8 && frac.bytes().all(|b| b.is_ascii_digit());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let Ok(n) = t.parse::<f64>() else {
            return false;
        };
        let ms = match t.len() {
            13 => n,
            10 => n * 1000.0,
            _ => return false,
        };
        return ms >= lo_ms - CLOCK_WINDOW_MS && ms <= hi_ms + CLOCK_WINDOW_MS;
    }
    if !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let lower = t.bytes().any(|b| b.is_ascii_lowercase());
    let upper = t.bytes().any(|b| b.is_ascii_uppercase());
    let letters = t.len() - digits;
    let mixed = transitions(t);
    let hex = t.bytes().all(|b| b.is_ascii_hexdigit()) && !(lower && upper);
    match t.len() {
        n if hex && n >= 8 => digits >= 2 && letters >= 2 && mixed >= 3,
        n if !(lower && upper) && n >= 8 => digits >= 1 && letters >= 2 && mixed >= 2,
        n if n >= 12 => digits >= 1 && lower && upper && mixed >= 4,
        _ => false,
    }
}

/// A field that carries ids by its name (`session_hash`, `nonce`, `request_id`, `uuid`).
fn id_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "id"
        || n.ends_with("_id")
        || n.ends_with("-id")
        || name.ends_with("Id")
        || [
            "uuid", "guid", "nonce", "hash", "session", "sid", "token", "request",
        ]
        .iter()
        .any(|w| n.contains(w))
}

/// Changes between digits and letters (a word with a number at its end has one).
fn transitions(t: &str) -> usize {
    t.as_bytes()
        .windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
        .count()
}

/// A looser shape, taken as an id only when one field is sent with two such values.
pub(crate) fn loose_shape(t: &str) -> bool {
    let ok_chars = t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let letters = t.bytes().any(|b| b.is_ascii_alphabetic());
    ok_chars && t.len() >= 6 && ((letters && digits >= 2) || (!letters && t.len() >= 9))
}

/// When the recording first received each id-like token (answers' bodies and headers), so most
/// tokens are told apart without scanning every answer again.
struct Sources {
    received: HashMap<String, f64>,
    /// Full scans of the answers left (for tokens inside longer text).
    scans: usize,
}

/// Full scans of the recording a build may make (each reads every answer).
const MAX_SCANS: usize = 256;

impl Sources {
    fn of(cap: &Capture) -> Self {
        let mut received: HashMap<String, f64> = HashMap::new();
        for r in &cap.requests {
            let at = r.end_ms.unwrap_or(r.start_ms);
            let texts = r
                .response_body
                .iter()
                .map(String::as_str)
                .chain(r.response_headers.iter().map(|(_, v)| v.as_str()));
            for text in texts {
                for t in text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
                    if (6..=128).contains(&t.len()) {
                        let e = received.entry(t.to_string()).or_insert(at);
                        *e = e.min(at);
                    }
                }
            }
        }
        Sources {
            received,
            scans: MAX_SCANS,
        }
    }

    /// The page sent `token` before any response, script or header handed it out.
    fn first_sent_by_page(&mut self, cap: &Capture, token: &str) -> bool {
        let sent_at = first_sent(cap, token);
        if sent_at == f64::MAX {
            return false;
        }
        if let Some(&at) = self.received.get(token) {
            if at <= sent_at + 1.0 {
                return false;
            }
        }
        // Inside longer text of an answer: a full scan, while the budget lasts.
        if self.scans == 0 {
            return false;
        }
        self.scans -= 1;
        !cap.requests
            .iter()
            .any(|r| r.end_ms.unwrap_or(r.start_ms) <= sent_at + 1.0 && received(r, token))
    }
}

/// When a request or socket first sent `token` (`f64::MAX`: never).
pub(crate) fn first_sent(cap: &Capture, token: &str) -> f64 {
    cap.requests
        .iter()
        .filter(|r| sends(r, token))
        .map(|r| r.start_ms)
        .chain(cap.web_sockets.iter().flat_map(|w| {
            let url = w.url.contains(token).then_some(w.start_ms);
            let messages = w.sent.iter().filter(|m| m.1.contains(token)).map(|m| m.0);
            url.into_iter().chain(messages)
        }))
        .fold(f64::MAX, f64::min)
}

fn sends(r: &RawRequest, token: &str) -> bool {
    r.url.contains(token)
        || r.body.as_deref().is_some_and(|b| b.contains(token))
        || r.headers
            .iter()
            .any(|(k, v)| !k.eq_ignore_ascii_case("cookie") && v.contains(token))
}

/// Whether a response handed `token` out (its body, any header, a cookie, a redirect).
fn received(r: &RawRequest, token: &str) -> bool {
    r.response_body
        .as_deref()
        .is_some_and(|b| b.contains(token))
        || r.response_headers.iter().any(|(_, v)| v.contains(token))
        || (r.final_url != r.url && r.final_url.contains(token))
}

pub(crate) fn is_url(place: Place<'_>) -> bool {
    matches!(
        place,
        Place::NavigateUrl
            | Place::AssertedUrl
            | Place::RequestUrl { .. }
            | Place::PollerUrl { .. }
            | Place::EventSourceUrl { .. }
            | Place::WebSocketUrl { .. }
    )
}

/// `step N METHOD URL` of a visited place (the flow before the rewrite).
pub(crate) fn describe(flow: &Flow, step: usize, place: Place<'_>) -> String {
    let net = flow.steps[step].network.as_ref();
    let what = match place {
        Place::RequestUrl { index }
        | Place::RequestHeader { index, .. }
        | Place::RequestBody { index } => {
            net.map(|n| format!("{} {}", n.requests[index].method, n.requests[index].url))
        }
        Place::PollerUrl { index }
        | Place::PollerHeader { index, .. }
        | Place::PollerBody { index } => net.map(|n| format!("poller {}", n.polling[index].url)),
        Place::EventSourceUrl { index } | Place::EventSourceHeader { index, .. } => {
            net.map(|n| format!("stream {}", n.event_sources[index].url))
        }
        Place::WebSocketUrl { index } | Place::WebSocketMessage { index, .. } => {
            net.map(|n| format!("socket {}", n.web_sockets[index].url))
        }
        _ => None,
    };
    match what {
        Some(w) => format!("step {} {w}", step + 1),
        None => format!("step {}", step + 1),
    }
}

#[cfg(test)]
mod tests;
