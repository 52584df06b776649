//! `servicetitan-sandbox --port N [--seed demo]`: serves the sandbox until Ctrl-C / SIGTERM.

use clap::Parser;
use servicetitan_sandbox::{Sandbox, SandboxOptions};

#[derive(Parser, Debug)]
#[command(
    name = "servicetitan-sandbox",
    about = "Local in-memory ServiceTitan V2 API sandbox (auth + API hosts)."
)]
struct Args {
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, env = "SERVICETITAN_SANDBOX_PORT", default_value_t = 8089)]
    port: u16,
    /// Seed data set; only `demo` (tenant 1001) exists.
    #[arg(long, value_parser = ["demo"])]
    seed: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let sandbox = Sandbox::start(SandboxOptions {
        port: args.port,
        seed_demo: args.seed.is_some(),
        clock: None,
    })
    .await?;
    println!("{}", sandbox.url());
    if let Some(creds) = sandbox.demo_tenant() {
        println!("{}", serde_json::to_string(&creds)?);
    }
    shutdown_signal().await;
    sandbox.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
