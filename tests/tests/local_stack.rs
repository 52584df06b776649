//! The local stack's own contract: the virtual clock, the Scheduler emulator and the `/_local/*` control routes.

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use integration_tests::{TENANT, TestStack, attr_s, delivery, event_of};
use serde_json::{Value, json};

async fn clock(t: &TestStack, body: Value) -> (u16, Value) {
    let resp = t
        .http
        .post(format!("{}/_local/clock", t.stack.api_url()))
        .bearer_auth(t.stack.admin_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// A queue message the event processor accepts, as the intake would have built it.
fn event_message(event_id: &str) -> String {
    webhook_intake::handler::queue_message(&event_of(&delivery(event_id, TENANT, "estimate.sent", 11))).unwrap()
}

async fn create_schedule(t: &TestStack, name: &str, at: jiff::Timestamp, input: String, after: ActionAfterCompletion) {
    let queue_arn = t.stack.physical("EventsQueue").unwrap().attributes["Arn"].clone();
    t.stack
        .aws()
        .scheduler
        .create_schedule()
        .name(name)
        .group_name(t.resource("FollowUpScheduleGroup"))
        .schedule_expression(format!("at({})", at.strftime("%Y-%m-%dT%H:%M:%S")))
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .action_after_completion(after)
        .target(
            Target::builder()
                .arn(queue_arn)
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .input(input)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn schedule_names(t: &TestStack) -> Vec<String> {
    let out = t
        .stack
        .aws()
        .scheduler
        .list_schedules()
        .group_name(t.resource("FollowUpScheduleGroup"))
        .send()
        .await
        .unwrap();
    out.schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn advancing_the_clock_fires_due_schedules_into_their_targets_and_deletes_them() {
    let t = TestStack::start().await;
    let now = shared::Clock::now(&*t.stack.clock());
    let in_an_hour = now + jiff::SignedDuration::from_hours(1);
    create_schedule(
        &t,
        "fu-1001-est-1",
        in_an_hour,
        event_message("sched-1"),
        ActionAfterCompletion::Delete,
    )
    .await;
    create_schedule(
        &t,
        "fu-1001-est-2",
        in_an_hour + jiff::SignedDuration::from_hours(48),
        event_message("sched-2"),
        ActionAfterCompletion::None,
    )
    .await;

    let (status, report) = clock(&t, json!({"advance_seconds": 1800})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["schedules_fired"], 0);
    assert_eq!(schedule_names(&t).await.len(), 2);
    assert!(t.event_record(TENANT, "sched-1").await.is_none());

    let (_, report) = clock(&t, json!({"advance_seconds": 1800})).await;
    assert_eq!(report["schedules_fired"], 1, "{report}");
    assert!(report["messages_received"].as_u64() >= Some(1), "{report}");
    assert_eq!(
        t.queue_depth("EventsQueue").await,
        (0, 0),
        "the clock call returns after the queues are drained"
    );
    assert_eq!(
        schedule_names(&t).await,
        vec!["fu-1001-est-2"],
        "ActionAfterCompletion DELETE removed it"
    );
    assert_eq!(
        attr_s(&t.event_record(TENANT, "sched-1").await.unwrap(), "status"),
        "done"
    );

    // Three days in one call: the second schedule fires once, at its own time, and stays (no DELETE).
    let (_, report) = clock(&t, json!({"advance_seconds": 3 * 86400})).await;
    assert_eq!(report["schedules_fired"], 1, "{report}");
    assert_eq!(schedule_names(&t).await, vec!["fu-1001-est-2"]);
    let (_, report) = clock(&t, json!({"advance_seconds": 86400})).await;
    assert_eq!(report["schedules_fired"], 0, "a one-time schedule never fires twice");
    let fired_at = attr_s(&t.tenant_record(TENANT).await, "last_webhook_at");
    assert!(!fired_at.is_empty());
    t.stop().await;
}

/// A web page open in the developer's browser must not move the stack: the control routes take the admin token and
/// refuse a body that is not JSON (what a cross-site form or `text/plain` fetch would send).
#[tokio::test]
async fn control_routes_take_the_admin_token_and_json() {
    let t = TestStack::start().await;
    let url = |p: &str| format!("{}{p}", t.stack.api_url());
    let before = shared::Clock::now(&*t.stack.clock());
    let status = |r: reqwest::Response| r.status().as_u16();
    // No token: a form post, a text/plain "simple" request, a JSON one, and reads of the outbox.
    let form = t.http.post(url("/_local/clock")).form(&[("advance_seconds", "86400")]);
    assert_eq!(status(form.send().await.unwrap()), 403);
    let plain = t
        .http
        .post(url("/_local/clock"))
        .header("content-type", "text/plain")
        .body(r#"{"advance_seconds": 86400}"#);
    assert_eq!(status(plain.send().await.unwrap()), 403);
    for (method, path) in [
        (reqwest::Method::POST, "/_local/clock"),
        (reqwest::Method::POST, "/_local/drain"),
        (reqwest::Method::POST, "/_local/login"),
        (reqwest::Method::GET, "/_local/outbox"),
        (reqwest::Method::DELETE, "/_local/outbox"),
        (reqwest::Method::PUT, "/_local/sink/behaviour"),
        (reqwest::Method::DELETE, "/_local/sink/behaviour"),
    ] {
        let r = t
            .http
            .request(method.clone(), url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method} {path} without the token");
        let wrong = t.http.request(method.clone(), url(path)).bearer_auth("local-guess");
        assert_eq!(
            status(wrong.send().await.unwrap()),
            403,
            "{method} {path} with a wrong token"
        );
    }
    // With the token, a body must still be JSON.
    let plain = t
        .http
        .post(url("/_local/clock"))
        .bearer_auth(t.stack.admin_token())
        .header("content-type", "text/plain")
        .body(r#"{"advance_seconds": 86400}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    assert!(
        shared::Clock::now(&*t.stack.clock()).duration_since(before) < jiff::SignedDuration::from_secs(60),
        "nothing moved the clock"
    );
    // What stays open: liveness, the issuer's public keys, and the sink (it checks signatures itself).
    assert_eq!(status(t.http.get(url("/_local/health")).send().await.unwrap()), 200);
    let jwks = t
        .http
        .get(url("/_local/issuer/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(jwks), 200);
    let unsigned = t.http.post(url("/_local/sink")).json(&json!({})).send().await.unwrap();
    assert_ne!(status(unsigned), 403, "the sink answers for itself");
    t.stop().await;
}

#[tokio::test]
async fn control_routes_validate_their_input() {
    let t = TestStack::start().await;
    for bad in [
        json!({}),
        json!({"advance_seconds": -5}),
        json!({"advance_seconds": "soon"}),
        json!({"advance_seconds": 1e12}),
    ] {
        let (status, body) = clock(&t, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request");
    }
    let before = shared::Clock::now(&*t.stack.clock());
    let resp = t
        .http
        .post(format!("{}/_local/drain", t.stack.api_url()))
        .bearer_auth(t.stack.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["schedules_fired"], 0);
    assert!(
        shared::Clock::now(&*t.stack.clock()).duration_since(before) < jiff::SignedDuration::from_secs(60),
        "drain does not advance time"
    );
    let health: Value = t
        .http
        .get(format!("{}/_local/health", t.stack.api_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    t.stop().await;
}

#[tokio::test]
async fn resources_come_from_the_template() {
    let t = TestStack::start().await;
    // The queue's redrive policy and visibility timeout are the template's.
    let attrs = t
        .stack
        .aws()
        .sqs
        .get_queue_attributes()
        .queue_url(t.resource("EventsQueue"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let a = attrs.attributes().unwrap();
    assert_eq!(a[&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout], "190");
    let redrive: Value = serde_json::from_str(&a[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["maxReceiveCount"], 5);
    assert_eq!(
        redrive["deadLetterTargetArn"],
        t.stack.physical("EventsDeadLetterQueue").unwrap().attributes["Arn"]
    );
    // Function environments are the template's, resolved.
    let intake = t.stack.function("WebhookIntakeFunction").unwrap();
    assert_eq!(intake.env["EVENTS_QUEUE_URL"], t.resource("EventsQueue"));
    assert_eq!(intake.env["WEBHOOK_SIGNATURE_HEADER"], "X-ServiceTitan-Signature");
    // The local stack points the functions at its ServiceTitan sandbox instead of the template's hosts.
    let sandbox = t.stack.sandbox().expect("the stack runs the sandbox").url();
    let production = t.stack.production_sandbox().expect("and one for production").url();
    assert_ne!(sandbox, production);
    assert_eq!(intake.env["SERVICETITAN_INTEGRATION_API_URL"], sandbox);
    assert_eq!(intake.env["SERVICETITAN_INTEGRATION_AUTH_URL"], sandbox);
    assert_eq!(intake.env["SERVICETITAN_PRODUCTION_API_URL"], production);
    let admin = t.stack.function("TenantAdminFunction").unwrap();
    assert_eq!(admin.env["TENANT_SECRET_PREFIX"], "local/tenants/");
    assert_eq!(
        admin.env["FOLLOWUP_SCHEDULE_GROUP"],
        t.resource("FollowUpScheduleGroup")
    );
    let endpoints = t.stack.endpoints();
    assert_eq!(endpoints["servicetitan_api_url"], sandbox.as_str());
    assert_eq!(endpoints["servicetitan_production_url"], production.as_str());
    assert_eq!(endpoints["admin_token"], t.stack.admin_token());
    assert!(t.stack.admin_token().len() >= 32);
    assert_eq!(endpoints["demo_tenant"]["tenantId"], 1001);
    for key in ["clientId", "clientSecret", "appKey"] {
        assert!(
            endpoints["demo_tenant"][key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}"
        );
    }
    let ttl = t
        .stack
        .aws()
        .dynamodb
        .describe_time_to_live()
        .table_name(t.resource("EventsTable"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().and_then(|d| d.attribute_name()),
        Some("expires_at")
    );
    t.stop().await;
}

#[tokio::test]
async fn without_the_sandbox_functions_get_the_templates_servicetitan_hosts() {
    let t = TestStack::start_with(|o| o.servicetitan_sandbox = false).await;
    let intake = t.stack.function("WebhookIntakeFunction").unwrap();
    assert_eq!(
        intake.env["SERVICETITAN_INTEGRATION_API_URL"],
        "https://api-integration.servicetitan.io"
    );
    assert_eq!(
        intake.env["SERVICETITAN_PRODUCTION_AUTH_URL"],
        "https://auth.servicetitan.io"
    );
    assert!(t.stack.endpoints().get("demo_tenant").is_none());
    t.stop().await;
}
