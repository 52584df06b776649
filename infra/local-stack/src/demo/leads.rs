//! The demo's leads story: a chat from the AI widget becomes a Customer, Location and Job in ServiceTitan with the
//! AI summary as a note; the same household chats again with the phone and address written differently and is
//! matched, not duplicated; a call nobody answered gets the text-back with the booking link.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{Admin, Local, step};

pub(super) struct Story<'a> {
    pub admin: &'a Admin<'a>,
    pub client: &'a servicetitan::Client,
    pub tenant: i64,
    /// The tenant's time zone, for showing arrival windows.
    pub zone: jiff::tz::TimeZone,
}

impl Story<'_> {
    async fn post_lead(&self, body: &Value, expected: u16) -> anyhow::Result<Value> {
        let (status, reply) = self
            .admin
            .call(reqwest::Method::POST, "/leads", Some(body.clone()))
            .await?;
        println!("   {status} {reply}");
        if status != expected {
            bail!("POST /leads answered {status}, expected {expected}");
        }
        Ok(reply)
    }

    /// Drains the queues (the lead creator runs, then the engine for what it started), then reads the lead back.
    async fn settled(&self, lead_id: &str) -> anyhow::Result<Value> {
        self.local().drain().await?;
        let lead = self
            .admin
            .get(&format!("/leads/{lead_id}?tenantId={}", self.tenant))
            .await?;
        if lead["status"] != "created" {
            bail!("expected lead {lead_id} created: {lead}");
        }
        let matched = &lead["decision"]["matched"];
        let decision = match matched["decision"]["customerId"].as_i64() {
            Some(id) => format!("customer {id} ({})", matched["decision"]["rule"].as_str().unwrap_or("")),
            None if lead["outcome"] == "servicetitan_lead" => {
                "no customer has this phone and there is no address: a ServiceTitan CRM lead for the CSRs".into()
            }
            None => "a new customer (no existing one shares two signals)".into(),
        };
        println!(
            "   GET /leads/{lead_id}: {} as {}; decision: {decision}; ServiceTitan ids {}",
            lead["status"].as_str().unwrap_or(""),
            lead["outcome"].as_str().unwrap_or(""),
            lead["servicetitan"]
        );
        Ok(lead)
    }

    fn local(&self) -> Local<'_> {
        self.admin.local()
    }

    pub(super) async fn run(&self) -> anyhow::Result<()> {
        // Unique ids, so that the demo can run again on the same stack (the household is then matched from the start).
        let run = jiff::Timestamp::now().as_millisecond();
        let chat_id = format!("demo-chat-{run}");
        let chat = json!({
            "leadId": chat_id, "tenantId": self.tenant.to_string(), "source": "chat",
            "name": "Dana Whitfield", "phone": "(512) 555-0142", "email": "dana.whitfield@example.com",
            "address": {"street": "1407 Barton Hills Drive", "unit": "Apt 2", "city": "Austin", "state": "TX",
                        "zip": "78704"},
            "service": "AC not cooling", "priority": "high",
            "summary": "Upstairs AC blowing warm air since last night; thermostat at 72, house at 84. Wants someone tomorrow morning.",
            "transcript": "Visitor: my upstairs AC is blowing warm air\nAI: Sorry to hear that. When did it start?\nVisitor: last night",
            "recordingUrl": "https://recordings.example.com/demo/chat.txt",
        });
        step("leads: a chat from the AI widget (POST /leads)");
        self.post_lead(&chat, 202).await?;
        step("the lead creator matches by phone and address, then makes the records");
        let first = self.settled(&chat_id).await?;
        let ids = &first["servicetitan"];
        let customer_id = ids["customerId"].as_i64().context("no customerId")?;
        let customer = self.client.customer(customer_id).await?;
        let location = self
            .client
            .location(ids["locationId"].as_i64().context("no locationId")?)
            .await?;
        println!(
            "   ServiceTitan customer {} {:?}, location {} at {}{}, {}",
            customer.id,
            customer.name,
            location.id,
            location.address.street,
            location
                .address
                .unit
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default(),
            location.address.zip
        );
        if let Some(job_id) = ids["jobId"].as_i64() {
            let job = self.client.job(job_id).await?;
            let window = self.client.job_appointments(job_id).await?;
            let local = |t: jiff::Timestamp| {
                t.to_zoned_datetime(self.zone.clone())
                    .strftime("%a %b %-d %H:%M")
                    .to_string()
            };
            println!(
                "   job {} ({}), priority {}, arrival window {} (the tenant's default window, Sundays skipped)",
                job.job_number,
                job.job_status,
                job.priority.as_deref().unwrap_or("-"),
                window
                    .first()
                    .map(|a| format!(
                        "{} to {}",
                        local(a.arrival_window_start.unwrap_or(a.start)),
                        local(a.arrival_window_end.unwrap_or(a.end))
                    ))
                    .unwrap_or_else(|| "-".into())
            );
            println!(
                "   job summary: {:?}",
                job.summary.as_deref().unwrap_or("").lines().next().unwrap_or("")
            );
        }
        for note in self.client.customer_notes(customer_id).await?.iter().take(1) {
            println!("   customer note: {:?}", note.text.lines().next().unwrap_or(""));
        }
        step("the widget retries the same POST (same leadId, same body)");
        self.post_lead(&chat, 200).await?;

        step("the same household chats again: phone \"+1 512-555-0142\", \"1407 Barton Hills Dr #2\"");
        let again_id = format!("demo-chat-{run}-again");
        let mut again = chat.clone();
        again["leadId"] = json!(again_id);
        again["phone"] = json!("+1 512-555-0142");
        again["address"]["street"] = json!("1407 Barton Hills Dr #2");
        again["address"]["unit"] = Value::Null;
        again["summary"] = json!("Asked whether the tech can also look at the thermostat downstairs.");
        self.post_lead(&again, 202).await?;
        let second = self.settled(&again_id).await?;
        if second["servicetitan"]["customerId"].as_i64() != Some(customer_id) {
            bail!("expected the second chat matched to customer {customer_id}: {second}");
        }
        if let Some(job_id) = second["servicetitan"]["jobId"].as_i64() {
            let notes = self.client.job_notes(job_id).await?;
            let last = notes.last().map(|n| n.text.lines().next().unwrap_or("")).unwrap_or("");
            if second["outcome"] == "repeat_request" {
                println!(
                    "   one customer, nothing duplicated; job {job_id} is still open, so the request is its note: {last:?}"
                );
            } else {
                println!("   one customer, nothing duplicated; a new job {job_id}");
            }
        }

        step("a call nobody answered (POST /leads, source missed_call, a caller ServiceTitan does not know)");
        let call_id = format!("demo-call-{run}");
        let before = self.local().delivered().await?.len();
        self.post_lead(
            &json!({"leadId": call_id, "tenantId": self.tenant.to_string(), "source": "missed_call",
                    "phone": "512-555-0177"}),
            202,
        )
        .await?;
        self.settled(&call_id).await?;
        let texts: Vec<Value> = self
            .local()
            .delivered()
            .await?
            .into_iter()
            .skip(before)
            .filter(|d| d["body"]["data"]["intent"] == "missed_call_text_back")
            .collect();
        for d in &texts {
            println!(
                "   outbox: {} to {} (signature verified: {})\n     \"{}\"",
                d["body"]["data"]["channel"].as_str().unwrap_or(""),
                d["body"]["data"]["recipient"]["phone"].as_str().unwrap_or(""),
                d["verified"],
                d["body"]["data"]["message"]["text"].as_str().unwrap_or("")
            );
        }
        if texts.len() != 1 {
            bail!("expected one text-back in the outbox, found {texts:?}");
        }
        let status = self
            .admin
            .get(&format!("/admin/tenants/{}/status", self.tenant))
            .await?;
        println!("   status leads: {}", status["leads"]);
        self.host_killed_mid_lead(run).await
    }

    /// A lead whose worker dies part-way (its host killed at its twelfth AWS call): the queue hands it to another
    /// worker once its visibility timeout has passed, which finds what was made and makes nothing twice.
    async fn host_killed_mid_lead(&self, run: i64) -> anyhow::Result<()> {
        step("the lead creator's host dies mid-lead (POST /_local/faults: killed at its 12th AWS call)");
        self.local()
            .faults(json!({"kill": [{"function": "LeadCreatorFunction", "atCall": 12}]}))
            .await?;
        let lead_id = format!("demo-crash-{run}");
        let phone = format!("512555{:04}", run.rem_euclid(10_000));
        self.post_lead(
            &json!({"leadId": lead_id, "tenantId": self.tenant.to_string(), "source": "chat",
                    "name": "Rene Okafor", "phone": phone,
                    "address": {"street": "2200 Lake Austin Blvd", "city": "Austin", "state": "TX", "zip": "78703"},
                    "summary": "Water heater leaking."}),
            202,
        )
        .await?;
        self.local().drain().await?;
        let killed = self.local().faults(json!({})).await?;
        let lead = self
            .admin
            .get(&format!("/leads/{lead_id}?tenantId={}", self.tenant))
            .await?;
        println!(
            "   killed: {}; the lead is {} with {}",
            killed["report"]["killed"]
                .as_array()
                .and_then(|k| k.last())
                .unwrap_or(&Value::Null),
            lead["status"].as_str().unwrap_or(""),
            lead["servicetitan"]
        );
        step("virtual time: +7 minutes (past the leads queue's 370 s visibility timeout); another worker takes it");
        self.local().advance(jiff::SignedDuration::from_mins(7)).await?;
        self.settled(&lead_id).await?;
        let customers = self
            .client
            .find_customers(&servicetitan::models::crm::CustomerFilter {
                phone: Some(phone.clone()),
                ..Default::default()
            })
            .await?;
        println!(
            "   customers with {phone} in ServiceTitan: {} (none made twice)",
            customers.len()
        );
        if customers.len() != 1 {
            bail!("expected one customer with {phone}, found {}", customers.len());
        }
        Ok(())
    }
}
