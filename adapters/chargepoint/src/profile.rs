//! Charging profiles as a simulated charger holds them, whichever the OCPP version, and the limit
//! they put on the current at a given moment (OCPP 1.6 §3.13 / 2.0.1 K: the highest stack level of
//! a purpose wins; a transaction's own profile overrides the default one; the station maximum caps
//! both).

use chrono::{DateTime, Duration, Utc};

use crate::VOLTS;

/// What a profile limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The whole station (`ChargePointMaxProfile` / `ChargingStationMaxProfile`).
    StationMax,
    /// Transactions that have no profile of their own (`TxDefaultProfile`).
    TxDefault,
    /// One transaction (`TxProfile`).
    Tx,
}

/// How a schedule's start is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// At `start_schedule` (or the validity start, or when it was installed).
    Absolute,
    /// At the start of the transaction.
    Relative,
    /// Every day or week from `start_schedule`.
    Recurring {
        /// Seconds in the period (a day or a week).
        every_s: i64,
    },
}

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// Seconds from the schedule's start.
    pub start_s: i64,
    /// The limit, in the schedule's unit.
    pub limit: f64,
    /// Phases the limit is for (3 when the profile does not say).
    pub phases: f64,
}

/// A charging profile the charger holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Its id.
    pub id: i64,
    /// Priority within its purpose; higher wins.
    pub stack_level: i64,
    /// What it limits.
    pub purpose: Purpose,
    /// The transaction a `Tx` profile is for (none: the running one).
    pub transaction_id: Option<String>,
    /// How its schedule starts.
    pub kind: Kind,
    /// Start of an absolute or recurring schedule.
    pub start_schedule: Option<DateTime<Utc>>,
    /// Validity.
    pub valid_from: Option<DateTime<Utc>>,
    /// Validity end, after which it limits nothing.
    pub valid_to: Option<DateTime<Utc>>,
    /// Length of the schedule, seconds (until the profile ends when absent).
    pub duration_s: Option<i64>,
    /// Whether limits are watts (else amperes).
    pub in_watts: bool,
    /// The steps, in increasing start order.
    pub periods: Vec<Period>,
    /// When the charger installed it (the start of an absolute schedule without one).
    pub installed_at: DateTime<Utc>,
    /// The connector or EVSE it was set on (0: the whole station).
    pub connector: i64,
}

/// The running transaction, as profiles need it.
#[derive(Debug, Clone, Copy)]
pub struct TxContext<'a> {
    /// The charger's transaction id.
    pub id: &'a str,
    /// When it started.
    pub started: DateTime<Utc>,
}

impl Profile {
    fn schedule_start(&self, at: DateTime<Utc>, tx: Option<TxContext<'_>>) -> Option<DateTime<Utc>> {
        let base = self.start_schedule.or(self.valid_from).unwrap_or(self.installed_at);
        match self.kind {
            Kind::Absolute => Some(base),
            Kind::Relative => tx.map(|t| t.started),
            Kind::Recurring { every_s } => {
                if every_s <= 0 || at < base {
                    return Some(base);
                }
                let cycles = (at - base).num_seconds() / every_s;
                Some(base + Duration::seconds(cycles * every_s))
            }
        }
    }

    /// The limit this profile puts on the current at `at`, amperes per phase; `None` when it does
    /// not limit anything then.
    pub fn limit_at(&self, at: DateTime<Utc>, tx: Option<TxContext<'_>>) -> Option<f64> {
        if self.valid_from.is_some_and(|from| at < from) || self.valid_to.is_some_and(|to| at >= to) {
            return None;
        }
        let start = self.schedule_start(at, tx)?;
        if at < start {
            return None;
        }
        let elapsed = (at - start).num_seconds();
        if self.duration_s.is_some_and(|d| elapsed >= d) {
            return None;
        }
        let period = self.periods.iter().rev().find(|p| p.start_s <= elapsed)?;
        Some(if self.in_watts {
            period.limit / (VOLTS * period.phases.max(1.0))
        } else {
            period.limit
        })
    }

    /// Moments after `from` at which this profile's limit may change, up to `until`.
    fn breakpoints(&self, from: DateTime<Utc>, until: DateTime<Utc>, tx: Option<TxContext<'_>>) -> Vec<DateTime<Utc>> {
        let mut points: Vec<DateTime<Utc>> = self.valid_from.into_iter().chain(self.valid_to).collect();
        if let Some(start) = self.schedule_start(from, tx) {
            points.extend(self.periods.iter().map(|p| start + Duration::seconds(p.start_s)));
            if let Some(d) = self.duration_s {
                points.push(start + Duration::seconds(d));
            }
            if let Kind::Recurring { every_s } = self.kind {
                let next = start + Duration::seconds(every_s);
                points.extend(self.periods.iter().map(|p| next + Duration::seconds(p.start_s)));
            }
        }
        points.retain(|p| *p > from && *p < until);
        points
    }
}

/// The profile of `purpose` in force at `at`: the highest stack level that limits something then.
/// A `Tx` profile counts only for the running transaction.
fn in_force<'p>(
    profiles: &'p [Profile],
    purpose: Purpose,
    at: DateTime<Utc>,
    tx: Option<TxContext<'_>>,
) -> Option<(&'p Profile, f64)> {
    profiles
        .iter()
        .filter(|p| p.purpose == purpose)
        .filter(|p| match purpose {
            Purpose::Tx => tx.is_some_and(|t| p.transaction_id.as_deref().is_none_or(|id| id == t.id)),
            _ => true,
        })
        .filter_map(|p| p.limit_at(at, tx).map(|limit| (p, limit)))
        .max_by_key(|(p, _)| p.stack_level)
}

/// The current the charger may offer at `at`, amperes per phase: the transaction's profile (or the
/// default one), capped by the station maximum and the charger's own rating.
pub fn offered_limit(profiles: &[Profile], at: DateTime<Utc>, tx: Option<TxContext<'_>>, rating: f64) -> f64 {
    let session = in_force(profiles, Purpose::Tx, at, tx).or_else(|| in_force(profiles, Purpose::TxDefault, at, tx));
    let station = in_force(profiles, Purpose::StationMax, at, tx);
    [session.map(|(_, l)| l), station.map(|(_, l)| l)]
        .into_iter()
        .flatten()
        .fold(rating, f64::min)
        .max(0.0)
}

/// The composite schedule from `from` for `duration_s` seconds: `(seconds from start, limit in
/// amperes per phase)` at each change, computed from the profiles held, as the charger will apply
/// them.
pub fn composite(
    profiles: &[Profile],
    from: DateTime<Utc>,
    duration_s: i64,
    tx: Option<TxContext<'_>>,
    rating: f64,
) -> Vec<(i64, f64)> {
    let until = from + Duration::seconds(duration_s.max(0));
    let mut points: Vec<DateTime<Utc>> = profiles.iter().flat_map(|p| p.breakpoints(from, until, tx)).collect();
    points.push(from);
    points.sort();
    points.dedup();
    let mut periods: Vec<(i64, f64)> = Vec::new();
    for at in points {
        let limit = offered_limit(profiles, at, tx, rating);
        if periods
            .last()
            .is_none_or(|(_, last)| (last - limit).abs() > f64::EPSILON)
        {
            periods.push(((at - from).num_seconds(), limit));
        }
    }
    periods
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn profile(id: i64, purpose: Purpose, stack_level: i64, periods: &[(i64, f64)]) -> Profile {
        Profile {
            id,
            stack_level,
            purpose,
            transaction_id: None,
            kind: Kind::Absolute,
            start_schedule: None,
            valid_from: None,
            valid_to: None,
            duration_s: None,
            in_watts: false,
            periods: periods
                .iter()
                .map(|(start_s, limit)| Period {
                    start_s: *start_s,
                    limit: *limit,
                    phases: 3.0,
                })
                .collect(),
            installed_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            connector: 1,
        }
    }

    fn t(offset: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + offset, 0).unwrap()
    }

    #[test]
    fn without_profiles_the_charger_offers_its_rating() {
        assert_eq!(offered_limit(&[], t(0), None, 32.0), 32.0);
    }

    #[test]
    fn a_transaction_profile_overrides_the_default_and_the_station_maximum_caps_both() {
        let tx = TxContext { id: "7", started: t(0) };
        let profiles = vec![
            profile(1, Purpose::TxDefault, 0, &[(0, 20.0)]),
            profile(2, Purpose::Tx, 0, &[(0, 10.0)]),
            profile(3, Purpose::StationMax, 0, &[(0, 16.0)]),
        ];
        assert_eq!(offered_limit(&profiles, t(10), Some(tx), 32.0), 10.0);
        // Without a transaction the Tx profile does not apply: the default does, under the cap.
        assert_eq!(offered_limit(&profiles, t(10), None, 32.0), 16.0);
    }

    #[test]
    fn the_highest_stack_level_wins_and_an_expired_profile_limits_nothing() {
        let mut low = profile(1, Purpose::TxDefault, 0, &[(0, 8.0)]);
        let mut high = profile(2, Purpose::TxDefault, 5, &[(0, 24.0)]);
        high.valid_to = Some(t(60));
        low.valid_to = None;
        let profiles = vec![low, high];
        assert_eq!(offered_limit(&profiles, t(30), None, 32.0), 24.0);
        assert_eq!(offered_limit(&profiles, t(61), None, 32.0), 8.0);
    }

    #[test]
    fn limits_in_watts_become_amperes_per_phase() {
        let mut p = profile(1, Purpose::TxDefault, 0, &[(0, 11_040.0)]);
        p.in_watts = true;
        assert!((offered_limit(&[p], t(0), None, 32.0) - 16.0).abs() < 1e-9);
    }

    #[test]
    fn a_relative_profile_follows_the_transaction_start_and_the_composite_shows_each_step() {
        let tx = TxContext {
            id: "1",
            started: t(100),
        };
        let mut p = profile(1, Purpose::Tx, 0, &[(0, 6.0), (600, 16.0)]);
        p.kind = Kind::Relative;
        assert_eq!(offered_limit(std::slice::from_ref(&p), t(200), Some(tx), 32.0), 6.0);
        assert_eq!(offered_limit(std::slice::from_ref(&p), t(800), Some(tx), 32.0), 16.0);
        let schedule = composite(&[p], t(200), 3600, Some(tx), 32.0);
        assert_eq!(schedule, vec![(0, 6.0), (500, 16.0)]);
    }

    #[test]
    fn a_transaction_profile_for_another_transaction_does_not_apply() {
        let tx = TxContext { id: "2", started: t(0) };
        let mut p = profile(1, Purpose::Tx, 0, &[(0, 6.0)]);
        p.transaction_id = Some("1".into());
        assert_eq!(offered_limit(&[p], t(10), Some(tx), 32.0), 32.0);
    }
}
