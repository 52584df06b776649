//! Lambda bootstrap for the event processor (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use event_processor::{Processor, ProcessorConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use shared::aws::AwsClients;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = ProcessorConfig::from_env(&ProcessEnv)?;
    let processor = Processor::new(config, &AwsClients::from_env().await, shared::clock::system());
    let processor = &processor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(processor.handle_batch(event.payload).await)
    }))
    .await
}
