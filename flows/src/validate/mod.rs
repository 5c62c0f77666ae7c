//! Semantic checks on a typed flow: URLs, variables and their uses, request ids, periods,
//! think times, checks. The first problem in document order is reported.

use super::context::Reporter;
use super::error::{quote, FlowError};
use super::locate::JsonPath;
use super::model::*;
use super::vars::{substitute, variables_used};
use std::collections::BTreeMap;
use variables::check_variables;

mod variables;

/// Longest plausible pause before a step: anything longer is almost surely seconds mistaken
/// for milliseconds or a recording left running.
pub const MAX_THINK_TIME_MS: u64 = 60 * 60 * 1000;
/// Longest time a tab may be left open after the last step.
pub const MAX_DWELL_MS: u64 = 24 * 60 * 60 * 1000;

pub(super) type R<'a> = Reporter<'a>;
pub(super) type Res = Result<(), FlowError>;

pub(crate) fn check(flow: &Flow, r: &R<'_>) -> Res {
    let root = JsonPath::root();
    if let Some(format) = &flow.format {
        if format != FORMAT_V1 {
            return Err(r.bad(
                &root.key("format"),
                &format!("is {}; this throng reads `{FORMAT_V1}`", quote(format)),
            ));
        }
    }
    if let Some(origin) = &flow.origin {
        check_origin(r, &root.key("origin"), origin)?;
    }
    if let Some(dwell) = flow.dwell_ms {
        if dwell > MAX_DWELL_MS {
            return Err(r.bad(&root.key("dwellMs"), "must be at most a day (86400000 ms)"));
        }
    }
    if let Some(state) = &flow.tracestate {
        if let Err(why) = check_tracestate(state) {
            return Err(r.bad(&root.key("tracestate"), &why));
        }
    }
    if flow.steps.is_empty() {
        return Err(r.bad(&root.key("steps"), "must list at least one step"));
    }
    let ids = request_ids(flow, r)?;
    check_variables(flow, r, &ids)?;
    let ctx = StepCtx {
        r,
        declared: flow
            .variables
            .iter()
            .map(|v| (v.name.as_str(), v))
            .collect(),
        ids: &ids,
        origin_known: super::origin(flow).is_some(),
    };
    for (i, step) in flow.steps.iter().enumerate() {
        ctx.step(i, step, &root.key("steps").index(i))?;
    }
    Ok(())
}

fn check_origin(r: &R<'_>, path: &JsonPath, origin: &str) -> Res {
    // Textual shape first (url would accept `http:80` or `http://h/.`), then a real parse.
    let lower = origin.to_ascii_lowercase();
    let authority = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .map(|rest| rest.strip_suffix('/').unwrap_or(rest));
    let shaped = authority.is_some_and(|a| !a.is_empty() && !a.contains(['/', '?', '#']));
    let has_host = url::Url::parse(origin).is_ok_and(|u| u.host().is_some());
    if !shaped || !has_host {
        return Err(r.bad(
            path,
            &format!(
                "must be scheme://host[:port], like http://127.0.0.1:8080 (got {})",
                quote(origin)
            ),
        ));
    }
    Ok(())
}

/// W3C Trace Context `tracestate`: 1 to 32 comma-separated `key=value` members, keys
/// lower-case (`vendor` or `tenant@vendor`), values printable ASCII without `,` and `=`.
pub fn check_tracestate(text: &str) -> Result<(), String> {
    if text.len() > 512 {
        return Err("is longer than 512 characters".into());
    }
    let members: Vec<&str> = text
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .collect();
    if members.len() > 32 {
        return Err("has more than 32 members".into());
    }
    for m in members {
        let Some((key, value)) = m.split_once('=') else {
            return Err(format!("member {} is not key=value", quote(m)));
        };
        let key_ok = |k: &str, first_digit_ok: bool| {
            let mut chars = k.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || (first_digit_ok && c.is_ascii_digit()))
                && k.len() <= 256
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*/".contains(c))
        };
        let key_valid = match key.split_once('@') {
            Some((tenant, vendor)) => {
                key_ok(tenant, true)
                    && tenant.len() <= 241
                    && key_ok(vendor, false)
                    && vendor.len() <= 14
            }
            None => key_ok(key, false),
        };
        if !key_valid {
            return Err(format!(
                "key {} must be lower-case letters, digits, _-*/ (and one @)",
                quote(key)
            ));
        }
        let value_ok = !value.is_empty()
            && value.len() <= 256
            && !value.ends_with(' ')
            && value
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=');
        if !value_ok {
            return Err(format!(
                "value of {} must be 1-256 printable characters without `,` or `=`",
                quote(key)
            ));
        }
    }
    Ok(())
}

/// Where a request with an `id` sits: (step index, request index).
pub(super) type Ids = BTreeMap<String, (usize, usize)>;

fn request_ids(flow: &Flow, r: &R<'_>) -> Result<Ids, FlowError> {
    let mut ids = Ids::new();
    for (i, step) in flow.steps.iter().enumerate() {
        let Some(net) = &step.network else { continue };
        for (k, req) in net.requests.iter().enumerate() {
            let Some(id) = &req.id else { continue };
            let path = JsonPath::root()
                .key("steps")
                .index(i)
                .key("network")
                .key("requests")
                .index(k)
                .key("id");
            if id.is_empty() {
                return Err(r.bad(&path, "must not be empty"));
            }
            if let Some((j, _)) = ids.get(id) {
                return Err(r.bad(
                    &path,
                    &format!("{} is already used in step {}", quote(id), j + 1),
                ));
            }
            ids.insert(id.clone(), (i, k));
        }
    }
    Ok(ids)
}

/// Where a `${name}` use sits in replay order: (step, slot), where slot 0 is the step's own
/// fields, k + 1 is request k, and `usize::MAX` is what runs after the step's requests
/// (pollers and checks).
type Order = (usize, usize);

struct StepCtx<'a> {
    r: &'a R<'a>,
    declared: BTreeMap<&'a str, &'a Variable>,
    ids: &'a Ids,
    origin_known: bool,
}

impl StepCtx<'_> {
    fn step(&self, i: usize, step: &Step, path: &JsonPath) -> Res {
        let r = self.r;
        if let Some(t) = step.think_time_ms {
            if t > MAX_THINK_TIME_MS {
                return Err(r.bad(
                    &path.key("thinkTimeMs"),
                    &format!("is {t} ms, more than an hour (think times are in milliseconds)"),
                ));
            }
        }
        if step.timeout == Some(0) {
            return Err(r.bad(&path.key("timeout"), "must be > 0"));
        }
        self.action(i, &step.action, path)?;
        for (e, event) in step.asserted_events.iter().enumerate() {
            let url = event.url.as_deref().unwrap_or_default();
            let (key, form) = param_form(("url", url), ("urlTemplate", &event.url_template));
            let ep = path.key("assertedEvents").index(e);
            self.uses(form, &ep.key(key), (i, usize::MAX))?;
        }
        if let Some(net) = &step.network {
            let net_path = path.key("network");
            for (k, req) in net.requests.iter().enumerate() {
                self.request(i, k, req, &net_path.key("requests").index(k))?;
            }
            for (p, poll) in net.polling.iter().enumerate() {
                self.poller(i, poll, &net_path.key("polling").index(p))?;
            }
            let order = (i, usize::MAX);
            for (e, stream) in net.event_sources.iter().enumerate() {
                let ep = net_path.key("eventSources").index(e);
                self.after(stream.after_ms, &ep)?;
                self.url(&stream.url, &ep.key("url"), true)?;
                self.uses(&stream.url, &ep.key("url"), order)?;
                self.headers(&stream.headers, &ep.key("headers"), order)?;
            }
            for (w, ws) in net.web_sockets.iter().enumerate() {
                let wp = net_path.key("webSockets").index(w);
                self.after(ws.after_ms, &wp)?;
                self.web_socket(ws, &wp, order)?;
            }
            for (k, stream) in net.streams.iter().enumerate() {
                self.stream(stream, &net_path.key("streams").index(k), order)?;
            }
        }
        for (c, check) in step.checks.iter().enumerate() {
            let cp = path.key("checks").index(c);
            if check.status.is_none()
                && check.body_contains.is_none()
                && check.body_not_contains.is_none()
            {
                return Err(r.bad(
                    &cp,
                    "has no condition (give `status`, `bodyContains` or `bodyNotContains`)",
                ));
            }
            check_status(r, &cp.key("status"), check.status)?;
            for (key, text) in [
                ("bodyContains", &check.body_contains),
                ("bodyNotContains", &check.body_not_contains),
            ] {
                if let Some(text) = text {
                    self.uses(text, &cp.key(key), (i, usize::MAX))?;
                }
            }
        }
        Ok(())
    }

    fn action(&self, i: usize, action: &Action, path: &JsonPath) -> Res {
        let r = self.r;
        match action {
            Action::SetViewport {
                width,
                height,
                device_scale_factor,
                ..
            } => {
                for (key, v) in [("width", *width), ("height", *height)] {
                    if v == 0 {
                        return Err(r.bad(&path.key(key), "must be > 0"));
                    }
                }
                if *device_scale_factor <= 0.0 {
                    return Err(r.bad(&path.key("deviceScaleFactor"), "must be > 0"));
                }
            }
            Action::Navigate { url, url_template } => {
                self.url(url, &path.key("url"), false)?;
                let (key, form) = param_form(("url", url), ("urlTemplate", url_template));
                self.url(form, &path.key(key), false)?;
                self.uses(form, &path.key(key), (i, 0))?;
            }
            Action::Change {
                value,
                value_template,
                ..
            } => {
                let (key, form) = param_form(("value", value), ("valueTemplate", value_template));
                self.uses(form, &path.key(key), (i, 0))?;
            }
            Action::Click(p) | Action::DoubleClick(p) => {
                const BUTTONS: &[&str] = &["primary", "auxiliary", "secondary", "back", "forward"];
                const DEVICES: &[&str] = &["mouse", "pen", "touch"];
                one_of(r, &path.key("button"), p.button.as_deref(), BUTTONS)?;
                one_of(
                    r,
                    &path.key("deviceType"),
                    p.device_type.as_deref(),
                    DEVICES,
                )?;
            }
            Action::WaitForElement { operator, .. } => {
                one_of(
                    r,
                    &path.key("operator"),
                    operator.as_deref(),
                    &[">=", "==", "<="],
                )?;
            }
            Action::EmulateNetworkConditions {
                download,
                upload,
                latency,
            } => {
                // The Recorder writes -1 for "no limit" on throughput (JSON has no NaN).
                for (key, v, min) in [
                    ("download", *download, -1.0),
                    ("upload", *upload, -1.0),
                    ("latency", *latency, 0.0),
                ] {
                    if v < min {
                        return Err(r.bad(&path.key(key), &format!("must be at least {min}")));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn request(&self, i: usize, k: usize, req: &RecordedRequest, path: &JsonPath) -> Res {
        let order = (i, k + 1);
        check_method(self.r, &path.key("method"), &req.method)?;
        self.url(&req.url, &path.key("url"), true)?;
        self.uses(&req.url, &path.key("url"), order)?;
        self.headers(&req.headers, &path.key("headers"), order)?;
        if let Some(body) = &req.body {
            self.uses(body, &path.key("body"), order)?;
        }
        check_status(self.r, &path.key("status"), req.status)
    }

    fn poller(&self, i: usize, poll: &Poller, path: &JsonPath) -> Res {
        if poll.period_ms == 0 {
            return Err(self.r.bad(&path.key("periodMs"), "must be > 0"));
        }
        let order = (i, usize::MAX);
        check_method(self.r, &path.key("method"), &poll.method)?;
        check_status(self.r, &path.key("status"), poll.status)?;
        self.url(&poll.url, &path.key("url"), true)?;
        self.uses(&poll.url, &path.key("url"), order)?;
        self.headers(&poll.headers, &path.key("headers"), order)?;
        if let Some(body) = &poll.body {
            self.uses(body, &path.key("body"), order)?;
        }
        Ok(())
    }

    fn stream(&self, stream: &Stream, path: &JsonPath, order: Order) -> Res {
        self.after(stream.after_ms, path)?;
        check_method(self.r, &path.key("method"), &stream.method)?;
        self.url(&stream.url, &path.key("url"), true)?;
        self.uses(&stream.url, &path.key("url"), order)?;
        self.headers(&stream.headers, &path.key("headers"), order)?;
        if let Some(body) = &stream.body {
            self.uses(body, &path.key("body"), order)?;
        }
        check_status(self.r, &path.key("status"), stream.status)
    }

    /// When a live connection opens after its step started: at most an hour, as think times.
    fn after(&self, after_ms: Option<u64>, path: &JsonPath) -> Res {
        match after_ms {
            Some(ms) if ms > MAX_THINK_TIME_MS => Err(self.r.bad(
                &path.key("afterMs"),
                &format!("is {ms} ms, more than an hour (offsets are in milliseconds)"),
            )),
            _ => Ok(()),
        }
    }

    fn web_socket(&self, ws: &WebSocket, path: &JsonPath, order: Order) -> Res {
        let url_path = path.key("url");
        let filled = substitute(&ws.url, |_| Some("x"));
        match url::Url::parse(&filled) {
            Ok(u) if matches!(u.scheme(), "ws" | "wss") => {}
            _ => {
                return Err(self.r.bad(
                    &url_path,
                    &format!("must be a ws or wss URL (got {})", quote(&ws.url)),
                ))
            }
        }
        self.uses(&ws.url, &url_path, order)?;
        let mut last = 0;
        for (m, message) in ws.sent.iter().enumerate() {
            let mp = path.key("sent").index(m);
            if message.offset_ms < last {
                return Err(self.r.bad(
                    &mp.key("offsetMs"),
                    "must not be less than the previous message's",
                ));
            }
            last = message.offset_ms;
            if !message.binary {
                self.uses(&message.data, &mp.key("data"), order)?;
            }
        }
        Ok(())
    }

    fn headers(&self, headers: &BTreeMap<String, String>, path: &JsonPath, order: Order) -> Res {
        for (name, value) in headers {
            let hp = path.key(name);
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(self.r.bad(&hp, "is not a valid header name"));
            }
            self.uses(value, &hp, order)?;
        }
        Ok(())
    }

    /// A URL must parse once placeholders are filled; a path starting with / is allowed when
    /// the flow has an origin to resolve it against.
    fn url(&self, raw: &str, path: &JsonPath, http_only: bool) -> Res {
        let r = self.r;
        let filled = substitute(raw, |_| Some("x"));
        if filled.starts_with('/') && !filled.starts_with("//") {
            if !self.origin_known {
                return Err(r.bad(
                    path,
                    &format!(
                        "{} is relative but the flow has no origin (add `origin` or navigate to an absolute URL first)",
                        quote(raw)
                    ),
                ));
            }
            let base = url::Url::parse("http://origin.invalid/").expect("static URL parses");
            return match base.join(&filled) {
                Ok(_) => Ok(()),
                Err(e) => Err(r.bad(path, &format!("{} is not a valid URL: {e}", quote(raw)))),
            };
        }
        match url::Url::parse(&filled) {
            Ok(u) if http_only && !matches!(u.scheme(), "http" | "https") => Err(r.bad(
                path,
                &format!("must be an http or https URL (got {})", quote(raw)),
            )),
            Ok(_) => Ok(()),
            Err(url::ParseError::RelativeUrlWithoutBase) => Err(r.bad(
                path,
                &format!(
                    "must be an absolute URL or a path starting with / (got {})",
                    quote(raw)
                ),
            )),
            Err(e) => Err(r.bad(path, &format!("{} is not a valid URL: {e}", quote(raw)))),
        }
    }

    /// Every `${name}` in `text` must be declared, and an extracted value must come from a
    /// request that runs before this use.
    fn uses(&self, text: &str, path: &JsonPath, at: Order) -> Res {
        for name in variables_used(text) {
            // Generated data (`${fake.email}`) needs no declaration; a bad kind is named.
            if let Some(fake) = crate::fake::FakeRef::parse(name) {
                fake.map_err(|e| self.r.bad(path, &format!("uses `${{{name}}}`: {e}")))?;
                continue;
            }
            // A browser login's storage (`--login`) needs no declaration either.
            if name.strip_prefix("storage.").is_some_and(|n| !n.is_empty()) {
                continue;
            }
            let Some(var) = self.declared.get(name) else {
                let declared = if self.declared.is_empty() {
                    "no variables are declared".to_string()
                } else {
                    let names: Vec<&str> = self.declared.keys().copied().collect();
                    format!("declared: {}", names.join(", "))
                };
                return Err(self.r.bad(
                    path,
                    &format!("uses undeclared variable `${{{name}}}` ({declared})"),
                ));
            };
            let Some(ex) = &var.extract else { continue };
            let Some(&(j, k)) = self.ids.get(&ex.from) else {
                continue;
            };
            if at <= (j, k + 1) {
                return Err(self.r.bad(
                    path,
                    &format!(
                        "uses `${{{name}}}` before it is extracted (from request `{}` in step {})",
                        ex.from,
                        j + 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The field and text throng replays: a Recorder field's `...Template` when given, else the field.
fn param_form<'a>(
    (key, literal): (&'static str, &'a str),
    (template_key, template): (&'static str, &'a Option<String>),
) -> (&'static str, &'a str) {
    match template {
        Some(t) => (template_key, t),
        None => (key, literal),
    }
}

fn one_of(r: &R<'_>, path: &JsonPath, value: Option<&str>, allowed: &[&str]) -> Res {
    match value {
        Some(v) if !allowed.contains(&v) => Err(r.bad(
            path,
            &format!(
                "has unknown value {} (allowed: {})",
                quote(v),
                allowed.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

fn check_status(r: &R<'_>, path: &JsonPath, status: Option<u16>) -> Res {
    match status {
        Some(s) if !(100..=599).contains(&s) => {
            Err(r.bad(path, &format!("must be an HTTP status 100-599 (got {s})")))
        }
        _ => Ok(()),
    }
}

fn check_method(r: &R<'_>, path: &JsonPath, method: &str) -> Res {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(r.bad(path, &format!("{} is not an HTTP method", quote(method))));
    }
    Ok(())
}

/// RFC 9110 token characters (header names, methods).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tracestate_tests {
    use super::check_tracestate;

    #[test]
    fn tracestate_follows_the_w3c_list_rules() {
        for ok in [
            "congo=t61rcWkgMzE",
            "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE",
            "t1@vendor=x",
        ] {
            assert_eq!(check_tracestate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Congo=x",
            "congo",
            "congo=",
            "a=b=c",
            "a=b,",
            "a=x\u{7f}",
        ] {
            assert!(check_tracestate(bad).is_err(), "{bad}");
        }
        assert!(check_tracestate(&vec!["a=b"; 33].join(",")).is_err());
    }
}
