//! Flexibility programs: a utility's (an API client's) program, the devices its users enrol in it,
//! groups of enrolments to aim at, and events that cap or pause charging for a window.
//!
//! Everything here is pure: which devices a program takes and why not ([`check_eligibility`]), how
//! an enrolment's status moves ([`EnrolmentState::apply`]), whether an event keeps to its program's
//! limits ([`check_event`]), each target's randomised start delay ([`start_delay_s`]) and the cap in
//! amperes an import limit in kilowatts means ([`import_limit_amps`]). The engine carries an event
//! out as one `flex` limit source per charger (a station-wide profile with the event's window, so
//! the charger ends it by itself) and as maker commands for vehicles without a charger.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::charger::ChargerId;
use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::limits::LimitSourceId;
use crate::location::Point;
use crate::user::UserId;
use crate::vehicle::VehicleId;
use crate::ActionId;

time_ordered_id!(
    /// Identifies a flexibility program.
    ProgramId
);
time_ordered_id!(
    /// Identifies an enrolment of a device in a program.
    EnrolmentId
);
time_ordered_id!(
    /// Identifies a group of enrolments.
    GroupId
);
time_ordered_id!(
    /// Identifies a flexibility event.
    FlexEventId
);
time_ordered_id!(
    /// Identifies one enrolment's part in one event.
    FlexTargetId
);

/// The longest randomised start delay an event may ask for, seconds (the UK Smart Charge Points
/// Regulations require chargers to be capable of 1800 s).
pub const MAX_RANDOM_DELAY_S: u32 = 1800;
/// The longest event Coupler takes, whatever the program allows: a week.
pub const MAX_EVENT_MINUTES: u32 = 7 * 24 * 60;

/// What a program asks of the devices in it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProgramKind {
    /// A cap on each site's import (kW or A) during events.
    CapacityLimit,
    /// A reduction against each site's baseline during events.
    Shed,
    /// No charging during events.
    Pause,
}

impl ProgramKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::CapacityLimit, Self::Shed, Self::Pause];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CapacityLimit => "CAPACITY_LIMIT",
            Self::Shed => "SHED",
            Self::Pause => "PAUSE",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The kind of event a program of this kind sends.
    pub fn event_kind(self) -> EventKind {
        match self {
            Self::CapacityLimit => EventKind::ImportLimit,
            Self::Shed => EventKind::Shed,
            Self::Pause => EventKind::Pause,
        }
    }
}

/// The kinds of device a user enrols.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlexDeviceKind {
    /// A charger connected to Coupler over OCPP.
    Charger,
    /// A vehicle reached through its maker.
    Vehicle,
    /// A vehicle and a charger of one user, as one.
    EvSystem,
}

impl FlexDeviceKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Charger, Self::Vehicle, Self::EvSystem];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charger => "CHARGER",
            Self::Vehicle => "VEHICLE",
            Self::EvSystem => "EV_SYSTEM",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// What a device must be able to do to take part.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlexCapability {
    /// The charger takes OCPP charging profiles, so a cap holds on it without Coupler.
    SmartChargingProfiles,
    /// Charging can be started and stopped.
    StartStop,
    /// The charging current can be set.
    SetMaxCurrent,
}

impl FlexCapability {
    /// Every capability.
    pub const ALL: [Self; 3] = [Self::SmartChargingProfiles, Self::StartStop, Self::SetMaxCurrent];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SmartChargingProfiles => "SMART_CHARGING_PROFILES",
            Self::StartStop => "START_STOP",
            Self::SetMaxCurrent => "SET_MAX_CURRENT",
        }
    }
}

/// A circle of the service area.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AreaCircle {
    /// Degrees north of its centre.
    pub latitude: f64,
    /// Degrees east of its centre.
    pub longitude: f64,
    /// Its radius, kilometres.
    pub radius_km: f64,
}

impl AreaCircle {
    /// Whether `point` lies in it.
    pub fn contains(&self, point: Point) -> bool {
        let centre = Point {
            latitude: self.latitude,
            longitude: self.longitude,
        };
        centre.distance_m(point) <= self.radius_km * 1000.0
    }
}

/// Which devices a program takes, as data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EligibilityRules {
    /// The kinds of device it takes.
    pub device_kinds: Vec<FlexDeviceKind>,
    /// What each device must be able to do.
    #[serde(default)]
    pub required_capabilities: Vec<FlexCapability>,
    /// Where devices must be (any of the circles); empty: anywhere.
    #[serde(default)]
    pub service_area: Vec<AreaCircle>,
}

/// How often and how long a program may call events, and how far ahead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProgramLimits {
    /// The most events starting in one calendar year (UTC); `None`: no limit.
    pub max_events_per_year: Option<u32>,
    /// The longest event, minutes.
    pub max_event_minutes: u32,
    /// The least notice an event is sent with, minutes (0: at once).
    pub min_notice_minutes: u32,
}

/// A flexibility program, owned by an API client (the utility or aggregator).
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Identifier.
    pub id: ProgramId,
    /// The owning client.
    pub client_id: ClientId,
    /// What people call it.
    pub name: String,
    /// What it asks of devices.
    pub kind: ProgramKind,
    /// Which devices it takes.
    pub eligibility: EligibilityRules,
    /// Its limits on events.
    pub limits: ProgramLimits,
    /// What participants get, as the program words it (free-form JSON).
    pub incentive: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Why a program's fields are refused: the JSON Pointer of the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Where, as a JSON Pointer into the request body.
    pub pointer: String,
    /// What is wrong.
    pub detail: String,
}

fn problem(pointer: impl Into<String>, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        pointer: pointer.into(),
        detail: detail.into(),
    }
}

impl Program {
    /// Checks a program's name, rules and limits; every problem found, each naming its field.
    pub fn check(name: &str, eligibility: &EligibilityRules, limits: &ProgramLimits) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let trimmed = name.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control) {
            problems.push(problem("/name", "name must be 1 to 200 characters and not blank"));
        }
        if eligibility.device_kinds.is_empty() {
            problems.push(problem(
                "/eligibility/deviceKinds",
                "name at least one kind of device the program takes",
            ));
        }
        for (i, circle) in eligibility.service_area.iter().enumerate() {
            if !circle.latitude.is_finite() || !(-90.0..=90.0).contains(&circle.latitude) {
                problems.push(problem(
                    format!("/eligibility/serviceArea/{i}/latitude"),
                    "latitude must be a number from -90 to 90",
                ));
            }
            if !circle.longitude.is_finite() || !(-180.0..=180.0).contains(&circle.longitude) {
                problems.push(problem(
                    format!("/eligibility/serviceArea/{i}/longitude"),
                    "longitude must be a number from -180 to 180",
                ));
            }
            if !(circle.radius_km.is_finite() && circle.radius_km > 0.0 && circle.radius_km <= 20_000.0) {
                problems.push(problem(
                    format!("/eligibility/serviceArea/{i}/radiusKm"),
                    "radiusKm must be above 0 and at most 20000",
                ));
            }
        }
        if limits.max_event_minutes == 0 || limits.max_event_minutes > MAX_EVENT_MINUTES {
            problems.push(problem(
                "/limits/maxEventMinutes",
                format!("maxEventMinutes must be from 1 to {MAX_EVENT_MINUTES}"),
            ));
        }
        if limits.min_notice_minutes > 60 * 24 * 30 {
            problems.push(problem(
                "/limits/minNoticeMinutes",
                "minNoticeMinutes must be at most 43200 (30 days)",
            ));
        }
        if limits.max_events_per_year == Some(0) {
            problems.push(problem(
                "/limits/maxEventsPerYear",
                "maxEventsPerYear must be at least 1 (omit it for no limit)",
            ));
        }
        problems
    }
}

/// What is known about a device when its eligibility is checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceFacts {
    /// Whether the charger takes charging profiles (`None`: it has not said yet).
    pub smart_charging_profiles: Option<bool>,
    /// Whether charging can be started and stopped.
    pub start_stop: Option<bool>,
    /// Whether the charging current can be set.
    pub set_max_current: Option<bool>,
    /// Where the device is: its charger's location, or the vehicle's last position.
    pub position: Option<Point>,
}

impl DeviceFacts {
    fn capability(&self, capability: FlexCapability) -> Option<bool> {
        match capability {
            FlexCapability::SmartChargingProfiles => self.smart_charging_profiles,
            FlexCapability::StartStop => self.start_stop,
            FlexCapability::SetMaxCurrent => self.set_max_current,
        }
    }
}

/// Why a device is not (or not yet) eligible.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    /// The program does not take this kind of device.
    DeviceKindNotEligible,
    /// The device cannot do something the program needs.
    CapabilityMissing,
    /// The device has not said yet whether it can do something the program needs.
    CapabilityUnknown,
    /// The device is outside the program's service area.
    OutsideServiceArea,
    /// Where the device is is not known, and the program has a service area.
    LocationUnknown,
    /// The device is already enrolled in the program.
    AlreadyEnrolled,
    /// The enrolled device no longer exists (its charger or vehicle was removed).
    DeviceGone,
}

/// One reason, as a code and in words.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The code.
    pub code: ReasonCode,
    /// In words.
    pub detail: String,
}

/// What an eligibility check concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The device qualifies.
    Eligible,
    /// The device does not qualify, for these reasons.
    Ineligible(Vec<Reason>),
    /// Nothing rules the device out, but something it must be able to do is not known yet.
    Undecided(Vec<Reason>),
}

impl Verdict {
    /// The reasons, empty when eligible.
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Self::Eligible => &[],
            Self::Ineligible(reasons) | Self::Undecided(reasons) => reasons,
        }
    }

    /// The reasons in words, joined.
    pub fn summary(&self) -> Option<String> {
        let reasons = self.reasons();
        (!reasons.is_empty()).then(|| reasons.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>().join("; "))
    }
}

/// The verdict on an enrolment whose device no longer exists.
pub fn device_gone() -> Verdict {
    Verdict::Ineligible(vec![Reason {
        code: ReasonCode::DeviceGone,
        detail: "the enrolled device no longer exists".to_owned(),
    }])
}

/// Whether a device of `kind`, with `facts`, qualifies for a program with `rules`; every reason
/// against it, not just the first. `already_enrolled`: it has an enrolment in the program that has
/// not ended.
pub fn check_eligibility(
    rules: &EligibilityRules,
    kind: FlexDeviceKind,
    facts: &DeviceFacts,
    already_enrolled: bool,
) -> Verdict {
    let mut against = Vec::new();
    let mut unknown = Vec::new();
    if already_enrolled {
        against.push(Reason {
            code: ReasonCode::AlreadyEnrolled,
            detail: "the device is already enrolled in this program".to_owned(),
        });
    }
    if !rules.device_kinds.contains(&kind) {
        let taken: Vec<&str> = rules.device_kinds.iter().map(|k| k.as_str()).collect();
        against.push(Reason {
            code: ReasonCode::DeviceKindNotEligible,
            detail: format!(
                "the program takes {} devices, not {}",
                taken.join(" or "),
                kind.as_str()
            ),
        });
    }
    for capability in &rules.required_capabilities {
        match facts.capability(*capability) {
            Some(true) => {}
            Some(false) => against.push(Reason {
                code: ReasonCode::CapabilityMissing,
                detail: format!("the device lacks {}", capability.as_str()),
            }),
            None => unknown.push(Reason {
                code: ReasonCode::CapabilityUnknown,
                detail: format!("the device has not said yet whether it has {}", capability.as_str()),
            }),
        }
    }
    if !rules.service_area.is_empty() {
        match facts.position {
            Some(point) if rules.service_area.iter().any(|c| c.contains(point)) => {}
            Some(_) => against.push(Reason {
                code: ReasonCode::OutsideServiceArea,
                detail: "the device is outside the program's service area".to_owned(),
            }),
            None => against.push(Reason {
                code: ReasonCode::LocationUnknown,
                detail: "where the device is is not known (place its charger at a location, or let the vehicle report its position)"
                    .to_owned(),
            }),
        }
    }
    if !against.is_empty() {
        against.extend(unknown);
        Verdict::Ineligible(against)
    } else if !unknown.is_empty() {
        Verdict::Undecided(unknown)
    } else {
        Verdict::Eligible
    }
}

/// Where an enrolment stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnrolmentStatus {
    /// Enrolled, but whether the device qualifies is not known yet (its charger has not said
    /// what it can do).
    Pending,
    /// Takes part in events.
    Active,
    /// Took part, but no longer qualifies until the user does something (the reason says what).
    NeedsAction,
    /// Left out of events until resumed.
    Paused,
    /// Left the program (final).
    Unenrolled,
    /// Turned out not to qualify (final).
    Rejected,
}

impl EnrolmentStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Active,
        Self::NeedsAction,
        Self::Paused,
        Self::Unenrolled,
        Self::Rejected,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::NeedsAction => "NEEDS_ACTION",
            Self::Paused => "PAUSED",
            Self::Unenrolled => "UNENROLLED",
            Self::Rejected => "REJECTED",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the enrolment has ended for good.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Unenrolled | Self::Rejected)
    }
}

/// An enrolment's status with the reason for it, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentState {
    /// The status.
    pub status: EnrolmentStatus,
    /// Why (for PENDING, NEEDS_ACTION and REJECTED: what is missing).
    pub reason: Option<String>,
}

/// What happens to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolmentChange {
    /// Its device's eligibility was checked again.
    Checked(Verdict),
    /// The program or the user leaves it out of events for now.
    Pause,
    /// It takes part again (after a check).
    Resume,
    /// The user leaves the program.
    Unenrol,
}

/// Why a change cannot happen to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The enrolment has ended.
    #[error("the enrolment is {}; it can no longer change", .0.as_str())]
    Ended(EnrolmentStatus),
    /// Only a paused enrolment can be resumed.
    #[error("the enrolment is {}, not PAUSED", .0.as_str())]
    NotPaused(EnrolmentStatus),
}

impl EnrolmentState {
    /// A new enrolment, from its device's first check: ACTIVE when it qualifies, PENDING while
    /// something is unknown, REJECTED when it does not qualify.
    pub fn enrolled(verdict: &Verdict) -> Self {
        let pending = Self {
            status: EnrolmentStatus::Pending,
            reason: None,
        };
        // A pending enrolment accepts every check.
        pending
            .apply(EnrolmentChange::Checked(verdict.clone()))
            .unwrap_or(pending)
    }

    /// The state after `change`. Pausing a paused enrolment or resuming an active one changes
    /// nothing; nothing changes a final one. A check moves PENDING to ACTIVE or REJECTED, ACTIVE to
    /// NEEDS_ACTION (and back) as the device qualifies or not, and leaves PAUSED alone.
    pub fn apply(&self, change: EnrolmentChange) -> Result<Self, TransitionError> {
        use EnrolmentStatus as S;
        if self.status.is_final() {
            return Err(TransitionError::Ended(self.status));
        }
        let to = |status, reason: Option<String>| Ok(Self { status, reason });
        match change {
            EnrolmentChange::Unenrol => to(S::Unenrolled, None),
            EnrolmentChange::Pause => to(S::Paused, None),
            EnrolmentChange::Resume => match self.status {
                S::Paused => to(S::Pending, Some("resumed; its device is checked again".to_owned())),
                S::Active | S::Pending | S::NeedsAction => Ok(self.clone()),
                other => Err(TransitionError::NotPaused(other)),
            },
            EnrolmentChange::Checked(verdict) => match (self.status, &verdict) {
                (S::Paused, _) => Ok(self.clone()),
                (_, Verdict::Eligible) => to(S::Active, None),
                (S::Pending, Verdict::Ineligible(_)) => to(S::Rejected, verdict.summary()),
                (_, Verdict::Ineligible(_)) => to(S::NeedsAction, verdict.summary()),
                (S::Pending, Verdict::Undecided(_)) => to(S::Pending, verdict.summary()),
                (S::NeedsAction, Verdict::Undecided(_)) => to(S::NeedsAction, verdict.summary()),
                // An active device whose capability is no longer known (it has not said since a
                // reset) keeps taking part: nothing says it cannot.
                (_, Verdict::Undecided(_)) => Ok(self.clone()),
            },
        }
    }
}

/// What the user agreed to when enrolling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// What is shared with the program (for example `chargingSessions`, `location`).
    pub data_shared: Vec<String>,
    /// How the user leaves, in the program's words.
    pub how_to_leave: String,
    /// When the user agreed.
    pub given_at: DateTime<Utc>,
}

/// The device an enrolment covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledDevice {
    /// Its kind.
    pub kind: FlexDeviceKind,
    /// Its id (a charger's, a vehicle's or an EV system's).
    pub id: String,
}

/// A user's device in a program.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    /// Identifier.
    pub id: EnrolmentId,
    /// The owning client.
    pub client_id: ClientId,
    /// The program.
    pub program_id: ProgramId,
    /// The user.
    pub user_id: UserId,
    /// The device.
    pub device: EnrolledDevice,
    /// Its status.
    pub state: EnrolmentState,
    /// What the user agreed to.
    pub consent: Consent,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which enrolments a group holds besides its static list: those matching every given field at
/// the time an event is sent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupFilter {
    /// Enrolments of these kinds of device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_kinds: Vec<FlexDeviceKind>,
    /// Enrolments of these users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<String>,
}

impl GroupFilter {
    /// Whether the filter names anything (an empty filter adds no enrolments).
    pub fn is_set(&self) -> bool {
        !self.device_kinds.is_empty() || !self.user_ids.is_empty()
    }

    /// Whether `enrolment` matches it.
    pub fn matches(&self, enrolment: &Enrolment) -> bool {
        self.is_set()
            && (self.device_kinds.is_empty() || self.device_kinds.contains(&enrolment.device.kind))
            && (self.user_ids.is_empty() || self.user_ids.iter().any(|u| u == enrolment.user_id.as_str()))
    }
}

/// A set of a program's enrolments to aim events at.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Identifier.
    pub id: GroupId,
    /// The owning client.
    pub client_id: ClientId,
    /// The program.
    pub program_id: ProgramId,
    /// What people call it.
    pub name: String,
    /// Enrolments named one by one.
    pub enrolment_ids: Vec<EnrolmentId>,
    /// Enrolments matched when an event is sent.
    pub filter: GroupFilter,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl Group {
    /// The enrolments of `candidates` (the program's) the group holds now.
    pub fn members<'a>(&self, candidates: &'a [Enrolment]) -> Vec<&'a Enrolment> {
        candidates
            .iter()
            .filter(|e| self.enrolment_ids.contains(&e.id) || self.filter.matches(e))
            .collect()
    }
}

/// What an event asks for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// Each site imports at most the event's value.
    ImportLimit,
    /// Each site draws the event's value less than its baseline (not carried out yet).
    Shed,
    /// No charging.
    Pause,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::ImportLimit, Self::Shed, Self::Pause];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImportLimit => "IMPORT_LIMIT",
            Self::Shed => "SHED",
            Self::Pause => "PAUSE",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// The unit of an import limit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LimitUnit {
    /// Kilowatts per site.
    #[serde(rename = "KW")]
    Kilowatts,
    /// Amperes per phase.
    #[serde(rename = "A")]
    Amperes,
}

impl LimitUnit {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kilowatts => "KW",
            Self::Amperes => "A",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Kilowatts, Self::Amperes].into_iter().find(|u| u.as_str() == raw)
    }
}

/// The cap in amperes per phase an import limit means for a site charging on `phases` phases at
/// `phase_voltage` volts, rounded down to the 0.1 A OCPP carries (a cap never rounds up).
pub fn import_limit_amps(value: f64, unit: LimitUnit, phase_voltage: f64, phases: u8) -> f64 {
    let amps = match unit {
        LimitUnit::Amperes => value,
        LimitUnit::Kilowatts => value * 1000.0 / (phase_voltage * f64::from(phases.max(1))),
    };
    ((amps * 10.0) + 1e-9).floor() / 10.0
}

/// Which enrolments an event is for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTargets {
    /// Every active enrolment of the program.
    #[serde(default)]
    pub program: bool,
    /// The enrolments of these groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_ids: Vec<String>,
    /// These enrolments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrolment_ids: Vec<String>,
}

/// A flexibility event.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexEvent {
    /// Identifier.
    pub id: FlexEventId,
    /// The owning client.
    pub client_id: ClientId,
    /// The program.
    pub program_id: ProgramId,
    /// What it asks for.
    pub kind: EventKind,
    /// The import limit's value (none for a pause).
    pub value: Option<f64>,
    /// The import limit's unit.
    pub unit: Option<LimitUnit>,
    /// The cap it puts on each charger, amperes per phase.
    pub limit_a: f64,
    /// When it starts (before each target's delay).
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
    /// The longest random delay of a target's start, seconds.
    pub max_random_delay_s: u32,
    /// The seed each target's delay is drawn from.
    pub random_seed: u64,
    /// Whom it is for, as asked.
    pub targets: EventTargets,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where an event stands, from its window and whether it was cancelled.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    /// It has not started.
    Scheduled,
    /// Its window is open.
    Active,
    /// Its window has closed.
    Completed,
    /// It was called off.
    Cancelled,
}

impl EventStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Active => "ACTIVE",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl FlexEvent {
    /// Where it stands at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> EventStatus {
        if self.cancelled_at.is_some() {
            EventStatus::Cancelled
        } else if now < self.start {
            EventStatus::Scheduled
        } else if now < self.end {
            EventStatus::Active
        } else {
            EventStatus::Completed
        }
    }

    /// When a target whose start is delayed by `delay_s` starts: never later than a second before
    /// the end (an event shortened after it was sent still reaches every target), never before the
    /// start.
    pub fn target_start(&self, delay_s: u32) -> DateTime<Utc> {
        (self.start + Duration::seconds(i64::from(delay_s)))
            .min(self.end - Duration::seconds(1))
            .max(self.start)
    }
}

/// An event as a client asks for it, to be checked against its program.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRequest {
    /// What it asks for.
    pub kind: EventKind,
    /// The import limit's value.
    pub value: Option<f64>,
    /// The import limit's unit.
    pub unit: Option<LimitUnit>,
    /// When it starts.
    pub start: DateTime<Utc>,
    /// How long it lasts, minutes.
    pub duration_minutes: u32,
    /// The longest random start delay, seconds.
    pub max_random_delay_s: u32,
}

/// Why an event cannot be sent or changed.
#[derive(Debug, Clone, PartialEq)]
pub enum EventRefusal {
    /// A value is wrong (422 naming it).
    Field(FieldProblem),
    /// The kind is valid but Coupler cannot carry it out yet.
    NotYet(String),
}

/// Checks an event against its program at `now`: its kind is the program's, its value fits, its
/// window has not ended, is no longer than the program allows, comes with the program's notice,
/// and the year (UTC) of its start has room for it (`events_that_year`: the program's events
/// starting that year, cancelled ones not counted, this one not included).
pub fn check_event(
    program: &Program,
    request: &EventRequest,
    now: DateTime<Utc>,
    events_that_year: u32,
) -> Result<(), Vec<EventRefusal>> {
    let mut refusals = Vec::new();
    let field = |pointer: &str, detail: String| EventRefusal::Field(problem(pointer, detail));
    let wanted = program.kind.event_kind();
    if request.kind != wanted {
        refusals.push(field(
            "/kind",
            format!(
                "a {} program sends {} events, not {}",
                program.kind.as_str(),
                wanted.as_str(),
                request.kind.as_str()
            ),
        ));
    } else if request.kind == EventKind::Shed {
        refusals.push(EventRefusal::NotYet(
            "SHED events need baselines, which Coupler does not compute yet; use a CAPACITY_LIMIT or PAUSE program"
                .to_owned(),
        ));
    }
    match (request.kind, request.value, request.unit) {
        (EventKind::ImportLimit, Some(value), Some(_)) if value.is_finite() && (0.0..=1000.0).contains(&value) => {}
        (EventKind::ImportLimit, Some(_), Some(_)) => {
            refusals.push(field("/value", "value must be a number from 0 to 1000".to_owned()));
        }
        (EventKind::ImportLimit, None, _) => {
            refusals.push(field("/value", "an IMPORT_LIMIT event needs a value".to_owned()));
        }
        (EventKind::ImportLimit, _, None) => {
            refusals.push(field(
                "/unit",
                "an IMPORT_LIMIT event needs a unit (KW or A)".to_owned(),
            ));
        }
        (_, None, None) => {}
        (_, _, _) => refusals.push(field(
            "/value",
            format!("a {} event takes no value or unit", request.kind.as_str()),
        )),
    }
    let duration = Duration::minutes(i64::from(request.duration_minutes));
    if request.duration_minutes == 0 {
        refusals.push(field(
            "/durationMinutes",
            "durationMinutes must be at least 1".to_owned(),
        ));
    } else if request.duration_minutes > program.limits.max_event_minutes {
        refusals.push(field(
            "/durationMinutes",
            format!(
                "the program's events last at most {} minutes",
                program.limits.max_event_minutes
            ),
        ));
    }
    if request.start + duration <= now {
        refusals.push(field("/start", "the event's window has already ended".to_owned()));
    } else if program.limits.min_notice_minutes > 0 {
        // Without a minimum notice an event may start at once (a start a moment ago included).
        let notice = request.start - now;
        let required = Duration::minutes(i64::from(program.limits.min_notice_minutes));
        if notice < required {
            refusals.push(field(
                "/start",
                format!(
                    "the program gives at least {} minutes' notice; this event starts in {} minutes",
                    program.limits.min_notice_minutes,
                    notice.num_minutes().max(0)
                ),
            ));
        }
    }
    if request.max_random_delay_s > MAX_RANDOM_DELAY_S {
        refusals.push(field(
            "/maxRandomDelaySeconds",
            format!("maxRandomDelaySeconds must be from 0 to {MAX_RANDOM_DELAY_S}"),
        ));
    } else if i64::from(request.max_random_delay_s) >= duration.num_seconds() && request.duration_minutes > 0 {
        refusals.push(field(
            "/maxRandomDelaySeconds",
            "maxRandomDelaySeconds must be shorter than the event".to_owned(),
        ));
    }
    if let Some(most) = program.limits.max_events_per_year {
        if events_that_year >= most {
            refusals.push(field(
                "/start",
                format!(
                    "the program allows {most} events a year and {} already has {events_that_year}",
                    request.start.year()
                ),
            ));
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

/// The start delay of the target `target_key` of an event drawn with `seed`: uniform from 0 to
/// `max_delay_s` seconds, and the same every time for the same seed and target, so an event's
/// spread can be reproduced and audited.
pub fn start_delay_s(seed: u64, target_key: &str, max_delay_s: u32) -> u32 {
    if max_delay_s == 0 {
        return 0;
    }
    let digest = Sha256::new()
        .chain_update(seed.to_be_bytes())
        .chain_update(target_key.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The modulo bias over 2^64 values is far below anything a charger's clock could show.
    let drawn = u64::from_be_bytes(first) % (u64::from(max_delay_s) + 1);
    u32::try_from(drawn).unwrap_or(max_delay_s)
}

/// Where one target of an event stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetState {
    /// Stored; not yet on the device.
    Scheduled,
    /// On the device: the charger took the profile, or the maker took the command.
    Applied,
    /// Seen holding: the charger's composite schedule shows the cap, or the vehicle stopped.
    Confirmed,
    /// Could not be put on the device (the detail says why).
    Failed,
    /// The driver opted out: no cap for them.
    OptedOut,
    /// The event was cancelled.
    Cancelled,
}

impl TargetState {
    /// Every state.
    pub const ALL: [Self; 6] = [
        Self::Scheduled,
        Self::Applied,
        Self::Confirmed,
        Self::Failed,
        Self::OptedOut,
        Self::Cancelled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Applied => "APPLIED",
            Self::Confirmed => "CONFIRMED",
            Self::Failed => "FAILED",
            Self::OptedOut => "OPTED_OUT",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether nothing more is done for the target.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::OptedOut | Self::Cancelled)
    }
}

/// A driver's opting out of one event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOut {
    /// Who asked (the app's words: the driver, a support agent).
    pub requested_by: String,
    /// Why, in the driver's words.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The device a target's part is carried out on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetDevice {
    /// A charger, through its `flex` limit source.
    Charger(ChargerId),
    /// A vehicle without a charger, through maker commands.
    Vehicle(VehicleId),
}

/// One enrolment's part in one event.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexTarget {
    /// Identifier.
    pub id: FlexTargetId,
    /// The owning client.
    pub client_id: ClientId,
    /// The enrolment's user.
    pub user_id: UserId,
    /// The event.
    pub event_id: FlexEventId,
    /// The enrolment.
    pub enrolment_id: EnrolmentId,
    /// Where it is carried out.
    pub device: TargetDevice,
    /// Its random start delay, seconds.
    pub delay_s: u32,
    /// The `flex` limit source on the charger, while there is one.
    pub limit_source_id: Option<LimitSourceId>,
    /// The maker command sent at its start (vehicles).
    pub start_action_id: Option<ActionId>,
    /// The maker command sent at its end (vehicles).
    pub end_action_id: Option<ActionId>,
    /// Where it stands.
    pub state: TargetState,
    /// What happened last, in words.
    pub detail: Option<String>,
    /// The driver's opt-out.
    pub opt_out: Option<OptOut>,
    /// When the engine looks at it next (`None`: nothing more to do).
    pub next_check_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn rules() -> EligibilityRules {
        EligibilityRules {
            device_kinds: vec![FlexDeviceKind::Charger, FlexDeviceKind::EvSystem],
            required_capabilities: vec![FlexCapability::SmartChargingProfiles],
            service_area: vec![AreaCircle {
                latitude: 59.91,
                longitude: 10.75,
                radius_km: 30.0,
            }],
        }
    }

    fn oslo() -> Option<Point> {
        Some(Point {
            latitude: 59.95,
            longitude: 10.80,
        })
    }

    fn program(kind: ProgramKind) -> Program {
        Program {
            id: ProgramId::new("p"),
            client_id: ClientId::new("c"),
            name: "Peak".into(),
            kind,
            eligibility: rules(),
            limits: ProgramLimits {
                max_events_per_year: Some(10),
                max_event_minutes: 180,
                min_notice_minutes: 60,
            },
            incentive: serde_json::Value::Null,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn request(start: i64, minutes: u32) -> EventRequest {
        EventRequest {
            kind: EventKind::ImportLimit,
            value: Some(3.7),
            unit: Some(LimitUnit::Kilowatts),
            start: at(start),
            duration_minutes: minutes,
            max_random_delay_s: 300,
        }
    }

    fn codes(verdict: &Verdict) -> Vec<ReasonCode> {
        verdict.reasons().iter().map(|r| r.code).collect()
    }

    #[test]
    fn a_smart_charger_in_the_service_area_is_eligible() {
        let facts = DeviceFacts {
            smart_charging_profiles: Some(true),
            position: oslo(),
            ..DeviceFacts::default()
        };
        assert_eq!(
            check_eligibility(&rules(), FlexDeviceKind::Charger, &facts, false),
            Verdict::Eligible
        );
    }

    #[test]
    fn every_reason_against_a_device_is_given() {
        let facts = DeviceFacts {
            smart_charging_profiles: Some(false),
            position: Some(Point {
                latitude: 48.1,
                longitude: 11.6,
            }),
            ..DeviceFacts::default()
        };
        let verdict = check_eligibility(&rules(), FlexDeviceKind::Vehicle, &facts, true);
        assert_eq!(
            codes(&verdict),
            vec![
                ReasonCode::AlreadyEnrolled,
                ReasonCode::DeviceKindNotEligible,
                ReasonCode::CapabilityMissing,
                ReasonCode::OutsideServiceArea
            ]
        );
        assert!(matches!(verdict, Verdict::Ineligible(_)));
    }

    #[test]
    fn a_device_without_a_known_place_is_not_eligible_for_an_area_bound_program() {
        let facts = DeviceFacts {
            smart_charging_profiles: Some(true),
            ..DeviceFacts::default()
        };
        let verdict = check_eligibility(&rules(), FlexDeviceKind::Charger, &facts, false);
        assert_eq!(codes(&verdict), vec![ReasonCode::LocationUnknown]);
        let anywhere = EligibilityRules {
            service_area: Vec::new(),
            ..rules()
        };
        assert_eq!(
            check_eligibility(&anywhere, FlexDeviceKind::Charger, &facts, false),
            Verdict::Eligible
        );
    }

    #[test]
    fn a_charger_that_has_not_said_what_it_takes_is_undecided() {
        let facts = DeviceFacts {
            position: oslo(),
            ..DeviceFacts::default()
        };
        let verdict = check_eligibility(&rules(), FlexDeviceKind::Charger, &facts, false);
        assert_eq!(codes(&verdict), vec![ReasonCode::CapabilityUnknown]);
        assert!(matches!(verdict, Verdict::Undecided(_)));
    }

    fn state(status: EnrolmentStatus) -> EnrolmentState {
        EnrolmentState { status, reason: None }
    }

    fn missing() -> Verdict {
        Verdict::Ineligible(vec![Reason {
            code: ReasonCode::CapabilityMissing,
            detail: "the device lacks SMART_CHARGING_PROFILES".into(),
        }])
    }

    fn unknown() -> Verdict {
        Verdict::Undecided(vec![Reason {
            code: ReasonCode::CapabilityUnknown,
            detail: "not said".into(),
        }])
    }

    #[test]
    fn a_new_enrolment_is_active_when_eligible_and_pending_while_undecided() {
        assert_eq!(
            EnrolmentState::enrolled(&Verdict::Eligible).status,
            EnrolmentStatus::Active
        );
        let pending = EnrolmentState::enrolled(&unknown());
        assert_eq!(pending.status, EnrolmentStatus::Pending);
        assert_eq!(pending.reason.as_deref(), Some("not said"));
    }

    #[test]
    fn a_pending_enrolment_becomes_active_or_rejected_when_its_device_is_known() {
        let pending = state(EnrolmentStatus::Pending);
        let active = pending.apply(EnrolmentChange::Checked(Verdict::Eligible)).unwrap();
        assert_eq!(active.status, EnrolmentStatus::Active);
        let rejected = pending.apply(EnrolmentChange::Checked(missing())).unwrap();
        assert_eq!(rejected.status, EnrolmentStatus::Rejected);
        assert!(rejected.reason.unwrap().contains("SMART_CHARGING_PROFILES"));
    }

    #[test]
    fn an_active_enrolment_that_stops_qualifying_needs_action_and_recovers() {
        let needs = state(EnrolmentStatus::Active)
            .apply(EnrolmentChange::Checked(missing()))
            .unwrap();
        assert_eq!(needs.status, EnrolmentStatus::NeedsAction);
        assert!(needs.reason.is_some());
        assert_eq!(
            needs.apply(EnrolmentChange::Checked(unknown())).unwrap().status,
            EnrolmentStatus::NeedsAction
        );
        let back = needs.apply(EnrolmentChange::Checked(Verdict::Eligible)).unwrap();
        assert_eq!(back, state(EnrolmentStatus::Active));
        assert_eq!(
            state(EnrolmentStatus::Active)
                .apply(EnrolmentChange::Checked(unknown()))
                .unwrap(),
            state(EnrolmentStatus::Active)
        );
    }

    #[test]
    fn a_paused_enrolment_ignores_checks_and_resumes_through_a_check() {
        let paused = state(EnrolmentStatus::Active).apply(EnrolmentChange::Pause).unwrap();
        assert_eq!(paused.status, EnrolmentStatus::Paused);
        assert_eq!(
            paused.apply(EnrolmentChange::Checked(Verdict::Eligible)).unwrap(),
            paused
        );
        assert_eq!(paused.apply(EnrolmentChange::Pause).unwrap(), paused);
        let resumed = paused.apply(EnrolmentChange::Resume).unwrap();
        assert_eq!(resumed.status, EnrolmentStatus::Pending);
        assert_eq!(
            resumed
                .apply(EnrolmentChange::Checked(Verdict::Eligible))
                .unwrap()
                .status,
            EnrolmentStatus::Active
        );
    }

    #[test]
    fn an_ended_enrolment_cannot_change() {
        for status in [EnrolmentStatus::Unenrolled, EnrolmentStatus::Rejected] {
            for change in [
                EnrolmentChange::Unenrol,
                EnrolmentChange::Pause,
                EnrolmentChange::Resume,
                EnrolmentChange::Checked(Verdict::Eligible),
            ] {
                assert_eq!(state(status).apply(change), Err(TransitionError::Ended(status)));
            }
        }
        assert_eq!(
            state(EnrolmentStatus::NeedsAction)
                .apply(EnrolmentChange::Unenrol)
                .unwrap()
                .status,
            EnrolmentStatus::Unenrolled
        );
    }

    #[test]
    fn an_event_within_the_programs_limits_is_accepted() {
        assert_eq!(
            check_event(&program(ProgramKind::CapacityLimit), &request(60, 120), at(0), 9),
            Ok(())
        );
    }

    fn pointers(refusals: Vec<EventRefusal>) -> Vec<String> {
        refusals
            .into_iter()
            .map(|r| match r {
                EventRefusal::Field(p) => p.pointer,
                EventRefusal::NotYet(_) => "not yet".to_owned(),
            })
            .collect()
    }

    #[test]
    fn an_event_outside_the_programs_limits_is_refused_naming_each_value() {
        let program = program(ProgramKind::CapacityLimit);
        let short_notice_and_long = check_event(&program, &request(30, 240), at(0), 0).unwrap_err();
        assert_eq!(pointers(short_notice_and_long), vec!["/durationMinutes", "/start"]);
        let ended = check_event(&program, &request(-120, 60), at(0), 0).unwrap_err();
        assert_eq!(pointers(ended), vec!["/start"]);
        let at_once = Program {
            limits: ProgramLimits {
                min_notice_minutes: 0,
                ..program.limits
            },
            ..program.clone()
        };
        assert_eq!(
            check_event(&at_once, &request(-1, 60), at(0), 0),
            Ok(()),
            "without a notice, an event may start at once"
        );
        let year_full = check_event(&program, &request(60, 60), at(0), 10).unwrap_err();
        assert_eq!(pointers(year_full), vec!["/start"]);
        let pause = EventRequest {
            kind: EventKind::Pause,
            value: None,
            unit: None,
            ..request(60, 60)
        };
        assert_eq!(
            pointers(check_event(&program, &pause, at(0), 0).unwrap_err()),
            vec!["/kind"]
        );
        let no_value = EventRequest {
            value: None,
            ..request(60, 60)
        };
        assert_eq!(
            pointers(check_event(&program, &no_value, at(0), 0).unwrap_err()),
            vec!["/value"]
        );
        let delay_too_long = EventRequest {
            max_random_delay_s: 3600,
            ..request(60, 60)
        };
        assert_eq!(
            pointers(check_event(&program, &delay_too_long, at(0), 0).unwrap_err()),
            vec!["/maxRandomDelaySeconds"]
        );
    }

    #[test]
    fn shed_events_are_not_carried_out_yet() {
        let shed = EventRequest {
            kind: EventKind::Shed,
            value: None,
            unit: None,
            ..request(60, 60)
        };
        assert_eq!(
            pointers(check_event(&program(ProgramKind::Shed), &shed, at(0), 0).unwrap_err()),
            vec!["not yet"]
        );
    }

    #[test]
    fn each_targets_delay_is_reproducible_and_within_the_maximum() {
        let delays: Vec<u32> = (0..200).map(|i| start_delay_s(42, &format!("e-{i}"), 600)).collect();
        assert!(delays.iter().all(|d| *d <= 600));
        let again: Vec<u32> = (0..200).map(|i| start_delay_s(42, &format!("e-{i}"), 600)).collect();
        assert_eq!(delays, again, "the same seed draws the same delays");
        let other: Vec<u32> = (0..200).map(|i| start_delay_s(43, &format!("e-{i}"), 600)).collect();
        assert_ne!(delays, other, "another seed draws others");
        let spread = delays.iter().filter(|d| **d > 300).count();
        assert!((60..140).contains(&spread), "about half above the middle: {spread}");
        assert_eq!(start_delay_s(42, "e-1", 0), 0);
    }

    #[test]
    fn an_import_limit_in_kilowatts_becomes_amperes_per_phase_rounded_down() {
        assert_eq!(import_limit_amps(11.04, LimitUnit::Kilowatts, 230.0, 3), 16.0);
        assert_eq!(import_limit_amps(3.7, LimitUnit::Kilowatts, 230.0, 3), 5.3);
        assert_eq!(import_limit_amps(10.0, LimitUnit::Amperes, 230.0, 3), 10.0);
    }

    #[test]
    fn a_group_holds_its_listed_enrolments_and_those_its_filter_matches() {
        let enrolment = |id: &str, user: &str, kind| Enrolment {
            id: EnrolmentId::new(id),
            client_id: ClientId::new("c"),
            program_id: ProgramId::new("p"),
            user_id: UserId::parse(user).unwrap(),
            device: EnrolledDevice {
                kind,
                id: format!("d-{id}"),
            },
            state: state(EnrolmentStatus::Active),
            consent: Consent {
                data_shared: Vec::new(),
                how_to_leave: String::new(),
                given_at: at(0),
            },
            created_at: at(0),
            updated_at: at(0),
        };
        let all = [
            enrolment("a", "ann", FlexDeviceKind::Charger),
            enrolment("b", "bob", FlexDeviceKind::Vehicle),
            enrolment("c", "cat", FlexDeviceKind::Charger),
        ];
        let group = Group {
            id: GroupId::new("g"),
            client_id: ClientId::new("c"),
            program_id: ProgramId::new("p"),
            name: "street".into(),
            enrolment_ids: vec![EnrolmentId::new("b")],
            filter: GroupFilter {
                device_kinds: vec![FlexDeviceKind::Charger],
                user_ids: vec!["cat".into()],
            },
            created_at: at(0),
        };
        let ids: Vec<&str> = group.members(&all).iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["b", "c"]);
    }

    #[test]
    fn an_event_is_scheduled_active_completed_or_cancelled() {
        let event = FlexEvent {
            id: FlexEventId::new("e"),
            client_id: ClientId::new("c"),
            program_id: ProgramId::new("p"),
            kind: EventKind::Pause,
            value: None,
            unit: None,
            limit_a: 0.0,
            start: at(10),
            end: at(70),
            max_random_delay_s: 0,
            random_seed: 1,
            targets: EventTargets {
                program: true,
                group_ids: Vec::new(),
                enrolment_ids: Vec::new(),
            },
            cancelled_at: None,
            created_at: at(0),
            updated_at: at(0),
        };
        assert_eq!(event.status(at(0)), EventStatus::Scheduled);
        assert_eq!(event.status(at(10)), EventStatus::Active);
        assert_eq!(event.status(at(70)), EventStatus::Completed);
        assert_eq!(event.target_start(600), at(20));
        assert_eq!(
            event.target_start(10_000),
            at(70) - Duration::seconds(1),
            "never after the end"
        );
        let cancelled = FlexEvent {
            cancelled_at: Some(at(5)),
            ..event
        };
        assert_eq!(cancelled.status(at(20)), EventStatus::Cancelled);
    }
}
