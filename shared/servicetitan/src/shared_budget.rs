//! One request budget per tenant, shared by every Lambda that calls ServiceTitan for it: the event processor, the
//! follow-up runner, lead creation, the admin API and the reconciler together stay under ServiceTitan's 60
//! requests/s per app and tenant, instead of each process keeping only itself under it.
//!
//! A token bucket in DynamoDB (`TokensTable`, item `token_scope = rate-budget`): a request takes a token with a
//! conditional write on the bucket's last state, so concurrent takers never spend one token twice. The reconciler
//! takes tokens as [`Priority::Background`]: only while more than the reserve is left, so it yields to interactive
//! work (a lead being created, a follow-up being checked) and uses what they leave.
//!
//! Time is wall-clock time, like ServiceTitan's own limiter. A DynamoDB failure does not stop the request: the
//! process's own limiter still holds it under the limit, and a 429 is still honoured.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use tracing::warn;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Work a person or a customer is waiting for.
    Interactive,
    /// Work that can wait (the reconciler): takes a token only above the reserve.
    Background,
}

#[derive(Debug, Clone, Copy)]
pub struct BudgetLimits {
    /// Tokens added per second (under ServiceTitan's 60).
    pub per_second: f64,
    /// The bucket's size: the largest burst.
    pub burst: f64,
    /// Tokens background work leaves for interactive work.
    pub background_reserve: f64,
    /// Tokens taken at once while the bucket is well filled, spent by this process within [`LOCAL_LIFETIME`]: one
    /// DynamoDB round trip per few requests in a burst, at the cost of a few tokens left unused.
    pub chunk: u32,
}

/// How long tokens taken ahead stay usable by the process that took them.
pub const LOCAL_LIFETIME: Duration = Duration::from_millis(500);

impl Default for BudgetLimits {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 25.0,
            background_reserve: 12.0,
            chunk: 4,
        }
    }
}

impl BudgetLimits {
    /// `SERVICETITAN_BUDGET_PER_SECOND` (50; 0 turns the shared budget off, leaving each process's own limiter),
    /// `SERVICETITAN_BUDGET_BURST` (25), `SERVICETITAN_BUDGET_BACKGROUND_RESERVE` (12).
    pub fn from_env(env: &impl shared::config::EnvSource) -> Result<Option<Self>, shared::config::ConfigError> {
        let d = Self::default();
        let per_second: f64 = env.parsed_or("SERVICETITAN_BUDGET_PER_SECOND", d.per_second)?;
        if per_second <= 0.0 {
            return Ok(None);
        }
        Ok(Some(Self {
            per_second,
            burst: env.parsed_or("SERVICETITAN_BUDGET_BURST", d.burst)?,
            background_reserve: env.parsed_or("SERVICETITAN_BUDGET_BACKGROUND_RESERVE", d.background_reserve)?,
            chunk: d.chunk,
        }))
    }
}

const SCOPE: &str = "rate-budget";

#[derive(Debug)]
pub struct SharedBudget {
    client: aws_sdk_dynamodb::Client,
    table: String,
    limits: BudgetLimits,
    /// Tokens this process took ahead, per tenant, and until when they may be spent.
    ahead: Mutex<HashMap<i64, (u32, Instant)>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The bucket's level at `now` and how long to wait before `priority` may take a token (zero: take it now).
pub fn level(limits: &BudgetLimits, stored: Option<(f64, i64)>, now: i64, priority: Priority) -> (f64, Duration) {
    let (tokens, at) = stored.unwrap_or((limits.burst, now));
    let elapsed = (now - at).max(0) as f64 / 1000.0;
    let level = (tokens + elapsed * limits.per_second).min(limits.burst);
    let floor = match priority {
        Priority::Interactive => 0.0,
        Priority::Background => limits.background_reserve,
    };
    let missing = floor + 1.0 - level;
    let wait = if missing <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(missing / limits.per_second)
    };
    (level, wait)
}

impl SharedBudget {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, limits: BudgetLimits) -> Self {
        Self {
            client,
            table: table.into(),
            limits,
            ahead: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `tenant` may make one more request.
    pub async fn acquire(&self, tenant: i64, priority: Priority) {
        {
            let mut ahead = self.ahead.lock().expect("budget lock");
            if let Some((left, until)) = ahead.get_mut(&tenant)
                && *left > 0
                && Instant::now() < *until
            {
                *left -= 1;
                return;
            }
        }
        for _ in 0..200 {
            match self.try_take(tenant, priority).await {
                Ok(None) => return,
                Ok(Some(wait)) => tokio::time::sleep(wait.max(Duration::from_millis(2))).await,
                Err(e) => {
                    warn!(error = %e, "the shared request budget is unavailable; going on under the process's own limit");
                    return;
                }
            }
        }
    }

    /// One attempt: `None` when a token was taken, `Some(wait)` otherwise.
    async fn try_take(&self, tenant: i64, priority: Priority) -> Result<Option<Duration>, String> {
        let key = [
            ("tenant_id".to_owned(), AttributeValue::S(tenant.to_string())),
            ("token_scope".to_owned(), AttributeValue::S(SCOPE.into())),
        ];
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.clone().into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?
            .item;
        // The bucket as read: its numbers for the decision, its attributes as they are for the condition.
        let raw = |k: &str| item.as_ref().and_then(|i| i.get(k)).cloned();
        let (raw_tokens, raw_at) = (raw("budget_tokens"), raw("budget_at_ms"));
        let num = |v: &Option<AttributeValue>| {
            v.as_ref()
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<f64>().ok())
        };
        let stored = match (num(&raw_tokens), num(&raw_at)) {
            (Some(t), Some(a)) => Some((t, a as i64)),
            _ => None,
        };
        let now = now_ms();
        let (level, wait) = level(&self.limits, stored, now, priority);
        if !wait.is_zero() {
            return Ok(Some(wait));
        }
        // While the bucket is more than half full, take a few ahead; near empty, one at a time.
        let take = if level >= self.limits.burst / 2.0 {
            self.limits.chunk.max(1)
        } else {
            1
        };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.into_iter().collect()))
            .update_expression("SET budget_tokens = :t, budget_at_ms = :now")
            .expression_attribute_values(":t", AttributeValue::N(format!("{:.4}", level - f64::from(take))))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.max(stored.map_or(0, |s| s.1)).to_string()),
            );
        req = match (raw_tokens, raw_at) {
            // The state this decision was made on must still be the stored one.
            (Some(t), Some(a)) if stored.is_some() => req
                .condition_expression("budget_tokens = :old_t AND budget_at_ms = :old_at")
                .expression_attribute_values(":old_t", t)
                .expression_attribute_values(":old_at", a),
            _ => req.condition_expression("attribute_not_exists(budget_tokens)"),
        };
        match req.send().await {
            Ok(_) => {
                if take > 1 {
                    self.ahead
                        .lock()
                        .expect("budget lock")
                        .insert(tenant, (take - 1, Instant::now() + LOCAL_LIFETIME));
                }
                Ok(None)
            }
            // Another taker was faster: look again at once.
            Err(e) if shared::aws::is_conditional_check_failed(&e) => Ok(Some(Duration::ZERO)),
            Err(e) => Err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_work_keeps_off_the_reserve() {
        let limits = BudgetLimits::default();
        let now = 1_000_000;
        // A full bucket: both may take.
        assert_eq!(level(&limits, None, now, Priority::Background).1, Duration::ZERO);
        // Five tokens left: interactive work takes one, background work waits for the reserve to refill.
        let low = Some((5.0, now));
        assert_eq!(level(&limits, low, now, Priority::Interactive).1, Duration::ZERO);
        let wait = level(&limits, low, now, Priority::Background).1;
        assert_eq!(wait, Duration::from_secs_f64((12.0 + 1.0 - 5.0) / 50.0));
        // Empty: interactive work waits one token's time.
        assert_eq!(
            level(&limits, Some((0.0, now)), now, Priority::Interactive).1,
            Duration::from_millis(20)
        );
    }

    #[test]
    fn the_bucket_refills_at_its_rate_up_to_its_size() {
        let limits = BudgetLimits::default();
        let (level, _) = level(&limits, Some((0.0, 0)), 200, Priority::Interactive);
        assert!((level - 10.0).abs() < 1e-9);
        let (full, _) = self::level(&limits, Some((0.0, 0)), 60_000, Priority::Interactive);
        assert_eq!(full, limits.burst);
    }
}
