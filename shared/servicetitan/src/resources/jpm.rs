use crate::client::{Client, Module};
use crate::error::Error;
use crate::models::crm::{CreateNote, Note};
use crate::models::jpm::{
    AddAppointment, Appointment, CancelJob, CreateJob, Job, JobFilter, JobType, RescheduleAppointment,
};
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

    /// The job with the externalData it holds for `application_guid` (`GET /jobs/{id}?externalDataApplicationGuid=`).
    pub async fn job_with_external_data(&self, id: i64, application_guid: &str) -> Result<Job, Error> {
        let q = [("externalDataApplicationGuid", application_guid.to_owned())];
        self.get(Module::Jpm, &format!("/jobs/{id}"), &q).await
    }

    /// Jobs matching the filter, across all pages, in id order. `jobStatus` takes one status, so several statuses
    /// cost one listing each.
    pub async fn find_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, Error> {
        let query = filter.query();
        let mut statuses = Vec::new();
        for s in &filter.job_statuses {
            if !statuses.contains(s) {
                statuses.push(*s);
            }
        }
        let mut jobs: Vec<Job> = Vec::new();
        if statuses.is_empty() {
            jobs = self.list_all(Module::Jpm, "/jobs", &query).await?;
        }
        for status in statuses {
            let mut q = query.clone();
            q.push(("jobStatus", status.as_str().to_owned()));
            jobs.extend(self.list_all::<Job>(Module::Jpm, "/jobs", &q).await?);
        }
        // A job whose status changed between two listings can be in both.
        jobs.sort_by_key(|j| j.id);
        jobs.dedup_by_key(|j| j.id);
        Ok(jobs)
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

    pub async fn job_notes(&self, job_id: i64) -> Result<Vec<Note>, Error> {
        self.list_all(Module::Jpm, &format!("/jobs/{job_id}/notes"), &[]).await
    }

    pub async fn job_appointments(&self, job_id: i64) -> Result<Vec<Appointment>, Error> {
        self.list_all(Module::Jpm, "/appointments", &[("jobId", job_id.to_string())])
            .await
    }

    pub async fn appointment(&self, id: i64) -> Result<Appointment, Error> {
        self.get(Module::Jpm, &format!("/appointments/{id}"), &[]).await
    }

    /// Moves an appointment (`PATCH /appointments/{id}/reschedule`).
    pub async fn reschedule_appointment(&self, id: i64, request: &RescheduleAppointment) -> Result<Appointment, Error> {
        decode_patch(self, &format!("/appointments/{id}/reschedule"), request).await
    }

    /// Adds a visit to a job (`POST /appointments`).
    pub async fn add_appointment(&self, request: &AddAppointment) -> Result<Appointment, Error> {
        self.post(Module::Jpm, "/appointments", request).await
    }

    pub async fn export_jobs(&self, from: Option<&str>) -> Result<ExportPage<Job>, Error> {
        self.export_page(Module::Jpm, "jobs", from, false).await
    }

    pub async fn export_appointments(&self, from: Option<&str>) -> Result<ExportPage<Appointment>, Error> {
        self.export_page(Module::Jpm, "appointments", from, false).await
    }
}

async fn decode_patch<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &str,
    body: &B,
) -> Result<T, Error> {
    let bytes = client
        .send(http::Method::PATCH, Module::Jpm, path, &[], Some(body))
        .await?;
    serde_json::from_slice(&bytes.0).map_err(|e| Error::Decode(e.to_string()))
}
