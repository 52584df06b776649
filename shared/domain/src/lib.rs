//! The product's domain without I/O: ServiceTitan events and tenants' settings, time, configuration, the
//! ServiceTitan environment, webhook signatures (ServiceTitan's scheme and Standard Webhooks), egress rules, the
//! API's error types and metric lines. Nothing here links an AWS SDK, tokio or an HTTP client, so the pure rule
//! crates (`followups`, `leads`, `reconcile`) build on it alone. `shared` is the AWS layer over it.

pub mod api_error;
pub mod clock;
pub mod config;
pub mod egress;
pub mod event;
pub mod metrics;
pub mod schedule_names;
pub mod servicetitan_env;
pub mod signing;
pub mod standard_webhooks;
pub mod tenant_settings;
pub mod webhook_scheme;

#[cfg(any(test, feature = "testing"))]
pub use clock::VirtualClock;
pub use clock::{Clock, SharedClock, SystemClock};
pub use config::{ConfigError, EnvSource};
