//! OCPP 2.0.1 request and response payloads, one struct each, fields as in the official 2.0.1
//! JSON schemas (names, types, lengths, required/optional). Every class also accepts `customData`.

use chrono::{DateTime, Utc};

use super::types::*;
use crate::json;

// ---- Sent by the charging station. ----

object201! {
    /// `BootNotificationRequest`: the station introduces itself after (re)booting.
    pub struct BootNotificationRequest {
        /// The station.
        charging_station: ChargingStation = "chargingStation",
        /// Why it booted.
        reason: BootReason = "reason",
    }
}

object201! {
    /// `BootNotificationResponse`.
    pub struct BootNotificationResponse {
        /// The CSMS's clock.
        current_time: DateTime<Utc> = "currentTime",
        /// Heartbeat interval in seconds when accepted; retry delay otherwise.
        interval: i32 = "interval",
        /// Whether the station is accepted.
        status: RegistrationStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `HeartbeatRequest` (empty).
    pub struct HeartbeatRequest {}
}

object201! {
    /// `HeartbeatResponse`.
    pub struct HeartbeatResponse {
        /// The CSMS's clock.
        current_time: DateTime<Utc> = "currentTime",
    }
}

object201! {
    /// `StatusNotificationRequest`: the status of one connector of one EVSE.
    pub struct StatusNotificationRequest {
        /// When the status changed.
        timestamp: DateTime<Utc> = "timestamp",
        /// The status.
        connector_status: ConnectorStatus = "connectorStatus",
        /// EVSE.
        evse_id: i32 = "evseId",
        /// Connector of the EVSE.
        connector_id: i32 = "connectorId",
    }
}

object201! {
    /// `StatusNotificationResponse` (empty).
    pub struct StatusNotificationResponse {}
}

object201! {
    /// `TransactionEventRequest`: a transaction started, changed or ended.
    pub struct TransactionEventRequest {
        /// Started, Updated or Ended.
        event_type: TransactionEventType = "eventType",
        /// Readings taken with the event.
        meter_value: Option<Vec<MeterValue>> = "meterValue" [json_non_empty_opt],
        /// When it happened.
        timestamp: DateTime<Utc> = "timestamp",
        /// What made the station send it.
        trigger_reason: TriggerReason = "triggerReason",
        /// Sequence number within the transaction, for ordering and de-duplication.
        seq_no: i32 = "seqNo",
        /// Whether it happened while the station was offline (sent late).
        offline: Option<bool> = "offline",
        /// Phases used.
        number_of_phases_used: Option<i32> = "numberOfPhasesUsed",
        /// Cable's current limit, A.
        cable_max_current: Option<i32> = "cableMaxCurrent",
        /// Reservation the transaction ends.
        reservation_id: Option<i32> = "reservationId",
        /// The transaction.
        transaction_info: Transaction = "transactionInfo",
        /// EVSE and connector (required in the first event of a transaction).
        evse: Option<Evse> = "evse",
        /// The id token that authorised it.
        id_token: Option<IdToken> = "idToken",
    }
}

object201! {
    /// `TransactionEventResponse`.
    pub struct TransactionEventResponse {
        /// Cost so far.
        total_cost: Option<f64> = "totalCost",
        /// Priority of this transaction's charging.
        charging_priority: Option<i32> = "chargingPriority",
        /// Verdict on the id token, when one was sent.
        id_token_info: Option<IdTokenInfo> = "idTokenInfo",
        /// A message for the driver.
        updated_personal_message: Option<MessageContent> = "updatedPersonalMessage",
    }
}

object201! {
    /// `MeterValuesRequest`: readings outside a transaction (or of the main meter).
    pub struct MeterValuesRequest {
        /// EVSE, 0 for the main meter.
        evse_id: i32 = "evseId",
        /// The readings (`minItems: 1`).
        meter_value: Vec<MeterValue> = "meterValue" [json::non_empty],
    }
}

object201! {
    /// `MeterValuesResponse` (empty).
    pub struct MeterValuesResponse {}
}

object201! {
    /// `AuthorizeRequest`: may this id token charge?
    pub struct AuthorizeRequest {
        /// The token.
        id_token: IdToken = "idToken",
        /// The EV's contract certificate (Plug & Charge).
        certificate: Option<CiString5500> = "certificate",
        /// Certificates to check by OCSP (1 to 4).
        iso15118_certificate_hash_data: Option<Vec<OcspRequestData>> = "iso15118CertificateHashData" [json_non_empty_opt],
    }
}

object201! {
    /// `AuthorizeResponse`.
    pub struct AuthorizeResponse {
        /// The verdict.
        id_token_info: IdTokenInfo = "idTokenInfo",
        /// Verdict on the certificate.
        certificate_status: Option<AuthorizeCertificateStatus> = "certificateStatus",
    }
}

object201! {
    /// `NotifyEventRequest`: events of the device model (alerts, faults, changes).
    pub struct NotifyEventRequest {
        /// When the message was made.
        generated_at: DateTime<Utc> = "generatedAt",
        /// More parts follow.
        tbc: Option<bool> = "tbc",
        /// Part number.
        seq_no: i32 = "seqNo",
        /// The events (`minItems: 1`).
        event_data: Vec<EventData> = "eventData" [json::non_empty],
    }
}

object201! {
    /// `NotifyEventResponse` (empty).
    pub struct NotifyEventResponse {}
}

object201! {
    /// `NotifyReportRequest`: part of a report asked for with GetBaseReport.
    pub struct NotifyReportRequest {
        /// The request it answers.
        request_id: i32 = "requestId",
        /// When the message was made.
        generated_at: DateTime<Utc> = "generatedAt",
        /// The variables.
        report_data: Option<Vec<ReportData>> = "reportData" [json_non_empty_opt],
        /// More parts follow.
        tbc: Option<bool> = "tbc",
        /// Part number.
        seq_no: i32 = "seqNo",
    }
}

object201! {
    /// `NotifyReportResponse` (empty).
    pub struct NotifyReportResponse {}
}

object201! {
    /// `SecurityEventNotificationRequest`.
    pub struct SecurityEventNotificationRequest {
        /// Kind of security event (`FirmwareUpdated`, `TamperDetectionActivated`, ...).
        kind: CiString50 = "type",
        /// When it happened.
        timestamp: DateTime<Utc> = "timestamp",
        /// Technical detail.
        tech_info: Option<CiString255> = "techInfo",
    }
}

object201! {
    /// `SecurityEventNotificationResponse` (empty).
    pub struct SecurityEventNotificationResponse {}
}

object201! {
    /// `FirmwareStatusNotificationRequest`.
    pub struct FirmwareStatusNotificationRequest {
        /// Progress of a firmware update.
        status: FirmwareStatus = "status",
        /// The UpdateFirmware request it belongs to.
        request_id: Option<i32> = "requestId",
    }
}

object201! {
    /// `FirmwareStatusNotificationResponse` (empty).
    pub struct FirmwareStatusNotificationResponse {}
}

object201! {
    /// `LogStatusNotificationRequest`.
    pub struct LogStatusNotificationRequest {
        /// Progress of a log upload.
        status: UploadLogStatus = "status",
        /// The GetLog request it belongs to.
        request_id: Option<i32> = "requestId",
    }
}

object201! {
    /// `LogStatusNotificationResponse` (empty).
    pub struct LogStatusNotificationResponse {}
}

object201! {
    /// `ReservationStatusUpdateRequest`: a reservation ended without being used.
    pub struct ReservationStatusUpdateRequest {
        /// The reservation.
        reservation_id: i32 = "reservationId",
        /// Expired, or removed by the station.
        reservation_update_status: ReservationUpdateStatus = "reservationUpdateStatus",
    }
}

object201! {
    /// `ReservationStatusUpdateResponse` (empty).
    pub struct ReservationStatusUpdateResponse {}
}

object201! {
    /// `DataTransferRequest`: vendor-specific data (either direction).
    pub struct DataTransferRequest {
        /// Vendor-specific message id.
        message_id: Option<CiString50> = "messageId",
        /// Free-form data (any JSON).
        data: Option<serde_json::Value> = "data",
        /// Vendor identifier.
        vendor_id: CiString255 = "vendorId",
    }
}

object201! {
    /// `DataTransferResponse`.
    pub struct DataTransferResponse {
        /// Whether the data was understood.
        status: DataTransferStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
        /// Free-form answer data (any JSON).
        data: Option<serde_json::Value> = "data",
    }
}

// ---- Sent by the CSMS (Coupler). ----

object201! {
    /// `RequestStartTransactionRequest`.
    pub struct RequestStartTransactionRequest {
        /// EVSE to start on; the station chooses when absent.
        evse_id: Option<i32> = "evseId",
        /// Coupler's id for this request, echoed in the TransactionEvent that follows.
        remote_start_id: i32 = "remoteStartId",
        /// Token to start with.
        id_token: IdToken = "idToken",
        /// A `TxProfile` for the new transaction.
        charging_profile: Option<ChargingProfile> = "chargingProfile",
        /// The token's group.
        group_id_token: Option<IdToken> = "groupIdToken",
    }
}

object201! {
    /// `RequestStartTransactionResponse`.
    pub struct RequestStartTransactionResponse {
        /// Whether the station will try to start.
        status: RequestStartStopStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
        /// The transaction, when one already ran (the cable was plugged in first).
        transaction_id: Option<CiString36> = "transactionId",
    }
}

object201! {
    /// `RequestStopTransactionRequest`.
    pub struct RequestStopTransactionRequest {
        /// The station's id of the transaction.
        transaction_id: CiString36 = "transactionId",
    }
}

object201! {
    /// `RequestStopTransactionResponse`.
    pub struct RequestStopTransactionResponse {
        /// Whether the station will try to stop.
        status: RequestStartStopStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `SetChargingProfileRequest`. The schema cannot say everything: see
    /// [`SetChargingProfileRequest::check_rules`].
    pub struct SetChargingProfileRequest {
        /// EVSE, 0 for the whole station.
        evse_id: i32 = "evseId",
        /// The profile.
        charging_profile: ChargingProfile = "chargingProfile",
    }
}

object201! {
    /// `SetChargingProfileResponse`.
    pub struct SetChargingProfileResponse {
        /// Whether the profile was installed.
        status: ChargingProfileStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `ClearChargingProfileRequest`: remove the profile with this id, or those matching the criteria.
    pub struct ClearChargingProfileRequest {
        /// Profile id.
        charging_profile_id: Option<i32> = "chargingProfileId",
        /// Criteria.
        charging_profile_criteria: Option<ClearChargingProfileCriteria> = "chargingProfileCriteria",
    }
}

object201! {
    /// `ClearChargingProfileResponse`.
    pub struct ClearChargingProfileResponse {
        /// `Unknown` when nothing matched.
        status: ClearChargingProfileStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `GetCompositeScheduleRequest`.
    pub struct GetCompositeScheduleRequest {
        /// Seconds ahead.
        duration: i32 = "duration",
        /// Unit wanted.
        charging_rate_unit: Option<ChargingRateUnit> = "chargingRateUnit",
        /// EVSE, 0 for the grid connection.
        evse_id: i32 = "evseId",
    }
}

object201! {
    /// `GetCompositeScheduleResponse`.
    pub struct GetCompositeScheduleResponse {
        /// Whether a schedule could be computed.
        status: GenericStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
        /// The schedule.
        schedule: Option<CompositeSchedule> = "schedule",
    }
}

object201! {
    /// `SetVariablesRequest`.
    pub struct SetVariablesRequest {
        /// Values to set (`minItems: 1`).
        set_variable_data: Vec<SetVariableData> = "setVariableData" [json::non_empty],
    }
}

object201! {
    /// `SetVariablesResponse`.
    pub struct SetVariablesResponse {
        /// One result per value (`minItems: 1`).
        set_variable_result: Vec<SetVariableResult> = "setVariableResult" [json::non_empty],
    }
}

object201! {
    /// `GetVariablesRequest`.
    pub struct GetVariablesRequest {
        /// Values to read (`minItems: 1`).
        get_variable_data: Vec<GetVariableData> = "getVariableData" [json::non_empty],
    }
}

object201! {
    /// `GetVariablesResponse`.
    pub struct GetVariablesResponse {
        /// One result per value (`minItems: 1`).
        get_variable_result: Vec<GetVariableResult> = "getVariableResult" [json::non_empty],
    }
}

object201! {
    /// `GetBaseReportRequest`: ask for a report, sent in NotifyReport messages.
    pub struct GetBaseReportRequest {
        /// Id echoed by the NotifyReports.
        request_id: i32 = "requestId",
        /// Which report.
        report_base: ReportBase = "reportBase",
    }
}

object201! {
    /// `GetBaseReportResponse`.
    pub struct GetBaseReportResponse {
        /// Whether the report will be sent.
        status: GenericDeviceModelStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `TriggerMessageRequest`.
    pub struct TriggerMessageRequest {
        /// EVSE it concerns, when relevant.
        evse: Option<Evse> = "evse",
        /// The message wanted.
        requested_message: MessageTrigger = "requestedMessage",
    }
}

object201! {
    /// `TriggerMessageResponse`.
    pub struct TriggerMessageResponse {
        /// Whether the message will be sent.
        status: TriggerMessageStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `ResetRequest`.
    pub struct ResetRequest {
        /// Now, or once idle.
        kind: ResetKind = "type",
        /// Only this EVSE.
        evse_id: Option<i32> = "evseId",
    }
}

object201! {
    /// `ResetResponse`.
    pub struct ResetResponse {
        /// Whether the reset will happen.
        status: ResetStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `ChangeAvailabilityRequest`.
    pub struct ChangeAvailabilityRequest {
        /// EVSE (and connector); the whole station when absent.
        evse: Option<Evse> = "evse",
        /// Availability wanted.
        operational_status: OperationalStatus = "operationalStatus",
    }
}

object201! {
    /// `ChangeAvailabilityResponse`.
    pub struct ChangeAvailabilityResponse {
        /// `Scheduled` when it applies after the running transaction.
        status: ChangeAvailabilityStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `UnlockConnectorRequest`.
    pub struct UnlockConnectorRequest {
        /// EVSE.
        evse_id: i32 = "evseId",
        /// Connector of the EVSE.
        connector_id: i32 = "connectorId",
    }
}

object201! {
    /// `UnlockConnectorResponse`.
    pub struct UnlockConnectorResponse {
        /// Outcome.
        status: UnlockStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `ClearCacheRequest` (empty): clear the authorisation cache.
    pub struct ClearCacheRequest {}
}

object201! {
    /// `ClearCacheResponse`.
    pub struct ClearCacheResponse {
        /// Whether the cache was cleared.
        status: ClearCacheStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `GetLogRequest`: upload a log to a URL.
    pub struct GetLogRequest {
        /// Where to, and which period.
        log: LogParameters = "log",
        /// Which log.
        log_type: LogKind = "logType",
        /// Id echoed by the LogStatusNotifications.
        request_id: i32 = "requestId",
        /// How many times to try before giving up.
        retries: Option<i32> = "retries",
        /// Seconds between attempts.
        retry_interval: Option<i32> = "retryInterval",
    }
}

object201! {
    /// `GetLogResponse`.
    pub struct GetLogResponse {
        /// Whether the upload will happen.
        status: LogStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
        /// The file that will be uploaded.
        filename: Option<CiString255> = "filename",
    }
}

object201! {
    /// `UpdateFirmwareRequest`: download and install a firmware.
    pub struct UpdateFirmwareRequest {
        /// How many times to try the download before giving up.
        retries: Option<i32> = "retries",
        /// Seconds between attempts.
        retry_interval: Option<i32> = "retryInterval",
        /// Id echoed by the FirmwareStatusNotifications.
        request_id: i32 = "requestId",
        /// The firmware.
        firmware: Firmware = "firmware",
    }
}

object201! {
    /// `UpdateFirmwareResponse`.
    pub struct UpdateFirmwareResponse {
        /// Whether the update will happen.
        status: UpdateFirmwareStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `ReserveNowRequest`: reserve an EVSE (or any) for an id token until `expiry_date_time`.
    pub struct ReserveNowRequest {
        /// The reservation's id, chosen by the CSMS.
        id: i32 = "id",
        /// When the reservation ends.
        expiry_date_time: DateTime<Utc> = "expiryDateTime",
        /// Any EVSE with this kind of connector.
        connector_type: Option<ConnectorKind> = "connectorType",
        /// The token it is for.
        id_token: IdToken = "idToken",
        /// The EVSE; any when absent.
        evse_id: Option<i32> = "evseId",
        /// The token's group, which may use it too.
        group_id_token: Option<IdToken> = "groupIdToken",
    }
}

object201! {
    /// `ReserveNowResponse`.
    pub struct ReserveNowResponse {
        /// Whether the reservation was made, or why not.
        status: ReserveNowStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `CancelReservationRequest`.
    pub struct CancelReservationRequest {
        /// The reservation to cancel.
        reservation_id: i32 = "reservationId",
    }
}

object201! {
    /// `CancelReservationResponse`.
    pub struct CancelReservationResponse {
        /// Whether it was cancelled (`Rejected`: no such reservation).
        status: CancelReservationStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

// ---- Certificates (2.0.1 functional blocks A and M). ----

object201! {
    /// `SignCertificateRequest`: the station asks for its key to be certified.
    pub struct SignCertificateRequest {
        /// A PEM-encoded certificate signing request (RFC 2986).
        csr: CiString5500 = "csr",
        /// Which certificate; `ChargingStationCertificate` when absent.
        certificate_type: Option<CertificateSigningUse> = "certificateType",
    }
}

object201! {
    /// `SignCertificateResponse`: whether the request will be processed; the certificate follows
    /// in a CertificateSigned.
    pub struct SignCertificateResponse {
        /// Accepted or Rejected.
        status: GenericStatus = "status",
        /// Why.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `CertificateSignedRequest`: the signed certificate, with the chain up to the CA.
    pub struct CertificateSignedRequest {
        /// PEM certificates, the station's own first.
        certificate_chain: CiString10000 = "certificateChain",
        /// Which certificate it is.
        certificate_type: Option<CertificateSigningUse> = "certificateType",
    }
}

object201! {
    /// `CertificateSignedResponse`.
    pub struct CertificateSignedResponse {
        /// Whether the station installed it.
        status: CertificateSignedStatus = "status",
        /// Why.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `Get15118EVCertificateRequest`: an EV's ISO 15118 certificate installation or update
    /// request, passed on by the station.
    pub struct Get15118EvCertificateRequest {
        /// The ISO 15118 schema version of the EV's session.
        iso15118_schema_version: CiString50 = "iso15118SchemaVersion",
        /// Install or update.
        action: CertificateAction = "action",
        /// The EV's CertificateInstallationReq, base64 EXI.
        exi_request: CiString5600 = "exiRequest",
    }
}

object201! {
    /// `Get15118EVCertificateResponse`.
    pub struct Get15118EvCertificateResponse {
        /// Accepted or Failed.
        status: Iso15118EvCertificateStatus = "status",
        /// Why.
        status_info: Option<StatusInfo> = "statusInfo",
        /// The CertificateInstallationRes for the EV, base64 EXI (empty when failed).
        exi_response: CiString7500 = "exiResponse",
    }
}

object201! {
    /// `GetCertificateStatusRequest`: the station asks for a certificate's OCSP status.
    pub struct GetCertificateStatusRequest {
        /// The certificate and the responder to ask.
        ocsp_request_data: OcspRequestData = "ocspRequestData",
    }
}

object201! {
    /// `GetCertificateStatusResponse`.
    pub struct GetCertificateStatusResponse {
        /// Accepted or Failed.
        status: GetCertificateStatus = "status",
        /// Why.
        status_info: Option<StatusInfo> = "statusInfo",
        /// The DER OCSP response, base64 (absent when failed).
        ocsp_result: Option<CiString5500> = "ocspResult",
    }
}

impl SetChargingProfileRequest {
    /// The smart-charging rules the schema cannot express (OCPP 2.0.1 K01): the first period
    /// starts at 0 and periods increase; a `ChargingStationMaxProfile` is for EVSE 0 and not
    /// relative; a `TxProfile` is for an EVSE > 0 and names its transaction; absolute and
    /// recurring schedules have a start, relative ones none; a recurring profile says how it
    /// recurs; `validFrom` comes before `validTo`.
    pub fn check_rules(&self) -> Result<(), crate::ValidationError> {
        use crate::ErrorCode::{OccurrenceConstraintViolation as Missing, PropertyConstraintViolation as Bad};
        let refuse = |code, path: &str, why: &str| Err(crate::ValidationError::new(code, path, why));
        let profile = &self.charging_profile;
        match profile.charging_profile_purpose {
            ChargingProfilePurpose::ChargingStationMaxProfile => {
                if self.evse_id != 0 {
                    return refuse(Bad, "evseId", "a ChargingStationMaxProfile is set on EVSE 0");
                }
                if profile.charging_profile_kind == ChargingProfileKind::Relative {
                    return refuse(
                        Bad,
                        "chargingProfile.chargingProfileKind",
                        "a ChargingStationMaxProfile cannot be Relative",
                    );
                }
            }
            ChargingProfilePurpose::TxProfile => {
                if self.evse_id <= 0 {
                    return refuse(Bad, "evseId", "a TxProfile is set on an EVSE greater than 0");
                }
                if profile.transaction_id.is_none() {
                    return refuse(
                        Missing,
                        "chargingProfile.transactionId",
                        "a TxProfile names its transaction",
                    );
                }
            }
            ChargingProfilePurpose::TxDefaultProfile | ChargingProfilePurpose::ChargingStationExternalConstraints => {
                if self.evse_id < 0 {
                    return refuse(Bad, "evseId", "must not be negative");
                }
            }
        }
        if profile.charging_profile_kind == ChargingProfileKind::Recurring && profile.recurrency_kind.is_none() {
            return refuse(
                Missing,
                "chargingProfile.recurrencyKind",
                "a Recurring profile says how it recurs",
            );
        }
        if let (Some(from), Some(to)) = (profile.valid_from, profile.valid_to) {
            if from >= to {
                return refuse(Bad, "chargingProfile.validTo", "must come after validFrom");
            }
        }
        for (i, schedule) in profile.charging_schedule.iter().enumerate() {
            let path = format!("chargingProfile.chargingSchedule[{i}]");
            let relative = profile.charging_profile_kind == ChargingProfileKind::Relative;
            match (relative, schedule.start_schedule.is_some()) {
                (true, true) => {
                    return refuse(Bad, &format!("{path}.startSchedule"), "a Relative profile has no start")
                }
                (false, false) => {
                    return refuse(
                        Missing,
                        &format!("{path}.startSchedule"),
                        "Absolute and Recurring profiles need a start",
                    )
                }
                _ => {}
            }
            let periods = &schedule.charging_schedule_period;
            if periods.first().is_some_and(|p| p.start_period != 0) {
                return refuse(
                    Bad,
                    &format!("{path}.chargingSchedulePeriod[0].startPeriod"),
                    "the first period starts at 0",
                );
            }
            if let Some(k) = periods.windows(2).position(|w| w[1].start_period <= w[0].start_period) {
                return refuse(
                    Bad,
                    &format!("{path}.chargingSchedulePeriod[{}].startPeriod", k + 1),
                    "periods must start in increasing order",
                );
            }
            if periods.iter().any(|p| !p.limit.is_finite() || p.limit < 0.0) {
                return refuse(Bad, &format!("{path}.chargingSchedulePeriod"), "limits are 0 or more");
            }
        }
        Ok(())
    }
}

object201! {
    /// `AuthorizationData`: one entry of a local authorisation list; without `idTokenInfo` (in a
    /// differential update) it removes the token.
    pub struct AuthorizationData {
        /// The token.
        id_token: IdToken = "idToken",
        /// What the CSMS says about it.
        id_token_info: Option<IdTokenInfo> = "idTokenInfo",
    }
}

object201! {
    /// `SendLocalListRequest`: replace (`Full`) or change (`Differential`) the local list.
    pub struct SendLocalListRequest {
        /// The version the list has after the update (above 0).
        version_number: i32 = "versionNumber",
        /// Full or differential.
        update_type: UpdateType = "updateType",
        /// The entries (`minItems: 1` when present).
        local_authorization_list: Option<Vec<AuthorizationData>> = "localAuthorizationList" [json_non_empty_opt],
    }
}

object201! {
    /// `SendLocalListResponse`.
    pub struct SendLocalListResponse {
        /// Whether the list was updated, or why not.
        status: SendLocalListStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `GetLocalListVersionRequest` (empty).
    pub struct GetLocalListVersionRequest {}
}

object201! {
    /// `GetLocalListVersionResponse`.
    pub struct GetLocalListVersionResponse {
        /// The list's version (0: no list).
        version_number: i32 = "versionNumber",
    }
}

object201! {
    /// `CertificateHashDataType`: names one certificate by its issuer and serial number.
    pub struct CertificateHashData {
        /// The hash algorithm of the two hashes.
        hash_algorithm: HashAlgorithm = "hashAlgorithm",
        /// Hash of the issuer's distinguished name.
        issuer_name_hash: CiString128 = "issuerNameHash",
        /// Hash of the issuer's public key.
        issuer_key_hash: CiString128 = "issuerKeyHash",
        /// The certificate's serial number.
        serial_number: CiString<40> = "serialNumber",
    }
}

object201! {
    /// `CertificateHashDataChainType`: an installed certificate and the ones it issued.
    pub struct CertificateHashDataChain {
        /// Its hash data.
        certificate_hash_data: CertificateHashData = "certificateHashData",
        /// Which kind it is.
        certificate_type: GetCertificateIdUse = "certificateType",
        /// The sub-CA certificates below it (1 to 4).
        child_certificate_hash_data: Option<Vec<CertificateHashData>> = "childCertificateHashData" [one_to_four],
    }
}

/// `minItems: 1, maxItems: 4` on an optional array.
fn one_to_four<T>(items: &Option<Vec<T>>, path: &str) -> Result<(), crate::ValidationError> {
    json_non_empty_opt(items, path)?;
    match items {
        Some(items) if items.len() > 4 => Err(crate::ValidationError::new(
            crate::ErrorCode::OccurrenceConstraintViolation,
            path,
            "must hold at most 4 items",
        )),
        _ => Ok(()),
    }
}

object201! {
    /// `InstallCertificateRequest`: install a root certificate.
    pub struct InstallCertificateRequest {
        /// Which kind of root certificate it is.
        certificate_type: InstallCertificateUse = "certificateType",
        /// The PEM-encoded X.509 certificate.
        certificate: CiString5500 = "certificate",
    }
}

object201! {
    /// `InstallCertificateResponse`.
    pub struct InstallCertificateResponse {
        /// Whether it was installed.
        status: InstallCertificateStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}

object201! {
    /// `GetInstalledCertificateIdsRequest`: list the installed certificates of the kinds given
    /// (every kind when none is).
    pub struct GetInstalledCertificateIdsRequest {
        /// The kinds (`minItems: 1`).
        certificate_type: Option<Vec<GetCertificateIdUse>> = "certificateType" [json_non_empty_opt],
    }
}

object201! {
    /// `GetInstalledCertificateIdsResponse`.
    pub struct GetInstalledCertificateIdsResponse {
        /// `Accepted`, or `NotFound` when none is installed.
        status: GetInstalledCertificateStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
        /// The certificates found (`minItems: 1`).
        certificate_hash_data_chain: Option<Vec<CertificateHashDataChain>> = "certificateHashDataChain" [json_non_empty_opt],
    }
}

object201! {
    /// `DeleteCertificateRequest`: delete the installed certificate the hash data names.
    pub struct DeleteCertificateRequest {
        /// The certificate.
        certificate_hash_data: CertificateHashData = "certificateHashData",
    }
}

object201! {
    /// `DeleteCertificateResponse`.
    pub struct DeleteCertificateResponse {
        /// `Accepted`, `Failed` or `NotFound`.
        status: DeleteCertificateStatus = "status",
        /// More about the status.
        status_info: Option<StatusInfo> = "statusInfo",
    }
}
