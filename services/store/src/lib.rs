//! Coupler's storage: [`coupler_core::Store`] on SQLite (the embedded default) and on PostgreSQL.
//!
//! Both backends run the same SQL (`sql/`), generated once per pool type. They differ in how a time
//! is kept (see `sqlite::Time` and `postgres::Time`), in their migrations (`migrations/sqlite` and
//! `migrations/postgres` at the workspace root), and in two batch writes where PostgreSQL's round
//! trips matter: chargers' readings in shared commits and the numbering of published events, each
//! a few set-based statements there and a statement per row on SQLite.

use std::sync::Arc;

use coupler_core::{Store, StoreError};

mod postgres;
pub mod signals;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no backend Coupler has.
    #[error("unsupported database URL: expected sqlite://PATH or postgres://..., got a URL with scheme '{0}'")]
    UnsupportedScheme(String),
    /// The URL could not be read.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// How many connections a node opens to PostgreSQL at most unless told otherwise (one more is
/// held for LISTEN/NOTIFY).
pub const DEFAULT_PG_POOL_SIZE: u32 = 16;

/// Opens the database at `url` (`sqlite://PATH` or `postgres://...`), brings its schema up to date,
/// and returns it as a [`Store`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    open_with_pool(url, DEFAULT_PG_POOL_SIZE).await
}

/// [`open`] with at most `pg_pool_size` connections to PostgreSQL (`COUPLER_DATABASE_POOL_SIZE`), so
/// several nodes fit under the server's `max_connections`; SQLite ignores it.
pub async fn open_with_pool(url: &str, pg_pool_size: u32) -> Result<Arc<dyn Store>, OpenError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::open_with_pool(url, pg_pool_size).await?)),
        other => Err(OpenError::UnsupportedScheme(other.to_owned())),
    }
}

/// A redacted form of a database URL, safe for logs: the password is replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password fails only for URLs that cannot have one, which this one has.
            let _ = parsed.set_password(Some("*****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Maps a database error onto the port's error, telling apart what a retry may fix.
fn store_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(err.to_string())
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
        _ => StoreError::Backend(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_never_reaches_the_logs() {
        assert_eq!(
            redact_url("postgres://coupler:hunter2@db:5432/coupler"),
            "postgres://coupler:*****@db:5432/coupler"
        );
        assert_eq!(redact_url("sqlite://coupler.db"), "sqlite://coupler.db");
    }
}
