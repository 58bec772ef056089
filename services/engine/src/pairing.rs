//! The pairing engine: works out which vehicle is plugged into which charger.
//!
//! It listens to two things: chargers reporting a status, a transaction, an id tag or meter values
//! (from the gateway), and vehicles being read (from the poller). On a charger's plug-in it asks
//! for an immediate read of the user's vehicles, then weighs the evidence every time something new
//! arrives. All open plug-ins of one user are weighed together, with
//! [`coupler_core::ev_system::decide_all`]: two cars plugged into two chargers seconds apart are one
//! question, not two, and the answer does not depend on which charger is looked at first. A match
//! activates that (vehicle, charger) pair; an unplug on the charger deactivates it, and so does
//! evidence that no longer singles the vehicle out. Every step is stored: the detection (with its
//! reason while unmatched) and the pairs, so a restart picks up where it was. Vehicles' reported
//! charge rates (compared with the chargers' meters over time) are kept in memory only: after a
//! restart they are collected again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::ev_system::{
    decide_all, Candidate, Confidence, Detection, DetectionStatus, MatchDecision, MatchRules, PairState, PlugIn,
    PowerSample,
};
use coupler_core::location::LocationId;
use coupler_core::node::{Heard, Signal, SignalReceiver};
use coupler_core::page::PageRequest;
use coupler_core::{Charger, ChargerId, ClientId, Store, StoreError, UserId, Vehicle, VehicleId};
use coupler_tasks::Tasks;
use tokio::sync::{broadcast, Notify};

use crate::singleton::jobs;
use crate::Engine;

/// How the pairing engine paces itself.
#[derive(Debug, Clone)]
pub struct PairingConfig {
    /// The matching rules.
    pub rules: MatchRules,
    /// How often open plug-ins are weighed again (time alone changes a decision: windows close).
    pub tick: Duration,
    /// While a plug-in is undecided (or matched with less than high confidence), the shortest
    /// time before the user's vehicles are asked to report again; the wait doubles each time.
    pub repoll_every: Duration,
}

impl Default for PairingConfig {
    fn default() -> Self {
        Self {
            rules: MatchRules::default(),
            tick: Duration::from_secs(5),
            repoll_every: Duration::from_secs(10),
        }
    }
}

/// How many charge-rate reports are kept per vehicle, and for how long.
const RATES_KEPT: usize = 128;
const RATES_FOR: chrono::Duration = chrono::Duration::hours(2);

/// The pairing engine. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Pairing {
    store: Arc<dyn Store>,
    vehicles: Arc<Engine>,
    config: PairingConfig,
    dirty: Mutex<Dirty>,
    wake: Notify,
    /// Each vehicle's reported charge rates (data time, kW; zero while plugged in and not charging).
    rates: Mutex<HashMap<VehicleId, VecDeque<PowerSample>>>,
    /// Chargers whose EV systems were activated or deactivated (smart charging follows them).
    pair_changes: broadcast::Sender<ChargerId>,
}

/// What is to be weighed again.
#[derive(Debug, Default)]
struct Dirty {
    chargers: HashSet<ChargerId>,
    users: HashSet<(ClientId, UserId)>,
}

/// One of the user's chargers with something plugged in, as pairing sees it.
struct Open {
    charger: Charger,
    detection: Option<Detection>,
    plugged_in_at: DateTime<Utc>,
}

impl Pairing {
    /// A pairing engine over `store`, asking `vehicles` for reads.
    pub fn new(store: Arc<dyn Store>, vehicles: Arc<Engine>, config: PairingConfig) -> Self {
        Self {
            store,
            vehicles,
            config,
            dirty: Mutex::default(),
            wake: Notify::new(),
            rates: Mutex::default(),
            pair_changes: broadcast::channel(4096).0,
        }
    }

    /// Chargers whose EV systems were activated or deactivated from now on. A receiver that falls
    /// behind is told so (`Lagged`) and should look at every plug-in again.
    pub fn subscribe_pair_changes(&self) -> broadcast::Receiver<ChargerId> {
        self.pair_changes.subscribe()
    }

    fn pairs_changed(&self, charger: &ChargerId, changed: &[coupler_core::ev_system::EvSystem]) {
        if !changed.is_empty() {
            // No receivers is the usual case without smart charging, and not an error.
            let _ = self.pair_changes.send(charger.clone());
        }
    }

    /// Marks a charger (and with it its user's open plug-ins) for weighing again soon.
    pub fn charger_changed(&self, charger: &ChargerId) {
        self.dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .chargers
            .insert(charger.clone());
        self.wake.notify_one();
    }

    /// Weighs a charger's plug-in now, with every other open plug-in of its user, and stores the
    /// outcome.
    pub async fn evaluate(&self, charger_id: &ChargerId) -> Result<(), StoreError> {
        let Some(charger) = self.store.charger(charger_id).await? else {
            return Ok(());
        };
        let (client, user) = (charger.client_id.clone(), charger.user_id.clone());
        self.evaluate_user(&client, &user, vec![charger]).await
    }

    /// Weighs every open plug-in of one user together (and `changed`, the chargers that reported
    /// something, whether open or not), and stores the outcome.
    async fn evaluate_user(&self, client: &ClientId, user: &UserId, changed: Vec<Charger>) -> Result<(), StoreError> {
        let now = self.vehicles.clock.now();
        let vehicles = self
            .store
            .list_vehicles(client, Some(user), &PageRequest::first(PageRequest::MAX_SIZE))
            .await?
            .items;
        let mut chargers = changed;
        // Without vehicles there is nothing to weigh together: only the chargers that spoke are
        // looked at (a user with thousands of chargers and no car costs one charger per report).
        let others = if vehicles.is_empty() {
            Vec::new()
        } else {
            self.store.open_detections_of_user(client, user).await?
        };
        for detection in others {
            if chargers.iter().any(|c| c.id == detection.charger_id) {
                continue;
            }
            if let Some(charger) = self.store.charger(&detection.charger_id).await? {
                chargers.push(charger);
            }
        }
        // A fixed order, so that the outcome never depends on which charger spoke first.
        chargers.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));

        let mut open = Vec::new();
        for charger in chargers {
            let detection = self.store.get_detection(&charger.id).await?;
            let was_open = detection
                .as_ref()
                .is_some_and(|d| d.status != DetectionStatus::Unplugged);
            if !charger.power_delivery_state().is_plugged_in() {
                if was_open {
                    self.close(&charger.id, now).await?;
                }
                continue;
            }
            let plugged_in_at = match &detection {
                Some(d) if was_open => d.plugged_in_at.unwrap_or(now),
                _ => plug_time(&charger).unwrap_or(now),
            };
            open.push(Open {
                charger,
                detection: detection.filter(|_| was_open),
                plugged_in_at,
            });
        }
        if open.is_empty() {
            return Ok(());
        }
        let candidates: Vec<Candidate> = vehicles.iter().map(|v| self.candidate(v)).collect();
        let rules = self.config.rules;
        let mut plugs = Vec::with_capacity(open.len());
        if vehicles.is_empty() {
            // No vehicle, no EV system (they go with their vehicle): nothing to establish, and
            // what the charger reported cannot point at a vehicle, so it is not read. The
            // decision still follows the plug-in's time, which the detection shows.
            for o in &open {
                plugs.push(PlugIn {
                    charger_id: o.charger.id.clone(),
                    at: o.plugged_in_at,
                    id_tags: Vec::new(),
                    location: None,
                    power: Vec::new(),
                    current: None,
                });
            }
        } else {
            self.store.establish_ev_systems(client, user).await?;
            for o in &open {
                plugs.push(self.plug_in(o, rules, now).await?);
            }
        }
        let decisions = decide_all(&plugs, &candidates, now, &rules);

        // Ask the user's vehicles to report: at once on a new plug-in, once more a little later
        // even when it is settled (the other vehicles' reads from after the plug-in rule them out
        // of it, which keeps the next plug-in of the household decidable), then now and then while
        // a question is open. Reads come close together at first (makers lag a plug-in by seconds)
        // and further apart the longer the question stays open: at most a handful per vehicle and
        // plug-in, which daily read budgets can bear.
        let repoll = chrono::Duration::from_std(self.config.repoll_every).unwrap_or_default();
        let due: Vec<bool> = open
            .iter()
            .zip(&decisions)
            .map(|(o, decision)| {
                let settled =
                    matches!(decision, MatchDecision::Matched { confidence, .. } if *confidence == Confidence::High);
                let polled_at = o.detection.as_ref().and_then(|d| d.polled_at);
                let follow_up = polled_at.is_none_or(|at| at - o.plugged_in_at < repoll);
                (!settled || follow_up)
                    && now < o.plugged_in_at + rules.detection_window
                    && polled_at.is_none_or(|at| now - at >= repoll.max(at - o.plugged_in_at))
            })
            .collect();
        if due.contains(&true) {
            for vehicle in &vehicles {
                if let Err(e) = self.vehicles.request_poll(client, &vehicle.id).await {
                    tracing::warn!(vehicle_id = %vehicle.id, error = %e, "cannot ask for a vehicle read");
                }
            }
        }

        // Free what is no longer matched first, so that a vehicle moving between chargers (a
        // decision corrected by new evidence) finds its new pair free.
        for (o, decision) in open.iter().zip(&decisions) {
            if !vehicles.is_empty() && !matches!(decision, MatchDecision::Matched { .. }) {
                let changed = self.store.deactivate_charger(&o.charger.id, now).await?;
                for pair in &changed {
                    tracing::info!(ev_system_id = %pair.id, charger_id = %o.charger.id, "EV system deactivated: the evidence no longer singles its vehicle out");
                }
                self.pairs_changed(&o.charger.id, &changed);
            }
        }
        for ((o, decision), due) in open.iter().zip(decisions).zip(due) {
            let (status, vehicle_id, reason, reason_code) = match decision {
                MatchDecision::Matched {
                    vehicle_id,
                    evidence,
                    confidence,
                } => {
                    let changed = self
                        .store
                        .activate_ev_system(&o.charger.id, &vehicle_id, &evidence, confidence, now)
                        .await?;
                    for pair in &changed {
                        tracing::info!(
                            ev_system_id = %pair.id,
                            vehicle_id = %pair.vehicle_id,
                            charger_id = %pair.charger_id,
                            state = ?pair.state,
                            confidence = ?pair.confidence,
                            "EV system changed"
                        );
                    }
                    self.pairs_changed(&o.charger.id, &changed);
                    (DetectionStatus::Matched, Some(vehicle_id), None, None)
                }
                MatchDecision::Detecting(code, why) => (DetectionStatus::Detecting, None, Some(why), Some(code)),
                MatchDecision::Unmatched(code, why) => (DetectionStatus::Unmatched, None, Some(why), Some(code)),
            };
            let polled_at = if due {
                Some(now)
            } else {
                o.detection.as_ref().and_then(|d| d.polled_at)
            };
            let next = Detection {
                charger_id: o.charger.id.clone(),
                status,
                plugged_in_at: Some(o.plugged_in_at),
                vehicle_id,
                reason,
                reason_code,
                polled_at,
                updated_at: now,
            };
            let unchanged = o.detection.as_ref().is_some_and(|d| {
                d.status == next.status
                    && d.plugged_in_at == next.plugged_in_at
                    && d.vehicle_id == next.vehicle_id
                    && d.reason == next.reason
                    && d.reason_code == next.reason_code
                    && d.polled_at == next.polled_at
            });
            if !unchanged {
                tracing::info!(charger_id = %o.charger.id, status = ?next.status, reason = next.reason.as_deref().unwrap_or(""), "vehicle detection");
                self.store.save_detection(&next).await?;
            }
        }
        Ok(())
    }

    /// The charger was unplugged: its pairs end and its detection closes.
    async fn close(&self, charger_id: &ChargerId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let changed = self.store.deactivate_charger(charger_id, now).await?;
        for pair in &changed {
            tracing::info!(ev_system_id = %pair.id, charger_id = %charger_id, "EV system deactivated: the charger was unplugged");
        }
        self.pairs_changed(charger_id, &changed);
        self.store
            .save_detection(&Detection {
                charger_id: charger_id.clone(),
                status: DetectionStatus::Unplugged,
                plugged_in_at: None,
                vehicle_id: None,
                reason: None,
                reason_code: None,
                polled_at: None,
                updated_at: now,
            })
            .await
    }

    /// What the charger tells about an open plug-in.
    async fn plug_in(&self, o: &Open, rules: MatchRules, now: DateTime<Utc>) -> Result<PlugIn, StoreError> {
        let charger = &o.charger;
        let id_tags = self
            .store
            .id_tags_seen_since(&charger.id, o.plugged_in_at - rules.clock_slack)
            .await?;
        let location = match &charger.location_id {
            Some(id) => self
                .store
                .get_location(&charger.client_id, &LocationId::new(id.clone()))
                .await?
                .map(|l| l.fields.point()),
            None => None,
        };
        // The meter as far back as vehicles' charge rates are kept (and a little before, for the
        // reading in force at the oldest of them), not a whole day's session.
        let since = o.plugged_in_at.max(now - RATES_FOR - chrono::Duration::minutes(5));
        let power = self.store.power_samples_since(&charger.id, since).await?;
        let current = self
            .store
            .ev_systems_of_charger(&charger.id)
            .await?
            .into_iter()
            .find(|p| p.state == PairState::Activated)
            .map(|p| (p.vehicle_id, p.confidence.unwrap_or(Confidence::Low)));
        Ok(PlugIn {
            charger_id: charger.id.clone(),
            at: o.plugged_in_at,
            id_tags,
            location,
            power,
            current,
        })
    }

    fn candidate(&self, vehicle: &Vehicle) -> Candidate {
        let cs = &vehicle.charge_state;
        let position = match (vehicle.location.latitude, vehicle.location.longitude) {
            (Some(latitude), Some(longitude)) => vehicle
                .location
                .last_updated
                .or(vehicle.last_seen)
                .map(|at| (coupler_core::location::Point { latitude, longitude }, at)),
            _ => None,
        };
        let charge_rates = self
            .rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&vehicle.id)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        Candidate {
            vehicle_id: vehicle.id.clone(),
            id_tags: vehicle.id_tags.clone(),
            is_plugged_in: cs.is_plugged_in,
            observed_at: cs.last_updated.or(vehicle.last_seen),
            plugged_in_seen_at: vehicle.plugged_in_seen_at,
            unplugged_seen_at: vehicle.unplugged_seen_at,
            position,
            charge_rates,
        }
    }

    /// Keeps a vehicle's reported charge rate, once per data time.
    fn record_rate(&self, vehicle: &Vehicle) {
        let cs = &vehicle.charge_state;
        let Some(at) = cs.last_updated else {
            return;
        };
        let kw = match (cs.is_plugged_in, cs.is_charging) {
            (_, Some(true)) => cs.charge_rate.unwrap_or(0.0),
            (Some(true), _) => 0.0,
            _ => return,
        };
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = rates.entry(vehicle.id.clone()).or_default();
        if kept.back().is_some_and(|last| last.at >= at) {
            return;
        }
        kept.push_back(PowerSample { at, kw });
        while kept.len() > RATES_KEPT || kept.front().is_some_and(|first| first.at < at - RATES_FOR) {
            kept.pop_front();
        }
    }

    /// Weighs every charger marked since the last pass; every `tick`, every open plug-in. Plug
    /// changes and vehicle reads come from every node through `signals` ([`Signal::PlugChanged`],
    /// [`Signal::VehicleRead`]); the weighing runs on the one node that holds the pairing job, which
    /// weighs every open plug-in when it takes the job (from a node that stopped or died).
    pub fn spawn(self: &Arc<Self>, mut signals: Box<dyn SignalReceiver>, tasks: &Tasks) {
        let shutdown = tasks.token().clone();
        let job = self.vehicles.leases().singleton(jobs::PAIRING);
        {
            let pairing = self.clone();
            let shutdown = shutdown.clone();
            let job = job.clone();
            tasks.spawn("pairing feeder", async move {
                loop {
                    let heard = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        heard = signals.recv() => heard,
                    };
                    // Only the node weighing plug-ins keeps what they are weighed from.
                    if !job.held() {
                        if heard.is_none() {
                            return;
                        }
                        continue;
                    }
                    match heard {
                        Some(Heard::Signal(Signal::PlugChanged { chargers })) => {
                            for charger in chargers {
                                pairing.charger_changed(&ChargerId::new(charger));
                            }
                        }
                        Some(Heard::Signal(Signal::VehicleRead { client, vehicle })) => {
                            pairing
                                .vehicle_read(&ClientId::new(client), &VehicleId::new(vehicle))
                                .await;
                        }
                        Some(Heard::Signal(_)) => {}
                        Some(Heard::Missed) => {
                            tracing::warn!("pairing may have missed wake-ups; weighing every open plug-in");
                            pairing.mark_open(None).await;
                        }
                        None => return,
                    }
                }
            });
        }
        {
            let pairing = self.clone();
            tasks.spawn("pairing worker", async move {
                let mut tick = tokio::time::interval(pairing.config.tick);
                let mut held_before = false;
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = pairing.wake.notified() => {}
                        // Time alone moves only undecided and recent plug-ins (windows close,
                        // reads fall due); the others change by what chargers and cars report.
                        _ = tick.tick() => if job.held() {
                            pairing.mark_open(Some(pairing.vehicles.clock.now() - pairing.config.rules.detection_window)).await;
                        },
                    }
                    let held = job.held();
                    if held && !held_before {
                        // Plug-ins open before a restart, or while another node held the job,
                        // are weighed again straight away, all of them.
                        pairing.mark_open(None).await;
                    }
                    held_before = held;
                    let batch = std::mem::take(&mut *pairing.dirty.lock().unwrap_or_else(PoisonError::into_inner));
                    if held {
                        pairing.weigh(batch).await;
                    }
                }
            });
        }
    }

    /// Weighs a batch: each user once, with the chargers of theirs that reported something. What
    /// fails is marked again for the next pass.
    async fn weigh(&self, batch: Dirty) {
        let mut users: HashMap<(ClientId, UserId), Vec<Charger>> =
            batch.users.into_iter().map(|u| (u, Vec::new())).collect();
        for charger_id in batch.chargers {
            match self.store.charger(&charger_id).await {
                Ok(Some(charger)) => users
                    .entry((charger.client_id.clone(), charger.user_id.clone()))
                    .or_default()
                    .push(charger),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(charger_id = %charger_id, error = %e, "cannot read a charger; will try again");
                    self.charger_changed(&charger_id);
                }
            }
        }
        for ((client, user), changed) in users {
            let ids: Vec<ChargerId> = changed.iter().map(|c| c.id.clone()).collect();
            if let Err(e) = self.evaluate_user(&client, &user, changed).await {
                tracing::warn!(client_id = %client, user_id = %user, error = %e, "cannot weigh a user's plug-ins; will try again");
                let mut dirty = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
                dirty.chargers.extend(ids);
                dirty.users.insert((client, user));
            }
        }
    }

    async fn mark_open(&self, plugged_in_since: Option<DateTime<Utc>>) {
        match self.store.open_detections(plugged_in_since).await {
            Ok(open) => {
                let mut dirty = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
                dirty.chargers.extend(open.into_iter().map(|d| d.charger_id));
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open plug-ins"),
        }
        self.wake.notify_one();
    }

    /// A vehicle was read: its charge rate is kept, and its user's open plug-ins are weighed again.
    async fn vehicle_read(&self, client: &ClientId, vehicle: &VehicleId) {
        match self.store.get_vehicle(client, vehicle).await {
            Ok(Some(read)) => {
                self.record_rate(&read);
                self.dirty
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .users
                    .insert((client.clone(), read.user_id.clone()));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(vehicle_id = %vehicle, error = %e, "cannot read a vehicle for pairing"),
        }
        self.wake.notify_one();
    }
}

/// When the charger's current plug-in began: the earliest status change among its plugged-in
/// connectors.
fn plug_time(charger: &Charger) -> Option<DateTime<Utc>> {
    charger
        .connectors
        .iter()
        .filter(|c| c.connector_id > 0 && c.power_delivery_state.is_plugged_in())
        .map(|c| c.updated_at)
        .min()
}
