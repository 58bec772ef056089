//! The `coupler` binary as a library: the CLI, configuration, wiring and shutdown. `main.rs` only
//! parses arguments and calls [`cli::run`]; tests start a [`server::Server`] in-process.

pub mod cli;
pub mod config;
pub mod server;
pub mod telemetry;
