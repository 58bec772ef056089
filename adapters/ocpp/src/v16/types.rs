//! OCPP 1.6 data types shared by several messages: bounded strings, the schemas'
//! enums, id tag info, charging profiles and meter values.

use chrono::{DateTime, Utc};

use crate::error::{ErrorCode, ValidationError};
use crate::json::{self, FromJson};

/// A string of at most `N` characters (`CiString{N}Type` in OCPP 1.6 Part 2 §7).
///
/// The spec compares these case-insensitively; equality here is exact, so compare
/// identifiers such as id tags with [`CiString::eq_ignore_case`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct CiString<const N: usize>(String);

/// `CiString20Type`.
pub type CiString20 = CiString<20>;
/// `CiString25Type`.
pub type CiString25 = CiString<25>;
/// `CiString50Type`.
pub type CiString50 = CiString<50>;
/// `CiString255Type`.
pub type CiString255 = CiString<255>;
/// `CiString500Type`.
pub type CiString500 = CiString<500>;
/// `string[5500]` of the security whitepaper (a PEM certificate signing request).
pub type CiString5500 = CiString<5500>;
/// `string[10000]` of the security whitepaper (a PEM certificate chain).
pub type CiString10000 = CiString<10000>;
/// `string[40]` of the security whitepaper (a certificate's serial number).
pub type CiString40 = CiString<40>;
/// `string[128]` of the security whitepaper (a hash in certificate hash data).
pub type CiString128 = CiString<128>;
/// `string[512]` of the security whitepaper (a location to upload to or download from).
pub type CiString512 = CiString<512>;
/// `string[800]` of the security whitepaper (a firmware signature).
pub type CiString800 = CiString<800>;

impl<const N: usize> CiString<N> {
    /// The most characters the type holds.
    pub const MAX_LEN: usize = N;

    /// Wraps `text`, refusing it (`TypeConstraintViolation`) when it has more than `N`
    /// characters. Length counts characters, as JSON Schema's `maxLength` does.
    pub fn new(text: impl Into<String>) -> Result<Self, ValidationError> {
        Self::checked(text.into(), "")
    }

    fn checked(text: String, path: &str) -> Result<Self, ValidationError> {
        let length = text.chars().count();
        if length > N {
            return Err(ValidationError::new(
                ErrorCode::TypeConstraintViolation,
                path,
                format!("{length} characters is longer than CiString{N}Type allows"),
            ));
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, unwrapped.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// Case-insensitive comparison, as the spec defines for `CiString` values.
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.to_lowercase() == other.to_lowercase()
    }
}

impl<const N: usize> FromJson for CiString<N> {
    fn from_json(value: &serde_json::Value, path: &str) -> Result<Self, ValidationError> {
        Self::checked(String::from_json(value, path)?, path)
    }
}

impl<'de, const N: usize> serde::Deserialize<'de> for CiString<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::deserialize_checked(d)
    }
}

impl<const N: usize> TryFrom<&str> for CiString<N> {
    type Error = ValidationError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::new(text)
    }
}

impl<const N: usize> TryFrom<String> for CiString<N> {
    type Error = ValidationError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::new(text)
    }
}

impl<const N: usize> AsRef<str> for CiString<N> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> std::fmt::Display for CiString<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// ---- Enums of the schemas, in schema order. ----

wire_enum! {
    /// `AuthorizationStatus`: whether an id tag may charge.
    pub enum AuthorizationStatus {
        Accepted = "Accepted",
        Blocked = "Blocked",
        Expired = "Expired",
        Invalid = "Invalid",
        ConcurrentTx = "ConcurrentTx",
    }
}

wire_enum! {
    /// `RegistrationStatus`: the answer to a BootNotification.
    pub enum RegistrationStatus {
        Accepted = "Accepted",
        Pending = "Pending",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ChargePointErrorCode` of a StatusNotification.
    pub enum ChargePointErrorCode {
        ConnectorLockFailure = "ConnectorLockFailure",
        EvCommunicationError = "EVCommunicationError",
        GroundFailure = "GroundFailure",
        HighTemperature = "HighTemperature",
        InternalError = "InternalError",
        LocalListConflict = "LocalListConflict",
        NoError = "NoError",
        OtherError = "OtherError",
        OverCurrentFailure = "OverCurrentFailure",
        PowerMeterFailure = "PowerMeterFailure",
        PowerSwitchFailure = "PowerSwitchFailure",
        ReaderFailure = "ReaderFailure",
        ResetFailure = "ResetFailure",
        UnderVoltage = "UnderVoltage",
        OverVoltage = "OverVoltage",
        WeakSignal = "WeakSignal",
    }
}

wire_enum! {
    /// `ChargePointStatus` of a connector (connector 0 only uses Available, Unavailable, Faulted).
    pub enum ChargePointStatus {
        Available = "Available",
        Preparing = "Preparing",
        Charging = "Charging",
        SuspendedEvse = "SuspendedEVSE",
        SuspendedEv = "SuspendedEV",
        Finishing = "Finishing",
        Reserved = "Reserved",
        Unavailable = "Unavailable",
        Faulted = "Faulted",
    }
}

wire_enum! {
    /// `Reason` a transaction stopped.
    pub enum Reason {
        EmergencyStop = "EmergencyStop",
        EvDisconnected = "EVDisconnected",
        HardReset = "HardReset",
        Local = "Local",
        Other = "Other",
        PowerLoss = "PowerLoss",
        Reboot = "Reboot",
        Remote = "Remote",
        SoftReset = "SoftReset",
        UnlockCommand = "UnlockCommand",
        DeAuthorized = "DeAuthorized",
    }
}

wire_enum! {
    /// `GenericStatusEnumType` of the security whitepaper (SignCertificate's answer).
    pub enum GenericStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `CertificateSignedStatusEnumType` of the security whitepaper.
    pub enum CertificateSignedStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `CertificateUseEnumType` of the security whitepaper: the root certificates a central
    /// system installs on a charge point, or asks about.
    pub enum CertificateUse {
        CentralSystemRootCertificate = "CentralSystemRootCertificate",
        ManufacturerRootCertificate = "ManufacturerRootCertificate",
    }
}

wire_enum! {
    /// `InstallCertificateStatusEnumType` of the security whitepaper.
    pub enum InstallCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `GetInstalledCertificateStatusEnumType` of the security whitepaper.
    pub enum GetInstalledCertificateStatus {
        Accepted = "Accepted",
        NotFound = "NotFound",
    }
}

wire_enum! {
    /// `DeleteCertificateStatusEnumType` of the security whitepaper.
    pub enum DeleteCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotFound = "NotFound",
    }
}

wire_enum! {
    /// `HashAlgorithmEnumType` of the security whitepaper.
    pub enum HashAlgorithm {
        Sha256 = "SHA256",
        Sha384 = "SHA384",
        Sha512 = "SHA512",
    }
}

wire_enum! {
    /// `MessageTriggerEnumType` of the security whitepaper: what ExtendedTriggerMessage can ask for.
    pub enum ExtendedMessageTrigger {
        BootNotification = "BootNotification",
        LogStatusNotification = "LogStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        SignChargePointCertificate = "SignChargePointCertificate",
        StatusNotification = "StatusNotification",
    }
}

wire_enum! {
    /// `TriggerMessageStatusEnumType` of the security whitepaper (ExtendedTriggerMessage's answer).
    pub enum ExtendedTriggerMessageStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
}

wire_enum! {
    /// `LogEnumType` of the security whitepaper: which log GetLog asks for.
    pub enum LogKind {
        DiagnosticsLog = "DiagnosticsLog",
        SecurityLog = "SecurityLog",
    }
}

wire_enum! {
    /// `LogStatusEnumType` of the security whitepaper (GetLog's answer).
    pub enum LogStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        AcceptedCanceled = "AcceptedCanceled",
    }
}

wire_enum! {
    /// `UploadLogStatusEnumType` of the security whitepaper (LogStatusNotification).
    pub enum UploadLogStatus {
        BadMessage = "BadMessage",
        Idle = "Idle",
        NotSupportedOperation = "NotSupportedOperation",
        PermissionDenied = "PermissionDenied",
        Uploaded = "Uploaded",
        UploadFailure = "UploadFailure",
        Uploading = "Uploading",
    }
}

wire_enum! {
    /// `UpdateFirmwareStatusEnumType` of the security whitepaper (SignedUpdateFirmware's answer).
    pub enum SignedUpdateFirmwareStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        AcceptedCanceled = "AcceptedCanceled",
        InvalidCertificate = "InvalidCertificate",
        RevokedCertificate = "RevokedCertificate",
    }
}

wire_enum! {
    /// `FirmwareStatusEnumType` of the security whitepaper (SignedFirmwareStatusNotification).
    pub enum SignedFirmwareStatus {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        DownloadScheduled = "DownloadScheduled",
        DownloadPaused = "DownloadPaused",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
        InstallRebooting = "InstallRebooting",
        InstallScheduled = "InstallScheduled",
        InstallVerificationFailed = "InstallVerificationFailed",
        InvalidSignature = "InvalidSignature",
        SignatureVerified = "SignatureVerified",
    }
}

wire_enum! {
    /// `DataTransferStatus`: the answer to a DataTransfer.
    pub enum DataTransferStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownMessageId = "UnknownMessageId",
        UnknownVendorId = "UnknownVendorId",
    }
}

wire_enum! {
    /// `DiagnosticsStatus` of a diagnostics upload.
    pub enum DiagnosticsStatus {
        Idle = "Idle",
        Uploaded = "Uploaded",
        UploadFailed = "UploadFailed",
        Uploading = "Uploading",
    }
}

wire_enum! {
    /// `FirmwareStatus` of a firmware update.
    pub enum FirmwareStatus {
        Downloaded = "Downloaded",
        DownloadFailed = "DownloadFailed",
        Downloading = "Downloading",
        Idle = "Idle",
        InstallationFailed = "InstallationFailed",
        Installing = "Installing",
        Installed = "Installed",
    }
}

wire_enum! {
    /// `RemoteStartStopStatus`: the answer to RemoteStart/StopTransaction.
    pub enum RemoteStartStopStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ChargingProfileStatus`: the answer to SetChargingProfile.
    pub enum ChargingProfileStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotSupported = "NotSupported",
    }
}

wire_enum! {
    /// `ClearChargingProfileStatus`: the answer to ClearChargingProfile.
    pub enum ClearChargingProfileStatus {
        Accepted = "Accepted",
        Unknown = "Unknown",
    }
}

wire_enum! {
    /// `GetCompositeScheduleStatus`: the answer to GetCompositeSchedule.
    pub enum GetCompositeScheduleStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ConfigurationStatus`: the answer to ChangeConfiguration.
    pub enum ConfigurationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        RebootRequired = "RebootRequired",
        NotSupported = "NotSupported",
    }
}

wire_enum! {
    /// `MessageTrigger`: which message a TriggerMessage asks for.
    pub enum MessageTrigger {
        BootNotification = "BootNotification",
        DiagnosticsStatusNotification = "DiagnosticsStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        StatusNotification = "StatusNotification",
    }
}

wire_enum! {
    /// `TriggerMessageStatus`: the answer to TriggerMessage.
    pub enum TriggerMessageStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
}

wire_enum! {
    /// `ResetType`.
    pub enum ResetType {
        Hard = "Hard",
        Soft = "Soft",
    }
}

wire_enum! {
    /// `ResetStatus`: the answer to Reset.
    pub enum ResetStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `AvailabilityType` requested by ChangeAvailability.
    pub enum AvailabilityType {
        Inoperative = "Inoperative",
        Operative = "Operative",
    }
}

wire_enum! {
    /// `AvailabilityStatus`: the answer to ChangeAvailability.
    pub enum AvailabilityStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

wire_enum! {
    /// `UnlockStatus`: the answer to UnlockConnector.
    pub enum UnlockStatus {
        Unlocked = "Unlocked",
        UnlockFailed = "UnlockFailed",
        NotSupported = "NotSupported",
    }
}

wire_enum! {
    /// `UpdateType`: a SendLocalList's kind.
    pub enum UpdateType {
        Differential = "Differential",
        Full = "Full",
    }
}

wire_enum! {
    /// `UpdateStatus`: the answer to SendLocalList.
    pub enum UpdateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotSupported = "NotSupported",
        VersionMismatch = "VersionMismatch",
    }
}

wire_enum! {
    /// `ClearCacheStatus`: the answer to ClearCache.
    pub enum ClearCacheStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ReservationStatus`: the answer to ReserveNow.
    pub enum ReservationStatus {
        Accepted = "Accepted",
        Faulted = "Faulted",
        Occupied = "Occupied",
        Rejected = "Rejected",
        Unavailable = "Unavailable",
    }
}

wire_enum! {
    /// `CancelReservationStatus`: the answer to CancelReservation.
    pub enum CancelReservationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ChargingProfilePurposeType`.
    pub enum ChargingProfilePurpose {
        ChargePointMaxProfile = "ChargePointMaxProfile",
        TxDefaultProfile = "TxDefaultProfile",
        TxProfile = "TxProfile",
    }
}

wire_enum! {
    /// `ChargingProfileKindType`.
    pub enum ChargingProfileKind {
        Absolute = "Absolute",
        Recurring = "Recurring",
        Relative = "Relative",
    }
}

wire_enum! {
    /// `RecurrencyKindType` of a recurring profile.
    pub enum RecurrencyKind {
        Daily = "Daily",
        Weekly = "Weekly",
    }
}

wire_enum! {
    /// `ChargingRateUnitType`: amperes or watts.
    pub enum ChargingRateUnit {
        A = "A",
        W = "W",
    }
}

wire_enum! {
    /// `ReadingContext` of a sampled value.
    pub enum ReadingContext {
        InterruptionBegin = "Interruption.Begin",
        InterruptionEnd = "Interruption.End",
        SampleClock = "Sample.Clock",
        SamplePeriodic = "Sample.Periodic",
        TransactionBegin = "Transaction.Begin",
        TransactionEnd = "Transaction.End",
        Trigger = "Trigger",
        Other = "Other",
    }
}

wire_enum! {
    /// `ValueFormat` of a sampled value.
    pub enum ValueFormat {
        Raw = "Raw",
        SignedData = "SignedData",
    }
}

wire_enum! {
    /// `Measurand` of a sampled value.
    pub enum Measurand {
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        PowerActiveExport = "Power.Active.Export",
        PowerActiveImport = "Power.Active.Import",
        PowerOffered = "Power.Offered",
        PowerReactiveExport = "Power.Reactive.Export",
        PowerReactiveImport = "Power.Reactive.Import",
        PowerFactor = "Power.Factor",
        CurrentImport = "Current.Import",
        CurrentExport = "Current.Export",
        CurrentOffered = "Current.Offered",
        Voltage = "Voltage",
        Frequency = "Frequency",
        Temperature = "Temperature",
        SoC = "SoC",
        Rpm = "RPM",
    }
}

wire_enum! {
    /// `Phase` of a sampled value.
    pub enum Phase {
        L1 = "L1",
        L2 = "L2",
        L3 = "L3",
        N = "N",
        L1N = "L1-N",
        L2N = "L2-N",
        L3N = "L3-N",
        L1L2 = "L1-L2",
        L2L3 = "L2-L3",
        L3L1 = "L3-L1",
    }
}

wire_enum! {
    /// `Location` of a sampled value's measurement.
    pub enum Location {
        Cable = "Cable",
        Ev = "EV",
        Inlet = "Inlet",
        Outlet = "Outlet",
        Body = "Body",
    }
}

wire_enum! {
    /// `UnitOfMeasure` of a sampled value.
    ///
    /// The 1.6 spec spells degrees Celsius "Celcius"; the 2019 schemas added "Celsius".
    /// Both are read as [`UnitOfMeasure::Celsius`], which is written as "Celsius".
    pub enum UnitOfMeasure {
        Wh = "Wh",
        Kwh = "kWh",
        Varh = "varh",
        Kvarh = "kvarh",
        W = "W",
        Kw = "kW",
        Va = "VA",
        Kva = "kVA",
        Var = "var",
        Kvar = "kvar",
        A = "A",
        V = "V",
        K = "K",
        Celsius = "Celsius" | "Celcius",
        Fahrenheit = "Fahrenheit",
        Percent = "Percent",
    }
}

// ---- Shared objects. ----

object! {
    /// `IdTagInfo`: what the central system says about an id tag.
    pub struct IdTagInfo {
        /// When the tag stops being valid.
        expiry_date: Option<DateTime<Utc>> = "expiryDate",
        /// The tag's group (parent) id tag.
        parent_id_tag: Option<CiString20> = "parentIdTag",
        /// Whether the tag may charge.
        status: AuthorizationStatus = "status",
    }
}

object! {
    /// `ChargingSchedulePeriod`: one step of a schedule.
    pub struct ChargingSchedulePeriod {
        /// Seconds from the start of the schedule; the first period starts at 0.
        start_period: i32 = "startPeriod",
        /// Power (W) or current (A, per phase) limit, a multiple of 0.1.
        #[serde(serialize_with = "crate::json::ser_tenths")]
        limit: f64 = "limit" [json::tenths],
        /// Phases that may be used (3 when absent).
        number_phases: Option<i32> = "numberPhases",
    }
}

object! {
    /// `ChargingSchedule`: a list of limits over time.
    pub struct ChargingSchedule {
        /// Length of the schedule in seconds; absent means it lasts until the profile ends.
        duration: Option<i32> = "duration",
        /// Start of an absolute schedule.
        start_schedule: Option<DateTime<Utc>> = "startSchedule",
        /// Whether limits are in amperes or watts.
        charging_rate_unit: ChargingRateUnit = "chargingRateUnit",
        /// The periods, in increasing `startPeriod` order.
        charging_schedule_period: Vec<ChargingSchedulePeriod> = "chargingSchedulePeriod",
        /// Lowest rate the EV supports, a multiple of 0.1.
        #[serde(serialize_with = "crate::json::ser_opt_tenths")]
        min_charging_rate: Option<f64> = "minChargingRate" [json::opt_tenths],
    }
}

object! {
    /// `ChargingProfile` (`csChargingProfiles` in SetChargingProfile).
    pub struct ChargingProfile {
        /// Id of the profile, unique per charge point.
        charging_profile_id: i32 = "chargingProfileId",
        /// Transaction a `TxProfile` applies to.
        transaction_id: Option<i32> = "transactionId",
        /// Priority among profiles of the same purpose; higher wins.
        stack_level: i32 = "stackLevel",
        /// What the profile limits: the whole charge point, transactions by default, or one transaction.
        charging_profile_purpose: ChargingProfilePurpose = "chargingProfilePurpose",
        /// How the schedule's start is determined.
        charging_profile_kind: ChargingProfileKind = "chargingProfileKind",
        /// Period of a `Recurring` profile.
        recurrency_kind: Option<RecurrencyKind> = "recurrencyKind",
        /// Start of validity.
        valid_from: Option<DateTime<Utc>> = "validFrom",
        /// End of validity, after which the profile no longer limits anything.
        valid_to: Option<DateTime<Utc>> = "validTo",
        /// The limits.
        charging_schedule: ChargingSchedule = "chargingSchedule",
    }
}

object! {
    /// `SampledValue`: one measurement in a meter value.
    pub struct SampledValue {
        /// The value as text (a number, or signed data when `format` is `SignedData`).
        value: String = "value",
        /// Why it was sampled (default `Sample.Periodic`).
        context: Option<ReadingContext> = "context",
        /// Raw number or signed data (default `Raw`).
        format: Option<ValueFormat> = "format",
        /// What was measured (default `Energy.Active.Import.Register`).
        measurand: Option<Measurand> = "measurand",
        /// Phase measured, when not all phases.
        phase: Option<Phase> = "phase",
        /// Where it was measured (default `Outlet`).
        location: Option<Location> = "location",
        /// Unit (default `Wh`).
        unit: Option<UnitOfMeasure> = "unit",
    }
}

object! {
    /// `MeterValue`: measurements taken at one moment.
    pub struct MeterValue {
        /// When the values were sampled.
        timestamp: DateTime<Utc> = "timestamp",
        /// The values.
        sampled_value: Vec<SampledValue> = "sampledValue",
    }
}

object! {
    /// `KeyValue`: one configuration key reported by GetConfiguration.
    pub struct KeyValue {
        /// Name of the key.
        key: CiString50 = "key",
        /// Whether the key can be changed.
        readonly: bool = "readonly",
        /// Current value, absent when not set.
        value: Option<CiString500> = "value",
    }
}
