//! Operations on chargers (reset, unlock, configuration, firmware, reservations, ...): stored
//! first, then sent through the charger-control port in a task of their own, and the charger's
//! answer recorded on the operation. What the charger reports afterwards (firmware and upload
//! statuses, device-model reports) the gateway records on the same operation.
//!
//! An operation on a charger that is not connected fails at once (`NOT_CONNECTED`) and stays on
//! record: unlike an action, nothing waits for the charger to come back, since an operator acting
//! on a charger wants to know now whether it heard them.

use std::sync::Arc;

use coupler_core::control::{ChargerCommand, CommandReply, ControlError};
use coupler_core::operation::{FailureKind, Operation, OperationId, OperationKind, Reservation, ReservationStatus};
use coupler_core::StoreError;
use coupler_tasks::Tasks;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::Engine;

/// How many times a change is applied again when the operation changed under it.
const SAVE_TRIES: usize = 5;

impl Engine {
    /// Stores `operation` (with `reservation`, for a ReserveNow) and carries it out on `tasks`:
    /// `command` builds what to send from the number the store allocated (a request or
    /// reservation id). Returns the stored operation and a receiver of it once the charger
    /// answered, or the wait for it ended.
    pub async fn start_operation(
        self: &Arc<Self>,
        tasks: &Tasks,
        operation: Operation,
        reservation: Option<Reservation>,
        command: impl FnOnce(Option<i32>) -> ChargerCommand,
    ) -> Result<(Operation, oneshot::Receiver<Operation>), StoreError> {
        let stored = self.store.insert_operation(&operation, reservation.as_ref()).await?;
        let command = command(stored.request_id);
        let (done, settled) = oneshot::channel();
        let engine = self.clone();
        let span = tracing::info_span!(
            "charger operation",
            operation_id = %stored.id,
            charger_id = %stored.charger_id,
            kind = stored.kind.as_str(),
        );
        let id = stored.id.clone();
        tasks.spawn(
            "charger operation",
            async move {
                match engine.carry_out(&id, command).await {
                    Ok(Some(operation)) => {
                        let _ = done.send(operation);
                    }
                    Ok(None) => tracing::warn!("the operation is gone (its charger was deleted)"),
                    Err(e) => tracing::warn!(error = %e, "cannot record the operation's outcome"),
                }
            }
            .instrument(span),
        );
        Ok((stored, settled))
    }

    async fn carry_out(&self, id: &OperationId, command: ChargerCommand) -> Result<Option<Operation>, StoreError> {
        let Some(operation) = self.store.operation(id).await? else {
            return Ok(None);
        };
        let charger = operation.charger_id.clone();
        let now = self.clock.now();
        if !self.control.is_connected(&charger) {
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
