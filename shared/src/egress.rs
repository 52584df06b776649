//! The name lookup behind [`domain::egress`]'s rules, which are re-exported here: a name is resolved and every
//! address it has is checked before a request connects to it.

use std::net::SocketAddr;

pub use domain::egress::*;

/// The longest a name's lookup may take; one that takes longer counts as not resolving.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The target's addresses, every one of them checked ([`EgressPolicy::check_resolved`]). `Ok(None)` when the name
/// does not resolve (nothing to refuse yet; a request would fail to connect).
pub async fn resolve(policy: &EgressPolicy, target: &Target) -> Result<Option<Vec<SocketAddr>>, EgressError> {
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(_)) | Err(_) => return Ok(None),
    };
    policy.check_resolved(target, addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_this_machine_are_refused() {
        let p = EgressPolicy::new(&["localhost".into()], None, false);
        let target = Target {
            host: "localhost".into(),
            port: 443,
        };
        let err = resolve(&p, &target).await.unwrap_err();
        assert!(matches!(err, EgressError::Forbidden { range: "loopback", .. }), "{err}");
        let local = EgressPolicy::new(&[], None, true);
        assert!(resolve(&local, &target).await.unwrap().is_some());
    }
}
