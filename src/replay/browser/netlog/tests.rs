//! The request bookkeeping against CDP events in the orders chromiumoxide may deliver them.

use super::*;
use serde_json::json;

const FRAME: &str = "F";

fn log() -> (NetLog, Sink) {
    let sink = Sink::new();
    let log = NetLog::new(
        "flow".into(),
        sink.recorder(0),
        sink.clone(),
        HashSet::new(),
        FRAME.into(),
    );
    (log, sink)
}

fn start(id: &str, loader: &str, kind: &str, url: &str) -> EventRequestWillBeSent {
    serde_json::from_value(json!({
        "requestId": id, "loaderId": loader, "documentURL": url, "frameId": FRAME,
        "request": {"url": url, "method": "GET", "headers": {}, "initialPriority": "High",
                    "referrerPolicy": "no-referrer"},
        "timestamp": 1.0, "wallTime": 1.0, "initiator": {"type": "other"},
        "redirectHasExtraInfo": false, "type": kind
    }))
    .unwrap()
}

fn finished(id: &str, ts: f64) -> EventLoadingFinished {
    serde_json::from_value(json!({"requestId": id, "timestamp": ts, "encodedDataLength": 10.0}))
        .unwrap()
}

/// Requests recorded (any outcome) and those settled as cancelled by the browser.
fn counted(sink: &Sink) -> (u64, u64) {
    let summary = sink.snapshot();
    let requests = summary
        .entries
        .iter()
        .filter(|e| e.kind.is_request())
        .map(|e| e.count)
        .sum();
    let canceled = sink
        .counters()
        .get("requests.canceled")
        .copied()
        .unwrap_or(0);
    (requests, canceled)
}

#[test]
fn a_slow_navigation_is_never_left_behind_by_the_document_it_replaces() {
    let (mut log, sink) = log();
    log.on_start(&start("A", "A", "Document", "http://h/a"), 1);
    log.on_frame_navigated(FRAME, "A");
    log.on_finished(&finished("A", 1.1));
    // The next page's request answers after far longer than a left-behind request may wait.
    log.on_start(&start("B", "B", "Document", "http://h/b"), 2);
    let later = Instant::now() + LEFT_BEHIND * 4;
    log.settle(later, false);
    assert_eq!(log.in_flight(), 1, "the navigation is still under way");
    // A commit of the old document read late (listener channels are not ordered).
    log.on_frame_navigated(FRAME, "A");
    log.settle(later + LEFT_BEHIND * 4, false);
    assert_eq!(log.in_flight(), 1);
    log.on_frame_navigated(FRAME, "B");
    log.on_finished(&finished("B", 3.0));
    log.settle(later + LEFT_BEHIND * 8, true);
    assert_eq!(
        counted(&sink),
        (2, 0),
        "both documents counted, none cancelled"
    );
}

#[test]
fn a_request_of_a_document_the_frame_left_settles_without_its_end() {
    let (mut log, sink) = log();
    log.on_start(&start("A", "A", "Document", "http://h/a"), 1);
    log.on_frame_navigated(FRAME, "A");
    log.on_finished(&finished("A", 1.1));
    log.on_start(&start("B", "B", "Document", "http://h/b"), 2);
    log.on_frame_navigated(FRAME, "B");
    // Sent by A, read after B committed, never ended by Chromium.
    log.on_start(&start("a1", "A", "Fetch", "http://h/poll"), 1);
    assert_eq!(log.in_flight(), 1, "only B's request is under way");
    log.on_finished(&finished("B", 1.5));
    log.settle(Instant::now() + LEFT_BEHIND * 2, false);
    assert_eq!(
        counted(&sink),
        (2, 1),
        "A and B counted, the poll cancelled"
    );
}
