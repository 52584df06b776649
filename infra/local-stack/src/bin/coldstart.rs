//! Cold start: the time from spawning a function binary to its first Runtime API `next` request, against a local
//! stub of the Runtime API. Usage: `coldstart [--runs N] BINARY...` (built with `cargo build --release`).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 30;
    if args.first().map(String::as_str) == Some("--runs") {
        runs = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(runs);
        args.drain(..2);
    }
    anyhow::ensure!(!args.is_empty(), "usage: coldstart [--runs N] BINARY...");
    println!("cold start to the first Runtime API `next` request ({runs} runs each, loopback stub):");
    for binary in &args {
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(measure(binary).await?);
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {:<40} median {:>6.2} ms   min {:>6.2} ms   max {:>6.2} ms",
            binary.rsplit('/').next().unwrap_or(binary),
            ms(samples[samples.len() / 2]),
            ms(samples[0]),
            ms(samples[samples.len() - 1])
        );
    }
    Ok(())
}

async fn measure(binary: &str) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    // The configuration a deployed function has; nothing here is contacted before the first invocation.
    let env = [
        ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "coldstart"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "coldstart"),
        ("AWS_SECRET_ACCESS_KEY", "coldstart"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("TENANTS_TABLE", "tenants"),
        ("EVENTS_TABLE", "events"),
        ("EVENTS_QUEUE_URL", "http://127.0.0.1:9/123456789012/events"),
        ("WEBHOOK_KEYS_SECRET_ID", "keys"),
        ("TOKENS_TABLE", "tokens"),
        ("TENANT_SECRET_PREFIX", "coldstart/tenants/"),
        ("FOLLOWUP_SCHEDULE_GROUP", "followups"),
        ("RUST_LOG", "error"),
    ];
    let start = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .map_err(|_| anyhow::anyhow!("{binary} never called the Runtime API (missing configuration?)"))??;
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    let elapsed = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await??;
        anyhow::ensure!(n > 0, "{binary} closed the connection before asking for an invocation");
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains("/runtime/invocation/next") {
            break start.elapsed();
        }
    };
    let _ = socket.shutdown().await;
    let _ = child.kill().await;
    Ok(elapsed)
}
