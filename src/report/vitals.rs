//! Web vitals at their 75th percentile, rated good / needs improvement / poor by web.dev's
//! boundaries: the numbers a page's users feel, shown in report.html and the terminal.

use crate::metrics::{Mode, RunSummary, SampleKind};

use super::format;
use super::html::table;

/// A kind's 75th percentile over a mode, in the kind's unit (ms, score, count, MB).
pub fn p75(summary: &RunSummary, mode: Mode, kind: SampleKind) -> Option<f64> {
    let t = summary.total(Some(mode), Some(kind));
    (t.count > 0).then(|| {
        kind.unit()
            .from_ms(t.hist.value_at_quantile(0.75) as f64 / 1000.0)
    })
}

/// The CSS class of a rating.
fn class(rating: &str) -> &'static str {
    match rating {
        "good" => "good",
        "needs improvement" => "ni",
        _ => "poor",
    }
}

/// report.html's vitals: per mode, each vital's p75 with its rating and band boundaries,
/// then long tasks and JS heap per page.
pub fn html_section(summary: &RunSummary) -> String {
    let mut rows = Vec::new();
    for mode in summary.modes() {
        let extras = [SampleKind::LongTasks, SampleKind::JsHeap];
        for kind in SampleKind::VITALS.into_iter().chain(extras) {
            let Some(v) = p75(summary, mode, kind) else {
                continue;
            };
            let unit = kind.unit();
            let rating = match kind.rating(v) {
                Some(r) => format!("\u{1}<span class=\"{}\">{r}</span>", class(r)),
                None => String::new(),
            };
            let bands = kind
                .vital_bands()
                .map(|(g, p)| format!("≤ {} · ≤ {} · above", unit.format(g), unit.format(p)))
                .unwrap_or_default();
            rows.push(vec![
                mode.to_string(),
                kind.to_string(),
                format::count(summary.total(Some(mode), Some(kind)).count),
                unit.format(v),
                rating,
                bands,
            ]);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        r#"<section id="vitals"><h2>Web vitals (p75)</h2><p class="muted">Per page (INP: per interaction); cls is a score, long-tasks a count per page, js-heap the heap used at each page's end.</p>{}</section>"#,
        table(
            &[
                "mode",
                "vital",
                ">samples",
                ">p75",
                "rating",
                "good · needs improvement · poor"
            ],
            &rows,
            |_| ""
        )
    )
}
