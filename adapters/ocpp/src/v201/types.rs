//! OCPP 2.0.1 data types shared by several messages: the schemas' enums, id tokens, EVSEs,
//! components and variables, charging profiles and meter values.

use chrono::{DateTime, Utc};

use crate::json;
pub use crate::v16::CiString;

/// `string[20]`.
pub type CiString20 = CiString<20>;
/// `string[36]` (transaction ids, id tokens).
pub type CiString36 = CiString<36>;
/// `string[50]`.
pub type CiString50 = CiString<50>;
/// `string[128]`.
pub type CiString128 = CiString<128>;
/// `string[255]`.
pub type CiString255 = CiString<255>;
/// `string[500]`.
pub type CiString500 = CiString<500>;
/// `string[512]`.
pub type CiString512 = CiString<512>;
/// `string[1000]`.
pub type CiString1000 = CiString<1000>;
/// `string[2500]`.
pub type CiString2500 = CiString<2500>;
/// `string[5500]`.
pub type CiString5500 = CiString<5500>;
/// `string[5600]` (an EV's base64 EXI request).
pub type CiString5600 = CiString<5600>;
/// `string[7500]` (the base64 EXI response for an EV).
pub type CiString7500 = CiString<7500>;
/// `string[10000]` (a PEM certificate chain).
pub type CiString10000 = CiString<10000>;

/// Defines a 2.0.1 schema class: like `object!`, and it also accepts the `customData` every
/// 2.0.1 class may carry (OCPP 2.0.1 Part 4 §9).
macro_rules! object201 {
    ($($body:tt)*) => {
        object! { @allow ["customData"] $($body)* }
    };
}
pub(crate) use object201;

// ---- Enums of the schemas. ----

wire_enum! {
    /// `BootReasonEnumType`: why the station booted.
    pub enum BootReason {
        ApplicationReset = "ApplicationReset",
        FirmwareUpdate = "FirmwareUpdate",
        LocalReset = "LocalReset",
        PowerUp = "PowerUp",
        RemoteReset = "RemoteReset",
        ScheduledReset = "ScheduledReset",
        Triggered = "Triggered",
        Unknown = "Unknown",
        Watchdog = "Watchdog",
    }
}

wire_enum! {
    /// `RegistrationStatusEnumType`: the answer to a BootNotification.
    pub enum RegistrationStatus {
        Accepted = "Accepted",
        Pending = "Pending",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ConnectorStatusEnumType` of a StatusNotification.
    pub enum ConnectorStatus {
        Available = "Available",
        Occupied = "Occupied",
        Reserved = "Reserved",
        Unavailable = "Unavailable",
        Faulted = "Faulted",
    }
}

wire_enum! {
    /// `TransactionEventEnumType`.
    pub enum TransactionEventType {
        Ended = "Ended",
        Started = "Started",
        Updated = "Updated",
    }
}

wire_enum! {
    /// `TriggerReasonEnumType`: what made the station send a TransactionEvent.
    pub enum TriggerReason {
        Authorized = "Authorized",
        CablePluggedIn = "CablePluggedIn",
        ChargingRateChanged = "ChargingRateChanged",
        ChargingStateChanged = "ChargingStateChanged",
        Deauthorized = "Deauthorized",
        EnergyLimitReached = "EnergyLimitReached",
        EvCommunicationLost = "EVCommunicationLost",
        EvConnectTimeout = "EVConnectTimeout",
        MeterValueClock = "MeterValueClock",
        MeterValuePeriodic = "MeterValuePeriodic",
        TimeLimitReached = "TimeLimitReached",
        Trigger = "Trigger",
        UnlockCommand = "UnlockCommand",
        StopAuthorized = "StopAuthorized",
        EvDeparted = "EVDeparted",
        EvDetected = "EVDetected",
        RemoteStop = "RemoteStop",
        RemoteStart = "RemoteStart",
        AbnormalCondition = "AbnormalCondition",
        SignedDataReceived = "SignedDataReceived",
        ResetCommand = "ResetCommand",
    }
}

wire_enum! {
    /// `ChargingStateEnumType` of a transaction.
    pub enum ChargingState {
        Charging = "Charging",
        EvConnected = "EVConnected",
        SuspendedEv = "SuspendedEV",
        SuspendedEvse = "SuspendedEVSE",
        Idle = "Idle",
    }
}

wire_enum! {
    /// `ReasonEnumType`: why a transaction stopped.
    pub enum StoppedReason {
        DeAuthorized = "DeAuthorized",
        EmergencyStop = "EmergencyStop",
        EnergyLimitReached = "EnergyLimitReached",
        EvDisconnected = "EVDisconnected",
        GroundFault = "GroundFault",
        ImmediateReset = "ImmediateReset",
        Local = "Local",
        LocalOutOfCredit = "LocalOutOfCredit",
        MasterPass = "MasterPass",
        Other = "Other",
        OvercurrentFault = "OvercurrentFault",
        PowerLoss = "PowerLoss",
        PowerQuality = "PowerQuality",
        Reboot = "Reboot",
        Remote = "Remote",
        SocLimitReached = "SOCLimitReached",
        StoppedByEv = "StoppedByEV",
        TimeLimitReached = "TimeLimitReached",
        Timeout = "Timeout",
    }
}

wire_enum! {
    /// `IdTokenEnumType`: what kind of identifier an id token is.
    pub enum IdTokenKind {
        Central = "Central",
        EMaid = "eMAID",
        Iso14443 = "ISO14443",
        Iso15693 = "ISO15693",
        KeyCode = "KeyCode",
        Local = "Local",
        MacAddress = "MacAddress",
        NoAuthorization = "NoAuthorization",
    }
}

wire_enum! {
    /// `AuthorizationStatusEnumType`.
    pub enum AuthorizationStatus {
        Accepted = "Accepted",
        Blocked = "Blocked",
        ConcurrentTx = "ConcurrentTx",
        Expired = "Expired",
        Invalid = "Invalid",
        NoCredit = "NoCredit",
        NotAllowedTypeEvse = "NotAllowedTypeEVSE",
        NotAtThisLocation = "NotAtThisLocation",
        NotAtThisTime = "NotAtThisTime",
        Unknown = "Unknown",
    }
}

wire_enum! {
    /// `HashAlgorithmEnumType`.
    pub enum HashAlgorithm {
        Sha256 = "SHA256",
        Sha384 = "SHA384",
        Sha512 = "SHA512",
    }
}

wire_enum! {
    /// `AuthorizeCertificateStatusEnumType`.
    pub enum AuthorizeCertificateStatus {
        Accepted = "Accepted",
        SignatureError = "SignatureError",
        CertificateExpired = "CertificateExpired",
        CertificateRevoked = "CertificateRevoked",
        NoCertificateAvailable = "NoCertificateAvailable",
        CertChainError = "CertChainError",
        ContractCancelled = "ContractCancelled",
    }
}

wire_enum! {
    /// `ReadingContextEnumType` of a sampled value.
    pub enum ReadingContext {
        InterruptionBegin = "Interruption.Begin",
        InterruptionEnd = "Interruption.End",
        Other = "Other",
        SampleClock = "Sample.Clock",
        SamplePeriodic = "Sample.Periodic",
        TransactionBegin = "Transaction.Begin",
        TransactionEnd = "Transaction.End",
        Trigger = "Trigger",
    }
}

wire_enum! {
    /// `MeasurandEnumType` of a sampled value.
    pub enum Measurand {
        CurrentExport = "Current.Export",
        CurrentImport = "Current.Import",
        CurrentOffered = "Current.Offered",
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        EnergyActiveNet = "Energy.Active.Net",
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        EnergyReactiveNet = "Energy.Reactive.Net",
        EnergyApparentNet = "Energy.Apparent.Net",
        EnergyApparentImport = "Energy.Apparent.Import",
        EnergyApparentExport = "Energy.Apparent.Export",
        Frequency = "Frequency",
        PowerActiveExport = "Power.Active.Export",
        PowerActiveImport = "Power.Active.Import",
        PowerFactor = "Power.Factor",
        PowerOffered = "Power.Offered",
        PowerReactiveExport = "Power.Reactive.Export",
        PowerReactiveImport = "Power.Reactive.Import",
        SoC = "SoC",
        Voltage = "Voltage",
    }
}

wire_enum! {
    /// `PhaseEnumType` of a sampled value.
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
    /// `LocationEnumType` of a sampled value's measurement.
    pub enum Location {
        Body = "Body",
        Cable = "Cable",
        Ev = "EV",
        Inlet = "Inlet",
        Outlet = "Outlet",
    }
}

wire_enum! {
    /// `EventTriggerEnumType` of a NotifyEvent.
    pub enum EventTrigger {
        Alerting = "Alerting",
        Delta = "Delta",
        Periodic = "Periodic",
    }
}

wire_enum! {
    /// `EventNotificationEnumType` of a NotifyEvent.
    pub enum EventNotification {
        HardWiredNotification = "HardWiredNotification",
        HardWiredMonitor = "HardWiredMonitor",
        PreconfiguredMonitor = "PreconfiguredMonitor",
        CustomMonitor = "CustomMonitor",
    }
}

wire_enum! {
    /// `AttributeEnumType`: which value of a variable.
    pub enum Attribute {
        Actual = "Actual",
        Target = "Target",
        MinSet = "MinSet",
        MaxSet = "MaxSet",
    }
}

wire_enum! {
    /// `MutabilityEnumType` of a variable attribute.
    pub enum Mutability {
        ReadOnly = "ReadOnly",
        WriteOnly = "WriteOnly",
        ReadWrite = "ReadWrite",
    }
}

wire_enum! {
    /// `DataEnumType` of a variable.
    pub enum DataKind {
        String = "string",
        Decimal = "decimal",
        Integer = "integer",
        DateTime = "dateTime",
        Boolean = "boolean",
        OptionList = "OptionList",
        SequenceList = "SequenceList",
        MemberList = "MemberList",
    }
}

wire_enum! {
    /// `FirmwareStatusEnumType`.
    pub enum FirmwareStatus {
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
    /// `UploadLogStatusEnumType`.
    pub enum UploadLogStatus {
        BadMessage = "BadMessage",
        Idle = "Idle",
        NotSupportedOperation = "NotSupportedOperation",
        PermissionDenied = "PermissionDenied",
        Uploaded = "Uploaded",
        UploadFailure = "UploadFailure",
        Uploading = "Uploading",
        AcceptedCanceled = "AcceptedCanceled",
    }
}

wire_enum! {
    /// `RequestStartStopStatusEnumType`.
    pub enum RequestStartStopStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ChargingProfilePurposeEnumType`.
    pub enum ChargingProfilePurpose {
        ChargingStationExternalConstraints = "ChargingStationExternalConstraints",
        ChargingStationMaxProfile = "ChargingStationMaxProfile",
        TxDefaultProfile = "TxDefaultProfile",
        TxProfile = "TxProfile",
    }
}

wire_enum! {
    /// `ChargingProfileKindEnumType`.
    pub enum ChargingProfileKind {
        Absolute = "Absolute",
        Recurring = "Recurring",
        Relative = "Relative",
    }
}

wire_enum! {
    /// `RecurrencyKindEnumType`.
    pub enum RecurrencyKind {
        Daily = "Daily",
        Weekly = "Weekly",
    }
}

wire_enum! {
    /// `ChargingRateUnitEnumType`: amperes or watts.
    pub enum ChargingRateUnit {
        W = "W",
        A = "A",
    }
}

wire_enum! {
    /// `ChargingProfileStatusEnumType`: the answer to SetChargingProfile.
    pub enum ChargingProfileStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ClearChargingProfileStatusEnumType`.
    pub enum ClearChargingProfileStatus {
        Accepted = "Accepted",
        Unknown = "Unknown",
    }
}

wire_enum! {
    /// `CertificateSigningUseEnumType`: which of its certificates a station asks to have signed.
    pub enum CertificateSigningUse {
        ChargingStationCertificate = "ChargingStationCertificate",
        V2GCertificate = "V2GCertificate",
    }
}

wire_enum! {
    /// `CertificateSignedStatusEnumType`.
    pub enum CertificateSignedStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `InstallCertificateUseEnumType`: the root certificates a CSMS installs on a station.
    pub enum InstallCertificateUse {
        V2GRootCertificate = "V2GRootCertificate",
        MORootCertificate = "MORootCertificate",
        CSMSRootCertificate = "CSMSRootCertificate",
        ManufacturerRootCertificate = "ManufacturerRootCertificate",
    }
}

wire_enum! {
    /// `InstallCertificateStatusEnumType`.
    pub enum InstallCertificateStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Failed = "Failed",
    }
}

wire_enum! {
    /// `GetCertificateIdUseEnumType`: the kinds of installed certificates a CSMS can ask about.
    pub enum GetCertificateIdUse {
        V2GRootCertificate = "V2GRootCertificate",
        MORootCertificate = "MORootCertificate",
        CSMSRootCertificate = "CSMSRootCertificate",
        V2GCertificateChain = "V2GCertificateChain",
        ManufacturerRootCertificate = "ManufacturerRootCertificate",
    }
}

wire_enum! {
    /// `GetInstalledCertificateStatusEnumType`.
    pub enum GetInstalledCertificateStatus {
        Accepted = "Accepted",
        NotFound = "NotFound",
    }
}

wire_enum! {
    /// `DeleteCertificateStatusEnumType`.
    pub enum DeleteCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        NotFound = "NotFound",
    }
}

wire_enum! {
    /// `CertificateActionEnumType` of a Get15118EVCertificate.
    pub enum CertificateAction {
        Install = "Install",
        Update = "Update",
    }
}

wire_enum! {
    /// `Iso15118EVCertificateStatusEnumType`.
    pub enum Iso15118EvCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
    }
}

wire_enum! {
    /// `GetCertificateStatusEnumType`.
    pub enum GetCertificateStatus {
        Accepted = "Accepted",
        Failed = "Failed",
    }
}

wire_enum! {
    /// `GenericStatusEnumType`.
    pub enum GenericStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `SetVariableStatusEnumType`.
    pub enum SetVariableStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownComponent = "UnknownComponent",
        UnknownVariable = "UnknownVariable",
        NotSupportedAttributeType = "NotSupportedAttributeType",
        RebootRequired = "RebootRequired",
    }
}

wire_enum! {
    /// `GetVariableStatusEnumType`.
    pub enum GetVariableStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownComponent = "UnknownComponent",
        UnknownVariable = "UnknownVariable",
        NotSupportedAttributeType = "NotSupportedAttributeType",
    }
}

wire_enum! {
    /// `ReportBaseEnumType` of GetBaseReport.
    pub enum ReportBase {
        ConfigurationInventory = "ConfigurationInventory",
        FullInventory = "FullInventory",
        SummaryInventory = "SummaryInventory",
    }
}

wire_enum! {
    /// `GenericDeviceModelStatusEnumType`.
    pub enum GenericDeviceModelStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotSupported = "NotSupported",
        EmptyResultSet = "EmptyResultSet",
    }
}

wire_enum! {
    /// `MessageTriggerEnumType`: which message a TriggerMessage asks for.
    pub enum MessageTrigger {
        BootNotification = "BootNotification",
        LogStatusNotification = "LogStatusNotification",
        FirmwareStatusNotification = "FirmwareStatusNotification",
        Heartbeat = "Heartbeat",
        MeterValues = "MeterValues",
        SignChargingStationCertificate = "SignChargingStationCertificate",
        SignV2gCertificate = "SignV2GCertificate",
        StatusNotification = "StatusNotification",
        TransactionEvent = "TransactionEvent",
        SignCombinedCertificate = "SignCombinedCertificate",
        PublishFirmwareStatusNotification = "PublishFirmwareStatusNotification",
    }
}

wire_enum! {
    /// `TriggerMessageStatusEnumType`.
    pub enum TriggerMessageStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        NotImplemented = "NotImplemented",
    }
}

wire_enum! {
    /// `ResetEnumType`.
    pub enum ResetKind {
        Immediate = "Immediate",
        OnIdle = "OnIdle",
    }
}

wire_enum! {
    /// `ResetStatusEnumType`.
    pub enum ResetStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

wire_enum! {
    /// `OperationalStatusEnumType` requested by ChangeAvailability.
    pub enum OperationalStatus {
        Inoperative = "Inoperative",
        Operative = "Operative",
    }
}

wire_enum! {
    /// `ChangeAvailabilityStatusEnumType`.
    pub enum ChangeAvailabilityStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        Scheduled = "Scheduled",
    }
}

wire_enum! {
    /// `UnlockStatusEnumType`.
    pub enum UnlockStatus {
        Unlocked = "Unlocked",
        UnlockFailed = "UnlockFailed",
        OngoingAuthorizedTransaction = "OngoingAuthorizedTransaction",
        UnknownConnector = "UnknownConnector",
    }
}

wire_enum! {
    /// `UpdateEnumType`: a SendLocalList's kind.
    pub enum UpdateType {
        Differential = "Differential",
        Full = "Full",
    }
}

wire_enum! {
    /// `SendLocalListStatusEnumType`.
    pub enum SendLocalListStatus {
        Accepted = "Accepted",
        Failed = "Failed",
        VersionMismatch = "VersionMismatch",
    }
}

wire_enum! {
    /// `ClearCacheStatusEnumType`.
    pub enum ClearCacheStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `DataTransferStatusEnumType`.
    pub enum DataTransferStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        UnknownMessageId = "UnknownMessageId",
        UnknownVendorId = "UnknownVendorId",
    }
}

wire_enum! {
    /// `LogEnumType`: which log GetLog asks for.
    pub enum LogKind {
        DiagnosticsLog = "DiagnosticsLog",
        SecurityLog = "SecurityLog",
    }
}

wire_enum! {
    /// `LogStatusEnumType`: the answer to GetLog.
    pub enum LogStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        AcceptedCanceled = "AcceptedCanceled",
    }
}

wire_enum! {
    /// `UpdateFirmwareStatusEnumType`: the answer to UpdateFirmware.
    pub enum UpdateFirmwareStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
        AcceptedCanceled = "AcceptedCanceled",
        InvalidCertificate = "InvalidCertificate",
        RevokedCertificate = "RevokedCertificate",
    }
}

wire_enum! {
    /// `ConnectorEnumType`: a kind of connector (plug or socket).
    pub enum ConnectorKind {
        CCcs1 = "cCCS1",
        CCcs2 = "cCCS2",
        CG105 = "cG105",
        CTesla = "cTesla",
        CType1 = "cType1",
        CType2 = "cType2",
        S309OneP16A = "s309-1P-16A",
        S309OneP32A = "s309-1P-32A",
        S309ThreeP16A = "s309-3P-16A",
        S309ThreeP32A = "s309-3P-32A",
        SBs1361 = "sBS1361",
        SCee77 = "sCEE-7-7",
        SType2 = "sType2",
        SType3 = "sType3",
        Other1PhMax16A = "Other1PhMax16A",
        Other1PhOver16A = "Other1PhOver16A",
        Other3Ph = "Other3Ph",
        Pan = "Pan",
        WInductive = "wInductive",
        WResonant = "wResonant",
        Undetermined = "Undetermined",
        Unknown = "Unknown",
    }
}

wire_enum! {
    /// `ReserveNowStatusEnumType`: the answer to ReserveNow.
    pub enum ReserveNowStatus {
        Accepted = "Accepted",
        Faulted = "Faulted",
        Occupied = "Occupied",
        Rejected = "Rejected",
        Unavailable = "Unavailable",
    }
}

wire_enum! {
    /// `CancelReservationStatusEnumType`.
    pub enum CancelReservationStatus {
        Accepted = "Accepted",
        Rejected = "Rejected",
    }
}

wire_enum! {
    /// `ReservationUpdateStatusEnumType`: why a reservation ended without being used.
    pub enum ReservationUpdateStatus {
        Expired = "Expired",
        Removed = "Removed",
    }
}

// ---- Shared classes. ----

object201! {
    /// `StatusInfoType`: more about a status.
    pub struct StatusInfo {
        /// A predefined reason code.
        reason_code: CiString20 = "reasonCode",
        /// Free-form detail.
        additional_info: Option<CiString512> = "additionalInfo",
    }
}

object201! {
    /// `ModemType`.
    pub struct Modem {
        /// ICCID of the SIM card.
        iccid: Option<CiString20> = "iccid",
        /// IMSI of the SIM card.
        imsi: Option<CiString20> = "imsi",
    }
}

object201! {
    /// `ChargingStationType`: what a station says about itself at boot.
    pub struct ChargingStation {
        /// Serial number.
        serial_number: Option<CiString<25>> = "serialNumber",
        /// Model.
        model: CiString20 = "model",
        /// Modem.
        modem: Option<Modem> = "modem",
        /// Vendor name.
        vendor_name: CiString50 = "vendorName",
        /// Firmware version.
        firmware_version: Option<CiString50> = "firmwareVersion",
    }
}

object201! {
    /// `AdditionalInfoType` of an id token.
    pub struct AdditionalInfo {
        /// Another identifier of the same person or vehicle.
        additional_id_token: CiString36 = "additionalIdToken",
        /// Its type.
        kind: CiString50 = "type",
    }
}

object201! {
    /// `IdTokenType`: an identifier (RFID card, MAC address of an EV, contract id, ...).
    pub struct IdToken {
        /// The identifier, compared case-insensitively.
        id_token: CiString36 = "idToken",
        /// What kind of identifier it is.
        kind: IdTokenKind = "type",
        /// Further identifiers.
        additional_info: Option<Vec<AdditionalInfo>> = "additionalInfo" [json_non_empty_opt],
    }
}

/// `minItems: 1` on an optional array.
pub(crate) fn json_non_empty_opt<T>(items: &Option<Vec<T>>, path: &str) -> Result<(), crate::ValidationError> {
    items.as_deref().map_or(Ok(()), |items| json::non_empty(items, path))
}

object201! {
    /// `MessageContentType`: a message to show to the driver.
    pub struct MessageContent {
        /// Format of the content (ASCII, HTML, URI, UTF8).
        format: CiString<10> = "format",
        /// Language code.
        language: Option<CiString<8>> = "language",
        /// The message.
        content: CiString512 = "content",
    }
}

object201! {
    /// `IdTokenInfoType`: what the CSMS says about an id token.
    pub struct IdTokenInfo {
        /// Whether it may charge.
        status: AuthorizationStatus = "status",
        /// Until when the station may cache this answer.
        cache_expiry_date_time: Option<DateTime<Utc>> = "cacheExpiryDateTime",
        /// Priority of the driver's charging.
        charging_priority: Option<i32> = "chargingPriority",
        /// Preferred language.
        language1: Option<CiString<8>> = "language1",
        /// EVSEs the token may use.
        evse_id: Option<Vec<i32>> = "evseId" [json_non_empty_opt],
        /// The token's group.
        group_id_token: Option<IdToken> = "groupIdToken",
        /// Second language.
        language2: Option<CiString<8>> = "language2",
        /// A message for the driver.
        personal_message: Option<MessageContent> = "personalMessage",
    }
}

object201! {
    /// `EVSEType`: an EVSE and optionally one of its connectors.
    pub struct Evse {
        /// EVSE number (> 0; 0 means the whole station where allowed).
        id: i32 = "id",
        /// Connector of the EVSE.
        connector_id: Option<i32> = "connectorId",
    }
}

object201! {
    /// `ComponentType` of the device model.
    pub struct Component {
        /// Component name (`SampledDataCtrlr`, `EVSE`, ...).
        name: CiString50 = "name",
        /// Instance, when there are several.
        instance: Option<CiString50> = "instance",
        /// The EVSE the component belongs to.
        evse: Option<Evse> = "evse",
    }
}

object201! {
    /// `VariableType` of the device model.
    pub struct Variable {
        /// Variable name (`TxUpdatedInterval`, ...).
        name: CiString50 = "name",
        /// Instance, when there are several.
        instance: Option<CiString50> = "instance",
    }
}

object201! {
    /// `UnitOfMeasureType`.
    pub struct UnitOfMeasure {
        /// Unit (`Wh` when absent).
        unit: Option<CiString20> = "unit",
        /// Power of ten to multiply the value with (0 when absent).
        multiplier: Option<i32> = "multiplier",
    }
}

object201! {
    /// `SignedMeterValueType`.
    pub struct SignedMeterValue {
        /// The signed data, encoded.
        signed_meter_data: CiString2500 = "signedMeterData",
        /// Signing method.
        signing_method: CiString50 = "signingMethod",
        /// Encoding method.
        encoding_method: CiString50 = "encodingMethod",
        /// The public key, encoded.
        public_key: CiString2500 = "publicKey",
    }
}

object201! {
    /// `SampledValueType`: one measurement. Unlike 1.6, the value is a number.
    pub struct SampledValue {
        /// The value.
        value: f64 = "value",
        /// Why it was sampled (default `Sample.Periodic`).
        context: Option<ReadingContext> = "context",
        /// What was measured (default `Energy.Active.Import.Register`).
        measurand: Option<Measurand> = "measurand",
        /// Phase measured.
        phase: Option<Phase> = "phase",
        /// Where it was measured (default `Outlet`).
        location: Option<Location> = "location",
        /// Signed form of the value.
        signed_meter_value: Option<SignedMeterValue> = "signedMeterValue",
        /// Unit and multiplier.
        unit_of_measure: Option<UnitOfMeasure> = "unitOfMeasure",
    }
}

object201! {
    /// `MeterValueType`: measurements taken at one moment.
    pub struct MeterValue {
        /// The values (`minItems: 1`).
        sampled_value: Vec<SampledValue> = "sampledValue" [json::non_empty],
        /// When they were sampled.
        timestamp: DateTime<Utc> = "timestamp",
    }
}

object201! {
    /// `TransactionType`: the transaction a TransactionEvent is about.
    pub struct Transaction {
        /// The station's id of the transaction.
        transaction_id: CiString36 = "transactionId",
        /// What the power is doing.
        charging_state: Option<ChargingState> = "chargingState",
        /// Seconds spent charging so far.
        time_spent_charging: Option<i32> = "timeSpentCharging",
        /// Why it stopped (in the Ended event).
        stopped_reason: Option<StoppedReason> = "stoppedReason",
        /// The `remoteStartId` of the RequestStartTransaction that started it.
        remote_start_id: Option<i32> = "remoteStartId",
    }
}

object201! {
    /// `ChargingSchedulePeriodType`: one step of a schedule.
    pub struct ChargingSchedulePeriod {
        /// Seconds from the start of the schedule; the first period starts at 0.
        start_period: i32 = "startPeriod",
        /// Power (W) or current (A, per phase) limit.
        limit: f64 = "limit",
        /// Phases that may be used (3 when absent).
        number_phases: Option<i32> = "numberPhases",
        /// The phase to use when `number_phases` is 1.
        phase_to_use: Option<i32> = "phaseToUse",
    }
}

object201! {
    /// `ChargingScheduleType`: limits over time.
    pub struct ChargingSchedule {
        /// Schedule id.
        id: i32 = "id",
        /// Start of an absolute or recurring schedule.
        start_schedule: Option<DateTime<Utc>> = "startSchedule",
        /// Length in seconds; absent means until the profile ends.
        duration: Option<i32> = "duration",
        /// Amperes or watts.
        charging_rate_unit: ChargingRateUnit = "chargingRateUnit",
        /// The periods, in increasing `startPeriod` order (1 to 1024).
        charging_schedule_period: Vec<ChargingSchedulePeriod> = "chargingSchedulePeriod" [json::non_empty],
        /// Lowest rate the EV supports.
        min_charging_rate: Option<f64> = "minChargingRate",
    }
}

object201! {
    /// `ChargingProfileType`.
    pub struct ChargingProfile {
        /// Profile id, unique per station.
        id: i32 = "id",
        /// Priority among profiles of the same purpose; higher wins.
        stack_level: i32 = "stackLevel",
        /// What the profile limits.
        charging_profile_purpose: ChargingProfilePurpose = "chargingProfilePurpose",
        /// How the schedule's start is determined.
        charging_profile_kind: ChargingProfileKind = "chargingProfileKind",
        /// Period of a recurring profile.
        recurrency_kind: Option<RecurrencyKind> = "recurrencyKind",
        /// Start of validity.
        valid_from: Option<DateTime<Utc>> = "validFrom",
        /// End of validity: the limit lapses by itself after it.
        valid_to: Option<DateTime<Utc>> = "validTo",
        /// The transaction a `TxProfile` applies to.
        transaction_id: Option<CiString36> = "transactionId",
        /// The schedules (1 to 3).
        charging_schedule: Vec<ChargingSchedule> = "chargingSchedule" [json::non_empty],
    }
}

object201! {
    /// `CompositeScheduleType`: the limits a station will apply.
    pub struct CompositeSchedule {
        /// The periods.
        charging_schedule_period: Vec<ChargingSchedulePeriod> = "chargingSchedulePeriod",
        /// EVSE (0 for the grid connection).
        evse_id: i32 = "evseId",
        /// Length in seconds.
        duration: i32 = "duration",
        /// Start of the schedule.
        schedule_start: DateTime<Utc> = "scheduleStart",
        /// Unit.
        charging_rate_unit: ChargingRateUnit = "chargingRateUnit",
    }
}

object201! {
    /// `ChargingProfileCriterionType` of ClearChargingProfile.
    pub struct ClearChargingProfileCriteria {
        /// EVSE (0 for the station).
        evse_id: Option<i32> = "evseId",
        /// Purpose.
        charging_profile_purpose: Option<ChargingProfilePurpose> = "chargingProfilePurpose",
        /// Stack level.
        stack_level: Option<i32> = "stackLevel",
    }
}

object201! {
    /// `OCSPRequestDataType`: a certificate to check (ISO 15118 Plug & Charge).
    pub struct OcspRequestData {
        /// Hash algorithm.
        hash_algorithm: HashAlgorithm = "hashAlgorithm",
        /// Hash of the issuer's name.
        issuer_name_hash: CiString128 = "issuerNameHash",
        /// Hash of the issuer's public key.
        issuer_key_hash: CiString128 = "issuerKeyHash",
        /// Serial number of the certificate.
        serial_number: CiString<40> = "serialNumber",
        /// OCSP responder URL.
        responder_url: CiString512 = "responderURL",
    }
}

object201! {
    /// `EventDataType`: one event of a NotifyEvent.
    pub struct EventData {
        /// Event id.
        event_id: i32 = "eventId",
        /// When it happened.
        timestamp: DateTime<Utc> = "timestamp",
        /// What triggered it.
        trigger: EventTrigger = "trigger",
        /// Id of the event that caused it.
        cause: Option<i32> = "cause",
        /// The variable's value.
        actual_value: CiString2500 = "actualValue",
        /// Technical code.
        tech_code: Option<CiString50> = "techCode",
        /// Technical detail.
        tech_info: Option<CiString500> = "techInfo",
        /// Whether the problem cleared.
        cleared: Option<bool> = "cleared",
        /// Transaction it concerns.
        transaction_id: Option<CiString36> = "transactionId",
        /// Component.
        component: Component = "component",
        /// Monitor that raised it.
        variable_monitoring_id: Option<i32> = "variableMonitoringId",
        /// Kind of monitor.
        event_notification_type: EventNotification = "eventNotificationType",
        /// Variable.
        variable: Variable = "variable",
    }
}

object201! {
    /// `VariableAttributeType`.
    pub struct VariableAttribute {
        /// Which value.
        kind: Option<Attribute> = "type",
        /// The value.
        value: Option<CiString2500> = "value",
        /// Whether it can be changed.
        mutability: Option<Mutability> = "mutability",
        /// Whether it survives a reboot.
        persistent: Option<bool> = "persistent",
        /// Whether it never changes.
        constant: Option<bool> = "constant",
    }
}

object201! {
    /// `VariableCharacteristicsType`.
    pub struct VariableCharacteristics {
        /// Unit.
        unit: Option<CiString<16>> = "unit",
        /// Data type.
        data_type: DataKind = "dataType",
        /// Lowest value.
        min_limit: Option<f64> = "minLimit",
        /// Highest value.
        max_limit: Option<f64> = "maxLimit",
        /// Allowed values.
        values_list: Option<CiString1000> = "valuesList",
        /// Whether monitors can be set on it.
        supports_monitoring: bool = "supportsMonitoring",
    }
}

object201! {
    /// `ReportDataType`: one variable in a NotifyReport.
    pub struct ReportData {
        /// Component.
        component: Component = "component",
        /// Variable.
        variable: Variable = "variable",
        /// Its values (1 to 4).
        variable_attribute: Vec<VariableAttribute> = "variableAttribute" [json::non_empty],
        /// Its characteristics.
        variable_characteristics: Option<VariableCharacteristics> = "variableCharacteristics",
    }
}

object201! {
    /// `SetVariableDataType`.
    pub struct SetVariableData {
        /// Which value (`Actual` when absent).
        attribute_type: Option<Attribute> = "attributeType",
        /// New value.
        attribute_value: CiString1000 = "attributeValue",
        /// Component.
        component: Component = "component",
        /// Variable.
        variable: Variable = "variable",
    }
}

object201! {
    /// `SetVariableResultType`.
    pub struct SetVariableResult {
        /// Which value.
        attribute_type: Option<Attribute> = "attributeType",
        /// Outcome.
        attribute_status: SetVariableStatus = "attributeStatus",
        /// Component.
        component: Component = "component",
        /// Variable.
        variable: Variable = "variable",
        /// More about the outcome.
        attribute_status_info: Option<StatusInfo> = "attributeStatusInfo",
    }
}

object201! {
    /// `GetVariableDataType`.
    pub struct GetVariableData {
        /// Which value (`Actual` when absent).
        attribute_type: Option<Attribute> = "attributeType",
        /// Component.
        component: Component = "component",
        /// Variable.
        variable: Variable = "variable",
    }
}

object201! {
    /// `GetVariableResultType`.
    pub struct GetVariableResult {
        /// Outcome.
        attribute_status: GetVariableStatus = "attributeStatus",
        /// Which value.
        attribute_type: Option<Attribute> = "attributeType",
        /// The value.
        attribute_value: Option<CiString2500> = "attributeValue",
        /// Component.
        component: Component = "component",
        /// Variable.
        variable: Variable = "variable",
        /// More about the outcome.
        attribute_status_info: Option<StatusInfo> = "attributeStatusInfo",
    }
}

object201! {
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

object201! {
    /// `FirmwareType`: a firmware image to download and install.
    pub struct Firmware {
        /// Where it is (a URI).
        location: CiString512 = "location",
        /// When to retrieve it.
        retrieve_date_time: DateTime<Utc> = "retrieveDateTime",
        /// When to install it.
        install_date_time: Option<DateTime<Utc>> = "installDateTime",
        /// The certificate (PEM) the firmware is signed with.
        signing_certificate: Option<CiString5500> = "signingCertificate",
        /// The signature of the firmware (base64).
        signature: Option<CiString<800>> = "signature",
    }
}
