//! The reconciler on the local stack (moto and the ServiceTitan sandbox; loopback), measured in one run:
//!
//! 1. backfill: the demo tenant's whole history (lookback 70 days) with every recipe that needs a feed, read and
//!    queued by one reconcile: records per second for one tenant, and ServiceTitan calls per page;
//! 2. idle: the same tenant reconciled again with nothing changed: ServiceTitan calls per reconcile (the steady
//!    cost of every tenant, every interval; lower is better), and milliseconds each;
//! 3. from a sale in ServiceTitan to the halted run: with webhooks on (wall-clock milliseconds, the webhook's way),
//!    and with webhooks off (virtual seconds until the next reconcile sees it; at most one interval).
//!
//! Run with `cargo bench -p integration-tests --bench reconcile_paths` (or `make bench`).

use std::time::Instant;

use integration_tests::TENANT;
use integration_tests::followups::FollowUps;
use jiff::SignedDuration;
use reconcile::messages::{Reason, ReconcileRequest};
use serde_json::json;

async fn reconcile(f: &FollowUps, reconciler: &reconciler::Reconciler) -> reconciler::Summary {
    let request = ReconcileRequest {
        tenant_id: TENANT.into(),
        requested_at: f.now(),
        reason: Reason::Rerun,
    };
    match reconciler.reconcile(&request, "bench").await.unwrap() {
        reconciler::Outcome::Reconciled(s) => s,
        other => panic!("{other:?}"),
    }
}

async fn run_status(f: &FollowUps, estimate: i64) -> String {
    let runs = f.runs(&format!("estimate:{estimate}")).await;
    runs["runs"][0]["status"].as_str().unwrap_or("none").to_owned()
}

#[tokio::main]
async fn main() {
    let recipes = [
        "estimate_follow_up",
        "invoice_dunning",
        "appointment_reminder",
        "job_complete_review",
    ];
    let f = FollowUps::start_with(&recipes, json!({}), |o| {
        o.function_env.insert("RECONCILE_LOOKBACK_DAYS".into(), "70".into());
        o.function_env.insert("METRICS_ENABLED".into(), "false".into());
    })
    .await;
    f.webhooks_off();
    let reconciler = f.reconciler();

    eprintln!("reading the demo tenant's history...");
    let calls = f.servicetitan_requests().await;
    let started = Instant::now();
    let backfill = reconcile(&f, &reconciler).await;
    let backfill_seconds = started.elapsed().as_secs_f64();
    let backfill_calls = f.servicetitan_requests().await - calls;
    let pages: u32 = backfill.feeds.iter().map(|o| o.pages).sum();
    f.webhooks().await;

    eprintln!("reconciling it again, idle...");
    const IDLE: usize = 20;
    let calls = f.servicetitan_requests().await;
    let started = Instant::now();
    for _ in 0..IDLE {
        reconcile(&f, &reconciler).await;
    }
    let idle_ms = started.elapsed().as_secs_f64() * 1e3 / IDLE as f64;
    let idle_calls = (f.servicetitan_requests().await - calls) as f64 / IDLE as f64;

    eprintln!("selling estimates, with webhooks on and off...");
    f.at_local_hour(10, "America/Chicago").await;
    let h = f.household("Bench Seller", "512-555-0197", "TX", "78704", None).await;
    let job = f.job(&h, f.now() + SignedDuration::from_hours(24 * 30)).await;
    const SALES: usize = 5;
    let sandbox = f.t.stack.sandbox().unwrap();
    let mut on_ms = Vec::new();
    let mut off_seconds = Vec::new();
    for webhooks in [true, false] {
        for i in 0..SALES {
            if webhooks {
                f.webhooks_on();
            } else {
                sandbox.disable_webhooks();
            }
            let estimate = f.estimate(&job, &format!("Option {i}")).await;
            f.control(&format!("estimates/{}/send", estimate.id), json!({})).await;
            f.advance(SignedDuration::from_mins(6)).await;
            assert_eq!(run_status(&f, estimate.id).await, "active");
            // Sell at a different point of the interval each time.
            f.advance(SignedDuration::from_secs(53 * (i as i64 + 1))).await;
            let sold_at = f.now();
            let wall = Instant::now();
            f.control(&format!("estimates/{}/sell", estimate.id), json!({})).await;
            while run_status(&f, estimate.id).await != "halted" {
                f.advance(SignedDuration::from_secs(10)).await;
            }
            if webhooks {
                on_ms.push(wall.elapsed().as_secs_f64() * 1e3);
            } else {
                off_seconds.push(f.now().duration_since(sold_at).as_secs_f64());
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);

    println!("reconciler on the local stack (loopback moto and sandbox; one process, 2 cores):");
    println!(
        "  backfill      {:>5} records in {:>6.2} s   {:>7.1} records/s for one tenant   {} pages, {:.2} ServiceTitan calls per page",
        backfill.records(),
        backfill_seconds,
        backfill.records() as f64 / backfill_seconds,
        pages,
        backfill_calls as f64 / f64::from(pages.max(1))
    );
    println!(
        "  idle tenant   {idle_calls:>5.2} ServiceTitan calls per reconcile ({} feeds)   {idle_ms:>7.1} ms each",
        backfill.feeds.len()
    );
    println!(
        "  sale → halted with webhooks on   {:>8.1} ms mean, {:>8.1} ms max (wall clock, {SALES} sales)",
        mean(&on_ms),
        max(&on_ms)
    );
    println!(
        "  sale → halted with webhooks off  {:>8.1} s mean,  {:>8.1} s max (virtual time, 5-minute interval, {SALES} sales)",
        mean(&off_seconds),
        max(&off_seconds)
    );
    f.stop().await;
}
