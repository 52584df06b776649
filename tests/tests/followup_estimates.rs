//! The estimate story end to end on the local stack: ServiceTitan (the sandbox) sends webhooks, the processor
//! enrolls and halts runs, schedules fire on virtual time, the runner checks and delivers to the local sink.

use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use serde_json::json;

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

#[tokio::test]
async fn estimate_sent_gets_an_sms_at_24_hours_and_a_sold_one_gets_no_call() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h1 = f.household("Mary Smith", "5125550181", "TX", "78704", None).await;
    let h2 = f.household("Luis Garcia", "5125550182", "TX", "78745", None).await;
    let e1 = f
        .estimate(&f.job(&h1, start + hours(24 * 20)).await, "AC replacement")
        .await;
    let e2 = f
        .estimate(&f.job(&h2, start + hours(24 * 20)).await, "Water heater")
        .await;
    f.control(&format!("estimates/{}/send", e1.id), json!({})).await;
    f.control(&format!("estimates/{}/send", e2.id), json!({})).await;

    let run1 = f.run(&format!("estimate:{}", e1.id), "estimate_follow_up").await;
    assert_eq!(run1["status"], "active");
    assert!(f.delivered(None).is_empty());

    // Steps fire on whole seconds, a moment after the 24 hours.
    f.advance(hours(24) + SignedDuration::from_mins(1)).await;
    let sms = f.delivered(None);
    assert_eq!(sms.len(), 2, "{sms:#?}");
    for d in &sms {
        assert_eq!(d["data"]["channel"], "sms");
        assert_eq!(d["data"]["step"], "sms_24h");
        let sent: jiff::Timestamp = d["_timestamp"].as_str().unwrap().parse().unwrap();
        let after = sent.duration_since(start + hours(24));
        assert!(
            after >= SignedDuration::ZERO && after < SignedDuration::from_mins(1),
            "sent at {sent}"
        );
    }
    let to_mary = sms
        .iter()
        .find(|d| d["data"]["recipient"]["phone"] == h1.phone)
        .unwrap();
    assert!(
        to_mary["data"]["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hi Mary, this is Lone Star Home Services")
    );

    // The second estimate is sold on day 2: its call never happens; the first one's does.
    f.advance(hours(24)).await;
    f.control(&format!("estimates/{}/sell", e2.id), json!({})).await;
    let run2 = f.run(&format!("estimate:{}", e2.id), "estimate_follow_up").await;
    assert_eq!(
        (run2["status"].as_str(), run2["reason"].as_str()),
        (Some("halted"), Some("estimate.sold"))
    );
    assert_eq!(run2["goal"]["label"], "sold");
    f.advance(hours(30)).await;
    let calls: Vec<_> = f
        .delivered(None)
        .into_iter()
        .filter(|d| d["data"]["channel"] == "voice")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["data"]["entity"]["id"], e1.id.to_string());
    let run1 = f.run(&format!("estimate:{}", e1.id), "estimate_follow_up").await;
    assert_eq!(
        (run1["status"].as_str(), run1["sends"].as_u64()),
        (Some("finished"), Some(2))
    );
    f.stop().await;
}
