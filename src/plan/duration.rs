//! Human durations for flags and plan files: `500ms`, `30s`, `2m`, `1h`, `1m30s`.

use std::time::Duration;

/// Parses `1h`, `2m`, `30s`, `250ms` and sums like `1m30s`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs, text);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{text}`: missing unit (ms, s, m, h)"))?;
        if digits == 0 {
            return Err(format!("`{text}`: expected a number like 30s, 2m, 500ms"));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: bad number"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "`{text}`: unknown unit `{other}` (use ms, s, m, h)"
                ))
            }
        };
        total += secs_to_duration(number * factor, text)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn secs_to_duration(secs: f64, text: &str) -> Result<Duration, String> {
    if !(0.0..=365.0 * 86400.0).contains(&secs) {
        return Err(format!("`{text}`: out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Short display: `1m30s`, `500ms`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    }

    #[test]
    fn rejects_garbage_with_the_text() {
        for bad in ["", "s", "10x", "-5s", "5 s", "abc"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains('`') || err.contains("empty"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_short() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(0)), "0ms");
    }
}
