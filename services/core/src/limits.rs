//! Limits as durable sources: a charger's effective current limit composed from named sources, and
//! how each is written onto the charger as OCPP charging profiles so the charger keeps to it even
//! when Coupler is unreachable.
//!
//! A [`LimitSource`] is one party's cap on the current (`user`: the max-current command; `site`: a
//! site's or grid's cap on a charger or on a whole location; `schedule`: a smart-charging plan;
//! `flex`: a flexibility event's cap on one charger). Each is stored with its own optional validity
//! window. A source's cap is constant, or changes over time ([`LimitSource::schedule`], the periods
//! of a smart-charging plan). The limit in force is the lowest of the sources in force
//! ([`compose`]).
//!
//! On the charger, each kind has its own profile purpose: `user` and `schedule` limit sessions
//! (TxDefaultProfile on connector 0, and a TxProfile for the running transaction), `site` and `flex`
//! limit the station (ChargePointMaxProfile / ChargingStationMaxProfile). The charger computes the
//! composite as the minimum across purposes, and within a purpose the highest valid stack level
//! wins; so [`plan_profiles`] gives the stricter source of a purpose the higher stack level. That
//! way "highest valid stack level" *is* "lowest limit in force", and when a window ends while
//! Coupler is away the charger falls back to the next source by itself, as OCPP's validFrom /
//! validTo make it do.
//!
//! A time-varying source breaks that rule: within a purpose the charger follows the one profile of
//! the highest valid stack level for as long as it is valid, whatever its other profiles say, and a
//! plan that allows 16 A now and 0 A later is neither stricter nor looser than a user's 10 A. So a
//! `schedule` source always takes the top stack level of the session family, and its periods are
//! written as the minimum of the plan and every other session-family source in force in each
//! period ([`plan_profiles`] caps them, so a user's max current set after the plan still holds).
//! The charger then follows the capped plan until its validTo (the plan's end) and falls back to
//! the user's profile after it. The `site` and `flex` sources are another purpose, which the charger
//! itself takes the minimum with. The planner gets every other source as a power cap too, so the
//! energy it plans can flow.
//!
//! Chargers that declare no smart charging get on/off instead ([`OnOff`]): charging is stopped while
//! the limit in force is below what an EV can charge with, and may run otherwise.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::charger::ChargerId;
use crate::client::ClientId;
use crate::control::{ChargingLimit, ConfigurationEntry, LimitPeriod, LimitPurpose, RateUnit};
use crate::id::time_ordered_id;
use crate::location::LocationId;
use crate::user::UserId;

time_ordered_id!(
    /// Identifies a limit source.
    LimitSourceId
);

/// The lowest current an AC charger can offer an EV (IEC 61851): below it, charging stops.
pub const MIN_CHARGING_CURRENT_A: f64 = 6.0;

/// The highest limit a source may set, amperes per phase (far above any AC charger's rating).
pub const MAX_LIMIT_A: f64 = 1000.0;

/// First profile id of each purpose; a profile's id is the base plus its stack level, so each
/// (purpose, stack level) pair has one id and a newer profile replaces the older one in place.
const TX_DEFAULT_PROFILE_BASE: i32 = 999;
const TX_PROFILE_BASE: i32 = 1099;
const STATION_MAX_PROFILE_BASE: i32 = 1199;

/// Who set a limit. Each kind maps onto its own OCPP profile purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitSourceKind {
    /// The user's own max current (the max-current command).
    User,
    /// A smart-charging plan: a cap that changes over time.
    Schedule,
    /// A flexibility event's cap on one charger, in the event's window (see [`crate::flex`]).
    Flex,
    /// A site's or grid's cap on a charger or a location.
    Site,
}

/// Which OCPP profiles a source kind is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileFamily {
    /// TxDefaultProfile (connector 0) and, while a transaction runs, TxProfile.
    Session,
    /// ChargePointMaxProfile (1.6) / ChargingStationMaxProfile (2.0.1), connector 0.
    Station,
}

impl LimitSourceKind {
    /// Every kind.
    pub const ALL: [LimitSourceKind; 4] = [Self::User, Self::Schedule, Self::Flex, Self::Site];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Schedule => "schedule",
            Self::Flex => "flex",
            Self::Site => "site",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Breaks ties between equal limits (higher names the binding source); also the order the API
    /// lists sources in. A site's cap outranks a utility event, which outranks a plan, which
    /// outranks the user's own choice.
    pub fn priority(self) -> u8 {
        match self {
            Self::User => 10,
            Self::Schedule => 20,
            Self::Flex => 30,
            Self::Site => 40,
        }
    }

    /// The profiles this kind is written as.
    pub fn family(self) -> ProfileFamily {
        match self {
            Self::User | Self::Schedule => ProfileFamily::Session,
            Self::Flex | Self::Site => ProfileFamily::Station,
        }
    }
}

/// What a source limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitScope {
    /// One charger.
    Charger(ChargerId),
    /// Every charger placed at a location.
    Location(LocationId),
}

/// One party's cap on the current, stored with its own validity window.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSource {
    /// Identifier.
    pub id: LimitSourceId,
    /// The owning API client.
    pub client_id: ClientId,
    /// The owning user.
    pub user_id: UserId,
    /// Who set it.
    pub kind: LimitSourceKind,
    /// What it limits.
    pub scope: LimitScope,
    /// The cap, amperes per phase; for a source with a [`LimitSource::schedule`], the highest cap
    /// of its periods.
    pub max_current_a: f64,
    /// From when it holds; `None`: from its creation.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when it holds; `None`: until removed.
    pub valid_to: Option<DateTime<Utc>>,
    /// When it was set.
    pub created_at: DateTime<Utc>,
    /// A cap that changes over time (a smart-charging plan): the periods in order of their starts,
    /// each holding until the next starts (the last until `valid_to`). Before the first period the
    /// source limits nothing. Empty: the cap is `max_current_a` throughout.
    pub schedule: Vec<SchedulePeriod>,
}

/// One period of a time-varying limit source: from `start`, at most `max_current_a`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePeriod {
    /// When the period starts.
    pub start: DateTime<Utc>,
    /// The cap in the period, amperes per phase.
    pub max_current_a: f64,
}

/// Why a limit source cannot be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// The limit is not a number from 0 to [`MAX_LIMIT_A`].
    #[error("maxCurrent must be a number from 0 to 1000 amperes")]
    Current,
    /// The window ends before it starts.
    #[error("validTo must be later than validFrom")]
    Window,
    /// The window has already ended.
    #[error("validTo is in the past")]
    Ended,
}

impl LimitSource {
    /// Checks a new source's values: a current from 0 to [`MAX_LIMIT_A`] (rounded to the 0.1 A that
    /// OCPP carries), and a window that ends after it starts and after `now`.
    pub fn check(
        max_current_a: f64,
        valid_from: Option<DateTime<Utc>>,
        valid_to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<f64, LimitError> {
        if !max_current_a.is_finite() || !(0.0..=MAX_LIMIT_A).contains(&max_current_a) {
            return Err(LimitError::Current);
        }
        if let (Some(from), Some(to)) = (valid_from, valid_to) {
            if to <= from {
                return Err(LimitError::Window);
            }
        }
        if valid_to.is_some_and(|to| to <= now) {
            return Err(LimitError::Ended);
        }
        Ok((max_current_a * 10.0).round() / 10.0)
    }

    /// Whether its window is open at `at` (a scheduled source may still limit nothing then, before
    /// its first period: see [`LimitSource::limit_at`]).
    pub fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|from| from <= at)
            && self.valid_to.is_none_or(|to| at < to)
            && self.schedule.first().is_none_or(|first| first.start <= at)
    }

    /// Its cap at `at`, amperes; `None` when it limits nothing then.
    pub fn limit_at(&self, at: DateTime<Utc>) -> Option<f64> {
        if !self.in_force_at(at) {
            return None;
        }
        if self.schedule.is_empty() {
            return Some(self.max_current_a);
        }
        self.schedule
            .iter()
            .rev()
            .find(|p| p.start <= at)
            .map(|p| p.max_current_a)
    }

    /// The moments its cap may change: window edges and period starts.
    pub fn edges(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.valid_from
            .into_iter()
            .chain(self.valid_to)
            .chain(self.schedule.iter().map(|p| p.start))
    }

    /// Whether its window is over at `at` (it will never limit anything again).
    pub fn is_over(&self, at: DateTime<Utc>) -> bool {
        self.valid_to.is_some_and(|to| to <= at)
    }
}

/// The limit in force at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Composite {
    /// The lowest cap in force, amperes; `None`: nothing limits the charger.
    pub limit_a: Option<f64>,
    /// The source that sets it (the highest priority among equal caps).
    pub binding: Option<LimitSourceId>,
}

/// The limit in force at `at`: the lowest cap among the sources in force then.
pub fn compose(sources: &[LimitSource], at: DateTime<Utc>) -> Composite {
    let binding = sources
        .iter()
        .filter_map(|s| s.limit_at(at).map(|limit| (s, limit)))
        .min_by(|(a, la), (b, lb)| la.total_cmp(lb).then(b.kind.priority().cmp(&a.kind.priority())));
    Composite {
        limit_a: binding.map(|(_, limit)| limit),
        binding: binding.map(|(s, _)| s.id.clone()),
    }
}

/// The next moment after `after` at which the limit in force may change (a window opening or
/// closing, a scheduled period starting), so a keeper knows when to look again.
pub fn next_change(sources: &[LimitSource], after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    sources.iter().flat_map(LimitSource::edges).filter(|t| *t > after).min()
}

/// The limit in force from `from` until `until`, as the moments it changes: `(from, limit)` first,
/// then one entry per change.
pub fn timeline(
    sources: &[LimitSource],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Option<f64>)> {
    let mut points = vec![from];
    points.extend(
        sources
            .iter()
            .flat_map(LimitSource::edges)
            .filter(|t| *t > from && *t < until),
    );
    points.sort();
    points.dedup();
    let mut steps: Vec<(DateTime<Utc>, Option<f64>)> = Vec::new();
    for at in points {
        let limit = compose(sources, at).limit_a;
        if steps.last().is_none_or(|(_, last)| *last != limit) {
            steps.push((at, limit));
        }
    }
    steps
}

/// What Coupler knows about a charger's smart charging, from what it declared and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargerCapabilities {
    /// Whether it takes charging profiles; `None` until it has said.
    pub smart_charging: Option<bool>,
    /// The highest stack level it accepts (ChargeProfileMaxStackLevel / ProfileStackLevel).
    pub max_stack_level: Option<u32>,
    /// The units its schedules may use (`A`, `W`).
    pub rate_units: Vec<String>,
    /// The feature profiles a 1.6 charger declared (SupportedFeatureProfiles).
    pub feature_profiles: Vec<String>,
    /// Where this came from: `GetConfiguration`, `NotifyReport`, `GetVariables`, or
    /// `SetChargingProfile refused` when a charger refused a profile.
    pub source: String,
}

impl ChargerCapabilities {
    /// Nothing known yet.
    pub fn unknown() -> Self {
        Self {
            smart_charging: None,
            max_stack_level: None,
            rate_units: Vec::new(),
            feature_profiles: Vec::new(),
            source: "none".to_owned(),
        }
    }

    /// Whether Coupler should send it charging profiles: yes unless it said it takes none (a
    /// charger that never said is tried, and its refusal is remembered).
    pub fn takes_profiles(&self) -> bool {
        self.smart_charging != Some(false)
    }

    /// The same charger after it refused a charging profile.
    pub fn refused_profiles(&self) -> Self {
        Self {
            smart_charging: Some(false),
            source: "SetChargingProfile refused".to_owned(),
            ..self.clone()
        }
    }

    /// What an OCPP 1.6 charger declares in its configuration: SmartCharging among
    /// SupportedFeatureProfiles, ChargeProfileMaxStackLevel, ChargingScheduleAllowedChargingRateUnit.
    /// `None` when the answer names none of these keys (nothing learnt).
    pub fn from_configuration_16(entries: &[ConfigurationEntry]) -> Option<Self> {
        let value = |key: &str| {
            entries
                .iter()
                .find(|e| e.key.eq_ignore_ascii_case(key))
                .and_then(|e| e.value.clone())
        };
        let profiles = value("SupportedFeatureProfiles");
        let stack = value("ChargeProfileMaxStackLevel");
        let units = value("ChargingScheduleAllowedChargingRateUnit");
        if profiles.is_none() && stack.is_none() && units.is_none() {
            return None;
        }
        let feature_profiles: Vec<String> = profiles.as_deref().map(list).unwrap_or_default();
        let smart_charging = match &profiles {
            Some(_) => Some(feature_profiles.iter().any(|p| p.eq_ignore_ascii_case("SmartCharging"))),
            // A stack level is only reported by chargers that implement smart charging (§3.13.5).
            None => stack.as_ref().map(|_| true),
        };
        Some(Self {
            smart_charging,
            max_stack_level: stack.and_then(|s| s.trim().parse().ok()),
            rate_units: units.as_deref().map(rate_units_16).unwrap_or_default(),
            feature_profiles,
            source: "GetConfiguration".to_owned(),
        })
    }

    /// What an OCPP 2.0.1 station declares in its device model (`Component.Variable` → value):
    /// SmartChargingCtrlr.Enabled / Available, ProfileStackLevel and RateUnit. `complete` says the
    /// variables are a whole report, so a station that reports no SmartChargingCtrlr has none.
    /// `None` when nothing can be concluded.
    pub fn from_device_model_201<'a>(
        variables: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
        complete: bool,
        source: &str,
    ) -> Option<Self> {
        let value = |name: &str| {
            variables
                .clone()
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_owned())
        };
        let enabled = value("SmartChargingCtrlr.Enabled").or_else(|| value("SmartChargingCtrlr.Available"));
        let stack = value("SmartChargingCtrlr.ProfileStackLevel");
        let units = value("SmartChargingCtrlr.RateUnit");
        let smart_charging = match (&enabled, &stack) {
            (Some(flag), _) => Some(flag.trim().eq_ignore_ascii_case("true")),
            (None, Some(_)) => Some(true),
            (None, None) if complete => Some(false),
            (None, None) => return None,
        };
        Some(Self {
            smart_charging,
            max_stack_level: stack.and_then(|s| s.trim().parse().ok()),
            rate_units: units.as_deref().map(list).unwrap_or_default(),
            feature_profiles: Vec::new(),
            source: source.to_owned(),
        })
    }
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// 1.6 writes units as `Current` and `Power`; Coupler shows them as `A` and `W`.
fn rate_units_16(raw: &str) -> Vec<String> {
    list(raw)
        .into_iter()
        .map(|u| match u.to_ascii_lowercase().as_str() {
            "current" => "A".to_owned(),
            "power" => "W".to_owned(),
            _ => u,
        })
        .collect()
}

/// The running transaction a session-family source also limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningTransaction {
    /// The connector (2.0.1: EVSE) it runs on.
    pub connector_id: u32,
    /// Coupler's transaction id.
    pub transaction_id: i64,
}

/// One profile to install: the source it carries, the connector, the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedProfile {
    /// The source.
    pub source_id: LimitSourceId,
    /// The connector (0: the station).
    pub connector_id: u32,
    /// The profile.
    pub limit: ChargingLimit,
}

/// Stack levels Coupler uses when the charger did not say how many it takes (OCPP asks chargers
/// to take at least a few; the simulated and common chargers take 8 or more).
pub const DEFAULT_MAX_STACK_LEVEL: u32 = 8;

/// The profiles that put `sources` on a charger at `at`: every source whose window has not ended,
/// written as its kind's purpose with an absolute schedule and the source's window as validFrom /
/// validTo. Within a purpose the stricter source gets the higher stack level (from 1), so the
/// charger's own rule, highest valid stack level wins, keeps the lowest limit in force as windows
/// open and close. A source with a time-varying [`LimitSource::schedule`] takes the top level of its
/// purpose, its periods capped by the purpose's other sources (see the module's notes). When there
/// are more sources than stack levels, the strictest are kept. A scheduled source is one profile:
/// the TxProfile while a transaction runs, the TxDefaultProfile before one. Transaction profiles
/// come first, then defaults, then the station's.
pub fn plan_profiles(
    sources: &[LimitSource],
    at: DateTime<Utc>,
    transaction: Option<RunningTransaction>,
    max_stack_level: Option<u32>,
) -> Vec<PlannedProfile> {
    let levels = max_stack_level.unwrap_or(DEFAULT_MAX_STACK_LEVEL).clamp(1, 100) as usize;
    let ranked = |family: ProfileFamily| -> Vec<&LimitSource> {
        let mut of_family: Vec<&LimitSource> = sources
            .iter()
            .filter(|s| s.kind.family() == family && !s.is_over(at))
            .collect();
        // Scheduled sources first (they are capped by the others already), then the strictest;
        // among equals the higher priority, then the older, for a stable order.
        of_family.sort_by(|a, b| {
            a.schedule
                .is_empty()
                .cmp(&b.schedule.is_empty())
                .then(a.max_current_a.total_cmp(&b.max_current_a))
                .then(b.kind.priority().cmp(&a.kind.priority()))
                .then(a.created_at.cmp(&b.created_at))
                .then(a.id.cmp(&b.id))
        });
        of_family.truncate(levels);
        of_family
    };
    let profile = |source: &LimitSource, purpose: LimitPurpose, base: i32, level: i32| {
        let (start, periods) = schedule_of(source, sources);
        ChargingLimit {
            profile_id: base + level,
            purpose,
            stack_level: level,
            transaction_id: None,
            unit: RateUnit::Amperes,
            periods,
            start: Some(start),
            valid_from: source.valid_from,
            valid_to: source.valid_to,
        }
    };
    let session = ranked(ProfileFamily::Session);
    let station = ranked(ProfileFamily::Station);
    // The strictest gets the highest level: level = count - rank.
    let level_of = |count: usize, rank: usize| i32::try_from(count - rank).unwrap_or(i32::MAX);
    let mut planned = Vec::new();
    if let Some(tx) = transaction {
        for (rank, source) in session.iter().enumerate() {
            let mut limit = profile(
                source,
                LimitPurpose::Transaction,
                TX_PROFILE_BASE,
                level_of(session.len(), rank),
            );
            limit.transaction_id = Some(tx.transaction_id);
            planned.push(PlannedProfile {
                source_id: source.id.clone(),
                connector_id: tx.connector_id,
                limit,
            });
        }
    }
    for (rank, source) in session.iter().enumerate() {
        // A plan is one profile: the transaction's while one runs (the charger drops it when the
        // transaction ends, so the next car is not held to it), the default one before.
        if transaction.is_some() && !source.schedule.is_empty() {
            continue;
        }
        planned.push(PlannedProfile {
            source_id: source.id.clone(),
            connector_id: 0,
            limit: profile(
                source,
                LimitPurpose::TransactionDefault,
                TX_DEFAULT_PROFILE_BASE,
                level_of(session.len(), rank),
            ),
        });
    }
    for (rank, source) in station.iter().enumerate() {
        planned.push(PlannedProfile {
            source_id: source.id.clone(),
            connector_id: 0,
            limit: profile(
                source,
                LimitPurpose::StationMax,
                STATION_MAX_PROFILE_BASE,
                level_of(station.len(), rank),
            ),
        });
    }
    planned
}

/// The absolute start and the periods of `source`'s profile. A constant source is one period from
/// its window's start (or its creation). A scheduled source starts at its first period, and each
/// period is capped by the other sources of its family in force then (split where their windows
/// open or close), so the one profile the charger follows is never looser than any of them.
fn schedule_of(source: &LimitSource, sources: &[LimitSource]) -> (DateTime<Utc>, Vec<LimitPeriod>) {
    let Some(first) = source.schedule.first() else {
        return (
            source.valid_from.unwrap_or(source.created_at),
            vec![LimitPeriod {
                start_offset_s: 0,
                limit: source.max_current_a,
                phases: None,
            }],
        );
    };
    let start = first.start;
    let end = source.valid_to;
    let others: Vec<LimitSource> = sources
        .iter()
        .filter(|s| s.id != source.id && s.kind.family() == source.kind.family() && s.schedule.is_empty())
        .cloned()
        .collect();
    let mut points: Vec<DateTime<Utc>> = source.schedule.iter().map(|p| p.start).collect();
    points.extend(
        others
            .iter()
            .flat_map(LimitSource::edges)
            .filter(|t| *t > start && end.is_none_or(|end| *t < end)),
    );
    points.sort();
    points.dedup();
    let mut periods: Vec<LimitPeriod> = Vec::new();
    for at in points {
        let own = source
            .schedule
            .iter()
            .rev()
            .find(|p| p.start <= at)
            .map_or(source.max_current_a, |p| p.max_current_a);
        let limit = match compose(&others, at).limit_a {
            Some(cap) => own.min(cap),
            None => own,
        };
        let limit = (limit * 10.0).round() / 10.0;
        if periods.last().is_some_and(|last| (last.limit - limit).abs() < 0.05) {
            continue;
        }
        periods.push(LimitPeriod {
            start_offset_s: u32::try_from((at - start).num_seconds()).unwrap_or(u32::MAX),
            limit,
            phases: None,
        });
    }
    (start, periods)
}

/// Profile ids installed before that a new plan no longer has: each is removed with
/// ClearChargingProfile.
pub fn profiles_to_clear(installed: &[i32], planned: &[PlannedProfile]) -> Vec<i32> {
    let mut stale: Vec<i32> = installed
        .iter()
        .copied()
        .filter(|id| !planned.iter().any(|p| p.limit.profile_id == *id))
        .collect();
    stale.sort_unstable();
    stale.dedup();
    stale
}

/// What Coupler last did to put a charger's limits on it, kept so a restart knows which profiles to
/// clear and whether it stopped charging for an on/off limit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChargerLimitState {
    /// The profile ids Coupler installed and has not cleared.
    pub installed_profiles: Vec<i32>,
    /// Whether Coupler stopped charging because the limit in force was too low for a charger that
    /// takes no profiles (so it may start it again when the limit lifts).
    pub held_off: bool,
    /// When the limits were last applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// The limit the charger's composite schedule showed at the last check, amperes.
    pub verified_limit_a: Option<f64>,
    /// When that check was made.
    pub verified_at: Option<DateTime<Utc>>,
    /// What went wrong at the last application, when something did.
    pub last_error: Option<String>,
}

/// What a charger without smart charging is told: charge or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOff {
    /// Charging may run (no limit, or one it can charge under).
    On,
    /// Charging must stop: the limit in force is below [`MIN_CHARGING_CURRENT_A`].
    Off,
}

impl OnOff {
    /// On or off for the limit in force.
    pub fn for_limit(limit_a: Option<f64>) -> Self {
        match limit_a {
            Some(limit) if limit < MIN_CHARGING_CURRENT_A => Self::Off,
            _ => Self::On,
        }
    }
}

/// What a maker is asked to do to keep a vehicle that charges without a Coupler charger within
/// the limit in force at its location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MakerCommand {
    /// Set the vehicle's charging current to this many amperes.
    SetMaxCurrent(u32),
    /// Stop charging: the limit is below what an EV charges with.
    Stop,
}

/// The maker command that brings a vehicle within `limit_a`, given the current it reports
/// (`reported_max_a`) and whether it charges; `None` when it already is (or nothing limits it).
/// Makers take whole amperes, so the limit is rounded down.
pub fn maker_command(limit_a: Option<f64>, reported_max_a: Option<f64>, is_charging: bool) -> Option<MakerCommand> {
    let limit = limit_a?;
    if limit < MIN_CHARGING_CURRENT_A {
        return is_charging.then_some(MakerCommand::Stop);
    }
    // Checked to be at most MAX_LIMIT_A, so it fits.
    let amps = limit.floor() as u32;
    let above = reported_max_a.is_none_or(|reported| reported > f64::from(amps) + 0.5);
    above.then_some(MakerCommand::SetMaxCurrent(amps))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn source(id: &str, kind: LimitSourceKind, amps: f64, from: Option<i64>, to: Option<i64>) -> LimitSource {
        LimitSource {
            id: LimitSourceId::new(id),
            client_id: ClientId::new("c"),
            user_id: UserId::parse("u").unwrap(),
            kind,
            scope: LimitScope::Charger(ChargerId::new("ch")),
            max_current_a: amps,
            valid_from: from.map(at),
            valid_to: to.map(at),
            created_at: at(-60),
            schedule: Vec::new(),
        }
    }

    #[test]
    fn the_lowest_source_in_force_sets_the_limit() {
        let sources = [
            source("user", LimitSourceKind::User, 16.0, None, None),
            source("site", LimitSourceKind::Site, 10.0, None, Some(30)),
        ];
        let now = compose(&sources, at(0));
        assert_eq!(now.limit_a, Some(10.0));
        assert_eq!(now.binding, Some(LimitSourceId::new("site")));
        let later = compose(&sources, at(30));
        assert_eq!(later.limit_a, Some(16.0), "the site's window ended at 30");
        assert_eq!(compose(&[], at(0)).limit_a, None);
    }

    #[test]
    fn a_source_whose_window_has_not_opened_limits_nothing_yet() {
        let sources = [source("site", LimitSourceKind::Site, 8.0, Some(10), Some(20))];
        assert_eq!(compose(&sources, at(5)).limit_a, None);
        assert_eq!(compose(&sources, at(10)).limit_a, Some(8.0));
        assert_eq!(next_change(&sources, at(5)), Some(at(10)));
        assert_eq!(next_change(&sources, at(10)), Some(at(20)));
        assert_eq!(next_change(&sources, at(20)), None);
    }

    #[test]
    fn equal_caps_name_the_higher_priority_source() {
        let sources = [
            source("user", LimitSourceKind::User, 10.0, None, None),
            source("site", LimitSourceKind::Site, 10.0, None, None),
        ];
        assert_eq!(compose(&sources, at(0)).binding, Some(LimitSourceId::new("site")));
    }

    #[test]
    fn the_timeline_shows_each_change_of_the_limit_in_force() {
        let sources = [
            source("user", LimitSourceKind::User, 16.0, None, None),
            source("site", LimitSourceKind::Site, 10.0, Some(10), Some(30)),
        ];
        assert_eq!(
            timeline(&sources, at(0), at(60)),
            vec![(at(0), Some(16.0)), (at(10), Some(10.0)), (at(30), Some(16.0))]
        );
    }

    #[test]
    fn each_kind_becomes_its_own_purpose_with_its_window() {
        let sources = [
            source("user", LimitSourceKind::User, 16.0, None, None),
            source("site", LimitSourceKind::Site, 10.0, None, Some(30)),
        ];
        let plan = plan_profiles(&sources, at(0), None, Some(10));
        assert_eq!(plan.len(), 2);
        let user = &plan[0];
        assert_eq!(user.limit.purpose, LimitPurpose::TransactionDefault);
        assert_eq!(user.connector_id, 0);
        assert_eq!(user.limit.valid_to, None);
        let site = &plan[1];
        assert_eq!(site.limit.purpose, LimitPurpose::StationMax);
        assert_eq!(site.limit.valid_to, Some(at(30)));
        assert_eq!(
            site.limit.start,
            Some(at(-60)),
            "an absolute schedule starting in the past"
        );
        assert_ne!(user.limit.profile_id, site.limit.profile_id);
    }

    #[test]
    fn a_running_transaction_gets_its_own_profile_first() {
        let sources = [source("user", LimitSourceKind::User, 16.0, None, None)];
        let tx = RunningTransaction {
            connector_id: 2,
            transaction_id: 77,
        };
        let plan = plan_profiles(&sources, at(0), Some(tx), None);
        assert_eq!(plan[0].limit.purpose, LimitPurpose::Transaction);
        assert_eq!(plan[0].limit.transaction_id, Some(77));
        assert_eq!(plan[0].connector_id, 2);
        assert_eq!(plan[1].limit.purpose, LimitPurpose::TransactionDefault);
    }

    #[test]
    fn within_a_purpose_the_stricter_source_gets_the_higher_stack_level() {
        // Two site caps: the stricter one ends first; the charger must fall back to the looser one
        // by itself, which "highest valid stack level wins" does when the stricter is higher.
        let sources = [
            source("loose", LimitSourceKind::Site, 20.0, None, None),
            source("strict", LimitSourceKind::Site, 8.0, None, Some(30)),
        ];
        let plan = plan_profiles(&sources, at(0), None, None);
        let level = |id: &str| {
            plan.iter()
                .find(|p| p.source_id.as_str() == id)
                .unwrap()
                .limit
                .stack_level
        };
        assert!(level("strict") > level("loose"));
        assert!(level("loose") >= 1);
    }

    #[test]
    fn ended_sources_are_not_planned_and_their_profiles_are_cleared() {
        let sources = [
            source("user", LimitSourceKind::User, 16.0, None, None),
            source("site", LimitSourceKind::Site, 10.0, None, Some(30)),
        ];
        let before = plan_profiles(&sources, at(0), None, None);
        let after = plan_profiles(&sources, at(31), None, None);
        assert_eq!(after.len(), 1);
        let installed: Vec<i32> = before.iter().map(|p| p.limit.profile_id).collect();
        assert_eq!(profiles_to_clear(&installed, &after), vec![before[1].limit.profile_id]);
    }

    #[test]
    fn more_sources_than_stack_levels_keep_the_strictest() {
        let sources = [
            source("a", LimitSourceKind::Site, 20.0, None, None),
            source("b", LimitSourceKind::Site, 10.0, None, None),
            source("c", LimitSourceKind::Site, 15.0, None, None),
        ];
        let plan = plan_profiles(&sources, at(0), None, Some(2));
        let ids: Vec<&str> = plan.iter().map(|p| p.source_id.as_str()).collect();
        assert_eq!(ids, vec!["b", "c"]);
    }

    /// A plan: 0 A from 0 to 30, 16 A from 30 to 60, 8 A from 60 to 90 (its window's end).
    fn plan(id: &str) -> LimitSource {
        LimitSource {
            schedule: vec![
                SchedulePeriod {
                    start: at(0),
                    max_current_a: 0.0,
                },
                SchedulePeriod {
                    start: at(30),
                    max_current_a: 16.0,
                },
                SchedulePeriod {
                    start: at(60),
                    max_current_a: 8.0,
                },
            ],
            ..source(id, LimitSourceKind::Schedule, 16.0, Some(0), Some(90))
        }
    }

    #[test]
    fn a_scheduled_source_caps_by_its_period_and_its_periods_are_changes() {
        let sources = [source("user", LimitSourceKind::User, 10.0, None, None), plan("plan")];
        assert_eq!(compose(&sources, at(-1)).limit_a, Some(10.0), "before the plan");
        assert_eq!(compose(&sources, at(10)).limit_a, Some(0.0));
        assert_eq!(compose(&sources, at(10)).binding, Some(LimitSourceId::new("plan")));
        assert_eq!(
            compose(&sources, at(45)).limit_a,
            Some(10.0),
            "the user's is lower then"
        );
        assert_eq!(compose(&sources, at(70)).limit_a, Some(8.0));
        assert_eq!(compose(&sources, at(90)).limit_a, Some(10.0), "the plan's window ended");
        assert_eq!(next_change(&sources, at(10)), Some(at(30)));
        assert_eq!(
            timeline(&sources, at(-10), at(120)),
            vec![
                (at(-10), Some(10.0)),
                (at(0), Some(0.0)),
                (at(30), Some(10.0)),
                (at(60), Some(8.0)),
                (at(90), Some(10.0))
            ]
        );
    }

    #[test]
    fn a_plan_takes_the_top_stack_level_of_the_session_profiles_capped_by_the_users_limit() {
        // The user's 10 A is stricter than the plan's 16 A, yet the plan must be what the charger
        // follows (highest valid stack level wins): so it is on top, its 16 A written as 10 A.
        let sources = [source("user", LimitSourceKind::User, 10.0, None, None), plan("plan")];
        let tx = RunningTransaction {
            connector_id: 1,
            transaction_id: 5,
        };
        let planned = plan_profiles(&sources, at(0), Some(tx), None);
        let of = |id: &str, purpose: LimitPurpose| {
            planned
                .iter()
                .find(|p| p.source_id.as_str() == id && p.limit.purpose == purpose)
                .unwrap()
                .limit
                .clone()
        };
        let plan_tx = of("plan", LimitPurpose::Transaction);
        let user_tx = of("user", LimitPurpose::Transaction);
        assert!(plan_tx.stack_level > user_tx.stack_level);
        assert_eq!(plan_tx.transaction_id, Some(5));
        assert_eq!(plan_tx.start, Some(at(0)), "an absolute schedule from the first period");
        assert_eq!(
            plan_tx.valid_to,
            Some(at(90)),
            "it ends by itself; the user's holds after"
        );
        let steps: Vec<(u32, f64)> = plan_tx.periods.iter().map(|p| (p.start_offset_s, p.limit)).collect();
        assert_eq!(steps, vec![(0, 0.0), (1800, 10.0), (3600, 8.0)]);
        let plan_profiles_count = planned.iter().filter(|p| p.source_id.as_str() == "plan").count();
        assert_eq!(plan_profiles_count, 1, "one profile: the transaction's while one runs");
        let before = plan_profiles(&sources, at(0), None, None);
        let default = before.iter().find(|p| p.source_id.as_str() == "plan").unwrap();
        assert_eq!(
            default.limit.purpose,
            LimitPurpose::TransactionDefault,
            "the default before one"
        );
        assert!(default.limit.stack_level > of("user", LimitPurpose::TransactionDefault).stack_level);
    }

    #[test]
    fn a_plan_s_periods_split_where_a_user_limit_s_window_opens() {
        let sources = [source("user", LimitSourceKind::User, 6.0, Some(45), None), plan("plan")];
        let planned = plan_profiles(&sources, at(0), None, None);
        let plan_default = &planned.iter().find(|p| p.source_id.as_str() == "plan").unwrap().limit;
        let steps: Vec<(u32, f64)> = plan_default
            .periods
            .iter()
            .map(|p| (p.start_offset_s, p.limit))
            .collect();
        assert_eq!(steps, vec![(0, 0.0), (1800, 16.0), (2700, 6.0)]);
    }

    #[test]
    fn a_limit_below_six_amperes_means_off_for_a_charger_without_profiles() {
        assert_eq!(OnOff::for_limit(Some(0.0)), OnOff::Off);
        assert_eq!(OnOff::for_limit(Some(5.9)), OnOff::Off);
        assert_eq!(OnOff::for_limit(Some(6.0)), OnOff::On);
        assert_eq!(OnOff::for_limit(None), OnOff::On);
    }

    #[test]
    fn bad_values_and_windows_are_refused() {
        assert_eq!(LimitSource::check(-1.0, None, None, at(0)), Err(LimitError::Current));
        assert_eq!(
            LimitSource::check(f64::NAN, None, None, at(0)),
            Err(LimitError::Current)
        );
        assert_eq!(
            LimitSource::check(10.0, Some(at(5)), Some(at(5)), at(0)),
            Err(LimitError::Window)
        );
        assert_eq!(
            LimitSource::check(10.0, None, Some(at(-1)), at(0)),
            Err(LimitError::Ended)
        );
        assert_eq!(LimitSource::check(10.04, None, None, at(0)), Ok(10.0));
    }

    fn entry(key: &str, value: &str) -> ConfigurationEntry {
        ConfigurationEntry {
            key: key.into(),
            value: Some(value.into()),
            readonly: true,
        }
    }

    #[test]
    fn a_1_6_charger_without_the_smart_charging_profile_takes_no_profiles() {
        let caps =
            ChargerCapabilities::from_configuration_16(&[entry("SupportedFeatureProfiles", "Core,RemoteTrigger")])
                .unwrap();
        assert_eq!(caps.smart_charging, Some(false));
        assert!(!caps.takes_profiles());
    }

    #[test]
    fn a_1_6_charger_declares_its_stack_levels_and_units() {
        let caps = ChargerCapabilities::from_configuration_16(&[
            entry("SupportedFeatureProfiles", "Core, SmartCharging"),
            entry("ChargeProfileMaxStackLevel", "5"),
            entry("ChargingScheduleAllowedChargingRateUnit", "Current,Power"),
        ])
        .unwrap();
        assert_eq!(caps.smart_charging, Some(true));
        assert_eq!(caps.max_stack_level, Some(5));
        assert_eq!(caps.rate_units, vec!["A", "W"]);
        assert_eq!(
            ChargerCapabilities::from_configuration_16(&[entry("HeartbeatInterval", "60")]),
            None
        );
    }

    #[test]
    fn a_2_0_1_station_declares_smart_charging_in_its_device_model() {
        let enabled = [
            ("SmartChargingCtrlr.Enabled", "true"),
            ("SmartChargingCtrlr.ProfileStackLevel", "3"),
        ];
        let caps = ChargerCapabilities::from_device_model_201(enabled, false, "NotifyReport").unwrap();
        assert_eq!((caps.smart_charging, caps.max_stack_level), (Some(true), Some(3)));
        let disabled = [("SmartChargingCtrlr.Enabled", "false")];
        let caps = ChargerCapabilities::from_device_model_201(disabled, false, "NotifyReport").unwrap();
        assert_eq!(caps.smart_charging, Some(false));
        let without = [("OCPPCommCtrlr.HeartbeatInterval", "60")];
        assert_eq!(
            ChargerCapabilities::from_device_model_201(without, true, "NotifyReport")
                .unwrap()
                .smart_charging,
            Some(false),
            "a whole report without SmartChargingCtrlr"
        );
        assert_eq!(
            ChargerCapabilities::from_device_model_201(without, false, "GetVariables"),
            None
        );
    }

    #[test]
    fn a_charger_that_never_said_is_tried_until_it_refuses() {
        let unknown = ChargerCapabilities::unknown();
        assert!(unknown.takes_profiles());
        assert!(!unknown.refused_profiles().takes_profiles());
    }

    #[test]
    fn a_vehicle_above_its_locations_limit_is_asked_to_draw_less_or_to_stop() {
        assert_eq!(maker_command(None, Some(32.0), true), None);
        assert_eq!(
            maker_command(Some(10.6), Some(32.0), true),
            Some(MakerCommand::SetMaxCurrent(10))
        );
        assert_eq!(
            maker_command(Some(10.0), None, false),
            Some(MakerCommand::SetMaxCurrent(10))
        );
        assert_eq!(maker_command(Some(10.0), Some(10.0), true), None);
        assert_eq!(maker_command(Some(10.0), Some(8.0), true), None, "already below");
        assert_eq!(maker_command(Some(0.0), Some(16.0), true), Some(MakerCommand::Stop));
        assert_eq!(maker_command(Some(0.0), Some(16.0), false), None);
    }
}
