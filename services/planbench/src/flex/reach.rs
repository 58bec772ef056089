//! When an event's cap reached a charger, from the profiles the charger held: pure, so it is tested
//! without sockets.
//!
//! A charger's composite schedule at a moment is computed from the profiles it holds then, as the
//! charger answers GetCompositeSchedule (`coupler_chargepoint::composite`). Its profiles change only
//! when a message from Coupler changes them, so the first moment from a target's start at which the
//! schedule shows the cap is either the start itself (the profile was there before) or the arrival
//! of the message after which it does.

use chrono::{DateTime, Utc};
use coupler_loadgen::session::ProfileChange;
use serde::Serialize;

/// A composite limit within this of the cap counts as the cap (OCPP carries 0.1 A; Coupler's flex
/// keeper allows the same).
pub const TOLERANCE_A: f64 = 0.05;

/// When a charger's composite schedule showed the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// The first moment it showed it.
    pub at: DateTime<Utc>,
    /// Since when the charger held the profiles that made it show (the message that brought them).
    pub held_from: DateTime<Utc>,
}

/// The first moment from `start` until `now` at which the charger's composite schedule (computed
/// from the profiles it held at that moment) begins at most `cap_a`; `None` when it has not by
/// `now` (a later message may still bring it).
///
/// Each stretch between two changes is looked at through the composite schedule over it, so a
/// window that opens inside a stretch (a profile held before the target's start whose own start is
/// later) counts from its opening, not from the message that brought it.
pub fn cap_shown_at(changes: &[ProfileChange], start: DateTime<Utc>, cap_a: f64, now: DateTime<Utc>) -> Option<Shown> {
    for (i, held) in changes.iter().enumerate() {
        let next = changes.get(i + 1).map(|change| change.at);
        let from = held.at.max(start);
        let until = next.map_or(now, |next| next.min(now));
        if from > until || next.is_some_and(|next| next <= from) {
            continue;
        }
        let seconds = (until - from).num_seconds();
        let schedule = coupler_chargepoint::composite(&held.profiles, from, seconds + 1, None, held.rating);
        let shown = schedule
            .iter()
            .map(|(offset, limit)| (from + chrono::Duration::seconds(*offset), *limit))
            .find(|(at, limit)| *limit <= cap_a + TOLERANCE_A && *at <= until && next.is_none_or(|next| *at < next));
        if let Some((at, _)) = shown {
            return Some(Shown { at, held_from: held.at });
        }
    }
    None
}

/// The spread of some durations, seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// How many.
    pub count: usize,
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The longest.
    pub max: f64,
}

impl Spread {
    /// The spread of `seconds` (nearest-rank percentiles); `None` for none.
    pub fn of(mut seconds: Vec<f64>) -> Option<Self> {
        if seconds.is_empty() {
            return None;
        }
        seconds.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len()) - 1;
            seconds.get(index).copied().unwrap_or_default()
        };
        Some(Self {
            count: seconds.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: seconds.last().copied().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use coupler_chargepoint::{Kind, Period, Profile, Purpose};

    use super::*;

    const RATING: f64 = 16.0;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    /// A station-wide cap of `limit` A in force from `from` until `to`, as Coupler sends an event's.
    fn capped(from: i64, to: i64, limit: f64) -> Profile {
        Profile {
            id: 1,
            stack_level: 0,
            purpose: Purpose::StationMax,
            transaction_id: None,
            kind: Kind::Absolute,
            start_schedule: Some(t(from)),
            valid_from: Some(t(from)),
            valid_to: Some(t(to)),
            duration_s: None,
            in_watts: false,
            periods: vec![Period {
                start_s: 0,
                limit,
                phases: 3.0,
            }],
            installed_at: t(0),
            connector: 0,
        }
    }

    fn change(at: i64, profiles: Vec<Profile>) -> ProfileChange {
        ProfileChange {
            at: t(at),
            profiles,
            rating: RATING,
        }
    }

    /// When an 8 A cap showed for a target starting at 100, as known at `now`.
    fn shown(changes: &[ProfileChange], now: i64) -> Option<DateTime<Utc>> {
        cap_shown_at(changes, t(100), 8.0, t(now)).map(|shown| shown.at)
    }

    #[test]
    fn a_cap_that_arrived_before_the_start_shows_at_the_start() {
        let changes = [change(10, vec![capped(100, 3700, 8.0)])];
        assert_eq!(shown(&changes, 200), Some(t(100)));
        assert_eq!(cap_shown_at(&changes, t(100), 8.0, t(200)).unwrap().held_from, t(10));
        assert_eq!(shown(&changes, 100), Some(t(100)));
    }

    #[test]
    fn a_cap_that_arrived_after_the_start_shows_when_it_arrived() {
        let changes = [change(5, Vec::new()), change(130, vec![capped(100, 3700, 8.0)])];
        assert_eq!(shown(&changes, 200), Some(t(130)));
        assert_eq!(shown(&changes, 120), None, "not known by then");
    }

    #[test]
    fn no_cap_is_shown_before_the_start_has_come_or_above_the_cap() {
        let changes = [change(10, vec![capped(100, 3700, 8.0)])];
        assert_eq!(shown(&changes, 50), None);
        let looser = [change(10, vec![capped(100, 3700, 10.0)])];
        assert_eq!(shown(&looser, 200), None);
        assert_eq!(shown(&[], 200), None, "nothing held");
    }

    #[test]
    fn a_window_opening_after_the_target_start_shows_the_cap_only_once_it_opens() {
        // Held from 10, but its window opens at 150.
        let changes = [change(10, vec![capped(150, 3700, 8.0)])];
        assert_eq!(shown(&changes, 149), None);
        assert_eq!(shown(&changes, 200), Some(t(150)));
        // Cleared at 120, before its window opened: never shown.
        let cleared = [change(10, vec![capped(150, 3700, 8.0)]), change(120, Vec::new())];
        assert_eq!(shown(&cleared, 200), None);
    }

    #[test]
    fn the_spread_takes_nearest_rank_percentiles() {
        let spread = Spread::of((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!(
            (spread.count, spread.p50, spread.p90, spread.p99, spread.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Spread::of(vec![]), None);
        assert_eq!(Spread::of(vec![3.0]).unwrap().p99, 3.0);
    }
}
