//! A simulated OEM cloud, and Coupler's adapter for it.
//!
//! [`SimCloud`] is a maker's cloud in miniature, spoken to over real HTTP exactly like a real one:
//!
//! - an OAuth2 authorization server: `GET /{brand}/oauth/authorize` shows a login form, then a
//!   consent page, then redirects back with a code (or `error=access_denied`); `POST
//!   /{brand}/oauth/token` exchanges codes (single use, PKCE S256 checked, redirect URI checked) and
//!   rotates single-use refresh tokens;
//! - a vehicle REST API under `/{brand}/api/v1/...` with bearer tokens, scopes, and the failures real
//!   makers have (sleeping cars, rate limits, commands a brand does not offer);
//! - a control API under `/control/...` that plugs, unplugs and sets state, for the sandbox.
//!
//! Four brands differ as real ones do (see [`Brand`]): Aurora has full control, Boreal cannot stop
//! charging, Cirrus is read-only, and Nimbus falls asleep and rate-limits. One physical model
//! charges plugged-in cars, so state of charge rises while they charge; a car plugged into a
//! simulated charger draws what that charger offers.
//!
//! [`SimCharger`] is a simulated OCPP 1.6J or 2.0.1 charger: a real OCPP-J WebSocket client of
//! Coupler's gateway whose electrical side is that same model; the charge point itself is
//! `coupler-chargepoint`'s sans-io one, which the load generator runs too. [`SimSandbox`] puts both behind
//! core's `Sandbox` port for `coupler serve --sandbox`, and [`SandboxPrices`] gives the sandbox a
//! day-ahead price curve that changes daily.
//!
//! Coupler serves the cloud itself under `/sim` when `COUPLER_SIMULATED_OEM` is on (the sandbox turns
//! it on); tests start it on its own random port with [`SimCloud::spawn`]. [`SimulatedAdapter`]
//! implements `VehicleAdapter` against it with reqwest, like the Tesla and Smartcar adapters do
//! against theirs.

mod adapter;
mod brand;
pub mod charger;
mod cloud;
pub mod commute;
mod html;
pub mod neighbourhood;
pub mod prices;
pub mod sandbox;
mod server;

pub use adapter::SimulatedAdapter;
pub use brand::Brand;
pub use charger::{SimCharger, SimChargerConfig};
pub use cloud::{PlugError, RequestKind, SimCloud, SimConfig, SimVehicle, SimVehicleSpec, SocketReading};
pub use prices::SandboxPrices;
pub use sandbox::SimSandbox;
pub use server::SimServer;
