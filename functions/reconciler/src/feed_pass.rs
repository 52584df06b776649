//! One feed of one tenant, read from its cursor: a page, its changes queued, then the cursor moved past it.
//!
//! A record the engine already has (its snapshot is as new) is only counted, not queued: with webhooks working the
//! reconciler mostly confirms, and costs the processor nothing. Everything else is queued as the event the webhook
//! would have been, and counted as a webhook gap (or as backfill while the feed is still reading its lookback).
//! Missed calls in the phone log become leads, which make or match the customer and start the text-back.

use std::collections::HashSet;

use jiff::Timestamp;
use tracing::{info, warn};

use followup_runtime::TenantView;
use followup_runtime::store::Store;
use followups::decide::Subject;
use lead_runtime::store::LeadStore;
use lead_runtime::submit::{Submitted, Submitter};
use reconcile::changes::{self, Change};
use reconcile::feeds::Feed;
use reconcile::missed_calls;
use servicetitan::Client;
use servicetitan::models::telecom::ExportCall;
use shared::clock::{SharedClock, iso_millis};
use shared::event::{EntityKind, EventSource};
use shared::reconcile_state::{FeedState, PageProgress, ReconcileStore};

use crate::{ReconcileError, ReconcilerConfig};

/// What reading one feed came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedOutcome {
    pub feed: Feed,
    pub pages: u32,
    pub progress: PageProgress,
    /// Missed calls taken in as leads.
    pub leads: u64,
    /// ServiceTitan could not be read; the cursor stays where it was.
    pub error: Option<String>,
    /// Pages are left for a continuation.
    pub more: bool,
}

impl FeedOutcome {
    fn new(feed: Feed) -> Self {
        Self {
            feed,
            pages: 0,
            progress: PageProgress::default(),
            leads: 0,
            error: None,
            more: false,
        }
    }

    pub fn failed(feed: Feed, error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::new(feed)
        }
    }

    fn add(&mut self, page: &PageProgress) {
        let p = &mut self.progress;
        p.records += page.records;
        p.changes += page.changes;
        p.confirmed += page.confirmed;
        p.backfilled += page.backfilled;
        p.webhook_gaps += page.webhook_gaps;
        p.complete = page.complete;
        p.cursor.clone_from(&page.cursor);
        p.position = p.position.max(page.position);
    }
}

/// One page as read, before anything is queued.
struct Page {
    changes: Vec<Change>,
    calls: Vec<ExportCall>,
    records: u64,
    newest: Option<Timestamp>,
    continue_from: Option<String>,
    has_more: bool,
}

impl Page {
    fn of<T>(page: servicetitan::paging::ExportPage<T>, modified: impl Fn(&T) -> Timestamp) -> (Self, Vec<T>) {
        let newest = page.data.iter().map(&modified).max();
        (
            Self {
                changes: Vec::new(),
                calls: Vec::new(),
                records: page.data.len() as u64,
                newest,
                continue_from: page.continue_from,
                has_more: page.has_more,
            },
            page.data,
        )
    }
}

pub struct FeedPass<'a> {
    pub tenant: &'a TenantView,
    pub client: &'a Client,
    pub state: &'a ReconcileStore,
    pub snapshots: &'a Store,
    pub leads: &'a LeadStore,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub config: &'a ReconcilerConfig,
    pub clock: &'a SharedClock,
}

fn dependency(e: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Dependency(e.to_string())
}

impl FeedPass<'_> {
    /// Reads `feed` from its cursor until its end, the page limit or `deadline`.
    pub async fn run(&self, feed: Feed, deadline: Timestamp) -> Result<FeedOutcome, ReconcileError> {
        let tenant_id = self.tenant.tenant_id();
        let (mut state, mut from) = self.start(feed).await?;
        // Until the feed has read to its end once, what it finds is the lookback, not webhooks that went missing.
        let backfill = state.complete_as_of.is_none();
        let mut out = FeedOutcome::new(feed);
        if feed == Feed::Invoices && state.cursor.is_none() && backfill && self.includes_existing_overdue() {
            self.sweep_overdue(&mut out).await?;
        }
        for _ in 0..self.config.max_pages.max(1) {
            let page = match self.read(feed, &from).await {
                Ok(p) => p,
                Err(e) => {
                    let error = format!("reading the {} feed: {e}", feed.as_str());
                    warn!(%error, "feed not read; the cursor stays");
                    self.state
                        .record_error(tenant_id, feed.as_str(), &error, self.clock.now())
                        .await
                        .map_err(dependency)?;
                    out.error = Some(error);
                    return Ok(out);
                }
            };
            let has_more = page.has_more;
            let (progress, leads) = self.queue(feed, page, backfill).await?;
            // Only now, with the page's changes on the queues, does the cursor move past it.
            if !self
                .state
                .advance(tenant_id, &state, &progress, self.clock.now())
                .await
                .map_err(dependency)?
            {
                info!(
                    feed = feed.as_str(),
                    "the feed was reset meanwhile; the next reconcile reads it from there"
                );
                return Ok(out);
            }
            out.add(&progress);
            out.leads += leads;
            out.pages += 1;
            state.position = state.position.max(progress.position);
            match (has_more, progress.cursor) {
                (true, Some(next)) => from = next,
                (true, None) => {
                    out.error = Some(format!(
                        "the {} feed said hasMore without a continueFrom",
                        feed.as_str()
                    ));
                    return Ok(out);
                }
                (false, _) => return Ok(out),
            }
            if self.clock.now() >= deadline {
                break;
            }
        }
        out.more = true;
        Ok(out)
    }

    /// Reads the feed's next page and queues its changes, leaving the cursor where it is: what a reconcile that
    /// died between the two leaves behind. The next reconcile reads the page again; its changes have the same
    /// event ids, so they have no second effect.
    pub async fn queue_next_page(&self, feed: Feed) -> Result<PageProgress, ReconcileError> {
        let (state, from) = self.start(feed).await?;
        let page = self.read(feed, &from).await.map_err(dependency)?;
        Ok(self.queue(feed, page, state.complete_as_of.is_none()).await?.0)
    }

    /// The feed's state, and where its next read starts: the cursor, else where the feed began (its lookback).
    async fn start(&self, feed: Feed) -> Result<(FeedState, String), ReconcileError> {
        let lookback = self.clock.now() - self.config.lookback;
        let state = self
            .state
            .feed(self.tenant.tenant_id(), feed.as_str(), lookback)
            .await
            .map_err(dependency)?;
        let from = match &state.cursor {
            Some(c) => c.clone(),
            None => iso_millis(state.started_from.unwrap_or(lookback)),
        };
        Ok((state, from))
    }

    fn includes_existing_overdue(&self) -> bool {
        self.tenant
            .settings
            .as_ref()
            .is_some_and(|s| s.include_existing_overdue)
    }

    /// A tenant that chose to include existing overdue invoices: the unpaid ones already past due, however long ago
    /// they last changed (the lookback would miss them), as lookback changes. Done once, when the invoice feed
    /// starts; a crash repeats it harmlessly (the same event ids).
    async fn sweep_overdue(&self, out: &mut FeedOutcome) -> Result<(), ReconcileError> {
        let unpaid = match self.client.unpaid_past_due(self.clock.now()).await {
            Ok(found) => found,
            Err(e) => {
                out.error = Some(format!("listing the unpaid invoices: {e}"));
                return Ok(());
            }
        };
        let page = Page {
            changes: unpaid.iter().map(changes::invoice).collect(),
            calls: Vec::new(),
            records: unpaid.len() as u64,
            newest: None,
            continue_from: None,
            has_more: true,
        };
        let (progress, _) = self.queue(Feed::Invoices, page, true).await?;
        info!(
            invoices = progress.records,
            queued = progress.changes,
            "existing overdue invoices swept in"
        );
        out.add(&PageProgress {
            complete: false,
            ..progress
        });
        Ok(())
    }

    async fn read(&self, feed: Feed, from: &str) -> Result<Page, servicetitan::Error> {
        let from = Some(from);
        let c = self.client;
        Ok(match feed {
            Feed::Estimates => {
                let (mut page, data) = Page::of(c.export_estimates(from).await?, |e| e.modified_on);
                page.changes = data.iter().map(changes::estimate).collect();
                page
            }
            Feed::Jobs => {
                let (mut page, data) = Page::of(c.export_jobs(from).await?, |j| j.modified_on);
                page.changes = data.iter().map(changes::job).collect();
                page
            }
            Feed::Appointments => {
                let (mut page, data) = Page::of(c.export_appointments(from).await?, |a| a.modified_on);
                page.changes = data.iter().map(changes::appointment).collect();
                page
            }
            Feed::Invoices => {
                let (mut page, data) = Page::of(c.export_invoices(from).await?, |i| {
                    i.modified_on.unwrap_or(i.created_on)
                });
                page.changes = data.iter().map(changes::invoice).collect();
                page
            }
            Feed::Payments => {
                let (mut page, data) = Page::of(c.export_payments(from).await?, |p| {
                    p.modified_on.or(p.created_on).unwrap_or(Timestamp::UNIX_EPOCH)
                });
                page.changes = data.iter().filter_map(changes::payment).collect();
                page
            }
            Feed::Calls => {
                let (mut page, data) = Page::of(c.export_calls(from).await?, |c| c.modified_on);
                page.calls = data;
                page
            }
        })
    }

    /// Queues the page's changes (or takes its missed calls in as leads) and says what it counted.
    async fn queue(&self, feed: Feed, page: Page, backfill: bool) -> Result<(PageProgress, u64), ReconcileError> {
        let mut progress = PageProgress {
            cursor: page.continue_from.clone(),
            position: page.newest,
            complete: !page.has_more,
            records: page.records,
            ..Default::default()
        };
        if feed == Feed::Calls {
            let leads = self.missed_calls(&page.calls).await?;
            progress.changes = leads;
            return Ok((progress, leads));
        }
        let tenant_id = self.tenant.tenant_id();
        // The kinds the engine keeps snapshots of for this tenant: only for those can a record be "already known".
        let tracked: HashSet<EntityKind> = self.tenant.recipes.enabled.iter().map(|r| r.subject).collect();
        let subjects: Vec<Subject> = page
            .changes
            .iter()
            .filter(|c| tracked.contains(&c.kind))
            .map(|c| Subject::new(c.kind, c.id.to_string()))
            .collect();
        let known = self
            .snapshots
            .snapshot_versions(tenant_id, &subjects)
            .await
            .map_err(dependency)?;
        let mut to_send = Vec::new();
        for change in page.changes {
            let subject = Subject::new(change.kind, change.id.to_string());
            match known.get(&subject) {
                // Snapshots keep milliseconds; ServiceTitan's times have up to seven fractional digits.
                Some(v) if change.modified_on.as_millisecond() <= v.as_millisecond() => progress.confirmed += 1,
                _ => {
                    if tracked.contains(&change.kind) {
                        if backfill {
                            progress.backfilled += 1;
                        } else {
                            progress.webhook_gaps += 1;
                        }
                    }
                    to_send.push(change);
                }
            }
        }
        progress.changes = to_send.len() as u64;
        let source = if backfill {
            EventSource::Backfill
        } else {
            EventSource::Reconcile
        };
        self.send(to_send, source).await?;
        Ok((progress, 0))
    }

    /// The changes onto the events queue. Any not sent fails the page: it is read again (the ones sent dedupe by
    /// their event ids).
    async fn send(&self, changes: Vec<Change>, source: EventSource) -> Result<(), ReconcileError> {
        let now = self.clock.now();
        let tenant_id = self.tenant.tenant_id();
        let events: Vec<String> = changes
            .into_iter()
            .map(|c| serde_json::to_string(&c.into_event(tenant_id, source, now)).expect("events serialise"))
            .collect();
        shared::sqs_batch::send_all(self.sqs, &self.config.events_queue_url, &events)
            .await
            .map_err(|e| dependency(format!("queueing the changes: {e}")))
    }

    /// Missed calls as `missed_call` leads (one per call, however often it is read). Returns how many were new.
    async fn missed_calls(&self, calls: &[ExportCall]) -> Result<u64, ReconcileError> {
        let now = self.clock.now();
        let tenant_id = self.tenant.tenant_id();
        let country = self.tenant.settings.as_ref().map_or("US", |s| s.leads.country.as_str());
        let submitter = Submitter {
            store: self.leads,
            sqs: self.sqs,
            queue_url: &self.config.leads_queue_url,
        };
        let mut new = 0;
        for call in calls {
            if let Err(why) = missed_calls::check(call, now, self.config.missed_call_max_age) {
                if why != missed_calls::NotMissed::Answered {
                    info!(call_id = call.id, reason = ?why, "missed call not texted back");
                }
                continue;
            }
            let body = missed_calls::lead(tenant_id, call);
            let lead = match leads::lead::parse(&body, country, now) {
                Ok(l) => l,
                Err(fields) => {
                    warn!(
                        call_id = call.id,
                        ?fields,
                        "a missed call's number is not one we can text"
                    );
                    continue;
                }
            };
            match submitter
                .submit(&lead, &leads::lead::fingerprint(&body), now)
                .await
                .map_err(dependency)?
            {
                Submitted::New => {
                    info!(call_id = call.id, lead_id = %lead.lead_id, "missed call taken in as a lead");
                    new += 1;
                }
                Submitted::Repeat(_) => {}
                Submitted::Conflict => warn!(call_id = call.id, "a different lead already has this call's id"),
            }
        }
        Ok(new)
    }
}
