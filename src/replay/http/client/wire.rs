//! Bytes on the wire: which request headers the client writes itself, how a header line is
//! written and checked, how an encoded response body is decoded (within `--max-body`), where a
//! redirect goes, and which failure category a transport error is.

use super::h1::{H1Error, RawResponse};
use super::tls;
use crate::metrics::Outcome;
use bytes::Bytes;
use http::header::LOCATION;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use std::io;
use std::io::Read as _;
use url::Url;

/// Headers the client manages itself (recorded values would be wrong or stale).
pub(super) fn is_managed_header(name: &str) -> bool {
    name.starts_with(':')
        || [
            "host",
            "content-length",
            "connection",
            "cookie",
            "accept-encoding",
            "if-none-match",
            "if-modified-since",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
        ]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
}

pub(super) fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A header that can go on the wire: a token name, a value without line breaks.
pub(super) fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Undoes a gzip (or deflate) content-encoding, as reqwest's decoder did (the headers then
/// describe the decoded body). Inflating stops past `max_body` bytes: a small body that
/// inflates beyond it (a "gzip bomb") fails as too large without ever being held whole.
pub(super) fn decode(mut raw: RawResponse, max_body: usize) -> Result<RawResponse, H1Error> {
    let encoding = raw.headers.get(CONTENT_ENCODING).map(|v| v.as_bytes());
    let is = |name: &[u8]| encoding.is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(name));
    if raw.body.is_empty() || !(is(b"gzip") || is(b"deflate")) {
        return Ok(raw);
    }
    let limit = max_body as u64 + 1;
    let mut out = Vec::with_capacity(raw.body.len().saturating_mul(4).min(max_body));
    let read = if is(b"gzip") {
        flate2::read::GzDecoder::new(&raw.body[..])
            .take(limit)
            .read_to_end(&mut out)
    } else {
        // HTTP's "deflate" is zlib-wrapped.
        flate2::read::ZlibDecoder::new(&raw.body[..])
            .take(limit)
            .read_to_end(&mut out)
    };
    read.map_err(|_| H1Error::Malformed("body does not decompress"))?;
    if out.len() > max_body {
        return Err(H1Error::TooLarge(max_body));
    }
    raw.body = Bytes::from(out);
    raw.headers.remove(CONTENT_ENCODING);
    raw.headers.remove(CONTENT_LENGTH);
    Ok(raw)
}

pub(super) fn redirect_target(response: &super::Response, base: &Url) -> Option<Url> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers.get(LOCATION)?.to_str().ok()?;
    base.join(location).ok()
}

/// Maps a transport error to its failure category.
pub fn classify(e: &io::Error) -> Outcome {
    if tls::is_tls_error(e) {
        return Outcome::Tls;
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Outcome::Reset,
        io::ErrorKind::TimedOut => Outcome::Timeout,
        _ => Outcome::Error,
    }
}
