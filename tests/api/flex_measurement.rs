//! Measuring flexibility events end to end, over real sockets with real charge points (the Python
//! `ocpp` package) sending their meter readings: 15-minute telemetry per charger and site, a SHED
//! event capped at each site's baseline less the shed, a control group held back without a cap,
//! results per interval (JSON and CSV), a charger that ignored its cap attributed as an override,
//! and bad input refused. Time is the test's clock; the readings carry their own times.

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use coupler_core::clock::ManualClock;
use coupler_core::event::EventType;
use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::sandbox::until;
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Thursday 26 November 2026 at `hh:mm` UTC, the day of the events (`days_back` days earlier).
pub(crate) fn day(days_back: i64, hh: u32, mm: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, hh, mm, 0).unwrap() - Duration::days(days_back)
}

/// A charger of `user`'s, registered and connected as a Python charge point that booted.
pub(crate) async fn charge_point(
    app: &TestApp,
    tenant: &Tenant,
    user: &str,
    ocpp_id: &str,
) -> (String, PythonChargePoint) {
    let registered = app.register_charger(tenant, user, ocpp_id).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected(url, ocpp_id, registered["password"].as_str().unwrap()).await;
    cp.boot("Available").await;
    (registered["id"].as_str().unwrap().to_owned(), cp)
}

/// A charge point's energy register, rising across its sessions.
pub(crate) struct Meter {
    pub(crate) wh: i64,
}

/// Runs one session from `start` for `quarters` quarter-hours at `kw`, with a reading of the
/// register and of the power at the end of each quarter-hour, stopping after the last.
pub(crate) async fn session(
    cp: &mut PythonChargePoint,
    meter: &mut Meter,
    start: DateTime<Utc>,
    quarters: i64,
    kw: f64,
) {
    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "CARD", "meter_start": meter.wh, "timestamp": stamp(start)}),
        )
        .await;
    let transaction_id = started["transaction_id"].as_i64().unwrap();
    for quarter in 1..=quarters {
        meter.wh += (kw * 250.0).round() as i64;
        let at = start + Duration::minutes(15 * quarter);
        cp.call(
            "MeterValues",
            json!({"connector_id": 1, "transaction_id": transaction_id, "meter_value": [{"timestamp": stamp(at), "sampledValue": [
                {"value": meter.wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": format!("{}", kw * 1000.0), "measurand": "Power.Active.Import", "unit": "W"},
            ]}]}),
        )
        .await;
    }
    cp.call(
        "StopTransaction",
        json!({"meter_stop": meter.wh, "timestamp": stamp(start + Duration::minutes(15 * quarters)), "transaction_id": transaction_id, "reason": "EVDisconnected"}),
    )
    .await;
}

pub(crate) async fn home(app: &TestApp, tenant: &Tenant, user: &str, charger: &str) -> String {
    let made = app
        .post_json_status(
            tenant,
            &format!("/users/{user}/locations"),
            json!({"name": "Home", "latitude": 51.5, "longitude": -0.1, "timezoneName": "UTC"}),
            201,
        )
        .await;
    let location = made["id"].as_str().unwrap().to_owned();
    let placed = app
        .as_tenant(tenant, Method::PUT, &format!("/chargers/{charger}"))
        .json(&json!({"locationId": location}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 200);
    location
}

pub(crate) async fn program(app: &TestApp, tenant: &Tenant, kind: &str) -> String {
    let made = app
        .post_json_status(
            tenant,
            "/programs",
            json!({"name": "Evening peak", "kind": kind, "eligibility": {"deviceKinds": ["CHARGER"]},
                   "limits": {"maxEventMinutes": 240, "minNoticeMinutes": 0}, "incentive": {}}),
            201,
        )
        .await;
    made["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn enrol(app: &TestApp, tenant: &Tenant, program: &str, user: &str, charger: &str) -> String {
    let made = app
        .post_json_status(
            tenant,
            &format!("/programs/{program}/enrolments"),
            json!({"userId": user, "deviceType": "CHARGER", "deviceId": charger,
                   "consent": {"dataShared": ["meterReadings"], "howToLeave": "Unenrol in the app"}}),
            201,
        )
        .await;
    assert_eq!(made["status"], "ACTIVE", "{made}");
    made["id"].as_str().unwrap().to_owned()
}

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

fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

fn near(value: &Value, wanted: f64) -> bool {
    (num(value) - wanted).abs() < 1e-6
}

#[tokio::test]
async fn a_charger_s_meter_readings_become_fifteen_minute_intervals_per_charger_and_per_site() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("utility").await;
    let (charger, mut cp) = charge_point(&app, &tenant, "alice", "CP-MV-INTERVALS").await;
    let site = home(&app, &tenant, "alice", &charger).await;
    // 3 kWh at 6 kW from 10:10 to 10:40, read every 15 minutes: it straddles two interval edges.
    let mut meter = Meter { wh: 5_000 };
    session(&mut cp, &mut meter, day(0, 10, 10), 2, 6.0).await;

    let span = format!("from={}&to={}", stamp(day(0, 10, 0)), stamp(day(0, 11, 0)));
    let seen = app
        .get_json(&tenant, &format!("/chargers/{charger}/intervals?{span}"))
        .await;
    assert_eq!(seen["source"], "CHARGER_METER");
    let intervals = seen["intervals"].as_array().unwrap();
    let energy: Vec<f64> = intervals.iter().map(|i| num(&i["energyKwh"])).collect();
    assert_eq!(intervals.len(), 4, "{seen}");
    assert!(
        (energy[0] - 0.5).abs() < 1e-6
            && (energy[1] - 1.5).abs() < 1e-6
            && (energy[2] - 1.0).abs() < 1e-6
            && energy[3] == 0.0,
        "{energy:?}"
    );
    assert!(near(&intervals[1]["averagePowerKw"], 6.0));
    assert!(near(&intervals[1]["maxPowerKw"], 6.0), "{}", intervals[1]);
    assert_eq!(intervals[3]["coverage"], 0.0, "nothing was charging after 10:40");
    assert!(near(&seen["energyKwh"], 3.0));

    // The site sums its chargers.
    let at_site = app
        .get_json(&tenant, &format!("/locations/{site}/intervals?{span}"))
        .await;
    assert_eq!(at_site["chargerIds"], json!([charger]));
    assert!(near(&at_site["intervals"][1]["energyKwh"], 1.5));

    // A backwards or too long span is refused; another client sees nothing of it.
    for (query, parameter) in [
        (
            format!("from={}&to={}", stamp(day(0, 11, 0)), stamp(day(0, 10, 0))),
            "to",
        ),
        (
            format!("from={}&to={}", stamp(day(40, 0, 0)), stamp(day(0, 0, 0))),
            "to",
        ),
    ] {
        let response = app
            .as_tenant(&tenant, Method::GET, &format!("/chargers/{charger}/intervals?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        assert_eq!(problem(response).await["errors"][0]["name"], parameter);
    }
    let other = app.tenant("someone-else").await;
    for path in [
        format!("/chargers/{charger}/intervals?{span}"),
        format!("/locations/{site}/intervals?{span}"),
    ] {
        let response = app.as_tenant(&other, Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    cp.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_shed_event_caps_the_site_at_its_baseline_less_the_shed_and_its_results_show_what_was_delivered() {
    // The charger became known on Monday at noon; Monday to Wednesday it charged 18:00 to 19:00.
    let clock = Arc::new(ManualClock::at(day(3, 12, 0)));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await;
    let tenant = app.tenant("utility").await;
    let (charger, mut cp) = charge_point(&app, &tenant, "alice", "CP-MV-SHED").await;
    home(&app, &tenant, "alice", &charger).await;
    let mut meter = Meter { wh: 100_000 };
    for (days_back, kw) in [(3, 9.0), (2, 12.0), (1, 12.0)] {
        session(&mut cp, &mut meter, day(days_back, 18, 0), 4, kw).await;
    }
    let program = program(&app, &tenant, "SHED").await;
    let enrolment = enrol(&app, &tenant, &program, "alice", &charger).await;

    // Thursday 17:50: shed 3 kW from 18:00 for an hour. The baseline is (9 + 12 + 12) / 3 = 11 kW
    // in each interval, so the cap is 8 kW: 8000 / (230 V x 3) = 11.59 A, 11.5 A on the charger.
    clock.set(day(0, 17, 50));
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            json!({"start": stamp(day(0, 18, 0)), "durationMinutes": 60, "kind": "SHED", "value": 3, "unit": "KW",
                   "targets": {"program": true}}),
            201,
        )
        .await;
    assert_eq!(sent["maxCurrent"], 11.5, "{sent}");
    let sources = flex_sources(&app, &tenant, &charger).await;
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0]["maxCurrent"], 11.5);
    assert_eq!(sources[0]["schedule"][0]["maxCurrent"], 11.5, "{}", sources[0]);
    assert_eq!(sources[0]["validTo"], stamp(day(0, 19, 0)));
    let profile = cp
        .received_matching("SetChargingProfile", |p| p.to_string().contains("11.5"))
        .await;
    assert!(profile.to_string().contains("ChargePointMaxProfile"), "{profile}");

    // It drew 7 kW through the event: 4 kW delivered in each interval.
    session(&mut cp, &mut meter, day(0, 18, 0), 4, 7.0).await;
    clock.set(day(0, 19, 5));
    let event_id = sent["id"].as_str().unwrap();
    let results = app.get_json(&tenant, &format!("/flex/events/{event_id}/results")).await;
    assert_eq!(results["baseline"], "SIMILAR_DAYS");
    assert_eq!(results["status"], "COMPLETED");
    let intervals = results["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4, "{results}");
    for interval in intervals {
        assert!(
            near(&interval["baselineKw"], 11.0)
                && near(&interval["actualKw"], 7.0)
                && near(&interval["deliveredKw"], 4.0),
            "{interval}"
        );
        assert!(near(&interval["deliveredKwh"], 1.0));
    }
    let totals = &results["totals"];
    assert!(
        near(&totals["baselineKwh"], 11.0) && near(&totals["actualKwh"], 7.0) && near(&totals["deliveredKwh"], 4.0),
        "{totals}"
    );
    assert_eq!(results["enrolments"][0]["enrolmentId"], enrolment.as_str());
    assert_eq!(results["enrolments"][0]["role"], "TREATED");
    assert_eq!(results["overrides"], json!([]), "7 kW is within the 8 kW cap");

    // The same as CSV, by Accept header or by query.
    let csv = app
        .as_tenant(&tenant, Method::GET, &format!("/flex/events/{event_id}/results"))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("scope,enrolment_id,role,source,interval_start"),
        "{text}"
    );
    assert_eq!(lines.len(), 1 + 4 + 4 + 1, "{text}");
    assert!(
        lines[1].starts_with(&format!(
            "ENROLMENT,{enrolment},TREATED,CHARGER_METER,{}",
            day(0, 18, 0).to_rfc3339()
        )),
        "{text}"
    );
    assert!(
        lines[9].starts_with("TOTAL,") && lines[9].contains(",11.0000,7.0000,4.0000,"),
        "{text}"
    );
    let by_query = app
        .as_tenant(
            &tenant,
            Method::GET,
            &format!("/flex/events/{event_id}/results?format=csv"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.text().await.unwrap(), text);

    // No control group was held back; a format or baseline that does not exist is refused; another
    // client's results are not there.
    for (query, name) in [
        ("baseline=CONTROL_GROUP", "baseline"),
        ("baseline=GUESS", "baseline"),
        ("format=xml", "format"),
    ] {
        let response = app
            .as_tenant(
                &tenant,
                Method::GET,
                &format!("/flex/events/{event_id}/results?{query}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(problem(response).await["errors"][0]["name"], name);
    }
    let other = app.tenant("someone-else").await;
    let theirs = app
        .as_tenant(&other, Method::GET, &format!("/flex/events/{event_id}/results"))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    cp.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_control_group_is_held_back_without_a_cap_and_a_charger_that_ignores_its_cap_is_attributed_as_an_override() {
    let clock = Arc::new(ManualClock::at(day(0, 17, 0)));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await;
    let tenant = app.tenant("utility").await;
    let program = program(&app, &tenant, "CAPACITY_LIMIT").await;
    let mut households = Vec::new();
    for user in ["ann", "ben", "cai", "dee"] {
        let (charger, cp) = charge_point(&app, &tenant, user, &format!("CP-MV-{user}")).await;
        let enrolment = enrol(&app, &tenant, &program, user, &charger).await;
        households.push((charger, cp, enrolment));
    }
    // An 8 A cap (5.52 kW on three phases) from 18:00 for an hour, half held back as the control.
    clock.set(day(0, 17, 55));
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            json!({"start": stamp(day(0, 18, 0)), "durationMinutes": 60, "kind": "IMPORT_LIMIT", "value": 8, "unit": "A",
                   "targets": {"program": true}, "controlGroupShare": 0.5, "randomSeed": 42}),
            201,
        )
        .await;
    let progress = sent["progress"].as_array().unwrap();
    let held: Vec<&str> = progress
        .iter()
        .filter(|p| p["state"] == "HELD_BACK")
        .map(|p| p["chargerId"].as_str().unwrap())
        .collect();
    assert_eq!(held.len(), 2, "{sent}");
    assert_eq!(sent["summary"]["HELD_BACK"], 2);
    for (charger, _, enrolment) in &households {
        let sources = flex_sources(&app, &tenant, charger).await;
        if held.contains(&charger.as_str()) {
            assert!(sources.is_empty(), "a held-back charger gets no cap: {sources:?}");
            let opt_out = app
                .as_tenant(&tenant, Method::POST, &format!("/enrolments/{enrolment}/opt-outs"))
                .json(&json!({"eventId": sent["id"]}))
                .send()
                .await
                .unwrap();
            assert_eq!(opt_out.status(), 409);
            let detail = problem(opt_out).await["detail"].as_str().unwrap().to_owned();
            assert!(detail.contains("control group"), "{detail}");
        } else {
            assert_eq!(sources.len(), 1);
            assert_eq!(sources[0]["maxCurrent"], 8.0);
        }
    }

    // The window opens and the keeper confirms the two caps on the chargers' composite schedules,
    // before anyone charges (an override found later is then the last word on its target).
    clock.set(day(0, 18, 1));
    let event_id = sent["id"].as_str().unwrap();
    until("both caps are confirmed", || async {
        let event = app
            .get_json(&tenant, &format!("/programs/{program}/events/{event_id}"))
            .await;
        let progress = event["progress"].as_array().unwrap();
        (progress.iter().filter(|p| p["state"] == "CONFIRMED").count() == 2).then_some(())
    })
    .await;

    // The held-back households charge at 11 kW; of the capped ones one keeps to 5 kW, the other
    // ignores the cap and draws 11 kW.
    let mut ignoring = None;
    let mut capped_seen = 0;
    for (charger, cp, enrolment) in households.iter_mut() {
        let mut meter = Meter { wh: 0 };
        let kw = if held.contains(&charger.as_str()) {
            11.0
        } else {
            capped_seen += 1;
            if capped_seen == 1 {
                5.0
            } else {
                ignoring = Some(enrolment.clone());
                11.0
            }
        };
        session(cp, &mut meter, day(0, 18, 0), 3, kw).await;
    }
    let ignoring = ignoring.unwrap();
    clock.set(day(0, 18, 50));
    let path = format!("/flex/events/{event_id}/results");
    let results = until("the override is attributed", || async {
        let results = app.get_json(&tenant, &path).await;
        (!results["overrides"].as_array().unwrap().is_empty()).then_some(results)
    })
    .await;
    let overrides = results["overrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 1, "{results}");
    let found = &overrides[0];
    assert_eq!(found["enrolmentId"], ignoring.as_str());
    assert_eq!(found["source"], "CHARGER_METER");
    assert_eq!(found["observedAt"], stamp(day(0, 18, 15)));
    assert!(
        near(&found["observedPowerKw"], 11.0) && near(&found["capKw"], 5.52),
        "{found}"
    );
    assert!(found["reason"].as_str().unwrap().contains("above the event's cap"));
    let theirs = results["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["enrolmentId"] == ignoring.as_str())
        .unwrap();
    assert_eq!(theirs["overrides"].as_array().unwrap().len(), 1);
    // Its webhook event is published by the relay, in its own time.
    let published = until("the override's webhook event is published", || async {
        let overrides: Vec<_> = app
            .store
            .events_after(&tenant.id, 0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == EventType::FlexEventOverride)
            .collect();
        (!overrides.is_empty()).then_some(overrides)
    })
    .await;
    assert_eq!(published.len(), 1, "one override, one webhook event");
    assert_eq!(published[0].updated_fields, vec!["overrides".to_owned()]);
    let part = &published[0].data["progress"][0];
    assert!(part["detail"].as_str().unwrap().starts_with("override:"), "{part}");

    // The baseline is the control group's: 11 kW per treated charger, 22 kW for the two; they drew
    // 5 + 11 = 16 kW, so 6 kW was delivered in each of the three quarter-hours charged.
    assert_eq!(results["baseline"], "CONTROL_GROUP");
    assert_eq!(
        (results["treated"].as_u64(), results["heldBack"].as_u64()),
        (Some(2), Some(2))
    );
    let first = &results["intervals"][0];
    assert!(
        near(&first["baselineKw"], 22.0) && near(&first["actualKw"], 16.0) && near(&first["deliveredKw"], 6.0),
        "{first}"
    );
    assert!(near(&results["totals"]["deliveredKwh"], 4.5), "{}", results["totals"]);
    let roles: Vec<&str> = results["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "CONTROL").count(), 2);
    for (_, cp, _) in households {
        cp.close().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_car_started_from_its_own_app_during_a_pause_is_attributed_as_an_override() {
    use coupler_simulated::{SimCloud, SimConfig};
    use coupler_tests::vehicles::{car_charging_away, AppSite, SimWorld};

    let start = day(0, 18, 0);
    let clock = Arc::new(ManualClock::at(start));
    let cloud = SimCloud::new(SimConfig::default()).with_clock(clock.clone());
    let server = cloud.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let world = SimWorld { cloud, server };
    let wired = clock.clone();
    let app = TestApp::spawn_with(|url, wiring| {
        world.wire(url, wiring, |_| None);
        wiring.clock = wired;
    })
    .await;
    let tenant = app.tenant("utility").await;
    let site = AppSite::start().await;
    // Plugged in away from any Coupler charger, and charging.
    let (maker_id, vehicle_id) = car_charging_away(&world, &app, &tenant, &site, "VIN-MV-APP", 30.0).await;
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
            json!({"userId": "alice", "deviceType": "VEHICLE", "deviceId": vehicle_id,
                   "consent": {"dataShared": ["chargeState"], "howToLeave": "Unenrol in the app"}}),
            201,
        )
        .await;
    let sent = app
        .post_json_status(
            &tenant,
            &format!("/programs/{program}/events"),
            json!({"start": stamp(start), "durationMinutes": 60, "kind": "PAUSE", "targets": {"program": true}}),
            201,
        )
        .await;
    until("the maker stops the car for the event", || async {
        (world.cloud.vehicle(&maker_id).unwrap().status() == "stopped").then_some(())
    })
    .await;

    // Ten minutes in, the driver starts charging from the car's own app; Coupler reads the car.
    clock.set(start + Duration::minutes(10));
    world.cloud.update_vehicle(&maker_id, |car| car.charge_enabled = true);
    let hinted = app
        .as_tenant(&tenant, Method::POST, &format!("/vehicles/{vehicle_id}/refresh-hint"))
        .send()
        .await
        .unwrap();
    assert!(hinted.status().is_success(), "{}", hinted.status());
    until("the car is read charging", || async {
        let seen = app.get_json(&tenant, &format!("/vehicles/{vehicle_id}")).await;
        (seen["chargeState"]["isCharging"] == true).then_some(())
    })
    .await;
    let span = format!("from={}&to={}", stamp(start), stamp(start + Duration::minutes(30)));
    let telemetry = app
        .get_json(&tenant, &format!("/vehicles/{vehicle_id}/intervals?{span}"))
        .await;
    assert_eq!(telemetry["source"], "VEHICLE");
    assert!(num(&telemetry["intervals"][0]["energyKwh"]) > 0.0, "{telemetry}");
    let other = app.tenant("someone-else").await;
    let theirs = app
        .as_tenant(&other, Method::GET, &format!("/vehicles/{vehicle_id}/intervals?{span}"))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404, "another client sees nothing of the car");

    clock.set(start + Duration::minutes(11));
    let event_id = sent["id"].as_str().unwrap();
    let results = until("the car's charge is attributed as an override", || async {
        let results = app.get_json(&tenant, &format!("/flex/events/{event_id}/results")).await;
        (!results["overrides"].as_array().unwrap().is_empty()).then_some(results)
    })
    .await;
    let found = &results["overrides"][0];
    assert_eq!(found["enrolmentId"], enrolment["id"]);
    assert_eq!(found["source"], "VEHICLE");
    assert_eq!(found["observedAt"], stamp(start + Duration::minutes(10)));
    assert_eq!(found["capKw"], 0.0);
    assert!(num(&found["observedPowerKw"]) > 5.0, "{found}");
    app.stop().await;
}
