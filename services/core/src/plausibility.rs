//! Implausible values a charger may send: what is refused outright, and what is accepted (the
//! charger needs its answer, or would retry for ever) but flagged and kept out of sessions' energy
//! and the statistics.
//!
//! - A connector id beyond [`MAX_CONNECTOR_ID`] (2^31-1, say) is no connector any charger has: the
//!   message is refused with `PropertyConstraintViolation` (the payload is well formed, a value is
//!   out of range), and nothing is stored.
//! - An energy register that is negative or above [`MAX_REGISTER_WH`] (10 GWh), or that rose
//!   faster than [`MAX_CONNECTOR_POWER_W`] (1 MW on one connector) since the reading before, is
//!   stored flagged and not used; a power reading above 1 MW likewise.
//! - A StopTransaction stamped before its start, or whose meterStop is below its meterStart, and a
//!   StartTransaction with a negative or absurd meterStart, are answered (OCPP requires it) and the
//!   session is stored flagged: its energy counts as none.
//!
//! The rules are pure; the gateway applies them before it stores, the store keeps the flags.

use chrono::{DateTime, Utc};

use crate::charger::MeterSample;
use crate::costs::EnergyReading;

/// The highest connector (or EVSE) id Coupler takes: no charger has more, and a larger one is a
/// broken or hostile message.
pub const MAX_CONNECTOR_ID: u32 = 100;

/// The largest energy register reading taken, in Wh (10 GWh: a lifetime of a busy DC charger).
pub const MAX_REGISTER_WH: f64 = 10_000_000_000.0;

/// The most power one connector can draw, in W (1 MW; today's fastest chargers give about a third).
pub const MAX_CONNECTOR_POWER_W: f64 = 1_000_000.0;

/// The smallest register rise judged by the power it implies, in Wh: readings carry whole seconds
/// and chargers' clocks jitter, so a small rise over a short time says nothing.
pub const MIN_JUDGED_RISE_WH: f64 = 1_000.0;

/// What is wrong with a value that was accepted and flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Implausible {
    /// An energy register below zero.
    NegativeRegister,
    /// An energy register above [`MAX_REGISTER_WH`].
    AbsurdRegister,
    /// A register rise faster than [`MAX_CONNECTOR_POWER_W`] since the reading before.
    ImpossibleRise,
    /// A power reading above [`MAX_CONNECTOR_POWER_W`].
    AbsurdPower,
    /// A transaction that stopped before it started.
    StopBeforeStart,
    /// A transaction whose stop register is below its start register.
    StopBelowStart,
}

impl Implausible {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NegativeRegister => "NEGATIVE_REGISTER",
            Self::AbsurdRegister => "ABSURD_REGISTER",
            Self::ImpossibleRise => "IMPOSSIBLE_RISE",
            Self::AbsurdPower => "ABSURD_POWER",
            Self::StopBeforeStart => "STOP_BEFORE_START",
            Self::StopBelowStart => "STOP_BELOW_START",
        }
    }
}

/// Why a connector id is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorIdError {
    /// Below zero (or below one where 0, the whole charger, is not allowed).
    #[error("{what} must be {min} or more")]
    TooLow {
        /// The field.
        what: &'static str,
        /// The least allowed.
        min: u32,
    },
    /// Beyond any charger's connectors.
    #[error("{what} {value} is beyond any charger's connectors (at most {MAX_CONNECTOR_ID})")]
    TooHigh {
        /// The field.
        what: &'static str,
        /// The value sent.
        value: i64,
    },
}

/// Checks a connector or EVSE id: from `min` (0 where the whole charger may be meant, 1 where a
/// connector must be) to [`MAX_CONNECTOR_ID`].
pub fn connector_id(value: i64, min: u32, what: &'static str) -> Result<u32, ConnectorIdError> {
    if value < i64::from(min) {
        return Err(ConnectorIdError::TooLow { what, min });
    }
    match u32::try_from(value) {
        Ok(id) if id <= MAX_CONNECTOR_ID => Ok(id),
        _ => Err(ConnectorIdError::TooHigh { what, value }),
    }
}

/// What is wrong with an energy register reading on its own.
pub fn check_register(wh: f64) -> Option<Implausible> {
    if !wh.is_finite() || wh > MAX_REGISTER_WH {
        Some(Implausible::AbsurdRegister)
    } else if wh < 0.0 {
        Some(Implausible::NegativeRegister)
    } else {
        None
    }
}

/// Whether the register rose from `before` to `after` faster than one connector can charge. A
/// register that went down (a replaced meter, a reordered sample), or rose less than
/// [`MIN_JUDGED_RISE_WH`], says nothing about power.
pub fn check_rise(before: &EnergyReading, after: &EnergyReading) -> Option<Implausible> {
    let seconds = (after.at - before.at).num_milliseconds() as f64 / 1000.0;
    let rise = after.register_wh - before.register_wh;
    if rise <= MIN_JUDGED_RISE_WH {
        return None;
    }
    // Within a second, allow what 1 MW gives in one second (readings carry whole seconds).
    let allowed = MAX_CONNECTOR_POWER_W * seconds.max(1.0) / 3600.0;
    (rise > allowed).then_some(Implausible::ImpossibleRise)
}

/// What is wrong with a transaction's end, given its start. `judge_power` says whether rises are
/// judged by the power they imply (see [`screen_samples`]).
pub fn check_stop(
    started_at: DateTime<Utc>,
    meter_start_wh: f64,
    stopped_at: DateTime<Utc>,
    meter_stop_wh: f64,
    judge_power: bool,
) -> Option<Implausible> {
    if stopped_at < started_at {
        Some(Implausible::StopBeforeStart)
    } else if let Some(wrong) = check_register(meter_stop_wh) {
        Some(wrong)
    } else if meter_stop_wh < meter_start_wh {
        Some(Implausible::StopBelowStart)
    } else if !judge_power {
        None
    } else {
        check_rise(
            &EnergyReading {
                at: started_at,
                register_wh: meter_start_wh,
            },
            &EnergyReading {
                at: stopped_at,
                register_wh: meter_stop_wh,
            },
        )
    }
}

/// Whether a sample is an energy register reading (the one measurand sessions' energy comes from).
fn is_register(sample: &MeterSample) -> bool {
    sample.measurand == "Energy.Active.Import.Register" && sample.phase.is_none() && sample.unit == "Wh"
}

/// Splits a message's samples into those to use and those to keep flagged, each with what is
/// wrong. Registers are checked on their own and, with `judge_power`, in time order, for their
/// rise since `last` (the connector's latest plausible register reading) and since each other;
/// power above 1 MW is flagged. Other measurands pass. (`judge_power` is off where time runs
/// faster than on the readings' clocks: the sandbox fills batteries up to 3600 times real time.)
pub fn screen_samples(
    samples: Vec<MeterSample>,
    last: Option<EnergyReading>,
    judge_power: bool,
) -> (Vec<MeterSample>, Vec<(MeterSample, Implausible)>) {
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| samples[i].sampled_at);
    let mut verdicts: Vec<Option<Implausible>> = vec![None; samples.len()];
    let mut previous = last;
    for i in order {
        let sample = &samples[i];
        if is_register(sample) {
            let reading = EnergyReading {
                at: sample.sampled_at,
                register_wh: sample.value,
            };
            verdicts[i] = check_register(sample.value).or_else(|| {
                previous
                    .as_ref()
                    .filter(|_| judge_power)
                    .and_then(|before| check_rise(before, &reading))
            });
            if verdicts[i].is_none() {
                previous = Some(reading);
            }
        } else if judge_power && sample.measurand == "Power.Active.Import" && sample.value > MAX_CONNECTOR_POWER_W {
            verdicts[i] = Some(Implausible::AbsurdPower);
        }
    }
    let mut kept = Vec::new();
    let mut flagged = Vec::new();
    for (sample, verdict) in samples.into_iter().zip(verdicts) {
        match verdict {
            Some(wrong) => flagged.push((sample, wrong)),
            None => kept.push(sample),
        }
    }
    (kept, flagged)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 8, 0, 0).unwrap()
    }

    fn register(wh: f64, minutes: i64) -> MeterSample {
        MeterSample {
            sampled_at: t0() + Duration::minutes(minutes),
            measurand: "Energy.Active.Import.Register".into(),
            phase: None,
            unit: "Wh".into(),
            value: wh,
            context: None,
        }
    }

    #[test]
    fn a_connector_id_beyond_any_charger_is_refused() {
        assert_eq!(connector_id(1, 1, "connectorId"), Ok(1));
        assert_eq!(connector_id(0, 0, "connectorId"), Ok(0));
        assert_eq!(connector_id(100, 1, "connectorId"), Ok(100));
        assert!(matches!(
            connector_id(i64::from(i32::MAX), 0, "connectorId"),
            Err(ConnectorIdError::TooHigh {
                value: 2_147_483_647,
                ..
            })
        ));
        assert!(matches!(
            connector_id(101, 0, "evseId"),
            Err(ConnectorIdError::TooHigh { .. })
        ));
        assert!(matches!(
            connector_id(0, 1, "connectorId"),
            Err(ConnectorIdError::TooLow { min: 1, .. })
        ));
        assert!(matches!(
            connector_id(-1, 0, "connectorId"),
            Err(ConnectorIdError::TooLow { .. })
        ));
    }

    #[test]
    fn negative_and_absurd_registers_are_flagged() {
        assert_eq!(check_register(-1.0), Some(Implausible::NegativeRegister));
        assert_eq!(check_register(1e11), Some(Implausible::AbsurdRegister));
        assert_eq!(check_register(f64::NAN), Some(Implausible::AbsurdRegister));
        assert_eq!(check_register(0.0), None);
        assert_eq!(check_register(9_999_999_999.0), None);
    }

    #[test]
    fn a_rise_faster_than_one_megawatt_is_flagged() {
        let before = EnergyReading {
            at: t0(),
            register_wh: 1000.0,
        };
        let hour_later = |wh: f64| EnergyReading {
            at: t0() + Duration::hours(1),
            register_wh: wh,
        };
        assert_eq!(
            check_rise(&before, &hour_later(1000.0 + 350_000.0)),
            None,
            "350 kW is fast, not absurd"
        );
        assert_eq!(
            check_rise(&before, &hour_later(1000.0 + 1_000_001.0)),
            Some(Implausible::ImpossibleRise)
        );
        assert_eq!(
            check_rise(&before, &hour_later(500.0)),
            None,
            "a fall says nothing about power"
        );
    }

    #[test]
    fn a_stop_before_its_start_or_below_its_start_register_is_flagged() {
        let start = t0();
        assert_eq!(
            check_stop(start, 1000.0, start + Duration::hours(1), 8000.0, true),
            None
        );
        assert_eq!(
            check_stop(start, 1000.0, start - Duration::minutes(1), 8000.0, true),
            Some(Implausible::StopBeforeStart)
        );
        assert_eq!(
            check_stop(start, 1000.0, start + Duration::hours(1), 999.0, true),
            Some(Implausible::StopBelowStart)
        );
        assert_eq!(
            check_stop(start, 1000.0, start + Duration::hours(1), -5.0, true),
            Some(Implausible::NegativeRegister)
        );
        assert_eq!(
            check_stop(start, 0.0, start + Duration::minutes(1), 5_000_000.0, true),
            Some(Implausible::ImpossibleRise)
        );
        assert_eq!(
            check_stop(start, 0.0, start + Duration::minutes(1), 5_000_000.0, false),
            None,
            "not judged where time runs faster"
        );
    }

    #[test]
    fn screening_keeps_good_samples_and_flags_the_rest_in_time_order() {
        let last = EnergyReading {
            at: t0(),
            register_wh: 1000.0,
        };
        let samples = vec![
            register(3000.0, 10),      // +2 kWh in 10 minutes: fine
            register(-4.0, 11),        // negative
            register(9_000_000.0, 12), // +9 MWh in 2 minutes: impossible
            register(3500.0, 15),      // fine again, measured against 3000
            register(2e10, 16),        // absurd
        ];
        let (kept, flagged) = screen_samples(samples.clone(), Some(last), true);
        assert_eq!(kept.iter().map(|s| s.value).collect::<Vec<_>>(), vec![3000.0, 3500.0]);
        assert_eq!(
            flagged.iter().map(|(_, why)| *why).collect::<Vec<_>>(),
            vec![
                Implausible::NegativeRegister,
                Implausible::ImpossibleRise,
                Implausible::AbsurdRegister
            ]
        );
        let (kept, _) = screen_samples(samples, Some(last), false);
        assert_eq!(
            kept.len(),
            3,
            "without judging power only the register's own range counts"
        );
    }
}
