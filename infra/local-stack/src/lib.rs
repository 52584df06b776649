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
//!   Gateway's JWT authorizer on the dashboard routes ([`issuer`]);
//! - faults are injected on purpose for the fault matrix: AWS refusing the functions' calls, a host killed
//!   mid-invocation, duplicated and reordered SQS deliveries ([`faults`]).

pub mod demo;
pub mod event_sources;
pub mod faults;
pub mod functions;
pub mod http_api;
pub mod issuer;
pub mod moto;
pub mod resources;
pub mod scheduler;
pub mod sink;
pub mod stack;
pub mod template;
pub mod usage;

pub use stack::{LocalStack, StackOptions};

/// Writes `contents` to a file only its owner may read or write (mode 0600 from creation, so it is never briefly
/// readable by others).
pub fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_the_owners_alone() {
        let dir = std::env::temp_dir().join(format!("local-stack-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("endpoints.json");
        std::fs::write(&path, "old, world-readable").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::write_private(&path, "{\"admin_token\": \"x\"}").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"admin_token\": \"x\"}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
