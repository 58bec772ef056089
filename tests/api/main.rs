//! The REST surface end to end: Coupler on a random port, driven over HTTP as an app would.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod actions;
mod auth;
mod authorisation;
mod chargers;
mod enode;
mod enrolment_page;
mod errors;
mod ev_systems;
mod events;
mod flex;
mod flex_measurement;
mod implausible;
mod limits;
mod linking;
mod makers;
mod metrics;
mod nodes;
mod ocpp16;
mod ocpp16_bad_input;
mod ocpp16_operations;
mod ocpp16_security_extension;
mod ocpp201;
mod ocpp201_bad_input;
mod ocpp201_certificates;
mod ocpp201_operations;
mod openapi;
mod operator;
mod ops;
mod pairing_households;
mod prices;
mod problems;
mod rate_limits;
mod sandbox;
mod sandbox_neighbourhood;
mod sandbox_operations;
mod sandbox_time;
mod sandbox_world;
mod security;
mod smart;
mod statistics;
mod tenancy;
mod users;
mod vehicles;
mod webhooks;
