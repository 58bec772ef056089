//! Smart charging end to end, over real sockets: a policy makes a plan for a plug-in, the plan goes
//! to the simulated charger (OCPP 1.6 and 2.0.1) as one absolute charging profile whose composite
//! schedule is the plan, a price change makes it again, charge-now lifts it until ended, the
//! charger keeps to it with Coupler stopped, and a car without a charger follows its plan through
//! its maker. Also the routes' refusals and tenant isolation.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, SubsecRound, Utc};
use coupler_core::clock::{Clock, ManualClock};
use coupler_core::event::EventType;
use coupler_ocpp::OcppVersion;
use coupler_simulated::{Brand, SimCharger, SimChargerConfig, SimCloud, SimConfig, SimVehicleSpec};
use coupler_tests::prices::HomePrices;
use coupler_tests::sandbox::until;
use coupler_tests::vehicles::{car_charging_away, link_simulated, vehicles_of, AppSite, SimWorld};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// The hourly prices the scenarios start with: dear for an hour, cheap the next, then middling.
const PRICES: [f64; 4] = [0.40, 0.10, 0.30, 0.30];

/// A simulated charger of `version` in `cloud`'s physical world, registered for user `alice` and
/// connected; its id. It runs on tasks of its own, so it goes on when Coupler stops.
async fn simulated(
    app: &TestApp,
    tenant: &Tenant,
    cloud: &SimCloud,
    ocpp_id: &str,
    version: OcppVersion,
) -> (String, SimCharger) {
    let registered = app.register_charger(tenant, "alice", ocpp_id).await;
    let config = SimChargerConfig::home(
        ocpp_id,
        registered["ocppUrl"].as_str().unwrap(),
        registered["password"].as_str().unwrap(),
        version,
    );
    let charger = SimCharger::start(cloud.clone(), config, &coupler_tasks::Tasks::new());
    let id = registered["id"].as_str().unwrap().to_owned();
    until(
        "the simulated charger is connected and has said it takes profiles",
        || async {
            let seen = app.get_json(tenant, &format!("/chargers/{id}")).await;
            let declared = seen["capabilities"]["limitControl"]["smartCharging"] == true;
            (seen["isReachable"] == true && declared).then_some(())
        },
    )
    .await;
    (id, charger)
}

/// A car of the simulated world (75 kWh, 16 A) plugged into the charger's socket; the charger
/// starts a transaction by itself. Returns the car's id at its maker.
fn plug_a_car(cloud: &SimCloud, ocpp_id: &str) -> String {
    let ids = cloud.add_account(
        Brand::Aurora,
        &format!("owner-{ocpp_id}"),
        "pw",
        vec![SimVehicleSpec {
            battery_level: 40.0,
            ..SimVehicleSpec::new(&format!("VIN-{ocpp_id}"), "Aurora S")
        }],
    );
    cloud.plug(&ids[0], ocpp_id).unwrap();
    ids[0].clone()
}

async fn put(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> reqwest::Response {
    app.as_tenant(tenant, Method::PUT, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A charger's policy: `kwh` from the grid by `deadline` (a one-off departure).
fn energy_policy(kwh: f64, deadline: DateTime<Utc>) -> Value {
    json!({"deadline": "07:00", "departures": [deadline.to_rfc3339()], "targetEnergy": kwh})
}

/// Waits until the plan at `path` satisfies `wanted`, and returns it (or fails showing the last
/// one seen).
async fn plan_when(app: &TestApp, tenant: &Tenant, path: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let give_up = tokio::time::Instant::now() + coupler_tests::PATIENCE;
    loop {
        let response = app.as_tenant(tenant, Method::GET, path).send().await.unwrap();
        let last: Value;
        if response.status() == 200 {
            last = response.json().await.unwrap();
            if wanted(&last) {
                return last;
            }
        } else {
            // Kept for the failure message: what was answered instead of a plan.
            let status = response.status().as_u16();
            last = json!({"status": status, "body": response.text().await.unwrap_or_default()});
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "timed out waiting until {what}; last plan: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn at(raw: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The slots that charge.
fn charging(plan: &Value) -> Vec<&Value> {
    plan["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["power"].as_f64().unwrap() > 0.0)
        .collect()
}

/// What a charger offers under `limit`: nothing below the least a car can take.
fn offer(limit: f64) -> f64 {
    if limit < 6.0 {
        0.0
    } else {
        limit
    }
}

/// The charger's own reading of its profiles agrees with every slot of the plan: off where the plan
/// is off, on (at the car's 16 A) where it charges.
fn charger_follows(sim: &SimCharger, plan: &Value) {
    for slot in plan["slots"].as_array().unwrap() {
        let (start, end) = (at(&slot["start"]), at(&slot["end"]));
        let middle = start + (end - start) / 2;
        let limit = sim.limit_at(middle);
        if slot["power"].as_f64().unwrap() > 0.0 {
            assert_eq!(limit, 16.0, "charging at {middle}: {slot}");
        } else {
            assert!(limit < 6.0, "{limit} A at {middle} where the plan is off: {slot}");
        }
    }
}

/// The published `user:smart-charging-plan:updated` events: each one's changed fields and the plan
/// it carries (as it was when the event was published).
async fn plan_events(app: &TestApp, tenant: &Tenant) -> Vec<(Vec<String>, Value)> {
    app.store
        .events_after(&tenant.id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == EventType::SmartChargingPlanUpdated)
        .map(|e| (e.updated_fields, e.data))
        .collect()
}

async fn a_policy_s_plan_is_the_charger_s_schedule_and_a_price_change_moves_it_on(version: OcppVersion, ocpp_id: &str) {
    let start = Utc::now().trunc_subsecs(0);
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let prices = HomePrices::hourly(&app, &tenant, start, &PRICES).await;
    let cloud = SimCloud::new(SimConfig::default());
    let (id, sim) = simulated(&app, &tenant, &cloud, ocpp_id, version).await;
    prices.place(&app, &tenant, &id).await;
    let deadline = start + Duration::hours(3);
    let policy = put(
        &app,
        &tenant,
        &format!("/chargers/{id}/smart-charging-policy"),
        energy_policy(6.0, deadline),
    )
    .await;
    assert_eq!(policy.status(), 200);
    let policy: Value = policy.json().await.unwrap();
    assert_eq!(
        (policy["targetType"].as_str(), policy["isEnabled"].as_bool()),
        (Some("charger"), Some(true))
    );

    plug_a_car(&cloud, ocpp_id);
    let path = format!("/chargers/{id}/smart-charging-plan");
    let plan = plan_when(&app, &tenant, &path, "the plug-in's plan is on the charger", |p| {
        p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true
    })
    .await;
    assert_eq!(at(&plan["deadline"]), deadline, "{plan}");
    assert_eq!(
        (plan["executedBy"].as_str(), plan["feasible"].as_bool()),
        (Some("CHARGER"), Some(true))
    );
    let on = charging(&plan);
    assert!(!on.is_empty(), "{plan}");
    assert!(
        on.iter().all(|s| s["price"] == 0.10),
        "only the cheap hour charges: {plan}"
    );
    assert!(
        plan["smartCost"].as_f64().unwrap() < plan["nonSmartCost"].as_f64().unwrap(),
        "{plan}"
    );
    charger_follows(&sim, &plan);
    let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
    let kinds: Vec<&str> = limits["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["schedule"], "{limits}");
    assert_eq!(
        limits["onCharger"]["reportedSchedule"][0]["limit"], 0.0,
        "off in the dear hour: {limits}"
    );
    until("the plan's event is published", || async {
        plan_events(&app, &tenant)
            .await
            .iter()
            .any(|(_, e)| e["id"] == plan["id"])
            .then_some(())
    })
    .await;

    // The hour after next becomes the cheapest: the plan is made again and the charger follows.
    prices.set_hourly(&app, &tenant, start, &[0.40, 0.30, 0.05, 0.30]).await;
    let moved = plan_when(&app, &tenant, &path, "the plan moved to the new cheap hour", |p| {
        let on = charging(p);
        !on.is_empty() && on.iter().all(|s| s["price"] == 0.05) && p["chargerHoldsPlan"] == true
    })
    .await;
    assert_eq!(moved["id"], plan["id"], "the same plug-in's plan, made again");
    charger_follows(&sim, &moved);
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_policy_s_plan_is_the_composite_schedule_of_a_1_6_charger_and_a_price_change_moves_it() {
    a_policy_s_plan_is_the_charger_s_schedule_and_a_price_change_moves_it_on(OcppVersion::V16, "SIM-PLAN-16").await;
}

#[tokio::test]
async fn a_policy_s_plan_is_the_composite_schedule_of_a_2_0_1_charger_and_a_price_change_moves_it() {
    a_policy_s_plan_is_the_charger_s_schedule_and_a_price_change_moves_it_on(OcppVersion::V201, "SIM-PLAN-201").await;
}

async fn charge_now_charges_at_once_and_ends_when_asked_on(version: OcppVersion, ocpp_id: &str) {
    let start = Utc::now().trunc_subsecs(0);
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let prices = HomePrices::hourly(&app, &tenant, start, &PRICES).await;
    let cloud = SimCloud::new(SimConfig::default());
    let (id, sim) = simulated(&app, &tenant, &cloud, ocpp_id, version).await;
    prices.place(&app, &tenant, &id).await;
    let policy_path = format!("/chargers/{id}/smart-charging-policy");
    let deadline = start + Duration::hours(3);
    assert_eq!(
        put(&app, &tenant, &policy_path, energy_policy(6.0, deadline))
            .await
            .status(),
        200
    );
    plug_a_car(&cloud, ocpp_id);
    let path = format!("/chargers/{id}/smart-charging-plan");
    plan_when(
        &app,
        &tenant,
        &path,
        "the plan holds the car off in the dear hour",
        |p| p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true,
    )
    .await;
    until("the charger offers nothing now", || async {
        (sim.view().offered_current == 0.0).then_some(())
    })
    .await;

    let now = app
        .post_json(&tenant, &format!("/chargers/{id}/charge-now"), json!({}))
        .await;
    assert!(now["chargeNowSince"].is_string(), "{now}");
    plan_when(&app, &tenant, &path, "the plan is lifted", |p| {
        p["state"] == "CHARGING_NOW"
    })
    .await;
    until("the charger offers its full current at once", || async {
        (sim.view().offered_current == 32.0).then_some(())
    })
    .await;
    let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
    assert!(
        limits["sources"].as_array().unwrap().is_empty(),
        "no schedule while charging now: {limits}"
    );

    let ended = app
        .as_tenant(&tenant, Method::DELETE, &format!("/chargers/{id}/charge-now"))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 200);
    let ended: Value = ended.json().await.unwrap();
    assert!(ended["chargeNowSince"].is_null(), "{ended}");
    plan_when(&app, &tenant, &path, "the plan is followed again", |p| {
        p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true
    })
    .await;
    until("the charger holds the car off again", || async {
        (sim.view().offered_current == 0.0).then_some(())
    })
    .await;
    // Disabling the policy ends the plan and lifts it from the charger.
    let mut disabled = energy_policy(6.0, deadline);
    disabled["isEnabled"] = json!(false);
    assert_eq!(put(&app, &tenant, &policy_path, disabled).await.status(), 200);
    let cancelled = plan_when(&app, &tenant, &path, "the plan is cancelled", |p| p["state"] == "ENDED").await;
    assert_eq!(cancelled["outcome"]["type"], "CANCELLED", "{cancelled}");
    until("the charger charges freely again", || async {
        (sim.view().offered_current == 32.0).then_some(())
    })
    .await;
    // Each change of state was an event: seen, executing, charging now, executing again, ended.
    until("the override's events are published", || async {
        let changes = plan_events(&app, &tenant)
            .await
            .iter()
            .filter(|(fields, _)| fields.iter().any(|f| f == "state"))
            .count();
        (changes >= 5).then_some(())
    })
    .await;
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn charge_now_charges_a_1_6_charger_at_once_and_ends_when_asked() {
    charge_now_charges_at_once_and_ends_when_asked_on(OcppVersion::V16, "SIM-NOW-16").await;
}

#[tokio::test]
async fn charge_now_charges_a_2_0_1_charger_at_once_and_ends_when_asked() {
    charge_now_charges_at_once_and_ends_when_asked_on(OcppVersion::V201, "SIM-NOW-201").await;
}

async fn with_coupler_stopped_the_charger_follows_its_plan_to_the_target_on(version: OcppVersion, ocpp_id: &str) {
    // Coupler and the simulated world share one clock that only the test moves, so hours of the
    // plan pass in seconds and the charger judges its profiles at the same times Coupler planned.
    let start = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(ManualClock::at(start));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await;
    let tenant = app.tenant("app").await;
    let prices = HomePrices::hourly(&app, &tenant, start, &PRICES).await;
    let cloud = SimCloud::new(SimConfig::default()).with_clock(clock.clone());
    let (id, sim) = simulated(&app, &tenant, &cloud, ocpp_id, version).await;
    prices.place(&app, &tenant, &id).await;
    let deadline = start + Duration::hours(3);
    let target_kwh = 6.0;
    let policy_path = format!("/chargers/{id}/smart-charging-policy");
    assert_eq!(
        put(&app, &tenant, &policy_path, energy_policy(target_kwh, deadline))
            .await
            .status(),
        200
    );
    let car = plug_a_car(&cloud, ocpp_id);
    let plan = plan_when(
        &app,
        &tenant,
        &format!("/chargers/{id}/smart-charging-plan"),
        "the plan is on the charger",
        |p| p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true,
    )
    .await;
    let first_on = at(&charging(&plan)[0]["start"]);
    // Prices are by the clock hour: the dear one is the hour `start` falls in.
    let cheap_from = start.duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(1);
    assert!(first_on >= cheap_from, "nothing in the dear hour: {plan}");

    app.stop().await;
    until("the charger finds Coupler gone", || async {
        (!sim.view().connected).then_some(())
    })
    .await;
    let energy = || cloud.socket_reading(ocpp_id).unwrap().energy_wh / 1000.0;
    let level_before = cloud.vehicle(&car).unwrap().battery_level;
    let before = energy();
    // Through every switch of the plan up to the deadline, the charger alone decides what it offers.
    let mut moments: Vec<DateTime<Utc>> = plan["slots"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| [at(&s["start"]), at(&s["end"])])
        .filter(|t| *t <= deadline)
        .chain([deadline])
        .collect();
    moments.sort();
    moments.dedup();
    for moment in moments {
        clock.set(moment);
        let wanted = offer(sim.limit_at(moment));
        until(&format!("the charger offers {wanted} A at {moment}"), || async {
            (sim.view().offered_current == wanted).then_some(())
        })
        .await;
        if moment <= first_on {
            assert!(
                energy() - before < 0.001,
                "charged before the plan's cheap slots, at {moment}"
            );
        }
    }
    let charged = energy() - before;
    assert!(charged >= target_kwh - 0.05, "{charged} kWh by the deadline");
    let level = cloud.vehicle(&car).unwrap().battery_level;
    assert!(
        level > level_before,
        "the battery rose from {level_before} % to {level} %"
    );
    assert!(!sim.view().connected, "all of it without Coupler");
    sim.stop();
}

#[tokio::test]
async fn with_coupler_stopped_a_1_6_charger_follows_its_plan_and_the_car_gets_its_energy_by_the_deadline() {
    with_coupler_stopped_the_charger_follows_its_plan_to_the_target_on(OcppVersion::V16, "SIM-OFF-16").await;
}

#[tokio::test]
async fn with_coupler_stopped_a_2_0_1_charger_follows_its_plan_and_the_car_gets_its_energy_by_the_deadline() {
    with_coupler_stopped_the_charger_follows_its_plan_to_the_target_on(OcppVersion::V201, "SIM-OFF-201").await;
}

#[tokio::test]
async fn a_vehicle_s_policy_plans_from_its_state_of_charge_on_its_paired_charger_charging_at_once_up_to_the_minimum() {
    let start = Utc::now().trunc_subsecs(0);
    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| {
        world.wire(url, wiring, |_| None);
        wiring.pairing = crate::ev_systems::quick_pairing(coupler_core::ev_system::MatchRules {
            maker_lag: chrono::Duration::zero(),
            ..coupler_core::ev_system::MatchRules::default()
        });
        wiring.gateway.meter_sample_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let tenant = app.tenant("app").await;
    let prices = HomePrices::hourly(&app, &tenant, start, &PRICES).await;
    let site = AppSite::start().await;
    let maker_id = world.cloud.add_account(
        Brand::Aurora,
        "home",
        "pw",
        vec![SimVehicleSpec {
            battery_level: 40.0,
            ..SimVehicleSpec::new("VIN-HOME", "Aurora S")
        }],
    )[0]
    .clone();
    link_simulated(&app, &tenant, &site, "alice", Brand::Aurora, "home", "pw").await;
    let vehicle = until("the car is read", || async {
        vehicles_of(&app, &tenant, "alice")
            .await
            .into_iter()
            .find(|v| v["chargeState"]["batteryLevel"].is_number())
    })
    .await;
    let vehicle_id = vehicle["id"].as_str().unwrap();
    let (charger_id, sim) = simulated(&app, &tenant, &world.cloud, "SIM-HOME", OcppVersion::V16).await;
    prices.place(&app, &tenant, &charger_id).await;
    let policy = json!({
        "deadline": "07:00", "departures": [(start + Duration::hours(3)).to_rfc3339()],
        "targetSoc": 60, "minimumChargeLimit": 45,
    });
    assert_eq!(
        put(
            &app,
            &tenant,
            &format!("/vehicles/{vehicle_id}/smart-charging-policy"),
            policy
        )
        .await
        .status(),
        200
    );

    world.cloud.plug(&maker_id, "SIM-HOME").unwrap();
    let plan = plan_when(
        &app,
        &tenant,
        &format!("/vehicles/{vehicle_id}/smart-charging-plan"),
        "the car's plan, from a state of charge read since the plug-in, is on the charger it is plugged into",
        // A reading from before the plug-in is planned lower (the day's driving) until the car
        // reports again, which pairing asks of it at the plug-in.
        |p| p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true && p["stateOfCharge"].as_f64() >= Some(40.0),
    )
    .await;
    assert_eq!(
        (
            plan["executedBy"].as_str(),
            plan["chargerId"].as_str(),
            plan["vehicleId"].as_str()
        ),
        (Some("CHARGER"), Some(charger_id.as_str()), Some(vehicle_id)),
        "{plan}"
    );
    let soc = plan["stateOfCharge"].as_f64().unwrap();
    assert!((40.0..41.0).contains(&soc), "{plan}");
    // 15 kWh into a 75 kWh battery (40 % to 60 %), of which 3.75 kWh (to the 45 % minimum) at once.
    let energy = plan["expectedEnergy"].as_f64().unwrap();
    assert!((14.0..=17.0).contains(&energy), "{plan}");
    let slots = plan["slots"].as_array().unwrap();
    assert!(
        slots[0]["power"].as_f64().unwrap() > 0.0,
        "the minimum charges at once, dear or not: {plan}"
    );
    assert!(
        slots
            .iter()
            .filter(|s| s["price"] == 0.10)
            .all(|s| s["power"].as_f64().unwrap() > 0.0),
        "the whole cheap hour charges: {plan}"
    );
    charger_follows(&sim, &plan);
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_plan_ends_met_when_its_energy_is_in_late_past_its_deadline_and_short_when_the_car_leaves_first() {
    // One clock for Coupler and the simulated world, moved by the test; no prices: charge at once.
    let start = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(ManualClock::at(start));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| {
        wiring.clock = wired;
        wiring.gateway.meter_sample_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let tenant = app.tenant("app").await;
    let cloud = SimCloud::new(SimConfig::default()).with_clock(clock.clone());
    let (id, sim) = simulated(&app, &tenant, &cloud, "SIM-ENDS", OcppVersion::V16).await;
    let policy_path = format!("/chargers/{id}/smart-charging-policy");
    let path = format!("/chargers/{id}/smart-charging-plan");
    // The keeper is told to look (as after any clock change) until the plan has ended.
    let ended = |what: &'static str| {
        let (app, tenant, path) = (&app, &tenant, path.clone());
        let keeper = app.state().smart.clone();
        async move {
            plan_when(app, tenant, &path, what, |p| {
                keeper.wake();
                p["state"] == "ENDED"
            })
            .await
        }
    };

    // 1 kWh by an hour from now: 16 A at once; ten minutes give 1.8 kWh.
    let deadline = clock.now() + Duration::hours(1);
    assert_eq!(
        put(&app, &tenant, &policy_path, energy_policy(1.0, deadline))
            .await
            .status(),
        200
    );
    let car = plug_a_car(&cloud, "SIM-ENDS");
    plan_when(&app, &tenant, &path, "the plan charges at once", |p| {
        p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true
    })
    .await;
    clock.advance(Duration::minutes(10));
    until("the car takes its energy in those ten minutes", || async {
        (cloud.socket_reading("SIM-ENDS").unwrap().energy_wh >= 1000.0).then_some(())
    })
    .await;
    until("the charger's meter tells Coupler", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{id}")).await;
        (seen["chargeState"]["sessionEnergy"].as_f64().unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    let met = ended("the plan ends when its energy is in").await;
    assert_eq!(met["outcome"]["type"], "MET", "{met}");
    assert!(met["energyCharged"].as_f64().unwrap() >= 1.0, "{met}");
    until("the car is held at its target until the deadline", || async {
        (sim.view().offered_current == 0.0).then_some(())
    })
    .await;
    cloud.unplug(&car).unwrap();
    until("the hold is lifted once the car has left", || async {
        let limits = app.get_json(&tenant, &format!("/chargers/{id}/limits")).await;
        limits["sources"].as_array().unwrap().is_empty().then_some(())
    })
    .await;

    // 20 kWh in half an hour cannot be done: it says so and charges at once, and goes on past the
    // deadline until the energy is in.
    let deadline = clock.now() + Duration::minutes(30);
    assert_eq!(
        put(&app, &tenant, &policy_path, energy_policy(20.0, deadline))
            .await
            .status(),
        200
    );
    cloud.plug(&car, "SIM-ENDS").unwrap();
    let infeasible = plan_when(&app, &tenant, &path, "the plan says the target cannot be met", |p| {
        p["state"] == "EXECUTING" && p["feasible"] == false && p["energyCharged"] == 0.0
    })
    .await;
    assert!(
        infeasible["reason"].as_str().unwrap().contains("cannot be reached"),
        "{infeasible}"
    );
    until("the charger charges at once", || async {
        (sim.view().offered_current == 32.0).then_some(())
    })
    .await;
    clock.advance(Duration::hours(2));
    let late = ended("the plan ends once the energy is in, after the deadline").await;
    assert_eq!(late["outcome"]["type"], "LATE", "{late}");
    assert!(late["outcome"]["lateMinutes"].as_i64().unwrap() >= 90, "{late}");
    cloud.unplug(&car).unwrap();

    // The car leaves before its energy is in.
    let deadline = clock.now() + Duration::hours(3);
    assert_eq!(
        put(&app, &tenant, &policy_path, energy_policy(20.0, deadline))
            .await
            .status(),
        200
    );
    until("the last plug-in is over", || async {
        (app.get_json(&tenant, &format!("/chargers/{id}/limits")).await["sources"]
            .as_array()
            .unwrap()
            .is_empty())
        .then_some(())
    })
    .await;
    cloud.plug(&car, "SIM-ENDS").unwrap();
    let third = plan_when(&app, &tenant, &path, "a new plan for the new plug-in", |p| {
        p["state"] == "EXECUTING" && p["id"] != late["id"]
    })
    .await;
    cloud.unplug(&car).unwrap();
    let short = ended("the plan ends when the car leaves").await;
    assert_eq!(short["id"], third["id"]);
    assert_eq!(short["outcome"]["type"], "SHORT", "{short}");
    assert_eq!(short["outcome"]["shortPercent"], 100.0, "{short}");
    assert_eq!(short["reason"], "the vehicle was unplugged", "{short}");
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_car_without_a_charger_follows_its_plan_through_its_maker() {
    let start = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(ManualClock::at(start));
    let world = SimWorld::start(SimConfig::default()).await;
    let wired = clock.clone();
    let app = TestApp::spawn_with(|url, wiring| {
        world.wire(url, wiring, |_| None);
        wiring.clock = wired;
    })
    .await;
    let tenant = app.tenant("app").await;
    // The car's plan is priced at the user's home, the one location it has.
    HomePrices::hourly(&app, &tenant, start, &PRICES).await;
    let site = AppSite::start().await;
    // Plugged in somewhere without a Coupler charger, and charging.
    let (maker_id, vehicle_id) = car_charging_away(&world, &app, &tenant, &site, "VIN-AWAY", 50.0).await;
    let vehicle_id = vehicle_id.as_str();
    assert_eq!(world.cloud.vehicle(&maker_id).unwrap().status(), "charging");

    let policy =
        json!({"deadline": "07:00", "departures": [(start + Duration::hours(3)).to_rfc3339()], "targetSoc": 60});
    assert_eq!(
        put(
            &app,
            &tenant,
            &format!("/vehicles/{vehicle_id}/smart-charging-policy"),
            policy
        )
        .await
        .status(),
        200
    );
    let path = format!("/vehicles/{vehicle_id}/smart-charging-plan");
    let plan = plan_when(&app, &tenant, &path, "the car's plan is made", |p| {
        p["state"] == "EXECUTING" && !charging(p).is_empty()
    })
    .await;
    assert_eq!(
        (plan["executedBy"].as_str(), plan["chargerId"].as_str()),
        (Some("MAKER"), None),
        "{plan}"
    );
    assert_eq!(plan["targetSoc"], 60.0);
    until("the maker stops the car in the dear hour", || async {
        (world.cloud.vehicle(&maker_id).unwrap().status() == "stopped").then_some(())
    })
    .await;

    // The clock reaches the plan's first charging slot: the maker is told to start.
    let first_on = at(&charging(&plan)[0]["start"]);
    clock.set(first_on + Duration::seconds(1));
    app.state().smart.wake();
    until("the maker starts the car in the cheap slot", || async {
        (world.cloud.vehicle(&maker_id).unwrap().status() == "charging").then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn bad_policies_are_refused_naming_each_value_and_change_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let charger = app.register_charger(&tenant, "alice", "CP-BAD-POLICY").await;
    let path = format!("/chargers/{}/smart-charging-policy", charger["id"].as_str().unwrap());
    let cases = [
        (json!({"deadline": "25:00", "targetEnergy": 10}), vec!["/deadline"]),
        (json!({"deadline": "tomorrow", "targetEnergy": 10}), vec!["/deadline"]),
        (json!({"targetEnergy": 10}), vec!["/deadline"]),
        (
            json!({"deadline": "07:00", "weekdayDeadlines": {"friday": "7pm"}, "targetEnergy": 10}),
            vec!["/weekdayDeadlines/friday"],
        ),
        (
            json!({"deadline": "07:00", "targetEnergy": 10, "targetSoc": 40, "minimumChargeLimit": 60}),
            vec!["/targetSoc"],
        ),
        (
            json!({"deadline": "07:00", "targetEnergy": 10, "targetSoc": 150, "minimumChargeLimit": -5}),
            vec!["/targetSoc", "/minimumChargeLimit"],
        ),
        (json!({"deadline": "07:00", "targetSoc": 80}), vec!["/targetEnergy"]),
        (json!({"deadline": "07:00", "targetEnergy": 0}), vec!["/targetEnergy"]),
        (
            json!({"deadline": "07:00", "targetEnergy": 10, "departures": ["2001-01-01T00:00:00Z"]}),
            vec!["/departures/0"],
        ),
        (
            json!({"deadline": "07:00", "targetEnergy": 10, "strategy": "FASTEST"}),
            vec!["/strategy"],
        ),
        (
            json!({"deadline": "07:00", "targetEnergy": 10, "colour": "red"}),
            vec![""],
        ),
    ];
    for (body, pointers) in cases {
        let response = put(&app, &tenant, &path, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem = problem(response).await;
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap_or_default())
            .collect();
        for pointer in pointers {
            assert!(
                named.iter().any(|n| n.starts_with(pointer)),
                "{body}: {pointer} not named in {problem}"
            );
        }
    }
    let nothing = app.as_tenant(&tenant, Method::GET, &path).send().await.unwrap();
    assert_eq!(nothing.status(), 404, "nothing was stored");
    let plan = app
        .as_tenant(&tenant, Method::GET, &path.replace("policy", "plan"))
        .send()
        .await
        .unwrap();
    assert_eq!(plan.status(), 404);
    let charge_now = app
        .as_tenant(
            &tenant,
            Method::POST,
            &path.replace("smart-charging-policy", "charge-now"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(charge_now.status(), 400, "no policy: nothing to override");
    problem(charge_now).await;
    app.stop().await;
}

#[tokio::test]
async fn another_client_s_charger_has_no_policy_plan_or_override_for_you() {
    let app = TestApp::spawn().await;
    let owner = app.tenant("owner").await;
    let other = app.tenant("other").await;
    let charger = app.register_charger(&owner, "alice", "CP-TENANT").await;
    let id = charger["id"].as_str().unwrap();
    let path = format!("/chargers/{id}/smart-charging-policy");
    let policy = json!({"deadline": "07:00", "targetEnergy": 10});
    assert_eq!(put(&app, &owner, &path, policy.clone()).await.status(), 200);

    let refused = put(&app, &other, &path, json!({"deadline": "09:00", "targetEnergy": 1})).await;
    assert_eq!(refused.status(), 404);
    problem(refused).await;
    for (method, route) in [
        (Method::GET, path.clone()),
        (Method::GET, format!("/chargers/{id}/smart-charging-plan")),
        (Method::POST, format!("/chargers/{id}/charge-now")),
        (Method::DELETE, format!("/chargers/{id}/charge-now")),
    ] {
        let response = app.as_tenant(&other, method.clone(), &route).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {route}");
        problem(response).await;
    }
    for route in [
        "/vehicles/nope/smart-charging-policy",
        "/ev-systems/nope/smart-charging-policy",
    ] {
        let response = put(&app, &owner, route, json!({"deadline": "07:00", "targetSoc": 80})).await;
        assert_eq!(response.status(), 404, "{route}");
    }
    let kept = app.get_json(&owner, &path).await;
    assert_eq!(
        (kept["deadline"].as_str(), kept["targetEnergy"].as_f64()),
        (Some("07:00"), Some(10.0)),
        "{kept}"
    );
    app.stop().await;
}
