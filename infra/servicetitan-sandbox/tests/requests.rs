//! The request log (`GET` / `DELETE /_sandbox/requests`, `Sandbox::requests`): what it keeps, and that each recorded
//! write body can be checked against the official request schema of the operation its concrete path maps to.

mod common;

use common::{Api, catalog, control, customer_body, job_body, start};
use openapi_check::Specs;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn the_log_has_every_api_request_in_order_and_clears() {
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;
    let tenant = api.creds.tenant_id;
    assert!(sb.requests().is_empty(), "the token request is not logged");

    let created = api
        .post("crm", "/customers", &customer_body("Lou Ferris", "5125550161"))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.json["id"].as_i64().unwrap();
    api.get("crm", "/customers?phone=5125550161&includeTotal=true").await;
    api.control(Method::GET, "/stats", None).await;
    let invalid = api.post("crm", "/customers", &json!({ "name": "No Address" })).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let unauthenticated = common::http()
        .get(api.url("crm", &format!("/customers/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let log = sb.requests();
    let brief: Vec<(String, String, String, u64)> = log
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
                e["query"].as_str().unwrap().to_string(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let customers = format!("/crm/v2/tenant/{tenant}/customers");
    assert_eq!(
        brief,
        vec![
            ("POST".into(), customers.clone(), String::new(), 200),
            (
                "GET".into(),
                customers.clone(),
                "phone=5125550161&includeTotal=true".into(),
                200
            ),
            ("POST".into(), customers.clone(), String::new(), 400),
            ("GET".into(), format!("{customers}/{id}"), String::new(), 401),
        ],
        "controls and /connect/token are left out"
    );
    assert_eq!(log[0]["body"]["name"], "Lou Ferris", "the body as parsed JSON");
    assert_eq!(log[1]["body"], Value::Null, "no body");
    assert!(log[0]["at"].as_str().unwrap().ends_with('Z'));

    // The control answers the same, and DELETE empties it.
    let via_control = control(&api.base, Method::GET, "/requests", None).await;
    assert_eq!(via_control.json, json!(log));
    let cleared = control(&api.base, Method::DELETE, "/requests", None).await;
    assert_eq!(cleared.json["cleared"], 4);
    assert!(sb.requests().is_empty());
    api.get("crm", &format!("/customers/{id}")).await;
    assert_eq!(sb.requests().len(), 1);
    sb.clear_requests();
    assert!(sb.requests().is_empty());

    // A body that is not JSON is logged as null, with the status the API gave it.
    let r = api
        .http
        .post(api.url("crm", "/customers"))
        .header("ST-App-Key", &api.creds.app_key)
        .header("Authorization", format!("Bearer {}", api.token))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let log = sb.requests();
    assert_eq!(
        (log[0]["body"].clone(), log[0]["status"].clone()),
        (Value::Null, json!(400))
    );
    sb.stop().await;
}

#[tokio::test]
async fn every_logged_write_matches_its_request_schema() {
    let files = [
        "settings-v2",
        "jpm-v2",
        "crm-v2",
        "salestech-v2",
        "marketing-v2",
        "telecom",
    ];
    let Some(specs) = Specs::load(&files) else { return };
    let sb = start(true, None).await;
    let api = Api::demo(&sb).await;

    // A lead worker's calls: customer, note, job, reschedule, estimate, cancel, booking, lead, and some reads.
    let c = api
        .post("crm", "/customers", &customer_body("Rae Holt", "5125550162"))
        .await;
    let (customer, location) = (
        c.json["id"].as_i64().unwrap(),
        c.json["locations"][0]["id"].as_i64().unwrap(),
    );
    api.post(
        "crm",
        &format!("/customers/{customer}/notes"),
        &json!({ "text": "Prefers texts", "pinToTop": false }),
    )
    .await;
    let (bu, job_type, campaign, tech) = catalog(&api).await;
    let job = api
        .post(
            "jpm",
            "/jobs",
            &job_body(customer, location, bu, job_type, campaign, tech),
        )
        .await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.text);
    let (job_id, appointment) = (
        job.json["id"].as_i64().unwrap(),
        job.json["firstAppointmentId"].as_i64().unwrap(),
    );
    let moved = api
        .send_url(
            Method::PATCH,
            &api.url("jpm", &format!("/appointments/{appointment}/reschedule")),
            Some(&json!({ "start": "2030-03-06T15:00:00Z", "end": "2030-03-06T17:00:00Z" })),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    api.post("sales", "/estimates", &json!({ "jobId": job_id, "name": "Tune-up" }))
        .await;
    let booking = api
        .post(
            "crm",
            "/booking-provider/12/bookings",
            &json!({ "source": "AI Chat", "name": "Rae Holt", "summary": "No heat", "isFirstTimeClient": false,
                     "externalId": "conv-9" }),
        )
        .await;
    assert_eq!(booking.status, StatusCode::OK, "{}", booking.text);
    let lead = api
        .post(
            "crm",
            "/leads",
            &json!({ "customerId": customer, "campaignId": campaign, "summary": "Wants a new furnace",
                     "followUpDate": "2030-03-07T15:00:00Z", "leadPhone": "5125550162" }),
        )
        .await;
    assert_eq!(lead.status, StatusCode::OK, "{}", lead.text);
    api.get("crm", &format!("/leads/{}", lead.json["id"])).await;
    api.put(
        "jpm",
        &format!("/jobs/{job_id}/cancel"),
        Some(&json!({ "reasonId": 1, "memo": "Duplicate" })),
    )
    .await;
    // A bad write: the log keeps it, and the spec refuses it too.
    let bad = api.post("crm", "/leads", &json!({ "campaignId": campaign })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let log = sb.requests();
    let mut failures = Vec::new();
    let mut writes = 0;
    for entry in &log {
        let (method, path) = (entry["method"].as_str().unwrap(), entry["path"].as_str().unwrap());
        let Some((file, template, op)) = specs.operation(method, path) else {
            panic!("{method} {path} is no operation of the specs");
        };
        if !matches!(op, "post" | "put" | "patch") {
            continue;
        }
        let schema = specs.request_schema(file, template, op);
        assert!(schema.is_object(), "{file} {op} {template}: no request schema");
        let what = format!("{method} {path} ({file} {template})");
        let errors = specs.validate(file, schema, &entry["body"], &what);
        if entry["status"] == 200 {
            writes += 1;
            failures.extend(errors);
        } else {
            assert!(
                !errors.is_empty(),
                "{what}: the refused body should not pass the schema either"
            );
        }
    }
    assert_eq!(writes, 8, "{log:#?}");
    assert!(failures.is_empty(), "{failures:#?}");
    sb.stop().await;
}
