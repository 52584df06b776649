//! Creating the template's tables, queues, secrets and schedule groups in moto.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use tracing::info;

use shared::aws::AwsClients;

use crate::template::{Context, Physical, Template, scalar};

/// Resource types the local stack creates in moto. Others (roles, alarms, log groups, the HTTP API itself) either
/// have no local meaning or are played by the local stack directly.
const CREATED: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::Scheduler::ScheduleGroup",
];

/// Creates every supported resource, in dependency order, and records its physical ids in `ctx`.
pub async fn create_all(template: &Template, ctx: &mut Context, aws: &AwsClients) -> anyhow::Result<()> {
    let mut pending: Vec<(String, Value)> = template
        .resources()
        .filter(|(_, r)| r["Type"].as_str().is_some_and(|t| CREATED.contains(&t)))
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect();
    // A queue's redrive policy names its DLQ, so resources are created as their references become resolvable.
    while !pending.is_empty() {
        let before = pending.len();
        let mut deferred = Vec::new();
        let mut last_error = None;
        for (id, resource) in pending {
            match template.resolve(&resource["Properties"], ctx) {
                Ok(props) => {
                    let physical = create(&id, resource["Type"].as_str().unwrap_or_default(), &props, ctx, aws)
                        .await
                        .with_context(|| format!("creating {id}"))?;
                    ctx.physical.insert(id, physical);
                }
                Err(e) => {
                    last_error = Some(e);
                    deferred.push((id, resource));
                }
            }
        }
        if deferred.len() == before {
            let ids: Vec<_> = deferred.iter().map(|(id, _)| id.as_str()).collect();
            bail!(
                "cannot resolve {ids:?}: {}",
                last_error.map(|e| e.to_string()).unwrap_or_default()
            );
        }
        pending = deferred;
    }
    // Things the functions reference but that the local stack plays itself.
    for (id, r) in template.resources() {
        if ctx.physical.contains_key(id) {
            continue;
        }
        let ty = r["Type"].as_str().unwrap_or_default();
        let name = format!("{}-{id}", ctx.stack_name);
        let arn = match ty {
            "AWS::Serverless::Function" => format!("arn:aws:lambda:{}:{}:function:{name}", ctx.region, ctx.account_id),
            _ => format!("arn:aws:local:{}:{}:{id}", ctx.region, ctx.account_id),
        };
        ctx.physical.insert(
            id.clone(),
            Physical {
                reference: name,
                attributes: HashMap::from([("Arn".to_owned(), arn)]),
            },
        );
    }
    Ok(())
}

async fn create(id: &str, ty: &str, props: &Value, ctx: &Context, aws: &AwsClients) -> anyhow::Result<Physical> {
    let name = format!("{}-{id}", ctx.stack_name);
    let arn_prefix = |service: &str| format!("arn:aws:{service}:{}:{}", ctx.region, ctx.account_id);
    match ty {
        "AWS::DynamoDB::Table" => {
            let mut req = aws
                .dynamodb
                .create_table()
                .table_name(&name)
                .billing_mode(BillingMode::PayPerRequest);
            for k in props["KeySchema"].as_array().into_iter().flatten() {
                req = req.key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(text(&k["AttributeName"])?)
                        .key_type(KeyType::from(text(&k["KeyType"])?.as_str()))
                        .build()?,
                );
            }
            for a in props["AttributeDefinitions"].as_array().into_iter().flatten() {
                req = req.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(text(&a["AttributeName"])?)
                        .attribute_type(ScalarAttributeType::from(text(&a["AttributeType"])?.as_str()))
                        .build()?,
                );
            }
            req.send()
                .await
                .map_err(|e| anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
            if let Some(ttl) = props["TimeToLiveSpecification"].as_object()
                && ttl.get("Enabled").and_then(scalar).as_deref() == Some("true")
            {
                aws.dynamodb
                    .update_time_to_live()
                    .table_name(&name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .attribute_name(text(&props["TimeToLiveSpecification"]["AttributeName"])?)
                            .enabled(true)
                            .build()?,
                    )
                    .send()
                    .await
                    .map_err(|e| anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
            }
            info!(id, table = name, "table created");
            let arn = format!("{}:table/{name}", arn_prefix("dynamodb"));
            Ok(Physical {
                reference: name,
                attributes: HashMap::from([("Arn".to_owned(), arn)]),
            })
        }
        "AWS::SQS::Queue" => {
            let mut req = aws.sqs.create_queue().queue_name(&name);
            for (prop, attr) in [
                ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
                ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
                ("DelaySeconds", QueueAttributeName::DelaySeconds),
                ("MaximumMessageSize", QueueAttributeName::MaximumMessageSize),
                (
                    "ReceiveMessageWaitTimeSeconds",
                    QueueAttributeName::ReceiveMessageWaitTimeSeconds,
                ),
            ] {
                if let Some(v) = scalar(&props[prop]) {
                    req = req.attributes(attr, v);
                }
            }
            if props["RedrivePolicy"].is_object() {
                req = req.attributes(QueueAttributeName::RedrivePolicy, props["RedrivePolicy"].to_string());
            }
            let out = req
                .send()
                .await
                .map_err(|e| anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            let url = out.queue_url().unwrap_or_default().to_owned();
            info!(id, queue = name, "queue created");
            Ok(Physical {
                reference: url.clone(),
                attributes: HashMap::from([
                    ("Arn".to_owned(), format!("{}:{name}", arn_prefix("sqs"))),
                    ("QueueName".to_owned(), name),
                    ("QueueUrl".to_owned(), url),
                ]),
            })
        }
        "AWS::SecretsManager::Secret" => {
            let secret_name = scalar(&props["Name"]).unwrap_or_else(|| format!("{}/{id}", ctx.stack_name));
            // GenerateSecretString (the follow-up signing secret): a Standard Webhooks secret, in its whsec_ form.
            let value = match scalar(&props["SecretString"]) {
                Some(v) => v,
                None if props["GenerateSecretString"].is_object() => {
                    shared::standard_webhooks::SigningSecret::generate()
                }
                None => "{}".to_owned(),
            };
            let out = aws
                .secrets
                .create_secret()
                .name(&secret_name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| anyhow!(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
            let arn = out.arn().unwrap_or_default().to_owned();
            info!(id, secret = secret_name, "secret created");
            Ok(Physical {
                reference: arn.clone(),
                attributes: HashMap::from([("Id".to_owned(), arn)]),
            })
        }
        "AWS::Scheduler::ScheduleGroup" => {
            let group = scalar(&props["Name"]).unwrap_or(name);
            let out = aws
                .scheduler
                .create_schedule_group()
                .name(&group)
                .send()
                .await
                .map_err(|e| anyhow!(aws_sdk_scheduler::error::DisplayErrorContext(e).to_string()))?;
            info!(id, group, "schedule group created");
            Ok(Physical {
                reference: group,
                attributes: HashMap::from([("Arn".to_owned(), out.schedule_group_arn().to_owned())]),
            })
        }
        other => bail!("unsupported resource type {other}"),
    }
}

fn text(v: &Value) -> anyhow::Result<String> {
    scalar(v).ok_or_else(|| anyhow!("expected a string, got {v}"))
}
