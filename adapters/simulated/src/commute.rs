//! Commuting cars: the sandbox's cars that come home to a charger every evening with a random state
//! of charge and leave every morning, so that smart charging can be watched night after night.
//!
//! [`CommuteState`] is the pure part (what is due at a given time); [`crate::SimSandbox`] carries its
//! moves out on the simulated world, from a task that follows the sandbox's clock.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use coupler_core::sandbox::{Commute, CommuteStay, CommuteView, COMMUTE_STAYS_KEPT};
use coupler_core::ClientId;

/// What a commuting car does next.
#[derive(Debug, Clone, PartialEq)]
pub enum CommuteMove {
    /// It comes home: its state of charge is set to `battery_level` and it is plugged in.
    Arrive { battery_level: f64 },
    /// It leaves: it is unplugged and driven off.
    Leave,
}

/// A car's commute and where it stands in it.
#[derive(Debug, Clone)]
pub struct CommuteState {
    /// Whose car it is.
    pub client: ClientId,
    /// The round it follows.
    pub commute: Commute,
    /// When it leaves next; `None` while it is away.
    next_departure: Option<DateTime<Utc>>,
    /// When it comes home next (meaningful while away).
    next_arrival: DateTime<Utc>,
    /// Its latest stays, newest first.
    stays: VecDeque<CommuteStay>,
}

impl CommuteState {
    /// A commute set at `now`: the car counts as away and comes home at the next `arrive`.
    pub fn new(client: ClientId, commute: Commute, now: DateTime<Utc>) -> Self {
        let next_arrival = commute.next_local(commute.arrive, now);
        Self {
            client,
            commute,
            next_departure: None,
            next_arrival,
            stays: VecDeque::new(),
        }
    }

    /// The next time something is due.
    pub fn next_edge(&self) -> DateTime<Utc> {
        self.next_departure.unwrap_or(self.next_arrival)
    }

    /// The move due at `now`, if any; `draw` gives a number in [0, 1) for the arrival level.
    pub fn due(&self, now: DateTime<Utc>, draw: impl FnOnce() -> f64) -> Option<CommuteMove> {
        match self.next_departure {
            Some(leave) if now >= leave => Some(CommuteMove::Leave),
            Some(_) => None,
            None if now >= self.next_arrival => {
                let (low, high) = (self.commute.arrival_level_min, self.commute.arrival_level_max);
                let level = low + (high - low) * draw().clamp(0.0, 1.0);
                Some(CommuteMove::Arrive {
                    battery_level: (level * 10.0).round() / 10.0,
                })
            }
            None => None,
        }
    }

    /// Records that the car came home (at the scheduled time, whatever the tick that noticed it),
    /// with `not_plugged` saying why it could not be plugged in, if it could not.
    pub fn arrived(&mut self, battery_level: f64, not_plugged: Option<String>) {
        let at = self.next_arrival;
        self.next_departure = Some(self.commute.next_local(self.commute.leave, at));
        self.stays.push_front(CommuteStay {
            arrived_at: at,
            arrival_battery_level: battery_level,
            left_at: None,
            departure_battery_level: None,
            not_plugged,
        });
        self.stays.truncate(COMMUTE_STAYS_KEPT);
    }

    /// Records that the car left (at the scheduled time) with `battery_level`.
    pub fn left(&mut self, battery_level: Option<f64>) {
        let at = self.next_departure.take().unwrap_or(self.next_arrival);
        if let Some(stay) = self.stays.front_mut() {
            stay.left_at = Some(at);
            stay.departure_battery_level = battery_level;
        }
        self.next_arrival = self.commute.next_local(self.commute.arrive, at);
    }

    /// The commute as a client sees it.
    pub fn view(&self, vehicle_id: &str) -> CommuteView {
        CommuteView {
            vehicle_id: vehicle_id.to_owned(),
            commute: self.commute.clone(),
            at_home: self.next_departure.is_some(),
            next_arrival: self.next_departure.is_none().then_some(self.next_arrival),
            next_departure: self.next_departure,
            stays: self.stays.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};
    use coupler_core::ChargerId;

    fn evening_to_morning() -> Commute {
        Commute {
            charger_id: ChargerId::new("chg-1"),
            arrive: NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            leave: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            time_zone: "Europe/Amsterdam".parse().unwrap(),
            arrival_level_min: 20.0,
            arrival_level_max: 60.0,
        }
    }

    #[test]
    fn a_car_set_to_commute_at_noon_comes_home_that_evening_and_leaves_the_next_morning() {
        // 11:00 UTC is noon in Amsterdam in winter.
        let noon = Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).unwrap();
        let mut state = CommuteState::new(ClientId::new("c"), evening_to_morning(), noon);
        assert_eq!(state.next_edge(), Utc.with_ymd_and_hms(2026, 12, 7, 17, 0, 0).unwrap());
        assert_eq!(state.due(noon, || 0.5), None);

        let evening = Utc.with_ymd_and_hms(2026, 12, 7, 17, 0, 3).unwrap();
        assert_eq!(
            state.due(evening, || 0.5),
            Some(CommuteMove::Arrive { battery_level: 40.0 })
        );
        state.arrived(40.0, None);
        assert_eq!(state.next_edge(), Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 0).unwrap());
        assert!(state.view("car").at_home);
        assert_eq!(state.due(evening, || 0.5), None);

        let morning = Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 1).unwrap();
        assert_eq!(state.due(morning, || 0.5), Some(CommuteMove::Leave));
        state.left(Some(80.0));
        let view = state.view("car");
        assert!(!view.at_home);
        assert_eq!(
            view.next_arrival,
            Some(Utc.with_ymd_and_hms(2026, 12, 8, 17, 0, 0).unwrap())
        );
        assert_eq!(view.stays[0].arrival_battery_level, 40.0);
        assert_eq!(view.stays[0].departure_battery_level, Some(80.0));
        assert_eq!(
            view.stays[0].left_at,
            Some(Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 0).unwrap())
        );
    }

    #[test]
    fn arrival_levels_stay_within_the_commutes_range() {
        let noon = Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).unwrap();
        let state = CommuteState::new(ClientId::new("c"), evening_to_morning(), noon);
        let late = noon + chrono::Duration::hours(12);
        for draw in [0.0, 0.3, 0.999, 7.0, -1.0] {
            let Some(CommuteMove::Arrive { battery_level }) = state.due(late, || draw) else {
                panic!("an arrival is due");
            };
            assert!((20.0..=60.0).contains(&battery_level), "{battery_level}");
        }
    }

    #[test]
    fn only_the_latest_stays_are_kept() {
        let noon = Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).unwrap();
        let mut state = CommuteState::new(ClientId::new("c"), evening_to_morning(), noon);
        for _ in 0..(COMMUTE_STAYS_KEPT + 5) {
            state.arrived(30.0, None);
            state.left(Some(80.0));
        }
        assert_eq!(state.view("car").stays.len(), COMMUTE_STAYS_KEPT);
    }
}
