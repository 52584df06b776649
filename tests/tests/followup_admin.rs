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
    // Sends per day: two weeks listed, the one text on the day it went (Chicago's date, a day after the start).
    let days = fu["sendsByDay"].as_array().unwrap();
    assert_eq!(days.len(), 14, "{days:?}");
    let sent_on = (start + hours(24)).in_tz("America/Chicago").unwrap().date().to_string();
    let counted: Vec<(&str, &serde_json::Value)> = days
        .iter()
        .filter(|d| d["byRecipe"].as_object().is_some_and(|m| !m.is_empty()))
        .map(|d| (d["date"].as_str().unwrap(), &d["byRecipe"]))
        .collect();
    assert_eq!(counted, [(sent_on.as_str(), &json!({"estimate_follow_up": 1}))]);
    f.stop().await;
}

#[tokio::test]
async fn a_step_parked_while_the_sink_was_down_is_redriven_after_the_fix_and_sent_once_leaving_other_tenants_parked() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Parked Step", "5125550391", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    let entity = format!("estimate:{}", e.id);
    // The AI platform is down for good: the 24-hour text is retried with backoff, then parked with its reason.
    f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour {
        status: Some(503),
        ..Default::default()
    });
    f.advance(hours(24 + 10)).await;
    assert!(f.delivered(None).is_empty());
    // Another tenant's step sits in the same queue.
    let other = r#"{"kind":"followup.step","tenantId":"2002","runId":"estimate_follow_up.estimate-9.1","step":0,"round":0,"seq":1}"#;
    let sqs = f.t.stack.aws().sqs.clone();
    sqs.send_message()
        .queue_url(f.t.resource("FollowUpsDeadLetterQueue"))
        .message_body(other)
        .send()
        .await
        .unwrap();

    let parked = f.t.admin(Method::GET, "/admin/tenants/1001/dead-letters", None).await;
    assert_eq!(parked.status, 200, "{}", parked.body);
    assert_eq!(parked.body["total"], 1, "only this tenant's: {}", parked.body);
    let followups = parked.body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "followUps")
        .unwrap()
        .clone();
    assert_eq!(followups["count"], 1);
    assert!(
        followups.get("scanned").is_none(),
        "other tenants' counts are not shown"
    );
    let sample = &followups["samples"][0];
    assert!(
        sample["reason"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 10 retries"),
        "{sample}"
    );
    assert!(
        sample["about"].as_str().unwrap().starts_with("follow-up step 1 of run"),
        "{sample}"
    );
    assert!(sample["parkedAt"].is_string(), "{sample}");
    // Looking moved nothing, and released what it passed over at once.
    assert_eq!(f.t.queue_depth("FollowUpsDeadLetterQueue").await.0, 2);

    // A bad request names its field and moves nothing.
    let bad =
        f.t.admin(
            Method::POST,
            "/admin/tenants/1001/dead-letters/redrive",
            Some(json!({"queues": ["followUps", "mail"]})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["error"]["fields"][0]["field"], "/queues/1");
    assert_eq!(f.t.queue_depth("FollowUpsDeadLetterQueue").await.0, 2);

    // The parked body, kept to play a crash later (received, then made visible again at once).
    let held = sqs
        .receive_message()
        .queue_url(f.t.resource("FollowUpsDeadLetterQueue"))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut parked_body = String::new();
    for m in held.messages() {
        if m.body().unwrap().contains("\"1001\"") {
            parked_body = m.body().unwrap().to_owned();
        }
        sqs.change_message_visibility()
            .queue_url(f.t.resource("FollowUpsDeadLetterQueue"))
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    assert!(!parked_body.is_empty());

    // The platform is fixed; the contractor redrives their own.
    f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour::default());
    let owner = f.t.login("1001", "owner").await;
    let redrive =
        f.t.call(
            Method::POST,
            "/dashboard/tenants/1001/dead-letters/redrive",
            Some(&owner),
            Some(json!({"queues": ["followUps"]})),
        )
        .await;
    assert_eq!(
        (redrive.status, redrive.body["redriven"].clone()),
        (200, json!(1)),
        "{}",
        redrive.body
    );
    f.settle().await;
    let sent = f.delivered(None);
    assert_eq!(sent.len(), 1, "the parked text went once the platform was back");
    assert_eq!(
        f.t.queue_depth("FollowUpsDeadLetterQueue").await.0,
        1,
        "the other tenant's stays"
    );
    let timeline = f.runs(&entity).await["timeline"].clone();
    let entries: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"].as_str().unwrap())
        .collect();
    assert!(entries.contains(&"stalled") && entries.contains(&"sent"), "{entries:?}");

    // A crash between the redrive's send and its delete leaves the message in both queues: a second copy sends nothing.
    sqs.send_message()
        .queue_url(f.t.resource("FollowUpsQueue"))
        .message_body(&parked_body)
        .send()
        .await
        .unwrap();
    f.settle().await;
    assert_eq!(f.delivered(None).len(), 1, "no second text");

    // The operator's route takes any tenant's, here the other one's (a step of no run: nothing is sent).
    let r =
        f.t.admin(
            Method::POST,
            "/operator/dead-letters/redrive",
            Some(json!({"tenantId": "2002"})),
        )
        .await;
    assert_eq!((r.status, r.body["redriven"].clone()), (200, json!(1)), "{}", r.body);
    f.settle().await;
    assert_eq!(f.t.queue_depth("FollowUpsDeadLetterQueue").await.0, 0);
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}

/// Every recipe overridden with a body near the admin API's 64 KB cap: each override is its own item, so all eight
/// are stored (in the tenant's registry item they passed DynamoDB's 400 KB item limit and the last ones got 503).
#[tokio::test]
async fn a_tenant_may_override_every_recipe_with_the_largest_body_the_api_takes() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let list = f.t.admin(Method::GET, "/admin/tenants/1001/recipes", None).await;
    let recipes: Vec<(String, String)> = list.body["recipes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap().to_owned();
            let step = r["recipe"]["steps"][0]["id"].as_str().unwrap().to_owned();
            (id, step)
        })
        .collect();
    assert_eq!(recipes.len(), 8);
    // Templates are capped at 4,000 characters, but an override may name a step more than once (the last wins), so
    // one document can still fill the body.
    let long = "{{company.name}} here: please call us back about your appointment. ".repeat(58);
    for (id, step) in &recipes {
        let mut steps: Vec<serde_json::Value> = (0..16)
            .map(|i| json!({"id": step, "template": format!("{i}: {long}")}))
            .collect();
        steps.push(json!({"id": step, "delay": "PT2H", "template": format!("{id}: {{{{company.name}}}} here")}));
        let doc = json!({"steps": steps});
        assert!(doc.to_string().len() > 60_000 && doc.to_string().len() < 64 * 1024);
        let put =
            f.t.admin(Method::PUT, &format!("/admin/tenants/1001/recipes/{id}"), Some(doc))
                .await;
        assert_eq!(put.status, 200, "{id}: {}", put.body);
    }
    let list = f.t.admin(Method::GET, "/admin/tenants/1001/recipes", None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    for r in list.body["recipes"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        let template = r["override"]["steps"][16]["template"].as_str().unwrap();
        assert!(
            template.starts_with(&format!("{id}: {{{{company.name}}}} here")),
            "{id}"
        );
    }

    // The engine runs the stored override.
    let h = f.household("Largest", "5125550502", "TX", "78704", None).await;
    let e = f.estimate(&f.job(&h, start + hours(24 * 30)).await, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    f.advance(hours(3)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0]["data"]["message"]["text"],
        "estimate_follow_up: Lone Star Home Services here Reply STOP to opt out."
    );
    let sent: jiff::Timestamp = d[0]["_timestamp"].as_str().unwrap().parse().unwrap();
    assert!(sent.duration_since(start) < hours(2) + SignedDuration::from_mins(2));
}

/// Overrides an earlier version kept in the tenant's registry item still apply, move to their own items with the
/// tenant's next change, and a removed one does not come back from the old copy.
#[tokio::test]
async fn overrides_kept_in_the_tenant_item_by_an_earlier_version_apply_and_move_on_the_next_change() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let legacy = json!({
        "estimate_follow_up": {"steps": [{"id": "sms_24h", "delay": "PT2H"}]},
        "invoice_dunning": {"steps": [{"id": "email", "enabled": false}]},
    });
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    let dynamodb = &f.t.stack.aws().dynamodb;
    dynamodb
        .update_item()
        .table_name(f.t.resource("TenantsTable"))
        .key("tenant_id", s("1001"))
        .update_expression("SET recipe_overrides = :o")
        .expression_attribute_values(":o", s(&legacy.to_string()))
        .send()
        .await
        .unwrap();
    let get = |id: &'static str| {
        let t = &f.t;
        async move {
            t.admin(Method::GET, &format!("/admin/tenants/1001/recipes/{id}"), None)
                .await
        }
    };
    let before = get("estimate_follow_up").await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.body["recipe"]["steps"][0]["delay"], "PT2H");

    // A change to another recipe moves both old overrides into items and drops the item's copy.
    let put =
        f.t.admin(
            Method::PUT,
            "/admin/tenants/1001/recipes/job_overdue",
            Some(json!({"steps": [{"id": "call", "enabled": false}]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let item = dynamodb
        .get_item()
        .table_name(f.t.resource("TenantsTable"))
        .key("tenant_id", s("1001"))
        .send()
        .await
        .unwrap();
    assert!(!item.item().unwrap().contains_key("recipe_overrides"));
    assert_eq!(
        get("estimate_follow_up").await.body["recipe"]["steps"][0]["delay"],
        "PT2H"
    );
    assert_eq!(get("invoice_dunning").await.body["override"], legacy["invoice_dunning"]);

    // Removed, it stays removed.
    let reset =
        f.t.admin(Method::DELETE, "/admin/tenants/1001/recipes/estimate_follow_up", None)
            .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let after = get("estimate_follow_up").await;
    assert_eq!(after.body["override"], serde_json::Value::Null);
    assert_eq!(after.body["recipe"]["steps"][0]["delay"], "PT24H");
}
