//! What a failed browser step leaves behind: the page's URL and title, its console errors and
//! uncaught exceptions (collected for the whole session, the first few per step), and a PNG
//! screenshot written under the run's output directory (`failures/...png`). Bounded by the
//! sink's per-step and total caps, and in time: a hung page cannot hold the session. The
//! session's variable values are redacted from the texts.

use crate::metrics::{redact_values, FailureRecord, Mode, Sink, CONSOLE_PER_FAILURE};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown, RemoteObject,
};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use std::path::Path;
use std::time::Duration;

/// Console errors kept per step (and characters per error).
const PER_STEP: usize = CONSOLE_PER_FAILURE;
const MAX_CHARS: usize = 500;
/// How long a screenshot or a title may take before the failure is kept without it.
const CAPTURE_LIMIT: Duration = Duration::from_secs(5);

/// A session's console errors, the first few of each step.
#[derive(Debug, Default)]
pub(crate) struct ConsoleErrors {
    seen: Vec<(u32, String)>,
}

impl ConsoleErrors {
    fn push(&mut self, step: u32, text: String) {
        if self.seen.iter().filter(|(s, _)| *s == step).count() < PER_STEP {
            let text: String = text.chars().take(MAX_CHARS).collect();
            self.seen.push((step, text));
        }
    }

    pub fn on_console(&mut self, ev: &EventConsoleApiCalled, step: u32) {
        if ev.r#type != ConsoleApiCalledType::Error {
            return;
        }
        let parts: Vec<String> = ev.args.iter().map(object_text).collect();
        self.push(step, format!("console.error: {}", parts.join(" ")));
    }

    pub fn on_exception(&mut self, ev: &EventExceptionThrown, step: u32) {
        let d = &ev.exception_details;
        let what = d
            .exception
            .as_ref()
            .and_then(|e| e.description.as_deref())
            .unwrap_or(&d.text);
        // The description's first line; the stack follows it.
        let what = what.lines().next().unwrap_or_default();
        let at = d
            .url
            .as_ref()
            .map(|u| format!(" ({u}:{})", d.line_number + 1))
            .unwrap_or_default();
        self.push(step, format!("uncaught: {what}{at}"));
    }

    /// The errors of `step`, then those of the step before it (the page it acted on).
    pub fn around(&self, step: u32) -> Vec<String> {
        let of = |want: u32| {
            self.seen
                .iter()
                .filter(move |(s, _)| *s == want)
                .map(|(_, t)| t.clone())
        };
        let before = step.checked_sub(1).into_iter().flat_map(of);
        of(step).chain(before).take(CONSOLE_PER_FAILURE).collect()
    }
}

fn object_text(o: &RemoteObject) -> String {
    match &o.value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => o.description.clone().unwrap_or_default(),
    }
}

/// Keeps what a failed step shows (within the sink's caps): URL, title, console errors and,
/// with an output directory, a screenshot.
pub(crate) async fn keep(
    page: &Page,
    sink: &Sink,
    out_dir: Option<&Path>,
    (flow, step): (&str, u32),
    message: &str,
    console: Vec<String>,
    secrets: &[&str],
) {
    let Some(n) = sink.reserve_failure(Mode::Browser, flow, Some(step)) else {
        return;
    };
    let where_ = tokio::time::timeout(
        CAPTURE_LIMIT,
        page.evaluate("({url: location.href, title: document.title})"),
    )
    .await
    .ok()
    .and_then(|r| r.ok())
    .and_then(|r| r.into_value::<serde_json::Value>().ok());
    let redact = |s: &str| redact_values(s, secrets.iter().copied());
    let text = |k: &str| where_.as_ref().and_then(|v| v[k].as_str()).map(redact);
    let mut screenshot = None;
    if let Some(dir) = out_dir {
        let shot = tokio::time::timeout(
            CAPTURE_LIMIT,
            page.screenshot(ScreenshotParams::builder().build()),
        )
        .await;
        if let Ok(Ok(png)) = shot {
            let rel = format!("failures/browser-{}-step{}-{n}.png", slug(flow), step + 1);
            let path = dir.join(&rel);
            let written = match path.parent() {
                Some(p) => tokio::fs::create_dir_all(p).await.is_ok(),
                None => true,
            } && tokio::fs::write(&path, png).await.is_ok();
            if written {
                screenshot = Some(rel);
            }
        }
    }
    sink.keep_failure(FailureRecord {
        mode: Mode::Browser,
        flow: flow.to_string(),
        step: Some(step),
        message: redact(message),
        url: text("url"),
        title: text("title"),
        status: None,
        body: None,
        console: console.iter().map(|c| redact(c)).collect(),
        screenshot,
    });
}

/// Widest filmstrip image (CSS pixels are scaled down to it).
const FILMSTRIP_WIDTH: f64 = 800.0;

/// A small JPEG of what the page shows (quality 50, at most [`FILMSTRIP_WIDTH`] wide) for a
/// kept session's filmstrip; None when the page cannot be captured in time.
pub(crate) async fn filmstrip_shot(page: &Page) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use chromiumoxide::cdp::browser_protocol::page::{
        CaptureScreenshotFormat, CaptureScreenshotParams, GetLayoutMetricsParams, Viewport,
    };
    let shot = async {
        let m = page.execute(GetLayoutMetricsParams::default()).await.ok()?;
        let v = &m.result.css_layout_viewport;
        let width = v.client_width.max(1) as f64;
        let clip = Viewport {
            x: v.page_x as f64,
            y: v.page_y as f64,
            width,
            height: v.client_height.max(1) as f64,
            scale: (FILMSTRIP_WIDTH / width).min(1.0),
        };
        let params = CaptureScreenshotParams {
            format: Some(CaptureScreenshotFormat::Jpeg),
            quality: Some(50),
            clip: Some(clip),
            ..Default::default()
        };
        let r = page.execute(params).await.ok()?;
        let data: &str = r.result.data.as_ref();
        base64::engine::general_purpose::STANDARD.decode(data).ok()
    };
    tokio::time::timeout(CAPTURE_LIMIT, shot)
        .await
        .ok()
        .flatten()
}

/// A flow name as a file-name piece: letters, digits and dashes.
pub(crate) fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-');
    let s: String = s.chars().take(40).collect();
    if s.is_empty() {
        "flow".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_errors_of_each_step_and_those_around_a_step() {
        let mut c = ConsoleErrors::default();
        for i in 0..8 {
            c.push(1, format!("e{i}"));
        }
        c.push(2, "x".repeat(2000));
        c.push(4, "far".into());
        let around = c.around(2);
        assert_eq!(around.len(), CONSOLE_PER_FAILURE);
        assert_eq!(around[0].len(), MAX_CHARS, "the step's own error first");
        assert_eq!(around[1], "e0");
        assert_eq!(c.around(3)[0].len(), MAX_CHARS);
        assert!(c.around(0).is_empty());
        assert_eq!(slug("flows/shop.json"), "flows-shop-json");
    }
}
