//! Limits as durable sources, end to end: a user's max current and a site's cap put on chargers as
//! their own charging profiles, enforced by the charger itself (the sandbox's simulated charge
//! points, which obey profiles and answer composite schedules), re-applied after a reboot, and
//! carried out by a remote stop on a charger that refuses profiles (the Python `ocpp` package).

use chrono::{Duration, Utc};
use coupler_ocpp::OcppVersion;
use coupler_simulated::{SimCharger, SimChargerConfig, SimCloud, SimConfig};
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::sandbox::until;
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// A simulated charger of `version` registered for user `alice` and connected; its id.
async fn simulated(app: &TestApp, tenant: &Tenant, ocpp_id: &str, version: OcppVersion) -> (String, SimCharger) {
    let registered = app.register_charger(tenant, "alice", ocpp_id).await;
    let config = SimChargerConfig::home(
        ocpp_id,
        registered["ocppUrl"].as_str().unwrap(),
        registered["password"].as_str().unwrap(),
        version,
    );
    // Its own tasks, not Coupler's: the charger keeps running (and enforcing its profiles) while
    // Coupler is stopped.
    let charger = SimCharger::start(
        SimCloud::new(SimConfig::default()),
        config,
        &coupler_tasks::Tasks::new(),
    );
    let id = registered["id"].as_str().unwrap().to_owned();
    until(
        "the simulated charger is connected and has declared what it takes",
        || async {
            let seen = app.get_json(tenant, &format!("/chargers/{id}")).await;
            let declared = seen["capabilities"]["limitControl"]["smartCharging"] == true;
            (seen["isReachable"] == true && declared).then_some(())
        },
    )
    .await;
    (id, charger)
}

/// The first limit of the composite schedule the charger reports through `GET /chargers/{id}/limits`.
async fn reported_limit(app: &TestApp, tenant: &Tenant, id: &str) -> Option<f64> {
    let limits = app.get_json(tenant, &format!("/chargers/{id}/limits")).await;
    limits["onCharger"]["reportedSchedule"][0]["limit"].as_f64()
}

async fn max_current(app: &TestApp, tenant: &Tenant, id: &str, amps: f64) -> Value {
    let action = app
        .post_json(
            tenant,
            &format!("/chargers/{id}/max-current"),
            json!({"maxCurrent": amps}),
        )
        .await;
    app.settled_action(tenant, action["id"].as_str().unwrap()).await
}

async fn a_stricter_site_limit_wins_over_the_users_on(version: OcppVersion) {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, sim) = simulated(&app, &tenant, "SIM-SITE", version).await;

    let user = max_current(&app, &tenant, &id, 16.0).await;
    assert_eq!(user["state"], "CONFIRMED", "{user}");
    let site = app
        .post_expect(
            &tenant,
            &format!("/chargers/{id}/limits"),
            json!({"maxCurrent": 10, "validTo": (Utc::now() + Duration::hours(1)).to_rfc3339()}),
            201,
        )
        .await;
    assert_eq!(
        (site["kind"].as_str(), site["inForce"].as_bool()),
        (Some("site"), Some(true))
    );

    until(
        "the charger's composite schedule shows the stricter site limit",
        || async { (reported_limit(&app, &tenant, &id).await == Some(10.0)).then_some(()) },
    )
    .await;
    assert_eq!(sim.limit_at(Utc::now()), 10.0);
    let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
    assert_eq!(limits["composite"]["maxCurrent"], 10.0, "{limits}");
    assert_eq!(limits["composite"]["bindingSourceId"], site["id"], "{limits}");
    let kinds: Vec<&str> = limits["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["user", "site"]);
    assert_eq!(limits["onCharger"]["method"], "PROFILES");
    assert_eq!(limits["onCharger"]["installedProfiles"].as_array().unwrap().len(), 2);

    // Deleting the site limit clears its profile: the user's limit holds again.
    let deleted = app
        .as_tenant(
            &tenant,
            Method::DELETE,
            &format!("/limits/{}", site["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    until("the user's limit holds again on the charger", || async {
        (reported_limit(&app, &tenant, &id).await == Some(16.0)).then_some(())
    })
    .await;
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_site_limit_stricter_than_the_users_wins_on_a_1_6_charger() {
    a_stricter_site_limit_wins_over_the_users_on(OcppVersion::V16).await;
}

#[tokio::test]
async fn a_site_limit_stricter_than_the_users_wins_on_a_2_0_1_charger() {
    a_stricter_site_limit_wins_over_the_users_on(OcppVersion::V201).await;
}

#[tokio::test]
async fn a_site_limit_whose_window_ends_while_coupler_is_stopped_ends_on_the_charger_by_itself() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let (id, sim) = simulated(&app, &tenant, "SIM-WINDOW", OcppVersion::V16).await;
    assert_eq!(max_current(&app, &tenant, &id, 16.0).await["state"], "CONFIRMED");
    let ends = Utc::now() + Duration::seconds(20);
    app.post_expect(
        &tenant,
        &format!("/chargers/{id}/limits"),
        json!({"maxCurrent": 8, "validTo": ends.to_rfc3339()}),
        201,
    )
    .await;
    // The charger holds the site limit with its window: 8 A until the window's end, 16 A after,
    // as the charger itself works it out (its profiles, not Coupler, decide).
    let just_before = ends - Duration::milliseconds(500);
    until("the charger holds the site limit until the window's end", || async {
        (sim.limit_at(just_before) == 8.0).then_some(())
    })
    .await;
    assert_eq!(sim.limit_at(ends + Duration::milliseconds(500)), 16.0);
    if Utc::now() < ends - Duration::seconds(2) {
        // And says so: its composite schedule steps back up at the window's end.
        let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
        let schedule = limits["onCharger"]["reportedSchedule"].clone();
        assert_eq!(schedule[0]["limit"], 8.0, "{limits}");
        assert!(
            schedule.as_array().unwrap().iter().skip(1).any(|p| p["limit"] == 16.0),
            "the schedule returns to 16 A: {schedule}"
        );
    }

    app.stop().await;
    until(
        "the charger, cut off from Coupler, returns to the user's limit by itself",
        || async {
            let now = Utc::now();
            (now > ends && !sim.view().connected && sim.limit_at(now) == 16.0).then_some(())
        },
    )
    .await;
    assert_eq!(sim.limit_at(just_before), 8.0, "nothing cleared the site limit early");
    sim.stop();
}

/// Reads the SetChargingProfile calls the charge point receives until every one of `wanted`
/// (purpose, limit) has come (a charger may be sent the same profile again when it connects and
/// when it boots).
async fn profiles_received(cp: &mut PythonChargePoint, wanted: &[(&str, f64)]) {
    let mut missing: Vec<(&str, f64)> = wanted.to_vec();
    while !missing.is_empty() {
        let profile = cp.received("SetChargingProfile").await;
        let installed = &profile["cs_charging_profiles"];
        let purpose = installed["charging_profile_purpose"].as_str().unwrap();
        let limit = installed["charging_schedule"]["charging_schedule_period"][0]["limit"]
            .as_f64()
            .unwrap();
        assert!(
            wanted.contains(&(purpose, limit)),
            "unexpected {purpose} of {limit} A, waiting for {missing:?}"
        );
        missing.retain(|w| *w != (purpose, limit));
    }
}

#[tokio::test]
async fn a_charger_that_reboots_gets_its_limits_again() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-REBOOT").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let (url, password) = (
        registered["ocppUrl"].as_str().unwrap().to_owned(),
        registered["password"].as_str().unwrap().to_owned(),
    );
    let mut cp = PythonChargePoint::connected(&url, "CP-REBOOT", &password).await;
    cp.boot("Available").await;
    let action = app
        .post_json(
            &tenant,
            &format!("/chargers/{id}/max-current"),
            json!({"maxCurrent": 16}),
        )
        .await;
    profiles_received(&mut cp, &[("TxDefaultProfile", 16.0)]).await;
    app.settled_action(&tenant, action["id"].as_str().unwrap()).await;
    app.post_expect(
        &tenant,
        &format!("/chargers/{id}/limits"),
        json!({"maxCurrent": 10}),
        201,
    )
    .await;
    profiles_received(&mut cp, &[("TxDefaultProfile", 16.0), ("ChargePointMaxProfile", 10.0)]).await;
    cp.close().await;

    // A new process is a charger that forgot everything; it boots, and gets both limits back.
    let mut rebooted = PythonChargePoint::connected(&url, "CP-REBOOT", &password).await;
    rebooted.boot("Available").await;
    profiles_received(
        &mut rebooted,
        &[("TxDefaultProfile", 16.0), ("ChargePointMaxProfile", 10.0)],
    )
    .await;
    rebooted.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_charger_that_refuses_profiles_is_stopped_for_a_max_current_of_zero_with_the_attempts_shown() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP-NOPROFILES").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let mut cp = PythonChargePoint::connected(
        registered["ocppUrl"].as_str().unwrap(),
        "CP-NOPROFILES",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.boot("Preparing").await;
    cp.set("charging_profile", "reject").await;
    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    assert_eq!(
        app.settled_action(&tenant, start["id"].as_str().unwrap()).await["state"],
        "CONFIRMED"
    );

    let stopped = max_current(&app, &tenant, &id, 0.0).await;
    assert_eq!(stopped["state"], "CONFIRMED", "{stopped}");
    cp.received("SetChargingProfile").await;
    cp.received("RemoteStopTransaction").await;
    let attempts = stopped["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{stopped}");
    assert_eq!(attempts[0]["outcome"], "REJECTED");
    assert!(
        attempts[0]["detail"].as_str().unwrap().contains("SetChargingProfile"),
        "{stopped}"
    );
    assert_eq!(attempts[1]["outcome"], "CONFIRMED");
    assert!(
        attempts[1]["detail"]
            .as_str()
            .unwrap()
            .contains("RemoteStopTransaction"),
        "{stopped}"
    );
    let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
    assert_eq!(sessions["data"][0]["stopReason"], "Remote");

    let charger = app.get_json(&tenant, &format!("/chargers/{id}")).await;
    let control = &charger["capabilities"]["limitControl"];
    assert_eq!(control["method"], "ON_OFF", "{charger}");
    assert_eq!(control["smartCharging"], false);
    assert_eq!(charger["capabilities"]["setMaxCurrent"]["isCapable"], false);
    let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
    assert_eq!(limits["onCharger"]["heldOff"], true, "{limits}");

    // While held off, a transaction the charger starts by itself is stopped again.
    cp.call(
        "StartTransaction",
        json!({"connector_id": 1, "id_tag": "LOCAL-1", "meter_start": 2000, "timestamp": Utc::now().to_rfc3339()}),
    )
    .await;
    cp.received("RemoteStopTransaction").await;
    until("the charger's own transaction is stopped", || async {
        let sessions = app.get_json(&tenant, &format!("/chargers/{id}/sessions")).await;
        let latest = &sessions["data"][0];
        (latest["idTag"] == "LOCAL-1" && latest["stopReason"] == "Remote").then_some(())
    })
    .await;
    cp.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_location_limit_reaches_the_chargers_placed_there_and_bad_limits_change_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let other = app.tenant("other").await;
    let location = app
        .post_expect(
            &tenant,
            "/users/alice/locations",
            json!({"name": "Home", "latitude": 59.9, "longitude": 10.7, "timezoneName": "Europe/Oslo"}),
            201,
        )
        .await;
    let location_id = location["id"].as_str().unwrap();
    let (id, sim) = simulated(&app, &tenant, "SIM-HOME", OcppVersion::V16).await;
    let placed = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&json!({"locationId": location_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 200);

    for (bad, status) in [
        (json!({"maxCurrent": -1}), 422),
        (json!({"maxCurrent": 10, "validTo": "2020-01-01T00:00:00Z"}), 422),
        (
            json!({"maxCurrent": 10, "validFrom": "2030-01-02T00:00:00Z", "validTo": "2030-01-01T00:00:00Z"}),
            422,
        ),
        (json!({"maxCurrent": 10, "kind": "user"}), 422),
        (json!({}), 422),
    ] {
        let response = app
            .as_tenant(&tenant, Method::POST, &format!("/locations/{location_id}/limits"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        let body = problem(response).await;
        assert_eq!(body["status"], status, "{bad}: {body}");
    }
    let foreign = app
        .as_tenant(&other, Method::POST, &format!("/locations/{location_id}/limits"))
        .json(&json!({"maxCurrent": 6}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(foreign).await["status"], 404);
    let listed = app.get_json(&tenant, &format!("/locations/{location_id}/limits")).await;
    assert_eq!(listed["sources"], json!([]), "bad requests changed nothing");

    let site = app
        .post_expect(
            &tenant,
            &format!("/locations/{location_id}/limits"),
            json!({"maxCurrent": 12}),
            201,
        )
        .await;
    until("the location's cap is on its charger", || async {
        (reported_limit(&app, &tenant, &id).await == Some(12.0)).then_some(())
    })
    .await;
    let listed = app.get_json(&tenant, &format!("/locations/{location_id}/limits")).await;
    assert_eq!(listed["chargerIds"], json!([id]));
    assert_eq!(listed["sources"][0]["id"], site["id"]);
    let hidden = app
        .as_tenant(
            &other,
            Method::GET,
            &format!("/limits/{}", site["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(problem(hidden).await["status"], 404, "another client cannot see it");
    assert_eq!(sim.limit_at(Utc::now()), 12.0);

    // Deleting the location takes its limit off the charger (ClearChargingProfile).
    let deleted = app
        .as_tenant(&tenant, Method::DELETE, &format!("/locations/{location_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    until("the charger is back to its own rating", || async {
        (reported_limit(&app, &tenant, &id).await == Some(32.0)).then_some(())
    })
    .await;
    let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
    assert_eq!(limits["onCharger"]["installedProfiles"], json!([]), "{limits}");
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_2_0_1_station_whose_device_model_has_no_smart_charging_is_limited_on_and_off() {
    use coupler_tests::ocpp::OcppVersion as Protocol;

    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let registered = app.register_charger(&tenant, "alice", "CP201-ONOFF").await;
    let id = registered["id"].as_str().unwrap().to_owned();
    let mut cp = PythonChargePoint::connected_as(
        Protocol::V201,
        registered["ocppUrl"].as_str().unwrap(),
        "CP201-ONOFF",
        registered["password"].as_str().unwrap(),
    )
    .await;
    cp.set("smart_charging", "false").await;
    cp.boot_201("Occupied").await;
    cp.received("GetBaseReport").await;
    let charger = until("the station's report is read", || async {
        let charger = app.get_json(&tenant, &format!("/chargers/{id}")).await;
        (charger["capabilities"]["limitControl"]["source"] == "NotifyReport").then_some(charger)
    })
    .await;
    let control = &charger["capabilities"]["limitControl"];
    assert_eq!(
        (control["method"].as_str(), control["smartCharging"].as_bool()),
        (Some("ON_OFF"), Some(false))
    );
    let model = app
        .state()
        .store
        .device_model(&coupler_core::ChargerId::new(id.as_str()))
        .await
        .unwrap();
    assert_eq!(
        model.get("SmartChargingCtrlr.Enabled").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        model.get("SampledDataCtrlr.TxUpdatedInterval").map(String::as_str),
        Some("60"),
        "the whole report is stored, as the station reported it after Coupler set it"
    );

    let start = app
        .post_json(&tenant, &format!("/chargers/{id}/charging"), json!({"action": "START"}))
        .await;
    assert_eq!(
        app.settled_action(&tenant, start["id"].as_str().unwrap()).await["state"],
        "CONFIRMED"
    );
    let stopped = max_current(&app, &tenant, &id, 0.0).await;
    assert_eq!(stopped["state"], "CONFIRMED", "{stopped}");
    cp.received("RequestStopTransaction").await;
    let attempts = stopped["attempts"].as_array().unwrap();
    assert!(
        attempts[0]["detail"]
            .as_str()
            .unwrap()
            .contains("declared no smart charging"),
        "{stopped}"
    );
    assert!(
        attempts[1]["detail"]
            .as_str()
            .unwrap()
            .contains("RemoteStopTransaction"),
        "{stopped}"
    );
    cp.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_car_charging_without_a_coupler_charger_is_held_to_its_locations_limit_by_its_maker() {
    use coupler_simulated::{Brand, SimVehicleSpec};
    use coupler_tests::vehicles::{eventually, hint, link_simulated, vehicles_of, AppSite, SimWorld};

    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    let tenant = app.tenant("app").await;
    let site = AppSite::start().await;
    let mut car = SimVehicleSpec::new("SIMAUR0000000000A", "Aurora A1");
    car.plugged_in = true;
    let ids = world.cloud.add_account(Brand::Aurora, "ann", "pw", vec![car.clone()]);
    link_simulated(&app, &tenant, &site, "alice", Brand::Aurora, "ann", "pw").await;
    eventually("the car is read", || async {
        vehicles_of(&app, &tenant, "alice")
            .await
            .first()
            .is_some_and(|v| v["chargeState"]["isPluggedIn"] == true)
    })
    .await;
    let vehicle_id = vehicles_of(&app, &tenant, "alice").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(world.cloud.vehicle(&ids[0]).unwrap().max_current > 10);
    let home = app
        .post_expect(
            &tenant,
            "/users/alice/locations",
            json!({"name": "Home", "latitude": car.latitude, "longitude": car.longitude, "timezoneName": "Europe/Oslo"}),
            201,
        )
        .await;
    app.post_expect(
        &tenant,
        &format!("/locations/{}/limits", home["id"].as_str().unwrap()),
        json!({"maxCurrent": 10.5}),
        201,
    )
    .await;
    eventually("the maker holds the car to the location's limit", || async {
        // The app hints a read, as it would; the read brings the limit to the car.
        hint(&app, &tenant, &vehicle_id).await;
        world.cloud.vehicle(&ids[0]).unwrap().max_current == 10
    })
    .await;

    // With a charger of alice's at home, the car and the charger form an EV system whose limits
    // are its charger's: its own site limit and the location's.
    let charger = app.register_charger(&tenant, "alice", "CP-EVSYS").await;
    let charger_id = charger["id"].as_str().unwrap();
    let placed = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{charger_id}"))
        .json(&json!({"locationId": home["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 200);
    let own = app
        .post_expect(
            &tenant,
            &format!("/chargers/{charger_id}/limits"),
            json!({"maxCurrent": 8}),
            201,
        )
        .await;
    let systems = app.get_json(&tenant, "/users/alice/ev-systems").await;
    let system = systems["data"][0]["id"].as_str().unwrap();
    let limits = app.get_json(&tenant, &format!("/ev-systems/{system}/limits")).await;
    assert_eq!(limits["vehicleId"], vehicle_id.as_str(), "{limits}");
    assert_eq!(limits["chargerId"], charger_id, "{limits}");
    assert_eq!(limits["sources"].as_array().unwrap().len(), 2, "{limits}");
    assert_eq!(limits["composite"]["maxCurrent"], 8.0, "{limits}");
    assert_eq!(limits["composite"]["bindingSourceId"], own["id"], "{limits}");
    assert_eq!(limits["onCharger"]["reportedSchedule"], Value::Null, "not connected");
    app.stop().await;
}
