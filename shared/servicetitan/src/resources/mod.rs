//! Typed operations, one file per ServiceTitan module, as `impl Client` blocks.

pub mod accounting;
mod crm;
mod jpm;
mod sales;
mod settings;
mod telecom;
