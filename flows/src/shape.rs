//! Shape checks on the raw JSON of each step, before serde sees it.
//!
//! Step actions are `#[serde(flatten)]`ed and internally tagged, so serde buffers them and loses
//! the field path of any error inside. Checking each step type's fields here keeps errors
//! precise: "step 3 (click): `selectors` must be a non-empty list".

use super::context::{kind_of, Reporter};
use super::error::{quote, FlowError};
use super::locate::JsonPath;
use super::model::STEP_TYPES;
use serde_json::Value;

/// The JSON shape a field must have.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Num,
    UInt,
    Bool,
    Selectors,
    Any,
}

use Kind::*;

/// (field, shape, required) for the type-specific fields of each step type.
fn action_fields(step_type: &str) -> &'static [(&'static str, Kind, bool)] {
    const POINTER: &[(&str, Kind, bool)] = &[
        ("selectors", Selectors, true),
        ("offsetX", Num, false),
        ("offsetY", Num, false),
        ("button", Str, false),
        ("deviceType", Str, false),
        ("duration", UInt, false),
    ];
    match step_type {
        "setViewport" => &[
            ("width", UInt, true),
            ("height", UInt, true),
            ("deviceScaleFactor", Num, false),
            ("isMobile", Bool, false),
            ("hasTouch", Bool, false),
            ("isLandscape", Bool, false),
        ],
        "navigate" => &[("url", Str, true), ("urlTemplate", Str, false)],
        "click" | "doubleClick" => POINTER,
        "change" => &[
            ("selectors", Selectors, true),
            ("value", Str, true),
            ("valueTemplate", Str, false),
        ],
        "keyDown" | "keyUp" => &[("key", Str, true)],
        "scroll" => &[
            ("selectors", Selectors, false),
            ("x", Num, false),
            ("y", Num, false),
        ],
        "hover" => &[("selectors", Selectors, true)],
        "waitForElement" => &[
            ("selectors", Selectors, true),
            ("operator", Str, false),
            ("count", UInt, false),
            ("visible", Bool, false),
        ],
        "waitForExpression" => &[("expression", Str, true)],
        "emulateNetworkConditions" => &[
            ("download", Num, true),
            ("upload", Num, true),
            ("latency", Num, true),
        ],
        "customStep" => &[("name", Str, true), ("parameters", Any, false)],
        _ => &[],
    }
}

/// Checks the root and every step's type and type-specific fields.
pub(crate) fn check(r: &Reporter<'_>) -> Result<(), FlowError> {
    let root = JsonPath::root();
    let Value::Object(obj) = r.value else {
        return Err(r.err(
            &root,
            &format!("a flow must be a JSON object (got {})", kind_of(r.value)),
        ));
    };
    // A missing or non-list `steps` is left to serde, which reports it with its path.
    if let Some(Value::Array(steps)) = obj.get("steps") {
        for (i, step) in steps.iter().enumerate() {
            check_step(r, &root.key("steps").index(i), step)?;
        }
    }
    known_shapes(r, r.value, &root, Node::Flow)
}

/// The containers of the model whose fields are known, for [`known_shapes`].
#[derive(Clone, Copy)]
enum Node {
    Flow,
    Step,
    Event,
    Network,
    Request,
    Poller,
    EventSource,
    Stream,
    WebSocket,
    WebSocketMessage,
    Check,
    Variable,
    Extract,
    Csv,
    Secret,
    Generate,
    Encode,
}

/// Where serde is laxer than the schema, in known fields: serde reads `null` as an absent
/// optional field and accepts a list in place of an object (`[200]` as a check). The schema,
/// like the Recorder, has neither, so both are rejected here and the loader never accepts what
/// the schema refuses. Unknown fields (and customStep `parameters`) may hold anything.
fn known_shapes(r: &Reporter<'_>, v: &Value, path: &JsonPath, node: Node) -> Result<(), FlowError> {
    let Value::Object(obj) = v else {
        return Err(r.bad(path, &format!("must be an object (got {})", kind_of(v))));
    };
    let (keys, children): (&[&str], &[(&str, Node, bool)]) = match node {
        Node::Flow => (
            &[
                "format",
                "title",
                "origin",
                "selectorAttribute",
                "timeout",
                "dwellMs",
                "tracestate",
            ],
            &[
                ("variables", Node::Variable, true),
                ("steps", Node::Step, true),
            ],
        ),
        Node::Step => (
            &["type", "timeout", "frame", "target", "thinkTimeMs"],
            &[
                ("assertedEvents", Node::Event, true),
                ("network", Node::Network, false),
                ("checks", Node::Check, true),
            ],
        ),
        Node::Event => (&["type", "url", "title", "urlTemplate"], &[]),
        Node::Network => (
            &[],
            &[
                ("requests", Node::Request, true),
                ("polling", Node::Poller, true),
                ("eventSources", Node::EventSource, true),
                ("streams", Node::Stream, true),
                ("webSockets", Node::WebSocket, true),
            ],
        ),
        Node::Request => (
            &[
                "id",
                "kind",
                "resourceType",
                "method",
                "url",
                "headers",
                "body",
                "status",
                "initiator",
                "external",
            ],
            &[],
        ),
        Node::Poller => (
            &["method", "url", "periodMs", "headers", "body", "status"],
            &[],
        ),
        Node::EventSource => (&["url", "headers", "events", "afterMs"], &[]),
        Node::Stream => (
            &[
                "method", "url", "headers", "body", "status", "events", "afterMs",
            ],
            &[],
        ),
        Node::WebSocket => (
            &["url", "received", "afterMs", "closedMs"],
            &[("sent", Node::WebSocketMessage, true)],
        ),
        Node::WebSocketMessage => (&["offsetMs", "data", "binary"], &[]),
        Node::Check => (&["status", "bodyContains", "bodyNotContains"], &[]),
        Node::Variable => (
            &["name", "oneOf", "value", "order"],
            &[
                ("extract", Node::Extract, false),
                ("csv", Node::Csv, false),
                ("secret", Node::Secret, false),
                ("generate", Node::Generate, false),
                ("encode", Node::Encode, false),
            ],
        ),
        Node::Extract => (
            &["from", "css", "attr", "regex", "jsonPointer", "header"],
            &[],
        ),
        Node::Csv => (&["file", "column"], &[]),
        Node::Secret => (&["env"], &[]),
        Node::Generate => (&["like"], &[]),
        Node::Encode => (&["value", "as"], &[]),
    };
    for key in keys.iter().chain(children.iter().map(|(k, _, _)| k)) {
        if obj.get(*key).is_some_and(Value::is_null) {
            return Err(r.bad(
                &path.key(key),
                "must not be null (leave the field out instead)",
            ));
        }
    }
    for &(key, child, is_list) in children {
        let child_path = path.key(key);
        match obj.get(key) {
            Some(Value::Array(items)) if is_list => {
                for (i, item) in items.iter().enumerate() {
                    known_shapes(r, item, &child_path.index(i), child)?;
                }
            }
            Some(item) if !is_list => known_shapes(r, item, &child_path, child)?,
            _ => {}
        }
    }
    Ok(())
}

fn check_step(r: &Reporter<'_>, path: &JsonPath, step: &Value) -> Result<(), FlowError> {
    let Value::Object(obj) = step else {
        return Err(r.err(
            path,
            &format!("a step must be an object (got {})", kind_of(step)),
        ));
    };
    let allowed = STEP_TYPES.join(", ");
    let step_type = match obj.get("type") {
        None => {
            return Err(r.err(
                path,
                &format!("missing required field `type` (allowed: {allowed})"),
            ))
        }
        Some(Value::String(t)) => t.as_str(),
        Some(other) => {
            return Err(r.bad(
                &path.key("type"),
                &format!("must be a string (got {})", kind_of(other)),
            ))
        }
    };
    if !STEP_TYPES.contains(&step_type) {
        return Err(r.err(
            &path.key("type"),
            &format!(
                "unknown step type {} (allowed: {allowed})",
                quote(step_type)
            ),
        ));
    }
    for &(name, kind, required) in action_fields(step_type) {
        let field = path.key(name);
        match obj.get(name) {
            None if required => {
                return Err(match kind {
                    Selectors => r.bad(&field, "must be a non-empty list"),
                    _ => r.err(path, &format!("missing required field `{name}`")),
                });
            }
            None => {}
            Some(v) => check_kind(r, &field, kind, v)?,
        }
    }
    Ok(())
}

fn check_kind(r: &Reporter<'_>, path: &JsonPath, kind: Kind, v: &Value) -> Result<(), FlowError> {
    let ok = match kind {
        Str => v.is_string(),
        Num => v.is_number(),
        UInt => v.is_u64(),
        Bool => v.is_boolean(),
        Any => true,
        Selectors => return check_selectors(r, path, v),
    };
    if ok {
        return Ok(());
    }
    let want = match kind {
        Str => "a string",
        Num => "a number",
        UInt => "a non-negative integer",
        Bool => "a boolean",
        Any | Selectors => unreachable!("handled above"),
    };
    Err(r.bad(path, &format!("must be {want} (got {})", kind_of(v))))
}

/// Selectors: a non-empty list whose items are a selector string or a non-empty chain of them.
fn check_selectors(r: &Reporter<'_>, path: &JsonPath, v: &Value) -> Result<(), FlowError> {
    let list = match v {
        Value::Array(list) if !list.is_empty() => list,
        Value::Array(_) => return Err(r.bad(path, "must be a non-empty list")),
        other => {
            return Err(r.bad(
                path,
                &format!("must be a non-empty list (got {})", kind_of(other)),
            ))
        }
    };
    for (i, alt) in list.iter().enumerate() {
        let alt_path = path.index(i);
        match alt {
            Value::String(s) if s.trim().is_empty() => {
                return Err(r.bad(&alt_path, "is an empty selector"))
            }
            Value::String(_) => {}
            Value::Array(chain) if !chain.is_empty() => {
                for (j, part) in chain.iter().enumerate() {
                    match part {
                        Value::String(s) if !s.trim().is_empty() => {}
                        Value::String(_) => {
                            return Err(r.bad(&alt_path.index(j), "is an empty selector"))
                        }
                        other => {
                            return Err(r.bad(
                                &alt_path.index(j),
                                &format!("must be a selector string (got {})", kind_of(other)),
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(r.bad(
                    &alt_path,
                    &format!(
                        "must be a selector string or a non-empty list of them (got {})",
                        kind_of(other)
                    ),
                ))
            }
        }
    }
    Ok(())
}
