//! The vitals of one document, gathered from its reports while it is shown and recorded when
//! it is left: LCP (its last candidate), CLS (its largest session window, as the web-vitals
//! library computes it in the page), INP (one sample per interaction, the longest of its
//! events, in the step that caused it), long tasks and TBT, and the JS heap used at its end.

use crate::metrics::{MetricKey, Mode, Outcome, Recorder, SampleKind};
use crate::replay::page_name;
use std::sync::Arc;

/// Interactions held per page before the oldest is recorded early (a long-lived page).
const INTERACTIONS_HELD: usize = 64;

/// A long task blocks the main thread for its time over this (TBT's definition).
const BLOCKING_OVER_MS: f64 = 50.0;

/// One interaction: its id in the page, its latency so far and the step it happened in.
struct Interaction {
    id: u64,
    ms: f64,
    step: u32,
}

pub(crate) struct PageVitals {
    /// The document's time origin (tells navigations apart).
    pub id: String,
    url: String,
    /// The step that loaded the page.
    step: u32,
    /// The latest LCP candidate, ms.
    lcp: Option<f64>,
    cls: f64,
    long_tasks: u32,
    tbt_ms: f64,
    heap_bytes: Option<f64>,
    interactions: Vec<Interaction>,
    /// Distinct interactions the page reported (held or recorded).
    seen: usize,
}

impl PageVitals {
    pub fn new(id: String, url: &str, step: u32) -> Self {
        PageVitals {
            id,
            url: url.to_string(),
            step,
            lcp: None,
            cls: 0.0,
            long_tasks: 0,
            tbt_ms: 0.0,
            heap_bytes: None,
            interactions: Vec::new(),
            seen: 0,
        }
    }

    /// The step that loaded the page (known once its navigation is matched).
    pub fn set_step(&mut self, step: u32) {
        self.step = step;
    }

    pub fn lcp(&mut self, ms: f64) {
        self.lcp = Some(ms);
    }

    /// The page's CLS so far (its script reports the largest session window when it grows).
    pub fn cls(&mut self, score: f64) {
        self.cls = self.cls.max(score);
    }

    /// False (and nothing kept) when the page cannot have run these too in `age_ms`.
    pub fn long_tasks(&mut self, durations: &[f64], age_ms: f64) -> bool {
        let so_far = self.tbt_ms + BLOCKING_OVER_MS * f64::from(self.long_tasks);
        if !super::plausible::long_tasks(so_far, durations, age_ms) {
            return false;
        }
        for d in durations {
            self.long_tasks += 1;
            self.tbt_ms += (d - BLOCKING_OVER_MS).max(0.0);
        }
        true
    }

    pub fn heap(&mut self, bytes: f64) {
        self.heap_bytes = Some(bytes);
    }

    /// Event timings `(interaction id, duration, start)`: an interaction's latency is its
    /// longest event's; it belongs to the step running at its first event's start
    /// (`step_of`: a start in ms since the page's time origin to a step).
    pub fn interactions(
        &mut self,
        events: &[(u64, f64, f64)],
        step_of: &dyn Fn(f64) -> u32,
        out: &mut Recorded<'_>,
        age_ms: f64,
    ) -> bool {
        let mut plausible = true;
        for &(id, ms, start) in events {
            if id == 0 {
                continue;
            }
            match self.interactions.iter_mut().find(|i| i.id == id) {
                Some(i) => i.ms = i.ms.max(ms),
                None if !super::plausible::one_more_interaction(self.seen, age_ms) => {
                    plausible = false;
                }
                None => {
                    self.seen += 1;
                    if self.interactions.len() >= INTERACTIONS_HELD {
                        let oldest = self.interactions.remove(0);
                        out.inp(&self.url, &oldest);
                    }
                    let step = step_of(start);
                    self.interactions.push(Interaction { id, ms, step });
                }
            }
        }
        plausible
    }

    /// The page is left (or the session ends): every vital is recorded.
    pub fn record(self, out: &mut Recorded<'_>) {
        if let Some(ms) = self.lcp {
            out.value(self.step, SampleKind::Lcp, &self.url, ms);
        }
        for i in &self.interactions {
            out.inp(&self.url, i);
        }
        let step = self.step;
        out.value(step, SampleKind::Cls, &self.url, self.cls);
        out.value(step, SampleKind::Tbt, &self.url, self.tbt_ms);
        out.value(
            step,
            SampleKind::LongTasks,
            &self.url,
            f64::from(self.long_tasks),
        );
        if let Some(b) = self.heap_bytes {
            out.value(step, SampleKind::JsHeap, &self.url, b / 1e6);
        }
    }
}

/// Where a page's vitals go: the session's recorder, keyed like its other page timings.
pub(crate) struct Recorded<'a> {
    pub flow: &'a Arc<str>,
    pub recorder: &'a Recorder,
}

impl Recorded<'_> {
    fn value(&mut self, step: u32, kind: SampleKind, url: &str, v: f64) {
        let key = MetricKey::new(
            Mode::Browser,
            self.flow.clone(),
            Some(step),
            kind,
            page_name(url),
        );
        self.recorder
            .record(&key, kind.unit().to_duration(v), Outcome::Ok);
    }

    fn inp(&mut self, url: &str, i: &Interaction) {
        self.value(i.step, SampleKind::Inp, url, i.ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_records_each_vital_once_and_each_interaction_in_its_step() {
        let sink = crate::metrics::Sink::new();
        let recorder = sink.recorder(1);
        let flow: Arc<str> = Arc::from("f");
        let mut out = Recorded {
            flow: &flow,
            recorder: &recorder,
        };
        let mut p = PageVitals::new("1".into(), "http://h/shop?x=1", 0);
        p.cls(0.05);
        p.cls(0.125);
        p.cls(0.1);
        assert!(p.long_tasks(&[120.0, 40.0, 70.0], 1e6));
        // Steps 1 and 2 started at 1000 and 2000 ms into the page.
        let step_of = |start: f64| if start < 2000.0 { 1 } else { 2 };
        let events = [(7, 40.0, 1500.0), (7, 104.0, 1500.0), (0, 500.0, 1600.0)];
        p.interactions(&events, &step_of, &mut out, 1e6);
        p.interactions(
            &[(9, 24.0, 2100.0), (7, 90.0, 1500.0)],
            &step_of,
            &mut out,
            1e6,
        );
        p.heap(8_400_000.0);
        p.record(&mut out);
        drop(recorder);
        let s = sink.finish();
        let get = |kind: SampleKind| {
            let e: Vec<_> = s.entries.iter().filter(|e| e.kind == kind).collect();
            e.iter()
                .map(|e| (e.step, kind.unit().from_ms(e.latency.max_ms)))
                .collect::<Vec<_>>()
        };
        let close = |got: Vec<(Option<u32>, f64)>, want: &[(u32, f64)]| {
            assert_eq!(got.len(), want.len(), "{got:?}");
            for ((s, v), (ws, wv)) in got.iter().zip(want) {
                assert_eq!(*s, Some(*ws));
                assert!((v - wv).abs() <= wv * 0.002 + 1e-6, "{v} vs {wv}");
            }
        };
        close(get(SampleKind::Cls), &[(0, 0.125)]);
        close(get(SampleKind::Tbt), &[(0, 90.0)]);
        close(get(SampleKind::LongTasks), &[(0, 3.0)]);
        close(get(SampleKind::JsHeap), &[(0, 8.4)]);
        close(get(SampleKind::Inp), &[(1, 104.0), (2, 24.0)]);
        assert!(s.entries.iter().all(|e| e.name.ends_with("/shop")));
    }
}
