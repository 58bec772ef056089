//! The shapes of error answers over real sockets: validation problems that name the value, 414 and
//! 431 as problem+json with a request id, and kept-alive connections that survive early errors.

use coupler_tests::{problem, TestApp};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn charger_of(app: &TestApp, tenant: &coupler_tests::Tenant) -> String {
    let charger = app.register_charger(tenant, "user-1", "CP-PROBLEMS").await;
    charger["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_missing_field_and_a_bad_value_both_answer_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let charger = charger_of(&app, &tenant).await;
    let path = format!("/chargers/{charger}/charging");

    let missing = app
        .as_tenant(&tenant, Method::POST, &path)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    let body = problem(missing).await;
    assert_eq!(body["errors"][0]["in"], "body");
    assert_eq!(body["errors"][0]["pointer"], "/action");
    assert_eq!(body["errors"][0]["detail"], "'action' is required");
    assert!(!body["detail"].as_str().unwrap().contains("line 1"), "{body}");

    let bad = app
        .as_tenant(&tenant, Method::POST, &path)
        .json(&json!({"action": "PAUSE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body = problem(bad).await;
    assert_eq!(body["errors"][0]["pointer"], "/action");
    assert_eq!(body["errors"][0]["allowed"], json!(["START", "STOP"]));

    let wrong_type = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{charger}/max-current"))
        .json(&json!({"maxCurrent": "sixteen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 422);
    let body = problem(wrong_type).await;
    assert_eq!(body["errors"][0]["pointer"], "/maxCurrent");
    assert_eq!(
        body["errors"][0]["expected"], "a number",
        "the JSON kind, not the Rust type"
    );

    let out_of_range = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{charger}/max-current"))
        .json(&json!({"maxCurrent": 900}))
        .send()
        .await
        .unwrap();
    assert_eq!(out_of_range.status(), 422);
    assert_eq!(problem(out_of_range).await["errors"][0]["pointer"], "/maxCurrent");
}

#[tokio::test]
async fn an_unknown_field_answers_422_listing_the_known_ones() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let response = app
        .as_tenant(&tenant, Method::POST, "/webhooks")
        .json(&json!({"url": "https://example.com/hook", "colour": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["pointer"], "/colour");
    assert_eq!(body["errors"][0]["allowed"], json!(["url", "secret", "events"]));
}

#[tokio::test]
async fn a_body_that_is_not_json_answers_400_and_one_of_another_type_415() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let broken = app
        .as_tenant(&tenant, Method::POST, "/webhooks")
        .header("content-type", "application/json")
        .body("{\"url\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    assert_eq!(problem(broken).await["type"], "urn:coupler:problem:malformed-body");
    let text = app
        .as_tenant(&tenant, Method::POST, "/webhooks")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    problem(text).await;
}

#[tokio::test]
async fn bad_query_parameters_and_headers_answer_422_naming_them() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    for (query, name) in [
        ("pageSize=many", "pageSize"),
        ("pageSize=0", "pageSize"),
        ("pageSize=201", "pageSize"),
        ("after=abc&before=abc", "before"),
        ("before=not-a-cursor", "before"),
    ] {
        let response = app
            .as_tenant(&tenant, Method::GET, &format!("/users?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
        let body = problem(response).await;
        assert_eq!(body["errors"][0]["in"], "query", "{query}: {body}");
        assert_eq!(body["errors"][0]["name"], name, "{query}: {body}");
    }
    let charger = charger_of(&app, &tenant).await;
    let response = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{charger}/charging"))
        .header("idempotency-key", "has spaces")
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["in"], "header");
    assert_eq!(body["errors"][0]["name"], "Idempotency-Key");
}

/// Sends `request` on `stream` and reads one response: (status, head, body).
async fn exchange(stream: &mut BufReader<TcpStream>, request: &str) -> (u16, String, String) {
    stream.get_mut().write_all(request.as_bytes()).await.unwrap();
    read_response(stream).await
}

async fn read_response(stream: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_line(&mut line))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(read > 0, "the connection closed before an answer; so far: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

fn has_header(head: &str, name: &str) -> bool {
    head.lines()
        .any(|l| l.split_once(':').is_some_and(|(n, _)| n.eq_ignore_ascii_case(name)))
}

#[tokio::test]
async fn a_kept_alive_connection_stays_usable_after_errors_answered_before_the_body_was_read() {
    let app = TestApp::spawn().await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut stream = BufReader::new(TcpStream::connect(&address).await.unwrap());
    let body = "{\"ocppId\": \"CP-1\", \"name\": \"a body nobody reads because the request is refused first\"}";
    let early_errors = [
        ("POST", "/users/u/chargers", 401),
        ("PATCH", "/users/u", 405),
        ("POST", "/no/such/route", 404),
    ];
    for round in 0..50 {
        for (method, path, status) in early_errors {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let (got, head, text) = exchange(&mut stream, &request).await;
            assert_eq!(got, status, "round {round}: {method} {path}: {head}{text}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/problem+json"),
                "{head}"
            );
            assert!(has_header(&head, "x-request-id"), "{head}");
        }
        let (got, _, _) = exchange(
            &mut stream,
            &format!("GET /health/live HTTP/1.1\r\nHost: {address}\r\n\r\n"),
        )
        .await;
        assert_eq!(got, 200, "round {round}");
    }
}

/// The same with a large body that is still arriving when the early answer is sent: a client that
/// writes the body after the headers, as most do for large bodies.
#[tokio::test]
async fn a_kept_alive_connection_stays_usable_after_an_early_error_on_a_large_body_still_in_flight() {
    let app = TestApp::spawn().await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut stream = BufReader::new(TcpStream::connect(&address).await.unwrap());
    let body = format!("{{\"name\": \"{}\"}}", "x".repeat(200_000));
    for round in 0..20 {
        let head = format!(
            "POST /users/u/chargers HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.get_mut().write_all(head.as_bytes()).await.unwrap();
        // Half the body, then the rest, as a slow client sends it.
        let (first, rest) = body.as_bytes().split_at(body.len() / 2);
        stream.get_mut().write_all(first).await.unwrap();
        tokio::task::yield_now().await;
        stream.get_mut().write_all(rest).await.unwrap();
        let (status, head, text) = read_response(&mut stream).await;
        assert_eq!(status, 401, "round {round}: {head}{text}");
        let (status, _, _) = exchange(
            &mut stream,
            &format!("GET /health/live HTTP/1.1\r\nHost: {address}\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 200, "round {round}");
    }
}

#[tokio::test]
async fn a_request_target_too_long_gets_a_414_problem_with_a_request_id() {
    let app = TestApp::spawn().await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut stream = BufReader::new(TcpStream::connect(&address).await.unwrap());
    let long = "a".repeat(20_000);
    let (status, head, body) = exchange(
        &mut stream,
        &format!("GET /users/{long} HTTP/1.1\r\nHost: {address}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 414, "{head}");
    assert!(has_header(&head, "x-request-id"), "{head}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 414);
    // The connection goes on serving.
    let (status, _, _) = exchange(
        &mut stream,
        &format!("GET /health/live HTTP/1.1\r\nHost: {address}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_a_431_problem_with_a_request_id() {
    let app = TestApp::spawn().await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut stream = BufReader::new(TcpStream::connect(&address).await.unwrap());
    let many: String = (0..150).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    let (status, head, body) = exchange(
        &mut stream,
        &format!("GET /health/live HTTP/1.1\r\nHost: {address}\r\n{many}\r\n"),
    )
    .await;
    assert_eq!(status, 431, "{head}");
    assert!(has_header(&head, "x-request-id"), "{head}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"], 431);
    let large = "v".repeat(40_000);
    let (status, head, _) = exchange(
        &mut stream,
        &format!("GET /health/live HTTP/1.1\r\nHost: {address}\r\nX-Large: {large}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 431, "{head}");
    assert!(head.to_ascii_lowercase().contains("application/problem+json"), "{head}");
}
