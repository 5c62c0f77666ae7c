//! Think time: the recorded pauses, scaled and varied, or replaced by a fixed value or a random
//! range. Recorded pauses vary by default (uniformly within ±50%, the mean kept): real people
//! do, and users started together would otherwise move in lockstep for the whole run.

use rand::Rng;
use std::time::Duration;

/// The default `--think-jitter`: each recorded pause is drawn from [0.5x, 1.5x] of itself.
pub const DEFAULT_THINK_JITTER: f64 = 0.5;

/// The longest spread of users' first steps (users started together).
const MAX_START_SPREAD: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ThinkPolicy {
    /// The recorded pause times `scale` (1.0 = as recorded, 0 = none), times a factor drawn
    /// uniformly from [1 - jitter, 1 + jitter] for every pause (jitter 0: exactly as recorded).
    Recorded {
        scale: f64,
        jitter: f64,
    },
    Fixed(Duration),
    /// Uniformly random in [min, max].
    Range(Duration, Duration),
}

impl Default for ThinkPolicy {
    fn default() -> Self {
        ThinkPolicy::Recorded {
            scale: 1.0,
            jitter: DEFAULT_THINK_JITTER,
        }
    }
}

impl ThinkPolicy {
    /// The pause before a step whose recording had `recorded_ms`.
    pub fn think_time(&self, recorded_ms: Option<u64>) -> Duration {
        match self {
            ThinkPolicy::Recorded { scale, jitter } => {
                let base = recorded_ms.unwrap_or(0) as f64 / 1000.0 * scale.max(0.0);
                let j = jitter.clamp(0.0, 1.0);
                let factor = if j > 0.0 && base > 0.0 {
                    rand::rng().random_range(1.0 - j..=1.0 + j)
                } else {
                    1.0
                };
                Duration::from_secs_f64(base * factor)
            }
            ThinkPolicy::Fixed(d) => *d,
            ThinkPolicy::Range(lo, hi) if hi > lo => rand::rng().random_range(*lo..=*hi),
            ThinkPolicy::Range(lo, _) => *lo,
        }
    }

    /// A closed-model user's wait before its first step: uniform in [0, S), S the flow's scaled
    /// think time per iteration (at most 10 s and at most `cap`), so users started together
    /// spread out at once. Zero without jitter (`--think-jitter 0` replays exactly as recorded).
    pub fn start_spread(&self, flow_think_ms: u64, cap: Duration) -> Duration {
        match self {
            ThinkPolicy::Recorded { scale, jitter } if *jitter > 0.0 => {
                let span = Duration::from_secs_f64(flow_think_ms as f64 / 1000.0 * scale.max(0.0))
                    .min(MAX_START_SPREAD)
                    .min(cap);
                if span.is_zero() {
                    Duration::ZERO
                } else {
                    span.mul_f64(rand::rng().random_range(0.0..1.0))
                }
            }
            _ => Duration::ZERO,
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
        let p = ThinkPolicy::Recorded {
            scale: 0.5,
            jitter: 0.0,
        };
        assert_eq!(p.think_time(Some(1000)), Duration::from_millis(500));
        assert_eq!(p.think_time(None), Duration::ZERO);
        assert_eq!(p.start_spread(5000, Duration::MAX), Duration::ZERO);
    }

    #[test]
    fn jitter_varies_around_the_recorded_time_and_keeps_its_mean() {
        let p = ThinkPolicy::Recorded {
            scale: 1.0,
            jitter: 0.5,
        };
        let draws: Vec<f64> = (0..4000)
            .map(|_| p.think_time(Some(1000)).as_secs_f64())
            .collect();
        assert!(draws.iter().all(|d| (0.5..=1.5).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
        let distinct: std::collections::HashSet<u64> =
            draws.iter().map(|d| (d * 1000.0) as u64).collect();
        assert!(distinct.len() > 500, "the draws vary");
        assert!(draws.iter().any(|d| *d < 0.6) && draws.iter().any(|d| *d > 1.4));
        let spreads: Vec<Duration> = (0..200)
            .map(|_| p.start_spread(30_000, Duration::MAX))
            .collect();
        assert!(spreads.iter().all(|s| *s < Duration::from_secs(10)));
        assert!(spreads.iter().any(|s| *s > Duration::from_secs(5)));
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
