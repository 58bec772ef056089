//! The SQL both backends run, written once.
//!
//! SQLite and PostgreSQL accept the same statements here (`$N` parameters, `ON CONFLICT`, row-value
//! comparisons, `RETURNING`), so each domain's macro expands the same method bodies for each pool
//! type. Only `Time` differs between the backends: it converts times to and from the column type.
//!
//! Each macro expands inside an anonymous `const` block, so a domain's imports and row helpers stay
//! private to it. A new domain is a new file here plus one line in `sqlite.rs` and `postgres.rs`.

mod actions;
mod authorisation;
mod chargers;
mod clients;
mod console;
mod enrolment_sessions;
mod ev_systems;
mod events;
mod flex;
mod interventions;
mod limits;
mod link_sessions;
mod locations;
mod measurement;
mod nodes;
mod openadr;
mod operations;
mod security;
mod smart;
mod tariffs;
mod transaction_events;
mod users;
mod vehicles;
mod vendor_accounts;
mod webhooks;

pub(crate) use actions::impl_action_store;
pub(crate) use authorisation::impl_authorisation_store;
pub(crate) use chargers::impl_charger_store;
pub(crate) use clients::impl_client_store;
pub(crate) use console::impl_console_store;
pub(crate) use enrolment_sessions::impl_enrolment_session_store;
pub(crate) use ev_systems::impl_ev_system_store;
pub(crate) use events::impl_event_store;
pub(crate) use flex::impl_flex_store;
pub(crate) use interventions::impl_intervention_store;
pub(crate) use limits::impl_limit_store;
pub(crate) use link_sessions::impl_link_session_store;
pub(crate) use locations::impl_location_store;
pub(crate) use measurement::impl_measurement_store;
pub(crate) use nodes::impl_node_store;
pub(crate) use openadr::impl_vtn_store;
pub(crate) use operations::impl_operation_store;
pub(crate) use security::impl_security_store;
pub(crate) use smart::impl_smart_charging_store;
pub(crate) use tariffs::impl_tariff_store;
pub(crate) use transaction_events::impl_transaction_event_store;
pub(crate) use users::impl_user_store;
pub(crate) use vehicles::impl_vehicle_store;
pub(crate) use vendor_accounts::impl_vendor_account_store;
pub(crate) use webhooks::impl_webhook_store;

/// How many events this process wrote ([`coupler_core::Store::events_written`]). One count for
/// every store of the process: several stores of one process (a test's nodes) share it, which
/// only wakes a relay more often than needed.
pub(crate) static EVENTS_WRITTEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Ids per `IN (…)` list when reading many at once.
pub(crate) const READ_CHUNK: usize = 500;

/// `$first, $first + 1, …` for `count` parameters: the list of an `IN (…)` over many ids, bound
/// one by one (both backends take numbered parameters; callers keep `count` well under SQLite's
/// limit of 32,766 by reading in chunks).
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keyset pagination over `alias.created_at, alias.id`, newest first: the filter that continues
/// `base` past the cursor (its two values bound as parameters `$next` and `$next + 1`), and the
/// order to read rows in (ascending when going back, so the nearest rows come first).
pub(crate) fn keyset(
    base: &str,
    alias: &str,
    cursor: Option<&coupler_core::Cursor>,
    next: usize,
) -> (String, &'static str) {
    use coupler_core::Cursor;
    match cursor {
        None => (base.to_owned(), "DESC"),
        Some(Cursor::After(_)) => (
            format!("{base} AND ({alias}.created_at, {alias}.id) < (${next}, ${})", next + 1),
            "DESC",
        ),
        Some(Cursor::Before(_)) => (
            format!("{base} AND ({alias}.created_at, {alias}.id) > (${next}, ${})", next + 1),
            "ASC",
        ),
    }
}

/// Writes waiting for a shared commit: the first write starts the store's writer for them, which
/// takes every write waiting (up to a bound) into one transaction, so many writers commit (and sync
/// to disk) once rather than once each. Each write is answered after the commit that holds it.
#[derive(Debug)]
pub(crate) struct CommitQueue<T>(std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<T>>>);

impl<T> Default for CommitQueue<T> {
    fn default() -> Self {
        Self(std::sync::Arc::default())
    }
}

impl<T> Clone for CommitQueue<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> CommitQueue<T> {
    /// The queue to the writer, which `start` starts on first use.
    pub(crate) fn queue(
        &self,
        start: impl FnOnce(tokio::sync::mpsc::UnboundedReceiver<T>),
    ) -> &tokio::sync::mpsc::UnboundedSender<T> {
        self.0.get_or_init(|| {
            let (queue, writes) = tokio::sync::mpsc::unbounded_channel();
            start(writes);
            queue
        })
    }
}

/// Where plans wait to be saved together on SQLite, so a replan of thousands commits (and syncs to
/// disk) a few hundred times rather than once per plan.
pub(crate) type PlanSaves = CommitQueue<PlanSave>;

/// The most plans one shared commit holds.
pub(crate) const PLAN_SAVES_PER_COMMIT: usize = 256;

/// One plan's save, waiting for its commit.
#[derive(Debug)]
pub(crate) struct PlanSave {
    pub(crate) plan: coupler_core::smart::SmartPlan,
    pub(crate) event_fields: Vec<String>,
    pub(crate) schedule: Option<(
        coupler_core::ChargerId,
        Vec<coupler_core::limits::SchedulePeriod>,
        chrono::DateTime<chrono::Utc>,
    )>,
    pub(crate) answer: tokio::sync::oneshot::Sender<Result<bool, coupler_core::StoreError>>,
}

/// Where chargers' readings, statuses and "heard from" marks wait for their shared commit (both backends):
/// at a fleet's scale every charger sends them, and one transaction each was most of the store's
/// work.
pub(crate) type MeterWrites = CommitQueue<MeterWrite>;

/// The most charger writes one shared commit holds.
pub(crate) const METER_WRITES_PER_COMMIT: usize = 512;

/// One charger write waiting for its commit.
#[derive(Debug)]
pub(crate) struct MeterWrite {
    pub(crate) charger: coupler_core::ChargerId,
    pub(crate) what: MeterWriteKind,
    pub(crate) answer: tokio::sync::oneshot::Sender<Result<(), coupler_core::StoreError>>,
}

/// What one charger write stores.
#[derive(Debug)]
pub(crate) enum MeterWriteKind {
    /// Readings from a MeterValues (or like) message, folded into the live readings and the
    /// session's energy ([`coupler_core::ChargerStore::record_meter_values`]).
    Readings {
        connector_id: u32,
        transaction_id: Option<i64>,
        samples: Vec<coupler_core::charger::MeterSample>,
    },
    /// The charger was heard from at this time ([`coupler_core::ChargerStore::record_seen`]).
    Seen(chrono::DateTime<chrono::Utc>),
    /// A connector's status ([`coupler_core::ChargerStore::record_status`]).
    Status(coupler_core::charger::ConnectorStatus),
}

/// The REST fields that folding readings changed: the rate when the power moved, the session's
/// energy when it grew, and then the time of the last update.
pub(crate) fn meter_changes(
    rate_before: Option<f64>,
    after: &coupler_core::charger::LiveMeter,
    session_grew: bool,
) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if after.power_w != rate_before {
        changed.push("chargeState.chargeRate");
    }
    if session_grew {
        changed.push("chargeState.sessionEnergy");
    }
    if !changed.is_empty() {
        changed.push("chargeState.lastUpdated");
    }
    changed
}

/// The newest whole-meter energy register reading among `samples` (a session's energy so far).
pub(crate) fn register_reading(samples: &[coupler_core::charger::MeterSample]) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.measurand == "Energy.Active.Import.Register" && s.phase.is_none())
        .max_by_key(|s| s.sampled_at)
        .map(|s| s.value)
}

/// Names the sqlx database type behind a store, for code that must spell out transaction types.
pub(crate) trait StorePool {
    /// The sqlx database.
    type Db: sqlx::Database;
    /// Whether plans are saved through the plan writer's shared commits ([`PlanSaves`]): SQLite
    /// writes through one connection, where each commit is a sync to disk that shared commits save;
    /// PostgreSQL commits many connections' transactions side by side, and one writer there would
    /// queue what its connections do at once.
    const SHARES_PLAN_COMMITS: bool;
}

impl StorePool for crate::SqliteStore {
    type Db = sqlx::Sqlite;
    const SHARES_PLAN_COMMITS: bool = true;
}

impl StorePool for crate::PgStore {
    type Db = sqlx::Postgres;
    const SHARES_PLAN_COMMITS: bool = false;
}

/// Implements [`coupler_core::Store`] (health and identity) for `$store`.
macro_rules! impl_store {
    ($store:ident, $backend:literal) => {
        const _: () = {
            use async_trait::async_trait;
            use coupler_core::{Store, StoreError};

            use crate::store_error;

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $backend
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                fn pool_usage(&self) -> coupler_core::store::PoolUsage {
                    let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
                    coupler_core::store::PoolUsage {
                        open: self.pool.size(),
                        idle,
                        max: self.pool.options().get_max_connections(),
                    }
                }

                fn signals(&self) -> std::sync::Arc<dyn coupler_core::node::SignalBus> {
                    self.signals.clone()
                }

                fn events_written(&self) -> u64 {
                    crate::sql::EVENTS_WRITTEN.load(std::sync::atomic::Ordering::Relaxed)
                }

                async fn backlog(&self) -> Result<coupler_core::store::Backlog, StoreError> {
                    let (unpublished_events, undelivered_events, pending_deliveries): (i64, i64, i64) = sqlx::query_as(
                        "SELECT \
                           (SELECT COUNT(*) FROM events WHERE seq IS NULL), \
                           (SELECT COUNT(*) FROM webhooks w JOIN events e \
                              ON e.client_id = w.client_id AND e.seq > w.cursor_seq WHERE w.is_active), \
                           (SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'PENDING')",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(coupler_core::store::Backlog {
                        unpublished_events,
                        undelivered_events,
                        pending_deliveries,
                    })
                }
            }
        };
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use coupler_core::charger::{LiveMeter, MeterSample};

    use super::{meter_changes, register_reading};

    fn sample(measurand: &str, phase: Option<&str>, value: f64, minute: i64) -> MeterSample {
        MeterSample {
            sampled_at: Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap() + Duration::minutes(minute),
            measurand: measurand.into(),
            phase: phase.map(Into::into),
            unit: "Wh".into(),
            value,
            context: None,
        }
    }

    #[test]
    fn a_session_s_energy_is_the_newest_whole_meter_register_reading() {
        let samples = [
            sample("Energy.Active.Import.Register", None, 2000.0, 2),
            sample("Energy.Active.Import.Register", None, 1000.0, 1),
            sample("Energy.Active.Import.Register", Some("L1"), 9000.0, 3),
            sample("Power.Active.Import", None, 7000.0, 4),
        ];
        assert_eq!(register_reading(&samples), Some(2000.0));
        assert_eq!(register_reading(&samples[3..]), None, "no register, no energy");
    }

    #[test]
    fn readings_that_change_neither_rate_nor_session_energy_are_not_news() {
        let meter = LiveMeter {
            power_w: Some(7000.0),
            ..LiveMeter::default()
        };
        assert!(meter_changes(Some(7000.0), &meter, false).is_empty());
        assert_eq!(
            meter_changes(Some(3500.0), &meter, false),
            ["chargeState.chargeRate", "chargeState.lastUpdated"]
        );
        assert_eq!(
            meter_changes(Some(7000.0), &meter, true),
            ["chargeState.sessionEnergy", "chargeState.lastUpdated"]
        );
    }
}
