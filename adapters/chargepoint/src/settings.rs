//! The charge point's settings: OCPP 1.6 configuration keys, and the 2.0.1 device-model variables
//! that name the same settings (one store, two views).

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Setting names, the 1.6 configuration keys.
pub(crate) const HEARTBEAT_INTERVAL: &str = "HeartbeatInterval";
pub(crate) const METER_INTERVAL: &str = "MeterValueSampleInterval";
pub(crate) const METER_MEASURANDS: &str = "MeterValuesSampledData";
pub(crate) const FREE_VEND: &str = "FreeVendEnabled";
pub(crate) const FREE_VEND_ID_TAG: &str = "FreeVendIdTag";
pub(crate) const AUTO_CHARGE: &str = "AutoChargeEnabled";
pub(crate) const LOCAL_LIST_ENABLED: &str = "LocalAuthListEnabled";
pub(crate) const LOCAL_LIST_MAX: &str = "LocalAuthListMaxLength";
pub(crate) const SEND_LOCAL_LIST_MAX: &str = "SendLocalListMaxLength";
pub(crate) const LOCAL_PRE_AUTHORIZE: &str = "LocalPreAuthorize";
pub(crate) const CACHE_ENABLED: &str = "AuthorizationCacheEnabled";
pub(crate) const TX_MESSAGE_ATTEMPTS: &str = "TransactionMessageAttempts";

/// What values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    /// A non-negative integer.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// Any text.
    Text,
}

/// Why a setting change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such setting.
    Unknown,
    /// It cannot be changed.
    ReadOnly,
    /// The value is not one it takes.
    Invalid,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The value; borrowed from the defaults until it changes, so thousands of load-generator
    /// charge points share them.
    value: Cow<'static, str>,
    readonly: bool,
    kind: Type,
}

/// Every setting by its 1.6 key (in key order, as GetConfiguration lists them).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    entries: BTreeMap<&'static str, Entry>,
}

/// Device-model variables (`Component.Variable`) and the setting each one is.
pub(crate) const VARIABLES: &[(&str, &str)] = &[
    ("OCPPCommCtrlr.HeartbeatInterval", HEARTBEAT_INTERVAL),
    ("SampledDataCtrlr.TxUpdatedInterval", METER_INTERVAL),
    ("SampledDataCtrlr.TxUpdatedMeasurands", METER_MEASURANDS),
    ("AuthCtrlr.AuthorizeRemoteStart", "AuthorizeRemoteTxRequests"),
    ("AuthCtrlr.LocalPreAuthorize", LOCAL_PRE_AUTHORIZE),
    ("AuthCacheCtrlr.Enabled", CACHE_ENABLED),
    ("LocalAuthListCtrlr.Enabled", LOCAL_LIST_ENABLED),
    ("LocalAuthListCtrlr.Entries", LOCAL_LIST_MAX),
    ("LocalAuthListCtrlr.ItemsPerMessage", SEND_LOCAL_LIST_MAX),
    ("TxCtrlr.EVConnectionTimeOut", "ConnectionTimeOut"),
    ("OCPPCommCtrlr.MessageAttempts", TX_MESSAGE_ATTEMPTS),
    ("SmartChargingCtrlr.ProfileStackLevel", "ChargeProfileMaxStackLevel"),
    ("SmartChargingCtrlr.RateUnit", "ChargingScheduleAllowedChargingRateUnit"),
    ("SmartChargingCtrlr.Entries", "MaxChargingProfilesInstalled"),
    ("SmartChargingCtrlr.PeriodsPerSchedule", "ChargingScheduleMaxPeriods"),
    ("ReservationCtrlr.Enabled", "ReservationEnabled"),
    ("SimulatorCtrlr.FreeVend", FREE_VEND),
    ("SimulatorCtrlr.FreeVendIdToken", FREE_VEND_ID_TAG),
    ("SimulatorCtrlr.AutoCharge", AUTO_CHARGE),
];

/// Where a device-model variable lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    Component,
    Variable,
}

/// The setting a 2.0.1 variable names (components and variables compare case-insensitively).
pub(crate) fn setting_of(component: &str, variable: &str) -> Result<&'static str, Unknown> {
    let key = format!("{component}.{variable}");
    if let Some((_, setting)) = VARIABLES.iter().find(|(name, _)| name.eq_ignore_ascii_case(&key)) {
        return Ok(setting);
    }
    let known_component = VARIABLES.iter().any(|(name, _)| {
        name.split('.')
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(component))
    });
    Err(if known_component {
        Unknown::Variable
    } else {
        Unknown::Component
    })
}

impl Settings {
    /// The settings of a charger that starts its own transactions when `free_vend` (with
    /// `free_vend_id_tag`), sends the car's identity when `auto_charge`, and samples meter values
    /// every `meter_interval_s` and heartbeats every `heartbeat_interval_s`.
    pub(crate) fn new(
        free_vend: bool,
        free_vend_id_tag: &str,
        auto_charge: bool,
        heartbeat_interval_s: u64,
        meter_interval_s: u64,
    ) -> Self {
        use Type::{Boolean, Integer, Text};
        let flag = |on: bool| if on { "true" } else { "false" };
        let rows: Vec<(&'static str, Cow<'static, str>, bool, Type)> = vec![
            ("AllowOfflineTxForUnknownId", "false".into(), false, Boolean),
            ("AuthorizationCacheEnabled", "true".into(), false, Boolean),
            ("AuthorizeRemoteTxRequests", "false".into(), false, Boolean),
            (AUTO_CHARGE, flag(auto_charge).into(), false, Boolean),
            ("ChargeProfileMaxStackLevel", "10".into(), true, Integer),
            (
                "ChargingScheduleAllowedChargingRateUnit",
                "Current,Power".into(),
                true,
                Text,
            ),
            ("ChargingScheduleMaxPeriods", "24".into(), true, Integer),
            ("ClockAlignedDataInterval", "0".into(), false, Integer),
            ("ConnectionTimeOut", "120".into(), false, Integer),
            ("ConnectorPhaseRotation", "1.RST".into(), false, Text),
            ("CpoName", "Coupler".into(), false, Text),
            (FREE_VEND, flag(free_vend).into(), false, Boolean),
            (FREE_VEND_ID_TAG, free_vend_id_tag.to_owned().into(), false, Text),
            ("GetConfigurationMaxKeys", "100".into(), true, Integer),
            (
                HEARTBEAT_INTERVAL,
                heartbeat_interval_s.to_string().into(),
                false,
                Integer,
            ),
            (LOCAL_LIST_ENABLED, "true".into(), false, Boolean),
            (LOCAL_LIST_MAX, "100".into(), true, Integer),
            ("LocalAuthorizeOffline", "true".into(), false, Boolean),
            (LOCAL_PRE_AUTHORIZE, "true".into(), false, Boolean),
            ("MaxChargingProfilesInstalled", "20".into(), true, Integer),
            (METER_INTERVAL, meter_interval_s.to_string().into(), false, Integer),
            (
                METER_MEASURANDS,
                "Energy.Active.Import.Register,Power.Active.Import,Current.Import".into(),
                false,
                Text,
            ),
            ("NumberOfConnectors", "1".into(), true, Integer),
            ("ReservationEnabled", "true".into(), false, Boolean),
            ("ReserveConnectorZeroSupported", "true".into(), true, Boolean),
            ("ResetRetries", "1".into(), false, Integer),
            ("SecurityProfile", "1".into(), false, Integer),
            (SEND_LOCAL_LIST_MAX, "50".into(), true, Integer),
            ("StopTransactionOnEVSideDisconnect", "true".into(), false, Boolean),
            ("StopTransactionOnInvalidId", "true".into(), false, Boolean),
            (
                "SupportedFeatureProfiles",
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger".into(),
                true,
                Text,
            ),
            (
                "SupportedFileTransferProtocols",
                "FTP,FTPS,HTTP,HTTPS".into(),
                true,
                Text,
            ),
            (TX_MESSAGE_ATTEMPTS, "3".into(), false, Integer),
            ("TransactionMessageRetryInterval", "60".into(), false, Integer),
            ("UnlockConnectorOnEVSideDisconnect", "true".into(), false, Boolean),
            ("WebSocketPingInterval", "0".into(), false, Integer),
            ("AdditionalRootCertificateCheck", "false".into(), true, Boolean),
            ("CertificateStoreMaxLength", "10".into(), true, Integer),
            ("CertificateSignedMaxChainSize", "10000".into(), true, Integer),
            (
                "MeterValuesAlignedData",
                "Energy.Active.Import.Register".into(),
                false,
                Text,
            ),
            (
                "StopTxnSampledData",
                "Energy.Active.Import.Register".into(),
                false,
                Text,
            ),
        ];
        let entries = rows
            .into_iter()
            .map(|(key, value, readonly, kind)| (key, Entry { value, readonly, kind }))
            .collect();
        Self { entries }
    }

    fn entry(&self, key: &str) -> Option<(&'static str, &Entry)> {
        self.entries
            .get_key_value(key)
            .or_else(|| self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(k, e)| (*k, e))
    }

    /// A setting's value (keys compare case-insensitively, as chargers do in practice).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|(_, e)| e.value.as_ref())
    }

    /// A setting as `(key as the charger spells it, value, read-only)`.
    pub(crate) fn describe(&self, key: &str) -> Option<(&str, &str, bool)> {
        self.entry(key).map(|(k, e)| (k, e.value.as_ref(), e.readonly))
    }

    /// Every setting as `(key, value, read-only)`.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.entries.iter().map(|(k, e)| (*k, e.value.as_ref(), e.readonly))
    }

    /// A boolean setting (false when absent).
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// An integer setting (zero when absent or unreadable).
    pub(crate) fn number(&self, key: &str) -> u64 {
        self.get(key).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    /// Changes a setting as the server asks; the key it changed, as the charger spells it.
    pub(crate) fn change(&mut self, key: &str, value: &str) -> Result<&'static str, Refusal> {
        let key = match self.entry(key) {
            None => return Err(Refusal::Unknown),
            Some((_, entry)) if entry.readonly => return Err(Refusal::ReadOnly),
            Some((key, _)) => key,
        };
        let entry = self.entries.get_mut(key).ok_or(Refusal::Unknown)?;
        let valid = match entry.kind {
            Type::Integer => value.trim().parse::<u32>().is_ok(),
            Type::Boolean => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
            Type::Text => value.len() <= 500,
        };
        if !valid {
            return Err(Refusal::Invalid);
        }
        entry.value = Cow::Owned(match entry.kind {
            Type::Boolean => value.to_ascii_lowercase(),
            _ => value.trim().to_owned(),
        });
        Ok(key)
    }

    /// Sets a value the charger decides itself (read-only ones included).
    pub(crate) fn put(&mut self, key: &str, value: String) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.value = Cow::Owned(value);
        }
    }
}
