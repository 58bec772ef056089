//! Coupler's domain: the types every other crate speaks, the rules that need no I/O, and the ports
//! (traits) through which the outside world is reached.
//!
//! Nothing here opens a socket, a file or a database. Rules live here so they can be tested as plain
//! functions; the crates around `core` supply the I/O.

pub mod account;
pub mod action;
pub mod adapter;
pub mod authorisation;
pub mod branding;
pub mod capability;
pub mod charger;
pub mod client;
pub mod clock;
pub mod console;
pub mod control;
pub mod costs;
pub mod ev_system;
pub mod event;
pub mod flex;
mod id;
pub mod intervention;
pub mod limits;
pub mod link;
pub mod location;
pub mod node;
pub mod openadr;
pub mod operation;
pub mod page;
pub mod plan;
pub mod planner;
pub mod plausibility;
pub mod polling;
pub mod sandbox;
pub mod secret;
pub mod security;
pub mod smart;
pub mod store;
pub mod tariff;
pub mod time;
pub mod user;
pub mod vehicle;

pub use action::{Action, ActionId, ActionKind, ActionState, DeviceKind, FailureType};
pub use adapter::{AdapterError, AdapterRegistry, VehicleAdapter};
pub use charger::{ChargeSession, Charger, ChargerId, OcppIdentity, PowerDeliveryState};
pub use client::{AccessToken, Client, ClientId};
pub use page::{Cursor, CursorError, Page, PageKey, PageRequest};
pub use store::{
    ActionStore, AuthorisationStore, ChargerStore, ClientStore, ConsoleStore, EnrolmentSessionStore, EvSystemStore,
    EventStore, FlexStore, InterventionStore, LimitStore, LinkSessionStore, LocationStore, MeasurementStore, NodeStore,
    OperationStore, SecurityStore, SmartChargingStore, Store, StoreError, TariffStore, TransactionEventStore,
    UserStore, VehicleStore, VendorAccountStore, VtnStore, WebhookStore,
};
pub use user::{User, UserId, UserIdError};
pub use vehicle::{Vehicle, VehicleId, Vendor};
