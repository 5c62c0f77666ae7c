//! Turns a JSON path into an error: located line:column plus a readable context
//! ("step 3 (click): `selectors` ...", "variable `q`: ...").

use super::error::{quote, FlowError};
use super::locate::{fmt_segs, locate, JsonPath, Seg};
use super::model::STEP_TYPES;
use serde_json::Value;

/// Everything needed to report an error in one flow file.
pub(crate) struct Reporter<'a> {
    pub file: &'a str,
    pub source: &'a str,
    pub value: &'a Value,
}

impl Reporter<'_> {
    /// An error at `path` whose message is prefixed by the path's context.
    pub fn err(&self, path: &JsonPath, message: &str) -> FlowError {
        let (context, _) = self.split(path);
        let text = match context {
            Some(c) => format!("{c}: {message}"),
            None => message.to_string(),
        };
        FlowError::invalid(self.file, locate(self.source, path), &text)
    }

    /// An error about the field at `path`: "<context>: `<field>` <rest>".
    pub fn bad(&self, path: &JsonPath, rest: &str) -> FlowError {
        let field = self.field(path);
        if field.is_empty() {
            self.err(path, rest)
        } else {
            self.err(path, &format!("`{field}` {rest}"))
        }
    }

    /// The part of `path` below its step or variable, e.g. `network.requests[1].url`.
    pub fn field(&self, path: &JsonPath) -> String {
        let (_, rest) = self.split(path);
        let mut s = String::new();
        let _ = fmt_segs(rest, &mut s);
        s
    }

    /// Splits `path` into its context ("step 3 (click)") and the segments below it.
    fn split<'p>(&self, path: &'p JsonPath) -> (Option<String>, &'p [Seg]) {
        let segs = &path.0[..];
        match segs {
            [Seg::Key(k), Seg::Index(i), rest @ ..] if k == "steps" => {
                let kind = self.value["steps"][*i]["type"].as_str();
                let context = match kind {
                    Some(t) if STEP_TYPES.contains(&t) => format!("step {} ({t})", i + 1),
                    _ => format!("step {}", i + 1),
                };
                (Some(context), rest)
            }
            [Seg::Key(k), Seg::Index(i), rest @ ..] if k == "variables" => {
                let context = match self.value["variables"][*i]["name"].as_str() {
                    Some(name) if !name.is_empty() => format!("variable {}", quote(name)),
                    _ => format!("variable {}", i + 1),
                };
                (Some(context), rest)
            }
            _ => (None, segs),
        }
    }
}

/// How a JSON value's kind reads in a message ("a list", "an object", ...).
pub(crate) fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) => format!("number `{n}`"),
        Value::String(s) => format!("string {}", quote(s)),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
