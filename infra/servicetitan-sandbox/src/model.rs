//! In-memory state: tenants with their records, OAuth clients and tokens, rate-limit buckets, fault rules, counters.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::TenantCredentials;
use crate::util::{Rec, XorShift};

/// First id handed out inside a tenant (ids are int64 and allocated per tenant).
pub const FIRST_RECORD_ID: i64 = 10_001;
/// First tenant id handed to tenants created at runtime (the demo tenant is 1001).
pub const FIRST_TENANT_ID: i64 = 2001;

#[derive(Debug)]
pub struct World {
    pub tenants: BTreeMap<i64, Tenant>,
    /// client id → tenant id
    pub clients: HashMap<String, i64>,
    pub tokens: HashMap<String, TokenInfo>,
    pub token_requests: BTreeMap<String, u64>,
    pub api_requests: u64,
    pub rate_limited: u64,
    pub buckets: HashMap<(String, i64), Bucket>,
    pub faults: Vec<FaultRule>,
    pub next_fault_id: u64,
    pub rng: XorShift,
    pub next_tenant_id: i64,
    pub demo: Option<TenantCredentials>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self {
            tenants: BTreeMap::new(),
            clients: HashMap::new(),
            tokens: HashMap::new(),
            token_requests: BTreeMap::new(),
            api_requests: 0,
            rate_limited: 0,
            buckets: HashMap::new(),
            faults: Vec::new(),
            next_fault_id: 1,
            rng: XorShift::new(seed),
            next_tenant_id: FIRST_TENANT_ID,
            demo: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub tenant_id: i64,
    pub client_id: String,
    pub expires_at: Timestamp,
    pub revoked: bool,
}

/// Token bucket on wall time: capacity 60, refill 60/s.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub tokens: f64,
    pub last: Instant,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    pub id: u64,
    pub path_contains: String,
    pub error_rate: f64,
    pub status: u16,
    pub latency_ms: u64,
    #[serde(serialize_with = "ser_ts_opt")]
    pub outage_until: Option<Timestamp>,
    pub matched: u64,
}

fn ser_ts_opt<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::util::ts(*t)),
        None => s.serialize_none(),
    }
}

#[derive(Debug)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub creds: TenantCredentials,
    pub created_on: Timestamp,
    pub next_id: i64,
    /// The user the API writes as (`createdById`).
    pub api_user_id: i64,
    pub business_units: BTreeMap<i64, BusinessUnit>,
    pub technicians: BTreeMap<i64, Technician>,
    pub job_types: BTreeMap<i64, JobType>,
    pub campaigns: BTreeMap<i64, Campaign>,
    pub customers: BTreeMap<i64, Customer>,
    pub locations: BTreeMap<i64, Location>,
    pub jobs: BTreeMap<i64, Job>,
    pub appointments: BTreeMap<i64, Appointment>,
    pub invoices: BTreeMap<i64, Invoice>,
    pub payments: BTreeMap<i64, Payment>,
    pub estimates: BTreeMap<i64, Estimate>,
    pub bookings: BTreeMap<i64, Booking>,
    pub leads: BTreeMap<i64, Lead>,
    pub calls: BTreeMap<i64, Call>,
}

impl Tenant {
    pub fn new(id: i64, name: &str, creds: TenantCredentials, now: Timestamp) -> Self {
        let mut t = Self {
            id,
            name: name.to_string(),
            creds,
            created_on: now,
            next_id: FIRST_RECORD_ID,
            api_user_id: 0,
            business_units: BTreeMap::new(),
            technicians: BTreeMap::new(),
            job_types: BTreeMap::new(),
            campaigns: BTreeMap::new(),
            customers: BTreeMap::new(),
            locations: BTreeMap::new(),
            jobs: BTreeMap::new(),
            appointments: BTreeMap::new(),
            invoices: BTreeMap::new(),
            payments: BTreeMap::new(),
            estimates: BTreeMap::new(),
            bookings: BTreeMap::new(),
            leads: BTreeMap::new(),
            calls: BTreeMap::new(),
        };
        t.api_user_id = t.next_id();
        t
    }

    pub fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sum of open balances of the customer's active invoices, in cents.
    pub fn customer_balance(&self, customer_id: i64) -> i64 {
        self.invoices
            .values()
            .filter(|i| i.customer_id == customer_id && i.active)
            .map(|i| i.balance)
            .sum()
    }
}

macro_rules! rec {
    ($t:ty) => {
        impl Rec for $t {
            fn id(&self) -> i64 {
                self.id
            }
            fn created(&self) -> Timestamp {
                self.created_on
            }
            fn modified(&self) -> Timestamp {
                self.modified_on
            }
            fn active(&self) -> bool {
                self.active
            }
        }
    };
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub zip: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ExtData {
    pub application_guid: String,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub memo: Option<String>,
    /// `phoneSettings.doNotText`: set in ServiceTitan's UI (the API has no field for it); a sandbox control here.
    pub do_not_text: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Note {
    pub id: i64,
    pub text: String,
    pub is_pinned: bool,
    pub created_by_id: i64,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}

#[derive(Debug, Clone)]
pub struct BusinessUnit {
    pub id: i64,
    pub name: String,
    pub official_name: String,
    pub trade: (i64, String),
    pub email: String,
    pub phone: String,
    pub address: Address,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(BusinessUnit);

#[derive(Debug, Clone)]
pub struct Technician {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub business_unit_id: Option<i64>,
    pub email: String,
    pub phone: String,
    pub login_name: String,
    pub positions: Vec<String>,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Technician);

#[derive(Debug, Clone)]
pub struct JobType {
    pub id: i64,
    pub name: String,
    pub business_unit_ids: Vec<i64>,
    pub priority: String,
    /// seconds
    pub duration: i64,
    pub class: String,
    pub summary: String,
    /// Typical invoice amount in cents (sandbox-only; used when a job completes).
    pub typical_price: i64,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(JobType);

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub category: (i64, String),
    pub source: Option<String>,
    pub medium: Option<String>,
    pub phone_numbers: Vec<String>,
    pub is_default: bool,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Campaign);

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub address: Address,
    pub active: bool,
    pub contacts: Vec<Contact>,
    pub do_not_mail: bool,
    pub do_not_service: bool,
    pub national_account: bool,
    pub tax_exempt: bool,
    pub tag_type_ids: Vec<i64>,
    pub custom_fields: Vec<(i64, String)>,
    pub external_data: Vec<ExtData>,
    pub payment_term_id: Option<i64>,
    pub credit_limit: Option<f64>,
    pub credit_limit_balance: Option<f64>,
    pub notes: Vec<Note>,
    pub created_by_id: i64,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Customer);

#[derive(Debug, Clone)]
pub struct Location {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub address: Address,
    pub active: bool,
    pub contacts: Vec<Contact>,
    pub tag_type_ids: Vec<i64>,
    pub custom_fields: Vec<(i64, String)>,
    pub external_data: Vec<ExtData>,
    pub tax_exempt: bool,
    pub notes: Vec<Note>,
    pub created_by_id: i64,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Location);

#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub job_number: String,
    pub customer_id: i64,
    pub location_id: i64,
    pub business_unit_id: i64,
    pub job_type_id: i64,
    pub priority: String,
    pub campaign_id: i64,
    pub status: String,
    pub appointment_ids: Vec<i64>,
    pub invoice_id: i64,
    pub summary: Option<String>,
    pub customer_po: String,
    pub tag_type_ids: Vec<i64>,
    pub custom_fields: Vec<(i64, String)>,
    pub external_data: Vec<ExtData>,
    pub estimate_ids: Vec<i64>,
    pub sold_by_id: Option<i64>,
    pub lead_source: Option<(Option<i64>, Option<i64>)>,
    pub booking_id: Option<i64>,
    pub lead_call_id: Option<i64>,
    pub no_charge: bool,
    pub completed_on: Option<Timestamp>,
    pub notes: Vec<Note>,
    pub active: bool,
    pub created_by_id: i64,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Job);

#[derive(Debug, Clone)]
pub struct Appointment {
    pub id: i64,
    pub job_id: i64,
    pub number: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub arrival_window_start: Option<Timestamp>,
    pub arrival_window_end: Option<Timestamp>,
    pub status: String,
    pub technician_ids: Vec<i64>,
    pub special_instructions: Option<String>,
    pub customer_id: i64,
    pub is_confirmed: bool,
    pub active: bool,
    pub created_by_id: i64,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Appointment);

#[derive(Debug, Clone)]
pub struct InvoiceItem {
    pub id: i64,
    pub sku_id: i64,
    pub sku_name: String,
    pub description: String,
    pub quantity: i64,
    /// cents
    pub price: i64,
    pub cost: i64,
    pub created_on: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: i64,
    /// Nullable in ServiceTitan's schema (an invoice made outside a job may have none).
    pub reference_number: Option<String>,
    pub job_id: Option<i64>,
    pub customer_id: i64,
    pub location_id: i64,
    pub business_unit_id: i64,
    pub invoice_date: Timestamp,
    pub due_date: Timestamp,
    pub term_name: String,
    /// cents
    pub sub_total: i64,
    pub sales_tax: i64,
    pub total: i64,
    pub balance: i64,
    pub items: Vec<InvoiceItem>,
    pub summary: Option<String>,
    pub paid_on: Option<Timestamp>,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Invoice);

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: i64,
    pub customer_id: i64,
    pub business_unit_id: i64,
    pub kind: String,
    pub type_id: String,
    pub reference_number: String,
    pub memo: Option<String>,
    pub date: Timestamp,
    /// cents
    pub total: i64,
    /// (invoice id, applied cents, applied id)
    pub applied: Vec<(i64, i64, i64)>,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Payment);

#[derive(Debug, Clone)]
pub struct EstimateItem {
    pub id: i64,
    pub sku_id: i64,
    pub sku_name: String,
    pub sku_type: String,
    pub description: String,
    /// hundredths of a unit
    pub qty: i64,
    /// cents
    pub unit_rate: i64,
    pub unit_cost: i64,
    pub item_group_name: String,
    pub chargeable: Option<bool>,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Estimate {
    pub id: i64,
    pub job_id: Option<i64>,
    pub location_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub name: Option<String>,
    pub summary: Option<String>,
    /// Open | Sold | Dismissed
    pub status: String,
    pub review_status: String,
    pub sold_on: Option<Timestamp>,
    pub sold_by: Option<i64>,
    pub items: Vec<EstimateItem>,
    /// cents
    pub tax: i64,
    pub is_recommended: bool,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Estimate);

impl Estimate {
    pub fn subtotal(&self) -> i64 {
        self.items.iter().map(|i| i.qty * i.unit_rate / 100).sum()
    }
}

/// A booking made through the booking-provider API (crm-v2 `Crm.V2.BookingResponse`). Contacts sent on create are
/// validated but not kept (the booking contacts endpoints are not implemented).
#[derive(Debug, Clone)]
pub struct Booking {
    pub id: i64,
    /// The `booking_provider` path id it was created under (any int64 tag).
    pub provider_id: i64,
    pub source: String,
    pub name: String,
    pub address: Option<Address>,
    pub customer_type: Option<String>,
    pub start: Timestamp,
    pub summary: String,
    pub campaign_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub priority: Option<String>,
    pub is_first_time_client: bool,
    pub uploaded_images: Vec<String>,
    pub is_send_confirmation_email: Option<bool>,
    pub external_id: String,
    /// New | Converted | Dismissed | Accepted
    pub status: String,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Booking);

/// A lead (crm-v2 `Crm.V2.LeadResponse`): a request for service the office follows up on, before there is a job.
#[derive(Debug, Clone)]
pub struct Lead {
    pub id: i64,
    /// Open | Dismissed | Converted
    pub status: String,
    pub priority: String,
    pub customer_id: Option<i64>,
    pub location_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub campaign_id: i64,
    pub follow_up_date: Option<Timestamp>,
    pub summary: String,
    pub tag_type_ids: Vec<i64>,
    pub call_reason_id: Option<i64>,
    pub booking_id: Option<i64>,
    /// What the caller gave for the lead (`leadCustomerName`, `leadPhone`, ... `leadCountry`).
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub street: Option<String>,
    pub unit: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub created_by_id: i64,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}

/// Leads have no `active` flag (and the leads list no `active` filter).
impl Rec for Lead {
    fn id(&self) -> i64 {
        self.id
    }
    fn created(&self) -> Timestamp {
        self.created_on
    }
    fn modified(&self) -> Timestamp {
        self.modified_on
    }
}

/// A phone call (telecom `Telecom.V3.CallModelResponse` / `Telecom.V2.ExportCallResponse`).
#[derive(Debug, Clone)]
pub struct Call {
    pub id: i64,
    pub received_on: Timestamp,
    pub duration_seconds: i64,
    pub from: String,
    pub to: String,
    /// Inbound | Outbound
    pub direction: String,
    /// V2 status: Ringing | Answered | Completed | Initiated
    pub status: String,
    /// Abandoned | Unbooked | Excused | Booked | NotLead
    pub call_type: Option<String>,
    pub customer: Option<(i64, String)>,
    pub location: Option<(i64, String)>,
    pub campaign: Option<(i64, String)>,
    /// (job id, job number)
    pub job: Option<(i64, String)>,
    pub agent: Option<(i64, String)>,
    pub active: bool,
    pub created_on: Timestamp,
    pub modified_on: Timestamp,
}
rec!(Call);
