//! The sandbox: core's [`Sandbox`] port over the simulated cloud and simulated chargers, with who
//! owns what, so each API client sees only its own simulated cars and chargers.
//!
//! The simulated cloud lives in memory. Simulated chargers must come back after a restart, so the
//! sandbox keeps a small state file of them (beside the database): identity, URL, options, and the
//! password Coupler issued, encrypted with Coupler's [`Cipher`] (Coupler itself keeps only its hash).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use coupler_core::clock::{Clock, ScaledClock};
use coupler_core::sandbox::{
    Commute, CommuteView, HouseholdPattern, Neighbourhood, NeighbourhoodArea, NewSimulatedCharger, NewSimulatedVehicle,
    Sandbox, SandboxClock, SandboxError, SimulatedCharger, SimulatedLogin, SimulatedVehicle, SimulatedVehicleChange,
};
use coupler_core::secret::Cipher;
use coupler_core::{ChargerId, ClientId, UserId};
use coupler_ocpp::OcppVersion;
use coupler_tasks::Tasks;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::brand::Brand;
use crate::charger::{SimCharger, SimChargerConfig};
use crate::cloud::{PlugError, SimCloud, SimVehicle, SimVehicleSpec};
use crate::commute::{CommuteMove, CommuteState};

/// The highest time factor the sandbox accepts (an hour of charging in a second).
pub const MAX_TIME_FACTOR: f64 = 3600.0;

/// The fastest the sandbox's clock runs: a day in four minutes. Faster, Coupler's own rounds (a
/// charger's meter values, the plan keeper's checks) would be hours of sandbox time apart.
pub const MAX_CLOCK_RATE: f64 = 360.0;

/// The furthest the sandbox's clock jumps forward in one request.
pub const MAX_CLOCK_JUMP: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// A simulated charger as the state file keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedCharger {
    client_id: String,
    charger_id: String,
    user_id: String,
    ocpp_id: String,
    ocpp_url: String,
    ocpp_version: String,
    auto_start: bool,
    sends_vehicle_identity: bool,
    /// The issued password, encrypted with Coupler's key.
    sealed_password: String,
}

#[derive(Debug, Clone)]
struct Owned {
    client: ClientId,
    brand: Brand,
    username: String,
}

#[derive(Debug)]
struct ChargerEntry {
    client: ClientId,
    user: UserId,
    charger: SimCharger,
    saved: SavedCharger,
}

#[derive(Debug, Default)]
struct Inner {
    /// Car id at the maker → who created it, and its account.
    vehicles: HashMap<String, Owned>,
    /// (brand, username) → owner and password.
    accounts: HashMap<(Brand, String), (ClientId, String)>,
    /// Coupler's charger id → the simulated charger.
    chargers: HashMap<ChargerId, ChargerEntry>,
    /// Car id at the maker → its commute.
    commutes: HashMap<String, CommuteState>,
    /// (client, id) → a simulated neighbourhood.
    neighbourhoods: HashMap<(ClientId, String), Neighbourhood>,
}

/// The simulated world of `coupler serve --sandbox`.
#[derive(Debug)]
pub struct SimSandbox {
    cloud: SimCloud,
    cipher: Cipher,
    state_file: Option<PathBuf>,
    /// The server's tasks: the simulated chargers run on them and stop with them.
    tasks: Tasks,
    /// The sandbox's time, which Coupler and the simulated world both read.
    clock: Arc<ScaledClock>,
    /// Wakes the commute task when a commute is set or the clock changes pace.
    commutes_changed: tokio::sync::Notify,
    inner: Mutex<Inner>,
}

impl SimSandbox {
    /// A sandbox over `cloud` whose time is `clock` (the clock `cloud` and Coupler read too);
    /// chargers are saved to `state_file` (if any) with their passwords encrypted by `cipher`, and
    /// run on `tasks` until they stop, as do the commuting cars (see [`SimSandbox::spawn_commutes`]).
    pub fn new(
        cloud: SimCloud,
        cipher: Cipher,
        state_file: Option<PathBuf>,
        tasks: Tasks,
        clock: Arc<ScaledClock>,
    ) -> Self {
        Self {
            cloud,
            cipher,
            state_file,
            tasks,
            clock,
            commutes_changed: tokio::sync::Notify::new(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Runs the commuting cars on the server's tasks: each comes home and leaves as the sandbox's
    /// clock reaches its times.
    pub fn spawn_commutes(self: &Arc<Self>) {
        let sandbox = self.clone();
        let shutdown = self.tasks.token().clone();
        self.tasks.spawn("sandbox commutes", async move {
            loop {
                let next = sandbox.move_commuters();
                let now = sandbox.clock.now();
                // At most a second apart, so a change of pace is followed soon.
                let wait = next
                    .map_or(Duration::from_secs(1), |at| sandbox.clock.wall_time(at - now))
                    .clamp(Duration::from_millis(20), Duration::from_secs(1));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = sandbox.commutes_changed.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
    }

    /// Carries out every commute move that is due; returns when the next one falls.
    fn move_commuters(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let cars: Vec<String> = inner.commutes.keys().cloned().collect();
        for car in cars {
            // A clock that jumped days ahead is caught up one move at a time.
            for _ in 0..32 {
                let Some(state) = inner.commutes.get(&car) else {
                    break;
                };
                let Some(due) = state.due(now, rand::random::<f64>) else {
                    break;
                };
                let charger_key = inner
                    .chargers
                    .get(&state.commute.charger_id)
                    .map(|entry| entry.saved.ocpp_id.clone());
                match due {
                    CommuteMove::Arrive { battery_level } => {
                        let not_plugged = self.commuter_arrives(&inner, &car, battery_level, charger_key.as_deref());
                        if let Some(reason) = &not_plugged {
                            tracing::info!(vehicle = %car, %reason, "a commuting car came home but was not plugged in");
                        }
                        if let Some(state) = inner.commutes.get_mut(&car) {
                            state.arrived(battery_level, not_plugged);
                        }
                    }
                    CommuteMove::Leave => {
                        let before = self.cloud.vehicle(&car);
                        let level = before.as_ref().map(|v| (v.battery_level * 10.0).round() / 10.0);
                        // Unplugged only from its home charger: a car moved elsewhere by hand stays.
                        if let Some(before) = before.filter(|b| b.charger.is_some() && b.charger == charger_key) {
                            if self.cloud.unplug(&car).is_ok() {
                                self.poke_charger_of(&inner, &before);
                            }
                        }
                        if let Some(state) = inner.commutes.get_mut(&car) {
                            state.left(level);
                        }
                    }
                }
            }
        }
        inner.commutes.values().map(CommuteState::next_edge).min()
    }

    /// Sets the car's state of charge and plugs it into its home charger (unplugging it from
    /// wherever it was); says why not if it cannot be plugged in.
    fn commuter_arrives(&self, inner: &Inner, car: &str, level: f64, charger_key: Option<&str>) -> Option<String> {
        let Some(key) = charger_key else {
            return Some("its charger is no longer in the sandbox".into());
        };
        if let Some(before) = self.cloud.vehicle(car) {
            if before.charger.is_some() && self.cloud.unplug(car).is_ok() {
                self.poke_charger_of(inner, &before);
            }
        }
        if self.cloud.update_vehicle(car, |c| c.battery_level = level).is_none() {
            return Some("the car is no longer in the sandbox".into());
        }
        match self.cloud.plug(car, key) {
            Ok(_) => {
                if let Some(entry) = inner.chargers.values().find(|c| c.saved.ocpp_id == key) {
                    entry.charger.poke();
                }
                None
            }
            Err(PlugError::NotFound(why) | PlugError::Occupied(why)) => Some(why),
        }
    }

    /// The simulated cloud.
    pub fn cloud(&self) -> &SimCloud {
        &self.cloud
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The chargers the state file names: (client, Coupler's charger id).
    pub fn saved_chargers(&self) -> Vec<(ClientId, ChargerId)> {
        self.read_saved()
            .into_iter()
            .map(|c| (ClientId::new(&c.client_id), ChargerId::new(&c.charger_id)))
            .collect()
    }

    fn read_saved(&self) -> Vec<SavedCharger> {
        let Some(path) = &self.state_file else {
            return Vec::new();
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(path = %path.display(), %error, "the sandbox state file cannot be read; starting without its chargers");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        }
    }

    /// Reconnects the chargers the state file names, keeping those `keep` approves (for example
    /// those still registered in Coupler), to the gateway at `ocpp_base` (`ws://host:port`, which may
    /// differ from the last run's). Returns how many came back.
    pub fn restore(&self, ocpp_base: &str, keep: impl Fn(&ClientId, &ChargerId) -> bool) -> usize {
        let saved = self.read_saved();
        let mut restored = 0;
        for mut entry in saved {
            entry.ocpp_url = format!("{}/ocpp/{}", ocpp_base.trim_end_matches('/'), entry.ocpp_id);
            let client = ClientId::new(&entry.client_id);
            let charger_id = ChargerId::new(&entry.charger_id);
            if !keep(&client, &charger_id) {
                continue;
            }
            let Ok(password) = self.cipher.decrypt(&entry.sealed_password) else {
                tracing::warn!(ocpp_id = %entry.ocpp_id, "a sandbox charger's password cannot be decrypted (another key?); skipped");
                continue;
            };
            let Ok(user) = UserId::parse(&entry.user_id) else {
                continue;
            };
            let Some(version) = parse_version(&entry.ocpp_version) else {
                continue;
            };
            let charger = SimCharger::start(
                self.cloud.clone(),
                SimChargerConfig {
                    auto_start: entry.auto_start,
                    sends_vehicle_identity: entry.sends_vehicle_identity,
                    ..SimChargerConfig::home(&entry.ocpp_id, &entry.ocpp_url, &password, version)
                },
                &self.tasks,
            );
            self.lock().chargers.insert(
                charger_id,
                ChargerEntry {
                    client,
                    user,
                    charger,
                    saved: entry,
                },
            );
            restored += 1;
        }
        // Chargers no longer registered are forgotten.
        let inner = self.lock();
        self.save(&inner);
        restored
    }

    fn save(&self, inner: &Inner) {
        let Some(path) = &self.state_file else {
            return;
        };
        let mut saved: Vec<&SavedCharger> = inner.chargers.values().map(|c| &c.saved).collect();
        saved.sort_by(|a, b| a.charger_id.cmp(&b.charger_id));
        match serde_json::to_vec_pretty(&saved) {
            Ok(bytes) => {
                if let Err(error) = std::fs::write(path, bytes) {
                    tracing::warn!(path = %path.display(), %error, "cannot write the sandbox state file");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot encode the sandbox state"),
        }
    }

    fn view(&self, inner: &Inner, car: &SimVehicle) -> Option<SimulatedVehicle> {
        let charger_id = car.charger.as_ref().and_then(|key| {
            inner
                .chargers
                .iter()
                .find(|(_, c)| c.saved.ocpp_id == *key)
                .map(|(id, _)| id.clone())
        });
        self.view_in(inner, car, charger_id)
    }

    /// A car as the client sees it, plugged into `charger_id` (looked up by the caller, so a list of
    /// many cars finds their chargers in one pass rather than one each).
    fn view_in(&self, inner: &Inner, car: &SimVehicle, charger_id: Option<ChargerId>) -> Option<SimulatedVehicle> {
        let owned = inner.vehicles.get(&car.id)?;
        let password = inner
            .accounts
            .get(&(owned.brand, owned.username.clone()))
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        Some(SimulatedVehicle {
            id: car.id.clone(),
            vendor: car.brand.vendor().to_string(),
            vin: car.vin.clone(),
            model: car.model.clone(),
            login: SimulatedLogin {
                username: owned.username.clone(),
                password,
            },
            battery_level: (car.battery_level * 10.0).round() / 10.0,
            charge_limit: car.charge_limit,
            capacity_kwh: car.capacity_kwh,
            max_current: car.max_current,
            plugged_in: car.plugged_in,
            charger_id,
            status: car.status().to_owned(),
            power_kw: (car.power_kw() * 100.0).round() / 100.0,
            asleep: car.asleep,
            schedule_hold: car.schedule_hold,
            mac_address: car.mac_address.clone(),
            latitude: car.latitude,
            longitude: car.longitude,
        })
    }

    fn charger_view(&self, id: &ChargerId, entry: &ChargerEntry) -> SimulatedCharger {
        let view = entry.charger.view();
        let reading = self.cloud.socket_reading(&entry.saved.ocpp_id);
        SimulatedCharger {
            id: id.clone(),
            user_id: entry.user.clone(),
            ocpp_id: entry.saved.ocpp_id.clone(),
            ocpp_version: entry.saved.ocpp_version.clone(),
            auto_start: entry.saved.auto_start,
            sends_vehicle_identity: entry.saved.sends_vehicle_identity,
            connected: view.connected,
            vehicle_id: reading.as_ref().and_then(|r| r.vehicle.as_ref().map(|v| v.id.clone())),
            status: view.status.as_str().to_owned(),
            offered_current: view.offered_current,
            power_kw: reading.as_ref().map_or(0.0, |r| (r.power_w / 10.0).round() / 100.0),
            energy_wh: reading.as_ref().map_or(0.0, |r| r.energy_wh.round()),
        }
    }

    /// The client's car `id`, or the same 404 whether it is unknown or another client's.
    fn owned_car(&self, inner: &Inner, client: &ClientId, id: &str) -> Result<(), SandboxError> {
        match inner.vehicles.get(id) {
            Some(owned) if owned.client == *client => Ok(()),
            _ => Err(SandboxError::NotFound(format!("no simulated vehicle '{id}'"))),
        }
    }
}

fn parse_version(text: &str) -> Option<OcppVersion> {
    match text {
        "1.6" => Some(OcppVersion::V16),
        "2.0.1" => Some(OcppVersion::V201),
        _ => None,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_percent(value: Option<f64>, name: &str, low: f64) -> Result<(), SandboxError> {
    match value {
        Some(v) if !v.is_finite() || !(low..=100.0).contains(&v) => Err(SandboxError::Invalid(format!(
            "{name} must be a number from {low} to 100"
        ))),
        _ => Ok(()),
    }
}

/// A MAC address in the usual six colon- or dash-separated hex pairs, written upper case with colons.
fn normalise_mac(mac: &str) -> Result<String, SandboxError> {
    let pairs: Vec<&str> = mac.split([':', '-']).collect();
    let valid = pairs.len() == 6
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if valid {
        Ok(pairs.join(":").to_uppercase())
    } else {
        Err(SandboxError::Invalid(
            "macAddress must be six hex pairs such as 02:1A:2B:3C:4D:5E".into(),
        ))
    }
}

fn brand_of(text: &str) -> Result<Brand, SandboxError> {
    Brand::ALL
        .into_iter()
        .find(|b| b.slug().eq_ignore_ascii_case(text) || b.vendor().as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            SandboxError::Invalid(format!(
                "unknown brand '{text}'; use one of SIM_AURORA, SIM_BOREAL, SIM_CIRRUS, SIM_NIMBUS"
            ))
        })
}

fn default_model(brand: Brand) -> &'static str {
    match brand {
        Brand::Aurora => "Aurora A1",
        Brand::Boreal => "Boreal B",
        Brand::Cirrus => "Cirrus C",
        Brand::Nimbus => "Nimbus N",
    }
}

fn plug_error(error: PlugError) -> SandboxError {
    match error {
        PlugError::NotFound(why) => SandboxError::NotFound(why),
        PlugError::Occupied(why) => SandboxError::Conflict(why),
    }
}

#[async_trait]
impl Sandbox for SimSandbox {
    async fn create_vehicle(
        &self,
        client: &ClientId,
        vehicle: NewSimulatedVehicle,
    ) -> Result<SimulatedVehicle, SandboxError> {
        let brand = brand_of(&vehicle.brand)?;
        check_percent(vehicle.battery_level, "batteryLevel", 0.0)?;
        check_percent(vehicle.charge_limit, "chargeLimit", 50.0)?;
        let max_current = check_max_current(vehicle.max_current)?;
        let mac = vehicle.mac_address.as_deref().map(normalise_mac).transpose()?;
        let model = vehicle.model.unwrap_or_else(|| default_model(brand).to_owned());
        if model.trim().is_empty() || model.len() > 50 {
            return Err(SandboxError::Invalid("model must be 1 to 50 characters".into()));
        }
        let mut inner = self.lock();
        let username = match vehicle.account {
            Some(username) => match inner.accounts.get(&(brand, username.clone())) {
                Some((owner, _)) if owner == client => username,
                _ => {
                    return Err(SandboxError::NotFound(format!(
                        "no simulated {} account '{username}' of yours",
                        brand.vendor()
                    )))
                }
            },
            None => {
                let username = format!("driver-{}", random_hex(4));
                let password = random_hex(6);
                self.cloud.add_account(brand, &username, &password, Vec::new());
                inner
                    .accounts
                    .insert((brand, username.clone()), (client.clone(), password));
                username
            }
        };
        let vin = format!(
            "SIM{}{}",
            &brand.slug()[..3].to_uppercase(),
            random_hex(6).to_uppercase()
        )
        .chars()
        .take(17)
        .collect::<String>();
        let mut spec = SimVehicleSpec::new(&vin, &model);
        if let Some(level) = vehicle.battery_level {
            spec.battery_level = level;
        }
        if let Some(limit) = vehicle.charge_limit {
            spec.charge_limit = limit;
        }
        spec.mac_address = mac;
        spec.private = true;
        let ids = self.cloud.add_vehicles(brand, &username, vec![spec]);
        let id = ids.into_iter().next().unwrap_or_default();
        if let Some(amps) = max_current {
            self.cloud.update_vehicle(&id, |car| car.max_current = amps);
        }
        inner.vehicles.insert(
            id.clone(),
            Owned {
                client: client.clone(),
                brand,
                username,
            },
        );
        let car = self
            .cloud
            .vehicle(&id)
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated vehicle '{id}'")))?;
        self.view(&inner, &car)
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated vehicle '{id}'")))
    }

    async fn list_vehicles(&self, client: &ClientId) -> Vec<SimulatedVehicle> {
        let inner = self.lock();
        let by_key: HashMap<&str, &ChargerId> = inner
            .chargers
            .iter()
            .map(|(id, c)| (c.saved.ocpp_id.as_str(), id))
            .collect();
        self.cloud
            .vehicles()
            .iter()
            .filter(|car| inner.vehicles.get(&car.id).is_some_and(|o| o.client == *client))
            .filter_map(|car| {
                let charger_id = car
                    .charger
                    .as_deref()
                    .and_then(|key| by_key.get(key))
                    .map(|id| (*id).clone());
                self.view_in(&inner, car, charger_id)
            })
            .collect()
    }

    async fn update_vehicle(
        &self,
        client: &ClientId,
        vehicle_id: &str,
        change: SimulatedVehicleChange,
    ) -> Result<SimulatedVehicle, SandboxError> {
        let inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        check_percent(change.battery_level, "batteryLevel", 0.0)?;
        check_percent(change.charge_limit, "chargeLimit", 50.0)?;
        let max_current = check_max_current(change.max_current)?;
        let position = match (change.latitude, change.longitude) {
            (None, None) => None,
            (Some(latitude), Some(longitude))
                if latitude.is_finite()
                    && longitude.is_finite()
                    && (-90.0..=90.0).contains(&latitude)
                    && (-180.0..=180.0).contains(&longitude) =>
            {
                Some((latitude, longitude))
            }
            _ => {
                return Err(SandboxError::Invalid(
                    "latitude (-90 to 90) and longitude (-180 to 180) move the car together".into(),
                ))
            }
        };
        let car = self
            .cloud
            .update_vehicle(vehicle_id, |car| {
                if let Some(level) = change.battery_level {
                    car.battery_level = level;
                }
                if let Some(limit) = change.charge_limit {
                    car.charge_limit = limit;
                }
                if let Some(asleep) = change.asleep {
                    car.asleep = asleep;
                    if !asleep {
                        car.last_activity = self.cloud.now();
                    }
                }
                if let Some(hold) = change.schedule_hold {
                    car.schedule_hold = hold;
                }
                if let Some((latitude, longitude)) = position {
                    car.latitude = latitude;
                    car.longitude = longitude;
                }
                if let Some(amps) = max_current {
                    car.max_current = amps;
                }
            })
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated vehicle '{vehicle_id}'")))?;
        self.poke_charger_of(&inner, &car);
        self.view(&inner, &car)
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated vehicle '{vehicle_id}'")))
    }

    async fn add_charger(
        &self,
        client: &ClientId,
        charger: NewSimulatedCharger,
    ) -> Result<SimulatedCharger, SandboxError> {
        self.add_chargers(client, vec![charger])
            .await?
            .pop()
            .ok_or_else(|| SandboxError::NotFound("the charger vanished".into()))
    }

    async fn list_chargers(&self, client: &ClientId) -> Vec<SimulatedCharger> {
        let inner = self.lock();
        let mut chargers: Vec<SimulatedCharger> = inner
            .chargers
            .iter()
            .filter(|(_, c)| c.client == *client)
            .map(|(id, c)| self.charger_view(id, c))
            .collect();
        chargers.sort_by(|a, b| b.id.as_str().cmp(a.id.as_str()));
        chargers
    }

    async fn plug(
        &self,
        client: &ClientId,
        vehicle_id: &str,
        charger_id: &ChargerId,
    ) -> Result<SimulatedVehicle, SandboxError> {
        let inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        let entry = inner
            .chargers
            .get(charger_id)
            .filter(|c| c.client == *client)
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated charger '{charger_id}'")))?;
        let car = self.cloud.plug(vehicle_id, &entry.saved.ocpp_id).map_err(plug_error)?;
        entry.charger.poke();
        self.view(&inner, &car)
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated vehicle '{vehicle_id}'")))
    }

    async fn unplug(&self, client: &ClientId, vehicle_id: &str) -> Result<SimulatedVehicle, SandboxError> {
        let inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        let before = self.cloud.vehicle(vehicle_id);
        let car = self.cloud.unplug(vehicle_id).map_err(plug_error)?;
        if let Some(before) = before {
            self.poke_charger_of(&inner, &before);
        }
        self.view(&inner, &car)
            .ok_or_else(|| SandboxError::NotFound(format!("no simulated vehicle '{vehicle_id}'")))
    }

    fn time_factor(&self) -> f64 {
        self.cloud.time_factor()
    }

    async fn set_time_factor(&self, factor: f64) -> Result<f64, SandboxError> {
        if !factor.is_finite() || !(1.0..=MAX_TIME_FACTOR).contains(&factor) {
            return Err(SandboxError::Invalid(format!(
                "factor must be a number from 1 to {MAX_TIME_FACTOR}"
            )));
        }
        self.cloud.set_time_factor(factor);
        Ok(factor)
    }

    fn report_delay(&self) -> f64 {
        self.cloud.report_interval().as_secs_f64()
    }

    async fn set_report_delay(&self, seconds: f64) -> Result<f64, SandboxError> {
        if !seconds.is_finite() || !(0.0..=MAX_REPORT_DELAY_S).contains(&seconds) {
            return Err(SandboxError::Invalid(format!(
                "seconds must be a number from 0 to {MAX_REPORT_DELAY_S}"
            )));
        }
        self.cloud
            .set_report_interval(std::time::Duration::from_secs_f64(seconds));
        Ok(seconds)
    }

    fn clock(&self) -> SandboxClock {
        SandboxClock {
            now: self.clock.now(),
            rate: self.clock.rate(),
        }
    }

    async fn set_clock(
        &self,
        rate: Option<f64>,
        advance: Option<chrono::Duration>,
    ) -> Result<SandboxClock, SandboxError> {
        if let Some(rate) = rate {
            if !rate.is_finite() || !(1.0..=MAX_CLOCK_RATE).contains(&rate) {
                return Err(SandboxError::Invalid(format!(
                    "rate must be a number from 1 to {MAX_CLOCK_RATE}"
                )));
            }
        }
        if let Some(by) = advance {
            if by < chrono::Duration::zero() || by > MAX_CLOCK_JUMP {
                return Err(SandboxError::Invalid(format!(
                    "the clock jumps forward only, by at most {} days",
                    MAX_CLOCK_JUMP.num_days()
                )));
            }
        }
        if let Some(rate) = rate {
            self.clock.set_rate(rate);
        }
        if let Some(by) = advance {
            self.clock.advance(by);
        }
        self.commutes_changed.notify_one();
        Ok(Sandbox::clock(self))
    }

    async fn set_commute(
        &self,
        client: &ClientId,
        vehicle_id: &str,
        commute: Commute,
    ) -> Result<CommuteView, SandboxError> {
        commute.check()?;
        let mut inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        match inner.chargers.get(&commute.charger_id) {
            Some(entry) if entry.client == *client => {}
            _ => {
                return Err(SandboxError::NotFound(format!(
                    "no simulated charger '{}'",
                    commute.charger_id
                )))
            }
        }
        let state = CommuteState::new(client.clone(), commute, self.clock.now());
        let view = state.view(vehicle_id);
        inner.commutes.insert(vehicle_id.to_owned(), state);
        drop(inner);
        self.commutes_changed.notify_one();
        Ok(view)
    }

    async fn commute(&self, client: &ClientId, vehicle_id: &str) -> Result<CommuteView, SandboxError> {
        let inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        inner
            .commutes
            .get(vehicle_id)
            .map(|state| state.view(vehicle_id))
            .ok_or_else(|| SandboxError::NotFound(format!("simulated vehicle '{vehicle_id}' has no commute")))
    }

    async fn delete_commute(&self, client: &ClientId, vehicle_id: &str) -> Result<(), SandboxError> {
        let mut inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        inner
            .commutes
            .remove(vehicle_id)
            .map(|_| ())
            .ok_or_else(|| SandboxError::NotFound(format!("simulated vehicle '{vehicle_id}' has no commute")))
    }

    async fn add_chargers(
        &self,
        client: &ClientId,
        chargers: Vec<NewSimulatedCharger>,
    ) -> Result<Vec<SimulatedCharger>, SandboxError> {
        // Every charger is checked before any is started, so a bad one starts none.
        let mut checked = Vec::with_capacity(chargers.len());
        for charger in chargers {
            let version = parse_version(&charger.ocpp_version)
                .ok_or_else(|| SandboxError::Invalid("ocppVersion must be \"1.6\" or \"2.0.1\"".into()))?;
            checked.push((charger, version));
        }
        let mut inner = self.lock();
        let mut ids = Vec::with_capacity(checked.len());
        for (i, (charger, version)) in checked.into_iter().enumerate() {
            let saved = SavedCharger {
                client_id: client.as_str().to_owned(),
                charger_id: charger.charger_id.as_str().to_owned(),
                user_id: charger.user_id.as_str().to_owned(),
                ocpp_id: charger.ocpp_id.clone(),
                ocpp_url: charger.ocpp_url.clone(),
                ocpp_version: charger.ocpp_version.clone(),
                auto_start: charger.auto_start,
                sends_vehicle_identity: charger.sends_vehicle_identity,
                sealed_password: self.cipher.encrypt(&charger.password),
            };
            let sim = SimCharger::start(
                self.cloud.clone(),
                SimChargerConfig {
                    auto_start: charger.auto_start,
                    sends_vehicle_identity: charger.sends_vehicle_identity,
                    first_connect_after: CONNECT_SPACING * u32::try_from(i).unwrap_or(u32::MAX),
                    ..SimChargerConfig::home(&charger.ocpp_id, &charger.ocpp_url, &charger.password, version)
                },
                &self.tasks,
            );
            ids.push(charger.charger_id.clone());
            inner.chargers.insert(
                charger.charger_id,
                ChargerEntry {
                    client: client.clone(),
                    user: charger.user_id,
                    charger: sim,
                    saved,
                },
            );
        }
        self.save(&inner);
        Ok(ids
            .iter()
            .filter_map(|id| inner.chargers.get(id).map(|entry| self.charger_view(id, entry)))
            .collect())
    }

    async fn remove_vehicle(&self, client: &ClientId, vehicle_id: &str) -> Result<(), SandboxError> {
        let mut inner = self.lock();
        self.owned_car(&inner, client, vehicle_id)?;
        inner.commutes.remove(vehicle_id);
        if let Some(before) = self.cloud.vehicle(vehicle_id) {
            if before.charger.is_some() && self.cloud.unplug(vehicle_id).is_ok() {
                self.poke_charger_of(&inner, &before);
            }
        }
        self.cloud.remove_vehicle(vehicle_id);
        inner.vehicles.remove(vehicle_id);
        Ok(())
    }

    async fn remove_charger(&self, client: &ClientId, charger_id: &ChargerId) -> Result<(), SandboxError> {
        let mut inner = self.lock();
        match inner.chargers.get(charger_id) {
            Some(entry) if entry.client == *client => {}
            _ => return Err(SandboxError::NotFound(format!("no simulated charger '{charger_id}'"))),
        }
        let Some(entry) = inner.chargers.remove(charger_id) else {
            return Err(SandboxError::NotFound(format!("no simulated charger '{charger_id}'")));
        };
        entry.charger.stop();
        let key = entry.saved.ocpp_id;
        if let Some(reading) = self.cloud.socket_reading(&key) {
            if let Some(car) = reading.vehicle {
                let _ = self.cloud.unplug(&car.id);
            }
        }
        self.cloud.remove_socket(&key);
        self.save(&inner);
        Ok(())
    }

    fn draw_households(&self, seed: u64, count: usize, area: &NeighbourhoodArea) -> Vec<HouseholdPattern> {
        crate::neighbourhood::draw_households(seed, count, area)
    }

    async fn put_neighbourhood(&self, neighbourhood: Neighbourhood) {
        let key = (neighbourhood.client.clone(), neighbourhood.id.clone());
        self.lock().neighbourhoods.insert(key, neighbourhood);
    }

    async fn neighbourhoods(&self, client: &ClientId) -> Vec<Neighbourhood> {
        self.lock()
            .neighbourhoods
            .values()
            .filter(|n| n.client == *client)
            .cloned()
            .collect()
    }

    async fn neighbourhood(&self, client: &ClientId, id: &str) -> Option<Neighbourhood> {
        self.lock()
            .neighbourhoods
            .get(&(client.clone(), id.to_owned()))
            .cloned()
    }

    async fn take_neighbourhood(&self, client: &ClientId, id: &str) -> Option<Neighbourhood> {
        self.lock().neighbourhoods.remove(&(client.clone(), id.to_owned()))
    }
}

/// How far apart chargers added together first connect: a thousand connect over 20 seconds rather
/// than all at once, so their boots do not queue for the database together.
const CONNECT_SPACING: Duration = Duration::from_millis(20);

/// The longest maker reporting delay the sandbox takes, seconds.
const MAX_REPORT_DELAY_S: f64 = 600.0;

/// A car's own maximum current must be one an AC car can draw: 6 to 32 A per phase.
fn check_max_current(amps: Option<u32>) -> Result<Option<u32>, SandboxError> {
    match amps {
        Some(a) if !(6..=32).contains(&a) => Err(SandboxError::Invalid(
            "maxCurrent must be from 6 to 32 amperes per phase".into(),
        )),
        other => Ok(other),
    }
}

impl SimSandbox {
    /// Lets the charger a car is in look at the model now (a change of the car changes what it draws).
    fn poke_charger_of(&self, inner: &Inner, car: &SimVehicle) {
        if let Some(key) = &car.charger {
            if let Some(entry) = inner.chargers.values().find(|c| c.saved.ocpp_id == *key) {
                entry.charger.poke();
            }
        }
    }
}
