//! The storage port. `coupler-store` implements it on SQLite and on PostgreSQL; one test suite holds
//! both to the same behaviour.
//!
//! Every method that touches tenant data takes the calling [`ClientId`]: a store cannot be asked for
//! another client's data by mistake, because there is no method that would answer it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::action::{Action, ActionId, DeviceKind};
use crate::client::{AccessToken, Client, ClientId};
use crate::page::{Page, PageRequest};
use crate::secret::SecretHash;
use crate::user::{User, UserId};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or is overloaded; the call may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule would be broken (for example a client id that exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Backend(String),
}

/// API clients and their access tokens.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    /// A client by id, revoked or not.
    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Revokes a client and every token it holds; `false` when there is no such client.
    async fn revoke_client(&self, id: &ClientId, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Stores an issued access token.
    async fn insert_access_token(&self, token: &AccessToken) -> Result<(), StoreError>;
    /// A token by the hash of its value.
    async fn get_access_token(&self, hash: &SecretHash) -> Result<Option<AccessToken>, StoreError>;
    /// Removes tokens that expired before `before`, returning how many.
    async fn delete_expired_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The users of each client.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user if the client has none by that id. Returns the user and whether it was created.
    async fn upsert_user(&self, client: &ClientId, id: &UserId) -> Result<(User, bool), StoreError>;
    /// One of the client's users.
    async fn get_user(&self, client: &ClientId, id: &UserId) -> Result<Option<User>, StoreError>;
    /// A page of the client's users, newest first.
    async fn list_users(&self, client: &ClientId, page: &PageRequest) -> Result<Page<User>, StoreError>;
    /// Deletes a user and everything below it; `false` when the client has no such user.
    async fn delete_user(&self, client: &ClientId, id: &UserId) -> Result<bool, StoreError>;
}

/// Actions (asynchronous commands) and their attempts.
#[async_trait]
pub trait ActionStore: Send + Sync {
    /// Stores a new action for an existing user of the client; `Conflict` when the user does not
    /// exist or the client already used the action's idempotency key.
    async fn insert_action(&self, action: &Action) -> Result<(), StoreError>;
    /// One of the client's actions.
    async fn get_action(&self, client: &ClientId, id: &ActionId) -> Result<Option<Action>, StoreError>;
    /// The client's action created with this `Idempotency-Key`.
    async fn find_action_by_idempotency_key(&self, client: &ClientId, key: &str) -> Result<Option<Action>, StoreError>;
    /// Saves a changed action, but only while the stored one is still pending: of a cancel and a
    /// confirmation racing, the first to be saved wins. Returns whether it was saved.
    async fn update_action(&self, action: &Action) -> Result<bool, StoreError>;
    /// Every pending action, oldest first: what a restarted node must resume or fail.
    async fn pending_actions(&self) -> Result<Vec<Action>, StoreError>;
    /// The pending actions on one device, oldest first.
    async fn pending_actions_for(&self, target_type: DeviceKind, target_id: &str) -> Result<Vec<Action>, StoreError>;
}

/// All of Coupler's storage.
#[async_trait]
pub trait Store: ClientStore + UserStore + ActionStore + Send + Sync + 'static {
    /// Which backend this is, for logs and `/health/ready`.
    fn backend(&self) -> &'static str;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}
