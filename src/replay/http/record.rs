//! HTTP mode's samples: each hop the client reports, named (the flow's precomputed name or
//! `METHOD url-without-query`) and recorded under the user's flow and step; its span ended
//! when traced.

use super::client::{HopReport, Observer};
use crate::metrics::{request_name, MetricKey, Mode, Recorder};
use std::sync::Arc;
use std::time::Duration;

/// A request sent later than this against its schedule is "late" (coordinated omission);
/// below it is scheduler jitter.
const LATE_AFTER: Duration = Duration::from_millis(10);

/// Records a client's hops and counters into one user's recorder.
pub struct MetricObserver {
    recorder: Recorder,
}

impl MetricObserver {
    pub fn shared(recorder: Recorder) -> Arc<dyn Observer> {
        Arc::new(MetricObserver { recorder })
    }
}

impl Observer for MetricObserver {
    fn hop(&self, h: &HopReport<'_>) {
        let key = MetricKey {
            mode: Mode::Http,
            flow: h.tag.flow.clone(),
            step: h.tag.step,
            kind: h.kind,
            name: h
                .name
                .cloned()
                .unwrap_or_else(|| Arc::from(request_name(h.method, h.url.as_str()))),
        };
        let late = h.late >= LATE_AFTER;
        match h.bytes {
            Some(bytes) if !late => self
                .recorder
                .record_response(&key, h.elapsed, h.outcome, bytes),
            bytes => {
                if late {
                    self.recorder
                        .record_late(&key, h.elapsed, h.elapsed + h.late, h.outcome);
                } else {
                    self.recorder.record(&key, h.elapsed, h.outcome);
                }
                if let Some(b) = bytes {
                    self.recorder.add_bytes(&key, b);
                }
            }
        }
        if let (Some(span), Some(trace)) = (h.span, h.tag.trace.as_deref()) {
            trace.request_done(span, &key, h.elapsed, h.outcome, h.status);
        }
    }

    fn count(&self, counter: &str, n: u64) {
        self.recorder.count(counter, n);
    }
}
