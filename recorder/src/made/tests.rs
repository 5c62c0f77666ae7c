use super::*;
use crate::capture::RawWebSocket;
use throng_flow::{Network, RecordedRequest, Step, WebSocket, WebSocketMessage};

const T0: f64 = 1_732_300_000_000.0;

fn raw(method: &str, url: &str, body: Option<&str>, start: f64) -> RawRequest {
    RawRequest {
        method: method.into(),
        url: url.into(),
        final_url: url.into(),
        body: body.map(String::from),
        start_ms: start,
        end_ms: Some(start + 5.0),
        status: Some(200),
        ..Default::default()
    }
}

fn request(r: &RawRequest, kind: RequestKind) -> RecordedRequest {
    RecordedRequest {
        method: r.method.clone(),
        body: r.body.clone(),
        kind,
        ..RecordedRequest::document_get(r.url.clone())
    }
}

/// A page that loads, then joins a queue with a session hash it made up, reads its result
/// and says so on a socket; the server echoes the hash back after it was sent.
fn capture() -> (Capture, Flow) {
    let mut home = raw("GET", "http://h/", None, T0);
    home.mime = Some("text/html".into());
    home.response_body = Some(
        r#"<input type="hidden" name="csrf" value="c5f3a9e1b7d2"><script src="/app.3f9a2b1c.js"></script>"#
            .into(),
    );
    let mut script = raw("GET", "http://h/app.3f9a2b1c.js", None, T0 + 10.0);
    script.response_body =
        Some(r#"const KEY = "Zx81kQ2pLm0aB7"; fetch('/chunk.9e8d7c6b.js')"#.into());
    let join_body = r#"{"session_hash":"k3x9q0zt1m","fn":"k3x9q0zt1m","key":"Zx81kQ2pLm0aB7","csrf":"c5f3a9e1b7d2","t":1732300000456,"who":"product2024"}"#;
    let mut join = raw("POST", "http://h/api/join", Some(join_body), T0 + 100.0);
    join.response_body = Some(r#"{"ok":true,"session_hash":"k3x9q0zt1m"}"#.into());
    let result = raw(
        "GET",
        "http://h/api/result?session_hash=k3x9q0zt1m&r=0.8234234871",
        None,
        T0 + 200.0,
    );
    let n1 = raw("GET", "http://h/api/ping?nonce=483920117", None, T0 + 300.0);
    let n2 = raw("GET", "http://h/api/ping?nonce=550193822", None, T0 + 400.0);
    let cap = Capture {
        origin: "http://h".into(),
        requests: vec![
            home.clone(),
            script.clone(),
            join.clone(),
            result.clone(),
            n1.clone(),
            n2.clone(),
        ],
        web_sockets: vec![RawWebSocket {
            url: "ws://h/queue?session_hash=k3x9q0zt1m".into(),
            start_ms: T0 + 150.0,
            sent: vec![(T0 + 160.0, r#"{"hash":"k3x9q0zt1m"}"#.into(), false)],
            ..Default::default()
        }],
        ..Default::default()
    };
    let net = Network {
        requests: vec![
            request(&home, RequestKind::Document),
            request(&script, RequestKind::Static),
            request(&join, RequestKind::Ajax),
            request(&result, RequestKind::Ajax),
            request(&n1, RequestKind::Ajax),
            request(&n2, RequestKind::Ajax),
        ],
        web_sockets: vec![WebSocket {
            url: "ws://h/queue?session_hash=k3x9q0zt1m".into(),
            sent: vec![WebSocketMessage {
                offset_ms: 10,
                data: r#"{"hash":"k3x9q0zt1m"}"#.into(),
                binary: false,
            }],
            received: 1,
            after_ms: None,
            closed_ms: None,
        }],
        ..Network::default()
    };
    let mut step = Step::new(throng_flow::Action::navigate("http://h/"));
    step.network = Some(net);
    let flow = Flow {
        format: None,
        title: "t".into(),
        origin: Some("http://h".into()),
        selector_attribute: None,
        timeout: None,
        variables: Vec::new(),
        steps: vec![step],
        dwell_ms: None,
        capped: None,
        tracestate: None,
    };
    (cap, flow)
}

#[test]
fn ids_the_page_made_up_are_generated_wherever_they_recur() {
    let (cap, mut flow) = capture();
    let made = generate_page_made(&cap, &["typedvalue99"], &mut flow);
    let names: Vec<(&str, &str)> = made
        .iter()
        .map(|m| (m.name.as_str(), m.like.as_str()))
        .collect();
    assert!(names.contains(&("session_hash", "k3x9q0zt1m")), "{names:?}");
    assert!(
        names.contains(&("t", "1732300000456")),
        "a client timestamp: {names:?}"
    );
    assert!(
        names.contains(&("r", "0.8234234871")),
        "Math.random(): {names:?}"
    );
    assert!(
        names.contains(&("nonce", "483920117")),
        "a field that varies: {names:?}"
    );
    for kept in ["c5f3a9e1b7d2", "Zx81kQ2pLm0aB7", "3f9a2b1c", "product2024"] {
        assert!(!names.iter().any(|(_, v)| *v == kept), "{kept}: {names:?}");
    }
    let text = serde_json::to_string(&flow.steps).unwrap();
    assert!(!text.contains("k3x9q0zt1m"), "{text}");
    assert!(
        text.contains(r#"ws://h/queue?session_hash=${session_hash}"#),
        "{text}"
    );
    assert!(text.contains(r#"{\"hash\":\"${session_hash}\"}"#), "{text}");
    assert!(
        text.contains(r#"\"fn\":\"${session_hash}\""#),
        "the same value, one variable: {text}"
    );
    assert!(
        text.contains("/api/result?session_hash=${session_hash}&r=${r}"),
        "{text}"
    );
    let var = flow
        .variables
        .iter()
        .find(|v| v.name == "session_hash")
        .unwrap();
    assert_eq!(var.generate.as_ref().unwrap().like, "k3x9q0zt1m");
    throng_flow::to_checked_json(&flow, "t.json").expect("the flow loads");
}

#[test]
fn typed_values_and_words_with_numbers_are_no_ids() {
    assert!(strict_shape("k3x9q0zt1m", 0.0, 0.0));
    assert!(strict_shape(
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        0.0,
        0.0
    ));
    assert!(strict_shape("9b2e4f01c7a3", 0.0, 0.0));
    assert!(strict_shape("V1StGXR8Z5jdHi6B", 0.0, 0.0));
    for word in [
        "product2024",
        "alice1990",
        "deadbeef",
        "v2api",
        "12345678",
        "Summer2024Sale",
    ] {
        assert!(!strict_shape(word, T0, T0), "{word}");
    }
    let (cap, mut flow) = capture();
    let made = generate_page_made(&cap, &["xk3x9q0zt1mx"], &mut flow);
    assert!(
        !made.iter().any(|m| m.like == "k3x9q0zt1m"),
        "typed: {made:?}"
    );
}

#[test]
fn a_multipart_part_names_its_field() {
    let body = "--b\r\nContent-Disposition: form-data; name=\"editRevId\"\r\n\r\n3\r\n--b\r\nContent-Disposition: form-data; name=\"parentRevId\"\r\n\r\n3\r\n--b--\r\n";
    let first = body.find("\r\n3").unwrap() + 2;
    let second = body.rfind("\r\n3").unwrap() + 2;
    assert_eq!(field_before(body, first).as_deref(), Some("editRevId"));
    assert_eq!(field_before(body, second).as_deref(), Some("parentRevId"));
    assert_eq!(field_before("a=1&rev=3", 8).as_deref(), Some("rev"));
    assert_eq!(field_before("--b\r\n\r\n3", 7), None);
}
