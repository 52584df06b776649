//! Test helpers: start a sandbox in-process and talk to it like a ServiceTitan client would.

#![allow(dead_code)]

use std::time::Duration;

use domain::SharedClock;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use servicetitan_sandbox::{Sandbox, SandboxOptions, TenantCredentials};

pub async fn start(seed_demo: bool, clock: Option<SharedClock>) -> Sandbox {
    Sandbox::start(SandboxOptions {
        port: 0,
        seed_demo,
        clock,
    })
    .await
    .expect("sandbox starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// `POST /connect/token` with a form body.
pub async fn token_request(base: &str, client_id: &str, client_secret: &str) -> Resp {
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ])
    .unwrap();
    let r = http()
        .post(format!("{base}/connect/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("token request");
    into_resp(r).await
}

pub async fn token(base: &str, creds: &TenantCredentials) -> String {
    let r = token_request(base, &creds.client_id, &creds.client_secret).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["access_token"].as_str().expect("access_token").to_string()
}

/// A signed-in client for one tenant.
pub struct Api {
    pub base: String,
    pub creds: TenantCredentials,
    pub token: String,
    pub http: reqwest::Client,
    /// Sleep and retry on 429 (off for the rate-limit test).
    pub retry_429: bool,
}

impl Api {
    pub async fn new(sandbox: &Sandbox, creds: TenantCredentials) -> Api {
        let base = sandbox.url();
        let token = token(&base, &creds).await;
        Api {
            base,
            creds,
            token,
            http: http(),
            retry_429: true,
        }
    }

    pub async fn demo(sandbox: &Sandbox) -> Api {
        Api::new(sandbox, sandbox.demo_tenant().expect("demo tenant")).await
    }

    /// `/{module}/v2/tenant/{tenant}{path}`
    pub fn url(&self, module: &str, path: &str) -> String {
        format!("{}/{module}/v2/tenant/{}{path}", self.base, self.creds.tenant_id)
    }

    pub async fn send_url(&self, method: Method, url: &str, body: Option<&Value>) -> Resp {
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .header("ST-App-Key", &self.creds.app_key)
                .header("Authorization", format!("Bearer {}", self.token));
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = into_resp(req.send().await.expect("request")).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS && self.retry_429 {
                tokio::time::sleep(Duration::from_millis(1100)).await;
                continue;
            }
            return r;
        }
    }

    pub async fn get(&self, module: &str, path: &str) -> Resp {
        self.send_url(Method::GET, &self.url(module, path), None).await
    }

    pub async fn post(&self, module: &str, path: &str, body: &Value) -> Resp {
        self.send_url(Method::POST, &self.url(module, path), Some(body)).await
    }

    pub async fn put(&self, module: &str, path: &str, body: Option<&Value>) -> Resp {
        self.send_url(Method::PUT, &self.url(module, path), body).await
    }

    /// `POST {base}/_sandbox{path}` (no auth).
    pub async fn control(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        control(&self.base, method, path, body).await
    }
}

pub async fn control(base: &str, method: Method, path: &str, body: Option<&Value>) -> Resp {
    let mut req = http().request(method, format!("{base}/_sandbox{path}"));
    if let Some(b) = body {
        req = req.json(b);
    }
    into_resp(req.send().await.expect("control request")).await
}

/// Ids from the demo catalog: (business unit, job type of that unit, campaign, technician).
pub async fn catalog(api: &Api) -> (i64, i64, i64, i64) {
    let jt = api.get("jpm", "/job-types?pageSize=1").await.json["data"][0].clone();
    let bu = jt["businessUnitIds"][0].as_i64().unwrap();
    let campaign = api.get("marketing", "/campaigns?pageSize=1").await.json["data"][0]["id"]
        .as_i64()
        .unwrap();
    let tech = api.get("settings", "/technicians?pageSize=1").await.json["data"][0]["id"]
        .as_i64()
        .unwrap();
    (bu, jt["id"].as_i64().unwrap(), campaign, tech)
}

pub fn customer_body(name: &str, phone: &str) -> Value {
    let address = serde_json::json!({
        "street": "1200 Barton Hills Dr", "city": "Austin", "state": "TX", "zip": "78704", "country": "USA"
    });
    serde_json::json!({
        "name": name,
        "type": "Residential",
        "address": address,
        "locations": [{ "name": name, "address": address }],
        "contacts": [{ "type": "MobilePhone", "value": phone }, { "type": "Email", "value": "pat@example.com" }],
    })
}

pub fn job_body(customer: i64, location: i64, bu: i64, job_type: i64, campaign: i64, tech: i64) -> Value {
    serde_json::json!({
        "customerId": customer,
        "locationId": location,
        "businessUnitId": bu,
        "jobTypeId": job_type,
        "priority": "Normal",
        "campaignId": campaign,
        "appointments": [
            { "start": "2030-03-04T15:00:00Z", "end": "2030-03-04T17:00:00Z", "technicianIds": [tech] },
            { "start": "2030-03-05T15:00:00Z", "end": "2030-03-05T16:00:00Z" }
        ],
        "summary": "<p>AC not cooling</p>",
    })
}

/// Creates a customer (with one location) and a job; returns (customer, location, job JSON).
pub async fn customer_and_job(api: &Api, name: &str, phone: &str) -> (i64, i64, Value) {
    let c = api.post("crm", "/customers", &customer_body(name, phone)).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    let customer = c.json["id"].as_i64().unwrap();
    let location = c.json["locations"][0]["id"].as_i64().unwrap();
    let (bu, jt, campaign, tech) = catalog(api).await;
    let j = api
        .post("jpm", "/jobs", &job_body(customer, location, bu, jt, campaign, tech))
        .await;
    assert_eq!(j.status, StatusCode::OK, "{}", j.text);
    (customer, location, j.json)
}
