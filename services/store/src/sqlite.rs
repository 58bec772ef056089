//! The embedded backend: one SQLite file, in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};

use crate::OpenError;

/// Coupler's storage in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one connection every write (and every read inside a write) goes through.
    pool: SqlitePool,
    /// Read-only connections for the hot reads outside transactions (the plan keeper's looks, the
    /// event relay's, the API's lists): SQLite in WAL mode lets them read beside the writer, so
    /// they do not queue behind its commits. The writer itself for an in-memory database.
    reads: SqlitePool,
    /// Plans waiting to be saved in the next shared commit ([`crate::sql::PlanSaves`]).
    plan_saves: crate::sql::PlanSaves,
    /// Readings and "heard from" marks waiting for their shared commit ([`crate::sql::MeterWrites`]).
    meter_writes: crate::sql::MeterWrites,
    /// Where the time stamped by the store itself comes from (update times, activation times).
    clock: std::sync::Arc<dyn coupler_core::clock::Clock>,
    /// Where nodes wake each other ([`crate::signals`]).
    signals: std::sync::Arc<dyn coupler_core::node::SignalBus>,
}

/// How many read-only connections read beside the writer.
const READERS: u32 = 4;

impl SqliteStore {
    /// The same store stamping times from `clock` (a test's manual clock).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn coupler_core::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens (creating it if needed) and migrates the SQLite database at `url`.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| OpenError::InvalidUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Migrations run on a connection of their own with foreign keys off: SQLite can only rebuild
        // a table that others refer to (to drop a constraint) that way, since inside a transaction
        // the pragma cannot change and dropping the old table would cascade to the rows that refer
        // to it. Every reference is checked before the database is used.
        let migrating = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().foreign_keys(false))
            .await
            .map_err(OpenError::Connect)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&migrating)
            .await
            .map_err(OpenError::Migrate)?;
        let dangling = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&migrating)
            .await
            .map_err(OpenError::Connect)?;
        if let Some(row) = dangling.first() {
            let table: String = row.try_get(0).unwrap_or_default();
            return Err(OpenError::Migrate(sqlx::migrate::MigrateError::Execute(
                sqlx::Error::Protocol(format!(
                    "after migrating, {} rows refer to missing rows (first in table '{table}')",
                    dangling.len()
                )),
            )));
        }
        migrating.close().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let reads = if in_memory {
            // Another connection would open another, empty, database.
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .connect_with(options.create_if_missing(false).read_only(true))
                .await
                .map_err(OpenError::Connect)?
        };
        Ok(Self {
            signals: std::sync::Arc::new(crate::signals::LocalSignals::default()),
            pool,
            reads,
            plan_saves: crate::sql::PlanSaves::default(),
            meter_writes: crate::sql::MeterWrites::default(),
            clock: std::sync::Arc::new(coupler_core::clock::SystemClock),
        })
    }
}

/// Times as SQLite keeps them: microseconds since the epoch.
pub(crate) struct Time;

impl Time {
    pub(crate) fn bind(at: DateTime<Utc>) -> i64 {
        coupler_core::time::to_micros(at)
    }

    pub(crate) fn read(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        let micros: i64 = row.try_get(column)?;
        coupler_core::time::from_micros(micros)
            .ok_or_else(|| sqlx::Error::Decode(format!("{column} is out of range").into()))
    }

    pub(crate) fn read_opt(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let micros: Option<i64> = row.try_get(column)?;
        micros
            .map(|m| {
                coupler_core::time::from_micros(m)
                    .ok_or_else(|| sqlx::Error::Decode(format!("{column} is out of range").into()))
            })
            .transpose()
    }
}

crate::sql::impl_client_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_user_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_action_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_charger_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_transaction_event_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_link_session_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_vendor_account_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_vehicle_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_intervention_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_event_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_webhook_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_location_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_ev_system_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_limit_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_tariff_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_smart_charging_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_operation_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_security_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_authorisation_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_flex_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_enrolment_session_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_measurement_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_node_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_console_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_vtn_store!(SqliteStore, SqliteRow, Time);
crate::sql::impl_store!(SqliteStore, "sqlite");

impl SqliteStore {
    /// Stores a batch of charger writes in one transaction: statements cost no round trip here, so
    /// each write keeps its own statements and the batch shares the commit (one sync to disk).
    async fn write_meter_batch(
        pool: &SqlitePool,
        batch: &[crate::sql::MeterWrite],
    ) -> Result<(), coupler_core::StoreError> {
        Self::write_meters_in_turn(pool, batch).await
    }
}

impl SqliteStore {
    /// Publishes rendered events numbered from `first`, one statement each (no round trips here).
    async fn number_events(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        first: i64,
        rendered: &[(i64, serde_json::Value)],
    ) -> Result<(), coupler_core::StoreError> {
        Self::number_events_in_turn(tx, first, rendered).await
    }
}
