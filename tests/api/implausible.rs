//! Values no charger can mean: a connector id beyond any charger's is refused with the CALLERROR
//! the OCPP-J spec gives a value out of range (PropertyConstraintViolation) and nothing is stored;
//! readings and stops that cannot be true are answered (OCPP requires it) but stored flagged, and
//! count for nothing in sessions' energy and the statistics.

use coupler_tests::raw::{self, RawSocket};
use coupler_tests::{Tenant, TestApp};
use serde_json::{json, Value};

async fn connected(app: &TestApp, tenant: &Tenant, ocpp_id: &str, subprotocol: &str) -> (String, RawSocket) {
    let r = app.register_charger(tenant, "alice", ocpp_id).await;
    let password = r["password"].as_str().unwrap().to_owned();
    let socket = raw::connect_as(
        subprotocol,
        r["ocppUrl"].as_str().unwrap(),
        Some((ocpp_id, password.as_bytes())),
    )
    .await
    .expect("handshake accepted");
    (r["id"].as_str().unwrap().to_owned(), socket)
}

fn call(id: &str, action: &str, payload: &Value) -> String {
    json!([2, id, action, payload]).to_string()
}

fn error_code(reply: &Value) -> &str {
    assert_eq!(reply[0], 4, "expected a CALLERROR, got {reply}");
    reply[2].as_str().unwrap_or_default()
}

fn energy(at: &str, wh: f64) -> Value {
    json!({"timestamp": at, "sampledValue": [{"value": wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]})
}

#[tokio::test]
async fn a_connector_id_of_2_pow_31_minus_1_is_refused_with_property_constraint_violation_in_both_versions() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut socket) = connected(&app, &tenant, "CP-IMPL-16-CONN", "ocpp1.6").await;
    for (action, payload) in [
        (
            "StatusNotification",
            json!({"connectorId": i32::MAX, "errorCode": "NoError", "status": "Available"}),
        ),
        (
            "MeterValues",
            json!({"connectorId": 101, "meterValue": [energy("2026-12-01T10:00:00Z", 1.0)]}),
        ),
        (
            "StartTransaction",
            json!({"connectorId": i32::MAX, "idTag": "CARD", "meterStart": 0, "timestamp": "2026-12-01T10:00:00Z"}),
        ),
    ] {
        let reply = raw::exchange(&mut socket, &call("m1", action, &payload)).await;
        assert_eq!(error_code(&reply), "PropertyConstraintViolation", "{action}: {reply}");
    }
    let charger = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert!(
        charger["connectors"].as_array().is_none_or(Vec::is_empty),
        "nothing stored: {charger}"
    );
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    assert_eq!(sessions["data"], json!([]));
    let alive = raw::exchange(&mut socket, &call("m2", "Heartbeat", &json!({}))).await;
    assert_eq!(alive[0], 3, "the session survives: {alive}");

    let (_, mut station) = connected(&app, &tenant, "CP-IMPL-201-CONN", "ocpp2.0.1").await;
    let reply = raw::exchange(
        &mut station,
        &call(
            "s1",
            "StatusNotification",
            &json!({"timestamp": "2026-12-01T10:00:00Z", "connectorStatus": "Available", "evseId": i32::MAX, "connectorId": 1}),
        ),
    )
    .await;
    assert_eq!(error_code(&reply), "PropertyConstraintViolation", "{reply}");
}

#[tokio::test]
async fn implausible_readings_and_a_stop_before_its_start_are_answered_flagged_and_count_no_energy() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut socket) = connected(&app, &tenant, "CP-IMPL-16-METER", "ocpp1.6").await;
    let started = raw::exchange(
        &mut socket,
        &call(
            "t1",
            "StartTransaction",
            &json!({"connectorId": 1, "idTag": "CARD", "meterStart": 1000, "timestamp": "2026-12-01T10:00:00Z"}),
        ),
    )
    .await;
    assert_eq!(started[0], 3, "{started}");
    let transaction_id = started[2]["transactionId"].as_i64().unwrap();
    let values = json!({"connectorId": 1, "transactionId": transaction_id, "meterValue": [
        energy("2026-12-01T10:05:00Z", -5.0),
        energy("2026-12-01T10:10:00Z", 3000.0),
        energy("2026-12-01T10:11:00Z", 9_000_000_000.0),
        energy("2026-12-01T10:12:00Z", 2e13)
    ]});
    let answered = raw::exchange(&mut socket, &call("t2", "MeterValues", &values)).await;
    assert_eq!(answered[0], 3, "answered, flagged: {answered}");
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    let running = &sessions["data"][0];
    assert_eq!(running["energy"], 2.0, "only the plausible reading counts: {running}");
    assert_eq!(running["implausible"], Value::Null);

    let stop = json!({"transactionId": transaction_id, "meterStop": 500, "timestamp": "2026-12-01T09:00:00Z"});
    let stopped = raw::exchange(&mut socket, &call("t3", "StopTransaction", &stop)).await;
    assert_eq!(
        stopped[0], 3,
        "a stop is always answered, or the charger retries it for ever: {stopped}"
    );
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    let ended = &sessions["data"][0];
    assert_eq!(ended["implausible"], "STOP_BEFORE_START", "{ended}");
    assert_eq!(ended["energy"], 0.0);
    assert_eq!(ended["meterStop"], 500.0, "stored as sent");
    let statistics = app
        .get_json(
            &tenant,
            &format!("/statistics/charging?chargerId={id}&resolution=DAY&startDate=2026-11-30T00:00:00Z&endDate=2026-12-02T00:00:00Z"),
        )
        .await;
    assert_eq!(statistics["total"]["kwhSum"], 0.0, "{statistics}");
}

#[tokio::test]
async fn a_2_0_1_transaction_ended_before_it_started_is_answered_and_flagged() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut station) = connected(&app, &tenant, "CP-IMPL-201-END", "ocpp2.0.1").await;
    let reading = |at: &str, wh: f64| json!({"timestamp": at, "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]});
    let started = raw::exchange(
        &mut station,
        &call(
            "e1",
            "TransactionEvent",
            &json!({"eventType": "Started", "timestamp": "2026-12-01T10:00:00Z", "triggerReason": "CablePluggedIn", "seqNo": 0,
                    "transactionInfo": {"transactionId": "tx-back-in-time"}, "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [reading("2026-12-01T10:00:00Z", 1000.0)]}),
        ),
    )
    .await;
    assert_eq!(started[0], 3, "{started}");
    let negative = raw::exchange(
        &mut station,
        &call(
            "e2",
            "TransactionEvent",
            &json!({"eventType": "Updated", "timestamp": "2026-12-01T10:05:00Z", "triggerReason": "MeterValuePeriodic", "seqNo": 1,
                    "transactionInfo": {"transactionId": "tx-back-in-time"}, "evse": {"id": 1},
                    "meterValue": [reading("2026-12-01T10:05:00Z", -20.0)]}),
        ),
    )
    .await;
    assert_eq!(negative[0], 3, "answered, the reading flagged: {negative}");
    let running = &app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await["data"][0];
    assert_eq!(
        (&running["energy"], &running["implausible"]),
        (&json!(0.0), &Value::Null),
        "{running}"
    );
    let ended = raw::exchange(
        &mut station,
        &call(
            "e3",
            "TransactionEvent",
            &json!({"eventType": "Ended", "timestamp": "2026-12-01T08:00:00Z", "triggerReason": "EVDeparted", "seqNo": 2,
                    "transactionInfo": {"transactionId": "tx-back-in-time", "stoppedReason": "EVDisconnected"},
                    "meterValue": [reading("2026-12-01T08:00:00Z", 4000.0)]}),
        ),
    )
    .await;
    assert_eq!(ended[0], 3, "{ended}");
    let session = &app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await["data"][0];
    assert_eq!(session["implausible"], "STOP_BEFORE_START", "{session}");
    assert_eq!(session["energy"], 0.0);
}
