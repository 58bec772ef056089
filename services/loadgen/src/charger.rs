//! One load-generator charge point (1.6 or 2.0.1, per [`Settings::version`]), without I/O: a thin
//! driver of `coupler-chargepoint`'s sans-io [`ChargePoint`], the same charge point the sandbox's
//! simulated chargers run.
//!
//! [`Charger`] adds what a load run needs around it: the scenario (a car plugged in or not, one
//! transaction of a set length started by the charger itself after boot, fixed heartbeat and meter
//! intervals with a phase per charger so chargers do not fire in lockstep), a simple meter (a car
//! that draws what it is offered, up to 16 A on three phases), and the run's statistics, counted
//! from the charge point's events. The session task in [`crate::session`] owns the socket and
//! feeds it text, the passing of time and the connection coming and going.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coupler_chargepoint::{
    ChargePoint, Config, Event, Failure, Moment, Profile, Sample, Vehicle, MIN_CURRENT, PHASES, VOLTS,
};
use coupler_ocpp::rpc::Frame;
use coupler_ocpp::OcppVersion;
use tokio::time::Instant;

use crate::stats::Stats;

/// The most current the simulated car draws, amperes per phase (16 A on three phases at 230 V is
/// 11.04 kW).
const CAR_CURRENT_A: f64 = 16.0;

/// The id tag the chargers start their own transactions with.
pub const LOCAL_ID_TAG: &str = "LOADGEN";

/// Settings shared by every charger of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time between Heartbeats; zero sends none.
    pub heartbeat_interval: Duration,
    /// Time between MeterValues; zero sends none.
    pub meter_interval: Duration,
    /// Whether each charger starts a transaction once booted.
    pub transactions: bool,
    /// How long a transaction lasts before the charger stops it.
    pub transaction_duration: Duration,
    /// Whether a vehicle is plugged into connector 1 while no transaction runs (it reports
    /// Preparing instead of Available), so a remote start can begin charging.
    pub plugged_in: bool,
    /// How long a CALL may wait for its answer before it counts as timed out.
    pub call_timeout: Duration,
    /// The OCPP version spoken.
    pub version: OcppVersion,
}

/// What makes one charger different from the others.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The charge point identity (the last URL segment and the Basic-auth user).
    pub ocpp_id: String,
    /// Delay before the first Heartbeat after boot, in `[0, heartbeat interval)`.
    pub heartbeat_phase: Duration,
    /// Delay before the first MeterValues after boot, in `[0, meter interval)`.
    pub meter_phase: Duration,
    /// Reading of the energy register at the start, in Wh.
    pub initial_energy_wh: f64,
}

/// What the session must do after a message from the server.
#[derive(Debug, Default)]
pub struct Reaction {
    /// A frame to send back at once (the answer to a CALL, or a CALLERROR for a broken frame).
    pub reply: Option<Frame>,
    /// Whether the message was a RemoteStartTransaction (what `--command-latency` waits for).
    pub remote_start: bool,
}

/// One simulated charge point with one connector.
#[derive(Debug)]
pub struct Charger {
    settings: Arc<Settings>,
    charge_point: ChargePoint,
    /// The run's timeline: the wall-clock time of an instant is taken from this pair, so the
    /// charge point sees one consistent clock.
    origin: (Instant, DateTime<Utc>),
    /// The latest instant an input came at.
    last: Instant,
    /// Whether the simulated car is plugged in.
    plugged: bool,
    energy_wh: f64,
    energy_at: Option<Instant>,
    /// Whether the one transaction of `--transactions` has been started.
    own_transaction_started: bool,
    /// When the charger stops the running transaction itself.
    stop_at: Option<Instant>,
    shutting_down: bool,
}

/// The car the load generator plugs in.
fn car() -> Vehicle {
    Vehicle {
        id: "loadgen-car".to_owned(),
        mac_address: None,
    }
}

/// The charge point serial number field holds 25 characters; longer identities are cut.
fn truncated(text: &str) -> &str {
    match text.char_indices().nth(25) {
        Some((cut, _)) => text.get(..cut).unwrap_or(text),
        None => text,
    }
}

impl Charger {
    /// A charger that has not connected yet.
    pub fn new(settings: Arc<Settings>, identity: Identity) -> Self {
        let config = Config {
            vendor: "Coupler".to_owned(),
            model: "LoadGen".to_owned(),
            serial_number: truncated(&identity.ocpp_id).to_owned(),
            firmware_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_current: CAR_CURRENT_A,
            free_vend: false,
            free_vend_id_tag: LOCAL_ID_TAG.to_owned(),
            sends_vehicle_identity: false,
            authorize_local_starts: false,
            boot_every_connection: false,
            heartbeat_interval: settings.heartbeat_interval,
            follow_server_intervals: false,
            heartbeat_phase: Some(identity.heartbeat_phase),
            meter_interval: settings.meter_interval,
            meter_phase: Some(identity.meter_phase),
            meter_when_idle: true,
            call_timeout: settings.call_timeout,
            transaction_prefix: "LG-TX".to_owned(),
            ..Config::home(&identity.ocpp_id, settings.version)
        };
        let now = Instant::now();
        let mut charger = Self {
            charge_point: ChargePoint::new(config),
            origin: (now, Utc::now()),
            last: now,
            plugged: false,
            energy_wh: identity.initial_energy_wh,
            energy_at: None,
            own_transaction_started: false,
            stop_at: None,
            shutting_down: false,
            settings,
        };
        charger.sync(now);
        charger
    }

    /// Whether the server has accepted the charger's boot.
    pub fn is_booted(&self) -> bool {
        self.charge_point.is_booted()
    }

    /// Whether connector 1 has a transaction starting, running or stopping.
    pub fn has_transaction(&self) -> bool {
        self.charge_point.has_transaction()
    }

    /// The charging profiles the charge point holds.
    pub fn profiles(&self) -> &[Profile] {
        self.charge_point.profiles()
    }

    /// The most current the charger offers with no profile in force, amperes per phase (its
    /// rating, which a composite schedule never exceeds).
    pub fn rating(&self) -> f64 {
        self.charge_point.config().max_current
    }

    /// `now` on the charger's wall clock: the one its profiles' windows and its composite
    /// schedule are reckoned on.
    pub fn wall_time(&self, now: Instant) -> DateTime<Utc> {
        self.moment(now).wall
    }

    /// Whether nothing is outstanding or queued (the charger may close its connection).
    pub fn is_quiet(&self) -> bool {
        self.charge_point.is_quiet()
    }

    /// Whether the charger reset and wants its connection closed (it boots on the next one).
    pub fn take_reset(&mut self) -> bool {
        self.charge_point.take_reset()
    }

    /// A connection was opened: boot, or after a reconnect report the connectors again
    /// (OCPP 1.6 §5.4: no new BootNotification unless the boot data changed).
    pub fn on_connected(&mut self, stats: &Stats) {
        let at = self.moment(self.last);
        self.charge_point.connected(at);
        self.after(self.last, stats);
    }

    /// The connection was lost: our outstanding call will never be answered.
    pub fn on_disconnected(&mut self, now: Instant, stats: &Stats) {
        self.sync(now);
        let at = self.moment(now);
        self.charge_point.disconnected(at);
        self.after(now, stats);
    }

    /// The next CALL to send, if none is outstanding; it becomes the outstanding one.
    pub fn poll_call(&mut self, now: Instant, stats: &Stats) -> Option<Frame> {
        self.sync(now);
        let frame = self.charge_point.poll_frame(self.moment(now));
        if let Some(Frame::Call { action, .. }) = &frame {
            Stats::bump(&stats.counters.calls_sent);
            stats.sent_by_action.add(action);
        }
        self.after(now, stats);
        frame
    }

    /// When [`Charger::on_timer`] next has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let at = self.moment(self.last);
        let timer = self
            .charge_point
            .next_timer(at)
            .map(|instant| self.last + instant.saturating_duration_since(at.instant));
        let stop = self.stop_at.filter(|_| !self.shutting_down);
        [timer, stop].into_iter().flatten().min()
    }

    /// Lets time pass: times out the outstanding call, retries a boot, queues periodic
    /// messages and stops a transaction that has run its course.
    pub fn on_timer(&mut self, now: Instant, stats: &Stats) {
        self.sync(now);
        let at = self.moment(now);
        self.charge_point.tick(at);
        if self.stop_at.is_some_and(|stop| stop <= now) && !self.shutting_down {
            self.stop_at = None;
            self.charge_point.stop_transaction(at);
        }
        self.after(now, stats);
    }

    /// Winds down for the end of the run: no more periodic messages, and a running
    /// transaction is stopped so the server is left with no open transaction.
    pub fn begin_shutdown(&mut self, now: Instant, stats: &Stats) {
        self.shutting_down = true;
        self.sync(now);
        self.charge_point.begin_shutdown(self.moment(now));
        self.after(now, stats);
    }

    /// Handles one text message from the server.
    pub fn handle_text(&mut self, now: Instant, text: &str, stats: &Stats) -> Reaction {
        self.sync(now);
        let reply = self.charge_point.handle_text(self.moment(now), text);
        let remote_start = self.after(now, stats);
        Reaction { reply, remote_start }
    }

    // ---- The run's clock and physical side. ----

    /// `now` on the charge point's two clocks.
    fn moment(&self, now: Instant) -> Moment {
        let since = now.saturating_duration_since(self.origin.0);
        let wall = self.origin.1 + chrono::Duration::from_std(since).unwrap_or_default();
        Moment::new(now.into_std(), wall)
    }

    /// What the car draws now: what it is offered, up to its own maximum.
    fn drawn_current(&self) -> f64 {
        let offered = self.charge_point.offered_current();
        if self.plugged && self.charge_point.is_charging() && offered >= MIN_CURRENT {
            offered.min(CAR_CURRENT_A)
        } else {
            0.0
        }
    }

    /// Brings the energy register up to `now` and tells the charge point what its meter reads.
    fn sync(&mut self, now: Instant) {
        let current = self.drawn_current();
        if let Some(at) = self.energy_at {
            let hours = now.saturating_duration_since(at).as_secs_f64() / 3600.0;
            self.energy_wh += current * VOLTS * PHASES * hours;
        }
        self.energy_at = Some(now);
        self.last = self.last.max(now);
        let sample = Sample {
            energy_wh: self.energy_wh,
            power_w: current * VOLTS * PHASES,
            current_a: current,
        };
        self.charge_point.meter(self.moment(now), sample);
    }

    /// After an input: counts what happened, follows the scenario (the charger's own transaction,
    /// the car coming for a transaction and leaving after it) and reads the meter again. Whether a
    /// remote start arrived.
    fn after(&mut self, now: Instant, stats: &Stats) -> bool {
        let at = self.moment(now);
        let mut remote_start = false;
        let mut booted = false;
        while let Some(event) = self.charge_point.poll_event() {
            match event {
                Event::BootAccepted => booted = true,
                Event::TransactionStarted => self.stop_at = Some(now + self.settings.transaction_duration),
                Event::TransactionStopped => self.stop_at = None,
                Event::RemoteStartRequested => remote_start = true,
                _ => {}
            }
            count(&event, stats, &self.settings);
        }
        if booted && self.settings.transactions && !self.own_transaction_started && !self.shutting_down {
            self.own_transaction_started = true;
            self.charge_point.present_card(at, LOCAL_ID_TAG);
        }
        // The car is there while the scenario has it plugged in, and for every transaction.
        let wanted =
            self.settings.plugged_in || self.charge_point.has_transaction() || self.charge_point.awaits_vehicle();
        if wanted && !self.plugged {
            self.plugged = true;
            self.charge_point.plug_in(at, car());
        } else if !wanted && self.plugged {
            self.plugged = false;
            self.charge_point.unplug(at);
        }
        self.sync(now);
        // What the scenario changed may have been counted too.
        while let Some(event) = self.charge_point.poll_event() {
            count(&event, stats, &self.settings);
        }
        remote_start
    }
}

/// Counts one event of the charge point in the run's statistics.
fn count(event: &Event, stats: &Stats, settings: &Settings) {
    let counters = &stats.counters;
    match event {
        Event::CallAnswered { latency, .. } => {
            Stats::bump(&counters.calls_answered);
            stats.record_latency(*latency);
        }
        Event::CallFailed { action, failure } => match failure {
            Failure::CallError { code, description } => {
                Stats::bump(&counters.call_errors);
                stats
                    .call_error_log
                    .note(&format!("{action}: CALLERROR {code}: {description}"));
            }
            Failure::InvalidAnswer(error) => {
                Stats::bump(&counters.invalid_responses);
                stats.call_error_log.note(&format!("{action}: invalid answer: {error}"));
            }
            Failure::BrokenAnswer(description) => {
                Stats::bump(&counters.invalid_responses);
                stats
                    .call_error_log
                    .note(&format!("{action}: broken answer: {description}"));
            }
            Failure::Timeout => {
                Stats::bump(&counters.timeouts);
                stats.call_error_log.note(&format!(
                    "{action}: no answer within {} s",
                    settings.call_timeout.as_secs_f64()
                ));
            }
            Failure::Lost => Stats::bump(&counters.lost_on_disconnect),
        },
        Event::Skipped { .. } => Stats::bump(&counters.skipped),
        Event::UnexpectedResponse => Stats::bump(&counters.unexpected_responses),
        Event::ProtocolError { description } => {
            Stats::bump(&counters.protocol_errors);
            stats
                .incoming_error_log
                .note(&format!("broken frame from the server: {description}"));
        }
        Event::BuildFailed { action, error } => {
            stats.call_error_log.note(&format!("could not build {action}: {error}"))
        }
        Event::BootAccepted => Stats::bump(&counters.boots_accepted),
        Event::BootNotAccepted => Stats::bump(&counters.boots_not_accepted),
        Event::TransactionStarted => Stats::bump(&counters.transactions_started),
        Event::TransactionRefused => {
            Stats::bump(&counters.transactions_refused);
            stats.call_error_log.note("transaction start: id tag not accepted");
        }
        Event::TransactionStopped => Stats::bump(&counters.transactions_stopped),
        Event::Incoming { action, refused } => {
            Stats::bump(&counters.incoming_calls);
            stats.incoming_by_action.add(action);
            match refused {
                None => Stats::bump(&counters.incoming_answered),
                Some(error) => {
                    Stats::bump(&counters.incoming_refused);
                    stats.incoming_error_log.note(&format!("{action} refused: {error}"));
                }
            }
        }
        Event::RemoteStartRequested => {}
    }
}

#[cfg(test)]
mod tests;
