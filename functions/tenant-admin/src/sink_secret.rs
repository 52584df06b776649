//! A tenant's own follow-up signing secret, for a tenant whose follow-ups go to its own sink (`followupSinkUrl`).
//!
//! `POST` makes a new key and returns its secret this once; the previous keys stay valid for `overlapHours`
//! (24 by default, at least 1, so the runner's five-minute cache is covered), and every delivery meanwhile carries a
//! signature by each. `GET` lists the keys by id only.

use http::StatusCode;
use jiff::SignedDuration;
use serde_json::{Value, json};
use tracing::info;

use shared::api_error::{ApiError, json_response};
use shared::signing_keys::KeyRing;

use crate::{Admin, Handled, ok, storage_error};

const DEFAULT_OVERLAP_HOURS: i64 = 24;
const MAX_OVERLAP_HOURS: i64 = 24 * 30;

fn listing(tenant_id: &str, ring: &KeyRing, now: jiff::Timestamp) -> Value {
    let mut listed = crate::webhook_keys::listing(ring, now);
    listed["tenantId"] = json!(tenant_id);
    listed
}

impl Admin {
    pub(crate) async fn sink_secret(&self, tenant_id: &str) -> Handled {
        self.record(tenant_id).await?;
        let ring = self
            .sink_secrets
            .ring(tenant_id)
            .await
            .map_err(|e| storage_error("reading the tenant's sink signing secret", e))?
            .unwrap_or_default();
        ok(&listing(tenant_id, &ring, self.clock.now()))
    }

    /// `{"overlapHours": 24}` (optional): a new key now, the others ending that long from now.
    pub(crate) async fn rotate_sink_secret(&self, tenant_id: &str, body: Option<&Value>) -> Handled {
        self.record(tenant_id).await?;
        let invalid = |reason: String| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the request is invalid")
                .with_field("/overlapHours", reason)
        };
        let obj = body.and_then(Value::as_object);
        if let Some(key) = obj.into_iter().flat_map(|o| o.keys()).find(|k| *k != "overlapHours") {
            return Err(
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the request is invalid")
                    .with_field(format!("/{key}"), "unknown field; expected overlapHours"),
            );
        }
        let overlap = match obj.and_then(|o| o.get("overlapHours")) {
            None | Some(Value::Null) => DEFAULT_OVERLAP_HOURS,
            Some(v) => match shared::api_error::whole_number(v) {
                Some(h) if (1..=MAX_OVERLAP_HOURS).contains(&h) => h,
                _ => {
                    return Err(invalid(format!(
                        "must be a whole number of hours, 1 to {MAX_OVERLAP_HOURS}"
                    )));
                }
            },
        };
        let now = self.clock.now();
        let (key, ring) = self
            .sink_secrets
            .rotate(tenant_id, now, SignedDuration::from_hours(overlap))
            .await
            .map_err(|e| storage_error("writing the tenant's sink signing secret", e))?;
        info!(
            key_id = key.id,
            overlap_hours = overlap,
            "tenant sink signing secret rotated"
        );
        let mut reply = listing(tenant_id, &ring, now);
        reply["id"] = json!(key.id);
        // Shown this once: give it to the receiver at the tenant's followupSinkUrl.
        reply["secret"] = json!(key.secret);
        Ok(json_response(StatusCode::CREATED, &reply))
    }
}
