//! The pairing engine: works out which vehicle is plugged into which charger.
//!
//! It listens to two things: chargers reporting a status, a transaction or an id tag (from the
//! gateway), and vehicles being read (from the poller). On a charger's plug-in it asks for an
//! immediate read of the user's vehicles, then weighs the evidence with
//! [`coupler_core::ev_system::decide`] every time something new arrives, until a vehicle is matched
//! or the detection window closes. A match activates that (vehicle, charger) pair; an unplug on the
//! charger, or a fresh "unplugged" from the vehicle, deactivates it. Every step is stored: the
//! detection (with its reason while unmatched) and the pairs, so a restart picks up where it was.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_core::ev_system::{
    decide, Candidate, Detection, DetectionStatus, MatchDecision, MatchRules, PairState, PlugIn,
};
use coupler_core::location::LocationId;
use coupler_core::page::PageRequest;
use coupler_core::{time, Charger, ChargerId, ClientId, Store, StoreError, Vehicle, VehicleId};
use coupler_tasks::Tasks;
use tokio::sync::{broadcast, Notify};

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

/// The pairing engine. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Pairing {
    store: Arc<dyn Store>,
    vehicles: Arc<Engine>,
    config: PairingConfig,
    dirty: Mutex<HashSet<ChargerId>>,
    wake: Notify,
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
        }
    }

    /// Marks a charger for weighing again soon.
    pub fn charger_changed(&self, charger: &ChargerId) {
        self.dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(charger.clone());
        self.wake.notify_one();
    }

    /// Weighs a charger's plug-in now and stores the outcome.
    pub async fn evaluate(&self, charger_id: &ChargerId) -> Result<(), StoreError> {
        let Some(charger) = self.store.charger(charger_id).await? else {
            return Ok(());
        };
        let now = time::now();
        let detection = self.store.get_detection(charger_id).await?;
        let was_open = detection
            .as_ref()
            .is_some_and(|d| d.status != DetectionStatus::Unplugged);
        if !charger.power_delivery_state().is_plugged_in() {
            if was_open {
                let ended = self.store.deactivate_charger(charger_id, now).await?;
                for pair in &ended {
                    tracing::info!(ev_system_id = %pair.id, charger_id = %charger_id, "EV system deactivated: the charger was unplugged");
                }
                self.store
                    .save_detection(&Detection {
                        charger_id: charger_id.clone(),
                        status: DetectionStatus::Unplugged,
                        plugged_in_at: None,
                        vehicle_id: None,
                        reason: None,
                        polled_at: None,
                        updated_at: now,
                    })
                    .await?;
            }
            return Ok(());
        }
        self.store
            .establish_ev_systems(&charger.client_id, &charger.user_id)
            .await?;
        let plugged_in_at = match &detection {
            Some(d) if was_open => d.plugged_in_at.unwrap_or(now),
            _ => plug_time(&charger).unwrap_or(now),
        };
        let vehicles = self
            .store
            .list_vehicles(
                &charger.client_id,
                Some(&charger.user_id),
                &PageRequest::first(PageRequest::MAX_SIZE),
            )
            .await?
            .items;
        let mut candidates = Vec::with_capacity(vehicles.len());
        for vehicle in &vehicles {
            candidates.push(self.candidate(vehicle, charger_id).await?);
        }
        let rules = self.config.rules;
        let id_tags = self
            .store
            .id_tags_seen_since(charger_id, plugged_in_at - rules.clock_slack)
            .await?;
        let location = match &charger.location_id {
            Some(id) => self
                .store
                .get_location(&charger.client_id, &LocationId::new(id.clone()))
                .await?
                .map(|l| l.fields.point()),
            None => None,
        };
        let state = charger.charge_state(None);
        let plug = PlugIn {
            at: plugged_in_at,
            id_tags,
            location,
            power_kw: state.charge_rate.filter(|kw| *kw > 0.0),
        };
        let decision = decide(&plug, &candidates, now, &rules);

        // Ask the user's vehicles to report: at once on a new plug-in, then now and then while the
        // question is open. A matched vehicle is asked too, to confirm it.
        let mut polled_at = detection.as_ref().filter(|_| was_open).and_then(|d| d.polled_at);
        let settled = matches!(
            &decision,
            MatchDecision::Matched { confidence, .. } if *confidence == coupler_core::ev_system::Confidence::High
        );
        // Reads come close together at first (makers lag a plug-in by seconds) and further apart
        // the longer the question stays open: at most a handful per vehicle and plug-in, which
        // daily read budgets can bear.
        let repoll = chrono::Duration::from_std(self.config.repoll_every).unwrap_or_default();
        let due = polled_at.is_none_or(|at| now - at >= repoll.max(at - plugged_in_at));
        if !settled && due && now < plugged_in_at + rules.detection_window {
            for vehicle in &vehicles {
                if let Err(e) = self.vehicles.request_poll(&charger.client_id, &vehicle.id).await {
                    tracing::warn!(vehicle_id = %vehicle.id, error = %e, "cannot ask for a vehicle read");
                }
            }
            polled_at = Some(now);
        }

        let current = self
            .store
            .ev_systems_of_charger(charger_id)
            .await?
            .into_iter()
            .find(|p| p.state == PairState::Activated);
        let (status, vehicle_id, reason) = match decision {
            MatchDecision::Matched {
                vehicle_id,
                evidence,
                confidence,
            } => {
                let changed = self
                    .store
                    .activate_ev_system(charger_id, &vehicle_id, &evidence, confidence, now)
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
                (DetectionStatus::Matched, Some(vehicle_id), None)
            }
            MatchDecision::Waiting(why) => match current {
                // New vehicles or stale data do not undo a match that nothing contradicts.
                Some(pair) => (DetectionStatus::Matched, Some(pair.vehicle_id), None),
                None => (DetectionStatus::Detecting, None, Some(why)),
            },
            MatchDecision::Unmatched(why) => {
                for pair in self.store.deactivate_charger(charger_id, now).await? {
                    tracing::info!(ev_system_id = %pair.id, reason = %why, "EV system deactivated");
                }
                (DetectionStatus::Unmatched, None, Some(why))
            }
        };
        let next = Detection {
            charger_id: charger_id.clone(),
            status,
            plugged_in_at: Some(plugged_in_at),
            vehicle_id,
            reason,
            polled_at,
            updated_at: now,
        };
        let unchanged = detection.as_ref().is_some_and(|d| {
            d.status == next.status
                && d.plugged_in_at == next.plugged_in_at
                && d.vehicle_id == next.vehicle_id
                && d.reason == next.reason
                && d.polled_at == next.polled_at
        });
        if !unchanged {
            tracing::info!(charger_id = %charger_id, status = ?next.status, reason = next.reason.as_deref().unwrap_or(""), "vehicle detection");
            self.store.save_detection(&next).await?;
        }
        Ok(())
    }

    async fn candidate(&self, vehicle: &Vehicle, charger_id: &ChargerId) -> Result<Candidate, StoreError> {
        let elsewhere = self
            .store
            .ev_systems_of_vehicle(&vehicle.client_id, &vehicle.id)
            .await?
            .into_iter()
            .find(|p| p.state == PairState::Activated && &p.charger_id != charger_id)
            .map(|p| p.charger_id);
        let cs = &vehicle.charge_state;
        let position = match (vehicle.location.latitude, vehicle.location.longitude) {
            (Some(latitude), Some(longitude)) => vehicle
                .location
                .last_updated
                .or(vehicle.last_seen)
                .map(|at| (coupler_core::location::Point { latitude, longitude }, at)),
            _ => None,
        };
        Ok(Candidate {
            vehicle_id: vehicle.id.clone(),
            id_tags: vehicle.id_tags.clone(),
            is_plugged_in: cs.is_plugged_in,
            observed_at: cs.last_updated.or(vehicle.last_seen),
            plugged_in_seen_at: vehicle.plugged_in_seen_at,
            unplugged_seen_at: vehicle.unplugged_seen_at,
            position,
            charge_rate_kw: cs.charge_rate.filter(|_| cs.is_charging == Some(true)),
            matched_elsewhere: elsewhere,
        })
    }

    /// Weighs every charger marked since the last pass; every `tick`, every open plug-in.
    pub fn spawn(self: &Arc<Self>, mut plug_changes: broadcast::Receiver<ChargerId>, tasks: &Tasks) {
        let shutdown = tasks.token().clone();
        let mut polls = self.vehicles.subscribe_polls();
        {
            let pairing = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn("pairing feeder", async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        change = plug_changes.recv() => match change {
                            Ok(charger) => pairing.charger_changed(&charger),
                            Err(broadcast::error::RecvError::Lagged(missed)) => {
                                tracing::warn!(missed, "pairing fell behind the chargers; weighing every open plug-in");
                                pairing.mark_open(None).await;
                            }
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        polled = polls.recv() => match polled {
                            Ok((client, vehicle)) => pairing.vehicle_read(&client, &vehicle).await,
                            Err(broadcast::error::RecvError::Lagged(_)) => pairing.mark_open(None).await,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                    }
                }
            });
        }
        {
            let pairing = self.clone();
            tasks.spawn("pairing worker", async move {
                // Plug-ins open before a restart are weighed again straight away, all of them.
                pairing.mark_open(None).await;
                let mut tick = tokio::time::interval(pairing.config.tick);
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = pairing.wake.notified() => {}
                        // Time alone moves only undecided and recent plug-ins (windows close,
                        // reads fall due); the others change by what chargers and cars report.
                        _ = tick.tick() => pairing.mark_open(Some(time::now() - pairing.config.rules.detection_window)).await,
                    }
                    let batch: Vec<ChargerId> = pairing
                        .dirty
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drain()
                        .collect();
                    for charger in batch {
                        if let Err(e) = pairing.evaluate(&charger).await {
                            tracing::warn!(charger_id = %charger, error = %e, "cannot weigh a plug-in; will try again");
                            pairing
                                .dirty
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .insert(charger);
                        }
                    }
                }
            });
        }
    }

    async fn mark_open(&self, plugged_in_since: Option<DateTime<Utc>>) {
        match self.store.open_detections(plugged_in_since).await {
            Ok(open) => {
                let mut dirty = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
                dirty.extend(open.into_iter().map(|d| d.charger_id));
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open plug-ins"),
        }
        self.wake.notify_one();
    }

    /// A vehicle was read: the chargers it is paired with weigh their plug-ins again.
    async fn vehicle_read(&self, client: &ClientId, vehicle: &VehicleId) {
        match self.store.ev_systems_of_vehicle(client, vehicle).await {
            Ok(pairs) => {
                let mut dirty = self.dirty.lock().unwrap_or_else(PoisonError::into_inner);
                dirty.extend(pairs.into_iter().map(|p| p.charger_id));
            }
            Err(e) => tracing::warn!(vehicle_id = %vehicle, error = %e, "cannot find a vehicle's pairs"),
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
