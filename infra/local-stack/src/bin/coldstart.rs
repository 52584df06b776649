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
        ("FOLLOWUPS_TABLE", "followups"),
        ("FOLLOWUPS_QUEUE_URL", "http://127.0.0.1:9/123456789012/followups"),
        ("FOLLOWUPS_QUEUE_ARN", "arn:aws:sqs:us-east-1:123456789012:followups"),
        (
            "FOLLOWUPS_DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/followups-dlq",
        ),
        ("EVENTS_QUEUE_ARN", "arn:aws:sqs:us-east-1:123456789012:events"),
        (
            "EVENTS_DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/events-dlq",
        ),
        ("SCHEDULER_ROLE_ARN", "arn:aws:iam::123456789012:role/scheduler"),
        (
            "SCHEDULER_DEAD_LETTER_ARN",
            "arn:aws:sqs:us-east-1:123456789012:scheduler-dlq",
        ),
        (
            "SCHEDULER_DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/scheduler-dlq",
        ),
        ("FOLLOWUP_SINK_SECRET_ID", "sink"),
        ("FOLLOWUP_SINK_URL", "http://127.0.0.1:9/sink"),
        ("LEADS_TABLE", "leads"),
        ("LEADS_QUEUE_URL", "http://127.0.0.1:9/123456789012/leads"),
        (
            "LEADS_DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/leads-dlq",
        ),
        ("SERVICETITAN_APPLICATION_GUID", "00000000-0000-0000-0000-000000000000"),
        ("RECONCILE_TABLE", "reconcile"),
        ("RECONCILE_QUEUE_URL", "http://127.0.0.1:9/123456789012/reconcile"),
        (
            "RECONCILE_DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/reconcile-dlq",
        ),
        ("RUST_LOG", "error"),
    ];
    let start = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let accepted = tokio::select! {
        a = listener.accept() => Some(a?),
        _ = child.wait() => None,
        _ = tokio::time::sleep(Duration::from_secs(10)) => None,
    };
    let Some((mut socket, _)) = accepted else {
        // Say why: usually a variable the function requires that this list lacks.
        let _ = child.start_kill();
        let out = child.wait_with_output().await?;
        anyhow::bail!(
            "{binary} never called the Runtime API; it said: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    };
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
