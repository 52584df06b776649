use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::sales::{CreateEstimate, Estimate, EstimateStatus, SellEstimate};
use crate::paging::ExportPage;

impl Client {
    pub async fn create_estimate(&self, request: &CreateEstimate) -> Result<Estimate, Error> {
        self.post(Module::Sales, "/estimates", request).await
    }

    pub async fn estimate(&self, id: i64) -> Result<Estimate, Error> {
        self.get(Module::Sales, &format!("/estimates/{id}"), &[]).await
    }

    pub async fn job_estimates(&self, job_id: i64, status: Option<EstimateStatus>) -> Result<Vec<Estimate>, Error> {
        let mut q = vec![("jobId", job_id.to_string())];
        if let Some(s) = status {
            q.push(("status", s.as_str().to_owned()));
        }
        self.list_all(Module::Sales, "/estimates", &q).await
    }

    pub async fn sell_estimate(&self, id: i64, sold_by: i64) -> Result<Estimate, Error> {
        self.put(
            Module::Sales,
            &format!("/estimates/{id}/sell"),
            &SellEstimate { sold_by },
        )
        .await
    }

    pub async fn export_estimates(&self, from: Option<&str>) -> Result<ExportPage<Estimate>, Error> {
        self.export_page(Module::Sales, "estimates", from, false).await
    }

    pub async fn dismiss_estimate(&self, id: i64) -> Result<(), Error> {
        self.put_empty(
            Module::Sales,
            &format!("/estimates/{id}/dismiss"),
            &serde_json::json!({}),
        )
        .await
    }
}
