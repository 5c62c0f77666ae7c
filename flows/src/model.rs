//! The flow file model (serde): a superset of the Chrome DevTools Recorder user-flow format.
//!
//! Recorder fields keep their names and shapes so a Recorder export loads unchanged; throng's
//! additions (`thinkTimeMs`, `network`, `variables`, `checks`, ...) are all optional.
//!
//! Recorder fields hold literal values (what the person typed, the URL visited), so Chrome's
//! Recorder and @puppeteer/replay replay a throng flow as it is. Where throng parametrises one
//! (`${variables}`), the parametrised form sits beside it in a `...Template` field (`urlTemplate`,
//! `valueTemplate`), which throng's replay uses. A Recorder field that itself holds `${...}` and
//! has no template (flows written before templates) is read as the template.

use crate::generated::{Encode, Generate};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

pub use crate::live::{Capped, EventSource, Stream, WebSocket, WebSocketMessage};

/// The format tag throng writes into flows it produces.
pub const FORMAT_V1: &str = "throng-flow/1";

/// One recorded user flow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub title: String,
    /// Origin the flow was recorded against (scheme://host:port); `--target` rewrites it.
    /// When absent, the origin of the first `navigate` step is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector_attribute: Option<String>,
    /// Default step timeout in milliseconds (Recorder field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    pub steps: Vec<Step>,
    /// How long the tab stays open after the last step (the "tab left open" user), in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_ms: Option<u64>,
    /// What the recorder left out to stay bounded (absent: the recording is complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped: Option<Capped>,
    /// W3C `tracestate` sent beside `traceparent` with `--trace` (vendor keys the target's
    /// tracing reads, e.g. `congo=t61rcWkgMzE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// One step: a Recorder action plus throng's per-step additions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    /// Step timeout in milliseconds (Recorder field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asserted_events: Vec<AssertedEvent>,
    /// Recorder frame path (indices into nested iframes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Pause the person took before this step, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time_ms: Option<u64>,
    /// Network activity this step caused when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

impl Step {
    /// A step with no think time, network or checks.
    pub fn new(action: Action) -> Self {
        Step {
            action,
            timeout: None,
            asserted_events: Vec::new(),
            frame: None,
            target: None,
            think_time_ms: None,
            network: None,
            checks: Vec::new(),
        }
    }
}

/// The Recorder step types, tagged by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    #[serde(rename_all = "camelCase")]
    SetViewport {
        width: u32,
        height: u32,
        #[serde(default = "one")]
        device_scale_factor: f64,
        #[serde(default)]
        is_mobile: bool,
        #[serde(default)]
        has_touch: bool,
        #[serde(default)]
        is_landscape: bool,
    },
    #[serde(rename_all = "camelCase")]
    Navigate {
        /// The URL the Recorder navigates to (literal).
        url: String,
        /// throng's parametrised form of `url`, used by throng's replay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_template: Option<String>,
    },
    Click(Pointer),
    DoubleClick(Pointer),
    #[serde(rename_all = "camelCase")]
    Change {
        selectors: Selectors,
        /// The text the Recorder types (literal; a secret's is a mask, see [`secret_mask`]).
        value: String,
        /// throng's parametrised form of `value`, used by throng's replay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value_template: Option<String>,
    },
    KeyDown {
        key: String,
    },
    KeyUp {
        key: String,
    },
    Scroll {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selectors: Option<Selectors>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        y: Option<f64>,
    },
    Hover {
        selectors: Selectors,
    },
    #[serde(rename_all = "camelCase")]
    WaitForElement {
        selectors: Selectors,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visible: Option<bool>,
    },
    WaitForExpression {
        expression: String,
    },
    /// Recorder step written when DevTools network throttling was on while recording.
    EmulateNetworkConditions {
        download: f64,
        upload: f64,
        latency: f64,
    },
    Close,
    /// Recorder extension steps; loaded for compatibility, skipped at replay with a counted note.
    CustomStep {
        name: String,
        #[serde(default)]
        parameters: serde_json::Value,
    },
}

impl Action {
    /// A `navigate` step's action with a literal URL.
    pub fn navigate(url: impl Into<String>) -> Self {
        Action::Navigate {
            url: url.into(),
            url_template: None,
        }
    }

    /// A `change` step's action with a literal value.
    pub fn change(selectors: Selectors, value: impl Into<String>) -> Self {
        Action::Change {
            selectors,
            value: value.into(),
            value_template: None,
        }
    }

    /// The URL throng's replay navigates to (the template when there is one), for `navigate`.
    pub fn replay_url(&self) -> Option<&str> {
        match self {
            Action::Navigate { url, url_template } => Some(replay_form(url, url_template)),
            _ => None,
        }
    }

    /// The text throng's replay types (the template when there is one), for `change`.
    pub fn replay_value(&self) -> Option<&str> {
        match self {
            Action::Change {
                value,
                value_template,
                ..
            } => Some(replay_form(value, value_template)),
            _ => None,
        }
    }

    /// The step's `type` string, as in the flow file (one of [`STEP_TYPES`]).
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::SetViewport { .. } => "setViewport",
            Action::Navigate { .. } => "navigate",
            Action::Click(_) => "click",
            Action::DoubleClick(_) => "doubleClick",
            Action::Change { .. } => "change",
            Action::KeyDown { .. } => "keyDown",
            Action::KeyUp { .. } => "keyUp",
            Action::Scroll { .. } => "scroll",
            Action::Hover { .. } => "hover",
            Action::WaitForElement { .. } => "waitForElement",
            Action::WaitForExpression { .. } => "waitForExpression",
            Action::EmulateNetworkConditions { .. } => "emulateNetworkConditions",
            Action::Close => "close",
            Action::CustomStep { .. } => "customStep",
        }
    }

    /// True for steps a person performs on the page (not navigate, setViewport and the like).
    pub fn is_user_action(&self) -> bool {
        !matches!(
            self,
            Action::SetViewport { .. }
                | Action::Navigate { .. }
                | Action::EmulateNetworkConditions { .. }
                | Action::WaitForElement { .. }
                | Action::WaitForExpression { .. }
                | Action::Close
                | Action::CustomStep { .. }
        )
    }
}

/// What throng's replay uses for a Recorder field: its template when it has one, else the field.
pub fn replay_form<'a>(literal: &'a str, template: &'a Option<String>) -> &'a str {
    template.as_deref().unwrap_or(literal)
}

/// What a Recorder field holds in place of a secret (it is never written in clear): `$ENV`,
/// naming the environment variable the secret is read from (flows/replay-extension.mjs fills
/// it in for @puppeteer/replay), or nothing for a secret supplied only with `--var`.
pub fn secret_mask(secret: &Secret) -> String {
    secret
        .env
        .as_ref()
        .map(|env| format!("${env}"))
        .unwrap_or_default()
}

fn one() -> f64 {
    1.0
}

/// The step type names accepted in `type`, for error messages.
pub const STEP_TYPES: &[&str] = &[
    "setViewport",
    "navigate",
    "click",
    "doubleClick",
    "change",
    "keyDown",
    "keyUp",
    "scroll",
    "hover",
    "waitForElement",
    "waitForExpression",
    "emulateNetworkConditions",
    "close",
    "customStep",
];

/// Fields of a click or double click.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pointer {
    pub selectors: Selectors,
    #[serde(default)]
    pub offset_x: f64,
    #[serde(default)]
    pub offset_y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// Recorder `deviceType`: mouse, pen or touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

/// Alternative selectors, tried in order. Each alternative is a chain (a path through
/// shadow roots / frames); the Recorder also allows a bare string for a one-part chain.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
#[serde(transparent)]
pub struct Selectors(pub Vec<Vec<String>>);

impl<'de> Deserialize<'de> for Selectors {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrChain {
            One(String),
            Chain(Vec<String>),
        }
        let raw = Vec::<OneOrChain>::deserialize(d)?;
        Ok(Selectors(
            raw.into_iter()
                .map(|s| match s {
                    OneOrChain::One(s) => vec![s],
                    OneOrChain::Chain(c) => c,
                })
                .collect(),
        ))
    }
}

/// An event the step must cause (Recorder: `{"type": "navigation", "url"?, "title"?}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssertedEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// throng's parametrised form of `url`, compared by throng's replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_template: Option<String>,
}

impl AssertedEvent {
    /// A navigation to `url` (literal).
    pub fn navigation(url: Option<String>) -> Self {
        AssertedEvent {
            kind: "navigation".into(),
            url,
            title: None,
            url_template: None,
        }
    }

    /// The URL throng's replay expects (the template when there is one).
    pub fn replay_url(&self) -> Option<&str> {
        self.url_template.as_deref().or(self.url.as_deref())
    }
}

/// What a step sent over the network when it was recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(default)]
    pub requests: Vec<RecordedRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polling: Vec<Poller>,
    /// Server-Sent Events streams (EventSource) the page keeps open while it is open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_sources: Vec<EventSource>,
    /// WebSockets the page opened, with what it sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub web_sockets: Vec<WebSocket>,
    /// Responses the page reads as they arrive and keeps open (`fetch()` of an event stream):
    /// held open while the page is, like an EventSource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<Stream>,
}

impl Network {
    /// True when the step holds something open (an EventSource, a WebSocket, a stream).
    pub fn has_live(&self) -> bool {
        !(self.event_sources.is_empty() && self.web_sockets.is_empty() && self.streams.is_empty())
    }
}

/// How a request is counted and replayed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum RequestKind {
    Document,
    Static,
    Ajax,
    Polling,
    Beacon,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Document => "document",
            RequestKind::Static => "static",
            RequestKind::Ajax => "ajax",
            RequestKind::Polling => "polling",
            RequestKind::Beacon => "beacon",
        }
    }
}

/// One recorded request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Name other parts (extraction rules) refer to, e.g. "r1".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub kind: RequestKind,
    /// CDP resource type (Document, Stylesheet, Script, Image, Font, XHR, Fetch, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Status seen when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// True for a request to a host outside the flow's origin (kept, not replayed unless allowed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// A document or AJAX request that may fail at replay without failing its step (by default
    /// one the recording saw succeed fails its step and the session when it fails).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

pub(crate) fn get() -> String {
    "GET".to_string()
}

impl RecordedRequest {
    /// The document GET a `navigate` step without recorded network stands for.
    pub fn document_get(url: impl Into<String>) -> Self {
        RecordedRequest {
            id: None,
            kind: RequestKind::Document,
            resource_type: Some("Document".into()),
            method: get(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            status: None,
            initiator: None,
            external: false,
            optional: false,
        }
    }

    /// Whether a failure of this request at replay fails its step: a document or AJAX request
    /// the recording saw answer below 400 (or with no status known), not marked optional.
    pub fn must_succeed(&self) -> bool {
        matches!(self.kind, RequestKind::Document | RequestKind::Ajax)
            && !self.optional
            && !self.external
            && self.status.is_none_or(|s| s < 400)
    }
}

/// A request the page repeats on a timer while it is open.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Poller {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    pub period_ms: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The status its ticks answered when recorded; an error status answered again is what the
    /// site does, not a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// A content check on the step's main response (document, or the last ajax request).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_not_contains: Option<String>,
}

/// A `${name}` value: extracted from a response, or drawn from data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<Extract>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvSource>,
    /// A fixed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Supplied at replay (`--var name=...` or the environment variable `env`); never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Made up anew for each session (an id the page made up itself), shaped like the recorded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generate>,
    /// Another value encoded (a password the page sent base64-encoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode: Option<Encode>,
    /// How values from `oneOf`/`csv` are handed out.
    #[serde(default, skip_serializing_if = "ValueOrder::is_default")]
    pub order: ValueOrder,
}

impl Variable {
    /// A variable with only a name; set one source field after.
    pub fn named(name: impl Into<String>) -> Self {
        Variable {
            name: name.into(),
            extract: None,
            one_of: None,
            csv: None,
            value: None,
            secret: None,
            generate: None,
            encode: None,
            order: ValueOrder::default(),
        }
    }

    /// An id made up for each session in the shape of `like` (what the recording saw).
    pub fn generated(name: impl Into<String>, like: impl Into<String>) -> Self {
        Variable {
            generate: Some(Generate { like: like.into() }),
            ..Variable::named(name)
        }
    }

    /// A value extracted at replay from a response (`extract.from` names the request id).
    pub fn extracted(name: impl Into<String>, extract: Extract) -> Self {
        Variable {
            extract: Some(extract),
            ..Variable::named(name)
        }
    }

    /// A secret supplied at replay from `--var name=...` or the environment variable `env`.
    pub fn secret(name: impl Into<String>, env: impl Into<String>) -> Self {
        Variable {
            secret: Some(Secret {
                env: Some(env.into()),
            }),
            ..Variable::named(name)
        }
    }
}

/// Where an extracted value comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Extract {
    /// Id of the recorded request whose response holds the value.
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub css: Option<String>,
    /// Attribute of the CSS match; the element's text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<String>,
    /// Regex over the body; capture group 1 when present, else the whole match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// Values drawn from a CSV file (path relative to the flow file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CsvSource {
    pub file: String,
    pub column: String,
}

/// A value the user supplies at replay time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// Distribution of list values over users and iterations.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum ValueOrder {
    #[default]
    RoundRobin,
    Random,
    /// Each value used at most once over the whole run; exhausted lists fail the iteration.
    Unique,
}

impl ValueOrder {
    fn is_default(&self) -> bool {
        *self == ValueOrder::default()
    }
}
