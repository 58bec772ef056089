//! The simulated cloud over HTTP: the OAuth2 authorization server, the vehicle API, and the control
//! API, as an axum router that Coupler mounts under `/sim` or [`SimServer`] serves on its own port.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

use crate::brand::Brand;
use crate::cloud::{ApiRefusal, Grant, Pending, RequestKind, SimCloud, SimVehicle, TokenError};
use crate::html;

/// The scopes the simulated makers know.
const SCOPE_READ: &str = "vehicle.read";
const SCOPE_LOCATION: &str = "location.read";
const SCOPE_CONTROL: &str = "charging.control";

impl SimCloud {
    /// The cloud's HTTP API, with paths relative to wherever it is mounted.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{brand}/oauth/authorize", get(authorize))
            .route("/{brand}/oauth/login", post(login))
            .route("/{brand}/oauth/consent", post(consent))
            .route("/{brand}/oauth/token", post(token))
            .route("/{brand}/api/v1/user", get(account_user))
            .route("/{brand}/api/v1/vehicles", get(list_vehicles))
            .route("/{brand}/api/v1/vehicles/{id}/state", get(vehicle_state))
            .route("/{brand}/api/v1/vehicles/{id}/wake", post(wake))
            .route("/{brand}/api/v1/vehicles/{id}/charging", post(charging))
            .route("/{brand}/api/v1/vehicles/{id}/max-current", put(max_current))
            .route("/control/vehicles", get(control_list))
            .route("/control/vehicles/{id}", post(control_update))
            .route("/control/accounts/{brand}/{username}/revoke", post(control_revoke))
            .with_state(self.clone())
    }

    /// Serves the cloud on `addr` (port 0 picks a free port) until the returned server is dropped
    /// or stopped.
    pub async fn spawn(&self, addr: SocketAddr) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "the simulated OEM cloud stopped");
            }
        });
        Ok(SimServer {
            base_url: format!("http://{addr}"),
            task,
        })
    }
}

/// A simulated cloud served on its own port.
#[derive(Debug)]
pub struct SimServer {
    /// Its base URL, without a trailing slash.
    pub base_url: String,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Stops serving.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn brand_of(slug: &str) -> Result<Brand, Box<Response>> {
    Brand::from_slug(slug)
        .ok_or_else(|| Box::new((StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response()))
}

// ----- OAuth2 authorization server -----

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn html_error(status: StatusCode, message: &str) -> Response {
    (status, Html(html::error(message))).into_response()
}

/// Appends OAuth parameters to the client's redirect URI.
fn back_to(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return html_error(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    Redirect::to(url.as_str()).into_response()
}

async fn authorize(
    State(cloud): State<SimCloud>,
    Path(slug): Path<String>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    // RFC 6749 §4.1.2.1: with an unknown client or redirect URI, tell the person, never redirect.
    let (Some(client_id), Some(redirect_uri)) = (q.client_id.as_deref(), q.redirect_uri.as_deref()) else {
        return html_error(StatusCode::BAD_REQUEST, "client_id and redirect_uri are required");
    };
    if !cloud.check_client_redirect(client_id, redirect_uri) {
        return html_error(
            StatusCode::BAD_REQUEST,
            "unknown client, or a redirect URI the client did not register",
        );
    }
    let state = q.state.as_deref();
    if q.response_type.as_deref() != Some("code") {
        return back_to(
            redirect_uri,
            &[("error", Some("unsupported_response_type")), ("state", state)],
        );
    }
    let challenge = match (q.code_challenge.as_deref(), q.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if !c.is_empty() => c.to_owned(),
        _ => {
            return back_to(
                redirect_uri,
                &[
                    ("error", Some("invalid_request")),
                    (
                        "error_description",
                        Some("PKCE with code_challenge_method=S256 is required"),
                    ),
                    ("state", state),
                ],
            )
        }
    };
    let scopes: Vec<String> = q
        .scope
        .as_deref()
        .unwrap_or(SCOPE_READ)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(bad) = scopes
        .iter()
        .find(|s| ![SCOPE_READ, SCOPE_LOCATION, SCOPE_CONTROL].contains(&s.as_str()))
    {
        return back_to(
            redirect_uri,
            &[
                ("error", Some("invalid_scope")),
                ("error_description", Some(&format!("unknown scope {bad}"))),
                ("state", state),
            ],
        );
    }
    let request_id = cloud.start_authorization(Pending {
        brand,
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: q.state.clone(),
        challenge,
        account: None,
        created: chrono::Utc::now(),
    });
    Html(html::login(brand.name(), &request_id, None, &cloud.test_logins(brand))).into_response()
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    request_id: String,
    username: String,
    password: String,
}

async fn login(State(cloud): State<SimCloud>, Path(slug): Path<String>, Form(form): Form<LoginForm>) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(pending) = cloud.pending(&form.request_id).filter(|p| p.brand == brand) else {
        return html_error(
            StatusCode::BAD_REQUEST,
            "this sign-in request is unknown or has expired",
        );
    };
    if !cloud.login(&form.request_id, &form.username, &form.password) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(html::login(
                brand.name(),
                &form.request_id,
                Some("Wrong username or password."),
                &cloud.test_logins(brand),
            )),
        )
            .into_response();
    }
    Html(html::consent(
        brand.name(),
        &form.request_id,
        &pending.client_id,
        &pending.scopes,
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ConsentForm {
    request_id: String,
    decision: String,
}

async fn consent(State(cloud): State<SimCloud>, Path(slug): Path<String>, Form(form): Form<ConsentForm>) -> Response {
    if let Err(r) = brand_of(&slug) {
        return *r;
    }
    let approve = form.decision == "approve";
    let Some((pending, code)) = cloud.decide(&form.request_id, approve) else {
        return html_error(
            StatusCode::BAD_REQUEST,
            "this sign-in request is unknown, expired, or not signed in",
        );
    };
    match code {
        Some(code) => back_to(
            &pending.redirect_uri,
            &[("code", Some(&code)), ("state", pending.state.as_deref())],
        ),
        None => back_to(
            &pending.redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_description", Some("The account owner denied access")),
                ("state", pending.state.as_deref()),
            ],
        ),
    }
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

async fn token(
    State(cloud): State<SimCloud>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    cloud.count(brand, RequestKind::Token);
    let credentials = basic_credentials(&headers).or_else(|| form.client_id.clone().zip(form.client_secret.clone()));
    let Some((client_id, secret)) = credentials else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required",
        );
    };
    let result = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let (Some(code), Some(redirect_uri)) = (form.code.as_deref(), form.redirect_uri.as_deref()) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code and redirect_uri are required",
                );
            };
            cloud.exchange_code(
                brand,
                &client_id,
                &secret,
                code,
                redirect_uri,
                form.code_verifier.as_deref().unwrap_or_default(),
            )
        }
        Some("refresh_token") => {
            let Some(refresh) = form.refresh_token.as_deref() else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required");
            };
            cloud.refresh(brand, &client_id, &secret, refresh)
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            )
        }
    };
    match result {
        Ok(issued) => ([(header::CACHE_CONTROL, "no-store")], Json(issued)).into_response(),
        Err(TokenError::InvalidClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ),
        Err(TokenError::InvalidGrant(why)) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why),
    }
}

// ----- Vehicle API -----

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl IntoResponse for ApiRefusal {
    fn into_response(self) -> Response {
        let (status, error, message) = match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is missing, expired or revoked".to_owned(),
            ),
            Self::Forbidden(scope) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this needs the {scope} scope"),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such vehicle on this account".to_owned(),
            ),
            Self::Asleep => (
                StatusCode::REQUEST_TIMEOUT,
                "vehicle_unavailable",
                "the vehicle is asleep or offline; wake it first".to_owned(),
            ),
            Self::RateLimited(seconds) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, seconds.to_string())],
                    Json(json!({"error": "rate_limited", "message": "too many requests for this account"})),
                )
                    .into_response()
            }
            Self::NotSupported(why) => (StatusCode::NOT_IMPLEMENTED, "not_supported", why),
            Self::Conflict(error, message) => (StatusCode::CONFLICT, error, message.to_owned()),
            Self::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", why),
        };
        (status, Json(json!({"error": error, "message": message}))).into_response()
    }
}

fn need(grant: &Grant, scope: &'static str) -> Result<(), ApiRefusal> {
    if grant.scopes.iter().any(|s| s == scope) {
        Ok(())
    } else {
        Err(ApiRefusal::Forbidden(scope))
    }
}

fn awake(car: &SimVehicle) -> Result<(), ApiRefusal> {
    if car.asleep {
        Err(ApiRefusal::Asleep)
    } else {
        Ok(())
    }
}

/// Who the token belongs to: the account's own identity at the maker, as real makers tell it.
async fn account_user(State(cloud): State<SimCloud>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    match cloud.authorize(brand, bearer(&headers), RequestKind::Account) {
        Ok(grant) => Json(json!({ "id": format!("{}-user-{}", brand.slug(), grant.account) })).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn list_vehicles(State(cloud): State<SimCloud>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let grant = match cloud.authorize(brand, bearer(&headers), RequestKind::List) {
        Ok(g) => g,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = need(&grant, SCOPE_READ) {
        return refusal.into_response();
    }
    // Listing is answered by the cloud, not the car: it works while cars sleep and does not wake them.
    let vehicles: Vec<_> = cloud
        .account_vehicles(&grant)
        .iter()
        .map(|v| {
            json!({
                "id": v.id, "vin": v.vin, "model": v.model, "year": v.year, "name": v.name,
                "state": if v.asleep { "asleep" } else { "online" },
            })
        })
        .collect();
    Json(json!({ "vehicles": vehicles })).into_response()
}

async fn vehicle_state(
    State(cloud): State<SimCloud>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = cloud
        .authorize(brand, bearer(&headers), RequestKind::State)
        .and_then(|grant| {
            need(&grant, SCOPE_READ)?;
            let with_location = grant.scopes.iter().any(|s| s == SCOPE_LOCATION);
            cloud.with_vehicle(&grant, &id, |car, now| {
                awake(car)?;
                // Reading a car keeps it awake, as with real cars: polling too often drains them.
                car.last_activity = now;
                Ok(())
            })?;
            // The cloud answers with its last refreshed view of the car, not the live one.
            let car = cloud.reported_vehicle(&id).ok_or(ApiRefusal::NotFound)?;
            {
                let mut body = json!({
                    "id": car.id,
                    "recordedAt": car.recorded_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "battery": {
                        "levelPercent": (car.battery_level * 10.0).round() / 10.0,
                        "rangeKm": car.range_km().round(),
                        "capacityKwh": car.capacity_kwh,
                    },
                    "charging": {
                        "pluggedIn": car.plugged_in,
                        "status": car.status(),
                        "powerKw": (car.power_kw() * 100.0).round() / 100.0,
                        "limitPercent": car.charge_limit,
                        "maxCurrentA": car.max_current,
                        "minutesToLimit": car.minutes_to_limit().map(f64::round),
                    },
                });
                if with_location {
                    body["location"] = json!({"latitude": car.latitude, "longitude": car.longitude});
                }
                Ok(body)
            }
        });
    match result {
        Ok(body) => Json(body).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn wake(State(cloud): State<SimCloud>, Path((slug, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = cloud
        .authorize(brand, bearer(&headers), RequestKind::Wake)
        .and_then(|grant| {
            need(&grant, SCOPE_READ)?;
            cloud.with_vehicle(&grant, &id, |car, now| {
                car.asleep = false;
                car.last_activity = now;
                Ok(())
            })
        });
    match result {
        Ok(()) => Json(json!({"state": "online"})).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ChargingBody {
    action: String,
}

async fn charging(
    State(cloud): State<SimCloud>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<ChargingBody>, JsonRejection>,
) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = cloud
        .authorize(brand, bearer(&headers), RequestKind::Command)
        .and_then(|grant| {
            need(&grant, SCOPE_CONTROL)?;
            let Ok(Json(body)) = body else {
                return Err(ApiRefusal::Invalid(
                    "the body must be {\"action\": \"start\"|\"stop\"}".into(),
                ));
            };
            cloud.with_vehicle(&grant, &id, |car, now| {
                let capabilities = brand.capabilities(&car.model);
                let start = match body.action.as_str() {
                    "start" => true,
                    "stop" => false,
                    other => return Err(ApiRefusal::Invalid(format!("unknown action '{other}'"))),
                };
                let support = if start {
                    capabilities.start_charging
                } else {
                    capabilities.stop_charging
                };
                if let coupler_core::capability::Support::No(why) = support {
                    return Err(ApiRefusal::NotSupported(why));
                }
                awake(car)?;
                if !car.plugged_in {
                    return Err(ApiRefusal::Conflict("not_plugged_in", "the vehicle is not plugged in"));
                }
                if !car.ignores_commands {
                    car.charge_enabled = start;
                    // A maker's "start charging" is "charge now": it overrides the car's own schedule.
                    if start {
                        car.schedule_hold = false;
                    }
                }
                car.last_activity = now;
                Ok(())
            })
        });
    match result {
        Ok(()) => Json(json!({"result": "accepted"})).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct MaxCurrentBody {
    amps: i64,
}

async fn max_current(
    State(cloud): State<SimCloud>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<MaxCurrentBody>, JsonRejection>,
) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let result = cloud
        .authorize(brand, bearer(&headers), RequestKind::Command)
        .and_then(|grant| {
            need(&grant, SCOPE_CONTROL)?;
            let Ok(Json(body)) = body else {
                return Err(ApiRefusal::Invalid("the body must be {\"amps\": 6..32}".into()));
            };
            cloud.with_vehicle(&grant, &id, |car, now| {
                if let coupler_core::capability::Support::No(why) = brand.capabilities(&car.model).set_max_current {
                    return Err(ApiRefusal::NotSupported(why));
                }
                if !(6..=32).contains(&body.amps) {
                    return Err(ApiRefusal::Invalid("amps must be between 6 and 32".into()));
                }
                awake(car)?;
                if !car.ignores_commands {
                    car.max_current = u32::try_from(body.amps).unwrap_or(16);
                }
                car.last_activity = now;
                Ok(())
            })
        });
    match result {
        Ok(()) => Json(json!({"result": "accepted"})).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

// ----- Control API (sandbox) -----

async fn control_list(State(cloud): State<SimCloud>) -> Response {
    let cars: Vec<_> = cloud
        .vehicles()
        .iter()
        .filter(|car| !car.private)
        .map(control_view)
        .collect();
    Json(json!({ "vehicles": cars })).into_response()
}

fn control_view(car: &SimVehicle) -> serde_json::Value {
    let mut view = serde_json::to_value(car).unwrap_or_default();
    view["brand"] = json!(car.brand.slug());
    view["status"] = json!(car.status());
    view["powerKw"] = json!(car.power_kw());
    view
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ControlUpdate {
    plugged_in: Option<bool>,
    battery_level: Option<f64>,
    charge_limit: Option<f64>,
    asleep: Option<bool>,
    power_available: Option<bool>,
    ignores_commands: Option<bool>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

async fn control_update(
    State(cloud): State<SimCloud>,
    Path(id): Path<String>,
    Json(change): Json<ControlUpdate>,
) -> Response {
    let in_range = |v: Option<f64>, lo: f64, hi: f64| v.is_none_or(|v| v.is_finite() && (lo..=hi).contains(&v));
    if !in_range(change.battery_level, 0.0, 100.0)
        || !in_range(change.charge_limit, 50.0, 100.0)
        || !in_range(change.latitude, -90.0, 90.0)
        || !in_range(change.longitude, -180.0, 180.0)
    {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "invalid_value", "message": "a value is out of range"})),
        )
            .into_response();
    }
    // The sandbox's cars are their owners' alone (through the authenticated sandbox API).
    if cloud.vehicle(&id).is_none_or(|car| car.private) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response();
    }
    let updated = cloud.update_vehicle(&id, |car| {
        if let Some(v) = change.plugged_in {
            // A car wakes when a cable goes in, as real cars do.
            if v && !car.plugged_in {
                car.asleep = false;
                car.last_activity = cloud.now();
            }
            car.plugged_in = v;
        }
        if let Some(v) = change.battery_level {
            car.battery_level = v;
        }
        if let Some(v) = change.charge_limit {
            car.charge_limit = v;
        }
        if let Some(v) = change.asleep {
            car.asleep = v;
        }
        if let Some(v) = change.power_available {
            car.power_available = v;
        }
        if let Some(v) = change.ignores_commands {
            car.ignores_commands = v;
        }
        if let Some(v) = change.latitude {
            car.latitude = v;
        }
        if let Some(v) = change.longitude {
            car.longitude = v;
        }
    });
    match updated {
        Some(car) => Json(control_view(&car)).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response(),
    }
}

async fn control_revoke(State(cloud): State<SimCloud>, Path((slug, username)): Path<(String, String)>) -> Response {
    let brand = match brand_of(&slug) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    cloud.revoke_account(brand, &username);
    StatusCode::NO_CONTENT.into_response()
}
