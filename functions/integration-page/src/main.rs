//! Lambda bootstrap for the integration page (the HTTP API's `GET /integrations/servicetitan[/assets/{file}]`).

use lambda_http::{Error, Request, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The runtime's default subscriber: this function opens no spans, so `shared::logging` (and the AWS layer it
    // lives in) would add nothing.
    tracing::init_default_subscriber();
    lambda_http::run(service_fn(|req: Request| async move {
        Ok::<_, Error>(integration_page::handle(&req))
    }))
    .await
}
