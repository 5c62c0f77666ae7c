//! Correlation: values a response handed out (hidden inputs such as CSRF tokens, meta tags, JSON
//! fields, custom headers) that later requests send back become extraction rules and
//! `${variables}`, so a replay sends the value its own session got instead of the recorded one.
//! Only whole values count: a query or form value, a JSON string, a path segment, a header value
//! or its credentials; never a piece of the origin, a field name or a longer text. A value that
//! two loads of the same page handed out alike is static, not correlated, unless its field is
//! named as a token (a CSRF token is often the same for a whole session).

use crate::build::Slot;
use crate::capture::RawRequest;
use std::collections::{HashMap, HashSet};
use throng_flow::{Extract, Flow, RequestKind, Variable};

/// A value found in a response and how to extract it again.
#[derive(Debug, Clone)]
struct Candidate {
    source: usize,
    value: String,
    rule: Extract,
    hint: String,
}

/// A place a recorded value may be sent back: when it was sent, where it is in the flow, and
/// how the correlation note names it.
#[derive(Debug, Clone)]
pub struct Use {
    pub start_ms: f64,
    pub slot: Slot,
    pub label: String,
}

/// One correlation made: the variable, where its value is extracted, where it is used.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub name: String,
    pub from: String,
    pub used: Vec<String>,
}

impl std::fmt::Display for Correlation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "${{{}}}: extracted from {}, used in {}",
            self.name,
            self.from,
            self.used.join(", ")
        )
    }
}

/// Rewrites `flow` in place: adds variables, request ids and `${name}` references; returns the
/// correlations made. Values are looked for in the requests' slots and in `sockets` (the
/// WebSockets' URLs and messages).
pub fn correlate(
    reqs: &[RawRequest],
    kinds: &[Option<RequestKind>],
    slots: &[Slot],
    sockets: &[Use],
    typed: &[&str],
    flow: &mut Flow,
) -> Vec<Correlation> {
    let end_of = |i: usize| reqs[i].end_ms.unwrap_or(reqs[i].start_ms);
    let mut sources: Vec<usize> = (0..reqs.len())
        .filter(|&i| matches!(slots[i], Slot::Request { .. }))
        .filter(|&i| matches!(kinds[i], Some(RequestKind::Document | RequestKind::Ajax)))
        .filter(|&i| !reqs[i].failed)
        .collect();
    sources.sort_by(|&a, &b| end_of(a).total_cmp(&end_of(b)));
    let mut users: Vec<Use> = (0..reqs.len())
        .filter(|&i| slots[i] != Slot::Dropped && kinds[i] != Some(RequestKind::Static))
        .map(|i| Use {
            start_ms: reqs[i].start_ms,
            slot: slots[i],
            label: format!("{} {}", reqs[i].method, reqs[i].url),
        })
        .chain(sockets.iter().cloned())
        .collect();
    users.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    // Everything each request sent, to tell server-made values from ones the client sent first.
    let sent: Vec<String> = reqs.iter().map(sent_text).collect();

    let mut known: Vec<Candidate> = Vec::new();
    let mut by_value: HashMap<String, usize> = HashMap::new();
    let mut next_source = 0;
    let mut var_of: HashMap<(usize, String), String> = HashMap::new();
    let mut ids: HashMap<usize, String> = HashMap::new();
    let mut names: HashSet<String> = flow.variables.iter().map(|v| v.name.clone()).collect();
    let mut notes: Vec<Correlation> = Vec::new();
    let origin = flow.origin.clone().unwrap_or_default();
    let statics = static_values(reqs, &sources);

    for u in &users {
        while next_source < sources.len() && end_of(sources[next_source]) <= u.start_ms {
            let s = sources[next_source];
            next_source += 1;
            for c in candidates_of(s, &reqs[s]) {
                if statics.contains(&(format!("{:?}", c.rule), c.value.clone()))
                    && !token_named(&c.hint)
                {
                    continue;
                }
                // A value the client sent before any response handed it out is the client's
                // own (typed, or built by a script), not the server's.
                let first_sighting = !by_value.contains_key(&c.value);
                let client_sent = first_sighting
                    && reqs.iter().enumerate().any(|(j, r)| {
                        r.start_ms < reqs[s].start_ms && j != s && sent[j].contains(&c.value)
                    });
                if client_sent || typed.iter().any(|t| t.contains(c.value.as_str())) {
                    continue;
                }
                // The latest response holding a value is the one to extract it from.
                match by_value.get(&c.value) {
                    Some(&k) => known[k] = c,
                    None => {
                        by_value.insert(c.value.clone(), known.len());
                        known.push(c);
                    }
                }
            }
        }
        for c in &known {
            // A replay extracts in flow order: the source must come first there too.
            if order_of(slots[c.source]) >= order_of(u.slot) {
                continue;
            }
            let forms = encoded_forms(&c.value);
            if !slot_contains(flow, u.slot, &forms, &origin) {
                continue;
            }
            let rule_key = format!("{:?}", c.rule);
            let name = var_of
                .entry((c.source, rule_key))
                .or_insert_with(|| {
                    let next = ids.len() + 1;
                    let id = ids
                        .entry(c.source)
                        .or_insert_with(|| format!("r{next}"))
                        .clone();
                    let name = unique_name(&c.hint, &mut names);
                    flow.variables.push(Variable::extracted(
                        name.clone(),
                        Extract {
                            from: id,
                            ..c.rule.clone()
                        },
                    ));
                    notes.push(Correlation {
                        name: name.clone(),
                        from: format!(
                            "{} {} ({})",
                            reqs[c.source].method,
                            reqs[c.source].url,
                            rule_text(&c.rule)
                        ),
                        used: Vec::new(),
                    });
                    name
                })
                .clone();
            replace_in_slot(flow, u.slot, &forms, &format!("${{{name}}}"), &origin);
            if let Some(n) = notes.iter_mut().find(|n| n.name == name) {
                let at = format!("step {} {}", step_of(u.slot) + 1, u.label);
                if !n.used.contains(&at) {
                    n.used.push(at);
                }
            }
        }
    }
    for (source, id) in ids {
        if let Slot::Request { step, index } = slots[source] {
            if let Some(net) = flow.steps[step].network.as_mut() {
                net.requests[index].id = Some(id);
            }
        }
    }
    notes
}

fn step_of(slot: Slot) -> usize {
    match slot {
        Slot::Dropped => 0,
        Slot::Request { step, .. }
        | Slot::Poller { step, .. }
        | Slot::EventSource { step, .. }
        | Slot::Stream { step, .. }
        | Slot::WebSocket { step, .. } => step,
    }
}

fn rule_text(r: &Extract) -> String {
    if let Some(css) = &r.css {
        format!("css {css}")
    } else if let Some(p) = &r.json_pointer {
        format!("JSON {p}")
    } else if let Some(h) = &r.header {
        format!("header {h}")
    } else {
        "regex".into()
    }
}

/// A field or key named as a token: a session may keep it for all its pages, so two loads
/// handing it out alike say nothing about it being static.
fn token_named(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["csrf", "xsrf", "token", "nonce", "authenticity", "session"]
        .iter()
        .any(|t| n.contains(t))
}

/// (rule, value) pairs that two loads of the same URL handed out alike: static, not dynamic.
fn static_values(reqs: &[RawRequest], sources: &[usize]) -> HashSet<(String, String)> {
    let mut seen: HashMap<(String, String), HashMap<(String, String), usize>> = HashMap::new();
    for &s in sources {
        let r = &reqs[s];
        if r.method != "GET" {
            continue;
        }
        let per_url = seen.entry((r.method.clone(), r.url.clone())).or_default();
        let mut once = HashSet::new();
        for c in candidates_of(s, r) {
            let key = (format!("{:?}", c.rule), c.value);
            if once.insert(key.clone()) {
                *per_url.entry(key).or_default() += 1;
            }
        }
    }
    seen.into_values()
        .flat_map(|m| m.into_iter().filter(|(_, n)| *n >= 2).map(|(k, _)| k))
        .collect()
}

/// A slot's place in replay order: step, then its requests, then what the page holds open
/// (pollers, streams, sockets: started once the step's requests are done).
fn order_of(slot: Slot) -> (usize, usize) {
    match slot {
        Slot::Dropped => (usize::MAX, usize::MAX),
        Slot::Request { step, index } => (step, index + 1),
        Slot::Poller { step, .. }
        | Slot::EventSource { step, .. }
        | Slot::Stream { step, .. }
        | Slot::WebSocket { step, .. } => (step, usize::MAX),
    }
}

fn sent_text(r: &RawRequest) -> String {
    let mut s = r.url.clone();
    if let Some(b) = &r.body {
        s.push('\n');
        s.push_str(b);
    }
    for (k, v) in &r.headers {
        if !k.eq_ignore_ascii_case("cookie") {
            s.push('\n');
            s.push_str(v);
        }
    }
    s
}

/// A value worth correlating: long, no spaces, looks generated (letters and digits mixed).
pub(crate) fn tokenish(v: &str) -> bool {
    let n = v.len();
    if !(8..=4096).contains(&n) || v.contains("://") || v.starts_with('/') {
        return false;
    }
    if v.chars()
        .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
    {
        return false;
    }
    let digits = v.chars().any(|c| c.is_ascii_digit());
    let letters = v.chars().any(|c| c.is_ascii_alphabetic());
    (digits && letters) || n >= 24
}

/// Every value in a response that could come back, with its extraction rule.
fn candidates_of(source: usize, r: &RawRequest) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut push = |value: String, rule: Extract, hint: &str| {
        if tokenish(&value) {
            out.push(Candidate {
                source,
                value,
                rule,
                hint: hint.to_string(),
            });
        }
    };
    const PLAIN_HEADERS: &[&str] = &[
        "date",
        "server",
        "etag",
        "last-modified",
        "set-cookie",
        "cache-control",
        "expires",
        "vary",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "location",
        "age",
        "report-to",
        "nel",
    ];
    for (k, v) in &r.response_headers {
        let k = k.to_ascii_lowercase();
        if !PLAIN_HEADERS.contains(&k.as_str())
            && !k.starts_with("content-")
            && !k.starts_with("access-control-")
        {
            let rule = Extract {
                header: Some(k.clone()),
                ..Default::default()
            };
            push(v.clone(), rule, &k);
        }
    }
    let Some(body) = r.response_body.as_deref() else {
        return out;
    };
    let mime = r.mime.as_deref().unwrap_or("").to_ascii_lowercase();
    if mime.contains("json") || (mime.is_empty() && body.trim_start().starts_with('{')) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
            walk_json(&v, String::new(), "", &mut push);
        }
    } else if mime.contains("html") {
        html_candidates(body, &mut push);
    }
    out
}

fn walk_json(
    v: &serde_json::Value,
    pointer: String,
    key: &str,
    push: &mut impl FnMut(String, Extract, &str),
) {
    match v {
        serde_json::Value::String(s) => push(
            s.clone(),
            Extract {
                json_pointer: Some(pointer),
                ..Default::default()
            },
            key,
        ),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk_json(x, format!("{pointer}/{i}"), key, push);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let esc = k.replace('~', "~0").replace('/', "~1");
                walk_json(x, format!("{pointer}/{esc}"), k, push);
            }
        }
        _ => {}
    }
}

pub(crate) fn html_candidates(body: &str, push: &mut impl FnMut(String, Extract, &str)) {
    let doc = scraper::Html::parse_document(body);
    let mut found: HashSet<String> = HashSet::new();
    let sel = |s: &str| scraper::Selector::parse(s).ok();
    let hidden = sel("input[type=hidden][name][value], input[type=HIDDEN][name][value]");
    let meta = sel("meta[name][content]");
    let groups = [
        (hidden, "name", "value", "input"),
        (meta, "name", "content", "meta"),
    ];
    for (selector, key_attr, value_attr, tag) in groups {
        let Some(selector) = selector else { continue };
        for el in doc.select(&selector) {
            let (Some(name), Some(value)) = (el.attr(key_attr), el.attr(value_attr)) else {
                continue;
            };
            let css = format!("{tag}[{key_attr}=\"{}\"]", name.replace('"', "\\\""));
            // Replay extracts the first match: only a rule that finds this very value will do.
            let first = sel(&css).and_then(|s| doc.select(&s).next().map(|e| e.attr(value_attr)));
            // One source per value; a short value (`3`) is told apart by its field's name.
            let seen = if value.chars().count() < 4 {
                format!("{name}\u{0}{value}")
            } else {
                value.to_string()
            };
            if first != Some(Some(value)) || !found.insert(seen) {
                continue;
            }
            let rule = Extract {
                css: Some(css),
                attr: Some(value_attr.to_string()),
                ..Default::default()
            };
            push(value.to_string(), rule, name);
        }
    }
}

/// What `encodeURIComponent` leaves as it is: letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The spellings a value takes in URLs and bodies: raw, form-encoded (a form's submission),
/// percent-encoded (all of it, or as `encodeURIComponent` does), and inside a JSON string
/// (`JSON.stringify` escapes a quote or a backslash). Replay writes each place's own spelling
/// again (`throng::replay::fill`).
pub fn encoded_forms(v: &str) -> Vec<String> {
    let mut forms = vec![v.to_string()];
    let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
    let pct =
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
    let component = percent_encoding::utf8_percent_encode(v, URI_COMPONENT).to_string();
    let json = serde_json::to_string(v).unwrap_or_default();
    let json = json[1..json.len().saturating_sub(1)].to_string();
    for f in [form, pct, component, json] {
        if !forms.contains(&f) {
            forms.push(f);
        }
    }
    forms
}

/// Where `form` occurs in `text` as a whole value: bounded by delimiters on both sides (a query
/// or form value, a JSON string, a path segment, a header value or its credentials part), never
/// inside the origin (`skip` bytes at the start of a URL) and never followed by `=` (a name).
pub(crate) fn whole_matches(text: &str, form: &str, skip: usize) -> Vec<usize> {
    const BEFORE: &[u8] = b"=\"/ :,;\n\t";
    const AFTER: &[u8] = b"&\"/?#,; \r\n\t}]";
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(form).map(|i| i + from) {
        let end = at + form.len();
        let before_ok = at == 0 || BEFORE.contains(&bytes[at - 1]);
        let after_ok = end == bytes.len() || AFTER.contains(&bytes[end]);
        if at >= skip && before_ok && after_ok {
            out.push(at);
        }
        from = at + 1;
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    out
}

/// Bytes of `url` that are its origin (never correlated).
pub(crate) fn origin_len(url: &str, origin: &str) -> usize {
    if !origin.is_empty() && url.starts_with(origin) {
        return origin.len();
    }
    url.find("://")
        .map(|i| i + 3)
        .map(|i| i + url[i..].find('/').unwrap_or(url.len() - i))
        .unwrap_or(0)
}

pub(crate) fn has_whole(text: &str, forms: &[String], skip: usize) -> bool {
    forms
        .iter()
        .any(|f| !whole_matches(text, f, skip).is_empty())
}

pub(crate) fn replace_whole(text: &mut String, forms: &[String], with: &str, skip: usize) {
    for f in forms {
        let at = whole_matches(text, f, skip);
        for i in at.into_iter().rev() {
            text.replace_range(i..i + f.len(), with);
        }
    }
}

/// The value-carrying strings of a slot: URLs (whose origin is never matched) and the rest.
fn slot_fields(flow: &mut Flow, slot: Slot) -> (Vec<&mut String>, Vec<&mut String>) {
    fn net(flow: &mut Flow, step: usize) -> &mut throng_flow::Network {
        flow.steps[step].network.as_mut().expect("slot")
    }
    match slot {
        Slot::Dropped => (Vec::new(), Vec::new()),
        Slot::Request { step, index } => {
            let r = &mut net(flow, step).requests[index];
            let rest = r.body.iter_mut().chain(r.headers.values_mut()).collect();
            (vec![&mut r.url], rest)
        }
        Slot::Poller { step, index } => {
            let p = &mut net(flow, step).polling[index];
            let rest = p.body.iter_mut().chain(p.headers.values_mut()).collect();
            (vec![&mut p.url], rest)
        }
        Slot::EventSource { step, index } => {
            let e = &mut net(flow, step).event_sources[index];
            (vec![&mut e.url], e.headers.values_mut().collect())
        }
        Slot::Stream { step, index } => {
            let st = &mut net(flow, step).streams[index];
            let rest = st.body.iter_mut().chain(st.headers.values_mut()).collect();
            (vec![&mut st.url], rest)
        }
        Slot::WebSocket {
            step,
            index,
            message,
        } => {
            let ws = &mut net(flow, step).web_sockets[index];
            match message {
                None => (vec![&mut ws.url], Vec::new()),
                Some(m) => (Vec::new(), vec![&mut ws.sent[m].data]),
            }
        }
    }
}

fn slot_contains(flow: &mut Flow, slot: Slot, forms: &[String], origin: &str) -> bool {
    let (urls, rest) = slot_fields(flow, slot);
    urls.iter()
        .any(|u| has_whole(u, forms, origin_len(u, origin)))
        || rest.iter().any(|v| has_whole(v, forms, 0))
}

fn replace_in_slot(flow: &mut Flow, slot: Slot, forms: &[String], with: &str, origin: &str) {
    let (urls, rest) = slot_fields(flow, slot);
    for u in urls {
        let skip = origin_len(u, origin);
        replace_whole(u, forms, with, skip);
    }
    for v in rest {
        replace_whole(v, forms, with, 0);
    }
}

/// A variable name from a hint (field name, JSON key, header), unique in the flow.
pub fn unique_name(hint: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    base = base.trim_matches('_').to_string();
    if base.is_empty() {
        base = "value".into();
    }
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        base = format!("v_{base}");
    }
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_inputs_and_meta_are_candidates_page_text_is_not() {
        let html = r#"<html><head><meta name="csrf-token" content="m3ta7oken99"></head><body>
            <form><input type="hidden" name="csrf" value="abc123def456"><input name="q" value="lamp"></form>
            <a href="http://127.0.0.1:44171/movies/movies">movies</a>
            <script>window.api = {key: "k9a8s7d6f5g4h3j2k1l0"};</script></body></html>"#;
        let r = RawRequest {
            mime: Some("text/html".into()),
            response_body: Some(html.into()),
            ..Default::default()
        };
        let c = candidates_of(0, &r);
        let csrf = c.iter().find(|c| c.value == "abc123def456").expect("csrf");
        assert_eq!(csrf.rule.css.as_deref(), Some("input[name=\"csrf\"]"));
        assert_eq!(csrf.hint, "csrf");
        assert!(c
            .iter()
            .any(|c| c.value == "m3ta7oken99" && c.rule.attr.as_deref() == Some("content")));
        assert_eq!(c.len(), 2, "no static page text: {c:?}");
    }

    #[test]
    fn only_whole_values_outside_the_origin_match() {
        let origin = "http://127.0.0.1:44171";
        let url = "http://127.0.0.1:44171/movies/44171abc?genre=44171abc&x=44171abcd";
        let at = whole_matches(url, "44171abc", origin_len(url, origin));
        assert_eq!(at.len(), 2, "the path segment and the query value: {at:?}");
        // Part of the origin, a field name, or a longer value: never.
        assert!(whole_matches(
            "http://h:44171/",
            "44171",
            origin_len("http://h:44171/", "")
        )
        .is_empty());
        assert!(whole_matches("tok3n12345=1&a=2", "tok3n12345", 0).is_empty());
        assert!(whole_matches("a=xtok3n12345", "tok3n12345", 0).is_empty());
        // Form values, JSON strings and bearer credentials: yes.
        assert_eq!(
            whole_matches("csrf=tok3n12345&u=a", "tok3n12345", 0),
            vec![5]
        );
        assert_eq!(
            whole_matches(r#"{"t":"tok3n12345"}"#, "tok3n12345", 0),
            vec![6]
        );
        assert_eq!(whole_matches("Bearer tok3n12345", "tok3n12345", 0), vec![7]);
        let mut u = url.to_string();
        replace_whole(
            &mut u,
            &["44171abc".into()],
            "${id}",
            origin_len(url, origin),
        );
        assert_eq!(
            u,
            "http://127.0.0.1:44171/movies/${id}?genre=${id}&x=44171abcd"
        );
    }

    #[test]
    fn a_value_two_loads_of_a_page_handed_out_alike_is_static() {
        let page = |token: &str| RawRequest {
            method: "GET".into(),
            url: "http://h/form".into(),
            mime: Some("text/html".into()),
            response_body: Some(format!(
                r#"<input type="hidden" name="build" value="b1d2e3f4g5"><input type="hidden" name="csrf" value="{token}">"#
            )),
            ..Default::default()
        };
        let reqs = vec![page("tok3n11111"), page("tok3n22222")];
        let statics = static_values(&reqs, &[0, 1]);
        assert!(statics.iter().any(|(_, v)| v == "b1d2e3f4g5"));
        assert!(!statics.iter().any(|(_, v)| v.starts_with("tok3n")));
        // A session's CSRF token is alike on every page of the session: still a token.
        assert!(token_named("csrf") && token_named("authenticity_token"));
        assert!(!token_named("build"));
    }

    #[test]
    fn json_fields_get_pointers() {
        let r = RawRequest {
            mime: Some("application/json".into()),
            response_body: Some(r#"{"session":{"token":"tok_8f7e6d5c"},"n":3}"#.into()),
            ..Default::default()
        };
        let c = candidates_of(0, &r);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].rule.json_pointer.as_deref(), Some("/session/token"));
        assert_eq!(c[0].hint, "token");
    }

    #[test]
    fn a_value_is_found_however_the_page_wrote_it() {
        let forms = encoded_forms("a+b/c=d&e\\f-g_h");
        for spelling in [
            "a+b/c=d&e\\f-g_h",              // raw (a header)
            "a%2Bb%2Fc%3Dd%26e%5Cf-g_h",     // a form submission, encodeURIComponent
            "a%2Bb%2Fc%3Dd%26e%5Cf%2Dg%5Fh", // every byte that is not alphanumeric
            "a+b/c=d&e\\\\f-g_h",            // inside a JSON string
        ] {
            assert!(
                forms.iter().any(|f| f == spelling),
                "{spelling} in {forms:?}"
            );
        }
    }

    #[test]
    fn names_are_sanitized_and_unique() {
        let mut taken = HashSet::new();
        assert_eq!(unique_name("X-CSRF-Token", &mut taken), "x_csrf_token");
        assert_eq!(unique_name("x_csrf_token", &mut taken), "x_csrf_token_2");
        assert_eq!(unique_name("_csrf", &mut taken), "csrf");
    }
}
