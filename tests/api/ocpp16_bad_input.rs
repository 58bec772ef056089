//! Chargers that send garbage, break the schemas, or connect wrongly: each gets the answer the
//! OCPP-J spec gives, and neither the process nor another charger's session notices.

use std::io::{Read, Write};

use coupler_tests::raw::{self, RawSocket};
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::Value;

async fn registered(app: &TestApp, tenant: &Tenant, ocpp_id: &str) -> (String, String, String) {
    let r = app.register_charger(tenant, "alice", ocpp_id).await;
    (
        r["id"].as_str().unwrap().into(),
        r["ocppUrl"].as_str().unwrap().into(),
        r["password"].as_str().unwrap().into(),
    )
}

async fn connected(app: &TestApp, tenant: &Tenant, ocpp_id: &str) -> (String, RawSocket) {
    let (id, url, password) = registered(app, tenant, ocpp_id).await;
    let socket = raw::connect(&url, Some((ocpp_id, &password)))
        .await
        .expect("handshake accepted");
    (id, socket)
}

fn error_code(reply: &Value) -> &str {
    assert_eq!(reply[0], 4, "expected a CALLERROR, got {reply}");
    reply[2].as_str().unwrap_or_default()
}

async fn heartbeat_works(socket: &mut RawSocket, id: &str) {
    let reply = raw::exchange(socket, &format!("[2,\"{id}\",\"Heartbeat\",{{}}]")).await;
    assert_eq!(reply[0], 3, "{reply}");
    assert_eq!(reply[1], id);
    assert!(reply[2]["currentTime"].is_string());
}

#[tokio::test]
async fn malformed_frames_and_schema_violations_get_the_right_16_error_and_the_session_survives() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut socket) = connected(&app, &tenant, "CP-BAD-1").await;

    let not_json = raw::exchange(&mut socket, "this is not json").await;
    assert_eq!(error_code(&not_json), "FormationViolation");
    assert_eq!(not_json[1], "-1", "an unreadable id is answered as -1");

    let short = raw::exchange(&mut socket, r#"[2,"m1"]"#).await;
    assert_eq!(error_code(&short), "FormationViolation");

    let unknown_action = raw::exchange(&mut socket, r#"[2,"m2","FlyToTheMoon",{}]"#).await;
    assert_eq!(
        (error_code(&unknown_action), &unknown_action[1]),
        ("NotImplemented", &Value::from("m2"))
    );

    let wrong_side = raw::exchange(&mut socket, r#"[2,"m3","RemoteStartTransaction",{"idTag":"x"}]"#).await;
    assert_eq!(error_code(&wrong_side), "NotSupported");

    let cases = [
        (
            r#"{"connectorId":1,"errorCode":"NoError"}"#,
            "OccurenceConstraintViolation",
        ),
        (
            r#"{"connectorId":"one","errorCode":"NoError","status":"Available"}"#,
            "TypeConstraintViolation",
        ),
        (
            r#"{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}"#,
            "PropertyConstraintViolation",
        ),
        (
            r#"{"connectorId":1,"errorCode":"NoError","status":"Available","colour":"red"}"#,
            "FormationViolation",
        ),
        (
            r#"{"connectorId":1,"errorCode":"NoError","status":"Available","info":"123456789012345678901234567890123456789012345678901"}"#,
            "TypeConstraintViolation",
        ),
    ];
    for (i, (payload, code)) in cases.iter().enumerate() {
        let reply = raw::exchange(&mut socket, &format!("[2,\"s{i}\",\"StatusNotification\",{payload}]")).await;
        assert_eq!(error_code(&reply), *code, "{payload}");
        assert_eq!(reply[1], format!("s{i}"));
    }

    // A decimal that is not a multiple of 0.1 breaks the 1.6 schema too.
    let stop = raw::exchange(
        &mut socket,
        r#"[2,"d1","MeterValues",{"connectorId":1,"meterValue":[]}]"#,
    )
    .await;
    assert!(error_code(&stop).ends_with("Violation"), "{stop}");

    // An unknown message type is ignored in 1.6; so is a result for a call never made.
    raw::send(&mut socket, r#"[7,"u1",{}]"#).await;
    raw::send(&mut socket, r#"[3,"never-sent",{}]"#).await;
    raw::send(&mut socket, r#"[4,"never-sent","GenericError","",{}]"#).await;
    heartbeat_works(&mut socket, "alive").await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut big) = connected(&app, &tenant, "CP-BIG").await;
    let (_, mut other) = connected(&app, &tenant, "CP-OTHER").await;

    let huge = format!(
        "[2,\"x\",\"DataTransfer\",{{\"vendorId\":\"v\",\"data\":\"{}\"}}]",
        "a".repeat(200 * 1024)
    );
    raw::send(&mut big, &huge).await;
    assert_eq!(
        raw::close_code(&mut big).await,
        Some(1009),
        "the oversized connection is closed as too big (COUPLER_OCPP_MAX_MESSAGE_BYTES)"
    );

    heartbeat_works(&mut other, "still-here").await;
    let health = app.request(Method::GET, "/health/live").send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf_8_closes_only_that_connection_with_1007() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut garbled) = connected(&app, &tenant, "CP-NOT-UTF8").await;
    let (_, mut other) = connected(&app, &tenant, "CP-UTF8").await;

    raw::send_text_bytes(&mut garbled, b"[2,\"x\",\"Heartbeat\",{\"a\":\"\xff\xfe\"}]").await;
    assert_eq!(raw::close_code(&mut garbled).await, Some(1007));

    heartbeat_works(&mut other, "still-here").await;
}

#[tokio::test]
async fn bad_credentials_and_unknown_identities_are_refused_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, url, password) = registered(&app, &tenant, "CP-AUTH").await;
    assert_eq!(
        raw::connect(&url, Some(("CP-AUTH", "wrong-password"))).await.err(),
        Some(401)
    );
    assert_eq!(raw::connect(&url, None).await.err(), Some(401));
    assert_eq!(
        raw::connect(&url, Some(("CP-OTHER", &password))).await.err(),
        Some(401),
        "the user name must be the identity"
    );
    let unknown = url.replace("CP-AUTH", "CP-NOBODY");
    assert_eq!(
        raw::connect(&unknown, Some(("CP-NOBODY", &password))).await.err(),
        Some(404)
    );
    let invalid = url.replace("CP-AUTH", "CP%3AAUTH");
    assert_eq!(
        raw::connect(&invalid, Some(("CP:AUTH", &password))).await.err(),
        Some(400)
    );
    raw::connect(&url, Some(("CP-AUTH", &password)))
        .await
        .expect("the right password still works");
}

#[tokio::test]
async fn an_identity_that_needs_percent_encoding_connects_through_its_ocpp_url() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, url, password) = registered(&app, &tenant, "Wallbox_Küche#1").await;
    assert!(url.ends_with("/ocpp/Wallbox_K%C3%BCche%231"), "{url}");
    let mut socket = raw::connect(&url, Some(("Wallbox_Küche#1", &password)))
        .await
        .expect("accepted");
    heartbeat_works(&mut socket, "h").await;
}

/// A charger offering no subprotocol Coupler speaks is refused at the handshake with a 400 that says
/// which ones it speaks: no upgrade, no connection that opens and drops. Checked on the wire.
#[tokio::test]
async fn a_charger_offering_no_supported_subprotocol_is_refused_at_the_handshake() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, url, password) = registered(&app, &tenant, "CP-PROTO").await;
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().to_owned();
    let path = format!("/{}", url.trim_start_matches("ws://").split_once('/').unwrap().1);
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("CP-PROTO:{password}"),
    );
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: ocpp0.9\r\nAuthorization: Basic {auth}\r\n\r\n"
        )
        .unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 1024];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
        received
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&response).to_lowercase();
    assert!(text.starts_with("http/1.1 400"), "{text}");
    assert!(!text.contains("upgrade: websocket"), "no upgrade: {text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(
        text.contains("ocpp2.0.1 and ocpp1.6"),
        "says what Coupler speaks: {text}"
    );
}

#[tokio::test]
async fn the_same_identity_connecting_again_replaces_the_first_connection() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, url, password) = registered(&app, &tenant, "CP-TWICE").await;
    let mut first = raw::connect(&url, Some(("CP-TWICE", &password))).await.unwrap();
    heartbeat_works(&mut first, "1").await;
    let mut second = raw::connect(&url, Some(("CP-TWICE", &password))).await.unwrap();
    assert_eq!(
        raw::close_code(&mut first).await,
        Some(1000),
        "the first connection is closed"
    );
    heartbeat_works(&mut second, "2").await;
    assert_eq!(
        app.get_json(&tenant, &format!("/chargers/{id}")).await["isReachable"],
        true
    );

    drop(second);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get_json(&tenant, &format!("/chargers/{id}")).await["isReachable"] == true {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still reachable after the connection dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deleting_a_charger_closes_its_connection_and_its_credentials_stop_working() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, url, password) = registered(&app, &tenant, "CP-DELETE").await;
    let mut socket = raw::connect(&url, Some(("CP-DELETE", &password))).await.unwrap();
    heartbeat_works(&mut socket, "h").await;
    let deleted = app
        .as_tenant(&tenant, Method::DELETE, &format!("/chargers/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(raw::close_code(&mut socket).await, Some(1000));
    assert_eq!(
        raw::connect(&url, Some(("CP-DELETE", &password))).await.err(),
        Some(404)
    );
}

#[tokio::test]
async fn a_graceful_stop_closes_charger_connections_with_going_away() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut socket) = connected(&app, &tenant, "CP-STOP").await;
    heartbeat_works(&mut socket, "h").await;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(raw::close_code(&mut socket).await, Some(1001));
    stopping.await.unwrap();
}

/// A charger that stops answering pings is taken for gone: its connection is closed and it shows as
/// unreachable, rather than lingering as a zombie.
#[tokio::test]
async fn a_charger_that_never_answers_pings_is_disconnected() {
    let app = TestApp::spawn_with(|_, s| {
        s.gateway.ping_interval = std::time::Duration::from_millis(200);
        s.gateway.pong_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let tenant = app.tenant("app").await;
    let (id, url, password) = registered(&app, &tenant, "CP-SILENT").await;
    // A raw TCP connection that completes the handshake and then reads nothing, so pings go unanswered.
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().to_owned();
    let path = format!("/{}", url.trim_start_matches("ws://").split_once('/').unwrap().1);
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("CP-SILENT:{password}"),
    );
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {auth}\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen_connected = false;
    loop {
        let reachable = app.get_json(&tenant, &format!("/chargers/{id}")).await["isReachable"] == true;
        seen_connected |= reachable;
        if seen_connected && !reachable {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent charger was never disconnected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(stream);
}

#[tokio::test]
async fn chargers_can_connect_on_a_listener_of_their_own() {
    use coupler::server::{Server, Wiring};
    let db = coupler_store::testing::TestDatabase::sqlite();
    let store = db.open().await;
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ocpp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ocpp_addr = ocpp.local_addr().unwrap();
    let mut wiring = Wiring::minimal(
        store.clone(),
        format!("http://{}", api.local_addr().unwrap()).parse().unwrap(),
    );
    wiring.ocpp_url = format!("ws://{ocpp_addr}").parse().unwrap();
    let server = Server::serve_with(api, Some(ocpp), wiring).await.unwrap();
    assert_eq!(server.ocpp_addr, Some(ocpp_addr));

    let secret = coupler_core::secret::generate_secret();
    let client = coupler_core::Client {
        id: coupler_core::ClientId::generate(),
        name: "app".into(),
        secret_hash: coupler_core::secret::hash_secret(&secret),
        created_at: coupler_core::time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await.unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("http://{}/oauth/token", server.addr))
        .basic_auth(client.id.as_str(), Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registered: Value = http
        .post(format!("http://{}/users/alice/chargers", server.addr))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"ocppId": "CP-PORT"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(registered["ocppUrl"], format!("ws://{ocpp_addr}/ocpp/CP-PORT"));
    let mut socket = raw::connect(
        registered["ocppUrl"].as_str().unwrap(),
        Some(("CP-PORT", registered["password"].as_str().unwrap())),
    )
    .await
    .unwrap();
    heartbeat_works(&mut socket, "h").await;
    server.stop().await.unwrap();
}

/// While Coupler waits for the charger's answer to its own call, the charger's calls are still
/// answered, and Coupler's next call waits until the first is answered.
#[tokio::test]
async fn the_chargers_calls_are_answered_while_coupler_waits_for_its_own() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut socket) = connected(&app, &tenant, "CP-WAIT").await;
    // The status trigger Coupler sends on connecting.
    let trigger = raw::next_frame(&mut socket).await.unwrap();
    assert_eq!(trigger[2], "TriggerMessage");
    raw::send(&mut socket, &format!(r#"[3,{},{{"status":"Rejected"}}]"#, trigger[1])).await;

    for limit in [10, 12] {
        let response = app
            .as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/max-current"))
            .json(&serde_json::json!({"maxCurrent": limit}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let first = raw::next_frame(&mut socket).await.unwrap();
    assert_eq!(first[2], "SetChargingProfile");

    // Not answering yet: the charger's own call still gets its answer.
    raw::send(&mut socket, r#"[2,"hb-1","Heartbeat",{}]"#).await;
    let answer = raw::next_frame(&mut socket).await.unwrap();
    assert_eq!(
        (answer[0].as_i64(), answer[1].as_str()),
        (Some(3), Some("hb-1")),
        "{answer}"
    );

    // Coupler's second call goes out only once the first is answered.
    raw::send(&mut socket, &format!(r#"[3,{},{{"status":"Accepted"}}]"#, first[1])).await;
    let next = raw::next_frame(&mut socket).await.unwrap();
    assert_eq!(next[0], 2);
    assert_ne!(next[1], first[1], "a new message id");
}
