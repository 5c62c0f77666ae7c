//! Reports of changed keys only: a worker sends the cumulative entries of the keys whose
//! counts moved since its last acknowledged report (failure records and kept
//! sessions only when there are new ones) (a lost report's keys go again), and the
//! coordinator replaces those keys in the worker's stored summary, keeping the others.

use crate::metrics::{EntrySummary, MetricKey, Mode, RunSummary, SampleKind, NAMES_PER_GROUP};
use std::collections::{BTreeMap, HashMap};

/// Keys a worker's stored summary may hold: far beyond any flow's (names are folded past a
/// bound), so partial reports cannot grow the coordinator without end.
pub const MAX_KEYS: usize = 50_000;

/// What moved a key: a report carries it again when any of these changed.
type Counts = (u64, u64, u64);

fn counts(e: &EntrySummary) -> Counts {
    (e.count, e.failures, e.interrupted)
}

/// The worker's side: what the coordinator acknowledged.
#[derive(Debug, Default)]
pub struct Acked {
    keys: HashMap<MetricKey, Counts>,
    failures: usize,
    sessions: usize,
}

impl Acked {
    /// `s` cut to what changed since the last acknowledged report: its entries of moved
    /// keys, its failure records only when there are new ones.
    pub fn changed(&self, s: &mut RunSummary) {
        s.entries
            .retain(|e| self.keys.get(&e.key()) != Some(&counts(e)));
        if s.failures.len() == self.failures {
            s.failures.clear();
        }
        if s.sessions.len() == self.sessions {
            s.sessions.clear();
        }
    }

    /// The coordinator acknowledged the report of `sent` (a cut summary).
    pub fn ack(&mut self, sent: &RunSummary) {
        for e in &sent.entries {
            self.keys.insert(e.key(), counts(e));
        }
        self.failures = self.failures.max(sent.failures.len());
        self.sessions = self.sessions.max(sent.sessions.len());
    }
}

/// The coordinator's side: `stored` with `new`'s keys replaced or added (sorted by key as a
/// summary's are); an error when that would hold more than [`MAX_KEYS`] keys.
pub fn replace_keys(
    stored: &[EntrySummary],
    new: Vec<EntrySummary>,
) -> Result<Vec<EntrySummary>, String> {
    let mut all: BTreeMap<MetricKey, EntrySummary> =
        stored.iter().map(|e| (e.key(), e.clone())).collect();
    for e in new {
        if all.len() >= MAX_KEYS && !all.contains_key(&e.key()) {
            return Err(format!("more than {MAX_KEYS} metric keys"));
        }
        all.insert(e.key(), e);
    }
    Ok(all.into_values().collect())
}

/// `Ok` when `entries` hold no more names per (mode, flow, step, kind) than a real worker
/// keeps (its [`NAMES_PER_GROUP`] and `other`): a worker inventing names is refused before
/// the coordinator stores or merges them.
pub fn names_per_group(entries: &[EntrySummary]) -> Result<(), String> {
    let mut groups: HashMap<(Mode, &str, Option<u32>, SampleKind), usize> = HashMap::new();
    for e in entries {
        let n = groups
            .entry((e.mode, e.flow.as_str(), e.step, e.kind))
            .or_default();
        *n += 1;
        if *n > NAMES_PER_GROUP + 1 {
            return Err(format!(
                "more than {} names in one group ({} {} step {:?} {})",
                NAMES_PER_GROUP + 1,
                e.mode,
                e.flow,
                e.step,
                e.kind
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EntryParts, Mode, SampleKind};
    use std::time::Duration;

    fn entry(name: &str, count: u64) -> EntrySummary {
        let key = MetricKey::new(Mode::Http, "shop", Some(0), SampleKind::Document, name);
        let parts = EntryParts {
            count,
            failures: 0,
            interrupted: 0,
            failures_by_outcome: BTreeMap::new(),
            bytes: count * 10,
            raw: hdrhistogram::Histogram::new(3).expect("a histogram"),
            corrected: None,
            slowest: Vec::new(),
        };
        EntrySummary::from_parts(&key, &parts, Duration::from_secs(1))
    }

    fn names_counts(entries: &[EntrySummary]) -> Vec<(String, u64)> {
        entries.iter().map(|e| (e.name.clone(), e.count)).collect()
    }

    fn pairs(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn a_key_sent_once_keeps_its_value_and_a_resent_key_replaces() {
        let first = replace_keys(&[], vec![entry("/a", 3), entry("/b", 1)]).unwrap();
        // `/a` absent from the next report keeps 3; `/b` re-sent replaces (not adds).
        let second = replace_keys(&first, vec![entry("/b", 5), entry("/c", 2)]).unwrap();
        assert_eq!(
            names_counts(&second),
            pairs(&[("/a", 3), ("/b", 5), ("/c", 2)])
        );
        // The same report twice (its reply lost, sent again) changes nothing.
        assert_eq!(replace_keys(&second, vec![entry("/b", 5)]).unwrap(), second);
    }

    #[test]
    fn a_lost_reports_keys_are_sent_again_and_acked_keys_are_not() {
        let mut acked = Acked::default();
        let snapshot = |a: u64, b: u64| RunSummary {
            entries: vec![entry("/a", a), entry("/b", b)],
            ..RunSummary::default()
        };
        let mut first = snapshot(1, 1);
        acked.changed(&mut first);
        assert_eq!(names_counts(&first.entries), pairs(&[("/a", 1), ("/b", 1)]));
        // First report lost (no ack): both keys go again, with their new counts.
        let mut again = snapshot(2, 1);
        acked.changed(&mut again);
        assert_eq!(names_counts(&again.entries), pairs(&[("/a", 2), ("/b", 1)]));
        acked.ack(&again);
        // Acked: only the key that moved goes next.
        let mut next = snapshot(2, 4);
        acked.changed(&mut next);
        assert_eq!(names_counts(&next.entries), pairs(&[("/b", 4)]));
        // Nothing moved: an empty report.
        acked.ack(&next);
        let mut idle = snapshot(2, 4);
        acked.changed(&mut idle);
        assert!(idle.entries.is_empty());
    }

    #[test]
    fn a_group_holds_no_more_names_than_a_worker_keeps() {
        let names = |n: usize| -> Vec<EntrySummary> {
            (0..n).map(|i| entry(&format!("/{i}"), 1)).collect()
        };
        assert!(names_per_group(&names(NAMES_PER_GROUP + 1)).is_ok());
        let err = names_per_group(&names(NAMES_PER_GROUP + 2)).unwrap_err();
        assert!(err.contains("names in one group"), "{err}");
    }

    #[test]
    fn a_stored_summary_cannot_grow_past_the_key_cap() {
        let one = entry("/", 1);
        let many: Vec<EntrySummary> = (0..MAX_KEYS)
            .map(|i| EntrySummary {
                name: format!("/{i}"),
                ..one.clone()
            })
            .collect();
        let full = replace_keys(&[], many).unwrap();
        assert!(replace_keys(&full, vec![entry("/0", 9)]).is_ok());
        let err = replace_keys(&full, vec![entry("/new", 1)]).unwrap_err();
        assert!(err.contains("metric keys"), "{err}");
    }
}
