//! The demo's follow-up story: three estimates are sent in ServiceTitan; each customer gets an AI SMS 24 hours
//! later (the first text to a number says how to opt out); one estimate is sold on day two; at 72 hours the AI call
//! goes only to the customer who has not signed and whose written consent to AI calls the platform relayed, and the
//! third customer's call is suppressed for want of consent, with its reason in the timeline. Then that customer
//! writes "Please stop texting me" as people do, and the ledger records the words that decided. Virtual time moves
//! through the days in seconds, and every follow-up lands in the local sink's outbox.

use anyhow::{Context as _, bail};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Value, json};

use super::{Admin, Local, step};
use ::followups::money;

pub(super) struct Story<'a> {
    pub http: &'a reqwest::Client,
    pub sandbox: &'a str,
    pub admin: &'a Admin<'a>,
    pub tenant: i64,
}

impl Story<'_> {
    async fn now(&self) -> anyhow::Result<Timestamp> {
        self.local().now().await
    }

    fn local(&self) -> Local<'_> {
        self.admin.local()
    }

    async fn advance(&self, by: SignedDuration) -> anyhow::Result<Value> {
        self.local().advance(by).await
    }

    async fn drain(&self) -> anyhow::Result<()> {
        // The sandbox delivers its webhooks within a moment; then the queues are drained.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        self.local().drain().await?;
        Ok(())
    }

    async fn control(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}/_sandbox/tenants/{}/{path}", self.sandbox, self.tenant))
            .json(&json!({}))
            .send()
            .await?
            .error_for_status()?;
        Ok(resp.json().await?)
    }

    async fn outbox(&self) -> anyhow::Result<Vec<Value>> {
        self.local().delivered().await
    }

    async fn runs(&self, entity: &str) -> anyhow::Result<Value> {
        self.admin
            .get(&format!("/admin/tenants/{}/runs?entity={entity}", self.tenant))
            .await
    }

    /// Three open estimates that no follow-up has touched yet (the demo can run again on the same stack).
    async fn fresh_estimates(&self) -> anyhow::Result<Vec<Value>> {
        let url = format!(
            "{}/sales/v2/tenant/{}/estimates?status=Open&pageSize=200",
            self.sandbox, self.tenant
        );
        let token = self.token().await?;
        let page: Value = self
            .http
            .get(url)
            .bearer_auth(token.0)
            .header("ST-App-Key", token.1)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut fresh = Vec::new();
        for e in page["data"].as_array().cloned().unwrap_or_default() {
            if e["customerId"].is_null() {
                continue;
            }
            let runs = self.runs(&format!("estimate:{}", e["id"])).await?;
            if runs["runs"].as_array().is_some_and(Vec::is_empty) {
                fresh.push(e);
            }
            if fresh.len() == 3 {
                return Ok(fresh);
            }
        }
        bail!("the demo tenant has no three open estimates left; restart the stack (make down && make demo)")
    }

    async fn token(&self) -> anyhow::Result<(String, String)> {
        let tenants: Value = self
            .http
            .get(format!("{}/_sandbox/tenants", self.sandbox))
            .send()
            .await?
            .json()
            .await?;
        let creds = tenants
            .as_array()
            .and_then(|t| t.iter().find(|x| x["credentials"]["tenantId"] == self.tenant))
            .map(|t| t["credentials"].clone())
            .context("the sandbox has no demo tenant")?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap_or_default()),
            ("client_secret", creds["clientSecret"].as_str().unwrap_or_default()),
        ];
        let token: Value = self
            .http
            .post(format!("{}/connect/token", self.sandbox))
            .form(&form)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok((
            token["access_token"].as_str().unwrap_or_default().to_owned(),
            creds["appKey"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    pub(super) async fn run(&self) -> anyhow::Result<()> {
        // Start at 10:00 in Austin, where the demo tenant and its customers are, on a day whose +24 h text and
        // +72 h call do not fall on a Sunday morning (Texas allows sales messages on Sundays from 12:00 only).
        let chicago = TimeZone::get("America/Chicago")?;
        let now = self.now().await?;
        let mut day = now.to_zoned_datetime(chicago.clone()).date();
        let ten = loop {
            let t = chicago.to_timestamp(day.to_datetime(jiff::civil::Time::constant(10, 0, 0, 0)))?;
            let sunday_ahead = matches!(
                day.weekday(),
                jiff::civil::Weekday::Thursday | jiff::civil::Weekday::Saturday
            );
            if t > now && !sunday_ahead {
                break t;
            }
            day = day.tomorrow()?;
        };
        self.advance(ten.duration_since(now)).await?;
        let estimates = self.fresh_estimates().await?;
        let (first, second, third) = (&estimates[0], &estimates[1], &estimates[2]);
        step(&format!(
            "follow-ups: three estimates are sent in ServiceTitan at 10:00 Austin time: {} ({}), {} ({}) and {} ({})",
            first["id"],
            first["name"].as_str().unwrap_or(""),
            second["id"],
            second["name"].as_str().unwrap_or(""),
            third["id"],
            third["name"].as_str().unwrap_or("")
        ));
        for e in [first, second, third] {
            self.control(&format!("estimates/{}/send", e["id"])).await?;
        }
        self.drain().await?;
        for e in [first, second, third] {
            let runs = self.runs(&format!("estimate:{}", e["id"])).await?;
            let run = &runs["runs"][0];
            println!(
                "   run {}: next step {} due {}",
                run["runId"].as_str().unwrap_or("?"),
                run["nextStep"]["step"],
                run["nextStep"]["dueAt"].as_str().unwrap_or("?")
            );
        }
        let before = self.outbox().await?.len();

        step("virtual time: +24 hours (POST /_local/clock); the runner re-reads each estimate, then texts");
        self.advance(SignedDuration::from_hours(24) + SignedDuration::from_mins(1))
            .await?;
        // Only these two estimates' follow-ups: the reconciler may have planned others from the tenant's recent
        // history when it connected (only their steps still ahead).
        let ours = |d: &Value| {
            [first, second, third]
                .iter()
                .any(|e| d["body"]["data"]["entity"]["id"].as_str() == Some(e["id"].to_string().as_str()))
        };
        let sms: Vec<Value> = self
            .outbox()
            .await?
            .into_iter()
            .skip(before)
            .filter(|d| ours(d))
            .collect();
        for d in &sms {
            println!(
                "   outbox: {} to {} at {} (webhook-id {}, signature verified: {})\n     \"{}\"",
                d["body"]["data"]["channel"].as_str().unwrap_or(""),
                d["body"]["data"]["recipient"]["phone"].as_str().unwrap_or(""),
                d["timestamp"].as_str().unwrap_or(""),
                d["webhookId"].as_str().unwrap_or(""),
                d["verified"],
                d["body"]["data"]["message"]["text"].as_str().unwrap_or("")
            );
        }
        if sms.len() != 3 || sms.iter().any(|d| d["body"]["data"]["channel"] != "sms") {
            bail!("expected three SMS in the outbox at +24 h, found {sms:?}");
        }

        step(&format!("day 2: estimate {} is sold in ServiceTitan", second["id"]));
        self.advance(SignedDuration::from_hours(24)).await?;
        self.control(&format!("estimates/{}/sell", second["id"])).await?;
        self.drain().await?;
        let runs = self.runs(&format!("estimate:{}", second["id"])).await?;
        let run = &runs["runs"][0];
        println!(
            "   run {}: {} ({}); goal reached: {} ${}",
            run["runId"].as_str().unwrap_or(""),
            run["status"].as_str().unwrap_or(""),
            run["reason"].as_str().unwrap_or(""),
            run["goal"]["label"].as_str().unwrap_or("-"),
            money(run["goal"]["amountCents"].as_i64().unwrap_or(0))
        );
        if run["reason"] != "estimate.sold" {
            bail!("expected the sold estimate's run halted");
        }

        let phone = |e: &Value| -> anyhow::Result<String> {
            sms.iter()
                .find(|d| d["body"]["data"]["entity"]["id"].as_str() == Some(e["id"].to_string().as_str()))
                .and_then(|d| d["body"]["data"]["recipient"]["phone"].as_str())
                .map(str::to_owned)
                .context("the estimate's text has a phone")
        };
        step(&format!(
            "POST /inbound kind consent: the AI platform relays the first customer's written consent to AI calls ({})",
            phone(first)?
        ));
        let (status, consent) = self
            .admin
            .call(
                reqwest::Method::POST,
                "/inbound",
                Some(json!({"tenantId": self.tenant.to_string(), "channel": "voice", "from": phone(first)?,
                    "kind": "consent", "consentType": "written", "text": "Yes, you may call me with your AI assistant."})),
            )
            .await?;
        println!("   {status} {consent}");

        step("virtual time: on to 72 hours: the AI call goes only to the customer who has not signed and consented");
        self.advance(SignedDuration::from_hours(24) + SignedDuration::from_mins(1))
            .await?;
        let calls: Vec<Value> = self
            .outbox()
            .await?
            .into_iter()
            .skip(before)
            .filter(|d| ours(d) && d["body"]["data"]["channel"] == "voice")
            .collect();
        for d in &calls {
            println!(
                "   outbox: voice call for estimate {} to {} (intent {})",
                d["body"]["data"]["entity"]["id"].as_str().unwrap_or(""),
                d["body"]["data"]["recipient"]["phone"].as_str().unwrap_or(""),
                d["body"]["data"]["intent"].as_str().unwrap_or("")
            );
        }
        if calls.len() != 1
            || calls[0]["body"]["data"]["entity"]["id"].as_str() != Some(first["id"].to_string().as_str())
        {
            bail!("expected one AI call, for estimate {}: {calls:?}", first["id"]);
        }
        println!("   none for estimate {}: sold before its call was due", second["id"]);
        let timeline = self.runs(&format!("estimate:{}", third["id"])).await?;
        let suppressed = timeline["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["entry"] == "skipped")
            .cloned()
            .context("the third estimate's call was neither sent nor suppressed")?;
        println!(
            "   suppressed: the {} call for estimate {} (reason {}: no consent to AI calls is recorded for {}, and the \
             tenant has not attested to written consent)",
            suppressed["step"].as_str().unwrap_or(""),
            third["id"],
            suppressed["detail"]["reason"].as_str().unwrap_or(""),
            phone(third)?
        );
        if suppressed["detail"]["reason"] != "no_call_consent" {
            bail!("expected the third call suppressed for want of consent: {suppressed}");
        }

        step(
            "the third customer replies \"Please stop texting me 🙏\" from a phone that signs its texts (POST /inbound)",
        );
        let (status, stop) = self
            .admin
            .call(
                reqwest::Method::POST,
                "/inbound",
                Some(
                    json!({"tenantId": self.tenant.to_string(), "channel": "sms", "from": phone(third)?,
                    "text": "Please stop texting me 🙏\n\nSent from my iPhone"}),
                ),
            )
            .await?;
        println!(
            "   {status}: {} ({} rule, decided by {:?}), channels {} (a STOP by text stops AI calls too)",
            stop["meaning"].as_str().unwrap_or(""),
            stop["rule"].as_str().unwrap_or(""),
            stop["decidedBy"].as_str().unwrap_or(""),
            stop["channels"]
        );
        if stop["meaning"] != "opted_out" {
            bail!("expected an opt-out: {stop}");
        }
        let status = self
            .admin
            .get(&format!("/admin/tenants/{}/status", self.tenant))
            .await?;
        println!("   status followUps: {}", status["followUps"]);
        Ok(())
    }
}
