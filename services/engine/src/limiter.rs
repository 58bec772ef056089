//! Per-vendor token buckets: how many requests Coupler may send to one maker, across all of that
//! maker's vehicles and accounts, so a burst of on-demand reads cannot exceed the maker's limits.
//!
//! The buckets live in the process. With several Coupler nodes each node has its own, so the limits
//! a vendor declares should be divided by the number of nodes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coupler_core::adapter::VendorLimits;
use coupler_core::Vendor;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets, one per vendor.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<Vendor, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from the vendor's bucket, or says how long until one is available.
    pub fn try_take(&self, vendor: &Vendor, limits: &VendorLimits) -> Result<(), Duration> {
        self.try_take_at(vendor, limits, Instant::now())
    }

    fn try_take_at(&self, vendor: &Vendor, limits: &VendorLimits, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(limits.burst.max(1));
        let per_second = (limits.per_minute / 60.0).max(f64::MIN_POSITIVE);
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(vendor.clone()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64((missing / per_second).min(86_400.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn limits(burst: u32, per_minute: f64) -> VendorLimits {
        VendorLimits {
            burst,
            per_minute,
            daily_polls_per_vehicle: 100,
        }
    }

    #[test]
    fn a_burst_is_allowed_up_to_the_bucket_and_then_refills_at_the_rate() {
        let limiter = RateLimiter::default();
        let vendor = Vendor::parse("X").unwrap();
        let l = limits(3, 60.0);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_take_at(&vendor, &l, start).is_ok());
        }
        let wait = limiter.try_take_at(&vendor, &l, start).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO, "{wait:?}");
        assert!(limiter.try_take_at(&vendor, &l, start + Duration::from_secs(1)).is_ok());
        assert!(limiter
            .try_take_at(&vendor, &l, start + Duration::from_secs(1))
            .is_err());
    }

    #[test]
    fn vendors_have_separate_buckets() {
        let limiter = RateLimiter::default();
        let l = limits(1, 1.0);
        let now = Instant::now();
        assert!(limiter.try_take_at(&Vendor::parse("A").unwrap(), &l, now).is_ok());
        assert!(limiter.try_take_at(&Vendor::parse("A").unwrap(), &l, now).is_err());
        assert!(limiter.try_take_at(&Vendor::parse("B").unwrap(), &l, now).is_ok());
    }
}
