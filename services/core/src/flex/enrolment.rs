//! Enrolments: a device's status in a program and how it moves, its consent, and groups.

use super::*;

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
