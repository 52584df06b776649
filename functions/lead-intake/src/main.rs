//! Lambda bootstrap for lead intake (the HTTP API's `/leads` routes, AWS_IAM).

use lambda_http::{Error, Request, service_fn};
use lead_intake::{LeadIntake, LeadIntakeConfig};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = LeadIntakeConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let intake = LeadIntake::new(
        config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
        shared::clock::system(),
    );
    let intake = &intake;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(intake.handle(req).await)
    }))
    .await
}
