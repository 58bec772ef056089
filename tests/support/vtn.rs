//! A real OpenADR 3.1 VTN for the OpenADR tests: `openleadr-vtn` 0.2.8 (crates.io) with its built-in
//! OAuth provider, one process per test on a fresh PostgreSQL database of its own.
//!
//! The binary lives in `.tools/openleadr-vtn/bin` of the workspace. `COUPLER_TEST_VTN` may name
//! it; otherwise it is installed there with `cargo install` the first time a test needs it (CI
//! installs it before the tests), under a file lock so parallel tests do not race.
//!
//! The VTN migrates its database itself at start. Its users (OAuth clients) live in its `user` and
//! `user_credentials` tables: the set-up writes one business-logic client (the utility's side,
//! which writes programs and events and reads reports) and one VEN client (Coupler's credentials)
//! there, each secret hashed with Argon2 as the VTN checks it. PostgreSQL is the server
//! `COUPLER_TEST_POSTGRES_URL` names, or `postgres://postgres@127.0.0.1:5432/postgres`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio::process::{Child, Command};

/// The business-logic client: the utility's back end.
pub const BL_CLIENT: (&str, &str) = ("utility-bl", "utility-bl-secret-for-tests");
/// The VEN client: the credentials a utility hands Coupler.
pub const VEN_CLIENT: (&str, &str) = ("coupler-ven", "coupler-ven-secret-for-tests");

/// The key the VTN signs its tokens with: fixed, so tokens outlive a restart of the VTN.
const SIGNING_KEY_B64: &str = "Y291cGxlci10ZXN0cy1vcGVubGVhZHItdnRuLXNpZ25pbmcta2V5LTMyYnl0ZXMh";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `openleadr-vtn` binary, installed on first use.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Ok(path) = std::env::var("COUPLER_TEST_VTN") {
            return PathBuf::from(path);
        }
        let root = workspace().join(".tools/openleadr-vtn");
        let binary = root.join("bin/openleadr-vtn");
        if binary.exists() {
            return binary;
        }
        std::fs::create_dir_all(&root).expect("create .tools/openleadr-vtn");
        let lock = std::fs::File::create(root.join(".install.lock")).expect("create the install lock");
        // Another test process may be installing: the lock waits for it.
        #[allow(clippy::incompatible_msrv, reason = "the tests build with the current toolchain")]
        lock.lock().expect("take the install lock");
        if !binary.exists() {
            let installed = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
                .args([
                    "install",
                    "openleadr-vtn",
                    "--version",
                    "=0.2.8",
                    "--features",
                    "internal-oauth",
                    "--root",
                ])
                .arg(&root)
                .status();
            assert!(
                installed.is_ok_and(|s| s.success()),
                "cannot install openleadr-vtn 0.2.8 into {} (it needs cmake and libssl-dev)",
                root.display()
            );
        }
        binary
    })
}

/// The VTN crate's migrations, in the sources `cargo install` left in Cargo's registry.
fn migrations_dir() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let registries = home.join("registry/src");
    std::fs::read_dir(&registries)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("openleadr-vtn-0.2.8/migrations"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "the sources of openleadr-vtn 0.2.8 are not under {}",
                registries.display()
            )
        })
}

fn admin_url() -> String {
    std::env::var(coupler_store::testing::POSTGRES_URL_VAR)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("the VTN needs PostgreSQL, and {url} is unreachable: {e}"))
}

fn hashed(secret: &str) -> String {
    Argon2::default()
        .hash_password(secret.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash a secret")
        .to_string()
}

/// A running VTN for one test; killed and its database dropped when dropped.
#[derive(Debug)]
pub struct Vtn {
    /// Its base URL, without a trailing slash.
    pub url: String,
    port: u16,
    database: String,
    database_url: String,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Vtn {
    /// Starts a VTN on a free port over a fresh database, with the test's two clients.
    pub async fn start() -> Self {
        let database = format!("coupler_vtn_{}", uuid::Uuid::new_v4().simple());
        admin()
            .await
            .execute(format!("CREATE DATABASE {database}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create the VTN's database {database}: {e}"));
        let mut url = url::Url::parse(&admin_url()).expect("the PostgreSQL URL is a URL");
        url.set_path(&database);
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let mut vtn = Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            database,
            database_url: url.to_string(),
            child: None,
            http: reqwest::Client::new(),
        };
        vtn.run().await;
        vtn.finish_migrations().await;
        vtn.add_users().await;
        vtn
    }

    /// Applies the VTN's migrations it could not apply itself, recorded as sqlx records them so
    /// that a restart takes them as applied. openleadr-vtn 0.2.8 migrates at start, but two of its
    /// migrations select from a subquery without an alias, which PostgreSQL accepts only from
    /// version 16; on an older server the VTN logs the failure and runs on a partial schema. The
    /// migrations are read from the crate's sources (which `cargo install` left in Cargo's
    /// registry) and the alias added; nothing else changes.
    async fn finish_migrations(&self) {
        let mut db = PgConnection::connect(&self.database_url)
            .await
            .expect("the VTN's database");
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut db)
            .await
            .expect("the VTN's migration records");
        let mut files: Vec<PathBuf> = std::fs::read_dir(migrations_dir())
            .expect("the VTN's migrations")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            let name = file.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let Some((version, description)) = name.split_once('_') else {
                continue;
            };
            let version: i64 = version.parse().expect("a migration's version");
            if applied.contains(&version) {
                continue;
            }
            let original = std::fs::read(&file).expect("a migration's text");
            let sql = String::from_utf8_lossy(&original)
                .replace("unnest(_scopes) AS scope)", "unnest(_scopes) AS scope) AS old_scopes");
            let mut tx = db.begin().await.expect("a transaction");
            tx.execute(sql.as_str())
                .await
                .unwrap_or_else(|e| panic!("cannot apply the VTN's migration {name}: {e}"));
            use sha2::Digest;
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ($1, $2, true, $3, 0)",
            )
            .bind(version)
            .bind(description.replace('_', " "))
            .bind(sha2::Sha384::digest(&original).to_vec())
            .execute(&mut *tx)
            .await
            .expect("record the migration");
            tx.commit().await.expect("commit the migration");
        }
    }

    /// Starts the process and waits until it answers (it has migrated its database by then).
    async fn run(&mut self) {
        let child = Command::new(binary())
            .env("PORT", self.port.to_string())
            .env("DATABASE_URL", &self.database_url)
            .env("OAUTH_TYPE", "INTERNAL")
            .env("OAUTH_BASE64_SECRET", SIGNING_KEY_B64)
            .env("OAUTH_TOKEN_URL", format!("{}/auth/token", self.url))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        self.child = Some(child);
        let health = format!("{}/health", self.url);
        crate::wait_for("the VTN answers", || async {
            self.http
                .get(&health)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
    }

    async fn add_users(&self) {
        let mut db = PgConnection::connect(&self.database_url)
            .await
            .expect("the VTN's database");
        let users = [
            (
                BL_CLIENT,
                "{read_all,write_programs,write_events,write_vens_bl,write_reports_bl,write_subscriptions_bl}",
            ),
            (
                VEN_CLIENT,
                "{read_targets,read_ven_objects,write_reports_ven,write_subscriptions_ven,write_vens_ven}",
            ),
        ];
        for ((id, secret), scopes) in users {
            sqlx::query(
                "INSERT INTO \"user\" (id, reference, description, scopes, created, modified) \
                 VALUES ($1, $1, NULL, $2::text::scope[], now(), now())",
            )
            .bind(id)
            .bind(scopes)
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("cannot add the VTN user {id}: {e}"));
            sqlx::query("INSERT INTO user_credentials (user_id, client_id, client_secret) VALUES ($1, $1, $2)")
                .bind(id)
                .bind(hashed(secret))
                .execute(&mut db)
                .await
                .unwrap_or_else(|e| panic!("cannot add the credentials of {id}: {e}"));
        }
    }

    /// Kills the VTN (its database stays).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the VTN again on the same port and database.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.run().await;
    }

    /// A token of the business-logic client.
    pub async fn bl_token(&self) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/auth/token", self.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", BL_CLIENT.0),
                ("client_secret", BL_CLIENT.1),
            ])
            .send()
            .await
            .expect("the VTN's token endpoint answers")
            .json()
            .await
            .expect("a token answer");
        answer["access_token"].as_str().expect("an access token").to_owned()
    }

    /// A request as the business-logic client; the answer's status and JSON body.
    pub async fn bl(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(self.bl_token().await);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the VTN answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

impl Drop for Vtn {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let (admin_url, name) = (admin_url(), self.database.clone());
        // Drop runs inside the test's runtime: a thread with its own runtime drops the database.
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
