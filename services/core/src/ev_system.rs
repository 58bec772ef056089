//! EV systems: a vehicle and a charger of the same user, and the rules that pair them.
//!
//! A pair is ESTABLISHED as soon as both belong to the user, and ACTIVATED while Coupler believes
//! the vehicle is plugged into that charger. Which vehicle is in which charger is decided by
//! [`decide`], a ladder of evidence, strongest first:
//! 1. identity from the charger (an id tag, MAC address or eMAID registered to one vehicle);
//! 2. plug-in correlation: a vehicle seen turning plugged-in close to the charger's plug-in;
//! 3. power correlation: the charger's metered power matches one vehicle's reported charge rate;
//! 4. a single candidate: the one linked vehicle that could be plugged in here.
//!
//! Vehicles are ruled out first: one plugged into another charger, one that reported being
//! unplugged after the plug-in, one whose position is away from the charger's location, one that has
//! been plugged in since long before. A wrong match is worse than none, so when the evidence cannot
//! tell two vehicles apart the charger stays unmatched and says why.
//!
//! [`route_order`] says which device carries out a command, and [`merge`] builds the merged state.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::action::DeviceKind;
use crate::capability::{Capability, VehicleCapabilities};
use crate::charger::{ChargerId, PowerDeliveryState};
use crate::client::ClientId;
use crate::id::time_ordered_id;
use crate::location::Point;
use crate::user::UserId;
use crate::vehicle::{self, VehicleId};

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
    /// Waiting for fresh vehicle data.
    Detecting,
    /// A vehicle is matched (its EV system is activated).
    Matched,
    /// No vehicle is matched: a guest, or evidence that cannot tell vehicles apart.
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

/// The tunable parts of matching.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchRules {
    /// How close a vehicle's plug-in must be to the charger's to count as the same event.
    pub correlation_window: Duration,
    /// How long after a plug-in Coupler keeps waiting for vehicles to report before giving up.
    pub detection_window: Duration,
    /// Vehicle data from this long after the plug-in may still predate it at the maker (makers
    /// lag): an "unplugged" in that time does not rule a vehicle out.
    pub maker_lag: Duration,
    /// Clock differences between Coupler, chargers and makers.
    pub clock_slack: Duration,
    /// A vehicle's reported charge rate within this share of the charger's power counts as a match.
    pub power_tolerance: f64,
}

impl Default for MatchRules {
    fn default() -> Self {
        Self {
            correlation_window: Duration::minutes(10),
            detection_window: Duration::minutes(10),
            maker_lag: Duration::seconds(20),
            clock_slack: Duration::seconds(5),
            power_tolerance: 0.15,
        }
    }
}

/// What the charger tells about its current plug-in.
#[derive(Debug, Clone, PartialEq)]
pub struct PlugIn {
    /// When the charger saw the plug-in.
    pub at: DateTime<Utc>,
    /// Identifiers the charger reported since (id tags, `VID:` MACs, eMAIDs), as reported.
    pub id_tags: Vec<String>,
    /// The charger's location, when it is placed at one.
    pub location: Option<Point>,
    /// Metered power now, kW, while power flows.
    pub power_kw: Option<f64>,
}

/// What Coupler knows of one of the user's vehicles, as a candidate for a plug-in.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The vehicle.
    pub vehicle_id: VehicleId,
    /// Identifiers the user registered to it.
    pub id_tags: Vec<String>,
    /// Whether it reports being plugged in (`None`: it never said).
    pub is_plugged_in: Option<bool>,
    /// When the data it last reported is from.
    pub observed_at: Option<DateTime<Utc>>,
    /// The first report of plugged-in since it was last seen unplugged.
    pub plugged_in_seen_at: Option<DateTime<Utc>>,
    /// The last report of unplugged.
    pub unplugged_seen_at: Option<DateTime<Utc>>,
    /// Its last position and when it is from.
    pub position: Option<(Point, DateTime<Utc>)>,
    /// Its reported charge rate, kW.
    pub charge_rate_kw: Option<f64>,
    /// Another charger it is matched with now.
    pub matched_elsewhere: Option<ChargerId>,
}

/// The outcome of matching one plug-in.
#[derive(Debug, Clone, PartialEq)]
pub enum MatchDecision {
    /// This vehicle is plugged in here.
    Matched {
        /// The vehicle.
        vehicle_id: VehicleId,
        /// Why.
        evidence: Vec<Evidence>,
        /// How sure.
        confidence: Confidence,
    },
    /// Not yet: fresh data from vehicles is awaited.
    Waiting(String),
    /// No vehicle: a guest, or the evidence cannot tell vehicles apart.
    Unmatched(String),
}

/// How one candidate stands against a plug-in.
enum Standing {
    /// Ruled out, and why.
    Out(String),
    /// Turned plugged-in close to the plug-in.
    Correlated(Vec<Evidence>),
    /// Reports plugged in, but when it turned plugged-in is not known.
    Plugged(Vec<Evidence>),
    /// Nothing fresh: it may or may not be here.
    Unknown(Vec<Evidence>),
}

fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn stand(plug: &PlugIn, c: &Candidate, rules: &MatchRules) -> Standing {
    if let Some(other) = &c.matched_elsewhere {
        return Standing::Out(format!("{} is plugged into charger {other}", c.vehicle_id));
    }
    let mut support = Vec::new();
    if let (Some(here), Some((position, seen))) = (plug.location, c.position) {
        // A position from before the plug-in still tells where the car was heading from; one from
        // long before says little.
        if seen >= plug.at - rules.correlation_window {
            let metres = position.distance_m(here);
            if position.is_at(here) {
                support.push(Evidence::new(
                    EvidenceKind::Location,
                    format!("its position at {} is {metres:.0} m from the charger", at(seen)),
                ));
            } else {
                return Standing::Out(format!(
                    "{} was {:.1} km from the charger at {}",
                    c.vehicle_id,
                    metres / 1000.0,
                    at(seen)
                ));
            }
        }
    }
    let fresh = c.observed_at.is_some_and(|t| t >= plug.at - rules.clock_slack);
    match c.is_plugged_in {
        Some(false) if c.observed_at.is_some_and(|t| t >= plug.at + rules.maker_lag) => Standing::Out(format!(
            "{} reported being unplugged at {}, after the plug-in",
            c.vehicle_id,
            at(c.observed_at.unwrap_or(plug.at))
        )),
        Some(true) if fresh => {
            let since = c.plugged_in_seen_at;
            if since.is_some_and(|s| s < plug.at - rules.correlation_window) {
                return Standing::Out(format!(
                    "{} has been plugged in since {}, long before this plug-in",
                    c.vehicle_id,
                    at(since.unwrap_or(plug.at))
                ));
            }
            // An "unplugged" read just after the plug-in may still predate it at the maker.
            let latest_unplugged = plug.at + rules.maker_lag.max(rules.clock_slack);
            let turned_near = c
                .unplugged_seen_at
                .is_some_and(|u| u >= plug.at - rules.correlation_window && u <= latest_unplugged);
            if turned_near {
                support.push(Evidence::new(
                    EvidenceKind::PlugInCorrelation,
                    format!(
                        "it was unplugged at {} and plugged in at {}; the charger saw the plug-in at {}",
                        at(c.unplugged_seen_at.unwrap_or(plug.at)),
                        at(since.unwrap_or(plug.at)),
                        at(plug.at)
                    ),
                ));
                Standing::Correlated(support)
            } else {
                support.push(Evidence::new(
                    EvidenceKind::PlugInCorrelation,
                    format!("it reports being plugged in at {}", at(since.unwrap_or(plug.at))),
                ));
                Standing::Plugged(support)
            }
        }
        _ => Standing::Unknown(support),
    }
}

fn power_matches(plug: &PlugIn, c: &Candidate, rules: &MatchRules) -> bool {
    match (plug.power_kw, c.charge_rate_kw) {
        (Some(charger), Some(vehicle)) if charger > 0.5 => (charger - vehicle).abs() <= charger * rules.power_tolerance,
        _ => false,
    }
}

fn list(ids: &[&VehicleId]) -> String {
    ids.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
}

/// Decides which of `candidates` (the user's vehicles) is plugged into a charger, at `now`.
pub fn decide(plug: &PlugIn, candidates: &[Candidate], now: DateTime<Utc>, rules: &MatchRules) -> MatchDecision {
    // 1. Identity: decisive when it names exactly one vehicle.
    let reported: Vec<String> = plug.id_tags.iter().filter_map(|t| normalise_tag(t)).collect();
    let named: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| {
            c.id_tags
                .iter()
                .filter_map(|t| normalise_tag(t))
                .any(|t| reported.contains(&t))
        })
        .collect();
    match named.as_slice() {
        [one] => {
            let tag = plug
                .id_tags
                .iter()
                .find(|t| {
                    one.id_tags
                        .iter()
                        .filter_map(|r| normalise_tag(r))
                        .any(|r| Some(r) == normalise_tag(t))
                })
                .cloned()
                .unwrap_or_default();
            return MatchDecision::Matched {
                vehicle_id: one.vehicle_id.clone(),
                evidence: vec![Evidence::new(
                    EvidenceKind::Identity,
                    format!("the charger reported '{tag}', which is registered to this vehicle"),
                )],
                confidence: Confidence::High,
            };
        }
        [] => {}
        several => {
            let ids: Vec<&VehicleId> = several.iter().map(|c| &c.vehicle_id).collect();
            return MatchDecision::Unmatched(format!(
                "the identifier the charger reported is registered to more than one vehicle ({})",
                list(&ids)
            ));
        }
    }

    // 2. Rule out what cannot be here, and sort the rest by how strongly it points here.
    let mut out = Vec::new();
    let mut correlated = Vec::new();
    let mut plugged = Vec::new();
    let mut unknown = Vec::new();
    for c in candidates {
        match stand(plug, c, rules) {
            Standing::Out(why) => out.push(why),
            Standing::Correlated(e) => correlated.push((c, e)),
            Standing::Plugged(e) => plugged.push((c, e)),
            Standing::Unknown(e) => unknown.push((c, e)),
        }
    }
    let detecting = now < plug.at + rules.detection_window;
    let with_location = |e: &[Evidence]| e.iter().any(|e| e.kind == EvidenceKind::Location);

    if correlated.len() == 1 {
        let (c, evidence) = correlated.remove(0);
        let alone = plugged.is_empty() && unknown.is_empty();
        let confidence = if alone || with_location(&evidence) {
            Confidence::High
        } else {
            Confidence::Medium
        };
        return MatchDecision::Matched {
            vehicle_id: c.vehicle_id.clone(),
            evidence,
            confidence,
        };
    }

    // 3. Several vehicles plugged in at about the same time: the charger's power may tell them apart.
    let contenders: Vec<&(&Candidate, Vec<Evidence>)> = if correlated.len() > 1 {
        correlated.iter().collect()
    } else {
        plugged.iter().collect()
    };
    if contenders.len() > 1 {
        let by_power: Vec<_> = contenders
            .iter()
            .filter(|(c, _)| power_matches(plug, c, rules))
            .collect();
        if let [(c, evidence)] = by_power.as_slice() {
            let mut evidence = evidence.clone();
            evidence.push(Evidence::new(
                EvidenceKind::PowerCorrelation,
                format!(
                    "the charger meters {:.1} kW and the vehicle reports charging at {:.1} kW",
                    plug.power_kw.unwrap_or_default(),
                    c.charge_rate_kw.unwrap_or_default()
                ),
            ));
            return MatchDecision::Matched {
                vehicle_id: c.vehicle_id.clone(),
                evidence,
                confidence: Confidence::Medium,
            };
        }
        let ids: Vec<&VehicleId> = contenders.iter().map(|(c, _)| &c.vehicle_id).collect();
        let why = format!(
            "vehicles {} all report being plugged in at about the same time, and nothing yet tells them apart",
            list(&ids)
        );
        return if detecting && plug.power_kw.is_none() {
            MatchDecision::Waiting(format!("{why}; waiting for charging power to compare"))
        } else {
            MatchDecision::Unmatched(why)
        };
    }

    // 4. A single candidate.
    match (plugged.as_slice(), unknown.as_slice()) {
        ([(c, evidence)], []) => MatchDecision::Matched {
            vehicle_id: c.vehicle_id.clone(),
            evidence: [
                evidence.clone(),
                vec![Evidence::new(
                    EvidenceKind::SingleCandidate,
                    "the only linked vehicle that could be plugged in here",
                )],
            ]
            .concat(),
            confidence: if with_location(evidence) {
                Confidence::High
            } else {
                Confidence::Medium
            },
        },
        ([], [(c, evidence)]) => MatchDecision::Matched {
            vehicle_id: c.vehicle_id.clone(),
            evidence: [
                evidence.clone(),
                vec![Evidence::new(
                    EvidenceKind::SingleCandidate,
                    "the only linked vehicle that could be plugged in here; not yet confirmed by the vehicle",
                )],
            ]
            .concat(),
            confidence: if with_location(evidence) {
                Confidence::Medium
            } else {
                Confidence::Low
            },
        },
        ([], []) => {
            let why = if candidates.is_empty() {
                "the user has no linked vehicle".to_owned()
            } else {
                format!("no linked vehicle can be plugged in here: {}", out.join("; "))
            };
            MatchDecision::Unmatched(why)
        }
        _ => {
            let ids: Vec<&VehicleId> = plugged
                .iter()
                .chain(unknown.iter())
                .map(|(c, _)| &c.vehicle_id)
                .collect();
            if detecting {
                MatchDecision::Waiting(format!("waiting for fresh data from vehicles {}", list(&ids)))
            } else {
                MatchDecision::Unmatched(format!(
                    "cannot tell which of vehicles {} is plugged in: none reported it in time",
                    list(&ids)
                ))
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{ModelCapabilities, Scope, Support};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn plug_at(s: i64) -> PlugIn {
        PlugIn {
            at: t(s),
            id_tags: Vec::new(),
            location: None,
            power_kw: None,
        }
    }

    fn car(id: &str) -> Candidate {
        Candidate {
            vehicle_id: VehicleId::new(id),
            id_tags: Vec::new(),
            is_plugged_in: None,
            observed_at: None,
            plugged_in_seen_at: None,
            unplugged_seen_at: None,
            position: None,
            charge_rate_kw: None,
            matched_elsewhere: None,
        }
    }

    /// A car that was seen unplugged at `unplugged` and plugged in at `plugged`.
    fn turned_plugged(id: &str, unplugged: i64, plugged: i64) -> Candidate {
        Candidate {
            is_plugged_in: Some(true),
            observed_at: Some(t(plugged)),
            plugged_in_seen_at: Some(t(plugged)),
            unplugged_seen_at: Some(t(unplugged)),
            ..car(id)
        }
    }

    fn unplugged(id: &str, seen: i64) -> Candidate {
        Candidate {
            is_plugged_in: Some(false),
            observed_at: Some(t(seen)),
            unplugged_seen_at: Some(t(seen)),
            ..car(id)
        }
    }

    fn matched(decision: &MatchDecision) -> Option<(&str, Confidence)> {
        match decision {
            MatchDecision::Matched {
                vehicle_id, confidence, ..
            } => Some((vehicle_id.as_str(), *confidence)),
            _ => None,
        }
    }

    const R: MatchRules = MatchRules {
        correlation_window: Duration::minutes(10),
        detection_window: Duration::minutes(10),
        maker_lag: Duration::seconds(20),
        clock_slack: Duration::seconds(5),
        power_tolerance: 0.15,
    };

    #[test]
    fn tags_compare_equal_whatever_their_prefix_case_and_separators() {
        assert_eq!(
            normalise_tag("VID:aa:bb:cc:dd:ee:ff"),
            normalise_tag("AA-BB-CC-DD-EE-FF")
        );
        assert_eq!(
            normalise_tag("EMAID:NL-TNM-C12345678-X").as_deref(),
            Some("NLTNMC12345678X")
        );
        assert_eq!(normalise_tag(" : "), None);
    }

    #[test]
    fn an_identifier_registered_to_one_vehicle_matches_it_with_high_confidence() {
        let mut plug = plug_at(0);
        plug.id_tags = vec!["VID:AABBCCDDEEFF".into()];
        let mut a = car("a");
        a.id_tags = vec!["aa:bb:cc:dd:ee:ff".into()];
        let b = turned_plugged("b", -30, 10);
        let decision = decide(&plug, &[a, b], t(20), &R);
        assert_eq!(matched(&decision), Some(("a", Confidence::High)));
    }

    #[test]
    fn an_identifier_registered_to_two_vehicles_matches_neither() {
        let mut plug = plug_at(0);
        plug.id_tags = vec!["04A1B2".into()];
        let mut a = car("a");
        a.id_tags = vec!["04a1b2".into()];
        let mut b = car("b");
        b.id_tags = vec!["04A1B2".into()];
        assert!(matches!(decide(&plug, &[a, b], t(5), &R), MatchDecision::Unmatched(_)));
    }

    #[test]
    fn the_only_vehicle_of_a_user_is_matched_at_once_with_low_confidence_then_confirmed() {
        let plug = plug_at(0);
        let before = decide(&plug, &[car("a")], t(1), &R);
        assert_eq!(matched(&before), Some(("a", Confidence::Low)));
        let after = decide(&plug, &[turned_plugged("a", -600, 40)], t(41), &R);
        assert_eq!(matched(&after), Some(("a", Confidence::High)));
    }

    #[test]
    fn of_two_vehicles_the_one_that_reports_a_plug_in_is_matched_and_the_other_ruled_out() {
        let plug = plug_at(0);
        let waiting = decide(&plug, &[car("a"), car("b")], t(1), &R);
        assert!(matches!(waiting, MatchDecision::Waiting(_)), "{waiting:?}");
        let decision = decide(&plug, &[turned_plugged("a", -120, 30), unplugged("b", 35)], t(40), &R);
        assert_eq!(matched(&decision), Some(("a", Confidence::High)));
    }

    #[test]
    fn two_vehicles_plugged_in_at_once_stay_unmatched_when_nothing_tells_them_apart() {
        let plug = plug_at(0);
        let decision = decide(
            &plug,
            &[turned_plugged("a", -60, 30), turned_plugged("b", -60, 30)],
            t(40),
            &R,
        );
        assert!(matches!(decision, MatchDecision::Waiting(_)), "{decision:?}");
        let mut charging = plug.clone();
        charging.power_kw = Some(11.0);
        let mut a = turned_plugged("a", -60, 30);
        a.charge_rate_kw = Some(7.4);
        let mut b = turned_plugged("b", -60, 30);
        b.charge_rate_kw = Some(7.2);
        assert!(matches!(
            decide(&charging, &[a.clone(), b.clone()], t(60), &R),
            MatchDecision::Unmatched(_)
        ));
        // The charger's power picks the one that charges at its rate.
        b.charge_rate_kw = Some(11.1);
        assert_eq!(
            matched(&decide(&charging, &[a, b], t(60), &R)),
            Some(("b", Confidence::Medium))
        );
    }

    #[test]
    fn a_vehicle_matched_elsewhere_or_far_away_is_ruled_out_so_the_other_is_matched() {
        let home = Point {
            latitude: 59.9,
            longitude: 10.7,
        };
        let mut plug = plug_at(0);
        plug.location = Some(home);
        let mut a = turned_plugged("a", -60, 30);
        a.matched_elsewhere = Some(ChargerId::new("other"));
        let b = turned_plugged("b", -60, 30);
        assert_eq!(
            matched(&decide(&plug, &[a, b.clone()], t(40), &R)).map(|m| m.0),
            Some("b")
        );
        let mut far = turned_plugged("c", -60, 30);
        far.position = Some((
            Point {
                latitude: 60.5,
                longitude: 10.7,
            },
            t(20),
        ));
        let mut near = b;
        near.position = Some((home, t(20)));
        assert_eq!(
            matched(&decide(&plug, &[far, near], t(40), &R)),
            Some(("b", Confidence::High))
        );
    }

    #[test]
    fn a_vehicle_plugged_in_long_before_the_plug_in_is_somewhere_else() {
        let plug = plug_at(0);
        let mut a = turned_plugged("a", -7200, -3600);
        a.observed_at = Some(t(30));
        let decision = decide(&plug, &[a], t(40), &R);
        assert!(
            matches!(decision, MatchDecision::Unmatched(ref why) if why.contains("long before")),
            "{decision:?}"
        );
    }

    #[test]
    fn an_unplugged_report_inside_the_makers_lag_does_not_rule_a_vehicle_out() {
        let plug = plug_at(0);
        assert_eq!(
            matched(&decide(&plug, &[unplugged("a", 5)], t(6), &R)).map(|m| m.0),
            Some("a")
        );
        assert!(matches!(
            decide(&plug, &[unplugged("a", 60)], t(61), &R),
            MatchDecision::Unmatched(_)
        ));
    }

    #[test]
    fn undecided_vehicles_become_unmatched_once_the_detection_window_ends() {
        let plug = plug_at(0);
        let decision = decide(&plug, &[car("a"), car("b")], t(3600), &R);
        assert!(matches!(decision, MatchDecision::Unmatched(_)));
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
