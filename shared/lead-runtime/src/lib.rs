//! What the lead functions (intake, creator, admin's test lead) share around the rules in `leads`:
//! - [`store`]: leads in DynamoDB, every ServiceTitan id recorded as soon as it exists;
//! - [`messages`]: the leads queue's messages;
//! - [`create`]: the steps that make a lead's ServiceTitan records, each safe to repeat;
//! - [`submit`]: taking a lead in (stored, then queued), for `POST /leads` and the reconciler's missed calls.

pub mod create;
pub mod messages;
pub mod store;
pub mod submit;
