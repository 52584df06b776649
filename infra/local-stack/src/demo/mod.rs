//! The README's first command: connect the sandbox's demo tenant through the admin API, show a signed ServiceTitan
//! webhook accepted, verified, deduplicated, queued and processed on the running local stack, then the follow-up
//! story ([`followups`]): estimates sent, AI texts a day later, an AI call only where the estimate is still open; then
//! the leads story ([`leads`]): a chat becomes ServiceTitan records without duplicates, a missed call is texted back;
//! then reconciliation ([`reconcile`]): with ServiceTitan's webhooks off, follow-ups and missed calls go on.

mod followups;
mod leads;
mod reconcile;

use std::path::Path;

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use shared::aws::{AwsClients, local_sdk_config};
use shared::event_log::EventLog;
use shared::signing::{self, SignatureEncoding};
use shared::tenants::{ServiceTitanEnvironment, Tenant, TenantRegistry, TenantStatus};
use shared::webhook_scheme::DEFAULT_SIGNATURE_HEADER;

pub const DEMO_TENANT: &str = "1001";
pub const DEMO_KEY_ID: &str = "demo-key-1";
/// A demo key only: ServiceTitan keys are 32–64 characters.
pub const DEMO_KEY: &str = "demo-webhook-hmac-key-0123456789abcdef";

pub async fn run(endpoints_file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(endpoints_file).with_context(|| {
        format!(
            "{} not found: start the stack first with `make up`",
            endpoints_file.display()
        )
    })?;
    let endpoints: Value = serde_json::from_str(&text)?;
    let field = |k: &str| {
        endpoints[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("endpoints.json has no {k}"))
    };
    let resource = |id: &str| {
        endpoints["resources"][id]["ref"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no resource {id}"))
    };
    let api = field("api_url")?;
    let aws = AwsClients::new(&local_sdk_config(&field("aws_endpoint_url")?, &field("region")?));
    let http = reqwest::Client::new();

    let admin_token = field("admin_token")?;
    let admin = Admin {
        http: &http,
        api: &api,
        token: &admin_token,
    };
    match endpoints.get("demo_tenant").filter(|t| !t.is_null()) {
        Some(tenant) => connect_demo_tenant(&admin, tenant).await?,
        None => {
            // No sandbox (the functions talk to a real ServiceTitan): only register the tenant.
            step(&format!(
                "registering tenant {DEMO_TENANT} as connected (no ServiceTitan sandbox running)"
            ));
            TenantRegistry::new(aws.dynamodb.clone(), resource("TenantsTable")?)
                .put(
                    &Tenant {
                        tenant_id: DEMO_TENANT.into(),
                        status: TenantStatus::Connected,
                        environment: ServiceTitanEnvironment::Integration,
                    },
                    jiff::Timestamp::now(),
                )
                .await?;
        }
    }
    step(&format!(
        "POST /operator/webhook-keys: the app's webhook signing key {DEMO_KEY_ID}"
    ));
    let (_, keys) = admin.call(reqwest::Method::GET, "/operator/webhook-keys", None).await?;
    let present = keys["keys"]
        .as_array()
        .is_some_and(|k| k.iter().any(|k| k["id"] == DEMO_KEY_ID && k["active"] == true));
    if present {
        println!("   already there: {keys}");
    } else {
        let added = admin
            .call(
                reqwest::Method::POST,
                "/operator/webhook-keys",
                Some(json!({"id": DEMO_KEY_ID, "secret": DEMO_KEY})),
            )
            .await?;
        show_json(added, 201)?;
    }

    // The stack's clock, which earlier demos on this stack may have moved on by days.
    let now = admin.local().now().await?;
    let event_id = format!("demo-{}", now.as_millisecond());
    let body = json!({
        "eventId": event_id,
        "eventType": "estimate.sent",
        "tenantId": DEMO_TENANT,
        "occurredAt": now.to_string(),
        "data": { "id": 90211, "name": "2-ton AC replacement", "status": { "value": 0, "name": "Open" } }
    })
    .to_string();
    let url = format!("{api}/webhooks/servicetitan/estimate.sent");
    let signature = signing::encode(
        &signing::sign(DEMO_KEY.as_bytes(), body.as_bytes()),
        SignatureEncoding::Base64,
    );

    step("POST a signed estimate.sent delivery");
    show(post(&http, &url, &body, Some(&signature)).await?, 200)?;
    step("POST the same delivery again (a ServiceTitan retry)");
    show(post(&http, &url, &body, Some(&signature)).await?, 200)?;
    step("POST it with a forged signature");
    let forged = signing::encode(
        &signing::sign(b"not-the-key", body.as_bytes()),
        SignatureEncoding::Base64,
    );
    show(post(&http, &url, &body, Some(&forged)).await?, 401)?;
    step("POST a signed delivery for a tenant that never connected");
    let stranger = body.replace(DEMO_TENANT, "4242");
    let sig = signing::encode(
        &signing::sign(DEMO_KEY.as_bytes(), stranger.as_bytes()),
        SignatureEncoding::Base64,
    );
    show(post(&http, &url, &stranger, Some(&sig)).await?, 404)?;
    step("POST the signed delivery to estimate.sold's URL (ServiceTitan signs the body, not the URL)");
    let renamed = format!("{api}/webhooks/servicetitan/estimate.sold");
    show(post(&http, &renamed, &body, Some(&signature)).await?, 400)?;
    step("POST a signed delivery captured 31 days ago (past the replay window, its dedupe record may be gone)");
    let stale = body.replace(
        &now.to_string(),
        &(now - jiff::SignedDuration::from_hours(31 * 24)).to_string(),
    );
    let sig = signing::encode(
        &signing::sign(DEMO_KEY.as_bytes(), stale.as_bytes()),
        SignatureEncoding::Base64,
    );
    show(post(&http, &url, &stale, Some(&sig)).await?, 400)?;
    step("POST /_local/clock as a web page could (a cross-site form, no token): the local stack refuses it");
    let csrf = http
        .post(format!("{api}/_local/clock"))
        .form(&[("advance_seconds", "86400")])
        .send()
        .await?;
    show((csrf.status().as_u16(), csrf.text().await?), 403)?;

    callers_are_bound(&admin).await?;

    let queue = resource("EventsQueue")?;
    step("drain the queues (the event processor runs; the stack's background poller may already have)");
    let report = admin.local().drain().await?;
    println!("   {report}");

    let events = EventLog::new(aws.dynamodb.clone(), resource("EventsTable")?);
    let item = events.get(DEMO_TENANT, &event_id).await?.unwrap_or_default();
    let attr = |k: &str| attr_text(&item, k);
    println!(
        "   events table: {DEMO_TENANT}/{event_id}: status={} outcome={} attempts={}",
        attr("status"),
        attr("outcome"),
        attr("attempts")
    );
    println!(
        "   events queue depth: {}, dead-letter depth: {}",
        depth(&aws, &queue).await?,
        depth(&aws, &resource("EventsDeadLetterQueue")?).await?
    );
    if attr("status") != "done" || attr("attempts") != "1" {
        bail!("expected the event processed exactly once");
    }
    println!("   one signed delivery sent twice became one queued message and one processed event");

    if let Some(tenant) = endpoints.get("demo_tenant").filter(|t| !t.is_null()) {
        servicetitan_round_trip(&endpoints, &http, &aws, &resource("EventsTable")?).await?;
        followups::Story {
            http: &http,
            sandbox: endpoints["servicetitan_api_url"]
                .as_str()
                .context("no servicetitan_api_url")?,
            admin: &admin,
            tenant: tenant["tenantId"].as_i64().context("demo_tenant has no tenantId")?,
        }
        .run()
        .await?;
        leads::Story {
            admin: &admin,
            client: &sandbox_client(&endpoints)?,
            tenant: tenant["tenantId"].as_i64().context("demo_tenant has no tenantId")?,
            zone: jiff::tz::TimeZone::get("America/Chicago")?,
        }
        .run()
        .await?;
        reconcile::Story {
            http: &http,
            sandbox: endpoints["servicetitan_api_url"]
                .as_str()
                .context("no servicetitan_api_url")?,
            admin: &admin,
            client: &sandbox_client(&endpoints)?,
            tenant: tenant["tenantId"].as_i64().context("demo_tenant has no tenantId")?,
        }
        .run()
        .await?;
    }
    if let Some(tenant) = endpoints.get("demo_tenant").filter(|t| !t.is_null()) {
        step("POST /_local/login: sign the demo tenant's owner in to the integration page");
        let (status, login) = admin
            .call(
                reqwest::Method::POST,
                "/_local/login",
                Some(json!({"tenantId": tenant["tenantId"].to_string(), "role": "owner"})),
            )
            .await?;
        if status != 200 {
            bail!("login failed: {status} {login}");
        }
        // What the page shows, through the contractor's own routes: the leads and their decisions, and the work
        // set aside after repeated failures (none, in this story).
        let contractor = Admin {
            http: admin.http,
            api: admin.api,
            token: login["token"].as_str().unwrap_or(""),
        };
        let tenant_id = tenant["tenantId"].to_string();
        step("GET /dashboard/tenants/{id}/leads with the contractor's token: each lead with its match decision");
        let (status, leads) = contractor
            .call(
                reqwest::Method::GET,
                &format!("/dashboard/tenants/{tenant_id}/leads?limit=5"),
                None,
            )
            .await?;
        if status != 200 {
            bail!("leads failed: {status} {leads}");
        }
        for lead in leads["leads"].as_array().into_iter().flatten() {
            let decision = &lead["decision"]["matched"]["decision"];
            println!(
                "   {} ({}): {} — {}",
                lead["leadId"].as_str().unwrap_or("?"),
                lead["source"].as_str().unwrap_or("?"),
                lead["outcome"]
                    .as_str()
                    .unwrap_or(lead["status"].as_str().unwrap_or("?")),
                decision["rule"].as_str().unwrap_or("new customer")
            );
        }
        step(
            "GET /dashboard/tenants/{id}/dead-letters: work set aside after repeated failures, to redrive after a fix",
        );
        show_json(
            contractor
                .call(
                    reqwest::Method::GET,
                    &format!("/dashboard/tenants/{tenant_id}/dead-letters"),
                    None,
                )
                .await
                .map(|(status, body)| (status, json!({"total": body["total"]})))?,
            200,
        )?;
        println!(
            "\n   Open the integration page, signed in as the demo tenant's owner (connect, defaults, webhooks, test chat,\n   follow-ups and activity):\n\n   {}\n",
            login["url"].as_str().unwrap_or("")
        );
    }
    step("GET /_local/usage: every AWS call the functions made in this story, by service and operation");
    let usage = Local {
        http: &http,
        api: &api,
        token: &admin_token,
    }
    .usage()
    .await?;
    let mut by_operation: std::collections::BTreeMap<&str, u64> = Default::default();
    for f in usage.functions.values() {
        for (op, n) in &f.calls {
            *by_operation.entry(op.as_str()).or_default() += n;
        }
    }
    let invocations: u64 = usage.functions.values().map(|f| f.invocations).sum();
    println!(
        "   {invocations} invocations of {} functions made:",
        usage.functions.len()
    );
    for (op, n) in &by_operation {
        println!("   {n:>6}  {op}");
    }
    println!("   docs/cost.md prices each unit of work from these counts (`make cost` measures them again).");
    println!("\ndemo complete. The stack is still running; `make down` stops it.");
    Ok(())
}

/// Sells an estimate in the ServiceTitan sandbox and follows the webhook it sends through the stack.
async fn servicetitan_round_trip(
    endpoints: &Value,
    http: &reqwest::Client,
    aws: &AwsClients,
    events_table: &str,
) -> anyhow::Result<()> {
    let sandbox = endpoints["servicetitan_api_url"]
        .as_str()
        .context("no servicetitan_api_url")?;
    let tenant: servicetitan_sandbox::TenantCredentials = serde_json::from_value(endpoints["demo_tenant"].clone())?;
    let client = sandbox_client(endpoints)?;
    step("ServiceTitan sandbox: find an open estimate with the API client");
    let open: Vec<servicetitan::models::sales::Estimate> = client
        .list_all(servicetitan::Module::Sales, "/estimates", &[("status", "Open".into())])
        .await
        .context("listing open estimates")?;
    let estimate = open
        .first()
        .context("the demo tenant has no open estimate left; restart the stack")?;
    println!(
        "   estimate {} {:?} on job {:?} is Open ({} open in all)",
        estimate.id,
        estimate.name.as_deref().unwrap_or(""),
        estimate.job_id,
        open.len()
    );
    step("the homeowner signs: the estimate is sold in ServiceTitan, which sends a signed estimate.sold webhook");
    http.post(format!(
        "{sandbox}/_sandbox/tenants/{}/estimates/{}/sell",
        tenant.tenant_id, estimate.id
    ))
    .json(&json!({}))
    .send()
    .await?
    .error_for_status()?;
    let mut delivery = None;
    for _ in 0..100 {
        let all: Vec<Value> = http
            .get(format!("{sandbox}/_sandbox/webhooks/deliveries"))
            .send()
            .await?
            .json()
            .await?;
        delivery = all
            .into_iter()
            .find(|d| d["eventType"] == "estimate.sold" && d["state"] == "delivered" && d["url"].as_str().is_some());
        if delivery.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let delivery = delivery.context("the sandbox did not deliver the webhook within 10 s")?;
    println!(
        "   delivered to {} -> {}",
        delivery["url"].as_str().unwrap_or(""),
        delivery["attempts"]
    );
    let event_id = delivery["eventId"].as_str().unwrap_or_default().to_owned();
    Local {
        http,
        api: endpoints["api_url"].as_str().unwrap_or_default(),
        token: endpoints["admin_token"].as_str().unwrap_or_default(),
    }
    .drain()
    .await?;
    let item = EventLog::new(aws.dynamodb.clone(), events_table)
        .get(&tenant.tenant_id.to_string(), &event_id)
        .await?
        .unwrap_or_default();
    let attr = |k: &str| attr_text(&item, k);
    println!(
        "   events table: {}/{event_id}: {} for estimate {}, status={}",
        tenant.tenant_id,
        attr("event_name"),
        attr("entity_id"),
        attr("status")
    );
    if attr("status") != "done" {
        bail!("expected the estimate.sold event processed");
    }
    Ok(())
}

/// An API client for the sandbox's demo tenant, as the functions would have.
fn sandbox_client(endpoints: &Value) -> anyhow::Result<servicetitan::Client> {
    let sandbox = endpoints["servicetitan_api_url"]
        .as_str()
        .context("no servicetitan_api_url")?;
    let tenant: servicetitan_sandbox::TenantCredentials = serde_json::from_value(endpoints["demo_tenant"].clone())?;
    Ok(servicetitan::Client::new(
        servicetitan::ClientOptions::new(servicetitan::Hosts {
            auth_url: endpoints["servicetitan_auth_url"]
                .as_str()
                .unwrap_or(sandbox)
                .to_owned(),
            api_url: sandbox.to_owned(),
        }),
        servicetitan::Credentials {
            tenant_id: tenant.tenant_id,
            client_id: tenant.client_id,
            client_secret: tenant.client_secret,
            app_key: tenant.app_key,
        },
        std::sync::Arc::new(servicetitan::MemoryTokenStore::default()),
        shared::clock::system(),
    ))
}

/// The local stack's control routes the stories use (virtual time, draining, the sink's outbox).
pub(crate) struct Local<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) api: &'a str,
    /// The control routes take the admin token, as the admin API does.
    pub(crate) token: &'a str,
}

impl Local<'_> {
    /// The stack's clock (virtual time), from `GET /_local/health`.
    pub(crate) async fn now(&self) -> anyhow::Result<jiff::Timestamp> {
        let health: Value = self
            .http
            .get(format!("{}/_local/health", self.api))
            .send()
            .await?
            .json()
            .await?;
        Ok(health["now"].as_str().context("health has no now")?.parse()?)
    }

    /// Moves virtual time on by `by`; returns after everything due on the way has run.
    pub(crate) async fn advance(&self, by: jiff::SignedDuration) -> anyhow::Result<Value> {
        Ok(self
            .http
            .post(format!("{}/_local/clock", self.api))
            .bearer_auth(self.token)
            .json(&json!({"advance_seconds": by.as_secs_f64()}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    pub(crate) async fn drain(&self) -> anyhow::Result<Value> {
        Ok(self
            .http
            .post(format!("{}/_local/drain", self.api))
            .bearer_auth(self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// The functions' AWS calls so far (`GET /_local/usage`, see [`crate::usage`]).
    pub(crate) async fn usage(&self) -> anyhow::Result<crate::usage::UsageReport> {
        Ok(self
            .http
            .get(format!("{}/_local/usage", self.api))
            .bearer_auth(self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Injects faults (`POST /_local/faults`, see [`crate::faults`]); the faults in force and what they did.
    pub(crate) async fn faults(&self, request: Value) -> anyhow::Result<Value> {
        Ok(self
            .http
            .post(format!("{}/_local/faults", self.api))
            .bearer_auth(self.token)
            .json(&request)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// The follow-ups the local sink accepted (200, not a repeat), oldest first.
    pub(crate) async fn delivered(&self) -> anyhow::Result<Vec<Value>> {
        let out: Value = self
            .http
            .get(format!("{}/_local/outbox", self.api))
            .bearer_auth(self.token)
            .send()
            .await?
            .json()
            .await?;
        Ok(out["deliveries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d["status"] == 200 && d["duplicate"] == false)
            .collect())
    }
}

/// The admin API, with the local stack's stand-in for SigV4.
pub(crate) struct Admin<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    token: &'a str,
}

impl Admin<'_> {
    pub(crate) fn local(&self) -> Local<'_> {
        Local {
            http: self.http,
            api: self.api,
            token: self.token,
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.call_as(crate::http_api::LOCAL_OPERATOR, method, path, body).await
    }

    /// A call signed as `principal` (the local stack's stand-in for another role's SigV4).
    pub(crate) async fn call_as(
        &self,
        principal: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(self.token)
            .header(crate::http_api::LOCAL_PRINCIPAL_HEADER, principal);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        Ok((resp.status().as_u16(), resp.json().await.unwrap_or_default()))
    }

    /// A GET that must answer 200.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await?;
        if status != 200 {
            bail!("GET {path} answered {status}: {body}");
        }
        Ok(body)
    }
}

/// Machine callers act for the tenants the deployment binds them to (`MachineCallers`), and nothing else.
async fn callers_are_bound(admin: &Admin<'_>) -> anyhow::Result<()> {
    use crate::http_api::LOCAL_WIDGET;
    let status = |t: &str| format!("/admin/tenants/{t}/status");
    step(&format!(
        "GET {} signed by the widget backend bound to tenant {DEMO_TENANT}",
        status(DEMO_TENANT)
    ));
    let (code, body) = admin
        .call_as(LOCAL_WIDGET, reqwest::Method::GET, &status(DEMO_TENANT), None)
        .await?;
    show((code, format!("its own tenant: status {}", body["status"])), 200)?;
    step(&format!(
        "GET {} by the same caller: another contractor's tenant",
        status("4242")
    ));
    show_json(
        admin
            .call_as(LOCAL_WIDGET, reqwest::Method::GET, &status("4242"), None)
            .await?,
        403,
    )?;
    let stranger = "arn:aws:iam::123456789012:role/not-in-machine-callers";
    step("POST /leads signed by a role the deployment does not name: it acts for no tenant");
    let lead = json!({"leadId": "demo-unbound", "tenantId": DEMO_TENANT, "source": "chat", "name": "Ann Lee",
                      "phone": "+15125550177"});
    show_json(
        admin
            .call_as(stranger, reqwest::Method::POST, "/leads", Some(lead))
            .await?,
        403,
    )?;
    Ok(())
}

/// Connects the sandbox's demo tenant the way a contractor would: paste the four values, pick the defaults for new
/// jobs, look at the status.
async fn connect_demo_tenant(admin: &Admin<'_>, tenant: &Value) -> anyhow::Result<()> {
    let id = tenant["tenantId"].as_i64().context("demo_tenant has no tenantId")?;
    step(&format!(
        "PUT /admin/tenants/{id}/servicetitan: paste the client ID, client secret and app key (integration)"
    ));
    let connect = json!({
        "environment": "integration",
        "clientId": tenant["clientId"],
        "clientSecret": tenant["clientSecret"],
        "appKey": tenant["appKey"],
    });
    show_json(
        admin
            .call(
                reqwest::Method::PUT,
                &format!("/admin/tenants/{id}/servicetitan"),
                Some(connect),
            )
            .await?,
        200,
    )?;
    step("GET .../servicetitan/options: what new jobs can be tagged with");
    let (status, options) = admin
        .call(
            reqwest::Method::GET,
            &format!("/admin/tenants/{id}/servicetitan/options"),
            None,
        )
        .await?;
    if status != 200 {
        bail!("options answered {status}: {options}");
    }
    let count = |k: &str| options[k].as_array().map_or(0, Vec::len);
    println!(
        "   {} business units, {} job types, {} campaigns",
        count("businessUnits"),
        count("jobTypes"),
        count("campaigns")
    );
    let unit = &options["businessUnits"][0];
    let job_type = &options["jobTypesByBusinessUnit"][unit["id"].to_string()][0];
    step(&format!(
        "PUT /admin/tenants/{id}/settings: business unit {:?}, its first job type, the first campaign",
        unit["name"].as_str().unwrap_or("")
    ));
    let settings = json!({
        "businessUnitId": unit["id"],
        "jobTypeId": job_type,
        "campaignId": options["campaigns"][0]["id"],
        "timeZone": "America/Chicago",
        "bookingUrl": "https://book.example.com/demo",
        "companyName": "Lone Star Home Services",
        "recipes": ["estimate_follow_up", "invoice_dunning", "missed_call_text_back"],
    });
    show_json(
        admin
            .call(
                reqwest::Method::PUT,
                &format!("/admin/tenants/{id}/settings"),
                Some(settings.clone()),
            )
            .await?,
        200,
    )?;
    step("the same settings with followupSinkUrl at the cloud's metadata service: refused, nothing stored");
    let mut hostile = settings.clone();
    hostile["followupSinkUrl"] = json!("https://169.254.169.254/latest/meta-data/iam/");
    show_json(
        admin
            .call(
                reqwest::Method::PUT,
                &format!("/admin/tenants/{id}/settings"),
                Some(hostile),
            )
            .await?,
        422,
    )?;
    step(&format!("GET /admin/tenants/{id}/status"));
    show_json(
        admin
            .call(reqwest::Method::GET, &format!("/admin/tenants/{id}/status"), None)
            .await?,
        200,
    )
}

fn show_json((status, body): (u16, Value), expected: u16) -> anyhow::Result<()> {
    println!("   {status} {body}");
    if status != expected {
        bail!("expected HTTP {expected}");
    }
    Ok(())
}

/// A string or number attribute as text ("" when absent).
fn attr_text(item: &std::collections::HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .map(|v| v.as_s().cloned().or_else(|_| v.as_n().cloned()).unwrap_or_default())
        .unwrap_or_default()
}

pub(crate) fn step(text: &str) {
    println!("→ {text}");
}

async fn post(http: &reqwest::Client, url: &str, body: &str, signature: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header(DEFAULT_SIGNATURE_HEADER, sig);
    }
    let resp = req.send().await?;
    Ok((resp.status().as_u16(), resp.text().await?))
}

fn show((status, body): (u16, String), expected: u16) -> anyhow::Result<()> {
    println!("   {status} {body}");
    if status != expected {
        bail!("expected HTTP {expected}");
    }
    Ok(())
}

async fn depth(aws: &AwsClients, queue_url: &str) -> anyhow::Result<String> {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned()
        .unwrap_or_default())
}
