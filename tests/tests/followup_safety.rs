//! What the follow-up engine promises under duplication, reordering, failure and people saying stop: nothing is
//! sent that ServiceTitan's live state, the opt-out ledger or the recipient's clock forbids, and nothing is lost
//! or sent twice.

use integration_tests::followups::FollowUps;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn sent_at(d: &Value) -> Timestamp {
    d["_timestamp"].as_str().unwrap().parse().unwrap()
}

/// Sends an estimate and returns its entity key.
async fn sent_estimate(
    f: &FollowUps,
    name: &str,
    phone: &str,
    state: &str,
    zip: &str,
) -> (String, integration_tests::followups::Household) {
    let h = f.household(name, phone, state, zip, None).await;
    let job = f.job(&h, f.now() + hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    (format!("estimate:{}", e.id), h)
}

#[tokio::test]
async fn the_same_event_five_times_is_one_run_and_one_message_per_step() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Five Times", "5125550301", "TX", "78704", None).await;
    let e = f.estimate(&f.job(&h, f.now() + hours(24 * 30)).await, "Options").await;
    // Five "sent" events from ServiceTitan (five event ids), one of them also delivered again as a retry.
    for _ in 0..5 {
        f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    }
    let entity = format!("estimate:{}", e.id);
    let runs = f.runs(&entity).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    // And the same delivery again (a ServiceTitan retry): a duplicate at the intake.
    let sandbox = f.t.stack.sandbox().unwrap();
    let sent = sandbox
        .deliveries()
        .into_iter()
        .filter(|d| d["eventType"] == "estimate.sent")
        .count();
    assert_eq!(sent, 5);
    f.advance(hours(73)).await;
    let steps: Vec<Value> = f.delivered(None).iter().map(|d| d["data"]["step"].clone()).collect();
    assert_eq!(steps, vec![json!("sms_24h"), json!("call_72h")]);
    f.stop().await;
}

#[tokio::test]
async fn sold_before_sent_sends_nothing() {
    let f = FollowUps::start(&["estimate_follow_up", "estimate_viewed"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Already Sold", "5125550302", "TX", "78704", None).await;
    let e = f.estimate(&f.job(&h, f.now() + hours(24 * 30)).await, "Options").await;
    f.control(&format!("estimates/{}/sell", e.id), json!({})).await;
    // ServiceTitan's "sent" and "viewed" arrive after the sale.
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    f.control(&format!("estimates/{}/view", e.id), json!({})).await;
    let runs = f.runs(&format!("estimate:{}", e.id)).await;
    assert!(runs["runs"].as_array().unwrap().is_empty(), "{runs}");
    assert!(
        runs["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entry"] == "not_enrolled")
    );
    f.advance(hours(80)).await;
    assert!(f.delivered(None).is_empty());
    f.stop().await;
}

#[tokio::test]
async fn quiet_hours_defer_to_eight_recipient_local_across_a_dst_change_in_another_zone() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    // The tenant is in Chicago; the customer in New York. Sent at 02:30 New York time on Saturday 2027-03-13, so
    // the 24-hour SMS falls at 03:30 on Sunday, after clocks sprang forward: it waits for 08:00 EDT, 12:00 UTC.
    f.advance_to("2027-03-13T07:30:00Z".parse().unwrap()).await;
    let (entity, h) = sent_estimate(&f, "New Yorker", "2125550303", "NY", "10001").await;
    let run = f.run(&entity, "estimate_follow_up").await;
    assert_eq!(run["timeZone"], "America/New_York");
    f.advance(hours(30)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["data"]["recipient"]["phone"], h.phone);
    assert_eq!(d[0]["data"]["recipient"]["timeZone"], "America/New_York");
    assert_eq!(sent_at(&d[0]), "2027-03-14T12:00:00Z".parse::<Timestamp>().unwrap());
    let timeline = f.runs(&entity).await["timeline"].clone();
    let deferred = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "deferred")
        .unwrap();
    assert_eq!(deferred["detail"]["reason"], "quiet_hours");
    assert_eq!(deferred["detail"]["until"], "2027-03-14T12:00:00.000Z");
    f.stop().await;
}

#[tokio::test]
async fn stop_ends_every_run_and_later_texts_to_that_number() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (entity, h) = sent_estimate(&f, "Says Stop", "5125550304", "TX", "78704").await;
    f.advance(hours(25)).await;
    assert_eq!(f.delivered(None).len(), 1);
    let reply = f
        .inbound(json!({"tenantId": "1001", "channel": "sms", "from": "(512) 555-0304", "text": "STOP"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["meaning"], "opted_out");
    assert_eq!(reply.body["haltedRuns"].as_array().unwrap().len(), 1);
    let run = f.run(&entity, "estimate_follow_up").await;
    assert_eq!(run["reason"], "opted_out");
    // The timeline says what decided.
    let halted = f.runs(&entity).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "halted")
        .cloned()
        .unwrap();
    assert_eq!(
        halted["detail"]["because"],
        json!({"channel": "sms", "rule": "keyword", "decidedBy": "stop"})
    );
    f.advance(hours(72)).await;
    assert_eq!(f.delivered(None).len(), 1, "no call after STOP");
    // The ledger holds it; a later estimate's text to the same number is skipped.
    let ledger =
        f.t.admin(reqwest::Method::GET, "/admin/tenants/1001/opt-outs", None)
            .await;
    assert_eq!(ledger.body["optOuts"][0]["address"], h.phone);
    // A STOP by text stops AI calls to the number too.
    assert_eq!(ledger.body["optOuts"][0]["channels"], json!(["sms", "voice"]));
    let job = f.job(&h, f.now() + hours(24 * 30)).await;
    let e2 = f.estimate(&job, "Second").await;
    f.control(&format!("estimates/{}/send", e2.id), json!({})).await;
    f.advance(hours(25)).await;
    assert_eq!(f.delivered(None).len(), 1);
    let timeline = f.runs(&format!("estimate:{}", e2.id)).await["timeline"].clone();
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["entry"] == "skipped" && e["detail"]["reason"] == "opted_out")
    );
    // Removed from the ledger by the office (the customer opted back in): texts resume.
    let removed =
        f.t.admin(
            reqwest::Method::DELETE,
            &format!("/admin/tenants/1001/opt-outs/{}", h.phone.replace('+', "%2B")),
            None,
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(
        f.t.admin(reqwest::Method::GET, "/admin/tenants/1001/opt-outs", None)
            .await
            .body["optOuts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    f.stop().await;
}

#[tokio::test]
async fn a_reply_halts_the_runs_on_that_estimate() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (entity, _) = sent_estimate(&f, "Replies", "5125550305", "TX", "78704").await;
    f.advance(hours(25)).await;
    let reply = f.inbound(json!({"tenantId": "1001", "channel": "sms", "from": "+15125550305", "text": "Can you stop by Tuesday to go over it?"})).await;
    assert_eq!(
        (reply.status, reply.body["meaning"].as_str()),
        (200, Some("reply")),
        "{}",
        reply.body
    );
    assert_eq!(f.run(&entity, "estimate_follow_up").await["reason"], "replied");
    f.advance(hours(72)).await;
    assert_eq!(f.delivered(None).len(), 1, "no call: a person is talking now");
    // The same reply again changes nothing more.
    let again = f.inbound(json!({"tenantId": "1001", "channel": "sms", "from": "+15125550305", "text": "Can you stop by Tuesday to go over it?"})).await;
    assert!(again.body["haltedRuns"].as_array().unwrap().is_empty());
    // Bad input: every field named.
    let bad = f.inbound(json!({"tenantId": "x", "channel": "fax"})).await;
    assert_eq!(bad.status, 400);
    let fields: Vec<&str> = bad.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["/tenantId", "/channel", "/from", "/text"]);
    // A tenant this deployment does not know: answered, recorded nowhere but the ledger (a reply records nothing).
    let unknown = f
        .inbound(json!({"tenantId": "4242", "channel": "sms", "from": "+15125550305", "text": "hi"}))
        .await;
    assert_eq!(
        (
            unknown.status,
            unknown.body["tenantStatus"].as_str(),
            unknown.body["meaning"].as_str()
        ),
        (200, Some("unknown"), Some("reply"))
    );
    f.stop().await;
}

#[tokio::test]
async fn the_per_recipient_cap_defers_across_recipes() {
    let f = FollowUps::start(
        &["estimate_follow_up"],
        json!({"contactCap": {"messages": 1, "hours": 24}}),
    )
    .await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Two Estimates", "5125550306", "TX", "78704", None).await;
    let job = f.job(&h, start + hours(24 * 30)).await;
    let a = f.estimate(&job, "Furnace").await;
    let b = f.estimate(&job, "Air conditioner").await;
    f.control(&format!("estimates/{}/send", a.id), json!({})).await;
    f.control(&format!("estimates/{}/send", b.id), json!({})).await;
    f.advance(hours(25)).await;
    assert_eq!(f.delivered(None).len(), 1, "one text per 24 h to one person");
    f.advance(hours(24)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 2);
    let gap = sent_at(&d[1]).duration_since(sent_at(&d[0]));
    assert!(
        gap >= hours(24) && gap < hours(24) + SignedDuration::from_secs(5),
        "{gap:?}"
    );
    let mut deferred_by_cap = false;
    for id in [a.id, b.id] {
        let timeline = f.runs(&format!("estimate:{id}")).await["timeline"].clone();
        deferred_by_cap |= timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["entry"] == "deferred" && e["detail"]["reason"] == "cap");
    }
    assert!(deferred_by_cap);
    f.stop().await;
}

#[tokio::test]
async fn the_sink_down_for_an_hour_gives_exactly_one_delivery_per_step_after_it_recovers() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let (entity, _) = sent_estimate(&f, "Sink Down", "5125550307", "TX", "78704").await;
    f.advance(hours(24) - SignedDuration::from_mins(1)).await;
    f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour {
        status: Some(503),
        for_seconds: Some(3600),
        ..Default::default()
    });
    // Retries back off to at most an hour apart (with jitter): within three hours one has landed after the outage.
    f.advance(hours(3)).await;
    let attempts: Vec<_> = f.t.stack.sink().deliveries();
    let refused = attempts.iter().filter(|d| d.status == 503).count();
    assert!(refused >= 5, "retried with backoff while down: {refused}");
    let d = f.delivered(None);
    assert_eq!(d.len(), 1, "exactly one accepted delivery");
    let ids: std::collections::BTreeSet<_> = attempts.iter().map(|a| a.webhook_id.clone()).collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
    let bodies: std::collections::BTreeSet<String> = attempts.iter().map(|a| a.body.to_string()).collect();
    assert_eq!(bodies.len(), 1, "and the same body, byte for byte: {bodies:#?}");
    let stamped: Timestamp = d[0]["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        stamped < start + hours(25),
        "the body carries the step's moment, not the attempt's"
    );
    assert!(sent_at(&d[0]) >= start + hours(25), "delivered after the outage");
    let timeline = f.runs(&entity).await["timeline"].clone();
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["entry"] == "retry")
            .count()
            >= 5
    );
    // The call goes on schedule.
    f.advance(hours(46)).await;
    assert_eq!(f.delivered(None).len(), 2);
    f.stop().await;
}

#[tokio::test]
async fn servicetitan_failure_storms_lose_nothing() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Storm", "5125550308", "TX", "78704", None).await;
    let e = f.estimate(&f.job(&h, f.now() + hours(24 * 30)).await, "Options").await;
    let sandbox = f.sandbox_url();
    let http = reqwest::Client::new();
    // ServiceTitan is down for 15 minutes as the "sent" webhook is processed...
    http.post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({"pathContains": "/estimates", "status": 503, "outageSeconds": 900}))
        .send()
        .await
        .unwrap();
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    let entity = format!("estimate:{}", e.id);
    assert!(f.runs(&entity).await["runs"].as_array().unwrap().is_empty());
    let sent_event =
        f.t.stack
            .sandbox()
            .unwrap()
            .deliveries()
            .into_iter()
            .find(|d| d["eventType"] == "estimate.sent")
            .unwrap();
    let record =
        f.t.event_record("1001", sent_event["eventId"].as_str().unwrap())
            .await
            .unwrap();
    assert_eq!(
        integration_tests::attr_s(&record, "status"),
        "accepted",
        "not lost: waiting for a retry"
    );
    assert!(integration_tests::attr_s(&record, "last_error").contains("ServiceTitan"));
    // ...and the event is tried again, with backoff, until ServiceTitan is back.
    f.advance(SignedDuration::from_mins(40)).await;
    assert_eq!(f.run(&entity, "estimate_follow_up").await["status"], "active");
    // Rate limited (429) half the time when the SMS fires, then down for 10 minutes when the call does.
    http.delete(format!("{sandbox}/_sandbox/faults")).send().await.unwrap();
    http.post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({"pathContains": "/crm/", "status": 429, "errorRate": 0.5}))
        .send()
        .await
        .unwrap();
    f.advance_through_failures(hours(24)).await;
    assert_eq!(f.delivered(None).len(), 1);
    http.delete(format!("{sandbox}/_sandbox/faults")).send().await.unwrap();
    // The call is due 72 hours after the estimate was sent; ServiceTitan goes down five minutes before.
    f.advance_to(start + hours(72) - SignedDuration::from_mins(5)).await;
    assert_eq!(f.delivered(None).len(), 1);
    http.post(format!("{sandbox}/_sandbox/faults"))
        .json(&json!({"pathContains": "/tenant/", "status": 500, "outageSeconds": 600}))
        .send()
        .await
        .unwrap();
    f.advance_through_failures(hours(1)).await;
    let d = f.delivered(None);
    assert_eq!(
        d.iter()
            .map(|d| d["data"]["step"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["sms_24h", "call_72h"]
    );
    let timeline = f.runs(&entity).await["timeline"].clone();
    assert!(
        timeline.as_array().unwrap().iter().any(|e| e["entry"] == "retry"),
        "the call was retried through the outage"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_poison_follow_up_message_is_parked_with_its_reason_and_the_rest_go_on() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (_, _) = sent_estimate(&f, "Goes On", "5125550309", "TX", "78704").await;
    f.t.stack
        .aws()
        .sqs
        .send_message()
        .queue_url(f.t.resource("FollowUpsQueue"))
        .message_body("{\"kind\": \"followup.step\", \"tenantId\": 1001}")
        .send()
        .await
        .unwrap();
    f.advance(hours(25)).await;
    assert_eq!(f.delivered(None).len(), 1, "the real follow-up went");
    let parked =
        f.t.stack
            .aws()
            .sqs
            .receive_message()
            .queue_url(f.t.resource("FollowUpsDeadLetterQueue"))
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
    assert_eq!(parked.messages().len(), 1);
    let reason = parked.messages()[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(reason.starts_with("not a follow-up step message"), "{reason}");
    f.stop().await;
}

#[tokio::test]
async fn a_disconnect_mid_run_sends_nothing_more() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (entity, _) = sent_estimate(&f, "Disconnects", "5125550310", "TX", "78704").await;
    f.advance(hours(25)).await;
    assert_eq!(f.delivered(None).len(), 1);
    let reply =
        f.t.admin(reqwest::Method::DELETE, "/admin/tenants/1001/servicetitan", None)
            .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["runsHalted"], 1);
    assert_eq!(
        f.run(&entity, "estimate_follow_up").await["reason"],
        "tenant_disconnected"
    );
    f.advance(hours(72)).await;
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn servicetitan_do_not_text_skips_the_text_but_not_the_call() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (entity, h) = sent_estimate(&f, "No Texts", "5125550311", "TX", "78704").await;
    f.control(
        &format!("customers/{}/do-not-text", h.customer_id),
        json!({"doNotText": true}),
    )
    .await;
    f.advance(hours(73)).await;
    let d = f.delivered(None);
    assert_eq!(
        d.iter()
            .map(|d| d["data"]["channel"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["voice"]
    );
    let timeline = f.runs(&entity).await["timeline"].clone();
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["entry"] == "skipped" && e["detail"]["reason"] == "servicetitan_do_not_text")
    );
    let status =
        f.t.admin(reqwest::Method::GET, "/admin/tenants/1001/status", None)
            .await;
    assert_eq!(status.body["followUps"]["sends"], 1);
    assert_eq!(status.body["followUps"]["suppressions"], 1);
    f.stop().await;
}

#[test]
fn the_payload_schema_rejects_what_it_should() {
    let good = json!({"type": "followup.requested", "timestamp": "2026-12-02T16:00:01.000Z", "data": {
        "tenantId": "1001", "runId": "r", "recipe": "estimate_follow_up", "step": "sms_24h", "stepIndex": 0,
        "attempt": 1, "channel": "sms", "intent": "estimate_follow_up", "messageClass": "transactional",
        "recipient": {"name": "Mary", "phone": "+15125550181", "email": null, "timeZone": "America/Chicago"},
        "entity": {"kind": "estimate", "id": "1", "number": null, "amount": "10.00", "balance": null, "dueDate": null, "start": null, "links": {}},
        "message": {"text": "Hi"},
        "consent": {"basis": "customer_record", "source": "servicetitan_contact", "at": null, "written": false, "attestedBy": null}}});
    assert!(
        integration_tests::followups::payload_errors(&good).is_empty(),
        "{:?}",
        integration_tests::followups::payload_errors(&good)
    );
    let mut call = good.clone();
    call["data"]["channel"] = json!("voice");
    assert!(
        !integration_tests::followups::payload_errors(&call).is_empty(),
        "an AI call rests on consent, not a record"
    );
    let mut bad = good.clone();
    bad["data"]["recipient"]["phone"] = Value::Null;
    bad["data"]["channel"] = json!("fax");
    bad["data"]["extra"] = json!(1);
    assert_eq!(
        integration_tests::followups::payload_errors(&bad).len(),
        2,
        "channel and extra; phone only for sms/voice"
    );
    bad["data"]["channel"] = json!("sms");
    assert!(
        !integration_tests::followups::payload_errors(&bad).is_empty(),
        "an SMS needs a phone"
    );
}
