//! The fault matrix: the demo's story (leads in, estimates followed up, an invoice dunned, a reply that opts out)
//! run under one fault at a time, then checked from the sandbox's records and the sink's deliveries:
//! - no event lost: every webhook delivered and recorded, every lead created, every follow-up the story expects
//!   delivered;
//! - no duplicate customer, job, ServiceTitan lead or message;
//! - no message after a sale, a payment or an opt-out;
//! - none outside quiet hours;
//! - the dead-letter queues hold exactly the poison the story injected.
//!
//! Faults are set at three moments: as the story's events and leads come in, as the first follow-ups go (24 h), and
//! as the dunning starts (day 22). `make chaos` runs every fault over several rounds (other kill points, other
//! orders); `make test` runs one round of each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use local_stack::faults::{FaultRequest, Kill, SqsFaults};
use serde_json::{Value, json};

use crate::TENANT;
use crate::followups::FollowUps;
use crate::leads::{address, lead};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault: the reference run.
    None,
    /// ServiceTitan answering 429 to a third of the calls.
    ServiceTitan429,
    /// ServiceTitan answering 500 or 503 to two fifths of the calls.
    ServiceTitan5xx,
    /// ServiceTitan down for 30 minutes at each moment.
    ServiceTitanOutage,
    /// The AI platform's sink answering 503 for 2 hours at each moment.
    SinkDown,
    /// DynamoDB, SQS or Scheduler refusing every call for 5 minutes at each moment.
    DynamoDbRefusing,
    SqsRefusing,
    SchedulerRefusing,
    /// Every function's host killed part-way through an invocation at each moment (the round picks the call).
    HostKilled,
    /// Every webhook sent twice and out of order, every SQS batch delivered twice at once and shuffled, every lead
    /// and reply posted twice.
    DuplicatedAndReordered,
}

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::None,
        Fault::ServiceTitan429,
        Fault::ServiceTitan5xx,
        Fault::ServiceTitanOutage,
        Fault::SinkDown,
        Fault::DynamoDbRefusing,
        Fault::SqsRefusing,
        Fault::SchedulerRefusing,
        Fault::HostKilled,
        Fault::DuplicatedAndReordered,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Fault::None => "none (reference)",
            Fault::ServiceTitan429 => "ServiceTitan 429s (1 in 3)",
            Fault::ServiceTitan5xx => "ServiceTitan 500/503s (2 in 5)",
            Fault::ServiceTitanOutage => "ServiceTitan down 30 min",
            Fault::SinkDown => "sink down 2 h",
            Fault::DynamoDbRefusing => "DynamoDB refusing 5 min",
            Fault::SqsRefusing => "SQS refusing 5 min",
            Fault::SchedulerRefusing => "Scheduler refusing 5 min",
            Fault::HostKilled => "hosts killed mid-invocation",
            Fault::DuplicatedAndReordered => "duplicated + reordered deliveries",
        }
    }
}

/// When in the story a fault is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Intake,
    FirstSends,
    Dunning,
}

/// Functions whose hosts are killed, in the order of a kill round's offsets.
const KILLED: &[&str] = &[
    "WebhookIntakeFunction",
    "EventProcessorFunction",
    "LeadIntakeFunction",
    "LeadCreatorFunction",
    "FollowUpRunnerFunction",
    "InboundMessagesFunction",
];

/// What one run did, and what it broke.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub fault: Fault,
    pub round: u32,
    /// (scenario or invariant, "✓ what happened" or "✗ ...").
    pub cells: Vec<(String, String)>,
    pub violations: Vec<String>,
    /// Follow-ups accepted by the sink.
    pub delivered: usize,
    /// Sink attempts refused while it was down.
    pub sink_refused: usize,
    /// Webhook attempts the sandbox made, and how many it had to retry.
    pub webhook_attempts: usize,
    pub webhook_retries: usize,
    /// SQS receives that failed and were retried.
    pub receives_failed: usize,
    /// Calls ServiceTitan's sandbox refused (faults) and AWS calls refused, and hosts killed.
    pub servicetitan_refused: usize,
    pub aws_refused: u64,
    pub killed: usize,
    pub duplicated_batches: u64,
    /// Messages in the dead-letter queues at the end (the poison, and any copies of it).
    pub parked: usize,
    pub seconds: f64,
}

impl Outcome {
    /// One line of the matrix, each figure named.
    pub fn line(&self) -> String {
        format!(
            "{} (round {}): {} follow-ups delivered, {} sink refusals, {} webhook attempts ({} retried), \
             {} SQS receives failed, {} ServiceTitan refusals, {} AWS calls refused, {} hosts killed, \
             {} batches doubled, {} parked, {:.0} s: {}",
            self.fault.label(),
            self.round,
            self.delivered,
            self.sink_refused,
            self.webhook_attempts,
            self.webhook_retries,
            self.receives_failed,
            self.servicetitan_refused,
            self.aws_refused,
            self.killed,
            self.duplicated_batches,
            self.parked,
            self.seconds,
            if self.violations.is_empty() {
                "every invariant holds".to_owned()
            } else {
                format!("{} broken", self.violations.len())
            },
        )
    }

    /// The scenario cells, one line: `chat lead ✓ created once | Avery ✓ sms_24h + call_72h | ...`.
    pub fn cells_line(&self) -> String {
        self.cells
            .iter()
            .map(|(k, c)| format!("{k} {c}"))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// The poison the story injects: one message no consumer can read, per queue with a dead-letter queue.
const POISON: &[(&str, &str, &str)] = &[
    ("EventsQueue", "EventsDeadLetterQueue", "{\"poison\": \"events\"}"),
    (
        "FollowUpsQueue",
        "FollowUpsDeadLetterQueue",
        "{\"kind\": \"followup.step\", \"poison\": true}",
    ),
    ("LeadsQueue", "LeadsDeadLetterQueue", "{\"poison\": \"leads\"}"),
];

struct Story {
    f: FollowUps,
    fault: Fault,
    round: u32,
    /// Drew's reply: STOP, or for the canary none (the story still expects Drew to hear nothing more).
    reply: Option<&'static str>,
    zone: TimeZone,
    receives_failed: std::sync::atomic::AtomicUsize,
}

/// Runs the story under `fault` (`round` varies kill points and orders) and checks every invariant.
pub async fn run(fault: Fault, round: u32) -> Outcome {
    play(fault, round, Some("STOP")).await
}

/// The canary: the story without a fault, but Drew's STOP never arrives, so the checks must find the call that
/// follows the moment it was expected (the proof that they can fail).
pub async fn run_canary() -> Outcome {
    play(Fault::None, 0, None).await
}

async fn play(fault: Fault, round: u32, reply: Option<&'static str>) -> Outcome {
    let started = Instant::now();
    let f = FollowUps::start(
        &["estimate_follow_up", "invoice_dunning", "missed_call_text_back"],
        json!({}),
    )
    .await;
    let s = Story {
        f,
        fault,
        round,
        reply,
        zone: TimeZone::get("America/Chicago").unwrap(),
        receives_failed: Default::default(),
    };
    let outcome = s.play().await;
    let seconds = started.elapsed().as_secs_f64();
    s.f.stop().await;
    Outcome { seconds, ..outcome }
}

/// The follow-ups one person should get: `want`, or its beginning when the run was halted by `stop` first.
struct Expected {
    who: &'static str,
    kind: &'static str,
    id: i64,
    recipe: &'static str,
    want: &'static [&'static str],
    stop: Option<&'static str>,
}

impl Expected {
    fn new(
        who: &'static str,
        kind: &'static str,
        id: i64,
        recipe: &'static str,
        want: &'static [&'static str],
        stop: Option<&'static str>,
    ) -> Self {
        Self {
            who,
            kind,
            id,
            recipe,
            want,
            stop,
        }
    }
}

/// What the story made, to check afterwards.
struct Cast {
    /// The estimates of Avery, Blair, Casey and Drew, and Emery's invoice.
    a: i64,
    b: i64,
    c: i64,
    d: i64,
    e: i64,
    sold_b: Timestamp,
    opted_out_d: Timestamp,
    paid_e: Timestamp,
}

const CHAT_PHONE: &str = "5125550791";
const MISSED_PHONE: &str = "5125550792";

impl Story {
    async fn play(&self) -> Outcome {
        let f = &self.f;
        let start = f.at_local_hour(10, "America/Chicago").await;
        let hours = SignedDuration::from_hours;
        // The cast, made before any fault (ServiceTitan's faults would refuse the test's own calls too).
        let mut people = Vec::new();
        for (name, phone) in [
            ("Avery Unsigned", "5125550781"),
            ("Blair Buyer", "5125550782"),
            ("Casey Quick", "5125550783"),
            ("Drew Stop", "5125550784"),
            ("Emery Owes", "5125550785"),
        ] {
            let email = format!("{}@example.com", name.split(' ').next().unwrap().to_lowercase());
            let h = f.household(name, phone, "TX", "78704", Some(&email)).await;
            let job = f.job(&h, start + hours(24 * 20)).await;
            people.push((h, job));
        }
        let mut estimates = Vec::new();
        for (h, job) in &people[..4] {
            estimates.push(f.estimate(job, &format!("Estimate for {}", h.customer_id)).await.id);
        }
        let dunned_job = f.job(&people[4].0, start + hours(2)).await;
        for (queue, _, body) in POISON {
            f.t.stack
                .aws()
                .sqs
                .send_message()
                .queue_url(f.t.resource(queue))
                .message_body(*body)
                .send()
                .await
                .unwrap();
        }

        // Day 0: the faults of the intake, then the leads and the estimates sent; one sold at once.
        self.inject(Moment::Intake).await;
        let twice = self.fault == Fault::DuplicatedAndReordered;
        let chat = lead(
            "chaos-chat-1",
            "Morgan Newcomer",
            CHAT_PHONE,
            json!({"address": address("4410 Quarry Ridge Rd", None, "78731"),
                   "summary": "AC blowing warm air.", "transcript": "Customer: my AC is blowing warm air."}),
        );
        let missed =
            json!({"leadId": "chaos-call-1", "tenantId": TENANT, "source": "missed_call", "phone": MISSED_PHONE});
        for body in [&chat, &missed] {
            self.until_taken("/leads", body, twice).await;
        }
        for id in &estimates {
            self.control(&format!("estimates/{id}/send"), json!({})).await;
        }
        self.pass(SignedDuration::from_secs(20), SignedDuration::from_secs(20))
            .await;
        self.control(&format!("estimates/{}/sell", estimates[2]), json!({}))
            .await;
        self.through_the_faults().await;
        self.pass(hours(3) + SignedDuration::from_mins(20), hours(1)).await;
        let done = self
            .control(&format!("jobs/{}/complete", dunned_job.id), json!({"total": "480.00"}))
            .await;
        let invoice = done["invoiceId"].as_i64().expect("the job's invoice");
        let completed = f.now();
        // Just before the texts are due.
        let until_sends = (start + hours(24) - SignedDuration::from_mins(2)).duration_since(f.now());
        self.pass(until_sends, hours(2)).await;

        // Day 1: the first texts go, under the second set of faults.
        self.inject(Moment::FirstSends).await;
        self.through_the_faults().await;
        self.pass(hours(1) + SignedDuration::from_mins(20), SignedDuration::from_mins(20))
            .await;
        // Drew replies STOP; Blair's estimate is sold.
        let opted_out_d = f.now();
        if let Some(text) = self.reply {
            let stop = json!({"tenantId": TENANT, "channel": "sms", "from": people[3].0.phone, "text": text});
            self.until_taken("/inbound", &stop, twice).await;
        }
        self.pass(hours(4), hours(1)).await;
        let sold_b = f.now();
        self.control(&format!("estimates/{}/sell", estimates[1]), json!({}))
            .await;
        // On past 72 hours: Avery's call.
        self.pass(hours(48), hours(6)).await;

        // Day 22: dunning starts (net 15, then 7 days overdue), under the third set; paid after its first round.
        let until_dunning = (completed + hours(24 * 22) - SignedDuration::from_mins(2)).duration_since(f.now());
        self.pass(until_dunning, hours(24)).await;
        self.inject(Moment::Dunning).await;
        self.through_the_faults().await;
        self.pass(hours(36), hours(3)).await;
        let paid_e = f.now();
        self.control("payments", json!({"invoiceId": invoice, "amount": "480.00"}))
            .await;
        self.pass(hours(24 * 10), hours(24)).await;

        // Faults end; everything still owed settles, then the checks.
        self.clear_faults().await;
        self.quiesce().await;
        let cast = Cast {
            a: estimates[0],
            b: estimates[1],
            c: estimates[2],
            d: estimates[3],
            e: invoice,
            sold_b,
            opted_out_d,
            paid_e,
        };
        self.check(&cast).await
    }

    /// Sets this run's fault for one moment of the story.
    async fn inject(&self, at: Moment) {
        let f = &self.f;
        let faults = f.t.stack.faults();
        let refuse = |service: &str, secs: i64| FaultRequest {
            refuse: [(service.to_owned(), secs)].into(),
            ..FaultRequest::default()
        };
        match self.fault {
            Fault::None => {}
            Fault::ServiceTitan429 if at == Moment::Intake => {
                self.sandbox_fault(json!({"errorRate": 0.33, "status": 429})).await;
            }
            Fault::ServiceTitan5xx if at == Moment::Intake => {
                self.sandbox_fault(json!({"errorRate": 0.2, "status": 500})).await;
                self.sandbox_fault(json!({"errorRate": 0.25, "status": 503})).await;
            }
            Fault::ServiceTitan429 | Fault::ServiceTitan5xx => {}
            Fault::ServiceTitanOutage => {
                self.sandbox_fault(json!({"outageSeconds": 1800, "status": 503})).await;
            }
            Fault::SinkDown => f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour {
                status: Some(503),
                for_seconds: Some(7200),
                ..Default::default()
            }),
            Fault::DynamoDbRefusing => faults.apply(refuse("dynamodb", 300)).unwrap(),
            Fault::SqsRefusing => faults.apply(refuse("sqs", 300)).unwrap(),
            Fault::SchedulerRefusing => faults.apply(refuse("scheduler", 300)).unwrap(),
            Fault::HostKilled => {
                let moment = at as usize;
                let kill = KILLED
                    .iter()
                    .enumerate()
                    .map(|(i, function)| Kill {
                        function: (*function).to_owned(),
                        at_call: 1 + (i + moment + self.round as usize) % 5,
                    })
                    .collect();
                faults
                    .apply(FaultRequest {
                        kill,
                        ..FaultRequest::default()
                    })
                    .unwrap();
            }
            Fault::DuplicatedAndReordered if at == Moment::Intake => {
                let sandbox = f.t.stack.sandbox().unwrap();
                let mut config = sandbox.webhook_config().expect("the stack configures webhooks");
                config.duplicates = 1;
                config.reorder_seconds = 60 + 30 * self.round;
                sandbox.configure_webhooks(config);
                faults
                    .apply(FaultRequest {
                        sqs: Some(SqsFaults {
                            duplicate: true,
                            reorder: true,
                        }),
                        ..FaultRequest::default()
                    })
                    .unwrap();
            }
            Fault::DuplicatedAndReordered => {}
        }
    }

    async fn sandbox_fault(&self, rule: Value) {
        let url = format!("{}/_sandbox/faults", self.f.sandbox_url());
        let resp = reqwest::Client::new().post(url).json(&rule).send().await.unwrap();
        assert!(resp.status().is_success(), "sandbox fault {rule}: {}", resp.status());
    }

    async fn clear_faults(&self) {
        let f = &self.f;
        f.t.stack.faults().clear();
        let url = format!("{}/_sandbox/faults", f.sandbox_url());
        reqwest::Client::new().delete(url).send().await.unwrap();
        f.t.stack.sink().set_behaviour(local_stack::sink::Behaviour::default());
        let sandbox = f.t.stack.sandbox().unwrap();
        if let Some(mut config) = sandbox.webhook_config() {
            config.duplicates = 0;
            config.reorder_seconds = 0;
            sandbox.configure_webhooks(config);
        }
    }

    /// POSTs what the AI platform sends (twice when deliveries are duplicated); a refusal (an outage, a killed
    /// host) is retried as the platform would, 30 seconds on.
    async fn until_taken(&self, path: &str, body: &Value, twice: bool) {
        for _ in 0..if twice { 2 } else { 1 } {
            for attempt in 0.. {
                let reply = self.f.t.admin(reqwest::Method::POST, path, Some(body.clone())).await;
                if reply.status < 300 {
                    break;
                }
                assert!(
                    reply.status >= 500 && attempt < 30,
                    "{path} refused for good: {} {}",
                    reply.status,
                    reply.body
                );
                self.pass(SignedDuration::from_secs(30), SignedDuration::from_secs(30))
                    .await;
            }
        }
    }

    /// A sandbox control (its webhooks go out by themselves, on their schedule); its answer.
    async fn control(&self, path: &str, body: Value) -> Value {
        let answer = self.f.control_only(path, body).await;
        self.settle().await;
        answer
    }

    /// Waits for the sandbox to make every webhook attempt that is due, then drains; failures are expected.
    async fn settle(&self) {
        let sandbox = self.f.t.stack.sandbox().unwrap();
        for _ in 0..400 {
            let now = self.f.now();
            let due = sandbox.deliveries().iter().any(|d| {
                d["state"] == "pending"
                    && d["nextAttemptAt"]
                        .as_str()
                        .and_then(|t| t.parse::<Timestamp>().ok())
                        .is_some_and(|at| at <= now)
            });
            if !due {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let report = self.f.t.stack.drain().await.unwrap();
        self.receives_failed
            .fetch_add(report.messages_failed, Ordering::Relaxed);
    }

    /// The 40 minutes after a fault is set, in steps short enough for ServiceTitan's webhook retries (10, 30, 60 and
    /// 300 seconds apart) to be made on time.
    async fn through_the_faults(&self) {
        self.pass(SignedDuration::from_mins(8), SignedDuration::from_mins(1))
            .await;
        self.pass(SignedDuration::from_mins(32), SignedDuration::from_mins(4))
            .await;
    }

    /// Moves `by` forward in steps of `step`, settling after each.
    async fn pass(&self, by: SignedDuration, step: SignedDuration) {
        let end = self.f.now() + by;
        while self.f.now() < end {
            let left = end.duration_since(self.f.now());
            let report = self.f.t.stack.advance(left.min(step)).await.unwrap();
            self.receives_failed
                .fetch_add(report.messages_failed, Ordering::Relaxed);
            self.settle().await;
        }
    }

    /// After the faults: on until no webhook is pending and no queue holds anything but the poison.
    async fn quiesce(&self) {
        for _ in 0..96 {
            let pending = self
                .f
                .t
                .stack
                .sandbox()
                .unwrap()
                .deliveries()
                .iter()
                .filter(|d| d["state"] == "pending")
                .count();
            let mut queued = 0;
            for queue in ["EventsQueue", "FollowUpsQueue", "LeadsQueue", "ReconcileQueue"] {
                let (visible, hidden) = self.f.t.queue_depth(queue).await;
                queued += visible + hidden;
            }
            if pending == 0 && queued == 0 {
                return;
            }
            self.pass(SignedDuration::from_mins(30), SignedDuration::from_mins(5))
                .await;
        }
    }

    async fn check(&self, cast: &Cast) -> Outcome {
        let f = &self.f;
        let mut v = Vec::new();
        let delivered = f.delivered(None);
        let attempts = f.t.stack.sink().deliveries();
        let at = |d: &Value| {
            d["_timestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .unwrap()
        };
        let of = |entity: &str, id: i64| -> Vec<&Value> {
            let id = id.to_string();
            delivered
                .iter()
                .filter(|d| d["data"]["entity"]["kind"] == entity && d["data"]["entity"]["id"] == id.as_str())
                .collect()
        };
        let steps = |ds: &[&Value]| -> Vec<String> {
            ds.iter()
                .map(|d| d["data"]["step"].as_str().unwrap_or("?").to_owned())
                .collect()
        };

        // No event lost: each expected follow-up delivered, exactly once. A step still waiting (its sink down) when
        // the story's stop comes must not go at all: then the run shows that stop.
        let expected = [
            Expected::new(
                "Avery",
                "estimate",
                cast.a,
                "estimate_follow_up",
                &["sms_24h", "call_72h"],
                None,
            ),
            Expected::new(
                "Blair",
                "estimate",
                cast.b,
                "estimate_follow_up",
                &["sms_24h"],
                Some("estimate.sold"),
            ),
            Expected::new("Casey", "estimate", cast.c, "estimate_follow_up", &[], None),
            Expected::new(
                "Drew",
                "estimate",
                cast.d,
                "estimate_follow_up",
                &["sms_24h"],
                Some("opted_out"),
            ),
            Expected::new(
                "Emery",
                "invoice",
                cast.e,
                "invoice_dunning",
                &["sms", "email"],
                Some("invoice.paid"),
            ),
        ];
        for Expected {
            who,
            kind,
            id,
            recipe,
            want,
            stop,
        } in expected
        {
            let got = steps(&of(kind, id));
            if got == want {
                continue;
            }
            // Cut short by the story's stop: the run halted by it, or the steps left skipped for it (a STOP halts
            // the runs that have written to the number; one whose first text never got through skips the rest).
            let prefix = got.len() < want.len() && got.iter().zip(want).all(|(g, w)| g == w);
            let entity = format!("{kind}:{id}");
            let run = f.run(&entity, recipe).await;
            let skipped_for_stop = f.runs(&entity).await["timeline"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["entry"] == "skipped" && e["detail"]["reason"].as_str() == stop)
                .count();
            let halted = run["status"] == "halted" && run["reason"].as_str() == stop;
            let stopped = stop.is_some() && (halted || skipped_for_stop >= want.len().saturating_sub(got.len()));
            if !(prefix && stopped) {
                v.push(format!(
                    "{who} ({kind} {id}): delivered {got:?}, expected {want:?}; the run ended {} {}",
                    run["status"], run["reason"]
                ));
            }
        }
        let missed: Vec<&Value> = delivered
            .iter()
            .filter(|d| d["data"]["recipe"] == "missed_call_text_back")
            .collect();
        if missed.len() != 1 {
            v.push(format!("missed call: texted {} times", missed.len()));
        }
        // Every webhook delivered, and recorded.
        let webhooks = f.t.stack.sandbox().unwrap().deliveries();
        for d in &webhooks {
            let id = d["eventId"].as_str().unwrap_or_default();
            if d["state"] != "delivered" {
                v.push(format!("webhooks: {id} ({}) ended {}", d["eventType"], d["state"]));
            } else if f.t.event_record(TENANT, id).await.is_none() {
                v.push(format!(
                    "webhook {id} ({}) was answered but not recorded",
                    d["eventType"]
                ));
            }
        }
        for lead_id in ["chaos-chat-1", "chaos-call-1"] {
            let lead = f.lead(lead_id).await;
            if lead["status"] != "created" {
                let scenario = if lead_id == "chaos-chat-1" {
                    "chat lead"
                } else {
                    "missed call"
                };
                v.push(format!("{scenario}: ended {}: {}", lead["status"], lead["error"]));
            }
        }

        // No duplicate customer, job, ServiceTitan lead or message.
        let customers = f.customers_with_phone(CHAT_PHONE).await;
        if customers.len() != 1 {
            v.push(format!("chat lead: {} customers with its phone", customers.len()));
        }
        for c in &customers {
            let jobs = f.jobs_of(*c).await.len();
            if jobs != 1 {
                v.push(format!("chat lead: customer {c} has {jobs} jobs"));
            }
        }
        let st_leads = f
            .client
            .find_leads(&servicetitan::models::crm::LeadFilter {
                phone: Some(MISSED_PHONE.into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .len();
        if st_leads != 1 {
            v.push(format!("missed call: {st_leads} ServiceTitan leads"));
        }
        let mut per_step: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for a in &attempts {
            let d = &a.body["data"];
            let key = format!("{} {} {}", d["runId"], d["step"], d["attempt"]);
            per_step
                .entry(key)
                .or_default()
                .insert(a.webhook_id.clone().unwrap_or_default());
        }
        for (key, ids) in &per_step {
            if ids.len() != 1 {
                v.push(format!("messages: {key} went out as {} different messages", ids.len()));
            }
        }

        // No message after a sale, a payment or an opt-out; none outside quiet hours.
        for d in of("estimate", cast.b) {
            if at(d) >= cast.sold_b {
                v.push(format!("Blair texted at {} after the sale at {}", at(d), cast.sold_b));
            }
        }
        for (who, id, after) in [("Drew", cast.d, cast.opted_out_d), ("Emery", cast.e, cast.paid_e)] {
            let kind = if who == "Emery" { "invoice" } else { "estimate" };
            for d in of(kind, id) {
                if at(d) >= after {
                    v.push(format!(
                        "{who} sent {} at {} after stopping at {after}",
                        d["data"]["step"],
                        at(d)
                    ));
                }
            }
        }
        for d in &delivered {
            let local = at(d).to_zoned_datetime(self.zone.clone());
            if !(8..21).contains(&local.hour()) {
                v.push(format!("quiet hours: {} sent at {local}", d["data"]["step"]));
            }
        }

        // The dead-letter queues hold exactly the poison. (A poison message handed to two consumers at once is
        // parked by both: SQS's at-least-once, so copies count as the one message.)
        let mut parked = 0;
        for (_, dlq, body) in POISON {
            let bodies = self.drain_queue(dlq).await;
            parked += bodies.len();
            let distinct: BTreeSet<&str> = bodies.iter().map(String::as_str).collect();
            if distinct != BTreeSet::from([*body]) {
                v.push(format!(
                    "dead letters: {dlq} holds {bodies:?}, expected only the poison"
                ));
            }
        }
        let (sched_visible, sched_hidden) = f.t.queue_depth("FollowUpSchedulerDeadLetterQueue").await;
        if sched_visible + sched_hidden != 0 {
            v.push(format!(
                "dead letters: {} undeliverable schedules",
                sched_visible + sched_hidden
            ));
        }

        // The matrix's cells: each scenario and invariant, what happened, and whether it held.
        let mark = |key: &str, what: String| {
            let held = !v.iter().any(|m| m.starts_with(key));
            (key.to_owned(), format!("{} {what}", if held { "✓" } else { "✗" }))
        };
        let sent = |kind: &str, id: i64| {
            let s = steps(&of(kind, id));
            if s.is_empty() {
                "nothing".to_owned()
            } else {
                s.join(" + ")
            }
        };
        let cells = vec![
            mark("chat lead", "created once".into()),
            mark("missed call", format!("{} text", missed.len())),
            mark("Avery", sent("estimate", cast.a)),
            mark("Blair", sent("estimate", cast.b)),
            mark("Casey", sent("estimate", cast.c)),
            mark("Drew", sent("estimate", cast.d)),
            mark("Emery", sent("invoice", cast.e)),
            mark("messages", "one id each".into()),
            mark("quiet hours", "none inside".into()),
            mark("webhooks", format!("{} recorded", webhooks.len())),
            mark("dead letters", format!("{parked} parked")),
        ];
        let report = f.t.stack.faults().report();
        let sandbox_refused =
            f.t.stack
                .sandbox()
                .unwrap()
                .requests()
                .iter()
                .filter(|r| r["status"].as_u64().is_some_and(|s| s == 429 || s >= 500))
                .count();
        let webhook_attempts: usize = webhooks
            .iter()
            .map(|d| d["attempts"].as_array().map_or(0, Vec::len))
            .sum();
        Outcome {
            fault: self.fault,
            round: self.round,
            cells,
            violations: v,
            delivered: delivered.len(),
            sink_refused: attempts.iter().filter(|a| a.status >= 500).count(),
            webhook_attempts,
            webhook_retries: webhook_attempts - webhooks.len(),
            receives_failed: self.receives_failed.load(Ordering::Relaxed),
            servicetitan_refused: sandbox_refused,
            aws_refused: report.refused.values().sum(),
            killed: report.killed.len(),
            duplicated_batches: report.duplicated_batches,
            parked,
            seconds: 0.0,
        }
    }

    /// Every message of a queue, read and deleted.
    async fn drain_queue(&self, logical: &str) -> Vec<String> {
        let sqs = &self.f.t.stack.aws().sqs;
        let url = self.f.t.resource(logical);
        let mut bodies = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                return bodies;
            }
            for m in out.messages() {
                bodies.push(m.body().unwrap_or_default().to_owned());
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}
