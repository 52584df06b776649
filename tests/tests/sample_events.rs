//! The sample events in events/ are what `cargo lambda invoke --data-file` sends: each must parse as its Lambda
//! event type and be handled as intended by the real handler, against the local stack. That is the intake's
//! signed requests, the processor's SQS batch, the admin API's IAM-authorised requests, the token-refresh
//! schedule's input, the follow-up runner's step message, an inbound reply, a chat lead and its queue message, and
//! the reconcile fan-out's input and a tenant's reconcile request.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use integration_tests::{TENANT, TestStack, attr_s, repo_root};
use shared::aws::{AwsClients, local_sdk_config};

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("events").join(name)).unwrap()
}

async fn stack_with_demo_key() -> (TestStack, AwsClients) {
    let t = TestStack::start().await;
    t.use_demo_key().await;
    let aws = AwsClients::new(&local_sdk_config(t.stack.aws_endpoint(), t.stack.region()));
    (t, aws)
}

fn intake(t: &TestStack, aws: &AwsClients) -> webhook_intake::Intake {
    let env = &t.stack.function("WebhookIntakeFunction").unwrap().env;
    webhook_intake::Intake::new(
        webhook_intake::IntakeConfig::from_env(env).unwrap(),
        webhook_intake::IntakeClients {
            dynamodb: aws.dynamodb.clone(),
            sqs: aws.sqs.clone(),
            secrets: aws.secrets.clone(),
        },
        Arc::new(shared::SystemClock),
    )
}

#[tokio::test]
async fn webhook_intake_samples_are_signed_api_gateway_v2_requests() {
    let (t, aws) = stack_with_demo_key().await;
    let intake = intake(&t, &aws);
    for (file, status, outcome) in [
        ("webhook-intake.json", 200, Some("accepted")),
        ("webhook-intake-envelope-event.json", 200, Some("accepted")),
        ("webhook-intake-unsigned.json", 401, None),
    ] {
        let request = lambda_http::request::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = intake.handle(request).await;
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(response.status().as_u16(), status, "{file}: {body}");
        if let Some(outcome) = outcome {
            assert_eq!(body["status"], outcome, "{file}");
        }
    }
    assert_eq!(
        attr_s(
            &t.event_record(TENANT, "sample-estimate-sent-0001").await.unwrap(),
            "event_name"
        ),
        "estimate.sent",
        "the route's {{event}} path parameter reached the handler"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_event_processor_sample_is_an_sqs_batch_it_processes() {
    let (t, aws) = stack_with_demo_key().await;
    let env = &t.stack.function("EventProcessorFunction").unwrap().env;
    let processor = event_processor::Processor::new(
        event_processor::ProcessorConfig::from_env(env).unwrap(),
        event_processor::ProcessorClients {
            dynamodb: aws.dynamodb.clone(),
            secrets: aws.secrets.clone(),
            scheduler: aws.scheduler.clone(),
            sqs: aws.sqs.clone(),
        },
        Arc::new(shared::SystemClock),
    )
    .unwrap();
    let batch: SqsEvent = serde_json::from_str(&read("event-processor.json")).unwrap();
    assert_eq!(batch.records.len(), 1);
    let response = processor.handle_batch(batch).await;
    assert!(response.batch_item_failures.is_empty());
    let record = t.event_record(TENANT, "sample-estimate-sent-0002").await.unwrap();
    assert_eq!(attr_s(&record, "status"), "done");
    t.stop().await;
}

#[tokio::test]
async fn the_followup_runner_sample_is_a_step_message_it_handles() {
    let (t, aws) = stack_with_demo_key().await;
    let env = &t.stack.function("FollowUpRunnerFunction").unwrap().env;
    let runner = followup_runner::Runner::new(
        followup_runner::RunnerConfig::from_env(env).unwrap(),
        followup_runner::RunnerClients {
            dynamodb: aws.dynamodb.clone(),
            secrets: aws.secrets.clone(),
            scheduler: aws.scheduler.clone(),
            sqs: aws.sqs.clone(),
        },
        t.stack.clock(),
    )
    .unwrap();
    let batch: SqsEvent = serde_json::from_str(&read("followup-runner.json")).unwrap();
    let message = &batch.records[0];
    // No such run on a fresh stack: a stale step, which does nothing (as a duplicate would).
    assert_eq!(
        runner.handle_message(message).await.unwrap(),
        followup_runner::Outcome::Stale
    );
    assert!(runner.handle_batch(batch).await.batch_item_failures.is_empty());
    assert_eq!(
        t.queue_depth("FollowUpsDeadLetterQueue").await.0,
        0,
        "a well-formed message is not parked"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_demo_runs_against_a_stack() {
    let t = TestStack::start().await;
    let dir = std::env::temp_dir().join(format!("demo-endpoints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("endpoints.json");
    std::fs::write(&file, t.stack.endpoints().to_string()).unwrap();
    local_stack::demo::run(&file).await.expect("the demo completes");
    t.stop().await;
}

#[tokio::test]
async fn the_tenant_admin_and_token_refresh_samples_are_handled() {
    let (t, aws) = stack_with_demo_key().await;
    let env = &t.stack.function("TenantAdminFunction").unwrap().env;
    let admin = tenant_admin::Admin::new(
        tenant_admin::AdminConfig::from_env(env).unwrap(),
        tenant_admin::AdminClients {
            dynamodb: aws.dynamodb.clone(),
            secrets: aws.secrets.clone(),
            scheduler: aws.scheduler.clone(),
            sqs: aws.sqs.clone(),
        },
        t.stack.clock(),
    )
    .unwrap();
    // Connect first: the status sample reads what the connect sample stored.
    let mut bodies = Vec::new();
    for file in ["tenant-admin-connect.json", "tenant-admin-status.json"] {
        let request = lambda_http::request::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = admin.handle(request).await;
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(response.status().as_u16(), 200, "{file}: {body}");
        bodies.push(body);
    }
    assert_eq!(bodies[0]["status"], "connected");
    assert_eq!(bodies[1]["connected"], true);
    assert_eq!(bodies[1]["token"]["health"], "healthy");

    // A customer's reply relayed by the AI platform, for the tenant the connect sample connected.
    let env = &t.stack.function("InboundMessagesFunction").unwrap().env;
    let inbound = inbound_messages::Inbound::new(
        inbound_messages::InboundConfig::from_env(env).unwrap(),
        inbound_messages::InboundClients {
            dynamodb: aws.dynamodb.clone(),
            scheduler: aws.scheduler.clone(),
            sqs: aws.sqs.clone(),
        },
        t.stack.clock(),
    )
    .unwrap();
    let request = lambda_http::request::from_str(&read("inbound-messages.json")).unwrap();
    let response = inbound.handle(request).await;
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(response.status().as_u16(), 200, "inbound-messages.json: {body}");
    assert_eq!(body["meaning"], "reply");

    let event: serde_json::Value = serde_json::from_str(&read("token-refresh.json")).unwrap();
    let summary = t.stack.invoke("TokenRefreshFunction", event).await.unwrap();
    assert_eq!(
        (summary["tenants"].as_u64(), summary["still_fresh"].as_u64()),
        (Some(1), Some(1)),
        "{summary}"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_lead_samples_accept_a_chat_lead_and_create_its_records() {
    // The demo tenant connected with a business unit, job type and campaign chosen, as `make demo` leaves it.
    let f = integration_tests::followups::FollowUps::start(&[], serde_json::json!({})).await;
    let aws = f.t.stack.aws();
    let env = &f.t.stack.function("LeadIntakeFunction").unwrap().env;
    let intake = lead_intake::LeadIntake::new(
        lead_intake::LeadIntakeConfig::from_env(env).unwrap(),
        aws.dynamodb.clone(),
        aws.sqs.clone(),
        f.t.stack.clock(),
    );
    let request = lambda_http::request::from_str(&read("lead-intake.json")).unwrap();
    let response = intake.handle(request).await;
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(response.status().as_u16(), 202, "lead-intake.json: {body}");
    assert_eq!(body["leadId"], "sample-chat-lead-0001");
    assert_eq!(f.t.queue_depth("LeadsQueue").await.0, 1, "the lead is queued");

    let creator = f.lead_creator();
    let batch: SqsEvent = serde_json::from_str(&read("lead-creator.json")).unwrap();
    assert_eq!(
        creator.handle_message(&batch.records[0]).await.unwrap(),
        lead_creator::Outcome::Lead(lead_runtime::create::Done::Created("new_customer".into()))
    );
    // The same message again (SQS delivers at least once) does nothing more.
    assert!(creator.handle_batch(batch).await.batch_item_failures.is_empty());
    let lead = f.created("sample-chat-lead-0001").await;
    let customer = lead["servicetitan"]["customerId"].as_i64().unwrap();
    assert_eq!(f.jobs_of(customer).await.len(), 1, "{lead:#}");
    assert_eq!(f.customers_with_phone("5125550142").await, vec![customer]);
    f.stop().await;
}

#[tokio::test]
async fn the_reconcile_samples_fan_out_and_reconcile_the_demo_tenant() {
    let f = integration_tests::followups::FollowUps::start(&["estimate_follow_up"], serde_json::json!({})).await;
    let event: serde_json::Value = serde_json::from_str(&read("reconcile-fanout.json")).unwrap();
    let summary = f.t.stack.invoke("ReconcileFanOutFunction", event).await.unwrap();
    assert_eq!(summary["tenants"], 1, "{summary}");

    let batch: SqsEvent = serde_json::from_str(&read("reconciler.json")).unwrap();
    let outcome = f.reconciler().handle_message(&batch.records[0]).await.unwrap();
    let reconciler::Outcome::Reconciled(summary) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        summary.feeds.len(),
        1,
        "estimate_follow_up needs the estimates feed only"
    );
    assert!(summary.errors().is_empty(), "{summary:?}");
    assert!(f.reconciler().handle_batch(batch).await.batch_item_failures.is_empty());
    f.stop().await;
}
