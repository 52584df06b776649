//! Contact safety through the intake, the engine and the sink, on the local stack: every message a contractor sends
//! is one it can defend.

use integration_tests::TENANT;
use integration_tests::followups::{FollowUps, Household};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn sent_at(d: &Value) -> Timestamp {
    d["_timestamp"].as_str().unwrap().parse().unwrap()
}

fn local_hour(at: Timestamp, tz: &str) -> (i8, i8) {
    let z = at.to_zoned_datetime(TimeZone::get(tz).unwrap());
    (z.hour(), z.minute())
}

/// AI calls rest on recorded consent only (the default a tenant starts with).
fn recorded() -> Value {
    json!({"aiCallConsent": {"basis": "recorded"}})
}

async fn sent_estimate(f: &FollowUps, h: &Household) -> String {
    let job = f.job(h, f.now() + hours(24 * 30)).await;
    let e = f.estimate(&job, "Options").await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    format!("estimate:{}", e.id)
}

/// The timeline entries of `entity`'s `recipe` run, as (entry, reason).
async fn timeline(f: &FollowUps, entity: &str) -> Vec<(String, String)> {
    f.runs(entity).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entry"].as_str().unwrap_or_default().to_owned(),
                e["detail"]["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_stop_sent_while_the_tenant_is_disconnected_holds_after_the_reconnect() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let stopped = f.household("Said Stop", "5125550501", "TX", "78704", None).await;
    let other = f.household("Did Not", "5125550502", "TX", "78704", None).await;
    let path = format!("/admin/tenants/{TENANT}/servicetitan");
    assert_eq!(f.t.admin(Method::DELETE, &path, None).await.status, 200);

    // The platform relays a STOP while the tenant is disconnected, and one for a tenant never connected here.
    let r = f
        .inbound(json!({"tenantId": TENANT, "channel": "sms", "from": stopped.phone, "text": "Stop texting me please"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            r.body["meaning"].as_str(),
            r.body["tenantStatus"].as_str(),
            r.body["decidedBy"].as_str()
        ),
        (Some("opted_out"), Some("disconnected"), Some("stop texting"))
    );
    assert_eq!(
        r.body["channels"],
        json!(["sms", "voice"]),
        "a STOP by text also stops AI calls"
    );
    let r = f
        .inbound(json!({"tenantId": "777", "channel": "sms", "from": stopped.phone, "text": "STOP"}))
        .await;
    assert_eq!((r.status, r.body["tenantStatus"].as_str()), (200, Some("unknown")));

    // Reconnect, save the settings again (issue 18's 503), and follow both households up.
    let r = f.t.connect(&f.demo, "integration").await;
    assert_eq!(r.status, 200, "{}", r.body);
    f.set_settings(&["estimate_follow_up"], json!({})).await;
    let stopped_entity = sent_estimate(&f, &stopped).await;
    sent_estimate(&f, &other).await;
    f.advance(hours(25)).await;
    let delivered = f.delivered(None);
    let to: Vec<&str> = delivered
        .iter()
        .map(|d| d["data"]["recipient"]["phone"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        vec![other.phone.as_str()],
        "the follow-up goes after the reconnect, and not to the STOP"
    );
    assert!(
        timeline(&f, &stopped_entity)
            .await
            .contains(&("skipped".into(), "opted_out".into())),
        "{:?}",
        timeline(&f, &stopped_entity).await
    );
    // The ledger says what decided.
    let ledger =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/opt-outs"), None)
            .await;
    let entry = ledger.body["optOuts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["address"] == stopped.phone.as_str())
        .cloned()
        .unwrap();
    assert_eq!(entry["channels"], json!(["sms", "voice"]));
    assert_eq!(entry["reasons"]["sms"]["decidedBy"], "stop texting");

    // START lifts only the channel it came on: the AI calls stay stopped.
    let r = f
        .inbound(json!({"tenantId": TENANT, "channel": "sms", "from": stopped.phone, "text": "START"}))
        .await;
    assert_eq!(
        (r.body["meaning"].as_str(), r.body["channels"].clone()),
        (Some("opted_in"), json!(["sms"]))
    );
    assert_eq!(opt_outs(&f, &stopped.phone).await, json!(["voice"]));
    // An all-channel opt-out is lifted channel by channel: by the admin route here.
    let r = f
        .inbound(
            json!({"tenantId": TENANT, "channel": "sms", "from": other.phone, "text": "Wrong number, I'm not Did"}),
        )
        .await;
    assert_eq!(r.body["channels"], json!(["sms", "voice", "email"]));
    let lifted =
        f.t.admin(
            Method::DELETE,
            &format!(
                "/admin/tenants/{TENANT}/opt-outs/{}?channel=voice",
                other.phone.replace('+', "%2B")
            ),
            None,
        )
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(opt_outs(&f, &other.phone).await, json!(["email", "sms"]));
    f.stop().await;
}

/// The channels the ledger holds for an address.
async fn opt_outs(f: &FollowUps, address: &str) -> Value {
    let ledger =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/opt-outs"), None)
            .await;
    ledger.body["optOuts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["address"] == address)
        .map_or(json!([]), |o| o["channels"].clone())
}

#[tokio::test]
async fn a_split_zip_recipient_is_texted_only_when_both_of_its_zones_allow() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    // 20:30 in Chicago is 21:30 in New York. Chattanooga's 37405 lies on the zone line; Nashville's does not.
    f.at_local_hour(20, "America/Chicago").await;
    f.advance(SignedDuration::from_mins(30)).await;
    let on_the_line = f.household("On The Line", "4235550701", "TN", "37405", None).await;
    let nashville = f.household("Nashville", "6155550702", "TN", "37203", None).await;
    sent_estimate(&f, &on_the_line).await;
    sent_estimate(&f, &nashville).await;
    f.advance(hours(24 + 14)).await;
    let at = |h: &Household| {
        f.delivered(None)
            .into_iter()
            .find(|d| d["data"]["recipient"]["phone"] == h.phone.as_str())
            .map(|d| sent_at(&d))
            .unwrap_or_else(|| panic!("no text to {}", h.phone))
    };
    let line = at(&on_the_line);
    for tz in ["America/Chicago", "America/New_York"] {
        let (h, _) = local_hour(line, tz);
        assert!((8..21).contains(&h), "texted at {h}:xx in {tz}");
    }
    assert_eq!(
        local_hour(line, "America/Chicago"),
        (8, 0),
        "the next morning, when both zones allow"
    );
    assert_eq!(
        local_hour(at(&nashville), "America/Chicago"),
        (20, 30),
        "Nashville is only Central"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_florida_sales_text_waits_for_eight_in_the_morning_where_texas_allows_it() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    // Sent at 20:30 in Miami and in Austin: the 24-hour text falls at 20:30 the next evening in both.
    let start = f.at_local_hour(20, "America/New_York").await;
    f.advance(SignedDuration::from_mins(30)).await;
    let miami = f.household("Miami Sales", "3055550601", "FL", "33101", None).await;
    let florida = sent_estimate(&f, &miami).await;
    f.advance_to(f.at_local_hour(20, "America/Chicago").await + SignedDuration::from_mins(30))
        .await;
    let austin = f.household("Austin Sales", "5125550602", "TX", "78704", None).await;
    sent_estimate(&f, &austin).await;
    f.advance_to(start + hours(24 * 2 + 14)).await;
    let by_phone = |phone: &str| {
        f.delivered(None)
            .into_iter()
            .find(|d| d["data"]["recipient"]["phone"] == phone)
            .unwrap_or_else(|| panic!("no text to {phone}"))
    };
    let fl = by_phone(&miami.phone);
    assert_eq!(fl["data"]["messageClass"], "solicitation");
    assert_eq!(
        local_hour(sent_at(&fl), "America/New_York"),
        (8, 0),
        "Fla. Stat. § 501.616(6): 08:00–20:00"
    );
    let tx = by_phone(&austin.phone);
    assert_eq!(
        local_hour(sent_at(&tx), "America/Chicago"),
        (20, 30),
        "Texas allows sales texts until 21:00"
    );
    let deferred = f.runs(&florida).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "deferred")
        .cloned()
        .unwrap();
    assert_eq!(deferred["detail"]["reason"], "state_rule");
    assert_eq!(deferred["detail"]["state"], "FL");
    assert!(deferred["detail"]["statute"].as_str().unwrap().contains("501.616"));
    f.stop().await;
}

#[tokio::test]
async fn selling_one_option_ends_the_follow_ups_of_the_jobs_other_options() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Three Options", "5125550603", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + hours(24 * 30)).await;
    let good = f.estimate(&job, "Good").await;
    let better = f.estimate(&job, "Better").await;
    for e in [&good, &better] {
        f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    }
    f.advance(hours(2)).await;
    f.control(&format!("estimates/{}/sell", better.id), json!({})).await;
    let sibling = f.run(&format!("estimate:{}", good.id), "estimate_follow_up").await;
    assert_eq!(
        (sibling["status"].as_str(), sibling["reason"].as_str()),
        (Some("halted"), Some("estimate.option_sold"))
    );
    let sold = f.run(&format!("estimate:{}", better.id), "estimate_follow_up").await;
    assert_eq!(sold["reason"], "estimate.sold");
    f.advance(hours(80)).await;
    assert!(f.delivered(None).is_empty(), "{:#?}", f.delivered(None));
    f.stop().await;
}

#[tokio::test]
async fn an_invoice_without_a_reference_number_is_dunned_with_the_text_worded_around_it() {
    let f = FollowUps::start(&["invoice_dunning"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("No Number", "5125550604", "TX", "78745", None).await;
    let job = f.job(&h, start + hours(2)).await;
    f.advance(hours(4)).await;
    let done = f
        .control(
            &format!("jobs/{}/complete", job.id),
            json!({"total": "310.00", "referenceNumber": null}),
        )
        .await;
    assert_eq!(done["invoiceReferenceNumber"], Value::Null);
    f.advance(hours(24 * 23)).await;
    let texts: Vec<Value> = f
        .delivered(None)
        .into_iter()
        .filter(|d| d["data"]["channel"] == "sms")
        .collect();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    let text = texts[0]["data"]["message"]["text"].as_str().unwrap();
    assert!(
        text.contains("invoice from your recent visit is past due, with $310.00 outstanding"),
        "{text}"
    );
    assert_eq!(texts[0]["data"]["entity"]["number"], Value::Null);
    f.stop().await;
}

#[tokio::test]
async fn no_ai_call_goes_without_consent() {
    let f = FollowUps::start(&["estimate_follow_up"], recorded()).await;
    f.at_local_hour(10, "America/Chicago").await;
    let without = f.household("No Consent", "5125550605", "TX", "78704", None).await;
    let with = f.household("Gave Consent", "5125550606", "TX", "78704", None).await;
    // The AI platform relays written consent for the second number (a signed web form).
    let r = f
        .inbound(
            json!({"tenantId": TENANT, "channel": "voice", "from": with.phone, "kind": "consent",
            "consentType": "written", "text": "I agree to receive AI calls from Lone Star"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["meaning"].as_str()),
        (200, Some("consent")),
        "{}",
        r.body
    );
    let no_consent = sent_estimate(&f, &without).await;
    sent_estimate(&f, &with).await;

    // The preview sees it coming.
    let preview =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/preview?days=4"), None)
            .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.body["byReason"]["no_call_consent"], 1, "{}", preview.body);

    f.advance(hours(73)).await;
    let calls: Vec<Value> = f
        .delivered(None)
        .into_iter()
        .filter(|d| d["data"]["channel"] == "voice")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["data"]["recipient"]["phone"], with.phone.as_str());
    assert_eq!(
        calls[0]["data"]["consent"],
        json!({"basis": "recorded", "source": "inbound", "at": calls[0]["data"]["consent"]["at"], "written": true, "attestedBy": null})
    );
    assert!(
        timeline(&f, &no_consent)
            .await
            .contains(&("skipped".into(), "no_call_consent".into()))
    );
    let status =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/status"), None)
            .await;
    assert_eq!(
        status.body["followUps"]["suppressedBy"]["no_call_consent"], 1,
        "{}",
        status.body
    );

    // Consent a lead carried (a chat form with the AI-call disclosure) is recorded for the number too.
    let from_lead = f.household("Lead Consent", "5125550609", "TX", "78704", None).await;
    let lead = integration_tests::leads::lead(
        "contact-safety-lead-1",
        "Lead Consent",
        "512-555-0609",
        json!({"consent": {"sms": true, "voice": true, "written": true}}),
    );
    assert_eq!(f.post_lead(lead).await.status, 202);
    sent_estimate(&f, &from_lead).await;
    f.advance(hours(73)).await;
    let call = f
        .delivered(None)
        .into_iter()
        .find(|d| d["data"]["channel"] == "voice" && d["data"]["recipient"]["phone"] == from_lead.phone.as_str())
        .expect("the call the lead's consent allows");
    assert_eq!(
        (
            call["data"]["consent"]["source"].as_str(),
            call["data"]["consent"]["written"].as_bool()
        ),
        (Some("lead"), Some(true))
    );

    // Once the tenant attests to written consent, the calls go (and say so).
    f.set_settings(
        &["estimate_follow_up"],
        json!({"aiCallConsent": {"basis": "attested", "attestedBy": "Dana Ortiz, owner"}}),
    )
    .await;
    let later = f
        .household("After Attestation", "5125550607", "TX", "78704", None)
        .await;
    sent_estimate(&f, &later).await;
    f.advance(hours(73)).await;
    let call = f
        .delivered(None)
        .into_iter()
        .find(|d| d["data"]["channel"] == "voice" && d["data"]["recipient"]["phone"] == later.phone.as_str())
        .unwrap();
    assert_eq!(call["data"]["consent"]["basis"], "attested");
    assert_eq!(call["data"]["consent"]["attestedBy"], "Dana Ortiz, owner");
    f.stop().await;
}

#[tokio::test]
async fn the_first_text_to_a_number_says_how_to_opt_out_and_names_the_company() {
    let f = FollowUps::start(&["estimate_follow_up"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("First Text", "5125550608", "TX", "78704", None).await;
    sent_estimate(&f, &h).await;
    f.advance(hours(1)).await;
    sent_estimate(&f, &h).await;
    f.advance(hours(25)).await;
    let texts: Vec<String> = f
        .delivered(None)
        .iter()
        .filter(|d| d["data"]["channel"] == "sms")
        .map(|d| d["data"]["message"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().all(|t| t.contains("Lone Star Home Services")));
    assert_eq!(
        texts.iter().filter(|t| t.ends_with("Reply STOP to opt out.")).count(),
        1,
        "{texts:?}"
    );
    f.stop().await;
}

#[tokio::test]
async fn every_text_names_the_company_and_a_missed_call_text_back_needs_its_booking_link() {
    let f = FollowUps::start(&[], json!({})).await;
    // No company name: the business unit's name from ServiceTitan speaks for the texts.
    let body = f
        .settings_body(&["estimate_follow_up"], json!({"companyName": null}))
        .await;
    let r = f.put_settings(body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["settings"]["companyName"], "HVAC - Service", "{}", r.body);
    // The missed-call text back sends the booking link: it cannot be switched on without one.
    let body = f
        .settings_body(&["missed_call_text_back"], json!({"bookingUrl": null}))
        .await;
    let r = f.put_settings(body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let fields: Vec<&str> = r.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["/bookingUrl"], "{}", r.body);
    // An attestation is recorded with who and when; the status shows it.
    let body = f
        .settings_body(
            &["estimate_follow_up"],
            json!({"aiCallConsent": {"basis": "attested", "attestedBy": "Dana Ortiz"}}),
        )
        .await;
    let r = f.put_settings(body.clone()).await;
    let attested_at = r.body["settings"]["aiCallConsent"]["attestedAt"].clone();
    assert!(attested_at.is_string(), "{}", r.body);
    f.advance(hours(1)).await;
    let again = f.put_settings(body).await;
    assert_eq!(
        again.body["settings"]["aiCallConsent"]["attestedAt"], attested_at,
        "the same attestation"
    );
    let status =
        f.t.admin(Method::GET, &format!("/admin/tenants/{TENANT}/status"), None)
            .await;
    assert_eq!(status.body["aiCallConsent"]["attestedBy"], "Dana Ortiz");
    f.stop().await;
}
