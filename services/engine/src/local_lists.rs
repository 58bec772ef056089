//! The local authorisation list Coupler keeps on each charger in step with its owner's id tokens,
//! so a charger that loses its connection still knows which cards to let in.
//!
//! Only chargers that declare a list Coupler may manage get one (1.6 LocalAuthListManagement among
//! SupportedFeatureProfiles, 2.0.1 LocalAuthListCtrlr enabled; see
//! [`coupler_core::authorisation::manages_local_list`]). Coupler remembers the list each charger
//! last accepted and its version. After a connect or boot, and after any change to the owner's
//! tokens, it asks the charger its list version (GetLocalListVersion): the same version gets the
//! changes since (a `Differential` SendLocalList), any other version, or none remembered, the whole
//! list (`Full`). A differential update the charger refuses with `VersionMismatch` is followed by
//! the whole list. Every message is an operation record, listed with the charger's others.
//!
//! Syncs of one charger run one at a time, so two token changes in quick succession cannot send
//! two updates of the same version.

use std::collections::HashMap;
use std::sync::Arc;

use coupler_core::authorisation::{list_changes, manages_local_list, wanted_list, LocalListChange};
use coupler_core::control::ChargerCommand;
use coupler_core::operation::{Operation, OperationKind, OperationStatus};
use coupler_core::store::StoredLocalList;
use coupler_core::{ChargerId, ClientId, UserId};
use coupler_tasks::Tasks;
use tokio::sync::broadcast;
use tracing::Instrument;

use crate::{Engine, EngineError};

/// How a sync of one charger's local list ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalListSync {
    /// The charger declares no local list Coupler may manage: nothing was sent.
    NotManaged,
    /// The charger is not connected: nothing was sent.
    NotConnected,
    /// The charger holds the wanted list already, at this version.
    InStep {
        /// The list's version.
        version: i32,
    },
    /// A list was sent; the operation says how the charger answered.
    Sent(Box<Operation>),
    /// The charger gave no usable answer to GetLocalListVersion (the operation says why), so
    /// nothing was sent; its next connect or token change tries again.
    VersionUnknown(Box<Operation>),
}

/// One lock per charger, so its syncs run one at a time.
#[derive(Debug, Default)]
pub(crate) struct SyncLocks(std::sync::Mutex<HashMap<ChargerId, Arc<tokio::sync::Mutex<()>>>>);

impl SyncLocks {
    fn of(&self, charger: &ChargerId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(charger.clone()).or_default().clone()
    }
}

impl Engine {
    /// Brings a charger's local list in step with its owner's tokens; with `full`, sends the whole
    /// list whatever the charger holds.
    pub async fn sync_local_list(
        self: &Arc<Self>,
        tasks: &Tasks,
        charger_id: &ChargerId,
        full: bool,
    ) -> Result<LocalListSync, EngineError> {
        let lock = self.local_list_locks.of(charger_id);
        let _one_at_a_time = lock.lock().await;
        let Some(charger) = self.store.charger(charger_id).await? else {
            return Err(EngineError::NotFound(format!("no charger '{charger_id}'")));
        };
        let Some(protocol) = charger.ocpp_version else {
            return Ok(LocalListSync::NotConnected);
        };
        if !self.control.is_connected(charger_id) {
            return Ok(LocalListSync::NotConnected);
        }
        let profiles = self
            .store
            .charger_capabilities(charger_id)
            .await?
            .map(|c| c.feature_profiles)
            .unwrap_or_default();
        let model = self.store.device_model(charger_id).await?;
        if !manages_local_list(protocol, &profiles, &model) {
            return Ok(LocalListSync::NotManaged);
        }
        let now = self.clock.now();
        let tokens = self.store.tokens_of_charger_owner(charger_id).await?;
        let wanted = wanted_list(&tokens, protocol, now);
        let stored = self.store.local_list(charger_id).await?;
        let mut charger_version = None;
        if let (false, Some(stored)) = (full, &stored) {
            let asked = self
                .local_list_operation(tasks, &charger, OperationKind::GetLocalListVersion, |_| {
                    ChargerCommand::GetLocalListVersion
                })
                .await?;
            charger_version = asked
                .answer
                .as_ref()
                .and_then(|a| a.get("listVersion"))
                .and_then(serde_json::Value::as_i64)
                .and_then(|v| i32::try_from(v).ok());
            match charger_version {
                Some(version) if version == stored.version => {
                    let changes = list_changes(&stored.entries, &wanted);
                    if changes.is_empty() {
                        return Ok(LocalListSync::InStep { version });
                    }
                    let sent = self.send_list(tasks, &charger, version + 1, false, changes).await?;
                    if sent.status == OperationStatus::Accepted {
                        self.remember(charger_id, version + 1, wanted).await?;
                        return Ok(LocalListSync::Sent(Box::new(sent)));
                    }
                    if sent.answer_status.as_deref() != Some("VersionMismatch") {
                        return Ok(LocalListSync::Sent(Box::new(sent)));
                    }
                    tracing::info!("the charger refused the changes (VersionMismatch); sending the whole list");
                }
                None if asked.status != OperationStatus::Accepted => {
                    return Ok(LocalListSync::VersionUnknown(Box::new(asked)));
                }
                _ => tracing::info!(
                    charger_version,
                    coupler_version = stored.version,
                    "the charger holds another list version; sending the whole list"
                ),
            }
        }
        let version = stored
            .as_ref()
            .map_or(0, |s| s.version)
            .max(charger_version.unwrap_or(0))
            .saturating_add(1);
        let entries: Vec<LocalListChange> = wanted.iter().cloned().map(LocalListChange::Put).collect();
        let sent = self.send_list(tasks, &charger, version, true, entries).await?;
        if sent.status == OperationStatus::Accepted {
            self.remember(charger_id, version, wanted).await?;
        }
        Ok(LocalListSync::Sent(Box::new(sent)))
    }

    async fn send_list(
        self: &Arc<Self>,
        tasks: &Tasks,
        charger: &coupler_core::Charger,
        version: i32,
        full: bool,
        changes: Vec<LocalListChange>,
    ) -> Result<Operation, EngineError> {
        tracing::info!(version, full, entries = changes.len(), "sending the local list");
        self.local_list_operation(tasks, charger, OperationKind::SendLocalList, move |_| {
            ChargerCommand::SendLocalList { version, full, changes }
        })
        .await
    }

    async fn remember(
        &self,
        charger: &ChargerId,
        version: i32,
        entries: Vec<coupler_core::authorisation::LocalListEntry>,
    ) -> Result<(), EngineError> {
        let list = StoredLocalList {
            version,
            entries,
            updated_at: self.clock.now(),
        };
        self.store.save_local_list(charger, &list).await?;
        Ok(())
    }

    /// Stores and sends one local-list operation and waits for it to be settled.
    async fn local_list_operation(
        self: &Arc<Self>,
        tasks: &Tasks,
        charger: &coupler_core::Charger,
        kind: OperationKind,
        command: impl FnOnce(Option<i32>) -> ChargerCommand,
    ) -> Result<Operation, EngineError> {
        let request = match kind {
            OperationKind::SendLocalList => serde_json::json!({ "reason": "in step with the owner's id tokens" }),
            _ => serde_json::json!({}),
        };
        let operation = Operation::requested(
            charger.client_id.clone(),
            charger.id.clone(),
            kind,
            request,
            self.clock.now(),
        );
        let (stored, settled) = self.start_operation(tasks, operation, None, command).await?;
        match settled.await {
            Ok(answered) => Ok(answered),
            // The task ended without a result (shutdown): what was stored is all there is.
            Err(_) => Ok(self.store.operation(&stored.id).await?.unwrap_or(stored)),
        }
    }

    /// After a change to a user's tokens: brings the local list of each of the user's chargers in
    /// step, in the background on `tasks`.
    pub fn id_tokens_changed(self: &Arc<Self>, tasks: &Tasks, client: &ClientId, user: &UserId) {
        let engine = self.clone();
        let (client, user) = (client.clone(), user.clone());
        let background = tasks.clone();
        let span = tracing::info_span!("local lists", user_id = %user);
        tasks.spawn(
            "local lists after a token change",
            async move {
                let chargers = match engine.store.chargers_of_user(&client, &user).await {
                    Ok(chargers) => chargers,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot find the user's chargers");
                        return;
                    }
                };
                for charger in chargers {
                    engine.sync_in_background(&background, charger);
                }
            }
            .instrument(span),
        );
    }

    fn sync_in_background(self: &Arc<Self>, tasks: &Tasks, charger: ChargerId) {
        let engine = self.clone();
        let span = tracing::info_span!("local list sync", charger_id = %charger);
        let background = tasks.clone();
        tasks.spawn(
            "local list sync",
            async move {
                match engine.sync_local_list(&background, &charger, false).await {
                    Ok(LocalListSync::Sent(op)) => tracing::info!(status = op.status.as_str(), "local list sent"),
                    Ok(other) => tracing::debug!(?other, "local list not sent"),
                    Err(e) => tracing::warn!(error = %e, "cannot sync the local list"),
                }
            }
            .instrument(span),
        );
    }
}

/// Runs on `tasks` until they stop: brings the local list of every charger that connects or
/// boots (once Coupler has read what it declares) in step.
pub fn spawn_local_lists(engine: Arc<Engine>, mut ready: broadcast::Receiver<ChargerId>, tasks: &Tasks) {
    let shutdown = tasks.token().clone();
    let background = tasks.clone();
    tasks.spawn("local list keeper", async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = ready.recv() => match received {
                    Ok(charger) => engine.sync_in_background(&background, charger),
                    // Missed chargers are brought in step at their next connect or token change.
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "local list keeper fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
}
