//! The simulated cloud's state: accounts, cars and their physics, the OAuth server's codes and
//! tokens, per-account rate limits, and counts of the requests it received.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use coupler_core::clock::{Clock, SystemClock};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::brand::Brand;

/// How the simulated cloud behaves; the defaults are those of a plausible real maker.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How long an access token lives.
    pub access_token_ttl: Duration,
    /// How long an authorization code can be exchanged.
    pub code_ttl: Duration,
    /// How long a sleeping brand's idle car stays awake.
    pub sleep_after: Duration,
    /// Requests a rate-limiting brand allows per account in each `rate_window`.
    pub rate_limit: u32,
    /// The rate-limit window.
    pub rate_window: Duration,
    /// How much faster than real time batteries charge (1.0 is real time), so the sandbox shows
    /// state of charge rising within minutes. The sandbox API changes it while running
    /// ([`SimCloud::set_time_factor`]); this is where it starts.
    pub charge_speedup: f64,
    /// How far the maker's cloud lags behind its cars: the vehicle API reports a car as it was this
    /// long ago (zero reports the live state). This lag is why a charger, which reports at once,
    /// sees a plug-in before the maker's API does. This is where it starts;
    /// [`SimCloud::set_report_interval`] changes it while running.
    pub report_interval: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(600),
            sleep_after: Duration::from_secs(600),
            rate_limit: 20,
            rate_window: Duration::from_secs(60),
            charge_speedup: 1.0,
            report_interval: Duration::ZERO,
        }
    }
}

/// What a new simulated car is.
#[derive(Debug, Clone)]
pub struct SimVehicleSpec {
    /// VIN.
    pub vin: String,
    /// Model name.
    pub model: String,
    /// Model year.
    pub year: i32,
    /// The owner's name for it.
    pub name: String,
    /// Usable capacity, kWh.
    pub capacity_kwh: f64,
    /// State of charge, percent.
    pub battery_level: f64,
    /// Whether a cable is in.
    pub plugged_in: bool,
    /// Where it is.
    pub latitude: f64,
    /// Where it is.
    pub longitude: f64,
    /// Charge limit, percent.
    pub charge_limit: f64,
    /// Its MAC address, which AutoCharge chargers report as its identity.
    pub mac_address: Option<String>,
    /// Whether the car belongs to one API client of the sandbox: the unauthenticated control API
    /// (`/control/...`) neither lists nor changes it, so only its owner reaches it.
    pub private: bool,
}

impl SimVehicleSpec {
    /// A car with typical values.
    pub fn new(vin: &str, model: &str) -> Self {
        Self {
            vin: vin.to_owned(),
            model: model.to_owned(),
            year: 2024,
            name: format!("My {model}"),
            capacity_kwh: 75.0,
            battery_level: 50.0,
            plugged_in: false,
            latitude: 59.9139,
            longitude: 10.7522,
            charge_limit: 80.0,
            mac_address: None,
            private: false,
        }
    }
}

/// A simulated car and its physical state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimVehicle {
    /// The maker's id for it.
    pub id: String,
    /// Its brand.
    #[serde(skip)]
    pub brand: Brand,
    /// The owning account's username.
    pub account: String,
    /// VIN.
    pub vin: String,
    /// Model.
    pub model: String,
    /// Model year.
    pub year: i32,
    /// Name.
    pub name: String,
    /// Usable capacity, kWh.
    pub capacity_kwh: f64,
    /// State of charge, percent.
    pub battery_level: f64,
    /// Charge limit, percent.
    pub charge_limit: f64,
    /// Whether a cable is in.
    pub plugged_in: bool,
    /// Whether the car wants to charge (it does on plug-in; commands change it).
    pub charge_enabled: bool,
    /// The current it draws at most, amperes.
    pub max_current: u32,
    /// Whether the charger gives power.
    pub power_available: bool,
    /// Whether it sleeps.
    pub asleep: bool,
    /// Whether it acknowledges commands without carrying them out, as some cars do.
    pub ignores_commands: bool,
    /// Position.
    pub latitude: f64,
    /// Position.
    pub longitude: f64,
    /// Whether the car's own charging schedule holds it (it is plugged in and wants to charge
    /// later): it draws nothing even when the charger offers power.
    pub schedule_hold: bool,
    /// Its MAC address, when it has one (AutoCharge chargers report it as the car's identity).
    pub mac_address: Option<String>,
    /// The simulated charger (its OCPP identity) the car is plugged into, when it is in one.
    pub charger: Option<String>,
    /// The current that charger offers now, amperes per phase; `None` outside a simulated charger,
    /// where `power_available` alone says whether power flows.
    pub offered_current: Option<f64>,
    /// Whether only the sandbox client that made it may see and change it.
    #[serde(skip)]
    pub private: bool,
    /// When it last did something that keeps it awake.
    #[serde(skip)]
    pub last_activity: DateTime<Utc>,
    /// When its state was last advanced.
    pub recorded_at: DateTime<Utc>,
}

/// Phases and voltage of the simulated home charger.
pub const PHASES: f64 = 3.0;
/// Phase voltage of the simulated home charger.
pub const VOLTS: f64 = 230.0;
/// The least current an AC charger may offer (IEC 61851-1): below it the car draws nothing.
pub const MIN_CURRENT: f64 = 6.0;
/// km of range per kWh.
const KM_PER_KWH: f64 = 6.0;

impl SimVehicle {
    /// The charging status the API reports.
    pub fn status(&self) -> &'static str {
        if !self.plugged_in {
            "unplugged"
        } else if self.battery_level >= self.charge_limit {
            "complete"
        } else if !self.charge_enabled || self.schedule_hold {
            "stopped"
        } else if self.current_a() > 0.0 {
            "charging"
        } else {
            "no_power"
        }
    }

    /// Whether the car itself wants energy: plugged in, charging enabled, not held by its own
    /// schedule, and below its charge limit.
    pub fn wants_charge(&self) -> bool {
        self.plugged_in && self.charge_enabled && !self.schedule_hold && self.battery_level < self.charge_limit
    }

    /// Current drawn now, amperes per phase: the lesser of what the charger offers and what the car
    /// takes, and nothing when the car does not want to charge or the offer is below the minimum.
    pub fn current_a(&self) -> f64 {
        if !self.wants_charge() {
            return 0.0;
        }
        let offered = match self.offered_current {
            Some(offered) => offered,
            None if self.power_available => f64::from(self.max_current),
            None => 0.0,
        };
        if offered < MIN_CURRENT {
            0.0
        } else {
            offered.min(f64::from(self.max_current))
        }
    }

    /// Charging power, kW.
    pub fn power_kw(&self) -> f64 {
        self.current_a() * VOLTS * PHASES / 1000.0
    }

    /// Range, km.
    pub fn range_km(&self) -> f64 {
        self.battery_level / 100.0 * self.capacity_kwh * KM_PER_KWH
    }

    /// Minutes until the limit at the current power.
    pub fn minutes_to_limit(&self) -> Option<f64> {
        let power = self.power_kw();
        (power > 0.0)
            .then(|| ((self.charge_limit - self.battery_level) / 100.0 * self.capacity_kwh / power * 60.0).max(0.0))
    }

    /// Moves the physical state forward to `now`: charging adds energy (sped up by `time_factor`);
    /// an idle car of a sleeping brand falls asleep. Returns the energy taken, kWh, which the
    /// charger's meter counts too.
    fn advance(&mut self, now: DateTime<Utc>, config: &SimConfig, time_factor: f64) -> f64 {
        let elapsed = (now - self.recorded_at).num_milliseconds().max(0) as f64 / 3_600_000.0;
        let power = self.power_kw();
        let mut taken = 0.0;
        if power > 0.0 {
            // Energy up to the charge limit, not beyond: the car stops drawing once it gets there.
            let room = ((self.charge_limit.min(100.0) - self.battery_level) / 100.0 * self.capacity_kwh).max(0.0);
            taken = (power * elapsed * time_factor).min(room);
            self.battery_level = (self.battery_level + taken / self.capacity_kwh * 100.0)
                .min(self.charge_limit)
                .min(100.0);
            // A charging car stays awake.
            self.last_activity = now;
        }
        if self.brand.sleeps() && !self.asleep {
            let idle = (now - self.last_activity).to_std().unwrap_or_default();
            if idle >= config.sleep_after {
                self.asleep = true;
            }
        }
        self.recorded_at = now;
        taken
    }
}

/// A simulated charger's side of the physical model: what it offers and what its meter counted.
#[derive(Debug, Clone, Default)]
struct Socket {
    /// Current offered now, amperes per phase (zero without a running, unsuspended transaction).
    offered_current: f64,
    /// The energy register, Wh.
    energy_wh: f64,
}

/// What a simulated charger's meter reads.
#[derive(Debug, Clone)]
pub struct SocketReading {
    /// The car plugged in, if any.
    pub vehicle: Option<SimVehicle>,
    /// Current drawn, amperes per phase.
    pub current_a: f64,
    /// Power drawn, W.
    pub power_w: f64,
    /// The energy register, Wh.
    pub energy_wh: f64,
}

/// Why a plug or unplug cannot happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlugError {
    /// No such car or charger.
    NotFound(String),
    /// The car is in another charger, or the charger holds another car.
    Occupied(String),
}

/// What a request to the cloud was, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// Token endpoint.
    Token,
    /// Vehicle list.
    List,
    /// Vehicle state read.
    State,
    /// A charging command.
    Command,
    /// A wake-up.
    Wake,
    /// Who the account is (`GET /user`): answered from the cloud's own directory, outside the
    /// vehicle API's rate limit.
    Account,
}

#[derive(Debug, Clone)]
struct Account {
    brand: Brand,
    username: String,
    password: String,
}

#[derive(Debug, Clone)]
struct RegisteredClient {
    secret: String,
    redirect_uris: Vec<String>,
}

/// An authorization request waiting for the person to sign in and consent.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub brand: Brand,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub challenge: String,
    pub account: Option<String>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Code {
    brand: Brand,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    account: String,
    scopes: Vec<String>,
    expires: DateTime<Utc>,
    used: bool,
    /// Every token issued from this code shares the family, so a replayed code revokes them all.
    family: String,
}

/// What a token grants.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub brand: Brand,
    pub account: String,
    pub scopes: Vec<String>,
    pub family: String,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    grant: Grant,
    expires: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<String, RegisteredClient>,
    accounts: Vec<Account>,
    vehicles: Vec<SimVehicle>,
    pending: HashMap<String, Pending>,
    codes: HashMap<String, Code>,
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, Grant>,
    requests: HashMap<(Brand, RequestKind), u64>,
    windows: HashMap<String, VecDeque<DateTime<Utc>>>,
    next_id: u64,
    /// Simulated chargers by OCPP identity.
    sockets: HashMap<String, Socket>,
    /// Each car's recent states (by id), oldest first, from which the maker's API answers with the
    /// car as it was `report_interval` ago.
    history: HashMap<String, VecDeque<(DateTime<Utc>, SimVehicle)>>,
    /// How much faster than real time batteries charge.
    time_factor: f64,
    /// How far the maker's API lags behind its cars now (starts as `SimConfig::report_interval`).
    report_interval: std::time::Duration,
    /// When every car was last advanced.
    advanced_all_at: Option<DateTime<Utc>>,
}

impl State {
    /// Advances every car to `now`, crediting the energy each took to the charger it is in, and
    /// records the cars' states for the maker's delayed view.
    fn advance_all(&mut self, now: DateTime<Utc>, config: &SimConfig) {
        self.advanced_all_at = Some(now);
        let factor = self.time_factor;
        for car in &mut self.vehicles {
            let taken = car.advance(now, config, factor);
            if let Some(socket) = car.charger.as_ref().and_then(|key| self.sockets.get_mut(key)) {
                socket.energy_wh += taken * 1000.0;
            }
        }
        if !self.report_interval.is_zero() {
            self.record(now, self.report_interval);
        }
    }

    /// What a reading of the socket `key` needs: the cars in it advanced to `now`, crediting their
    /// energy to it. Every car is advanced (and its state recorded for the maker's delayed view) at
    /// most once a second this way: hundreds of chargers each reading their socket every second
    /// would otherwise advance every car hundreds of times a second. Lazily advanced cars lose
    /// nothing: a car's energy is worked out from when it was last advanced, and every change to a
    /// car advances them all first.
    fn advance_for_socket(&mut self, key: &str, now: DateTime<Utc>, config: &SimConfig) {
        if self
            .advanced_all_at
            .is_none_or(|at| now - at >= chrono::Duration::seconds(1) || now < at)
        {
            self.advance_all(now, config);
            return;
        }
        let factor = self.time_factor;
        let mut taken = 0.0;
        for car in self.vehicles.iter_mut().filter(|v| v.charger.as_deref() == Some(key)) {
            taken += car.advance(now, config, factor);
        }
        if let Some(socket) = self.sockets.get_mut(key) {
            socket.energy_wh += taken * 1000.0;
        }
    }

    /// Keeps each car's states of the last `interval` (and the newest one before it): a sample a
    /// second, and every change of plug or charging status.
    fn record(&mut self, now: DateTime<Utc>, interval: Duration) {
        let keep = chrono::Duration::from_std(interval).unwrap_or_default();
        for car in &self.vehicles {
            let past = self.history.entry(car.id.clone()).or_default();
            let changed = past.back().is_none_or(|(at, last)| {
                now - *at >= chrono::Duration::seconds(1)
                    || last.plugged_in != car.plugged_in
                    || last.status() != car.status()
            });
            if changed {
                past.push_back((now, car.clone()));
            }
            while past.len() > 1 && past.get(1).is_some_and(|(at, _)| *at <= now - keep) {
                past.pop_front();
            }
        }
    }
}

/// Tokens issued by the token endpoint.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Issued {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

/// Why the token endpoint refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenError {
    InvalidClient,
    InvalidGrant(&'static str),
}

/// Why a vehicle API call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiRefusal {
    Unauthorized,
    Forbidden(&'static str),
    NotFound,
    Asleep,
    RateLimited(u64),
    NotSupported(String),
    Conflict(&'static str, &'static str),
    Invalid(String),
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A simulated OEM cloud. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct SimCloud {
    state: Arc<Mutex<State>>,
    config: Arc<SimConfig>,
    /// The time of the physical world (cars, sockets, the chargers' clocks); the system clock unless
    /// a test lends one it moves ([`SimCloud::with_clock`]). Tokens and rate limits keep real time.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SimCloud {
    // The state holds bearer tokens and passwords: they stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCloud")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SimCloud {
    /// An empty cloud.
    pub fn new(config: SimConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                time_factor: config.charge_speedup,
                report_interval: config.report_interval,
                ..State::default()
            })),
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same cloud whose physical world (cars charging, the chargers' clocks that judge their
    /// charging profiles) runs on `clock`, so a test moves time instead of waiting for it.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The physical world's time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A cloud with one demo account per brand (username `demo`, password `demo`) and a car or two
    /// in each, as the sandbox uses.
    pub fn with_demo_accounts(config: SimConfig) -> Self {
        let cloud = Self::new(config);
        let car = |vin: &str, model: &str, level: f64, plugged: bool| SimVehicleSpec {
            battery_level: level,
            plugged_in: plugged,
            ..SimVehicleSpec::new(vin, model)
        };
        cloud.add_account(
            Brand::Aurora,
            "demo",
            "demo",
            vec![car("SIMAUR00000000001", "Aurora A1", 42.0, false), {
                let mut old = car("SIMAUR00000000002", "Aurora Classic", 77.0, true);
                old.year = 2019;
                old
            }],
        );
        cloud.add_account(
            Brand::Boreal,
            "demo",
            "demo",
            vec![car("SIMBOR00000000001", "Boreal B", 35.0, false)],
        );
        cloud.add_account(
            Brand::Cirrus,
            "demo",
            "demo",
            vec![car("SIMCIR00000000001", "Cirrus C", 64.0, false)],
        );
        cloud.add_account(
            Brand::Nimbus,
            "demo",
            "demo",
            vec![car("SIMNIM00000000001", "Nimbus N", 58.0, false)],
        );
        cloud
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than keeping the simulator serving, so a poisoned lock is taken over.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers an OAuth client (Coupler) with its secret and redirect URI, for every brand.
    pub fn register_client(&self, client_id: &str, secret: &str, redirect_uri: &str) {
        let mut state = self.lock();
        let entry = state
            .clients
            .entry(client_id.to_owned())
            .or_insert_with(|| RegisteredClient {
                secret: secret.to_owned(),
                redirect_uris: Vec::new(),
            });
        entry.secret = secret.to_owned();
        if !entry.redirect_uris.iter().any(|u| u == redirect_uri) {
            entry.redirect_uris.push(redirect_uri.to_owned());
        }
    }

    /// Adds an account at `brand` with its cars; returns the cars' ids at the maker.
    pub fn add_account(
        &self,
        brand: Brand,
        username: &str,
        password: &str,
        vehicles: Vec<SimVehicleSpec>,
    ) -> Vec<String> {
        self.lock().accounts.push(Account {
            brand,
            username: username.to_owned(),
            password: password.to_owned(),
        });
        self.add_vehicles(brand, username, vehicles)
    }

    /// The logins that work at `brand` (username, password), the first few: the simulated maker's
    /// sign-in page shows them, since every account here is a test account.
    pub fn test_logins(&self, brand: Brand) -> Vec<(String, String)> {
        self.lock()
            .accounts
            .iter()
            .filter(|a| a.brand == brand)
            .take(5)
            .map(|a| (a.username.clone(), a.password.clone()))
            .collect()
    }

    /// Whether an account exists at `brand`.
    pub fn has_account(&self, brand: Brand, username: &str) -> bool {
        self.lock()
            .accounts
            .iter()
            .any(|a| a.brand == brand && a.username == username)
    }

    /// Adds cars to an account (which should exist); returns their ids at the maker.
    pub fn add_vehicles(&self, brand: Brand, username: &str, vehicles: Vec<SimVehicleSpec>) -> Vec<String> {
        let mut state = self.lock();
        let now = self.now();
        let mut ids = Vec::new();
        for spec in vehicles {
            state.next_id += 1;
            let id = format!("{}-{}", brand.slug(), 1000 + state.next_id);
            ids.push(id.clone());
            state.vehicles.push(SimVehicle {
                id,
                brand,
                account: username.to_owned(),
                vin: spec.vin,
                model: spec.model,
                year: spec.year,
                name: spec.name,
                capacity_kwh: spec.capacity_kwh,
                battery_level: spec.battery_level,
                charge_limit: spec.charge_limit,
                plugged_in: spec.plugged_in,
                charge_enabled: spec.plugged_in,
                max_current: 16,
                power_available: true,
                asleep: false,
                ignores_commands: false,
                latitude: spec.latitude,
                longitude: spec.longitude,
                schedule_hold: false,
                mac_address: spec.mac_address,
                charger: None,
                offered_current: None,
                private: spec.private,
                last_activity: now,
                recorded_at: now,
            });
        }
        ids
    }

    /// A car's current state (advanced to now).
    pub fn vehicle(&self, id: &str) -> Option<SimVehicle> {
        let mut state = self.lock();
        state.advance_all(self.now(), &self.config);
        state.vehicles.iter().find(|v| v.id == id || v.vin == id).cloned()
    }

    /// Every car, advanced to now.
    pub fn vehicles(&self) -> Vec<SimVehicle> {
        let mut state = self.lock();
        state.advance_all(self.now(), &self.config);
        state.vehicles.clone()
    }

    /// Changes a car (by id or VIN) as the sandbox or a test says: plug in, unplug, put to sleep...
    /// Returns the car afterwards, or `None` when there is no such car.
    pub fn update_vehicle(&self, id: &str, change: impl FnOnce(&mut SimVehicle)) -> Option<SimVehicle> {
        let mut state = self.lock();
        let now = self.now();
        state.advance_all(now, &self.config);
        let car = state.vehicles.iter_mut().find(|v| v.id == id || v.vin == id)?;
        let was_plugged = car.plugged_in;
        change(car);
        if car.plugged_in && !was_plugged {
            // Cars start charging when plugged in, as most do by default.
            car.charge_enabled = true;
            car.last_activity = now;
        }
        if !car.plugged_in {
            car.charge_enabled = false;
            car.charger = None;
            car.offered_current = None;
        }
        Some(car.clone())
    }

    /// How much faster than real time batteries charge now.
    pub fn time_factor(&self) -> f64 {
        self.lock().time_factor
    }

    /// Changes how much faster than real time batteries charge; what happened until now counts at
    /// the old factor.
    pub fn set_time_factor(&self, factor: f64) {
        let mut state = self.lock();
        state.advance_all(self.now(), &self.config);
        state.time_factor = factor;
    }

    /// How far behind its cars the maker's API reports now.
    pub fn report_interval(&self) -> std::time::Duration {
        self.lock().report_interval
    }

    /// Changes how far behind its cars the maker's API reports, from now on (the states of the
    /// past the new delay needs are kept from now on, so a longer delay shows the oldest kept state
    /// until enough has been recorded).
    pub fn set_report_interval(&self, interval: std::time::Duration) {
        let mut state = self.lock();
        state.advance_all(self.now(), &self.config);
        state.report_interval = interval;
    }

    /// Takes a car (by id) out of the world, with its recorded past; `false` when there is none.
    pub fn remove_vehicle(&self, id: &str) -> bool {
        let mut state = self.lock();
        let before = state.vehicles.len();
        state.vehicles.retain(|v| v.id != id);
        state.history.remove(id);
        state.vehicles.len() != before
    }

    /// Takes a simulated charger's socket (by OCPP identity) out of the physical model.
    pub fn remove_socket(&self, key: &str) {
        self.lock().sockets.remove(key);
    }

    /// Adds a simulated charger's socket (by OCPP identity) to the physical model; an existing one is
    /// kept, with its energy register.
    pub fn add_socket(&self, key: &str) {
        self.lock().sockets.entry(key.to_owned()).or_default();
    }

    /// Plugs a car into a simulated charger. Plugging a car into the charger it is already in changes
    /// nothing.
    pub fn plug(&self, vehicle_id: &str, key: &str) -> Result<SimVehicle, PlugError> {
        let mut state = self.lock();
        let now = self.now();
        state.advance_all(now, &self.config);
        let offered = state
            .sockets
            .get(key)
            .map(|s| s.offered_current)
            .ok_or_else(|| PlugError::NotFound(format!("no simulated charger '{key}'")))?;
        if let Some(other) = state
            .vehicles
            .iter()
            .find(|v| v.charger.as_deref() == Some(key) && v.id != vehicle_id)
        {
            return Err(PlugError::Occupied(format!(
                "the charger already has car '{}' plugged in",
                other.id
            )));
        }
        let car = state
            .vehicles
            .iter_mut()
            .find(|v| v.id == vehicle_id)
            .ok_or_else(|| PlugError::NotFound(format!("no simulated car '{vehicle_id}'")))?;
        match car.charger.as_deref() {
            Some(current) if current == key => return Ok(car.clone()),
            Some(current) => {
                return Err(PlugError::Occupied(format!(
                    "the car is plugged into '{current}'; unplug it first"
                )))
            }
            None if car.plugged_in => {
                return Err(PlugError::Occupied(
                    "the car is plugged into a cable outside the sandbox's chargers; unplug it first".into(),
                ))
            }
            None => {}
        }
        car.plugged_in = true;
        // A car wakes when a cable goes in, as real cars do, and reports it.
        car.asleep = false;
        // Cars start charging when plugged in, as most do by default.
        car.charge_enabled = true;
        car.charger = Some(key.to_owned());
        car.offered_current = Some(offered);
        car.power_available = offered >= MIN_CURRENT;
        car.last_activity = now;
        Ok(car.clone())
    }

    /// Unplugs a car (from a simulated charger or any cable).
    pub fn unplug(&self, vehicle_id: &str) -> Result<SimVehicle, PlugError> {
        self.update_vehicle(vehicle_id, |car| car.plugged_in = false)
            .ok_or_else(|| PlugError::NotFound(format!("no simulated car '{vehicle_id}'")))
    }

    /// Sets the current a simulated charger offers (what its transaction, its charging profiles and
    /// its own rating allow); the car in it draws up to that from now on.
    pub fn set_offered_current(&self, key: &str, amps: f64) {
        let mut state = self.lock();
        state.advance_all(self.now(), &self.config);
        let Some(socket) = state.sockets.get_mut(key) else {
            return;
        };
        socket.offered_current = amps;
        for car in state.vehicles.iter_mut().filter(|v| v.charger.as_deref() == Some(key)) {
            car.offered_current = Some(amps);
            car.power_available = amps >= MIN_CURRENT;
        }
    }

    /// What a simulated charger's meter reads now, advanced to now.
    pub fn socket_reading(&self, key: &str) -> Option<SocketReading> {
        let mut state = self.lock();
        state.advance_for_socket(key, self.now(), &self.config);
        let energy_wh = state.sockets.get(key)?.energy_wh;
        let vehicle = state
            .vehicles
            .iter()
            .find(|v| v.charger.as_deref() == Some(key))
            .cloned();
        let current_a = vehicle.as_ref().map_or(0.0, SimVehicle::current_a);
        Some(SocketReading {
            current_a,
            power_w: current_a * VOLTS * PHASES,
            energy_wh,
            vehicle,
        })
    }

    /// The car as the maker's API reports it: as it was `report_interval` ago (or as first seen,
    /// for a car younger than that), because a maker's cloud lags behind its cars.
    pub(crate) fn reported_vehicle(&self, id: &str) -> Option<SimVehicle> {
        let mut state = self.lock();
        let now = self.now();
        state.advance_all(now, &self.config);
        let live = state.vehicles.iter().find(|v| v.id == id)?.clone();
        if state.report_interval.is_zero() {
            return Some(live);
        }
        let cutoff = now - chrono::Duration::from_std(state.report_interval).unwrap_or_default();
        let past = state.history.get(id)?;
        past.iter()
            .rev()
            .find(|(at, _)| *at <= cutoff)
            .or_else(|| past.front())
            .map(|(_, car)| car.clone())
    }

    /// How many requests of `kind` the brand received.
    pub fn request_count(&self, brand: Brand, kind: RequestKind) -> u64 {
        self.lock().requests.get(&(brand, kind)).copied().unwrap_or(0)
    }

    /// Revokes every token of an account at a brand, as a maker does when the owner removes the app
    /// or changes the password.
    pub fn revoke_account(&self, brand: Brand, username: &str) {
        let mut state = self.lock();
        state
            .access
            .retain(|_, a| !(a.grant.brand == brand && a.grant.account == username));
        state
            .refresh
            .retain(|_, g| !(g.brand == brand && g.account == username));
    }

    /// Makes every access token of an account expire now (refresh tokens keep working).
    pub fn expire_access_tokens(&self, brand: Brand, username: &str) {
        let mut state = self.lock();
        let past = Utc::now() - chrono::Duration::seconds(1);
        for access in state.access.values_mut() {
            if access.grant.brand == brand && access.grant.account == username {
                access.expires = past;
            }
        }
    }

    pub(crate) fn count(&self, brand: Brand, kind: RequestKind) {
        *self.lock().requests.entry((brand, kind)).or_insert(0) += 1;
    }

    /// Checks an authorization request's client and redirect URI. The redirect URI must be one the
    /// client registered: otherwise nothing may be redirected to it.
    pub(crate) fn check_client_redirect(&self, client_id: &str, redirect_uri: &str) -> bool {
        self.lock()
            .clients
            .get(client_id)
            .is_some_and(|c| c.redirect_uris.iter().any(|u| u == redirect_uri))
    }

    pub(crate) fn start_authorization(&self, pending: Pending) -> String {
        let id = random_token();
        let mut state = self.lock();
        let cutoff = Utc::now() - chrono::Duration::hours(1);
        state.pending.retain(|_, p| p.created > cutoff);
        state.pending.insert(id.clone(), pending);
        id
    }

    pub(crate) fn pending(&self, id: &str) -> Option<Pending> {
        self.lock().pending.get(id).cloned()
    }

    /// Signs the person in for a pending request; `false` on a wrong username or password.
    pub(crate) fn login(&self, id: &str, username: &str, password: &str) -> bool {
        let mut state = self.lock();
        let Some(brand) = state.pending.get(id).map(|p| p.brand) else {
            return false;
        };
        let ok = state
            .accounts
            .iter()
            .any(|a| a.brand == brand && a.username == username && a.password == password);
        if ok {
            if let Some(p) = state.pending.get_mut(id) {
                p.account = Some(username.to_owned());
            }
        }
        ok
    }

    /// Ends a pending request with the person's decision; on approval, issues a code.
    pub(crate) fn decide(&self, id: &str, approve: bool) -> Option<(Pending, Option<String>)> {
        let mut state = self.lock();
        let pending = state.pending.remove(id)?;
        let account = pending.account.clone()?;
        if !approve {
            return Some((pending, None));
        }
        let code = random_token();
        let expires = Utc::now() + chrono::Duration::from_std(self.config.code_ttl).unwrap_or_default();
        state.codes.insert(
            code.clone(),
            Code {
                brand: pending.brand,
                client_id: pending.client_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                challenge: pending.challenge.clone(),
                account,
                scopes: pending.scopes.clone(),
                expires,
                used: false,
                family: random_token(),
            },
        );
        Some((pending, Some(code)))
    }

    fn authenticate_client(state: &State, client_id: &str, secret: &str) -> bool {
        state.clients.get(client_id).is_some_and(|c| c.secret == secret)
    }

    fn issue(&self, state: &mut State, grant: Grant) -> Issued {
        let access_token = random_token();
        let refresh_token = random_token();
        let ttl = self.config.access_token_ttl;
        state.access.insert(
            access_token.clone(),
            AccessGrant {
                grant: grant.clone(),
                expires: Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default(),
            },
        );
        let scope = grant.scopes.join(" ");
        state.refresh.insert(refresh_token.clone(), grant);
        Issued {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
            refresh_token,
            scope,
        }
    }

    fn revoke_family(state: &mut State, family: &str) {
        state.access.retain(|_, a| a.grant.family != family);
        state.refresh.retain(|_, g| g.family != family);
    }

    /// The authorization-code grant (RFC 6749 §4.1.3 with RFC 7636).
    pub(crate) fn exchange_code(
        &self,
        brand: Brand,
        client_id: &str,
        secret: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Issued, TokenError> {
        let mut state = self.lock();
        if !Self::authenticate_client(&state, client_id, secret) {
            return Err(TokenError::InvalidClient);
        }
        let Some(found) = state.codes.get(code).cloned() else {
            return Err(TokenError::InvalidGrant("unknown authorization code"));
        };
        if found.used {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            Self::revoke_family(&mut state, &found.family);
            return Err(TokenError::InvalidGrant("the authorization code was already used"));
        }
        if let Some(c) = state.codes.get_mut(code) {
            c.used = true;
        }
        if found.brand != brand || found.client_id != client_id {
            return Err(TokenError::InvalidGrant("the code was issued to another client"));
        }
        if found.expires <= Utc::now() {
            return Err(TokenError::InvalidGrant("the authorization code expired"));
        }
        if found.redirect_uri != redirect_uri {
            return Err(TokenError::InvalidGrant(
                "redirect_uri does not match the authorization request",
            ));
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if verifier.is_empty() || computed != found.challenge {
            return Err(TokenError::InvalidGrant(
                "code_verifier does not match the code challenge",
            ));
        }
        Ok(self.issue(
            &mut state,
            Grant {
                brand,
                account: found.account,
                scopes: found.scopes,
                family: found.family,
            },
        ))
    }

    /// The refresh-token grant. Refresh tokens are single use: the old one stops working.
    pub(crate) fn refresh(
        &self,
        brand: Brand,
        client_id: &str,
        secret: &str,
        refresh_token: &str,
    ) -> Result<Issued, TokenError> {
        let mut state = self.lock();
        if !Self::authenticate_client(&state, client_id, secret) {
            return Err(TokenError::InvalidClient);
        }
        let Some(grant) = state.refresh.remove(refresh_token) else {
            return Err(TokenError::InvalidGrant("the refresh token is not valid"));
        };
        if grant.brand != brand {
            return Err(TokenError::InvalidGrant("the refresh token belongs to another brand"));
        }
        Ok(self.issue(&mut state, grant))
    }

    /// Checks a bearer token and the brand's rate limit; counts the request.
    pub(crate) fn authorize(&self, brand: Brand, bearer: Option<&str>, kind: RequestKind) -> Result<Grant, ApiRefusal> {
        self.count(brand, kind);
        let mut state = self.lock();
        let now = Utc::now();
        let grant = bearer
            .and_then(|token| state.access.get(token))
            .filter(|a| a.expires > now && a.grant.brand == brand)
            .map(|a| a.grant.clone())
            .ok_or(ApiRefusal::Unauthorized)?;
        if brand.rate_limits() && kind != RequestKind::Account {
            let window = chrono::Duration::from_std(self.config.rate_window).unwrap_or_default();
            let limit = self.config.rate_limit as usize;
            let seen = state.windows.entry(grant.account.clone()).or_default();
            while seen.front().is_some_and(|t| *t <= now - window) {
                seen.pop_front();
            }
            if seen.len() >= limit {
                let oldest = seen.front().copied().unwrap_or(now);
                let wait = (oldest + window - now).num_milliseconds().max(0);
                return Err(ApiRefusal::RateLimited(((wait + 999) / 1000).max(1) as u64));
            }
            seen.push_back(now);
        }
        Ok(grant)
    }

    /// The account's cars.
    pub(crate) fn account_vehicles(&self, grant: &Grant) -> Vec<SimVehicle> {
        let mut state = self.lock();
        state.advance_all(self.now(), &self.config);
        state
            .vehicles
            .iter()
            .filter(|v| v.brand == grant.brand && v.account == grant.account)
            .cloned()
            .collect()
    }

    /// Runs `f` on one of the account's cars, advanced to now.
    pub(crate) fn with_vehicle<T>(
        &self,
        grant: &Grant,
        id: &str,
        f: impl FnOnce(&mut SimVehicle, DateTime<Utc>) -> Result<T, ApiRefusal>,
    ) -> Result<T, ApiRefusal> {
        let mut state = self.lock();
        let now = self.now();
        state.advance_all(now, &self.config);
        let car = state
            .vehicles
            .iter_mut()
            .find(|v| v.id == id && v.brand == grant.brand && v.account == grant.account)
            .ok_or(ApiRefusal::NotFound)?;
        f(car, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn a_plugged_in_car_charges_up_to_its_limit_and_then_is_complete() {
        let cloud = SimCloud::new(SimConfig {
            charge_speedup: 3600.0,
            ..SimConfig::default()
        });
        let ids = cloud.add_account(Brand::Aurora, "u", "p", vec![SimVehicleSpec::new("V1", "A1")]);
        let car = cloud.update_vehicle(&ids[0], |c| c.plugged_in = true).unwrap();
        assert_eq!(car.status(), "charging");
        assert!((car.power_kw() - 11.04).abs() < 0.01);
        cloud
            .update_vehicle(&ids[0], |c| c.recorded_at -= chrono::Duration::seconds(60))
            .unwrap();
        let later = cloud.vehicle(&ids[0]).unwrap();
        assert_eq!(
            later.battery_level, 80.0,
            "an hour at 11 kW (sped up) reaches the limit"
        );
        assert_eq!(later.status(), "complete");
    }

    fn one_car_in_a_socket(config: SimConfig, spec: SimVehicleSpec) -> (SimCloud, String) {
        let cloud = SimCloud::new(config);
        let ids = cloud.add_account(Brand::Aurora, "u", "p", vec![spec]);
        cloud.add_socket("CP1");
        cloud.plug(&ids[0], "CP1").unwrap();
        (cloud, ids[0].clone())
    }

    /// Moves the car's clock back, as if `seconds` had passed.
    fn let_time_pass(cloud: &SimCloud, id: &str, seconds: i64) {
        let mut state = cloud.lock();
        let car = state.vehicles.iter_mut().find(|v| v.id == id).unwrap();
        car.recorded_at -= chrono::Duration::seconds(seconds);
    }

    #[test]
    fn a_car_in_a_charger_draws_the_lesser_of_the_offer_and_its_own_maximum() {
        let (cloud, id) = one_car_in_a_socket(SimConfig::default(), SimVehicleSpec::new("V1", "A1"));
        // No transaction yet: the charger offers nothing.
        assert_eq!(cloud.vehicle(&id).unwrap().status(), "no_power");
        cloud.set_offered_current("CP1", 32.0);
        let reading = cloud.socket_reading("CP1").unwrap();
        assert_eq!(reading.current_a, 16.0, "the car takes at most 16 A");
        assert!((reading.power_w - 11_040.0).abs() < 1e-6);
        cloud.set_offered_current("CP1", 10.0);
        assert_eq!(cloud.socket_reading("CP1").unwrap().current_a, 10.0);
        // Below 6 A an AC charger's offer is no offer.
        cloud.set_offered_current("CP1", 5.0);
        assert_eq!(cloud.socket_reading("CP1").unwrap().current_a, 0.0);
        assert!(!cloud.vehicle(&id).unwrap().power_available);
    }

    #[test]
    fn energy_the_car_takes_is_counted_by_the_chargers_meter_and_stops_at_the_charge_limit() {
        let spec = SimVehicleSpec {
            battery_level: 79.0,
            capacity_kwh: 50.0,
            ..SimVehicleSpec::new("V1", "A1")
        };
        let (cloud, id) = one_car_in_a_socket(SimConfig::default(), spec);
        cloud.set_offered_current("CP1", 16.0);
        // Ten minutes at 11.04 kW is 1.84 kWh, but only 0.5 kWh (1 % of 50 kWh) fits under 80 %.
        let_time_pass(&cloud, &id, 600);
        let reading = cloud.socket_reading("CP1").unwrap();
        assert!((reading.energy_wh - 500.0).abs() < 1.0, "{}", reading.energy_wh);
        let car = reading.vehicle.unwrap();
        assert_eq!(car.battery_level, 80.0);
        assert_eq!(car.status(), "complete");
        assert_eq!(reading.current_a, 0.0, "a full car draws nothing");
    }

    #[test]
    fn the_time_factor_speeds_charging_up() {
        let (cloud, id) = one_car_in_a_socket(SimConfig::default(), SimVehicleSpec::new("V1", "A1"));
        cloud.set_offered_current("CP1", 16.0);
        cloud.set_time_factor(60.0);
        // One real minute at 60x is an hour at 11.04 kW: 11.04 kWh of a 75 kWh battery.
        let_time_pass(&cloud, &id, 60);
        let car = cloud.vehicle(&id).unwrap();
        assert!(
            (car.battery_level - (50.0 + 11.04 / 75.0 * 100.0)).abs() < 0.01,
            "{}",
            car.battery_level
        );
    }

    #[test]
    fn a_car_held_by_its_schedule_or_not_enabled_draws_nothing_although_offered() {
        let (cloud, id) = one_car_in_a_socket(SimConfig::default(), SimVehicleSpec::new("V1", "A1"));
        cloud.set_offered_current("CP1", 32.0);
        cloud.update_vehicle(&id, |c| c.schedule_hold = true).unwrap();
        assert_eq!(cloud.socket_reading("CP1").unwrap().current_a, 0.0);
        assert_eq!(cloud.vehicle(&id).unwrap().status(), "stopped");
        cloud
            .update_vehicle(&id, |c| {
                c.schedule_hold = false;
                c.charge_enabled = false;
            })
            .unwrap();
        assert_eq!(cloud.socket_reading("CP1").unwrap().current_a, 0.0);
    }

    #[test]
    fn a_charger_holds_one_car_and_a_car_is_in_one_charger() {
        let cloud = SimCloud::new(SimConfig::default());
        let ids = cloud.add_account(
            Brand::Aurora,
            "u",
            "p",
            vec![SimVehicleSpec::new("V1", "A1"), SimVehicleSpec::new("V2", "A1")],
        );
        cloud.add_socket("CP1");
        cloud.add_socket("CP2");
        assert!(cloud.plug(&ids[0], "CP1").is_ok());
        assert!(cloud.plug(&ids[0], "CP1").is_ok(), "plugging in again changes nothing");
        assert!(matches!(cloud.plug(&ids[1], "CP1"), Err(PlugError::Occupied(_))));
        assert!(matches!(cloud.plug(&ids[0], "CP2"), Err(PlugError::Occupied(_))));
        assert!(matches!(cloud.plug(&ids[1], "CP9"), Err(PlugError::NotFound(_))));
        let out = cloud.unplug(&ids[0]).unwrap();
        assert!(!out.plugged_in && out.charger.is_none());
        assert!(cloud.socket_reading("CP1").unwrap().vehicle.is_none());
        assert!(cloud.plug(&ids[1], "CP1").is_ok());
    }

    #[test]
    fn the_makers_api_reports_a_car_as_it_was_a_report_interval_ago() {
        let config = SimConfig {
            report_interval: Duration::from_secs(3600),
            ..SimConfig::default()
        };
        let cloud = SimCloud::new(config);
        let ids = cloud.add_account(Brand::Aurora, "u", "p", vec![SimVehicleSpec::new("V1", "A1")]);
        cloud.add_socket("CP1");
        assert!(!cloud.reported_vehicle(&ids[0]).unwrap().plugged_in);
        cloud.plug(&ids[0], "CP1").unwrap();
        assert!(cloud.vehicle(&ids[0]).unwrap().plugged_in, "the car is plugged in");
        assert!(
            !cloud.reported_vehicle(&ids[0]).unwrap().plugged_in,
            "the maker has not seen it yet"
        );
        // An hour later it has.
        for past in cloud.lock().history.values_mut() {
            for (at, _) in past.iter_mut() {
                *at -= chrono::Duration::seconds(3601);
            }
        }
        assert!(
            cloud.reported_vehicle(&ids[0]).unwrap().plugged_in,
            "an hour later it has"
        );
    }

    #[test]
    fn the_makers_delay_changes_while_running_and_a_cable_wakes_a_sleeping_car() {
        let cloud = SimCloud::new(SimConfig::default());
        let ids = cloud.add_account(Brand::Nimbus, "u", "p", vec![SimVehicleSpec::new("V1", "N3")]);
        cloud.add_socket("CP1");
        cloud.update_vehicle(&ids[0], |car| car.asleep = true);
        cloud.set_report_interval(Duration::from_secs(3600));
        assert_eq!(cloud.report_interval(), Duration::from_secs(3600));
        let plugged = cloud.plug(&ids[0], "CP1").unwrap();
        assert!(!plugged.asleep, "plugging a car in wakes it");
        assert!(
            !cloud.reported_vehicle(&ids[0]).unwrap().plugged_in,
            "with the new delay the maker has not seen it yet"
        );
        cloud.set_report_interval(Duration::ZERO);
        assert!(
            cloud.reported_vehicle(&ids[0]).unwrap().plugged_in,
            "without a delay it has"
        );
    }

    #[test]
    fn an_idle_nimbus_falls_asleep_and_a_charging_one_stays_awake() {
        let cloud = SimCloud::new(SimConfig {
            sleep_after: Duration::from_secs(60),
            ..SimConfig::default()
        });
        let ids = cloud.add_account(
            Brand::Nimbus,
            "u",
            "p",
            vec![SimVehicleSpec::new("N1", "N"), SimVehicleSpec::new("N2", "N")],
        );
        cloud.update_vehicle(&ids[1], |c| c.plugged_in = true).unwrap();
        for id in &ids {
            cloud
                .update_vehicle(id, |c| c.last_activity -= chrono::Duration::seconds(120))
                .unwrap();
        }
        assert!(cloud.vehicle(&ids[0]).unwrap().asleep);
        assert!(!cloud.vehicle(&ids[1]).unwrap().asleep);
    }

    #[test]
    fn a_code_is_exchanged_only_with_the_right_verifier_and_only_once() {
        let cloud = SimCloud::new(SimConfig::default());
        cloud.register_client("coupler", "secret", "http://c/cb");
        cloud.add_account(Brand::Aurora, "u", "p", vec![]);
        let verifier = "a-verifier-of-enough-length-0123456789abcdef";
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let rid = cloud.start_authorization(Pending {
            brand: Brand::Aurora,
            client_id: "coupler".into(),
            redirect_uri: "http://c/cb".into(),
            scopes: vec!["vehicle.read".into()],
            state: Some("s".into()),
            challenge,
            account: None,
            created: Utc::now(),
        });
        assert!(!cloud.login(&rid, "u", "wrong"));
        assert!(cloud.login(&rid, "u", "p"));
        let (_, code) = cloud.decide(&rid, true).unwrap();
        let code = code.unwrap();

        let wrong = cloud.exchange_code(
            Brand::Aurora,
            "coupler",
            "secret",
            &code,
            "http://c/cb",
            "wrong-verifier",
        );
        assert_eq!(
            wrong.map(|_| ()),
            Err(TokenError::InvalidGrant(
                "code_verifier does not match the code challenge"
            ))
        );
        // The failed try used the code up, as real servers do.
        let again = cloud.exchange_code(Brand::Aurora, "coupler", "secret", &code, "http://c/cb", verifier);
        assert_eq!(
            again.map(|_| ()),
            Err(TokenError::InvalidGrant("the authorization code was already used"))
        );
    }

    #[test]
    fn refresh_tokens_are_single_use() {
        let cloud = SimCloud::new(SimConfig::default());
        cloud.register_client("coupler", "secret", "http://c/cb");
        let mut state = cloud.lock();
        let issued = cloud.issue(
            &mut state,
            Grant {
                brand: Brand::Aurora,
                account: "u".into(),
                scopes: vec![],
                family: "f".into(),
            },
        );
        drop(state);
        let next = cloud
            .refresh(Brand::Aurora, "coupler", "secret", &issued.refresh_token)
            .unwrap();
        assert_ne!(next.refresh_token, issued.refresh_token);
        assert!(cloud
            .refresh(Brand::Aurora, "coupler", "secret", &issued.refresh_token)
            .is_err());
        assert!(cloud
            .refresh(Brand::Aurora, "coupler", "wrong", &next.refresh_token)
            .is_err());
    }
}
