//! CRM: customers, locations, contacts, notes, bookings, leads.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ExternalDataCreate, ExternalDataItem, datetime, push_external_data};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomerType {
    Residential,
    Commercial,
}

/// `Crm.V2.ContactType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactType {
    Phone,
    Email,
    Fax,
    MobilePhone,
}

/// `Crm.V2.Customers.CustomerAddress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub street: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

/// `Crm.V2.Customers.NewCustomerContact`; also the body of `POST /customers/{id}/contacts`
/// (`Crm.V2.Customers.CreateCustomerContactRequest`) and a booking's contacts (`Crm.V2.BookingContactModel`), which
/// have the same fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContact {
    #[serde(rename = "type")]
    pub kind: ContactType,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// `Crm.V2.Customers.NewLocation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLocation {
    pub name: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<NewContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `Crm.V2.Customers.CreateCustomerRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomer {
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CustomerType>,
    pub locations: Vec<NewLocation>,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<NewContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `Crm.V2.Customers.CustomerResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub active: bool,
    #[serde(rename = "type")]
    pub kind: CustomerType,
    pub address: Address,
    #[serde(default)]
    pub do_not_mail: bool,
    #[serde(default)]
    pub do_not_service: bool,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
    #[serde(default)]
    pub merged_to_id: Option<i64>,
    /// Only the entries of the application GUID the request named (none without one).
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
}

/// `Crm.V2.Customers.CustomerContact` as returned on create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: ContactType,
    pub value: String,
    #[serde(default)]
    pub memo: Option<String>,
}

/// `Crm.V2.Customers.PhoneSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneSettings {
    pub phone_number: String,
    #[serde(default)]
    pub do_not_text: bool,
}

/// `Crm.V2.Customers.CustomerContactWithModifiedOnResponse` (subset): what `GET` / `POST /customers/{id}/contacts`
/// return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerContact {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: ContactType,
    pub value: String,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub phone_settings: Option<PhoneSettings>,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

/// `Crm.V2.Customers.CreatedCustomerResponse`: the customer with the locations and contacts it was created with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCustomer {
    #[serde(flatten)]
    pub customer: Customer,
    #[serde(default)]
    pub locations: Vec<Location>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

/// `Crm.V2.Locations.CreateLocationRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLocation {
    pub customer_id: i64,
    pub name: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<NewContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `Crm.V2.Locations.LocationResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub active: bool,
    pub address: Address,
    /// Only the entries of the application GUID the request named (none without one).
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
}

/// `Crm.V2.Customers.CustomerNoteCreateRequest` / `Crm.V2.Locations.LocationNoteCreateRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateNote {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_to_top: Option<bool>,
}

/// `Crm.V2.NoteResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub text: String,
    #[serde(default)]
    pub is_pinned: bool,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
}

/// `Crm.V2.Priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

/// `Crm.V2.BookingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingStatus {
    New,
    Converted,
    Dismissed,
    Accepted,
}

/// `Crm.V2.AddressModel`: a booking's address (no coordinates, unlike [`Address`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingAddress {
    pub street: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
}

/// `Crm.V2.CreateBookingRequest`: a booking through the booking-provider API, for the office to review and turn into
/// a job. `externalId` is the caller's own id for it (the product's lead or conversation id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBooking {
    pub source: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<BookingAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<NewContact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_type: Option<CustomerType>,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_unit_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    pub is_first_time_client: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_send_confirmation_email: Option<bool>,
    pub external_id: String,
}

/// `Crm.V2.BookingResponse` (subset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub id: i64,
    pub booking_provider_id: i64,
    pub source: String,
    pub name: String,
    pub status: BookingStatus,
    pub external_id: String,
    #[serde(default)]
    pub address: Option<BookingAddress>,
    #[serde(default)]
    pub customer_type: Option<CustomerType>,
    #[serde(with = "datetime")]
    pub start: Timestamp,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<i64>,
    #[serde(default)]
    pub business_unit_id: Option<i64>,
    #[serde(default)]
    pub job_type_id: Option<i64>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub is_first_time_client: Option<bool>,
    /// Set once the office converts the booking into a job.
    #[serde(default)]
    pub job_id: Option<i64>,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

/// `Crm.V2.LeadStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeadStatus {
    Open,
    Dismissed,
    Converted,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Dismissed => "Dismissed",
            Self::Converted => "Converted",
        }
    }
}

/// `Crm.V2.LeadCreateRequest`: a request for service for the office to follow up, before there is a job.
/// ServiceTitan needs `follow_up_date` or `call_reason_id`. A `booking_id` booking is dismissed and becomes the lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLead {
    pub campaign_id: i64,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_unit_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_reason_id: Option<i64>,
    #[serde(default, with = "datetime::option", skip_serializing_if = "Option::is_none")]
    pub follow_up_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_type_ids: Vec<i64>,
    /// What the caller gave, kept on the lead as written (useful when there is no customer yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_country: Option<String>,
}

/// `Crm.V2.LeadResponse` (subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    pub id: i64,
    pub status: LeadStatus,
    pub priority: Priority,
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub location_id: Option<i64>,
    #[serde(default)]
    pub business_unit_id: Option<i64>,
    #[serde(default)]
    pub job_type_id: Option<i64>,
    pub campaign_id: i64,
    #[serde(default, with = "datetime::option")]
    pub follow_up_date: Option<Timestamp>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub call_reason_id: Option<i64>,
    #[serde(default)]
    pub booking_id: Option<i64>,
    #[serde(default)]
    pub lead_customer_name: Option<String>,
    #[serde(default)]
    pub lead_phone: Option<String>,
    #[serde(default)]
    pub lead_email: Option<String>,
    #[serde(default)]
    pub lead_street: Option<String>,
    #[serde(default)]
    pub lead_unit: Option<String>,
    #[serde(default)]
    pub lead_city: Option<String>,
    #[serde(default)]
    pub lead_state: Option<String>,
    #[serde(default)]
    pub lead_zip: Option<String>,
    #[serde(default)]
    pub lead_country: Option<String>,
    #[serde(with = "datetime")]
    pub created_on: Timestamp,
    #[serde(with = "datetime")]
    pub modified_on: Timestamp,
}

/// Filters of `GET /leads`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub customer_id: Option<i64>,
    pub status: Option<LeadStatus>,
    /// `leadPhone`: the phone given for the lead.
    pub phone: Option<String>,
    pub created_on_or_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

impl LeadFilter {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = self.customer_id {
            q.push(("customerId", c.to_string()));
        }
        if let Some(s) = self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        if let Some(p) = &self.phone {
            q.push(("leadPhone", p.clone()));
        }
        if let Some(t) = self.created_on_or_after {
            q.push(("createdOnOrAfter", t.to_string()));
        }
        if let Some(t) = self.created_before {
            q.push(("createdBefore", t.to_string()));
        }
        q
    }
}

/// Filters of `GET /locations` the lead worker uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationFilter {
    pub customer_id: Option<i64>,
    pub street: Option<String>,
    pub unit: Option<String>,
    pub zip: Option<String>,
    /// `externalDataApplicationGuid`, `externalDataKey`, `externalDataValues` (at most 50 values). The locations
    /// found carry that application's externalData.
    pub external_data: Option<(String, String, Vec<String>)>,
}

impl LocationFilter {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(c) = self.customer_id {
            q.push(("customerId", c.to_string()));
        }
        for (k, v) in [("street", &self.street), ("unit", &self.unit), ("zip", &self.zip)] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        push_external_data(&mut q, &self.external_data);
        q
    }
}

/// Filters of `GET /customers` the product relies on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub street: Option<String>,
    pub zip: Option<String>,
    /// `externalDataApplicationGuid`, `externalDataKey`, `externalDataValues`.
    pub external_data: Option<(String, String, Vec<String>)>,
    pub modified_on_or_after: Option<Timestamp>,
}

impl CustomerFilter {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let mut push = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        };
        push("phone", &self.phone);
        push("name", &self.name);
        push("street", &self.street);
        push("zip", &self.zip);
        push_external_data(&mut q, &self.external_data);
        if let Some(t) = self.modified_on_or_after {
            q.push(("modifiedOnOrAfter", t.to_string()));
        }
        q
    }
}
