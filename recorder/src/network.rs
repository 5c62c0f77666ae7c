//! Request classification (document / static / ajax / beacon), the headers worth keeping, and
//! polling detection (a request the page repeats on a steady period or from a timer).

use crate::capture::RawRequest;
use std::collections::{BTreeMap, HashMap};
use throng_flow::RequestKind;

/// The kind of a request from its resource type (CDP or HAR spelling) and MIME type; `None` for
/// requests a flow does not replay (preflights, WebSockets, prefetches, non-HTTP URLs).
pub fn kind_of(resource_type: Option<&str>, mime: Option<&str>, url: &str) -> Option<RequestKind> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return None;
    }
    let rt = resource_type.unwrap_or("").to_ascii_lowercase();
    // The browser asks for icons by itself (no document, no script did): a page's asset.
    if implicit_icon(url) {
        return Some(RequestKind::Static);
    }
    match rt.as_str() {
        "document" => Some(RequestKind::Document),
        "stylesheet" | "image" | "media" | "font" | "script" | "texttrack" | "manifest" => {
            Some(RequestKind::Static)
        }
        "xhr" | "fetch" | "eventsource" => Some(RequestKind::Ajax),
        "ping" | "cspviolationreport" | "beacon" => Some(RequestKind::Beacon),
        "preflight" | "websocket" | "signedexchange" | "prefetch" | "fedcm" => None,
        // CDP's "Other" is what the browser fetched on its own: never a document (only
        // navigations are), whatever an error page's MIME type says.
        "other" => match kind_from_mime(mime.unwrap_or("")) {
            RequestKind::Document => Some(RequestKind::Static),
            k => Some(k),
        },
        _ => Some(kind_from_mime(mime.unwrap_or(""))),
    }
}

/// `/favicon.ico` and the touch icons browsers request without being asked by the page.
fn implicit_icon(url: &str) -> bool {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_ascii_lowercase())
        .unwrap_or_default();
    path == "/favicon.ico" || (path.starts_with("/apple-touch-icon") && path.ends_with(".png"))
}

fn kind_from_mime(mime: &str) -> RequestKind {
    let m = mime.to_ascii_lowercase();
    if m.starts_with("text/html") || m.starts_with("application/xhtml") {
        RequestKind::Document
    } else if m.contains("json") || m.contains("xml") || m.starts_with("text/plain") {
        RequestKind::Ajax
    } else {
        RequestKind::Static
    }
}

/// The CDP spelling of a resource type (HAR writes it in lower case).
pub fn cdp_resource_type(rt: &str) -> String {
    match rt.to_ascii_lowercase().as_str() {
        "xhr" => "XHR".into(),
        "eventsource" => "EventSource".into(),
        "texttrack" => "TextTrack".into(),
        "cspviolationreport" => "CSPViolationReport".into(),
        "signedexchange" => "SignedExchange".into(),
        _ => {
            let mut c = rt.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}

/// Headers a replay needs: content type, custom (x-*) and auth headers, `accept` of API calls.
/// The browser's own (user agent, client hints, referer, cookies, encodings) are left to the
/// replaying client.
pub fn kept_headers(headers: &[(String, String)], kind: RequestKind) -> BTreeMap<String, String> {
    const DROP: &[&str] = &[
        "user-agent",
        "referer",
        "origin",
        "cookie",
        "host",
        "connection",
        "content-length",
        "accept-encoding",
        "accept-language",
        "upgrade-insecure-requests",
        "cache-control",
        "pragma",
        "priority",
        "dnt",
        "if-none-match",
        "if-modified-since",
        "purpose",
        "x-client-data",
        "range",
    ];
    headers
        .iter()
        .filter_map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            let drop = DROP.contains(&k.as_str())
                || k.starts_with("sec-")
                || k.starts_with(':')
                || (k == "accept" && kind != RequestKind::Ajax && kind != RequestKind::Polling);
            (!drop).then(|| (k, v.clone()))
        })
        .collect()
}

/// The grouping key of a request for polling: method and URL, with cache-busting query values
/// (timestamps, random numbers) blanked so every tick of one poller shares a key.
pub fn poll_key(method: &str, url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return format!("{method} {url}");
    };
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let busting = ["_", "t", "ts", "timestamp", "cb", "nocache", "rand", "r"]
                    .contains(&k.as_ref())
                    || (v.len() >= 9 && v.chars().all(|c| c.is_ascii_digit()));
                (
                    k.into_owned(),
                    if busting { "*".into() } else { v.into_owned() },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.set_fragment(None);
    format!("{method} {u}")
}

/// The grouping key of a request for polling: method, URL without cache busters, and body
/// (long numbers in it blanked too), so two POSTs with different bodies are two requests.
pub fn poll_group_key(method: &str, url: &str, body: Option<&str>) -> String {
    let mut key = poll_key(method, url);
    if let Some(body) = body {
        key.push('\n');
        let mut digits = String::new();
        for c in body.chars().chain(std::iter::once('\0')) {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            key.push_str(if digits.len() >= 9 { "*" } else { &digits });
            digits.clear();
            if c != '\0' {
                key.push(c);
            }
        }
    }
    key
}

/// A poller found: its period and the status its ticks answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub key: String,
    pub period_ms: u64,
    pub status: Option<u16>,
}

/// Finds pollers. A poller is a request the page repeated at least three times within one
/// document on a steady period (two thirds of the intervals within 25% of their median, at
/// least 200 ms), grouped by method, URL without cache busters, and body. Once a key polls on
/// some page, its timer-started requests on other pages are its ticks too (the same timer,
/// restarted by a new page). Everything else is a one-off request of the step that caused it.
/// Returns, for each request that is a tick, its poller.
pub fn detect_polling(reqs: &[RawRequest], kinds: &[Option<RequestKind>]) -> HashMap<usize, Found> {
    let mut groups: HashMap<(String, Option<&str>), Vec<usize>> = HashMap::new();
    for (i, (r, k)) in reqs.iter().zip(kinds).enumerate() {
        if *k != Some(RequestKind::Ajax) {
            continue;
        }
        let key = poll_group_key(&r.method, &r.url, r.body.as_deref());
        groups.entry((key, r.doc.as_deref())).or_default().push(i);
    }
    let mut intervals: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut ticks: Vec<(&str, usize)> = Vec::new();
    let mut others: Vec<(&str, &[usize])> = Vec::new();
    for ((key, _), members) in &mut groups {
        members.sort_by(|&a, &b| reqs[a].start_ms.total_cmp(&reqs[b].start_ms));
        let iv: Vec<f64> = members
            .windows(2)
            .map(|w| reqs[w[1]].start_ms - reqs[w[0]].start_ms)
            .collect();
        if members.len() >= 3 && steady(&iv) {
            intervals.entry(key).or_default().extend(iv);
            ticks.extend(members.iter().map(|&i| (key.as_str(), i)));
        } else {
            others.push((key.as_str(), members.as_slice()));
        }
    }
    for (key, members) in others {
        if intervals.contains_key(key) {
            let timed = members.iter().filter(|&&i| reqs[i].timer);
            ticks.extend(timed.map(|&i| (key, i)));
        }
    }
    let mut found: HashMap<&str, Found> = HashMap::new();
    for (key, iv) in &mut intervals {
        iv.sort_by(f64::total_cmp);
        let mut statuses: HashMap<Option<u16>, usize> = HashMap::new();
        for (_, i) in ticks.iter().filter(|(k, _)| k == key) {
            *statuses.entry(reqs[*i].status).or_default() += 1;
        }
        let status = statuses
            .into_iter()
            .max_by_key(|(s, n)| (*n, s.is_some()))
            .and_then(|(s, _)| s);
        found.insert(
            key,
            Found {
                key: key.to_string(),
                period_ms: iv[iv.len() / 2].round() as u64,
                status,
            },
        );
    }
    ticks
        .into_iter()
        .map(|(key, i)| (i, found[key].clone()))
        .collect()
}

/// Intervals of a timer: a median of at least 200 ms, two thirds of them within 25% of it.
fn steady(iv: &[f64]) -> bool {
    if iv.len() < 2 {
        return false;
    }
    let mut sorted = iv.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let near = sorted
        .iter()
        .filter(|d| (*d - median).abs() <= 0.25 * median)
        .count();
    median >= 200.0 && near * 3 >= iv.len() * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str, doc: &str, start: f64) -> RawRequest {
        RawRequest {
            method: "GET".into(),
            url: url.into(),
            doc: Some(doc.into()),
            start_ms: start,
            ..Default::default()
        }
    }

    #[test]
    fn steady_repeats_become_a_poller_with_the_median_period() {
        let reqs = vec![
            req("http://h/api/n", "d1", 1000.0),
            req("http://h/api/n", "d1", 3010.0),
            req("http://h/api/n", "d1", 4990.0),
            req("http://h/api/n", "d1", 7000.0),
            req("http://h/api/featured", "d1", 500.0),
            // A new page restarts the timer: its first tick must not count as an interval.
            req("http://h/api/n", "d2", 7300.0),
        ];
        let kinds = vec![Some(RequestKind::Ajax); reqs.len()];
        let p = detect_polling(&reqs, &kinds);
        assert_eq!(p.len(), 4, "the four ticks of d1: {p:?}");
        let period = p[&0].period_ms;
        assert!((1990..=2010).contains(&period), "{period}");
        assert!(
            !p.contains_key(&5),
            "a one-off on another page without a timer"
        );
    }

    #[test]
    fn requests_repeated_once_per_page_are_not_polling() {
        let reqs = vec![
            req("http://h/api/cart/count", "d1", 0.0),
            req("http://h/api/cart/count", "d2", 2000.0),
            req("http://h/api/cart/count", "d3", 4000.0),
        ];
        let kinds = vec![Some(RequestKind::Ajax); 3];
        assert!(detect_polling(&reqs, &kinds).is_empty());
    }

    #[test]
    fn a_request_sent_twice_or_with_different_bodies_is_no_poller() {
        let post = |body: &str, start: f64, status: u16| RawRequest {
            method: "POST".into(),
            body: Some(body.into()),
            status: Some(status),
            timer: true,
            ..req("http://h/api.php", "d1", start)
        };
        // Before login (401) and after (200): twice is not a timer.
        let twice = vec![
            RawRequest {
                status: Some(401),
                ..req("http://h/api/me", "d1", 100.0)
            },
            RawRequest {
                status: Some(200),
                ..req("http://h/api/me", "d1", 939.0)
            },
        ];
        let kinds = vec![Some(RequestKind::Ajax); 2];
        assert!(detect_polling(&twice, &kinds).is_empty());
        // An edit preview and a logout to one URL: different bodies, different requests; the
        // status poll with a timestamp in its body is one poller that answered 401.
        let reqs = vec![
            post("action=preview&text=a", 1000.0, 200),
            post("action=logout&token=abc", 1839.0, 200),
            post("action=preview&text=b", 2678.0, 200),
            post("{\"op\":\"status\",\"t\":1732300001000}", 3000.0, 401),
            post("{\"op\":\"status\",\"t\":1732300002000}", 4000.0, 401),
            post("{\"op\":\"status\",\"t\":1732300003000}", 5000.0, 401),
        ];
        let kinds = vec![Some(RequestKind::Ajax); reqs.len()];
        let p = detect_polling(&reqs, &kinds);
        let mut ticks: Vec<usize> = p.keys().copied().collect();
        ticks.sort();
        assert_eq!(ticks, [3, 4, 5], "{p:?}");
        assert_eq!(p[&3].period_ms, 1000);
        assert_eq!(p[&3].status, Some(401), "the poller keeps its status");
    }

    #[test]
    fn cache_busters_share_a_poll_key() {
        assert_eq!(
            poll_key("GET", "http://h/api/n?since=1732300000123&x=1"),
            poll_key("GET", "http://h/api/n?since=1732300002456&x=1")
        );
        assert_ne!(
            poll_key("GET", "http://h/api/n?x=1"),
            poll_key("GET", "http://h/api/n?x=2")
        );
    }

    #[test]
    fn kinds_follow_resource_type_then_mime() {
        assert_eq!(
            kind_of(Some("Script"), None, "http://h/a.js"),
            Some(RequestKind::Static)
        );
        assert_eq!(
            kind_of(Some("fetch"), None, "http://h/a"),
            Some(RequestKind::Ajax)
        );
        assert_eq!(kind_of(Some("Preflight"), None, "http://h/a"), None);
        assert_eq!(
            kind_of(None, Some("text/html"), "http://h/"),
            Some(RequestKind::Document)
        );
        assert_eq!(
            kind_of(Some("other"), Some("application/json"), "http://h/"),
            Some(RequestKind::Ajax)
        );
        assert_eq!(kind_of(Some("Image"), None, "data:image/png,xx"), None);
        // The favicon the browser asked for, answered by an HTML 404 page.
        assert_eq!(
            kind_of(Some("Other"), Some("text/html"), "http://h/favicon.ico"),
            Some(RequestKind::Static)
        );
        assert_eq!(
            kind_of(None, Some("text/html"), "http://h/favicon.ico"),
            Some(RequestKind::Static)
        );
        assert_eq!(
            kind_of(Some("Other"), Some("text/html"), "http://h/x"),
            Some(RequestKind::Static)
        );
    }
}
