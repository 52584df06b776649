//! Secrets never reach a log line. Every function's logs are captured (debug for dependencies, trace for the
//! project's crates) while a tenant is connected, fails to connect in every way, has its token refreshed, its
//! settings read and written, a webhook key added, and is disconnected; then the capture is searched for every
//! secret value involved. Its own binary, because the capture is the process-wide subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use integration_tests::TestStack;
use reqwest::Method;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_appears_in_any_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,shared=trace,servicetitan=trace,tenant_admin=trace,token_refresh=trace,webhook_intake=trace,\
             event_processor=trace,local_stack=trace",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let production = t.stack.production_sandbox().unwrap();
    let tenant = sandbox.demo_tenant().unwrap();
    let prod_tenant = production.create_tenant("Elsewhere Plumbing");
    let mut secrets = vec![
        tenant.client_secret.clone(),
        tenant.app_key.clone(),
        prod_tenant.client_secret.clone(),
        prod_tenant.app_key.clone(),
    ];

    // Every failure class, then a success.
    let mut wrong_secret = tenant.clone();
    wrong_secret.client_secret = "cs1.a-wrong-secret-someone-pasted".into();
    secrets.push(wrong_secret.client_secret.clone());
    assert_eq!(t.connect(&wrong_secret, "integration").await.status, 422);
    assert_eq!(t.connect(&prod_tenant, "integration").await.status, 422);
    let mut wrong_key = tenant.clone();
    wrong_key.app_key = "ak1.someone-elses-app-key".into();
    secrets.push(wrong_key.app_key.clone());
    assert_eq!(t.connect(&wrong_key, "integration").await.status, 422);
    assert_eq!(t.connect(&tenant, "integration").await.status, 200);
    assert_eq!(t.connect(&prod_tenant, "production").await.status, 200);

    let id = tenant.tenant_id;
    let options = t
        .admin(Method::GET, &format!("/admin/tenants/{id}/servicetitan/options"), None)
        .await;
    let bu = &options.body["businessUnits"][0]["id"];
    let jt = &options.body["jobTypesByBusinessUnit"][bu.to_string()][0];
    let campaign = &options.body["campaigns"][0]["id"];
    let settings = json!({"businessUnitId": bu, "jobTypeId": jt, "campaignId": campaign, "timeZone": "America/Denver"});
    assert_eq!(
        t.admin(Method::PUT, &format!("/admin/tenants/{id}/settings"), Some(settings))
            .await
            .status,
        200
    );
    assert_eq!(
        t.admin(Method::GET, &format!("/admin/tenants/{id}/status"), None)
            .await
            .status,
        200
    );

    let hmac_key = "webhook-hmac-key-that-must-stay-secret";
    secrets.push(hmac_key.into());
    let added = t
        .admin(
            Method::POST,
            "/operator/webhook-keys",
            Some(json!({"id": "k9", "secret": hmac_key})),
        )
        .await;
    assert_eq!(added.status, 201);

    // Tokens: refreshed by the schedule, and the rejected-credentials path.
    t.stack.advance(jiff::SignedDuration::from_secs(700)).await.unwrap();
    production.rotate_client_secret(prod_tenant.tenant_id).unwrap();
    t.stack.advance(jiff::SignedDuration::from_secs(900)).await.unwrap();
    let tokens = t
        .stack
        .aws()
        .dynamodb
        .scan()
        .table_name(t.resource("TokensTable"))
        .send()
        .await
        .unwrap();
    for item in tokens.items() {
        if let Some(token) = item.get("access_token").and_then(|v| v.as_s().ok()) {
            secrets.push(token.clone());
        }
    }
    assert!(secrets.len() >= 8, "the tokens were captured too");
    assert_eq!(
        t.admin(Method::DELETE, &format!("/admin/tenants/{id}/servicetitan"), None)
            .await
            .status,
        200
    );
    t.stop().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("tenant connected"), "the capture works");
    assert!(logs.contains(&format!("tenant_id=\"{id}\"")) || logs.contains(&format!("tenant_id={id}")));
    assert!(logs.contains("token refresh failed"), "the failure path was logged");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({}…) appears in the logs",
            &secret[..6.min(secret.len())]
        );
    }
    eprintln!("searched {} log bytes for {} secret values", logs.len(), secrets.len());
}
