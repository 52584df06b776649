//! salestech-v2 (module path `sales`): estimates. In responses `status` is `{value, name}` (0 Open, 1 Sold,
//! 2 Dismissed); in requests and filters it is the name.

use axum::body::Bytes;
use axum::extract::State;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::model::{Estimate, EstimateItem, Tenant};
use crate::util::{
    ApiError, ApiResult, Check, ListOpts, P, Q, body_value, export, list, money_num, ok, ok_empty, ts, ts_opt, typed,
};

pub const ESTIMATE_STATUSES: [&str; 3] = ["Open", "Sold", "Dismissed"];
pub const REVIEW_STATUSES: [&str; 4] = ["None", "NeedsApproval", "Approved", "NotApproved"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateItemReq {
    pub sku_id: Option<i64>,
    pub sku_name: Option<String>,
    pub description: Option<String>,
    pub quantity: Option<f64>,
    pub unit_price: Option<f64>,
    pub unit_cost: Option<f64>,
    pub item_group_name: Option<String>,
    pub chargeable: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateEstimateReq {
    pub name: Option<String>,
    pub summary: Option<String>,
    pub tax: Option<f64>,
    pub status: Option<String>,
    pub review_status: Option<String>,
    pub sold_by: Option<i64>,
    pub is_recommended: Option<bool>,
    pub items: Option<Vec<EstimateItemReq>>,
    pub job_id: Option<i64>,
    pub location_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SellReq {
    sold_by: Option<i64>,
}

fn status_value(name: &str) -> i32 {
    match name {
        "Sold" => 1,
        "Dismissed" => 2,
        _ => 0,
    }
}

fn cents(f: f64) -> i64 {
    (f * 100.0).round() as i64
}

pub fn estimate_json(t: &Tenant, e: &Estimate) -> Value {
    let job_number = e.job_id.and_then(|j| t.jobs.get(&j)).map(|j| j.job_number.clone());
    let bu_name = e
        .business_unit_id
        .and_then(|b| t.business_units.get(&b))
        .map(|b| b.name.clone());
    let items: Vec<Value> = e
        .items
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "sku": {
                    "id": i.sku_id,
                    "name": i.sku_name,
                    "displayName": i.description,
                    "type": i.sku_type,
                    "soldHours": 0.0,
                    "generalLedgerAccountId": 4000,
                    "generalLedgerAccountName": "Service Income",
                    "modifiedOn": ts(i.modified_on),
                },
                "skuAccount": "4000 - Service Income",
                "description": i.description,
                "membershipTypeId": null,
                "qty": i.qty as f64 / 100.0,
                "unitRate": money_num(i.unit_rate),
                "total": money_num(i.qty * i.unit_rate / 100),
                "unitCost": money_num(i.unit_cost),
                "totalCost": money_num(i.qty * i.unit_cost / 100),
                "itemGroupName": i.item_group_name,
                "itemGroupRootId": null,
                "createdOn": ts(i.created_on),
                "modifiedOn": ts(i.modified_on),
                "chargeable": i.chargeable,
                "invoiceItemId": null,
                "budgetCodeId": null,
            })
        })
        .collect();
    json!({
        "id": e.id,
        "jobId": e.job_id,
        "projectId": null,
        "locationId": e.location_id,
        "customerId": e.customer_id,
        "name": e.name,
        "jobNumber": job_number,
        "status": { "value": status_value(&e.status), "name": e.status },
        "reviewStatus": e.review_status,
        "summary": e.summary,
        "createdOn": ts(e.created_on),
        "modifiedOn": ts(e.modified_on),
        "soldOn": ts_opt(e.sold_on),
        "soldBy": e.sold_by,
        "active": e.active,
        "items": items,
        "externalLinks": [],
        "subtotal": money_num(e.subtotal()),
        "tax": money_num(e.tax),
        "businessUnitId": e.business_unit_id,
        "businessUnitName": bu_name,
        "isRecommended": e.is_recommended,
        "budgetCodeId": null,
        "isChangeOrder": false,
        "proposalTagName": null,
        "depositAmount": null,
        "depositPercent": null,
        "requireDepositOnSignature": null,
    })
}

fn canonical(values: &[&'static str], s: &str) -> Option<&'static str> {
    values.iter().copied().find(|v| v.eq_ignore_ascii_case(s))
}

/// Validates references and inserts the estimate; shared with the seed.
pub fn insert_estimate(t: &mut Tenant, r: CreateEstimateReq, now: Timestamp) -> ApiResult<i64> {
    let mut c = Check::default();
    let status = match r.status.as_deref() {
        None => "Open",
        Some(s) => canonical(&ESTIMATE_STATUSES, s).unwrap_or_else(|| {
            c.add(
                "Status",
                format!("The value '{s}' is not valid. Values: [Open, Sold, Dismissed]"),
            );
            "Open"
        }),
    };
    let review = match r.review_status.as_deref() {
        None => "None",
        Some(s) => canonical(&REVIEW_STATUSES, s).unwrap_or_else(|| {
            c.add(
                "ReviewStatus",
                format!("The value '{s}' is not valid. Values: [{}]", REVIEW_STATUSES.join(", ")),
            );
            "None"
        }),
    };
    let job = match r.job_id {
        Some(j) => match t.jobs.get(&j) {
            Some(job) => Some(job.clone()),
            None => {
                c.add("JobId", format!("Job with ID={j} was not found."));
                None
            }
        },
        None => None,
    };
    let location_id = r.location_id.or(job.as_ref().map(|j| j.location_id));
    if let Some(l) = location_id
        && !t.locations.contains_key(&l)
    {
        c.add("LocationId", format!("Location with ID={l} was not found."));
    }
    c.finish()?;
    let customer_id = job
        .as_ref()
        .map(|j| j.customer_id)
        .or_else(|| location_id.and_then(|l| t.locations.get(&l)).map(|l| l.customer_id));
    let id = t.next_id();
    let items = r
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|i| {
            let item_id = t.next_id();
            let sku_id = i.sku_id.unwrap_or(item_id + 500_000);
            let description = i.description.unwrap_or_else(|| i.sku_name.clone().unwrap_or_default());
            EstimateItem {
                id: item_id,
                sku_id,
                sku_name: i.sku_name.unwrap_or_else(|| format!("SKU-{sku_id}")),
                sku_type: "Service".into(),
                description,
                qty: cents(i.quantity.unwrap_or(1.0)),
                unit_rate: cents(i.unit_price.unwrap_or(0.0)),
                unit_cost: cents(i.unit_cost.unwrap_or(0.0)),
                item_group_name: i.item_group_name.unwrap_or_default(),
                chargeable: i.chargeable,
                created_on: now,
                modified_on: now,
            }
        })
        .collect();
    let sold = status == "Sold";
    let e = Estimate {
        id,
        job_id: job.as_ref().map(|j| j.id),
        location_id,
        customer_id,
        business_unit_id: job.as_ref().map(|j| j.business_unit_id),
        name: r.name,
        summary: r.summary,
        status: status.into(),
        review_status: review.into(),
        sold_on: sold.then_some(now),
        sold_by: if sold { r.sold_by } else { None },
        items,
        tax: cents(r.tax.unwrap_or(0.0)),
        is_recommended: r.is_recommended.unwrap_or(false),
        active: true,
        created_on: now,
        modified_on: now,
    };
    t.estimates.insert(id, e);
    if let Some(j) = job.and_then(|j| t.jobs.get_mut(&j.id)) {
        j.estimate_ids.push(id);
    }
    Ok(id)
}

pub async fn create_estimate(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &[])?;
    let req: CreateEstimateReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        let id = insert_estimate(t, req, now)?;
        let out = estimate_json(t, &t.estimates[&id]);
        st.emit(t, "estimate.created", &out, now);
        ok(out)
    })
}

pub async fn get_estimate(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let e = t
            .estimates
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Estimate", p.id))?;
        ok(estimate_json(t, e))
    })
}

pub async fn list_estimates(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let job_id = q.i64("jobId")?;
    let project_id = q.i64("projectId")?;
    let job_number = q.str("jobNumber").map(str::to_string);
    let total_greater = q.f64("totalGreater")?;
    let total_less = q.f64("totalLess")?;
    let sold_by = q.i64("soldById")?;
    let sold_after = q.time("soldAfter")?;
    let sold_before = q.time("soldBefore")?;
    let status = q.enumerated("status", &ESTIMATE_STATUSES)?;
    let location_id = q.i64("locationId")?;
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.estimates.values(),
            ListOpts { active: true },
            |e| {
                let total = e.subtotal() as f64 / 100.0;
                job_id.is_none_or(|x| e.job_id == Some(x))
                    && project_id.is_none()
                    && job_number
                        .as_deref()
                        .is_none_or(|n| e.job_id.and_then(|j| t.jobs.get(&j)).is_some_and(|j| j.job_number == n))
                    && total_greater.is_none_or(|x| total >= x)
                    && total_less.is_none_or(|x| total <= x)
                    && sold_by.is_none_or(|x| e.sold_by == Some(x))
                    && sold_after.is_none_or(|x| e.sold_on.is_some_and(|s| s >= x))
                    && sold_before.is_none_or(|x| e.sold_on.is_some_and(|s| s < x))
                    && status.is_none_or(|s| e.status == s)
                    && location_id.is_none_or(|x| e.location_id == Some(x))
            },
            |e| estimate_json(t, e),
        )
    })
}

fn require_open(e: &Estimate, action: &str) -> ApiResult<()> {
    if e.status == "Open" {
        return Ok(());
    }
    Err(ApiError::field(
        "Status",
        format!(
            "Only an Open estimate can be {action}; estimate {} is {}.",
            e.id, e.status
        ),
    ))
}

/// Sells an Open estimate (API `PUT .../sell` and the `sell` control); emits `estimate.sold`.
pub fn sell(st: &AppState, t: &mut Tenant, id: i64, sold_by: Option<i64>, now: Timestamp) -> ApiResult<Value> {
    let e = t
        .estimates
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Estimate", id))?;
    require_open(e, "sold")?;
    e.status = "Sold".into();
    e.sold_on = Some(now);
    e.sold_by = sold_by;
    e.modified_on = now;
    let out = estimate_json(t, &t.estimates[&id]);
    st.emit(t, "estimate.sold", &out, now);
    Ok(out)
}

/// Dismisses an Open estimate (API `PUT .../dismiss` and the `dismiss` control); emits `estimate.dismissed`.
pub fn dismiss(st: &AppState, t: &mut Tenant, id: i64, now: Timestamp) -> ApiResult<Value> {
    let e = t
        .estimates
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Estimate", id))?;
    require_open(e, "dismissed")?;
    e.status = "Dismissed".into();
    e.modified_on = now;
    let out = estimate_json(t, &t.estimates[&id]);
    st.emit(t, "estimate.dismissed", &out, now);
    Ok(out)
}

/// `estimate.sent` / `estimate.viewed`: not ServiceTitan statuses, so the estimate is left as it is (Open) and the
/// change exists only in the webhook.
pub fn notify(st: &AppState, t: &mut Tenant, id: i64, event_type: &str, now: Timestamp) -> ApiResult<Value> {
    let e = t
        .estimates
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Estimate", id))?;
    let out = estimate_json(t, e);
    st.emit(t, event_type, &out, now);
    Ok(out)
}

pub async fn sell_estimate(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["soldBy"])?;
    let req: SellReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| ok(sell(&st, t, p.id, req.sold_by, now)?))
}

pub async fn dismiss_estimate(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, now| {
        dismiss(&st, t, p.id, now)?;
        ok_empty()
    })
}

pub async fn export_estimates(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        export(&q, t.estimates.values(), |e| estimate_json(t, e))
    })
}
