//! Number, time and text formatting shared by the report formats, and a plain-text table.

use std::time::Duration;

use crate::metrics::{SampleKind, Unit};

/// Milliseconds with precision that fits the magnitude: 0.42, 12.3, 1534.
pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// Optional milliseconds; "-" when absent.
pub fn opt_ms(v: Option<f64>) -> String {
    v.map(ms).unwrap_or_else(|| "-".into())
}

/// A value read from a `*_ms` field of this kind, in its table column: ms for a time, the
/// score, count or MB for the kinds that are not times (their row's kind says which).
pub fn kind_value(kind: SampleKind, v: f64) -> String {
    match kind.unit() {
        Unit::Ms => ms(v),
        Unit::Score => format!("{:.3}", v / 1000.0),
        Unit::Count => format!("{:.0}", v / 1000.0),
        Unit::Megabytes => format!("{:.1}", v / 1000.0),
    }
}

/// A fraction as a percentage: 0.0123 -> "1.23%".
pub fn pct(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

/// A rate with one decimal.
pub fn rate(v: f64) -> String {
    format!("{v:.1}")
}

/// 1234567 -> "1,234,567".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1h 02m 03s", "2m 05s", "12.5s".
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h {:02}m {:02}s", secs / 3600, secs / 60 % 60, secs % 60)
    } else if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Unix milliseconds as "YYYY-MM-DD HH:MM:SS UTC" (no time zone database needed).
pub fn utc(unix_ms: u64) -> String {
    let c = crate::metrics::civil(i64::try_from(unix_ms).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Shorten long text in the middle: "GET http://host/a/very/…/path".
pub fn truncate_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return s.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// A plain-text table: left-aligned text columns, right-aligned numbers.
pub struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns whose header starts with '>' are right-aligned (the '>' is dropped).
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers
                .iter()
                .map(|h| h.trim_start_matches('>').to_string())
                .collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self, indent: &str) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::from(indent);
            for (i, (width, right)) in widths.iter().zip(&self.right).enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = width.saturating_sub(c.chars().count());
                if i > 0 {
                    out.push_str("  ");
                }
                if *right {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(c);
                } else {
                    out.push_str(c);
                    if i + 1 < cols {
                        out.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.headers);
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_times_and_text() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(ms(0.4242), "0.42");
        assert_eq!(ms(123.45), "123.5");
        assert_eq!(ms(1534.2), "1534");
        assert_eq!(pct(0.01234), "1.23%");
        assert_eq!(duration(Duration::from_secs(3723)), "1h 02m 03s");
        assert_eq!(duration(Duration::from_millis(12_500)), "12.5s");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_251_199_000), "2024-02-29 23:59:59 UTC");
        assert_eq!(truncate_middle("abcdefghij", 7), "abc…hij");
        assert_eq!(truncate_middle("abc", 7), "abc");
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["name", ">count"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["long name".into(), "1,000".into()]);
        assert_eq!(
            t.render(""),
            "name       count\na              1\nlong name  1,000\n"
        );
    }
}
