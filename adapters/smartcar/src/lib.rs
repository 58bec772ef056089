//! Coupler's adapter for Smartcar (Vehicle API v2.0).
//!
//! - Connect: authorization code (with PKCE and `state`), `mode` live, simulated or test; tokens
//!   from `auth.smartcar.com` with HTTP Basic client credentials; refresh tokens are replaced on
//!   every refresh (the old one stops working shortly after use).
//! - Vehicles: `GET /vehicles`, then `GET /vehicles/{id}` (make, model, year) and `/vin`.
//! - State: one `POST /vehicles/{id}/batch` for `/battery`, `/battery/capacity`, `/charge`,
//!   `/charge/limit`, `/location` (and `/tesla/charge/ammeter` for Teslas), so a read is one request
//!   against Smartcar's application rate limit. `SC-Data-Age` gives when the car recorded the data.
//! - Commands: `POST /vehicles/{id}/charge {action: START|STOP}`, and the Tesla-only
//!   `POST /vehicles/{id}/tesla/charge/ammeter`. Smartcar has no wake-up command.
//! - Errors by Smartcar's `type`: VEHICLE_STATE (ASLEEP is asleep, the rest a refusal),
//!   COMPATIBILITY and PERMISSION (not capable), RATE_LIMIT (429, `retry-after`), AUTHENTICATION
//!   (refused credentials, so relink), BILLING (430, a quota), UPSTREAM and SERVER (failures).
//!
//! What each make can do differs: the charging current can be set only on Teslas, and Nissan cars
//! can only be started, not stopped.

#[cfg(feature = "fake")]
pub mod fake;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coupler_adapter_http::{decode, http_client, send, Answer, ClientAuth, OAuthClient, DEFAULT_TIMEOUT};
use coupler_core::account::{Secret, TokenSet};
use coupler_core::adapter::{AuthorizationRequest, Credentials, VehicleRef, VendorDescription, VendorLimits};
use coupler_core::capability::{ModelCapabilities, Scope, Support};
use coupler_core::vehicle::{
    ChargeState, Location, PowerDeliveryState, VehicleInformation, VehicleSnapshot, VendorVehicle,
};
use coupler_core::{AdapterError, VehicleAdapter, Vendor};
use serde::Deserialize;
use serde_json::json;
use url::Url;

/// How Coupler reaches Smartcar.
#[derive(Debug, Clone)]
pub struct SmartcarConfig {
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: Secret,
    /// Connect mode: `live`, `simulated` or `test`.
    pub mode: String,
    /// Smartcar Connect.
    pub authorize_url: Url,
    /// The token endpoint.
    pub token_url: Url,
    /// The Vehicle API base, ending in `/v2.0`.
    pub api_url: Url,
    /// Timeout per request.
    pub timeout: Duration,
    /// How hard Coupler may use Smartcar.
    pub limits: VendorLimits,
}

fn fixed_url(text: &str) -> Url {
    // Constant URLs, checked by the tests below.
    Url::parse(text).expect("a valid constant URL")
}

impl SmartcarConfig {
    /// Smartcar's production endpoints and limits, with an empty client.
    pub fn production() -> Self {
        Self {
            client_id: String::new(),
            client_secret: Secret::new(""),
            mode: "live".into(),
            authorize_url: fixed_url("https://connect.smartcar.com/oauth/authorize"),
            token_url: fixed_url("https://auth.smartcar.com/oauth/token"),
            api_url: fixed_url("https://api.smartcar.com/v2.0"),
            timeout: DEFAULT_TIMEOUT,
            // The default application bucket holds 120 requests and refills 2 a minute; plans bill
            // about 500 requests per vehicle a month, so about 16 reads a day.
            limits: VendorLimits {
                burst: 100,
                per_minute: 2.0,
                daily_polls_per_vehicle: 16,
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

/// The vendor name.
pub const VENDOR: &str = "SMARTCAR";

/// How long to leave a vehicle alone after a billing (430) refusal that names no wait.
const BILLING_WAIT: Duration = Duration::from_secs(6 * 3600);

/// The Smartcar adapter.
#[derive(Debug)]
pub struct SmartcarAdapter {
    config: SmartcarConfig,
    description: VendorDescription,
    oauth: OAuthClient,
    http: reqwest::Client,
}

impl SmartcarAdapter {
    /// An adapter for `config`.
    pub fn new(config: SmartcarConfig) -> Result<Self, ConfigError> {
        if config.client_id.is_empty() {
            return Err(ConfigError("the Smartcar client id is empty".into()));
        }
        if !matches!(config.mode.as_str(), "live" | "simulated" | "test") {
            return Err(ConfigError(format!("unknown Smartcar mode '{}'", config.mode)));
        }
        let http = http_client(config.timeout);
        let oauth = OAuthClient {
            client_id: config.client_id.clone(),
            client_secret: Some(config.client_secret.clone()),
            authorize_url: config.authorize_url.clone(),
            token_url: config.token_url.clone(),
            auth: ClientAuth::Basic,
            extra_authorize_params: vec![("mode".into(), config.mode.clone())],
            extra_token_params: Vec::new(),
            http: http.clone(),
        };
        let description = VendorDescription {
            vendor: Vendor::parse(VENDOR).map_err(|e| ConfigError(e.to_string()))?,
            display_name: "Smartcar (many brands)".into(),
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url.as_str().trim_end_matches('/'))
    }

    fn vehicle_url(&self, vehicle: &str, rest: &str) -> String {
        let id: String = url::form_urlencoded::byte_serialize(vehicle.as_bytes()).collect();
        self.url(&format!("/vehicles/{id}{rest}"))
    }

    fn get(&self, url: String, token: &Secret) -> reqwest::RequestBuilder {
        self.http
            .get(url)
            .bearer_auth(token.expose())
            .header("SC-Unit-System", "metric")
    }

    fn post(&self, url: String, token: &Secret, body: &serde_json::Value) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .bearer_auth(token.expose())
            .header("SC-Unit-System", "metric")
            .json(body)
    }

    async fn command(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
        rest: &str,
        body: serde_json::Value,
    ) -> Result<(), AdapterError> {
        let answer = send(self.post(
            self.vehicle_url(vehicle.vendor_vehicle_id, rest),
            credentials.access_token,
            &body,
        ))
        .await?;
        let what = format!("POST {rest}");
        let answer = ok_or_refusal(answer, &what)?;
        let reply: CommandReply = decode(&answer, &what)?;
        if reply.status == "success" {
            Ok(())
        } else {
            Err(AdapterError::Upstream(format!("{what}: status '{}'", reply.status)))
        }
    }
}

/// Smartcar's v2 error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// What a Smartcar error means, from its HTTP status, `type` and `code`.
fn classify(status: u16, body: &ErrorBody, retry_after: Option<Duration>, what: &str, raw: &str) -> AdapterError {
    let kind = body.kind.as_deref().unwrap_or_default();
    let code = body.code.as_deref().unwrap_or_default();
    let detail = match (&body.kind, &body.description) {
        (Some(k), Some(d)) => format!(
            "{what}: {k}{}: {d}",
            if code.is_empty() {
                String::new()
            } else {
                format!(":{code}")
            }
        ),
        _ => format!("{what}: HTTP {status}: {raw}"),
    };
    match (kind, code) {
        ("VEHICLE_STATE", "ASLEEP") => AdapterError::Asleep(detail),
        ("VEHICLE_STATE", _) => AdapterError::Refused(detail),
        ("COMPATIBILITY" | "PERMISSION", _) => AdapterError::NotCapable(detail),
        ("AUTHENTICATION", _) => AdapterError::CredentialsInvalid(detail),
        ("RATE_LIMIT", _) | ("UPSTREAM", "RATE_LIMIT") => AdapterError::RateLimited { retry_after, detail },
        ("BILLING", _) => AdapterError::RateLimited {
            retry_after: Some(retry_after.unwrap_or(BILLING_WAIT)),
            detail,
        },
        ("CONNECTED_SERVICES_ACCOUNT", _) => AdapterError::Refused(detail),
        _ => match status {
            401 => AdapterError::CredentialsInvalid(detail),
            409 => AdapterError::Refused(detail),
            429 => AdapterError::RateLimited { retry_after, detail },
            430 => AdapterError::RateLimited {
                retry_after: Some(retry_after.unwrap_or(BILLING_WAIT)),
                detail,
            },
            501 => AdapterError::NotCapable(detail),
            _ => AdapterError::Upstream(detail),
        },
    }
}

fn ok_or_refusal(answer: Answer, what: &str) -> Result<Answer, AdapterError> {
    if answer.status.is_success() {
        return Ok(answer);
    }
    let body: ErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    Err(classify(
        answer.status.as_u16(),
        &body,
        answer.retry_after(),
        what,
        &answer.snippet(),
    ))
}

/// `GET /user`: the id of the person who granted access.
#[derive(Debug, Deserialize)]
struct SmartcarUser {
    id: String,
}

#[derive(Debug, Deserialize)]
struct VehicleIds {
    vehicles: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Attributes {
    make: Option<String>,
    model: Option<String>,
    year: Option<i32>,
}

#[derive(Debug, Deserialize)]
struct Vin {
    vin: String,
}

#[derive(Debug, Deserialize)]
struct CommandReply {
    status: String,
}

#[derive(Debug, Deserialize)]
struct Batch {
    responses: Vec<BatchItem>,
}

#[derive(Debug, Deserialize)]
struct BatchItem {
    path: String,
    code: u16,
    #[serde(default)]
    headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    body: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Battery {
    percent_remaining: f64,
    range: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Capacity {
    capacity: f64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Charge {
    is_plugged_in: Option<bool>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: f64,
}

#[derive(Debug, Deserialize)]
struct Position {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Deserialize)]
struct Ammeter {
    amperage: f64,
}

/// What Smartcar lets Coupler do with a make.
fn make_capabilities(make: &str) -> ModelCapabilities {
    let make = make.to_ascii_uppercase();
    let mut caps = ModelCapabilities::full();
    if make != "TESLA" {
        caps.set_max_current = Support::no("Smartcar can set the charging current only on Tesla vehicles");
    }
    if make == "NISSAN" {
        caps.stop_charging = Support::no("Smartcar can start charging on Nissan vehicles but not stop it");
    }
    caps
}

fn vendor_scopes(scopes: &[Scope]) -> Vec<String> {
    let mut out = vec!["read_vehicle_info".to_owned(), "read_vin".to_owned()];
    for scope in scopes {
        match scope {
            Scope::ReadData => {
                out.push("read_battery".into());
                out.push("read_charge".into());
            }
            Scope::ReadLocation => out.push("read_location".into()),
            Scope::ControlCharging => out.push("control_charge".into()),
        }
    }
    out
}

impl BatchItem {
    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, AdapterError> {
        if (200..300).contains(&self.code) {
            serde_json::from_value(self.body.clone())
                .map_err(|e| AdapterError::Upstream(format!("batch {}: not the expected JSON ({e})", self.path)))
        } else {
            let body: ErrorBody = serde_json::from_value(self.body.clone()).unwrap_or_default();
            let retry_after = self
                .headers
                .get("retry-after")
                .and_then(|v| coupler_core::adapter::parse_retry_after(v));
            Err(classify(
                self.code,
                &body,
                retry_after,
                &format!("batch {}", self.path),
                &self.body.to_string(),
            ))
        }
    }

    fn data_age(&self) -> Option<DateTime<Utc>> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("sc-data-age"))
            .and_then(|(_, v)| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

#[async_trait]
impl VehicleAdapter for SmartcarAdapter {
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

    async fn discover_account(&self, _access_token: &Secret) -> Result<serde_json::Value, AdapterError> {
        Ok(json!({}))
    }

    async fn account_identity(&self, credentials: Credentials<'_>) -> Result<Option<String>, AdapterError> {
        let answer = send(self.get(self.url("/user"), credentials.access_token)).await?;
        let user: SmartcarUser = decode(&ok_or_refusal(answer, "GET /user")?, "GET /user")?;
        Ok(Some(user.id))
    }

    async fn list_vehicles(&self, credentials: Credentials<'_>) -> Result<Vec<VendorVehicle>, AdapterError> {
        let token = credentials.access_token;
        let answer = send(self.get(self.url("/vehicles?limit=50"), token)).await?;
        let ids: VehicleIds = decode(&ok_or_refusal(answer, "GET /vehicles")?, "GET /vehicles")?;
        let mut vehicles = Vec::with_capacity(ids.vehicles.len());
        for id in ids.vehicles {
            let answer = send(self.get(self.vehicle_url(&id, ""), token)).await?;
            let attributes: Attributes = decode(&ok_or_refusal(answer, "GET /vehicles/{id}")?, "GET /vehicles/{id}")?;
            // The VIN needs its own permission; without it the vehicle is still usable.
            let vin = match send(self.get(self.vehicle_url(&id, "/vin"), token)).await {
                Ok(answer) => match ok_or_refusal(answer, "GET /vin") {
                    Ok(answer) => decode::<Vin>(&answer, "GET /vin").ok().map(|v| v.vin),
                    Err(e @ (AdapterError::CredentialsInvalid(_) | AdapterError::RateLimited { .. })) => return Err(e),
                    Err(_) => None,
                },
                Err(e) => return Err(e),
            };
            let make = attributes.make.clone().unwrap_or_default();
            let display_name = match (&attributes.make, &attributes.model) {
                (Some(make), Some(model)) => Some(format!("{make} {model}")),
                _ => None,
            };
            vehicles.push(VendorVehicle {
                capabilities: make_capabilities(&make),
                meta: json!({ "make": make.to_ascii_uppercase() }),
                information: VehicleInformation {
                    vin,
                    brand: attributes.make,
                    model: attributes.model,
                    year: attributes.year,
                    display_name,
                },
                vendor_vehicle_id: id,
            });
        }
        Ok(vehicles)
    }

    async fn read_state(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
    ) -> Result<VehicleSnapshot, AdapterError> {
        let tesla = vehicle.meta.get("make").and_then(|m| m.as_str()) == Some("TESLA");
        let mut paths = vec!["/battery", "/battery/capacity", "/charge", "/charge/limit", "/location"];
        if tesla {
            paths.push("/tesla/charge/ammeter");
        }
        let requests: Vec<_> = paths.iter().map(|p| json!({ "path": p })).collect();
        let answer = send(self.post(
            self.vehicle_url(vehicle.vendor_vehicle_id, "/batch"),
            credentials.access_token,
            &json!({ "requests": requests }),
        ))
        .await?;
        let batch: Batch = decode(&ok_or_refusal(answer, "POST /batch")?, "POST /batch")?;
        let item = |path: &str| batch.responses.iter().find(|r| r.path == path);
        let required =
            |path: &str| item(path).ok_or_else(|| AdapterError::Upstream(format!("POST /batch: no answer for {path}")));

        // Battery and charge are the read; their errors (asleep, rate limited...) are the read's.
        let charge_item = required("/charge")?;
        let charge: Charge = charge_item.parse()?;
        let battery_item = required("/battery")?;
        let battery: Battery = battery_item.parse()?;
        // The rest is optional: a permission not granted or a make without it leaves a gap.
        let optional = |path: &str| item(path).filter(|r| (200..300).contains(&r.code));
        let capacity = optional("/battery/capacity").and_then(|r| r.parse::<Capacity>().ok());
        let limit = optional("/charge/limit").and_then(|r| r.parse::<Limit>().ok());
        let position = optional("/location").and_then(|r| r.parse::<Position>().ok());
        let ammeter = optional("/tesla/charge/ammeter").and_then(|r| r.parse::<Ammeter>().ok());

        let recorded = charge_item.data_age().or_else(|| battery_item.data_age());
        let state = PowerDeliveryState::from_smartcar(charge.is_plugged_in, charge.state.as_deref());
        Ok(VehicleSnapshot {
            charge_state: ChargeState {
                battery_level: Some((battery.percent_remaining * 1000.0).round() / 10.0),
                range: battery.range,
                is_plugged_in: charge.is_plugged_in,
                is_charging: None,
                is_fully_charged: None,
                battery_capacity: capacity.map(|c| c.capacity),
                charge_limit: limit.map(|l| (l.limit * 1000.0).round() / 10.0),
                charge_rate: None,
                charge_time_remaining: None,
                max_current: ammeter.map(|a| a.amperage),
                power_delivery_state: Some(state),
                plugged_in_charger_id: None,
                last_updated: recorded,
            }
            .with_derived_flags(),
            location: position.map(|p| Location {
                latitude: Some(p.latitude),
                longitude: Some(p.longitude),
                last_updated: optional("/location").and_then(BatchItem::data_age),
            }),
        })
    }

    async fn start_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        self.command(credentials, vehicle, "/charge", json!({"action": "START"}))
            .await
    }

    async fn stop_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        self.command(credentials, vehicle, "/charge", json!({"action": "STOP"}))
            .await
    }

    async fn set_max_current(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
        amps: u32,
    ) -> Result<(), AdapterError> {
        if vehicle.meta.get("make").and_then(|m| m.as_str()) != Some("TESLA") {
            return Err(AdapterError::NotCapable(
                "Smartcar can set the charging current only on Tesla vehicles".into(),
            ));
        }
        self.command(credentials, vehicle, "/tesla/charge/ammeter", json!({"amperage": amps}))
            .await
    }

    async fn wake(&self, _credentials: Credentials<'_>, _vehicle: VehicleRef<'_>) -> Result<(), AdapterError> {
        Err(AdapterError::NotCapable("Smartcar has no wake-up command".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_production_configuration_has_valid_urls() {
        let config = SmartcarConfig::production();
        assert_eq!(config.api_url.as_str(), "https://api.smartcar.com/v2.0");
    }

    #[test]
    fn smartcar_error_types_map_onto_adapter_errors() {
        let body = |kind: &str, code: &str| ErrorBody {
            kind: Some(kind.into()),
            code: Some(code.into()),
            description: Some("d".into()),
        };
        let wait = Some(Duration::from_secs(30));
        assert!(matches!(
            classify(409, &body("VEHICLE_STATE", "ASLEEP"), None, "x", ""),
            AdapterError::Asleep(_)
        ));
        assert!(matches!(
            classify(
                409,
                &body("VEHICLE_STATE", "CHARGING_PLUG_NOT_CONNECTED"),
                None,
                "x",
                ""
            ),
            AdapterError::Refused(_)
        ));
        assert!(matches!(
            classify(501, &body("COMPATIBILITY", "VEHICLE_NOT_CAPABLE"), None, "x", ""),
            AdapterError::NotCapable(_)
        ));
        assert_eq!(
            classify(429, &body("RATE_LIMIT", "VEHICLE"), wait, "x", ""),
            AdapterError::RateLimited {
                retry_after: wait,
                detail: "x: RATE_LIMIT:VEHICLE: d".into()
            }
        );
        assert!(matches!(
            classify(401, &body("AUTHENTICATION", ""), None, "x", ""),
            AdapterError::CredentialsInvalid(_)
        ));
        let AdapterError::RateLimited { retry_after, .. } =
            classify(430, &body("BILLING", "VEHICLE_REQUEST_LIMIT"), None, "x", "")
        else {
            panic!("billing is a quota")
        };
        assert_eq!(retry_after, Some(BILLING_WAIT));
        assert!(matches!(
            classify(502, &ErrorBody::default(), None, "x", "<html>"),
            AdapterError::Upstream(_)
        ));
    }

    #[test]
    fn only_teslas_can_have_their_current_set_and_nissans_cannot_be_stopped() {
        assert!(make_capabilities("TESLA").set_max_current.is_yes());
        assert!(!make_capabilities("BMW").set_max_current.is_yes());
        assert!(!make_capabilities("Nissan").stop_charging.is_yes());
        assert!(make_capabilities("Nissan").start_charging.is_yes());
    }
}
