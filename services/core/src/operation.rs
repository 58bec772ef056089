//! Operations: what an operator asks of one charger (reset it, unlock a connector, read or change
//! its configuration, update its firmware, reserve a connector, ...), each kept as a record.
//!
//! An operation is stored before anything is sent. It then moves through
//! PENDING → SENT → (ACCEPTED | REJECTED | FAILED | NO_RESPONSE); the ones whose work goes on after
//! the charger's answer (a firmware update, a diagnostics or log upload, a device-model report)
//! follow the charger's status notifications: IN_PROGRESS, then COMPLETED or FAILED at the final
//! status. Data a charger sends on its own (DataTransfer) is kept as an operation the charger
//! started. The transitions are the pure functions below; the store applies them under a revision
//! check, so an answer and a notification arriving together cannot undo each other.
//!
//! A reservation is a record of its own beside its ReserveNow operation: it is active once the
//! charger accepts it, consumed by the transaction it was made for, and ends cancelled, expired or
//! removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::charger::ChargerId;
use crate::client::ClientId;
use crate::control::{CommandReply, ControlError};

crate::id::time_ordered_id!(
    /// An operation's identifier.
    OperationId
);

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationKind {
    /// Reset (reboot) the charger.
    Reset,
    /// Release a connector's cable lock.
    UnlockConnector,
    /// Make the charger or a connector operative or inoperative.
    ChangeAvailability,
    /// Read configuration keys (1.6 GetConfiguration, 2.0.1 GetVariables).
    GetConfiguration,
    /// Change a configuration key (1.6 ChangeConfiguration, 2.0.1 SetVariables).
    ChangeConfiguration,
    /// Ask a 2.0.1 station for its device-model report (GetBaseReport, then NotifyReport).
    GetBaseReport,
    /// Ask the charger to send a message (TriggerMessage).
    TriggerMessage,
    /// Clear the authorisation cache.
    ClearCache,
    /// Vendor-specific data, sent by Coupler or received from the charger.
    DataTransfer,
    /// Download and install firmware, followed to its final status.
    UpdateFirmware,
    /// Upload diagnostics (1.6 GetDiagnostics) or a log (GetLog: 2.0.1, and the 1.6 security
    /// extension), followed to its end.
    GetDiagnostics,
    /// Reserve a connector for an id tag.
    ReserveNow,
    /// Cancel a reservation.
    CancelReservation,
    /// Remove charging profiles by id, purpose, connector or stack level.
    ClearChargingProfile,
    /// Start a transaction remotely, optionally with a charging profile.
    RemoteStart,
    /// Deliver a certificate Coupler signed after the charger's SignCertificate.
    CertificateSigned,
    /// Send the local authorisation list, whole or as changes (SendLocalList).
    SendLocalList,
    /// Ask the version of the local authorisation list (GetLocalListVersion).
    GetLocalListVersion,
    /// Install a root certificate on the charger (InstallCertificate).
    InstallCertificate,
    /// Ask which certificates the charger keeps (GetInstalledCertificateIds); the hash data it
    /// reports is kept in the answer.
    GetInstalledCertificateIds,
    /// Delete a certificate the charger keeps (DeleteCertificate).
    DeleteCertificate,
}

impl OperationKind {
    /// Every kind.
    pub const ALL: [Self; 21] = [
        Self::Reset,
        Self::UnlockConnector,
        Self::ChangeAvailability,
        Self::GetConfiguration,
        Self::ChangeConfiguration,
        Self::GetBaseReport,
        Self::TriggerMessage,
        Self::ClearCache,
        Self::DataTransfer,
        Self::UpdateFirmware,
        Self::GetDiagnostics,
        Self::ReserveNow,
        Self::CancelReservation,
        Self::ClearChargingProfile,
        Self::RemoteStart,
        Self::CertificateSigned,
        Self::SendLocalList,
        Self::GetLocalListVersion,
        Self::InstallCertificate,
        Self::GetInstalledCertificateIds,
        Self::DeleteCertificate,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "RESET",
            Self::UnlockConnector => "UNLOCK_CONNECTOR",
            Self::ChangeAvailability => "CHANGE_AVAILABILITY",
            Self::GetConfiguration => "GET_CONFIGURATION",
            Self::ChangeConfiguration => "CHANGE_CONFIGURATION",
            Self::GetBaseReport => "GET_BASE_REPORT",
            Self::TriggerMessage => "TRIGGER_MESSAGE",
            Self::ClearCache => "CLEAR_CACHE",
            Self::DataTransfer => "DATA_TRANSFER",
            Self::UpdateFirmware => "UPDATE_FIRMWARE",
            Self::GetDiagnostics => "GET_DIAGNOSTICS",
            Self::ReserveNow => "RESERVE_NOW",
            Self::CancelReservation => "CANCEL_RESERVATION",
            Self::ClearChargingProfile => "CLEAR_CHARGING_PROFILE",
            Self::RemoteStart => "REMOTE_START",
            Self::CertificateSigned => "CERTIFICATE_SIGNED",
            Self::SendLocalList => "SEND_LOCAL_LIST",
            Self::GetLocalListVersion => "GET_LOCAL_LIST_VERSION",
            Self::InstallCertificate => "INSTALL_CERTIFICATE",
            Self::GetInstalledCertificateIds => "GET_INSTALLED_CERTIFICATE_IDS",
            Self::DeleteCertificate => "DELETE_CERTIFICATE",
        }
    }

    /// Reads [`OperationKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Whether the charger goes on reporting after its answer (status notifications, reports).
    pub fn is_long_running(self) -> bool {
        matches!(self, Self::UpdateFirmware | Self::GetDiagnostics | Self::GetBaseReport)
    }

    /// Whether the operation carries a number of its own on the wire (a `requestId` its
    /// notifications echo, or a reservation's id), allocated per charger when it is stored.
    pub fn needs_request_id(self) -> bool {
        matches!(
            self,
            Self::UpdateFirmware | Self::GetDiagnostics | Self::GetBaseReport | Self::ReserveNow
        )
    }
}

/// Who started an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Initiator {
    /// Coupler, on an API client's request.
    Coupler,
    /// The charger (a DataTransfer it sent).
    Charger,
}

impl Initiator {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coupler => "COUPLER",
            Self::Charger => "CHARGER",
        }
    }

    /// Reads [`Initiator::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "COUPLER" => Some(Self::Coupler),
            "CHARGER" => Some(Self::Charger),
            _ => None,
        }
    }
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationStatus {
    /// Stored, not sent yet.
    Pending,
    /// Sent; the charger has not answered yet.
    Sent,
    /// The charger took it on. Final, except for the long-running kinds.
    Accepted,
    /// The charger refused it (its answer says how).
    Rejected,
    /// It could not be carried out: not connected, an OCPP error, or a failure the charger reported.
    Failed,
    /// The charger did not answer in time.
    NoResponse,
    /// A long-running operation the charger is reporting on.
    InProgress,
    /// A long-running operation that reached its final, successful status.
    Completed,
}

impl OperationStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Accepted => "ACCEPTED",
            Self::Rejected => "REJECTED",
            Self::Failed => "FAILED",
            Self::NoResponse => "NO_RESPONSE",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
        }
    }

    /// Reads [`OperationStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sent,
            Self::Accepted,
            Self::Rejected,
            Self::Failed,
            Self::NoResponse,
            Self::InProgress,
            Self::Completed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Whether the charger has not answered yet.
    pub fn is_unanswered(self) -> bool {
        matches!(self, Self::Pending | Self::Sent)
    }

    /// Whether nothing more will change it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Failed | Self::NoResponse | Self::Completed)
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureKind {
    /// The charger was not connected, so nothing was sent.
    NotConnected,
    /// The charger answered with an OCPP CALLERROR.
    CallError,
    /// The charger's answer broke the OCPP schema.
    InvalidReply,
    /// The request cannot be expressed in the charger's OCPP version.
    Unsupported,
    /// The connection closed before the charger answered.
    Disconnected,
    /// Coupler stopped while the operation waited for its answer.
    Interrupted,
    /// The charger reported the work failed (a failed download, installation or upload).
    ChargerReported,
}

impl FailureKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConnected => "NOT_CONNECTED",
            Self::CallError => "CALL_ERROR",
            Self::InvalidReply => "INVALID_REPLY",
            Self::Unsupported => "UNSUPPORTED",
            Self::Disconnected => "DISCONNECTED",
            Self::Interrupted => "INTERRUPTED",
            Self::ChargerReported => "CHARGER_REPORTED",
        }
    }

    /// Reads [`FailureKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::NotConnected,
            Self::CallError,
            Self::InvalidReply,
            Self::Unsupported,
            Self::Disconnected,
            Self::Interrupted,
            Self::ChargerReported,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// Why an operation failed, in a word and in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationFailure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// What happened.
    pub detail: String,
}

/// One status the charger reported about a long-running operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressEntry {
    /// The status as the charger sent it (`Downloading`, `Installed`, `Uploaded`, ...).
    pub status: String,
    /// When Coupler received it.
    pub at: DateTime<Utc>,
}

/// What a status notification means for the operation it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Work goes on.
    Ongoing,
    /// The work is done.
    Succeeded,
    /// The work failed; nothing more will come.
    Failed,
    /// Nothing is going on (a triggered `Idle`): recorded, changes nothing.
    Idle,
}

/// What a firmware status (1.6 or 2.0.1 FirmwareStatusNotification) means.
pub fn firmware_progress(status: &str) -> Progress {
    match status {
        "Installed" => Progress::Succeeded,
        "DownloadFailed" | "InstallationFailed" | "InstallVerificationFailed" | "InvalidSignature" => Progress::Failed,
        "Idle" => Progress::Idle,
        _ => Progress::Ongoing,
    }
}

/// What a diagnostics or log upload status (1.6 DiagnosticsStatusNotification, 2.0.1
/// LogStatusNotification) means. `AcceptedCanceled` ends an upload that a newer request replaced.
pub fn upload_progress(status: &str) -> Progress {
    match status {
        "Uploaded" => Progress::Succeeded,
        "UploadFailed"
        | "UploadFailure"
        | "BadMessage"
        | "NotSupportedOperation"
        | "PermissionDenied"
        | "AcceptedCanceled" => Progress::Failed,
        "Idle" => Progress::Idle,
        _ => Progress::Ongoing,
    }
}

/// An operation on one charger.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Identifier.
    pub id: OperationId,
    /// The API client whose charger it is.
    pub client_id: ClientId,
    /// The charger.
    pub charger_id: ChargerId,
    /// What it does.
    pub kind: OperationKind,
    /// Who started it.
    pub initiator: Initiator,
    /// The OCPP action that carried it (`GetVariables`, `UpdateFirmware`, ...), once known.
    pub ocpp_action: Option<String>,
    /// The request's parameters, as the API took them (or as the charger sent them).
    pub request: serde_json::Value,
    /// The number it carries on the wire, for the kinds that need one (see
    /// [`OperationKind::needs_request_id`]); allocated per charger by the store.
    pub request_id: Option<i32>,
    /// Where it is.
    pub status: OperationStatus,
    /// The status word of the charger's answer.
    pub answer_status: Option<String>,
    /// The charger's answer, summarised as JSON.
    pub answer: Option<serde_json::Value>,
    /// Why it failed.
    pub failure: Option<OperationFailure>,
    /// The statuses the charger reported afterwards, oldest first.
    pub progress: Vec<ProgressEntry>,
    /// The status that ended a long-running operation.
    pub final_status: Option<String>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the charger answered (or the wait for it ended).
    pub answered_at: Option<DateTime<Utc>>,
    /// When a long-running operation reached its final status.
    pub completed_at: Option<DateTime<Utc>>,
    /// Bumped by every change; the store saves only over the revision it read.
    pub revision: i64,
    /// The node that sends it and waits for the charger's answer (the one that took it, or the
    /// node holding the charger's socket it was handed to); `None` for one the charger started,
    /// or one stored before nodes had names. A node that restarts fails only the unanswered
    /// operations of its own previous run and of nodes that died.
    pub node: Option<crate::node::NodeId>,
}

impl Operation {
    /// A new operation Coupler is asked to carry out, not yet sent.
    pub fn requested(
        client_id: ClientId,
        charger_id: ChargerId,
        kind: OperationKind,
        request: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: OperationId::generate(),
            client_id,
            charger_id,
            kind,
            initiator: Initiator::Coupler,
            ocpp_action: None,
            request,
            request_id: None,
            status: OperationStatus::Pending,
            answer_status: None,
            answer: None,
            failure: None,
            progress: Vec::new(),
            final_status: None,
            requested_at: at,
            sent_at: None,
            answered_at: None,
            completed_at: None,
            revision: 0,
            node: None,
        }
    }

    /// Sent as `ocpp_action` at `at`.
    pub fn mark_sent(&mut self, ocpp_action: &str, at: DateTime<Utc>) {
        if self.status == OperationStatus::Pending {
            self.status = OperationStatus::Sent;
        }
        self.ocpp_action = Some(ocpp_action.to_owned());
        self.sent_at = Some(at);
    }

    /// Failed before it could be sent, or while it waited.
    pub fn fail(&mut self, kind: FailureKind, detail: impl Into<String>, at: DateTime<Utc>) {
        self.status = OperationStatus::Failed;
        self.failure = Some(OperationFailure {
            kind,
            detail: detail.into(),
        });
        self.answered_at.get_or_insert(at);
    }

    /// Records the charger's answer (or why there was none). A status notification that arrived
    /// before the answer was recorded keeps the progress it made.
    pub fn apply_answer(&mut self, answer: &Result<CommandReply, ControlError>, at: DateTime<Utc>) {
        self.answered_at = Some(at);
        match answer {
            Ok(reply) => {
                self.answer_status = Some(reply.status().to_owned());
                self.answer = Some(reply.summary());
                if self.status.is_unanswered() {
                    self.status = if reply.is_accepted() {
                        OperationStatus::Accepted
                    } else {
                        OperationStatus::Rejected
                    };
                } else if !reply.is_accepted() && !self.status.is_final() {
                    self.status = OperationStatus::Rejected;
                }
                if self.kind == OperationKind::GetBaseReport && reply.status() == "EmptyResultSet" {
                    // Nothing will be reported: the operation is done.
                    self.status = OperationStatus::Completed;
                    self.final_status = Some("EmptyResultSet".to_owned());
                    self.completed_at = Some(at);
                }
            }
            Err(error) => {
                let (status, kind) = match error {
                    ControlError::Timeout => (OperationStatus::NoResponse, None),
                    ControlError::NotConnected => (OperationStatus::Failed, Some(FailureKind::NotConnected)),
                    ControlError::CallError { .. } => (OperationStatus::Failed, Some(FailureKind::CallError)),
                    ControlError::InvalidReply(_) => (OperationStatus::Failed, Some(FailureKind::InvalidReply)),
                    ControlError::Unsupported(_) => (OperationStatus::Failed, Some(FailureKind::Unsupported)),
                    ControlError::Disconnected => (OperationStatus::Failed, Some(FailureKind::Disconnected)),
                };
                if let ControlError::CallError { code, description } = error {
                    self.answer_status = Some(code.clone());
                    self.answer = Some(serde_json::json!({"errorCode": code, "errorDescription": description}));
                }
                if self.status.is_unanswered() {
                    self.status = status;
                    self.failure = kind.map(|kind| OperationFailure {
                        kind,
                        detail: error.to_string(),
                    });
                }
            }
        }
    }

    /// Records a status the charger reported about this operation; `meaning` says what it means
    /// ([`firmware_progress`], [`upload_progress`]). Returns whether it changed anything: nothing
    /// changes a finished operation.
    pub fn apply_progress(&mut self, status: &str, meaning: Progress, at: DateTime<Utc>) -> bool {
        if self.status.is_final() {
            return false;
        }
        self.progress.push(ProgressEntry {
            status: status.to_owned(),
            at,
        });
        match meaning {
            Progress::Idle => {}
            Progress::Ongoing => self.status = OperationStatus::InProgress,
            Progress::Succeeded => {
                self.status = OperationStatus::Completed;
                self.final_status = Some(status.to_owned());
                self.completed_at = Some(at);
            }
            Progress::Failed => {
                self.status = OperationStatus::Failed;
                self.final_status = Some(status.to_owned());
                self.completed_at = Some(at);
                self.failure = Some(OperationFailure {
                    kind: FailureKind::ChargerReported,
                    detail: format!("the charger reported {status}"),
                });
            }
        }
        true
    }

    /// A DataTransfer the charger sent, with what Coupler answered.
    pub fn received_data_transfer(
        client_id: ClientId,
        charger_id: ChargerId,
        request: serde_json::Value,
        answer_status: &str,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            initiator: Initiator::Charger,
            ocpp_action: Some("DataTransfer".to_owned()),
            status: if answer_status == "Accepted" {
                OperationStatus::Accepted
            } else {
                OperationStatus::Rejected
            },
            answer_status: Some(answer_status.to_owned()),
            answer: Some(serde_json::json!({ "status": answer_status })),
            sent_at: Some(at),
            answered_at: Some(at),
            ..Self::requested(client_id, charger_id, OperationKind::DataTransfer, request, at)
        }
    }
}

/// Where a reservation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Sent; the charger has not accepted it yet.
    Requested,
    /// The charger holds it.
    Active,
    /// The charger refused it (or it could not be sent).
    Rejected,
    /// A transaction of its id tag started on it.
    Consumed,
    /// Cancelled through Coupler.
    Cancelled,
    /// Its time ran out unused.
    Expired,
    /// The charger removed it (2.0.1 ReservationStatusUpdate `Removed`).
    Removed,
}

impl ReservationStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "REQUESTED",
            Self::Active => "ACTIVE",
            Self::Rejected => "REJECTED",
            Self::Consumed => "CONSUMED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Removed => "REMOVED",
        }
    }

    /// Reads [`ReservationStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Requested,
            Self::Active,
            Self::Rejected,
            Self::Consumed,
            Self::Cancelled,
            Self::Expired,
            Self::Removed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A reservation of a connector for an id tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// The charger.
    pub charger_id: ChargerId,
    /// The API client whose charger it is.
    pub client_id: ClientId,
    /// Its id on the wire (unique per charger).
    pub reservation_id: i32,
    /// The ReserveNow operation that made it.
    pub operation_id: OperationId,
    /// The connector (the 2.0.1 EVSE); 0 for any.
    pub connector_id: u32,
    /// The id tag it is for.
    pub id_tag: String,
    /// A group tag that may use it too.
    pub parent_id_tag: Option<String>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// Where it is, as stored ([`Reservation::status_at`] adds expiry).
    pub status: ReservationStatus,
    /// The session that consumed it.
    pub transaction_id: Option<i64>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

impl Reservation {
    /// Its status at `now`: an active or requested reservation past its expiry is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> ReservationStatus {
        match self.status {
            ReservationStatus::Active | ReservationStatus::Requested if now >= self.expires_at => {
                ReservationStatus::Expired
            }
            status => status,
        }
    }

    /// Whether a transaction started at `now` on `connector_id` with `id_tag` (or naming
    /// `reservation_id`) uses this reservation: it must be active and unexpired, and be for that
    /// connector (or any), and for that tag or its group. Id tags compare case-insensitively, as
    /// OCPP's do.
    pub fn is_used_by(
        &self,
        connector_id: Option<u32>,
        id_tag: Option<&str>,
        reservation_id: Option<i32>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.status_at(now) != ReservationStatus::Active {
            return false;
        }
        if reservation_id == Some(self.reservation_id) {
            return true;
        }
        let connector_fits = self.connector_id == 0 || connector_id.is_none_or(|c| c == self.connector_id);
        let tag_fits = id_tag.is_some_and(|tag| {
            tag.eq_ignore_ascii_case(&self.id_tag)
                || self
                    .parent_id_tag
                    .as_deref()
                    .is_some_and(|parent| tag.eq_ignore_ascii_case(parent))
        });
        connector_fits && tag_fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 10, minute, 0)
            .single()
            .unwrap_or_default()
    }

    fn firmware() -> Operation {
        Operation::requested(
            ClientId::new("client"),
            ChargerId::new("charger"),
            OperationKind::UpdateFirmware,
            serde_json::json!({"location": "https://fw.example/1.bin"}),
            at(0),
        )
    }

    fn accepted() -> Result<CommandReply, ControlError> {
        Ok(CommandReply::Status {
            accepted: true,
            status: "Accepted".into(),
        })
    }

    #[test]
    fn a_firmware_update_walks_from_sent_to_completed_at_installed() {
        let mut op = firmware();
        op.mark_sent("UpdateFirmware", at(1));
        assert_eq!(op.status, OperationStatus::Sent);
        op.apply_answer(&accepted(), at(1));
        assert_eq!(op.status, OperationStatus::Accepted);
        for status in ["Downloading", "Downloaded", "Installing"] {
            assert!(op.apply_progress(status, firmware_progress(status), at(2)));
            assert_eq!(op.status, OperationStatus::InProgress, "{status}");
        }
        assert!(op.apply_progress("Installed", firmware_progress("Installed"), at(3)));
        assert_eq!(op.status, OperationStatus::Completed);
        assert_eq!(op.final_status.as_deref(), Some("Installed"));
        assert_eq!(op.completed_at, Some(at(3)));
        assert_eq!(op.progress.len(), 4);
        assert!(
            !op.apply_progress("Idle", firmware_progress("Idle"), at(4)),
            "a finished operation changes no more"
        );
    }

    #[test]
    fn a_notification_before_the_recorded_answer_is_not_undone_by_it() {
        let mut op = firmware();
        op.mark_sent("UpdateFirmware", at(1));
        op.apply_progress("Downloading", Progress::Ongoing, at(1));
        op.apply_answer(&accepted(), at(2));
        assert_eq!(op.status, OperationStatus::InProgress);
        assert_eq!(op.answer_status.as_deref(), Some("Accepted"));
    }

    #[test]
    fn a_failed_download_or_upload_fails_the_operation_with_the_chargers_word() {
        let mut op = firmware();
        op.apply_answer(&accepted(), at(1));
        op.apply_progress("DownloadFailed", firmware_progress("DownloadFailed"), at(2));
        assert_eq!(op.status, OperationStatus::Failed);
        assert_eq!(op.failure.as_ref().map(|f| f.kind), Some(FailureKind::ChargerReported));
        assert_eq!(upload_progress("UploadFailure"), Progress::Failed);
        assert_eq!(upload_progress("Uploading"), Progress::Ongoing);
        assert_eq!(upload_progress("Uploaded"), Progress::Succeeded);
        assert_eq!(firmware_progress("SignatureVerified"), Progress::Ongoing);
        assert_eq!(firmware_progress("InvalidSignature"), Progress::Failed);
    }

    #[test]
    fn no_answer_refusals_and_errors_each_end_the_operation_their_own_way() {
        let mut op = firmware();
        op.mark_sent("UpdateFirmware", at(1));
        op.apply_answer(&Err(ControlError::Timeout), at(2));
        assert_eq!((op.status, op.failure.is_none()), (OperationStatus::NoResponse, true));

        let mut op = firmware();
        op.apply_answer(
            &Ok(CommandReply::Status {
                accepted: false,
                status: "InvalidCertificate".into(),
            }),
            at(2),
        );
        assert_eq!(op.status, OperationStatus::Rejected);
        assert_eq!(op.answer, Some(serde_json::json!({"status": "InvalidCertificate"})));

        let mut op = firmware();
        op.apply_answer(
            &Err(ControlError::CallError {
                code: "NotSupported".into(),
                description: "no".into(),
            }),
            at(2),
        );
        assert_eq!(op.status, OperationStatus::Failed);
        assert_eq!(op.answer_status.as_deref(), Some("NotSupported"));
        assert_eq!(op.failure.map(|f| f.kind), Some(FailureKind::CallError));
    }

    #[test]
    fn wire_names_read_back() {
        for kind in OperationKind::ALL {
            assert_eq!(OperationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OperationStatus::parse("NO_RESPONSE"), Some(OperationStatus::NoResponse));
        assert_eq!(FailureKind::parse("NOT_CONNECTED"), Some(FailureKind::NotConnected));
        assert_eq!(ReservationStatus::parse("CONSUMED"), Some(ReservationStatus::Consumed));
        assert_eq!(Initiator::parse("CHARGER"), Some(Initiator::Charger));
    }

    fn reservation(connector_id: u32) -> Reservation {
        Reservation {
            charger_id: ChargerId::new("charger"),
            client_id: ClientId::new("client"),
            reservation_id: 7,
            operation_id: OperationId::new("op"),
            connector_id,
            id_tag: "RFID-1".into(),
            parent_id_tag: Some("FLEET".into()),
            expires_at: at(30),
            status: ReservationStatus::Active,
            transaction_id: None,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    #[test]
    fn a_reservation_is_used_by_its_tag_or_group_on_its_connector_before_it_expires() {
        let on_one = reservation(1);
        assert!(on_one.is_used_by(Some(1), Some("rfid-1"), None, at(10)));
        assert!(on_one.is_used_by(Some(1), Some("FLEET"), None, at(10)));
        assert!(
            !on_one.is_used_by(Some(2), Some("RFID-1"), None, at(10)),
            "another connector"
        );
        assert!(!on_one.is_used_by(Some(1), Some("RFID-2"), None, at(10)), "another tag");
        assert!(!on_one.is_used_by(Some(1), Some("RFID-1"), None, at(30)), "expired");
        assert!(
            on_one.is_used_by(Some(2), Some("other"), Some(7), at(10)),
            "named by id"
        );
        assert!(
            reservation(0).is_used_by(Some(2), Some("RFID-1"), None, at(10)),
            "any connector"
        );
        assert_eq!(on_one.status_at(at(29)), ReservationStatus::Active);
        assert_eq!(on_one.status_at(at(30)), ReservationStatus::Expired);
        let consumed = Reservation {
            status: ReservationStatus::Consumed,
            ..reservation(1)
        };
        assert_eq!(consumed.status_at(at(40)), ReservationStatus::Consumed);
        assert!(!consumed.is_used_by(Some(1), Some("RFID-1"), Some(7), at(10)));
    }
}
