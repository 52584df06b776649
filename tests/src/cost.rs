//! The AWS cost model of `docs/cost.md`. Each unit of work runs through the local stack; the functions' AWS calls
//! are counted as they are made ([`local_stack::usage`]) and ServiceTitan's by the sandbox; the counts are priced
//! at us-east-1 list prices. `make cost` rewrites the doc's table from a fresh run, and `tests/tests/cost.rs` fails
//! when the code and the table disagree, so the doc stays the code's.
//!
//! What the local stack cannot measure is assumed, and each assumption is named in the doc: billed time per
//! invocation, log bytes per invocation, and the polling of idle queues by Lambda's event source mappings.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use local_stack::template::Template;
use local_stack::usage::{FunctionUsage, UsageReport};
use serde_json::json;

use crate::followups::FollowUps;

/// us-east-1 list prices in USD, free tiers left out.
pub mod price {
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    /// On-demand, per write request unit (an item up to 1 KB) and per read request unit (up to 4 KB, strongly
    /// consistent).
    pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
    pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    pub const SECRETS_MANAGER_CALL: f64 = 0.05 / 10_000.0;
    pub const SECRET_MONTH: f64 = 0.40;
    /// Per schedule that fires; Scheduler's API calls are not billed.
    pub const SCHEDULER_INVOCATION: f64 = 1.00 / 1e6;
    pub const LOG_GB_INGESTED: f64 = 0.50;
    pub const ALARM_MONTH: f64 = 0.10;
    pub const DASHBOARD_MONTH: f64 = 3.00;
}

/// Billed time per invocation, assumed: a base, each AWS call in the region, each ServiceTitan call.
pub const BASE_MS: f64 = 5.0;
pub const AWS_CALL_MS: f64 = 8.0;
pub const SERVICETITAN_CALL_MS: f64 = 150.0;
/// Log bytes per invocation, assumed: one or two INFO lines in JSON with their spans (platform lines are WARN-level
/// and off).
pub const LOG_BYTES_PER_INVOCATION: f64 = 600.0;
/// Requests an idle queue's event source mapping makes in a month, assumed: five pollers long-polling for 20 s.
pub const IDLE_QUEUE_POLLS_PER_MONTH: f64 = 5.0 * 3.0 * 60.0 * 24.0 * 30.0;

/// One unit of work as measured: what its functions did over `reps` repetitions.
#[derive(Debug, Clone)]
pub struct Measured {
    pub name: &'static str,
    pub reps: u64,
    pub usage: UsageReport,
    pub servicetitan_calls: u64,
    /// API Gateway requests per repetition.
    pub http_requests: u64,
    /// Schedules that fired per repetition.
    pub schedules_fired: u64,
}

/// One priced line of a unit's bill, per repetition.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub item: &'static str,
    pub quantity: f64,
    pub usd: f64,
}

/// The deployment's functions as the template sets them: memory, and whether an SQS queue invokes them.
pub struct Functions {
    memory_mb: BTreeMap<String, f64>,
    sqs_consumers: Vec<String>,
    pub alarms: usize,
    pub dashboards: usize,
}

impl Functions {
    pub fn from_template(t: &Template) -> Self {
        let default = t.doc["Globals"]["Function"]["MemorySize"].as_f64().unwrap_or(128.0);
        let mut memory_mb = BTreeMap::new();
        let mut sqs_consumers = Vec::new();
        let (mut alarms, mut dashboards) = (0, 0);
        for (id, r) in t.doc["Resources"].as_object().into_iter().flatten() {
            match r["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    let p = &r["Properties"];
                    memory_mb.insert(id.clone(), p["MemorySize"].as_f64().unwrap_or(default));
                    let events = p["Events"].as_object().into_iter().flatten();
                    if events.into_iter().any(|(_, e)| e["Type"] == "SQS") {
                        sqs_consumers.push(id.clone());
                    }
                }
                Some("AWS::CloudWatch::Alarm") => alarms += 1,
                Some("AWS::CloudWatch::Dashboard") => dashboards += 1,
                _ => {}
            }
        }
        Self {
            memory_mb,
            sqs_consumers,
            alarms,
            dashboards,
        }
    }

    pub fn sqs_queues(&self) -> usize {
        self.sqs_consumers.len()
    }

    /// A unit's bill per repetition. ServiceTitan calls are billed as time of the unit's function that makes them
    /// (`servicetitan_function`).
    pub fn bill(&self, m: &Measured, servicetitan_function: &str) -> Vec<Line> {
        let reps = m.reps.max(1) as f64;
        let (mut reads, mut writes, mut sqs, mut secrets) = (0.0, 0.0, 0.0, 0.0);
        let (mut invocations, mut gb_seconds) = (0.0, 0.0);
        for (function, FunctionUsage { invocations: n, calls }) in &m.usage.functions {
            let gb = self.memory_mb.get(function).copied().unwrap_or(128.0) / 1024.0;
            let mut aws_calls = 0.0;
            for (op, count) in calls {
                let count = *count as f64;
                aws_calls += count;
                match op.split_once('.') {
                    Some(("DynamoDB", o)) => match o {
                        "GetItem" | "Query" | "Scan" | "BatchGetItem" => reads += count,
                        "TransactGetItems" => reads += 2.0 * count,
                        "TransactWriteItems" => writes += 2.0 * count,
                        _ => writes += count,
                    },
                    Some(("SQS", _)) => sqs += count,
                    Some(("Secrets Manager", _)) => secrets += count,
                    _ => {}
                }
            }
            let n = *n as f64;
            invocations += n;
            if self.sqs_consumers.contains(function) {
                // The event source mapping's receive and delete, per batch (one message a batch: the worst case).
                sqs += 2.0 * n;
            }
            let mut ms = n * BASE_MS + aws_calls * AWS_CALL_MS;
            if function == servicetitan_function {
                ms += m.servicetitan_calls as f64 * SERVICETITAN_CALL_MS;
            }
            gb_seconds += ms / 1000.0 * gb;
        }
        let log_gb = invocations * LOG_BYTES_PER_INVOCATION / 1e9;
        let http = m.http_requests as f64 * reps;
        let fired = m.schedules_fired as f64 * reps;
        [
            ("API Gateway requests", http, price::HTTP_API_REQUEST),
            ("Lambda invocations", invocations, price::LAMBDA_REQUEST),
            ("Lambda GB-seconds (arm64)", gb_seconds, price::LAMBDA_ARM_GB_SECOND),
            ("DynamoDB write units", writes, price::DYNAMODB_WRITE_UNIT),
            ("DynamoDB read units", reads, price::DYNAMODB_READ_UNIT),
            ("SQS requests", sqs, price::SQS_REQUEST),
            ("Secrets Manager calls", secrets, price::SECRETS_MANAGER_CALL),
            ("Scheduler invocations", fired, price::SCHEDULER_INVOCATION),
            ("CloudWatch Logs GB", log_gb, price::LOG_GB_INGESTED),
        ]
        .into_iter()
        .filter(|(_, q, _)| *q > 0.0)
        .map(|(item, q, p)| Line {
            item,
            quantity: q / reps,
            usd: q * p / reps,
        })
        .collect()
    }
}

pub fn total(lines: &[Line]) -> f64 {
    lines.iter().map(|l| l.usd).sum()
}

/// Only the named functions' share of a usage report.
fn only(report: UsageReport, functions: &[&str]) -> UsageReport {
    UsageReport {
        functions: report
            .functions
            .into_iter()
            .filter(|(f, _)| functions.contains(&f.as_str()))
            .collect(),
    }
}

/// Runs `work` after zeroing the counts and returns what `functions` did.
async fn measure<F: std::future::Future<Output = ()>>(
    f: &FollowUps,
    name: &'static str,
    reps: u64,
    functions: &[&str],
    work: F,
) -> Measured {
    f.t.stack.usage().reset();
    let before = f.servicetitan_requests().await;
    work.await;
    Measured {
        name,
        reps,
        usage: only(f.t.stack.usage().report(), functions),
        servicetitan_calls: f.servicetitan_requests().await - before,
        http_requests: 0,
        schedules_fired: 0,
    }
}

pub const INTAKE: &[&str] = &["WebhookIntakeFunction", "EventProcessorFunction"];
pub const REPS: u64 = 5;

/// Every unit of the model, measured on one stack: warm functions, as a busy deployment runs them.
pub async fn measure_units() -> Vec<(Measured, &'static str)> {
    let f = FollowUps::start_with(&["estimate_follow_up"], json!({}), |o| {
        o.function_env.insert("METRICS_ENABLED".into(), "false".into());
    })
    .await;
    f.at_local_hour(10, "America/Chicago").await;
    let start = f.now();
    let mut estimates = Vec::new();
    for i in 0..=REPS {
        let h = f
            .household(
                &format!("Cost {i}"),
                &format!("512555{:04}", 3000 + i),
                "TX",
                "78704",
                None,
            )
            .await;
        let job = f.job(&h, start + SignedDuration::from_hours(24 * 30)).await;
        estimates.push(f.estimate(&job, "Options").await);
    }
    f.webhooks().await;
    // Warm every function on the path (tokens, caches) with one repetition that is not counted.
    let (warm, estimates) = estimates.split_first().unwrap();
    f.control_only(&format!("estimates/{}/send", warm.id), json!({})).await;
    f.webhooks().await;
    f.advance(SignedDuration::from_hours(25)).await;

    let mut units = Vec::new();
    let nothing = measure(&f, "webhook that starts or stops nothing", REPS, INTAKE, async {
        for i in 0..REPS {
            let body = json!({"eventId": format!("cost-nothing-{i}"), "tenantId": crate::TENANT,
                              "occurredAt": f.now().to_string(), "data": {"id": 900_000 + i}});
            f.webhook("job.completed", body).await;
        }
    })
    .await;
    units.push((
        Measured {
            http_requests: 1,
            ..nothing
        },
        "EventProcessorFunction",
    ));

    let enrols = measure(&f, "webhook that enrols a run", REPS, INTAKE, async {
        for e in estimates {
            f.control_only(&format!("estimates/{}/send", e.id), json!({})).await;
        }
        f.webhooks().await;
    })
    .await;
    units.push((
        Measured {
            http_requests: 1,
            ..enrols
        },
        "EventProcessorFunction",
    ));

    let delivered = f.delivered(None).len();
    let sent = measure(&f, "follow-up sent", REPS, &["FollowUpRunnerFunction"], async {
        f.advance(SignedDuration::from_hours(25)).await;
    })
    .await;
    // The runner may take the five in one batch, as Lambda's event source does.
    assert_eq!(f.delivered(None).len() - delivered, REPS as usize, "one send each");
    units.push((
        Measured {
            schedules_fired: 1,
            ..sent
        },
        "FollowUpRunnerFunction",
    ));

    let lead_fns = &["LeadIntakeFunction", "LeadCreatorFunction"];
    let lead = measure(&f, "new lead (new customer, location, job)", REPS, lead_fns, async {
        for i in 0..REPS {
            f.post_lead(crate::leads::lead(
                &format!("cost-lead-{i}"),
                &format!("Cost Lead {i}"),
                &format!("512-555-{:04}", 4000 + i),
                json!({"address": crate::leads::address(&format!("{} Cost St", 100 + i), None, "78704")}),
            ))
            .await;
        }
    })
    .await;
    units.push((
        Measured {
            http_requests: 1,
            ..lead
        },
        "LeadCreatorFunction",
    ));

    // An idle hour of a connected tenant: its reconciles and token refreshes at their template rates.
    let idle_fns = &["ReconcileFanOutFunction", "ReconcilerFunction", "TokenRefreshFunction"];
    let idle = measure(
        &f,
        "idle tenant-hour (reconciles, token refreshes)",
        1,
        idle_fns,
        async {
            // Five minutes at a time: one advance fires each rate schedule once, however far it moves.
            for _ in 0..12 {
                f.advance(SignedDuration::from_mins(5)).await;
            }
        },
    )
    .await;
    units.push((idle, "ReconcilerFunction"));
    f.stop().await;
    units
}

/// The doc's table: every unit's bill, the per-million and per-month figures, and the fixed costs.
pub fn render(units: &[(Measured, &'static str)], functions: &Functions) -> String {
    let mut out = String::new();
    let mut summary = Vec::new();
    for (m, st_function) in units {
        let lines = functions.bill(m, st_function);
        out.push_str(&format!("#### {}\n\n", m.name));
        out.push_str(&format!(
            "Measured over {} repetition(s); {:.2} ServiceTitan calls each.\n\n",
            m.reps,
            m.servicetitan_calls as f64 / m.reps.max(1) as f64
        ));
        out.push_str("| function | invocations | AWS calls (each, by operation) |\n|---|---:|---|\n");
        for (function, u) in &m.usage.functions {
            let reps = m.reps.max(1) as f64;
            let calls: Vec<String> = u
                .calls
                .iter()
                .map(|(op, n)| format!("{op} {:.2}", *n as f64 / reps))
                .collect();
            out.push_str(&format!(
                "| {function} | {:.2} | {} |\n",
                u.invocations as f64 / reps,
                calls.join(", ")
            ));
        }
        out.push_str("\n| item | quantity each | USD per 1 M |\n|---|---:|---:|\n");
        for l in &lines {
            out.push_str(&format!("| {} | {:.4} | {:.2} |\n", l.item, l.quantity, l.usd * 1e6));
        }
        let t = total(&lines);
        out.push_str(&format!("| **total** | | **{:.2}** |\n\n", t * 1e6));
        summary.push((m.name, t));
    }
    let idle_hour = summary.last().map_or(0.0, |(_, t)| *t);
    let tenant_month = idle_hour * 24.0 * 30.0;
    let queues = functions.sqs_queues() as f64;
    let deployment = queues * IDLE_QUEUE_POLLS_PER_MONTH * price::SQS_REQUEST
        + functions.alarms as f64 * price::ALARM_MONTH
        + functions.dashboards as f64 * price::DASHBOARD_MONTH;
    out.push_str("#### Summary\n\n| unit | USD |\n|---|---:|\n");
    for (name, t) in &summary[..summary.len().saturating_sub(1)] {
        out.push_str(&format!("| {name}, per 1 M | {:.2} |\n", t * 1e6));
    }
    out.push_str(&format!(
        "| idle tenant, per month (reconciles and token refreshes) | {tenant_month:.4} |\n"
    ));
    out.push_str(&format!(
        "| fixed per tenant, per month (its credentials secret) | {:.2} |\n",
        price::SECRET_MONTH
    ));
    out.push_str(&format!(
        "| fixed per deployment, per month ({} queues polled, {} alarms, {} dashboard) | {deployment:.2} |\n",
        functions.sqs_queues(),
        functions.alarms,
        functions.dashboards
    ));
    out
}

/// The summary rows of a rendered table: unit → USD.
pub fn summary_figures(table: &str) -> BTreeMap<String, f64> {
    let Some((_, summary)) = table.split_once("#### Summary") else {
        return BTreeMap::new();
    };
    summary
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let usd = cells.get(1)?.parse::<f64>().ok()?;
            Some((cells[0].to_owned(), usd))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions() -> Functions {
        Functions {
            memory_mb: [("P".to_owned(), 1024.0)].into(),
            sqs_consumers: vec!["P".into()],
            alarms: 2,
            dashboards: 1,
        }
    }

    #[test]
    fn a_bill_prices_each_call_by_its_kind() {
        let usage = UsageReport {
            functions: [(
                "P".to_owned(),
                FunctionUsage {
                    invocations: 2,
                    calls: [
                        ("DynamoDB.GetItem".to_owned(), 2),
                        ("DynamoDB.UpdateItem".to_owned(), 4),
                        ("DynamoDB.TransactWriteItems".to_owned(), 1),
                        ("SQS.SendMessage".to_owned(), 2),
                    ]
                    .into(),
                },
            )]
            .into(),
        };
        let m = Measured {
            name: "x",
            reps: 2,
            usage,
            servicetitan_calls: 2,
            http_requests: 1,
            schedules_fired: 0,
        };
        let lines = functions().bill(&m, "P");
        let get = |item: &str| lines.iter().find(|l| l.item == item).unwrap().quantity;
        assert_eq!(get("DynamoDB read units"), 1.0);
        assert_eq!(get("DynamoDB write units"), 3.0, "a transaction's item counts twice");
        assert_eq!(
            get("SQS requests"),
            3.0,
            "its own send and the event source's receive and delete"
        );
        assert_eq!(get("API Gateway requests"), 1.0);
        // (2 × 5 ms + 9 calls × 8 ms + 2 × 150 ms) at 1 GB, over 2 repetitions.
        assert!((get("Lambda GB-seconds (arm64)") - 0.191).abs() < 1e-9);
        assert!(!lines.iter().any(|l| l.item == "Scheduler invocations"), "none fired");
    }

    #[test]
    fn the_summary_reads_back_from_the_rendered_table() {
        let m = Measured {
            name: "idle",
            reps: 1,
            usage: UsageReport::default(),
            servicetitan_calls: 0,
            http_requests: 1,
            schedules_fired: 0,
        };
        let table = render(&[(m.clone(), "P"), (m, "P")], &functions());
        let figures = summary_figures(&table);
        assert_eq!(figures["idle, per 1 M"], 1.0);
        assert_eq!(figures["fixed per tenant, per month (its credentials secret)"], 0.4);
        assert!(figures.keys().any(|k| k.starts_with("fixed per deployment")));
    }
}
