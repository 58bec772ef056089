use coupler_tests::TestApp;
use reqwest::Method;

#[tokio::test]
async fn liveness_and_readiness_answer_ok_with_the_backend_named() {
    let app = TestApp::spawn().await;
    let live: serde_json::Value = app
        .request(Method::GET, "/health/live")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "ok");
    let ready: serde_json::Value = app
        .request(Method::GET, "/health/ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["database"], "sqlite");
}

/// The value of the sample `series` (name and labels, exactly) in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// The metrics recorder is process-wide and other tests run beside this one, so counts are compared
/// before and after: they grew by at least this test's requests.
#[tokio::test]
async fn metrics_count_requests_per_route_template_not_per_concrete_path() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let requests = r#"coupler_http_requests_total{method="PUT",route="/users/{userId}",status="201"}"#;
    let durations = r#"coupler_http_request_duration_seconds_count{method="PUT",route="/users/{userId}"}"#;
    let before = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for user in ["metrics-a", "metrics-b", "metrics-c"] {
        app.as_tenant(&tenant, Method::PUT, &format!("/users/{user}"))
            .send()
            .await
            .unwrap();
    }
    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    assert!(sample(&text, requests) - sample(&before, requests) >= 3.0, "{text}");
    assert!(sample(&text, durations) - sample(&before, durations) >= 3.0, "{text}");
    assert!(!text.contains("/users/metrics-a"), "concrete paths never become labels");
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_without_the_internet() {
    let app = TestApp::spawn().await;
    let page = app.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the page loads nothing from elsewhere");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let response = app
            .request(Method::GET, &format!("/docs/{asset}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = app
        .request(Method::GET, "/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
}

#[tokio::test]
async fn the_served_openapi_document_is_the_one_the_code_generates() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut generated = serde_json::to_value(coupler_api::openapi()).unwrap();
    // The served document names the server that serves it; the committed one a local default.
    assert_eq!(served["servers"], serde_json::json!([{"url": app.url}]));
    generated["servers"] = served["servers"].clone();
    assert_eq!(served, generated);
}

#[tokio::test]
async fn a_graceful_stop_finishes_and_frees_the_port() {
    let app = TestApp::spawn().await;
    let url = app.url.clone();
    app.stop().await;
    assert!(
        reqwest::get(format!("{url}/health/live")).await.is_err(),
        "nothing listens after the stop"
    );
}

#[tokio::test]
async fn a_background_task_that_panics_is_reported_by_name_and_the_stop_still_completes() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let tasks = app.tasks();
    tasks.spawn("task that panics on purpose", async { panic!("on purpose") });
    // The server keeps serving after it.
    let response = app.as_tenant(&tenant, Method::GET, "/users").send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
    assert_eq!(tasks.panicked(), ["task that panics on purpose"]);
    assert_eq!(tasks.running(), 0, "every task has ended once the stop returns");
}
