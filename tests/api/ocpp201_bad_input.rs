//! OCPP 2.0.1 stations that send garbage, break the schemas, or number their transaction events
//! strangely: each gets the answer the 2.0.1 rules give (Part 4 §4.2-4.4), nothing is stored twice,
//! and neither the process nor another session notices.

use coupler_tests::raw::{self, RawSocket};
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::Value;

async fn connected(app: &TestApp, tenant: &Tenant, ocpp_id: &str) -> (String, RawSocket) {
    let r = app.register_charger(tenant, "alice", ocpp_id).await;
    let password = r["password"].as_str().unwrap();
    let socket = raw::connect_as(
        "ocpp2.0.1",
        r["ocppUrl"].as_str().unwrap(),
        Some((ocpp_id, password.as_bytes())),
    )
    .await
    .expect("handshake accepted");
    (r["id"].as_str().unwrap().into(), socket)
}

fn error_code(reply: &Value) -> &str {
    assert_eq!(reply[0], 4, "expected a CALLERROR, got {reply}");
    reply[2].as_str().unwrap_or_default()
}

fn result(reply: &Value) -> &Value {
    assert_eq!(reply[0], 3, "expected a CALLRESULT, got {reply}");
    &reply[2]
}

/// Sends a Heartbeat and checks its answer, skipping answers to earlier frames still on their way.
async fn heartbeat_works(socket: &mut RawSocket, id: &str) {
    raw::send(socket, &format!("[2,\"{id}\",\"Heartbeat\",{{}}]")).await;
    loop {
        let reply = raw::next_reply(socket)
            .await
            .expect("a reply before the connection closed");
        if reply[1] == id {
            assert!(result(&reply)["currentTime"].is_string());
            return;
        }
    }
}

/// The bytes a text of hex digits spells.
fn bytes_of_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn malformed_frames_and_schema_violations_get_the_2_0_1_errors_and_the_session_survives() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut socket) = connected(&app, &tenant, "CP201-BAD-1").await;

    let not_json = raw::exchange(&mut socket, "this is not json").await;
    assert_eq!(
        (error_code(&not_json), &not_json[1]),
        ("RpcFrameworkError", &Value::from("-1")),
        "an unreadable id is answered as -1"
    );
    let numeric_id = raw::exchange(&mut socket, r#"[2,17,"Heartbeat",{}]"#).await;
    assert_eq!(
        (error_code(&numeric_id), &numeric_id[1]),
        ("RpcFrameworkError", &Value::from("-1"))
    );
    let long_id = raw::exchange(&mut socket, &format!(r#"[2,"{}","Heartbeat",{{}}]"#, "i".repeat(37))).await;
    assert_eq!(long_id[1], "-1");
    let short = raw::exchange(&mut socket, r#"[2,"m1"]"#).await;
    assert_eq!(
        (error_code(&short), &short[1]),
        ("RpcFrameworkError", &Value::from("m1"))
    );
    let unknown_type = raw::exchange(&mut socket, r#"[7,"u1",{}]"#).await;
    assert_eq!(
        (error_code(&unknown_type), &unknown_type[1]),
        ("MessageTypeNotSupported", &Value::from("u1"))
    );
    let not_object = raw::exchange(&mut socket, r#"[2,"p1","Heartbeat",[]]"#).await;
    assert_eq!(error_code(&not_object), "FormatViolation");
    let unknown_action = raw::exchange(&mut socket, r#"[2,"m2","FlyToTheMoon",{}]"#).await;
    assert_eq!(error_code(&unknown_action), "NotImplemented");
    let wrong_side = raw::exchange(
        &mut socket,
        r#"[2,"m3","RequestStopTransaction",{"transactionId":"x"}]"#,
    )
    .await;
    assert_eq!(error_code(&wrong_side), "NotSupported");
    let one_six = raw::exchange(&mut socket, r#"[2,"m4","StartTransaction",{}]"#).await;
    assert_eq!(error_code(&one_six), "NotImplemented", "a 1.6 action is not 2.0.1");

    let cases = [
        (
            r#"{"timestamp":"2026-11-21T10:00:00Z","connectorStatus":"Available","evseId":1}"#,
            "OccurrenceConstraintViolation",
        ),
        (
            r#"{"timestamp":"2026-11-21T10:00:00Z","connectorStatus":"Available","evseId":"one","connectorId":1}"#,
            "TypeConstraintViolation",
        ),
        (
            r#"{"timestamp":"2026-11-21T10:00:00Z","connectorStatus":"Charging","evseId":1,"connectorId":1}"#,
            "PropertyConstraintViolation",
        ),
        (
            r#"{"timestamp":"2026-11-21T10:00:00Z","connectorStatus":"Available","evseId":1,"connectorId":1,"colour":"red"}"#,
            "FormatViolation",
        ),
        (
            r#"{"timestamp":"yesterday","connectorStatus":"Available","evseId":1,"connectorId":1}"#,
            "TypeConstraintViolation",
        ),
        (
            r#"{"timestamp":"2026-11-21T10:00:00Z","connectorStatus":"Available","evseId":-1,"connectorId":1}"#,
            "PropertyConstraintViolation",
        ),
    ];
    for (i, (payload, code)) in cases.iter().enumerate() {
        let reply = raw::exchange(&mut socket, &format!("[2,\"s{i}\",\"StatusNotification\",{payload}]")).await;
        assert_eq!(error_code(&reply), *code, "{payload}");
        assert_eq!(reply[1], format!("s{i}"));
    }
    let with_custom_data = raw::exchange(
        &mut socket,
        r#"[2,"c1","StatusNotification",{"timestamp":"2026-11-21T10:00:00Z","connectorStatus":"Available","evseId":1,"connectorId":1,"customData":{"vendorId":"com.example"}}]"#,
    )
    .await;
    result(&with_custom_data);
    let empty_meter = raw::exchange(&mut socket, r#"[2,"d1","MeterValues",{"evseId":1,"meterValue":[]}]"#).await;
    assert_eq!(error_code(&empty_meter), "OccurrenceConstraintViolation");

    // Results for calls never made are ignored, not answered.
    raw::send(&mut socket, r#"[3,"never-sent",{}]"#).await;
    raw::send(&mut socket, r#"[4,"never-sent","GenericError","",{}]"#).await;
    heartbeat_works(&mut socket, "alive").await;
}

fn transaction_event(message_id: &str, kind: &str, seq_no: i64, transaction: &str, wh: f64, minute: u32) -> String {
    let at = format!("2026-11-21T10:{minute:02}:00Z");
    let state = if kind == "Ended" { "EVConnected" } else { "Charging" };
    serde_json::json!([2, message_id, "TransactionEvent", {
        "eventType": kind, "timestamp": at, "triggerReason": "MeterValuePeriodic", "seqNo": seq_no, "offline": true,
        "transactionInfo": {"transactionId": transaction, "chargingState": state},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": at, "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}]}]
    }])
    .to_string()
}

#[tokio::test]
async fn duplicate_and_out_of_order_seq_nos_and_unknown_transactions_are_answered_and_stored_once() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut socket) = connected(&app, &tenant, "CP201-SEQ").await;

    // Offline events arrive last-first; the end comes before the start.
    for (message, kind, seq_no, wh, minute) in [
        ("e2", "Ended", 2, 3000.0, 30),
        ("e0", "Started", 0, 1000.0, 0),
        ("e1", "Updated", 1, 2000.0, 15),
        ("e1-again", "Updated", 1, 2500.0, 15),
        ("e2-again", "Ended", 2, 9999.0, 31),
    ] {
        let reply = raw::exchange(
            &mut socket,
            &transaction_event(message, kind, seq_no, "tx-late", wh, minute),
        )
        .await;
        assert_eq!(reply[1], message);
        result(&reply);
    }
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    let data = sessions["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{sessions}");
    assert_eq!(data[0]["energy"], 2.0, "from the Started reading to the Ended one");
    assert_eq!(data[0]["startedAt"], "2026-11-21T10:00:00Z");

    // An event for a transaction Coupler never saw start is answered, and the session starts there.
    let ghost = raw::exchange(
        &mut socket,
        &transaction_event("g1", "Updated", 4, "tx-ghost", 500.0, 40),
    )
    .await;
    result(&ghost);
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 2);
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "PLUGGED_IN:CHARGING");

    let negative = raw::exchange(
        &mut socket,
        &transaction_event("n1", "Updated", -1, "tx-ghost", 600.0, 41),
    )
    .await;
    assert_eq!(error_code(&negative), "PropertyConstraintViolation");
    let long_id = raw::exchange(
        &mut socket,
        &transaction_event("n2", "Updated", 5, &"t".repeat(37), 600.0, 41),
    )
    .await;
    assert_eq!(error_code(&long_id), "TypeConstraintViolation");
    heartbeat_works(&mut socket, "alive").await;
}

#[tokio::test]
async fn a_2_0_1_station_must_send_its_password_as_plain_text() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let r = app.register_charger(&tenant, "alice", "CP201-AUTH").await;
    let url = r["ocppUrl"].as_str().unwrap();
    let password = r["password"].as_str().unwrap();
    let raw_key = bytes_of_hex(password);
    assert_eq!(
        raw::connect_as("ocpp2.0.1", url, Some(("CP201-AUTH", &raw_key)))
            .await
            .err(),
        Some(401),
        "2.0.1 sends no raw key bytes"
    );
    assert!(
        raw::connect_as("ocpp1.6", url, Some(("CP201-AUTH", &raw_key)))
            .await
            .is_ok(),
        "1.6 may"
    );
    assert!(
        raw::connect_as("ocpp2.0.1", url, Some(("CP201-AUTH", password.as_bytes())))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_charger_s_order_of_subprotocols_decides_the_version() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let r = app.register_charger(&tenant, "alice", "CP-BOTH").await;
    let url = r["ocppUrl"].as_str().unwrap();
    let password = r["password"].as_str().unwrap().as_bytes();
    for (offered, version) in [("ocpp1.6, ocpp2.0.1", "1.6"), ("ocpp2.0.1, ocpp1.6", "2.0.1")] {
        let mut socket = raw::connect_as(offered, url, Some(("CP-BOTH", password)))
            .await
            .unwrap();
        heartbeat_works(&mut socket, "hb").await;
        let shown = app
            .get_json(&tenant, &format!("/chargers/{}", r["id"].as_str().unwrap()))
            .await;
        assert_eq!(shown["information"]["ocppVersion"], version, "{offered}");
        drop(socket);
    }
}

#[tokio::test]
async fn garbage_from_a_2_0_1_station_never_takes_down_the_process_or_another_session() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut bad) = connected(&app, &tenant, "CP201-GARBAGE").await;
    let (_, mut good) = connected(&app, &tenant, "CP201-GOOD").await;
    let frames = [
        "",
        "[]",
        "[2]",
        "[null,null,null,null]",
        r#"[2,"x",null,{}]"#,
        r#"[2,"x","TransactionEvent",{"eventType":"Started"}]"#,
        r#"[2,"x","TransactionEvent",{"eventType":"Started","timestamp":"2026-11-21T10:00:00Z","triggerReason":"Trigger","seqNo":2147483648,"transactionInfo":{"transactionId":"a"}}]"#,
        r#"[2,"x","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":1e308,"unitOfMeasure":{"multiplier":300}}]}]}]"#,
        r#"[2,"x","Authorize",{"idToken":{"idToken":"","type":"NoAuthorization"}}]"#,
        r#"[4,"x","FormatViolation","bad",{}]"#,
        r#"[3,"x"]"#,
        &"[".repeat(10_000),
    ];
    for frame in frames {
        raw::send(&mut bad, frame).await;
    }
    heartbeat_works(&mut bad, "bad-still-answered").await;
    heartbeat_works(&mut good, "good-still-answered").await;
    let health = app.request(Method::GET, "/health/live").send().await.unwrap();
    assert_eq!(health.status(), 200);
}
