//! HAR 1.2 -> flow: each page becomes a navigate step whose network list holds the page's
//! entries (kinds from `_resourceType` or MIME type), think times come from the gaps between
//! pages, and correlation, polling detection and password hiding run as for a live recording.
//! A page is one navigation: a HAR page that holds several main-frame documents (Playwright's
//! one page per tab) is split at each; a navigation's redirect hops stay as answered.

use crate::build::{build_report, Built};
use crate::capture::{initiator_of, origin_of, Capture, RawRequest, RawStep};
use crate::network::kind_of;
use crate::secrets::{env_name, hide_values, SecretValue, Seen};
use serde_json::Value;
use throng_flow::{Action, RequestKind, Variable};

/// One HAR entry as a request, with what splitting pages needs.
struct Entry {
    req: RawRequest,
    /// Playwright's `_frameref`: the frame the request belongs to.
    frame: Option<String>,
    /// A redirect hop a navigation reached (not a navigation of its own).
    hop: bool,
}

impl Entry {
    fn is_document(&self) -> bool {
        kind_of(
            self.req.resource_type.as_deref(),
            self.req.mime.as_deref(),
            &self.req.url,
        ) == Some(RequestKind::Document)
    }
}

pub fn import(v: &Value, title: &str, no_correlate: bool) -> Result<(Built, Capture), String> {
    let log = v["log"].as_object().ok_or("\"log\" must be an object")?;
    let entries = log
        .get("entries")
        .and_then(Value::as_array)
        .ok_or("HAR without \"log.entries\"")?;
    let mut all = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let req = entry(e).map_err(|m| format!("entry {}: {m}", i + 1))?;
        let frame = e["_frameref"].as_str().map(String::from);
        all.push(Entry {
            req,
            frame,
            hop: false,
        });
    }
    all.sort_by(|a, b| a.req.start_ms.total_cmp(&b.req.start_ms));
    let mut all = collapse_redirects(all);

    // Pages, in time order; a HAR without pages gets one per top-level HTML document.
    let mut pages: Vec<(String, f64)> = Vec::new();
    for p in log
        .get("pages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = p["id"].as_str().unwrap_or_default().to_string();
        let start = p["startedDateTime"]
            .as_str()
            .and_then(parse_time)
            .ok_or_else(|| format!("page {id:?}: no valid startedDateTime"))?;
        pages.push((id, start));
    }
    if pages.is_empty() {
        let main = all
            .iter()
            .find(|e| e.is_document())
            .and_then(|e| e.frame.clone());
        for e in all.iter_mut() {
            let main_frame = main.is_none() || e.frame == main;
            if e.is_document() && !e.hop && main_frame {
                e.req.doc = Some(format!("doc{}", pages.len() + 1));
                pages.push((e.req.doc.clone().expect("set"), e.req.start_ms));
            }
        }
    } else {
        pages = split_pages(pages, &mut all);
    }
    pages.sort_by(|a, b| a.1.total_cmp(&b.1));
    if pages.is_empty() {
        return Err("no pages and no HTML documents: nothing to navigate to".into());
    }

    let mut steps = Vec::new();
    for (k, (id, start)) in pages.iter().enumerate() {
        // Entries without a page go to the page open when they started.
        for e in all.iter_mut().filter(|e| e.req.doc.is_none()) {
            let next = pages.get(k + 1).map_or(f64::MAX, |p| p.1);
            if e.req.start_ms >= *start && e.req.start_ms < next {
                e.req.doc = Some(id.clone());
            }
        }
        // The page's navigation: its first document and the redirect hops that followed it.
        let docs: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].req.doc.as_deref() == Some(id) && all[i].is_document())
            .collect();
        let Some(&first_doc) = docs.first() else {
            continue;
        };
        let mut last = first_doc;
        for &i in &docs[1..] {
            let redirected = all[last]
                .req
                .status
                .is_some_and(|s| (300..400).contains(&s));
            if !(redirected && all[i].hop) {
                break;
            }
            last = i;
        }
        all[first_doc].req.main_document = true;
        // A GET chain is loaded from its first URL, the browser following every hop as when
        // recorded (each hop is a document the server serves); a navigation cannot send a
        // POST, so a POST's chain (a form's answer) is loaded where it landed.
        let first_req = &all[first_doc].req;
        let url = if first_req.method.eq_ignore_ascii_case("GET") {
            first_req.url.clone()
        } else {
            all[last].req.final_url.clone()
        };
        // A page's step starts with its first request (the page record may be stamped later).
        let first = all
            .iter()
            .filter(|e| e.req.doc.as_deref() == Some(id))
            .map(|e| e.req.start_ms)
            .fold(*start, f64::min);
        steps.push(RawStep::new(first, Action::navigate(url)));
    }
    let reqs: Vec<RawRequest> = all.into_iter().map(|e| e.req).collect();
    let origin = steps
        .iter()
        .find_map(|s| match &s.action {
            Action::Navigate { url, .. } => origin_of(url),
            _ => None,
        })
        .ok_or("no page with an http(s) document")?;
    let secrets = password_values(&reqs);
    let cap = Capture {
        title: title.to_string(),
        origin,
        selector_attribute: None,
        steps,
        requests: reqs,
        no_correlate,
        ..Default::default()
    };
    let mut built = build_report(&cap);
    let flow = &mut built.flow;
    for s in &secrets {
        flow.variables
            .push(Variable::secret(s.name.clone(), env_name(&s.name)));
    }
    hide_values(&secrets, &[], flow);
    built.secrets.extend(secrets);
    Ok((built, cap))
}

fn entry(e: &Value) -> Result<RawRequest, String> {
    let req = &e["request"];
    let resp = &e["response"];
    let url = req["url"].as_str().ok_or("no request.url")?.to_string();
    let start = e["startedDateTime"]
        .as_str()
        .and_then(parse_time)
        .ok_or("no valid startedDateTime")?;
    let time = e["time"].as_f64().unwrap_or(0.0).max(0.0);
    let status = resp["status"].as_u64().map(|s| s as u16).filter(|&s| s > 0);
    let content = &resp["content"];
    let body_text = content["text"]
        .as_str()
        .filter(|_| content["encoding"].as_str() != Some("base64"))
        .map(String::from);
    let (initiator, timer) = initiator_of(&e["_initiator"]);
    let redirect = resp["redirectURL"]
        .as_str()
        .filter(|s| !s.is_empty())
        .and_then(|r| url::Url::parse(&url).ok()?.join(r).ok())
        .map(|u| u.to_string());
    Ok(RawRequest {
        doc: e["pageref"].as_str().map(String::from),
        method: req["method"].as_str().unwrap_or("GET").to_string(),
        final_url: redirect.unwrap_or_else(|| url.clone()),
        url,
        headers: pairs(&req["headers"]),
        body: req["postData"]["text"].as_str().map(String::from),
        resource_type: e["_resourceType"].as_str().map(String::from),
        mime: content["mimeType"].as_str().map(String::from),
        status,
        initiator,
        timer,
        start_ms: start,
        end_ms: Some(start + time),
        failed: status.is_none(),
        response_headers: pairs(&resp["headers"]),
        response_body: body_text,
        ..Default::default()
    })
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| {
            Some((
                h["name"].as_str()?.to_string(),
                h["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Pages a HAR lists may hold several navigations: Playwright writes one page per tab, every
/// entry with its frame (`_frameref`). Each main-frame document that is not a redirect hop
/// starts a page of its own, with the entries that follow it.
fn split_pages(pages: Vec<(String, f64)>, all: &mut [Entry]) -> Vec<(String, f64)> {
    let mut out = Vec::with_capacity(pages.len());
    for (id, start) in pages {
        let of_page: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].req.doc.as_deref() == Some(id.as_str()))
            .collect();
        let main = of_page
            .iter()
            .find(|&&i| all[i].is_document())
            .and_then(|&i| all[i].frame.clone());
        let Some(main) = main else {
            out.push((id, start));
            continue;
        };
        let mut n = 0;
        let mut current = id.clone();
        for i in of_page {
            let e = &mut all[i];
            if e.is_document() && !e.hop && e.frame.as_deref() == Some(main.as_str()) {
                n += 1;
                if n == 1 {
                    out.push((id.clone(), start));
                } else {
                    current = format!("{id} ({n})");
                    out.push((current.clone(), e.req.start_ms));
                }
            }
            e.req.doc = Some(current.clone());
        }
        if n == 0 {
            out.push((id, start));
        }
    }
    out
}

/// A HAR lists each redirect hop. A navigation keeps its hops as the server answered each
/// one (replay follows them once); another request's chain becomes its first request with the
/// final response (its client follows redirects in one call).
fn collapse_redirects(entries: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    let mut open: Vec<(String, usize)> = Vec::new(); // (expected next URL, index in out)
    for mut e in entries {
        if let Some(pos) = open.iter().position(|(u, _)| *u == e.req.url) {
            let (_, at) = open.remove(pos);
            let redirected = e.req.status.is_some_and(|s| (300..400).contains(&s));
            if out[at].is_document() {
                e.hop = true;
                if redirected && e.req.final_url != e.req.url {
                    open.push((e.req.final_url.clone(), out.len()));
                }
                out.push(e);
                continue;
            }
            let r = e.req;
            let first = &mut out[at].req;
            first.status = r.status;
            first.mime = r.mime;
            first.end_ms = r.end_ms;
            first.response_headers = r.response_headers;
            first.response_body = r.response_body;
            first.failed = r.failed;
            if redirected && r.final_url != r.url {
                first.final_url = r.final_url.clone();
                open.push((r.final_url, at));
            } else {
                first.final_url = r.url;
            }
            continue;
        }
        let redirected =
            e.req.status.is_some_and(|s| (300..400).contains(&s)) && e.req.final_url != e.req.url;
        if redirected {
            open.push((e.req.final_url.clone(), out.len()));
        }
        out.push(e);
    }
    out
}

/// Values sent in password-like form or JSON fields: they become secret variables.
fn password_values(reqs: &[RawRequest]) -> Vec<SecretValue> {
    let is_pw = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k.contains("passwd") || k == "pwd" || k == "pass"
    };
    let mut out: Vec<SecretValue> = Vec::new();
    let mut add = |v: String| {
        if !v.is_empty() && !out.iter().any(|s| s.value == v) {
            let name = if out.is_empty() {
                "password".to_string()
            } else {
                format!("password_{}", out.len() + 1)
            };
            out.push(SecretValue {
                name,
                value: v,
                seen: Seen::Typed,
            });
        }
    };
    for r in reqs {
        let Some(body) = r.body.as_deref() else {
            continue;
        };
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(body) {
            for (k, v) in o {
                if let (true, Some(s)) = (is_pw(&k), v.as_str()) {
                    add(s.to_string());
                }
            }
        } else if body.contains('=') {
            for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
                if is_pw(&k) {
                    add(v.into_owned());
                }
            }
        }
    }
    out
}

/// RFC 3339 / ISO 8601 date-time ("2024-11-22T23:24:00.123Z", "+01:00" offsets) to Unix ms.
fn parse_time(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.len() - r.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        frac = format!("0.{}", &r[..digits]).parse().ok()?;
        rest = &r[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs as f64 * 1000.0 + frac * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        t: &str,
        frame: &str,
        ty: &str,
        method: &str,
        url: &str,
        status: u16,
        to: &str,
    ) -> Value {
        serde_json::json!({"pageref": "page@1", "_frameref": frame, "_resourceType": ty,
            "startedDateTime": format!("2026-11-28T10:00:{t}Z"), "time": 20,
            "request": {"method": method, "url": url, "headers": []},
            "response": {"status": status, "headers": [], "redirectURL": to,
                "content": {"mimeType": "text/html"}}})
    }

    #[test]
    fn one_har_page_per_tab_splits_at_main_frame_documents_not_iframes_or_hops() {
        let har = serde_json::json!({"log": {"pages": [{"id": "page@1", "startedDateTime": "2026-11-28T10:00:00.000Z"}],
        "entries": [
            entry("00.100", "f1", "document", "GET", "http://h/", 200, ""),
            entry("00.300", "f2", "document", "GET", "http://h/frame", 200, ""),
            entry("05.000", "f1", "document", "POST", "http://h/login", 302, "/home"),
            entry("05.100", "f1", "document", "GET", "http://h/home", 200, ""),
            entry("05.200", "f1", "script", "GET", "http://h/app.js", 200, ""),
        ]}});
        let flow = import(&har, "t", true).unwrap().0.flow;
        let urls: Vec<&str> = flow
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Navigate { url, .. } => Some(url.as_str()),
                _ => None,
            })
            .collect();
        // The POST's chain lands where it ended: a navigation cannot post.
        assert_eq!(urls, ["http://h/", "http://h/home"]);
        let second = flow.steps[1].network.as_ref().unwrap();
        let docs: Vec<(&str, Option<u16>)> = second
            .requests
            .iter()
            .filter(|r| r.kind == RequestKind::Document)
            .map(|r| (r.url.as_str(), r.status))
            .collect();
        assert_eq!(
            docs,
            [("http://h/login", Some(302)), ("http://h/home", Some(200))]
        );
        // The think time is the gap between the first page's last activity and the POST.
        let think = flow.steps[1].think_time_ms.unwrap();
        assert!((4600..=4900).contains(&think), "{think}");
        let first = flow.steps[0].network.as_ref().unwrap();
        assert!(first.requests.iter().any(|r| r.url == "http://h/frame"));
    }

    #[test]
    fn a_page_reached_by_a_get_redirect_chain_is_loaded_from_its_first_url() {
        let har = serde_json::json!({"log": {"pages": [{"id": "page@1", "startedDateTime": "2026-11-28T10:00:00.000Z"}],
        "entries": [
            entry("00.100", "f1", "document", "GET", "http://h/r1", 302, "/r2"),
            entry("00.200", "f1", "document", "GET", "http://h/r2", 301, "http://h/landing"),
            entry("00.300", "f1", "document", "GET", "http://h/landing", 200, ""),
        ]}});
        let flow = import(&har, "t", true).unwrap().0.flow;
        assert_eq!(flow.steps.len(), 1);
        match &flow.steps[0].action {
            Action::Navigate { url, .. } => assert_eq!(url, "http://h/r1"),
            other => panic!("{other:?}"),
        }
        let docs = flow.steps[0].network.as_ref().unwrap().requests.len();
        assert_eq!(docs, 3, "every hop, as answered");
    }

    #[test]
    fn times_parse_with_fractions_and_offsets() {
        assert_eq!(parse_time("1970-01-01T00:00:01.500Z"), Some(1500.0));
        assert_eq!(
            parse_time("2024-11-22T23:24:00Z"),
            Some(1_732_317_840_000.0)
        );
        assert_eq!(
            parse_time("2024-11-23T00:24:00.000+01:00"),
            Some(1_732_317_840_000.0)
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
