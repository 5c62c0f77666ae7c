//! The failed steps a run kept (page URL and title, console errors, screenshot; the failing
//! response in HTTP mode): a terminal paragraph and a report.html section with thumbnails.

use std::fmt::Write as _;

use crate::metrics::{FailureRecord, RunSummary};

use super::charts::esc;
use super::format;

fn step_text(f: &FailureRecord) -> String {
    match f.step {
        Some(s) => format!("{} {} step {}", f.mode, f.flow, s + 1),
        None => format!("{} {}", f.mode, f.flow),
    }
}

/// "Failed steps kept: N (screenshots in failures/)" and one short block per failure.
pub fn text_section(summary: &RunSummary) -> String {
    let mut out = String::new();
    if summary.failures.is_empty() {
        return super::kept_sessions::text_line(summary);
    }
    let shots = summary
        .failures
        .iter()
        .filter(|f| f.screenshot.is_some())
        .count();
    let _ = write!(out, "\nFailed steps kept: {}", summary.failures.len());
    if shots > 0 {
        let _ = write!(
            out,
            " (screenshots: {shots}, in failures/ beside results.json; report.html shows them)"
        );
    }
    out.push('\n');
    for f in summary.failures.iter().take(10) {
        let _ = writeln!(
            out,
            "  {}: {}",
            step_text(f),
            format::truncate_middle(&f.message, 160)
        );
        let mut at = Vec::new();
        if let Some(s) = f.status {
            at.push(format!("status {s}"));
        }
        if let Some(u) = &f.url {
            at.push(format::truncate_middle(u, 100));
        }
        if let Some(t) = f.title.as_deref().filter(|t| !t.is_empty()) {
            at.push(format!("title {t:?}"));
        }
        if !at.is_empty() {
            let _ = writeln!(out, "    at {}", at.join(", "));
        }
        for c in f.console.iter().take(3) {
            let c = c.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "    {}", format::truncate_middle(&c, 150));
        }
        if let Some(b) = &f.body {
            let line = b.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "    body: {}", format::truncate_middle(&line, 150));
        }
        if let Some(s) = &f.screenshot {
            let _ = writeln!(out, "    screenshot: {s}");
        }
    }
    if summary.failures.len() > 10 {
        let _ = writeln!(
            out,
            "  … {} more in results.json",
            summary.failures.len() - 10
        );
    }
    out.push_str(&super::kept_sessions::text_line(summary));
    out
}

/// The report.html section: one card per failure, its screenshot as a linked thumbnail.
pub fn html_section(summary: &RunSummary) -> String {
    if summary.failures.is_empty() {
        return super::kept_sessions::html_section(summary);
    }
    let mut out = format!(
        r#"<section id="failed-steps"><h2>Failed steps ({} kept)</h2><div class="shots">"#,
        summary.failures.len()
    );
    for f in &summary.failures {
        let _ = write!(
            out,
            r#"<div class="shot"><b>{}</b><p class="fail">{}</p>"#,
            esc(&step_text(f)),
            esc(&f.message)
        );
        if let Some(s) = &f.screenshot {
            let s = esc(s);
            let _ = write!(
                out,
                r#"<a href="{s}"><img src="{s}" alt="screenshot of the page when the step failed" loading="lazy"></a>"#
            );
        }
        let mut facts = Vec::new();
        if let Some(s) = f.status {
            facts.push(format!("status {s}"));
        }
        if let Some(u) = &f.url {
            facts.push(format!("<code>{}</code>", esc(u)));
        }
        if let Some(t) = f.title.as_deref().filter(|t| !t.is_empty()) {
            facts.push(format!("title “{}”", esc(t)));
        }
        if !facts.is_empty() {
            let _ = write!(out, "<p>{}</p>", facts.join(" · "));
        }
        if !f.console.is_empty() {
            out.push_str(r#"<p class="muted">Console errors</p><ul>"#);
            for c in &f.console {
                let _ = write!(out, "<li><code>{}</code></li>", esc(c));
            }
            out.push_str("</ul>");
        }
        if let Some(b) = &f.body {
            let _ = write!(
                out,
                r#"<p class="muted">Response body (first bytes)</p><pre style="white-space:pre-wrap;max-height:200px;overflow:auto"><code>{}</code></pre>"#,
                esc(b)
            );
        }
        for s in super::kept_sessions::failed_at(summary, f) {
            out.push_str(&super::kept_sessions::html_links(s));
        }
        out.push_str("</div>");
    }
    out.push_str("</div></section>");
    out.push_str(&super::kept_sessions::html_section(summary));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Mode;

    #[test]
    fn shows_each_kept_failure_with_its_screenshot_and_response() {
        let mut s = RunSummary::default();
        assert!(text_section(&s).is_empty() && html_section(&s).is_empty());
        s.failures = vec![
            FailureRecord {
                mode: Mode::Browser,
                flow: "shop".into(),
                step: Some(2),
                message: "step 3 click #buy: no element matched".into(),
                url: Some("http://h/cart".into()),
                title: Some("Cart <1>".into()),
                status: None,
                body: None,
                console: vec!["uncaught: TypeError: x is undefined".into()],
                screenshot: Some("failures/browser-shop-step3-1.png".into()),
            },
            FailureRecord {
                mode: Mode::Http,
                flow: "shop".into(),
                step: Some(0),
                message: "step 1 navigate: /x answered 500".into(),
                url: Some("http://h/x".into()),
                title: None,
                status: Some(500),
                body: Some("<h1>Server Error</h1>".into()),
                console: Vec::new(),
                screenshot: None,
            },
        ];
        let text = text_section(&s);
        assert!(
            text.contains("Failed steps kept: 2 (screenshots: 1,"),
            "{text}"
        );
        assert!(
            text.contains("browser shop step 3: step 3 click #buy"),
            "{text}"
        );
        assert!(text.contains("at status 500, http://h/x"), "{text}");
        assert!(text.contains("screenshot: failures/browser-shop-step3-1.png"));
        let html = html_section(&s);
        assert!(html.contains(r#"<img src="failures/browser-shop-step3-1.png""#));
        assert!(html.contains("title “Cart &lt;1&gt;”") && html.contains("&lt;h1&gt;Server Error"));
    }
}
