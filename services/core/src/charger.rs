//! Chargers: OCPP charge points owned by a user, their connectors, sessions and meter readings, and
//! the rules that turn what a charger reports into the state the API shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::ClientId;
use crate::user::UserId;

crate::id::time_ordered_id!(
    /// A charger's identifier in the API.
    ChargerId
);

/// The identity a charge point connects with: the last segment of its OCPP URL, and its HTTP Basic
/// user name.
///
/// OCPP 2.0.1 caps identities at 48 characters; Coupler applies that to both versions. A `:` would
/// break HTTP Basic credentials and a `/` the URL, and white space or control characters are never
/// meant, so those are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OcppIdentity(String);

/// Why a string is not a valid [`OcppIdentity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an OCPP identity is 1 to 48 characters without white space, control characters, ':' or '/'")]
pub struct OcppIdentityError;

impl OcppIdentity {
    /// The longest identity accepted.
    pub const MAX_LEN: usize = 48;

    /// Checks an identity.
    pub fn parse(raw: &str) -> Result<Self, OcppIdentityError> {
        let valid = !raw.is_empty()
            && raw.chars().count() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != ':' && c != '/');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(OcppIdentityError)
        }
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OcppIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The OCPP version a charger speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OcppProtocol {
    /// OCPP 1.6J.
    #[serde(rename = "1.6")]
    V16,
    /// OCPP 2.0.1.
    #[serde(rename = "2.0.1")]
    V201,
}

impl OcppProtocol {
    /// The version as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V16 => "1.6",
            Self::V201 => "2.0.1",
        }
    }

    /// Reads [`OcppProtocol::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "1.6" => Some(Self::V16),
            "2.0.1" => Some(Self::V201),
            _ => None,
        }
    }
}

/// Whether a device has a vehicle plugged in, and what the power is doing. The values are the ones
/// energy apps already know from other vehicle and charger APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PowerDeliveryState {
    /// Not known (the device never said, or cannot tell).
    #[serde(rename = "UNKNOWN")]
    Unknown,
    /// Nothing plugged in.
    #[serde(rename = "UNPLUGGED")]
    Unplugged,
    /// Plugged in, expected to start charging shortly.
    #[serde(rename = "PLUGGED_IN:INITIALIZING")]
    Initializing,
    /// Plugged in and charging.
    #[serde(rename = "PLUGGED_IN:CHARGING")]
    Charging,
    /// Plugged in, not charging; charging can be started.
    #[serde(rename = "PLUGGED_IN:STOPPED")]
    Stopped,
    /// Plugged in, the vehicle reached its limit (vehicles only).
    #[serde(rename = "PLUGGED_IN:COMPLETE")]
    Complete,
    /// Plugged in, no power available.
    #[serde(rename = "PLUGGED_IN:NO_POWER")]
    NoPower,
    /// Plugged in, a fault stops charging.
    #[serde(rename = "PLUGGED_IN:FAULT")]
    Fault,
}

impl PowerDeliveryState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Unplugged => "UNPLUGGED",
            Self::Initializing => "PLUGGED_IN:INITIALIZING",
            Self::Charging => "PLUGGED_IN:CHARGING",
            Self::Stopped => "PLUGGED_IN:STOPPED",
            Self::Complete => "PLUGGED_IN:COMPLETE",
            Self::NoPower => "PLUGGED_IN:NO_POWER",
            Self::Fault => "PLUGGED_IN:FAULT",
        }
    }

    /// Whether a vehicle is plugged in.
    pub fn is_plugged_in(self) -> bool {
        !matches!(self, Self::Unknown | Self::Unplugged)
    }

    /// How much a connector in this state tells about the charger as a whole: a charging connector
    /// speaks for the charger before an idle one does.
    fn weight(self) -> u8 {
        match self {
            Self::Charging => 7,
            Self::Initializing => 6,
            Self::Stopped => 5,
            Self::Complete => 4,
            Self::NoPower => 3,
            Self::Fault => 2,
            Self::Unplugged => 1,
            Self::Unknown => 0,
        }
    }
}

/// Maps an OCPP 1.6 connector status (StatusNotification) to the power delivery state.
///
/// Finishing and both Suspended states are "plugged in, not charging": the vehicle is still there and
/// charging can start again. Faulted says nothing about the plug, but a fault is what an app must show.
pub fn power_delivery_from_ocpp16(status: &str) -> PowerDeliveryState {
    match status {
        "Available" | "Reserved" => PowerDeliveryState::Unplugged,
        "Preparing" => PowerDeliveryState::Initializing,
        "Charging" => PowerDeliveryState::Charging,
        "SuspendedEV" | "SuspendedEVSE" | "Finishing" => PowerDeliveryState::Stopped,
        "Faulted" => PowerDeliveryState::Fault,
        _ => PowerDeliveryState::Unknown,
    }
}

/// Maps an OCPP 2.0.1 connector status (StatusNotification `connectorStatus`) to the power delivery
/// state. 2.0.1 only says whether a cable is in (`Occupied`); what the power does comes with the
/// transaction's `chargingState` ([`power_delivery_from_ocpp201_charging_state`]), so an occupied
/// connector counts as "plugged in, expected to start", like 1.6's Preparing.
pub fn power_delivery_from_ocpp201_status(connector_status: &str) -> PowerDeliveryState {
    match connector_status {
        "Available" | "Reserved" => PowerDeliveryState::Unplugged,
        "Occupied" => PowerDeliveryState::Initializing,
        "Faulted" => PowerDeliveryState::Fault,
        _ => PowerDeliveryState::Unknown,
    }
}

/// Maps an OCPP 2.0.1 TransactionEvent `chargingState` to the power delivery state. `EVConnected`
/// is plugged in and not yet drawing power (1.6's Preparing); `Idle` is a transaction with no
/// vehicle connected (authorised before the cable went in).
pub fn power_delivery_from_ocpp201_charging_state(charging_state: &str) -> PowerDeliveryState {
    match charging_state {
        "Charging" => PowerDeliveryState::Charging,
        "EVConnected" => PowerDeliveryState::Initializing,
        "SuspendedEV" | "SuspendedEVSE" => PowerDeliveryState::Stopped,
        "Idle" => PowerDeliveryState::Unplugged,
        _ => PowerDeliveryState::Unknown,
    }
}

/// The last status a connector reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    /// Connector number; 0 is the charge point as a whole.
    pub connector_id: u32,
    /// The OCPP status as sent (`Available`, `Charging`, ...).
    pub status: String,
    /// The OCPP error code (`NoError` when none).
    pub error_code: String,
    /// Free-form information the charger added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// The status mapped to the power delivery state.
    pub power_delivery_state: PowerDeliveryState,
    /// When Coupler received it.
    pub updated_at: DateTime<Utc>,
}

/// What a charger told about itself at boot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargerInfo {
    /// Vendor (brand).
    pub vendor: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// Firmware version.
    pub firmware_version: Option<String>,
}

/// The latest meter readings of a charger, from MeterValues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveMeter {
    /// Active power imported, in watts.
    pub power_w: Option<f64>,
    /// Current imported (the largest phase), in amperes.
    pub current_a: Option<f64>,
    /// Energy register, in watt-hours.
    pub energy_wh: Option<f64>,
    /// The vehicle's state of charge, when the charger knows it (percent).
    pub soc: Option<f64>,
    /// When the readings were taken.
    pub at: Option<DateTime<Utc>>,
}

/// A charger as Coupler keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Charger {
    /// Identifier.
    pub id: ChargerId,
    /// The owning API client.
    pub client_id: ClientId,
    /// The owning user.
    pub user_id: UserId,
    /// The identity it connects with.
    pub ocpp_id: OcppIdentity,
    /// A name for people.
    pub name: Option<String>,
    /// The location it is placed at.
    pub location_id: Option<String>,
    /// The version it last connected with.
    pub ocpp_version: Option<OcppProtocol>,
    /// Vendor, model, serial, firmware from its last boot.
    pub info: ChargerInfo,
    /// Its connectors' last statuses, by connector number.
    pub connectors: Vec<ConnectorStatus>,
    /// Latest meter readings.
    pub meter: LiveMeter,
    /// The maximum current last set through Coupler, in amperes.
    pub max_current: Option<f64>,
    /// Whether it is connected to Coupler now.
    pub is_connected: bool,
    /// When Coupler last heard from it.
    pub last_seen: Option<DateTime<Utc>>,
    /// Last firmware update status it reported.
    pub firmware_status: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// A charging session: one OCPP transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeSession {
    /// The transaction id Coupler allocated, also the session's id. OCPP 1.6 chargers use it on the
    /// wire; a 2.0.1 charger names its transactions itself, and the store maps its id to this one.
    pub transaction_id: i64,
    /// The charger.
    pub charger_id: ChargerId,
    /// The connector it ran on.
    pub connector_id: u32,
    /// The id tag that started it.
    pub id_tag: Option<String>,
    /// Energy register at the start, Wh.
    pub meter_start_wh: f64,
    /// Latest energy register reading during the session, Wh.
    pub meter_last_wh: f64,
    /// Energy register at the end, Wh.
    pub meter_stop_wh: Option<f64>,
    /// When it started (charger's clock).
    pub started_at: DateTime<Utc>,
    /// When it ended (charger's clock).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub stop_reason: Option<String>,
    /// The verdict on the token it started with (`ACCEPTED`, `BLOCKED`, `EXPIRED`, `INVALID`,
    /// `UNKNOWN`; see [`crate::authorisation::Verdict`]); `None` when no token was judged.
    pub authorisation: Option<String>,
    /// What made its values implausible (see [`crate::plausibility::Implausible`]); its energy
    /// then counts as none.
    pub implausible: Option<String>,
}

impl ChargeSession {
    /// Energy delivered so far (or in total, once stopped), in kWh; never negative, and none for a
    /// session whose values are implausible.
    pub fn energy_kwh(&self) -> f64 {
        if self.implausible.is_some() {
            return 0.0;
        }
        let end = self.meter_stop_wh.unwrap_or(self.meter_last_wh);
        ((end - self.meter_start_wh) / 1000.0).max(0.0)
    }

    /// Whether the session is still running.
    pub fn is_active(&self) -> bool {
        self.stopped_at.is_none()
    }
}

/// What the API shows of a charger's charging.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeState {
    /// A vehicle is plugged in.
    pub is_plugged_in: bool,
    /// Power is flowing.
    pub is_charging: bool,
    /// Charging power in kW (from meter values), while charging.
    pub charge_rate: Option<f64>,
    /// The maximum current set through Coupler.
    pub max_current: Option<f64>,
    /// Plug and power state.
    pub power_delivery_state: PowerDeliveryState,
    /// Energy of the running session, kWh.
    pub session_energy: Option<f64>,
}

impl Charger {
    /// The charger's overall state: the most telling of its connectors (connector 0, the charge
    /// point itself, counts only when it is the only one or is faulted).
    pub fn power_delivery_state(&self) -> PowerDeliveryState {
        if !self.is_connected && self.connectors.is_empty() {
            return PowerDeliveryState::Unknown;
        }
        let outlets = self.connectors.iter().filter(|c| c.connector_id > 0);
        let best = outlets.map(|c| c.power_delivery_state).max_by_key(|s| s.weight());
        let station_faulted = self
            .connectors
            .iter()
            .any(|c| c.connector_id == 0 && c.power_delivery_state == PowerDeliveryState::Fault);
        match best {
            Some(state) if !station_faulted => state,
            Some(state) if state.is_plugged_in() => PowerDeliveryState::Fault,
            _ if station_faulted => PowerDeliveryState::Fault,
            Some(state) => state,
            None => PowerDeliveryState::Unknown,
        }
    }

    /// The charge state the API shows, given the charger's running session, if any.
    pub fn charge_state(&self, active: Option<&ChargeSession>) -> ChargeState {
        let power_delivery_state = self.power_delivery_state();
        let is_charging = power_delivery_state == PowerDeliveryState::Charging;
        ChargeState {
            is_plugged_in: power_delivery_state.is_plugged_in(),
            is_charging,
            charge_rate: if is_charging {
                self.meter.power_w.map(|w| (w / 1000.0).max(0.0))
            } else {
                None
            },
            max_current: self.max_current,
            power_delivery_state,
            session_energy: active.map(ChargeSession::energy_kwh),
        }
    }
}

/// One measurement from a MeterValues (or a StopTransaction's transaction data).
#[derive(Debug, Clone, PartialEq)]
pub struct MeterSample {
    /// When it was measured (charger's clock).
    pub sampled_at: DateTime<Utc>,
    /// What was measured, in OCPP's words (`Energy.Active.Import.Register`, ...).
    pub measurand: String,
    /// The phase, when one.
    pub phase: Option<String>,
    /// The unit, normalised: energy in Wh, power in W, current in A, voltage in V, SoC in percent.
    pub unit: String,
    /// The value in that unit.
    pub value: f64,
    /// Why it was taken (`Sample.Periodic`, `Transaction.End`, ...).
    pub context: Option<String>,
}

/// Converts an OCPP reading to Coupler's units: kWh becomes Wh and kW becomes W, so stored samples
/// compare directly. Returns the value and the unit it is now in.
pub fn normalise_reading(value: f64, unit: &str) -> (f64, String) {
    match unit {
        "kWh" => (value * 1000.0, "Wh".to_owned()),
        "kW" => (value * 1000.0, "W".to_owned()),
        "kvarh" => (value * 1000.0, "varh".to_owned()),
        "kvar" => (value * 1000.0, "var".to_owned()),
        "kVA" => (value * 1000.0, "VA".to_owned()),
        other => (value, other.to_owned()),
    }
}

/// Folds meter samples into the live readings: only the newest moment counts; power is the total
/// (or the sum of the phases when no total was sent); current is the largest phase, the one a
/// current limit acts on. Readings older than the live ones (a late StopTransaction's data) are
/// ignored.
pub fn apply_samples(meter: &mut LiveMeter, samples: &[MeterSample]) {
    let Some(newest) = samples.iter().map(|s| s.sampled_at).max() else {
        return;
    };
    if meter.at.is_some_and(|at| newest < at) {
        return;
    }
    let mut power_total = None;
    let mut power_phases: Option<f64> = None;
    let mut current: Option<f64> = None;
    for sample in samples.iter().filter(|s| s.sampled_at == newest) {
        match (sample.measurand.as_str(), sample.phase.is_some()) {
            ("Power.Active.Import", false) => power_total = Some(sample.value),
            ("Power.Active.Import", true) => power_phases = Some(power_phases.unwrap_or(0.0) + sample.value),
            ("Current.Import", _) => current = Some(current.map_or(sample.value, |c| c.max(sample.value))),
            ("Energy.Active.Import.Register", false) => meter.energy_wh = Some(sample.value),
            ("SoC", _) => meter.soc = Some(sample.value),
            _ => {}
        }
    }
    if let Some(power) = power_total.or(power_phases) {
        meter.power_w = Some(power);
    }
    if current.is_some() {
        meter.current_a = current;
    }
    meter.at = Some(newest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocpp_identities_that_would_break_urls_or_basic_auth_are_refused() {
        assert!(OcppIdentity::parse("CP-001").is_ok());
        assert!(OcppIdentity::parse("Ladestation_Küche.1").is_ok());
        for bad in ["", "a:b", "a/b", "a b", "tab\t", &"x".repeat(49)] {
            assert!(OcppIdentity::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_ocpp16_status_maps_to_a_power_delivery_state() {
        use PowerDeliveryState::*;
        let cases = [
            ("Available", Unplugged),
            ("Preparing", Initializing),
            ("Charging", Charging),
            ("SuspendedEV", Stopped),
            ("SuspendedEVSE", Stopped),
            ("Finishing", Stopped),
            ("Reserved", Unplugged),
            ("Unavailable", Unknown),
            ("Faulted", Fault),
            ("Nonsense", Unknown),
        ];
        for (status, state) in cases {
            assert_eq!(power_delivery_from_ocpp16(status), state, "{status}");
        }
    }

    #[test]
    fn every_ocpp201_connector_status_and_charging_state_maps_to_a_power_delivery_state() {
        use PowerDeliveryState::*;
        for (status, state) in [
            ("Available", Unplugged),
            ("Occupied", Initializing),
            ("Reserved", Unplugged),
            ("Unavailable", Unknown),
            ("Faulted", Fault),
            ("Charging", Unknown),
        ] {
            assert_eq!(power_delivery_from_ocpp201_status(status), state, "{status}");
        }
        for (charging_state, state) in [
            ("Charging", Charging),
            ("EVConnected", Initializing),
            ("SuspendedEV", Stopped),
            ("SuspendedEVSE", Stopped),
            ("Idle", Unplugged),
            ("Nonsense", Unknown),
        ] {
            assert_eq!(
                power_delivery_from_ocpp201_charging_state(charging_state),
                state,
                "{charging_state}"
            );
        }
    }

    fn connector(id: u32, status: &str) -> ConnectorStatus {
        ConnectorStatus {
            connector_id: id,
            status: status.into(),
            error_code: "NoError".into(),
            info: None,
            power_delivery_state: power_delivery_from_ocpp16(status),
            updated_at: Utc::now(),
        }
    }

    fn charger(connectors: Vec<ConnectorStatus>) -> Charger {
        Charger {
            id: ChargerId::generate(),
            client_id: ClientId::new("c"),
            user_id: UserId::parse("u").unwrap(),
            ocpp_id: OcppIdentity::parse("CP1").unwrap(),
            name: None,
            location_id: None,
            ocpp_version: Some(OcppProtocol::V16),
            info: ChargerInfo::default(),
            connectors,
            meter: LiveMeter {
                power_w: Some(7400.0),
                ..LiveMeter::default()
            },
            max_current: None,
            is_connected: true,
            last_seen: None,
            firmware_status: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_busiest_connector_speaks_for_the_charger() {
        let c = charger(vec![
            connector(0, "Available"),
            connector(1, "Available"),
            connector(2, "Charging"),
        ]);
        assert_eq!(c.power_delivery_state(), PowerDeliveryState::Charging);
        let state = c.charge_state(None);
        assert!(state.is_charging && state.is_plugged_in);
        assert_eq!(state.charge_rate, Some(7.4));
    }

    #[test]
    fn a_faulted_station_shows_the_fault_and_no_status_is_unknown() {
        let faulted = charger(vec![connector(0, "Faulted"), connector(1, "Preparing")]);
        assert_eq!(faulted.power_delivery_state(), PowerDeliveryState::Fault);
        assert_eq!(charger(vec![]).power_delivery_state(), PowerDeliveryState::Unknown);
        let idle = charger(vec![connector(1, "Available")]);
        assert_eq!(
            idle.charge_state(None).charge_rate,
            None,
            "no charge rate unless charging"
        );
    }

    fn sample(measurand: &str, phase: Option<&str>, value: f64, at: DateTime<Utc>) -> MeterSample {
        MeterSample {
            sampled_at: at,
            measurand: measurand.into(),
            phase: phase.map(str::to_owned),
            unit: "x".into(),
            value,
            context: None,
        }
    }

    #[test]
    fn live_readings_take_the_newest_values_and_the_largest_phase_current() {
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(10);
        let mut meter = LiveMeter::default();
        apply_samples(
            &mut meter,
            &[
                sample("Energy.Active.Import.Register", None, 1000.0, t0),
                sample("Energy.Active.Import.Register", None, 1200.0, t1),
                sample("Current.Import", Some("L1"), 15.8, t1),
                sample("Current.Import", Some("L2"), 16.1, t1),
                sample("Power.Active.Import", None, 11000.0, t1),
            ],
        );
        assert_eq!(meter.energy_wh, Some(1200.0));
        assert_eq!(meter.current_a, Some(16.1));
        assert_eq!(meter.power_w, Some(11000.0));
        assert_eq!(meter.at, Some(t1));

        apply_samples(&mut meter, &[sample("Energy.Active.Import.Register", None, 900.0, t0)]);
        assert_eq!(
            meter.energy_wh,
            Some(1200.0),
            "older readings do not move the live view"
        );
    }

    #[test]
    fn readings_in_kilo_units_are_normalised() {
        assert_eq!(normalise_reading(1.5, "kWh"), (1500.0, "Wh".to_owned()));
        assert_eq!(normalise_reading(7.4, "kW"), (7400.0, "W".to_owned()));
        assert_eq!(normalise_reading(230.0, "V"), (230.0, "V".to_owned()));
    }

    #[test]
    fn session_energy_is_never_negative() {
        let mut s = ChargeSession {
            transaction_id: 1,
            charger_id: ChargerId::new("c"),
            connector_id: 1,
            id_tag: None,
            meter_start_wh: 1000.0,
            meter_last_wh: 4500.0,
            meter_stop_wh: None,
            started_at: Utc::now(),
            stopped_at: None,
            stop_reason: None,
            authorisation: None,
            implausible: None,
        };
        assert_eq!(s.energy_kwh(), 3.5);
        s.implausible = Some("STOP_BEFORE_START".into());
        assert_eq!(
            s.energy_kwh(),
            0.0,
            "an implausible session delivered nothing that counts"
        );
        s.implausible = None;
        s.meter_stop_wh = Some(500.0);
        assert_eq!(s.energy_kwh(), 0.0);
    }
}
