//! Lambda bootstrap for the reconciler (SQS event source on the reconcile queue, batch size 1, ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use reconciler::{Reconciler, ReconcilerClients, ReconcilerConfig};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = ReconcilerConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let clients = ReconcilerClients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    };
    let reconciler = Reconciler::new(config, clients, shared::clock::system())?;
    let reconciler = &reconciler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = shared::deadline::from_epoch_millis(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(shared::deadline::within(deadline, reconciler.handle_batch(event.payload)).await)
    }))
    .await
}
