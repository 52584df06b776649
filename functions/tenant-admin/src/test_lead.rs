//! `POST /admin/tenants/{id}/test-lead`: the connect flow's last step, "run a test chat and confirm a Customer and
//! Job appear". A clearly labelled lead goes through the same steps as a real one, inline, and the answer has the
//! ServiceTitan ids (or what ServiceTitan refused, to fix before going live).
//!
//! The body may set `name`, `phone`, `email` and `address`; the defaults are a fictional caller at a fictional
//! address in the tenant's ServiceTitan, named so the office can find and delete it.

use http::StatusCode;
use lead_runtime::create::{CreateError, Done};
use lead_runtime::store::Accepted;
use serde_json::{Value, json};
use shared::api_error::{ApiError, json_response};

use crate::{Admin, Handled, storage_error};

const TEST_NAME: &str = "Test Lead (AI integration, safe to delete)";

impl Admin {
    pub(crate) async fn test_lead(&self, tenant_id: &str, body: Option<&Value>) -> Handled {
        let record = self.record(tenant_id).await?;
        if record.settings.is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "settings_incomplete",
                "choose the business unit, job type and campaign first (PUT .../settings)",
            ));
        }
        let now = self.clock.now();
        let given = body.cloned().unwrap_or_else(|| json!({}));
        let mut lead = json!({
            "leadId": format!("test-{}", now.as_millisecond()),
            "tenantId": tenant_id,
            "source": "chat",
            "name": TEST_NAME,
            "phone": "+1 212 555 0100",
            "address": {"street": "1 Integration Test Way", "city": "Testville", "state": "TX", "zip": "78701"},
            "service": "Test request",
            "summary": "A test lead from the AI integration's connect flow. Nothing was booked; delete this customer and job.",
        });
        for key in ["name", "phone", "email", "address"] {
            if let Some(v) = given.get(key) {
                lead[key] = v.clone();
            }
        }
        let country = record
            .settings
            .as_ref()
            .and_then(|s| s["leads"]["country"].as_str())
            .unwrap_or("US")
            .to_owned();
        let parsed = leads::lead::parse(&lead, &country, now).map_err(|fields| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_lead",
                "the test lead is invalid",
            )
            .with_fields(fields)
        })?;
        let store = self.creator.store();
        match store
            .accept(&parsed, &leads::lead::fingerprint(&lead), now)
            .await
            .map_err(|e| storage_error("storing the test lead", e))?
        {
            Accepted::New | Accepted::Repeat(_) => {}
            Accepted::Conflict => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "lead_conflict",
                    "try again in a moment",
                ));
            }
        }
        let done = match self.creator.create(tenant_id, &parsed.lead_id, true).await {
            Ok(done) => done,
            Err(CreateError::Unavailable(reason)) => {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "servicetitan_unavailable",
                    format!("ServiceTitan did not answer: {reason}; run the test again shortly"),
                )
                .with_header(http::header::RETRY_AFTER, "30"));
            }
            Err(CreateError::Store(e)) => return Err(storage_error("creating the test lead", e)),
        };
        let rec = store
            .get(tenant_id, &parsed.lead_id)
            .await
            .map_err(|e| storage_error("reading the test lead", e))?
            .ok_or_else(|| storage_error("reading the test lead", "it vanished"))?;
        let status = match done {
            Done::Created(_) => StatusCode::CREATED,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Ok(json_response(status, &rec.view(&[])))
    }
}
