//! The vehicle port: what Coupler asks of a maker's cloud, whichever maker it is.
//!
//! Each vendor (Tesla, Smartcar, the simulated makers) has an adapter crate that implements
//! [`VehicleAdapter`] over HTTP. The engine and the API speak only this trait, so a new maker is a
//! new adapter and nothing else. Adapters tell their failures apart with [`AdapterError`], because
//! what Coupler does next differs: a sleeping car is left alone, a rate limit is waited out, refused
//! credentials are refreshed once and then raise an intervention.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use crate::account::{Secret, TokenSet};
use crate::capability::Scope;
use crate::vehicle::{VehicleSnapshot, Vendor, VendorVehicle};

/// Why a call to a maker failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The vehicle is asleep or offline; it would have to be woken to answer.
    #[error("the vehicle is asleep or offline: {0}")]
    Asleep(String),
    /// The maker's rate limit was hit; try again after `retry_after` when it said.
    #[error("rate limited by the vendor{}: {detail}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long the maker asked to wait.
        retry_after: Option<Duration>,
        /// What the maker said.
        detail: String,
    },
    /// The vehicle or the maker's API cannot do this (for this model, or with the granted scopes).
    #[error("not capable: {0}")]
    NotCapable(String),
    /// The vehicle refused in its current state (for example: not plugged in).
    #[error("refused by the vehicle: {0}")]
    Refused(String),
    /// The maker refused the credentials (expired, revoked, or the account changed).
    #[error("the vendor refused the credentials: {0}")]
    CredentialsInvalid(String),
    /// The maker failed or answered something Coupler cannot read.
    #[error("vendor failure: {0}")]
    Upstream(String),
    /// The maker did not answer in time.
    #[error("the vendor did not answer in time: {0}")]
    Timeout(String),
}

impl AdapterError {
    /// A short machine name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Asleep(_) => "asleep",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotCapable(_) => "not_capable",
            Self::Refused(_) => "refused",
            Self::CredentialsInvalid(_) => "credentials_invalid",
            Self::Upstream(_) => "upstream",
            Self::Timeout(_) => "timeout",
        }
    }
}

/// How hard Coupler may use a vendor, so that neither the maker's limits nor the cars' 12 V
/// batteries suffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VendorLimits {
    /// Requests Coupler may send in a burst (the size of the vendor's token bucket).
    pub burst: u32,
    /// Requests per minute the bucket refills with.
    pub per_minute: f64,
    /// State reads per vehicle per UTC day.
    pub daily_polls_per_vehicle: u32,
}

/// A vendor as the link page and `GET /integrations` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorDescription {
    /// The vendor's name in the API, for example `TESLA`.
    pub vendor: Vendor,
    /// A name for people.
    pub display_name: String,
    /// The scopes this vendor can grant.
    pub scopes: Vec<Scope>,
    /// How hard Coupler may use it.
    pub limits: VendorLimits,
}

/// The parts of an OAuth2 authorization request that Coupler decides.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'a> {
    /// Coupler's callback (`{public URL}/link/callback`).
    pub redirect_uri: &'a Url,
    /// Coupler's scopes, which the adapter maps to the maker's.
    pub scopes: &'a [Scope],
    /// The `state` value.
    pub state: &'a str,
    /// The PKCE code verifier; the adapter sends its S256 challenge.
    pub pkce_verifier: &'a Secret,
    /// The language the page should use, when the maker supports one.
    pub language: &'a str,
}

/// What an adapter call acts with: the account's access token and the adapter's own facts about it.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The access token.
    pub access_token: &'a Secret,
    /// Adapter-private facts about the account, as [`VehicleAdapter::discover_account`] returned them.
    pub account_meta: &'a serde_json::Value,
}

/// Which vehicle an adapter call is about.
#[derive(Debug, Clone, Copy)]
pub struct VehicleRef<'a> {
    /// The maker's identifier for it.
    pub vendor_vehicle_id: &'a str,
    /// Its VIN, when known (Tesla's command proxy addresses cars by VIN).
    pub vin: Option<&'a str>,
    /// Adapter-private facts about the vehicle.
    pub meta: &'a serde_json::Value,
}

/// A maker's cloud, reached over HTTP.
#[async_trait]
pub trait VehicleAdapter: Send + Sync + std::fmt::Debug {
    /// Who the vendor is, what it can grant, and its limits.
    fn description(&self) -> &VendorDescription;

    /// The maker's authorization URL for the person's browser.
    fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<Url, AdapterError>;

    /// Exchanges an authorization code for tokens.
    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &Secret,
        redirect_uri: &Url,
    ) -> Result<TokenSet, AdapterError>;

    /// Gets new tokens with a refresh token. A refusal is [`AdapterError::CredentialsInvalid`].
    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenSet, AdapterError>;

    /// Learns what the adapter needs to know about a newly linked account (for example the region
    /// its data lives in); the answer comes back in every [`Credentials`].
    async fn discover_account(&self, access_token: &Secret) -> Result<serde_json::Value, AdapterError>;

    /// The maker's own identity of the account the token belongs to (its user or account id), so
    /// that linking the same account again is told from linking a second account at the same maker.
    /// `None` when the maker does not tell; Coupler then takes a link for a relink only when it
    /// lists every vehicle of one account linked before.
    async fn account_identity(&self, credentials: Credentials<'_>) -> Result<Option<String>, AdapterError> {
        let _ = credentials;
        Ok(None)
    }

    /// The vehicles on the account, with what each model can do.
    async fn list_vehicles(&self, credentials: Credentials<'_>) -> Result<Vec<VendorVehicle>, AdapterError>;

    /// Reads a vehicle's state. Never wakes it: a sleeping vehicle is [`AdapterError::Asleep`].
    async fn read_state(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
    ) -> Result<VehicleSnapshot, AdapterError>;

    /// Asks the vehicle to start charging.
    async fn start_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError>;

    /// Asks the vehicle to stop charging.
    async fn stop_charging(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError>;

    /// Asks the vehicle to draw at most `amps` amperes.
    async fn set_max_current(
        &self,
        credentials: Credentials<'_>,
        vehicle: VehicleRef<'_>,
        amps: u32,
    ) -> Result<(), AdapterError>;

    /// Wakes the vehicle; only for a command that needs it, never just to poll.
    async fn wake(&self, credentials: Credentials<'_>, vehicle: VehicleRef<'_>) -> Result<(), AdapterError>;
}

/// The adapters Coupler was configured with, by vendor.
#[derive(Debug, Clone, Default)]
pub struct AdapterRegistry {
    adapters: BTreeMap<Vendor, Arc<dyn VehicleAdapter>>,
}

impl AdapterRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an adapter; a second one for the same vendor replaces the first.
    pub fn register(&mut self, adapter: Arc<dyn VehicleAdapter>) {
        self.adapters.insert(adapter.description().vendor.clone(), adapter);
    }

    /// The adapter for a vendor.
    pub fn get(&self, vendor: &Vendor) -> Option<&Arc<dyn VehicleAdapter>> {
        self.adapters.get(vendor)
    }

    /// Every adapter, by vendor name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn VehicleAdapter>> {
        self.adapters.values()
    }

    /// Whether no vendor is configured.
    pub fn is_empty(&self) -> bool {
        self.adapters.is_empty()
    }
}

/// Reads an HTTP `Retry-After` value given in seconds (the form the makers use). HTTP dates and
/// garbage give `None`, and the caller falls back to its own back-off.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_is_read_and_garbage_is_not() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn a_rate_limit_error_says_how_long_to_wait() {
        let err = AdapterError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            detail: "429".into(),
        };
        assert!(err.to_string().contains("retry after 30s"));
        assert_eq!(err.kind(), "rate_limited");
    }
}
