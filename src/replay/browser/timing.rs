//! Page-load samples: a script installed before any document loads reports Navigation
//! Timing (TTFB, DOMContentLoaded, load), FCP and LCP of every top-level navigation through
//! a CDP binding, so no navigation is missed and nothing polls the page.
//!
//! Every main-frame document is accounted for: one with no report (the page was closed
//! right after its load event) is timed from CDP's own events (document request to load
//! event, `page_loads.timed_by_cdp`), and one left before its load event is counted as
//! `page_loads.unfinished`; none is dropped silently.

use super::vitals::{PageVitals, Recorded};
use crate::metrics::{MetricKey, Mode, Outcome, Recorder, SampleKind, Sink};
use crate::replay::page_name;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The binding the page calls (Runtime.addBinding).
pub(crate) const BINDING: &str = "__throngPageTiming";

/// Evaluated as a session leaves its page: the page reports what its observers still hold
/// (the last step's interaction, a late shift) before its scripts stop.
pub(crate) const FLUSH: &str = "window.__throngFlush ? window.__throngFlush() : null";

/// Runs in every new document (Page.addScriptToEvaluateOnNewDocument). Reports Navigation
/// Timing once the load event has finished (so `loadEventEnd` is set), FCP when painted,
/// every LCP candidate (the last one before the page is left is the LCP), the CLS when it
/// grows (the largest session window of shifts without recent input: 1 s gap, 5 s span, as
/// web-vitals' LayoutShiftManager), the event timings of interactions (web-vitals' INP
/// reads the same entries; 16 ms is the API's floor), long tasks, and the JS heap used at
/// the load, after interactions and when the page is hidden. Each observer callback is one
/// report, so a page sends a few messages, not one per entry.
pub(crate) const SCRIPT: &str = r#"(() => {
  if (window !== window.top) return;
  const send = window.__throngPageTiming;
  if (typeof send !== 'function') return;
  const id = String(performance.timeOrigin);
  const post = (m) => { m.id = id; m.url = location.href; try { send(JSON.stringify(m)); } catch (e) {} };
  const observers = [];
  const observe = (type, f, o) => {
    try {
      const po = new PerformanceObserver((l) => f(l.getEntries()));
      po.observe(Object.assign({ type, buffered: true }, o));
      observers.push([po, f]);
    } catch (e) {}
  };
  const heap = () => { const m = performance.memory; if (m) post({ t: 'heap', v: m.usedJSHeapSize }); };
  observe('paint', (es) => es.forEach((e) => {
    if (e.name === 'first-contentful-paint') post({ t: 'fcp', v: e.startTime });
  }));
  observe('largest-contentful-paint', (es) => {
    if (es.length) post({ t: 'lcp', v: es[es.length - 1].startTime });
  });
  let cls = 0, sv = 0, first = 0, last = 0;
  observe('layout-shift', (es) => {
    const before = cls;
    for (const e of es) {
      if (e.hadRecentInput) continue;
      if (sv && e.startTime - last < 1000 && e.startTime - first < 5000) sv += e.value;
      else { sv = e.value; first = e.startTime; }
      last = e.startTime;
      if (sv > cls) cls = sv;
    }
    if (cls > before) post({ t: 'cls', v: cls });
  });
  // Interaction ids the event observer reported (a first input's own entry times only its
  // first event, not the handlers after it: it does not count).
  const reported = new Set();
  const events = (es, full) => {
    const v = es.filter((e) => e.interactionId).map((e) => [e.interactionId, e.duration, e.startTime]);
    if (full) v.forEach((x) => reported.add(x[0]));
    if (v.length) { post({ t: 'int', v }); heap(); }
  };
  observe('event', (es) => events(es, true), { durationThreshold: 16 });
  observe('first-input', (es) => events(es, false));
  observe('longtask', (es) => { if (es.length) post({ t: 'lt', v: es.map((e) => e.duration) }); });
  addEventListener('pagehide', heap);
  // Called as the session leaves: after the next frame (the last interaction's entries exist
  // once it painted), what the observers hold and have not delivered yet is reported. While
  // the page counts more interactions than were reported, a few more frames are waited for
  // (bounded: one under the 16 ms floor is never reported).
  Object.defineProperty(window, '__throngFlush', { value: () => new Promise((done) => {
    const until = performance.now() + 400;
    const settle = () => {
      for (const [po, f] of observers) { const es = po.takeRecords(); if (es.length) f(es); }
      if ((performance.interactionCount || 0) > reported.size && performance.now() < until) {
        setTimeout(() => requestAnimationFrame(settle), 40);
        return;
      }
      heap();
      done();
    };
    requestAnimationFrame(() => setTimeout(settle, 0));
  }) });
  addEventListener('load', () => setTimeout(() => {
    const n = performance.getEntriesByType('navigation')[0];
    if (n) post({ t: 'nav', ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd });
    heap();
  }, 0));
})();"#;

/// One report from the page; times in ms since its navigation started. `id` tells
/// navigations apart (the document's time origin).
#[derive(Debug, serde::Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(crate) enum Report {
    Nav {
        id: String,
        url: String,
        ttfb: f64,
        dcl: f64,
        load: f64,
    },
    Fcp {
        id: String,
        url: String,
        v: f64,
    },
    Lcp {
        id: String,
        url: String,
        v: f64,
    },
    /// The page's CLS so far.
    Cls {
        id: String,
        url: String,
        v: f64,
    },
    /// Event timings of interactions: (interaction id, duration ms, start ms).
    Int {
        id: String,
        url: String,
        v: Vec<(u64, f64, f64)>,
    },
    /// Long tasks' durations, ms.
    Lt {
        id: String,
        url: String,
        v: Vec<f64>,
    },
    /// JS heap used, bytes.
    Heap {
        id: String,
        url: String,
        v: f64,
    },
}

impl Report {
    pub fn parse(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }

    fn url(&self) -> &str {
        match self {
            Report::Nav { url, .. }
            | Report::Fcp { url, .. }
            | Report::Lcp { url, .. }
            | Report::Cls { url, .. }
            | Report::Int { url, .. }
            | Report::Lt { url, .. }
            | Report::Heap { url, .. } => url,
        }
    }

    fn id(&self) -> &str {
        match self {
            Report::Nav { id, .. }
            | Report::Fcp { id, .. }
            | Report::Lcp { id, .. }
            | Report::Cls { id, .. }
            | Report::Int { id, .. }
            | Report::Lt { id, .. }
            | Report::Heap { id, .. } => id,
        }
    }
}

/// A main-frame document of the session until its page load is accounted for.
struct Doc {
    /// CDP request id of the navigation (its redirect hops share it).
    request_id: String,
    /// Wall time its first request started, ms since the epoch (the page's timeOrigin).
    wall_ms: f64,
    /// CDP monotonic time of its first request and of its load event, seconds.
    start_ts: f64,
    load_ts: Option<f64>,
    url: String,
    step: u32,
}

/// Turns a session's reports into page-load, TTFB, DOMContentLoaded and FCP samples, and the
/// current page's vitals (see [`PageVitals`]), named by the page URL without query, as in
/// HTTP mode.
pub(crate) struct PageTimings {
    flow: Arc<str>,
    recorder: Recorder,
    sink: Sink,
    /// The vitals of the page shown (the latest document that reported).
    page: Option<PageVitals>,
    /// The id of the page recorded last.
    left: Option<String>,
    /// Documents started and not reported yet, oldest first.
    docs: Vec<Doc>,
    /// When the session began: no page time it reports can be longer than its age.
    born: Instant,
}

impl PageTimings {
    pub fn new(flow: Arc<str>, recorder: Recorder, sink: Sink) -> Self {
        PageTimings {
            flow,
            recorder,
            sink,
            page: None,
            left: None,
            docs: Vec::new(),
            born: Instant::now(),
        }
    }

    /// A main-frame document request (`redirect`: a later hop of the same navigation).
    pub fn on_document(&mut self, request_id: &str, url: &str, wall_s: f64, ts: f64, step: u32) {
        if let Some(d) = self.docs.iter_mut().find(|d| d.request_id == request_id) {
            d.url = url.to_string();
            return;
        }
        self.docs.push(Doc {
            request_id: request_id.to_string(),
            wall_ms: wall_s * 1000.0,
            start_ts: ts,
            load_ts: None,
            url: url.to_string(),
            step,
        });
    }

    /// The main frame's load event (CDP monotonic seconds): the latest document started
    /// before it has loaded.
    pub fn on_load(&mut self, ts: f64) {
        if let Some(d) = self
            .docs
            .iter_mut()
            .rev()
            .find(|d| d.start_ts <= ts && d.load_ts.is_none())
        {
            d.load_ts = Some(ts);
        }
    }

    /// Documents whose load event fired and whose report has not arrived yet.
    pub fn awaiting_reports(&self) -> usize {
        self.docs.iter().filter(|d| d.load_ts.is_some()).count()
    }

    /// The document a report with this time origin belongs to: the nearest start in wall
    /// time; every older document is then settled (its report will not come).
    fn take_doc(&mut self, id: &str) -> Option<Doc> {
        let origin: f64 = id.parse().ok()?;
        let i = (0..self.docs.len()).min_by(|&a, &b| {
            let da = (self.docs[a].wall_ms - origin).abs();
            let db = (self.docs[b].wall_ms - origin).abs();
            da.total_cmp(&db)
        })?;
        let older: Vec<Doc> = self.docs.drain(..i).collect();
        for d in older {
            self.settle(d);
        }
        Some(self.docs.remove(0))
    }

    /// A document without a report: timed from CDP events if it loaded, else counted.
    fn settle(&mut self, d: Doc) {
        match d.load_ts {
            Some(load) => {
                let key = MetricKey::new(
                    Mode::Browser,
                    self.flow.clone(),
                    Some(d.step),
                    SampleKind::PageLoad,
                    page_name(&d.url),
                );
                let secs = (load - d.start_ts).max(0.0);
                self.recorder.record(&key, ms(secs * 1000.0), Outcome::Ok);
                self.sink.count("page_loads.timed_by_cdp", 1);
            }
            None => self.sink.count("page_loads.unfinished", 1),
        }
    }

    /// A report from the page; `step` is the step running now, `step_at` the one running at
    /// a wall time (ms since the epoch): an interaction belongs to the step it happened in.
    pub fn on_report(&mut self, r: Report, step: u32, step_at: &dyn Fn(f64) -> Option<u32>) {
        let age_ms = self.born.elapsed().as_secs_f64() * 1000.0;
        if !super::plausible::report(&r, age_ms) {
            self.sink.count(IMPLAUSIBLE, 1);
            return;
        }
        if r.url().starts_with("about:") || is_error_page(r.url()) {
            // The blank page a session leaves to is no page load; an error page's load is
            // recorded failed, and it has no vitals.
            if let Report::Nav { id, url, load, .. } = r {
                if is_error_page(&url) {
                    let step = self.take_doc(&id).map_or(step, |d| d.step);
                    let key = self.key(step, SampleKind::PageLoad, &url);
                    self.recorder.record(&key, ms(load), Outcome::Error);
                }
            }
            return;
        }
        if self.left.as_deref() == Some(r.id()) {
            // A late report (the heap at pagehide) of the page already recorded.
            return;
        }
        if self.page.as_ref().is_some_and(|p| p.id != r.id()) {
            self.finish_page();
        }
        let page = self
            .page
            .get_or_insert_with(|| PageVitals::new(r.id().to_string(), r.url(), step));
        match r {
            Report::Nav {
                id,
                url,
                ttfb,
                dcl,
                load,
            } => {
                let step = self.take_doc(&id).map_or(step, |d| d.step);
                if let Some(p) = self.page.as_mut() {
                    p.set_step(step);
                }
                for (kind, v) in [
                    (SampleKind::PageLoad, load),
                    (SampleKind::Ttfb, ttfb),
                    (SampleKind::DomContentLoaded, dcl),
                ] {
                    let key = self.key(step, kind, &url);
                    self.recorder.record(&key, ms(v), Outcome::Ok);
                }
            }
            Report::Fcp { url, v, .. } => {
                let key = self.key(step, SampleKind::Fcp, &url);
                self.recorder.record(&key, ms(v), Outcome::Ok);
            }
            Report::Lcp { v, .. } => page.lcp(v),
            Report::Cls { v, .. } => page.cls(v),
            Report::Lt { v, .. } => {
                if !page.long_tasks(&v, age_ms) {
                    self.sink.count(IMPLAUSIBLE, 1);
                }
            }
            Report::Heap { v, .. } => page.heap(v),
            Report::Int { id, v, .. } => {
                let origin: f64 = id.parse().unwrap_or(f64::NAN);
                let mut out = Recorded {
                    flow: &self.flow,
                    recorder: &self.recorder,
                };
                let step_of = |start: f64| step_at(origin + start).unwrap_or(step);
                if !page.interactions(&v, &step_of, &mut out, age_ms) {
                    self.sink.count(IMPLAUSIBLE, 1);
                }
            }
        }
    }

    fn key(&self, step: u32, kind: SampleKind, url: &str) -> MetricKey {
        MetricKey::new(
            Mode::Browser,
            self.flow.clone(),
            Some(step),
            kind,
            page_name(url),
        )
    }

    /// Records the shown page's vitals (the page was left, or the session ends).
    fn finish_page(&mut self) {
        if let Some(p) = self.page.take() {
            self.left = Some(p.id.clone());
            p.record(&mut Recorded {
                flow: &self.flow,
                recorder: &self.recorder,
            });
        }
    }

    /// The session ends: the shown page's vitals, and every document whose report never
    /// came.
    pub fn finish(&mut self) {
        self.finish_page();
        for d in std::mem::take(&mut self.docs) {
            self.settle(d);
        }
    }
}

/// Chromium's error pages (`chrome-error://chromewebdata/`) stand where a page failed to load.
fn is_error_page(url: &str) -> bool {
    url.starts_with("chrome-error:")
}

/// Counts the page's reports refused: numbers no page of the session could have measured.
const IMPLAUSIBLE: &str = "page_timing.implausible";

fn ms(v: f64) -> Duration {
    crate::metrics::Unit::Ms.to_duration(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_page_reports() {
        let nav =
            r#"{"t":"nav","id":"1.5","url":"http://h/p?x=1","ttfb":3.5,"dcl":10,"load":20.25}"#;
        assert!(matches!(Report::parse(nav), Some(Report::Nav { load, .. }) if load == 20.25));
        let lcp = r#"{"t":"lcp","id":"1.5","url":"http://h/","v":40}"#;
        assert!(matches!(Report::parse(lcp), Some(Report::Lcp { .. })));
        assert!(Report::parse("not json").is_none());
    }

    #[test]
    fn an_error_page_is_a_failed_page_load() {
        let sink = crate::metrics::Sink::new();
        let mut t = PageTimings::new(Arc::from("f"), sink.recorder(1), sink.clone());
        let report = |url: &str| Report::Nav {
            id: "1".into(),
            url: url.into(),
            ttfb: 1.0,
            dcl: 2.0,
            load: 3.0,
        };
        t.on_report(report("chrome-error://chromewebdata/"), 1, &|_| None);
        t.on_report(report("http://h/ok"), 1, &|_| None);
        drop(t);
        let summary = sink.finish();
        let loads = summary.total(Some(Mode::Browser), Some(SampleKind::PageLoad));
        assert_eq!((loads.count, loads.failures), (2, 1));
        let ttfb = summary.total(Some(Mode::Browser), Some(SampleKind::Ttfb));
        assert_eq!(ttfb.count, 1, "no timings for an error page");
    }

    #[test]
    fn every_document_gets_a_page_load_or_is_counted_unfinished() {
        let sink = crate::metrics::Sink::new();
        let mut t = PageTimings::new(Arc::from("f"), sink.recorder(1), sink.clone());
        // Document 1 (redirected once) reported; 2 loaded but closed before its report
        // (timed from CDP: 0.25 s); 3 left before its load event.
        t.on_document("a", "http://h/login", 1000.0, 10.0, 0);
        t.on_document("a", "http://h/home", 1000.0, 10.0, 0);
        t.on_load(10.5);
        assert_eq!(t.awaiting_reports(), 1);
        t.on_report(
            Report::Nav {
                id: "1000002.5".into(),
                url: "http://h/home".into(),
                ttfb: 1.0,
                dcl: 2.0,
                load: 480.0,
            },
            0,
            &|_| None,
        );
        assert_eq!(t.awaiting_reports(), 0);
        t.on_document("b", "http://h/cart", 1001.0, 11.0, 1);
        t.on_load(11.25);
        t.on_document("c", "http://h/pay", 1002.0, 12.0, 2);
        assert_eq!(t.awaiting_reports(), 1);
        t.finish();
        drop(t);
        let summary = sink.finish();
        let loads = summary.total(Some(Mode::Browser), Some(SampleKind::PageLoad));
        assert_eq!((loads.count, loads.failures), (2, 0));
        let cart = summary
            .entries
            .iter()
            .find(|e| e.kind == SampleKind::PageLoad && e.name.ends_with("/cart"))
            .expect("cart page load");
        assert_eq!((cart.step, cart.count), (Some(1), 1));
        assert!(
            (cart.latency.p50_ms - 250.0).abs() < 2.0,
            "{:?}",
            cart.latency
        );
        assert_eq!(summary.counters.get("page_loads.timed_by_cdp"), Some(&1));
        assert_eq!(summary.counters.get("page_loads.unfinished"), Some(&1));
    }
}
