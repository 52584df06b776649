//! Connecting a tenant (or switching a recipe on) with history in ServiceTitan: the reconciler reads its lookback,
//! and only follow-ups whose moment is still ahead are planned. Nothing old is chased by surprise.

use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use serde_json::{Value, json};

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// A stack whose reconciler reads the deployed default lookback (14 days), with no recipe on yet and webhooks off:
/// history piles up unseen until a recipe is switched on.
async fn tenant_with_history() -> FollowUps {
    let f = FollowUps::start_with(&[], json!({}), |o| {
        o.function_env.insert("RECONCILE_LOOKBACK_DAYS".into(), "14".into());
    })
    .await;
    f.at_local_hour(10, "America/Chicago").await;
    f.webhooks_off();
    f
}

#[tokio::test]
async fn an_estimate_sent_two_days_before_gets_its_call_and_one_from_last_month_nothing() {
    let f = tenant_with_history().await;
    let h = f.household("Emery Cole", "512-555-0194", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + days(90)).await;
    let old = f.estimate(&job, "Last month's quote").await;
    f.advance(days(20)).await;
    let recent = f.estimate(&job, "This week's quote").await;
    f.advance(days(2)).await;

    f.set_settings(&["estimate_follow_up"], json!({})).await;
    f.webhooks().await;
    let runs = f.runs(&format!("estimate:{}", old.id)).await;
    assert!(runs["runs"].as_array().unwrap().is_empty(), "{runs:#}");
    let runs = f.runs(&format!("estimate:{}", recent.id)).await;
    let run = &runs["runs"][0];
    assert_eq!(
        (run["status"].as_str(), run["nextStep"]["step"].as_u64()),
        (Some("active"), Some(1)),
        "{runs:#}"
    );
    let enrolled = runs["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "enrolled")
        .unwrap();
    assert_eq!(
        enrolled["detail"]["passedOver"][0]["why"], "before_enrolment",
        "{enrolled:#}"
    );

    f.advance(SignedDuration::from_hours(25)).await;
    let sent = f.delivered(run["runId"].as_str());
    let channels: Vec<&str> = sent.iter().map(|d| d["data"]["channel"].as_str().unwrap()).collect();
    assert_eq!(
        channels,
        ["voice"],
        "the 72-hour call only; the 24-hour text is not sent late"
    );
    f.stop().await;
}

async fn overdue_invoice_story(include: bool) -> (FollowUps, Value) {
    let f = tenant_with_history().await;
    let h = f
        .household(
            "Finley Park",
            "512-555-0195",
            "TX",
            "78704",
            Some("finley.park@example.com"),
        )
        .await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(2)).await;
    f.advance(SignedDuration::from_hours(4)).await;
    let done = f
        .control_only(&format!("jobs/{}/complete", job.id), json!({"total": "350.00"}))
        .await;
    // Net 15, then 30 days overdue when the tenant switches dunning on.
    f.advance(days(45)).await;
    f.set_settings(&["invoice_dunning"], json!({"includeExistingOverdue": include}))
        .await;
    f.webhooks().await;
    (f, done)
}

#[tokio::test]
async fn an_invoice_already_overdue_is_left_alone_unless_the_tenant_includes_existing_ones() {
    let (f, done) = overdue_invoice_story(false).await;
    let entity = format!("invoice:{}", done["invoiceId"]);
    f.advance(days(8)).await;
    let runs = f.runs(&entity).await;
    assert!(runs["runs"].as_array().unwrap().is_empty(), "{runs:#}");
    f.stop().await;
}

#[tokio::test]
async fn an_included_overdue_invoice_joins_dunning_from_now_without_a_burst() {
    let (f, done) = overdue_invoice_story(true).await;
    let entity = format!("invoice:{}", done["invoiceId"]);
    f.advance(SignedDuration::from_mins(1)).await;
    let runs = f.runs(&entity).await;
    let run_id = runs["runs"][0]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("{runs:#}"))
        .to_owned();
    let sent = f.delivered(Some(&run_id));
    assert_eq!(
        sent.len(),
        1,
        "one reminder now, not every round that went by: {sent:#?}"
    );
    assert_eq!(sent[0]["data"]["channel"], "sms");
    f.advance(SignedDuration::from_hours(25)).await;
    assert_eq!(f.delivered(Some(&run_id)).len(), 2, "the email a day later");
    f.stop().await;
}

#[tokio::test]
async fn the_preview_lists_what_switching_a_recipe_on_then_sends() {
    let f = tenant_with_history().await;
    let h = f.household("Gale Rivers", "512-555-0196", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + days(90)).await;
    let old = f.estimate(&job, "Old quote").await;
    f.advance(days(20)).await;
    let recent = f.estimate(&job, "Recent quote").await;
    f.advance(days(2)).await;

    let reply =
        f.t.admin(
            reqwest::Method::GET,
            "/admin/tenants/1001/preview?recipes=estimate_follow_up&days=7",
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let planned: std::collections::BTreeSet<(String, String)> = reply.body["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["entity"].as_str().unwrap().to_owned(),
                s["stepId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        planned.contains(&(format!("estimate:{}", recent.id), "call_72h".into())),
        "{planned:?}"
    );
    assert!(
        !planned.iter().any(|(e, _)| *e == format!("estimate:{}", old.id)),
        "{planned:?}"
    );
    assert!(f.delivered(None).is_empty(), "a preview sends nothing");

    f.set_settings(&["estimate_follow_up"], json!({})).await;
    f.webhooks().await;
    f.advance(days(7)).await;
    let sent: std::collections::BTreeSet<(String, String)> = f
        .delivered(None)
        .iter()
        .map(|d| {
            let e = &d["data"]["entity"];
            (
                format!("{}:{}", e["kind"].as_str().unwrap(), e["id"].as_str().unwrap()),
                d["data"]["step"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(sent.contains(&(format!("estimate:{}", recent.id), "call_72h".into())));
    // Every send was previewed (the cap or quiet hours may hold some back, never add one).
    let unforeseen: Vec<_> = sent.difference(&planned).collect();
    assert!(unforeseen.is_empty(), "sent but not previewed: {unforeseen:?}");
    f.stop().await;
}
