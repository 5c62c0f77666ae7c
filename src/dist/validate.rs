//! A worker's report checked before the coordinator keeps any of it: a token-holding worker
//! is still a peer, and its numbers must be ones a real run of this plan can produce. Every
//! histogram's header holds (it announces no more than it carries), counts stay far below where sums could wrap,
//! per-second points fall inside the worker's run and come at most one a second.

use super::protocol::Report;
use crate::metrics::{check_histogram, RunSummary};

/// Largest count, byte total or counter a report may carry: 2^48 (281 trillion) is beyond
/// any run, and thousands of workers' sums stay far from 2^64.
pub const MAX_COUNT: u64 = 1 << 48;
/// Slack for clocks and the report interval on per-second points (ms).
const SLACK_MS: u64 = 10_000;
/// Failure records a report may carry (each worker keeps the first few per step).
const MAX_FAILURE_RECORDS: usize = 2_000;

/// What the coordinator knows of the worker when its report arrives.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    /// The worker's id, from its session.
    pub worker_id: u64,
    /// How long the worker has been running, on the coordinator's clock (ms).
    pub running_ms: u64,
    /// Per-second points already kept for it, and the last one's time.
    pub kept_points: usize,
    pub acked_ms: u64,
    /// When its run started on the coordinator's clock (Unix ms).
    pub start_unix_ms: u64,
}

/// `Ok` when `r` is a report this worker can have made now; else why not (one line).
pub fn check(r: &Report, e: &Expected) -> Result<(), String> {
    if r.worker_id != e.worker_id {
        return Err(format!(
            "a report for worker {} on worker {}'s session",
            r.worker_id, e.worker_id
        ));
    }
    for (what, v) in [("cpu_s", r.cpu_s), ("mem_mb", r.mem_mb)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{what} is {v}"));
        }
    }
    count("users", r.users)?;
    summary(&r.summary, e)
}

fn count(what: &str, v: u64) -> Result<(), String> {
    if v > MAX_COUNT {
        return Err(format!("{what} is {v}, beyond any run"));
    }
    Ok(())
}

fn summary(s: &RunSummary, e: &Expected) -> Result<(), String> {
    let limit_ms = e.running_ms.saturating_add(SLACK_MS);
    // Its run's start, shifted to the coordinator's clock by the worker.
    if s.started_unix_ms != 0 && s.started_unix_ms.abs_diff(e.start_unix_ms) > SLACK_MS * 6 {
        return Err(format!(
            "the run started at {} but this worker started at {}",
            s.started_unix_ms, e.start_unix_ms
        ));
    }
    if s.duration.as_millis() > u128::from(limit_ms) {
        return Err(format!(
            "a duration of {:?} after {} ms",
            s.duration, e.running_ms
        ));
    }
    count("peak_users", s.peak_users)?;
    if s.entries.len() > super::delta::MAX_KEYS {
        return Err(format!("{} metric keys", s.entries.len()));
    }
    for (k, v) in &s.counters {
        count(k, *v)?;
    }
    for entry in &s.entries {
        let name = || format!("entry `{} {}`", entry.kind, entry.name);
        count(&name(), entry.count)?;
        count(&name(), entry.bytes)?;
        count(&name(), entry.interrupted)?;
        if entry.failures > entry.count
            || entry.failures_by_outcome.values().any(|n| *n > entry.count)
        {
            return Err(format!("{}: more failures than requests", name()));
        }
        // Headers only: what a histogram makes the coordinator allocate when merged.
        for text in std::iter::once(&entry.histogram).chain(&entry.corrected_histogram) {
            check_histogram(text).map_err(|err| format!("{}: {err}", name()))?;
        }
    }
    series(s, e, limit_ms)?;
    if let Some(g) = &s.generator {
        let allowed = (limit_ms / 1000) as usize + 1;
        if g.samples.len() > allowed || g.samples.iter().any(|p| p.t_ms > limit_ms) {
            return Err(format!(
                "{} generator samples after {} ms",
                g.samples.len(),
                e.running_ms
            ));
        }
    }
    if s.failures.len() > MAX_FAILURE_RECORDS {
        return Err(format!("{} failure records", s.failures.len()));
    }
    Ok(())
}

/// New points: after the last one kept, in order, inside the run, at most one a second. Two
/// points of one millisecond are in order (a run's last tick can close in the same
/// millisecond as the one before it); their number is bounded all the same.
fn series(s: &RunSummary, e: &Expected, limit_ms: u64) -> Result<(), String> {
    let mut last = e.acked_ms;
    let mut new = 0usize;
    for p in s.series.iter().filter(|p| p.t_ms > e.acked_ms) {
        if p.t_ms < last && new > 0 {
            return Err("per-second points out of order".into());
        }
        if p.t_ms > limit_ms {
            return Err(format!(
                "a per-second point at {} ms after {} ms of run",
                p.t_ms, e.running_ms
            ));
        }
        for (what, v) in [
            ("users", p.users),
            ("requests", p.requests),
            ("failures", p.failures),
            ("page_loads", p.page_loads),
            ("interval_ms", p.interval_ms),
        ] {
            count(what, v)?;
        }
        let finite = [
            Some(p.rps),
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.page_load_p95_ms,
        ]
        .into_iter()
        .flatten()
        .all(|v| v.is_finite() && v >= 0.0);
        if !finite {
            return Err(format!(
                "a per-second point at {} ms with a bad rate",
                p.t_ms
            ));
        }
        last = p.t_ms;
        new += 1;
    }
    let allowed = (limit_ms / 1000) as usize + 1;
    if e.kept_points + new > allowed {
        return Err(format!(
            "{} per-second points after {} ms of run",
            e.kept_points + new,
            e.running_ms
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SecondStats;

    fn report(series: Vec<SecondStats>) -> Report {
        Report {
            worker_id: 3,
            summary: RunSummary {
                started_unix_ms: 1_000_000,
                series,
                ..RunSummary::default()
            },
            users: 2,
            done: false,
            partial: false,
            cpu_s: 0.5,
            mem_mb: 10.0,
        }
    }

    fn point(t_ms: u64) -> SecondStats {
        SecondStats {
            t_ms,
            interval_ms: 1000,
            ..SecondStats::default()
        }
    }

    const AT: Expected = Expected {
        worker_id: 3,
        running_ms: 5_000,
        kept_points: 0,
        acked_ms: 0,
        start_unix_ms: 1_000_000,
    };

    #[test]
    fn a_real_report_passes_and_each_bad_field_is_named() {
        assert_eq!(
            check(&report((1..=5).map(|s| point(s * 1000)).collect()), &AT),
            Ok(())
        );
        let other = Expected { worker_id: 4, ..AT };
        assert!(check(&report(vec![]), &other)
            .unwrap_err()
            .contains("worker 3"));
        let flood: Vec<_> = (1..=100).map(|s| point(s * 10)).collect();
        assert!(check(&report(flood), &AT)
            .unwrap_err()
            .contains("100 per-second points"));
        // The last tick in the same millisecond as the one before: in order.
        let same_ms = report(vec![point(1000), point(2000), point(2000)]);
        assert_eq!(check(&same_ms, &AT), Ok(()));
        let backwards = report(vec![point(2000), point(1000)]);
        assert!(check(&backwards, &AT).unwrap_err().contains("out of order"));
        let future = report(vec![point(3_600_000)]);
        assert!(check(&future, &AT).unwrap_err().contains("3600000 ms"));
        let mut huge = report(vec![]);
        huge.summary.counters.insert("x".into(), u64::MAX - 1);
        assert!(check(&huge, &AT).unwrap_err().contains("beyond any run"));
        let mut old = report(vec![]);
        old.summary.started_unix_ms = 1;
        assert!(check(&old, &AT).is_err());
        let mut nan = report(vec![]);
        nan.cpu_s = f64::NAN;
        assert!(check(&nan, &AT).is_err());
    }
}
