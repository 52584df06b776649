//! Leads matched to ServiceTitan's customers without duplicates or wrong merges, through the local stack and the
//! sandbox: every decision checked against what ServiceTitan holds afterwards.

use integration_tests::followups::FollowUps;
use integration_tests::leads::{address, lead, request_schema_violations};
use serde_json::json;

async fn stack() -> FollowUps {
    FollowUps::start(&[], json!({})).await
}

#[tokio::test]
async fn a_new_customer_gets_a_location_a_job_and_the_conversation_note_in_five_calls() {
    let f = stack().await;
    f.clear_requests();
    let reply = f
        .post_lead(lead(
            "chat-new-1",
            "Dana Whitfield",
            "(512) 555-0140",
            json!({"email": "Dana.W@example.com", "address": address("4410 Quarry Ridge Rd", None, "78731"),
                   "transcript": "Customer: my AC is blowing warm air.\nAI: I can book a visit.",
                   "recordingUrl": "https://calls.example.com/r/140"}),
        ))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["status"], "accepted");
    let requests = f.requests();
    let created = f.created("chat-new-1").await;
    assert_eq!(created["outcome"], "new_customer");
    assert_eq!(created["decision"]["matched"]["decision"]["outcome"], "new");
    let ids = &created["servicetitan"];
    let customer_id = ids["customerId"].as_i64().unwrap();

    let customer = f.client.customer(customer_id).await.unwrap();
    assert_eq!(customer.name, "Dana Whitfield");
    let contacts = f.client.customer_contacts(customer_id).await.unwrap();
    let values: Vec<&str> = contacts.iter().map(|c| c.value.as_str()).collect();
    assert!(
        values.contains(&"5125550140") && values.contains(&"dana.w@example.com"),
        "{values:?}"
    );
    let locations = f.locations_of(customer_id).await;
    assert_eq!(locations.len(), 1);
    assert_eq!(locations[0].id, ids["locationId"].as_i64().unwrap());
    assert_eq!(locations[0].address.street, "4410 Quarry Ridge Rd");

    let jobs = f.jobs_of(customer_id).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, ids["jobId"].as_i64().unwrap());
    let summary = jobs[0].summary.as_deref().unwrap();
    assert!(
        summary.contains("AC not cooling") && summary.contains("[lead chat-new-1]"),
        "{summary}"
    );
    let appointments = f.client.job_appointments(jobs[0].id).await.unwrap();
    assert_eq!(appointments.len(), 1, "the tenant's default arrival window");

    let notes = f.customer_notes(customer_id).await;
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("Summary: Upstairs AC") && notes[0].contains("Recording: https://calls.example.com/r/140")
    );
    assert!(notes[0].contains("Transcript (excerpt):\nCustomer: my AC"));

    // The budget: phone search, address search, customer, job, note.
    let calls: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect();
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert_eq!(request_schema_violations(&requests), Vec::<String>::new());
    f.stop().await;
}

#[tokio::test]
async fn an_existing_customer_is_found_by_a_phone_written_another_way() {
    let f = stack().await;
    let h = f
        .household_at("Priya Raman", "512-555-0141", "77 Larkspur Ln", None, "78745")
        .await;
    f.post_lead(lead("chat-phone-1", "Priya Raman", "+1 (512) 555 0141", json!({})))
        .await;
    let created = f.created("chat-phone-1").await;
    assert_eq!(created["outcome"], "matched_customer");
    assert_eq!(created["servicetitan"]["customerId"], h.customer_id);
    assert_eq!(
        created["servicetitan"]["locationId"], h.location_id,
        "the customer's only location"
    );
    assert_eq!(
        created["decision"]["matched"]["decision"]["rule"],
        "same phone and surname"
    );
    assert_eq!(
        f.customers_with_phone("5125550141").await,
        vec![h.customer_id],
        "no duplicate"
    );
    assert_eq!(f.jobs_of(h.customer_id).await.len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn street_spellings_and_a_unit_written_three_ways_are_one_address() {
    let f = stack().await;
    let h = f
        .household_at(
            "Marcus Okafor",
            "512-555-0142",
            "2210 North Lamar Boulevard",
            Some("Apt 4B"),
            "78705",
        )
        .await;
    // New phone numbers each time: only the address and the surname can match.
    for (i, (street, unit)) in [
        ("2210 N Lamar Blvd", Some("#4B")),
        ("2210 N. Lamar Blvd Unit 4-B", None),
        ("2210 north lamar blvd apt 4b", None),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("form-unit-{i}");
        f.post_lead(lead(
            &id,
            "Marcus Okafor",
            &format!("512-555-015{i}"),
            json!({"source": "form", "address": address(street, unit, "78705-1234"),
                   "service": format!("Visit {i}")}),
        ))
        .await;
        let created = f.created(&id).await;
        assert_eq!(
            created["servicetitan"]["customerId"], h.customer_id,
            "{street} {unit:?}: {created:#}"
        );
        assert_eq!(
            created["servicetitan"]["locationId"], h.location_id,
            "{street} {unit:?}"
        );
        assert_eq!(
            created["decision"]["matched"]["decision"]["rule"],
            "same surname and address"
        );
    }
    assert_eq!(f.locations_of(h.customer_id).await.len(), 1, "no new location");
    // The new numbers were added to the customer for the follow-ups.
    let contacts = f.client.customer_contacts(h.customer_id).await.unwrap();
    assert_eq!(contacts.len(), 4, "{contacts:?}");
    f.stop().await;
}

#[tokio::test]
async fn a_family_sharing_a_phone_at_one_address_is_one_customer() {
    let f = stack().await;
    let h = f
        .household_at("Dana Whitfield", "512-555-0143", "9 Pecan Grove Ct", None, "78704")
        .await;
    f.post_lead(lead(
        "voice-family-1",
        "Chris Whitfield",
        "512.555.0143",
        json!({"source": "voice", "address": address("9 Pecan Grove Court", None, "78704")}),
    ))
    .await;
    let created = f.created("voice-family-1").await;
    assert_eq!(created["servicetitan"]["customerId"], h.customer_id);
    assert_eq!(created["servicetitan"]["locationId"], h.location_id);
    assert_eq!(
        created["decision"]["matched"]["decision"]["rule"],
        "same phone, surname and address"
    );
    assert_eq!(f.customers_with_phone("5125550143").await.len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn a_shared_phone_at_two_addresses_with_other_surnames_is_two_customers_and_a_review_note() {
    let f = stack().await;
    let h = f
        .household_at("Dana Whitfield", "512-555-0144", "9 Pecan Grove Ct", None, "78704")
        .await;
    f.post_lead(lead(
        "chat-shared-1",
        "Pat Jones",
        "512-555-0144",
        json!({"address": address("5120 Burnet Rd", None, "78756")}),
    ))
    .await;
    let created = f.created("chat-shared-1").await;
    assert_eq!(created["outcome"], "new_customer");
    let new_id = created["servicetitan"]["customerId"].as_i64().unwrap();
    assert_ne!(new_id, h.customer_id);
    assert_eq!(
        created["decision"]["matched"]["decision"]["possibleDuplicates"],
        json!([h.customer_id])
    );
    let mut both = f.customers_with_phone("5125550144").await;
    both.sort();
    assert_eq!(both, vec![h.customer_id, new_id]);
    let notes = f.customer_notes(new_id).await;
    let review = notes
        .iter()
        .find(|n| n.starts_with("Possible duplicate"))
        .expect("a review note");
    assert!(
        review.contains(&format!("#{} Dana Whitfield: same phone only", h.customer_id)),
        "{review}"
    );
    assert!(
        f.customer_notes(h.customer_id).await.is_empty(),
        "nothing written on the other household"
    );
    f.stop().await;
}

#[tokio::test]
async fn landlord_and_tenant_at_one_address_are_two_customers() {
    let f = stack().await;
    let landlord = f
        .household_at("Robert Chen", "512-555-0145", "1806 Alta Vista Ave", None, "78704")
        .await;
    f.post_lead(lead(
        "chat-tenant-1",
        "Maria Lopez",
        "512-555-0146",
        json!({"address": address("1806 Alta Vista Avenue", None, "78704")}),
    ))
    .await;
    let created = f.created("chat-tenant-1").await;
    assert_eq!(created["outcome"], "new_customer");
    let tenant = created["servicetitan"]["customerId"].as_i64().unwrap();
    assert_ne!(
        tenant, landlord.customer_id,
        "the landlord's records are not the tenant's"
    );
    assert!(f.jobs_of(landlord.customer_id).await.is_empty());
    assert_eq!(f.jobs_of(tenant).await.len(), 1);
    let evidence = &created["decision"]["matched"]["evidence"][0];
    assert_eq!(
        (evidence["customerId"].as_i64(), evidence["address"].as_str()),
        (Some(landlord.customer_id), Some("same"))
    );
    assert_eq!(evidence["verdict"], "possible_duplicate");
    f.stop().await;
}

#[tokio::test]
async fn a_known_customer_at_a_new_address_gets_a_new_location_and_a_repeat_request_a_note() {
    let f = stack().await;
    let h = f
        .household_at("Lena Park", "512-555-0147", "300 Bowie St", None, "78703")
        .await;
    // The rental she owns: a new location on her customer.
    f.post_lead(lead(
        "chat-rental-1",
        "Lena Park",
        "512-555-0147",
        json!({"address": address("1417 Kenwood Ave", None, "78704")}),
    ))
    .await;
    let first = f.created("chat-rental-1").await;
    assert_eq!(first["servicetitan"]["customerId"], h.customer_id);
    let rental = first["servicetitan"]["locationId"].as_i64().unwrap();
    assert_ne!(rental, h.location_id);
    assert_eq!(f.locations_of(h.customer_id).await.len(), 2);
    // She asks again an hour later, by voice: a note on the open job, not a second visit.
    f.advance(jiff::SignedDuration::from_hours(1)).await;
    f.post_lead(lead(
        "voice-rental-2",
        "Lena Park",
        "512-555-0147",
        json!({"source": "voice", "address": address("1417 Kenwood Avenue", None, "78704"), "summary": "Still no cooling."}),
    ))
    .await;
    let second = f.created("voice-rental-2").await;
    assert_eq!(second["outcome"], "repeat_request");
    assert_eq!(second["servicetitan"]["jobId"], first["servicetitan"]["jobId"]);
    assert_eq!(f.jobs_of(h.customer_id).await.len(), 1);
    let notes = f
        .client
        .job_notes(first["servicetitan"]["jobId"].as_i64().unwrap())
        .await
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.text.contains("asked again") && n.text.contains("Still no cooling")),
        "{notes:?}"
    );
    // The page's list: newest first, each with what became of it and the decision's evidence.
    let owner = f.t.login("1001", "viewer").await;
    let list =
        f.t.call(
            reqwest::Method::GET,
            "/dashboard/tenants/1001/leads?limit=5",
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let leads = list.body["leads"].as_array().unwrap();
    let ids: Vec<&str> = leads.iter().map(|l| l["leadId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["voice-rental-2", "chat-rental-1"]);
    assert_eq!(leads[0]["outcome"], "repeat_request");
    assert_eq!(
        leads[1]["decision"], first["decision"],
        "the decision with its evidence"
    );
    assert!(leads[1]["decision"].is_object());
    let bad =
        f.t.call(
            reqwest::Method::GET,
            "/dashboard/tenants/1001/leads?limit=0",
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["fields"][0]["field"].as_str()),
        (400, Some("limit"))
    );
    f.stop().await;
}
