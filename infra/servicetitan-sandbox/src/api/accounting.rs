//! accounting-v2: invoices (list only — there is no GET by id) and payments. Money is a 2-decimal string here.

use axum::extract::State;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::AppState;
use crate::model::{Invoice, Payment, Tenant};
use crate::util::{ApiError, ApiResult, ListOpts, P, Q, export, list, money, ts, ts_opt};

const ACTIVE_STATES: [&str; 3] = ["ActiveOnly", "InactiveOnly", "All"];
const BALANCE_COMPARERS: [&str; 4] = ["Equals", "NotEquals", "Greater", "Less"];

fn address_json(a: &crate::model::Address) -> Value {
    json!({
        "street": a.street, "unit": a.unit, "city": a.city, "state": a.state, "zip": a.zip, "country": a.country,
    })
}

fn named(id: i64, name: Option<&str>) -> Value {
    json!({ "id": id, "name": name })
}

pub fn invoice_json(t: &Tenant, i: &Invoice) -> Value {
    let customer = t.customers.get(&i.customer_id);
    let location = t.locations.get(&i.location_id);
    let bu = t.business_units.get(&i.business_unit_id);
    let job = i.job_id.and_then(|j| t.jobs.get(&j));
    let job_type = job.and_then(|j| t.job_types.get(&j.job_type_id));
    let items: Vec<Value> = i
        .items
        .iter()
        .enumerate()
        .map(|(n, it)| {
            json!({
                "id": it.id,
                "description": it.description,
                "quantity": money(it.quantity * 100),
                "cost": money(it.cost),
                "totalCost": money(it.cost * it.quantity),
                "budgetCodeId": null,
                "inventoryLocationId": null,
                "inventoryLocation": null,
                "price": money(it.price),
                "type": "Service",
                "skuName": it.sku_name,
                "skuId": it.sku_id,
                "total": money(it.price * it.quantity),
                "inventory": false,
                "taxable": false,
                "isChargeable": true,
                "generalLedgerAccount": {
                    "id": 4000, "name": "Service Income", "number": "4000", "type": "Income",
                    "detailType": "Service/Fee Income",
                },
                "costOfSaleAccount": null,
                "assetAccount": null,
                "membershipTypeId": 0,
                "itemGroup": null,
                "displayName": it.description,
                "soldHours": null,
                "createdOn": ts(it.created_on),
                "modifiedOn": ts(it.created_on),
                "serviceDate": ts(it.created_on),
                "order": n + 1,
                "businessUnit": bu.map(|b| named(b.id, Some(&b.name))),
                "createdById": t.api_user_id,
                "displayInAmount": null,
                "importId": null,
                "exportId": null,
                "inventoryStatus": null,
                "addOn": false,
                "memberPrice": null,
                "technicianId": null,
                "installedEquipmentId": null,
                "estimateItemId": null,
            })
        })
        .collect();
    json!({
        "id": i.id,
        "syncStatus": "Pending",
        "budgetCodeId": null,
        "referenceNumber": i.reference_number,
        "invoiceDate": ts(i.invoice_date),
        "dueDate": ts(i.due_date),
        "subTotal": money(i.sub_total),
        "salesTax": money(i.sales_tax),
        "salesTaxCode": null,
        "taxZoneId": null,
        "total": money(i.total),
        "balance": money(i.balance),
        "invoiceType": null,
        "customer": customer.map(|c| named(c.id, Some(&c.name))),
        "customerAddress": customer.map(|c| address_json(&c.address)),
        "location": location.map(|l| named(l.id, Some(&l.name))),
        "locationAddress": location.map(|l| address_json(&l.address)),
        "businessUnit": bu.map(|b| named(b.id, Some(&b.name))),
        "termName": i.term_name,
        "createdBy": "API Integration",
        "batch": null,
        "depositedOn": null,
        "createdOn": ts(i.created_on),
        "modifiedOn": ts(i.modified_on),
        "adjustmentToId": null,
        "job": job.map(|j| json!({ "id": j.id, "number": j.job_number, "type": job_type.map(|jt| jt.name.clone()) })),
        "projectId": null,
        "royalty": null,
        "employeeInfo": null,
        "commissionEligibilityDate": null,
        "sentStatus": "NotSent",
        "reviewStatus": "NeedsReview",
        "assignedTo": null,
        "summary": i.summary,
        "items": items,
        "customFields": [],
        "active": i.active,
        "discountTotal": "0.00",
        "importId": null,
        "exportId": null,
        "materialSkuId": null,
        "membershipId": null,
        "paidOn": ts_opt(i.paid_on),
        "invoiceConfiguration": "JobInvoice",
    })
}

pub fn payment_json(t: &Tenant, p: &Payment) -> Value {
    let applied_total: i64 = p.applied.iter().map(|a| a.1).sum();
    let applied: Vec<Value> = p
        .applied
        .iter()
        .map(|(inv, amount, applied_id)| {
            json!({
                "appliedAmount": money(*amount),
                "appliedBy": "API Integration",
                "appliedId": applied_id,
                "appliedOn": ts(p.date),
                "appliedTo": inv,
                "appliedToReferenceNumber": t.invoices.get(inv).and_then(|i| i.reference_number.clone()),
            })
        })
        .collect();
    json!({
        "active": p.active,
        "appliedTo": applied,
        "authCode": null,
        "batch": null,
        "businessUnit": t.business_units.get(&p.business_unit_id).map(|b| named(b.id, Some(&b.name))),
        "checkNumber": null,
        "createdBy": "API Integration",
        "createdOn": ts(p.created_on),
        "customer": t.customers.get(&p.customer_id).map(|c| named(c.id, Some(&c.name))),
        "customFields": [],
        "date": ts(p.date),
        "deposit": null,
        "generalLedgerAccount": null,
        "id": p.id,
        "memo": p.memo,
        "modifiedOn": ts(p.modified_on),
        "referenceNumber": p.reference_number,
        "refundedPaymentId": null,
        "syncStatus": "Pending",
        "total": money(p.total),
        "type": p.kind,
        "typeId": p.type_id,
        "unappliedAmount": money(p.total - applied_total),
    })
}

/// Records a payment against an invoice: applies up to the open balance, the rest stays unapplied.
pub fn apply_payment(
    t: &mut Tenant,
    invoice_id: i64,
    amount: i64,
    kind: &str,
    memo: Option<String>,
    now: Timestamp,
) -> ApiResult<i64> {
    let inv = t
        .invoices
        .get(&invoice_id)
        .ok_or_else(|| ApiError::not_found("Invoice", invoice_id))?;
    if amount <= 0 {
        return Err(ApiError::field("Amount", "The payment amount must be positive."));
    }
    let applied = amount.min(inv.balance.max(0));
    let (customer_id, business_unit_id) = (inv.customer_id, inv.business_unit_id);
    let id = t.next_id();
    let applied_id = t.next_id();
    let type_id = match kind {
        "Cash" => "1",
        "Check" => "2",
        "ACH" => "4",
        _ => "3",
    };
    t.payments.insert(
        id,
        Payment {
            id,
            customer_id,
            business_unit_id,
            kind: kind.to_string(),
            type_id: type_id.into(),
            reference_number: format!("PMT-{id}"),
            memo,
            date: now,
            total: amount,
            applied: if applied > 0 {
                vec![(invoice_id, applied, applied_id)]
            } else {
                Vec::new()
            },
            active: true,
            created_on: now,
            modified_on: now,
        },
    );
    if let Some(inv) = t.invoices.get_mut(&invoice_id) {
        inv.balance -= applied;
        if inv.balance == 0 && inv.total > 0 {
            inv.paid_on = Some(now);
        }
        inv.modified_on = now;
    }
    Ok(id)
}

fn active_state(q: &Q) -> ApiResult<&'static str> {
    Ok(q.enumerated("activeState", &ACTIVE_STATES)?.unwrap_or("ActiveOnly"))
}

fn active_ok(state: &str, active: bool) -> bool {
    match state {
        "ActiveOnly" => active,
        "InactiveOnly" => !active,
        _ => true,
    }
}

pub async fn list_invoices(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let state = active_state(&q)?;
    let customer_id = q.i64("customerId")?;
    let job_id = q.i64("jobId")?;
    let job_number = q.str("jobNumber").map(str::to_string);
    let business_unit_id = q.i64("businessUnitId")?;
    let number = q.str("number").map(str::to_string);
    let due_before = q.time("dueDateBefore")?;
    let due_from = q.time("dueDateOnOrAfter")?;
    let invoiced_from = q.time("invoicedOnOrAfter")?;
    let invoiced_before = q.time("invoicedOnBefore")?;
    let total_greater = q.f64("totalGreater")?.map(|f| (f * 100.0).round() as i64);
    let total_less = q.f64("totalLess")?.map(|f| (f * 100.0).round() as i64);
    let balance = q.f64("balanceFilter.Balance")?.map(|f| (f * 100.0).round() as i64);
    let comparer = q.enumerated("balanceFilter.Comparer", &BALANCE_COMPARERS)?;
    if comparer.is_some() && balance.is_none() {
        return Err(ApiError::field(
            "balanceFilter.Balance",
            "The Balance field is required when Comparer is set.",
        ));
    }
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.invoices.values(),
            ListOpts { active: false },
            |i| {
                active_ok(state, i.active)
                    && customer_id.is_none_or(|x| i.customer_id == x)
                    && job_id.is_none_or(|x| i.job_id == Some(x))
                    && job_number
                        .as_deref()
                        .is_none_or(|n| i.job_id.and_then(|j| t.jobs.get(&j)).is_some_and(|j| j.job_number == n))
                    && business_unit_id.is_none_or(|x| i.business_unit_id == x)
                    && number
                        .as_deref()
                        .is_none_or(|n| i.reference_number.as_deref() == Some(n))
                    && due_before.is_none_or(|x| i.due_date < x)
                    && due_from.is_none_or(|x| i.due_date >= x)
                    && invoiced_from.is_none_or(|x| i.invoice_date >= x)
                    && invoiced_before.is_none_or(|x| i.invoice_date < x)
                    && total_greater.is_none_or(|x| i.total >= x)
                    && total_less.is_none_or(|x| i.total <= x)
                    && balance.is_none_or(|b| match comparer.unwrap_or("Equals") {
                        "Equals" => i.balance == b,
                        "NotEquals" => i.balance != b,
                        "Greater" => i.balance > b,
                        _ => i.balance < b,
                    })
            },
            |i| invoice_json(t, i),
        )
    })
}

pub async fn list_payments(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let state = active_state(&q)?;
    let invoice_ids = q.ids("appliedToInvoiceIds")?;
    let customer_id = q.i64("customerId")?;
    let paid_after = q.time("paidOnAfter")?;
    let paid_before = q.time("paidOnBefore")?;
    let total_greater = q.f64("totalGreater")?.map(|f| (f * 100.0).round() as i64);
    let total_less = q.f64("totalLess")?.map(|f| (f * 100.0).round() as i64);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.payments.values(),
            ListOpts { active: false },
            |x| {
                active_ok(state, x.active)
                    && invoice_ids
                        .as_ref()
                        .is_none_or(|ids| x.applied.iter().any(|a| ids.contains(&a.0)))
                    && customer_id.is_none_or(|c| x.customer_id == c)
                    && paid_after.is_none_or(|d| x.date >= d)
                    && paid_before.is_none_or(|d| x.date < d)
                    && total_greater.is_none_or(|v| x.total >= v)
                    && total_less.is_none_or(|v| x.total <= v)
            },
            |x| payment_json(t, x),
        )
    })
}

pub async fn export_invoices(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| export(&q, t.invoices.values(), |i| invoice_json(t, i)))
}

pub async fn export_payments(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| export(&q, t.payments.values(), |x| payment_json(t, x)))
}
