//! A virtual user's HTTP cache for static assets: fresh entries are not refetched,
//! stale ones are revalidated with their validators (ETag / Last-Modified).

use http::header::{HeaderMap, CACHE_CONTROL, ETAG, EXPIRES, LAST_MODIFIED};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Entry {
    fresh_until: Instant,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// What to do about a URL before fetching it.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// Served from cache: no request.
    Fresh,
    /// Send a conditional request with these headers.
    Revalidate(Vec<(&'static str, String)>),
    Miss,
}

#[derive(Debug, Default)]
pub struct AssetCache {
    entries: HashMap<String, Entry>,
    enabled: bool,
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

    pub fn lookup(&self, url: &str, now: Instant) -> Lookup {
        let Some(entry) = self.entries.get(url).filter(|_| self.enabled) else {
            return Lookup::Miss;
        };
        if now < entry.fresh_until {
            return Lookup::Fresh;
        }
        let mut headers = Vec::new();
        if let Some(etag) = &entry.etag {
            headers.push(("if-none-match", etag.clone()));
        }
        if let Some(lm) = &entry.last_modified {
            headers.push(("if-modified-since", lm.clone()));
        }
        if headers.is_empty() {
            Lookup::Miss
        } else {
            Lookup::Revalidate(headers)
        }
    }

    /// Stores a 200 response's caching headers, or refreshes an entry on 304.
    pub fn store(&mut self, url: &str, status: u16, headers: &HeaderMap, now: Instant) {
        if !self.enabled || !(status == 200 || status == 304) {
            return;
        }
        let cache_control = header_str(headers, CACHE_CONTROL).unwrap_or_default();
        let directives: Vec<String> = cache_control
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        if directives.iter().any(|d| d == "no-store") {
            self.entries.remove(url);
            return;
        }
        let max_age = directives
            .iter()
            .find_map(|d| d.strip_prefix("max-age=")?.parse::<u64>().ok());
        let lifetime = if directives.iter().any(|d| d == "no-cache") {
            Duration::ZERO
        } else if let Some(secs) = max_age {
            Duration::from_secs(secs)
        } else if headers.contains_key(EXPIRES) {
            // Without a date parser we treat Expires as "cacheable for a while", as browsers
            // do heuristically; max-age is what the demo and most CDNs send.
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        };
        let old = self.entries.remove(url);
        let etag = header_str(headers, ETAG).or_else(|| old.as_ref()?.etag.clone());
        let last_modified =
            header_str(headers, LAST_MODIFIED).or_else(|| old.as_ref()?.last_modified.clone());
        if lifetime.is_zero() && etag.is_none() && last_modified.is_none() {
            return;
        }
        self.entries.insert(
            url.to_string(),
            Entry {
                fresh_until: now + lifetime,
                etag,
                last_modified,
            },
        );
    }
}

fn header_str(headers: &HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn max_age_is_fresh_then_revalidates() {
        let mut c = AssetCache::new(true);
        let t0 = Instant::now();
        c.store(
            "u",
            200,
            &headers(&[("cache-control", "public, max-age=10"), ("etag", "\"x\"")]),
            t0,
        );
        assert_eq!(c.lookup("u", t0 + Duration::from_secs(5)), Lookup::Fresh);
        assert_eq!(
            c.lookup("u", t0 + Duration::from_secs(11)),
            Lookup::Revalidate(vec![("if-none-match", "\"x\"".to_string())])
        );
    }

    #[test]
    fn no_store_and_disabled_never_cache() {
        let mut c = AssetCache::new(true);
        let t0 = Instant::now();
        c.store(
            "u",
            200,
            &headers(&[("cache-control", "no-store"), ("etag", "\"x\"")]),
            t0,
        );
        assert_eq!(c.lookup("u", t0), Lookup::Miss);
        let mut off = AssetCache::new(false);
        off.store("u", 200, &headers(&[("cache-control", "max-age=100")]), t0);
        assert_eq!(off.lookup("u", t0), Lookup::Miss);
    }

    #[test]
    fn no_cache_revalidates_every_time() {
        let mut c = AssetCache::new(true);
        let t0 = Instant::now();
        c.store(
            "u",
            200,
            &headers(&[("cache-control", "no-cache"), ("last-modified", "Mon")]),
            t0,
        );
        assert!(matches!(c.lookup("u", t0), Lookup::Revalidate(_)));
    }
}
