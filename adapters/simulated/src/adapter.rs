//! Coupler's adapter for the simulated makers: `VehicleAdapter` over HTTP with reqwest, exactly as
//! the real adapters talk to theirs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coupler_adapter_http::{decode, http_client, send, Answer, ClientAuth, OAuthClient, DEFAULT_TIMEOUT};
use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::{AuthorizationRequest, Credentials, VehicleRef, VendorDescription, VendorLimits};
use coupler_core::capability::Scope;
use coupler_core::vehicle::{
    ChargeState, Location, PowerDeliveryState, VehicleInformation, VehicleSnapshot, VendorVehicle,
};
use coupler_core::{AdapterError, VehicleAdapter};
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::brand::Brand;

/// A simulated maker, reached over HTTP.
#[derive(Debug)]
pub struct SimulatedAdapter {
    brand: Brand,
    base: String,
    description: VendorDescription,
    oauth: OAuthClient,
    http: reqwest::Client,
}

impl SimulatedAdapter {
    /// An adapter for `brand` at the cloud served at `base_url` (for example `http://127.0.0.1:4000`
    /// or `https://coupler.example/sim`), with Coupler's client registration there.
    pub fn new(brand: Brand, base_url: &str, client_id: &str, client_secret: &str) -> Result<Self, url::ParseError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let http = http_client(DEFAULT_TIMEOUT);
        let oauth = OAuthClient {
            client_id: client_id.to_owned(),
            client_secret: Some(Secret::new(client_secret)),
            authorize_url: Url::parse(&format!("{base}/{}/oauth/authorize", brand.slug()))?,
            token_url: Url::parse(&format!("{base}/{}/oauth/token", brand.slug()))?,
            auth: ClientAuth::Basic,
            extra_authorize_params: Vec::new(),
            extra_token_params: Vec::new(),
            http: http.clone(),
        };
        let limits = if brand.rate_limits() {
            // Below the maker's own limit, so Coupler is not the one that gets throttled.
            VendorLimits {
                burst: 5,
                per_minute: 10.0,
                daily_polls_per_vehicle: 200,
            }
        } else {
            VendorLimits {
                burst: 30,
                per_minute: 60.0,
                daily_polls_per_vehicle: 2000,
            }
        };
        Ok(Self {
            brand,
            description: VendorDescription {
                vendor: brand.vendor(),
                display_name: brand.display_name().to_owned(),
                scopes: Scope::ALL.to_vec(),
                limits,
            },
            base,
            oauth,
            http,
        })
    }

    /// The same adapter with other limits (tests use tight ones).
    pub fn with_limits(mut self, limits: VendorLimits) -> Self {
        self.description.limits = limits;
        self
    }

    /// The same adapter with another request timeout.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.http = http_client(timeout);
        self.oauth.http = self.http.clone();
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/api/v1{path}", self.base, self.brand.slug())
    }

    fn vehicle_url(&self, vehicle: VehicleRef<'_>, rest: &str) -> String {
        // The maker's id goes into a path segment: encode it, whatever it holds.
        let id: String = url::form_urlencoded::byte_serialize(vehicle.vendor_vehicle_id.as_bytes()).collect();
        self.url(&format!("/vehicles/{id}{rest}"))
    }
}

/// The simulated API's error body.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

/// Turns a non-2xx answer into the adapter error it means.
fn refusal(answer: &Answer, what: &str) -> AdapterError {
    let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    let detail = if body.error.is_empty() {
        format!("{what}: HTTP {}: {}", answer.status.as_u16(), answer.snippet())
    } else {
        format!("{what}: {} ({})", body.error, body.message)
    };
    match answer.status {
        StatusCode::UNAUTHORIZED => AdapterError::CredentialsInvalid(detail),
        StatusCode::FORBIDDEN => AdapterError::NotCapable(detail),
        StatusCode::REQUEST_TIMEOUT => AdapterError::Asleep(detail),
        StatusCode::CONFLICT => AdapterError::Refused(detail),
        StatusCode::NOT_IMPLEMENTED => AdapterError::NotCapable(detail),
        StatusCode::TOO_MANY_REQUESTS => AdapterError::RateLimited {
            retry_after: answer.retry_after(),
            detail,
        },
        _ => AdapterError::Upstream(detail),
    }
}

fn ok_or_refusal(answer: Answer, what: &str) -> Result<Answer, AdapterError> {
    if answer.status.is_success() {
        Ok(answer)
    } else {
        Err(refusal(&answer, what))
    }
}

#[derive(Debug, Deserialize)]
struct VehicleList {
    vehicles: Vec<ListedVehicle>,
}

#[derive(Debug, Deserialize)]
struct ListedVehicle {
    id: String,
    vin: Option<String>,
    model: Option<String>,
    year: Option<i32>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateBody {
    recorded_at: Option<DateTime<Utc>>,
    battery: Battery,
    charging: Charging,
    location: Option<Position>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Battery {
    level_percent: Option<f64>,
    range_km: Option<f64>,
    capacity_kwh: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Charging {
    plugged_in: Option<bool>,
    status: Option<String>,
    power_kw: Option<f64>,
    limit_percent: Option<f64>,
    max_current_a: Option<f64>,
    minutes_to_limit: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Position {
    latitude: f64,
    longitude: f64,
}

fn power_state(plugged_in: Option<bool>, status: Option<&str>) -> PowerDeliveryState {
    match (plugged_in, status) {
        (Some(false), _) | (_, Some("unplugged")) => PowerDeliveryState::Unplugged,
        (_, Some("charging")) => PowerDeliveryState::Charging,
        (_, Some("complete")) => PowerDeliveryState::Complete,
        (_, Some("stopped")) => PowerDeliveryState::Stopped,
        (_, Some("no_power")) => PowerDeliveryState::NoPower,
        _ => PowerDeliveryState::Unknown,
    }
}

fn vendor_scope(scope: Scope) -> &'static str {
    match scope {
        Scope::ReadData => "vehicle.read",
        Scope::ReadLocation => "location.read",
        Scope::ControlCharging => "charging.control",
    }
}

/// `GET /user`: who the token belongs to.
#[derive(Debug, Deserialize)]
struct AccountUser {
    id: String,
}

#[async_trait]
impl VehicleAdapter for SimulatedAdapter {
    fn description(&self) -> &VendorDescription {
        &self.description
    }

    fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<Url, AdapterError> {
        let scopes: Vec<String> = request.scopes.iter().map(|s| vendor_scope(*s).to_owned()).collect();
        Ok(self.oauth.authorization_url(request, &scopes))
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &Secret,
        redirect_uri: &Url,
    ) -> Result<TokenSet, AdapterError> {
        self.oauth.exchange_code(code, pkce_verifier, redirect_uri).await
    }

    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, AdapterError> {
        self.oauth.refresh(refresh_token).await
    }

    async fn discover_account(&self, _access_token: &Secret) -> Result<serde_json::Value, AdapterError> {
        // One cloud, one region: nothing to learn about the account.
        Ok(serde_json::json!({}))
    }

    async fn account_identity(&self, credentials: Credentials<'_>) -> Result<Option<String>, AdapterError> {
        let answer = send(
            self.http
                .get(self.url("/user"))
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        let user: AccountUser = decode(&ok_or_refusal(answer, "GET /user")?, "GET /user")?;
        Ok(Some(user.id))
    }

    async fn list_vehicles(&self, credentials: Credentials<'_>) -> Result<Vec<VendorVehicle>, AdapterError> {
        let answer = send(
            self.http
                .get(self.url("/vehicles"))
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        let list: VehicleList = decode(&ok_or_refusal(answer, "GET /vehicles")?, "GET /vehicles")?;
        Ok(list
            .vehicles
            .into_iter()
            .map(|v| {
                let model = v.model.clone().unwrap_or_default();
                VendorVehicle {
                    vendor_vehicle_id: v.id,
                    capabilities: self.brand.capabilities(&model),
                    information: VehicleInformation {
                        vin: v.vin,
                        brand: Some(self.brand.name().to_owned()),
                        model: v.model,
                        year: v.year,
                        display_name: v.name,
                    },
                    meta: serde_json::json!({}),
                }
            })
            .collect())
    }

    async fn read_state(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
    ) -> Result<VehicleSnapshot, AdapterError> {
        let answer = send(
            self.http
                .get(self.vehicle_url(vehicle, "/state"))
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        let body: StateBody = decode(&ok_or_refusal(answer, "GET state")?, "GET state")?;
        let state = power_state(body.charging.plugged_in, body.charging.status.as_deref());
        Ok(VehicleSnapshot {
            charge_state: ChargeState {
                battery_level: body.battery.level_percent,
                range: body.battery.range_km,
                is_plugged_in: body.charging.plugged_in,
                is_charging: None,
                is_fully_charged: None,
                battery_capacity: body.battery.capacity_kwh,
                charge_limit: body.charging.limit_percent,
                charge_rate: body.charging.power_kw,
                charge_time_remaining: body.charging.minutes_to_limit,
                max_current: body.charging.max_current_a,
                power_delivery_state: Some(state),
                plugged_in_charger_id: None,
                last_updated: body.recorded_at,
            }
            .with_derived_flags(),
            location: body.location.map(|p| Location {
                latitude: Some(p.latitude),
                longitude: Some(p.longitude),
                last_updated: body.recorded_at,
            }),
        })
    }

    async fn start_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        let answer = send(
            self.http
                .post(self.vehicle_url(vehicle, "/charging"))
                .bearer_auth(credentials.access_token.expose())
                .json(&serde_json::json!({"action": "start"})),
        )
        .await?;
        ok_or_refusal(answer, "start charging").map(drop)
    }

    async fn stop_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        let answer = send(
            self.http
                .post(self.vehicle_url(vehicle, "/charging"))
                .bearer_auth(credentials.access_token.expose())
                .json(&serde_json::json!({"action": "stop"})),
        )
        .await?;
        ok_or_refusal(answer, "stop charging").map(drop)
    }

    async fn set_max_current(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
        amps: u32,
    ) -> Result<(), AdapterError> {
        let answer = send(
            self.http
                .put(self.vehicle_url(vehicle, "/max-current"))
                .bearer_auth(credentials.access_token.expose())
                .json(&serde_json::json!({"amps": amps})),
        )
        .await?;
        ok_or_refusal(answer, "set max current").map(drop)
    }

    async fn wake(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        let answer = send(
            self.http
                .post(self.vehicle_url(vehicle, "/wake"))
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        ok_or_refusal(answer, "wake").map(drop)
    }
}
