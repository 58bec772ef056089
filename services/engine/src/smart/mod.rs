//! The plan keeper: smart charging carried out.
//!
//! For each policy it works out whether a plug-in is governed by it (the pair's own policy comes
//! before the vehicle's, which comes before the charger's), keeps one plan per plug-in, and makes
//! the plan again when what it is made from changes: a plug-in or a pairing, a new state of charge,
//! prices, another limit source, the policy or its charge-now override, or charging that fell
//! behind the plan (the meter against the plan, looked at every `check_interval`).
//!
//! A plan on a charger is the charger's `schedule` limit source: one absolute charging profile
//! (TxProfile during a session, TxDefaultProfile before one), put there by the limit keeper and
//! read back with GetCompositeSchedule, so the charger follows the plan by itself when Coupler, the
//! car's cloud or the network is down. A vehicle plugged in without a Coupler charger follows its
//! plan by start and stop commands to its maker at the plan's switches, through the one action
//! engine.
//!
//! When the target cannot be reached by the deadline, the plan says so and charges at once (no
//! schedule); when the deadline passes short of the target, charging goes on until it is reached
//! (the plan ends LATE). Reaching the target ends the plan (MET) and holds charging off until the
//! deadline; the vehicle leaving first ends it SHORT. Charge-now lifts the plan until the target is
//! reached or the client ends the override.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use coupler_core::ev_system::{DetectionStatus, PairState};
use coupler_core::limits::{timeline, ChargerCapabilities, LimitSource, LimitSourceKind};
use coupler_core::location::{Location, LocationId, Point};
use coupler_core::node::{Heard, Signal, SignalReceiver};
use coupler_core::planner::{self, PlanInput, PowerCap};
use coupler_core::smart::{
    charges_at, falling_behind, need, next_deadline, next_switch, plan_end, planning_soc, reached_outcome,
    schedule_from_plan, schedule_matches, shortfall_percent, Baseline, Execution, MakerStep, Need, PlanDetails,
    PlanOutcome, PlanState, PlanTarget, PolicyTarget, SmartPlan, SmartPlanId, SmartPolicy, SmartPolicyId, Verification,
};
use coupler_core::store::ChargerPlugIn;
use coupler_core::tariff::{prices_within, PriceScope, PriceSlot, SeriesKind};
use coupler_core::{ChargeSession, Charger, ChargerId, ClientId, PageRequest, Vehicle, VehicleId};
use coupler_tasks::Tasks;
use futures::StreamExt;
use tokio::sync::{broadcast, Notify};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::actions::VehicleCommand;
use crate::{Engine, EngineError};

/// How the plan keeper turns power into current, how it counts losses, and how often it looks.
#[derive(Debug, Clone)]
pub struct SmartConfig {
    /// Share of grid energy that reaches the battery (charging losses), above 0 and at most 1.
    pub efficiency: f64,
    /// Phase voltage, volts.
    pub phase_voltage: f64,
    /// Phases charged on, where the charger's meter does not tell.
    pub phases: u8,
    /// The most current a car takes where its maker does not say, amperes per phase.
    pub default_max_current_a: f64,
    /// How often live plans are compared with the meter, and policies looked at.
    pub check_interval: Duration,
    /// Points a state of charge read before the plug-in is lowered by until the car reports again
    /// (see [`coupler_core::smart::planning_soc`]).
    pub stale_soc_margin: f64,
}

impl Default for SmartConfig {
    fn default() -> Self {
        Self {
            efficiency: 0.9,
            phase_voltage: 230.0,
            phases: 3,
            default_max_current_a: 16.0,
            check_interval: Duration::from_secs(60),
            stale_soc_margin: 25.0,
        }
    }
}

/// Why a policy is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The policy itself changed: its deadline is worked out again and the plan made again.
    PolicyChanged,
    /// Something the plan is made from changed (prices, the override, another limit source): the
    /// plan is made again.
    Replan(&'static str),
    /// A routine look (a plug change, a pairing, a vehicle read, the timer): a plan is made where
    /// none is, and made again when a new state of charge came, charging fell behind, the
    /// deadline passed or the target was reached.
    Check,
}

/// Keeps every plan in step with its policy. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct PlanKeeper {
    engine: Arc<Engine>,
    config: SmartConfig,
    /// One look at a policy at a time, and how many there were.
    locks: Mutex<HashMap<SmartPolicyId, Arc<PolicyLooks>>>,
    wake: Notify,
    tracker: TaskTracker,
    /// Price-change passes running, by the plans they reach, each with whether another change
    /// came while it ran. A burst of price changes for the same plans (a provider's day arriving
    /// area by area, pushes in quick succession) makes them again at most twice, never in passes
    /// piling up beside each other.
    price_passes: Mutex<HashMap<PriceReach, bool>>,
    /// Set when a plan may have been stored since the keeper last worked out when to look next:
    /// it works it out again only when something moved, and at most every [`WAKE_LOOK_GAP`].
    plans_moved: std::sync::atomic::AtomicBool,
    /// When each live plan this keeper made next needs a look (its next switch or its deadline),
    /// by policy: kept as each plan is stored, so that working out the next wake reads no plan
    /// from the store (a replan of thousands would otherwise list them all again and again).
    next_looks: Mutex<HashMap<SmartPolicyId, DateTime<Utc>>>,
    /// Cancelled when Coupler shuts down: a pass or round takes no further plan then (the plans
    /// it did not reach are taken up at the next start), so shutting down waits for the plans
    /// being made, not for thousands more.
    stopping: tokio_util::sync::CancellationToken,
}

/// The looks at one policy: one at a time, and counted, so that reads taken for a look can tell
/// whether another look came in between.
#[derive(Debug, Default)]
struct PolicyLooks {
    one_at_a_time: tokio::sync::Mutex<()>,
    done: std::sync::atomic::AtomicU64,
}

/// The least time between two looks for the next switch or deadline.
const WAKE_LOOK_GAP: Duration = Duration::from_secs(1);

/// How often the keeper looks whether this node still holds (or now holds) the plans job: a look
/// at a clock, no query.
const HELD_LOOK: Duration = Duration::from_millis(500);

/// How many plans a price-change pass or a round makes at once.
const PRICE_PASS_CONCURRENCY: usize = 64;

/// How many plans' plug-ins a pass or a round reads together (a few queries for all of them); the
/// next batch is read while this one's plans are made.
const PASS_READ_BATCH: usize = 256;

/// The live plans a price change may move.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PriceReach {
    /// Every client's (a provider's new prices, or changes missed).
    Everyone,
    /// One client's (a series pushed for one of its price areas).
    Client(ClientId),
    /// One client's plans at one location (the location's own series or tariff, or its price area
    /// or provider changed), with its plans planned at no known location, which it may now be.
    Location(ClientId, LocationId),
}

impl PriceReach {
    fn of(scope: PriceScope) -> Self {
        match scope {
            PriceScope::Location { client, location } => Self::Location(client, location),
            PriceScope::Area { client, .. } => Self::Client(client),
            PriceScope::Provider { .. } => Self::Everyone,
        }
    }
}

/// The prices of every location a price-change pass reaches, read at once for the pass (a few
/// queries for all of them, rather than several for each plan), over `[from, to)`.
#[derive(Debug)]
struct PassPrices {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by_location: HashMap<LocationId, Vec<PriceSlot>>,
}

impl PassPrices {
    /// `location`'s prices over `[from, to)`, as [`Engine::prices_for`] would read them, when the
    /// pass read that location over a window that holds it.
    fn covering(&self, location: &LocationId, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Vec<PriceSlot>> {
        if from < self.from || to > self.to {
            return None;
        }
        let slots = self.by_location.get(location)?;
        Some(prices_within(slots, from, to))
    }
}

/// What a pass or a round read at once of a batch of policies: each policy and the plug-ins on
/// their chargers, with how many looks each policy had had before the reads were taken.
///
/// A plan is made from these reads only while no other look at its policy came in between (after
/// a plug change, say, a look that read what changed); otherwise it is made from fresh reads. A
/// change that comes after the reads queues its own look behind this one, which makes the plan
/// again from what it changed.
#[derive(Debug, Default)]
struct PassReads {
    policies: HashMap<SmartPolicyId, SmartPolicy>,
    looks_before: HashMap<SmartPolicyId, u64>,
    plug_ins: HashMap<ChargerId, ChargerPlugIn>,
}

impl PassReads {
    /// Whether these reads still hold for `policy`, which has had `looks` looks so far.
    fn hold_for(&self, policy: &SmartPolicyId, looks: u64) -> bool {
        self.looks_before.get(policy) == Some(&looks)
    }
}

/// Where a governed plug-in is, as a plan needs it.
#[derive(Debug)]
struct Situation {
    execution: Execution,
    vehicle: Option<Vehicle>,
    charger: Option<Charger>,
    session: Option<ChargeSession>,
    plugged_in_at: Option<DateTime<Utc>>,
    location: Option<Location>,
    /// The charger's limit sources as they were when the plug-in was looked at (none without a
    /// charger).
    limit_sources: Vec<LimitSource>,
    /// What the charger declared it can do with profiles, where it said.
    capabilities: Option<ChargerCapabilities>,
    /// Why no plan can be made yet (beyond a state of charge).
    waiting: Option<String>,
}

impl Situation {
    fn charger_id(&self) -> Option<&ChargerId> {
        self.charger.as_ref().map(|c| &c.id)
    }
}

impl PlanKeeper {
    /// A keeper acting through `engine`.
    pub fn new(engine: Arc<Engine>, config: SmartConfig) -> Arc<Self> {
        Arc::new(Self {
            engine,
            config,
            locks: Mutex::default(),
            wake: Notify::new(),
            tracker: TaskTracker::new(),
            price_passes: Mutex::default(),
            plans_moved: std::sync::atomic::AtomicBool::new(false),
            next_looks: Mutex::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SmartConfig {
        &self.config
    }

    fn lock_for(&self, id: &SmartPolicyId) -> Arc<PolicyLooks> {
        let mut map = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id.clone()).or_default().clone()
    }

    /// A policy was put: its plan is made again in the background.
    pub fn policy_changed(self: &Arc<Self>, id: SmartPolicyId) {
        self.spawn_reconcile(id, Trigger::PolicyChanged);
    }

    /// The charge-now override of a policy was started or ended.
    pub fn override_changed(self: &Arc<Self>, id: SmartPolicyId) {
        self.spawn_reconcile(id, Trigger::Replan("charge-now override"));
    }

    /// Prices changed where `reach` says (a push, a tariff, a location's price area, a provider's
    /// new day; [`PriceReach::Everyone`] when changes were missed): the live plans they may reach
    /// are made again. Another client's prices never move a plan, nor another location's.
    fn prices_changed(self: &Arc<Self>, reach: PriceReach) {
        {
            let mut passes = self.price_passes.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(again) = passes.get_mut(&reach) {
                // A pass for the same plans is running: it goes round once more when done.
                *again = true;
                return;
            }
            passes.insert(reach.clone(), false);
        }
        let keeper = self.clone();
        self.tracker.spawn(async move {
            loop {
                keeper.price_pass(&reach).await;
                let mut passes = keeper.price_passes.lock().unwrap_or_else(PoisonError::into_inner);
                match passes.get_mut(&reach) {
                    Some(again) if *again => *again = false,
                    _ => {
                        passes.remove(&reach);
                        break;
                    }
                }
            }
        });
    }

    /// Makes again every live plan `reach` covers, [`PRICE_PASS_CONCURRENCY`] at a time, against
    /// prices read once for all their locations.
    async fn price_pass(&self, reach: &PriceReach) {
        tracing::info!(?reach, "prices changed; plans are made again");
        let store = &self.engine.store;
        let plans = match reach {
            PriceReach::Location(client, location) => store.live_smart_plans_at(client, location).await,
            PriceReach::Client(_) | PriceReach::Everyone => store.live_smart_plans().await,
        };
        let plans: Vec<SmartPlan> = match plans {
            Ok(plans) => plans
                .into_iter()
                .filter(|plan| match reach {
                    PriceReach::Client(client) => plan.client_id == *client,
                    PriceReach::Location(..) | PriceReach::Everyone => true,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list live plans");
                return;
            }
        };
        let prices = self.pass_prices(&plans).await;
        let mut seen = HashSet::new();
        let due: Vec<(SmartPolicyId, Option<SmartPlan>)> = plans
            .into_iter()
            .filter(|plan| seen.insert(plan.policy_id.clone()))
            .map(|plan| (plan.policy_id.clone(), Some(plan)))
            .collect();
        self.reconcile_many(due, Trigger::Replan("prices"), prices.as_ref())
            .await;
    }

    /// Looks at every policy of `due` (each with the live plan it was listed with, if any),
    /// [`PRICE_PASS_CONCURRENCY`] at a time, their plug-ins read [`PASS_READ_BATCH`] at a time (the
    /// next batch read while this one's plans are made).
    async fn reconcile_many(
        &self,
        due: Vec<(SmartPolicyId, Option<SmartPlan>)>,
        trigger: Trigger,
        prices: Option<&PassPrices>,
    ) {
        let mut batches: Vec<Vec<(SmartPolicyId, Option<SmartPlan>)>> = Vec::new();
        for item in due {
            match batches.last_mut() {
                Some(batch) if batch.len() < PASS_READ_BATCH => batch.push(item),
                _ => batches.push(vec![item]),
            }
        }
        futures::stream::iter(batches)
            .map(|batch| async move {
                let reads = Arc::new(self.pass_reads(&batch).await);
                futures::stream::iter(batch.into_iter().map(move |(id, _)| (id, reads.clone())))
            })
            .buffered(2)
            .flatten()
            .take_until(self.stopping.cancelled())
            .for_each_concurrent(PRICE_PASS_CONCURRENCY, |(id, reads)| async move {
                if let Err(e) = self.reconcile_priced(&id, trigger, prices, Some(&reads)).await {
                    tracing::warn!(policy_id = %id, error = %e, "cannot keep the smart-charging plan");
                }
            })
            .await;
    }

    /// Reads a batch's policies and the plug-ins on their chargers at once. Reads that fail leave
    /// the batch's plans to read their own.
    async fn pass_reads(&self, batch: &[(SmartPolicyId, Option<SmartPlan>)]) -> PassReads {
        let store = &self.engine.store;
        let ids: Vec<SmartPolicyId> = batch.iter().map(|(id, _)| id.clone()).collect();
        // Counted before anything is read: a look that ends after this shows in its count.
        let looks_before = ids
            .iter()
            .map(|id| {
                let looks = self.lock_for(id).done.load(std::sync::atomic::Ordering::Acquire);
                (id.clone(), looks)
            })
            .collect();
        let policies = match store.smart_policies(&ids).await {
            Ok(policies) => policies,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a batch's policies at once; each plan reads its own");
                return PassReads::default();
            }
        };
        let mut chargers: Vec<ChargerId> = batch
            .iter()
            .filter_map(|(_, plan)| plan.as_ref()?.charger_id.clone())
            .chain(policies.iter().filter_map(|policy| match &policy.target {
                PolicyTarget::Charger(id) => Some(id.clone()),
                PolicyTarget::EvSystem(_) | PolicyTarget::Vehicle(_) => None,
            }))
            .collect();
        chargers.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        chargers.dedup();
        let plug_ins = match store.charger_plug_ins(&chargers).await {
            Ok(plug_ins) => plug_ins,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a batch's plug-ins at once; each plan reads its own");
                return PassReads::default();
            }
        };
        PassReads {
            policies: policies.into_iter().map(|p| (p.id.clone(), p)).collect(),
            looks_before,
            plug_ins: plug_ins.into_iter().map(|p| (p.charger.id.clone(), p)).collect(),
        }
    }

    /// The prices of every location `plans` are planned at, from now until their latest deadline,
    /// in a few queries. `None` when there is nothing to read or it cannot be read: each plan then
    /// reads its own.
    async fn pass_prices(&self, plans: &[SmartPlan]) -> Option<PassPrices> {
        let from = self.engine.clock.now();
        let to = plans
            .iter()
            .filter_map(|p| p.details.deadline)
            .max()
            .filter(|to| *to > from)?;
        let mut seen = HashSet::new();
        let locations: Vec<(ClientId, LocationId)> = plans
            .iter()
            .filter_map(|p| Some((p.client_id.clone(), p.location_id.clone()?)))
            .filter(|key| seen.insert(key.clone()))
            .collect();
        if locations.is_empty() {
            return None;
        }
        match self.engine.location_prices_many(&locations, from, to).await {
            Ok(by_location) => Some(PassPrices { from, to, by_location }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the pass's prices at once; each plan reads its own");
                None
            }
        }
    }

    /// Looks at every policy now (after the clock moved, for example).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn spawn_reconcile(self: &Arc<Self>, id: SmartPolicyId, trigger: Trigger) {
        let keeper = self.clone();
        self.tracker.spawn(async move {
            if let Err(e) = keeper.reconcile(&id, trigger).await {
                tracing::warn!(policy_id = %id, error = %e, "cannot keep the smart-charging plan");
            }
        });
    }

    /// Every enabled policy, and every policy with a live plan; with `live_only`, only the latter.
    async fn round(self: &Arc<Self>, trigger: Trigger, live_only: bool) {
        let store = &self.engine.store;
        let mut due: Vec<(SmartPolicyId, Option<SmartPlan>)> = Vec::new();
        match store.live_smart_plans().await {
            Ok(plans) => due.extend(plans.into_iter().map(|p| (p.policy_id.clone(), Some(p)))),
            Err(e) => tracing::warn!(error = %e, "cannot list live plans"),
        }
        if !live_only {
            match store.enabled_smart_policies().await {
                Ok(policies) => due.extend(policies.into_iter().map(|p| (p.id, None))),
                Err(e) => tracing::warn!(error = %e, "cannot list smart-charging policies"),
            }
        }
        // A policy listed with its live plan and again as enabled is looked at once, with the plan.
        let mut seen = HashSet::new();
        due.retain(|(id, _)| seen.insert(id.clone()));
        // On a task of its own, PRICE_PASS_CONCURRENCY plans at a time: a round of thousands would
        // otherwise ask the database for thousands of connections at once and starve the API.
        let keeper = self.clone();
        self.tracker.spawn(async move {
            keeper.reconcile_many(due, trigger, None).await;
        });
    }

    /// The policies that may govern a plug-in on `charger`: its own, and those of its pairs and
    /// their vehicles.
    async fn policies_at_charger(&self, charger: &ChargerId) -> Result<Vec<SmartPolicyId>, EngineError> {
        let store = &self.engine.store;
        let mut targets = vec![PolicyTarget::Charger(charger.clone())];
        for pair in store.ev_systems_of_charger(charger).await? {
            targets.push(PolicyTarget::EvSystem(pair.id));
            targets.push(PolicyTarget::Vehicle(pair.vehicle_id));
        }
        self.policies_on(targets).await
    }

    /// The policies that may govern a vehicle's plug-in: its own, and those of its pairs and their
    /// chargers.
    async fn policies_of_vehicle(
        &self,
        client: &ClientId,
        vehicle: &VehicleId,
    ) -> Result<Vec<SmartPolicyId>, EngineError> {
        let store = &self.engine.store;
        let mut targets = vec![PolicyTarget::Vehicle(vehicle.clone())];
        for pair in store.ev_systems_of_vehicle(client, vehicle).await? {
            targets.push(PolicyTarget::EvSystem(pair.id));
            targets.push(PolicyTarget::Charger(pair.charger_id));
        }
        self.policies_on(targets).await
    }

    async fn policies_on(&self, targets: Vec<PolicyTarget>) -> Result<Vec<SmartPolicyId>, EngineError> {
        let mut ids = Vec::new();
        for target in targets {
            if let Some(policy) = self.engine.store.smart_policy_on(&target).await? {
                ids.push(policy.id);
            }
        }
        Ok(ids)
    }

    fn spawn_for_charger(self: &Arc<Self>, charger: ChargerId, trigger: Trigger) {
        let keeper = self.clone();
        self.tracker.spawn(async move {
            match keeper.policies_at_charger(&charger).await {
                Ok(ids) => ids.into_iter().for_each(|id| keeper.spawn_reconcile(id, trigger)),
                Err(e) => tracing::warn!(charger_id = %charger, error = %e, "cannot find the charger's policies"),
            }
        });
    }

    fn spawn_for_vehicle(self: &Arc<Self>, client: ClientId, vehicle: VehicleId) {
        let keeper = self.clone();
        self.tracker.spawn(async move {
            match keeper.policies_of_vehicle(&client, &vehicle).await {
                Ok(ids) => ids
                    .into_iter()
                    .for_each(|id| keeper.spawn_reconcile(id, Trigger::Check)),
                Err(e) => tracing::warn!(vehicle_id = %vehicle, error = %e, "cannot find the vehicle's policies"),
            }
        });
    }

    /// When the keeper must look again, at the latest, and at which policies then: a plan's next
    /// switch (a maker is told then; a charger that takes no profiles is switched then), a
    /// deadline; `None` policies: every one (the routine round every `check_interval`).
    fn next_wake(&self) -> (Duration, Option<Vec<SmartPolicyId>>) {
        let now = self.engine.clock.now();
        let mut next: Option<(DateTime<Utc>, Vec<SmartPolicyId>)> = None;
        for (policy, at) in self.next_looks.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            // A look whose time has come is due at once.
            let at = (*at).max(now);
            match &mut next {
                Some((soonest, due)) if at == *soonest => due.push(policy.clone()),
                Some((soonest, _)) if at > *soonest => {}
                _ => next = Some((at, vec![policy.clone()])),
            }
        }
        match next {
            // A moment after the switch, so that it counts as passed.
            Some((at, due)) => {
                let until = self.engine.clock.wall_time(at - now) + Duration::from_millis(50);
                if until < self.config.check_interval {
                    return (until, Some(due));
                }
                (self.config.check_interval, None)
            }
            None => (self.config.check_interval, None),
        }
    }

    /// Runs the keeper on `tasks`: plans left by a previous run are made again at once; then a look
    /// at every plug change, pairing change, other limit source change, vehicle read, price change,
    /// at each maker plan's switch and deadline, and every `check_interval`.
    ///
    /// Plug changes, pairing changes, limit source changes and vehicle reads come from every node
    /// through `signals` ([`Signal::PlugChanged`], [`Signal::PairChanged`],
    /// [`Signal::LimitSourcesChanged`], [`Signal::VehicleRead`]); the keeper
    /// runs on the one node that holds the plans job, and makes every plan again when it takes it.
    pub fn spawn(self: &Arc<Self>, mut signals: Box<dyn SignalReceiver>, tasks: &Tasks) {
        let keeper = self.clone();
        let mut price_changes = self.engine.subscribe_price_changes();
        let shutdown = tasks.token().clone();
        let job = self.engine.leases().singleton(crate::singleton::jobs::PLANS);
        tasks.spawn(
            "plan keeper",
            async move {
                use std::sync::atomic::Ordering;
                use tokio::time::Instant;
                'held: loop {
                // Until this node holds the job, it only keeps up with the wake-ups.
                while !job.held() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break 'held,
                        heard = signals.recv() => if heard.is_none() { break 'held },
                        _ = price_changes.recv() => {}
                        _ = tokio::time::sleep(HELD_LOOK) => {}
                    }
                }
                // Prices or limits may have changed while Coupler was down (or another node held
                // the job), and a price pass that shutting down cut short left plans made on old
                // prices: every plan is made again.
                keeper.round(Trigger::Replan("Coupler started"), false).await;
                let mut last_round = Instant::now();
                let (sleep, mut due) = keeper.next_wake();
                let mut looked_at = Instant::now();
                let mut wake_at = looked_at + sleep;
                loop {
                    if !job.held() {
                        tracing::info!("another node keeps the plans now");
                        continue 'held;
                    }
                    // Plans stored since the last look may switch sooner: look again, though not
                    // more often than every WAKE_LOOK_GAP (a look lists every live plan).
                    if keeper.plans_moved.load(Ordering::Relaxed) && looked_at.elapsed() >= WAKE_LOOK_GAP {
                        keeper.plans_moved.store(false, Ordering::Relaxed);
                        let (sleep, next_due) = keeper.next_wake();
                        looked_at = Instant::now();
                        wake_at = looked_at + sleep;
                        due = next_due;
                    }
                    let round_at = last_round + keeper.config.check_interval;
                    let mut until = wake_at.min(round_at);
                    if keeper.plans_moved.load(Ordering::Relaxed) {
                        until = until.min(looked_at + WAKE_LOOK_GAP);
                    }
                    // Whether this node still holds the job is looked at now and then.
                    until = until.min(Instant::now() + HELD_LOOK);
                    tokio::select! {
                        _ = shutdown.cancelled() => break 'held,
                        _ = keeper.wake.notified() => {
                            keeper.round(Trigger::Check, false).await;
                            last_round = Instant::now();
                        }
                        _ = tokio::time::sleep_until(until) => {
                            let now = Instant::now();
                            if now >= wake_at || now >= round_at {
                                match due.take() {
                                    // Only the plans whose switch or deadline came, unless a round is due.
                                    Some(due) if now < round_at => {
                                        due.into_iter().for_each(|id| keeper.spawn_reconcile(id, Trigger::Check));
                                    }
                                    _ => {
                                        keeper.round(Trigger::Check, false).await;
                                        last_round = Instant::now();
                                    }
                                }
                                // Until the next look says otherwise.
                                wake_at = now + keeper.config.check_interval;
                                keeper.plans_moved.store(true, Ordering::Relaxed);
                            }
                            // Otherwise only the gap between looks has passed: look again.
                        },
                        heard = signals.recv() => match heard {
                            Some(Heard::Signal(Signal::PlugChanged { chargers })) => {
                                for charger in chargers {
                                    keeper.spawn_for_charger(ChargerId::new(charger), Trigger::Check);
                                }
                            }
                            Some(Heard::Signal(Signal::PairChanged { charger })) => {
                                keeper.spawn_for_charger(ChargerId::new(charger), Trigger::Check);
                            }
                            Some(Heard::Signal(Signal::VehicleRead { client, vehicle })) => {
                                keeper.spawn_for_vehicle(ClientId::new(client), VehicleId::new(vehicle));
                            }
                            Some(Heard::Signal(Signal::LimitSourcesChanged { charger: Some(charger) })) => {
                                keeper.spawn_for_charger(ChargerId::new(charger), Trigger::Replan("limits"));
                            }
                            Some(Heard::Signal(Signal::LimitSourcesChanged { charger: None })) => {
                                keeper.round(Trigger::Replan("limits"), true).await;
                            }
                            Some(Heard::Signal(_)) => {}
                            Some(Heard::Missed) => keeper.round(Trigger::Check, false).await,
                            None => break 'held,
                        },
                        // A price push, a tariff, a provider's new day: the live plans it may
                        // reach are made again (a plan is cheap to make).
                        changed = price_changes.recv() => match changed {
                            Ok(change) if change.kind == SeriesKind::Price => keeper.prices_changed(PriceReach::of(change.scope)),
                            // Carbon intensity does not move a plan.
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(_)) => keeper.prices_changed(PriceReach::Everyone),
                            Err(broadcast::error::RecvError::Closed) => break 'held,
                        },
                    }
                }
                }
                keeper.stopping.cancel();
                keeper.tracker.close();
                keeper.tracker.wait().await;
            }
            .instrument(tracing::info_span!("plan keeper")),
        );
    }

    /// Looks at one policy and brings its plan in step: starts, makes again, carries out or ends
    /// it. Returns the plan as it stands after.
    #[tracing::instrument(skip(self), fields(policy_id = %id))]
    pub async fn reconcile(&self, id: &SmartPolicyId, trigger: Trigger) -> Result<Option<SmartPlan>, EngineError> {
        self.reconcile_priced(id, trigger, None, None).await
    }

    /// [`PlanKeeper::reconcile`], planning against a pass's `prices` where they hold the plan's
    /// location and window, and from a pass's `reads` where they still hold.
    async fn reconcile_priced(
        &self,
        id: &SmartPolicyId,
        trigger: Trigger,
        prices: Option<&PassPrices>,
        reads: Option<&PassReads>,
    ) -> Result<Option<SmartPlan>, EngineError> {
        use std::sync::atomic::Ordering;
        let looks = self.lock_for(id);
        let _one_at_a_time = looks.one_at_a_time.lock().await;
        let reads = reads.filter(|reads| reads.hold_for(id, looks.done.load(Ordering::Acquire)));
        let kept = self.keep(id, trigger, prices, reads).await;
        looks.done.fetch_add(1, Ordering::Release);
        // Its plan may have been stored anew: the keeper looks at the switches again.
        let next_look = match &kept {
            Ok(Some(plan)) if plan.state != PlanState::Ended => next_look(plan, self.engine.clock.now()),
            // An ended plan needs no look; one that could not be kept is looked at by the next round.
            _ => None,
        };
        {
            let mut looks = self.next_looks.lock().unwrap_or_else(PoisonError::into_inner);
            match next_look {
                Some(at) => looks.insert(id.clone(), at),
                None => looks.remove(id),
            };
        }
        self.plans_moved.store(true, std::sync::atomic::Ordering::Relaxed);
        kept
    }

    /// [`PlanKeeper::reconcile`] under the policy's lock.
    async fn keep(
        &self,
        id: &SmartPolicyId,
        trigger: Trigger,
        prices: Option<&PassPrices>,
        reads: Option<&PassReads>,
    ) -> Result<Option<SmartPlan>, EngineError> {
        let store = &self.engine.store;
        let latest = store.latest_smart_plan(id).await?;
        let policy = match reads.and_then(|reads| reads.policies.get(id)) {
            Some(policy) => policy.clone(),
            None => match store.smart_policy(id).await? {
                Some(policy) => policy,
                None => return Ok(None),
            },
        };
        let now = self.engine.clock.now();
        let situation = if policy.enabled {
            self.resolve(&policy, reads).await?
        } else {
            Err("smart charging was disabled")
        };
        let situation = match situation {
            Ok(situation) => situation,
            Err(why) => {
                return match latest {
                    Some(plan) => self.leave(&policy, plan, why, now).await.map(Some),
                    None => Ok(None),
                };
            }
        };
        let plan = match latest {
            Some(plan)
                if plan.state != PlanState::Ended
                    && same_place(&plan, &situation)
                    && !another_plug_in(&plan, &situation) =>
            {
                plan
            }
            Some(plan) if plan.state != PlanState::Ended => {
                // Unplugged and plugged in again between two looks, or the vehicle moved to another
                // charger, or from its maker to a charger: the old plug-in's plan ends first.
                let why = if another_plug_in(&plan, &situation) {
                    "the vehicle was unplugged"
                } else {
                    "the vehicle is charged elsewhere now"
                };
                self.leave(&policy, plan, why, now).await?;
                self.start(&policy, &situation, now).await?
            }
            Some(plan) if !starts_anew(&plan, &policy, &situation) => return Ok(Some(plan)),
            _ => self.start(&policy, &situation, now).await?,
        };
        self.advance(&policy, plan, &situation, trigger, prices, now)
            .await
            .map(Some)
    }

    /// Whether an enabled policy is on `target`.
    async fn enabled_on(&self, target: PolicyTarget) -> Result<bool, EngineError> {
        Ok(self
            .engine
            .store
            .smart_policy_on(&target)
            .await?
            .is_some_and(|p| p.enabled))
    }

    /// Where the plug-in `policy` governs is; `Err` says why it governs none (nothing of it is
    /// plugged in, or a policy that comes before it governs the plug-in).
    async fn resolve(
        &self,
        policy: &SmartPolicy,
        reads: Option<&PassReads>,
    ) -> Result<Result<Situation, &'static str>, EngineError> {
        let store = &self.engine.store;
        let client = &policy.client_id;
        match &policy.target {
            PolicyTarget::EvSystem(id) => {
                let read = reads.and_then(|reads| {
                    reads
                        .plug_ins
                        .values()
                        .flat_map(|p| &p.ev_systems)
                        .find(|s| &s.id == id && &s.client_id == client)
                        .cloned()
                });
                let system = match read {
                    Some(system) => Some(system),
                    None => store.get_ev_system(client, id).await?,
                };
                let Some(system) = system else {
                    return Ok(Err("the EV system is gone"));
                };
                if system.state != PairState::Activated {
                    return Ok(Err("the vehicle was unplugged"));
                }
                let vehicle = store.get_vehicle(client, &system.vehicle_id).await?;
                self.on_charger(policy, &system.charger_id, vehicle, reads).await
            }
            PolicyTarget::Vehicle(id) => {
                let Some(vehicle) = store.get_vehicle(client, id).await? else {
                    return Ok(Err("the vehicle is gone"));
                };
                let pairs = store.ev_systems_of_vehicle(client, id).await?;
                if let Some(active) = pairs.iter().find(|p| p.state == PairState::Activated) {
                    if self.enabled_on(PolicyTarget::EvSystem(active.id.clone())).await? {
                        return Ok(Err("the EV system's own policy governs the plug-in"));
                    }
                    return self.on_charger(policy, &active.charger_id, Some(vehicle), reads).await;
                }
                if vehicle.charge_state.is_plugged_in != Some(true) {
                    return Ok(Err("the vehicle was unplugged"));
                }
                // A paired charger still working out what is plugged into it may be this vehicle's:
                // commands to the maker now could fight the charger's plan in a moment.
                let mut waiting = None;
                for pair in &pairs {
                    if let Some(detection) = store.get_detection(&pair.charger_id).await? {
                        if detection.status == DetectionStatus::Detecting {
                            waiting = Some(format!(
                                "waiting to learn whether the vehicle is plugged into charger {}",
                                pair.charger_id
                            ));
                        }
                    }
                }
                let location = self.location_of_vehicle(&vehicle).await?;
                Ok(Ok(Situation {
                    execution: Execution::Maker,
                    plugged_in_at: vehicle.plugged_in_seen_at,
                    vehicle: Some(vehicle),
                    charger: None,
                    session: None,
                    location,
                    limit_sources: Vec::new(),
                    capabilities: None,
                    waiting,
                }))
            }
            PolicyTarget::Charger(id) => {
                let pairs = match reads.and_then(|reads| reads.plug_ins.get(id)) {
                    Some(plug_in) => plug_in.ev_systems.clone(),
                    None => store.ev_systems_of_charger(id).await?,
                };
                let vehicle = match pairs.iter().find(|p| p.state == PairState::Activated) {
                    Some(active) => {
                        if self.enabled_on(PolicyTarget::EvSystem(active.id.clone())).await?
                            || self
                                .enabled_on(PolicyTarget::Vehicle(active.vehicle_id.clone()))
                                .await?
                        {
                            return Ok(Err("the plugged-in vehicle's own policy governs the plug-in"));
                        }
                        store.get_vehicle(client, &active.vehicle_id).await?
                    }
                    None => None,
                };
                self.on_charger(policy, id, vehicle, reads).await
            }
        }
    }

    /// The plug-in on `charger_id`, from a pass's `reads` where they hold it, else read now.
    async fn on_charger(
        &self,
        policy: &SmartPolicy,
        charger_id: &ChargerId,
        vehicle: Option<Vehicle>,
        reads: Option<&PassReads>,
    ) -> Result<Result<Situation, &'static str>, EngineError> {
        let plug_in = match reads.and_then(|reads| reads.plug_ins.get(charger_id)) {
            Some(plug_in) => plug_in.clone(),
            None => {
                let store = &self.engine.store;
                let Some(charger) = store.charger(charger_id).await? else {
                    return Ok(Err("the charger is gone"));
                };
                if charger.client_id != policy.client_id || !charger.power_delivery_state().is_plugged_in() {
                    return Ok(Err("the vehicle was unplugged"));
                }
                let location = match &charger.location_id {
                    Some(id) => store.get_location(&charger.client_id, &LocationId::new(id)).await?,
                    None => None,
                };
                ChargerPlugIn {
                    session: store.active_session(charger_id).await?,
                    detection: store.get_detection(charger_id).await?,
                    location,
                    limit_sources: store.limit_sources_of_charger(charger_id).await?,
                    capabilities: store.charger_capabilities(charger_id).await?,
                    // Not needed past the pairing, which the caller has read.
                    ev_systems: Vec::new(),
                    charger,
                }
            }
        };
        let ChargerPlugIn {
            charger,
            session,
            detection,
            location,
            limit_sources,
            capabilities,
            ev_systems: _,
        } = plug_in;
        if charger.client_id != policy.client_id || !charger.power_delivery_state().is_plugged_in() {
            return Ok(Err("the vehicle was unplugged"));
        }
        let plugged_in_at = detection
            .and_then(|d| d.plugged_in_at)
            .or(session.as_ref().map(|s| s.started_at));
        // Another client's location is not this charger's to plan at.
        let location = location.filter(|l| l.client_id == charger.client_id);
        Ok(Ok(Situation {
            execution: Execution::Charger,
            vehicle,
            charger: Some(charger),
            session,
            plugged_in_at,
            location,
            limit_sources,
            capabilities,
            waiting: None,
        }))
    }

    /// The user's location the vehicle is at, else the user's first location.
    async fn location_of_vehicle(&self, vehicle: &Vehicle) -> Result<Option<Location>, EngineError> {
        let locations = self
            .engine
            .store
            .list_locations(&vehicle.client_id, &vehicle.user_id, &PageRequest::first(200))
            .await?
            .items;
        let here = match (vehicle.location.latitude, vehicle.location.longitude) {
            (Some(latitude), Some(longitude)) => Some(Point { latitude, longitude }),
            _ => None,
        };
        let at = here.and_then(|here| locations.iter().find(|l| here.is_at(l.fields.point())).cloned());
        Ok(at.or_else(|| locations.last().cloned()))
    }

    /// A new plan for a plug-in, stored (with its event) before anything is done.
    async fn start(
        &self,
        policy: &SmartPolicy,
        situation: &Situation,
        now: DateTime<Utc>,
    ) -> Result<SmartPlan, EngineError> {
        let metered = situation.session.as_ref().map_or(0.0, ChargeSession::energy_kwh);
        let baseline = Baseline {
            soc: None,
            soc_recorded_at: None,
            capacity_kwh: None,
            metered_kwh: metered,
        };
        let plan = SmartPlan {
            id: SmartPlanId::generate(),
            client_id: policy.client_id.clone(),
            user_id: policy.user_id.clone(),
            policy_id: policy.id.clone(),
            vehicle_id: situation.vehicle.as_ref().map(|v| v.id.clone()),
            charger_id: situation.charger_id().cloned(),
            location_id: situation.location.as_ref().map(|l| l.id.clone()),
            state: PlanState::Considering,
            details: PlanDetails {
                execution: situation.execution,
                outcome: None,
                reason: Some("the plug-in was just seen".to_owned()),
                deadline: None,
                timezone: timezone(situation).name().to_owned(),
                target: target_of(policy, situation.vehicle.as_ref()),
                start: baseline,
                baseline,
                plan: None,
                planned_at: None,
                metered_at_plan_kwh: metered,
                metered_kwh: metered,
                soc: None,
                verified: None,
                maker: None,
                reached_at: None,
                replans: 0,
                plugged_in_at: situation.plugged_in_at,
                released: false,
                transaction_id: situation.session.as_ref().map(|s| s.transaction_id),
            },
            created_at: now,
            updated_at: now,
            ended_at: None,
        };
        self.engine.store.insert_smart_plan(&plan).await?;
        tracing::info!(plan_id = %plan.id, execution = ?plan.details.execution, "smart-charging plan started");
        Ok(plan)
    }

    /// Ends a plan whose plug-in is over (or whose policy was disabled, or that another policy took
    /// over: `why`), and takes what is left of it off the charger.
    async fn leave(
        &self,
        policy: &SmartPolicy,
        mut plan: SmartPlan,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<SmartPlan, EngineError> {
        if plan.state == PlanState::Ended && plan.details.released {
            return Ok(plan);
        }
        let mut fields: Vec<&str> = Vec::new();
        if plan.state != PlanState::Ended {
            let outcome = if !policy.enabled {
                PlanOutcome::Cancelled
            } else if let Some(reached) = plan.details.reached_at {
                reached_outcome(plan.details.deadline, reached)
            } else {
                let since_start = plan.details.metered_kwh - plan.details.start.metered_kwh;
                PlanOutcome::Short {
                    percent: shortfall_percent(&plan.details.target, plan.details.soc, since_start),
                }
            };
            plan.state = PlanState::Ended;
            plan.details.outcome = Some(outcome);
            plan.details.reason = Some(why.to_owned());
            plan.ended_at = Some(now);
            fields = vec!["state", "outcome"];
            tracing::info!(plan_id = %plan.id, ?outcome, "smart-charging plan ended");
        }
        if policy.charge_now_since.is_some() && policy.enabled {
            self.engine
                .store
                .set_charge_now(&policy.client_id, &policy.id, None, now)
                .await?;
        }
        if let Some(charger) = plan.charger_id.clone() {
            self.release(&charger).await?;
        }
        plan.details.released = true;
        plan.updated_at = now;
        self.engine.store.update_smart_plan(&plan, &fields).await?;
        Ok(plan)
    }

    /// Takes the `schedule` source off a charger, when it holds one.
    async fn release(&self, charger: &ChargerId) -> Result<(), EngineError> {
        let store = &self.engine.store;
        let holds = store
            .limit_sources_of_charger(charger)
            .await?
            .iter()
            .any(|s| s.kind == LimitSourceKind::Schedule);
        if holds {
            store.set_schedule_limit(charger, None, self.engine.clock.now()).await?;
            self.apply(charger).await;
        }
        Ok(())
    }

    async fn apply(&self, charger: &ChargerId) {
        self.engine.limits().edges_changed();
        if let Err(e) = self.engine.limits().apply(charger).await {
            tracing::warn!(charger_id = %charger, error = %e, "cannot apply the charger's limits");
        }
    }

    /// Brings a live plan in step with what is observed now.
    async fn advance(
        &self,
        policy: &SmartPolicy,
        mut plan: SmartPlan,
        situation: &Situation,
        trigger: Trigger,
        prices: Option<&PassPrices>,
        now: DateTime<Utc>,
    ) -> Result<SmartPlan, EngineError> {
        let before = (plan.state, plan.details.outcome, plan.details.reason.clone());
        let feasible_before = plan.details.plan.as_ref().map(|p| p.feasible);
        let efficiency = self.config.efficiency.clamp(0.01, 1.0);
        let metered = situation
            .session
            .as_ref()
            .map_or(plan.details.metered_kwh, ChargeSession::energy_kwh);
        let mut new_reading = false;
        if let Some(vehicle) = &situation.vehicle {
            let state = &vehicle.charge_state;
            let newer = state.battery_level.is_some()
                && (plan.details.baseline.soc.is_none() || state.last_updated > plan.details.baseline.soc_recorded_at);
            if newer {
                let plugged_in_at = situation.plugged_in_at.unwrap_or(plan.created_at);
                let soc = state
                    .battery_level
                    .map(|level| planning_soc(level, state.last_updated, plugged_in_at, self.config.stale_soc_margin));
                plan.details.baseline = Baseline {
                    soc,
                    soc_recorded_at: state.last_updated,
                    capacity_kwh: state.battery_capacity,
                    metered_kwh: metered,
                };
                if plan.details.start.soc.is_none() {
                    plan.details.start.soc = state.battery_level;
                    plan.details.start.soc_recorded_at = state.last_updated;
                    plan.details.start.capacity_kwh = state.battery_capacity;
                }
                new_reading = true;
            }
        }
        let soc = match situation.execution {
            Execution::Charger => plan.details.baseline.soc_now(metered, efficiency),
            Execution::Maker => plan.details.baseline.soc,
        };
        plan.details.target = target_of(policy, situation.vehicle.as_ref());
        if plan.details.transaction_id.is_none() {
            plan.details.transaction_id = situation.session.as_ref().map(|s| s.transaction_id);
        }
        plan.details.metered_kwh = metered;
        plan.details.soc = soc;
        plan.vehicle_id = situation.vehicle.as_ref().map(|v| v.id.clone()).or(plan.vehicle_id);
        plan.location_id = situation.location.as_ref().map(|l| l.id.clone());
        let tz = timezone(situation);
        if plan.details.deadline.is_none() || trigger == Trigger::PolicyChanged {
            let settings = policy.settings.without_past_departures(now);
            plan.details.deadline = next_deadline(&settings, now, tz);
            plan.details.timezone = tz.name().to_owned();
        }
        let deadline = plan.details.deadline;
        let since_start = (metered - plan.details.start.metered_kwh).max(0.0);
        let needed = need(
            &plan.details.target,
            soc,
            plan.details.baseline.capacity_kwh,
            since_start,
            efficiency,
        );
        let mut slots_changed = false;
        // The `schedule` source the plan puts on its charger, stored with it.
        let mut to_put: Option<ScheduleToPut> = None;

        match (needed, &situation.waiting) {
            (_, Some(waiting)) => {
                plan.state = PlanState::Considering;
                plan.details.reason = Some(waiting.clone());
            }
            (None, None) => {
                plan.state = PlanState::Considering;
                plan.details.reason = Some("waiting for the vehicle's state of charge and battery capacity".to_owned());
                // Nothing is held while the plan waits: the car charges as it would without one.
                if let Some(charger) = situation.charger_id() {
                    self.release(charger).await?;
                }
            }
            (Some(needed), None) if needed.reached() => {
                let reached = *plan.details.reached_at.get_or_insert(now);
                plan.state = PlanState::Ended;
                plan.details.outcome = Some(reached_outcome(deadline, reached));
                plan.details.reason = Some("the target is reached".to_owned());
                plan.ended_at = Some(now);
                if policy.charge_now_since.is_some() {
                    self.engine
                        .store
                        .set_charge_now(&policy.client_id, &policy.id, None, now)
                        .await?;
                }
                // The car stops at the target: held off until the deadline (the charger drops the
                // hold by itself then), or stopped through its maker.
                match (situation.charger_id(), situation.execution) {
                    (Some(charger), _) => match deadline.filter(|d| *d > now) {
                        Some(until) => to_put = Some(schedule_to_put(charger, &[(now, 0.0)], until)),
                        None => self.release(charger).await?,
                    },
                    (None, Execution::Maker) => self.maker_step(&mut plan, situation, false, now).await,
                    (None, Execution::Charger) => {}
                }
                tracing::info!(plan_id = %plan.id, outcome = ?plan.details.outcome, "smart-charging target reached");
            }
            (Some(needed), None) => {
                plan.details.reached_at = None;
                if policy.charge_now_since.is_some() {
                    plan.state = PlanState::ChargingNow;
                    plan.details.reason = Some(
                        "charging now, as asked: the plan is lifted until the target is reached or the override is ended"
                            .to_owned(),
                    );
                    self.at_once(&mut plan, situation, now).await?;
                } else if deadline.is_none_or(|d| now >= d) {
                    plan.state = PlanState::Executing;
                    plan.details.reason =
                        Some("the deadline passed short of the target: charging on until it is reached".to_owned());
                    self.at_once(&mut plan, situation, now).await?;
                } else {
                    let behind = situation.execution == Execution::Charger
                        && plan.details.plan.as_ref().is_some_and(|slots| {
                            let since = plan.details.planned_at.unwrap_or(now);
                            falling_behind(slots, since, metered - plan.details.metered_at_plan_kwh, now)
                        });
                    let replan = trigger != Trigger::Check
                        || plan.details.plan.is_none()
                        || new_reading
                        || behind
                        || matches!(before.0, PlanState::Considering | PlanState::ChargingNow);
                    if behind {
                        tracing::info!(plan_id = %plan.id, metered_kwh = metered, "charging fell behind the plan");
                    }
                    if replan {
                        let input = self
                            .plan_input(policy, situation, &needed, deadline, prices, now)
                            .await?;
                        let made = planner::plan(&input);
                        slots_changed = plan.details.plan.as_ref().is_none_or(|old| old.slots != made.slots);
                        plan.details.plan = Some(made);
                        plan.details.planned_at = Some(now);
                        plan.details.metered_at_plan_kwh = metered;
                        plan.details.replans += 1;
                    }
                    plan.state = PlanState::Executing;
                    let feasible = plan.details.plan.as_ref().is_some_and(|p| p.feasible);
                    if !feasible {
                        plan.details.reason =
                            Some("the target cannot be reached by the deadline: charging at once".to_owned());
                        self.at_once(&mut plan, situation, now).await?;
                    } else {
                        plan.details.reason = None;
                        to_put = self.follow(&mut plan, situation, replan, now).await?;
                    }
                }
            }
        }

        let mut fields: Vec<&str> = Vec::new();
        if plan.state != before.0 {
            fields.push("state");
        }
        if plan.details.outcome != before.1 {
            fields.push("outcome");
        }
        if slots_changed {
            fields.push("slots");
        }
        if plan.details.plan.as_ref().map(|p| p.feasible) != feasible_before {
            // The target can (no longer) be met in time: a client shows that.
            fields.push("feasible");
        }
        if plan.details.reason != before.2 && !fields.is_empty() {
            fields.push("reason");
        }
        plan.updated_at = now;
        match to_put {
            Some(put) => {
                // Unverified until the charger's composite schedule is read back against it.
                plan.details.verified = None;
                self.engine
                    .store
                    .save_smart_plan(&plan, &fields, Some((&put.charger, &put.periods, put.until)))
                    .await?;
                self.apply(&put.charger).await;
                if let Some(verified) = self.verify(&put.charger, put.until, now).await? {
                    plan.details.verified = Some(verified);
                    self.engine.store.update_smart_plan(&plan, &[]).await?;
                }
            }
            None => {
                self.engine.store.update_smart_plan(&plan, &fields).await?;
            }
        }
        if fields.contains(&"state") {
            tracing::info!(plan_id = %plan.id, state = plan.state.as_str(), reason = plan.details.reason.as_deref().unwrap_or(""), "smart-charging plan state");
        }
        Ok(plan)
    }

    /// Charging at once: nothing held on the charger, or a start through the maker.
    async fn at_once(
        &self,
        plan: &mut SmartPlan,
        situation: &Situation,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        match situation.charger_id() {
            Some(charger) => self.release(charger).await,
            None => {
                self.maker_step(plan, situation, true, now).await;
                Ok(())
            }
        }
    }

    /// Carries out a feasible plan: on the charger as its `schedule` source (put again when the
    /// plan was made again or is not there), or by the maker command its current slot needs.
    async fn follow(
        &self,
        plan: &mut SmartPlan,
        situation: &Situation,
        remade: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<ScheduleToPut>, EngineError> {
        let Some(slots) = plan.details.plan.clone() else {
            return Ok(None);
        };
        match situation.charger.as_ref() {
            Some(charger) => {
                let on_charger = situation
                    .limit_sources
                    .iter()
                    .any(|s| s.kind == LimitSourceKind::Schedule && !s.is_over(now));
                let takes_profiles = situation
                    .capabilities
                    .as_ref()
                    .is_none_or(ChargerCapabilities::takes_profiles);
                if !takes_profiles && !remade && on_charger {
                    // A charger that takes no profiles is switched on and off by Coupler at the
                    // plan's switches (remote start and stop); the keeper looks at each.
                    self.apply(&charger.id).await;
                }
                if remade || !on_charger {
                    let watts = self.watts_per_amp(Some(charger));
                    let max_a = self.max_current_a(situation.vehicle.as_ref());
                    let periods: Vec<(DateTime<Utc>, f64)> = schedule_from_plan(&slots, watts, max_a)
                        .iter()
                        .map(|p| (p.start, p.max_current_a))
                        .collect();
                    if let Some(end) = plan_end(&slots) {
                        return Ok(Some(schedule_to_put(&charger.id, &periods, end)));
                    }
                }
            }
            None => {
                let charging = charges_at(&slots, now);
                self.maker_step(plan, situation, charging, now).await;
            }
        }
        Ok(None)
    }

    /// Reads the charger's composite schedule until `until` and compares it with the limit the
    /// sources compose (the plan capped by the others).
    async fn verify(
        &self,
        charger: &ChargerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Verification>, EngineError> {
        let store = &self.engine.store;
        if !self.engine.control.is_connected(charger) {
            return Ok(None);
        }
        let connector = store.active_session(charger).await?.map_or(1, |s| s.connector_id);
        let horizon = u32::try_from((until - now).num_seconds().clamp(60, 86_400)).unwrap_or(86_400);
        let Some(reported) = self
            .engine
            .limits()
            .composite_schedule_over(charger, connector, horizon)
            .await
        else {
            return Ok(Some(Verification {
                at: self.engine.clock.now(),
                matches: false,
                detail: "the charger gave no composite schedule in amperes".to_owned(),
            }));
        };
        let sources = store.limit_sources_of_charger(charger).await?;
        let expected: Vec<(u32, f64)> = timeline(&sources, now, until)
            .into_iter()
            .filter_map(|(at, limit)| {
                let offset = u32::try_from((at - now).num_seconds().max(0)).ok()?;
                Some((offset, limit.unwrap_or(f64::MAX)))
            })
            .collect();
        let (matches, detail) = schedule_matches(&expected, &reported, horizon);
        if !matches {
            tracing::warn!(charger_id = %charger, detail = detail.as_str(), "the charger's composite schedule does not hold the plan");
        }
        Ok(Some(Verification {
            at: self.engine.clock.now(),
            matches,
            detail,
        }))
    }

    /// Asks the vehicle's maker to start or stop charging, unless the vehicle already does or the
    /// same was asked a short while ago (the action engine takes it from there, and a repeat while
    /// one is pending returns that one).
    async fn maker_step(&self, plan: &mut SmartPlan, situation: &Situation, charging: bool, now: DateTime<Utc>) {
        let Some(vehicle) = &situation.vehicle else {
            return;
        };
        let is_charging = vehicle.charge_state.is_charging == Some(true);
        let last = plan.details.maker;
        let asked = last.filter(|m| m.charging == charging);
        if is_charging == charging && asked.is_some() {
            return;
        }
        if is_charging == charging && last.is_none() && !charging {
            // Nothing asked yet and it does not charge: nothing to stop.
            return;
        }
        let retry = self.engine.clock.span_of(self.config.check_interval * 2);
        if asked.is_some_and(|m| now - m.at < retry) {
            return;
        }
        let command = if charging {
            VehicleCommand::Start
        } else {
            VehicleCommand::Stop
        };
        match self
            .engine
            .request_vehicle_action(&vehicle.client_id, &vehicle.id, command, None)
            .await
        {
            Ok(action) => {
                tracing::info!(plan_id = %plan.id, vehicle_id = %vehicle.id, action_id = %action.id, charging, "the plan asks the vehicle's maker");
                plan.details.maker = Some(MakerStep { charging, at: now });
            }
            Err(EngineError::Refused(why)) => {
                plan.details.reason = Some(format!(
                    "the vehicle's maker cannot {} charging: {why}",
                    if charging { "start" } else { "stop" }
                ));
            }
            Err(e) => tracing::warn!(vehicle_id = %vehicle.id, error = %e, "cannot ask the vehicle's maker"),
        }
    }

    /// Watts per ampere of current per phase: the phase voltage times the phases the charger's
    /// meter shows in use (power over current), else the configured phases.
    fn watts_per_amp(&self, charger: Option<&Charger>) -> f64 {
        let volts = self.config.phase_voltage;
        let metered = charger.and_then(|c| match (c.meter.power_w, c.meter.current_a) {
            (Some(power), Some(current)) if current > 1.0 && power > 0.0 => {
                Some((power / (current * volts)).round().clamp(1.0, 3.0))
            }
            _ => None,
        });
        volts * metered.unwrap_or(f64::from(self.config.phases.clamp(1, 3)))
    }

    /// The most current the car takes: its maker's word, else the configured default.
    fn max_current_a(&self, vehicle: Option<&Vehicle>) -> f64 {
        vehicle
            .and_then(|v| v.charge_state.max_current)
            .filter(|a| *a >= coupler_core::limits::MIN_CHARGING_CURRENT_A)
            .unwrap_or(self.config.default_max_current_a)
    }

    /// The planner's input: the power the car and charger take, the other sources as caps,
    /// losses, prices, strategy.
    async fn plan_input(
        &self,
        policy: &SmartPolicy,
        situation: &Situation,
        needed: &Need,
        deadline: Option<DateTime<Utc>>,
        pass_prices: Option<&PassPrices>,
        now: DateTime<Utc>,
    ) -> Result<PlanInput, EngineError> {
        let deadline = deadline.unwrap_or(now);
        let watts = self.watts_per_amp(situation.charger.as_ref());
        let max_power_kw = self.max_current_a(situation.vehicle.as_ref()) * watts / 1000.0;
        let mut caps = Vec::new();
        if situation.charger.is_some() {
            let others: Vec<_> = situation
                .limit_sources
                .iter()
                .filter(|s| s.kind != LimitSourceKind::Schedule)
                .cloned()
                .collect();
            let steps = timeline(&others, now, deadline);
            for (i, (start, limit)) in steps.iter().enumerate() {
                let end = steps.get(i + 1).map_or(deadline, |(next, _)| *next);
                if let Some(limit) = limit {
                    caps.push(PowerCap {
                        start: *start,
                        end,
                        max_power_kw: limit * watts / 1000.0,
                    });
                }
            }
        }
        let read_for_the_pass = situation
            .location
            .as_ref()
            .zip(pass_prices)
            .and_then(|(location, pass)| pass.covering(&location.id, now, deadline));
        let prices = match read_for_the_pass {
            Some(prices) => prices,
            None => self.engine.prices_for(situation.location.as_ref(), now, deadline).await,
        };
        Ok(PlanInput {
            now,
            deadline,
            energy_needed_kwh: needed.to_target_kwh,
            energy_at_once_kwh: needed.at_once_kwh,
            max_power_kw,
            caps,
            efficiency: self.config.efficiency.clamp(0.01, 1.0),
            prices,
            strategy: policy.settings.strategy,
            // Below 6 A a charger cannot offer an EV any current.
            min_power_kw: coupler_core::limits::MIN_CHARGING_CURRENT_A * watts / 1000.0,
            // A car that charges slower near its target (or than its maker says) gets time in
            // hand after the need; an energy target with no car to stop at it gets none.
            reserve_kwh: match (
                situation.vehicle.as_ref().and_then(|v| v.charge_state.battery_level),
                policy.settings.target_soc,
                situation.vehicle.as_ref().and_then(|v| v.charge_state.battery_capacity),
            ) {
                (Some(soc), Some(target), Some(capacity)) => planner::reserve_kwh(soc, target, capacity),
                _ => 0.0,
            },
        })
    }
}

/// A plan's periods (start, amperes) to put on `charger` as its `schedule` source until `until`:
/// stored with the plan, then applied and read back from the charger.
struct ScheduleToPut {
    charger: ChargerId,
    periods: Vec<coupler_core::limits::SchedulePeriod>,
    until: DateTime<Utc>,
}

fn schedule_to_put(charger: &ChargerId, periods: &[(DateTime<Utc>, f64)], until: DateTime<Utc>) -> ScheduleToPut {
    ScheduleToPut {
        charger: charger.clone(),
        periods: periods
            .iter()
            .map(|(start, amps)| coupler_core::limits::SchedulePeriod {
                start: *start,
                max_current_a: *amps,
            })
            .collect(),
        until,
    }
}

/// When a live plan next needs a look after `now`: its next switch or its deadline.
fn next_look(plan: &SmartPlan, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let switch = plan.details.plan.as_ref().and_then(|slots| next_switch(slots, now));
    [plan.details.deadline.filter(|d| *d > now), switch]
        .into_iter()
        .flatten()
        .min()
}

/// The time zone of the plug-in's location (UTC where none is known).
fn timezone(situation: &Situation) -> Tz {
    situation
        .location
        .as_ref()
        .and_then(|l| l.fields.timezone_name.parse().ok())
        .unwrap_or(Tz::UTC)
}

/// What a policy aims at for a vehicle: its state-of-charge target lowered to the vehicle's own
/// charge limit (the car stops there whatever the plan says).
fn target_of(policy: &SmartPolicy, vehicle: Option<&Vehicle>) -> PlanTarget {
    let own_limit = vehicle.and_then(|v| v.charge_state.charge_limit);
    PlanTarget {
        soc: policy
            .settings
            .target_soc
            .map(|t| own_limit.map_or(t, |limit| t.min(limit))),
        energy_kwh: policy.settings.target_energy_kwh,
        minimum_soc: policy.settings.minimum_soc,
    }
}

/// Whether a live plan is about the same charger (or the same maker route) as the situation.
fn same_place(plan: &SmartPlan, situation: &Situation) -> bool {
    plan.details.execution == situation.execution && plan.charger_id.as_ref() == situation.charger_id()
}

/// Whether the situation is another plug-in than the plan's: on a charger, another transaction;
/// through a maker, a plug-in the maker's reads saw begin at another time.
fn another_plug_in(plan: &SmartPlan, situation: &Situation) -> bool {
    match situation.execution {
        Execution::Charger => matches!(
            (plan.details.transaction_id, situation.session.as_ref().map(|s| s.transaction_id)),
            (Some(before), Some(now)) if before != now
        ),
        Execution::Maker => matches!(
            (plan.details.plugged_in_at, situation.plugged_in_at),
            (Some(before), Some(now)) if before != now
        ),
    }
}

/// Whether a plug-in whose latest plan has ended gets a new plan: it is another plug-in (the last
/// one was seen to end, or it is another transaction), or the policy or its override changed since.
fn starts_anew(plan: &SmartPlan, policy: &SmartPolicy, situation: &Situation) -> bool {
    let ended = plan.ended_at.unwrap_or(plan.updated_at);
    plan.details.released
        || another_plug_in(plan, situation)
        || !same_place(plan, situation)
        || policy.updated_at > ended
        || policy.charge_now_since.is_some_and(|since| since > ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_at_one_location_reaches_that_location_an_area_s_its_client_and_a_provider_s_everyone() {
        let client = ClientId::new("c");
        let location = LocationId::new("home");
        assert_eq!(
            PriceReach::of(PriceScope::Location {
                client: client.clone(),
                location: location.clone()
            }),
            PriceReach::Location(client.clone(), location)
        );
        let area = coupler_core::tariff::PriceArea::parse("SE3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            PriceReach::of(PriceScope::Area {
                client: client.clone(),
                area: area.clone()
            }),
            PriceReach::Client(client)
        );
        assert_eq!(
            PriceReach::of(PriceScope::Provider {
                provider: "AWATTAR".into(),
                area
            }),
            PriceReach::Everyone
        );
    }
}
