//! Coupler's domain: the types every other crate speaks, the rules that need no I/O, and the ports
//! (traits) through which the outside world is reached.
//!
//! Nothing here opens a socket, a file or a database. Rules live here so they can be tested as plain
//! functions; the crates around `core` supply the I/O.

pub mod action;
pub mod charger;
pub mod client;
pub mod control;
pub mod page;
pub mod secret;
pub mod store;
pub mod time;
pub mod user;

pub use action::{Action, ActionId, ActionKind, ActionState, DeviceKind, FailureType};
pub use charger::{ChargeSession, Charger, ChargerId, OcppIdentity, PowerDeliveryState};
pub use client::{AccessToken, Client, ClientId};
pub use page::{Cursor, CursorError, Page, PageKey, PageRequest};
pub use store::{ActionStore, ChargerStore, ClientStore, Store, StoreError, UserStore};
pub use user::{User, UserId, UserIdError};
