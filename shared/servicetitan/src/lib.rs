//! A client for ServiceTitan's V2 tenant APIs.
//!
//! - [`auth`]: OAuth2 client credentials; tokens (900 s, no refresh tokens) are cached until shortly before they
//!   expire, in a pluggable [`auth::TokenStore`], and refreshed by one caller at a time.
//! - [`client`]: every call sends `Authorization: Bearer` and `ST-App-Key`, waits for the per-tenant rate limiter,
//!   refreshes once and retries once on a 401, honours `Retry-After` on a 429, and retries 5xx and timeouts with
//!   bounded exponential backoff and jitter. Validation errors come back as [`error::ApiErrorResponse`].
//! - [`paging`]: page-by-page listing, `ids` chunking (at most 50 per request) and export feeds with their
//!   `continueFrom` cursor.
//! - [`models`] and the `impl Client` blocks in `resources/`: typed requests and responses, named as in
//!   ServiceTitan's OpenAPI documents.

pub mod auth;
pub mod client;
pub mod connections;
pub mod credential_store;
pub mod environment;
pub mod error;
pub use servicetitan_models as models;
pub mod paging;
pub mod rate_limit;
pub mod resources;
pub mod shared_budget;
pub mod token_store;

pub use auth::{AccessToken, Credentials, MemoryTokenStore, TokenKey, TokenProvider, TokenStore};
pub use client::{Client, ClientOptions, Module, RetryPolicy};
pub use connections::{ConnectionError, Connections};
pub use credential_store::{CredentialStore, CredentialStoreError, TenantCredentials};
pub use environment::{Environment, Hosts};
pub use error::{ApiErrorResponse, Error};
pub use paging::{ExportPage, Page};
pub use shared_budget::{BudgetLimits, Priority, SharedBudget};
pub use token_store::{DynamoDbTokenStore, StoredTokenInfo};

/// The count of 429s from ServiceTitan, in the operations dashboard (Function `servicetitan`).
pub const THROTTLED_METRIC: &str = "ServiceTitanThrottled";
