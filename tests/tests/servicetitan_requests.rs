//! Every request body the client sends validates against ServiceTitan's official request schema. (Responses are
//! covered by the sandbox's schema test plus the client parsing the sandbox's responses in `servicetitan_client.rs`.)

use openapi_check::Specs;
use serde_json::Value;
use servicetitan::models::crm::{
    Address, BookingAddress, ContactType, CreateBooking, CreateCustomer, CreateLead, CreateLocation, CreateNote,
    CustomerType, NewContact, NewLocation, Priority,
};
use servicetitan::models::jpm::{AddAppointment, CancelJob, CreateJob, NewAppointment, RescheduleAppointment};
use servicetitan::models::sales::{CreateEstimate, SellEstimate};
use servicetitan::models::{ExternalDataCreate, ExternalDataItem};

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
            "/tenant/{tenant}/leads",
            "post",
            to_json(&CreateLead {
                campaign_id: 5,
                summary: "AI call: AC blowing warm air.".into(),
                customer_id: Some(1),
                location_id: Some(2),
                business_unit_id: Some(3),
                job_type_id: Some(4),
                priority: Some(Priority::High),
                call_reason_id: Some(8),
                follow_up_date: Some(start),
                booking_id: Some(9),
                tag_type_ids: vec![10],
                lead_customer_name: Some("Dana Whitfield".into()),
                lead_phone: Some("6025550148".into()),
                lead_email: Some("dana@example.com".into()),
                lead_street: Some("4120 N 7th St".into()),
                lead_unit: Some("Apt 2".into()),
                lead_city: Some("Phoenix".into()),
                lead_state: Some("AZ".into()),
                lead_zip: Some("85004".into()),
                lead_country: Some("USA".into()),
            }),
        ),
        (
            "crm-v2",
            "/tenant/{tenant}/leads",
            "post",
            to_json(&CreateLead {
                campaign_id: 5,
                summary: "Missed call.".into(),
                follow_up_date: Some(start),
                ..CreateLead::default()
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
                items: Vec::new(),
            }),
        ),
        (
            "salestech-v2",
            "/tenant/{tenant}/estimates/{id}/sell",
            "put",
            to_json(&SellEstimate { sold_by: 7 }),
        ),
        (
            "jpm-v2",
            "/tenant/{tenant}/appointments/{id}/reschedule",
            "patch",
            to_json(&RescheduleAppointment {
                start,
                end: start + jiff::SignedDuration::from_hours(2),
                arrival_window_start: Some(start),
                arrival_window_end: None,
            }),
        ),
        (
            "jpm-v2",
            "/tenant/{tenant}/appointments",
            "post",
            to_json(&AddAppointment {
                job_id: 1,
                start,
                end: start + jiff::SignedDuration::from_hours(2),
                arrival_window_start: None,
                arrival_window_end: None,
                technician_ids: vec![6],
            }),
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
    let Some(specs) = Specs::load(&["crm-v2", "jpm-v2", "salestech-v2"]) else {
        return;
    };

    // The check bites: a job without campaignId is invalid.
    let job_schema = specs.request_schema("jpm-v2", "/tenant/{tenant}/jobs", "post");
    let mut job = requests()
        .into_iter()
        .find(|r| r.1 == "/tenant/{tenant}/jobs")
        .unwrap()
        .3;
    job.as_object_mut().unwrap().remove("campaignId");
    assert!(!specs.validate("jpm-v2", job_schema, &job, "self-check").is_empty());

    let mut failures = Vec::new();
    for (file, path, method, body) in requests() {
        let schema = specs.request_schema(file, path, method);
        assert!(!schema.is_null(), "{file} {method} {path}: no request schema");
        failures.extend(specs.validate(file, schema, &body, &format!("{file} {method} {path}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
