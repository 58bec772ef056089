use coupler_ocpp::rpc::MessageType;
use coupler_ocpp::{v16, v201};
use serde_json::{json, Value};

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn settings() -> Settings {
    Settings {
        heartbeat_interval: 60 * SECOND,
        meter_interval: 10 * SECOND,
        transactions: false,
        transaction_duration: 120 * SECOND,
        call_timeout: 30 * SECOND,
        plugged_in: false,
        version: OcppVersion::V16,
    }
}

fn settings201() -> Settings {
    Settings {
        version: OcppVersion::V201,
        ..settings()
    }
}

/// A charger, its stats and a clock under the test's control.
struct Rig {
    charger: Charger,
    stats: Stats,
    now: Instant,
}

/// One CALL the charger sent.
#[derive(Debug)]
struct Sent {
    id: String,
    action: String,
    payload: Value,
}

fn accepted_boot() -> Value {
    json!({"status": "Accepted", "currentTime": "2025-01-01T00:00:00Z", "interval": 300})
}

/// A valid answer to each of the charger's calls.
fn answer_for(action: &str) -> Value {
    match action {
        "BootNotification" => accepted_boot(),
        "Heartbeat" => json!({"currentTime": "2025-01-01T00:00:00Z"}),
        "StartTransaction" => json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
        "StopTransaction" => json!({"idTagInfo": {"status": "Accepted"}}),
        _ => json!({}),
    }
}

impl Rig {
    fn new(settings: Settings) -> Self {
        let identity = Identity {
            ocpp_id: "LG-000001".to_owned(),
            heartbeat_phase: 5 * SECOND,
            meter_phase: 2 * SECOND,
            initial_energy_wh: 1000.0,
        };
        let mut charger = Charger::new(Arc::new(settings), identity);
        let stats = Stats::default();
        charger.on_connected(&stats);
        Self {
            charger,
            stats,
            now: Instant::now(),
        }
    }

    /// Connected and booted, with the boot's status notifications answered.
    fn booted(settings: Settings) -> Self {
        let mut rig = Self::new(settings);
        let boot = rig.send().expect("a boot");
        assert_eq!(boot.action, "BootNotification");
        rig.answer(&boot.id, accepted_boot());
        rig.drain();
        rig
    }

    /// The charger's next CALL, checked against the schema of its version as the server would.
    fn send(&mut self) -> Option<Sent> {
        let frame = self.charger.poll_call(self.now, &self.stats)?;
        let Frame::Call { id, action, payload } = Frame::parse(&frame.to_text()).unwrap() else {
            panic!("the charger sent a non-CALL: {frame:?}");
        };
        let checked = match self.charger.settings.version {
            OcppVersion::V16 => v16::parse_charge_point_request(&action, &payload).map(|_| ()),
            OcppVersion::V201 => v201::parse_station_request(&action, &payload).map(|_| ()),
        };
        if let Err(error) = checked {
            panic!("invalid {action}: {error}: {payload}");
        }
        Some(Sent { id, action, payload })
    }

    fn answer(&mut self, id: &str, payload: Value) -> Reaction {
        let text = Frame::call_result(id, payload).to_text();
        self.charger.handle_text(self.now, &text, &self.stats)
    }

    fn text(&mut self, text: &str) -> Reaction {
        self.charger.handle_text(self.now, text, &self.stats)
    }

    /// Sends a CALL from the server and returns the charger's reply.
    fn server_call(&mut self, action: &str, payload: Value) -> Reaction {
        let text = Frame::call("srv-1", action, payload).to_text();
        self.text(&text)
    }

    /// Sends and answers every queued call; returns what was sent.
    fn drain(&mut self) -> Vec<Sent> {
        let mut sent = Vec::new();
        while let Some(call) = self.send() {
            let answer = answer_for(&call.action);
            self.answer(&call.id, answer);
            sent.push(call);
        }
        sent
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.charger.on_timer(self.now, &self.stats);
    }

    fn counters(&self) -> crate::stats::CounterSnapshot {
        self.stats.counters.snapshot()
    }
}

fn actions(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.action.as_str()).collect()
}

fn statuses(sent: &[Sent]) -> Vec<(i64, String)> {
    sent.iter()
        .filter(|s| s.action == "StatusNotification")
        .map(|s| {
            (
                s.payload["connectorId"].as_i64().unwrap(),
                s.payload["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The payload of a reply that must be a CALLRESULT.
fn result_of(reaction: &Reaction) -> Value {
    match reaction.reply.as_ref().expect("a reply") {
        Frame::CallResult { id, payload } => {
            assert_eq!(id, "srv-1");
            payload.clone()
        }
        other => panic!("not a CALLRESULT: {other:?}"),
    }
}

/// The error code of a reply that must be a CALLERROR.
fn error_code_of(reaction: &Reaction) -> String {
    match reaction.reply.as_ref().expect("a reply") {
        Frame::CallError { code, .. } => code.clone(),
        other => panic!("not a CALLERROR: {other:?}"),
    }
}

// ---- Boot and the one-outstanding-call rule. ----

#[test]
fn a_new_charger_boots_first_and_sends_nothing_else_until_answered() {
    let mut rig = Rig::new(settings());
    let boot = rig.send().unwrap();
    assert_eq!(boot.action, "BootNotification");
    assert_eq!(boot.payload["chargePointVendor"], "Coupler");
    assert_eq!(boot.payload["chargePointSerialNumber"], "LG-000001");
    assert!(rig.send().is_none(), "nothing while the boot is outstanding");
    rig.advance(20 * SECOND);
    assert!(rig.send().is_none(), "no heartbeat before the boot is accepted");
}

#[test]
fn an_accepted_boot_reports_both_connectors_available_one_call_at_a_time() {
    let mut rig = Rig::new(settings());
    let boot = rig.send().unwrap();
    rig.answer(&boot.id, accepted_boot());
    assert!(rig.charger.is_booted());
    let first = rig.send().unwrap();
    assert!(rig.send().is_none(), "the second status waits for the first answer");
    rig.answer(&first.id, json!({}));
    let second = rig.send().unwrap();
    rig.answer(&second.id, json!({}));
    assert_eq!(
        statuses(&[first, second]),
        [(0, "Available".to_owned()), (1, "Available".to_owned())]
    );
    let counters = rig.counters();
    assert_eq!(
        (counters.calls_sent, counters.calls_answered, counters.boots_accepted),
        (3, 3, 1)
    );
    assert_eq!(rig.stats.latency().unwrap().count, 3);
}

#[test]
fn message_ids_are_never_reused() {
    let mut rig = Rig::booted(settings());
    let mut ids = Vec::new();
    for _ in 0..60 {
        rig.advance(10 * SECOND);
        ids.extend(rig.drain().into_iter().map(|s| s.id));
    }
    assert!(ids.len() > 60);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn a_rejected_boot_is_retried_after_the_interval_the_server_asks_for() {
    let mut rig = Rig::new(settings());
    let boot = rig.send().unwrap();
    rig.answer(
        &boot.id,
        json!({"status": "Rejected", "currentTime": "2025-01-01T00:00:00Z", "interval": 20}),
    );
    assert!(!rig.charger.is_booted());
    assert_eq!(rig.counters().boots_not_accepted, 1);
    rig.advance(19 * SECOND);
    assert!(rig.send().is_none());
    rig.advance(SECOND);
    assert_eq!(rig.send().unwrap().action, "BootNotification");
}

#[test]
fn after_a_reconnect_the_charger_reports_its_connectors_without_booting_again() {
    let mut rig = Rig::booted(settings());
    rig.charger.on_disconnected(rig.now, &rig.stats);
    rig.charger.on_connected(&rig.stats);
    let sent = rig.drain();
    assert_eq!(actions(&sent), ["StatusNotification", "StatusNotification"]);
}

#[test]
fn a_boot_lost_with_the_connection_is_sent_again_on_the_next_one() {
    let mut rig = Rig::new(settings());
    rig.send().unwrap();
    rig.charger.on_disconnected(rig.now, &rig.stats);
    assert_eq!(rig.counters().lost_on_disconnect, 1);
    rig.charger.on_connected(&rig.stats);
    assert_eq!(rig.send().unwrap().action, "BootNotification");
}

#[test]
fn a_transaction_message_lost_with_the_connection_goes_out_first_on_the_next_one() {
    let mut rig = Rig::booted(settings());
    rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    let preparing = rig.send().unwrap();
    rig.answer(&preparing.id, json!({}));
    let start = rig.send().unwrap();
    assert_eq!(start.action, "StartTransaction");
    rig.charger.on_disconnected(rig.now, &rig.stats);
    assert!(rig.charger.has_transaction());
    rig.charger.on_connected(&rig.stats);
    let sent = rig.drain();
    assert_eq!(sent[0].action, "StartTransaction");
    assert_ne!(sent[0].id, start.id, "a new message id");
    assert_eq!(rig.counters().transactions_started, 1);
}

// ---- Periodic messages. ----

#[test]
fn heartbeats_and_meter_values_follow_their_phase_and_interval() {
    let mut rig = Rig::booted(settings());
    rig.advance(SECOND);
    assert!(rig.drain().is_empty());
    rig.advance(SECOND); // 2 s: the meter phase
    assert_eq!(actions(&rig.drain()), ["MeterValues"]);
    rig.advance(3 * SECOND); // 5 s: the heartbeat phase
    assert_eq!(actions(&rig.drain()), ["Heartbeat"]);
    rig.advance(7 * SECOND); // 12 s: the next meter value
    assert_eq!(actions(&rig.drain()), ["MeterValues"]);
    let (mut heartbeats, mut meters) = (0, 0);
    for _ in 0..120 {
        rig.advance(SECOND);
        for sent in rig.drain() {
            match sent.action.as_str() {
                "Heartbeat" => heartbeats += 1,
                "MeterValues" => meters += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert_eq!((heartbeats, meters), (2, 12));
}

#[test]
fn the_next_wakeup_is_the_earliest_timer() {
    let rig = Rig::booted(settings());
    assert_eq!(rig.charger.next_wakeup(), Some(rig.now + 2 * SECOND));
}

#[test]
fn idle_meter_values_carry_energy_power_and_current_as_strings() {
    let mut rig = Rig::booted(settings());
    rig.advance(2 * SECOND);
    let sent = rig.drain();
    let payload = &sent[0].payload;
    assert_eq!(payload["connectorId"], 1);
    assert!(payload.get("transactionId").is_none());
    let values = payload["meterValue"][0]["sampledValue"].as_array().unwrap();
    let by_measurand = |m: &str| values.iter().find(|v| v["measurand"] == m).unwrap().clone();
    assert_eq!(by_measurand("Energy.Active.Import.Register")["value"], "1000");
    assert_eq!(by_measurand("Energy.Active.Import.Register")["unit"], "Wh");
    assert_eq!(by_measurand("Power.Active.Import")["value"], "0");
    assert_eq!(by_measurand("Current.Import")["value"], "0.0");
}

#[test]
fn a_zero_interval_turns_a_periodic_message_off() {
    let mut rig = Rig::booted(Settings {
        heartbeat_interval: Duration::ZERO,
        meter_interval: Duration::ZERO,
        ..settings()
    });
    rig.advance(3600 * SECOND);
    assert!(rig.drain().is_empty());
    assert_eq!(rig.charger.next_wakeup(), None);
}

#[test]
fn a_slow_server_sees_skipped_heartbeats_instead_of_a_growing_queue() {
    let mut rig = Rig::booted(Settings {
        heartbeat_interval: SECOND,
        meter_interval: Duration::ZERO,
        call_timeout: 3600 * SECOND,
        ..settings()
    });
    rig.advance(5 * SECOND);
    let first = rig.send().unwrap();
    for _ in 0..100 {
        rig.advance(SECOND);
    }
    assert_eq!(rig.counters().skipped, 100);
    rig.answer(&first.id, answer_for("Heartbeat"));
    assert!(rig.send().is_none(), "nothing queued behind the slow heartbeat");
}

// ---- Our calls failing. ----

#[test]
fn a_call_without_an_answer_times_out_and_the_next_one_goes_out() {
    let mut rig = Rig::booted(settings());
    rig.advance(2 * SECOND);
    let meter = rig.send().unwrap();
    rig.advance(3 * SECOND); // a heartbeat queues behind the meter value
    assert!(rig.send().is_none());
    rig.advance(27 * SECOND); // 30 s after the meter value was sent
    assert_eq!(rig.counters().timeouts, 1);
    assert_eq!(rig.send().unwrap().action, "Heartbeat");
    rig.answer(&meter.id, json!({}));
    assert_eq!(
        rig.counters().unexpected_responses,
        1,
        "the late answer matches nothing"
    );
    assert!(rig.stats.call_error_log.messages()[0].contains("MeterValues: no answer within 30 s"));
}

#[test]
fn a_call_error_is_counted_and_the_next_call_goes_out() {
    let mut rig = Rig::booted(settings());
    rig.advance(5 * SECOND); // a heartbeat and a meter value are due
    let first = rig.send().unwrap();
    rig.text(&format!(r#"[4,"{}","InternalError","database down",{{}}]"#, first.id));
    assert_eq!(rig.counters().call_errors, 1);
    assert_eq!(
        rig.stats.call_error_log.messages(),
        [format!("{}: CALLERROR InternalError: database down", first.action)]
    );
    let second = rig.send().unwrap();
    assert_ne!(second.action, first.action);
}

#[test]
fn an_answer_that_breaks_the_schema_is_counted_as_invalid() {
    let mut rig = Rig::booted(settings());
    rig.advance(2 * SECOND);
    rig.drain(); // the meter value
    rig.advance(3 * SECOND);
    let heartbeat = rig.send().unwrap();
    assert_eq!(heartbeat.action, "Heartbeat");
    rig.answer(&heartbeat.id, json!({"currentTime": "yesterday"}));
    let counters = rig.counters();
    assert_eq!((counters.invalid_responses, counters.calls_answered), (1, 4));
    assert!(rig.stats.call_error_log.messages()[0].starts_with("Heartbeat: invalid answer: currentTime"));
}

#[test]
fn a_broken_answer_to_the_outstanding_call_fails_that_call() {
    let mut rig = Rig::booted(settings());
    rig.advance(2 * SECOND);
    let meter = rig.send().unwrap();
    let reaction = rig.text(&format!(r#"[3,"{}",null]"#, meter.id));
    assert!(reaction.reply.is_none(), "a response is never answered");
    assert_eq!(rig.counters().invalid_responses, 1);
    assert!(rig.charger.is_quiet(), "the call is no longer outstanding");
}

#[test]
fn garbage_from_the_server_never_panics_and_is_counted() {
    let mut rig = Rig::booted(settings());
    let deep = "[".repeat(100_000);
    for text in [
        "",
        "null",
        "[]",
        "{}",
        "[2]",
        "[3,\"x\",{}]",
        "[9,\"x\"]",
        deep.as_str(),
        "\u{0}",
    ] {
        let reaction = rig.text(text);
        if let Some(reply) = reaction.reply {
            assert_eq!(reply.message_type(), MessageType::CallError, "{text}");
        }
    }
    let counters = rig.counters();
    assert_eq!(counters.protocol_errors, 8);
    assert_eq!(counters.unexpected_responses, 1);
}

// ---- The server's calls. ----

#[test]
fn the_server_is_answered_while_our_call_is_outstanding() {
    let mut rig = Rig::booted(settings());
    rig.advance(2 * SECOND);
    let meter = rig.send().unwrap();
    let reply = rig.server_call("GetConfiguration", json!({"key": ["HeartbeatInterval"]}));
    assert_eq!(
        result_of(&reply)["configurationKey"][0],
        json!({"key": "HeartbeatInterval", "readonly": false, "value": "60"})
    );
    rig.answer(&meter.id, json!({}));
    assert_eq!(rig.counters().calls_answered, 4);
}

#[test]
fn get_configuration_lists_plausible_keys_and_names_unknown_ones() {
    let mut rig = Rig::booted(settings());
    let all = result_of(&rig.server_call("GetConfiguration", json!({})));
    let keys: Vec<_> = all["configurationKey"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    for key in [
        "HeartbeatInterval",
        "MeterValueSampleInterval",
        "NumberOfConnectors",
        "SupportedFeatureProfiles",
        "ChargeProfileMaxStackLevel",
    ] {
        assert!(keys.contains(&key), "{key}");
    }
    assert!(all.get("unknownKey").is_none());
    let some = result_of(&rig.server_call(
        "GetConfiguration",
        json!({"key": ["meterValueSampleInterval", "NoSuchKey"]}),
    ));
    assert_eq!(some["configurationKey"][0]["value"], "10");
    assert_eq!(some["unknownKey"], json!(["NoSuchKey"]));
    assert_eq!(rig.counters().incoming_answered, 2);
}

#[test]
fn a_changed_configuration_is_accepted_and_reported_back() {
    let mut rig = Rig::booted(settings());
    let change = rig.server_call(
        "ChangeConfiguration",
        json!({"key": "HeartbeatInterval", "value": "900"}),
    );
    assert_eq!(result_of(&change)["status"], "Accepted");
    let vendor = rig.server_call("ChangeConfiguration", json!({"key": "VendorKey", "value": "x"}));
    assert_eq!(
        result_of(&vendor)["status"],
        "NotSupported",
        "an unknown key (OCPP 1.6 §5.3)"
    );
    let get = result_of(&rig.server_call("GetConfiguration", json!({"key": ["HeartbeatInterval", "VendorKey"]})));
    assert_eq!(get["configurationKey"][0]["value"], "900");
    assert_eq!(get["unknownKey"], json!(["VendorKey"]));
    let readonly = rig.server_call(
        "ChangeConfiguration",
        json!({"key": "NumberOfConnectors", "value": "2"}),
    );
    assert_eq!(result_of(&readonly)["status"], "Rejected");
}

#[test]
fn a_remote_start_is_accepted_and_followed_by_a_transaction_that_charges() {
    let mut rig = Rig::booted(settings());
    let reply = rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42", "connectorId": 1}));
    assert!(reply.remote_start);
    assert_eq!(result_of(&reply)["status"], "Accepted");
    let sent = rig.drain();
    assert_eq!(
        actions(&sent),
        ["StatusNotification", "StartTransaction", "StatusNotification"]
    );
    assert_eq!(sent[1].payload["idTag"], "APP-42");
    assert_eq!(sent[1].payload["meterStart"], 1000);
    assert_eq!(
        statuses(&sent),
        [(1, "Preparing".to_owned()), (1, "Charging".to_owned())]
    );
    assert!(rig.charger.has_transaction());
    assert_eq!(rig.counters().transactions_started, 1);
}

#[test]
fn a_remote_start_is_rejected_while_a_transaction_runs_or_for_another_connector() {
    let mut rig = Rig::booted(settings());
    let other = rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42", "connectorId": 2}));
    assert_eq!(result_of(&other)["status"], "Rejected");
    rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    rig.drain();
    let again = rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    assert!(again.remote_start);
    assert_eq!(result_of(&again)["status"], "Rejected");
}

#[test]
fn a_remote_stop_of_the_running_transaction_stops_it() {
    let mut rig = Rig::booted(settings());
    rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    rig.drain();
    let wrong = rig.server_call("RemoteStopTransaction", json!({"transactionId": 7}));
    assert_eq!(result_of(&wrong)["status"], "Rejected");
    rig.now += 3600 * SECOND;
    let stop = rig.server_call("RemoteStopTransaction", json!({"transactionId": 42}));
    assert_eq!(result_of(&stop)["status"], "Accepted");
    let sent = rig.drain();
    assert_eq!(sent[0].action, "StopTransaction");
    assert_eq!(sent[0].payload["transactionId"], 42);
    assert_eq!(sent[0].payload["reason"], "Remote");
    // An hour at 11.04 kW on top of the 1000 Wh the register started with.
    assert_eq!(sent[0].payload["meterStop"], 12_040);
    assert_eq!(
        statuses(&sent),
        [(1, "Finishing".to_owned()), (1, "Available".to_owned())]
    );
    assert!(!rig.charger.has_transaction());
    assert_eq!(rig.counters().transactions_stopped, 1);
}

#[test]
fn charging_profiles_availability_and_triggers_are_accepted() {
    let mut rig = Rig::booted(settings());
    let profile = json!({
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]
            }
        }
    });
    assert_eq!(
        result_of(&rig.server_call("SetChargingProfile", profile))["status"],
        "Accepted"
    );
    assert_eq!(
        result_of(&rig.server_call("ClearChargingProfile", json!({})))["status"],
        "Accepted"
    );
    let availability = rig.server_call("ChangeAvailability", json!({"connectorId": 0, "type": "Operative"}));
    assert_eq!(result_of(&availability)["status"], "Accepted");
    let trigger = rig.server_call("TriggerMessage", json!({"requestedMessage": "StatusNotification"}));
    assert_eq!(result_of(&trigger)["status"], "Accepted");
    assert_eq!(
        statuses(&rig.drain()),
        [(0, "Available".to_owned()), (1, "Available".to_owned())]
    );
    let trigger = rig.server_call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}));
    assert_eq!(result_of(&trigger)["status"], "Accepted");
    assert_eq!(actions(&rig.drain()), ["Heartbeat"]);
    let firmware = rig.server_call(
        "TriggerMessage",
        json!({"requestedMessage": "FirmwareStatusNotification"}),
    );
    assert_eq!(result_of(&firmware)["status"], "Accepted");
    let sent = rig.drain();
    assert_eq!(actions(&sent), ["FirmwareStatusNotification"]);
    assert_eq!(sent[0].payload["status"], "Idle");
}

#[test]
fn an_unknown_action_is_not_implemented_and_a_charge_point_message_is_not_supported() {
    let mut rig = Rig::booted(settings());
    for (action, payload, code) in [
        ("FrobnicateConnector", json!({}), "NotImplemented"),
        ("Heartbeat", json!({}), "NotSupported"),
    ] {
        let reply = rig.server_call(action, payload);
        assert_eq!(error_code_of(&reply), code, "{action}");
    }
    assert_eq!(rig.counters().incoming_refused, 2);
    let by_action = rig.stats.incoming_by_action.snapshot();
    assert_eq!(by_action.get("Heartbeat"), Some(&1));
    assert_eq!(by_action.get("other"), Some(&1));
}

#[test]
fn a_reset_is_accepted_and_the_charger_boots_again_on_its_next_connection() {
    let mut rig = Rig::booted(settings());
    let reply = rig.server_call("Reset", json!({"type": "Soft"}));
    assert_eq!(result_of(&reply)["status"], "Accepted");
    rig.drain();
    assert!(rig.charger.take_reset(), "the charger closes its connection");
    rig.charger.on_disconnected(rig.now, &rig.stats);
    rig.charger.on_connected(&rig.stats);
    assert_eq!(rig.send().unwrap().action, "BootNotification");
}

#[test]
fn a_call_that_breaks_the_schema_is_answered_with_the_matching_error() {
    let mut rig = Rig::booted(settings());
    let missing = rig.server_call("RemoteStartTransaction", json!({}));
    assert_eq!(error_code_of(&missing), "OccurenceConstraintViolation");
    assert!(!missing.remote_start, "a refused call starts nothing");
    let extra = rig.server_call("ChangeConfiguration", json!({"key": "a", "value": "b", "x": 1}));
    assert_eq!(error_code_of(&extra), "FormationViolation");
    assert!(rig.drain().is_empty());
}

// ---- --transactions. ----

#[test]
fn with_transactions_each_charger_charges_for_the_set_duration_then_stops() {
    let mut rig = Rig::new(Settings {
        transactions: true,
        meter_interval: 30 * SECOND,
        heartbeat_interval: Duration::ZERO,
        ..settings()
    });
    let sent = rig.drain();
    assert_eq!(
        actions(&sent),
        [
            "BootNotification",
            "StatusNotification",
            "StatusNotification",
            "StatusNotification",
            "StartTransaction",
            "StatusNotification"
        ]
    );
    assert_eq!(sent[3].payload["status"], "Preparing");
    assert_eq!(sent[5].payload["status"], "Charging");
    assert_eq!(sent[4].payload["idTag"], LOCAL_ID_TAG);

    let mut meters = Vec::new();
    let mut stop = None;
    for _ in 0..150 {
        rig.advance(SECOND);
        for call in rig.drain() {
            match call.action.as_str() {
                "MeterValues" => meters.push(call.payload),
                "StopTransaction" => stop = Some(call.payload),
                _ => {}
            }
        }
    }
    assert_eq!(meters.len(), 5);
    assert!(meters[..4].iter().all(|m| m["transactionId"] == 42));
    assert_eq!(meters[0]["meterValue"][0]["sampledValue"][1]["value"], "11040");
    assert_eq!(meters[0]["meterValue"][0]["sampledValue"][2]["value"], "16.0");
    assert!(meters[4].get("transactionId").is_none(), "the last one after the stop");
    let energy = |m: &Value| {
        m["meterValue"][0]["sampledValue"][0]["value"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(
        energy(&meters[1]) > energy(&meters[0]),
        "the register rises while charging"
    );
    let stop = stop.expect("a StopTransaction after 120 s");
    assert_eq!(stop["reason"], "Local");
    assert_eq!(stop["meterStop"], 1000 + 368); // 120 s at 11.04 kW
    assert!(!rig.charger.has_transaction());
}

#[test]
fn a_transaction_whose_id_tag_is_refused_is_stopped_at_once() {
    let mut rig = Rig::new(Settings {
        transactions: true,
        ..settings()
    });
    loop {
        let call = rig.send().unwrap();
        if call.action == "StartTransaction" {
            rig.answer(
                &call.id,
                json!({"transactionId": 9, "idTagInfo": {"status": "Blocked"}}),
            );
            break;
        }
        let answer = answer_for(&call.action);
        rig.answer(&call.id, answer);
    }
    let sent = rig.drain();
    assert_eq!(sent[0].action, "StopTransaction");
    assert_eq!(sent[0].payload["reason"], "DeAuthorized");
    assert_eq!(rig.counters().transactions_refused, 1);
}

// ---- Shutdown. ----

#[test]
fn shutdown_stops_a_running_transaction_and_then_goes_quiet() {
    let mut rig = Rig::booted(settings());
    rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    rig.drain();
    rig.advance(5 * SECOND); // heartbeat and meter value queued
    rig.charger.begin_shutdown(rig.now, &rig.stats);
    let sent = rig.drain();
    assert_eq!(actions(&sent), ["StopTransaction"], "periodic messages are dropped");
    assert!(rig.charger.is_quiet());
    rig.advance(3600 * SECOND);
    assert!(rig.drain().is_empty());
    let late = rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    assert_eq!(result_of(&late)["status"], "Rejected");
}

#[test]
fn a_transaction_that_starts_during_shutdown_is_stopped_at_once() {
    let mut rig = Rig::booted(settings());
    rig.server_call("RemoteStartTransaction", json!({"idTag": "APP-42"}));
    let preparing = rig.send().unwrap();
    rig.answer(&preparing.id, json!({}));
    let start = rig.send().unwrap();
    rig.charger.begin_shutdown(rig.now, &rig.stats);
    rig.answer(&start.id, answer_for("StartTransaction"));
    assert_eq!(actions(&rig.drain()), ["StopTransaction"]);
    assert!(rig.charger.is_quiet());
}

#[test]
fn an_idle_charger_is_quiet_as_soon_as_shutdown_begins() {
    let mut rig = Rig::booted(settings());
    rig.advance(5 * SECOND);
    rig.charger.begin_shutdown(rig.now, &rig.stats);
    assert!(rig.charger.is_quiet());
}

#[test]
fn a_plugged_in_charger_reports_preparing_until_a_remote_start_begins_charging() {
    let mut rig = Rig::new(Settings {
        plugged_in: true,
        ..settings()
    });
    let boot = rig.send().expect("a boot");
    rig.answer(&boot.id, accepted_boot());
    let sent = rig.drain();
    assert_eq!(
        statuses(&sent),
        [(0, "Available".to_owned()), (1, "Preparing".to_owned())]
    );

    let reply = rig.server_call("RemoteStartTransaction", json!({"idTag": "COUPLER", "connectorId": 1}));
    assert_eq!(result_of(&reply)["status"], "Accepted");
    let sent = rig.drain();
    assert!(actions(&sent).contains(&"StartTransaction"));
    assert_eq!(statuses(&sent).last().map(|(_, s)| s.as_str()), Some("Charging"));
}

fn events(sent: &[Sent]) -> Vec<(String, i64, String)> {
    sent.iter()
        .filter(|s| s.action == "TransactionEvent")
        .map(|s| {
            (
                s.payload["eventType"].as_str().unwrap().to_owned(),
                s.payload["seqNo"].as_i64().unwrap(),
                s.payload["transactionInfo"]["transactionId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_2_0_1_charger_reports_its_transaction_as_transaction_events_numbered_in_order() {
    let mut rig = Rig::new(Settings {
        transactions: true,
        ..settings201()
    });
    let boot = rig.send().unwrap();
    assert_eq!(boot.payload["chargingStation"]["vendorName"], "Coupler");
    rig.answer(&boot.id, accepted_boot());
    let sent = rig.drain();
    assert!(
        sent.iter()
            .all(|s| s.action != "StatusNotification" || s.payload["evseId"] == 1),
        "2.0.1 has no status of a connector 0"
    );
    assert_eq!(events(&sent), vec![("Started".into(), 0, "LG-TX-1".into())]);
    let started = sent.iter().find(|s| s.action == "TransactionEvent").unwrap();
    assert_eq!(started.payload["evse"]["id"], 1);
    assert_eq!(started.payload["idToken"]["idToken"], LOCAL_ID_TAG);
    assert_eq!(rig.counters().transactions_started, 1);

    rig.advance(10 * SECOND);
    let sent = rig.drain();
    assert_eq!(events(&sent), vec![("Updated".into(), 1, "LG-TX-1".into())]);
    let updated = sent.iter().find(|s| s.action == "TransactionEvent").unwrap();
    assert!(
        updated.payload["meterValue"][0]["sampledValue"][0]["value"]
            .as_f64()
            .unwrap()
            > 1000.0
    );

    rig.advance(120 * SECOND);
    let sent = rig.drain();
    let ended: Vec<_> = events(&sent).into_iter().filter(|e| e.0 == "Ended").collect();
    assert_eq!(ended.len(), 1, "{:?}", actions(&sent));
    assert!(ended[0].1 > 1);
    assert_eq!(rig.counters().transactions_stopped, 1);
}

#[test]
fn a_2_0_1_remote_start_is_echoed_by_its_remote_start_id_and_a_remote_stop_ends_it() {
    let mut rig = Rig::booted(Settings {
        plugged_in: true,
        ..settings201()
    });
    let reaction = rig.server_call(
        "RequestStartTransaction",
        json!({"evseId": 1, "remoteStartId": 77, "idToken": {"idToken": "COUPLER", "type": "Central"}}),
    );
    assert!(reaction.remote_start);
    assert_eq!(result_of(&reaction)["status"], "Accepted");
    let sent = rig.drain();
    let started = sent.iter().find(|s| s.action == "TransactionEvent").unwrap();
    assert_eq!(started.payload["transactionInfo"]["remoteStartId"], 77);
    assert_eq!(started.payload["triggerReason"], "RemoteStart");

    let wrong = rig.server_call("RequestStopTransaction", json!({"transactionId": "other"}));
    assert_eq!(result_of(&wrong)["status"], "Rejected");
    let stop = rig.server_call("RequestStopTransaction", json!({"transactionId": "LG-TX-1"}));
    assert_eq!(result_of(&stop)["status"], "Accepted");
    let sent = rig.drain();
    let ended = sent.iter().find(|s| s.action == "TransactionEvent").unwrap();
    assert_eq!(ended.payload["eventType"], "Ended");
    assert_eq!(ended.payload["transactionInfo"]["stoppedReason"], "Remote");
}

#[test]
fn a_2_0_1_charger_reads_and_sets_its_sampled_data_variables() {
    let mut rig = Rig::booted(settings201());
    let read = rig.server_call(
        "GetVariables",
        json!({"getVariableData": [
            {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}},
            {"component": {"name": "Nope"}, "variable": {"name": "Nothing"}}
        ]}),
    );
    let results = result_of(&read)["getVariableResult"].clone();
    assert_eq!(results[0]["attributeValue"], "10");
    assert_eq!(results[1]["attributeStatus"], "UnknownComponent");
    let set = rig.server_call(
        "SetVariables",
        json!({"setVariableData": [{"attributeValue": "60", "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]}),
    );
    assert_eq!(result_of(&set)["setVariableResult"][0]["attributeStatus"], "Accepted");
    let read = rig.server_call(
        "GetVariables",
        json!({"getVariableData": [{"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]}),
    );
    assert_eq!(result_of(&read)["getVariableResult"][0]["attributeValue"], "60");
    let garbage = rig.text("[2,\"x\",\"Heartbeat\",[]]");
    let Some(reply) = garbage.reply else {
        panic!("an answer")
    };
    assert!(reply.to_text().contains("FormatViolation"), "{}", reply.to_text());
}

#[test]
fn intervals_the_server_configures_are_reported_but_the_scenario_keeps_its_own() {
    let mut rig = Rig::booted(Settings {
        heartbeat_interval: Duration::ZERO,
        ..settings()
    });
    let change = rig.server_call(
        "ChangeConfiguration",
        json!({"key": "MeterValueSampleInterval", "value": "60"}),
    );
    assert_eq!(result_of(&change)["status"], "Accepted");
    let mut meters = 0;
    for _ in 0..30 {
        rig.advance(SECOND);
        meters += rig.drain().iter().filter(|s| s.action == "MeterValues").count();
    }
    assert_eq!(meters, 3, "every 10 s, as the run asked");
}
