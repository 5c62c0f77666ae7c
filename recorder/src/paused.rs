//! Scripts' answers paused at their head (`Fetch.requestPaused`, response stage): which bodies
//! are read before the page may go on. A page that navigates as soon as it has read an API
//! answer takes the body with it (Chromium drops an old document's bodies when the next one
//! commits), and a value the server handed out there (a name it chose, an id) could then not be
//! correlated. Streams and long answers go on at once.

use crate::limits::BODY_BYTES;
use crate::live::Followup;
use serde_json::Value;

/// What to do with one paused answer: read its body first, or let it go on.
pub fn followup(p: &Value) -> Option<Followup> {
    let id = p["requestId"].as_str()?.to_string();
    let network_id = p["networkId"].as_str().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = p["responseHeaders"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| {
                    Some((
                        h["name"].as_str()?.to_ascii_lowercase(),
                        h["value"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let mime = header("content-type").unwrap_or("").to_ascii_lowercase();
    let textual = ["json", "html", "xml"].iter().any(|m| mime.contains(m));
    // Streamed answers (event streams, JSON lines) are read by the page as they come: held
    // here until their end, the page would see nothing before it.
    let streamed = ["stream", "ndjson", "jsonl", "json-seq"]
        .iter()
        .any(|m| mime.contains(m));
    let short = header("content-length")
        .and_then(|l| l.trim().parse::<usize>().ok())
        .is_none_or(|l| l <= BODY_BYTES);
    let status_ok = p["responseStatusCode"]
        .as_u64()
        .is_some_and(|s| !(300..400).contains(&s) && s != 204);
    let read = !network_id.is_empty() && textual && !streamed && short && status_ok;
    Some(Followup::PausedAnswer {
        id,
        network_id,
        read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(status: u16, headers: &[(&str, &str)]) -> bool {
        let headers: Vec<Value> = headers
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let p = json!({"requestId": "interception-1", "networkId": "7.12",
            "responseStatusCode": status, "responseHeaders": headers});
        match followup(&p) {
            Some(Followup::PausedAnswer {
                read, network_id, ..
            }) => {
                assert_eq!(network_id, "7.12");
                read
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn api_answers_are_read_streams_redirects_and_long_answers_go_on() {
        assert!(read(201, &[("Content-Type", "application/json")]));
        assert!(read(
            200,
            &[
                ("content-type", "text/html; charset=utf-8"),
                ("content-length", "512")
            ]
        ));
        assert!(read(400, &[("content-type", "application/problem+json")]));
        assert!(!read(200, &[("content-type", "text/event-stream")]));
        assert!(!read(200, &[("content-type", "application/x-ndjson")]));
        assert!(!read(200, &[("content-type", "image/png")]));
        assert!(!read(302, &[("content-type", "text/html")]));
        assert!(!read(204, &[("content-type", "application/json")]));
        let huge = (BODY_BYTES + 1).to_string();
        assert!(!read(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", &huge)
            ]
        ));
    }
}
