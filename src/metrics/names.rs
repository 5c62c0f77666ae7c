//! Bounded metric names: ids in URL paths (long numbers, UUIDs, hex hashes, long tokens)
//! become `{id}`, and each (mode, flow, step, kind) keeps at most [`NAMES_PER_GROUP`] names;
//! later ones are folded into one `other` name and counted. A target that redirects to a
//! fresh path every time can then not grow the run's memory without bound.

use std::collections::HashSet;
use std::sync::Arc;

use super::key::{MetricKey, Mode, SampleKind};
use super::shard::FxMap;

/// Distinct names kept per (mode, flow, step, kind).
pub const NAMES_PER_GROUP: usize = 100;
/// The name samples beyond the cap are recorded under.
pub const OTHER_NAME: &str = "other";
/// Distinct folded names remembered (for the counter) before it stops counting new ones.
const FOLDED_TRACKED: usize = 65_536;

/// `url` (query and fragment already stripped) with id-like path parts replaced by `{id}`.
pub fn group_ids(url: &str) -> String {
    let (head, path) = match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url.split_at(i + 3 + j),
            None => return url.to_string(),
        },
        None => ("", url),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(head);
    for (n, segment) in path.split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        if is_uuid(segment) {
            out.push_str("{id}");
            continue;
        }
        // Parts of a segment: `app.3f9a8b7c6d5e4f3a.js`, `order-20240117123456`.
        let mut start = 0;
        for (i, c) in segment.char_indices().chain([(segment.len(), '/')]) {
            if matches!(c, '.' | '-' | '_' | '/') {
                let part = &segment[start..i];
                out.push_str(if is_id(part) { "{id}" } else { part });
                if i < segment.len() {
                    out.push(c);
                }
                start = i + c.len_utf8();
            }
        }
    }
    out
}

/// A number of 4+ digits, a hex hash of 16+ characters, or a 24+ character token mixing
/// letters and digits.
fn is_id(part: &str) -> bool {
    let b = part.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    (digits == b.len() && b.len() >= 4)
        || (b.len() >= 16 && b.iter().all(u8::is_ascii_hexdigit))
        || (b.len() >= 24 && b.iter().all(u8::is_ascii_alphanumeric))
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

type Group = (Mode, Arc<str>, Option<u32>, SampleKind);

/// The names admitted so far, per group. Consulted only when a shard sees a key for the
/// first time (or a key over the cap), never on the hot path of a known key.
#[derive(Default)]
pub struct NameBudget {
    groups: FxMap<Group, HashSet<Arc<str>>>,
    /// Hashes of names folded into `other` (bounded), to count distinct ones.
    folded: HashSet<u64>,
}

impl NameBudget {
    /// `None` when `key` may be recorded as it is; else the `other` key of its group and
    /// whether `key`'s name was folded for the first time.
    pub fn admit(&mut self, key: &MetricKey) -> Option<(MetricKey, bool)> {
        let group = (key.mode, key.flow.clone(), key.step, key.kind);
        let names = self.groups.entry(group).or_default();
        if names.contains(&key.name) || &*key.name == OTHER_NAME {
            return None;
        }
        if names.len() < NAMES_PER_GROUP {
            names.insert(key.name.clone());
            return None;
        }
        let first = self.folded.len() < FOLDED_TRACKED && self.folded.insert(hash(key));
        let other = MetricKey {
            name: Arc::from(OTHER_NAME),
            ..key.clone()
        };
        Some((other, first))
    }
}

fn hash(key: &MetricKey) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<super::shard::FxHasher>::default().hash_one(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_are_grouped_and_short_numbers_kept() {
        let cases = [
            ("http://h:8080/product/3", "http://h:8080/product/3"),
            ("http://h/users/123456/orders", "http://h/users/{id}/orders"),
            (
                "http://h/o/550e8400-e29b-41d4-a716-446655440000",
                "http://h/o/{id}",
            ),
            (
                "http://h/static/app.3f9a8b7c6d5e4f3a.js",
                "http://h/static/app.{id}.js",
            ),
            (
                "http://h/static/img/product-12.svg",
                "http://h/static/img/product-12.svg",
            ),
            ("http://h/t/aZ9bY8cX7dW6eV5fU4gT3hS2", "http://h/t/{id}"),
            ("http://h/api/v2/cart", "http://h/api/v2/cart"),
            ("http://h", "http://h"),
            ("GET", "GET"),
        ];
        for (url, want) in cases {
            assert_eq!(group_ids(url), want, "{url}");
        }
    }

    #[test]
    fn a_group_keeps_its_first_names_then_folds_into_other() {
        let mut b = NameBudget::default();
        let key =
            |name: String| MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Document, name);
        for i in 0..NAMES_PER_GROUP {
            assert!(b.admit(&key(format!("GET /p{i}"))).is_none());
        }
        assert!(b.admit(&key("GET /p0".into())).is_none());
        let (other, first) = b.admit(&key("GET /new".into())).expect("over the cap");
        assert_eq!((&*other.name, first), (OTHER_NAME, true));
        assert_eq!(b.admit(&key("GET /new".into())).map(|o| o.1), Some(false));
        // Another kind of the same step is another group.
        let ajax = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Ajax, "GET /new");
        assert!(b.admit(&ajax).is_none());
    }
}
