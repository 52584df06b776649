//! The admin API under `/admin` (AWS_IAM-authorised in the template; a bearer token in the local stack):
//!
//! - `PUT|DELETE /admin/tenants/{tenantId}/servicetitan`: connect ([`connect`]) and disconnect;
//! - `GET /admin/tenants/{tenantId}/servicetitan/options`: business units, job types and campaigns to choose from;
//! - `GET|PUT /admin/tenants/{tenantId}/settings` ([`settings`]);
//! - `GET /admin/tenants/{tenantId}/status` ([`status`]);
//! - `GET /admin/tenants/{tenantId}/webhooks`: the subscriptions the recipes use, and their deliveries ([`webhooks`]);
//! - `GET …/leads`: the latest leads with their match decisions ([`leads`]);
//! - `GET …/dead-letters`, `POST …/dead-letters/redrive`, and the same for every tenant under
//!   `/operator/dead-letters` ([`dead_letters`]);
//! - `GET|POST /operator/webhook-keys`, `DELETE /operator/webhook-keys/{keyId}` ([`webhook_keys`]);
//! - `GET /admin/tenants/{tenantId}/runs[?entity=kind:id]`, `GET .../runs/{runId}`, `GET .../opt-outs`,
//!   `DELETE .../opt-outs/{address}`, `GET .../recipes`, `GET|PUT|DELETE .../recipes/{recipeId}` ([`followups`]).
//!
//! Every `/admin` route names a tenant, and its caller must be bound to it (`MachineCallers`, [`access`]). The
//! deployment-wide routes are under `/operator`, which the platform's policies never include. The contractors'
//! dashboard reaches the tenant handlers under `/dashboard/tenants/{tenantId}/…`, behind the template's JWT
//! authorizer, for the tenant its token names only.
//!
//! Every answer is JSON; every refusal is `{"error": {code, message, fields}}`. Credentials are never echoed, and
//! never logged: requests are logged by route and tenant id only.

pub mod access;
pub mod config;
pub mod connect;
pub mod dead_letters;
pub mod followups;
pub mod leads;
pub mod preview;
pub mod reconcile;
pub mod settings;
pub mod sink_secret;
pub mod status;
pub mod test_lead;
pub mod webhook_keys;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use tracing::{Instrument, info, info_span, warn};

use ::followups::recipe::Catalogue;
use followup_runtime::store::Store;
use servicetitan::{Connections, CredentialStore, DynamoDbTokenStore};
use shared::api_error::{ApiError, IntoResponse as _, json_response};
use shared::clock::SharedClock;
use shared::event_log::EventLog;
use shared::signing_keys::SigningKeyStore;
use shared::tenants::TenantRegistry;

pub use config::AdminConfig;

use access::Caller;

/// The AWS clients the function uses.
#[derive(Debug, Clone)]
pub struct AdminClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// Request bodies are small JSON documents.
const MAX_BODY: usize = 64 * 1024;

pub struct Admin {
    config: AdminConfig,
    registry: TenantRegistry,
    events: EventLog,
    tokens: Arc<DynamoDbTokenStore>,
    credentials: CredentialStore,
    connections: Arc<Connections>,
    /// Runs the connect flow's test lead inline (the same steps the lead creator takes).
    creator: lead_runtime::create::Creator,
    keys: SigningKeyStore,
    /// Tenants' own sink signing secrets (for a tenant with a `followupSinkUrl`).
    sink_secrets: shared::sink_secrets::SinkSecrets,
    scheduler: aws_sdk_scheduler::Client,
    followups: Store,
    leads: lead_runtime::store::LeadStore,
    catalogue: Catalogue,
    reconcile: shared::reconcile_state::ReconcileStore,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    clock: SharedClock,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Recipes(#[from] ::followups::recipe::InvalidRecipe),
}

type Handled = Result<Response<Body>, ApiError>;

impl Admin {
    pub fn new(config: AdminConfig, clients: AdminClients, clock: SharedClock) -> Result<Self, StartError> {
        // ServiceTitan's 60 requests/s per tenant are shared with every other function calling it.
        let budget = config.budget.map(|limits| {
            Arc::new(servicetitan::SharedBudget::new(
                clients.dynamodb.clone(),
                config.tokens_table.clone(),
                limits,
            ))
        });
        let registry = TenantRegistry::new(clients.dynamodb.clone(), config.tenants_table.clone());
        let tokens = Arc::new(
            DynamoDbTokenStore::new(clients.dynamodb.clone(), config.tokens_table.clone()).with_clock(clock.clone()),
        );
        let credentials = CredentialStore::new(clients.secrets.clone(), config.tenant_secret_prefix.clone());
        let connections = Arc::new(
            Connections::new(
                registry.clone(),
                credentials.clone(),
                tokens.clone(),
                config.hosts.clone(),
                clock.clone(),
            )
            .with_budget(budget, servicetitan::Priority::Interactive),
        );
        Ok(Self {
            followups: Store::new(clients.dynamodb.clone(), config.followups_table.clone()),
            leads: lead_runtime::store::LeadStore::new(clients.dynamodb.clone(), config.leads_table.clone()),
            catalogue: Catalogue::load()?,
            reconcile: shared::reconcile_state::ReconcileStore::new(
                clients.dynamodb.clone(),
                config.reconcile_table.clone(),
            ),
            sqs: clients.sqs.clone(),
            connections: connections.clone(),
            creator: lead_runtime::create::Creator::new(
                lead_runtime::store::LeadStore::new(clients.dynamodb.clone(), config.leads_table.clone()),
                registry.clone(),
                connections,
                clients.sqs,
                config.events_queue_url.clone(),
                config.application_guid.clone(),
                clock.clone(),
            ),
            events: EventLog::new(clients.dynamodb.clone(), config.events_table.clone()),
            sink_secrets: shared::sink_secrets::SinkSecrets::new(
                clients.secrets.clone(),
                config.tenant_secret_prefix.clone(),
            ),
            // Never cached here: the admin API reads the keys only to change them.
            keys: SigningKeyStore::new(
                clients.secrets,
                config.webhook_keys_secret_id.clone(),
                Duration::ZERO,
                clock.clone(),
            ),
            scheduler: clients.scheduler,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("the HTTP client builds"),
            registry,
            tokens,
            credentials,
            config,
            clock,
        })
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        let method = req.method().clone();
        let path = req.raw_http_path().to_owned();
        let route = Route::parse(&path).and_then(|(route, dashboard)| {
            let caller = if dashboard {
                self.config.dashboard_claims.contractor(jwt_claims(&req))?
            } else {
                Caller::Principal(shared::callers::principal(&req).map(str::to_owned))
            };
            caller.may(route.tenant_id(), &method, &self.config.machine_callers)?;
            Ok(route)
        });
        let tenant_id = route
            .as_ref()
            .ok()
            .and_then(Route::tenant_id)
            .unwrap_or_default()
            .to_owned();
        let span =
            info_span!("admin", %method, route = route.as_ref().map(Route::name).unwrap_or("unknown"), tenant_id);
        async move {
            let result = match route {
                Ok(route) => self.dispatch(route, &method, &req).await,
                Err(e) => Err(e),
            };
            let response = result.unwrap_or_else(|e| {
                if e.status.is_server_error() {
                    warn!(status = e.status.as_u16(), code = e.code, message = %e.message, "admin request failed");
                }
                e.into_response()
            });
            info!(status = response.status().as_u16(), "admin request");
            response
        }
        .instrument(span)
        .await
    }

    async fn dispatch(&self, route: Route<'_>, method: &Method, req: &Request) -> Handled {
        use Route::*;
        match (route, method.clone()) {
            (Connection(t), Method::PUT) => self.connect(&tenant(t)?, &body(req)?).await,
            (Connection(t), Method::DELETE) => self.disconnect(&tenant(t)?).await,
            (Connection(_), _) => Err(not_allowed("PUT, DELETE")),
            (Options(t), Method::GET) => self.options(&tenant(t)?).await,
            (Options(_), _) => Err(not_allowed("GET")),
            (Settings(t), Method::GET) => self.get_settings(&tenant(t)?).await,
            (Settings(t), Method::PUT) => self.put_settings(&tenant(t)?, &body(req)?).await,
            (Settings(_), _) => Err(not_allowed("GET, PUT")),
            (Status(t), Method::GET) => self.status(&tenant(t)?).await,
            (Status(_), _) => Err(not_allowed("GET")),
            (WebhookKeys, Method::GET) => self.list_keys().await,
            (WebhookKeys, Method::POST) => self.add_key(&body(req)?).await,
            (WebhookKeys, _) => Err(not_allowed("GET, POST")),
            (WebhookKey(id), Method::DELETE) => self.retire_key(id, &optional_body(req)?).await,
            (WebhookKey(_), _) => Err(not_allowed("DELETE")),
            (Runs(t), Method::GET) => self.runs(&tenant(t)?, &query(req)).await,
            (Runs(_), _) => Err(not_allowed("GET")),
            (Run(t, run), Method::GET) => self.run(&tenant(t)?, run).await,
            (Run(..), _) => Err(not_allowed("GET")),
            (OptOuts(t), Method::GET) => self.opt_outs(&tenant(t)?).await,
            (OptOuts(_), _) => Err(not_allowed("GET")),
            (OptOut(t, address), Method::DELETE) => self.remove_opt_out(&tenant(t)?, address, &query(req)).await,
            (OptOut(..), _) => Err(not_allowed("DELETE")),
            (Recipes(t), Method::GET) => self.recipes(&tenant(t)?).await,
            (Recipes(_), _) => Err(not_allowed("GET")),
            (Recipe(t, id), Method::GET) => self.recipe(&tenant(t)?, id).await,
            (Recipe(t, id), Method::PUT) => self.put_recipe(&tenant(t)?, id, Some(&body(req)?)).await,
            (Recipe(t, id), Method::DELETE) => self.put_recipe(&tenant(t)?, id, None).await,
            (Recipe(..), _) => Err(not_allowed("GET, PUT, DELETE")),
            // GET shows the saved recipe (a viewer may); POST an owner's unsaved edits.
            (RecipeSample(t, id), Method::GET) => self.sample(&tenant(t)?, id, None).await,
            (RecipeSample(t, id), Method::POST) => self.sample(&tenant(t)?, id, optional_body(req)?.as_ref()).await,
            (RecipeSample(..), _) => Err(not_allowed("GET, POST")),
            (TestLead(t), Method::POST) => self.test_lead(&tenant(t)?, optional_body(req)?.as_ref()).await,
            (TestLead(_), _) => Err(not_allowed("POST")),
            (Reconcile(t), Method::POST) => self.rerun(&tenant(t)?, &body(req)?).await,
            (Reconcile(_), _) => Err(not_allowed("POST")),
            (Preview(t), Method::GET) => self.preview(&tenant(t)?, &query(req)).await,
            (Preview(_), _) => Err(not_allowed("GET")),
            (Webhooks(t), Method::GET) => self.webhooks(&tenant(t)?).await,
            (Webhooks(_), _) => Err(not_allowed("GET")),
            (SinkSecret(t), Method::GET) => self.sink_secret(&tenant(t)?).await,
            (SinkSecret(t), Method::POST) => self.rotate_sink_secret(&tenant(t)?, optional_body(req)?.as_ref()).await,
            (SinkSecret(_), _) => Err(not_allowed("GET, POST")),
            (Leads(t), Method::GET) => self.leads(&tenant(t)?, &query(req)).await,
            (Leads(_), _) => Err(not_allowed("GET")),
            (DeadLetters(t), Method::GET) => self.dead_letters(&tenant(t)?).await,
            (DeadLetters(_), _) => Err(not_allowed("GET")),
            (Redrive(t), Method::POST) => self.redrive(&tenant(t)?, optional_body(req)?.as_ref()).await,
            (Redrive(_), _) => Err(not_allowed("POST")),
            (AllDeadLetters, Method::GET) => self.all_dead_letters().await,
            (AllDeadLetters, _) => Err(not_allowed("GET")),
            (RedriveAll, Method::POST) => self.redrive_any(optional_body(req)?.as_ref()).await,
            (RedriveAll, _) => Err(not_allowed("POST")),
        }
    }
}

impl Admin {
    /// The tenant's registry record, or 404 for a tenant never connected.
    async fn record(&self, tenant_id: &str) -> Result<shared::tenants::TenantRecord, ApiError> {
        self.registry
            .get_record(tenant_id)
            .await
            .map_err(|e| storage_error("reading the tenant", e))?
            .ok_or_else(|| connect::unknown_tenant(tenant_id))
    }

    /// The tenant's recipe overrides (their own items in the follow-ups table).
    async fn overrides(
        &self,
        record: &shared::tenants::TenantRecord,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>, ApiError> {
        self.followups
            .recipe_overrides(record)
            .await
            .map_err(|e| storage_error("reading the recipe overrides", e))
    }
}

/// The admin routes, by path (API Gateway may also hand the function a stage prefix, which is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Connection(&'a str),
    Options(&'a str),
    Settings(&'a str),
    Status(&'a str),
    WebhookKeys,
    WebhookKey(&'a str),
    Runs(&'a str),
    Run(&'a str, &'a str),
    OptOuts(&'a str),
    OptOut(&'a str, &'a str),
    Recipes(&'a str),
    Recipe(&'a str, &'a str),
    RecipeSample(&'a str, &'a str),
    TestLead(&'a str),
    Reconcile(&'a str),
    Preview(&'a str),
    Webhooks(&'a str),
    SinkSecret(&'a str),
    Leads(&'a str),
    DeadLetters(&'a str),
    Redrive(&'a str),
    AllDeadLetters,
    RedriveAll,
}

impl<'a> Route<'a> {
    /// The route, and whether it came in under `/dashboard` (a contractor's) rather than `/admin` or `/operator`.
    /// Every `/admin` route names a tenant; the deployment-wide ones are under `/operator`.
    fn parse(path: &'a str) -> Result<(Self, bool), ApiError> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let start = segments
            .iter()
            .position(|s| ["admin", "dashboard", "operator"].contains(s))
            .unwrap_or(segments.len());
        let dashboard = segments.get(start) == Some(&"dashboard");
        // The dashboard's routes are the tenant routes of the admin API, under another prefix.
        let mut segments = segments[start..].to_vec();
        if dashboard {
            if segments.get(1) != Some(&"tenants") {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no dashboard route {path}"),
                ));
            }
            segments[0] = "admin";
        }
        let route = match segments.as_slice() {
            ["admin", "tenants", t, "servicetitan"] => Self::Connection(t),
            ["admin", "tenants", t, "servicetitan", "options"] => Self::Options(t),
            ["admin", "tenants", t, "settings"] => Self::Settings(t),
            ["admin", "tenants", t, "status"] => Self::Status(t),
            ["admin", "tenants", t, "runs"] => Self::Runs(t),
            ["admin", "tenants", t, "runs", r] => Self::Run(t, r),
            ["admin", "tenants", t, "opt-outs"] => Self::OptOuts(t),
            ["admin", "tenants", t, "opt-outs", a] => Self::OptOut(t, a),
            ["admin", "tenants", t, "recipes"] => Self::Recipes(t),
            ["admin", "tenants", t, "recipes", r] => Self::Recipe(t, r),
            ["admin", "tenants", t, "recipes", r, "sample"] => Self::RecipeSample(t, r),
            ["admin", "tenants", t, "test-lead"] => Self::TestLead(t),
            ["admin", "tenants", t, "reconcile"] => Self::Reconcile(t),
            ["admin", "tenants", t, "preview"] => Self::Preview(t),
            ["admin", "tenants", t, "webhooks"] => Self::Webhooks(t),
            ["admin", "tenants", t, "sink-secret"] => Self::SinkSecret(t),
            ["admin", "tenants", t, "leads"] => Self::Leads(t),
            ["admin", "tenants", t, "dead-letters"] => Self::DeadLetters(t),
            ["admin", "tenants", t, "dead-letters", "redrive"] => Self::Redrive(t),
            ["operator", "webhook-keys"] => Self::WebhookKeys,
            ["operator", "webhook-keys", k] => Self::WebhookKey(k),
            ["operator", "dead-letters"] => Self::AllDeadLetters,
            ["operator", "dead-letters", "redrive"] => Self::RedriveAll,
            _ => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no admin route {path}"),
                ));
            }
        };
        Ok((route, dashboard))
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Connection(_) => "servicetitan",
            Self::Options(_) => "options",
            Self::Settings(_) => "settings",
            Self::Status(_) => "status",
            Self::WebhookKeys => "webhook-keys",
            Self::WebhookKey(_) => "webhook-key",
            Self::Runs(_) => "runs",
            Self::Run(..) => "run",
            Self::OptOuts(_) => "opt-outs",
            Self::OptOut(..) => "opt-out",
            Self::Recipes(_) => "recipes",
            Self::Recipe(..) => "recipe",
            Self::RecipeSample(..) => "recipe-sample",
            Self::TestLead(_) => "test-lead",
            Self::Reconcile(_) => "reconcile",
            Self::Preview(_) => "preview",
            Self::Webhooks(_) => "webhooks",
            Self::SinkSecret(_) => "sink-secret",
            Self::Leads(_) => "leads",
            Self::DeadLetters(_) => "dead-letters",
            Self::Redrive(_) => "redrive",
            Self::AllDeadLetters => "all-dead-letters",
            Self::RedriveAll => "redrive-all",
        }
    }

    fn tenant_id(&self) -> Option<&'a str> {
        match *self {
            Self::Connection(t)
            | Self::Options(t)
            | Self::Settings(t)
            | Self::Status(t)
            | Self::Runs(t)
            | Self::Run(t, _)
            | Self::OptOuts(t)
            | Self::OptOut(t, _)
            | Self::Recipes(t)
            | Self::Recipe(t, _)
            | Self::RecipeSample(t, _)
            | Self::TestLead(t)
            | Self::Reconcile(t)
            | Self::Preview(t)
            | Self::Webhooks(t)
            | Self::SinkSecret(t)
            | Self::Leads(t)
            | Self::DeadLetters(t)
            | Self::Redrive(t) => Some(t),
            _ => None,
        }
    }
}

/// The claims API Gateway's JWT authorizer put in the request context, if one ran.
fn jwt_claims(req: &Request) -> Option<&std::collections::HashMap<String, String>> {
    match req.request_context_ref()? {
        lambda_http::request::RequestContext::ApiGatewayV2(ctx) => Some(&ctx.authorizer.as_ref()?.jwt.as_ref()?.claims),
        _ => None,
    }
}

/// A ServiceTitan tenant id: a positive 64-bit integer, in decimal.
fn tenant(raw: &str) -> Result<String, ApiError> {
    match shared::tenants::is_tenant_id(raw) {
        true => Ok(raw.to_owned()),
        false => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant_id",
            "the tenant id in the path must be a ServiceTitan tenant id (a positive integer)",
        )
        .with_field("tenantId", format!("{:?} is not a positive integer", truncate(raw, 40)))),
    }
}

fn query(req: &Request) -> std::collections::BTreeMap<String, String> {
    shared::http_request::query(req)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn not_allowed(allow: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this route accepts {allow}"),
    )
    .with_header(http::header::ALLOW, allow)
}

/// The request's JSON body, which must be an object.
fn body(req: &Request) -> Result<Value, ApiError> {
    shared::http_request::json(req, MAX_BODY)
}

fn optional_body(req: &Request) -> Result<Option<Value>, ApiError> {
    shared::http_request::optional_json(req, MAX_BODY)
}

fn ok(body: &Value) -> Handled {
    Ok(json_response(StatusCode::OK, body))
}

/// A dependency of ours (DynamoDB, Secrets Manager, Scheduler) failed: nothing half-done is left (each handler
/// orders its writes so), and the request can be repeated.
fn storage_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    warn!(error = %e, "{what} failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        format!("{what} failed; nothing was changed that a retry would not finish. Try again."),
    )
    .with_header(http::header::RETRY_AFTER, "5")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_or_without_a_stage() {
        assert_eq!(
            Route::parse("/admin/tenants/7/status").unwrap(),
            (Route::Status("7"), false)
        );
        assert_eq!(
            Route::parse("/prod/admin/tenants/7/servicetitan/options").unwrap(),
            (Route::Options("7"), false)
        );
        assert_eq!(
            Route::parse("/operator/webhook-keys/k1").unwrap(),
            (Route::WebhookKey("k1"), false)
        );
        assert_eq!(
            Route::parse("/dashboard/tenants/7/settings").unwrap(),
            (Route::Settings("7"), true)
        );
        assert_eq!(
            Route::parse("/dashboard/tenants/7/dead-letters/redrive").unwrap(),
            (Route::Redrive("7"), true)
        );
        assert_eq!(
            Route::parse("/dashboard/tenants/7/recipes/estimate_follow_up/sample").unwrap(),
            (Route::RecipeSample("7", "estimate_follow_up"), true)
        );
        assert_eq!(
            Route::parse("/operator/dead-letters/redrive").unwrap(),
            (Route::RedriveAll, false)
        );
        for moved in [
            "/admin/webhook-keys",
            "/admin/webhook-keys/k1",
            "/admin/dead-letters",
            "/operator/tenants/7/status",
        ] {
            assert_eq!(
                Route::parse(moved).unwrap_err().status,
                StatusCode::NOT_FOUND,
                "{moved}: deployment-wide routes are under /operator, tenant routes under /admin"
            );
        }
        assert_eq!(
            Route::parse("/dashboard/dead-letters").unwrap_err().status,
            StatusCode::NOT_FOUND,
            "every tenant's dead letters are the operator's only"
        );
        assert_eq!(
            Route::parse("/dashboard/webhook-keys").unwrap_err().status,
            StatusCode::NOT_FOUND,
            "the deployment's keys have no dashboard route"
        );
        assert_eq!(
            Route::parse("/admin/tenants/7").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn tenant_ids_are_positive_decimal_integers() {
        assert!(tenant("1001").is_ok());
        for bad in ["0", "-1", "+5", "007", "abc", "1e3", "99999999999999999999"] {
            assert_eq!(tenant(bad).unwrap_err().code, "invalid_tenant_id", "{bad}");
        }
    }
}
