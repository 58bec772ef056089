//! OCPP 1.6J back-office operations, each walked against an independent charge point (the Python
//! `ocpp` package, which validates every message against the official schemas). Each test is named
//! after the case of OCA's "OCPP 1.6 Compliancy Testing Tool - Test Case Document" it follows,
//! with the Central System as the system under test (TC_xxx_CSMS).

use chrono::{Duration, Utc};
use coupler_tests::ocpp::OcppVersion;
use coupler_tests::{wait_for, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

use crate::operator::{booted, operations_of, refused};

#[tokio::test]
async fn tc_013_hard_reset_without_transaction() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-RESET").await;

    let reset = app.operate(&tenant, &id, "reset", json!({"type": "Hard"})).await;
    assert_eq!(cp.received("Reset").await, json!({"type": "Hard"}));
    assert_eq!(reset["status"], "ACCEPTED", "{reset}");
    assert_eq!(reset["kind"], "RESET");
    assert_eq!(reset["ocppAction"], "Reset");
    assert_eq!(reset["answer"]["status"], "Accepted");
    assert_eq!(reset["request"], json!({"type": "Hard"}));
    for at in ["requestedAt", "sentAt", "answeredAt"] {
        assert!(reset[at].is_string(), "{at}: {reset}");
    }

    // TC_014_CSMS (Soft Reset Without Transaction): the same with a soft reset the charger refuses.
    cp.set("reset", "Rejected").await;
    let soft = app.operate(&tenant, &id, "reset", json!({"type": "Soft"})).await;
    assert_eq!(cp.received("Reset").await, json!({"type": "Soft"}));
    assert_eq!(
        (&soft["status"], &soft["answer"]["status"]),
        (&json!("REJECTED"), &json!("Rejected"))
    );

    // The reset types of 2.0.1 (and an EVSE) are refused, naming the field; nothing is stored.
    let wrong = refused(&app, &tenant, &id, "reset", json!({"type": "Immediate"})).await;
    assert_eq!(wrong["errors"][0]["pointer"], "/type");
    assert_eq!(wrong["errors"][0]["allowed"], json!(["Soft", "Hard"]));
    let evse = refused(&app, &tenant, &id, "reset", json!({"type": "Hard", "evseId": 1})).await;
    assert_eq!(evse["errors"][0]["pointer"], "/evseId");
    assert_eq!(operations_of(&app, &tenant, &id).await.len(), 2);
    cp.close().await;
}

#[tokio::test]
async fn tc_017_1_unlock_connector_no_charging_session_running_not_fixed_cable() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-UNLOCK").await;

    let unlock = app
        .operate(&tenant, &id, "unlock-connector", json!({"connectorId": 1}))
        .await;
    assert_eq!(cp.received("UnlockConnector").await, json!({"connector_id": 1}));
    assert_eq!(
        (&unlock["status"], &unlock["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("Unlocked"))
    );

    // TC_017_2_CSMS (fixed cable): the charger cannot unlock, and says so.
    cp.set("unlock", "NotSupported").await;
    let fixed = app
        .operate(&tenant, &id, "unlock-connector", json!({"connectorId": 1}))
        .await;
    assert_eq!(
        (&fixed["status"], &fixed["answer"]["status"]),
        (&json!("REJECTED"), &json!("NotSupported"))
    );

    let zero = refused(&app, &tenant, &id, "unlock-connector", json!({"connectorId": 0})).await;
    assert_eq!(zero["errors"][0]["pointer"], "/connectorId");
    let evse = refused(
        &app,
        &tenant,
        &id,
        "unlock-connector",
        json!({"connectorId": 1, "evseConnectorId": 1}),
    )
    .await;
    assert_eq!(evse["errors"][0]["pointer"], "/evseConnectorId");
    cp.close().await;
}

#[tokio::test]
async fn tc_019_1_retrieve_all_configuration_keys() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-GETCONF").await;

    let read = app.operate(&tenant, &id, "get-configuration", json!({})).await;
    cp.received_matching("GetConfiguration", |p| p.as_object().is_some_and(|o| o.is_empty()))
        .await;
    assert_eq!(read["status"], "ACCEPTED", "{read}");
    let keys = read["answer"]["payload"]["configurationKey"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["key"] == "SupportedFeatureProfiles" && k["readonly"] == true),
        "{read}"
    );
    let some = app
        .operate(
            &tenant,
            &id,
            "get-configuration",
            json!({"keys": ["HeartbeatInterval"]}),
        )
        .await;
    assert_eq!(
        cp.received_matching("GetConfiguration", |p| p.get("key").is_some())
            .await,
        json!({"key": ["HeartbeatInterval"]})
    );
    assert_eq!(some["status"], "ACCEPTED");

    let stored = app.get_json(&tenant, &format!("/chargers/{id}/configuration")).await;
    assert_eq!(stored["ocppVersion"], "1.6");
    assert!(
        stored["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == &json!({"key": "SupportedFeatureProfiles", "value": "Core,SmartCharging,RemoteTrigger"})),
        "{stored}"
    );
    let long = refused(
        &app,
        &tenant,
        &id,
        "get-configuration",
        json!({"keys": ["k".repeat(51)]}),
    )
    .await;
    assert_eq!(long["errors"][0]["pointer"], "/keys/0");
    cp.close().await;
}

#[tokio::test]
async fn tc_021_change_set_configuration() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-SETCONF").await;

    let change = app
        .operate(
            &tenant,
            &id,
            "change-configuration",
            json!({"key": "HeartbeatInterval", "value": "120"}),
        )
        .await;
    cp.received_matching("ChangeConfiguration", |p| p["key"] == "HeartbeatInterval")
        .await;
    assert_eq!(
        (&change["status"], &change["ocppAction"]),
        (&json!("ACCEPTED"), &json!("ChangeConfiguration"))
    );
    let stored = app.get_json(&tenant, &format!("/chargers/{id}/configuration")).await;
    assert!(
        stored["keys"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "HeartbeatInterval", "value": "120"})),
        "an accepted change is kept: {stored}"
    );

    // TC_040_1_CSMS (Configuration keys - NotSupported): the refusal is recorded as the answer.
    cp.set("change_configuration", "NotSupported").await;
    let unknown = app
        .operate(
            &tenant,
            &id,
            "change-configuration",
            json!({"key": "NoSuchKey", "value": "1"}),
        )
        .await;
    assert_eq!(
        (&unknown["status"], &unknown["answer"]["status"]),
        (&json!("REJECTED"), &json!("NotSupported"))
    );
    let too_long = refused(
        &app,
        &tenant,
        &id,
        "change-configuration",
        json!({"key": "HeartbeatInterval", "value": "9".repeat(501)}),
    )
    .await;
    assert_eq!(too_long["errors"][0]["pointer"], "/value");
    cp.close().await;
}

#[tokio::test]
async fn tc_054_trigger_message() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-TRIGGER").await;

    for message in [
        "MeterValues",
        "Heartbeat",
        "StatusNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "BootNotification",
    ] {
        let trigger = app
            .operate(
                &tenant,
                &id,
                "trigger-message",
                json!({"message": message, "connectorId": 1}),
            )
            .await;
        // Coupler asks for the statuses itself after connecting, without a connector.
        cp.received_matching("TriggerMessage", |p| {
            p["requested_message"] == message && p["connector_id"] == 1
        })
        .await;
        assert_eq!(trigger["status"], "ACCEPTED", "{message}: {trigger}");
    }
    let only_201 = refused(
        &app,
        &tenant,
        &id,
        "trigger-message",
        json!({"message": "TransactionEvent"}),
    )
    .await;
    assert_eq!(only_201["errors"][0]["pointer"], "/message");
    assert_eq!(
        only_201["errors"][0]["allowed"],
        json!([
            "BootNotification",
            "Heartbeat",
            "MeterValues",
            "StatusNotification",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
            "LogStatusNotification",
            "SignChargePointCertificate"
        ]),
        "the security extension's two through ExtendedTriggerMessage"
    );
    cp.close().await;
}

#[tokio::test]
async fn tc_061_clear_authorization_data_in_authorization_cache() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-CACHE").await;

    let clear = app
        .as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/operations/clear-cache"))
        .send()
        .await
        .unwrap();
    assert!(clear.status() == 200 || clear.status() == 202);
    cp.received("ClearCache").await;
    let clear: Value = clear.json().await.unwrap();
    let clear = app
        .operation_until(&tenant, &id, clear["id"].as_str().unwrap(), |op| {
            op["status"] == "ACCEPTED"
        })
        .await;
    assert_eq!(clear["answer"]["status"], "Accepted");
    cp.close().await;
}

#[tokio::test]
async fn tc_062_data_transfer_to_a_charge_point() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-DT-OUT").await;

    let transfer = app
        .operate(
            &tenant,
            &id,
            "data-transfer",
            json!({"vendorId": "com.example", "messageId": "ping", "data": "hello"}),
        )
        .await;
    assert_eq!(
        cp.received("DataTransfer").await,
        json!({"vendor_id": "com.example", "message_id": "ping", "data": "hello"})
    );
    assert_eq!(transfer["status"], "ACCEPTED");
    assert_eq!(
        transfer["answer"]["payload"],
        json!({"status": "Accepted", "data": "echo:hello"})
    );
    cp.set("data_transfer", "UnknownVendorId").await;
    let unknown = app
        .operate(&tenant, &id, "data-transfer", json!({"vendorId": "org.other"}))
        .await;
    assert_eq!(
        (&unknown["status"], &unknown["answer"]["status"]),
        (&json!("REJECTED"), &json!("UnknownVendorId"))
    );
    let json_data = refused(
        &app,
        &tenant,
        &id,
        "data-transfer",
        json!({"vendorId": "com.example", "data": {"not": "text"}}),
    )
    .await;
    assert_eq!(json_data["errors"][0]["pointer"], "/data");
    cp.close().await;
}

#[tokio::test]
async fn tc_064_data_transfer_to_a_central_system() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-DT-IN").await;

    let answer = cp
        .call(
            "DataTransfer",
            json!({"vendor_id": "com.vendorx", "message_id": "stats", "data": "{\"kwh\":3}"}),
        )
        .await;
    assert_eq!(answer["status"], "UnknownVendorId");
    let kept = operations_of(&app, &tenant, &id).await;
    let received = kept
        .iter()
        .find(|op| op["initiator"] == "CHARGER")
        .expect("the data transfer is kept");
    assert_eq!(received["kind"], "DATA_TRANSFER");
    assert_eq!(
        received["request"],
        json!({"vendorId": "com.vendorx", "messageId": "stats", "data": "{\"kwh\":3}"})
    );
    assert_eq!(
        (&received["status"], &received["answer"]["status"]),
        (&json!("REJECTED"), &json!("UnknownVendorId"))
    );
    cp.close().await;
}

#[tokio::test]
async fn a_data_transfer_from_a_configured_vendor_is_accepted() {
    let app = TestApp::spawn_with(|_, wiring| wiring.gateway.data_transfer_vendors = vec!["com.vendorx".into()]).await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-DT-KNOWN").await;
    let answer = cp.call("DataTransfer", json!({"vendor_id": "com.vendorx"})).await;
    assert_eq!(answer["status"], "Accepted");
    let kept = operations_of(&app, &tenant, &id).await;
    assert_eq!(kept[0]["status"], "ACCEPTED");
    cp.close().await;
}

#[tokio::test]
async fn tc_044_1_firmware_update_download_and_install() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-FW").await;

    let retrieve = "2026-12-01T02:00:00Z";
    let update = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            json!({"location": "https://firmware.example/cp-2.1.0.bin", "retrieveAt": retrieve, "retries": 3, "retryInterval": 60}),
        )
        .await;
    let sent = cp.received("UpdateFirmware").await;
    assert_eq!(sent["location"], "https://firmware.example/cp-2.1.0.bin");
    assert_eq!((&sent["retries"], &sent["retry_interval"]), (&json!(3), &json!(60)));
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
    assert!(done["completedAt"].is_string());

    // An install time needs a signed update (the security extension's) on a 1.6 charger.
    let install_at = refused(
        &app,
        &tenant,
        &id,
        "update-firmware",
        json!({"location": "https://firmware.example/x.bin", "retrieveAt": retrieve, "installAt": retrieve}),
    )
    .await;
    assert_eq!(install_at["errors"][0]["pointer"], "/installAt");
    let not_uri = refused(
        &app,
        &tenant,
        &id,
        "update-firmware",
        json!({"location": "not a uri", "retrieveAt": retrieve}),
    )
    .await;
    assert_eq!(not_uri["errors"][0]["pointer"], "/location");
    cp.close().await;
}

#[tokio::test]
async fn tc_044_2_firmware_update_download_failed() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-FW-FAIL").await;
    cp.set("firmware", "download_fail").await;
    let update = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            json!({"location": "https://firmware.example/does_not_exist_cp.bin", "retrieveAt": "2026-12-01T02:00:00Z", "retries": 0}),
        )
        .await;
    let failed = app
        .operation_until(&tenant, &id, update["id"].as_str().unwrap(), |op| {
            op["status"] == "FAILED"
        })
        .await;
    assert_eq!(failed["finalStatus"], "DownloadFailed");
    assert_eq!(failed["failure"]["type"], "CHARGER_REPORTED");
    cp.close().await;
}

#[tokio::test]
async fn tc_045_1_get_diagnostics() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-DIAG").await;
    let diagnostics = app
        .operate(
            &tenant,
            &id,
            "get-diagnostics",
            json!({"location": "ftp://logs.example/uploads/", "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}),
        )
        .await;
    let sent = cp.received("GetDiagnostics").await;
    assert_eq!(sent["location"], "ftp://logs.example/uploads/");
    assert_eq!(diagnostics["ocppAction"], "GetDiagnostics");
    assert_eq!(diagnostics["answer"]["payload"]["fileName"], "diagnostics-py.zip");
    let done = app
        .operation_until(&tenant, &id, diagnostics["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(done["finalStatus"], "Uploaded");
    assert_eq!(done["progress"].as_array().unwrap().len(), 2);
    cp.close().await;
}

async fn reservations_of(app: &TestApp, tenant: &Tenant, charger: &str) -> Vec<Value> {
    app.get_json(tenant, &format!("/chargers/{charger}/reservations")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn tc_046_reservation_of_a_connector_transaction() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-RESERVE").await;

    let expires = Utc::now() + Duration::hours(1);
    let reserve = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "RFID-1", "expiresAt": expires, "parentIdTag": "FLEET-1"}),
        )
        .await;
    let sent = cp.received("ReserveNow").await;
    let reservation_id = reserve["requestId"].as_i64().unwrap();
    assert_eq!(sent["reservation_id"], reservation_id);
    assert_eq!(
        (&sent["id_tag"], &sent["parent_id_tag"]),
        (&json!("RFID-1"), &json!("FLEET-1"))
    );
    assert_eq!(reserve["status"], "ACCEPTED");
    let held = reservations_of(&app, &tenant, &id).await;
    assert_eq!(
        (&held[0]["status"], &held[0]["reservationId"]),
        (&json!("ACTIVE"), &json!(reservation_id))
    );

    // The driver arrives: the transaction of the reserved tag on that connector uses it.
    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "RFID-1", "meter_start": 0, "reservation_id": reservation_id, "timestamp": Utc::now().to_rfc3339()}),
        )
        .await;
    let honoured = reservations_of(&app, &tenant, &id).await;
    assert_eq!(honoured[0]["status"], "CONSUMED");
    assert_eq!(honoured[0]["transactionId"], started["transaction_id"]);
    cp.close().await;
}

#[tokio::test]
async fn tc_047_reservation_of_a_connector_expire() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-EXPIRE").await;

    let expires = Utc::now() + Duration::seconds(2);
    let reserve = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "RFID-2", "expiresAt": expires}),
        )
        .await;
    cp.received("ReserveNow").await;
    assert_eq!(reserve["status"], "ACCEPTED");
    // The driver does not come: once its time is over the reservation shows as expired, and a
    // transaction of its tag no longer uses it.
    wait_for("the reservation expired", || async {
        let held = reservations_of(&app, &tenant, &id).await;
        (held[0]["status"] == "EXPIRED").then_some(())
    })
    .await;
    cp.call(
        "StartTransaction",
        json!({"connector_id": 1, "id_tag": "RFID-2", "meter_start": 0, "timestamp": Utc::now().to_rfc3339()}),
    )
    .await;
    assert_eq!(reservations_of(&app, &tenant, &id).await[0]["status"], "EXPIRED");
    let past = refused(
        &app,
        &tenant,
        &id,
        "reserve-now",
        json!({"connectorId": 1, "idTag": "RFID-2", "expiresAt": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(past["errors"][0]["pointer"], "/expiresAt");
    cp.close().await;
}

#[tokio::test]
async fn tc_048_3_reservation_of_a_connector_unavailable() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-UNAVAIL").await;

    let inoperative = app
        .operate(
            &tenant,
            &id,
            "change-availability",
            json!({"connectorId": 1, "availability": "Inoperative"}),
        )
        .await;
    assert_eq!(
        cp.received("ChangeAvailability").await,
        json!({"connector_id": 1, "type": "Inoperative"})
    );
    assert_eq!(inoperative["status"], "ACCEPTED");
    cp.set("reservation", "Unavailable").await;
    let reserve = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "RFID-3", "expiresAt": Utc::now() + Duration::hours(1)}),
        )
        .await;
    assert_eq!(
        (&reserve["status"], &reserve["answer"]["status"]),
        (&json!("REJECTED"), &json!("Unavailable"))
    );
    assert_eq!(reservations_of(&app, &tenant, &id).await[0]["status"], "REJECTED");

    // The whole charger back in operation.
    let operative = app
        .operate(
            &tenant,
            &id,
            "change-availability",
            json!({"availability": "Operative"}),
        )
        .await;
    assert_eq!(
        cp.received("ChangeAvailability").await,
        json!({"connector_id": 0, "type": "Operative"})
    );
    assert_eq!(operative["status"], "ACCEPTED");
    let evse = refused(
        &app,
        &tenant,
        &id,
        "change-availability",
        json!({"connectorId": 1, "evseConnectorId": 1, "availability": "Operative"}),
    )
    .await;
    assert_eq!(evse["errors"][0]["pointer"], "/evseConnectorId");
    cp.close().await;
}

#[tokio::test]
async fn tc_051_cancel_reservation() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-CANCEL").await;

    let reserve = app
        .operate(
            &tenant,
            &id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "RFID-4", "expiresAt": Utc::now() + Duration::hours(1)}),
        )
        .await;
    cp.received("ReserveNow").await;
    let reservation_id = reserve["requestId"].clone();
    let cancel = app
        .operate(
            &tenant,
            &id,
            "cancel-reservation",
            json!({"reservationId": reservation_id}),
        )
        .await;
    assert_eq!(
        cp.received("CancelReservation").await,
        json!({"reservation_id": reservation_id})
    );
    assert_eq!(cancel["status"], "ACCEPTED");
    assert_eq!(reservations_of(&app, &tenant, &id).await[0]["status"], "CANCELLED");

    // TC_052_CSMS (Cancel Reservation - Rejected): the charger no longer holds it.
    let again = app
        .operate(
            &tenant,
            &id,
            "cancel-reservation",
            json!({"reservationId": reservation_id}),
        )
        .await;
    assert_eq!(
        (&again["status"], &again["answer"]["status"]),
        (&json!("REJECTED"), &json!("Rejected"))
    );
    let unknown = refused(&app, &tenant, &id, "cancel-reservation", json!({"reservationId": 999})).await;
    assert_eq!(unknown["errors"][0]["pointer"], "/reservationId");
    cp.close().await;
}

#[tokio::test]
async fn tc_067_clear_charging_profile() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-CLEAR").await;

    let by_id = app
        .operate(&tenant, &id, "clear-charging-profile", json!({"chargingProfileId": 7}))
        .await;
    assert_eq!(
        cp.received_matching("ClearChargingProfile", |p| p["id"] == 7).await,
        json!({"id": 7})
    );
    assert_eq!(by_id["status"], "ACCEPTED");
    let by_criteria = app
        .operate(
            &tenant,
            &id,
            "clear-charging-profile",
            json!({"connectorId": 0, "purpose": "ChargePointMaxProfile", "stackLevel": 1}),
        )
        .await;
    assert_eq!(
        cp.received_matching("ClearChargingProfile", |p| p["stack_level"] == 1)
            .await,
        json!({"connector_id": 0, "charging_profile_purpose": "ChargePointMaxProfile", "stack_level": 1})
    );
    assert_eq!(by_criteria["status"], "ACCEPTED");
    let purpose = refused(
        &app,
        &tenant,
        &id,
        "clear-charging-profile",
        json!({"purpose": "ChargingStationMaxProfile"}),
    )
    .await;
    assert_eq!(purpose["errors"][0]["pointer"], "/purpose");
    cp.close().await;
}

#[tokio::test]
async fn tc_059_remote_start_transaction_with_charging_profile() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-OPS16-START").await;

    let start = app
        .operate(
            &tenant,
            &id,
            "remote-start",
            json!({"connectorId": 1, "idTag": "RFID-9", "chargingProfile": {
                "chargingProfileId": 5, "stackLevel": 0, "chargingRateUnit": "A",
                "periods": [{"startPeriod": 0, "limit": 10.0}, {"startPeriod": 1800, "limit": 16.0}]}}),
        )
        .await;
    let sent = cp.received("RemoteStartTransaction").await;
    assert_eq!((&sent["connector_id"], &sent["id_tag"]), (&json!(1), &json!("RFID-9")));
    let profile = &sent["charging_profile"];
    assert_eq!(profile["charging_profile_purpose"], "TxProfile");
    assert_eq!(profile["charging_profile_kind"], "Relative");
    assert_eq!(
        profile["charging_schedule"]["charging_schedule_period"][1]["limit"],
        16.0
    );
    assert_eq!(
        (&start["status"], &start["ocppAction"]),
        (&json!("ACCEPTED"), &json!("RemoteStartTransaction"))
    );
    cp.next_matching(|e| e["event"] == "transaction_started").await;

    let bad = refused(
        &app,
        &tenant,
        &id,
        "remote-start",
        json!({"chargingProfile": {"chargingProfileId": 5, "stackLevel": 0, "chargingRateUnit": "A",
            "periods": [{"startPeriod": 60, "limit": 10.0}]}}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/chargingProfile/periods/0/startPeriod");
    cp.close().await;
}

#[tokio::test]
async fn an_operation_on_a_charger_that_is_not_connected_fails_at_once_and_is_kept() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-OPS16-AWAY").await;
    let id = registered["id"].as_str().unwrap();
    let reset = app
        .post_json(
            &tenant,
            &format!("/chargers/{id}/operations/reset"),
            json!({"type": "Soft"}),
        )
        .await;
    assert_eq!(reset["status"], "FAILED");
    assert_eq!(reset["failure"]["type"], "NOT_CONNECTED");
    assert!(reset["sentAt"].is_null(), "nothing was sent");
    let kept = operations_of(&app, &tenant, id).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], reset["id"]);
}

#[tokio::test]
async fn another_clients_charger_and_its_operations_are_not_found_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let alice = app.tenant("alice").await;
    let mallory = app.tenant("mallory").await;
    let registered = app.register_charger(&alice, "alice", "CP-OPS16-MINE").await;
    let id = registered["id"].as_str().unwrap();
    let reset = app
        .post_json(
            &alice,
            &format!("/chargers/{id}/operations/reset"),
            json!({"type": "Soft"}),
        )
        .await;
    let op = reset["id"].as_str().unwrap();
    for path in [
        format!("/chargers/{id}/operations"),
        format!("/chargers/{id}/operations/{op}"),
        format!("/chargers/{id}/reservations"),
        format!("/chargers/{id}/configuration"),
    ] {
        let response = app.as_tenant(&mallory, Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = app
        .as_tenant(&mallory, Method::POST, &format!("/chargers/{id}/operations/reset"))
        .json(&json!({"type": "Hard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let unknown_field = app
        .as_tenant(&alice, Method::POST, &format!("/chargers/{id}/operations/reset"))
        .json(&json!({"type": "Hard", "force": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), 422);
    assert_eq!(
        operations_of(&app, &alice, id).await.len(),
        1,
        "only the first reset is kept"
    );
}
