//! Configuration: defaults, then a TOML file, then `COUPLER_*` environment variables, each overriding
//! the one before. The names are a contract (DESIGN.md §9): scripts and operators depend on them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use coupler_core::account::Secret;
use coupler_core::secret::SecretKey;
use serde::Deserialize;
use url::Url;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the request's span fields (request id, route, client).
    Json,
}

/// Coupler's settings, fully resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the API and OCPP listener binds (`COUPLER_LISTEN`).
    pub listen: SocketAddr,
    /// The URL clients and chargers use to reach Coupler (`COUPLER_PUBLIC_URL`); `None` means
    /// `http://<listen>`, resolved once the listener is bound (port 0 picks a free port).
    pub public_url: Option<Url>,
    /// `sqlite://PATH` or `postgres://...` (`COUPLER_DATABASE_URL`).
    pub database_url: String,
    /// The key that encrypts secrets at rest (`COUPLER_SECRET_KEY`), if configured.
    pub secret_key: Option<SecretKey>,
    /// Log filter, in `tracing`'s env-filter syntax (`COUPLER_LOG`).
    pub log: String,
    /// Log format (`COUPLER_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// A separate address for the OCPP listener (`COUPLER_OCPP_LISTEN`); chargers are also served
    /// on the API listener.
    pub ocpp_listen: Option<SocketAddr>,
    /// The URL chargers are told to connect to, without `/ocpp/...` (`COUPLER_OCPP_PUBLIC_URL`).
    pub ocpp_public_url: Option<Url>,
    /// Admit unknown charger identities as pending instead of refusing them (`COUPLER_OCPP_ADMIT_UNKNOWN`).
    pub ocpp_admit_unknown: bool,
    /// Refuse chargers that did not connect over TLS (`COUPLER_OCPP_REQUIRE_TLS`).
    pub ocpp_require_tls: bool,
    /// Seconds to wait for a charger's answer (`COUPLER_OCPP_CALL_TIMEOUT`).
    pub ocpp_call_timeout: u64,
    /// Heartbeat interval given to chargers at boot, seconds (`COUPLER_OCPP_HEARTBEAT_INTERVAL`).
    pub ocpp_heartbeat_interval: u64,
    /// Meter sample interval set on chargers after boot, seconds (`COUPLER_OCPP_METER_INTERVAL`).
    pub ocpp_meter_interval: u64,
    /// Seconds an action may stay pending before it fails (`COUPLER_ACTION_TIMEOUT`).
    pub action_timeout: u64,
    /// Allow webhook URLs that point at loopback or private addresses (`COUPLER_WEBHOOK_ALLOW_PRIVATE`).
    pub webhook_allow_private: bool,
    /// Seconds before the first retry of a failed webhook delivery; each later wait doubles
    /// (`COUPLER_WEBHOOK_RETRY_FIRST_DELAY`).
    pub webhook_retry_first_delay: u64,
    /// The longest wait between two retries, seconds (`COUPLER_WEBHOOK_RETRY_MAX_DELAY`).
    pub webhook_retry_max_delay: u64,
    /// Seconds after a batch's first attempt when Coupler gives up and deactivates the webhook
    /// (`COUPLER_WEBHOOK_RETRY_FOR`).
    pub webhook_retry_for: u64,
    /// Days published events are kept, for stream resumes and webhooks that were inactive
    /// (`COUPLER_EVENT_RETENTION_DAYS`).
    pub event_retention_days: u64,
    /// Serve the simulated OEM cloud under `/sim` and offer its brands for linking
    /// (`COUPLER_SIMULATED_OEM`; the sandbox turns it on).
    pub simulated_oem: bool,
    /// Tesla Fleet API, when its client is configured.
    pub tesla: Option<TeslaConfig>,
    /// Smartcar, when its client is configured.
    pub smartcar: Option<SmartcarConfig>,
}

/// The Tesla Fleet API client (`COUPLER_TESLA_*`).
#[derive(Debug, Clone)]
pub struct TeslaConfig {
    /// The application's client id (`COUPLER_TESLA_CLIENT_ID`).
    pub client_id: String,
    /// The application's client secret (`COUPLER_TESLA_CLIENT_SECRET`).
    pub client_secret: Secret,
    /// The vehicle-command proxy that signs commands for cars that need it
    /// (`COUPLER_TESLA_COMMAND_PROXY_URL`).
    pub command_proxy_url: Option<Url>,
}

/// The Smartcar client (`COUPLER_SMARTCAR_*`).
#[derive(Debug, Clone)]
pub struct SmartcarConfig {
    /// The application's client id (`COUPLER_SMARTCAR_CLIENT_ID`).
    pub client_id: String,
    /// The application's client secret (`COUPLER_SMARTCAR_CLIENT_SECRET`).
    pub client_secret: Secret,
    /// Smartcar Connect mode: `live`, `simulated` or `test` (`COUPLER_SMARTCAR_MODE`).
    pub mode: String,
}

/// The keys a config file may set: the environment variables' names without `COUPLER_`, lowercased.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    database_url: Option<String>,
    secret_key: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    ocpp_listen: Option<String>,
    ocpp_public_url: Option<String>,
    ocpp_admit_unknown: Option<String>,
    ocpp_require_tls: Option<String>,
    ocpp_call_timeout: Option<String>,
    ocpp_heartbeat_interval: Option<String>,
    ocpp_meter_interval: Option<String>,
    action_timeout: Option<String>,
    webhook_allow_private: Option<String>,
    webhook_retry_first_delay: Option<String>,
    webhook_retry_max_delay: Option<String>,
    webhook_retry_for: Option<String>,
    event_retention_days: Option<String>,
    simulated_oem: Option<bool>,
    tesla_client_id: Option<String>,
    tesla_client_secret: Option<String>,
    tesla_command_proxy_url: Option<String>,
    smartcar_client_id: Option<String>,
    smartcar_client_secret: Option<String>,
    smartcar_mode: Option<String>,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://coupler.db";

impl Config {
    /// Loads the configuration from an optional file and the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::from_sources(file, |name| std::env::var(name).ok())
    }

    /// Loads the configuration from an optional file and a variable lookup (the environment, or a
    /// map in tests).
    pub fn from_sources(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let pick = |var: &str, from_file: Option<String>| env(var).filter(|v| !v.is_empty()).or(from_file);

        let listen_text = pick("COUPLER_LISTEN", from_file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .with_context(|| format!("COUPLER_LISTEN must be an address like 127.0.0.1:8080, got '{listen_text}'"))?;
        let public_url = pick("COUPLER_PUBLIC_URL", from_file.public_url)
            .map(|text| {
                let url = Url::parse(&text).with_context(|| format!("COUPLER_PUBLIC_URL is not a URL: '{text}'"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    bail!("COUPLER_PUBLIC_URL must be http:// or https://, got '{text}'");
                }
                Ok(url)
            })
            .transpose()?;
        let database_url =
            pick("COUPLER_DATABASE_URL", from_file.database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let secret_key = pick("COUPLER_SECRET_KEY", from_file.secret_key)
            .map(|text| SecretKey::parse(&text).context("COUPLER_SECRET_KEY is not usable"))
            .transpose()?;
        let log = pick("COUPLER_LOG", from_file.log).unwrap_or_else(|| "info".to_owned());
        let log_format = match pick("COUPLER_LOG_FORMAT", from_file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("COUPLER_LOG_FORMAT must be 'text' or 'json', got '{other}'"),
        };
        let ocpp_listen = pick("COUPLER_OCPP_LISTEN", from_file.ocpp_listen)
            .map(|text| {
                text.parse()
                    .with_context(|| format!("COUPLER_OCPP_LISTEN must be an address like 0.0.0.0:9000, got '{text}'"))
            })
            .transpose()?;
        let ocpp_public_url = pick("COUPLER_OCPP_PUBLIC_URL", from_file.ocpp_public_url)
            .map(|text| {
                let url =
                    Url::parse(&text).with_context(|| format!("COUPLER_OCPP_PUBLIC_URL is not a URL: '{text}'"))?;
                if !matches!(url.scheme(), "ws" | "wss") {
                    bail!("COUPLER_OCPP_PUBLIC_URL must be ws:// or wss://, got '{text}'");
                }
                Ok(url)
            })
            .transpose()?;
        let simulated_oem = match env("COUPLER_SIMULATED_OEM").filter(|v| !v.is_empty()).as_deref() {
            None => from_file.simulated_oem.unwrap_or(false),
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(other) => bail!("COUPLER_SIMULATED_OEM must be true or false, got '{other}'"),
        };
        let tesla = match (
            pick("COUPLER_TESLA_CLIENT_ID", from_file.tesla_client_id),
            pick("COUPLER_TESLA_CLIENT_SECRET", from_file.tesla_client_secret),
        ) {
            (Some(client_id), Some(secret)) => Some(TeslaConfig {
                client_id,
                client_secret: Secret::new(secret),
                command_proxy_url: pick("COUPLER_TESLA_COMMAND_PROXY_URL", from_file.tesla_command_proxy_url)
                    .map(|text| http_url("COUPLER_TESLA_COMMAND_PROXY_URL", &text))
                    .transpose()?,
            }),
            (None, None) => None,
            _ => bail!("COUPLER_TESLA_CLIENT_ID and COUPLER_TESLA_CLIENT_SECRET must be set together"),
        };
        let smartcar = match (
            pick("COUPLER_SMARTCAR_CLIENT_ID", from_file.smartcar_client_id),
            pick("COUPLER_SMARTCAR_CLIENT_SECRET", from_file.smartcar_client_secret),
        ) {
            (Some(client_id), Some(secret)) => {
                let mode = pick("COUPLER_SMARTCAR_MODE", from_file.smartcar_mode).unwrap_or_else(|| "live".to_owned());
                if !matches!(mode.as_str(), "live" | "simulated" | "test") {
                    bail!("COUPLER_SMARTCAR_MODE must be live, simulated or test, got '{mode}'");
                }
                Some(SmartcarConfig {
                    client_id,
                    client_secret: Secret::new(secret),
                    mode,
                })
            }
            (None, None) => None,
            _ => bail!("COUPLER_SMARTCAR_CLIENT_ID and COUPLER_SMARTCAR_CLIENT_SECRET must be set together"),
        };
        Ok(Self {
            listen,
            public_url,
            database_url,
            secret_key,
            log,
            log_format,
            ocpp_listen,
            ocpp_public_url,
            ocpp_admit_unknown: flag(
                "COUPLER_OCPP_ADMIT_UNKNOWN",
                pick("COUPLER_OCPP_ADMIT_UNKNOWN", from_file.ocpp_admit_unknown),
            )?,
            ocpp_require_tls: flag(
                "COUPLER_OCPP_REQUIRE_TLS",
                pick("COUPLER_OCPP_REQUIRE_TLS", from_file.ocpp_require_tls),
            )?,
            ocpp_call_timeout: seconds(
                "COUPLER_OCPP_CALL_TIMEOUT",
                pick("COUPLER_OCPP_CALL_TIMEOUT", from_file.ocpp_call_timeout),
                30,
            )?,
            ocpp_heartbeat_interval: seconds(
                "COUPLER_OCPP_HEARTBEAT_INTERVAL",
                pick("COUPLER_OCPP_HEARTBEAT_INTERVAL", from_file.ocpp_heartbeat_interval),
                300,
            )?,
            ocpp_meter_interval: seconds(
                "COUPLER_OCPP_METER_INTERVAL",
                pick("COUPLER_OCPP_METER_INTERVAL", from_file.ocpp_meter_interval),
                60,
            )?,
            action_timeout: seconds(
                "COUPLER_ACTION_TIMEOUT",
                pick("COUPLER_ACTION_TIMEOUT", from_file.action_timeout),
                60,
            )?,
            webhook_allow_private: flag(
                "COUPLER_WEBHOOK_ALLOW_PRIVATE",
                pick("COUPLER_WEBHOOK_ALLOW_PRIVATE", from_file.webhook_allow_private),
            )?,
            webhook_retry_first_delay: seconds(
                "COUPLER_WEBHOOK_RETRY_FIRST_DELAY",
                pick("COUPLER_WEBHOOK_RETRY_FIRST_DELAY", from_file.webhook_retry_first_delay),
                30,
            )?,
            webhook_retry_max_delay: seconds(
                "COUPLER_WEBHOOK_RETRY_MAX_DELAY",
                pick("COUPLER_WEBHOOK_RETRY_MAX_DELAY", from_file.webhook_retry_max_delay),
                4 * 3600,
            )?,
            webhook_retry_for: seconds(
                "COUPLER_WEBHOOK_RETRY_FOR",
                pick("COUPLER_WEBHOOK_RETRY_FOR", from_file.webhook_retry_for),
                24 * 3600,
            )?,
            event_retention_days: match pick("COUPLER_EVENT_RETENTION_DAYS", from_file.event_retention_days) {
                None => 7,
                Some(text) => text
                    .parse::<u64>()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .with_context(|| {
                        format!("COUPLER_EVENT_RETENTION_DAYS must be a number of days from 1 to 3650, got '{text}'")
                    })?,
            },
            simulated_oem,
            tesla,
            smartcar,
        })
    }

    /// The SQLite file the database URL names, if it names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// The key that encrypts secrets at rest: the configured one; with SQLite and none configured,
    /// the one kept in `<database file>.key` (generated on first start, readable by the owner only);
    /// with PostgreSQL it must be configured, because several nodes must share it.
    pub fn resolve_secret_key(&self) -> anyhow::Result<SecretKey> {
        if let Some(key) = &self.secret_key {
            return Ok(key.clone());
        }
        let Some(db_path) = self.sqlite_path() else {
            bail!("COUPLER_SECRET_KEY is required with a PostgreSQL database (generate one with: openssl rand -base64 32)");
        };
        let mut key_path = db_path.into_os_string();
        key_path.push(".key");
        let key_path = PathBuf::from(key_path);
        match std::fs::read_to_string(&key_path) {
            Ok(text) => {
                SecretKey::parse(&text).with_context(|| format!("the key file {} is not usable", key_path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                write_private_file(&key_path, &key.encode())
                    .with_context(|| format!("cannot write the key file {}", key_path.display()))?;
                tracing::info!(path = %key_path.display(), "generated the secret key and stored it beside the database");
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", key_path.display())),
        }
    }
}

/// Reads a yes/no setting.
fn flag(var: &str, value: Option<String>) -> anyhow::Result<bool> {
    match value.as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => bail!("{var} must be true or false, got '{other}'"),
    }
}

/// Reads a number of seconds from 1 to a day.
fn seconds(var: &str, value: Option<String>, default: u64) -> anyhow::Result<u64> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .with_context(|| format!("{var} must be a number of seconds from 1 to 86400, got '{text}'")),
    }
}

/// Reads an http(s) URL setting.
fn http_url(var: &str, text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text).with_context(|| format!("{var} is not a URL: '{text}'"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("{var} must be http:// or https://, got '{text}'");
    }
    Ok(url)
}

/// Writes a file only its owner can read.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn with_nothing_configured_coupler_listens_locally_on_a_sqlite_file() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.sqlite_path(), Some(PathBuf::from("coupler.db")));
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.public_url.is_none());
    }

    #[test]
    fn environment_variables_override_the_config_file() {
        let dir = std::env::temp_dir().join(format!("coupler-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("coupler.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nlog_format = \"json\"\ndatabase_url = \"sqlite://a.db\"\n",
        )
        .unwrap();
        let config =
            Config::from_sources(Some(&file), env(&[("COUPLER_DATABASE_URL", "postgres://db/coupler")])).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.database_url, "postgres://db/coupler");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        for (var, value) in [
            ("COUPLER_LISTEN", "nowhere"),
            ("COUPLER_PUBLIC_URL", "ftp://x"),
            ("COUPLER_SECRET_KEY", "short"),
            ("COUPLER_LOG_FORMAT", "xml"),
            ("COUPLER_OCPP_LISTEN", "x"),
            ("COUPLER_OCPP_PUBLIC_URL", "http://x"),
            ("COUPLER_OCPP_ADMIT_UNKNOWN", "maybe"),
            ("COUPLER_OCPP_CALL_TIMEOUT", "0"),
            ("COUPLER_ACTION_TIMEOUT", "soon"),
            ("COUPLER_WEBHOOK_ALLOW_PRIVATE", "maybe"),
            ("COUPLER_WEBHOOK_RETRY_FIRST_DELAY", "0"),
            ("COUPLER_WEBHOOK_RETRY_MAX_DELAY", "forever"),
            ("COUPLER_WEBHOOK_RETRY_FOR", "-1"),
            ("COUPLER_EVENT_RETENTION_DAYS", "0"),
            ("COUPLER_SIMULATED_OEM", "maybe"),
        ] {
            let err = Config::from_sources(None, env(&[(var, value)])).unwrap_err();
            assert!(format!("{err:#}").contains(var), "{var}: {err:#}");
        }
    }

    #[test]
    fn webhook_settings_default_to_a_day_of_retries_and_no_private_addresses() {
        let defaults = Config::from_sources(None, env(&[])).unwrap();
        assert!(!defaults.webhook_allow_private);
        assert_eq!(
            (
                defaults.webhook_retry_first_delay,
                defaults.webhook_retry_max_delay,
                defaults.webhook_retry_for
            ),
            (30, 4 * 3600, 24 * 3600)
        );
        assert_eq!(defaults.event_retention_days, 7);
        let set = Config::from_sources(
            None,
            env(&[
                ("COUPLER_WEBHOOK_ALLOW_PRIVATE", "true"),
                ("COUPLER_WEBHOOK_RETRY_FIRST_DELAY", "1"),
                ("COUPLER_WEBHOOK_RETRY_MAX_DELAY", "10"),
                ("COUPLER_WEBHOOK_RETRY_FOR", "60"),
            ]),
        )
        .unwrap();
        assert!(set.webhook_allow_private);
        assert_eq!(
            (
                set.webhook_retry_first_delay,
                set.webhook_retry_max_delay,
                set.webhook_retry_for
            ),
            (1, 10, 60)
        );
    }

    #[test]
    fn vendor_clients_are_configured_by_their_variables_and_keep_secrets_out_of_debug() {
        let config = Config::from_sources(
            None,
            env(&[
                ("COUPLER_TESLA_CLIENT_ID", "tesla-app"),
                ("COUPLER_TESLA_CLIENT_SECRET", "tesla-secret"),
                ("COUPLER_TESLA_COMMAND_PROXY_URL", "https://proxy.internal:4443"),
                ("COUPLER_SMARTCAR_CLIENT_ID", "sc-app"),
                ("COUPLER_SMARTCAR_CLIENT_SECRET", "sc-secret"),
                ("COUPLER_SIMULATED_OEM", "true"),
            ]),
        )
        .unwrap();
        let tesla = config.tesla.as_ref().unwrap();
        assert_eq!(tesla.client_id, "tesla-app");
        assert_eq!(
            tesla.command_proxy_url.as_ref().unwrap().as_str(),
            "https://proxy.internal:4443/"
        );
        assert_eq!(config.smartcar.as_ref().unwrap().mode, "live");
        assert!(config.simulated_oem);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("tesla-secret") && !debug.contains("sc-secret"),
            "{debug}"
        );

        let half = Config::from_sources(None, env(&[("COUPLER_TESLA_CLIENT_ID", "x")])).unwrap_err();
        assert!(format!("{half:#}").contains("COUPLER_TESLA_CLIENT_SECRET"));
        let mode = Config::from_sources(
            None,
            env(&[
                ("COUPLER_SMARTCAR_CLIENT_ID", "a"),
                ("COUPLER_SMARTCAR_CLIENT_SECRET", "b"),
                ("COUPLER_SMARTCAR_MODE", "fake"),
            ]),
        )
        .unwrap_err();
        assert!(format!("{mode:#}").contains("COUPLER_SMARTCAR_MODE"));
    }

    #[test]
    fn postgres_requires_a_configured_secret_key() {
        let config = Config::from_sources(None, env(&[("COUPLER_DATABASE_URL", "postgres://db/x")])).unwrap();
        assert!(config.resolve_secret_key().is_err());
    }

    #[test]
    fn with_sqlite_the_secret_key_is_generated_once_and_kept_beside_the_database() {
        let dir = std::env::temp_dir().join(format!("coupler-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("c.db").display());
        let config = Config::from_sources(None, env(&[("COUPLER_DATABASE_URL", &url)])).unwrap();
        let first = config.resolve_secret_key().unwrap();
        let second = config.resolve_secret_key().unwrap();
        assert_eq!(first.encode(), second.encode());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("c.db.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
