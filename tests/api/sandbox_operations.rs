//! The sandbox's simulated chargers answer every operation, in 1.6 and 2.0.1, so the sandbox can
//! show each one: a firmware update walks to Installed, an upload to Uploaded, a reservation is
//! held and cancelled, a 2.0.1 station sends its device-model report, a root certificate is
//! installed, listed and deleted, and (1.6 security extension) a security log and a signed
//! firmware update walk to their end.

use chrono::{Duration, Utc};
use coupler_tests::pki::TestPki;
use coupler_tests::sandbox::spawn_sandbox;
use serde_json::json;

async fn every_operation_is_answered_by_a_simulated(version: &str) {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let charger = app
        .sim_charger(&tenant, "driver", json!({"ocppVersion": version}))
        .await;
    let id = charger["id"].as_str().unwrap();
    let v16 = version == "1.6";

    let firmware = app
        .operate(
            &tenant,
            id,
            "update-firmware",
            json!({"location": "https://firmware.example/sim.bin", "retrieveAt": Utc::now()}),
        )
        .await;
    let installed = app
        .operation_until(&tenant, id, firmware["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(installed["finalStatus"], "Installed");

    let upload = app
        .operate(
            &tenant,
            id,
            "get-diagnostics",
            json!({"location": "ftp://logs.example/"}),
        )
        .await;
    assert!(upload["answer"]["payload"]["fileName"].is_string(), "{upload}");
    app.operation_until(&tenant, id, upload["id"].as_str().unwrap(), |op| {
        op["status"] == "COMPLETED"
    })
    .await;

    let reserve = app
        .operate(
            &tenant,
            id,
            "reserve-now",
            json!({"connectorId": 1, "idTag": "RFID-SIM", "expiresAt": Utc::now() + Duration::hours(1)}),
        )
        .await;
    assert_eq!(reserve["status"], "ACCEPTED", "{reserve}");
    let cancel = app
        .operate(
            &tenant,
            id,
            "cancel-reservation",
            json!({"reservationId": reserve["requestId"]}),
        )
        .await;
    assert_eq!(cancel["status"], "ACCEPTED", "{cancel}");

    // A root certificate installed, listed with its hash data, and deleted by it.
    let root_type = if v16 {
        "CentralSystemRootCertificate"
    } else {
        "CSMSRootCertificate"
    };
    let root = TestPki::new("sandbox-root");
    let installed = app
        .operate(
            &tenant,
            id,
            "install-certificate",
            json!({"certificateType": root_type, "certificate": root.ca_pem()}),
        )
        .await;
    assert_eq!(installed["status"], "ACCEPTED", "{installed}");
    let listed = app
        .operate(
            &tenant,
            id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": [root_type]}),
        )
        .await;
    let certificates = listed["answer"]["payload"]["certificates"].as_array().unwrap().clone();
    assert_eq!(certificates.len(), 1, "{listed}");
    assert_eq!(certificates[0]["certificateType"], root_type);
    let deleted = app
        .operate(
            &tenant,
            id,
            "delete-certificate",
            json!({"certificateHashData": certificates[0]["certificateHashData"]}),
        )
        .await;
    assert_eq!(
        (&deleted["status"], &deleted["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("Accepted"))
    );

    // A security log (GetLog) and a signed firmware update walk to their end in both versions.
    let log = app
        .operate(
            &tenant,
            id,
            "get-diagnostics",
            json!({"location": "https://logs.example/", "logType": "SecurityLog"}),
        )
        .await;
    assert_eq!(log["ocppAction"], "GetLog");
    app.operation_until(&tenant, id, log["id"].as_str().unwrap(), |op| {
        op["status"] == "COMPLETED"
    })
    .await;
    let signed = app
        .operate(
            &tenant,
            id,
            "update-firmware",
            json!({"location": "https://firmware.example/signed.bin", "retrieveAt": Utc::now(),
                   "signingCertificate": root.ca_pem(), "signature": "c2lnbmF0dXJl"}),
        )
        .await;
    assert_eq!(
        signed["ocppAction"],
        if v16 { "SignedUpdateFirmware" } else { "UpdateFirmware" }
    );
    let done = app
        .operation_until(&tenant, id, signed["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(done["finalStatus"], "Installed", "{done}");
    if v16 {
        let trigger = app
            .operate(
                &tenant,
                id,
                "trigger-message",
                json!({"message": "LogStatusNotification"}),
            )
            .await;
        assert_eq!(
            (&trigger["ocppAction"], &trigger["status"]),
            (&json!("ExtendedTriggerMessage"), &json!("ACCEPTED"))
        );
    }

    let reset = if v16 { "Soft" } else { "OnIdle" };
    let expected = [
        ("clear-cache", json!({}), "ACCEPTED"),
        (
            "data-transfer",
            json!({"vendorId": "com.example", "data": "x"}),
            "REJECTED",
        ),
        (
            "trigger-message",
            json!({"message": "FirmwareStatusNotification"}),
            "ACCEPTED",
        ),
        ("unlock-connector", json!({"connectorId": 1}), "ACCEPTED"),
        (
            "change-availability",
            json!({"availability": "Inoperative"}),
            "ACCEPTED",
        ),
        ("change-availability", json!({"availability": "Operative"}), "ACCEPTED"),
        ("clear-charging-profile", json!({}), "REJECTED"),
        ("reset", json!({"type": reset}), "ACCEPTED"),
    ];
    for (operation, body, status) in expected {
        let done = app.operate(&tenant, id, operation, body.clone()).await;
        assert_eq!(done["status"], status, "{operation} {body}: {done}");
    }
    if !v16 {
        // The station rebooted after the reset; it is back before the report is asked for.
        coupler_tests::wait_for("the station is back", || async {
            let seen = app.get_json(&tenant, &format!("/chargers/{id}")).await;
            (seen["isReachable"] == true).then_some(())
        })
        .await;
        let report = app
            .operate(
                &tenant,
                id,
                "get-base-report",
                json!({"reportBase": "ConfigurationInventory"}),
            )
            .await;
        app.operation_until(&tenant, id, report["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    }
}

#[tokio::test]
async fn a_simulated_1_6_charger_answers_every_operation() {
    every_operation_is_answered_by_a_simulated("1.6").await;
}

#[tokio::test]
async fn a_simulated_2_0_1_station_answers_every_operation() {
    every_operation_is_answered_by_a_simulated("2.0.1").await;
}
