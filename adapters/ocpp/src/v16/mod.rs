//! Typed OCPP 1.6 messages with strict validation against the official 1.6 JSON schemas.
//!
//! - [`parse_charge_point_request`]: read a `CALL` from a charger; refuses actions a
//!   charger may not send.
//! - [`parse_request`] / [`parse_response`]: read any typed action's request, or the
//!   `CALLRESULT` payload answering one of our calls.
//! - [`Request::to_value`] / [`Response::to_value`]: write a payload, validated by the
//!   same rules, so Coupler never sends what it would refuse.
//!
//! Every refusal is a [`ValidationError`] carrying the OCPP-J error code to answer with
//! and the path of the offending field; [`crate::error`] lists which schema rule maps
//! to which code.

use serde_json::Value;

use crate::error::{ErrorCode, ValidationError};
use crate::json::FromJson;
use crate::rpc::Frame;

mod messages;
mod types;

pub use messages::*;
pub use types::*;

/// Which side of the connection sends an action's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The charger sends it to Coupler.
    ChargePoint,
    /// Coupler sends it to the charger.
    CentralSystem,
}

/// Defines [`Action`], [`Request`], [`Response`] and the dispatch between them from one
/// table, so an action cannot be added to one and forgotten in another.
macro_rules! actions {
    ($($action:ident($request:ident, $response:ident) from $initiator:ident;)+) => {
        /// An OCPP 1.6 action this crate types.
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

        /// A typed OCPP 1.6 request payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $(
                #[doc = concat!("`", stringify!($action), ".req`")]
                $action($request),
            )+
        }

        /// A typed OCPP 1.6 response payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            $(
                #[doc = concat!("`", stringify!($action), ".conf`")]
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
    BootNotification(BootNotificationRequest, BootNotificationResponse) from ChargePoint;
    Heartbeat(HeartbeatRequest, HeartbeatResponse) from ChargePoint;
    StatusNotification(StatusNotificationRequest, StatusNotificationResponse) from ChargePoint;
    Authorize(AuthorizeRequest, AuthorizeResponse) from ChargePoint;
    StartTransaction(StartTransactionRequest, StartTransactionResponse) from ChargePoint;
    StopTransaction(StopTransactionRequest, StopTransactionResponse) from ChargePoint;
    MeterValues(MeterValuesRequest, MeterValuesResponse) from ChargePoint;
    DataTransfer(DataTransferRequest, DataTransferResponse) from ChargePoint;
    DiagnosticsStatusNotification(DiagnosticsStatusNotificationRequest, DiagnosticsStatusNotificationResponse) from ChargePoint;
    FirmwareStatusNotification(FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse) from ChargePoint;
    RemoteStartTransaction(RemoteStartTransactionRequest, RemoteStartTransactionResponse) from CentralSystem;
    RemoteStopTransaction(RemoteStopTransactionRequest, RemoteStopTransactionResponse) from CentralSystem;
    SetChargingProfile(SetChargingProfileRequest, SetChargingProfileResponse) from CentralSystem;
    ClearChargingProfile(ClearChargingProfileRequest, ClearChargingProfileResponse) from CentralSystem;
    GetCompositeSchedule(GetCompositeScheduleRequest, GetCompositeScheduleResponse) from CentralSystem;
    ChangeConfiguration(ChangeConfigurationRequest, ChangeConfigurationResponse) from CentralSystem;
    GetConfiguration(GetConfigurationRequest, GetConfigurationResponse) from CentralSystem;
    TriggerMessage(TriggerMessageRequest, TriggerMessageResponse) from CentralSystem;
    Reset(ResetRequest, ResetResponse) from CentralSystem;
    ChangeAvailability(ChangeAvailabilityRequest, ChangeAvailabilityResponse) from CentralSystem;
    UnlockConnector(UnlockConnectorRequest, UnlockConnectorResponse) from CentralSystem;
}

/// OCPP 1.6 actions (core profiles and the security whitepaper) that this crate does
/// not type. They are answered `NotSupported` ("recognised but not supported"), while
/// names OCPP 1.6 does not define at all get `NotImplemented` ("not known").
pub const UNTYPED_ACTIONS: &[&str] = &[
    "CancelReservation",
    "ClearCache",
    "GetDiagnostics",
    "GetLocalListVersion",
    "ReserveNow",
    "SendLocalList",
    "UpdateFirmware",
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
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
/// Unknown actions give `NotImplemented`, untyped 1.6 actions `NotSupported`; a payload
/// that breaks the schema gives the matching constraint violation.
pub fn parse_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
    let action = known_action(action)?;
    require_object(payload)?;
    read_request(action, payload)
}

/// Like [`parse_request`], for a `CALL` received from a charger: actions only Coupler
/// may send (`Reset`, `RemoteStartTransaction`, ...) give `NotSupported`.
pub fn parse_charge_point_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
    let typed = known_action(action)?;
    if typed.initiator() != Initiator::ChargePoint {
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
