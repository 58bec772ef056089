//! Programs and which devices they take: eligibility with every reason against a device.

use super::*;

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
