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
