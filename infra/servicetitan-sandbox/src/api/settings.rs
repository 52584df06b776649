//! settings-v2: business units and technicians.

use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::model::{BusinessUnit, Technician, Tenant};
use crate::util::{ApiError, ApiResult, ListOpts, P, Q, contains_ci, list, ok, ts};

pub fn business_unit_json(t: &Tenant, b: &BusinessUnit) -> Value {
    json!({
        "id": b.id,
        "active": b.active,
        "name": b.name,
        "officialName": b.official_name,
        "email": b.email,
        "currency": "USD",
        "phoneNumber": b.phone,
        "invoiceHeader": b.official_name,
        "invoiceMessage": "Thank you for your business!",
        "defaultTaxRate": 0.0825,
        "authorizationParagraph": "I authorize the work described above.",
        "acknowledgementParagraph": "I acknowledge the work was completed to my satisfaction.",
        "address": {
            "street": b.address.street,
            "unit": b.address.unit,
            "city": b.address.city,
            "state": b.address.state,
            "zip": b.address.zip,
            "country": b.address.country,
            "latitude": b.address.latitude,
            "longitude": b.address.longitude,
            "isManualCoordinates": false,
            "isMilitary": false,
        },
        "materialSku": null,
        "quickbooksClass": b.name,
        "accountCode": null,
        "franchiseId": null,
        "conceptCode": null,
        "corporateContractNumber": null,
        "trade": { "id": b.trade.0, "name": b.trade.1 },
        "division": null,
        "tagTypeIds": [],
        "tenant": {
            "id": t.id,
            "name": t.name,
            "accountCode": null,
            "franchiseId": null,
            "conceptCode": null,
            "modifiedOn": ts(t.created_on),
        },
        "createdOn": ts(b.created_on),
        "modifiedOn": ts(b.modified_on),
        "externalData": null,
        "certifiedSentriconSpecialistCode": null,
    })
}

pub fn technician_json(x: &Technician) -> Value {
    let (first, last) = x.name.split_once(' ').unwrap_or((x.name.as_str(), ""));
    json!({
        "id": x.id,
        "userId": x.user_id,
        "name": x.name,
        "roleIds": [],
        "businessUnitId": x.business_unit_id,
        "mainZoneId": null,
        "zoneIds": [],
        "createdOn": ts(x.created_on),
        "modifiedOn": ts(x.modified_on),
        "email": x.email,
        "phoneNumber": x.phone,
        "loginName": x.login_name,
        "home": null,
        "dailyGoal": 1500.0,
        "isManagedTech": true,
        "licenseType": "ManagedTech",
        "customFields": [],
        "active": x.active,
        "aadUserId": null,
        "burdenRate": 0.0,
        "team": null,
        "jobFilter": "AllScheduledDispatchedWorking",
        "permissions": [],
        "accountLocked": false,
        "commissionRate": 0.0,
        "currentValue": null,
        "firstName": first,
        "lastName": last,
        "hourlyRate": 32.0,
        "jobId": null,
        "mobilePhone": x.phone,
        "outboundCallerId": null,
        "payrollId": null,
        "payrollProfileId": null,
        "appoitmentId": null,
        "shiftStart": null,
        "shiftEnd": null,
        "soldByRate": 0.0,
        "startDate": ts(x.created_on),
        "status": "Idle",
        "skills": [],
        "positions": x.positions,
        "location": null,
        "bio": null,
        "memo": null,
    })
}

pub async fn list_business_units(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let name = q.str("name").map(str::to_string);
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.business_units.values(),
            ListOpts { active: true },
            |b| name.as_deref().is_none_or(|n| contains_ci(&b.name, n)),
            |b| business_unit_json(t, b),
        )
    })
}

pub async fn get_business_unit(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let b = t
            .business_units
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Business unit", p.id))?;
        ok(business_unit_json(t, b))
    })
}

pub async fn list_technicians(State(st): State<AppState>, p: P, q: Q) -> ApiResult {
    let name = q.str("name").map(str::to_string);
    let user_ids = q.ids("userIds")?;
    st.tenant(p.tenant, |t, _| {
        list(
            &q,
            t.technicians.values(),
            ListOpts { active: true },
            |x| {
                name.as_deref().is_none_or(|n| contains_ci(&x.name, n))
                    && user_ids.as_ref().is_none_or(|u| u.contains(&x.user_id))
            },
            technician_json,
        )
    })
}

pub async fn get_technician(State(st): State<AppState>, p: P) -> ApiResult {
    st.tenant(p.tenant, |t, _| {
        let x = t
            .technicians
            .get(&p.id)
            .ok_or_else(|| ApiError::not_found("Technician", p.id))?;
        ok(technician_json(x))
    })
}
