//! Behaviour of the sandbox as a ServiceTitan client sees it: auth, limits, paging, search, workflows, exports,
//! faults and controls.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{Api, catalog, control, customer_and_job, customer_body, job_body, start, token, token_request};
use domain::VirtualClock;
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use servicetitan_sandbox::{DEMO_CLIENT_ID, EXPORT_PAGE_SIZE, TenantCredentials};

#[tokio::test]
async fn token_issue_expiry_and_revocation() {
    let clock = Arc::new(VirtualClock::new());
    let sb = start(true, Some(clock.clone())).await;
    let base = sb.url();
    let creds = sb.demo_tenant().unwrap();

    let r = token_request(&base, &creds.client_id, &creds.client_secret).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["expires_in"], 900);
    assert_eq!(r.json["token_type"], "Bearer");
    assert!(r.json["scope"].as_str().unwrap().contains("tn.crm.customers:r"));
    let tok = r.json["access_token"].as_str().unwrap().to_string();
    assert!(tok.len() > 40);

    let mut api = Api::demo(&sb).await;
    api.token = tok.clone();
    assert_eq!(api.get("settings", "/business-units").await.status, StatusCode::OK);

    // 899 s later the token still works; past 900 s it does not.
    clock.advance(SignedDuration::from_secs(899));
    assert_eq!(api.get("settings", "/business-units").await.status, StatusCode::OK);
    clock.advance(SignedDuration::from_secs(2));
    let expired = api.get("settings", "/business-units").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.json["title"].as_str().unwrap().contains("expired"));

    // A fresh token works until it is revoked.
    api.token = token(&base, &creds).await;
    assert_eq!(api.get("settings", "/business-units").await.status, StatusCode::OK);
    let rv = control(
        &base,
        Method::POST,
        "/tokens/revoke",
        Some(&json!({ "tenantId": creds.tenant_id })),
    )
    .await;
    assert_eq!(rv.json["revoked"].as_u64().unwrap(), 3);
    let revoked = api.get("settings", "/business-units").await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);

    // Token endpoint errors.
    let json_body = common::http()
        .post(format!("{base}/connect/token"))
        .json(&json!({ "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body.json::<Value>().await.unwrap()["error"], "invalid_request");
    let wrong_grant = common::http()
        .post(format!("{base}/connect/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&client_id=cid.demo1001&client_secret=x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_grant.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong_grant.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let bad_secret = token_request(&base, &creds.client_id, "cs1.wrong").await;
    assert_eq!(bad_secret.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_secret.json["error"], "invalid_client");
    let unknown = token_request(&base, "cid.nobody", "x").await;
    assert_eq!(unknown.json["error"], "invalid_client");

    // 3 successful + JSON + wrong grant + bad secret.
    assert_eq!(sb.token_requests(DEMO_CLIENT_ID), 6);
    assert_eq!(sb.token_requests("cid.nobody"), 1);
    let stats = control(&base, Method::GET, "/stats", None).await;
    assert_eq!(stats.json["tokenRequests"][DEMO_CLIENT_ID], 6);
    sb.stop().await;
}

#[tokio::test]
async fn app_key_and_tenant_checks() {
    let sb = start(true, None).await;
    let base = sb.url();
    let api = Api::demo(&sb).await;
    let url = api.url("crm", "/customers?pageSize=1");
    let client = common::http();

    let missing_key = client
        .get(&url)
        .header("Authorization", format!("Bearer {}", api.token))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_key.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing_key.json().await.unwrap();
    assert!(body["title"].as_str().unwrap().contains("ST-App-Key"), "{body}");
    assert_eq!(body["status"], 401);

    let wrong_key = client
        .get(&url)
        .header("ST-App-Key", "ak1.wrong")
        .header("Authorization", format!("Bearer {}", api.token))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong_key.json().await.unwrap();
    assert!(
        body["title"].as_str().unwrap().to_lowercase().contains("app-key"),
        "{body}"
    );

    let no_token = client
        .get(&url)
        .header("ST-App-Key", &api.creds.app_key)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);

    let bogus = client
        .get(&url)
        .header("ST-App-Key", &api.creds.app_key)
        .header("Authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);

    // The raw token without `Bearer` (ServiceTitan's own curl sample) is accepted.
    let raw = client
        .get(&url)
        .header("ST-App-Key", &api.creds.app_key)
        .header("Authorization", &api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);

    // A second tenant, created over HTTP: its token cannot read tenant 1001.
    let created = control(
        &base,
        Method::POST,
        "/tenants",
        Some(&json!({ "name": "Acme Plumbing" })),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    let other: TenantCredentials = TenantCredentials {
        tenant_id: created.json["tenantId"].as_i64().unwrap(),
        client_id: created.json["clientId"].as_str().unwrap().into(),
        client_secret: created.json["clientSecret"].as_str().unwrap().into(),
        app_key: created.json["appKey"].as_str().unwrap().into(),
    };
    assert_ne!(other.tenant_id, 1001);
    let other_token = token(&base, &other).await;
    let forbidden = client
        .get(&url)
        .header("ST-App-Key", &other.app_key)
        .header("Authorization", format!("Bearer {other_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    // The new tenant is usable: business units, job types, campaigns.
    let other_api = Api::new(&sb, other).await;
    assert_eq!(
        other_api.get("settings", "/business-units").await.json["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        !other_api.get("jpm", "/job-types").await.json["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        !other_api.get("marketing", "/campaigns").await.json["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // In-process creation works as well.
    let third = sb.create_tenant("Third Co");
    assert!(third.tenant_id > other_api.creds.tenant_id);
    sb.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let sb = start(true, None).await;
    let mut api = Api::demo(&sb).await;
    api.retry_429 = false;
    let url = api.url("settings", "/business-units?pageSize=1");
    let futs = (0..150).map(|_| api.send_url(Method::GET, &url, None));
    let results = futures::future::join_all(futs).await;
    let limited: Vec<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let ok = results.iter().filter(|r| r.status == StatusCode::OK).count();
    assert!(ok >= 60, "ok = {ok}");
    assert!(!limited.is_empty(), "no 429 in 150 rapid requests");
    let r = limited[0];
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(r.json["status"], 429);
    assert_eq!(
        r.json["title"],
        format!("Rate limit is exceeded. Try again in {retry} seconds.")
    );
    let stats = api.control(Method::GET, "/stats", None).await;
    assert_eq!(stats.json["rateLimited"].as_u64().unwrap(), limited.len() as u64);
    assert!(stats.json["apiRequests"].as_u64().unwrap() >= 150);
    // After a second the bucket has refilled.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(api.send_url(Method::GET, &url, None).await.status, StatusCode::OK);
    sb.stop().await;
}

#[tokio::test]
async fn pagination_filters_and_limits() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let p1 = api.get("settings", "/business-units?pageSize=3").await;
    assert_eq!(p1.json["page"], 1);
    assert_eq!(p1.json["pageSize"], 3);
    assert_eq!(p1.json["hasMore"], true);
    assert_eq!(p1.json["totalCount"], Value::Null);
    assert_eq!(p1.json["data"].as_array().unwrap().len(), 3);
    let p2 = api
        .get("settings", "/business-units?pageSize=3&page=2&includeTotal=true")
        .await;
    assert_eq!(p2.json["hasMore"], false);
    assert_eq!(p2.json["totalCount"], 4);
    assert_eq!(p2.json["data"].as_array().unwrap().len(), 1);
    let names: Vec<String> = p1.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2.json["data"].as_array().unwrap())
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"HVAC - Service".to_string()) && names.contains(&"Plumbing - Service".to_string()));

    // Default page size 50; 300 demo customers.
    let c = api.get("crm", "/customers?includeTotal=true").await;
    assert_eq!(c.json["pageSize"], 50);
    assert_eq!(c.json["data"].as_array().unwrap().len(), 50);
    assert_eq!(c.json["totalCount"], 300);
    assert_eq!(c.json["hasMore"], true);
    let last = api.get("crm", "/customers?page=6&includeTotal=true").await;
    assert_eq!(last.json["hasMore"], false);
    assert_eq!(last.json["data"].as_array().unwrap().len(), 50);
    let big = api.get("crm", "/customers?pageSize=5000").await;
    assert_eq!(big.json["data"].as_array().unwrap().len(), 300);
    assert_eq!(
        api.get("crm", "/customers?pageSize=5001").await.status,
        StatusCode::BAD_REQUEST
    );

    // ids: at most 50.
    let ids: Vec<i64> = c.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    let three = ids[..3].iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let by_ids = api.get("crm", &format!("/customers?ids={three}")).await;
    assert_eq!(by_ids.json["data"].as_array().unwrap().len(), 3);
    let many = (1..=51).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    let too_many = api.get("crm", &format!("/customers?ids={many}")).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(too_many.json["errors"]["ids"].is_array(), "{}", too_many.text);

    // active: True by default, False → none in the demo, Any → all.
    assert_eq!(
        api.get("settings", "/business-units?active=False").await.json["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        api.get("settings", "/business-units?active=Any").await.json["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        api.get("settings", "/business-units?active=Maybe").await.status,
        StatusCode::BAD_REQUEST
    );
    // name contains, case-insensitive.
    let hvac = api.get("settings", "/business-units?name=hvac").await;
    assert_eq!(hvac.json["data"].as_array().unwrap().len(), 2);
    // Unknown id → 404 ApiErrorResponse.
    let missing = api.get("crm", "/customers/999999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["status"], 404);
    assert!(missing.json["traceId"].is_string());
    // Job types carry their business units.
    let jt = api.get("jpm", "/job-types?pageSize=50").await;
    assert!(
        jt.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| !j["businessUnitIds"].as_array().unwrap().is_empty())
    );
    sb.stop().await;
}

#[tokio::test]
async fn customer_search_by_phone_name_and_external_data() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let mut body = customer_body("Pat Quinlan", "(512) 555-0142");
    body["externalData"] = json!({
        "applicationGuid": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "externalData": [{ "key": "crmId", "value": "CRM-77" }]
    });
    let created = api.post("crm", "/customers", &body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.json["id"].as_i64().unwrap();
    assert_eq!(created.json["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(created.json["locations"].as_array().unwrap().len(), 1);

    for q in ["5125550142", "512-555-0142", "%2B1%20(512)%20555.0142", "5550142"] {
        let r = api.get("crm", &format!("/customers?phone={q}")).await;
        let ids: Vec<i64> = r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![id], "phone query {q}");
    }
    let none = api.get("crm", "/customers?phone=0142").await;
    assert!(none.json["data"].as_array().unwrap().is_empty());

    let by_name = api.get("crm", "/customers?name=quinLAN").await;
    assert_eq!(by_name.json["data"][0]["id"], id);
    let by_zip = api.get("crm", "/customers?zip=78704&street=barton%20hills").await;
    assert!(by_zip.json["data"].as_array().unwrap().iter().any(|c| c["id"] == id));
    let by_ext = api
        .get(
            "crm",
            "/customers?externalDataApplicationGuid=3f2504e0-4f89-11d3-9a0c-0305e82c3301&externalDataKey=crmId&externalDataValues=CRM-1,CRM-77",
        )
        .await;
    assert_eq!(by_ext.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_ext.json["data"][0]["externalData"][0]["value"], "CRM-77");
    let modified = api
        .get("crm", "/customers?modifiedOnOrAfter=2999-01-01T00:00:00Z")
        .await;
    assert!(modified.json["data"].as_array().unwrap().is_empty());

    // Demo phones are findable too.
    let contacts = api.get("crm", "/customers/10041/contacts").await;
    let phone = contacts.json["data"][0]["value"].as_str().unwrap().to_string();
    let formatted = format!("({}) {}-{}", &phone[..3], &phone[3..6], &phone[6..]);
    let r = api
        .get("crm", &format!("/customers?phone={}", formatted.replace(' ', "%20")))
        .await;
    assert_eq!(r.json["data"][0]["id"], 10041);

    // Contacts, notes, locations.
    let contacts = api.get("crm", &format!("/customers/{id}/contacts")).await;
    assert_eq!(contacts.json["data"].as_array().unwrap().len(), 2);
    let note = api
        .post(
            "crm",
            &format!("/customers/{id}/notes"),
            &json!({ "text": "Prefers mornings", "addToLocations": true }),
        )
        .await;
    assert_eq!(note.status, StatusCode::OK);
    assert_eq!(note.json["text"], "Prefers mornings");
    assert_eq!(
        api.get("crm", &format!("/customers/{id}/notes")).await.json["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let loc_id = created.json["locations"][0]["id"].as_i64().unwrap();
    assert_eq!(
        api.get("crm", &format!("/locations/{loc_id}/notes")).await.json["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let loc = api
        .post(
            "crm",
            "/locations",
            &json!({ "customerId": id, "name": "Lake house", "address": {
                "street": "77 Lakeshore Dr", "city": "Leander", "state": "TX", "zip": "78641", "country": "USA" } }),
        )
        .await;
    assert_eq!(loc.status, StatusCode::OK, "{}", loc.text);
    let locs = api.get("crm", &format!("/locations?customerId={id}")).await;
    assert_eq!(locs.json["data"].as_array().unwrap().len(), 2);
    let unknown = api
        .post(
            "crm",
            "/locations",
            &json!({ "customerId": 1, "name": "x", "address": {
                "street": "1 A St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA" } }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::CONFLICT);
    assert_eq!(unknown.json["title"], "Unknown customer");
    let invalid = api.post("crm", "/customers", &json!({ "name": "No Address" })).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert!(invalid.json["errors"]["Address"].is_array() && invalid.json["errors"]["Locations"].is_array());
    sb.stop().await;
}

#[tokio::test]
async fn job_create_makes_appointments_and_invoice() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (customer, location, job) = customer_and_job(&api, "Dana Whitfield", "737-555-0177").await;
    let job_id = job["id"].as_i64().unwrap();
    assert_eq!(job["jobStatus"], "Scheduled");
    assert_eq!(job["appointmentCount"], 2);
    assert_eq!(job["customerId"], customer);
    assert_eq!(job["locationId"], location);
    let first = job["firstAppointmentId"].as_i64().unwrap();
    let last = job["lastAppointmentId"].as_i64().unwrap();
    assert_ne!(first, last);
    let appts = api.get("jpm", &format!("/appointments?jobId={job_id}")).await;
    let list = appts.json["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|a| a["status"] == "Scheduled"));
    assert_eq!(
        api.get("jpm", &format!("/appointments/{first}")).await.json["start"],
        "2030-03-04T15:00:00.0000000Z"
    );
    let invoice_id = job["invoiceId"].as_i64().unwrap();
    let inv = api.get("accounting", &format!("/invoices?ids={invoice_id}")).await;
    assert_eq!(inv.json["data"][0]["job"]["id"], job_id);
    assert_eq!(inv.json["data"][0]["balance"], "0.00");
    assert_eq!(
        api.get("jpm", &format!("/jobs/{job_id}")).await.json["invoiceId"],
        invoice_id
    );
    let by_customer = api
        .get("jpm", &format!("/jobs?customerId={customer}&jobStatus=Scheduled"))
        .await;
    assert_eq!(by_customer.json["data"].as_array().unwrap().len(), 1);

    // Missing campaignId → 400 keyed by field.
    let (bu, jt, _campaign, tech) = catalog(&api).await;
    let mut body = job_body(customer, location, bu, jt, 0, tech);
    body.as_object_mut().unwrap().remove("campaignId");
    let bad = api.post("jpm", "/jobs", &body).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json["errors"]["CampaignId"],
        json!(["The CampaignId field is required."])
    );
    assert_eq!(bad.json["status"], 400);
    // Unknown references → 400 naming the field.
    let bad_ref = api
        .post("jpm", "/jobs", &job_body(customer, location, bu, jt, 42, tech))
        .await;
    assert_eq!(bad_ref.status, StatusCode::BAD_REQUEST);
    assert!(bad_ref.json["errors"]["CampaignId"].is_array());

    // Notes and cancel.
    let note = api
        .post(
            "jpm",
            &format!("/jobs/{job_id}/notes"),
            &json!({ "text": "Gate code 4411" }),
        )
        .await;
    assert_eq!(note.status, StatusCode::OK);
    assert_eq!(
        api.get("jpm", &format!("/jobs/{job_id}/notes")).await.json["data"][0]["text"],
        "Gate code 4411"
    );
    let cancel = api
        .put(
            "jpm",
            &format!("/jobs/{job_id}/cancel"),
            Some(&json!({ "reasonId": 1, "memo": "Customer fixed it" })),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert!(cancel.text.is_empty());
    assert_eq!(
        api.get("jpm", &format!("/jobs/{job_id}")).await.json["jobStatus"],
        "Canceled"
    );
    assert_eq!(
        api.get("jpm", &format!("/appointments/{first}")).await.json["status"],
        "Canceled"
    );
    assert_eq!(api.get("jpm", "/jobs/1").await.status, StatusCode::NOT_FOUND);
    sb.stop().await;
}

#[tokio::test]
async fn estimate_sell_and_dismiss_transitions() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (_, _, job) = customer_and_job(&api, "Lee Ortega", "512-555-0190").await;
    let job_id = job["id"].as_i64().unwrap();
    let est_body = json!({
        "jobId": job_id,
        "name": "AC replacement options",
        "items": [{ "skuName": "AC-16SEER", "description": "16 SEER2 system", "quantity": 1, "unitPrice": 8420.0, "unitCost": 3900.0 }],
    });
    let e1 = api.post("sales", "/estimates", &est_body).await;
    assert_eq!(e1.status, StatusCode::OK, "{}", e1.text);
    assert_eq!(e1.json["status"], json!({ "value": 0, "name": "Open" }));
    assert_eq!(e1.json["subtotal"], 8420.0);
    let e1_id = e1.json["id"].as_i64().unwrap();
    let (_, _, _, tech) = catalog(&api).await;
    let sold = api
        .put(
            "sales",
            &format!("/estimates/{e1_id}/sell"),
            Some(&json!({ "soldBy": tech })),
        )
        .await;
    assert_eq!(sold.status, StatusCode::OK);
    assert_eq!(sold.json["status"]["name"], "Sold");
    assert_eq!(sold.json["status"]["value"], 1);
    assert_eq!(sold.json["soldBy"], tech);
    assert!(sold.json["soldOn"].is_string());
    let again = api
        .put(
            "sales",
            &format!("/estimates/{e1_id}/sell"),
            Some(&json!({ "soldBy": tech })),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let dismiss_sold = api.put("sales", &format!("/estimates/{e1_id}/dismiss"), None).await;
    assert_eq!(dismiss_sold.status, StatusCode::BAD_REQUEST);

    let e2 = api.post("sales", "/estimates", &est_body).await;
    let e2_id = e2.json["id"].as_i64().unwrap();
    let dismissed = api.put("sales", &format!("/estimates/{e2_id}/dismiss"), None).await;
    assert_eq!(dismissed.status, StatusCode::OK);
    assert!(dismissed.text.is_empty());
    let got = api.get("sales", &format!("/estimates/{e2_id}")).await;
    assert_eq!(got.json["status"], json!({ "value": 2, "name": "Dismissed" }));
    let sell_dismissed = api
        .put(
            "sales",
            &format!("/estimates/{e2_id}/sell"),
            Some(&json!({ "soldBy": tech })),
        )
        .await;
    assert_eq!(sell_dismissed.status, StatusCode::BAD_REQUEST);

    let by_job = api.get("sales", &format!("/estimates?jobId={job_id}")).await;
    assert_eq!(by_job.json["data"].as_array().unwrap().len(), 2);
    let sold_only = api
        .get("sales", &format!("/estimates?jobId={job_id}&status=Sold"))
        .await;
    assert_eq!(sold_only.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("sales", "/estimates?status=Pending").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("jpm", &format!("/jobs/{job_id}")).await.json["estimateIds"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The demo has both open and sold estimates.
    assert!(
        !api.get("sales", "/estimates?status=Open").await.json["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        !api.get("sales", "/estimates?status=Sold").await.json["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    sb.stop().await;
}

#[tokio::test]
async fn payment_reduces_invoice_balance_and_overdue_helper() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (customer, _, job) = customer_and_job(&api, "Morgan Ellis", "512-555-0166").await;
    let job_id = job["id"].as_i64().unwrap();
    let invoice_id = job["invoiceId"].as_i64().unwrap();
    let t = api.creds.tenant_id;

    let done = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/jobs/{job_id}/complete"),
            Some(&json!({ "total": "250.00" })),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.json["jobStatus"], "Completed");
    assert!(done.json["completedOn"].is_string());
    let inv = api.get("accounting", &format!("/invoices?ids={invoice_id}")).await;
    assert_eq!(inv.json["data"][0]["total"], "250.00");
    assert_eq!(inv.json["data"][0]["balance"], "250.00");

    let pay = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/payments"),
            Some(&json!({ "invoiceId": invoice_id, "amount": "100.00" })),
        )
        .await;
    assert_eq!(pay.status, StatusCode::OK, "{}", pay.text);
    assert_eq!(pay.json["total"], "100.00");
    let inv = api.get("accounting", &format!("/invoices?ids={invoice_id}")).await;
    assert_eq!(inv.json["data"][0]["balance"], "150.00");
    let payments = api
        .get("accounting", &format!("/payments?appliedToInvoiceIds={invoice_id}"))
        .await;
    let list = payments.json["data"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["appliedTo"][0]["appliedAmount"], "100.00");
    assert_eq!(list[0]["appliedTo"][0]["appliedTo"], invoice_id);
    let cust = api.get("crm", &format!("/customers/{customer}")).await;
    assert_eq!(cust.json["balance"], 150.0);

    // Balance filters.
    let greater = api
        .get(
            "accounting",
            &format!("/invoices?customerId={customer}&balanceFilter.Balance=149.99&balanceFilter.Comparer=Greater"),
        )
        .await;
    assert_eq!(greater.json["data"].as_array().unwrap().len(), 1);
    let equals = api
        .get(
            "accounting",
            &format!("/invoices?customerId={customer}&balanceFilter.Balance=0&balanceFilter.Comparer=Equals"),
        )
        .await;
    assert!(equals.json["data"].as_array().unwrap().is_empty());

    // Overdue helper: due 8 days ago.
    let od = api
        .control(
            Method::POST,
            &format!("/tenants/{t}/invoices/{invoice_id}/overdue"),
            None,
        )
        .await;
    assert_eq!(od.status, StatusCode::OK);
    let due = domain::clock::parse_flexible(od.json["dueDate"].as_str().unwrap()).unwrap();
    let age = jiff::Timestamp::now().duration_since(due);
    assert!(
        age >= SignedDuration::from_hours(24 * 8) && age < SignedDuration::from_hours(24 * 9),
        "{age:?}"
    );
    let now = jiff::Timestamp::now();
    let week_ago = domain::clock::iso_millis(now - SignedDuration::from_hours(24 * 7));
    let overdue = api
        .get(
            "accounting",
            &format!("/invoices?customerId={customer}&dueDateBefore={week_ago}"),
        )
        .await;
    assert_eq!(overdue.json["data"].as_array().unwrap().len(), 1);
    let not_yet = api
        .get(
            "accounting",
            &format!("/invoices?customerId={customer}&dueDateOnOrAfter={week_ago}"),
        )
        .await;
    assert!(not_yet.json["data"].as_array().unwrap().is_empty());

    // Paying the rest closes it.
    api.control(
        Method::POST,
        &format!("/tenants/{t}/payments"),
        Some(&json!({ "invoiceId": invoice_id, "amount": 150 })),
    )
    .await;
    let inv = api.get("accounting", &format!("/invoices?ids={invoice_id}")).await;
    assert_eq!(inv.json["data"][0]["balance"], "0.00");
    assert!(inv.json["data"][0]["paidOn"].is_string());
    sb.stop().await;
}

#[tokio::test]
async fn export_feed_sees_every_record_once() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let mut seen = HashSet::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &from {
            Some(f) => format!("/export/customers?from={f}"),
            None => "/export/customers".to_string(),
        };
        let r = api.get("crm", &q).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let data = r.json["data"].as_array().unwrap();
        assert!(data.len() <= EXPORT_PAGE_SIZE);
        for c in data {
            assert!(c["active"].is_boolean());
            assert!(seen.insert(c["id"].as_i64().unwrap()), "duplicate {}", c["id"]);
        }
        pages += 1;
        from = Some(r.json["continueFrom"].as_str().unwrap().to_string());
        if r.json["hasMore"] == false {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(pages, 300 / EXPORT_PAGE_SIZE);
    // Polling again at the end yields nothing, then new changes.
    let token = from.unwrap();
    let idle = api.get("crm", &format!("/export/customers?from={token}")).await;
    assert!(idle.json["data"].as_array().unwrap().is_empty());
    assert_eq!(idle.json["hasMore"], false);
    assert_eq!(idle.json["continueFrom"], token.as_str());
    let created = api
        .post("crm", "/customers", &customer_body("New Person", "512-555-0101"))
        .await;
    let next = api
        .get(
            "crm",
            &format!("/export/customers?from={token}&includeRecentChanges=true"),
        )
        .await;
    assert_eq!(next.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(next.json["data"][0]["id"], created.json["id"]);
    // A date `from` starts at that modifiedOn; far past = everything.
    let by_date = api.get("crm", "/export/customers?from=2020-01-01").await;
    assert_eq!(by_date.json["data"].as_array().unwrap().len(), EXPORT_PAGE_SIZE);
    assert_eq!(by_date.json["hasMore"], true);
    assert_eq!(
        api.get("crm", "/export/customers?from=not-a-token!").await.status,
        StatusCode::BAD_REQUEST
    );

    // Jobs feed: each job once.
    let mut jobs = HashSet::new();
    let mut from: Option<String> = None;
    loop {
        let q = from
            .as_ref()
            .map(|f| format!("/export/jobs?from={f}"))
            .unwrap_or_else(|| "/export/jobs".into());
        let r = api.get("jpm", &q).await;
        for j in r.json["data"].as_array().unwrap() {
            assert!(jobs.insert(j["id"].as_i64().unwrap()));
        }
        from = r.json["continueFrom"].as_str().map(str::to_string);
        if r.json["hasMore"] == false {
            break;
        }
    }
    let total = api.get("jpm", "/jobs?pageSize=1&includeTotal=true").await.json["totalCount"]
        .as_u64()
        .unwrap();
    assert_eq!(jobs.len() as u64, total);
    sb.stop().await;
}

#[tokio::test]
async fn faults_inject_errors_and_outages() {
    let clock = Arc::new(VirtualClock::new());
    let sb = start(true, Some(clock.clone())).await;
    let api = Api::demo(&sb).await;
    let rule = api
        .control(
            Method::POST,
            "/faults",
            Some(&json!({ "pathContains": "/customers", "errorRate": 1.0, "status": 503 })),
        )
        .await;
    assert_eq!(rule.status, StatusCode::OK, "{}", rule.text);
    let r = api.get("crm", "/customers?pageSize=1").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json["status"], 503);
    assert_eq!(api.get("settings", "/business-units").await.status, StatusCode::OK);
    let cleared = api.control(Method::DELETE, "/faults", None).await;
    assert_eq!(cleared.json["cleared"], 1);
    assert_eq!(api.get("crm", "/customers?pageSize=1").await.status, StatusCode::OK);

    // Half the requests fail, deterministically alternating.
    api.control(
        Method::POST,
        "/faults",
        Some(&json!({ "pathContains": "/job-types", "errorRate": 0.5, "status": 500 })),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(api.get("jpm", "/job-types").await.status.as_u16());
    }
    assert_eq!(statuses, vec![200, 500, 200, 500]);
    api.control(Method::DELETE, "/faults", None).await;

    // Outage window on the clock.
    api.control(
        Method::POST,
        "/faults",
        Some(&json!({ "pathContains": "/jpm/", "outageSeconds": 60 })),
    )
    .await;
    assert_eq!(
        api.get("jpm", "/jobs?pageSize=1").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    clock.advance(SignedDuration::from_secs(61));
    assert_eq!(api.get("jpm", "/jobs?pageSize=1").await.status, StatusCode::OK);

    // Latency only.
    api.control(Method::DELETE, "/faults", None).await;
    api.control(
        Method::POST,
        "/faults",
        Some(&json!({ "pathContains": "/campaigns", "latencyMs": 150 })),
    )
    .await;
    let t0 = std::time::Instant::now();
    assert_eq!(api.get("marketing", "/campaigns").await.status, StatusCode::OK);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(150));
    sb.stop().await;
}

#[tokio::test]
async fn leads_are_created_open_checked_and_listed() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let (bu, job_type, campaign, _) = catalog(&api).await;
    let (customer, location, _) = customer_and_job(&api, "Noor Haddad", "512-555-0171").await;

    // A location implies its customer; the status starts Open, the priority Normal.
    let lead = api
        .post(
            "crm",
            "/leads",
            &json!({ "locationId": location, "campaignId": campaign, "businessUnitId": bu, "jobTypeId": job_type,
                     "summary": "Second opinion on a heat pump", "followUpDate": "2030-01-02T15:00:00Z",
                     "leadPhone": "(512) 555-0171", "leadCustomerName": "Noor Haddad" }),
        )
        .await;
    assert_eq!(lead.status, StatusCode::OK, "{}", lead.text);
    let id = lead.json["id"].as_i64().unwrap();
    assert_eq!(lead.json["status"], "Open");
    assert_eq!(lead.json["priority"], "Normal");
    assert_eq!(lead.json["customerId"], customer);
    assert_eq!(lead.json["followUpDate"], "2030-01-02T15:00:00.0000000Z");
    assert_eq!(api.get("crm", &format!("/leads/{id}")).await.json, lead.json);
    let prospect = api
        .post(
            "crm",
            "/leads",
            &json!({ "campaignId": campaign, "summary": "Called about a water softener", "callReasonId": 3,
                     "priority": "urgent", "leadPhone": "7375550199" }),
        )
        .await;
    assert_eq!(prospect.status, StatusCode::OK, "{}", prospect.text);
    assert_eq!(prospect.json["priority"], "Urgent");
    let prospect_id = prospect.json["id"].as_i64().unwrap();

    // Lists: customer, status, phone (any formatting), name, with or without a customer, prospects.
    let ids = |q: &str| {
        let api = &api;
        let q = q.to_string();
        async move {
            let r = api.get("crm", &format!("/leads?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
            r.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(&format!("customerId={customer}")).await, vec![id]);
    assert_eq!(ids("status=Open").await, vec![id, prospect_id]);
    assert!(ids("status=Converted").await.is_empty());
    assert_eq!(ids("leadPhone=%2B1%20512%20555%200171").await, vec![id]);
    assert_eq!(ids("leadCustomerName=haddad").await, vec![id]);
    assert_eq!(ids("withoutCustomer=true").await, vec![prospect_id]);
    assert_eq!(ids("withoutCustomer=false").await, vec![id]);
    assert_eq!(
        ids("isProspect=true").await,
        vec![prospect_id],
        "the customer has a job"
    );
    assert_eq!(ids("customerZip=78704&customerCity=austin").await, vec![id]);
    assert_eq!(ids("sort=-Id").await, vec![prospect_id, id]);
    assert!(ids("createdOnOrAfter=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(ids(&format!("ids={prospect_id}")).await, vec![prospect_id]);

    // Validation: required fields, FollowUpDate or CallReasonId, enums, dates, and every id must exist.
    let r = api
        .post("crm", "/leads", &json!({ "followUpDate": "2030-01-02" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["errors"]["CampaignId"].is_array() && r.json["errors"]["Summary"].is_array());
    let r = api
        .post(
            "crm",
            "/leads",
            &json!({ "campaignId": campaign, "summary": "  " , "priority": "Asap" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for key in ["Summary", "Priority", "FollowUpDate"] {
        assert!(r.json["errors"][key].is_array(), "{key}: {}", r.text);
    }
    let r = api
        .post(
            "crm",
            "/leads",
            &json!({ "campaignId": campaign, "summary": "x", "followUpDate": "soon" }),
        )
        .await;
    assert_eq!(
        r.json["errors"]["FollowUpDate"][0],
        "The value 'soon' is not a valid date-time."
    );
    let r = api
        .post(
            "crm",
            "/leads",
            &json!({ "campaignId": 1, "customerId": 2, "locationId": 3, "businessUnitId": 4, "jobTypeId": 5,
                     "bookingId": 6, "summary": "x", "callReasonId": 1 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let keys: Vec<&String> = r.json["errors"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "BookingId",
            "BusinessUnitId",
            "CampaignId",
            "CustomerId",
            "JobTypeId",
            "LocationId"
        ]
    );
    assert_eq!(r.json["errors"]["CampaignId"][0], "Campaign with ID=1 was not found.");
    let (other, _, _) = customer_and_job(&api, "Someone Else", "512-555-0172").await;
    let r = api
        .post(
            "crm",
            "/leads",
            &json!({ "campaignId": campaign, "customerId": other, "locationId": location, "summary": "x",
                     "callReasonId": 1 }),
        )
        .await;
    assert_eq!(
        r.json["errors"]["LocationId"][0],
        format!("Location {location} does not belong to customer {other}.")
    );
    let r = api
        .post("crm", "/leads", &json!({ "campaignId": "five", "summary": "x" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["errors"]["$.campaignId"].is_array(), "{}", r.text);
    assert_eq!(api.get("crm", "/leads/999999999").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("crm", "/leads?status=Pending").await.status,
        StatusCode::BAD_REQUEST
    );

    // A lead from a booking dismisses the booking; a dismissed booking cannot become another lead.
    let booking = api
        .post(
            "crm",
            "/booking-provider/9/bookings",
            &json!({ "source": "AI Chat", "name": "Noor Haddad", "summary": "Heat pump", "isFirstTimeClient": false,
                     "externalId": "conv-1" }),
        )
        .await;
    let booking_id = booking.json["id"].as_i64().unwrap();
    let body = json!({ "campaignId": campaign, "summary": "Heat pump", "callReasonId": 1, "bookingId": booking_id });
    let from_booking = api.post("crm", "/leads", &body).await;
    assert_eq!(from_booking.status, StatusCode::OK, "{}", from_booking.text);
    assert_eq!(from_booking.json["bookingId"], booking_id);
    let b = api
        .get("crm", &format!("/booking-provider/9/bookings/{booking_id}"))
        .await;
    assert_eq!(b.json["status"], "Dismissed");
    let again = api.post("crm", "/leads", &body).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.json["errors"]["BookingId"][0]
            .as_str()
            .unwrap()
            .contains("is Dismissed")
    );
    sb.stop().await;
}

#[tokio::test]
async fn external_data_comes_back_only_for_the_application_asked_for() {
    const OURS: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    const THEIRS: &str = "9a8b7c6d-0000-4000-8000-000000000001";
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let ext =
        |guid: &str, v: &str| json!({ "applicationGuid": guid, "externalData": [{ "key": "leadId", "value": v }] });
    let mut body = customer_body("Ada Brandt", "512-555-0181");
    body["externalData"] = ext(OURS, "lead-1");
    body["locations"][0]["externalData"] = ext(OURS, "lead-1");
    let created = api.post("crm", "/customers", &body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    // A create answers with what it was given.
    assert_eq!(
        created.json["externalData"],
        json!([{ "key": "leadId", "value": "lead-1" }])
    );
    assert_eq!(created.json["locations"][0]["externalData"][0]["value"], "lead-1");
    let (customer, location) = (
        created.json["id"].as_i64().unwrap(),
        created.json["locations"][0]["id"].as_i64().unwrap(),
    );
    let other = api
        .post(
            "crm",
            "/locations",
            &json!({ "customerId": customer, "name": "Rental", "externalData": ext(THEIRS, "x-9"), "address": {
                "street": "9 Elm St", "unit": "B", "city": "Austin", "state": "TX", "zip": "78702", "country": "USA" } }),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    let other_id = other.json["id"].as_i64().unwrap();

    // Reads without a GUID carry none; with one, only that application's.
    let plain = api.get("crm", &format!("/customers?ids={customer}")).await;
    assert_eq!(plain.json["data"][0]["externalData"], json!([]));
    let ours = api
        .get(
            "crm",
            &format!("/customers?ids={customer}&externalDataApplicationGuid={OURS}"),
        )
        .await;
    assert_eq!(ours.json["data"][0]["externalData"][0]["value"], "lead-1");
    assert_eq!(
        api.get("crm", &format!("/locations/{location}")).await.json["externalData"],
        json!([])
    );
    let locs = api
        .get(
            "crm",
            &format!("/locations?customerId={customer}&externalDataApplicationGuid={THEIRS}"),
        )
        .await;
    let by_id: HashSet<(i64, usize)> = locs.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["id"].as_i64().unwrap(), l["externalData"].as_array().unwrap().len()))
        .collect();
    assert_eq!(by_id, HashSet::from([(location, 0), (other_id, 1)]));

    // Location lookups: by key and values (GUID optional), by address parts.
    let found = api
        .get(
            "crm",
            "/locations?externalDataKey=leadId&externalDataValues=lead-0,lead-1",
        )
        .await;
    assert_eq!(found.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(found.json["data"][0]["id"], location);
    let found = api
        .get(
            "crm",
            &format!(
                "/locations?externalDataApplicationGuid={THEIRS}&externalDataKey=leadId&externalDataValues=lead-1"
            ),
        )
        .await;
    assert!(
        found.json["data"].as_array().unwrap().is_empty(),
        "another application's key"
    );
    let found = api.get("crm", "/locations?street=elm%20st&unit=b&zip=78702").await;
    assert_eq!(found.json["data"][0]["id"], other_id);

    // Jobs: the same on create, GET by id, and the list's lookup, whose key and values come together.
    let (bu, job_type, campaign, tech) = catalog(&api).await;
    let mut jb = job_body(customer, location, bu, job_type, campaign, tech);
    jb["externalData"] = ext(OURS, "lead-1");
    let job = api.post("jpm", "/jobs", &jb).await;
    assert_eq!(job.json["externalData"][0]["value"], "lead-1");
    let job_id = job.json["id"].as_i64().unwrap();
    assert_eq!(
        api.get("jpm", &format!("/jobs/{job_id}")).await.json["externalData"],
        json!([])
    );
    let with_guid = api
        .get("jpm", &format!("/jobs/{job_id}?externalDataApplicationGuid={OURS}"))
        .await;
    assert_eq!(with_guid.json["externalData"][0]["value"], "lead-1");
    let found = api
        .get(
            "jpm",
            &format!("/jobs?externalDataApplicationGuid={OURS}&externalDataKey=leadId&externalDataValues=lead-1"),
        )
        .await;
    assert_eq!(found.json["data"][0]["id"], job_id);
    assert_eq!(found.json["data"][0]["externalData"][0]["key"], "leadId");
    let r = api.get("jpm", "/jobs?externalDataKey=leadId").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["errors"]["externalDataValues"].is_array(), "{}", r.text);
    let many = (0..51).map(|i| format!("v{i}")).collect::<Vec<_>>().join(",");
    let r = api
        .get(
            "jpm",
            &format!("/jobs?externalDataKey=leadId&externalDataValues={many}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // jobStatus takes one status, as the spec's enum says.
    let r = api
        .get("jpm", &format!("/jobs?customerId={customer}&jobStatus=Scheduled"))
        .await;
    assert_eq!(r.json["data"][0]["id"], job_id);
    assert_eq!(
        api.get("jpm", "/jobs?jobStatus=Scheduled,Canceled").await.status,
        StatusCode::BAD_REQUEST
    );
    sb.stop().await;
}
