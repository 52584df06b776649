//! The reconciler's rules, without I/O. Webhooks are an accelerator, not a dependency: every change the engine
//! needs is also read from ServiceTitan's export feeds, turned into the same normalised event the webhook intake
//! makes, and queued; the engine's snapshots and run slots make one change seen both ways have one effect.
//!
//! - [`feeds`]: the export feeds, and which of them the tenant's enabled recipes need;
//! - [`changes`]: a feed record as an event (`source: reconcile`, an id derived from kind, id and `modifiedOn`);
//! - [`missed_calls`]: which calls in the phone log were missed, and the lead each becomes;
//! - [`messages`]: the reconcile queue's message.

pub mod changes;
pub mod feeds;
pub mod messages;
pub mod missed_calls;
