//! Coupler as an OpenADR 3 VEN, driven by a real VTN (openleadr-vtn 0.2.8 on PostgreSQL, started per
//! test): a VTN event caps a simulated charger through Coupler; its change and its cancellation
//! follow through; reports arrive at the VTN with the measured values, an opt-out as
//! OPERATING_STATE; the VTN going away and coming back loses no event; a webhook subscription is
//! made, and its callback answers the echo check and takes notifications; bad settings are
//! refused and another client sees none of it.
//!
//! The bindings poll once an hour, so every look at the VTN in these tests is one the test asks
//! for (`POST /programs/{id}/vtn/poll`) and then waits to see the outcome of.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use coupler_simulated::{SimCloud, SimConfig};
use coupler_tests::sandbox::until;
use coupler_tests::vtn::{Vtn, VEN_CLIENT};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

use crate::flex::{at_once, enrol, plug_a_car, program, progress_until, simulated, RATING_A};

/// 8 A on three phases at 230 V, in kW: the cap the first event asks for.
const EIGHT_AMPS_KW: f64 = 5.52;
/// 6 A on three phases at 230 V, in kW: the cap it is changed to.
const SIX_AMPS_KW: f64 = 4.14;

/// A program on the VTN, as the utility's back end makes it; its id.
async fn vtn_program(vtn: &Vtn, name: &str) -> String {
    let (status, made) = vtn
        .bl(
            Method::POST,
            "/programs",
            Some(json!({"objectType": "PROGRAM", "programName": name})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_owned()
}

/// An event of one interval capping each site's import at `kw` from `start` for `minutes`.
fn cap_event(program: &str, start: DateTime<Utc>, minutes: u32, kw: f64) -> Value {
    json!({
        "objectType": "EVENT",
        "programID": program,
        "eventName": "evening peak",
        "priority": null,
        "intervalPeriod": {"start": start.to_rfc3339(), "duration": format!("PT{minutes}M")},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
        "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [kw]}]}],
    })
}

/// Sends an event on the VTN; its id.
async fn vtn_event(vtn: &Vtn, body: Value) -> String {
    let (status, made) = vtn.bl(Method::POST, "/events", Some(body)).await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_owned()
}

/// Binds `program` to the VTN's program `name` with the VEN's credentials, polling hourly.
async fn bind(app: &TestApp, tenant: &Tenant, program: &str, vtn: &Vtn, name: &str, extra: Value) -> Value {
    let mut body = json!({
        "baseUrl": vtn.url,
        "clientId": VEN_CLIENT.0,
        "clientSecret": VEN_CLIENT.1,
        "vtnProgram": name,
        "version": "3.1",
        "pollIntervalSeconds": 3600,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let bound = app
        .as_tenant(tenant, Method::PUT, &format!("/programs/{program}/vtn"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), 200);
    bound.json().await.unwrap()
}

/// Asks for a look at the VTN now and waits until the binding shows what `wanted` looks for.
async fn poll_until(
    app: &TestApp,
    tenant: &Tenant,
    program: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/programs/{program}/vtn");
    let asked = app
        .as_tenant(tenant, Method::POST, &format!("{path}/poll"))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    until(what, || async {
        let binding = app.get_json(tenant, &path).await;
        wanted(&binding).then_some(binding)
    })
    .await
}

/// The flex event the VTN event became, once it has one.
fn flex_event_of(binding: &Value, vtn_event: &str) -> Option<String> {
    binding["events"]
        .as_array()?
        .iter()
        .find(|e| e["vtnEventId"] == vtn_event)?["flexEventId"]
        .as_str()
        .map(str::to_owned)
}

/// Whether the binding's VTN event has `outcome` containing `words`.
fn outcome_has(binding: &Value, vtn_event: &str, words: &str) -> bool {
    binding["events"].as_array().is_some_and(|events| {
        events
            .iter()
            .any(|e| e["vtnEventId"] == vtn_event && e["outcome"].as_str().is_some_and(|o| o.contains(words)))
    })
}

/// A CAPACITY_LIMIT program of Coupler's with `charger` enrolled, bound to a new VTN program; the
/// Coupler program's id and the VTN program's id.
async fn bound_program(app: &TestApp, tenant: &Tenant, vtn: &Vtn, charger: &str, name: &str) -> (String, String) {
    let program = program(app, tenant, at_once(), json!(["SMART_CHARGING_PROFILES"]), json!([])).await;
    enrol(app, tenant, &program, "alice", charger).await;
    let vtn_program = vtn_program(vtn, name).await;
    let bound = bind(app, tenant, &program, vtn, name, json!({})).await;
    assert_eq!(bound["hasClientSecret"], true);
    assert!(
        bound.get("clientSecret").is_none() && !bound.to_string().contains(VEN_CLIENT.1),
        "{bound}"
    );
    (program, vtn_program)
}

#[tokio::test]
async fn a_vtn_event_caps_a_simulated_charger_and_its_change_and_cancellation_follow_through() {
    let vtn = Vtn::start().await;
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-ADR-CAP").await;
    let (program, vtn_program) = bound_program(&app, &tenant, &vtn, &charger, "winter-peak").await;

    // The first look registers Coupler as a VEN with the enrolled charger as its resource.
    let first = poll_until(&app, &tenant, &program, "the first look went through", |b| {
        b["lastSuccessAt"].is_string() && b["venId"].is_string()
    })
    .await;
    assert_eq!(first["failures"], 0, "{first}");
    assert_eq!(first["vtnProgramId"], vtn_program.as_str());
    let (_, resources) = vtn.bl(Method::GET, "/resources", None).await;
    assert!(
        resources
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resourceName"] == charger.as_str()),
        "the charger is the VEN's resource: {resources}"
    );

    let start = Utc::now().trunc_subsecs(0) + Duration::minutes(10);
    let vtn_event = vtn_event(&vtn, cap_event(&vtn_program, start, 30, EIGHT_AMPS_KW)).await;
    let followed = poll_until(&app, &tenant, &program, "the VTN event became a flex event", |b| {
        flex_event_of(b, &vtn_event).is_some()
    })
    .await;
    let flex_event = flex_event_of(&followed, &vtn_event).unwrap();
    let event_path = format!("/programs/{program}/events/{flex_event}");
    let sent = progress_until(&app, &tenant, &event_path, &charger, "APPLIED").await;
    assert_eq!(
        (
            sent["kind"].as_str(),
            sent["value"].as_f64(),
            sent["unit"].as_str(),
            sent["maxCurrent"].as_f64()
        ),
        (Some("IMPORT_LIMIT"), Some(EIGHT_AMPS_KW), Some("KW"), Some(8.0)),
        "{sent}"
    );
    assert_eq!(crate::flex::at(&sent["start"]), start);
    assert_eq!(crate::flex::at(&sent["end"]), start + Duration::minutes(30));
    let middle = start + Duration::minutes(15);
    until("the charger holds the VTN's cap in the event's window", || async {
        (sim.limit_at(middle) <= 8.0).then_some(())
    })
    .await;
    assert_eq!(sim.limit_at(start - Duration::minutes(1)), RATING_A, "and only in it");

    // The utility lowers the cap and shortens the event: the same flex event follows.
    let mut changed = cap_event(&vtn_program, start, 20, SIX_AMPS_KW);
    changed["eventName"] = json!("evening peak, deeper");
    let (status, body) = vtn
        .bl(Method::PUT, &format!("/events/{vtn_event}"), Some(changed))
        .await;
    assert_eq!(status, 200, "{body}");
    poll_until(&app, &tenant, &program, "the change was followed", |b| {
        outcome_has(b, &vtn_event, "changed")
    })
    .await;
    let event = app.get_json(&tenant, &event_path).await;
    assert_eq!(
        (event["value"].as_f64(), event["maxCurrent"].as_f64()),
        (Some(SIX_AMPS_KW), Some(6.0)),
        "{event}"
    );
    assert_eq!(crate::flex::at(&event["end"]), start + Duration::minutes(20));
    until("the charger holds the lower cap", || async {
        (sim.limit_at(middle) <= 6.0).then_some(())
    })
    .await;

    // The utility deletes the event: the flex event is cancelled and the cap comes off.
    let (status, body) = vtn.bl(Method::DELETE, &format!("/events/{vtn_event}"), None).await;
    assert_eq!(status, 200, "{body}");
    let gone = poll_until(&app, &tenant, &program, "the deletion was followed", |b| {
        b["events"][0]["goneAt"].is_string()
    })
    .await;
    assert!(outcome_has(&gone, &vtn_event, "cancelled"), "{gone}");
    let cancelled = app.get_json(&tenant, &event_path).await;
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    until("the cap is off the charger", || async {
        (sim.limit_at(middle) == RATING_A).then_some(())
    })
    .await;
    sim.stop();
    app.stop().await;
}

/// The VTN's reports on `vtn_event`, as the utility reads them.
async fn reports_of(vtn: &Vtn, vtn_event: &str) -> Vec<Value> {
    let (status, reports) = vtn
        .bl(Method::GET, &format!("/reports?eventID={vtn_event}"), None)
        .await;
    assert_eq!(status, 200, "{reports}");
    reports.as_array().unwrap().clone()
}

/// The payload of `kind` in a report resource's interval `i`.
fn payload(resource: &Value, i: usize, kind: &str) -> Option<Value> {
    resource["intervals"][i]["payloads"]
        .as_array()?
        .iter()
        .find(|p| p["type"] == kind)
        .map(|p| p["values"][0].clone())
}

#[tokio::test]
async fn reports_arrive_at_the_vtn_with_the_measured_values_and_an_opt_out_as_operating_state() {
    let vtn = Vtn::start().await;
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-ADR-REPORT").await;
    plug_a_car(&cloud, "SIM-ADR-REPORT");
    let (program, vtn_program) = bound_program(&app, &tenant, &vtn, &charger, "report-peak").await;

    // An event already running: Coupler reports on it from its first look.
    let start = Utc::now().trunc_subsecs(0) - Duration::minutes(1);
    let vtn_event = vtn_event(&vtn, cap_event(&vtn_program, start, 60, EIGHT_AMPS_KW)).await;
    let followed = poll_until(
        &app,
        &tenant,
        &program,
        "the running event was followed and reported",
        |b| b["events"][0]["reportId"].is_string(),
    )
    .await;
    let flex_event = flex_event_of(&followed, &vtn_event).unwrap();
    let reports = reports_of(&vtn, &vtn_event).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report["id"], followed["events"][0]["reportId"]);
    assert_eq!(report["clientName"], format!("coupler-{program}"));
    let site = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resourceName"] == charger.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the charger is a resource of the report: {report}"));
    // The same figures as Coupler's own results of the event, interval by interval.
    let results = app
        .get_json(&tenant, &format!("/flex/events/{flex_event}/results"))
        .await;
    let measured = results["enrolments"][0]["intervals"].as_array().unwrap();
    let reported = site["intervals"].as_array().unwrap();
    assert_eq!(reported.len(), measured.len().max(1), "{report}\n{results}");
    for (i, interval) in measured.iter().enumerate() {
        let round = |v: &Value| (v.as_f64().unwrap() * 10_000.0).round() / 10_000.0;
        assert_eq!(
            payload(&site, i, "USAGE").map(|v| round(&v)),
            Some(round(&interval["actualKwh"]))
        );
        assert_eq!(
            payload(&site, i, "DEMAND").map(|v| round(&v)),
            Some(round(&interval["actualKw"]))
        );
    }
    let last = reported.len() - 1;
    let state = payload(&site, last, "OPERATING_STATE").unwrap();
    assert!(
        state == "RUNNING_CURTAILED" || state == "IDLE_CURTAILED",
        "under the cap before any opt-out: {state}"
    );

    // The driver opts out: the next report says so.
    let enrolment = app.get_json(&tenant, &format!("/programs/{program}/enrolments")).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_json_status(
        &tenant,
        &format!("/enrolments/{enrolment}/opt-outs"),
        json!({"eventId": flex_event, "reason": "leaving early"}),
        201,
    )
    .await;
    poll_until(&app, &tenant, &program, "the opt-out was reported", |_| true).await;
    until("the VTN's report shows the opt-out as OPERATING_STATE", || async {
        let reports = reports_of(&vtn, &vtn_event).await;
        let site = reports.first()?["resources"]
            .as_array()?
            .iter()
            .find(|r| r["resourceName"] == charger.as_str())?
            .clone();
        let last = site["intervals"].as_array()?.len().checked_sub(1)?;
        let state = payload(&site, last, "OPERATING_STATE")?;
        (state == "RUNNING_OPTED_OUT" || state == "IDLE_OPTED_OUT").then_some(())
    })
    .await;
    assert_eq!(
        reports_of(&vtn, &vtn_event).await.len(),
        1,
        "the report was updated, not repeated"
    );
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn the_vtn_going_away_and_coming_back_loses_no_event() {
    let mut vtn = Vtn::start().await;
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-ADR-AWAY").await;
    let (program, vtn_program) = bound_program(&app, &tenant, &vtn, &charger, "away-peak").await;
    poll_until(&app, &tenant, &program, "the first look went through", |b| {
        b["lastSuccessAt"].is_string()
    })
    .await;

    // An event is sent, and the VTN goes away before Coupler has looked.
    let start = Utc::now().trunc_subsecs(0) + Duration::minutes(20);
    let vtn_event = vtn_event(&vtn, cap_event(&vtn_program, start, 30, EIGHT_AMPS_KW)).await;
    vtn.kill().await;
    let failing = poll_until(
        &app,
        &tenant,
        &program,
        "the failed look is shown on the binding",
        |b| b["failures"].as_u64() >= Some(1),
    )
    .await;
    let error = failing["lastError"].as_str().unwrap();
    assert!(error.contains("unavailable"), "{failing}");
    assert!(
        crate::flex::at(&failing["nextPollAt"]) > crate::flex::at(&failing["lastPollAt"]),
        "a retry is scheduled: {failing}"
    );
    assert!(failing["events"].as_array().unwrap().is_empty());

    // It comes back on the same database: the event is followed, the failure cleared.
    vtn.restart().await;
    let back = poll_until(
        &app,
        &tenant,
        &program,
        "the event is followed once the VTN is back, and the look is over",
        |b| flex_event_of(b, &vtn_event).is_some() && b["failures"] == 0,
    )
    .await;
    assert_eq!(
        (back["failures"].as_u64(), back["lastError"].as_str()),
        (Some(0), None),
        "{back}"
    );
    let flex_event = flex_event_of(&back, &vtn_event).unwrap();
    progress_until(
        &app,
        &tenant,
        &format!("/programs/{program}/events/{flex_event}"),
        &charger,
        "APPLIED",
    )
    .await;
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_subscription_is_made_and_its_callback_answers_the_echo_and_takes_notifications() {
    let vtn = Vtn::start().await;
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-ADR-HOOK").await;
    let program = program(&app, &tenant, at_once(), json!(["SMART_CHARGING_PROFILES"]), json!([])).await;
    enrol(&app, &tenant, &program, "alice", &charger).await;
    let vtn_program = vtn_program(&vtn, "hook-peak").await;
    let callback = format!("{}/openadr/callbacks/{program}", app.url);
    bind(
        &app,
        &tenant,
        &program,
        &vtn,
        "hook-peak",
        json!({"callbackUrl": callback}),
    )
    .await;
    let subscribed = poll_until(&app, &tenant, &program, "the subscription was made", |b| {
        b["subscriptionId"].is_string()
    })
    .await;

    // The VTN holds it with the callback and the bearer token Coupler gave it.
    let (status, subscriptions) = vtn.bl(Method::GET, "/subscriptions", None).await;
    assert_eq!(status, 200, "{subscriptions}");
    let held = subscriptions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == subscribed["subscriptionId"])
        .cloned()
        .unwrap_or_else(|| panic!("{subscriptions}"));
    let operation = &held["objectOperations"][0];
    assert_eq!(operation["callbackUrl"], callback.as_str());
    let bearer = operation["bearerToken"].as_str().unwrap().to_owned();

    // The echo check a VTN makes before it takes a subscription.
    let echo = app
        .request(Method::GET, &format!("/openadr/callbacks/{program}?echo=check-7f3a"))
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.text().await.unwrap(), "check-7f3a");

    // A notification without the token changes nothing; with it, the VTN is looked at at once.
    let start = Utc::now().trunc_subsecs(0) + Duration::minutes(10);
    let vtn_event = vtn_event(&vtn, cap_event(&vtn_program, start, 30, EIGHT_AMPS_KW)).await;
    let (_, event) = vtn.bl(Method::GET, &format!("/events/{vtn_event}"), None).await;
    let notification = json!({"objectType": "EVENT", "operation": "CREATE", "object": event});
    let forged = app
        .request(Method::POST, &format!("/openadr/callbacks/{program}"))
        .bearer_auth("not-the-token")
        .json(&notification)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    problem(forged).await;
    let notified = app
        .request(Method::POST, &format!("/openadr/callbacks/{program}"))
        .bearer_auth(&bearer)
        .json(&notification)
        .send()
        .await
        .unwrap();
    assert_eq!(notified.status(), 200);
    until("the notified event became a flex event", || async {
        let binding = app.get_json(&tenant, &format!("/programs/{program}/vtn")).await;
        flex_event_of(&binding, &vtn_event)
    })
    .await;
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn bad_binding_settings_are_refused_and_another_client_sees_none_of_a_binding() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("utility").await;
    let program = program(&app, &tenant, at_once(), json!([]), json!([])).await;
    let path = format!("/programs/{program}/vtn");
    let refused = app
        .as_tenant(&tenant, Method::PUT, &path)
        .json(&json!({
            "baseUrl": "not a url",
            "clientId": "ven",
            "vtnProgram": "",
            "version": "3.1",
            "pollIntervalSeconds": 0,
            "simpleLevels": {"2": {"action": "PAUSE"}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let refused = problem(refused).await;
    let pointers: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/baseUrl",
            "/clientSecret",
            "/vtnProgram",
            "/pollIntervalSeconds",
            "/simpleLevels/2"
        ],
        "{refused}"
    );
    let unknown_version = app
        .as_tenant(&tenant, Method::PUT, &path)
        .json(&json!({"baseUrl": "https://vtn.example.invalid", "vtnProgram": "p", "version": "2.0b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_version.status(), 422);
    problem(unknown_version).await;
    let loopback = app
        .as_tenant(&tenant, Method::PUT, &path)
        .json(&json!({"baseUrl": "http://127.0.0.1:9", "vtnProgram": "p", "version": "3.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(loopback.status(), 422);
    let loopback = problem(loopback).await;
    assert_eq!(loopback["errors"][0]["pointer"], "/baseUrl", "{loopback}");
    let nothing = app.as_tenant(&tenant, Method::GET, &path).send().await.unwrap();
    assert_eq!(nothing.status(), 404, "nothing was bound");
    problem(nothing).await;

    let bound = app
        .as_tenant(&tenant, Method::PUT, &path)
        .json(
            &json!({"baseUrl": "https://vtn.example.invalid", "vtnProgram": "p", "version": "3.0.1",
                      "clientId": "ven", "clientSecret": "s3cret"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), 200);
    let other = app.tenant("aggregator").await;
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let mut request = app.as_tenant(&other, method.clone(), &path);
        if method == Method::PUT {
            request =
                request.json(&json!({"baseUrl": "https://vtn.example.invalid", "vtnProgram": "p", "version": "3.1"}));
        }
        let seen = request.send().await.unwrap();
        assert_eq!(seen.status(), 404, "{method}");
        problem(seen).await;
    }
    let poke = app
        .as_tenant(&other, Method::POST, &format!("{path}/poll"))
        .send()
        .await
        .unwrap();
    assert_eq!(poke.status(), 404);
    let still = app.get_json(&tenant, &path).await;
    assert_eq!(still["settings"]["version"], "3.0.1", "untouched: {still}");
    let gone = app.as_tenant(&tenant, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    app.stop().await;
}

#[tokio::test]
async fn a_report_carries_the_measured_usage_and_demand_per_interval_and_the_event_s_baseline_and_delta() {
    use crate::flex_measurement::{charge_point, day, home, session, Meter};
    use coupler_core::clock::ManualClock;
    use std::sync::Arc;

    // The charger became known on Monday at noon; Monday to Wednesday it charged 18:00 to 19:00 at
    // 9, 12 and 12 kW: its similar-days baseline on Thursday evening is 11 kW.
    let vtn = Vtn::start().await;
    let clock = Arc::new(ManualClock::at(day(3, 12, 0)));
    let wired = clock.clone();
    let app = TestApp::spawn_with(move |_, wiring| {
        wiring.clock = wired;
        wiring.webhooks.allow_private = true;
    })
    .await;
    let tenant = app.tenant("utility").await;
    let (charger, mut cp) = charge_point(&app, &tenant, "alice", "CP-ADR-MEASURED").await;
    home(&app, &tenant, "alice", &charger).await;
    let mut meter = Meter { wh: 100_000 };
    for (days_back, kw) in [(3, 9.0), (2, 12.0), (1, 12.0)] {
        session(&mut cp, &mut meter, day(days_back, 18, 0), 4, kw).await;
    }
    let program = crate::flex_measurement::program(&app, &tenant, "CAPACITY_LIMIT").await;
    crate::flex_measurement::enrol(&app, &tenant, &program, "alice", &charger).await;
    let vtn_program = vtn_program(&vtn, "measured-peak").await;
    bind(&app, &tenant, &program, &vtn, "measured-peak", json!({})).await;

    // Thursday 17:50: the utility caps each site at 8 kW from 18:00 for an hour.
    clock.set(day(0, 17, 50));
    let vtn_event = vtn_event(&vtn, cap_event(&vtn_program, day(0, 18, 0), 60, 8.0)).await;
    let followed = poll_until(&app, &tenant, &program, "the event was followed", |b| {
        flex_event_of(b, &vtn_event).is_some()
    })
    .await;
    assert!(
        followed["events"][0]["reportId"].is_null(),
        "nothing to report before it starts"
    );

    // The charger drew 7 kW through the event: 1.75 kWh a quarter, 4 kWh below its baseline.
    session(&mut cp, &mut meter, day(0, 18, 0), 4, 7.0).await;
    clock.set(day(0, 19, 5));
    poll_until(&app, &tenant, &program, "the event was reported", |b| {
        b["events"][0]["reportId"].is_string()
    })
    .await;
    let reports = reports_of(&vtn, &vtn_event).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let resources = reports[0]["resources"].as_array().unwrap();
    let site = resources
        .iter()
        .find(|r| r["resourceName"] == charger.as_str())
        .unwrap();
    let intervals = site["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4, "{site}");
    for (i, interval) in intervals.iter().enumerate() {
        assert_eq!(
            (payload(site, i, "USAGE"), payload(site, i, "DEMAND")),
            (Some(json!(1.75)), Some(json!(7.0))),
            "{interval}"
        );
        assert_eq!(
            interval["intervalPeriod"]["start"]
                .as_str()
                .map(|s| s.parse::<DateTime<Utc>>().unwrap()),
            Some(day(0, 18, 15 * i as u32)),
        );
    }
    assert_eq!(payload(site, 3, "OPERATING_STATE"), Some(json!("RUNNING_CURTAILED")));
    let totals = resources
        .iter()
        .find(|r| r["resourceName"] == "AGGREGATED_REPORT")
        .unwrap();
    assert_eq!(payload(totals, 0, "BASELINE"), Some(json!(11.0)), "{totals}");
    assert_eq!(payload(totals, 0, "DELTA_USAGE"), Some(json!(4.0)), "{totals}");
    app.stop().await;
}

#[tokio::test]
async fn simple_levels_pause_by_the_program_s_mapping_and_a_do_it_now_event_is_followed_once() {
    let vtn = Vtn::start().await;
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("utility").await;
    let cloud = SimCloud::new(SimConfig::default());
    let (charger, sim) = simulated(&app, &tenant, &cloud, "alice", "SIM-ADR-SIMPLE").await;
    let program = crate::flex_measurement::program(&app, &tenant, "PAUSE").await;
    crate::flex_measurement::enrol(&app, &tenant, &program, "alice", &charger).await;
    let vtn_program = vtn_program(&vtn, "simple-peak").await;
    let levels = json!({"simpleLevels": {"1": {"action": "NONE"}, "3": {"action": "PAUSE"}}});
    bind(&app, &tenant, &program, &vtn, "simple-peak", levels).await;

    // Level 3, "do it now" for half an hour: a pause from the moment Coupler reads it.
    let simple = |level: i64| {
        json!({
            "objectType": "EVENT", "programID": vtn_program, "priority": null,
            "intervalPeriod": {"start": "0001-01-01T00:00:00Z", "duration": "PT30M"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [level]}]}],
        })
    };
    let emergency = vtn_event(&vtn, simple(3)).await;
    let followed = poll_until(&app, &tenant, &program, "the SIMPLE event was followed", |b| {
        flex_event_of(b, &emergency).is_some()
    })
    .await;
    let flex_event = flex_event_of(&followed, &emergency).unwrap();
    let event_path = format!("/programs/{program}/events/{flex_event}");
    let paused = until("the pause is on the charger", || async {
        let event = app.get_json(&tenant, &event_path).await;
        let state = event["progress"][0]["state"].as_str().unwrap_or_default().to_owned();
        (state == "APPLIED" || state == "CONFIRMED").then_some(event)
    })
    .await;
    assert_eq!(
        (
            paused["kind"].as_str(),
            paused["maxCurrent"].as_f64(),
            paused["status"].as_str()
        ),
        (Some("PAUSE"), Some(0.0), Some("ACTIVE")),
        "{paused}"
    );
    let minutes = (crate::flex::at(&paused["end"]) - crate::flex::at(&paused["start"])).num_minutes();
    assert_eq!(minutes, 30, "{paused}");

    // Level 1 maps to nothing; and a later look leaves the "now" event as it is.
    let normal = vtn_event(&vtn, simple(1)).await;
    let later = poll_until(&app, &tenant, &program, "the level-1 event was looked at", |b| {
        outcome_has(b, &normal, "maps to nothing")
    })
    .await;
    assert_eq!(flex_event_of(&later, &normal), None);
    assert_eq!(flex_event_of(&later, &emergency).as_deref(), Some(flex_event.as_str()));
    let events = app.get_json(&tenant, &format!("/programs/{program}/events")).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1, "not replaced: {events}");
    assert_eq!(events["data"][0]["status"], "ACTIVE");
    sim.stop();
    app.stop().await;
}

#[tokio::test]
async fn price_payloads_become_the_price_area_s_series_and_wrong_credentials_show_on_the_binding() {
    let vtn = Vtn::start().await;
    let app = TestApp::spawn_with(|_, wiring| wiring.webhooks.allow_private = true).await;
    let tenant = app.tenant("utility").await;
    let location = app
        .post_json_status(
            &tenant,
            "/users/alice/locations",
            json!({"name": "Home", "latitude": 52.37, "longitude": 4.9, "timezoneName": "UTC", "priceArea": "VTN-TOU"}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let program = program(&app, &tenant, at_once(), json!([]), json!([])).await;
    let vtn_program = vtn_program(&vtn, "tariff").await;

    // A wrong secret: refused by the VTN, shown on the binding, retried with back-off.
    let wrong = json!({"clientSecret": "not-the-secret", "priceArea": "VTN-TOU"});
    bind(&app, &tenant, &program, &vtn, "tariff", wrong).await;
    let refused = poll_until(&app, &tenant, &program, "the refusal is shown", |b| {
        b["failures"].as_u64() >= Some(1)
    })
    .await;
    assert!(
        refused["lastError"]
            .as_str()
            .unwrap()
            .contains("refused the credentials"),
        "{refused}"
    );
    assert!(refused["lastSuccessAt"].is_null());

    // Two hourly prices, per MWh on the VTN: per kWh in Coupler, as the area's pushed series.
    let start = (Utc::now() + Duration::hours(1)).trunc_subsecs(0);
    let start = start
        - Duration::seconds(
            i64::from(chrono::Timelike::minute(&start)) * 60 + i64::from(chrono::Timelike::second(&start)),
        );
    let prices = json!({
        "objectType": "EVENT", "programID": vtn_program, "priority": null,
        "intervalPeriod": {"start": start.to_rfc3339(), "duration": "PT1H"},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", "units": "MWH", "currency": "EUR"}],
        "intervals": [
            {"id": 0, "payloads": [{"type": "PRICE", "values": [310.0]}]},
            {"id": 1, "payloads": [{"type": "PRICE", "values": [120.0]}]},
        ],
    });
    let tariff = vtn_event(&vtn, prices).await;
    bind(&app, &tenant, &program, &vtn, "tariff", json!({"priceArea": "VTN-TOU"})).await;
    let recovered = poll_until(&app, &tenant, &program, "the corrected binding went through", |b| {
        b["failures"] == 0 && b["lastSuccessAt"].is_string()
    })
    .await;
    assert!(recovered["lastError"].is_null(), "{recovered}");
    assert!(outcome_has(&recovered, &tariff, "PRICE"), "{recovered}");
    let window = format!(
        "/locations/{location}/prices?from={}&to={}",
        start.to_rfc3339().replace('+', "%2B"),
        (start + Duration::hours(2)).to_rfc3339().replace('+', "%2B")
    );
    let effective = app.get_json(&tenant, &window).await;
    let slots = effective["slots"].as_array().unwrap();
    let price_at = |minutes: i64| {
        slots
            .iter()
            .find(|s| {
                crate::flex::at(&s["start"]) <= start + Duration::minutes(minutes)
                    && crate::flex::at(&s["end"]) > start + Duration::minutes(minutes)
            })
            .map(|s| {
                (
                    s["pricePerKwh"].as_f64().unwrap(),
                    s["source"].as_str().unwrap().to_owned(),
                )
            })
    };
    assert_eq!(price_at(10), Some((0.31, "PUSHED".to_owned())), "{effective}");
    assert_eq!(price_at(70), Some((0.12, "PUSHED".to_owned())), "{effective}");
    app.stop().await;
}
