//! Machine callers are bound to tenants (issue 16 §2): a principal the deployment's `MachineCallers` binds to one
//! tenant acts for it on `/leads`, `/inbound` and `/admin/tenants/*`, and gets 403 for any other, with nothing
//! written; a principal it does not name acts for none. The deployment-wide routes are under `/operator`.

use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use integration_tests::leads::lead;
use local_stack::http_api::LOCAL_OPERATOR;
use reqwest::Method;
use serde_json::json;

const WIDGET_ROLE: &str = "arn:aws:iam::123456789012:role/widget-backend-acme";
/// How the widget's backend signs: a session of its role.
const WIDGET: &str = "arn:aws:sts::123456789012:assumed-role/widget-backend-acme/request-7";
const STRANGER: &str = "arn:aws:iam::123456789012:role/someone-else";

async fn bound_stack() -> FollowUps {
    FollowUps::start_with(&["estimate_follow_up"], json!({}), |o| {
        o.parameters.insert(
            "MachineCallers".into(),
            json!({LOCAL_OPERATOR: "*", WIDGET_ROLE: [TENANT]}).to_string(),
        );
    })
    .await
}

#[tokio::test]
async fn a_caller_acts_for_its_own_tenants_and_gets_403_for_any_other_with_nothing_written() {
    let f = bound_stack().await;
    let (other, _) = f.second_tenant(&["estimate_follow_up"]).await;

    // Its own tenant: leads, their status, replies and the admin routes.
    let r =
        f.t.admin_as(
            WIDGET,
            Method::POST,
            "/leads",
            Some(lead("lead-own", "Dana Whitfield", "+15125550101", json!({}))),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r =
        f.t.admin_as(WIDGET, Method::GET, &format!("/leads/lead-own?tenantId={TENANT}"), None)
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        f.t.admin_as(WIDGET, Method::GET, &format!("/admin/tenants/{TENANT}/status"), None)
            .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Another tenant: 403 naming the caller, before the tenant is even looked up.
    let foreign = lead("lead-foreign", "Sam Ortiz", "+15125550102", json!({"tenantId": other}));
    let r = f.t.admin_as(WIDGET, Method::POST, "/leads", Some(foreign)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "caller_not_bound");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains(WIDGET),
        "{}",
        r.body
    );
    let stop = json!({"tenantId": other, "channel": "sms", "from": "+15125550102", "text": "STOP"});
    let r = f.t.admin_as(WIDGET, Method::POST, "/inbound", Some(stop)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    for (method, path, body) in [
        (Method::GET, format!("/admin/tenants/{other}/status"), None),
        (Method::GET, format!("/admin/tenants/{other}/settings"), None),
        (Method::PUT, format!("/admin/tenants/{other}/settings"), Some(json!({}))),
        (Method::DELETE, format!("/admin/tenants/{other}/servicetitan"), None),
        (Method::POST, format!("/admin/tenants/{other}/sink-secret"), None),
        (Method::GET, format!("/leads/lead-own?tenantId={other}"), None),
    ] {
        let r = f.t.admin_as(WIDGET, method.clone(), &path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
    }

    // Nothing was written for the other tenant: no lead, no opt-out, still connected.
    f.webhooks().await;
    let r =
        f.t.admin(Method::GET, &format!("/leads/lead-foreign?tenantId={other}"), None)
            .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r =
        f.t.admin(Method::GET, &format!("/admin/tenants/{other}/opt-outs"), None)
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["optOuts"], json!([]), "{}", r.body);
    let r =
        f.t.admin(Method::GET, &format!("/admin/tenants/{other}/status"), None)
            .await;
    assert_eq!(r.body["status"], "connected", "{}", r.body);

    // A principal the deployment does not name acts for no tenant.
    let r =
        f.t.admin_as(STRANGER, Method::GET, &format!("/admin/tenants/{TENANT}/status"), None)
            .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r =
        f.t.admin_as(
            STRANGER,
            Method::POST,
            "/leads",
            Some(lead("lead-x", "Ann Lee", "+15125550103", json!({}))),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    f.stop().await;
}

#[tokio::test]
async fn the_signing_keys_and_every_tenants_dead_letters_are_under_operator_only() {
    let f = bound_stack().await;
    for path in ["/admin/webhook-keys", "/admin/dead-letters"] {
        let r = f.t.admin(Method::GET, path, None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    for path in ["/operator/webhook-keys", "/operator/dead-letters"] {
        let r = f.t.admin(Method::GET, path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    f.stop().await;
}
