//! Lead stories on the local stack: households already in ServiceTitan (through its API), leads posted to
//! `POST /leads` as the AI platform would, and what ServiceTitan holds afterwards — read back through its API, and
//! through the sandbox's request log (how many calls a lead cost, and whether every body we sent follows
//! ServiceTitan's own request schemas).

use serde_json::{Value, json};
use servicetitan::models::crm::{
    Address, ContactType, CreateCustomer, CustomerFilter, CustomerType, LocationFilter, NewContact, NewLocation,
};
use servicetitan::models::jpm::JobFilter;

use crate::followups::{FollowUps, Household};
use crate::{Reply, TENANT};

/// A lead body for the demo tenant: `extra` fields are set over the defaults.
pub fn lead(id: &str, name: &str, phone: &str, extra: Value) -> Value {
    let mut body = json!({"leadId": id, "tenantId": TENANT, "source": "chat", "name": name, "phone": phone,
                          "summary": "Upstairs AC blowing warm air since last night.", "service": "AC not cooling"});
    for (k, v) in extra.as_object().expect("an object of extra fields") {
        body[k] = v.clone();
    }
    body
}

/// An address object as leads carry it.
pub fn address(street: &str, unit: Option<&str>, zip: &str) -> Value {
    json!({"street": street, "unit": unit, "city": "Austin", "state": "TX", "zip": zip})
}

impl FollowUps {
    /// A customer already in ServiceTitan at `street` (with `unit`), with one phone contact.
    pub async fn household_at(
        &self,
        name: &str,
        phone: &str,
        street: &str,
        unit: Option<&str>,
        zip: &str,
    ) -> Household {
        let address = Address {
            street: street.into(),
            unit: unit.map(str::to_owned),
            city: "Austin".into(),
            state: "TX".into(),
            zip: zip.into(),
            country: "USA".into(),
            latitude: None,
            longitude: None,
        };
        let created = self
            .client
            .create_customer(&CreateCustomer {
                name: name.into(),
                kind: Some(CustomerType::Residential),
                locations: vec![NewLocation {
                    name: "Home".into(),
                    address: address.clone(),
                    contacts: Vec::new(),
                    external_data: None,
                }],
                address,
                contacts: vec![NewContact {
                    kind: ContactType::MobilePhone,
                    value: phone.into(),
                    memo: None,
                }],
                external_data: None,
            })
            .await
            .unwrap();
        Household {
            customer_id: created.customer.id,
            location_id: created.locations[0].id,
            phone: followups::recipient::e164(phone).unwrap(),
            email: None,
        }
    }

    /// A lead creator configured as the stack hosts it (an instance of its own, as another Lambda would be).
    pub fn lead_creator(&self) -> lead_creator::LeadCreator {
        let aws = self.t.stack.aws();
        let env = &self.t.stack.function("LeadCreatorFunction").unwrap().env;
        lead_creator::LeadCreator::new(
            lead_creator::CreatorConfig::from_env(env).unwrap(),
            lead_creator::CreatorClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                sqs: aws.sqs.clone(),
            },
            self.t.stack.clock(),
        )
    }

    /// `POST /leads`, then every queue drained (the creator runs).
    pub async fn post_lead(&self, body: Value) -> Reply {
        let reply = self.post_lead_only(body).await;
        self.webhooks().await;
        reply
    }

    /// `POST /leads` without draining.
    pub async fn post_lead_only(&self, body: Value) -> Reply {
        self.t.admin(reqwest::Method::POST, "/leads", Some(body)).await
    }

    /// `GET /leads/{id}`: its status, decision and ServiceTitan ids.
    pub async fn lead(&self, lead_id: &str) -> Value {
        let reply = self
            .t
            .admin(
                reqwest::Method::GET,
                &format!("/leads/{lead_id}?tenantId={TENANT}"),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "GET /leads/{lead_id}: {}", reply.body);
        reply.body
    }

    /// The lead, which must have been created; its ServiceTitan ids.
    pub async fn created(&self, lead_id: &str) -> Value {
        let lead = self.lead(lead_id).await;
        assert_eq!(lead["status"], "created", "{lead:#}");
        lead
    }

    /// Customers whose contacts (or locations' contacts) have this phone.
    pub async fn customers_with_phone(&self, phone: &str) -> Vec<i64> {
        self.client
            .find_customers(&CustomerFilter {
                phone: Some(phone.into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect()
    }

    pub async fn jobs_of(&self, customer_id: i64) -> Vec<servicetitan::models::jpm::Job> {
        self.client
            .find_jobs(&JobFilter {
                customer_id: Some(customer_id),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    pub async fn locations_of(&self, customer_id: i64) -> Vec<servicetitan::models::crm::Location> {
        self.client
            .find_locations(&LocationFilter {
                customer_id: Some(customer_id),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    pub async fn customer_notes(&self, customer_id: i64) -> Vec<String> {
        self.client
            .customer_notes(customer_id)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.text)
            .collect()
    }

    /// Adds a sandbox fault rule (`{"pathContains", "status", "errorRate", "outageSeconds", "latencyMs"}`).
    pub async fn fault(&self, rule: Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/_sandbox/faults", self.sandbox_url()))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "fault rule {rule}: {}", resp.status());
    }

    pub async fn clear_faults(&self) {
        reqwest::Client::new()
            .delete(format!("{}/_sandbox/faults", self.sandbox_url()))
            .send()
            .await
            .unwrap();
    }

    /// Forgets the sandbox's request log (to count one lead's calls).
    pub fn clear_requests(&self) {
        self.t.stack.sandbox().unwrap().clear_requests();
    }

    /// The API requests the sandbox received since the log was last cleared.
    pub fn requests(&self) -> Vec<Value> {
        self.t.stack.sandbox().unwrap().requests()
    }
}

/// Violations of ServiceTitan's request schemas by the bodies the worker sent (method, path, problem); empty when
/// the specs are absent (the schema tests say where to get them).
pub fn request_schema_violations(requests: &[Value]) -> Vec<String> {
    let Some(specs) = openapi_check::Specs::load(&["crm-v2", "jpm-v2", "salestech-v2"]) else {
        eprintln!(
            "skipping request-schema checks: ServiceTitan's OpenAPI documents are not in {} (get them from ServiceTitan's developer portal)",
            openapi_check::spec_dir().display()
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in requests {
        let method = r["method"].as_str().unwrap_or("").to_lowercase();
        if !matches!(method.as_str(), "post" | "put" | "patch") || r["body"].is_null() {
            continue;
        }
        let path = r["path"].as_str().unwrap_or("");
        let Some((file, template, m)) = specs.operation(&method, path) else {
            out.push(format!("{method} {path}: not an operation of ServiceTitan's API"));
            continue;
        };
        let schema = specs.request_schema(file, template, m);
        for problem in specs.validate(file, schema, &r["body"], &format!("{method} {path}")) {
            out.push(problem);
        }
    }
    out
}
