//! Lambda bootstrap for the follow-up runner (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use followup_runner::{Runner, RunnerClients, RunnerConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = RunnerConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let clients = RunnerClients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        scheduler: aws_sdk_scheduler::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    };
    let runner = Runner::new(config, clients, shared::clock::system())?;
    let runner = &runner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = shared::deadline::from_epoch_millis(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(shared::deadline::within(deadline, runner.handle_batch(event.payload)).await)
    }))
    .await
}
