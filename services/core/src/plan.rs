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
        }
    }

    const ON: TargetState = TargetState {
        is_charging: Some(true),
        max_current: None,
    };

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
