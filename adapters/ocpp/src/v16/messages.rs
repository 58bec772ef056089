//! OCPP 1.6 request and response payloads, one struct each, fields as in the
//! official 1.6 JSON schemas (names, types, lengths, required/optional).

use chrono::{DateTime, Utc};

use super::types::*;
use crate::json;

// ---- Sent by the charge point. ----

object! {
    /// `BootNotification.req`: the charge point introduces itself after (re)booting.
    pub struct BootNotificationRequest {
        /// Vendor name.
        charge_point_vendor: CiString20 = "chargePointVendor",
        /// Model name.
        charge_point_model: CiString20 = "chargePointModel",
        /// Serial number of the charge point.
        charge_point_serial_number: Option<CiString25> = "chargePointSerialNumber",
        /// Serial number of the charge box (deprecated by the spec in favour of the above).
        charge_box_serial_number: Option<CiString25> = "chargeBoxSerialNumber",
        /// Firmware version.
        firmware_version: Option<CiString50> = "firmwareVersion",
        /// ICCID of the modem's SIM card.
        iccid: Option<CiString20> = "iccid",
        /// IMSI of the modem's SIM card.
        imsi: Option<CiString20> = "imsi",
        /// Type of the main energy meter.
        meter_type: Option<CiString25> = "meterType",
        /// Serial number of the main energy meter.
        meter_serial_number: Option<CiString25> = "meterSerialNumber",
    }
}

object! {
    /// `BootNotification.conf`.
    pub struct BootNotificationResponse {
        /// Whether the charge point is accepted.
        status: RegistrationStatus = "status",
        /// The central system's clock, for the charge point to synchronise with.
        current_time: DateTime<Utc> = "currentTime",
        /// Heartbeat interval in seconds when accepted; retry delay otherwise.
        interval: i32 = "interval",
    }
}

object! {
    /// `Heartbeat.req` (empty).
    pub struct HeartbeatRequest {}
}

object! {
    /// `Heartbeat.conf`.
    pub struct HeartbeatResponse {
        /// The central system's clock.
        current_time: DateTime<Utc> = "currentTime",
    }
}

object! {
    /// `StatusNotification.req`: a connector's (or, for connector 0, the charge point's) status.
    pub struct StatusNotificationRequest {
        /// Connector, 0 for the charge point as a whole.
        connector_id: i32 = "connectorId",
        /// Error, `NoError` when none.
        error_code: ChargePointErrorCode = "errorCode",
        /// Free-form extra information about the error.
        info: Option<CiString50> = "info",
        /// The new status.
        status: ChargePointStatus = "status",
        /// When the status was reported (the charge point's clock).
        timestamp: Option<DateTime<Utc>> = "timestamp",
        /// Vendor of `vendor_error_code`.
        vendor_id: Option<CiString255> = "vendorId",
        /// Vendor-specific error code.
        vendor_error_code: Option<CiString50> = "vendorErrorCode",
    }
}

object! {
    /// `StatusNotification.conf` (empty).
    pub struct StatusNotificationResponse {}
}

object! {
    /// `Authorize.req`: may this id tag charge?
    pub struct AuthorizeRequest {
        /// The id tag (RFID uid, or `VID:<mac>` from AutoCharge chargers).
        id_tag: CiString20 = "idTag",
    }
}

object! {
    /// `Authorize.conf`.
    pub struct AuthorizeResponse {
        /// The verdict.
        id_tag_info: IdTagInfo = "idTagInfo",
    }
}

object! {
    /// `StartTransaction.req`: a transaction started on a connector.
    pub struct StartTransactionRequest {
        /// Connector (> 0).
        connector_id: i32 = "connectorId",
        /// Id tag that started it.
        id_tag: CiString20 = "idTag",
        /// Energy meter reading at the start, in Wh.
        meter_start: i32 = "meterStart",
        /// Reservation the transaction ends, if any.
        reservation_id: Option<i32> = "reservationId",
        /// When it started.
        timestamp: DateTime<Utc> = "timestamp",
    }
}

object! {
    /// `StartTransaction.conf`.
    pub struct StartTransactionResponse {
        /// Verdict on the id tag.
        id_tag_info: IdTagInfo = "idTagInfo",
        /// Transaction id allocated by the central system.
        transaction_id: i32 = "transactionId",
    }
}

object! {
    /// `StopTransaction.req`: a transaction ended.
    pub struct StopTransactionRequest {
        /// Id tag that stopped it, when stopped by a tag.
        id_tag: Option<CiString20> = "idTag",
        /// Energy meter reading at the end, in Wh.
        meter_stop: i32 = "meterStop",
        /// When it ended.
        timestamp: DateTime<Utc> = "timestamp",
        /// The transaction.
        transaction_id: i32 = "transactionId",
        /// Why it ended (`Local` when absent).
        reason: Option<Reason> = "reason",
        /// Meter values sampled during the transaction, for billing.
        transaction_data: Option<Vec<MeterValue>> = "transactionData",
    }
}

object! {
    /// `StopTransaction.conf`.
    pub struct StopTransactionResponse {
        /// Verdict on the id tag, when one was sent.
        id_tag_info: Option<IdTagInfo> = "idTagInfo",
    }
}

object! {
    /// `MeterValues.req`: meter readings of a connector.
    pub struct MeterValuesRequest {
        /// Connector, 0 for the main meter.
        connector_id: i32 = "connectorId",
        /// Transaction the values belong to.
        transaction_id: Option<i32> = "transactionId",
        /// The readings (`minItems: 1`, and each needs a sampled value).
        meter_value: Vec<MeterValue> = "meterValue" [meter_values_present],
    }
}

/// `minItems: 1` on `meterValue` and on each `sampledValue` of MeterValues (the
/// schema's rule; StopTransaction's `transactionData` has no such rule and is not checked).
fn meter_values_present(values: &[MeterValue], path: &str) -> Result<(), crate::ValidationError> {
    json::non_empty(values, path)?;
    values
        .iter()
        .enumerate()
        .try_for_each(|(i, value)| json::non_empty(&value.sampled_value, &format!("{path}[{i}].sampledValue")))
}

object! {
    /// `MeterValues.conf` (empty).
    pub struct MeterValuesResponse {}
}

object! {
    /// `DataTransfer.req`: vendor-specific data (either direction; Coupler receives it).
    pub struct DataTransferRequest {
        /// Vendor identifier.
        vendor_id: CiString255 = "vendorId",
        /// Vendor-specific message id.
        message_id: Option<CiString50> = "messageId",
        /// Free-form data.
        data: Option<String> = "data",
    }
}

object! {
    /// `DataTransfer.conf`.
    pub struct DataTransferResponse {
        /// Whether the data was understood.
        status: DataTransferStatus = "status",
        /// Free-form answer data.
        data: Option<String> = "data",
    }
}

object! {
    /// `DiagnosticsStatusNotification.req`.
    pub struct DiagnosticsStatusNotificationRequest {
        /// Progress of a diagnostics upload.
        status: DiagnosticsStatus = "status",
    }
}

object! {
    /// `DiagnosticsStatusNotification.conf` (empty).
    pub struct DiagnosticsStatusNotificationResponse {}
}

object! {
    /// `FirmwareStatusNotification.req`.
    pub struct FirmwareStatusNotificationRequest {
        /// Progress of a firmware update.
        status: FirmwareStatus = "status",
    }
}

object! {
    /// `FirmwareStatusNotification.conf` (empty).
    pub struct FirmwareStatusNotificationResponse {}
}

// ---- Sent by the central system (Coupler). ----

object! {
    /// `RemoteStartTransaction.req`: start a transaction as if `id_tag` had been presented.
    pub struct RemoteStartTransactionRequest {
        /// Connector to start on; the charge point chooses when absent.
        connector_id: Option<i32> = "connectorId",
        /// Id tag to start with.
        id_tag: CiString20 = "idTag",
        /// A `TxProfile` for the new transaction (no `transactionId` yet).
        charging_profile: Option<ChargingProfile> = "chargingProfile",
    }
}

object! {
    /// `RemoteStartTransaction.conf`.
    pub struct RemoteStartTransactionResponse {
        /// Whether the charge point will try to start.
        status: RemoteStartStopStatus = "status",
    }
}

object! {
    /// `RemoteStopTransaction.req`.
    pub struct RemoteStopTransactionRequest {
        /// Transaction to stop.
        transaction_id: i32 = "transactionId",
    }
}

object! {
    /// `RemoteStopTransaction.conf`.
    pub struct RemoteStopTransactionResponse {
        /// Whether the charge point will try to stop.
        status: RemoteStartStopStatus = "status",
    }
}

object! {
    /// `SetChargingProfile.req`: install a charging profile.
    pub struct SetChargingProfileRequest {
        /// Connector, 0 for the whole charge point.
        connector_id: i32 = "connectorId",
        /// The profile (the schema's name for the field).
        cs_charging_profiles: ChargingProfile = "csChargingProfiles",
    }
}

object! {
    /// `SetChargingProfile.conf`.
    pub struct SetChargingProfileResponse {
        /// Whether the profile was installed.
        status: ChargingProfileStatus = "status",
    }
}

object! {
    /// `ClearChargingProfile.req`: remove profiles matching every given criterion
    /// (all profiles when none is given).
    pub struct ClearChargingProfileRequest {
        /// Profile id.
        id: Option<i32> = "id",
        /// Connector, 0 for the charge point.
        connector_id: Option<i32> = "connectorId",
        /// Profile purpose.
        charging_profile_purpose: Option<ChargingProfilePurpose> = "chargingProfilePurpose",
        /// Stack level.
        stack_level: Option<i32> = "stackLevel",
    }
}

object! {
    /// `ClearChargingProfile.conf`.
    pub struct ClearChargingProfileResponse {
        /// `Unknown` when nothing matched.
        status: ClearChargingProfileStatus = "status",
    }
}

object! {
    /// `GetCompositeSchedule.req`: the schedule that results from all installed profiles.
    pub struct GetCompositeScheduleRequest {
        /// Connector, 0 for the grid connection of the whole charge point.
        connector_id: i32 = "connectorId",
        /// Seconds ahead to report.
        duration: i32 = "duration",
        /// Unit to report in.
        charging_rate_unit: Option<ChargingRateUnit> = "chargingRateUnit",
    }
}

object! {
    /// `GetCompositeSchedule.conf`.
    pub struct GetCompositeScheduleResponse {
        /// Whether a schedule could be computed.
        status: GetCompositeScheduleStatus = "status",
        /// Connector the schedule is for.
        connector_id: Option<i32> = "connectorId",
        /// Start of the reported period.
        schedule_start: Option<DateTime<Utc>> = "scheduleStart",
        /// The composite schedule.
        charging_schedule: Option<ChargingSchedule> = "chargingSchedule",
    }
}

object! {
    /// `ChangeConfiguration.req`.
    pub struct ChangeConfigurationRequest {
        /// Key to set.
        key: CiString50 = "key",
        /// New value.
        value: CiString500 = "value",
    }
}

object! {
    /// `ChangeConfiguration.conf`.
    pub struct ChangeConfigurationResponse {
        /// Outcome.
        status: ConfigurationStatus = "status",
    }
}

object! {
    /// `GetConfiguration.req`.
    pub struct GetConfigurationRequest {
        /// Keys to report; every key when absent.
        key: Option<Vec<CiString50>> = "key",
    }
}

object! {
    /// `GetConfiguration.conf`.
    pub struct GetConfigurationResponse {
        /// Known keys with their values.
        configuration_key: Option<Vec<KeyValue>> = "configurationKey",
        /// Requested keys the charge point does not know.
        unknown_key: Option<Vec<CiString50>> = "unknownKey",
    }
}

object! {
    /// `TriggerMessage.req`: ask the charge point to send a message now.
    pub struct TriggerMessageRequest {
        /// The message wanted.
        requested_message: MessageTrigger = "requestedMessage",
        /// Connector it concerns, when relevant.
        connector_id: Option<i32> = "connectorId",
    }
}

object! {
    /// `TriggerMessage.conf`.
    pub struct TriggerMessageResponse {
        /// Whether the message will be sent.
        status: TriggerMessageStatus = "status",
    }
}

object! {
    /// `Reset.req`.
    pub struct ResetRequest {
        /// Hard (power cycle) or soft (restart software) reset.
        kind: ResetType = "type",
    }
}

object! {
    /// `Reset.conf`.
    pub struct ResetResponse {
        /// Whether the reset will happen.
        status: ResetStatus = "status",
    }
}

object! {
    /// `ChangeAvailability.req`.
    pub struct ChangeAvailabilityRequest {
        /// Connector, 0 for the whole charge point.
        connector_id: i32 = "connectorId",
        /// Availability wanted.
        kind: AvailabilityType = "type",
    }
}

object! {
    /// `ChangeAvailability.conf`.
    pub struct ChangeAvailabilityResponse {
        /// `Scheduled` when it applies after the running transaction.
        status: AvailabilityStatus = "status",
    }
}

object! {
    /// `UnlockConnector.req`.
    pub struct UnlockConnectorRequest {
        /// Connector (> 0).
        connector_id: i32 = "connectorId",
    }
}

object! {
    /// `UnlockConnector.conf`.
    pub struct UnlockConnectorResponse {
        /// Outcome.
        status: UnlockStatus = "status",
    }
}

object! {
    /// `ClearCache.req` (empty): clear the authorisation cache.
    pub struct ClearCacheRequest {}
}

object! {
    /// `ClearCache.conf`.
    pub struct ClearCacheResponse {
        /// Whether the cache was cleared.
        status: ClearCacheStatus = "status",
    }
}

object! {
    /// `GetDiagnostics.req`: upload a diagnostics file to `location`.
    pub struct GetDiagnosticsRequest {
        /// Where to upload it (a URI).
        location: String = "location",
        /// How many times to try before giving up.
        retries: Option<i32> = "retries",
        /// Seconds between attempts.
        retry_interval: Option<i32> = "retryInterval",
        /// Oldest information to include.
        start_time: Option<DateTime<Utc>> = "startTime",
        /// Newest information to include.
        stop_time: Option<DateTime<Utc>> = "stopTime",
    }
}

object! {
    /// `GetDiagnostics.conf`.
    pub struct GetDiagnosticsResponse {
        /// The file that will be uploaded; absent when there is nothing to upload.
        file_name: Option<CiString255> = "fileName",
    }
}

object! {
    /// `UpdateFirmware.req`: download the firmware at `location` from `retrieve_date` on and install it.
    pub struct UpdateFirmwareRequest {
        /// Where the firmware is (a URI).
        location: String = "location",
        /// How many times to try the download before giving up.
        retries: Option<i32> = "retries",
        /// When to retrieve it.
        retrieve_date: DateTime<Utc> = "retrieveDate",
        /// Seconds between attempts.
        retry_interval: Option<i32> = "retryInterval",
    }
}

object! {
    /// `UpdateFirmware.conf` (empty: progress follows in FirmwareStatusNotification).
    pub struct UpdateFirmwareResponse {}
}

object! {
    /// `ReserveNow.req`: reserve a connector (0: any) for an id tag until `expiry_date`.
    pub struct ReserveNowRequest {
        /// Connector, 0 for any connector of the charge point.
        connector_id: i32 = "connectorId",
        /// When the reservation ends.
        expiry_date: DateTime<Utc> = "expiryDate",
        /// The id tag it is for.
        id_tag: CiString20 = "idTag",
        /// The id tag's group, which may use it too.
        parent_id_tag: Option<CiString20> = "parentIdTag",
        /// The reservation's id, chosen by the central system.
        reservation_id: i32 = "reservationId",
    }
}

object! {
    /// `ReserveNow.conf`.
    pub struct ReserveNowResponse {
        /// Whether the reservation was made, or why not.
        status: ReservationStatus = "status",
    }
}

object! {
    /// `CancelReservation.req`.
    pub struct CancelReservationRequest {
        /// The reservation to cancel.
        reservation_id: i32 = "reservationId",
    }
}

object! {
    /// `CancelReservation.conf`.
    pub struct CancelReservationResponse {
        /// Whether it was cancelled (`Rejected`: no such reservation).
        status: CancelReservationStatus = "status",
    }
}

// ---- The security extension (OCPP 1.6 security whitepaper, edition 2). ----

object! {
    /// `SecurityEventNotification.req`: something security-related happened at the charge point.
    pub struct SecurityEventNotificationRequest {
        /// The kind of event (`FirmwareUpdated`, `TamperDetectionActivated`, ...).
        kind: CiString50 = "type",
        /// When it happened (the charge point's clock).
        timestamp: DateTime<Utc> = "timestamp",
        /// Technical detail.
        tech_info: Option<CiString255> = "techInfo",
    }
}

object! {
    /// `SecurityEventNotification.conf` (empty).
    pub struct SecurityEventNotificationResponse {}
}

object! {
    /// `SignCertificate.req`: the charge point asks for its key to be certified.
    pub struct SignCertificateRequest {
        /// A PEM-encoded certificate signing request (RFC 2986).
        csr: CiString5500 = "csr",
    }
}

object! {
    /// `SignCertificate.conf`: whether the request will be processed; the certificate follows
    /// in a CertificateSigned.
    pub struct SignCertificateResponse {
        /// Accepted or Rejected.
        status: GenericStatus = "status",
    }
}

object! {
    /// `CertificateSigned.req`: the signed certificate, with the chain up to the CA.
    pub struct CertificateSignedRequest {
        /// PEM certificates, the charge point's own first.
        certificate_chain: CiString10000 = "certificateChain",
    }
}

object! {
    /// `CertificateSigned.conf`.
    pub struct CertificateSignedResponse {
        /// Whether the charge point installed it.
        status: CertificateSignedStatus = "status",
    }
}

object! {
    /// `AuthorizationData`: one entry of a local authorisation list; without `idTagInfo` (in a
    /// differential update) it removes the tag.
    pub struct AuthorizationData {
        /// The id tag.
        id_tag: CiString20 = "idTag",
        /// What the central system says about it.
        id_tag_info: Option<IdTagInfo> = "idTagInfo",
    }
}

object! {
    /// `SendLocalList.req`: replace (`Full`) or change (`Differential`) the local authorisation list.
    pub struct SendLocalListRequest {
        /// The version the list has after the update.
        list_version: i32 = "listVersion",
        /// The entries (none: an empty full list, or no change).
        local_authorization_list: Option<Vec<AuthorizationData>> = "localAuthorizationList",
        /// Full or differential.
        update_type: UpdateType = "updateType",
    }
}

object! {
    /// `SendLocalList.conf`.
    pub struct SendLocalListResponse {
        /// Whether the list was updated, or why not.
        status: UpdateStatus = "status",
    }
}

object! {
    /// `GetLocalListVersion.req` (empty).
    pub struct GetLocalListVersionRequest {}
}

object! {
    /// `GetLocalListVersion.conf`.
    pub struct GetLocalListVersionResponse {
        /// The list's version: 0 for none, -1 when the charge point keeps no local list.
        list_version: i32 = "listVersion",
    }
}

// ---- The security whitepaper's certificate, log and signed firmware messages. ----

object! {
    /// `CertificateHashDataType`: names one certificate by its issuer and serial number.
    pub struct CertificateHashData {
        /// The hash algorithm of the two hashes.
        hash_algorithm: HashAlgorithm = "hashAlgorithm",
        /// Hash of the issuer's distinguished name.
        issuer_name_hash: CiString128 = "issuerNameHash",
        /// Hash of the issuer's public key.
        issuer_key_hash: CiString128 = "issuerKeyHash",
        /// The certificate's serial number.
        serial_number: CiString40 = "serialNumber",
    }
}

object! {
    /// `InstallCertificate.req`: install a root certificate.
    pub struct InstallCertificateRequest {
        /// Which kind of root certificate it is.
        certificate_type: CertificateUse = "certificateType",
        /// The PEM-encoded X.509 certificate.
        certificate: CiString5500 = "certificate",
    }
}

object! {
    /// `InstallCertificate.conf`.
    pub struct InstallCertificateResponse {
        /// Whether it was installed.
        status: InstallCertificateStatus = "status",
    }
}

object! {
    /// `GetInstalledCertificateIds.req`: list the installed root certificates of one kind.
    pub struct GetInstalledCertificateIdsRequest {
        /// Which kind.
        certificate_type: CertificateUse = "certificateType",
    }
}

object! {
    /// `GetInstalledCertificateIds.conf`.
    pub struct GetInstalledCertificateIdsResponse {
        /// The certificates found (`minItems: 1`).
        certificate_hash_data: Option<Vec<CertificateHashData>> = "certificateHashData" [non_empty_opt],
        /// `Accepted`, or `NotFound` when none is installed.
        status: GetInstalledCertificateStatus = "status",
    }
}

/// `minItems: 1` on an optional array.
fn non_empty_opt<T>(items: &Option<Vec<T>>, path: &str) -> Result<(), crate::ValidationError> {
    items.as_deref().map_or(Ok(()), |items| json::non_empty(items, path))
}

object! {
    /// `DeleteCertificate.req`: delete the installed certificate the hash data names.
    pub struct DeleteCertificateRequest {
        /// The certificate.
        certificate_hash_data: CertificateHashData = "certificateHashData",
    }
}

object! {
    /// `DeleteCertificate.conf`.
    pub struct DeleteCertificateResponse {
        /// `Accepted`, `Failed`, or `NotFound`.
        status: DeleteCertificateStatus = "status",
    }
}

object! {
    /// `ExtendedTriggerMessage.req`: ask the charge point to send a message now (the security
    /// whitepaper's messages included).
    pub struct ExtendedTriggerMessageRequest {
        /// Which message.
        requested_message: ExtendedMessageTrigger = "requestedMessage",
        /// The connector it concerns.
        connector_id: Option<i32> = "connectorId",
    }
}

object! {
    /// `ExtendedTriggerMessage.conf`.
    pub struct ExtendedTriggerMessageResponse {
        /// Whether the message will be sent.
        status: ExtendedTriggerMessageStatus = "status",
    }
}

object! {
    /// `LogParametersType`: where to upload a log and which period it covers.
    pub struct LogParameters {
        /// The URL to upload it to.
        remote_location: CiString512 = "remoteLocation",
        /// Oldest information to include.
        oldest_timestamp: Option<DateTime<Utc>> = "oldestTimestamp",
        /// Newest information to include.
        latest_timestamp: Option<DateTime<Utc>> = "latestTimestamp",
    }
}

object! {
    /// `GetLog.req`: upload a diagnostics or security log.
    pub struct GetLogRequest {
        /// Where to, and which period.
        log: LogParameters = "log",
        /// Which log.
        log_type: LogKind = "logType",
        /// The id its LogStatusNotifications carry.
        request_id: i32 = "requestId",
        /// How many times to try before giving up.
        retries: Option<i32> = "retries",
        /// Seconds between attempts.
        retry_interval: Option<i32> = "retryInterval",
    }
}

object! {
    /// `GetLog.conf`.
    pub struct GetLogResponse {
        /// Whether the upload will happen.
        status: LogStatus = "status",
        /// The file that will be uploaded.
        filename: Option<CiString255> = "filename",
    }
}

object! {
    /// `LogStatusNotification.req`: how a GetLog upload goes.
    pub struct LogStatusNotificationRequest {
        /// The upload's status.
        status: UploadLogStatus = "status",
        /// The GetLog it belongs to.
        request_id: Option<i32> = "requestId",
    }
}

object! {
    /// `LogStatusNotification.conf` (empty).
    pub struct LogStatusNotificationResponse {}
}

object! {
    /// `FirmwareType`: a signed firmware image to download and install.
    pub struct Firmware {
        /// Where it is (a URI).
        location: CiString512 = "location",
        /// When to download it.
        retrieve_date_time: DateTime<Utc> = "retrieveDateTime",
        /// When to install it.
        install_date_time: Option<DateTime<Utc>> = "installDateTime",
        /// The PEM certificate the firmware is signed with.
        signing_certificate: CiString5500 = "signingCertificate",
        /// The firmware's signature, base64.
        signature: CiString800 = "signature",
    }
}

object! {
    /// `SignedUpdateFirmware.req`: download, verify and install a signed firmware.
    pub struct SignedUpdateFirmwareRequest {
        /// How many times to try the download before giving up.
        retries: Option<i32> = "retries",
        /// Seconds between attempts.
        retry_interval: Option<i32> = "retryInterval",
        /// The id its SignedFirmwareStatusNotifications carry.
        request_id: i32 = "requestId",
        /// The firmware.
        firmware: Firmware = "firmware",
    }
}

object! {
    /// `SignedUpdateFirmware.conf`.
    pub struct SignedUpdateFirmwareResponse {
        /// Whether the update will happen, or why not.
        status: SignedUpdateFirmwareStatus = "status",
    }
}

object! {
    /// `SignedFirmwareStatusNotification.req`: how a signed firmware update goes.
    pub struct SignedFirmwareStatusNotificationRequest {
        /// The update's status.
        status: SignedFirmwareStatus = "status",
        /// The SignedUpdateFirmware it belongs to.
        request_id: Option<i32> = "requestId",
    }
}

object! {
    /// `SignedFirmwareStatusNotification.conf` (empty).
    pub struct SignedFirmwareStatusNotificationResponse {}
}
