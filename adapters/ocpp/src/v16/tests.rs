//! Tests of the typed 1.6 messages: one valid example per message (fields per the
//! official schemas), round trips, and each refusal with its error code.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::OcppVersion;

/// One valid request and response for every typed action, using every optional field
/// somewhere.
fn examples() -> Vec<(Action, Value, Value)> {
    vec![
        (
            Action::BootNotification,
            json!({
                "chargePointVendor": "VendorX", "chargePointModel": "SingleSocketCharger",
                "chargePointSerialNumber": "SN-0001", "chargeBoxSerialNumber": "CB-0001",
                "firmwareVersion": "1.2.3", "iccid": "8931440400012345678", "imsi": "204043123456789",
                "meterType": "MID meter", "meterSerialNumber": "MTR-42"
            }),
            json!({"status": "Accepted", "currentTime": "2025-01-01T12:00:00Z", "interval": 300}),
        ),
        (
            Action::Heartbeat,
            json!({}),
            json!({"currentTime": "2025-01-01T12:00:00Z"}),
        ),
        (
            Action::StatusNotification,
            json!({
                "connectorId": 1, "errorCode": "NoError", "info": "cable locked", "status": "Preparing",
                "timestamp": "2025-01-01T12:00:00Z", "vendorId": "com.vendorx", "vendorErrorCode": "E0"
            }),
            json!({}),
        ),
        (
            Action::Authorize,
            json!({"idTag": "VID:92D50A693F80"}),
            json!({"idTagInfo": {
                "status": "Accepted", "expiryDate": "2025-12-31T23:59:59Z", "parentIdTag": "HOUSEHOLD-1"
            }}),
        ),
        (
            Action::StartTransaction,
            json!({
                "connectorId": 1, "idTag": "04A2B3C4D5E6F7", "meterStart": 12345, "reservationId": 7,
                "timestamp": "2025-01-01T12:00:00Z"
            }),
            json!({"idTagInfo": {"status": "Accepted"}, "transactionId": 1001}),
        ),
        (
            Action::StopTransaction,
            json!({
                "idTag": "04A2B3C4D5E6F7", "meterStop": 23456, "timestamp": "2025-01-01T14:00:00Z",
                "transactionId": 1001, "reason": "EVDisconnected",
                "transactionData": [{"timestamp": "2025-01-01T13:00:00Z", "sampledValue": [{
                    "value": "17000", "context": "Sample.Periodic", "format": "Raw",
                    "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"
                }]}]
            }),
            json!({"idTagInfo": {"status": "Invalid"}}),
        ),
        (
            Action::MeterValues,
            json!({
                "connectorId": 1, "transactionId": 1001,
                "meterValue": [{"timestamp": "2025-01-01T13:00:00Z", "sampledValue": [
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "230.2", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                    {"value": "55", "measurand": "SoC", "location": "EV", "unit": "Percent"},
                    {"value": "31.5", "measurand": "Temperature", "location": "Body", "unit": "Celsius",
                     "context": "Trigger"}
                ]}]
            }),
            json!({}),
        ),
        (
            Action::DataTransfer,
            json!({"vendorId": "com.vendorx", "messageId": "ping", "data": "{\"a\":1}"}),
            json!({"status": "Accepted", "data": "pong"}),
        ),
        (
            Action::DiagnosticsStatusNotification,
            json!({"status": "Uploaded"}),
            json!({}),
        ),
        (
            Action::FirmwareStatusNotification,
            json!({"status": "Installed"}),
            json!({}),
        ),
        (
            Action::SecurityEventNotification,
            json!({"type": "SettingSystemTime", "timestamp": "2025-01-01T12:00:00Z", "techInfo": "ntp"}),
            json!({}),
        ),
        (
            Action::SignCertificate,
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"}),
            json!({"status": "Accepted"}),
        ),
        (
            Action::LogStatusNotification,
            json!({"status": "Uploading", "requestId": 7}),
            json!({}),
        ),
        (
            Action::SignedFirmwareStatusNotification,
            json!({"status": "SignatureVerified", "requestId": 8}),
            json!({}),
        ),
        (
            Action::RemoteStartTransaction,
            json!({
                "connectorId": 1, "idTag": "COUPLER",
                "chargingProfile": {
                    "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
                    ]}
                }
            }),
            json!({"status": "Accepted"}),
        ),
        (
            Action::RemoteStopTransaction,
            json!({"transactionId": 1001}),
            json!({"status": "Rejected"}),
        ),
        (
            Action::SetChargingProfile,
            json!({
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 2, "transactionId": 1001, "stackLevel": 1,
                    "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Absolute",
                    "validFrom": "2025-01-01T12:00:00Z", "validTo": "2025-01-01T18:00:00Z",
                    "chargingSchedule": {
                        "duration": 3600, "startSchedule": "2025-01-01T12:00:00Z", "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 11000.0},
                            {"startPeriod": 1800, "limit": 3680.5, "numberPhases": 1}
                        ],
                        "minChargingRate": 1380.0
                    }
                }
            }),
            json!({"status": "NotSupported"}),
        ),
        (
            Action::ClearChargingProfile,
            json!({"id": 2, "connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}),
            json!({"status": "Unknown"}),
        ),
        (
            Action::GetCompositeSchedule,
            json!({"connectorId": 0, "duration": 86400, "chargingRateUnit": "A"}),
            json!({
                "status": "Accepted", "connectorId": 0, "scheduleStart": "2025-01-01T00:00:00Z",
                "chargingSchedule": {
                    "duration": 86400, "startSchedule": "2025-01-01T00:00:00Z", "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}], "minChargingRate": 6.0
                }
            }),
        ),
        (
            Action::ChangeConfiguration,
            json!({"key": "MeterValueSampleInterval", "value": "60"}),
            json!({"status": "RebootRequired"}),
        ),
        (
            Action::GetConfiguration,
            json!({"key": ["HeartbeatInterval", "AuthorizeRemoteTxRequests"]}),
            json!({
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": false, "value": "300"},
                    {"key": "ChargeProfileMaxStackLevel", "readonly": true}
                ],
                "unknownKey": ["AuthorizeRemoteTxRequests"]
            }),
        ),
        (
            Action::TriggerMessage,
            json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
            json!({"status": "NotImplemented"}),
        ),
        (Action::Reset, json!({"type": "Soft"}), json!({"status": "Accepted"})),
        (
            Action::ChangeAvailability,
            json!({"connectorId": 0, "type": "Inoperative"}),
            json!({"status": "Scheduled"}),
        ),
        (
            Action::UnlockConnector,
            json!({"connectorId": 1}),
            json!({"status": "UnlockFailed"}),
        ),
        (Action::ClearCache, json!({}), json!({"status": "Rejected"})),
        (
            Action::GetDiagnostics,
            json!({"location": "ftp://logs.example/cp-1/", "retries": 3, "retryInterval": 60,
                   "startTime": "2025-01-01T00:00:00Z", "stopTime": "2025-01-02T00:00:00Z"}),
            json!({"fileName": "diagnostics-cp-1.zip"}),
        ),
        (
            Action::UpdateFirmware,
            json!({"location": "https://fw.example/cp-2.1.0.bin", "retries": 2,
                   "retrieveDate": "2025-01-01T02:00:00Z", "retryInterval": 300}),
            json!({}),
        ),
        (
            Action::ReserveNow,
            json!({"connectorId": 1, "expiryDate": "2025-01-01T13:00:00Z", "idTag": "RFID-1",
                   "parentIdTag": "FLEET-1", "reservationId": 42}),
            json!({"status": "Occupied"}),
        ),
        (
            Action::CancelReservation,
            json!({"reservationId": 42}),
            json!({"status": "Accepted"}),
        ),
        (
            Action::CertificateSigned,
            json!({"certificateChain": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}),
            json!({"status": "Rejected"}),
        ),
        (
            Action::SendLocalList,
            json!({"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [
                {"idTag": "RFID-1", "idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET-1"}},
                {"idTag": "RFID-2"}
            ]}),
            json!({"status": "VersionMismatch"}),
        ),
        (Action::GetLocalListVersion, json!({}), json!({"listVersion": 3})),
        (
            Action::InstallCertificate,
            json!({"certificateType": "CentralSystemRootCertificate",
                   "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}),
            json!({"status": "Failed"}),
        ),
        (
            Action::GetInstalledCertificateIds,
            json!({"certificateType": "ManufacturerRootCertificate"}),
            json!({"status": "Accepted", "certificateHashData": [{
                "hashAlgorithm": "SHA256", "issuerNameHash": "aa01", "issuerKeyHash": "bb02", "serialNumber": "1f"
            }]}),
        ),
        (
            Action::DeleteCertificate,
            json!({"certificateHashData": {
                "hashAlgorithm": "SHA512", "issuerNameHash": "aa01", "issuerKeyHash": "bb02", "serialNumber": "1f"
            }}),
            json!({"status": "NotFound"}),
        ),
        (
            Action::ExtendedTriggerMessage,
            json!({"requestedMessage": "SignChargePointCertificate", "connectorId": 0}),
            json!({"status": "NotImplemented"}),
        ),
        (
            Action::GetLog,
            json!({"logType": "SecurityLog", "requestId": 9, "retries": 1, "retryInterval": 30, "log": {
                "remoteLocation": "https://logs.example/upload", "oldestTimestamp": "2025-01-01T00:00:00Z",
                "latestTimestamp": "2025-01-02T00:00:00Z"
            }}),
            json!({"status": "AcceptedCanceled", "filename": "security.log"}),
        ),
        (
            Action::SignedUpdateFirmware,
            json!({"retries": 2, "retryInterval": 60, "requestId": 10, "firmware": {
                "location": "https://fw.example/cp.bin", "retrieveDateTime": "2025-01-01T02:00:00Z",
                "installDateTime": "2025-01-01T03:00:00Z",
                "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "signature": "c2lnbmF0dXJl"
            }}),
            json!({"status": "InvalidCertificate"}),
        ),
    ]
}

fn refused_request(action: &str, payload: Value) -> ValidationError {
    parse_request(action, &payload).expect_err("payload should be refused")
}

fn boot(extra: Value) -> Value {
    let mut payload = json!({"chargePointVendor": "VendorX", "chargePointModel": "M1"});
    if let (Some(base), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    payload
}

fn profile_with_limit(limit: Value) -> Value {
    json!({
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 600, "limit": limit}
            ]}
        }
    })
}

fn tx_default_profile(limit: f64, min_charging_rate: Option<f64>) -> ChargingProfile {
    ChargingProfile {
        charging_profile_id: 7,
        transaction_id: None,
        stack_level: 0,
        charging_profile_purpose: ChargingProfilePurpose::TxDefaultProfile,
        charging_profile_kind: ChargingProfileKind::Recurring,
        recurrency_kind: Some(RecurrencyKind::Daily),
        valid_from: Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
        valid_to: None,
        charging_schedule: ChargingSchedule {
            duration: Some(86_400),
            start_schedule: Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
            charging_rate_unit: ChargingRateUnit::A,
            charging_schedule_period: vec![ChargingSchedulePeriod {
                start_period: 0,
                limit,
                number_phases: None,
            }],
            min_charging_rate,
        },
    }
}

// ---- Valid messages. ----

#[test]
fn the_examples_cover_every_typed_action() {
    let covered: Vec<Action> = examples().into_iter().map(|(action, _, _)| action).collect();
    assert_eq!(covered, Action::ALL);
}

#[test]
fn every_example_request_is_accepted_and_written_back_unchanged() {
    for (action, payload, _) in examples() {
        let request = parse_request(action.as_str(), &payload).unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
        assert_eq!(request.action(), action);
        assert_eq!(request.to_value().unwrap(), payload, "{action:?}");
    }
}

#[test]
fn every_example_response_is_accepted_and_written_back_unchanged() {
    for (action, _, payload) in examples() {
        let response = parse_response(action.as_str(), &payload).unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
        assert_eq!(response.action(), action);
        assert_eq!(response.to_value().unwrap(), payload, "{action:?}");
    }
}

#[test]
fn requests_with_only_their_required_fields_are_accepted() {
    for (action, payload) in [
        ("BootNotification", boot(json!({}))),
        (
            "StatusNotification",
            json!({"connectorId": 0, "errorCode": "NoError", "status": "Available"}),
        ),
        (
            "StopTransaction",
            json!({"meterStop": 1, "timestamp": "2025-01-01T12:00:00Z", "transactionId": 1}),
        ),
        (
            "MeterValues",
            json!({"connectorId": 0, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": "1"}]}]}),
        ),
        ("DataTransfer", json!({"vendorId": "v"})),
        ("RemoteStartTransaction", json!({"idTag": "t"})),
        ("ClearChargingProfile", json!({})),
        ("GetConfiguration", json!({})),
        ("TriggerMessage", json!({"requestedMessage": "Heartbeat"})),
    ] {
        let request = parse_request(action, &payload).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(request.to_value().unwrap(), payload, "{action}");
    }
    let empty = parse_response("GetConfiguration", &json!({})).unwrap();
    assert_eq!(empty.to_value().unwrap(), json!({}));
}

#[test]
fn messages_read_into_the_typed_fields() {
    let Request::StartTransaction(start) = parse_request(
        "StartTransaction",
        &json!({"connectorId": 2, "idTag": "abc", "meterStart": 5, "timestamp": "2025-01-01T13:00:00+01:00"}),
    )
    .unwrap() else {
        panic!("wrong variant");
    };
    assert_eq!(start.connector_id, 2);
    assert_eq!(start.id_tag.as_str(), "abc");
    assert!(start.id_tag.eq_ignore_case("ABC"));
    assert_eq!(start.timestamp, Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap());
    assert_eq!(start.reservation_id, None);
}

#[test]
fn outgoing_messages_built_in_rust_validate_and_round_trip() {
    let outgoing: Vec<Request> = vec![
        RemoteStartTransactionRequest {
            connector_id: Some(1),
            id_tag: CiString20::new("COUPLER").unwrap(),
            charging_profile: Some(ChargingProfile {
                charging_profile_purpose: ChargingProfilePurpose::TxProfile,
                charging_profile_kind: ChargingProfileKind::Relative,
                recurrency_kind: None,
                valid_from: None,
                ..tx_default_profile(10.0, None)
            }),
        }
        .into(),
        RemoteStopTransactionRequest { transaction_id: 1001 }.into(),
        SetChargingProfileRequest {
            connector_id: 0,
            cs_charging_profiles: ChargingProfile {
                charging_profile_purpose: ChargingProfilePurpose::ChargePointMaxProfile,
                ..tx_default_profile(32.0, Some(6.0))
            },
        }
        .into(),
        SetChargingProfileRequest {
            connector_id: 1,
            cs_charging_profiles: tx_default_profile(13.5, None),
        }
        .into(),
        ClearChargingProfileRequest {
            id: None,
            connector_id: Some(0),
            charging_profile_purpose: Some(ChargingProfilePurpose::ChargePointMaxProfile),
            stack_level: None,
        }
        .into(),
        GetCompositeScheduleRequest {
            connector_id: 1,
            duration: 3600,
            charging_rate_unit: Some(ChargingRateUnit::W),
        }
        .into(),
        ChangeConfigurationRequest {
            key: CiString50::new("MeterValuesSampledData").unwrap(),
            value: CiString500::new("Energy.Active.Import.Register,Power.Active.Import").unwrap(),
        }
        .into(),
        GetConfigurationRequest { key: None }.into(),
        TriggerMessageRequest {
            requested_message: MessageTrigger::MeterValues,
            connector_id: Some(1),
        }
        .into(),
        ResetRequest { kind: ResetType::Hard }.into(),
        ChangeAvailabilityRequest {
            connector_id: 1,
            kind: AvailabilityType::Operative,
        }
        .into(),
        UnlockConnectorRequest { connector_id: 1 }.into(),
    ];
    for request in outgoing {
        let frame = request.to_call("m-1").unwrap_or_else(|e| panic!("{request:?}: {e}"));
        let Frame::Call { action, payload, .. } = Frame::parse(&frame.to_text()).unwrap() else {
            panic!("not a CALL");
        };
        assert_eq!(parse_request(&action, &payload).unwrap(), request);
    }
}

#[test]
fn responses_coupler_sends_validate_and_become_call_results() {
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
    let accepted = IdTagInfo {
        expiry_date: None,
        parent_id_tag: None,
        status: AuthorizationStatus::Accepted,
    };
    let responses: Vec<Response> = vec![
        BootNotificationResponse {
            status: RegistrationStatus::Pending,
            current_time: now,
            interval: 60,
        }
        .into(),
        HeartbeatResponse { current_time: now }.into(),
        StatusNotificationResponse {}.into(),
        AuthorizeResponse {
            id_tag_info: accepted.clone(),
        }
        .into(),
        StartTransactionResponse {
            id_tag_info: accepted,
            transaction_id: 1,
        }
        .into(),
        StopTransactionResponse { id_tag_info: None }.into(),
        MeterValuesResponse {}.into(),
        DataTransferResponse {
            status: DataTransferStatus::UnknownVendorId,
            data: None,
        }
        .into(),
        DiagnosticsStatusNotificationResponse {}.into(),
        FirmwareStatusNotificationResponse {}.into(),
    ];
    for response in responses {
        let frame = response.to_call_result("c-9").unwrap();
        let Frame::CallResult { id, payload } = frame else {
            panic!("not a CALLRESULT")
        };
        assert_eq!(id, "c-9");
        assert_eq!(parse_response(response.action().as_str(), &payload).unwrap(), response);
    }
    assert_eq!(
        Response::from(HeartbeatResponse { current_time: now })
            .to_value()
            .unwrap(),
        json!({"currentTime": "2025-01-01T12:00:00Z"})
    );
}

#[test]
fn serde_deserialize_applies_the_same_checks() {
    let boot: BootNotificationRequest = serde_json::from_value(boot(json!({"iccid": "123"}))).unwrap();
    assert_eq!(boot.iccid.map(CiString::into_inner).as_deref(), Some("123"));
    let error = serde_json::from_value::<BootNotificationRequest>(json!({"chargePointVendor": "V"})).unwrap_err();
    assert_eq!(error.to_string(), "chargePointModel: required field is missing");
    assert!(serde_json::from_value::<Measurand>(json!("Energy")).is_err());
    assert!(serde_json::from_value::<CiString20>(json!("x".repeat(21))).is_err());
}

#[test]
fn every_enum_value_of_every_schema_enum_reads_back() {
    macro_rules! check {
        ($($enum:ident),+) => {$(
            for value in $enum::ALL {
                assert_eq!($enum::from_wire(value.as_str()), Some(*value));
                assert_eq!(serde_json::to_value(value).unwrap(), json!(value.as_str()));
            }
        )+};
    }
    check!(
        AuthorizationStatus,
        RegistrationStatus,
        ChargePointErrorCode,
        ChargePointStatus,
        Reason,
        DataTransferStatus,
        DiagnosticsStatus,
        FirmwareStatus,
        RemoteStartStopStatus,
        ChargingProfileStatus,
        ClearChargingProfileStatus,
        GetCompositeScheduleStatus,
        ConfigurationStatus,
        MessageTrigger,
        TriggerMessageStatus,
        ResetType,
        ResetStatus,
        AvailabilityType,
        AvailabilityStatus,
        UnlockStatus,
        ChargingProfilePurpose,
        ChargingProfileKind,
        RecurrencyKind,
        ChargingRateUnit,
        ReadingContext,
        ValueFormat,
        Measurand,
        Phase,
        Location,
        UnitOfMeasure,
        CertificateUse,
        InstallCertificateStatus,
        GetInstalledCertificateStatus,
        DeleteCertificateStatus,
        HashAlgorithm,
        ExtendedMessageTrigger,
        ExtendedTriggerMessageStatus,
        LogKind,
        LogStatus,
        UploadLogStatus,
        SignedUpdateFirmwareStatus,
        SignedFirmwareStatus
    );
    assert_eq!(Measurand::ALL.len(), 22);
    assert_eq!(UnitOfMeasure::ALL.len(), 16);
    assert_eq!(ChargePointErrorCode::ALL.len(), 16);
}

// ---- multipleOf 0.1 ----

#[test]
fn a_limit_of_0_3_is_a_multiple_of_a_tenth_despite_float_representation() {
    for limit in [json!(0.3), json!(16), json!(6.1), json!(0.7), json!(32.2)] {
        parse_request("SetChargingProfile", &profile_with_limit(limit.clone()))
            .unwrap_or_else(|e| panic!("{limit}: {e}"));
    }
}

#[test]
fn a_limit_that_is_not_a_multiple_of_a_tenth_is_a_property_constraint_violation() {
    let error = refused_request("SetChargingProfile", profile_with_limit(json!(16.05)));
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert_eq!(
        error.path,
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[1].limit"
    );
    assert_eq!(
        error.description,
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[1].limit: 16.05 is not a multiple of 0.1"
    );
}

#[test]
fn a_min_charging_rate_that_is_not_a_multiple_of_a_tenth_is_refused() {
    let mut payload = profile_with_limit(json!(10.0));
    payload["csChargingProfiles"]["chargingSchedule"]["minChargingRate"] = json!(6.25);
    let error = refused_request("SetChargingProfile", payload);
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert_eq!(error.path, "csChargingProfiles.chargingSchedule.minChargingRate");
}

#[test]
fn the_composite_schedule_a_charger_reports_is_checked_for_tenths_too() {
    let payload = json!({"status": "Accepted", "chargingSchedule": {
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 15.99}]
    }});
    let error = parse_response("GetCompositeSchedule", &payload).unwrap_err();
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert_eq!(error.path, "chargingSchedule.chargingSchedulePeriod[0].limit");
}

#[test]
fn an_outgoing_limit_with_float_noise_is_sent_as_the_clean_tenth() {
    let request = Request::from(SetChargingProfileRequest {
        connector_id: 1,
        cs_charging_profiles: tx_default_profile(0.1 + 0.2, Some(0.1 * 3.0)),
    });
    let value = request.to_value().unwrap();
    let schedule = &value["csChargingProfiles"]["chargingSchedule"];
    assert_eq!(schedule["chargingSchedulePeriod"][0]["limit"].to_string(), "0.3");
    assert_eq!(schedule["minChargingRate"].to_string(), "0.3");
}

#[test]
fn an_outgoing_limit_that_is_not_a_multiple_of_a_tenth_is_refused_not_rounded() {
    let request = Request::from(SetChargingProfileRequest {
        connector_id: 1,
        cs_charging_profiles: tx_default_profile(16.05, None),
    });
    let error = request.to_call("m-2").unwrap_err();
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert_eq!(
        error.path,
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit"
    );
}

// ---- Meter values. ----

#[test]
fn both_spellings_of_celsius_are_accepted_and_celsius_is_written() {
    for spelling in ["Celcius", "Celsius"] {
        let payload = json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z",
            "sampledValue": [{"value": "21.5", "measurand": "Temperature", "unit": spelling}]}]});
        let Request::MeterValues(values) = parse_request("MeterValues", &payload).unwrap() else {
            panic!("wrong variant");
        };
        let unit = values.meter_value[0].sampled_value[0].unit;
        assert_eq!(unit, Some(UnitOfMeasure::Celsius));
        assert_eq!(
            Request::MeterValues(values).to_value().unwrap()["meterValue"][0]["sampledValue"][0]["unit"],
            "Celsius"
        );
    }
    assert_eq!(UnitOfMeasure::from_wire("celsius"), None);
}

#[test]
fn a_sampled_value_must_be_a_string() {
    let payload = json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z",
        "sampledValue": [{"value": 7.4}]}]});
    let error = refused_request("MeterValues", payload);
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert_eq!(
        error.description,
        "meterValue[0].sampledValue[0].value: expected a string, found a decimal number"
    );
}

#[test]
fn meter_values_without_a_reading_break_min_items() {
    let error = refused_request("MeterValues", json!({"connectorId": 1, "meterValue": []}));
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation);
    assert_eq!(error.path, "meterValue");
    let error = refused_request(
        "MeterValues",
        json!({"connectorId": 1, "meterValue": [
            {"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": "1"}]},
            {"timestamp": "2025-01-01T12:01:00Z", "sampledValue": []}
        ]}),
    );
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation);
    assert_eq!(error.path, "meterValue[1].sampledValue");
}

#[test]
fn stop_transaction_data_may_be_empty_as_its_schema_allows() {
    let payload = json!({"meterStop": 1, "timestamp": "2025-01-01T12:00:00Z", "transactionId": 1,
        "transactionData": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": []}]});
    parse_request("StopTransaction", &payload).unwrap();
}

// ---- Refusals and their codes. ----

#[test]
fn a_missing_required_field_is_an_occurrence_constraint_violation() {
    let error = refused_request("BootNotification", json!({"chargePointVendor": "VendorX"}));
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation);
    assert_eq!(error.path, "chargePointModel");
    assert_eq!(
        error.call_error("7", OcppVersion::V16).to_text(),
        r#"[4,"7","OccurenceConstraintViolation","chargePointModel: required field is missing",{}]"#
    );
    let nested = refused_request("Authorize", json!({}));
    assert_eq!(nested.path, "idTag");
    let deep = parse_response("Authorize", &json!({"idTagInfo": {}})).unwrap_err();
    assert_eq!(deep.code, ErrorCode::OccurrenceConstraintViolation);
    assert_eq!(deep.path, "idTagInfo.status");
}

#[test]
fn a_ci_string_longer_than_its_type_is_a_type_constraint_violation() {
    let error = refused_request("Authorize", json!({"idTag": "123456789012345678901"}));
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert_eq!(
        error.description,
        "idTag: 21 characters is longer than CiString20Type allows"
    );
    parse_request("Authorize", &json!({"idTag": "12345678901234567890"})).unwrap();
    // Length counts characters, not UTF-8 bytes.
    parse_request("Authorize", &json!({"idTag": "ä".repeat(20)})).unwrap();
    for (field, max) in [("chargePointSerialNumber", 25), ("firmwareVersion", 50)] {
        let error = refused_request("BootNotification", boot(json!({field: "x".repeat(max + 1)})));
        assert_eq!(error.code, ErrorCode::TypeConstraintViolation, "{field}");
        assert_eq!(error.path, field);
        parse_request("BootNotification", &boot(json!({field: "x".repeat(max)}))).unwrap();
    }
    let error = refused_request(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Available", "vendorId": "v".repeat(256)}),
    );
    assert_eq!(error.path, "vendorId");
    let error = parse_response(
        "GetConfiguration",
        &json!({"configurationKey": [{"key": "K", "readonly": true, "value": "v".repeat(501)}]}),
    )
    .unwrap_err();
    assert_eq!(error.path, "configurationKey[0].value");
}

#[test]
fn a_ci_string_that_is_too_long_cannot_even_be_built() {
    let error = CiString500::new("v".repeat(501)).unwrap_err();
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert!(CiString20::try_from("x".repeat(20)).is_ok());
}

#[test]
fn a_value_of_the_wrong_json_type_is_a_type_constraint_violation() {
    for (action, payload, path) in [
        (
            "StatusNotification",
            json!({"connectorId": "1", "errorCode": "NoError", "status": "Available"}),
            "connectorId",
        ),
        (
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "a", "meterStart": 12.5, "timestamp": "2025-01-01T12:00:00Z"}),
            "meterStart",
        ),
        ("Authorize", json!({"idTag": 1234}), "idTag"),
        (
            "StopTransaction",
            json!({"meterStop": 1, "timestamp": "2025-01-01T12:00:00Z", "transactionId": 1, "transactionData": {}}),
            "transactionData",
        ),
        (
            "SetChargingProfile",
            json!({"connectorId": 1, "csChargingProfiles": "TxProfile"}),
            "csChargingProfiles",
        ),
        (
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": 0, "status": "Available"}),
            "errorCode",
        ),
        ("GetConfiguration", json!({"key": ["a", 2]}), "key[1]"),
        (
            "SetChargingProfile",
            profile_with_limit(json!("16")),
            "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[1].limit",
        ),
    ] {
        let error = refused_request(action, payload);
        assert_eq!(error.code, ErrorCode::TypeConstraintViolation, "{action} {path}");
        assert_eq!(error.path, path, "{action}");
    }
    let error = parse_response(
        "GetConfiguration",
        &json!({"configurationKey": [{"key": "K", "readonly": "yes"}]}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert_eq!(error.path, "configurationKey[0].readonly");
}

#[test]
fn null_is_not_an_absent_optional_field() {
    let error = refused_request(
        "MeterValues",
        json!({"connectorId": 1, "transactionId": null, "meterValue": []}),
    );
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert_eq!(error.path, "transactionId");
}

#[test]
fn a_timestamp_without_offset_or_in_another_format_is_refused() {
    for timestamp in ["2025-01-01T12:00:00", "2025-01-01", "01/01/2025 12:00", ""] {
        let error = refused_request(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "a", "meterStart": 0, "timestamp": timestamp}),
        );
        assert_eq!(error.code, ErrorCode::TypeConstraintViolation, "{timestamp}");
        assert_eq!(error.path, "timestamp");
    }
}

#[test]
fn an_unknown_enum_value_is_a_property_constraint_violation() {
    let error = refused_request(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Charged"}),
    );
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert_eq!(error.description, "status: `Charged` is not a valid ChargePointStatus");
    let error = refused_request("Reset", json!({"type": "hard"}));
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    let error = refused_request(
        "MeterValues",
        json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": "1", "measurand": "Energy"}]}]}),
    );
    assert_eq!(error.path, "meterValue[0].sampledValue[0].measurand");
    assert_eq!(
        error.call_error("1", OcppVersion::V16).to_text(),
        r#"[4,"1","PropertyConstraintViolation","meterValue[0].sampledValue[0].measurand: `Energy` is not a valid Measurand",{}]"#
    );
}

#[test]
fn an_unknown_field_is_a_formation_violation_because_the_schemas_forbid_additional_properties() {
    let error = refused_request("Heartbeat", json!({"extra": 1}));
    assert_eq!(error.code, ErrorCode::FormatViolation);
    assert_eq!(error.path, "extra");
    assert_eq!(error.code.as_str(OcppVersion::V16), "FormationViolation");
    let nested = refused_request("SetChargingProfile", {
        let mut payload = profile_with_limit(json!(10.0));
        payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["phaseToUse"] = json!(1);
        payload
    });
    assert_eq!(nested.code, ErrorCode::FormatViolation);
    assert_eq!(
        nested.path,
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].phaseToUse"
    );
}

#[test]
fn a_misspelt_field_is_reported_as_unknown_rather_than_as_the_missing_one() {
    let error = refused_request("Authorize", json!({"idtag": "abc"}));
    assert_eq!(error.code, ErrorCode::FormatViolation);
    assert_eq!(error.path, "idtag");
}

#[test]
fn a_payload_that_is_not_an_object_is_a_formation_violation() {
    for payload in [json!(null), json!([]), json!("{}"), json!(1)] {
        let error = refused_request("Heartbeat", payload.clone());
        assert_eq!(error.code, ErrorCode::FormatViolation, "{payload}");
        assert_eq!(error.description, "the payload must be a JSON object");
        assert_eq!(
            parse_response("Heartbeat", &payload).unwrap_err().code,
            ErrorCode::FormatViolation
        );
    }
}

#[test]
fn an_integer_outside_32_bits_is_refused() {
    let error = refused_request("RemoteStopTransaction", json!({"transactionId": 4_294_967_296_i64}));
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
}

// ---- Actions. ----

#[test]
fn an_unknown_action_is_not_implemented() {
    for action in ["FooBar", "heartbeat", "", "TransactionEvent"] {
        let error = refused_request(action, json!({}));
        assert_eq!(error.code, ErrorCode::NotImplemented, "{action:?}");
        assert_eq!(
            parse_response(action, &json!({})).unwrap_err().code,
            ErrorCode::NotImplemented
        );
    }
    assert_eq!(
        refused_request("FooBar", json!({}))
            .call_error("5", OcppVersion::V16)
            .to_text(),
        r#"[4,"5","NotImplemented","action `FooBar` is not known",{}]"#
    );
}

#[test]
fn every_action_of_the_security_whitepaper_is_typed_and_checked() {
    assert!(UNTYPED_ACTIONS.is_empty());
    let error = parse_request(
        "GetInstalledCertificateIds",
        &json!({"certificateType": "V2GRootCertificate"}),
    )
    .unwrap_err();
    assert_eq!(
        error.code,
        ErrorCode::PropertyConstraintViolation,
        "a 2.0.1 certificate type"
    );
    let error = parse_response(
        "GetInstalledCertificateIds",
        &json!({"status": "Accepted", "certificateHashData": []}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation, "minItems 1");
    let error = parse_request(
        "DeleteCertificate",
        &json!({"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b",
                 "serialNumber": "0123456789012345678901234567890123456789x"}}),
    )
    .unwrap_err();
    assert_eq!(
        error.code,
        ErrorCode::TypeConstraintViolation,
        "a serial number over 40 characters"
    );
    let error = parse_charge_point_request("LogStatusNotification", &json!({"status": "Done"})).unwrap_err();
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
}

#[test]
fn a_charger_may_not_send_what_only_the_central_system_sends() {
    let error = parse_charge_point_request("Reset", &json!({"type": "Hard"})).unwrap_err();
    assert_eq!(error.code, ErrorCode::NotSupported);
    assert!(matches!(
        parse_charge_point_request("Heartbeat", &json!({})),
        Ok(Request::Heartbeat(_))
    ));
    assert_eq!(
        parse_charge_point_request("Nope", &json!({})).unwrap_err().code,
        ErrorCode::NotImplemented
    );
    for action in Action::ALL {
        let expected = matches!(
            action,
            Action::BootNotification
                | Action::Heartbeat
                | Action::StatusNotification
                | Action::Authorize
                | Action::StartTransaction
                | Action::StopTransaction
                | Action::MeterValues
                | Action::DataTransfer
                | Action::DiagnosticsStatusNotification
                | Action::FirmwareStatusNotification
                | Action::SecurityEventNotification
                | Action::SignCertificate
                | Action::LogStatusNotification
                | Action::SignedFirmwareStatusNotification
        );
        assert_eq!(action.initiator() == Initiator::ChargePoint, expected, "{action:?}");
        assert_eq!(Action::from_wire(action.as_str()), Some(*action));
    }
}

#[test]
fn hostile_payloads_never_panic_for_any_action() {
    let deep = (0..100).fold(json!({}), |inner, _| json!({"chargingSchedule": inner}));
    let payloads = [
        json!({}),
        json!(null),
        json!({"connectorId": u64::MAX, "meterValue": [[]], "idTag": {}, "status": []}),
        json!({"csChargingProfiles": {"chargingSchedule": {"chargingSchedulePeriod": [{"limit": 1e308}]}}}),
        json!({"chargingSchedule": {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": -1e308}], "chargingRateUnit": "A"}, "status": "Accepted"}),
        deep,
    ];
    for action in Action::ALL {
        for payload in &payloads {
            let _ = parse_request(action.as_str(), payload);
            let _ = parse_response(action.as_str(), payload);
        }
    }
}

#[test]
fn security_extension_messages_are_read_and_checked() {
    let event = parse_charge_point_request(
        "SecurityEventNotification",
        &json!({"type": "TamperDetectionActivated", "timestamp": "2026-11-21T09:00:00Z", "techInfo": "lid"}),
    )
    .unwrap();
    let Request::SecurityEventNotification(event) = event else {
        panic!("not a security event: {event:?}");
    };
    assert_eq!(event.kind.as_str(), "TamperDetectionActivated");
    assert_eq!(event.tech_info.as_ref().map(CiString::as_str), Some("lid"));
    let missing = parse_charge_point_request("SecurityEventNotification", &json!({"type": "X"})).unwrap_err();
    assert_eq!(missing.code, ErrorCode::OccurrenceConstraintViolation);
    let long = parse_charge_point_request(
        "SecurityEventNotification",
        &json!({"type": "x".repeat(51), "timestamp": "2026-11-21T09:00:00Z"}),
    )
    .unwrap_err();
    assert_eq!(long.code, ErrorCode::TypeConstraintViolation);
    let csr = parse_charge_point_request(
        "SignCertificate",
        &json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
    )
    .unwrap();
    assert!(matches!(csr, Request::SignCertificate(_)));
    let signed = Request::CertificateSigned(CertificateSignedRequest {
        certificate_chain: CiString::new("-----BEGIN CERTIFICATE-----").unwrap(),
    });
    assert_eq!(
        signed.to_value().unwrap(),
        json!({"certificateChain": "-----BEGIN CERTIFICATE-----"})
    );
}
