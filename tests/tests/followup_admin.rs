//! The follow-up engine through the admin API: a tenant's recipes and overrides, runs and timelines, status.

use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::json;

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

#[tokio::test]
async fn a_tenant_overrides_a_recipe_and_new_runs_follow_it() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let list = f.t.admin(Method::GET, "/admin/tenants/1001/recipes", None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let recipes = list.body["recipes"].as_array().unwrap();
    assert_eq!(recipes.len(), 8);
    let enabled: Vec<&str> = recipes
        .iter()
        .filter(|r| r["enabled"] == true)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(enabled, vec!["estimate_follow_up"]);

    // Refused with every problem named, and nothing stored.
    let bad = f
        .t
        .admin(
            Method::PUT,
            "/admin/tenants/1001/recipes/estimate_follow_up",
            Some(json!({"steps": [{"id": "sms_2h", "delay": "PT2H"}, {"id": "call_72h", "template": "Hi {{invoice.balance}}"}]})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let fields: Vec<&str> = bad.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["/steps/0/id", "/steps/1/template"]);
    assert_eq!(
        f.t.admin(Method::PUT, "/admin/tenants/1001/recipes/nope", Some(json!({})))
            .await
            .status,
        404
    );

    // Text after 2 hours instead of 24, and no call.
    let ok =
        f.t.admin(
            Method::PUT,
            "/admin/tenants/1001/recipes/estimate_follow_up",
            Some(json!({"steps": [{"id": "sms_24h", "delay": "PT2H"}, {"id": "call_72h", "enabled": false}]})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["recipe"]["steps"][0]["delay"], "PT2H");
    assert_eq!(ok.body["defaults"]["steps"][0]["delay"], "PT24H");
    let h = f.household("Override", "5125550501", "TX", "78704", None).await;
    let e = f.estimate(&f.job(&h, start + hours(24 * 30)).await, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    f.advance(hours(80)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    let sent: jiff::Timestamp = d[0]["_timestamp"].as_str().unwrap().parse().unwrap();
    assert!(sent.duration_since(start) < hours(2) + SignedDuration::from_mins(2));
    let run = f.run(&format!("estimate:{}", e.id), "estimate_follow_up").await;
    assert_eq!(
        (run["status"].as_str(), run["skips"].as_u64()),
        (Some("finished"), Some(1)),
        "the call was passed over"
    );

    // One run, its timeline; lists by status; bad queries are refused.
    let one =
        f.t.admin(
            Method::GET,
            &format!("/admin/tenants/1001/runs/{}", run["runId"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    let entries: Vec<&str> = one.body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"].as_str().unwrap())
        .collect();
    assert_eq!(entries, vec!["enrolled", "sent", "finished"]);
    let finished =
        f.t.admin(Method::GET, "/admin/tenants/1001/runs?status=finished", None)
            .await;
    assert_eq!(finished.body["runs"].as_array().unwrap().len(), 1);
    assert_eq!(
        f.t.admin(Method::GET, "/admin/tenants/1001/runs?status=later", None)
            .await
            .status,
        400
    );
    assert_eq!(
        f.t.admin(Method::GET, "/admin/tenants/1001/runs?entity=payment:1", None)
            .await
            .status,
        400
    );
    assert_eq!(
        f.t.admin(Method::GET, "/admin/tenants/1001/runs/nope", None)
            .await
            .status,
        404
    );

    // Back to the defaults.
    let reset =
        f.t.admin(Method::DELETE, "/admin/tenants/1001/recipes/estimate_follow_up", None)
            .await;
    assert_eq!(
        (reset.status, reset.body["override"].is_null()),
        (200, true),
        "{}",
        reset.body
    );
    assert_eq!(reset.body["recipe"]["steps"][0]["delay"], "PT24H");
    f.stop().await;
}

#[tokio::test]
async fn status_counts_runs_sends_and_revenue() {
    let f = FollowUps::start(&["estimate_follow_up", "invoice_dunning"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Status", "5125550502", "TX", "78704", None).await;
    let job = f.job(&h, start + hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    f.advance(hours(25)).await;
    f.control(&format!("estimates/{}/sell", e.id), json!({})).await;
    let status = f.t.admin(Method::GET, "/admin/tenants/1001/status", None).await;
    let fu = &status.body["followUps"];
    assert_eq!(
        (fu["runs"].as_u64(), fu["activeRuns"].as_u64(), fu["sends"].as_u64()),
        (Some(1), Some(0), Some(1)),
        "{fu}"
    );
    assert_eq!(fu["ended"]["estimate.sold"], 1);
    assert_eq!(
        fu["revenue"]["estimatesSold"], "0.00",
        "the sandbox's API-made estimates have no items"
    );
    f.stop().await;
}
