use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::crm::{
    Booking, CreateBooking, CreateCustomer, CreateLocation, CreateNote, CreatedCustomer, Customer, CustomerContact,
    CustomerFilter, Location, NewContact, Note,
};
use crate::paging::ExportPage;

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

    pub async fn create_location(&self, request: &CreateLocation) -> Result<Location, Error> {
        self.post(Module::Crm, "/locations", request).await
    }

    pub async fn location(&self, id: i64) -> Result<Location, Error> {
        self.get(Module::Crm, &format!("/locations/{id}"), &[]).await
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

    /// Every booking of the provider, across all pages.
    pub async fn bookings(&self, provider: i64) -> Result<Vec<Booking>, Error> {
        self.list_all(Module::Crm, &format!("/booking-provider/{provider}/bookings"), &[])
            .await
    }
}
