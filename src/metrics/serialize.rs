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

/// HdrHistogram V2 cookies (plain and deflated).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// A V2 header: cookie, payload length, offset, digits, lowest, highest, ratio.
const V2_HEADER: usize = 40;
/// The largest range a decoded histogram may declare (its counts array is allocated before
/// any count is read): 2^40 us (12 days) at 3 digits is a 250 KB array.
const DECODE_HIGHEST_US: u64 = 1 << 40;
/// A deflated histogram inflates to at most this (a full 1 us..2^40 us one is far less).
const INFLATED_LIMIT: usize = 4 << 20;

/// The V2 bytes of a histogram, checked before the decoder allocates anything: the payload
/// it announces is there, and its range and precision are ones throng writes. A few bytes
/// cannot make it allocate gigabytes (issue 21: a 56-character histogram announced 4 GiB).
fn checked_v2(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, MetricsError> {
    let bad = |why: &str| MetricsError::Histogram(why.to_string());
    let u32_at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_be_bytes(s.try_into().unwrap()))
    };
    let u64_at = |b: &[u8], i: usize| {
        b.get(i..i + 8)
            .map(|s| u64::from_be_bytes(s.try_into().unwrap()))
    };
    let v2 = match u32_at(bytes, 0) {
        Some(V2_COOKIE) => std::borrow::Cow::Borrowed(bytes),
        Some(V2_DEFLATE_COOKIE) => {
            let len = u32_at(bytes, 4).ok_or_else(|| bad("truncated header"))? as usize;
            let deflated = bytes
                .get(8..8 + len)
                .ok_or_else(|| bad("the payload is shorter than its header says"))?;
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(
                    flate2::read::ZlibDecoder::new(deflated),
                    INFLATED_LIMIT as u64 + 1,
                ),
                &mut inflated,
            )
            .map_err(|e| bad(&format!("bad deflate payload: {e}")))?;
            if inflated.len() > INFLATED_LIMIT {
                return Err(bad(
                    "the deflated payload inflates past any histogram's size",
                ));
            }
            std::borrow::Cow::Owned(inflated)
        }
        _ => return Err(bad("not an HdrHistogram V2 payload")),
    };
    if u32_at(&v2, 0) != Some(V2_COOKIE) || v2.len() < V2_HEADER {
        return Err(bad("truncated header"));
    }
    let payload = u32_at(&v2, 4).unwrap_or(u32::MAX) as usize;
    if payload > v2.len() - V2_HEADER {
        return Err(bad(&format!(
            "the header announces {payload} bytes of counts but {} follow",
            v2.len() - V2_HEADER
        )));
    }
    let digits = u32_at(&v2, 12).unwrap_or(u32::MAX);
    let (low, high) = (
        u64_at(&v2, 16).unwrap_or(0),
        u64_at(&v2, 24).unwrap_or(u64::MAX),
    );
    if digits > u32::from(HIST_SIGFIG) || low == 0 || high > DECODE_HIGHEST_US || low > high {
        return Err(bad(&format!(
            "range {low}..{high} at {digits} digits is not one throng writes"
        )));
    }
    Ok(v2)
}

/// Whether `text` is a histogram whose header holds (what [`checked_v2`] checks), without
/// decoding its counts: cheap enough for every entry of every report a coordinator receives.
pub fn check_histogram(text: &str) -> Result<(), MetricsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| MetricsError::Histogram(format!("bad base64: {e}")))?;
    checked_v2(&bytes).map(drop)
}

/// Decode a histogram written by [`encode_histogram`] (V2 or V2-deflate payloads are accepted),
/// checked first ([`checked_v2`]).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, MetricsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| MetricsError::Histogram(format!("bad base64: {e}")))?;
    let bytes = checked_v2(&bytes)?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &bytes[..])
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

    /// 40 bytes of V2 header with these fields and no counts.
    fn header(payload: u32, digits: u32, low: u64, high: u64) -> String {
        let mut b = Vec::new();
        b.extend_from_slice(&V2_COOKIE.to_be_bytes());
        b.extend_from_slice(&payload.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&digits.to_be_bytes());
        b.extend_from_slice(&low.to_be_bytes());
        b.extend_from_slice(&high.to_be_bytes());
        b.extend_from_slice(&1f64.to_be_bytes());
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    #[test]
    fn a_header_announcing_more_than_it_holds_is_refused_before_allocating() {
        let four_gib = header(u32::MAX, 3, 1, HIST_HIGH_US);
        assert_eq!(four_gib.len(), 56);
        let err = decode_histogram(&four_gib).unwrap_err().to_string();
        assert!(err.contains("announces 4294967295 bytes"), "{err}");
        for text in [
            header(0, 5, 1, HIST_HIGH_US),
            header(0, 3, 1, u64::MAX / 2),
            header(0, 3, 0, 10),
        ] {
            assert!(decode_histogram(&text).is_err(), "{text}");
        }
        assert!(decode_histogram(&header(0, 3, 1, HIST_HIGH_US)).is_ok());
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
