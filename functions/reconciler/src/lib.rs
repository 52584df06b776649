//! Reconciles one tenant per message from the reconcile queue, so webhooks are an accelerator rather than a
//! dependency: with them off, every follow-up still starts and stops within one reconcile interval.
//!
//! For a tenant it takes the tenant's lease (no two reconciles of one tenant overlap), works out which export feeds
//! its enabled recipes need, and reads each from its cursor ([`feed_pass`]). A slow or broken tenant holds only its
//! own message; others are other messages, read by other invocations.
//!
//! A message that is not a reconcile request is parked in the reconcile dead-letter queue with its reason. A
//! reconcile whose lease is held elsewhere is retried by the queue (and then usually found stale). ServiceTitan down
//! is not a failure of the message: the feed's error is recorded for the status page, the cursor stays, and the
//! next interval tries again.

pub mod feed_pass;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use jiff::{SignedDuration, Timestamp};
use tracing::{Instrument, info, info_span, warn};

use followup_runtime::TenantView;
use followup_runtime::store::Store;
use followups::recipe::Catalogue;
use lead_runtime::store::LeadStore;
use reconcile::feeds;
use reconcile::messages::{Reason, ReconcileRequest};
use servicetitan::{Connections, CredentialStore, DynamoDbTokenStore};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::reconcile_state::ReconcileStore;
use shared::servicetitan_env::HostsByEnvironment;
use shared::tenants::{TenantRegistry, TenantStatus};

pub use followup_runtime::StartError;

#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    pub tenants_table: String,
    pub tokens_table: String,
    /// The tenants' request budget shared by every function (`None`: only this process's own limiter).
    pub budget: Option<servicetitan::BudgetLimits>,
    pub tenant_secret_prefix: String,
    pub hosts: HostsByEnvironment,
    pub reconcile_table: String,
    pub followups_table: String,
    pub leads_table: String,
    pub events_queue_url: String,
    pub leads_queue_url: String,
    pub reconcile_queue_url: String,
    pub dead_letter_queue_url: String,
    /// How far back a feed starts the first time (a new tenant, or one that switched a recipe on).
    pub lookback: SignedDuration,
    /// The schedule's period (for the lag figures).
    pub interval: SignedDuration,
    /// Pages read per feed in one reconcile before handing over to a continuation message.
    pub max_pages: u32,
    /// Time one reconcile may take before handing over (well under the function's timeout).
    pub time_budget: SignedDuration,
    /// How long the tenant's lease lasts (more than the time budget plus one page).
    pub lease: SignedDuration,
    /// A missed call found later than this after it came in is not texted back (at least two intervals).
    pub missed_call_max_age: SignedDuration,
    /// Write one EMF line per reconcile (`METRICS_ENABLED`, default on).
    pub metrics: bool,
    /// Where a request goes back, delayed past the lease, when another reconcile holds the tenant.
    pub requeue: shared::sqs_batch::RequeueConfig,
}

impl ReconcilerConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let interval = SignedDuration::from_mins(env.parsed_or("RECONCILE_INTERVAL_MINUTES", 5)?);
        let lease = SignedDuration::from_secs(env.parsed_or("RECONCILE_LEASE_SECONDS", 150)?);
        Ok(Self {
            tenants_table: env.required("TENANTS_TABLE")?,
            tokens_table: env.required("TOKENS_TABLE")?,
            budget: servicetitan::BudgetLimits::from_env(env)?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            hosts: HostsByEnvironment::from_env(env),
            reconcile_table: env.required("RECONCILE_TABLE")?,
            followups_table: env.required("FOLLOWUPS_TABLE")?,
            leads_table: env.required("LEADS_TABLE")?,
            events_queue_url: env.required("EVENTS_QUEUE_URL")?,
            leads_queue_url: env.required("LEADS_QUEUE_URL")?,
            reconcile_queue_url: env.required("RECONCILE_QUEUE_URL")?,
            dead_letter_queue_url: env.required("RECONCILE_DEAD_LETTER_QUEUE_URL")?,
            lookback: SignedDuration::from_hours(24 * env.parsed_or::<i64>("RECONCILE_LOOKBACK_DAYS", 14)?),
            interval,
            max_pages: env.parsed_or("RECONCILE_MAX_PAGES_PER_FEED", 20)?,
            time_budget: SignedDuration::from_secs(env.parsed_or("RECONCILE_TIME_BUDGET_SECONDS", 60)?),
            lease,
            requeue: shared::sqs_batch::RequeueConfig::from_env(env, "RECONCILE_QUEUE_URL", lease)?,
            // Never less than two intervals: a call is always texted when the first reconcile after it finds it.
            missed_call_max_age: SignedDuration::from_mins(env.parsed_or("RECONCILE_MISSED_CALL_MAX_AGE_MINUTES", 60)?)
                .max(interval * 2),
            metrics: shared::config::parse_bool("METRICS_ENABLED", env.var("METRICS_ENABLED"), true)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ReconcilerClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// What one message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reconciled(Summary),
    /// A scheduled request that a later reconcile already covered.
    Stale,
    /// The tenant is not connected (any more).
    NotConnected,
    Parked(String),
}

/// One reconcile, for the log, the metric line and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub feeds: Vec<feed_pass::FeedOutcome>,
    /// Pages were left (time budget or page limit): a continuation message was queued.
    pub continued: bool,
}

impl Summary {
    pub fn changes(&self) -> u64 {
        self.feeds.iter().map(|f| f.progress.changes).sum()
    }

    pub fn records(&self) -> u64 {
        self.feeds.iter().map(|f| f.progress.records).sum()
    }

    pub fn errors(&self) -> Vec<&str> {
        self.feeds.iter().filter_map(|f| f.error.as_deref()).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Another reconcile of this tenant holds the lease: the queue redelivers this message later.
    #[error("another reconcile of this tenant is running")]
    Busy,
    /// One of our own dependencies (DynamoDB, SQS, Secrets Manager): the queue redelivers.
    #[error("{0}")]
    Dependency(String),
}

pub struct Reconciler {
    config: ReconcilerConfig,
    requeue: shared::sqs_batch::Requeue,
    tenants: TenantRegistry,
    state: ReconcileStore,
    snapshots: Store,
    leads: LeadStore,
    connections: Connections,
    catalogue: Catalogue,
    sqs: aws_sdk_sqs::Client,
    clock: SharedClock,
}

impl Reconciler {
    pub fn new(config: ReconcilerConfig, clients: ReconcilerClients, clock: SharedClock) -> Result<Self, StartError> {
        // ServiceTitan's 60 requests/s per tenant are shared with every other function calling it.
        let budget = config.budget.map(|limits| {
            Arc::new(servicetitan::SharedBudget::new(
                clients.dynamodb.clone(),
                config.tokens_table.clone(),
                limits,
            ))
        });
        let tenants = TenantRegistry::new(clients.dynamodb.clone(), config.tenants_table.clone());
        let tokens = Arc::new(
            DynamoDbTokenStore::new(clients.dynamodb.clone(), config.tokens_table.clone()).with_clock(clock.clone()),
        );
        Ok(Self {
            state: ReconcileStore::new(clients.dynamodb.clone(), config.reconcile_table.clone()),
            snapshots: Store::new(clients.dynamodb.clone(), config.followups_table.clone()),
            leads: LeadStore::new(clients.dynamodb, config.leads_table.clone()),
            connections: Connections::new(
                tenants.clone(),
                CredentialStore::new(clients.secrets, config.tenant_secret_prefix.clone()),
                tokens,
                config.hosts.clone(),
                clock.clone(),
            )
            .with_budget(budget, servicetitan::Priority::Background),
            catalogue: Catalogue::load()?,
            requeue: shared::sqs_batch::Requeue::new(clients.sqs.clone(), config.requeue.clone(), clock.clone()),
            sqs: clients.sqs,
            tenants,
            config,
            clock,
        })
    }

    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        shared::sqs_batch::handle(
            &batch,
            |m| self.handle_message(m),
            |e| matches!(e, ReconcileError::Busy).then_some(shared::sqs_batch::Wait::Busy),
            &self.requeue,
        )
        .await
    }

    pub async fn handle_message(&self, message: &SqsMessage) -> Result<Outcome, ReconcileError> {
        let body = message.body.as_deref().unwrap_or("");
        let request: ReconcileRequest = match serde_json::from_str(body) {
            Ok(r) => r,
            Err(e) => {
                let reason = format!("not a reconcile request: {e}");
                shared::sqs_batch::park(&self.sqs, &self.config.dead_letter_queue_url, body, &reason, &[])
                    .await
                    .map_err(ReconcileError::Dependency)?;
                return Ok(Outcome::Parked(reason));
            }
        };
        let holder = message.message_id.clone().unwrap_or_else(|| body.to_owned());
        let span = info_span!("reconcile", tenant_id = %request.tenant_id, reason = ?request.reason);
        self.reconcile(&request, &holder).instrument(span).await
    }

    /// Reconciles the request's tenant under its lease, held as `holder`.
    pub async fn reconcile(&self, request: &ReconcileRequest, holder: &str) -> Result<Outcome, ReconcileError> {
        let dependency = |e: &dyn std::fmt::Display| ReconcileError::Dependency(e.to_string());
        let tenant_id = &request.tenant_id;
        let run = self.state.run_state(tenant_id).await.map_err(|e| dependency(&e))?;
        if request.is_stale(run.last_started_at) {
            info!("a later reconcile covered this request");
            return Ok(Outcome::Stale);
        }
        let started = self.clock.now();
        if !self
            .state
            .acquire(tenant_id, holder, started, self.config.lease)
            .await
            .map_err(|e| dependency(&e))?
        {
            return Err(ReconcileError::Busy);
        }
        let result = self.reconcile_held(tenant_id, started).await;
        let (outcome, success) = match &result {
            Ok(Outcome::Reconciled(s)) if s.errors().is_empty() => ("reconciled".to_owned(), true),
            Ok(Outcome::Reconciled(s)) => (format!("feeds failed: {}", s.errors().join("; ")), false),
            Ok(Outcome::NotConnected) => ("not_connected".to_owned(), false),
            Ok(other) => (format!("{other:?}"), false),
            Err(e) => (e.to_string(), false),
        };
        let released = self
            .state
            .release(tenant_id, holder, &outcome, success, self.clock.now())
            .await;
        let outcome = result?;
        released.map_err(|e| dependency(&e))?;
        Ok(outcome)
    }

    async fn reconcile_held(&self, tenant_id: &str, started: Timestamp) -> Result<Outcome, ReconcileError> {
        let dependency = |e: &dyn std::fmt::Display| ReconcileError::Dependency(e.to_string());
        let Some(record) = self.tenants.get_record(tenant_id).await.map_err(|e| dependency(&e))? else {
            return Ok(Outcome::NotConnected);
        };
        if record.tenant.status != TenantStatus::Connected {
            return Ok(Outcome::NotConnected);
        }
        let tenant = TenantView::load(&self.catalogue, &self.snapshots, record)
            .await
            .map_err(|e| dependency(&e))?;
        let needed = feeds::needed(tenant.recipes.enabled.iter().map(|r| r.subject));
        let mut summary = Summary::default();
        if needed.is_empty() {
            info!("no enabled recipe needs a feed");
            return Ok(Outcome::Reconciled(summary));
        }
        let client = match self.connections.client_for(&tenant.record).await {
            Ok(c) => c,
            Err(servicetitan::ConnectionError::NotConnected(_)) => return Ok(Outcome::NotConnected),
            Err(e) => {
                // Credentials unreadable or the token refused: every feed waits for the next interval.
                let error = e.to_string();
                for feed in &needed {
                    self.state
                        .record_error(tenant_id, feed.as_str(), &error, self.clock.now())
                        .await
                        .map_err(|e| dependency(&e))?;
                    summary.feeds.push(feed_pass::FeedOutcome::failed(*feed, error.clone()));
                }
                return Ok(Outcome::Reconciled(summary));
            }
        };
        let deadline = started + self.config.time_budget;
        let pass = self.pass(&tenant, &client);
        for feed in needed {
            let outcome = pass.run(feed, deadline).await?;
            summary.continued |= outcome.more;
            summary.feeds.push(outcome);
        }
        if summary.continued {
            self.request(tenant_id, Reason::Continue).await?;
        }
        self.metrics(tenant_id, &summary).await;
        info!(
            records = summary.records(),
            changes = summary.changes(),
            errors = summary.errors().len(),
            continued = summary.continued,
            "reconciled"
        );
        Ok(Outcome::Reconciled(summary))
    }

    fn pass<'a>(&'a self, tenant: &'a TenantView, client: &'a servicetitan::Client) -> feed_pass::FeedPass<'a> {
        feed_pass::FeedPass {
            tenant,
            client,
            state: &self.state,
            snapshots: &self.snapshots,
            leads: &self.leads,
            sqs: &self.sqs,
            config: &self.config,
            clock: &self.clock,
        }
    }

    /// [`feed_pass::FeedPass::queue_next_page`] for a tenant: a reconcile that queued a page's changes and died
    /// before moving the cursor (the crash tests use it).
    pub async fn queue_next_page(
        &self,
        tenant_id: &str,
        feed: reconcile::feeds::Feed,
    ) -> Result<shared::reconcile_state::PageProgress, ReconcileError> {
        let dependency = |e: &dyn std::fmt::Display| ReconcileError::Dependency(e.to_string());
        let record = self
            .tenants
            .get_record(tenant_id)
            .await
            .map_err(|e| dependency(&e))?
            .ok_or_else(|| ReconcileError::Dependency(format!("no tenant {tenant_id}")))?;
        let tenant = TenantView::load(&self.catalogue, &self.snapshots, record)
            .await
            .map_err(|e| dependency(&e))?;
        let client = self
            .connections
            .client_for(&tenant.record)
            .await
            .map_err(|e| dependency(&e))?;
        self.pass(&tenant, &client).queue_next_page(feed).await
    }

    /// Queues a reconcile of the tenant (a continuation).
    async fn request(&self, tenant_id: &str, reason: Reason) -> Result<(), ReconcileError> {
        let body = ReconcileRequest::new(tenant_id, reason, self.clock.now()).to_body();
        shared::sqs_batch::send_all(&self.sqs, &self.config.reconcile_queue_url, &[body])
            .await
            .map_err(ReconcileError::Dependency)
    }

    /// One EMF line: the tenant's worst feed lag (the alarm's metric) and this reconcile's counts.
    async fn metrics(&self, tenant_id: &str, summary: &Summary) {
        if !self.config.metrics {
            return;
        }
        let now = self.clock.now();
        let lag = match self.state.feeds(tenant_id).await {
            Ok(feeds) => feeds
                .iter()
                .filter(|f| summary.feeds.iter().any(|o| o.feed.as_str() == f.feed))
                .map(|f| {
                    f.lag(now)
                        .unwrap_or_else(|| now.duration_since(f.started_from.unwrap_or(now)))
                })
                .max()
                .unwrap_or(SignedDuration::ZERO),
            Err(e) => {
                warn!(error = %e, "could not read the feeds for the lag metric");
                return;
            }
        };
        let gaps: u64 = summary.feeds.iter().map(|f| f.progress.webhook_gaps).sum();
        let lag_seconds = lag.as_secs_f64().max(0.0);
        let interval = self.config.interval.as_secs_f64().max(1.0);
        shared::metrics::emit_with_units(
            "reconciler",
            tenant_id,
            &[
                ("ReconcileLagSeconds", lag_seconds.round(), "Seconds"),
                // The alarm's metric: the lag in reconcile intervals (alarm above 3).
                (
                    "ReconcileLagIntervals",
                    (lag_seconds / interval * 100.0).round() / 100.0,
                    "None",
                ),
                ("ReconcileChanges", summary.changes() as f64, "Count"),
                ("ReconcileWebhookGaps", gaps as f64, "Count"),
                ("ReconcileFeedErrors", summary.errors().len() as f64, "Count"),
            ],
            now,
        );
    }
}
