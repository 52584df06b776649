//! Common library for every Lambda in this workspace.
//!
//! Functions keep their `main.rs` thin: they read configuration, build the AWS clients once and hand them to a
//! handler defined in their own library crate. Everything those handlers share lives here.

pub mod api_error;
pub mod aws;
pub mod callers;
pub mod clock;
pub mod config;
pub mod dead_letters;
pub mod deadline;
pub mod dynamo_item;
pub mod egress;
pub mod event;
pub mod event_log;
pub mod http_request;
pub mod metrics;
pub mod reconcile_state;
pub mod schedules;
pub mod servicetitan_env;
pub mod signing;
pub mod signing_keys;
pub mod sink_secrets;
pub mod sqs_batch;
pub mod standard_webhooks;
pub mod tenant_settings;
pub mod tenants;
pub mod webhook_scheme;

pub use clock::{Clock, SharedClock, SystemClock, VirtualClock};
pub use config::{ConfigError, EnvSource};
