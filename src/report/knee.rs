//! Knee detection: the user count at which p95 starts to climb during a ramp.

use serde::{Deserialize, Serialize};

use crate::metrics::SecondStats;

/// Where latency started to climb.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// Elapsed time of the first point past the knee.
    pub t_ms: u64,
    /// Active users at that point.
    pub users: u64,
    /// Rolling p95 at that point, ms.
    pub p95_ms: f64,
    /// Early-run p95 baseline, ms.
    pub baseline_ms: f64,
}

/// Rolling window (points) smoothing one-second noise.
const WINDOW: usize = 3;
/// p95 must exceed this multiple of the baseline...
const FACTOR: f64 = 1.5;
/// ...and the baseline by at least this much (loopback runs have sub-ms noise).
const MIN_RISE_MS: f64 = 1.0;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The first point where the rolling (median of 3) p95 exceeds 1.5x the early-run baseline
/// (median p95 of the first fifth of the run, at least 3 points), while users are above their
/// starting level. None when the run does not ramp or latency never climbs.
pub fn find_knee(series: &[SecondStats]) -> Option<Knee> {
    let pts: Vec<(&SecondStats, f64)> = series
        .iter()
        .filter(|s| s.requests > 0)
        .filter_map(|s| s.p95_ms.map(|p| (s, p)))
        .collect();
    if pts.len() < 2 * WINDOW {
        return None;
    }
    let first_users = pts[0].0.users;
    let max_users = pts.iter().map(|(s, _)| s.users).max().unwrap_or(0);
    let ramps = max_users >= first_users + 2 && max_users as f64 >= first_users as f64 * 1.5;
    if !ramps {
        return None;
    }
    let base_n = (pts.len() / 5).max(WINDOW);
    let baseline = median(&mut pts[..base_n].iter().map(|p| p.1).collect::<Vec<_>>());
    let limit = (baseline * FACTOR).max(baseline + MIN_RISE_MS);
    (base_n.max(WINDOW - 1)..pts.len()).find_map(|i| {
        let rolling = median(
            &mut pts[i + 1 - WINDOW..=i]
                .iter()
                .map(|p| p.1)
                .collect::<Vec<_>>(),
        );
        let (s, _) = pts[i];
        (rolling > limit && s.users > first_users).then_some(Knee {
            t_ms: s.t_ms,
            users: s.users,
            p95_ms: rolling,
            baseline_ms: baseline,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u64, users: u64, p95: f64) -> SecondStats {
        SecondStats {
            t_ms: t * 1000,
            interval_ms: 1000,
            users,
            requests: 100,
            p95_ms: Some(p95),
            ..Default::default()
        }
    }

    #[test]
    fn finds_where_p95_climbs_during_a_ramp() {
        // 1 user more per second; flat 20 ms until 40 users, then +5 ms per user.
        let series: Vec<_> = (1..=60u64)
            .map(|u| {
                let p95 = if u <= 40 {
                    20.0 + (u % 3) as f64
                } else {
                    20.0 + (u - 40) as f64 * 5.0
                };
                point(u, u, p95)
            })
            .collect();
        let k = find_knee(&series).expect("knee");
        assert!((42..=45).contains(&k.users), "{k:?}");
        assert!((20.0..=22.0).contains(&k.baseline_ms));
    }

    #[test]
    fn one_slow_second_is_not_a_knee() {
        let mut series: Vec<_> = (1..=30u64).map(|u| point(u, u, 10.0)).collect();
        series[20].p95_ms = Some(500.0);
        assert_eq!(find_knee(&series), None);
    }

    #[test]
    fn no_knee_without_a_ramp() {
        let series: Vec<_> = (1..=30u64).map(|t| point(t, 50, t as f64 * 10.0)).collect();
        assert_eq!(find_knee(&series), None);
        assert_eq!(find_knee(&series[..4]), None);
    }
}
