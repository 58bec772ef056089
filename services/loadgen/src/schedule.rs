//! When each simulated charger starts and when its periodic messages fall due.
//!
//! Pure arithmetic on durations, so the scheduling rules are unit-tested without
//! sockets or a runtime: starts are spread evenly over the ramp (a controlled
//! connection storm instead of N simultaneous handshakes), and each periodic message
//! gets a random phase so N chargers with the same interval do not fire in lockstep (the
//! charge point keeps that phase: see `coupler-chargepoint`).

use std::time::Duration;

use rand::Rng;

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

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

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
}
