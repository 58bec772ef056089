use coupler_tests::{problem, TestApp};
use reqwest::Method;

#[tokio::test]
async fn an_unknown_route_gets_a_404_problem() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/no/such/route").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(problem(response).await["detail"], "no route for GET /no/such/route");
}

#[tokio::test]
async fn a_wrong_method_gets_a_405_problem_that_names_the_allowed_ones() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::PATCH, "/users/someone").send().await.unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("PUT") && allow.contains("DELETE"), "{allow}");
    problem(response).await;
}

#[tokio::test]
async fn an_oversized_body_gets_a_413_problem_and_no_token() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let padding = "x".repeat(coupler_api::BODY_LIMIT + 1);
    let response = app
        .request(Method::POST, "/oauth/token")
        .basic_auth(tenant.id.as_str(), Some(&tenant.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", &padding)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    problem(response).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_callers_own_id_is_kept() {
    let app = TestApp::spawn().await;
    let generated = app.request(Method::GET, "/health/live").send().await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    let failing = app.request(Method::GET, "/users").send().await.unwrap();
    assert!(!failing.headers()["x-request-id"].is_empty());
    let own = app
        .request(Method::GET, "/health/live")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(own.headers()["x-request-id"], "trace-me-42");
}

/// Throws malformed requests at every documented route, with and without a token: each must be
/// answered with a 4xx problem (or a success), never a 5xx.
#[tokio::test]
async fn no_malformed_request_makes_the_server_answer_5xx() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let spec = serde_json::to_value(coupler_api::openapi()).unwrap();
    let long = "y".repeat(300);
    let params = ["x", "%00", "%2F", "%FF", long.as_str(), "..", "%20"];
    let bodies: [(&str, Vec<u8>); 5] = [
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2,3]".to_vec()),
        ("application/json", b"{\"grant_type\": 42}".to_vec()),
        ("application/x-www-form-urlencoded", b"grant_type=%%%&&==".to_vec()),
        ("text/plain", vec![0xff, 0xfe, 0x00]),
    ];
    let mut sent = 0;
    for path in spec["paths"].as_object().unwrap().keys() {
        for param in params {
            let concrete = coupler_tests::fill_path(path, param);
            for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE, Method::PATCH] {
                for (content_type, body) in &bodies {
                    for with_token in [false, true] {
                        let mut request = app
                            .request(method.clone(), &format!("{concrete}?pageSize=x&after=%FF"))
                            .header("content-type", *content_type)
                            .body(body.clone());
                        if with_token {
                            request = request.bearer_auth(&tenant.token);
                        }
                        let response = request.send().await.unwrap();
                        let status = response.status();
                        assert!(
                            status.as_u16() < 500,
                            "{method} {concrete} ({content_type}) answered {status}"
                        );
                        if status.is_client_error() {
                            problem(response).await;
                        }
                        sent += 1;
                    }
                }
            }
        }
    }
    assert!(sent > 500, "sent {sent}");
}
