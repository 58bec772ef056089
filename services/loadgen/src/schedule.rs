//! When each simulated charger starts and when its periodic messages fall due.
//!
//! Pure arithmetic on [`Instant`]s, so the scheduling rules are unit-tested without
//! sockets or a runtime: starts are spread evenly over the ramp (a controlled
//! connection storm instead of N simultaneous handshakes), and each periodic message
//! gets a random phase so N chargers with the same interval do not fire in lockstep.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// How long after the run starts charger `index` (of `count`) connects: evenly spread
/// over `ramp`, the first at zero and the last one step before `ramp` ends.
pub fn start_offset(index: usize, count: usize, ramp: Duration) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    // u128 nanoseconds: no overflow even for a day-long ramp and a million chargers.
    let nanos = ramp.as_nanos() * index as u128 / count as u128;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A random phase in `[0, interval)`: the delay before a periodic message first falls due.
pub fn random_phase(rng: &mut impl Rng, interval: Duration) -> Duration {
    if interval.is_zero() {
        return Duration::ZERO;
    }
    rng.gen_range(Duration::ZERO..interval)
}

/// A message that falls due every `interval`; a zero interval never falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periodic {
    interval: Duration,
    next_due: Option<Instant>,
}

impl Periodic {
    /// A timer that is not running yet (and never runs when `interval` is zero).
    pub const fn stopped(interval: Duration) -> Self {
        Self {
            interval,
            next_due: None,
        }
    }

    /// Starts the timer: first due at `now + phase`, then every interval.
    pub fn start(&mut self, now: Instant, phase: Duration) {
        if !self.interval.is_zero() {
            self.next_due = Some(now + phase);
        }
    }

    /// Stops the timer.
    pub fn stop(&mut self) {
        self.next_due = None;
    }

    /// When it next falls due, if it runs.
    pub const fn next_due(&self) -> Option<Instant> {
        self.next_due
    }

    /// Whether it is due at `now`. When it is, it is rescheduled one interval after the
    /// time it was due, keeping the charger's phase; if that is already past (the charger
    /// was blocked or disconnected), one interval after `now` instead, so a late charger
    /// sends one message, not a burst of catch-up messages.
    pub fn fire(&mut self, now: Instant) -> bool {
        let Some(due) = self.next_due else {
            return false;
        };
        if due > now {
            return false;
        }
        let next = due + self.interval;
        self.next_due = Some(if next > now { next } else { now + self.interval });
        true
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn chargers_start_evenly_spread_over_the_ramp() {
        let ramp = Duration::from_secs(10);
        let offsets: Vec<_> = (0..4).map(|i| start_offset(i, 4, ramp)).collect();
        assert_eq!(offsets, [0, 2500, 5000, 7500].map(Duration::from_millis).to_vec());
    }

    #[test]
    fn without_a_ramp_every_charger_starts_at_once() {
        assert!((0..100).all(|i| start_offset(i, 100, Duration::ZERO).is_zero()));
    }

    #[test]
    fn the_last_charger_starts_before_the_ramp_ends() {
        let ramp = Duration::from_secs(60);
        assert!(start_offset(9_999, 10_000, ramp) < ramp);
        assert_eq!(start_offset(0, 0, ramp), Duration::ZERO);
    }

    #[test]
    fn random_phases_stay_within_one_interval_and_spread_out() {
        let mut rng = StdRng::seed_from_u64(7);
        let interval = Duration::from_secs(10);
        let phases: Vec<_> = (0..1000).map(|_| random_phase(&mut rng, interval)).collect();
        assert!(phases.iter().all(|p| *p < interval));
        let early = phases.iter().filter(|p| **p < interval / 2).count();
        assert!((400..600).contains(&early), "{early} of 1000 in the first half");
        assert_eq!(random_phase(&mut rng, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_periodic_message_first_falls_due_after_its_phase() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        assert!(!timer.fire(start + 100 * SECOND), "a stopped timer never fires");
        timer.start(start, 3 * SECOND);
        assert!(!timer.fire(start + 2 * SECOND));
        assert!(timer.fire(start + 3 * SECOND));
        assert_eq!(timer.next_due(), Some(start + 13 * SECOND));
    }

    #[test]
    fn a_periodic_message_keeps_its_phase_when_it_fires_a_little_late() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        timer.start(start, Duration::ZERO);
        assert!(timer.fire(start + Duration::from_millis(300)));
        assert_eq!(timer.next_due(), Some(start + 10 * SECOND));
    }

    #[test]
    fn a_late_timer_fires_once_instead_of_catching_up_in_a_burst() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(10 * SECOND);
        timer.start(start, Duration::ZERO);
        let late = start + 95 * SECOND;
        assert!(timer.fire(late));
        assert!(!timer.fire(late), "fires once");
        assert_eq!(timer.next_due(), Some(late + 10 * SECOND));
    }

    #[test]
    fn a_zero_interval_disables_the_message() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(Duration::ZERO);
        timer.start(start, Duration::ZERO);
        assert_eq!(timer.next_due(), None);
        assert!(!timer.fire(start + 1000 * SECOND));
    }

    #[test]
    fn a_stopped_timer_no_longer_falls_due() {
        let start = Instant::now();
        let mut timer = Periodic::stopped(SECOND);
        timer.start(start, Duration::ZERO);
        timer.stop();
        assert!(!timer.fire(start + 5 * SECOND));
    }
}
