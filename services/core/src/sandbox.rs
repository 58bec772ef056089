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

    /// The sandbox's clock.
    fn clock(&self) -> SandboxClock;

    /// Runs the sandbox's clock at `rate` times real time, and/or jumps it forward by `advance`.
    async fn set_clock(
        &self,
        rate: Option<f64>,
        advance: Option<chrono::Duration>,
    ) -> Result<SandboxClock, SandboxError>;

    /// Gives one of the client's cars a daily commute to one of its chargers (replacing any).
    async fn set_commute(
        &self,
        client: &ClientId,
        vehicle_id: &str,
        commute: Commute,
    ) -> Result<CommuteView, SandboxError>;

    /// The commute of one of the client's cars.
    async fn commute(&self, client: &ClientId, vehicle_id: &str) -> Result<CommuteView, SandboxError>;

    /// Ends the commute of one of the client's cars (the car stays where it is).
    async fn delete_commute(&self, client: &ClientId, vehicle_id: &str) -> Result<(), SandboxError>;

    /// Connects many simulated chargers at once (each already registered in Coupler for one of the
    /// client's users), keeping the state file written once rather than once per charger.
    async fn add_chargers(
        &self,
        client: &ClientId,
        chargers: Vec<NewSimulatedCharger>,
    ) -> Result<Vec<SimulatedCharger>, SandboxError>;

    /// Takes one of the client's simulated cars out of the world (its commute ended, unplugged).
    async fn remove_vehicle(&self, client: &ClientId, vehicle_id: &str) -> Result<(), SandboxError>;

    /// Disconnects one of the client's simulated chargers for good and forgets it.
    async fn remove_charger(&self, client: &ClientId, charger_id: &ChargerId) -> Result<(), SandboxError>;

    /// `count` households' habits, drawn from `seed` (the same seed draws the same households).
    fn draw_households(&self, seed: u64, count: usize, area: &NeighbourhoodArea) -> Vec<HouseholdPattern>;

    /// Keeps a neighbourhood the client made (replacing one with its id).
    async fn put_neighbourhood(&self, neighbourhood: Neighbourhood);

    /// The client's neighbourhoods.
    async fn neighbourhoods(&self, client: &ClientId) -> Vec<Neighbourhood>;

    /// One of the client's neighbourhoods.
    async fn neighbourhood(&self, client: &ClientId, id: &str) -> Option<Neighbourhood>;

    /// Forgets one of the client's neighbourhoods, returning it.
    async fn take_neighbourhood(&self, client: &ClientId, id: &str) -> Option<Neighbourhood>;
}

/// Where a simulated neighbourhood lies: its households are placed within `radius_km` of the
/// centre, and keep their local times in `time_zone`.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourhoodArea {
    /// Degrees north of its centre.
    pub latitude: f64,
    /// Degrees east of its centre.
    pub longitude: f64,
    /// Its radius, kilometres.
    pub radius_km: f64,
    /// The households' time zone.
    pub time_zone: chrono_tz::Tz,
}

/// One household's habits and car, as drawn from a neighbourhood's seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdPattern {
    /// The simulated brand of its car (`SIM_AURORA`, ...).
    pub brand: String,
    /// The most current the car draws, amperes per phase.
    pub max_current: u32,
    /// Its car's charge limit, percent.
    pub charge_limit: f64,
    /// Its car's state of charge when made, percent.
    pub battery_level: f64,
    /// When the car comes home, local time.
    pub arrive: chrono::NaiveTime,
    /// When it leaves, local time.
    pub leave: chrono::NaiveTime,
    /// The lowest state of charge it comes home with, percent.
    pub arrival_level_min: f64,
    /// The highest state of charge it comes home with, percent.
    pub arrival_level_max: f64,
    /// Where its home is: latitude, degrees.
    pub latitude: f64,
    /// Where its home is: longitude, degrees.
    pub longitude: f64,
}

/// A household of a simulated neighbourhood: a user with a home (a location), a simulated charger
/// there and a simulated car that commutes to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    /// The user.
    pub user_id: UserId,
    /// Their home.
    pub location_id: String,
    /// Coupler's id of their simulated charger.
    pub charger_id: ChargerId,
    /// The maker's id of their simulated car.
    pub vehicle_id: String,
    /// Their charger's enrolment, when the neighbourhood was enrolled in a program.
    pub enrolment_id: Option<String>,
    /// Their habits.
    pub pattern: HouseholdPattern,
}

/// A simulated neighbourhood: households drawn from a seed, optionally enrolled in a program.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbourhood {
    /// Identifier.
    pub id: String,
    /// The client that made it.
    pub client: ClientId,
    /// What people call it.
    pub name: String,
    /// The seed its households were drawn from.
    pub seed: u64,
    /// Where it lies.
    pub area: NeighbourhoodArea,
    /// The program its chargers were enrolled in.
    pub program_id: Option<String>,
    /// When it was made (sandbox time).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Its households.
    pub households: Vec<Household>,
}

/// The sandbox's clock as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SandboxClock {
    /// The sandbox's time now: what Coupler's plans, prices and deadlines and the simulated world
    /// all read.
    pub now: chrono::DateTime<chrono::Utc>,
    /// How many times as fast as real time it runs.
    pub rate: f64,
}

/// A simulated car's weekday-independent daily round: it comes home to a charger at `arrive`
/// (local time in `time_zone`) with a state of charge drawn between the two levels, is plugged in,
/// and is unplugged and driven away at `leave`. Set on a car, it lets smart charging be watched night
/// after night at the sandbox clock's rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Commute {
    /// Coupler's id of the simulated charger the car comes home to.
    pub charger_id: ChargerId,
    /// When it comes home, local time.
    pub arrive: chrono::NaiveTime,
    /// When it leaves, local time.
    pub leave: chrono::NaiveTime,
    /// The time zone of `arrive` and `leave`.
    pub time_zone: chrono_tz::Tz,
    /// The lowest state of charge it comes home with, percent.
    pub arrival_level_min: f64,
    /// The highest state of charge it comes home with, percent.
    pub arrival_level_max: f64,
}

impl Commute {
    /// Checks the levels (0–100, lowest not above highest) and that arriving and leaving differ.
    pub fn check(&self) -> Result<(), SandboxError> {
        let in_range = |v: f64| v.is_finite() && (0.0..=100.0).contains(&v);
        if !in_range(self.arrival_level_min) || !in_range(self.arrival_level_max) {
            return Err(SandboxError::Invalid(
                "arrivalBatteryLevel's min and max must be percentages from 0 to 100".into(),
            ));
        }
        if self.arrival_level_min > self.arrival_level_max {
            return Err(SandboxError::Invalid(
                "arrivalBatteryLevel's min must not be above its max".into(),
            ));
        }
        if self.arrive == self.leave {
            return Err(SandboxError::Invalid("arrive and leave must be different times".into()));
        }
        Ok(())
    }

    /// The first time after `after` that the local clock in `time_zone` shows `time`.
    pub fn next_local(
        &self,
        time: chrono::NaiveTime,
        after: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        let today = after.with_timezone(&self.time_zone).date_naive();
        (0..=2)
            .filter_map(|offset| {
                crate::smart::local_instant(self.time_zone, today + chrono::Duration::days(offset), time)
            })
            .find(|at| *at > after)
            // Two local days always hold the next occurrence; a day later is a safe fallback.
            .unwrap_or(after + chrono::Duration::days(1))
    }
}

/// One evening-to-morning stay of a commuting car.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommuteStay {
    /// When it came home (sandbox time).
    pub arrived_at: chrono::DateTime<chrono::Utc>,
    /// Its state of charge when it came home, percent.
    pub arrival_battery_level: f64,
    /// When it left, if it has.
    pub left_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its state of charge when it left, percent.
    pub departure_battery_level: Option<f64>,
    /// Why it could not be plugged in, if it could not (the charger held another car, say).
    pub not_plugged: Option<String>,
}

/// A car's commute with where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct CommuteView {
    /// The maker's id of the car.
    pub vehicle_id: String,
    /// The round it follows.
    pub commute: Commute,
    /// Whether it is home now (between arriving and leaving).
    pub at_home: bool,
    /// When it next comes home (while away).
    pub next_arrival: Option<chrono::DateTime<chrono::Utc>>,
    /// When it next leaves (while home).
    pub next_departure: Option<chrono::DateTime<chrono::Utc>>,
    /// Its latest stays, newest first (at most [`COMMUTE_STAYS_KEPT`]).
    pub stays: Vec<CommuteStay>,
}

/// How many of a commuting car's stays the sandbox remembers.
pub const COMMUTE_STAYS_KEPT: usize = 30;
