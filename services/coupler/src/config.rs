//! Configuration: one typed settings tree by section ([`Config`]), each setting declared once in the
//! `settings!` table below with its type, its default, its environment variable and its meaning.
//! From that one declaration come the struct fields, the config file's keys, the environment
//! variables, the `--help` text and the README's table (a test keeps the README equal to it).
//!
//! Layers, each overriding the one before: defaults, then a TOML file (`--config`), then `COUPLER_*`
//! environment variables, then what a command-line flag implies (`serve --sandbox`). The variables' names are
//! a contract (the README's configuration table): scripts and operators depend on them.
//!
//! A file sets a setting as `[section] key = value`, or, as before sections existed, at the top level
//! under the environment variable's name without `COUPLER_`, in lower case (`ocpp_call_timeout = 30`).
//! Unknown keys are refused, so a typo does not silently leave a default in force.
//!
//! Where a component (the gateway, the engines, webhooks) has its own `Default`, that is the one
//! place its defaults are written: the tree takes them from it, and hands the component a config
//! built from the tree with every field set.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use coupler_api::limits::{Rate, RateLimitConfig};
use coupler_core::account::Secret;
use coupler_core::event::RetryPolicy;
use coupler_core::polling::PollPolicy;
use coupler_core::secret::SecretKey;
use coupler_engine::smart::SmartConfig;
use coupler_engine::webhooks::WebhookConfig;
use coupler_engine::{ChargerEngineConfig, EngineConfig, PairingConfig, PriceConfig};
use coupler_gateway::GatewayConfig;

mod value;

pub use value::{BearerToken, Days, HttpUrl, LogFormat, PriceProviderSetting, SettingValue, SmartcarMode, WsUrl};

/// One setting, described: where it is read from and what it means.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    /// The file's section (`ocpp` for `[ocpp]`).
    pub section: &'static str,
    /// The key within the section.
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// What it means, in plain words (the field's doc comment).
    pub meaning: &'static str,
    /// How the default is described, when showing the value would not say it (a derived default).
    pub default_described: Option<&'static str>,
}

impl SettingSpec {
    /// The key a file may set at its top level: the variable's name without `COUPLER_`, lowercased.
    pub fn flat_key(&self) -> String {
        self.env.trim_start_matches("COUPLER_").to_ascii_lowercase()
    }

    /// The default, as shown in help and the README.
    pub fn default_text(&self) -> String {
        match self.default_described {
            Some(text) => text.to_owned(),
            None => Config::default().show(self.section, self.key).unwrap_or_default(),
        }
    }
}

/// Declares the settings tree: for each section a struct, for each setting a field with its type,
/// default, environment variable and meaning. Everything else (reading files and the environment,
/// help, the README table) is derived from this one declaration.
macro_rules! settings {
    (@described $text:literal) => { Some($text) };
    (@described) => { None };
    ($(
        $(#[doc = $section_doc:literal])*
        [$section:ident] $Section:ident {
            $(
                $(#[doc = $doc:literal])*
                $key:ident: $ty:ty = $default:expr, env $env:literal $(, default described $described:literal)?;
            )*
        }
    )*) => {
        /// Coupler's settings, by section, fully resolved.
        #[derive(Debug, Clone)]
        pub struct Config {
            $(
                $(#[doc = $section_doc])*
                pub $section: $Section,
            )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self { $( $section: $Section::default(), )* }
            }
        }

        $(
            $(#[doc = $section_doc])*
            #[derive(Debug, Clone)]
            pub struct $Section {
                $(
                    $(#[doc = $doc])*
                    pub $key: $ty,
                )*
            }

            impl Default for $Section {
                fn default() -> Self {
                    Self { $( $key: $default, )* }
                }
            }
        )*

        /// Every setting, in the order declared.
        pub const SETTINGS: &[SettingSpec] = &[
            $( $(
                SettingSpec {
                    section: stringify!($section),
                    key: stringify!($key),
                    env: $env,
                    meaning: concat!($($doc),*),
                    default_described: settings!(@described $($described)?),
                },
            )* )*
        ];

        /// Every section, with what it is about.
        pub const SECTIONS: &[(&str, &str)] = &[
            $( (stringify!($section), concat!($($section_doc),*)), )*
        ];

        impl Config {
            /// Sets one setting from text; `Ok(false)` when there is no such setting.
            fn set(&mut self, section: &str, key: &str, text: &str) -> Result<bool, String> {
                match (section, key) {
                    $( $(
                        (stringify!($section), stringify!($key)) => {
                            self.$section.$key = <$ty as SettingValue>::parse(text)?;
                            Ok(true)
                        }
                    )* )*
                    _ => Ok(false),
                }
            }

            /// One setting's value, as text.
            pub fn show(&self, section: &str, key: &str) -> Option<String> {
                match (section, key) {
                    $( $(
                        (stringify!($section), stringify!($key)) => Some(SettingValue::show(&self.$section.$key)),
                    )* )*
                    _ => None,
                }
            }
        }
    };
}

/// The component configs, whose `Default` is the one place their defaults are written.
fn gateway() -> GatewayConfig {
    GatewayConfig::default()
}
fn engine() -> EngineConfig {
    EngineConfig::default()
}
fn polls() -> PollPolicy {
    PollPolicy::default()
}
fn pairing() -> PairingConfig {
    PairingConfig::default()
}
fn webhooks() -> WebhookConfig {
    WebhookConfig::default()
}
fn smart() -> SmartConfig {
    SmartConfig::default()
}
fn rate_limits() -> RateLimitConfig {
    RateLimitConfig::default()
}
fn prices() -> PriceConfig {
    PriceConfig::default()
}
/// Pairing's rules count time in `chrono` durations; the tree in `std` ones.
fn std_duration(d: chrono::Duration) -> Duration {
    d.to_std().unwrap_or_default()
}

settings! {
    /// The HTTP API.
    [http] Http {
        /// Address the API and OCPP listener binds.
        listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)), env "COUPLER_LISTEN";
        /// The URL clients and chargers use to reach Coupler (link pages, OCPP URLs).
        public_url: Option<HttpUrl> = None, env "COUPLER_PUBLIC_URL", default described "http://<listen>";
        /// Let several `coupler serve` processes on this host listen on the same API and OCPP addresses (SO_REUSEPORT; the kernel spreads new connections over them). Every process on the address must set it. Linux only.
        reuse_port: bool = false, env "COUPLER_REUSE_PORT";
        /// How long an access token from /oauth/token lasts.
        token_ttl: Duration = coupler_api::routes::oauth::DEFAULT_TOKEN_TTL, env "COUPLER_HTTP_TOKEN_TTL";
        /// How often expired access tokens are removed.
        token_sweep_interval: Duration = Duration::from_secs(3600), env "COUPLER_HTTP_TOKEN_SWEEP_INTERVAL";
    }
    /// Rate limits, each a burst let through at once and then a sustained rate per minute; a refused request gets 429 with Retry-After.
    [rate_limits] RateLimits {
        /// /oauth/token requests from one source address let through at once.
        token_per_address_burst: u32 = rate_limits().token_per_address.burst, env "COUPLER_RATE_LIMIT_TOKEN_PER_ADDRESS_BURST";
        /// /oauth/token requests per minute from one source address, after the burst.
        token_per_address_per_minute: u32 = rate_limits().token_per_address.per_minute, env "COUPLER_RATE_LIMIT_TOKEN_PER_ADDRESS_PER_MINUTE";
        /// /oauth/token requests naming one client id let through at once.
        token_per_client_burst: u32 = rate_limits().token_per_client.burst, env "COUPLER_RATE_LIMIT_TOKEN_PER_CLIENT_BURST";
        /// /oauth/token requests per minute naming one client id, after the burst.
        token_per_client_per_minute: u32 = rate_limits().token_per_client.per_minute, env "COUPLER_RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE";
        /// Failed authentications (wrong client secret, bad bearer token) from one source address let through at once; once used up, every authentication from there is refused until the bucket refills.
        failed_auth_per_address_burst: u32 = rate_limits().failed_auth_per_address.burst, env "COUPLER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST";
        /// Failed authentications per minute from one source address, after the burst.
        failed_auth_per_address_per_minute: u32 = rate_limits().failed_auth_per_address.per_minute, env "COUPLER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_PER_MINUTE";
        /// Authenticated API requests of one client let through at once.
        api_per_client_burst: u32 = rate_limits().api_per_client.burst, env "COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST";
        /// Authenticated API requests per minute of one client, after the burst.
        api_per_client_per_minute: u32 = rate_limits().api_per_client.per_minute, env "COUPLER_RATE_LIMIT_API_PER_CLIENT_PER_MINUTE";
    }
    /// Who may read /metrics (Prometheus text format), and on which listener.
    [metrics] Metrics {
        /// A bearer token /metrics then requires (Authorization: Bearer <token>; 16 to 256 visible characters, no spaces); without one /metrics is open to whoever reaches it.
        token: Option<BearerToken> = None, env "COUPLER_METRICS_TOKEN";
        /// A listener of its own for /metrics (such as 127.0.0.1:9090); when set, /metrics is served only there and the API listener answers 404 for it.
        listen: Option<SocketAddr> = None, env "COUPLER_METRICS_LISTEN";
    }
    /// The database and the key that encrypts secrets in it.
    [store] Store {
        /// sqlite://PATH or postgres://...
        database_url: String = "sqlite://coupler.db".to_owned(), env "COUPLER_DATABASE_URL";
        /// 32-byte key (base64 or hex) that encrypts secrets at rest.
        secret_key: Option<SecretKey> = None, env "COUPLER_SECRET_KEY", default described "generated into <database file>.key with SQLite; required with PostgreSQL";
        /// Connections this node opens to PostgreSQL at most, besides one held for LISTEN/NOTIFY; the nodes' sum must stay under the server's max_connections. Ignored with SQLite.
        pool_size: u32 = coupler_store::DEFAULT_PG_POOL_SIZE, env "COUPLER_DATABASE_POOL_SIZE";
    }
    /// This process among several Coupler nodes sharing one PostgreSQL database (each charger's socket is held by one node, commands reach it from any node).
    [node] Node {
        /// This node's id, unique among the nodes sharing the database (1 to 64 letters, digits, '.', '_' or '-'); keep it across restarts so a restarted node takes up at once what it held.
        id: Option<String> = None, env "COUPLER_NODE_ID", default described "coupler with SQLite; generated at start with PostgreSQL";
        /// How long this node's lease lasts unless renewed (it is renewed at a third of that); the chargers and actions of a node that died go to the others after this long.
        lease: Duration = coupler_gateway::DEFAULT_NODE_LEASE, env "COUPLER_NODE_LEASE";
    }
    /// Logs (to standard error).
    [log] Log {
        /// Log filter (info, debug, coupler_api=debug,info, ...).
        filter: String = "info".to_owned(), env "COUPLER_LOG";
        /// text, or json (one object per line, with request id, route and client).
        format: LogFormat = LogFormat::Text, env "COUPLER_LOG_FORMAT";
    }
    /// The OCPP gateway chargers connect to.
    [ocpp] Ocpp {
        /// An extra listener for chargers only (they are always served on the API listener too).
        listen: Option<SocketAddr> = None, env "COUPLER_OCPP_LISTEN";
        /// The ws:// or wss:// base chargers are told to connect to.
        public_url: Option<WsUrl> = None, env "COUPLER_OCPP_PUBLIC_URL", default described "derived from the public URL (or the OCPP listener)";
        /// Let unknown identities in, answering their boot Pending, instead of refusing them with 404.
        admit_unknown: bool = gateway().admit_unknown, env "COUPLER_OCPP_ADMIT_UNKNOWN";
        /// Refuse chargers not connected over TLS (per X-Forwarded-Proto from the TLS proxy).
        require_tls: bool = gateway().require_tls, env "COUPLER_OCPP_REQUIRE_TLS";
        /// How long to wait for a charger's answer to a call.
        call_timeout: Duration = gateway().call_timeout, env "COUPLER_OCPP_CALL_TIMEOUT";
        /// Heartbeat interval given to chargers at boot.
        heartbeat_interval: Duration = gateway().heartbeat_interval, env "COUPLER_OCPP_HEARTBEAT_INTERVAL";
        /// Meter sample interval set on chargers after boot.
        meter_interval: Duration = gateway().meter_sample_interval, env "COUPLER_OCPP_METER_INTERVAL";
        /// The measurands asked for after boot, most wanted first (comma-separated).
        measurands: Vec<String> = gateway().measurands, env "COUPLER_OCPP_MEASURANDS";
        /// How often Coupler pings a charger's WebSocket.
        ping_interval: Duration = gateway().ping_interval, env "COUPLER_OCPP_PING_INTERVAL";
        /// How long a ping may go unanswered before the connection counts as dead.
        pong_timeout: Duration = gateway().pong_timeout, env "COUPLER_OCPP_PONG_TIMEOUT";
        /// The largest message (and frame) accepted from a charger, in bytes.
        max_message_bytes: usize = gateway().max_message_bytes, env "COUPLER_OCPP_MAX_MESSAGE_BYTES";
        /// The id tag remote starts are made with.
        remote_start_id_tag: String = gateway().remote_start_id_tag, env "COUPLER_OCPP_REMOTE_START_ID_TAG";
        /// Security profile 3: refuse chargers that present no client certificate naming their identity (subject common name); needs Coupler's own TLS with [tls] client_ca. Without it, a charger presenting such a certificate is still let in without Basic credentials.
        require_client_certificate: bool = gateway().require_client_certificate, env "COUPLER_OCPP_REQUIRE_CLIENT_CERTIFICATE";
        /// PEM file of the CA certificate (its chain may follow) that signs chargers' certificates when they send SignCertificate; without it (and its key) such requests are answered Rejected.
        signing_ca_certificate: Option<PathBuf> = None, env "COUPLER_OCPP_SIGNING_CA_CERTIFICATE";
        /// PEM file of that CA's private key (PKCS#8; ECDSA P-256/P-384 or Ed25519). Read once at start, never logged.
        signing_ca_private_key: Option<PathBuf> = None, env "COUPLER_OCPP_SIGNING_CA_PRIVATE_KEY";
        /// How long a certificate Coupler signs for a charger is valid, in days.
        certificate_validity_days: Days = Days(365), env "COUPLER_OCPP_CERTIFICATE_VALIDITY_DAYS";
        /// Vendor ids whose DataTransfer messages chargers may send (comma-separated): answered Accepted; every other vendor's are answered UnknownVendorId. Both are kept as operations of the charger.
        data_transfer_vendors: Vec<String> = gateway().data_transfer_vendors, env "COUPLER_OCPP_DATA_TRANSFER_VENDORS", default described "none";
    }
    /// TLS served by Coupler itself, on the API listener and the OCPP listener (https and wss; OCPP security profiles 2 and 3 without a proxy). Without these, serve plain HTTP behind a TLS-terminating proxy.
    [tls] Tls {
        /// PEM file of the server's certificate chain, its own certificate first; with private_key, turns TLS on.
        certificate_chain: Option<PathBuf> = None, env "COUPLER_TLS_CERTIFICATE_CHAIN";
        /// PEM file of the server's private key (PKCS#8, PKCS#1 or SEC1). Read once at start, never logged.
        private_key: Option<PathBuf> = None, env "COUPLER_TLS_PRIVATE_KEY";
        /// PEM file of the CA certificates client certificates are verified against (security profile 3): a certificate from another CA fails the TLS handshake; presenting none is left to the OCPP gateway to refuse.
        client_ca: Option<PathBuf> = None, env "COUPLER_TLS_CLIENT_CA";
    }
    /// Actions (start, stop, max current) and how they are carried out.
    [engine] Engine {
        /// How long a charger action may stay pending before it fails with NO_RESPONSE.
        charger_action_timeout: Duration = ChargerEngineConfig::default().action_timeout, env "COUPLER_ACTION_TIMEOUT";
        /// How long a vehicle action may stay pending before it fails with NO_RESPONSE.
        vehicle_action_timeout: Duration = engine().action_timeout, env "COUPLER_VEHICLE_ACTION_TIMEOUT";
        /// How long a vehicle's command may take through its paired charger before the vehicle's maker is tried.
        charger_route_timeout: Duration = engine().charger_route_timeout, env "COUPLER_ENGINE_CHARGER_ROUTE_TIMEOUT";
        /// How often a command sent to a maker is checked for its effect by reading the vehicle.
        confirm_every: Duration = engine().confirm_every, env "COUPLER_ENGINE_CONFIRM_EVERY";
        /// How long to wait after waking a car before sending its command again.
        wake_wait: Duration = engine().wake_wait, env "COUPLER_ENGINE_WAKE_WAIT";
        /// How often the action runner looks for pending vehicle actions (it also wakes on new ones).
        action_tick: Duration = engine().action_tick, env "COUPLER_ENGINE_ACTION_TICK";
    }
    /// Reading vehicles from their makers, and refreshing the makers' tokens.
    [polling] Polling {
        /// How often the poller looks for vehicles due a read (it also wakes on refresh hints).
        tick: Duration = engine().poll_tick, env "COUPLER_POLLING_TICK";
        /// The most vehicles read in one pass.
        batch: u32 = engine().poll_batch, env "COUPLER_POLLING_BATCH";
        /// How many reads run at once.
        concurrency: usize = engine().poll_concurrency, env "COUPLER_POLLING_CONCURRENCY";
        /// How long a node holds a vehicle it is reading; another node may take it after.
        lease: Duration = engine().poll_lease, env "COUPLER_POLLING_LEASE";
        /// Read interval while a vehicle charges.
        charging: Duration = polls().charging, env "COUPLER_POLLING_CHARGING";
        /// Read interval while plugged in and not charging.
        plugged_in: Duration = polls().plugged_in, env "COUPLER_POLLING_PLUGGED_IN";
        /// Read interval while unplugged.
        parked: Duration = polls().parked, env "COUPLER_POLLING_PARKED";
        /// Read interval while asleep or offline (a car is never woken to be read).
        asleep: Duration = polls().asleep, env "COUPLER_POLLING_ASLEEP";
        /// Read interval before anything is known (right after linking).
        unknown: Duration = polls().unknown, env "COUPLER_POLLING_UNKNOWN";
        /// The first wait after a failed read; it doubles with each further failure.
        backoff_base: Duration = polls().backoff_base, env "COUPLER_POLLING_BACKOFF_BASE";
        /// The longest wait after failed reads.
        backoff_max: Duration = polls().backoff_max, env "COUPLER_POLLING_BACKOFF_MAX";
        /// The wait after a maker's rate limit that did not say how long.
        rate_limited_wait: Duration = polls().rate_limited_default, env "COUPLER_POLLING_RATE_LIMITED_WAIT";
        /// Failed reads in a row after which a vehicle counts as unreachable.
        unreachable_after_failures: u32 = polls().unreachable_after_failures, env "COUPLER_POLLING_UNREACHABLE_AFTER_FAILURES";
        /// Makers' tokens expiring within this margin are refreshed ahead of time.
        refresh_margin: Duration = engine().refresh_margin, env "COUPLER_POLLING_REFRESH_MARGIN";
        /// How often the refresher looks for expiring tokens.
        refresh_tick: Duration = engine().refresh_tick, env "COUPLER_POLLING_REFRESH_TICK";
        /// How long a node holds an account whose token it refreshes; another node may take it after.
        refresh_lease: Duration = engine().refresh_lease, env "COUPLER_POLLING_REFRESH_LEASE";
    }
    /// Which car is in which charger.
    [pairing] Pairing {
        /// How often open plug-ins are weighed again (time alone changes a decision: windows close).
        tick: Duration = pairing().tick, env "COUPLER_PAIRING_TICK";
        /// While a plug-in is undecided, the shortest wait before the user's vehicles are read again; it doubles each time.
        repoll_every: Duration = pairing().repoll_every, env "COUPLER_PAIRING_REPOLL_EVERY";
        /// How close a vehicle's plug-in must be to the charger's to count as the same event.
        correlation_window: Duration = std_duration(pairing().rules.correlation_window), env "COUPLER_PAIRING_CORRELATION_WINDOW";
        /// How long after a plug-in Coupler keeps waiting for vehicles to report before giving up.
        detection_window: Duration = std_duration(pairing().rules.detection_window), env "COUPLER_PAIRING_DETECTION_WINDOW";
        /// Vehicle data from this long after a plug-in may still predate it at the maker: an unplugged then does not rule a vehicle out.
        maker_lag: Duration = std_duration(pairing().rules.maker_lag), env "COUPLER_PAIRING_MAKER_LAG", default described "0s (the makers stamp their own data time)";
        /// Allowed clock difference between Coupler, chargers and makers.
        clock_slack: Duration = std_duration(pairing().rules.clock_slack), env "COUPLER_PAIRING_CLOCK_SLACK";
        /// A vehicle's charge rate within this share of the charger's power counts as a match (0.15 is 15%).
        power_tolerance: f64 = pairing().rules.power_tolerance, env "COUPLER_PAIRING_POWER_TOLERANCE";
        /// How many comparisons of a vehicle's charge rate with a charger's meter, at distinct times, make power evidence (for or against).
        power_comparisons: usize = pairing().rules.power_comparisons, env "COUPLER_PAIRING_POWER_COMPARISONS";
    }
    /// Smart charging: plans made from policies, put on chargers or followed through makers.
    [smart_charging] SmartCharging {
        /// Share of grid energy that reaches the battery (charging losses), above 0 and at most 1; plans buy this much more energy than the battery takes.
        efficiency: f64 = smart().efficiency, env "COUPLER_SMART_CHARGING_EFFICIENCY";
        /// Phase voltage, volts: turns a plan's power into the current per phase a charging profile limits.
        phase_voltage: f64 = smart().phase_voltage, env "COUPLER_SMART_CHARGING_PHASE_VOLTAGE";
        /// Phases a car charges on where the charger's meter does not show it (1 to 3).
        phases: u32 = u32::from(smart().phases), env "COUPLER_SMART_CHARGING_PHASES";
        /// The most current a car takes where its maker does not say, amperes per phase (a charger's own policy plans with it).
        default_max_current: f64 = smart().default_max_current_a, env "COUPLER_SMART_CHARGING_DEFAULT_MAX_CURRENT";
        /// How often live plans are compared with the meter (charging that falls behind is planned again) and policies are looked at.
        check_interval: Duration = smart().check_interval, env "COUPLER_SMART_CHARGING_CHECK_INTERVAL";
        /// Points (0 to 100) a car's state of charge read before it was plugged in is planned lower by, until the car reports again: the most a day's driving may have used.
        stale_soc_margin: f64 = smart().stale_soc_margin, env "COUPLER_SMART_CHARGING_STALE_SOC_MARGIN";
    }
    /// Delivering events to webhooks.
    [webhooks] Webhooks {
        /// true lets webhook URLs point at loopback or private addresses (for development; serve --sandbox always allows them); otherwise they are refused when stored and, after DNS resolution, when delivered.
        allow_private: bool = webhooks().allow_private, env "COUPLER_WEBHOOK_ALLOW_PRIVATE";
        /// The wait before a failed delivery is retried; each later wait doubles, with ±20% jitter.
        retry_first_delay: Duration = webhooks().retry.first_delay, env "COUPLER_WEBHOOK_RETRY_FIRST_DELAY";
        /// The longest wait between two retries.
        retry_max_delay: Duration = webhooks().retry.max_delay, env "COUPLER_WEBHOOK_RETRY_MAX_DELAY";
        /// How long after a batch's first attempt Coupler gives up and marks the webhook inactive.
        retry_for: Duration = webhooks().retry.give_up_after, env "COUPLER_WEBHOOK_RETRY_FOR";
        /// How long one delivery request may take.
        timeout: Duration = webhooks().timeout, env "COUPLER_WEBHOOK_TIMEOUT";
        /// The most events in one delivery.
        batch_size: u32 = webhooks().batch_size, env "COUPLER_WEBHOOK_BATCH_SIZE";
        /// How often the delivery worker looks for work.
        tick: Duration = webhooks().tick, env "COUPLER_WEBHOOK_TICK";
        /// The most webhooks served at once by this node.
        concurrency: usize = webhooks().concurrency, env "COUPLER_WEBHOOK_CONCURRENCY";
        /// How long a node holds a webhook it serves; another node may take it after. Longer than the timeout.
        lease: Duration = webhooks().lease, env "COUPLER_WEBHOOK_LEASE";
        /// How often every active webhook gets a signed system:heartbeat event (one per node), so a receiver can tell a quiet Coupler from a broken path.
        heartbeat_interval: Duration = coupler_api::heartbeat::DEFAULT_HEARTBEAT_INTERVAL, env "COUPLER_WEBHOOK_HEARTBEAT_INTERVAL";
    }
    /// The event log behind the event stream and webhooks.
    [events] Events {
        /// Days published events are kept (for Last-Event-ID resumes and webhooks reactivated later); each asset's latest event is kept regardless.
        retention_days: Days = Days(7), env "COUPLER_EVENT_RETENTION_DAYS";
        /// How often old events are removed.
        prune_interval: Duration = Duration::from_secs(3600), env "COUPLER_EVENT_PRUNE_INTERVAL";
        /// How often events written since the last pass are published (at once again while there is a backlog).
        relay_tick: Duration = Duration::from_millis(100), env "COUPLER_EVENT_RELAY_TICK";
    }
    /// Trying Coupler out: the simulated makers, and `serve --sandbox`.
    [sandbox] Sandbox {
        /// true serves the simulated OEM cloud under /sim (demo accounts: username demo, password demo) and offers its makers for linking; its state lives in memory. serve --sandbox turns it on.
        simulated_oem: bool = false, env "COUPLER_SIMULATED_OEM";
        /// The database serve --sandbox runs on.
        database_url: String = "sqlite://coupler-sandbox.db".to_owned(), env "COUPLER_SANDBOX_DATABASE_URL";
        /// With serve --sandbox, the longest meter sample interval set on chargers, so a demo shows power within seconds.
        meter_interval_max: Duration = Duration::from_secs(10), env "COUPLER_SANDBOX_METER_INTERVAL_MAX";
        /// With serve --sandbox, how much faster than real time the simulated cars charge.
        charge_speedup: f64 = 30.0, env "COUPLER_SANDBOX_CHARGE_SPEEDUP";
        /// With serve --sandbox, how far the simulated makers' clouds lag behind their cars.
        maker_report_interval: Duration = Duration::from_secs(10), env "COUPLER_SANDBOX_MAKER_REPORT_INTERVAL";
    }
    /// Smart charging's prices: the day-ahead provider Coupler fetches and how often. Tariffs and pushed series need no settings.
    [prices] Prices {
        /// The day-ahead price provider fetched for locations with a price area: none, or awattar (the EPEX Spot prices of DE-LU and AT, no key needed). serve --sandbox adds the sandbox's daily curve for locations with neither a price area nor a tariff.
        provider: PriceProviderSetting = PriceProviderSetting::None, env "COUPLER_PRICES_PROVIDER";
        /// aWATTar's market data API for Germany-Luxembourg (DE-LU).
        awattar_url: HttpUrl = HttpUrl(coupler_prices::germany_url()), env "COUPLER_PRICES_AWATTAR_URL";
        /// aWATTar's market data API for Austria (AT).
        awattar_at_url: HttpUrl = HttpUrl(coupler_prices::austria_url()), env "COUPLER_PRICES_AWATTAR_AT_URL";
        /// How often each provider's prices are fetched (day-ahead prices come out once a day, around noon CET).
        poll_interval: Duration = prices().poll_interval, env "COUPLER_PRICES_POLL_INTERVAL";
        /// How soon a failed fetch is tried again; the prices fetched before stay in force meanwhile.
        retry_interval: Duration = prices().retry_interval, env "COUPLER_PRICES_RETRY_INTERVAL";
    }
    /// The Tesla Fleet API: both the id and the secret set enables Tesla.
    [tesla] Tesla {
        /// Your Tesla Fleet API application's client id.
        client_id: Option<String> = None, env "COUPLER_TESLA_CLIENT_ID";
        /// Your Tesla Fleet API application's client secret.
        client_secret: Option<Secret> = None, env "COUPLER_TESLA_CLIENT_SECRET";
        /// Tesla's vehicle-command proxy (tesla-http-proxy), through which commands go to cars that need signed commands; without it such cars are read-only.
        command_proxy_url: Option<HttpUrl> = None, env "COUPLER_TESLA_COMMAND_PROXY_URL";
    }
    /// Smartcar: both the id and the secret set enables Smartcar.
    [smartcar] Smartcar {
        /// Your Smartcar application's client id.
        client_id: Option<String> = None, env "COUPLER_SMARTCAR_CLIENT_ID";
        /// Your Smartcar application's client secret.
        client_secret: Option<Secret> = None, env "COUPLER_SMARTCAR_CLIENT_SECRET";
        /// Smartcar Connect mode: live, simulated or test.
        mode: SmartcarMode = SmartcarMode::Live, env "COUPLER_SMARTCAR_MODE";
    }
}

/// What the command line adds on top of the file and the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommandLine {
    /// `serve --sandbox`: the sandbox's database, the simulated makers, quick meter values, and
    /// webhooks allowed on this machine.
    pub sandbox: bool,
}

/// Where a value came from, for error messages.
enum Origin<'a> {
    File(&'a Path, String),
    Env(&'static str),
}

impl Config {
    /// Loads the configuration from an optional file and the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::from_sources(file, |name| std::env::var(name).ok())
    }

    /// Loads the configuration from an optional file and a variable lookup (the environment, or a
    /// map in tests): defaults, then the file, then the variables.
    pub fn from_sources(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Self::from_layers(file, env, CommandLine::default())
    }

    /// Loads the configuration from every layer: defaults < file < environment < command line.
    pub fn from_layers(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        command_line: CommandLine,
    ) -> anyhow::Result<Self> {
        let mut config = Self::default();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
            config.apply_file(path, &text)?;
        }
        for spec in SETTINGS {
            // An empty variable counts as unset, as a shell's `VAR=` usually means.
            if let Some(text) = env(spec.env).filter(|v| !v.is_empty()) {
                config.apply(spec, &text, Origin::Env(spec.env))?;
            }
        }
        if command_line.sandbox {
            config.store.database_url = config.sandbox.database_url.clone();
            config.sandbox.simulated_oem = true;
            config.ocpp.meter_interval = config.ocpp.meter_interval.min(config.sandbox.meter_interval_max);
            // The sandbox is for trying things on one machine: webhook receivers there are on loopback.
            config.webhooks.allow_private = true;
        }
        config.check()?;
        Ok(config)
    }

    fn apply(&mut self, spec: &SettingSpec, text: &str, origin: Origin<'_>) -> anyhow::Result<()> {
        match self.set(spec.section, spec.key, text.trim()) {
            Ok(_) => Ok(()),
            Err(problem) => match origin {
                // Secrets are not repeated back.
                Origin::Env(var) if is_secret(spec) => bail!("{var} {problem}"),
                Origin::Env(var) => bail!("{var} {problem}, got '{text}'"),
                Origin::File(path, key) if is_secret(spec) => {
                    bail!("config file {}: {key} {problem}", path.display())
                }
                Origin::File(path, key) => bail!("config file {}: {key} {problem}, got '{text}'", path.display()),
            },
        }
    }

    /// Reads a TOML config file: `[section] key = value`, or a flat key at the top level.
    fn apply_file(&mut self, path: &Path, text: &str) -> anyhow::Result<()> {
        let table: toml::Table =
            toml::from_str(text).with_context(|| format!("invalid config file {}", path.display()))?;
        let mut seen: Vec<(&'static str, &'static str)> = Vec::new();
        for (name, value) in &table {
            if let toml::Value::Table(section) = value {
                if !SECTIONS.iter().any(|(s, _)| s == name) {
                    bail!(
                        "config file {}: unknown section [{name}] (sections: {})",
                        path.display(),
                        SECTIONS
                            .iter()
                            .map(|(s, _)| format!("[{s}]"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                for (key, value) in section {
                    let Some(spec) = SETTINGS.iter().find(|s| s.section == name && s.key == key) else {
                        let known: Vec<&str> = SETTINGS.iter().filter(|s| s.section == name).map(|s| s.key).collect();
                        bail!(
                            "config file {}: unknown key '{key}' in [{name}] (keys there: {})",
                            path.display(),
                            known.join(", ")
                        );
                    };
                    self.apply_file_value(path, spec, &format!("[{name}] {key}"), value, &mut seen)?;
                }
            } else {
                let Some(spec) = SETTINGS.iter().find(|s| s.flat_key() == *name) else {
                    bail!(
                        "config file {}: unknown key '{name}' (see `coupler serve --help` for every key)",
                        path.display()
                    );
                };
                self.apply_file_value(path, spec, name, value, &mut seen)?;
            }
        }
        Ok(())
    }

    fn apply_file_value(
        &mut self,
        path: &Path,
        spec: &'static SettingSpec,
        key: &str,
        value: &toml::Value,
        seen: &mut Vec<(&'static str, &'static str)>,
    ) -> anyhow::Result<()> {
        if seen.contains(&(spec.section, spec.key)) {
            bail!(
                "config file {}: [{}] {} is set twice (once as {})",
                path.display(),
                spec.section,
                spec.key,
                spec.flat_key()
            );
        }
        seen.push((spec.section, spec.key));
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s.clone()),
                        _ => bail!("config file {}: {key} must be a list of strings", path.display()),
                    }
                }
                parts.join(",")
            }
            _ => bail!("config file {}: {key} must be a single value", path.display()),
        };
        self.apply(spec, &text, Origin::File(path, key.to_owned()))
    }

    /// Rules that span settings.
    fn check(&self) -> anyhow::Result<()> {
        if self.tesla.client_id.is_some() != self.tesla.client_secret.is_some() {
            bail!("COUPLER_TESLA_CLIENT_ID and COUPLER_TESLA_CLIENT_SECRET must be set together");
        }
        if self.smartcar.client_id.is_some() != self.smartcar.client_secret.is_some() {
            bail!("COUPLER_SMARTCAR_CLIENT_ID and COUPLER_SMARTCAR_CLIENT_SECRET must be set together");
        }
        if self.tls.certificate_chain.is_some() != self.tls.private_key.is_some() {
            bail!("COUPLER_TLS_CERTIFICATE_CHAIN and COUPLER_TLS_PRIVATE_KEY must be set together");
        }
        if self.tls.client_ca.is_some() && self.tls.certificate_chain.is_none() {
            bail!("COUPLER_TLS_CLIENT_CA needs Coupler's own TLS (COUPLER_TLS_CERTIFICATE_CHAIN and COUPLER_TLS_PRIVATE_KEY)");
        }
        if self.ocpp.require_client_certificate && self.tls.client_ca.is_none() {
            bail!("COUPLER_OCPP_REQUIRE_CLIENT_CERTIFICATE needs COUPLER_TLS_CLIENT_CA: Coupler's own TLS verifies client certificates");
        }
        if self.ocpp.signing_ca_certificate.is_some() != self.ocpp.signing_ca_private_key.is_some() {
            bail!("COUPLER_OCPP_SIGNING_CA_CERTIFICATE and COUPLER_OCPP_SIGNING_CA_PRIVATE_KEY must be set together");
        }
        if self.store.pool_size == 0 {
            bail!("COUPLER_DATABASE_POOL_SIZE must be at least 1");
        }
        if self.webhooks.lease <= self.webhooks.timeout {
            bail!("COUPLER_WEBHOOK_LEASE must be longer than COUPLER_WEBHOOK_TIMEOUT");
        }
        let smart = &self.smart_charging;
        if !(smart.efficiency > 0.0 && smart.efficiency <= 1.0) {
            bail!("COUPLER_SMART_CHARGING_EFFICIENCY must be above 0 and at most 1");
        }
        if !(1..=3).contains(&smart.phases) {
            bail!("COUPLER_SMART_CHARGING_PHASES must be 1, 2 or 3");
        }
        if !(smart.phase_voltage > 0.0 && smart.phase_voltage <= 1000.0) {
            bail!("COUPLER_SMART_CHARGING_PHASE_VOLTAGE must be a voltage above 0 and at most 1000");
        }
        if !(6.0..=1000.0).contains(&smart.default_max_current) {
            bail!("COUPLER_SMART_CHARGING_DEFAULT_MAX_CURRENT must be from 6 to 1000 amperes");
        }
        if !(0.0..=100.0).contains(&smart.stale_soc_margin) {
            bail!("COUPLER_SMART_CHARGING_STALE_SOC_MARGIN must be from 0 to 100 points");
        }
        Ok(())
    }

    /// The gateway's config, every field from the tree.
    pub fn gateway(&self) -> GatewayConfig {
        GatewayConfig {
            call_timeout: self.ocpp.call_timeout,
            ping_interval: self.ocpp.ping_interval,
            pong_timeout: self.ocpp.pong_timeout,
            heartbeat_interval: self.ocpp.heartbeat_interval,
            max_message_bytes: self.ocpp.max_message_bytes,
            admit_unknown: self.ocpp.admit_unknown,
            require_tls: self.ocpp.require_tls,
            meter_sample_interval: self.ocpp.meter_interval,
            measurands: self.ocpp.measurands.clone(),
            remote_start_id_tag: self.ocpp.remote_start_id_tag.clone(),
            data_transfer_vendors: self.ocpp.data_transfer_vendors.clone(),
            require_client_certificate: self.ocpp.require_client_certificate,
            // Read from its files by `signing_ca`, at start-up.
            signing_ca: None,
            // Turned off where the sandbox runs (see `Server::serve_with`).
            judge_power: true,
            // Decided at start-up, with the database known (see `Server::serve_with`).
            node: coupler_core::node::NodeId::single(),
        }
    }

    /// The CA that signs chargers' certificates, read from the files the settings name.
    pub fn signing_ca(&self) -> anyhow::Result<Option<std::sync::Arc<coupler_gateway::certificates::SigningCa>>> {
        let (Some(certificate), Some(key)) = (&self.ocpp.signing_ca_certificate, &self.ocpp.signing_ca_private_key)
        else {
            return Ok(None);
        };
        let certificate_pem = std::fs::read_to_string(certificate)
            .with_context(|| format!("cannot read the signing CA certificate {}", certificate.display()))?;
        // The key's content never reaches an error message or a log.
        let key_pem = std::fs::read_to_string(key)
            .with_context(|| format!("cannot read the signing CA private key {}", key.display()))?;
        let validity = chrono::Duration::from_std(self.ocpp.certificate_validity_days.duration())
            .context("the certificate validity is too long")?;
        let ca = coupler_gateway::certificates::SigningCa::from_pem(&certificate_pem, &key_pem, validity)
            .with_context(|| {
                format!(
                    "cannot use {} and {} as the signing CA",
                    certificate.display(),
                    key.display()
                )
            })?;
        Ok(Some(std::sync::Arc::new(ca)))
    }

    /// The TLS acceptor the settings describe, with its files read; `None` serves plain HTTP.
    pub fn tls_acceptor(&self) -> anyhow::Result<Option<coupler_api::tls::TlsServer>> {
        let (Some(chain), Some(key)) = (&self.tls.certificate_chain, &self.tls.private_key) else {
            return Ok(None);
        };
        let acceptor = coupler_api::tls::acceptor(coupler_api::tls::TlsFiles {
            certificate_chain: chain,
            private_key: key,
            client_ca: self.tls.client_ca.as_deref(),
        })?;
        Ok(Some(acceptor))
    }

    /// The vehicle engine's config, every field from the tree.
    pub fn engine(&self) -> EngineConfig {
        let p = &self.polling;
        EngineConfig {
            poll_policy: PollPolicy {
                charging: p.charging,
                plugged_in: p.plugged_in,
                parked: p.parked,
                asleep: p.asleep,
                unknown: p.unknown,
                backoff_base: p.backoff_base,
                backoff_max: p.backoff_max,
                rate_limited_default: p.rate_limited_wait,
                unreachable_after_failures: p.unreachable_after_failures,
            },
            poll_tick: p.tick,
            poll_batch: p.batch,
            poll_concurrency: p.concurrency,
            poll_lease: p.lease,
            refresh_margin: p.refresh_margin,
            refresh_tick: p.refresh_tick,
            refresh_lease: p.refresh_lease,
            action_timeout: self.engine.vehicle_action_timeout,
            confirm_every: self.engine.confirm_every,
            wake_wait: self.engine.wake_wait,
            action_tick: self.engine.action_tick,
            charger_route_timeout: self.engine.charger_route_timeout,
        }
    }

    /// The charger engine's config, every field from the tree.
    pub fn chargers(&self) -> ChargerEngineConfig {
        ChargerEngineConfig {
            action_timeout: self.engine.charger_action_timeout,
            remote_start_id_tag: self.ocpp.remote_start_id_tag.clone(),
        }
    }

    /// The pairing engine's config, every field from the tree.
    pub fn pairing(&self) -> PairingConfig {
        let p = &self.pairing;
        let chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        PairingConfig {
            rules: coupler_core::ev_system::MatchRules {
                correlation_window: chrono(p.correlation_window),
                detection_window: chrono(p.detection_window),
                maker_lag: chrono(p.maker_lag),
                clock_slack: chrono(p.clock_slack),
                power_tolerance: p.power_tolerance,
                power_comparisons: p.power_comparisons,
            },
            tick: p.tick,
            repoll_every: p.repoll_every,
        }
    }

    /// Smart charging's config, every field from the tree.
    pub fn smart_charging(&self) -> SmartConfig {
        let s = &self.smart_charging;
        SmartConfig {
            efficiency: s.efficiency,
            phase_voltage: s.phase_voltage,
            phases: u8::try_from(s.phases).unwrap_or(3),
            default_max_current_a: s.default_max_current,
            check_interval: s.check_interval,
            stale_soc_margin: s.stale_soc_margin,
        }
    }

    /// Webhook delivery's config, every field from the tree.
    pub fn webhooks(&self) -> WebhookConfig {
        let w = &self.webhooks;
        WebhookConfig {
            allow_private: w.allow_private,
            retry: RetryPolicy {
                first_delay: w.retry_first_delay,
                max_delay: w.retry_max_delay,
                give_up_after: w.retry_for,
            },
            timeout: w.timeout,
            batch_size: w.batch_size,
            tick: w.tick,
            concurrency: w.concurrency,
            lease: w.lease,
        }
    }

    /// The price fetcher's config, every field from the tree.
    pub fn prices(&self) -> PriceConfig {
        PriceConfig {
            poll_interval: self.prices.poll_interval,
            retry_interval: self.prices.retry_interval,
        }
    }

    /// The day-ahead price providers the tree configures (the sandbox's is added by the server).
    pub fn price_providers(&self) -> coupler_core::tariff::PriceProviders {
        let mut providers = coupler_core::tariff::PriceProviders::new();
        if self.prices.provider == PriceProviderSetting::Awattar {
            let config = coupler_prices::AwattarConfig::with_urls(
                self.prices.awattar_url.0.clone(),
                self.prices.awattar_at_url.0.clone(),
            );
            providers.register(std::sync::Arc::new(coupler_prices::AwattarProvider::new(config)));
            providers.set_default(coupler_prices::AWATTAR);
        }
        providers
    }

    /// The rate limits' config, every field from the tree.
    pub fn rate_limits(&self) -> RateLimitConfig {
        let r = &self.rate_limits;
        let rate = |burst, per_minute| Rate { burst, per_minute };
        RateLimitConfig {
            token_per_address: rate(r.token_per_address_burst, r.token_per_address_per_minute),
            token_per_client: rate(r.token_per_client_burst, r.token_per_client_per_minute),
            failed_auth_per_address: rate(r.failed_auth_per_address_burst, r.failed_auth_per_address_per_minute),
            api_per_client: rate(r.api_per_client_burst, r.api_per_client_per_minute),
        }
    }

    /// The SQLite file the database URL names, if it names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let url = &self.store.database_url;
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// The key that encrypts secrets at rest: the configured one; with SQLite and none configured,
    /// the one kept in `<database file>.key` (generated on first start, readable by the owner only);
    /// with PostgreSQL it must be configured, because several nodes must share it.
    pub fn resolve_secret_key(&self) -> anyhow::Result<SecretKey> {
        if let Some(key) = &self.store.secret_key {
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

/// Settings whose values are never repeated in messages.
fn is_secret(spec: &SettingSpec) -> bool {
    spec.key.ends_with("secret") || spec.key == "secret_key" || spec.key == "token"
}

/// The settings of `sections`, in plain words, for `--help`.
pub fn help(sections: &[&str]) -> String {
    let mut out = String::from(
        "Settings: each from its environment variable, or from the --config file as `[section] key = value`\n\
         (or the variable's name without COUPLER_, lowercased, at the top level). The environment wins over\n\
         the file. Durations are seconds (30) or a number with ms, s, m, h or d (250ms, 5m, 4h).\n",
    );
    for (section, about) in SECTIONS.iter().filter(|(s, _)| sections.contains(s)) {
        let _ = write!(out, "\n[{section}]  {}\n", about.trim());
        for spec in SETTINGS.iter().filter(|s| s.section == *section) {
            let _ = writeln!(
                out,
                "  {} = {}    ({})\n      {}",
                spec.key,
                spec.default_text(),
                spec.env,
                spec.meaning.trim()
            );
        }
    }
    out
}

/// Every section, for the help of `coupler` and `coupler serve`.
pub fn all_sections() -> Vec<&'static str> {
    SECTIONS.iter().map(|(s, _)| *s).collect()
}

/// The README's configuration table.
pub fn markdown_table() -> String {
    let mut out = String::from("| Variable | File key | Meaning | Default |\n|---|---|---|---|\n");
    for spec in SETTINGS {
        let _ = writeln!(
            out,
            "| `{}` | `[{}] {}` | {} | `{}` |",
            spec.env,
            spec.section,
            spec.key,
            spec.meaning.trim(),
            spec.default_text()
        );
    }
    out
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

    /// A config file in a directory of its own, removed at the end of the test.
    struct ConfigFile(PathBuf);

    impl ConfigFile {
        fn new(name: &str, text: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("coupler-config-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("coupler.toml");
            std::fs::write(&file, text).unwrap();
            Self(file)
        }
        fn load(&self, vars: &[(&str, &str)]) -> anyhow::Result<Config> {
            Config::from_sources(Some(&self.0), env(vars))
        }
    }

    impl Drop for ConfigFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    #[test]
    fn with_nothing_configured_coupler_listens_locally_on_a_sqlite_file() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.store.database_url, "sqlite://coupler.db");
        assert_eq!(config.sqlite_path(), Some(PathBuf::from("coupler.db")));
        assert_eq!(config.log.format, LogFormat::Text);
        assert!(config.http.public_url.is_none());
    }

    #[test]
    fn the_file_is_overridden_by_the_environment_which_is_overridden_by_the_command_line() {
        let file = ConfigFile::new(
            "layers",
            "[http]\nlisten = \"0.0.0.0:9000\"\n[log]\nformat = \"json\"\n[store]\ndatabase_url = \"sqlite://a.db\"\n\
             [ocpp]\ncall_timeout = 45\nmeter_interval = \"2m\"\n",
        );
        let from_file = file.load(&[]).unwrap();
        assert_eq!(from_file.store.database_url, "sqlite://a.db");
        assert_eq!(from_file.ocpp.call_timeout, Duration::from_secs(45));

        let vars = [
            ("COUPLER_DATABASE_URL", "postgres://db/coupler"),
            ("COUPLER_OCPP_CALL_TIMEOUT", "20"),
        ];
        let from_env = file.load(&vars).unwrap();
        assert_eq!(
            from_env.http.listen.to_string(),
            "0.0.0.0:9000",
            "the file's value stays where the environment says nothing"
        );
        assert_eq!(from_env.log.format, LogFormat::Json);
        assert_eq!(from_env.store.database_url, "postgres://db/coupler");
        assert_eq!(from_env.ocpp.call_timeout, Duration::from_secs(20));

        let from_cli = Config::from_layers(Some(&file.0), env(&vars), CommandLine { sandbox: true }).unwrap();
        assert_eq!(from_cli.store.database_url, "sqlite://coupler-sandbox.db");
        assert!(from_cli.sandbox.simulated_oem);
        assert_eq!(
            from_cli.ocpp.meter_interval,
            Duration::from_secs(10),
            "the sandbox caps the meter interval"
        );
        assert_eq!(from_cli.ocpp.call_timeout, Duration::from_secs(20));
    }

    #[test]
    fn a_file_may_still_use_the_flat_keys_named_after_the_variables_but_not_both_forms_at_once() {
        let flat = ConfigFile::new(
            "flat",
            "listen = \"0.0.0.0:9001\"\nocpp_call_timeout = \"12\"\nsimulated_oem = true\naction_timeout = 90\n\
             log = \"debug\"\nlog_format = \"json\"\n",
        );
        let config = flat.load(&[]).unwrap();
        assert_eq!(config.http.listen.to_string(), "0.0.0.0:9001");
        assert_eq!(config.ocpp.call_timeout, Duration::from_secs(12));
        assert!(config.sandbox.simulated_oem);
        assert_eq!(config.engine.charger_action_timeout, Duration::from_secs(90));
        assert_eq!(
            config.log.filter, "debug",
            "the flat key `log` is not the [log] section"
        );
        assert_eq!(config.log.format, LogFormat::Json);

        let twice = ConfigFile::new("twice", "ocpp_call_timeout = 12\n[ocpp]\ncall_timeout = 13\n");
        let err = format!("{:#}", twice.load(&[]).unwrap_err());
        assert!(err.contains("set twice"), "{err}");
    }

    #[test]
    fn unknown_keys_and_sections_are_refused_with_their_name() {
        for (name, text, expected) in [
            ("top", "listen_adress = \"x\"\n", "listen_adress"),
            ("in-section", "[ocpp]\ncall_timeout_secs = 3\n", "call_timeout_secs"),
            ("section", "[ocp]\ncall_timeout = 3\n", "[ocp]"),
            ("wrong-section", "[http]\ncall_timeout = 3\n", "call_timeout"),
        ] {
            let file = ConfigFile::new(name, text);
            let err = format!("{:#}", file.load(&[]).unwrap_err());
            assert!(err.contains(expected) && err.contains("unknown"), "{name}: {err}");
        }
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
            ("COUPLER_OCPP_MEASURANDS", "Voltage,,SoC"),
            ("COUPLER_ACTION_TIMEOUT", "soon"),
            ("COUPLER_VEHICLE_ACTION_TIMEOUT", "10 minutes"),
            ("COUPLER_POLLING_BATCH", "0"),
            ("COUPLER_PAIRING_POWER_TOLERANCE", "-0.1"),
            ("COUPLER_WEBHOOK_ALLOW_PRIVATE", "maybe"),
            ("COUPLER_WEBHOOK_RETRY_FIRST_DELAY", "0"),
            ("COUPLER_WEBHOOK_RETRY_MAX_DELAY", "forever"),
            ("COUPLER_WEBHOOK_RETRY_FOR", "-1"),
            ("COUPLER_EVENT_RETENTION_DAYS", "0"),
            ("COUPLER_SIMULATED_OEM", "maybe"),
            ("COUPLER_SMARTCAR_MODE", "fake"),
            ("COUPLER_METRICS_LISTEN", "localhost"),
            ("COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST", "0"),
            ("COUPLER_RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE", "lots"),
            ("COUPLER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST", "-5"),
            ("COUPLER_WEBHOOK_HEARTBEAT_INTERVAL", "0"),
            ("COUPLER_REUSE_PORT", "maybe"),
            ("COUPLER_DATABASE_POOL_SIZE", "0"),
        ] {
            let err = Config::from_sources(None, env(&[(var, value)])).unwrap_err();
            let err = format!("{err:#}");
            assert!(err.contains(var), "{var}: {err}");
        }
        let file = ConfigFile::new("bad", "[polling]\ncharging = \"often\"\n");
        let err = format!("{:#}", file.load(&[]).unwrap_err());
        assert!(
            err.contains("[polling] charging") && err.contains("often") && err.contains("duration"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_being_repeated() {
        let err = Config::from_sources(None, env(&[("COUPLER_SECRET_KEY", "hunter2-not-a-key")])).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("COUPLER_SECRET_KEY") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_bad_metrics_token_is_refused_without_being_repeated() {
        for token in ["short-token", "a token with spaces in it", "tab\tseparated-long-token"] {
            let err = Config::from_sources(None, env(&[("COUPLER_METRICS_TOKEN", token)])).unwrap_err();
            let err = format!("{err:#}");
            assert!(
                err.contains("COUPLER_METRICS_TOKEN") && err.contains("16 to 256") && !err.contains(token),
                "{err}"
            );
        }
        let file = ConfigFile::new("bad-token", "[metrics]\ntoken = \"hunter2\"\n");
        let err = format!("{:#}", file.load(&[]).unwrap_err());
        assert!(err.contains("[metrics] token") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_metrics_token_is_kept_out_of_debug_and_help() {
        let token = "a-metrics-token-of-some-length";
        let config = Config::from_sources(None, env(&[("COUPLER_METRICS_TOKEN", token)])).unwrap();
        assert_eq!(config.metrics.token.as_ref().unwrap().0.expose(), token);
        assert_eq!(config.show("metrics", "token").unwrap(), "(set)");
        assert!(!format!("{config:?}").contains(token));
    }

    #[test]
    fn metrics_rate_limits_and_heartbeats_are_read_from_the_file_then_the_environment() {
        let file = ConfigFile::new(
            "operations",
            "[metrics]\nlisten = \"127.0.0.1:9464\"\ntoken = \"token-from-the-file-0123\"\n\
             [rate_limits]\napi_per_client_burst = 50\ntoken_per_address_per_minute = 30\n\
             [webhooks]\nheartbeat_interval = \"1m\"\n",
        );
        let from_file = file.load(&[]).unwrap();
        assert_eq!(from_file.metrics.listen, Some(SocketAddr::from(([127, 0, 0, 1], 9464))));
        assert_eq!(
            from_file.metrics.token.as_ref().unwrap().0.expose(),
            "token-from-the-file-0123"
        );
        assert_eq!(
            from_file.rate_limits().api_per_client,
            Rate {
                burst: 50,
                per_minute: 6_000
            }
        );
        assert_eq!(from_file.rate_limits().token_per_address.per_minute, 30);
        assert_eq!(from_file.webhooks.heartbeat_interval, Duration::from_secs(60));

        let from_env = file
            .load(&[
                ("COUPLER_METRICS_LISTEN", "0.0.0.0:9100"),
                ("COUPLER_METRICS_TOKEN", "token-from-the-environment"),
                ("COUPLER_RATE_LIMIT_API_PER_CLIENT_BURST", "5"),
                ("COUPLER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_PER_MINUTE", "3"),
                ("COUPLER_WEBHOOK_HEARTBEAT_INTERVAL", "30s"),
            ])
            .unwrap();
        assert_eq!(from_env.metrics.listen, Some(SocketAddr::from(([0, 0, 0, 0], 9100))));
        assert_eq!(
            from_env.metrics.token.as_ref().unwrap().0.expose(),
            "token-from-the-environment"
        );
        let limits = from_env.rate_limits();
        assert_eq!(
            limits.api_per_client,
            Rate {
                burst: 5,
                per_minute: 6_000
            }
        );
        assert_eq!(
            limits.token_per_address.per_minute, 30,
            "the file's value stays where the environment says nothing"
        );
        assert_eq!(limits.failed_auth_per_address.per_minute, 3);
        assert_eq!(limits.token_per_client, RateLimitConfig::default().token_per_client);
        assert_eq!(from_env.webhooks.heartbeat_interval, Duration::from_secs(30));

        let flat = ConfigFile::new(
            "operations-flat",
            "metrics_listen = \"127.0.0.1:9465\"\nrate_limit_api_per_client_per_minute = 600\n",
        );
        let config = flat.load(&[]).unwrap();
        assert_eq!(config.metrics.listen, Some(SocketAddr::from(([127, 0, 0, 1], 9465))));
        assert_eq!(config.rate_limits().api_per_client.per_minute, 600);
    }

    #[test]
    fn with_nothing_configured_metrics_are_open_on_the_api_listener() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert!(config.metrics.token.is_none());
        assert!(config.metrics.listen.is_none());
    }

    #[test]
    fn the_engine_settings_reach_the_components() {
        let config = Config::from_sources(
            None,
            env(&[
                ("COUPLER_VEHICLE_ACTION_TIMEOUT", "90"),
                ("COUPLER_ENGINE_CHARGER_ROUTE_TIMEOUT", "15"),
                ("COUPLER_POLLING_CHARGING", "2m"),
                ("COUPLER_PAIRING_DETECTION_WINDOW", "20m"),
                ("COUPLER_WEBHOOK_BATCH_SIZE", "10"),
                ("COUPLER_OCPP_PING_INTERVAL", "15"),
                ("COUPLER_OCPP_REMOTE_START_ID_TAG", "FLEET"),
            ]),
        )
        .unwrap();
        assert_eq!(config.engine().action_timeout, Duration::from_secs(90));
        assert_eq!(config.engine().charger_route_timeout, Duration::from_secs(15));
        assert_eq!(config.engine().poll_policy.charging, Duration::from_secs(120));
        assert_eq!(config.pairing().rules.detection_window, chrono::Duration::minutes(20));
        assert_eq!(config.webhooks().batch_size, 10);
        assert_eq!(config.gateway().ping_interval, Duration::from_secs(15));
        assert_eq!(config.gateway().remote_start_id_tag, "FLEET");
        assert_eq!(config.chargers().remote_start_id_tag, "FLEET");
    }

    #[test]
    fn the_trees_defaults_are_the_components_own() {
        let defaults = Config::default();
        assert_eq!(
            format!("{:?}", defaults.gateway()),
            format!("{:?}", GatewayConfig::default())
        );
        assert_eq!(
            format!("{:?}", defaults.engine()),
            format!("{:?}", EngineConfig::default())
        );
        assert_eq!(
            format!("{:?}", defaults.chargers()),
            format!("{:?}", ChargerEngineConfig::default())
        );
        assert_eq!(
            format!("{:?}", defaults.pairing()),
            format!("{:?}", PairingConfig::default())
        );
        assert_eq!(
            format!("{:?}", defaults.webhooks()),
            format!("{:?}", WebhookConfig::default())
        );
        assert_eq!(defaults.rate_limits(), RateLimitConfig::default());
        assert_eq!(
            format!("{:?}", defaults.prices()),
            format!("{:?}", PriceConfig::default())
        );
        assert!(defaults.price_providers().is_empty());
        assert_eq!(
            defaults.webhooks.heartbeat_interval,
            coupler_api::heartbeat::DEFAULT_HEARTBEAT_INTERVAL
        );
    }

    #[test]
    fn every_setting_has_its_own_variable_and_key_and_its_default_reads_back() {
        let mut envs: Vec<&str> = SETTINGS.iter().map(|s| s.env).collect();
        envs.sort_unstable();
        envs.dedup();
        assert_eq!(envs.len(), SETTINGS.len(), "a variable is used twice");
        let mut flat: Vec<String> = SETTINGS.iter().map(SettingSpec::flat_key).collect();
        flat.sort_unstable();
        flat.dedup();
        assert_eq!(flat.len(), SETTINGS.len(), "a flat key is used twice");
        for spec in SETTINGS {
            assert!(spec.env.starts_with("COUPLER_"), "{}", spec.env);
            assert!(!spec.meaning.trim().is_empty(), "{} has no meaning", spec.env);
            if spec.default_described.is_some() {
                continue;
            }
            let shown = Config::default().show(spec.section, spec.key).unwrap();
            if shown == "none" {
                continue;
            }
            let mut config = Config::default();
            assert_eq!(config.set(spec.section, spec.key, &shown), Ok(true), "{}", spec.env);
            assert_eq!(config.show(spec.section, spec.key).unwrap(), shown, "{}", spec.env);
        }
    }

    #[test]
    fn the_readme_documents_every_setting_as_the_code_declares_it() {
        let readme = include_str!("../../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's configuration table is out of date; it should read:\n{table}"
        );
    }

    #[test]
    fn the_help_lists_every_setting_with_its_variable_and_default() {
        let help = help(&all_sections());
        for spec in SETTINGS {
            assert!(help.contains(spec.env), "{}", spec.env);
            assert!(
                help.contains(&format!("  {} = {}", spec.key, spec.default_text())),
                "{}",
                spec.env
            );
        }
        let store_only = super::help(&["store"]);
        assert!(store_only.contains("COUPLER_DATABASE_URL") && !store_only.contains("COUPLER_OCPP_LISTEN"));
    }

    #[test]
    fn the_awattar_provider_is_configured_by_its_variables_and_becomes_the_default() {
        let config = Config::from_sources(
            None,
            env(&[
                ("COUPLER_PRICES_PROVIDER", "awattar"),
                ("COUPLER_PRICES_AWATTAR_URL", "http://127.0.0.1:9999/de"),
                ("COUPLER_PRICES_POLL_INTERVAL", "15m"),
            ]),
        )
        .unwrap();
        let providers = config.price_providers();
        assert_eq!(providers.default_name(), Some("AWATTAR"));
        let areas: Vec<String> = providers
            .all()
            .flat_map(|p| p.areas().iter().map(ToString::to_string))
            .collect();
        assert_eq!(areas, vec!["DE-LU", "AT"]);
        assert_eq!(config.prices().poll_interval, Duration::from_secs(900));
        let refused = Config::from_sources(None, env(&[("COUPLER_PRICES_PROVIDER", "tibber")])).unwrap_err();
        assert!(refused.to_string().contains("none or awattar"), "{refused}");
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
        assert_eq!(config.tesla.client_id.as_deref(), Some("tesla-app"));
        assert_eq!(
            config.tesla.command_proxy_url.as_ref().unwrap().0.as_str(),
            "https://proxy.internal:4443/"
        );
        assert_eq!(config.smartcar.mode, SmartcarMode::Live);
        assert!(config.sandbox.simulated_oem);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("tesla-secret") && !debug.contains("sc-secret"),
            "{debug}"
        );
        let half = Config::from_sources(None, env(&[("COUPLER_TESLA_CLIENT_ID", "x")])).unwrap_err();
        assert!(format!("{half:#}").contains("COUPLER_TESLA_CLIENT_SECRET"));
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
