//! Events: their checks against the program, each target's start delay, caps in amperes, and
//! each target's part.

use super::*;

/// What an event asks for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// Each site imports at most the event's value.
    ImportLimit,
    /// Each site draws the event's value (kW) less than its baseline: a cap per interval of the
    /// site's similar-days baseline less the shed.
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
    /// The share of the targeted enrolments held back as a control group (0: none).
    pub control_group_share: f64,
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
    }
    match (request.kind, request.value, request.unit) {
        (EventKind::Shed, Some(value), Some(LimitUnit::Kilowatts))
            if value.is_finite() && value > 0.0 && value <= 1000.0 => {}
        (EventKind::Shed, Some(_), Some(LimitUnit::Kilowatts)) => {
            refusals.push(field(
                "/value",
                "a shed must be a number above 0 and at most 1000 (kW)".to_owned(),
            ));
        }
        (EventKind::Shed, None, _) => {
            refusals.push(field(
                "/value",
                "a SHED event needs a value: the kW each site sheds".to_owned(),
            ));
        }
        (EventKind::Shed, _, _) => {
            refusals.push(field("/unit", "a SHED event's unit is KW".to_owned()));
        }
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
    /// Held back at random as the event's control group: no cap, measured as the baseline.
    HeldBack,
}

impl TargetState {
    /// Every state.
    pub const ALL: [Self; 7] = [
        Self::Scheduled,
        Self::Applied,
        Self::Confirmed,
        Self::Failed,
        Self::OptedOut,
        Self::Cancelled,
        Self::HeldBack,
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
            Self::HeldBack => "HELD_BACK",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether nothing more is done for the target.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::OptedOut | Self::Cancelled | Self::HeldBack)
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
