//! The client against the local ServiceTitan sandbox: every operation, and the behaviours the issue asks for
//! (rate limits, 5xx bursts, token revocation, pagination, export cursors).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use servicetitan::client::{ClientOptions, Module};
use servicetitan::models::crm::{
    Address, BookingAddress, BookingStatus, ContactType, CreateBooking, CreateCustomer, CreateLead, CreateLocation,
    CreateNote, CustomerFilter, CustomerType, LeadFilter, LeadStatus, LocationFilter, NewContact, NewLocation,
    Priority,
};
use servicetitan::models::jpm::{CancelJob, CreateJob, JobFilter, JobStatus, NewAppointment};
use servicetitan::models::sales::{CreateEstimate, EstimateStatus};
use servicetitan::models::telecom::{CallDirection, CallFilter, CallType};
use servicetitan::models::{ExternalDataCreate, ExternalDataItem};
use servicetitan::rate_limit::RateLimit;
use servicetitan::resources::accounting::InvoiceFilter;
use servicetitan::{Client, Credentials, Error, Hosts, MemoryTokenStore};
use servicetitan_sandbox::{Sandbox, SandboxOptions};

const APP_GUID: &str = "4f1f6a43-5b4e-4f0e-9f0c-6c3a0d0f7a11";

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        port: 0,
        seed_demo: true,
        clock: None,
    })
    .await
    .expect("sandbox starts")
}

fn options(sandbox: &Sandbox) -> ClientOptions {
    let mut o = ClientOptions::new(Hosts {
        auth_url: sandbox.url(),
        api_url: sandbox.url(),
    });
    o.retry.base_delay = Duration::from_millis(20);
    o
}

fn credentials(sandbox: &Sandbox) -> Credentials {
    let t = sandbox.demo_tenant().expect("demo tenant");
    Credentials {
        tenant_id: t.tenant_id,
        client_id: t.client_id,
        client_secret: t.client_secret,
        app_key: t.app_key,
    }
}

fn client_with(options: ClientOptions, credentials: Credentials) -> Client {
    Client::new(
        options,
        credentials,
        Arc::new(MemoryTokenStore::default()),
        shared::clock::system(),
    )
}

fn client(sandbox: &Sandbox) -> Client {
    client_with(options(sandbox), credentials(sandbox))
}

async fn control(sandbox: &Sandbox, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}/_sandbox{path}", sandbox.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

fn address(street: &str) -> Address {
    Address {
        street: street.into(),
        unit: None,
        city: "Phoenix".into(),
        state: "AZ".into(),
        zip: "85004".into(),
        country: "USA".into(),
        latitude: None,
        longitude: None,
    }
}

fn new_customer(name: &str, phone: &str, lead_id: &str) -> CreateCustomer {
    CreateCustomer {
        name: name.into(),
        kind: None,
        locations: vec![NewLocation {
            name: "Home".into(),
            address: address("4120 N 7th St"),
            contacts: vec![],
            external_data: None,
        }],
        address: address("4120 N 7th St"),
        contacts: vec![NewContact {
            kind: ContactType::MobilePhone,
            value: phone.into(),
            memo: Some("from AI chat".into()),
        }],
        external_data: Some(ExternalDataCreate {
            application_guid: APP_GUID.into(),
            external_data: vec![ExternalDataItem {
                key: "leadId".into(),
                value: lead_id.into(),
            }],
        }),
    }
}

#[tokio::test]
async fn every_operation_round_trips() {
    let sb = sandbox().await;
    let c = client(&sb);

    let units = c.business_units().await.unwrap();
    assert!(units.len() >= 3, "{units:?}");
    let job_types = c.job_types().await.unwrap();
    let job_type = job_types
        .iter()
        .find(|t| t.business_unit_ids.contains(&units[0].id))
        .expect("a job type for the first unit");
    let campaigns = c.campaigns().await.unwrap();
    let technicians = c.technicians().await.unwrap();
    assert!(!campaigns.is_empty() && !technicians.is_empty());

    // Customers: create, get, find by phone written differently, find by our externalData.
    let created = c
        .create_customer(&new_customer("Dana Whitfield", "(602) 555-0148", "lead-1"))
        .await
        .unwrap();
    assert_eq!(created.locations.len(), 1);
    assert_eq!(created.contacts.len(), 1);
    let id = created.customer.id;
    assert_eq!(c.customer(id).await.unwrap().name, "Dana Whitfield");
    let by_phone = c
        .find_customers(&CustomerFilter {
            phone: Some("+1 602-555-0148".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_phone.iter().any(|x| x.id == id), "phone match ignores formatting");
    let by_lead = c
        .find_customers(&CustomerFilter {
            external_data: Some((APP_GUID.into(), "leadId".into(), vec!["lead-1".into()])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_lead.iter().map(|x| x.id).collect::<Vec<_>>(), vec![id]);

    // Locations and notes.
    let location = c
        .create_location(&CreateLocation {
            customer_id: id,
            name: "Rental".into(),
            address: address("77 W Roosevelt St"),
            contacts: vec![],
            external_data: None,
        })
        .await
        .unwrap();
    assert_eq!(c.location(location.id).await.unwrap().customer_id, id);
    assert_eq!(c.customer_locations(id).await.unwrap().len(), 2);
    let note = CreateNote {
        text: "AI chat summary: AC blowing warm air since Tuesday.".into(),
        pin_to_top: Some(true),
    };
    c.add_customer_note(id, &note).await.unwrap();
    c.add_location_note(location.id, &note).await.unwrap();
    assert_eq!(c.customer_notes(id).await.unwrap()[0].text, note.text);
    assert_eq!(c.location_notes(location.id).await.unwrap()[0].text, note.text);

    // Jobs: the job creates its appointment and invoice.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(26);
    let job = c
        .create_job(&CreateJob {
            customer_id: id,
            location_id: location.id,
            business_unit_id: units[0].id,
            job_type_id: job_type.id,
            priority: "Normal".into(),
            campaign_id: campaigns[0].id,
            appointments: vec![NewAppointment {
                start,
                end: start + jiff::SignedDuration::from_hours(2),
                arrival_window_start: None,
                arrival_window_end: None,
                technician_ids: vec![],
            }],
            summary: Some("<p>AC blowing warm air.</p>".into()),
            external_data: None,
        })
        .await
        .unwrap();
    assert_eq!(job.job_status, "Scheduled");
    assert_eq!(c.job(job.id).await.unwrap().id, job.id);
    assert_eq!(c.jobs_by_ids(&[job.id]).await.unwrap().len(), 1);
    let appointments = c.job_appointments(job.id).await.unwrap();
    assert_eq!(appointments.len(), 1);
    assert_eq!(c.appointment(appointments[0].id).await.unwrap().job_id, job.id);
    c.add_job_note(job.id, &note).await.unwrap();
    let invoices = c
        .invoices(&InvoiceFilter {
            ids: vec![job.invoice_id],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(invoices.len(), 1);

    // Estimates: create, list by job and status, sell; dismiss another.
    let estimate = c
        .create_estimate(&CreateEstimate {
            name: Some("2-ton AC".into()),
            summary: None,
            job_id: Some(job.id),
            location_id: None,
            items: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(estimate.status_name(), Some("Open"));
    assert_eq!(
        c.job_estimates(job.id, Some(EstimateStatus::Open)).await.unwrap().len(),
        1
    );
    let sold = c.sell_estimate(estimate.id, technicians[0].id).await.unwrap();
    assert_eq!(sold.status_name(), Some("Sold"));
    assert!(sold.sold_on.is_some());
    let other = c
        .create_estimate(&CreateEstimate {
            name: Some("Duct cleaning".into()),
            summary: None,
            job_id: Some(job.id),
            location_id: None,
            items: Vec::new(),
        })
        .await
        .unwrap();
    c.dismiss_estimate(other.id).await.unwrap();
    assert_eq!(c.estimate(other.id).await.unwrap().status_name(), Some("Dismissed"));
    // Selling a dismissed estimate is a validation error, not retried.
    let err = c.sell_estimate(other.id, technicians[0].id).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 400, .. }), "{err:?}");

    c.cancel_job(
        job.id,
        &CancelJob {
            reason_id: 1,
            memo: "Customer fixed it".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(c.job(job.id).await.unwrap().job_status, "Canceled");
    sb.stop().await;
}

#[tokio::test]
async fn contacts_bookings_and_calls_round_trip() {
    let sb = sandbox().await;
    let c = client(&sb);

    // Customer contacts: list, add, list again.
    let created = c
        .create_customer(&new_customer("Priya Raman", "6025550177", "lead-2"))
        .await
        .unwrap();
    let id = created.customer.id;
    let before = c.customer_contacts(id).await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].kind, ContactType::MobilePhone);
    let added = c
        .add_customer_contact(
            id,
            &NewContact {
                kind: ContactType::Email,
                value: "priya@example.com".into(),
                memo: Some("from AI chat".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (added.kind, added.value.as_str(), added.memo.as_deref()),
        (ContactType::Email, "priya@example.com", Some("from AI chat"))
    );
    let after = c.customer_contacts(id).await.unwrap();
    assert_eq!(after.len(), 2);
    assert!(after.iter().any(|x| x.id == added.id));
    let err = c
        .add_customer_contact(
            999_999_999,
            &NewContact {
                kind: ContactType::Phone,
                value: "6025550100".into(),
                memo: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 404, .. }), "{err:?}");

    // Bookings: create under a provider, get, list; another provider sees none of them.
    let provider = 4242;
    let start: jiff::Timestamp = "2030-06-02T15:00:00Z".parse().unwrap();
    let request = CreateBooking {
        source: "AI Chat".into(),
        name: "Priya Raman".into(),
        address: Some(BookingAddress {
            street: "4120 N 7th St".into(),
            unit: None,
            city: "Phoenix".into(),
            state: "AZ".into(),
            zip: "85004".into(),
            country: "USA".into(),
        }),
        contacts: vec![NewContact {
            kind: ContactType::MobilePhone,
            value: "6025550177".into(),
            memo: None,
        }],
        customer_type: Some(CustomerType::Residential),
        start: Some(start),
        summary: "AC blowing warm air since Tuesday.".into(),
        campaign_id: None,
        business_unit_id: None,
        job_type_id: None,
        priority: Some(Priority::High),
        is_first_time_client: true,
        is_send_confirmation_email: Some(false),
        external_id: "conversation-7".into(),
    };
    let booking = c.create_booking(provider, &request).await.unwrap();
    assert_eq!(booking.status, BookingStatus::New);
    assert_eq!(booking.booking_provider_id, provider);
    assert_eq!(booking.start, start);
    assert_eq!(booking.external_id, "conversation-7");
    assert_eq!(c.booking(provider, booking.id).await.unwrap(), booking);
    c.create_booking(
        provider,
        &CreateBooking {
            external_id: "conversation-8".into(),
            start: None,
            ..request.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(c.bookings(provider, None).await.unwrap().len(), 2);
    assert!(c.bookings(provider + 1, None).await.unwrap().is_empty());
    // A retried create finds the first attempt's booking by its externalId, under its provider only.
    assert_eq!(
        c.bookings(provider, Some("conversation-7")).await.unwrap(),
        vec![booking.clone()]
    );
    assert!(c.bookings(provider, Some("conversation-0")).await.unwrap().is_empty());
    assert!(
        c.bookings(provider + 1, Some("conversation-7"))
            .await
            .unwrap()
            .is_empty()
    );
    let err = c.booking(provider + 1, booking.id).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 404, .. }), "{err:?}");

    // Calls: the demo tenant has answered and abandoned inbound calls, some from customers' numbers.
    let calls = c.calls(&CallFilter::default()).await.unwrap();
    assert!(calls.len() >= 20, "{}", calls.len());
    let inbound = |t: CallType| {
        calls
            .iter()
            .filter(|x| x.lead_call.direction == CallDirection::Inbound && x.lead_call.call_type == Some(t))
            .count()
    };
    assert!(inbound(CallType::Abandoned) > 0);
    assert!(inbound(CallType::Booked) + inbound(CallType::Unbooked) > 0);
    let from_customer = calls
        .iter()
        .find(|x| x.lead_call.direction == CallDirection::Inbound && x.lead_call.customer.is_some())
        .expect("a call from a known customer");
    let customer_id = from_customer.lead_call.customer.as_ref().unwrap().id;
    let by_phone = c
        .find_customers(&CustomerFilter {
            phone: Some(from_customer.lead_call.from.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        by_phone.iter().any(|x| x.id == customer_id),
        "the caller's number is the customer's"
    );
    let same_caller = c
        .calls(&CallFilter {
            caller_phone_number: Some(from_customer.lead_call.from.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(same_caller.iter().any(|x| x.id == from_customer.id));
    assert!(
        same_caller
            .iter()
            .all(|x| x.lead_call.from == from_customer.lead_call.from)
    );
    // createdAfter is exclusive; the newest call is not after itself.
    let newest = calls.iter().map(|x| x.lead_call.created_on).max().unwrap();
    let later = c
        .calls(&CallFilter {
            created_after: Some(newest - jiff::SignedDuration::from_secs(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!later.is_empty());
    assert!(
        c.calls(&CallFilter {
            created_after: Some(newest),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty()
    );
    let long = c
        .calls(&CallFilter {
            min_duration_seconds: Some(60),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(long.iter().all(|x| x.lead_call.duration >= Duration::from_secs(60)));
    assert!(long.len() < calls.len(), "abandoned calls are short");

    // The calls export feed reads to its end and has every call once.
    let mut cursor: Option<String> = None;
    let mut exported = Vec::new();
    loop {
        let page = c.export_calls(cursor.as_deref()).await.unwrap();
        exported.extend(page.data);
        cursor = page.continue_from;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(exported.len(), calls.len());
    let missed = exported
        .iter()
        .find(|x| x.call_type == Some(CallType::Abandoned))
        .expect("an abandoned call in the export");
    assert!(missed.agent.is_none());
    sb.stop().await;
}

#[tokio::test]
async fn invoices_by_due_date_and_balance_and_their_payments() {
    let sb = sandbox().await;
    let c = client(&sb);
    let tenant = sb.demo_tenant().unwrap().tenant_id;
    let unpaid = c
        .invoices(&InvoiceFilter {
            unpaid_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let invoice = unpaid.first().expect("the demo has unpaid invoices").clone();
    control(
        &sb,
        reqwest::Method::POST,
        &format!("/tenants/{tenant}/invoices/{}/overdue", invoice.id),
        json!({}),
    )
    .await;
    let today = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date();
    let overdue = c
        .invoices(&InvoiceFilter {
            due_date_before: Some(today - jiff::Span::new().days(7)),
            unpaid_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(overdue.iter().any(|i| i.id == invoice.id), "7+ days overdue and unpaid");

    let balance = invoice.balance_cents().unwrap();
    control(
        &sb,
        reqwest::Method::POST,
        &format!("/tenants/{tenant}/payments"),
        json!({"invoiceId": invoice.id, "amount": invoice.balance}),
    )
    .await;
    let after = c
        .invoices(&InvoiceFilter {
            ids: vec![invoice.id],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after[0].balance_cents(), Some(0), "paid in full (was {balance})");
    let payments = c.invoice_payments(&[invoice.id]).await.unwrap();
    assert_eq!(payments.len(), 1);
    sb.stop().await;
}

#[tokio::test]
async fn validation_errors_are_typed_and_not_retried() {
    let sb = sandbox().await;
    let c = client(&sb);
    let before = stats(&sb).await["apiRequests"].as_u64().unwrap();
    let err = c
        .post::<_, Value>(Module::Jpm, "/jobs", &json!({"customerId": 1, "locationId": 1, "businessUnitId": 1, "jobTypeId": 1, "priority": "Normal", "appointments": []}))
        .await
        .unwrap_err();
    let fields = err.field_errors().expect("field errors");
    assert!(fields.contains_key("CampaignId"), "{fields:?}");
    assert!(!err.is_transient());
    assert_eq!(
        stats(&sb).await["apiRequests"].as_u64().unwrap() - before,
        1,
        "one request, no retry"
    );
    sb.stop().await;
}

async fn stats(sb: &Sandbox) -> Value {
    reqwest::get(format!("{}/_sandbox/stats", sb.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn stays_under_the_rate_limit_and_honours_retry_after_when_pushed_over_it() {
    let sb = sandbox().await;
    // The default client limiter (50/s) keeps a steady stream under ServiceTitan's 60/s.
    let c = Arc::new(client(&sb));
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.business_units().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(stats(&sb).await["rateLimited"], 0, "never rate limited");

    // Without the limiter, a burst hits 429s; the client waits out Retry-After and every call still succeeds.
    let mut o = options(&sb);
    o.rate_limit = RateLimit {
        per_second: 10_000.0,
        burst: 10_000.0,
    };
    o.retry.max_attempts = 10;
    let fast = Arc::new(client_with(o, credentials(&sb)));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let c = fast.clone();
            tokio::spawn(async move { c.business_units().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(
        stats(&sb).await["rateLimited"].as_u64().unwrap() > 0,
        "the sandbox did rate limit"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for Retry-After"
    );
    sb.stop().await;
}

#[tokio::test]
async fn recovers_from_bursts_of_server_errors_but_not_for_creates() {
    let sb = sandbox().await;
    let c = client(&sb);
    control(
        &sb,
        reqwest::Method::POST,
        "/faults",
        json!({"pathContains": "/business-units", "errorRate": 0.5, "status": 503}),
    )
    .await;
    assert!(
        !c.business_units().await.unwrap().is_empty(),
        "every second call fails; retries get through"
    );
    control(&sb, reqwest::Method::DELETE, "/faults", json!({})).await;

    control(
        &sb,
        reqwest::Method::POST,
        "/faults",
        json!({"pathContains": "/business-units", "errorRate": 1.0, "status": 503}),
    )
    .await;
    let err = c.business_units().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                status: 503,
                attempts: 5
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());

    // A create that failed with a 5xx may have been applied: it is not repeated.
    control(
        &sb,
        reqwest::Method::POST,
        "/faults",
        json!({"pathContains": "/customers", "errorRate": 1.0, "status": 500}),
    )
    .await;
    let before = stats(&sb).await["apiRequests"].as_u64().unwrap();
    let err = c
        .create_customer(&new_customer("Lee Ortiz", "6025550199", "lead-9"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                status: 500,
                attempts: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(stats(&sb).await["apiRequests"].as_u64().unwrap() - before, 1);
    sb.stop().await;
}

#[tokio::test]
async fn a_revoked_token_costs_one_refresh_and_one_retry() {
    let sb = sandbox().await;
    let c = client(&sb);
    let client_id = sb.demo_tenant().unwrap().client_id;
    c.business_units().await.unwrap();
    c.campaigns().await.unwrap();
    assert_eq!(sb.token_requests(&client_id), 1, "the token is cached");
    control(&sb, reqwest::Method::POST, "/tokens/revoke", json!({})).await;
    c.business_units().await.unwrap();
    assert_eq!(sb.token_requests(&client_id), 2, "one refresh after the 401");

    // Fifty concurrent callers needing a token cause one token request.
    let fresh = Arc::new(client(&sb));
    let before = sb.token_requests(&client_id);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = fresh.clone();
            tokio::spawn(async move { c.tokens().token().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sb.token_requests(&client_id) - before, 1);
    sb.stop().await;
}

#[tokio::test]
async fn wrong_credentials_fail_clearly() {
    let sb = sandbox().await;
    let mut bad_secret = credentials(&sb);
    bad_secret.client_secret = "cs1.wrong".into();
    let err = client_with(options(&sb), bad_secret)
        .business_units()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Auth { error, .. } if error == "invalid_client"),
        "{err:?}"
    );

    let mut bad_app_key = credentials(&sb);
    bad_app_key.app_key = "ak1.wrong".into();
    let before = sb.token_requests(&bad_app_key.client_id);
    let err = client_with(options(&sb), bad_app_key.clone())
        .business_units()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { status: 401, .. }), "{err:?}");
    assert_eq!(
        sb.token_requests(&bad_app_key.client_id) - before,
        2,
        "one refresh, then it gives up"
    );
    assert!(
        !format!("{:?}", credentials(&sb)).contains("demo-secret"),
        "secrets stay out of Debug"
    );
    sb.stop().await;
}

#[tokio::test]
async fn pages_follow_has_more_and_export_cursors_resume() {
    let sb = sandbox().await;
    let c = client(&sb);
    let first: servicetitan::Page<servicetitan::models::crm::Customer> =
        c.page(Module::Crm, "/customers", &[], 1, 50).await.unwrap();
    assert!(first.has_more);
    assert_eq!(first.data.len(), 50);
    let mut seen = Vec::new();
    for page in 1.. {
        let p: servicetitan::Page<servicetitan::models::crm::Customer> =
            c.page(Module::Crm, "/customers", &[], page, 50).await.unwrap();
        seen.extend(p.data.into_iter().map(|x| x.id));
        if !p.has_more {
            break;
        }
    }
    let all = c.find_customers(&CustomerFilter::default()).await.unwrap();
    assert_eq!(seen.len(), all.len());
    assert!(all.len() >= 300);

    // Export: page through, keeping the cursor; a resumed read from a saved cursor sees the rest exactly once.
    let mut cursor: Option<String> = None;
    let mut exported = Vec::new();
    let mut saved = None;
    loop {
        let page = c.export_customers(cursor.as_deref()).await.unwrap();
        exported.extend(page.data.iter().map(|x| x.id));
        if saved.is_none() {
            saved = Some((page.continue_from.clone(), exported.len()));
        }
        cursor = page.continue_from;
        if !page.has_more {
            break;
        }
    }
    let mut unique = exported.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), exported.len(), "no record twice");
    assert_eq!(exported.len(), all.len(), "every record once");
    let (saved_cursor, seen_before) = saved.unwrap();
    let mut resumed = Vec::new();
    let mut cursor = saved_cursor;
    loop {
        let page = c.export_customers(cursor.as_deref()).await.unwrap();
        resumed.extend(page.data.iter().map(|x| x.id));
        cursor = page.continue_from;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(resumed, exported[seen_before..].to_vec());
    sb.stop().await;
}

#[tokio::test]
async fn every_export_feed_reads_to_its_end() {
    let sb = sandbox().await;
    let c = client(&sb);
    macro_rules! drain {
        ($feed:ident) => {{
            let mut cursor: Option<String> = None;
            let mut count = 0;
            loop {
                let page = c.$feed(cursor.as_deref()).await.unwrap();
                count += page.data.len();
                cursor = page.continue_from;
                if !page.has_more {
                    break;
                }
            }
            count
        }};
    }
    assert!(drain!(export_jobs) > 0);
    assert!(drain!(export_appointments) > 0);
    assert!(drain!(export_estimates) > 0);
    assert!(drain!(export_invoices) > 0);
    assert!(drain!(export_payments) > 0);
    sb.stop().await;
}

fn lead_data(value: &str) -> ExternalDataCreate {
    ExternalDataCreate {
        application_guid: APP_GUID.into(),
        external_data: vec![ExternalDataItem {
            key: "leadId".into(),
            value: value.into(),
        }],
    }
}

fn lead_item(value: &str) -> Vec<ExternalDataItem> {
    vec![ExternalDataItem {
        key: "leadId".into(),
        value: value.into(),
    }]
}

#[tokio::test]
async fn leads_round_trip() {
    let sb = sandbox().await;
    let c = client(&sb);
    let campaign = c.campaigns().await.unwrap()[0].id;
    let unit = c.business_units().await.unwrap()[0].id;
    let created = c
        .create_customer(&new_customer("Omar Farah", "6025550190", "lead-20"))
        .await
        .unwrap();
    let (customer, location) = (created.customer.id, created.locations[0].id);
    let follow_up: jiff::Timestamp = "2030-06-03T16:00:00Z".parse().unwrap();

    let request = CreateLead {
        campaign_id: campaign,
        summary: "AI call: furnace short-cycling, wants a visit next week.".into(),
        customer_id: Some(customer),
        location_id: Some(location),
        business_unit_id: Some(unit),
        priority: Some(Priority::High),
        follow_up_date: Some(follow_up),
        lead_customer_name: Some("Omar Farah".into()),
        lead_phone: Some("(602) 555-0190".into()),
        lead_email: Some("omar@example.com".into()),
        ..CreateLead::default()
    };
    let lead = c.create_lead(&request).await.unwrap();
    assert_eq!(lead.status, LeadStatus::Open);
    assert_eq!(lead.priority, Priority::High);
    assert_eq!(
        (lead.customer_id, lead.location_id, lead.campaign_id),
        (Some(customer), Some(location), campaign)
    );
    assert_eq!(lead.follow_up_date, Some(follow_up));
    assert_eq!(lead.summary.as_deref(), Some(request.summary.as_str()));
    assert_eq!(lead.lead_phone.as_deref(), Some("(602) 555-0190"));
    assert_eq!(c.lead(lead.id).await.unwrap(), lead);

    // Without a customer: a prospect, with the caller's details on the lead.
    let prospect = c
        .create_lead(&CreateLead {
            campaign_id: campaign,
            summary: "Missed call, asked for a water heater quote.".into(),
            call_reason_id: Some(1),
            lead_phone: Some("6025550191".into()),
            ..CreateLead::default()
        })
        .await
        .unwrap();
    assert_eq!((prospect.customer_id, prospect.priority), (None, Priority::Normal));

    let ids = |leads: Vec<servicetitan::models::crm::Lead>| leads.into_iter().map(|l| l.id).collect::<Vec<_>>();
    let by_customer = c
        .find_leads(&LeadFilter {
            customer_id: Some(customer),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(by_customer), vec![lead.id]);
    let by_phone = c
        .find_leads(&LeadFilter {
            phone: Some("+1 602 555 0191".into()),
            status: Some(LeadStatus::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(by_phone), vec![prospect.id]);
    let since = c
        .find_leads(&LeadFilter {
            created_on_or_after: Some(lead.created_on),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(since), vec![lead.id, prospect.id]);
    assert!(
        c.find_leads(&LeadFilter {
            status: Some(LeadStatus::Converted),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty()
    );

    // ServiceTitan-style validation errors, by field; never retried.
    let err = c
        .create_lead(&CreateLead {
            campaign_id: 999_999_999,
            summary: "x".into(),
            job_type_id: Some(999_999_998),
            call_reason_id: Some(1),
            ..CreateLead::default()
        })
        .await
        .unwrap_err();
    let fields = err.field_errors().expect("field errors");
    assert_eq!(
        fields.keys().collect::<Vec<_>>(),
        ["CampaignId", "JobTypeId"],
        "{fields:?}"
    );
    let err = c
        .create_lead(&CreateLead {
            campaign_id: campaign,
            summary: "No follow-up date, no call reason".into(),
            ..CreateLead::default()
        })
        .await
        .unwrap_err();
    assert!(err.field_errors().unwrap().contains_key("FollowUpDate"), "{err:?}");
    let err = c.lead(999_999_999).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 404, .. }), "{err:?}");
    sb.stop().await;
}

#[tokio::test]
async fn location_job_and_external_data_lookups() {
    let sb = sandbox().await;
    let c = client(&sb);
    let created = c
        .create_customer(&new_customer("Mei Tanaka", "6025550192", "lead-30"))
        .await
        .unwrap();
    let customer = created.customer.id;
    let home = created.locations[0].id;
    let mut rental_address = address("77 W Roosevelt St");
    rental_address.unit = Some("Unit 5".into());
    rental_address.zip = "85003".into();
    let rental = c
        .create_location(&CreateLocation {
            customer_id: customer,
            name: "Rental".into(),
            address: rental_address,
            contacts: vec![],
            external_data: Some(lead_data("lead-31")),
        })
        .await
        .unwrap();
    assert_eq!(
        rental.external_data,
        Some(lead_item("lead-31")),
        "a create answers with its data"
    );

    // Locations: by customer, by address parts, by our externalData (which they then carry).
    let ids =
        |locations: Vec<servicetitan::models::crm::Location>| locations.into_iter().map(|l| l.id).collect::<Vec<_>>();
    let of_customer = c
        .find_locations(&LocationFilter {
            customer_id: Some(customer),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(of_customer), vec![home, rental.id]);
    let by_address = c
        .find_locations(&LocationFilter {
            street: Some("roosevelt".into()),
            unit: Some("unit 5".into()),
            zip: Some("85003".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(by_address), vec![rental.id]);
    let by_lead = c
        .find_locations(&LocationFilter {
            external_data: Some((
                APP_GUID.into(),
                "leadId".into(),
                vec!["lead-31".into(), "lead-99".into()],
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_lead.len(), 1);
    assert_eq!(
        (by_lead[0].id, by_lead[0].external_data.clone()),
        (rental.id, Some(lead_item("lead-31")))
    );

    // A record's externalData comes back for the application asked for, and not without it.
    assert_eq!(c.location(rental.id).await.unwrap().external_data, Some(vec![]));
    let with_ours = c
        .location_with_external_data(rental.id, APP_GUID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_ours.external_data, Some(lead_item("lead-31")));
    let with_other = c
        .location_with_external_data(rental.id, "00000000-0000-4000-8000-000000000000")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_other.external_data, Some(vec![]));
    assert!(
        c.location_with_external_data(999_999_999, APP_GUID)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(c.customer(customer).await.unwrap().external_data, Some(vec![]));
    let customer_ours = c
        .customer_with_external_data(customer, APP_GUID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer_ours.external_data, Some(lead_item("lead-30")));
    assert!(
        c.customer_with_external_data(999_999_999, APP_GUID)
            .await
            .unwrap()
            .is_none()
    );

    // Jobs: one with our externalData at the rental, one plain at home; then the home one is canceled.
    let units = c.business_units().await.unwrap();
    let job_type = c
        .job_types()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.business_unit_ids.contains(&units[0].id))
        .unwrap();
    let campaign = c.campaigns().await.unwrap()[0].id;
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(30);
    let job = |location_id: i64, external_data: Option<ExternalDataCreate>| CreateJob {
        customer_id: customer,
        location_id,
        business_unit_id: units[0].id,
        job_type_id: job_type.id,
        priority: "Normal".into(),
        campaign_id: campaign,
        appointments: vec![NewAppointment {
            start,
            end: start + jiff::SignedDuration::from_hours(2),
            arrival_window_start: None,
            arrival_window_end: None,
            technician_ids: vec![],
        }],
        summary: Some("<p>From the AI chat.</p>".into()),
        external_data,
    };
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let ours = c.create_job(&job(rental.id, Some(lead_data("lead-31")))).await.unwrap();
    assert_eq!(ours.external_data, Some(lead_item("lead-31")));
    let plain = c.create_job(&job(home, None)).await.unwrap();
    c.cancel_job(
        plain.id,
        &CancelJob {
            reason_id: 1,
            memo: "Duplicate".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(c.job(ours.id).await.unwrap().external_data, Some(vec![]));
    assert_eq!(
        c.job_with_external_data(ours.id, APP_GUID).await.unwrap().external_data,
        Some(lead_item("lead-31"))
    );

    let job_ids = |jobs: Vec<servicetitan::models::jpm::Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let find = |f: JobFilter| {
        let c = &c;
        async move { job_ids(c.find_jobs(&f).await.unwrap()) }
    };
    assert_eq!(
        find(JobFilter {
            customer_id: Some(customer),
            ..Default::default()
        })
        .await,
        vec![ours.id, plain.id]
    );
    assert_eq!(
        find(JobFilter {
            location_id: Some(home),
            ..Default::default()
        })
        .await,
        vec![plain.id]
    );
    assert_eq!(
        find(JobFilter {
            customer_id: Some(customer),
            job_statuses: vec![JobStatus::Scheduled],
            ..Default::default()
        })
        .await,
        vec![ours.id]
    );
    let by_lead = c
        .find_jobs(&JobFilter {
            external_data: Some((APP_GUID.into(), "leadId".into(), vec!["lead-31".into()])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(job_ids(by_lead.clone()), vec![ours.id]);
    assert_eq!(by_lead[0].external_data, Some(lead_item("lead-31")));
    assert_eq!(
        find(JobFilter {
            created_on_or_after: Some(before),
            ..Default::default()
        })
        .await,
        vec![ours.id, plain.id],
        "only the jobs made here are that new"
    );

    // Several statuses: one listing each (jobStatus takes one), merged in id order.
    sb.clear_requests();
    let either = find(JobFilter {
        customer_id: Some(customer),
        job_statuses: vec![JobStatus::Canceled, JobStatus::Scheduled, JobStatus::Canceled],
        ..Default::default()
    })
    .await;
    assert_eq!(either, vec![ours.id, plain.id]);
    let queries: Vec<String> = sb
        .requests()
        .iter()
        .map(|r| r["query"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(queries.len(), 2, "{queries:?}");
    assert!(queries[0].contains("jobStatus=Canceled") && queries[1].contains("jobStatus=Scheduled"));
    sb.stop().await;
}
