//! Per-remote-IP token buckets for the public listener (`AUTHPLANE_RATE_LIMIT_*`): `rps` tokens
//! per second up to `burst`; an empty bucket means 429 `slow_down`. State: one bucket per IP seen
//! recently, pruned when the table grows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::config::RateLimit;

/// Buckets are forgotten once this many IPs are tracked and they are full again.
const MAX_TRACKED: usize = 10_000;

/// The limiter shared by every public request.
#[derive(Debug)]
pub struct Limiter {
    settings: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Limiter {
    /// A limiter with the given settings (disabled settings allow everything).
    pub fn new(settings: RateLimit) -> Limiter {
        Limiter {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip` at `now`; false when the request is over budget.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        if !self.settings.enabled {
            return true;
        }
        let RateLimit { rps, burst, .. } = self.settings;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rps < burst
            });
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rps).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(RateLimit {
            enabled: true,
            rps: 1.0,
            burst: 2.0,
        });
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(l.allow(ip, t0));
        assert!(l.allow(ip, t0));
        assert!(!l.allow(ip, t0));
        let other: IpAddr = [127, 0, 0, 2].into();
        assert!(l.allow(other, t0), "buckets are per IP");
        assert!(l.allow(ip, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn disabled_allows_everything() {
        let l = Limiter::new(RateLimit {
            enabled: false,
            rps: 1.0,
            burst: 1.0,
        });
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!((0..10).all(|_| l.allow(ip, t0)));
    }
}
