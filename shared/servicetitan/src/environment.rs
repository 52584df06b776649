//! ServiceTitan's environments and hosts, defined in `shared` because tenants are stored with one.

pub use shared::servicetitan_env::{Hosts, ServiceTitanEnvironment as Environment};
