//! The fault matrix (`integration_tests::chaos`): the demo's story under each fault, every invariant checked after.
//! `make test` runs one round of each; `make chaos` runs `CHAOS_ROUNDS` rounds (other kill points, other orders)
//! and prints the matrix.

use integration_tests::chaos::{Fault, run, run_canary};

fn rounds() -> u32 {
    std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

async fn holds(fault: Fault) {
    let mut broken = Vec::new();
    for round in 0..rounds() {
        let outcome = run(fault, round).await;
        println!("chaos {}", outcome.line());
        println!("chaos   {}", outcome.cells_line());
        if !outcome.violations.is_empty() {
            broken.push(format!("round {round}:\n  {}", outcome.violations.join("\n  ")));
        }
    }
    assert!(
        broken.is_empty(),
        "{} broke invariants:\n{}",
        fault.label(),
        broken.join("\n")
    );
}

#[tokio::test]
async fn no_fault_is_the_reference() {
    holds(Fault::None).await;
}

#[tokio::test]
async fn servicetitan_429s() {
    holds(Fault::ServiceTitan429).await;
}

#[tokio::test]
async fn servicetitan_5xx() {
    holds(Fault::ServiceTitan5xx).await;
}

#[tokio::test]
async fn servicetitan_down_for_30_minutes() {
    holds(Fault::ServiceTitanOutage).await;
}

#[tokio::test]
async fn the_sink_down_for_2_hours() {
    holds(Fault::SinkDown).await;
}

#[tokio::test]
async fn dynamodb_refusing_for_5_minutes() {
    holds(Fault::DynamoDbRefusing).await;
}

#[tokio::test]
async fn sqs_refusing_for_5_minutes() {
    holds(Fault::SqsRefusing).await;
}

#[tokio::test]
async fn scheduler_refusing_for_5_minutes() {
    holds(Fault::SchedulerRefusing).await;
}

#[tokio::test]
async fn hosts_killed_mid_invocation() {
    holds(Fault::HostKilled).await;
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries() {
    holds(Fault::DuplicatedAndReordered).await;
}

/// The checks can fail: when the STOP the story counts on never arrives, the call after it is caught.
#[tokio::test]
async fn the_checks_catch_a_message_after_an_opt_out_that_never_arrived() {
    let outcome = run_canary().await;
    println!("chaos canary: {}", outcome.line());
    assert!(
        outcome.violations.iter().any(|v| v.starts_with("Drew sent")),
        "{:#?}",
        outcome.violations
    );
}
