//! The reconciler, lead creation and the engine calling one tenant at once stay under ServiceTitan's 60 requests/s
//! together, through the tenant's shared request budget: the sandbox's own limiter never has to refuse a request,
//! nothing is lost, and the reconciler (background work) yields to the leads (interactive work).

use std::time::Instant;

use aws_lambda_events::event::sqs::SqsMessage;
use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use integration_tests::leads::{address, lead};
use reconcile::messages::{Reason, ReconcileRequest};
use serde_json::{Value, json};

const LEADS: usize = 60;
const CREATORS: usize = 3;

fn message(lead_id: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(format!("load-{lead_id}"));
    m.body = Some(json!({"kind": "lead.create", "tenantId": TENANT, "leadId": lead_id}).to_string());
    m.attributes.insert("ApproximateReceiveCount".into(), "1".into());
    m
}

async fn stats(f: &FollowUps) -> Value {
    f.sandbox_stats().await
}

#[tokio::test]
async fn a_backfill_and_a_burst_of_leads_share_the_tenant_s_limit_without_a_refusal() {
    // All of the demo tenant's history to read (ten weeks), and every recipe that needs a feed on.
    let f = FollowUps::start_with(
        &[
            "estimate_follow_up",
            "invoice_dunning",
            "appointment_reminder",
            "job_complete_review",
        ],
        json!({}),
        |o| {
            o.function_env.insert("RECONCILE_LOOKBACK_DAYS".into(), "70".into());
            if let Ok(v) = std::env::var("LOAD_TEST_BUDGET_PER_SECOND") {
                // LOAD_TEST_BUDGET_PER_SECOND=0 runs it without the shared budget, to see what it prevents.
                o.function_env.insert("SERVICETITAN_BUDGET_PER_SECOND".into(), v);
            }
        },
    )
    .await;
    // No clock move first: that would let the schedule's reconcile read the history before the burst.
    f.webhooks_off();
    for i in 0..LEADS {
        let body = lead(
            &format!("load-{i}"),
            &format!("Load Customer{i}"),
            &format!("737-555-{:04}", 5000 + i),
            json!({"address": address(&format!("{} Load Ln", 100 + i), None, "78758")}),
        );
        assert_eq!(f.post_lead_only(body).await.status, 202);
    }
    let before = stats(&f).await;

    // The reconciler reads its backfill while three lead creators (three Lambdas) work through the burst.
    let reconciler = f.reconciler();
    let creators: Vec<_> = (0..CREATORS).map(|_| f.lead_creator()).collect();
    let started = Instant::now();
    let request = ReconcileRequest {
        tenant_id: TENANT.into(),
        requested_at: f.now(),
        reason: Reason::Connect,
    };
    let reconcile = async {
        let outcome = reconciler.reconcile(&request, "load-test").await.unwrap();
        (outcome, started.elapsed())
    };
    let leads = futures::future::join_all(creators.iter().enumerate().map(|(c, creator)| async move {
        for i in (c..LEADS).step_by(CREATORS) {
            let outcome = creator.handle_message(&message(&format!("load-{i}"))).await;
            assert!(
                matches!(
                    outcome,
                    Ok(lead_creator::Outcome::Lead(lead_runtime::create::Done::Created(_)))
                ),
                "load-{i}: {outcome:?}"
            );
        }
        started.elapsed()
    }));
    let ((outcome, reconcile_took), lead_times) = tokio::join!(reconcile, leads);
    let leads_took = lead_times.into_iter().max().unwrap();
    let after = stats(&f).await;

    let reconciler::Outcome::Reconciled(summary) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(summary.errors().is_empty(), "{summary:?}");
    let requests = after["apiRequests"].as_u64().unwrap() - before["apiRequests"].as_u64().unwrap();
    let refused = after["rateLimited"].as_u64().unwrap() - before["rateLimited"].as_u64().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{requests} ServiceTitan requests in {seconds:.1} s ({:.1}/s): {LEADS} leads done in {:.1} s, the backfill \
         ({} records, {} changes) in {:.1} s; {refused} refused by ServiceTitan's limiter",
        requests as f64 / seconds,
        leads_took.as_secs_f64(),
        summary.records(),
        summary.changes(),
        reconcile_took.as_secs_f64(),
    );
    assert_eq!(
        refused, 0,
        "the shared budget keeps every caller under the limit together"
    );
    assert!(
        requests as f64 / seconds <= 60.0,
        "{requests} requests in {seconds:.1} s"
    );

    // Everything queued meanwhile is processed, and nothing is parked.
    f.webhooks().await;
    for i in 0..LEADS {
        assert_eq!(f.lead(&format!("load-{i}")).await["status"], "created");
    }
    for queue in [
        "EventsDeadLetterQueue",
        "LeadsDeadLetterQueue",
        "ReconcileDeadLetterQueue",
    ] {
        assert_eq!(f.t.queue_depth(queue).await.0, 0, "{queue}");
    }
    f.stop().await;
}
