//! The integration page in a real browser (Debian's headless Chromium through ChromeDriver), against the local
//! stack and the ServiceTitan sandbox: what a contractor does, step by step, with a screenshot of each step in
//! `docs/screenshots/`.

use integration_tests::TENANT;
use integration_tests::browser::Browser;
use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

async fn login(f: &FollowUps, tenant: &str, role: &str) -> String {
    let r =
        f.t.admin(
            Method::POST,
            "/_local/login",
            Some(json!({"tenantId": tenant, "role": role})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["url"].as_str().unwrap().to_owned()
}

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contractor_connects_chooses_defaults_subscribes_webhooks_sends_a_test_lead_and_sees_a_follow_up() {
    let f = FollowUps::unconnected(|_| {}).await;
    let b = Browser::start(1280).await;
    b.open(&login(&f, TENANT, "owner").await).await;
    b.until(
        "the session",
        "document.getElementById('session').textContent.includes('as owner')",
    )
    .await;
    assert_eq!(
        b.run("return location.hash").await,
        json!(""),
        "the token leaves the address bar at once"
    );
    b.until(
        "not connected yet",
        "document.getElementById('connection').textContent.includes('Not connected')",
    )
    .await;
    assert_eq!(
        b.run("return document.getElementById('tenantId').value").await,
        json!(TENANT)
    );
    b.screenshot("1-credentials", "#step-credentials").await;

    // The demo tenant's values, with the wrong environment chosen first.
    b.click("#env-production").await;
    b.fill("#clientId", &f.demo.client_id).await;
    b.fill("#clientSecret", &f.demo.client_secret).await;
    b.fill("#appKey", &f.demo.app_key).await;
    b.click("#connect").await;
    b.until(
        "the wrong-environment offer",
        "document.getElementById('switch-environment')",
    )
    .await;
    let error = b.text("#environment-error").await;
    assert!(
        error.contains("Integration"),
        "the error is next to the environment field: {error:?}"
    );
    assert!(
        b.text("#connect-problem")
            .await
            .contains("belong to ServiceTitan's Integration environment")
    );
    b.screenshot("2-wrong-environment", "#step-credentials").await;
    b.click("#switch-environment").await;
    b.until(
        "connected",
        "document.getElementById('connection').textContent.includes('Connected to ServiceTitan integration')",
    )
    .await;
    assert_eq!(
        b.run("return document.getElementById('clientSecret').value").await,
        json!(""),
        "the secret is never shown back"
    );

    // Defaults: the job types offered are the business unit's.
    b.until(
        "the business units",
        "document.querySelectorAll('#businessUnitId option').length > 1",
    )
    .await;
    let options =
        f.t.admin(
            Method::GET,
            &format!("/admin/tenants/{TENANT}/servicetitan/options"),
            None,
        )
        .await;
    let unit = options.body["businessUnits"][1]["id"].clone();
    b.run(&format!(
        "const s = document.getElementById('businessUnitId'); s.value = {}; s.dispatchEvent(new Event('change'));",
        js_string(&unit.to_string())
    ))
    .await;
    let offered: Vec<Value> = b
        .run("return [...document.querySelectorAll('#jobTypeId option')].map(o => Number(o.value))")
        .await
        .as_array()
        .unwrap()
        .clone();
    let allowed = options.body["jobTypesByBusinessUnit"][unit.to_string()]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        !offered.is_empty() && offered.iter().all(|j| allowed.contains(j)),
        "{offered:?} ⊆ {allowed:?}"
    );
    b.fill("#timeZone", "America/Chicago").await;
    b.fill("#companyName", "Lone Star Home Services").await;
    b.click("#attest").await;
    b.click("#save-defaults").await;
    b.until(
        "the field error for the attestation",
        "document.getElementById('attestedBy-error').textContent.includes('required')",
    )
    .await;
    b.fill("#attestedBy", "Dana Ortiz, owner").await;
    b.click("#save-defaults").await;
    b.until(
        "saved",
        "document.getElementById('defaults-saved').textContent === 'Saved.'",
    )
    .await;
    let stored =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/settings"), None)
            .await;
    assert_eq!(stored.body["settings"]["businessUnitId"], unit);
    assert_eq!(
        stored.body["settings"]["aiCallConsent"]["attestedBy"],
        "Dana Ortiz, owner"
    );
    b.screenshot("3-defaults", "#step-defaults").await;

    // Before switching it on: the recipe's steps, a message edited with its live preview on sample data, saved;
    // and the next 7 days' preview.
    b.until("the recipes", "document.getElementById('recipe-estimate_follow_up')")
        .await;
    b.click("#details-estimate_follow_up summary").await;
    b.until(
        "the steps rendered on sample data",
        "document.getElementById('tpl-estimate_follow_up-sms_24h-sample')?.textContent.includes('Maria')",
    )
    .await;
    let label = b.text("label[for='tpl-estimate_follow_up-call_72h']").await;
    assert_eq!(label, "Step 2: AI call, 72 h after");
    b.fill(
        "#tpl-estimate_follow_up-sms_24h",
        "Hi {{customer.firstName|there}}, {{company.name}} here about {{estimate.name|your estimate}}. Questions? Reply here.",
    )
    .await;
    b.until(
        "the live preview of the edit",
        "document.getElementById('tpl-estimate_follow_up-sms_24h-sample').textContent.includes('here about Two-stage heat pump')",
    )
    .await;
    // A variable the recipe does not have: its reason next to the message, before anything is saved.
    b.fill("#tpl-estimate_follow_up-sms_24h", "Hi {{customer.shoeSize}}")
        .await;
    b.until(
        "the template's error",
        "document.getElementById('tpl-estimate_follow_up-sms_24h-error').textContent.includes('shoeSize')",
    )
    .await;
    b.fill(
        "#tpl-estimate_follow_up-sms_24h",
        "Hi {{customer.firstName|there}}, {{company.name}} here about {{estimate.name|your estimate}}. Questions? Reply here.",
    )
    .await;
    b.click("#override-estimate_follow_up button[type=submit]").await;
    b.until(
        "the override saved, and the preview of the saved messages",
        "document.getElementById('override-estimate_follow_up').textContent.includes('Saved')
            && document.getElementById('tpl-estimate_follow_up-sms_24h-sample').textContent.includes('here about')
            && !document.getElementById('tpl-estimate_follow_up-sms_24h-error').textContent",
    )
    .await;
    let recipe =
        f.t.admin(
            Method::GET,
            &format!("/admin/tenants/{TENANT}/recipes/estimate_follow_up"),
            None,
        )
        .await;
    assert!(
        recipe.body["recipe"]["steps"][0]["template"]
            .as_str()
            .unwrap()
            .contains("here about"),
        "{}",
        recipe.body
    );
    b.click("#preview-estimate_follow_up").await;
    b.until(
        "the 7-day preview",
        "document.getElementById('preview-result-estimate_follow_up').textContent.includes('In the next 7 days')",
    )
    .await;
    b.screenshot("4a-recipe", "#details-estimate_follow_up").await;

    // A recipe switched on: its webhooks, with the URLs to paste.
    b.click("#recipe-estimate_follow_up").await;
    b.until(
        "the webhooks of the estimate follow-up",
        "[...document.querySelectorAll('#webhooks code')].some(c => c.textContent.endsWith('/webhooks/servicetitan/estimate.sent'))",
    )
    .await;
    let urls = b
        .run("return [...document.querySelectorAll('#webhooks code')].map(c => c.textContent)")
        .await;
    assert!(
        urls.as_array()
            .unwrap()
            .iter()
            .all(|u| u.as_str().unwrap().starts_with(f.t.stack.api_url())),
        "{urls}"
    );
    b.screenshot("4-webhooks", "#step-webhooks").await;

    // The test chat: the records it made, with links into ServiceTitan.
    b.click("#send-test").await;
    b.until(
        "the test lead's records",
        "document.querySelector('#test-result [data-id=\"job\"] a')",
    )
    .await;
    let customer = b.text("#test-result [data-id=\"customer\"] a").await;
    assert!(
        customer.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "{customer}"
    );
    let href = b
        .run("return document.querySelector('#test-result [data-id=\"customer\"] a').href")
        .await;
    assert!(
        href.as_str()
            .unwrap()
            .starts_with("https://integration.servicetitan.com/#/Customer/"),
        "{href}"
    );
    b.screenshot("5-test-lead", "#step-test").await;

    // An estimate sent in ServiceTitan, a virtual day: the follow-up in the activity.
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Page Story", "5125550801", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    f.advance(SignedDuration::from_hours(25)).await;
    // A day later the morning's session has expired (the stack's authorizer reads the virtual clock): sign in again.
    b.open(&login(&f, TENANT, "owner").await).await;
    b.until(
        "the sent follow-up",
        "[...document.querySelectorAll('#runs tbody tr')].some(r => r.dataset.recipe === 'estimate_follow_up' && r.cells[3].textContent === '1')",
    )
    .await;
    b.until("the sends chart", "document.querySelector('#chart-sends svg')")
        .await;
    // The run's timeline: started, then the text sent.
    b.click("#runs tbody tr[data-recipe='estimate_follow_up'] button").await;
    b.until(
        "the run's timeline",
        "[...document.querySelectorAll('.timeline li')].map(li => li.dataset.entry).join(',').includes('enrolled,sent')",
    )
    .await;
    b.screenshot("6-activity", "#activity").await;

    // The test lead among the leads: a new customer, with the reason and a link to it.
    b.until(
        "the test lead in the leads",
        "[...document.querySelectorAll('#leads tbody tr')].some(r => r.cells[2].textContent === 'new customer and job' && r.cells[4].querySelector('a'))",
    )
    .await;
    let violations = b.accessibility_violations().await;
    assert!(violations.is_empty(), "axe-core: {violations:#?}");

    // The AI platform down for good: a text is set aside with its reason, then sent through again after the fix.
    f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour {
        status: Some(503),
        ..Default::default()
    });
    let h = f.household("Set Aside", "5125550802", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    f.advance(SignedDuration::from_hours(30)).await;
    assert_eq!(f.delivered(None).len(), 1);
    f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour::default());
    b.open(&login(&f, TENANT, "owner").await).await;
    b.until(
        "the set-aside follow-up",
        "document.querySelector('#parked [data-queue=\"followUps\"]')?.textContent.includes('gave up after')",
    )
    .await;
    b.screenshot("8-set-aside", "#operations").await;
    b.click("#redrive").await;
    b.until(
        "the redrive",
        "document.getElementById('redrive-result').textContent.includes('1 item sent through again')",
    )
    .await;
    f.settle().await;
    assert_eq!(f.delivered(None).len(), 2, "the set-aside text went, once");
    b.until(
        "nothing set aside",
        "document.getElementById('parked').textContent.includes('Nothing is set aside')",
    )
    .await;
    b.close().await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_cannot_change_anything_another_tenant_stays_closed_and_it_works_at_360_px_by_keyboard() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    let b = Browser::start(360).await;

    // A viewer sees, and every control that changes something is off.
    b.open(&login(&f, TENANT, "viewer").await).await;
    b.until(
        "the session",
        "document.getElementById('session').textContent.includes('as viewer')",
    )
    .await;
    b.until("the recipes", "document.getElementById('recipe-estimate_follow_up')")
        .await;
    let enabled = b
        .run(
            "return ['connect', 'save-defaults', 'send-test', 'rerun', 'redrive', 'recipe-estimate_follow_up', 'clientId']
                .filter(id => !document.getElementById(id).disabled)",
        )
        .await;
    assert_eq!(enabled, json!([]), "controls a viewer could use to change something");
    assert_eq!(
        b.run("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "no sideways scrolling at 360 px"
    );
    b.screenshot("7-viewer-360px", "main").await;
    let violations = b.accessibility_violations().await;
    assert!(violations.is_empty(), "axe-core at 360 px: {violations:#?}");

    // Tenant A's token on tenant B's page: nothing of B's is shown.
    let url = login(&f, TENANT, "owner")
        .await
        .replace(&format!("tenant={TENANT}"), "tenant=2002");
    b.open(&url).await;
    b.until(
        "the refusal",
        "document.getElementById('connect-problem').textContent.includes('another tenant')",
    )
    .await;

    // The owner, by keyboard alone: Tab through the credentials and Enter to connect.
    b.open(&login(&f, TENANT, "owner").await).await;
    b.until(
        "connected",
        "document.getElementById('connection').textContent.includes('Connected')",
    )
    .await;
    b.run("document.getElementById('clientId').focus()").await;
    let keys = format!(
        "{}\u{E004}{}\u{E004}{}\u{E007}",
        f.demo.client_id, f.demo.client_secret, f.demo.app_key
    );
    b.client.active_element().await.unwrap().send_keys(&keys).await.unwrap();
    b.until(
        "connected again, by keyboard",
        "document.getElementById('connection').textContent.includes('Connected to ServiceTitan integration just now')",
    )
    .await;
    b.close().await;
    f.stop().await;
}
