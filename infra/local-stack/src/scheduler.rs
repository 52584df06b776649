//! EventBridge Scheduler emulation. moto stores schedules but never fires them, so this module finds one-time
//! `at()` schedules that are due on the virtual clock, delivers their target input, and deletes them when their
//! `ActionAfterCompletion` is `DELETE` (as AWS does).
//!
//! Targets: SQS queues (templated SendMessage). A failed delivery goes to the schedule's dead-letter queue when it
//! has one, with the error as a message attribute, and is logged; it is never dropped silently.

use std::collections::HashSet;

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_scheduler::types::{ActionAfterCompletion, ScheduleState};
use aws_sdk_sqs::types::MessageAttributeValue;
use jiff::Timestamp;
use tokio::sync::Mutex;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct DueSchedule {
    pub group: String,
    pub name: String,
    pub arn: String,
    pub at: Timestamp,
    pub target_arn: String,
    pub input: Option<String>,
    pub dead_letter_arn: Option<String>,
    pub delete_after: bool,
}

pub struct SchedulerEmulator {
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    /// One-time schedules without DELETE stay in the store after firing but must not fire again.
    completed: Mutex<HashSet<String>>,
}

/// Parses `at(yyyy-mm-ddThh:mm:ss)` in the schedule's time zone (UTC by default).
pub fn parse_at(expression: &str, timezone: Option<&str>) -> anyhow::Result<Timestamp> {
    let inner = expression
        .trim()
        .strip_prefix("at(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| anyhow!("not a one-time expression: {expression:?}"))?;
    let civil: jiff::civil::DateTime = inner.parse().with_context(|| format!("bad at() time {inner:?}"))?;
    let tz = match timezone.filter(|t| !t.is_empty()) {
        Some(name) => jiff::tz::TimeZone::get(name).with_context(|| format!("unknown time zone {name:?}"))?,
        None => jiff::tz::TimeZone::UTC,
    };
    Ok(tz.to_timestamp(civil)?)
}

impl SchedulerEmulator {
    pub fn new(scheduler: aws_sdk_scheduler::Client, sqs: aws_sdk_sqs::Client) -> Self {
        Self {
            scheduler,
            sqs,
            completed: Mutex::new(HashSet::new()),
        }
    }

    /// Every enabled one-time schedule that has not fired, sorted by due time.
    pub async fn pending(&self) -> anyhow::Result<Vec<DueSchedule>> {
        let completed = self.completed.lock().await.clone();
        let mut out = Vec::new();
        let groups = self.scheduler.list_schedule_groups().send().await.map_err(sched_err)?;
        for group in groups.schedule_groups() {
            let Some(group_name) = group.name() else {
                continue;
            };
            let mut next = None;
            loop {
                let page = self
                    .scheduler
                    .list_schedules()
                    .group_name(group_name)
                    .set_next_token(next.clone())
                    .send()
                    .await
                    .map_err(sched_err)?;
                for summary in page.schedules() {
                    let Some(name) = summary.name() else { continue };
                    let s = self
                        .scheduler
                        .get_schedule()
                        .group_name(group_name)
                        .name(name)
                        .send()
                        .await
                        .map_err(sched_err)?;
                    let arn = s.arn().unwrap_or_default().to_owned();
                    if completed.contains(&arn) || s.state() == Some(&ScheduleState::Disabled) {
                        continue;
                    }
                    let expression = s.schedule_expression().unwrap_or_default();
                    if !expression.starts_with("at(") {
                        continue; // rate() and cron() schedules are not emulated.
                    }
                    let at = match parse_at(expression, s.schedule_expression_timezone()) {
                        Ok(at) => at,
                        Err(e) => {
                            warn!(schedule = name, error = %e, "skipping a schedule with a bad expression");
                            continue;
                        }
                    };
                    let Some(target) = s.target() else { continue };
                    out.push(DueSchedule {
                        group: group_name.to_owned(),
                        name: name.to_owned(),
                        arn,
                        at,
                        target_arn: target.arn().to_owned(),
                        input: target.input().map(str::to_owned),
                        dead_letter_arn: target.dead_letter_config().and_then(|d| d.arn()).map(str::to_owned),
                        delete_after: s.action_after_completion() == Some(&ActionAfterCompletion::Delete),
                    });
                }
                next = page.next_token().map(str::to_owned);
                if next.is_none() {
                    break;
                }
            }
        }
        out.sort_by_key(|s| s.at);
        Ok(out)
    }

    /// Delivers one schedule's target input, then deletes or retires the schedule.
    pub async fn fire(&self, s: &DueSchedule, now: Timestamp) -> anyhow::Result<()> {
        let input = substitute(s.input.as_deref().unwrap_or("{}"), s, now);
        if let Err(e) = self.deliver(&s.target_arn, &input).await {
            warn!(schedule = s.name, error = %e, "target delivery failed");
            match &s.dead_letter_arn {
                Some(dlq) => self
                    .send(dlq, &input, Some(&e.to_string()))
                    .await
                    .context("sending to the schedule's DLQ")?,
                None => warn!(
                    schedule = s.name,
                    "no dead-letter queue configured; the failure is only in this log"
                ),
            }
        } else {
            info!(schedule = s.name, target = s.target_arn, at = %s.at, "schedule fired");
        }
        if s.delete_after {
            self.scheduler
                .delete_schedule()
                .group_name(&s.group)
                .name(&s.name)
                .send()
                .await
                .map_err(sched_err)?;
        } else {
            self.completed.lock().await.insert(s.arn.clone());
        }
        Ok(())
    }

    async fn deliver(&self, target_arn: &str, input: &str) -> anyhow::Result<()> {
        if target_arn.starts_with("arn:aws:sqs:") {
            self.send(target_arn, input, None).await
        } else {
            bail!("the local stack cannot deliver to target {target_arn} (supported: SQS queues)")
        }
    }

    async fn send(&self, queue_arn: &str, body: &str, error: Option<&str>) -> anyhow::Result<()> {
        let name = queue_arn.rsplit(':').next().unwrap_or_default();
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
            .queue_url
            .unwrap_or_default();
        let mut req = self.sqs.send_message().queue_url(url).message_body(body);
        if let Some(error) = error {
            req = req.message_attributes(
                "error",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(error)
                    .build()?,
            );
        }
        req.send()
            .await
            .map_err(|e| anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Scheduler's context attributes, substituted in the input as AWS does.
fn substitute(input: &str, s: &DueSchedule, now: Timestamp) -> String {
    input
        .replace("<aws.scheduler.schedule-arn>", &s.arn)
        .replace(
            "<aws.scheduler.scheduled-time>",
            &s.at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
        .replace(
            "<aws.scheduler.execution-id>",
            &format!("local-{}-{}", s.name, now.as_millisecond()),
        )
        .replace("<aws.scheduler.attempt-number>", "1")
}

fn sched_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_scheduler::error::SdkError<E, R>,
) -> anyhow::Error {
    anyhow!(aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_honour_the_time_zone() {
        let utc = parse_at("at(2026-12-01T09:00:00)", None).unwrap();
        assert_eq!(utc, "2026-12-01T09:00:00Z".parse().unwrap());
        let ny = parse_at("at(2026-12-01T09:00:00)", Some("America/New_York")).unwrap();
        assert_eq!(ny, "2026-12-01T14:00:00Z".parse().unwrap());
        assert!(parse_at("rate(5 minutes)", None).is_err());
        assert!(parse_at("at(tomorrow)", None).is_err());
    }
}
