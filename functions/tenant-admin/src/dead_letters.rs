//! The dead-letter queues as a tenant (or an operator) sees them, and the redrive after a fix:
//!
//! - `GET /admin|dashboard/tenants/{id}/dead-letters`: the tenant's parked messages per queue, with their reasons;
//! - `POST /admin|dashboard/tenants/{id}/dead-letters/redrive {"queues"?}`: moves them back to the queues they came
//!   from (events, follow-up steps, schedules, leads, reconcile passes), leaving every other tenant's in place;
//! - `GET /operator/dead-letters` and `POST /operator/dead-letters/redrive {"queues"?, "tenantId"?}`: the same for every
//!   tenant (and for messages whose tenant cannot be told), operator-only.
//!
//! A redriven message meets the same checks as on its first delivery: a follow-up step is gated again at send time
//! (opt-outs, quiet hours, caps, stop conditions read live, its deadline), so a redrive days later sends nothing
//! that is no longer right to send.

use http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use shared::api_error::{ApiError, json_response};
use shared::dead_letters::{Action, Queue, Route, Scan, Select};
use shared::tenants::TenantStatus;

use crate::{Admin, Handled, storage_error};

/// Messages a request looks at per queue, every tenant's included: enough for a shared queue after an incident,
/// small enough to finish well inside the function's timeout.
const SCAN_LIMIT: u32 = 500;

impl Admin {
    fn dead_letter_routes(&self) -> Vec<Route> {
        let c = &self.config.dead_letters;
        Queue::ALL
            .into_iter()
            .map(|queue| {
                let (dead_letter_url, source_url) = match queue {
                    Queue::Events => (&c.events, &self.config.events_queue_url),
                    Queue::FollowUps => (&c.followups, &c.followups_queue_url),
                    Queue::Schedules => (&c.schedules, &c.followups_queue_url),
                    Queue::Leads => (&c.leads, &c.leads_queue_url),
                    Queue::Reconcile => (&c.reconcile, &self.config.reconcile_queue_url),
                };
                Route {
                    queue,
                    dead_letter_url: dead_letter_url.clone(),
                    source_url: source_url.clone(),
                }
            })
            .collect()
    }

    async fn scan_dead_letters(
        &self,
        select: Select<'_>,
        action: Action,
        queues: &[Queue],
    ) -> Result<Vec<Scan>, ApiError> {
        let routes: Vec<Route> = self
            .dead_letter_routes()
            .into_iter()
            .filter(|r| queues.contains(&r.queue))
            .collect();
        let scans = futures::future::join_all(
            routes
                .iter()
                .map(|r| shared::dead_letters::scan(&self.sqs, r, select, action, SCAN_LIMIT)),
        )
        .await;
        scans
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| storage_error("reading the dead-letter queues", e))
    }

    /// `GET …/tenants/{id}/dead-letters`.
    pub(crate) async fn dead_letters(&self, tenant_id: &str) -> Handled {
        let scans = self
            .scan_dead_letters(Select::Tenant(tenant_id), Action::Peek, &Queue::ALL)
            .await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({"tenantId": tenant_id, "total": total(&scans, |s| s.selected), "queues": tenant_view(&scans)}),
        ))
    }

    /// `POST …/tenants/{id}/dead-letters/redrive`.
    pub(crate) async fn redrive(&self, tenant_id: &str, body: Option<&Value>) -> Handled {
        let queues = queues(body, &["queues"])?;
        // Redriven to a disconnected tenant, the messages would only be set aside again.
        let record = self.record(tenant_id).await?;
        if record.tenant.status != TenantStatus::Connected {
            return Err(crate::settings::not_connected(tenant_id));
        }
        let scans = self
            .scan_dead_letters(Select::Tenant(tenant_id), Action::Redrive, &queues)
            .await?;
        let redriven = total(&scans, |s| s.redriven);
        info!(redriven, "dead letters redriven");
        Ok(json_response(
            StatusCode::OK,
            &json!({"tenantId": tenant_id, "redriven": redriven, "queues": tenant_view(&scans)}),
        ))
    }

    /// `GET /operator/dead-letters`: every tenant's, with how many messages each queue holds in all.
    pub(crate) async fn all_dead_letters(&self) -> Handled {
        let scans = self.scan_dead_letters(Select::All, Action::Peek, &Queue::ALL).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({"total": total(&scans, |s| s.selected), "queues": scans}),
        ))
    }

    /// `POST /operator/dead-letters/redrive {"queues"?, "tenantId"?}`.
    pub(crate) async fn redrive_any(&self, body: Option<&Value>) -> Handled {
        let queues = queues(body, &["queues", "tenantId"])?;
        let tenant = match body.and_then(|b| b.get("tenantId")) {
            None | Some(Value::Null) => None,
            Some(v) => Some(crate::tenant(v.as_str().unwrap_or("")).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the redrive request is invalid",
                )
                .with_field(
                    "/tenantId",
                    "must be a ServiceTitan tenant id (a positive integer, as a string)",
                )
            })?),
        };
        let select = tenant.as_deref().map_or(Select::All, Select::Tenant);
        let scans = self.scan_dead_letters(select, Action::Redrive, &queues).await?;
        let redriven = total(&scans, |s| s.redriven);
        info!(
            redriven,
            tenant = tenant.as_deref().unwrap_or("every tenant"),
            "dead letters redriven by an operator"
        );
        Ok(json_response(
            StatusCode::OK,
            &json!({"tenantId": tenant, "redriven": redriven, "queues": scans}),
        ))
    }
}

fn total(scans: &[Scan], count: impl Fn(&Scan) -> u32) -> u32 {
    scans.iter().map(count).sum()
}

/// A tenant's view of the scans: how many of the queue's messages belong to other tenants is not theirs to see.
fn tenant_view(scans: &[Scan]) -> Vec<Value> {
    scans
        .iter()
        .map(|s| {
            json!({
                "queue": s.queue,
                "count": s.selected,
                "redriven": s.redriven,
                "samples": s.samples,
                "complete": s.complete,
            })
        })
        .collect()
}

/// The body's `queues` (every queue when absent), refusing unknown fields and names.
fn queues(body: Option<&Value>, known: &[&str]) -> Result<Vec<Queue>, ApiError> {
    let mut fields = Vec::new();
    let mut chosen = Queue::ALL.to_vec();
    if let Some(body) = body {
        match body.as_object() {
            None => fields.push(("/".to_owned(), "must be a JSON object".to_owned())),
            Some(obj) => {
                for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
                    fields.push(("/".to_owned(), format!("unknown field {key:?}")));
                }
            }
        }
        match body.get("queues") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if !items.is_empty() => {
                chosen = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().and_then(Queue::parse) {
                        Some(q) if !chosen.contains(&q) => chosen.push(q),
                        Some(_) => {}
                        None => fields.push((
                            format!("/queues/{i}"),
                            format!("must be one of {}", Queue::ALL.map(Queue::as_str).join(", ")),
                        )),
                    }
                }
            }
            Some(_) => fields.push((
                "/queues".to_owned(),
                "must be a non-empty list of queue names".to_owned(),
            )),
        }
    }
    if fields.is_empty() {
        return Ok(chosen);
    }
    let mut e = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the redrive request is invalid",
    );
    for (field, reason) in fields {
        e = e.with_field(field, reason);
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_unless_some_are_named() {
        assert_eq!(queues(None, &["queues"]).unwrap(), Queue::ALL.to_vec());
        assert_eq!(
            queues(Some(&json!({"queues": ["leads", "events", "leads"]})), &["queues"]).unwrap(),
            vec![Queue::Leads, Queue::Events]
        );
    }

    #[test]
    fn bad_requests_name_their_fields() {
        let e = queues(Some(&json!({"queues": ["events", "mail"], "tenant": 1})), &["queues"]).unwrap_err();
        let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["/", "/queues/1"]);
        let e = queues(Some(&json!({"queues": []})), &["queues"]).unwrap_err();
        assert_eq!(e.fields[0].field, "/queues");
    }
}
