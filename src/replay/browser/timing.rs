//! Page-load samples: a script installed before any document loads reports Navigation
//! Timing (TTFB, DOMContentLoaded, load), FCP and LCP of every top-level navigation through
//! a CDP binding, so no navigation is missed and nothing polls the page.

use crate::metrics::{MetricKey, Mode, Outcome, Recorder, SampleKind};
use crate::replay::page_name;
use std::sync::Arc;
use std::time::Duration;

/// The binding the page calls (Runtime.addBinding).
pub(crate) const BINDING: &str = "__throngPageTiming";

/// Runs in every new document (Page.addScriptToEvaluateOnNewDocument). Reports Navigation
/// Timing once the load event has finished (so `loadEventEnd` is set), FCP when painted,
/// and every LCP candidate (the last one before the page is left is the LCP).
pub(crate) const SCRIPT: &str = r#"(() => {
  if (window !== window.top) return;
  const send = window.__throngPageTiming;
  if (typeof send !== 'function') return;
  const id = String(performance.timeOrigin);
  const post = (m) => { m.id = id; m.url = location.href; try { send(JSON.stringify(m)); } catch (e) {} };
  const observe = (type, f) => {
    try { new PerformanceObserver((l) => f(l.getEntries())).observe({ type, buffered: true }); } catch (e) {}
  };
  observe('paint', (es) => es.forEach((e) => {
    if (e.name === 'first-contentful-paint') post({ t: 'fcp', v: e.startTime });
  }));
  observe('largest-contentful-paint', (es) => {
    if (es.length) post({ t: 'lcp', v: es[es.length - 1].startTime });
  });
  addEventListener('load', () => setTimeout(() => {
    const n = performance.getEntriesByType('navigation')[0];
    if (n) post({ t: 'nav', ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd });
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
}

impl Report {
    pub fn parse(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// The latest LCP candidate of the current document, recorded when the page is left.
struct Candidate {
    id: String,
    key: MetricKey,
    ms: f64,
}

/// Turns a session's reports into page-load, TTFB, DOMContentLoaded, FCP and LCP samples,
/// named by the page URL without query, as in HTTP mode.
pub(crate) struct PageTimings {
    flow: Arc<str>,
    recorder: Recorder,
    lcp: Option<Candidate>,
}

impl PageTimings {
    pub fn new(flow: Arc<str>, recorder: Recorder) -> Self {
        PageTimings {
            flow,
            recorder,
            lcp: None,
        }
    }

    pub fn on_report(&mut self, r: Report, step: u32) {
        let flow = self.flow.clone();
        let key = |kind: SampleKind, url: &str| {
            MetricKey::new(
                Mode::Browser,
                flow.clone(),
                Some(step),
                kind,
                page_name(url),
            )
        };
        match r {
            Report::Nav {
                id,
                url,
                ttfb,
                dcl,
                load,
            } => {
                if self.lcp.as_ref().is_some_and(|c| c.id != id) {
                    self.finish();
                }
                if is_error_page(&url) {
                    // Chromium's own error page (refused, DNS, TLS...): a page that failed to
                    // load, not a fast one.
                    let key = key(SampleKind::PageLoad, &url);
                    self.recorder.record(&key, ms(load), Outcome::Error);
                    return;
                }
                for (kind, v) in [
                    (SampleKind::PageLoad, load),
                    (SampleKind::Ttfb, ttfb),
                    (SampleKind::DomContentLoaded, dcl),
                ] {
                    self.recorder.record(&key(kind, &url), ms(v), Outcome::Ok);
                }
            }
            Report::Fcp { url, .. } | Report::Lcp { url, .. } if is_error_page(&url) => {}
            Report::Fcp { url, v, .. } => {
                self.recorder
                    .record(&key(SampleKind::Fcp, &url), ms(v), Outcome::Ok);
            }
            Report::Lcp { id, url, v } => {
                if self.lcp.as_ref().is_some_and(|c| c.id != id) {
                    self.finish();
                }
                let key = key(SampleKind::Lcp, &url);
                self.lcp = Some(Candidate { id, key, ms: v });
            }
        }
    }

    /// Records the pending LCP (the page was left, or the session ends).
    pub fn finish(&mut self) {
        if let Some(c) = self.lcp.take() {
            self.recorder.record(&c.key, ms(c.ms), Outcome::Ok);
        }
    }
}

/// Chromium's error pages (`chrome-error://chromewebdata/`) stand where a page failed to load.
fn is_error_page(url: &str) -> bool {
    url.starts_with("chrome-error:")
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1000.0)
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
        let mut t = PageTimings::new(Arc::from("f"), sink.recorder(1));
        let report = |url: &str| Report::Nav {
            id: "1".into(),
            url: url.into(),
            ttfb: 1.0,
            dcl: 2.0,
            load: 3.0,
        };
        t.on_report(report("chrome-error://chromewebdata/"), 1);
        t.on_report(report("http://h/ok"), 1);
        drop(t);
        let summary = sink.finish();
        let loads = summary.total(Some(Mode::Browser), Some(SampleKind::PageLoad));
        assert_eq!((loads.count, loads.failures), (2, 1));
        let ttfb = summary.total(Some(Mode::Browser), Some(SampleKind::Ttfb));
        assert_eq!(ttfb.count, 1, "no timings for an error page");
    }
}
