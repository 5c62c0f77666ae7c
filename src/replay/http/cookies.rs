//! A virtual user's cookie jar; cleared between sessions so each iteration starts fresh. It
//! holds what a browser's would (Chromium's limits): a cookie's name and value together at
//! most 4096 bytes, a Path or Domain longer than 1024 bytes ignored, at most 180 cookies per
//! domain and 3300 in all, the oldest evicted first. So no server can grow a user's memory or
//! Cookie header without bound (one header holds at most 180 cookies of each matching domain).

use http::header::HeaderValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use url::Url;

/// Longest name and value of one cookie, together.
pub const MAX_COOKIE_BYTES: usize = 4096;
/// Longest Path or Domain attribute kept (a longer one is ignored, as if absent).
const MAX_ATTRIBUTE: usize = 1024;
/// Most cookies of one domain; past it, the oldest go until [`PURGED_DOMAIN`] are left.
pub const MAX_PER_DOMAIN: usize = 180;
const PURGED_DOMAIN: usize = 150;
/// Most cookies in all; past it, the oldest go until [`PURGED_ALL`] are left.
pub const MAX_COOKIES: usize = 3300;
const PURGED_ALL: usize = 3000;

/// The cookies one user's browser holds (RFC 6265 matching by cookie_store).
#[derive(Default)]
pub struct UserJar {
    jar: RwLock<Jar>,
    /// Whether anything was ever stored since the last clear: most requests of a
    /// cookie-less target then skip the domain/path matching entirely.
    used: AtomicBool,
}

/// Domain, path and name: what identifies a stored cookie.
type Key = (String, String, String);

#[derive(Default)]
struct Jar {
    store: cookie_store::CookieStore,
    /// When each stored cookie (expired ones too, until purged) was first set, as a counter:
    /// an overwritten cookie keeps its age, as in Chromium.
    born: HashMap<Key, u64>,
    next: u64,
}

impl UserJar {
    pub fn clear(&self) {
        if self.used.swap(false, Ordering::Relaxed) {
            let mut jar = self.jar.write().expect("cookie jar lock");
            jar.store.clear();
            jar.born.clear();
        }
    }

    /// Stores the `Set-Cookie` values of a response to `url`.
    pub fn store_from<'h>(&self, values: impl Iterator<Item = &'h HeaderValue>, url: &Url) {
        let mut cookies = values
            .filter_map(|v| cookie::Cookie::parse(v.to_str().ok()?.to_string()).ok())
            .filter_map(browser_limits)
            .peekable();
        if cookies.peek().is_none() {
            return;
        }
        self.used.store(true, Ordering::Relaxed);
        let mut jar = self.jar.write().expect("cookie jar lock");
        for cookie in cookies {
            // The log's redactor masks the value (the line names it as a Set-Cookie).
            tracing::debug!("cookie jar of a user, from {url}: set-cookie: {cookie}");
            jar.insert(&cookie, url);
        }
        jar.evict();
    }

    /// The `Cookie` header a browser would send to `url`, if any.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        if !self.used.load(Ordering::Relaxed) {
            return None;
        }
        let jar = self.jar.read().expect("cookie jar lock");
        let mut joined = String::new();
        for (name, value) in jar.store.get_request_values(url) {
            if !joined.is_empty() {
                joined.push_str("; ");
            }
            joined.push_str(name);
            joined.push('=');
            joined.push_str(value);
        }
        (!joined.is_empty()).then_some(joined)
    }
}

/// A cookie as a browser takes it: refused when its name and value are too long, its
/// over-long Path or Domain ignored.
fn browser_limits(mut cookie: cookie::Cookie<'static>) -> Option<cookie::Cookie<'static>> {
    if cookie.name().len() + cookie.value().len() > MAX_COOKIE_BYTES {
        return None;
    }
    if cookie.path().is_some_and(|p| p.len() > MAX_ATTRIBUTE) {
        cookie.unset_path();
    }
    if cookie.domain().is_some_and(|d| d.len() > MAX_ATTRIBUTE) {
        cookie.unset_domain();
    }
    Some(cookie)
}

fn key_of(cookie: &cookie_store::Cookie<'_>) -> Option<Key> {
    Some((
        cookie.domain.as_cow()?.into_owned(),
        String::from(&cookie.path),
        cookie.name().to_string(),
    ))
}

impl Jar {
    fn insert(&mut self, raw: &cookie::Cookie<'static>, url: &Url) {
        let Ok(cookie) = cookie_store::Cookie::try_from_raw_cookie(raw, url) else {
            return;
        };
        let Some(key) = key_of(&cookie) else { return };
        if self.store.insert(cookie.into_owned(), url).is_ok() {
            let next = &mut self.next;
            self.born.entry(key).or_insert_with(|| {
                *next += 1;
                *next
            });
        }
    }

    /// Drops expired cookies (the store keeps them) and, past a cap, the oldest.
    fn evict(&mut self) {
        // Below one domain's cap, no cap can be passed.
        if self.born.len() <= MAX_PER_DOMAIN && !self.store.iter_any().any(|c| c.is_expired()) {
            return;
        }
        let mut live: Vec<(u64, Key)> = Vec::with_capacity(self.born.len());
        let mut gone = Vec::new();
        for cookie in self.store.iter_any() {
            let Some(key) = key_of(cookie) else { continue };
            if cookie.is_expired() {
                gone.push(key);
            } else {
                live.push((self.born.get(&key).copied().unwrap_or(0), key));
            }
        }
        // Oldest first.
        live.sort_unstable();
        let mut per_domain: HashMap<&str, usize> = HashMap::new();
        for (_, (domain, ..)) in &live {
            *per_domain.entry(domain.as_str()).or_default() += 1;
        }
        let mut over: HashMap<String, usize> = per_domain
            .into_iter()
            .filter(|(_, n)| *n > MAX_PER_DOMAIN)
            .map(|(d, n)| (d.to_string(), n - PURGED_DOMAIN))
            .collect();
        let mut kept = Vec::with_capacity(live.len());
        for (_, key) in live {
            match over.get_mut(&key.0) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    gone.push(key);
                }
                _ => kept.push(key),
            }
        }
        if kept.len() > MAX_COOKIES {
            let excess = kept.len() - PURGED_ALL;
            gone.extend(kept.drain(..excess));
        }
        for key in gone {
            self.store.remove(&key.0, &key.1, &key.2);
            self.born.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_matches_by_path_and_clears() {
        let jar = UserJar::default();
        let url = Url::parse("http://127.0.0.1:8080/login").unwrap();
        assert_eq!(jar.header_for(&url), None);
        let values = [
            HeaderValue::from_static("sid=abc; Path=/; HttpOnly"),
            HeaderValue::from_static("only=here; Path=/admin"),
        ];
        jar.store_from(values.iter(), &url);
        let home = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(jar.header_for(&home).as_deref(), Some("sid=abc"));
        let admin = Url::parse("http://127.0.0.1:8080/admin/x").unwrap();
        let both = jar.header_for(&admin).unwrap();
        assert!(
            both.contains("sid=abc") && both.contains("only=here"),
            "{both}"
        );
        jar.clear();
        assert_eq!(jar.header_for(&home), None);
    }

    fn set(jar: &UserJar, url: &Url, cookies: impl IntoIterator<Item = String>) {
        let values: Vec<HeaderValue> = cookies
            .into_iter()
            .map(|c| HeaderValue::from_str(&c).unwrap())
            .collect();
        jar.store_from(values.iter(), url);
    }

    fn names(header: &str) -> Vec<&str> {
        header
            .split("; ")
            .map(|c| c.split('=').next().unwrap())
            .collect()
    }

    #[test]
    fn a_domain_keeps_at_most_180_cookies_the_oldest_evicted() {
        let jar = UserJar::default();
        let url = Url::parse("http://127.0.0.1/").unwrap();
        // Set one at a time, as a flood of responses would; `c0`, overwritten at first,
        // keeps its age.
        for i in 0..400 {
            set(&jar, &url, [format!("c{i}=v; Path=/")]);
            if i < 100 {
                set(&jar, &url, ["c0=again; Path=/".to_string()]);
            }
        }
        let header = jar.header_for(&url).unwrap();
        let held = names(&header);
        assert!(held.len() <= MAX_PER_DOMAIN, "{}", held.len());
        assert!(held.len() >= PURGED_DOMAIN, "{}", held.len());
        // The newest are all there; the oldest (c0 among them) went first.
        assert!(held.contains(&"c399") && !held.contains(&"c0") && !held.contains(&"c1"));
    }

    #[test]
    fn oversized_cookies_and_attributes_are_treated_as_a_browser_does() {
        let jar = UserJar::default();
        let url = Url::parse("http://127.0.0.1/a/b").unwrap();
        let big = "x".repeat(MAX_COOKIE_BYTES);
        let long_path = format!("/{}", "p".repeat(MAX_ATTRIBUTE + 1));
        set(
            &jar,
            &url,
            [
                format!("big={big}"),
                format!("fits={}", &big[..MAX_COOKIE_BYTES - 4]),
                format!("p=1; Path={long_path}"),
            ],
        );
        let header = jar.header_for(&url).unwrap();
        let mut held = names(&header);
        held.sort_unstable();
        assert_eq!(held, ["fits", "p"], "{}", header.len());
        // The over-long Path was ignored: the default path (/a) applies.
        assert!(jar
            .header_for(&Url::parse("http://127.0.0.1/a/c").unwrap())
            .unwrap()
            .contains("p=1"));
    }

    #[test]
    fn expired_cookies_leave_and_all_domains_together_hold_at_most_3300() {
        let jar = UserJar::default();
        let url = Url::parse("http://127.0.0.1/").unwrap();
        set(&jar, &url, (0..100).map(|i| format!("e{i}=v")));
        set(&jar, &url, (0..100).map(|i| format!("e{i}=; Max-Age=0")));
        assert_eq!(jar.header_for(&url), None);
        assert!(jar.jar.read().unwrap().born.is_empty());
        // 20 hosts of 170 cookies each: 3,400, past the total cap.
        for h in 0..20 {
            let url = Url::parse(&format!("http://h{h}.test/")).unwrap();
            set(&jar, &url, (0..170).map(|i| format!("c{i}=v")));
        }
        let jar = jar.jar.read().unwrap();
        assert_eq!(jar.born.len(), PURGED_ALL);
        assert_eq!(jar.store.iter_any().count(), PURGED_ALL);
    }
}
