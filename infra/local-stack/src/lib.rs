//! The local stack: `template.yaml` run on one machine.
//!
//! - AWS is moto server, a real HTTP server speaking the AWS APIs ([`moto`]).
//! - The tables, queues, secrets and schedule groups are created from the template's own resource definitions
//!   ([`template`], [`resources`]), so the template and the local run cannot drift apart.
//! - moto runs no Lambdas and fires no schedules, so this crate hosts the functions in-process ([`functions`]),
//!   routes the HTTP API to them ([`http_api`]), polls their SQS event sources ([`event_sources`]) and fires due
//!   one-time schedules ([`scheduler`]), all on one virtual clock ([`stack`]);
//! - the AI platform is a local sink that verifies and records follow-up deliveries ([`sink`]);
//! - the host platform's identity provider is a local issuer that signs contractors in, and stands in for API
//!   Gateway's JWT authorizer on the dashboard routes ([`issuer`]).

pub mod demo;
pub mod event_sources;
pub mod functions;
pub mod http_api;
pub mod issuer;
pub mod moto;
pub mod resources;
pub mod scheduler;
pub mod sink;
pub mod stack;
pub mod template;

pub use stack::{LocalStack, StackOptions};
