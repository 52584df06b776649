//! Reconciliation in tests: webhooks switched off in the sandbox, the fan-out run at will, and the reconcile state
//! read back.

use serde_json::{Value, json};
use shared::reconcile_state::{FeedState, ReconcileStore};

use crate::TENANT;
use crate::followups::FollowUps;

impl FollowUps {
    /// ServiceTitan stops sending webhooks (deliveries already queued are still attempted).
    pub fn webhooks_off(&self) {
        self.t.stack.sandbox().unwrap().disable_webhooks();
    }

    /// ServiceTitan sends webhooks to the stack again, as the stack set them up.
    pub fn webhooks_on(&self) {
        self.t
            .stack
            .sandbox()
            .unwrap()
            .configure_webhooks(servicetitan_sandbox::WebhookConfig {
                callback_url: format!("{}/webhooks/servicetitan", self.t.stack.api_url()),
                hmac_key: Some(local_stack::demo::DEMO_KEY.to_owned()),
                per_event_urls: true,
                ..Default::default()
            });
    }

    /// Runs the reconcile fan-out now (as its schedule would), then drains: every connected tenant is reconciled.
    pub async fn reconcile_now(&self) -> Value {
        let summary = self
            .t
            .stack
            .invoke("ReconcileFanOutFunction", json!({"source": "reconcile-schedule"}))
            .await
            .unwrap();
        self.webhooks().await;
        summary
    }

    /// The reconcile state, read and written as the functions do.
    pub fn reconcile_store(&self) -> ReconcileStore {
        ReconcileStore::new(self.t.stack.aws().dynamodb.clone(), self.t.resource("ReconcileTable"))
    }

    /// The demo tenant's feed state.
    pub async fn feed(&self, feed: &str) -> FeedState {
        self.reconcile_store()
            .feeds(TENANT)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.feed == feed)
            .unwrap_or_else(|| panic!("no state for the {feed} feed"))
    }
}

/// Logs of the functions to the test's output (`RUST_LOG`, default warnings), to see why a message failed.
pub fn log_to_test_output() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

impl FollowUps {
    /// Another tenant of the sandbox, connected through the admin API with `recipes` on (its first business unit,
    /// job type and campaign). Returns its id and an API client for it.
    pub async fn second_tenant(&self, recipes: &[&str]) -> (String, servicetitan::Client) {
        let sandbox = self.t.stack.sandbox().unwrap();
        let creds = sandbox.create_tenant("Hill Country Plumbing");
        let reply = self.t.connect(&creds, "integration").await;
        assert_eq!(reply.status, 200, "connect: {}", reply.body);
        let client = self.t.servicetitan_client_on(
            &creds,
            std::sync::Arc::new(servicetitan::MemoryTokenStore::default()),
            self.t.stack.clock(),
        );
        let unit = client.business_units().await.unwrap()[0].id;
        let job_type = client
            .job_types()
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.business_unit_ids.contains(&unit))
            .unwrap()
            .id;
        let campaign = client.campaigns().await.unwrap()[0].id;
        let mut settings = crate::followups::settings(recipes, json!({}));
        settings["businessUnitId"] = json!(unit);
        settings["jobTypeId"] = json!(job_type);
        settings["campaignId"] = json!(campaign);
        let tenant_id = creds.tenant_id.to_string();
        let reply = self
            .t
            .admin(
                reqwest::Method::PUT,
                &format!("/admin/tenants/{tenant_id}/settings"),
                Some(settings),
            )
            .await;
        assert_eq!(reply.status, 200, "settings: {}", reply.body);
        (tenant_id, client)
    }

    /// The tenant's runs on an entity (`estimate:123`), through the admin API.
    pub async fn runs_of(&self, tenant_id: &str, entity: &str) -> Value {
        let reply = self
            .t
            .admin(
                reqwest::Method::GET,
                &format!("/admin/tenants/{tenant_id}/runs?entity={entity}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["runs"].clone()
    }

    /// The reconciler, configured as the stack hosts it (an instance of its own, as another Lambda would be).
    pub fn reconciler(&self) -> reconciler::Reconciler {
        let aws = self.t.stack.aws();
        let env = &self.t.stack.function("ReconcilerFunction").unwrap().env;
        reconciler::Reconciler::new(
            reconciler::ReconcilerConfig::from_env(env).unwrap(),
            reconciler::ReconcilerClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                sqs: aws.sqs.clone(),
            },
            self.t.stack.clock(),
        )
        .unwrap()
    }
}
