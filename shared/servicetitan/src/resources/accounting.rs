use jiff::civil::Date;

use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::accounting::{Invoice, Payment};
use crate::paging::ExportPage;

/// Filters of `GET /invoices` the follow-up engine uses.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub ids: Vec<i64>,
    pub customer_id: Option<i64>,
    pub due_date_before: Option<Date>,
    pub due_date_on_or_after: Option<Date>,
    /// Only invoices with a balance greater than zero.
    pub unpaid_only: bool,
}

impl Client {
    /// Unpaid invoices whose due date (UTC) is before `now`'s: the existing overdue ones, however long ago they last
    /// changed.
    pub async fn unpaid_past_due(&self, now: jiff::Timestamp) -> Result<Vec<Invoice>, Error> {
        self.invoices(&InvoiceFilter {
            due_date_before: Some(now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()),
            unpaid_only: true,
            ..Default::default()
        })
        .await
    }

    /// Invoices (there is no GET by id; use `ids`).
    pub async fn invoices(&self, filter: &InvoiceFilter) -> Result<Vec<Invoice>, Error> {
        let mut q = Vec::new();
        if let Some(c) = filter.customer_id {
            q.push(("customerId", c.to_string()));
        }
        if let Some(d) = filter.due_date_before {
            q.push(("dueDateBefore", d.to_string()));
        }
        if let Some(d) = filter.due_date_on_or_after {
            q.push(("dueDateOnOrAfter", d.to_string()));
        }
        if filter.unpaid_only {
            q.push(("balanceFilter.Balance", "0".to_owned()));
            q.push(("balanceFilter.Comparer", "Greater".to_owned()));
        }
        if filter.ids.is_empty() {
            self.list_all(Module::Accounting, "/invoices", &q).await
        } else {
            self.list_by_ids(Module::Accounting, "/invoices", &filter.ids, &q).await
        }
    }

    pub async fn export_invoices(&self, from: Option<&str>) -> Result<ExportPage<Invoice>, Error> {
        self.export_page(Module::Accounting, "invoices", from, false).await
    }

    pub async fn export_payments(&self, from: Option<&str>) -> Result<ExportPage<Payment>, Error> {
        self.export_page(Module::Accounting, "payments", from, false).await
    }

    /// Payments by id (`GET /payments?ids=`).
    pub async fn payments_by_ids(&self, ids: &[i64]) -> Result<Vec<Payment>, Error> {
        self.list_by_ids(Module::Accounting, "/payments", ids, &[]).await
    }

    pub async fn invoice_payments(&self, invoice_ids: &[i64]) -> Result<Vec<Payment>, Error> {
        let mut out = Vec::new();
        for chunk in crate::paging::id_chunks(invoice_ids) {
            out.extend(
                self.list_all(Module::Accounting, "/payments", &[("appliedToInvoiceIds", chunk)])
                    .await?,
            );
        }
        Ok(out)
    }
}
