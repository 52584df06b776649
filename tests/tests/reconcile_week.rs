//! A whole simulated week with ServiceTitan's webhooks off: every recipe the export feeds can drive still enrolls,
//! sends and halts correctly, each within one reconcile interval of the webhook's moment. (`estimate_viewed` and
//! `no_show_recovery` need their webhooks: ServiceTitan's records carry no "viewed" and no "no-show".)

use std::collections::BTreeMap;

use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use serde_json::{Value, json};

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

#[tokio::test]
async fn a_week_without_webhooks_starts_sends_and_stops_every_feed_driven_recipe() {
    integration_tests::reconcile::log_to_test_output();
    let recipes = [
        "estimate_follow_up",
        "invoice_dunning",
        "appointment_reminder",
        "job_complete_review",
        "job_overdue",
        "missed_call_text_back",
    ];
    // Hourly reconciles, so a week is 168 steps of virtual time.
    // The sandbox's overdue control dates the invoice back (due 8 days ago), so it was overdue before the tenant
    // started dunning: the tenant includes such invoices.
    let f = FollowUps::start_with(&recipes, json!({"includeExistingOverdue": true}), |o| {
        o.parameters.insert("ReconcileIntervalMinutes".into(), "60".into());
    })
    .await;
    let start = f.at_local_hour(9, "America/Chicago").await;
    f.reconcile_now().await;
    f.webhooks_off();

    // An estimate sold on day 2; an invoice made overdue, then paid; a visit on day 3, done and paid; a visit
    // nobody came to; a call nobody answered.
    let quote = f.household("Week Quote", "512-555-0210", "TX", "78704", None).await;
    let quote_job = f.job(&quote, start + hours(24 * 30)).await;
    let estimate = f.estimate(&quote_job, "Two options").await;
    let owes = f
        .household("Week Owes", "512-555-0211", "TX", "78704", Some("owes@example.com"))
        .await;
    let owes_job = f.job(&owes, start + hours(1)).await;
    let visit = f.household("Week Visit", "512-555-0212", "TX", "78704", None).await;
    let visit_job = f.job(&visit, start + hours(24 * 3 + 1)).await;
    let missed = f.household("Week Missed", "512-555-0213", "TX", "78704", None).await;
    f.job(&missed, start + hours(24 * 4 + 2)).await;
    f.control_only("calls", json!({"from": "512-555-0214"})).await;

    let mut invoices: BTreeMap<&str, i64> = BTreeMap::new();
    for hour in 1..=24 * 7 {
        f.advance(hours(1)).await;
        match hour {
            3 => {
                let done = f
                    .control_only(&format!("jobs/{}/complete", owes_job.id), json!({"total": "200.00"}))
                    .await;
                let invoice = done["invoiceId"].as_i64().unwrap();
                invoices.insert("owes", invoice);
                f.control_only(&format!("invoices/{invoice}/overdue"), json!({})).await;
            }
            50 => {
                f.control_only(&format!("estimates/{}/sell", estimate.id), json!({}))
                    .await;
                f.control_only("payments", json!({"invoiceId": invoices["owes"], "amount": "200.00"}))
                    .await;
            }
            75 => {
                let done = f
                    .control_only(&format!("jobs/{}/complete", visit_job.id), json!({"total": "150.00"}))
                    .await;
                f.control_only("payments", json!({"invoiceId": done["invoiceId"], "amount": "150.00"}))
                    .await;
            }
            _ => {}
        }
    }

    let sent = f.delivered(None);
    let of = |kind: &str, id: i64, recipe: &str| -> Vec<Value> {
        sent.iter()
            .filter(|d| {
                d["data"]["entity"]["kind"] == kind
                    && d["data"]["entity"]["id"].as_str() == Some(id.to_string().as_str())
                    && d["data"]["recipe"] == recipe
            })
            .cloned()
            .collect()
    };
    let steps = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|d| d["data"]["step"].as_str().unwrap().to_owned())
            .collect()
    };

    // Estimate: the 24-hour text (within an interval of the webhook's moment), then sold on day 2: no call.
    let texts = of("estimate", estimate.id, "estimate_follow_up");
    assert_eq!(steps(&texts), ["sms_24h"]);
    let at: jiff::Timestamp = texts[0]["_timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        at >= start + hours(24) && at <= start + hours(25) + SignedDuration::from_mins(5),
        "{at}"
    );
    let run = f.run(&format!("estimate:{}", estimate.id), "estimate_follow_up").await;
    assert_eq!(run["reason"], "estimate.sold", "{run:#}");

    // Invoice: dunned by text and email, then the payment stopped it.
    let dunning = of("invoice", invoices["owes"], "invoice_dunning");
    assert_eq!(steps(&dunning), ["sms", "email"], "{dunning:#?}");
    let run = f.run(&format!("invoice:{}", invoices["owes"]), "invoice_dunning").await;
    assert_eq!(run["status"], "halted", "{run:#}");

    // The day-3 visit: reminded the evening before; reviewed once done and paid.
    let reminders: Vec<Value> = sent
        .iter()
        .filter(|d| d["data"]["recipe"] == "appointment_reminder" && d["data"]["recipient"]["phone"] == visit.phone)
        .cloned()
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:#?}");
    assert_eq!(of("job", visit_job.id, "job_complete_review").len(), 1);

    // The visit nobody came to: the office's call after the window; and the missed call: its text.
    let overdue: Vec<Value> = sent
        .iter()
        .filter(|d| d["data"]["recipe"] == "job_overdue" && d["data"]["recipient"]["phone"] == missed.phone)
        .cloned()
        .collect();
    assert_eq!(overdue.len(), 1, "{overdue:#?}");
    let texts: Vec<Value> = sent
        .iter()
        .filter(|d| d["data"]["recipe"] == "missed_call_text_back")
        .cloned()
        .collect();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert_eq!(texts[0]["data"]["recipient"]["phone"], "+15125550214");
    let status =
        f.t.admin(reqwest::Method::GET, "/admin/tenants/1001/status", None)
            .await;
    assert!(status.body["reconcile"]["webhookGaps"].as_u64().unwrap() > 0);
    f.stop().await;
}
