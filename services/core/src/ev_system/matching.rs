//! Which of a user's vehicles is plugged into which of the user's chargers, decided for all of the
//! user's open plug-ins together.
//!
//! Each vehicle's reports bracket the moment it turned plugged-in: it was still unplugged at the
//! last report that said so, and plugged in at the first report that said so. Each charger saw its
//! plug-in at one moment. A vehicle *fits* a plug-in when its own reports allow it to be there
//! (the plug-in lies within its bracket, its position is not elsewhere, the charger's meter does
//! not contradict its charge rate); it is *ruled out* when its own reports place it elsewhere; it is
//! *silent* when it has said nothing since the plug-in that tells either way.
//!
//! A vehicle is matched with a plug-in only when
//! - it fits that plug-in by its own reports (a silent vehicle is never matched), and
//! - it fits no other open plug-in of the user (nobody else took that one), and
//! - no other vehicle fits that plug-in (each is ruled out by its own reports, or matched
//!   elsewhere), and a silent one may only be left unsettled when this vehicle's plug-in time
//!   itself points at this charger.
//!
//! The margin is [`MatchRules::clock_slack`]: a vehicle fits a plug-in when the plug-in lies within
//! its bracket widened by the slack on both sides, so a vehicle is attributed to one of two
//! plug-ins only when the other lies at least the slack outside its bracket. Anything short of this
//! leaves the plug-in unmatched with the reason, and the next report (identity, power, an unplug)
//! decides again. Confidence counts independent kinds of evidence; a read that fits every
//! assignment adds none.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{normalise_tag, Confidence, Evidence, EvidenceKind};
use crate::charger::ChargerId;
use crate::location::Point;
use crate::vehicle::VehicleId;

/// The tunable parts of matching.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchRules {
    /// A vehicle last seen unplugged this long before a plug-in, and plugged in after it, turned
    /// plugged-in "at" the plug-in: its plug-in time alone points at the charger. A wider bracket
    /// (a car asleep for hours) still fits, but says less.
    pub correlation_window: Duration,
    /// How long after a plug-in Coupler keeps asking vehicles to report before it says it has
    /// given up (new evidence still decides later).
    pub detection_window: Duration,
    /// How much later than the truth a maker may stamp a vehicle's data (zero for makers that stamp
    /// data with the time it was taken, as the adapters report it): an "unplugged" stamped up to
    /// this long after a plug-in may predate it.
    pub maker_lag: Duration,
    /// Clock differences between Coupler, chargers and makers; also the margin by which a plug-in
    /// must lie outside a vehicle's bracket to rule that vehicle out of it.
    pub clock_slack: Duration,
    /// A vehicle's reported charge rate within this share of the charger's power counts as the same.
    pub power_tolerance: f64,
    /// How many comparisons of a vehicle's charge rate with a charger's meter, at distinct times,
    /// make power evidence (for or against).
    pub power_comparisons: usize,
}

impl Default for MatchRules {
    fn default() -> Self {
        Self {
            correlation_window: Duration::minutes(10),
            detection_window: Duration::minutes(10),
            maker_lag: Duration::zero(),
            clock_slack: Duration::seconds(2),
            power_tolerance: 0.15,
            power_comparisons: 2,
        }
    }
}

/// A reading at a moment: a charger's metered power or a vehicle's reported charge rate, kW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSample {
    /// When it was measured (the reporter's clock).
    pub at: DateTime<Utc>,
    /// Power, kW.
    pub kw: f64,
}

/// One open plug-in of the user: what the charger tells about it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlugIn {
    /// The charger.
    pub charger_id: ChargerId,
    /// When the charger saw the plug-in.
    pub at: DateTime<Utc>,
    /// Identifiers the charger reported since (id tags, `VID:` MACs, eMAIDs), as reported.
    pub id_tags: Vec<String>,
    /// The charger's location, when it is placed at one.
    pub location: Option<Point>,
    /// The charger's metered power since the plug-in, oldest first.
    pub power: Vec<PowerSample>,
    /// The vehicle matched with it now, and how sure that match was when made.
    pub current: Option<(VehicleId, Confidence)>,
}

/// What Coupler knows of one of the user's vehicles.
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
    /// The first report of plugged-in since it was last seen unplugged (data time).
    pub plugged_in_seen_at: Option<DateTime<Utc>>,
    /// The last report of unplugged (data time).
    pub unplugged_seen_at: Option<DateTime<Utc>>,
    /// Its last position and when it is from.
    pub position: Option<(Point, DateTime<Utc>)>,
    /// Its reported charge rates (zero while not charging), oldest first.
    pub charge_rates: Vec<PowerSample>,
}

/// Why a plug-in has no vehicle (yet), as a code for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedReason {
    /// The user has no linked vehicle.
    NoLinkedVehicle,
    /// Every linked vehicle is ruled out by its own reports: a guest's vehicle, or one not linked.
    AllRuledOut,
    /// Some vehicle has not reported since the plug-in (asleep, offline, or its maker lags).
    AwaitingReports,
    /// More than one assignment fits the evidence.
    Ambiguous,
    /// The identifier the charger reported is registered to more than one vehicle.
    SharedIdentifier,
}

/// The outcome for one plug-in.
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
    /// No vehicle yet; detection goes on (vehicles are asked to report).
    Detecting(UnmatchedReason, String),
    /// No vehicle, and the detection window is over: Coupler has given up asking, though new
    /// evidence still decides.
    Unmatched(UnmatchedReason, String),
}

/// How one vehicle stands against one plug-in.
#[derive(Debug, Clone)]
enum Link {
    /// Its own reports place it elsewhere.
    Out(String),
    /// It has said nothing since the plug-in that tells either way.
    Silent(String),
    /// Its own reports allow it to be here.
    Fits(Fit),
}

#[derive(Debug, Clone)]
struct Fit {
    /// Its plug-in time points at this plug-in (last unplugged within the correlation window).
    timed: bool,
    time: Evidence,
    location: Option<Evidence>,
    power: Option<Evidence>,
}

fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn list<'a>(ids: impl IntoIterator<Item = &'a VehicleId>) -> String {
    ids.into_iter().map(VehicleId::as_str).collect::<Vec<_>>().join(", ")
}

/// What comparing a vehicle's charge rates with a charger's meter shows.
enum PowerFit {
    Agrees(usize),
    Disagrees(usize),
    Unknown,
}

/// The charger's power at `t`: its last reading at or before `t` (no older than a few minutes),
/// provided the next reading, if there is one soon after, agrees with it (a steady flow, not a
/// ramp).
fn meter_at(meter: &[PowerSample], t: DateTime<Utc>, rules: &MatchRules) -> Option<f64> {
    let steady_for = Duration::minutes(3);
    let i = meter.iter().rposition(|s| s.at <= t)?;
    let before = meter[i];
    if t - before.at > steady_for {
        return None;
    }
    if let Some(after) = meter.get(i + 1).filter(|s| s.at - t <= steady_for) {
        if !same_power(before.kw, after.kw, rules) {
            return None;
        }
    }
    Some(before.kw)
}

fn same_power(a: f64, b: f64, rules: &MatchRules) -> bool {
    (a - b).abs() <= (a.max(b) * rules.power_tolerance).max(0.5)
}

/// Compares a vehicle's charge rates since the plug-in with the charger's meter at the same times.
/// Only moments when power flows on at least one side count: two idle readings tell nothing.
fn power_fit(plug: &PlugIn, c: &Candidate, rules: &MatchRules) -> PowerFit {
    let (mut agree, mut disagree) = (0, 0);
    for rate in c.charge_rates.iter().filter(|r| r.at >= plug.at) {
        let Some(metered) = meter_at(&plug.power, rate.at, rules) else {
            continue;
        };
        if metered.max(rate.kw) < 1.0 {
            continue;
        }
        if same_power(metered, rate.kw, rules) {
            agree += 1;
        } else {
            disagree += 1;
        }
    }
    if disagree >= rules.power_comparisons && disagree > agree {
        PowerFit::Disagrees(disagree)
    } else if agree >= rules.power_comparisons && disagree == 0 {
        PowerFit::Agrees(agree)
    } else {
        PowerFit::Unknown
    }
}

/// How vehicle `c` stands against `plug`, by its own reports only.
fn link(plug: &PlugIn, c: &Candidate, rules: &MatchRules) -> Link {
    let slack = rules.clock_slack;
    let mut location = None;
    if let (Some(here), Some((position, seen))) = (plug.location, c.position) {
        let metres = position.distance_m(here);
        if position.is_at(here) {
            if seen >= plug.at - rules.correlation_window {
                location = Some(Evidence::new(
                    EvidenceKind::Location,
                    format!("its position at {} is {metres:.0} m from the charger", at(seen)),
                ));
            }
        } else if seen >= plug.at + slack {
            // A position from after the plug-in is where the car is parked.
            return Link::Out(format!(
                "{} was {:.1} km from the charger at {}, after the plug-in",
                c.vehicle_id,
                metres / 1000.0,
                at(seen)
            ));
        }
    }
    let plugged_since = match c.is_plugged_in {
        Some(true) => c.plugged_in_seen_at.or(c.observed_at),
        _ => None,
    };
    let time = match (c.is_plugged_in, plugged_since) {
        (Some(true), Some(hi)) => {
            if hi < plug.at - slack {
                return Link::Out(format!(
                    "{} has been plugged in since {}, before this plug-in at {}",
                    c.vehicle_id,
                    at(hi),
                    at(plug.at)
                ));
            }
            if let Some(lo) = c.unplugged_seen_at {
                if lo - rules.maker_lag > plug.at + slack {
                    return Link::Out(format!(
                        "{} was still unplugged at {}, after this plug-in at {}",
                        c.vehicle_id,
                        at(lo),
                        at(plug.at)
                    ));
                }
            }
            let timed = c
                .unplugged_seen_at
                .is_some_and(|lo| lo >= plug.at - rules.correlation_window);
            let detail = match c.unplugged_seen_at {
                Some(lo) => format!(
                    "it turned plugged-in between {} and {}; the charger saw the plug-in at {}",
                    at(lo),
                    at(hi),
                    at(plug.at)
                ),
                None => format!(
                    "it reports being plugged in at {}; the charger saw the plug-in at {}",
                    at(hi),
                    at(plug.at)
                ),
            };
            (timed, Evidence::new(EvidenceKind::PlugInCorrelation, detail))
        }
        (Some(false), _) => {
            let seen = c.observed_at.or(c.unplugged_seen_at);
            return match seen {
                Some(o) if o - rules.maker_lag > plug.at + slack => Link::Out(format!(
                    "{} reported being unplugged at {}, after the plug-in",
                    c.vehicle_id,
                    at(o)
                )),
                Some(o) => Link::Silent(format!(
                    "{} last reported (unplugged) at {}, too early to tell",
                    c.vehicle_id,
                    at(o)
                )),
                None => Link::Silent(format!("{} has not reported since the plug-in", c.vehicle_id)),
            };
        }
        _ => {
            return Link::Silent(format!("{} has not reported since the plug-in", c.vehicle_id));
        }
    };
    let power = match power_fit(plug, c, rules) {
        PowerFit::Disagrees(n) => {
            return Link::Out(format!(
                "{}'s reported charge rate differs from the charger's meter at {n} moments",
                c.vehicle_id
            ))
        }
        PowerFit::Agrees(n) => Some(Evidence::new(
            EvidenceKind::PowerCorrelation,
            format!("its reported charge rate follows the charger's meter at {n} moments"),
        )),
        PowerFit::Unknown => None,
    };
    Link::Fits(Fit {
        timed: time.0,
        time: time.1,
        location,
        power,
    })
}

/// How sure a match is: one step per independent kind of evidence that points at this plug-in
/// rather than another open one or another vehicle: its plug-in time, its position, its charge rate,
/// and every other linked vehicle ruled out by its own reports. Power that agrees with another open
/// charger's meter as well, or a position at another open charger's location as well, fits both
/// assignments and counts for nothing.
fn confidence(fit: &Fit, others_out: bool, power_elsewhere: bool, location_elsewhere: bool) -> Confidence {
    let kinds = usize::from(fit.timed)
        + usize::from(others_out)
        + usize::from(fit.location.is_some() && !location_elsewhere)
        + usize::from(fit.power.is_some() && !power_elsewhere);
    match kinds {
        0 => Confidence::Low,
        1 => Confidence::Medium,
        _ => Confidence::High,
    }
}

/// Decides every open plug-in of one user together, at `now`. Returns one decision per plug-in,
/// in the order given.
pub fn decide_all(
    plugs: &[PlugIn],
    candidates: &[Candidate],
    now: DateTime<Utc>,
    rules: &MatchRules,
) -> Vec<MatchDecision> {
    let mut decided: Vec<Option<MatchDecision>> = vec![None; plugs.len()];
    // Vehicle → the plug-in it is committed to.
    let mut taken: HashMap<&VehicleId, usize> = HashMap::new();

    // 1. Identity: decisive when it names exactly one vehicle.
    for (i, plug) in plugs.iter().enumerate() {
        let reported: Vec<(String, &String)> = plug
            .id_tags
            .iter()
            .filter_map(|t| normalise_tag(t).map(|n| (n, t)))
            .collect();
        let named: Vec<(&Candidate, &String)> = candidates
            .iter()
            .filter_map(|c| {
                let registered: Vec<String> = c.id_tags.iter().filter_map(|t| normalise_tag(t)).collect();
                reported
                    .iter()
                    .find(|(n, _)| registered.contains(n))
                    .map(|(_, raw)| (c, *raw))
            })
            .collect();
        match named.as_slice() {
            [] => {}
            [(one, tag)] if !taken.contains_key(&one.vehicle_id) => {
                taken.insert(&one.vehicle_id, i);
                decided[i] = Some(MatchDecision::Matched {
                    vehicle_id: one.vehicle_id.clone(),
                    evidence: vec![Evidence::new(
                        EvidenceKind::Identity,
                        format!("the charger reported '{tag}', which is registered to this vehicle"),
                    )],
                    confidence: Confidence::High,
                });
            }
            several => {
                decided[i] = Some(MatchDecision::Unmatched(
                    UnmatchedReason::SharedIdentifier,
                    format!(
                        "the identifier the charger reported is registered to more than one vehicle, or to one \
                         identified at another charger too ({})",
                        list(several.iter().map(|(c, _)| &c.vehicle_id))
                    ),
                ));
            }
        }
    }

    // 2. How each vehicle stands against each open plug-in, by its own reports.
    let links: Vec<Vec<Link>> = plugs
        .iter()
        .map(|p| candidates.iter().map(|c| link(p, c, rules)).collect())
        .collect();
    let fits = |i: usize, v: usize| matches!(links[i][v], Link::Fits(_));
    // Whether vehicle `v`'s power or position supports another open plug-in than `i` as well.
    let power_elsewhere = |i: usize, v: usize| {
        (0..plugs.len()).any(|j| j != i && matches!(power_fit(&plugs[j], &candidates[v], rules), PowerFit::Agrees(_)))
    };
    let location_elsewhere = |i: usize, v: usize| {
        (0..plugs.len()).any(|j| {
            j != i && matches!((plugs[j].location, candidates[v].position), (Some(here), Some((p, _))) if p.is_at(here))
        })
    };

    // 3. Commit what is unique; a commitment can settle others, so repeat until nothing moves.
    loop {
        let mut progress = false;
        for i in 0..plugs.len() {
            if decided[i].is_some() {
                continue;
            }
            let free = |v: usize| !taken.contains_key(&candidates[v].vehicle_id);
            let timed = |w: usize| matches!(&links[i][w], Link::Fits(f) if f.timed);
            // The one vehicle whose own reports single this plug-in out: it fits here and at no
            // other open plug-in, and every other vehicle is ruled out by its own reports. A vehicle
            // that has not spoken, or one whose reports fit without pointing at this moment (a car
            // woken after hours asleep), may be here too; only a plug-in time that points at this
            // charger outweighs that.
            let chosen = (0..candidates.len()).filter(|&v| free(v) && fits(i, v)).find(|&v| {
                let elsewhere = (0..plugs.len()).any(|j| j != i && decided[j].is_none() && fits(j, v));
                !elsewhere
                    && (0..candidates.len())
                        .filter(|&w| w != v && free(w))
                        .all(|w| match &links[i][w] {
                            Link::Out(_) => true,
                            Link::Silent(_) => timed(v),
                            Link::Fits(f) => timed(v) && !f.timed,
                        })
            });
            let Some(v) = chosen else {
                continue;
            };
            let Link::Fits(fit) = &links[i][v] else {
                continue;
            };
            let others_out = candidates.len() > 1
                && (0..candidates.len())
                    .filter(|&w| w != v)
                    .all(|w| !free(w) || matches!(links[i][w], Link::Out(_)));
            let mut evidence = vec![fit.time.clone()];
            evidence.extend(fit.location.clone());
            evidence.extend(fit.power.clone());
            if others_out {
                evidence.push(Evidence::new(
                    EvidenceKind::SingleCandidate,
                    "every other linked vehicle is ruled out by its own reports or matched at another charger",
                ));
            }
            taken.insert(&candidates[v].vehicle_id, i);
            decided[i] = Some(MatchDecision::Matched {
                vehicle_id: candidates[v].vehicle_id.clone(),
                evidence,
                confidence: confidence(fit, others_out, power_elsewhere(i, v), location_elsewhere(i, v)),
            });
            progress = true;
        }
        if !progress {
            break;
        }
    }

    // 4. What stays open says why; a match made before stands while nothing contradicts it.
    let detecting_until = |p: &PlugIn| p.at + rules.detection_window;
    let settled: Vec<bool> = decided.iter().map(Option::is_some).collect();
    plugs
        .iter()
        .enumerate()
        .map(|(i, plug)| {
            if let Some(d) = decided[i].take() {
                return d;
            }
            let free = |v: usize| !taken.contains_key(&candidates[v].vehicle_id);
            let fitting: Vec<usize> = (0..candidates.len()).filter(|&v| free(v) && fits(i, v)).collect();
            if let (Some((vehicle_id, confidence)), [v]) = (&plug.current, fitting.as_slice()) {
                let c = &candidates[*v];
                let alone = !(0..plugs.len()).any(|j| j != i && !settled[j] && fits(j, *v));
                if &c.vehicle_id == vehicle_id && alone {
                    if let Link::Fits(fit) = &links[i][*v] {
                        let mut evidence = vec![fit.time.clone()];
                        evidence.extend(fit.location.clone());
                        evidence.extend(fit.power.clone());
                        return MatchDecision::Matched {
                            vehicle_id: vehicle_id.clone(),
                            evidence,
                            confidence: *confidence,
                        };
                    }
                }
            }
            let (reason, why) = if candidates.is_empty() {
                (
                    UnmatchedReason::NoLinkedVehicle,
                    "the user has no linked vehicle".to_owned(),
                )
            } else if !fitting.is_empty() {
                let shared: Vec<String> = fitting
                    .iter()
                    .filter_map(|&v| {
                        let others: Vec<&str> = (0..plugs.len())
                            .filter(|&j| j != i && !settled[j] && fits(j, v))
                            .map(|j| plugs[j].charger_id.as_str())
                            .collect();
                        (!others.is_empty()).then(|| {
                            format!(
                                "{} fits charger{} {} as well",
                                candidates[v].vehicle_id,
                                if others.len() > 1 { "s" } else { "" },
                                others.join(", ")
                            )
                        })
                    })
                    .collect();
                let silent: Vec<&VehicleId> = (0..candidates.len())
                    .filter(|&w| free(w) && matches!(links[i][w], Link::Silent(_)))
                    .map(|w| &candidates[w].vehicle_id)
                    .collect();
                let mut why = format!(
                    "cannot tell which vehicle is plugged in: {} fit{} this plug-in",
                    list(fitting.iter().map(|&v| &candidates[v].vehicle_id)),
                    if fitting.len() == 1 { "s" } else { "" }
                );
                if !shared.is_empty() {
                    why.push_str(&format!(" ({})", shared.join("; ")));
                }
                if !silent.is_empty() {
                    why.push_str(&format!("; {} not reported since the plug-in", list(silent)));
                }
                (UnmatchedReason::Ambiguous, why)
            } else {
                let silent: Vec<&str> = (0..candidates.len())
                    .filter(|&w| free(w))
                    .filter_map(|w| match &links[i][w] {
                        Link::Silent(why) => Some(why.as_str()),
                        _ => None,
                    })
                    .collect();
                if silent.is_empty() {
                    let out: Vec<String> = (0..candidates.len())
                        .map(|w| match &links[i][w] {
                            Link::Out(why) => why.clone(),
                            _ => format!(
                                "{} is plugged into charger {}",
                                candidates[w].vehicle_id,
                                taken
                                    .get(&candidates[w].vehicle_id)
                                    .map_or("?", |&j| plugs[j].charger_id.as_str())
                            ),
                        })
                        .collect();
                    (
                        UnmatchedReason::AllRuledOut,
                        format!("no linked vehicle is plugged in here: {}", out.join("; ")),
                    )
                } else {
                    (
                        UnmatchedReason::AwaitingReports,
                        format!("waiting for vehicles to report: {}", silent.join("; ")),
                    )
                }
            };
            if now < detecting_until(plug) && reason != UnmatchedReason::AllRuledOut {
                MatchDecision::Detecting(reason, why)
            } else {
                MatchDecision::Unmatched(reason, why)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: f64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + (s * 1000.0) as i64).unwrap()
    }

    fn plug(charger: &str, s: f64) -> PlugIn {
        PlugIn {
            charger_id: ChargerId::new(charger),
            at: t(s),
            id_tags: Vec::new(),
            location: None,
            power: Vec::new(),
            current: None,
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
            charge_rates: Vec::new(),
        }
    }

    /// A car last reported unplugged at `unplugged` and first reported plugged in at `plugged`.
    fn turned(id: &str, unplugged: f64, plugged: f64) -> Candidate {
        Candidate {
            is_plugged_in: Some(true),
            observed_at: Some(t(plugged)),
            plugged_in_seen_at: Some(t(plugged)),
            unplugged_seen_at: Some(t(unplugged)),
            ..car(id)
        }
    }

    fn unplugged(id: &str, seen: f64) -> Candidate {
        Candidate {
            is_plugged_in: Some(false),
            observed_at: Some(t(seen)),
            unplugged_seen_at: Some(t(seen)),
            ..car(id)
        }
    }

    fn series(from: f64, to: f64, kw: f64) -> Vec<PowerSample> {
        let mut s = Vec::new();
        let mut at = from;
        while at <= to {
            s.push(PowerSample { at: t(at), kw });
            at += 10.0;
        }
        s
    }

    fn matched(d: &MatchDecision) -> Option<(&str, Confidence)> {
        match d {
            MatchDecision::Matched {
                vehicle_id, confidence, ..
            } => Some((vehicle_id.as_str(), *confidence)),
            _ => None,
        }
    }

    fn reason(d: &MatchDecision) -> Option<UnmatchedReason> {
        match d {
            MatchDecision::Detecting(r, _) | MatchDecision::Unmatched(r, _) => Some(*r),
            MatchDecision::Matched { .. } => None,
        }
    }

    fn kinds(d: &MatchDecision) -> Vec<EvidenceKind> {
        match d {
            MatchDecision::Matched { evidence, .. } => evidence.iter().map(|e| e.kind).collect(),
            _ => Vec::new(),
        }
    }

    const R: MatchRules = MatchRules {
        correlation_window: Duration::minutes(10),
        detection_window: Duration::minutes(10),
        maker_lag: Duration::zero(),
        clock_slack: Duration::seconds(2),
        power_tolerance: 0.15,
        power_comparisons: 2,
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
    fn an_identifier_registered_to_one_vehicle_matches_it_and_rules_it_out_of_the_other_plug_in() {
        let mut x = plug("x", 0.0);
        x.id_tags = vec!["VID:AABBCCDDEEFF".into()];
        let y = plug("y", 0.5);
        let mut a = turned("a", -30.0, 1.0);
        a.id_tags = vec!["aa:bb:cc:dd:ee:ff".into()];
        let b = turned("b", -30.0, 1.0);
        let d = decide_all(&[x, y], &[a, b], t(5.0), &R);
        assert_eq!(matched(&d[0]), Some(("a", Confidence::High)));
        // b still fits y by its plug-in time alone: a is identified elsewhere, so b is the one.
        assert_eq!(matched(&d[1]).map(|m| m.0), Some("b"));
    }

    #[test]
    fn an_identifier_registered_to_two_vehicles_matches_neither() {
        let mut x = plug("x", 0.0);
        x.id_tags = vec!["04A1B2".into()];
        let mut a = car("a");
        a.id_tags = vec!["04a1b2".into()];
        let mut b = car("b");
        b.id_tags = vec!["04A1B2".into()];
        let d = decide_all(&[x], &[a, b], t(5.0), &R);
        assert_eq!(reason(&d[0]), Some(UnmatchedReason::SharedIdentifier));
    }

    #[test]
    fn a_single_vehicle_that_has_not_reported_since_the_plug_in_is_not_matched() {
        let x = plug("x", 0.0);
        let d = decide_all(std::slice::from_ref(&x), &[unplugged("a", -300.0)], t(1.0), &R);
        assert!(
            matches!(d[0], MatchDecision::Detecting(UnmatchedReason::AwaitingReports, _)),
            "{d:?}"
        );
        let later = decide_all(&[x], &[unplugged("a", -300.0)], t(3600.0), &R);
        assert!(
            matches!(later[0], MatchDecision::Unmatched(UnmatchedReason::AwaitingReports, _)),
            "{later:?}"
        );
    }

    #[test]
    fn the_only_vehicle_that_reports_turning_plugged_in_at_the_plug_in_is_matched() {
        let x = plug("x", 0.0);
        let d = decide_all(
            std::slice::from_ref(&x),
            &[turned("a", -60.0, 3.0), unplugged("b", 20.0)],
            t(21.0),
            &R,
        );
        assert_eq!(matched(&d[0]), Some(("a", Confidence::High)));
        assert!(kinds(&d[0]).contains(&EvidenceKind::SingleCandidate));
        // While the other has not reported, the plug-in time alone carries it, and says so.
        let d = decide_all(&[x], &[turned("a", -60.0, 3.0), unplugged("b", -20.0)], t(21.0), &R);
        assert_eq!(matched(&d[0]), Some(("a", Confidence::Medium)));
        assert!(!kinds(&d[0]).contains(&EvidenceKind::SingleCandidate));
    }

    #[test]
    fn two_plug_ins_closer_than_the_margin_stay_unmatched_without_other_evidence() {
        // Car a into x at 0, car b into y at 1.5 s; the maker's reads bracket each plug-in within a
        // second, but the margin is two seconds: each car fits both plug-ins.
        let plugs = [plug("x", 0.0), plug("y", 1.5)];
        let cars = [turned("a", -30.0, 0.4), turned("b", 1.0, 2.0)];
        let d = decide_all(&plugs, &cars, t(15.0), &R);
        for one in &d {
            assert_eq!(reason(one), Some(UnmatchedReason::Ambiguous), "{d:?}");
        }
    }

    #[test]
    fn when_one_of_two_undecided_cars_leaves_its_unplug_settles_the_other() {
        let cars = [turned("a", -30.0, 0.4), turned("b", 1.0, 2.0)];
        let d = decide_all(&[plug("x", 0.0), plug("y", 1.5)], &cars, t(60.0), &R);
        assert!(d.iter().all(|d| matched(d).is_none()), "{d:?}");
        // a is unplugged from x: x's plug-in is over, and a's own report rules it out of y.
        let cars = [unplugged("a", 90.0), turned("b", 1.0, 2.0)];
        let d = decide_all(&[plug("y", 1.5)], &cars, t(95.0), &R);
        assert_eq!(matched(&d[0]).map(|m| m.0), Some("b"), "{d:?}");
    }

    #[test]
    fn two_plug_ins_3_7_seconds_apart_are_told_apart_by_each_cars_own_plug_in_time() {
        let plugs = [plug("x", 0.0), plug("y", 3.7)];
        let cars = [turned("a", -30.0, 0.4), turned("b", 3.2, 4.1)];
        let d = decide_all(&plugs, &cars, t(15.0), &R);
        assert_eq!(matched(&d[0]).map(|m| m.0), Some("a"));
        assert_eq!(matched(&d[1]).map(|m| m.0), Some("b"));
        // The same, given in the other order: the decision does not depend on which charger is first.
        let d = decide_all(&[plugs[1].clone(), plugs[0].clone()], &cars, t(15.0), &R);
        assert_eq!(matched(&d[0]).map(|m| m.0), Some("b"));
        assert_eq!(matched(&d[1]).map(|m| m.0), Some("a"));
    }

    #[test]
    fn a_car_that_has_reported_is_not_matched_by_elimination_while_the_other_has_not_reported() {
        // The swap of issue 12: a reports plugged in, b has not yet; b must not take y because a
        // is "taken", and a must not take y because it is the only one reporting.
        let plugs = [plug("x", 0.0), plug("y", 1.5)];
        let cars = [turned("a", -30.0, 0.4), unplugged("b", -30.0)];
        let d = decide_all(&plugs, &cars, t(5.0), &R);
        assert_eq!(matched(&d[0]), None, "{d:?}");
        assert_eq!(matched(&d[1]), None, "{d:?}");
    }

    #[test]
    fn charge_rates_that_follow_one_chargers_meter_over_time_settle_a_near_simultaneous_pair() {
        let mut x = plug("x", 0.0);
        x.power = series(5.0, 120.0, 11.0);
        let mut y = plug("y", 1.5);
        y.power = series(6.0, 120.0, 7.4);
        let mut a = turned("a", -30.0, 0.4);
        a.charge_rates = series(20.0, 60.0, 11.1);
        let mut b = turned("b", 1.0, 2.0);
        b.charge_rates = series(21.0, 61.0, 7.3);
        let d = decide_all(&[x.clone(), y.clone()], &[a.clone(), b.clone()], t(70.0), &R);
        assert_eq!(matched(&d[0]), Some(("a", Confidence::High)), "{d:?}");
        assert_eq!(matched(&d[1]), Some(("b", Confidence::High)), "{d:?}");
        // One reading is not enough.
        a.charge_rates.truncate(1);
        b.charge_rates.truncate(1);
        let d = decide_all(&[x, y], &[a, b], t(70.0), &R);
        assert_eq!(matched(&d[0]), None);
    }

    #[test]
    fn rates_equal_at_both_chargers_tell_nothing_and_do_not_raise_confidence() {
        let mut x = plug("x", 0.0);
        x.power = series(5.0, 120.0, 11.0);
        let mut y = plug("y", 1.5);
        y.power = series(6.0, 120.0, 11.0);
        let mut a = turned("a", -30.0, 0.4);
        a.charge_rates = series(20.0, 60.0, 11.0);
        let mut b = turned("b", 1.0, 2.0);
        b.charge_rates = series(21.0, 61.0, 11.0);
        let d = decide_all(&[x.clone(), y.clone()], &[a.clone(), b.clone()], t(70.0), &R);
        assert!(d.iter().all(|d| matched(d).is_none()), "{d:?}");
        // Told apart by their plug-in times, the same reads fit both assignments and add nothing:
        // the confidence is the one the plug-in times alone give.
        y.at = t(3.7);
        b.unplugged_seen_at = Some(t(3.2));
        b.plugged_in_seen_at = Some(t(4.1));
        let with_power = decide_all(&[x.clone(), y.clone()], &[a.clone(), b.clone()], t(70.0), &R);
        a.charge_rates.clear();
        b.charge_rates.clear();
        let without = decide_all(&[x, y], &[a, b], t(70.0), &R);
        assert_eq!(matched(&with_power[0]).map(|m| m.0), Some("a"), "{with_power:?}");
        assert_eq!(matched(&with_power[1]).map(|m| m.0), Some("b"), "{with_power:?}");
        assert_eq!(matched(&with_power[0]), matched(&without[0]));
        assert_eq!(matched(&with_power[1]), matched(&without[1]));
    }

    #[test]
    fn a_car_woken_after_hours_asleep_does_not_undo_a_match_its_plug_in_time_cannot_contest() {
        // a plugged into x at 0 (reads bracket it tightly); b slept for hours and was woken by its
        // plug-in into y at 36 s. b's reads fit x as well as y, but say nothing about when.
        let plugs = [plug("x", 0.0), plug("y", 36.6)];
        let cars = [turned("a", -75.0, 0.4), turned("b", -10_800.0, 46.0)];
        let d = decide_all(&plugs, &cars, t(50.0), &R);
        assert_eq!(matched(&d[0]).map(|m| m.0), Some("a"), "{d:?}");
        assert_eq!(matched(&d[1]).map(|m| m.0), Some("b"), "{d:?}");
        // Two cars whose reads both point at x: neither is matched on it.
        let cars = [turned("a", -75.0, 0.4), turned("b", -30.0, 0.9)];
        let d = decide_all(&plugs[..1], &cars, t(50.0), &R);
        assert_eq!(reason(&d[0]), Some(UnmatchedReason::Ambiguous), "{d:?}");
    }

    #[test]
    fn a_match_made_before_stands_at_its_confidence_while_nothing_contradicts_it() {
        let mut x = plug("x", 0.0);
        x.current = Some((VehicleId::new("a"), Confidence::Low));
        // a woke after hours asleep (its plug-in time says little) and b has not reported: no new
        // match would be made, but nothing contradicts the one made before.
        let d = decide_all(
            std::slice::from_ref(&x),
            &[turned("a", -7200.0, 5.0), unplugged("b", -7200.0)],
            t(60.0),
            &R,
        );
        assert_eq!(matched(&d[0]), Some(("a", Confidence::Low)), "{d:?}");
        // Once b fits as well, it no longer stands.
        let d = decide_all(
            &[x],
            &[turned("a", -7200.0, 5.0), turned("b", -7200.0, 7.0)],
            t(60.0),
            &R,
        );
        assert_eq!(reason(&d[0]), Some(UnmatchedReason::Ambiguous), "{d:?}");
    }

    #[test]
    fn a_visitors_car_is_never_matched_to_a_sleeping_car_of_the_user() {
        let x = plug("x", 0.0);
        let sleeping = unplugged("a", -3600.0);
        let awake = unplugged("b", 15.0);
        for now in [5.0, 58.0, 3600.0] {
            let d = decide_all(std::slice::from_ref(&x), &[sleeping.clone(), awake.clone()], t(now), &R);
            assert_eq!(matched(&d[0]), None, "{d:?}");
            assert_eq!(reason(&d[0]), Some(UnmatchedReason::AwaitingReports));
        }
        // With both cars reporting unplugged after the plug-in, it is a guest.
        let d = decide_all(&[x], &[unplugged("a", 20.0), awake], t(21.0), &R);
        assert!(
            matches!(d[0], MatchDecision::Unmatched(UnmatchedReason::AllRuledOut, _)),
            "{d:?}"
        );
    }

    #[test]
    fn a_car_woken_by_its_plug_in_after_hours_asleep_needs_more_than_its_report_when_another_is_silent() {
        let x = plug("x", 0.0);
        let woken = turned("a", -7200.0, 5.0);
        let d = decide_all(
            std::slice::from_ref(&x),
            &[woken.clone(), unplugged("b", -7200.0)],
            t(6.0),
            &R,
        );
        assert_eq!(matched(&d[0]), None);
        let d = decide_all(&[x], &[woken, unplugged("b", 30.0)], t(31.0), &R);
        assert_eq!(matched(&d[0]), Some(("a", Confidence::Medium)));
    }

    #[test]
    fn a_position_at_the_charger_adds_evidence_and_one_elsewhere_rules_a_car_out() {
        let home = Point {
            latitude: 59.9,
            longitude: 10.7,
        };
        let cabin = Point {
            latitude: 60.5,
            longitude: 10.7,
        };
        let mut x = plug("x", 0.0);
        x.location = Some(home);
        let mut a = turned("a", -60.0, 3.0);
        a.position = Some((home, t(3.0)));
        let mut b = turned("b", -60.0, 3.0);
        b.position = Some((cabin, t(3.0)));
        let d = decide_all(&[x], &[a, b], t(10.0), &R);
        assert_eq!(matched(&d[0]), Some(("a", Confidence::High)));
    }

    #[test]
    fn a_car_plugged_in_since_before_the_plug_in_is_somewhere_else() {
        let x = plug("x", 0.0);
        let mut a = turned("a", -7200.0, -3600.0);
        a.observed_at = Some(t(30.0));
        let d = decide_all(&[x], &[a], t(40.0), &R);
        assert!(
            matches!(d[0], MatchDecision::Unmatched(UnmatchedReason::AllRuledOut, ref why) if why.contains("since")),
            "{d:?}"
        );
    }

    #[test]
    fn an_unplugged_report_within_the_makers_lag_does_not_rule_a_car_out() {
        let lagging = MatchRules {
            maker_lag: Duration::seconds(20),
            ..R
        };
        let x = plug("x", 0.0);
        let d = decide_all(std::slice::from_ref(&x), &[unplugged("a", 10.0)], t(11.0), &lagging);
        assert_eq!(reason(&d[0]), Some(UnmatchedReason::AwaitingReports));
        let d = decide_all(&[x], &[unplugged("a", 30.0)], t(31.0), &lagging);
        assert_eq!(reason(&d[0]), Some(UnmatchedReason::AllRuledOut));
    }

    #[test]
    fn a_charge_rate_that_contradicts_the_meter_rules_a_car_out() {
        let mut x = plug("x", 0.0);
        x.power = series(5.0, 120.0, 11.0);
        let mut a = turned("a", -30.0, 0.4);
        a.charge_rates = series(20.0, 60.0, 0.0);
        let mut b = turned("b", -30.0, 0.5);
        b.charge_rates = series(20.0, 60.0, 11.0);
        let d = decide_all(&[x], &[a, b], t(70.0), &R);
        assert_eq!(matched(&d[0]), Some(("b", Confidence::High)), "{d:?}");
    }
}
