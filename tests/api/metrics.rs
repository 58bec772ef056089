//! `/metrics` scraped while a charger talks OCPP, a vehicle is polled, an action runs and webhooks
//! are delivered: every family moves. The recorder is process-wide, so tests running beside this
//! one only add to the counts; each check is "grew", never "equals".

use std::collections::HashMap;
use std::time::Duration;

use coupler::config::Config;
use coupler::server::Server;
use coupler_core::account::Secret;
use coupler_core::event::RetryPolicy;
use coupler_core::secret::SecretKey;
use coupler_simulated::{Brand, SimConfig, SimVehicleSpec};
use coupler_store::testing::TestDatabase;
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::vehicles::{eventually, hint, link_simulated, vehicles_of, AppSite, SimWorld};
use coupler_tests::{problem, TestApp};
use reqwest::Method;
use serde_json::json;

/// The sum of every sample of `family` (all label sets) in a Prometheus text exposition.
fn total(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_an_ocpp_session_show_every_family_moving() {
    let world = SimWorld::start(SimConfig {
        rate_limit: 2,
        rate_window: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let app = TestApp::spawn_with(|url, wiring| {
        world.wire(url, wiring, |_| None);
        wiring.webhooks.allow_private = true;
        wiring.webhooks.tick = Duration::from_millis(50);
        wiring.webhooks.retry = RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            give_up_after: Duration::from_secs(60),
        };
    })
    .await;
    let tenant = app.tenant("app").await;
    let before = scrape(&app).await;

    // Webhooks: a receiver that takes everything.
    let secret = "a-receiver-secret-of-at-least-32-chars";
    let receiver = Receiver::start(secret, Mode::Accept).await;
    let created = app
        .as_tenant(&tenant, Method::POST, "/webhooks")
        .json(&json!({"url": receiver.url, "secret": secret, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // OCPP: a 1.6 charger connects and boots.
    let registered = app.register_charger(&tenant, "alice", "CP-METRICS").await;
    let charger_id = registered["id"].as_str().unwrap().to_owned();
    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-METRICS",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;
    // A car plugged in: a START is sent and stays pending until charging is seen.
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "Preparing"}),
    )
    .await;
    let during = scrape(&app).await;
    assert!(
        total(&during, "coupler_ocpp_connected_chargers") >= 1.0,
        "no connected charger counted"
    );

    // An action, created and then cancelled.
    let action = app
        .post_json(
            &tenant,
            &format!("/chargers/{charger_id}/charging"),
            json!({"action": "START"}),
        )
        .await;
    let cancelled = app
        .as_tenant(
            &tenant,
            Method::POST,
            &format!("/actions/{}/cancel", action["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);

    // A vehicle at a maker that rate-limits: linking reads it, a hint meets the maker's 429.
    world.cloud.add_account(
        Brand::Nimbus,
        "ann",
        "pw",
        vec![SimVehicleSpec::new("SIMNIM0000000000M", "Nimbus N")],
    );
    let site = AppSite::start().await;
    link_simulated(&app, &tenant, &site, "alice", Brand::Nimbus, "ann", "pw").await;
    eventually("the first read", || async {
        vehicles_of(&app, &tenant, "alice")
            .await
            .iter()
            .any(|v| !v["isReachable"].is_null())
    })
    .await;
    let vehicle = vehicles_of(&app, &tenant, "alice").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    hint(&app, &tenant, &vehicle).await;

    // A failed authentication.
    let refused = app
        .request(Method::GET, "/users")
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let moving = [
        "coupler_http_requests_total",
        "coupler_http_request_duration_seconds_count",
        "coupler_ocpp_messages_total",
        "coupler_ocpp_message_duration_seconds_count",
        "coupler_actions_created_total",
        "coupler_actions_settled_total",
        "coupler_webhook_requests_total",
        "coupler_webhook_request_duration_seconds_count",
        "coupler_webhook_delivery_age_seconds_count",
        "coupler_vehicle_polls_total",
        "coupler_vendor_requests_total",
        "coupler_vendor_request_duration_seconds_count",
        "coupler_auth_failures_total",
    ];
    let (app_ref, before_ref) = (&app, &before);
    eventually("every family moved", || async move {
        let after = scrape(app_ref).await;
        moving
            .iter()
            .all(|family| total(&after, family) > total(before_ref, family))
            && after.contains("coupler_vendor_requests_total{status_class=\"429\"}")
    })
    .await;
    // Counters only grow: a later scrape still shows every family moved.
    let after = scrape(&app).await;
    let still: HashMap<&str, f64> = moving
        .iter()
        .map(|f| (*f, total(&after, f) - total(&before, f)))
        .filter(|(_, grew)| *grew <= 0.0)
        .collect();
    assert!(still.is_empty(), "families that did not move: {still:?}");
    // Sampled at each scrape: present, and sensible.
    assert!(total(&after, "coupler_db_pool_max_connections") >= 1.0, "{after}");
    assert!(after.contains("coupler_db_pool_connections{state=\"idle\"}"));
    for gauge in [
        "coupler_events_unpublished",
        "coupler_webhook_events_undelivered",
        "coupler_webhook_deliveries_pending",
    ] {
        assert!(after.lines().any(|l| l.starts_with(gauge)), "{gauge} missing");
    }
    assert!(
        total(&after, "coupler_process_resident_memory_bytes") > 0.0,
        "no process metrics"
    );
    assert!(after.contains("# HELP coupler_ocpp_messages_total"));
    cp.close().await;
}

#[tokio::test]
async fn without_a_metrics_token_metrics_are_open_on_the_api_listener() {
    let app = TestApp::spawn().await;
    // The default server has no token: /metrics is open, as Prometheus expects by default.
    assert!(!scrape(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn with_a_metrics_token_metrics_refuse_requests_without_it_and_answer_requests_with_it() {
    let token = "scrape-token-0123456789abcdef";
    let app = TestApp::spawn_with(|_, wiring| wiring.metrics_token = Some(Secret::new(token))).await;

    for authorization in [None, Some("Bearer not-the-token"), Some("Basic c2NyYXBlOnRva2Vu")] {
        let mut request = app.request(Method::GET, "/metrics");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 401, "{authorization:?}");
        assert!(refused.headers().contains_key("x-request-id"));
        assert!(refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let body = problem(refused).await;
        assert!(!body.to_string().contains(token), "the token is never echoed: {body}");
    }

    let answered = app
        .request(Method::GET, "/metrics")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    assert!(answered.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = answered.text().await.unwrap();
    assert!(
        total(&text, "coupler_http_requests_total") >= 3.0,
        "the refused scrapes were counted: {text}"
    );
    // The token guards /metrics only: the API's public routes stay public.
    assert_eq!(
        app.request(Method::GET, "/health/live").send().await.unwrap().status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn with_a_metrics_listener_configured_metrics_are_served_there_and_not_on_the_api_listener() {
    let db = TestDatabase::sqlite();
    let key = SecretKey::generate().encode();
    let token = "listener-token-0123456789abcdef";
    let vars = [
        ("COUPLER_LISTEN", "127.0.0.1:0"),
        ("COUPLER_DATABASE_URL", db.url()),
        ("COUPLER_SECRET_KEY", key.as_str()),
        ("COUPLER_METRICS_LISTEN", "127.0.0.1:0"),
        ("COUPLER_METRICS_TOKEN", token),
    ];
    let config = Config::from_sources(None, |name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let server = Server::start(&config).await.unwrap();
    let api = server.public_url.as_str().trim_end_matches('/').to_owned();
    let metrics_addr = server.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics_addr, server.addr);
    let metrics = format!("http://{metrics_addr}");
    let http = reqwest::Client::new();
    let get = |url: String, bearer: Option<&str>| {
        let mut request = http.get(url);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };

    // The API listener answers /metrics as any unknown route, token or not.
    for bearer in [None, Some(token)] {
        let on_api = get(format!("{api}/metrics"), bearer).await.unwrap();
        assert_eq!(on_api.status(), 404, "{bearer:?}");
        assert!(on_api.headers().contains_key("x-request-id"));
        assert_eq!(problem(on_api).await["detail"], "no route for GET /metrics");
    }
    assert_eq!(get(format!("{api}/health/live"), None).await.unwrap().status(), 200);

    // The metrics listener serves /metrics behind the token, and nothing else.
    let refused = get(format!("{metrics}/metrics"), None).await.unwrap();
    assert_eq!(refused.status(), 401);
    problem(refused).await;
    let answered = get(format!("{metrics}/metrics"), Some(token)).await.unwrap();
    assert_eq!(answered.status(), 200);
    let text = answered.text().await.unwrap();
    assert!(text.contains("# HELP coupler_http_requests_total"), "{text}");
    for path in ["/health/live", "/oauth/token", "/openapi.json"] {
        let elsewhere = get(format!("{metrics}{path}"), Some(token)).await.unwrap();
        assert_eq!(elsewhere.status(), 404, "{path}");
        assert!(elsewhere.headers().contains_key("x-request-id"));
        problem(elsewhere).await;
    }
    server.stop().await.unwrap();
}
