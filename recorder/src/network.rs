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

/// Finds pollers: for each request key, the intervals between its repeats within one document.
/// A key is a poller when it repeats on a steady period (at least two intervals, two thirds of
/// them within 25% of the median) or repeats from a timer. Returns key -> period in ms.
pub fn detect_polling(reqs: &[RawRequest], kinds: &[Option<RequestKind>]) -> HashMap<String, u64> {
    let mut groups: HashMap<(String, Option<String>), Vec<f64>> = HashMap::new();
    let mut timer_keys: HashMap<String, bool> = HashMap::new();
    for (r, k) in reqs.iter().zip(kinds) {
        if *k != Some(RequestKind::Ajax) {
            continue;
        }
        let key = poll_key(&r.method, &r.url);
        *timer_keys.entry(key.clone()).or_default() |= r.timer;
        groups
            .entry((key, r.doc.clone()))
            .or_default()
            .push(r.start_ms);
    }
    let mut intervals: HashMap<String, Vec<f64>> = HashMap::new();
    for ((key, _), mut starts) in groups {
        starts.sort_by(f64::total_cmp);
        let e = intervals.entry(key).or_default();
        e.extend(starts.windows(2).map(|w| w[1] - w[0]));
    }
    let mut out = HashMap::new();
    for (key, mut iv) in intervals {
        let timer = timer_keys.get(&key).copied().unwrap_or(false);
        if iv.is_empty() || (iv.len() < 2 && !timer) {
            continue;
        }
        iv.sort_by(f64::total_cmp);
        let median = iv[iv.len() / 2];
        if median < 200.0 {
            continue;
        }
        let steady = iv
            .iter()
            .filter(|d| (*d - median).abs() <= 0.25 * median)
            .count();
        if steady * 3 >= iv.len() * 2 {
            out.insert(key, median.round() as u64);
        }
    }
    out
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
        assert_eq!(p.len(), 1);
        let period = p["GET http://h/api/n"];
        assert!((1990..=2010).contains(&period), "{period}");
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
