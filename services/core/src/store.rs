//! The storage port. `coupler-store` implements it on SQLite and on PostgreSQL; one test suite holds
//! both to the same behaviour.
//!
//! Every method that touches tenant data takes the calling [`ClientId`]: a store cannot be asked for
//! another client's data by mistake, because there is no method that would answer it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{SealedToken, SealedTokens, VendorAccount, VendorAccountId};
use crate::action::{Action, ActionId, DeviceKind};
use crate::authorisation::{IdToken, IdTokenId, IdTokenStatus, LocalListEntry, TokenLookup, UnknownTokenPolicy};
use crate::branding::{Branding, BrandingText, Logo};
use crate::charger::{
    ChargeSession, Charger, ChargerId, ChargerInfo, ConnectorStatus, MeterSample, OcppIdentity, OcppProtocol,
    PowerDeliveryState,
};
use crate::client::{AccessToken, Client, ClientId};
use crate::console::{ConsoleLogin, ConsoleSession};
use crate::control::ChargerCommand;
use crate::ev_system::{Confidence, Detection, EvSystem, EvSystemId, Evidence};
use crate::event::{AttemptOutcome, Delivery, DeliveryId, Event, PendingEvent, Webhook, WebhookId};
use crate::flex::{
    EnrolledDevice, Enrolment, EnrolmentId, EnrolmentSession, EnrolmentSessionId, EnrolmentSessionStatus,
    EnrolmentState, FlexEvent, FlexEventId, FlexTarget, FlexTargetId, Group, GroupId, OptOut, Program, ProgramId,
    TargetState,
};
use crate::intervention::{Intervention, InterventionId};
use crate::limits::{ChargerCapabilities, ChargerLimitState, LimitScope, LimitSource, LimitSourceId, SchedulePeriod};
use crate::link::{LinkCompletion, LinkSession, LinkSessionId, LinkedAccount};
use crate::location::{Location, LocationFields, LocationId};
use crate::node::{NodeId, SignalBus};
use crate::operation::{Operation, OperationId, OperationKind, Reservation, ReservationStatus};
use crate::page::{Page, PageRequest};
use crate::polling::PollUpdate;
use crate::secret::SecretHash;
use crate::security::{IssuedCertificate, SecurityEvent, SecurityEventId};
use crate::smart::{PolicyTarget, SmartPlan, SmartPlanId, SmartPolicy, SmartPolicyId};
use crate::tariff::{
    PriceArea, PriceScope, ProviderStatus, Series, SeriesKind, SeriesOwner, SeriesPush, SeriesSlot, TouTariff,
};
use crate::user::{User, UserId};
use crate::vehicle::{Vehicle, VehicleId, Vendor};

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
    /// How the client presents itself on the hosted pages; the default (nothing set) when it set
    /// nothing.
    async fn get_branding(&self, client: &ClientId) -> Result<Branding, StoreError>;
    /// Replaces the client's app name, privacy policy and return URL (the logo stays); returns the
    /// branding as stored.
    async fn put_branding(
        &self,
        client: &ClientId,
        text: &BrandingText,
        at: DateTime<Utc>,
    ) -> Result<Branding, StoreError>;
    /// Replaces the client's logo, or removes it with `None`; returns the branding as stored.
    async fn put_logo(&self, client: &ClientId, logo: Option<&Logo>, at: DateTime<Utc>)
        -> Result<Branding, StoreError>;
    /// The client's logo with its bytes, if it has one.
    async fn get_logo(&self, client: &ClientId) -> Result<Option<Logo>, StoreError>;
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
    /// The client's latest actions, newest first, at most `limit` (the console's list of actions).
    async fn recent_actions(&self, client: &ClientId, limit: u32) -> Result<Vec<Action>, StoreError>;
    /// The client's action created with this `Idempotency-Key`.
    async fn find_action_by_idempotency_key(&self, client: &ClientId, key: &str) -> Result<Option<Action>, StoreError>;
    /// Saves a changed action, but only while the stored one is still pending: of a cancel and a
    /// confirmation racing, the first to be saved wins. Returns whether it was saved.
    async fn update_action(&self, action: &Action) -> Result<bool, StoreError>;
    /// Every pending action, oldest first: what a restarted node must resume or fail.
    async fn pending_actions(&self) -> Result<Vec<Action>, StoreError>;
    /// The pending actions on one device, oldest first.
    async fn pending_actions_for(&self, target_type: DeviceKind, target_id: &str) -> Result<Vec<Action>, StoreError>;
    /// Takes or renews the lease on a pending action for `holder` until `until`, in one atomic
    /// step: granted when nobody holds it, when `holder` already does (a renewal), or when the
    /// other holder's lease ran out by `now`. `false` when another runner holds it or the action is
    /// no longer pending: exactly one runner drives an action at a time.
    async fn lease_action(
        &self,
        id: &ActionId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives up `holder`'s lease on an action (someone else's is left alone).
    async fn release_action(&self, id: &ActionId, holder: &str) -> Result<(), StoreError>;
    /// Hands `from`'s lease on a pending action to `to` until `until`, in one atomic step (the
    /// node that holds the socket of the charger it goes through takes it up at once; no other
    /// runner may take it before the lease lapses). `false` when `from` does not hold it or it is
    /// no longer pending.
    async fn hand_over_action(
        &self,
        id: &ActionId,
        from: &str,
        to: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// The nodes sharing the database and which of them holds each connected charger's socket.
///
/// A node's lease is its heartbeat: it renews it while it runs and gives it up when it stops. A
/// charger is held by the node that recorded its latest connection, for as long as that node's
/// lease lasts, so one renewal keeps all of a node's chargers. A node whose lease lapsed is dead:
/// [`NodeStore::sweep_lapsed_nodes`] removes it and marks its chargers disconnected.
#[async_trait]
pub trait NodeStore: Send + Sync {
    /// Registers `node` (started `at`) with a lease until `until`. The chargers an earlier run of
    /// the same node held are let go and marked disconnected (no socket survives a restart).
    /// Returns how many chargers were let go.
    async fn register_node(&self, node: &NodeId, at: DateTime<Utc>, until: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Renews `node`'s lease until `until`. `false` when the node was no longer registered (it was
    /// swept away as dead after missing its renewals): it is registered again, holding no charger,
    /// and should claim again the chargers it still has connections of.
    async fn renew_node(&self, node: &NodeId, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Gives up `node`'s lease (a node that stops): the chargers it still holds are marked
    /// disconnected and let go.
    async fn retire_node(&self, node: &NodeId) -> Result<(), StoreError>;
    /// Removes the nodes whose lease lapsed by `now` (they died) and marks the chargers they held
    /// disconnected; the leases they held on pending actions are given up, so a live node's runner
    /// resumes those actions at once, and the operations they had not had answered fail as
    /// `INTERRUPTED`. When a node was removed, or when `strays` is set, chargers recorded as
    /// connected that no node holds are marked disconnected too: that look reads every connected
    /// charger, so nodes ask for it only now and then rather than at every renewal. Returns how
    /// many chargers were marked disconnected.
    async fn sweep_lapsed_nodes(&self, now: DateTime<Utc>, strays: bool) -> Result<u64, StoreError>;
    /// Records that `node` holds `charger`'s socket, its connection `connection`, from `at`, in
    /// place of whoever held it. Returns the node that held it before, when that was another.
    async fn claim_charger(
        &self,
        charger: &ChargerId,
        node: &NodeId,
        connection: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<NodeId>, StoreError>;
    /// Lets `charger` go if `node` still holds it with `connection`; `true` when it did (the
    /// caller then records the disconnection), `false` when another node or connection took it.
    async fn release_charger(&self, charger: &ChargerId, node: &NodeId, connection: i64) -> Result<bool, StoreError>;
    /// The node that holds `charger`'s socket with a lease still running at `now`.
    async fn charger_owner(&self, charger: &ChargerId, now: DateTime<Utc>) -> Result<Option<NodeId>, StoreError>;
    /// The nodes whose lease still runs at `now`, by id.
    async fn live_nodes(&self, now: DateTime<Utc>) -> Result<Vec<NodeId>, StoreError>;
    /// Claims the job `name` (work that must run on one node at a time) for `node` until `until`,
    /// in one statement: it succeeds when nobody holds it, when `node` holds it already (a
    /// renewal), or when the holder's lease lapsed by `now`. `true` when `node` holds it now.
    async fn claim_singleton(
        &self,
        name: &str,
        node: &NodeId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives up every job `node` holds (a node that stops), so another node takes them at its next
    /// claim rather than when their leases lapse. Returns how many it gave up.
    async fn release_singletons(&self, node: &NodeId) -> Result<u64, StoreError>;
    /// Each job held with a lease still running at `now`, and its holder, by name.
    async fn singleton_holders(&self, now: DateTime<Utc>) -> Result<Vec<(String, NodeId)>, StoreError>;
}

/// Link sessions of the hosted link page.
///
/// A session is found by the hash of its link token or of its OAuth `state`: whoever holds the token
/// is the person the app sent, so these lookups take no client id. Everything they return carries
/// the session's client id, and what a session writes is written under it.
#[async_trait]
pub trait LinkSessionStore: Send + Sync {
    /// Stores a new session for an existing user of the client; `Conflict` when the user does not exist.
    async fn insert_link_session(&self, session: &LinkSession) -> Result<(), StoreError>;
    /// The session whose link token hashes to `token_hash`.
    async fn get_link_session_by_token(&self, token_hash: &SecretHash) -> Result<Option<LinkSession>, StoreError>;
    /// The session whose OAuth `state` hashes to `state_hash`.
    async fn get_link_session_by_state(&self, state_hash: &SecretHash) -> Result<Option<LinkSession>, StoreError>;
    /// Records that the person was sent to `vendor`'s sign-in with a new `state` and PKCE verifier,
    /// replacing any earlier ones. Only while the session is neither over nor expired at `now`;
    /// returns whether it was recorded.
    async fn begin_authorization(
        &self,
        id: &LinkSessionId,
        vendor: &Vendor,
        state_hash: &SecretHash,
        pkce_verifier: &SealedToken,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Ends a session that is not over yet with an error code; returns whether it was ended here.
    async fn fail_link_session(&self, id: &LinkSessionId, error: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// In one transaction: ends the session (only if it is still waiting for the callback), creates
    /// or updates the user's account at the vendor with the sealed tokens, creates or updates the
    /// account's vehicles and removes the ones it no longer has, and resolves the account's open
    /// intervention. `None` when the session was no longer waiting: then nothing was written.
    async fn complete_link(&self, completion: &LinkCompletion) -> Result<Option<LinkedAccount>, StoreError>;
}

/// Linked vendor accounts and their tokens.
#[async_trait]
pub trait VendorAccountStore: Send + Sync {
    /// One of the client's accounts.
    async fn get_vendor_account(
        &self,
        client: &ClientId,
        id: &VendorAccountId,
    ) -> Result<Option<VendorAccount>, StoreError>;
    /// A user's accounts, oldest first.
    async fn list_vendor_accounts(&self, client: &ClientId, user: &UserId) -> Result<Vec<VendorAccount>, StoreError>;
    /// Removes a user's account at a vendor with its vehicles and interventions; `false` when there is none.
    async fn delete_vendor_account(
        &self,
        client: &ClientId,
        user: &UserId,
        vendor: &Vendor,
    ) -> Result<bool, StoreError>;
    /// Valid accounts of every client whose access token expires before `before` and that no node is
    /// refreshing at `now`, soonest first. For the token refresher, which works for all clients.
    async fn accounts_due_for_refresh(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VendorAccount>, StoreError>;
    /// Takes the right to refresh the account's tokens until `until`, unless another holder's lease
    /// is still running at `now`. A single-use refresh token must be sent only once.
    async fn claim_token_refresh(
        &self,
        client: &ClientId,
        id: &VendorAccountId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives up a refresh lease without changing the tokens.
    async fn release_token_refresh(&self, client: &ClientId, id: &VendorAccountId) -> Result<(), StoreError>;
    /// Replaces access and refresh token together, only if the stored tokens are still version
    /// `expected_version`; bumps the version and releases the lease. Returns whether it replaced them.
    async fn replace_tokens(
        &self,
        client: &ClientId,
        id: &VendorAccountId,
        expected_version: i64,
        tokens: &SealedTokens,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// In one transaction: marks a valid account invalid, marks its vehicles unreachable, and stores
    /// the intervention. Returns `false` (and writes nothing) when the account was already invalid.
    async fn invalidate_account(&self, intervention: &Intervention) -> Result<bool, StoreError>;
}

/// Vehicles and their polling state.
#[async_trait]
pub trait VehicleStore: Send + Sync {
    /// A page of the client's vehicles (of one user, when given), newest first.
    async fn list_vehicles(
        &self,
        client: &ClientId,
        user: Option<&UserId>,
        page: &PageRequest,
    ) -> Result<Page<Vehicle>, StoreError>;
    /// One of the client's vehicles.
    async fn get_vehicle(&self, client: &ClientId, id: &VehicleId) -> Result<Option<Vehicle>, StoreError>;
    /// Asks for a read as soon as limits allow (refresh-hint); `false` when the client has no such vehicle.
    async fn request_vehicle_poll(&self, client: &ClientId, id: &VehicleId) -> Result<bool, StoreError>;
    /// Vehicles of every client whose read is due at `now` (or asked for) and that no node is
    /// reading, on valid accounts, each leased to the caller until `lease_until`. For the poller.
    async fn claim_due_vehicles(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Vehicle>, StoreError>;
    /// Stores what a read (or a put-off read) changed and releases the lease; `false` when the
    /// vehicle is gone.
    async fn save_poll(&self, client: &ClientId, id: &VehicleId, update: &PollUpdate) -> Result<bool, StoreError>;
}

/// Interventions: what users must do.
#[async_trait]
pub trait InterventionStore: Send + Sync {
    /// A page of the client's interventions, newest first; resolved ones only when asked.
    async fn list_interventions(
        &self,
        client: &ClientId,
        include_resolved: bool,
        page: &PageRequest,
    ) -> Result<Page<Intervention>, StoreError>;
    /// One of the client's interventions.
    async fn get_intervention(
        &self,
        client: &ClientId,
        id: &InterventionId,
    ) -> Result<Option<Intervention>, StoreError>;
}

/// What the gateway needs to admit a connecting charger.
#[derive(Debug, Clone)]
pub struct ChargerCredentials {
    /// The charger.
    pub charger_id: ChargerId,
    /// Hash of its Basic-auth password.
    pub password_hash: SecretHash,
}

/// A new session, as a StartTransaction reports it.
#[derive(Debug, Clone)]
pub struct SessionStart<'a> {
    /// Connector.
    pub connector_id: u32,
    /// Id tag that started it.
    pub id_tag: Option<&'a str>,
    /// Energy register at the start, Wh.
    pub meter_start_wh: f64,
    /// When it started (charger's clock).
    pub started_at: DateTime<Utc>,
}

/// The end of a session, as a StopTransaction reports it.
#[derive(Debug, Clone)]
pub struct SessionStop<'a> {
    /// The transaction.
    pub transaction_id: i64,
    /// Energy register at the end, Wh.
    pub meter_stop_wh: f64,
    /// When it ended (charger's clock).
    pub stopped_at: DateTime<Utc>,
    /// Why it ended.
    pub reason: Option<&'a str>,
    /// Meter readings the charger sent with it.
    pub samples: &'a [MeterSample],
}

/// Chargers, their connectors, sessions and meter readings.
///
/// The methods that take a [`ClientId`] serve the REST API and see only that client's chargers. The
/// others serve the gateway and the engine, which act for the charger itself (found by its identity
/// or id) and are never reached with a caller-chosen id.
#[async_trait]
pub trait ChargerStore: Send + Sync {
    /// Registers a charger for an existing user; `Conflict` when the user does not exist or the OCPP
    /// identity is taken (identities are global: the URL names no tenant).
    async fn insert_charger(&self, charger: &Charger, password_hash: &SecretHash) -> Result<(), StoreError>;
    /// One of the client's chargers.
    async fn get_charger(&self, client: &ClientId, id: &ChargerId) -> Result<Option<Charger>, StoreError>;
    /// A page of the client's chargers (of one user, when given), newest first.
    async fn list_chargers(
        &self,
        client: &ClientId,
        user: Option<&UserId>,
        page: &PageRequest,
    ) -> Result<Page<Charger>, StoreError>;
    /// Renames or places one of the client's chargers (`Some(None)` clears a field).
    async fn update_charger(
        &self,
        client: &ClientId,
        id: &ChargerId,
        name: Option<Option<&str>>,
        location_id: Option<Option<&str>>,
    ) -> Result<Option<Charger>, StoreError>;
    /// Deletes one of the client's chargers with its sessions and readings.
    async fn delete_charger(&self, client: &ClientId, id: &ChargerId) -> Result<bool, StoreError>;
    /// A page of one of the client's chargers' sessions, newest first; `None` when the client has no
    /// such charger.
    async fn list_sessions(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        page: &PageRequest,
    ) -> Result<Option<Page<ChargeSession>>, StoreError>;

    /// The client's sessions in `scope` that overlap `[from, to)`, oldest first, at most `limit`
    /// (statistics and costs read them).
    async fn sessions_overlapping(
        &self,
        client: &ClientId,
        scope: &crate::costs::StatisticsScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ChargeSession>, StoreError>;
    /// A session's energy register readings in time order: its start, every reading the charger
    /// sent, and its last or stop reading.
    async fn session_energy_readings(
        &self,
        session: &ChargeSession,
    ) -> Result<Vec<crate::costs::EnergyReading>, StoreError>;

    /// The credentials of the charger with this identity.
    async fn charger_credentials(&self, ocpp_id: &OcppIdentity) -> Result<Option<ChargerCredentials>, StoreError>;
    /// A charger by id, whoever owns it.
    async fn charger(&self, id: &ChargerId) -> Result<Option<Charger>, StoreError>;
    /// Records a connection opening (with its OCPP version) or closing.
    async fn record_connection(
        &self,
        id: &ChargerId,
        version: Option<OcppProtocol>,
        connected: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Marks every charger disconnected: at start-up, no connection survives a restart.
    async fn mark_all_disconnected(&self) -> Result<u64, StoreError>;
    /// Records what a BootNotification said.
    async fn record_boot(&self, id: &ChargerId, info: &ChargerInfo, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records that the charger was heard from.
    async fn record_seen(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a connector's status.
    async fn record_status(&self, id: &ChargerId, status: &ConnectorStatus) -> Result<(), StoreError>;
    /// Records an id tag the charger presented (RFID, or `VID:` vehicle identity).
    async fn record_id_tag(&self, id: &ChargerId, id_tag: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Starts a session and returns its transaction id. A repeated start (same connector, time and
    /// meter reading: a charger retrying after a lost answer) returns the first one's id.
    async fn start_session(&self, id: &ChargerId, start: &SessionStart<'_>) -> Result<i64, StoreError>;
    /// Ends a session with its readings; `false` when the charger has no such transaction (its
    /// readings are still kept).
    async fn stop_session(&self, id: &ChargerId, stop: &SessionStop<'_>) -> Result<bool, StoreError>;
    /// Stores meter readings and folds them into the live readings and the session's energy.
    async fn record_meter_values(
        &self,
        id: &ChargerId,
        connector_id: u32,
        transaction_id: Option<i64>,
        samples: &[MeterSample],
    ) -> Result<(), StoreError>;
    /// The charger's running session, if any (the newest, should there be several).
    async fn active_session(&self, id: &ChargerId) -> Result<Option<ChargeSession>, StoreError>;
    /// Records the maximum current last set through Coupler.
    async fn set_max_current(&self, id: &ChargerId, amps: Option<f64>) -> Result<(), StoreError>;
    /// Records a firmware update status.
    async fn record_firmware_status(&self, id: &ChargerId, status: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// The kind of an OCPP 2.0.1 TransactionEvent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionEventKind {
    /// The transaction started.
    Started,
    /// Something changed during the transaction.
    Updated,
    /// The transaction ended.
    Ended,
}

impl TransactionEventKind {
    /// The OCPP name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "Started",
            Self::Updated => "Updated",
            Self::Ended => "Ended",
        }
    }
}

/// One OCPP 2.0.1 TransactionEvent, as the store keeps it.
#[derive(Debug, Clone)]
pub struct TransactionEventRecord<'a> {
    /// The charger's id of the transaction.
    pub charger_transaction_id: &'a str,
    /// The event's sequence number within the transaction.
    pub seq_no: i64,
    /// Started, Updated or Ended.
    pub kind: TransactionEventKind,
    /// When it happened (charger's clock).
    pub at: DateTime<Utc>,
    /// Whether it happened while the charger was offline.
    pub offline: bool,
    /// The connector (EVSE), when the event names one.
    pub connector_id: Option<u32>,
    /// The id tag that authorised it, when the event carries one.
    pub id_tag: Option<&'a str>,
    /// The remote start that started it, when it says so.
    pub remote_start_id: Option<i64>,
    /// Why it stopped (Ended).
    pub stop_reason: Option<&'a str>,
    /// Meter readings sent with it.
    pub samples: &'a [MeterSample],
    /// The status its connector is in after the event (`chargingState` and the power delivery state
    /// it maps to). Stored in the same database transaction, and only when the event is the newest
    /// of its transaction: a late offline event must not turn back what the charger said since.
    pub connector_state: Option<(&'a str, PowerDeliveryState)>,
}

/// What storing a TransactionEvent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionEventOutcome {
    /// Coupler's id of the session.
    pub transaction_id: i64,
    /// The session's connector (0 while no event named one).
    pub connector_id: u32,
    /// The event was stored before (same transaction and seqNo): nothing changed.
    pub duplicate: bool,
    /// The event is the newest of its transaction so far (highest seqNo), so its charging state is
    /// the current one; an older event arriving late (offline) only adds its readings.
    pub newest: bool,
    /// The session was created by this event.
    pub created: bool,
}

/// OCPP 2.0.1 transactions: the charger names them and numbers their events, so Coupler keeps its
/// own session id beside the charger's and makes each (transaction, seqNo) count once.
#[async_trait]
pub trait TransactionEventStore: Send + Sync {
    /// Records a TransactionEvent in one database transaction: the first event of a transaction
    /// (whatever its kind: offline events may arrive out of order) creates the session; the
    /// lowest seqNo sets its start and the Started event its start time; readings are kept; Ended
    /// stops it. A repeated (transaction, seqNo) changes nothing and says so.
    async fn record_transaction_event(
        &self,
        id: &ChargerId,
        event: &TransactionEventRecord<'_>,
    ) -> Result<TransactionEventOutcome, StoreError>;
    /// The charger's own id of session `transaction_id`, when the charger names its transactions.
    async fn charger_transaction_id(&self, id: &ChargerId, transaction_id: i64) -> Result<Option<String>, StoreError>;
}

/// The event outbox. Events are appended by the other stores inside the transaction of the change
/// that caused them; these methods render, publish and read them.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` events not yet published, oldest first.
    async fn unpublished_events(&self, limit: u32) -> Result<Vec<PendingEvent>, StoreError>;
    /// The most recent published object of an asset (what a deletion event carries).
    async fn last_event_data(&self, asset_id: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Publishes rendered events (`(pending id, data)`), giving them the next sequence numbers in the
    /// order given. `Conflict` when another node published at the same moment; retry.
    async fn publish_events(&self, rendered: &[(i64, serde_json::Value)]) -> Result<(), StoreError>;
    /// The client's published events after `after_seq`, oldest first, at most `limit`.
    async fn events_after(&self, client: &ClientId, after_seq: i64, limit: u32) -> Result<Vec<Event>, StoreError>;
    /// The client's published events about one asset (e.g. an EV system), newest first, at most
    /// `limit`: the asset's history, as far as retention kept it.
    async fn asset_events(&self, client: &ClientId, asset_id: &str, limit: u32) -> Result<Vec<Event>, StoreError>;
    /// The highest published sequence number (0 when there is none).
    async fn latest_seq(&self) -> Result<i64, StoreError>;
    /// Removes published events created before `before`, except each asset's latest (a later
    /// deletion event carries its object). Returns how many were removed.
    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// The receiver accepted it: the delivery succeeded and the webhook's failure count resets.
    Done,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Retries are exhausted: the delivery failed and the webhook becomes inactive.
    GiveUp,
}

/// Webhooks and their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new webhook.
    async fn insert_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;
    /// One of the client's webhooks.
    async fn get_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<Option<Webhook>, StoreError>;
    /// The client's webhooks, newest first.
    async fn list_webhooks(&self, client: &ClientId) -> Result<Vec<Webhook>, StoreError>;
    /// Every active webhook of every client, each with the number of its client's published events
    /// past its cursor (waiting to be given to it), for heartbeats.
    async fn active_webhooks(&self) -> Result<Vec<(Webhook, i64)>, StoreError>;
    /// Saves url, secret, events and activity; reactivating resets the failure count. `false` when
    /// the client has no such webhook.
    async fn update_webhook(&self, webhook: &Webhook) -> Result<bool, StoreError>;
    /// Deletes a webhook and its deliveries; `false` when the client has no such webhook.
    async fn delete_webhook(&self, client: &ClientId, id: &WebhookId) -> Result<bool, StoreError>;
    /// Leases, until `lease_until`, up to `limit` active webhooks that have work (a due retry or
    /// events past their cursor) and no live lease, so one node at a time delivers to each.
    async fn claim_webhooks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Webhook>, StoreError>;
    /// Extends the lease this node holds on a webhook, before each attempt.
    async fn renew_webhook_lease(&self, id: &WebhookId, lease_until: DateTime<Utc>) -> Result<(), StoreError>;
    /// Gives a webhook's lease back.
    async fn release_webhook(&self, id: &WebhookId) -> Result<(), StoreError>;
    /// The webhook's delivery still being retried, if any.
    async fn pending_delivery(&self, id: &WebhookId) -> Result<Option<Delivery>, StoreError>;
    /// Forms the next batch (at most `limit` events past the cursor): moves the cursor past them
    /// and, when the webhook wants any of them, stores a pending delivery due `now`.
    async fn next_delivery(
        &self,
        webhook: &Webhook,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError>;
    /// The events a delivery carries, in order (only the types its webhook wants).
    async fn delivery_events(&self, webhook: &Webhook, delivery: &Delivery) -> Result<Vec<Event>, StoreError>;
    /// Records an attempt and what follows from it.
    async fn record_attempt(
        &self,
        delivery: &DeliveryId,
        outcome: &AttemptOutcome,
        next: AfterAttempt,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records a test call: a success reactivates the webhook and resets its failure count.
    async fn record_test(
        &self,
        client: &ClientId,
        id: &WebhookId,
        succeeded: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The webhook's latest deliveries, newest first; `None` when the client has no such webhook.
    async fn list_deliveries(
        &self,
        client: &ClientId,
        id: &WebhookId,
        limit: u32,
    ) -> Result<Option<Vec<Delivery>>, StoreError>;
    /// Makes a pending or failed delivery of the client's webhook due again at `now` and the webhook
    /// active, so the sender attempts it next (keeping its attempt count: a failed delivery that
    /// fails again stays failed). Refused for a delivery that succeeded, and for one that would
    /// overtake another delivery of the webhook still pending.
    async fn retry_delivery(
        &self,
        client: &ClientId,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<RetryOutcome, StoreError>;
}

/// What asking for a delivery's retry came to.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    /// The delivery is due now; here it is as stored.
    Retried(Delivery),
    /// The client has no such webhook, or the webhook no such delivery.
    NotFound,
    /// The receiver accepted it already.
    AlreadyDelivered,
    /// Another delivery of the webhook is still pending; it goes first.
    AnotherPending,
}

/// Logins to the console and their signed-in sessions.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Stores a new login for an existing client; `Conflict` when the e-mail address has a login
    /// already (at any client) or the client does not exist.
    async fn insert_console_login(&self, login: &ConsoleLogin) -> Result<(), StoreError>;
    /// The login with this (normalised) e-mail address, at whichever client, while its client is not
    /// revoked: what signing in looks up.
    async fn console_login_by_email(&self, email: &str) -> Result<Option<ConsoleLogin>, StoreError>;
    /// The client's logins, oldest first.
    async fn list_console_logins(&self, client: &ClientId) -> Result<Vec<ConsoleLogin>, StoreError>;
    /// Removes the client's login with this e-mail address and signs out every session of it;
    /// `false` when the client has no such login.
    async fn delete_console_login(&self, client: &ClientId, email: &str) -> Result<bool, StoreError>;
    /// Stores a new signed-in session.
    async fn insert_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError>;
    /// The session whose token hashes to `token_hash`, if it has not expired by `now` and its
    /// client is not revoked.
    async fn console_session(
        &self,
        token_hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends a session (signing out); `false` when there was none.
    async fn delete_console_session(&self, token_hash: &SecretHash) -> Result<bool, StoreError>;
    /// Removes sessions that expired before `before`, returning how many.
    async fn delete_expired_console_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The places users charge at.
#[async_trait]
pub trait LocationStore: Send + Sync {
    /// Stores a new location; its user must exist.
    async fn insert_location(&self, location: &Location) -> Result<(), StoreError>;
    /// One of the client's locations.
    async fn get_location(&self, client: &ClientId, id: &LocationId) -> Result<Option<Location>, StoreError>;
    /// A user's locations, newest first.
    async fn list_locations(
        &self,
        client: &ClientId,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Page<Location>, StoreError>;
    /// Replaces a location's fields; `None` when the client has no such location.
    async fn update_location(
        &self,
        client: &ClientId,
        id: &LocationId,
        fields: &LocationFields,
        at: DateTime<Utc>,
    ) -> Result<Option<Location>, StoreError>;
    /// Deletes a location; chargers placed at it are no longer placed anywhere.
    async fn delete_location(&self, client: &ClientId, id: &LocationId) -> Result<bool, StoreError>;
}

/// EV systems (vehicle and charger pairs) and each charger's vehicle detection.
#[async_trait]
pub trait EvSystemStore: Send + Sync {
    /// Establishes a pair for every vehicle and charger of the user that has none yet; returns
    /// the pairs created.
    async fn establish_ev_systems(&self, client: &ClientId, user: &UserId) -> Result<Vec<EvSystem>, StoreError>;
    /// A user's EV systems, newest first.
    async fn list_ev_systems(
        &self,
        client: &ClientId,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Page<EvSystem>, StoreError>;
    /// One of the client's EV systems.
    async fn get_ev_system(&self, client: &ClientId, id: &EvSystemId) -> Result<Option<EvSystem>, StoreError>;
    /// The pairs a vehicle is part of.
    async fn ev_systems_of_vehicle(&self, client: &ClientId, vehicle: &VehicleId) -> Result<Vec<EvSystem>, StoreError>;
    /// The pairs a charger is part of.
    async fn ev_systems_of_charger(&self, charger: &ChargerId) -> Result<Vec<EvSystem>, StoreError>;
    /// Activates the pair of `vehicle` and `charger` with its evidence, in one transaction that
    /// first deactivates any other activated pair of either device (a vehicle is in one charger at
    /// a time, a charger holds one vehicle). Returns the pairs that changed, the activated last;
    /// none when the pair does not exist.
    async fn activate_ev_system(
        &self,
        charger: &ChargerId,
        vehicle: &VehicleId,
        evidence: &[Evidence],
        confidence: Confidence,
        at: DateTime<Utc>,
    ) -> Result<Vec<EvSystem>, StoreError>;
    /// Deactivates every activated pair of `charger`; returns those deactivated.
    async fn deactivate_charger(&self, charger: &ChargerId, at: DateTime<Utc>) -> Result<Vec<EvSystem>, StoreError>;
    /// A charger's vehicle detection.
    async fn get_detection(&self, charger: &ChargerId) -> Result<Option<Detection>, StoreError>;
    /// Saves a charger's vehicle detection.
    async fn save_detection(&self, detection: &Detection) -> Result<(), StoreError>;
    /// Detections of chargers that have something plugged in (status other than UNPLUGGED); with
    /// `plugged_in_since` (the start of a detection window that ends now), only those that time
    /// alone may still change: still DETECTING or plugged in since then, except that a plug-in
    /// waiting only because its user has no linked vehicle (`NO_LINKED_VEHICLE`) counts once its
    /// window has ended, not before (linking a vehicle wakes pairing of its own accord). A fleet
    /// of chargers without cars is then not weighed again at every tick.
    async fn open_detections(&self, plugged_in_since: Option<DateTime<Utc>>) -> Result<Vec<Detection>, StoreError>;
    /// Detections of one user's chargers that have something plugged in: the plug-ins pairing
    /// decides together.
    async fn open_detections_of_user(&self, client: &ClientId, user: &UserId) -> Result<Vec<Detection>, StoreError>;
    /// A charger's metered active power since `since`, oldest first (the total, or the sum of the
    /// phases where no total was sent), for comparing with vehicles' charge rates.
    async fn power_samples_since(
        &self,
        charger: &ChargerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::ev_system::PowerSample>, StoreError>;
    /// Replaces the identifiers (RFID tags, MAC addresses, eMAIDs) registered to a vehicle.
    async fn set_vehicle_id_tags(
        &self,
        client: &ClientId,
        vehicle: &VehicleId,
        tags: &[String],
    ) -> Result<bool, StoreError>;
    /// The identifiers a charger reported since `since` (id tags of Authorize and transactions).
    async fn id_tags_seen_since(&self, charger: &ChargerId, since: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
}

/// Limit sources, what chargers declared about charging profiles, and what Coupler installed on them.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Stores a new limit source; its user, and the charger or location it limits, must be the
    /// client's (a `Conflict` otherwise).
    async fn insert_limit_source(&self, source: &LimitSource) -> Result<(), StoreError>;
    /// Sets the user limit of a charger (its max current), replacing the previous one; `None`
    /// removes it. Returns the stored source, if any.
    async fn set_user_limit(
        &self,
        charger: &ChargerId,
        max_current_a: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<Option<LimitSource>, StoreError>;
    /// One of the client's limit sources.
    async fn get_limit_source(&self, client: &ClientId, id: &LimitSourceId) -> Result<Option<LimitSource>, StoreError>;
    /// The client's sources set on exactly `scope` (a charger's own, or a location's), oldest first.
    async fn list_limit_sources(&self, client: &ClientId, scope: &LimitScope) -> Result<Vec<LimitSource>, StoreError>;
    /// Deletes one of the client's limit sources; returns it when it existed.
    async fn delete_limit_source(
        &self,
        client: &ClientId,
        id: &LimitSourceId,
    ) -> Result<Option<LimitSource>, StoreError>;
    /// Every source that limits a charger: its own and its location's, oldest first.
    async fn limit_sources_of_charger(&self, charger: &ChargerId) -> Result<Vec<LimitSource>, StoreError>;
    /// Chargers that have limit sources (their own or their location's) or profiles Coupler
    /// installed: the ones a limit keeper looks after.
    async fn chargers_with_limits(&self) -> Result<Vec<ChargerId>, StoreError>;
    /// The first moment after `after` at which any limit source's window opens or closes.
    async fn next_limit_edge(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// The chargers limited by a source (their own or their location's) whose window opens or
    /// closes after `after` and no later than `until`: the ones a window edge in that span concerns.
    async fn chargers_with_limit_edges(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ChargerId>, StoreError>;
    /// The chargers placed at a location.
    async fn chargers_at_location(&self, location: &LocationId) -> Result<Vec<ChargerId>, StoreError>;
    /// What a charger declared it can do with charging profiles, if it said.
    async fn charger_capabilities(&self, charger: &ChargerId) -> Result<Option<ChargerCapabilities>, StoreError>;
    /// Records what a charger declared.
    async fn set_charger_capabilities(
        &self,
        charger: &ChargerId,
        capabilities: &ChargerCapabilities,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Merges device-model variables (`Component.Variable` → value) a 2.0.1 station reported
    /// into what is stored for it; returns the whole stored model.
    async fn record_device_model(
        &self,
        charger: &ChargerId,
        variables: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError>;
    /// The device model a 2.0.1 station reported (empty when none).
    async fn device_model(&self, charger: &ChargerId)
        -> Result<std::collections::BTreeMap<String, String>, StoreError>;
    /// What Coupler last installed on a charger.
    async fn limit_state(&self, charger: &ChargerId) -> Result<ChargerLimitState, StoreError>;
    /// Saves what Coupler installed on a charger.
    async fn save_limit_state(&self, charger: &ChargerId, state: &ChargerLimitState) -> Result<(), StoreError>;
}

/// A location's time-of-use tariff, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTariff {
    /// The location.
    pub location_id: LocationId,
    /// The tariff.
    pub tariff: TouTariff,
    /// When it was first set.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// What storing a client's push did.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// Stored; `changed` when the stored series differs from what was there before.
    Stored {
        /// The push as recorded.
        push: SeriesPush,
        /// Whether anything changed.
        changed: bool,
    },
    /// The client used the push's `Idempotency-Key` before: nothing was written, and this is the
    /// earlier push (the same request, or a different one reusing the key).
    Earlier(SeriesPush),
    /// The client has no such location: nothing was written.
    NoSuchLocation,
}

/// Which locations a provider's prices for an area reach, beyond those that name the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderReach {
    /// The provider is the default: locations in the area that name no provider take it too.
    pub as_default: bool,
    /// The provider and area are the fallback: locations with neither a price area nor a tariff
    /// take them.
    pub as_fallback: bool,
}

/// Locations' time-of-use tariffs, pushed series of prices and carbon intensity, day-ahead
/// providers' prices, and how fetching them went.
///
/// Every write that changes what a location is priced by appends a `user:location:prices-updated`
/// event for each location it reaches, in its transaction.
#[async_trait]
pub trait TariffStore: Send + Sync {
    /// Sets (or replaces) the tariff of one of the client's locations; `None` when the client has
    /// no such location.
    async fn put_tariff(
        &self,
        client: &ClientId,
        location: &LocationId,
        tariff: &TouTariff,
        at: DateTime<Utc>,
    ) -> Result<Option<StoredTariff>, StoreError>;
    /// The tariff of one of the client's locations.
    async fn get_tariff(&self, client: &ClientId, location: &LocationId) -> Result<Option<StoredTariff>, StoreError>;
    /// Removes the tariff of one of the client's locations; `false` when it had none.
    async fn delete_tariff(&self, client: &ClientId, location: &LocationId) -> Result<bool, StoreError>;
    /// Stores a series a client pushed for one of its locations or price areas, in one
    /// transaction: records the push (a push with an `Idempotency-Key` the client used before
    /// writes nothing and answers [`PushOutcome::Earlier`]), replaces the owner's slots over the
    /// series' stretch of time, and appends events when that changed anything. Pushes are
    /// remembered for [`PUSH_RETENTION_DAYS`] days.
    async fn push_series(&self, push: &SeriesPush, series: &Series) -> Result<PushOutcome, StoreError>;
    /// Stores a provider's series for an area over the series' stretch of time; returns whether it
    /// changed anything (events go to the locations `reach` adds to those naming the provider).
    async fn store_provider_series(
        &self,
        provider: &str,
        area: &PriceArea,
        series: &Series,
        reach: ProviderReach,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The slots of `owner`'s series of `kind` that overlap `[from, to)`, in order.
    async fn series_slots(
        &self,
        owner: &SeriesOwner,
        kind: SeriesKind,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SeriesSlot>, StoreError>;
    /// Records an attempt to fetch a provider's prices for an area: a success, or the error.
    async fn record_provider_attempt(
        &self,
        provider: &str,
        area: &PriceArea,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// How fetching a provider's prices for an area went; `None` before the first attempt.
    async fn provider_status(&self, provider: &str, area: &PriceArea) -> Result<Option<ProviderStatus>, StoreError>;
    /// Locations by id, each with its tariff, for pricing many at once (a replan after a price
    /// change). Not scoped to a client: the caller checks each location's `client_id`.
    async fn locations_with_tariffs(
        &self,
        ids: &[LocationId],
    ) -> Result<Vec<(Location, Option<StoredTariff>)>, StoreError>;
    /// The slots of many owners' series of `kind` that overlap `[from, to)`, by owner key
    /// ([`SeriesOwner::key`]), each in order; owners without slots are left out. A client's series
    /// is read only under that client.
    async fn series_slots_of(
        &self,
        owners: &[SeriesOwner],
        kind: SeriesKind,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, Vec<SeriesSlot>>, StoreError>;
    /// The locations (with their clients) whose prices `scope` covers; for a provider's scope,
    /// those naming it and those `reach` adds.
    async fn locations_in_price_scope(
        &self,
        scope: &PriceScope,
        reach: ProviderReach,
    ) -> Result<Vec<(ClientId, LocationId)>, StoreError>;
}

/// How long a push is remembered, so that a retry with its `Idempotency-Key` answers the same.
pub const PUSH_RETENTION_DAYS: i64 = 7;

/// What the plan keeper reads of a charger to plan a plug-in on it: read for many chargers at once
/// ([`SmartChargingStore::charger_plug_ins`]) when prices or a round reach thousands of plans, each
/// field as the one-charger read gives it.
#[derive(Debug, Clone)]
pub struct ChargerPlugIn {
    /// The charger with its connectors ([`ChargerStore::charger`]).
    pub charger: Charger,
    /// Its running session ([`ChargerStore::active_session`]).
    pub session: Option<ChargeSession>,
    /// Its vehicle detection ([`EvSystemStore::get_detection`]).
    pub detection: Option<Detection>,
    /// The location it is placed at, whoever's it is.
    pub location: Option<Location>,
    /// Every source that limits it ([`LimitStore::limit_sources_of_charger`]).
    pub limit_sources: Vec<LimitSource>,
    /// What it declared it can do with profiles ([`LimitStore::charger_capabilities`]).
    pub capabilities: Option<ChargerCapabilities>,
    /// The pairs it is part of ([`EvSystemStore::ev_systems_of_charger`]).
    pub ev_systems: Vec<EvSystem>,
}

/// Smart charging: policies, the plan of each plug-in a policy governs, and the `schedule` limit
/// source that carries a plan to its charger.
#[async_trait]
pub trait SmartChargingStore: Send + Sync {
    /// Creates the policy on `policy.target`, or replaces the one there (keeping its id and creation
    /// time). The target must be the client's; the policy's user is the target's. Returns the policy
    /// as stored, `None` when the client has no such target.
    async fn put_smart_policy(&self, policy: &SmartPolicy) -> Result<Option<SmartPolicy>, StoreError>;
    /// The client's policy on a target.
    async fn get_smart_policy(
        &self,
        client: &ClientId,
        target: &PolicyTarget,
    ) -> Result<Option<SmartPolicy>, StoreError>;
    /// The policy on a target, whoever's it is (for the engine, which found the target itself).
    async fn smart_policy_on(&self, target: &PolicyTarget) -> Result<Option<SmartPolicy>, StoreError>;
    /// A policy by id.
    async fn smart_policy(&self, id: &SmartPolicyId) -> Result<Option<SmartPolicy>, StoreError>;
    /// Every enabled policy, for the plan keeper's rounds.
    async fn enabled_smart_policies(&self) -> Result<Vec<SmartPolicy>, StoreError>;
    /// The policies with these ids (those that exist), in a few queries however many.
    async fn smart_policies(&self, ids: &[SmartPolicyId]) -> Result<Vec<SmartPolicy>, StoreError>;
    /// What the plan keeper reads of each of these chargers (those that exist), in a few queries
    /// however many: a replan of thousands of plans reads their plug-ins together.
    async fn charger_plug_ins(&self, chargers: &[ChargerId]) -> Result<Vec<ChargerPlugIn>, StoreError>;
    /// Starts (`Some`) or ends (`None`) the charge-now override of the client's policy; returns
    /// the policy, `None` when the client has none with that id.
    async fn set_charge_now(
        &self,
        client: &ClientId,
        id: &SmartPolicyId,
        since: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<Option<SmartPolicy>, StoreError>;
    /// Stores a new plan, with its `user:smart-charging-plan:updated` event, in one transaction.
    async fn insert_smart_plan(&self, plan: &SmartPlan) -> Result<(), StoreError>;
    /// Saves a plan; when `event_fields` is not empty, with an event naming them in the same
    /// transaction. `false` when the plan is gone.
    async fn update_smart_plan(&self, plan: &SmartPlan, event_fields: &[&str]) -> Result<bool, StoreError>;
    /// The latest plan of a policy.
    async fn latest_smart_plan(&self, policy: &SmartPolicyId) -> Result<Option<SmartPlan>, StoreError>;
    /// One of the client's plans.
    async fn get_smart_plan(&self, client: &ClientId, id: &SmartPlanId) -> Result<Option<SmartPlan>, StoreError>;
    /// Every plan that has not ended.
    async fn live_smart_plans(&self) -> Result<Vec<SmartPlan>, StoreError>;
    /// How many plans that have not ended were last stored before `at` (a replan since has not
    /// reached them yet).
    async fn count_live_smart_plans_stored_before(&self, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The client's plans that have not ended and are planned against `location`'s prices, with
    /// those planned at no known location (a new location may be theirs).
    async fn live_smart_plans_at(&self, client: &ClientId, location: &LocationId)
        -> Result<Vec<SmartPlan>, StoreError>;
    /// Stores a plan's change as [`SmartChargingStore::update_smart_plan`] does and, in the same
    /// transaction, puts `schedule` on its charger as [`SmartChargingStore::set_schedule_limit`]
    /// does (a plan and the schedule it puts are stored together, or neither is); `false` when there
    /// is no such plan.
    async fn save_smart_plan(
        &self,
        plan: &SmartPlan,
        event_fields: &[&str],
        schedule: Option<(&ChargerId, &[SchedulePeriod], DateTime<Utc>)>,
    ) -> Result<bool, StoreError>;
    /// Puts a plan on a charger as its `schedule` limit source (replacing the one there), holding
    /// from the first period until `valid_to`; `None` removes it. Returns the source set.
    async fn set_schedule_limit(
        &self,
        charger: &ChargerId,
        schedule: Option<(&[SchedulePeriod], DateTime<Utc>)>,
        at: DateTime<Utc>,
    ) -> Result<Option<LimitSource>, StoreError>;
}

/// Operations on chargers and the reservations they make.
///
/// The methods that take a [`ClientId`] serve the REST API; the others serve the engine and the
/// gateway, which act for a charger Coupler already knows.
#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Stores a new operation, with its client taken from its charger (`Conflict` when the charger
    /// does not exist). For kinds that carry a number on the wire, allocates the charger's next
    /// one as its `request_id`. With `reservation`, stores it in the same transaction, its id being
    /// that number. Returns the operation as stored.
    async fn insert_operation(
        &self,
        operation: &Operation,
        reservation: Option<&Reservation>,
    ) -> Result<Operation, StoreError>;
    /// An operation by id, whoever owns it.
    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>, StoreError>;
    /// One of the client's operations on one of its chargers.
    async fn get_operation(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        id: &OperationId,
    ) -> Result<Option<Operation>, StoreError>;
    /// A page of the operations on one of the client's chargers, newest first; `None` when the
    /// client has no such charger.
    async fn list_operations(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        page: &PageRequest,
    ) -> Result<Option<Page<Operation>>, StoreError>;
    /// Saves a changed operation, but only over the revision it was read at (and bumps the
    /// stored one); returns whether it was saved. Callers read again and retry when it was not.
    async fn save_operation(&self, operation: &Operation) -> Result<bool, StoreError>;
    /// The operation of one of `kinds` that a charger's status notification is about: the one
    /// with `request_id` when the notification names one, otherwise the newest that is not over.
    async fn operation_for_progress(
        &self,
        charger: &ChargerId,
        kinds: &[OperationKind],
        request_id: Option<i32>,
    ) -> Result<Option<Operation>, StoreError>;
    /// Fails, at `node`'s start-up, every operation still waiting to be sent or answered on
    /// `node`'s previous run, on a node whose lease lapsed (or that is gone), or on no named node:
    /// none of their connections survives, so no answer can come. Operations live nodes wait on
    /// are left to them. Returns how many.
    async fn interrupt_unanswered_operations(&self, node: &NodeId, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Hands the pending operation `id` from node `from` to node `to`, which holds its charger's
    /// socket, with the `command` to send: `to` sends it and records the answer. Returns whether
    /// it was handed (not when it is no longer pending, or no longer `from`'s).
    async fn hand_over_operation(
        &self,
        id: &OperationId,
        from: &NodeId,
        to: &NodeId,
        command: &ChargerCommand,
    ) -> Result<bool, StoreError>;
    /// The pending operations handed to `node`, oldest first, each with the command to send.
    async fn handed_operations(&self, node: &NodeId) -> Result<Vec<(Operation, ChargerCommand)>, StoreError>;
    /// A charger's reservation by its id.
    async fn reservation(&self, charger: &ChargerId, reservation_id: i32) -> Result<Option<Reservation>, StoreError>;
    /// A page of one of the client's chargers' reservations, newest first; `None` when the client
    /// has no such charger.
    async fn list_reservations(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        page: &PageRequest,
    ) -> Result<Option<Page<Reservation>>, StoreError>;
    /// A charger's reservations in `status`.
    async fn reservations_in(
        &self,
        charger: &ChargerId,
        status: ReservationStatus,
    ) -> Result<Vec<Reservation>, StoreError>;
    /// Moves a reservation to `to` if its stored status is one of `from` (noting the session
    /// that consumed it); returns whether it moved.
    async fn set_reservation_status(
        &self,
        charger: &ChargerId,
        reservation_id: i32,
        from: &[ReservationStatus],
        to: ReservationStatus,
        transaction_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Chargers' security events and the certificates Coupler issued them.
#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// Stores a security event a charger reported, with its client and user taken from the
    /// charger, and writes a `user:charger:security-event` event in the same transaction.
    /// `Conflict` when the charger does not exist.
    async fn record_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
    /// One of the client's security events.
    async fn get_security_event(
        &self,
        client: &ClientId,
        id: &SecurityEventId,
    ) -> Result<Option<SecurityEvent>, StoreError>;
    /// A page of one of the client's chargers' security events, newest received first; `None`
    /// when the client has no such charger.
    async fn list_security_events(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        page: &PageRequest,
    ) -> Result<Option<Page<SecurityEvent>>, StoreError>;
    /// Stores a certificate Coupler signed for a charger (client taken from the charger;
    /// `Conflict` when the charger does not exist or the serial number was issued before).
    async fn record_issued_certificate(&self, certificate: &IssuedCertificate) -> Result<(), StoreError>;
    /// A page of the certificates issued to one of the client's chargers, newest first; `None`
    /// when the client has no such charger.
    async fn list_issued_certificates(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        page: &PageRequest,
    ) -> Result<Option<Page<IssuedCertificate>>, StoreError>;
}

/// A change to a registered token: each `Some` field is set (`Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdTokenChange {
    /// A new status.
    pub status: Option<IdTokenStatus>,
    /// A new expiry date, or none.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// A new group, or none.
    pub group_id: Option<Option<String>>,
    /// A new label, or none.
    pub label: Option<Option<String>>,
}

/// A charger's unknown-token policy: its own, and its owner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargerTokenPolicy {
    /// The charger's own policy, when it has one.
    pub own: Option<UnknownTokenPolicy>,
    /// Its owner's policy (the default when the owner set none).
    pub owner: UnknownTokenPolicy,
}

impl ChargerTokenPolicy {
    /// The policy in force: the charger's own, else its owner's.
    pub fn effective(&self) -> UnknownTokenPolicy {
        self.own.unwrap_or(self.owner)
    }
}

/// The local authorisation list Coupler last had a charger accept.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLocalList {
    /// Its version.
    pub version: i32,
    /// Its entries.
    pub entries: Vec<LocalListEntry>,
    /// When the charger accepted it.
    pub updated_at: DateTime<Utc>,
}

/// Id tokens and the unknown-token policies, the local authorisation lists Coupler keeps on
/// chargers, and the flags on sessions and readings (not authorised, implausible).
///
/// The methods that take a [`ClientId`] serve the REST API; the others serve the gateway and the
/// engine, which act for a charger Coupler already knows.
#[async_trait]
pub trait AuthorisationStore: Send + Sync {
    /// Registers a token, with its `user:id-token:created` event. `false` when the client has no
    /// such user; `Conflict` when the user has a token that matches the same presented value.
    async fn insert_id_token(&self, token: &IdToken) -> Result<bool, StoreError>;
    /// A page of one of the client's users' tokens, newest first; `None` when there is no such user.
    async fn list_id_tokens(
        &self,
        client: &ClientId,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Option<Page<IdToken>>, StoreError>;
    /// One of the client's users' tokens.
    async fn get_id_token(
        &self,
        client: &ClientId,
        user: &UserId,
        id: &IdTokenId,
    ) -> Result<Option<IdToken>, StoreError>;
    /// Changes one of the client's users' tokens (with a `user:id-token:updated` event when
    /// something changed); the token as it is now, `None` when there is no such token.
    async fn update_id_token(
        &self,
        client: &ClientId,
        user: &UserId,
        id: &IdTokenId,
        change: &IdTokenChange,
        at: DateTime<Utc>,
    ) -> Result<Option<IdToken>, StoreError>;
    /// Deletes one of the client's users' tokens, with its `user:id-token:deleted` event.
    async fn delete_id_token(&self, client: &ClientId, user: &UserId, id: &IdTokenId) -> Result<bool, StoreError>;
    /// One of the client's users' unknown-token policy; `None` when there is no such user.
    async fn user_token_policy(
        &self,
        client: &ClientId,
        user: &UserId,
    ) -> Result<Option<UnknownTokenPolicy>, StoreError>;
    /// Sets one of the client's users' unknown-token policy; `false` when there is no such user.
    async fn set_user_token_policy(
        &self,
        client: &ClientId,
        user: &UserId,
        policy: UnknownTokenPolicy,
    ) -> Result<bool, StoreError>;
    /// One of the client's chargers' unknown-token policy; `None` when there is no such charger.
    async fn charger_token_policy(
        &self,
        client: &ClientId,
        charger: &ChargerId,
    ) -> Result<Option<ChargerTokenPolicy>, StoreError>;
    /// Sets (`Some`) or removes (`None`: its owner's applies) one of the client's chargers' own
    /// policy; `false` when there is no such charger.
    async fn set_charger_token_policy(
        &self,
        client: &ClientId,
        charger: &ChargerId,
        policy: Option<UnknownTokenPolicy>,
    ) -> Result<bool, StoreError>;
    /// The token of the charger's owner found by `match_key`, and the policy in force on the
    /// charger, for answering the charger.
    async fn lookup_token(&self, charger: &ChargerId, match_key: &str) -> Result<TokenLookup, StoreError>;
    /// Every token of the charger's owner, for its local list.
    async fn tokens_of_charger_owner(&self, charger: &ChargerId) -> Result<Vec<IdToken>, StoreError>;
    /// The chargers of one of the client's users.
    async fn chargers_of_user(&self, client: &ClientId, user: &UserId) -> Result<Vec<ChargerId>, StoreError>;
    /// The local list Coupler last had the charger accept.
    async fn local_list(&self, charger: &ChargerId) -> Result<Option<StoredLocalList>, StoreError>;
    /// Saves the list the charger accepted (replacing the one before).
    async fn save_local_list(&self, charger: &ChargerId, list: &StoredLocalList) -> Result<(), StoreError>;
    /// Forgets the list Coupler kept for the charger (it holds another), so the next sync is full.
    async fn forget_local_list(&self, charger: &ChargerId) -> Result<(), StoreError>;
    /// A charger's session by its transaction id.
    async fn session(&self, charger: &ChargerId, transaction_id: i64) -> Result<Option<ChargeSession>, StoreError>;
    /// Notes on a session the verdict on its token and/or what made its values implausible (a
    /// `None` leaves that note as it is).
    async fn mark_session(
        &self,
        charger: &ChargerId,
        transaction_id: i64,
        authorisation: Option<&str>,
        implausible: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Keeps readings found implausible, each with what is wrong, without using them (they change
    /// neither the charger's live readings nor any session's energy).
    async fn record_implausible_samples(
        &self,
        charger: &ChargerId,
        connector_id: u32,
        transaction_id: Option<i64>,
        samples: &[(MeterSample, &str)],
    ) -> Result<(), StoreError>;
    /// The latest plausible energy register reading of a charger's connector, for judging the next.
    async fn last_energy_reading(
        &self,
        charger: &ChargerId,
        connector_id: u32,
    ) -> Result<Option<crate::costs::EnergyReading>, StoreError>;
}

/// Flexibility programs, their enrolments and groups, events and each enrolment's part in them.
///
/// An enrolment's and a target's changes are written with their `user:flex-enrolment:updated` and
/// `user:flex-event:updated` events in one transaction. A target's `flex` limit source is written,
/// changed and deleted with the target, so what the limit keeper puts on chargers always matches
/// what the event says.
#[async_trait]
pub trait FlexStore: Send + Sync {
    /// Stores a new program.
    async fn insert_program(&self, program: &Program) -> Result<(), StoreError>;
    /// One of the client's programs.
    async fn get_program(&self, client: &ClientId, id: &ProgramId) -> Result<Option<Program>, StoreError>;
    /// A page of the client's programs, newest first.
    async fn list_programs(&self, client: &ClientId, page: &PageRequest) -> Result<Page<Program>, StoreError>;
    /// Saves a program's changed fields; `false` when the client has no such program.
    async fn update_program(&self, program: &Program) -> Result<bool, StoreError>;
    /// Deletes a program with its enrolments, groups and events (their limit sources removed);
    /// returns the chargers that lose a source, `None` when the client has no such program.
    async fn delete_program(&self, client: &ClientId, id: &ProgramId) -> Result<Option<Vec<ChargerId>>, StoreError>;

    /// Stores a new enrolment of an existing user of the client, with its event. `Conflict` when the
    /// user is not the client's or the device already has a live enrolment in the program.
    async fn insert_enrolment(&self, enrolment: &Enrolment) -> Result<(), StoreError>;
    /// One of the client's enrolments.
    async fn get_enrolment(&self, client: &ClientId, id: &EnrolmentId) -> Result<Option<Enrolment>, StoreError>;
    /// A page of a program's enrolments, newest first.
    async fn list_program_enrolments(
        &self,
        client: &ClientId,
        program: &ProgramId,
        page: &PageRequest,
    ) -> Result<Page<Enrolment>, StoreError>;
    /// A page of a user's enrolments in any of the client's programs, newest first.
    async fn list_user_enrolments(
        &self,
        client: &ClientId,
        user: &UserId,
        page: &PageRequest,
    ) -> Result<Page<Enrolment>, StoreError>;
    /// Every enrolment of a program that has not ended, oldest first (what events aim at).
    async fn live_enrolments(&self, client: &ClientId, program: &ProgramId) -> Result<Vec<Enrolment>, StoreError>;
    /// The device's enrolment in the program that has not ended, if any.
    async fn live_enrolment_of_device(
        &self,
        client: &ClientId,
        program: &ProgramId,
        device: &EnrolledDevice,
    ) -> Result<Option<Enrolment>, StoreError>;
    /// Saves an enrolment's new state, with its event; returns the enrolment, `None` when the client
    /// has no such enrolment.
    async fn save_enrolment_state(
        &self,
        client: &ClientId,
        id: &EnrolmentId,
        state: &EnrolmentState,
        at: DateTime<Utc>,
    ) -> Result<Option<Enrolment>, StoreError>;

    /// Stores a new group of a program of the client's.
    async fn insert_group(&self, group: &Group) -> Result<(), StoreError>;
    /// One of the client's groups.
    async fn get_group(&self, client: &ClientId, id: &GroupId) -> Result<Option<Group>, StoreError>;
    /// A program's groups, oldest first.
    async fn list_groups(&self, client: &ClientId, program: &ProgramId) -> Result<Vec<Group>, StoreError>;
    /// Saves a group's name, list and filter; `false` when the client has no such group.
    async fn update_group(&self, group: &Group) -> Result<bool, StoreError>;
    /// Deletes a group; `false` when the client has no such group.
    async fn delete_group(&self, client: &ClientId, id: &GroupId) -> Result<bool, StoreError>;

    /// Stores a new event with its targets and their `flex` limit sources (each target's own, on
    /// its charger), and an event per target, in one transaction.
    async fn insert_flex_event(
        &self,
        event: &FlexEvent,
        targets: &[FlexTarget],
        sources: &[LimitSource],
    ) -> Result<(), StoreError>;
    /// One of the client's events.
    async fn get_flex_event(&self, client: &ClientId, id: &FlexEventId) -> Result<Option<FlexEvent>, StoreError>;
    /// A page of a program's events, newest first.
    async fn list_flex_events(
        &self,
        client: &ClientId,
        program: &ProgramId,
        page: &PageRequest,
    ) -> Result<Page<FlexEvent>, StoreError>;
    /// How many of a program's events that were not cancelled start from `from` until `to`, leaving
    /// out `except` (an event being changed).
    async fn count_flex_events(
        &self,
        program: &ProgramId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        except: Option<&FlexEventId>,
    ) -> Result<u32, StoreError>;
    /// An event's targets, in the order they were made.
    async fn flex_targets(&self, event: &FlexEventId) -> Result<Vec<FlexTarget>, StoreError>;
    /// How many targets of each of `events` are in each state.
    async fn flex_target_counts(
        &self,
        events: &[FlexEventId],
    ) -> Result<Vec<(FlexEventId, TargetState, u64)>, StoreError>;
    /// An enrolment's parts in events that have not been opted out of or cancelled.
    async fn live_flex_targets_of_enrolment(&self, enrolment: &EnrolmentId) -> Result<Vec<FlexTarget>, StoreError>;
    /// A target by id.
    async fn flex_target(&self, id: &FlexTargetId) -> Result<Option<FlexTarget>, StoreError>;
    /// Saves an event's new end, value and cap, moving its targets' limit sources (window and cap)
    /// with it and each target's next look to its new start, with an event per live target.
    async fn update_flex_event(&self, event: &FlexEvent) -> Result<bool, StoreError>;
    /// Cancels an event: its live targets become CANCELLED (vehicles stopped for it are looked at
    /// once more, to start them again) and their limit sources are deleted. Returns the chargers
    /// that lose a source; `None` when it was already cancelled or is not the client's.
    async fn cancel_flex_event(
        &self,
        client: &ClientId,
        id: &FlexEventId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<ChargerId>>, StoreError>;
    /// Records a driver's opt-out of a target: OPTED_OUT, its limit source deleted, looked at once
    /// more when a vehicle was stopped for it. Returns the target as saved; `None` when it has no
    /// live part in the event (already opted out, cancelled, or unknown).
    async fn opt_out_flex_target(
        &self,
        client: &ClientId,
        id: &FlexTargetId,
        opt_out: &OptOut,
    ) -> Result<Option<FlexTarget>, StoreError>;
    /// Saves what the engine did for a target (state, detail, commands, next look), with an event
    /// when `event_fields` is not empty. A target that was opted out or cancelled meanwhile keeps
    /// that state. `false` when it is gone.
    async fn save_flex_target(&self, target: &FlexTarget, event_fields: &[&str]) -> Result<bool, StoreError>;
    /// Targets due a look at `now`, soonest first, at most `limit`.
    async fn due_flex_targets(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<FlexTarget>, StoreError>;
    /// The next moment any target is due a look.
    async fn next_flex_check(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Programs bound to OpenADR 3 VTNs, and what became of each VTN event interval.
#[async_trait]
pub trait VtnStore: Send + Sync {
    /// Binds a program to a VTN, or replaces its binding's settings (with its sealed secret and
    /// callback token), keeping what was learnt from the VTN only when `keep_state`.
    async fn put_vtn_binding(&self, binding: &crate::openadr::VtnBinding, keep_state: bool) -> Result<(), StoreError>;
    /// The binding of one of the client's programs.
    async fn get_vtn_binding(
        &self,
        client: &ClientId,
        program: &crate::flex::ProgramId,
    ) -> Result<Option<crate::openadr::VtnBinding>, StoreError>;
    /// The binding of a program, whoever owns it (the callback route checks the token itself).
    async fn vtn_binding_of_program(
        &self,
        program: &crate::flex::ProgramId,
    ) -> Result<Option<crate::openadr::VtnBinding>, StoreError>;
    /// Unbinds one of the client's programs; `false` when it had no binding.
    async fn delete_vtn_binding(&self, client: &ClientId, program: &crate::flex::ProgramId)
        -> Result<bool, StoreError>;
    /// The programs whose VTN is due a look by `now`, soonest first.
    async fn due_vtn_bindings(&self, now: DateTime<Utc>, limit: u32)
        -> Result<Vec<crate::flex::ProgramId>, StoreError>;
    /// When the next look at any VTN is due.
    async fn next_vtn_poll(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records what was learnt from the VTN (its VEN, program and subscription ids) and how the
    /// look went. A look asked for after the look began (more wakes than `wakes_seen`) keeps the
    /// next look due at once.
    async fn save_vtn_state(
        &self,
        program: &crate::flex::ProgramId,
        wakes_seen: i64,
        ven_id: Option<&str>,
        vtn_program_id: Option<&str>,
        subscription_id: Option<&str>,
        status: &crate::openadr::VtnStatus,
    ) -> Result<(), StoreError>;
    /// Makes a binding's next look due by `at` (a "poll now", or a webhook notification), and
    /// counts the wake.
    async fn wake_vtn_binding(&self, program: &crate::flex::ProgramId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// What became of each VTN event interval of a program.
    async fn vtn_event_links(
        &self,
        program: &crate::flex::ProgramId,
    ) -> Result<Vec<crate::openadr::VtnEventLink>, StoreError>;
    /// Stores what became of one VTN event interval (inserted or replaced).
    async fn save_vtn_event_link(&self, link: &crate::openadr::VtnEventLink) -> Result<(), StoreError>;
}

/// Telemetry kept for measuring flexibility events, and overrides seen on the meter.
///
/// Chargers' readings are the sessions and meter samples of [`ChargerStore`]; cars' readings are
/// kept by [`VehicleStore::save_poll`] and read here.
#[async_trait]
pub trait MeasurementStore: Send + Sync {
    /// A car's charge readings from `from` until `to`, oldest first, with the last one before
    /// `from` (its power holds into the span).
    async fn vehicle_readings(
        &self,
        vehicle: &VehicleId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::flex::VehicleReading>, StoreError>;
    /// The windows of events (not cancelled) overlapping `[from, to)` in which the device had a
    /// part other than being held back: the days a similar-days baseline leaves out.
    async fn flex_windows_of_device(
        &self,
        device: &crate::flex::TargetDevice,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, StoreError>;
    /// The parts in events open at `now` (started, not ended, not cancelled) that are still
    /// carried out: not opted out, cancelled or held back. At most `limit` ids, after `after` in id
    /// order (for going through them all a batch at a time).
    async fn open_flex_targets(
        &self,
        now: DateTime<Utc>,
        after: Option<&FlexTargetId>,
        limit: u32,
    ) -> Result<Vec<FlexTargetId>, StoreError>;
    /// Records an override with its `user:flex-event:override` event and the reason as the
    /// target's detail, in one transaction; `false` when the target already has one from that
    /// source.
    async fn insert_flex_override(&self, found: &crate::flex::FlexOverride) -> Result<bool, StoreError>;
    /// An event's overrides, in the order they were observed.
    async fn flex_overrides(&self, event: &FlexEventId) -> Result<Vec<crate::flex::FlexOverride>, StoreError>;
}

/// Enrolment sessions of the hosted enrolment page.
///
/// As with link sessions, a session is found by the hash of its token, without a client id: whoever
/// holds the token is the driver the app sent. Everything a session returns carries its client id,
/// and the enrolments it makes are the client's.
#[async_trait]
pub trait EnrolmentSessionStore: Send + Sync {
    /// Stores a new session; `Conflict` when the user or the program is not the client's.
    async fn insert_enrolment_session(&self, session: &EnrolmentSession) -> Result<(), StoreError>;
    /// The session whose token hashes to `token_hash`.
    async fn get_enrolment_session_by_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<EnrolmentSession>, StoreError>;
    /// In one transaction: ends the session as COMPLETED with `enrolments`' ids (only if it is still
    /// open and not expired at `now`), and stores each enrolment with its
    /// `user:flex-enrolment:updated` event exactly as [`FlexStore::insert_enrolment`] does. `false`
    /// when the session was no longer open: then nothing was written. `Conflict` (and nothing
    /// written) when an enrolment cannot be stored (its device was enrolled meanwhile).
    async fn complete_enrolment_session(
        &self,
        id: &EnrolmentSessionId,
        enrolments: &[Enrolment],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Ends an open session as `status` (DECLINED or EXPIRED); returns whether it was ended here.
    async fn end_enrolment_session(
        &self,
        id: &EnrolmentSessionId,
        status: EnrolmentSessionStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// All of Coupler's storage.
#[async_trait]
pub trait Store:
    ClientStore
    + UserStore
    + ActionStore
    + ChargerStore
    + TransactionEventStore
    + LinkSessionStore
    + VendorAccountStore
    + VehicleStore
    + InterventionStore
    + EventStore
    + WebhookStore
    + LocationStore
    + EvSystemStore
    + LimitStore
    + TariffStore
    + SmartChargingStore
    + OperationStore
    + SecurityStore
    + AuthorisationStore
    + FlexStore
    + EnrolmentSessionStore
    + MeasurementStore
    + NodeStore
    + ConsoleStore
    + VtnStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs and `/health/ready`.
    fn backend(&self) -> &'static str;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// How the connection pool is used now, for metrics.
    fn pool_usage(&self) -> PoolUsage;
    /// What waits to be sent, for metrics.
    async fn backlog(&self) -> Result<Backlog, StoreError>;
    /// Where nodes sharing this database wake each other (PostgreSQL's LISTEN/NOTIFY; on SQLite,
    /// within the process).
    fn signals(&self) -> std::sync::Arc<dyn SignalBus>;
    /// How many events this process has written (to be published) since it started, counted as
    /// they are written (their transactions may still be open). The relay's waker watches it to
    /// wake the node that runs the relay ([`crate::node::Signal::EventsWritten`]).
    fn events_written(&self) -> u64;
}

/// How a store's connection pool is used at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open (in use or idle).
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// What waits to be sent at one moment, across all clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Events written but not yet published (rendered and numbered) by the relay.
    pub unpublished_events: i64,
    /// Published events that active webhooks have not been given yet (summed over webhooks).
    pub undelivered_events: i64,
    /// Deliveries waiting for a retry.
    pub pending_deliveries: i64,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}
