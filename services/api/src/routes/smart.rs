//! Smart charging: a policy per vehicle, EV system or charger (`GET|PUT .../smart-charging-policy`),
//! the plan of the current or last plug-in it governs (`GET .../smart-charging-plan`), and the
//! charge-now override (`POST|DELETE .../charge-now`). Policies are stored first, then the plan
//! keeper makes the plan in the background; `user:smart-charging-plan:updated` events follow it.

use axum::extract::State;
use chrono::{DateTime, Utc};
use coupler_core::ev_system::EvSystemId;
use coupler_core::planner::Strategy;
use coupler_core::smart::{
    format_time_of_day, Execution, PlanOutcome, PolicyDraft, PolicyError, PolicySettings, PolicyTarget, SmartPlan,
    SmartPolicy, SmartPolicyId,
};
use coupler_core::{ChargerId, UserId, VehicleId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::state::AppState;

/// How a plan spends the time before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StrategyName {
    /// The cheapest slots, wherever they fall before the deadline.
    Cheapest,
    /// The cheapest single uninterrupted window.
    Continuous,
}

impl From<StrategyName> for Strategy {
    fn from(name: StrategyName) -> Self {
        match name {
            StrategyName::Cheapest => Self::Cheapest,
            StrategyName::Continuous => Self::Continuous,
        }
    }
}

impl From<Strategy> for StrategyName {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Cheapest => Self::Cheapest,
            Strategy::Continuous => Self::Continuous,
        }
    }
}

/// Another deadline on some weekdays (local time, `HH:MM`); a day left out keeps the daily one.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeekdayDeadlines {
    /// Monday's deadline.
    #[schema(example = "07:30")]
    pub monday: Option<String>,
    /// Tuesday's deadline.
    pub tuesday: Option<String>,
    /// Wednesday's deadline.
    pub wednesday: Option<String>,
    /// Thursday's deadline.
    pub thursday: Option<String>,
    /// Friday's deadline.
    pub friday: Option<String>,
    /// Saturday's deadline.
    pub saturday: Option<String>,
    /// Sunday's deadline.
    pub sunday: Option<String>,
}

impl WeekdayDeadlines {
    fn days(self) -> [Option<String>; 7] {
        [
            self.monday,
            self.tuesday,
            self.wednesday,
            self.thursday,
            self.friday,
            self.saturday,
            self.sunday,
        ]
    }

    fn from_days(days: [Option<String>; 7]) -> Self {
        let [monday, tuesday, wednesday, thursday, friday, saturday, sunday] = days;
        Self {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        }
    }
}

/// A smart-charging policy: when the car must be ready, to what level, and how the time before is
/// spent. `PUT` replaces the whole policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmartChargingPolicyBody {
    /// Whether plans are made (`true` when absent). A disabled policy ends the plan in force.
    pub is_enabled: Option<bool>,
    /// The time of day the car must be ready by, every day, in the location's time zone (`HH:MM`).
    #[schema(example = "07:00")]
    pub deadline: Option<String>,
    /// Other deadlines on some weekdays.
    pub weekday_deadlines: Option<WeekdayDeadlines>,
    /// One-off departures (at most 10, in the future): each replaces the deadline of its local day,
    /// once.
    #[serde(default)]
    pub departures: Vec<DateTime<Utc>>,
    /// The state of charge to reach, percent (1 to 100). Lowered to the vehicle's own charge limit
    /// when that is lower.
    #[schema(example = 80)]
    pub target_soc: Option<f64>,
    /// The energy to charge, kWh as the charger meters it (above 0, at most 500), where the state of
    /// charge is unknown; a charger's policy needs it.
    pub target_energy: Option<f64>,
    /// Charged at once, whatever the price, up to this state of charge, percent (0 to 100, not above
    /// `targetSoc`).
    #[schema(example = 20)]
    pub minimum_charge_limit: Option<f64>,
    /// `CHEAPEST` when absent.
    pub strategy: Option<StrategyName>,
}

/// A smart-charging policy as stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmartChargingPolicyResponse {
    /// Identifier.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// What it governs: `vehicle`, `ev-system` or `charger`.
    #[schema(example = "vehicle")]
    pub target_type: String,
    /// The vehicle's, EV system's or charger's id.
    pub target_id: String,
    /// Whether plans are made.
    pub is_enabled: bool,
    /// The daily deadline, `HH:MM` local time.
    pub deadline: String,
    /// Other deadlines on some weekdays.
    pub weekday_deadlines: WeekdayDeadlines,
    /// One-off departures still to come.
    pub departures: Vec<DateTime<Utc>>,
    /// The state of charge to reach, percent.
    pub target_soc: Option<f64>,
    /// The energy to charge, kWh.
    pub target_energy: Option<f64>,
    /// Charged at once up to this state of charge, percent.
    pub minimum_charge_limit: Option<f64>,
    /// How the time before the deadline is spent.
    pub strategy: StrategyName,
    /// Since when charge-now is in force (`null`: it is not).
    pub charge_now_since: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// How an ended plan did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanOutcomeBody {
    /// `MET` (reached by the deadline), `LATE` (reached after it), `SHORT` (the vehicle left before
    /// the target), `CANCELLED` (the policy was disabled).
    #[schema(example = "MET")]
    #[serde(rename = "type")]
    pub outcome_type: String,
    /// For `LATE`: minutes after the deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_minutes: Option<i64>,
    /// For `SHORT`: how far below the target, percent (state-of-charge points, or the share of the
    /// energy target missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_percent: Option<f64>,
}

/// One slot of a plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSlotBody {
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// The power to charge at, kW from the grid (0: not charging).
    pub power: f64,
    /// The price per kWh in the slot, when known.
    pub price: Option<f64>,
}

/// The plan of a plug-in a policy governs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmartChargingPlanResponse {
    /// Identifier.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// The policy it follows.
    pub policy_id: String,
    /// The vehicle charged, when known.
    pub vehicle_id: Option<String>,
    /// The charger it runs on (`null`: followed through the vehicle's maker).
    pub charger_id: Option<String>,
    /// `CONSIDERING` (plugged in; waiting for what the plan needs, see `reason`), `EXECUTING` (in
    /// force), `CHARGING_NOW` (lifted by charge-now), `ENDED` (see `outcome`).
    #[schema(example = "EXECUTING")]
    pub state: String,
    /// How it ended.
    pub outcome: Option<PlanOutcomeBody>,
    /// Why it is as it is, for people (what it waits for, that the target cannot be reached in
    /// time and charging runs at once, that the deadline passed).
    pub reason: Option<String>,
    /// `CHARGER` (one charging profile the charger follows by itself) or `MAKER` (start and stop
    /// commands to the vehicle's maker at the plan's switches).
    #[schema(example = "CHARGER")]
    pub executed_by: String,
    /// When the car must be ready.
    pub deadline: Option<DateTime<Utc>>,
    /// The time zone the deadline was read in.
    pub timezone_name: String,
    /// The state of charge aimed at, percent.
    pub target_soc: Option<f64>,
    /// The energy aimed at, kWh.
    pub target_energy: Option<f64>,
    /// Whether the target can be reached by the deadline (`null` before a plan is made).
    pub feasible: Option<bool>,
    /// The slots from when it was made to its end, in order.
    pub slots: Vec<PlanSlotBody>,
    /// Energy the plan adds to the battery, kWh.
    pub expected_energy: Option<f64>,
    /// When charging is expected to finish.
    pub expected_finish: Option<DateTime<Utc>>,
    /// What the plan costs at known prices.
    pub smart_cost: Option<f64>,
    /// What charging the same energy at once would cost.
    pub non_smart_cost: Option<f64>,
    /// When the plan was last made.
    pub planned_at: Option<DateTime<Utc>>,
    /// The state of charge now, estimated from the last reading and the meter, percent.
    pub state_of_charge: Option<f64>,
    /// Energy metered since the plug-in, kWh.
    pub energy_charged: f64,
    /// When the target was reached.
    pub reached_at: Option<DateTime<Utc>>,
    /// Whether the charger's composite schedule (GetCompositeSchedule) held the plan when last read.
    pub charger_holds_plan: Option<bool>,
    /// What the charger's composite schedule showed.
    pub charger_check: Option<String>,
    /// When the plug-in was seen.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

/// The kind of thing a policy route is on.
#[derive(Debug, Clone, Copy)]
enum On {
    Vehicle,
    EvSystem,
    Charger,
}

/// The client's vehicle, EV system or charger `id` as a policy target, with its user; 404 when the
/// client has none.
async fn target(state: &AppState, caller: &Caller, on: On, id: &str) -> Result<(PolicyTarget, UserId), ApiError> {
    let store = &state.store;
    let client = &caller.client_id;
    let found = match on {
        On::Vehicle => store
            .get_vehicle(client, &VehicleId::new(id))
            .await?
            .map(|v| (PolicyTarget::Vehicle(v.id), v.user_id)),
        On::EvSystem => store
            .get_ev_system(client, &EvSystemId::new(id))
            .await?
            .map(|s| (PolicyTarget::EvSystem(s.id), s.user_id)),
        On::Charger => store
            .get_charger(client, &ChargerId::new(id))
            .await?
            .map(|c| (PolicyTarget::Charger(c.id), c.user_id)),
    };
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no {} '{id}'",
            match on {
                On::Vehicle => "vehicle",
                On::EvSystem => "EV system",
                On::Charger => "charger",
            }
        ))
    })
}

fn target_type(target: &PolicyTarget) -> &'static str {
    match target {
        PolicyTarget::Vehicle(_) => "vehicle",
        PolicyTarget::EvSystem(_) => "ev-system",
        PolicyTarget::Charger(_) => "charger",
    }
}

/// A policy as the API shows it.
pub fn policy_body(policy: &SmartPolicy, now: DateTime<Utc>) -> SmartChargingPolicyResponse {
    let s = &policy.settings;
    SmartChargingPolicyResponse {
        id: policy.id.as_str().to_owned(),
        user_id: policy.user_id.as_str().to_owned(),
        target_type: target_type(&policy.target).to_owned(),
        target_id: policy.target.id().to_owned(),
        is_enabled: policy.enabled,
        deadline: format_time_of_day(s.deadline),
        weekday_deadlines: WeekdayDeadlines::from_days(s.weekday_deadlines.map(|d| d.map(format_time_of_day))),
        departures: s.departures.iter().copied().filter(|d| *d > now).collect(),
        target_soc: s.target_soc,
        target_energy: s.target_energy_kwh,
        minimum_charge_limit: s.minimum_soc,
        strategy: s.strategy.into(),
        charge_now_since: policy.charge_now_since,
        created_at: policy.created_at,
        updated_at: policy.updated_at,
    }
}

/// A plan as the API (and its events) show it.
pub fn plan_body(plan: &SmartPlan) -> SmartChargingPlanResponse {
    let d = &plan.details;
    let slots = d.plan.as_ref();
    SmartChargingPlanResponse {
        id: plan.id.as_str().to_owned(),
        user_id: plan.user_id.as_str().to_owned(),
        policy_id: plan.policy_id.as_str().to_owned(),
        vehicle_id: plan.vehicle_id.as_ref().map(|v| v.as_str().to_owned()),
        charger_id: plan.charger_id.as_ref().map(|c| c.as_str().to_owned()),
        state: plan.state.as_str().to_owned(),
        outcome: d.outcome.map(|o| match o {
            PlanOutcome::Met => outcome("MET", None, None),
            PlanOutcome::Late { minutes } => outcome("LATE", Some(minutes), None),
            PlanOutcome::Short { percent } => outcome("SHORT", None, Some(percent)),
            PlanOutcome::Cancelled => outcome("CANCELLED", None, None),
        }),
        reason: d.reason.clone(),
        executed_by: match d.execution {
            Execution::Charger => "CHARGER",
            Execution::Maker => "MAKER",
        }
        .to_owned(),
        deadline: d.deadline,
        timezone_name: d.timezone.clone(),
        target_soc: d.target.soc,
        target_energy: d.target.energy_kwh,
        feasible: slots.map(|p| p.feasible),
        slots: slots
            .map(|p| {
                p.slots
                    .iter()
                    .map(|s| PlanSlotBody {
                        start: s.start,
                        end: s.end,
                        power: round(s.power_kw, 3),
                        price: s.price_per_kwh,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        expected_energy: slots.map(|p| round(p.expected_energy_kwh, 3)),
        expected_finish: slots.and_then(|p| p.expected_finish),
        smart_cost: slots.map(|p| round(p.smart_cost, 4)),
        non_smart_cost: slots.map(|p| round(p.non_smart_cost, 4)),
        planned_at: d.planned_at,
        state_of_charge: d.soc.map(|s| round(s, 1)),
        energy_charged: round((d.metered_kwh - d.start.metered_kwh).max(0.0), 3),
        reached_at: d.reached_at,
        charger_holds_plan: d.verified.as_ref().map(|v| v.matches),
        charger_check: d.verified.as_ref().map(|v| v.detail.clone()),
        created_at: plan.created_at,
        updated_at: plan.updated_at,
        ended_at: plan.ended_at,
    }
}

fn outcome(kind: &str, late_minutes: Option<i64>, short_percent: Option<f64>) -> PlanOutcomeBody {
    PlanOutcomeBody {
        outcome_type: kind.to_owned(),
        late_minutes,
        short_percent,
    }
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

async fn get_policy(
    state: &AppState,
    caller: &Caller,
    on: On,
    id: &str,
) -> Result<SmartChargingPolicyResponse, ApiError> {
    let (target, _) = target(state, caller, on, id).await?;
    let policy = state
        .store
        .get_smart_policy(&caller.client_id, &target)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no smart-charging policy on {} '{id}'; PUT one",
                target_type(&target)
            ))
        })?;
    Ok(policy_body(&policy, state.engine.clock().now()))
}

/// Checks and stores a policy, then has its plan made again. Nothing is stored when a value is
/// refused; every refused value is named.
async fn put_policy(
    state: &AppState,
    caller: &Caller,
    on: On,
    id: &str,
    body: SmartChargingPolicyBody,
) -> Result<SmartChargingPolicyResponse, ApiError> {
    let (target, user) = target(state, caller, on, id).await?;
    let now = state.engine.clock().now();
    let draft = PolicyDraft {
        deadline: body.deadline,
        weekday_deadlines: body.weekday_deadlines.unwrap_or_default().days(),
        departures: body.departures,
        target_soc: body.target_soc,
        target_energy_kwh: body.target_energy,
        minimum_soc: body.minimum_charge_limit,
        strategy: body.strategy.map(Strategy::from),
    };
    let settings = PolicySettings::check(&draft, &target, now).map_err(refused)?;
    let existing = state.store.get_smart_policy(&caller.client_id, &target).await?;
    let policy = SmartPolicy {
        id: existing.as_ref().map_or_else(SmartPolicyId::generate, |p| p.id.clone()),
        client_id: caller.client_id.clone(),
        user_id: user,
        target: target.clone(),
        enabled: body.is_enabled.unwrap_or(true),
        settings,
        charge_now_since: existing.as_ref().and_then(|p| p.charge_now_since),
        created_at: existing.as_ref().map_or(now, |p| p.created_at),
        updated_at: now,
    };
    let stored = state
        .store
        .put_smart_policy(&policy)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no {} '{id}'", target_type(&target))))?;
    tracing::info!(policy_id = %stored.id, target = target_type(&target), target_id = target.id(), enabled = stored.enabled, "smart-charging policy set");
    state.smart.policy_changed(stored.id.clone());
    Ok(policy_body(&stored, now))
}

/// A 422 naming every refused value of a policy.
fn refused(errors: Vec<PolicyError>) -> ApiError {
    let detail = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    let mut problem = ApiError::invalid(detail);
    for error in &errors {
        let mut value = InvalidValue::body(error.pointer(), error.to_string());
        value = match error {
            PolicyError::NotATime { .. } | PolicyError::DeadlineMissing => value.expected("a time of day, HH:MM"),
            PolicyError::Percent { .. } => value.expected("a number of percent"),
            PolicyError::Energy | PolicyError::ChargerNeedsEnergy => value.expected("a number of kWh"),
            PolicyError::DepartureInPast { .. } | PolicyError::TooManyDepartures => {
                value.expected("up to 10 instants in the future")
            }
            PolicyError::TargetMissing | PolicyError::TargetBelowMinimum { .. } => {
                value.expected("a target at or above minimumChargeLimit")
            }
        };
        problem = problem.at(value);
    }
    problem
}

async fn get_plan(state: &AppState, caller: &Caller, on: On, id: &str) -> Result<SmartChargingPlanResponse, ApiError> {
    let (target, _) = target(state, caller, on, id).await?;
    let no_plan = || ApiError::not_found(format!("no smart-charging plan on {} '{id}' yet", target_type(&target)));
    let policy = state
        .store
        .get_smart_policy(&caller.client_id, &target)
        .await?
        .ok_or_else(no_plan)?;
    let plan = state
        .store
        .latest_smart_plan(&policy.id)
        .await?
        .filter(|p| p.client_id == caller.client_id)
        .ok_or_else(no_plan)?;
    Ok(plan_body(&plan))
}

/// Starts (`on`) or ends the charge-now override of the target's policy.
async fn charge_now(
    state: &AppState,
    caller: &Caller,
    on: On,
    id: &str,
    start: bool,
) -> Result<SmartChargingPolicyResponse, ApiError> {
    let (target, _) = target(state, caller, on, id).await?;
    let policy = state
        .store
        .get_smart_policy(&caller.client_id, &target)
        .await?
        .ok_or_else(|| {
            ApiError::refused(format!(
                "{} '{id}' has no smart-charging policy: it charges at once already",
                target_type(&target)
            ))
        })?;
    let now = state.engine.clock().now();
    let since = if start {
        Some(policy.charge_now_since.unwrap_or(now))
    } else {
        None
    };
    let stored = state
        .store
        .set_charge_now(&caller.client_id, &policy.id, since, now)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no smart-charging policy on '{id}'")))?;
    tracing::info!(policy_id = %stored.id, charge_now = start, "charge-now override");
    state.smart.override_changed(stored.id.clone());
    Ok(policy_body(&stored, now))
}

/// Generates the routes of one kind of target: policy GET/PUT, plan GET, charge-now POST/DELETE.
macro_rules! smart_routes {
    (
        $on:expr, $param:literal, $what:literal, $base:literal,
        $get_policy:ident, $put_policy:ident, $get_plan:ident, $start:ident, $end:ident
    ) => {
        #[doc = concat!("Reads the smart-charging policy of a ", $what, ".")]
        #[utoipa::path(
            get,
            summary = concat!("Reads the smart-charging policy of a ", $what, "."),
            path = concat!($base, "/smart-charging-policy"),
            tag = "smart-charging",
            params(($param = String, Path, description = concat!("The ", $what, "'s id"))),
            responses(
                (status = 200, description = "The policy", body = SmartChargingPolicyResponse),
                (status = 404, description = concat!("The client has no such ", $what, ", or it has no policy"), body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $get_policy(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
        ) -> Result<ApiJson<SmartChargingPolicyResponse>, ApiError> {
            Ok(ApiJson(get_policy(&state, &caller, $on, &id).await?))
        }

        #[doc = concat!("Sets (replaces) the smart-charging policy of a ", $what, ". It is stored first; the plan of a plug-in it governs is made again in the background (`GET ", $base, "/smart-charging-plan`). Every refused value is named in a 422, and nothing is changed.")]
        #[utoipa::path(
            put,
            summary = concat!("Sets (replaces) the smart-charging policy of a ", $what, ". It is stored first; the plan of a plug-in it governs is made again in the background (`GET ", $base, "/smart-charging-plan`). Every refused value is named in a 422, and nothing is changed."),
            path = concat!($base, "/smart-charging-policy"),
            tag = "smart-charging",
            params(($param = String, Path, description = concat!("The ", $what, "'s id"))),
            request_body = SmartChargingPolicyBody,
            responses(
                (status = 200, description = "Stored", body = SmartChargingPolicyResponse),
                (status = 404, description = concat!("The client has no such ", $what), body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "A value is refused (a deadline that is not a time, a target below the minimum, a percentage out of range, a departure in the past)", body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $put_policy(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
            ApiJson(body): ApiJson<SmartChargingPolicyBody>,
        ) -> Result<ApiJson<SmartChargingPolicyResponse>, ApiError> {
            Ok(ApiJson(put_policy(&state, &caller, $on, &id, body).await?))
        }

        #[doc = concat!("Reads the plan of the current (or last) plug-in the ", $what, "'s policy governs: its state, slots, expected energy and finish, smart and non-smart cost, and outcome.")]
        #[utoipa::path(
            get,
            summary = concat!("Reads the plan of the current (or last) plug-in the ", $what, "'s policy governs: its state, slots, expected energy and finish, smart and non-smart cost, and outcome."),
            path = concat!($base, "/smart-charging-plan"),
            tag = "smart-charging",
            params(($param = String, Path, description = concat!("The ", $what, "'s id"))),
            responses(
                (status = 200, description = "The plan", body = SmartChargingPlanResponse),
                (status = 404, description = concat!("The client has no such ", $what, ", or no plan was made yet"), body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $get_plan(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
        ) -> Result<ApiJson<SmartChargingPlanResponse>, ApiError> {
            Ok(ApiJson(get_plan(&state, &caller, $on, &id).await?))
        }

        #[doc = concat!("Charges the ", $what, " now: the plan is lifted (full power) until the target is reached or the override is ended with `DELETE`. Repeating it keeps the first start.")]
        #[utoipa::path(
            post,
            summary = concat!("Charges the ", $what, " now: the plan is lifted (full power) until the target is reached or the override is ended with `DELETE`. Repeating it keeps the first start."),
            path = concat!($base, "/charge-now"),
            tag = "smart-charging",
            params(($param = String, Path, description = concat!("The ", $what, "'s id"))),
            responses(
                (status = 200, description = "The policy, with `chargeNowSince`", body = SmartChargingPolicyResponse),
                (status = 400, description = "There is no policy: charging runs at once already", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = concat!("The client has no such ", $what), body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $start(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
        ) -> Result<ApiJson<SmartChargingPolicyResponse>, ApiError> {
            Ok(ApiJson(charge_now(&state, &caller, $on, &id, true).await?))
        }

        #[doc = concat!("Ends the charge-now override of the ", $what, ": the plan is made again and followed.")]
        #[utoipa::path(
            delete,
            summary = concat!("Ends the charge-now override of the ", $what, ": the plan is made again and followed."),
            path = concat!($base, "/charge-now"),
            tag = "smart-charging",
            params(($param = String, Path, description = concat!("The ", $what, "'s id"))),
            responses(
                (status = 200, description = "The policy, `chargeNowSince` null", body = SmartChargingPolicyResponse),
                (status = 400, description = "There is no policy", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = concat!("The client has no such ", $what), body = Problem, content_type = "application/problem+json"),
                (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
            ),
            security(("clientCredentials" = [])),
        )]
        pub async fn $end(
            caller: Caller,
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
        ) -> Result<ApiJson<SmartChargingPolicyResponse>, ApiError> {
            Ok(ApiJson(charge_now(&state, &caller, $on, &id, false).await?))
        }
    };
}

smart_routes!(
    On::Vehicle,
    "vehicleId",
    "vehicle",
    "/vehicles/{vehicleId}",
    get_vehicle_smart_charging_policy,
    put_vehicle_smart_charging_policy,
    get_vehicle_smart_charging_plan,
    start_vehicle_charge_now,
    end_vehicle_charge_now
);
smart_routes!(
    On::EvSystem,
    "evSystemId",
    "EV system",
    "/ev-systems/{evSystemId}",
    get_ev_system_smart_charging_policy,
    put_ev_system_smart_charging_policy,
    get_ev_system_smart_charging_plan,
    start_ev_system_charge_now,
    end_ev_system_charge_now
);
smart_routes!(
    On::Charger,
    "chargerId",
    "charger",
    "/chargers/{chargerId}",
    get_charger_smart_charging_policy,
    put_charger_smart_charging_policy,
    get_charger_smart_charging_plan,
    start_charger_charge_now,
    end_charger_charge_now
);
