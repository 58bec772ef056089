//! Actions on chargers, carried out through the charger-control port and confirmed by what the
//! charger is then observed to do.
//!
//! Every action is stored before anything is sent, so a restart can pick it up again
//! ([`ChargerEngine::resume`]): one whose command already went out is watched for its effect, one
//! that never got that far starts over, and one past its deadline fails. None stays pending forever.

use std::sync::Arc;
use std::time::Duration;

use coupler_core::action::{Action, ActionKind, TargetState};
use coupler_core::control::ChargerControl;
use coupler_core::{time, Charger, ClientId, DeviceKind, FailureType, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the engine behaves.
#[derive(Debug, Clone)]
pub struct ChargerEngineConfig {
    /// How long an action may stay pending before it fails with NO_RESPONSE.
    pub action_timeout: Duration,
    /// The id tag remote starts are made with.
    pub remote_start_id_tag: String,
}

impl Default for ChargerEngineConfig {
    fn default() -> Self {
        Self {
            action_timeout: Duration::from_secs(60),
            remote_start_id_tag: "COUPLER".to_owned(),
        }
    }
}

/// Why the engine refused to take an action on.
#[derive(Debug, thiserror::Error)]
pub enum ChargerActionError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The idempotency key was used before for a different request.
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
}

/// The charger engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChargerEngine {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) chargers: Arc<dyn ChargerControl>,
    pub(crate) config: ChargerEngineConfig,
    /// limits: puts limit sources on chargers; max-current actions go through it.
    pub(crate) limits: crate::limits::LimitKeeper,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl ChargerEngine {
    /// An engine acting on chargers through `chargers`.
    pub fn new(store: Arc<dyn Store>, chargers: Arc<dyn ChargerControl>, config: ChargerEngineConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: crate::limits::LimitKeeper::new(
                    store.clone(),
                    chargers.clone(),
                    config.remote_start_id_tag.clone(),
                ),
                store,
                chargers,
                config,
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// The limit keeper (limits: site limits set through the API are applied through it).
    pub fn limits(&self) -> &crate::limits::LimitKeeper {
        &self.inner.limits
    }

    /// The charger-control port, for callers that act on chargers directly (closing a deleted
    /// charger's connection).
    pub fn control(&self) -> &Arc<dyn ChargerControl> {
        &self.inner.chargers
    }

    /// Takes on an action on one of the caller's chargers: stores it, settles any older conflicting
    /// action (CONFLICT), then carries it out in the background. Returns the stored, pending action;
    /// with an `Idempotency-Key` already used for the same request, returns that earlier action.
    pub async fn charger_action(
        &self,
        client: &ClientId,
        charger: &Charger,
        kind: ActionKind,
        target_state: TargetState,
        idempotency_key: Option<String>,
    ) -> Result<Action, ChargerActionError> {
        let store = &self.inner.store;
        if let Some(key) = &idempotency_key {
            if let Some(earlier) = store.find_action_by_idempotency_key(client, key).await? {
                return same_request(earlier, DeviceKind::Charger, charger.id.as_str(), kind, target_state);
            }
        }
        let now = time::now();
        let timeout =
            chrono::Duration::from_std(self.inner.config.action_timeout).unwrap_or(chrono::Duration::seconds(60));
        let action = Action::new(
            client.clone(),
            charger.user_id.clone(),
            DeviceKind::Charger,
            charger.id.as_str().to_owned(),
            kind,
            target_state,
            idempotency_key.clone(),
            now,
            timeout,
        );
        match store.insert_action(&action).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) if idempotency_key.is_some() => {
                // Another request with the same key won the race; answer with its action.
                let key = idempotency_key.unwrap_or_default();
                let earlier = store.find_action_by_idempotency_key(client, &key).await?;
                return match earlier {
                    Some(earlier) => {
                        same_request(earlier, DeviceKind::Charger, charger.id.as_str(), kind, target_state)
                    }
                    None => Err(ChargerActionError::IdempotencyKeyReused),
                };
            }
            Err(e) => return Err(e.into()),
        }
        self.supersede_conflicting(&action).await?;
        tracing::info!(action_id = %action.id, charger_id = %charger.id, kind = kind.as_str(), "action accepted");
        self.spawn_charger_action(action.clone());
        Ok(action)
    }

    /// Settles older pending actions this one contradicts: START and STOP contradict each other and
    /// themselves; SET_MAX_CURRENT contradicts an older SET_MAX_CURRENT.
    async fn supersede_conflicting(&self, newer: &Action) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let charging = |k: ActionKind| matches!(k, ActionKind::Start | ActionKind::Stop);
        for mut older in store.pending_actions_for(newer.target_type, &newer.target_id).await? {
            let conflicts = older.id != newer.id
                && (charging(older.kind) == charging(newer.kind))
                && older.created_at <= newer.created_at;
            if conflicts {
                older.cancel(
                    FailureType::Conflict,
                    format!("superseded by action {}", newer.id),
                    time::now(),
                );
                if store.update_action(&older).await? {
                    tracing::info!(action_id = %older.id, superseded_by = %newer.id, "action superseded");
                }
            }
        }
        Ok(())
    }

    fn spawn_charger_action(&self, action: Action) {
        let engine = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tracker.spawn(async move {
            tokio::select! {
                // On shutdown the action stays pending in storage and is resumed at the next start.
                _ = shutdown.cancelled() => {}
                _ = crate::charger_actions::run(&engine, action) => {}
            }
        });
    }

    /// Picks up the actions a previous run left pending: those past their deadline fail; the others
    /// are carried on.
    pub async fn resume(&self) -> Result<usize, StoreError> {
        let pending = self.inner.store.pending_actions().await?;
        let count = pending.len();
        for mut action in pending {
            if time::now() >= action.deadline {
                action.fail(
                    FailureType::NoResponse,
                    "the deadline passed while Coupler was not running",
                    time::now(),
                );
                self.inner.store.update_action(&action).await?;
                continue;
            }
            match action.target_type {
                DeviceKind::Charger => self.spawn_charger_action(action),
                // Vehicle actions are carried out by the vehicle engine's own loop.
                DeviceKind::Vehicle => {}
            }
        }
        if count > 0 {
            tracing::info!(count, "resumed pending actions");
        }
        Ok(count)
    }

    /// Stops carrying out actions (they stay pending in storage) and waits for the tasks to end.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }
}

/// An idempotent retry must be the same request; otherwise the key is being reused.
fn same_request(
    earlier: Action,
    target_type: DeviceKind,
    target_id: &str,
    kind: ActionKind,
    target_state: TargetState,
) -> Result<Action, ChargerActionError> {
    if earlier.target_type == target_type
        && earlier.target_id == target_id
        && earlier.kind == kind
        && earlier.target_state == target_state
    {
        Ok(earlier)
    } else {
        Err(ChargerActionError::IdempotencyKeyReused)
    }
}
