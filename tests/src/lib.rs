//! Helpers for end-to-end tests: a fresh local stack (its own moto server) per test, and small readers for the
//! queues and tables it creates.

pub mod browser;
pub mod chaos;
pub mod cost;
pub mod followups;
pub mod leads;
pub mod reconcile;

use std::collections::HashMap;
use std::path::PathBuf;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use local_stack::{LocalStack, StackOptions};
use serde_json::Value;

use shared::signing::{self, SignatureEncoding};
use shared::signing_keys::{KeyRing, SigningKey};
use shared::tenants::{ServiceTitanEnvironment, Tenant, TenantRegistry, TenantStatus};
use shared::webhook_scheme::DEFAULT_SIGNATURE_HEADER;

pub const TENANT: &str = "1001";
pub const KEY: &str = "test-webhook-hmac-key-0123456789abcdef";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repo")
        .to_path_buf()
}

/// Monday 06:00 UTC (midnight in Chicago) after `now`: every story starts on a Monday, so the states' rules for
/// sales messages on Sundays and holidays do not move a story's timing with the day the suite runs. (The rules
/// themselves are tested on fixed dates in `shared/followups`, and end to end in `contact_safety`.)
pub fn next_monday(now: jiff::Timestamp) -> jiff::Timestamp {
    let utc = jiff::tz::TimeZone::UTC;
    let mut day = now.to_zoned_datetime(utc.clone()).date();
    loop {
        day = day.tomorrow().expect("in range");
        if day.weekday() == jiff::civil::Weekday::Monday {
            return utc
                .to_timestamp(day.to_datetime(jiff::civil::Time::constant(6, 0, 0, 0)))
                .expect("in range");
        }
    }
}

pub struct TestStack {
    pub stack: LocalStack,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestStack {
    /// A stack with no background polling: tests drain and advance the clock explicitly.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The reconciler runs in every test stack, as deployed, but reads no lookback: the sandbox's seeded history
    /// would otherwise start follow-ups of its own in tests about something else. With webhooks working it then
    /// only confirms what they brought, which every test not about reconciliation checks in passing. Reconcile
    /// tests set `RECONCILE_LOOKBACK_DAYS` themselves.
    pub async fn start_with(configure: impl FnOnce(&mut StackOptions)) -> Self {
        let mut opts = StackOptions::new(repo_root());
        opts.function_env.insert("RECONCILE_LOOKBACK_DAYS".into(), "0".into());
        opts.start_at = Some(next_monday(jiff::Timestamp::now()));
        configure(&mut opts);
        let stack = LocalStack::start(opts)
            .await
            .unwrap_or_else(|e| panic!("local stack failed to start (run `make tools` first?): {e:#}"));
        let t = Self {
            stack,
            http: reqwest::Client::new(),
        };
        t.set_tenant(TENANT, TenantStatus::Connected).await;
        t.set_keys(vec![SigningKey {
            id: "k1".into(),
            secret: KEY.into(),
            not_after: None,
        }])
        .await;
        t
    }

    pub fn resource(&self, logical_id: &str) -> String {
        self.stack
            .physical(logical_id)
            .expect("resource exists")
            .reference
            .clone()
    }

    pub async fn set_tenant(&self, tenant_id: &str, status: TenantStatus) {
        TenantRegistry::new(self.stack.aws().dynamodb.clone(), self.resource("TenantsTable"))
            .put(
                &Tenant {
                    tenant_id: tenant_id.into(),
                    status,
                    environment: ServiceTitanEnvironment::Integration,
                },
                jiff::Timestamp::now(),
            )
            .await
            .expect("tenant stored");
    }

    pub async fn set_keys(&self, keys: Vec<SigningKey>) {
        self.stack
            .aws()
            .secrets
            .put_secret_value()
            .secret_id(self.resource("WebhookSigningKeysSecret"))
            .secret_string(serde_json::to_string(&KeyRing { keys }).unwrap())
            .send()
            .await
            .expect("keys stored");
    }

    /// Makes the intake accept what `make demo` and the sandbox sign: the demo key only.
    pub async fn use_demo_key(&self) {
        use local_stack::demo::{DEMO_KEY, DEMO_KEY_ID};
        self.set_keys(vec![SigningKey {
            id: DEMO_KEY_ID.into(),
            secret: DEMO_KEY.into(),
            not_after: None,
        }])
        .await;
    }

    /// A ServiceTitan client for a tenant of the stack's sandbox, keeping tokens in `store`.
    pub fn servicetitan_client(
        &self,
        tenant: &servicetitan_sandbox::TenantCredentials,
        store: std::sync::Arc<dyn servicetitan::TokenStore>,
    ) -> servicetitan::Client {
        self.servicetitan_client_on(tenant, store, shared::clock::system())
    }

    /// The same on another clock (the stack's virtual one, by which the sandbox also expires tokens).
    pub fn servicetitan_client_on(
        &self,
        tenant: &servicetitan_sandbox::TenantCredentials,
        store: std::sync::Arc<dyn servicetitan::TokenStore>,
        clock: shared::SharedClock,
    ) -> servicetitan::Client {
        let url = self.stack.sandbox().expect("the stack runs the sandbox").url();
        servicetitan::Client::new(
            servicetitan::ClientOptions::new(servicetitan::Hosts {
                auth_url: url.clone(),
                api_url: url,
            }),
            servicetitan::Credentials {
                tenant_id: tenant.tenant_id,
                client_id: tenant.client_id.clone(),
                client_secret: tenant.client_secret.clone(),
                app_key: tenant.app_key.clone(),
            },
            store,
            clock,
        )
    }

    /// Calls an admin route with the local stack's admin token.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(self.stack.admin_token()), body).await
    }

    /// Signs a contractor in for `tenant_id` with the local issuer (`POST /_local/login`): its token.
    pub async fn login(&self, tenant_id: &str, role: &str) -> String {
        let reply = self
            .admin(
                reqwest::Method::POST,
                "/_local/login",
                Some(serde_json::json!({"tenantId": tenant_id, "role": role})),
            )
            .await;
        assert_eq!(reply.status, 200, "login: {}", reply.body);
        reply.body["token"].as_str().expect("a token").to_owned()
    }

    /// Calls an IAM route signed as `principal` (the local stack's stand-in for SigV4 by another role or user).
    pub async fn admin_as(&self, principal: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.send_request(method, path, Some(self.stack.admin_token()), Some(principal), body)
            .await
    }

    /// Calls a route with `Authorization: Bearer <token>` (or none).
    pub async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.send_request(method, path, token, None, body).await
    }

    async fn send_request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        principal: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.stack.api_url()));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(principal) = principal {
            req = req.header(local_stack::http_api::LOCAL_PRINCIPAL_HEADER, principal);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Connects a sandbox tenant through the admin API (`environment` is where its credentials are meant to be).
    pub async fn connect(&self, tenant: &servicetitan_sandbox::TenantCredentials, environment: &str) -> Reply {
        self.admin(
            reqwest::Method::PUT,
            &format!("/admin/tenants/{}/servicetitan", tenant.tenant_id),
            Some(serde_json::json!({
                "environment": environment,
                "clientId": tenant.client_id,
                "clientSecret": tenant.client_secret,
                "appKey": tenant.app_key,
            })),
        )
        .await
    }

    pub fn sign(key: &str, body: &str) -> String {
        signing::encode(
            &signing::sign(key.as_bytes(), body.as_bytes()),
            SignatureEncoding::Base64,
        )
    }

    /// POSTs `body` to `/webhooks/servicetitan{suffix}` signed with the test key.
    pub async fn deliver(&self, suffix: &str, body: &str) -> Reply {
        self.send(
            "POST",
            suffix,
            body,
            Some(&Self::sign(KEY, body)),
            Some("application/json"),
        )
        .await
    }

    /// POSTs `body` signed with `key`; returns the status.
    pub async fn deliver_signed_with(&self, key: &str, body: &str) -> u16 {
        self.send("POST", "", body, Some(&Self::sign(key, body)), Some("application/json"))
            .await
            .status
    }

    pub async fn send(
        &self,
        method: &str,
        suffix: &str,
        body: &str,
        signature: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let url = format!("{}/webhooks/servicetitan{suffix}", self.stack.api_url());
        let mut req = self.http.request(method.parse().unwrap(), url).body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header(DEFAULT_SIGNATURE_HEADER, sig);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.expect("the HTTP API answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text:?}"));
        Reply { status, headers, body }
    }

    /// (visible, in flight) messages of a queue by logical id.
    pub async fn queue_depth(&self, logical_id: &str) -> (u64, u64) {
        let out = self
            .stack
            .aws()
            .sqs
            .get_queue_attributes()
            .queue_url(self.resource(logical_id))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes");
        let get = |n: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&n))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    pub async fn event_record(&self, tenant_id: &str, event_id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.get_item("EventsTable", &[("tenant_id", tenant_id), ("event_id", event_id)])
            .await
    }

    pub async fn tenant_record(&self, tenant_id: &str) -> HashMap<String, AttributeValue> {
        self.get_item("TenantsTable", &[("tenant_id", tenant_id)])
            .await
            .unwrap_or_default()
    }

    /// A strongly consistent read of one item of a template table.
    async fn get_item(&self, table: &str, key: &[(&str, &str)]) -> Option<HashMap<String, AttributeValue>> {
        let key = key
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect();
        self.stack
            .aws()
            .dynamodb
            .get_item()
            .table_name(self.resource(table))
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    pub async fn event_count(&self) -> usize {
        self.stack
            .aws()
            .dynamodb
            .scan()
            .table_name(self.resource("EventsTable"))
            .send()
            .await
            .expect("scan")
            .count as usize
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}

pub fn attr_s(item: &HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .map(|v| v.as_s().cloned().or_else(|_| v.as_n().cloned()).unwrap_or_default())
        .unwrap_or_default()
}

/// A delivery body in the default envelope. It carries no `occurredAt`, so the intake takes the time of receipt
/// (a fixed date would age past the replay window); [`delivery_at`] sets one.
pub fn delivery(event_id: &str, tenant_id: &str, event_type: &str, entity_id: u64) -> String {
    serde_json::json!({
        "eventId": event_id,
        "eventType": event_type,
        "tenantId": tenant_id,
        "data": { "id": entity_id }
    })
    .to_string()
}

/// A delivery body that says when the event happened.
pub fn delivery_at(event_id: &str, tenant_id: &str, event_type: &str, occurred_at: jiff::Timestamp) -> String {
    serde_json::json!({
        "eventId": event_id,
        "eventType": event_type,
        "tenantId": tenant_id,
        "occurredAt": occurred_at.to_string(),
        "data": { "id": 1 }
    })
    .to_string()
}

/// The event the intake makes of a delivery body in the default envelope.
pub fn event_of(body: &str) -> shared::event::ServiceTitanEvent {
    use webhook_intake::normalise::{Normalised, normalise};
    match normalise(&Default::default(), None, body.as_bytes(), jiff::Timestamp::now()).expect("normalises") {
        Normalised::Known(e) => e,
        Normalised::Unknown(s) => panic!("not a known event: {s:?}"),
    }
}
