//! Lambda bootstrap for the event processor (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use event_processor::{Processor, ProcessorConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = ProcessorConfig::from_env(&ProcessEnv)?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&shared::aws::load_sdk_config().await);
    let processor = Processor::new(config, dynamodb, shared::clock::system());
    let processor = &processor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(processor.handle_batch(event.payload).await)
    }))
    .await
}
