//! Writing flows: the JSON text throng writes (pretty, newline-terminated), with secrets masked
//! in Recorder fields, checked by the same loader that will read it back, so no tool of the
//! workspace writes a flow throng rejects or a secret in clear.

use crate::error::{FlowError, Pos};
use crate::model::Flow;

/// The text of `flow` as throng writes it (Recorder fields that carry a secret masked, see
/// [`Flow::mask_secret_literals`]), after loading that text back through [`crate::parse`];
/// `label` names the file in the error, which points at the line of the text.
pub fn to_checked_json(flow: &Flow, label: &str) -> Result<String, FlowError> {
    let mut flow = flow.clone();
    flow.mask_secret_literals();
    let mut text = serde_json::to_string_pretty(&flow)
        .map_err(|e| FlowError::syntax(label, Pos { line: 1, column: 1 }, &e.to_string()))?;
    text.push('\n');
    crate::parse(&text, label)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Step, Variable};

    #[test]
    fn a_flow_the_loader_rejects_is_not_written() {
        let mut flow = Flow {
            format: Some(crate::FORMAT_V1.into()),
            title: "t".into(),
            origin: None,
            selector_attribute: None,
            timeout: None,
            variables: vec![],
            steps: vec![Step::new(Action::navigate("http://127.0.0.1:1/${nope}"))],
            dwell_ms: None,
            capped: None,
            tracestate: None,
        };
        let err = to_checked_json(&flow, "out.json").unwrap_err().to_string();
        assert!(
            err.starts_with("out.json:") && err.contains("nope"),
            "{err}"
        );
        flow.variables.push(Variable::secret("nope", "THRONG_NOPE"));
        let text = to_checked_json(&flow, "out.json").unwrap();
        assert!(
            text.ends_with("}\n") && !text.contains("\"order\""),
            "{text}"
        );
    }
}
