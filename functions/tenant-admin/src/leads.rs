//! `GET /admin|dashboard/tenants/{id}/leads[?limit=]`: the tenant's latest leads, newest first, each with what
//! became of it, the records it made or matched in ServiceTitan, and the match decision with its evidence (which
//! customer and location it matched, and on what), so a contractor can see why a lead did or did not become a new
//! customer.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::json;

use shared::api_error::ApiError;

use crate::{Admin, Handled, ok, storage_error};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

impl Admin {
    pub(crate) async fn leads(&self, tenant_id: &str, query: &BTreeMap<String, String>) -> Handled {
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(
                        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the query is invalid")
                            .with_field("limit", format!("must be a whole number from 1 to {MAX_LIMIT}")),
                    );
                }
            },
        };
        let records = self
            .leads
            .recent(tenant_id, limit)
            .await
            .map_err(|e| storage_error("reading the tenant's leads", e))?;
        let leads: Vec<serde_json::Value> = records.iter().map(|r| r.view(&[])).collect();
        ok(&json!({"tenantId": tenant_id, "leads": leads}))
    }
}
