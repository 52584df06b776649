//! Starting, driving and stopping the local stack.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use shared::aws::{AwsClients, local_sdk_config};
use shared::clock::{Clock, SharedClock, VirtualClock, iso_millis};

use crate::event_sources::SqsEventSource;
use crate::functions::{self, FunctionDef, Hosted, JsonHandler, PASS_THROUGH_ENV, ScheduleSource};
use crate::http_api::ApiRoute;
use crate::issuer::Issuer;
use crate::moto::MotoServer;
use crate::resources;
use crate::scheduler::SchedulerEmulator;
use crate::sink::LocalSink;
use crate::template::{Context, Physical, Template};
use servicetitan_sandbox::{Sandbox, SandboxOptions, WebhookConfig};

/// moto's default account.
pub const ACCOUNT_ID: &str = "123456789012";
/// Tenant ids of the production sandbox start here, apart from the integration sandbox's.
pub const PRODUCTION_FIRST_TENANT_ID: i64 = 50_001;
/// The most a single `/_local/clock` call may advance: ten years.
const MAX_ADVANCE_SECONDS: f64 = 10.0 * 365.0 * 86_400.0;

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub repo_root: PathBuf,
    pub template: PathBuf,
    pub stack_name: String,
    pub region: String,
    /// 0 picks a free port.
    pub api_port: u16,
    /// Use this moto server instead of starting one.
    pub moto_endpoint: Option<String>,
    /// Where moto's log goes, if anywhere.
    pub moto_log: Option<PathBuf>,
    /// Template parameter overrides.
    pub parameters: HashMap<String, String>,
    /// Extra environment for every function, applied over the template's.
    pub function_env: HashMap<String, String>,
    /// Per-service endpoints for the functions' AWS clients (e.g. `"sqs" -> closed port` to test an outage).
    pub function_aws_endpoints: HashMap<String, String>,
    /// Poll queues and fire schedules on wall time in the background, as AWS would.
    pub background: bool,
    /// Run two ServiceTitan sandboxes, one per environment, and point the functions at them. Off when
    /// `SERVICETITAN_INTEGRATION_API_URL` is set in the environment, i.e. when the functions should talk to a real
    /// ServiceTitan integration tenant.
    pub servicetitan_sandbox: bool,
    /// The bearer token that stands in for SigV4 on the admin routes; random when `None`.
    pub admin_token: Option<String>,
    /// Start virtual time here (if it is ahead of the wall clock), so that stories run on a known weekday.
    pub start_at: Option<Timestamp>,
}

impl StackOptions {
    pub fn new(repo_root: impl Into<PathBuf>) -> Self {
        let repo_root = repo_root.into();
        let mut function_env = HashMap::new();
        for key in PASS_THROUGH_ENV {
            if let Ok(v) = std::env::var(key) {
                function_env.insert((*key).to_owned(), v);
            }
        }
        Self {
            template: repo_root.join("template.yaml"),
            repo_root,
            stack_name: "local".into(),
            region: "us-east-1".into(),
            api_port: 0,
            moto_endpoint: None,
            moto_log: None,
            parameters: HashMap::new(),
            function_env,
            function_aws_endpoints: HashMap::new(),
            background: false,
            servicetitan_sandbox: std::env::var("SERVICETITAN_INTEGRATION_API_URL").is_err(),
            admin_token: None,
            start_at: None,
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct DrainReport {
    pub now: String,
    pub schedules_fired: usize,
    pub messages_received: usize,
    pub messages_failed: usize,
    pub retries_released: usize,
    /// Busy messages' delayed copies received early and held until due (see `event_sources`).
    pub messages_delayed: usize,
    /// Runs of functions on `rate(...)` schedules (token-refresh).
    pub scheduled_runs: usize,
}

/// A function on a `rate(...)` schedule. Runs when virtual time reaches `next`; a clock jump over several periods
/// runs it once (the periods it skipped would each have done the same work).
struct ScheduledFunction {
    logical_id: String,
    source: ScheduleSource,
    handler: JsonHandler,
    next: std::sync::Mutex<jiff::Timestamp>,
}

struct Inner {
    clock: Arc<VirtualClock>,
    aws: AwsClients,
    faults: Arc<crate::faults::Faults>,
    usage: Arc<crate::usage::Usage>,
    sources: Vec<SqsEventSource>,
    scheduled: Vec<ScheduledFunction>,
    scheduler: SchedulerEmulator,
    /// Serialises drains, clock moves and background ticks.
    control: Mutex<()>,
}

pub struct LocalStack {
    inner: Arc<Inner>,
    api_url: String,
    aws_endpoint: String,
    region: String,
    stack_name: String,
    ctx: Context,
    functions: Vec<FunctionDef>,
    moto: Option<MotoServer>,
    sandbox: Option<Sandbox>,
    production_sandbox: Option<Sandbox>,
    admin_token: String,
    sink: LocalSink,
    sink_secret: String,
    sink_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    background: Option<JoinHandle<()>>,
}

impl LocalStack {
    pub async fn start(opts: StackOptions) -> anyhow::Result<Self> {
        let template = Template::load(&opts.template)?;
        let moto = match &opts.moto_endpoint {
            Some(_) => None,
            None => {
                let binary = MotoServer::locate(&opts.repo_root)?;
                Some(MotoServer::start(&binary, opts.moto_log.as_deref()).await?)
            }
        };
        let aws_endpoint = opts
            .moto_endpoint
            .clone()
            .or_else(|| moto.as_ref().map(|m| m.endpoint.clone()))
            .expect("one of the two is set");
        let aws = AwsClients::new(&local_sdk_config(&aws_endpoint, &opts.region));

        let mut ctx = Context {
            stack_name: opts.stack_name.clone(),
            region: opts.region.clone(),
            account_id: ACCOUNT_ID.into(),
            parameters: template.parameters(&opts.parameters),
            physical: HashMap::new(),
        };
        resources::create_all(&template, &mut ctx, &aws)
            .await
            .context("creating the template's resources in moto")?;
        let clock = Arc::new(VirtualClock::new());
        if let Some(at) = opts.start_at {
            clock.advance_to(at);
        }
        let shared_clock: SharedClock = clock.clone();
        let mut function_env = opts.function_env.clone();
        // ServiceTitan's two environments are separate systems with separate credentials: one sandbox each. The
        // demo tenant lives in integration.
        let (sandbox, production_sandbox) = if opts.servicetitan_sandbox {
            let start = |seed_demo| {
                Sandbox::start(SandboxOptions {
                    port: 0,
                    seed_demo,
                    clock: Some(shared_clock.clone()),
                })
            };
            let (integration, production) = (start(true).await?, start(false).await?);
            production.set_next_tenant_id(PRODUCTION_FIRST_TENANT_ID);
            for (prefix, sandbox) in [("INTEGRATION", &integration), ("PRODUCTION", &production)] {
                for suffix in ["AUTH_URL", "API_URL"] {
                    function_env
                        .entry(format!("SERVICETITAN_{prefix}_{suffix}"))
                        .or_insert_with(|| sandbox.url());
                }
            }
            (Some(integration), Some(production))
        } else {
            (None, None)
        };
        let admin_token = opts.admin_token.clone().unwrap_or_else(random_token);
        // The API's address is needed before the functions are configured: follow-ups go to its local sink unless
        // FOLLOWUP_SINK_URL points elsewhere.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.api_port))
            .await
            .with_context(|| format!("binding the HTTP API to 127.0.0.1:{}", opts.api_port))?;
        let api_url = format!("http://{}", listener.local_addr()?);
        function_env
            .entry("FOLLOWUP_SINK_URL".into())
            .or_insert_with(|| format!("{api_url}/_local/sink"));
        // Busy consumers' delayed copies wait on the stack's clock, which moto's DelaySeconds does not follow.
        function_env
            .entry(shared::sqs_batch::DELAY_ON_STACK_CLOCK_ENV.into())
            .or_insert_with(|| "true".into());
        // The explicit local setting that lets the functions reach this machine over http (never in the template).
        function_env
            .entry(shared::egress::LOCAL_LOOPBACK_ENV.into())
            .or_insert_with(|| "true".into());
        let sink_secret = read_sink_secret(&aws, &ctx).await?;
        let sink = LocalSink::new(
            shared::standard_webhooks::SigningSecret::parse(&sink_secret)
                .map_err(|e| anyhow!("the follow-up signing secret: {e}"))?,
            shared_clock.clone(),
        );
        // The admin token signs as the local operator, who acts for every tenant, or as the principal a request
        // names; a demo widget is bound to the demo tenant. Unless a test binds callers itself.
        if !opts.parameters.contains_key("MachineCallers") {
            ctx.parameters.insert(
                "MachineCallers".into(),
                serde_json::json!({crate::http_api::LOCAL_OPERATOR: "*", crate::http_api::LOCAL_WIDGET: ["1001"]})
                    .to_string(),
            );
        }
        // The host platform's identity provider, for the dashboard routes' JWT authorizer.
        let issuer_url = format!("{api_url}/_local/issuer");
        ctx.parameters.insert("DashboardJwtIssuer".into(), issuer_url.clone());
        let audience = ctx
            .parameters
            .get("DashboardJwtAudience")
            .cloned()
            .unwrap_or_else(|| "servicetitan-integration".into());
        let issuer = Arc::new(Issuer::new(issuer_url, audience)?);
        let functions = functions::read(&template, &ctx, &function_env)?;

        let faults = crate::faults::Faults::new(shared_clock.clone());
        let usage = crate::usage::Usage::new();
        let function_aws = function_clients(
            &aws_endpoint,
            &opts.region,
            &opts.function_aws_endpoints,
            &faults,
            &usage,
        );
        let mut http_routes = Vec::new();
        let mut sources = Vec::new();
        let mut scheduled = Vec::new();
        for def in &functions {
            match functions::host(def, &function_aws, shared_clock.clone())? {
                Hosted::Http(handler) => {
                    for r in &def.http_routes {
                        http_routes.push(ApiRoute {
                            method: r.method.clone(),
                            path: r.path.clone(),
                            handler: handler.clone(),
                            auth: r.auth,
                        });
                    }
                }
                Hosted::Json(handler) => {
                    for source in &def.schedules {
                        scheduled.push(ScheduledFunction {
                            logical_id: def.logical_id.clone(),
                            next: std::sync::Mutex::new(shared_clock.now() + source.every),
                            source: source.clone(),
                            handler: handler.clone(),
                        });
                    }
                }
                Hosted::Sqs(handler) => {
                    for s in &def.sqs_sources {
                        let url = queue_url_for_arn(&ctx, &s.queue_arn)?;
                        sources.push(
                            SqsEventSource::new(
                                &aws.sqs,
                                def.logical_id.clone(),
                                url,
                                s,
                                opts.region.clone(),
                                handler.clone(),
                                faults.clone(),
                            )
                            .await?,
                        );
                    }
                }
            }
        }

        let inner = Arc::new(Inner {
            clock,
            scheduler: SchedulerEmulator::new(aws.scheduler.clone(), aws.sqs.clone()),
            aws,
            sources,
            scheduled,
            faults,
            usage,
            control: Mutex::new(()),
        });
        let router = crate::http_api::routes(http_routes, &admin_token, issuer.clone(), shared_clock.clone())?
            .merge(control_routes(inner.clone()))
            .merge(issuer_routes(IssuerState {
                issuer: issuer.clone(),
                clock: shared_clock.clone(),
                api_url: api_url.clone(),
            }))
            .merge(crate::sink::routes(sink.clone()))
            .layer(axum::middleware::from_fn_with_state(
                Arc::<str>::from(admin_token.as_str()),
                crate::http_api::local_control_guard,
            ));
        // ServiceTitan calls the HTTP API: the sandbox delivers its webhooks there, one URL per event as
        // ServiceTitan does, signed with the demo key (which `make demo` stores in the signing-keys secret).
        if let Some(sandbox) = &sandbox {
            sandbox.configure_webhooks(WebhookConfig {
                callback_url: format!("{api_url}/webhooks/servicetitan"),
                hmac_key: Some(crate::demo::DEMO_KEY.to_owned()),
                per_event_urls: true,
                ..WebhookConfig::default()
            });
        }
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                warn!(error = %e, "HTTP API stopped");
            }
        });
        let background = opts.background.then(|| {
            let inner = inner.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if let Err(e) = inner.settle().await {
                        warn!(error = %e, "background tick failed");
                    }
                }
            })
        });
        info!(api_url, aws_endpoint, "local stack ready");
        Ok(Self {
            inner,
            api_url,
            aws_endpoint,
            region: opts.region,
            stack_name: opts.stack_name,
            ctx,
            functions,
            moto,
            sandbox,
            production_sandbox,
            admin_token,
            sink,
            sink_secret,
            sink_url: function_env.get("FOLLOWUP_SINK_URL").cloned().unwrap_or_default(),
            shutdown: Some(tx),
            server,
            background,
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn aws_endpoint(&self) -> &str {
        &self.aws_endpoint
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// AWS clients pointed at moto.
    pub fn aws(&self) -> &AwsClients {
        &self.inner.aws
    }

    pub fn clock(&self) -> Arc<VirtualClock> {
        self.inner.clock.clone()
    }

    /// `Ref` and attributes of a template resource, e.g. `physical("EventsQueue").reference` is the queue URL.
    pub fn physical(&self, logical_id: &str) -> anyhow::Result<&Physical> {
        self.ctx
            .physical
            .get(logical_id)
            .ok_or_else(|| anyhow!("the template has no resource {logical_id}"))
    }

    pub fn functions(&self) -> &[FunctionDef] {
        &self.functions
    }

    /// One dotenv file with every function's resolved environment, for `cargo lambda watch --env-file`.
    pub fn lambda_env_file(&self) -> String {
        let mut vars: std::collections::BTreeMap<String, String> = self
            .functions
            .iter()
            .flat_map(|f| f.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .filter(|(k, _)| k != "AWS_LAMBDA_FUNCTION_NAME")
            .collect();
        vars.insert("AWS_ENDPOINT_URL".into(), self.aws_endpoint.clone());
        vars.insert("AWS_REGION".into(), self.region.clone());
        vars.insert("AWS_ACCESS_KEY_ID".into(), "local".into());
        vars.insert("AWS_SECRET_ACCESS_KEY".into(), "local".into());
        vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    pub fn function(&self, logical_id: &str) -> anyhow::Result<&FunctionDef> {
        self.functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .ok_or_else(|| anyhow!("the template has no function {logical_id}"))
    }

    /// Fires due schedules and processes queues until nothing is left to do at the current virtual time.
    pub async fn drain(&self) -> anyhow::Result<DrainReport> {
        self.inner.settle().await
    }

    /// Moves virtual time forward, firing schedules and retries in time order, then drains.
    pub async fn advance(&self, by: SignedDuration) -> anyhow::Result<DrainReport> {
        self.inner.advance(by).await
    }

    /// The ServiceTitan sandbox playing the integration environment, when the stack runs sandboxes.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// The ServiceTitan sandbox playing the production environment.
    pub fn production_sandbox(&self) -> Option<&Sandbox> {
        self.production_sandbox.as_ref()
    }

    /// The local stand-in for the AI platform (what `/_local/outbox` shows).
    pub fn sink(&self) -> &LocalSink {
        &self.sink
    }

    /// The faults injected on purpose ([`crate::faults`]).
    pub fn faults(&self) -> &Arc<crate::faults::Faults> {
        &self.inner.faults
    }

    /// The functions' AWS calls so far ([`crate::usage`]).
    pub fn usage(&self) -> &Arc<crate::usage::Usage> {
        &self.inner.usage
    }

    /// The bearer token the admin (`AWS_IAM`) routes accept locally.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Invokes a JSON-event function (e.g. `TokenRefreshFunction`) now, as its schedule would.
    pub async fn invoke(&self, logical_id: &str, event: Value) -> anyhow::Result<Value> {
        let f = self
            .inner
            .scheduled
            .iter()
            .find(|f| f.logical_id == logical_id)
            .ok_or_else(|| anyhow!("{logical_id} is not a scheduled function of the template"))?;
        (f.handler)(event)
            .await
            .map_err(|e| anyhow!("{logical_id} failed: {e}"))
    }

    /// The local control contract, written to `.local/endpoints.json`.
    pub fn endpoints(&self) -> Value {
        let resources: serde_json::Map<String, Value> = self
            .ctx
            .physical
            .iter()
            .map(|(id, p)| (id.clone(), json!({ "ref": p.reference, "attributes": p.attributes })))
            .collect();
        let mut endpoints = json!({
            "api_url": self.api_url,
            "admin_token": self.admin_token,
            "aws_endpoint_url": self.aws_endpoint,
            "region": self.region,
            "stack_name": self.stack_name,
            "resources": resources,
            "followup_sink_url": self.sink_url,
            "followup_sink_secret": self.sink_secret,
            // The contractors' page; POST /_local/login gives a signed-in URL for a tenant.
            "integration_page_url": format!("{}/integrations/servicetitan", self.api_url),
        });
        if let Some(sandbox) = &self.sandbox {
            endpoints["servicetitan_auth_url"] = json!(sandbox.url());
            endpoints["servicetitan_api_url"] = json!(sandbox.url());
            endpoints["demo_tenant"] = serde_json::to_value(sandbox.demo_tenant()).unwrap_or_default();
        }
        if let Some(sandbox) = &self.production_sandbox {
            endpoints["servicetitan_production_url"] = json!(sandbox.url());
        }
        endpoints
    }

    pub async fn stop(mut self) {
        if let Some(bg) = self.background.take() {
            bg.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        for sandbox in [self.sandbox.take(), self.production_sandbox.take()]
            .into_iter()
            .flatten()
        {
            sandbox.stop().await;
        }
        if let Some(moto) = self.moto.take() {
            moto.stop().await;
        }
    }
}

impl Inner {
    async fn settle(&self) -> anyhow::Result<DrainReport> {
        let _guard = self.control.lock().await;
        self.settle_locked().await
    }

    async fn settle_locked(&self) -> anyhow::Result<DrainReport> {
        let mut report = DrainReport::default();
        loop {
            let now = self.clock.now();
            let mut progressed = false;
            for source in &self.sources {
                let released = source.release_due(&self.aws.sqs, now).await;
                report.retries_released += released;
                progressed |= released > 0;
            }
            for schedule in self.scheduler.pending().await? {
                if schedule.at > now {
                    break;
                }
                self.scheduler.fire(&schedule, now).await?;
                report.schedules_fired += 1;
                progressed = true;
            }
            for f in &self.scheduled {
                let due = {
                    let mut next = f.next.lock().expect("schedule lock");
                    let due = *next <= now;
                    while *next <= now {
                        *next += f.source.every;
                    }
                    due
                };
                if due {
                    match (f.handler)(f.source.input.clone()).await {
                        Ok(result) => {
                            info!(function = f.logical_id, schedule = f.source.name, %result, "scheduled run")
                        }
                        Err(e) => {
                            warn!(function = f.logical_id, schedule = f.source.name, error = %e, "scheduled run failed")
                        }
                    }
                    report.scheduled_runs += 1;
                }
            }
            for source in &self.sources {
                let stats = source.poll_until_empty(&self.aws.sqs, now).await?;
                report.messages_received += stats.received;
                report.messages_failed += stats.failed;
                report.messages_delayed += stats.delayed;
                progressed |= stats.received > 0;
            }
            if !progressed {
                report.now = iso_millis(self.clock.now());
                return Ok(report);
            }
        }
    }

    async fn advance(&self, by: SignedDuration) -> anyhow::Result<DrainReport> {
        let _guard = self.control.lock().await;
        let target = self.clock.now() + by;
        let mut total = DrainReport::default();
        loop {
            let next_schedule = self.scheduler.pending().await?.first().map(|s| s.at);
            let mut next_release = None;
            for s in &self.sources {
                next_release = match (next_release, s.next_release().await) {
                    (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                    (a, b) => a.or(b),
                };
            }
            let next = [next_schedule, next_release].into_iter().flatten().min();
            match next {
                Some(t) if t <= target => self.clock.advance_to(t),
                _ => self.clock.advance_to(target),
            }
            let step = self.settle_locked().await?;
            total.schedules_fired += step.schedules_fired;
            total.messages_received += step.messages_received;
            total.messages_failed += step.messages_failed;
            total.retries_released += step.retries_released;
            total.messages_delayed += step.messages_delayed;
            total.scheduled_runs += step.scheduled_runs;
            if self.clock.now() >= target && next.is_none_or(|t| t > target) {
                total.now = step.now;
                return Ok(total);
            }
        }
    }
}

/// The follow-up signing secret the template's `FollowUpSinkSigningSecret` was created with.
async fn read_sink_secret(aws: &AwsClients, ctx: &Context) -> anyhow::Result<String> {
    let arn = &ctx
        .physical
        .get("FollowUpSinkSigningSecret")
        .ok_or_else(|| anyhow!("the template has no FollowUpSinkSigningSecret"))?
        .reference;
    let out = aws
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| anyhow!(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
    Ok(out.secret_string().unwrap_or_default().to_owned())
}

/// 128 random bits, hex: `RandomState` is seeded from the OS's randomness.
fn random_token() -> String {
    use std::hash::{BuildHasher, RandomState};
    let (a, b) = (RandomState::new().hash_one(1u8), RandomState::new().hash_one(2u8));
    format!("local-{a:016x}{b:016x}")
}

fn queue_url_for_arn(ctx: &Context, arn: &str) -> anyhow::Result<String> {
    ctx.physical
        .values()
        .find(|p| p.attributes.get("Arn").is_some_and(|a| a == arn))
        .and_then(|p| p.attributes.get("QueueUrl").cloned())
        .ok_or_else(|| anyhow!("no queue in the template has ARN {arn}"))
}

/// The functions' AWS clients: moto, except for services redirected in `overrides`, each call checked against the
/// injected faults first and counted ([`crate::usage`]).
fn function_clients(
    endpoint: &str,
    region: &str,
    overrides: &HashMap<String, String>,
    faults: &Arc<crate::faults::Faults>,
    usage: &Arc<crate::usage::Usage>,
) -> AwsClients {
    let config =
        |service: &str| local_sdk_config(overrides.get(service).map(String::as_str).unwrap_or(endpoint), region);
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config("dynamodb"))
                .interceptor(faults.interceptor("dynamodb"))
                .interceptor(usage.interceptor())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config("sqs"))
                .interceptor(faults.interceptor("sqs"))
                .interceptor(usage.interceptor())
                .build(),
        ),
        secrets: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&config("secretsmanager"))
                .interceptor(faults.interceptor("secretsmanager"))
                .interceptor(usage.interceptor())
                .build(),
        ),
        scheduler: aws_sdk_scheduler::Client::from_conf(
            aws_sdk_scheduler::config::Builder::from(&config("scheduler"))
                .interceptor(faults.interceptor("scheduler"))
                .interceptor(usage.interceptor())
                .build(),
        ),
    }
}

#[derive(Deserialize)]
struct ClockRequest {
    advance_seconds: f64,
}

fn control_routes(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(
            "/_local/health",
            get(|State(inner): State<Arc<Inner>>| async move {
                Json(json!({ "status": "ok", "now": iso_millis(inner.clock.now()) }))
            }),
        )
        .route(
            "/_local/drain",
            post(|State(inner): State<Arc<Inner>>| async move { respond(inner.settle().await) }),
        )
        .route(
            "/_local/clock",
            post(|State(inner): State<Arc<Inner>>, body: axum::body::Bytes| async move {
                let request: ClockRequest = match serde_json::from_slice(&body) {
                    Ok(r) => r,
                    Err(e) => {
                        return bad_request(format!("expected {{\"advance_seconds\": N}}: {e}"));
                    }
                };
                let secs = request.advance_seconds;
                if !secs.is_finite() || !(0.0..=MAX_ADVANCE_SECONDS).contains(&secs) {
                    return bad_request(format!("advance_seconds must be between 0 and {MAX_ADVANCE_SECONDS}"));
                }
                respond(inner.advance(SignedDuration::from_secs_f64(secs)).await)
            }),
        )
        .route(
            "/_local/faults",
            get(|State(inner): State<Arc<Inner>>| async move { Json(inner.faults.view()) })
                .post(|State(inner): State<Arc<Inner>>, body: axum::body::Bytes| async move {
                    let request: crate::faults::FaultRequest = match serde_json::from_slice(&body) {
                        Ok(r) => r,
                        Err(e) => {
                            return bad_request(format!(
                                "expected {{\"refuse\": {{\"dynamodb\": seconds}}, \"kill\": {{\"function\", \"atCall\"}}, \"sqs\": {{\"duplicate\", \"reorder\"}}}}: {e}"
                            ));
                        }
                    };
                    match inner.faults.apply(request) {
                        Ok(()) => (StatusCode::OK, Json(inner.faults.view())),
                        Err(fields) => (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"error": {
                                "code": "invalid_request",
                                "message": "the faults are invalid",
                                "fields": fields.iter().map(|(f, r)| json!({"field": f, "reason": r})).collect::<Vec<_>>(),
                            }})),
                        ),
                    }
                })
                .delete(|State(inner): State<Arc<Inner>>| async move {
                    inner.faults.clear();
                    Json(inner.faults.view())
                }),
        )
        .route(
            "/_local/usage",
            get(|State(inner): State<Arc<Inner>>| async move { Json(inner.usage.report()) }).delete(
                |State(inner): State<Arc<Inner>>| async move {
                    inner.usage.reset();
                    Json(inner.usage.report())
                },
            ),
        )
        .with_state(inner)
}

#[derive(Clone)]
struct IssuerState {
    issuer: Arc<Issuer>,
    clock: SharedClock,
    api_url: String,
}

/// The local identity provider: its discovery document and keys, and `POST /_local/login` (admin token, checked by
/// `local_control_guard` as on every control route) that signs
/// a contractor in: `{"tenantId", "role": "owner" | "viewer"}` → `{"token", "url"}`.
fn issuer_routes(state: IssuerState) -> Router {
    Router::new()
        .route(
            "/_local/issuer/.well-known/openid-configuration",
            get(|State(s): State<IssuerState>| async move { Json(s.issuer.discovery()) }),
        )
        .route(
            "/_local/issuer/.well-known/jwks.json",
            get(|State(s): State<IssuerState>| async move { Json(s.issuer.jwks()) }),
        )
        .route(
            "/_local/login",
            post(|State(s): State<IssuerState>, body: axum::body::Bytes| async move {
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let tenant = match &request["tenantId"] {
                    Value::String(t) if t.parse::<u64>().is_ok_and(|n| n > 0) => t.clone(),
                    Value::Number(n) if n.as_u64().is_some_and(|n| n > 0) => n.to_string(),
                    _ => {
                        return bad_request(
                            "expected {\"tenantId\": \"1001\", \"role\": \"owner\" | \"viewer\"}".into(),
                        );
                    }
                };
                let role = match request.get("role").and_then(Value::as_str) {
                    None => "owner",
                    Some(r @ ("owner" | "viewer")) => r,
                    Some(_) => return bad_request("role must be owner or viewer".into()),
                };
                let mut claims = serde_json::Map::new();
                claims.insert("sub".into(), json!(format!("local-{role}-{tenant}")));
                claims.insert("tenant_id".into(), json!(tenant));
                claims.insert("role".into(), json!(role));
                match s.issuer.token(&claims, s.clock.now()) {
                    Ok(token) => (
                        StatusCode::OK,
                        Json(json!({
                            "token": token,
                            "tenantId": tenant,
                            "role": role,
                            "url": format!("{}/integrations/servicetitan?tenant={tenant}#token={token}", s.api_url),
                        })),
                    ),
                    Err(e) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Json(json!({"error": {"code": "local_stack_error", "message": format!("{e:#}")}})),
                    ),
                }
            }),
        )
        .with_state(state)
}

fn respond(result: anyhow::Result<DrainReport>) -> (StatusCode, Json<Value>) {
    match result {
        Ok(report) => (StatusCode::OK, Json(serde_json::to_value(report).unwrap_or_default())),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": { "code": "local_stack_error", "message": format!("{e:#}") } })),
        ),
    }
}

fn bad_request(message: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": { "code": "invalid_request", "message": message } })),
    )
}
