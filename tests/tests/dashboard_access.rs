//! The contractors' dashboard: a token of the host platform's identity provider reaches its own tenant only, a
//! viewer only reads, and the deployment's own routes (the webhook signing keys) are not reachable from it.

use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use reqwest::Method;
use serde_json::json;

/// Every dashboard route, with a method that reaches its handler.
const ROUTES: &[(&str, &str)] = &[
    ("PUT", "servicetitan"),
    ("DELETE", "servicetitan"),
    ("GET", "servicetitan/options"),
    ("GET", "settings"),
    ("PUT", "settings"),
    ("GET", "status"),
    ("GET", "runs"),
    ("GET", "runs/estimate_follow_up.estimate-1.1"),
    ("GET", "opt-outs"),
    ("DELETE", "opt-outs/%2B15125550100"),
    ("GET", "recipes"),
    ("GET", "recipes/estimate_follow_up"),
    ("PUT", "recipes/estimate_follow_up"),
    ("DELETE", "recipes/estimate_follow_up"),
    ("POST", "test-lead"),
    ("POST", "reconcile"),
    ("GET", "preview"),
    ("GET", "recipes/estimate_follow_up/sample"),
    ("POST", "recipes/estimate_follow_up/sample"),
    ("GET", "webhooks"),
    ("GET", "sink-secret"),
    ("POST", "sink-secret"),
    ("GET", "leads"),
    ("GET", "dead-letters"),
    ("POST", "dead-letters/redrive"),
];

#[test]
fn the_walk_covers_every_dashboard_route_of_the_template() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let prefix = "Path: /dashboard/tenants/{tenantId}/";
    let mut missing = Vec::new();
    for line in template.lines().map(str::trim).filter(|l| l.starts_with(prefix)) {
        let path: Vec<&str> = line[prefix.len()..].split('/').collect();
        let walked = ROUTES.iter().any(|(_, route)| {
            let route: Vec<&str> = route.split('/').collect();
            route.len() == path.len() && route.iter().zip(&path).all(|(r, p)| p.starts_with('{') || r == p)
        });
        if !walked {
            missing.push(line.to_owned());
        }
    }
    assert!(missing.is_empty(), "add these to ROUTES: {missing:?}");
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.as_bytes()).unwrap()
}

#[tokio::test]
async fn a_token_reaches_its_own_tenant_only_and_a_viewer_only_reads() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let owner = f.t.login(TENANT, "owner").await;
    let viewer = f.t.login(TENANT, "viewer").await;
    let other = f.t.login("2002", "owner").await;

    // Tenant A's token on tenant B: 403 on every route, before anything is read or changed.
    for (m, route) in ROUTES {
        let r =
            f.t.call(
                method(m),
                &format!("/dashboard/tenants/2002/{route}"),
                Some(&owner),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, 403, "{m} {route}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "forbidden", "{m} {route}");
        // And B's token on A, the same.
        let r =
            f.t.call(
                method(m),
                &format!("/dashboard/tenants/{TENANT}/{route}"),
                Some(&other),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, 403, "{m} {route}: {}", r.body);
    }
    // No token, a forged one, the operator's admin token: API Gateway's 401, the function never runs.
    let path = format!("/dashboard/tenants/{TENANT}/status");
    assert_eq!(f.t.call(Method::GET, &path, None, None).await.status, 401);
    let admin = f.t.stack.admin_token().to_owned();
    assert_eq!(f.t.call(Method::GET, &path, Some(&admin), None).await.status, 401);
    let mut forged: Vec<String> = owner.split('.').map(str::to_owned).collect();
    forged[1] = forged[1].chars().rev().collect();
    assert_eq!(
        f.t.call(Method::GET, &path, Some(&forged.join(".")), None).await.status,
        401
    );

    // The owner reads and changes its own tenant.
    let r = f.t.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(
        (r.status, r.body["tenantId"].as_str()),
        (200, Some(TENANT)),
        "{}",
        r.body
    );
    let settings =
        f.t.call(
            Method::GET,
            &format!("/dashboard/tenants/{TENANT}/settings"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    let mut body = settings.body["settings"].clone();
    body["priority"] = json!("High");
    let r =
        f.t.call(
            Method::PUT,
            &format!("/dashboard/tenants/{TENANT}/settings"),
            Some(&owner),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (r.status, r.body["settings"]["priority"].as_str()),
        (200, Some("High")),
        "{}",
        r.body
    );

    // The viewer reads, and changes nothing.
    for route in [
        "status",
        "settings",
        "recipes",
        "runs",
        "opt-outs",
        "webhooks",
        "leads",
        "dead-letters",
    ] {
        let r =
            f.t.call(
                Method::GET,
                &format!("/dashboard/tenants/{TENANT}/{route}"),
                Some(&viewer),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "viewer GET {route}: {}", r.body);
    }
    for (m, route) in ROUTES.iter().filter(|(m, _)| *m != "GET") {
        let r =
            f.t.call(
                method(m),
                &format!("/dashboard/tenants/{TENANT}/{route}"),
                Some(&viewer),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, 403, "viewer {m} {route}: {}", r.body);
    }
    let still =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/settings"), None)
            .await;
    assert_eq!(still.body["settings"]["priority"], "High", "only the owner's change");

    // The deployment's signing keys have no dashboard route.
    let r =
        f.t.call(Method::GET, "/dashboard/webhook-keys", Some(&owner), None)
            .await;
    assert_eq!(r.status, 404);
    let r =
        f.t.call(Method::GET, "/operator/webhook-keys", Some(&owner), None)
            .await;
    assert_eq!(r.status, 403, "the operator routes take IAM, not a contractor's token");
    f.stop().await;
}

#[tokio::test]
async fn the_local_issuer_publishes_its_keys_and_signs_in_only_for_the_operator() {
    let f = FollowUps::start(&[], json!({})).await;
    let discovery =
        f.t.call(
            Method::GET,
            "/_local/issuer/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(discovery.status, 200);
    let jwks =
        f.t.call(Method::GET, "/_local/issuer/.well-known/jwks.json", None, None)
            .await;
    assert_eq!(
        (jwks.status, jwks.body["keys"][0]["alg"].as_str()),
        (200, Some("RS256"))
    );
    let r =
        f.t.call(Method::POST, "/_local/login", None, Some(json!({"tenantId": TENANT})))
            .await;
    assert_eq!(r.status, 403, "minting tokens takes the admin token");
    let r =
        f.t.admin(Method::POST, "/_local/login", Some(json!({"tenantId": "x"})))
            .await;
    assert_eq!(r.status, 400);
    let r =
        f.t.admin(
            Method::POST,
            "/_local/login",
            Some(json!({"tenantId": TENANT, "role": "viewer"})),
        )
        .await;
    assert_eq!(r.body["role"], "viewer");
    assert!(r.body["url"].as_str().unwrap().contains("/integrations/servicetitan"));
    f.stop().await;
}
