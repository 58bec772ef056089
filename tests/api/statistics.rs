//! Charging statistics and session costs, from sessions a real charge point (the Python `ocpp`
//! package) ran against Coupler.

use coupler_tests::ocpp::PythonChargePoint;
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Registers a charger of alice's, connects a charge point, and runs one session: 11 kWh from
/// 10:00 to 11:00 UTC on 21 November 2026, with a reading at 10:30 (4 kWh by then).
async fn one_session(app: &TestApp, tenant: &Tenant, ocpp_id: &str) -> String {
    let registered = app.register_charger(tenant, "alice", ocpp_id).await;
    let url = registered["ocppUrl"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected(url, ocpp_id, registered["password"].as_str().unwrap()).await;
    cp.boot("Preparing").await;
    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "CARD", "meter_start": 10_000, "timestamp": "2026-11-21T10:00:00Z"}),
        )
        .await;
    let transaction_id = started["transaction_id"].as_i64().unwrap();
    cp.call(
        "MeterValues",
        json!({"connector_id": 1, "transaction_id": transaction_id, "meter_value": [{"timestamp": "2026-11-21T10:30:00Z", "sampledValue": [
            {"value": "14000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        ]}]}),
    )
    .await;
    cp.call(
        "StopTransaction",
        json!({"meter_stop": 21_000, "timestamp": "2026-11-21T11:00:00Z", "transaction_id": transaction_id, "reason": "EVDisconnected"}),
    )
    .await;
    cp.close().await;
    registered["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_users_statistics_sum_the_energy_of_their_sessions_hour_by_hour_and_day_by_day() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let charger = one_session(&app, &tenant, "CP-STATS-1").await;

    let hours = app
        .get_json(
            &tenant,
            "/statistics/charging?userId=alice&resolution=HOUR&startDate=2026-11-21T00:00:00Z&endDate=2026-11-22T00:00:00Z",
        )
        .await;
    assert_eq!(hours["resolution"], "HOUR");
    assert_eq!(hours["data"].as_array().unwrap().len(), 1, "{hours}");
    assert_eq!(hours["data"][0]["date"], "2026-11-21T10:00:00Z");
    assert_eq!(hours["data"][0]["kwhSum"], 11.0);
    assert_eq!(hours["data"][0]["sessions"], 1);
    assert_eq!(hours["total"]["kwhSum"], 11.0);

    // In Oslo (UTC+1) the day starts at 23:00 UTC the evening before.
    let days = app
        .get_json(
            &tenant,
            &format!("/statistics/charging?chargerId={charger}&resolution=DAY&startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z&timezone=Europe/Oslo"),
        )
        .await;
    assert_eq!(days["timezone"], "Europe/Oslo");
    assert_eq!(days["data"][0]["date"], "2026-11-20T23:00:00Z");
    assert_eq!(days["data"][0]["kwhSum"], 11.0);

    // Without prices at the charger's location, the energy is unpriced rather than free.
    let sessions = app.get_json(&tenant, &format!("/chargers/{charger}/sessions")).await;
    let cost = &sessions["data"][0]["cost"];
    assert_eq!(cost["cost"], serde_json::Value::Null, "{cost}");
    assert_eq!(cost["unpricedEnergy"], 11.0);
}

#[tokio::test]
async fn a_session_charged_in_the_cheap_hour_is_priced_at_its_locations_prices_and_shows_its_savings() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let home = app
        .post_json_status(
            &tenant,
            "/users/alice/locations",
            json!({"name": "Home", "latitude": 52.52, "longitude": 13.405, "timezoneName": "Europe/Berlin"}),
            201,
        )
        .await;
    let home = home["id"].as_str().unwrap();
    // 09:00 dear, 10:00 cheap, 11:00 dear (UTC).
    let slots: Vec<serde_json::Value> = [(9, 0.40), (10, 0.10), (11, 0.40)]
        .iter()
        .map(|(hour, price)| {
            json!({"start": format!("2026-11-21T{hour:02}:00:00Z"), "end": format!("2026-11-21T{:02}:00:00Z", hour + 1), "pricePerKwh": price})
        })
        .collect();
    app.post_json_status(
        &tenant,
        &format!("/locations/{home}/prices"),
        json!({"slots": slots}),
        201,
    )
    .await;
    let registered = app.register_charger(&tenant, "alice", "CP-STATS-PRICED").await;
    let charger = registered["id"].as_str().unwrap();
    let placed = app
        .as_tenant(&tenant, Method::PUT, &format!("/chargers/{charger}"))
        .json(&json!({"locationId": home}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), StatusCode::OK);

    // Plugged in at 09:00, held until the cheap hour, then 11 kWh in it.
    let url = registered["ocppUrl"].as_str().unwrap();
    let mut cp = PythonChargePoint::connected(url, "CP-STATS-PRICED", registered["password"].as_str().unwrap()).await;
    cp.boot("Preparing").await;
    let started = cp
        .call(
            "StartTransaction",
            json!({"connector_id": 1, "id_tag": "CARD", "meter_start": 0, "timestamp": "2026-11-21T09:00:00Z"}),
        )
        .await;
    let transaction_id = started["transaction_id"].as_i64().unwrap();
    cp.call(
        "MeterValues",
        json!({"connector_id": 1, "transaction_id": transaction_id, "meter_value": [{"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [
            {"value": "0", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        ]}]}),
    )
    .await;
    cp.call(
        "StopTransaction",
        json!({"meter_stop": 11_000, "timestamp": "2026-11-21T11:00:00Z", "transaction_id": transaction_id, "reason": "EVDisconnected"}),
    )
    .await;
    cp.close().await;

    let sessions = app.get_json(&tenant, &format!("/chargers/{charger}/sessions")).await;
    let cost = &sessions["data"][0]["cost"];
    assert_eq!(cost["cost"], 1.1, "11 kWh at 0.10: {cost}");
    assert_eq!(
        cost["nonSmartCost"], 4.4,
        "the same 11 kWh at 11 kW from 09:00, at 0.40: {cost}"
    );
    assert_eq!(cost["savings"], 3.3, "{cost}");
    assert_eq!(cost["unpricedEnergy"], 0.0);

    let month = app
        .get_json(
            &tenant,
            "/statistics/charging?userId=alice&resolution=MONTH&startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z&timezone=Europe/Berlin",
        )
        .await;
    assert_eq!(
        month["data"][0]["date"], "2026-10-31T23:00:00Z",
        "November starts at midnight in Berlin"
    );
    assert_eq!(month["total"]["kwhSum"], 11.0);
    assert_eq!(month["total"]["costSum"], 1.1);
    assert_eq!(month["total"]["savingsSum"], 3.3);
}

#[tokio::test]
async fn statistics_of_another_clients_user_or_charger_are_not_found() {
    let app = TestApp::spawn().await;
    let owner = app.tenant("owner").await;
    let other = app.tenant("other").await;
    let charger = one_session(&app, &owner, "CP-STATS-2").await;

    for scope in [format!("chargerId={charger}"), "userId=alice".to_owned()] {
        let response = app
            .as_tenant(
                &other,
                Method::GET,
                &format!("/statistics/charging?{scope}&resolution=DAY&startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{scope}");
    }
}

#[tokio::test]
async fn a_statistics_query_that_does_not_make_sense_is_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    app.register_charger(&tenant, "alice", "CP-STATS-3").await;
    let base = "/statistics/charging?userId=alice";
    let cases = [
        (
            "&resolution=WEEK&startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z",
            "resolution",
        ),
        (
            "&resolution=DAY&startDate=2026-12-01T00:00:00Z&endDate=2026-11-01T00:00:00Z",
            "endDate",
        ),
        (
            "&resolution=HOUR&startDate=2026-01-01T00:00:00Z&endDate=2026-12-01T00:00:00Z",
            "endDate",
        ),
        (
            "&resolution=DAY&startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z&timezone=Mars/Olympus",
            "timezone",
        ),
        (
            "&chargerId=x&resolution=DAY&startDate=2026-11-01T00:00:00Z&endDate=2026-12-01T00:00:00Z",
            "userId",
        ),
        (
            "&resolution=DAY&startDate=yesterday&endDate=2026-12-01T00:00:00Z",
            "startDate",
        ),
    ];
    for (query, parameter) in cases {
        let response = app
            .as_tenant(&tenant, Method::GET, &format!("{base}{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let problem = problem(response).await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == parameter),
            "{query}: {problem}"
        );
    }
}
