//! Pairing as real households meet it (issue 12), over real sockets: two linked cars and one or two
//! chargers per household, plug-ins seconds apart, a maker that reports 10 s late, sleeping cars,
//! visitors' cars, and two people with their own accounts at one maker. Every observation of the
//! user's EV systems along the way is checked: a wrong match is never shown, not even for a moment.

use std::collections::HashMap;
use std::time::Duration;

use coupler_core::ev_system::MatchRules;
use coupler_simulated::{Brand, SimConfig, SimVehicleSpec};
use coupler_tests::ocpp::{OcppVersion, PythonChargePoint};
use coupler_tests::vehicles::{eventually, link_simulated, vehicles_of};
use reqwest::Method;
use serde_json::{json, Value};

use crate::ev_systems::{charger_starts_charging, report_status, scene_with, Scene, USER};

/// A maker whose API reports each car as it was 10 s earlier, as in the households.
fn late_maker() -> SimConfig {
    SimConfig {
        report_interval: Duration::from_secs(10),
        ..SimConfig::default()
    }
}

/// One of the user's chargers in a scene, played by the Python `ocpp` package.
struct Charger {
    id: String,
    cp: PythonChargePoint,
    version: OcppVersion,
    transaction: String,
}

impl Charger {
    async fn register(scene: &Scene, ocpp_id: &str, version: OcppVersion) -> Self {
        let registered = scene.app.register_charger(&scene.tenant, USER, ocpp_id).await;
        let url = registered["ocppUrl"].as_str().unwrap();
        let password = registered["password"].as_str().unwrap();
        let mut cp = PythonChargePoint::connected_as(version, url, ocpp_id, password).await;
        match version {
            OcppVersion::V16 => {
                cp.boot("Available").await;
            }
            OcppVersion::V201 => {
                cp.boot_201("Available").await;
            }
        }
        Self {
            id: registered["id"].as_str().unwrap().to_owned(),
            cp,
            version,
            transaction: format!("tx-{ocpp_id}"),
        }
    }

    /// A car is plugged in and charging starts (free vending): what the charger reports at once.
    async fn plugged_in(&mut self) {
        match self.version {
            OcppVersion::V16 => {
                report_status(&mut self.cp, "Preparing").await;
                charger_starts_charging(&mut self.cp).await;
            }
            OcppVersion::V201 => {
                self.cp.status_201("Occupied").await;
                self.cp
                    .call(
                        "TransactionEvent",
                        json!({"event_type": "Started", "timestamp": coupler_core::time::now().to_rfc3339(),
                               "trigger_reason": "CablePluggedIn", "seq_no": 0,
                               "transaction_info": {"transactionId": self.transaction, "chargingState": "Charging"},
                               "evse": {"id": 1, "connectorId": 1}}),
                    )
                    .await;
            }
        }
    }

    /// A meter reading of `watts` now.
    async fn meters(&mut self, watts: f64) {
        let reading = json!([{"timestamp": coupler_core::time::now().to_rfc3339(), "sampledValue": [
            {"value": watts.to_string(), "measurand": "Power.Active.Import", "unit": "W"}
        ]}]);
        match self.version {
            OcppVersion::V16 => {
                self.cp
                    .call("MeterValues", json!({"connector_id": 1, "meter_value": reading}))
                    .await;
            }
            OcppVersion::V201 => {
                let reading = json!([{"timestamp": coupler_core::time::now().to_rfc3339(), "sampledValue": [
                    {"value": watts, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}
                ]}]);
                self.cp
                    .call("MeterValues", json!({"evse_id": 1, "meter_value": reading}))
                    .await;
            }
        }
    }
}

/// Which charger each of the user's vehicles is really in (vehicles not listed are in none).
type Truth = HashMap<String, String>;

/// The user's EV systems now, after checking that no activated pair contradicts `truth`.
async fn observe(scene: &Scene, truth: &Truth) -> Vec<Value> {
    let list = scene.get(&format!("/users/{USER}/ev-systems")).await;
    let systems = list["data"].as_array().unwrap().clone();
    for pair in &systems {
        if pair["state"] == "ACTIVATED" {
            let vehicle = pair["vehicleId"].as_str().unwrap();
            let charger = pair["chargerId"].as_str().unwrap();
            assert_eq!(
                truth.get(vehicle).map(String::as_str),
                Some(charger),
                "a wrong match was shown: {pair}"
            );
        }
    }
    systems
}

fn pair<'a>(systems: &'a [Value], vehicle: &str, charger: &str) -> &'a Value {
    systems
        .iter()
        .find(|s| s["vehicleId"] == vehicle && s["chargerId"] == charger)
        .unwrap_or_else(|| panic!("no EV system of {vehicle} and {charger}"))
}

/// Places both chargers at the user's Home, where the cars are too: the location cannot tell them
/// apart, as in the households.
async fn both_at_home(scene: &Scene, chargers: [&str; 2]) {
    let home = scene
        .post(
            &format!("/users/{USER}/locations"),
            json!({"name": "Home", "latitude": 59.9139, "longitude": 10.7522, "timezoneName": "Europe/Oslo"}),
        )
        .await;
    assert_eq!(home.status(), 201);
    let home: Value = home.json().await.unwrap();
    for charger in chargers {
        let placed = scene
            .app
            .as_tenant(&scene.tenant, Method::PUT, &format!("/chargers/{charger}"))
            .json(&json!({"locationId": home["id"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), 200);
    }
}

/// Car A into charger X, then car B into charger Y `gap` later; the maker reports 10 s late and
/// both chargers are at Home, without identity. The cars draw different power (16 A and 10 A), which
/// the chargers' meters show. Never a wrong match; in the end each car in its own charger.
async fn two_cars_into_two_chargers(gap: Duration, x_version: OcppVersion, y_version: OcppVersion, tag: &str) {
    let scene = scene_with(late_maker(), MatchRules::default()).await;
    let linked = scene
        .link(
            Brand::Aurora,
            "au",
            vec![
                SimVehicleSpec::new(&format!("SIMAUR{tag}00000001"), "Aurora S"),
                SimVehicleSpec::new(&format!("SIMAUR{tag}00000002"), "Aurora S"),
            ],
        )
        .await;
    let (a, a_maker) = (&linked[0].0["id"].as_str().unwrap().to_owned(), &linked[0].1);
    let (b, b_maker) = (&linked[1].0["id"].as_str().unwrap().to_owned(), &linked[1].1);
    scene.car(a_maker, |c| c.max_current = 16);
    scene.car(b_maker, |c| c.max_current = 10);
    let mut x = Charger::register(&scene, &format!("CP-{tag}-X"), x_version).await;
    let mut y = Charger::register(&scene, &format!("CP-{tag}-Y"), y_version).await;
    both_at_home(&scene, [&x.id, &y.id]).await;
    let truth: Truth = [(a.clone(), x.id.clone()), (b.clone(), y.id.clone())].into();
    let (a_watts, b_watts) = (16.0 * 230.0 * 3.0, 10.0 * 230.0 * 3.0);

    scene.car(a_maker, |c| {
        c.plugged_in = true;
        c.charge_enabled = true;
    });
    x.plugged_in().await;
    x.meters(a_watts).await;
    // The gap between the two plug-ins is the scenario itself, not a wait for a result.
    tokio::time::sleep(gap).await;
    scene.car(b_maker, |c| {
        c.plugged_in = true;
        c.charge_enabled = true;
    });
    y.plugged_in().await;
    y.meters(b_watts).await;

    // Until both are matched: every observation is checked, the meters keep reporting, and while
    // undecided the views say that detection is still running and why.
    let mut seen_detecting = false;
    let mut rounds = 0;
    loop {
        let systems = observe(&scene, &truth).await;
        let ax = pair(&systems, a, &x.id);
        let by = pair(&systems, b, &y.id);
        if ax["state"] == "ACTIVATED" && by["state"] == "ACTIVATED" {
            for matched in [ax, by] {
                let confidence = matched["match"]["confidence"].as_str().unwrap();
                assert!(confidence == "HIGH" || confidence == "MEDIUM", "{matched}");
            }
            break;
        }
        for p in [ax, by] {
            if p["state"] != "ACTIVATED" && p["detection"]["status"] == "DETECTING" {
                assert!(p["detection"]["reasonCode"].is_string(), "{p}");
                seen_detecting = true;
            }
        }
        rounds += 1;
        assert!(
            rounds < 180,
            "both cars were not matched within three minutes: {systems:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        x.meters(a_watts).await;
        y.meters(b_watts).await;
    }
    assert!(seen_detecting, "the views never said that detection was running");
    // And it stays right while the cars keep reporting.
    for _ in 0..5 {
        observe(&scene, &truth).await;
        x.meters(a_watts).await;
        y.meters(b_watts).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn two_cars_plugged_in_1_5_s_apart_into_a_1_6_and_a_2_0_1_charger_are_never_swapped() {
    two_cars_into_two_chargers(Duration::from_millis(1500), OcppVersion::V16, OcppVersion::V201, "1516").await;
}

#[tokio::test]
async fn two_cars_plugged_in_1_5_s_apart_into_a_2_0_1_and_a_1_6_charger_are_never_swapped() {
    two_cars_into_two_chargers(Duration::from_millis(1500), OcppVersion::V201, OcppVersion::V16, "1520").await;
}

#[tokio::test]
async fn two_cars_plugged_in_3_7_s_apart_into_a_1_6_and_a_2_0_1_charger_are_never_swapped() {
    two_cars_into_two_chargers(Duration::from_millis(3700), OcppVersion::V16, OcppVersion::V201, "3716").await;
}

#[tokio::test]
async fn two_cars_plugged_in_3_7_s_apart_into_a_2_0_1_and_a_1_6_charger_are_never_swapped() {
    two_cars_into_two_chargers(Duration::from_millis(3700), OcppVersion::V201, OcppVersion::V16, "3720").await;
}

/// A visitor's car (linked to no one) is plugged into the user's charger, whose two cars are at
/// home, unplugged; `asleep` puts one of them to sleep. Nothing is ever matched, and the charger
/// says why: with a sleeping car, it gives up waiting for it; with both awake, both rule themselves
/// out.
async fn a_visitor(asleep: bool, tag: &str) {
    let scene = scene_with(
        late_maker(),
        MatchRules {
            detection_window: chrono::Duration::seconds(30),
            ..MatchRules::default()
        },
    )
    .await;
    let linked = scene
        .link(
            Brand::Nimbus,
            "ni",
            vec![
                SimVehicleSpec::new(&format!("SIMNIM{tag}00000001"), "Nimbus 3"),
                SimVehicleSpec::new(&format!("SIMNIM{tag}00000002"), "Nimbus 3"),
            ],
        )
        .await;
    let sleeper = linked[0].0["id"].as_str().unwrap().to_owned();
    if asleep {
        scene.car(&linked[0].1, |c| c.asleep = true);
    }
    let mut x = Charger::register(&scene, &format!("CP-{tag}-VISIT"), OcppVersion::V16).await;
    let truth = Truth::new();
    x.plugged_in().await;
    x.meters(7400.0).await;

    let (status, code) = if asleep {
        ("UNMATCHED", "AWAITING_REPORTS")
    } else {
        ("UNMATCHED", "ALL_RULED_OUT")
    };
    let mut rounds = 0;
    loop {
        observe(&scene, &truth).await;
        let shown = scene.get(&format!("/chargers/{}", x.id)).await;
        let detection = &shown["vehicleDetection"];
        assert!(shown["chargeState"]["pluggedInVehicleId"].is_null(), "{shown}");
        if detection["status"] == status && detection["reasonCode"] == code {
            if asleep {
                let reason = detection["reason"].as_str().unwrap();
                assert!(reason.contains(&sleeper), "{reason}");
            }
            break;
        }
        rounds += 1;
        assert!(rounds < 120, "the visitor's plug-in was not given up on: {detection}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        x.meters(7400.0).await;
    }
    // Given up, and still nothing matched while the meter and the cars keep reporting.
    for _ in 0..5 {
        observe(&scene, &truth).await;
        x.meters(7400.0).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let systems = observe(&scene, &truth).await;
    assert!(systems.iter().all(|s| s["state"] == "ESTABLISHED"), "{systems:?}");
    assert_eq!(systems[0]["detection"]["status"], status);
}

#[tokio::test]
async fn a_visitors_car_is_never_matched_to_the_users_car_that_sleeps() {
    a_visitor(true, "VS").await;
}

#[tokio::test]
async fn a_visitors_car_is_never_matched_when_both_of_the_users_cars_are_awake_and_unplugged() {
    a_visitor(false, "VA").await;
}

#[tokio::test]
async fn a_second_account_at_the_same_maker_adds_its_cars_and_keeps_the_firsts() {
    let scene = scene_with(SimConfig::default(), MatchRules::default()).await;
    let hers = scene
        .link_one(
            Brand::Aurora,
            "her",
            SimVehicleSpec::new("SIMAURACC0000001", "Aurora S"),
        )
        .await;
    let his = scene
        .link_one(
            Brand::Aurora,
            "his",
            SimVehicleSpec::new("SIMAURACC0000002", "Aurora S"),
        )
        .await;
    let listed = vehicles_of(&scene.app, &scene.tenant, USER).await;
    let ids: Vec<&str> = listed.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&hers.0["id"].as_str().unwrap()), "her car stays: {ids:?}");
    assert!(ids.contains(&his.0["id"].as_str().unwrap()), "{ids:?}");
    assert_eq!(ids.len(), 2);

    // Her account linked again is a relink: her car keeps its id, his stays.
    let again = link_simulated(&scene.app, &scene.tenant, &scene.site, USER, Brand::Aurora, "her", "pw").await;
    assert!(again.as_str().contains("success=true"), "{again}");
    eventually("both cars listed after the relink", || async {
        let listed = vehicles_of(&scene.app, &scene.tenant, USER).await;
        let ids: Vec<&str> = listed.iter().map(|v| v["id"].as_str().unwrap()).collect();
        ids.len() == 2 && ids.contains(&hers.0["id"].as_str().unwrap()) && ids.contains(&his.0["id"].as_str().unwrap())
    })
    .await;
}
