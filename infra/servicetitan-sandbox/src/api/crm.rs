//! crm-v2: customers, locations, their contacts and notes, the customer/location export feeds, bookings and leads.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::model::{Address, Booking, Contact, Customer, ExtData, Lead, Location, Note, Tenant};
use crate::util::{
    ApiError, ApiResult, Check, ListOpts, P, Q, body_value, contains_ci, export, list, list_plain, ok, parse_time,
    phone_matches, ts, ts_opt, typed,
};

pub const CONTACT_TYPES: [&str; 4] = ["Phone", "Email", "Fax", "MobilePhone"];
pub const CUSTOMER_TYPES: [&str; 2] = ["Residential", "Commercial"];
pub const PRIORITIES: [&str; 4] = ["Low", "Normal", "High", "Urgent"];

// ----------------------------------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewContactReq {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<String>,
    pub memo: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValue {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtDataReq {
    pub application_guid: Option<String>,
    pub external_data: Option<Vec<KeyValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomFieldReq {
    pub type_id: Option<i64>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLocationReq {
    pub customer_id: Option<i64>,
    pub name: Option<String>,
    pub address: Option<Address>,
    pub contacts: Option<Vec<NewContactReq>>,
    pub custom_fields: Option<Vec<CustomFieldReq>>,
    pub tag_type_ids: Option<Vec<i64>>,
    pub external_data: Option<ExtDataReq>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomerReq {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub do_not_mail: Option<bool>,
    pub do_not_service: Option<bool>,
    pub national_account: Option<bool>,
    pub locations: Option<Vec<NewLocationReq>>,
    pub address: Option<Address>,
    pub contacts: Option<Vec<NewContactReq>>,
    pub custom_fields: Option<Vec<CustomFieldReq>>,
    pub tag_type_ids: Option<Vec<i64>>,
    pub external_data: Option<ExtDataReq>,
    pub tax_exempt: Option<bool>,
    pub payment_term_id: Option<i64>,
    pub credit_limit: Option<f64>,
    pub credit_limit_balance: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteReq {
    pub text: Option<String>,
    pub pin_to_top: Option<bool>,
    pub add_to_locations: Option<bool>,
}

fn check_address(c: &mut Check, parent: &Value, prefix: &str) {
    if c.require(parent, prefix, "address") {
        let a = &parent["address"];
        let p = format!("{prefix}Address.");
        for f in ["street", "city", "state", "zip", "country"] {
            c.require(a, &p, f);
        }
    }
}

fn check_contacts(c: &mut Check, parent: &Value, prefix: &str) {
    if let Some(list) = parent.get("contacts").and_then(Value::as_array) {
        for (i, ct) in list.iter().enumerate() {
            let p = format!("{prefix}Contacts[{i}].");
            if c.require(ct, &p, "type") {
                let ok = ct["type"]
                    .as_str()
                    .is_some_and(|s| CONTACT_TYPES.iter().any(|t| t.eq_ignore_ascii_case(s)));
                if !ok {
                    c.add(
                        format!("{p}Type"),
                        format!("The value is not valid. Values: [{}]", CONTACT_TYPES.join(", ")),
                    );
                }
            }
            c.require(ct, &p, "value");
        }
    }
}

fn check_extras(c: &mut Check, parent: &Value, prefix: &str) {
    if let Some(ed) = parent.get("externalData").filter(|v| !v.is_null()) {
        let p = format!("{prefix}ExternalData.");
        c.require(ed, &p, "applicationGuid");
        if c.require(ed, &p, "externalData")
            && let Some(items) = ed["externalData"].as_array()
        {
            for (i, kv) in items.iter().enumerate() {
                c.require(kv, &format!("{p}ExternalData[{i}]."), "key");
                c.require(kv, &format!("{p}ExternalData[{i}]."), "value");
            }
        }
    }
    if let Some(list) = parent.get("customFields").and_then(Value::as_array) {
        for (i, cf) in list.iter().enumerate() {
            c.require(cf, &format!("{prefix}CustomFields[{i}]."), "typeId");
            c.require(cf, &format!("{prefix}CustomFields[{i}]."), "value");
        }
    }
}

fn check_location(c: &mut Check, loc: &Value, prefix: &str) {
    c.require(loc, prefix, "name");
    check_address(c, loc, prefix);
    check_contacts(c, loc, prefix);
    check_extras(c, loc, prefix);
}

fn canonical_contact_type(s: &str) -> String {
    CONTACT_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(s))
        .copied()
        .unwrap_or("Phone")
        .to_string()
}

fn new_contacts(t: &mut Tenant, reqs: Option<Vec<NewContactReq>>, now: Timestamp) -> Vec<Contact> {
    reqs.unwrap_or_default()
        .into_iter()
        .map(|r| Contact {
            id: t.next_id(),
            kind: canonical_contact_type(r.kind.as_deref().unwrap_or("Phone")),
            value: r.value.unwrap_or_default(),
            memo: r.memo,
            do_not_text: false,
            created_on: now,
            modified_on: now,
        })
        .collect()
}

pub(crate) fn ext_data(r: Option<ExtDataReq>) -> Vec<ExtData> {
    let Some(r) = r else { return Vec::new() };
    let guid = r.application_guid.unwrap_or_default();
    r.external_data
        .unwrap_or_default()
        .into_iter()
        .map(|kv| ExtData {
            application_guid: guid.clone(),
            key: kv.key.unwrap_or_default(),
            value: kv.value.unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn custom_fields(r: Option<Vec<CustomFieldReq>>) -> Vec<(i64, String)> {
    r.unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_id.unwrap_or_default(), c.value.unwrap_or_default()))
        .collect()
}

// ----------------------------------------------------------------------------------------------------------------
// Rendering

/// `externalData` of a response: only the entries of the application GUID given in the request, none without one
/// (the spec: "external data ... which corresponds to the application GUID provided in the request").
pub(crate) fn ext_json(data: &[ExtData], guid: Option<&str>) -> Value {
    let v: Vec<Value> = data
        .iter()
        .filter(|e| guid.is_some_and(|g| e.application_guid.eq_ignore_ascii_case(g)))
        .map(|e| json!({ "key": e.key, "value": e.value }))
        .collect();
    json!(v)
}

/// The GUID a record's externalData was created under: a create answers with the data it was given.
pub(crate) fn own_guid(data: &[ExtData]) -> Option<&str> {
    data.first().map(|e| e.application_guid.as_str())
}

fn custom_fields_json(cf: &[(i64, String)]) -> Value {
    json!(
        cf.iter()
            .map(|(id, v)| json!({ "typeId": id, "name": null, "value": v }))
            .collect::<Vec<_>>()
    )
}

pub fn contact_json(c: &Contact) -> Value {
    json!({ "id": c.id, "type": c.kind, "value": c.value, "memo": c.memo })
}

fn contact_with_modified_json(c: &Contact) -> Value {
    let is_phone = c.kind != "Email";
    json!({
        "id": c.id,
        "type": c.kind,
        "value": c.value,
        "memo": c.memo,
        "modifiedOn": ts(c.modified_on),
        "phoneSettings": { "phoneNumber": if is_phone { c.value.as_str() } else { "" }, "doNotText": is_phone && c.do_not_text },
        "createdOn": ts(c.created_on),
        "preferences": {
            "jobRemindersEnabled": true,
            "marketingUpdatesEnabled": false,
            "invoiceStatementNotification": true,
            "invoiceNotification": true,
            "statementNotification": false,
        },
    })
}

pub fn customer_json(t: &Tenant, c: &Customer, guid: Option<&str>) -> Value {
    json!({
        "id": c.id,
        "active": c.active,
        "name": c.name,
        "type": c.kind,
        "address": c.address,
        "customFields": custom_fields_json(&c.custom_fields),
        "balance": crate::util::money_num(t.customer_balance(c.id)),
        "taxExempt": c.tax_exempt,
        "tagTypeIds": c.tag_type_ids,
        "doNotMail": c.do_not_mail,
        "doNotService": c.do_not_service,
        "nationalAccount": c.national_account,
        "createdOn": ts(c.created_on),
        "createdById": c.created_by_id,
        "modifiedOn": ts(c.modified_on),
        "mergedToId": null,
        "paymentTermId": c.payment_term_id,
        "creditLimit": c.credit_limit,
        "creditLimitBalance": c.credit_limit_balance,
        "externalData": ext_json(&c.external_data, guid),
    })
}

pub fn location_json(l: &Location, guid: Option<&str>) -> Value {
    json!({
        "id": l.id,
        "customerId": l.customer_id,
        "active": l.active,
        "name": l.name,
        "address": l.address,
        "customFields": custom_fields_json(&l.custom_fields),
        "createdOn": ts(l.created_on),
        "createdById": l.created_by_id,
        "modifiedOn": ts(l.modified_on),
        "mergedToId": null,
        "zoneId": null,
        "taxExempt": l.tax_exempt,
        "tagTypeIds": l.tag_type_ids,
        "externalData": ext_json(&l.external_data, guid),
        "taxZoneId": null,
    })
}

fn created_location_json(l: &Location) -> Value {
    let mut v = location_json(l, own_guid(&l.external_data));
    v["contacts"] = json!(l.contacts.iter().map(contact_json).collect::<Vec<_>>());
    v
}

pub fn note_json(n: &Note) -> Value {
    json!({
        "id": n.id,
        "text": n.text,
        "isPinned": n.is_pinned,
        "createdById": n.created_by_id,
        "createdOn": ts(n.created_on),
        "modifiedOn": ts(n.modified_on),
    })
}

// ----------------------------------------------------------------------------------------------------------------
// Record creation (shared with the seed)

pub fn insert_location(t: &mut Tenant, customer_id: i64, r: NewLocationReq, now: Timestamp) -> i64 {
    let id = t.next_id();
    let contacts = new_contacts(t, r.contacts, now);
    let loc = Location {
        id,
        customer_id,
        name: r.name.unwrap_or_default(),
        address: r.address.unwrap_or_default(),
        active: true,
        contacts,
        tag_type_ids: r.tag_type_ids.unwrap_or_default(),
        custom_fields: custom_fields(r.custom_fields),
        external_data: ext_data(r.external_data),
        tax_exempt: false,
        notes: Vec::new(),
        created_by_id: t.api_user_id,
        created_on: now,
        modified_on: now,
    };
    t.locations.insert(id, loc);
    id
}

/// Inserts a customer with its locations; returns (customer id, location ids).
pub fn insert_customer(t: &mut Tenant, r: CreateCustomerReq, now: Timestamp) -> (i64, Vec<i64>) {
    let id = t.next_id();
    let contacts = new_contacts(t, r.contacts, now);
    let kind = r
        .kind
        .as_deref()
        .and_then(|k| CUSTOMER_TYPES.iter().find(|t| t.eq_ignore_ascii_case(k)))
        .copied()
        .unwrap_or("Residential");
    let customer = Customer {
        id,
        name: r.name.unwrap_or_default(),
        kind: kind.to_string(),
        address: r.address.unwrap_or_default(),
        active: true,
        contacts,
        do_not_mail: r.do_not_mail.unwrap_or(false),
        do_not_service: r.do_not_service.unwrap_or(false),
        national_account: r.national_account.unwrap_or(false),
        tax_exempt: r.tax_exempt.unwrap_or(false),
        tag_type_ids: r.tag_type_ids.unwrap_or_default(),
        custom_fields: custom_fields(r.custom_fields),
        external_data: ext_data(r.external_data),
        payment_term_id: r.payment_term_id,
        credit_limit: r.credit_limit,
        credit_limit_balance: r.credit_limit_balance,
        notes: Vec::new(),
        created_by_id: t.api_user_id,
        created_on: now,
        modified_on: now,
    };
    t.customers.insert(id, customer);
    let locs = r
        .locations
        .unwrap_or_default()
        .into_iter()
        .map(|l| insert_location(t, id, l, now))
        .collect();
    (id, locs)
}

fn created_customer_json(t: &Tenant, id: i64, locs: &[i64]) -> Value {
    let c = &t.customers[&id];
    let mut v = customer_json(t, c, own_guid(&c.external_data));
    v["locations"] = json!(
        locs.iter()
            .filter_map(|l| t.locations.get(l))
            .map(created_location_json)
            .collect::<Vec<_>>()
    );
    v["contacts"] = json!(c.contacts.iter().map(contact_json).collect::<Vec<_>>());
    v
}

// ----------------------------------------------------------------------------------------------------------------
// Handlers: customers

pub async fn create_customer(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["name", "locations", "address"])?;
    let mut c = Check::default();
    check_address(&mut c, &v, "");
    check_contacts(&mut c, &v, "");
    check_extras(&mut c, &v, "");
    match v["locations"].as_array() {
        Some(locs) if !locs.is_empty() => {
            for (i, l) in locs.iter().enumerate() {
                check_location(&mut c, l, &format!("Locations[{i}]."));
            }
        }
        _ => c.add("Locations", "At least one location is required."),
    }
    if let Some(k) = v.get("type").and_then(Value::as_str)
        && !CUSTOMER_TYPES.iter().any(|t| t.eq_ignore_ascii_case(k))
    {
        c.add(
            "Type",
            format!("The value '{k}' is not valid. Values: [Residential, Commercial]"),
        );
    }
    c.finish()?;
    let req: CreateCustomerReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        let (id, locs) = insert_customer(t, req, now);
        ok(created_customer_json(t, id, &locs))
    })
}

pub async fn get_customer(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let guid = q.str("externalDataApplicationGuid").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        let c = t
            .customers
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Customer", p.id))?;
        ok(customer_json(t, c, guid.as_deref()))
    })
}

/// `externalDataApplicationGuid` (optional) + `externalDataKey` + `externalDataValues`.
pub(crate) struct ExtFilter {
    guid: Option<String>,
    key: String,
    values: Vec<String>,
}

/// externalDataKey + externalDataValues must come together; values ≤ 50.
pub(crate) fn ext_filter(q: &Q) -> ApiResult<Option<ExtFilter>> {
    let guid = q.str("externalDataApplicationGuid").map(str::to_string);
    match (q.str("externalDataKey"), q.str("externalDataValues")) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::field(
            "externalDataValues",
            "'externalDataValues' must also be provided with 'externalDataKey'.",
        )),
        (None, Some(_)) => Err(ApiError::field(
            "externalDataKey",
            "'externalDataKey' must also be provided with 'externalDataValues'.",
        )),
        (Some(k), Some(vals)) => {
            let vals: Vec<String> = vals
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if vals.len() > 50 {
                return Err(ApiError::field(
                    "externalDataValues",
                    "The maximum number of values is 50.",
                ));
            }
            Ok(Some(ExtFilter {
                guid,
                key: k.to_string(),
                values: vals,
            }))
        }
    }
}

pub(crate) fn ext_matches(data: &[ExtData], f: &ExtFilter) -> bool {
    data.iter().any(|e| {
        f.guid
            .as_deref()
            .is_none_or(|g| e.application_guid.eq_ignore_ascii_case(g))
            && e.key == f.key
            && f.values.contains(&e.value)
    })
}

fn address_filters(q: &Q) -> Vec<(&'static str, String)> {
    ["street", "unit", "city", "state", "zip", "country"]
        .into_iter()
        .filter_map(|k| q.str(k).map(|v| (k, v.to_string())))
        .collect()
}

fn address_matches(a: &Address, filters: &[(&'static str, String)]) -> bool {
    filters.iter().all(|(k, v)| {
        let field = match *k {
            "street" => a.street.as_str(),
            "unit" => a.unit.as_deref().unwrap_or(""),
            "city" => a.city.as_str(),
            "state" => a.state.as_str(),
            "zip" => a.zip.as_str(),
            _ => a.country.as_str(),
        };
        contains_ci(field, v)
    })
}

fn is_phone_contact(c: &Contact) -> bool {
    c.kind != "Email"
}

pub async fn list_customers(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let name = q.str("name").map(str::to_string);
    let phone = q.str("phone").map(str::to_string);
    let addr = address_filters(&q);
    let ext = ext_filter(&q)?;
    let guid = q.str("externalDataApplicationGuid").map(str::to_string);
    let _ = q.bool("excludeAccountingChangesFromModifiedDateRange")?;
    st.tenant(p.tenant, |t, _| {
        // Customers whose own contacts or whose locations' contacts match the phone number.
        let phone_hits: Option<HashSet<i64>> = phone.as_deref().map(|ph| {
            let mut hits: HashSet<i64> = t
                .customers
                .values()
                .filter(|c| {
                    c.contacts
                        .iter()
                        .any(|x| is_phone_contact(x) && phone_matches(ph, &x.value))
                })
                .map(|c| c.id)
                .collect();
            hits.extend(
                t.locations
                    .values()
                    .filter(|l| {
                        l.contacts
                            .iter()
                            .any(|x| is_phone_contact(x) && phone_matches(ph, &x.value))
                    })
                    .map(|l| l.customer_id),
            );
            hits
        });
        list(
            &q,
            t.customers.values(),
            ListOpts { active: true },
            |c| {
                name.as_deref().is_none_or(|n| contains_ci(&c.name, n))
                    && phone_hits.as_ref().is_none_or(|h| h.contains(&c.id))
                    && address_matches(&c.address, &addr)
                    && ext.as_ref().is_none_or(|f| ext_matches(&c.external_data, f))
            },
            |c| customer_json(t, c, guid.as_deref()),
        )
    })
}

pub async fn list_customer_contacts(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let c = t
            .customers
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Customer", p.id))?;
        list_plain(&q, &c.contacts, contact_with_modified_json)
    })
}

/// `POST /customers/{id}/contacts` (`Crm.V2.Customers.CreateCustomerContactRequest`).
pub async fn create_customer_contact(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["type", "value"])?;
    let mut c = Check::default();
    check_contacts(&mut c, &json!({ "contacts": [v.clone()] }), "");
    // Errors come back keyed by the top-level field, not `Contacts[0].`.
    let errors = c.finish().err().map(|mut e| {
        e.errors = e
            .errors
            .into_iter()
            .map(|(k, msgs)| (k.trim_start_matches("Contacts[0].").to_string(), msgs))
            .collect();
        e
    });
    if let Some(e) = errors {
        return Err(e);
    }
    let req: NewContactReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        if !t.customers.contains_key(&p.id) {
            return Err(ApiError::not_found("Customer", p.id));
        }
        let contact = new_contacts(t, Some(vec![req]), now).remove(0);
        let out = contact_with_modified_json(&contact);
        if let Some(c) = t.customers.get_mut(&p.id) {
            c.contacts.push(contact);
        }
        ok(out)
    })
}

fn new_note(t: &mut Tenant, r: &NoteReq, now: Timestamp) -> Note {
    Note {
        id: t.next_id(),
        text: r.text.clone().unwrap_or_default(),
        is_pinned: r.pin_to_top.unwrap_or(false),
        created_by_id: t.api_user_id,
        created_on: now,
        modified_on: now,
    }
}

pub async fn create_customer_note(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["text"])?;
    let req: NoteReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        if !t.customers.contains_key(&p.id) {
            return Err(ApiError::not_found("Customer", p.id));
        }
        let note = new_note(t, &req, now);
        if req.add_to_locations.unwrap_or(false) {
            let loc_ids: Vec<i64> = t
                .locations
                .values()
                .filter(|l| l.customer_id == p.id)
                .map(|l| l.id)
                .collect();
            for l in loc_ids {
                let n = Note {
                    id: t.next_id(),
                    ..note.clone()
                };
                if let Some(loc) = t.locations.get_mut(&l) {
                    loc.notes.push(n);
                }
            }
        }
        let out = note_json(&note);
        if let Some(c) = t.customers.get_mut(&p.id) {
            c.notes.push(note);
        }
        ok(out)
    })
}

pub async fn list_customer_notes(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let c = t
            .customers
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Customer", p.id))?;
        list_plain(&q, &c.notes, note_json)
    })
}

pub async fn export_customers(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        export(&q, t.customers.values(), |c| customer_json(t, c, None))
    })
}

// ----------------------------------------------------------------------------------------------------------------
// Handlers: locations

pub async fn create_location(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["customerId", "name", "address"])?;
    let mut c = Check::default();
    check_location(&mut c, &v, "");
    c.finish()?;
    let req: NewLocationReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        let customer_id = req.customer_id.unwrap_or_default();
        if !t.customers.contains_key(&customer_id) {
            let mut e = ApiError::conflict("Unknown customer");
            e.errors.insert(
                "CustomerId".into(),
                vec![format!("Customer with ID={customer_id} does not exist.")],
            );
            return Err(e);
        }
        let id = insert_location(t, customer_id, req, now);
        ok(created_location_json(&t.locations[&id]))
    })
}

pub async fn get_location(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let l = t
            .locations
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Location", p.id))?;
        ok(location_json(l, None))
    })
}

pub async fn list_locations(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let name = q.str("name").map(str::to_string);
    let customer_id = q.i64("customerId")?;
    let addr = address_filters(&q);
    let ext = ext_filter(&q)?;
    let guid = q.str("externalDataApplicationGuid").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.locations.values(),
            ListOpts { active: true },
            |l| {
                name.as_deref().is_none_or(|n| contains_ci(&l.name, n))
                    && customer_id.is_none_or(|c| l.customer_id == c)
                    && address_matches(&l.address, &addr)
                    && ext.as_ref().is_none_or(|f| ext_matches(&l.external_data, f))
            },
            |l| location_json(l, guid.as_deref()),
        )
    })
}

pub async fn create_location_note(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["text"])?;
    let req: NoteReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        if !t.locations.contains_key(&p.id) {
            return Err(ApiError::not_found("Location", p.id));
        }
        let note = new_note(t, &req, now);
        let out = note_json(&note);
        if let Some(l) = t.locations.get_mut(&p.id) {
            l.notes.push(note);
        }
        ok(out)
    })
}

pub async fn list_location_notes(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let l = t
            .locations
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Location", p.id))?;
        list_plain(&q, &l.notes, note_json)
    })
}

pub async fn export_locations(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        export(&q, t.locations.values(), |l| location_json(l, None))
    })
}

// ----------------------------------------------------------------------------------------------------------------
// Handlers: bookings (booking-provider API; the provider id is any int64 tag, bookings are kept per tenant)

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBookingReq {
    pub source: Option<String>,
    pub name: Option<String>,
    pub address: Option<Address>,
    pub customer_type: Option<String>,
    pub summary: Option<String>,
    pub campaign_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub priority: Option<String>,
    pub is_first_time_client: Option<bool>,
    pub uploaded_images: Option<Vec<String>>,
    pub is_send_confirmation_email: Option<bool>,
    pub external_id: Option<String>,
}

/// `Crm.V2.AddressModel` (no coordinates).
fn address_model_json(a: &Address) -> Value {
    json!({ "street": a.street, "unit": a.unit, "city": a.city, "state": a.state, "zip": a.zip, "country": a.country })
}

pub fn booking_json(b: &Booking) -> Value {
    json!({
        "id": b.id,
        "source": b.source,
        "createdOn": ts(b.created_on),
        "name": b.name,
        "address": b.address.as_ref().map(address_model_json),
        "customerType": b.customer_type,
        "start": ts(b.start),
        "campaignId": b.campaign_id,
        "businessUnitId": b.business_unit_id,
        "isFirstTimeClient": b.is_first_time_client,
        "uploadedImages": b.uploaded_images,
        "isSendConfirmationEmail": b.is_send_confirmation_email,
        "status": b.status,
        "dismissingReasonId": null,
        "jobId": null,
        "externalId": b.external_id,
        "priority": b.priority,
        "jobTypeId": b.job_type_id,
        "bookingProviderId": b.provider_id,
        "modifiedOn": ts(b.modified_on),
        "summary": b.summary,
    })
}

fn canonical(values: &[&'static str], s: &str) -> Option<&'static str> {
    values.iter().copied().find(|v| v.eq_ignore_ascii_case(s.trim()))
}

pub async fn create_booking(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["source", "name", "summary", "isFirstTimeClient", "externalId"])?;
    let mut c = Check::default();
    if v.get("address").is_some_and(|a| !a.is_null()) {
        check_address(&mut c, &v, "");
    }
    check_contacts(&mut c, &v, "");
    for (field, key, values) in [
        ("priority", "Priority", &PRIORITIES[..]),
        ("customerType", "CustomerType", &CUSTOMER_TYPES[..]),
    ] {
        if let Some(x) = v.get(field).and_then(Value::as_str)
            && canonical(values, x).is_none()
        {
            c.add(
                key,
                format!("The value '{x}' is not valid. Values: [{}]", values.join(", ")),
            );
        }
    }
    let start = match v.get("start").and_then(Value::as_str) {
        None => None,
        Some(s) => match parse_time(s) {
            Some(t) => Some(t),
            None => {
                c.add("Start", format!("The value '{s}' is not a valid date-time."));
                None
            }
        },
    };
    c.finish()?;
    let req: CreateBookingReq = typed(&v)?;
    st.tenant(p.tenant, |t, now| {
        let id = t.next_id();
        let booking = Booking {
            id,
            provider_id: p.provider,
            source: req.source.unwrap_or_default(),
            name: req.name.unwrap_or_default(),
            address: req.address,
            customer_type: req
                .customer_type
                .as_deref()
                .and_then(|k| canonical(&CUSTOMER_TYPES, k))
                .map(str::to_string),
            start: start.unwrap_or(now),
            summary: req.summary.unwrap_or_default(),
            campaign_id: req.campaign_id,
            business_unit_id: req.business_unit_id,
            job_type_id: req.job_type_id,
            priority: req
                .priority
                .as_deref()
                .and_then(|k| canonical(&PRIORITIES, k))
                .map(str::to_string),
            is_first_time_client: req.is_first_time_client.unwrap_or(false),
            uploaded_images: req.uploaded_images.unwrap_or_default(),
            is_send_confirmation_email: req.is_send_confirmation_email,
            external_id: req.external_id.unwrap_or_default(),
            status: "New".into(),
            active: true,
            created_on: now,
            modified_on: now,
        };
        let out = booking_json(&booking);
        t.bookings.insert(id, booking);
        ok(out)
    })
}

pub async fn get_booking(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let b = t
            .bookings
            .get(&p.id)
            .filter(|b| b.provider_id == p.provider)
            .ok_or_else(|| ApiError::not_found("Booking", p.id))?;
        ok(booking_json(b))
    })
}

pub async fn list_bookings(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let external_id = q.str("externalId").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.bookings.values(),
            ListOpts { active: false },
            |b| b.provider_id == p.provider && external_id.as_deref().is_none_or(|e| b.external_id == e),
            booking_json,
        )
    })
}

// ----------------------------------------------------------------------------------------------------------------
// Handlers: leads

pub const LEAD_STATUSES: [&str; 3] = ["Open", "Dismissed", "Converted"];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLeadReq {
    pub customer_id: Option<i64>,
    pub location_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub summary: Option<String>,
    pub tag_type_ids: Option<Vec<i64>>,
    pub priority: Option<String>,
    pub call_reason_id: Option<i64>,
    pub follow_up_date: Option<String>,
    pub booking_id: Option<i64>,
    pub lead_customer_name: Option<String>,
    pub lead_phone: Option<String>,
    pub lead_email: Option<String>,
    pub lead_street: Option<String>,
    pub lead_unit: Option<String>,
    pub lead_city: Option<String>,
    pub lead_state: Option<String>,
    pub lead_zip: Option<String>,
    pub lead_country: Option<String>,
}

/// `Crm.V2.LeadResponse`.
pub fn lead_json(l: &Lead) -> Value {
    json!({
        "id": l.id,
        "status": l.status,
        "priority": l.priority,
        "customerId": l.customer_id,
        "locationId": l.location_id,
        "businessUnitId": l.business_unit_id,
        "jobTypeId": l.job_type_id,
        "campaignId": l.campaign_id,
        "followUpDate": ts_opt(l.follow_up_date),
        "createdById": l.created_by_id,
        "createdOn": ts(l.created_on),
        "modifiedOn": ts(l.modified_on),
        "tagTypeIds": l.tag_type_ids,
        "dismissingReasonId": null,
        "summary": l.summary,
        "callReasonId": l.call_reason_id,
        "callId": null,
        "bookingId": l.booking_id,
        "manualCallId": null,
        "leadUrl": null,
        "leadCustomerName": l.customer_name,
        "leadPhone": l.phone,
        "leadEmail": l.email,
        "leadStreet": l.street,
        "leadUnit": l.unit,
        "leadCity": l.city,
        "leadState": l.state,
        "leadZip": l.zip,
        "leadCountry": l.country,
        "captureSource": null,
    })
}

/// Referential checks of a lead, keyed by field like a job's. Returns the customer, which a location alone implies.
fn check_lead_refs(t: &Tenant, r: &CreateLeadReq) -> ApiResult<Option<i64>> {
    let mut c = Check::default();
    let campaign_id = r.campaign_id.unwrap_or_default();
    if !t.campaigns.contains_key(&campaign_id) {
        c.add("CampaignId", format!("Campaign with ID={campaign_id} was not found."));
    }
    if let Some(id) = r.customer_id
        && !t.customers.contains_key(&id)
    {
        c.add("CustomerId", format!("Customer with ID={id} was not found."));
    }
    let mut customer_id = r.customer_id;
    if let Some(id) = r.location_id {
        match t.locations.get(&id) {
            None => c.add("LocationId", format!("Location with ID={id} was not found.")),
            Some(l) if r.customer_id.is_some_and(|cid| cid != l.customer_id) => c.add(
                "LocationId",
                format!(
                    "Location {id} does not belong to customer {}.",
                    r.customer_id.unwrap_or_default()
                ),
            ),
            Some(l) => customer_id = Some(l.customer_id),
        }
    }
    if let Some(id) = r.business_unit_id
        && !t.business_units.contains_key(&id)
    {
        c.add("BusinessUnitId", format!("Business unit with ID={id} was not found."));
    }
    if let Some(id) = r.job_type_id
        && !t.job_types.contains_key(&id)
    {
        c.add("JobTypeId", format!("Job type with ID={id} was not found."));
    }
    if let Some(id) = r.booking_id {
        match t.bookings.get(&id) {
            None => c.add("BookingId", format!("Booking with ID={id} was not found.")),
            Some(b) if b.status == "Dismissed" || b.status == "Converted" => c.add(
                "BookingId",
                format!("Booking {id} is {}; only an open booking can become a lead.", b.status),
            ),
            Some(_) => {}
        }
    }
    c.finish()?;
    Ok(customer_id)
}

/// `POST /leads` (`Crm.V2.LeadCreateRequest`): an Open lead. A `bookingId` booking is dismissed, as the spec says.
pub async fn create_lead(State(st): State<AppState>, p: P, body: Bytes) -> ApiResult {
    let v = body_value(&body, &["campaignId", "summary"])?;
    let req: CreateLeadReq = typed(&v)?;
    let mut c = Check::default();
    if req.summary.as_deref().is_some_and(|s| s.trim().is_empty()) {
        c.add("Summary", "The Summary field is required.");
    }
    let priority = req
        .priority
        .as_deref()
        .map_or(Some("Normal"), |x| canonical(&PRIORITIES, x));
    if let (None, Some(x)) = (priority, req.priority.as_deref()) {
        c.add(
            "Priority",
            format!("The value '{x}' is not valid. Values: [{}]", PRIORITIES.join(", ")),
        );
    }
    let follow_up = match req.follow_up_date.as_deref() {
        None => None,
        Some(s) => {
            let t = parse_time(s);
            if t.is_none() {
                c.add("FollowUpDate", format!("The value '{s}' is not a valid date-time."));
            }
            t
        }
    };
    if req.follow_up_date.is_none() && req.call_reason_id.is_none() {
        c.add("FollowUpDate", "Either FollowUpDate or CallReasonId is required.");
    }
    c.finish()?;
    st.tenant(p.tenant, |t, now| {
        let customer_id = check_lead_refs(t, &req)?;
        let id = t.next_id();
        if let Some(b) = req.booking_id.and_then(|b| t.bookings.get_mut(&b)) {
            b.status = "Dismissed".into();
            b.modified_on = now;
        }
        let lead = Lead {
            id,
            status: "Open".into(),
            priority: priority.expect("checked").into(),
            customer_id,
            location_id: req.location_id,
            business_unit_id: req.business_unit_id,
            job_type_id: req.job_type_id,
            campaign_id: req.campaign_id.unwrap_or_default(),
            follow_up_date: follow_up,
            summary: req.summary.unwrap_or_default(),
            tag_type_ids: req.tag_type_ids.unwrap_or_default(),
            call_reason_id: req.call_reason_id,
            booking_id: req.booking_id,
            customer_name: req.lead_customer_name,
            phone: req.lead_phone,
            email: req.lead_email,
            street: req.lead_street,
            unit: req.lead_unit,
            city: req.lead_city,
            state: req.lead_state,
            zip: req.lead_zip,
            country: req.lead_country,
            created_by_id: t.api_user_id,
            created_on: now,
            modified_on: now,
        };
        let out = lead_json(&lead);
        t.leads.insert(id, lead);
        ok(out)
    })
}

pub async fn get_lead(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let l = t.leads.get(&p.id).ok_or_else(|| ApiError::not_found("Lead", p.id))?;
        ok(lead_json(l))
    })
}

/// `GET /leads`: the shared filters plus customerId, status, leadPhone (digits, as the customer phone search),
/// leadCustomerName, withoutCustomer, isProspect and the customer's city, state and zip.
pub async fn list_leads(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let customer_id = q.i64("customerId")?;
    let status = q.enumerated("status", &LEAD_STATUSES)?;
    let phone = q.str("leadPhone").map(str::to_string);
    let name = q.str("leadCustomerName").map(str::to_string);
    let without_customer = q.bool("withoutCustomer")?;
    let is_prospect = q.bool("isProspect")?;
    let city = q.str("customerCity").map(str::to_string);
    let state = q.str("customerState").map(str::to_string);
    let zip = q.str("customerZip").map(str::to_string);
    let _ = q.bool("genPermUrl")?;
    st.tenant(p.tenant, |t, _| {
        let address_ok = |l: &Lead| {
            if city.is_none() && state.is_none() && zip.is_none() {
                return true;
            }
            let Some(a) = l.customer_id.and_then(|c| t.customers.get(&c)).map(|c| &c.address) else {
                return false;
            };
            [(&city, &a.city), (&state, &a.state), (&zip, &a.zip)]
                .iter()
                .all(|(want, have)| want.as_deref().is_none_or(|w| contains_ci(have, w)))
        };
        // A prospect: no customer, or a customer without jobs.
        let prospect = |l: &Lead| {
            l.customer_id
                .is_none_or(|c| !t.jobs.values().any(|j| j.customer_id == c))
        };
        list(
            &q,
            t.leads.values(),
            ListOpts { active: false },
            |l| {
                customer_id.is_none_or(|c| l.customer_id == Some(c))
                    && status.is_none_or(|s| l.status == s)
                    && phone
                        .as_deref()
                        .is_none_or(|ph| l.phone.as_deref().is_some_and(|x| phone_matches(ph, x)))
                    && name
                        .as_deref()
                        .is_none_or(|n| l.customer_name.as_deref().is_some_and(|x| contains_ci(x, n)))
                    && without_customer.is_none_or(|w| w == (l.customer_id.is_none() && l.location_id.is_none()))
                    && is_prospect.is_none_or(|want| want == prospect(l))
                    && address_ok(l)
            },
            lead_json,
        )
    })
}
