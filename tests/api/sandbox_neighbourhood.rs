//! A simulated neighbourhood as a utility tries a program on it: twenty households enrolled at
//! once, an evening run at the sandbox clock's highest rate, the program's forecast showing the
//! cars plugged in, an event capping every charger, and the next morning a forecast of the coming
//! evening's plug-ins from the first evening's habits. Also the refusals, tenant isolation, and
//! deleting the neighbourhood with everything of it.

use chrono::{DateTime, Duration, Timelike, Utc};
use coupler_tests::sandbox::{spawn_sandbox, until};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const HOUSEHOLDS: usize = 20;

fn at(raw: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

async fn send(app: &TestApp, tenant: &Tenant, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let request = app.as_tenant(tenant, method, path);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

async fn clock_now(app: &TestApp, tenant: &Tenant) -> DateTime<Utc> {
    at(&app.get_json(tenant, "/sandbox/clock").await["now"])
}

async fn set_clock(app: &TestApp, tenant: &Tenant, body: Value) {
    let response = send(app, tenant, Method::PUT, "/sandbox/clock", Some(body)).await;
    assert_eq!(response.status(), 200);
}

/// A fixed-offset zone in which `now` is between 10:15 and 11:15: the households' cars have all
/// left for the day (they leave by 10:00) and none is back yet (they come home from 12:00).
fn late_morning_zone(now: DateTime<Utc>) -> (String, i64) {
    let hour = f64::from(now.hour()) + f64::from(now.minute()) / 60.0;
    let mut offset = (10.25 - hour).ceil() as i64;
    if offset < -12 {
        offset += 24;
    }
    if offset > 14 {
        offset -= 24;
    }
    let name = match offset {
        0 => "Etc/GMT".to_owned(),
        east if east > 0 => format!("Etc/GMT-{east}"),
        west => format!("Etc/GMT+{}", -west),
    };
    (name, offset)
}

async fn forecast(app: &TestApp, tenant: &Tenant, program: &str) -> Value {
    app.get_json(tenant, &format!("/programs/{program}/forecast?resolution=PT1H"))
        .await
}

/// The forecast's slot holding `at`.
fn slot(forecast: &Value, at: DateTime<Utc>) -> Value {
    forecast["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| self::at(&s["start"]) <= at && at < self::at(&s["end"]))
        .cloned()
        .unwrap_or_else(|| panic!("no slot holds {at}: {forecast}"))
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

#[tokio::test]
async fn a_neighbourhood_plugs_in_in_the_evening_the_forecast_shows_it_and_an_event_caps_every_charger() {
    let app = spawn_sandbox(1.0, None).await;
    let utility = app.tenant("utility").await;
    let program = app
        .post_json_status(
            &utility,
            "/programs",
            json!({
                "name": "Street relief",
                "kind": "CAPACITY_LIMIT",
                "eligibility": {"deviceKinds": ["CHARGER"]},
                "limits": {"maxEventMinutes": 240, "minNoticeMinutes": 0},
            }),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = clock_now(&app, &utility).await;
    let (zone, offset) = late_morning_zone(start);
    let local = |t: DateTime<Utc>| t + Duration::hours(offset);

    let made = app
        .post_json_status(
            &utility,
            "/sandbox/neighbourhoods",
            json!({"households": HOUSEHOLDS, "seed": 7, "timeZone": zone, "programId": program, "radiusKm": 0.5}),
            201,
        )
        .await;
    let households = made["households"].as_array().unwrap().clone();
    assert_eq!(households.len(), HOUSEHOLDS);
    assert!(
        households
            .iter()
            .all(|h| h["enrolmentId"].is_string() && h["atHome"] == false),
        "{made}"
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let path = format!("/sandbox/neighbourhoods/{id}");
    let listed = app.get_json(&utility, "/sandbox/neighbourhoods").await;
    assert_eq!(
        (&listed["data"][0]["id"], listed["data"][0]["households"].as_u64()),
        (&made["id"], Some(HOUSEHOLDS as u64)),
        "{listed}"
    );
    let again = app.get_json(&utility, &path).await;
    assert_eq!(
        (again["seed"].as_u64(), &again["households"][3]["chargerId"]),
        (Some(7), &households[3]["chargerId"])
    );
    let chargers: Vec<String> = households
        .iter()
        .map(|h| h["chargerId"].as_str().unwrap().to_owned())
        .collect();
    until("every household's charger is connected", || async {
        let seen = app.get_json(&utility, "/sandbox/chargers").await;
        let connected = seen["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| chargers.iter().any(|id| c["id"] == id.as_str()) && c["isReachable"] == true)
            .count();
        (connected == HOUSEHOLDS).then_some(())
    })
    .await;

    // Nobody is home and nothing is known of their habits: nothing is forecast.
    let empty = forecast(&app, &utility, &program).await;
    assert_eq!(
        (
            empty["devices"].as_u64(),
            empty["pluggedInNow"].as_u64(),
            empty["withHabits"].as_u64()
        ),
        (Some(HOUSEHOLDS as u64), Some(0), Some(0)),
        "{empty}"
    );
    assert!(empty["slots"].as_array().unwrap().iter().all(|s| s["pluggedIn"] == 0.0));

    // To 15:55 (the afternoon's few arrivals come home at once), then the evening at 360 times
    // real time, until 20:00.
    let now = clock_now(&app, &utility).await;
    let to_afternoon = (15 * 60 + 55) - i64::from(local(now).hour() * 60 + local(now).minute());
    set_clock(
        &app,
        &utility,
        json!({"advanceMinutes": to_afternoon.max(0), "rate": 360}),
    )
    .await;
    until("it is 20:00 in the neighbourhood", || async {
        let now = clock_now(&app, &utility).await;
        (local(now).hour() >= 20 && now > start + Duration::hours(4)).then_some(())
    })
    .await;
    set_clock(&app, &utility, json!({"rate": 1})).await;

    let evening = until("Coupler sees every car at home plugged in", || async {
        let street = app.get_json(&utility, &path).await;
        let home = street["atHome"].as_u64().unwrap();
        let seen = forecast(&app, &utility, &program).await;
        (home >= 10
            && seen["pluggedInNow"].as_u64() == Some(home)
            && number(&slot(&seen, clock_now(&app, &utility).await)["loadKw"]) > 0.0)
            .then_some(seen)
    })
    .await;
    let home = evening["pluggedInNow"].as_f64().unwrap();
    let now = clock_now(&app, &utility).await;
    let first = slot(&evening, now);
    assert!(number(&first["pluggedIn"]) >= home - 0.01, "{first}");
    assert!(
        number(&first["flexibleKw"]) <= number(&first["loadKw"]) + 0.01,
        "{first}"
    );

    // An 8 A cap on every enrolled charger from now for two hours.
    let event = app
        .post_json_status(
            &utility,
            &format!("/programs/{program}/events"),
            json!({
                "start": now.to_rfc3339(),
                "durationMinutes": 120,
                "kind": "IMPORT_LIMIT",
                "value": 8,
                "unit": "A",
                "targets": {"program": true},
            }),
            201,
        )
        .await;
    assert_eq!(event["progress"].as_array().unwrap().len(), HOUSEHOLDS, "{event}");
    until("every charger with a car offers at most 8 A", || async {
        let seen = app.get_json(&utility, "/sandbox/chargers").await;
        let ours: Vec<&Value> = seen["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| chargers.iter().any(|id| c["id"] == id.as_str()))
            .collect();
        ours.iter()
            .filter(|c| c["vehicleId"].is_string())
            .all(|c| number(&c["offeredCurrent"]) <= 8.0)
            .then_some(())
    })
    .await;
    // The forecast keeps to the cap: at most 8 A on three phases per charger.
    let capped = until("the forecast keeps to the event's cap", || async {
        let seen = forecast(&app, &utility, &program).await;
        let load = number(&slot(&seen, clock_now(&app, &utility).await + Duration::minutes(30))["loadKw"]);
        (load <= HOUSEHOLDS as f64 * 8.0 * 230.0 * 3.0 / 1000.0 + 0.01).then_some(seen)
    })
    .await;
    assert!(capped["pluggedInNow"].as_u64().unwrap() >= 10, "{capped}");

    // The next late morning: everyone has left; the evening's plug-ins are forecast from habit.
    let now = clock_now(&app, &utility).await;
    let to_morning = (start + Duration::days(1) + Duration::minutes(10) - now).num_minutes();
    set_clock(&app, &utility, json!({"advanceMinutes": to_morning})).await;
    let morning = until("every car has left and its session ended", || async {
        let street = app.get_json(&utility, &path).await;
        let seen = forecast(&app, &utility, &program).await;
        (street["atHome"] == 0 && seen["pluggedInNow"] == 0).then_some(seen)
    })
    .await;
    // Every car that was home that evening has a plug-in to go by (a late one that came home only
    // as the clock jumped through the night may have left before its charger saw it).
    assert!(number(&morning["withHabits"]) >= home, "{morning}");
    let today = clock_now(&app, &utility).await;
    let local_midnight =
        today - Duration::hours(i64::from(local(today).hour())) - Duration::minutes(i64::from(local(today).minute()));
    let seven_pm = slot(&morning, local_midnight + Duration::hours(19) + Duration::minutes(30));
    assert!(
        number(&seven_pm["pluggedIn"]) >= 8.0,
        "most are expected home at 19:00: {seven_pm}"
    );
    let eleven_pm = slot(&morning, local_midnight + Duration::hours(23) + Duration::minutes(30));
    assert!(
        number(&eleven_pm["pluggedIn"]) >= number(&seven_pm["pluggedIn"]),
        "{eleven_pm} {seven_pm}"
    );
    let now_slot = slot(&morning, today);
    assert_eq!(
        now_slot["pluggedIn"], 0.0,
        "nobody is expected back before the afternoon: {now_slot}"
    );

    // A group's forecast covers its members alone.
    let five: Vec<&Value> = households.iter().take(5).map(|h| &h["enrolmentId"]).collect();
    let group = app
        .post_json_status(
            &utility,
            &format!("/programs/{program}/groups"),
            json!({"name": "First five", "enrolmentIds": five}),
            201,
        )
        .await;
    let grouped = app
        .get_json(
            &utility,
            &format!(
                "/programs/{program}/groups/{}/forecast?resolution=PT1H",
                group["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(
        (grouped["devices"].as_u64(), &grouped["groupId"]),
        (Some(5), &group["id"]),
        "{grouped}"
    );
    let group_evening = slot(&grouped, local_midnight + Duration::hours(19) + Duration::minutes(30));
    assert!(
        number(&group_evening["pluggedIn"]) <= 5.0
            && number(&group_evening["pluggedIn"]) <= number(&seven_pm["pluggedIn"])
    );

    // Another client sees none of it.
    let other = app.tenant("other").await;
    let theirs = app.get_json(&other, "/sandbox/neighbourhoods").await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0, "{theirs}");
    for method in [Method::GET, Method::DELETE] {
        let response = send(&app, &other, method, &path, None).await;
        assert_eq!(response.status(), 404);
    }
    let response = send(
        &app,
        &other,
        Method::GET,
        &format!("/programs/{program}/forecast"),
        None,
    )
    .await;
    assert_eq!(response.status(), 404);

    // Deleted: its cars, chargers and users are gone.
    let response = send(&app, &utility, Method::DELETE, &path, None).await;
    assert_eq!(response.status(), 204);
    assert_eq!(send(&app, &utility, Method::GET, &path, None).await.status(), 404);
    let left = app.get_json(&utility, "/sandbox/chargers").await;
    assert_eq!(left["data"].as_array().unwrap().len(), 0, "{left}");
    let user = households[0]["userId"].as_str().unwrap();
    let response = send(&app, &utility, Method::GET, &format!("/users/{user}"), None).await;
    assert_eq!(response.status(), 404);
    let after = forecast(&app, &utility, &program).await;
    assert_eq!(after["devices"], 0, "{after}");
    app.stop().await;
}

#[tokio::test]
async fn bad_neighbourhoods_and_forecast_requests_are_refused_and_change_nothing() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("utility").await;
    let vehicles_only = app
        .post_json_status(
            &tenant,
            "/programs",
            json!({
                "name": "Cars only",
                "kind": "PAUSE",
                "eligibility": {"deviceKinds": ["VEHICLE"]},
                "limits": {"maxEventMinutes": 60, "minNoticeMinutes": 0},
            }),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, status, pointer) in [
        (json!({"households": 0}), 422, "/households"),
        (json!({"households": 1001}), 422, "/households"),
        (json!({"households": 3, "timeZone": "Mars/Olympus"}), 422, "/timeZone"),
        (json!({"households": 3, "latitude": 91}), 422, "/latitude"),
        (json!({"households": 3, "radiusKm": 0}), 422, "/radiusKm"),
        (json!({"households": 3, "ocppVersion": "1.5"}), 422, "/ocppVersion"),
        (json!({"households": 3, "programId": vehicles_only}), 422, "/programId"),
        (json!({"households": 3, "programId": "prg_missing"}), 404, ""),
    ] {
        let response = send(
            &app,
            &tenant,
            Method::POST,
            "/sandbox/neighbourhoods",
            Some(body.clone()),
        )
        .await;
        assert_eq!(response.status(), status, "{body}");
        let problem = problem(response).await;
        if !pointer.is_empty() {
            assert!(problem.to_string().contains(pointer), "{body}: {problem}");
        }
    }
    let cars = app.get_json(&tenant, "/sandbox/vehicles").await;
    let chargers = app.get_json(&tenant, "/sandbox/chargers").await;
    let users = app.get_json(&tenant, "/users").await;
    assert_eq!(
        (
            cars["data"].as_array().unwrap().len(),
            chargers["data"].as_array().unwrap().len(),
            users["data"].as_array().unwrap().len()
        ),
        (0, 0, 0)
    );

    let response = send(
        &app,
        &tenant,
        Method::GET,
        &format!("/programs/{vehicles_only}/forecast?resolution=PT5M"),
        None,
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(problem(response).await.to_string().contains("resolution"));
    let response = send(
        &app,
        &tenant,
        Method::GET,
        &format!("/programs/{vehicles_only}/groups/grp_missing/forecast"),
        None,
    )
    .await;
    assert_eq!(response.status(), 404);
    app.stop().await;
}
