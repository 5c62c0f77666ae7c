//! Histogram construction and (de)serialization: HdrHistogram V2 + base64, durations as ms.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

use super::MetricsError;

/// Lowest trackable latency: 1 microsecond.
pub const HIST_LOW_US: u64 = 1;
/// Highest trackable latency: 1 hour, in microseconds. Larger values saturate.
pub const HIST_HIGH_US: u64 = 3_600_000_000;
/// Significant digits kept by every histogram.
pub const HIST_SIGFIG: u8 = 3;

/// Where a new histogram's range starts: 2 ms; it grows (doubling) to the largest value
/// recorded into it or added to it.
const HIST_START_US: u64 = 2_048;

/// A latency histogram in microseconds from 1 us, 3 significant digits, sized to what it
/// holds: a fixed 1 us..1 h histogram is about 185 KB, one whose largest value is 100 ms
/// about 64 KB, and one of a key that saw a single fast request about 16 KB. Histograms of
/// different sizes still add (the target grows), so every histogram is addable to every other.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(HIST_LOW_US, HIST_START_US, HIST_SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// Records `n` samples of `us` microseconds, growing the histogram as needed; values above
/// 1 h are recorded as 1 h (the range every histogram shares).
pub fn record_us(h: &mut Histogram<u64>, us: u64, n: u64) {
    let us = us.min(HIST_HIGH_US);
    if h.record_n(us, n).is_err() {
        h.saturating_record_n(us, n);
    }
}

/// Microseconds of a duration, saturated into u32 (71 minutes, above the histogram's range).
pub fn duration_us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Microseconds -> milliseconds for reporting.
pub fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Encode a histogram as HdrHistogram V2 (uncompressed) in standard base64.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    // One header for every histogram whatever size it grew to, so equal contents encode
    // equally (the copy lives only while encoding).
    let mut canonical = Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("constant histogram bounds are valid");
    for v in h.iter_recorded() {
        canonical.saturating_record_n(v.value_iterated_to(), v.count_at_value());
    }
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(&canonical, &mut buf)
        .expect("serializing into a Vec cannot fail for a fixed-size histogram");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Decode a histogram written by [`encode_histogram`] (V2 or V2-deflate payloads are accepted).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, MetricsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| MetricsError::Histogram(format!("bad base64: {e}")))?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| MetricsError::Histogram(format!("bad HdrHistogram V2 payload: {e:?}")))?;
    // Re-home into the standard layout so histograms from any producer add without error.
    let mut h = new_histogram();
    for v in decoded.iter_recorded() {
        // Clamped: a hostile file cannot grow the histogram past the 1 h range.
        record_us(&mut h, v.value_iterated_to(), v.count_at_value());
    }
    Ok(h)
}

/// Serde helper: a Duration as integer milliseconds.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_round_trips_through_v2_base64() {
        let mut h = new_histogram();
        for v in [0u64, 1, 17, 999, 1000, 123_456, 5_000_000, HIST_HIGH_US] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let text = encode_histogram(&h);
        let back = decode_histogram(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn bad_histogram_text_is_an_error_not_a_panic() {
        assert!(decode_histogram("not base64!!").is_err());
        assert!(decode_histogram("AAAA").is_err());
    }

    #[test]
    fn histograms_start_small_grow_to_fit_and_stay_addable() {
        let mut small = new_histogram();
        small.record(900).unwrap();
        let mut big = new_histogram();
        record_us(&mut big, u64::from(u32::MAX), 1);
        assert!(big.max() >= HIST_HIGH_US && big.max() < HIST_HIGH_US + HIST_HIGH_US / 500);
        // A key with fast requests costs a fraction of a fixed 1 us..1 h histogram.
        let fixed = Histogram::<u64>::new_with_bounds(1, HIST_HIGH_US, HIST_SIGFIG).unwrap();
        assert!(small.distinct_values() * 6 < fixed.distinct_values());
        small.add(&big).unwrap();
        assert_eq!((small.len(), small.max()), (2, big.max()));
        assert_eq!(duration_us(Duration::from_secs(10_000)), u32::MAX);
    }
}
