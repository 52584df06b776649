//! Client calls per second against the local sandbox on loopback, and the client's own overhead per call: the same
//! GET made through the client (rate limiter, token cache, retry loop, typed decoding) and as a bare reqwest call
//! with a ready token, interleaved in one run. Run with `cargo bench -p servicetitan` (or `make bench`).
//!
//! The sandbox limits each tenant to 60 requests/s, as ServiceTitan does, so the calls are spread over many
//! tenants to measure the client rather than the limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use servicetitan::client::{ClientOptions, Module};
use servicetitan::models::settings::BusinessUnit;
use servicetitan::rate_limit::RateLimit;
use servicetitan::{Client, Credentials, Hosts, MemoryTokenStore};
use servicetitan_sandbox::{Sandbox, SandboxOptions};

const TENANTS: usize = 120;
const ROUNDS: usize = 15;

#[tokio::main]
async fn main() {
    let sb = Sandbox::start(SandboxOptions {
        port: 0,
        seed_demo: false,
        clock: None,
    })
    .await
    .unwrap();
    let mut options = ClientOptions::new(Hosts {
        auth_url: sb.url(),
        api_url: sb.url(),
    });
    options.rate_limit = RateLimit {
        per_second: 55.0,
        burst: 55.0,
    };
    let mut clients = Vec::new();
    for i in 0..TENANTS {
        let t = sb.create_tenant(&format!("bench-{i}"));
        let credentials = Credentials {
            tenant_id: t.tenant_id,
            client_id: t.client_id,
            client_secret: t.client_secret,
            app_key: t.app_key,
        };
        let client = Client::new(
            options.clone(),
            credentials.clone(),
            Arc::new(MemoryTokenStore::default()),
            shared::clock::system(),
        );
        let token = client.tokens().token().await.unwrap().value;
        clients.push((client, credentials, token));
    }
    let raw = reqwest::Client::new();

    let mut through_client = Vec::new();
    let mut bare = Vec::new();
    let calls_per_round = TENANTS;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for (client, _, _) in &clients {
            let page: servicetitan::Page<BusinessUnit> = client
                .page(Module::Settings, "/business-units", &[], 1, 50)
                .await
                .unwrap();
            assert!(!page.data.is_empty());
        }
        through_client.push(start.elapsed() / calls_per_round as u32);
        let start = Instant::now();
        for (client, credentials, token) in &clients {
            let resp = raw
                .get(client.url(Module::Settings, "/business-units"))
                .query(&[("page", "1"), ("pageSize", "50")])
                .header("Authorization", format!("Bearer {token}"))
                .header("ST-App-Key", &credentials.app_key)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success());
            let _: serde_json::Value = resp.json().await.unwrap();
        }
        bare.push(start.elapsed() / calls_per_round as u32);
        // Let the per-tenant buckets refill so neither side meets a 429.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    through_client.sort();
    bare.sort();
    let (c, b) = (through_client[ROUNDS / 2], bare[ROUNDS / 2]);
    println!(
        "ServiceTitan client against the sandbox on loopback ({ROUNDS} rounds x {calls_per_round} sequential calls, medians):"
    );
    println!(
        "  bare reqwest GET (ready token)   {:>8.1} µs/call   {:>7.0} calls/s",
        b.as_secs_f64() * 1e6,
        1.0 / b.as_secs_f64()
    );
    println!(
        "  through the client               {:>8.1} µs/call   {:>7.0} calls/s",
        c.as_secs_f64() * 1e6,
        1.0 / c.as_secs_f64()
    );
    println!(
        "  client overhead per call         {:>8.1} µs   (ratio {:.2})",
        (c.as_secs_f64() - b.as_secs_f64()) * 1e6,
        c.as_secs_f64() / b.as_secs_f64()
    );
    sb.stop().await;
}
