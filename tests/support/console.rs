//! The console as a browser uses it, over HTTP: a login made the way `coupler console-login add`
//! makes it, signing in through the form, and pages and forms with the session's cookie and CSRF
//! token.

use std::io::Cursor;

use coupler::cli::{console_logins, ConsoleLoginCommand};
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::{Tenant, TestApp};

/// The password every test login gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// Makes a console login for `tenant` with `email` and [`PASSWORD`], through the CLI's code.
pub async fn make_login(app: &TestApp, tenant: &Tenant, email: &str) {
    let command = ConsoleLoginCommand::Add {
        client: tenant.id.as_str().to_owned(),
        email: email.to_owned(),
        password_stdin: true,
        json: true,
    };
    console_logins(app.store.as_ref(), command, &mut Cursor::new(format!("{PASSWORD}\n")))
        .await
        .expect("make a console login");
}

/// The value of the cookie `name` a response sets, with its attributes (`value; Path=…; HttpOnly…`).
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v[name.len() + 1..].to_owned())
}

/// The value of the hidden `_csrf` field in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().expect("a closed value").to_owned()
}

/// A browser's view of the sign-in form: its CSRF cookie and token.
pub async fn sign_in_form(app: &TestApp) -> (String, String) {
    let form = app
        .request(reqwest::Method::GET, "/console/sign-in")
        .header(ACCEPT, "text/html")
        .send()
        .await
        .expect("sign-in page");
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = set_cookie(&form, "coupler_console_sign_in").expect("the sign-in form's cookie");
    let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
    let html = form.text().await.expect("html");
    (cookie, csrf_in(&html))
}

/// Posts the sign-in form with `email` and `password`, as a browser that loaded the form does.
pub async fn submit_sign_in(app: &TestApp, email: &str, password: &str) -> Response {
    let (cookie, csrf) = sign_in_form(app).await;
    app.request(reqwest::Method::POST, "/console/sign-in")
        .header(COOKIE, format!("coupler_console_sign_in={cookie}"))
        .header(ACCEPT, "text/html")
        .form(&[("_csrf", csrf.as_str()), ("email", email), ("password", password)])
        .send()
        .await
        .expect("sign in")
}

/// A signed-in browser, over plain HTTP.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session cookie's value.
    pub session: String,
    /// The session's CSRF token, as its pages carry it.
    pub csrf: String,
}

impl SignedIn {
    /// Signs in with `email` and [`PASSWORD`].
    pub async fn sign_in(app: &TestApp, email: &str) -> Self {
        let response = submit_sign_in(app, email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signing in as {email}");
        let cookie = set_cookie(&response, "coupler_console").expect("a session cookie");
        let session = cookie.split(';').next().unwrap_or_default().to_owned();
        let mut browser = Self {
            session,
            csrf: String::new(),
        };
        let (status, html) = browser.page(app, "/console/users").await;
        assert_eq!(status, StatusCode::OK);
        browser.csrf = csrf_in(&html);
        browser
    }

    /// A GET of `path` with the session cookie, as a page.
    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        app.request(reqwest::Method::GET, path)
            .header(COOKIE, format!("coupler_console={}", self.session))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .expect("console GET")
    }

    /// A page's status and HTML.
    pub async fn page(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let response = self.get(app, path).await;
        let status = response.status();
        (status, response.text().await.expect("html"))
    }

    /// Posts a form to `path` with the session's CSRF token and `fields`.
    pub async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form = vec![("_csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_raw(app, path, &form).await
    }

    /// Posts exactly `fields` (no CSRF token unless among them).
    pub async fn post_raw(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response {
        app.request(reqwest::Method::POST, path)
            .header(COOKIE, format!("coupler_console={}", self.session))
            .header(ACCEPT, "text/html")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form"))
            .send()
            .await
            .expect("console POST")
    }
}

/// Where a 303 sends the browser.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A webhook of `tenant`'s for every event, sent to `url` and signed with `secret`; its id.
pub async fn webhook(app: &TestApp, tenant: &Tenant, url: &str, secret: &str) -> String {
    let made = app
        .post_json_status(
            tenant,
            "/webhooks",
            serde_json::json!({"url": url, "secret": secret, "events": ["*"]}),
            201,
        )
        .await;
    made["id"].as_str().expect("a webhook id").to_owned()
}

/// A capacity-limit program of `tenant`'s named `name`, with user alice's `charger` enrolled and
/// an 8 A event starting in half an hour: the program's id and the event's.
pub async fn program_with_event(app: &TestApp, tenant: &Tenant, name: &str, charger: &str) -> (String, String) {
    let program = app
        .post_json_status(
            tenant,
            "/programs",
            serde_json::json!({
                "name": name,
                "kind": "CAPACITY_LIMIT",
                "eligibility": {"deviceKinds": ["CHARGER"], "requiredCapabilities": [], "serviceArea": []},
                "limits": {"maxEventMinutes": 180, "minNoticeMinutes": 0},
                "incentive": {"perEvent": {"amount": 2.5, "currency": "EUR"}},
            }),
            201,
        )
        .await;
    let program_id = program["id"].as_str().expect("a program id").to_owned();
    app.post_json_status(
        tenant,
        &format!("/programs/{program_id}/enrolments"),
        serde_json::json!({"userId": "alice", "deviceType": "CHARGER", "deviceId": charger,
               "consent": {"dataShared": ["chargingSessions"], "howToLeave": "Unenrol in the app"}}),
        201,
    )
    .await;
    let event = app
        .post_json_status(
            tenant,
            &format!("/programs/{program_id}/events"),
            serde_json::json!({"start": (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339(),
                   "durationMinutes": 60, "kind": "IMPORT_LIMIT", "value": 8, "unit": "A",
                   "targets": {"program": true}}),
            201,
        )
        .await;
    (program_id, event["id"].as_str().expect("an event id").to_owned())
}

/// Coupler with webhooks allowed to private addresses, sent every 50 ms, and retried quickly until
/// `give_up_after`.
pub async fn spawn_with_quick_webhooks(give_up_after: std::time::Duration) -> TestApp {
    TestApp::spawn_with(|_, wiring| {
        wiring.webhooks.allow_private = true;
        wiring.webhooks.tick = std::time::Duration::from_millis(50);
        wiring.webhooks.retry = coupler_core::event::RetryPolicy {
            first_delay: std::time::Duration::from_millis(100),
            max_delay: std::time::Duration::from_millis(200),
            give_up_after,
        };
    })
    .await
}
