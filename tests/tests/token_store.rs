//! ServiceTitan tokens shared through DynamoDB (moto), against the local stack's ServiceTitan sandbox: many
//! clients that share nothing but the table behave like many Lambdas.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::TestStack;
use servicetitan::{Client, DynamoDbTokenStore};
use servicetitan_sandbox::TenantCredentials;

fn lambda_like_client(t: &TestStack, tenant: &TenantCredentials) -> Client {
    // A store of its own, as each Lambda would build; only the table is shared.
    let store = DynamoDbTokenStore::new(t.stack.aws().dynamodb.clone(), t.resource("TokensTable"));
    t.servicetitan_client(tenant, Arc::new(store))
}

#[tokio::test]
async fn fifty_concurrent_lambdas_make_one_token_request_and_one_refresh_after_revocation() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let tenant = sandbox.demo_tenant().unwrap();
    let clients: Vec<Arc<Client>> = (0..50).map(|_| Arc::new(lambda_like_client(&t, &tenant))).collect();

    let calls: Vec<_> = clients
        .iter()
        .map(|c| {
            let c = c.clone();
            tokio::spawn(async move { c.business_units().await })
        })
        .collect();
    for call in calls {
        assert!(!call.await.unwrap().unwrap().is_empty());
    }
    assert_eq!(
        sandbox.token_requests(&tenant.client_id),
        1,
        "one token request for fifty cold Lambdas"
    );

    // The token is revoked mid-flight: every client gets a 401, and one of them fetches the replacement.
    reqwest::Client::new()
        .post(format!("{}/_sandbox/tokens/revoke", sandbox.url()))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let calls: Vec<_> = clients
        .iter()
        .take(20)
        .map(|c| {
            let c = c.clone();
            tokio::spawn(async move { c.campaigns().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        sandbox.token_requests(&tenant.client_id),
        2,
        "one refresh for twenty rejected callers"
    );
    t.stop().await;
}

#[tokio::test]
async fn tenants_never_share_a_token_and_no_lease_outlives_a_failed_refresh() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let a = sandbox.demo_tenant().unwrap();
    let b = sandbox.create_tenant("Second Contractor HVAC");
    lambda_like_client(&t, &a).business_units().await.unwrap();
    lambda_like_client(&t, &b).business_units().await.unwrap();
    let item = |tenant: i64| {
        let t = &t;
        async move {
            let out = t
                .stack
                .aws()
                .dynamodb
                .query()
                .table_name(t.resource("TokensTable"))
                .key_condition_expression("tenant_id = :t")
                .expression_attribute_values(":t", AttributeValue::S(tenant.to_string()))
                .send()
                .await
                .unwrap();
            out.items().to_vec()
        }
    };
    let (items_a, items_b) = (item(a.tenant_id).await, item(b.tenant_id).await);
    assert_eq!(
        (items_a.len(), items_b.len()),
        (1, 1),
        "each token sits under its own tenant id"
    );
    assert_ne!(items_a[0]["access_token"], items_b[0]["access_token"]);
    assert!(
        !items_a[0].contains_key("lease_holder"),
        "the lease ends when the token is stored"
    );

    // Wrong credentials: the refresh fails and its lease is released at once, so the next caller is not held up.
    let mut wrong = b.clone();
    wrong.tenant_id = 4242;
    wrong.client_secret = "cs1.wrong".into();
    let started = std::time::Instant::now();
    for _ in 0..2 {
        let err = lambda_like_client(&t, &wrong).business_units().await.unwrap_err();
        assert!(matches!(err, servicetitan::Error::Auth { .. }), "{err:?}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no wait for a dead lease"
    );
    assert!(!item(4242).await[0].contains_key("lease_holder"));
    t.stop().await;
}

#[tokio::test]
async fn a_token_expiring_mid_flight_is_refreshed_once_for_everyone() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let tenant = sandbox.demo_tenant().unwrap();
    // Twenty Lambdas on the stack's virtual clock (the sandbox expires tokens by it too), sharing only the table.
    let clients: Vec<Arc<Client>> = (0..20)
        .map(|_| {
            let store = DynamoDbTokenStore::new(t.stack.aws().dynamodb.clone(), t.resource("TokensTable"));
            Arc::new(t.servicetitan_client_on(&tenant, Arc::new(store), t.stack.clock()))
        })
        .collect();
    let run_all = |clients: &[Arc<Client>]| {
        let calls: Vec<_> = clients
            .iter()
            .map(|c| {
                let c = c.clone();
                tokio::spawn(async move { c.campaigns().await })
            })
            .collect();
        async move {
            for call in calls {
                call.await.unwrap().unwrap();
            }
        }
    };
    run_all(&clients).await;
    assert_eq!(sandbox.token_requests(&tenant.client_id), 1);

    // 850 s later every warm copy is inside the 60 s refresh margin: one of them refreshes, the rest wait for it.
    t.stack.advance(jiff::SignedDuration::from_secs(850)).await.unwrap();
    run_all(&clients).await;
    assert_eq!(
        sandbox.token_requests(&tenant.client_id),
        2,
        "one refresh for twenty callers whose token ran out"
    );
    // And the warm copies now hold the new token: no more requests for its lifetime.
    t.stack.advance(jiff::SignedDuration::from_secs(600)).await.unwrap();
    run_all(&clients).await;
    assert_eq!(sandbox.token_requests(&tenant.client_id), 2);
    t.stop().await;
}
