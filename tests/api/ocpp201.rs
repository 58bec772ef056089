//! OCPP 2.0.1 conformance: an independent charging station (the Python `ocpp` package's `ocpp.v201`,
//! which validates every message against the official 2.0.1 schemas) talks to Coupler over real
//! WebSockets, on the same URL as 1.6.

use coupler_tests::ocpp::{OcppVersion, PythonChargePoint};
use coupler_tests::{Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn station(app: &TestApp, tenant: &Tenant, ocpp_id: &str) -> (String, PythonChargePoint) {
    let registered = app.register_charger(tenant, "alice", ocpp_id).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let password = registered["password"].as_str().unwrap();
    let cp = PythonChargePoint::connected_as(OcppVersion::V201, url, ocpp_id, password).await;
    (registered["id"].as_str().unwrap().to_owned(), cp)
}

fn energy(wh: f64, context: Option<&str>) -> Value {
    let mut value = json!({"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}});
    if let Some(context) = context {
        value["context"] = json!(context);
    }
    value
}

async fn post(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> Value {
    app.as_tenant(tenant, Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_2_0_1_station_boots_reports_and_runs_a_transaction_that_the_api_shows() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = station(&app, &tenant, "CP201-CONF-1").await;

    let boot = cp.boot_201("Available").await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"], 300);

    // After the boot Coupler reads the sampled-data settings and sets the ones it needs.
    let read = cp.received("GetVariables").await;
    assert_eq!(read["get_variable_data"][0]["component"]["name"], "SampledDataCtrlr");
    let interval = cp.received("SetVariables").await;
    assert_eq!(
        interval["set_variable_data"][0]["variable"]["name"],
        "TxUpdatedInterval"
    );
    assert_eq!(interval["set_variable_data"][0]["attribute_value"], "60");
    let measurands = cp.received("SetVariables").await;
    assert!(measurands["set_variable_data"][0]["attribute_value"]
        .as_str()
        .unwrap()
        .contains("Power.Active.Import"));

    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["isReachable"], true);
    assert_eq!(
        shown["information"],
        json!({"brand": "PyCharge", "model": "Conformance", "serialNumber": "SN-2", "firmwareVersion": "2.0.1-a", "ocppVersion": "2.0.1"})
    );
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "UNPLUGGED");

    cp.status_201("Occupied").await;
    let authorized = cp
        .call(
            "Authorize",
            json!({"id_token": {"idToken": "92:D5:0A:69:3F:80", "type": "MacAddress"}}),
        )
        .await;
    assert_eq!(authorized["id_token_info"]["status"], "Accepted");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "PLUGGED_IN:INITIALIZING");

    let token = json!({"idToken": "92D50A693F80", "type": "MacAddress"});
    let started = cp
        .call(
            "TransactionEvent",
            json!({"event_type": "Started", "timestamp": "2026-11-21T10:00:00Z", "trigger_reason": "CablePluggedIn", "seq_no": 0,
                   "transaction_info": {"transactionId": "tx-201-a", "chargingState": "EVConnected"},
                   "evse": {"id": 1, "connectorId": 1}, "id_token": token,
                   "meter_value": [{"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [energy(10_000.0, Some("Transaction.Begin"))]}]}),
        )
        .await;
    assert_eq!(started["id_token_info"]["status"], "Accepted");
    cp.call(
        "TransactionEvent",
        json!({"event_type": "Updated", "timestamp": "2026-11-21T10:15:00Z", "trigger_reason": "MeterValuePeriodic", "seq_no": 1,
               "transaction_info": {"transactionId": "tx-201-a", "chargingState": "Charging"},
               "meter_value": [{"timestamp": "2026-11-21T10:15:00Z", "sampledValue": [
                   {"value": 12.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh"}},
                   {"value": 7.4, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}},
                   {"value": 32.0, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                   {"value": 61, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}
               ]}]}),
    )
    .await;
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    let state = &shown["chargeState"];
    assert_eq!(state["powerDeliveryState"], "PLUGGED_IN:CHARGING");
    assert_eq!(state["isCharging"], true);
    assert_eq!(state["chargeRate"], 7.4);
    assert_eq!(state["sessionEnergy"], 2.5);

    // Outside a transaction, and from the main meter.
    cp.call(
        "MeterValues",
        json!({"evse_id": 0, "meter_value": [{"timestamp": "2026-11-21T10:20:00Z", "sampledValue": [{"value": 230.1, "measurand": "Voltage", "unitOfMeasure": {"unit": "V"}}]}]}),
    )
    .await;
    cp.call(
        "TransactionEvent",
        json!({"event_type": "Ended", "timestamp": "2026-11-21T11:00:00Z", "trigger_reason": "EVDeparted", "seq_no": 2,
               "transaction_info": {"transactionId": "tx-201-a", "chargingState": "Idle", "stoppedReason": "EVDisconnected"},
               "meter_value": [{"timestamp": "2026-11-21T11:00:00Z", "sampledValue": [energy(16_000.0, Some("Transaction.End"))]}]}),
    )
    .await;
    cp.status_201("Available").await;
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    let session = &sessions["data"][0];
    assert!(session["id"].as_i64().unwrap() > 0, "Coupler's own session id");
    assert_eq!(session["energy"], 6.0);
    assert_eq!(session["stopReason"], "EVDisconnected");
    assert_eq!(session["idTag"], "VID:92D50A693F80");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "UNPLUGGED");

    cp.call("Heartbeat", json!({})).await;
    cp.call(
        "NotifyEvent",
        json!({"generated_at": "2026-11-21T11:01:00Z", "seq_no": 0, "event_data": [{"eventId": 1, "timestamp": "2026-11-21T11:01:00Z",
               "trigger": "Alerting", "actualValue": "Faulted", "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
               "variable": {"name": "AvailabilityState"}, "eventNotificationType": "HardWiredNotification"}]}),
    )
    .await;
    cp.call(
        "NotifyReport",
        json!({"request_id": 1, "generated_at": "2026-11-21T11:01:00Z", "seq_no": 0, "report_data": [{"component": {"name": "SampledDataCtrlr"},
               "variable": {"name": "TxUpdatedInterval"}, "variableAttribute": [{"type": "Actual", "value": "60", "mutability": "ReadWrite"}]}]}),
    )
    .await;
    cp.call(
        "SecurityEventNotification",
        json!({"type": "StartupOfTheDevice", "timestamp": "2026-11-21T11:02:00Z"}),
    )
    .await;
    cp.call(
        "FirmwareStatusNotification",
        json!({"status": "Downloading", "request_id": 3}),
    )
    .await;
    cp.call("LogStatusNotification", json!({"status": "Idle"})).await;
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["information"]["ocppVersion"], "2.0.1");
    cp.close().await;
}

#[tokio::test]
async fn rest_start_max_current_and_stop_reach_the_2_0_1_station_and_are_confirmed_by_its_state() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = station(&app, &tenant, "CP201-CONF-2").await;
    cp.boot_201("Occupied").await;

    let start = post(
        &app,
        &tenant,
        &format!("/chargers/{id}/charging"),
        json!({"action": "START"}),
    )
    .await;
    assert_eq!(start["state"], "PENDING");
    let request = cp.received("RequestStartTransaction").await;
    assert_eq!(request["id_token"]["id_token"], "COUPLER");
    assert_eq!(request["id_token"]["type"], "Central");
    assert_eq!(request["evse_id"], 1);
    assert!(request["remote_start_id"].as_i64().unwrap() > 0);
    let start = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
    assert_eq!(start["state"], "CONFIRMED", "{start}");

    let limit = post(
        &app,
        &tenant,
        &format!("/chargers/{id}/max-current"),
        json!({"maxCurrent": 10}),
    )
    .await;
    let set = cp.received("SetChargingProfile").await;
    assert_eq!(set["evse_id"], 1);
    let profile = &set["charging_profile"];
    assert_eq!(profile["charging_profile_purpose"], "TxProfile");
    assert_eq!(profile["transaction_id"], "py-tx-1", "the station's own transaction id");
    assert_eq!(profile["charging_schedule"][0]["charging_rate_unit"], "A");
    assert_eq!(
        profile["charging_schedule"][0]["charging_schedule_period"][0]["limit"],
        10.0
    );
    cp.received("GetCompositeSchedule").await;
    let limit = app.settled_action(&tenant, limit["id"].as_str().unwrap()).await;
    assert_eq!(limit["state"], "CONFIRMED", "{limit}");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["maxCurrent"], 10.0);

    let stop = post(
        &app,
        &tenant,
        &format!("/chargers/{id}/charging"),
        json!({"action": "STOP"}),
    )
    .await;
    let request = cp.received("RequestStopTransaction").await;
    assert_eq!(request["transaction_id"], "py-tx-1");
    let stop = app.settled_action(&tenant, stop["id"].as_str().unwrap()).await;
    assert_eq!(stop["state"], "CONFIRMED", "{stop}");
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    assert_eq!(sessions["data"][0]["stopReason"], "Remote");
    assert_eq!(sessions["data"][0]["energy"], 0.75);
    assert_eq!(sessions["data"][0]["idTag"], "COUPLER");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "PLUGGED_IN:STOPPED");
    cp.close().await;
}

#[tokio::test]
async fn a_max_current_set_while_idle_becomes_a_2_0_1_default_profile_on_evse_0() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = station(&app, &tenant, "CP201-CONF-3").await;
    cp.boot_201("Available").await;
    post(
        &app,
        &tenant,
        &format!("/chargers/{id}/max-current"),
        json!({"maxCurrent": 6.5}),
    )
    .await;
    let set = cp.received("SetChargingProfile").await;
    assert_eq!(set["evse_id"], 0);
    assert_eq!(set["charging_profile"]["charging_profile_purpose"], "TxDefaultProfile");
    // Absolute, starting in the past, so it holds outside a transaction too (limits: a source's
    // profile is valid from its window's start).
    assert_eq!(set["charging_profile"]["charging_profile_kind"], "Absolute");
    assert!(set["charging_profile"]["charging_schedule"][0]["start_schedule"].is_string());
    assert!(set["charging_profile"].get("transaction_id").is_none_or(Value::is_null));
    cp.close().await;
}

/// Every command of the version-neutral control interface reaches a 2.0.1 station as a valid 2.0.1
/// call (the Python package validates it) and its answer comes back as the same kind of reply.
#[tokio::test]
async fn every_command_of_the_charger_control_interface_is_valid_2_0_1_and_answered() {
    use coupler_core::control::{ChargerCommand, ChargerControl, ChargingLimit, LimitPurpose, RateUnit, TriggerKind};
    use coupler_core::ChargerId;

    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = station(&app, &tenant, "CP201-CONTROL").await;
    cp.boot_201("Available").await;
    // Let the post-boot settings pass first.
    cp.received("SetVariables").await;
    cp.received("SetVariables").await;
    let id = ChargerId::new(id);
    let control = app.gateway();
    let limit = ChargingLimit {
        start: Some(chrono::Utc::now()),
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
                keys: vec!["SampledDataCtrlr.TxUpdatedInterval".into()],
            },
            "GetVariables",
        ),
        (ChargerCommand::GetConfiguration { keys: vec![] }, "GetBaseReport"),
        (
            ChargerCommand::ChangeConfiguration {
                key: "OCPPCommCtrlr.HeartbeatInterval".into(),
                value: "120".into(),
            },
            "SetVariables",
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
                kind: coupler_core::control::ResetKind::OnIdle,
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
        let received = cp.received(action).await;
        assert!(received.is_object(), "{action}");
    }
    let refused = control
        .send(
            &id,
            ChargerCommand::ChangeConfiguration {
                key: "HeartbeatInterval".into(),
                value: "120".into(),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(coupler_core::control::ControlError::Unsupported(_))),
        "a 1.6 key names no 2.0.1 variable: {refused:?}"
    );
    cp.close().await;
}

/// The keys of a JSON value, recursively, with array items merged: the value's shape.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn a_1_6_and_a_2_0_1_charger_of_the_same_user_look_alike_through_the_rest_api() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (old_id, mut old) = {
        let registered = app.register_charger(&tenant, "alice", "CP-ALIKE-16").await;
        let cp = PythonChargePoint::connected(
            registered["ocppUrl"].as_str().unwrap(),
            "CP-ALIKE-16",
            registered["password"].as_str().unwrap(),
        )
        .await;
        (registered["id"].as_str().unwrap().to_owned(), cp)
    };
    let (new_id, mut new) = station(&app, &tenant, "CP-ALIKE-201").await;
    old.boot("Preparing").await;
    new.boot_201("Occupied").await;

    for id in [&old_id, &new_id] {
        let start = post(
            &app,
            &tenant,
            &format!("/chargers/{id}/charging"),
            json!({"action": "START"}),
        )
        .await;
        let start = app.settled_action(&tenant, start["id"].as_str().unwrap()).await;
        assert_eq!(start["state"], "CONFIRMED", "{start}");
    }
    let old_shown = app.get_json(&tenant, &format!("/chargers/{old_id}")).await;
    let new_shown = app.get_json(&tenant, &format!("/chargers/{new_id}")).await;
    assert_eq!(shape(&old_shown), shape(&new_shown));
    for key in ["powerDeliveryState", "isPluggedIn", "isCharging", "maxCurrent"] {
        assert_eq!(old_shown["chargeState"][key], new_shown["chargeState"][key], "{key}");
    }
    assert_eq!(old_shown["information"]["ocppVersion"], "1.6");
    assert_eq!(new_shown["information"]["ocppVersion"], "2.0.1");

    for id in [&old_id, &new_id] {
        let stop = post(
            &app,
            &tenant,
            &format!("/chargers/{id}/charging"),
            json!({"action": "STOP"}),
        )
        .await;
        let stop = app.settled_action(&tenant, stop["id"].as_str().unwrap()).await;
        assert_eq!(stop["state"], "CONFIRMED", "{stop}");
    }
    let old_sessions = app.get_json(&tenant, &format!("/chargers/{old_id}/sessions")).await;
    let new_sessions = app.get_json(&tenant, &format!("/chargers/{new_id}/sessions")).await;
    assert_eq!(shape(&old_sessions), shape(&new_sessions));
    for key in [
        "energy",
        "stopReason",
        "idTag",
        "connectorId",
        "meterStart",
        "meterStop",
    ] {
        assert_eq!(old_sessions["data"][0][key], new_sessions["data"][0][key], "{key}");
    }
    let listed = app.get_json(&tenant, "/users/alice/chargers").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert_eq!(shape(&listed["data"][0]), shape(&listed["data"][1]));
    old.close().await;
    new.close().await;
}

/// Whether an event is the one that settled its action (the store names the completion time among
/// the changed fields only then).
fn settles(event: &coupler_core::event::Event) -> bool {
    event.updated_fields.iter().any(|f| f == "completedAt")
}

/// The events of one action, once the one that settles it is published.
async fn settling_events(app: &TestApp, tenant: &Tenant, action_id: &str) -> Vec<coupler_core::event::Event> {
    coupler_tests::wait_for("the event that settles the action", || async {
        let events = app.store.events_after(&tenant.id, 0, 1000).await.unwrap();
        let mine: Vec<_> = events.into_iter().filter(|e| e.asset_id == action_id).collect();
        mine.iter().any(settles).then_some(mine)
    })
    .await
}

/// The common cable-first setup: the station opens the transaction when the cable goes in and
/// waits for authorisation. A START reaches it as a RequestStartTransaction, which authorises the
/// running transaction, and is confirmed by the charging state the station then reports.
#[tokio::test]
async fn start_on_a_2_0_1_station_that_opened_its_transaction_at_plug_in_authorises_it_and_is_confirmed() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, mut cp) = station(&app, &tenant, "CP201-CABLE-FIRST").await;
    cp.boot_201("Available").await;
    cp.status_201("Occupied").await;
    cp.call(
        "TransactionEvent",
        json!({"event_type": "Started", "timestamp": coupler_core::time::now().to_rfc3339(), "trigger_reason": "CablePluggedIn", "seq_no": 0,
               "transaction_info": {"transactionId": "cable-1", "chargingState": "EVConnected"},
               "evse": {"id": 1, "connectorId": 1},
               "meter_value": [{"timestamp": coupler_core::time::now().to_rfc3339(), "sampledValue": [energy(5_000.0, Some("Transaction.Begin"))]}]}),
    )
    .await;
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "PLUGGED_IN:INITIALIZING");

    let start = post(
        &app,
        &tenant,
        &format!("/chargers/{id}/charging"),
        json!({"action": "START"}),
    )
    .await;
    assert_eq!(start["state"], "PENDING", "{start}");
    let request = cp.received("RequestStartTransaction").await;
    assert_eq!(request["evse_id"], 1, "the EVSE of the running transaction");
    let start_id = start["id"].as_str().unwrap();
    let start = app.settled_action(&tenant, start_id).await;
    assert_eq!(start["state"], "CONFIRMED", "{start}");
    assert_eq!(start["attempts"][0]["via"], "charger");
    assert_eq!(start["attempts"][0]["outcome"], "CONFIRMED");
    let shown = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    assert_eq!(shown["chargeState"]["powerDeliveryState"], "PLUGGED_IN:CHARGING");
    // Still the one transaction the station opened at plug-in.
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 1, "{sessions}");

    // The attempt's outcome and the action's state changed in one write: the event that settles
    // the action carries both, and no event shows a confirmed attempt on a pending action.
    let events = settling_events(&app, &tenant, start_id).await;
    for event in &events {
        let confirmed_attempt = event.data["attempts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t["outcome"] == "CONFIRMED"));
        assert!(
            !(confirmed_attempt && event.data["state"] == "PENDING"),
            "an attempt was CONFIRMED while its action was PENDING: {event:?}"
        );
    }
    let settling = events.iter().find(|e| settles(e)).unwrap();
    assert!(
        settling.updated_fields.iter().any(|f| f == "attempts"),
        "the settling write changed the attempt too: {:?}",
        settling.updated_fields
    );
    cp.close().await;
}
