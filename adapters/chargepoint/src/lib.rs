//! One simulated OCPP charge point (1.6J or 2.0.1), without I/O.
//!
//! [`ChargePoint`] is a state machine. It takes inputs — a text frame received
//! ([`ChargePoint::handle_text`]), the passing of time ([`ChargePoint::tick`]), the connection
//! coming and going, and physical events (a car plugged in or out, a card presented, a meter
//! sample) — and hands out outputs: the frames to send ([`ChargePoint::poll_frame`], one call of
//! its own outstanding at a time, as OCPP-J wants, while every call of the server is answered at
//! once), when it next wants a tick ([`ChargePoint::next_timer`]), the current it offers the car
//! ([`ChargePoint::offered_current`]), whether it resets ([`ChargePoint::take_reset`]) and what
//! happened ([`ChargePoint::poll_event`], for statistics and logs). It owns no socket, no task and
//! reads no clock: every input carries the [`Moment`] it happens at.
//!
//! Two drivers share it: the sandbox's simulated chargers (`coupler-simulated`: a WebSocket, a
//! one-second tick and the physical model of cars) and the load generator (`coupler-loadgen`: many
//! WebSockets, timers, statistics). What differs between them is [`Config`].
//!
//! It answers every call a CSMS sends a charge point: 1.6 Core, FirmwareManagement,
//! LocalAuthListManagement, Reservation, SmartCharging and RemoteTrigger, the 1.6 security
//! extension (ExtendedTriggerMessage, CertificateSigned, InstallCertificate,
//! GetInstalledCertificateIds, DeleteCertificate, SignedUpdateFirmware, GetLog), and their 2.0.1
//! counterparts (with GetBaseReport, SendLocalList, CustomerInformation). It keeps one connector
//! (EVSE 1), its transaction, charging profiles ([`profile`]), configuration keys / device-model
//! variables, a local authorisation list, an authorisation cache, a reservation, availability,
//! firmware and upload jobs walked to their final status, and installed certificates. Actions the
//! version does not define get a `NotImplemented` CALLERROR; malformed payloads the CALLERROR the
//! schema rule calls for.
//!
//! - [`machine`]: the state machine, whichever the version; `io` its inputs and outputs, `keeps`
//!   what it keeps besides its connector (profiles, jobs, reservation, authorisation, certificates).
//! - `v16` / `v201`: its calls as typed `coupler-ocpp` messages, and its answers.
//! - `untyped`: the 1.6 local-list and security-extension messages and the 2.0.1 local-list,
//!   certificate and customer-information ones, read and written as JSON checked here (not
//!   through `coupler-ocpp`'s types, which now cover most of them).
//! - [`profile`]: charging profiles, their stacking and the composite schedule.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod io;
mod keeps;
pub mod machine;
pub mod profile;
mod settings;
mod untyped;
mod v16;
mod v201;

pub use machine::{ChargePoint, Config, Event, Failure, IdToken, Moment, Reading, Sample, Status, StopReason, Vehicle};
pub use profile::{composite, offered_limit, Kind, Period, Profile, Purpose, TxContext};

/// Phase voltage of the simulated charger (what converts a limit in watts to amperes).
pub const VOLTS: f64 = 230.0;
/// Phases the simulated charger supplies.
pub const PHASES: f64 = 3.0;
/// The least current an AC charger may offer (IEC 61851-1): below it the car draws nothing.
pub const MIN_CURRENT: f64 = 6.0;

#[cfg(test)]
mod tests;
