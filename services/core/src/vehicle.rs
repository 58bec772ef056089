//! Vehicles reached through their makers' clouds: identity, charge state, location, and the pure
//! mapping from each maker's fields onto Coupler's `powerDeliveryState`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::VendorAccountId;
use crate::capability::{ModelCapabilities, Scope};
use crate::client::ClientId;
use crate::user::UserId;

crate::id::time_ordered_id!(
    /// A vehicle's identifier in Coupler.
    VehicleId
);

/// A vendor: one maker's cloud (or aggregator) that Coupler has an adapter for, such as `TESLA`.
///
/// Written in upper case letters, digits and `_`, 1 to 32 characters, as the anchors write vendors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Vendor(String);

/// Why a string is not a vendor name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a vendor is 1 to 32 upper-case letters, digits or '_' (for example TESLA)")]
pub struct VendorError;

impl Vendor {
    /// Checks a vendor name.
    pub fn parse(raw: &str) -> Result<Self, VendorError> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(VendorError)
        }
    }

    /// The vendor's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Vehicles and chargers share one power delivery state, so an EV system can merge them.
pub use crate::charger::PowerDeliveryState;

impl PowerDeliveryState {
    /// Whether a cable is connected; `None` when not known.
    pub fn plugged_in_if_known(self) -> Option<bool> {
        match self {
            Self::Unknown => None,
            Self::Unplugged => Some(false),
            _ => Some(true),
        }
    }

    /// Tesla Fleet API `charge_state`: `charging_state` (Disconnected, Starting, Charging, Stopped,
    /// Complete, NoPower) and `conn_charge_cable`, which reads `<invalid>` when no cable is in.
    pub fn from_tesla(charging_state: Option<&str>, conn_charge_cable: Option<&str>) -> Self {
        match charging_state {
            Some("Disconnected") => Self::Unplugged,
            Some("Starting") => Self::Initializing,
            Some("Charging") => Self::Charging,
            Some("Stopped") => Self::Stopped,
            Some("Complete") => Self::Complete,
            Some("NoPower") => Self::NoPower,
            // Unknown or missing state: the cable still tells plugged from unplugged.
            _ => match conn_charge_cable {
                Some("<invalid>") => Self::Unplugged,
                Some(cable) if !cable.is_empty() => Self::Stopped,
                _ => Self::Unknown,
            },
        }
    }

    /// Smartcar `GET /charge`: `isPluggedIn` and `state` (CHARGING, FULLY_CHARGED, NOT_CHARGING).
    pub fn from_smartcar(is_plugged_in: Option<bool>, state: Option<&str>) -> Self {
        match (is_plugged_in, state) {
            (Some(false), _) => Self::Unplugged,
            (_, Some("CHARGING")) => Self::Charging,
            (Some(true), Some("FULLY_CHARGED")) => Self::Complete,
            (Some(true), Some("NOT_CHARGING")) => Self::Stopped,
            (Some(true), _) => Self::Stopped,
            _ => Self::Unknown,
        }
    }
}

/// What a vehicle is (`information` in the API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VehicleInformation {
    /// Vehicle identification number, when the maker shares it.
    pub vin: Option<String>,
    /// Brand, for example `Tesla`.
    pub brand: Option<String>,
    /// Model, for example `Model 3`.
    pub model: Option<String>,
    /// Model year.
    pub year: Option<i32>,
    /// The name the owner gave it, or a generated one.
    pub display_name: Option<String>,
}

/// The charge state (`chargeState` in the API). Every field is optional: makers report different
/// subsets, and an unknown value is `null`, never a guess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeState {
    /// State of charge, percent.
    pub battery_level: Option<f64>,
    /// Remaining range, km.
    pub range: Option<f64>,
    /// Whether a cable is connected.
    pub is_plugged_in: Option<bool>,
    /// Whether the vehicle is receiving power.
    pub is_charging: Option<bool>,
    /// Whether it reached its charge limit (may be below 100 %).
    pub is_fully_charged: Option<bool>,
    /// Usable battery capacity, kWh.
    pub battery_capacity: Option<f64>,
    /// Charge limit, percent.
    pub charge_limit: Option<f64>,
    /// Charging power, kW; only while charging.
    pub charge_rate: Option<f64>,
    /// Minutes until the limit is reached; only while charging.
    pub charge_time_remaining: Option<f64>,
    /// The current the vehicle draws at most, amperes.
    pub max_current: Option<f64>,
    /// Plug and power state.
    pub power_delivery_state: Option<PowerDeliveryState>,
    /// The charger this vehicle is plugged into, once the pairing engine knows.
    pub plugged_in_charger_id: Option<String>,
    /// When the maker recorded these values (not when Coupler fetched them).
    pub last_updated: Option<DateTime<Utc>>,
}

impl ChargeState {
    /// Fills `is_plugged_in`, `is_charging` and `is_fully_charged` from `power_delivery_state` where
    /// the maker left them out, so the booleans and the state never disagree.
    pub fn with_derived_flags(mut self) -> Self {
        if let Some(state) = self.power_delivery_state {
            if self.is_plugged_in.is_none() {
                self.is_plugged_in = state.plugged_in_if_known();
            }
            if self.is_charging.is_none() && state != PowerDeliveryState::Unknown {
                self.is_charging = Some(state == PowerDeliveryState::Charging);
            }
            if self.is_fully_charged.is_none() && state != PowerDeliveryState::Unknown {
                self.is_fully_charged = Some(state == PowerDeliveryState::Complete);
            }
        }
        if self.is_charging != Some(true) {
            // Enode's rule: rate and time remaining are only given while charging.
            self.charge_rate = None;
            self.charge_time_remaining = None;
        }
        self
    }
}

/// Where a vehicle is (`location` in the API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Latitude, degrees.
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    pub longitude: Option<f64>,
    /// When the maker recorded the position.
    pub last_updated: Option<DateTime<Utc>>,
}

/// What an adapter reads from a maker about one vehicle at one time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VehicleSnapshot {
    /// Charge state.
    pub charge_state: ChargeState,
    /// Location, when the maker gave one (and the user granted it).
    pub location: Option<Location>,
}

/// A vehicle as a maker lists it on an account, before Coupler stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorVehicle {
    /// The maker's identifier for the vehicle (what its API paths take).
    pub vendor_vehicle_id: String,
    /// What the vehicle is.
    pub information: VehicleInformation,
    /// What the maker lets Coupler do with this model.
    pub capabilities: ModelCapabilities,
    /// Adapter-private facts about the vehicle (for example whether Tesla needs signed commands).
    pub meta: serde_json::Value,
}

/// Where the poller is with a vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollState {
    /// When the next poll is due.
    pub next_poll_at: DateTime<Utc>,
    /// Whether an on-demand poll was asked for (refresh-hint) and not yet served.
    pub requested: bool,
    /// Failed polls in a row; drives the back-off.
    pub consecutive_failures: u32,
    /// No read before this time, not even on demand: a maker's `Retry-After`, or the back-off after
    /// failures. Keeps refresh-hints from hammering a maker that asked Coupler to wait.
    pub not_before: Option<DateTime<Utc>>,
    /// Polls made on `budget_day` (UTC), against the vehicle's daily budget.
    pub polls_on_day: u32,
    /// The UTC day `polls_on_day` counts, as days since the Unix epoch.
    pub budget_day: i64,
    /// The last poll error, for operators.
    pub last_error: Option<String>,
}

/// A vehicle as Coupler stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vehicle {
    /// Identifier.
    pub id: VehicleId,
    /// The API client that owns it (through its user).
    pub client_id: ClientId,
    /// Its owner.
    pub user_id: UserId,
    /// The linked account it was found on.
    pub account_id: VendorAccountId,
    /// The vendor it is reached through.
    pub vendor: Vendor,
    /// The maker's identifier for it.
    pub vendor_vehicle_id: String,
    /// What it is.
    pub information: VehicleInformation,
    /// Its charge state, as last read.
    pub charge_state: ChargeState,
    /// Its location, as last read.
    pub location: Location,
    /// What the maker lets Coupler do with this model.
    pub model_capabilities: ModelCapabilities,
    /// Adapter-private facts about the vehicle.
    pub vendor_meta: serde_json::Value,
    /// The scopes the user granted on the account.
    pub scopes: Vec<Scope>,
    /// Whether the account's credentials still work.
    pub account_valid: bool,
    /// The open intervention on the account (relink needed), if any.
    pub account_intervention: Option<crate::intervention::InterventionId>,
    /// When Coupler last got live data from it (or linked it).
    pub last_seen: Option<DateTime<Utc>>,
    /// Whether Coupler can currently get live data from it; `None` before the first poll.
    pub is_reachable: Option<bool>,
    /// Where the poller is with it.
    pub poll: PollState,
    /// Identifiers registered to it (RFID tags, MAC addresses, eMAIDs) that a charger may report.
    pub id_tags: Vec<String>,
    /// The first poll that found it plugged in since it was last found unplugged.
    pub plugged_in_seen_at: Option<DateTime<Utc>>,
    /// The last poll that found it unplugged.
    pub unplugged_seen_at: Option<DateTime<Utc>>,
    /// When it was first linked.
    pub created_at: DateTime<Utc>,
    /// When anything about it last changed.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_names_are_upper_case_words() {
        assert!(Vendor::parse("TESLA").is_ok());
        assert!(Vendor::parse("SIM_AURORA").is_ok());
        for bad in ["", "tesla", "TES LA", "TESLA/1", &"X".repeat(33)] {
            assert_eq!(Vendor::parse(bad), Err(VendorError), "{bad}");
        }
    }

    #[test]
    fn tesla_charging_states_map_onto_power_delivery_states() {
        use PowerDeliveryState as P;
        let cases = [
            (Some("Disconnected"), Some("<invalid>"), P::Unplugged),
            (Some("Starting"), Some("IEC"), P::Initializing),
            (Some("Charging"), Some("IEC"), P::Charging),
            (Some("Stopped"), Some("IEC"), P::Stopped),
            (Some("Complete"), Some("IEC"), P::Complete),
            (Some("NoPower"), Some("IEC"), P::NoPower),
            (Some("SomethingNew"), Some("<invalid>"), P::Unplugged),
            (Some("SomethingNew"), Some("IEC"), P::Stopped),
            (None, None, P::Unknown),
        ];
        for (state, cable, expected) in cases {
            assert_eq!(
                PowerDeliveryState::from_tesla(state, cable),
                expected,
                "{state:?} {cable:?}"
            );
        }
    }

    #[test]
    fn smartcar_charge_states_map_onto_power_delivery_states() {
        use PowerDeliveryState as P;
        assert_eq!(P::from_smartcar(Some(false), Some("NOT_CHARGING")), P::Unplugged);
        assert_eq!(P::from_smartcar(Some(true), Some("CHARGING")), P::Charging);
        assert_eq!(P::from_smartcar(Some(true), Some("FULLY_CHARGED")), P::Complete);
        assert_eq!(P::from_smartcar(Some(true), Some("NOT_CHARGING")), P::Stopped);
        assert_eq!(P::from_smartcar(None, None), P::Unknown);
    }

    #[test]
    fn derived_flags_follow_the_power_delivery_state_and_drop_rate_when_not_charging() {
        let state = ChargeState {
            power_delivery_state: Some(PowerDeliveryState::Complete),
            charge_rate: Some(7.0),
            ..ChargeState::default()
        }
        .with_derived_flags();
        assert_eq!(state.is_plugged_in, Some(true));
        assert_eq!(state.is_charging, Some(false));
        assert_eq!(state.is_fully_charged, Some(true));
        assert_eq!(state.charge_rate, None);
    }

    #[test]
    fn power_delivery_states_have_the_anchor_wire_names() {
        assert_eq!(
            serde_json::to_value(PowerDeliveryState::Charging).unwrap(),
            "PLUGGED_IN:CHARGING"
        );
        assert_eq!(PowerDeliveryState::NoPower.as_str(), "PLUGGED_IN:NO_POWER");
    }
}
