//! Leads into ServiceTitan, without I/O.
//!
//! - [`lead`]: a lead as the AI platform posts it, checked field by field and normalised;
//! - [`phone`] (from the `contact` crate), [`address`], [`names`]: the forms people write them in, compared;
//! - [`matching`]: which existing customer a lead is, if any, with the evidence;
//! - [`plan`]: the job, appointment and notes to create for it.

pub mod address;
pub mod lead;
pub mod matching;
pub mod names;
/// Phone numbers: one helper for the leads and the follow-ups.
pub use contact::phone;
pub mod plan;
