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
    /// Readings and "heard from" marks waiting for their shared commit ([`crate::sql::MeterWrites`]).
    meter_writes: crate::sql::MeterWrites,
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
        warn_without_autovacuum(&pool).await;
        let signals = crate::signals::PgSignals::start(pool.clone())
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self {
            signals,
            reads: pool.clone(),
            pool,
            plan_saves: crate::sql::PlanSaves::default(),
            meter_writes: crate::sql::MeterWrites::default(),
            clock: std::sync::Arc::new(coupler_core::clock::SystemClock),
        })
    }
}

/// Logs a warning when the server does not vacuum on its own: the relay's queue of unpublished
/// events (and others like it) then slows down steadily as dead rows pile up, until someone runs
/// VACUUM. Autovacuum is PostgreSQL's default; some test and development servers turn it off.
async fn warn_without_autovacuum(pool: &sqlx::PgPool) {
    match sqlx::query_scalar::<_, String>("SELECT current_setting('autovacuum')")
        .fetch_one(pool)
        .await
    {
        Ok(setting) if setting == "off" => tracing::warn!(
            "PostgreSQL's autovacuum is off: Coupler's event queue will slow down as the database \
             grows unless VACUUM is run regularly; turn autovacuum on (the default)"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "cannot read the autovacuum setting"),
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

impl PgStore {
    /// Stores a batch of charger writes in one transaction with a fixed handful of statements,
    /// however many writes it holds: every sample in one insert, the live readings of every charger
    /// read in one query, folded here and written back in one update, and every "heard from" mark
    /// in one more. Only what is rare stays per write: a running session's energy, the events of
    /// readings that changed something, and connector statuses (a few per connection).
    async fn write_meter_batch(
        pool: &PgPool,
        batch: &[crate::sql::MeterWrite],
    ) -> Result<(), coupler_core::StoreError> {
        use std::collections::HashMap;

        use coupler_core::charger::{apply_samples, LiveMeter};

        use crate::sql::MeterWriteKind;
        use crate::store_error;

        let mut tx = pool.begin().await.map_err(store_error)?;
        let mut samples = SampleColumns::default();
        let mut seen: HashMap<&str, DateTime<Utc>> = HashMap::new();
        let mut read: Vec<&str> = Vec::new();
        for write in batch {
            match &write.what {
                MeterWriteKind::Readings {
                    connector_id,
                    transaction_id,
                    samples: these,
                } => {
                    samples.extend(write.charger.as_str(), *connector_id, *transaction_id, these);
                    read.push(write.charger.as_str());
                }
                MeterWriteKind::Seen(at) => {
                    let latest = seen.entry(write.charger.as_str()).or_insert(*at);
                    *latest = (*latest).max(*at);
                }
                MeterWriteKind::Status(_) => {}
            }
        }
        samples.insert(&mut tx).await?;

        // Marks first: a reading in the same batch says "now", which is no earlier.
        if !seen.is_empty() {
            let mut marks: Vec<_> = seen.into_iter().collect();
            marks.sort_unstable();
            let (ids, times): (Vec<&str>, Vec<DateTime<Utc>>) = marks.into_iter().unzip();
            sqlx::query(
                "UPDATE chargers AS c SET last_seen = u.at FROM UNNEST($1::text[], $2::timestamptz[]) AS u(id, at) \
                 WHERE c.id = u.id",
            )
            .bind(&ids)
            .bind(&times)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        // Statuses in turn, in the order they came: each compares with the connector's last.
        for write in batch {
            if let MeterWriteKind::Status(status) = &write.what {
                Self::record_status_in(&mut tx, &write.charger, status).await?;
            }
        }

        // Live readings: read once, folded in the order the writes came, written back once.
        read.sort_unstable();
        read.dedup();
        let mut meters: HashMap<String, LiveMeter> = HashMap::new();
        if !read.is_empty() {
            let rows =
                sqlx::query("SELECT id, power_w, current_a, energy_wh, soc, meter_at FROM chargers WHERE id = ANY($1)")
                    .bind(&read)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
            for row in rows {
                let meter = LiveMeter {
                    power_w: row.try_get("power_w").map_err(store_error)?,
                    current_a: row.try_get("current_a").map_err(store_error)?,
                    energy_wh: row.try_get("energy_wh").map_err(store_error)?,
                    soc: row.try_get("soc").map_err(store_error)?,
                    at: row.try_get("meter_at").map_err(store_error)?,
                };
                meters.insert(row.try_get("id").map_err(store_error)?, meter);
            }
        }
        let mut changes = Vec::new();
        for write in batch {
            let MeterWriteKind::Readings {
                transaction_id,
                samples: these,
                ..
            } = &write.what
            else {
                continue;
            };
            let Some(meter) = meters.get_mut(write.charger.as_str()) else {
                continue;
            };
            let rate_before = meter.power_w;
            apply_samples(meter, these);
            let after = *meter;
            let grew = Self::grow_session_energy(&mut tx, &write.charger, *transaction_id, these).await?;
            changes.push((&write.charger, crate::sql::meter_changes(rate_before, &after, grew)));
        }
        if !meters.is_empty() {
            let mut ids = Vec::with_capacity(meters.len());
            let (mut power, mut current, mut energy, mut soc, mut at) = (vec![], vec![], vec![], vec![], vec![]);
            // In id order, so two batches touching the same chargers lock them in the same order.
            let mut sorted: Vec<_> = meters.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (id, meter) in sorted {
                ids.push(id.as_str());
                power.push(meter.power_w);
                current.push(meter.current_a);
                energy.push(meter.energy_wh);
                soc.push(meter.soc);
                at.push(meter.at);
            }
            // The chargers were heard from now, whatever time their readings carry.
            sqlx::query(
                "UPDATE chargers AS c SET power_w = u.power_w, current_a = u.current_a, energy_wh = u.energy_wh, \
                 soc = u.soc, meter_at = u.meter_at, last_seen = $7 \
                 FROM UNNEST($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::timestamptz[]) \
                   AS u(id, power_w, current_a, energy_wh, soc, meter_at) \
                 WHERE c.id = u.id",
            )
            .bind(&ids)
            .bind(&power)
            .bind(&current)
            .bind(&energy)
            .bind(&soc)
            .bind(&at)
            .bind(coupler_core::time::now())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        for (charger, changed) in changes {
            Self::charger_changed(&mut tx, charger, changed).await?;
        }
        tx.commit().await.map_err(store_error)
    }
}

/// The samples of a batch of readings, column by column, for one `UNNEST` insert.
#[derive(Default)]
struct SampleColumns<'a> {
    charger: Vec<&'a str>,
    connector: Vec<i64>,
    transaction: Vec<Option<i64>>,
    sampled_at: Vec<DateTime<Utc>>,
    measurand: Vec<&'a str>,
    phase: Vec<Option<&'a str>>,
    unit: Vec<&'a str>,
    value: Vec<f64>,
    context: Vec<Option<&'a str>>,
}

impl<'a> SampleColumns<'a> {
    fn extend(
        &mut self,
        charger: &'a str,
        connector: u32,
        transaction: Option<i64>,
        samples: &'a [coupler_core::charger::MeterSample],
    ) {
        for sample in samples {
            self.charger.push(charger);
            self.connector.push(i64::from(connector));
            self.transaction.push(transaction);
            self.sampled_at.push(sample.sampled_at);
            self.measurand.push(&sample.measurand);
            self.phase.push(sample.phase.as_deref());
            self.unit.push(&sample.unit);
            self.value.push(sample.value);
            self.context.push(sample.context.as_deref());
        }
    }

    async fn insert(&self, tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), coupler_core::StoreError> {
        if self.charger.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO meter_samples (charger_id, connector_id, transaction_id, sampled_at, measurand, phase, unit, value, context) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], \
               $8::float8[], $9::text[])",
        )
        .bind(&self.charger)
        .bind(&self.connector)
        .bind(&self.transaction)
        .bind(&self.sampled_at)
        .bind(&self.measurand)
        .bind(&self.phase)
        .bind(&self.unit)
        .bind(&self.value)
        .bind(&self.context)
        .execute(&mut **tx)
        .await
        .map_err(crate::store_error)?;
        Ok(())
    }
}

impl PgStore {
    /// Publishes rendered events numbered from `first` in their order, in one statement: the
    /// events still unpublished take consecutive numbers; one already published (by another node)
    /// is skipped and takes none.
    async fn number_events(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        first: i64,
        rendered: &[(i64, serde_json::Value)],
    ) -> Result<(), coupler_core::StoreError> {
        let ids: Vec<i64> = rendered.iter().map(|(id, _)| *id).collect();
        let data: Vec<String> = rendered.iter().map(|(_, data)| data.to_string()).collect();
        sqlx::query(
            "WITH todo AS ( \
               SELECT u.id, u.data, u.ord FROM UNNEST($1::int8[], $2::text[]) WITH ORDINALITY AS u(id, data, ord) \
               JOIN events e ON e.id = u.id WHERE e.seq IS NULL), \
             numbered AS (SELECT id, data, $3 + ROW_NUMBER() OVER (ORDER BY ord) - 1 AS seq FROM todo) \
             UPDATE events e SET seq = n.seq, data = n.data FROM numbered n WHERE e.id = n.id AND e.seq IS NULL",
        )
        .bind(&ids)
        .bind(&data)
        .bind(first)
        .execute(&mut **tx)
        .await
        .map_err(crate::store_error)?;
        Ok(())
    }
}
