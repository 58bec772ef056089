//! The sandbox port: what `coupler serve --sandbox` lets an API client do to the simulated world
//! (cars at a simulated maker, simulated chargers connected to the gateway).
//!
//! The API crate speaks only this trait; the simulated adapter implements it and the binary wires it
//! in, so the REST surface never depends on the simulation itself. Every call takes the calling
//! client: a client sees and changes only the simulated cars it created and the chargers it added.

use async_trait::async_trait;
use serde::Serialize;

use crate::{ChargerId, ClientId, UserId};

/// Why a sandbox request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// No such simulated car, account or charger for this client.
    #[error("{0}")]
    NotFound(String),
    /// A value is out of range or unknown.
    #[error("{0}")]
    Invalid(String),
    /// The request contradicts the simulated world's state (for example the charger has a car in it).
    #[error("{0}")]
    Conflict(String),
}

/// A new simulated car.
#[derive(Debug, Clone, Default)]
pub struct NewSimulatedVehicle {
    /// The simulated brand's slug or vendor name (`aurora`, `SIM_BOREAL`, ...).
    pub brand: String,
    /// Model name; the brand's usual one when absent.
    pub model: Option<String>,
    /// State of charge, percent.
    pub battery_level: Option<f64>,
    /// Charge limit, percent.
    pub charge_limit: Option<f64>,
    /// The car's MAC address, which AutoCharge chargers may report as its identity.
    pub mac_address: Option<String>,
    /// The username of one of the caller's simulated accounts at that brand to add the car to; a new
    /// account when absent.
    pub account: Option<String>,
    /// The most current the car itself draws, amperes per phase (6..=32; the brand's usual when
    /// absent).
    pub max_current: Option<u32>,
}

/// A change to a simulated car; absent fields are kept.
#[derive(Debug, Clone, Default)]
pub struct SimulatedVehicleChange {
    /// State of charge, percent (0..=100).
    pub battery_level: Option<f64>,
    /// Charge limit, percent (50..=100).
    pub charge_limit: Option<f64>,
    /// Puts the car to sleep or wakes it.
    pub asleep: Option<bool>,
    /// Whether the car's own charging schedule holds it from charging.
    pub schedule_hold: Option<bool>,
    /// Moves the car: latitude, degrees (−90..=90); with `longitude`.
    pub latitude: Option<f64>,
    /// Moves the car: longitude, degrees (−180..=180); with `latitude`.
    pub longitude: Option<f64>,
    /// The most current the car itself draws, amperes per phase (6..=32).
    pub max_current: Option<u32>,
}

/// The simulated maker's login for an account, to use on the hosted link page.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedLogin {
    /// Username at the simulated maker.
    pub username: String,
    /// Password at the simulated maker (a demo password, not a Coupler secret).
    pub password: String,
}

/// A simulated car as the sandbox shows it (the maker's live view, not Coupler's polled one).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedVehicle {
    /// The maker's id of the car (not Coupler's vehicle id).
    pub id: String,
    /// Coupler's vendor name of the brand, for example `SIM_BOREAL`.
    pub vendor: String,
    /// VIN.
    pub vin: String,
    /// Model.
    pub model: String,
    /// The account it belongs to and its login.
    pub login: SimulatedLogin,
    /// State of charge, percent.
    pub battery_level: f64,
    /// Charge limit, percent.
    pub charge_limit: f64,
    /// Usable battery capacity, kWh.
    pub capacity_kwh: f64,
    /// Highest current the car draws, amperes per phase.
    pub max_current: u32,
    /// Whether a cable is in.
    pub plugged_in: bool,
    /// Coupler's id of the simulated charger the car is plugged into.
    pub charger_id: Option<ChargerId>,
    /// `unplugged`, `charging`, `complete`, `stopped` or `no_power`.
    pub status: String,
    /// Power drawn now, kW.
    pub power_kw: f64,
    /// Whether it sleeps.
    pub asleep: bool,
    /// Whether its own schedule holds it from charging.
    pub schedule_hold: bool,
    /// Its MAC address, when it has one.
    pub mac_address: Option<String>,
    /// Where it is: latitude, degrees.
    pub latitude: f64,
    /// Where it is: longitude, degrees.
    pub longitude: f64,
}

/// A simulated charger to connect to the gateway; Coupler has registered it already.
#[derive(Debug, Clone)]
pub struct NewSimulatedCharger {
    /// Coupler's id of the charger.
    pub charger_id: ChargerId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// Its OCPP identity.
    pub ocpp_id: String,
    /// The URL it connects to (`ws://host/ocpp/{ocppId}`).
    pub ocpp_url: String,
    /// The Basic-auth password Coupler issued.
    pub password: String,
    /// `1.6` or `2.0.1`.
    pub ocpp_version: String,
    /// Whether it starts a transaction when a car is plugged in (free vending).
    pub auto_start: bool,
    /// Whether it starts transactions with the plugged car's MAC address as id token.
    pub sends_vehicle_identity: bool,
}

/// A simulated charger as the sandbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedCharger {
    /// Coupler's id of the charger.
    pub id: ChargerId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// Its OCPP identity.
    pub ocpp_id: String,
    /// `1.6` or `2.0.1`.
    pub ocpp_version: String,
    /// Whether it starts a transaction when a car is plugged in.
    pub auto_start: bool,
    /// Whether it reports the plugged car's MAC address as id token.
    pub sends_vehicle_identity: bool,
    /// Whether its WebSocket to the gateway is open and its boot accepted.
    pub connected: bool,
    /// The maker's id of the car plugged in, if any.
    pub vehicle_id: Option<String>,
    /// The connector status it last reported, for example `Charging`.
    pub status: String,
    /// Current it offers the car now (transaction running, profile limit, its own maximum), amperes.
    pub offered_current: f64,
    /// Power delivered now, kW.
    pub power_kw: f64,
    /// Its energy register, Wh.
    pub energy_wh: f64,
}

/// The simulated world behind `/sandbox/...`.
#[async_trait]
pub trait Sandbox: Send + Sync + std::fmt::Debug {
    /// Creates a simulated car for `client`.
    async fn create_vehicle(
        &self,
        client: &ClientId,
        vehicle: NewSimulatedVehicle,
    ) -> Result<SimulatedVehicle, SandboxError>;

    /// The client's simulated cars.
    async fn list_vehicles(&self, client: &ClientId) -> Vec<SimulatedVehicle>;

    /// Changes one of the client's simulated cars.
    async fn update_vehicle(
        &self,
        client: &ClientId,
        vehicle_id: &str,
        change: SimulatedVehicleChange,
    ) -> Result<SimulatedVehicle, SandboxError>;

    /// Connects a simulated charger (already registered in Coupler for one of the client's users).
    async fn add_charger(
        &self,
        client: &ClientId,
        charger: NewSimulatedCharger,
    ) -> Result<SimulatedCharger, SandboxError>;

    /// The client's simulated chargers.
    async fn list_chargers(&self, client: &ClientId) -> Vec<SimulatedCharger>;

    /// Plugs one of the client's cars into one of its chargers.
    async fn plug(
        &self,
        client: &ClientId,
        vehicle_id: &str,
        charger_id: &ChargerId,
    ) -> Result<SimulatedVehicle, SandboxError>;

    /// Unplugs one of the client's cars.
    async fn unplug(&self, client: &ClientId, vehicle_id: &str) -> Result<SimulatedVehicle, SandboxError>;

    /// How much faster than real time batteries charge.
    fn time_factor(&self) -> f64;

    /// Sets how much faster than real time batteries charge (for the whole sandbox).
    async fn set_time_factor(&self, factor: f64) -> Result<f64, SandboxError>;

    /// How far behind its cars the simulated makers' APIs report, seconds.
    fn report_delay(&self) -> f64;

    /// Sets how far behind its cars the simulated makers' APIs report (for the whole sandbox).
    async fn set_report_delay(&self, seconds: f64) -> Result<f64, SandboxError>;
}
