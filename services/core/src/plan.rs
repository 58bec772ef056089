//! Route planning for actions, as pure functions: which device carries an action out, in which
//! order, and what a charger must be sent for it, decided from what Coupler last observed
//! (capabilities, pairing, reachability, the charger's reported state). The engine's executors do
//! the I/O; these functions decide, so every decision is a plain unit test.

use crate::action::{ActionKind, Attempt, AttemptOutcome, DeviceKind, FailureType, TargetState};
use crate::charger::{ChargeSession, Charger, OcppProtocol, PowerDeliveryState};

/// Below this current (amperes) a charger cannot deliver power (IEC 61851 starts at 6 A), so a
/// limit under it holds a session suspended as surely as a stop.
pub const MIN_CHARGING_CURRENT_A: f64 = 6.0;

/// What a charger must be sent to carry an action out, before the engine words it as a command.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargerStep {
    /// Start a new transaction on the plugged-in connector (`None`: the charger chooses).
    RemoteStart {
        /// The connector (2.0.1: the EVSE).
        connector_id: Option<u32>,
    },
    /// A 2.0.1 charger opened the transaction at plug-in (cable first) and waits for authorisation:
    /// RequestStartTransaction on that EVSE authorises the running transaction.
    AuthorizeRunning {
        /// The EVSE of the running transaction.
        connector_id: u32,
    },
    /// The session is held suspended by a limit Coupler set below the charging minimum: clear it.
    LiftLimit {
        /// The connector of the held session.
        connector_id: u32,
    },
    /// Stop the running transaction.
    RemoteStop {
        /// Coupler's id of the transaction.
        transaction_id: i64,
    },
    /// Install a current limit: on the running transaction, or as the default for the next ones.
    SetLimit {
        /// The running transaction's connector and id, if one runs.
        transaction: Option<(u32, i64)>,
        /// The limit, amperes.
        amps: f64,
    },
}

/// Why no command is sent: the action ends here with this failure type and detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// How the action fails (UNNECESSARY when it is already done).
    pub failure: FailureType,
    /// Why, for people.
    pub detail: String,
}

impl Refusal {
    fn new(failure: FailureType, detail: impl Into<String>) -> Self {
        Self {
            failure,
            detail: detail.into(),
        }
    }
}

/// Decides what to send a charger for `kind`, from its last reported state and running session.
///
/// A START on a plugged-in charger that already runs a transaction is not refused out of hand: a
/// 2.0.1 charger that opened it at plug-in (the common cable-first setup) is asked to authorise it,
/// and a session held by Coupler's own limit below the charging minimum gets the limit lifted. Only
/// a 1.6 transaction suspended by the charger or the vehicle is refused, naming the state the
/// charger reported.
pub fn charger_step(
    kind: ActionKind,
    target: &TargetState,
    charger: &Charger,
    session: Option<&ChargeSession>,
) -> Result<ChargerStep, Refusal> {
    let state = charger.charge_state(session);
    match kind {
        ActionKind::Start => {
            if state.is_charging {
                return Err(Refusal::new(
                    FailureType::Unnecessary,
                    "the charger is already charging",
                ));
            }
            if !state.is_plugged_in {
                return Err(Refusal::new(
                    FailureType::FailedPrecondition,
                    "no vehicle is plugged in",
                ));
            }
            let Some(session) = session else {
                return Ok(ChargerStep::RemoteStart {
                    connector_id: plugged_connector(charger),
                });
            };
            let reported = charger
                .connectors
                .iter()
                .find(|c| c.connector_id == session.connector_id)
                .map_or("no status", |c| c.status.as_str());
            let held_by_limit = charger.max_current.is_some_and(|amps| amps < MIN_CHARGING_CURRENT_A);
            if held_by_limit {
                return Ok(ChargerStep::LiftLimit {
                    connector_id: session.connector_id,
                });
            }
            if charger.ocpp_version == Some(OcppProtocol::V201) {
                return Ok(ChargerStep::AuthorizeRunning {
                    connector_id: session.connector_id,
                });
            }
            Err(Refusal::new(
                FailureType::FailedPrecondition,
                format!(
                    "transaction {} is running and the charger reports it {reported}; OCPP 1.6 cannot start it again",
                    session.transaction_id
                ),
            ))
        }
        ActionKind::Stop => match session {
            Some(session) => Ok(ChargerStep::RemoteStop {
                transaction_id: session.transaction_id,
            }),
            None if state.is_charging => Err(Refusal::new(
                FailureType::FailedPrecondition,
                "the charger is charging but reported no transaction to stop",
            )),
            None => Err(Refusal::new(FailureType::Unnecessary, "the charger is not charging")),
        },
        ActionKind::SetMaxCurrent => Ok(ChargerStep::SetLimit {
            transaction: session.map(|s| (s.connector_id, s.transaction_id)),
            amps: target.max_current.unwrap_or_default(),
        }),
    }
}

/// The first outlet with a vehicle plugged in, for a remote start.
pub fn plugged_connector(charger: &Charger) -> Option<u32> {
    charger
        .connectors
        .iter()
        .filter(|c| c.connector_id > 0 && c.power_delivery_state.is_plugged_in())
        .map(|c| c.connector_id)
        .next()
}

/// Whether a charger's observed state shows an action done. `current_a` is the last metered
/// current; it speaks only while a session runs (after a stop it is stale).
pub fn charger_reached(
    kind: ActionKind,
    target: &TargetState,
    pds: PowerDeliveryState,
    session_running: bool,
    current_a: f64,
    composite_limit: Option<f64>,
) -> bool {
    let flowing = pds == PowerDeliveryState::Charging || (session_running && current_a > FLOWING_CURRENT_A);
    match kind {
        ActionKind::Start => flowing,
        ActionKind::Stop => !flowing,
        ActionKind::SetMaxCurrent => {
            let amps = target.max_current.unwrap_or_default();
            // The charger's own word (its composite schedule) first; the meter can only show a
            // limit while power flows.
            match composite_limit {
                Some(limit) => limit <= amps + 0.05,
                None => !flowing || current_a <= amps + CURRENT_TOLERANCE_A,
            }
        }
    }
}

/// A metered current above this means power flows.
const FLOWING_CURRENT_A: f64 = 1.0;
/// A metered current this much above the limit still counts as obeying it (meters and EVs round).
const CURRENT_TOLERANCE_A: f64 = 1.0;

/// What routing knows when it picks the next device for an action.
#[derive(Debug, Clone, Copy)]
pub struct RouteFacts<'a> {
    /// The kind of device the action is on.
    pub target: DeviceKind,
    /// Its id.
    pub target_id: &'a str,
    /// Vehicle targets: why the vehicle's maker cannot carry the command out (`None`: it can).
    pub maker_refusal: Option<&'a str>,
    /// Vehicle targets: the charger the vehicle is matched with now, and whether it is connected.
    pub activated_charger: Option<(&'a str, bool)>,
    /// Vehicle targets: whether the vehicle has any pair (a charger may be matched any moment).
    pub has_pair: bool,
    /// The tries so far.
    pub attempts: &'a [Attempt],
    /// Whether the action's deadline has passed.
    pub past_deadline: bool,
}

/// The next step of an action's route.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteStep {
    /// Carry it out through this charger (the charger executor).
    Charger(String),
    /// Carry it out through the vehicle's maker (the maker executor).
    Maker,
    /// Nothing to try yet: the vehicle's charger may be matched any moment; look again shortly.
    AwaitPairing,
    /// No route is left: the action fails so.
    Fail(Refusal),
}

/// Plans the next step of an action, as a pure function of what Coupler knows.
///
/// A charger's action has one route, the charger. A vehicle's goes first through the charger it
/// is matched with (a charger obeys at once and never sleeps), once per action and only while that
/// charger is connected; then through the vehicle's maker, if the maker allows the command. When
/// the maker cannot and the vehicle has a pair that is not (yet) plugged in, it waits for a match
/// until the deadline. When the charger was tried and nothing else is left, the action fails as
/// the charger did.
pub fn next_route(facts: &RouteFacts<'_>) -> RouteStep {
    if facts.target == DeviceKind::Charger {
        return RouteStep::Charger(facts.target_id.to_owned());
    }
    if let Some((charger, connected)) = facts.activated_charger {
        if connected && !tried(facts.attempts, DeviceKind::Charger, charger) {
            return RouteStep::Charger(charger.to_owned());
        }
    }
    let Some(why) = facts.maker_refusal else {
        return RouteStep::Maker;
    };
    let charger_tried = facts.attempts.iter().any(|a| a.via == DeviceKind::Charger);
    if facts.has_pair && facts.activated_charger.is_none() && !charger_tried {
        if facts.past_deadline {
            return RouteStep::Fail(Refusal::new(
                FailureType::FailedPrecondition,
                format!("{why}, and no charger was confirmed plugged into the vehicle"),
            ));
        }
        return RouteStep::AwaitPairing;
    }
    // When the charger was tried, its failure is the action's: a charger that did not answer or
    // did not follow is NO_RESPONSE, one that refused is FAILED_PRECONDITION.
    match facts.attempts.last() {
        Some(last) if last.via == DeviceKind::Charger => RouteStep::Fail(Refusal::new(
            if matches!(last.outcome, AttemptOutcome::NoResponse | AttemptOutcome::NoEffect) {
                FailureType::NoResponse
            } else {
                FailureType::FailedPrecondition
            },
            format!(
                "the paired charger did not carry it out ({}), and {why}",
                last.detail.clone().unwrap_or_else(|| "no effect".into())
            ),
        )),
        _ => RouteStep::Fail(Refusal::new(FailureType::FailedPrecondition, why)),
    }
}

/// Whether an attempt through `device` was already made on this action (a route is tried once).
pub fn tried(attempts: &[Attempt], via: DeviceKind, device_id: &str) -> bool {
    attempts.iter().any(|a| a.via == via && a.device_id == device_id)
}

/// The try a restart cut short: the last attempt, sent and not yet judged.
pub fn in_flight(attempts: &[Attempt]) -> Option<&Attempt> {
    attempts.last().filter(|a| a.outcome == AttemptOutcome::Sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charger::{ChargerId, ConnectorStatus, OcppIdentity};
    use crate::client::ClientId;
    use crate::user::UserId;
    use chrono::DateTime;

    fn at() -> DateTime<chrono::Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn charger(version: OcppProtocol, status: &str, pds: PowerDeliveryState) -> Charger {
        Charger {
            id: ChargerId::new("c"),
            client_id: ClientId::new("k"),
            user_id: UserId::parse("u").unwrap(),
            ocpp_id: OcppIdentity::parse("CP").unwrap(),
            name: None,
            location_id: None,
            ocpp_version: Some(version),
            info: Default::default(),
            connectors: vec![ConnectorStatus {
                connector_id: 1,
                status: status.into(),
                error_code: "NoError".into(),
                info: None,
                power_delivery_state: pds,
                updated_at: at(),
            }],
            meter: Default::default(),
            max_current: None,
            is_connected: true,
            last_seen: Some(at()),
            firmware_status: None,
            created_at: at(),
        }
    }

    fn session() -> ChargeSession {
        ChargeSession {
            transaction_id: 7,
            charger_id: ChargerId::new("c"),
            connector_id: 1,
            id_tag: None,
            meter_start_wh: 0.0,
            meter_last_wh: 0.0,
            meter_stop_wh: None,
            started_at: at(),
            stopped_at: None,
            stop_reason: None,
            authorisation: None,
            implausible: None,
        }
    }

    const ON: TargetState = TargetState {
        is_charging: Some(true),
        max_current: None,
    };

    fn facts<'a>(attempts: &'a [Attempt]) -> RouteFacts<'a> {
        RouteFacts {
            target: DeviceKind::Vehicle,
            target_id: "v",
            maker_refusal: None,
            activated_charger: None,
            has_pair: false,
            attempts,
            past_deadline: false,
        }
    }

    fn attempt(via: DeviceKind, id: &str, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            via,
            device_id: id.into(),
            at: at(),
            outcome,
            detail: Some("it said no".into()),
        }
    }

    #[test]
    fn a_charger_s_action_goes_to_the_charger() {
        let plan = next_route(&RouteFacts {
            target: DeviceKind::Charger,
            target_id: "c",
            ..facts(&[])
        });
        assert_eq!(plan, RouteStep::Charger("c".into()));
    }

    #[test]
    fn a_vehicle_s_action_goes_through_its_connected_matched_charger_once_then_the_maker() {
        let matched = RouteFacts {
            activated_charger: Some(("c", true)),
            has_pair: true,
            ..facts(&[])
        };
        assert_eq!(next_route(&matched), RouteStep::Charger("c".into()));
        let tried = [attempt(DeviceKind::Charger, "c", AttemptOutcome::NoEffect)];
        assert_eq!(
            next_route(&RouteFacts {
                attempts: &tried,
                ..matched
            }),
            RouteStep::Maker
        );
        let offline = RouteFacts {
            activated_charger: Some(("c", false)),
            ..matched
        };
        assert_eq!(next_route(&offline), RouteStep::Maker);
    }

    #[test]
    fn a_vehicle_that_cannot_waits_for_a_match_until_the_deadline_then_fails() {
        let waiting = RouteFacts {
            maker_refusal: Some("the maker cannot stop it"),
            has_pair: true,
            ..facts(&[])
        };
        assert_eq!(next_route(&waiting), RouteStep::AwaitPairing);
        let RouteStep::Fail(refusal) = next_route(&RouteFacts {
            past_deadline: true,
            ..waiting
        }) else {
            panic!("fails at the deadline")
        };
        assert_eq!(refusal.failure, FailureType::FailedPrecondition);
        let alone = RouteFacts {
            has_pair: false,
            ..waiting
        };
        assert!(matches!(next_route(&alone), RouteStep::Fail(_)));
    }

    #[test]
    fn when_the_charger_was_tried_and_the_maker_cannot_the_action_fails_as_the_charger_did() {
        let no_effect = [attempt(DeviceKind::Charger, "c", AttemptOutcome::NoEffect)];
        let refused = [attempt(DeviceKind::Charger, "c", AttemptOutcome::Rejected)];
        let base = RouteFacts {
            maker_refusal: Some("the maker cannot stop it"),
            activated_charger: Some(("c", true)),
            has_pair: true,
            ..facts(&[])
        };
        let RouteStep::Fail(a) = next_route(&RouteFacts {
            attempts: &no_effect,
            ..base
        }) else {
            panic!()
        };
        assert_eq!(a.failure, FailureType::NoResponse);
        assert!(
            a.detail.contains("it said no") && a.detail.contains("cannot stop"),
            "{}",
            a.detail
        );
        let RouteStep::Fail(b) = next_route(&RouteFacts {
            attempts: &refused,
            ..base
        }) else {
            panic!()
        };
        assert_eq!(b.failure, FailureType::FailedPrecondition);
    }

    #[test]
    fn a_start_on_a_2_0_1_transaction_opened_at_plug_in_authorises_it() {
        let c = charger(OcppProtocol::V201, "EVConnected", PowerDeliveryState::Initializing);
        assert_eq!(
            charger_step(ActionKind::Start, &ON, &c, Some(&session())),
            Ok(ChargerStep::AuthorizeRunning { connector_id: 1 })
        );
    }

    #[test]
    fn a_start_on_a_session_held_by_coupler_s_own_low_limit_lifts_the_limit() {
        let mut c = charger(OcppProtocol::V16, "SuspendedEVSE", PowerDeliveryState::Stopped);
        c.max_current = Some(0.0);
        assert_eq!(
            charger_step(ActionKind::Start, &ON, &c, Some(&session())),
            Ok(ChargerStep::LiftLimit { connector_id: 1 })
        );
    }

    #[test]
    fn a_start_on_a_suspended_1_6_transaction_is_refused_naming_the_reported_status() {
        let c = charger(OcppProtocol::V16, "SuspendedEV", PowerDeliveryState::Stopped);
        let refused = charger_step(ActionKind::Start, &ON, &c, Some(&session())).unwrap_err();
        assert_eq!(refused.failure, FailureType::FailedPrecondition);
        assert!(refused.detail.contains("SuspendedEV"), "{}", refused.detail);
    }

    #[test]
    fn a_start_without_a_transaction_is_a_remote_start_on_the_plugged_connector() {
        let c = charger(OcppProtocol::V16, "Preparing", PowerDeliveryState::Initializing);
        assert_eq!(
            charger_step(ActionKind::Start, &ON, &c, None),
            Ok(ChargerStep::RemoteStart { connector_id: Some(1) })
        );
        let unplugged = charger(OcppProtocol::V16, "Available", PowerDeliveryState::Unplugged);
        assert_eq!(
            charger_step(ActionKind::Start, &ON, &unplugged, None)
                .unwrap_err()
                .failure,
            FailureType::FailedPrecondition
        );
        let charging = charger(OcppProtocol::V16, "Charging", PowerDeliveryState::Charging);
        assert_eq!(
            charger_step(ActionKind::Start, &ON, &charging, Some(&session()))
                .unwrap_err()
                .failure,
            FailureType::Unnecessary
        );
    }

    #[test]
    fn a_stop_stops_the_running_transaction_and_is_unnecessary_without_one() {
        let off = TargetState::charging(false);
        let c = charger(OcppProtocol::V16, "Charging", PowerDeliveryState::Charging);
        assert_eq!(
            charger_step(ActionKind::Stop, &off, &c, Some(&session())),
            Ok(ChargerStep::RemoteStop { transaction_id: 7 })
        );
        let idle = charger(OcppProtocol::V16, "Available", PowerDeliveryState::Unplugged);
        assert_eq!(
            charger_step(ActionKind::Stop, &off, &idle, None).unwrap_err().failure,
            FailureType::Unnecessary
        );
    }

    #[test]
    fn a_limit_is_confirmed_by_the_composite_schedule_before_the_meter() {
        let ten = TargetState::max_current(10.0);
        let charging = PowerDeliveryState::Charging;
        assert!(charger_reached(
            ActionKind::SetMaxCurrent,
            &ten,
            charging,
            true,
            16.0,
            Some(10.0)
        ));
        assert!(!charger_reached(
            ActionKind::SetMaxCurrent,
            &ten,
            charging,
            true,
            9.0,
            Some(16.0)
        ));
        assert!(!charger_reached(
            ActionKind::SetMaxCurrent,
            &ten,
            charging,
            true,
            16.0,
            None
        ));
        assert!(charger_reached(
            ActionKind::SetMaxCurrent,
            &ten,
            charging,
            true,
            10.5,
            None
        ));
        // Stale current after a stop does not count as flowing.
        assert!(charger_reached(
            ActionKind::Stop,
            &ten,
            PowerDeliveryState::Stopped,
            false,
            16.0,
            None
        ));
        assert!(charger_reached(
            ActionKind::Start,
            &ON,
            PowerDeliveryState::Charging,
            true,
            0.0,
            None
        ));
    }
}
