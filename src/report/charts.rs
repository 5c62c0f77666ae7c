//! Inline SVG charts for the HTML report: line charts over time, the latency percentile
//! distribution, and horizontal grouped bars. No scripts: tooltips are SVG <title>s.

use std::fmt::Write as _;

/// Series colours (colour-blind friendly, Okabe-Ito).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
/// Above this many points per series, markers are left out (the line carries the data).
const MAX_MARKERS: usize = 240;

/// Escape text for HTML/SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A vertical marker (e.g. the knee).
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// A line chart. `x_ticks` replaces the automatic x ticks (value, label).
pub struct LineChart {
    pub id: &'static str,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    pub x_ticks: Option<Vec<(f64, String)>>,
    pub marker: Option<Marker>,
    /// Tooltip text for a point: (line label, x, y) -> text.
    pub tip: fn(&str, f64, f64) -> String,
}

fn nice_step(range: f64, target: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / target;
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn tick_label(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn ticks(max: f64) -> (f64, Vec<f64>) {
    let step = nice_step(max, 5.0);
    let top = (max / step).ceil().max(1.0) * step;
    let n = (top / step).round() as usize;
    (top, (0..=n).map(|i| i as f64 * step).collect())
}

fn frame_open(out: &mut String, id: &str, title: &str, points: usize) {
    let _ = write!(
        out,
        r#"<figure class="chart" id="{id}"><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{}" data-points="{points}">"#,
        esc(title),
        esc(title)
    );
}

fn no_data(out: &mut String) {
    let _ = write!(
        out,
        r#"<text class="nodata" x="{}" y="{}" text-anchor="middle">no data</text>"#,
        W / 2.0,
        H / 2.0
    );
}

impl LineChart {
    /// Render as a <figure> with an inline <svg>; data-points counts every plotted point.
    pub fn render(&self) -> String {
        let total: usize = self.lines.iter().map(|l| l.points.len()).sum();
        let mut out = String::new();
        frame_open(&mut out, self.id, &self.title, total);
        if total == 0 {
            no_data(&mut out);
            out.push_str("</svg></figure>");
            return out;
        }
        let all = self.lines.iter().flat_map(|l| l.points.iter());
        let (mut x_min, mut x_max, mut y_max) = (f64::MAX, f64::MIN, 0f64);
        for &(x, y) in all {
            x_min = x_min.min(x);
            x_max = x_max.max(x);
            y_max = y_max.max(y);
        }
        if let Some(t) = &self.x_ticks {
            for (x, _) in t {
                x_min = x_min.min(*x);
                x_max = x_max.max(*x);
            }
        }
        x_min = x_min.min(0.0);
        if x_max <= x_min {
            x_max = x_min + 1.0;
        }
        let (y_top, y_ticks) = ticks(if y_max > 0.0 { y_max * 1.05 } else { 1.0 });
        let px = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * (W - LEFT - RIGHT);
        let py = |y: f64| TOP + (1.0 - y / y_top) * (H - TOP - BOTTOM);

        // Grid and axes.
        out.push_str(r#"<g class="grid">"#);
        for y in &y_ticks {
            let _ = write!(
                out,
                r#"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                py(*y),
                py(*y),
                LEFT - 6.0,
                py(*y) + 4.0,
                tick_label(*y)
            );
        }
        let x_ticks: Vec<(f64, String)> = match &self.x_ticks {
            Some(t) => t.clone(),
            None => {
                let step = nice_step(x_max - x_min, 6.0);
                let first = (x_min / step).ceil() * step;
                let n = ((x_max - first) / step).floor().max(0.0) as usize;
                (0..=n)
                    .map(|i| first + i as f64 * step)
                    .map(|x| (x, tick_label(x)))
                    .collect()
            }
        };
        for (x, label) in &x_ticks {
            let _ = write!(
                out,
                r#"<line class="xt" x1="{:.1}" x2="{:.1}" y1="{}" y2="{}"/><text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                px(*x),
                px(*x),
                H - BOTTOM,
                H - BOTTOM + 4.0,
                px(*x),
                H - BOTTOM + 16.0,
                esc(label)
            );
        }
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text><text class="axis" transform="translate(12 {:.1}) rotate(-90)" text-anchor="middle">{}</text></g>"#,
            LEFT + (W - LEFT - RIGHT) / 2.0,
            H - 6.0,
            esc(&self.x_label),
            TOP + (H - TOP - BOTTOM) / 2.0,
            esc(&self.y_label)
        );

        // Lines, then markers with tooltips.
        for line in &self.lines {
            if line.points.is_empty() {
                continue;
            }
            let pts: Vec<String> = line
                .points
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let dash = if line.dashed {
                r#" stroke-dasharray="5 4""#
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<polyline class="series" data-series="{}" data-count="{}" fill="none" stroke="{}" stroke-width="1.8"{dash} points="{}"/>"#,
                esc(&line.label),
                line.points.len(),
                line.color,
                pts.join(" ")
            );
            if line.points.len() <= MAX_MARKERS {
                let _ = write!(out, r#"<g class="pts" fill="{}">"#, line.color);
                for &(x, y) in &line.points {
                    let _ = write!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.2"><title>{}</title></circle>"#,
                        px(x),
                        py(y),
                        esc(&(self.tip)(&line.label, x, y))
                    );
                }
                out.push_str("</g>");
            }
        }
        if let Some(m) = &self.marker {
            let x = px(m.x);
            let _ = write!(
                out,
                r##"<g class="knee"><line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#B00020" stroke-dasharray="3 3"/><text x="{:.1}" y="{}" fill="#B00020">{}</text></g>"##,
                H - BOTTOM,
                (x + 4.0).min(W - 150.0),
                TOP + 12.0,
                esc(&m.label)
            );
        }
        out.push_str("</svg>");
        legend(
            &mut out,
            self.lines.iter().map(|l| (l.label.as_str(), l.color)),
        );
        out.push_str("</figure>");
        out
    }
}

fn legend<'a>(out: &mut String, items: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push_str(r#"<div class="legend">"#);
    for (label, color) in items {
        let _ = write!(
            out,
            r#"<span><i style="background:{color}"></i>{}</span>"#,
            esc(label)
        );
    }
    out.push_str("</div>");
}

/// Horizontal grouped bars: one row per category, one bar per series (None = no bar).
pub struct BarChart {
    pub id: &'static str,
    pub title: String,
    pub unit: String,
    pub categories: Vec<String>,
    pub series: Vec<(String, &'static str, Vec<Option<f64>>)>,
}

impl BarChart {
    pub fn render(&self) -> String {
        let bars: usize = self
            .series
            .iter()
            .map(|s| s.2.iter().flatten().count())
            .sum();
        let n_series = self.series.len().max(1) as f64;
        let bar_h = 9.0;
        let row_h = bar_h * n_series + 10.0;
        let label_w = 210.0;
        let height = (TOP + row_h * self.categories.len() as f64 + BOTTOM).max(H * 0.6);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<figure class="chart" id="{}"><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height:.0}" role="img" aria-label="{}" data-points="{bars}">"#,
            self.id,
            esc(&self.title),
            esc(&self.title)
        );
        if bars == 0 {
            no_data(&mut out);
            out.push_str("</svg></figure>");
            return out;
        }
        let max = self
            .series
            .iter()
            .flat_map(|s| s.2.iter().flatten())
            .fold(0f64, |a, &b| a.max(b));
        let (top, ticks) = ticks(if max > 0.0 { max * 1.05 } else { 1.0 });
        let px = |v: f64| label_w + v / top * (W - label_w - RIGHT);
        let bottom = height - BOTTOM;
        out.push_str(r#"<g class="grid">"#);
        for t in &ticks {
            let _ = write!(
                out,
                r#"<line x1="{:.1}" x2="{:.1}" y1="{TOP}" y2="{bottom:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                px(*t),
                px(*t),
                px(*t),
                bottom + 16.0,
                tick_label(*t)
            );
        }
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            px(top / 2.0),
            height - 6.0,
            esc(&self.unit)
        );
        for (ci, cat) in self.categories.iter().enumerate() {
            let y0 = TOP + ci as f64 * row_h;
            let _ = write!(
                out,
                r#"<text class="cat" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                label_w - 6.0,
                y0 + row_h / 2.0,
                esc(&super::format::truncate_middle(cat, 34))
            );
            for (si, (label, color, values)) in self.series.iter().enumerate() {
                if let Some(Some(v)) = values.get(ci) {
                    let _ = write!(
                        out,
                        r#"<rect class="bar" x="{label_w}" y="{:.1}" width="{:.1}" height="{bar_h}" fill="{color}"><title>{}: {} {}</title></rect>"#,
                        y0 + 5.0 + si as f64 * bar_h,
                        (px(*v) - label_w).max(0.5),
                        esc(&format!("{cat} · {label}")),
                        super::format::ms(*v),
                        esc(&self.unit)
                    );
                }
            }
        }
        out.push_str("</svg>");
        legend(&mut out, self.series.iter().map(|s| (s.0.as_str(), s.1)));
        out.push_str("</figure>");
        out
    }
}

/// Quantiles plotted in the latency distribution, as x = log10(1 / (1 - q)).
pub const DISTRIBUTION_QUANTILES: [f64; 16] = [
    0.0, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.997, 0.999, 0.9995, 0.9999, 0.99999,
    1.0,
];

/// x position of a quantile on the distribution chart (1.0 is drawn at 99.999%).
pub fn quantile_x(q: f64) -> f64 {
    (1.0 / (1.0 - q.min(0.99999))).log10()
}

/// The x ticks of the distribution chart.
pub fn distribution_ticks() -> Vec<(f64, String)> {
    [
        (0.0, "0%"),
        (0.9, "90%"),
        (0.99, "99%"),
        (0.999, "99.9%"),
        (0.9999, "99.99%"),
        (0.99999, "max"),
    ]
    .into_iter()
    .map(|(q, l)| (quantile_x(q), l.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_cover_the_range() {
        let (top, t) = ticks(87.0);
        assert_eq!(top, 100.0);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let (top, _) = ticks(0.37);
        assert!((top - 0.4).abs() < 1e-9);
        assert_eq!(tick_label(0.30000000000000004), "0.3");
    }

    #[test]
    fn line_chart_plots_every_point_and_escapes_text() {
        let c = LineChart {
            id: "c",
            title: "a<b".into(),
            x_label: "s".into(),
            y_label: "ms".into(),
            lines: vec![Line {
                label: "p95".into(),
                color: PALETTE[0],
                dashed: false,
                points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            }],
            x_ticks: None,
            marker: Some(Marker {
                x: 1.0,
                label: "knee".into(),
            }),
            tip: |l, x, y| format!("{l} {x} {y}"),
        };
        let svg = c.render();
        assert!(svg.contains(r#"data-points="3""#));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains(r#"class="knee""#));
        assert!(svg.contains("<title>p95 1 3</title>"));
    }

    #[test]
    fn empty_charts_say_no_data() {
        let b = BarChart {
            id: "b",
            title: "t".into(),
            unit: "ms".into(),
            categories: vec!["x".into()],
            series: vec![("p95".into(), PALETTE[0], vec![None])],
        };
        assert!(b.render().contains("no data"));
        assert!((quantile_x(0.99) - 2.0).abs() < 1e-9);
    }
}
