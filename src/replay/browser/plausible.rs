//! What a page's timing report may claim. The binding the timing script reports through is a
//! global any script of the page can call, so a report is a peer's word: it is kept only when
//! a real page of this session could have measured it. Every number finite and not negative,
//! every time within how long the session has run, lists and per-page totals bounded by the
//! same clock (long tasks run one at a time; a layout shift scores at most 1 a frame).

use super::timing::Report;

/// Slack on the session's age for the page's own clock (ms).
const CLOCK_SLACK_MS: f64 = 1000.0;
/// Entries one report may list: one observer callback's, a handful per interaction.
pub const MAX_LIST: usize = 1024;
/// Largest JS heap a page can use: V8's heap limit with every flag raised (bytes).
const MAX_HEAP_BYTES: f64 = (16u64 << 30) as f64;
/// Shortest frame: a layout shift scores at most 1, once a frame.
const FRAME_MS: f64 = 1000.0 / 60.0;

/// Whether `r` is something a page that has existed for at most `age_ms` can report.
pub fn report(r: &Report, age_ms: f64) -> bool {
    let limit = age_ms + CLOCK_SLACK_MS;
    let time = |v: f64| v.is_finite() && (0.0..=limit).contains(&v);
    match r {
        Report::Nav {
            ttfb, dcl, load, ..
        } => [*ttfb, *dcl, *load].into_iter().all(time),
        Report::Fcp { v, .. } | Report::Lcp { v, .. } => time(*v),
        Report::Cls { v, .. } => v.is_finite() && (0.0..=limit / FRAME_MS).contains(v),
        Report::Heap { v, .. } => v.is_finite() && (0.0..=MAX_HEAP_BYTES).contains(v),
        Report::Lt { v, .. } => {
            v.len() <= MAX_LIST && v.iter().all(|d| time(*d)) && time(v.iter().sum())
        }
        Report::Int { v, .. } => {
            v.len() <= MAX_LIST
                && v.iter()
                    .all(|(_, duration, start)| time(*duration) && time(*start))
        }
    }
}

/// Whether a page whose long tasks already took `so_far_ms` can have run `more` too
/// within `age_ms` (one main thread runs them one at a time).
pub fn long_tasks(so_far_ms: f64, more: &[f64], age_ms: f64) -> bool {
    so_far_ms + more.iter().sum::<f64>() <= age_ms + CLOCK_SLACK_MS
}

/// Whether a page with `held` interactions can have had one more within `age_ms`: each takes
/// an input event, at most one a millisecond.
pub fn one_more_interaction(held: usize, age_ms: f64) -> bool {
    (held as f64) < age_ms + CLOCK_SLACK_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcp(v: f64) -> Report {
        Report::Lcp {
            id: "1".into(),
            url: "http://h/".into(),
            v,
        }
    }

    #[test]
    fn only_what_the_session_could_measure_passes() {
        assert!(report(&lcp(1200.0), 5000.0));
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e308, 7000.0] {
            assert!(!report(&lcp(bad), 5000.0), "{bad}");
        }
        let lt = |v: Vec<f64>| Report::Lt {
            id: "1".into(),
            url: "u".into(),
            v,
        };
        assert!(report(&lt(vec![120.0, 80.0]), 5000.0));
        assert!(!report(&lt(vec![4000.0, 4000.0]), 5000.0), "one thread");
        assert!(
            !report(&lt(vec![60.0; MAX_LIST + 1]), 1e9),
            "one callback's list"
        );
        assert!(long_tasks(4000.0, &[900.0], 5000.0));
        assert!(!long_tasks(4000.0, &[3000.0], 5000.0));
        let heap = |v: f64| Report::Heap {
            id: "1".into(),
            url: "u".into(),
            v,
        };
        assert!(report(&heap(8.4e6), 10.0));
        assert!(!report(&heap(1e308), 10.0));
        let cls = |v: f64| Report::Cls {
            id: "1".into(),
            url: "u".into(),
            v,
        };
        assert!(report(&cls(0.25), 10.0));
        assert!(!report(&cls(1e6), 5000.0));
        assert!(one_more_interaction(63, 100.0));
        assert!(!one_more_interaction(100_000, 2000.0));
    }
}
