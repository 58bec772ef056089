//! Operations on a charger, as an operator of the charger would run them: reset, unlock a
//! connector, change availability, read and change the configuration, read the device model,
//! trigger a message, clear the authorisation cache, transfer vendor data, update the firmware,
//! fetch diagnostics or logs, reserve a connector and cancel the reservation, clear charging
//! profiles and start a transaction with a profile.
//!
//! Each request is checked against the charger's OCPP version (an option of the other version is
//! a 422 naming the field; an operation the version lacks is a 400), stored as an operation, then
//! sent. The answer is the operation: 200 once the charger answered (or the operation failed: a
//! charger that is not connected gets nothing sent and the operation says `NOT_CONNECTED`), 202
//! while it has not answered yet. `GET /chargers/{chargerId}/operations/{operationId}` follows it,
//! for the long-running ones (firmware, diagnostics, reports) to their final status.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use coupler_core::charger::OcppProtocol;
use coupler_core::control::{
    ChargerCommand, ChargingLimit, LimitPeriod, LimitPurpose, LogKind, RateUnit, ReportKind, ResetKind, TriggerKind,
};
use coupler_core::operation::{
    Initiator, Operation, OperationId, OperationKind, OperationStatus, Reservation, ReservationStatus,
};
use coupler_core::security::{CertificateHash, CertificateHashError, HashAlgorithm, InstalledCertificateKind};
use coupler_core::{Charger, ChargerId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::users::{PageQuery, Pagination};
use crate::error::{ApiError, InvalidValue, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::state::AppState;

/// How long a request waits for the charger's answer before it answers 202 with the operation
/// still SENT (it goes on in the background either way).
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// The most configuration keys one read asks for.
const MAX_KEYS: usize = 100;

// ---- What the routes answer. ----

/// The charger's answer to an operation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationAnswer {
    /// The status word it answered with (`Accepted`, `Rejected`, `NotSupported`, `Unlocked`,
    /// `Scheduled`, ...; for an OCPP error, the error code).
    pub status: Option<String>,
    /// What else the answer carried (configuration keys, data, a file name, the installed
    /// certificates' hash data), as JSON.
    pub payload: Option<Value>,
}

/// Why an operation failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationFailureBody {
    /// `NOT_CONNECTED` (nothing was sent), `CALL_ERROR` (the charger answered with an OCPP error),
    /// `INVALID_REPLY`, `UNSUPPORTED` (the charger's OCPP version cannot carry it),
    /// `DISCONNECTED`, `INTERRUPTED` (Coupler restarted while waiting), `CHARGER_REPORTED` (a
    /// failed download, installation or upload the charger reported).
    #[serde(rename = "type")]
    #[schema(example = "NOT_CONNECTED")]
    pub kind: String,
    /// What happened.
    pub detail: String,
}

/// A status the charger reported about a long-running operation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressBody {
    /// The status as sent (`Downloading`, `Installed`, `Uploading`, `Uploaded`, ...).
    pub status: String,
    /// When Coupler received it.
    pub at: DateTime<Utc>,
}

/// An operation on a charger, from its request to the charger's answer and, for firmware
/// updates, diagnostics and reports, to the final status the charger reported.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationResponse {
    /// Identifier.
    pub id: String,
    /// The charger.
    pub charger_id: String,
    /// What it does.
    pub kind: OperationKind,
    /// `COUPLER` (asked through the API) or `CHARGER` (a DataTransfer the charger sent).
    pub initiator: Initiator,
    /// The OCPP message that carried it, per the charger's version (`Reset`, `GetVariables`, ...).
    pub ocpp_action: Option<String>,
    /// The parameters as requested.
    pub request: Value,
    /// The number it carries on the wire: the `requestId` its notifications echo (firmware,
    /// logs, reports) or the reservation's id.
    pub request_id: Option<i32>,
    /// `PENDING`, `SENT`, `ACCEPTED`, `REJECTED`, `FAILED`, `NO_RESPONSE`; long-running ones go
    /// on to `IN_PROGRESS` and end `COMPLETED` or `FAILED`.
    pub status: OperationStatus,
    /// The charger's answer.
    pub answer: Option<OperationAnswer>,
    /// Why it failed.
    pub failure: Option<OperationFailureBody>,
    /// What the charger reported since, oldest first.
    pub progress: Vec<ProgressBody>,
    /// The status that ended a long-running operation (`Installed`, `Uploaded`, `DownloadFailed`, ...).
    pub final_status: Option<String>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the charger answered (or the wait ended).
    pub answered_at: Option<DateTime<Utc>>,
    /// When a long-running operation reached its final status.
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<&Operation> for OperationResponse {
    fn from(op: &Operation) -> Self {
        Self {
            id: op.id.as_str().to_owned(),
            charger_id: op.charger_id.as_str().to_owned(),
            kind: op.kind,
            initiator: op.initiator,
            ocpp_action: op.ocpp_action.clone(),
            request: op.request.clone(),
            request_id: op.request_id,
            status: op.status,
            answer: (op.answer_status.is_some() || op.answer.is_some()).then(|| OperationAnswer {
                status: op.answer_status.clone(),
                payload: op.answer.clone(),
            }),
            failure: op.failure.as_ref().map(|f| OperationFailureBody {
                kind: f.kind.as_str().to_owned(),
                detail: f.detail.clone(),
            }),
            progress: op
                .progress
                .iter()
                .map(|p| ProgressBody {
                    status: p.status.clone(),
                    at: p.at,
                })
                .collect(),
            final_status: op.final_status.clone(),
            requested_at: op.requested_at,
            sent_at: op.sent_at,
            answered_at: op.answered_at,
            completed_at: op.completed_at,
        }
    }
}

/// A page of a charger's operations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationPage {
    /// The operations.
    pub data: Vec<OperationResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// A reservation of a connector.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationResponse {
    /// Its id on the charger.
    pub reservation_id: i32,
    /// The ReserveNow operation that made it.
    pub operation_id: String,
    /// The connector (the 2.0.1 EVSE); 0: any.
    pub connector_id: u32,
    /// The id tag it is for.
    pub id_tag: String,
    /// A group tag that may use it too.
    pub parent_id_tag: Option<String>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// `REQUESTED`, `ACTIVE`, `REJECTED`, `CONSUMED` (a transaction of its tag started on it),
    /// `CANCELLED`, `EXPIRED` (its time ran out unused), `REMOVED` (by the charger).
    pub status: ReservationStatus,
    /// The session that consumed it.
    pub transaction_id: Option<i64>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

impl ReservationResponse {
    fn new(r: &Reservation, now: DateTime<Utc>) -> Self {
        Self {
            reservation_id: r.reservation_id,
            operation_id: r.operation_id.as_str().to_owned(),
            connector_id: r.connector_id,
            id_tag: r.id_tag.clone(),
            parent_id_tag: r.parent_id_tag.clone(),
            expires_at: r.expires_at,
            status: r.status_at(now),
            transaction_id: r.transaction_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of a charger's reservations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationPage {
    /// The reservations.
    pub data: Vec<ReservationResponse>,
    /// Cursors to the neighbouring pages.
    pub pagination: Pagination,
}

/// One configuration key (1.6) or device-model variable (2.0.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigurationValue {
    /// The key; a 2.0.1 variable as `Component.Variable` (`[instance]` when it has one).
    pub key: String,
    /// Its value as last read.
    pub value: String,
}

/// What Coupler knows of a charger's configuration.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationResponse {
    /// The charger.
    pub charger_id: String,
    /// The OCPP version it speaks.
    pub ocpp_version: Option<OcppProtocol>,
    /// Every key read so far (1.6: GetConfiguration after boot and through the API; 2.0.1: the
    /// device model from GetVariables and NotifyReport), with changes made through Coupler.
    pub keys: Vec<ConfigurationValue>,
}

// ---- What the routes take. ----

/// How to reset a charger.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum ResetType {
    /// 1.6: restart the software, ending transactions gracefully.
    Soft,
    /// 1.6: power cycle.
    Hard,
    /// 2.0.1: now, ending transactions.
    Immediate,
    /// 2.0.1: once no transaction runs.
    OnIdle,
}

/// Resets (reboots) the charger.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetRequest {
    /// `Soft` or `Hard` for a 1.6 charger, `Immediate` or `OnIdle` for a 2.0.1 station.
    #[serde(rename = "type")]
    pub kind: ResetType,
    /// 2.0.1 only: reset this EVSE alone.
    #[schema(minimum = 1)]
    pub evse_id: Option<i32>,
}

/// Releases the cable lock of a connector.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlockConnectorRequest {
    /// The connector (a 2.0.1 EVSE).
    #[schema(minimum = 1)]
    pub connector_id: i32,
    /// 2.0.1 only: the connector of the EVSE (1 when omitted).
    #[schema(minimum = 1)]
    pub evse_connector_id: Option<i32>,
}

/// Operative or not.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum Availability {
    /// Charging allowed.
    Operative,
    /// No charging.
    Inoperative,
}

/// Makes the charger, or one connector, operative or inoperative.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeAvailabilityRequest {
    /// The connector (a 2.0.1 EVSE); omitted or 0: the whole charger.
    #[schema(minimum = 0)]
    pub connector_id: Option<i32>,
    /// 2.0.1 only: one connector of the EVSE named by `connectorId`.
    #[schema(minimum = 1)]
    pub evse_connector_id: Option<i32>,
    /// What to make it.
    pub availability: Availability,
}

/// Reads configuration keys.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetConfigurationRequest {
    /// The keys: 1.6 key names (all keys when omitted), 2.0.1 `Component.Variable` names (at
    /// least one; the whole device model is a base report). At most 100.
    pub keys: Option<Vec<String>>,
}

/// Changes one configuration key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeConfigurationRequest {
    /// The key: a 1.6 key name (up to 50 characters) or a 2.0.1 `Component.Variable`.
    #[schema(example = "MeterValueSampleInterval")]
    pub key: String,
    /// The new value (1.6: up to 500 characters; 2.0.1: up to 1000).
    #[schema(example = "60")]
    pub value: String,
}

/// Which device-model report.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum ReportBase {
    /// Every variable that can be set.
    ConfigurationInventory,
    /// Every component and variable.
    FullInventory,
    /// Availability and problems.
    SummaryInventory,
}

/// Asks a 2.0.1 station for a device-model report (GetBaseReport); the NotifyReport messages that
/// follow are stored as its device model and tracked on the operation until the last.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetBaseReportRequest {
    /// Which report (`FullInventory` when omitted).
    pub report_base: Option<ReportBase>,
}

/// A message a charger can be asked to send.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum TriggerMessage {
    /// Both versions.
    BootNotification,
    /// Both versions.
    Heartbeat,
    /// Both versions.
    MeterValues,
    /// Both versions.
    StatusNotification,
    /// Both versions.
    FirmwareStatusNotification,
    /// 1.6 only.
    DiagnosticsStatusNotification,
    /// 2.0.1 only.
    LogStatusNotification,
    /// 2.0.1 only.
    TransactionEvent,
    /// 2.0.1 only (the station then sends a SignCertificate).
    SignChargingStationCertificate,
    /// 2.0.1 only.
    #[serde(rename = "SignV2GCertificate")]
    SignV2gCertificate,
    /// 2.0.1 only.
    SignCombinedCertificate,
    /// 2.0.1 only.
    PublishFirmwareStatusNotification,
    /// 1.6 only, through the security extension's ExtendedTriggerMessage (the charger then sends
    /// a SignCertificate).
    SignChargePointCertificate,
}

/// Asks the charger to send a message now (TriggerMessage; on 1.6, the security extension's
/// ExtendedTriggerMessage when `extended` is true or the message needs it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerMessageRequest {
    /// The message; which ones exist depends on the version. On 1.6, `LogStatusNotification`
    /// and `SignChargePointCertificate` always go through ExtendedTriggerMessage.
    pub message: TriggerMessage,
    /// The connector (a 2.0.1 EVSE) it concerns, when relevant.
    #[schema(minimum = 0)]
    pub connector_id: Option<i32>,
    /// 1.6 only: send it through the security extension's ExtendedTriggerMessage, which knows
    /// BootNotification, FirmwareStatusNotification (the signed firmware's status), Heartbeat,
    /// LogStatusNotification, MeterValues, SignChargePointCertificate and StatusNotification.
    pub extended: Option<bool>,
}

/// Sends vendor-specific data (DataTransfer).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataTransferRequest {
    /// The vendor (1 to 255 characters).
    #[schema(example = "com.example")]
    pub vendor_id: String,
    /// The vendor's message id (up to 50 characters).
    pub message_id: Option<String>,
    /// The data: text for a 1.6 charger, any JSON for a 2.0.1 station.
    pub data: Option<Value>,
}

/// Updates the firmware (UpdateFirmware); progress is followed on the operation to `Installed`
/// (COMPLETED) or a failure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFirmwareRequest {
    /// Where the firmware is: an absolute URI (2.0.1: up to 512 characters).
    #[schema(example = "https://firmware.example/charger-2.1.0.bin")]
    pub location: String,
    /// When to retrieve it.
    pub retrieve_at: DateTime<Utc>,
    /// When to install it (on 1.6, only with a signed firmware).
    pub install_at: Option<DateTime<Utc>>,
    /// How many times to try the download.
    #[schema(minimum = 0)]
    pub retries: Option<i32>,
    /// Seconds between tries.
    #[schema(minimum = 0)]
    pub retry_interval: Option<i32>,
    /// The certificate (PEM) the firmware is signed with (up to 5500 characters). On 1.6 it
    /// makes the update the security extension's SignedUpdateFirmware, and needs `signature`.
    pub signing_certificate: Option<String>,
    /// The firmware's signature, base64 (up to 800 characters); on 1.6 it needs
    /// `signingCertificate`.
    pub signature: Option<String>,
}

/// Which log a charger uploads (GetLog).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum LogType {
    /// Diagnostics.
    DiagnosticsLog,
    /// The security log.
    SecurityLog,
}

/// Uploads diagnostics (1.6 GetDiagnostics) or a log (GetLog: 2.0.1, and 1.6 with `logType`) to
/// `location`; progress is followed on the operation to `Uploaded` (COMPLETED) or a failure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetDiagnosticsRequest {
    /// Where to upload: an absolute URI (2.0.1: up to 512 characters).
    #[schema(example = "ftp://logs.example/uploads/")]
    pub location: String,
    /// Which log (`DiagnosticsLog` when omitted). On 1.6 it asks through the security
    /// extension's GetLog (followed by LogStatusNotification) instead of GetDiagnostics.
    pub log_type: Option<LogType>,
    /// Oldest information to include.
    pub from: Option<DateTime<Utc>>,
    /// Newest information to include (after `from`).
    pub to: Option<DateTime<Utc>>,
    /// How many times to try the upload.
    #[schema(minimum = 0)]
    pub retries: Option<i32>,
    /// Seconds between tries.
    #[schema(minimum = 0)]
    pub retry_interval: Option<i32>,
}

/// The kind of an id token (2.0.1 `IdTokenEnumType`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum IdTokenType {
    /// Made by the CSMS.
    Central,
    /// A contract id (ISO 15118).
    #[serde(rename = "eMAID")]
    EMaid,
    /// An RFID card (ISO 14443).
    #[serde(rename = "ISO14443")]
    Iso14443,
    /// An RFID card (ISO 15693).
    #[serde(rename = "ISO15693")]
    Iso15693,
    /// A key code.
    KeyCode,
    /// Made by the station.
    Local,
    /// A vehicle's MAC address.
    MacAddress,
    /// No authorisation.
    NoAuthorization,
}

/// A kind of connector (2.0.1 `ConnectorEnumType`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum ConnectorType {
    /// Combo 1.
    #[serde(rename = "cCCS1")]
    CCcs1,
    /// Combo 2.
    #[serde(rename = "cCCS2")]
    CCcs2,
    /// JARI G105 (CHAdeMO).
    #[serde(rename = "cG105")]
    CG105,
    /// Tesla.
    #[serde(rename = "cTesla")]
    CTesla,
    /// IEC 62196 type 1 cable.
    #[serde(rename = "cType1")]
    CType1,
    /// IEC 62196 type 2 cable.
    #[serde(rename = "cType2")]
    CType2,
    /// IEC 60309 single phase 16 A.
    #[serde(rename = "s309-1P-16A")]
    S309OneP16A,
    /// IEC 60309 single phase 32 A.
    #[serde(rename = "s309-1P-32A")]
    S309OneP32A,
    /// IEC 60309 three phase 16 A.
    #[serde(rename = "s309-3P-16A")]
    S309ThreeP16A,
    /// IEC 60309 three phase 32 A.
    #[serde(rename = "s309-3P-32A")]
    S309ThreeP32A,
    /// UK domestic socket.
    #[serde(rename = "sBS1361")]
    SBs1361,
    /// CEE 7/7 (Schuko).
    #[serde(rename = "sCEE-7-7")]
    SCee77,
    /// IEC 62196 type 2 socket.
    #[serde(rename = "sType2")]
    SType2,
    /// IEC 62196 type 3 socket.
    #[serde(rename = "sType3")]
    SType3,
    /// Other single phase up to 16 A.
    Other1PhMax16A,
    /// Other single phase over 16 A.
    Other1PhOver16A,
    /// Other three phase.
    Other3Ph,
    /// Pantograph.
    Pan,
    /// Wireless inductive.
    #[serde(rename = "wInductive")]
    WInductive,
    /// Wireless resonant.
    #[serde(rename = "wResonant")]
    WResonant,
    /// Not determined.
    Undetermined,
    /// Not known.
    Unknown,
}

/// Reserves a connector (or any) for an id tag until `expiresAt` (ReserveNow). The reservation
/// is consumed by a transaction of that tag on that connector, and shows as expired once its time
/// runs out unused (`GET /chargers/{chargerId}/reservations`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveNowRequest {
    /// The connector (a 2.0.1 EVSE); 0: any connector.
    #[schema(minimum = 0)]
    pub connector_id: i32,
    /// The id tag it is for (1.6: up to 20 characters; 2.0.1: up to 36).
    #[schema(example = "04A2B3C4")]
    pub id_tag: String,
    /// When it ends; in the future.
    pub expires_at: DateTime<Utc>,
    /// 1.6 only: a group tag that may use it too (up to 20 characters).
    pub parent_id_tag: Option<String>,
    /// 2.0.1 only: the kind of token `idTag` is (`ISO14443` when omitted).
    pub id_token_type: Option<IdTokenType>,
    /// 2.0.1 only: a group token that may use it too (up to 36 characters).
    pub group_id_tag: Option<String>,
    /// 2.0.1 only: any EVSE with this kind of connector.
    pub connector_type: Option<ConnectorType>,
}

/// Cancels a reservation (CancelReservation).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelReservationRequest {
    /// The reservation, as `GET /chargers/{chargerId}/reservations` lists it.
    pub reservation_id: i32,
}

/// A charging profile's purpose, as each version names it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum ProfilePurpose {
    /// One transaction's profile.
    TxProfile,
    /// The default for transactions.
    TxDefaultProfile,
    /// 1.6: the charge point's maximum.
    ChargePointMaxProfile,
    /// 2.0.1: the station's maximum.
    ChargingStationMaxProfile,
}

/// Removes charging profiles (ClearChargingProfile): the one with `chargingProfileId`, or every
/// one matching all the criteria given (all profiles when none is). Profiles of Coupler's own
/// limit sources are put back by the limit keeper at its next pass: delete the limit source to
/// remove one for good.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClearChargingProfileRequest {
    /// The profile's id.
    pub charging_profile_id: Option<i32>,
    /// The connector (a 2.0.1 EVSE); 0: the charger as a whole.
    #[schema(minimum = 0)]
    pub connector_id: Option<i32>,
    /// The purpose (`ChargePointMaxProfile` on 1.6, `ChargingStationMaxProfile` on 2.0.1).
    pub purpose: Option<ProfilePurpose>,
    /// The stack level.
    #[schema(minimum = 0)]
    pub stack_level: Option<i32>,
}

/// Amperes or watts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum ChargingRateUnit {
    /// Amperes per phase.
    A,
    /// Watts.
    W,
}

/// One step of a charging schedule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulePeriod {
    /// Seconds from the start of the schedule; the first is 0, each later one greater.
    #[schema(minimum = 0)]
    pub start_period: i32,
    /// The limit in the schedule's unit, 0 or more, a multiple of 0.1.
    #[schema(minimum = 0)]
    pub limit: f64,
    /// Phases to use, 1 to 3.
    #[schema(minimum = 1, maximum = 3)]
    pub number_phases: Option<u8>,
}

/// The transaction profile (TxProfile) a remote start begins with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartProfile {
    /// The profile's id.
    #[schema(minimum = 1)]
    pub charging_profile_id: i32,
    /// Its stack level.
    #[schema(minimum = 0)]
    pub stack_level: i32,
    /// The unit of the limits.
    pub charging_rate_unit: ChargingRateUnit,
    /// The schedule (1 to 24 periods).
    pub periods: Vec<SchedulePeriod>,
    /// An absolute start; omitted: the schedule starts with the transaction.
    pub start_schedule: Option<DateTime<Utc>>,
    /// From when it applies.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when it applies (after `validFrom`).
    pub valid_to: Option<DateTime<Utc>>,
}

/// Starts a transaction remotely (RemoteStartTransaction / RequestStartTransaction), optionally
/// with the transaction profile it begins with. Unlike `POST /chargers/{chargerId}/charging`, the
/// result is the charger's answer, not a confirmed charging state.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteStartRequest {
    /// The connector (a 2.0.1 EVSE); omitted: the charger chooses.
    #[schema(minimum = 1)]
    pub connector_id: Option<i32>,
    /// The id tag to start with (the configured remote start tag when omitted; 1.6: up to 20
    /// characters, 2.0.1: up to 36).
    pub id_tag: Option<String>,
    /// The profile to start with.
    pub charging_profile: Option<StartProfile>,
}

/// A kind of certificate a charger keeps, as each version names it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum CertificateType {
    /// 1.6 (security extension): the root of Coupler's TLS server certificate.
    CentralSystemRootCertificate,
    /// 2.0.1: the root of Coupler's TLS server certificate.
    #[serde(rename = "CSMSRootCertificate")]
    CsmsRootCertificate,
    /// Both versions: the root firmware is signed under.
    ManufacturerRootCertificate,
    /// 2.0.1: an ISO 15118 V2G root.
    #[serde(rename = "V2GRootCertificate")]
    V2gRootCertificate,
    /// 2.0.1: a mobility operator root.
    #[serde(rename = "MORootCertificate")]
    MoRootCertificate,
    /// 2.0.1, listing only: the station's V2G certificate chain.
    #[serde(rename = "V2GCertificateChain")]
    V2gCertificateChain,
}

/// Installs a root certificate on the charger (InstallCertificate).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallCertificateRequest {
    /// Which root it is: 1.6 `CentralSystemRootCertificate` or `ManufacturerRootCertificate`;
    /// 2.0.1 `CSMSRootCertificate`, `ManufacturerRootCertificate`, `V2GRootCertificate` or
    /// `MORootCertificate`.
    pub certificate_type: CertificateType,
    /// One X.509 certificate, PEM-encoded (up to 5500 characters).
    #[schema(example = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n")]
    pub certificate: String,
}

/// Asks which certificates the charger keeps (GetInstalledCertificateIds). The hash data it
/// reports is kept on the operation (`answer.payload.certificates`), ready for
/// `delete-certificate`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetInstalledCertificateIdsRequest {
    /// The kinds: exactly one on 1.6 (`CentralSystemRootCertificate` or
    /// `ManufacturerRootCertificate`); on 2.0.1 any of its kinds, every kind when omitted.
    pub certificate_types: Option<Vec<CertificateType>>,
}

/// The hash algorithm of certificate hash data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum CertificateHashAlgorithm {
    /// SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// SHA-384.
    #[serde(rename = "SHA384")]
    Sha384,
    /// SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

/// Names one certificate as OCPP does: as a GetInstalledCertificateIds answer reported it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateHashData {
    /// The algorithm of both hashes.
    pub hash_algorithm: CertificateHashAlgorithm,
    /// Hash of the issuer's distinguished name, hexadecimal (1 to 128 digits), as the charger
    /// reported it.
    pub issuer_name_hash: String,
    /// Hash of the issuer's public key, hexadecimal (1 to 128 digits), as the charger reported it.
    pub issuer_key_hash: String,
    /// The certificate's serial number, hexadecimal (1 to 40 digits).
    #[schema(example = "1f")]
    pub serial_number: String,
}

/// Deletes a certificate the charger keeps (DeleteCertificate).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteCertificateRequest {
    /// The certificate.
    pub certificate_hash_data: CertificateHashData,
}

// ---- Checks. ----

fn invalid(pointer: &str, detail: impl Into<String>) -> ApiError {
    let detail = detail.into();
    ApiError::invalid(detail.clone()).at(InvalidValue::body(pointer, detail))
}

fn name(version: OcppProtocol) -> &'static str {
    version.as_str()
}

/// An option of one version, refused for a charger of the other.
fn only_in(version: Option<OcppProtocol>, wanted: OcppProtocol, pointer: &str, present: bool) -> Result<(), ApiError> {
    match version {
        Some(version) if present && version != wanted => Err(invalid(
            pointer,
            format!(
                "{} exists in OCPP {} only; this charger speaks OCPP {}",
                pointer.trim_start_matches('/'),
                name(wanted),
                name(version)
            ),
        )),
        _ => Ok(()),
    }
}

/// A whole operation the charger's version lacks: a well-formed request the charger cannot
/// carry out.
fn operation_only_in(version: Option<OcppProtocol>, wanted: OcppProtocol, what: &str) -> Result<(), ApiError> {
    match version {
        Some(version) if version != wanted => Err(ApiError::refused(format!(
            "{what} exists in OCPP {} only; this charger speaks OCPP {}",
            name(wanted),
            name(version)
        ))),
        _ => Ok(()),
    }
}

fn non_negative(value: Option<i32>, pointer: &str, minimum: i32) -> Result<Option<u32>, ApiError> {
    match value {
        Some(v) if v < minimum => Err(invalid(pointer, format!("must be {minimum} or more"))),
        Some(v) => Ok(u32::try_from(v).ok()),
        None => Ok(None),
    }
}

fn text(value: &str, pointer: &str, max: usize) -> Result<(), ApiError> {
    let length = value.chars().count();
    if length == 0 || value.trim().is_empty() {
        return Err(invalid(pointer, "must not be empty"));
    }
    if length > max {
        return Err(invalid(
            pointer,
            format!("{length} characters is more than the {max} allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(pointer, "must not hold control characters"));
    }
    Ok(())
}

fn optional_text(value: Option<&str>, pointer: &str, max: usize) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| text(v, pointer, max))
}

/// An id tag's longest length: 20 in 1.6, 36 in 2.0.1 (36 while the version is not known).
fn tag_length(version: Option<OcppProtocol>) -> usize {
    if version == Some(OcppProtocol::V16) {
        20
    } else {
        36
    }
}

fn uri(value: &str, pointer: &str, version: Option<OcppProtocol>) -> Result<(), ApiError> {
    let max = if version == Some(OcppProtocol::V16) { 2048 } else { 512 };
    text(value, pointer, max)?;
    match url::Url::parse(value) {
        Ok(parsed) if !parsed.cannot_be_a_base() || parsed.scheme() == "urn" => Ok(()),
        _ => Err(invalid(pointer, "must be an absolute URI (such as https://host/path)")),
    }
}

/// A 2.0.1 `Component.Variable` name, each part up to 50 characters.
fn device_model_key(key: &str, pointer: &str) -> Result<(), ApiError> {
    match key.split_once('.') {
        Some((component, variable))
            if !component.is_empty()
                && !variable.is_empty()
                && component.chars().count() <= 50
                && variable.chars().count() <= 50 =>
        {
            Ok(())
        }
        _ => Err(invalid(
            pointer,
            format!("{key:?} is not a 2.0.1 variable: name it Component.Variable (each part up to 50 characters)"),
        )),
    }
}

fn configuration_key(key: &str, pointer: &str, version: Option<OcppProtocol>) -> Result<(), ApiError> {
    text(key, pointer, if version == Some(OcppProtocol::V16) { 50 } else { 101 })?;
    if version == Some(OcppProtocol::V201) {
        device_model_key(key, pointer)?;
    }
    Ok(())
}

/// A certificate type of the charger's version (any while the version is not known), as the core
/// names it.
fn certificate_kind(
    wanted: CertificateType,
    version: Option<OcppProtocol>,
    pointer: &str,
) -> Result<InstalledCertificateKind, ApiError> {
    let wire = serde_json::to_value(wanted).map_err(ApiError::internal)?;
    let wire = wire.as_str().unwrap_or_default();
    let kind =
        InstalledCertificateKind::parse(wire).ok_or_else(|| ApiError::internal("a certificate type without a kind"))?;
    match version {
        Some(version) if kind.ocpp_name(version) != Some(wire) => {
            let allowed: Vec<&str> = InstalledCertificateKind::ALL
                .into_iter()
                .filter_map(|k| k.ocpp_name(version))
                .collect();
            Err(
                ApiError::invalid(format!("{wire} is not a certificate type of OCPP {}", name(version))).at(
                    InvalidValue::body(pointer, "not a certificate type of this charger's OCPP version")
                        .expected("one of the allowed values")
                        .allowed(allowed),
                ),
            )
        }
        _ => Ok(kind),
    }
}

/// One X.509 certificate, PEM-encoded, within `max` characters.
fn certificate_pem(text: &str, pointer: &str, max: usize) -> Result<(), ApiError> {
    use base64::Engine;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let length = text.chars().count();
    if length > max {
        return Err(invalid(
            pointer,
            format!("{length} characters is more than the {max} allowed"),
        ));
    }
    let not_pem = || {
        invalid(
            pointer,
            "must be one PEM-encoded X.509 certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
        )
    };
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let (Some(&"-----BEGIN CERTIFICATE-----"), Some(&"-----END CERTIFICATE-----")) = (lines.first(), lines.last())
    else {
        return Err(not_pem());
    };
    let body = &lines[1..lines.len() - 1];
    if body.is_empty() || body.iter().any(|l| l.starts_with("-----")) {
        return Err(not_pem());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.concat())
        .map_err(|_| invalid(pointer, "the PEM block is not valid base64"))?;
    match X509Certificate::from_der(&der) {
        Ok(([], _)) => Ok(()),
        _ => Err(invalid(pointer, "the PEM block does not hold an X.509 certificate")),
    }
}

fn is_tenth(value: f64) -> bool {
    let tenths = value * 10.0;
    tenths.is_finite() && (tenths - tenths.round()).abs() <= 1e-9 * tenths.abs().max(1.0)
}

/// The request as recorded: the fields that were given, without the absent ones (DataTransfer's
/// `data` is kept as sent).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = if k == "data" { v } else { without_nulls(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

// ---- The common part of every route. ----

pub(crate) async fn owned_charger(state: &AppState, caller: &Caller, id: &str) -> Result<Charger, ApiError> {
    state
        .store
        .get_charger(&caller.client_id, &ChargerId::new(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{id}'")))
}

pub(crate) type Answered = (StatusCode, ApiJson<OperationResponse>);

/// Stores the operation, sends it, and answers with it once the charger answered (200) or after
/// [`ANSWER_WAIT`] with it still unanswered (202).
pub(crate) async fn run(
    state: &AppState,
    charger: &Charger,
    kind: OperationKind,
    request: &impl Serialize,
    reservation: Option<Reservation>,
    command: impl FnOnce(Option<i32>) -> ChargerCommand,
) -> Result<Answered, ApiError> {
    let request = without_nulls(serde_json::to_value(request).map_err(ApiError::internal)?);
    let operation = Operation::requested(
        charger.client_id.clone(),
        charger.id.clone(),
        kind,
        request,
        state.now(),
    );
    let (stored, settled) = state
        .engine
        .start_operation(&state.tasks, operation, reservation, command)
        .await?;
    tracing::info!(operation_id = %stored.id, kind = kind.as_str(), "operation requested");
    let current = match tokio::time::timeout(ANSWER_WAIT, settled).await {
        Ok(Ok(answered)) => answered,
        _ => state.store.operation(&stored.id).await?.unwrap_or(stored),
    };
    let status = if current.status.is_unanswered() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(OperationResponse::from(&current))))
}

// ---- Reading operations, reservations and configuration. ----

/// Lists the operations on a charger, newest first (those a charger started, DataTransfer, too).
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/operations",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id"), PageQuery),
    responses(
        (status = 200, description = "A page of operations", body = OperationPage),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_operations(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<OperationPage>, ApiError> {
    let charger = ChargerId::new(id);
    let page = state
        .store
        .list_operations(&caller.client_id, &charger, &query.parse()?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{charger}'")))?;
    Ok(ApiJson(OperationPage {
        data: page.items.iter().map(OperationResponse::from).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// One operation on a charger: where it is, the charger's answer, and what it reported since.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/operations/{operationId}",
    tag = "charger-operations",
    params(
        ("chargerId" = String, Path, description = "The charger's id"),
        ("operationId" = String, Path, description = "The operation's id"),
    ),
    responses(
        (status = 200, description = "The operation", body = OperationResponse),
        (status = 404, description = "The client has no such charger or operation", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_operation(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((charger, id)): ApiPath<(String, String)>,
) -> Result<ApiJson<OperationResponse>, ApiError> {
    let operation = state
        .store
        .get_operation(&caller.client_id, &ChargerId::new(&charger), &OperationId::new(&id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no operation '{id}' on charger '{charger}'")))?;
    Ok(ApiJson(OperationResponse::from(&operation)))
}

/// Lists a charger's reservations, newest first; an active one past its expiry shows as EXPIRED.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/reservations",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id"), PageQuery),
    responses(
        (status = 200, description = "A page of reservations", body = ReservationPage),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn list_reservations(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<ApiJson<ReservationPage>, ApiError> {
    let charger = ChargerId::new(id);
    let page = state
        .store
        .list_reservations(&caller.client_id, &charger, &query.parse_numbered()?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no charger '{charger}'")))?;
    let now = state.now();
    Ok(ApiJson(ReservationPage {
        data: page.items.iter().map(|r| ReservationResponse::new(r, now)).collect(),
        pagination: Pagination {
            after: page.after.map(|k| k.encode()),
            before: page.before.map(|k| k.encode()),
        },
    }))
}

/// The charger's configuration as Coupler last read it: 1.6 configuration keys, or the 2.0.1
/// device model (GetVariables, and the NotifyReports of a base report). Read afresh with
/// `POST .../operations/get-configuration` or `.../get-base-report`.
#[utoipa::path(
    get,
    path = "/chargers/{chargerId}/configuration",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The configuration read so far", body = ConfigurationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_configuration(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ConfigurationResponse>, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let model = state.store.device_model(&charger.id).await?;
    Ok(ApiJson(ConfigurationResponse {
        charger_id: charger.id.as_str().to_owned(),
        ocpp_version: charger.ocpp_version,
        keys: model
            .into_iter()
            .map(|(key, value)| ConfigurationValue { key, value })
            .collect(),
    }))
}

// ---- The operations. ----

/// Resets the charger (Reset). 1.6 takes `Soft` or `Hard`, 2.0.1 `Immediate` or `OnIdle` (and an
/// EVSE).
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/reset",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = ResetRequest,
    responses(
        (status = 200, description = "The operation, answered (or failed: `failure.type` NOT_CONNECTED when the charger is not connected)", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (an option of the other OCPP version included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn reset(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    let kind = match body.kind {
        ResetType::Soft => ResetKind::Soft,
        ResetType::Hard => ResetKind::Hard,
        ResetType::Immediate => ResetKind::Immediate,
        ResetType::OnIdle => ResetKind::OnIdle,
    };
    if let Some(version) = version {
        if kind.protocol() != version {
            let allowed = match version {
                OcppProtocol::V16 => ["Soft", "Hard"],
                OcppProtocol::V201 => ["Immediate", "OnIdle"],
            };
            return Err(ApiError::invalid(format!(
                "{} is an OCPP {} reset; this charger speaks OCPP {}",
                kind.as_str(),
                name(kind.protocol()),
                name(version)
            ))
            .at(
                InvalidValue::body("/type", "not a reset of this charger's OCPP version")
                    .expected("one of the allowed values")
                    .allowed(allowed),
            ));
        }
    }
    only_in(version, OcppProtocol::V201, "/evseId", body.evse_id.is_some())?;
    let evse_id = non_negative(body.evse_id, "/evseId", 1)?;
    run(&state, &charger, OperationKind::Reset, &body, None, |_| {
        ChargerCommand::Reset { kind, evse_id }
    })
    .await
}

/// Releases the cable lock of a connector (UnlockConnector).
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/unlock-connector",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = UnlockConnectorRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Unlocked, UnlockFailed, ...) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn unlock_connector(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UnlockConnectorRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let connector_id = non_negative(Some(body.connector_id), "/connectorId", 1)?.unwrap_or(1);
    only_in(
        charger.ocpp_version,
        OcppProtocol::V201,
        "/evseConnectorId",
        body.evse_connector_id.is_some(),
    )?;
    let evse_connector_id = non_negative(body.evse_connector_id, "/evseConnectorId", 1)?;
    run(&state, &charger, OperationKind::UnlockConnector, &body, None, |_| {
        ChargerCommand::UnlockConnector {
            connector_id,
            evse_connector_id,
        }
    })
    .await
}

/// Makes the charger, or one connector, operative or inoperative (ChangeAvailability).
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/change-availability",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = ChangeAvailabilityRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, Scheduled, Rejected) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn change_availability(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeAvailabilityRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let connector_id = non_negative(body.connector_id, "/connectorId", 0)?.unwrap_or(0);
    only_in(
        charger.ocpp_version,
        OcppProtocol::V201,
        "/evseConnectorId",
        body.evse_connector_id.is_some(),
    )?;
    let evse_connector_id = non_negative(body.evse_connector_id, "/evseConnectorId", 1)?;
    if evse_connector_id.is_some() && connector_id == 0 {
        return Err(invalid(
            "/evseConnectorId",
            "a connector of an EVSE needs the EVSE: give connectorId too",
        ));
    }
    let operative = matches!(body.availability, Availability::Operative);
    run(&state, &charger, OperationKind::ChangeAvailability, &body, None, |_| {
        ChargerCommand::ChangeAvailability {
            connector_id,
            evse_connector_id,
            operative,
        }
    })
    .await
}

/// Reads configuration keys (1.6 GetConfiguration, 2.0.1 GetVariables); the answer's payload
/// lists them, and they are kept as the charger's configuration.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/get-configuration",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = GetConfigurationRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.payload` has configurationKey and unknownKey) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_configuration_operation(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GetConfigurationRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    let keys = body.keys.clone().unwrap_or_default();
    if keys.len() > MAX_KEYS {
        return Err(invalid("/keys", format!("at most {MAX_KEYS} keys at once")));
    }
    if keys.is_empty() && version != Some(OcppProtocol::V16) {
        return Err(invalid(
            "/keys",
            "name the variables to read (Component.Variable); a 2.0.1 station's whole device model is read with get-base-report",
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        configuration_key(key, &format!("/keys/{i}"), version)?;
    }
    run(&state, &charger, OperationKind::GetConfiguration, &body, None, |_| {
        ChargerCommand::GetConfiguration { keys }
    })
    .await
}

/// Changes one configuration key (1.6 ChangeConfiguration, 2.0.1 SetVariables). An accepted
/// change is kept as the charger's configuration.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/change-configuration",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = ChangeConfigurationRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, RebootRequired, Rejected, NotSupported, UnknownVariable, ...) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn change_configuration(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeConfigurationRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    configuration_key(&body.key, "/key", version)?;
    let max_value = if version == Some(OcppProtocol::V16) { 500 } else { 1000 };
    if body.value.chars().count() > max_value {
        return Err(invalid(
            "/value",
            format!("more than the {max_value} characters allowed"),
        ));
    }
    if body.value.chars().any(char::is_control) {
        return Err(invalid("/value", "must not hold control characters"));
    }
    let (key, value) = (body.key.clone(), body.value.clone());
    run(
        &state,
        &charger,
        OperationKind::ChangeConfiguration,
        &body,
        None,
        |_| ChargerCommand::ChangeConfiguration { key, value },
    )
    .await
}

/// Asks a 2.0.1 station for a device-model report (GetBaseReport). The NotifyReport messages that
/// follow are stored as its device model; the operation is COMPLETED with the last one.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/get-base-report",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = GetBaseReportRequest,
    responses(
        (status = 200, description = "The operation, answered or failed; COMPLETED once the last NotifyReport arrived", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 400, description = "The charger speaks OCPP 1.6, which has no base reports", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_base_report(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GetBaseReportRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    operation_only_in(charger.ocpp_version, OcppProtocol::V201, "GetBaseReport")?;
    let report = match body.report_base.unwrap_or(ReportBase::FullInventory) {
        ReportBase::ConfigurationInventory => ReportKind::ConfigurationInventory,
        ReportBase::FullInventory => ReportKind::FullInventory,
        ReportBase::SummaryInventory => ReportKind::SummaryInventory,
    };
    run(
        &state,
        &charger,
        OperationKind::GetBaseReport,
        &body,
        None,
        |request_id| ChargerCommand::GetBaseReport {
            request_id: request_id.unwrap_or_default(),
            report,
        },
    )
    .await
}

/// Asks the charger to send a message now (TriggerMessage); the message itself arrives and is
/// handled as any other.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/trigger-message",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = TriggerMessageRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, Rejected, NotImplemented) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (a message of the other OCPP version included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn trigger_message(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TriggerMessageRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let wire = serde_json::to_value(body.message).map_err(ApiError::internal)?;
    let message = wire
        .as_str()
        .and_then(TriggerKind::parse)
        .ok_or_else(|| ApiError::internal("a trigger message without a kind"))?;
    if let Some(version) = charger.ocpp_version {
        if !message.exists_in(version) {
            let allowed: Vec<&str> = TriggerKind::ALL
                .into_iter()
                .filter(|k| k.exists_in(version))
                .map(TriggerKind::as_str)
                .collect();
            return Err(ApiError::invalid(format!(
                "{} cannot be triggered in OCPP {}",
                message.as_str(),
                name(version)
            ))
            .at(
                InvalidValue::body("/message", "not triggerable in this charger's OCPP version")
                    .expected("one of the allowed values")
                    .allowed(allowed),
            ));
        }
    }
    only_in(
        charger.ocpp_version,
        OcppProtocol::V16,
        "/extended",
        body.extended.is_some(),
    )?;
    // 1.6 knows some messages only through the security extension's ExtendedTriggerMessage.
    let extended = body.extended == Some(true)
        || (charger.ocpp_version == Some(OcppProtocol::V16) && message.needs_extended_trigger());
    if extended && !message.is_extended_trigger() {
        let allowed: Vec<&str> = TriggerKind::ALL
            .into_iter()
            .filter(|k| k.is_extended_trigger())
            .map(TriggerKind::as_str)
            .collect();
        return Err(
            ApiError::invalid(format!("ExtendedTriggerMessage cannot ask for {}", message.as_str())).at(
                InvalidValue::body("/message", "not a message ExtendedTriggerMessage asks for")
                    .expected("one of the allowed values")
                    .allowed(allowed),
            ),
        );
    }
    let connector_id = non_negative(body.connector_id, "/connectorId", 0)?;
    run(&state, &charger, OperationKind::TriggerMessage, &body, None, |_| {
        if extended {
            ChargerCommand::ExtendedTrigger { message, connector_id }
        } else {
            ChargerCommand::Trigger { message, connector_id }
        }
    })
    .await
}

/// Clears the charger's authorisation cache (ClearCache). Takes no body.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/clear-cache",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted or Rejected) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn clear_cache(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    run(
        &state,
        &charger,
        OperationKind::ClearCache,
        &serde_json::json!({}),
        None,
        |_| ChargerCommand::ClearCache,
    )
    .await
}

/// Sends vendor-specific data to the charger (DataTransfer). Data chargers send arrive as
/// operations with `initiator` CHARGER.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/data-transfer",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = DataTransferRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, Rejected, UnknownMessageId, UnknownVendorId; `answer.payload.data`) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (data that is not text for a 1.6 charger included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn data_transfer(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DataTransferRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    text(&body.vendor_id, "/vendorId", 255)?;
    optional_text(body.message_id.as_deref(), "/messageId", 50)?;
    if charger.ocpp_version == Some(OcppProtocol::V16) && body.data.as_ref().is_some_and(|d| !d.is_string()) {
        return Err(invalid(
            "/data",
            "an OCPP 1.6 charger takes DataTransfer data as text only (any JSON needs OCPP 2.0.1)",
        ));
    }
    let (vendor_id, message_id, data) = (body.vendor_id.clone(), body.message_id.clone(), body.data.clone());
    run(&state, &charger, OperationKind::DataTransfer, &body, None, |_| {
        ChargerCommand::DataTransfer {
            vendor_id,
            message_id,
            data,
        }
    })
    .await
}

/// Updates the charger's firmware (UpdateFirmware). The statuses the charger then reports
/// (FirmwareStatusNotification: Downloading, Downloaded, Installing, Installed, ...) are followed
/// on the operation to COMPLETED at `Installed`, or FAILED at a failed download or installation.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/update-firmware",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = UpdateFirmwareRequest,
    responses(
        (status = 200, description = "The operation, answered (then IN_PROGRESS, COMPLETED or FAILED as the charger reports) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (a 2.0.1 option for a 1.6 charger included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn update_firmware(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateFirmwareRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    let signed = body.signing_certificate.is_some() || body.signature.is_some();
    if version == Some(OcppProtocol::V16) && signed {
        // The security extension's SignedUpdateFirmware: both parts, and its shorter location.
        if body.signing_certificate.is_none() {
            return Err(invalid(
                "/signingCertificate",
                "a signed firmware update on OCPP 1.6 needs the signing certificate too",
            ));
        }
        if body.signature.is_none() {
            return Err(invalid(
                "/signature",
                "a signed firmware update on OCPP 1.6 needs the signature too",
            ));
        }
        text(&body.location, "/location", 512)?;
    }
    uri(&body.location, "/location", version)?;
    if version == Some(OcppProtocol::V16) && body.install_at.is_some() && !signed {
        return Err(invalid(
            "/installAt",
            "an install time on OCPP 1.6 needs a signed firmware update (signingCertificate and signature)",
        ));
    }
    if let (Some(install), retrieve) = (body.install_at, body.retrieve_at) {
        if install < retrieve {
            return Err(invalid("/installAt", "must not come before retrieveAt"));
        }
    }
    let retries = non_negative(body.retries, "/retries", 0)?;
    let retry_interval_s = non_negative(body.retry_interval, "/retryInterval", 0)?;
    if let Some(certificate) = &body.signing_certificate {
        if certificate.chars().count() > 5500 || certificate.is_empty() {
            return Err(invalid("/signingCertificate", "must be 1 to 5500 characters"));
        }
    }
    optional_text(body.signature.as_deref(), "/signature", 800)?;
    let location = body.location.clone();
    let (retrieve_at, install_at) = (body.retrieve_at, body.install_at);
    let (signing_certificate, signature) = (body.signing_certificate.clone(), body.signature.clone());
    run(
        &state,
        &charger,
        OperationKind::UpdateFirmware,
        &body,
        None,
        |request_id| ChargerCommand::UpdateFirmware {
            location,
            retrieve_at,
            install_at,
            retries,
            retry_interval_s,
            request_id: request_id.unwrap_or_default(),
            signing_certificate,
            signature,
        },
    )
    .await
}

/// Fetches diagnostics (1.6 GetDiagnostics) or a log (2.0.1 GetLog), uploaded by the charger to
/// `location`. The upload statuses it reports (DiagnosticsStatusNotification,
/// LogStatusNotification) are followed on the operation to COMPLETED at `Uploaded`, or FAILED.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/get-diagnostics",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = GetDiagnosticsRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.payload.fileName`; then IN_PROGRESS, COMPLETED or FAILED) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (a 2.0.1 option for a 1.6 charger included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_diagnostics(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GetDiagnosticsRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    if version == Some(OcppProtocol::V16) && body.log_type.is_some() {
        // The security extension's GetLog takes a shorter location than GetDiagnostics.
        text(&body.location, "/location", 512)?;
    }
    uri(&body.location, "/location", version)?;
    if let (Some(from), Some(to)) = (body.from, body.to) {
        if from >= to {
            return Err(invalid("/to", "must come after from"));
        }
    }
    let retries = non_negative(body.retries, "/retries", 0)?;
    let retry_interval_s = non_negative(body.retry_interval, "/retryInterval", 0)?;
    let log = body.log_type.map(|log| match log {
        LogType::SecurityLog => LogKind::Security,
        LogType::DiagnosticsLog => LogKind::Diagnostics,
    });
    let location = body.location.clone();
    let (from, to) = (body.from, body.to);
    run(
        &state,
        &charger,
        OperationKind::GetDiagnostics,
        &body,
        None,
        |request_id| ChargerCommand::GetDiagnostics {
            location,
            log,
            from,
            to,
            retries,
            retry_interval_s,
            request_id: request_id.unwrap_or_default(),
        },
    )
    .await
}

/// Reserves a connector for an id tag until `expiresAt` (ReserveNow). The reservation (listed at
/// `GET /chargers/{chargerId}/reservations`, its id in `requestId`) is ACTIVE once the charger
/// accepts, CONSUMED by a transaction of that tag on that connector, EXPIRED when its time runs
/// out unused.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/reserve-now",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = ReserveNowRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, Occupied, Faulted, Unavailable, Rejected) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (an option of the other OCPP version included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn reserve_now(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReserveNowRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    let now = state.now();
    let connector_id = non_negative(Some(body.connector_id), "/connectorId", 0)?.unwrap_or(0);
    text(&body.id_tag, "/idTag", tag_length(version))?;
    if body.expires_at <= now {
        return Err(invalid("/expiresAt", "must be in the future"));
    }
    only_in(version, OcppProtocol::V16, "/parentIdTag", body.parent_id_tag.is_some())?;
    only_in(
        version,
        OcppProtocol::V201,
        "/idTokenType",
        body.id_token_type.is_some(),
    )?;
    only_in(version, OcppProtocol::V201, "/groupIdTag", body.group_id_tag.is_some())?;
    only_in(
        version,
        OcppProtocol::V201,
        "/connectorType",
        body.connector_type.is_some(),
    )?;
    optional_text(body.parent_id_tag.as_deref(), "/parentIdTag", 20)?;
    optional_text(body.group_id_tag.as_deref(), "/groupIdTag", 36)?;
    let wire = |value: Option<Value>| value.and_then(|v| v.as_str().map(str::to_owned));
    let id_token_type = wire(
        body.id_token_type
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)?,
    );
    let connector_type = wire(
        body.connector_type
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)?,
    );
    let reservation = Reservation {
        charger_id: charger.id.clone(),
        client_id: charger.client_id.clone(),
        reservation_id: 0,
        operation_id: OperationId::new(""),
        connector_id,
        id_tag: body.id_tag.clone(),
        parent_id_tag: body.parent_id_tag.clone().or_else(|| body.group_id_tag.clone()),
        expires_at: body.expires_at,
        status: ReservationStatus::Requested,
        transaction_id: None,
        created_at: now,
        updated_at: now,
    };
    let (id_tag, parent_id_tag, group_id_tag, expires_at) = (
        body.id_tag.clone(),
        body.parent_id_tag.clone(),
        body.group_id_tag.clone(),
        body.expires_at,
    );
    run(
        &state,
        &charger,
        OperationKind::ReserveNow,
        &body,
        Some(reservation),
        |request_id| ChargerCommand::ReserveNow {
            reservation_id: request_id.unwrap_or_default(),
            connector_id,
            id_tag,
            id_token_type,
            parent_id_tag,
            group_id_tag,
            connector_type,
            expires_at,
        },
    )
    .await
}

/// Cancels a reservation (CancelReservation); once the charger accepts, it is CANCELLED.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/cancel-reservation",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = CancelReservationRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted or Rejected) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such reservation on the charger; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn cancel_reservation(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CancelReservationRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let reservation_id = body.reservation_id;
    if state.store.reservation(&charger.id, reservation_id).await?.is_none() {
        return Err(invalid(
            "/reservationId",
            format!("no reservation {reservation_id} on this charger"),
        ));
    }
    run(&state, &charger, OperationKind::CancelReservation, &body, None, |_| {
        ChargerCommand::CancelReservation { reservation_id }
    })
    .await
}

/// Removes charging profiles from the charger (ClearChargingProfile): by id, or by connector,
/// purpose and stack level together (all when nothing is given).
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/clear-charging-profile",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = ClearChargingProfileRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, or Unknown when nothing matched) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit (a purpose of the other OCPP version included); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn clear_charging_profile(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ClearChargingProfileRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    let connector_id = non_negative(body.connector_id, "/connectorId", 0)?;
    non_negative(body.stack_level, "/stackLevel", 0)?;
    let stack_level = body.stack_level;
    let purpose = match body.purpose {
        None => None,
        Some(ProfilePurpose::TxProfile) => Some(LimitPurpose::Transaction),
        Some(ProfilePurpose::TxDefaultProfile) => Some(LimitPurpose::TransactionDefault),
        Some(ProfilePurpose::ChargePointMaxProfile) => {
            only_in(version, OcppProtocol::V16, "/purpose", true)?;
            Some(LimitPurpose::StationMax)
        }
        Some(ProfilePurpose::ChargingStationMaxProfile) => {
            only_in(version, OcppProtocol::V201, "/purpose", true)?;
            Some(LimitPurpose::StationMax)
        }
    };
    let profile_id = body.charging_profile_id;
    run(
        &state,
        &charger,
        OperationKind::ClearChargingProfile,
        &body,
        None,
        |_| ChargerCommand::ClearLimit {
            profile_id,
            connector_id,
            purpose,
            stack_level,
        },
    )
    .await
}

/// The transaction limit a remote start's profile becomes, checked.
fn start_limit(profile: &StartProfile) -> Result<ChargingLimit, ApiError> {
    if profile.charging_profile_id < 1 {
        return Err(invalid("/chargingProfile/chargingProfileId", "must be 1 or more"));
    }
    if profile.stack_level < 0 {
        return Err(invalid("/chargingProfile/stackLevel", "must be 0 or more"));
    }
    if profile.periods.is_empty() || profile.periods.len() > 24 {
        return Err(invalid("/chargingProfile/periods", "must hold 1 to 24 periods"));
    }
    let mut periods = Vec::with_capacity(profile.periods.len());
    let mut previous: Option<i32> = None;
    for (i, period) in profile.periods.iter().enumerate() {
        let at = |field: &str| format!("/chargingProfile/periods/{i}/{field}");
        let first_not_zero = previous.is_none() && period.start_period != 0;
        let not_after = previous.is_some_and(|p| period.start_period <= p);
        if period.start_period < 0 || first_not_zero || not_after {
            return Err(invalid(
                &at("startPeriod"),
                "the first period starts at 0 and each later one after the one before",
            ));
        }
        if !period.limit.is_finite() || period.limit < 0.0 || !is_tenth(period.limit) {
            return Err(invalid(&at("limit"), "must be 0 or more, a multiple of 0.1"));
        }
        if period.number_phases.is_some_and(|n| !(1..=3).contains(&n)) {
            return Err(invalid(&at("numberPhases"), "must be 1, 2 or 3"));
        }
        previous = Some(period.start_period);
        periods.push(LimitPeriod {
            start_offset_s: u32::try_from(period.start_period).unwrap_or(0),
            limit: period.limit,
            phases: period.number_phases,
        });
    }
    if let (Some(from), Some(to)) = (profile.valid_from, profile.valid_to) {
        if from >= to {
            return Err(invalid("/chargingProfile/validTo", "must come after validFrom"));
        }
    }
    Ok(ChargingLimit {
        profile_id: profile.charging_profile_id,
        purpose: LimitPurpose::Transaction,
        stack_level: profile.stack_level,
        transaction_id: None,
        unit: match profile.charging_rate_unit {
            ChargingRateUnit::A => RateUnit::Amperes,
            ChargingRateUnit::W => RateUnit::Watts,
        },
        periods,
        start: profile.start_schedule,
        valid_from: profile.valid_from,
        valid_to: profile.valid_to,
    })
}

/// Starts a transaction (RemoteStartTransaction / RequestStartTransaction), optionally with the
/// transaction profile (TxProfile) it begins with.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/remote-start",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = RemoteStartRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted or Rejected) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value that does not fit; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn remote_start(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RemoteStartRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let connector_id = non_negative(body.connector_id, "/connectorId", 1)?;
    let id_tag = match &body.id_tag {
        Some(tag) => {
            text(tag, "/idTag", tag_length(charger.ocpp_version))?;
            tag.clone()
        }
        None => state.engine.remote_start_id_tag().to_owned(),
    };
    let limit = body.charging_profile.as_ref().map(start_limit).transpose()?;
    run(&state, &charger, OperationKind::RemoteStart, &body, None, |_| {
        ChargerCommand::RemoteStart {
            connector_id,
            id_tag,
            limit,
        }
    })
    .await
}

/// Installs a root certificate on the charger (InstallCertificate; on 1.6 the security
/// extension's). The charger answers `Accepted`, `Rejected` (it refused the certificate) or
/// `Failed` (it could not store it).
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/install-certificate",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = InstallCertificateRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, Rejected, Failed) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A certificate that is not one PEM-encoded X.509 certificate, or a type of the other OCPP version; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn install_certificate(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<InstallCertificateRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let kind = certificate_kind(body.certificate_type, charger.ocpp_version, "/certificateType")?;
    if !kind.is_installable() {
        return Err(invalid(
            "/certificateType",
            "a V2G certificate chain is the station's own: it is signed through SignCertificate, not installed",
        ));
    }
    certificate_pem(&body.certificate, "/certificate", 5500)?;
    let certificate = body.certificate.clone();
    run(&state, &charger, OperationKind::InstallCertificate, &body, None, |_| {
        ChargerCommand::InstallCertificate { kind, certificate }
    })
    .await
}

/// Asks which certificates the charger keeps (GetInstalledCertificateIds; on 1.6 the security
/// extension's). The answer (`Accepted`, or `NotFound` when it keeps none of the kinds asked) and
/// the hash data of each certificate stay on the operation as `answer.payload.certificates`.
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/get-installed-certificate-ids",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = GetInstalledCertificateIdsRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.payload.certificates`: `certificateType`, `certificateHashData`, and on 2.0.1 `childCertificateHashData`) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A type of the other OCPP version, none or several on 1.6, or one twice; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn get_installed_certificate_ids(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GetInstalledCertificateIdsRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let version = charger.ocpp_version;
    let wanted = body.certificate_types.as_deref().unwrap_or_default();
    if wanted.is_empty() && body.certificate_types.is_some() {
        return Err(invalid(
            "/certificateTypes",
            "name at least one type, or leave it out for every type",
        ));
    }
    if version == Some(OcppProtocol::V16) && wanted.len() != 1 {
        return Err(invalid(
            "/certificateTypes",
            "an OCPP 1.6 charger is asked about exactly one type at a time",
        ));
    }
    let mut kinds = Vec::with_capacity(wanted.len());
    for (i, &wanted) in wanted.iter().enumerate() {
        let pointer = format!("/certificateTypes/{i}");
        let kind = certificate_kind(wanted, version, &pointer)?;
        if kinds.contains(&kind) {
            return Err(invalid(&pointer, "is named twice"));
        }
        kinds.push(kind);
    }
    run(
        &state,
        &charger,
        OperationKind::GetInstalledCertificateIds,
        &body,
        None,
        |_| ChargerCommand::GetInstalledCertificateIds { kinds },
    )
    .await
}

/// Deletes a certificate the charger keeps (DeleteCertificate; on 1.6 the security extension's),
/// named by the hash data a `get-installed-certificate-ids` answer reported. The charger answers
/// `Accepted`, `NotFound` or `Failed` (it may not delete it, say its own certificate).
#[utoipa::path(
    post,
    path = "/chargers/{chargerId}/operations/delete-certificate",
    tag = "charger-operations",
    params(("chargerId" = String, Path, description = "The charger's id")),
    request_body = DeleteCertificateRequest,
    responses(
        (status = 200, description = "The operation, answered (`answer.status` Accepted, NotFound, Failed) or failed", body = OperationResponse),
        (status = 202, description = "The operation, sent and not answered yet", body = OperationResponse),
        (status = 404, description = "The client has no such charger", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Hashes that are not 1 to 128 hexadecimal digits, or a serial number that is not 1 to 40; nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Bad request or authentication", body = Problem, content_type = "application/problem+json"),
    ),
    security(("clientCredentials" = [])),
)]
pub async fn delete_certificate(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DeleteCertificateRequest>,
) -> Result<Answered, ApiError> {
    let charger = owned_charger(&state, &caller, &id).await?;
    let data = &body.certificate_hash_data;
    let hash = CertificateHash {
        algorithm: match data.hash_algorithm {
            CertificateHashAlgorithm::Sha256 => HashAlgorithm::Sha256,
            CertificateHashAlgorithm::Sha384 => HashAlgorithm::Sha384,
            CertificateHashAlgorithm::Sha512 => HashAlgorithm::Sha512,
        },
        issuer_name_hash: data.issuer_name_hash.clone(),
        issuer_key_hash: data.issuer_key_hash.clone(),
        serial_number: data.serial_number.clone(),
    };
    if let Err(why) = hash.check() {
        let field = match why {
            CertificateHashError::Hash { field, .. } => field,
            CertificateHashError::SerialNumber => "serialNumber",
        };
        return Err(invalid(&format!("/certificateHashData/{field}"), why.to_string()));
    }
    run(&state, &charger, OperationKind::DeleteCertificate, &body, None, |_| {
        ChargerCommand::DeleteCertificate { hash }
    })
    .await
}
