use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::crm::{
    CreateCustomer, CreateLocation, CreateNote, CreatedCustomer, Customer, CustomerFilter, Location, Note,
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

    pub async fn add_customer_note(&self, customer_id: i64, note: &CreateNote) -> Result<Note, Error> {
        self.post(Module::Crm, &format!("/customers/{customer_id}/notes"), note)
            .await
    }

    pub async fn customer_notes(&self, customer_id: i64) -> Result<Vec<Note>, Error> {
        self.list_all(Module::Crm, &format!("/customers/{customer_id}/notes"), &[])
            .await
    }

    pub async fn add_location_note(&self, location_id: i64, note: &CreateNote) -> Result<Note, Error> {
        self.post(Module::Crm, &format!("/locations/{location_id}/notes"), note)
            .await
    }

    pub async fn export_customers(&self, from: Option<&str>) -> Result<ExportPage<Customer>, Error> {
        self.export_page(Module::Crm, "customers", from, false).await
    }
}
