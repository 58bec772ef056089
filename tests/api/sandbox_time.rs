//! The sandbox's clock and commuting cars, as a developer watches smart charging with them: a car
//! comes home in the evening with its arrival charge, its charger's plan is made and carried out in
//! the sandbox's time running 360 times as fast as real time, and the car leaves in the morning with
//! its energy in. Also the refusals of both routes and their tenant isolation.

use chrono::{DateTime, Duration, Timelike, Utc};
use coupler_tests::sandbox::{spawn_sandbox, until};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn put(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> reqwest::Response {
    app.as_tenant(tenant, Method::PUT, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn at(raw: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// `HH:MM` of `t` in UTC.
fn hh_mm(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

#[tokio::test]
async fn a_commuting_car_comes_home_its_plan_runs_in_sandbox_time_and_it_leaves_with_its_energy_in() {
    // Batteries at the pace of the sandbox's clock, so the plan's figures are the car's.
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let charger = app.sim_charger(&tenant, "driver", json!({"ocppVersion": "1.6"})).await;
    let charger_id = charger["id"].as_str().unwrap();
    let car = app
        .sim_vehicle(&tenant, json!({"brand": "aurora", "batteryLevel": 30}))
        .await;
    let car_id = car["id"].as_str().unwrap();
    let capacity = car["batteryCapacity"].as_f64().unwrap();

    let now = at(&app.get_json(&tenant, "/sandbox/clock").await["now"]);
    let arrive = now + Duration::minutes(20);
    let leave = arrive + Duration::hours(3);
    let policy = json!({"deadline": hh_mm(leave), "targetEnergy": 8.0});
    let response = put(
        &app,
        &tenant,
        &format!("/chargers/{charger_id}/smart-charging-policy"),
        policy,
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let commute = json!({
        "chargerId": charger_id, "arrive": hh_mm(arrive), "leave": hh_mm(leave), "timeZone": "UTC",
        "arrivalBatteryLevel": {"min": 30, "max": 30},
    });
    let response = put(&app, &tenant, &format!("/sandbox/vehicles/{car_id}/commute"), commute).await;
    assert_eq!(response.status(), 200);
    let set: Value = response.json().await.unwrap();
    assert_eq!(
        (set["atHome"].as_bool(), set["arrive"].as_str()),
        (Some(false), Some(hh_mm(arrive).as_str())),
        "{set}"
    );
    let arrival = at(&set["nextArrival"]);
    assert!(arrival > now && arrival <= arrive, "{set}");

    let clock: Value = put(&app, &tenant, "/sandbox/clock", json!({"rate": 360}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clock["rate"], 360.0);

    let plan_path = format!("/chargers/{charger_id}/smart-charging-plan");
    until("the car is home", || async {
        let commute = app
            .get_json(&tenant, &format!("/sandbox/vehicles/{car_id}/commute"))
            .await;
        (commute["atHome"] == true).then_some(())
    })
    .await;
    // The evening goes slower while the plan is looked at: on a busy machine the plan could
    // otherwise be carried out and ended between two looks.
    assert_eq!(
        put(&app, &tenant, "/sandbox/clock", json!({"rate": 10})).await.status(),
        200
    );
    let plan = until("the car's charger holds the plan", || async {
        let response = app.as_tenant(&tenant, Method::GET, &plan_path).send().await.unwrap();
        let plan: Value = response.json().await.unwrap();
        (plan["state"] == "EXECUTING" && plan["chargerHoldsPlan"] == true).then_some(plan)
    })
    .await;
    // The plan is made in the sandbox's time: its deadline is the car's departure.
    let commute = app
        .get_json(&tenant, &format!("/sandbox/vehicles/{car_id}/commute"))
        .await;
    let departure = at(&commute["nextDeparture"]);
    assert_eq!(at(&plan["deadline"]), departure, "{plan} {commute}");
    assert_eq!(commute["stays"][0]["arrivalBatteryLevel"], 30.0, "{commute}");
    assert_eq!(
        put(&app, &tenant, "/sandbox/clock", json!({"rate": 360}))
            .await
            .status(),
        200
    );

    let stay = until("the car has left in the morning", || async {
        let commute = app
            .get_json(&tenant, &format!("/sandbox/vehicles/{car_id}/commute"))
            .await;
        let stay = commute["stays"][0].clone();
        stay["leftAt"].is_string().then_some(stay)
    })
    .await;
    assert_eq!(at(&stay["leftAt"]), departure, "{stay}");
    let gained_kwh = (stay["departureBatteryLevel"].as_f64().unwrap() - 30.0) / 100.0 * capacity;
    // 8 kWh from the grid, less the charging losses, are in the battery.
    assert!(gained_kwh >= 6.5, "the car left with {gained_kwh:.1} kWh more: {stay}");
    let ended = until("the plan has ended", || async {
        let plan: Value = app
            .as_tenant(&tenant, Method::GET, &plan_path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (plan["state"] == "ENDED").then_some(plan)
    })
    .await;
    assert_eq!(ended["outcome"]["type"], "MET", "{ended}");
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_clock_runs_faster_and_jumps_forward_but_never_back() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let before = at(&app.get_json(&tenant, "/sandbox/clock").await["now"]);
    let jumped: Value = put(&app, &tenant, "/sandbox/clock", json!({"advanceMinutes": 600}))
        .await
        .json()
        .await
        .unwrap();
    assert!(at(&jumped["now"]) >= before + Duration::minutes(600), "{jumped}");
    assert_eq!(jumped["rate"], 1.0);

    for bad in [
        json!({}),
        json!({"rate": 0.5}),
        json!({"rate": 1000}),
        json!({"rate": "fast"}),
        json!({"advanceMinutes": -5}),
        json!({"advanceMinutes": 20000}),
        json!({"rate": 2, "speed": 3}),
    ] {
        let response = put(&app, &tenant, "/sandbox/clock", bad.clone()).await;
        assert!(response.status().is_client_error(), "{bad}");
        problem(response).await;
    }
    let after = app.get_json(&tenant, "/sandbox/clock").await;
    assert_eq!(after["rate"], 1.0, "a refused change changes nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_commute_needs_your_own_car_and_charger_and_sensible_times() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let other = app.tenant("other").await;
    let charger = app
        .sim_charger(&tenant, "driver", json!({"ocppVersion": "2.0.1"}))
        .await;
    let charger_id = charger["id"].as_str().unwrap();
    let car = app.sim_vehicle(&tenant, json!({"brand": "aurora"})).await;
    let car_id = car["id"].as_str().unwrap();
    let theirs = app.sim_vehicle(&other, json!({"brand": "aurora"})).await;
    let path = format!("/sandbox/vehicles/{car_id}/commute");
    let good = json!({"chargerId": charger_id, "arrive": "18:00", "leave": "07:00"});

    for (bad, status) in [
        (json!({"chargerId": charger_id, "arrive": "18h", "leave": "07:00"}), 422),
        (
            json!({"chargerId": charger_id, "arrive": "18:00", "leave": "18:00"}),
            422,
        ),
        (
            json!({"chargerId": charger_id, "arrive": "18:00", "leave": "07:00", "timeZone": "Mars/Olympus"}),
            422,
        ),
        (
            json!({"chargerId": charger_id, "arrive": "18:00", "leave": "07:00", "arrivalBatteryLevel": {"min": 70, "max": 20}}),
            422,
        ),
        (
            json!({"chargerId": charger_id, "arrive": "18:00", "leave": "07:00", "arrivalBatteryLevel": {"min": -1, "max": 20}}),
            422,
        ),
        (
            json!({"chargerId": "no-such-charger", "arrive": "18:00", "leave": "07:00"}),
            404,
        ),
    ] {
        let response = put(&app, &tenant, &path, bad.clone()).await;
        assert_eq!(response.status(), status, "{bad}");
        problem(response).await;
    }
    let none = app.as_tenant(&tenant, Method::GET, &path).send().await.unwrap();
    assert_eq!(none.status(), 404, "no commute was set by a refused request");

    // Another client can neither give your car a commute nor send theirs to your charger.
    assert_eq!(put(&app, &other, &path, good.clone()).await.status(), 404);
    let their_path = format!("/sandbox/vehicles/{}/commute", theirs["id"].as_str().unwrap());
    assert_eq!(put(&app, &other, &their_path, good.clone()).await.status(), 404);

    let set = put(&app, &tenant, &path, good).await;
    assert_eq!(set.status(), 200);
    let seen = app.as_tenant(&other, Method::GET, &path).send().await.unwrap();
    assert_eq!(seen.status(), 404);
    let deleted = app.as_tenant(&tenant, Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app.as_tenant(&tenant, Method::GET, &path).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    app.stop().await;
}
