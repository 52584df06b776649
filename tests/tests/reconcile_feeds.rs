//! With ServiceTitan's webhooks off, the reconciler is the path: every follow-up still starts and stops, within one
//! reconcile interval, from what the export feeds say.

use integration_tests::followups::FollowUps;
use integration_tests::reconcile::log_to_test_output;
use jiff::SignedDuration;
use serde_json::json;

#[tokio::test]
async fn with_webhooks_off_an_estimate_is_followed_up_and_its_sale_stops_the_call() {
    log_to_test_output();
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    // The first reconcile reads the lookback; from then on the feeds are live.
    f.reconcile_now().await;
    f.webhooks_off();
    let h = f.household("Avery Stone", "512-555-0190", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    let estimate = f.estimate(&job, "Heat pump options").await;
    f.control_only(&format!("estimates/{}/send", estimate.id), json!({}))
        .await;

    // Within one interval the estimate's run exists, though no webhook came.
    f.advance(SignedDuration::from_mins(5)).await;
    let run = f.run(&format!("estimate:{}", estimate.id), "estimate_follow_up").await;
    assert_eq!(run["status"], "active", "{run:#}");
    let feed = f.feed("estimates").await;
    assert!(feed.webhook_gaps >= 1, "{feed:?}");

    f.advance(SignedDuration::from_hours(24)).await;
    assert_eq!(f.delivered(run["runId"].as_str()).len(), 1, "the 24-hour text");

    f.control_only(&format!("estimates/{}/sell", estimate.id), json!({}))
        .await;
    f.advance(SignedDuration::from_mins(5)).await;
    let run = f.run(&format!("estimate:{}", estimate.id), "estimate_follow_up").await;
    assert_eq!(run["status"], "halted", "{run:#}");
    f.advance(SignedDuration::from_hours(72)).await;
    assert_eq!(f.delivered(run["runId"].as_str()).len(), 1, "no call after the sale");
    f.stop().await;
}

#[tokio::test]
async fn one_change_seen_by_the_webhook_and_by_the_reconciler_has_one_effect_in_either_order() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    f.reconcile_now().await;
    let h = f.household("Blair Ortiz", "512-555-0191", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;

    // Webhook first: the reconciler only confirms.
    let first = f.estimate(&job, "Water heater").await;
    f.control(&format!("estimates/{}/send", first.id), json!({})).await;
    f.reconcile_now().await;
    let feed = f.feed("estimates").await;
    assert!(feed.confirmed >= 1, "{feed:?}");
    assert_eq!(feed.webhook_gaps, 0, "{feed:?}");

    // The reconciler first (the webhook late): the webhook then changes nothing.
    f.webhooks_off();
    let second = f.estimate(&job, "Softener").await;
    f.control_only(&format!("estimates/{}/send", second.id), json!({}))
        .await;
    f.reconcile_now().await;
    assert_eq!(f.feed("estimates").await.webhook_gaps, 1);
    let late = json!({"eventId": "late-webhook-1", "tenantId": "1001", "occurredAt": f.now().to_string(),
                      "data": {"id": second.id}});
    assert_eq!(f.webhook("estimate.sent", late).await.status, 200);

    f.advance(SignedDuration::from_hours(25)).await;
    for e in [&first, &second] {
        let runs = f.runs(&format!("estimate:{}", e.id)).await;
        assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs:#}");
        let run_id = runs["runs"][0]["runId"].as_str().unwrap();
        assert_eq!(
            f.delivered(Some(run_id)).len(),
            1,
            "one 24-hour text for estimate {}",
            e.id
        );
    }
    f.stop().await;
}

#[tokio::test]
async fn a_crash_between_queueing_a_page_and_moving_the_cursor_re_reads_it_and_doubles_nothing() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    f.reconcile_now().await;
    f.webhooks_off();
    let h = f.household("Casey Nguyen", "512-555-0192", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    let estimate = f.estimate(&job, "Duct cleaning").await;
    let before = f.feed("estimates").await;

    // The crashed attempt: the page's changes are on the events queue, the cursor did not move.
    let queued = f
        .reconciler()
        .queue_next_page("1001", reconcile::feeds::Feed::Estimates)
        .await
        .unwrap();
    assert!(queued.changes >= 1, "{queued:?}");
    assert_eq!(f.feed("estimates").await.cursor, before.cursor, "the cursor stayed");

    // The next reconcile reads the same page again, before the first copies were even processed.
    f.reconcile_now().await;
    let after = f.feed("estimates").await;
    assert_ne!(after.cursor, before.cursor, "now the cursor moves past it");
    let runs = f.runs(&format!("estimate:{}", estimate.id)).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs:#}");
    let events = f.t.event_count().await;
    f.advance(SignedDuration::from_hours(25)).await;
    let run_id = runs["runs"][0]["runId"].as_str().unwrap();
    assert_eq!(f.delivered(Some(run_id)).len(), 1);
    assert!(
        f.t.event_count().await >= events,
        "every copy was recorded, one acted on"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_missed_call_in_the_phone_log_is_texted_back_once() {
    let f = FollowUps::start(&["missed_call_text_back"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    f.reconcile_now().await;
    let call = f.control_only("calls", json!({"from": "(512) 555-0177"})).await;
    f.reconcile_now().await;
    let lead = f.created(&format!("st-call-{}", call["id"])).await;
    assert_eq!(lead["source"], "missed_call");
    let texts: Vec<_> = f
        .delivered(None)
        .into_iter()
        .filter(|d| d["data"]["recipe"] == "missed_call_text_back")
        .collect();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert_eq!(texts[0]["data"]["recipient"]["phone"], "+15125550177");
    assert!(
        texts[0]["data"]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("https://book.example.com/lone-star"),
        "{:#}",
        texts[0]
    );

    // An answered call is not texted; reading the log again from before both calls texts nobody twice.
    f.control_only("calls", json!({"from": "512-555-0178", "answered": true}))
        .await;
    let rerun =
        f.t.admin(
            reqwest::Method::POST,
            "/admin/tenants/1001/reconcile",
            Some(json!({"from": (f.now() - SignedDuration::from_hours(1)).to_string(), "feeds": ["calls"]})),
        )
        .await;
    assert_eq!(rerun.status, 202, "{}", rerun.body);
    f.webhooks().await;
    let texts = f
        .delivered(None)
        .into_iter()
        .filter(|d| d["data"]["recipe"] == "missed_call_text_back")
        .count();
    assert_eq!(texts, 1);
    f.stop().await;
}

#[tokio::test]
async fn a_tenant_whose_servicetitan_is_down_does_not_hold_up_another() {
    let mut f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (other, client) = f.second_tenant(&["estimate_follow_up"]).await;
    f.reconcile_now().await;
    f.webhooks_off();
    // The second tenant's estimate, made through its own API client.
    let demo_client = std::mem::replace(&mut f.client, client);
    let h = f.household("Devon Hale", "512-555-0193", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    let estimate = f.estimate(&job, "Repipe").await;
    f.client = demo_client;
    f.fault(json!({"pathContains": "/tenant/1001/", "status": 503, "errorRate": 1.0}))
        .await;

    f.advance(SignedDuration::from_mins(5)).await;
    let runs = f.runs_of(&other, &format!("estimate:{}", estimate.id)).await;
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "the healthy tenant's run, on time: {runs:#}"
    );
    let down = f.feed("estimates").await;
    assert!(down.last_error.as_deref().unwrap_or("").contains("503"), "{down:?}");
    let status =
        f.t.admin(reqwest::Method::GET, "/admin/tenants/1001/status", None)
            .await;
    assert!(
        status.body["reconcile"]["feeds"][0]["lastError"].is_string(),
        "{:#}",
        status.body["reconcile"]
    );
    f.clear_faults().await;
    f.advance(SignedDuration::from_mins(5)).await;
    assert!(f.feed("estimates").await.last_error.is_none(), "recovered");
    f.stop().await;
}

#[tokio::test]
async fn a_three_hour_webhook_outage_mid_story_loses_nothing_and_a_late_replay_doubles_nothing() {
    // The sandbox's overdue control dates the invoice back, before the tenant started dunning: included.
    let f = FollowUps::start(
        &["estimate_follow_up", "invoice_dunning"],
        json!({"includeExistingOverdue": true}),
    )
    .await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    f.reconcile_now().await;
    let buyer = f.household("Harper Lane", "512-555-0215", "TX", "78704", None).await;
    let buyer_job = f.job(&buyer, start + SignedDuration::from_hours(24 * 30)).await;
    let estimate = f.estimate(&buyer_job, "Attic insulation").await;
    f.control(&format!("estimates/{}/send", estimate.id), json!({})).await;
    let payer = f
        .household("Indy Marsh", "512-555-0216", "TX", "78704", Some("indy@example.com"))
        .await;
    let payer_job = f.job(&payer, start).await;
    let done = f
        .control(&format!("jobs/{}/complete", payer_job.id), json!({"total": "90.00"}))
        .await;
    let invoice = done["invoiceId"].as_i64().unwrap();
    f.control(&format!("invoices/{invoice}/overdue"), json!({})).await;
    f.advance(SignedDuration::from_mins(5)).await;
    let dunning = f.run(&format!("invoice:{invoice}"), "invoice_dunning").await;
    assert_eq!(
        f.delivered(dunning["runId"].as_str()).len(),
        1,
        "dunning's text, before the outage"
    );

    // Our webhook URL stops answering for three hours: ServiceTitan's retries all fail and it gives up.
    f.t.stack
        .sandbox()
        .unwrap()
        .configure_webhooks(servicetitan_sandbox::WebhookConfig {
            callback_url: "http://127.0.0.1:9/webhooks/servicetitan".into(),
            hmac_key: Some(local_stack::demo::DEMO_KEY.to_owned()),
            per_event_urls: true,
            ..Default::default()
        });
    f.advance(SignedDuration::from_hours(1)).await;
    f.control_only(&format!("estimates/{}/sell", estimate.id), json!({}))
        .await;
    let payment = f
        .control_only("payments", json!({"invoiceId": invoice, "amount": "90.00"}))
        .await;
    for _ in 0..24 {
        f.advance(SignedDuration::from_mins(5)).await;
    }
    let failed: Vec<_> =
        f.t.stack
            .sandbox()
            .unwrap()
            .deliveries()
            .into_iter()
            .filter(|d| d["state"] == "failed")
            .collect();
    assert!(
        failed.len() >= 2,
        "the sale's and the payment's webhooks were lost: {failed:#?}"
    );
    f.webhooks_on();

    // The reconciler saw both: the estimate's run stopped before its text, dunning stopped before its email.
    let sold = f.run(&format!("estimate:{}", estimate.id), "estimate_follow_up").await;
    assert_eq!(sold["reason"], "estimate.sold", "{sold:#}");
    let paid = f.run(&format!("invoice:{invoice}"), "invoice_dunning").await;
    assert_eq!(paid["status"], "halted", "{paid:#}");

    // Someone presses replay in ServiceTitan a day later: the old deliveries change nothing.
    f.advance(SignedDuration::from_hours(24)).await;
    for d in &failed {
        let id = match d["eventType"].as_str().unwrap() {
            "estimate.sold" => json!(estimate.id),
            "payment.posted" => payment["id"].clone(),
            _ => continue,
        };
        let body = json!({"eventId": d["eventId"], "tenantId": "1001", "occurredAt": f.now().to_string(),
                          "data": {"id": id, "invoiceId": invoice}});
        assert_eq!(f.webhook(d["eventType"].as_str().unwrap(), body).await.status, 200);
    }
    f.advance(SignedDuration::from_hours(24 * 4)).await;
    assert!(
        f.delivered(sold["runId"].as_str()).is_empty(),
        "no text, no call for the sold estimate"
    );
    assert_eq!(
        f.delivered(paid["runId"].as_str()).len(),
        1,
        "only the text from before the outage"
    );
    assert_eq!(
        f.runs(&format!("estimate:{}", estimate.id)).await["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.runs(&format!("invoice:{invoice}")).await["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    f.stop().await;
}

#[tokio::test]
async fn two_reconciles_of_one_tenant_never_overlap_and_a_long_one_hands_over_to_a_continuation() {
    let f = FollowUps::start_with(&["estimate_follow_up", "invoice_dunning"], json!({}), |o| {
        // The whole seeded history, one page per feed per reconcile.
        o.function_env.insert("RECONCILE_LOOKBACK_DAYS".into(), "70".into());
        o.function_env.insert("RECONCILE_MAX_PAGES_PER_FEED".into(), "1".into());
    })
    .await;
    let reconciler = f.reconciler();
    let request = |reason| reconcile::messages::ReconcileRequest {
        tenant_id: "1001".into(),
        requested_at: f.now(),
        reason,
    };
    // One reconcile holds the tenant: another finds it busy (its message comes back later).
    let store = f.reconcile_store();
    assert!(
        store
            .acquire("1001", "someone-else", f.now(), SignedDuration::from_secs(150))
            .await
            .unwrap()
    );
    let busy = reconciler
        .reconcile(&request(reconcile::messages::Reason::Rerun), "me")
        .await;
    assert!(matches!(busy, Err(reconciler::ReconcileError::Busy)), "{busy:?}");
    store
        .release("1001", "someone-else", "test", true, f.now())
        .await
        .unwrap();

    // More estimates than one export page holds (50).
    let h = f.household("Page Filler", "512-555-0217", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    for i in 0..55 {
        f.estimate(&job, &format!("Option {i}")).await;
    }
    // With one page per feed, the first reconcile reads a page of each and queues its own continuation.
    let outcome = reconciler
        .reconcile(&request(reconcile::messages::Reason::Rerun), "me")
        .await
        .unwrap();
    let reconciler::Outcome::Reconciled(first) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(first.continued, "{first:?}");
    assert!(
        f.t.queue_depth("ReconcileQueue").await.0 >= 1,
        "the continuation is queued"
    );
    // Draining runs the continuations until every feed has been read to its end.
    f.webhooks().await;
    for feed in ["estimates", "invoices", "payments"] {
        let state = f.feed(feed).await;
        assert!(state.complete_as_of.is_some(), "{state:?}");
    }
    let first_estimates = first.feeds.iter().find(|o| o.feed.as_str() == "estimates").unwrap();
    assert!(f.feed("estimates").await.records > first_estimates.progress.records);
    f.stop().await;
}

#[tokio::test]
async fn bad_re_runs_and_previews_get_field_reasons_and_change_nothing() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.reconcile_now().await;
    let before = f.feed("estimates").await;
    let future = (f.now() + SignedDuration::from_hours(1)).to_string();
    // 400 for what docs/api.yaml's schema refuses; 422 for a well-formed `from` outside the window it must fall in.
    for (body, field, status) in [
        (json!({}), "/from", 400),
        (json!({"from": "last tuesday"}), "/from", 400),
        (json!({"from": future}), "/from", 422),
        (json!({"from": "2020-01-01"}), "/from", 422),
        (
            json!({"from": "2026-12-01", "feeds": ["estimates", "leads"]}),
            "/feeds",
            400,
        ),
        (json!({"from": "2026-12-01", "colour": "red"}), "/", 400),
    ] {
        let reply =
            f.t.admin(
                reqwest::Method::POST,
                "/admin/tenants/1001/reconcile",
                Some(body.clone()),
            )
            .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        let fields: Vec<&str> = reply.body["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {}", reply.body);
    }
    let after = f.feed("estimates").await;
    assert_eq!(
        (after.cursor, after.generation),
        (before.cursor, before.generation),
        "no feed was reset"
    );
    for query in ["days=0", "days=31", "recipes=spam"] {
        let reply =
            f.t.admin(
                reqwest::Method::GET,
                &format!("/admin/tenants/1001/preview?{query}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
    }
    f.stop().await;
}

/// One tenant item that cannot be read (a bad environment, written by hand or by an old version) is skipped and
/// counted; every other tenant is still reconciled and its token refreshed.
#[tokio::test]
async fn a_malformed_tenant_record_stops_no_other_tenants_reconcile() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    f.t.stack
        .aws()
        .dynamodb
        .put_item()
        .table_name(f.t.resource("TenantsTable"))
        .item("tenant_id", s("3003"))
        .item("status", s("connected"))
        .item("environment", s("mars"))
        .send()
        .await
        .unwrap();
    let summary = f.t.stack.invoke("ReconcileFanOutFunction", json!({})).await.unwrap();
    assert_eq!(
        (summary["tenants"].as_u64(), summary["malformed"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    assert_eq!(summary["queued"], 1);
    let refresh = f.t.stack.invoke("TokenRefreshFunction", json!({})).await.unwrap();
    assert_eq!(
        (refresh["tenants"].as_u64(), refresh["malformed"].as_u64()),
        (Some(1), Some(1)),
        "{refresh}"
    );
    f.stop().await;
}
