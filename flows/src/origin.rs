//! The origin a flow was recorded against, and rewriting it to another (`--target`).

use super::model::{Action, Flow};
use std::collections::BTreeMap;
use url::Url;

/// The recorded origin as a URL with path `/`: the explicit `origin`, else the origin of the
/// first `navigate` to an absolute http(s) URL.
pub fn origin(flow: &Flow) -> Option<Url> {
    if let Some(o) = &flow.origin {
        return http_origin(o);
    }
    flow.steps.iter().find_map(|s| match &s.action {
        Action::Navigate { url, .. } => http_origin(url),
        _ => None,
    })
}

fn http_origin(s: &str) -> Option<Url> {
    let u = Url::parse(s).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    Url::parse(&u.origin().ascii_serialization()).ok()
}

/// Rewrites every URL of the recorded origin (steps, asserted events, network requests,
/// pollers, `Origin`/`Referer`/`Host` headers) to `target`'s origin; other origins and
/// relative URLs are left alone. Only the scheme://host:port prefix of each URL is replaced,
/// so paths keep their `${placeholders}` byte for byte. No-op when the flow has no origin.
pub fn rewrite_origin(flow: &mut Flow, target: &Url) {
    let Some(from) = origin(flow) else { return };
    let Some(to) = http_origin(target.as_str()) else {
        return;
    };
    let to_prefix = to.origin().ascii_serialization();
    let rw = |s: &mut String| {
        if let Some(new) = rewrite_url(s, &from, &to_prefix) {
            *s = new;
        }
    };
    if let Some(o) = flow.origin.as_mut() {
        *o = to_prefix.clone();
    }
    let from_host = host_port(&from);
    let to_host = host_port(&to);
    let headers = |h: &mut BTreeMap<String, String>| {
        for (name, value) in h.iter_mut() {
            if name.eq_ignore_ascii_case("origin") || name.eq_ignore_ascii_case("referer") {
                rw(value);
            } else if name.eq_ignore_ascii_case("host") && *value == from_host {
                value.clone_from(&to_host);
            }
        }
    };
    for step in &mut flow.steps {
        // Recorder fields and their templates alike: a rewritten flow replays on the target in
        // Chrome's Recorder too.
        if let Action::Navigate { url, url_template } = &mut step.action {
            for u in std::iter::once(url).chain(url_template.as_mut()) {
                rw(u);
            }
        }
        for ev in &mut step.asserted_events {
            for u in ev.url.iter_mut().chain(ev.url_template.as_mut()) {
                rw(u);
            }
        }
        let Some(net) = step.network.as_mut() else {
            continue;
        };
        for req in &mut net.requests {
            rw(&mut req.url);
            headers(&mut req.headers);
        }
        for poll in &mut net.polling {
            rw(&mut poll.url);
            headers(&mut poll.headers);
        }
        for stream in &mut net.event_sources {
            rw(&mut stream.url);
            headers(&mut stream.headers);
        }
        for stream in &mut net.streams {
            rw(&mut stream.url);
            headers(&mut stream.headers);
        }
        for ws in &mut net.web_sockets {
            // ws:// and wss:// belong to the http:// and https:// origins.
            let mut as_http = ws_to_http(&ws.url);
            rw(&mut as_http);
            ws.url = http_to_ws(&as_http);
        }
    }
}

fn ws_to_http(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        url.to_string()
    }
}

/// The WebSocket URL of an http(s) URL (what [`ws_to_http`] undoes).
pub fn http_to_ws(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        url.to_string()
    }
}

/// `s` with its scheme://authority replaced by `to`, when that authority is `from`'s origin.
fn rewrite_url(s: &str, from: &Url, to: &str) -> Option<String> {
    let after_scheme = s.find("://")? + 3;
    let end = s[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| after_scheme + i);
    let prefix = Url::parse(&s[..end]).ok()?;
    (prefix.origin() == from.origin()).then(|| format!("{to}{}", &s[end..]))
}

/// The `Host` header value for a URL: host, plus the port when it is not the default.
fn host_port(u: &Url) -> String {
    let host = u.host_str().unwrap_or_default();
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    const FLOW: &str = r#"{
      "title": "t",
      "steps": [
        {"type": "navigate", "url": "http://127.0.0.1:8080/?q=${q}",
         "assertedEvents": [{"type": "navigation", "url": "http://127.0.0.1:8080/"}],
         "network": {
           "requests": [
             {"kind": "document", "url": "http://127.0.0.1:8080/?q=${q}",
              "headers": {"Referer": "http://127.0.0.1:8080/login", "host": "127.0.0.1:8080"}},
             {"kind": "static", "url": "https://cdn.example.com/app.js"},
             {"kind": "ajax", "url": "/api/cart"},
             {"kind": "ajax", "url": "http://127.0.0.1:8081/other-port"}
           ],
           "polling": [{"url": "http://127.0.0.1:8080/api/notifications", "periodMs": 2000,
                        "headers": {"Origin": "http://127.0.0.1:8080"}}]}},
        {"type": "navigate", "url": "http://127.0.0.1:8080#top"}
      ],
      "variables": [{"name": "q", "oneOf": ["lamp"]}]
    }"#;

    #[test]
    fn origin_comes_from_the_first_navigate_or_the_explicit_field() {
        let mut flow = parse(FLOW, "t.json").unwrap();
        assert_eq!(origin(&flow).unwrap().as_str(), "http://127.0.0.1:8080/");
        flow.origin = Some("https://shop.example:8443".into());
        assert_eq!(
            origin(&flow).unwrap().as_str(),
            "https://shop.example:8443/"
        );
    }

    #[test]
    fn no_origin_without_an_absolute_http_navigate() {
        let flow = parse(
            r#"{"title": "t", "steps": [{"type": "navigate", "url": "about:blank"}]}"#,
            "t.json",
        )
        .unwrap();
        assert_eq!(origin(&flow), None);
    }

    #[test]
    fn rewrite_moves_every_url_of_the_recorded_origin() {
        let mut flow = parse(FLOW, "t.json").unwrap();
        rewrite_origin(
            &mut flow,
            &Url::parse("https://test.local:9443/ignored").unwrap(),
        );
        let Action::Navigate { url, .. } = &flow.steps[0].action else {
            panic!("step 1 is a navigate")
        };
        assert_eq!(url, "https://test.local:9443/?q=${q}");
        let ev = flow.steps[0].asserted_events[0].url.as_deref();
        assert_eq!(ev, Some("https://test.local:9443/"));
        let net = flow.steps[0].network.as_ref().unwrap();
        let urls: Vec<&str> = net.requests.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://test.local:9443/?q=${q}",
                "https://cdn.example.com/app.js",
                "/api/cart",
                "http://127.0.0.1:8081/other-port",
            ]
        );
        let h = &net.requests[0].headers;
        assert_eq!(h["Referer"], "https://test.local:9443/login");
        assert_eq!(h["host"], "test.local:9443");
        assert_eq!(
            net.polling[0].url,
            "https://test.local:9443/api/notifications"
        );
        assert_eq!(net.polling[0].headers["Origin"], "https://test.local:9443");
        let Action::Navigate { url, .. } = &flow.steps[1].action else {
            panic!("step 2 is a navigate")
        };
        assert_eq!(url, "https://test.local:9443#top");
        assert_eq!(origin(&flow).unwrap().as_str(), "https://test.local:9443/");
    }

    #[test]
    fn rewrite_updates_an_explicit_origin_and_treats_default_ports_as_equal() {
        let src = r#"{"title": "t", "origin": "http://shop.example",
            "steps": [{"type": "navigate", "url": "http://shop.example:80/a"}]}"#;
        let mut flow = parse(src, "t.json").unwrap();
        rewrite_origin(&mut flow, &Url::parse("http://127.0.0.1:3000").unwrap());
        assert_eq!(flow.origin.as_deref(), Some("http://127.0.0.1:3000"));
        let Action::Navigate { url, .. } = &flow.steps[0].action else {
            panic!("navigate")
        };
        assert_eq!(url, "http://127.0.0.1:3000/a");
    }
}
