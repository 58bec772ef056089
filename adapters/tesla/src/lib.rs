//! Coupler's adapter for the Tesla Fleet API.
//!
//! - OAuth: third-party tokens by authorization code (with PKCE), `audience` set to the Fleet API;
//!   refresh tokens are single use (Coupler's engine replaces them atomically).
//! - Region discovery: `GET /api/1/users/region` names the account's regional Fleet API; only the
//!   configured regional URLs are accepted, so a bearer token is never sent anywhere else.
//! - Vehicles: `GET /api/1/vehicles`, and `POST /api/1/vehicles/fleet_status` to learn which cars
//!   accept only signed commands (the Vehicle Command Protocol).
//! - State: `GET /api/1/vehicles/{vin}` first (free, answered by the cloud): a car that is not
//!   online is reported asleep without asking it, so polling never wakes it; then
//!   `vehicle_data?endpoints=charge_state;location_data`, whose 408 also means asleep.
//! - Commands: `charge_start`, `charge_stop`, `set_charging_amps`, sent through the configured
//!   vehicle-command proxy for cars that need signed commands, straight to the Fleet API otherwise;
//!   `wake_up` only when a command needs it.
//! - Errors: 401 refused credentials, 408 asleep, 429 rate limited (`Retry-After`), 403/422 not
//!   capable, 412/421/451/5xx/540 and unreadable answers upstream failures.

#[cfg(feature = "fake")]
pub mod fake;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coupler_adapter_http::{decode, http_client, send, Answer, ClientAuth, OAuthClient, DEFAULT_TIMEOUT};
use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::{AuthorizationRequest, Credentials, VehicleRef, VendorDescription, VendorLimits};
use coupler_core::capability::{ModelCapabilities, Scope};
use coupler_core::vehicle::{
    ChargeState, Location, PowerDeliveryState, VehicleInformation, VehicleSnapshot, VendorVehicle,
};
use coupler_core::{AdapterError, VehicleAdapter, Vendor};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use url::Url;

/// Kilometres per mile: the Fleet API reports range in miles.
const KM_PER_MILE: f64 = 1.609_344;

/// How Coupler reaches Tesla.
#[derive(Debug, Clone)]
pub struct TeslaConfig {
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: Secret,
    /// The authorization endpoint.
    pub authorize_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// The Fleet API asked for the account's region, and the token `audience`.
    pub discovery_url: Url,
    /// The regional Fleet API URLs an account may be sent to.
    pub regional_urls: Vec<Url>,
    /// The vehicle-command proxy (teslamotors/vehicle-command `tesla-http-proxy`) that signs commands.
    pub command_proxy_url: Option<Url>,
    /// Timeout per request.
    pub timeout: Duration,
    /// How hard Coupler may use the Fleet API.
    pub limits: VendorLimits,
}

fn fixed_url(text: &str) -> Url {
    // Constant URLs, checked by the tests below; a typo would fail them, not production.
    Url::parse(text).expect("a valid constant URL")
}

impl TeslaConfig {
    /// Tesla's production endpoints and conservative limits, with an empty client.
    pub fn production() -> Self {
        Self {
            client_id: String::new(),
            client_secret: Secret::new(""),
            authorize_url: fixed_url("https://auth.tesla.com/oauth2/v3/authorize"),
            token_url: fixed_url("https://fleet-auth.prd.vn.cloud.tesla.com/oauth2/v3/token"),
            discovery_url: fixed_url("https://fleet-api.prd.na.vn.cloud.tesla.com"),
            regional_urls: vec![
                fixed_url("https://fleet-api.prd.na.vn.cloud.tesla.com"),
                fixed_url("https://fleet-api.prd.eu.vn.cloud.tesla.com"),
                fixed_url("https://fleet-api.prd.cn.vn.cloud.tesla.cn"),
            ],
            command_proxy_url: None,
            timeout: DEFAULT_TIMEOUT,
            // Tesla's published per-vehicle allowance was 200 data requests a day; stay under it.
            limits: VendorLimits {
                burst: 20,
                per_minute: 60.0,
                daily_polls_per_vehicle: 150,
            },
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The Tesla Fleet API adapter.
#[derive(Debug)]
pub struct TeslaAdapter {
    config: TeslaConfig,
    description: VendorDescription,
    oauth: OAuthClient,
    http: reqwest::Client,
}

/// The vendor name.
pub const VENDOR: &str = "TESLA";

fn base(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

impl TeslaAdapter {
    /// An adapter for `config`.
    pub fn new(config: TeslaConfig) -> Result<Self, ConfigError> {
        if config.client_id.is_empty() {
            return Err(ConfigError("the Tesla client id is empty".into()));
        }
        let http = http_client(config.timeout);
        let oauth = OAuthClient {
            client_id: config.client_id.clone(),
            client_secret: Some(config.client_secret.clone()),
            authorize_url: config.authorize_url.clone(),
            token_url: config.token_url.clone(),
            // Tesla's token endpoint takes the client credentials as form fields.
            auth: ClientAuth::RequestBody,
            extra_authorize_params: Vec::new(),
            extra_token_params: vec![("audience".into(), base(&config.discovery_url))],
            http: http.clone(),
        };
        let description = VendorDescription {
            vendor: Vendor::parse(VENDOR).map_err(|e| ConfigError(e.to_string()))?,
            display_name: "Tesla".into(),
            scopes: Scope::ALL.to_vec(),
            limits: config.limits,
        };
        Ok(Self {
            config,
            description,
            oauth,
            http,
        })
    }

    /// The regional Fleet API of an account, as discovery stored it.
    fn fleet_base(&self, credentials: Credentials<'_>) -> String {
        credentials
            .account_meta
            .get("fleetApiBaseUrl")
            .and_then(|v| v.as_str())
            .map(|s| s.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| base(&self.config.discovery_url))
    }

    fn tag(vehicle: VehicleRef<'_>) -> String {
        url::form_urlencoded::byte_serialize(vehicle.vendor_vehicle_id.as_bytes()).collect()
    }

    /// Where a command for `vehicle` goes: the signing proxy for cars that need signed commands.
    fn command_base(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<String, AdapterError> {
        let signed = vehicle
            .meta
            .get("signedCommands")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        match (signed, &self.config.command_proxy_url) {
            (false, _) => Ok(self.fleet_base(credentials)),
            (true, Some(proxy)) => Ok(base(proxy)),
            (true, None) => Err(AdapterError::NotCapable(NEEDS_PROXY.into())),
        }
    }

    fn model_capabilities(&self, signed: bool) -> ModelCapabilities {
        if signed && self.config.command_proxy_url.is_none() {
            ModelCapabilities::full().without_commands(NEEDS_PROXY)
        } else {
            ModelCapabilities::full()
        }
    }

    async fn command(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
        name: &str,
        body: serde_json::Value,
    ) -> Result<CommandResult, AdapterError> {
        let url = format!(
            "{}/api/1/vehicles/{}/command/{name}",
            self.command_base(credentials, vehicle)?,
            Self::tag(vehicle)
        );
        let answer = send(
            self.http
                .post(url)
                .bearer_auth(credentials.access_token.expose())
                .json(&body),
        )
        .await?;
        let what = format!("command {name}");
        let envelope: Envelope<CommandResult> = decode(&ok_or_refusal(answer, &what)?, &what)?;
        envelope
            .response
            .ok_or_else(|| AdapterError::Upstream(format!("{what}: the answer has no response")))
    }
}

const NEEDS_PROXY: &str =
    "this Tesla accepts only signed commands, and no vehicle-command proxy is configured (COUPLER_TESLA_COMMAND_PROXY_URL)";

/// The Fleet API's envelope: `{response, error, error_description}`.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    response: Option<T>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// What a non-2xx answer means.
fn refusal(answer: &Answer, what: &str) -> AdapterError {
    let body: ErrorEnvelope = serde_json::from_slice(&answer.body).unwrap_or_default();
    let said = match (body.error.as_deref(), body.error_description.as_deref()) {
        (Some(e), Some(d)) if !d.is_empty() => format!("{e}: {d}"),
        (Some(e), _) => e.to_owned(),
        _ => answer.snippet(),
    };
    let detail = format!("{what}: HTTP {}: {said}", answer.status.as_u16());
    match answer.status.as_u16() {
        401 => AdapterError::CredentialsInvalid(detail),
        403 | 422 => AdapterError::NotCapable(detail),
        408 => AdapterError::Asleep(detail),
        423 => AdapterError::Refused(detail),
        429 => AdapterError::RateLimited {
            retry_after: answer.retry_after(),
            detail,
        },
        _ => AdapterError::Upstream(detail),
    }
}

fn ok_or_refusal(answer: Answer, what: &str) -> Result<Answer, AdapterError> {
    if answer.status == StatusCode::OK {
        Ok(answer)
    } else {
        Err(refusal(&answer, what))
    }
}

#[derive(Debug, Deserialize)]
struct Region {
    fleet_api_base_url: String,
}

#[derive(Debug, Deserialize)]
struct ListedVehicle {
    id: Option<i64>,
    vin: Option<String>,
    display_name: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FleetStatus {
    #[serde(default)]
    vehicle_info: std::collections::HashMap<String, VehicleInfo>,
}

#[derive(Debug, Deserialize)]
struct VehicleInfo {
    vehicle_command_protocol_required: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct VehicleData {
    charge_state: Option<TeslaChargeState>,
    drive_state: Option<DriveState>,
}

#[derive(Debug, Deserialize)]
struct TeslaChargeState {
    battery_level: Option<f64>,
    battery_range: Option<f64>,
    charging_state: Option<String>,
    conn_charge_cable: Option<String>,
    charge_limit_soc: Option<f64>,
    charger_power: Option<f64>,
    minutes_to_full_charge: Option<f64>,
    charge_current_request: Option<f64>,
    timestamp: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct DriveState {
    latitude: Option<f64>,
    longitude: Option<f64>,
    timestamp: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CommandResult {
    result: bool,
    #[serde(default)]
    reason: String,
}

fn millis(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::from_timestamp_millis)
}

/// Model and year from a Tesla VIN: position 4 is the model, position 10 the model year.
pub fn model_from_vin(vin: &str) -> (Option<String>, Option<i32>) {
    let bytes = vin.as_bytes();
    if bytes.len() != 17 {
        return (None, None);
    }
    let model = match bytes[3] {
        b'S' => Some("Model S"),
        b'3' => Some("Model 3"),
        b'X' => Some("Model X"),
        b'Y' => Some("Model Y"),
        b'C' => Some("Cybertruck"),
        b'R' => Some("Roadster"),
        _ => None,
    };
    // The year code cycles every 30 years; Teslas are 2008 or later, so the later cycle applies.
    const CODES: &[u8] = b"ABCDEFGHJKLMNPRSTVWXY123456789";
    let year = CODES
        .iter()
        .position(|c| *c == bytes[9])
        .and_then(|i| i32::try_from(i).ok())
        .map(|i| 2010 + i);
    (model.map(str::to_owned), year)
}

fn vendor_scopes(scopes: &[Scope]) -> Vec<String> {
    let mut out = vec!["openid".to_owned(), "offline_access".to_owned(), "user_data".to_owned()];
    for scope in scopes {
        out.push(
            match scope {
                Scope::ReadData => "vehicle_device_data",
                Scope::ReadLocation => "vehicle_location",
                Scope::ControlCharging => "vehicle_charging_cmds",
            }
            .to_owned(),
        );
    }
    out
}

#[async_trait]
impl VehicleAdapter for TeslaAdapter {
    fn description(&self) -> &VendorDescription {
        &self.description
    }

    fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<Url, AdapterError> {
        Ok(self.oauth.authorization_url(request, &vendor_scopes(request.scopes)))
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

    async fn discover_account(&self, access_token: &Secret) -> Result<serde_json::Value, AdapterError> {
        let url = format!("{}/api/1/users/region", base(&self.config.discovery_url));
        let answer = send(self.http.get(url).bearer_auth(access_token.expose())).await?;
        let envelope: Envelope<Region> = decode(
            &ok_or_refusal(answer, "GET /api/1/users/region")?,
            "GET /api/1/users/region",
        )?;
        let region = envelope
            .response
            .ok_or_else(|| AdapterError::Upstream("GET /api/1/users/region: no response".into()))?;
        let wanted = region.fleet_api_base_url.trim_end_matches('/');
        let known = self.config.regional_urls.iter().map(base).find(|b| b == wanted);
        let Some(fleet) = known else {
            return Err(AdapterError::Upstream(format!(
                "Tesla named a regional API Coupler does not know ({wanted}); it is not used"
            )));
        };
        Ok(json!({ "fleetApiBaseUrl": fleet }))
    }

    async fn list_vehicles(&self, credentials: Credentials<'_>) -> Result<Vec<VendorVehicle>, AdapterError> {
        let fleet = self.fleet_base(credentials);
        let answer = send(
            self.http
                .get(format!("{fleet}/api/1/vehicles"))
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        let listed: Envelope<Vec<ListedVehicle>> =
            decode(&ok_or_refusal(answer, "GET /api/1/vehicles")?, "GET /api/1/vehicles")?;
        let listed = listed.response.unwrap_or_default();
        let vins: Vec<&str> = listed.iter().filter_map(|v| v.vin.as_deref()).collect();

        // Which cars need signed commands. When Tesla cannot say, assume they do: unsigned commands
        // to such a car are refused anyway, and signing works for every car that supports it.
        let mut signed_required = std::collections::HashMap::new();
        if !vins.is_empty() {
            let status = send(
                self.http
                    .post(format!("{fleet}/api/1/vehicles/fleet_status"))
                    .bearer_auth(credentials.access_token.expose())
                    .json(&json!({ "vins": vins })),
            )
            .await;
            match status.and_then(|a| ok_or_refusal(a, "POST fleet_status")) {
                Ok(answer) => {
                    if let Ok(Envelope { response: Some(status) }) =
                        decode::<Envelope<FleetStatus>>(&answer, "POST fleet_status")
                    {
                        for (vin, info) in status.vehicle_info {
                            if let Some(required) = info.vehicle_command_protocol_required {
                                signed_required.insert(vin, required);
                            }
                        }
                    }
                }
                Err(AdapterError::CredentialsInvalid(why)) => return Err(AdapterError::CredentialsInvalid(why)),
                Err(other) => tracing::info!(error = %other, "fleet_status unavailable; assuming signed commands"),
            }
        }

        Ok(listed
            .into_iter()
            .filter_map(|v| {
                let tag = v.vin.clone().or_else(|| v.id.map(|id| id.to_string()))?;
                let signed = v
                    .vin
                    .as_ref()
                    .and_then(|vin| signed_required.get(vin).copied())
                    .unwrap_or(true);
                let (model, year) = v.vin.as_deref().map(model_from_vin).unwrap_or((None, None));
                Some(VendorVehicle {
                    vendor_vehicle_id: tag,
                    information: VehicleInformation {
                        vin: v.vin,
                        brand: Some("Tesla".into()),
                        model,
                        year,
                        display_name: v.display_name,
                    },
                    capabilities: self.model_capabilities(signed),
                    meta: json!({ "signedCommands": signed, "id": v.id, "listedState": v.state }),
                })
            })
            .collect())
    }

    async fn read_state(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
    ) -> Result<VehicleSnapshot, AdapterError> {
        let fleet = self.fleet_base(credentials);
        let tag = Self::tag(vehicle);
        // Ask the cloud first: a car that is not online is left asleep, not asked for data.
        let answer = send(
            self.http
                .get(format!("{fleet}/api/1/vehicles/{tag}"))
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        let listed: Envelope<ListedVehicle> = decode(&ok_or_refusal(answer, "GET vehicle")?, "GET vehicle")?;
        match listed.response.and_then(|v| v.state).as_deref() {
            Some("online") => {}
            Some(other) => return Err(AdapterError::Asleep(format!("the car is {other}"))),
            None => return Err(AdapterError::Upstream("GET vehicle: no state in the answer".into())),
        }
        let answer = send(
            self.http
                .get(format!("{fleet}/api/1/vehicles/{tag}/vehicle_data"))
                .query(&[("endpoints", "charge_state;location_data")])
                .bearer_auth(credentials.access_token.expose()),
        )
        .await?;
        let data: Envelope<VehicleData> = decode(&ok_or_refusal(answer, "GET vehicle_data")?, "GET vehicle_data")?;
        let data = data
            .response
            .ok_or_else(|| AdapterError::Upstream("GET vehicle_data: no response".into()))?;
        let charge = data
            .charge_state
            .ok_or_else(|| AdapterError::Upstream("GET vehicle_data: no charge_state".into()))?;
        let state =
            PowerDeliveryState::from_tesla(charge.charging_state.as_deref(), charge.conn_charge_cable.as_deref());
        Ok(VehicleSnapshot {
            charge_state: ChargeState {
                battery_level: charge.battery_level,
                range: charge
                    .battery_range
                    .map(|miles| (miles * KM_PER_MILE * 10.0).round() / 10.0),
                is_plugged_in: None,
                is_charging: None,
                is_fully_charged: None,
                battery_capacity: None,
                charge_limit: charge.charge_limit_soc,
                charge_rate: charge.charger_power,
                charge_time_remaining: charge.minutes_to_full_charge,
                max_current: charge.charge_current_request,
                power_delivery_state: Some(state),
                plugged_in_charger_id: None,
                last_updated: millis(charge.timestamp),
            }
            .with_derived_flags(),
            location: data.drive_state.and_then(|d| {
                Some(Location {
                    latitude: Some(d.latitude?),
                    longitude: Some(d.longitude?),
                    last_updated: millis(d.timestamp),
                })
            }),
        })
    }

    async fn start_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        let result = self.command(credentials, vehicle, "charge_start", json!({})).await?;
        match (result.result, result.reason.as_str()) {
            (true, _) | (false, "is_charging") => Ok(()),
            (false, "complete") => Err(AdapterError::Refused("the car is at its charge limit".into())),
            (false, "disconnected") => Err(AdapterError::Refused("the car is not plugged in".into())),
            (false, reason) => Err(AdapterError::Refused(format!("charge_start refused: {reason}"))),
        }
    }

    async fn stop_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        let result = self.command(credentials, vehicle, "charge_stop", json!({})).await?;
        match (result.result, result.reason.as_str()) {
            (true, _) | (false, "not_charging") => Ok(()),
            (false, reason) => Err(AdapterError::Refused(format!("charge_stop refused: {reason}"))),
        }
    }

    async fn set_max_current(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
        amps: u32,
    ) -> Result<(), AdapterError> {
        let result = self
            .command(
                credentials,
                vehicle,
                "set_charging_amps",
                json!({ "charging_amps": amps }),
            )
            .await?;
        if result.result {
            Ok(())
        } else {
            Err(AdapterError::Refused(format!(
                "set_charging_amps refused: {}",
                result.reason
            )))
        }
    }

    async fn wake(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        let url = format!(
            "{}/api/1/vehicles/{}/wake_up",
            self.fleet_base(credentials),
            Self::tag(vehicle)
        );
        let answer = send(self.http.post(url).bearer_auth(credentials.access_token.expose())).await?;
        ok_or_refusal(answer, "wake_up").map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_production_configuration_has_valid_urls() {
        let config = TeslaConfig::production();
        assert_eq!(config.regional_urls.len(), 3);
        assert_eq!(config.token_url.host_str(), Some("fleet-auth.prd.vn.cloud.tesla.com"));
    }

    #[test]
    fn model_and_year_come_from_the_vin() {
        assert_eq!(
            model_from_vin("5YJ3E1EA7KF317000"),
            (Some("Model 3".into()), Some(2019))
        );
        assert_eq!(
            model_from_vin("7SAYGDEE5PA000001"),
            (Some("Model Y".into()), Some(2023))
        );
        assert_eq!(model_from_vin("short"), (None, None));
    }

    #[test]
    fn coupler_scopes_map_to_tesla_scopes_with_a_refresh_token() {
        let scopes = vendor_scopes(&[Scope::ReadData, Scope::ControlCharging]);
        assert!(scopes.contains(&"offline_access".to_owned()));
        assert!(scopes.contains(&"vehicle_device_data".to_owned()));
        assert!(scopes.contains(&"vehicle_charging_cmds".to_owned()));
        assert!(!scopes.contains(&"vehicle_location".to_owned()));
    }
}
