//! The production backend: PostgreSQL, shared by every Coupler node.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use crate::OpenError;

/// Coupler's storage in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The pool the hot reads go through: the same pool (PostgreSQL reads beside its writes).
    reads: PgPool,
    /// Plans waiting to be saved in the next shared commit ([`crate::sql::PlanSaves`]).
    plan_saves: crate::sql::PlanSaves,
    /// Where the time stamped by the store itself comes from (update times, activation times).
    clock: std::sync::Arc<dyn coupler_core::clock::Clock>,
    /// Where nodes wake each other ([`crate::signals`]).
    signals: std::sync::Arc<dyn coupler_core::node::SignalBus>,
}

/// A pooled connection idle at least this long is pinged before it is handed out, so one that the
/// server or the network dropped meanwhile is replaced rather than failing its caller.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

impl PgStore {
    /// The same store stamping times from `clock` (a test's manual clock).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn coupler_core::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Connects to and migrates the PostgreSQL database at `url`.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with_pool(url, crate::DEFAULT_PG_POOL_SIZE).await
    }

    /// [`PgStore::open`] with at most `pool_size` pooled connections (one more is held for
    /// LISTEN/NOTIFY).
    pub async fn open_with_pool(url: &str, pool_size: u32) -> Result<Self, OpenError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| OpenError::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(5))
            // Not a ping at every acquire: it costs a round trip each time, and an acquire
            // cancelled during the ping (a charger giving up on its handshake) drops the
            // connection, which under a boot storm left the pools nearly empty.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        // sqlx takes an advisory lock while migrating, so nodes starting together do not race.
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await
            .map_err(OpenError::Migrate)?;
        let signals = crate::signals::PgSignals::start(pool.clone())
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self {
            signals,
            reads: pool.clone(),
            pool,
            plan_saves: crate::sql::PlanSaves::default(),
            clock: std::sync::Arc::new(coupler_core::clock::SystemClock),
        })
    }
}

/// Times as PostgreSQL keeps them: `timestamptz`.
pub(crate) struct Time;

impl Time {
    pub(crate) fn bind(at: DateTime<Utc>) -> DateTime<Utc> {
        at
    }

    pub(crate) fn read(row: &PgRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        row.try_get(column)
    }

    pub(crate) fn read_opt(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(column)
    }
}

crate::sql::impl_client_store!(PgStore, PgRow, Time);
crate::sql::impl_user_store!(PgStore, PgRow, Time);
crate::sql::impl_action_store!(PgStore, PgRow, Time);
crate::sql::impl_charger_store!(PgStore, PgRow, Time);
crate::sql::impl_transaction_event_store!(PgStore, PgRow, Time);
crate::sql::impl_link_session_store!(PgStore, PgRow, Time);
crate::sql::impl_vendor_account_store!(PgStore, PgRow, Time);
crate::sql::impl_vehicle_store!(PgStore, PgRow, Time);
crate::sql::impl_intervention_store!(PgStore, PgRow, Time);
crate::sql::impl_event_store!(PgStore, PgRow, Time);
crate::sql::impl_webhook_store!(PgStore, PgRow, Time);
crate::sql::impl_location_store!(PgStore, PgRow, Time);
crate::sql::impl_ev_system_store!(PgStore, PgRow, Time);
crate::sql::impl_limit_store!(PgStore, PgRow, Time);
crate::sql::impl_tariff_store!(PgStore, PgRow, Time);
crate::sql::impl_smart_charging_store!(PgStore, PgRow, Time);
crate::sql::impl_operation_store!(PgStore, PgRow, Time);
crate::sql::impl_security_store!(PgStore, PgRow, Time);
crate::sql::impl_authorisation_store!(PgStore, PgRow, Time);
crate::sql::impl_flex_store!(PgStore, PgRow, Time);
crate::sql::impl_enrolment_session_store!(PgStore, PgRow, Time);
crate::sql::impl_measurement_store!(PgStore, PgRow, Time);
crate::sql::impl_node_store!(PgStore, PgRow, Time);
crate::sql::impl_console_store!(PgStore, PgRow, Time);
crate::sql::impl_vtn_store!(PgStore, PgRow, Time);
crate::sql::impl_store!(PgStore, "postgres");
