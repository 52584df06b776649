//! ServiceTitan webhook intake.
//!
//! `POST /webhooks/servicetitan[/{event}]` → size check → signature check → parse and normalise → tenant check →
//! enqueue → record. The handler answers 200 only once the event is on the queue; any AWS failure answers 5xx so
//! that ServiceTitan retries (at 10, 30, 60 and 300 s).

pub mod config;
pub mod handler;
pub mod json_lookup;
pub mod normalise;

pub use config::IntakeConfig;
pub use handler::{Intake, IntakeClients};
