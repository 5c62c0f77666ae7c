//! What a replay's flow requests got, request by request: a verifying replay (`throng record`
//! checks the flow it wrote) keeps it to diff with the recording; load runs keep none.

use crate::sync::Locked;
use bytes::Bytes;
use std::sync::Mutex;

/// Most of a response body kept per request (enough for the values a flow extracts).
pub const MAX_TRACED_BODY: usize = 512 << 10;
/// Most requests kept (one session of one user is traced).
const MAX_ENTRIES: usize = 10_000;
/// Most body bytes kept in all; later answers keep their status and headers only.
const MAX_TOTAL_BODY: usize = 64 << 20;

/// One flow request as sent and answered.
#[derive(Debug, Clone)]
pub struct Traced {
    /// The step and the flow request (`network.requests[index]`); a document's redirect hops
    /// the client followed run to `last`.
    pub step: usize,
    pub index: usize,
    pub last: usize,
    pub method: String,
    /// The URL sent (variables filled in).
    pub url: String,
    /// The response, or None when none came (then `error` says why).
    pub status: Option<u16>,
    pub final_url: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub error: Option<String>,
}

/// The requests of a traced replay, in the order they were answered.
#[derive(Debug, Default)]
pub struct Trace {
    /// The entries and the body bytes they hold.
    entries: Mutex<(Vec<Traced>, usize)>,
}

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, mut t: Traced) {
        if t.body.len() > MAX_TRACED_BODY {
            t.body = t.body.slice(..MAX_TRACED_BODY);
        }
        let mut guard = self.entries.locked();
        let (entries, bytes) = &mut *guard;
        if entries.len() >= MAX_ENTRIES {
            return;
        }
        if *bytes + t.body.len() > MAX_TOTAL_BODY {
            t.body = bytes::Bytes::new();
        }
        *bytes += t.body.len();
        entries.push(t);
    }

    /// Everything traced so far.
    pub fn entries(&self) -> Vec<Traced> {
        self.entries.locked().0.clone()
    }
}
