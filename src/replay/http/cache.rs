//! A virtual user's HTTP cache for static assets, with a browser's (private cache) rules from
//! RFC 9111: explicit freshness (`max-age`, `Expires` against `Date`, `Age`), heuristic
//! freshness (10% of the time since `Last-Modified` for heuristically cacheable statuses),
//! `s-maxage` ignored, `no-cache`, `no-store`, `must-revalidate`, `Vary`; fresh entries are not
//! refetched, stale ones are revalidated with their validators (ETag / Last-Modified).
//!
//! The rules are kornelski's `http-cache-semantics` crate (the port of the npm package that
//! proxies and caching clients use) with its private-cache options, rather than hand-written
//! ones: it parses the HTTP dates and keeps the RFC's corner cases (invalid `Expires` is
//! already expired, `Vary: *` never matches, weak validators only on GET, 304 merging).

use http::header::HeaderMap;
use http_cache_semantics::{AfterResponse, BeforeRequest, CacheOptions, CachePolicy};
use std::collections::HashMap;
use std::time::SystemTime;

/// What to do about a URL before fetching it.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// Served from cache: no request.
    Fresh,
    /// Send a conditional request with these headers.
    Revalidate(Vec<(&'static str, String)>),
    Miss,
}

/// A browser's cache is private: `s-maxage` and `proxy-revalidate` are for shared caches,
/// `private` responses are stored. Heuristic freshness is 10% of the time since
/// `Last-Modified` (RFC 9111 4.2.2, what Chromium and Firefox use).
fn options() -> CacheOptions {
    CacheOptions {
        shared: false,
        cache_heuristic: 0.1,
        ..CacheOptions::default()
    }
}

#[derive(Debug, Default)]
pub struct AssetCache {
    entries: HashMap<String, CachePolicy>,
    enabled: bool,
}

/// The request a page makes for an asset: a plain GET of its URL.
fn asset_request(url: &str) -> Option<http::request::Parts> {
    let uri: http::Uri = url.parse().ok()?;
    let (parts, ()) = http::Request::get(uri).body(()).ok()?.into_parts();
    Some(parts)
}

fn response(status: u16, headers: &HeaderMap) -> Option<http::response::Parts> {
    let mut parts = http::Response::builder()
        .status(status)
        .body(())
        .ok()?
        .into_parts()
        .0;
    parts.headers = headers.clone();
    Some(parts)
}

impl AssetCache {
    pub fn new(enabled: bool) -> Self {
        AssetCache {
            entries: HashMap::new(),
            enabled,
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn lookup(&self, url: &str, now: SystemTime) -> Lookup {
        let Some(policy) = self.entries.get(url).filter(|_| self.enabled) else {
            return Lookup::Miss;
        };
        let Some(req) = asset_request(url) else {
            return Lookup::Miss;
        };
        match policy.before_request(&req, now) {
            BeforeRequest::Fresh(_) => Lookup::Fresh,
            BeforeRequest::Stale { request, .. } => {
                let mut headers = Vec::new();
                for name in ["if-none-match", "if-modified-since"] {
                    if let Some(v) = request.headers.get(name).and_then(|v| v.to_str().ok()) {
                        headers.push((name, v.to_string()));
                    }
                }
                if headers.is_empty() {
                    Lookup::Miss
                } else {
                    Lookup::Revalidate(headers)
                }
            }
        }
    }

    /// Stores a response's caching policy, or merges a 304 into the stored one.
    pub fn store(&mut self, url: &str, status: u16, headers: &HeaderMap, now: SystemTime) {
        if !self.enabled {
            return;
        }
        let (Some(req), Some(res)) = (asset_request(url), response(status, headers)) else {
            return;
        };
        let policy = match (status, self.entries.get(url)) {
            (304, Some(old)) => match old.after_response(&req, &res, now) {
                AfterResponse::NotModified(policy, _) | AfterResponse::Modified(policy, _) => {
                    policy
                }
            },
            (304, None) => return,
            _ => CachePolicy::new_options(&req, &res, now, options()),
        };
        let validators = headers.contains_key(http::header::ETAG)
            || headers.contains_key(http::header::LAST_MODIFIED)
            || status == 304;
        if policy.is_storable() && (validators || !policy.is_stale(now)) {
            self.entries.insert(url.to_string(), policy);
        } else {
            self.entries.remove(url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;
    use std::time::Duration;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn date(t: SystemTime) -> String {
        httpdate::fmt_http_date(t)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn t0() -> SystemTime {
        // A whole second: HTTP dates have no fractions.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn max_age_is_fresh_then_revalidates() {
        let mut c = AssetCache::new(true);
        let t0 = t0();
        let h = headers(&[
            ("cache-control", "public, max-age=10".into()),
            ("etag", "\"x\"".into()),
            ("date", date(t0)),
        ]);
        c.store("http://h/u", 200, &h, t0);
        assert_eq!(
            c.lookup("http://h/u", t0 + Duration::from_secs(5)),
            Lookup::Fresh
        );
        assert_eq!(
            c.lookup("http://h/u", t0 + Duration::from_secs(11)),
            Lookup::Revalidate(vec![("if-none-match", "\"x\"".to_string())])
        );
    }

    #[test]
    fn last_modified_alone_is_fresh_for_a_tenth_of_its_age() {
        // Modified 10 hours before the response: fresh for 1 hour (RFC 9111 4.2.2).
        let mut c = AssetCache::new(true);
        let t0 = t0();
        let lm = date(t0 - 10 * HOUR);
        let h = headers(&[("last-modified", lm.clone()), ("date", date(t0))]);
        c.store("http://h/a.css", 200, &h, t0);
        let at = |d: Duration| c.lookup("http://h/a.css", t0 + d);
        assert_eq!(at(Duration::from_secs(3590)), Lookup::Fresh);
        assert_eq!(
            at(Duration::from_secs(3610)),
            Lookup::Revalidate(vec![("if-modified-since", lm)])
        );
    }

    #[test]
    fn a_304_refreshes_the_entry() {
        let mut c = AssetCache::new(true);
        let t0 = t0();
        let lm = date(t0 - 100 * Duration::from_secs(1));
        let h = headers(&[("last-modified", lm.clone()), ("date", date(t0))]);
        c.store("http://h/a", 200, &h, t0);
        let t1 = t0 + Duration::from_secs(20);
        assert!(matches!(c.lookup("http://h/a", t1), Lookup::Revalidate(_)));
        let h304 = headers(&[("last-modified", lm), ("date", date(t1))]);
        c.store("http://h/a", 304, &h304, t1);
        // 120 s since Last-Modified at the 304: fresh for 12 s more.
        assert_eq!(
            c.lookup("http://h/a", t1 + Duration::from_secs(5)),
            Lookup::Fresh
        );
    }

    #[test]
    fn heuristics_only_for_cacheable_statuses_and_not_with_no_cache() {
        let t0 = t0();
        let lm = date(t0 - 10 * HOUR);
        let mut c = AssetCache::new(true);
        // 302 is not heuristically cacheable; no-cache always revalidates.
        c.store(
            "http://h/r",
            302,
            &headers(&[("last-modified", lm.clone()), ("date", date(t0))]),
            t0,
        );
        assert_eq!(c.lookup("http://h/r", t0), Lookup::Miss);
        c.store(
            "http://h/n",
            200,
            &headers(&[
                ("cache-control", "no-cache".into()),
                ("last-modified", lm.clone()),
                ("date", date(t0)),
            ]),
            t0,
        );
        assert!(matches!(c.lookup("http://h/n", t0), Lookup::Revalidate(_)));
    }

    #[test]
    fn age_expires_and_s_maxage_as_a_private_cache_reads_them() {
        let t0 = t0();
        let mut c = AssetCache::new(true);
        // max-age 60 of which 50 s were spent in a proxy: 10 s left.
        let aged = headers(&[
            ("cache-control", "max-age=60".into()),
            ("age", "50".into()),
            ("etag", "\"e\"".into()),
        ]);
        c.store("http://h/aged", 200, &aged, t0);
        assert_eq!(
            c.lookup("http://h/aged", t0 + Duration::from_secs(5)),
            Lookup::Fresh
        );
        assert!(matches!(
            c.lookup("http://h/aged", t0 + Duration::from_secs(15)),
            Lookup::Revalidate(_)
        ));
        // Expires 2 minutes after Date.
        let exp = headers(&[
            ("expires", date(t0 + Duration::from_secs(120))),
            ("date", date(t0)),
        ]);
        c.store("http://h/exp", 200, &exp, t0);
        assert_eq!(
            c.lookup("http://h/exp", t0 + Duration::from_secs(100)),
            Lookup::Fresh
        );
        assert_eq!(
            c.lookup("http://h/exp", t0 + Duration::from_secs(130)),
            Lookup::Miss,
            "expired without validators: fetched again"
        );
        // s-maxage is for shared caches: this one uses max-age=0 and revalidates.
        let shared = headers(&[
            ("cache-control", "max-age=0, s-maxage=600".into()),
            ("etag", "\"s\"".into()),
        ]);
        c.store("http://h/s", 200, &shared, t0);
        assert!(matches!(c.lookup("http://h/s", t0), Lookup::Revalidate(_)));
        // must-revalidate: stale means revalidate, never served stale.
        let must = headers(&[
            ("cache-control", "max-age=1, must-revalidate".into()),
            ("etag", "\"m\"".into()),
        ]);
        c.store("http://h/m", 200, &must, t0);
        assert!(matches!(
            c.lookup("http://h/m", t0 + Duration::from_secs(2)),
            Lookup::Revalidate(_)
        ));
    }

    #[test]
    fn no_store_and_disabled_never_cache() {
        let mut c = AssetCache::new(true);
        let t0 = t0();
        c.store(
            "http://h/u",
            200,
            &headers(&[
                ("cache-control", "no-store".into()),
                ("etag", "\"x\"".into()),
            ]),
            t0,
        );
        assert_eq!(c.lookup("http://h/u", t0), Lookup::Miss);
        let mut off = AssetCache::new(false);
        off.store(
            "http://h/u",
            200,
            &headers(&[("cache-control", "max-age=100".into())]),
            t0,
        );
        assert_eq!(off.lookup("http://h/u", t0), Lookup::Miss);
    }
}
