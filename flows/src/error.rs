//! `FlowError`: one-line, located errors for flow files (`file:line:col: message`).

use std::fmt;

/// Why a flow file was rejected. Every variant displays as exactly one line that starts with the
/// file label; the CLI maps any `FlowError` to exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The file could not be read (missing, a directory, no permission).
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
    /// Not JSON (or not UTF-8): the position is where the parser stopped.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON that is not a valid flow: the position is the offending field.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl FlowError {
    pub(crate) fn read(file: &str, err: &std::io::Error) -> Self {
        // io::Error displays as "No such file or directory (os error 2)"; the os code is noise.
        let text = err.to_string();
        let reason = match text.rfind(" (os error ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        FlowError::Read {
            file: one_line(file),
            reason: one_line(&reason),
        }
    }

    pub(crate) fn syntax(file: &str, pos: Pos, message: &str) -> Self {
        FlowError::Syntax {
            file: one_line(file),
            line: pos.line,
            column: pos.column,
            message: one_line(message),
        }
    }

    pub(crate) fn invalid(file: &str, pos: Pos, message: &str) -> Self {
        FlowError::Invalid {
            file: one_line(file),
            line: pos.line,
            column: pos.column,
            message: one_line(message),
        }
    }

    /// The file label the error names.
    pub fn file(&self) -> &str {
        match self {
            FlowError::Read { file, .. }
            | FlowError::Syntax { file, .. }
            | FlowError::Invalid { file, .. } => file,
        }
    }

    /// 1-based line and column, when the error has a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            FlowError::Read { .. } => None,
            FlowError::Syntax { line, column, .. } | FlowError::Invalid { line, column, .. } => {
                Some((*line, *column))
            }
        }
    }

    /// The message without the `file:line:col: ` prefix.
    pub fn message(&self) -> String {
        match self {
            FlowError::Read { reason, .. } => format!("cannot read: {reason}"),
            FlowError::Syntax { message, .. } | FlowError::Invalid { message, .. } => {
                message.clone()
            }
        }
    }
}

/// A 1-based position in the source text (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The position of byte offset `at` in `source`.
    pub fn of_offset(source: &str, at: usize) -> Pos {
        let mut at = at.min(source.len());
        while !source.is_char_boundary(at) {
            at -= 1;
        }
        let before = &source[..at];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Pos { line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Longest message text kept; flow values quoted in messages can be arbitrarily long.
const MAX_MESSAGE_CHARS: usize = 400;

/// Escapes control characters (so the error stays on one line) and caps the length.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_MESSAGE_CHARS));
    for (n, c) in s.chars().enumerate() {
        if n >= MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// A value quoted inside a message: shortened so one huge string cannot swamp the line.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() > MAX {
        let head: String = s.chars().take(MAX).collect();
        format!("`{head}…`")
    } else {
        format!("`{s}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_error_drops_os_code() {
        let err = std::io::Error::from_raw_os_error(2);
        let e = FlowError::read("flows/x.json", &err);
        assert_eq!(
            e.to_string(),
            "flows/x.json: cannot read: No such file or directory"
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = FlowError::invalid("a\nb.json", Pos { line: 1, column: 2 }, "x\ny\u{2028}z");
        assert_eq!(e.to_string(), "a\\nb.json:1:2: x\\ny\\u{2028}z");
    }

    #[test]
    fn offsets_map_to_char_columns() {
        let src = "{\n  \"é\": 1,\n  \"b\": 2\n}";
        let at = src.find("\"b\"").unwrap();
        assert_eq!(Pos::of_offset(src, at), Pos { line: 3, column: 3 });
        let at = src.find('1').unwrap();
        assert_eq!(Pos::of_offset(src, at), Pos { line: 2, column: 8 });
    }
}
