//! The follow-up engine on the local stack (moto, the ServiceTitan sandbox, the local sink; loopback), measured
//! side by side in one run:
//!
//! 1. events: N estimates sent in ServiceTitan, each webhook through intake, the events queue and the event
//!    processor (live read, snapshot merge, decision, enrolment, one-shot schedule);
//! 2. follow-ups: virtual time moved 25 hours, each first step through the Scheduler stand-in, the follow-ups
//!    queue and the runner (claim, live check before send, opt-out ledger, cap, signed delivery to the sink);
//! 3. stops: the estimates sold, each `estimate.sold` halting its run and cancelling its next schedule.
//!
//! For each: events or follow-ups per second, milliseconds each, and ServiceTitan API calls each (the sandbox's
//! request count), the figure that matters against ServiceTitan's rate limits. Expected calls: an enrolling
//! event reads the estimate, the customer and the location (time zone); a send reads the estimate and the
//! customer's contacts; a stop reads the estimate. Run with
//! `cargo bench -p integration-tests --bench followup_paths` (or `make bench`).

use std::time::Instant;

use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use serde_json::json;

const ESTIMATES: usize = 40;

struct Phase {
    name: &'static str,
    count: usize,
    seconds: f64,
    calls: u64,
}

impl Phase {
    fn print(&self, unit: &str, yardstick: Option<&Phase>) {
        let each = self.seconds * 1e3 / self.count as f64;
        let ratio = yardstick.map_or(String::new(), |y| {
            format!("   {:>5.2}× an event", each / (y.seconds * 1e3 / y.count as f64))
        });
        println!(
            "  {:<10} {:>4} {unit:<10} {:>7.1}/s   {:>7.2} ms each   {:>5.2} ServiceTitan calls each{ratio}",
            self.name,
            self.count,
            self.count as f64 / self.seconds,
            each,
            self.calls as f64 / self.count as f64,
        );
    }
}

/// What the phases count: webhooks the sandbox delivered, its API requests, follow-ups the sink accepted.
#[derive(Clone, Copy)]
struct Counters {
    events: usize,
    calls: u64,
    sent: usize,
    at: Instant,
}

async fn counters(f: &FollowUps) -> Counters {
    Counters {
        events: f.t.stack.sandbox().unwrap().deliveries().len(),
        calls: f.servicetitan_requests().await,
        sent: f.delivered(None).len(),
        at: Instant::now(),
    }
}

/// The phase since `before`, counting events (webhooks) or, for `follow-ups`, deliveries to the sink.
async fn phase(f: &FollowUps, name: &'static str, before: Counters) -> Phase {
    let seconds = before.at.elapsed().as_secs_f64();
    let after = counters(f).await;
    Phase {
        name,
        count: if name == "follow-ups" {
            after.sent - before.sent
        } else {
            after.events - before.events
        },
        seconds,
        calls: after.calls - before.calls,
    }
}

#[tokio::main]
async fn main() {
    // Token-refresh's metric lines would interleave with the figures.
    let f = FollowUps::start_with(&["estimate_follow_up"], json!({}), |o| {
        o.function_env.insert("METRICS_ENABLED".into(), "false".into());
    })
    .await;
    f.at_local_hour(10, "America/Chicago").await;
    let start = f.now();
    eprintln!("setting up {ESTIMATES} households with an estimate each...");
    let mut estimates = Vec::new();
    for i in 0..ESTIMATES {
        let h = f
            .household(
                &format!("Bench {i}"),
                &format!("512555{:04}", 2000 + i),
                "TX",
                "78704",
                None,
            )
            .await;
        let job = f.job(&h, start + SignedDuration::from_hours(24 * 30)).await;
        estimates.push(f.estimate(&job, "Options").await);
    }
    f.webhooks().await;

    eprintln!("sending {ESTIMATES} estimates...");
    let before = counters(&f).await;
    for e in &estimates {
        f.control_only(&format!("estimates/{}/send", e.id), json!({})).await;
    }
    f.webhooks().await;
    let events = phase(&f, "events", before).await;

    eprintln!("moving 25 hours on...");
    let before = counters(&f).await;
    f.advance(SignedDuration::from_hours(25)).await;
    let sends = phase(&f, "follow-ups", before).await;
    assert_eq!(sends.count, ESTIMATES, "one first follow-up per estimate");

    eprintln!("selling every estimate...");
    let before = counters(&f).await;
    for e in &estimates {
        f.control_only(&format!("estimates/{}/sell", e.id), json!({})).await;
    }
    f.webhooks().await;
    let stops = phase(&f, "stops", before).await;

    println!("follow-up engine on the local stack (loopback moto, sandbox and sink; one process, 2 cores):");
    events.print("events", None);
    sends.print("sent", Some(&events));
    stops.print("events", Some(&events));
    println!(
        "  (an event's time includes the sandbox's webhook delivery and the intake; real AWS adds network time to \
         each DynamoDB, SQS and Scheduler call)"
    );
    f.stop().await;
}
