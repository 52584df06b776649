use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::crm::{CreateNote, Note};
use crate::models::jpm::{Appointment, CancelJob, CreateJob, Job, JobType};
use crate::paging::ExportPage;

impl Client {
    pub async fn job_types(&self) -> Result<Vec<JobType>, Error> {
        self.list_all(Module::Jpm, "/job-types", &[]).await
    }

    /// Creates a job with its appointments (ServiceTitan also creates its invoice).
    pub async fn create_job(&self, request: &CreateJob) -> Result<Job, Error> {
        self.post(Module::Jpm, "/jobs", request).await
    }

    pub async fn job(&self, id: i64) -> Result<Job, Error> {
        self.get(Module::Jpm, &format!("/jobs/{id}"), &[]).await
    }

    pub async fn jobs_by_ids(&self, ids: &[i64]) -> Result<Vec<Job>, Error> {
        self.list_by_ids(Module::Jpm, "/jobs", ids, &[]).await
    }

    pub async fn cancel_job(&self, id: i64, request: &CancelJob) -> Result<(), Error> {
        self.put_empty(Module::Jpm, &format!("/jobs/{id}/cancel"), request)
            .await
    }

    pub async fn add_job_note(&self, job_id: i64, note: &CreateNote) -> Result<Note, Error> {
        self.post(Module::Jpm, &format!("/jobs/{job_id}/notes"), note).await
    }

    pub async fn job_appointments(&self, job_id: i64) -> Result<Vec<Appointment>, Error> {
        self.list_all(Module::Jpm, "/appointments", &[("jobId", job_id.to_string())])
            .await
    }

    pub async fn appointment(&self, id: i64) -> Result<Appointment, Error> {
        self.get(Module::Jpm, &format!("/appointments/{id}"), &[]).await
    }

    pub async fn export_jobs(&self, from: Option<&str>) -> Result<ExportPage<Job>, Error> {
        self.export_page(Module::Jpm, "jobs", from, false).await
    }

    pub async fn export_appointments(&self, from: Option<&str>) -> Result<ExportPage<Appointment>, Error> {
        self.export_page(Module::Jpm, "appointments", from, false).await
    }
}
