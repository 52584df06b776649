//! A client-side token bucket per tenant, to stay under ServiceTitan's 60 requests/s per app per tenant.
//!
//! It bounds one process. Several Lambdas calling one tenant at once can still exceed the limit together; the
//! client then honours the 429's `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// Below ServiceTitan's 60/s, leaving room for other callers of the same app.
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 10.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `tenant` may make one more request.
    pub async fn acquire(&self, tenant: i64) {
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().expect("rate limiter lock");
                let now = Instant::now();
                let bucket = buckets.entry(tenant).or_insert(Bucket {
                    tokens: self.limit.burst,
                    updated: now,
                });
                let elapsed = now.duration_since(bucket.updated).as_secs_f64();
                bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
                bucket.updated = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - bucket.tokens) / self.limit.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_each_tenant_to_its_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 50.0,
            burst: 10.0,
        });
        let start = Instant::now();
        for _ in 0..110 {
            limiter.acquire(1).await;
        }
        // 10 at once, then 100 more at 50/s.
        let took = start.elapsed().as_secs_f64();
        assert!((1.95..2.1).contains(&took), "{took}");
        // Another tenant has its own bucket.
        let other = Instant::now();
        limiter.acquire(2).await;
        assert!(other.elapsed() < Duration::from_millis(1));
    }
}
