//! One-shot EventBridge Scheduler schedules for steps (to the follow-ups queue) and watches (to the events queue).
//!
//! Every schedule is `at()` in UTC with `FlexibleTimeWindow OFF` and `ActionAfterCompletion DELETE`, named by
//! [`followups::ids`] so that a retried create hits `ConflictException`, which counts as success; a delete that
//! finds nothing (it fired, or was deleted) is success too. Something due now is not scheduled in the past but sent
//! to its queue at once.

use aws_sdk_scheduler::error::DisplayErrorContext;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};
use followups::decide::Subject;
use followups::ids;
use followups::timing::Position;
use jiff::Timestamp;
use serde_json::value::RawValue;
use shared::SharedClock;
use shared::config::{ConfigError, EnvSource};
use shared::event::{EntityRef, EventIdSource, EventName, ServiceTitanEvent};

use crate::messages::StepDue;

#[derive(Debug, thiserror::Error)]
#[error("could not schedule {what}: {reason}")]
pub struct ScheduleError {
    pub what: String,
    pub reason: String,
}

/// Where schedules go and what they may do.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub group: String,
    pub followups_queue_url: String,
    pub followups_queue_arn: String,
    pub events_queue_url: String,
    pub events_queue_arn: String,
    /// The role EventBridge Scheduler assumes to send to the queues.
    pub role_arn: String,
    /// Where Scheduler puts a target invocation that failed after its retries.
    pub dead_letter_arn: String,
}

impl ScheduleConfig {
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            group: env.required("FOLLOWUP_SCHEDULE_GROUP")?,
            followups_queue_url: env.required("FOLLOWUPS_QUEUE_URL")?,
            followups_queue_arn: env.required("FOLLOWUPS_QUEUE_ARN")?,
            events_queue_url: env.required("EVENTS_QUEUE_URL")?,
            events_queue_arn: env.required("EVENTS_QUEUE_ARN")?,
            role_arn: env.required("SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: env.required("SCHEDULER_DEAD_LETTER_ARN")?,
        })
    }
}

pub struct Schedules {
    config: ScheduleConfig,
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    clock: SharedClock,
}

fn at_expression(t: Timestamp) -> String {
    format!("at({})", t.strftime("%Y-%m-%dT%H:%M:%S"))
}

impl Schedules {
    pub fn new(
        config: ScheduleConfig,
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
        clock: SharedClock,
    ) -> Self {
        Self {
            config,
            scheduler,
            sqs,
            clock,
        }
    }

    pub fn group(&self) -> &str {
        &self.config.group
    }

    /// Fires a run's step at `at`.
    pub async fn step(
        &self,
        tenant_id: &str,
        run_id: &str,
        position: Position,
        seq: u32,
        at: Timestamp,
    ) -> Result<(), ScheduleError> {
        let message = StepDue::new(tenant_id, run_id, position, seq);
        let name = ids::step_schedule(tenant_id, run_id, position.step, position.round, seq);
        let mut input = serde_json::to_value(&message).expect("the message serialises");
        input["scheduledTime"] = "<aws.scheduler.scheduled-time>".into();
        self.fire(
            &name,
            at,
            &self.config.followups_queue_url,
            &self.config.followups_queue_arn,
            &message_body(&message),
            &input.to_string(),
        )
        .await
    }

    /// Deletes a step's schedule; nothing to delete is fine.
    pub async fn cancel_step(
        &self,
        tenant_id: &str,
        run_id: &str,
        position: Position,
        seq: u32,
    ) -> Result<(), ScheduleError> {
        let name = ids::step_schedule(tenant_id, run_id, position.step, position.round, seq);
        match self
            .scheduler
            .delete_schedule()
            .group_name(&self.config.group)
            .name(&name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(ScheduleError {
                what: name,
                reason: DisplayErrorContext(e).to_string(),
            }),
        }
    }

    /// Re-reads `subject` at `at` by delivering the derived `event` to the events queue then (at `fire_at`).
    pub async fn watch(
        &self,
        tenant_id: &str,
        subject: &Subject,
        event: EventName,
        at: Timestamp,
        fire_at: Timestamp,
        from_lookback: bool,
    ) -> Result<(), ScheduleError> {
        let mut event = watch_event(tenant_id, subject, event, at);
        if from_lookback {
            // Found already past its moment (an existing overdue invoice the tenant included): the recipe starts
            // from when the watch fires, and plans only what is ahead of it.
            event.source = shared::event::EventSource::Backfill;
            event.occurred_at = fire_at;
            event.received_at = fire_at;
        }
        let body = serde_json::to_string(&event).expect("the event serialises");
        let name = ids::watch_schedule(tenant_id, subject, at);
        self.fire(
            &name,
            fire_at,
            &self.config.events_queue_url,
            &self.config.events_queue_arn,
            &body,
            &body,
        )
        .await
    }

    /// Delivers `event` to the events queue again at `at` (ServiceTitan was unavailable on attempt `attempt`).
    pub async fn retry_event(
        &self,
        event: &ServiceTitanEvent,
        attempt: u32,
        at: Timestamp,
    ) -> Result<(), ScheduleError> {
        let body = serde_json::to_string(event).expect("the event serialises");
        let name = ids::event_retry_schedule(&event.tenant_id, &event.event_id, attempt);
        self.fire(
            &name,
            at,
            &self.config.events_queue_url,
            &self.config.events_queue_arn,
            &body,
            &body,
        )
        .await
    }

    /// A schedule at `at`, or a message now if `at` has come.
    async fn fire(
        &self,
        name: &str,
        at: Timestamp,
        queue_url: &str,
        queue_arn: &str,
        body: &str,
        input: &str,
    ) -> Result<(), ScheduleError> {
        let err = |reason: String| ScheduleError {
            what: name.to_owned(),
            reason,
        };
        if at <= self.clock.now() {
            return self
                .sqs
                .send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()));
        }
        let target = Target::builder()
            .arn(queue_arn)
            .role_arn(&self.config.role_arn)
            .input(input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            )
            .dead_letter_config(DeadLetterConfig::builder().arn(&self.config.dead_letter_arn).build())
            .build()
            .map_err(|e| err(e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| err(e.to_string()))?;
        match self
            .scheduler
            .create_schedule()
            .group_name(&self.config.group)
            .name(name)
            .schedule_expression(at_expression(followups::window::ceil_second(at)))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // The same schedule was created before (a retry): exactly what we wanted.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => Ok(()),
            Err(e) => Err(err(DisplayErrorContext(e).to_string())),
        }
    }
}

fn message_body(message: &StepDue) -> String {
    serde_json::to_string(message).expect("the message serialises")
}

/// The derived event a watch delivers: the same one for the same watch, so the events table dedupes repeats.
pub fn watch_event(tenant_id: &str, subject: &Subject, event: EventName, at: Timestamp) -> ServiceTitanEvent {
    ServiceTitanEvent {
        tenant_id: tenant_id.to_owned(),
        event_name: event,
        event_id: ids::watch_event_id(subject, at),
        event_id_source: EventIdSource::Derived,
        entity: EntityRef {
            kind: subject.kind,
            id: Some(subject.id.clone()),
        },
        occurred_at: at,
        received_at: at,
        source: shared::event::EventSource::Watch,
        payload: RawValue::from_string("{}".into()).expect("{} is JSON"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_expressions_are_utc_seconds() {
        let t: jiff::Timestamp = "2026-12-02T15:00:00.250Z".parse().unwrap();
        assert_eq!(
            super::at_expression(followups::window::ceil_second(t)),
            "at(2026-12-02T15:00:01)"
        );
    }
}
