//! JSON paths into a flow file and the scanner that turns a path into a line:column.
//!
//! serde_json's `Value` keeps no positions, so errors found on the typed model (or reported by
//! serde with a path) are located by walking the source text again along the same path.

use super::error::Pos;
use std::fmt;

/// One step of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root, e.g. `steps[2].selectors`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonPath(pub Vec<Seg>);

impl JsonPath {
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        JsonPath(v)
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        JsonPath(v)
    }

    /// Converts serde_path_to_error's path, stopping at the first segment it could not name
    /// (inside `#[serde(flatten)]` content serde loses track of where it is).
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let mut v = Vec::new();
        for seg in path.iter() {
            match seg {
                Segment::Seq { index } => v.push(Seg::Index(*index)),
                Segment::Map { key } => v.push(Seg::Key(key.clone())),
                Segment::Enum { .. } => {}
                Segment::Unknown => break,
            }
        }
        JsonPath(v)
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_segs(&self.0, f)
    }
}

/// Writes `a.b[2].c` for a slice of segments.
pub fn fmt_segs(segs: &[Seg], f: &mut impl fmt::Write) -> fmt::Result {
    for (n, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Key(k) if n == 0 => write!(f, "{k}")?,
            Seg::Key(k) => write!(f, ".{k}")?,
            Seg::Index(i) => write!(f, "[{i}]")?,
        }
    }
    Ok(())
}

/// The position of `path` in `source`: an object member's key, an array element's first
/// character, or (when the path runs out in the text) the deepest container that exists.
/// `source` must already have parsed as JSON.
pub fn locate(source: &str, path: &JsonPath) -> Pos {
    Pos::of_offset(source, locate_offset(source, path))
}

fn locate_offset(source: &str, path: &JsonPath) -> usize {
    let mut sc = Scanner {
        s: source.as_bytes(),
        i: 0,
    };
    sc.ws();
    let mut at = sc.i;
    for seg in &path.0 {
        // `sc.i` is at the start of the current value.
        let found = match seg {
            Seg::Key(k) => sc.member(source, k),
            Seg::Index(n) => sc.element(*n),
        };
        match found {
            Some((report, value)) => {
                at = report;
                sc.i = value;
            }
            None => break,
        }
    }
    at
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Skips a string starting at the opening quote; returns the offset after the closing one.
    fn string(&mut self) {
        self.i += 1;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    /// Skips one value of any kind, iteratively (no recursion however deep the nesting).
    fn value(&mut self) {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek() {
                None => return,
                Some(b'"') => self.string(),
                Some(b'{' | b'[') => {
                    depth += 1;
                    self.i += 1;
                }
                Some(b'}' | b']') => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                }
                Some(b',' | b':') if depth > 0 => self.i += 1,
                Some(_) => {
                    while let Some(b) = self.peek() {
                        if matches!(b, b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\n' | b'\r') {
                            break;
                        }
                        self.i += 1;
                    }
                }
            }
            if depth == 0 {
                return;
            }
        }
    }

    /// In the object at `self.i`, the (key offset, value offset) of the last member named `key`.
    fn member(&mut self, source: &str, key: &str) -> Option<(usize, usize)> {
        if self.peek() != Some(b'{') {
            return None;
        }
        self.i += 1;
        let mut found = None;
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => {}
                _ => return found,
            }
            let key_at = self.i;
            self.string();
            let name: Option<String> = serde_json::from_str(source.get(key_at..self.i)?).ok();
            self.ws();
            if self.peek() != Some(b':') {
                return found;
            }
            self.i += 1;
            self.ws();
            let value_at = self.i;
            if name.as_deref() == Some(key) {
                found = Some((key_at, value_at));
            }
            self.value();
            self.ws();
            if self.peek() == Some(b',') {
                self.i += 1;
            } else {
                return found;
            }
        }
    }

    /// In the array at `self.i`, the offset of element `n` (reported and value offsets agree).
    fn element(&mut self, n: usize) -> Option<(usize, usize)> {
        if self.peek() != Some(b'[') {
            return None;
        }
        self.i += 1;
        let mut k = 0;
        loop {
            self.ws();
            if matches!(self.peek(), None | Some(b']')) {
                return None;
            }
            if k == n {
                return Some((self.i, self.i));
            }
            self.value();
            self.ws();
            if self.peek() == Some(b',') {
                self.i += 1;
                k += 1;
            } else {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"{
  "title": "t",
  "steps": [
    {"type": "navigate", "url": "http://a/"},
    {
      "type": "click",
      "selectors": [["a\"]"], "b"],
      "nested": {"x": [1, {"y": "}"}]}
    }
  ]
}"#;

    fn at(path: JsonPath) -> (usize, usize) {
        let p = locate(SRC, &path);
        (p.line, p.column)
    }

    #[test]
    fn keys_point_at_the_member_name() {
        let steps = JsonPath::root().key("steps");
        assert_eq!(at(JsonPath::root().key("title")), (2, 3));
        assert_eq!(at(steps.index(0).key("url")), (4, 26));
        assert_eq!(at(steps.index(1).key("selectors")), (7, 7));
        assert_eq!(at(steps.index(1).key("nested")), (8, 7));
    }

    #[test]
    fn indices_point_at_the_element() {
        let sel = JsonPath::root().key("steps").index(1).key("selectors");
        assert_eq!(at(sel.index(1)), (7, 31));
        assert_eq!(at(sel.index(0).index(0)), (7, 22));
        assert_eq!(at(JsonPath::root().key("steps").index(1)), (5, 5));
    }

    #[test]
    fn missing_parts_fall_back_to_the_deepest_container() {
        let step = JsonPath::root().key("steps").index(1);
        assert_eq!(at(step.key("nope")), (5, 5));
        assert_eq!(at(step.key("nested").key("x").index(7)), (8, 18));
        assert_eq!(at(JsonPath::root().key("steps").index(9)), (3, 3));
    }

    #[test]
    fn display_joins_keys_and_indices() {
        let p = JsonPath::root()
            .key("steps")
            .index(2)
            .key("network")
            .key("requests");
        assert_eq!(p.to_string(), "steps[2].network.requests");
    }
}
