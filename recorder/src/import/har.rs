//! HAR 1.2 -> flow: each page becomes a navigate step whose network list holds the page's
//! entries (kinds from `_resourceType` or MIME type), think times come from the gaps between
//! pages, and correlation, polling detection and password hiding run as for a live recording.

use crate::build::{build_report, Built};
use crate::capture::{initiator_of, origin_of, Capture, RawRequest, RawStep};
use crate::network::kind_of;
use crate::secrets::{env_name, hide_values, SecretValue};
use serde_json::Value;
use throng_flow::{Action, Variable};

pub fn import(v: &Value, title: &str, no_correlate: bool) -> Result<Built, String> {
    let log = v["log"].as_object().ok_or("\"log\" must be an object")?;
    let entries = log
        .get("entries")
        .and_then(Value::as_array)
        .ok_or("HAR without \"log.entries\"")?;
    let mut reqs = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        reqs.push(entry(e).map_err(|m| format!("entry {}: {m}", i + 1))?);
    }
    reqs.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut reqs = collapse_redirects(reqs);

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
        for r in reqs.iter_mut() {
            if kind_of(r.resource_type.as_deref(), r.mime.as_deref(), &r.url)
                == Some(throng_flow::RequestKind::Document)
            {
                r.doc = Some(format!("doc{}", pages.len() + 1));
                pages.push((r.doc.clone().expect("set"), r.start_ms));
            }
        }
    }
    pages.sort_by(|a, b| a.1.total_cmp(&b.1));
    if pages.is_empty() {
        return Err("no pages and no HTML documents: nothing to navigate to".into());
    }

    let mut steps = Vec::new();
    for (k, (id, start)) in pages.iter().enumerate() {
        // Entries without a page go to the page open when they started.
        for r in reqs.iter_mut().filter(|r| r.doc.is_none()) {
            let next = pages.get(k + 1).map_or(f64::MAX, |p| p.1);
            if r.start_ms >= *start && r.start_ms < next {
                r.doc = Some(id.clone());
            }
        }
        let doc = reqs.iter_mut().find(|r| {
            r.doc.as_deref() == Some(id)
                && kind_of(r.resource_type.as_deref(), r.mime.as_deref(), &r.url)
                    == Some(throng_flow::RequestKind::Document)
        });
        let url = match doc {
            Some(d) => {
                d.main_document = true;
                d.final_url.clone()
            }
            None => continue,
        };
        // A page's step starts with its first request (the page record may be stamped later).
        let first = reqs
            .iter()
            .filter(|r| r.doc.as_deref() == Some(id))
            .map(|r| r.start_ms)
            .fold(*start, f64::min);
        steps.push(RawStep::new(first, Action::navigate(url)));
    }
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
        end_ms: None,
        web_sockets: Vec::new(),
    };
    let mut built = build_report(&cap);
    let flow = &mut built.flow;
    for s in &secrets {
        flow.variables
            .push(Variable::secret(s.name.clone(), env_name(&s.name)));
    }
    hide_values(&secrets, flow);
    Ok(built)
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

/// A HAR lists each redirect hop; a flow keeps the chain as its first request with the final
/// response (replay clients follow redirects themselves).
fn collapse_redirects(reqs: Vec<RawRequest>) -> Vec<RawRequest> {
    let mut out: Vec<RawRequest> = Vec::with_capacity(reqs.len());
    let mut open: Vec<(String, usize)> = Vec::new(); // (expected next URL, index in out)
    for r in reqs {
        if let Some(pos) = open.iter().position(|(u, _)| *u == r.url) {
            let (_, at) = open.remove(pos);
            let first = &mut out[at];
            let redirected = r.status.is_some_and(|s| (300..400).contains(&s));
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
        let redirected = r.status.is_some_and(|s| (300..400).contains(&s)) && r.final_url != r.url;
        if redirected {
            open.push((r.final_url.clone(), out.len()));
        }
        out.push(r);
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
            out.push(SecretValue { name, value: v });
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
