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

crate::actions::ocpp_actions! {
    version = "1.6";
    untyped = UNTYPED_ACTIONS;
    request_suffix = ".req";
    response_suffix = ".conf";
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
    SecurityEventNotification(SecurityEventNotificationRequest, SecurityEventNotificationResponse) from ChargePoint;
    SignCertificate(SignCertificateRequest, SignCertificateResponse) from ChargePoint;
    LogStatusNotification(LogStatusNotificationRequest, LogStatusNotificationResponse) from ChargePoint;
    SignedFirmwareStatusNotification(SignedFirmwareStatusNotificationRequest, SignedFirmwareStatusNotificationResponse) from ChargePoint;
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
    ClearCache(ClearCacheRequest, ClearCacheResponse) from CentralSystem;
    GetDiagnostics(GetDiagnosticsRequest, GetDiagnosticsResponse) from CentralSystem;
    UpdateFirmware(UpdateFirmwareRequest, UpdateFirmwareResponse) from CentralSystem;
    ReserveNow(ReserveNowRequest, ReserveNowResponse) from CentralSystem;
    CancelReservation(CancelReservationRequest, CancelReservationResponse) from CentralSystem;
    CertificateSigned(CertificateSignedRequest, CertificateSignedResponse) from CentralSystem;
    SendLocalList(SendLocalListRequest, SendLocalListResponse) from CentralSystem;
    GetLocalListVersion(GetLocalListVersionRequest, GetLocalListVersionResponse) from CentralSystem;
    InstallCertificate(InstallCertificateRequest, InstallCertificateResponse) from CentralSystem;
    GetInstalledCertificateIds(GetInstalledCertificateIdsRequest, GetInstalledCertificateIdsResponse) from CentralSystem;
    DeleteCertificate(DeleteCertificateRequest, DeleteCertificateResponse) from CentralSystem;
    ExtendedTriggerMessage(ExtendedTriggerMessageRequest, ExtendedTriggerMessageResponse) from CentralSystem;
    GetLog(GetLogRequest, GetLogResponse) from CentralSystem;
    SignedUpdateFirmware(SignedUpdateFirmwareRequest, SignedUpdateFirmwareResponse) from CentralSystem;
}

/// OCPP 1.6 actions (core profiles and the security whitepaper) that this crate does
/// not type: none any more (every one is typed). An untyped action would be answered
/// `NotSupported` ("recognised but not supported"), while names OCPP 1.6 does not define at
/// all get `NotImplemented` ("not known").
pub const UNTYPED_ACTIONS: &[&str] = &[];

/// Like [`parse_request`], for a `CALL` received from a charger: actions only Coupler
/// may send (`Reset`, `RemoteStartTransaction`, ...) give `NotSupported`.
pub fn parse_charge_point_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
    let typed = known_action(action)?;
    if typed.initiator() != Initiator::ChargePoint {
        return Err(unsupported(typed.as_str()));
    }
    parse_request(action, payload)
}

#[cfg(test)]
mod tests;
