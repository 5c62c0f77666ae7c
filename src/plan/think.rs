//! Think time: the recorded pauses, scaled, or replaced by a fixed value or a random range.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ThinkPolicy {
    /// The recorded pause times `scale` (1.0 = as recorded, 0 = none).
    Recorded {
        scale: f64,
    },
    Fixed(Duration),
    /// Uniformly random in [min, max].
    Range(Duration, Duration),
}

impl Default for ThinkPolicy {
    fn default() -> Self {
        ThinkPolicy::Recorded { scale: 1.0 }
    }
}

impl ThinkPolicy {
    /// The pause before a step whose recording had `recorded_ms`.
    pub fn think_time(&self, recorded_ms: Option<u64>) -> Duration {
        match self {
            ThinkPolicy::Recorded { scale } => {
                Duration::from_secs_f64(recorded_ms.unwrap_or(0) as f64 / 1000.0 * scale.max(0.0))
            }
            ThinkPolicy::Fixed(d) => *d,
            ThinkPolicy::Range(lo, hi) if hi > lo => rand::rng().random_range(*lo..=*hi),
            ThinkPolicy::Range(lo, _) => *lo,
        }
    }

    /// `--think 1s` or `--think 1s..3s`.
    pub fn parse_override(text: &str) -> Result<Self, String> {
        let parse = |t: &str| super::parse_duration(t).map_err(|e| format!("--think: {e}"));
        match text.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (parse(lo)?, parse(hi)?);
                if hi < lo {
                    return Err(format!(
                        "--think `{text}`: the range's end is before its start"
                    ));
                }
                Ok(ThinkPolicy::Range(lo, hi))
            }
            None => Ok(ThinkPolicy::Fixed(parse(text)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_is_scaled() {
        let p = ThinkPolicy::Recorded { scale: 0.5 };
        assert_eq!(p.think_time(Some(1000)), Duration::from_millis(500));
        assert_eq!(p.think_time(None), Duration::ZERO);
    }

    #[test]
    fn range_stays_inside() {
        let p = ThinkPolicy::parse_override("100ms..200ms").unwrap();
        for _ in 0..100 {
            let t = p.think_time(Some(5000));
            assert!(t >= Duration::from_millis(100) && t <= Duration::from_millis(200));
        }
        assert!(ThinkPolicy::parse_override("2s..1s").is_err());
        assert_eq!(
            ThinkPolicy::parse_override("1s").unwrap(),
            ThinkPolicy::Fixed(Duration::from_secs(1))
        );
    }
}
