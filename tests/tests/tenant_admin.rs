//! The admin API through the local stack: connect (and each way it fails), settings checked against the tenant's
//! ServiceTitan data, status, disconnect, webhook keys, tenant isolation, and token-refresh.

use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use integration_tests::{KEY, TestStack, attr_s, delivery};
use reqwest::Method;
use serde_json::{Value, json};
use servicetitan_sandbox::TenantCredentials;

fn fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|f| f.iter().map(|f| f["field"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

fn assert_no_secrets(body: &Value, tenant: &TenantCredentials) {
    let text = body.to_string();
    assert!(!text.contains(&tenant.client_secret), "client secret echoed: {text}");
    assert!(!text.contains(&tenant.app_key), "app key echoed: {text}");
}

/// Two fresh integration tenants, connected through the admin API.
async fn two_connected_tenants(t: &TestStack) -> (TenantCredentials, TenantCredentials) {
    let sandbox = t.stack.sandbox().unwrap();
    let (a, b) = (sandbox.create_tenant("Tenant A"), sandbox.create_tenant("Tenant B"));
    for tenant in [&a, &b] {
        let r = t.connect(tenant, "integration").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    (a, b)
}

async fn get_options(t: &TestStack, tenant_id: i64) -> integration_tests::Reply {
    t.admin(
        Method::GET,
        &format!("/admin/tenants/{tenant_id}/servicetitan/options"),
        None,
    )
    .await
}

async fn status(t: &TestStack, tenant_id: i64) -> Value {
    let r = t
        .admin(Method::GET, &format!("/admin/tenants/{tenant_id}/status"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn connect_checks_the_credentials_then_keeps_them_in_secrets_manager() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let tenant = sandbox.create_tenant("Acme Heating");

    let r = t.connect(&tenant, "integration").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "connected");
    assert_eq!(r.body["environment"], "integration");
    assert_no_secrets(&r.body, &tenant);

    // One secret per tenant, holding what was pasted; the registry names its version.
    let secret = t
        .stack
        .aws()
        .secrets
        .get_secret_value()
        .secret_id(format!("local/tenants/{}/servicetitan", tenant.tenant_id))
        .send()
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    assert_eq!(stored["clientSecret"], tenant.client_secret.as_str());
    assert_eq!(stored["environment"], "integration");
    let record = t.tenant_record(&tenant.tenant_id.to_string()).await;
    assert_eq!(attr_s(&record, "status"), "connected");
    assert_eq!(attr_s(&record, "credentials_version"), secret.version_id().unwrap());

    // The token the connect obtained is shared, so the first real call needs no token request.
    let s = status(&t, tenant.tenant_id).await;
    assert_eq!(s["connected"], true);
    assert_eq!(s["token"]["health"], "healthy");
    assert!(s["token"]["expiresAt"].is_string(), "{s}");
    let options = get_options(&t, tenant.tenant_id).await;
    assert_eq!(options.status, 200, "{}", options.body);
    assert_eq!(
        sandbox.token_requests(&tenant.client_id),
        1,
        "the connect's token was reused"
    );

    // A failed reconnect leaves the working connection as it was.
    let mut wrong = tenant.clone();
    wrong.client_secret = "cs1.not-the-secret".into();
    let r = t.connect(&wrong, "integration").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "invalid_client_credentials");
    assert_eq!(fields(&r.body), vec!["/clientId", "/clientSecret"]);
    let after = t.tenant_record(&tenant.tenant_id.to_string()).await;
    assert_eq!(attr_s(&after, "credentials_version"), secret.version_id().unwrap());
    let options = get_options(&t, tenant.tenant_id).await;
    assert_eq!(
        options.status, 200,
        "still connected with the good credentials: {}",
        options.body
    );
    t.stop().await;
}

#[tokio::test]
async fn each_connect_failure_says_what_is_wrong() {
    let t = TestStack::start().await;
    let integration = t.stack.sandbox().unwrap();
    let production = t.stack.production_sandbox().unwrap();
    let tenant = integration.create_tenant("Integration Co");
    let prod_tenant = production.create_tenant("Production Co");

    // Production credentials pasted under integration: the other environment's token endpoint knows them.
    let r = t.connect(&prod_tenant, "integration").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "wrong_environment");
    assert_eq!(fields(&r.body), vec!["/environment"]);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("production"));
    assert_no_secrets(&r.body, &prod_tenant);
    // ... and under the right one they connect.
    let r = t.connect(&prod_tenant, "production").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status(&t, prod_tenant.tenant_id).await["environment"], "production");

    // Credentials that work nowhere.
    let mut bad = tenant.clone();
    bad.client_id = "cid.unknown".into();
    let r = t.connect(&bad, "integration").await;
    assert_eq!(r.body["error"]["code"], "invalid_client_credentials", "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("and so did production")
    );
    // ... and when the other environment cannot be asked, the answer says so rather than guessing.
    let faults = format!("{}/_sandbox/faults", production.url());
    let fault = json!({"pathContains": "/connect/token", "errorRate": 1.0, "status": 503});
    t.http
        .post(&faults)
        .json(&fault)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let r = t.connect(&bad, "integration").await;
    assert_eq!(r.body["error"]["code"], "invalid_client_credentials", "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("production could not be asked"),
        "{}",
        r.body
    );
    t.http.delete(&faults).send().await.unwrap();

    // A good client id and secret with someone else's app key.
    let mut bad = tenant.clone();
    bad.app_key = "ak1.000000000000".into();
    let r = t.connect(&bad, "integration").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "app_key_rejected");
    assert_eq!(fields(&r.body), vec!["/appKey"]);

    // Good credentials under another tenant's id.
    let mut bad = tenant.clone();
    bad.tenant_id = tenant.tenant_id + 1000;
    let r = t.connect(&bad, "integration").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "tenant_mismatch");
    assert_eq!(fields(&r.body), vec!["/tenantId"]);

    // Nothing was stored for any failed attempt.
    for id in [tenant.tenant_id, tenant.tenant_id + 1000] {
        let r = t.admin(Method::GET, &format!("/admin/tenants/{id}/status"), None).await;
        assert_eq!(r.status, 404, "{id}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "unknown_tenant");
    }

    // ServiceTitan down: 502 with Retry-After, nothing written.
    t.http
        .post(format!("{}/_sandbox/faults", integration.url()))
        .json(&json!({"pathContains": "/connect/token", "errorRate": 1.0, "status": 503}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let r = t.connect(&tenant, "integration").await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "servicetitan_unavailable");
    assert_eq!(r.headers["retry-after"], "30");
    t.http
        .delete(format!("{}/_sandbox/faults", integration.url()))
        .send()
        .await
        .unwrap();

    // Malformed requests: every field named, values never quoted back.
    let path = format!("/admin/tenants/{}/servicetitan", tenant.tenant_id);
    let r = t
        .admin(
            Method::PUT,
            &path,
            Some(json!({"environment": "staging", "clientId": 7, "clientSecret": "", "extra": true})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        fields(&r.body),
        vec!["/extra", "/environment", "/clientId", "/clientSecret", "/appKey"]
    );
    let r = t
        .admin(Method::PUT, "/admin/tenants/12ab/servicetitan", Some(json!({})))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("invalid_tenant_id"))
    );
    let r = t.admin(Method::GET, &path, None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "PUT, DELETE");
    let raw = t
        .http
        .put(format!("{}{path}", t.stack.api_url()))
        .bearer_auth(t.stack.admin_token())
        .header("content-type", "application/json")
        .body(format!("{{\"clientSecret\": \"{}\"", tenant.client_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let text = raw.text().await.unwrap();
    let plain = t
        .http
        .put(format!("{}{path}", t.stack.api_url()))
        .bearer_auth(t.stack.admin_token())
        .header("content-type", "text/plain")
        .body("environment=integration")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    assert!(
        text.contains("invalid_json") && !text.contains(&tenant.client_secret),
        "{text}"
    );

    // Without the admin token (SigV4 in AWS) nothing is reachable.
    let anonymous = t
        .http
        .get(format!("{}/operator/webhook-keys", t.stack.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    let wrong = t
        .http
        .get(format!("{}/operator/webhook-keys", t.stack.api_url()))
        .bearer_auth("local-0000")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    t.stop().await;
}

#[tokio::test]
async fn settings_are_checked_against_the_tenants_servicetitan_data() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let tenant = sandbox.demo_tenant().unwrap();
    let path = format!("/admin/tenants/{}/settings", tenant.tenant_id);
    let settings = |bu: &Value, jt: &Value, campaign: &Value| {
        json!({
            "businessUnitId": bu, "jobTypeId": jt, "campaignId": campaign, "priority": "High",
            "timeZone": "America/Chicago", "quietHours": {"start": "20:00", "end": "08:00"},
            "bookingUrl": "https://book.example.com/acme", "channels": ["sms", "voice"],
            "recipes": ["estimate_follow_up", "invoice_dunning"]
        })
    };

    // Not connected through the admin API yet (the test stack registered 1001 without credentials).
    let r = t
        .admin(Method::PUT, &path, Some(settings(&json!(1), &json!(2), &json!(3))))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "tenant_not_connected");

    assert_eq!(t.connect(&tenant, "integration").await.status, 200);
    let options = get_options(&t, tenant.tenant_id).await;
    assert_eq!(options.status, 200, "{}", options.body);
    let o = &options.body;
    let units = o["businessUnits"].as_array().unwrap();
    assert!(units.len() >= 2, "{o}");
    let (bu, other_bu) = (&units[0]["id"], &units[1]["id"]);
    let jt = &o["jobTypesByBusinessUnit"][bu.to_string()][0];
    let foreign_jt = &o["jobTypesByBusinessUnit"][other_bu.to_string()][0];
    assert!(jt.is_i64() && foreign_jt.is_i64(), "{o}");
    let campaign = &o["campaigns"][0]["id"];

    let r = t.admin(Method::GET, &path, None).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("settings_not_set"))
    );

    // A job type of another business unit: refused, with the ones that would do.
    let r = t
        .admin(Method::PUT, &path, Some(settings(bu, foreign_jt, campaign)))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r.body), vec!["/jobTypeId"]);
    let choices = &r.body["error"]["fields"][0]["choices"];
    assert!(choices.as_array().unwrap().iter().any(|c| &c["id"] == jt), "{choices}");
    assert!(!choices.as_array().unwrap().iter().any(|c| &c["id"] == foreign_jt));

    // Ids that do not exist at all.
    let r = t
        .admin(Method::PUT, &path, Some(settings(&json!(999_999), jt, &json!(999_998))))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r.body), vec!["/businessUnitId", "/jobTypeId", "/campaignId"]);
    assert_eq!(
        r.body["error"]["fields"][0]["choices"].as_array().unwrap().len(),
        units.len()
    );

    // Checks that need no ServiceTitan come first, all at once.
    let r = t
        .admin(
            Method::PUT,
            &path,
            Some(json!({"businessUnitId": bu, "timeZone": "Nowhere/Special", "recipes": ["spam"]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        fields(&r.body),
        vec!["/jobTypeId", "/campaignId", "/timeZone", "/recipes/0"]
    );

    // Valid settings are stored and read back; nothing partial was stored before.
    let r = t.admin(Method::PUT, &path, Some(settings(bu, jt, campaign))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t.admin(Method::GET, &path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["settings"]["jobTypeId"], *jt);
    assert_eq!(
        r.body["settings"]["recipes"],
        json!(["estimate_follow_up", "invoice_dunning"])
    );
    assert_eq!(r.body["settings"]["channels"], json!(["sms", "voice"]));
    assert_eq!(status(&t, tenant.tenant_id).await["settingsComplete"], true);
    t.stop().await;
}

#[tokio::test]
async fn disconnect_rejects_webhooks_cancels_schedules_and_retires_the_secret() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let tenant = sandbox.demo_tenant().unwrap();
    let id = tenant.tenant_id.to_string();
    assert_eq!(t.connect(&tenant, "integration").await.status, 200);
    assert_eq!(
        t.deliver("", &delivery("before", &id, "JobCompleted", 1)).await.status,
        200
    );

    // A follow-up of this tenant and one of another tenant whose id starts the same.
    let group = t.resource("FollowUpScheduleGroup");
    for name in [format!("t{id}-estimate-1"), format!("t{id}0-estimate-1")] {
        t.stack
            .aws()
            .scheduler
            .create_schedule()
            .name(name)
            .group_name(&group)
            .schedule_expression("at(2030-01-01T00:00:00)")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .unwrap(),
            )
            .target(
                Target::builder()
                    .arn(t.stack.physical("EventsQueue").unwrap().attributes["Arn"].clone())
                    .role_arn("arn:aws:iam::123456789012:role/scheduler")
                    .input("{}")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    let path = format!("/admin/tenants/{id}/servicetitan");
    let disconnected = t.admin(Method::DELETE, &path, None).await;
    assert_eq!(disconnected.status, 200, "{}", disconnected.body);
    assert_eq!(disconnected.body["schedulesCancelled"], 1);
    assert!(
        disconnected.body["credentialsDeletionDate"].is_string(),
        "{}",
        disconnected.body
    );
    let left: Vec<String> = t
        .stack
        .aws()
        .scheduler
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .unwrap()
        .schedules()
        .iter()
        .filter_map(|s| s.name().map(str::to_owned))
        .collect();
    assert_eq!(
        left,
        vec![format!("t{id}0-estimate-1")],
        "only this tenant's schedules go"
    );

    // Webhooks are refused from now on; the secret is scheduled for deletion; tokens are gone.
    let r = t.deliver("", &delivery("after", &id, "JobCompleted", 2)).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("tenant_disconnected"))
    );
    let described = t
        .stack
        .aws()
        .secrets
        .describe_secret()
        .secret_id(format!("local/tenants/{id}/servicetitan"))
        .send()
        .await
        .unwrap();
    assert!(described.deleted_date().is_some());
    let s = status(&t, tenant.tenant_id).await;
    assert_eq!(
        (s["connected"].as_bool(), s["status"].as_str()),
        (Some(false), Some("disconnected"))
    );
    let options = t.admin(Method::GET, &format!("{path}/options"), None).await;
    assert_eq!(options.status, 409, "{}", options.body);

    // Repeating it is harmless; reconnecting restores the secret.
    let again = t.admin(Method::DELETE, &path, None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["disconnectedAt"], disconnected.body["disconnectedAt"]);
    assert_eq!(t.connect(&tenant, "integration").await.status, 200);
    assert_eq!(
        t.deliver("", &delivery("back", &id, "JobCompleted", 3)).await.status,
        200
    );
    let r = t
        .admin(Method::DELETE, "/admin/tenants/424242/servicetitan", None)
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("unknown_tenant"))
    );
    t.stop().await;
}

#[tokio::test]
async fn status_counts_queued_failed_and_processed_events() {
    let t = TestStack::start().await;
    let tenant = t.stack.sandbox().unwrap().demo_tenant().unwrap();
    let id = tenant.tenant_id.to_string();
    assert_eq!(t.connect(&tenant, "integration").await.status, 200);
    for n in 0..3 {
        assert_eq!(
            t.deliver("", &delivery(&format!("e{n}"), &id, "JobCompleted", n))
                .await
                .status,
            200
        );
    }
    let s = status(&t, tenant.tenant_id).await;
    assert_eq!(s["events"]["queued"], 3, "{s}");
    t.stack.drain().await.unwrap();
    let s = status(&t, tenant.tenant_id).await;
    assert_eq!(
        (s["events"]["queued"].as_u64(), s["events"]["processed"].as_u64()),
        (Some(0), Some(3)),
        "{s}"
    );
    assert!(s["lastWebhookAt"].is_string(), "{s}");
    assert_eq!(s["events"]["failed"], 0);
    t.stop().await;
}

#[tokio::test]
async fn webhook_keys_rotate_without_a_gap() {
    let t = TestStack::start_with(|o| {
        o.function_env.insert("WEBHOOK_KEY_CACHE_SECONDS".into(), "0".into());
    })
    .await;
    let id = "1001";
    let r = t.admin(Method::GET, "/operator/webhook-keys", None).await;
    assert_eq!(r.body["keys"], json!([{"id": "k1", "notAfter": null, "active": true}]));

    let new_key = "a-brand-new-hmac-key-for-rotation";
    let r = t
        .admin(
            Method::POST,
            "/operator/webhook-keys",
            Some(json!({"id": "k2", "secret": new_key})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.to_string().contains(new_key), "the secret is never echoed");
    // Both keys are accepted while ServiceTitan switches over; after the retirement only the new one.
    let accepted = |key: &'static str, event: &'static str| {
        let t = &t;
        async move {
            t.deliver_signed_with(key, &delivery(event, id, "JobCompleted", 1))
                .await
        }
    };
    assert_eq!((accepted(KEY, "old").await, accepted(new_key, "new").await), (200, 200));
    let r = t.admin(Method::DELETE, "/operator/webhook-keys/k1", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (accepted(KEY, "old2").await, accepted(new_key, "new2").await),
        (401, 200)
    );

    // The last active key cannot be retired; duplicates and short secrets are refused.
    let r = t.admin(Method::DELETE, "/operator/webhook-keys/k2", None).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (409, Some("last_active_key"))
    );
    let r = t
        .admin(
            Method::POST,
            "/operator/webhook-keys",
            Some(json!({"id": "k2", "secret": new_key})),
        )
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (409, Some("key_exists")));
    let r = t
        .admin(
            Method::POST,
            "/operator/webhook-keys",
            Some(json!({"id": "bad id", "secret": "short", "notAfter": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(fields(&r.body), vec!["/id", "/secret", "/notAfter"]);
    // A well-formed key whose notAfter has passed fits the document's schema: a rule refuses it, 422.
    let r = t
        .admin(
            Method::POST,
            "/operator/webhook-keys",
            Some(json!({"id": "k3", "secret": new_key, "notAfter": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(fields(&r.body), vec!["/notAfter"]);
    let r = t.admin(Method::DELETE, "/operator/webhook-keys/nope", None).await;
    assert_eq!(r.status, 404);
    t.stop().await;
}

#[tokio::test]
async fn tenants_never_see_each_others_credentials_or_tokens() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let (a, b) = two_connected_tenants(&t).await;
    let before = (
        sandbox.token_requests(&a.client_id),
        sandbox.token_requests(&b.client_id),
    );

    // Each tenant's read uses its own credentials and token.
    let tokens = servicetitan::DynamoDbTokenStore::new(t.stack.aws().dynamodb.clone(), t.resource("TokensTable"));
    let a_tokens = tokens.tenant_tokens(a.tenant_id).await.unwrap();
    let b_tokens = tokens.tenant_tokens(b.tenant_id).await.unwrap();
    assert_eq!((a_tokens.len(), b_tokens.len()), (1, 1));
    assert!(a_tokens[0].scope.ends_with(&a.client_id) && b_tokens[0].scope.ends_with(&b.client_id));
    let r = get_options(&t, a.tenant_id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            sandbox.token_requests(&a.client_id),
            sandbox.token_requests(&b.client_id)
        ),
        before,
        "each tenant's stored token was used, nobody else's"
    );

    // B's credentials copied under A's name (an operator's slip, or an attack): A refuses to use them.
    let b_secret = t
        .stack
        .aws()
        .secrets
        .get_secret_value()
        .secret_id(format!("local/tenants/{}/servicetitan", b.tenant_id))
        .send()
        .await
        .unwrap();
    let planted = t
        .stack
        .aws()
        .secrets
        .put_secret_value()
        .secret_id(format!("local/tenants/{}/servicetitan", a.tenant_id))
        .secret_string(b_secret.secret_string().unwrap())
        .send()
        .await
        .unwrap();
    shared::tenants::TenantRegistry::new(t.stack.aws().dynamodb.clone(), t.resource("TenantsTable"))
        .connect(
            &a.tenant_id.to_string(),
            shared::tenants::ServiceTitanEnvironment::Integration,
            planted.version_id().unwrap(),
            jiff::Timestamp::now(),
        )
        .await
        .unwrap();
    let r = get_options(&t, a.tenant_id).await;
    assert_ne!(r.status, 200, "{}", r.body);
    assert!(!r.body.to_string().contains(&b.client_secret));
    assert_eq!(
        sandbox.token_requests(&b.client_id),
        before.1,
        "B's credentials were never used for A"
    );
    t.stop().await;
}

#[tokio::test]
async fn token_refresh_keeps_tokens_ahead_and_backs_off_from_refused_credentials() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let (a, b) = two_connected_tenants(&t).await;

    // Tokens from the connects last 15 minutes: nothing to do yet.
    let run = t.stack.invoke("TokenRefreshFunction", json!({})).await.unwrap();
    assert_eq!(
        (run["tenants"].as_u64(), run["still_fresh"].as_u64()),
        (Some(3), Some(2)),
        "{run}"
    );
    assert_eq!(sandbox.token_requests(&a.client_id), 1);

    // Ten virtual minutes: the 5-minute schedule runs on its own and refreshes each token once, ahead of expiry.
    let report = t.stack.advance(jiff::SignedDuration::from_secs(600)).await.unwrap();
    assert!(report.scheduled_runs >= 1, "{report:?}");
    assert_eq!(
        (
            sandbox.token_requests(&a.client_id),
            sandbox.token_requests(&b.client_id)
        ),
        (2, 2)
    );
    let s = status(&t, a.tenant_id).await;
    assert_eq!(s["token"]["health"], "healthy");

    // A's secret is regenerated in ServiceTitan: A turns unhealthy with a reason, then backs off.
    let new_secret = sandbox.rotate_client_secret(a.tenant_id).unwrap();
    t.stack.advance(jiff::SignedDuration::from_secs(900)).await.unwrap();
    let s = status(&t, a.tenant_id).await;
    assert_eq!(s["token"]["health"], "unhealthy", "{s}");
    assert!(
        s["token"]["lastError"]
            .as_str()
            .unwrap()
            .contains("refused the client credentials"),
        "{s}"
    );
    assert!(s["token"]["nextAttemptAt"].is_string(), "{s}");
    let requests = sandbox.token_requests(&a.client_id);
    let run = t
        .stack
        .invoke("TokenRefreshFunction", json!({"tenantIds": [a.tenant_id.to_string()]}))
        .await
        .unwrap();
    assert_eq!(run["backing_off"], 1, "{run}");
    assert_eq!(
        sandbox.token_requests(&a.client_id),
        requests,
        "no token request while backing off"
    );
    assert_eq!(
        status(&t, b.tenant_id).await["token"]["health"],
        "healthy",
        "B is unaffected"
    );

    // Reconnecting with the new secret makes A healthy again.
    let mut renewed = a.clone();
    renewed.client_secret = new_secret;
    assert_eq!(t.connect(&renewed, "integration").await.status, 200);
    assert_eq!(status(&t, a.tenant_id).await["token"]["health"], "healthy");
    t.stop().await;
}

#[tokio::test]
async fn a_servicetitan_outage_degrades_token_health_and_the_next_run_recovers() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let (a, _) = two_connected_tenants(&t).await;
    let faults = format!("{}/_sandbox/faults", sandbox.url());
    let fault = json!({"pathContains": "/connect/token", "errorRate": 1.0, "status": 503});
    t.http
        .post(&faults)
        .json(&fault)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    // The tokens from the connects are due for a refresh 10 minutes later, but the token endpoint is down.
    t.stack.clock().advance(jiff::SignedDuration::from_secs(600));
    let run = t.stack.invoke("TokenRefreshFunction", json!({})).await.unwrap();
    assert_eq!(run["unavailable"], 2, "{run}");
    let s = status(&t, a.tenant_id).await;
    assert_eq!(s["token"]["health"], "degraded", "{s}");
    assert!(
        s["token"]["lastError"]
            .as_str()
            .unwrap()
            .contains("token request failed"),
        "{s}"
    );
    assert_eq!(
        s["token"]["nextAttemptAt"],
        Value::Null,
        "an outage is retried on the next run, not backed off"
    );
    assert_eq!(s["token"]["consecutiveFailures"], 1);

    // ServiceTitan is back: the next run refreshes and the tenant is healthy again, its failures forgotten.
    t.http.delete(&faults).send().await.unwrap();
    let run = t.stack.invoke("TokenRefreshFunction", json!({})).await.unwrap();
    assert_eq!(run["refreshed"], 2, "{run}");
    let s = status(&t, a.tenant_id).await;
    assert_eq!(
        (
            s["token"]["health"].as_str(),
            s["token"]["consecutiveFailures"].as_u64()
        ),
        (Some("healthy"), Some(0))
    );
    assert_eq!(s["token"]["lastError"], Value::Null);
    t.stop().await;
}
