//! The charge point driven as a server sees it: frames in, frames out, with a clock the test moves.
//! Every typed message it sends is checked against the schema of its version.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::{v16, v201, OcppVersion};
use serde_json::{json, Value};

use crate::{ChargePoint, Config, Moment, Reading, Sample, Status, Vehicle};

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUSIM\n-----END CERTIFICATE-----";

/// A charge point, connected and booted, and the clocks it is driven with.
struct Rig {
    cp: ChargePoint,
    now: Instant,
    wall: DateTime<Utc>,
    version: OcppVersion,
}

/// A call the charge point sent.
#[derive(Debug)]
struct Sent {
    action: String,
    payload: Value,
}

impl Rig {
    fn new(version: OcppVersion) -> Self {
        Self::with(Config::home("CP1", version))
    }

    fn with(config: Config) -> Self {
        let version = config.version;
        let mut rig = Self {
            cp: ChargePoint::new(config),
            now: Instant::now(),
            wall: DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            version,
        };
        rig.cp.connected(rig.at());
        rig.drain();
        assert!(rig.cp.is_online());
        rig
    }

    fn at(&self) -> Moment {
        Moment::new(self.now, self.wall)
    }

    /// Lets `seconds` pass on both clocks.
    fn advance(&mut self, seconds: u64) {
        self.now += Duration::from_secs(seconds);
        self.wall += chrono::Duration::seconds(i64::try_from(seconds).unwrap());
        let at = self.at();
        self.cp.tick(at);
    }

    /// The charge point's next call, checked as the server would check it.
    fn send(&mut self) -> Option<(String, Sent)> {
        let at = self.at();
        let frame = self.cp.poll_frame(at)?;
        let Frame::Call { id, action, payload } = frame else {
            panic!("not a CALL: {frame:?}");
        };
        let checked = match self.version {
            OcppVersion::V16 if !v16::UNTYPED_ACTIONS.contains(&action.as_str()) => {
                v16::parse_charge_point_request(&action, &payload).map(|_| ())
            }
            OcppVersion::V201 if !v201::UNTYPED_ACTIONS.contains(&action.as_str()) => {
                v201::parse_station_request(&action, &payload).map(|_| ())
            }
            _ => Ok(()),
        };
        if let Err(error) = checked {
            panic!("invalid {action}: {error}: {payload}");
        }
        Some((id, Sent { action, payload }))
    }

    /// Sends every queued call and answers each as a server that accepts everything would.
    fn drain(&mut self) -> Vec<Sent> {
        let mut sent = Vec::new();
        while let Some((id, call)) = self.send() {
            let answer = match call.action.as_str() {
                "BootNotification" => json!({"status": "Accepted", "currentTime": self.wall, "interval": 300}),
                "Heartbeat" => json!({"currentTime": self.wall}),
                "Authorize" if self.version == OcppVersion::V16 => json!({"idTagInfo": {"status": "Accepted"}}),
                "Authorize" => json!({"idTokenInfo": {"status": "Accepted"}}),
                "StartTransaction" => json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
                "StopTransaction" => json!({"idTagInfo": {"status": "Accepted"}}),
                "SignCertificate" => json!({"status": "Accepted"}),
                _ => json!({}),
            };
            self.answer(&id, answer);
            sent.push(call);
        }
        sent
    }

    fn answer(&mut self, id: &str, payload: Value) {
        let at = self.at();
        let reply = self.cp.handle_text(at, &Frame::call_result(id, payload).to_text());
        assert!(reply.is_none(), "an answer is not answered");
    }

    /// A call from the server: the CALLRESULT's payload, or the CALLERROR's code.
    fn call(&mut self, action: &str, payload: Value) -> Result<Value, String> {
        let at = self.at();
        let reply = self
            .cp
            .handle_text(at, &Frame::call("srv", action, payload).to_text())
            .expect("every call is answered");
        match reply {
            Frame::CallResult { payload, .. } => Ok(payload),
            Frame::CallError { code, .. } => Err(code),
            other => panic!("not an answer: {other:?}"),
        }
    }

    /// A call from the server that must succeed: its status, or the whole payload when it has none.
    fn ok(&mut self, action: &str, payload: Value) -> Value {
        match self.call(action, payload.clone()) {
            Ok(answer) => answer,
            Err(code) => panic!("{action} {payload} refused with {code}"),
        }
    }

    fn status_of(&mut self, action: &str, payload: Value) -> String {
        let answer = self.ok(action, payload);
        answer["status"].as_str().unwrap_or_default().to_owned()
    }

    fn plug_in(&mut self) {
        let at = self.at();
        let reading = Reading {
            vehicle: Some(Vehicle {
                id: "car".into(),
                mac_address: None,
            }),
            sample: Sample::default(),
        };
        self.cp.observe(at, reading);
    }

    fn present(&mut self, tag: &str) {
        let at = self.at();
        self.cp.present_card(at, tag);
    }
}

fn actions(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.action.as_str()).collect()
}

fn statuses(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .filter(|s| s.action.ends_with("StatusNotification") && s.action != "StatusNotification")
        .map(|s| s.payload["status"].as_str().unwrap().to_owned())
        .collect()
}

fn connector_statuses(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .filter(|s| s.action == "StatusNotification" && s.payload["connectorId"] == 1)
        .map(|s| {
            s.payload
                .get("status")
                .or(s.payload.get("connectorStatus"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn tx_profile(id: i32, stack_level: i32, limit: f64, valid_to: Option<&str>) -> Value {
    let mut profile = json!({
        "chargingProfileId": id, "stackLevel": stack_level, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
    });
    if let Some(valid_to) = valid_to {
        profile["validTo"] = json!(valid_to);
    }
    json!({"connectorId": 1, "csChargingProfiles": profile})
}

// ---- Every operation answered. ----

#[test]
fn every_1_6_operation_a_central_system_sends_is_answered() {
    let mut rig = Rig::new(OcppVersion::V16);
    let later = "2026-03-02T09:00:00Z";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "ChangeAvailability",
            json!({"connectorId": 1, "type": "Inoperative"}),
            "Accepted",
        ),
        (
            "ChangeAvailability",
            json!({"connectorId": 0, "type": "Operative"}),
            "Accepted",
        ),
        (
            "ChangeConfiguration",
            json!({"key": "MeterValueSampleInterval", "value": "30"}),
            "Accepted",
        ),
        ("ClearCache", json!({}), "Accepted"),
        (
            "DataTransfer",
            json!({"vendorId": "com.example", "data": "x"}),
            "UnknownVendorId",
        ),
        (
            "DataTransfer",
            json!({"vendorId": "Coupler", "data": "ping"}),
            "Accepted",
        ),
        ("RemoteStartTransaction", json!({"idTag": "APP"}), "Accepted"),
        ("RemoteStopTransaction", json!({"transactionId": 7}), "Rejected"),
        ("Reset", json!({"type": "Soft"}), "Accepted"),
        ("UnlockConnector", json!({"connectorId": 1}), "Unlocked"),
        ("TriggerMessage", json!({"requestedMessage": "Heartbeat"}), "Accepted"),
        (
            "TriggerMessage",
            json!({"requestedMessage": "StatusNotification", "connectorId": 3}),
            "Rejected",
        ),
        ("SetChargingProfile", tx_profile(1, 0, 16.0, None), "Accepted"),
        ("ClearChargingProfile", json!({"id": 1}), "Accepted"),
        (
            "GetCompositeSchedule",
            json!({"connectorId": 1, "duration": 600}),
            "Accepted",
        ),
        (
            "ReserveNow",
            json!({"connectorId": 1, "expiryDate": later, "idTag": "RFID", "reservationId": 3}),
            "Occupied",
        ),
        ("CancelReservation", json!({"reservationId": 3}), "Rejected"),
        (
            "SendLocalList",
            json!({"listVersion": 1, "updateType": "Full"}),
            "Accepted",
        ),
        (
            "InstallCertificate",
            json!({"certificateType": "CentralSystemRootCertificate", "certificate": PEM}),
            "Accepted",
        ),
        (
            "GetInstalledCertificateIds",
            json!({"certificateType": "ManufacturerRootCertificate"}),
            "NotFound",
        ),
        ("CertificateSigned", json!({"certificateChain": PEM}), "Accepted"),
        (
            "ExtendedTriggerMessage",
            json!({"requestedMessage": "SignChargePointCertificate"}),
            "Accepted",
        ),
        (
            "GetLog",
            json!({"logType": "SecurityLog", "requestId": 4, "log": {"remoteLocation": "ftp://x/"}}),
            "Accepted",
        ),
    ];
    for (action, payload, expected) in cases {
        assert_eq!(rig.status_of(action, payload.clone()), expected, "{action} {payload}");
    }
    // Operations whose answers carry no status.
    let configuration = rig.ok("GetConfiguration", json!({"key": ["MeterValueSampleInterval"]}));
    assert_eq!(configuration["configurationKey"][0]["value"], "30");
    assert_eq!(
        rig.ok("GetLocalListVersion", json!({}))["listVersion"],
        0,
        "an empty list"
    );
    assert_eq!(
        rig.ok(
            "UpdateFirmware",
            json!({"location": "https://fw/", "retrieveDate": later})
        ),
        json!({})
    );
    assert!(rig.ok("GetDiagnostics", json!({"location": "ftp://x/"}))["fileName"].is_string());
    let signed = rig.ok(
        "SignedUpdateFirmware",
        json!({"requestId": 5, "firmware": {"location": "https://fw/", "retrieveDateTime": later,
            "signingCertificate": PEM, "signature": "c2ln"}}),
    );
    assert_eq!(signed["status"], "AcceptedCanceled", "it replaces the update under way");
    let installed = rig.ok(
        "GetInstalledCertificateIds",
        json!({"certificateType": "CentralSystemRootCertificate"}),
    );
    assert_eq!(installed["status"], "Accepted");
    let hash = installed["certificateHashData"][0].clone();
    assert_eq!(
        rig.status_of("DeleteCertificate", json!({"certificateHashData": hash})),
        "Accepted"
    );
    assert_eq!(
        rig.status_of("DeleteCertificate", json!({"certificateHashData": hash})),
        "NotFound"
    );
}

#[test]
fn every_2_0_1_operation_a_csms_sends_is_answered() {
    let mut rig = Rig::new(OcppVersion::V201);
    let later = "2026-03-02T09:00:00Z";
    let token = json!({"idToken": "RFID", "type": "ISO14443"});
    let variable = json!({"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "ChangeAvailability",
            json!({"operationalStatus": "Inoperative"}),
            "Accepted",
        ),
        (
            "ChangeAvailability",
            json!({"operationalStatus": "Operative", "evse": {"id": 1}}),
            "Accepted",
        ),
        ("ClearCache", json!({}), "Accepted"),
        ("DataTransfer", json!({"vendorId": "com.example"}), "UnknownVendorId"),
        (
            "GetBaseReport",
            json!({"requestId": 1, "reportBase": "FullInventory"}),
            "Accepted",
        ),
        ("TriggerMessage", json!({"requestedMessage": "Heartbeat"}), "Accepted"),
        (
            "TriggerMessage",
            json!({"requestedMessage": "SignV2GCertificate"}),
            "NotImplemented",
        ),
        ("UnlockConnector", json!({"evseId": 1, "connectorId": 1}), "Unlocked"),
        (
            "RequestStartTransaction",
            json!({"remoteStartId": 1, "idToken": token}),
            "Accepted",
        ),
        ("RequestStopTransaction", json!({"transactionId": "none"}), "Rejected"),
        (
            "ReserveNow",
            json!({"id": 2, "expiryDateTime": later, "idToken": token}),
            "Occupied",
        ),
        ("CancelReservation", json!({"reservationId": 2}), "Rejected"),
        ("ClearChargingProfile", json!({"chargingProfileId": 9}), "Unknown"),
        ("GetCompositeSchedule", json!({"evseId": 1, "duration": 60}), "Accepted"),
        (
            "UpdateFirmware",
            json!({"requestId": 3, "firmware": {"location": "https://fw/", "retrieveDateTime": later}}),
            "Accepted",
        ),
        (
            "GetLog",
            json!({"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": "ftp://x/"}}),
            "Accepted",
        ),
        (
            "SendLocalList",
            json!({"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [{"idToken": token, "idTokenInfo": {"status": "Accepted"}}]}),
            "Accepted",
        ),
        (
            "InstallCertificate",
            json!({"certificateType": "CSMSRootCertificate", "certificate": PEM}),
            "Accepted",
        ),
        (
            "GetInstalledCertificateIds",
            json!({"certificateType": ["V2GRootCertificate"]}),
            "NotFound",
        ),
        ("CertificateSigned", json!({"certificateChain": PEM}), "Accepted"),
        (
            "CustomerInformation",
            json!({"requestId": 5, "report": true, "clear": false, "idToken": token}),
            "Accepted",
        ),
        (
            "CustomerInformation",
            json!({"requestId": 6, "report": true, "clear": false}),
            "Invalid",
        ),
        ("Reset", json!({"type": "OnIdle"}), "Accepted"),
    ];
    for (action, payload, expected) in cases {
        assert_eq!(rig.status_of(action, payload.clone()), expected, "{action} {payload}");
    }
    let set = rig.ok("SetVariables", json!({"setVariableData": [{"attributeValue": "120", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}));
    assert_eq!(set["setVariableResult"][0]["attributeStatus"], "Accepted");
    let get = rig.ok("GetVariables", json!({"getVariableData": [variable]}));
    assert_eq!(get["getVariableResult"][0]["attributeValue"], "120");
    assert_eq!(rig.ok("GetLocalListVersion", json!({}))["versionNumber"], 1);
    let installed = rig.ok("GetInstalledCertificateIds", json!({}));
    assert_eq!(
        installed["certificateHashDataChain"][0]["certificateType"],
        "CSMSRootCertificate"
    );
    let hash = installed["certificateHashDataChain"][0]["certificateHashData"].clone();
    assert_eq!(
        rig.status_of("DeleteCertificate", json!({"certificateHashData": hash})),
        "Accepted"
    );
    let sent = rig.drain();
    for message in ["NotifyReport", "NotifyCustomerInformation", "Heartbeat"] {
        assert!(actions(&sent).contains(&message), "{message} in {:?}", actions(&sent));
    }
}

#[test]
fn an_unknown_action_is_not_implemented_and_a_malformed_payload_gets_the_matching_error() {
    for version in [OcppVersion::V16, OcppVersion::V201] {
        let mut rig = Rig::new(version);
        let v16 = version == OcppVersion::V16;
        assert_eq!(rig.call("Frobnicate", json!({})).unwrap_err(), "NotImplemented");
        assert_eq!(
            rig.call("BootNotification", json!({})).unwrap_err(),
            "NotSupported",
            "a charge point's own message"
        );
        let occurrence = if v16 {
            "OccurenceConstraintViolation"
        } else {
            "OccurrenceConstraintViolation"
        };
        let format = if v16 { "FormationViolation" } else { "FormatViolation" };
        let list = json!({"updateType": "Full"});
        assert_eq!(
            rig.call("SendLocalList", list).unwrap_err(),
            occurrence,
            "a missing version"
        );
        assert_eq!(
            rig.call("GetLocalListVersion", json!({"x": 1})).unwrap_err(),
            format,
            "an unknown field"
        );
        assert_eq!(
            rig.call("GetLocalListVersion", json!([])).unwrap_err(),
            format,
            "not an object"
        );
        let kind = json!({"certificateType": "Nope", "certificate": PEM});
        assert_eq!(
            rig.call("InstallCertificate", kind).unwrap_err(),
            "PropertyConstraintViolation"
        );
        let long = "x".repeat(10_001);
        assert_eq!(
            rig.call("CertificateSigned", json!({"certificateChain": long}))
                .unwrap_err(),
            "TypeConstraintViolation"
        );
        assert!(
            rig.drain().iter().all(|s| s.action != "StartTransaction"),
            "refused calls change nothing"
        );
    }
}

// ---- Firmware, uploads, reservations. ----

#[test]
fn a_firmware_update_walks_downloading_downloaded_installing_installed() {
    for version in [OcppVersion::V16, OcppVersion::V201] {
        let mut rig = Rig::new(version);
        let firmware = match version {
            OcppVersion::V16 => json!({"location": "https://fw/1.bin", "retrieveDate": "2026-03-02T08:00:00Z"}),
            OcppVersion::V201 => {
                json!({"requestId": 8, "firmware": {"location": "https://fw/1.bin", "retrieveDateTime": "2026-03-02T08:00:00Z"}})
            }
        };
        rig.ok("UpdateFirmware", firmware);
        let mut sent = Vec::new();
        for _ in 0..6 {
            rig.advance(1);
            sent.extend(rig.drain());
        }
        assert_eq!(
            statuses(&sent),
            ["Downloading", "Downloaded", "Installing", "Installed"],
            "{version}"
        );
        if version == OcppVersion::V201 {
            assert!(sent
                .iter()
                .filter(|s| s.action == "FirmwareStatusNotification")
                .all(|s| s.payload["requestId"] == 8));
        }
        assert!(
            actions(&sent).contains(&"SecurityEventNotification"),
            "FirmwareUpdated is a security event"
        );
        let trigger = json!({"requestedMessage": "FirmwareStatusNotification"});
        rig.ok("TriggerMessage", trigger);
        assert_eq!(
            statuses(&rig.drain()),
            ["Installed"],
            "a trigger reports the last status"
        );
    }
}

#[test]
fn a_signed_firmware_update_verifies_its_signature_and_a_bad_signing_certificate_is_refused() {
    let mut rig = Rig::new(OcppVersion::V16);
    let update = |certificate: &str| {
        json!({"requestId": 9, "firmware": {"location": "https://fw/", "retrieveDateTime": "2026-03-02T08:00:00Z",
            "signingCertificate": certificate, "signature": "c2ln"}})
    };
    assert_eq!(
        rig.status_of("SignedUpdateFirmware", update("not a certificate")),
        "InvalidCertificate"
    );
    assert_eq!(rig.status_of("SignedUpdateFirmware", update(PEM)), "Accepted");
    let mut sent = rig.drain();
    for _ in 0..6 {
        rig.advance(1);
        sent.extend(rig.drain());
    }
    let signed: Vec<_> = sent
        .iter()
        .filter(|s| s.action == "SignedFirmwareStatusNotification")
        .collect();
    let walked: Vec<_> = signed.iter().map(|s| s.payload["status"].as_str().unwrap()).collect();
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
    assert!(signed.iter().all(|s| s.payload["requestId"] == 9));
    let events: Vec<_> = sent
        .iter()
        .filter(|s| s.action == "SecurityEventNotification")
        .map(|s| s.payload["type"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["InvalidFirmwareSigningCertificate", "FirmwareUpdated"]);
}

#[test]
fn a_diagnostics_upload_and_a_log_upload_end_uploaded() {
    let mut rig = Rig::new(OcppVersion::V16);
    rig.ok("GetDiagnostics", json!({"location": "ftp://x/"}));
    let mut sent = Vec::new();
    for _ in 0..3 {
        rig.advance(1);
        sent.extend(rig.drain());
    }
    assert_eq!(statuses(&sent), ["Uploading", "Uploaded"]);
    let answer = rig.ok(
        "GetLog",
        json!({"logType": "DiagnosticsLog", "requestId": 2, "log": {"remoteLocation": "ftp://x/"}}),
    );
    assert_eq!(answer["filename"], "DiagnosticsLog-CP1.log");
    let mut sent = Vec::new();
    for _ in 0..3 {
        rig.advance(1);
        sent.extend(rig.drain());
    }
    let logs: Vec<_> = sent.iter().filter(|s| s.action == "LogStatusNotification").collect();
    assert_eq!(logs.len(), 2);
    assert_eq!(
        (logs[1].payload["status"].clone(), logs[1].payload["requestId"].clone()),
        (json!("Uploaded"), json!(2))
    );
}

#[test]
fn a_reservation_shows_reserved_starts_its_holders_transaction_and_another_one_expires() {
    let mut rig = Rig::with(Config {
        free_vend: false,
        ..Config::home("CP1", OcppVersion::V16)
    });
    let reserve = |id: i32, minutes: i64, wall: DateTime<Utc>| json!({"connectorId": 1, "expiryDate": wall + chrono::Duration::minutes(minutes), "idTag": "RFID-1", "reservationId": id});
    assert_eq!(rig.status_of("ReserveNow", reserve(5, 30, rig.wall)), "Accepted");
    assert_eq!(
        rig.status_of("ReserveNow", reserve(6, 30, rig.wall)),
        "Occupied",
        "one connector, one reservation"
    );
    assert_eq!(connector_statuses(&rig.drain()), ["Reserved"]);
    // Someone else's card starts nothing; the holder's does, and names the reservation.
    assert_eq!(
        rig.status_of("RemoteStartTransaction", json!({"idTag": "OTHER"})),
        "Rejected"
    );
    rig.plug_in();
    rig.present("RFID-1");
    let sent = rig.drain();
    let start = sent.iter().find(|s| s.action == "StartTransaction").unwrap();
    assert_eq!(
        (start.payload["idTag"].clone(), start.payload["reservationId"].clone()),
        (json!("RFID-1"), json!(5))
    );

    let mut rig = Rig::new(OcppVersion::V201);
    let expiry = rig.wall + chrono::Duration::seconds(90);
    let reserved = rig.status_of(
        "ReserveNow",
        json!({"id": 9, "expiryDateTime": expiry, "idToken": {"idToken": "RFID-2", "type": "ISO14443"}}),
    );
    assert_eq!(reserved, "Accepted");
    assert_eq!(connector_statuses(&rig.drain()), ["Reserved"]);
    assert_eq!(rig.cp.next_timer(rig.at()), Some(rig.now + Duration::from_secs(90)));
    rig.advance(91);
    let sent = rig.drain();
    let update = sent.iter().find(|s| s.action == "ReservationStatusUpdate").unwrap();
    assert_eq!(
        update.payload,
        json!({"reservationId": 9, "reservationUpdateStatus": "Expired"})
    );
    assert_eq!(connector_statuses(&sent), ["Available"]);
}

// ---- Authorisation. ----

#[test]
fn a_local_list_is_replaced_in_full_then_changed_by_differential_updates_in_version_order() {
    let mut rig = Rig::new(OcppVersion::V16);
    let entry = |tag: &str, status: &str| json!({"idTag": tag, "idTagInfo": {"status": status}});
    let full = json!({"listVersion": 3, "updateType": "Full",
        "localAuthorizationList": [entry("A", "Accepted"), entry("B", "Blocked")]});
    assert_eq!(rig.status_of("SendLocalList", full), "Accepted");
    assert_eq!(rig.ok("GetLocalListVersion", json!({}))["listVersion"], 3);
    let stale =
        json!({"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [entry("C", "Accepted")]});
    assert_eq!(rig.status_of("SendLocalList", stale), "VersionMismatch");
    // A differential update adds C and removes A (an entry without idTagInfo).
    let next = json!({"listVersion": 4, "updateType": "Differential",
        "localAuthorizationList": [entry("C", "Accepted"), {"idTag": "A"}]});
    assert_eq!(rig.status_of("SendLocalList", next), "Accepted");
    assert_eq!(rig.ok("GetLocalListVersion", json!({}))["listVersion"], 4);
    let listed: Vec<_> = rig.cp.local_list.keys().cloned().collect();
    assert_eq!(listed, ["B", "C"]);
    // More entries in one message than SendLocalListMaxLength: Failed, nothing changes.
    let many: Vec<_> = (0..51).map(|i| entry(&format!("T{i}"), "Accepted")).collect();
    let too_many = json!({"listVersion": 5, "updateType": "Full", "localAuthorizationList": many});
    assert_eq!(rig.status_of("SendLocalList", too_many), "Failed");
    assert_eq!(rig.cp.local_list.len(), 2);
    // Lists switched off: NotSupported, and the version reads -1.
    rig.ok(
        "ChangeConfiguration",
        json!({"key": "LocalAuthListEnabled", "value": "false"}),
    );
    assert_eq!(
        rig.status_of("SendLocalList", json!({"listVersion": 6, "updateType": "Full"})),
        "NotSupported"
    );
    assert_eq!(rig.ok("GetLocalListVersion", json!({}))["listVersion"], -1);
}

#[test]
fn a_card_on_the_local_list_starts_without_authorize_and_a_blocked_one_starts_nothing() {
    let mut rig = Rig::with(Config {
        free_vend: false,
        ..Config::home("CP1", OcppVersion::V16)
    });
    let list = json!({"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "GOOD", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "BAD", "idTagInfo": {"status": "Blocked"}}]});
    rig.ok("SendLocalList", list);
    rig.plug_in();
    rig.drain();
    rig.present("BAD");
    assert!(rig.drain().is_empty(), "a blocked card starts nothing");
    rig.present("GOOD");
    assert_eq!(actions(&rig.drain()), ["StartTransaction", "StatusNotification"]);
    assert!(rig.cp.is_charging());
}

#[test]
fn the_authorisation_cache_remembers_an_accepted_card_until_it_is_cleared() {
    let mut rig = Rig::with(Config {
        free_vend: false,
        ..Config::home("CP1", OcppVersion::V16)
    });
    rig.plug_in();
    rig.present("CARD");
    assert_eq!(actions(&rig.drain())[..2], ["StatusNotification", "Authorize"]);
    rig.present("CARD"); // the same card ends it
    rig.drain();
    assert!(!rig.cp.has_transaction());
    rig.present("CARD");
    assert!(!actions(&rig.drain()).contains(&"Authorize"), "answered from the cache");
    rig.present("CARD");
    rig.drain();
    assert_eq!(rig.status_of("ClearCache", json!({})), "Accepted");
    rig.present("CARD");
    assert!(
        actions(&rig.drain()).contains(&"Authorize"),
        "asked again after the cache was cleared"
    );
}

#[test]
fn a_refused_token_ends_the_transaction_the_server_started_at_once() {
    let mut rig = Rig::new(OcppVersion::V16);
    rig.plug_in();
    loop {
        let (id, call) = rig.send().unwrap();
        let answer = match call.action.as_str() {
            "Authorize" => json!({"idTagInfo": {"status": "Accepted"}}),
            "StartTransaction" => json!({"transactionId": 9, "idTagInfo": {"status": "Blocked"}}),
            _ => json!({}),
        };
        rig.answer(&id, answer);
        if call.action == "StartTransaction" {
            break;
        }
    }
    let sent = rig.drain();
    let stop = sent.iter().find(|s| s.action == "StopTransaction").unwrap();
    assert_eq!(
        (stop.payload["transactionId"].clone(), stop.payload["reason"].clone()),
        (json!(9), json!("DeAuthorized"))
    );
}

// ---- Charging profiles. ----

#[test]
fn profiles_stack_by_stack_level_and_expire_at_their_valid_to() {
    let mut rig = Rig::new(OcppVersion::V16);
    assert_eq!(
        rig.status_of("SetChargingProfile", tx_profile(1, 0, 10.0, None)),
        "Accepted"
    );
    assert_eq!(
        rig.status_of(
            "SetChargingProfile",
            tx_profile(2, 5, 20.0, Some("2026-03-02T08:30:00Z"))
        ),
        "Accepted"
    );
    assert_eq!(rig.cp.limit_at(rig.wall), 20.0, "the highest stack level wins");
    let schedule = rig.ok("GetCompositeSchedule", json!({"connectorId": 1, "duration": 3600}));
    let periods = &schedule["chargingSchedule"]["chargingSchedulePeriod"];
    assert_eq!(
        periods,
        &json!([{"startPeriod": 0, "limit": 20.0}, {"startPeriod": 1800, "limit": 10.0}])
    );
    rig.advance(1800);
    assert_eq!(
        rig.cp.limit_at(rig.wall),
        10.0,
        "at validTo the lower one is in force again"
    );
    assert_eq!(
        rig.status_of("SetChargingProfile", tx_profile(3, 11, 8.0, None)),
        "Rejected",
        "above the stack levels"
    );
    let tx = json!({"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 7, "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}}});
    assert_eq!(
        rig.status_of("SetChargingProfile", tx),
        "Rejected",
        "a TxProfile needs a transaction"
    );
    assert_eq!(
        rig.status_of(
            "ClearChargingProfile",
            json!({"chargingProfilePurpose": "TxDefaultProfile"})
        ),
        "Accepted"
    );
    assert_eq!(
        rig.status_of("ClearChargingProfile", json!({})),
        "Unknown",
        "nothing left to clear"
    );
}

#[test]
fn a_charging_transaction_offers_what_its_profile_allows_and_reports_the_change() {
    let mut rig = Rig::new(OcppVersion::V201);
    rig.plug_in();
    let sent = rig.drain();
    let started = sent.iter().find(|s| s.action == "TransactionEvent").unwrap();
    assert_eq!(started.payload["eventType"], "Started");
    assert_eq!(rig.cp.offered_current(), 32.0);
    let profile = json!({"evseId": 1, "chargingProfile": {"id": 4, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}]}]}});
    assert_eq!(rig.status_of("SetChargingProfile", profile), "Accepted");
    assert_eq!(rig.cp.offered_current(), 0.0);
    assert_eq!(rig.cp.status(), Some(Status::SuspendedEvse));
    let sent = rig.drain();
    let update = sent.iter().find(|s| s.action == "TransactionEvent").unwrap();
    assert_eq!(update.payload["transactionInfo"]["chargingState"], "SuspendedEVSE");
}

// ---- Settings, resets, triggers. ----

#[test]
fn settings_change_within_their_rules() {
    let mut rig = Rig::new(OcppVersion::V16);
    let mut change = |key: &str, value: &str| rig.status_of("ChangeConfiguration", json!({"key": key, "value": value}));
    assert_eq!(change("MeterValueSampleInterval", "15"), "Accepted");
    assert_eq!(change("MeterValueSampleInterval", "often"), "Rejected");
    assert_eq!(change("NumberOfConnectors", "2"), "Rejected");
    assert_eq!(change("NoSuchKey", "1"), "NotSupported");
    let read = rig.ok(
        "GetConfiguration",
        json!({"key": ["meterValueSampleInterval", "NoSuchKey"]}),
    );
    assert_eq!(read["configurationKey"][0]["value"], "15");
    assert_eq!(read["unknownKey"], json!(["NoSuchKey"]));
}

#[test]
fn a_reset_ends_the_transaction_then_closes_and_boots_again_with_a_security_event() {
    let mut rig = Rig::new(OcppVersion::V16);
    rig.plug_in();
    rig.drain();
    assert!(rig.cp.is_charging());
    assert_eq!(rig.status_of("Reset", json!({"type": "Hard"})), "Accepted");
    let sent = rig.drain();
    let stop = sent.iter().find(|s| s.action == "StopTransaction").unwrap();
    assert_eq!(stop.payload["reason"], "HardReset");
    assert!(rig.cp.take_reset());
    let at = rig.at();
    rig.cp.disconnected(at);
    rig.cp.connected(at);
    let sent = rig.drain();
    assert_eq!(sent[0].action, "BootNotification");
    assert!(sent
        .iter()
        .any(|s| s.action == "SecurityEventNotification" && s.payload["type"] == "ResetOrReboot"));
}

#[test]
fn an_extended_trigger_asks_for_a_certificate_signing_request() {
    let mut rig = Rig::new(OcppVersion::V16);
    assert_eq!(
        rig.status_of(
            "ExtendedTriggerMessage",
            json!({"requestedMessage": "SignChargePointCertificate"})
        ),
        "Accepted"
    );
    let sent = rig.drain();
    assert_eq!(actions(&sent), ["SignCertificate"]);
    assert!(sent[0].payload["csr"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
}

#[test]
fn customer_information_reports_what_the_station_keeps_of_a_token() {
    let mut rig = Rig::new(OcppVersion::V201);
    let token = json!({"idToken": "RFID-9", "type": "ISO14443"});
    rig.ok(
        "SendLocalList",
        json!({"versionNumber": 2, "updateType": "Full",
        "localAuthorizationList": [{"idToken": token, "idTokenInfo": {"status": "Blocked"}}]}),
    );
    rig.ok(
        "CustomerInformation",
        json!({"requestId": 7, "report": true, "clear": true, "idToken": token}),
    );
    let sent = rig.drain();
    let report = sent.iter().find(|s| s.action == "NotifyCustomerInformation").unwrap();
    assert_eq!(report.payload["requestId"], 7);
    assert!(report.payload["data"].as_str().unwrap().contains("local list Blocked"));
}
