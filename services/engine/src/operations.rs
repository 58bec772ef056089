//! Operations on chargers (reset, unlock, configuration, firmware, reservations, ...): stored
//! first, then sent through the charger-control port in a task of their own, and the charger's
//! answer recorded on the operation. What the charger reports afterwards (firmware and upload
//! statuses, device-model reports) the gateway records on the same operation.
//!
//! Only the node that holds the charger's socket can send to it. An operation taken by another
//! node is handed to that one in the store (with the command to send) and the node woken by a
//! signal ([`Signal::OperationsHandedOver`]); it sends the command and records the answer, and
//! says so ([`Signal::OperationAnswered`]) to the node that took the operation, which reads the
//! outcome from the store for its API caller. A signal that is lost delays, and loses nothing:
//! each node also looks for operations handed to it at every action tick.
//!
//! An operation on a charger that no node holds fails at once (`NOT_CONNECTED`) and stays on
//! record: unlike an action, nothing waits for the charger to come back, since an operator acting
//! on a charger wants to know now whether it heard them.

use std::sync::Arc;
use std::time::Duration;

use coupler_core::control::{ChargerCommand, CommandReply, ControlError};
use coupler_core::node::{Heard, NodeId, Signal};
use coupler_core::operation::{FailureKind, Operation, OperationId, OperationKind, Reservation, ReservationStatus};
use coupler_core::StoreError;
use coupler_tasks::Tasks;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::runner::Silent;
use crate::Engine;

/// How many times a change is applied again when the operation changed under it.
const SAVE_TRIES: usize = 5;

/// The longest a node waiting for a handed operation's answer goes without reading it again (a
/// bound for a lost [`Signal::OperationAnswered`]).
const ANSWER_RECHECK: Duration = Duration::from_secs(1);

impl Engine {
    /// Stores `operation` (with `reservation`, for a ReserveNow) and carries it out on `tasks`:
    /// `command` builds what to send from the number the store allocated (a request or
    /// reservation id). Returns the stored operation and a receiver of it once the charger
    /// answered, or the wait for it ended. When another node holds the charger, the operation is
    /// handed to it, and the receiver gets the operation once that node recorded the answer (read
    /// from the store), for as long as the receiver is kept.
    pub async fn start_operation(
        self: &Arc<Self>,
        tasks: &Tasks,
        mut operation: Operation,
        reservation: Option<Reservation>,
        command: impl FnOnce(Option<i32>) -> ChargerCommand,
    ) -> Result<(Operation, oneshot::Receiver<Operation>), StoreError> {
        operation.node = Some(self.node.clone());
        let stored = self.store.insert_operation(&operation, reservation.as_ref()).await?;
        let command = command(stored.request_id);
        let (mut done, settled) = oneshot::channel();
        let engine = self.clone();
        let span = tracing::info_span!(
            "charger operation",
            operation_id = %stored.id,
            charger_id = %stored.charger_id,
            kind = stored.kind.as_str(),
        );
        let id = stored.id.clone();
        let shutdown = tasks.token().clone();
        tasks.spawn(
            "charger operation",
            async move {
                match engine.carry_out(&id, command, Some((&mut done, &shutdown))).await {
                    Ok(Some(operation)) => {
                        let _ = done.send(operation);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot record the operation's outcome"),
                }
            }
            .instrument(span),
        );
        Ok((stored, settled))
    }

    /// Carries out the operation `id` by sending `command` to its charger. Returns it once
    /// answered (or failed). When another node holds the charger the operation is handed to it;
    /// then, with a `waiter`, the outcome is awaited from the store until the waiter's receiver is
    /// dropped or shutdown, and without one `None` is returned at once.
    async fn carry_out(
        &self,
        id: &OperationId,
        command: ChargerCommand,
        waiter: Option<(&mut oneshot::Sender<Operation>, &CancellationToken)>,
    ) -> Result<Option<Operation>, StoreError> {
        let Some(operation) = self.store.operation(id).await? else {
            tracing::warn!("the operation is gone (its charger was deleted)");
            return Ok(None);
        };
        let charger = operation.charger_id.clone();
        let now = self.clock.now();
        if !self.control.is_connected(&charger) {
            if let Some(owner) = self.charger_held_elsewhere(&charger).await {
                return self.hand_over_operation(id, &command, owner, waiter).await;
            }
            tracing::info!("the charger is not connected; the operation fails");
            let failed = self
                .change_operation(id, |op| {
                    op.fail(
                        FailureKind::NotConnected,
                        "the charger is not connected to Coupler, so nothing was sent",
                        now,
                    )
                })
                .await?;
            if let Some(failed) = &failed {
                self.after_answer(failed, &command, &Err(ControlError::NotConnected))
                    .await?;
            }
            return Ok(failed);
        }
        let protocol = self.store.charger(&charger).await?.and_then(|c| c.ocpp_version);
        let action = protocol.map_or(command.name(), |p| command.ocpp_action(p));
        self.change_operation(id, |op| op.mark_sent(action, now)).await?;
        let answer = self.control.send(&charger, command.clone()).await;
        match &answer {
            Ok(reply) => tracing::info!(status = reply.status(), "the charger answered"),
            Err(e) => tracing::info!(error = %e, "no usable answer"),
        }
        let at = self.clock.now();
        let Some(answered) = self.change_operation(id, |op| op.apply_answer(&answer, at)).await? else {
            return Ok(None);
        };
        self.after_answer(&answered, &command, &answer).await?;
        Ok(Some(answered))
    }

    /// Hands the pending operation `id` to `owner`, which holds its charger's socket, and wakes
    /// it; with a `waiter`, waits for the answer `owner` records (see [`Engine::carry_out`]).
    async fn hand_over_operation(
        &self,
        id: &OperationId,
        command: &ChargerCommand,
        owner: NodeId,
        waiter: Option<(&mut oneshot::Sender<Operation>, &CancellationToken)>,
    ) -> Result<Option<Operation>, StoreError> {
        // Listening before the hand-over, so an answer that comes at once is heard.
        let mut signals = self.store.signals().subscribe();
        if !self.store.hand_over_operation(id, &self.node, &owner, command).await? {
            // No longer pending here (settled meanwhile): it is what it is.
            return self.store.operation(id).await;
        }
        tracing::info!(to_node = %owner, "handed the operation to the node that holds the charger");
        if let Err(e) = self
            .store
            .signals()
            .publish(&Signal::OperationsHandedOver { node: owner })
            .await
        {
            // That node finds it at its next look all the same.
            tracing::warn!(error = %e, "cannot wake the node the operation was handed to");
        }
        let Some((waiter, shutdown)) = waiter else {
            return Ok(None);
        };
        loop {
            let current = self.store.operation(id).await?;
            match current {
                Some(operation) if operation.status.is_unanswered() => {}
                answered => return Ok(answered),
            }
            let recheck = tokio::time::sleep(ANSWER_RECHECK);
            tokio::pin!(recheck);
            loop {
                tokio::select! {
                    // Nobody waits any more: the node that was handed it records the outcome.
                    _ = waiter.closed() => return Ok(None),
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = &mut recheck => break,
                    heard = signals.recv() => match heard {
                        Some(Heard::Signal(Signal::OperationAnswered { operation })) if operation == id.as_str() => break,
                        Some(Heard::Missed) => break,
                        Some(Heard::Signal(_)) => {}
                        None => signals = Box::new(Silent),
                    },
                }
            }
        }
    }

    /// Sends the operations handed to this node (it holds their chargers' sockets) until
    /// shutdown: when another node says it handed some, when signals may have been missed, and at
    /// every action tick.
    pub(crate) async fn run_handed_operations(self: Arc<Self>, tasks: Tasks) {
        let shutdown = tasks.token().clone();
        let mut signals = self.store.signals().subscribe();
        loop {
            if let Err(e) = self.send_handed_operations(&tasks).await {
                tracing::warn!(error = %e, "cannot look for operations handed to this node");
            }
            let tick = tokio::time::sleep(self.config.action_tick);
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = &mut tick => break,
                    heard = signals.recv() => match heard {
                        Some(Heard::Signal(Signal::OperationsHandedOver { node })) if node == self.node => break,
                        Some(Heard::Missed) => break,
                        Some(Heard::Signal(_)) => {}
                        None => signals = Box::new(Silent),
                    },
                }
            }
        }
    }

    /// Starts sending each pending operation handed to this node, each in a task of its own; when
    /// it is answered (or handed on, or failed), the node that took it is told.
    async fn send_handed_operations(self: &Arc<Self>, tasks: &Tasks) -> Result<(), StoreError> {
        for (operation, command) in self.store.handed_operations(&self.node).await? {
            let id = operation.id.clone();
            let fresh = self
                .running_operations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id.clone());
            if !fresh {
                continue;
            }
            let engine = self.clone();
            let span = tracing::info_span!(
                "handed charger operation",
                operation_id = %operation.id,
                charger_id = %operation.charger_id,
                kind = operation.kind.as_str(),
            );
            tasks.spawn(
                "handed charger operation",
                async move {
                    if let Err(e) = engine.carry_out(&id, command, None).await {
                        tracing::warn!(error = %e, "cannot record the operation's outcome");
                    }
                    let answered = Signal::OperationAnswered {
                        operation: id.as_str().to_owned(),
                    };
                    if let Err(e) = engine.store.signals().publish(&answered).await {
                        // The node waiting on it reads it again within a second all the same.
                        tracing::debug!(error = %e, "cannot say the operation was answered");
                    }
                    engine
                        .running_operations
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&id);
                }
                .instrument(span),
            );
        }
        Ok(())
    }

    /// Applies `change` to the stored operation and saves it over the revision it read, reading
    /// again when another writer (a status notification) got there first.
    async fn change_operation(
        &self,
        id: &OperationId,
        mut change: impl FnMut(&mut Operation),
    ) -> Result<Option<Operation>, StoreError> {
        for _ in 0..SAVE_TRIES {
            let Some(mut operation) = self.store.operation(id).await? else {
                return Ok(None);
            };
            change(&mut operation);
            if self.store.save_operation(&operation).await? {
                operation.revision += 1;
                return Ok(Some(operation));
            }
        }
        Err(StoreError::Conflict(format!("operation {id} kept changing")))
    }

    /// What an answer changes beside the operation: a reservation made, refused or cancelled,
    /// and the configuration Coupler keeps of the charger.
    async fn after_answer(
        &self,
        operation: &Operation,
        command: &ChargerCommand,
        answer: &Result<CommandReply, ControlError>,
    ) -> Result<(), StoreError> {
        let store = &self.store;
        let charger = &operation.charger_id;
        let now = self.clock.now();
        let accepted = answer.as_ref().is_ok_and(CommandReply::is_accepted);
        match (operation.kind, command) {
            (OperationKind::ReserveNow, ChargerCommand::ReserveNow { reservation_id, .. }) => {
                let to = if accepted {
                    ReservationStatus::Active
                } else {
                    ReservationStatus::Rejected
                };
                store
                    .set_reservation_status(charger, *reservation_id, &[ReservationStatus::Requested], to, None, now)
                    .await?;
            }
            (OperationKind::CancelReservation, ChargerCommand::CancelReservation { reservation_id }) if accepted => {
                store
                    .set_reservation_status(
                        charger,
                        *reservation_id,
                        &[ReservationStatus::Requested, ReservationStatus::Active],
                        ReservationStatus::Cancelled,
                        None,
                        now,
                    )
                    .await?;
            }
            (OperationKind::ChangeConfiguration, ChargerCommand::ChangeConfiguration { key, value }) if accepted => {
                store
                    .record_device_model(charger, &[(key.clone(), value.clone())], now)
                    .await?;
            }
            (OperationKind::GetConfiguration, _) => {
                if let Ok(CommandReply::Configuration { entries, .. }) = answer {
                    let read: Vec<(String, String)> = entries
                        .iter()
                        .filter_map(|e| e.value.clone().map(|v| (e.key.clone(), v)))
                        .collect();
                    if !read.is_empty() {
                        store.record_device_model(charger, &read, now).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
