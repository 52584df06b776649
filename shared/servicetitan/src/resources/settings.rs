use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::settings::{BusinessUnit, Campaign, Technician};

impl Client {
    /// Active business units. A cheap read, also used to check that credentials work.
    pub async fn business_units(&self) -> Result<Vec<BusinessUnit>, Error> {
        self.list_all(Module::Settings, "/business-units", &[]).await
    }

    pub async fn technicians(&self) -> Result<Vec<Technician>, Error> {
        self.list_all(Module::Settings, "/technicians", &[]).await
    }

    pub async fn campaigns(&self) -> Result<Vec<Campaign>, Error> {
        self.list_all(Module::Marketing, "/campaigns", &[]).await
    }
}
