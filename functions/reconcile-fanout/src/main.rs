//! Lambda bootstrap for the reconcile fan-out (invoked by an EventBridge Scheduler rate schedule).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use reconcile_fanout::{FanOut, FanOutConfig, FanOutSummary};
use serde_json::Value;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = FanOutConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let fanout = FanOut::new(
        config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
        shared::clock::system(),
    );
    let fanout = &fanout;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<FanOutSummary, Error>(fanout.run().await?)
    }))
    .await
}
