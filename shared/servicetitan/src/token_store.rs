//! Tokens shared by every Lambda, in DynamoDB.
//!
//! One item per (tenant, scope) in the tokens table: the access token and its expiry, plus a refresh lease. A
//! Lambda that needs a new token first claims the lease with a conditional write; the others wait for the token it
//! stores. A crashed holder's lease runs out after [`crate::auth::REFRESH_LEASE`]. Tokens live in DynamoDB rather
//! than Secrets Manager, which AWS asks to write at most once per 10 minutes; the table is encrypted at rest.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};

use crate::auth::{AccessToken, Lease, StoreFuture, TokenKey, TokenStore};
use crate::error::Error;

/// Items outlive their token by this much before DynamoDB's TTL removes them.
const KEEP_AFTER_EXPIRY: SignedDuration = SignedDuration::from_hours(24);

#[derive(Clone)]
pub struct DynamoDbTokenStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    clock: shared::SharedClock,
}

impl std::fmt::Debug for DynamoDbTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbTokenStore")
            .field("table", &self.table)
            .finish()
    }
}

/// What the status page shows of a stored token (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokenInfo {
    pub scope: String,
    pub expires_at: Timestamp,
    pub refreshed_at: Option<Timestamp>,
}

fn store_error(e: impl std::fmt::Display) -> Error {
    Error::TokenStore(e.to_string())
}

impl DynamoDbTokenStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: shared::clock::system(),
        }
    }

    /// Times `refreshed_at` with this clock (the local stack's virtual one).
    pub fn with_clock(mut self, clock: shared::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The tenant's stored tokens, newest expiry first: one per (auth host, client id) it has used.
    pub async fn tenant_tokens(&self, tenant_id: i64) -> Result<Vec<StoredTokenInfo>, Error> {
        let mut tokens = Vec::new();
        for item in self
            .tenant_items(tenant_id, "token_scope, token_expires_at_ms, refreshed_at")
            .await?
        {
            let scope = item
                .get("token_scope")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let expires_at = item
                .get("token_expires_at_ms")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .and_then(|ms| Timestamp::from_millisecond(ms).ok());
            let refreshed_at = item
                .get("refreshed_at")
                .and_then(|v| v.as_s().ok())
                .and_then(|t| t.parse().ok());
            if let Some(expires_at) = expires_at {
                tokens.push(StoredTokenInfo {
                    scope,
                    expires_at,
                    refreshed_at,
                });
            }
        }
        tokens.sort_by_key(|t| std::cmp::Reverse(t.expires_at));
        Ok(tokens)
    }

    /// Forgets every token of the tenant (on disconnect); returns how many there were.
    pub async fn delete_tenant(&self, tenant_id: i64) -> Result<usize, Error> {
        let items = self.tenant_items(tenant_id, "tenant_id, token_scope").await?;
        for item in &items {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(item.clone()))
                .send()
                .await
                .map_err(|e| store_error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        Ok(items.len())
    }

    async fn tenant_items(
        &self,
        tenant_id: i64,
        projection: &str,
    ) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, Error> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", AttributeValue::S(tenant_id.to_string()))
            .projection_expression(projection)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| store_error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))
    }

    fn update(&self, key: &TokenKey) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("tenant_id", AttributeValue::S(key.tenant_id.to_string()))
            .key("token_scope", AttributeValue::S(key.scope.clone()))
    }
}

impl TokenStore for DynamoDbTokenStore {
    fn load<'a>(&'a self, key: &'a TokenKey) -> StoreFuture<'a, Option<AccessToken>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("tenant_id", AttributeValue::S(key.tenant_id.to_string()))
                .key("token_scope", AttributeValue::S(key.scope.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| store_error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            let Some(item) = out.item else { return Ok(None) };
            let value = item.get("access_token").and_then(|v| v.as_s().ok()).cloned();
            let expires = item
                .get("token_expires_at_ms")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .and_then(|ms| Timestamp::from_millisecond(ms).ok());
            Ok(value
                .zip(expires)
                .map(|(value, expires_at)| AccessToken { value, expires_at }))
        })
    }

    fn save<'a>(&'a self, key: &'a TokenKey, token: &'a AccessToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.update(key)
                .update_expression(
                    "SET access_token = :v, token_expires_at_ms = :e, expires_at = :ttl, refreshed_at = :now \
                     REMOVE lease_holder, lease_until_ms",
                )
                .expression_attribute_values(":v", AttributeValue::S(token.value.clone()))
                .expression_attribute_values(":e", AttributeValue::N(token.expires_at.as_millisecond().to_string()))
                .expression_attribute_values(
                    ":ttl",
                    AttributeValue::N((token.expires_at + KEEP_AFTER_EXPIRY).as_second().to_string()),
                )
                .expression_attribute_values(":now", AttributeValue::S(shared::clock::iso_millis(self.clock.now())))
                .send()
                .await
                .map_err(|e| store_error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            Ok(())
        })
    }

    fn try_lease<'a>(
        &'a self,
        key: &'a TokenKey,
        lease: &'a Lease<'a>,
        rejected: Option<&'a AccessToken>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Free lease, and no token that a caller could still use.
            let stale = match rejected {
                Some(_) => {
                    "(attribute_not_exists(access_token) OR token_expires_at_ms <= :fresh OR access_token = :rejected)"
                }
                None => "(attribute_not_exists(access_token) OR token_expires_at_ms <= :fresh)",
            };
            let mut req = self
                .update(key)
                .update_expression("SET lease_holder = :h, lease_until_ms = :until")
                .condition_expression(format!(
                    "(attribute_not_exists(lease_until_ms) OR lease_until_ms < :now OR lease_holder = :h) AND {stale}"
                ))
                .expression_attribute_values(":h", AttributeValue::S(lease.holder.to_owned()))
                .expression_attribute_values(":until", AttributeValue::N(lease.until.as_millisecond().to_string()))
                .expression_attribute_values(":now", AttributeValue::N(lease.now.as_millisecond().to_string()))
                .expression_attribute_values(
                    ":fresh",
                    AttributeValue::N(lease.needed_until.as_millisecond().to_string()),
                );
            if let Some(rejected) = rejected {
                req = req.expression_attribute_values(":rejected", AttributeValue::S(rejected.value.clone()));
            }
            match req.send().await {
                Ok(_) => Ok(true),
                Err(e) if shared::aws::is_conditional_check_failed(&e) => Ok(false),
                Err(e) => Err(store_error(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            }
        })
    }

    fn release<'a>(&'a self, key: &'a TokenKey, holder: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let res = self
                .update(key)
                .update_expression("REMOVE lease_holder, lease_until_ms")
                .condition_expression("lease_holder = :h")
                .expression_attribute_values(":h", AttributeValue::S(holder.to_owned()))
                .send()
                .await;
            match res {
                Ok(_) => Ok(()),
                // Someone else's lease by now: nothing of ours to release.
                Err(e) if shared::aws::is_conditional_check_failed(&e) => Ok(()),
                Err(e) => Err(store_error(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            }
        })
    }
}
