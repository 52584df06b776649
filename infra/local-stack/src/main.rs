//! `local-stack up` runs the stack in the foreground (the Makefile backgrounds it); `local-stack demo` drives a
//! running stack through the webhook intake story.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use local_stack::{LocalStack, StackOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(about = "Run template.yaml locally on moto, with the functions in-process and one virtual clock")]
struct Cli {
    /// The repository root (holds template.yaml and .local/).
    #[arg(long, default_value = ".", global = true)]
    repo: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start moto, create the template's resources, serve the HTTP API; write .local/endpoints.json when ready.
    Up {
        /// Port of the HTTP API on 127.0.0.1 (0 picks a free one).
        #[arg(long, env = "LOCAL_API_PORT", default_value_t = 3000)]
        port: u16,
        /// Use a moto server that is already running instead of starting one.
        #[arg(long, env = "LOCAL_MOTO_ENDPOINT")]
        moto_endpoint: Option<String>,
    },
    /// Seed a demo tenant and signing key on the running stack, then send signed webhooks and show what happens.
    Demo,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let repo = std::fs::canonicalize(&cli.repo).with_context(|| format!("no repository at {}", cli.repo.display()))?;
    let state = repo.join(".local");
    match cli.command {
        Command::Up { port, moto_endpoint } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn")),
                )
                .init();
            std::fs::create_dir_all(&state)?;
            let endpoints_file = state.join("endpoints.json");
            let _ = std::fs::remove_file(&endpoints_file);
            let mut opts = StackOptions::new(&repo);
            opts.api_port = port;
            opts.moto_endpoint = moto_endpoint;
            opts.moto_log = Some(state.join("moto.log"));
            opts.background = true;
            let stack = LocalStack::start(opts).await?;
            local_stack::write_private(&state.join("lambda.env"), &stack.lambda_env_file())?;
            // Written last and atomically: its presence means "ready".
            // It holds the admin token: readable by this user only.
            let tmp = state.join("endpoints.json.tmp");
            local_stack::write_private(&tmp, &serde_json::to_string_pretty(&stack.endpoints())?)?;
            std::fs::rename(&tmp, &endpoints_file)?;
            println!(
                "local stack ready: {} (AWS at {})\nadmin API: {}/admin, with Authorization: Bearer <admin_token from {}>",
                stack.api_url(),
                stack.aws_endpoint(),
                stack.api_url(),
                endpoints_file.display()
            );
            wait_for_shutdown().await;
            let _ = std::fs::remove_file(&endpoints_file);
            stack.stop().await;
            println!("local stack stopped");
            Ok(())
        }
        Command::Demo => local_stack::demo::run(&state.join("endpoints.json")).await,
    }
}

async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
