//! What keeps other web pages out of the dashboard: a per-run token that only the page itself
//! gets (a cross-origin page cannot read it), the `Host` header checked against the bound
//! address (DNS rebinding), `Origin`/`Sec-Fetch-Site` checked on every change, JSON-only
//! bodies (a cross-origin JSON POST needs a CORS preflight, which is never granted), and a
//! cap on user counts.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::Shared;

/// The header the page sends its token in (downloads, being links, use `?token=`).
pub const TOKEN_HEADER: &str = "x-throng-token";
/// Most users the page may ask for: far past one machine, far short of exhausting it with
/// task bookkeeping (4 billion would).
pub const MAX_USERS: u32 = 100_000;

/// A fresh random token: 128 bits, hex.
pub fn new_token() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Host values that name this dashboard: its own address, and `localhost` on its port. A
/// dashboard bound to all interfaces answers any IP literal on its port (DNS rebinding needs
/// a name, and names other than localhost are refused).
pub fn host_allowed(host: &str, bound: SocketAddr) -> bool {
    let port = bound.port();
    let Some((name, p)) = host.rsplit_once(':') else {
        return false;
    };
    if p.parse::<u16>().ok() != Some(port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.eq_ignore_ascii_case("localhost") {
        return bound.ip().is_loopback() || bound.ip().is_unspecified();
    }
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) if bound.ip().is_unspecified() => {
            ip.is_ipv4() == bound.is_ipv4() || ip.is_loopback()
        }
        Ok(ip) => ip == bound.ip(),
        Err(_) => false,
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({"ok": false, "error": why}))).into_response()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_of<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            query?
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
        })
}

/// The middleware in front of every route.
pub async fn check(State(s): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, s.addr) {
        return refuse(StatusCode::MISDIRECTED_REQUEST, "unexpected Host header");
    }
    let path = request.uri().path();
    let guarded = path.starts_with("/api/") || path.starts_with("/download/");
    if guarded {
        let token = token_of(headers, request.uri().query());
        if !token.is_some_and(|t| same(t.as_bytes(), s.token.as_bytes())) {
            return refuse(StatusCode::FORBIDDEN, "missing or wrong dashboard token");
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let expected = format!("http://{host}");
            if origin.as_bytes() != expected.as_bytes() {
                return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site")
        {
            return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
        }
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send JSON (content-type: application/json)",
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_must_name_the_dashboard() {
        let lo: SocketAddr = "127.0.0.1:8089".parse().unwrap();
        assert!(host_allowed("127.0.0.1:8089", lo));
        assert!(host_allowed("localhost:8089", lo));
        assert!(host_allowed("LOCALHOST:8089", lo));
        assert!(!host_allowed("evil.example:8089", lo), "DNS rebinding");
        assert!(!host_allowed("127.0.0.1:80", lo));
        assert!(!host_allowed("127.0.0.2:8089", lo));
        assert!(!host_allowed("127.0.0.1", lo));
        assert!(!host_allowed("", lo));
        let any: SocketAddr = "0.0.0.0:8089".parse().unwrap();
        assert!(host_allowed("10.1.2.3:8089", any));
        assert!(host_allowed("localhost:8089", any));
        assert!(!host_allowed("attacker.test:8089", any));
        let v6: SocketAddr = "[::1]:9000".parse().unwrap();
        assert!(host_allowed("[::1]:9000", v6));
        assert!(!host_allowed("[::2]:9000", v6));
    }

    #[test]
    fn tokens_are_fresh_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same(a.as_bytes(), a.as_bytes()));
        assert!(!same(a.as_bytes(), b.as_bytes()));
        assert!(!same(&a.as_bytes()[..31], a.as_bytes()));
        let h = HeaderMap::new();
        assert_eq!(token_of(&h, Some("x=1&token=abc")), Some("abc"));
        assert_eq!(token_of(&h, Some("tokenx=abc")), None);
    }
}
