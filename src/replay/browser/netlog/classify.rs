//! What a CDP request is counted as: its sample kind (from the resource type, the flow's
//! pollers, the response type) and the outcome of a failed load.

use crate::metrics::{Outcome, SampleKind};
use chromiumoxide::cdp::browser_protocol::network::{BlockedReason, ResourceType};
use std::collections::HashSet;

/// The kind a request is counted under: from the CDP resource type, with an ajax request
/// whose method + URL-without-query is one of the flow's pollers counted as polling.
pub(crate) fn classify(
    rtype: Option<&ResourceType>,
    name: &str,
    pollers: &HashSet<String>,
) -> SampleKind {
    match rtype {
        Some(ResourceType::Document) => SampleKind::Document,
        Some(
            ResourceType::Stylesheet
            | ResourceType::Script
            | ResourceType::Image
            | ResourceType::Font
            | ResourceType::Media
            | ResourceType::TextTrack,
        ) => SampleKind::Static,
        Some(ResourceType::EventSource) => SampleKind::EventSource,
        Some(ResourceType::Xhr | ResourceType::Fetch) => {
            if pollers.contains(name) {
                SampleKind::Polling
            } else {
                SampleKind::Ajax
            }
        }
        Some(ResourceType::Ping) => SampleKind::Beacon,
        _ => SampleKind::Other,
    }
}

/// A CDP response protocol as HTTP mode names it (none for data:, blob: and the like).
pub(super) fn protocol_name(protocol: &str) -> Option<&'static str> {
    match protocol {
        "h2" => Some("h2"),
        "http/1.1" | "http/1.0" => Some("http1"),
        "h3" | "http/2+quic/43" => Some("h3"),
        _ => None,
    }
}

/// A response type that makes an `Other` request a static asset: full Chromium fetches the
/// page's favicon with resource type Other (the headless shell does not fetch it at all).
pub(super) fn is_static_mime(mime: &str) -> bool {
    mime.starts_with("image/")
        || mime.starts_with("font/")
        || mime == "text/css"
        || mime.contains("javascript")
}

/// How a failed load is counted; None for a request the browser itself cancelled
/// (navigation away, tab closed), which is not a failure of the target.
pub(crate) fn failure_outcome(
    error_text: &str,
    canceled: bool,
    blocked: Option<&BlockedReason>,
) -> Option<Outcome> {
    if matches!(blocked, Some(BlockedReason::Inspector))
        || error_text.contains("ERR_BLOCKED_BY_CLIENT")
    {
        return Some(Outcome::Blocked);
    }
    if canceled || error_text.contains("ERR_ABORTED") {
        return None;
    }
    let has = |s: &str| error_text.contains(s);
    Some(if has("TIMED_OUT") {
        Outcome::Timeout
    } else if has("ERR_CONNECTION_REFUSED") {
        Outcome::Refused
    } else if has("ERR_CONNECTION_RESET")
        || has("ERR_CONNECTION_CLOSED")
        || has("ERR_EMPTY_RESPONSE")
        || has("ERR_CONNECTION_ABORTED")
    {
        Outcome::Reset
    } else if has("ERR_CERT_") || has("ERR_SSL_") || has("ERR_BAD_SSL") {
        // The same `tls` category HTTP mode reports for a failed handshake or certificate.
        Outcome::Tls
    } else {
        Outcome::Error
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::request_name;

    #[test]
    fn ajax_matching_a_poller_is_polling() {
        let pollers: HashSet<String> = [request_name("GET", "http://h/api/notifications")].into();
        let name = request_name("GET", "http://h/api/notifications?since=5");
        assert_eq!(
            classify(Some(&ResourceType::Fetch), &name, &pollers),
            SampleKind::Polling
        );
        let other = request_name("GET", "http://h/api/cart");
        assert_eq!(
            classify(Some(&ResourceType::Xhr), &other, &pollers),
            SampleKind::Ajax
        );
        // Same URL but not ajax (e.g. a document) is not polling.
        assert_eq!(
            classify(Some(&ResourceType::Document), &name, &pollers),
            SampleKind::Document
        );
    }

    #[test]
    fn resource_types_map_to_kinds() {
        let none = HashSet::new();
        for (t, k) in [
            (ResourceType::Stylesheet, SampleKind::Static),
            (ResourceType::Script, SampleKind::Static),
            (ResourceType::Image, SampleKind::Static),
            (ResourceType::Font, SampleKind::Static),
            (ResourceType::Ping, SampleKind::Beacon),
            (ResourceType::Preflight, SampleKind::Other),
        ] {
            assert_eq!(classify(Some(&t), "GET x", &none), k, "{t:?}");
        }
    }

    #[test]
    fn an_other_request_answered_with_an_image_is_static() {
        assert!(is_static_mime("image/x-icon"));
        assert!(is_static_mime("text/javascript"));
        assert!(!is_static_mime("application/json"));
    }

    #[test]
    fn failures_are_categorised() {
        assert_eq!(
            failure_outcome(
                "net::ERR_BLOCKED_BY_CLIENT",
                false,
                Some(&BlockedReason::Inspector)
            ),
            Some(Outcome::Blocked)
        );
        assert_eq!(failure_outcome("net::ERR_ABORTED", true, None), None);
        assert_eq!(
            failure_outcome("net::ERR_CONNECTION_REFUSED", false, None),
            Some(Outcome::Refused)
        );
        assert_eq!(
            failure_outcome("net::ERR_EMPTY_RESPONSE", false, None),
            Some(Outcome::Reset)
        );
        for tls in [
            "net::ERR_CERT_AUTHORITY_INVALID",
            "net::ERR_SSL_PROTOCOL_ERROR",
        ] {
            assert_eq!(failure_outcome(tls, false, None), Some(Outcome::Tls));
        }
        assert_eq!(
            failure_outcome("net::ERR_TIMED_OUT", false, None),
            Some(Outcome::Timeout)
        );
        assert_eq!(
            failure_outcome("net::ERR_NAME_NOT_RESOLVED", false, None),
            Some(Outcome::Error)
        );
    }
}
