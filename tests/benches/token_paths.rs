//! Where a function's ServiceTitan token comes from, and what each source costs, measured side by side in one run
//! against the local stack (moto's DynamoDB, the sandbox's token endpoint) on loopback:
//!
//! 1. a warm Lambda: the `TokenProvider`'s in-memory copy;
//! 2. a cold Lambda: a new provider reading the shared token from DynamoDB;
//! 3. a token request to the (sandbox's) token endpoint, what every call would cost without the shared store.
//!
//! Then the connect route end to end (two ServiceTitan calls, a secret write, a registry write). Run with
//! `cargo bench -p integration-tests --bench token_paths` (or `make bench`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::TestStack;
use servicetitan::auth::{request_token, token_url};
use servicetitan::{Credentials, DynamoDbTokenStore, TokenProvider};

const ROUNDS: usize = 40;
const WARM_PER_ROUND: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let t = TestStack::start().await;
    let sandbox = t.stack.sandbox().unwrap();
    let tenant = sandbox.demo_tenant().unwrap();
    let url = sandbox.url();
    let creds = Arc::new(Credentials {
        tenant_id: tenant.tenant_id,
        client_id: tenant.client_id.clone(),
        client_secret: tenant.client_secret.clone(),
        app_key: tenant.app_key.clone(),
    });
    let http = reqwest::Client::new();
    let store = Arc::new(DynamoDbTokenStore::new(
        t.stack.aws().dynamodb.clone(),
        t.resource("TokensTable"),
    ));
    let provider = |http: &reqwest::Client| {
        TokenProvider::new(
            http.clone(),
            &url,
            creds.clone(),
            store.clone(),
            shared::clock::system(),
        )
    };
    let warm = provider(&http);
    warm.token().await.unwrap();

    let (mut memory, mut dynamodb, mut endpoint) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..WARM_PER_ROUND {
            std::hint::black_box(warm.token().await.unwrap());
        }
        memory.push(start.elapsed() / WARM_PER_ROUND as u32);

        let cold = provider(&http);
        let start = Instant::now();
        std::hint::black_box(cold.token().await.unwrap());
        dynamodb.push(start.elapsed());

        let start = Instant::now();
        std::hint::black_box(
            request_token(&http, &token_url(&url), &creds, jiff::Timestamp::now())
                .await
                .unwrap(),
        );
        endpoint.push(start.elapsed());
    }
    let (m, d, e) = (median(memory), median(dynamodb), median(endpoint));
    println!("token sources, median of {ROUNDS} interleaved rounds:");
    println!("  in-memory (warm Lambda)       {:>10.2} µs", m.as_secs_f64() * 1e6);
    println!(
        "  DynamoDB (cold Lambda)        {:>10.2} µs   {:>8.0}× in-memory",
        d.as_secs_f64() * 1e6,
        d.as_secs_f64() / m.as_secs_f64()
    );
    println!(
        "  token endpoint (no store)     {:>10.2} µs   {:>8.0}× in-memory, {:.2}× DynamoDB",
        e.as_secs_f64() * 1e6,
        e.as_secs_f64() / m.as_secs_f64(),
        e.as_secs_f64() / d.as_secs_f64()
    );

    let mut connects = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let r = t.connect(&tenant, "integration").await;
        connects.push(start.elapsed());
        assert_eq!(r.status, 200, "{}", r.body);
    }
    println!(
        "connect (PUT /admin/tenants/{{id}}/servicetitan, local stack): median {:.1} ms over 10",
        median(connects).as_secs_f64() * 1e3
    );
    println!("(loopback sandbox and moto: real ServiceTitan and AWS add network time to the last two sources)");
    t.stop().await;
}
