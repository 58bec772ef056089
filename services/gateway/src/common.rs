//! What the OCPP 1.6 and 2.0.1 handlers share: how a failed call is answered, and the pieces of
//! command and reply handling that do not depend on the version.

use coupler_core::control::{ChargerCommand, ChargerControl, CommandReply, ControlError, LimitPeriod, RateUnit};
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

/// Changes one setting (a 1.6 configuration key, a 2.0.1 variable); returns whether it was taken.
pub(crate) async fn change(gateway: &Gateway, charger: &ChargerId, key: &str, value: &str) -> bool {
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
