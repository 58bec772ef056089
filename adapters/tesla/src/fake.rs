//! A local Fleet API that answers as Tesla documents it, errors included, for tests over real HTTP.
//!
//! It serves the authorization endpoint (it approves at once: Tesla's own sign-in page is not
//! Coupler's to test), the token endpoint (PKCE checked, codes single use, refresh tokens rotated
//! and single use; a refused refresh answers `401 login_required` and a used code
//! `invalid_auth_code`, as Tesla's server does), region discovery, the vehicle list,
//! `fleet_status`, vehicle data, commands and `wake_up`, and a vehicle-command proxy under `/proxy`.
//! Tests script failures ([`Fault`]) and count what it received.

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
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// A car in the fake fleet.
#[derive(Debug, Clone)]
pub struct FakeCar {
    /// The numeric id.
    pub id: i64,
    /// VIN (the vehicle tag Coupler uses).
    pub vin: String,
    /// The owner's name for it.
    pub display_name: String,
    /// `online`, `asleep` or `offline`.
    pub state: String,
    /// Percent.
    pub battery_level: f64,
    /// Miles.
    pub battery_range: f64,
    /// Disconnected, Charging, Stopped, Complete, NoPower, Starting.
    pub charging_state: String,
    /// `<invalid>` when unplugged.
    pub conn_charge_cable: String,
    /// Percent.
    pub charge_limit_soc: f64,
    /// Amperes requested.
    pub charge_current_request: f64,
    /// Whether the car accepts only signed commands.
    pub signed_required: bool,
}

impl FakeCar {
    /// A plugged-in, online Model 3 that is not charging.
    pub fn model3(vin: &str) -> Self {
        Self {
            id: 1_492_931_000 + i64::from(vin.bytes().map(u32::from).sum::<u32>()),
            vin: vin.to_owned(),
            display_name: "Red Pepper".into(),
            state: "online".into(),
            battery_level: 55.0,
            battery_range: 180.0,
            charging_state: "Stopped".into(),
            conn_charge_cable: "IEC".into(),
            charge_limit_soc: 80.0,
            charge_current_request: 16.0,
            signed_required: true,
        }
    }
}

/// A scripted failure for the next API request (not the token endpoint).
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    RateLimited(u64),
    /// 200 with an HTML page.
    Html,
    /// 200 with JSON cut off in the middle.
    TruncatedJson,
    /// Any status with a body.
    Status(u16, String),
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
    base_url: String,
    cars: Vec<FakeCar>,
    codes: HashMap<String, Code>,
    access: HashMap<String, bool>,
    refresh: HashMap<String, bool>,
    faults: VecDeque<Fault>,
    requests: HashMap<String, u64>,
    access_ttl: u64,
}

/// The fake Fleet API.
#[derive(Debug, Clone)]
pub struct FakeTesla {
    state: Arc<Mutex<FakeState>>,
}

/// A running fake, with its base URL.
#[derive(Debug)]
pub struct FakeTeslaServer {
    /// The fake's state, to script and inspect.
    pub fake: FakeTesla,
    /// Base URL (authorization, token, Fleet API).
    pub base_url: String,
    task: JoinHandle<()>,
}

impl Drop for FakeTeslaServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl FakeTesla {
    /// Starts a fake on a random local port for the client `client_id` / `client_secret`.
    pub async fn spawn(client_id: &str, client_secret: &str, cars: Vec<FakeCar>) -> FakeTeslaServer {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeTesla {
            state: Arc::new(Mutex::new(FakeState {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                base_url: base_url.clone(),
                cars,
                access_ttl: 28_800,
                ..FakeState::default()
            })),
        };
        let router = fake.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeTeslaServer { fake, base_url, task }
    }

    fn router(&self) -> Router {
        let api = Router::new()
            .route("/api/1/vehicles/{tag}/command/{name}", post(command))
            .with_state((self.clone(), false));
        let proxy = Router::new()
            .route("/api/1/vehicles/{tag}/command/{name}", post(command))
            .with_state((self.clone(), true));
        Router::new()
            .route("/oauth2/v3/authorize", get(authorize))
            .route("/oauth2/v3/token", post(token_endpoint))
            .route("/api/1/users/region", get(region))
            .route("/api/1/vehicles", get(vehicles))
            .route("/api/1/vehicles/fleet_status", post(fleet_status))
            .route("/api/1/vehicles/{tag}", get(vehicle))
            .route("/api/1/vehicles/{tag}/vehicle_data", get(vehicle_data))
            .route("/api/1/vehicles/{tag}/wake_up", post(wake_up))
            .with_state(self.clone())
            .merge(api)
            .nest("/proxy", proxy)
    }

    /// Scripts a failure for the next API request.
    pub fn fail_next(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// How many requests of `kind` arrived: `token`, `region`, `vehicles`, `fleet_status`,
    /// `vehicle`, `vehicle_data`, `wake_up`, `command:<name>`, `proxy:<name>`.
    pub fn count(&self, kind: &str) -> u64 {
        self.state.lock().unwrap().requests.get(kind).copied().unwrap_or(0)
    }

    /// Changes a car.
    pub fn update_car(&self, vin: &str, change: impl FnOnce(&mut FakeCar)) {
        let mut state = self.state.lock().unwrap();
        if let Some(car) = state.cars.iter_mut().find(|c| c.vin == vin) {
            change(car);
        }
    }

    /// A car as it is now.
    pub fn car(&self, vin: &str) -> Option<FakeCar> {
        self.state.lock().unwrap().cars.iter().find(|c| c.vin == vin).cloned()
    }

    /// Makes every access token expire (refresh tokens keep working).
    pub fn expire_access_tokens(&self) {
        for valid in self.state.lock().unwrap().access.values_mut() {
            *valid = false;
        }
    }

    /// Revokes every token, as when the owner removes the app's access in the Tesla app.
    pub fn revoke_all(&self) {
        let mut state = self.state.lock().unwrap();
        for valid in state.access.values_mut() {
            *valid = false;
        }
        for valid in state.refresh.values_mut() {
            *valid = false;
        }
    }

    /// How long new access tokens live, in seconds.
    pub fn set_access_ttl(&self, seconds: u64) {
        self.state.lock().unwrap().access_ttl = seconds;
    }

    fn count_request(&self, kind: &str) {
        *self.state.lock().unwrap().requests.entry(kind.to_owned()).or_default() += 1;
    }

    /// Counts the request, checks the bearer token, and plays a scripted fault if one is queued.
    async fn gate(&self, headers: &HeaderMap, kind: &str) -> Option<Response> {
        self.count_request(kind);
        let fault = self.state.lock().unwrap().faults.pop_front();
        if let Some(fault) = fault {
            return Some(match fault {
                Fault::RateLimited(seconds) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (header::RETRY_AFTER, seconds.to_string()),
                        (header::HeaderName::from_static("ratelimit-remaining"), "0".to_owned()),
                    ],
                    Json(json!({"response": null, "error": "Too Many Requests", "error_description": ""})),
                )
                    .into_response(),
                Fault::Html => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body><h1>Service Unavailable</h1></body></html>",
                )
                    .into_response(),
                Fault::TruncatedJson => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"response\":{\"charge_state\":{\"battery_le",
                )
                    .into_response(),
                Fault::Status(status, body) => (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
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
        let valid = self.state.lock().unwrap().access.get(bearer).copied().unwrap_or(false);
        if valid {
            None
        } else {
            Some(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"response": null, "error": "token expired (401)", "error_description": ""})),
                )
                    .into_response(),
            )
        }
    }

    fn with_car<T>(&self, tag: &str, f: impl FnOnce(&mut FakeCar) -> T) -> Option<T> {
        let mut state = self.state.lock().unwrap();
        state
            .cars
            .iter_mut()
            .find(|c| c.vin == tag || c.id.to_string() == tag)
            .map(f)
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"response": null, "error": "not_found", "error_description": ""})),
    )
        .into_response()
}

fn asleep() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        Json(json!({"response": null, "error": "vehicle unavailable: vehicle is offline or asleep", "error_description": ""})),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
}

async fn authorize(State(fake): State<FakeTesla>, Query(q): Query<AuthorizeQuery>) -> Response {
    let (Some(client_id), Some(redirect_uri)) = (q.client_id, q.redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "client_id and redirect_uri are required").into_response();
    };
    if client_id != fake.state.lock().unwrap().client_id {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    let code = token();
    fake.state.lock().unwrap().codes.insert(
        code.clone(),
        Code {
            challenge: q.code_challenge,
            redirect_uri: redirect_uri.clone(),
            used: false,
        },
    );
    let mut url = url::Url::parse(&redirect_uri).unwrap();
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = q.state {
        url.query_pairs_mut().append_pair("state", &state);
    }
    url.query_pairs_mut()
        .append_pair("issuer", "https://auth.tesla.com/oauth2/v3");
    Redirect::to(url.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn token_endpoint(State(fake): State<FakeTesla>, Form(form): Form<TokenForm>) -> Response {
    fake.count_request("token");
    let mut state = fake.state.lock().unwrap();
    if form.client_id.as_deref() != Some(state.client_id.as_str()) {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    }
    match form.grant_type.as_str() {
        "authorization_code" => {
            if form.client_secret.as_deref() != Some(state.client_secret.as_str()) {
                return token_error(StatusCode::UNAUTHORIZED, "invalid_client", "bad client secret");
            }
            let Some(code) = form.code.as_deref().and_then(|c| state.codes.get_mut(c)) else {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_auth_code",
                    "The authorization code is invalid",
                );
            };
            if code.used {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_auth_code",
                    "The authorization code was already used",
                );
            }
            code.used = true;
            if form.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
                return token_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri mismatch");
            }
            if let Some(challenge) = &code.challenge {
                let verifier = form.code_verifier.as_deref().unwrap_or_default();
                if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
                    return token_error(StatusCode::BAD_REQUEST, "invalid_request", "code_verifier mismatch");
                }
            }
        }
        "refresh_token" => {
            let presented = form.refresh_token.unwrap_or_default();
            match state.refresh.get_mut(&presented) {
                Some(valid) if *valid => *valid = false,
                _ => {
                    return token_error(
                        StatusCode::UNAUTHORIZED,
                        "login_required",
                        "The refresh_token is invalid. Generate a new refresh_token by forcing the user to re-authenticate.",
                    )
                }
            }
        }
        _ => return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", ""),
    }
    let (access, refresh) = (token(), token());
    state.access.insert(access.clone(), true);
    state.refresh.insert(refresh.clone(), true);
    Json(json!({
        "access_token": access,
        "refresh_token": refresh,
        "id_token": "eyJ.fake.jwt",
        "expires_in": state.access_ttl,
        "state": null,
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn region(State(fake): State<FakeTesla>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "region").await {
        return r;
    }
    let base = fake.state.lock().unwrap().base_url.clone();
    Json(json!({"response": {"region": "eu", "fleet_api_base_url": base}})).into_response()
}

fn listed(car: &FakeCar) -> serde_json::Value {
    json!({
        "id": car.id, "vehicle_id": car.id + 7, "vin": car.vin, "display_name": car.display_name,
        "access_type": "OWNER", "state": car.state, "in_service": false, "id_s": car.id.to_string(),
        "api_version": 71,
    })
}

async fn vehicles(State(fake): State<FakeTesla>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "vehicles").await {
        return r;
    }
    let cars: Vec<_> = fake.state.lock().unwrap().cars.iter().map(listed).collect();
    let count = cars.len();
    Json(json!({"response": cars, "count": count})).into_response()
}

#[derive(Debug, Deserialize)]
struct Vins {
    vins: Vec<String>,
}

async fn fleet_status(State(fake): State<FakeTesla>, headers: HeaderMap, Json(body): Json<Vins>) -> Response {
    if let Some(r) = fake.gate(&headers, "fleet_status").await {
        return r;
    }
    let state = fake.state.lock().unwrap();
    let mut info = serde_json::Map::new();
    for vin in &body.vins {
        if let Some(car) = state.cars.iter().find(|c| &c.vin == vin) {
            info.insert(
                vin.clone(),
                json!({"firmware_version": "2024.26.7", "vehicle_command_protocol_required": car.signed_required,
                       "discounted_device_data": false, "fleet_telemetry_version": "1.0.0", "total_number_of_keys": 3}),
            );
        }
    }
    Json(json!({"response": {"key_paired_vins": [], "unpaired_vins": body.vins, "vehicle_info": info}})).into_response()
}

async fn vehicle(State(fake): State<FakeTesla>, Path(tag): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "vehicle").await {
        return r;
    }
    match fake.with_car(&tag, |car| listed(car)) {
        Some(v) => Json(json!({"response": v})).into_response(),
        None => not_found(),
    }
}

async fn vehicle_data(State(fake): State<FakeTesla>, Path(tag): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "vehicle_data").await {
        return r;
    }
    let now = chrono::Utc::now().timestamp_millis();
    let body = fake.with_car(&tag, |car| {
        if car.state != "online" {
            return None;
        }
        let charging = car.charging_state == "Charging";
        Some(json!({
            "id": car.id, "vin": car.vin, "state": car.state,
            "charge_state": {
                "battery_level": car.battery_level, "usable_battery_level": car.battery_level - 1.0,
                "battery_range": car.battery_range, "est_battery_range": car.battery_range - 10.0,
                "charging_state": car.charging_state, "conn_charge_cable": car.conn_charge_cable,
                "charge_limit_soc": car.charge_limit_soc, "charge_current_request": car.charge_current_request,
                "charge_current_request_max": 32, "charger_power": if charging { 11 } else { 0 },
                "charger_voltage": if charging { 230 } else { 0 }, "charger_phases": if charging { json!(3) } else { serde_json::Value::Null },
                "minutes_to_full_charge": if charging { 75 } else { 0 }, "charge_port_latch": "Engaged",
                "user_charge_enable_request": serde_json::Value::Null, "timestamp": now - 1500,
            },
            "drive_state": {"latitude": 59.91, "longitude": 10.75, "heading": 90, "timestamp": now - 1500},
        }))
    });
    match body {
        Some(Some(data)) => Json(json!({"response": data})).into_response(),
        Some(None) => asleep(),
        None => not_found(),
    }
}

async fn wake_up(State(fake): State<FakeTesla>, Path(tag): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = fake.gate(&headers, "wake_up").await {
        return r;
    }
    match fake.with_car(&tag, |car| {
        car.state = "online".into();
        listed(car)
    }) {
        Some(v) => Json(json!({"response": v})).into_response(),
        None => not_found(),
    }
}

async fn command(
    State((fake, via_proxy)): State<(FakeTesla, bool)>,
    Path((tag, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Option<Json<serde_json::Value>>,
) -> Response {
    let kind = format!("{}:{name}", if via_proxy { "proxy" } else { "command" });
    if let Some(r) = fake.gate(&headers, &kind).await {
        return r;
    }
    let amps = body.and_then(|Json(b)| b.get("charging_amps").and_then(serde_json::Value::as_f64));
    let outcome = fake.with_car(&tag, |car| {
        if car.signed_required && !via_proxy {
            return Err((
                StatusCode::FORBIDDEN,
                "Tesla Vehicle Command Protocol required, please refer to the documentation here: \
                 https://developer.tesla.com/docs/fleet-api#2023-10-09-rest-api-vehicle-commands-endpoint-deprecation-warning",
            ));
        }
        if car.state != "online" {
            return Err((StatusCode::REQUEST_TIMEOUT, "vehicle unavailable: vehicle is offline or asleep"));
        }
        let plugged = car.conn_charge_cable != "<invalid>";
        Ok(match name.as_str() {
            "charge_start" if !plugged => (false, "disconnected"),
            "charge_start" if car.charging_state == "Charging" => (false, "is_charging"),
            "charge_start" if car.battery_level >= car.charge_limit_soc => (false, "complete"),
            "charge_start" => {
                car.charging_state = "Charging".into();
                (true, "")
            }
            "charge_stop" if car.charging_state != "Charging" => (false, "not_charging"),
            "charge_stop" => {
                car.charging_state = "Stopped".into();
                (true, "")
            }
            "set_charging_amps" => match amps {
                Some(a) if (0.0..=48.0).contains(&a) => {
                    car.charge_current_request = a;
                    (true, "")
                }
                _ => (false, "invalid charging_amps"),
            },
            _ => (false, "unknown command"),
        })
    });
    match outcome {
        Some(Ok((result, reason))) => Json(json!({"response": {"result": result, "reason": reason}})).into_response(),
        Some(Err((status, error))) => (
            status,
            Json(json!({"response": null, "error": error, "error_description": ""})),
        )
            .into_response(),
        None => not_found(),
    }
}
