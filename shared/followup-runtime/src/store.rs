//! The follow-up engine's state in one DynamoDB table (`FollowUpsTable`), keyed by `tenant_id` and `sk`:
//!
//! | `sk` | what |
//! |---|---|
//! | `snap#<kind>#<id>` | an entity's snapshot: merged facts and the profile read at enrollment |
//! | `slot#<kind>#<id>#<recipe>` | a recipe's history on the entity: runs so far, the active run |
//! | `run#<run id>` | a run: its position, next fire, counts, goal, why it ended |
//! | `tl#<kind>#<id>#<run id>#<entry>` | the audit trail of an entity, one item per thing that happened |
//! | `cap#<person>#<class>` | a person's recent sends of one message class, with their subjects, for the caps |
//! | `addr#<address>#<run id>` | which runs have written to an address (a reply halts them) |
//! | `optout#<address>` | the opt-out ledger, channel by channel, with the words that decided |
//! | `consent#<address>` | the consent ledger: per channel, express and written consent, with source and moment |
//! | `texted#<phone>` | the tenant has texted this number before (the first text says how to opt out) |
//! | `override#<recipe>` | the tenant's override of one recipe ([`crate::overrides`]) |
//!
//! Every state change is a conditional write, and each audit entry is written in the same transaction as the
//! change it records, so a retried or duplicated step changes nothing twice and records nothing twice.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use followups::decide::{ActiveRun, Enroll, GoalReached, HaltReason, Slot, Subject};
use followups::facts::{Facts, merge};
use followups::gate::Sent;
use followups::timing::{Plan, Position};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;
use shared::clock::iso_millis;
use shared::dynamo_item::{Item, flag, n, num, s, text, time};
use shared::event::EntityKind;

use crate::profile::Profile;

/// How long ended runs and their audit trail are kept.
pub const RETENTION: SignedDuration = SignedDuration::from_hours(400 * 24);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("follow-ups table unavailable: {0}")]
    Unavailable(String),
    #[error("follow-ups record {key} is malformed: {reason}")]
    Malformed { key: String, reason: String },
}

pub(crate) fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

fn subject_part(subject: &Subject) -> String {
    format!("{}#{}", subject.kind.as_str(), subject.id)
}

fn kind_of(name: &str) -> Option<EntityKind> {
    Subject::parse(&format!("{name}:0")).map(|s| s.kind)
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Active,
    Halted,
    Finished,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Halted => "halted",
            Self::Finished => "finished",
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub run_id: String,
    pub recipe: String,
    pub subject: Subject,
    pub generation: u32,
    pub status: RunStatus,
    pub reason: Option<String>,
    pub anchor: Timestamp,
    pub enrolled_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub position: Position,
    /// Fire sequence of the current position: grows with each deferral or retry.
    pub seq: u32,
    pub due_at: Option<Timestamp>,
    /// The schedule (or queue message) for the current position and sequence exists.
    pub scheduled: bool,
    #[serde(skip)]
    pub lease_until: Option<Timestamp>,
    pub held_since: Option<Timestamp>,
    /// Delivery retries at the current position.
    pub retries: u32,
    pub profile: Profile,
    pub sends: u32,
    pub skips: u32,
    pub failures: u32,
    pub goal: Option<GoalReached>,
    pub last_error: Option<String>,
    /// Delivery failed for good at the current position; its message is in the dead-letter queue.
    pub stalled: bool,
    /// Steps skipped, by reason (`no_call_consent`, `opted_out`, …).
    pub skipped_by: std::collections::BTreeMap<String, u32>,
}

impl RunRecord {
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let key = text(item, "sk").unwrap_or_default().to_owned();
        let malformed = |reason: &str| StoreError::Malformed {
            key: key.clone(),
            reason: reason.to_owned(),
        };
        let kind = text(item, "subject_kind")
            .and_then(kind_of)
            .ok_or_else(|| malformed("subject_kind"))?;
        let status = match text(item, "status") {
            Some("active") => RunStatus::Active,
            Some("halted") => RunStatus::Halted,
            Some("finished") => RunStatus::Finished,
            _ => return Err(malformed("status")),
        };
        let profile = match text(item, "profile") {
            Some(json) => serde_json::from_str(json).map_err(|_| malformed("profile"))?,
            None => Profile::default(),
        };
        let goal = text(item, "goal_label").map(|label| GoalReached {
            label: label.to_owned(),
            amount_cents: num(item, "goal_amount"),
        });
        Ok(Self {
            run_id: text(item, "run_id").ok_or_else(|| malformed("run_id"))?.to_owned(),
            recipe: text(item, "recipe").ok_or_else(|| malformed("recipe"))?.to_owned(),
            subject: Subject::new(kind, text(item, "subject_id").unwrap_or_default()),
            generation: num(item, "generation").unwrap_or(1),
            status,
            reason: text(item, "reason").map(str::to_owned),
            anchor: time(item, "anchor").ok_or_else(|| malformed("anchor"))?,
            enrolled_at: time(item, "enrolled_at").ok_or_else(|| malformed("enrolled_at"))?,
            ended_at: time(item, "ended_at"),
            position: Position {
                step: num(item, "step").unwrap_or(0),
                round: num(item, "round").unwrap_or(0),
            },
            seq: num(item, "seq").unwrap_or(0),
            due_at: time(item, "due_at"),
            scheduled: flag(item, "scheduled"),
            lease_until: num::<i64>(item, "lease_until").and_then(|ms| Timestamp::from_millisecond(ms).ok()),
            held_since: time(item, "held_since"),
            retries: num(item, "retries").unwrap_or(0),
            profile,
            sends: num(item, "sends").unwrap_or(0),
            skips: num(item, "skips").unwrap_or(0),
            failures: num(item, "failures").unwrap_or(0),
            goal,
            last_error: text(item, "last_error").map(str::to_owned),
            stalled: flag(item, "stalled"),
            skipped_by: item
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("skipped_")?.to_owned(), v.as_n().ok()?.parse().ok()?)))
                .collect(),
        })
    }
}

/// One line of an entity's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub run_id: Option<String>,
    pub recipe: String,
    /// `enrolled`, `not_enrolled`, `sent`, `deferred`, `skipped`, `retry`, `failed`, `stalled`, `halted`, `finished`.
    pub entry: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    pub detail: Value,
}

/// What happened to the step at a run's current position.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    Sent {
        detail: Value,
    },
    Skipped {
        reason: String,
        detail: Value,
    },
    /// The platform refused it for good (a 4xx other than 429).
    Failed {
        reason: String,
        detail: Value,
    },
}

/// The answer to a step's claim.
#[derive(Debug, Clone, PartialEq)]
pub enum StepClaim {
    /// This worker may act on the step until the lease runs out.
    Acquired(Box<RunRecord>),
    /// The run ended, or is at another position or sequence: the message is stale.
    Stale(Option<Box<RunRecord>>),
    /// Another worker holds the step.
    Busy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Enrolled {
    Created,
    /// A retry of the same enrollment: the run exists.
    AlreadyThere(Box<RunRecord>),
    /// Someone else changed the slot first (another event about the same entity).
    Lost,
}

/// An opt-out ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOut {
    pub address: String,
    /// `sms`, `voice`, `email` (an older entry's `all` reads as all three).
    pub channels: Vec<String>,
    pub reasons: Value,
    pub updated_at: Option<Timestamp>,
}

/// Every channel, as the ledger names them.
pub const CHANNELS: [&str; 3] = ["sms", "voice", "email"];

impl OptOut {
    /// The entry's answer for a step on `channel`: that channel, and every channel.
    pub fn covers(&self, channel: &str) -> followups::gate::OptOuts {
        let has = |c: &str| self.channels.iter().any(|x| x == c || x == "all");
        followups::gate::OptOuts {
            channel: has(channel),
            all: CHANNELS.iter().all(|c| has(c)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
}

/// The per-day send counters' keys, and their attributes' (one per recipe).
const DAY_PREFIX: &str = "day#";
const SENT_PREFIX: &str = "sent_";

fn expiry(at: Timestamp) -> AttributeValue {
    n((at + RETENTION).as_second())
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub(crate) fn key(tenant_id: &str, sk: &str) -> Item {
        HashMap::from([("tenant_id".into(), s(tenant_id)), ("sk".into(), s(sk))])
    }

    async fn get(&self, tenant_id: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    pub(crate) async fn query_prefix(&self, tenant_id: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("tenant_id = :t AND begins_with(sk, :p)")
            .expression_attribute_values(":t", s(tenant_id))
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(unavailable)
    }

    /// Runs a transaction; `Ok(false)` when a condition failed (the change was made before, or lost a race).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let conditional = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                        _ => None,
                    })
                    .is_some_and(|c| {
                        c.cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                    });
                if conditional { Ok(false) } else { Err(unavailable(e)) }
            }
        }
    }

    fn put(&self, item: Item, condition: Option<&str>) -> TransactWriteItem {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put.condition_expression(c);
        }
        TransactWriteItem::builder()
            .put(put.build().expect("table and item are set"))
            .build()
    }

    fn timeline_put(
        &self,
        tenant_id: &str,
        subject: &Subject,
        suffix: &str,
        entry: &TimelineEntry,
    ) -> TransactWriteItem {
        let run = entry.run_id.clone().unwrap_or_else(|| "-".into());
        let mut item = Self::key(tenant_id, &format!("tl#{}#{run}#{suffix}", subject_part(subject)));
        item.insert("at".into(), s(iso_millis(entry.at)));
        item.insert("run_id".into(), s(run));
        item.insert("recipe".into(), s(&entry.recipe));
        item.insert("entry".into(), s(&entry.entry));
        if let Some(step) = &entry.step {
            item.insert("step".into(), s(step));
        }
        if let Some(round) = entry.round {
            item.insert("round".into(), n(round));
        }
        item.insert("detail".into(), s(entry.detail.to_string()));
        item.insert("expires_at".into(), expiry(entry.at));
        // Idempotent: the same entry written twice is the same item.
        self.put(item, None)
    }

    // ------------------------------------------------------------------------------------------------ snapshots

    /// The entity's snapshot: its merged facts and the profile cached with it.
    pub async fn snapshot(
        &self,
        tenant_id: &str,
        subject: &Subject,
    ) -> Result<Option<(Facts, Option<Profile>)>, StoreError> {
        let sk = format!("snap#{}", subject_part(subject));
        let Some(item) = self.get(tenant_id, &sk).await? else {
            return Ok(None);
        };
        let facts = text(&item, "facts")
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| StoreError::Malformed {
                key: sk.clone(),
                reason: "facts".into(),
            })?;
        let profile = text(&item, "profile").and_then(|j| serde_json::from_str(j).ok());
        Ok(Some((facts, profile)))
    }

    /// The `modifiedOn` of each subject's snapshot, for those that have one: what the engine already knows (the
    /// reconciler skips records no newer). One BatchGetItem per 100 subjects, reading only the version.
    pub async fn snapshot_versions(
        &self,
        tenant_id: &str,
        subjects: &[Subject],
    ) -> Result<HashMap<Subject, Timestamp>, StoreError> {
        let mut out = HashMap::new();
        for chunk in subjects.chunks(100) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|sub| Self::key(tenant_id, &format!("snap#{}", subject_part(sub))))
                .collect();
            // Unprocessed keys (throttling) are asked for again; a few rounds, then it is an outage.
            for _ in 0..5 {
                if keys.is_empty() {
                    break;
                }
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys.clone()))
                    .projection_expression("sk, version")
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let got = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in got
                    .responses
                    .as_ref()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let subject = text(item, "sk")
                        .and_then(|k| k.strip_prefix("snap#"))
                        .and_then(|k| k.split_once('#'))
                        .and_then(|(kind, id)| Subject::parse(&format!("{kind}:{id}")));
                    // version_key: terminal|option sold|modifiedOn millis (20 digits)|rank|status (older records
                    // have no option part).
                    let modified = text(item, "version")
                        .and_then(|v| {
                            v.split('|')
                                .find(|p| p.len() == 20 && p.bytes().all(|b| b.is_ascii_digit()))
                        })
                        .and_then(|m| m.parse::<i64>().ok())
                        .and_then(|m| Timestamp::from_millisecond(m).ok());
                    if let (Some(subject), Some(modified)) = (subject, modified) {
                        out.insert(subject, modified);
                    }
                }
                keys = got
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Unavailable("snapshots: keys left unprocessed".into()));
            }
        }
        Ok(out)
    }

    /// Merges a live version into the snapshot and returns the merged facts (and the cached profile). The write is
    /// conditional on the stored version being older, so two processors racing keep the newer version.
    pub async fn merge_snapshot(
        &self,
        tenant_id: &str,
        live: Facts,
        now: Timestamp,
    ) -> Result<(Facts, Option<Profile>), StoreError> {
        let subject = Subject::new(live.kind, live.id.clone());
        let sk = format!("snap#{}", subject_part(&subject));
        for _ in 0..4 {
            let stored = self.snapshot(tenant_id, &subject).await?;
            let (prev, profile) = match stored {
                Some((f, p)) => (Some(f), p),
                None => (None, None),
            };
            let had = prev.is_some();
            let (merged, changed) = merge(prev.clone(), live.clone());
            if !changed {
                return Ok((merged, profile));
            }
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant_id, &sk)))
                .update_expression("SET facts = :facts, version = :version, updated_at = :now, expires_at = :exp")
                .expression_attribute_values(":facts", s(serde_json::to_string(&merged).expect("facts serialise")))
                .expression_attribute_values(":version", s(version_key(&merged)))
                .expression_attribute_values(":now", s(iso_millis(now)))
                .expression_attribute_values(":exp", expiry(now));
            req = if had {
                req.condition_expression("version = :prev")
                    .expression_attribute_values(":prev", s(version_key(prev.as_ref().expect("had"))))
            } else {
                req.condition_expression("attribute_not_exists(sk)")
            };
            match req.send().await {
                Ok(_) => return Ok((merged, profile)),
                Err(e) if shared::aws::is_conditional_check_failed(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "snapshot {sk} kept changing under concurrent writers"
        )))
    }

    /// Caches the profile read at enrollment on the entity's snapshot.
    pub async fn set_profile(&self, tenant_id: &str, subject: &Subject, profile: &Profile) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("snap#{}", subject_part(subject)))))
            .update_expression("SET profile = :p")
            .expression_attribute_values(":p", s(serde_json::to_string(profile).expect("profile serialises")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    // ------------------------------------------------------------------------------------------------ slots and runs

    /// Every recipe's slot on the entity.
    pub async fn slots(&self, tenant_id: &str, subject: &Subject) -> Result<Vec<Slot>, StoreError> {
        let items = self
            .query_prefix(tenant_id, &format!("slot#{}#", subject_part(subject)))
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let recipe = text(item, "recipe")?.to_owned();
                let active = match (text(item, "active_run"), time(item, "active_anchor")) {
                    (Some(run_id), Some(anchor)) => Some(ActiveRun {
                        run_id: run_id.to_owned(),
                        anchor,
                    }),
                    _ => None,
                };
                Some(Slot {
                    recipe,
                    generation: num(item, "generation").unwrap_or(0),
                    active,
                    last_anchor: time(item, "last_anchor"),
                })
            })
            .collect())
    }

    pub async fn run(&self, tenant_id: &str, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.get(tenant_id, &format!("run#{run_id}"))
            .await?
            .map(|i| RunRecord::from_item(&i))
            .transpose()
    }

    /// Creates a run and makes it its slot's active run, in one transaction conditional on the slot being as the
    /// decision saw it; the enrollment is recorded in the entity's audit trail.
    pub async fn enroll(
        &self,
        tenant_id: &str,
        subject: &Subject,
        e: &Enroll,
        profile: &Profile,
        event_id: &str,
        now: Timestamp,
    ) -> Result<Enrolled, StoreError> {
        let mut slot = Self::key(tenant_id, &format!("slot#{}#{}", subject_part(subject), e.recipe));
        slot.insert("recipe".into(), s(&e.recipe));
        slot.insert("generation".into(), n(e.generation));
        slot.insert("active_run".into(), s(&e.run_id));
        slot.insert("active_anchor".into(), s(iso_millis(e.anchor)));
        slot.insert("last_anchor".into(), s(iso_millis(e.anchor)));
        let slot_condition = if e.generation == 1 {
            "attribute_not_exists(sk)".to_owned()
        } else {
            "generation = :prev AND attribute_not_exists(active_run)".to_owned()
        };
        let mut slot_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(slot))
            .condition_expression(slot_condition);
        if e.generation > 1 {
            slot_put = slot_put.expression_attribute_values(":prev", n(e.generation - 1));
        }
        let slot_item = TransactWriteItem::builder()
            .put(slot_put.build().expect("table and item are set"))
            .build();

        let mut run = Self::key(tenant_id, &format!("run#{}", e.run_id));
        for (k, v) in [
            ("run_id", s(&e.run_id)),
            ("recipe", s(&e.recipe)),
            ("subject_kind", s(subject.kind.as_str())),
            ("subject_id", s(&subject.id)),
            ("generation", n(e.generation)),
            ("status", s(RunStatus::Active.as_str())),
            ("anchor", s(iso_millis(e.anchor))),
            ("enrolled_at", s(iso_millis(now))),
            ("enrolled_by", s(event_id)),
            ("step", n(e.first.position.step)),
            ("round", n(e.first.position.round)),
            ("seq", n(0)),
            ("due_at", s(iso_millis(e.first.at))),
            ("scheduled", AttributeValue::Bool(false)),
            ("retries", n(0)),
            ("sends", n(0)),
            ("skips", n(e.first.passed.len())),
            ("failures", n(0)),
            (
                "profile",
                s(serde_json::to_string(profile).expect("profile serialises")),
            ),
        ] {
            run.insert(k.into(), v);
        }
        let entry = TimelineEntry {
            at: now,
            run_id: Some(e.run_id.clone()),
            recipe: e.recipe.clone(),
            entry: "enrolled".into(),
            step: None,
            round: None,
            detail: serde_json::json!({
                "event": event_id,
                "anchor": iso_millis(e.anchor),
                "firstStep": e.first.position.step,
                "firstAt": iso_millis(e.first.at),
                "passedOver": e.first.passed.iter().map(|(p, why)| serde_json::json!({"step": p.step, "round": p.round, "why": why})).collect::<Vec<_>>(),
                "timeZone": profile.time_zone,
            }),
        };
        let items = vec![
            slot_item,
            self.put(run, Some("attribute_not_exists(sk)")),
            self.timeline_put(tenant_id, subject, TIMELINE_FIRST, &entry),
        ];
        if self.transact(items).await? {
            return Ok(Enrolled::Created);
        }
        match self.run(tenant_id, &e.run_id).await? {
            Some(run) => Ok(Enrolled::AlreadyThere(Box::new(run))),
            None => Ok(Enrolled::Lost),
        }
    }

    /// Ends an active run (halted with a reason, or finished) and frees its slot. `Ok(false)`: it had ended already.
    pub async fn end_run(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        status: RunStatus,
        reason: HaltReason,
        goal: Option<&GoalReached>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.end_run_because(tenant_id, run, status, reason, goal, &Value::Null, now)
            .await
    }

    /// [`Store::end_run`], with what decided in the timeline entry (an opt-out's words).
    #[allow(clippy::too_many_arguments)]
    pub async fn end_run_because(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        status: RunStatus,
        reason: HaltReason,
        goal: Option<&GoalReached>,
        because: &Value,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("run#{}", run.run_id))))
            .condition_expression("#st = :active")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":reason", s(reason.code()))
            .expression_attribute_values(":now", s(iso_millis(now)))
            .expression_attribute_values(":exp", expiry(now));
        let mut set = "SET #st = :status, reason = :reason, ended_at = :now, expires_at = :exp".to_owned();
        if let Some(goal) = goal {
            set.push_str(", goal_label = :gl");
            update = update.expression_attribute_values(":gl", s(&goal.label));
            if let Some(amount) = goal.amount_cents {
                set.push_str(", goal_amount = :ga");
                update = update.expression_attribute_values(":ga", n(amount));
            }
        }
        set.push_str(" REMOVE lease_until");
        let update = update
            .update_expression(set)
            .build()
            .expect("table, key and expression are set");
        let slot = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                tenant_id,
                &format!("slot#{}#{}", subject_part(&run.subject), run.recipe),
            )))
            .update_expression("REMOVE active_run, active_anchor")
            .condition_expression("attribute_not_exists(active_run) OR active_run = :run")
            .expression_attribute_values(":run", s(&run.run_id))
            .build()
            .expect("table, key and expression are set");
        let entry = TimelineEntry {
            at: now,
            run_id: Some(run.run_id.clone()),
            recipe: run.recipe.clone(),
            entry: status.as_str().into(),
            step: None,
            round: None,
            detail: {
                let mut d = serde_json::json!({"reason": reason.code(), "goal": goal});
                if !because.is_null() {
                    d["because"] = because.clone();
                }
                d
            },
        };
        self.transact(vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().update(slot).build(),
            self.timeline_put(tenant_id, &run.subject, TIMELINE_LAST, &entry),
        ])
        .await
    }

    /// Claims the step a queue message is about, with a lease, if the run is still at that position and sequence.
    pub async fn claim_step(
        &self,
        tenant_id: &str,
        run_id: &str,
        position: Position,
        seq: u32,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Result<StepClaim, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("run#{run_id}"))))
            .update_expression("SET lease_until = :lease")
            .condition_expression(
                "#st = :active AND step = :step AND round = :round AND seq = :seq \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":step", n(position.step))
            .expression_attribute_values(":round", n(position.round))
            .expression_attribute_values(":seq", n(seq))
            .expression_attribute_values(":now", n(now.as_millisecond()))
            .expression_attribute_values(":lease", n((now + lease).as_millisecond()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match res {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(StepClaim::Acquired(Box::new(RunRecord::from_item(&item)?)))
            }
            Err(e) if shared::aws::is_conditional_check_failed(&e) => {
                let old = match e.as_service_error() {
                    Some(
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c),
                    ) => c.item().cloned(),
                    _ => None,
                };
                let Some(old) = old else {
                    return Ok(StepClaim::Stale(None));
                };
                let run = RunRecord::from_item(&old)?;
                let same_place = run.status == RunStatus::Active && run.position == position && run.seq == seq;
                if same_place {
                    Ok(StepClaim::Busy)
                } else {
                    Ok(StepClaim::Stale(Some(Box::new(run))))
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn at_position(&self, tenant_id: &str, run: &RunRecord) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("run#{}", run.run_id))))
            .condition_expression("#st = :active AND step = :step AND round = :round AND seq = :seq")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":step", n(run.position.step))
            .expression_attribute_values(":round", n(run.position.round))
            .expression_attribute_values(":seq", n(run.seq))
    }

    /// The timeline entry of what happened to the run's current step (keyed by step, round and attempt, so a
    /// repeated write is the same item).
    fn step_entry(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        entry: &str,
        detail: Value,
        now: Timestamp,
    ) -> TransactWriteItem {
        let suffix = format!(
            "s{:02}r{:02}n{:04}-{entry}",
            run.position.step, run.position.round, run.seq
        );
        self.timeline_put(
            tenant_id,
            &run.subject,
            &suffix,
            &TimelineEntry {
                at: now,
                run_id: Some(run.run_id.clone()),
                recipe: run.recipe.clone(),
                entry: entry.into(),
                step: Some(step_id.to_owned()),
                round: Some(run.position.round),
                detail,
            },
        )
    }

    /// Counts a send on its day (the recipient's date) by recipe, for the page's chart: one small item per day.
    /// Only after the step's own transaction moved the run on, so a repeat of the step (which cannot move it again)
    /// never counts twice. Not inside that transaction: every send of a tenant on a day updates this one item, and
    /// transactions touching the same item at once are refused. A crash in between loses one count, and a failure
    /// here is logged: a chart's figure never fails a send.
    async fn count_send(&self, tenant_id: &str, run: &RunRecord, now: Timestamp) {
        let day = run.profile.zone().to_datetime(now).date();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("{DAY_PREFIX}{day}"))))
            .update_expression("ADD #recipe :one SET expires_at = if_not_exists(expires_at, :exp)")
            .expression_attribute_names("#recipe", format!("{SENT_PREFIX}{}", run.recipe))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", expiry(now))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "a send was not counted on its day");
        }
    }

    /// Sends per day by recipe, from `since` (a recipient-local date) on, oldest first.
    pub async fn sends_by_day(
        &self,
        tenant_id: &str,
        since: jiff::civil::Date,
    ) -> Result<Vec<(jiff::civil::Date, BTreeMap<String, u64>)>, StoreError> {
        let mut days: Vec<_> = self
            .query_prefix(tenant_id, DAY_PREFIX)
            .await?
            .iter()
            .filter_map(|item| {
                let day: jiff::civil::Date = text(item, "sk")?.strip_prefix(DAY_PREFIX)?.parse().ok()?;
                let counts = item
                    .iter()
                    .filter_map(|(k, v)| {
                        let recipe = k.strip_prefix(SENT_PREFIX)?;
                        Some((recipe.to_owned(), v.as_n().ok()?.parse().ok()?))
                    })
                    .collect();
                (day >= since).then_some((day, counts))
            })
            .collect();
        days.sort_by_key(|(d, _)| *d);
        Ok(days)
    }

    /// Records what happened to the current step and moves the run on: to `next`, or to its end when there is none.
    pub async fn advance(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        outcome: &StepOutcome,
        next: &Plan,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (entry, counter, detail) = match outcome {
            StepOutcome::Sent { detail } => ("sent", "sends", detail.clone()),
            StepOutcome::Skipped { reason, detail } => {
                let mut d = detail.clone();
                d["reason"] = Value::from(reason.as_str());
                ("skipped", "skips", d)
            }
            StepOutcome::Failed { reason, detail } => {
                let mut d = detail.clone();
                d["reason"] = Value::from(reason.as_str());
                ("failed", "failures", d)
            }
        };
        // Steps passed over while planning the next one count as skipped too.
        let passed = match next {
            Ok(planned) => planned.passed.len(),
            Err(passed) => passed.len(),
        };
        let mut update = self
            .at_position(tenant_id, run)
            .expression_attribute_values(":zero", n(0));
        update = if counter == "skips" {
            update.expression_attribute_values(":one", n(1 + passed))
        } else {
            update
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":passed", n(passed))
        };
        let set = match next {
            Ok(planned) => {
                update = update
                    .expression_attribute_values(":nstep", n(planned.position.step))
                    .expression_attribute_values(":nround", n(planned.position.round))
                    .expression_attribute_values(":due", s(iso_millis(planned.at)))
                    .expression_attribute_values(":f", AttributeValue::Bool(false));
                format!(
                    "SET step = :nstep, round = :nround, seq = :zero, due_at = :due, scheduled = :f, retries = :zero, \
                     {} REMOVE lease_until, held_since, stalled, last_error",
                    increments(counter)
                )
            }
            Err(_) => {
                update = update
                    .expression_attribute_values(":finished", s(RunStatus::Finished.as_str()))
                    .expression_attribute_values(":reason", s(HaltReason::Finished.code()))
                    .expression_attribute_values(":now", s(iso_millis(now)))
                    .expression_attribute_values(":exp", expiry(now));
                format!(
                    "SET #st = :finished, reason = :reason, ended_at = :now, expires_at = :exp, {} \
                     REMOVE lease_until, held_since, due_at",
                    increments(counter)
                )
            }
        };
        // Skips are also counted by reason, for the status page ("suppressed: no_call_consent 3").
        let set = match outcome {
            StepOutcome::Skipped { reason, .. } => {
                update = update
                    .expression_attribute_names("#skipped", format!("skipped_{}", sanitize(reason)))
                    .expression_attribute_values(":single", n(1));
                format!("{set} ADD #skipped :single")
            }
            _ => set,
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .update(update.update_expression(set).build().expect("complete update"))
                .build(),
            self.step_entry(tenant_id, run, step_id, entry, detail, now),
        ];
        if next.is_err() {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(Self::key(
                                tenant_id,
                                &format!("slot#{}#{}", subject_part(&run.subject), run.recipe),
                            )))
                            .update_expression("REMOVE active_run, active_anchor")
                            .condition_expression("attribute_not_exists(active_run) OR active_run = :run")
                            .expression_attribute_values(":run", s(&run.run_id))
                            .build()
                            .expect("complete update"),
                    )
                    .build(),
            );
            items.push(self.timeline_put(
                tenant_id,
                &run.subject,
                TIMELINE_LAST,
                &TimelineEntry {
                    at: now,
                    run_id: Some(run.run_id.clone()),
                    recipe: run.recipe.clone(),
                    entry: "finished".into(),
                    step: None,
                    round: None,
                    detail: serde_json::json!({"reason": "finished"}),
                },
            ));
        }
        let moved = self.transact(items).await?;
        if moved && matches!(outcome, StepOutcome::Sent { .. }) {
            self.count_send(tenant_id, run, now).await;
        }
        Ok(moved)
    }

    /// Moves the current step to `until` (a new fire sequence), recording why: quiet hours, the cap, a hold, or a
    /// delivery retry.
    #[allow(clippy::too_many_arguments)]
    pub async fn defer(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        until: Timestamp,
        reason: &str,
        kind: Deferral,
        detail: &Value,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let error = detail.get("error").and_then(Value::as_str);
        let mut update = self
            .at_position(tenant_id, run)
            .expression_attribute_values(":nseq", n(run.seq + 1))
            .expression_attribute_values(":due", s(iso_millis(until)))
            .expression_attribute_values(":f", AttributeValue::Bool(false));
        let mut set = "SET seq = :nseq, due_at = :due, scheduled = :f".to_owned();
        match kind {
            Deferral::Hold => {
                set.push_str(", held_since = if_not_exists(held_since, :now)");
                update = update.expression_attribute_values(":now", s(iso_millis(now)));
            }
            Deferral::Retry => {
                set.push_str(", retries = retries + :one, last_error = :err");
                update = update
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":err", s(error.unwrap_or_default()));
            }
            Deferral::Wait => {}
        }
        set.push_str(" REMOVE lease_until");
        let entry = if kind == Deferral::Retry { "retry" } else { "deferred" };
        self.transact(vec![
            TransactWriteItem::builder()
                .update(update.update_expression(set).build().expect("complete update"))
                .build(),
            self.step_entry(
                tenant_id,
                run,
                step_id,
                entry,
                {
                    let mut entry = serde_json::json!({"reason": reason, "until": iso_millis(until), "error": error});
                    if let (Some(map), Some(extra)) = (entry.as_object_mut(), detail.as_object()) {
                        map.extend(
                            extra
                                .iter()
                                .filter(|(k, _)| *k != "error")
                                .map(|(k, v)| (k.clone(), v.clone())),
                        );
                    }
                    entry
                },
                now,
            ),
        ])
        .await
    }

    /// Delivery failed for good: the run stays at its step (a redrive of the dead-lettered message retries it).
    pub async fn stall(
        &self,
        tenant_id: &str,
        run: &RunRecord,
        step_id: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let update = self
            .at_position(tenant_id, run)
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(":zero", n(0))
            .update_expression("SET stalled = :t, last_error = :err, retries = :zero REMOVE lease_until")
            .build()
            .expect("complete update");
        self.transact(vec![
            TransactWriteItem::builder().update(update).build(),
            self.step_entry(
                tenant_id,
                run,
                step_id,
                "stalled",
                serde_json::json!({"error": error, "deadLettered": true}),
                now,
            ),
        ])
        .await
    }

    /// Gives up a claim without changing the step (e.g. ServiceTitan could not be read; the queue retries).
    pub async fn release(&self, tenant_id: &str, run_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("run#{run_id}"))))
            .update_expression("REMOVE lease_until")
            .condition_expression("attribute_exists(sk)")
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if shared::aws::is_conditional_check_failed(&e) {
                    Ok(())
                } else {
                    Err(unavailable(e))
                }
            })
    }

    /// Notes that the schedule for the run's current position and sequence exists.
    pub async fn mark_scheduled(
        &self,
        tenant_id: &str,
        run_id: &str,
        position: Position,
        seq: u32,
    ) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("run#{run_id}"))))
            .update_expression("SET scheduled = :t")
            .condition_expression("step = :step AND round = :round AND seq = :seq")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":step", n(position.step))
            .expression_attribute_values(":round", n(position.round))
            .expression_attribute_values(":seq", n(seq))
            .send()
            .await;
        match res {
            // Moved on meanwhile: the newer position has its own schedule.
            Err(e) if shared::aws::is_conditional_check_failed(&e) => Ok(()),
            other => other.map(|_| ()).map_err(unavailable),
        }
    }

    /// Records that an event did not start a recipe, and why (once per event and recipe).
    pub async fn record_not_enrolled(
        &self,
        tenant_id: &str,
        subject: &Subject,
        recipe: &str,
        event_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let entry = TimelineEntry {
            at: now,
            run_id: None,
            recipe: recipe.to_owned(),
            entry: "not_enrolled".into(),
            step: None,
            round: None,
            detail: serde_json::json!({"event": event_id, "reason": reason}),
        };
        let suffix = format!("{recipe}-{}", sanitize(event_id));
        self.transact(vec![self.timeline_put(tenant_id, subject, &suffix, &entry)])
            .await
            .map(|_| ())
    }

    /// Every run of the tenant (for the status page).
    pub async fn runs(&self, tenant_id: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.query_prefix(tenant_id, "run#")
            .await?
            .iter()
            .map(RunRecord::from_item)
            .collect()
    }

    /// An entity's audit trail, oldest first.
    pub async fn timeline(&self, tenant_id: &str, subject: &Subject) -> Result<Vec<TimelineEntry>, StoreError> {
        let mut entries: Vec<TimelineEntry> = self
            .query_prefix(tenant_id, &format!("tl#{}#", subject_part(subject)))
            .await?
            .iter()
            .filter_map(|item| {
                Some(TimelineEntry {
                    at: time(item, "at")?,
                    run_id: text(item, "run_id").filter(|r| *r != "-").map(str::to_owned),
                    recipe: text(item, "recipe")?.to_owned(),
                    entry: text(item, "entry")?.to_owned(),
                    step: text(item, "step").map(str::to_owned),
                    round: num(item, "round"),
                    detail: text(item, "detail")
                        .and_then(|d| serde_json::from_str(d).ok())
                        .unwrap_or(Value::Null),
                })
            })
            .collect();
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }

    // ------------------------------------------------------------------------------------------------ recipients

    /// A person's sends of one class (`key` from [`followups::gate::cap_key`]) within `per` before `now`.
    pub async fn recent_sends(
        &self,
        tenant_id: &str,
        key: &str,
        now: Timestamp,
        per: SignedDuration,
    ) -> Result<Vec<Sent>, StoreError> {
        let item = self.get(tenant_id, &format!("cap#{key}")).await?.unwrap_or_default();
        Ok(sends_of(&item)
            .into_iter()
            .map(|(_, sent)| sent)
            .filter(|sent| sent.at > now - per)
            .collect())
    }

    /// Counts a send about `subject` against the person's caps, unless it is already counted (a retry of the same
    /// delivery). `Ok(Err((opening, reason)))` when a cap is full. Optimistic: the write is conditional on the
    /// version read, so two senders never both take the last place.
    pub async fn reserve_send(
        &self,
        tenant_id: &str,
        key: &str,
        delivery_id: &str,
        subject: &str,
        now: Timestamp,
        limits: &followups::gate::Limits<'_>,
    ) -> Result<Result<(), (Timestamp, followups::gate::DeferReason)>, StoreError> {
        let sk = format!("cap#{key}");
        // Long enough for the longest cap a state sets.
        let keep = limits.class.per.max(SignedDuration::from_hours(
            limits.state.as_ref().map_or(0, |(c, _)| c.hours),
        ));
        for _ in 0..5 {
            let item = self.get(tenant_id, &sk).await?;
            let version: u64 = item.as_ref().and_then(|i| num(i, "version")).unwrap_or(0);
            let mut sends: Vec<(String, Sent)> = item
                .as_ref()
                .map(sends_of)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, sent)| sent.at > now - keep)
                .collect();
            if sends.iter().any(|(id, _)| id == delivery_id) {
                return Ok(Ok(()));
            }
            let recent: Vec<Sent> = sends.iter().map(|(_, sent)| sent.clone()).collect();
            if let Some(opening) = limits.opening(&recent, now) {
                return Ok(Err(opening));
            }
            sends.push((
                delivery_id.to_owned(),
                Sent {
                    at: now,
                    subject: Some(subject.to_owned()),
                },
            ));
            let map: HashMap<String, AttributeValue> = sends
                .iter()
                .map(|(id, sent)| {
                    let mut m = HashMap::from([("at".to_owned(), n(sent.at.as_millisecond()))]);
                    if let Some(subject) = &sent.subject {
                        m.insert("subject".to_owned(), s(subject));
                    }
                    (id.clone(), AttributeValue::M(m))
                })
                .collect();
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant_id, &sk)))
                .update_expression("SET sends = :sends, version = :next, expires_at = :exp")
                .expression_attribute_values(":sends", AttributeValue::M(map))
                .expression_attribute_values(":next", n(version + 1))
                .expression_attribute_values(":exp", expiry(now));
            req = if item.is_some() {
                req.condition_expression("version = :v")
                    .expression_attribute_values(":v", n(version))
            } else {
                req.condition_expression("attribute_not_exists(sk)")
            };
            match req.send().await {
                Ok(_) => return Ok(Ok(())),
                Err(e) if shared::aws::is_conditional_check_failed(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "recipient {sk} kept changing under concurrent senders"
        )))
    }

    /// Whether the tenant has texted `phone` before.
    pub async fn texted_before(&self, tenant_id: &str, phone: &str) -> Result<bool, StoreError> {
        Ok(self.get(tenant_id, &format!("texted#{phone}")).await?.is_some())
    }

    /// Records that the tenant has texted `phone` (after the delivery: a crash before it repeats the opt-out
    /// notice on the next text, which is harmless).
    pub async fn mark_texted(&self, tenant_id: &str, phone: &str, now: Timestamp) -> Result<(), StoreError> {
        let mut item = Self::key(tenant_id, &format!("texted#{phone}"));
        item.insert("first_at".into(), s(iso_millis(now)));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if shared::aws::is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Remembers that a run wrote to an address, so a reply from it can halt the run.
    pub async fn index_address(
        &self,
        tenant_id: &str,
        address: &str,
        run: &RunRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(tenant_id, &format!("addr#{address}#{}", run.run_id));
        item.insert("run_id".into(), s(&run.run_id));
        item.insert("subject".into(), s(run.subject.key()));
        item.insert("at".into(), s(iso_millis(now)));
        item.insert("expires_at".into(), expiry(now));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The runs that have written to `address`, with their subjects.
    pub async fn runs_for_address(&self, tenant_id: &str, address: &str) -> Result<Vec<(String, Subject)>, StoreError> {
        Ok(self
            .query_prefix(tenant_id, &format!("addr#{address}#"))
            .await?
            .iter()
            .filter_map(|i| Some((text(i, "run_id")?.to_owned(), Subject::parse(text(i, "subject")?)?)))
            .collect())
    }

    // ------------------------------------------------------------------------------------------------ the ledger

    pub async fn opt_out_of(&self, tenant_id: &str, address: &str) -> Result<Option<OptOut>, StoreError> {
        Ok(self
            .get(tenant_id, &format!("optout#{address}"))
            .await?
            .as_ref()
            .map(opt_out_of_item))
    }

    /// Adds channels to an address's opt-out entry, with the reason for each (kept as `reason_<channel>`).
    pub async fn add_opt_out(
        &self,
        tenant_id: &str,
        address: &str,
        channels: &[&str],
        reason: &Value,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("optout#{address}"))))
            .expression_attribute_values(
                ":c",
                AttributeValue::Ss(channels.iter().map(|c| (*c).to_owned()).collect()),
            )
            .expression_attribute_values(":addr", s(address))
            .expression_attribute_values(":now", s(iso_millis(now)))
            .expression_attribute_values(":reason", s(reason.to_string()));
        let mut set = vec!["address = :addr".to_owned(), "updated_at = :now".to_owned()];
        for (i, c) in channels.iter().enumerate() {
            update = update.expression_attribute_names(format!("#r{i}"), format!("reason_{c}"));
            set.push(format!("#r{i} = :reason"));
        }
        update
            .update_expression(format!("SET {} ADD channels :c", set.join(", ")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Removes channels (or the whole entry, with `None`) from an address's opt-out entry. `false` when there was
    /// no entry. An older entry's `all` is first spelled out channel by channel, so that lifting one channel keeps
    /// the others.
    pub async fn remove_opt_out(
        &self,
        tenant_id: &str,
        address: &str,
        channels: Option<&[&str]>,
    ) -> Result<bool, StoreError> {
        let key = Self::key(tenant_id, &format!("optout#{address}"));
        let Some(existing) = self.opt_out_of(tenant_id, address).await? else {
            return Ok(false);
        };
        let Some(drop) = channels else {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(unavailable)?;
            return Ok(true);
        };
        if existing.channels.iter().any(|c| c == "all") {
            // Spell out first (a superset: still opted out everywhere in between), then take "all" away below.
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression("ADD channels :c")
                .expression_attribute_values(
                    ":c",
                    AttributeValue::Ss(CHANNELS.iter().map(|c| (*c).to_owned()).collect()),
                )
                .send()
                .await
                .map_err(unavailable)?;
        }
        let mut removed: Vec<String> = drop.iter().map(|c| (*c).to_owned()).collect();
        removed.push("all".into());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(sk)")
            .expression_attribute_values(":c", AttributeValue::Ss(removed));
        let mut names = Vec::new();
        for (i, c) in drop.iter().enumerate() {
            update = update.expression_attribute_names(format!("#r{i}"), format!("reason_{c}"));
            names.push(format!("#r{i}"));
        }
        let expression = if names.is_empty() {
            "DELETE channels :c".to_owned()
        } else {
            format!("DELETE channels :c REMOVE {}", names.join(", "))
        };
        match update.update_expression(expression).send().await {
            Ok(_) => {}
            Err(e) if shared::aws::is_conditional_check_failed(&e) => return Ok(false),
            Err(e) => return Err(unavailable(e)),
        }
        // An entry with no channel left is no entry.
        if self
            .opt_out_of(tenant_id, address)
            .await?
            .is_some_and(|o| o.channels.is_empty())
        {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant_id, &format!("optout#{address}"))))
                .condition_expression("attribute_not_exists(channels)")
                .send()
                .await
                .map_or_else(
                    |e| {
                        if shared::aws::is_conditional_check_failed(&e) {
                            Ok(())
                        } else {
                            Err(unavailable(e))
                        }
                    },
                    |_| Ok(()),
                )?;
        }
        Ok(true)
    }

    // ------------------------------------------------------------------------------------------------ consent

    /// Records consent for `address` on `channel` (express, or written), with where it came from. A later record
    /// of the same kind replaces the earlier; written consent is never downgraded by an express one.
    pub async fn record_consent(
        &self,
        tenant_id: &str,
        address: &str,
        channel: &str,
        consent: &followups::consent::Recorded,
        detail: &Value,
    ) -> Result<(), StoreError> {
        let kind = if consent.written { "written" } else { "express" };
        let document = serde_json::json!({
            "written": consent.written,
            "source": consent.source,
            "at": iso_millis(consent.at),
            "detail": detail,
        });
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_id, &format!("consent#{address}"))))
            .update_expression("SET address = :addr, #k = :doc")
            .expression_attribute_names("#k", format!("{channel}_{kind}"))
            .expression_attribute_values(":addr", s(address))
            .expression_attribute_values(":doc", s(document.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The consent recorded for `address` on `channel`: the written one if there is one, else the express one.
    pub async fn consent_of(
        &self,
        tenant_id: &str,
        address: &str,
        channel: &str,
    ) -> Result<Option<followups::consent::Recorded>, StoreError> {
        let Some(item) = self.get(tenant_id, &format!("consent#{address}")).await? else {
            return Ok(None);
        };
        let read = |kind: &str| -> Option<followups::consent::Recorded> {
            let doc: Value = serde_json::from_str(text(&item, &format!("{channel}_{kind}"))?).ok()?;
            Some(followups::consent::Recorded {
                written: doc["written"].as_bool()?,
                source: doc["source"].as_str()?.to_owned(),
                at: doc["at"].as_str()?.parse().ok()?,
            })
        };
        Ok(read("written").or_else(|| read("express")))
    }

    pub async fn opt_outs(&self, tenant_id: &str) -> Result<Vec<OptOut>, StoreError> {
        Ok(self
            .query_prefix(tenant_id, "optout#")
            .await?
            .iter()
            .map(opt_out_of_item)
            .collect())
    }
}

fn opt_out_of_item(item: &Item) -> OptOut {
    let mut channels: Vec<String> = item
        .get("channels")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    channels.sort();
    let reasons: serde_json::Map<String, Value> = item
        .iter()
        .filter_map(|(k, v)| {
            let channel = k.strip_prefix("reason_")?;
            let parsed = v
                .as_s()
                .ok()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null);
            Some((channel.to_owned(), parsed))
        })
        .collect();
    let reasons = Value::Object(reasons);
    OptOut {
        address: text(item, "address").unwrap_or_default().to_owned(),
        channels,
        reasons,
        updated_at: time(item, "updated_at"),
    }
}

/// The sends of a cap record: `{id: {at, subject}}`, or `{id: at}` as older records wrote them.
fn sends_of(item: &Item) -> Vec<(String, Sent)> {
    let at = |v: &AttributeValue| -> Option<Timestamp> {
        let ms: i64 = v.as_n().ok()?.parse().ok()?;
        Timestamp::from_millisecond(ms).ok()
    };
    item.get("sends")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(id, v)| {
                    let sent = match v.as_m() {
                        Ok(fields) => Sent {
                            at: at(fields.get("at")?)?,
                            subject: fields.get("subject").and_then(|s| s.as_s().ok()).cloned(),
                        },
                        Err(_) => Sent {
                            at: at(v)?,
                            subject: None,
                        },
                    };
                    Some((id.clone(), sent))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A sortable form of a version: (terminal, another option sold, modifiedOn, rank, status) as text.
pub fn version_key(f: &Facts) -> String {
    format!(
        "{}|{}|{:020}|{:03}|{:?}",
        u8::from(f.status.is_terminal()),
        u8::from(f.option_sold),
        f.modified_on.as_millisecond().max(0),
        f.status.rank(),
        f.status
    )
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect()
}

/// `sends = sends + :one, skips = skips + :passed`, without naming `skips` twice (DynamoDB refuses overlapping
/// paths in one update).
// Timeline sort keys: a run's entries sort by time, and within one moment by key, so enrolment sorts before the
// steps (`s00r00n0000-...`) and the end after them.
const TIMELINE_FIRST: &str = "00-enrolled";
const TIMELINE_LAST: &str = "~ended";

fn increments(counter: &str) -> String {
    if counter == "skips" {
        "skips = skips + :one".to_owned()
    } else {
        format!("{counter} = {counter} + :one, skips = skips + :passed")
    }
}

/// Kinds of deferral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// Quiet hours or the cap.
    Wait,
    /// A hold condition (the hold's start is kept).
    Hold,
    /// A delivery retry (counted).
    Retry,
}
