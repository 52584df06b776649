//! Lambda bootstrap for inbound messages (the HTTP API's `POST /inbound`, AWS_IAM).

use inbound_messages::{Inbound, InboundClients, InboundConfig};
use lambda_http::{Error, Request, service_fn};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = InboundConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let inbound = Inbound::new(
        config,
        InboundClients {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            scheduler: aws_sdk_scheduler::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        },
        shared::clock::system(),
    )?;
    let inbound = &inbound;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(inbound.handle(req).await)
    }))
    .await
}
