//! Crashes between two steps, and duplicated messages: each is simulated by leaving the state a crash would leave
//! (a run recorded but not scheduled, a delivery made but not recorded, an event claimed but not completed) and
//! redelivering the message SQS would redeliver. Nothing is lost and nothing reaches the customer twice.

use aws_sdk_dynamodb::types::AttributeValue;
use followup_runtime::messages::StepDue;
use followups::timing::Position;
use integration_tests::followups::FollowUps;
use integration_tests::{TENANT, attr_s};
use jiff::SignedDuration;
use serde_json::json;

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

async fn sent(f: &FollowUps, name: &str, phone: &str) -> (String, String) {
    let h = f.household(name, phone, "TX", "78704", None).await;
    let e = f.estimate(&f.job(&h, f.now() + hours(24 * 30)).await, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    (
        format!("estimate:{}", e.id),
        format!("estimate_follow_up.estimate-{}.1", e.id),
    )
}

/// Changes a run's attributes in the follow-ups table, as a crash part-way would have left them.
async fn set_run(f: &FollowUps, run_id: &str, set: &[(&str, AttributeValue)]) {
    let mut req =
        f.t.stack
            .aws()
            .dynamodb
            .update_item()
            .table_name(f.t.resource("FollowUpsTable"))
            .key("tenant_id", AttributeValue::S(TENANT.into()))
            .key("sk", AttributeValue::S(format!("run#{run_id}")));
    let mut parts = Vec::new();
    for (i, (k, v)) in set.iter().enumerate() {
        req = req
            .expression_attribute_names(format!("#a{i}"), *k)
            .expression_attribute_values(format!(":v{i}"), v.clone());
        parts.push(format!("#a{i} = :v{i}"));
    }
    req.update_expression(format!("SET {}", parts.join(", ")))
        .send()
        .await
        .unwrap();
}

async fn delete_schedule(f: &FollowUps, run_id: &str, step: usize, seq: u32) {
    let name = followups::ids::step_schedule(TENANT, run_id, step, 0, seq);
    f.t.stack
        .aws()
        .scheduler
        .delete_schedule()
        .group_name(f.t.resource("FollowUpScheduleGroup"))
        .name(name)
        .send()
        .await
        .unwrap();
}

async fn redeliver_step(f: &FollowUps, run_id: &str, step: usize, seq: u32) {
    let body = serde_json::to_string(&StepDue::new(TENANT, run_id, Position { step, round: 0 }, seq)).unwrap();
    f.t.stack
        .aws()
        .sqs
        .send_message()
        .queue_url(f.t.resource("FollowUpsQueue"))
        .message_body(body)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_runner_crash_before_scheduling_the_next_step_is_repaired_by_the_redelivery() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (entity, run_id) = sent(&f, "Crash Between", "5125550401").await;
    f.advance(hours(24) + SignedDuration::from_mins(1)).await;
    assert_eq!(f.delivered(None).len(), 1);
    // The SMS was recorded, the call's schedule never created, and the message not acknowledged.
    delete_schedule(&f, &run_id, 1, 0).await;
    set_run(&f, &run_id, &[("scheduled", AttributeValue::Bool(false))]).await;
    redeliver_step(&f, &run_id, 0, 0).await;
    f.webhooks().await;
    assert_eq!(f.delivered(None).len(), 1, "the stale message sends nothing");
    assert_eq!(
        f.run(&entity, "estimate_follow_up").await["nextStep"]["scheduled"],
        true,
        "it scheduled the call"
    );
    f.advance(hours(48)).await;
    let steps: Vec<_> = f.delivered(None).iter().map(|d| d["data"]["step"].clone()).collect();
    assert_eq!(steps, vec![json!("sms_24h"), json!("call_72h")]);
    f.stop().await;
}

#[tokio::test]
async fn a_runner_crash_after_the_platform_accepted_is_one_follow_up_for_the_customer() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (_, run_id) = sent(&f, "Crash After", "5125550402").await;
    f.advance(hours(24) + SignedDuration::from_mins(1)).await;
    // The platform said 200, then the runner died before recording it: the run is still at the SMS.
    delete_schedule(&f, &run_id, 1, 0).await;
    set_run(
        &f,
        &run_id,
        &[
            ("step", AttributeValue::N("0".into())),
            ("seq", AttributeValue::N("0".into())),
            ("sends", AttributeValue::N("0".into())),
            ("scheduled", AttributeValue::Bool(true)),
        ],
    )
    .await;
    redeliver_step(&f, &run_id, 0, 0).await;
    f.webhooks().await;
    let posts: Vec<_> = f.t.stack.sink().deliveries();
    assert_eq!(posts.len(), 2, "delivered again, with the same webhook-id");
    assert_eq!(posts[0].webhook_id, posts[1].webhook_id);
    assert!(posts[1].duplicate, "the platform sees a repeat it has performed");
    assert_eq!(f.delivered(None).len(), 1, "one follow-up for the customer");
    f.advance(hours(48)).await;
    assert_eq!(f.delivered(None).len(), 2, "and the run goes on to its call");
    f.stop().await;
}

#[tokio::test]
async fn a_processor_crash_between_enrolling_and_scheduling_is_finished_by_the_event_retry() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (entity, run_id) = sent(&f, "Crash Enroll", "5125550403").await;
    let event =
        f.t.stack
            .sandbox()
            .unwrap()
            .deliveries()
            .into_iter()
            .rev()
            .find(|d| d["eventType"] == "estimate.sent")
            .unwrap();
    let event_id = event["eventId"].as_str().unwrap().to_owned();
    // The run was written, then the worker died: no schedule, the claim not completed.
    delete_schedule(&f, &run_id, 0, 0).await;
    set_run(&f, &run_id, &[("scheduled", AttributeValue::Bool(false))]).await;
    f.t.stack
        .aws()
        .dynamodb
        .update_item()
        .table_name(f.t.resource("EventsTable"))
        .key("tenant_id", AttributeValue::S(TENANT.into()))
        .key("event_id", AttributeValue::S(event_id.clone()))
        .update_expression("SET #s = :accepted")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":accepted", AttributeValue::S("accepted".into()))
        .send()
        .await
        .unwrap();
    // SQS redelivers the event.
    let message = {
        let payload = json!({"eventId": event_id, "eventType": "estimate.sent", "tenantId": TENANT,
                             "data": {"id": entity.trim_start_matches("estimate:").parse::<i64>().unwrap()}});
        let mut e = integration_tests::event_of(&payload.to_string());
        e.event_id = event_id.clone();
        serde_json::to_string(&e).unwrap()
    };
    f.t.stack
        .aws()
        .sqs
        .send_message()
        .queue_url(f.t.resource("EventsQueue"))
        .message_body(message)
        .send()
        .await
        .unwrap();
    f.webhooks().await;
    let record = f.t.event_record(TENANT, &event_id).await.unwrap();
    assert_eq!(attr_s(&record, "status"), "done");
    let runs = f.runs(&entity).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "no second run");
    assert_eq!(runs["runs"][0]["nextStep"]["scheduled"], true);
    f.advance(hours(25)).await;
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn a_step_message_delivered_twice_at_once_sends_once() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let (_, run_id) = sent(&f, "Twice At Once", "5125550404").await;
    f.advance(hours(24) - SignedDuration::from_secs(30)).await;
    // An extra copy of the SMS step's message (at-least-once delivery) next to the schedule's own.
    redeliver_step(&f, &run_id, 0, 0).await;
    redeliver_step(&f, &run_id, 0, 0).await;
    let report = f.t.stack.advance(SignedDuration::from_mins(10)).await.unwrap();
    f.webhooks().await;
    assert!(report.messages_received >= 3, "{report:?}");
    let posts = f.t.stack.sink().deliveries();
    assert_eq!(posts.len(), 1, "one POST: the copies found the step claimed or done");
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}
