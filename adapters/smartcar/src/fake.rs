//! A local Smartcar that answers as Smartcar documents it, errors included, for tests over real HTTP.
//!
//! It serves Connect's authorization endpoint (approving at once: Smartcar's own pages are not
//! Coupler's to test), the token endpoint (HTTP Basic client credentials, PKCE checked when a
//! challenge was sent, single-use codes, refresh tokens replaced on use), and the v2.0 Vehicle API:
//! vehicles, attributes, VIN, battery, capacity, charge, charge limit, location, the Tesla ammeter,
//! charge commands and batch. Errors use Smartcar's body
//! `{type, code, description, docURL, statusCode, requestId, resolution}`. Tests script failures
//! ([`Fault`]) and count what it received.

#![allow(
    clippy::unwrap_used,
    reason = "test support: a poisoned lock should fail the test loudly"
)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// A vehicle in the fake account.
#[derive(Debug, Clone)]
pub struct FakeVehicle {
    /// Smartcar's vehicle id.
    pub id: String,
    /// Make, upper case as Smartcar writes it.
    pub make: String,
    /// Model.
    pub model: String,
    /// Year.
    pub year: i32,
    /// VIN.
    pub vin: String,
    /// 0 to 1.
    pub percent_remaining: f64,
    /// Km.
    pub range: f64,
    /// kWh.
    pub capacity: f64,
    /// Plugged in.
    pub is_plugged_in: bool,
    /// CHARGING, FULLY_CHARGED, NOT_CHARGING.
    pub state: String,
    /// 0.5 to 1.
    pub limit: f64,
    /// Tesla only.
    pub amperage: f64,
    /// Whether it answers VEHICLE_STATE:ASLEEP.
    pub asleep: bool,
}

impl FakeVehicle {
    /// A plugged-in vehicle of `make` that is not charging.
    pub fn new(id: &str, make: &str) -> Self {
        Self {
            id: id.to_owned(),
            make: make.to_owned(),
            model: "Test Model".into(),
            year: 2022,
            vin: format!("VIN{id}").chars().take(17).collect(),
            percent_remaining: 0.42,
            range: 210.0,
            capacity: 64.0,
            is_plugged_in: true,
            state: "NOT_CHARGING".into(),
            limit: 0.8,
            amperage: 16.0,
            asleep: false,
        }
    }
}

/// A scripted failure for the next Vehicle API request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 RATE_LIMIT:VEHICLE with `retry-after` seconds.
    RateLimited(u64),
    /// 430 BILLING:VEHICLE_REQUEST_LIMIT.
    Billing,
    /// A Smartcar error with this status, type and code.
    Error(u16, &'static str, &'static str),
    /// 200 with an HTML page.
    Html,
    /// 200 with JSON cut off in the middle.
    TruncatedJson,
    /// No answer for this long.
    Stall(Duration),
}

#[derive(Debug)]
struct Code {
    challenge: Option<String>,
    redirect_uri: String,
    used: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    client_id: String,
    client_secret: String,
    vehicles: Vec<FakeVehicle>,
    codes: HashMap<String, Code>,
    access: HashMap<String, bool>,
    refresh: HashMap<String, bool>,
    faults: VecDeque<Fault>,
    requests: HashMap<String, u64>,
    modes: Vec<String>,
}

/// The fake Smartcar.
#[derive(Debug, Clone)]
pub struct FakeSmartcar {
    state: Arc<Mutex<FakeState>>,
}

/// A running fake.
#[derive(Debug)]
pub struct FakeSmartcarServer {
    /// The fake's state, to script and inspect.
    pub fake: FakeSmartcar,
    /// Base URL: Connect at `/oauth/authorize`, tokens at `/oauth/token`, the API at `/v2.0`.
    pub base_url: String,
    task: JoinHandle<()>,
}

impl Drop for FakeSmartcarServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A Smartcar v2 error response.
fn sc_error(status: u16, kind: &str, code: Option<&str>, description: &str, resolution: Option<&str>) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(error_body(status, kind, code, description, resolution)),
    )
        .into_response()
}

fn error_body(
    status: u16,
    kind: &str,
    code: Option<&str>,
    description: &str,
    resolution: Option<&str>,
) -> serde_json::Value {
    json!({
        "type": kind, "code": code, "description": description,
        "docURL": format!("https://smartcar.com/docs/errors/api-errors/{}", kind.to_ascii_lowercase()),
        "statusCode": status, "requestId": token(),
        "resolution": {"type": resolution},
        "suggestedUserMessage": "Something went wrong.",
    })
}

impl FakeSmartcar {
    /// Starts a fake on a random local port for the client `client_id` / `client_secret`.
    pub async fn spawn(client_id: &str, client_secret: &str, vehicles: Vec<FakeVehicle>) -> FakeSmartcarServer {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeSmartcar {
            state: Arc::new(Mutex::new(FakeState {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                vehicles,
                ..FakeState::default()
            })),
        };
        let router = Router::new()
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(token_endpoint))
            .route("/v2.0/user", get(user))
            .route("/v2.0/vehicles", get(list))
            .route("/v2.0/vehicles/{id}", get(attributes))
            .route("/v2.0/vehicles/{id}/vin", get(|s, p, h| single(s, p, h, "/vin")))
            .route(
                "/v2.0/vehicles/{id}/battery",
                get(|s, p, h| single(s, p, h, "/battery")),
            )
            .route(
                "/v2.0/vehicles/{id}/battery/capacity",
                get(|s, p, h| single(s, p, h, "/battery/capacity")),
            )
            .route(
                "/v2.0/vehicles/{id}/charge",
                get(|s, p, h| single(s, p, h, "/charge")).post(charge),
            )
            .route(
                "/v2.0/vehicles/{id}/charge/limit",
                get(|s, p, h| single(s, p, h, "/charge/limit")),
            )
            .route(
                "/v2.0/vehicles/{id}/location",
                get(|s, p, h| single(s, p, h, "/location")),
            )
            .route(
                "/v2.0/vehicles/{id}/tesla/charge/ammeter",
                get(|s, p, h| single(s, p, h, "/tesla/charge/ammeter")).post(ammeter),
            )
            .route("/v2.0/vehicles/{id}/batch", post(batch))
            .with_state(fake.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeSmartcarServer { fake, base_url, task }
    }

    /// Scripts a failure for the next Vehicle API request.
    pub fn fail_next(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// How many requests of `kind` arrived: `token`, `vehicles`, `attributes`, `batch`, `charge`,
    /// `ammeter`, or a single read's path such as `/battery`.
    pub fn count(&self, kind: &str) -> u64 {
        self.state.lock().unwrap().requests.get(kind).copied().unwrap_or(0)
    }

    /// The `mode` values Connect was opened with.
    pub fn modes(&self) -> Vec<String> {
        self.state.lock().unwrap().modes.clone()
    }

    /// Changes a vehicle.
    pub fn update_vehicle(&self, id: &str, change: impl FnOnce(&mut FakeVehicle)) {
        if let Some(v) = self.state.lock().unwrap().vehicles.iter_mut().find(|v| v.id == id) {
            change(v);
        }
    }

    /// A vehicle as it is now.
    pub fn vehicle(&self, id: &str) -> Option<FakeVehicle> {
        self.state.lock().unwrap().vehicles.iter().find(|v| v.id == id).cloned()
    }

    /// Makes every access token expire (refresh tokens keep working).
    pub fn expire_access_tokens(&self) {
        for valid in self.state.lock().unwrap().access.values_mut() {
            *valid = false;
        }
    }

    /// Revokes every token, as when the user disconnects the app in Smartcar's dashboard.
    pub fn revoke_all(&self) {
        let mut state = self.state.lock().unwrap();
        for valid in state.access.values_mut() {
            *valid = false;
        }
        for valid in state.refresh.values_mut() {
            *valid = false;
        }
    }

    fn count_request(&self, kind: &str) {
        *self.state.lock().unwrap().requests.entry(kind.to_owned()).or_default() += 1;
    }

    async fn gate(&self, headers: &HeaderMap, kind: &str) -> Option<Response> {
        self.count_request(kind);
        let fault = self.state.lock().unwrap().faults.pop_front();
        if let Some(fault) = fault {
            return Some(match fault {
                Fault::RateLimited(seconds) => {
                    let mut r = sc_error(
                        429,
                        "RATE_LIMIT",
                        Some("VEHICLE"),
                        "You have reached the throttling rate limit for this vehicle.",
                        Some("RETRY_LATER"),
                    );
                    r.headers_mut()
                        .insert("retry-after", seconds.to_string().parse().unwrap());
                    r
                }
                Fault::Billing => sc_error(
                    430,
                    "BILLING",
                    Some("VEHICLE_REQUEST_LIMIT"),
                    "You have reached the monthly request limit for this vehicle.",
                    None,
                ),
                Fault::Error(status, kind, code) => {
                    sc_error(status, kind, (!code.is_empty()).then_some(code), "scripted error", None)
                }
                Fault::Html => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<!DOCTYPE html><html><body>Bad Gateway</body></html>",
                )
                    .into_response(),
                Fault::TruncatedJson => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"responses\":[{\"path\":\"/battery\",\"co",
                )
                    .into_response(),
                Fault::Stall(delay) => {
                    tokio::time::sleep(delay).await;
                    (StatusCode::GATEWAY_TIMEOUT, "late").into_response()
                }
            });
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if self.state.lock().unwrap().access.get(bearer).copied().unwrap_or(false) {
            None
        } else {
            Some(sc_error(
                401,
                "AUTHENTICATION",
                None,
                "The provided authorization token is invalid or expired.",
                Some("REAUTHENTICATE"),
            ))
        }
    }

    /// The answer to one read of `path` on vehicle `id`: (status, body, data age).
    fn read(&self, id: &str, path: &str) -> (u16, serde_json::Value) {
        let state = self.state.lock().unwrap();
        let Some(v) = state.vehicles.iter().find(|v| v.id == id) else {
            return (
                404,
                error_body(
                    404,
                    "RESOURCE_NOT_FOUND",
                    Some("PATH"),
                    "The vehicle was not found.",
                    None,
                ),
            );
        };
        if v.asleep && path != "/vin" {
            return (
                409,
                error_body(
                    409,
                    "VEHICLE_STATE",
                    Some("ASLEEP"),
                    "The vehicle is in a sleep state and temporarily unable to perform your request.",
                    Some("RETRY_LATER"),
                ),
            );
        }
        match path {
            "/vin" => (200, json!({"vin": v.vin})),
            "/battery" => (200, json!({"percentRemaining": v.percent_remaining, "range": v.range})),
            "/battery/capacity" => (200, json!({"capacity": v.capacity})),
            "/charge" => (200, json!({"isPluggedIn": v.is_plugged_in, "state": v.state})),
            "/charge/limit" => (200, json!({"limit": v.limit})),
            "/location" => (200, json!({"latitude": 37.4292, "longitude": -122.1381})),
            "/tesla/charge/ammeter" if v.make == "TESLA" => (200, json!({"amperage": v.amperage})),
            "/tesla/charge/ammeter" => (
                501,
                error_body(
                    501,
                    "COMPATIBILITY",
                    Some("MAKE_NOT_COMPATIBLE"),
                    "This endpoint is only available for Tesla.",
                    None,
                ),
            ),
            _ => (
                404,
                error_body(404, "RESOURCE_NOT_FOUND", Some("PATH"), "Unknown path.", None),
            ),
        }
    }
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    mode: Option<String>,
    code_challenge: Option<String>,
}

async fn authorize(State(fake): State<FakeSmartcar>, Query(q): Query<AuthorizeQuery>) -> Response {
    let (Some(client_id), Some(redirect_uri)) = (q.client_id, q.redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "client_id and redirect_uri are required").into_response();
    };
    let mut state = fake.state.lock().unwrap();
    if client_id != state.client_id {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    state.modes.push(q.mode.unwrap_or_else(|| "live".into()));
    let code = token();
    state.codes.insert(
        code.clone(),
        Code {
            challenge: q.code_challenge,
            redirect_uri: redirect_uri.clone(),
            used: false,
        },
    );
    let mut url = url::Url::parse(&redirect_uri).unwrap();
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = q.state {
        url.query_pairs_mut().append_pair("state", &s);
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn token_endpoint(State(fake): State<FakeSmartcar>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    fake.count_request("token");
    let mut state = fake.state.lock().unwrap();
    let expected = STANDARD.encode(format!("{}:{}", state.client_id, state.client_secret));
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if basic != Some(expected.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials.",
        );
    }
    match form.grant_type.as_str() {
        "authorization_code" => {
            let Some(code) = form.code.as_deref().and_then(|c| state.codes.get_mut(c)) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid or expired authorization code.",
                );
            };
            if code.used {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid or expired authorization code.",
                );
            }
            code.used = true;
            if form.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri does not match.");
            }
            if let Some(challenge) = &code.challenge {
                let verifier = form.code_verifier.as_deref().unwrap_or_default();
                if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "code_verifier does not match.",
                    );
                }
            }
        }
        "refresh_token" => {
            let presented = form.refresh_token.unwrap_or_default();
            match state.refresh.get_mut(&presented) {
                Some(valid) if *valid => *valid = false,
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid or expired refresh token.",
                    )
                }
            }
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", ""),
    }
    let (access, refresh) = (token(), token());
    state.access.insert(access.clone(), true);
    state.refresh.insert(refresh.clone(), true);
    Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 7200, "refresh_token": refresh}))
        .into_response()
}

/// The one account's owner.
async fn user(State(fake): State<FakeSmartcar>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "user").await {
        return r;
    }
    Json(json!({"id": "e0514ef4-5226-11e8-8c13-8f6e8f02e27e"})).into_response()
}

async fn list(State(fake): State<FakeSmartcar>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "vehicles").await {
        return r;
    }
    let ids: Vec<_> = fake
        .state
        .lock()
        .unwrap()
        .vehicles
        .iter()
        .map(|v| v.id.clone())
        .collect();
    let count = ids.len();
    Json(json!({"vehicles": ids, "paging": {"count": count, "offset": 0}})).into_response()
}

async fn attributes(State(fake): State<FakeSmartcar>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "attributes").await {
        return r;
    }
    let found = fake.vehicle(&id);
    match found {
        Some(v) => Json(json!({"id": v.id, "make": v.make, "model": v.model, "year": v.year})).into_response(),
        None => sc_error(
            404,
            "RESOURCE_NOT_FOUND",
            Some("PATH"),
            "The vehicle was not found.",
            None,
        ),
    }
}

fn data_age() -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(90)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn single(
    State(fake): State<FakeSmartcar>,
    Path(id): Path<String>,
    headers: HeaderMap,
    path: &'static str,
) -> Response {
    if let Some(r) = fake.gate(&headers, path).await {
        return r;
    }
    let (status, body) = fake.read(&id, path);
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(body)).into_response();
    if status == 200 {
        response
            .headers_mut()
            .insert("sc-data-age", data_age().parse().unwrap());
    }
    response
}

#[derive(Debug, Deserialize)]
struct BatchBody {
    requests: Vec<BatchRequest>,
}

#[derive(Debug, Deserialize)]
struct BatchRequest {
    path: String,
}

async fn batch(
    State(fake): State<FakeSmartcar>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<BatchBody>,
) -> Response {
    if let Some(r) = fake.gate(&headers, "batch").await {
        return r;
    }
    if fake.vehicle(&id).is_none() {
        return sc_error(
            404,
            "RESOURCE_NOT_FOUND",
            Some("PATH"),
            "The vehicle was not found.",
            None,
        );
    }
    let responses: Vec<_> = body
        .requests
        .iter()
        .map(|r| {
            let (code, body) = fake.read(&id, &r.path);
            let headers = if code == 200 {
                json!({"sc-data-age": data_age(), "sc-unit-system": "metric"})
            } else {
                json!({})
            };
            json!({"path": r.path, "code": code, "headers": headers, "body": body})
        })
        .collect();
    Json(json!({"responses": responses})).into_response()
}

#[derive(Debug, Deserialize)]
struct ChargeBody {
    action: String,
}

async fn charge(
    State(fake): State<FakeSmartcar>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<ChargeBody>,
) -> Response {
    if let Some(r) = fake.gate(&headers, "charge").await {
        return r;
    }
    let mut state = fake.state.lock().unwrap();
    let Some(v) = state.vehicles.iter_mut().find(|v| v.id == id) else {
        return sc_error(
            404,
            "RESOURCE_NOT_FOUND",
            Some("PATH"),
            "The vehicle was not found.",
            None,
        );
    };
    if v.asleep {
        return sc_error(
            409,
            "VEHICLE_STATE",
            Some("ASLEEP"),
            "The vehicle is asleep.",
            Some("RETRY_LATER"),
        );
    }
    if !v.is_plugged_in {
        return sc_error(
            409,
            "VEHICLE_STATE",
            Some("CHARGING_PLUG_NOT_CONNECTED"),
            "The vehicle is not plugged in.",
            None,
        );
    }
    match body.action.as_str() {
        "START" => v.state = "CHARGING".into(),
        "STOP" => v.state = "NOT_CHARGING".into(),
        _ => {
            return sc_error(
                400,
                "VALIDATION",
                Some("PARAMETER"),
                "action must be START or STOP",
                None,
            )
        }
    }
    Json(json!({"status": "success", "message": "Successfully sent request to vehicle"})).into_response()
}

#[derive(Debug, Deserialize)]
struct AmmeterBody {
    amperage: f64,
}

async fn ammeter(
    State(fake): State<FakeSmartcar>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AmmeterBody>,
) -> Response {
    if let Some(r) = fake.gate(&headers, "ammeter").await {
        return r;
    }
    let mut state = fake.state.lock().unwrap();
    let Some(v) = state.vehicles.iter_mut().find(|v| v.id == id) else {
        return sc_error(
            404,
            "RESOURCE_NOT_FOUND",
            Some("PATH"),
            "The vehicle was not found.",
            None,
        );
    };
    if v.make != "TESLA" {
        return sc_error(501, "COMPATIBILITY", Some("MAKE_NOT_COMPATIBLE"), "Tesla only.", None);
    }
    v.amperage = body.amperage.min(32.0);
    Json(json!({"status": "success", "message": "Successfully sent request to vehicle"})).into_response()
}
