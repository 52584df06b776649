//! CRM: customers, locations, contacts, notes, bookings.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ExternalDataCreate, ExternalDataItem, datetime};

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
        if let Some((guid, key, values)) = &self.external_data {
            q.push(("externalDataApplicationGuid", guid.clone()));
            q.push(("externalDataKey", key.clone()));
            q.push(("externalDataValues", values.join(",")));
        }
        if let Some(t) = self.modified_on_or_after {
            q.push(("modifiedOnOrAfter", t.to_string()));
        }
        q
    }
}
