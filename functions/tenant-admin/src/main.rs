//! Lambda bootstrap for the admin API (HTTP API, AWS_IAM-authorised routes under /admin).

use lambda_http::{Error, Request, RequestExt, run, service_fn};
use shared::config::ProcessEnv;
use tenant_admin::{Admin, AdminClients, AdminConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = AdminConfig::from_env(&ProcessEnv)?;
    let sdk = shared::aws::load_sdk_config().await;
    let clients = AdminClients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        scheduler: aws_sdk_scheduler::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    };
    let admin = Admin::new(config, clients, shared::clock::system())?;
    let admin = &admin;
    run(service_fn(move |req: Request| async move {
        let deadline = shared::deadline::from_epoch_millis(req.lambda_context().deadline);
        // Boxed: the handler's future is too deep for the compiler to lay out inline.
        Ok::<_, Error>(shared::deadline::within(deadline, Box::pin(admin.handle(req))).await)
    }))
    .await
}
