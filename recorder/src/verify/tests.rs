use super::*;
use crate::build::build_report;
use crate::capture::RawStep;
use throng_flow::Action;

const T0: f64 = 1_732_300_000_000.0;

fn raw(method: &str, path: &str, rt: &str, start: f64, body: &str, mime: &str) -> RawRequest {
    let url = format!("http://h{path}");
    RawRequest {
        method: method.into(),
        final_url: url.clone(),
        url,
        resource_type: Some(rt.into()),
        doc: Some("d1".into()),
        main_document: rt == "Document",
        start_ms: start,
        end_ms: Some(start + 10.0),
        status: Some(200),
        mime: Some(mime.into()),
        response_body: Some(body.into()),
        headers: vec![("Origin".into(), "http://h".into())],
        ..Default::default()
    }
}

fn recording() -> (Recording, Flow) {
    let mut join = raw(
        "POST",
        "/api/join",
        "Fetch",
        T0 + 100.0,
        r#"{"job_id":1}"#,
        "application/json",
    );
    join.body = Some(r#"{"data":"hello"}"#.into());
    let cap = Capture {
        title: "t".into(),
        origin: "http://h".into(),
        steps: vec![RawStep::new(T0, Action::navigate("http://h/"))],
        requests: vec![
            raw(
                "GET",
                "/",
                "Document",
                T0,
                "<title>Queue</title>",
                "text/html",
            ),
            join,
            raw(
                "GET",
                "/api/result/1",
                "Fetch",
                T0 + 200.0,
                r#"{"out":"HELLO"}"#,
                "application/json",
            ),
        ],
        ..Default::default()
    };
    let built = build_report(&cap);
    let flow = built.flow.clone();
    (Recording::of(built, cap), flow)
}

fn seen(index: usize, url: &str, status: u16, body: &str) -> Observed {
    Observed {
        step: 0,
        index,
        last: index,
        method: "GET".into(),
        url: url.into(),
        status: Some(status),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
        error: None,
    }
}

#[test]
fn a_value_that_differs_at_replay_is_extracted_and_the_failure_explained() {
    let (rec, flow) = recording();
    let requests = &flow.steps[0].network.as_ref().unwrap().requests;
    assert_eq!(requests.len(), 3, "{flow:#?}");
    assert_eq!(
        requests[2].url, "http://h/api/result/1",
        "not correlated when recorded"
    );
    let observed = [
        Observed {
            headers: vec![("content-type".into(), "text/html".into())],
            ..seen(0, "http://h/", 200, "<title>Queue</title>")
        },
        seen(1, "http://h/api/join", 200, r#"{"job_id":2}"#),
        seen(
            2,
            "http://h/api/result/1",
            404,
            r#"{"error":"no such job"}"#,
        ),
    ];
    let verdict = diagnose(&rec, &flow, &observed);
    assert_eq!(verdict.compared, 3);
    assert_eq!(verdict.findings.len(), 1, "{:?}", verdict.findings);
    let f = verdict.findings[0].to_string();
    assert!(
        f.starts_with("step 1 GET http://h/api/result/1: recorded 200, replay 404"),
        "{f}"
    );
    let (fixed, done) = apply_fixes(&flow, &verdict.fixes);
    let fixed = fixed.expect("fixed");
    assert!(
        done.iter().any(|d| d.starts_with("${job_id} is extracted")),
        "{done:?}"
    );
    let requests = &fixed.steps[0].network.as_ref().unwrap().requests;
    assert_eq!(requests[2].url, "http://h/api/result/${job_id}");
    assert_eq!(requests[1].body.as_deref(), Some(r#"{"data":"hello"}"#));
    let var = fixed.variables.iter().find(|v| v.name == "job_id").unwrap();
    assert_eq!(
        var.extract.as_ref().unwrap().json_pointer.as_deref(),
        Some("/job_id")
    );
    // The same answers again: nothing left to fix.
    let again = diagnose(&rec, &fixed, &observed[..2]);
    assert!(again.findings.is_empty() && apply_fixes(&fixed, &again.fixes).0.is_none());
}

#[test]
fn a_page_made_id_and_a_dropped_header_explain_a_refusal() {
    let (rec, mut flow) = recording();
    flow.steps[0].network.as_mut().unwrap().requests[1].url =
        "http://h/api/join?nonce=k3x9q0zt1m".into();
    let observed = [seen(
        1,
        "http://h/api/join",
        403,
        r#"{"error":"bad origin"}"#,
    )];
    let verdict = diagnose(&rec, &flow, &observed);
    let f = verdict.findings[0].to_string();
    assert!(f.contains("a page-made id `k3x9q0zt1m`"), "{f}");
    assert!(f.contains("a missing header (origin: http://h)"), "{f}");
    let (fixed, _) = apply_fixes(&flow, &verdict.fixes);
    let fixed = fixed.expect("fixed");
    let join = &fixed.steps[0].network.as_ref().unwrap().requests[1];
    assert_eq!(
        join.headers.get("origin").map(String::as_str),
        Some("http://h")
    );
    assert!(join.url.ends_with("nonce=${id}"), "{}", join.url);
}

#[test]
fn a_multipart_boundary_is_no_page_made_id() {
    let (rec, mut flow) = recording();
    let b = "----WebKitFormBoundaryQxjnk4oo2XlTxUBW";
    let join = &mut flow.steps[0].network.as_mut().unwrap().requests[1];
    join.headers.insert(
        "content-type".into(),
        format!("multipart/form-data; boundary={b}"),
    );
    join.body = Some(format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"nonce\"\r\n\r\nk3x9q0zt1m\r\n--{b}--\r\n"
    ));
    let observed = [seen(1, "http://h/api/join", 403, r#"{"error":"no"}"#)];
    let verdict = diagnose(&rec, &flow, &observed);
    let f = verdict.findings[0].to_string();
    assert!(f.contains("a page-made id `k3x9q0zt1m`"), "{f}");
    assert!(!f.contains("WebKitFormBoundary"), "{f}");
    let (fixed, _) = apply_fixes(&flow, &verdict.fixes);
    let fixed = fixed.expect("fixed");
    let join = &fixed.steps[0].network.as_ref().unwrap().requests[1];
    assert!(join.body.as_deref().unwrap().contains(&format!("--{b}--")));
    assert_eq!(
        multipart_boundary("multipart/form-data; boundary=\"x y\""),
        Some("x y")
    );
    assert_eq!(multipart_boundary("text/plain; boundary=x"), None);
}

#[test]
fn an_answer_changed_by_the_recordings_own_save_is_explained_as_the_apps_state() {
    let (mut rec, _) = recording();
    // The page read its settings, then saved new ones: a later read answers them.
    let mut save = raw(
        "POST",
        "/api/settings",
        "Fetch",
        T0 + 300.0,
        "{}",
        "application/json",
    );
    save.body = Some(r#"{"view":{"grid":20}}"#.into());
    rec.cap.requests.insert(
        2,
        raw(
            "GET",
            "/api/settings?_=1",
            "Fetch",
            T0 + 150.0,
            r#"{"theme":"dark"}"#,
            "application/json",
        ),
    );
    rec.cap.requests.push(save);
    let built = build_report(&rec.cap);
    let flow = built.flow.clone();
    let rec = Recording::of(built, rec.cap);
    let (step, index) = flow
        .steps
        .iter()
        .enumerate()
        .find_map(|(s, st)| {
            let reqs = &st.network.as_ref()?.requests;
            let i = reqs
                .iter()
                .position(|r| r.url.contains("/api/settings") && r.method == "GET")?;
            Some((s, i))
        })
        .expect("the settings read");
    let observed = [Observed {
        step,
        ..seen(
            index,
            "http://h/api/settings?_=1",
            200,
            r#"{"theme":"dark","view":{"grid":20}}"#,
        )
    }];
    let verdict = diagnose(&rec, &flow, &observed);
    assert_eq!(verdict.findings.len(), 1, "{:?}", verdict.findings);
    let f = &verdict.findings[0];
    assert!(f.saved_by_recording, "{f}");
    assert!(
        f.to_string()
            .contains("the recording's own POST http://h/api/settings saved what it answers now"),
        "{f}"
    );
    // A read of a resource the recording never wrote stays unexplained.
    let other = [seen(
        2,
        "http://h/api/result/1",
        200,
        r#"{"out":"HELLO","extra":1}"#,
    )];
    let (rec2, flow2) = recording();
    let verdict = diagnose(&rec2, &flow2, &other);
    assert_eq!(verdict.findings.len(), 1, "{:?}", verdict.findings);
    assert!(
        verdict.findings.iter().all(|f| !f.saved_by_recording),
        "{:?}",
        verdict.findings
    );
}
