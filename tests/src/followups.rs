//! A harness for follow-up stories: the local stack with the sandbox's demo tenant connected through the admin
//! API, households and jobs made through ServiceTitan's API, scenario controls, virtual time, and the local sink's
//! outbox.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use servicetitan::models::crm::{Address, ContactType, CreateCustomer, CustomerType, NewContact, NewLocation};
use servicetitan::models::jpm::{CreateJob, Job, NewAppointment};
use servicetitan::models::sales::{CreateEstimate, Estimate};
use servicetitan_sandbox::TenantCredentials;

use crate::{TENANT, TestStack};

/// A customer with one service location and a mobile phone (and maybe an email).
#[derive(Debug, Clone)]
pub struct Household {
    pub customer_id: i64,
    pub location_id: i64,
    /// E.164.
    pub phone: String,
    pub email: Option<String>,
}

pub struct FollowUps {
    pub t: TestStack,
    pub demo: TenantCredentials,
    pub client: servicetitan::Client,
    http: reqwest::Client,
}

/// A stored tenant's settings with these recipes switched on.
pub fn settings(recipes: &[&str], extra: Value) -> Value {
    let mut s = json!({
        "businessUnitId": 0, "jobTypeId": 0, "campaignId": 0,
        "timeZone": "America/Chicago",
        "bookingUrl": "https://book.example.com/lone-star",
        "companyName": "Lone Star Home Services",
        "recipes": recipes,
        // Stories about other things let their AI calls go; the consent tests set {"basis": "recorded"}.
        "aiCallConsent": {"basis": "attested", "attestedBy": "Test Owner"},
    });
    if let Some(map) = extra.as_object() {
        for (k, v) in map {
            s[k] = v.clone();
        }
    }
    s
}

impl FollowUps {
    /// A stack with the demo tenant connected and `recipes` on (settings overridable with `extra`).
    pub async fn start(recipes: &[&str], extra: Value) -> Self {
        Self::start_with(recipes, extra, |_| {}).await
    }

    pub async fn start_with(
        recipes: &[&str],
        extra: Value,
        configure: impl FnOnce(&mut local_stack::StackOptions),
    ) -> Self {
        let fu = Self::unconnected(configure).await;
        let reply = fu.t.connect(&fu.demo, "integration").await;
        assert_eq!(reply.status, 200, "connect: {}", reply.body);
        fu.set_settings(recipes, extra).await;
        fu
    }

    /// A stack whose demo tenant is not connected yet (a contractor connects it, through the page).
    pub async fn unconnected(configure: impl FnOnce(&mut local_stack::StackOptions)) -> Self {
        let t = TestStack::start_with(configure).await;
        t.use_demo_key().await;
        // The test stack registers the tenant as connected (for tests of other things): not here.
        t.set_tenant(TENANT, shared::tenants::TenantStatus::Disconnected).await;
        let demo = t
            .stack
            .sandbox()
            .expect("the stack runs the sandbox")
            .demo_tenant()
            .unwrap();
        let client = t.servicetitan_client_on(
            &demo,
            Arc::new(servicetitan::MemoryTokenStore::default()),
            t.stack.clock(),
        );
        Self {
            t,
            demo,
            client,
            http: reqwest::Client::new(),
        }
    }

    /// PUTs settings with the tenant's first business unit, job type and campaign.
    pub async fn set_settings(&self, recipes: &[&str], extra: Value) {
        let reply = self.put_settings(self.settings_body(recipes, extra).await).await;
        assert_eq!(reply.status, 200, "settings: {}", reply.body);
    }

    /// A settings document with the tenant's first business unit, job type and campaign (`null` in `extra` removes
    /// a field).
    pub async fn settings_body(&self, recipes: &[&str], extra: Value) -> Value {
        let (unit, job_type, campaign) = self.catalogue().await;
        let mut s = settings(recipes, extra);
        s["businessUnitId"] = json!(unit);
        s["jobTypeId"] = json!(job_type);
        s["campaignId"] = json!(campaign);
        if let Some(map) = s.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        s
    }

    pub async fn put_settings(&self, body: Value) -> crate::Reply {
        self.t
            .admin(
                reqwest::Method::PUT,
                &format!("/admin/tenants/{TENANT}/settings"),
                Some(body),
            )
            .await
    }

    /// (business unit, job type of it, campaign).
    async fn catalogue(&self) -> (i64, i64, i64) {
        let units = self.client.business_units().await.unwrap();
        let unit = units
            .iter()
            .find(|u| u.name == "HVAC - Service")
            .unwrap_or(&units[0])
            .id;
        let job_type = self
            .client
            .job_types()
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.business_unit_ids.contains(&unit))
            .unwrap()
            .id;
        let campaign = self.client.campaigns().await.unwrap()[0].id;
        (unit, job_type, campaign)
    }

    pub fn now(&self) -> Timestamp {
        self.t.stack.clock().now_ts()
    }

    /// A household at an address in `state` / `zip`.
    pub async fn household(&self, name: &str, phone: &str, state: &str, zip: &str, email: Option<&str>) -> Household {
        let address = Address {
            street: "1200 Test Hollow Dr".into(),
            unit: None,
            city: "Testville".into(),
            state: state.into(),
            zip: zip.into(),
            country: "USA".into(),
            latitude: None,
            longitude: None,
        };
        let mut contacts = vec![NewContact {
            kind: ContactType::MobilePhone,
            value: phone.into(),
            memo: None,
        }];
        if let Some(e) = email {
            contacts.push(NewContact {
                kind: ContactType::Email,
                value: e.into(),
                memo: None,
            });
        }
        let created = self
            .client
            .create_customer(&CreateCustomer {
                name: name.into(),
                kind: Some(CustomerType::Residential),
                locations: vec![NewLocation {
                    name: name.into(),
                    address: address.clone(),
                    contacts: Vec::new(),
                    external_data: None,
                }],
                address,
                contacts,
                external_data: None,
            })
            .await
            .unwrap();
        Household {
            customer_id: created.customer.id,
            location_id: created.locations[0].id,
            phone: followups::recipient::e164(phone).unwrap(),
            email: email.map(str::to_owned),
        }
    }

    /// A job with one appointment at `start` (two hours, with a two-hour arrival window).
    pub async fn job(&self, h: &Household, start: Timestamp) -> Job {
        let (unit, job_type, campaign) = self.catalogue().await;
        self.client
            .create_job(&CreateJob {
                customer_id: h.customer_id,
                location_id: h.location_id,
                business_unit_id: unit,
                job_type_id: job_type,
                priority: "Normal".into(),
                campaign_id: campaign,
                appointments: vec![NewAppointment {
                    start,
                    end: start + SignedDuration::from_hours(2),
                    arrival_window_start: Some(start),
                    arrival_window_end: Some(start + SignedDuration::from_hours(2)),
                    technician_ids: vec![],
                }],
                summary: Some("Test visit".into()),
                external_data: None,
            })
            .await
            .unwrap()
    }

    /// An open estimate on a job.
    pub async fn estimate(&self, job: &Job, name: &str) -> Estimate {
        self.client
            .create_estimate(&CreateEstimate {
                name: Some(name.into()),
                summary: Some("Options".into()),
                job_id: Some(job.id),
                location_id: None,
                items: Vec::new(),
            })
            .await
            .unwrap()
    }

    /// POSTs a sandbox scenario control (`/_sandbox/tenants/1001/{path}`), then lets its webhooks through.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let value = self.control_only(path, body).await;
        self.webhooks().await;
        value
    }

    /// A sandbox scenario control without processing its webhooks yet.
    pub async fn control_only(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/_sandbox/tenants/{TENANT}/{path}", self.sandbox_url());
        let resp = self.http.post(url).json(&body).send().await.unwrap();
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// The sandbox's own counters (`GET /_sandbox/stats`).
    pub async fn sandbox_stats(&self) -> Value {
        reqwest::get(format!("{}/_sandbox/stats", self.sandbox_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// ServiceTitan API requests the sandbox has answered so far.
    pub async fn servicetitan_requests(&self) -> u64 {
        self.sandbox_stats().await["apiRequests"].as_u64().unwrap()
    }

    pub fn sandbox_url(&self) -> String {
        self.t.stack.sandbox().unwrap().url()
    }

    /// Waits for the sandbox to have made every webhook's first attempt, then drains the stack's queues; no message
    /// may fail.
    pub async fn webhooks(&self) {
        let report = self.settle().await;
        assert_eq!(report.messages_failed, 0, "{report:?}");
    }

    /// [`FollowUps::webhooks`] where failures are expected (an outage); returns the drain's report.
    pub async fn settle(&self) -> local_stack::stack::DrainReport {
        let sandbox = self.t.stack.sandbox().unwrap();
        for _ in 0..200 {
            let waiting = sandbox
                .deliveries()
                .iter()
                .any(|d| d["state"] == "pending" && d["attempts"].as_array().is_none_or(|a| a.is_empty()));
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.t.stack.drain().await.unwrap()
    }

    /// Moves virtual time forward, firing everything due in order; no message may fail on the way.
    pub async fn advance(&self, by: SignedDuration) {
        let report = self.t.stack.advance(by).await.unwrap();
        assert_eq!(report.messages_failed, 0, "while advancing {by:?}: {report:?}");
        self.webhooks().await;
    }

    /// [`FollowUps::advance`] where failures are expected (an outage).
    pub async fn advance_through_failures(&self, by: SignedDuration) -> local_stack::stack::DrainReport {
        let report = self.t.stack.advance(by).await.unwrap();
        self.settle().await;
        report
    }

    pub async fn advance_to(&self, at: Timestamp) {
        let now = self.now();
        if at > now {
            self.advance(at.duration_since(now)).await;
        }
    }

    /// Moves to the next `hour`:00 in `tz` (so a story starts at a known local time).
    pub async fn at_local_hour(&self, hour: i8, tz: &str) -> Timestamp {
        let zone = TimeZone::get(tz).unwrap();
        let now = self.now().to_zoned_datetime(zone.clone());
        let mut day = now.date();
        loop {
            let at = zone
                .to_timestamp(day.to_datetime(jiff::civil::Time::new(hour, 0, 0, 0).unwrap()))
                .unwrap();
            if at > self.now() {
                self.advance_to(at).await;
                return at;
            }
            day = day.tomorrow().unwrap();
        }
    }

    /// Follow-ups the sink accepted (200, not a duplicate), oldest first, optionally one run's.
    pub fn delivered(&self, run_id: Option<&str>) -> Vec<Value> {
        self.t
            .stack
            .sink()
            .deliveries()
            .into_iter()
            .filter(|d| d.status == 200 && !d.duplicate)
            .filter(|d| run_id.is_none_or(|r| d.body["data"]["runId"] == r))
            .map(|d| {
                assert!(d.verified, "every accepted delivery verified");
                let errors = payload_errors(&d.body);
                assert!(
                    errors.is_empty(),
                    "a delivery does not follow docs/followup.schema.json: {errors:#?}\n{}",
                    d.body
                );
                let mut body = d.body.clone();
                body["_webhookId"] = json!(d.webhook_id);
                body["_timestamp"] = json!(d.timestamp);
                body
            })
            .collect()
    }

    /// An entity's runs and timeline (`estimate:123`).
    pub async fn runs(&self, entity: &str) -> Value {
        let reply = self
            .t
            .admin(
                reqwest::Method::GET,
                &format!("/admin/tenants/{TENANT}/runs?entity={entity}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// The one run of `recipe` on `entity`.
    pub async fn run(&self, entity: &str, recipe: &str) -> Value {
        let body = self.runs(entity).await;
        let runs: Vec<&Value> = body["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["recipe"] == recipe)
            .collect();
        assert_eq!(runs.len(), 1, "one {recipe} run on {entity}: {body}");
        runs[0].clone()
    }

    /// Delivers a ServiceTitan webhook signed with the demo key, as the sandbox would, then drains.
    pub async fn webhook(&self, event_type: &str, body: Value) -> crate::Reply {
        let text = body.to_string();
        let signature = TestStack::sign(local_stack::demo::DEMO_KEY, &text);
        let reply = self
            .t
            .send(
                "POST",
                &format!("/{event_type}"),
                &text,
                Some(&signature),
                Some("application/json"),
            )
            .await;
        self.webhooks().await;
        reply
    }

    /// Sends an inbound message (a customer's reply) through `POST /inbound`.
    pub async fn inbound(&self, body: Value) -> crate::Reply {
        self.t.admin(reqwest::Method::POST, "/inbound", Some(body)).await
    }

    pub async fn stop(self) {
        self.t.stop().await;
    }
}

/// Violations of docs/followup.schema.json (formats included) by a follow-up body.
pub fn payload_errors(body: &Value) -> Vec<String> {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(crate::repo_root().join("docs/followup.schema.json")).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("the follow-up schema compiles")
    });
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `now()` as a `Timestamp` for `Arc<VirtualClock>`.
pub trait NowTs {
    fn now_ts(&self) -> Timestamp;
}

impl NowTs for Arc<shared::VirtualClock> {
    fn now_ts(&self) -> Timestamp {
        shared::Clock::now(self.as_ref())
    }
}
