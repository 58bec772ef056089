//! Flexibility programs end to end, over real sockets: devices enrolled (and refused, with their
//! reasons), an event that caps a simulated charger (its composite schedule shows the cap, and the
//! car's smart-charging plan is made again under it), the cap ending on the charger by itself with
//! Coupler stopped, a driver's opt-out lifting the cap for that driver alone, bad input refused
//! with problems that change nothing, and tenant isolation.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, SubsecRound, Utc};
use coupler_core::clock::ManualClock;
use coupler_core::event::EventType;
use coupler_ocpp::OcppVersion;
use coupler_simulated::{Brand, SimCharger, SimChargerConfig, SimCloud, SimConfig, SimVehicleSpec};
use coupler_tests::prices::HomePrices;
use coupler_tests::sandbox::until;
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// The simulated chargers' own rating: what they offer with no profile in force.
pub(crate) const RATING_A: f64 = 32.0;

/// A simulated charger of `version` in `cloud`'s world, registered for `user` and connected, having
/// said it takes charging profiles; its id. It runs on tasks of its own, so it goes on when
/// Coupler stops.
pub(crate) async fn simulated(
    app: &TestApp,
    tenant: &Tenant,
    cloud: &SimCloud,
    user: &str,
    ocpp_id: &str,
) -> (String, SimCharger) {
    let registered = app.register_charger(tenant, user, ocpp_id).await;
    let config = SimChargerConfig::home(
        ocpp_id,
        registered["ocppUrl"].as_str().unwrap(),
        registered["password"].as_str().unwrap(),
        OcppVersion::V16,
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

/// A location of `user`'s at a point; its id.
async fn location(app: &TestApp, tenant: &Tenant, user: &str, latitude: f64, longitude: f64) -> String {
    let made = app
        .post_json_status(
            tenant,
            &format!("/users/{user}/locations"),
            json!({"name": "Home", "latitude": latitude, "longitude": longitude, "timezoneName": "UTC"}),
            201,
        )
        .await;
    made["id"].as_str().unwrap().to_owned()
}

async fn place(app: &TestApp, tenant: &Tenant, charger: &str, location: &str) {
    let placed = app
        .as_tenant(tenant, Method::PUT, &format!("/chargers/{charger}"))
        .json(&json!({"locationId": location}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 200);
}

/// A CAPACITY_LIMIT program: `limits` as given, chargers and EV systems that take profiles,
/// `area` as given.
pub(crate) async fn program(app: &TestApp, tenant: &Tenant, limits: Value, capabilities: Value, area: Value) -> String {
    let made = app
        .post_json_status(
            tenant,
            "/programs",
            json!({
                "name": "Winter peak relief",
                "kind": "CAPACITY_LIMIT",
                "eligibility": {
                    "deviceKinds": ["CHARGER", "EV_SYSTEM"],
                    "requiredCapabilities": capabilities,
                    "serviceArea": area,
                },
                "limits": limits,
                "incentive": {"perEvent": {"amount": 2.5, "currency": "EUR"}},
            }),
            201,
        )
        .await;
    made["id"].as_str().unwrap().to_owned()
}

pub(crate) fn at_once() -> Value {
    json!({"maxEventMinutes": 180, "minNoticeMinutes": 0})
}

fn consent() -> Value {
    json!({"dataShared": ["chargingSessions", "meterReadings"], "howToLeave": "Unenrol in the app at any time"})
}

pub(crate) async fn enrol(app: &TestApp, tenant: &Tenant, program: &str, user: &str, charger: &str) -> Value {
    app.post_json_status(
        tenant,
        &format!("/programs/{program}/enrolments"),
        json!({"userId": user, "deviceType": "CHARGER", "deviceId": charger, "consent": consent()}),
        201,
    )
    .await
}

async fn post(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> reqwest::Response {
    app.as_tenant(tenant, Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// An 8 A import limit on `targets` from `start` for `minutes`.
fn cap_event(start: DateTime<Utc>, minutes: u32, targets: Value) -> Value {
    json!({
        "start": start.to_rfc3339(),
        "durationMinutes": minutes,
        "kind": "IMPORT_LIMIT",
        "value": 8,
        "unit": "A",
        "targets": targets,
    })
}

/// Waits until the event's part for `charger` is in `state`, and returns the event.
pub(crate) async fn progress_until(app: &TestApp, tenant: &Tenant, path: &str, charger: &str, state: &str) -> Value {
    until(&format!("charger {charger}'s part is {state}"), || async {
        let event = app.get_json(tenant, path).await;
        let part = event["progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["chargerId"] == charger)
            .cloned();
        part.filter(|p| p["state"] == state).map(|_| event)
    })
    .await
}

/// The `flex` sources limiting a charger now or later.
async fn flex_sources(app: &TestApp, tenant: &Tenant, charger: &str) -> Vec<Value> {
    let limits = app.get_json(tenant, &format!("/chargers/{charger}/limits")).await;
    limits["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "flex")
        .cloned()
        .collect()
}

async fn events_of(app: &TestApp, tenant: &Tenant, kind: EventType) -> Vec<(Vec<String>, Value)> {
    app.store
        .events_after(&tenant.id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == kind)
        .map(|e| (e.updated_fields, e.data))
        .collect()
}

#[tokio::test]
async fn an_eligible_charger_is_enrolled_and_ineligible_ones_are_refused_with_every_reason() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (alice_charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-FLEX-ENROL").await;
    let oslo = location(&app, &tenant, "alice", 59.91, 10.75).await;
    place(&app, &tenant, &alice_charger, &oslo).await;
    let program = program(
        &app,
        &tenant,
        at_once(),
        json!(["SMART_CHARGING_PROFILES"]),
        json!([{"latitude": 59.91, "longitude": 10.75, "radiusKm": 50}]),
    )
    .await;

    let check = |user: &str, charger: &str| json!({"userId": user, "deviceType": "CHARGER", "deviceId": charger});
    let verdict = app
        .post_json(
            &tenant,
            &format!("/programs/{program}/eligibility"),
            check("alice", &alice_charger),
        )
        .await;
    assert_eq!(
        (verdict["eligible"].as_bool(), verdict["verdict"].as_str()),
        (Some(true), Some("ELIGIBLE")),
        "{verdict}"
    );
    let enrolled = enrol(&app, &tenant, &program, "alice", &alice_charger).await;
    assert_eq!(enrolled["status"], "ACTIVE", "{enrolled}");
    assert_eq!(enrolled["consent"]["howToLeave"], "Unenrol in the app at any time");
    assert!(enrolled["consent"]["givenAt"].is_string());
    let enrolment = enrolled["id"].as_str().unwrap().to_owned();

    // The same charger again: already enrolled.
    let again = post(
        &app,
        &tenant,
        &format!("/programs/{program}/enrolments"),
        json!({"userId": "alice", "deviceType": "CHARGER", "deviceId": alice_charger, "consent": consent()}),
    )
    .await;
    assert_eq!(again.status(), 422);
    let again = problem(again).await;
    assert_eq!(again["errors"][0]["pointer"], "/deviceId", "{again}");
    assert!(
        again["detail"].as_str().unwrap().contains("already enrolled"),
        "{again}"
    );

    // Bob's charger has never connected (nothing known about profiles) and is in Munich.
    let bob_charger = app.register_charger(&tenant, "bob", "BOB-FLEX").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let munich = location(&app, &tenant, "bob", 48.14, 11.58).await;
    place(&app, &tenant, &bob_charger, &munich).await;
    let verdict = app
        .post_json(
            &tenant,
            &format!("/programs/{program}/eligibility"),
            check("bob", &bob_charger),
        )
        .await;
    let codes: Vec<&str> = verdict["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(verdict["verdict"], "INELIGIBLE", "{verdict}");
    assert_eq!(codes, vec!["OUTSIDE_SERVICE_AREA", "CAPABILITY_UNKNOWN"], "{verdict}");
    let refused = post(
        &app,
        &tenant,
        &format!("/programs/{program}/enrolments"),
        json!({"userId": "bob", "deviceType": "CHARGER", "deviceId": bob_charger, "consent": consent()}),
    )
    .await;
    assert_eq!(refused.status(), 422);
    let refused = problem(refused).await;
    assert_eq!(refused["errors"].as_array().unwrap().len(), 2, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("outside the program's service area"),
        "{refused}"
    );

    // Carol's charger is in Oslo but has not said what it takes: enrolled, PENDING with the reason.
    let carol_registered = app.register_charger(&tenant, "carol", "CAROL-FLEX").await;
    let carol_charger = carol_registered["id"].as_str().unwrap().to_owned();
    let carol_home = location(&app, &tenant, "carol", 59.92, 10.70).await;
    place(&app, &tenant, &carol_charger, &carol_home).await;
    let pending = enrol(&app, &tenant, &program, "carol", &carol_charger).await;
    assert_eq!(pending["status"], "PENDING", "{pending}");
    assert!(pending["statusReason"]
        .as_str()
        .unwrap()
        .contains("SMART_CHARGING_PROFILES"));
    let checked = app
        .post_json(
            &tenant,
            &format!("/enrolments/{}/check", pending["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(checked["status"], "PENDING", "still not known");
    let carol_enrolment = pending["id"].as_str().unwrap().to_owned();

    // A bad consent and an unknown device change nothing either.
    let no_consent = post(
        &app,
        &tenant,
        &format!("/programs/{program}/enrolments"),
        json!({"userId": "alice", "deviceType": "CHARGER", "deviceId": alice_charger,
               "consent": {"dataShared": [], "howToLeave": " "}}),
    )
    .await;
    assert_eq!(no_consent.status(), 422);
    let pointers: Vec<String> = problem(no_consent).await["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pointers, vec!["/consent/dataShared", "/consent/howToLeave"]);
    let unknown = post(
        &app,
        &tenant,
        &format!("/programs/{program}/eligibility"),
        json!({"userId": "alice", "deviceType": "EV_SYSTEM", "deviceId": "no-such-system"}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    problem(unknown).await;
    let listed = app.get_json(&tenant, &format!("/programs/{program}/enrolments")).await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        2,
        "alice's and carol's: {listed}"
    );

    // The lifecycle: paused, resumed (checked again: still eligible), unenrolled for good.
    let path = format!("/enrolments/{enrolment}");
    let paused = app.post_json(&tenant, &format!("{path}/pause"), json!({})).await;
    assert_eq!(paused["status"], "PAUSED");
    let resumed = app.post_json(&tenant, &format!("{path}/resume"), json!({})).await;
    assert_eq!(resumed["status"], "ACTIVE");
    let left = app.as_tenant(&tenant, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(left.status(), 200);
    assert_eq!(left.json::<Value>().await.unwrap()["status"], "UNENROLLED");
    let twice = app.as_tenant(&tenant, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(twice.status(), 409);
    problem(twice).await;
    let back = enrol(&app, &tenant, &program, "alice", &alice_charger).await;
    assert_eq!(back["status"], "ACTIVE", "a device that left may enrol again");

    // Carol's charger connects and says it takes profiles: an event sent to her enrolment checks
    // it again, and it takes part.
    let carol_sim = SimCharger::start(
        cloud.clone(),
        SimChargerConfig::home(
            "CAROL-FLEX",
            carol_registered["ocppUrl"].as_str().unwrap(),
            carol_registered["password"].as_str().unwrap(),
            OcppVersion::V16,
        ),
        &coupler_tasks::Tasks::new(),
    );
    until("carol's charger has said it takes profiles", || async {
        let seen = app.get_json(&tenant, &format!("/chargers/{carol_charger}")).await;
        (seen["capabilities"]["limitControl"]["smartCharging"] == true).then_some(())
    })
    .await;
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            cap_event(
                Utc::now() + Duration::hours(1),
                60,
                json!({"enrolmentIds": [carol_enrolment]}),
            ),
            201,
        )
        .await;
    assert_eq!(sent["progress"][0]["chargerId"], carol_charger.as_str(), "{sent}");
    let carol = app.get_json(&tenant, &format!("/enrolments/{carol_enrolment}")).await;
    assert_eq!(carol["status"], "ACTIVE", "{carol}");
    carol_sim.stop();
    let alice_list = app.get_json(&tenant, "/users/alice/enrolments").await;
    assert_eq!(alice_list["data"].as_array().unwrap().len(), 2);

    until("the enrolment's changes are published", || async {
        let statuses: Vec<String> = events_of(&app, &tenant, EventType::FlexEnrolmentUpdated)
            .await
            .into_iter()
            .filter(|(_, data)| data["id"] == enrolment.as_str())
            .map(|(_, data)| data["status"].as_str().unwrap().to_owned())
            .collect();
        (statuses.len() >= 4).then_some(())
    })
    .await;
    sim.stop();
    app.stop().await;
}

/// A car of the simulated world (75 kWh, 16 A) plugged into the charger's socket; the charger
/// starts a transaction by itself.
pub(crate) fn plug_a_car(cloud: &SimCloud, ocpp_id: &str) {
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
}

/// Reads the plan until `wanted` holds.
async fn plan_when(app: &TestApp, tenant: &Tenant, path: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    until(what, || async {
        let response = app.as_tenant(tenant, Method::GET, path).send().await.unwrap();
        if response.status() != 200 {
            return None;
        }
        let plan: Value = response.json().await.unwrap();
        wanted(&plan).then_some(plan)
    })
    .await
}

pub(crate) fn at(raw: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The most power the plan draws in the slots from `from` until `to`, kW.
fn most_power(plan: &Value, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    plan["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| at(&s["start"]) >= from && at(&s["end"]) <= to)
        .map(|s| s["power"].as_f64().unwrap())
        .fold(0.0, f64::max)
}

#[tokio::test]
async fn an_event_caps_a_simulated_charger_and_its_car_s_plan_is_made_again_under_the_cap() {
    let start = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(ManualClock::at(start));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await;
    let tenant = app.tenant("utility").await;
    // Dear this hour, cheap the next: the plan charges in the next hour, at the car's full 16 A.
    let prices = HomePrices::hourly(&app, &tenant, start, &[0.40, 0.10, 0.30, 0.30]).await;
    let cloud = SimCloud::new(SimConfig::default()).with_clock(clock.clone());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-FLEX-PLAN").await;
    prices.place(&app, &tenant, &charger).await;
    let deadline = start + Duration::hours(3);
    let policy = app
        .as_tenant(
            &tenant,
            Method::PUT,
            &format!("/chargers/{charger}/smart-charging-policy"),
        )
        .json(&json!({"deadline": "07:00", "departures": [deadline.to_rfc3339()], "targetEnergy": 6.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 200);
    plug_a_car(&cloud, "SIM-FLEX-PLAN");
    let plan_path = format!("/chargers/{charger}/smart-charging-plan");
    let cheap_from = start.duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(1);
    let cheap_to = cheap_from + Duration::hours(1);
    let before = plan_when(
        &app,
        &tenant,
        &plan_path,
        "the plan charges at full power in the cheap hour",
        |p| p["state"] == "EXECUTING" && p["chargerHoldsPlan"] == true && most_power(p, cheap_from, cheap_to) > 10.0,
    )
    .await;

    let program = program(&app, &tenant, at_once(), json!(["SMART_CHARGING_PROFILES"]), json!([])).await;
    enrol(&app, &tenant, &program, "alice", &charger).await;
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            cap_event(cheap_from, 60, json!({"program": true})),
            201,
        )
        .await;
    assert_eq!(
        (sent["maxCurrent"].as_f64(), sent["status"].as_str()),
        (Some(8.0), Some("SCHEDULED"))
    );
    assert_eq!(sent["progress"].as_array().unwrap().len(), 1, "{sent}");
    let event_path = format!("/programs/{program}/events/{}", sent["id"].as_str().unwrap());
    progress_until(&app, &tenant, &event_path, &charger, "APPLIED").await;

    // The charger holds the cap over the event's window (its own composite, from its profiles) ...
    let middle = cheap_from + Duration::minutes(30);
    until("the charger holds the event's cap in its window", || async {
        (sim.limit_at(middle) <= 8.0).then_some(())
    })
    .await;
    let source = &flex_sources(&app, &tenant, &charger).await[0];
    assert_eq!(
        (at(&source["validFrom"]), at(&source["validTo"])),
        (cheap_from, cheap_to),
        "and only in it: {source}"
    );
    // ... and the plan is made again under it: at most 8 A on three phases in the window.
    let cap_kw = 8.0 * 230.0 * 3.0 / 1000.0;
    let after = plan_when(&app, &tenant, &plan_path, "the plan keeps to the event's cap", |p| {
        p["chargerHoldsPlan"] == true && most_power(p, cheap_from, cheap_to) <= cap_kw + 0.01
    })
    .await;
    assert_eq!(after["id"], before["id"], "the same plug-in's plan, made again");
    assert!(
        most_power(&after, cheap_from, cheap_to) > 0.0,
        "it still charges in the cheap hour: {after}"
    );
    let limits = app.get_json(&tenant, &format!("/chargers/{charger}/limits")).await;
    let kinds: Vec<&str> = limits["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"flex") && kinds.contains(&"schedule"), "{limits}");
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn an_event_ends_on_the_charger_by_itself_with_coupler_stopped() {
    let start = Utc::now().trunc_subsecs(0);
    let clock = Arc::new(ManualClock::at(start));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default()).with_clock(clock.clone());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-FLEX-OFF").await;
    let program = program(
        &app,
        &tenant,
        json!({"maxEventMinutes": 120, "minNoticeMinutes": 5, "maxEventsPerYear": 20}),
        json!(["SMART_CHARGING_PROFILES"]),
        json!([]),
    )
    .await;
    let enrolment = enrol(&app, &tenant, &program, "alice", &charger).await;
    let event_start = start + Duration::minutes(10);
    let event_end = event_start + Duration::minutes(30);
    let mut body = cap_event(event_start, 30, json!({"enrolmentIds": [enrolment["id"]]}));
    body["maxRandomDelaySeconds"] = json!(600);
    body["randomSeed"] = json!(7);
    let sent = app
        .post_json_status(&tenant, &format!("/programs/{program}/events"), body, 201)
        .await;
    let part = &sent["progress"][0];
    let delay = part["delaySeconds"].as_i64().unwrap();
    assert!((0..=600).contains(&delay), "{sent}");
    let starts = event_start + Duration::seconds(delay);
    assert_eq!(at(&part["startsAt"]), starts);
    let event_path = format!("/programs/{program}/events/{}", sent["id"].as_str().unwrap());
    progress_until(&app, &tenant, &event_path, &charger, "APPLIED").await;
    // The charger itself knows the window: free before the target's start, capped in it.
    assert_eq!(sim.limit_at(starts - Duration::seconds(1)), RATING_A);
    assert_eq!(sim.limit_at(starts + Duration::seconds(1)), 8.0);
    assert_eq!(sim.limit_at(event_end + Duration::seconds(1)), RATING_A);

    // At its start, the charger's composite schedule shows the cap: confirmed.
    clock.set(starts + Duration::seconds(1));
    let confirmed = progress_until(&app, &tenant, &event_path, &charger, "CONFIRMED").await;
    assert_eq!(confirmed["status"], "ACTIVE");
    assert!(
        confirmed["progress"][0]["detail"].as_str().unwrap().contains("8 A"),
        "{confirmed}"
    );

    app.stop().await;
    until("the charger finds Coupler gone", || async {
        (!sim.view().connected).then_some(())
    })
    .await;
    clock.set(event_end + Duration::seconds(1));
    assert_eq!(
        sim.limit_at(clock_now(&clock)),
        RATING_A,
        "the cap ends on the charger by itself"
    );
    assert_eq!(
        sim.limit_at(starts + Duration::minutes(1)),
        8.0,
        "nothing lifted it early"
    );
    assert!(!sim.view().connected, "all of it without Coupler");
    sim.stop();
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use coupler_core::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn an_opt_out_lifts_the_cap_for_that_driver_only() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (alice, alice_sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-FLEX-ALICE").await;
    let (bob, bob_sim) = simulated(&app, &tenant, &cloud, "bob", "SIM-FLEX-BOB").await;
    let program = program(&app, &tenant, at_once(), json!(["SMART_CHARGING_PROFILES"]), json!([])).await;
    let alice_enrolment = enrol(&app, &tenant, &program, "alice", &alice).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol(&app, &tenant, &program, "bob", &bob).await;
    let group = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/groups"),
            json!({"name": "Everyone's chargers", "filter": {"deviceKinds": ["CHARGER"]}}),
            201,
        )
        .await;
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            cap_event(Utc::now(), 60, json!({"groupIds": [group["id"]]})),
            201,
        )
        .await;
    assert_eq!(
        sent["progress"].as_array().unwrap().len(),
        2,
        "the group holds both: {sent}"
    );
    let event_id = sent["id"].as_str().unwrap().to_owned();
    let event_path = format!("/programs/{program}/events/{event_id}");
    progress_until(&app, &tenant, &event_path, &alice, "CONFIRMED").await;
    progress_until(&app, &tenant, &event_path, &bob, "CONFIRMED").await;
    assert_eq!(alice_sim.limit_at(Utc::now()), 8.0);
    assert_eq!(bob_sim.limit_at(Utc::now()), 8.0);

    let opted = app
        .post_json_status(
            &tenant,
            &format!("/enrolments/{alice_enrolment}/opt-outs"),
            json!({"eventId": event_id, "reason": "leaving early for the airport"}),
            201,
        )
        .await;
    assert_eq!(opted["state"], "OPTED_OUT", "{opted}");
    assert_eq!(opted["optOut"]["requestedBy"], "driver");
    assert_eq!(opted["optOut"]["reason"], "leaving early for the airport");
    assert!(opted["optOut"]["at"].is_string());
    until("alice's charger is free of the cap", || async {
        (alice_sim.limit_at(Utc::now()) == RATING_A).then_some(())
    })
    .await;
    assert_eq!(bob_sim.limit_at(Utc::now()), 8.0, "bob's cap stays");
    assert!(flex_sources(&app, &tenant, &alice).await.is_empty());
    assert_eq!(flex_sources(&app, &tenant, &bob).await.len(), 1);
    let event = app.get_json(&tenant, &event_path).await;
    assert_eq!(event["summary"]["OPTED_OUT"], 1, "{event}");
    assert_eq!(event["summary"]["CONFIRMED"], 1, "{event}");
    let listed = app.get_json(&tenant, &format!("/programs/{program}/events")).await;
    assert_eq!(listed["data"][0]["summary"], event["summary"], "{listed}");
    assert!(
        listed["data"][0]["progress"].as_array().unwrap().is_empty(),
        "lists leave the parts out"
    );

    let again = post(
        &app,
        &tenant,
        &format!("/enrolments/{alice_enrolment}/opt-outs"),
        json!({"eventId": event_id}),
    )
    .await;
    assert_eq!(again.status(), 409);
    problem(again).await;
    until("the opt-out is published as an event update", || async {
        events_of(&app, &tenant, EventType::FlexEventUpdated)
            .await
            .iter()
            .any(|(fields, data)| {
                fields.iter().any(|f| f == "progress.optOut")
                    && data["progress"][0]["optOut"]["reason"] == "leaving early for the airport"
            })
            .then_some(())
    })
    .await;
    alice_sim.stop();
    bob_sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn bad_events_are_refused_with_problems_and_change_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("utility").await;
    let other = app.tenant("other").await;
    // No capability required: a charger that never connected takes part (and waits for it).
    let limits = json!({"maxEventMinutes": 120, "minNoticeMinutes": 60, "maxEventsPerYear": 2});
    let program = program(&app, &tenant, limits, json!([]), json!([])).await;
    let charger = app.register_charger(&tenant, "alice", "FLEX-BAD").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let enrolment = enrol(&app, &tenant, &program, "alice", &charger).await;
    assert_eq!(enrolment["status"], "ACTIVE");
    let other_program = program_of(&app, &other).await;
    let other_charger = app.register_charger(&other, "olga", "FLEX-OTHER").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_enrolment = enrol(&app, &other, &other_program, "olga", &other_charger).await;
    let events = format!("/programs/{program}/events");
    let soon = (Utc::now() + Duration::hours(2)).trunc_subsecs(0);
    let everyone = json!({"program": true});
    let refused = |body: Value, pointer: &'static str| {
        let app = &app;
        let tenant = &tenant;
        let events = events.clone();
        async move {
            let response = post(app, tenant, &events, body).await;
            assert_eq!(response.status(), 422, "expected a 422 at {pointer}");
            let body = problem(response).await;
            let pointers: Vec<&str> = body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pointer"].as_str().unwrap())
                .collect();
            assert!(pointers.contains(&pointer), "{pointer} in {body}");
            body
        }
    };
    refused(cap_event(soon, 180, everyone.clone()), "/durationMinutes").await;
    let short = refused(
        cap_event(Utc::now() + Duration::minutes(10), 60, everyone.clone()),
        "/start",
    )
    .await;
    assert!(short["detail"].as_str().is_some());
    refused(
        cap_event(Utc::now() - Duration::hours(3), 60, everyone.clone()),
        "/start",
    )
    .await;
    let mut pause = cap_event(soon, 60, everyone.clone());
    pause["kind"] = json!("PAUSE");
    pause.as_object_mut().unwrap().remove("value");
    pause.as_object_mut().unwrap().remove("unit");
    refused(pause, "/kind").await;
    refused(
        cap_event(soon, 60, json!({"enrolmentIds": [other_enrolment["id"]]})),
        "/targets/enrolmentIds/0",
    )
    .await;
    refused(
        cap_event(soon, 60, json!({"groupIds": ["no-such-group"]})),
        "/targets/groupIds/0",
    )
    .await;
    refused(cap_event(soon, 60, json!({})), "/targets").await;
    let mut delay = cap_event(soon, 60, everyone.clone());
    delay["maxRandomDelaySeconds"] = json!(3600);
    refused(delay, "/maxRandomDelaySeconds").await;
    // A SHED event is refused from a CAPACITY_LIMIT program, and a SHED program's events need a
    // shed in kW.
    let mut shed_here = cap_event(soon, 30, everyone.clone());
    shed_here["kind"] = json!("SHED");
    shed_here["unit"] = json!("KW");
    refused(shed_here, "/kind").await;
    let shed = app
        .post_json_status(
            &tenant,
            "/programs",
            json!({"name": "Shed", "kind": "SHED", "eligibility": {"deviceKinds": ["CHARGER"]},
                   "limits": {"maxEventMinutes": 60, "minNoticeMinutes": 0}}),
            201,
        )
        .await;
    let shed_event = post(
        &app,
        &tenant,
        &format!("/programs/{}/events", shed["id"].as_str().unwrap()),
        json!({"start": soon.to_rfc3339(), "durationMinutes": 30, "kind": "SHED", "targets": {"program": true}}),
    )
    .await;
    assert_eq!(shed_event.status(), 422);
    assert_eq!(problem(shed_event).await["errors"][0]["pointer"], "/value");
    let mut share = cap_event(soon, 60, everyone.clone());
    share["controlGroupShare"] = json!(0.9);
    refused(share, "/controlGroupShare").await;
    // Nothing was stored by any of them.
    assert!(app.get_json(&tenant, &events).await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(flex_sources(&app, &tenant, &charger).await.is_empty());

    // Two events a year; a cancelled one does not count.
    let first = app
        .post_json_status(&tenant, &events, cap_event(soon, 60, everyone.clone()), 201)
        .await;
    let part = &first["progress"][0];
    assert_eq!(part["state"], "SCHEDULED", "{first}");
    let limit_id = part["limitId"].as_str().unwrap().to_owned();
    app.post_json_status(
        &tenant,
        &events,
        cap_event(soon + Duration::hours(3), 60, everyone.clone()),
        201,
    )
    .await;
    let full = refused(cap_event(soon + Duration::hours(6), 60, everyone.clone()), "/start").await;
    assert!(
        full["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("2 events a year"),
        "{full}"
    );
    let first_path = format!("{events}/{}", first["id"].as_str().unwrap());
    until("the charger's part says it waits for the charger", || async {
        let event = app.get_json(&tenant, &first_path).await;
        event["progress"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not connected"))
            .then_some(())
    })
    .await;

    // Changes: a longer end moves the charger's limit with it; one past the longest event or
    // already passed is refused.
    let later = soon + Duration::minutes(90);
    let changed = app
        .as_tenant(&tenant, Method::PATCH, &first_path)
        .json(&json!({"end": later.to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let limit = app.get_json(&tenant, &format!("/limits/{limit_id}")).await;
    assert_eq!(at(&limit["validTo"]), later, "{limit}");
    assert_eq!(limit["kind"], "flex");
    for (body, pointer) in [
        (
            json!({"end": (soon + Duration::hours(3)).to_rfc3339()}),
            "/durationMinutes",
        ),
        (json!({"end": (Utc::now() - Duration::minutes(1)).to_rfc3339()}), "/end"),
    ] {
        let response = app
            .as_tenant(&tenant, Method::PATCH, &first_path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(problem(response).await["errors"][0]["pointer"], pointer);
    }
    let limit = app.get_json(&tenant, &format!("/limits/{limit_id}")).await;
    assert_eq!(at(&limit["validTo"]), later, "unchanged by the refused changes");

    // Cancelled: its limit is gone, its part CANCELLED, and the year has room again.
    let cancelled = app.post_json(&tenant, &format!("{first_path}/cancel"), json!({})).await;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["progress"][0]["state"], "CANCELLED");
    let gone = app
        .as_tenant(&tenant, Method::GET, &format!("/limits/{limit_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let twice = post(&app, &tenant, &format!("{first_path}/cancel"), json!({})).await;
    assert_eq!(twice.status(), 409);
    problem(twice).await;
    app.post_json_status(
        &tenant,
        &events,
        cap_event(soon + Duration::hours(6), 60, everyone),
        201,
    )
    .await;
    app.stop().await;
}

/// A program of `tenant`'s that takes any charger.
async fn program_of(app: &TestApp, tenant: &Tenant) -> String {
    program(app, tenant, at_once(), json!([]), json!([])).await
}

#[tokio::test]
async fn another_client_sees_and_touches_none_of_a_program_its_enrolments_or_events() {
    let app = TestApp::spawn().await;
    let owner = app.tenant("utility").await;
    let other = app.tenant("other").await;
    let program = program_of(&app, &owner).await;
    let charger = app.register_charger(&owner, "alice", "FLEX-MINE").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let enrolment = enrol(&app, &owner, &program, "alice", &charger).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = app
        .post_json_status(
            &owner,
            &format!("/programs/{program}/events"),
            cap_event(Utc::now() + Duration::minutes(30), 60, json!({"program": true})),
            201,
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();

    for (method, path, body) in [
        (Method::GET, format!("/programs/{program}"), None),
        (
            Method::PATCH,
            format!("/programs/{program}"),
            Some(json!({"name": "Mine now"})),
        ),
        (Method::DELETE, format!("/programs/{program}"), None),
        (Method::GET, format!("/programs/{program}/enrolments"), None),
        (Method::GET, format!("/programs/{program}/events/{event_id}"), None),
        (
            Method::POST,
            format!("/programs/{program}/events/{event_id}/cancel"),
            Some(json!({})),
        ),
        (Method::GET, format!("/enrolments/{enrolment}"), None),
        (Method::DELETE, format!("/enrolments/{enrolment}"), None),
        (
            Method::POST,
            format!("/enrolments/{enrolment}/opt-outs"),
            Some(json!({"eventId": event_id})),
        ),
        (Method::GET, "/users/alice/enrolments".to_owned(), None),
    ] {
        let mut request = app.as_tenant(&other, method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        problem(response).await;
    }
    assert!(app.get_json(&other, "/programs").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    // The other client's own program cannot take the owner's charger, even for a user named alike.
    let theirs = program_of(&app, &other).await;
    app.as_tenant(&other, Method::PUT, "/users/alice").send().await.unwrap();
    let taken = post(
        &app,
        &other,
        &format!("/programs/{theirs}/enrolments"),
        json!({"userId": "alice", "deviceType": "CHARGER", "deviceId": charger, "consent": consent()}),
    )
    .await;
    assert_eq!(taken.status(), 404);
    problem(taken).await;
    // Everything of the owner's is as it was.
    let seen = app
        .get_json(&owner, &format!("/programs/{program}/events/{event_id}"))
        .await;
    assert_eq!(seen["status"], "SCHEDULED");
    assert_eq!(
        app.get_json(&owner, &format!("/programs/{program}")).await["name"],
        "Winter peak relief"
    );
    assert_eq!(
        app.get_json(&owner, &format!("/enrolments/{enrolment}")).await["status"],
        "ACTIVE"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_car_without_a_charger_is_stopped_for_a_pause_event_and_started_again_when_its_driver_opts_out() {
    use coupler_tests::vehicles::{car_charging_away, AppSite, SimWorld};

    let world = SimWorld::start(SimConfig::default()).await;
    let app = TestApp::spawn_with(|url, wiring| world.wire(url, wiring, |_| None)).await;
    let tenant = app.tenant("utility").await;
    let site = AppSite::start().await;
    // Plugged in somewhere without a Coupler charger, and charging.
    let (maker_id, vehicle_id) = car_charging_away(&world, &app, &tenant, &site, "VIN-FLEX", 50.0).await;
    assert_eq!(world.cloud.vehicle(&maker_id).unwrap().status(), "charging");

    let program = app
        .post_json_status(
            &tenant,
            "/programs",
            json!({"name": "Evening pause", "kind": "PAUSE",
                   "eligibility": {"deviceKinds": ["VEHICLE"], "requiredCapabilities": ["START_STOP"]},
                   "limits": {"maxEventMinutes": 120, "minNoticeMinutes": 0}}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let enrolment = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/enrolments"),
            json!({"userId": "alice", "deviceType": "VEHICLE", "deviceId": vehicle_id, "consent": consent()}),
            201,
        )
        .await;
    assert_eq!(enrolment["status"], "ACTIVE", "{enrolment}");
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            json!({"start": Utc::now().to_rfc3339(), "durationMinutes": 60, "kind": "PAUSE",
                   "targets": {"program": true}}),
            201,
        )
        .await;
    assert_eq!(sent["progress"][0]["vehicleId"], vehicle_id.as_str(), "{sent}");
    let event_id = sent["id"].as_str().unwrap().to_owned();
    let event_path = format!("/programs/{program}/events/{event_id}");
    until("the maker stops the car for the event", || async {
        (world.cloud.vehicle(&maker_id).unwrap().status() == "stopped").then_some(())
    })
    .await;
    let confirmed = until("the stop is confirmed in the event's progress", || async {
        let event = app.get_json(&tenant, &event_path).await;
        (event["progress"][0]["state"] == "CONFIRMED").then_some(event)
    })
    .await;
    let stop = confirmed["progress"][0]["actionIds"][0].as_str().unwrap().to_owned();
    let action = app.get_json(&tenant, &format!("/actions/{stop}")).await;
    assert_eq!(
        (action["kind"].as_str(), action["state"].as_str()),
        (Some("STOP"), Some("CONFIRMED")),
        "{action}"
    );

    app.post_json_status(
        &tenant,
        &format!("/enrolments/{}/opt-outs", enrolment["id"].as_str().unwrap()),
        json!({"eventId": event_id, "requestedBy": "driver"}),
        201,
    )
    .await;
    until(
        "the maker starts the car again for the driver who opted out",
        || async { (world.cloud.vehicle(&maker_id).unwrap().status() == "charging").then_some(()) },
    )
    .await;
    let event = until("the start is kept with the opt-out", || async {
        let event = app.get_json(&tenant, &event_path).await;
        (event["progress"][0]["actionIds"].as_array().unwrap().len() == 2).then_some(event)
    })
    .await;
    assert_eq!(event["progress"][0]["state"], "OPTED_OUT", "{event}");
    app.stop().await;
}
