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
mod ev_systems;
mod events;
mod flex;
mod interventions;
mod limits;
mod link_sessions;
mod locations;
mod measurement;
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
pub(crate) use ev_systems::impl_ev_system_store;
pub(crate) use events::impl_event_store;
pub(crate) use flex::impl_flex_store;
pub(crate) use interventions::impl_intervention_store;
pub(crate) use limits::impl_limit_store;
pub(crate) use link_sessions::impl_link_session_store;
pub(crate) use locations::impl_location_store;
pub(crate) use measurement::impl_measurement_store;
pub(crate) use operations::impl_operation_store;
pub(crate) use security::impl_security_store;
pub(crate) use smart::impl_smart_charging_store;
pub(crate) use tariffs::impl_tariff_store;
pub(crate) use transaction_events::impl_transaction_event_store;
pub(crate) use users::impl_user_store;
pub(crate) use vehicles::impl_vehicle_store;
pub(crate) use vendor_accounts::impl_vendor_account_store;
pub(crate) use webhooks::impl_webhook_store;

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

/// Names the sqlx database type behind a store, for code that must spell out transaction types.
pub(crate) trait StorePool {
    /// The sqlx database.
    type Db: sqlx::Database;
}

impl StorePool for crate::SqliteStore {
    type Db = sqlx::Sqlite;
}

impl StorePool for crate::PgStore {
    type Db = sqlx::Postgres;
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
