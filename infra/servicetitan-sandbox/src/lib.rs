//! A local ServiceTitan V2 API sandbox.
//!
//! One HTTP listener serves both hosts: the auth host (`POST /connect/token`) and the API host
//! (`/{module}/v2/tenant/{tenant}/...`), plus test controls under `/_sandbox/` (a prefix the real API never uses).
//! Paths, field names, types and enums follow ServiceTitan's official OpenAPI 3.1 documents; the behaviour the
//! documents leave open (token errors, 401/403/429 bodies, phone matching) follows the project's research notes.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use servicetitan_sandbox::{Sandbox, SandboxOptions};
//! let sandbox = Sandbox::start(SandboxOptions { port: 0, seed_demo: true, clock: None }).await?;
//! let creds = sandbox.demo_tenant().unwrap();
//! println!("{} tenant {}", sandbox.url(), creds.tenant_id);
//! sandbox.stop().await;
//! # Ok(()) }
//! ```

#![recursion_limit = "256"]

mod api;
mod auth;
mod controls;
mod model;
mod requests;
mod seed;
mod util;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::response::IntoResponse;
use domain::SharedClock;
use jiff::Timestamp;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::{Tenant, World};
use crate::requests::RequestLog;
use crate::util::{ApiError, ApiResult};
use crate::webhooks::Webhooks;

pub use crate::requests::MAX_LOGGED_REQUESTS;
pub use crate::util::EXPORT_PAGE_SIZE;
pub use crate::webhooks::{
    DEFAULT_SIGNATURE_HEADER, MAX_ATTEMPTS, RETRY_DELAYS_SECONDS, WebhookConfig, WebhookEnvelope, v1_webhook_type,
};

/// Fixed credentials of the demo tenant (`seed_demo`).
pub const DEMO_TENANT_ID: i64 = 1001;
pub const DEMO_CLIENT_ID: &str = "cid.demo1001";
pub const DEMO_CLIENT_SECRET: &str = "cs1.demo-secret-1001";
pub const DEMO_APP_KEY: &str = "ak1.demo-app-key";

/// Access-token lifetime, as ServiceTitan documents it.
pub const TOKEN_LIFETIME_SECONDS: i64 = 900;
/// Per (app key, tenant) rate limit: bucket capacity and refill per second.
pub const RATE_LIMIT_PER_SECOND: u32 = 60;

#[derive(Clone, Default)]
pub struct SandboxOptions {
    /// 0 = any free port.
    pub port: u16,
    /// Seed the deterministic demo tenant (1001).
    pub seed_demo: bool,
    /// Time source for token expiry, record timestamps and outage windows (default: system clock).
    pub clock: Option<SharedClock>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantCredentials {
    pub tenant_id: i64,
    pub client_id: String,
    pub client_secret: String,
    pub app_key: String,
}

pub struct Sandbox {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    engine_stop: Option<oneshot::Sender<()>>,
    engine: Option<JoinHandle<()>>,
}

impl Sandbox {
    pub async fn start(opts: SandboxOptions) -> anyhow::Result<Sandbox> {
        let clock = opts.clock.unwrap_or_else(domain::clock::system);
        let seed = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(Timestamp::now().as_nanosecond())
        };
        let webhooks = Arc::new(Webhooks::new(seed));
        let state = AppState(Arc::new(Inner {
            clock: clock.clone(),
            world: Mutex::new(World::new(seed)),
            webhooks: webhooks.clone(),
            requests: RequestLog::new(MAX_LOGGED_REQUESTS),
        }));
        if opts.seed_demo {
            let now = state.now();
            let mut w = state.lock();
            let creds = seed::seed_demo(&mut w, now);
            w.demo = Some(creds);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "servicetitan sandbox server failed");
            }
        });
        let (engine_tx, engine_rx) = oneshot::channel::<()>();
        let engine = webhooks::spawn_engine(webhooks, clock, engine_rx);
        tracing::info!(%addr, "servicetitan sandbox listening");
        Ok(Sandbox {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
            engine_stop: Some(engine_tx),
            engine: Some(engine),
        })
    }

    /// Base URL of both the auth host (`/connect/token`) and the API host (`/{module}/v2/tenant/{t}/...`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn demo_tenant(&self) -> Option<TenantCredentials> {
        self.state.lock().demo.clone()
    }

    /// Creates a usable tenant (business units, job types, campaigns, technicians) with fresh credentials.
    pub fn create_tenant(&self, name: &str) -> TenantCredentials {
        let now = self.state.now();
        let mut w = self.state.lock();
        seed::create_basic_tenant(&mut w, name, now)
    }

    /// Tenants created from now on get ids from `first` up. Two sandboxes playing ServiceTitan's two environments use
    /// different ranges, as the real environments' tenants are different tenants.
    pub fn set_next_tenant_id(&self, first: i64) {
        let mut w = self.state.lock();
        w.next_tenant_id = w.next_tenant_id.max(first);
    }

    /// Issues the tenant a new client secret, as a contractor regenerating it in ServiceTitan would: the old secret
    /// stops working for new tokens. Returns the new secret, or `None` for an unknown tenant.
    pub fn rotate_client_secret(&self, tenant_id: i64) -> Option<String> {
        let mut w = self.state.lock();
        let secret = format!("cs1.{}", w.rng.token(36));
        let t = w.tenants.get_mut(&tenant_id)?;
        t.creds.client_secret = secret.clone();
        if w.demo.as_ref().is_some_and(|d| d.tenant_id == tenant_id) {
            w.demo.as_mut().expect("checked").client_secret = secret.clone();
        }
        Some(secret)
    }

    /// Number of `POST /connect/token` requests seen for this client id (successful or not).
    pub fn token_requests(&self, client_id: &str) -> u64 {
        self.state.lock().token_requests.get(client_id).copied().unwrap_or(0)
    }

    /// Turns webhook emission on (replacing any previous configuration). Emission is off until configured.
    pub fn configure_webhooks(&self, config: WebhookConfig) {
        self.state.0.webhooks.configure(Some(config));
    }

    /// The webhook emission settings in force, if emission is on.
    pub fn webhook_config(&self) -> Option<WebhookConfig> {
        self.state.0.webhooks.config()
    }

    /// Turns webhook emission off; deliveries already queued keep being attempted.
    pub fn disable_webhooks(&self) {
        self.state.0.webhooks.configure(None);
    }

    /// Every webhook delivery so far, oldest first (same JSON as `GET /_sandbox/webhooks/deliveries`).
    pub fn deliveries(&self) -> Vec<serde_json::Value> {
        self.state.0.webhooks.deliveries()
    }

    /// Every API request since the start or the last clear, oldest first (same JSON as `GET /_sandbox/requests`):
    /// `{method, path, query, status, body, at}`, `path` concrete (`/crm/v2/tenant/1001/customers`), `body` the parsed
    /// JSON or `null`. Controls and `/connect/token` are not included; the last [`MAX_LOGGED_REQUESTS`] are kept.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.state.requests().entries()
    }

    /// Empties the request log (`DELETE /_sandbox/requests`).
    pub fn clear_requests(&self) {
        self.state.requests().clear();
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.engine_stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(engine) = self.engine.take() {
            let _ = engine.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.engine_stop.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    clock: SharedClock,
    world: Mutex<World>,
    webhooks: Arc<Webhooks>,
    requests: RequestLog,
}

impl AppState {
    pub(crate) fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.0.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn webhooks(&self) -> &Webhooks {
        &self.0.webhooks
    }

    pub(crate) fn requests(&self) -> &RequestLog {
        &self.0.requests
    }

    /// Queues a webhook event about `data` (call under the world lock, after the state change).
    pub(crate) fn emit(&self, t: &Tenant, event_type: &str, data: &serde_json::Value, now: Timestamp) {
        self.0.webhooks.emit(t, event_type, data, now);
    }

    /// Runs `f` on the tenant's records under the lock.
    pub(crate) fn tenant<R>(&self, id: i64, f: impl FnOnce(&mut Tenant, Timestamp) -> ApiResult<R>) -> ApiResult<R> {
        let now = self.now();
        let mut w = self.lock();
        let t = w
            .tenants
            .get_mut(&id)
            .ok_or_else(|| ApiError::new(http::StatusCode::NOT_FOUND, format!("Tenant {id} not found")))?;
        f(t, now)
    }
}

fn router(state: AppState) -> Router {
    let api = api::routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::gate));
    Router::new()
        .route("/connect/token", axum::routing::post(auth::token))
        .merge(controls::routes())
        .merge(api)
        .fallback(|| async { ApiError::new(http::StatusCode::NOT_FOUND, "Resource not found").into_response() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), requests::record))
        .with_state(state)
}
