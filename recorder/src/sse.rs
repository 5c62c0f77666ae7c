//! Counts Server-Sent Events in a `text/event-stream` body read by `fetch()` (CDP reports an
//! EventSource's events itself, not those of a stream a script reads), holding no more than a
//! field name of the current line.

/// The counting state of one stream.
#[derive(Debug, Default, Clone)]
pub struct EventCounter {
    /// The first bytes of the current line (enough to tell a `data` field).
    head: Vec<u8>,
    /// The current line is longer than `head` holds.
    long: bool,
    after_cr: bool,
    has_data: bool,
}

impl EventCounter {
    /// Reads `bytes`; returns how many events they completed (a blank line after data).
    pub fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut events = 0;
        for &b in bytes {
            if self.after_cr && b == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                events += u64::from(self.end_line());
            } else if self.head.len() < 5 {
                self.head.push(b);
            } else {
                self.long = true;
            }
        }
        events
    }

    fn end_line(&mut self) -> bool {
        let empty = self.head.is_empty() && !self.long;
        let data = self.head == b"data" || self.head.starts_with(b"data:");
        self.head.clear();
        self.long = false;
        if empty {
            return std::mem::take(&mut self.has_data);
        }
        self.has_data |= data;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_blank_lines_after_data() {
        let mut c = EventCounter::default();
        assert_eq!(c.feed(b": comment\n\nevent: x\ndata: {\"n\":1}\r\n\r"), 1);
        assert_eq!(c.feed(b"\ndata: 2\n"), 0);
        assert_eq!(c.feed(b"\nid: 3\n\ndata\n\n"), 2);
        assert_eq!(c.feed(b"datum: 4\n\n"), 0);
    }
}
