//! Time as a port: the engine (and whatever else is time-dependent) asks a [`Clock`] for the time
//! instead of calling [`crate::time::now`], so that a test can hold time still or move it forward
//! ([`ManualClock`]) rather than sleep until a deadline or a lease runs out.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Where the time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, truncated to microseconds like [`crate::time::now`].
    fn now(&self) -> DateTime<Utc>;

    /// How long to wait on the machine's own timers for `span` of this clock's time to pass: the
    /// span itself, except on a clock that runs faster than real time ([`ScaledClock`]). A span in
    /// the past is no wait.
    fn wall_time(&self, span: chrono::Duration) -> std::time::Duration {
        span.to_std().unwrap_or_default()
    }

    /// How much of this clock's time passes while `wall` passes on the machine's own timers: for
    /// spans that stand for real-world waiting (a lease, a charger's time to answer, a retry's
    /// back-off), so that they last as long in real time whatever the clock's pace.
    fn span_of(&self, wall: std::time::Duration) -> chrono::Duration {
        // Capped, so that a span added to a time can never overflow it (a configured wait of
        // centuries is as good as forever).
        chrono::Duration::from_std(wall).map_or(LONGEST_SPAN, |span| span.min(LONGEST_SPAN))
    }
}

/// The longest span [`Clock::span_of`] gives: a hundred years.
const LONGEST_SPAN: chrono::Duration = chrono::Duration::days(36_525);

/// The system clock: production's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::time::now()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn at(start: DateTime<Utc>) -> Self {
        Self { now: Mutex::new(start) }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::at(crate::time::now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `at` (which may be earlier: a clock that jumps back is a case to test).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A clock that runs `rate` times as fast as the clock under it: the sandbox's time, so that a night
/// of smart charging (plans, deadlines, prices that change daily, chargers following their
/// profiles) can be watched in minutes. At rate 1 it reads exactly as the clock under it; a change
/// of rate, or a jump forward, never moves its time back.
#[derive(Debug)]
pub struct ScaledClock {
    base: std::sync::Arc<dyn Clock>,
    anchor: Mutex<Anchor>,
}

/// Where a [`ScaledClock`] last changed pace: its own time then, the base's time then, the rate since.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    base_at: DateTime<Utc>,
    own_at: DateTime<Utc>,
    rate: f64,
}

impl Default for ScaledClock {
    fn default() -> Self {
        Self::over(std::sync::Arc::new(SystemClock))
    }
}

impl ScaledClock {
    /// A clock reading as `base` and running at its pace, until told to run faster.
    pub fn over(base: std::sync::Arc<dyn Clock>) -> Self {
        let at = base.now();
        Self {
            base,
            anchor: Mutex::new(Anchor {
                base_at: at,
                own_at: at,
                rate: 1.0,
            }),
        }
    }

    fn anchor(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.anchor.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(anchor: &Anchor, base_now: DateTime<Utc>) -> DateTime<Utc> {
        let elapsed = (base_now - anchor.base_at).num_microseconds().unwrap_or(i64::MAX) as f64;
        let scaled = (elapsed * anchor.rate).clamp(i64::MIN as f64, i64::MAX as f64) as i64;
        anchor.own_at + chrono::Duration::microseconds(scaled)
    }

    /// How many times as fast as the clock under it this clock runs.
    pub fn rate(&self) -> f64 {
        self.anchor().rate
    }

    /// Runs at `rate` from now on (a finite number above zero; the caller checks its bounds).
    pub fn set_rate(&self, rate: f64) {
        let base_now = self.base.now();
        let mut anchor = self.anchor();
        let own_now = Self::read(&anchor, base_now);
        *anchor = Anchor {
            base_at: base_now,
            own_at: own_now,
            rate,
        };
    }

    /// Jumps forward by `by` (a negative span is ignored: this clock never runs backwards).
    pub fn advance(&self, by: chrono::Duration) {
        if by > chrono::Duration::zero() {
            self.anchor().own_at += by;
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let base_now = self.base.now();
        use chrono::SubsecRound;
        Self::read(&self.anchor(), base_now).trunc_subsecs(6)
    }

    fn wall_time(&self, span: chrono::Duration) -> std::time::Duration {
        let rate = self.rate();
        self.base.wall_time(span).div_f64(rate.max(f64::MIN_POSITIVE))
    }

    fn span_of(&self, wall: std::time::Duration) -> chrono::Duration {
        let rate = self.rate().clamp(1.0, 1e6);
        let scaled =
            std::time::Duration::try_from_secs_f64(wall.as_secs_f64() * rate).unwrap_or(std::time::Duration::MAX);
        self.base.span_of(scaled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_or_set() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = ManualClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::seconds(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn a_scaled_clock_reads_as_its_base_until_it_runs_faster() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let base = std::sync::Arc::new(ManualClock::at(start));
        let scaled = ScaledClock::over(base.clone());
        base.advance(chrono::Duration::seconds(10));
        assert_eq!(scaled.now(), start + chrono::Duration::seconds(10));

        scaled.set_rate(60.0);
        base.advance(chrono::Duration::seconds(10));
        assert_eq!(scaled.now(), start + chrono::Duration::seconds(10 + 600));
        assert_eq!(
            scaled.wall_time(chrono::Duration::minutes(1)),
            std::time::Duration::from_secs(1)
        );
        assert_eq!(
            scaled.span_of(std::time::Duration::from_secs(30)),
            chrono::Duration::minutes(30)
        );
        // A wait of any length stays a span that can be added to a time.
        let forever = scaled.span_of(std::time::Duration::MAX);
        assert!(scaled.now().checked_add_signed(forever).is_some());
    }

    #[test]
    fn a_scaled_clock_slowed_down_or_jumped_keeps_its_time_and_never_goes_back() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let base = std::sync::Arc::new(ManualClock::at(start));
        let scaled = ScaledClock::over(base.clone());
        scaled.set_rate(100.0);
        base.advance(chrono::Duration::seconds(6));
        let fast = scaled.now();
        scaled.set_rate(1.0);
        assert_eq!(scaled.now(), fast);
        scaled.advance(chrono::Duration::hours(-3));
        assert_eq!(scaled.now(), fast);
        scaled.advance(chrono::Duration::hours(3));
        assert_eq!(scaled.now(), fast + chrono::Duration::hours(3));
    }
}
