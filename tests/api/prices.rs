//! Tariffs and prices end to end: a time-of-use tariff priced by the location's wall clock across a
//! daylight-saving change, price and carbon series pushed per location and per price area (each bad
//! one refused naming the value, changing nothing), Idempotency-Key retries, tenant isolation, the
//! aWATTar provider against a local aWATTar (its failures leaving the last good prices in force,
//! and saying so), and the sandbox's daily curve.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::tariff::{PriceChange, PriceProviders, PriceScope, SeriesKind};
use coupler_prices::fake::{FakeAwattar, Fault};
use coupler_prices::{AwattarConfig, AwattarProvider, AWATTAR};
use coupler_tests::sandbox::spawn_sandbox;
use coupler_tests::{problem, wait_for, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// A location of user `alice` in Berlin, priced in `area` (none when `None`); its id.
async fn berlin(app: &TestApp, tenant: &Tenant, area: Option<&str>) -> String {
    let mut body = json!({"name": "Home", "latitude": 52.52, "longitude": 13.405, "timezoneName": "Europe/Berlin"});
    if let Some(area) = area {
        body["priceArea"] = json!(area);
    }
    let created = app.post_json_status(tenant, "/users/alice/locations", body, 201).await;
    created["id"].as_str().unwrap().to_owned()
}

/// Night (22:00–06:00) at 0.10, day at 0.30.
fn day_and_night() -> Value {
    json!({
        "rates": [{"name": "day", "pricePerKwh": 0.30}, {"name": "night", "pricePerKwh": 0.10}],
        "schedule": [
            {"days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"], "from": "06:00", "to": "22:00", "rate": "day"},
            {"days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"], "from": "22:00", "to": "06:00", "rate": "night"}
        ]
    })
}

/// Hourly slots from `from` with `prices`.
fn hourly(from: &str, prices: &[f64]) -> Value {
    let start: DateTime<Utc> = from.parse().unwrap();
    let slots: Vec<Value> = prices
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "start": (start + chrono::Duration::hours(i as i64)).to_rfc3339(),
                "end": (start + chrono::Duration::hours(i as i64 + 1)).to_rfc3339(),
                "pricePerKwh": p,
            })
        })
        .collect();
    json!({ "slots": slots })
}

async fn send(app: &TestApp, tenant: &Tenant, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let request = app.as_tenant(tenant, method, path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

/// Sends a request that must be refused with 422 naming `pointer` in the body.
async fn refused_at(app: &TestApp, tenant: &Tenant, method: Method, path: &str, body: Value, pointer: &str) -> Value {
    let response = send(app, tenant, method, path, Some(body.clone())).await;
    assert_eq!(response.status(), 422, "{path} {body}");
    let problem = problem(response).await;
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(pointers.contains(&pointer), "expected {pointer}, got {problem}");
    problem
}

fn sources(prices: &Value) -> Vec<(String, String, f64, String)> {
    prices["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start"].as_str().unwrap().to_owned(),
                s["end"].as_str().unwrap().to_owned(),
                s["pricePerKwh"].as_f64().unwrap(),
                s["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_tariff_is_set_read_and_removed_and_prices_by_the_wall_clock_across_a_dst_change() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let home = berlin(&app, &tenant, None).await;
    let path = format!("/locations/{home}/tariff");
    let response = send(&app, &tenant, Method::GET, &path, None).await;
    assert_eq!(response.status(), 404);
    let response = send(&app, &tenant, Method::PUT, &path, Some(day_and_night())).await;
    assert_eq!(response.status(), 200);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["locationId"], home.as_str());
    assert_eq!(stored["schedule"][1]["rate"], "night");
    assert_eq!(app.get_json(&tenant, &path).await["rates"], day_and_night()["rates"]);
    // Berlin, Saturday 29 March 2025 22:00 CET to Sunday 12:00 CEST: the night is seven hours.
    let prices = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-03-29T21:00:00Z&to=2025-03-30T10:00:00Z"),
        )
        .await;
    assert_eq!(prices["hasTariff"], true);
    assert_eq!(prices["timezoneName"], "Europe/Berlin");
    let slots = prices["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2, "{prices}");
    assert_eq!(slots[0]["rate"], "night");
    assert_eq!(slots[0]["source"], "TOU");
    assert_eq!(slots[0]["end"], "2025-03-30T04:00:00Z");
    assert_eq!(slots[1]["pricePerKwh"], 0.30);
    // In autumn the same night is nine hours.
    let autumn = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-10-25T20:00:00Z&to=2025-10-26T06:00:00Z"),
        )
        .await;
    assert_eq!(autumn["slots"][0]["end"], "2025-10-26T05:00:00Z");
    let response = send(&app, &tenant, Method::DELETE, &path, None).await;
    assert_eq!(response.status(), 204);
    let response = send(&app, &tenant, Method::DELETE, &path, None).await;
    assert_eq!(problem(response).await["status"], 404);
    let none = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-03-29T21:00:00Z&to=2025-03-30T10:00:00Z"),
        )
        .await;
    assert_eq!(none["slots"], json!([]));
    assert_eq!(none["provider"], Value::Null);
}

#[tokio::test]
async fn each_bad_tariff_is_refused_naming_the_value_and_the_tariff_before_it_stays() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let home = berlin(&app, &tenant, None).await;
    let path = format!("/locations/{home}/tariff");
    assert_eq!(
        send(&app, &tenant, Method::PUT, &path, Some(day_and_night()))
            .await
            .status(),
        200
    );
    let change = |edit: &dyn Fn(&mut Value)| {
        let mut tariff = day_and_night();
        edit(&mut tariff);
        tariff
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            change(&|t| t["schedule"][1]["from"] = json!("21:00")),
            "/schedule/1",
            "overlaps",
        ),
        (
            change(&|t| t["schedule"][1]["to"] = json!("05:00")),
            "/schedule",
            "without a rate",
        ),
        (
            change(&|t| t["schedule"][0]["rate"] = json!("peak")),
            "/schedule/0/rate",
            "no rate named 'peak'",
        ),
        (
            change(&|t| t["schedule"][0]["from"] = json!("6:00")),
            "/schedule/0/from",
            "not a time",
        ),
        (
            change(&|t| t["schedule"][0]["to"] = json!("22:10")),
            "/schedule/0/to",
            "quarter hour",
        ),
        (
            change(&|t| t["schedule"][0]["days"] = json!([])),
            "/schedule/0/days",
            "at least one day",
        ),
        (
            change(&|t| t["schedule"][0]["days"] = json!(["FUNDAY"])),
            "/schedule/0/days/0",
            "not an allowed value",
        ),
        (
            change(&|t| t["rates"][1]["name"] = json!("day")),
            "/rates/1/name",
            "named twice",
        ),
        (
            change(&|t| t["rates"][0]["pricePerKwh"] = json!("cheap")),
            "/rates/0/pricePerKwh",
            "string",
        ),
        (change(&|t| t["colour"] = json!("blue")), "/colour", "not a known field"),
    ];
    for (tariff, pointer, says) in cases {
        let problem = refused_at(&app, &tenant, Method::PUT, &path, tariff, pointer).await;
        assert!(problem["detail"].as_str().unwrap().contains(says), "{problem}");
    }
    assert_eq!(app.get_json(&tenant, &path).await["rates"], day_and_night()["rates"]);
    // Another client's location, and one that does not exist, are 404 either way.
    let other = app.tenant("other").await;
    let response = send(&app, &other, Method::PUT, &path, Some(day_and_night())).await;
    assert_eq!(problem(response).await["status"], 404);
    let response = send(&app, &other, Method::GET, &path, None).await;
    assert_eq!(response.status(), 404);
    let response = send(&app, &other, Method::DELETE, &path, None).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn pushed_prices_override_the_area_and_the_tariff_where_they_have_slots() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let home = berlin(&app, &tenant, Some("de-lu")).await;
    assert_eq!(
        app.get_json(&tenant, &format!("/locations/{home}")).await["priceArea"],
        "DE-LU"
    );
    send(
        &app,
        &tenant,
        Method::PUT,
        &format!("/locations/{home}/tariff"),
        Some(day_and_night()),
    )
    .await;
    let area = app
        .post_json_status(
            &tenant,
            "/price-areas/DE-LU/prices",
            hourly("2025-01-15T10:00:00Z", &[0.5, 0.6, 0.7]),
            201,
        )
        .await;
    assert_eq!(area["priceArea"], "DE-LU");
    assert_eq!(
        (area["slotCount"].as_u64(), area["slotMinutes"].as_u64()),
        (Some(3), Some(60))
    );
    let quarter =
        json!({"slots": [{"start": "2025-01-15T11:15:00Z", "end": "2025-01-15T11:30:00Z", "pricePerKwh": -0.05}]});
    let own = app
        .post_json_status(&tenant, &format!("/locations/{home}/prices"), quarter, 201)
        .await;
    assert_eq!(own["locationId"], home.as_str());
    assert_eq!(own["kind"], "PRICE");
    let prices = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-01-15T09:00:00Z&to=2025-01-15T14:00:00Z"),
        )
        .await;
    let s = |a: &str, b: &str, p: f64, src: &str| (a.to_owned(), b.to_owned(), p, src.to_owned());
    assert_eq!(
        sources(&prices),
        vec![
            s("2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z", 0.30, "TOU"),
            s("2025-01-15T10:00:00Z", "2025-01-15T11:00:00Z", 0.5, "PUSHED"),
            s("2025-01-15T11:00:00Z", "2025-01-15T11:15:00Z", 0.6, "PUSHED"),
            s("2025-01-15T11:15:00Z", "2025-01-15T11:30:00Z", -0.05, "PUSHED"),
            s("2025-01-15T11:30:00Z", "2025-01-15T12:00:00Z", 0.6, "PUSHED"),
            s("2025-01-15T12:00:00Z", "2025-01-15T13:00:00Z", 0.7, "PUSHED"),
            s("2025-01-15T13:00:00Z", "2025-01-15T14:00:00Z", 0.30, "TOU"),
        ]
    );
    // A newer push replaces the stretch it covers.
    app.post_json_status(
        &tenant,
        "/price-areas/DE-LU/prices",
        hourly("2025-01-15T12:00:00Z", &[0.1]),
        201,
    )
    .await;
    let prices = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-01-15T12:00:00Z&to=2025-01-15T13:00:00Z"),
        )
        .await;
    assert_eq!(prices["slots"][0]["pricePerKwh"], 0.1);
    // Carbon intensity is a series of its own, without a tariff.
    let carbon =
        json!({"slots": [{"start": "2025-01-15T10:00:00Z", "end": "2025-01-15T10:15:00Z", "gramsCo2PerKwh": 310}]});
    let pushed = app
        .post_json_status(&tenant, "/price-areas/DE-LU/carbon-intensity", carbon, 201)
        .await;
    assert_eq!(pushed["kind"], "CARBON_INTENSITY");
    let intensity = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/carbon-intensity?from=2025-01-15T09:00:00Z&to=2025-01-15T14:00:00Z"),
        )
        .await;
    assert_eq!(intensity["slots"].as_array().unwrap().len(), 1);
    assert_eq!(intensity["slots"][0]["gramsCo2PerKwh"], 310.0);
    assert_eq!(intensity["slots"][0]["source"], "PUSHED");
}

#[tokio::test]
async fn each_bad_series_is_refused_naming_the_slot_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let home = berlin(&app, &tenant, Some("SE3")).await;
    let path = format!("/locations/{home}/prices");
    let good = || hourly("2025-01-15T00:00:00Z", &[0.1, 0.2, 0.3, 0.4]);
    let change = |edit: &dyn Fn(&mut Value)| {
        let mut body = good();
        edit(&mut body);
        body
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            change(&|b| b["slots"][3] = b["slots"][1].clone()),
            "/slots/3/start",
            "a slot is sent once",
        ),
        (
            change(&|b| {
                b["slots"].as_array_mut().unwrap().remove(2);
            }),
            "/slots/2/start",
            "no slot covers 2025-01-15 02:00:00 UTC to 2025-01-15 03:00:00 UTC",
        ),
        (
            change(&|b| {
                b["slots"][3]["start"] = json!("2025-01-15T03:05:00Z");
                b["slots"][3]["end"] = json!("2025-01-15T04:05:00Z");
            }),
            "/slots/3/start",
            "quarter hour",
        ),
        (
            change(&|b| b["slots"][0]["end"] = json!("2025-01-15T00:20:00Z")),
            "/slots/0/end",
            "15 or 60 minutes",
        ),
        (
            change(&|b| {
                b["slots"][3]["end"] = json!("2025-01-15T03:15:00Z");
            }),
            "/slots/3/end",
            "the same length",
        ),
        (json!({"slots": []}), "/slots", "at least one slot"),
        (
            change(&|b| b["slots"][1]["pricePerKwh"] = json!("free")),
            "/slots/1/pricePerKwh",
            "string",
        ),
        (
            change(&|b| b["slots"][1]["start"] = json!("yesterday")),
            "/slots/1/start",
            "",
        ),
        (json!({}), "/slots", "required"),
    ];
    for (body, pointer, says) in cases {
        let problem = refused_at(&app, &tenant, Method::POST, &path, body, pointer).await;
        assert!(problem["detail"].as_str().unwrap().contains(says), "{problem}");
    }
    let carbon =
        json!({"slots": [{"start": "2025-01-15T00:00:00Z", "end": "2025-01-15T01:00:00Z", "gramsCo2PerKwh": -1}]});
    refused_at(
        &app,
        &tenant,
        Method::POST,
        &format!("/locations/{home}/carbon-intensity"),
        carbon,
        "/slots/0/gramsCo2PerKwh",
    )
    .await;
    let response = send(&app, &tenant, Method::POST, "/price-areas/SE%203/prices", Some(good())).await;
    assert_eq!(response.status(), 422);
    let refused = problem(response).await;
    assert_eq!(refused["errors"][0]["in"], "path");
    assert_eq!(refused["errors"][0]["name"], "area");
    // Nothing of it was stored.
    let prices = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-01-14T00:00:00Z&to=2025-01-16T00:00:00Z"),
        )
        .await;
    assert_eq!(prices["slots"], json!([]));
    // A window that ends before it starts, or is too long.
    for query in [
        "from=2025-01-15T00:00:00Z&to=2025-01-14T00:00:00Z",
        "from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z",
    ] {
        let response = send(&app, &tenant, Method::GET, &format!("{path}?{query}"), None).await;
        assert_eq!(response.status(), 422);
        assert_eq!(problem(response).await["errors"][0]["name"], "to");
    }
    let response = send(&app, &tenant, Method::GET, &format!("{path}?from=soon"), None).await;
    assert_eq!(problem(response).await["errors"][0]["name"], "from");
}

#[tokio::test]
async fn a_retried_push_with_the_same_idempotency_key_answers_the_same_and_is_stored_once() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("app").await;
    let home = berlin(&app, &tenant, None).await;
    let mut changes = app.state().engine.subscribe_price_changes();
    let path = format!("/locations/{home}/prices");
    let push = |body: Value, key: &str| {
        app.as_tenant(&tenant, Method::POST, &path)
            .header("Idempotency-Key", key.to_owned())
            .json(&body)
            .send()
    };
    let body = hourly("2025-01-15T00:00:00Z", &[0.1, 0.2]);
    let first = push(body.clone(), "push-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = push(body.clone(), "push-1").await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    let change = changes.try_recv().unwrap();
    assert_eq!(
        change,
        PriceChange {
            scope: PriceScope::Location {
                client: tenant.id.clone(),
                location: coupler_core::location::LocationId::new(home.clone()),
            },
            kind: SeriesKind::Price,
        }
    );
    assert!(
        changes.try_recv().is_err(),
        "a retry stores nothing, so announces nothing"
    );
    let reused = push(hourly("2025-01-15T00:00:00Z", &[9.9, 9.9]), "push-1")
        .await
        .unwrap();
    assert_eq!(reused.status(), 422);
    assert_eq!(
        problem(reused).await["type"],
        "urn:coupler:problem:idempotency-key-reused"
    );
    let bad_key = push(body, "has space").await.unwrap();
    assert_eq!(bad_key.status(), 422);
    assert_eq!(problem(bad_key).await["errors"][0]["name"], "Idempotency-Key");
    let prices = app
        .get_json(
            &tenant,
            &format!("/locations/{home}/prices?from=2025-01-15T00:00:00Z&to=2025-01-15T02:00:00Z"),
        )
        .await;
    let values: Vec<f64> = sources(&prices).into_iter().map(|s| s.2).collect();
    assert_eq!(values, vec![0.1, 0.2]);
}

#[tokio::test]
async fn a_clients_price_areas_locations_and_tariffs_are_its_own() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.tenant("a").await, app.tenant("b").await);
    let home_a = berlin(&app, &a, Some("DE-LU")).await;
    let home_b = berlin(&app, &b, Some("DE-LU")).await;
    app.post_json_status(
        &a,
        "/price-areas/DE-LU/prices",
        hourly("2025-01-15T00:00:00Z", &[0.1]),
        201,
    )
    .await;
    send(
        &app,
        &a,
        Method::PUT,
        &format!("/locations/{home_a}/tariff"),
        Some(day_and_night()),
    )
    .await;
    let window = "from=2025-01-15T00:00:00Z&to=2025-01-15T01:00:00Z";
    let seen_by_a = app.get_json(&a, &format!("/locations/{home_a}/prices?{window}")).await;
    assert_eq!(seen_by_a["slots"][0]["source"], "PUSHED");
    let seen_by_b = app.get_json(&b, &format!("/locations/{home_b}/prices?{window}")).await;
    assert_eq!(seen_by_b["slots"], json!([]), "B's DE-LU is not A's");
    for (method, path, body) in [
        (Method::GET, format!("/locations/{home_a}/prices?{window}"), None),
        (
            Method::GET,
            format!("/locations/{home_a}/carbon-intensity?{window}"),
            None,
        ),
        (Method::GET, format!("/locations/{home_a}/tariff"), None),
        (
            Method::PUT,
            format!("/locations/{home_a}/tariff"),
            Some(day_and_night()),
        ),
        (Method::DELETE, format!("/locations/{home_a}/tariff"), None),
        (
            Method::POST,
            format!("/locations/{home_a}/prices"),
            Some(hourly("2025-01-15T00:00:00Z", &[5.0])),
        ),
    ] {
        let response = send(&app, &b, method.clone(), &path, body).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        problem(response).await;
    }
    let still = app.get_json(&a, &format!("/locations/{home_a}/prices?{window}")).await;
    assert_eq!(still["slots"][0]["pricePerKwh"], 0.1);
    assert_eq!(
        app.get_json(&a, &format!("/locations/{home_a}/tariff")).await["locationId"],
        home_a.as_str()
    );
}

/// Coupler with aWATTar at a local fake, retrying failed fetches quickly.
async fn with_awattar(fake: &FakeAwattar) -> TestApp {
    let url: url::Url = fake.base_url.parse().unwrap();
    TestApp::spawn_with(|_, wiring| {
        let mut providers = PriceProviders::new();
        providers.register(Arc::new(AwattarProvider::new(AwattarConfig::with_urls(
            url.clone(),
            url,
        ))));
        providers.set_default(AWATTAR);
        wiring.price_providers = providers;
        wiring.prices.retry_interval = Duration::from_millis(200);
    })
    .await
}

/// Midnight UTC `days` days from today.
fn midnight_in(days: i64) -> DateTime<Utc> {
    let today = Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    today + chrono::Duration::days(days)
}

#[tokio::test]
async fn awattars_prices_price_a_location_in_its_area_and_a_failing_fetch_keeps_the_last_good_ones() {
    let fake = FakeAwattar::spawn(midnight_in(2)).await;
    let app = with_awattar(&fake).await;
    let tenant = app.tenant("app").await;
    let providers = app.get_json(&tenant, "/price-providers").await;
    assert_eq!(providers["data"][0]["name"], "AWATTAR");
    assert_eq!(providers["data"][0]["isDefault"], true);
    assert_eq!(providers["data"][0]["areas"][0]["area"], "DE-LU");
    let home = berlin(&app, &tenant, Some("DE-LU")).await;
    let window = format!(
        "from={}&to={}",
        midnight_in(0).format("%Y-%m-%dT%H:%M:%SZ"),
        midnight_in(2).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let path = format!("/locations/{home}/prices?{window}");
    let good = wait_for("aWATTar's prices are fetched", || async {
        let prices = app.get_json(&tenant, &path).await;
        (prices["provider"]["state"] == "OK").then_some(prices)
    })
    .await;
    assert_eq!(good["provider"]["name"], "AWATTAR");
    assert_eq!(good["provider"]["area"], "DE-LU");
    let slots = sources(&good);
    assert_eq!(slots.len(), 48, "today and tomorrow, hourly");
    assert!(slots.iter().all(|s| s.3 == "PROVIDER"));
    assert_eq!(
        good["provider"]["pricesUntil"],
        midnight_in(2).format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let last_success = good["provider"]["lastSuccessAt"].clone();
    for (fault, says) in [
        (Fault::ServerError, "HTTP 500"),
        (Fault::Garbage, "not the expected JSON"),
        (
            Fault::MissingHour(midnight_in(1) + chrono::Duration::hours(7)),
            "no slot covers",
        ),
    ] {
        fake.set_fault(Some(fault));
        app.state().engine.wake_price_fetcher();
        let failing = wait_for(&format!("the provider's status says {says}"), || async {
            let prices = app.get_json(&tenant, &path).await;
            let error = prices["provider"]["lastError"].as_str().unwrap_or_default().to_owned();
            (prices["provider"]["state"] == "FAILING" && error.contains(says)).then_some(prices)
        })
        .await;
        assert_eq!(sources(&failing), slots, "the last good prices stay in force");
        assert_eq!(failing["provider"]["lastSuccessAt"], last_success);
        assert!(failing["provider"]["lastErrorAt"].is_string());
    }
    // Healed, with new prices: they are stored, announced and sent as an event.
    let mut changes = app.state().engine.subscribe_price_changes();
    fake.set_fault(None);
    fake.set_offset(10.0);
    app.state().engine.wake_price_fetcher();
    let healed = wait_for("the new prices are fetched", || async {
        let prices = app.get_json(&tenant, &path).await;
        (prices["provider"]["state"] == "OK").then_some(prices)
    })
    .await;
    let moved: Vec<f64> = sources(&healed).iter().map(|s| s.2).collect();
    let before: Vec<f64> = slots.iter().map(|s| s.2).collect();
    assert!(
        moved.iter().zip(&before).all(|(m, b)| (m - b - 0.01).abs() < 1e-9),
        "EUR/MWh became EUR/kWh"
    );
    // (Austria's prices, from the same fake, changed too.)
    let change = loop {
        let change = changes.recv().await.unwrap();
        if matches!(&change.scope, PriceScope::Provider { provider, area } if provider == "AWATTAR" && area.as_str() == "DE-LU")
        {
            break change;
        }
    };
    let affected = app.state().engine.locations_affected(&change).await.unwrap();
    assert_eq!(affected.len(), 1);
    assert_eq!(affected[0].1.as_str(), home);
    wait_for("a prices-updated event about the location", || async {
        let events = app.store.events_after(&tenant.id, 0, 1000).await.unwrap();
        events
            .iter()
            .any(|e| {
                e.event_type.as_str() == "user:location:prices-updated"
                    && e.asset_id == home
                    && e.updated_fields == ["prices"]
                    && e.data["priceArea"] == "DE-LU"
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_location_can_name_only_a_configured_provider_and_an_area_it_has_prices_for() {
    let fake = FakeAwattar::spawn(midnight_in(1)).await;
    let app = with_awattar(&fake).await;
    let tenant = app.tenant("app").await;
    let base = json!({"name": "Home", "latitude": 48.2, "longitude": 16.37, "timezoneName": "Europe/Vienna"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let problem = refused_at(
        &app,
        &tenant,
        Method::POST,
        "/users/alice/locations",
        with(json!({"priceArea": "AT", "priceProvider": "TIBBER"})),
        "/priceProvider",
    )
    .await;
    assert_eq!(problem["errors"][0]["allowed"], json!(["AWATTAR"]));
    let problem = refused_at(
        &app,
        &tenant,
        Method::POST,
        "/users/alice/locations",
        with(json!({"priceArea": "SE3", "priceProvider": "awattar"})),
        "/priceArea",
    )
    .await;
    assert_eq!(problem["errors"][0]["allowed"], json!(["DE-LU", "AT"]));
    refused_at(
        &app,
        &tenant,
        Method::POST,
        "/users/alice/locations",
        with(json!({"priceArea": "DE LU"})),
        "/priceArea",
    )
    .await;
    let created = app
        .post_json_status(
            &tenant,
            "/users/alice/locations",
            with(json!({"priceArea": "at", "priceProvider": "awattar"})),
            201,
        )
        .await;
    assert_eq!(
        (&created["priceArea"], &created["priceProvider"]),
        (&json!("AT"), &json!("AWATTAR"))
    );
    // Moving it out of the area clears what the PUT leaves out, and is announced.
    let mut changes = app.state().engine.subscribe_price_changes();
    let id = created["id"].as_str().unwrap();
    let response = send(
        &app,
        &tenant,
        Method::PUT,
        &format!("/locations/{id}"),
        Some(base.clone()),
    )
    .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["priceArea"], Value::Null);
    assert!(matches!(
        changes.recv().await.unwrap().scope,
        PriceScope::Location { .. }
    ));
}

#[tokio::test]
async fn in_the_sandbox_a_location_without_a_tariff_is_priced_by_a_curve_that_changes_daily() {
    let app = spawn_sandbox(1.0, None).await;
    let tenant = app.tenant("app").await;
    let home = berlin(&app, &tenant, None).await;
    let window = format!(
        "from={}&to={}",
        midnight_in(0).format("%Y-%m-%dT%H:%M:%SZ"),
        midnight_in(2).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let prices = wait_for("the sandbox's prices are fetched", || async {
        let prices = app
            .get_json(&tenant, &format!("/locations/{home}/prices?{window}"))
            .await;
        (prices["provider"]["state"] == "OK").then_some(prices)
    })
    .await;
    assert_eq!(prices["provider"]["name"], "SANDBOX");
    let slots = sources(&prices);
    // Today at least; tomorrow too once it is out (noon UTC).
    assert!(slots.len() == 24 || slots.len() == 48, "{}", slots.len());
    assert!(slots.iter().all(|s| s.3 == "PROVIDER"));
    let today: Vec<f64> = slots[..24].iter().map(|s| s.2).collect();
    let expected: Vec<f64> = (0..24)
        .map(|h| coupler_simulated::prices::price(midnight_in(0).timestamp() / 86_400, h))
        .collect();
    assert_eq!(today, expected);
    let carbon = app
        .get_json(&tenant, &format!("/locations/{home}/carbon-intensity?{window}"))
        .await;
    assert_eq!(carbon["slots"].as_array().unwrap().len(), slots.len());
    // A location with a tariff keeps to its tariff.
    let tariffed = berlin(&app, &tenant, None).await;
    send(
        &app,
        &tenant,
        Method::PUT,
        &format!("/locations/{tariffed}/tariff"),
        Some(day_and_night()),
    )
    .await;
    let own = app
        .get_json(&tenant, &format!("/locations/{tariffed}/prices?{window}"))
        .await;
    assert!(sources(&own).iter().all(|s| s.3 == "TOU"));
    assert_eq!(own["provider"], Value::Null);
}
