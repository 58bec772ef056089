//! OCPP 1.6J conformance: an independent charge point (the Python `ocpp` package, which validates
//! every message against the official schemas) talks to Coupler over real WebSockets.

use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::json;

async fn charger(app: &TestApp, tenant: &Tenant, ocpp_id: &str) -> (String, PythonChargePoint) {
    let registered = app.register_charger(tenant, "alice", ocpp_id).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let cp = PythonChargePoint::connected(url, ocpp_id, registered["password"].as_str().unwrap()).await;
    (registered["id"].as_str().unwrap().to_owned(), cp)
}

#[tokio::test]
async fn a_charge_point_boots_reports_and_runs_a_transaction_that_the_api_shows() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CONF-1").await;

    let boot = cp.boot("Available").await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"], 300);

    // After the boot Coupler reads the configuration and sets the meter values it needs.
    cp.received("GetConfiguration").await;
    let interval = cp.received("ChangeConfiguration").await;
    assert_eq!(interval, json!({"key": "MeterValueSampleInterval", "value": "60"}));
    let measurands = cp.received("ChangeConfiguration").await;
    assert_eq!(measurands["key"], "MeterValuesSampledData");
    assert!(measurands["value"].as_str().unwrap().contains("Power.Active.Import"));

    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["isReachable"], true);
    assert_eq!(
        shown["information"],
        json!({"brand": "PyCharge", "model": "Conformance", "serialNumber": "SN-1", "firmwareVersion": "1.2.3", "ocppVersion": "1.6"})
    );
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "UNPLUGGED");

    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "Preparing"}),
    )
    .await;
    let authorized = cp.call("Authorize", json!({"id_tag": "VID:92D50A693F80"})).await;
    assert_eq!(authorized["id_tag_info"]["status"], "Accepted");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "PLUGGED_IN:INITIALIZING");
    assert_eq!(shown["chargeState"]["isPluggedIn"], true);

    let started = cp
        .call("StartTransaction", json!({"connector_id": 1, "id_tag": "VID:92D50A693F80", "meter_start": 10_000, "timestamp": "2026-11-21T10:00:00Z"}))
        .await;
    let transaction_id = started["transaction_id"].as_i64().unwrap();
    assert!(transaction_id > 0);
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "Charging"}),
    )
    .await;
    cp.call(
        "MeterValues",
        json!({"connector_id": 1, "transaction_id": transaction_id, "meter_value": [{"timestamp": "2026-11-21T10:15:00Z", "sampledValue": [
            {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "32.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
            {"value": "21.5", "measurand": "Temperature", "unit": "Celcius"},
            {"value": "61", "measurand": "SoC", "unit": "Percent"}
        ]}]}),
    )
    .await;
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    let state = &shown["chargeState"];
    assert_eq!(state["powerDeliveryState"], "PLUGGED_IN:CHARGING");
    assert_eq!(state["isCharging"], true);
    assert_eq!(state["chargeRate"], 7.4);
    assert_eq!(state["sessionEnergy"], 2.5);

    cp.call(
        "StopTransaction",
        json!({"meter_stop": 16_000, "timestamp": "2026-11-21T11:00:00Z", "transaction_id": transaction_id, "reason": "EVDisconnected",
               "transaction_data": [{"timestamp": "2026-11-21T11:00:00Z", "sampledValue": [{"value": "16000", "context": "Transaction.End"}]}]}),
    )
    .await;
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "Available"}),
    )
    .await;
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    let session = &sessions["data"][0];
    assert_eq!(session["id"], transaction_id);
    assert_eq!(session["energy"], 6.0);
    assert_eq!(session["stopReason"], "EVDisconnected");
    assert_eq!(session["idTag"], "VID:92D50A693F80");
    cp.call("Heartbeat", json!({})).await;
    let transfer = cp
        .call(
            "DataTransfer",
            json!({"vendor_id": "com.example", "message_id": "hello", "data": "{}"}),
        )
        .await;
    assert_eq!(transfer["status"], "UnknownVendorId");
    cp.call("FirmwareStatusNotification", json!({"status": "Downloading"}))
        .await;
    cp.call("DiagnosticsStatusNotification", json!({"status": "Idle"}))
        .await;
    cp.close().await;
}

#[tokio::test]
async fn rest_start_max_current_and_stop_reach_the_charge_point_and_are_confirmed_by_its_state() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CONF-2").await;
    cp.boot("Preparing").await;

    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    assert_eq!(start["state"], "PENDING");
    assert_eq!(start["kind"], "START");
    let remote_start = cp.received("RemoteStartTransaction").await;
    assert_eq!(remote_start["id_tag"], "COUPLER");
    assert_eq!(remote_start["connector_id"], 1);
    let start = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
    assert_eq!(start["state"], "CONFIRMED", "{start}");
    assert_eq!(start["attempts"][0]["via"], "charger");
    assert_eq!(start["attempts"][0]["outcome"], "CONFIRMED");

    let limit: serde_json::Value = app
        .post_json(
            &tenant,
            &format!("/chargers/{id}/max-current"),
            json!({"maxCurrent": 10}),
        )
        .await;
    let profile = cp.received("SetChargingProfile").await;
    let installed = &profile["cs_charging_profiles"];
    assert_eq!(installed["charging_profile_purpose"], "TxProfile");
    assert!(installed["transaction_id"].as_i64().is_some());
    assert_eq!(installed["charging_schedule"]["charging_rate_unit"], "A");
    assert_eq!(
        installed["charging_schedule"]["charging_schedule_period"][0]["limit"],
        10.0
    );
    cp.received("GetCompositeSchedule").await;
    let limit = app.settled_action(&tenant, limit["id"].as_str().unwrap()).await;
    assert_eq!(limit["state"], "CONFIRMED", "{limit}");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["maxCurrent"], 10.0);

    let stop = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "STOP"}))
        .await;
    cp.received("RemoteStopTransaction").await;
    let stop = app.settled_action(&tenant, stop["id"].as_str().unwrap()).await;
    assert_eq!(stop["state"], "CONFIRMED", "{stop}");
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    assert_eq!(sessions["data"][0]["stopReason"], "Remote");
    assert_eq!(sessions["data"][0]["energy"], 0.75);
    cp.close().await;
}

#[tokio::test]
async fn a_max_current_set_while_idle_becomes_the_default_profile() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CONF-3").await;
    cp.boot("Available").await;
    let limit: serde_json::Value = app
        .post_json(
            &tenant,
            &format!("/chargers/{id}/max-current"),
            json!({"maxCurrent": 6.5}),
        )
        .await;
    let profile = cp.received("SetChargingProfile").await;
    assert_eq!(profile["connector_id"], 0);
    assert_eq!(
        profile["cs_charging_profiles"]["charging_profile_purpose"],
        "TxDefaultProfile"
    );
    assert_eq!(
        profile["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"],
        6.5
    );
    let limit = app.settled_action(&tenant, limit["id"].as_str().unwrap()).await;
    assert_eq!(limit["state"], "CONFIRMED", "{limit}");
    cp.close().await;
}

#[tokio::test]
async fn a_start_the_charger_refuses_fails_with_its_answer() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CONF-4").await;
    cp.boot("Preparing").await;
    cp.set("remote_start", "reject").await;
    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    cp.received("RemoteStartTransaction").await;
    let start = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
    assert_eq!(start["state"], "FAILED");
    assert_eq!(start["failureReason"]["type"], "FAILED_PRECONDITION");
    assert_eq!(start["attempts"][0]["outcome"], "REJECTED");
    cp.close().await;
}

#[tokio::test]
async fn a_start_the_charger_accepts_but_that_never_charges_fails_with_no_response() {
    // Short enough to fail soon, long enough that a busy machine still sends the start first (at
    // 2 s the deadline sometimes passed before the runner took the action up, 1 run in 10 under load).
    let app = TestApp::spawn_with(|_, s| s.chargers.action_timeout = std::time::Duration::from_secs(8)).await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CONF-5").await;
    cp.boot("Preparing").await;
    cp.set("remote_start", "accept_without_charging").await;
    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    cp.received("RemoteStartTransaction").await;
    let start = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
    assert_eq!(start["state"], "FAILED", "{start}");
    assert_eq!(start["failureReason"]["type"], "NO_RESPONSE");
    assert_eq!(start["attempts"][0]["outcome"], "NO_EFFECT");
    cp.close().await;
}

#[tokio::test]
async fn commands_that_cannot_apply_fail_at_once_with_the_reason() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-OFFLINE").await;
    let id = registered["id"].as_str().unwrap();
    let post = |body: serde_json::Value, path: &'static str| {
        let request = app
            .as_tenant(&tenant, Method::POST, &format!("/chargers/{id}/{path}"))
            .json(&body);
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let offline = post(json!({"action": "START"}), "charging").await;
    let offline = app.settled_action(&tenant, offline["id"].as_str().unwrap()).await;
    assert_eq!(offline["failureReason"]["type"], "FAILED_PRECONDITION");
    assert!(offline["failureReason"]["detail"]
        .as_str()
        .unwrap()
        .contains("not connected"));

    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-OFFLINE",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Available").await;
    let unplugged = post(json!({"action": "START"}), "charging").await;
    let unplugged = app.settled_action(&tenant, unplugged["id"].as_str().unwrap()).await;
    assert_eq!(unplugged["failureReason"]["type"], "FAILED_PRECONDITION");
    let idle_stop = post(json!({"action": "STOP"}), "charging").await;
    let idle_stop = app.settled_action(&tenant, idle_stop["id"].as_str().unwrap()).await;
    assert_eq!(idle_stop["failureReason"]["type"], "UNNECESSARY");
    cp.close().await;
}

/// The charger-control interface the engine uses: every command reaches the independent charge
/// point as a valid 1.6 call and its answer comes back as a version-neutral reply.
#[tokio::test]
async fn every_command_of_the_charger_control_interface_is_valid_16_and_answered() {
    use coupler_core::control::{ChargerCommand, ChargerControl, ChargingLimit, LimitPurpose, RateUnit, TriggerKind};
    use coupler_core::ChargerId;

    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CONTROL").await;
    cp.boot("Available").await;
    let id = ChargerId::new(id);
    let control = app.gateway();
    let limit = ChargingLimit {
        valid_to: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..ChargingLimit::constant(7, LimitPurpose::StationMax, 0, RateUnit::Watts, 11_000.0)
    };
    let commands = [
        (
            ChargerCommand::SetLimit { connector_id: 0, limit },
            "SetChargingProfile",
        ),
        (
            ChargerCommand::GetCompositeSchedule {
                connector_id: 0,
                duration_s: 3600,
                unit: Some(RateUnit::Watts),
            },
            "GetCompositeSchedule",
        ),
        (
            ChargerCommand::ClearLimit {
                profile_id: Some(7),
                connector_id: None,
                purpose: None,
                stack_level: None,
            },
            "ClearChargingProfile",
        ),
        (
            ChargerCommand::GetConfiguration {
                keys: vec!["MeterValueSampleInterval".into()],
            },
            "GetConfiguration",
        ),
        (
            ChargerCommand::ChangeConfiguration {
                key: "HeartbeatInterval".into(),
                value: "120".into(),
            },
            "ChangeConfiguration",
        ),
        (
            ChargerCommand::Trigger {
                message: TriggerKind::Heartbeat,
                connector_id: None,
            },
            "TriggerMessage",
        ),
        (
            ChargerCommand::ChangeAvailability {
                connector_id: 1,
                evse_connector_id: None,
                operative: false,
            },
            "ChangeAvailability",
        ),
        (
            ChargerCommand::UnlockConnector {
                connector_id: 1,
                evse_connector_id: None,
            },
            "UnlockConnector",
        ),
        (
            ChargerCommand::Reset {
                kind: coupler_core::control::ResetKind::Soft,
                evse_id: None,
            },
            "Reset",
        ),
    ];
    for (command, action) in commands {
        let name = command.name();
        let reply = control
            .send(&id, command)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(reply.is_accepted(), "{name}: {reply:?}");
        let received = loop {
            let payload = cp.received(action).await;
            // The configuration Coupler sets after a boot arrives through the same calls.
            let ours = (action != "ChangeConfiguration" || payload["key"] == "HeartbeatInterval")
                && (action != "GetConfiguration" || !payload.as_object().unwrap().is_empty());
            if ours {
                break payload;
            }
        };
        assert!(received.is_object(), "{action}");
    }
    cp.close().await;
}

#[tokio::test]
async fn an_unknown_charger_admitted_as_pending_is_answered_pending_and_nothing_else() {
    let app = TestApp::spawn_with(|_, s| s.gateway.admit_unknown = true).await;
    let url = format!("{}/ocpp/CP-STRANGER", app.url.replace("http://", "ws://"));
    let mut cp = PythonChargePoint::connected(&url, "CP-STRANGER", "no-password-needed").await;
    let boot = cp
        .call(
            "BootNotification",
            json!({"charge_point_vendor": "V", "charge_point_model": "M"}),
        )
        .await;
    assert_eq!(boot["status"], "Pending");
    let status = cp
        .try_call(
            "StatusNotification",
            json!({"connector_id": 1, "error_code": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(status["event"], "call_error", "{status}");
    assert!(status["error"].as_str().unwrap().contains("SecurityError"), "{status}");
    cp.close().await;
}

/// The gateway and the engine take the time from the clock they are given: a charger's
/// connection and boot are stamped with the wired clock's time, not the machine's.
#[tokio::test]
async fn what_a_charger_reports_is_stamped_with_the_wired_clock() {
    let at = chrono::DateTime::parse_from_rfc3339("2031-05-04T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = std::sync::Arc::new(coupler_core::clock::ManualClock::at(at));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-CLOCK").await;
    cp.boot("Available").await;
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["lastSeen"], "2031-05-04T12:00:00Z", "{shown}");

    clock.advance(chrono::Duration::minutes(5));
    cp.call("Heartbeat", json!({})).await;
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["lastSeen"], "2031-05-04T12:05:00Z", "{shown}");
    cp.close().await;
}

/// A max current of 0 holds the transaction suspended by the charger (SuspendedEVSE). A START then
/// lifts Coupler's own limit (the `user` source; ClearChargingProfile) instead of failing, and is confirmed when the
/// charger charges again.
#[tokio::test]
async fn start_on_a_session_held_by_coupler_s_zero_limit_lifts_the_limit_and_is_confirmed() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = charger(&app, &tenant, "CP-HELD").await;
    cp.boot("Preparing").await;
    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    cp.received("RemoteStartTransaction").await;
    assert_eq!(
        app.settled_action(&tenant, start["id"].as_str().unwrap()).await["state"],
        "CONFIRMED"
    );

    let hold = app
        .post_json(
            &tenant,
            &format!("/chargers/{id}/max-current"),
            json!({"maxCurrent": 0}),
        )
        .await;
    cp.received("SetChargingProfile").await;
    // The charger obeys: power stops, the transaction stays open, suspended by the charger.
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "SuspendedEVSE"}),
    )
    .await;
    assert_eq!(
        app.settled_action(&tenant, hold["id"].as_str().unwrap()).await["state"],
        "CONFIRMED"
    );

    let resume = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    // The hold is the charger's `user` limit source: lifting it clears the profile Coupler put on
    // the charger for it (ids 1000–1199 are the user's TxDefault and Tx profiles).
    let cleared = cp.received("ClearChargingProfile").await;
    assert!(
        cleared["id"].as_i64().is_some_and(|id| (1000..1200).contains(&id)),
        "the user's limit: {cleared}"
    );
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": "Charging"}),
    )
    .await;
    let resume = app.settled_action(&tenant, resume["id"].as_str().unwrap()).await;
    assert_eq!(resume["state"], "CONFIRMED", "{resume}");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert!(
        shown["chargeState"]["maxCurrent"].is_null(),
        "the limit is gone: {shown}"
    );
    cp.close().await;
}
