//! Every request body the client sends validates against ServiceTitan's official request schema. (Responses are
//! covered by the sandbox's schema test plus the client parsing the sandbox's responses in `against_sandbox.rs`.)

use std::collections::HashMap;
use std::path::PathBuf;

use jsonschema::{Draft, Registry, Resource};
use serde_json::{Value, json};
use servicetitan::models::crm::{
    Address, BookingAddress, ContactType, CreateBooking, CreateCustomer, CreateLocation, CreateNote, CustomerType,
    NewContact, NewLocation, Priority,
};
use servicetitan::models::jpm::{CancelJob, CreateJob, NewAppointment};
use servicetitan::models::sales::{CreateEstimate, SellEstimate};
use servicetitan::models::{ExternalDataCreate, ExternalDataItem};

fn spec_dir() -> PathBuf {
    match std::env::var_os("SERVICETITAN_OPENAPI_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/servicetitan-openapi"),
    }
}

fn doc_uri(file: &str) -> String {
    format!("https://specs.servicetitan.local/{file}.json")
}

fn address() -> Address {
    Address {
        street: "4120 N 7th St".into(),
        unit: Some("Apt 2".into()),
        city: "Phoenix".into(),
        state: "AZ".into(),
        zip: "85004".into(),
        country: "USA".into(),
        latitude: Some(33.49),
        longitude: Some(-112.06),
    }
}

fn requests() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    let external = ExternalDataCreate {
        application_guid: "4f1f6a43-5b4e-4f0e-9f0c-6c3a0d0f7a11".into(),
        external_data: vec![ExternalDataItem {
            key: "leadId".into(),
            value: "lead-1".into(),
        }],
    };
    let contact = NewContact {
        kind: ContactType::MobilePhone,
        value: "6025550148".into(),
        memo: Some("AI chat".into()),
    };
    let start: jiff::Timestamp = "2026-12-01T16:00:00Z".parse().unwrap();
    let to_json = |v: &dyn erased::Ser| v.json();
    vec![
        (
            "crm-v2",
            "/tenant/{tenant}/customers",
            "post",
            to_json(&CreateCustomer {
                name: "Dana Whitfield".into(),
                kind: Some(servicetitan::models::crm::CustomerType::Residential),
                locations: vec![NewLocation {
                    name: "Home".into(),
                    address: address(),
                    contacts: vec![contact.clone()],
                    external_data: Some(external.clone()),
                }],
                address: address(),
                contacts: vec![contact.clone()],
                external_data: Some(external.clone()),
            }),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/locations",
            "post",
            to_json(&CreateLocation {
                customer_id: 1,
                name: "Rental".into(),
                address: address(),
                contacts: vec![contact.clone()],
                external_data: Some(external.clone()),
            }),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/customers/{id}/contacts",
            "post",
            to_json(&contact),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/customers/{id}/contacts",
            "post",
            to_json(&NewContact {
                kind: ContactType::Email,
                value: "dana@example.com".into(),
                memo: None,
            }),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/booking-provider/{booking_provider}/bookings",
            "post",
            to_json(&CreateBooking {
                source: "AI Chat".into(),
                name: "Dana Whitfield".into(),
                address: Some(BookingAddress {
                    street: "4120 N 7th St".into(),
                    unit: Some("Apt 2".into()),
                    city: "Phoenix".into(),
                    state: "AZ".into(),
                    zip: "85004".into(),
                    country: "USA".into(),
                }),
                contacts: vec![contact.clone()],
                customer_type: Some(CustomerType::Residential),
                start: Some(start),
                summary: "AC blowing warm air.".into(),
                campaign_id: Some(5),
                business_unit_id: Some(3),
                job_type_id: Some(4),
                priority: Some(Priority::Urgent),
                is_first_time_client: false,
                is_send_confirmation_email: Some(true),
                external_id: "conversation-1".into(),
            }),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/booking-provider/{booking_provider}/bookings",
            "post",
            to_json(&CreateBooking {
                source: "AI Chat".into(),
                name: "Lee Ortiz".into(),
                address: None,
                contacts: vec![],
                customer_type: None,
                start: None,
                summary: "Water heater leaking.".into(),
                campaign_id: None,
                business_unit_id: None,
                job_type_id: None,
                priority: None,
                is_first_time_client: true,
                is_send_confirmation_email: None,
                external_id: "conversation-2".into(),
            }),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/customers/{id}/notes",
            "post",
            to_json(&CreateNote {
                text: "summary".into(),
                pin_to_top: Some(true),
            }),
        ),
        (
            "jpm-v2",
            "/tenant/{tenant}/jobs",
            "post",
            to_json(&CreateJob {
                customer_id: 1,
                location_id: 2,
                business_unit_id: 3,
                job_type_id: 4,
                priority: "Normal".into(),
                campaign_id: 5,
                appointments: vec![NewAppointment {
                    start,
                    end: start + jiff::SignedDuration::from_hours(2),
                    arrival_window_start: Some(start),
                    arrival_window_end: Some(start + jiff::SignedDuration::from_hours(4)),
                    technician_ids: vec![6],
                }],
                summary: Some("<p>AC blowing warm air.</p>".into()),
                external_data: Some(external),
            }),
        ),
        (
            "jpm-v2",
            "/tenant/{tenant}/jobs/{id}/notes",
            "post",
            to_json(&CreateNote {
                text: "summary".into(),
                pin_to_top: None,
            }),
        ),
        (
            "jpm-v2",
            "/tenant/{tenant}/jobs/{id}/cancel",
            "put",
            to_json(&CancelJob {
                reason_id: 1,
                memo: "dup".into(),
            }),
        ),
        (
            "salestech-v2",
            "/tenant/{tenant}/estimates",
            "post",
            to_json(&CreateEstimate {
                name: Some("2-ton AC".into()),
                summary: Some("s".into()),
                job_id: Some(1),
                location_id: Some(2),
            }),
        ),
        (
            "salestech-v2",
            "/tenant/{tenant}/estimates/{id}/sell",
            "put",
            to_json(&SellEstimate { sold_by: 7 }),
        ),
    ]
}

/// Serialises any of the request types to JSON (a tiny object-safe wrapper over `Serialize`).
mod erased {
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).expect("serialises")
        }
    }
}

#[test]
fn request_bodies_match_the_official_schemas() {
    let dir = spec_dir();
    if !dir.join("crm-v2.json").exists() {
        println!(
            "skipping: ServiceTitan OpenAPI specs not found at {}; download them from ServiceTitan's developer portal \
             (developer.servicetitan.io, API reference → OpenAPI document) or set SERVICETITAN_OPENAPI_DIR",
            dir.display()
        );
        return;
    }
    let files = ["crm-v2", "jpm-v2", "salestech-v2"];
    let docs: HashMap<&str, Value> = files
        .iter()
        .map(|f| {
            (
                *f,
                serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{f}.json"))).unwrap()).unwrap(),
            )
        })
        .collect();
    let mut registry = Registry::new();
    for f in files {
        registry = registry
            .add(doc_uri(f), Resource::from_contents(docs[f].clone()))
            .unwrap();
    }
    let registry = registry.prepare().unwrap();
    let validator_for = |file: &str, schema: &Value| {
        let reference = schema["$ref"].as_str().expect("request schemas are $refs");
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&registry)
            .should_validate_formats(true)
            .build(&json!({ "$ref": format!("{}{reference}", doc_uri(file)) }))
            .unwrap()
    };

    // The check bites: a job without campaignId is invalid.
    let job_schema = &docs["jpm-v2"]["paths"]["/tenant/{tenant}/jobs"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let mut job = requests()
        .into_iter()
        .find(|r| r.1 == "/tenant/{tenant}/jobs")
        .unwrap()
        .3;
    job.as_object_mut().unwrap().remove("campaignId");
    assert!(!validator_for("jpm-v2", job_schema).is_valid(&job));

    let mut failures = Vec::new();
    for (file, path, method, body) in requests() {
        let schema = &docs[file]["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "{file} {method} {path}: no request schema");
        for e in validator_for(file, schema).iter_errors(&body) {
            failures.push(format!("{file} {method} {path}: {e} at {}", e.instance_path()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
