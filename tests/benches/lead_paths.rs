//! Leads into ServiceTitan on the local stack (moto and the ServiceTitan sandbox; loopback), measured side by side in
//! one run, one path after another:
//!
//! 1. new customer: chats from households ServiceTitan does not know, each through `POST /leads`, the leads queue
//!    and the lead creator (phone and address searches, customer with location and contacts, job with its
//!    arrival window, the conversation note);
//! 2. matched customer: chats from households already in ServiceTitan (same phone, surname and address), each
//!    becoming a job on the existing location;
//! 3. booking: the tenant switched to booking mode, each chat a ServiceTitan Booking for the CSRs;
//! 4. new customer again on a second stack without the tenant's shared request budget (each process's own limiter
//!    only): what the budget's DynamoDB round trips cost per lead.
//!
//! For each: leads per second, milliseconds each, and ServiceTitan API calls each (the sandbox's request count).
//! The budget is at most 5 calls for a new customer with its job and note. Run with
//! `cargo bench -p integration-tests --bench lead_paths` (or `make bench`).

use std::time::Instant;

use integration_tests::followups::FollowUps;
use integration_tests::leads::{address, lead};
use serde_json::{Value, json};

const LEADS: usize = 40;

struct Path {
    name: &'static str,
    seconds: f64,
    calls: u64,
}

/// Posts the leads, drains the stack until the creator is done, and checks each came out as `outcome`.
async fn measure(f: &FollowUps, name: &'static str, leads: Vec<Value>, outcome: &str) -> Path {
    let calls = f.servicetitan_requests().await;
    let started = Instant::now();
    for body in &leads {
        let reply = f.post_lead_only(body.clone()).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    f.webhooks().await;
    let seconds = started.elapsed().as_secs_f64();
    let calls = f.servicetitan_requests().await - calls;
    for body in &leads {
        let created = f.created(body["leadId"].as_str().unwrap()).await;
        assert_eq!(created["outcome"], outcome, "{created:#}");
    }
    Path { name, seconds, calls }
}

fn chat(id: String, i: usize, street: String) -> Value {
    lead(
        &id,
        &format!("Pat Bench{i}"),
        &format!("737-555-{:04}", 3000 + i),
        json!({"address": address(&street, None, "78758")}),
    )
}

#[tokio::main]
async fn main() {
    let f = FollowUps::start_with(&[], json!({}), |o| {
        o.function_env.insert("METRICS_ENABLED".into(), "false".into());
    })
    .await;
    f.at_local_hour(10, "America/Chicago").await;

    eprintln!("{LEADS} chats from new households...");
    let new = (0..LEADS)
        .map(|i| chat(format!("bench-new-{i}"), i, format!("{} Bench Loop", 100 + i)))
        .collect();
    let new = measure(&f, "new customer", new, "new_customer").await;

    eprintln!("setting up {LEADS} households in ServiceTitan...");
    let mut matched = Vec::new();
    for i in LEADS..2 * LEADS {
        let street = format!("{} Bench Loop", 100 + i);
        f.household_at(
            &format!("Pat Bench{i}"),
            &format!("737-555-{:04}", 3000 + i),
            &street,
            None,
            "78758",
        )
        .await;
        // Written the way people type it: the abbreviation, the phone with a country code.
        let mut body = chat(format!("bench-matched-{i}"), i, street.replace("Loop", "Lp"));
        body["phone"] = json!(format!("+1 (737) 555-{:04}", 3000 + i));
        matched.push(body);
    }
    eprintln!("{LEADS} chats from them...");
    let matched = measure(&f, "matched", matched, "matched_customer").await;

    eprintln!("{LEADS} chats in booking mode...");
    f.set_settings(&[], json!({"leads": {"mode": "booking", "bookingProviderId": 77}}))
        .await;
    let booking = (2 * LEADS..3 * LEADS)
        .map(|i| chat(format!("bench-booking-{i}"), i, format!("{} Bench Loop", 100 + i)))
        .collect();
    let booking = measure(&f, "booking", booking, "booking").await;

    f.stop().await;

    eprintln!("{LEADS} chats from new households, without the shared budget...");
    let f = FollowUps::start_with(&[], json!({}), |o| {
        o.function_env.insert("METRICS_ENABLED".into(), "false".into());
        o.function_env
            .insert("SERVICETITAN_BUDGET_PER_SECOND".into(), "0".into());
    })
    .await;
    f.at_local_hour(10, "America/Chicago").await;
    let unbudgeted = (0..LEADS)
        .map(|i| chat(format!("bench-free-{i}"), i, format!("{} Bench Loop", 100 + i)))
        .collect();
    let unbudgeted = measure(&f, "no budget", unbudgeted, "new_customer").await;
    f.stop().await;

    println!("leads on the local stack (loopback moto and sandbox; one process, 2 cores; {LEADS} leads per path):");
    let yardstick = new.seconds;
    for p in [&new, &matched, &booking, &unbudgeted] {
        println!(
            "  {:<13} {:>6.1} leads/s   {:>7.2} ms each   {:>5.2} ServiceTitan calls each   {:>5.2}× a new customer's time",
            p.name,
            LEADS as f64 / p.seconds,
            p.seconds * 1e3 / LEADS as f64,
            p.calls as f64 / LEADS as f64,
            p.seconds / yardstick
        );
    }
    println!(
        "  (a lead's time is from POST /leads to its records in ServiceTitan, behind the tenant's shared budget; \
         \"no budget\" is the new-customer path with each process's own limiter only; real AWS adds network time \
         to each DynamoDB and SQS call)"
    );
}
