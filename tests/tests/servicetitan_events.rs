//! ServiceTitan (the sandbox) → signed webhook → intake → queue → event processor, all on the local stack.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{TENANT, TestStack, attr_s};
use local_stack::demo::{DEMO_KEY, DEMO_KEY_ID};
use servicetitan::client::{ClientOptions, Module};
use servicetitan::models::sales::Estimate;
use servicetitan::{Client, Credentials, Hosts, MemoryTokenStore};
use shared::signing_keys::SigningKey;

#[tokio::test]
async fn an_estimate_sold_in_servicetitan_reaches_the_event_processor() {
    let t = TestStack::start().await;
    t.set_keys(vec![SigningKey {
        id: DEMO_KEY_ID.into(),
        secret: DEMO_KEY.into(),
        not_after: None,
    }])
    .await;
    let sandbox = t.stack.sandbox().expect("the stack runs the sandbox");
    let demo = sandbox.demo_tenant().unwrap();
    assert_eq!(demo.tenant_id.to_string(), TENANT);
    let client = Client::new(
        ClientOptions::new(Hosts {
            auth_url: sandbox.url(),
            api_url: sandbox.url(),
        }),
        Credentials {
            tenant_id: demo.tenant_id,
            client_id: demo.client_id,
            client_secret: demo.client_secret,
            app_key: demo.app_key,
        },
        Arc::new(MemoryTokenStore::default()),
        shared::clock::system(),
    );
    let open: Vec<Estimate> = client
        .list_all(Module::Sales, "/estimates", &[("status", "Open".into())])
        .await
        .unwrap();
    let estimate = open.first().expect("the demo tenant has open estimates");

    let sold = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/tenants/{TENANT}/estimates/{}/sell",
            sandbox.url(),
            estimate.id
        ))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(sold.status().is_success());

    // The sandbox delivers on its own schedule; wait for the intake's 200.
    let mut delivered = None;
    for _ in 0..100 {
        delivered = sandbox
            .deliveries()
            .into_iter()
            .find(|d| d["eventType"] == "estimate.sold" && d["state"] == "delivered");
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivery = delivered.unwrap_or_else(|| panic!("not delivered: {:?}", sandbox.deliveries()));
    assert!(
        delivery["url"]
            .as_str()
            .unwrap()
            .ends_with("/webhooks/servicetitan/estimate.sold")
    );
    let event_id = delivery["eventId"].as_str().unwrap().to_owned();

    let report = t.stack.drain().await.unwrap();
    assert_eq!(report.messages_failed, 0);
    let record = t.event_record(TENANT, &event_id).await.expect("recorded");
    assert_eq!(attr_s(&record, "event_name"), "estimate.sold");
    assert_eq!(attr_s(&record, "entity_id"), estimate.id.to_string());
    assert_eq!(attr_s(&record, "status"), "done");
    t.stop().await;
}
