//! The part of the throng flow format ("throng-flow/1") the recorder writes, as serde structs.
//!
//! The recorder does not depend on the `throng` crate; these structs mirror the field names of
//! its flow model (a superset of the Chrome DevTools Recorder format) for what a recording holds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format tag of the files the recorder writes.
pub const FORMAT: &str = "throng-flow/1";

/// A recorded flow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    pub format: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    pub steps: Vec<Step>,
}

/// One step: a Recorder action plus think time and the network it caused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asserted_events: Vec<AssertedEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

impl Step {
    pub fn new(action: Action) -> Self {
        Step {
            action,
            asserted_events: Vec::new(),
            frame: None,
            think_time_ms: None,
            network: None,
        }
    }
}

/// Selector alternatives, each a chain (one part unless it crosses shadow roots).
pub type Selectors = Vec<Vec<String>>;

/// The step types the recorder produces (Recorder names, tagged by `type`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Action {
    #[serde(rename_all = "camelCase")]
    SetViewport {
        width: u32,
        height: u32,
        device_scale_factor: f64,
        is_mobile: bool,
        has_touch: bool,
        is_landscape: bool,
    },
    Navigate {
        url: String,
    },
    #[serde(rename_all = "camelCase")]
    Click {
        selectors: Selectors,
        offset_x: f64,
        offset_y: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    DoubleClick {
        selectors: Selectors,
        offset_x: f64,
        offset_y: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button: Option<String>,
    },
    Change {
        selectors: Selectors,
        value: String,
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
}

impl Action {
    /// True for steps a person performs on the page (not navigate/setViewport).
    pub fn is_user_action(&self) -> bool {
        !matches!(self, Action::SetViewport { .. } | Action::Navigate { .. })
    }
}

/// An event the step caused (`{"type": "navigation", "url": ...}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssertedEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a step sent over the network when it was recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub requests: Vec<Request>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polling: Vec<Poller>,
}

/// How a request is counted and replayed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Document,
    Static,
    Ajax,
    Polling,
    Beacon,
}

/// One recorded request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
}

/// A request the page repeats on a timer while it is open.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Poller {
    pub method: String,
    pub url: String,
    pub period_ms: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A `${name}` value: extracted from a recorded response, or a secret supplied at replay.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<Extract>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// Where an extracted value comes from: one of css(+attr), regex, jsonPointer, header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Extract {
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub css: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// A value the user supplies at replay (`--var name=...` or the environment variable `env`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Secret {
    pub env: String,
}
