//! When to read a vehicle again, and what a read (or a failed one) changes.
//!
//! Polling a maker costs money, rate-limit headroom and, for cars that wake to answer, 12 V battery.
//! So the interval follows what the car is doing: often while it charges, less while it is plugged in,
//! rarely while it is parked; a sleeping car is left to sleep; errors back off exponentially; a
//! maker's `Retry-After` is obeyed; and each vehicle has a daily budget of reads. These are pure
//! functions over the last known state so they can be tested without a clock or a network.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::adapter::AdapterError;
use crate::vehicle::{ChargeState, Location, PollState, VehicleSnapshot};

/// How often to read vehicles, by what they are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// While charging.
    pub charging: Duration,
    /// While plugged in and not charging.
    pub plugged_in: Duration,
    /// While unplugged.
    pub parked: Duration,
    /// While asleep or offline (it is not woken to be read).
    pub asleep: Duration,
    /// Before anything is known (right after linking).
    pub unknown: Duration,
    /// The first wait after a failed read; it doubles with each further failure.
    pub backoff_base: Duration,
    /// The longest wait after failures.
    pub backoff_max: Duration,
    /// The wait after a rate limit that did not say how long.
    pub rate_limited_default: Duration,
    /// Failed reads in a row after which a vehicle counts as unreachable.
    pub unreachable_after_failures: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            charging: Duration::from_secs(5 * 60),
            plugged_in: Duration::from_secs(15 * 60),
            parked: Duration::from_secs(60 * 60),
            asleep: Duration::from_secs(30 * 60),
            unknown: Duration::from_secs(60),
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(6 * 60 * 60),
            rate_limited_default: Duration::from_secs(15 * 60),
            unreachable_after_failures: 3,
        }
    }
}

/// What to store after a read was attempted.
#[derive(Debug, Clone, PartialEq)]
pub struct PollUpdate {
    /// The new charge state, when the read succeeded.
    pub charge_state: Option<ChargeState>,
    /// The new location, when the read gave one.
    pub location: Option<Location>,
    /// The new `lastSeen`, when live data arrived.
    pub last_seen: Option<DateTime<Utc>>,
    /// The new `isReachable`, when the attempt tells.
    pub is_reachable: Option<bool>,
    /// The poller's new state for the vehicle.
    pub poll: PollState,
}

/// The UTC day of `at`, as days since the Unix epoch.
pub fn utc_day(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// The start of the UTC day after `at`.
pub fn next_utc_midnight(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp((utc_day(at) + 1) * 86_400, 0).unwrap_or(at)
}

fn add(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::days(1))
}

impl PollPolicy {
    /// The interval that fits what the vehicle is doing.
    pub fn interval_for(&self, state: &ChargeState) -> Duration {
        match (state.is_charging, state.is_plugged_in) {
            (Some(true), _) => self.charging,
            (_, Some(true)) => self.plugged_in,
            (_, Some(false)) => self.parked,
            _ => self.unknown.max(self.plugged_in.min(self.parked)),
        }
    }

    /// The wait after `failures` failed reads in a row (1 or more).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.backoff_base
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max)
    }

    /// Whether the daily budget allows another read at `now`.
    pub fn budget_allows(poll: &PollState, daily_budget: u32, now: DateTime<Utc>) -> bool {
        poll.budget_day != utc_day(now) || poll.polls_on_day < daily_budget
    }

    /// The poll state after a read was sent to the maker at `now` (it counts against the budget and
    /// serves any pending on-demand request).
    fn counted(poll: &PollState, now: DateTime<Utc>) -> PollState {
        let today = utc_day(now);
        let polls_on_day = if poll.budget_day == today {
            poll.polls_on_day.saturating_add(1)
        } else {
            1
        };
        PollState {
            requested: false,
            polls_on_day,
            budget_day: today,
            ..poll.clone()
        }
    }

    /// What a read at `now` with `outcome` changes. `previous` is the vehicle's last known charge
    /// state, `poll` its poll state before the read.
    pub fn after_read(
        &self,
        previous: &ChargeState,
        poll: &PollState,
        outcome: &Result<VehicleSnapshot, AdapterError>,
        now: DateTime<Utc>,
    ) -> PollUpdate {
        let mut next = Self::counted(poll, now);
        match outcome {
            Ok(snapshot) => {
                let mut charge = snapshot.charge_state.clone().with_derived_flags();
                // The maker's own time is the truth; Coupler's fetch time only stands in for it.
                charge.last_updated = Some(charge.last_updated.unwrap_or(now).min(now));
                charge.plugged_in_charger_id = previous.plugged_in_charger_id.clone();
                let location = snapshot.location.clone().map(|mut l| {
                    l.last_updated = Some(l.last_updated.unwrap_or(now).min(now));
                    l
                });
                next.consecutive_failures = 0;
                next.last_error = None;
                next.not_before = None;
                next.next_poll_at = add(now, self.interval_for(&charge));
                PollUpdate {
                    charge_state: Some(charge),
                    location,
                    last_seen: Some(now),
                    is_reachable: Some(true),
                    poll: next,
                }
            }
            Err(error) => {
                let mut is_reachable = None;
                let mut hold = true;
                next.last_error = Some(error.to_string());
                let wait = match error {
                    AdapterError::Asleep(_) => {
                        // Not a fault: the car sleeps, and is left to. Reading it again on demand
                        // does not wake it, so an on-demand read stays allowed.
                        next.consecutive_failures = 0;
                        is_reachable = Some(false);
                        hold = false;
                        self.asleep
                    }
                    AdapterError::RateLimited { retry_after, .. } => {
                        retry_after.unwrap_or(self.rate_limited_default).max(self.backoff_base)
                    }
                    AdapterError::CredentialsInvalid(_) => {
                        is_reachable = Some(false);
                        self.parked
                    }
                    AdapterError::NotCapable(_)
                    | AdapterError::Refused(_)
                    | AdapterError::Upstream(_)
                    | AdapterError::Timeout(_) => {
                        next.consecutive_failures = poll.consecutive_failures.saturating_add(1);
                        if next.consecutive_failures >= self.unreachable_after_failures {
                            is_reachable = Some(false);
                        }
                        self.backoff(next.consecutive_failures)
                    }
                };
                next.next_poll_at = add(now, wait);
                next.not_before = hold.then_some(next.next_poll_at);
                PollUpdate {
                    charge_state: None,
                    location: None,
                    last_seen: None,
                    is_reachable,
                    poll: next,
                }
            }
        }
    }

    /// The poll state when a read is put off without asking the maker (Coupler's own rate limit or
    /// the daily budget): nothing is counted, the read is due again at `until`, and an on-demand
    /// request stays pending.
    pub fn deferred(poll: &PollState, until: DateTime<Utc>) -> PollState {
        PollState {
            next_poll_at: until,
            ..poll.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vehicle::PowerDeliveryState;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn poll(now: DateTime<Utc>) -> PollState {
        PollState {
            next_poll_at: now,
            requested: true,
            consecutive_failures: 0,
            not_before: None,
            polls_on_day: 0,
            budget_day: utc_day(now),
            last_error: None,
        }
    }

    fn read(state: PowerDeliveryState) -> Result<VehicleSnapshot, AdapterError> {
        Ok(VehicleSnapshot {
            charge_state: ChargeState {
                power_delivery_state: Some(state),
                battery_level: Some(50.0),
                ..ChargeState::default()
            },
            location: None,
        })
    }

    #[test]
    fn a_charging_car_is_read_often_and_a_parked_one_rarely() {
        let policy = PollPolicy::default();
        let now = at(0);
        let charging = policy.after_read(
            &ChargeState::default(),
            &poll(now),
            &read(PowerDeliveryState::Charging),
            now,
        );
        let parked = policy.after_read(
            &ChargeState::default(),
            &poll(now),
            &read(PowerDeliveryState::Unplugged),
            now,
        );
        let plugged = policy.after_read(
            &ChargeState::default(),
            &poll(now),
            &read(PowerDeliveryState::Stopped),
            now,
        );
        assert_eq!(charging.poll.next_poll_at, now + chrono::Duration::minutes(5));
        assert_eq!(plugged.poll.next_poll_at, now + chrono::Duration::minutes(15));
        assert_eq!(parked.poll.next_poll_at, now + chrono::Duration::minutes(60));
        assert_eq!(charging.is_reachable, Some(true));
        assert_eq!(charging.last_seen, Some(now));
        assert!(!charging.poll.requested, "the on-demand request is served");
    }

    #[test]
    fn the_makers_timestamp_is_kept_and_a_missing_one_becomes_the_fetch_time() {
        let policy = PollPolicy::default();
        let now = at(100);
        let mut snapshot = read(PowerDeliveryState::Charging).unwrap();
        snapshot.charge_state.last_updated = Some(at(40));
        let update = policy.after_read(&ChargeState::default(), &poll(now), &Ok(snapshot), now);
        assert_eq!(update.charge_state.unwrap().last_updated, Some(at(40)));
        let update = policy.after_read(
            &ChargeState::default(),
            &poll(now),
            &read(PowerDeliveryState::Charging),
            now,
        );
        assert_eq!(update.charge_state.unwrap().last_updated, Some(now));
    }

    #[test]
    fn a_sleeping_car_is_unreachable_but_not_failing_and_keeps_its_last_seen() {
        let policy = PollPolicy::default();
        let now = at(0);
        let update = policy.after_read(
            &ChargeState::default(),
            &poll(now),
            &Err(AdapterError::Asleep("408".into())),
            now,
        );
        assert_eq!(update.is_reachable, Some(false));
        assert_eq!(update.last_seen, None);
        assert_eq!(update.poll.consecutive_failures, 0);
        assert_eq!(update.poll.next_poll_at, now + chrono::Duration::minutes(30));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_a_cap_and_then_mark_the_car_unreachable() {
        let policy = PollPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_secs(60));
        assert_eq!(policy.backoff(2), Duration::from_secs(120));
        assert_eq!(policy.backoff(4), Duration::from_secs(480));
        assert_eq!(policy.backoff(40), policy.backoff_max);

        let now = at(0);
        let mut state = poll(now);
        let failure = Err(AdapterError::Timeout("slow".into()));
        let first = policy.after_read(&ChargeState::default(), &state, &failure, now);
        assert_eq!(first.is_reachable, None, "one failure is not yet unreachable");
        state.consecutive_failures = 2;
        let third = policy.after_read(&ChargeState::default(), &state, &failure, now);
        assert_eq!(third.poll.consecutive_failures, 3);
        assert_eq!(third.is_reachable, Some(false));
    }

    #[test]
    fn a_rate_limit_waits_at_least_as_long_as_the_maker_asked() {
        let policy = PollPolicy::default();
        let now = at(0);
        let update = policy.after_read(
            &ChargeState::default(),
            &poll(now),
            &Err(AdapterError::RateLimited {
                retry_after: Some(Duration::from_secs(3600)),
                detail: String::new(),
            }),
            now,
        );
        assert_eq!(update.poll.next_poll_at, now + chrono::Duration::hours(1));
        assert_eq!(
            update.poll.not_before,
            Some(now + chrono::Duration::hours(1)),
            "not even on demand"
        );
        assert_eq!(update.is_reachable, None);
    }

    #[test]
    fn the_daily_budget_counts_reads_and_resets_at_utc_midnight() {
        let now = at(0);
        let mut state = poll(now);
        state.polls_on_day = 2;
        assert!(!PollPolicy::budget_allows(&state, 2, now));
        assert!(PollPolicy::budget_allows(&state, 3, now));
        let tomorrow = next_utc_midnight(now);
        assert!(PollPolicy::budget_allows(&state, 2, tomorrow));
        let update = PollPolicy::default().after_read(
            &ChargeState::default(),
            &state,
            &read(PowerDeliveryState::Unplugged),
            tomorrow,
        );
        assert_eq!(update.poll.polls_on_day, 1, "a new day starts a new count");
    }
}
