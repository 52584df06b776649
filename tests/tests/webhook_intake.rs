//! The webhook intake end to end: HTTP API → intake → SQS (moto) → event processor → DynamoDB (moto).

use integration_tests::{KEY, TENANT, TestStack, attr_s, delivery, event_of};
use serde_json::json;
use shared::event_log::EventLog;
use shared::signing_keys::SigningKey;
use shared::tenants::TenantStatus;

#[tokio::test]
async fn a_signed_delivery_gives_exactly_one_message_and_one_processed_event() {
    let t = TestStack::start().await;
    let body = delivery("evt-1", TENANT, "estimate.sent", 77);

    let reply = t.deliver("", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["status"], "accepted");
    assert_eq!(reply.body["eventId"], "evt-1");
    assert_eq!(t.queue_depth("EventsQueue").await, (1, 0), "exactly one message queued");
    assert_eq!(
        attr_s(&t.event_record(TENANT, "evt-1").await.unwrap(), "status"),
        "accepted"
    );

    let report = t.stack.drain().await.unwrap();
    assert_eq!((report.messages_received, report.messages_failed), (1, 0));
    let record = t.event_record(TENANT, "evt-1").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "done");
    assert_eq!(attr_s(&record, "outcome"), "processed");
    assert_eq!(attr_s(&record, "attempts"), "1");
    assert_eq!(attr_s(&record, "event_name"), "estimate.sent");
    assert_eq!(attr_s(&record, "entity_id"), "77");
    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0));
    assert_eq!(attr_s(&t.tenant_record(TENANT).await, "last_webhook_event_id"), "evt-1");
    t.stop().await;
}

#[tokio::test]
async fn the_same_delivery_five_times_is_processed_once() {
    let t = TestStack::start().await;
    let body = delivery("evt-5x", TENANT, "invoice.created", 9);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let reply = t.deliver("", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        statuses.push(reply.body["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        statuses,
        ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    );
    assert_eq!(t.queue_depth("EventsQueue").await, (1, 0));
    t.stack.drain().await.unwrap();
    // A replay after processing is still a duplicate.
    assert_eq!(t.deliver("", &body).await.body["status"], "duplicate");
    assert_eq!(t.stack.drain().await.unwrap().messages_received, 0);
    let record = t.event_record(TENANT, "evt-5x").await.unwrap();
    assert_eq!(
        (attr_s(&record, "status").as_str(), attr_s(&record, "attempts").as_str()),
        ("done", "1")
    );
    assert_eq!(t.event_count().await, 1);
    t.stop().await;
}

#[tokio::test]
async fn a_crash_between_enqueue_and_record_still_has_one_effect() {
    let t = TestStack::start().await;
    let body = delivery("evt-crash", TENANT, "job.completed", 5);
    assert_eq!(t.deliver("", &body).await.status, 200);
    // The intake died after SendMessage and before recording: the record is missing, so the retry re-enqueues.
    t.stack
        .aws()
        .dynamodb
        .delete_item()
        .table_name(t.resource("EventsTable"))
        .key("tenant_id", aws_sdk_dynamodb::types::AttributeValue::S(TENANT.into()))
        .key(
            "event_id",
            aws_sdk_dynamodb::types::AttributeValue::S("evt-crash".into()),
        )
        .send()
        .await
        .unwrap();
    let retry = t.deliver("", &body).await;
    assert_eq!(retry.body["status"], "accepted");
    assert_eq!(t.queue_depth("EventsQueue").await, (2, 0), "two copies on the queue");

    // Both copies arrive in one batch and race: one claims the event, the other finds it held and goes back to
    // the queue as a copy delayed past the lease; then it finds the event done and does nothing.
    let report = t.stack.drain().await.unwrap();
    assert_eq!(
        (
            report.messages_received,
            report.messages_failed,
            report.messages_delayed
        ),
        (2, 0, 1)
    );
    let later = t.stack.advance(jiff::SignedDuration::from_secs(191)).await.unwrap();
    assert_eq!((later.messages_received, later.messages_failed), (1, 0));
    let record = t.event_record(TENANT, "evt-crash").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "done");
    assert_eq!(
        attr_s(&record, "attempts"),
        "1",
        "the second copy found it done and did nothing"
    );
    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0));
    assert_eq!(t.queue_depth("EventsDeadLetterQueue").await, (0, 0));
    t.stop().await;
}

#[tokio::test]
async fn a_worker_crash_after_claiming_is_retried_once_its_lease_expires() {
    let t = TestStack::start().await;
    let body = delivery("evt-lease", TENANT, "payment.posted", 3);
    assert_eq!(t.deliver("", &body).await.status, 200);

    // Another worker claimed the event and died before completing it.
    let events = EventLog::new(t.stack.aws().dynamodb.clone(), t.resource("EventsTable"));
    let event = event_of(&body);
    let now = shared::Clock::now(&*t.stack.clock());
    events
        .claim(&event, now, jiff::SignedDuration::from_secs(120))
        .await
        .unwrap();

    let first = t.stack.drain().await.unwrap();
    assert_eq!(
        (first.messages_received, first.messages_failed, first.messages_delayed),
        (1, 0, 1),
        "held elsewhere: requeued, delayed past the lease"
    );
    assert_eq!(
        t.queue_depth("EventsQueue").await.0,
        0,
        "invisible until the visibility timeout passes"
    );

    // The copy is due once the lease (120 s) has run out: it takes the event over.
    let later = t.stack.advance(jiff::SignedDuration::from_secs(191)).await.unwrap();
    assert_eq!(
        (later.retries_released, later.messages_received, later.messages_failed),
        (1, 1, 0)
    );
    let record = t.event_record(TENANT, "evt-lease").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "done");
    assert_eq!(attr_s(&record, "attempts"), "2");
    assert_eq!(t.queue_depth("EventsDeadLetterQueue").await, (0, 0));
    t.stop().await;
}

/// Waiting for another worker is not failing (issue 16 §4): a message that finds its event held for longer than
/// the queue's five receives would last goes back as delayed copies, and is processed once the holder's lease runs
/// out, instead of dead-lettering.
#[tokio::test]
async fn a_message_busy_for_longer_than_its_receives_last_is_requeued_not_dead_lettered() {
    let t = TestStack::start().await;
    let body = delivery("evt-long-lease", TENANT, "payment.posted", 3);
    assert_eq!(t.deliver("", &body).await.status, 200);
    // A worker holds the event for 20 minutes: five receives, 190 s apart, would be spent in 13.
    let events = EventLog::new(t.stack.aws().dynamodb.clone(), t.resource("EventsTable"));
    let now = shared::Clock::now(&*t.stack.clock());
    events
        .claim(&event_of(&body), now, jiff::SignedDuration::from_mins(20))
        .await
        .unwrap();

    let first = t.stack.drain().await.unwrap();
    assert_eq!((first.messages_failed, first.messages_delayed), (0, 1), "{first:?}");
    let report = t.stack.advance(jiff::SignedDuration::from_mins(22)).await.unwrap();
    assert_eq!(report.messages_failed, 0, "{report:?}");
    assert!(
        report.messages_delayed >= 9,
        "a copy every lease period (120 s): {report:?}"
    );
    assert_eq!(t.queue_depth("EventsDeadLetterQueue").await, (0, 0));
    let record = t.event_record(TENANT, "evt-long-lease").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "done");
    assert_eq!(
        attr_s(&record, "attempts"),
        "2",
        "the holder's claim, then the one that took it over"
    );
    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0));
    t.stop().await;
}

#[tokio::test]
async fn a_message_that_is_not_an_event_lands_in_the_dead_letter_queue_with_its_reason() {
    let t = TestStack::start().await;
    t.stack
        .aws()
        .sqs
        .send_message()
        .queue_url(t.resource("EventsQueue"))
        .message_body("{\"not\": \"an event\"}")
        .send()
        .await
        .unwrap();
    // Retrying could never help: it is parked at once, with the reason.
    let first = t.stack.drain().await.unwrap();
    assert_eq!((first.messages_received, first.messages_failed), (1, 0));
    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0));
    let parked = t
        .stack
        .aws()
        .sqs
        .receive_message()
        .queue_url(t.resource("EventsDeadLetterQueue"))
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let message = &parked.messages()[0];
    assert_eq!(message.body(), Some("{\"not\": \"an event\"}"));
    let reason = message.message_attributes().unwrap()["reason"].string_value().unwrap();
    assert!(reason.starts_with("not a ServiceTitan event"), "{reason}");
    t.stop().await;
}

#[tokio::test]
async fn rejected_deliveries_answer_json_errors_and_queue_nothing() {
    let t = TestStack::start().await;
    t.set_tenant("2002", TenantStatus::Disconnected).await;
    let good = delivery("evt-r", TENANT, "job.scheduled", 1);
    let sig = TestStack::sign(KEY, &good);
    let json = Some("application/json");

    let cases: Vec<(&str, integration_tests::Reply, u16, &str)> = vec![
        (
            "bad signature",
            t.send("POST", "", &good, Some(&TestStack::sign("wrong-key", &good)), json)
                .await,
            401,
            "invalid_signature",
        ),
        (
            "missing signature",
            t.send("POST", "", &good, None, json).await,
            401,
            "missing_signature",
        ),
        (
            "truncated signature",
            t.send("POST", "", &good, Some(&sig[..20]), json).await,
            401,
            "invalid_signature",
        ),
        (
            "tampered body",
            t.send(
                "POST",
                "",
                &good.replace("job.scheduled", "job.canceled"),
                Some(&sig),
                json,
            )
            .await,
            401,
            "invalid_signature",
        ),
        (
            "unknown tenant",
            {
                let b = delivery("evt-r", "4242", "job.scheduled", 1);
                t.send("POST", "", &b, Some(&TestStack::sign(KEY, &b)), json).await
            },
            404,
            "unknown_tenant",
        ),
        (
            "disconnected tenant",
            {
                let b = delivery("evt-r", "2002", "job.scheduled", 1);
                t.send("POST", "", &b, Some(&TestStack::sign(KEY, &b)), json).await
            },
            403,
            "tenant_disconnected",
        ),
        (
            "oversized body",
            {
                let b = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024));
                t.send("POST", "", &b, Some(&TestStack::sign(KEY, &b)), json).await
            },
            413,
            "payload_too_large",
        ),
        (
            "malformed JSON",
            {
                let b = "{\"eventId\": \"evt-r\", ";
                t.send("POST", "", b, Some(&TestStack::sign(KEY, b)), json).await
            },
            400,
            "invalid_json",
        ),
        (
            "no tenant in the envelope",
            {
                let b = "{\"eventId\": \"evt-r\", \"eventType\": \"job.scheduled\"}";
                t.send("POST", "", b, Some(&TestStack::sign(KEY, b)), json).await
            },
            400,
            "invalid_envelope",
        ),
        (
            "the route renames the signed body's event",
            t.send("POST", "/estimate.sold", &good, Some(&sig), json).await,
            400,
            "event_name_mismatch",
        ),
        (
            "a captured delivery older than the replay window",
            {
                let now = shared::Clock::now(&*t.stack.clock());
                let b = integration_tests::delivery_at(
                    "evt-old",
                    TENANT,
                    "job.scheduled",
                    now - shared::event_log::REPLAY_WINDOW - jiff::SignedDuration::from_hours(1),
                );
                t.send("POST", "", &b, Some(&TestStack::sign(KEY, &b)), json).await
            },
            400,
            "delivery_too_old",
        ),
        (
            "wrong method",
            t.send("GET", "", "", None, None).await,
            405,
            "method_not_allowed",
        ),
        (
            "wrong content type",
            t.send("POST", "", &good, Some(&sig), Some("text/plain")).await,
            415,
            "unsupported_media_type",
        ),
    ];
    for (name, reply, status, code) in &cases {
        assert_eq!(reply.status, *status, "{name}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], *code, "{name}: {}", reply.body);
        assert!(
            reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let wrong_method = &cases.iter().find(|c| c.0 == "wrong method").unwrap().1;
    assert_eq!(wrong_method.headers.get("allow").unwrap(), "POST");
    let no_tenant = &cases.iter().find(|c| c.0 == "no tenant in the envelope").unwrap().1;
    assert!(
        no_tenant.body["error"]["fields"][0]["field"]
            .as_str()
            .unwrap()
            .contains("/tenantId")
    );

    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0), "nothing was queued");
    assert_eq!(t.event_count().await, 0, "nothing was recorded");
    t.stop().await;
}

#[tokio::test]
async fn an_unauthenticated_caller_learns_nothing_about_tenants() {
    let t = TestStack::start().await;
    let known = delivery("e", TENANT, "job.scheduled", 1);
    let unknown = delivery("e", "4242", "job.scheduled", 1);
    let a = t
        .send(
            "POST",
            "",
            &known,
            Some("bm90IGEgc2lnbmF0dXJl"),
            Some("application/json"),
        )
        .await;
    let b = t
        .send(
            "POST",
            "",
            &unknown,
            Some("bm90IGEgc2lnbmF0dXJl"),
            Some("application/json"),
        )
        .await;
    assert_eq!((a.status, b.status), (401, 401));
    assert_eq!(a.body, b.body);
    t.stop().await;
}

#[tokio::test]
async fn unknown_event_names_are_parked_not_queued() {
    let t = TestStack::start().await;
    let body = delivery("evt-u", TENANT, "membership.renewed", 1);
    let reply = t.deliver("", &body).await;
    assert_eq!((reply.status, reply.body["status"].as_str()), (200, Some("parked")));
    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0));
    let record = t.event_record(TENANT, "evt-u").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "parked");
    assert_eq!(attr_s(&record, "event_name"), "membership.renewed");
    // A route names the event of a body that does not.
    let unnamed = json!({"eventId": "evt-v", "tenantId": TENANT, "data": {"id": 1}}).to_string();
    let routed = t.deliver("/estimate.sold", &unnamed).await;
    assert_eq!(routed.body["status"], "accepted");
    assert_eq!(
        attr_s(&t.event_record(TENANT, "evt-v").await.unwrap(), "event_name"),
        "estimate.sold"
    );
    t.stop().await;
}

#[tokio::test]
async fn with_sqs_down_the_intake_answers_5xx_and_records_nothing() {
    let closed = format!("http://127.0.0.1:{}", local_stack::moto::free_port().unwrap());
    let t = TestStack::start_with(|o| {
        o.function_aws_endpoints.insert("sqs".into(), closed);
    })
    .await;
    let reply = t.deliver("", &delivery("evt-down", TENANT, "job.completed", 1)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "temporarily_unavailable");
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        t.event_record(TENANT, "evt-down").await.is_none(),
        "nothing recorded as accepted"
    );
    assert_eq!(t.queue_depth("EventsQueue").await, (0, 0));
    t.stop().await;
}

#[tokio::test]
async fn signing_keys_rotate_without_a_gap() {
    // Cache TTL 0: every request reads Secrets Manager, so a newly added key is seen at once.
    let t = TestStack::start_with(|o| {
        o.function_env.insert("WEBHOOK_KEY_CACHE_SECONDS".into(), "0".into());
    })
    .await;
    let now = shared::Clock::now(&*t.stack.clock());
    let old = "old-key-old-key-old-key-old-key-0001";
    let new = "new-key-new-key-new-key-new-key-0002";
    t.set_keys(vec![
        SigningKey {
            id: "old".into(),
            secret: old.into(),
            not_after: Some(now + jiff::SignedDuration::from_hours(24)),
        },
        SigningKey {
            id: "new".into(),
            secret: new.into(),
            not_after: None,
        },
    ])
    .await;
    let b1 = delivery("rot-1", TENANT, "job.scheduled", 1);
    let b2 = delivery("rot-2", TENANT, "job.scheduled", 1);
    assert_eq!(t.deliver_signed_with(old, &b1).await, 200);
    assert_eq!(t.deliver_signed_with(new, &b2).await, 200);

    // A day later the old key has lapsed; the new one still works.
    t.stack.advance(jiff::SignedDuration::from_hours(25)).await.unwrap();
    let b3 = delivery("rot-3", TENANT, "job.scheduled", 1);
    let b4 = delivery("rot-4", TENANT, "job.scheduled", 1);
    assert_eq!(t.deliver_signed_with(old, &b3).await, 401);
    assert_eq!(t.deliver_signed_with(new, &b4).await, 200);
    t.stop().await;
}

const K1: &str = "key-one-key-one-key-one-key-one-01";
const K2: &str = "key-two-key-two-key-two-key-two-02";

fn key(id: &str, secret: &str) -> SigningKey {
    SigningKey {
        id: id.into(),
        secret: secret.into(),
        not_after: None,
    }
}

/// With the deployed cache (300 s), the cache and the keys' lapse share one clock: past the TTL on the stack's clock
/// a removed key is refused and its successor accepted, even though little wall time went by.
#[tokio::test]
async fn the_key_cache_ages_on_the_stacks_clock() {
    let t = TestStack::start().await;
    let (k1, k2) = (K1, K2);
    t.set_keys(vec![key("k1", k1)]).await;
    let body = |n: u32| delivery(&format!("cache-{n}"), TENANT, "job.scheduled", 1);
    assert_eq!(t.deliver_signed_with(k1, &body(1)).await, 200, "k1 read into the cache");

    // The operator replaces k1 by k2 (in Secrets Manager: the intake's cache still holds k1).
    t.set_keys(vec![key("k2", k2)]).await;
    t.stack.advance(jiff::SignedDuration::from_secs(301)).await.unwrap();
    assert_eq!(
        t.deliver_signed_with(k1, &body(2)).await,
        401,
        "past the TTL the cache is re-read: k1 is gone"
    );
    assert_eq!(t.deliver_signed_with(k2, &body(3)).await, 200);
    t.stop().await;
}

/// A delivery signed with a key nobody has added yet forces a re-read; it does not stop the next one, signed with a
/// key added a moment later, from forcing its own.
#[tokio::test]
async fn an_unknown_signature_does_not_hide_a_key_added_after_it() {
    let t = TestStack::start().await;
    let (k1, k2) = (K1, K2);
    t.set_keys(vec![key("k1", k1)]).await;
    let body = |n: u32| delivery(&format!("early-{n}"), TENANT, "job.scheduled", 1);
    assert_eq!(t.deliver_signed_with(k1, &body(1)).await, 200);
    t.stack.advance(jiff::SignedDuration::from_secs(2)).await.unwrap();
    // ServiceTitan (or anyone) signs with k2 before the operator has added it: refused, and the keys re-read.
    assert_eq!(t.deliver_signed_with(k2, &body(2)).await, 401);
    // The operator adds k2; two seconds later a delivery signed with it is accepted at its first attempt.
    t.set_keys(vec![key("k1", k1), key("k2", k2)]).await;
    t.stack.advance(jiff::SignedDuration::from_secs(2)).await.unwrap();
    assert_eq!(
        t.deliver_signed_with(k2, &body(3)).await,
        200,
        "the new key is seen at once"
    );
    t.stop().await;
}

#[tokio::test]
async fn unsigned_deliveries_only_when_the_deployment_allows_them() {
    let t = TestStack::start_with(|o| {
        o.parameters.insert("AllowUnsignedWebhooks".into(), "true".into());
    })
    .await;
    let body = delivery("evt-unsigned", TENANT, "call.missed", 1);
    assert_eq!(
        t.send("POST", "", &body, None, Some("application/json")).await.status,
        200
    );
    // A signature that is present must still be right.
    let forged = TestStack::sign("wrong", &body);
    assert_eq!(
        t.send("POST", "", &body, Some(&forged), Some("application/json"))
            .await
            .status,
        401
    );
    t.stop().await;
}

#[tokio::test]
async fn v1_style_deliveries_are_understood() {
    let t = TestStack::start().await;
    let body = r#"{"id":1401,"jobStatus":"Completed","eventId":"2024-05-16T17:47:37.0523962Z","webhookId":60805346,"__eventInfo":{"eventId":"2024-05-16T17:47:37.0523962Z","webhookId":60805346,"webhookType":"JobComplete"},"__tenantInfo":{"id":1001,"name":"demo"}}"#;
    let reply = t.deliver("", body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    t.stack.drain().await.unwrap();
    let record = t.event_record(TENANT, "2024-05-16T17:47:37.0523962Z").await.unwrap();
    assert_eq!(attr_s(&record, "event_name"), "job.completed");
    assert_eq!(attr_s(&record, "entity_id"), "1401");
    assert_eq!(attr_s(&record, "status"), "done");
    t.stop().await;
}

#[tokio::test]
async fn concurrent_claims_of_one_event_have_one_winner() {
    let t = TestStack::start().await;
    let events = EventLog::new(t.stack.aws().dynamodb.clone(), t.resource("EventsTable"));
    // Many rounds: a race that is lost one time in a few still shows.
    for round in 0..15 {
        let body = delivery(&format!("evt-race-{round}"), TENANT, "estimate.sold", 8);
        let event = event_of(&body);
        let now = jiff::Timestamp::now();
        let claims =
            futures::future::join_all((0..12).map(|_| events.claim(&event, now, jiff::SignedDuration::from_secs(120))))
                .await;
        let won = claims
            .iter()
            .filter(|c| matches!(c, Ok(shared::event_log::Claim::Acquired { .. })))
            .count();
        let lost = claims
            .iter()
            .filter(|c| matches!(c, Ok(shared::event_log::Claim::HeldElsewhere)))
            .count();
        assert_eq!((won, lost), (1, 11), "round {round}: {claims:?}");
        let record = t.event_record(TENANT, &event.event_id).await.unwrap();
        assert_eq!(attr_s(&record, "attempts"), "1", "round {round}");
    }
    t.stop().await;
}

#[tokio::test]
async fn an_event_failing_on_its_last_delivery_is_marked_failed_for_the_status_page() {
    let t = TestStack::start().await;
    assert_eq!(
        t.deliver("", &delivery("evt-doomed", TENANT, "JobCompleted", 1))
            .await
            .status,
        200
    );
    // The processor's dependency goes away after the event was accepted: every attempt fails after its claim.
    t.stack
        .aws()
        .dynamodb
        .delete_table()
        .table_name(t.resource("TenantsTable"))
        .send()
        .await
        .unwrap();
    t.stack.drain().await.unwrap();
    let record = t.event_record(TENANT, "evt-doomed").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "accepted", "released for a retry");
    t.stack.advance(jiff::SignedDuration::from_secs(6 * 191)).await.unwrap();
    let record = t.event_record(TENANT, "evt-doomed").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "failed");
    assert_eq!(attr_s(&record, "attempts"), "5");
    assert!(!attr_s(&record, "last_error").is_empty());
    assert_eq!(t.queue_depth("EventsDeadLetterQueue").await.0, 1);
    t.stop().await;
}
