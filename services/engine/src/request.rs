//! One way to ask for an action on a vehicle, a charger or (through its vehicle) an EV system,
//! and one policy for what a request meets:
//!
//! - **Idempotency**: a request with an `Idempotency-Key` the client used before returns that
//!   earlier action when it is the same request (target, kind, target state), and is refused
//!   ([`EngineError::IdempotencyKeyReused`]) when it is not; two such requests racing resolve to
//!   the one the store took first.
//! - **Duplicates**: without a key, the same request as one still pending returns the pending one.
//! - **Conflicts**: START and STOP decide the same thing (whether it charges), and two max currents
//!   the same limit: a newer request cancels the older pending one with CONFLICT, naming itself.
//!
//! A request is stored before anything is sent, then the runner takes it up.

use coupler_core::action::{AttemptOutcome, TargetState};
use coupler_core::{Action, ActionKind, ChargerId, ClientId, DeviceKind, FailureType, StoreError, UserId, VehicleId};

use crate::{Engine, EngineError};

/// What an action is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionTarget {
    /// A vehicle (commands routed through its matched charger first, then its maker).
    Vehicle(VehicleId),
    /// A charger.
    Charger(ChargerId),
}

impl ActionTarget {
    fn kind(&self) -> DeviceKind {
        match self {
            Self::Vehicle(_) => DeviceKind::Vehicle,
            Self::Charger(_) => DeviceKind::Charger,
        }
    }

    fn id(&self) -> &str {
        match self {
            Self::Vehicle(id) => id.as_str(),
            Self::Charger(id) => id.as_str(),
        }
    }
}

/// What an action asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Start charging.
    Start,
    /// Stop charging.
    Stop,
    /// Draw at most this many amperes.
    SetMaxCurrent(f64),
}

impl Command {
    /// The action kind.
    pub fn kind(self) -> ActionKind {
        match self {
            Self::Start => ActionKind::Start,
            Self::Stop => ActionKind::Stop,
            Self::SetMaxCurrent(_) => ActionKind::SetMaxCurrent,
        }
    }

    /// The state that confirms it.
    pub fn target(self) -> TargetState {
        match self {
            Self::Start => TargetState::charging(true),
            Self::Stop => TargetState::charging(false),
            Self::SetMaxCurrent(amps) => TargetState::max_current(amps),
        }
    }
}

/// A request for an action, as the API makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// The API client asking (the tenant).
    pub client: ClientId,
    /// What the action is on.
    pub target: ActionTarget,
    /// What it asks for.
    pub command: Command,
    /// The client's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
}

/// Whether two kinds compete for the same thing (START and STOP both decide whether it charges).
pub(crate) fn conflicting(a: ActionKind, b: ActionKind) -> bool {
    let charging = |k| matches!(k, ActionKind::Start | ActionKind::Stop);
    a == b || (charging(a) && charging(b))
}

/// Whether `earlier` is the same request as this one (what an idempotent retry must be).
fn same_request(earlier: &Action, target: &ActionTarget, command: Command) -> bool {
    earlier.target_type == target.kind()
        && earlier.target_id == target.id()
        && earlier.kind == command.kind()
        && earlier.target_state == command.target()
}

impl Engine {
    /// Takes on an action: checks the target exists for the client and can do it (a vehicle's
    /// command its maker and its pairs cannot carry out is refused with the reason), applies the
    /// idempotency and conflict policy (module docs), stores it, and wakes the runner. Returns the
    /// stored action, pending.
    pub async fn request_action(&self, request: ActionRequest) -> Result<Action, EngineError> {
        let ActionRequest {
            client,
            target,
            command,
            idempotency_key,
        } = request;
        if let Some(key) = &idempotency_key {
            if let Some(earlier) = self.store.find_action_by_idempotency_key(&client, key).await? {
                return answer_retry(earlier, &target, command);
            }
        }
        let (user, timeout) = match &target {
            ActionTarget::Vehicle(id) => {
                let vehicle = self
                    .store
                    .get_vehicle(&client, id)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("no vehicle '{id}'")))?;
                if let Some(why) = self.effective_capabilities(&vehicle).await?.refusal(command.kind()) {
                    return Err(EngineError::Refused(why));
                }
                (vehicle.user_id, self.config.action_timeout)
            }
            ActionTarget::Charger(id) => {
                let charger = self
                    .store
                    .get_charger(&client, id)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("no charger '{id}'")))?;
                (charger.user_id, self.charger_config.action_timeout)
            }
        };
        if idempotency_key.is_none() {
            if let Some(pending) = self.pending_duplicate(&client, &target, command).await? {
                return Ok(pending);
            }
        }
        let action = self.new_action(client.clone(), user, &target, command, idempotency_key.clone(), timeout);
        match self.store.insert_action(&action).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) if idempotency_key.is_some() => {
                // Another request with the same key won the race; answer with its action.
                let key = idempotency_key.unwrap_or_default();
                return match self.store.find_action_by_idempotency_key(&client, &key).await? {
                    Some(earlier) => answer_retry(earlier, &target, command),
                    None => Err(EngineError::Conflict(format!(
                        "no user for this action of client {client}"
                    ))),
                };
            }
            Err(e) => return Err(e.into()),
        }
        self.supersede_conflicting(&action).await?;
        tracing::info!(
            action_id = %action.id,
            target_type = action.target_type.as_str(),
            target_id = %action.target_id,
            kind = action.kind.as_str(),
            "action accepted"
        );
        self.actions_now.notify_one();
        Ok(action)
    }

    fn new_action(
        &self,
        client: ClientId,
        user: UserId,
        target: &ActionTarget,
        command: Command,
        idempotency_key: Option<String>,
        timeout: std::time::Duration,
    ) -> Action {
        // As long in real time at any pace of the clock: it is how long a device may take.
        let timeout = self.clock.span_of(timeout);
        Action::new(
            client,
            user,
            target.kind(),
            target.id().to_owned(),
            command.kind(),
            command.target(),
            idempotency_key,
            self.clock.now(),
            timeout,
        )
    }

    /// The client's pending action that is this very request, if one is still running.
    async fn pending_duplicate(
        &self,
        client: &ClientId,
        target: &ActionTarget,
        command: Command,
    ) -> Result<Option<Action>, EngineError> {
        let pending = self.store.pending_actions_for(target.kind(), target.id()).await?;
        Ok(pending
            .into_iter()
            .rev()
            .find(|p| p.client_id == *client && same_request(p, target, command)))
    }

    /// Cancels older pending actions on the same target that `newer` contradicts, with CONFLICT.
    async fn supersede_conflicting(&self, newer: &Action) -> Result<(), EngineError> {
        for mut older in self
            .store
            .pending_actions_for(newer.target_type, &newer.target_id)
            .await?
        {
            let conflicts = older.id != newer.id
                && older.client_id == newer.client_id
                && conflicting(older.kind, newer.kind)
                && older.created_at <= newer.created_at;
            if !conflicts {
                continue;
            }
            let now = self.clock.now();
            if older.attempts.last().is_some_and(|a| a.outcome == AttemptOutcome::Sent) {
                older.update_last_attempt(AttemptOutcome::Cancelled, None, now);
            }
            older.cancel(FailureType::Conflict, format!("superseded by action {}", newer.id), now);
            if self.store.update_action(&older).await? {
                tracing::info!(action_id = %older.id, superseded_by = %newer.id, "action superseded");
            }
        }
        Ok(())
    }
}

/// An idempotent retry must be the same request; otherwise the key is being reused.
fn answer_retry(earlier: Action, target: &ActionTarget, command: Command) -> Result<Action, EngineError> {
    if same_request(&earlier, target, command) {
        Ok(earlier)
    } else {
        Err(EngineError::IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_and_stop_conflict_and_max_current_conflicts_only_with_itself() {
        assert!(conflicting(ActionKind::Start, ActionKind::Stop));
        assert!(conflicting(ActionKind::Start, ActionKind::Start));
        assert!(conflicting(ActionKind::SetMaxCurrent, ActionKind::SetMaxCurrent));
        assert!(!conflicting(ActionKind::Start, ActionKind::SetMaxCurrent));
    }
}
