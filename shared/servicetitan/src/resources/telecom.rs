use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::telecom::{Call, CallFilter, ExportCall};
use crate::paging::{ExportPage, LIST_PAGE_SIZE, Page};

impl Client {
    /// Calls matching the filter (`GET /telecom/v3/tenant/{t}/calls`), across all pages.
    pub async fn calls(&self, filter: &CallFilter) -> Result<Vec<Call>, Error> {
        let mut out = Vec::new();
        for page in 1.. {
            let mut q = filter.query();
            q.push(("page", page.to_string()));
            q.push(("pageSize", LIST_PAGE_SIZE.to_string()));
            let p: Page<Call> = self.telecom_get(3, "/calls", &q).await?;
            out.extend(p.data);
            if !p.has_more {
                break;
            }
        }
        Ok(out)
    }

    /// One page of the calls export feed (`GET /telecom/v2/tenant/{t}/export/calls`).
    pub async fn export_calls(&self, from: Option<&str>) -> Result<ExportPage<ExportCall>, Error> {
        // Telecom's v2 paths are what `Client::url` builds for `Module::Telecom`.
        self.export_page(Module::Telecom, "calls", from, false).await
    }
}
