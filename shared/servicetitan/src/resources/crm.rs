use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::crm::{
    Booking, CreateBooking, CreateCustomer, CreateLead, CreateLocation, CreateNote, CreatedCustomer, Customer,
    CustomerContact, CustomerFilter, Lead, LeadFilter, Location, LocationFilter, NewContact, Note,
};
use crate::paging::{ExportPage, Page};

/// `ids={id}&active=Any&externalDataApplicationGuid=…`: one record by id, active or not, with the application's
/// externalData (which `GET /customers/{id}` and `GET /locations/{id}` do not take a GUID for).
fn by_id_with_external_data(id: i64, application_guid: &str) -> [(&'static str, String); 3] {
    [
        ("ids", id.to_string()),
        ("active", "Any".to_owned()),
        ("externalDataApplicationGuid", application_guid.to_owned()),
    ]
}

impl Client {
    pub async fn create_customer(&self, request: &CreateCustomer) -> Result<CreatedCustomer, Error> {
        self.post(Module::Crm, "/customers", request).await
    }

    pub async fn customer(&self, id: i64) -> Result<Customer, Error> {
        self.get(Module::Crm, &format!("/customers/{id}"), &[]).await
    }

    /// Customers matching the filter (phone, name, address, externalData), across all pages.
    pub async fn find_customers(&self, filter: &CustomerFilter) -> Result<Vec<Customer>, Error> {
        self.list_all(Module::Crm, "/customers", &filter.query()).await
    }

    /// Customers by id, 50 per request (ServiceTitan's limit on `ids`).
    pub async fn customers_by_ids(&self, ids: &[i64]) -> Result<Vec<Customer>, Error> {
        let mut out = Vec::new();
        for chunk in ids.chunks(50) {
            let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            out.extend(
                self.list_all::<Customer>(Module::Crm, "/customers", &[("ids", list)])
                    .await?,
            );
        }
        Ok(out)
    }

    /// The customer with the externalData it holds for `application_guid`; `None` when there is no such customer.
    pub async fn customer_with_external_data(
        &self,
        id: i64,
        application_guid: &str,
    ) -> Result<Option<Customer>, Error> {
        let q = by_id_with_external_data(id, application_guid);
        let page: Page<Customer> = self.page(Module::Crm, "/customers", &q, 1, 1).await?;
        Ok(page.data.into_iter().find(|c| c.id == id))
    }

    pub async fn create_location(&self, request: &CreateLocation) -> Result<Location, Error> {
        self.post(Module::Crm, "/locations", request).await
    }

    pub async fn location(&self, id: i64) -> Result<Location, Error> {
        self.get(Module::Crm, &format!("/locations/{id}"), &[]).await
    }

    /// Locations matching the filter (customer, street, unit, zip, externalData), across all pages.
    pub async fn find_locations(&self, filter: &LocationFilter) -> Result<Vec<Location>, Error> {
        self.list_all(Module::Crm, "/locations", &filter.query()).await
    }

    /// The location with the externalData it holds for `application_guid`; `None` when there is no such location.
    pub async fn location_with_external_data(
        &self,
        id: i64,
        application_guid: &str,
    ) -> Result<Option<Location>, Error> {
        let q = by_id_with_external_data(id, application_guid);
        let page: Page<Location> = self.page(Module::Crm, "/locations", &q, 1, 1).await?;
        Ok(page.data.into_iter().find(|l| l.id == id))
    }

    pub async fn customer_locations(&self, customer_id: i64) -> Result<Vec<Location>, Error> {
        self.list_all(Module::Crm, "/locations", &[("customerId", customer_id.to_string())])
            .await
    }

    /// The customer's own contacts (not its locations'), across all pages.
    pub async fn customer_contacts(&self, customer_id: i64) -> Result<Vec<CustomerContact>, Error> {
        self.list_all(Module::Crm, &format!("/customers/{customer_id}/contacts"), &[])
            .await
    }

    pub async fn add_customer_contact(&self, customer_id: i64, contact: &NewContact) -> Result<CustomerContact, Error> {
        self.post(Module::Crm, &format!("/customers/{customer_id}/contacts"), contact)
            .await
    }

    pub async fn add_customer_note(&self, customer_id: i64, note: &CreateNote) -> Result<Note, Error> {
        self.post(Module::Crm, &format!("/customers/{customer_id}/notes"), note)
            .await
    }

    pub async fn customer_notes(&self, customer_id: i64) -> Result<Vec<Note>, Error> {
        self.list_all(Module::Crm, &format!("/customers/{customer_id}/notes"), &[])
            .await
    }

    pub async fn location_notes(&self, location_id: i64) -> Result<Vec<Note>, Error> {
        self.list_all(Module::Crm, &format!("/locations/{location_id}/notes"), &[])
            .await
    }

    pub async fn add_location_note(&self, location_id: i64, note: &CreateNote) -> Result<Note, Error> {
        self.post(Module::Crm, &format!("/locations/{location_id}/notes"), note)
            .await
    }

    pub async fn export_customers(&self, from: Option<&str>) -> Result<ExportPage<Customer>, Error> {
        self.export_page(Module::Crm, "customers", from, false).await
    }

    /// Creates a booking under a booking provider (`booking_provider` is the provider tag's id).
    pub async fn create_booking(&self, provider: i64, request: &CreateBooking) -> Result<Booking, Error> {
        self.post(Module::Crm, &format!("/booking-provider/{provider}/bookings"), request)
            .await
    }

    pub async fn booking(&self, provider: i64, id: i64) -> Result<Booking, Error> {
        self.get(Module::Crm, &format!("/booking-provider/{provider}/bookings/{id}"), &[])
            .await
    }

    /// The provider's bookings, across all pages; with `external_id`, only those made with that id (the caller's own
    /// id for the booking, so a retried create can find the first attempt's).
    pub async fn bookings(&self, provider: i64, external_id: Option<&str>) -> Result<Vec<Booking>, Error> {
        let q: Vec<(&str, String)> = external_id.map(|e| ("externalId", e.to_owned())).into_iter().collect();
        self.list_all(Module::Crm, &format!("/booking-provider/{provider}/bookings"), &q)
            .await
    }

    /// Creates an Open lead.
    pub async fn create_lead(&self, request: &CreateLead) -> Result<Lead, Error> {
        self.post(Module::Crm, "/leads", request).await
    }

    pub async fn lead(&self, id: i64) -> Result<Lead, Error> {
        self.get(Module::Crm, &format!("/leads/{id}"), &[]).await
    }

    /// Leads matching the filter (customer, status, phone, created range), across all pages.
    pub async fn find_leads(&self, filter: &LeadFilter) -> Result<Vec<Lead>, Error> {
        self.list_all(Module::Crm, "/leads", &filter.query()).await
    }
}
