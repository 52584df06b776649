//! Turning a stored lead into ServiceTitan records, one idempotent step at a time:
//!
//! 1. find the customer: candidates by phone and by address, [`leads::matching::decide`], the decision kept;
//! 2. take or make the customer and location (a new customer carries the lead id in its external data);
//! 3. a repeat request becomes a note on the open job; otherwise the job (external data again), then the estimate;
//! 4. the conversation note (and the review note for a possible duplicate), each with the lead id in its text;
//! 5. a missed call starts the text-back through the follow-up engine.
//!
//! Before each create the step is recorded as intended, and after it the id; a worker that dies in between finds
//! the record by its external data (or note marker) on the next attempt. ServiceTitan refusing a record (a 4xx with
//! its reasons) fails the lead with those reasons; ServiceTitan unavailable is retried by the queue.
//!
//! Calls for a new customer with a job and its note: phone search, address search, customer, job, note — five.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use leads::address::{Normalised, PostalAddress};
use leads::lead::{Lead, Source};
use leads::matching::{self, Candidate, Decision, Identity, LocationChoice, Matched, Verdict};
use leads::names;
use leads::plan;
use serde_json::{Value, json};
use servicetitan::models::crm::{
    Address, BookingAddress, ContactType, CreateBooking, CreateCustomer, CreateLead, CreateLocation, CreateNote,
    CustomerFilter, CustomerType, LeadFilter, LocationFilter, NewContact, NewLocation, Priority,
};
use servicetitan::models::jpm::{CreateJob, JobFilter, NewAppointment};
use servicetitan::models::sales::{CreateEstimate, EstimateItem};
use servicetitan::models::{ExternalDataCreate, ExternalDataItem};
use servicetitan::{Client, Connections};
use shared::clock::SharedClock;
use shared::event::{EntityKind, EntityRef, EventIdSource, EventName, ServiceTitanEvent};
use shared::tenant_settings::{LeadMode, TenantSettings};
use shared::tenants::{TenantRegistry, TenantStatus};
use tracing::{info, warn};

use crate::store::{Failure, FailureField, LeadRecord, LeadStatus, LeadStore, Record, StoreError};

/// How long a worker holds a lead: longer than creating one takes, shorter than the queue's visibility timeout.
pub const LEASE: SignedDuration = SignedDuration::from_secs(90);

/// The external data key our records carry the lead id under.
pub const EXTERNAL_KEY: &str = "leadId";

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The records exist; the outcome says which (`new_customer`, `matched_customer`, `repeat_request`, `booking`,
    /// `servicetitan_lead`).
    Created(String),
    /// Nothing to do: created or failed before, or no such lead.
    Nothing,
    /// Stopped with a reason (the code).
    Failed(String),
    /// Another worker has it now: try again later.
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// ServiceTitan (or another dependency) is unavailable: try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// Why a step could not go on.
enum Stop {
    /// Will not succeed by retrying: the lead fails with this.
    Refused(Failure),
    Unavailable(String),
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

type Step<T> = Result<T, Stop>;

fn refused(code: &str, message: impl Into<String>, now: Timestamp) -> Stop {
    Stop::Refused(Failure {
        code: code.to_owned(),
        message: message.into(),
        fields: Vec::new(),
        at: now,
    })
}

pub struct Creator {
    pub(crate) store: LeadStore,
    registry: TenantRegistry,
    connections: Arc<Connections>,
    sqs: aws_sdk_sqs::Client,
    events_queue_url: String,
    application_guid: String,
    clock: SharedClock,
}

/// Where the customer ended up.
struct Resolved {
    customer_id: Option<i64>,
    location_id: Option<i64>,
    /// The customer existed before this lead.
    matched: bool,
}

impl Creator {
    pub fn new(
        store: LeadStore,
        registry: TenantRegistry,
        connections: Arc<Connections>,
        sqs: aws_sdk_sqs::Client,
        events_queue_url: String,
        application_guid: String,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            registry,
            connections,
            sqs,
            events_queue_url,
            application_guid,
            clock,
        }
    }

    pub fn store(&self) -> &LeadStore {
        &self.store
    }

    /// Creates (or finishes creating) the lead's records. `last_attempt`: the queue will not deliver the message
    /// again, so a dependency failure fails the lead (with the reason) instead of waiting for a retry.
    pub async fn create(&self, tenant_id: &str, lead_id: &str, last_attempt: bool) -> Result<Done, CreateError> {
        let Some(rec) = self.store.get(tenant_id, lead_id).await? else {
            warn!(lead_id, "no such lead");
            return Ok(Done::Nothing);
        };
        match rec.status {
            LeadStatus::Created => {
                self.attach_pending(&rec).await?;
                return Ok(Done::Nothing);
            }
            LeadStatus::Failed => return Ok(Done::Nothing),
            LeadStatus::Accepted | LeadStatus::Matching => {}
        }
        if !self
            .store
            .start_attempt(tenant_id, lead_id, self.clock.now(), LEASE)
            .await?
        {
            let now = self.store.get(tenant_id, lead_id).await?;
            return Ok(match now.map(|r| r.status) {
                Some(LeadStatus::Matching) => Done::Busy,
                _ => Done::Nothing,
            });
        }
        match self.run(&rec).await {
            Ok(outcome) => {
                self.store
                    .finish(tenant_id, lead_id, &outcome, self.clock.now())
                    .await?;
                info!(lead_id, outcome, "lead created");
                if let Some(done) = self.store.get(tenant_id, lead_id).await? {
                    self.attach_pending(&done).await?;
                }
                Ok(Done::Created(outcome))
            }
            Err(Stop::Refused(failure)) => {
                warn!(lead_id, code = failure.code, message = failure.message, "lead failed");
                let code = failure.code.clone();
                self.store.fail(tenant_id, lead_id, &failure).await?;
                Ok(Done::Failed(code))
            }
            Err(Stop::Unavailable(reason)) if last_attempt => {
                let failure = Failure {
                    code: "servicetitan_unavailable".into(),
                    message: format!("gave up after the queue's retries: {reason}; retry the lead once it is back"),
                    fields: Vec::new(),
                    at: self.clock.now(),
                };
                self.store.fail(tenant_id, lead_id, &failure).await?;
                Err(CreateError::Unavailable(reason))
            }
            Err(Stop::Unavailable(reason)) => {
                self.store.release(tenant_id, lead_id).await?;
                Err(CreateError::Unavailable(reason))
            }
            Err(Stop::Store(e)) => Err(e.into()),
        }
    }

    async fn run(&self, rec: &LeadRecord) -> Step<String> {
        let now = self.clock.now();
        let lead = &rec.lead;
        let record = self
            .registry
            .get_record(&lead.tenant_id)
            .await
            .map_err(|e| Stop::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                refused(
                    "unknown_tenant",
                    format!("tenant {} is not connected", lead.tenant_id),
                    now,
                )
            })?;
        if record.tenant.status != TenantStatus::Connected {
            return Err(refused(
                "tenant_disconnected",
                "the tenant disconnected before the lead was created",
                now,
            ));
        }
        let settings: TenantSettings = record
            .settings
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| {
                refused(
                    "settings_incomplete",
                    "choose the business unit, job type and campaign for new jobs (PUT /admin/tenants/{id}/settings), then retry",
                    now,
                )
            })?;
        let client = self.connections.client_for(&record).await.map_err(|e| match e {
            servicetitan::connections::ConnectionError::NotConnected(_) => {
                refused("tenant_disconnected", "the tenant is not connected", now)
            }
            other => Stop::Unavailable(other.to_string()),
        })?;
        let company = settings
            .company_name
            .clone()
            .unwrap_or_else(|| "the AI assistant".into());

        if settings.leads.mode == LeadMode::Booking && lead.source != Source::MissedCall {
            return self.booking(rec, &client, &settings).await;
        }
        let resolved = self.resolve_customer(rec, &client, &settings).await?;
        let Some(customer_id) = resolved.customer_id else {
            // Too little for a customer (no address, no match): a ServiceTitan lead for the office.
            let outcome = self.servicetitan_lead(rec, &client, &settings, None, None).await?;
            self.text_back(rec, None, None).await?;
            return Ok(outcome);
        };
        if resolved.matched {
            self.ensure_contacts(rec, &client, customer_id).await?;
        }
        let mut outcome = if resolved.matched {
            "matched_customer"
        } else {
            "new_customer"
        }
        .to_owned();

        if lead.source == Source::MissedCall {
            self.customer_note(
                rec,
                &client,
                customer_id,
                "conversation",
                &plan::conversation_note(lead, &company),
            )
            .await?;
            self.text_back(rec, Some(customer_id), resolved.location_id).await?;
            return Ok(outcome);
        }
        let Some(location_id) = resolved.location_id else {
            // A known customer with several locations and no address in the lead: the office picks the location.
            return self
                .servicetitan_lead(rec, &client, &settings, Some(customer_id), None)
                .await;
        };

        let job_type = plan::job_type(lead, &settings);
        let repeat = if resolved.matched && rec.ids.job_id.is_none() && !rec.intents.contains("job") {
            self.open_job(&client, customer_id, location_id, &job_type, &settings, now)
                .await?
        } else {
            None
        };
        match repeat {
            Some(job_id) => {
                self.store
                    .record_id(&lead.tenant_id, &lead.lead_id, Record::Job, job_id)
                    .await?;
                self.job_note(rec, &client, job_id, "repeat", &plan::repeat_request_note(lead))
                    .await?;
                outcome = "repeat_request".into();
            }
            None => {
                let job_id = self
                    .job(rec, &client, &settings, customer_id, location_id, job_type.0)
                    .await?;
                if lead.estimate.is_some() {
                    self.estimate(rec, &client, job_id, location_id).await?;
                }
                self.customer_note(
                    rec,
                    &client,
                    customer_id,
                    "conversation",
                    &plan::conversation_note(lead, &company),
                )
                .await?;
            }
        }
        Ok(outcome)
    }

    // ----------------------------------------------------------------------------------------------- matching

    /// Customers sharing the lead's phone or address, each once, with what the lead needs to compare.
    async fn candidates(&self, client: &Client, lead: &Lead) -> Step<(Identity, Vec<Candidate>)> {
        let phone = lead.phone();
        let address = lead.address.as_ref().map(PostalAddress::normalise);
        let identity = Identity {
            surname: lead.name.as_deref().and_then(names::surname),
            phone: phone.clone(),
            address: address.clone(),
        };
        let by_phone = match &phone {
            Some(p) => client
                .find_customers(&CustomerFilter {
                    phone: Some(p.for_servicetitan()),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.read_error(e))?,
            None => Vec::new(),
        };
        // Locations at the lead's house number in its ZIP code: every spelling of the street shares the number.
        let at_address = match address.as_ref().and_then(|a| Some((a.search_street()?, a))) {
            Some((number, a)) => client
                .find_locations(&LocationFilter {
                    street: Some(number.to_owned()),
                    zip: Some(a.zip.to_uppercase()),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.read_error(e))?,
            None => Vec::new(),
        };
        // Only locations at the same building can matter (the filter matches the number anywhere in the street).
        let at_address: Vec<_> = match &address {
            Some(a) => at_address
                .into_iter()
                .filter(|l| a.compare(&to_postal(&l.address).normalise()) != leads::address::Sameness::Different)
                .collect(),
            None => at_address,
        };
        let known: BTreeSet<i64> = by_phone.iter().map(|c| c.id).collect();
        let others: Vec<i64> = at_address
            .iter()
            .map(|l| l.customer_id)
            .filter(|id| !known.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut customers = by_phone.clone();
        if !others.is_empty() {
            customers.extend(client.customers_by_ids(&others).await.map_err(|e| self.read_error(e))?);
        }
        let mut candidates = Vec::new();
        for c in customers.iter().filter(|c| c.merged_to_id.is_none()) {
            let mut locations: Vec<(i64, Normalised)> = at_address
                .iter()
                .filter(|l| l.customer_id == c.id)
                .map(|l| (l.id, to_postal(&l.address).normalise()))
                .collect();
            // Without an address to compare, a phone match needs the customer's locations to pick one.
            if address.is_none() && known.contains(&c.id) {
                locations = client
                    .customer_locations(c.id)
                    .await
                    .map_err(|e| self.read_error(e))?
                    .iter()
                    .map(|l| (l.id, to_postal(&l.address).normalise()))
                    .collect();
            }
            candidates.push(Candidate {
                customer_id: c.id,
                name: c.name.clone(),
                phone_match: known.contains(&c.id),
                phone_locations: Vec::new(),
                address: Some(to_postal(&c.address).normalise()),
                locations,
            });
        }
        Ok((identity, candidates))
    }

    /// The match decision: the one kept from an earlier attempt, or a new one (kept for the next).
    async fn decision(&self, rec: &LeadRecord, client: &Client) -> Step<Matched> {
        if let Some(kept) = rec.decision.as_ref().and_then(|d| d.get("matched"))
            && let Some(m) = matched_from_json(kept)
        {
            return Ok(m);
        }
        let (identity, candidates) = self.candidates(client, &rec.lead).await?;
        let m = matching::decide(&identity, &candidates);
        let kept = self
            .store
            .record_decision(
                &rec.lead.tenant_id,
                &rec.lead.lead_id,
                &json!({"matched": m, "decidedAt": shared::clock::iso_millis(self.clock.now())}),
            )
            .await?;
        Ok(kept.get("matched").and_then(matched_from_json).unwrap_or(m))
    }

    async fn resolve_customer(&self, rec: &LeadRecord, client: &Client, settings: &TenantSettings) -> Step<Resolved> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        // A customer made by an earlier attempt whose id was not recorded.
        if rec.ids.customer_id.is_none() && rec.intents.contains("customer") {
            let found = client
                .find_customers(&CustomerFilter {
                    external_data: Some(self.external_lookup(id)),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.read_error(e))?;
            if let Some(c) = found.first() {
                let customer_id = self.store.record_id(tenant, id, Record::Customer, c.id).await?;
                let location_id = self.made_location(rec, client, customer_id).await?;
                return Ok(Resolved {
                    customer_id: Some(customer_id),
                    location_id: Some(location_id),
                    matched: false,
                });
            }
        }
        let matched = self.decision(rec, client).await?;
        match matched.decision.clone() {
            Decision::Existing {
                customer_id, location, ..
            } => {
                self.store.record_id(tenant, id, Record::Customer, customer_id).await?;
                let location_id = match (rec.ids.location_id, location) {
                    (Some(l), _) => Some(l),
                    (None, LocationChoice::Existing(l)) => {
                        Some(self.store.record_id(tenant, id, Record::Location, l).await?)
                    }
                    (None, LocationChoice::New) => Some(self.new_location(rec, client, customer_id).await?),
                    (None, LocationChoice::Unresolved) => None,
                };
                Ok(Resolved {
                    customer_id: Some(customer_id),
                    location_id,
                    matched: true,
                })
            }
            Decision::New { possible_duplicates } => {
                let Some(address) = &lead.address else {
                    return Ok(Resolved {
                        customer_id: None,
                        location_id: None,
                        matched: false,
                    });
                };
                let (customer_id, location_id) = match (rec.ids.customer_id, rec.ids.location_id) {
                    (Some(c), Some(l)) => (c, l),
                    // Made (with its location, in one call) by an attempt that died before recording the location.
                    (Some(c), None) => (c, self.made_location(rec, client, c).await?),
                    (None, _) => self.new_customer(rec, client, address, settings).await?,
                };
                if !possible_duplicates.is_empty() {
                    let suspects: Vec<_> = matched
                        .evidence
                        .iter()
                        .filter(|e| e.verdict == Verdict::PossibleDuplicate)
                        .collect();
                    self.customer_note(rec, client, customer_id, "review", &plan::review_note(lead, &suspects))
                        .await?;
                }
                Ok(Resolved {
                    customer_id: Some(customer_id),
                    location_id: Some(location_id),
                    matched: false,
                })
            }
        }
    }

    fn external_lookup(&self, lead_id: &str) -> (String, String, Vec<String>) {
        (
            self.application_guid.clone(),
            EXTERNAL_KEY.to_owned(),
            vec![lead_id.to_owned()],
        )
    }

    fn external_data(&self, lead_id: &str) -> ExternalDataCreate {
        ExternalDataCreate {
            application_guid: self.application_guid.clone(),
            external_data: vec![ExternalDataItem {
                key: EXTERNAL_KEY.to_owned(),
                value: lead_id.to_owned(),
            }],
        }
    }

    fn contacts(lead: &Lead) -> Vec<NewContact> {
        let mut out = Vec::new();
        if let Some(p) = lead.phone() {
            out.push(NewContact {
                kind: ContactType::MobilePhone,
                value: p.for_servicetitan(),
                memo: Some(lead.source.label().into()),
            });
        }
        if let Some(e) = &lead.email {
            out.push(NewContact {
                kind: ContactType::Email,
                value: e.clone(),
                memo: Some(lead.source.label().into()),
            });
        }
        out
    }

    async fn new_customer(
        &self,
        rec: &LeadRecord,
        client: &Client,
        address: &PostalAddress,
        _settings: &TenantSettings,
    ) -> Step<(i64, i64)> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        self.store.intend(tenant, id, "customer").await?;
        let address = to_servicetitan(address);
        let created = client
            .create_customer(&CreateCustomer {
                name: plan::caller_name(lead),
                kind: Some(CustomerType::Residential),
                locations: vec![NewLocation {
                    name: "Service address".into(),
                    address: address.clone(),
                    contacts: Vec::new(),
                    external_data: Some(self.external_data(id)),
                }],
                address,
                contacts: Self::contacts(lead),
                external_data: Some(self.external_data(id)),
            })
            .await
            .map_err(|e| self.servicetitan_refusal("customer", e))?;
        let customer_id = self
            .store
            .record_id(tenant, id, Record::Customer, created.customer.id)
            .await?;
        let location_id = created
            .locations
            .first()
            .map(|l| l.id)
            .ok_or_else(|| Stop::Unavailable("ServiceTitan made the customer without its location".into()))?;
        let location_id = self.store.record_id(tenant, id, Record::Location, location_id).await?;
        Ok((customer_id, location_id))
    }

    /// The location made with a customer this lead made (ServiceTitan makes both in one call), recorded.
    async fn made_location(&self, rec: &LeadRecord, client: &Client, customer_id: i64) -> Step<i64> {
        let (tenant, id) = (&rec.lead.tenant_id, &rec.lead.lead_id);
        let locations = client
            .customer_locations(customer_id)
            .await
            .map_err(|e| self.read_error(e))?;
        let location = locations
            .first()
            .ok_or_else(|| Stop::Unavailable(format!("customer {customer_id} has no location yet")))?;
        Ok(self.store.record_id(tenant, id, Record::Location, location.id).await?)
    }

    async fn new_location(&self, rec: &LeadRecord, client: &Client, customer_id: i64) -> Step<i64> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        if rec.intents.contains("location") {
            let found = client
                .find_locations(&LocationFilter {
                    external_data: Some(self.external_lookup(id)),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.read_error(e))?;
            if let Some(l) = found.iter().find(|l| l.customer_id == customer_id) {
                return Ok(self.store.record_id(tenant, id, Record::Location, l.id).await?);
            }
        }
        let address = lead
            .address
            .as_ref()
            .map(to_servicetitan)
            .ok_or_else(|| refused("address_required", "a new location needs an address", self.clock.now()))?;
        self.store.intend(tenant, id, "location").await?;
        let created = client
            .create_location(&CreateLocation {
                customer_id,
                name: "Service address".into(),
                address,
                contacts: Vec::new(),
                external_data: Some(self.external_data(id)),
            })
            .await
            .map_err(|e| self.servicetitan_refusal("location", e))?;
        Ok(self.store.record_id(tenant, id, Record::Location, created.id).await?)
    }

    /// A matched customer gets the lead's phone and email as contacts when it lacks them (the follow-ups use them).
    async fn ensure_contacts(&self, rec: &LeadRecord, client: &Client, customer_id: i64) -> Step<()> {
        let wanted = Self::contacts(&rec.lead);
        if wanted.is_empty() {
            return Ok(());
        }
        let existing = client
            .customer_contacts(customer_id)
            .await
            .map_err(|e| self.read_error(e))?;
        let phone = rec.lead.phone();
        for contact in wanted {
            let present = existing.iter().any(|c| match contact.kind {
                ContactType::Email => c.kind == ContactType::Email && c.value.eq_ignore_ascii_case(&contact.value),
                _ => c.kind != ContactType::Email && phone.as_ref().is_some_and(|p| p.matches(&c.value)),
            });
            if !present {
                client
                    .add_customer_contact(customer_id, &contact)
                    .await
                    .map_err(|e| self.servicetitan_refusal("contact", e))?;
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------------ the job

    async fn open_job(
        &self,
        client: &Client,
        customer_id: i64,
        location_id: i64,
        job_type: &(i64, plan::JobTypeSource),
        settings: &TenantSettings,
        now: Timestamp,
    ) -> Step<Option<i64>> {
        if settings.leads.duplicate_job_hours == 0 {
            return Ok(None);
        }
        let since = now - SignedDuration::from_hours(i64::from(settings.leads.duplicate_job_hours));
        let jobs = client
            .find_jobs(&JobFilter {
                customer_id: Some(customer_id),
                location_id: Some(location_id),
                created_on_or_after: Some(since),
                ..Default::default()
            })
            .await
            .map_err(|e| self.read_error(e))?;
        let existing: Vec<plan::ExistingJob> = jobs
            .iter()
            .map(|j| plan::ExistingJob {
                id: j.id,
                job_type_id: j.job_type_id,
                created_on: j.created_on.unwrap_or(j.modified_on),
                status: j.job_status.clone(),
            })
            .collect();
        Ok(plan::open_job_for_repeat(
            &existing,
            (job_type.0, &job_type.1),
            &settings.leads,
            now,
        ))
    }

    async fn job(
        &self,
        rec: &LeadRecord,
        client: &Client,
        settings: &TenantSettings,
        customer_id: i64,
        location_id: i64,
        job_type_id: i64,
    ) -> Step<i64> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        if let Some(j) = rec.ids.job_id {
            return Ok(j);
        }
        if rec.intents.contains("job") {
            let found = client
                .find_jobs(&JobFilter {
                    customer_id: Some(customer_id),
                    external_data: Some(self.external_lookup(id)),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.read_error(e))?;
            if let Some(j) = found.first() {
                return Ok(self.store.record_id(tenant, id, Record::Job, j.id).await?);
            }
        }
        let tz = jiff::tz::TimeZone::get(&settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let window = plan::arrival_window(lead, &settings.leads, &tz, self.clock.now());
        self.store.intend(tenant, id, "job").await?;
        let job = client
            .create_job(&CreateJob {
                customer_id,
                location_id,
                business_unit_id: settings.business_unit_id,
                job_type_id,
                priority: plan::priority(lead, settings),
                campaign_id: settings.campaign_id,
                appointments: vec![NewAppointment {
                    start: window.start,
                    end: window.end,
                    arrival_window_start: Some(window.start),
                    arrival_window_end: Some(window.end),
                    technician_ids: Vec::new(),
                }],
                summary: Some(plan::job_summary(lead)),
                external_data: Some(self.external_data(id)),
            })
            .await
            .map_err(|e| self.servicetitan_refusal("job", e))?;
        Ok(self.store.record_id(tenant, id, Record::Job, job.id).await?)
    }

    async fn estimate(&self, rec: &LeadRecord, client: &Client, job_id: i64, location_id: i64) -> Step<()> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        let Some(request) = &lead.estimate else {
            return Ok(());
        };
        if rec.ids.estimate_id.is_some() {
            return Ok(());
        }
        let name = format!("{} {}", request.name, plan::marker(lead));
        if rec.intents.contains("estimate") {
            let found = client
                .job_estimates(job_id, None)
                .await
                .map_err(|e| self.read_error(e))?;
            if let Some(e) = found.iter().find(|e| e.name.as_deref() == Some(name.as_str())) {
                self.store.record_id(tenant, id, Record::Estimate, e.id).await?;
                return Ok(());
            }
        }
        self.store.intend(tenant, id, "estimate").await?;
        let estimate = client
            .create_estimate(&CreateEstimate {
                name: Some(name),
                summary: request.summary.clone(),
                job_id: Some(job_id),
                location_id: Some(location_id),
                items: request
                    .items
                    .iter()
                    .map(|i| EstimateItem {
                        sku_id: i.sku_id,
                        sku_name: i.sku_name.clone(),
                        description: Some(i.description.clone()),
                        quantity: Some(i.quantity),
                        unit_price: i.unit_price.parse().ok(),
                    })
                    .collect(),
            })
            .await
            .map_err(|e| self.servicetitan_refusal("estimate", e))?;
        self.store.record_id(tenant, id, Record::Estimate, estimate.id).await?;
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------------- notes

    /// A customer note, once: `key` names it in the lead's record; its text carries the lead's marker, which finds
    /// it after a crash between writing it and recording it.
    async fn customer_note(
        &self,
        rec: &LeadRecord,
        client: &Client,
        customer_id: i64,
        key: &str,
        text: &str,
    ) -> Step<()> {
        let lead = &rec.lead;
        if rec.notes.contains(key) {
            return Ok(());
        }
        let intent = format!("note:{key}");
        if rec.intents.contains(&intent) {
            let notes = client
                .customer_notes(customer_id)
                .await
                .map_err(|e| self.read_error(e))?;
            if notes.iter().any(|n| n.text == text) {
                return Ok(self.store.note_done(&lead.tenant_id, &lead.lead_id, key).await?);
            }
        }
        self.store.intend(&lead.tenant_id, &lead.lead_id, &intent).await?;
        client
            .add_customer_note(
                customer_id,
                &CreateNote {
                    text: text.to_owned(),
                    pin_to_top: None,
                },
            )
            .await
            .map_err(|e| self.servicetitan_refusal("note", e))?;
        Ok(self.store.note_done(&lead.tenant_id, &lead.lead_id, key).await?)
    }

    async fn job_note(&self, rec: &LeadRecord, client: &Client, job_id: i64, key: &str, text: &str) -> Step<()> {
        let lead = &rec.lead;
        if rec.notes.contains(key) {
            return Ok(());
        }
        let intent = format!("note:{key}");
        if rec.intents.contains(&intent) {
            let notes = client.job_notes(job_id).await.map_err(|e| self.read_error(e))?;
            if notes.iter().any(|n| n.text == text) {
                return Ok(self.store.note_done(&lead.tenant_id, &lead.lead_id, key).await?);
            }
        }
        self.store.intend(&lead.tenant_id, &lead.lead_id, &intent).await?;
        client
            .add_job_note(
                job_id,
                &CreateNote {
                    text: text.to_owned(),
                    pin_to_top: None,
                },
            )
            .await
            .map_err(|e| self.servicetitan_refusal("note", e))?;
        Ok(self.store.note_done(&lead.tenant_id, &lead.lead_id, key).await?)
    }

    // ------------------------------------------------------------------------------------- bookings and CRM leads

    async fn booking(&self, rec: &LeadRecord, client: &Client, settings: &TenantSettings) -> Step<String> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        let now = self.clock.now();
        let provider = settings
            .leads
            .booking_provider_id
            .ok_or_else(|| refused("settings_incomplete", "booking mode needs leads.bookingProviderId", now))?;
        if rec.ids.booking_id.is_some() {
            return Ok("booking".into());
        }
        if rec.intents.contains("booking")
            && let Some(b) = client
                .bookings(provider, Some(id))
                .await
                .map_err(|e| self.read_error(e))?
                .first()
        {
            self.store.record_id(tenant, id, Record::Booking, b.id).await?;
            return Ok("booking".into());
        }
        // The match is evidence for the CSR, not a decision: bookings are accepted by hand.
        let matched = self.decision(rec, client).await?;
        let company = settings
            .company_name
            .clone()
            .unwrap_or_else(|| "the AI assistant".into());
        let mut summary = plan::conversation_note(lead, &company);
        match &matched.decision {
            Decision::Existing { customer_id, rule, .. } => {
                summary.push_str(&format!("\nLikely existing customer #{customer_id} ({rule})."));
            }
            Decision::New { possible_duplicates } if !possible_duplicates.is_empty() => {
                summary.push_str(&format!(
                    "\nNo customer matched on two signals; similar: {}.",
                    possible_duplicates
                        .iter()
                        .map(|c| format!("#{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Decision::New { .. } => {}
        }
        let (job_type_id, _) = plan::job_type(lead, settings);
        let tz = jiff::tz::TimeZone::get(&settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        self.store.intend(tenant, id, "booking").await?;
        let booking = client
            .create_booking(
                provider,
                &CreateBooking {
                    source: lead.source.label().into(),
                    name: plan::caller_name(lead),
                    address: lead.address.as_ref().map(|a| BookingAddress {
                        street: a.street.clone(),
                        unit: a.unit.clone(),
                        city: a.city.clone(),
                        state: a.state.clone(),
                        zip: a.zip.clone(),
                        country: a.country.clone(),
                    }),
                    contacts: Self::contacts(lead),
                    customer_type: Some(CustomerType::Residential),
                    start: Some(plan::arrival_window(lead, &settings.leads, &tz, now).start),
                    summary,
                    campaign_id: Some(settings.campaign_id),
                    business_unit_id: Some(settings.business_unit_id),
                    job_type_id: Some(job_type_id),
                    priority: priority_of(&plan::priority(lead, settings)),
                    is_first_time_client: matches!(matched.decision, Decision::New { .. }),
                    is_send_confirmation_email: Some(false),
                    external_id: id.clone(),
                },
            )
            .await
            .map_err(|e| self.servicetitan_refusal("booking", e))?;
        self.store.record_id(tenant, id, Record::Booking, booking.id).await?;
        Ok("booking".into())
    }

    /// A ServiceTitan CRM lead: a request for the office when there is too little for a customer (a missed call
    /// with no address and no match) or no way to choose the location.
    async fn servicetitan_lead(
        &self,
        rec: &LeadRecord,
        client: &Client,
        settings: &TenantSettings,
        customer_id: Option<i64>,
        location_id: Option<i64>,
    ) -> Step<String> {
        let lead = &rec.lead;
        let (tenant, id) = (&lead.tenant_id, &lead.lead_id);
        if rec.ids.servicetitan_lead_id.is_some() {
            return Ok("servicetitan_lead".into());
        }
        let company = settings
            .company_name
            .clone()
            .unwrap_or_else(|| "the AI assistant".into());
        let summary = plan::conversation_note(lead, &company);
        if rec.intents.contains("st_lead") {
            let found = client
                .find_leads(&LeadFilter {
                    phone: lead.phone().map(|p| p.for_servicetitan()),
                    created_on_or_after: Some(rec.received_at - SignedDuration::from_hours(1)),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.read_error(e))?;
            if let Some(l) = found
                .iter()
                .find(|l| l.summary.as_deref().is_some_and(|s| s.contains(&plan::marker(lead))))
            {
                self.store.record_id(tenant, id, Record::ServiceTitanLead, l.id).await?;
                return Ok("servicetitan_lead".into());
            }
        }
        let (job_type_id, _) = plan::job_type(lead, settings);
        self.store.intend(tenant, id, "st_lead").await?;
        let created = client
            .create_lead(&CreateLead {
                campaign_id: settings.campaign_id,
                summary,
                customer_id,
                location_id,
                business_unit_id: Some(settings.business_unit_id),
                job_type_id: Some(job_type_id),
                priority: priority_of(&plan::priority(lead, settings)),
                follow_up_date: Some(self.clock.now()),
                lead_customer_name: Some(plan::caller_name(lead)),
                lead_phone: lead.phone().map(|p| p.for_servicetitan()),
                lead_email: lead.email.clone(),
                lead_street: lead.address.as_ref().map(|a| a.street.clone()),
                lead_unit: lead.address.as_ref().and_then(|a| a.unit.clone()),
                lead_city: lead.address.as_ref().map(|a| a.city.clone()),
                lead_state: lead.address.as_ref().map(|a| a.state.clone()),
                lead_zip: lead.address.as_ref().map(|a| a.zip.clone()),
                lead_country: lead.address.as_ref().map(|a| a.country.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| self.servicetitan_refusal("lead", e))?;
        self.store
            .record_id(tenant, id, Record::ServiceTitanLead, created.id)
            .await?;
        Ok("servicetitan_lead".into())
    }

    // ----------------------------------------------------------------------------------------------- text-back

    /// A missed call starts `missed_call_text_back` through the follow-up engine, as ServiceTitan's own call event
    /// would: the same derived event for the same lead, so a retry is one event.
    async fn text_back(&self, rec: &LeadRecord, customer_id: Option<i64>, location_id: Option<i64>) -> Step<()> {
        let lead = &rec.lead;
        if lead.source != Source::MissedCall {
            return Ok(());
        }
        let event = missed_call_event(lead, customer_id, location_id, self.clock.now());
        self.sqs
            .send_message()
            .queue_url(&self.events_queue_url)
            .message_body(serde_json::to_string(&event).expect("events serialise"))
            .send()
            .await
            .map_err(|e| Stop::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------- attachments

    /// Writes the attachments sent after the lead (a later transcript or recording) as notes on its customer and
    /// job, once the lead has them.
    pub async fn attach_pending(&self, rec: &LeadRecord) -> Result<(), CreateError> {
        let lead = &rec.lead;
        let pending: Vec<_> = self
            .store
            .attachments(&lead.tenant_id, &lead.lead_id)
            .await?
            .into_iter()
            .filter(|a| !a.attached)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let Some(customer_id) = rec.ids.customer_id else {
            // A booking or a ServiceTitan lead has no customer yet to hold notes: keep them on our record.
            for a in &pending {
                self.store
                    .mark_attached(&lead.tenant_id, &lead.lead_id, &a.fingerprint)
                    .await?;
            }
            return Ok(());
        };
        let client = self
            .connections
            .client(&lead.tenant_id)
            .await
            .map_err(|e| CreateError::Unavailable(e.to_string()))?;
        for a in pending {
            if !self
                .store
                .claim_attachment(&lead.tenant_id, &lead.lead_id, &a.fingerprint, self.clock.now(), LEASE)
                .await?
            {
                continue;
            }
            let mut text = format!("Update to the {} {}:", lead.source.label(), plan::marker(lead));
            if let Some(s) = &a.summary {
                text.push_str(&format!("\nSummary: {s}"));
            }
            if let Some(t) = &a.transcript {
                let excerpt: String = t.chars().take(1500).collect();
                text.push_str(&format!("\nTranscript (excerpt):\n{excerpt}"));
            }
            if let Some(u) = &a.recording_url {
                text.push_str(&format!("\nRecording: {u}"));
            }
            let key = format!("att:{}", &a.fingerprint[..16.min(a.fingerprint.len())]);
            let result = async {
                self.customer_note(rec, &client, customer_id, &format!("{key}:customer"), &text)
                    .await?;
                if let Some(job_id) = rec.ids.job_id {
                    self.job_note(rec, &client, job_id, &format!("{key}:job"), &text)
                        .await?;
                }
                Ok::<_, Stop>(())
            }
            .await;
            match result {
                Ok(()) => {
                    self.store
                        .mark_attached(&lead.tenant_id, &lead.lead_id, &a.fingerprint)
                        .await?
                }
                Err(Stop::Store(e)) => return Err(e.into()),
                Err(Stop::Unavailable(r)) => return Err(CreateError::Unavailable(r)),
                Err(Stop::Refused(f)) => {
                    warn!(
                        lead_id = lead.lead_id,
                        code = f.code,
                        "ServiceTitan refused an attachment note"
                    );
                    self.store
                        .mark_attached(&lead.tenant_id, &lead.lead_id, &a.fingerprint)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A read failed: a 4xx on a read is as final as on a create; the rest is transient.
    fn read_error(&self, e: servicetitan::Error) -> Stop {
        if e.is_transient() {
            Stop::Unavailable(e.to_string())
        } else {
            self.servicetitan_refusal("read", e)
        }
    }

    /// ServiceTitan's answer to a create: a refusal (4xx with reasons) fails the lead, anything else is retried.
    fn servicetitan_refusal(&self, what: &str, e: servicetitan::Error) -> Stop {
        match &e {
            servicetitan::Error::Api { status, body } => {
                let mut fields: Vec<FailureField> = body
                    .errors
                    .iter()
                    .flat_map(|(field, reasons)| {
                        reasons.iter().map(move |r| FailureField {
                            field: field.clone(),
                            reason: r.clone(),
                        })
                    })
                    .collect();
                fields.sort_by(|a, b| a.field.cmp(&b.field));
                Stop::Refused(Failure {
                    code: "servicetitan_refused".into(),
                    message: format!(
                        "ServiceTitan refused the {what} ({status}): {}",
                        body.title.as_deref().unwrap_or("no reason given")
                    ),
                    fields,
                    at: self.clock.now(),
                })
            }
            servicetitan::Error::Unauthorized { .. } | servicetitan::Error::Auth { .. } => Stop::Refused(Failure {
                code: "servicetitan_unauthorized".into(),
                message: format!("ServiceTitan refused our credentials for the {what}: {e}; reconnect the tenant"),
                fields: Vec::new(),
                at: self.clock.now(),
            }),
            _ => Stop::Unavailable(format!("creating the {what}: {e}")),
        }
    }
}

fn priority_of(name: &str) -> Option<Priority> {
    match name {
        "Low" => Some(Priority::Low),
        "Normal" => Some(Priority::Normal),
        "High" => Some(Priority::High),
        "Urgent" => Some(Priority::Urgent),
        _ => None,
    }
}

fn to_postal(a: &Address) -> PostalAddress {
    PostalAddress {
        street: a.street.clone(),
        unit: a.unit.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        zip: a.zip.clone(),
        country: a.country.clone(),
    }
}

fn to_servicetitan(a: &PostalAddress) -> Address {
    Address {
        street: a.street.clone(),
        unit: a.unit.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        zip: a.zip.clone(),
        country: a.country.clone(),
        latitude: None,
        longitude: None,
    }
}

/// The kept decision, read back.
fn matched_from_json(v: &Value) -> Option<Matched> {
    serde_json::from_value(v.clone()).ok()
}

/// The `call.missed` event a missed-call lead delivers to the follow-up engine.
pub fn missed_call_event(
    lead: &Lead,
    customer_id: Option<i64>,
    location_id: Option<i64>,
    now: Timestamp,
) -> ServiceTitanEvent {
    let payload = json!({
        "leadId": lead.lead_id, "from": lead.phone, "customerId": customer_id, "locationId": location_id,
    });
    ServiceTitanEvent {
        tenant_id: lead.tenant_id.clone(),
        event_name: EventName::CallMissed,
        event_id: format!("lead:{}:call.missed", lead.lead_id),
        event_id_source: EventIdSource::Derived,
        // The call itself when the lead names it, so that the phone log and a webhook about the same call start one
        // text-back.
        entity: EntityRef {
            kind: EntityKind::Call,
            id: Some(
                lead.call_id
                    .map_or_else(|| format!("lead-{}", lead.lead_id), |c| c.to_string()),
            ),
        },
        occurred_at: lead.occurred_at,
        received_at: now,
        source: shared::event::EventSource::Lead,
        payload: serde_json::value::RawValue::from_string(payload.to_string()).expect("JSON"),
    }
}
