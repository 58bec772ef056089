//! Rate limits: on `/oauth/token` per client and per source address, on the API per client, and on
//! failed authentications per source address.
//!
//! Each limit is a token bucket (GCRA, from `governor`) keyed by client id or address: a burst is
//! let through at once, then requests at the sustained rate. A refused request gets 429 with
//! `Retry-After` (seconds until the bucket lets one through). Failed authentications (a wrong client
//! secret, a bad bearer token) are counted in metrics, logged with the address, and drain their own
//! stricter bucket; once it is empty every authentication from that address is refused for a while,
//! right secret or not, so guessing secrets costs time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The most keys a limiter keeps before it forgets the ones whose buckets are full again.
const MAX_KEYS: usize = 50_000;

/// One limit: a burst, then a sustained rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests let through at once.
    pub burst: u32,
    /// Requests per minute after the burst.
    pub per_minute: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let per_minute = NonZeroU32::new(self.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::per_minute(per_minute).allow_burst(burst)
    }
}

/// The rate limits of one Coupler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `/oauth/token` requests from one source address.
    pub token_per_address: Rate,
    /// `/oauth/token` requests naming one client id.
    pub token_per_client: Rate,
    /// Failed authentications (token endpoint or bearer token) from one source address.
    pub failed_auth_per_address: Rate,
    /// Authenticated API requests of one client.
    pub api_per_client: Rate,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            token_per_address: Rate {
                burst: 30,
                per_minute: 120,
            },
            token_per_client: Rate {
                burst: 10,
                per_minute: 60,
            },
            failed_auth_per_address: Rate {
                burst: 10,
                per_minute: 10,
            },
            api_per_client: Rate {
                burst: 200,
                per_minute: 6_000,
            },
        }
    }
}

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `/oauth/token` per source address.
    TokenPerAddress,
    /// `/oauth/token` per client id.
    TokenPerClient,
    /// Failed authentications per source address.
    FailedAuthPerAddress,
    /// The API per client.
    ApiPerClient,
}

impl Limit {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenPerAddress => "token_per_address",
            Self::TokenPerClient => "token_per_client",
            Self::FailedAuthPerAddress => "failed_auth_per_address",
            Self::ApiPerClient => "api_per_client",
        }
    }
}

#[derive(Debug)]
struct Limiters {
    config: RateLimitConfig,
    token_per_address: DefaultKeyedRateLimiter<IpAddr>,
    token_per_client: DefaultKeyedRateLimiter<String>,
    failed_auth_per_address: DefaultKeyedRateLimiter<IpAddr>,
    api_per_client: DefaultKeyedRateLimiter<String>,
}

impl Limiters {
    fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            token_per_address: RateLimiter::keyed(config.token_per_address.quota()),
            token_per_client: RateLimiter::keyed(config.token_per_client.quota()),
            failed_auth_per_address: RateLimiter::keyed(config.failed_auth_per_address.quota()),
            api_per_client: RateLimiter::keyed(config.api_per_client.quota()),
        }
    }
}

/// The rate limiters of one Coupler, shared by every request.
#[derive(Debug)]
pub struct RateLimits {
    limiters: RwLock<Limiters>,
    /// Addresses whose failed authentications are used up, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new(RateLimitConfig::default())
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    limit: Limit,
) -> Result<(), ApiError> {
    if limiter.len() > MAX_KEYS {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ::metrics::counter!("coupler_rate_limited_total", "limit" => limit.as_str()).increment(1);
        ApiError::too_many_requests(
            "too many requests; retry after the time in Retry-After",
            retry_after_seconds(wait),
        )
    })
}

fn retry_after_seconds(wait: Duration) -> u64 {
    // Rounded up: a client that waits exactly this long is let through.
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl RateLimits {
    /// Limiters for `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            limiters: RwLock::new(Limiters::new(config)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the limits (and forgets every bucket).
    pub fn reconfigure(&self, config: RateLimitConfig) {
        *self.limiters.write().unwrap_or_else(|p| p.into_inner()) = Limiters::new(config);
        self.blocked.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The limits in force.
    pub fn config(&self) -> RateLimitConfig {
        self.limiters.read().unwrap_or_else(|p| p.into_inner()).config
    }

    fn with<T>(&self, f: impl FnOnce(&Limiters) -> T) -> T {
        f(&self.limiters.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Lets a `/oauth/token` request from `address` (naming `client`, when it does) through, or
    /// refuses it with 429. An address whose failed authentications are used up is refused too.
    pub fn check_token_request(&self, address: Option<IpAddr>, client: Option<&str>) -> Result<(), ApiError> {
        self.check_auth_allowed(address)?;
        self.with(|l| {
            if let Some(address) = address {
                check(&l.token_per_address, &address, Limit::TokenPerAddress)?;
            }
            if let Some(client) = client {
                check(&l.token_per_client, &client.to_owned(), Limit::TokenPerClient)?;
            }
            Ok(())
        })
    }

    /// Lets an authenticated API request of `client` through, or refuses it with 429.
    pub fn check_api_request(&self, client: &str) -> Result<(), ApiError> {
        self.with(|l| check(&l.api_per_client, &client.to_owned(), Limit::ApiPerClient))
    }

    /// Whether `address` may still try to authenticate: not while its failed authentications are
    /// used up.
    pub fn check_auth_allowed(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(address) = address else { return Ok(()) };
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(&address) {
            Some(until) if *until > now => {
                ::metrics::counter!("coupler_rate_limited_total", "limit" => Limit::FailedAuthPerAddress.as_str())
                    .increment(1);
                Err(ApiError::too_many_requests(
                    "too many failed authentications from this address; retry after the time in Retry-After",
                    retry_after_seconds(*until - now),
                ))
            }
            Some(_) => {
                blocked.remove(&address);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts, logs and spends a failed authentication from `address`. `endpoint` is `token` or
    /// `bearer`; `client` the client id it claimed, if any (never the secret).
    pub fn record_failed_auth(&self, endpoint: &'static str, address: Option<IpAddr>, client: Option<&str>) {
        ::metrics::counter!("coupler_auth_failures_total", "endpoint" => endpoint).increment(1);
        let blocked_for = address.and_then(|address| {
            let wait = self.with(|l| {
                l.failed_auth_per_address
                    .check_key(&address)
                    .err()
                    .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
            })?;
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() > MAX_KEYS {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(address, Instant::now() + wait);
            Some(wait)
        });
        let address = address.map(|a| a.to_string()).unwrap_or_default();
        match blocked_for {
            Some(wait) => tracing::warn!(
                endpoint,
                source.address = %address,
                client_id = client.unwrap_or_default(),
                blocked_for_s = wait.as_secs(),
                "failed authentications from this address exceed the limit; it is refused for a while"
            ),
            None => tracing::info!(
                endpoint,
                source.address = %address,
                client_id = client.unwrap_or_default(),
                "failed authentication"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tight() -> RateLimitConfig {
        let one = Rate {
            burst: 2,
            per_minute: 1,
        };
        RateLimitConfig {
            token_per_address: one,
            token_per_client: one,
            failed_auth_per_address: one,
            api_per_client: one,
        }
    }

    #[test]
    fn a_client_past_its_burst_is_refused_with_a_retry_after() {
        let limits = RateLimits::new(tight());
        assert!(limits.check_api_request("a").is_ok());
        assert!(limits.check_api_request("a").is_ok());
        let refused = limits.check_api_request("a").unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(
            limits.check_api_request("b").is_ok(),
            "another client has its own bucket"
        );
    }

    #[test]
    fn an_address_whose_failures_are_used_up_is_refused_even_with_the_right_secret() {
        let limits = RateLimits::new(tight());
        let address: IpAddr = [192, 0, 2, 1].into();
        limits.record_failed_auth("token", Some(address), Some("c"));
        limits.record_failed_auth("token", Some(address), Some("c"));
        assert!(limits.check_auth_allowed(Some(address)).is_ok());
        limits.record_failed_auth("token", Some(address), Some("c"));
        assert!(limits.check_auth_allowed(Some(address)).is_err());
        assert!(limits.check_auth_allowed(Some([192, 0, 2, 2].into())).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
    }
}
