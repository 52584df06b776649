//! The other ways a lead goes: a ServiceTitan Booking for tenants whose CSRs accept leads by hand, a missed call
//! texted back through the follow-up engine, a transcript that arrives after the lead, and an estimate made with
//! the job.

use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use integration_tests::leads::{address, lead, request_schema_violations};
use serde_json::json;

#[tokio::test]
async fn booking_mode_files_a_booking_with_the_match_as_evidence_and_makes_no_customer() {
    let f = FollowUps::start(&[], json!({"leads": {"mode": "booking", "bookingProviderId": 77}})).await;
    let h = f
        .household_at("Grace Kim", "512-555-0160", "4 Barton Hills Dr", None, "78704")
        .await;
    f.clear_requests();
    let body = lead(
        "chat-booking-1",
        "Grace Kim",
        "512-555-0160",
        json!({"address": address("4 Barton Hills Drive", None, "78704")}),
    );
    f.post_lead(body.clone()).await;
    let requests = f.requests();
    let created = f.created("chat-booking-1").await;
    assert_eq!(created["outcome"], "booking");
    assert!(created["servicetitan"]["customerId"].is_null() && created["servicetitan"]["jobId"].is_null());
    let booking = f
        .client
        .booking(77, created["servicetitan"]["bookingId"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(booking.external_id, "chat-booking-1");
    assert_eq!(booking.is_first_time_client, Some(false));
    let summary = booking.summary.unwrap();
    assert!(
        summary.contains(&format!(
            "Likely existing customer #{} (same phone, surname and address)",
            h.customer_id
        )),
        "{summary}"
    );
    // Phone search, address search, the booking.
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(request_schema_violations(&requests), Vec::<String>::new());
    assert!(f.jobs_of(h.customer_id).await.is_empty());
    // Again (the platform retried): still one booking.
    f.post_lead(body).await;
    assert_eq!(f.client.bookings(77, Some("chat-booking-1")).await.unwrap().len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn a_missed_call_is_matched_or_made_a_servicetitan_lead_and_texted_the_booking_link() {
    let f = FollowUps::start(&["missed_call_text_back"], json!({})).await;
    f.at_local_hour(10, "America/Chicago").await;
    // A caller nobody knows, with no address: a ServiceTitan lead for the office, and the text.
    let missed =
        json!({"leadId": "call-unknown-1", "tenantId": TENANT, "source": "missed_call", "phone": "(512) 555-0161"});
    f.post_lead(missed.clone()).await;
    let created = f.created("call-unknown-1").await;
    assert_eq!(created["outcome"], "servicetitan_lead");
    let st_lead = f
        .client
        .lead(created["servicetitan"]["servicetitanLeadId"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(st_lead.lead_phone.as_deref(), Some("5125550161"));
    assert!(st_lead.summary.unwrap().contains("missed call [lead call-unknown-1]"));
    let texts = f.delivered(None);
    assert_eq!(texts.len(), 1, "{texts:#?}");
    let data = &texts[0]["data"];
    assert_eq!(
        (data["recipe"].as_str(), data["channel"].as_str()),
        (Some("missed_call_text_back"), Some("sms"))
    );
    assert_eq!(data["recipient"]["phone"], "+15125550161");
    assert!(
        data["message"]["text"]
            .as_str()
            .unwrap()
            .contains("https://book.example.com/lone-star")
    );
    // The phone system reports the same call twice: one lead, one text.
    f.post_lead(missed).await;
    assert_eq!(f.delivered(None).len(), 1);

    // A known customer's missed call: matched by phone, a note on the customer, the text to that number.
    let h = f
        .household_at("Ruth Alvarez", "512-555-0162", "20 Oltorf St", None, "78704")
        .await;
    f.post_lead(
        json!({"leadId": "call-known-1", "tenantId": TENANT, "source": "missed_call", "phone": "+15125550162"}),
    )
    .await;
    let known = f.created("call-known-1").await;
    assert_eq!(known["outcome"], "matched_customer");
    assert_eq!(known["servicetitan"]["customerId"], h.customer_id);
    assert!(f.customer_notes(h.customer_id).await[0].starts_with("missed call [lead call-known-1]"));
    let texts = f.delivered(None);
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[1]["data"]["recipient"]["phone"], "+15125550162");
    assert_eq!(
        texts[1]["data"]["recipient"]["name"], "Ruth Alvarez",
        "the profile came from the matched customer"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_missed_call_at_night_is_texted_in_the_morning() {
    let f = FollowUps::start(&["missed_call_text_back"], json!({})).await;
    f.at_local_hour(23, "America/Chicago").await;
    f.post_lead(json!({"leadId": "call-night-1", "tenantId": TENANT, "source": "missed_call", "phone": "5125550163"}))
        .await;
    assert_eq!(f.created("call-night-1").await["outcome"], "servicetitan_lead");
    assert!(f.delivered(None).is_empty(), "not at 23:00");
    f.advance(jiff::SignedDuration::from_hours(10)).await;
    let texts = f.delivered(None);
    assert_eq!(texts.len(), 1);
    let sent: jiff::Timestamp = texts[0]["_timestamp"].as_str().unwrap().parse().unwrap();
    let local = sent.to_zoned_datetime(jiff::tz::TimeZone::get("America/Chicago").unwrap());
    assert_eq!(local.hour(), 8, "at 08:00 local: {local}");
    f.stop().await;
}

#[tokio::test]
async fn a_tenant_that_chose_the_closed_notice_texts_a_night_caller_at_once() {
    let f = FollowUps::start(
        &["missed_call_text_back"],
        json!({"leads": {"missedCallAfterHours": "closed_notice"}}),
    )
    .await;
    f.at_local_hour(23, "America/Chicago").await;
    f.post_lead(json!({"leadId": "call-night-2", "tenantId": TENANT, "source": "missed_call", "phone": "5125550166"}))
        .await;
    let texts = f.delivered(None);
    assert_eq!(texts.len(), 1, "at once");
    let text = texts[0]["data"]["message"]["text"].as_str().unwrap();
    assert!(
        text.contains("We're closed right now") && text.contains("https://book.example.com/lone-star"),
        "{text}"
    );
    // Nothing more in the morning: the step was sent.
    f.advance(jiff::SignedDuration::from_hours(10)).await;
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn a_transcript_sent_later_is_noted_on_the_customer_and_the_job_once() {
    let f = FollowUps::start(&[], json!({})).await;
    let body = lead(
        "voice-later-1",
        "Theo Brandt",
        "512-555-0164",
        json!({"source": "voice", "address": address("7 Rollingwood Dr", None, "78746")}),
    );
    // The transcript arrives before the lead's records exist, and again afterwards.
    f.post_lead_only(body).await;
    let transcript = json!({"tenantId": TENANT, "summary": "Wants a quote for a second unit too.",
                            "transcript": "AI: Anything else?\nCustomer: A quote for the garage unit.",
                            "recordingUrl": "https://calls.example.com/r/164"});
    let early =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/voice-later-1/transcript",
            Some(transcript.clone()),
        )
        .await;
    assert_eq!(early.status, 202, "{}", early.body);
    f.webhooks().await;
    let again =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/voice-later-1/transcript",
            Some(transcript),
        )
        .await;
    assert_eq!((again.status, again.body["duplicate"].as_bool()), (200, Some(true)));
    f.webhooks().await;
    let created = f.created("voice-later-1").await;
    assert_eq!(created["attachments"][0]["attached"], true, "{created:#}");
    let customer_id = created["servicetitan"]["customerId"].as_i64().unwrap();
    let job_id = created["servicetitan"]["jobId"].as_i64().unwrap();
    let updates: Vec<String> = f
        .customer_notes(customer_id)
        .await
        .into_iter()
        .filter(|n| n.starts_with("Update to the AI voice call [lead voice-later-1]"))
        .collect();
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert!(
        updates[0].contains("Wants a quote for a second unit")
            && updates[0].contains("Recording: https://calls.example.com/r/164")
    );
    let job_notes = f.client.job_notes(job_id).await.unwrap();
    assert_eq!(
        job_notes
            .iter()
            .filter(|n| n.text.starts_with("Update to the AI voice call"))
            .count(),
        1
    );

    // Bad input and unknown leads.
    let empty =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/voice-later-1/transcript",
            Some(json!({"tenantId": TENANT})),
        )
        .await;
    assert_eq!(
        (empty.status, empty.body["error"]["code"].as_str()),
        (422, Some("invalid_transcript"))
    );
    let unknown =
        f.t.admin(
            reqwest::Method::POST,
            "/leads/nope/transcript",
            Some(json!({"tenantId": TENANT, "summary": "x"})),
        )
        .await;
    assert_eq!(unknown.status, 404);
    f.stop().await;
}

#[tokio::test]
async fn a_lead_with_an_estimate_gets_it_on_its_job() {
    let f = FollowUps::start(&[], json!({})).await;
    f.clear_requests();
    f.post_lead(lead(
        "chat-estimate-1",
        "Noor Aziz",
        "512-555-0165",
        json!({"address": address("1100 S Lamar Blvd", Some("Unit 210"), "78704"),
               "estimate": {"name": "Condenser replacement", "summary": "Two options discussed in chat",
                            "items": [{"description": "2-ton condenser, installed", "unitPrice": "3120.50"},
                                      {"description": "Haul-away", "quantity": 1, "unitPrice": 95}]}}),
    ))
    .await;
    let created = f.created("chat-estimate-1").await;
    let estimate = f
        .client
        .estimate(created["servicetitan"]["estimateId"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(estimate.job_id, created["servicetitan"]["jobId"].as_i64());
    assert_eq!(
        estimate.name.as_deref(),
        Some("Condenser replacement [lead chat-estimate-1]")
    );
    assert_eq!(request_schema_violations(&f.requests()), Vec::<String>::new());
    f.stop().await;
}

#[tokio::test]
async fn the_connect_flow_s_test_lead_makes_a_labelled_customer_and_job_and_says_so() {
    let f = FollowUps::start(&[], json!({})).await;
    let reply =
        f.t.admin(
            reqwest::Method::POST,
            &format!("/admin/tenants/{TENANT}/test-lead"),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["status"], "created");
    let ids = &reply.body["servicetitan"];
    let customer = f.client.customer(ids["customerId"].as_i64().unwrap()).await.unwrap();
    assert_eq!(customer.name, "Test Lead (AI integration, safe to delete)");
    let job = f.client.job(ids["jobId"].as_i64().unwrap()).await.unwrap();
    assert_eq!(job.customer_id, customer.id);
    // Visible like any lead.
    let id = reply.body["leadId"].as_str().unwrap();
    assert_eq!(f.lead(id).await["status"], "created");
    f.stop().await;
}

#[tokio::test]
async fn the_tenant_s_job_type_table_maps_what_was_asked_for() {
    let f = FollowUps::start(&[], json!({})).await;
    let settings =
        f.t.admin(reqwest::Method::GET, &format!("/admin/tenants/{TENANT}/settings"), None)
            .await
            .body["settings"]
            .clone();
    let unit = settings["businessUnitId"].as_i64().unwrap();
    let job_types = f.client.job_types().await.unwrap();
    let other = job_types
        .iter()
        .find(|j| j.business_unit_ids.contains(&unit) && j.id != settings["jobTypeId"].as_i64().unwrap())
        .expect("a second job type for the business unit");
    let wrong_unit = job_types
        .iter()
        .find(|j| !j.business_unit_ids.is_empty() && !j.business_unit_ids.contains(&unit))
        .unwrap();
    let mut bad = settings.clone();
    bad["leads"]["jobTypes"] = json!({"water heater": wrong_unit.id, "furnace": 999_999});
    let refused =
        f.t.admin(
            reqwest::Method::PUT,
            &format!("/admin/tenants/{TENANT}/settings"),
            Some(bad),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let fields: Vec<&str> = refused.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["/leads/jobTypes/furnace", "/leads/jobTypes/water heater"]);
    let mut good = settings;
    good["leads"]["jobTypes"] = json!({"Water Heater": other.id});
    let saved =
        f.t.admin(
            reqwest::Method::PUT,
            &format!("/admin/tenants/{TENANT}/settings"),
            Some(good),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    f.post_lead(lead(
        "chat-jobtype-1",
        "Wes Nguyen",
        "512-555-0167",
        json!({"service": "My water heater is leaking", "address": address("2 Treadwell St", None, "78704")}),
    ))
    .await;
    let created = f.created("chat-jobtype-1").await;
    let job = f
        .client
        .job(created["servicetitan"]["jobId"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(job.job_type_id, other.id);
    f.stop().await;
}

/// The longest transcript a lead may carry (100,000 characters, here two bytes each) is an item of its own: the lead's
/// item stays small, listing the tenant's leads reads no transcript, and the customer note still quotes it.
#[tokio::test]
async fn the_longest_transcript_is_its_own_item_and_still_reaches_the_customer_note() {
    let f = FollowUps::start(&[], json!({})).await;
    let transcript = format!("Customer: ¿Está abierto hoy? {}", "é".repeat(100_000 - 29));
    assert_eq!(transcript.chars().count(), 100_000);
    let reply = f
        .post_lead(lead(
            "chat-long-1",
            "Rosa Quintero",
            "(512) 555-0177",
            json!({"address": address("88 Barton Hills Dr", None, "78704"), "transcript": transcript}),
        ))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let created = f.created("chat-long-1").await;
    let customer_id = created["servicetitan"]["customerId"].as_i64().unwrap();
    let notes = f.customer_notes(customer_id).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Transcript (excerpt):\nCustomer: ¿Está abierto hoy?")),
        "{notes:#?}"
    );

    let items =
        f.t.stack
            .aws()
            .dynamodb
            .query()
            .table_name(f.t.resource("LeadsTable"))
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::S(TENANT.into()))
            .send()
            .await
            .unwrap();
    let size = |prefix: &str| -> usize {
        items
            .items()
            .iter()
            .filter(|i| i["sk"].as_s().unwrap().starts_with(prefix))
            .map(|i| format!("{i:?}").len())
            .sum()
    };
    assert!(
        size("lead#chat-long-1") < 8 * 1024,
        "the lead item is {} bytes",
        size("lead#chat-long-1")
    );
    assert!(size("transcript#chat-long-1#") > 200_000);
    let list =
        f.t.admin(reqwest::Method::GET, &format!("/admin/tenants/{TENANT}/leads"), None)
            .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        !list.body.to_string().contains("éééé"),
        "the list carries no transcript"
    );
    f.stop().await;
}
