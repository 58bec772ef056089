//! Handlers, one module per area of the REST surface.

pub mod actions;
pub mod branding;
pub mod chargers;
pub mod control;
pub mod enrol_pages;
pub mod ev_systems;
pub mod events;
pub mod flex;
pub mod id_tokens;
pub mod intervals;
pub mod interventions;
pub mod limits;
pub mod link_pages;
pub mod linking;
pub mod locations;
pub mod oauth;
pub mod operations;
pub mod ops;
pub mod pages;
pub mod prices;
pub mod sandbox;
pub mod sandbox_neighbourhoods;
pub mod sandbox_time;
pub mod security;
pub mod smart;
pub mod statistics;
pub mod users;
pub mod vehicles;
pub mod webhooks;

/// The security scheme of every tenant-scoped route: OAuth 2.0 client credentials, a bearer token
/// from `/oauth/token`.
/// (`#[utoipa::path]` needs the literal; keep the two in step.)
pub(crate) const CLIENT_CREDENTIALS: &str = "clientCredentials";
