//! Fires follow-up steps from the follow-ups queue (a step's one-shot schedule, or a step due at once).
//!
//! For each message: claim the step (a lease, conditional on the run still being at that position and fire
//! sequence, so a duplicate or stale message does nothing); then three parts:
//! - gather (I/O): the tenant, ServiceTitan's live state and the customer's contacts (two calls; an email step
//!   reads the customer's `doNotMail` too), the opt-out and consent ledgers and the recent sends for the recipient;
//! - the pure gate, [`followups::gate::check`]: send (with the exact text, the consent it rests on and the caps it
//!   counts against), defer until a moment, skip, or end the run, each with its reason;
//! - act: reserve the send against the caps, deliver to the AI platform ([`sink`]), record the outcome in the
//!   run's timeline and schedule what comes next.
//!
//! Failures: a ServiceTitan or platform outage is retried through a new schedule with backoff and jitter, and
//! after [`RunnerConfig::max_retries`] the step is parked in the follow-ups dead-letter queue with its reason (a
//! redrive of that message retries it). Our own dependencies failing (DynamoDB, the Scheduler) fail the message,
//! which SQS redelivers.

pub mod payload;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use followup_runtime::TenantView;
use followup_runtime::messages::{STEP_KIND, StepDue};
use followup_runtime::schedules::{ScheduleConfig, Schedules};
use followup_runtime::servicetitan_facts as st;
use followup_runtime::store::{Deferral, RunRecord, RunStatus, StepClaim, StepOutcome, Store};
use followups::decide::HaltReason;
use followups::facts::Facts;
use followups::gate::{self, DeferReason, OptOuts, SendInput, Verdict};
use followups::recipe::{Catalogue, CheckAtSend, Recipe, Step};
use followups::recipient::{self, Contact, ContactKind};
use followups::timing;
use followups::window::Policy;
use servicetitan::{Client, Connections, CredentialStore, DynamoDbTokenStore};
use shared::clock::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::event::EntityKind;
use shared::servicetitan_env::HostsByEnvironment;
use shared::tenant_settings::Channel;
use shared::tenants::TenantRegistry;

use crate::sink::{Delivery, Sink};

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub followups_table: String,
    pub tenants_table: String,
    pub tokens_table: String,
    /// The tenants' request budget shared by every function (`None`: only this process's own limiter).
    pub budget: Option<servicetitan::BudgetLimits>,
    pub tenant_secret_prefix: String,
    pub hosts: HostsByEnvironment,
    pub schedules: ScheduleConfig,
    /// The deployment's sink (`FOLLOWUP_SINK_URL`); a tenant's settings may name another.
    pub sink_url: Option<String>,
    pub sink_secret_id: String,
    pub dead_letter_queue_url: String,
    /// How long a claimed step is held (longer than one step takes; shorter than the queue's visibility timeout).
    pub lease: SignedDuration,
    /// Delivery retries before a step is parked in the dead-letter queue.
    pub max_retries: u32,
    pub sink_timeout: Duration,
    pub secret_cache: SignedDuration,
    /// Where follow-ups may be posted: the allowlist and the address rules, checked at every send.
    pub egress: shared::egress::EgressPolicy,
    /// Where a step goes back, delayed past the lease, when another worker holds it.
    pub requeue: shared::sqs_batch::RequeueConfig,
}

impl RunnerConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let lease = SignedDuration::from_secs(env.parsed_or("FOLLOWUP_LEASE_SECONDS", 60)?);
        Ok(Self {
            followups_table: env.required("FOLLOWUPS_TABLE")?,
            tenants_table: env.required("TENANTS_TABLE")?,
            tokens_table: env.required("TOKENS_TABLE")?,
            budget: servicetitan::BudgetLimits::from_env(env)?,
            tenant_secret_prefix: env.required("TENANT_SECRET_PREFIX")?,
            hosts: HostsByEnvironment::from_env(env),
            schedules: ScheduleConfig::from_env(env)?,
            sink_url: env.var("FOLLOWUP_SINK_URL").filter(|u| !u.trim().is_empty()),
            sink_secret_id: env.required("FOLLOWUP_SINK_SECRET_ID")?,
            dead_letter_queue_url: env.required("FOLLOWUPS_DEAD_LETTER_QUEUE_URL")?,
            lease,
            requeue: shared::sqs_batch::RequeueConfig::from_env(env, "FOLLOWUPS_QUEUE_URL", lease)?,
            max_retries: env.parsed_or("FOLLOWUP_MAX_RETRIES", 10)?,
            sink_timeout: Duration::from_secs(env.parsed_or("FOLLOWUP_SINK_TIMEOUT_SECONDS", 15)?),
            secret_cache: SignedDuration::from_secs(env.parsed_or("FOLLOWUP_SINK_SECRET_CACHE_SECONDS", 300)?),
            egress: shared::egress::EgressPolicy::from_env(env)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct RunnerClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub sqs: aws_sdk_sqs::Client,
}

pub use followup_runtime::StartError;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Deferred(String),
    Skipped(String),
    Failed(String),
    Halted(String),
    /// Delivery kept failing: parked in the dead-letter queue.
    Parked(String),
    /// The run had moved on, ended, or does not exist.
    Stale,
    /// A message that is not a step: parked in the dead-letter queue.
    Poison(String),
}

impl Outcome {
    /// The operations dashboard's count for this outcome, if it counts one.
    pub fn metric(&self) -> Option<&'static str> {
        match self {
            Self::Sent => Some("FollowUpsSent"),
            Self::Skipped(_) | Self::Halted(_) => Some("FollowUpsSuppressed"),
            Self::Deferred(_) => Some("FollowUpsDeferred"),
            Self::Failed(_) | Self::Parked(_) => Some("FollowUpsFailed"),
            Self::Stale | Self::Poison(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("another worker holds this step; retry later")]
    Busy,
    #[error("{0}")]
    Dependency(String),
}

fn dependency(e: impl std::fmt::Display) -> RunError {
    RunError::Dependency(e.to_string())
}

pub struct Runner {
    config: RunnerConfig,
    requeue: shared::sqs_batch::Requeue,
    store: Store,
    schedules: Schedules,
    tenants: TenantRegistry,
    connections: Connections,
    catalogue: Catalogue,
    sink: Sink,
    sqs: aws_sdk_sqs::Client,
    clock: SharedClock,
    jitter: std::sync::atomic::AtomicU64,
}

/// Live facts, or why there are none.
enum Live {
    Facts(Option<Box<Facts>>),
    Gone,
}

/// What the gate decides from, for one step.
struct Gathered {
    tenant: TenantView,
    /// The tenant's effective recipe, or the catalogue's when the tenant switched it off.
    recipe: Recipe,
    enabled: bool,
    live: Live,
    contacts: Vec<Contact>,
    address: Result<String, followups::recipient::NoRecipient>,
    vars: std::collections::BTreeMap<&'static str, String>,
    opt_outs: OptOuts,
    consent: Option<followups::consent::Recorded>,
    recent: Vec<gate::Sent>,
    first_text: bool,
}

enum Gather {
    Ready(Box<Gathered>),
    /// Gathering itself ended the step (a retry scheduled, the run ended).
    Done(Outcome),
}

impl Runner {
    pub fn new(config: RunnerConfig, clients: RunnerClients, clock: SharedClock) -> Result<Self, StartError> {
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
            store: Store::new(clients.dynamodb, config.followups_table.clone()),
            schedules: Schedules::new(
                config.schedules.clone(),
                clients.scheduler,
                clients.sqs.clone(),
                clock.clone(),
            ),
            connections: Connections::new(
                tenants.clone(),
                CredentialStore::new(clients.secrets.clone(), config.tenant_secret_prefix.clone()),
                tokens,
                config.hosts.clone(),
                clock.clone(),
            )
            .with_budget(budget, servicetitan::Priority::Interactive),
            sink: Sink::new(
                clients.secrets.clone(),
                config.sink_secret_id.clone(),
                config.sink_timeout,
                config.secret_cache,
                config.egress.clone(),
                shared::sink_secrets::SinkSecrets::new(clients.secrets.clone(), config.tenant_secret_prefix.clone()),
            ),
            catalogue: Catalogue::load()?,
            requeue: shared::sqs_batch::Requeue::new(clients.sqs.clone(), config.requeue.clone(), clock.clone()),
            sqs: clients.sqs,
            tenants,
            config,
            clock,
            jitter: std::sync::atomic::AtomicU64::new(0x2545_F491_4F6C_DD1D),
        })
    }

    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        shared::sqs_batch::handle(
            &batch,
            |m| self.handle_message(m),
            |e| matches!(e, RunError::Busy).then_some(shared::sqs_batch::Wait::Busy),
            &self.requeue,
        )
        .await
    }

    pub async fn handle_message(&self, message: &SqsMessage) -> Result<Outcome, RunError> {
        let body = message.body.as_deref().unwrap_or("");
        let due: StepDue = match serde_json::from_str::<StepDue>(body) {
            Ok(d) if d.kind == STEP_KIND => d,
            Ok(d) => {
                return self
                    .park(body, &format!("unknown message kind {:?}", d.kind), None)
                    .await;
            }
            Err(e) => {
                return self
                    .park(body, &format!("not a follow-up step message: {e}"), None)
                    .await;
            }
        };
        let span = info_span!("step", tenant_id = %due.tenant_id, run_id = %due.run_id, step = due.step, round = due.round, seq = due.seq);
        self.run_step(&due).instrument(span).await
    }

    /// Sends a message to the dead-letter queue with its reason, so that it is neither lost nor retried blindly.
    async fn park(&self, body: &str, reason: &str, due: Option<&StepDue>) -> Result<Outcome, RunError> {
        let attributes = match due {
            Some(d) => vec![("tenant_id", d.tenant_id.as_str()), ("run_id", d.run_id.as_str())],
            None => Vec::new(),
        };
        shared::sqs_batch::park(&self.sqs, &self.config.dead_letter_queue_url, body, reason, &attributes)
            .await
            .map_err(RunError::Dependency)?;
        Ok(if due.is_some() {
            Outcome::Parked(reason.to_owned())
        } else {
            Outcome::Poison(reason.to_owned())
        })
    }

    async fn run_step(&self, due: &StepDue) -> Result<Outcome, RunError> {
        let now = self.clock.now();
        let tenant_id = due.tenant_id.as_str();
        let run = match self
            .store
            .claim_step(tenant_id, &due.run_id, due.position(), due.seq, now, self.config.lease)
            .await
            .map_err(dependency)?
        {
            StepClaim::Acquired(run) => *run,
            StepClaim::Busy => return Err(RunError::Busy),
            StepClaim::Stale(run) => {
                if let Some(run) = run.filter(|r| r.status == RunStatus::Active && !r.scheduled) {
                    // A crash after the last step was recorded, before the next was scheduled: finish that.
                    info!("repairing a run whose next step was never scheduled");
                    self.schedule_current(tenant_id, &run, now).await?;
                } else {
                    info!("stale or duplicate step message; nothing to do");
                }
                return Ok(Outcome::Stale);
            }
        };
        let outcome = self.decide_and_act(tenant_id, &run, due, now).await;
        if let Some(metric) = outcome.as_ref().ok().and_then(Outcome::metric) {
            shared::metrics::emit("followup-runner", tenant_id, &[(metric, 1)], now);
        }
        if outcome.is_err() {
            // Let the next delivery of this message start at once, not after the lease.
            let _ = self.store.release(tenant_id, &run.run_id).await;
        }
        outcome
    }

    async fn schedule_current(&self, tenant_id: &str, run: &RunRecord, now: Timestamp) -> Result<(), RunError> {
        self.schedules
            .step(tenant_id, &run.run_id, run.position, run.seq, run.due_at.unwrap_or(now))
            .await
            .map_err(dependency)?;
        self.store
            .mark_scheduled(tenant_id, &run.run_id, run.position, run.seq)
            .await
            .map_err(dependency)
    }

    async fn end(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        reason: HaltReason,
        goal: Option<&followups::GoalReached>,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        self.store
            .end_run(tenant_id, run, RunStatus::Halted, reason, goal, now)
            .await
            .map_err(dependency)?;
        info!(reason = %reason.code(), goal = ?goal, "run halted at fire time");
        Ok(Outcome::Halted(reason.code()))
    }

    /// Gather what the gate needs (I/O), let the pure gate decide ([`gate::check`]), then act on its plan.
    async fn decide_and_act(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        due: &StepDue,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        let gathered = match self.gather(tenant_id, run, due, now).await? {
            Gather::Ready(g) => *g,
            Gather::Done(outcome) => return Ok(outcome),
        };
        let g = &gathered;
        let step = &g.recipe.steps[run.position.step];
        let policy = Policy {
            zones: run.profile.zones(),
            state: run.profile.state.clone(),
            class: g.recipe.message_class,
            tenant_quiet: g.tenant.quiet_hours(),
            recipe_window: g.recipe.window,
        };
        let subject = run.subject.key();
        let verdict = gate::check(&SendInput {
            now,
            recipe: &g.recipe,
            position: run.position,
            deadline: timing::deadline(&g.recipe, run.position, run.anchor, &run.profile.zone()),
            held_since: run.held_since,
            anchor: run.anchor,
            subject: &subject,
            tenant: g.tenant.rules(g.enabled),
            live: match &g.live {
                Live::Facts(f) => gate::Live::Facts(f.as_deref()),
                Live::Gone => gate::Live::Gone,
            },
            recipient: g.address.as_deref().map_err(|e| *e),
            vars: &g.vars,
            opt_outs: g.opt_outs,
            consent: g.consent.as_ref(),
            recent_sends: &g.recent,
            window: &policy,
            first_text: g.first_text,
        });
        self.act(tenant_id, run, due, g, step, &policy, verdict, now).await
    }

    /// Reads the tenant, then (while it is connected and the recipe enabled) ServiceTitan's live state, the
    /// contacts, and the ledgers for the recipient. A ServiceTitan failure is retried or ends the run here.
    async fn gather(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        due: &StepDue,
        now: Timestamp,
    ) -> Result<Gather, RunError> {
        let record = self.tenants.get_record(tenant_id).await.map_err(dependency)?;
        let Some(record) = record else {
            // Gone from the registry: as disconnected.
            return Ok(Gather::Done(
                self.end(tenant_id, run, HaltReason::TenantDisconnected, None, now)
                    .await?,
            ));
        };
        let tenant = TenantView::load(&self.catalogue, &self.store, record)
            .await
            .map_err(dependency)?;
        let enabled = tenant.recipes.get(&run.recipe).cloned();
        let Some(recipe) = enabled.clone().or_else(|| self.catalogue.get(&run.recipe).cloned()) else {
            return Ok(Gather::Done(
                self.end(tenant_id, run, HaltReason::RecipeDisabled, None, now).await?,
            ));
        };
        if recipe.steps.get(run.position.step).is_none() {
            // The recipe lost steps since the run was planned.
            let outcome = StepOutcome::Skipped {
                reason: "step_removed".into(),
                detail: json!({}),
            };
            return Ok(Gather::Done(
                self.finish_step(tenant_id, run, &recipe, "-", outcome, now).await?,
            ));
        }
        let step = recipe.steps[run.position.step].clone();
        let mut g = Gathered {
            vars: payload::variables(&recipe, None, &run.profile, tenant.settings.as_ref()),
            enabled: enabled.is_some(),
            recipe,
            live: Live::Facts(None),
            contacts: Vec::new(),
            address: Err(followups::recipient::NoRecipient::NoPhone),
            opt_outs: OptOuts::default(),
            consent: None,
            recent: Vec::new(),
            first_text: false,
            tenant,
        };
        if !g.tenant.connected() || !g.enabled {
            // The gate ends the run on these before it looks at anything else.
            return Ok(Gather::Ready(Box::new(g)));
        }
        let step_id = step.id.as_str();
        let retry = |reason: String| async move { self.retry(tenant_id, run, step_id, &reason, None, due, now).await };
        let client = match self.connections.client_for(&g.tenant.record).await {
            Ok(c) => c,
            Err(e) => return Ok(Gather::Done(retry(format!("ServiceTitan connection: {e}")).await?)),
        };
        g.live = match self.live_facts(&client, &g.recipe, run, now).await {
            Ok(l) => l,
            Err(e) if e.is_transient() => return Ok(Gather::Done(retry(format!("ServiceTitan: {e}")).await?)),
            Err(e) => {
                return Ok(Gather::Done(
                    self.end_with_error(tenant_id, run, &step.id, &e, now).await?,
                ));
            }
        };
        let (contacts, do_not_mail) = match self.contacts(&client, run, step.channel).await {
            Ok(c) => c,
            Err(e) if e.is_transient() => {
                return Ok(Gather::Done(retry(format!("ServiceTitan contacts: {e}")).await?));
            }
            Err(e) => {
                return Ok(Gather::Done(
                    self.end_with_error(tenant_id, run, &step.id, &e, now).await?,
                ));
            }
        };
        g.address = recipient::pick(step.channel, &contacts, do_not_mail);
        g.contacts = contacts;
        let facts = match &g.live {
            Live::Facts(f) => f.as_deref(),
            Live::Gone => None,
        };
        g.vars = payload::variables(&g.recipe, facts, &run.profile, g.tenant.settings.as_ref());
        let channel = followups::optout::channel_name(step.channel);
        if let Ok(address) = &g.address {
            g.opt_outs = self
                .store
                .opt_out_of(tenant_id, address)
                .await
                .map_err(dependency)?
                .map_or(OptOuts::default(), |e| e.covers(channel));
            if step.channel == Channel::Voice {
                g.consent = self
                    .store
                    .consent_of(tenant_id, address, channel)
                    .await
                    .map_err(dependency)?;
            }
            if step.channel == Channel::Sms {
                g.first_text = !self.store.texted_before(tenant_id, address).await.map_err(dependency)?;
            }
        }
        let cap = g.tenant.rules(true).cap;
        let key = gate::cap_key(
            run.profile.customer_id,
            g.address.as_deref().ok(),
            g.recipe.message_class,
        );
        // A day at least: a state's cap on one subject counts 24 hours.
        let per = cap.per.max(SignedDuration::from_hours(24));
        g.recent = self
            .store
            .recent_sends(tenant_id, &key, now, per)
            .await
            .map_err(dependency)?;
        Ok(Gather::Ready(Box::new(g)))
    }

    /// The customer's contacts (for email, with ServiceTitan's `doNotMail` read live from the customer), or a missed
    /// call's caller.
    async fn contacts(
        &self,
        client: &Client,
        run: &RunRecord,
        channel: Channel,
    ) -> Result<(Vec<Contact>, bool), servicetitan::Error> {
        let Some(id) = run.profile.customer_id else {
            let caller = run
                .profile
                .phone
                .iter()
                .map(|p| Contact {
                    kind: ContactKind::MobilePhone,
                    value: p.clone(),
                    do_not_text: false,
                })
                .collect();
            return Ok((caller, false));
        };
        let contacts = st::contacts(client, id).await?;
        let do_not_mail = if channel == Channel::Email {
            client.customer(id).await?.do_not_mail
        } else {
            run.profile.do_not_mail
        };
        Ok((contacts, do_not_mail))
    }

    /// Carries out the gate's verdict.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        due: &StepDue,
        g: &Gathered,
        step: &Step,
        policy: &Policy,
        verdict: Verdict,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        let recipe = &g.recipe;
        let channel_name = followups::optout::channel_name(step.channel);
        match verdict {
            Verdict::Halt { reason, goal } => self.end(tenant_id, run, reason, goal.as_ref(), now).await,
            Verdict::Skip { reason } => {
                let outcome = StepOutcome::Skipped {
                    reason: reason.code(),
                    detail: json!({"channel": channel_name}),
                };
                self.finish_step(tenant_id, run, recipe, &step.id, outcome, now).await
            }
            Verdict::Defer { until, reason } => {
                let kind = if reason == DeferReason::Held {
                    Deferral::Hold
                } else {
                    Deferral::Wait
                };
                self.defer(
                    tenant_id,
                    run,
                    &step.id,
                    until,
                    reason.code(),
                    kind,
                    &reason.detail(),
                    now,
                )
                .await
            }
            Verdict::Send(plan) => {
                let address = g.address.as_deref().expect("the gate sends only with a recipient");
                let webhook_id =
                    followups::ids::webhook_id(tenant_id, &run.run_id, run.position.step, run.position.round);
                let key = gate::cap_key(run.profile.customer_id, Some(address), recipe.message_class);
                let subject = run.subject.key();
                let limits = gate::Limits::of(g.tenant.rules(true).cap, policy, &subject);
                if let Err((opening, reason)) = self
                    .store
                    .reserve_send(tenant_id, &key, &webhook_id, &subject, now, &limits)
                    .await
                    .map_err(dependency)?
                {
                    // Another recipe reached this person first.
                    return self
                        .defer(
                            tenant_id,
                            run,
                            &step.id,
                            opening,
                            reason.code(),
                            Deferral::Wait,
                            &reason.detail(),
                            now,
                        )
                        .await;
                }
                let settings = g.tenant.settings.as_ref();
                let booking = settings
                    .and_then(|s| s.booking_url.clone())
                    .filter(|_| plan.booking_link);
                let facts = match &g.live {
                    Live::Facts(f) => f.as_deref(),
                    Live::Gone => None,
                };
                let body = payload::body(&payload::Followup {
                    tenant_id,
                    run_id: &run.run_id,
                    recipe,
                    step,
                    position: run.position,
                    recipient: payload::recipient(step.channel, address, &g.contacts, &run.profile),
                    facts,
                    profile: &run.profile,
                    subject_kind: run.subject.kind,
                    subject_id: &run.subject.id,
                    text: &plan.text,
                    consent: &plan.consent,
                    booking_url: booking.as_deref(),
                    step_at: timing::step_time(recipe, run.position, run.anchor, &run.profile.zone()),
                })
                .to_string();
                let Some(url) = gate::sink(
                    settings.and_then(|s| s.followup_sink_url.as_deref()),
                    self.config.sink_url.as_deref(),
                ) else {
                    return self
                        .retry(
                            tenant_id,
                            run,
                            &step.id,
                            "no FOLLOWUP_SINK_URL is configured",
                            None,
                            due,
                            now,
                        )
                        .await;
                };
                let own_sink = settings.and_then(|s| s.followup_sink_url.as_deref()).is_some();
                match self
                    .sink
                    .deliver(url, &webhook_id, &body, tenant_id, own_sink, now)
                    .await
                    .map_err(dependency)?
                {
                    Delivery::Delivered { status, opt_out } => {
                        self.store
                            .index_address(tenant_id, address, run, now)
                            .await
                            .map_err(dependency)?;
                        if step.channel == Channel::Sms {
                            self.store
                                .mark_texted(tenant_id, address, now)
                                .await
                                .map_err(dependency)?;
                        }
                        let detail = json!({
                            "channel": channel_name, "to": address, "webhookId": webhook_id, "status": status,
                            "consent": plan.consent, "optOutNotice": plan.opt_out_notice, "afterHours": plan.after_hours,
                        });
                        let outcome = self
                            .finish_step(tenant_id, run, recipe, &step.id, StepOutcome::Sent { detail }, now)
                            .await?;
                        if let Some(scope) = opt_out {
                            self.reply_opt_out(tenant_id, address, step.channel, scope, now).await?;
                        }
                        info!(channel = channel_name, "follow-up delivered");
                        Ok(outcome)
                    }
                    Delivery::Retry { reason, retry_after } => {
                        self.retry(tenant_id, run, &step.id, &reason, retry_after, due, now)
                            .await
                    }
                    Delivery::Rejected { status, reason } => {
                        let outcome = StepOutcome::Failed {
                            reason: format!("rejected_{status}"),
                            detail: json!({"channel": channel_name, "error": reason}),
                        };
                        self.finish_step(tenant_id, run, recipe, &step.id, outcome, now).await
                    }
                }
            }
        }
    }

    /// The live facts the recipe checks at send time (one ServiceTitan call, or none).
    async fn live_facts(
        &self,
        client: &Client,
        recipe: &Recipe,
        run: &RunRecord,
        now: Timestamp,
    ) -> Result<Live, servicetitan::Error> {
        let id: Option<i64> = run.subject.id.parse().ok();
        let gone_on_404 = |r: Result<Facts, servicetitan::Error>| match r {
            Ok(f) => Ok(Live::Facts(Some(Box::new(f)))),
            Err(servicetitan::Error::Api { status: 404, .. }) => Ok(Live::Gone),
            Err(e) => Err(e),
        };
        match (recipe.check_at_send, run.subject.kind, id) {
            (CheckAtSend::None, _, _) | (_, EntityKind::Call, _) => Ok(Live::Facts(None)),
            (_, _, None) => Ok(Live::Gone),
            (CheckAtSend::Subject, EntityKind::Estimate, Some(id)) => gone_on_404(
                st::estimate_among_options(client, id, run.profile.job_id)
                    .await
                    .map(|(me, _)| me),
            ),
            (CheckAtSend::Subject, EntityKind::Invoice, Some(id)) => Ok(st::invoice(client, id)
                .await?
                .map_or(Live::Gone, |f| Live::Facts(Some(Box::new(f))))),
            (CheckAtSend::Subject, EntityKind::Appointment, Some(id)) => {
                gone_on_404(st::appointment(client, id, now).await)
            }
            (CheckAtSend::Subject, EntityKind::Job, Some(id)) => {
                gone_on_404(client.job(id).await.map(|j| st::job_facts(&j)))
            }
            // The invoice a step waits for may not exist yet: nothing read, which a hold treats as not paid.
            (CheckAtSend::Invoice, _, _) => match run.profile.invoice_id {
                Some(inv) => Ok(Live::Facts(st::invoice(client, inv).await?.map(Box::new))),
                None => Ok(Live::Facts(None)),
            },
            (CheckAtSend::JobAppointments, _, Some(id)) => match run.profile.job_id {
                Some(job) => Ok(st::appointment_among_job(client, job, id, now)
                    .await?
                    .map_or(Live::Gone, |f| Live::Facts(Some(Box::new(f))))),
                None => gone_on_404(st::appointment(client, id, now).await),
            },
            _ => Ok(Live::Facts(None)),
        }
    }

    /// A ServiceTitan answer that will not change on a retry (e.g. the tenant's app key was revoked).
    async fn end_with_error(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        e: &servicetitan::Error,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        match e {
            servicetitan::Error::Api { status: 404, .. } => {
                self.end(tenant_id, run, HaltReason::EntityGone, None, now).await
            }
            // Credentials refused: token-refresh marks the tenant unhealthy; the step waits for a reconnect.
            other => {
                warn!(error = %other, "ServiceTitan refused the read; retrying later");
                let at = now + SignedDuration::from_hours(1);
                self.defer(
                    tenant_id,
                    run,
                    step_id,
                    at,
                    "servicetitan_refused",
                    Deferral::Retry,
                    &json!({"error": other.to_string()}),
                    now,
                )
                .await
            }
        }
    }

    /// Records the step's outcome and schedules what comes next (or ends the run).
    async fn finish_step(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        recipe: &Recipe,
        step_id: &str,
        outcome: StepOutcome,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        let tz = run.profile.zone();
        let next = timing::plan_after(recipe, run.position, run.anchor, &tz, now);
        let result = match &outcome {
            StepOutcome::Sent { .. } => Outcome::Sent,
            StepOutcome::Skipped { reason, .. } => Outcome::Skipped(reason.clone()),
            StepOutcome::Failed { reason, .. } => Outcome::Failed(reason.clone()),
        };
        if !self
            .store
            .advance(tenant_id, run, step_id, &outcome, &next, now)
            .await
            .map_err(dependency)?
        {
            // Halted concurrently (a sold estimate, a reply): nothing more to do.
            return Ok(Outcome::Stale);
        }
        if let Ok(planned) = next {
            self.schedules
                .step(tenant_id, &run.run_id, planned.position, 0, planned.at)
                .await
                .map_err(dependency)?;
            self.store
                .mark_scheduled(tenant_id, &run.run_id, planned.position, 0)
                .await
                .map_err(dependency)?;
        }
        Ok(result)
    }

    #[allow(clippy::too_many_arguments)]
    async fn defer(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        until: Timestamp,
        reason: &str,
        kind: Deferral,
        detail: &serde_json::Value,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        if !self
            .store
            .defer(tenant_id, run, step_id, until, reason, kind, detail, now)
            .await
            .map_err(dependency)?
        {
            return Ok(Outcome::Stale);
        }
        let seq = run.seq + 1;
        self.schedules
            .step(tenant_id, &run.run_id, run.position, seq, until)
            .await
            .map_err(dependency)?;
        self.store
            .mark_scheduled(tenant_id, &run.run_id, run.position, seq)
            .await
            .map_err(dependency)?;
        info!(reason, until = %until, "step deferred");
        Ok(Outcome::Deferred(reason.to_owned()))
    }

    /// A transient failure: try again after a backoff with jitter, or park the step once retries are used up.
    #[allow(clippy::too_many_arguments)]
    async fn retry(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        reason: &str,
        retry_after: Option<SignedDuration>,
        due: &StepDue,
        now: Timestamp,
    ) -> Result<Outcome, RunError> {
        if run.retries >= self.config.max_retries {
            self.store
                .stall(tenant_id, run, step_id, reason, now)
                .await
                .map_err(dependency)?;
            let message = serde_json::to_string(due).expect("the message serialises");
            return self
                .park(
                    &message,
                    &format!("gave up after {} retries: {reason}", run.retries),
                    Some(due),
                )
                .await;
        }
        let jitter = {
            use std::sync::atomic::Ordering;
            let mut x = self.jitter.load(Ordering::Relaxed) ^ (now.as_millisecond() as u64);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.jitter.store(x, Ordering::Relaxed);
            x
        };
        let wait = timing::retry_delay(run.retries, jitter).max(retry_after.unwrap_or(SignedDuration::ZERO));
        self.defer(
            tenant_id,
            run,
            step_id,
            now + wait,
            "retry",
            Deferral::Retry,
            &json!({"error": reason}),
            now,
        )
        .await
    }

    /// The platform's reply said the recipient opted out: into the ledger, and every run writing to them halts.
    async fn reply_opt_out(
        &self,
        tenant_id: &str,
        address: &str,
        channel: Channel,
        signal: sink::OptOutSignal,
        now: Timestamp,
    ) -> Result<(), RunError> {
        let scope = match signal {
            sink::OptOutSignal::ThisChannel => followups::optout::Scope::Channels(vec![channel]),
            sink::OptOutSignal::Scope(s) => s,
        };
        let names = followups::optout::for_the_address(scope, channel).names();
        let reason = json!({"source": "sink_reply", "at": shared::clock::iso_millis(now)});
        self.store
            .add_opt_out(tenant_id, address, &names, &reason, now)
            .await
            .map_err(dependency)?;
        for (run_id, _) in self
            .store
            .runs_for_address(tenant_id, address)
            .await
            .map_err(dependency)?
        {
            if let Some(run) = self.store.run(tenant_id, &run_id).await.map_err(dependency)? {
                followup_runtime::halt(
                    &self.store,
                    &self.schedules,
                    tenant_id,
                    &run,
                    HaltReason::OptedOut,
                    None,
                    &reason,
                    now,
                )
                .await
                .map_err(dependency)?;
            }
        }
        Ok(())
    }
}
