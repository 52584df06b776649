//! The demo's reconciliation story: ServiceTitan's webhooks stop, and the follow-ups go on anyway. An estimate sent
//! while no webhook comes still gets its follow-up run within one reconcile interval, and a call nobody answered,
//! which ServiceTitan sends no webhook for at all, is found in the phone log and texted back.

use anyhow::{Context as _, bail};
use jiff::SignedDuration;
use serde_json::{Value, json};
use servicetitan::models::sales::CreateEstimate;

use super::{Admin, Local, step};

pub(super) struct Story<'a> {
    pub http: &'a reqwest::Client,
    pub sandbox: &'a str,
    pub admin: &'a Admin<'a>,
    pub client: &'a servicetitan::Client,
    pub tenant: i64,
}

impl Story<'_> {
    fn local(&self) -> Local<'_> {
        self.admin.local()
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.admin.get(path).await
    }

    pub(super) async fn run(&self) -> anyhow::Result<()> {
        let webhooks_url = format!("{}/_sandbox/webhooks", self.sandbox);
        let saved: Value = self.http.get(&webhooks_url).send().await?.json().await?;
        step("reconciliation: ServiceTitan's webhooks stop (DELETE /_sandbox/webhooks)");
        self.http.delete(&webhooks_url).send().await?.error_for_status()?;
        let result = self.without_webhooks().await;
        // Whatever happened, ServiceTitan sends webhooks again afterwards.
        if saved.get("callbackUrl").is_some() {
            self.http
                .put(&webhooks_url)
                .json(&saved)
                .send()
                .await?
                .error_for_status()?;
        }
        result
    }

    async fn without_webhooks(&self) -> anyhow::Result<()> {
        let open: Vec<servicetitan::models::sales::Estimate> = self
            .client
            .list_all(servicetitan::Module::Sales, "/estimates", &[("status", "Open".into())])
            .await?;
        let job_id = open
            .iter()
            .find_map(|e| e.job_id)
            .context("the demo tenant has no open estimate on a job")?;
        let estimate = self
            .client
            .create_estimate(&CreateEstimate {
                name: Some("Whole-home surge protection".into()),
                summary: Some("Made while ServiceTitan's webhooks were off".into()),
                job_id: Some(job_id),
                location_id: None,
                items: Vec::new(),
            })
            .await?;
        println!(
            "   estimate {} is made and open in ServiceTitan; no webhook comes",
            estimate.id
        );
        step("virtual time: +5 minutes; the reconcile schedule reads the estimates feed from its cursor");
        self.local().advance(SignedDuration::from_mins(5)).await?;
        let runs = self
            .get(&format!(
                "/admin/tenants/{}/runs?entity=estimate:{}",
                self.tenant, estimate.id
            ))
            .await?;
        let run = &runs["runs"][0];
        if run["status"] != "active" {
            bail!("expected the reconciler to have started the estimate's follow-up: {runs}");
        }
        println!(
            "   run {}: next step {} due {} (started by the reconciler)",
            run["runId"].as_str().unwrap_or(""),
            run["nextStep"]["step"],
            run["nextStep"]["dueAt"].as_str().unwrap_or("")
        );

        step("a call nobody answered, in ServiceTitan's phone log (ServiceTitan sends no webhook for it)");
        let call: Value = self
            .http
            .post(format!("{}/_sandbox/tenants/{}/calls", self.sandbox, self.tenant))
            .json(&json!({"from": "(512) 555-0179"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let before = self.local().delivered().await?.len();
        step("virtual time: +5 minutes; the reconciler finds it, takes it in as a missed-call lead, texts back");
        self.local().advance(SignedDuration::from_mins(5)).await?;
        let lead = self
            .get(&format!("/leads/st-call-{}?tenantId={}", call["id"], self.tenant))
            .await?;
        println!(
            "   lead {}: {} as {}",
            lead["leadId"].as_str().unwrap_or(""),
            lead["status"].as_str().unwrap_or(""),
            lead["outcome"].as_str().unwrap_or("")
        );
        let texts: Vec<Value> = self
            .local()
            .delivered()
            .await?
            .into_iter()
            .skip(before)
            .filter(|d| d["body"]["data"]["recipe"] == "missed_call_text_back")
            .collect();
        for d in &texts {
            println!(
                "   outbox: sms to {}\n     \"{}\"",
                d["body"]["data"]["recipient"]["phone"].as_str().unwrap_or(""),
                d["body"]["data"]["message"]["text"].as_str().unwrap_or("")
            );
        }
        if texts.len() != 1 {
            bail!("expected one text-back for the call in the phone log, found {texts:?}");
        }
        let status = self.get(&format!("/admin/tenants/{}/status", self.tenant)).await?;
        let reconcile = &status["reconcile"];
        println!(
            "   status reconcile: last success {}, {} changes reached us only through it",
            reconcile["lastSuccessAt"].as_str().unwrap_or("-"),
            reconcile["webhookGaps"]
        );
        for feed in reconcile["feeds"].as_array().into_iter().flatten() {
            println!(
                "     {:<12} position {}  lag {} s  records {}  confirmed {}  backfilled {}  webhook gaps {}",
                feed["feed"].as_str().unwrap_or(""),
                feed["position"].as_str().unwrap_or("-"),
                feed["lagSeconds"],
                feed["records"],
                feed["confirmed"],
                feed["backfilled"],
                feed["webhookGaps"]
            );
        }
        step("ServiceTitan's webhooks come back (PUT /_sandbox/webhooks)");
        Ok(())
    }
}
