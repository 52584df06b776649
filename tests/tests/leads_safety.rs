//! Leads under bad input, repeats, crashes and ServiceTitan failures: nothing lost, nothing made twice, every
//! failure explained.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use integration_tests::leads::{address, lead};
use jiff::SignedDuration;
use lead_runtime::messages::LeadMessage;
use serde_json::{Value, json};
use shared::tenants::TenantStatus;

async fn stack() -> FollowUps {
    FollowUps::start(&[], json!({})).await
}

fn fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|a| a.iter().map(|f| f["field"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_leads_get_field_reasons_and_nothing_is_stored() {
    let f = stack().await;
    let no_contact = f
        .post_lead(json!({"leadId": "bad-1", "tenantId": TENANT, "source": "chat", "name": "Dana Whitfield"}))
        .await;
    assert_eq!(no_contact.status, 422, "{}", no_contact.body);
    assert_eq!(no_contact.body["error"]["code"], "invalid_lead");
    assert_eq!(fields(&no_contact.body), vec!["/phone", "/email"]);

    let many = f
        .post_lead(
            json!({"leadId": "bad 2", "tenantId": TENANT, "source": "sms", "phone": "555-1234",
                          "address": {"street": "1 Main St"}, "priority": "asap", "colour": "red"}),
        )
        .await;
    assert_eq!(many.status, 422);
    let got = fields(&many.body);
    for want in [
        "/colour",
        "/leadId",
        "/source",
        "/phone",
        "/address/city",
        "/address/state",
        "/address/zip",
        "/priority",
    ] {
        assert!(got.contains(&want.to_owned()), "{want} not in {got:?}");
    }
    let reasons = many.body["error"]["fields"].to_string();
    assert!(reasons.contains("is not a valid phone number for US"), "{reasons}");

    let unknown = f
        .post_lead(lead(
            "bad-3",
            "Dana Whitfield",
            "5125550170",
            json!({"tenantId": "4242"}),
        ))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (404, Some("unknown_tenant"))
    );
    for id in ["bad-1", "bad-3"] {
        let get =
            f.t.admin(reqwest::Method::GET, &format!("/leads/{id}?tenantId={TENANT}"), None)
                .await;
        assert_eq!(
            (get.status, get.body["error"]["code"].as_str()),
            (404, Some("lead_not_found"))
        );
    }
    assert_eq!(f.t.queue_depth("LeadsQueue").await, (0, 0));

    f.t.set_tenant(TENANT, TenantStatus::Disconnected).await;
    let gone = f
        .post_lead(lead("bad-4", "Dana Whitfield", "5125550170", json!({})))
        .await;
    assert_eq!(
        (gone.status, gone.body["error"]["code"].as_str()),
        (403, Some("tenant_disconnected"))
    );
    f.stop().await;
}

#[tokio::test]
async fn the_same_lead_twice_is_one_lead_and_another_lead_under_its_id_is_refused() {
    let f = stack().await;
    let body = lead(
        "chat-twice",
        "Omar Haddad",
        "512-555-0171",
        json!({"address": address("88 Rainey St", None, "78701")}),
    );
    let first = f.post_lead_only(body.clone()).await;
    // The platform times out and sends it again, before and after the creator ran.
    let again = f.post_lead_only(body.clone()).await;
    f.webhooks().await;
    let later = f.post_lead(body.clone()).await;
    assert_eq!(first.status, 202);
    assert_eq!((again.status, again.body["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!((later.status, later.body["status"].as_str()), (200, Some("created")));
    let created = f.created("chat-twice").await;
    let customer_id = created["servicetitan"]["customerId"].as_i64().unwrap();
    assert_eq!(f.jobs_of(customer_id).await.len(), 1);
    assert_eq!(f.customers_with_phone("5125550171").await.len(), 1);

    let mut other = body;
    other["summary"] = json!("Something else entirely.");
    let conflict = f.post_lead(other).await;
    assert_eq!(
        (conflict.status, conflict.body["error"]["code"].as_str()),
        (409, Some("lead_conflict"))
    );
    assert_eq!(fields(&conflict.body), vec!["/leadId"]);
    f.stop().await;
}

/// Puts the lead back as a worker that died part-way would leave it: matching, its lease run out, and the ids in
/// `forget` not recorded (the creates themselves happened).
async fn crash_after(f: &FollowUps, lead_id: &str, forget: &[&str]) {
    let mut req =
        f.t.stack
            .aws()
            .dynamodb
            .update_item()
            .table_name(f.t.resource("LeadsTable"))
            .key("tenant_id", AttributeValue::S(TENANT.into()))
            .key("sk", AttributeValue::S(format!("lead#{lead_id}")))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":m", AttributeValue::S("matching".into()));
    let mut remove = vec!["lease_until".to_owned(), "outcome".to_owned(), "notes_done".to_owned()];
    remove.extend(forget.iter().map(|s| (*s).to_owned()));
    req = req.update_expression(format!("SET #st = :m REMOVE {}", remove.join(", ")));
    req.send().await.unwrap();
    let message = LeadMessage::Create {
        tenant_id: TENANT.into(),
        lead_id: lead_id.into(),
    };
    f.t.stack
        .aws()
        .sqs
        .send_message()
        .queue_url(f.t.resource("LeadsQueue"))
        .message_body(serde_json::to_string(&message).unwrap())
        .send()
        .await
        .unwrap();
    f.webhooks().await;
}

#[tokio::test]
async fn a_crash_between_the_customer_and_the_job_makes_nothing_twice() {
    let f = stack().await;
    // ServiceTitan fails the job for ten minutes: the customer exists, the job does not, the lead waits.
    f.fault(json!({"pathContains": "/jpm/v2/tenant/1001/jobs", "status": 503, "outageSeconds": 600}))
        .await;
    f.post_lead_only(lead(
        "chat-crash-1",
        "Ines Duarte",
        "512-555-0172",
        json!({"address": address("610 W 34th St", None, "78705")}),
    ))
    .await;
    // ServiceTitan unavailable: the lead waits as a delayed copy, spending none of the queue's receives.
    let report = f.settle().await;
    assert_eq!(
        (report.messages_failed, report.messages_delayed),
        (0, 1),
        "it waits as a delayed copy: {report:?}"
    );
    let waiting = f.lead("chat-crash-1").await;
    assert_eq!(waiting["status"], "matching", "{waiting:#}");
    let customer_id = waiting["servicetitan"]["customerId"]
        .as_i64()
        .expect("the customer was made and recorded");
    assert!(waiting["servicetitan"]["jobId"].is_null());
    // Tried again 30 s, 1, 2, 4 and 8 minutes on (the copies back off), until ServiceTitan is back.
    f.advance_through_failures(SignedDuration::from_mins(20)).await;
    let created = f.created("chat-crash-1").await;
    assert_eq!(created["servicetitan"]["customerId"], customer_id);
    assert_eq!(f.jobs_of(customer_id).await.len(), 1);
    assert_eq!(f.customers_with_phone("5125550172").await, vec![customer_id]);
    f.clear_faults().await;

    // A worker that made the customer and died before recording its id: the next attempt finds it by its external
    // data; one that made the job and died: found the same way; one that wrote the note: found by its marker.
    crash_after(&f, "chat-crash-1", &["customer_id", "location_id", "job_id"]).await;
    let again = f.created("chat-crash-1").await;
    assert_eq!(again["servicetitan"]["customerId"], customer_id);
    assert_eq!(again["servicetitan"]["jobId"], created["servicetitan"]["jobId"]);
    assert_eq!(
        f.customers_with_phone("5125550172").await,
        vec![customer_id],
        "no second customer"
    );
    assert_eq!(f.jobs_of(customer_id).await.len(), 1, "no second job");
    assert_eq!(f.customer_notes(customer_id).await.len(), 1, "no second note");

    // One that recorded the customer and died before recording its location (made in the same call): the next
    // attempt takes the customer's location, and makes no second customer.
    crash_after(&f, "chat-crash-1", &["location_id", "job_id"]).await;
    let again = f.created("chat-crash-1").await;
    assert_eq!(again["servicetitan"]["customerId"], customer_id);
    assert_eq!(
        again["servicetitan"]["locationId"],
        created["servicetitan"]["locationId"]
    );
    assert_eq!(
        f.customers_with_phone("5125550172").await,
        vec![customer_id],
        "no second customer"
    );
    assert_eq!(f.jobs_of(customer_id).await.len(), 1, "no second job");
    f.stop().await;
}

/// What a swept lead is: a new customer with a job and its note, or a missed call from a caller nobody knows (a
/// ServiceTitan lead for the office and the text-back).
#[derive(Clone, Copy)]
enum Shape {
    NewCustomer,
    MissedCall,
}

impl Shape {
    fn lead(self, n: u64) -> (Value, String) {
        // An area code the seeded customers do not use, so each phone is this lead's alone.
        let phone = format!("21455501{n:02}");
        let body = match self {
            Self::NewCustomer => lead(
                &format!("chat-kill-{n}"),
                "Rene Okafor",
                &phone,
                json!({"address": address(&format!("{} Lake Austin Blvd", 2200 + n), None, "78703"),
                       "summary": "Water heater leaking."}),
            ),
            Self::MissedCall => {
                json!({"leadId": format!("call-kill-{n}"), "tenantId": TENANT, "source": "missed_call", "phone": phone})
            }
        };
        (body, phone)
    }

    /// One of each record for the lead, and for a missed call one text.
    async fn made_once(self, f: &FollowUps, created: &Value, phone: &str, at: u64) {
        match self {
            Self::NewCustomer => {
                let customer_id = created["servicetitan"]["customerId"].as_i64().unwrap();
                assert_eq!(
                    f.customers_with_phone(phone).await,
                    vec![customer_id],
                    "killed at call {at}: one customer"
                );
                assert_eq!(f.jobs_of(customer_id).await.len(), 1, "killed at call {at}: one job");
                assert_eq!(
                    f.customer_notes(customer_id).await.len(),
                    1,
                    "killed at call {at}: one note"
                );
            }
            Self::MissedCall => {
                let leads = f
                    .client
                    .find_leads(&servicetitan::models::crm::LeadFilter {
                        phone: Some(phone.to_owned()),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(leads.len(), 1, "killed at call {at}: one ServiceTitan lead");
                let texts: Vec<Value> = f
                    .delivered(None)
                    .into_iter()
                    .filter(|d| d["data"]["recipient"]["phone"] == format!("+1{phone}"))
                    .collect();
                assert_eq!(texts.len(), 1, "killed at call {at}: one text {texts:#?}");
            }
        }
    }
}

/// The lead creator's host killed at each of its AWS calls in turn (the demo kills it at one): the queue hands the
/// lead to another worker once the visibility timeout has passed, which finishes it with one of each record.
async fn killed_at_every_call(f: &FollowUps, shape: Shape) {
    use local_stack::faults::{FaultRequest, Kill};
    // The reference: how many AWS calls one such lead takes once the worker is warm (its first lead also reads the
    // credentials; a token refresh adds calls, never removes them).
    f.post_lead(shape.lead(98).0).await;
    f.t.stack.usage().reset();
    let (reference, _) = shape.lead(99);
    f.post_lead(reference.clone()).await;
    f.created(reference["leadId"].as_str().unwrap()).await;
    let calls: u64 = f.t.stack.usage().report().functions["LeadCreatorFunction"]
        .calls
        .values()
        .sum();
    println!("the lead creator's AWS calls for one lead: {calls}, each a kill point");
    assert!(calls >= 5, "a lead takes more AWS calls than {calls}");

    for at in 1..=calls {
        let (body, phone) = shape.lead(at);
        let id = body["leadId"].as_str().unwrap().to_owned();
        f.t.stack
            .faults()
            .apply(FaultRequest {
                kill: vec![Kill {
                    function: "LeadCreatorFunction".into(),
                    at_call: at as usize,
                }],
                ..FaultRequest::default()
            })
            .unwrap();
        let killed_before = f.t.stack.faults().report().killed.len();
        f.post_lead_only(body).await;
        f.settle().await;
        assert_eq!(
            f.t.stack.faults().report().killed.len(),
            killed_before + 1,
            "the kill at call {at} of {calls} fired"
        );
        f.t.stack.faults().clear();
        f.advance(SignedDuration::from_mins(7)).await;
        let created = f.created(&id).await;
        shape.made_once(f, &created, &phone, at).await;
    }
}

#[tokio::test]
async fn a_worker_killed_at_any_of_its_aws_calls_makes_no_customer_twice() {
    let f = stack().await;
    killed_at_every_call(&f, Shape::NewCustomer).await;
    f.stop().await;
}

#[tokio::test]
async fn a_worker_killed_at_any_of_its_aws_calls_texts_a_missed_call_once() {
    let f = FollowUps::start(&["missed_call_text_back"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    killed_at_every_call(&f, Shape::MissedCall).await;
    f.stop().await;
}

#[tokio::test]
async fn servicetitan_refusing_a_record_fails_the_lead_with_its_reason_and_a_retry_finishes_it() {
    let f = stack().await;
    // The settings' job type was deleted in ServiceTitan after they were saved.
    let registry = shared::tenants::TenantRegistry::new(f.t.stack.aws().dynamodb.clone(), f.t.resource("TenantsTable"));
    let good =
        f.t.admin(reqwest::Method::GET, &format!("/admin/tenants/{TENANT}/settings"), None)
            .await
            .body["settings"]
            .clone();
    let mut stale = good.clone();
    stale["jobTypeId"] = json!(999_999);
    registry.put_settings(TENANT, &stale, f.now()).await.unwrap();

    f.post_lead(lead(
        "chat-refused-1",
        "Kenji Sato",
        "512-555-0173",
        json!({"address": address("4501 Duval St", None, "78751")}),
    ))
    .await;
    let failed = f.lead("chat-refused-1").await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["error"]["code"], "servicetitan_refused");
    assert!(
        failed["error"]["message"].as_str().unwrap().contains("refused the job"),
        "{failed:#}"
    );
    assert!(
        failed["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"].as_str().unwrap().contains("JobType")),
        "ServiceTitan's field reason: {failed:#}"
    );
    let customer_id = failed["servicetitan"]["customerId"].as_i64().unwrap();
    let status =
        f.t.admin(reqwest::Method::GET, &format!("/admin/tenants/{TENANT}/status"), None)
            .await;
    assert_eq!(status.body["leads"]["failed"], 1, "{}", status.body);

    // A retry before the fix fails the same way; after it, the lead is finished with what it had.
    let not_failed =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/chat-refused-1/retry",
            Some(json!({"tenantId": TENANT})),
        )
        .await;
    assert_eq!(not_failed.status, 202);
    f.webhooks().await;
    assert_eq!(f.lead("chat-refused-1").await["status"], "failed");
    let reply =
        f.t.admin(
            reqwest::Method::PUT,
            &format!("/admin/tenants/{TENANT}/settings"),
            Some(good),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let retry =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/chat-refused-1/retry",
            Some(json!({"tenantId": TENANT})),
        )
        .await;
    assert_eq!(retry.status, 202, "{}", retry.body);
    f.webhooks().await;
    let created = f.created("chat-refused-1").await;
    assert_eq!(
        created["servicetitan"]["customerId"], customer_id,
        "the customer from the first attempt"
    );
    assert_eq!(f.customers_with_phone("5125550173").await, vec![customer_id]);
    assert_eq!(f.jobs_of(customer_id).await.len(), 1);
    let twice =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/chat-refused-1/retry",
            Some(json!({"tenantId": TENANT})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.body["error"]["code"].as_str()),
        (409, Some("not_failed"))
    );
    f.stop().await;
}

#[tokio::test]
async fn a_burst_of_100_leads_is_created_within_servicetitan_s_rate_limit() {
    let f = stack().await;
    let stats = || f.sandbox_stats();
    // On top of its 60/s limit, ServiceTitan throttles one request in ten at random moments.
    f.fault(json!({"pathContains": "/tenant/1001/", "status": 429, "errorRate": 0.1}))
        .await;
    let before = stats().await;
    f.clear_requests();
    let started = std::time::Instant::now();
    for i in 0..100 {
        let reply = f
            .post_lead_only(lead(
                &format!("burst-{i}"),
                &format!("Burst Customer{i}"),
                &format!("737-555-{:04}", 1000 + i),
                json!({"address": address(&format!("{} Burst Loop", 100 + i), None, "78758")}),
            ))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    f.webhooks().await;
    let after = stats().await;
    for i in 0..100 {
        let l = f.lead(&format!("burst-{i}")).await;
        assert_eq!(l["status"], "created", "burst-{i}: {l:#}");
    }
    let requests = f.requests();
    let throttled = requests.iter().filter(|r| r["status"] == 429).count();
    let jobs = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/jpm/v2/tenant/1001/jobs" && r["status"] == 200)
        .count();
    eprintln!(
        "{} requests in {:.1} s, {throttled} throttled and repeated, {} over the sandbox's own limit",
        requests.len(),
        started.elapsed().as_secs_f64(),
        after["rateLimited"].as_u64().unwrap() - before["rateLimited"].as_u64().unwrap()
    );
    assert!(throttled > 0, "the fault throttled some");
    assert_eq!(jobs, 100, "one job per lead, none twice");
    let customers = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/crm/v2/tenant/1001/customers" && r["status"] == 200)
        .count();
    assert_eq!(customers, 100);
    assert_eq!(f.t.queue_depth("LeadsDeadLetterQueue").await.0, 0);
    f.stop().await;
}

/// ServiceTitan slower than the invocation has left: the client stops before the deadline (less its margin), with
/// an error the queue retries, instead of being cut off mid-call with the lead held.
#[tokio::test]
async fn servicetitan_calls_stop_before_the_invocations_deadline() {
    let f = stack().await;
    f.fault(json!({"pathContains": "/customers", "latencyMs": 8000})).await;
    let started = std::time::Instant::now();
    let filter = servicetitan::models::crm::CustomerFilter {
        phone: Some("5125550100".into()),
        ..Default::default()
    };
    let deadline = shared::deadline::after(std::time::Duration::from_secs(6));
    let result = shared::deadline::within(deadline, f.client.find_customers(&filter)).await;
    let took = started.elapsed();
    let err = result.expect_err("the answer comes after the deadline");
    assert!(matches!(err, servicetitan::Error::OutOfTime { .. }), "{err}");
    assert!(err.is_transient(), "retried later");
    assert!(
        took < std::time::Duration::from_secs(6),
        "stopped before the invocation's end, with the margin to record it: {took:?}"
    );
    f.clear_faults().await;
    f.stop().await;
}

/// A lead whose worker died (or timed out) holding it stays `matching` only until its lease runs out: then a retry
/// takes it, and finishes it where it stopped.
#[tokio::test]
async fn a_lead_stuck_matching_past_its_lease_can_be_retried() {
    let f = stack().await;
    let body = lead(
        "chat-stuck-1",
        "Rosa Diaz",
        "512-555-0191",
        json!({"address": address("4600 Duval St", None, "78751")}),
    );
    f.post_lead_only(body).await;
    // A worker claims it and dies: no message left on the queue, the lead held.
    let sqs = &f.t.stack.aws().sqs;
    sqs.purge_queue()
        .queue_url(f.t.resource("LeadsQueue"))
        .send()
        .await
        .unwrap();
    let store = lead_runtime::store::LeadStore::new(f.t.stack.aws().dynamodb.clone(), f.t.resource("LeadsTable"));
    assert!(
        store
            .start_attempt(TENANT, "chat-stuck-1", f.now(), lead_runtime::create::LEASE)
            .await
            .unwrap()
    );
    assert_eq!(f.lead("chat-stuck-1").await["status"], "matching");
    let retry = || async {
        f.t.admin(
            reqwest::Method::POST,
            "/leads/chat-stuck-1/retry",
            Some(json!({"tenantId": TENANT})),
        )
        .await
    };
    let held = retry().await;
    assert_eq!(
        (held.status, held.body["error"]["code"].as_str()),
        (409, Some("not_failed"))
    );
    assert!(
        held.body["error"]["message"].as_str().unwrap().contains("lease"),
        "{}",
        held.body
    );

    f.advance(lead_runtime::create::LEASE + SignedDuration::from_secs(1))
        .await;
    let taken = retry().await;
    assert_eq!(taken.status, 202, "{}", taken.body);
    f.webhooks().await;
    let created = f.created("chat-stuck-1").await;
    assert_eq!(f.customers_with_phone("5125550191").await.len(), 1, "{created:#}");
    f.stop().await;
}
