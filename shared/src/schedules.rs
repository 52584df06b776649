//! One-shot EventBridge Scheduler schedules belong to a tenant by name: every schedule the product creates is
//! named [`tenant_prefix`]` + ...`, so a disconnect can find and cancel all of a tenant's schedules without an index.
//! (A schedule that fires anyway, e.g. one created concurrently with the disconnect, is a no-op: its consumer checks
//! the tenant's status first.)

use aws_sdk_scheduler::error::DisplayErrorContext;

pub use domain::schedule_names::tenant_prefix;

#[derive(Debug, thiserror::Error)]
#[error("could not cancel schedules: {0}")]
pub struct ScheduleError(String);

/// Deletes every schedule of the tenant in `group`; returns how many were deleted. Safe to repeat.
pub async fn cancel_tenant_schedules(
    client: &aws_sdk_scheduler::Client,
    group: &str,
    tenant_id: &str,
) -> Result<usize, ScheduleError> {
    let prefix = tenant_prefix(tenant_id);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_schedules()
            .group_name(group)
            .name_prefix(&prefix)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| ScheduleError(DisplayErrorContext(e).to_string()))?;
        // Filtered here too: an emulator may ignore NamePrefix.
        names.extend(
            out.schedules()
                .iter()
                .filter_map(|s| s.name())
                .filter(|n| n.starts_with(&prefix))
                .map(str::to_owned),
        );
        match out.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    let mut deleted = 0;
    for name in names {
        match client.delete_schedule().group_name(group).name(&name).send().await {
            Ok(_) => deleted += 1,
            // Fired and deleted itself meanwhile, or a concurrent disconnect got there first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(ScheduleError(DisplayErrorContext(e).to_string())),
        }
    }
    Ok(deleted)
}
