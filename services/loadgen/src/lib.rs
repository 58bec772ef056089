//! `coupler-loadgen`: many simulated OCPP 1.6J or 2.0.1 chargers against a running Coupler.
//!
//! A library as well as the binary, so other benchmarks (`coupler-flexbench`) connect their
//! chargers through the same sessions and charge point.
//!
//! - [`cli`]: options and their checks;
//! - [`rest`]: registration and commands through Coupler's REST API, the credentials file;
//! - [`charger`]: one simulated charger without I/O: the scenario, its meter and its statistics
//!   around `coupler-chargepoint`'s sans-io charge point (the one the sandbox runs too);
//! - [`session`]: the task that connects a charger and drives its state machine;
//! - [`schedule`]: ramp-up and the phases of periodic messages;
//! - [`commands`]: the `--command-latency` measurement;
//! - [`stats`] and [`report`]: what is measured and how it is reported;
//! - [`run`]: the phases of a run.
//!
//! Progress goes to stderr every 10 s; the final report goes to stdout, as text or JSON.

pub mod charger;
pub mod cli;
pub mod commands;
pub mod report;
pub mod rest;
pub mod run;
pub mod schedule;
pub mod session;
pub mod stats;
