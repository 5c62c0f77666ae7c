//! Fixed latency buckets kept beside each key's HDR histogram (counts and an exact sum), so an
//! exporter that wants cumulative buckets (Prometheus) reads a few numbers per key instead of
//! walking the histogram.

use hdrhistogram::Histogram;

use super::trace::Exemplar;

/// Upper bounds of the buckets, microseconds (a last, unbounded bucket follows).
pub const BUCKET_BOUNDS_US: [u64; 16] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
];

/// Per-bucket (not cumulative) counts, the last one above every bound, and the sum of the
/// values recorded; with `--trace`, each bucket's latest exemplar (a traced sample in it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    pub counts: [u64; BUCKET_BOUNDS_US.len() + 1],
    pub sum_us: u64,
    pub exemplars: [Option<Exemplar>; BUCKET_BOUNDS_US.len() + 1],
}

impl Buckets {
    /// Counts `us`, just recorded into `hist`. It is placed by its highest equivalent value in
    /// `hist`, the value HDR's percentiles report, so a percentile of the histogram lies in
    /// the bucket that holds its rank.
    pub fn record(&mut self, hist: &Histogram<u64>, us: u64) {
        let v = hist.highest_equivalent(us);
        let i = BUCKET_BOUNDS_US.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum_us += us;
    }

    /// The buckets of a whole histogram (a merged or saved run), by walking it; the sum is
    /// HDR's (values at their bucket's highest equivalent).
    pub fn of_histogram(hist: &Histogram<u64>) -> Buckets {
        let mut b = Buckets::default();
        for v in hist.iter_recorded() {
            let value = v.value_iterated_to();
            let i = BUCKET_BOUNDS_US.partition_point(|bound| *bound < value);
            b.counts[i] += v.count_at_value();
            b.sum_us += value * v.count_at_value();
        }
        b
    }

    /// Keeps `e` as the exemplar of the bucket its value lies in, unless that bucket has a
    /// later one.
    pub fn place(&mut self, e: Exemplar) {
        let i = BUCKET_BOUNDS_US.partition_point(|b| *b < u64::from(e.latency_us));
        let slot = &mut self.exemplars[i];
        if slot.is_none_or(|old| old.unix_ms <= e.unix_ms) {
            *slot = Some(e);
        }
    }

    pub fn add(&mut self, other: &Buckets) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_us += other.sum_us;
        for e in other.exemplars.iter().flatten() {
            self.place(*e);
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_histogram;
    use crate::metrics::serialize::record_us;

    #[test]
    fn a_percentile_lies_in_the_bucket_of_its_rank() {
        let mut h = new_histogram();
        let mut b = Buckets::default();
        // Values around a bound: 1000 us is on it, 1000.x us are HDR-equivalent to above it.
        for us in [999u64, 1000, 1001, 1003, 2_600, 60_000, 200_000_000] {
            record_us(&mut h, us, 1);
            b.record(&h, us);
        }
        assert_eq!(b.count(), 7);
        assert_eq!(
            b.sum_us,
            999 + 1000 + 1001 + 1003 + 2_600 + 60_000 + 200_000_000
        );
        assert_eq!(b.counts[16], 1, "beyond every bound");
        for q in [0.1, 0.3, 0.5, 0.6, 0.7, 0.9] {
            let v = h.value_at_quantile(q);
            let rank = (q * 7.0).ceil() as u64;
            let mut cumulative = 0;
            let bucket = b.counts.iter().position(|c| {
                cumulative += c;
                cumulative >= rank
            });
            let i = BUCKET_BOUNDS_US.partition_point(|bound| *bound < v);
            assert_eq!(bucket, Some(i), "q {q}: value {v}");
        }
    }
}
