//! Every shipped recipe end to end on the local stack, on virtual time: ServiceTitan's events (the sandbox's
//! webhooks, or derived watches) start and stop runs; the runner checks live state before each step and delivers
//! to the local sink.

use integration_tests::followups::FollowUps;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use servicetitan::models::jpm::{AddAppointment, RescheduleAppointment};

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn sent_at(d: &serde_json::Value) -> Timestamp {
    d["_timestamp"].as_str().unwrap().parse().unwrap()
}

fn assert_near(at: Timestamp, expected: Timestamp) {
    let off = at.duration_since(expected).abs();
    assert!(off <= SignedDuration::from_secs(61), "{at} is not {expected}");
}

#[tokio::test]
async fn estimate_viewed_gets_an_sms_fifteen_minutes_after_the_view() {
    let f = FollowUps::start(&["estimate_viewed"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Ana Lopez", "5125550201", "TX", "78704", None).await;
    let e = f
        .estimate(&f.job(&h, start + hours(24 * 10)).await, "Panel upgrade")
        .await;
    f.control(&format!("estimates/{}/send", e.id), json!({})).await;
    assert!(
        f.runs(&format!("estimate:{}", e.id)).await["runs"]
            .as_array()
            .unwrap()
            .is_empty(),
        "sent alone starts nothing"
    );
    f.control(&format!("estimates/{}/view", e.id), json!({})).await;
    f.advance(mins(16)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0]["data"]["recipe"].as_str(), d[0]["data"]["step"].as_str()),
        (Some("estimate_viewed"), Some("sms_after_view"))
    );
    assert_near(sent_at(&d[0]), start + mins(15));
    // Viewed again: once per estimate.
    f.control(&format!("estimates/{}/view", e.id), json!({})).await;
    f.advance(hours(1)).await;
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn an_invoice_overdue_a_week_is_dunned_by_sms_and_email_until_a_payment_stops_it() {
    let f = FollowUps::start(&["invoice_dunning"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f
        .household(
            "Robert King",
            "5125550202",
            "TX",
            "78745",
            Some("robert.king@example.com"),
        )
        .await;
    let job = f.job(&h, start + hours(2)).await;
    f.advance(hours(4)).await;
    let done = f
        .control(&format!("jobs/{}/complete", job.id), json!({"total": "480.00"}))
        .await;
    let invoice_id = done["invoiceId"].as_i64().unwrap();
    let entity = format!("invoice:{invoice_id}");
    assert!(
        f.runs(&entity).await["runs"].as_array().unwrap().is_empty(),
        "not overdue yet: only watched"
    );

    // Net 15, then 7 days overdue: the watch fires and dunning starts with an SMS, an email a day later.
    f.advance(hours(24 * 23)).await;
    let round1: Vec<_> = f.delivered(None);
    assert_eq!(round1.len(), 2, "{round1:#?}");
    assert_eq!(round1[0]["data"]["channel"], "sms");
    assert_eq!(round1[1]["data"]["channel"], "email");
    assert_eq!(round1[1]["data"]["recipient"]["email"], "robert.king@example.com");
    assert_eq!(round1[0]["data"]["entity"]["balance"], "480.00");
    assert!(
        round1[0]["data"]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("$480.00 outstanding")
    );
    assert_eq!(
        (
            round1[0]["data"]["attempt"].as_u64(),
            round1[1]["data"]["attempt"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_near(sent_at(&round1[1]), sent_at(&round1[0]) + hours(24));

    // A week on: round two.
    f.advance(hours(24 * 7)).await;
    let all = f.delivered(None);
    assert_eq!(all.len(), 4);
    assert_eq!(all[2]["data"]["attempt"], 2);
    // The customer pays in full; the rest of round two and round three never go.
    f.control("payments", json!({"invoiceId": invoice_id, "amount": "480.00"}))
        .await;
    let run = f.run(&entity, "invoice_dunning").await;
    assert_eq!(
        (run["status"].as_str(), run["reason"].as_str()),
        (Some("halted"), Some("invoice.paid"))
    );
    assert_eq!(run["goal"], json!({"label": "paid", "amountCents": 48000}));
    f.advance(hours(24 * 20)).await;
    assert_eq!(f.delivered(None).len(), 4);
    f.stop().await;
}

#[tokio::test]
async fn reminders_go_the_evening_before_move_with_the_appointment_and_stop_when_canceled() {
    let f = FollowUps::start(&["appointment_reminder"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Karen Hill", "5125550203", "TX", "78748", None).await;
    // A visit at 09:00 local in three days: the reminder is due at 18:00 the evening before.
    let visit = start + hours(24 * 3 - 1);
    let job = f.job(&h, visit).await;
    f.webhooks().await;
    let appointment = f.client.job_appointments(job.id).await.unwrap()[0].id;
    let entity = format!("appointment:{appointment}");
    let run = f.run(&entity, "appointment_reminder").await;
    assert_eq!(
        run["nextStep"]["dueAt"],
        shared::clock::iso_millis(start + hours(24 * 2 + 8))
    );

    // Moved two days later: re-planned.
    let moved = visit + hours(48);
    f.client
        .reschedule_appointment(
            appointment,
            &RescheduleAppointment {
                start: moved,
                end: moved + hours(2),
                arrival_window_start: Some(moved),
                arrival_window_end: Some(moved + hours(2)),
            },
        )
        .await
        .unwrap();
    f.webhooks().await;
    let runs = f.runs(&entity).await;
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[0]["reason"], "rescheduled");
    assert_eq!(
        runs[1]["nextStep"]["dueAt"],
        shared::clock::iso_millis(start + hours(24 * 4 + 8))
    );
    f.advance(hours(24 * 3)).await;
    assert!(
        f.delivered(None).is_empty(),
        "the old evening passed without a reminder"
    );
    f.advance(hours(24 * 2)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    assert_near(sent_at(&d[0]), start + hours(24 * 4 + 8));
    assert!(
        d[0]["data"]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("arrival between 9:00 AM and 11:00 AM")
    );

    // Another visit, canceled: no reminder.
    let job2 = f.job(&h, start + hours(24 * 10 - 1)).await;
    f.webhooks().await;
    f.client
        .cancel_job(
            job2.id,
            &servicetitan::models::jpm::CancelJob {
                reason_id: 1,
                memo: "changed mind".into(),
            },
        )
        .await
        .unwrap();
    f.webhooks().await;
    let a2 = f.client.job_appointments(job2.id).await.unwrap()[0].id;
    let run = f.run(&format!("appointment:{a2}"), "appointment_reminder").await;
    assert_eq!(run["status"], "halted");
    f.advance(hours(24 * 6)).await;
    assert_eq!(f.delivered(None).len(), 1);
    f.stop().await;
}

#[tokio::test]
async fn a_review_request_waits_for_the_invoice_to_be_paid() {
    let f = FollowUps::start(&["job_complete_review"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Wei Nguyen", "5125550204", "TX", "78750", None).await;
    let job = f.job(&h, start).await;
    f.advance(hours(1)).await;
    let done = f
        .control(&format!("jobs/{}/complete", job.id), json!({"total": "129.00"}))
        .await;
    // Two hours later the invoice is unpaid: held, checked again daily.
    f.advance(hours(3)).await;
    assert!(f.delivered(None).is_empty());
    let run = f.run(&format!("job:{}", job.id), "job_complete_review").await;
    assert_eq!(run["status"], "active");
    f.control("payments", json!({"invoiceId": done["invoiceId"], "amount": "129.00"}))
        .await;
    f.advance(hours(24)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0]["data"]["intent"].as_str(), d[0]["data"]["messageClass"].as_str()),
        (Some("review_request"), Some("marketing"))
    );
    assert_near(sent_at(&d[0]), start + hours(1 + 2 + 24));
    let timeline = f.runs(&format!("job:{}", job.id)).await["timeline"].clone();
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["entry"] == "deferred" && e["detail"]["reason"] == "held")
    );
    f.stop().await;
}

#[tokio::test]
async fn a_no_show_is_offered_a_new_time_and_a_rebooking_stops_the_call() {
    let f = FollowUps::start(&["no_show_recovery"], json!({})).await;
    let start = f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Jose Rivera", "5125550205", "TX", "78757", None).await;
    let job = f.job(&h, start + hours(1)).await;
    let appointment = f.client.job_appointments(job.id).await.unwrap()[0].id;
    f.advance(hours(2)).await;
    f.control(&format!("appointments/{appointment}/no-show"), json!({}))
        .await;
    f.advance(mins(16)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1);
    assert!(
        d[0]["data"]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("https://book.example.com/lone-star")
    );
    assert_eq!(
        d[0]["data"]["entity"]["links"]["booking"],
        "https://book.example.com/lone-star"
    );
    // The customer books again; the 4-hour call checks the job's visits and is not made.
    let again = start + hours(48);
    f.client
        .add_appointment(&AddAppointment {
            job_id: job.id,
            start: again,
            end: again + hours(2),
            arrival_window_start: None,
            arrival_window_end: None,
            technician_ids: vec![],
        })
        .await
        .unwrap();
    f.webhooks().await;
    f.advance(hours(5)).await;
    assert_eq!(f.delivered(None).len(), 1);
    let run = f.run(&format!("appointment:{appointment}"), "no_show_recovery").await;
    assert_eq!(
        (run["reason"].as_str(), run["goal"]["label"].as_str()),
        (Some("appointment.rebooked"), Some("booked"))
    );
    f.stop().await;
}

#[tokio::test]
async fn a_passed_arrival_window_gets_a_call_unless_the_job_was_done() {
    let f = FollowUps::start(&["job_overdue"], json!({})).await;
    let start = f.at_local_hour(9, "America/Chicago").await;
    let late = f.household("Late Visit", "5125550206", "TX", "78704", None).await;
    let on_time = f.household("On Time", "5125550207", "TX", "78704", None).await;
    let late_job = f.job(&late, start + hours(1)).await;
    let done_job = f.job(&on_time, start + hours(1)).await;
    f.webhooks().await;
    f.advance(hours(2)).await;
    f.control(&format!("jobs/{}/complete", done_job.id), json!({})).await;
    // The windows end at 12:00 local; 30 minutes later the late one is called.
    f.advance(hours(2)).await;
    let d = f.delivered(None);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        (d[0]["data"]["channel"].as_str(), d[0]["data"]["intent"].as_str()),
        (Some("voice"), Some("running_late"))
    );
    assert_eq!(d[0]["data"]["recipient"]["phone"], late.phone);
    assert_near(sent_at(&d[0]), start + hours(3) + mins(30));
    let _ = late_job;
    f.stop().await;
}

#[tokio::test]
async fn a_missed_call_is_texted_the_booking_link_at_once() {
    let f = FollowUps::start(&["missed_call_text_back"], json!({})).await;
    let start = f.at_local_hour(11, "America/Chicago").await;
    let reply = f
        .webhook(
            "call.missed",
            json!({"eventId": "call-missed-1", "tenantId": "1001", "occurredAt": start.to_string(),
                   "data": {"id": 880011, "from": "(737) 555-0199", "to": "5125550100", "direction": "Inbound"}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let d = f.delivered(None);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["data"]["recipient"]["phone"], "+17375550199");
    assert_eq!(
        d[0]["data"]["entity"],
        json!({"kind": "call", "id": "880011", "number": null, "amount": null, "balance": null, "dueDate": null, "start": null, "links": {"booking": "https://book.example.com/lone-star"}})
    );
    assert!(
        d[0]["data"]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("Book a visit here: https://book.example.com/lone-star")
    );
    f.stop().await;
}
