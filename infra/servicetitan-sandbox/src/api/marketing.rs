//! marketing-v2: campaigns.

use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::model::Campaign;
use crate::util::{ApiError, ApiResult, ListOpts, P, Q, contains_ci, list, ok, phone_matches, ts};

pub fn campaign_json(c: &Campaign) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "modifiedOn": ts(c.modified_on),
        "createdOn": ts(c.created_on),
        "active": c.active,
        "isDefaultCampaign": c.is_default,
        "category": { "id": c.category.0, "name": c.category.1, "active": true },
        "source": c.source,
        "otherSource": null,
        "businessUnit": null,
        "medium": c.medium,
        "otherMedium": null,
        "campaignPhoneNumbers": c.phone_numbers,
    })
}

pub async fn list_campaigns(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let name = q.str("name").map(str::to_string);
    let phone = q.str("campaignPhoneNumber").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.campaigns.values(),
            ListOpts { active: true },
            |c| {
                name.as_deref().is_none_or(|n| contains_ci(&c.name, n))
                    && phone
                        .as_deref()
                        .is_none_or(|ph| c.phone_numbers.iter().any(|x| phone_matches(ph, x)))
            },
            campaign_json,
        )
    })
}

pub async fn get_campaign(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let c = t
            .campaigns
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Campaign", p.id))?;
        ok(campaign_json(c))
    })
}
