//! EV systems end to end: a simulated maker's cars linked through the hosted page, OCPP 1.6 chargers
//! played by the independent Python `ocpp` package, and Coupler pairing them and routing commands
//! across both over real sockets.

use std::time::Duration;

use coupler_core::ev_system::MatchRules;
use coupler_engine::PairingConfig;
use coupler_simulated::{Brand, RequestKind, SimConfig, SimVehicleSpec};
use coupler_tests::ocpp::{OcppVersion, PythonChargePoint};
use coupler_tests::vehicles::{eventually, get_json, hint, link_simulated, vehicles_of, AppSite, SimWorld};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) const USER: &str = "alice";

/// Pairing that reacts within a second: it weighs plug-ins often and asks for reads every second.
pub(crate) fn quick_pairing(rules: MatchRules) -> PairingConfig {
    PairingConfig {
        rules,
        tick: Duration::from_millis(200),
        repoll_every: Duration::from_secs(1),
    }
}

/// Rules for cars whose maker reports at once (no lag).
pub(crate) fn prompt_maker() -> MatchRules {
    MatchRules {
        maker_lag: chrono::Duration::zero(),
        ..MatchRules::default()
    }
}

pub(crate) struct Scene {
    pub(crate) world: SimWorld,
    pub(crate) app: TestApp,
    pub(crate) tenant: Tenant,
    pub(crate) site: AppSite,
}

pub(crate) async fn scene(rules: MatchRules) -> Scene {
    scene_with(SimConfig::default(), rules).await
}

/// A scene whose simulated makers behave as `config` says (for example, reporting late).
pub(crate) async fn scene_with(config: SimConfig, rules: MatchRules) -> Scene {
    let world = SimWorld::start(config).await;
    let app = TestApp::spawn_with(|url, wiring| {
        world.wire(url, wiring, |_| None);
        wiring.pairing = quick_pairing(rules);
    })
    .await;
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    Scene {
        world,
        app,
        tenant,
        site,
    }
}

impl Scene {
    /// Gives `username` an account at `brand` with `cars`, links it for the user, and waits for the
    /// first read; returns Coupler's vehicles and the cars' ids at the maker, in the same order.
    pub(crate) async fn link(&self, brand: Brand, username: &str, cars: Vec<SimVehicleSpec>) -> Vec<(Value, String)> {
        let vins: Vec<String> = cars.iter().map(|c| c.vin.clone()).collect();
        let maker_ids = self.world.cloud.add_account(brand, username, "pw", cars);
        let landed = link_simulated(&self.app, &self.tenant, &self.site, USER, brand, username, "pw").await;
        assert!(landed.as_str().contains("success=true"), "{landed}");
        eventually("the first read of the linked cars", || async {
            let list = vehicles_of(&self.app, &self.tenant, USER).await;
            vins.iter().all(|vin| {
                list.iter()
                    .any(|v| v["information"]["vin"] == vin.as_str() && !v["isReachable"].is_null())
            })
        })
        .await;
        let list = vehicles_of(&self.app, &self.tenant, USER).await;
        vins.iter()
            .zip(maker_ids)
            .map(|(vin, maker_id)| {
                let vehicle = list
                    .iter()
                    .find(|v| v["information"]["vin"] == vin.as_str())
                    .cloned()
                    .unwrap();
                (vehicle, maker_id)
            })
            .collect()
    }

    /// Links an account at `brand` with one car; returns Coupler's vehicle and the car's maker id.
    pub(crate) async fn link_one(&self, brand: Brand, username: &str, car: SimVehicleSpec) -> (Value, String) {
        self.link(brand, username, vec![car]).await.remove(0)
    }

    /// Sends a command on a vehicle (`charging` or `max-current`) and returns its action.
    pub(crate) async fn command(&self, vehicle_id: &str, what: &str, body: Value) -> Value {
        let response = self.post(&format!("/vehicles/{vehicle_id}/{what}"), body).await;
        assert_eq!(response.status(), 200, "POST /vehicles/{vehicle_id}/{what}");
        response.json().await.unwrap()
    }

    /// Links an Aurora account with two cars.
    pub(crate) async fn link_two_auroras(&self, first_vin: &str, second_vin: &str) -> Vec<(Value, String)> {
        let cars = vec![
            SimVehicleSpec::new(first_vin, "Aurora S"),
            SimVehicleSpec::new(second_vin, "Aurora S"),
        ];
        self.link(Brand::Aurora, "au", cars).await
    }

    /// Registers a 1.6 charger for the user, connects the Python charge point and boots it idle.
    pub(crate) async fn charger(&self, ocpp_id: &str) -> (String, PythonChargePoint) {
        let registered = self.app.register_charger(&self.tenant, USER, ocpp_id).await;
        let mut cp = PythonChargePoint::connected(
            registered["ocppUrl"].as_str().unwrap(),
            ocpp_id,
            registered["password"].as_str().unwrap(),
        )
        .await;
        cp.boot("Available").await;
        (registered["id"].as_str().unwrap().to_owned(), cp)
    }

    /// Changes a car at the maker.
    pub(crate) fn car(&self, maker_id: &str, change: impl FnOnce(&mut coupler_simulated::SimVehicle)) {
        self.world
            .cloud
            .update_vehicle(maker_id, change)
            .expect("the car exists");
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        get_json(&self.app, &self.tenant, path).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .as_tenant(&self.tenant, Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The EV system of a vehicle and a charger.
    pub(crate) async fn system(&self, vehicle_id: &str, charger_id: &str) -> Value {
        let list = self.get(&format!("/users/{USER}/ev-systems")).await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["vehicleId"] == vehicle_id && s["chargerId"] == charger_id)
            .cloned()
            .unwrap_or_else(|| panic!("no EV system of {vehicle_id} and {charger_id} in {list}"))
    }

    pub(crate) async fn wait_activated(&self, vehicle_id: &str, charger_id: &str) -> Value {
        eventually("the EV system activated", || async {
            self.system(vehicle_id, charger_id).await["state"] == "ACTIVATED"
        })
        .await;
        self.system(vehicle_id, charger_id).await
    }

    pub(crate) async fn settled(&self, action: &Value) -> Value {
        let path = format!("/actions/{}", action["id"].as_str().unwrap());
        eventually("the action settled", || async {
            self.get(&path).await["state"] != "PENDING"
        })
        .await;
        self.get(&path).await
    }
}

/// Plugs a car in at the maker (charging or not), then reports the plug-in from the charger.
pub(crate) async fn plug_in(scene: &Scene, cp: &mut PythonChargePoint, maker_id: &str, charging: bool) {
    scene.car(maker_id, |c| {
        c.plugged_in = true;
        c.charge_enabled = charging;
    });
    report_status(cp, "Preparing").await;
}

pub(crate) async fn report_status(cp: &mut PythonChargePoint, status: &str) {
    cp.call(
        "StatusNotification",
        json!({"connector_id": 1, "error_code": "NoError", "status": status}),
    )
    .await;
}

/// The charger starts a transaction of its own (free vending) and reports charging.
pub(crate) async fn charger_starts_charging(cp: &mut PythonChargePoint) {
    cp.call(
        "StartTransaction",
        json!({"connector_id": 1, "id_tag": "FREE", "meter_start": 1000, "timestamp": coupler_core::time::now().to_rfc3339()}),
    )
    .await;
    report_status(cp, "Charging").await;
}

fn vias(action: &Value) -> Vec<(String, String)> {
    action["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["via"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn boreal() -> SimVehicleSpec {
    SimVehicleSpec::new("SIMBOR00000000001", "Boreal One")
}

#[tokio::test]
async fn a_vehicle_that_cannot_stop_charging_is_stopped_through_its_paired_charger() {
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene.link_one(Brand::Boreal, "bo", boreal()).await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    // Alone, the car cannot be stopped: its maker has no stop command.
    assert_eq!(vehicle["capabilities"]["stopCharging"]["isCapable"], false);
    let refused = scene
        .post(&format!("/vehicles/{vehicle_id}/charging"), json!({"action": "STOP"}))
        .await;
    assert_eq!(refused.status(), 400);
    assert!(problem(refused).await["detail"].as_str().unwrap().contains("stop"));

    let (charger_id, mut cp) = scene.charger("CP-EVS-STOP").await;
    // Established at once: the charger unlocks stopping for the car.
    let established = scene.system(vehicle_id, &charger_id).await;
    assert_eq!(established["state"], "ESTABLISHED");
    assert_eq!(established["capabilities"]["stopCharging"]["isCapable"], true);
    assert_eq!(established["capabilities"]["stopCharging"]["via"], json!(["charger"]));
    // But a command goes to the charger only once the car is confirmed plugged into it.
    let early = scene.command(vehicle_id, "charging", json!({"action": "STOP"})).await;
    let failed = scene.settled(&early).await;
    assert_eq!(failed["state"], "FAILED");
    assert_eq!(failed["failureReason"]["type"], "FAILED_PRECONDITION");
    assert!(failed["failureReason"]["detail"]
        .as_str()
        .unwrap()
        .contains("no charger was confirmed plugged into the vehicle"));
    assert!(failed["attempts"].as_array().unwrap().is_empty());

    plug_in(&scene, &mut cp, maker_id, true).await;
    charger_starts_charging(&mut cp).await;
    let active = scene.wait_activated(vehicle_id, &charger_id).await;
    assert!(active["activatedAt"].is_string());
    let shown = scene.get(&format!("/vehicles/{vehicle_id}")).await;
    assert_eq!(shown["chargeState"]["pluggedInChargerId"], charger_id.as_str());
    assert_eq!(shown["capabilities"]["stopCharging"]["via"], json!(["charger"]));
    let charger = scene.get(&format!("/chargers/{charger_id}")).await;
    assert_eq!(charger["chargeState"]["pluggedInVehicleId"], vehicle_id);
    assert_eq!(charger["vehicleDetection"]["status"], "MATCHED");

    let response = scene
        .post(&format!("/vehicles/{vehicle_id}/charging"), json!({"action": "STOP"}))
        .await;
    assert_eq!(response.status(), 200);
    let action: Value = response.json().await.unwrap();
    assert_eq!(action["targetType"], "vehicle");
    cp.received("RemoteStopTransaction").await;
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(vias(&done), vec![("charger".to_owned(), "CONFIRMED".to_owned())]);
    assert_eq!(done["attempts"][0]["deviceId"], charger_id.as_str());
}

#[tokio::test]
async fn when_the_charger_refuses_and_the_vehicle_cannot_the_action_fails_and_says_why_on_both_counts() {
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene.link_one(Brand::Boreal, "bo", boreal()).await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    let (charger_id, mut cp) = scene.charger("CP-EVS-REFUSE").await;
    plug_in(&scene, &mut cp, maker_id, true).await;
    charger_starts_charging(&mut cp).await;
    scene.wait_activated(vehicle_id, &charger_id).await;
    cp.set("remote_stop", "reject").await;

    let action = scene.command(vehicle_id, "charging", json!({"action": "STOP"})).await;
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    assert_eq!(done["failureReason"]["type"], "FAILED_PRECONDITION");
    let detail = done["failureReason"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Rejected") && detail.contains("cannot stop"),
        "{detail}"
    );
    assert_eq!(vias(&done), vec![("charger".to_owned(), "REJECTED".to_owned())]);
}

#[tokio::test]
async fn start_on_a_vehicle_that_cannot_start_goes_through_its_charger() {
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Cirrus,
            "ci",
            SimVehicleSpec::new("SIMCIR00000000001", "Cirrus S"),
        )
        .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    assert_eq!(vehicle["capabilities"]["startCharging"]["isCapable"], false);
    let (charger_id, mut cp) = scene.charger("CP-EVS-START").await;
    plug_in(&scene, &mut cp, maker_id, false).await;
    scene.wait_activated(vehicle_id, &charger_id).await;

    let action = scene.command(vehicle_id, "charging", json!({"action": "START"})).await;
    cp.received("RemoteStartTransaction").await;
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(vias(&done), vec![("charger".to_owned(), "CONFIRMED".to_owned())]);
    let system = scene.system(vehicle_id, &charger_id).await;
    assert_eq!(system["chargeState"]["isCharging"], true);
    assert_eq!(system["chargeState"]["powerDeliveryState"], "PLUGGED_IN:CHARGING");
    // Battery data still comes from the car.
    assert_eq!(
        system["chargeState"]["batteryLevel"],
        vehicle["chargeState"]["batteryLevel"]
    );
}

#[tokio::test]
async fn max_current_on_a_vehicle_without_that_control_becomes_a_charging_profile_on_the_charger() {
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Aurora,
            "au",
            SimVehicleSpec::new("SIMAUR00000000009", "Aurora Classic"),
        )
        .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    assert_eq!(vehicle["capabilities"]["setMaxCurrent"]["isCapable"], false);
    let (charger_id, mut cp) = scene.charger("CP-EVS-AMPS").await;
    plug_in(&scene, &mut cp, maker_id, true).await;
    charger_starts_charging(&mut cp).await;
    scene.wait_activated(vehicle_id, &charger_id).await;

    let action = scene
        .command(vehicle_id, "max-current", json!({"maxCurrent": 10}))
        .await;
    let profile = cp.received("SetChargingProfile").await;
    assert_eq!(
        profile["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"],
        10.0
    );
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(vias(&done), vec![("charger".to_owned(), "CONFIRMED".to_owned())]);
    assert_eq!(
        scene.system(vehicle_id, &charger_id).await["chargeState"]["maxCurrent"],
        10.0
    );
}

#[tokio::test]
async fn when_the_charger_starts_but_the_cars_own_schedule_holds_it_the_vehicle_route_is_tried_and_the_action_says_so()
{
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Aurora,
            "au",
            SimVehicleSpec::new("SIMAUR00000000010", "Aurora S"),
        )
        .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    let (charger_id, mut cp) = scene.charger("CP-EVS-HELD").await;
    // The car is plugged in but its own schedule holds charging; the charger's start is accepted
    // and the transaction runs, but the car draws nothing.
    plug_in(&scene, &mut cp, maker_id, false).await;
    scene.wait_activated(vehicle_id, &charger_id).await;
    cp.set("remote_start", "accept_without_charging").await;

    let action = scene.command(vehicle_id, "charging", json!({"action": "START"})).await;
    cp.received("RemoteStartTransaction").await;
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(
        vias(&done),
        vec![
            ("charger".to_owned(), "NO_EFFECT".to_owned()),
            ("vehicle".to_owned(), "CONFIRMED".to_owned())
        ]
    );
    assert!(done["attempts"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("charging did not begin"));
    assert_eq!(scene.world.cloud.request_count(Brand::Aurora, RequestKind::Command), 1);
}

#[tokio::test]
async fn a_car_woken_by_its_plug_in_is_matched_and_once_asleep_again_the_charger_carries_the_command_without_waking_it()
{
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Nimbus,
            "ni",
            SimVehicleSpec::new("SIMNIM00000000001", "Nimbus 3"),
        )
        .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    let (charger_id, mut cp) = scene.charger("CP-EVS-SLEEP").await;
    scene.car(maker_id, |c| c.asleep = true);
    // A cable going in wakes a car, which then reports being plugged in.
    scene.car(maker_id, |c| {
        c.plugged_in = true;
        c.charge_enabled = true;
        c.asleep = false;
    });
    report_status(&mut cp, "Preparing").await;
    charger_starts_charging(&mut cp).await;
    let active = scene.wait_activated(vehicle_id, &charger_id).await;
    assert_eq!(
        active["match"]["evidence"][0]["kind"], "PLUG_IN_CORRELATION",
        "{active}"
    );

    // Asleep again, the charger carries the command; the car is not woken.
    scene.car(maker_id, |c| c.asleep = true);
    let wakes = scene.world.cloud.request_count(Brand::Nimbus, RequestKind::Wake);
    let action = scene.command(vehicle_id, "charging", json!({"action": "STOP"})).await;
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(vias(&done), vec![("charger".to_owned(), "CONFIRMED".to_owned())]);
    assert_eq!(scene.world.cloud.request_count(Brand::Nimbus, RequestKind::Wake), wakes);
    assert_eq!(scene.world.cloud.request_count(Brand::Nimbus, RequestKind::Command), 0);
}

#[tokio::test]
async fn a_plug_in_seen_by_the_charger_before_the_vehicle_reports_it_is_detecting_until_the_vehicle_confirms_it() {
    // The maker reports with up to a minute's delay, so an "unplugged" just after the plug-in
    // proves nothing.
    let scene = scene(MatchRules {
        maker_lag: chrono::Duration::seconds(60),
        ..MatchRules::default()
    })
    .await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Aurora,
            "au",
            SimVehicleSpec::new("SIMAUR00000000011", "Aurora S"),
        )
        .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    let (charger_id, mut cp) = scene.charger("CP-EVS-EARLY").await;

    // The charger's plug-in alone matches nothing: the only car has not said it is plugged in.
    report_status(&mut cp, "Preparing").await;
    eventually("the detection waiting for the car", || async {
        let shown = scene.get(&format!("/chargers/{charger_id}")).await;
        shown["vehicleDetection"]["status"] == "DETECTING"
            && shown["vehicleDetection"]["reasonCode"] == "AWAITING_REPORTS"
    })
    .await;
    let pair = scene.system(vehicle_id, &charger_id).await;
    assert_eq!(pair["state"], "ESTABLISHED");
    assert_eq!(pair["detection"]["status"], "DETECTING", "{pair}");
    assert_eq!(pair["detection"]["reasonCode"], "AWAITING_REPORTS", "{pair}");
    assert!(
        pair["detection"]["reason"].as_str().unwrap().contains(vehicle_id),
        "{pair}"
    );
    assert!(!scene.world.cloud.vehicle(maker_id).unwrap().plugged_in);

    // Then the maker catches up, and the car's own report matches it.
    scene.car(maker_id, |c| {
        c.plugged_in = true;
        c.charge_enabled = false;
    });
    let confirmed = scene.wait_activated(vehicle_id, &charger_id).await;
    let kinds: Vec<&str> = confirmed["match"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["PLUG_IN_CORRELATION"], "{confirmed}");
    assert_eq!(confirmed["match"]["confidence"], "MEDIUM");
    assert_eq!(confirmed["detection"]["status"], "MATCHED");
    let shown = scene.get(&format!("/vehicles/{vehicle_id}")).await;
    assert_eq!(shown["chargeState"]["pluggedInChargerId"], charger_id.as_str());
}

#[tokio::test]
async fn of_two_vehicles_only_the_one_plugged_in_is_matched() {
    let scene = scene(prompt_maker()).await;
    let linked = scene.link_two_auroras("SIMAUR00000000021", "SIMAUR00000000022").await;
    let (first, first_maker) = &linked[0];
    let (second, _) = &linked[1];
    let (charger_id, mut cp) = scene.charger("CP-EVS-TWO").await;
    plug_in(&scene, &mut cp, first_maker, true).await;
    let first_id = first["id"].as_str().unwrap();
    // Matched on the car's own report; once the other car has reported since the plug-in (not
    // plugged in), with high confidence.
    scene.wait_activated(first_id, &charger_id).await;
    eventually("the other car ruled out by its own report", || async {
        scene.system(first_id, &charger_id).await["match"]["confidence"] == "HIGH"
    })
    .await;
    let active = scene.system(first_id, &charger_id).await;
    assert!(active["match"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "SINGLE_CANDIDATE"));
    let other = scene.system(second["id"].as_str().unwrap(), &charger_id).await;
    assert_eq!(other["state"], "ESTABLISHED");
    let shown = scene
        .get(&format!("/vehicles/{}", second["id"].as_str().unwrap()))
        .await;
    assert!(shown["chargeState"]["pluggedInChargerId"].is_null());

    // The car reports being unplugged while the charger still says plugged: an unplug on either
    // side deactivates the pair, and the charger says why nothing is matched.
    scene.car(first_maker, |c| c.plugged_in = false);
    hint(&scene.app, &scene.tenant, first_id).await;
    eventually("the EV system deactivated", || async {
        scene.system(first_id, &charger_id).await["state"] == "ESTABLISHED"
    })
    .await;
    assert!(scene.system(first_id, &charger_id).await["deactivatedAt"].is_string());
    let charger = scene.get(&format!("/chargers/{charger_id}")).await;
    assert_eq!(charger["vehicleDetection"]["status"], "UNMATCHED");
    assert!(charger["vehicleDetection"]["reason"]
        .as_str()
        .unwrap()
        .contains("unplugged"));
    report_status(&mut cp, "Available").await;
    eventually("the detection closed", || async {
        scene.get(&format!("/chargers/{charger_id}")).await["vehicleDetection"].is_null()
    })
    .await;
}

#[tokio::test]
async fn two_vehicles_plugged_in_at_once_into_two_chargers_are_never_swapped() {
    let scene = scene(MatchRules {
        detection_window: chrono::Duration::seconds(5),
        ..prompt_maker()
    })
    .await;
    let home = (59.9139, 10.7522);
    let cabin = (61.1153, 10.4662);
    let mut first = SimVehicleSpec::new("SIMAUR00000000031", "Aurora S");
    (first.latitude, first.longitude) = home;
    let mut second = SimVehicleSpec::new("SIMAUR00000000032", "Aurora S");
    (second.latitude, second.longitude) = cabin;
    let linked = scene.link(Brand::Aurora, "au", vec![first, second]).await;
    let (a, a_maker) = &linked[0];
    let (b, b_maker) = &linked[1];
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (home_charger, mut home_cp) = scene.charger("CP-EVS-HOME").await;
    let (cabin_charger, mut cabin_cp) = scene.charger("CP-EVS-CABIN").await;

    // Both cars are plugged in before either charger reports it (how far apart the two reports
    // arrive on a busy machine must not decide the test), so every read after either plug-in
    // shows both cars plugged in since.
    for maker_id in [a_maker, b_maker] {
        scene.car(maker_id, |c| {
            c.plugged_in = true;
            c.charge_enabled = true;
        });
    }
    report_status(&mut home_cp, "Preparing").await;
    report_status(&mut cabin_cp, "Preparing").await;
    // Nothing tells the two plug-ins apart: both chargers stay unmatched and say why.
    for charger in [&home_charger, &cabin_charger] {
        eventually("an unmatched plug-in", || async {
            scene.get(&format!("/chargers/{charger}")).await["vehicleDetection"]["status"] == "UNMATCHED"
        })
        .await;
        let shown = scene.get(&format!("/chargers/{charger}")).await;
        assert!(shown["chargeState"]["pluggedInVehicleId"].is_null());
        let reason = shown["vehicleDetection"]["reason"].as_str().unwrap();
        assert!(reason.contains(a_id) && reason.contains(b_id), "{reason}");
        let pair = scene.system(a_id, charger).await;
        assert_eq!(pair["state"], "ESTABLISHED");
        assert_eq!(pair["unmatchedReason"].as_str(), Some(reason));
    }

    // Placing the chargers at their locations settles it: each car is where its charger is.
    for (charger, (name, (latitude, longitude))) in
        [(&home_charger, ("Home", home)), (&cabin_charger, ("Cabin", cabin))]
    {
        let location = scene
            .post(
                &format!("/users/{USER}/locations"),
                json!({"name": name, "latitude": latitude, "longitude": longitude, "timezoneName": "Europe/Oslo"}),
            )
            .await;
        assert_eq!(location.status(), 201);
        let location: Value = location.json().await.unwrap();
        let placed = scene
            .app
            .as_tenant(&scene.tenant, Method::PUT, &format!("/chargers/{charger}"))
            .json(&json!({"locationId": location["id"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), 200);
    }
    // Once both chargers are placed, each car is ruled out of the other's charger by its position,
    // and each match rests on its plug-in time and its location.
    for (vehicle, charger) in [(a_id, &home_charger), (b_id, &cabin_charger)] {
        eventually("a match that rests on the location", || async {
            let pair = scene.system(vehicle, charger).await;
            pair["state"] == "ACTIVATED"
                && pair["match"]["confidence"] == "HIGH"
                && pair["match"]["evidence"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["kind"] == "LOCATION"))
        })
        .await;
    }
    let shown = scene.get(&format!("/vehicles/{a_id}")).await;
    assert!(shown["location"]["atLocationId"].is_string(), "{shown}");
    assert_eq!(scene.system(a_id, &cabin_charger).await["state"], "ESTABLISHED");
    assert_eq!(scene.system(b_id, &home_charger).await["state"], "ESTABLISHED");
    assert_eq!(
        scene.get(&format!("/chargers/{home_charger}")).await["chargeState"]["pluggedInVehicleId"],
        a_id
    );
    assert_eq!(
        scene.get(&format!("/chargers/{cabin_charger}")).await["chargeState"]["pluggedInVehicleId"],
        b_id
    );
}

#[tokio::test]
async fn an_id_tag_registered_to_a_vehicle_matches_it_even_among_several_plugged_in() {
    let scene = scene(prompt_maker()).await;
    let linked = scene.link_two_auroras("SIMAUR00000000041", "SIMAUR00000000042").await;
    let (a, a_maker) = &linked[0];
    let (b, b_maker) = &linked[1];
    let b_id = b["id"].as_str().unwrap();
    let tagged = scene
        .app
        .as_tenant(&scene.tenant, Method::PUT, &format!("/vehicles/{b_id}/id-tags"))
        .json(&json!({"idTags": ["vid:0a:1b:2c:3d:4e:5f"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.status(), 200);
    let duplicate = scene
        .app
        .as_tenant(&scene.tenant, Method::PUT, &format!("/vehicles/{b_id}/id-tags"))
        .json(&json!({"idTags": ["0A1B2C3D4E5F", "0a-1b-2c-3d-4e-5f"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 422);
    let (charger_id, mut cp) = scene.charger("CP-EVS-TAG").await;
    scene.car(a_maker, |c| c.plugged_in = true);
    plug_in(&scene, &mut cp, b_maker, true).await;
    cp.call(
        "StartTransaction",
        json!({"connector_id": 1, "id_tag": "VID:0A1B2C3D4E5F", "meter_start": 0, "timestamp": coupler_core::time::now().to_rfc3339()}),
    )
    .await;
    let active = scene.wait_activated(b_id, &charger_id).await;
    assert_eq!(active["match"]["confidence"], "HIGH");
    assert_eq!(active["match"]["evidence"][0]["kind"], "IDENTITY");
    assert_eq!(
        scene.system(a["id"].as_str().unwrap(), &charger_id).await["state"],
        "ESTABLISHED"
    );
}

#[tokio::test]
async fn a_2_0_1_chargers_mac_address_token_identifies_the_vehicle_among_several_plugged_in() {
    let scene = scene(prompt_maker()).await;
    let linked = scene.link_two_auroras("SIMAUR00000000051", "SIMAUR00000000052").await;
    let (a, a_maker) = &linked[0];
    let (b, b_maker) = &linked[1];
    let a_id = a["id"].as_str().unwrap();
    let tagged = scene
        .app
        .as_tenant(&scene.tenant, Method::PUT, &format!("/vehicles/{a_id}/id-tags"))
        .json(&json!({"idTags": ["92:D5:0A:69:3F:80"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.status(), 200);
    let registered = scene.app.register_charger(&scene.tenant, USER, "CP-EVS-201").await;
    let mut cp = PythonChargePoint::connected_as(
        OcppVersion::V201,
        registered["ocppUrl"].as_str().unwrap(),
        "CP-EVS-201",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot_201("Available").await;
    let charger_id = registered["id"].as_str().unwrap();
    for maker in [a_maker, b_maker] {
        scene.car(maker, |c| c.plugged_in = true);
    }
    cp.status_201("Occupied").await;
    cp.call(
        "TransactionEvent",
        json!({"event_type": "Started", "timestamp": coupler_core::time::now().to_rfc3339(), "trigger_reason": "CablePluggedIn", "seq_no": 0,
               "transaction_info": {"transactionId": "tx-evs-201", "chargingState": "EVConnected"},
               "evse": {"id": 1, "connectorId": 1}, "id_token": {"idToken": "92D50A693F80", "type": "MacAddress"}}),
    )
    .await;
    let active = scene.wait_activated(a_id, charger_id).await;
    assert_eq!(active["match"]["evidence"][0]["kind"], "IDENTITY");
    assert_eq!(
        scene.system(b["id"].as_str().unwrap(), charger_id).await["state"],
        "ESTABLISHED"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_routed_action_ends_it_confirmed_without_sending_again() {
    let mut scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene.link_one(Brand::Boreal, "bo", boreal()).await;
    let vehicle_id = vehicle["id"].as_str().unwrap().to_owned();
    let registered = scene.app.register_charger(&scene.tenant, USER, "CP-EVS-RESTART").await;
    let charger_id = registered["id"].as_str().unwrap().to_owned();
    let password = registered["password"].as_str().unwrap().to_owned();
    let mut cp =
        PythonChargePoint::connected(registered["ocppUrl"].as_str().unwrap(), "CP-EVS-RESTART", &password).await;
    cp.boot("Available").await;
    plug_in(&scene, &mut cp, maker_id, true).await;
    charger_starts_charging(&mut cp).await;
    scene.wait_activated(&vehicle_id, &charger_id).await;

    // The charger accepts the stop but has not stopped when Coupler goes down.
    cp.set("remote_stop", "accept_without_stopping").await;
    let action = scene.command(&vehicle_id, "charging", json!({"action": "STOP"})).await;
    cp.received("RemoteStopTransaction").await;
    let world = &scene.world;
    scene
        .app
        .restart_with(|url, wiring| {
            world.wire(url, wiring, |_| None);
            wiring.pairing = quick_pairing(prompt_maker());
            // Long enough that the resumed try ends by what the charger does, not by timing out.
            wiring.engine.charger_route_timeout = Duration::from_secs(60);
        })
        .await;
    // Coupler's shutdown closed the old connection; the old process is done with.
    drop(cp);
    let pending = scene.get(&format!("/actions/{}", action["id"].as_str().unwrap())).await;
    assert_eq!(pending["state"], "PENDING");

    // The charger comes back having stopped while Coupler was away.
    let ocpp_url = scene.app.url.replace("http://", "ws://") + "/ocpp/CP-EVS-RESTART";
    let mut back = PythonChargePoint::connected(&ocpp_url, "CP-EVS-RESTART", &password).await;
    back.boot("Charging").await;
    let session = scene.get(&format!("/chargers/{charger_id}/sessions")).await;
    let transaction_id = session["data"][0]["id"].as_i64().unwrap();
    back.call(
        "StopTransaction",
        json!({"transaction_id": transaction_id, "meter_stop": 2000, "timestamp": coupler_core::time::now().to_rfc3339(), "reason": "Remote"}),
    )
    .await;
    report_status(&mut back, "Finishing").await;
    let done = scene.settled(&action).await;
    assert_eq!(done["state"], "CONFIRMED", "{done}");
    assert_eq!(vias(&done), vec![("charger".to_owned(), "CONFIRMED".to_owned())]);
    // The resumed try watched the charger; it did not send the stop again.
    let resent = tokio::time::timeout(Duration::from_millis(500), back.received("RemoteStopTransaction")).await;
    assert!(resent.is_err(), "the stop was sent again after the restart");
}

#[tokio::test]
async fn locations_are_validated_scoped_to_their_client_and_required_to_be_the_users_own_when_placing_a_charger() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let other = app.tenant("other").await;
    let create = |tenant: &Tenant, user: &str, body: Value| {
        app.as_tenant(tenant, Method::POST, &format!("/users/{user}/locations"))
            .json(&body)
            .send()
    };
    let home = json!({"name": "Home", "latitude": 59.91, "longitude": 10.75, "timezoneName": "Europe/Oslo"});
    let created = create(&tenant, USER, home.clone()).await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    for (bad, status) in [
        (
            json!({"name": "", "latitude": 1, "longitude": 1, "timezoneName": "UTC"}),
            422,
        ),
        (
            json!({"name": "x", "latitude": 91, "longitude": 1, "timezoneName": "UTC"}),
            422,
        ),
        (
            json!({"name": "x", "latitude": 1, "longitude": 1, "timezoneName": "Mars/Base"}),
            422,
        ),
        (json!({"name": "x", "latitude": 1, "longitude": 1}), 422),
        (
            json!({"name": "x", "latitude": 1, "longitude": 1, "timezoneName": "UTC", "extra": 1}),
            422,
        ),
    ] {
        let refused = create(&tenant, USER, bad.clone()).await.unwrap();
        assert_eq!(refused.status(), status, "{bad}");
        assert!(problem(refused).await["detail"].is_string());
    }
    let listed = app.get_json(&tenant, &format!("/users/{USER}/locations")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "bad input changed nothing");

    // Another client sees nothing of it.
    let foreign = app
        .as_tenant(&other, Method::GET, &format!("/locations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let foreign_delete = app
        .as_tenant(&other, Method::DELETE, &format!("/locations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_delete.status(), 404);

    // A charger is placed only at its own user's location.
    let charger = app.register_charger(&tenant, USER, "CP-LOC-1").await;
    let charger_id = charger["id"].as_str().unwrap();
    let bobs: Value = create(&tenant, "bob", home.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (location, status) in [(json!("nope"), 422), (bobs["id"].clone(), 422), (json!(id), 200)] {
        let placed = app
            .as_tenant(&tenant, Method::PUT, &format!("/chargers/{charger_id}"))
            .json(&json!({"locationId": location}))
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), status, "{location}");
    }
    assert_eq!(
        app.get_json(&tenant, &format!("/chargers/{charger_id}")).await["locationId"],
        id
    );

    let renamed = app
        .as_tenant(&tenant, Method::PUT, &format!("/locations/{id}"))
        .json(&json!({"name": "Cottage", "latitude": 60.0, "longitude": 11.0, "timezoneName": "Europe/Oslo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        app.get_json(&tenant, &format!("/locations/{id}")).await["name"],
        "Cottage"
    );
    let deleted = app
        .as_tenant(&tenant, Method::DELETE, &format!("/locations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(app.get_json(&tenant, &format!("/chargers/{charger_id}")).await["locationId"].is_null());
}

#[tokio::test]
async fn another_clients_ev_systems_answer_404() {
    let scene = scene(prompt_maker()).await;
    let linked = scene.link(Brand::Boreal, "bo", vec![boreal()]).await;
    let (charger_id, _cp) = scene.charger("CP-EVS-TENANT").await;
    let system = scene.system(linked[0].0["id"].as_str().unwrap(), &charger_id).await;
    let other = scene.app.tenant("other").await;
    let id = system["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/ev-systems/{id}")),
        (Method::POST, format!("/ev-systems/{id}/charging")),
    ] {
        let response = scene
            .app
            .as_tenant(&other, method, &path)
            .json(&json!({"action": "START"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let theirs = scene
        .app
        .as_tenant(&other, Method::GET, &format!("/users/{USER}/ev-systems"))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
}

/// The charger sees the unplug long before the maker's cloud does: the vehicle shows it at once
/// (its older "plugged in, charging" from the maker is stale), and the deactivated EV system shows
/// no merged power.
#[tokio::test]
async fn an_unplug_seen_by_the_charger_shows_on_the_vehicle_at_once_and_the_deactivated_system_merges_nothing() {
    let scene = scene(prompt_maker()).await;
    let (vehicle, maker_id) = &scene
        .link_one(
            Brand::Aurora,
            "au",
            SimVehicleSpec::new("SIMAUR00000000031", "Aurora S"),
        )
        .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    let (charger_id, mut cp) = scene.charger("CP-EVS-UNPLUG").await;
    plug_in(&scene, &mut cp, maker_id, true).await;
    charger_starts_charging(&mut cp).await;
    scene.wait_activated(vehicle_id, &charger_id).await;
    eventually("the vehicle charging", || async {
        scene.get(&format!("/vehicles/{vehicle_id}")).await["chargeState"]["powerDeliveryState"]
            == "PLUGGED_IN:CHARGING"
    })
    .await;
    // The maker still says what it said at the plug-in: plugged in and charging.
    let before = scene
        .app
        .store
        .get_vehicle(&scene.tenant.id, &coupler_core::VehicleId::new(vehicle_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.charge_state.is_charging, Some(true));

    // The cable comes out: the charger ends the transaction and reports the connector free.
    let session = scene.get(&format!("/chargers/{charger_id}/sessions")).await;
    let transaction_id = session["data"][0]["id"].as_i64().unwrap();
    let reported = std::time::Instant::now();
    cp.call(
        "StopTransaction",
        json!({"transaction_id": transaction_id, "meter_stop": 5000, "timestamp": coupler_core::time::now().to_rfc3339(), "reason": "EVDisconnected"}),
    )
    .await;
    report_status(&mut cp, "Available").await;
    // Seen on the vehicle at once, and still after pairing deactivated the EV system.
    let shown = coupler_tests::wait_for("the unplug on the vehicle, its EV system deactivated", || async {
        let shown = scene.get(&format!("/vehicles/{vehicle_id}")).await;
        let unplugged = shown["chargeState"]["powerDeliveryState"] == "UNPLUGGED";
        let deactivated = scene.system(vehicle_id, &charger_id).await["state"] == "ESTABLISHED";
        let shown = scene.get(&format!("/vehicles/{vehicle_id}")).await;
        (unplugged && deactivated).then_some(shown)
    })
    .await;
    eprintln!(
        "the unplug reached the vehicle and deactivated its EV system {:?} after the charger reported it",
        reported.elapsed()
    );
    let state = &shown["chargeState"];
    assert_eq!(state["powerDeliveryState"], "UNPLUGGED", "{shown}");
    assert_eq!(state["isPluggedIn"], false, "{shown}");
    assert_eq!(state["isCharging"], false, "{shown}");
    assert!(state["pluggedInChargerId"].is_null(), "{shown}");

    let system = scene.system(vehicle_id, &charger_id).await;
    assert_eq!(system["state"], "ESTABLISHED", "{system}");
    let merged = &system["chargeState"];
    assert_eq!(merged["powerDeliveryState"], "UNPLUGGED", "{system}");
    assert_eq!(merged["isCharging"], false, "{system}");
    assert_eq!(merged["chargeRate"], 0.0, "{system}");
    assert!(merged["sessionEnergy"].is_null(), "{system}");
    // Nothing was read from the maker since: the view follows the charger's unplug alone.
    let after = scene
        .app
        .store
        .get_vehicle(&scene.tenant.id, &coupler_core::VehicleId::new(vehicle_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.charge_state.is_charging,
        Some(true),
        "the maker was not read again"
    );
    cp.close().await;
}
