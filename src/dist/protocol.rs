//! What coordinator and workers say to each other (JSON over HTTP), and how each proves it
//! holds the shared token: workers send it as a bearer token; the coordinator answers a join
//! with an HMAC of the worker's nonce, so a worker never takes orders from an impostor.

use crate::cli::args::{ModeArg, ReplayArgs};
use crate::flow::Flow;
use crate::metrics::RunSummary;
use crate::plan::{LoadPlan, Share};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Joining: who the worker is, a nonce for the coordinator's proof, and the worker's clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Join {
    pub name: String,
    pub nonce: String,
    pub now_unix_ms: u64,
}

/// The coordinator's answer to a join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub worker_id: u64,
    /// HMAC-SHA256(token, nonce), base64; empty when the run has no token.
    pub proof: String,
    /// The coordinator's clock when it answered (the worker estimates the offset).
    pub now_unix_ms: u64,
}

/// A flow as shipped to workers: already checked, CSV data inlined as `oneOf` lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShippedFlow {
    /// Metric name (the file stem).
    pub name: String,
    /// How errors name it (the coordinator's path).
    pub label: String,
    pub weight: u32,
    /// A one-request flow for a URL (`throng run URL`), rebuilt as such by the worker.
    pub url: Option<String>,
    pub flow: Option<Flow>,
}

/// Everything a worker needs to run its share; it holds nothing before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    /// When to start, on the coordinator's clock (Unix ms).
    pub start_unix_ms: u64,
    /// How far into the plan this worker starts (it joined a run under way).
    pub plan_offset_ms: u64,
    pub share: Share,
    pub mode: ModeArg,
    pub plan: LoadPlan,
    pub flows: Vec<ShippedFlow>,
    pub target: Option<String>,
    /// `--var` values, secrets included: they travel only over this channel.
    pub vars: HashMap<String, String>,
    pub replay: ReplayArgs,
    /// The PEM text of `--cacert`.
    pub cacert: Option<String>,
}

/// What a worker measured so far: cumulative entries and counters, and the per-second points
/// not yet acknowledged (so a report's size does not grow with the run's length).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub worker_id: u64,
    pub summary: RunSummary,
    /// Users running now.
    pub users: u64,
    /// This worker's run has ended; `summary` is final.
    pub done: bool,
    /// throng's own CPU seconds and peak resident memory (MB) on the worker.
    pub cpu_s: f64,
    pub mem_mb: f64,
}

/// The coordinator's answer to a report: what the worker should do now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub stop: bool,
    pub share: Share,
    /// A user count set from the dashboard (the whole run's), else the plan's.
    pub users: Option<u32>,
    /// Per-second points up to this time (ms into the worker's run) were received.
    pub series_acked_ms: u64,
}

/// HMAC-SHA256 of `nonce` under `token`, base64.
pub fn proof(token: &str, nonce: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    let tag = ring::hmac::sign(&key, nonce.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// Constant-time check of a proof.
pub fn proof_holds(token: &str, nonce: &str, proof: &str) -> bool {
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(proof) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    ring::hmac::verify(&key, nonce.as_bytes(), &tag).is_ok()
}

/// Constant-time comparison of the bearer token a request carries.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random nonce (or token), base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Milliseconds since the Unix epoch on this machine's clock.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_holder_can_prove_it() {
        let nonce = random_token();
        let p = proof("s3cret", &nonce);
        assert!(proof_holds("s3cret", &nonce, &p));
        assert!(!proof_holds("other", &nonce, &p));
        assert!(!proof_holds("s3cret", &random_token(), &p));
        assert!(token_matches("abc", "abc") && !token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
    }
}
