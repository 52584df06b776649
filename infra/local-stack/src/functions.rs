//! The template's functions, hosted in-process.
//!
//! Each `AWS::Serverless::Function` is matched to its library crate by `Metadata.BuildProperties.Binary` and given
//! the environment its template definition resolves to, so the local run exercises the same configuration as AWS.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use shared::aws::AwsClients;
use shared::clock::SharedClock;

use crate::template::{Context, Template, scalar};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type HttpHandler = Arc<dyn Fn(Request) -> BoxFuture<Response<Body>> + Send + Sync>;
pub type SqsHandler = Arc<dyn Fn(SqsEvent) -> BoxFuture<Result<SqsBatchResponse, String>> + Send + Sync>;
/// A function invoked with a JSON event (a schedule's input) that answers JSON.
pub type JsonHandler = Arc<dyn Fn(Value) -> BoxFuture<Result<Value, String>> + Send + Sync>;

/// Environment variables the local stack passes through from its own environment to every function, overriding
/// the template (see the README's configuration reference).
pub const PASS_THROUGH_ENV: &[&str] = &[
    "SERVICETITAN_INTEGRATION_AUTH_URL",
    "SERVICETITAN_INTEGRATION_API_URL",
    "SERVICETITAN_PRODUCTION_AUTH_URL",
    "SERVICETITAN_PRODUCTION_API_URL",
    "FOLLOWUP_SINK_URL",
];

#[derive(Debug, Clone)]
pub struct HttpRoute {
    /// `ANY` or an HTTP method.
    pub method: String,
    /// The API Gateway path, e.g. `/webhooks/servicetitan/{event}`.
    pub path: String,
    /// The route's `Auth.Authorizer`.
    pub auth: RouteAuth,
}

/// Who may call a route, as its template event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    /// Anyone (ServiceTitan's webhooks, which the function checks itself).
    None,
    /// `AWS_IAM`: locally, the admin bearer token stands in for SigV4.
    Iam,
    /// The API's JWT authorizer (`DashboardJwt`): locally, a token of the stack's issuer.
    Jwt,
}

/// The name of the template's JWT authorizer for the dashboard routes.
pub const DASHBOARD_AUTHORIZER: &str = "DashboardJwt";

/// A `ScheduleV2` event with a `rate(...)` expression.
#[derive(Debug, Clone)]
pub struct ScheduleSource {
    pub name: String,
    pub every: jiff::SignedDuration,
    pub input: Value,
}

#[derive(Debug, Clone)]
pub struct SqsSource {
    pub queue_arn: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub binary: String,
    pub env: HashMap<String, String>,
    pub timeout_secs: u64,
    pub http_routes: Vec<HttpRoute>,
    pub sqs_sources: Vec<SqsSource>,
    pub schedules: Vec<ScheduleSource>,
}

#[derive(Clone)]
pub enum Hosted {
    Http(HttpHandler),
    Sqs(SqsHandler),
    Json(JsonHandler),
}

/// Reads every function of the template, resolving its environment against `ctx`.
pub fn read(
    template: &Template,
    ctx: &Context,
    env_overrides: &HashMap<String, String>,
) -> anyhow::Result<Vec<FunctionDef>> {
    let globals = &template.doc["Globals"]["Function"];
    let mut out = Vec::new();
    for (id, resource) in template.resources_of_type("AWS::Serverless::Function") {
        let props = &resource["Properties"];
        let binary = scalar(&resource["Metadata"]["BuildProperties"]["Binary"])
            .with_context(|| format!("{id}: Metadata.BuildProperties.Binary is required"))?;
        let mut env = HashMap::new();
        for vars in [&globals["Environment"]["Variables"], &props["Environment"]["Variables"]] {
            let resolved = template
                .resolve(vars, ctx)
                .with_context(|| format!("{id}: resolving Environment"))?;
            for (k, v) in resolved.as_object().into_iter().flatten() {
                env.insert(k.clone(), scalar(v).unwrap_or_default());
            }
        }
        env.extend(env_overrides.clone());
        env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), format!("{}-{id}", ctx.stack_name));
        env.insert("AWS_REGION".into(), ctx.region.clone());

        let timeout_secs = scalar(&props["Timeout"])
            .or_else(|| scalar(&globals["Timeout"]))
            .and_then(|t| t.parse().ok())
            .unwrap_or(3);
        let mut http_routes = Vec::new();
        let mut sqs_sources = Vec::new();
        let mut schedules = Vec::new();
        for (name, event) in props["Events"].as_object().into_iter().flatten() {
            let ep = template
                .resolve(&event["Properties"], ctx)
                .with_context(|| format!("{id}: resolving event {name}"))?;
            match event["Type"].as_str() {
                Some("HttpApi") => http_routes.push(HttpRoute {
                    method: scalar(&ep["Method"])
                        .unwrap_or_else(|| "ANY".into())
                        .to_ascii_uppercase(),
                    path: scalar(&ep["Path"]).with_context(|| format!("{id}: event {name} has no Path"))?,
                    auth: match scalar(&ep["Auth"]["Authorizer"]).as_deref() {
                        Some("AWS_IAM") => RouteAuth::Iam,
                        Some(DASHBOARD_AUTHORIZER) => RouteAuth::Jwt,
                        Some(other) => anyhow::bail!("{id}: event {name}: the local stack has no authorizer {other}"),
                        None => RouteAuth::None,
                    },
                }),
                Some("ScheduleV2") => {
                    let expression = scalar(&ep["ScheduleExpression"]).unwrap_or_default();
                    let every = parse_rate(&expression).with_context(|| {
                        format!("{id}: event {name}: the local stack runs rate(...) schedules only")
                    })?;
                    let input = match scalar(&ep["Input"]) {
                        Some(text) => serde_json::from_str(&text)
                            .with_context(|| format!("{id}: event {name}: Input is not JSON"))?,
                        None => Value::Object(Default::default()),
                    };
                    schedules.push(ScheduleSource {
                        name: name.clone(),
                        every,
                        input,
                    });
                }
                Some("SQS") => sqs_sources.push(SqsSource {
                    queue_arn: scalar(&ep["Queue"]).with_context(|| format!("{id}: event {name} has no Queue"))?,
                    batch_size: scalar(&ep["BatchSize"]).and_then(|b| b.parse().ok()).unwrap_or(10),
                    report_batch_item_failures: ep["FunctionResponseTypes"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|v| v == &Value::from("ReportBatchItemFailures"))),
                }),
                other => bail!("{id}: event {name} of type {other:?} is not supported by the local stack yet"),
            }
        }
        out.push(FunctionDef {
            logical_id: id.clone(),
            binary,
            env,
            timeout_secs,
            http_routes,
            sqs_sources,
            schedules,
        });
    }
    Ok(out)
}

/// Builds the in-process handler for a function from its library crate. A template function whose binary is not
/// listed here fails start-up, so the template cannot gain a function the local stack silently ignores.
pub fn host(def: &FunctionDef, aws: &AwsClients, clock: SharedClock) -> anyhow::Result<Hosted> {
    Ok(killable(
        &def.logical_id,
        with_deadline(host_untimed(def, aws, clock)?, def.timeout_secs),
    ))
}

/// Runs every invocation as a task a killed host ([`crate::faults`]) can stop part-way. A killed invocation answers
/// nothing: an SQS batch or a scheduled event fails whole, an API request gets API Gateway's 502.
fn killable(function: &str, hosted: Hosted) -> Hosted {
    use crate::faults::invoke;
    const KILLED: &str = "the function's host was killed mid-invocation (an injected fault)";
    let f: Arc<str> = function.into();
    match hosted {
        Hosted::Http(h) => Hosted::Http(Arc::new(move |req| {
            let (f, h) = (f.clone(), h.clone());
            Box::pin(async move {
                invoke(&f, h(req)).await.unwrap_or_else(|| {
                    let mut resp = Response::new(Body::from(r#"{"message":"Internal Server Error"}"#));
                    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
                    resp
                })
            })
        })),
        Hosted::Sqs(h) => Hosted::Sqs(Arc::new(move |batch| {
            let (f, h) = (f.clone(), h.clone());
            Box::pin(async move { invoke(&f, h(batch)).await.unwrap_or_else(|| Err(KILLED.into())) })
        })),
        Hosted::Json(h) => Hosted::Json(Arc::new(move |event| {
            let (f, h) = (f.clone(), h.clone());
            Box::pin(async move { invoke(&f, h(event)).await.unwrap_or_else(|| Err(KILLED.into())) })
        })),
    }
}

/// Runs every invocation within the template's `Timeout`, as Lambda's context gives it a deadline (see
/// `shared::deadline`). The stack does not stop a handler that overruns: the handlers stop their own calls.
fn with_deadline(hosted: Hosted, timeout_secs: u64) -> Hosted {
    let timeout = std::time::Duration::from_secs(timeout_secs);
    use shared::deadline::{after, within};
    match hosted {
        Hosted::Http(h) => Hosted::Http(Arc::new(move |req| Box::pin(within(after(timeout), h(req))))),
        Hosted::Sqs(h) => Hosted::Sqs(Arc::new(move |batch| Box::pin(within(after(timeout), h(batch))))),
        Hosted::Json(h) => Hosted::Json(Arc::new(move |event| Box::pin(within(after(timeout), h(event))))),
    }
}

fn host_untimed(def: &FunctionDef, aws: &AwsClients, clock: SharedClock) -> anyhow::Result<Hosted> {
    let env = &def.env;
    let context = || format!("configuring {} ({})", def.logical_id, def.binary);
    Ok(match def.binary.as_str() {
        "webhook-intake" => {
            let config = webhook_intake::IntakeConfig::from_env(env).with_context(context)?;
            let clients = webhook_intake::IntakeClients {
                dynamodb: aws.dynamodb.clone(),
                sqs: aws.sqs.clone(),
                secrets: aws.secrets.clone(),
            };
            let intake = Arc::new(webhook_intake::Intake::new(config, clients, clock));
            Hosted::Http(Arc::new(move |req| {
                let intake = intake.clone();
                Box::pin(async move { intake.handle(req).await })
            }))
        }
        "event-processor" => {
            let config = event_processor::ProcessorConfig::from_env(env).with_context(context)?;
            let clients = event_processor::ProcessorClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                scheduler: aws.scheduler.clone(),
                sqs: aws.sqs.clone(),
            };
            let processor = Arc::new(event_processor::Processor::new(config, clients, clock).with_context(context)?);
            Hosted::Sqs(Arc::new(move |batch| {
                let processor = processor.clone();
                Box::pin(async move { Ok(processor.handle_batch(batch).await) })
            }))
        }
        "followup-runner" => {
            let config = followup_runner::RunnerConfig::from_env(env).with_context(context)?;
            let clients = followup_runner::RunnerClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                scheduler: aws.scheduler.clone(),
                sqs: aws.sqs.clone(),
            };
            let runner = Arc::new(followup_runner::Runner::new(config, clients, clock).with_context(context)?);
            Hosted::Sqs(Arc::new(move |batch| {
                let runner = runner.clone();
                Box::pin(async move { Ok(runner.handle_batch(batch).await) })
            }))
        }
        "inbound-messages" => {
            let config = inbound_messages::InboundConfig::from_env(env).with_context(context)?;
            let clients = inbound_messages::InboundClients {
                dynamodb: aws.dynamodb.clone(),
                scheduler: aws.scheduler.clone(),
                sqs: aws.sqs.clone(),
            };
            let inbound = Arc::new(inbound_messages::Inbound::new(config, clients, clock).with_context(context)?);
            Hosted::Http(Arc::new(move |req| {
                let inbound = inbound.clone();
                Box::pin(async move { inbound.handle(req).await })
            }))
        }
        "integration-page" => Hosted::Http(Arc::new(|req| Box::pin(async move { integration_page::handle(&req) }))),
        "lead-intake" => {
            let config = lead_intake::LeadIntakeConfig::from_env(env).with_context(context)?;
            let intake = Arc::new(lead_intake::LeadIntake::new(
                config,
                aws.dynamodb.clone(),
                aws.sqs.clone(),
                clock,
            ));
            Hosted::Http(Arc::new(move |req| {
                let intake = intake.clone();
                Box::pin(async move { intake.handle(req).await })
            }))
        }
        "lead-creator" => {
            let config = lead_creator::CreatorConfig::from_env(env).with_context(context)?;
            let clients = lead_creator::CreatorClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                sqs: aws.sqs.clone(),
            };
            let creator = Arc::new(lead_creator::LeadCreator::new(config, clients, clock));
            Hosted::Sqs(Arc::new(move |batch| {
                let creator = creator.clone();
                Box::pin(async move { Ok(creator.handle_batch(batch).await) })
            }))
        }
        "reconciler" => {
            let config = reconciler::ReconcilerConfig::from_env(env).with_context(context)?;
            let clients = reconciler::ReconcilerClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                sqs: aws.sqs.clone(),
            };
            let reconciler = Arc::new(reconciler::Reconciler::new(config, clients, clock).with_context(context)?);
            Hosted::Sqs(Arc::new(move |batch| {
                let reconciler = reconciler.clone();
                Box::pin(async move { Ok(reconciler.handle_batch(batch).await) })
            }))
        }
        "reconcile-fanout" => {
            let config = reconcile_fanout::FanOutConfig::from_env(env).with_context(context)?;
            let fanout = Arc::new(reconcile_fanout::FanOut::new(
                config,
                aws.dynamodb.clone(),
                aws.sqs.clone(),
                clock,
            ));
            Hosted::Json(Arc::new(move |_event| {
                let fanout = fanout.clone();
                Box::pin(async move {
                    let summary = fanout.run().await.map_err(|e| e.to_string())?;
                    serde_json::to_value(summary).map_err(|e| e.to_string())
                })
            }))
        }
        "tenant-admin" => {
            let config = tenant_admin::AdminConfig::from_env(env).with_context(context)?;
            let clients = tenant_admin::AdminClients {
                dynamodb: aws.dynamodb.clone(),
                secrets: aws.secrets.clone(),
                scheduler: aws.scheduler.clone(),
                sqs: aws.sqs.clone(),
            };
            let admin = Arc::new(tenant_admin::Admin::new(config, clients, clock).with_context(context)?);
            Hosted::Http(Arc::new(move |req| {
                let admin = admin.clone();
                Box::pin(async move { admin.handle(req).await })
            }))
        }
        "token-refresh" => {
            let config = token_refresh::RefreshConfig::from_env(env).with_context(context)?;
            let refresher = Arc::new(token_refresh::Refresher::new(
                config,
                aws.dynamodb.clone(),
                aws.secrets.clone(),
                clock,
            ));
            Hosted::Json(Arc::new(move |event| {
                let refresher = refresher.clone();
                Box::pin(async move {
                    let summary = refresher.run(&event).await.map_err(|e| e.to_string())?;
                    serde_json::to_value(summary).map_err(|e| e.to_string())
                })
            }))
        }
        other => bail!(
            "{}: the local stack cannot host binary {other:?}; add it to infra/local-stack/src/functions.rs",
            def.logical_id
        ),
    })
}

/// `rate(5 minutes)`, `rate(1 hour)`, ...
fn parse_rate(expression: &str) -> Option<jiff::SignedDuration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(jiff::SignedDuration::from_secs(n * seconds))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::parse_rate("rate(5 minutes)").unwrap().as_secs(), 300);
        assert_eq!(super::parse_rate("rate(1 hour)").unwrap().as_secs(), 3600);
        assert!(super::parse_rate("cron(0 * * * ? *)").is_none());
        assert!(super::parse_rate("rate(0 minutes)").is_none());
    }
}
