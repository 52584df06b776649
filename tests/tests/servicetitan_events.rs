//! ServiceTitan (the sandbox) → signed webhook → intake → queue → event processor, all on the local stack.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{TENANT, TestStack, attr_s};
use servicetitan::MemoryTokenStore;
use servicetitan::client::Module;
use servicetitan::models::sales::Estimate;

#[tokio::test]
async fn an_estimate_sold_in_servicetitan_reaches_the_event_processor() {
    let t = TestStack::start().await;
    t.use_demo_key().await;
    let sandbox = t.stack.sandbox().expect("the stack runs the sandbox");
    let demo = sandbox.demo_tenant().unwrap();
    assert_eq!(demo.tenant_id.to_string(), TENANT);
    let client = t.servicetitan_client(&demo, Arc::new(MemoryTokenStore::default()));
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
