//! The hosted enrolment page the way a driver uses it, over real sockets: the app asks for a
//! session, the driver's browser (keeping cookies, following redirects) opens the page, reads the
//! program and its own devices (the eligible ones to tick, the others with their reasons), agrees or
//! declines, and lands back on the app. And what must not work: a replayed or forged form, a link
//! used twice or too late, another client's program.

use std::sync::Arc;

use chrono::{Duration, Utc};
use coupler_core::clock::ManualClock;
use coupler_tests::receiver::{Mode, Receiver};
use coupler_tests::vehicles::{browser, form_value, stepping_browser, AppSite};
use coupler_tests::{problem, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "an-enrolment-receiver-secret-of-32-chars";

/// A charger of `user`'s called `name`, placed at a new location at the given point if one is given.
async fn charger(
    app: &TestApp,
    tenant: &Tenant,
    user: &str,
    ocpp_id: &str,
    name: &str,
    at: Option<(f64, f64)>,
) -> String {
    let id = app.register_charger(tenant, user, ocpp_id).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut change = json!({ "name": name });
    if let Some((latitude, longitude)) = at {
        let location = app
            .post_json_status(
                tenant,
                &format!("/users/{user}/locations"),
                json!({"name": name, "latitude": latitude, "longitude": longitude, "timezoneName": "UTC"}),
                201,
            )
            .await;
        change["locationId"] = location["id"].clone();
    }
    let changed = app
        .as_tenant(tenant, Method::PUT, &format!("/chargers/{id}"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    id
}

/// A program for chargers in Oslo, at most 12 events a year of at most 3 hours, an hour's notice.
async fn oslo_program(app: &TestApp, tenant: &Tenant) -> String {
    app.post_json_status(
        tenant,
        "/programs",
        json!({
            "name": "Oslo evening relief",
            "kind": "CAPACITY_LIMIT",
            "eligibility": {
                "deviceKinds": ["CHARGER"],
                "serviceArea": [{"latitude": 59.91, "longitude": 10.75, "radiusKm": 30}],
            },
            "limits": {"maxEventsPerYear": 12, "maxEventMinutes": 180, "minNoticeMinutes": 60},
            "incentive": {"perEvent": {"amount": 2.5, "currency": "EUR"}},
        }),
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn session_body(user: &str, site: &AppSite) -> Value {
    json!({
        "userId": user,
        "consent": {"dataShared": ["chargingSessions", "meterReadings"], "howToLeave": "Unenrol in the app at any time"},
        "redirectUri": site.redirect_uri(),
        "language": "en-GB",
    })
}

async fn create_session(app: &TestApp, tenant: &Tenant, program: &str, body: Value) -> Value {
    app.post_json_status(tenant, &format!("/programs/{program}/enrolment-sessions"), body, 201)
        .await
}

/// Alice's world: two chargers in Oslo (eligible), one in Munich and one nobody placed (not).
struct World {
    app: TestApp,
    tenant: Tenant,
    program: String,
    site: AppSite,
    garage: String,
    carport: String,
    munich: String,
    unplaced: String,
}

async fn world(app: TestApp) -> World {
    let tenant = app.tenant("Nordlys Energi").await;
    let garage = charger(
        &app,
        &tenant,
        "alice",
        "ENROL-GARAGE",
        "Garage wallbox",
        Some((59.92, 10.70)),
    )
    .await;
    let carport = charger(
        &app,
        &tenant,
        "alice",
        "ENROL-CARPORT",
        "Carport wallbox",
        Some((59.90, 10.80)),
    )
    .await;
    let munich = charger(
        &app,
        &tenant,
        "alice",
        "ENROL-MUNICH",
        "Holiday flat",
        Some((48.14, 11.58)),
    )
    .await;
    let unplaced = charger(&app, &tenant, "alice", "ENROL-NOWHERE", "Spare charger", None).await;
    let program = oslo_program(&app, &tenant).await;
    let site = AppSite::start().await;
    World {
        app,
        tenant,
        program,
        site,
        garage,
        carport,
        munich,
        unplaced,
    }
}

/// The program's enrolments, as the REST API lists them.
async fn enrolments(w: &World) -> Vec<Value> {
    w.app
        .get_json(&w.tenant, &format!("/programs/{}/enrolments", w.program))
        .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// The part of the page from `from` to the next `to`.
fn section<'a>(page: &'a str, from: &str, to: &str) -> &'a str {
    let start = page.find(from).unwrap_or_else(|| panic!("no '{from}' in: {page}"));
    let rest = &page[start..];
    &rest[..rest.find(to).unwrap_or(rest.len())]
}

#[tokio::test]
async fn a_driver_reads_the_program_enrols_the_ticked_devices_and_lands_back_on_the_app_with_their_ids() {
    let app = TestApp::spawn_with(|_, wiring| {
        wiring.webhooks.allow_private = true;
        wiring.webhooks.tick = std::time::Duration::from_millis(50);
    })
    .await;
    let w = world(app).await;
    let receiver = Receiver::start(WEBHOOK_SECRET, Mode::Accept).await;
    w.app
        .post_json_status(
            &w.tenant,
            "/webhooks",
            json!({"url": receiver.url, "secret": WEBHOOK_SECRET, "events": ["user:flex-enrolment:updated"]}),
            201,
        )
        .await;

    let session = create_session(&w.app, &w.tenant, &w.program, session_body("alice", &w.site)).await;
    let url = session["enrolmentUrl"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/enrol/", w.app.url)), "{session}");
    assert!(url.ends_with(session["enrolmentToken"].as_str().unwrap()));
    let expires: chrono::DateTime<Utc> = session["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(expires > Utc::now() + Duration::hours(23), "{session}");

    let browser = browser();
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let page = page.text().await.unwrap();

    // Who runs what, in plain words.
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("<h1>Oslo evening relief</h1>"), "{page}");
    assert!(page.contains("Nordlys Energi runs this program"), "{page}");
    for words in [
        "limits how much power your home draws from the grid",
        "At most 12 events a year.",
        "Each event lasts at most 3 hours.",
        "You are told at least 1 hour before an event starts.",
        "Per event: 2.5 EUR",
        "Charging sessions",
        "Meter readings",
        "Unenrol in the app at any time",
    ] {
        assert!(page.contains(words), "the page says '{words}': {page}");
    }

    // The Oslo chargers can be ticked; the others are listed with their reasons and no checkbox.
    let form = section(&page, "<form", "</fieldset>");
    for (id, name) in [(&w.garage, "Garage wallbox"), (&w.carport, "Carport wallbox")] {
        assert!(
            form.contains(&format!("name=\"device\" value=\"CHARGER:{id}\"")),
            "{form}"
        );
        assert!(form.contains(name), "{form}");
    }
    assert!(
        !form.contains(w.munich.as_str()) && !form.contains(w.unplaced.as_str()),
        "{form}"
    );
    let cannot = section(&page, "Devices that cannot join", "I agree");
    assert!(
        cannot.contains("Holiday flat") && cannot.contains("It is outside the area this program covers."),
        "{cannot}"
    );
    assert!(
        cannot.contains("Spare charger") && cannot.contains("We do not know where it is"),
        "{cannot}"
    );
    for id in [&w.garage, &w.carport] {
        let label = page.find(&format!("value=\"CHARGER:{id}\"")).unwrap();
        let input_id = page[..label].rsplit("id=\"").next().unwrap();
        let input_id = input_id.split('"').next().unwrap();
        assert!(
            page.contains(&format!("<label for=\"{input_id}\">")),
            "every checkbox has its label"
        );
    }
    assert!(page.contains("<label for=\"consent\">"));

    // Alice ticks the garage's charger only and agrees.
    let landed = browser
        .post(&url)
        .form(&[
            ("csrf", form_value(&page, "csrf").as_str()),
            ("device", &format!("CHARGER:{}", w.garage)),
            ("consent", "yes"),
            ("action", "enrol"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(landed.status(), 200);
    assert!(landed.url().as_str().starts_with(&format!("{}/linked", w.site.url)));
    let visit = w.site.last_visit().unwrap();
    assert_eq!(visit["success"], "true");
    assert_eq!(visit["from"], "coupler", "the app's own query is kept");
    let id = visit["enrolment_ids"].clone();
    assert!(!id.contains(','), "one device was ticked: {visit:?}");

    // The enrolment is the REST API's, with the consent the page showed.
    let enrolment = w.app.get_json(&w.tenant, &format!("/enrolments/{id}")).await;
    assert_eq!(enrolment["deviceType"], "CHARGER");
    assert_eq!(enrolment["deviceId"], w.garage.as_str());
    assert_eq!(enrolment["userId"], "alice");
    assert_eq!(enrolment["status"], "ACTIVE", "{enrolment}");
    assert_eq!(
        enrolment["consent"]["dataShared"],
        json!(["chargingSessions", "meterReadings"])
    );
    assert_eq!(enrolment["consent"]["howToLeave"], "Unenrol in the app at any time");
    assert!(enrolment["consent"]["givenAt"].is_string());
    assert_eq!(enrolments(&w).await.len(), 1, "the carport's charger was not ticked");

    // The app hears of it by webhook, as of any enrolment.
    let heard = receiver
        .wait_until("the enrolment's webhook", |events| {
            events
                .iter()
                .any(|e| e["event"] == "user:flex-enrolment:updated" && e["flexEnrolment"]["id"] == id.as_str())
        })
        .await;
    let event = heard.iter().find(|e| e["flexEnrolment"]["id"] == id.as_str()).unwrap();
    assert_eq!(
        event["flexEnrolment"]["consent"]["howToLeave"],
        "Unenrol in the app at any time"
    );
    assert_eq!(receiver.bad_signatures(), 0);

    // The link is spent: the page says so with a way back, and the same form again changes nothing.
    let again = browser.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 410);
    let again = again.text().await.unwrap().replace("&#38;", "&");
    assert!(again.contains("This link has been used"), "{again}");
    assert!(
        again.contains(&format!(
            "{}/linked?from=coupler&success=true&enrolment_ids={id}\"",
            w.site.url
        )),
        "the way back tells the app how it ended: {again}"
    );
    let replay = stepping_browser()
        .post(&url)
        .header("cookie", format!("coupler_enrol={}", form_value(&page, "csrf")))
        .form(&[
            ("csrf", form_value(&page, "csrf").as_str()),
            ("device", &format!("CHARGER:{}", w.carport)),
            ("consent", "yes"),
            ("action", "enrol"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 410);
    assert_eq!(enrolments(&w).await.len(), 1, "a replayed form enrols nothing");
    w.app.stop().await;
}

#[tokio::test]
async fn declining_enrols_nothing_and_sends_the_driver_back_with_declined() {
    let w = world(TestApp::spawn().await).await;
    let session = create_session(&w.app, &w.tenant, &w.program, session_body("alice", &w.site)).await;
    let url = session["enrolmentUrl"].as_str().unwrap();
    let browser = browser();
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let landed = browser
        .post(url)
        .form(&[
            ("csrf", form_value(&page, "csrf").as_str()),
            ("device", &format!("CHARGER:{}", w.garage)),
            ("action", "decline"),
        ])
        .send()
        .await
        .unwrap();
    assert!(landed.url().as_str().starts_with(&format!("{}/linked", w.site.url)));
    let visit = w.site.last_visit().unwrap();
    assert_eq!(visit["error"], "declined");
    assert!(!visit.contains_key("success") && !visit.contains_key("enrolment_ids"));
    assert!(enrolments(&w).await.is_empty());
    let after = browser.get(url).send().await.unwrap();
    assert_eq!(after.status(), 410, "a declined link is spent");
    assert!(after.text().await.unwrap().contains("error=declined"));
    w.app.stop().await;
}

#[tokio::test]
async fn a_forged_form_changes_nothing_and_the_driver_can_still_answer() {
    let w = world(TestApp::spawn().await).await;
    let first = create_session(&w.app, &w.tenant, &w.program, session_body("alice", &w.site)).await;
    let other = create_session(&w.app, &w.tenant, &w.program, session_body("alice", &w.site)).await;
    let url = first["enrolmentUrl"].as_str().unwrap();
    let browser = browser();
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let csrf = form_value(&page, "csrf");
    let other_page = stepping_browser()
        .get(other["enrolmentUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let other_csrf = form_value(&other_page, "csrf");
    assert_ne!(csrf, other_csrf, "each session has its own token");
    let garage = format!("CHARGER:{}", w.garage);
    let enrol_with = |token: &str| {
        vec![
            ("csrf", token.to_owned()),
            ("device", garage.clone()),
            ("consent", "yes".to_owned()),
            ("action", "enrol".to_owned()),
        ]
    };

    // From another site: the form's token is right, but the browser sends no cookie with it.
    let cross_site = stepping_browser()
        .post(url)
        .form(&enrol_with(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(cross_site.text().await.unwrap().contains("Nothing was changed"));
    // The cookie is there, but the form carries another session's token, or none.
    for forged in [enrol_with(&other_csrf), enrol_with("")] {
        let refused = browser.post(url).form(&forged).send().await.unwrap();
        assert_eq!(refused.status(), 403);
    }
    assert!(enrolments(&w).await.is_empty(), "a forged form enrols nothing");

    // Without the consent box ticked, nothing either; the page asks again with the choice kept.
    let unticked = browser
        .post(url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("device", garage.as_str()),
            ("action", "enrol"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(unticked.status(), 422);
    let unticked = unticked.text().await.unwrap();
    assert!(unticked.contains("role=\"alert\""), "{unticked}");
    assert!(unticked.contains(&format!("value=\"{garage}\" checked")), "{unticked}");
    // A device the page did not offer as eligible cannot be slipped in.
    let munich = browser
        .post(url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("device", &format!("CHARGER:{}", w.munich)),
            ("consent", "yes"),
            ("action", "enrol"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(munich.status(), 422);
    assert!(enrolments(&w).await.is_empty());

    // The real form still works.
    let landed = browser.post(url).form(&enrol_with(&csrf)).send().await.unwrap();
    assert!(landed.url().as_str().starts_with(&format!("{}/linked", w.site.url)));
    assert_eq!(w.site.last_visit().unwrap()["success"], "true");
    assert_eq!(enrolments(&w).await.len(), 1);
    w.app.stop().await;
}

#[tokio::test]
async fn a_link_used_after_it_expired_is_an_error_page_with_the_way_back() {
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let wired = clock.clone();
    let w = world(TestApp::spawn_with(move |_, wiring| wiring.clock = wired).await).await;
    let session = create_session(&w.app, &w.tenant, &w.program, session_body("alice", &w.site)).await;
    let url = session["enrolmentUrl"].as_str().unwrap();
    let browser = browser();
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    clock.advance(Duration::hours(25));
    let late = browser
        .post(url)
        .form(&[
            ("csrf", form_value(&page, "csrf").as_str()),
            ("device", &format!("CHARGER:{}", w.garage)),
            ("consent", "yes"),
            ("action", "enrol"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 410);
    let late = late.text().await.unwrap();
    assert!(late.contains("This link has expired"), "{late}");
    assert!(late.contains("error=expired"), "{late}");
    assert!(w
        .app
        .store
        .list_program_enrolments(
            &w.tenant.id,
            &coupler_core::flex::ProgramId::new(w.program.as_str()),
            &coupler_core::PageRequest::first(10)
        )
        .await
        .unwrap()
        .items
        .is_empty());
    let unknown = browser
        .get(format!("{}/enrol/not-a-token", w.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let unknown = unknown.text().await.unwrap();
    assert!(
        unknown.contains("<html lang=\"en\">") && unknown.contains("Link not found"),
        "{unknown}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn bad_session_requests_are_problems_and_another_client_s_program_user_or_device_is_404() {
    let w = world(TestApp::spawn().await).await;
    let path = format!("/programs/{}/enrolment-sessions", w.program);
    let post = |path: String, body: Value| {
        let request = w.app.as_tenant(&w.tenant, Method::POST, &path).json(&body);
        async move { request.send().await.unwrap() }
    };

    let bad = post(
        path.clone(),
        json!({
            "userId": "alice",
            "devices": [{"deviceType": "CHARGER", "deviceId": ""}],
            "consent": {"dataShared": [], "howToLeave": " "},
            "redirectUri": "javascript:alert(1)",
            "language": "klingon",
        }),
    )
    .await;
    assert_eq!(bad.status(), 422);
    let bad = problem(bad).await;
    let pointers: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        vec![
            "/devices/0/deviceId",
            "/consent/dataShared",
            "/consent/howToLeave",
            "/redirectUri",
            "/language"
        ],
        "{bad}"
    );
    let unknown_field = post(path.clone(), json!({"userId": "alice", "surprise": 1})).await;
    assert_eq!(unknown_field.status(), 422);
    problem(unknown_field).await;

    let nobody = post(path.clone(), session_body("nobody", &w.site)).await;
    assert_eq!(nobody.status(), 404);
    problem(nobody).await;
    let mut not_hers = session_body("alice", &w.site);
    not_hers["devices"] = json!([{"deviceType": "VEHICLE", "deviceId": "not-a-vehicle-of-hers"}]);
    let not_hers = post(path.clone(), not_hers).await;
    assert_eq!(not_hers.status(), 404);
    problem(not_hers).await;

    // Another client sees neither the program nor alice.
    let other = w.app.tenant("Someone else").await;
    let theirs = w
        .app
        .as_tenant(&other, Method::POST, &path)
        .json(&session_body("alice", &w.site))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    problem(theirs).await;
    let their_program = oslo_program(&w.app, &other).await;
    let alice_there = w
        .app
        .as_tenant(
            &other,
            Method::POST,
            &format!("/programs/{their_program}/enrolment-sessions"),
        )
        .json(&session_body("alice", &w.site))
        .send()
        .await
        .unwrap();
    assert_eq!(alice_there.status(), 404, "alice is not the other client's user");
    problem(alice_there).await;
    w.app.stop().await;
}

#[tokio::test]
async fn a_session_offers_only_the_devices_the_app_named() {
    let w = world(TestApp::spawn().await).await;
    let mut body = session_body("alice", &w.site);
    body["devices"] = json!([
        {"deviceType": "CHARGER", "deviceId": w.carport},
        {"deviceType": "CHARGER", "deviceId": w.munich},
    ]);
    let session = create_session(&w.app, &w.tenant, &w.program, body).await;
    let page = browser()
        .get(session["enrolmentUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("value=\"CHARGER:{}\"", w.carport)), "{page}");
    assert!(page.contains("Holiday flat"), "{page}");
    assert!(
        !page.contains(w.garage.as_str()) && !page.contains("Spare charger"),
        "{page}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn the_page_names_the_app_with_its_logo_and_speaks_german_to_a_german_browser() {
    let w = world(TestApp::spawn().await).await;
    let named = w
        .app
        .as_tenant(&w.tenant, Method::PUT, "/client/branding")
        .json(&json!({"appName": "Nordlys Smart", "returnUrl": "https://nordlys.example/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 200);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    let logo = w
        .app
        .as_tenant(&w.tenant, Method::PUT, "/client/branding/logo")
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    let mut body = session_body("alice", &w.site);
    body["language"] = json!("browser");
    let session = create_session(&w.app, &w.tenant, &w.program, body).await;
    let url = session["enrolmentUrl"].as_str().unwrap().to_owned();

    let german = browser()
        .get(&url)
        .header("accept-language", "de-AT,de;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(german.status(), 200);
    let page = german.text().await.unwrap();
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    assert!(page.contains("<span class=\"name\">Nordlys Smart</span>"), "{page}");
    assert!(page.contains("alt=\"Logo von Nordlys Smart\""), "{page}");
    for words in [
        "Nordlys Smart betreibt dieses Programm",
        "Was das Programm mit Ihrem Laden macht",
        "begrenzt das Programm, wie viel Strom Ihr Haushalt aus dem Netz bezieht",
        "Höchstens 12 Ereignisse im Jahr.",
        "Jedes Ereignis dauert höchstens 3 Stunden.",
        "Sie erfahren mindestens 1 Stunde vorher",
        "Die Teilnahme ist freiwillig",
        "das Programm jederzeit verlassen",
        "Es liegt außerhalb des Gebiets, das dieses Programm abdeckt.",
        "Nein, danke",
    ] {
        assert!(page.contains(words), "the page says '{words}': {page}");
    }
    assert!(page.contains("hreflang=\"en\""), "a way to English: {page}");

    // A browser with no language Coupler speaks gets English, with the same plain words on opting out.
    let english = browser()
        .get(&url)
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("<html lang=\"en\">"), "{english}");
    assert!(
        english.contains("you can opt out of an event in Nordlys Smart"),
        "{english}"
    );

    // Once answered, the page leads back to the app by its name, telling it how the session ended.
    let declined = browser()
        .post(&url)
        .header("cookie", format!("coupler_enrol={}", form_value(&page, "csrf")))
        .form(&[("csrf", form_value(&page, "csrf").as_str()), ("action", "decline")])
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 200);
    let again = browser()
        .get(&url)
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410);
    let again = again.text().await.unwrap();
    assert!(
        again.contains("Zurück zu Nordlys Smart") && again.contains("error=declined"),
        "{again}"
    );
    w.app.stop().await;
}
