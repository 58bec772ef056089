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

crate::actions::ocpp_actions! {
    version = "2.0.1";
    untyped = UNTYPED_ACTIONS;
    request_suffix = "Request";
    response_suffix = "Response";
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
    ReservationStatusUpdate(ReservationStatusUpdateRequest, ReservationStatusUpdateResponse) from ChargingStation;
    DataTransfer(DataTransferRequest, DataTransferResponse) from ChargingStation;
    SignCertificate(SignCertificateRequest, SignCertificateResponse) from ChargingStation;
    Get15118EVCertificate(Get15118EvCertificateRequest, Get15118EvCertificateResponse) from ChargingStation;
    GetCertificateStatus(GetCertificateStatusRequest, GetCertificateStatusResponse) from ChargingStation;
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
    ClearCache(ClearCacheRequest, ClearCacheResponse) from Csms;
    GetLog(GetLogRequest, GetLogResponse) from Csms;
    UpdateFirmware(UpdateFirmwareRequest, UpdateFirmwareResponse) from Csms;
    ReserveNow(ReserveNowRequest, ReserveNowResponse) from Csms;
    CancelReservation(CancelReservationRequest, CancelReservationResponse) from Csms;
    CertificateSigned(CertificateSignedRequest, CertificateSignedResponse) from Csms;
    SendLocalList(SendLocalListRequest, SendLocalListResponse) from Csms;
    GetLocalListVersion(GetLocalListVersionRequest, GetLocalListVersionResponse) from Csms;
    InstallCertificate(InstallCertificateRequest, InstallCertificateResponse) from Csms;
    GetInstalledCertificateIds(GetInstalledCertificateIdsRequest, GetInstalledCertificateIdsResponse) from Csms;
    DeleteCertificate(DeleteCertificateRequest, DeleteCertificateResponse) from Csms;
}

/// OCPP 2.0.1 actions that this crate does not type. They are answered `NotSupported`
/// ("recognised but not supported"), while names 2.0.1 does not define get `NotImplemented`.
pub const UNTYPED_ACTIONS: &[&str] = &[
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "ClearedChargingLimit",
    "CostUpdated",
    "CustomerInformation",
    "GetChargingProfiles",
    "GetDisplayMessages",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyMonitoringReport",
    "PublishFirmware",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "UnpublishFirmware",
];

/// Like [`parse_request`], for a `CALL` received from a charger: actions only Coupler
/// may send (`Reset`, `RequestStartTransaction`, ...) give `NotSupported`.
pub fn parse_station_request(action: &str, payload: &Value) -> Result<Request, ValidationError> {
    let typed = known_action(action)?;
    if typed.initiator() != Initiator::ChargingStation {
        return Err(unsupported(typed.as_str()));
    }
    parse_request(action, payload)
}

#[cfg(test)]
mod tests;
