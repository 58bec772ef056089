//! Throw-away databases for tests: a temporary SQLite file, or a fresh PostgreSQL database created on
//! the server named by `COUPLER_TEST_POSTGRES_URL` and dropped when the test ends.
//!
//! PostgreSQL tests run only when that variable is set (CI sets it); when it is set and the server
//! cannot be reached, the test fails rather than passing unnoticed.

use std::path::PathBuf;
use std::sync::Arc;

use coupler_core::Store;
use sqlx::{Connection, Executor, PgConnection};

/// The variable that names a PostgreSQL server the tests may create databases on, for example
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "COUPLER_TEST_POSTGRES_URL";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    SqliteFile(PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new, empty SQLite database in a temporary file.
    pub fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("coupler-test-{}.db", uuid::Uuid::new_v4().simple()));
        Self {
            url: format!("sqlite://{}", path.display()),
            cleanup: Cleanup::SqliteFile(path),
        }
    }

    /// A new, empty PostgreSQL database, or `None` when [`POSTGRES_URL_VAR`] is not set.
    ///
    /// # Panics
    /// When the variable is set but the server cannot be reached or refuses to create a database: a
    /// test that was asked to run against PostgreSQL must not pass without it.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("skipping the PostgreSQL variant: {POSTGRES_URL_VAR} is not set");
            return None;
        };
        let name = format!("coupler_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let mut url = url::Url::parse(&admin_url).unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is not a URL: {e}"));
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            cleanup: Cleanup::PostgresDatabase { admin_url, name },
        })
    }

    /// The database's URL, as `COUPLER_DATABASE_URL` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens and migrates the database.
    ///
    /// # Panics
    /// When it cannot be opened.
    pub async fn open(&self) -> Arc<dyn Store> {
        crate::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot open test database: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived
                // thread with its own runtime does the network round trip.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    runtime.block_on(async {
                        let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                        admin
                            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                            .await
                            .ok()
                    })
                });
                let _ = dropped.join();
            }
        }
    }
}

/// Runs each named store test (an async function taking the opened store)
/// once on a fresh SQLite database (module `sqlite`) and once on a fresh PostgreSQL database
/// (module `postgres`, which passes without running when `COUPLER_TEST_POSTGRES_URL` is unset), so
/// every store test file states its tests once for both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let db = $crate::testing::TestDatabase::sqlite();
                    super::$test(db.open().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = $crate::testing::TestDatabase::postgres().await else { return };
                    super::$test(db.open().await).await;
                }
            )*
        }
    };
}
