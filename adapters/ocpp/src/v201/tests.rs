use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

fn code_of(action: &str, payload: serde_json::Value) -> (ErrorCode, String) {
    let error = parse_station_request(action, &payload).unwrap_err();
    (error.code, error.path)
}

#[test]
fn a_full_transaction_event_is_read_with_its_meter_values_and_id_token() {
    let payload = json!({
        "eventType": "Started",
        "timestamp": "2026-11-21T10:00:00Z",
        "triggerReason": "RemoteStart",
        "seqNo": 0,
        "offline": false,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging", "remoteStartId": 7},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "92D50A693F80", "type": "MacAddress"},
        "meterValue": [{"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [
            {"value": 1000.5, "measurand": "Energy.Active.Import.Register", "context": "Transaction.Begin",
             "unitOfMeasure": {"unit": "Wh"}}
        ]}],
        "customData": {"vendorId": "com.example"}
    });
    let Request::TransactionEvent(event) = parse_station_request("TransactionEvent", &payload).unwrap() else {
        panic!("a TransactionEvent");
    };
    assert_eq!(event.event_type, TransactionEventType::Started);
    assert_eq!(event.transaction_info.transaction_id.as_str(), "tx-1");
    assert_eq!(event.transaction_info.charging_state, Some(ChargingState::Charging));
    assert_eq!(event.transaction_info.remote_start_id, Some(7));
    assert_eq!(event.id_token.unwrap().kind, IdTokenKind::MacAddress);
    let values = event.meter_value.unwrap();
    assert_eq!(values[0].sampled_value[0].value, 1000.5);
}

#[test]
fn schema_violations_get_the_2_0_1_codes_with_the_field_path() {
    let status =
        json!({"timestamp": "2026-11-21T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1});
    assert!(parse_station_request("StatusNotification", &status).is_ok());

    let mut missing = status.clone();
    missing.as_object_mut().unwrap().remove("evseId");
    assert_eq!(
        code_of("StatusNotification", missing),
        (ErrorCode::OccurrenceConstraintViolation, "evseId".into())
    );
    let mut extra = status.clone();
    extra["colour"] = json!("blue");
    assert_eq!(
        code_of("StatusNotification", extra),
        (ErrorCode::FormatViolation, "colour".into())
    );
    let mut bad_enum = status.clone();
    bad_enum["connectorStatus"] = json!("Charging");
    assert_eq!(
        code_of("StatusNotification", bad_enum),
        (ErrorCode::PropertyConstraintViolation, "connectorStatus".into())
    );
    let mut bad_type = status;
    bad_type["evseId"] = json!("one");
    assert_eq!(
        code_of("StatusNotification", bad_type),
        (ErrorCode::TypeConstraintViolation, "evseId".into())
    );
    let long_id = json!({"eventType": "Updated", "timestamp": "2026-11-21T10:00:00Z", "triggerReason": "MeterValuePeriodic",
        "seqNo": 1, "transactionInfo": {"transactionId": "x".repeat(37)}});
    assert_eq!(
        code_of("TransactionEvent", long_id),
        (
            ErrorCode::TypeConstraintViolation,
            "transactionInfo.transactionId".into()
        )
    );
    let error = parse_station_request("Heartbeat", &json!({"x": 1})).unwrap_err();
    assert!(error
        .call_error("9", VERSION)
        .to_text()
        .starts_with(r#"[4,"9","FormatViolation","#));
    let error = parse_station_request("BootNotification", &json!({})).unwrap_err();
    assert!(error
        .call_error("9", VERSION)
        .to_text()
        .starts_with(r#"[4,"9","OccurrenceConstraintViolation","#));
}

#[test]
fn csms_actions_from_a_station_and_unknown_or_untyped_actions_are_refused() {
    assert_eq!(
        code_of("Reset", json!({"type": "Immediate"})).0,
        ErrorCode::NotSupported
    );
    assert_eq!(
        code_of("SendLocalList", json!({"versionNumber": 1, "updateType": "Full"})).0,
        ErrorCode::NotSupported
    );
    assert_eq!(code_of("StartTransaction", json!({})).0, ErrorCode::NotImplemented);
    assert_eq!(code_of("Heartbeat", json!([])).0, ErrorCode::FormatViolation);
}

#[test]
fn every_typed_action_round_trips_through_its_own_validation() {
    let requests: Vec<Request> = vec![
        RequestStopTransactionRequest {
            transaction_id: CiString::new("tx-1").unwrap(),
        }
        .into(),
        GetBaseReportRequest {
            request_id: 1,
            report_base: ReportBase::FullInventory,
        }
        .into(),
        ResetRequest {
            kind: ResetKind::OnIdle,
            evse_id: None,
        }
        .into(),
    ];
    for request in requests {
        let frame = request.to_call("1").unwrap();
        let Frame::Call { action, payload, .. } = frame else {
            panic!("a call")
        };
        assert_eq!(parse_request(&action, &payload).unwrap(), request);
    }
    let response: Response = HeartbeatResponse {
        current_time: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
    .into();
    assert_eq!(
        response.to_value().unwrap(),
        json!({"currentTime": "2026-01-01T00:00:00Z"})
    );
}

fn profile(purpose: ChargingProfilePurpose, kind: ChargingProfileKind) -> ChargingProfile {
    ChargingProfile {
        id: 1,
        stack_level: 0,
        charging_profile_purpose: purpose,
        charging_profile_kind: kind,
        recurrency_kind: None,
        valid_from: None,
        valid_to: None,
        transaction_id: None,
        charging_schedule: vec![ChargingSchedule {
            id: 1,
            start_schedule: None,
            duration: None,
            charging_rate_unit: ChargingRateUnit::A,
            charging_schedule_period: vec![ChargingSchedulePeriod {
                start_period: 0,
                limit: 16.0,
                number_phases: None,
                phase_to_use: None,
            }],
            min_charging_rate: None,
        }],
    }
}

#[test]
fn charging_profiles_follow_the_evse_and_validity_rules() {
    use ChargingProfileKind::*;
    use ChargingProfilePurpose::*;
    let set = |evse_id, charging_profile| SetChargingProfileRequest {
        evse_id,
        charging_profile,
    };
    assert!(set(0, profile(TxDefaultProfile, Relative)).check_rules().is_ok());
    assert_eq!(
        set(1, profile(ChargingStationMaxProfile, Absolute))
            .check_rules()
            .unwrap_err()
            .path,
        "evseId"
    );
    assert!(set(0, profile(ChargingStationMaxProfile, Relative))
        .check_rules()
        .is_err());
    assert_eq!(
        set(1, profile(TxProfile, Relative)).check_rules().unwrap_err().code,
        ErrorCode::OccurrenceConstraintViolation,
        "a TxProfile without its transaction"
    );
    let mut tx = profile(TxProfile, Relative);
    tx.transaction_id = Some(CiString::new("tx-1").unwrap());
    assert!(set(1, tx.clone()).check_rules().is_ok());
    assert!(set(0, tx).check_rules().is_err(), "a TxProfile is for an EVSE > 0");
    assert!(
        set(0, profile(TxDefaultProfile, Absolute)).check_rules().is_err(),
        "Absolute needs a start"
    );
    let mut late_start = profile(TxDefaultProfile, Relative);
    late_start.charging_schedule[0].charging_schedule_period[0].start_period = 5;
    assert!(set(0, late_start).check_rules().is_err());
    let mut backwards = profile(TxDefaultProfile, Relative);
    backwards.valid_from = Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap());
    backwards.valid_to = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    assert!(set(0, backwards).check_rules().is_err());
}

#[test]
fn the_back_office_messages_read_their_schema_examples_and_write_them_back_unchanged() {
    let requests = [
        ("ClearCache", json!({})),
        (
            "GetLog",
            json!({"log": {"remoteLocation": "https://logs.example/up", "oldestTimestamp": "2026-01-01T00:00:00Z"},
                   "logType": "DiagnosticsLog", "requestId": 7, "retries": 2, "retryInterval": 30}),
        ),
        (
            "UpdateFirmware",
            json!({"requestId": 8, "retries": 1, "firmware": {"location": "https://fw.example/2.1.bin",
                   "retrieveDateTime": "2026-01-01T02:00:00Z", "installDateTime": "2026-01-01T03:00:00Z",
                   "signingCertificate": "-----BEGIN CERTIFICATE-----", "signature": "c2ln"}}),
        ),
        (
            "ReserveNow",
            json!({"id": 42, "expiryDateTime": "2026-01-01T13:00:00Z", "connectorType": "cType2",
                   "idToken": {"idToken": "RFID-1", "type": "ISO14443"}, "evseId": 1,
                   "groupIdToken": {"idToken": "FLEET", "type": "Central"}}),
        ),
        ("CancelReservation", json!({"reservationId": 42})),
        (
            "SendLocalList",
            json!({"versionNumber": 4, "updateType": "Differential", "localAuthorizationList": [
                {"idToken": {"idToken": "RFID-1", "type": "ISO14443"},
                 "idTokenInfo": {"status": "Blocked", "groupIdToken": {"idToken": "FLEET", "type": "Central"}}},
                {"idToken": {"idToken": "001A2B3C4D5E", "type": "MacAddress"}}
            ]}),
        ),
        ("GetLocalListVersion", json!({})),
        (
            "ReservationStatusUpdate",
            json!({"reservationId": 42, "reservationUpdateStatus": "Expired"}),
        ),
        (
            "DataTransfer",
            json!({"vendorId": "com.example", "messageId": "ping", "data": {"any": ["json", 1]}}),
        ),
    ];
    for (action, payload) in requests {
        let request = parse_request(action, &payload).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(request.to_value().unwrap(), payload, "{action}");
    }
    let responses = [
        ("ClearCache", json!({"status": "Rejected"})),
        ("GetLog", json!({"status": "Accepted", "filename": "log.zip"})),
        ("UpdateFirmware", json!({"status": "InvalidCertificate"})),
        ("ReserveNow", json!({"status": "Occupied"})),
        ("CancelReservation", json!({"status": "Accepted"})),
        ("SendLocalList", json!({"status": "VersionMismatch"})),
        ("GetLocalListVersion", json!({"versionNumber": 4})),
        ("ReservationStatusUpdate", json!({})),
        ("DataTransfer", json!({"status": "UnknownVendorId", "data": "text"})),
    ];
    for (action, payload) in responses {
        let response = parse_response(action, &payload).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(response.to_value().unwrap(), payload, "{action}");
    }
    assert!(matches!(
        parse_station_request(
            "ReservationStatusUpdate",
            &json!({"reservationId": 1, "reservationUpdateStatus": "Removed"})
        ),
        Ok(Request::ReservationStatusUpdate(_))
    ));
    assert_eq!(
        code_of("ReserveNow", json!({"id": 1, "expiryDateTime": "2026-01-01T13:00:00Z"})).0,
        ErrorCode::NotSupported,
        "a station does not send ReserveNow"
    );
    let long = "x".repeat(513);
    assert_eq!(
        parse_request(
            "GetLog",
            &json!({"log": {"remoteLocation": long}, "logType": "DiagnosticsLog", "requestId": 1})
        )
        .unwrap_err()
        .path,
        "log.remoteLocation"
    );
}

#[test]
fn the_certificate_messages_read_their_schema_examples_and_write_them_back_unchanged() {
    let requests = [
        (
            "SignCertificate",
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----", "certificateType": "ChargingStationCertificate"}),
        ),
        (
            "CertificateSigned",
            json!({"certificateChain": "-----BEGIN CERTIFICATE-----", "certificateType": "V2GCertificate"}),
        ),
        (
            "Get15118EVCertificate",
            json!({"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "gAQ="}),
        ),
        (
            "GetCertificateStatus",
            json!({"ocspRequestData": {"hashAlgorithm": "SHA256", "issuerNameHash": "ab", "issuerKeyHash": "cd",
                   "serialNumber": "01", "responderURL": "http://ocsp.example"}}),
        ),
    ];
    for (action, payload) in requests {
        let request = parse_request(action, &payload).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(request.to_value().unwrap(), payload, "{action}");
    }
    let responses = [
        (
            "SignCertificate",
            json!({"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCSR"}}),
        ),
        ("CertificateSigned", json!({"status": "Accepted"})),
        (
            "Get15118EVCertificate",
            json!({"status": "Failed", "statusInfo": {"reasonCode": "NoV2GRootCertificate"}, "exiResponse": ""}),
        ),
        ("GetCertificateStatus", json!({"status": "Failed"})),
    ];
    for (action, payload) in responses {
        let response = parse_response(action, &payload).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(response.to_value().unwrap(), payload, "{action}");
    }
    assert!(matches!(
        parse_station_request("SignCertificate", &json!({"csr": "x"})),
        Ok(Request::SignCertificate(_))
    ));
    assert_eq!(
        code_of("CertificateSigned", json!({"certificateChain": "x"})).0,
        ErrorCode::NotSupported,
        "a station does not send CertificateSigned"
    );
    assert_eq!(
        parse_request(
            "GetCertificateStatus",
            &json!({"ocspRequestData": {"hashAlgorithm": "MD5"}})
        )
        .unwrap_err()
        .code,
        ErrorCode::PropertyConstraintViolation
    );
}

#[test]
fn the_certificate_messages_are_typed_and_checked_by_their_schemas() {
    for action in ["InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate"] {
        assert!(!UNTYPED_ACTIONS.contains(&action), "{action}");
    }
    let hash = json!({"hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb", "serialNumber": "01"});
    let examples = [
        (
            "InstallCertificate",
            json!({"certificateType": "CSMSRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}),
            json!({"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCert"}}),
        ),
        (
            "GetInstalledCertificateIds",
            json!({"certificateType": ["V2GRootCertificate", "ManufacturerRootCertificate"]}),
            json!({"status": "Accepted", "certificateHashDataChain": [
                {"certificateType": "V2GCertificateChain", "certificateHashData": hash, "childCertificateHashData": [hash]}
            ]}),
        ),
        (
            "DeleteCertificate",
            json!({"certificateHashData": hash}),
            json!({"status": "NotFound"}),
        ),
    ];
    for (action, request, response) in examples {
        let parsed = parse_request(action, &request).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(parsed.to_value().unwrap(), request, "{action}");
        let parsed = parse_response(action, &response).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(parsed.to_value().unwrap(), response, "{action}");
    }
    let refused = parse_request("GetInstalledCertificateIds", &json!({"certificateType": []})).unwrap_err();
    assert_eq!(refused.code, ErrorCode::OccurrenceConstraintViolation);
    let refused = parse_request(
        "InstallCertificate",
        &json!({"certificateType": "CentralSystemRootCertificate", "certificate": "x"}),
    )
    .unwrap_err();
    assert_eq!(refused.code, ErrorCode::PropertyConstraintViolation, "the 1.6 name");
    let five = json!({"status": "Accepted", "certificateHashDataChain": [
        {"certificateType": "V2GCertificateChain", "certificateHashData": hash,
         "childCertificateHashData": [hash, hash, hash, hash, hash]}
    ]});
    let refused = parse_response("GetInstalledCertificateIds", &five).unwrap_err();
    assert_eq!(refused.code, ErrorCode::OccurrenceConstraintViolation, "maxItems 4");
}
