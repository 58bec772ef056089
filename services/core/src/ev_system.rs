//! EV systems: a vehicle and a charger of the same user, and the rules that pair them.
//!
//! A pair is ESTABLISHED as soon as both belong to the user, and ACTIVATED while Coupler believes
//! the vehicle is plugged into that charger. Which vehicle is in which charger is decided for all of
//! a user's open plug-ins together by [`decide_all`] (module `matching`): identity from the charger
//! first, then each vehicle's own reports (when it turned plugged-in, where it is, what it draws
//! against each charger's meter). A vehicle is matched only when its own reports place it in exactly
//! one open plug-in and no other vehicle's reports allow that plug-in; a wrong match is worse than
//! none, so anything short of that leaves the plug-in unmatched with the reason, until new evidence
//! decides.
//!
//! [`route_order`] says which device carries out a command, and [`merge`] builds the merged state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::action::DeviceKind;
use crate::capability::{Capability, VehicleCapabilities};
use crate::charger::{ChargerId, PowerDeliveryState};
use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::user::UserId;
use crate::vehicle::{self, VehicleId};

mod matching;

pub use matching::{decide_all, Candidate, MatchDecision, MatchRules, PlugIn, PowerSample, UnmatchedReason};

time_ordered_id!(
    /// Identifies an EV system.
    EvSystemId
);

/// Whether a pair is merely known or plugged into each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PairState {
    /// Both devices belong to the user; commands the vehicle lacks are unlocked, but go to the
    /// charger only once it is confirmed plugged into the vehicle.
    Established,
    /// Coupler believes the vehicle is plugged into the charger.
    Activated,
}

/// What kind of evidence a match rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EvidenceKind {
    /// The charger reported an id tag, MAC address or eMAID registered to the vehicle.
    Identity,
    /// The vehicle turned plugged-in close to the charger's plug-in.
    PlugInCorrelation,
    /// The vehicle's position is at the charger's location.
    Location,
    /// The charger's metered power matches the vehicle's reported charge rate.
    PowerCorrelation,
    /// The vehicle is the only linked one that could be plugged in here.
    SingleCandidate,
}

/// One piece of evidence, with what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// Its kind.
    pub kind: EvidenceKind,
    /// What was seen, in words.
    pub detail: String,
}

impl Evidence {
    fn new(kind: EvidenceKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// How sure Coupler is of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Confidence {
    /// Only one vehicle could be there, but nothing from the vehicle confirms it yet.
    Low,
    /// The vehicle's own data points to the charger, with nothing against it.
    Medium,
    /// Identity from the charger, or the vehicle's data and its position both agree.
    High,
}

/// A (vehicle, charger) pair of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct EvSystem {
    /// Identifier.
    pub id: EvSystemId,
    /// The owning API client.
    pub client_id: ClientId,
    /// The owning user.
    pub user_id: UserId,
    /// The vehicle.
    pub vehicle_id: VehicleId,
    /// The charger.
    pub charger_id: ChargerId,
    /// Whether they are plugged into each other.
    pub state: PairState,
    /// Why they are (or were last) matched.
    pub evidence: Vec<Evidence>,
    /// How sure the match is.
    pub confidence: Option<Confidence>,
    /// When it was last activated.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it was last deactivated.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// When the pair was established.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where a charger's vehicle detection stands for its current plug-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetectionStatus {
    /// Nothing is plugged in.
    Unplugged,
    /// Still running: no vehicle yet, and Coupler keeps asking the user's vehicles to report.
    Detecting,
    /// A vehicle is matched (its EV system is activated).
    Matched,
    /// Given up: no vehicle is matched, the detection window is over (or every linked vehicle is
    /// ruled out), and the reason says why. New evidence (an identifier, power, an unplug) still
    /// decides later.
    Unmatched,
}

/// A charger's vehicle detection: what Coupler knows about what is plugged into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The charger.
    pub charger_id: ChargerId,
    /// Where detection stands.
    pub status: DetectionStatus,
    /// When the charger saw the current plug-in.
    pub plugged_in_at: Option<DateTime<Utc>>,
    /// The matched vehicle.
    pub vehicle_id: Option<VehicleId>,
    /// Why no vehicle is matched (yet), in words.
    pub reason: Option<String>,
    /// Why no vehicle is matched (yet), as a code.
    pub reason_code: Option<UnmatchedReason>,
    /// When the user's vehicles were last asked to report, for this plug-in.
    pub polled_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Normalises an identifier a charger reports or a user registers, so that `VID:aa:bb:…`,
/// `AA-BB-…` and `aabb…` compare equal: prefixes `VID:`, `MAC:` and `EMAID:` and separators are
/// dropped, letters upper-cased. `None` for something with no letters or digits.
pub fn normalise_tag(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let upper = trimmed.to_ascii_uppercase();
    let body = ["VID:", "MAC:", "EMAID:"]
        .iter()
        .find_map(|p| upper.strip_prefix(p))
        .unwrap_or(&upper);
    let tag: String = body.chars().filter(char::is_ascii_alphanumeric).collect();
    (!tag.is_empty()).then_some(tag)
}

/// What Coupler knows of the charger side of a vehicle's pairs, for routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargerRoute {
    /// The pair is activated (the vehicle is confirmed plugged into the charger).
    pub activated: bool,
    /// The charger is connected to Coupler.
    pub connected: bool,
}

/// The devices that can carry out `kind` on a vehicle, in the order Coupler tries them: the charger
/// first when the pair is activated (a charger obeys at once and never sleeps), then the vehicle if
/// its maker allows it. An established pair lists the charger after the vehicle: it is usable only
/// once the vehicle is confirmed plugged into it.
pub fn route_order(vehicle: &Capability, charger: Option<ChargerRoute>) -> Vec<DeviceKind> {
    let mut via = Vec::new();
    let charger_ready = charger.is_some_and(|c| c.activated && c.connected);
    if charger_ready {
        via.push(DeviceKind::Charger);
    }
    if vehicle.is_capable {
        via.push(DeviceKind::Vehicle);
    }
    if charger.is_some() && !charger_ready {
        via.push(DeviceKind::Charger);
    }
    via
}

/// A vehicle's capabilities with its pairs taken into account: an established pair unlocks the
/// commands the vehicle alone lacks, and `via` says which device carries each out, in order.
pub fn unlock(capabilities: &VehicleCapabilities, charger: Option<ChargerRoute>) -> VehicleCapabilities {
    let one = |c: &Capability| -> Capability {
        let via = route_order(c, charger);
        if via.is_empty() {
            return c.clone();
        }
        Capability {
            is_capable: true,
            intervention_ids: if c.is_capable {
                c.intervention_ids.clone()
            } else {
                Vec::new()
            },
            via,
            reason: None,
        }
    };
    let mut unlocked = capabilities.clone();
    unlocked.start_charging = one(&capabilities.start_charging);
    unlocked.stop_charging = one(&capabilities.stop_charging);
    unlocked.set_max_current = one(&capabilities.set_max_current);
    unlocked
}

/// The merged charge state of an EV system.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedChargeState {
    /// State of charge, percent (vehicle).
    pub battery_level: Option<f64>,
    /// Range, km (vehicle).
    pub range: Option<f64>,
    /// Usable capacity, kWh (vehicle).
    pub battery_capacity: Option<f64>,
    /// Charge limit, percent (vehicle).
    pub charge_limit: Option<f64>,
    /// Minutes to the limit (vehicle).
    pub charge_time_remaining: Option<f64>,
    /// A cable connects them (charger first: it knows at once).
    pub is_plugged_in: Option<bool>,
    /// Power flows.
    pub is_charging: Option<bool>,
    /// At its charge limit.
    pub is_fully_charged: Option<bool>,
    /// Charging power, kW (the charger's meter, else the vehicle).
    pub charge_rate: Option<f64>,
    /// Energy of the running session, kWh (charger).
    pub session_energy: Option<f64>,
    /// Current limit, A (the charger's, else the vehicle's).
    pub max_current: Option<f64>,
    /// Plug and power state.
    pub power_delivery_state: PowerDeliveryState,
    /// When the newest data is from.
    pub last_updated: Option<DateTime<Utc>>,
}

/// What the charger side contributes to a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerSide {
    /// The charger's charge state.
    pub state: crate::charger::ChargeState,
    /// When it last reported.
    pub last_seen: Option<DateTime<Utc>>,
}

/// Merges a vehicle's and a charger's state. Only an activated pair merges: otherwise the vehicle's
/// state stands alone (the charger may be charging someone else's car).
pub fn merge(vehicle: &vehicle::ChargeState, charger: Option<&ChargerSide>) -> MergedChargeState {
    let mut merged = MergedChargeState {
        battery_level: vehicle.battery_level,
        range: vehicle.range,
        battery_capacity: vehicle.battery_capacity,
        charge_limit: vehicle.charge_limit,
        charge_time_remaining: vehicle.charge_time_remaining,
        is_plugged_in: vehicle.is_plugged_in,
        is_charging: vehicle.is_charging,
        is_fully_charged: vehicle.is_fully_charged,
        charge_rate: vehicle.charge_rate,
        session_energy: None,
        max_current: vehicle.max_current,
        power_delivery_state: vehicle.power_delivery_state.unwrap_or(PowerDeliveryState::Unknown),
        last_updated: vehicle.last_updated,
    };
    let Some(charger) = charger else {
        return merged;
    };
    let c = &charger.state;
    merged.is_plugged_in = Some(c.is_plugged_in);
    merged.is_charging = Some(c.is_charging);
    // A charger cannot tell "complete" from "stopped"; the vehicle can.
    let vehicle_complete = vehicle.power_delivery_state == Some(PowerDeliveryState::Complete);
    merged.power_delivery_state = if vehicle_complete && c.is_plugged_in && !c.is_charging {
        PowerDeliveryState::Complete
    } else {
        c.power_delivery_state
    };
    if c.is_charging {
        merged.charge_rate = c.charge_rate.or(vehicle.charge_rate);
    } else {
        merged.charge_rate = Some(0.0);
    }
    merged.session_energy = c.session_energy;
    merged.max_current = c.max_current.or(vehicle.max_current);
    merged.last_updated = match (vehicle.last_updated, charger.last_seen) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    merged
}

/// A vehicle's charge state as the API shows it while it is matched with a charger: plug and power
/// state from the charger (faster than the maker), the vehicle's own battery data.
pub fn feed_vehicle(
    vehicle: &vehicle::ChargeState,
    charger: &ChargerSide,
    charger_id: &ChargerId,
) -> vehicle::ChargeState {
    let merged = merge(vehicle, Some(charger));
    vehicle::ChargeState {
        is_plugged_in: merged.is_plugged_in,
        is_charging: merged.is_charging,
        charge_rate: merged.charge_rate,
        power_delivery_state: Some(merged.power_delivery_state),
        plugged_in_charger_id: Some(charger_id.as_str().to_owned()),
        last_updated: merged.last_updated,
        ..vehicle.clone()
    }
}

/// A vehicle's charge state after its pair was deactivated at `deactivated_at` (the charger saw the
/// unplug, or the match moved elsewhere): maker data older than that described the vehicle at the
/// charger and is stale, so the vehicle shows unplugged and not charging until its maker reports
/// something newer. Newer maker data stands as it is.
pub fn after_unplug(vehicle: &vehicle::ChargeState, deactivated_at: DateTime<Utc>) -> vehicle::ChargeState {
    if vehicle.last_updated.is_some_and(|at| at >= deactivated_at) {
        return vehicle.clone();
    }
    vehicle::ChargeState {
        is_plugged_in: Some(false),
        is_charging: Some(false),
        is_fully_charged: Some(false),
        charge_rate: Some(0.0),
        charge_time_remaining: None,
        power_delivery_state: Some(PowerDeliveryState::Unplugged),
        plugged_in_charger_id: None,
        last_updated: Some(deactivated_at),
        ..vehicle.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{ModelCapabilities, Scope, Support};

    #[test]
    fn after_an_unplug_older_maker_data_shows_unplugged_and_newer_data_stands() {
        let charging = vehicle::ChargeState {
            is_plugged_in: Some(true),
            is_charging: Some(true),
            charge_rate: Some(11.0),
            battery_level: Some(55.0),
            power_delivery_state: Some(PowerDeliveryState::Charging),
            plugged_in_charger_id: Some("c".into()),
            last_updated: Some(t(0)),
            ..vehicle::ChargeState::default()
        };
        let shown = after_unplug(&charging, t(10));
        assert_eq!(shown.power_delivery_state, Some(PowerDeliveryState::Unplugged));
        assert_eq!(shown.is_charging, Some(false));
        assert_eq!(shown.charge_rate, Some(0.0));
        assert_eq!(shown.plugged_in_charger_id, None);
        assert_eq!(shown.battery_level, Some(55.0), "the battery data is the vehicle's own");
        let newer = vehicle::ChargeState {
            last_updated: Some(t(20)),
            ..charging.clone()
        };
        assert_eq!(after_unplug(&newer, t(10)), newer);
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn caps(stop: Support) -> VehicleCapabilities {
        VehicleCapabilities::derive(
            &ModelCapabilities {
                stop_charging: stop,
                ..ModelCapabilities::full()
            },
            &Scope::ALL,
            None,
        )
    }

    #[test]
    fn an_established_pair_unlocks_stop_for_a_vehicle_that_cannot_and_routes_the_charger_first_once_activated() {
        let vehicle = caps(Support::no("no stop command"));
        let established = unlock(
            &vehicle,
            Some(ChargerRoute {
                activated: false,
                connected: true,
            }),
        );
        assert!(established.stop_charging.is_capable);
        assert_eq!(established.stop_charging.via, vec![DeviceKind::Charger]);
        assert_eq!(
            established.start_charging.via,
            vec![DeviceKind::Vehicle, DeviceKind::Charger]
        );
        let activated = unlock(
            &vehicle,
            Some(ChargerRoute {
                activated: true,
                connected: true,
            }),
        );
        assert_eq!(
            activated.start_charging.via,
            vec![DeviceKind::Charger, DeviceKind::Vehicle]
        );
        assert!(!unlock(&vehicle, None).stop_charging.is_capable);
    }

    #[test]
    fn the_merged_state_takes_battery_data_from_the_vehicle_and_power_from_the_charger() {
        let vehicle = vehicle::ChargeState {
            battery_level: Some(55.0),
            charge_limit: Some(80.0),
            is_plugged_in: Some(false),
            power_delivery_state: Some(PowerDeliveryState::Unplugged),
            ..Default::default()
        };
        let charger = ChargerSide {
            state: crate::charger::ChargeState {
                is_plugged_in: true,
                is_charging: true,
                charge_rate: Some(11.0),
                max_current: Some(16.0),
                power_delivery_state: PowerDeliveryState::Charging,
                session_energy: Some(2.5),
            },
            last_seen: Some(t(0)),
        };
        let merged = merge(&vehicle, Some(&charger));
        assert_eq!(merged.battery_level, Some(55.0));
        assert_eq!(merged.is_plugged_in, Some(true));
        assert_eq!(merged.power_delivery_state, PowerDeliveryState::Charging);
        assert_eq!(merged.charge_rate, Some(11.0));
        assert_eq!(merged.session_energy, Some(2.5));
        let fed = feed_vehicle(&vehicle, &charger, &ChargerId::new("c1"));
        assert_eq!(fed.plugged_in_charger_id.as_deref(), Some("c1"));
        assert_eq!(fed.is_plugged_in, Some(true));
    }
}
