//! Actions: asynchronous commands (start, stop, set max current) on a vehicle or a charger.
//!
//! An action is stored before anything is sent to a device and is settled by what the device is
//! then observed to do, not by its acknowledgement. Every try on a device is an [`Attempt`]. It ends
//! CONFIRMED, FAILED (with a [`FailureReason`]) or CANCELLED; it never stays PENDING past its deadline.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::ClientId;
use crate::user::UserId;

crate::id::time_ordered_id!(
    /// An action's identifier.
    ActionId
);

/// What kind of device an action targets, or an attempt went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A vehicle, reached through its maker's cloud.
    Vehicle,
    /// A charger, reached over OCPP.
    Charger,
}

impl DeviceKind {
    /// The wire name (`vehicle`, `charger`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vehicle => "vehicle",
            Self::Charger => "charger",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "vehicle" => Some(Self::Vehicle),
            "charger" => Some(Self::Charger),
            _ => None,
        }
    }
}

/// What an action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionKind {
    /// Start charging.
    Start,
    /// Stop charging.
    Stop,
    /// Limit the charging current.
    SetMaxCurrent,
}

impl ActionKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Stop => "STOP",
            Self::SetMaxCurrent => "SET_MAX_CURRENT",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "START" => Some(Self::Start),
            "STOP" => Some(Self::Stop),
            "SET_MAX_CURRENT" => Some(Self::SetMaxCurrent),
            _ => None,
        }
    }
}

/// The state an action wants the device in; it is confirmed when the device is observed there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetState {
    /// For START and STOP: whether the device should be charging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_charging: Option<bool>,
    /// For SET_MAX_CURRENT: the limit in amperes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_current: Option<f64>,
}

impl TargetState {
    /// The target of a START or STOP action.
    pub fn charging(on: bool) -> Self {
        Self {
            is_charging: Some(on),
            max_current: None,
        }
    }

    /// The target of a SET_MAX_CURRENT action.
    pub fn max_current(amps: f64) -> Self {
        Self {
            is_charging: None,
            max_current: Some(amps),
        }
    }
}

/// Where an action is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionState {
    /// Not settled yet.
    Pending,
    /// The device was observed in the target state.
    Confirmed,
    /// It did not happen; see the failure reason.
    Failed,
    /// The caller cancelled it, or a newer conflicting action replaced it.
    Cancelled,
}

impl ActionState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "PENDING" => Some(Self::Pending),
            "CONFIRMED" => Some(Self::Confirmed),
            "FAILED" => Some(Self::Failed),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the action is over.
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// Why an action failed or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureType {
    /// No device answered, or the state never followed, before the deadline.
    NoResponse,
    /// The device cannot do it now (not plugged in, offline, refused).
    FailedPrecondition,
    /// The device was already in the target state.
    Unnecessary,
    /// A newer action of the same kind on the same target replaced it.
    Conflict,
    /// The caller cancelled it.
    RequestedCancellation,
    /// The target no longer exists.
    NotFound,
}

impl FailureType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoResponse => "NO_RESPONSE",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Unnecessary => "UNNECESSARY",
            Self::Conflict => "CONFLICT",
            Self::RequestedCancellation => "REQUESTED_CANCELLATION",
            Self::NotFound => "NOT_FOUND",
        }
    }

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::NoResponse,
            Self::FailedPrecondition,
            Self::Unnecessary,
            Self::Conflict,
            Self::RequestedCancellation,
            Self::NotFound,
        ]
        .into_iter()
        .find(|t| t.as_str() == raw)
    }
}

/// The reason an action did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailureReason {
    /// The kind of failure.
    #[serde(rename = "type")]
    pub kind: FailureType,
    /// What happened, for people.
    pub detail: String,
}

/// How one try on a device went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptOutcome {
    /// Sent and acknowledged; waiting to observe the effect.
    Sent,
    /// The device was observed in the target state.
    Confirmed,
    /// The device refused the command.
    Rejected,
    /// The device did not answer in time.
    NoResponse,
    /// The device acknowledged, but the state did not follow in time.
    NoEffect,
    /// The device could not be reached (offline, asleep, not connected).
    Unreachable,
    /// Stopped because the action was cancelled.
    Cancelled,
}

/// One try on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The kind of device the command went to.
    pub via: DeviceKind,
    /// That device's id.
    pub device_id: String,
    /// When the try started.
    pub at: DateTime<Utc>,
    /// How it went.
    pub outcome: AttemptOutcome,
    /// Details, for people (a device's refusal reason, for example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An asynchronous command and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Identifier.
    pub id: ActionId,
    /// The API client that asked for it.
    pub client_id: ClientId,
    /// The user who owns the target.
    pub user_id: UserId,
    /// The kind of device targeted.
    pub target_type: DeviceKind,
    /// The targeted device's id.
    pub target_id: String,
    /// What is asked.
    pub kind: ActionKind,
    /// The state that confirms it.
    pub target_state: TargetState,
    /// Where it is in its life.
    pub state: ActionState,
    /// Why it failed or was cancelled.
    pub failure_reason: Option<FailureReason>,
    /// Every try, in order.
    pub attempts: Vec<Attempt>,
    /// The caller's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it settled.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it fails with NO_RESPONSE if still pending.
    pub deadline: DateTime<Utc>,
}

impl Action {
    /// A new pending action.
    #[expect(clippy::too_many_arguments, reason = "each is a distinct part of the request")]
    pub fn new(
        client_id: ClientId,
        user_id: UserId,
        target_type: DeviceKind,
        target_id: String,
        kind: ActionKind,
        target_state: TargetState,
        idempotency_key: Option<String>,
        now: DateTime<Utc>,
        timeout: chrono::Duration,
    ) -> Self {
        Self {
            id: ActionId::generate(),
            client_id,
            user_id,
            target_type,
            target_id,
            kind,
            target_state,
            state: ActionState::Pending,
            failure_reason: None,
            attempts: Vec::new(),
            idempotency_key,
            created_at: now,
            updated_at: now,
            completed_at: None,
            deadline: now + timeout,
        }
    }

    /// Settles the action as confirmed.
    pub fn confirm(&mut self, now: DateTime<Utc>) {
        self.settle(ActionState::Confirmed, None, now);
    }

    /// Settles the action as failed.
    pub fn fail(&mut self, kind: FailureType, detail: impl Into<String>, now: DateTime<Utc>) {
        self.settle(
            ActionState::Failed,
            Some(FailureReason {
                kind,
                detail: detail.into(),
            }),
            now,
        );
    }

    /// Settles the action as cancelled (by the caller, or by a newer conflicting action).
    pub fn cancel(&mut self, kind: FailureType, detail: impl Into<String>, now: DateTime<Utc>) {
        self.settle(
            ActionState::Cancelled,
            Some(FailureReason {
                kind,
                detail: detail.into(),
            }),
            now,
        );
    }

    /// Records a try; the action stays pending.
    pub fn record_attempt(&mut self, attempt: Attempt) {
        self.updated_at = attempt.at.max(self.updated_at);
        self.attempts.push(attempt);
    }

    /// Changes the outcome of the latest try (for example SENT → CONFIRMED).
    pub fn update_last_attempt(&mut self, outcome: AttemptOutcome, detail: Option<String>, now: DateTime<Utc>) {
        if let Some(last) = self.attempts.last_mut() {
            last.outcome = outcome;
            if detail.is_some() {
                last.detail = detail;
            }
            self.updated_at = now;
        }
    }

    fn settle(&mut self, state: ActionState, reason: Option<FailureReason>, now: DateTime<Utc>) {
        // A settled action stays as it settled: late observations do not rewrite history.
        if self.state.is_final() {
            return;
        }
        self.state = state;
        self.failure_reason = reason;
        self.updated_at = now;
        self.completed_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> Action {
        Action::new(
            ClientId::new("c"),
            UserId::parse("u").unwrap(),
            DeviceKind::Charger,
            "ch1".into(),
            ActionKind::Start,
            TargetState::charging(true),
            None,
            Utc::now(),
            chrono::Duration::seconds(60),
        )
    }

    #[test]
    fn a_settled_action_is_not_rewritten_by_a_late_observation() {
        let mut a = action();
        a.confirm(Utc::now());
        a.fail(FailureType::NoResponse, "late", Utc::now());
        assert_eq!(a.state, ActionState::Confirmed);
        assert_eq!(a.failure_reason, None);
    }

    #[test]
    fn wire_names_read_back() {
        for kind in [ActionKind::Start, ActionKind::Stop, ActionKind::SetMaxCurrent] {
            assert_eq!(ActionKind::parse(kind.as_str()), Some(kind));
        }
        for state in [
            ActionState::Pending,
            ActionState::Confirmed,
            ActionState::Failed,
            ActionState::Cancelled,
        ] {
            assert_eq!(ActionState::parse(state.as_str()), Some(state));
        }
        assert_eq!(FailureType::parse("CONFLICT"), Some(FailureType::Conflict));
        assert_eq!(serde_json::to_value(AttemptOutcome::NoEffect).unwrap(), "NO_EFFECT");
    }

    #[test]
    fn attempts_are_kept_in_order_and_the_last_can_be_updated() {
        let mut a = action();
        let at = Utc::now();
        a.record_attempt(Attempt {
            via: DeviceKind::Charger,
            device_id: "ch1".into(),
            at,
            outcome: AttemptOutcome::Sent,
            detail: None,
        });
        a.update_last_attempt(AttemptOutcome::Confirmed, None, at);
        assert_eq!(a.attempts[0].outcome, AttemptOutcome::Confirmed);
    }
}
