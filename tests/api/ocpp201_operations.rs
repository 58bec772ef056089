//! OCPP 2.0.1 back-office operations, each walked against an independent charging station (the
//! Python `ocpp` package's 2.0.1 charge point, which validates every message against the official
//! 2.0.1 schemas). Tests are named after the case of OCA's "OCPP 2.0.1 Part 6 - Test Cases" they
//! follow with the CSMS as the system under test (TC_X_nn_CSMS); where no case id was at hand the
//! name says the behaviour instead.

use chrono::{Duration, Utc};
use coupler_tests::ocpp::{OcppVersion, PythonChargePoint};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

use crate::operator::{booted, refused};

async fn reservations_of(app: &TestApp, tenant: &Tenant, charger: &str) -> Vec<Value> {
    app.get_json(tenant, &format!("/chargers/{charger}/reservations")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn tc_b_20_reset_charging_station_without_ongoing_transaction_onidle() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-RESET").await;

    let reset = app.operate(&tenant, &id, "reset", json!({"type": "OnIdle"})).await;
    assert_eq!(cp.received("Reset").await, json!({"type": "OnIdle"}));
    assert_eq!(
        (&reset["status"], &reset["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("Accepted"))
    );

    // TC_B_25_CSMS (Reset EVSE - Without ongoing transaction): one EVSE alone.
    let evse = app
        .operate(&tenant, &id, "reset", json!({"type": "Immediate", "evseId": 1}))
        .await;
    assert_eq!(cp.received("Reset").await, json!({"type": "Immediate", "evse_id": 1}));
    assert_eq!(evse["status"], "ACCEPTED");
    let soft = refused(&app, &tenant, &id, "reset", json!({"type": "Soft"})).await;
    assert_eq!(soft["errors"][0]["pointer"], "/type");
    assert_eq!(soft["errors"][0]["allowed"], json!(["Immediate", "OnIdle"]));
    cp.close().await;
}

#[tokio::test]
async fn tc_f_06_remote_unlock_connector_without_ongoing_transaction_accepted() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-UNLOCK").await;
    let unlock = app
        .operate(
            &tenant,
            &id,
            "unlock-connector",
            json!({"connectorId": 1, "evseConnectorId": 1}),
        )
        .await;
    assert_eq!(
        cp.received("UnlockConnector").await,
        json!({"evse_id": 1, "connector_id": 1})
    );
    assert_eq!(
        (&unlock["status"], &unlock["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("Unlocked"))
    );
    let unknown = app
        .operate(&tenant, &id, "unlock-connector", json!({"connectorId": 2}))
        .await;
    assert_eq!(unknown["answer"]["status"], "UnknownConnector");
    cp.close().await;
}

#[tokio::test]
async fn tc_g_05_change_availability_charging_station_operative_to_inoperative() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-AVAIL").await;

    let station = app
        .operate(
            &tenant,
            &id,
            "change-availability",
            json!({"availability": "Inoperative"}),
        )
        .await;
    assert_eq!(
        cp.received("ChangeAvailability").await,
        json!({"operational_status": "Inoperative"})
    );
    assert_eq!(station["status"], "ACCEPTED");

    // TC_G_07_CSMS (Change Availability Connector - Operative to inoperative).
    let connector = app
        .operate(
            &tenant,
            &id,
            "change-availability",
            json!({"connectorId": 1, "evseConnectorId": 1, "availability": "Inoperative"}),
        )
        .await;
    assert_eq!(
        cp.received("ChangeAvailability").await,
        json!({"operational_status": "Inoperative", "evse": {"id": 1, "connector_id": 1}})
    );
    assert_eq!(connector["status"], "ACCEPTED");

    // TC_G_06_CSMS (Change Availability Charging Station - Inoperative to operative).
    cp.set("availability", "Scheduled").await;
    let back = app
        .operate(
            &tenant,
            &id,
            "change-availability",
            json!({"availability": "Operative"}),
        )
        .await;
    assert_eq!(
        (&back["status"], &back["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("Scheduled"))
    );
    cp.close().await;
}

#[tokio::test]
async fn tc_b_06_get_variables_single_value() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-GETVAR").await;

    let read = app
        .operate(
            &tenant,
            &id,
            "get-configuration",
            json!({"keys": ["SampledDataCtrlr.TxUpdatedMeasurands", "OCPPCommCtrlr.OfflineThreshold"]}),
        )
        .await;
    cp.received_matching("GetVariables", |p| {
        p["get_variable_data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v["variable"]["name"] == "OfflineThreshold"))
    })
    .await;
    assert_eq!(
        (&read["status"], &read["ocppAction"]),
        (&json!("ACCEPTED"), &json!("GetVariables"))
    );
    assert_eq!(
        read["answer"]["payload"]["unknownKey"],
        json!(["OCPPCommCtrlr.OfflineThreshold"])
    );
    let keys = read["answer"]["payload"]["configurationKey"].as_array().unwrap();
    assert_eq!(keys[0]["key"], "SampledDataCtrlr.TxUpdatedMeasurands");

    let not_a_variable = refused(
        &app,
        &tenant,
        &id,
        "get-configuration",
        json!({"keys": ["HeartbeatInterval"]}),
    )
    .await;
    assert_eq!(not_a_variable["errors"][0]["pointer"], "/keys/0");
    let none = refused(&app, &tenant, &id, "get-configuration", json!({})).await;
    assert_eq!(none["errors"][0]["pointer"], "/keys");
    cp.close().await;
}

#[tokio::test]
async fn tc_b_09_set_variables_single_value() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-SETVAR").await;

    let set = app
        .operate(
            &tenant,
            &id,
            "change-configuration",
            json!({"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"}),
        )
        .await;
    let sent = cp
        .received_matching("SetVariables", |p| {
            p["set_variable_data"][0]["variable"]["name"] == "HeartbeatInterval"
        })
        .await;
    assert_eq!(sent["set_variable_data"][0]["attribute_value"], "120");
    assert_eq!(
        (&set["status"], &set["ocppAction"]),
        (&json!("ACCEPTED"), &json!("SetVariables"))
    );
    let stored = app.get_json(&tenant, &format!("/chargers/{id}/configuration")).await;
    assert_eq!(stored["ocppVersion"], "2.0.1");
    assert!(stored["keys"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"})));

    cp.set("set_variables", "UnknownVariable").await;
    let unknown = app
        .operate(
            &tenant,
            &id,
            "change-configuration",
            json!({"key": "Nope.Nothing", "value": "1"}),
        )
        .await;
    assert_eq!(
        (&unknown["status"], &unknown["answer"]["status"]),
        (&json!("REJECTED"), &json!("UnknownVariable"))
    );
    cp.close().await;
}

#[tokio::test]
async fn tc_b_13_get_base_report_fullinventory() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-REPORT").await;

    let report = app
        .operate(&tenant, &id, "get-base-report", json!({"reportBase": "FullInventory"}))
        .await;
    let request_id = report["requestId"].as_i64().unwrap();
    let sent = cp
        .received_matching("GetBaseReport", |p| p["request_id"] == request_id)
        .await;
    assert_eq!(sent["report_base"], "FullInventory");
    let done = app
        .operation_until(&tenant, &id, report["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(done["finalStatus"], "Reported");
    let stored = app.get_json(&tenant, &format!("/chargers/{id}/configuration")).await;
    assert!(stored["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["key"] == "SmartChargingCtrlr.Enabled"));
    cp.close().await;
}

#[tokio::test]
async fn a_base_report_is_refused_for_a_1_6_charger_with_a_400() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-OPS201-OLD").await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected(url, "CP-OPS201-OLD", registered["password"].as_str().unwrap()).await;
    cp.boot("Available").await;
    let id = registered["id"].as_str().unwrap();
    let response = app
        .as_tenant(
            &tenant,
            Method::POST,
            &format!("/chargers/{id}/operations/get-base-report"),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = problem(response).await;
    assert!(body["detail"].as_str().unwrap().contains("2.0.1"), "{body}");
    cp.close().await;
}

#[tokio::test]
async fn tc_f_12_trigger_message_metervalues_all_evse() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-TRIGGER").await;

    for message in [
        "MeterValues",
        "Heartbeat",
        "BootNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "StatusNotification",
    ] {
        let trigger = app
            .operate(&tenant, &id, "trigger-message", json!({"message": message}))
            .await;
        cp.received_matching("TriggerMessage", |p| p["requested_message"] == message)
            .await;
        assert_eq!(trigger["status"], "ACCEPTED", "{message}: {trigger}");
    }
    // A message the station does not implement is answered so, and recorded.
    let certificate = app
        .operate(
            &tenant,
            &id,
            "trigger-message",
            json!({"message": "SignV2GCertificate"}),
        )
        .await;
    assert_eq!(
        (&certificate["status"], &certificate["answer"]["status"]),
        (&json!("REJECTED"), &json!("NotImplemented"))
    );
    let one_six = refused(
        &app,
        &tenant,
        &id,
        "trigger-message",
        json!({"message": "DiagnosticsStatusNotification"}),
    )
    .await;
    assert_eq!(one_six["errors"][0]["pointer"], "/message");
    cp.close().await;
}

#[tokio::test]
async fn tc_c_37_clear_authorization_data_in_authorization_cache_accepted() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-CACHE").await;
    let clear = app.operate(&tenant, &id, "clear-cache", json!({})).await;
    cp.received("ClearCache").await;
    assert_eq!(clear["status"], "ACCEPTED");

    // TC_C_38_CSMS (... - Rejected).
    cp.set("clear_cache", "Rejected").await;
    let rejected = app.operate(&tenant, &id, "clear-cache", json!({})).await;
    assert_eq!(
        (&rejected["status"], &rejected["answer"]["status"]),
        (&json!("REJECTED"), &json!("Rejected"))
    );
    cp.close().await;
}

#[tokio::test]
async fn a_data_transfer_to_the_station_carries_any_json_and_its_answer_is_kept() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-DT-OUT").await;
    let transfer = app
        .operate(
            &tenant,
            &id,
            "data-transfer",
            json!({"vendorId": "com.example", "messageId": "tariff", "data": {"price": 0.25, "zones": [1, 2]}}),
        )
        .await;
    let sent = cp.received("DataTransfer").await;
    assert_eq!(sent["vendor_id"], "com.example");
    assert_eq!(transfer["status"], "ACCEPTED");
    assert_eq!(transfer["answer"]["payload"]["status"], "Accepted");
    assert!(transfer["answer"]["payload"]["data"].is_object(), "{transfer}");
    cp.close().await;
}

#[tokio::test]
async fn a_data_transfer_from_the_station_is_answered_unknown_vendor_id_and_kept() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-DT-IN").await;
    let answer = cp
        .call(
            "DataTransfer",
            json!({"vendor_id": "com.vendorx", "message_id": "stats", "data": {"kwh": 3}}),
        )
        .await;
    assert_eq!(answer["status"], "UnknownVendorId");
    let kept = app.get_json(&tenant, &format!("/chargers/{id}/operations")).await;
    let received = kept["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["initiator"] == "CHARGER")
        .cloned()
        .expect("the data transfer is kept");
    assert_eq!(received["request"]["vendorId"], "com.vendorx");
    assert_eq!(received["request"]["data"], json!({"kwh": 3}));
    assert_eq!(received["answer"]["status"], "UnknownVendorId");
    cp.close().await;
}

#[tokio::test]
async fn tc_l_01_secure_firmware_update_installation_successful() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-FW").await;

    let update = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            json!({"location": "https://firmware.example/station-2.1.0.bin", "retrieveAt": "2026-12-01T02:00:00Z",
                   "installAt": "2026-12-01T03:00:00Z", "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                   "signature": "c2lnbmF0dXJl", "retries": 2}),
        )
        .await;
    let sent = cp.received("UpdateFirmware").await;
    let request_id = update["requestId"].as_i64().unwrap();
    assert_eq!(sent["request_id"], request_id);
    assert_eq!(
        sent["firmware"]["location"],
        "https://firmware.example/station-2.1.0.bin"
    );
    assert_eq!(sent["firmware"]["signature"], "c2lnbmF0dXJl");
    let done = app
        .operation_until(&tenant, &id, update["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    let walked: Vec<&str> = done["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(walked, ["Downloading", "Downloaded", "Installing", "Installed"]);
    assert_eq!(done["finalStatus"], "Installed");

    // The same with an installation that fails.
    cp.set("firmware", "install_fail").await;
    let failing = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            json!({"location": "https://firmware.example/broken.bin", "retrieveAt": "2026-12-01T02:00:00Z"}),
        )
        .await;
    let failed = app
        .operation_until(&tenant, &id, failing["id"].as_str().unwrap(), |op| {
            op["status"] == "FAILED"
        })
        .await;
    assert_eq!(failed["finalStatus"], "InstallationFailed");
    cp.close().await;
}

#[tokio::test]
async fn tc_n_25_retrieve_log_information_diagnostics_log_success() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-LOG").await;

    let log = app
        .operate(
            &tenant,
            &id,
            "get-diagnostics",
            json!({"location": "https://logs.example/upload", "from": "2026-11-01T00:00:00Z"}),
        )
        .await;
    let sent = cp.received("GetLog").await;
    assert_eq!(sent["log_type"], "DiagnosticsLog");
    assert_eq!(sent["log"]["remote_location"], "https://logs.example/upload");
    assert_eq!(sent["request_id"], log["requestId"]);
    assert_eq!(log["ocppAction"], "GetLog");
    assert_eq!(log["answer"]["payload"]["fileName"], "DiagnosticsLog-py.zip");
    let done = app
        .operation_until(&tenant, &id, log["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(done["finalStatus"], "Uploaded");

    // TC_N_35_CSMS (Retrieve Log Information - Security Log - Success).
    let security = app
        .operate(
            &tenant,
            &id,
            "get-diagnostics",
            json!({"location": "https://logs.example/upload", "logType": "SecurityLog"}),
        )
        .await;
    assert_eq!(cp.received("GetLog").await["log_type"], "SecurityLog");
    app.operation_until(&tenant, &id, security["id"].as_str().unwrap(), |op| {
        op["status"] == "COMPLETED"
    })
    .await;
    cp.close().await;
}

#[tokio::test]
async fn a_reservation_of_an_evse_is_honoured_by_the_transaction_of_its_token() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-RESERVE").await;

    let reserve = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "04A2B3C4", "expiresAt": Utc::now() + Duration::hours(1),
                   "connectorType": "cType2", "groupIdTag": "FLEET"}),
        )
        .await;
    let sent = cp.received("ReserveNow").await;
    let reservation_id = reserve["requestId"].as_i64().unwrap();
    assert_eq!(sent["id"], reservation_id);
    assert_eq!(sent["evse_id"], 1);
    assert_eq!(sent["id_token"], json!({"id_token": "04A2B3C4", "type": "ISO14443"}));
    assert_eq!(sent["connector_type"], "cType2");
    assert_eq!(reserve["status"], "ACCEPTED");
    assert_eq!(reservations_of(&app, &tenant, &id).await[0]["status"], "ACTIVE");

    cp.call(
        "TransactionEvent",
        json!({"event_type": "Started", "timestamp": Utc::now().to_rfc3339(), "trigger_reason": "Authorized", "seq_no": 0,
               "reservation_id": reservation_id,
               "transaction_info": {"transactionId": "tx-reserved", "chargingState": "EVConnected"},
               "evse": {"id": 1, "connectorId": 1}, "id_token": {"idToken": "04A2B3C4", "type": "ISO14443"}}),
    )
    .await;
    let honoured = reservations_of(&app, &tenant, &id).await;
    assert_eq!(honoured[0]["status"], "CONSUMED");
    assert!(honoured[0]["transactionId"].is_i64());

    let parent = refused(
        &app,
        &tenant,
        &id,
        "reserve-now",
        json!({"connectorId": 1, "idTag": "x", "expiresAt": Utc::now() + Duration::hours(1), "parentIdTag": "P"}),
    )
    .await;
    assert_eq!(parent["errors"][0]["pointer"], "/parentIdTag");
    cp.close().await;
}

#[tokio::test]
async fn a_reservation_the_station_reports_expired_shows_as_expired_and_a_cancelled_one_as_cancelled() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-EXPIRE").await;

    let first = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "04A2B3C4", "expiresAt": Utc::now() + Duration::hours(1)}),
        )
        .await;
    cp.received("ReserveNow").await;
    cp.call(
        "ReservationStatusUpdate",
        json!({"reservation_id": first["requestId"], "reservation_update_status": "Expired"}),
    )
    .await;
    let second = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 0, "idTag": "04A2B3C5", "expiresAt": Utc::now() + Duration::hours(1), "idTokenType": "Central"}),
        )
        .await;
    let sent = cp.received("ReserveNow").await;
    assert!(sent.get("evse_id").is_none(), "any EVSE: {sent}");
    let cancel = app
        .operate(
            &tenant,
            &id,
            "cancel-reservation",
            json!({"reservationId": second["requestId"]}),
        )
        .await;
    cp.received("CancelReservation").await;
    assert_eq!(cancel["status"], "ACCEPTED");
    let listed = reservations_of(&app, &tenant, &id).await;
    assert_eq!(listed[0]["status"], "CANCELLED");
    assert_eq!(listed[1]["status"], "EXPIRED");
    cp.close().await;
}

#[tokio::test]
async fn clearing_charging_profiles_by_id_and_by_criteria() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-CLEAR").await;
    let by_id = app
        .operate(&tenant, &id, "clear-charging-profile", json!({"chargingProfileId": 7}))
        .await;
    assert_eq!(
        cp.received_matching("ClearChargingProfile", |p| p["charging_profile_id"] == 7)
            .await,
        json!({"charging_profile_id": 7})
    );
    assert_eq!(by_id["status"], "ACCEPTED");
    let by_criteria = app
        .operate(
            &tenant,
            &id,
            "clear-charging-profile",
            json!({"connectorId": 0, "purpose": "ChargingStationMaxProfile", "stackLevel": 2}),
        )
        .await;
    assert_eq!(
        cp.received_matching("ClearChargingProfile", |p| p.get("charging_profile_criteria").is_some())
            .await,
        json!({"charging_profile_criteria": {"evse_id": 0, "charging_profile_purpose": "ChargingStationMaxProfile", "stack_level": 2}})
    );
    assert_eq!(by_criteria["status"], "ACCEPTED");
    let one_six = refused(
        &app,
        &tenant,
        &id,
        "clear-charging-profile",
        json!({"purpose": "ChargePointMaxProfile"}),
    )
    .await;
    assert_eq!(one_six["errors"][0]["pointer"], "/purpose");
    cp.close().await;
}

#[tokio::test]
async fn tc_k_37_remote_start_transaction_with_charging_profile() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V201, "CS-OPS201-START").await;

    let start = app
        .operate(
            &tenant,
            &id,
            "remote-start",
            json!({"connectorId": 1, "idTag": "04A2B3C4", "chargingProfile": {
                "chargingProfileId": 5, "stackLevel": 0, "chargingRateUnit": "A",
                "periods": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}]}}),
        )
        .await;
    let sent = cp.received("RequestStartTransaction").await;
    assert_eq!(sent["evse_id"], 1);
    assert_eq!(sent["charging_profile"]["charging_profile_purpose"], "TxProfile");
    assert_eq!(
        sent["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"],
        6.0
    );
    assert_eq!(
        (&start["status"], &start["ocppAction"]),
        (&json!("ACCEPTED"), &json!("RequestStartTransaction"))
    );
    cp.next_matching(|e| e["event"] == "transaction_started").await;
    cp.close().await;
}

#[tokio::test]
async fn status_notifications_reservation_updates_and_data_transfers_that_break_the_schema_are_refused_and_change_nothing(
) {
    use coupler_tests::raw;
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CS-OPS201-RAW").await;
    let password = registered["password"].as_str().unwrap();
    let mut socket = raw::connect_as(
        "ocpp2.0.1",
        registered["ocppUrl"].as_str().unwrap(),
        Some(("CS-OPS201-RAW", password.as_bytes())),
    )
    .await
    .expect("handshake accepted");
    let id = registered["id"].as_str().unwrap();
    let code = |reply: &Value| {
        assert_eq!(reply[0], 4, "expected a CALLERROR, got {reply}");
        reply[2].as_str().unwrap_or_default().to_owned()
    };
    let cases = [
        (
            r#"[2,"a","ReservationStatusUpdate",{"reservationId":1,"reservationUpdateStatus":"Gone"}]"#,
            "PropertyConstraintViolation",
        ),
        (
            r#"[2,"b","ReservationStatusUpdate",{"reservationUpdateStatus":"Expired"}]"#,
            "OccurrenceConstraintViolation",
        ),
        (
            r#"[2,"c","DataTransfer",{"messageId":"x"}]"#,
            "OccurrenceConstraintViolation",
        ),
        (
            r#"[2,"d","LogStatusNotification",{"status":"Nope","requestId":1}]"#,
            "PropertyConstraintViolation",
        ),
        (
            r#"[2,"e","FirmwareStatusNotification",{"requestId":1}]"#,
            "OccurrenceConstraintViolation",
        ),
    ];
    for (frame, expected) in cases {
        let reply = raw::exchange(&mut socket, frame).await;
        assert_eq!(code(&reply), expected, "{frame}");
    }
    let ops = app.get_json(&tenant, &format!("/chargers/{id}/operations")).await;
    assert_eq!(ops["data"], json!([]), "nothing refused was stored");

    let answered = raw::exchange(
        &mut socket,
        r#"[2,"f","DataTransfer",{"vendorId":"com.x","data":[1,2]}]"#,
    )
    .await;
    assert_eq!(answered[0], 3, "{answered}");
    assert_eq!(answered[2], json!({"status": "UnknownVendorId"}));
    let unknown_reservation = raw::exchange(
        &mut socket,
        r#"[2,"g","ReservationStatusUpdate",{"reservationId":77,"reservationUpdateStatus":"Removed"}]"#,
    )
    .await;
    assert_eq!(
        unknown_reservation[2],
        json!({}),
        "an unknown reservation is answered all the same"
    );
}
