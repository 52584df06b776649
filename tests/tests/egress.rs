//! Where the product posts and what links it keeps: an attacker's settings cannot reach the deployment's own
//! network, a receiver cannot redirect the signed body elsewhere, and a reply's text never comes back out.

use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use serde_json::{Value, json};

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn field_reasons(body: &Value) -> Vec<(String, String)> {
    body["error"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Sends an estimate whose 24-hour text is due; returns the entity key.
async fn sent_estimate(f: &FollowUps, phone: &str) -> String {
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Egress Test", phone, "TX", "78704", None).await;
    let job = f.job(&h, f.now() + hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    format!("estimate:{}", e.id)
}

fn timeline_text(runs: &Value) -> String {
    runs["timeline"].to_string()
}

#[tokio::test]
async fn settings_urls_must_be_public_https_and_sinks_on_the_allowlist() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let own_sink = format!("{}/_local/sink", f.t.stack.api_url());
    for (field, url, why) in [
        (
            "followupSinkUrl",
            "https://169.254.169.254/latest/meta-data/",
            "link-local",
        ),
        ("followupSinkUrl", "https://10.0.0.1/hook", "private"),
        (
            "followupSinkUrl",
            "https://evil.example.net/hook",
            "FollowUpSinkAllowedHosts",
        ),
        ("followupSinkUrl", "https://ai.example.com@127.0.0.1/hook", "user name"),
        ("followupSinkUrl", "https://[::ffff:169.254.169.254]/", "link-local"),
        ("bookingUrl", "https://192.168.1.10/book", "private"),
        ("bookingUrl", "http://book.example.com/", "https"),
        ("bookingUrl", "https://localhost./book", "domain"),
    ] {
        let body = f.settings_body(&["estimate_follow_up"], json!({field: url})).await;
        let r = f.put_settings(body).await;
        assert!(matches!(r.status, 400 | 422), "{field} {url}: {} {}", r.status, r.body);
        let reasons = field_reasons(&r.body);
        assert!(
            reasons
                .iter()
                .any(|(f, reason)| f == &format!("/{field}") && reason.contains(why)),
            "{field} {url}: {reasons:?}"
        );
    }
    // The deployment's own sink (here the local stack's, over http: its explicit local setting) is accepted.
    let body = f
        .settings_body(&["estimate_follow_up"], json!({"followupSinkUrl": own_sink}))
        .await;
    let r = f.put_settings(body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    f.stop().await;
}

/// Settings saved before the rules (or written around the admin API) are checked again at send time: nothing is
/// posted, and the timeline says why.
#[tokio::test]
async fn a_refused_sink_url_is_never_posted_to_and_the_timeline_says_why() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let registry = shared::tenants::TenantRegistry::new(f.t.stack.aws().dynamodb.clone(), f.t.resource("TenantsTable"));
    let mut settings =
        f.t.admin(reqwest::Method::GET, &format!("/admin/tenants/{TENANT}/settings"), None)
            .await
            .body["settings"]
            .clone();
    settings["followupSinkUrl"] = json!("https://169.254.169.254/latest/meta-data/iam/");
    registry.put_settings(TENANT, &settings, f.now()).await.unwrap();
    let entity = sent_estimate(&f, "5125550401").await;
    f.advance(hours(26)).await;
    assert!(f.delivered(None).is_empty());
    assert!(f.t.stack.sink().deliveries().is_empty(), "no request left the runner");
    let timeline = timeline_text(&f.runs(&entity).await);
    assert!(
        timeline.contains("not sent: the sink URL is refused") && timeline.contains("link-local"),
        "{timeline}"
    );
    f.stop().await;
}

/// Without the local setting, even the deployment's own sink on this machine is refused: http and loopback are
/// for the local stack alone. The refusal happens before any connection.
#[tokio::test]
async fn without_the_local_setting_this_machine_is_not_reached() {
    let f = FollowUps::start_with(&["estimate_follow_up"], json!({}), |o| {
        o.function_env
            .insert(shared::egress::LOCAL_LOOPBACK_ENV.into(), "false".into());
    })
    .await;
    let entity = sent_estimate(&f, "5125550402").await;
    f.advance(hours(26)).await;
    assert!(
        f.t.stack.sink().deliveries().is_empty(),
        "nothing reached the local sink"
    );
    let timeline = timeline_text(&f.runs(&entity).await);
    assert!(timeline.contains("not sent"), "{timeline}");
    f.stop().await;
}

/// A receiver answering 307 would have the signed body re-posted wherever it says. It is not followed, and a
/// refusal's reply text (a read-back channel through the admin API) never reaches the timeline.
#[tokio::test]
async fn redirects_are_not_followed_and_reply_text_stays_out_of_the_timeline() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let sink = f.t.stack.sink();
    sink.set_behaviour(local_stack::sink::Behaviour {
        redirect_to: Some(format!("{}/_local/sink", f.t.stack.api_url())),
        ..Default::default()
    });
    let entity = sent_estimate(&f, "5125550403").await;
    f.advance(hours(25)).await;
    let statuses: Vec<u16> = sink.deliveries().iter().map(|d| d.status).collect();
    assert_eq!(statuses, vec![307], "one attempt, not followed to where it pointed");
    let timeline = timeline_text(&f.runs(&entity).await);
    assert!(timeline.contains("redirects are not followed"), "{timeline}");

    // A plain refusal: its status and a fixed phrase, never the receiver's words.
    sink.set_behaviour(local_stack::sink::Behaviour {
        status: Some(400),
        ..Default::default()
    });
    let other = sent_estimate(&f, "5125550404").await;
    f.advance(hours(25)).await;
    let timeline = timeline_text(&f.runs(&other).await);
    assert!(timeline.contains("400 Bad Request"), "{timeline}");
    assert!(
        !timeline.contains("told to fail"),
        "the reply's text is not echoed: {timeline}"
    );
    f.stop().await;
}

/// What a receiver of the tenant's own got: (webhook-id, webhook-timestamp, webhook-signature, body).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String, Vec<u8>)>>>;

/// A receiver on this machine (its host is the deployment's own sink's, so the allowlist lets a tenant use it).
async fn own_receiver() -> (String, Received) {
    let received: Received = Default::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                store.lock().unwrap().push((
                    h("webhook-id"),
                    h("webhook-timestamp"),
                    h("webhook-signature"),
                    body.to_vec(),
                ));
                axum::Json(json!({"accepted": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The text the receiver got for `entity` (`estimate:<id>`).
fn text_for(received: &Received, entity: &str) -> (String, String, String, Vec<u8>) {
    let id = entity.trim_start_matches("estimate:");
    received
        .lock()
        .unwrap()
        .iter()
        .find(|d| {
            let body: Value = serde_json::from_slice(&d.3).unwrap();
            body["data"]["entity"]["id"] == id && body["data"]["channel"] == "sms"
        })
        .unwrap_or_else(|| panic!("no text for {entity}"))
        .clone()
}

fn verifies(secret: &str, d: &(String, String, String, Vec<u8>)) -> bool {
    let at = jiff::Timestamp::from_second(d.1.parse().unwrap()).unwrap();
    shared::standard_webhooks::SigningSecret::parse(secret)
        .unwrap()
        .verify(Some(&d.0), Some(&d.1), Some(&d.2), &d.3, at)
        .is_ok()
}

/// A tenant with its own sink has its own signing secret: nothing is sent before it has one, its receiver can
/// verify with it (and the deployment's secret cannot), and a rotation signs with both keys until the old one ends.
#[tokio::test]
async fn a_tenant_with_its_own_sink_signs_with_its_own_secret_and_rotates_without_a_gap() {
    let (url, received) = own_receiver().await;
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let body = f
        .settings_body(&["estimate_follow_up"], json!({"followupSinkUrl": url}))
        .await;
    let saved = f.put_settings(body).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let path = format!("/admin/tenants/{TENANT}/sink-secret");

    // No secret yet: the text waits, and says why.
    let first = sent_estimate(&f, "5125550405").await;
    f.advance(hours(25)).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "nothing sent without the tenant's own secret"
    );
    assert!(timeline_text(&f.runs(&first).await).contains("no signing secret yet"));

    let made = f.t.admin(reqwest::Method::POST, &path, Some(json!({}))).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let one = made.body["secret"].as_str().unwrap().to_owned();
    let listed = f.t.admin(reqwest::Method::GET, &path, None).await;
    assert!(
        !listed.body.to_string().contains(&one),
        "secrets are shown once: {}",
        listed.body
    );
    f.advance(hours(2)).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "the waiting text went once the tenant had a secret");
    assert!(verifies(&one, &got[0]), "the tenant's receiver verifies it");
    let deployment = f.t.stack.endpoints()["followup_sink_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!verifies(&deployment, &got[0]), "the deployment's secret does not");

    // Rotation: during the overlap each delivery carries both signatures; after it, only the new key's.
    let rotated =
        f.t.admin(reqwest::Method::POST, &path, Some(json!({"overlapHours": 96})))
            .await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let two = rotated.body["secret"].as_str().unwrap().to_owned();
    f.advance(SignedDuration::from_mins(6)).await; // past the runner's five-minute cache of the keys
    let during = sent_estimate(&f, "5125550406").await;
    f.advance(hours(25)).await;
    let during = text_for(&received, &during);
    assert!(
        verifies(&one, &during) && verifies(&two, &during),
        "both keys during the overlap"
    );
    f.advance(hours(97)).await;
    let after = sent_estimate(&f, "5125550407").await;
    f.advance(hours(25)).await;
    let after = text_for(&received, &after);
    assert!(
        verifies(&two, &after) && !verifies(&one, &after),
        "only the new key after it"
    );
    f.stop().await;
}
