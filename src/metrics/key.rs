//! Metric identity: run mode, sample kind, the (mode, flow, step, kind, name) key and outcomes.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::flow::RequestKind;

/// Which replay mode produced a sample.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Http,
    Browser,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::Browser => "browser",
        }
    }

    /// A hybrid run's per-mode user counter: `users.MODE.peak` (most users at once) or
    /// `users.MODE.user_ms` (users integrated over time), the mode's report facts.
    pub fn users_counter(self, what: &str) -> String {
        format!("users.{}.{what}", self.as_str())
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "http" => Ok(Mode::Http),
            "browser" => Ok(Mode::Browser),
            _ => Err(format!("unknown mode `{s}` (expected http or browser)")),
        }
    }
}

/// What one sample measures: a single request of some kind, or a composite timing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SampleKind {
    Document,
    Static,
    Ajax,
    Polling,
    Beacon,
    Other,
    /// Document start -> load event (browser) / document + its static assets (http).
    PageLoad,
    Ttfb,
    DomContentLoaded,
    Fcp,
    Lcp,
    /// Cumulative layout shift of a page: its largest session window (a score).
    Cls,
    /// Interaction to next paint: one sample per interaction (click, key, tap).
    Inp,
    /// Total blocking time of a page: the sum of its long tasks' time over 50 ms.
    Tbt,
    /// Long tasks (over 50 ms) of a page: a count.
    LongTasks,
    /// JS heap used at a page's end, MB.
    JsHeap,
    /// One flow step's duration.
    Step,
    /// A Server-Sent Events stream opened (latency: to the response head).
    #[serde(rename = "eventsource")]
    EventSource,
    /// A WebSocket opened (latency: connect and handshake).
    #[serde(rename = "websocket")]
    WebSocket,
    /// A browser login handed to HTTP users (`--login`): its whole session, start to handoff.
    Login,
}

impl SampleKind {
    /// The request kinds (what [`SampleKind::is_request`] holds), in display order.
    pub const REQUESTS: [SampleKind; 8] = [
        SampleKind::Document,
        SampleKind::Static,
        SampleKind::Ajax,
        SampleKind::Polling,
        SampleKind::EventSource,
        SampleKind::WebSocket,
        SampleKind::Beacon,
        SampleKind::Other,
    ];

    /// Every kind, in display order: the request kinds, then page timings and steps.
    pub const ALL: [SampleKind; 20] = {
        let r = Self::REQUESTS;
        [
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            SampleKind::PageLoad,
            SampleKind::Ttfb,
            SampleKind::DomContentLoaded,
            SampleKind::Fcp,
            SampleKind::Lcp,
            SampleKind::Cls,
            SampleKind::Inp,
            SampleKind::Tbt,
            SampleKind::LongTasks,
            SampleKind::JsHeap,
            SampleKind::Step,
            SampleKind::Login,
        ]
    };

    /// The web vitals, in display order: judged at their 75th percentile.
    pub const VITALS: [SampleKind; 6] = [
        SampleKind::Ttfb,
        SampleKind::Fcp,
        SampleKind::Lcp,
        SampleKind::Cls,
        SampleKind::Inp,
        SampleKind::Tbt,
    ];

    /// What a sample of this kind measures. A kind that is not a time is recorded as its
    /// value in seconds (a CLS of 0.1 as 0.1 s), so the histograms, buckets and sums hold
    /// it with 1e-6 resolution; the `*_ms` fields then hold the value times 1000.
    pub fn unit(self) -> Unit {
        match self {
            SampleKind::Cls => Unit::Score,
            SampleKind::LongTasks => Unit::Count,
            SampleKind::JsHeap => Unit::Megabytes,
            _ => Unit::Ms,
        }
    }

    /// The good / needs-improvement boundaries of a vital at p75 (web.dev's), in its unit.
    pub fn vital_bands(self) -> Option<(f64, f64)> {
        match self {
            SampleKind::Ttfb => Some((800.0, 1800.0)),
            SampleKind::Fcp => Some((1800.0, 3000.0)),
            SampleKind::Lcp => Some((2500.0, 4000.0)),
            SampleKind::Cls => Some((0.1, 0.25)),
            SampleKind::Inp => Some((200.0, 500.0)),
            // Lighthouse's TBT scoring (mobile).
            SampleKind::Tbt => Some((200.0, 600.0)),
            _ => None,
        }
    }

    /// The rating of a p75 value (in the kind's unit): good, needs improvement or poor.
    pub fn rating(self, value: f64) -> Option<&'static str> {
        let (good, poor) = self.vital_bands()?;
        Some(if value <= good {
            "good"
        } else if value <= poor {
            "needs improvement"
        } else {
            "poor"
        })
    }

    pub fn from_request_kind(k: RequestKind) -> Self {
        match k {
            RequestKind::Document => SampleKind::Document,
            RequestKind::Static => SampleKind::Static,
            RequestKind::Ajax => SampleKind::Ajax,
            RequestKind::Polling => SampleKind::Polling,
            RequestKind::Beacon => SampleKind::Beacon,
        }
    }

    /// True for kinds that are one HTTP request each (they make up requests/s and error rates).
    pub fn is_request(self) -> bool {
        Self::REQUESTS.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Document => "document",
            SampleKind::Static => "static",
            SampleKind::Ajax => "ajax",
            SampleKind::Polling => "polling",
            SampleKind::Beacon => "beacon",
            SampleKind::Other => "other",
            SampleKind::PageLoad => "page-load",
            SampleKind::Ttfb => "ttfb",
            SampleKind::DomContentLoaded => "dom-content-loaded",
            SampleKind::Fcp => "fcp",
            SampleKind::Lcp => "lcp",
            SampleKind::Cls => "cls",
            SampleKind::Inp => "inp",
            SampleKind::Tbt => "tbt",
            SampleKind::LongTasks => "long-tasks",
            SampleKind::JsHeap => "js-heap",
            SampleKind::Step => "step",
            SampleKind::EventSource => "eventsource",
            SampleKind::WebSocket => "websocket",
            SampleKind::Login => "login",
        }
    }
}

impl fmt::Display for SampleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SampleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SampleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = SampleKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind `{s}` (expected one of {})", names.join(", "))
            })
    }
}

/// The unit of a sample kind (see [`SampleKind::unit`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Ms,
    Score,
    Count,
    Megabytes,
}

impl Unit {
    /// A value read from a `*_ms` field (or a histogram in ms) in this unit.
    pub fn from_ms(self, ms: f64) -> f64 {
        match self {
            Unit::Ms => ms,
            _ => ms / 1000.0,
        }
    }

    /// A value in this unit as it is recorded.
    /// Any number converts (a page's report is a peer's word): NaN and negatives as 0, values
    /// past what a Duration holds as its largest.
    pub fn to_duration(self, v: f64) -> std::time::Duration {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        let secs = match self {
            Unit::Ms => v / 1000.0,
            _ => v,
        };
        std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX)
    }

    /// A value in this unit for people: `734.2ms`, `0.083`, `12`, `8.4MB`.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Ms => format!("{v:.1}ms"),
            Unit::Score => format!("{v:.3}"),
            Unit::Count => format!("{v:.0}"),
            Unit::Megabytes => format!("{v:.1}MB"),
        }
    }
}

/// The identity of a metric series. Few distinct keys per run: names have no query string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MetricKey {
    pub mode: Mode,
    pub flow: Arc<str>,
    /// Zero-based step index; None for samples not tied to a step (e.g. whole-flow timings).
    pub step: Option<u32>,
    pub kind: SampleKind,
    pub name: Arc<str>,
}

impl MetricKey {
    pub fn new(
        mode: Mode,
        flow: impl Into<Arc<str>>,
        step: Option<u32>,
        kind: SampleKind,
        name: impl Into<Arc<str>>,
    ) -> Self {
        MetricKey {
            mode,
            flow: flow.into(),
            step,
            kind,
            name: name.into(),
        }
    }
}

/// The result of one sample. Ok is success; `Interrupted` is neither; every other variant is
/// a failure category.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    /// An HTTP status >= 400.
    Status(u16),
    Timeout,
    Refused,
    Reset,
    CheckFailed,
    /// A request to a host not allowed by the run.
    Blocked,
    /// The TLS handshake or session failed (a certificate not trusted, expired or for another
    /// name; a protocol error or alert).
    Tls,
    /// The response broke HTTP/1.1 (a bad status line, header, chunk size or length).
    Malformed,
    /// The body (or its decompressed form) was larger than `--max-body`.
    BodyTooLarge,
    /// Still open when throng cut it: at the run's hard deadline (the plan's end plus `--grace`
    /// and `--drain`, or shortly after Ctrl-C) or when its session left the page. Neither a
    /// success nor a failure: counted apart (see [`Outcome::is_failure`]).
    Interrupted,
    /// Anything else.
    Error,
}

impl Outcome {
    /// Ok below 400, Status otherwise.
    pub fn from_status(status: u16) -> Outcome {
        if status >= 400 {
            Outcome::Status(status)
        } else {
            Outcome::Ok
        }
    }

    /// Whether the target failed the request: an interrupted request is throng's doing.
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Ok | Outcome::Interrupted)
    }

    /// Stable label used in summaries and reports: "ok", "status 503", "timeout", ...
    pub fn label(self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Status(s) => format!("status {s}"),
            Outcome::Timeout => "timeout".into(),
            Outcome::Refused => "refused".into(),
            Outcome::Reset => "reset".into(),
            Outcome::CheckFailed => "check-failed".into(),
            Outcome::Blocked => "blocked".into(),
            Outcome::Tls => "tls".into(),
            Outcome::Malformed => "malformed".into(),
            Outcome::BodyTooLarge => "body-too-large".into(),
            Outcome::Interrupted => "interrupted".into(),
            Outcome::Error => "error".into(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Request name: METHOD + " " + URL with query and fragment stripped and ids in the path
/// grouped as `{id}` (keeps key count small).
pub fn request_name(method: &str, url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    format!(
        "{} {}",
        method.to_ascii_uppercase(),
        super::names::group_ids(&url[..end])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_name_strips_query_and_fragment() {
        assert_eq!(
            request_name("get", "http://h/a/b?x=1#frag"),
            "GET http://h/a/b"
        );
        assert_eq!(request_name("POST", "http://h/a#f?x"), "POST http://h/a");
        assert_eq!(request_name("GET", "http://h/"), "GET http://h/");
    }

    #[test]
    fn kinds_serialize_kebab_case_and_parse_back() {
        for k in SampleKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(k.as_str().parse::<SampleKind>().unwrap(), k);
        }
        assert!("pageload".parse::<SampleKind>().is_err());
        assert_eq!(
            serde_json::to_string(&Mode::Browser).unwrap(),
            "\"browser\""
        );
    }

    #[test]
    fn request_kinds_map_to_request_sample_kinds() {
        assert!(SampleKind::from_request_kind(RequestKind::Polling).is_request());
        assert!(!SampleKind::PageLoad.is_request());
        assert_eq!(Outcome::from_status(404), Outcome::Status(404));
        assert_eq!(Outcome::from_status(302), Outcome::Ok);
        assert_eq!(Outcome::Status(503).label(), "status 503");
        assert_eq!(Outcome::Tls.label(), "tls");
        assert_eq!(serde_json::to_string(&Outcome::Tls).unwrap(), "\"tls\"");
        for o in [
            Outcome::Malformed,
            Outcome::BodyTooLarge,
            Outcome::Interrupted,
        ] {
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.label())
            );
        }
    }
}
