//! Lambda bootstrap for the lead creator (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use lead_creator::{CreatorClients, CreatorConfig, LeadCreator};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = CreatorConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let clients = CreatorClients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    };
    let creator = LeadCreator::new(config, clients, shared::clock::system());
    let creator = &creator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = shared::deadline::from_epoch_millis(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(shared::deadline::within(deadline, creator.handle_batch(event.payload)).await)
    }))
    .await
}
