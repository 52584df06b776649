//! Lambda bootstrap for token-refresh (invoked by an EventBridge Scheduler rate schedule).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::config::ProcessEnv;
use token_refresh::{RefreshConfig, Refresher, RunSummary};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = RefreshConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let refresher = Refresher::new(
        config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
        shared::clock::system(),
    );
    let refresher = &refresher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = shared::deadline::from_epoch_millis(event.context.deadline);
        Ok::<RunSummary, Error>(shared::deadline::within(deadline, refresher.run(&event.payload)).await?)
    }))
    .await
}
