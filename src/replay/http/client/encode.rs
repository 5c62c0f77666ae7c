//! A request as it goes on the wire: HTTP/1.1 bytes, or an HTTP/2 head and body, with the same
//! headers either way (recorded ones, the step's extra ones, the client's defaults, cookies).

use super::wire::{is_managed_header, put_header, valid_header};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;
use std::io::Write as _;
use url::Url;

/// One request of a redirect chain.
pub(super) struct Hop<'a> {
    pub method: &'a Method,
    pub url: &'a Url,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    pub extra_headers: &'a [(&'static str, String)],
    /// An error status the recording saw: the same answer at replay is no failure.
    pub expect: Option<u16>,
}

/// Headers HTTP/2 forbids (connection-specific) beyond those the client manages.
fn h2_forbidden(name: &str) -> bool {
    ["te", "proxy-connection"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
}

/// Hands every header of `hop` to `put` in order: recorded, extra, the defaults reqwest sent
/// (its user agent and accept unless the request has its own, gzip unless a range is asked
/// for), cookies. `false` when a header cannot be sent.
pub(super) fn each_header(
    hop: &Hop<'_>,
    user_agent: &HeaderValue,
    cookies: Option<&str>,
    h2: bool,
    mut put: impl FnMut(&str, &[u8]),
) -> bool {
    let (mut has_ua, mut has_accept, mut has_range) = (false, false, false);
    let recorded = hop
        .headers
        .iter()
        .filter(|(n, _)| !(is_managed_header(n) || h2 && h2_forbidden(n)))
        .map(|(n, v)| (n.as_str(), v.as_str()));
    let extra = hop.extra_headers.iter().map(|(n, v)| (*n, v.as_str()));
    for (name, value) in recorded.chain(extra) {
        if !valid_header(name, value) {
            return false;
        }
        has_ua |= name.eq_ignore_ascii_case("user-agent");
        has_accept |= name.eq_ignore_ascii_case("accept");
        has_range |= name.eq_ignore_ascii_case("range");
        put(name, value.as_bytes());
    }
    if !has_ua {
        put("user-agent", user_agent.as_bytes());
    }
    if !has_accept {
        put("accept", b"*/*");
    }
    if !has_range {
        put("accept-encoding", b"gzip");
    }
    if let Some(cookies) = cookies {
        put("cookie", cookies.as_bytes());
    }
    true
}

/// Whether the request announces a body length (it has a body, or a method that carries one).
fn has_length(hop: &Hop<'_>) -> bool {
    hop.body.is_some() || matches!(*hop.method, Method::POST | Method::PUT | Method::PATCH)
}

/// The request as HTTP/1.1 bytes; `None` when it cannot be sent as given.
pub(super) fn h1(
    hop: &Hop<'_>,
    user_agent: &HeaderValue,
    cookies: Option<&str>,
) -> Option<Vec<u8>> {
    let url = hop.url;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?;
    let body = hop.body.unwrap_or_default();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(hop.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(url.path().as_bytes());
    if let Some(q) = url.query() {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    if let Some(port) = url.port() {
        let _ = write!(out, ":{port}");
    }
    out.extend_from_slice(b"\r\n");
    let ok = each_header(hop, user_agent, cookies, false, |name, value| {
        put_header(&mut out, name, value)
    });
    if !ok {
        return None;
    }
    if has_length(hop) {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

/// The request as an HTTP/2 head (`:authority` from the URL, header names lower-cased) and its
/// body; `None` when it cannot be sent as given.
pub(super) fn h2(
    hop: &Hop<'_>,
    user_agent: &HeaderValue,
    cookies: Option<&str>,
) -> Option<(http::Request<()>, Option<Bytes>)> {
    let uri: http::Uri = hop.url.as_str().parse().ok()?;
    let mut request = http::Request::builder()
        .method(hop.method.clone())
        .uri(uri)
        .version(http::Version::HTTP_2)
        .body(())
        .ok()?;
    let headers = request.headers_mut();
    let mut bad = false;
    let ok = each_header(hop, user_agent, cookies, true, |name, value| {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => bad = true,
        }
    });
    if !ok || bad {
        return None;
    }
    if has_length(hop) {
        let len = hop.body.map_or(0, str::len);
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let body = hop.body.map(|b| Bytes::copy_from_slice(b.as_bytes()));
    Some((request, body))
}
