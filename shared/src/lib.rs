//! The AWS layer every Lambda in this workspace builds on: SDK clients, DynamoDB item helpers, SQS batches, the
//! stores (tenants, events, signing keys, reconcile state, dead letters, schedules) and the HTTP request plumbing.
//!
//! Functions keep their `main.rs` thin: they read configuration, build the AWS clients once and hand them to a
//! handler defined in their own library crate. The pure domain ([`domain`]) is re-exported module by module, so a
//! function reaches both through this one crate; the pure rule crates depend on `domain` alone.

pub use domain::{
    clock, config, event, metrics, servicetitan_env, signing, standard_webhooks, tenant_settings, webhook_scheme,
};

pub mod api_error;
pub mod aws;
pub mod callers;
pub mod dead_letters;
pub mod deadline;
pub mod dynamo_item;
pub mod egress;
pub mod event_log;
pub mod http_request;
pub mod logging;
pub mod reconcile_state;
pub mod schedules;
pub mod signing_keys;
pub mod sink_secrets;
pub mod sqs_batch;
pub mod tenants;

#[cfg(feature = "testing")]
pub use domain::VirtualClock;
pub use domain::{Clock, ConfigError, EnvSource, SharedClock, SystemClock};
