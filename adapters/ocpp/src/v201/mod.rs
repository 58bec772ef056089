//! Typed OCPP 2.0.1 messages with strict validation against the official 2.0.1 JSON schemas.
//!
//! The same shape as [`crate::v16`]: [`parse_station_request`] reads a `CALL` from a charging
//! station (refusing actions only a CSMS may send), [`parse_request`] / [`parse_response`] read
//! any typed action's payload, and [`Request::to_value`] / [`Response::to_value`] write one after
//! checking it by the same rules. Error codes are spelled by [`crate::ErrorCode::as_str`] with
//! [`OcppVersion::V201`] (`FormatViolation`, `OccurrenceConstraintViolation`).
//!
//! Every 2.0.1 class may carry vendor `customData`; it is accepted and dropped.

use serde_json::Value;

use crate::error::{ErrorCode, ValidationError};
use crate::json::FromJson;
use crate::rpc::Frame;
use crate::OcppVersion;

mod messages;
mod types;

pub use messages::*;
pub use types::*;

/// The version this module serves.
pub const VERSION: OcppVersion = OcppVersion::V201;

/// Which side of the connection sends an action's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The charging station sends it to Coupler.
    ChargingStation,
    /// Coupler (the CSMS) sends it to the station.
    Csms,
}

/// Defines [`Action`], [`Request`], [`Response`] and the dispatch between them from one
/// table, so an action cannot be added to one and forgotten in another.
macro_rules! actions {
    ($($action:ident($request:ident, $response:ident) from $initiator:ident;)+) => {
        /// An OCPP 2.0.1 action this crate types.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $(
                #[doc = concat!("`", stringify!($action), "`")]
                $action,
            )+
        }

        impl Action {
            /// Every typed action.
            pub const ALL: &'static [Self] = &[$(Self::$action),+];

            /// The action name on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$action => stringify!($action),)+
                }
            }

            /// The typed action named `name` (case-sensitive, as OCPP-J requires).
            pub fn from_wire(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|action| action.as_str() == name)
            }

            /// Which side sends this action's request.
            pub const fn initiator(self) -> Initiator {
                match self {
                    $(Self::$action => Initiator::$initiator,)+
                }
            }
        }

        /// A typed OCPP 2.0.1 request payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $(
                #[doc = concat!("`", stringify!($action), "Request`")]
                $action($request),
            )+
        }

        /// A typed OCPP 2.0.1 response payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            $(
                #[doc = concat!("`", stringify!($action), "Response`")]
                $action($response),
            )+
        }

        impl Request {
            /// The action this request belongs to.
            pub fn action(&self) -> Action {
                match self {
                    $(Self::$action(_) => Action::$action,)+
                }
            }

            fn unchecked_value(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Self::$action(message) => serde_json::to_value(message),)+
                }
            }
        }

        impl Response {
            /// The action this response belongs to.
            pub fn action(&self) -> Action {
                match self {
                    $(Self::$action(_) => Action::$action,)+
                }
            }

            fn unchecked_value(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Self::$action(message) => serde_json::to_value(message),)+
                }
            }
        }

        fn read_request(action: Action, payload: &Value) -> Result<Request, ValidationError> {
            match action {
                $(Action::$action => $request::from_json(payload, "").map(Request::$action),)+
            }
        }

        fn read_response(action: Action, payload: &Value) -> Result<Response, ValidationError> {
            match action {
                $(Action::$action => $response::from_json(payload, "").map(Response::$action),)+
            }
        }

        $(
            impl From<$request> for Request {
                fn from(message: $request) -> Self {
                    Self::$action(message)
                }
            }

            impl From<$response> for Response {
                fn from(message: $response) -> Self {
                    Self::$action(message)
                }
            }
        )+
    };
}

actions! {
    BootNotification(BootNotificationRequest, BootNotificationResponse) from ChargingStation;
    Heartbeat(HeartbeatRequest, HeartbeatResponse) from ChargingStation;
    StatusNotification(StatusNotificationRequest, StatusNotificationResponse) from ChargingStation;
    TransactionEvent(TransactionEventRequest, TransactionEventResponse) from ChargingStation;
    MeterValues(MeterValuesRequest, MeterValuesResponse) from ChargingStation;
    Authorize(AuthorizeRequest, AuthorizeResponse) from ChargingStation;
    NotifyEvent(NotifyEventRequest, NotifyEventResponse) from ChargingStation;
    NotifyReport(NotifyReportRequest, NotifyReportResponse) from ChargingStation;
    SecurityEventNotification(SecurityEventNotificationRequest, SecurityEventNotificationResponse) from ChargingStation;
    FirmwareStatusNotification(FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse) from ChargingStation;
    LogStatusNotification(LogStatusNotificationRequest, LogStatusNotificationResponse) from ChargingStation;
    RequestStartTransaction(RequestStartTransactionRequest, RequestStartTransactionResponse) from Csms;
    RequestStopTransaction(RequestStopTransactionRequest, RequestStopTransactionResponse) from Csms;
    SetChargingProfile(SetChargingProfileRequest, SetChargingProfileResponse) from Csms;
    ClearChargingProfile(ClearChargingProfileRequest, ClearChargingProfileResponse) from Csms;
    GetCompositeSchedule(GetCompositeScheduleRequest, GetCompositeScheduleResponse) from Csms;
    SetVariables(SetVariablesRequest, SetVariablesResponse) from Csms;
    GetVariables(GetVariablesRequest, GetVariablesResponse) from Csms;
    GetBaseReport(GetBaseReportRequest, GetBaseReportResponse) from Csms;
    TriggerMessage(TriggerMessageRequest, TriggerMessageResponse) from Csms;
    Reset(ResetRequest, ResetResponse) from Csms;
    ChangeAvailability(ChangeAvailabilityRequest, ChangeAvailabilityResponse) from Csms;
    UnlockConnector(UnlockConnectorRequest, UnlockConnectorResponse) from Csms;
}

/// OCPP 2.0.1 actions that this crate does not type. They are answered `NotSupported`
/// ("recognised but not supported"), while names 2.0.1 does not define get `NotImplemented`.
pub const UNTYPED_ACTIONS: &[&str] = &[
    "CancelReservation",
    "CertificateSigned",
    "ClearCache",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "ClearedChargingLimit",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",
    "DeleteCertificate",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "GetChargingProfiles",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "InstallCertificate",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyMonitoringReport",
    "PublishFirmware",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "ReserveNow",
    "SendLocalList",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SignCertificate",
    "UnpublishFirmware",
    "UpdateFirmware",
];

fn known_action(name: &str) -> Result<Action, ValidationError> {
    Action::from_wire(name).ok_or_else(|| {
        if UNTYPED_ACTIONS.contains(&name) {
            unsupported(name)
        } else {
            ValidationError::new(
                ErrorCode::NotImplemented,
                "",
                format!("action {} is not known", crate::json::quote(name)),
            )
        }
    })
}

fn unsupported(name: &str) -> ValidationError {
    ValidationError::new(ErrorCode::NotSupported, "", format!("action {name} is not supported"))
}

fn require_object(payload: &Value) -> Result<(), ValidationError> {
    if payload.is_object() {
        Ok(())
    } else {
        // The payload itself has the wrong shape: the PDU structure is wrong.
        Err(ValidationError::new(
            ErrorCode::FormatViolation,
            "",
            "the payload must be a JSON object",
        ))
    }
}

/// Reads and validates the request payload of `action`, whichever side sends it.
///
/// Unknown actions give `NotImplemented`, untyped 2.0.1 actions `NotSupported`; a payload
/// that breaks the schema gives the matching constraint violation.
pub fn parse_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
    let action = known_action(action)?;
    require_object(payload)?;
    read_request(action, payload)
}

/// Like [`parse_request`], for a `CALL` received from a charger: actions only Coupler
/// may send (`Reset`, `RequestStartTransaction`, ...) give `NotSupported`.
pub fn parse_station_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
    let typed = known_action(action)?;
    if typed.initiator() != Initiator::ChargingStation {
        return Err(unsupported(typed.as_str()));
    }
    parse_request(action, payload)
}

/// Reads and validates the response payload of `action` (the `CALLRESULT` answering a
/// call Coupler sent, or a response Coupler is about to send).
pub fn parse_response(action: &str, payload: &Value) -> Result<Response, ValidationError> {
    let action = known_action(action)?;
    require_object(payload)?;
    read_response(action, payload)
}

fn internal(error: &serde_json::Error) -> ValidationError {
    ValidationError::new(ErrorCode::InternalError, "", format!("could not serialise: {error}"))
}

impl Request {
    /// The payload as JSON, after checking it against the schema rules (a too long
    /// string or a limit that is not a multiple of 0.1 is refused, not sent).
    pub fn to_value(&self) -> Result<Value, ValidationError> {
        let value = self.unchecked_value().map_err(|e| internal(&e))?;
        read_request(self.action(), &value)?;
        Ok(value)
    }

    /// The validated `CALL` frame carrying this request.
    pub fn to_call(&self, id: impl Into<String>) -> Result<Frame, ValidationError> {
        Ok(Frame::call(id, self.action().as_str(), self.to_value()?))
    }
}

impl Response {
    /// The payload as JSON, after checking it against the schema rules.
    pub fn to_value(&self) -> Result<Value, ValidationError> {
        let value = self.unchecked_value().map_err(|e| internal(&e))?;
        read_response(self.action(), &value)?;
        Ok(value)
    }

    /// The validated `CALLRESULT` frame answering the call with message id `id`.
    pub fn to_call_result(&self, id: impl Into<String>) -> Result<Frame, ValidationError> {
        Ok(Frame::call_result(id, self.to_value()?))
    }
}

#[cfg(test)]
mod tests;
