//! What the OCPP 1.6 and 2.0.1 handlers share: how a failed call is answered, and the pieces of
//! command and reply handling that do not depend on the version.

use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError, LimitPeriod, RateUnit};
use coupler_core::operation::{Operation, OperationKind, Progress, ReservationStatus};
use coupler_core::{ChargerId, StoreError};
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::{ErrorCode, OcppVersion};

use crate::Gateway;

/// Why a charger's call could not be answered with a result.
pub(crate) enum Failure {
    /// What it reported could not be stored; it must send it again.
    Store(StoreError),
    /// Coupler could not build its answer.
    Internal(String),
    /// The call is refused with this error.
    Refused(ErrorCode, String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Failure {
    /// The CALLERROR that answers the call. A storage failure is an InternalError the charger
    /// retries, so nothing it reported is lost.
    pub(crate) fn into_call_error(self, message_id: &str, action: &str, version: OcppVersion) -> Frame {
        match self {
            Self::Store(e) => {
                tracing::error!(action, error = %e, "cannot store what the charger reported");
                Frame::call_error(
                    message_id,
                    ErrorCode::InternalError,
                    version,
                    "temporarily unable to store; retry",
                )
            }
            Self::Internal(e) => {
                tracing::error!(action, error = %e, "cannot answer a call");
                Frame::call_error(message_id, ErrorCode::InternalError, version, "internal error")
            }
            Self::Refused(code, description) => Frame::call_error(message_id, code, version, &description),
        }
    }
}

/// A duration in whole seconds, as OCPP's intervals are written.
pub(crate) fn interval_secs(duration: std::time::Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// A number as OCPP's 32-bit integer, or why the command cannot carry it.
pub(crate) fn int(value: impl TryInto<i32>, what: &str) -> Result<i32, ControlError> {
    value
        .try_into()
        .map_err(|_| ControlError::Unsupported(format!("{what} is out of OCPP's 32-bit integer range")))
}

/// A status answer.
pub(crate) fn status(accepted: bool, status: &str) -> CommandReply {
    CommandReply::Status {
        accepted,
        status: status.to_owned(),
    }
}

/// A composite schedule answer from the periods a charger sent (start in seconds, limit, phases).
pub(crate) fn composite_schedule(
    accepted: bool,
    unit: Option<RateUnit>,
    periods: impl Iterator<Item = (i32, f64, Option<i32>)>,
) -> CommandReply {
    CommandReply::CompositeSchedule {
        accepted,
        unit,
        periods: periods
            .map(|(start, limit, phases)| LimitPeriod {
                start_offset_s: u32::try_from(start).unwrap_or(0),
                limit,
                phases: phases.and_then(|n| u8::try_from(n).ok()),
            })
            .collect(),
    }
}

/// Changes one setting (a 1.6 configuration key, a 2.0.1 variable) and stores it in the charger's
/// device model when taken; returns whether it was taken.
pub(crate) async fn change(gateway: &Gateway, charger: &ChargerId, key: &str, value: &str) -> bool {
    if !change_unrecorded(gateway, charger, key, value).await {
        return false;
    }
    crate::capabilities::record_settings(gateway, charger, &[(key.to_owned(), value.to_owned())]).await;
    true
}

/// [`change`] without storing: for a caller that stores the setting with others in one write.
pub(crate) async fn change_unrecorded(gateway: &Gateway, charger: &ChargerId, key: &str, value: &str) -> bool {
    let command = ChargerCommand::ChangeConfiguration {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    match gateway.send(charger, command).await {
        Ok(reply) if reply.is_accepted() => {
            tracing::info!(key, value, "setting changed");
            true
        }
        Ok(reply) => {
            tracing::info!(key, value, ?reply, "the charger refused a setting");
            false
        }
        Err(e) => {
            tracing::info!(key, error = %e, "could not change a setting");
            false
        }
    }
}

/// Records a charger's call, how it was answered and how long that took. An action the gateway
/// does not know (answered `NotImplemented`, or refused before it was read) is labelled `other`,
/// so a charger cannot grow the number of metric series by inventing action names.
pub(crate) fn observe_call(action: &str, answer: &Frame, elapsed: std::time::Duration) {
    let (outcome, known) = match answer {
        // Only errors about a known action's payload or handling keep the action's name.
        Frame::CallError { code, .. } => (
            "call_error",
            matches!(
                ErrorCode::from_wire(code),
                Some(
                    ErrorCode::FormatViolation
                        | ErrorCode::PropertyConstraintViolation
                        | ErrorCode::OccurrenceConstraintViolation
                        | ErrorCode::TypeConstraintViolation
                        | ErrorCode::InternalError
                )
            ),
        ),
        _ => ("accepted", true),
    };
    let action = if known { action.to_owned() } else { "other".to_owned() };
    metrics::counter!("coupler_ocpp_messages_total", "direction" => "inbound", "action" => action.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("coupler_ocpp_message_duration_seconds", "action" => action, "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// How many times a status notification is applied again when its operation changed under it.
const PROGRESS_TRIES: usize = 5;

/// Records a status a charger reported about one of its long-running operations (the one of
/// `kinds` with `request_id`, or the newest still open), with what the status means. A status that
/// belongs to no operation Coupler knows (one started at the charger, a triggered `Idle`) is only
/// logged. Fails only when the store does: the charger then sends it again.
pub(crate) async fn record_progress(
    gateway: &Gateway,
    charger: &ChargerId,
    kinds: &[OperationKind],
    request_id: Option<i32>,
    status: &str,
    meaning: Progress,
) -> Result<(), StoreError> {
    let store = &gateway.inner.store;
    for _ in 0..PROGRESS_TRIES {
        let Some(mut operation) = store.operation_for_progress(charger, kinds, request_id).await? else {
            tracing::info!(status, request_id, "a status for no operation Coupler sent");
            return Ok(());
        };
        if !operation.apply_progress(status, meaning, gateway.inner.clock.now()) {
            tracing::info!(operation_id = %operation.id, status, "a status for a finished operation");
            return Ok(());
        }
        if store.save_operation(&operation).await? {
            tracing::info!(
                operation_id = %operation.id,
                kind = operation.kind.as_str(),
                status,
                now = operation.status.as_str(),
                "operation progress"
            );
            return Ok(());
        }
    }
    tracing::warn!(
        status,
        "an operation kept changing; its status notification was not recorded"
    );
    Ok(())
}

/// Marks the active reservation a starting transaction uses as consumed by it: the one it names,
/// or one for its id tag (or group) on its connector (or any), unexpired.
pub(crate) async fn consume_reservation(
    gateway: &Gateway,
    charger: &ChargerId,
    connector_id: Option<u32>,
    id_tag: Option<&str>,
    reservation_id: Option<i32>,
    transaction_id: i64,
) -> Result<(), StoreError> {
    let store = &gateway.inner.store;
    if id_tag.is_none() && reservation_id.is_none() {
        return Ok(());
    }
    let now = gateway.inner.clock.now();
    let active = store.reservations_in(charger, ReservationStatus::Active).await?;
    let used = active
        .iter()
        .find(|r| reservation_id == Some(r.reservation_id) && r.status_at(now) == ReservationStatus::Active)
        .or_else(|| {
            active
                .iter()
                .find(|r| r.is_used_by(connector_id, id_tag, reservation_id, now))
        });
    if let Some(reservation) = used {
        let consumed = store
            .set_reservation_status(
                charger,
                reservation.reservation_id,
                &[ReservationStatus::Active],
                ReservationStatus::Consumed,
                Some(transaction_id),
                now,
            )
            .await?;
        if consumed {
            tracing::info!(
                reservation_id = reservation.reservation_id,
                transaction_id,
                "reservation honoured"
            );
        }
    } else if let Some(reservation_id) = reservation_id {
        tracing::info!(reservation_id, "a transaction names a reservation that is not active");
    }
    Ok(())
}

/// Stores a DataTransfer the charger sent, as an operation it started, and says how to answer:
/// `Accepted` for a vendor Coupler is configured to take data from, `UnknownVendorId` otherwise.
pub(crate) async fn receive_data_transfer(
    gateway: &Gateway,
    charger: &ChargerId,
    vendor_id: &str,
    message_id: Option<&str>,
    data: Option<&serde_json::Value>,
) -> Result<&'static str, StoreError> {
    let known = gateway
        .inner
        .config
        .data_transfer_vendors
        .iter()
        .any(|v| v.eq_ignore_ascii_case(vendor_id));
    let answer = if known { "Accepted" } else { "UnknownVendorId" };
    let now = gateway.inner.clock.now();
    let Some(owner) = gateway.inner.store.charger(charger).await? else {
        return Ok(answer);
    };
    let request = serde_json::json!({ "vendorId": vendor_id, "messageId": message_id, "data": data });
    let record = Operation::received_data_transfer(owner.client_id, charger.clone(), request, answer, now);
    gateway.inner.store.insert_operation(&record, None).await?;
    tracing::info!(vendor_id, message_id, answer, "data transfer from the charger");
    gateway.inner.store.record_seen(charger, now).await?;
    Ok(answer)
}

/// The last status each connector reported on this connection. Pairing is woken by a status that
/// is news, not by one repeated: a connecting charger reports its connectors when it boots and
/// again when Coupler asks for them (the TriggerMessage after connecting), and a fleet connecting
/// at once would otherwise weigh every plug-in twice or more for nothing. What is stored does not
/// depend on it: every status is stored, and a new connection starts knowing nothing.
#[derive(Debug, Default)]
pub(crate) struct StatusMemory {
    last: Vec<(i64, String)>,
}

impl StatusMemory {
    /// Remembers `status` as `connector`'s latest; whether it differs from the one before (a
    /// connector's first status on a connection always does).
    pub(crate) fn remember(&mut self, connector: i64, status: &str) -> bool {
        match self.last.iter_mut().find(|(c, _)| *c == connector) {
            Some((_, last)) if last == status => false,
            Some((_, last)) => {
                status.clone_into(last);
                true
            }
            None => {
                self.last.push((connector, status.to_owned()));
                true
            }
        }
    }
}

/// Whether a call the charger made may change what pairing decides.
pub(crate) enum PlugNews {
    /// It says nothing about the plug or the vehicle.
    No,
    /// It does (a transaction's start or end, an id tag).
    Yes,
    /// A connector's status: news only when it differs from the connector's last on this connection.
    Status(i64, String),
}

impl PlugNews {
    /// Whether to wake pairing, asked once the call is stored: a status is remembered only then,
    /// so one the charger must send again after a failure still counts as news.
    pub(crate) fn wakes_pairing(self, memory: &mut StatusMemory) -> bool {
        match self {
            PlugNews::No => false,
            PlugNews::Yes => true,
            PlugNews::Status(connector, status) => memory.remember(connector, &status),
        }
    }
}

#[cfg(test)]
mod status_memory_tests {
    use super::*;

    #[test]
    fn a_status_repeated_on_a_connection_is_not_news_but_a_change_is() {
        let mut memory = StatusMemory::default();
        assert!(memory.remember(1, "Available"), "a connector's first status is news");
        assert!(memory.remember(2, "Available"), "each connector has its own");
        assert!(!memory.remember(1, "Available"), "the same status again is not");
        assert!(memory.remember(1, "Preparing"), "a different one is");
        assert!(!memory.remember(1, "Preparing"));
        assert!(memory.remember(1, "Available"), "and so is going back");
    }

    #[test]
    fn only_news_wakes_pairing() {
        let mut memory = StatusMemory::default();
        assert!(!PlugNews::No.wakes_pairing(&mut memory));
        assert!(PlugNews::Yes.wakes_pairing(&mut memory));
        assert!(PlugNews::Status(1, "Occupied".into()).wakes_pairing(&mut memory));
        assert!(!PlugNews::Status(1, "Occupied".into()).wakes_pairing(&mut memory));
        assert!(
            PlugNews::Yes.wakes_pairing(&mut memory),
            "a transaction's news always wakes it"
        );
    }
}
