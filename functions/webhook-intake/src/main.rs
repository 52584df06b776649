//! Lambda bootstrap for the webhook intake: build the clients once, then serve.

use lambda_http::{Error, service_fn};
use shared::config::ProcessEnv;
use webhook_intake::{Intake, IntakeClients, IntakeConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = IntakeConfig::from_env(&ProcessEnv)?;
    let clients = IntakeClients::new(&shared::aws::load_sdk_config().await);
    let intake = Intake::new(config, clients, shared::clock::system());
    let intake = &intake;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(intake.handle(req).await)
    }))
    .await
}
