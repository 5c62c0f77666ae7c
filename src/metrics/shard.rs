//! Recording shards: per-key cells of counters and sample buffers, drained by the aggregator.
//!
//! A cell buffers raw microsecond values instead of owning a histogram: a fixed-size
//! 1 us..1 h histogram is ~190 KB, and shards x keys of them would dominate memory on a
//! 10,000-user run. The aggregator folds buffers into one histogram per key about once a
//! second and keeps their capacity, so memory stays flat. A buffer that reaches
//! [`SAMPLE_CAP`] between drains is folded by the recording thread itself.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use super::key::{MetricKey, Outcome};
use super::trace::{keep_slowest, Exemplar};
use crate::sync::Locked;

/// Exemplars a cell keeps between drains: its slowest traced samples.
const CELL_EXEMPLARS: usize = 4;

/// Samples a cell may buffer before the recorder folds them itself.
pub const SAMPLE_CAP: usize = 16_384;

/// Everything recorded for one key since the last drain.
#[derive(Default, Debug)]
pub struct Cell {
    pub count: u64,
    pub failures: u64,
    /// Requests cut by throng (counted, never a failure, no latency sample).
    pub interrupted: u64,
    pub bytes: u64,
    /// Outcomes other than ok and their counts (few distinct values: linear search is fastest).
    pub outcomes: Vec<(Outcome, u64)>,
    /// On-time samples, microseconds.
    pub samples: Vec<u32>,
    /// Late samples: (raw, corrected) microseconds.
    pub late: Vec<(u32, u32)>,
    /// The slowest traced samples since the last drain (`--trace`).
    pub exemplars: Vec<Exemplar>,
}

impl Cell {
    /// Counts the outcome; false for an interrupted request, whose time is how long it was
    /// open when cut, not a latency (it gets no sample).
    fn note_outcome(&mut self, outcome: Outcome) -> bool {
        self.count += 1;
        if outcome == Outcome::Ok {
            return true;
        }
        if outcome == Outcome::Interrupted {
            self.interrupted += 1;
        } else {
            self.failures += 1;
        }
        match self.outcomes.iter_mut().find(|(o, _)| *o == outcome) {
            Some((_, n)) => *n += 1,
            None => self.outcomes.push((outcome, 1)),
        }
        outcome != Outcome::Interrupted
    }

    pub fn push(&mut self, us: u32, outcome: Outcome) {
        if self.note_outcome(outcome) {
            self.samples.push(us);
        }
    }

    pub fn push_late(&mut self, raw: u32, corrected: u32, outcome: Outcome) {
        if self.note_outcome(outcome) {
            self.late.push((raw, corrected));
        }
    }

    pub fn keep_exemplar(&mut self, e: Exemplar) {
        keep_slowest(&mut self.exemplars, e, CELL_EXEMPLARS);
    }

    pub fn is_full(&self) -> bool {
        self.samples.len() + self.late.len() >= SAMPLE_CAP
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
            && self.bytes == 0
            && self.samples.is_empty()
            && self.late.is_empty()
            && self.exemplars.is_empty()
    }

    /// Zero the counters and empty the buffers, keeping their capacity for reuse.
    pub fn clear(&mut self) {
        self.count = 0;
        self.failures = 0;
        self.interrupted = 0;
        self.bytes = 0;
        self.outcomes.clear();
        self.samples.clear();
        self.late.clear();
        self.exemplars.clear();
    }

    /// Buffered capacity in samples (for memory checks).
    pub fn capacity(&self) -> usize {
        self.samples.capacity() + self.late.capacity()
    }
}

/// FxHash (rustc's hasher): the keys are our own, so SipHash's DoS resistance buys nothing
/// on the hottest path of the sink.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A HashMap using [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// One shard: a lock around the cells of the recorders mapped to it.
#[derive(Default)]
pub struct Shard {
    pub cells: Mutex<FxMap<MetricKey, Cell>>,
}

impl Shard {
    /// Apply `f` to the key's cell, creating it on first use (the key is cloned only then).
    /// A key this shard has not seen is first put to `admit`, which may redirect it to
    /// another key (its group's `other` name, see [`super::names`]). Returns the cell's
    /// content, with the key it belongs to, when it became full, for the caller to fold
    /// outside the lock.
    pub fn with_cell(
        &self,
        key: &MetricKey,
        admit: impl FnOnce(&MetricKey) -> Option<MetricKey>,
        f: impl FnOnce(&mut Cell),
    ) -> Option<(MetricKey, Cell)> {
        let mut cells = self.cells.locked();
        if let Some(cell) = cells.get_mut(key) {
            f(cell);
            return cell.is_full().then(|| (key.clone(), std::mem::take(cell)));
        }
        let key = admit(key).unwrap_or_else(|| key.clone());
        let cell = cells.entry(key.clone()).or_default();
        f(cell);
        cell.is_full().then(|| (key, std::mem::take(cell)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Mode, SampleKind};

    #[test]
    fn cell_counts_failures_by_outcome() {
        let mut c = Cell::default();
        c.push(10, Outcome::Ok);
        c.push(20, Outcome::Status(500));
        c.push(30, Outcome::Status(500));
        c.push_late(40, 90, Outcome::Timeout);
        assert_eq!((c.count, c.failures), (4, 3));
        assert_eq!(
            c.outcomes,
            vec![(Outcome::Status(500), 2), (Outcome::Timeout, 1)]
        );
        let cap = c.capacity();
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.capacity(), cap);
    }

    #[test]
    fn an_interrupted_request_is_counted_apart_without_a_latency() {
        let mut c = Cell::default();
        c.push(10, Outcome::Ok);
        c.push(14_000_000, Outcome::Interrupted);
        c.push_late(20, 30, Outcome::Interrupted);
        assert_eq!((c.count, c.failures, c.interrupted), (3, 0, 2));
        assert_eq!(c.samples, vec![10]);
        assert!(c.late.is_empty());
        assert_eq!(c.outcomes, vec![(Outcome::Interrupted, 2)]);
    }

    #[test]
    fn full_cell_is_handed_back_and_emptied() {
        let shard = Shard::default();
        let key = MetricKey::new(Mode::Http, "f", Some(0), SampleKind::Ajax, "GET /x");
        for i in 0..SAMPLE_CAP - 1 {
            assert!(shard
                .with_cell(&key, |_| None, |c| c.push(i as u32, Outcome::Ok))
                .is_none());
        }
        let (_, full) = shard
            .with_cell(&key, |_| None, |c| c.push(1, Outcome::Ok))
            .expect("full");
        assert_eq!(full.samples.len(), SAMPLE_CAP);
        assert_eq!(full.count, SAMPLE_CAP as u64);
        let cells = shard.cells.lock().unwrap();
        assert!(cells[&key].is_empty());
    }
}
