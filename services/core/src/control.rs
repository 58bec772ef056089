//! The charger-control port: what the engine may ask of a connected charger, in words that belong to
//! no OCPP version. The gateway implements it for 1.6 and 2.0.1; the engine never sees a version.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::authorisation::LocalListChange;
use crate::charger::{ChargerId, OcppProtocol};
use crate::security::{CertificateHash, InstalledCertificate, InstalledCertificateKind};

/// What a charging limit applies to. Each source of limits (a user's max current, a smart-charging
/// plan, a site or grid limit) gets its own profile, so several can hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LimitPurpose {
    /// One running transaction (OCPP TxProfile).
    Transaction,
    /// Every transaction that has no transaction limit (TxDefaultProfile).
    TransactionDefault,
    /// The whole station (ChargePointMaxProfile / ChargingStationMaxProfile).
    StationMax,
}

/// The unit of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RateUnit {
    /// Amperes per phase.
    Amperes,
    /// Watts.
    Watts,
}

/// One step of a limit schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LimitPeriod {
    /// Seconds from the start of the schedule.
    pub start_offset_s: u32,
    /// The limit, in the schedule's unit (a multiple of 0.1).
    pub limit: f64,
    /// Phases that may be used, when the limit is about phases.
    pub phases: Option<u8>,
}

/// A charging limit for the charger to hold (an OCPP charging profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChargingLimit {
    /// Profile id; the same id replaces the earlier profile.
    pub profile_id: i32,
    /// What it applies to.
    pub purpose: LimitPurpose,
    /// Priority among limits of the same purpose; higher wins.
    pub stack_level: i32,
    /// The transaction, for [`LimitPurpose::Transaction`].
    pub transaction_id: Option<i64>,
    /// The unit of the periods.
    pub unit: RateUnit,
    /// The steps, the first starting at 0.
    pub periods: Vec<LimitPeriod>,
    /// Absolute start; `None` starts the schedule when it applies (a relative schedule).
    pub start: Option<DateTime<Utc>>,
    /// From when it applies.
    pub valid_from: Option<DateTime<Utc>>,
    /// Until when it applies, so it lapses by itself even if the connection drops.
    pub valid_to: Option<DateTime<Utc>>,
}

impl ChargingLimit {
    /// A constant limit.
    pub fn constant(profile_id: i32, purpose: LimitPurpose, stack_level: i32, unit: RateUnit, limit: f64) -> Self {
        Self {
            profile_id,
            purpose,
            stack_level,
            transaction_id: None,
            unit,
            periods: vec![LimitPeriod {
                start_offset_s: 0,
                limit,
                phases: None,
            }],
            start: None,
            valid_from: None,
            valid_to: None,
        }
    }
}

/// A message the charger may be asked to send (OCPP TriggerMessage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TriggerKind {
    /// BootNotification.
    BootNotification,
    /// Heartbeat.
    Heartbeat,
    /// MeterValues.
    MeterValues,
    /// StatusNotification.
    StatusNotification,
    /// FirmwareStatusNotification.
    FirmwareStatusNotification,
    /// DiagnosticsStatusNotification (1.6); a 2.0.1 station is asked for its LogStatusNotification.
    DiagnosticsStatusNotification,
    /// LogStatusNotification (2.0.1 only).
    LogStatusNotification,
    /// TransactionEvent (2.0.1 only).
    TransactionEvent,
    /// SignChargingStationCertificate (2.0.1 only): the station then sends a SignCertificate.
    SignChargingStationCertificate,
    /// SignV2GCertificate (2.0.1 only).
    SignV2gCertificate,
    /// SignCombinedCertificate (2.0.1 only).
    SignCombinedCertificate,
    /// PublishFirmwareStatusNotification (2.0.1 only).
    PublishFirmwareStatusNotification,
    /// SignChargePointCertificate (1.6 security extension, through ExtendedTriggerMessage): the
    /// charger then sends a SignCertificate.
    SignChargePointCertificate,
}

impl TriggerKind {
    /// Every triggerable message of either version.
    pub const ALL: [Self; 13] = [
        Self::BootNotification,
        Self::Heartbeat,
        Self::MeterValues,
        Self::StatusNotification,
        Self::FirmwareStatusNotification,
        Self::DiagnosticsStatusNotification,
        Self::LogStatusNotification,
        Self::TransactionEvent,
        Self::SignChargingStationCertificate,
        Self::SignV2gCertificate,
        Self::SignCombinedCertificate,
        Self::PublishFirmwareStatusNotification,
        Self::SignChargePointCertificate,
    ];

    /// The OCPP name of the message.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BootNotification => "BootNotification",
            Self::Heartbeat => "Heartbeat",
            Self::MeterValues => "MeterValues",
            Self::StatusNotification => "StatusNotification",
            Self::FirmwareStatusNotification => "FirmwareStatusNotification",
            Self::DiagnosticsStatusNotification => "DiagnosticsStatusNotification",
            Self::LogStatusNotification => "LogStatusNotification",
            Self::TransactionEvent => "TransactionEvent",
            Self::SignChargingStationCertificate => "SignChargingStationCertificate",
            Self::SignV2gCertificate => "SignV2GCertificate",
            Self::SignCombinedCertificate => "SignCombinedCertificate",
            Self::PublishFirmwareStatusNotification => "PublishFirmwareStatusNotification",
            Self::SignChargePointCertificate => "SignChargePointCertificate",
        }
    }

    /// Reads [`TriggerKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Whether OCPP `protocol` can ask for this message.
    pub fn exists_in(self, protocol: OcppProtocol) -> bool {
        match self {
            Self::BootNotification
            | Self::Heartbeat
            | Self::MeterValues
            | Self::StatusNotification
            | Self::FirmwareStatusNotification => true,
            Self::DiagnosticsStatusNotification | Self::SignChargePointCertificate => protocol == OcppProtocol::V16,
            // 1.6 asks for it through the security extension's ExtendedTriggerMessage.
            Self::LogStatusNotification => true,
            _ => protocol == OcppProtocol::V201,
        }
    }

    /// Whether the 1.6 security extension's ExtendedTriggerMessage can ask for it.
    pub fn is_extended_trigger(self) -> bool {
        matches!(
            self,
            Self::BootNotification
                | Self::LogStatusNotification
                | Self::FirmwareStatusNotification
                | Self::Heartbeat
                | Self::MeterValues
                | Self::SignChargePointCertificate
                | Self::StatusNotification
        )
    }

    /// Whether 1.6 can ask for it only through ExtendedTriggerMessage (the core TriggerMessage
    /// does not know it).
    pub fn needs_extended_trigger(self) -> bool {
        matches!(self, Self::LogStatusNotification | Self::SignChargePointCertificate)
    }
}

/// How a charger is to reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResetKind {
    /// 1.6 `Soft`: restart the software, ending transactions gracefully.
    Soft,
    /// 1.6 `Hard`: power cycle.
    Hard,
    /// 2.0.1 `Immediate`: now, ending transactions.
    Immediate,
    /// 2.0.1 `OnIdle`: once no transaction runs.
    OnIdle,
}

impl ResetKind {
    /// The OCPP name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Soft => "Soft",
            Self::Hard => "Hard",
            Self::Immediate => "Immediate",
            Self::OnIdle => "OnIdle",
        }
    }

    /// The version that names this kind.
    pub fn protocol(self) -> OcppProtocol {
        match self {
            Self::Soft | Self::Hard => OcppProtocol::V16,
            Self::Immediate | Self::OnIdle => OcppProtocol::V201,
        }
    }
}

/// Which log a charger is asked to upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogKind {
    /// Diagnostics (GetLog `DiagnosticsLog`).
    Diagnostics,
    /// The security log (GetLog `SecurityLog`).
    Security,
}

/// Which report a 2.0.1 station is asked for (GetBaseReport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReportKind {
    /// Every variable that can be set.
    ConfigurationInventory,
    /// Every component and variable.
    FullInventory,
    /// The components' availability and problems.
    SummaryInventory,
}

impl ReportKind {
    /// The OCPP name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigurationInventory => "ConfigurationInventory",
            Self::FullInventory => "FullInventory",
            Self::SummaryInventory => "SummaryInventory",
        }
    }
}

/// The id tag remote starts are made with unless configured otherwise: the gateway (2.0.1) and the
/// charger engine (1.6) both default to it, so a charger sees one tag whichever path starts it.
pub const DEFAULT_REMOTE_START_ID_TAG: &str = "COUPLER";

/// A command for a charger. It travels as JSON in the store when the node that takes an operation
/// hands it to the node that holds the charger's socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChargerCommand {
    /// Start a transaction (RemoteStartTransaction / RequestStartTransaction).
    RemoteStart {
        /// The connector; `None` lets the charger choose.
        connector_id: Option<u32>,
        /// The id tag to start it with.
        id_tag: String,
        /// A transaction limit to start with.
        limit: Option<ChargingLimit>,
    },
    /// Stop a transaction.
    RemoteStop {
        /// The transaction.
        transaction_id: i64,
    },
    /// Install a charging limit.
    SetLimit {
        /// The connector (0 for the station as a whole).
        connector_id: u32,
        /// The limit.
        limit: ChargingLimit,
    },
    /// Remove limits matching all the given criteria.
    ClearLimit {
        /// Profile id.
        profile_id: Option<i32>,
        /// Connector.
        connector_id: Option<u32>,
        /// Purpose.
        purpose: Option<LimitPurpose>,
        /// Stack level.
        stack_level: Option<i32>,
    },
    /// Ask for the limit the charger will apply over the coming `duration_s` seconds.
    GetCompositeSchedule {
        /// The connector (0 for the station).
        connector_id: u32,
        /// How far ahead, in seconds.
        duration_s: u32,
        /// The unit wanted.
        unit: Option<RateUnit>,
    },
    /// Change a configuration key.
    ChangeConfiguration {
        /// Key.
        key: String,
        /// New value.
        value: String,
    },
    /// Read configuration keys (all when empty).
    GetConfiguration {
        /// Keys.
        keys: Vec<String>,
    },
    /// Ask the charger to send a message (TriggerMessage).
    Trigger {
        /// Which message.
        message: TriggerKind,
        /// For connector-specific messages.
        connector_id: Option<u32>,
    },
    /// 1.6 security extension: ask the charger to send a message through ExtendedTriggerMessage
    /// (see [`TriggerKind::is_extended_trigger`]).
    ExtendedTrigger {
        /// Which message.
        message: TriggerKind,
        /// For connector-specific messages.
        connector_id: Option<u32>,
    },
    /// Reboot. A kind of the other version is sent as its nearest (Hard as Immediate, Soft as
    /// OnIdle, and back).
    Reset {
        /// How.
        kind: ResetKind,
        /// 2.0.1: only this EVSE.
        evse_id: Option<u32>,
    },
    /// Make a connector (0: all) operative or not.
    ChangeAvailability {
        /// Connector (the 2.0.1 EVSE).
        connector_id: u32,
        /// 2.0.1: one connector of the EVSE.
        evse_connector_id: Option<u32>,
        /// Operative or inoperative.
        operative: bool,
    },
    /// Release the cable lock of a connector.
    UnlockConnector {
        /// Connector (the 2.0.1 EVSE).
        connector_id: u32,
        /// 2.0.1: the connector of the EVSE (1 when not given).
        evse_connector_id: Option<u32>,
    },
    /// Clear the authorisation cache.
    ClearCache,
    /// Vendor-specific data (DataTransfer). 1.6 carries text only.
    DataTransfer {
        /// Vendor identifier.
        vendor_id: String,
        /// Vendor-specific message id.
        message_id: Option<String>,
        /// The data.
        data: Option<serde_json::Value>,
    },
    /// Download and install firmware (UpdateFirmware); progress follows in status notifications.
    /// A signed firmware (a signing certificate and a signature) goes to a 1.6 charger as the
    /// security extension's SignedUpdateFirmware.
    UpdateFirmware {
        /// Where the firmware is.
        location: String,
        /// When to retrieve it.
        retrieve_at: DateTime<Utc>,
        /// When to install it (2.0.1, and 1.6 signed firmware).
        install_at: Option<DateTime<Utc>>,
        /// How many times to try.
        retries: Option<u32>,
        /// Seconds between tries.
        retry_interval_s: Option<u32>,
        /// The id its status notifications carry (2.0.1, and 1.6 signed firmware).
        request_id: i32,
        /// The certificate the firmware is signed with.
        signing_certificate: Option<String>,
        /// The firmware's signature.
        signature: Option<String>,
    },
    /// Upload diagnostics or a log to `location` (1.6 GetDiagnostics or the security extension's
    /// GetLog, 2.0.1 GetLog).
    GetDiagnostics {
        /// Where to upload it.
        location: String,
        /// Which log: `None` asks for diagnostics each version's plain way (1.6 GetDiagnostics,
        /// 2.0.1 GetLog `DiagnosticsLog`); a log kind asks for a GetLog of it (in 1.6, the
        /// security extension's).
        log: Option<LogKind>,
        /// Oldest information to include.
        from: Option<DateTime<Utc>>,
        /// Newest information to include.
        to: Option<DateTime<Utc>>,
        /// How many times to try.
        retries: Option<u32>,
        /// Seconds between tries.
        retry_interval_s: Option<u32>,
        /// The id its LogStatusNotifications carry (GetLog).
        request_id: i32,
    },
    /// Reserve a connector (0: any) for an id tag until `expires_at`.
    ReserveNow {
        /// The reservation's id.
        reservation_id: i32,
        /// Connector (the 2.0.1 EVSE); 0 for any.
        connector_id: u32,
        /// The id tag it is for.
        id_tag: String,
        /// 2.0.1: the id token's type (`ISO14443` when not given).
        id_token_type: Option<String>,
        /// 1.6: the tag's group, which may use it too.
        parent_id_tag: Option<String>,
        /// 2.0.1: the group token, which may use it too.
        group_id_tag: Option<String>,
        /// 2.0.1: any EVSE with this kind of connector.
        connector_type: Option<String>,
        /// When it ends.
        expires_at: DateTime<Utc>,
    },
    /// Cancel a reservation.
    CancelReservation {
        /// The reservation's id.
        reservation_id: i32,
    },
    /// 2.0.1: ask for a device-model report, sent in NotifyReport messages.
    GetBaseReport {
        /// The id the NotifyReports carry.
        request_id: i32,
        /// Which report.
        report: ReportKind,
    },
    /// Deliver a certificate Coupler signed for the charger (CertificateSigned), after its
    /// SignCertificate.
    CertificateSigned {
        /// PEM certificates, the charger's own first, then the CA's.
        chain: String,
        /// Which certificate it is.
        usage: crate::security::CertificateUse,
    },
    /// Replace (`full`) or change the charger's local authorisation list (SendLocalList).
    SendLocalList {
        /// The version the list has after this update (above 0).
        version: i32,
        /// Whether this is the whole list (`Full`) or changes to the one the charger holds
        /// (`Differential`).
        full: bool,
        /// The entries: for a full list every one (all [`LocalListChange::Put`]).
        changes: Vec<LocalListChange>,
    },
    /// Ask the version of the charger's local authorisation list (GetLocalListVersion).
    GetLocalListVersion,
    /// Install a root certificate on the charger (InstallCertificate).
    InstallCertificate {
        /// Which kind of root it is.
        kind: InstalledCertificateKind,
        /// The PEM-encoded X.509 certificate.
        certificate: String,
    },
    /// Ask which certificates the charger keeps (GetInstalledCertificateIds): of the kinds given,
    /// every kind when none is (2.0.1; 1.6 asks for exactly one).
    GetInstalledCertificateIds {
        /// The kinds.
        kinds: Vec<InstalledCertificateKind>,
    },
    /// Delete the certificate the hash data names (DeleteCertificate).
    DeleteCertificate {
        /// The certificate.
        hash: CertificateHash,
    },
}

impl ChargerCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RemoteStart { .. } => "RemoteStart",
            Self::RemoteStop { .. } => "RemoteStop",
            Self::SetLimit { .. } => "SetLimit",
            Self::ClearLimit { .. } => "ClearLimit",
            Self::GetCompositeSchedule { .. } => "GetCompositeSchedule",
            Self::ChangeConfiguration { .. } => "ChangeConfiguration",
            Self::GetConfiguration { .. } => "GetConfiguration",
            Self::Trigger { .. } => "Trigger",
            Self::ExtendedTrigger { .. } => "ExtendedTrigger",
            Self::Reset { .. } => "Reset",
            Self::ChangeAvailability { .. } => "ChangeAvailability",
            Self::UnlockConnector { .. } => "UnlockConnector",
            Self::ClearCache => "ClearCache",
            Self::DataTransfer { .. } => "DataTransfer",
            Self::UpdateFirmware { .. } => "UpdateFirmware",
            Self::GetDiagnostics { .. } => "GetDiagnostics",
            Self::ReserveNow { .. } => "ReserveNow",
            Self::CancelReservation { .. } => "CancelReservation",
            Self::GetBaseReport { .. } => "GetBaseReport",
            Self::CertificateSigned { .. } => "CertificateSigned",
            Self::SendLocalList { .. } => "SendLocalList",
            Self::GetLocalListVersion => "GetLocalListVersion",
            Self::InstallCertificate { .. } => "InstallCertificate",
            Self::GetInstalledCertificateIds { .. } => "GetInstalledCertificateIds",
            Self::DeleteCertificate { .. } => "DeleteCertificate",
        }
    }

    /// The OCPP action that carries this command in `protocol`.
    pub fn ocpp_action(&self, protocol: OcppProtocol) -> &'static str {
        let v16 = protocol == OcppProtocol::V16;
        match self {
            Self::RemoteStart { .. } if v16 => "RemoteStartTransaction",
            Self::RemoteStart { .. } => "RequestStartTransaction",
            Self::RemoteStop { .. } if v16 => "RemoteStopTransaction",
            Self::RemoteStop { .. } => "RequestStopTransaction",
            Self::SetLimit { .. } => "SetChargingProfile",
            Self::ClearLimit { .. } => "ClearChargingProfile",
            Self::GetCompositeSchedule { .. } => "GetCompositeSchedule",
            Self::ChangeConfiguration { .. } if v16 => "ChangeConfiguration",
            Self::ChangeConfiguration { .. } => "SetVariables",
            Self::GetConfiguration { .. } if v16 => "GetConfiguration",
            Self::GetConfiguration { keys } if keys.is_empty() => "GetBaseReport",
            Self::GetConfiguration { .. } => "GetVariables",
            Self::Trigger { message, .. } if v16 && message.needs_extended_trigger() => "ExtendedTriggerMessage",
            Self::Trigger { .. } => "TriggerMessage",
            Self::ExtendedTrigger { .. } => "ExtendedTriggerMessage",
            Self::Reset { .. } => "Reset",
            Self::ChangeAvailability { .. } => "ChangeAvailability",
            Self::UnlockConnector { .. } => "UnlockConnector",
            Self::ClearCache => "ClearCache",
            Self::DataTransfer { .. } => "DataTransfer",
            Self::UpdateFirmware {
                signing_certificate: Some(_),
                signature: Some(_),
                ..
            } if v16 => "SignedUpdateFirmware",
            Self::UpdateFirmware { .. } => "UpdateFirmware",
            Self::GetDiagnostics { log: None, .. } if v16 => "GetDiagnostics",
            Self::GetDiagnostics { .. } => "GetLog",
            Self::ReserveNow { .. } => "ReserveNow",
            Self::CancelReservation { .. } => "CancelReservation",
            Self::GetBaseReport { .. } => "GetBaseReport",
            Self::CertificateSigned { .. } => "CertificateSigned",
            Self::SendLocalList { .. } => "SendLocalList",
            Self::GetLocalListVersion => "GetLocalListVersion",
            Self::InstallCertificate { .. } => "InstallCertificate",
            Self::GetInstalledCertificateIds { .. } => "GetInstalledCertificateIds",
            Self::DeleteCertificate { .. } => "DeleteCertificate",
        }
    }
}

/// A configuration key the charger reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationEntry {
    /// Key.
    pub key: String,
    /// Value, when set.
    pub value: Option<String>,
    /// Whether it cannot be changed.
    pub readonly: bool,
}

/// The charger's answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandReply {
    /// A status answer (`Accepted`, `Rejected`, `NotSupported`, `RebootRequired`, `Unlocked`, ...).
    Status {
        /// Whether the charger took the command on.
        accepted: bool,
        /// The status as the charger sent it.
        status: String,
    },
    /// GetConfiguration's answer.
    Configuration {
        /// Keys it knows.
        entries: Vec<ConfigurationEntry>,
        /// Keys it does not know.
        unknown: Vec<String>,
    },
    /// GetCompositeSchedule's answer.
    CompositeSchedule {
        /// Whether the charger could compute one.
        accepted: bool,
        /// The schedule's unit.
        unit: Option<RateUnit>,
        /// The schedule's steps.
        periods: Vec<LimitPeriod>,
    },
    /// DataTransfer's answer.
    DataTransfer {
        /// Whether the charger understood the data (`Accepted`).
        accepted: bool,
        /// The status as the charger sent it.
        status: String,
        /// The data it answered with.
        data: Option<serde_json::Value>,
    },
    /// GetDiagnostics' or GetLog's answer.
    Upload {
        /// Whether the upload will happen.
        accepted: bool,
        /// The status as the charger sent it (1.6 sends none: `Accepted`).
        status: String,
        /// The file that will be uploaded; none when there is nothing to upload.
        file_name: Option<String>,
    },
    /// GetLocalListVersion's answer.
    LocalListVersion {
        /// The version of the list the charger holds (0: none; 1.6 answers -1 when it keeps no list).
        version: i32,
    },
    /// GetInstalledCertificateIds' answer.
    InstalledCertificates {
        /// `Accepted`, or `NotFound` when the charger keeps none of the kinds asked.
        status: String,
        /// The certificates it keeps.
        certificates: Vec<InstalledCertificate>,
    },
}

impl CommandReply {
    /// Whether the charger took the command on.
    pub fn is_accepted(&self) -> bool {
        match self {
            Self::Status { accepted, .. }
            | Self::CompositeSchedule { accepted, .. }
            | Self::DataTransfer { accepted, .. }
            | Self::Upload { accepted, .. } => *accepted,
            Self::Configuration { .. } | Self::LocalListVersion { .. } => true,
            // NotFound is an answer too: the charger keeps none of them.
            Self::InstalledCertificates { .. } => true,
        }
    }

    /// The status word the charger answered with (`Accepted` for answers that carry none).
    pub fn status(&self) -> &str {
        match self {
            Self::Status { status, .. }
            | Self::DataTransfer { status, .. }
            | Self::Upload { status, .. }
            | Self::InstalledCertificates { status, .. } => status,
            Self::CompositeSchedule { accepted, .. } => {
                if *accepted {
                    "Accepted"
                } else {
                    "Rejected"
                }
            }
            Self::Configuration { .. } | Self::LocalListVersion { .. } => "Accepted",
        }
    }

    /// The answer as JSON, for the record of an operation: its status and what else it carried.
    pub fn summary(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Self::Status { status, .. } => json!({ "status": status }),
            Self::Configuration { entries, unknown } => json!({
                "configurationKey": entries
                    .iter()
                    .map(|e| json!({"key": e.key, "value": e.value, "readonly": e.readonly}))
                    .collect::<Vec<_>>(),
                "unknownKey": unknown,
            }),
            Self::CompositeSchedule { unit, periods, .. } => json!({
                "status": self.status(),
                "unit": unit.map(|u| match u { RateUnit::Amperes => "A", RateUnit::Watts => "W" }),
                "periods": periods
                    .iter()
                    .map(|p| json!({"startPeriod": p.start_offset_s, "limit": p.limit}))
                    .collect::<Vec<_>>(),
            }),
            Self::DataTransfer { status, data, .. } => json!({ "status": status, "data": data }),
            Self::Upload { status, file_name, .. } => json!({ "status": status, "fileName": file_name }),
            Self::LocalListVersion { version } => json!({ "listVersion": version }),
            Self::InstalledCertificates { status, certificates } => json!({
                "status": status,
                "certificates": certificates
                    .iter()
                    .map(|c| {
                        let mut entry = json!({
                            "certificateType": c.kind,
                            "certificateHashData": c.hash.to_json(),
                        });
                        if !c.children.is_empty() {
                            entry["childCertificateHashData"] =
                                c.children.iter().map(CertificateHash::to_json).collect();
                        }
                        entry
                    })
                    .collect::<Vec<_>>(),
            }),
        }
    }
}

/// Why a command got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The charger is not connected to this node.
    #[error("the charger is not connected")]
    NotConnected,
    /// No answer within the call timeout.
    #[error("the charger did not answer in time")]
    Timeout,
    /// The charger answered with an OCPP error.
    #[error("the charger answered with {code}: {description}")]
    CallError {
        /// The OCPP error code.
        code: String,
        /// Its description.
        description: String,
    },
    /// The charger's answer broke the schema.
    #[error("the charger's answer is invalid: {0}")]
    InvalidReply(String),
    /// The command cannot be expressed in the charger's OCPP version, or is invalid.
    #[error("the command cannot be sent: {0}")]
    Unsupported(String),
    /// The connection closed while the command was waiting.
    #[error("the connection closed before the charger answered")]
    Disconnected,
}

/// What the engine can do with chargers.
#[async_trait]
pub trait ChargerControl: Send + Sync {
    /// Sends a command and waits for the answer (queued behind earlier commands to the charger).
    async fn send(&self, charger: &ChargerId, command: ChargerCommand) -> Result<CommandReply, ControlError>;
    /// Whether the charger is connected now.
    fn is_connected(&self, charger: &ChargerId) -> bool;
    /// Closes the charger's connection, if it has one (after it was deleted, for example).
    async fn disconnect(&self, charger: &ChargerId);
    /// Resolves when something the charger reported was stored, or after `timeout`: lets the engine
    /// confirm actions as soon as state changes, without polling in a tight loop.
    async fn wait_for_change(&self, charger: &ChargerId, timeout: Duration);
}

impl std::fmt::Debug for dyn ChargerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChargerControl")
    }
}
