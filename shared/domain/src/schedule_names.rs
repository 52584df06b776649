//! One-shot EventBridge Scheduler schedules belong to a tenant by name: every schedule the product creates is
//! named [`tenant_prefix`]` + ...`, so a disconnect can find and cancel all of a tenant's schedules without an index.

/// `t<tenant id>-`; the trailing dash keeps tenant 1 from matching tenant 10's schedules.
pub fn tenant_prefix(tenant_id: &str) -> String {
    format!("t{tenant_id}-")
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_do_not_overlap_between_tenants() {
        assert!(!format!("{}x", super::tenant_prefix("10")).starts_with(&super::tenant_prefix("1")));
    }
}
