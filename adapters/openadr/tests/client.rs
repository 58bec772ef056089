//! The VTN client against a small HTTP server on a real socket that answers as a VTN would: the
//! token is fetched once and reused, a 401 is tried once more with a fresh token, failures become
//! the errors they are, and a 3.0.1 VTN is spoken to in 3.0.1's shapes (the real VTN of the
//! end-to-end tests, openleadr-vtn, speaks 3.1 only).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use coupler_core::openadr::OpenAdrVersion;
use coupler_openadr::{VtnClient, VtnConfig, VtnError};
use serde_json::{json, Value};

/// What the server saw and how it behaves.
#[derive(Debug, Default)]
struct Seen {
    tokens_issued: AtomicUsize,
    /// The token the API accepts (the first issued is refused once, as after a VTN restart with a
    /// new key).
    refuse_first_token: bool,
    bodies: Mutex<Vec<(String, Value)>>,
    events_status: Mutex<Option<StatusCode>>,
}

async fn token(State(seen): State<Arc<Seen>>, body: String) -> Json<Value> {
    assert!(
        body.contains("grant_type=client_credentials") && body.contains("client_id=ven"),
        "{body}"
    );
    let n = seen.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"access_token": format!("token-{n}"), "token_type": "Bearer", "expires_in": 3600}))
}

fn authorised(seen: &Seen, headers: &HeaderMap) -> bool {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    presented.starts_with("Bearer token-") && !(seen.refuse_first_token && presented == "Bearer token-1")
}

async fn programs(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    if !authorised(&seen, &headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(Json(
        json!([{"id": "p-1", "programName": "peak", "objectType": "PROGRAM"}]),
    ))
}

async fn events(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> Result<String, StatusCode> {
    if !authorised(&seen, &headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    if let Some(status) = *seen.events_status.lock().unwrap() {
        return Err(status);
    }
    Ok("this is not JSON".to_owned())
}

async fn record(State(seen): State<Arc<Seen>>, uri: Uri, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let path = uri.path().trim_start_matches("/vtn/").to_owned();
    seen.bodies.lock().unwrap().push((path, body));
    (StatusCode::CREATED, Json(json!({"id": "new-1"})))
}

async fn empty() -> Json<Value> {
    Json(json!([]))
}

async fn serve(seen: Arc<Seen>) -> String {
    let app = Router::new()
        .route("/vtn/auth/token", post(token))
        .route("/vtn/programs", get(programs))
        .route("/vtn/events", get(events))
        .route("/vtn/vens", get(empty).post(record))
        .route("/vtn/vens/{id}/resources", get(empty).post(record))
        .route("/vtn/reports", post(record))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/vtn", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn client(url: &str, version: OpenAdrVersion) -> VtnClient {
    let config = VtnConfig::new(url, None, Some(("ven".to_owned(), "secret".to_owned())), version).unwrap();
    VtnClient::new(config)
}

#[tokio::test]
async fn the_token_is_fetched_once_and_a_401_is_tried_again_with_a_fresh_one() {
    let seen = Arc::new(Seen {
        refuse_first_token: true,
        ..Seen::default()
    });
    let url = serve(seen.clone()).await;
    let vtn = client(&url, OpenAdrVersion::V3_1);
    assert_eq!(vtn.program("peak").await.unwrap().id, "p-1");
    assert_eq!(
        seen.tokens_issued.load(Ordering::SeqCst),
        2,
        "refused once, fetched again"
    );
    assert_eq!(vtn.program("p-1").await.unwrap().program_name, "peak");
    assert_eq!(
        seen.tokens_issued.load(Ordering::SeqCst),
        2,
        "the fresh token is reused"
    );
    assert!(matches!(vtn.program("other").await, Err(VtnError::NotFound(_))));
}

#[tokio::test]
async fn failures_become_the_errors_they_are() {
    let seen = Arc::new(Seen::default());
    let url = serve(seen.clone()).await;
    let vtn = client(&url, OpenAdrVersion::V3_1);
    let unreadable = vtn.events("p-1").await.unwrap_err();
    assert!(matches!(unreadable, VtnError::BadPayload(_)), "{unreadable}");
    *seen.events_status.lock().unwrap() = Some(StatusCode::BAD_GATEWAY);
    assert!(matches!(vtn.events("p-1").await, Err(VtnError::Unavailable(_))));
    *seen.events_status.lock().unwrap() = Some(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(matches!(
        vtn.events("p-1").await,
        Err(VtnError::Refused { status: 422, .. })
    ));
    *seen.events_status.lock().unwrap() = Some(StatusCode::UNAUTHORIZED);
    assert!(matches!(vtn.events("p-1").await, Err(VtnError::Unauthorized(_))));

    // Nothing listening: unavailable; a server that never answers: a timeout.
    let gone = client("http://127.0.0.1:9/vtn", OpenAdrVersion::V3_1);
    assert!(matches!(gone.program("peak").await, Err(VtnError::Unavailable(_))));
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/vtn", silent.local_addr().unwrap());
    let mut config = VtnConfig::new(&silent_url, None, None, OpenAdrVersion::V3_1).unwrap();
    config.timeout = Duration::from_millis(300);
    let hung = VtnClient::new(config).program("peak").await.unwrap_err();
    assert!(matches!(hung, VtnError::Timeout(_)), "{hung}");
    drop(silent);
}

#[tokio::test]
async fn a_3_0_1_vtn_gets_its_ven_its_nested_resources_and_reports_with_the_program_id() {
    let seen = Arc::new(Seen::default());
    let url = serve(seen.clone()).await;
    let vtn = client(&url, OpenAdrVersion::V3_0_1);
    assert_eq!(vtn.ensure_ven("coupler").await.unwrap(), "new-1");
    vtn.ensure_resources("ven-9", &["charger-1".to_owned()]).await.unwrap();
    let start = "2026-12-06T10:00:00Z".parse().unwrap();
    let report = coupler_openadr::EventReport {
        event_id: "e-1".into(),
        program_id: "p-1".into(),
        client_name: "coupler".into(),
        report_name: "r".into(),
        start,
        end: start + chrono::Duration::minutes(15),
        baseline_kwh: None,
        delta_usage_kwh: None,
        sites: Vec::new(),
    };
    vtn.create_report(&report.to_json(OpenAdrVersion::V3_0_1))
        .await
        .unwrap();
    let bodies = seen.bodies.lock().unwrap().clone();
    let paths: Vec<&str> = bodies.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["vens", "vens/ven-9/resources", "reports"]);
    assert_eq!(bodies[0].1["objectType"], "VEN");
    assert_eq!(bodies[1].1["resourceName"], "charger-1");
    assert_eq!(bodies[2].1["programID"], "p-1");
}

#[test]
fn the_client_secret_stays_out_of_debug_output() {
    let config = VtnConfig::new(
        "https://vtn.example.com",
        None,
        Some(("ven".to_owned(), "s3cr3t-value".to_owned())),
        OpenAdrVersion::V3_1,
    )
    .unwrap();
    let shown = format!("{:?}", VtnClient::new(config));
    assert!(shown.contains("ven") && !shown.contains("s3cr3t-value"), "{shown}");
}
