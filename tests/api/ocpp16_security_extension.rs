//! The OCPP 1.6 security extension's operator operations, each walked against an independent
//! charge point (the Python `ocpp` package, which validates every message against the
//! whitepaper's JSON schemas): root certificates installed, listed and deleted, the security log
//! fetched, a signed firmware update, and ExtendedTriggerMessage. Each test names the case of
//! OCA's 1.6 security test cases it follows by its title (the security whitepaper's use case),
//! with the Central System as the system under test, and walks its refusals too.

use std::sync::Arc;

use coupler_gateway::certificates::SigningCa;
use coupler_tests::ocpp::OcppVersion;
use coupler_tests::pki::TestPki;
use coupler_tests::raw;
use coupler_tests::TestApp;
use reqwest::Method;
use serde_json::json;

use crate::operator::{booted, delete_refused_naming, operations_of, refused, reported};

#[tokio::test]
async fn install_a_certificate_on_the_charge_point_is_accepted_rejected_or_failed_as_the_charger_says() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-SEC16-INSTALL").await;
    let root = TestPki::new("central-root");
    let manufacturer = TestPki::new("manufacturer-root");

    // Install a certificate on the Charge Point: the Central System's root, then the manufacturer's.
    let installed = app
        .operate(
            &tenant,
            &id,
            "install-certificate",
            json!({"certificateType": "CentralSystemRootCertificate", "certificate": root.ca_pem()}),
        )
        .await;
    let sent = cp.received("InstallCertificate").await;
    assert_eq!(sent["certificate_type"], "CentralSystemRootCertificate");
    assert_eq!(sent["certificate"], root.ca_pem());
    assert_eq!(installed["kind"], "INSTALL_CERTIFICATE");
    assert_eq!(installed["ocppAction"], "InstallCertificate");
    assert_eq!(
        (&installed["status"], &installed["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("Accepted"))
    );
    let manufacturer_root = app
        .operate(
            &tenant,
            &id,
            "install-certificate",
            json!({"certificateType": "ManufacturerRootCertificate", "certificate": manufacturer.ca_pem()}),
        )
        .await;
    assert_eq!(
        cp.received("InstallCertificate").await["certificate_type"],
        "ManufacturerRootCertificate"
    );
    assert_eq!(manufacturer_root["status"], "ACCEPTED");

    // The charger refuses one, or cannot store it: each is its answer, kept on the operation.
    for refusal in ["Rejected", "Failed"] {
        cp.set("install_certificate", refusal).await;
        let refused_install = app
            .operate(
                &tenant,
                &id,
                "install-certificate",
                json!({"certificateType": "CentralSystemRootCertificate", "certificate": root.ca_pem()}),
            )
            .await;
        cp.received("InstallCertificate").await;
        assert_eq!(
            (&refused_install["status"], &refused_install["answer"]["status"]),
            (&json!("REJECTED"), &json!(refusal))
        );
    }
    let before = operations_of(&app, &tenant, &id).await.len();

    // What is not one X.509 certificate in PEM, or a 2.0.1 type, is refused; nothing is stored.
    for (certificate, why) in [
        ("not a certificate", "no PEM block"),
        (
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "not base64",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "not X.509",
        ),
    ] {
        let bad = refused(
            &app,
            &tenant,
            &id,
            "install-certificate",
            json!({"certificateType": "CentralSystemRootCertificate", "certificate": certificate}),
        )
        .await;
        assert_eq!(bad["errors"][0]["pointer"], "/certificate", "{why}: {bad}");
    }
    let two = format!("{}{}", root.ca_pem(), manufacturer.ca_pem());
    let bad = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "CentralSystemRootCertificate", "certificate": two}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/certificate", "two certificates: {bad}");
    let wrong_version = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "CSMSRootCertificate", "certificate": root.ca_pem()}),
    )
    .await;
    assert_eq!(wrong_version["errors"][0]["pointer"], "/certificateType");
    assert_eq!(
        wrong_version["errors"][0]["allowed"],
        json!(["CentralSystemRootCertificate", "ManufacturerRootCertificate"])
    );
    let unknown = refused(
        &app,
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "FavouriteCertificate", "certificate": root.ca_pem()}),
    )
    .await;
    assert_eq!(unknown["errors"][0]["pointer"], "/certificateType");

    // Another client cannot install on this charger, nor see that it exists.
    let other = app.tenant("other").await;
    let response = app
        .as_tenant(
            &other,
            Method::POST,
            &format!("/chargers/{id}/operations/install-certificate"),
        )
        .json(&json!({"certificateType": "CentralSystemRootCertificate", "certificate": root.ca_pem()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        operations_of(&app, &tenant, &id).await.len(),
        before,
        "nothing was stored"
    );
    cp.close().await;
}

#[tokio::test]
async fn retrieve_and_delete_a_specific_certificate_from_the_charge_point_with_each_hash_algorithm() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-SEC16-DELETE").await;

    // Retrieve list of available certificates from a Charge Point: none installed yet.
    let none = app
        .operate(
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["ManufacturerRootCertificate"]}),
        )
        .await;
    assert_eq!(
        cp.received("GetInstalledCertificateIds").await,
        json!({"certificate_type": "ManufacturerRootCertificate"})
    );
    assert_eq!(none["kind"], "GET_INSTALLED_CERTIFICATE_IDS");
    assert_eq!(
        (&none["status"], &none["answer"]["status"]),
        (&json!("ACCEPTED"), &json!("NotFound"))
    );
    assert!(reported(&none).is_empty());

    for algorithm in ["SHA256", "SHA384", "SHA512"] {
        cp.set("hash_algorithm", algorithm).await;
        let root = TestPki::new(&format!("root-{algorithm}"));
        let installed = app
            .operate(
                &tenant,
                &id,
                "install-certificate",
                json!({"certificateType": "CentralSystemRootCertificate", "certificate": root.ca_pem()}),
            )
            .await;
        cp.received("InstallCertificate").await;
        assert_eq!(installed["status"], "ACCEPTED");

        let listed = app
            .operate(
                &tenant,
                &id,
                "get-installed-certificate-ids",
                json!({"certificateTypes": ["CentralSystemRootCertificate"]}),
            )
            .await;
        cp.received("GetInstalledCertificateIds").await;
        assert_eq!(listed["answer"]["status"], "Accepted");
        let certificates = reported(&listed);
        assert_eq!(certificates.len(), 1, "{listed}");
        assert_eq!(certificates[0]["certificateType"], "CentralSystemRootCertificate");
        let hash = certificates[0]["certificateHashData"].clone();
        assert_eq!(hash["hashAlgorithm"], algorithm);

        // Delete a specific certificate from a Charge Point, named by the hash data it reported.
        let deleted = app
            .operate(&tenant, &id, "delete-certificate", json!({"certificateHashData": hash}))
            .await;
        let sent = cp.received("DeleteCertificate").await;
        assert_eq!(sent["certificate_hash_data"]["hash_algorithm"], algorithm);
        assert_eq!(
            sent["certificate_hash_data"]["issuer_name_hash"],
            hash["issuerNameHash"]
        );
        assert_eq!(sent["certificate_hash_data"]["serial_number"], hash["serialNumber"]);
        assert_eq!(deleted["kind"], "DELETE_CERTIFICATE");
        assert_eq!(
            (&deleted["status"], &deleted["answer"]["status"]),
            (&json!("ACCEPTED"), &json!("Accepted"))
        );

        // Deleting it again: the charger no longer has it.
        let again = app
            .operate(&tenant, &id, "delete-certificate", json!({"certificateHashData": hash}))
            .await;
        cp.received("DeleteCertificate").await;
        assert_eq!(
            (&again["status"], &again["answer"]["status"]),
            (&json!("REJECTED"), &json!("NotFound"))
        );
    }

    // A charger that may not delete one answers Failed.
    let root = TestPki::new("kept-root");
    app.operate(
        &tenant,
        &id,
        "install-certificate",
        json!({"certificateType": "ManufacturerRootCertificate", "certificate": root.ca_pem()}),
    )
    .await;
    cp.received("InstallCertificate").await;
    let listed = app
        .operate(
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["ManufacturerRootCertificate"]}),
        )
        .await;
    cp.received("GetInstalledCertificateIds").await;
    let hash = reported(&listed)[0]["certificateHashData"].clone();
    cp.set("delete_certificate", "Failed").await;
    let failed = app
        .operate(&tenant, &id, "delete-certificate", json!({"certificateHashData": hash}))
        .await;
    cp.received("DeleteCertificate").await;
    assert_eq!(
        (&failed["status"], &failed["answer"]["status"]),
        (&json!("REJECTED"), &json!("Failed"))
    );
    let before = operations_of(&app, &tenant, &id).await.len();

    // Bad hash data, and asking 1.6 about no type or two at once, are refused; nothing is stored.
    delete_refused_naming(&app, &tenant, &id, &hash, "issuerKeyHash", json!("not hexadecimal")).await;
    delete_refused_naming(&app, &tenant, &id, &hash, "serialNumber", json!("1".repeat(41))).await;
    let mut md5 = hash.clone();
    md5["hashAlgorithm"] = json!("MD5");
    refused(
        &app,
        &tenant,
        &id,
        "delete-certificate",
        json!({"certificateHashData": md5}),
    )
    .await;
    for types in [
        json!([]),
        json!(["CentralSystemRootCertificate", "ManufacturerRootCertificate"]),
    ] {
        let bad = refused(
            &app,
            &tenant,
            &id,
            "get-installed-certificate-ids",
            json!({"certificateTypes": types}),
        )
        .await;
        assert_eq!(bad["errors"][0]["pointer"], "/certificateTypes");
    }
    let bad = refused(
        &app,
        &tenant,
        &id,
        "get-installed-certificate-ids",
        json!({"certificateTypes": ["V2GRootCertificate"]}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/certificateTypes/0");

    // Another client can neither list nor delete this charger's certificates.
    let other = app.tenant("other").await;
    for (operation, body) in [
        (
            "get-installed-certificate-ids",
            json!({"certificateTypes": ["ManufacturerRootCertificate"]}),
        ),
        ("delete-certificate", json!({"certificateHashData": hash})),
    ] {
        let response = app
            .as_tenant(&other, Method::POST, &format!("/chargers/{id}/operations/{operation}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{operation}");
    }
    assert_eq!(
        operations_of(&app, &tenant, &id).await.len(),
        before,
        "nothing was stored"
    );
    cp.close().await;
}

#[tokio::test]
async fn get_security_log_is_followed_to_uploaded_and_a_failed_or_refused_upload_ends_the_operation() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-SEC16-LOG").await;

    // Get Security Log: GetLog (not GetDiagnostics), its LogStatusNotifications followed to Uploaded.
    let log = app
        .operate(
            &tenant,
            &id,
            "get-diagnostics",
            json!({"location": "https://logs.example/upload", "logType": "SecurityLog",
                   "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "retries": 2}),
        )
        .await;
    let sent = cp.received("GetLog").await;
    assert_eq!(sent["log_type"], "SecurityLog");
    assert_eq!(sent["log"]["remote_location"], "https://logs.example/upload");
    assert_eq!(sent["retries"], 2);
    assert_eq!(sent["request_id"], log["requestId"]);
    assert_eq!(log["ocppAction"], "GetLog");
    assert_eq!(log["answer"]["payload"]["fileName"], "SecurityLog-py.log");
    let done = app
        .operation_until(&tenant, &id, log["id"].as_str().unwrap(), |op| {
            op["status"] == "COMPLETED"
        })
        .await;
    let walked: Vec<&str> = done["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(walked, ["Uploading", "Uploaded"]);
    assert_eq!(done["finalStatus"], "Uploaded");

    // A diagnostics log through GetLog whose upload fails ends FAILED with the charger's word.
    cp.set("log", "fail").await;
    let failing = app
        .operate(
            &tenant,
            &id,
            "get-diagnostics",
            json!({"location": "https://logs.example/upload", "logType": "DiagnosticsLog"}),
        )
        .await;
    assert_eq!(cp.received("GetLog").await["log_type"], "DiagnosticsLog");
    let failed = app
        .operation_until(&tenant, &id, failing["id"].as_str().unwrap(), |op| {
            op["status"] == "FAILED"
        })
        .await;
    assert_eq!(failed["finalStatus"], "UploadFailure");
    assert_eq!(failed["failure"]["type"], "CHARGER_REPORTED");

    // A charger that refuses the request.
    cp.set("log", "reject").await;
    let rejected = app
        .operate(
            &tenant,
            &id,
            "get-diagnostics",
            json!({"location": "https://logs.example/upload", "logType": "SecurityLog"}),
        )
        .await;
    cp.received("GetLog").await;
    assert_eq!(
        (&rejected["status"], &rejected["answer"]["status"]),
        (&json!("REJECTED"), &json!("Rejected"))
    );

    // GetLog takes a location of up to 512 characters (GetDiagnostics up to 2048).
    let long = format!("https://logs.example/{}", "x".repeat(500));
    let bad = refused(
        &app,
        &tenant,
        &id,
        "get-diagnostics",
        json!({"location": long, "logType": "SecurityLog"}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/location");
    cp.close().await;
}

#[tokio::test]
async fn secure_firmware_update_is_followed_to_installed_and_an_invalid_signature_or_certificate_is_reported() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-SEC16-FIRMWARE").await;
    let manufacturer = TestPki::new("firmware-signer");
    let signed = |location: &str| {
        json!({"location": location, "retrieveAt": "2026-12-01T02:00:00Z", "installAt": "2026-12-01T03:00:00Z",
               "retries": 1, "signingCertificate": manufacturer.ca_pem(), "signature": "c2lnbmF0dXJl"})
    };

    // Secure Firmware Update: SignedUpdateFirmware, followed through SignatureVerified to Installed.
    let update = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            signed("https://firmware.example/cp-3.0.0.bin"),
        )
        .await;
    let sent = cp.received("SignedUpdateFirmware").await;
    assert_eq!(sent["request_id"], update["requestId"]);
    assert_eq!(sent["firmware"]["location"], "https://firmware.example/cp-3.0.0.bin");
    assert_eq!(sent["firmware"]["signature"], "c2lnbmF0dXJl");
    assert_eq!(sent["firmware"]["install_date_time"], "2026-12-01T03:00:00Z");
    assert_eq!(update["ocppAction"], "SignedUpdateFirmware");
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
    assert_eq!(
        walked,
        [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "Installed"
        ]
    );
    assert_eq!(done["finalStatus"], "Installed");

    // Secure Firmware Update - Invalid Signature: the charger reports it, the operation fails.
    cp.set("signed_firmware", "invalid_signature").await;
    let invalid = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            signed("https://firmware.example/tampered.bin"),
        )
        .await;
    cp.received("SignedUpdateFirmware").await;
    let failed = app
        .operation_until(&tenant, &id, invalid["id"].as_str().unwrap(), |op| {
            op["status"] == "FAILED"
        })
        .await;
    assert_eq!(failed["finalStatus"], "InvalidSignature");
    assert_eq!(failed["failure"]["type"], "CHARGER_REPORTED");

    // Secure Firmware Update - Invalid Certificate: refused in the answer.
    cp.set("signed_firmware", "invalid_certificate").await;
    let refused_update = app
        .operate(
            &tenant,
            &id,
            "update-firmware",
            signed("https://firmware.example/other.bin"),
        )
        .await;
    cp.received("SignedUpdateFirmware").await;
    assert_eq!(
        (&refused_update["status"], &refused_update["answer"]["status"]),
        (&json!("REJECTED"), &json!("InvalidCertificate"))
    );

    // A signed update needs both its parts; nothing is stored for one that lacks either.
    let before = operations_of(&app, &tenant, &id).await.len();
    let mut no_signature = signed("https://firmware.example/x.bin");
    no_signature.as_object_mut().unwrap().remove("signature");
    let bad = refused(&app, &tenant, &id, "update-firmware", no_signature).await;
    assert_eq!(bad["errors"][0]["pointer"], "/signature");
    let mut no_certificate = signed("https://firmware.example/x.bin");
    no_certificate.as_object_mut().unwrap().remove("signingCertificate");
    let bad = refused(&app, &tenant, &id, "update-firmware", no_certificate).await;
    assert_eq!(bad["errors"][0]["pointer"], "/signingCertificate");
    assert_eq!(operations_of(&app, &tenant, &id).await.len(), before);
    cp.close().await;
}

#[tokio::test]
async fn extended_trigger_message_asks_for_the_security_extensions_messages_and_a_refusal_is_kept() {
    let pki = TestPki::new("trigger-signing");
    let certificate = std::fs::read_to_string(pki.ca_file()).unwrap();
    let key = std::fs::read_to_string(pki.ca_key_file()).unwrap();
    let ca = Arc::new(SigningCa::from_pem(&certificate, &key, chrono::Duration::days(30)).unwrap());
    let app = TestApp::spawn_with(|_, wiring| wiring.gateway.signing_ca = Some(ca)).await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-SEC16-TRIGGER").await;

    // LogStatusNotification exists in 1.6 only through ExtendedTriggerMessage.
    let log = app
        .operate(
            &tenant,
            &id,
            "trigger-message",
            json!({"message": "LogStatusNotification"}),
        )
        .await;
    assert_eq!(
        cp.received("ExtendedTriggerMessage").await["requested_message"],
        "LogStatusNotification"
    );
    assert_eq!(log["ocppAction"], "ExtendedTriggerMessage");
    assert_eq!(log["status"], "ACCEPTED");
    // The charger then sends it, and Coupler answers it (it used to be NotSupported).
    let sent = cp
        .next_matching(|e| e["action"] == "LogStatusNotification" && e["event"] != "received")
        .await;
    assert_eq!(
        (&sent["event"], &sent["payload"]),
        (&json!("sent"), &json!({})),
        "{sent}"
    );

    // A core message asked for through the extension when the operator says so.
    let heartbeat = app
        .operate(
            &tenant,
            &id,
            "trigger-message",
            json!({"message": "Heartbeat", "extended": true}),
        )
        .await;
    assert_eq!(
        cp.received("ExtendedTriggerMessage").await["requested_message"],
        "Heartbeat"
    );
    assert_eq!(heartbeat["ocppAction"], "ExtendedTriggerMessage");

    // The signed firmware's status, through the extension.
    app.operate(
        &tenant,
        &id,
        "trigger-message",
        json!({"message": "FirmwareStatusNotification", "extended": true}),
    )
    .await;
    cp.received("ExtendedTriggerMessage").await;
    let sent = cp
        .next_matching(|e| e["action"] == "SignedFirmwareStatusNotification")
        .await;
    assert_eq!(sent["event"], "sent", "{sent}");

    // Update Charge Point Certificate by request of Central System: SignChargePointCertificate,
    // then the charger's SignCertificate, then the certificate Coupler's CA signed.
    let (csr, _) = pki.signing_request("CP-SEC16-TRIGGER");
    cp.set("csr", &csr).await;
    let sign = app
        .operate(
            &tenant,
            &id,
            "trigger-message",
            json!({"message": "SignChargePointCertificate"}),
        )
        .await;
    assert_eq!(
        cp.received("ExtendedTriggerMessage").await["requested_message"],
        "SignChargePointCertificate"
    );
    assert_eq!(sign["status"], "ACCEPTED");
    let signed = cp.received("CertificateSigned").await;
    assert!(signed["certificate_chain"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));

    // A charger that does not implement it: the refusal is the operation's answer.
    cp.set("extended_trigger", "NotImplemented").await;
    let refused_trigger = app
        .operate(
            &tenant,
            &id,
            "trigger-message",
            json!({"message": "LogStatusNotification"}),
        )
        .await;
    cp.received("ExtendedTriggerMessage").await;
    assert_eq!(
        (&refused_trigger["status"], &refused_trigger["answer"]["status"]),
        (&json!("REJECTED"), &json!("NotImplemented"))
    );

    // DiagnosticsStatusNotification is not one ExtendedTriggerMessage asks for; nothing is stored.
    let before = operations_of(&app, &tenant, &id).await.len();
    let bad = refused(
        &app,
        &tenant,
        &id,
        "trigger-message",
        json!({"message": "DiagnosticsStatusNotification", "extended": true}),
    )
    .await;
    assert_eq!(bad["errors"][0]["pointer"], "/message");
    assert_eq!(operations_of(&app, &tenant, &id).await.len(), before);
    cp.close().await;
}

#[tokio::test]
async fn log_and_signed_firmware_statuses_a_charger_sends_on_its_own_are_answered() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (_, mut cp) = booted(&app, &tenant, OcppVersion::V16, "CP-SEC16-STATUS").await;
    assert_eq!(
        cp.call("LogStatusNotification", json!({"status": "Idle", "request_id": 98}))
            .await,
        json!({})
    );
    assert_eq!(
        cp.call(
            "SignedFirmwareStatusNotification",
            json!({"status": "Idle", "request_id": 99})
        )
        .await,
        json!({})
    );
    cp.close().await;

    // What breaks the whitepaper's schemas gets the CALLERROR for it (a charger's own library
    // would not send it, so these go as raw frames).
    let registered = app.register_charger(&tenant, "alice", "CP-SEC16-RAW").await;
    let mut socket = raw::connect(
        registered["ocppUrl"].as_str().unwrap(),
        Some(("CP-SEC16-RAW", registered["password"].as_str().unwrap())),
    )
    .await
    .expect("handshake accepted");
    for (frame, expected) in [
        (
            r#"[2,"a","SignedFirmwareStatusNotification",{"status":"Finished","requestId":1}]"#,
            "PropertyConstraintViolation",
        ),
        // 1.6 spells it as its spec does.
        (
            r#"[2,"b","LogStatusNotification",{"requestId":1}]"#,
            "OccurenceConstraintViolation",
        ),
        (
            r#"[2,"c","LogStatusNotification",{"status":"Uploaded","requestId":"one"}]"#,
            "TypeConstraintViolation",
        ),
    ] {
        let reply = raw::exchange(&mut socket, frame).await;
        assert_eq!(
            (&reply[0], &reply[2]),
            (&json!(4), &json!(expected)),
            "{frame}: {reply}"
        );
    }
}
