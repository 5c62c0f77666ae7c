//! Static assets of a page: found in its HTML (and fonts in its CSS) the way a browser finds
//! them, then fetched with browser-like parallelism through the user's cache.

use super::cache::Lookup;
use super::client::Response;
use super::client::{Request, Tag, UserClient};
use crate::metrics::Outcome;
use crate::metrics::SampleKind;
use futures::stream::{FuturesUnordered, StreamExt};
use scraper::{Html, Selector};
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::SystemTime;
use url::Url;

/// Asset URLs an HTML document makes a browser fetch, in document order, deduplicated.
pub fn discover_in_html(doc: &Html, base: &Url) -> Vec<Url> {
    static SELECTOR: OnceLock<Selector> = OnceLock::new();
    let selector = SELECTOR.get_or_init(|| {
        Selector::parse(
            "link[href], script[src], img[src], source[src], video[poster], audio[src], embed[src]",
        )
        .expect("static selector")
    });
    let base = doc
        .select(&Selector::parse("base[href]").expect("static selector"))
        .next()
        .and_then(|b| base.join(b.value().attr("href")?).ok())
        .unwrap_or_else(|| base.clone());
    let mut seen = HashSet::new();
    let mut urls = Vec::new();
    for el in doc.select(selector) {
        let v = el.value();
        let link = match v.name() {
            "link" => {
                let rel = v.attr("rel").unwrap_or("").to_ascii_lowercase();
                let fetched = rel.split_whitespace().any(|r| {
                    matches!(
                        r,
                        "stylesheet" | "preload" | "modulepreload" | "icon" | "manifest"
                    )
                });
                if !fetched {
                    continue;
                }
                v.attr("href")
            }
            "video" => v.attr("poster"),
            _ => v.attr("src"),
        };
        let Some(link) = link.map(str::trim).filter(|l| !l.is_empty()) else {
            continue;
        };
        if link.starts_with("data:") || link.starts_with("javascript:") {
            continue;
        }
        if let Ok(url) = base.join(link) {
            if matches!(url.scheme(), "http" | "https") && seen.insert(url.to_string()) {
                urls.push(url);
            }
        }
    }
    urls
}

/// Font files a stylesheet declares in `@font-face` (browsers fetch them as the page uses them).
pub fn discover_fonts_in_css(css: &str, base: &Url) -> Vec<Url> {
    static URL_RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = URL_RE.get_or_init(|| {
        regex::Regex::new(r#"url\(\s*['"]?([^'")]+\.(?:woff2?|ttf|otf)(?:\?[^'")]*)?)['"]?\s*\)"#)
            .expect("static regex")
    });
    let mut seen = HashSet::new();
    re.captures_iter(css)
        .filter_map(|c| base.join(&c[1]).ok())
        .filter(|u| seen.insert(u.to_string()))
        .collect()
}

/// Outcome of fetching a page's assets.
#[derive(Debug, Default)]
pub struct AssetFetch {
    pub fetched: usize,
    pub from_cache: usize,
    pub failed: usize,
    pub blocked: usize,
}

/// Fetches `urls` (and, with `fonts`, the fonts their stylesheets declare) with at most
/// `parallel` in flight, skipping what the cache holds fresh and hosts that are not allowed.
/// Assets a recording listed come without `fonts`: it lists the fonts the browser used, where a
/// stylesheet may declare many more that no page of the flow shows (a browser fetches a font
/// only for text drawn with it).
pub async fn fetch_all(
    client: &UserClient,
    urls: Vec<Url>,
    tag: &Tag,
    parallel: usize,
    allowed: &(dyn Fn(&Url) -> bool + Sync),
    expected: &[(Url, u16)],
    fonts: bool,
) -> AssetFetch {
    let mut result = AssetFetch::default();
    let mut queue = urls;
    let mut seen: HashSet<String> = queue.iter().map(|u| u.to_string()).collect();
    while !queue.is_empty() {
        let mut wave = Vec::new();
        for url in std::mem::take(&mut queue) {
            if !allowed(&url) {
                result.blocked += 1;
                continue;
            }
            match client.cache_lookup(url.as_str(), SystemTime::now()) {
                Lookup::Fresh => result.from_cache += 1,
                Lookup::Revalidate(headers) => wave.push((url, headers)),
                Lookup::Miss => wave.push((url, Vec::new())),
            }
        }
        // At most `parallel` in flight, like a browser's per-host connection limit.
        let mut pending = wave.into_iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < parallel.max(1) {
                let Some((url, conditional)) = pending.next() else {
                    break;
                };
                let expect = expected.iter().find(|(u, _)| *u == url).map(|(_, s)| *s);
                in_flight.push(fetch_one(client, url, tag, conditional, expect, fonts));
            }
            // Each response is used and dropped as it arrives: a page's assets are not all
            // held at once (thousands of users loading pages together would hold them all).
            let Some((url, response, fonts)) = in_flight.next().await else {
                break;
            };
            match response {
                Ok(resp) => {
                    result.fetched += 1;
                    client.cache_store(url.as_str(), resp.status, &resp.headers, SystemTime::now());
                    let recorded = expected.iter().any(|(u, s)| *u == url && *s == resp.status);
                    if resp.status >= 400 && !recorded {
                        result.failed += 1;
                    }
                    for font in fonts {
                        if seen.insert(font.to_string()) {
                            queue.push(font);
                        }
                    }
                }
                Err(_) => result.failed += 1,
            }
        }
    }
    result
}

async fn fetch_one(
    client: &UserClient,
    url: Url,
    tag: &Tag,
    conditional: Vec<(&'static str, String)>,
    expect: Option<u16>,
    follow_fonts: bool,
) -> (Url, Result<Response, Outcome>, Vec<Url>) {
    let req = Request {
        expect,
        ..Request::get(url.clone(), SampleKind::Static)
    };
    let response = client.send(req, tag, &conditional).await;
    // The fonts a stylesheet declares, found off the runtime (a stylesheet may be megabytes)
    // while the page's other assets keep loading.
    let fonts = match &response {
        Ok(r) if follow_fonts && is_css(&r.headers) && r.status == 200 && !r.body.is_empty() => {
            let (css, base) = (r.body.clone(), r.final_url.clone());
            client
                .off_runtime(move |_| discover_fonts_in_css(&String::from_utf8_lossy(&css), &base))
                .await
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    (url, response, fonts)
}

fn is_css(headers: &http::header::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/css"))
}

/// Whether a response is an HTML document (worth scanning for assets).
pub fn is_html(headers: &http::header::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_a_browser_fetches() {
        let base = Url::parse("http://h/shop/page").unwrap();
        let html = r#"<html><head>
            <link rel="stylesheet" href="/app.css"><link rel="icon" href="/favicon.ico">
            <link rel="canonical" href="/shop/page"><link rel="preload" href="f.woff2" as="font">
            <script src="/app.js"></script><script>inline()</script></head>
            <body><img src="a.png"><img src="data:image/png;base64,xx"><img src="/app.css"></body></html>"#;
        let doc = Html::parse_document(html);
        let found: Vec<String> = discover_in_html(&doc, &base)
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "http://h/app.css",
                "http://h/favicon.ico",
                "http://h/shop/f.woff2",
                "http://h/app.js",
                "http://h/shop/a.png"
            ]
        );
    }

    #[test]
    fn finds_fonts_in_css() {
        let base = Url::parse("http://h/static/app.css").unwrap();
        let css = "@font-face{src:url('/static/font.woff2') format('woff2'), url(font.ttf)} body{background:url(bg.png)}";
        let found: Vec<String> = discover_fonts_in_css(css, &base)
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            found,
            ["http://h/static/font.woff2", "http://h/static/font.ttf"]
        );
    }
}
