//! The deployed configuration: what `template.yaml` and `samconfig.toml` must never allow.

use integration_tests::repo_root;
use local_stack::template::Template;
use serde_json::json;

#[test]
fn no_deployed_stack_accepts_unsigned_webhooks() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    assert_eq!(template.doc["Parameters"]["AllowUnsignedWebhooks"]["Default"], "false");
    // CloudFormation refuses the stack when the parameter is anything else (the local stack, which reads the
    // template without deploying it, is the one place it may be true).
    let rules = template.doc["Rules"].as_object().expect("the template has Rules");
    let asserted = rules.values().any(|rule| {
        rule.get("RuleCondition").is_none()
            && rule["Assertions"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["Assert"] == json!({"Fn::Equals": [{"Ref": "AllowUnsignedWebhooks"}, "false"]}))
            })
    });
    assert!(
        asserted,
        "a rule without a condition asserts AllowUnsignedWebhooks is false: {rules:?}"
    );
    // And no deploy configuration tries.
    let samconfig = std::fs::read_to_string(repo_root().join("samconfig.toml")).unwrap();
    for line in samconfig.lines().filter(|l| l.contains("AllowUnsignedWebhooks")) {
        assert!(
            !line.contains("AllowUnsignedWebhooks=true") && !line.contains("AllowUnsignedWebhooks=\\\"true"),
            "samconfig.toml: {line}"
        );
    }
    assert!(samconfig.contains("[production.deploy.parameters]"));
}

#[test]
fn the_reconcile_lag_alarm_is_quiet_without_tenants() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    // The lag is reported per reconcile of a tenant: with no tenants there is no data, which is not a lag.
    assert_eq!(
        template.doc["Resources"]["ReconcileLagAlarm"]["Properties"]["TreatMissingData"],
        "notBreaching"
    );
}

/// Every log group keeps its lines for `LogRetentionDays` (30 by default), so that log storage does not grow
/// forever: each function writes to its own group, and the API's access logs have the same retention.
#[test]
fn every_log_group_has_the_stacks_retention() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let doc = &template.doc;
    assert_eq!(doc["Parameters"]["LogRetentionDays"]["Default"], 30);
    let resources = doc["Resources"].as_object().unwrap();
    let mut functions = 0;
    for (name, res) in resources {
        match res["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                functions += 1;
                let group = res["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name} names no log group of its own"));
                assert_eq!(resources[group]["Type"], "AWS::Logs::LogGroup", "{name}");
            }
            Some("AWS::Logs::LogGroup") => assert_eq!(
                res["Properties"]["RetentionInDays"]["Ref"], "LogRetentionDays",
                "{name}"
            ),
            _ => {}
        }
    }
    assert!(functions >= 11, "every function was checked");
}

/// AWS advises a queue's visibility timeout of at least six times its consumer's timeout plus the batching window,
/// so that a message is not handed to a second worker while the first may still run. Each consumer's lease on
/// its record must also run out before the message comes back, or the retry would find the record still held.
#[test]
fn queues_outlast_their_consumers_and_their_leases() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let doc = &template.doc;
    let default_timeout = doc["Globals"]["Function"]["Timeout"].as_f64().unwrap_or(3.0);
    let mut checked = Vec::new();
    for (name, res) in doc["Resources"].as_object().unwrap() {
        if res["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let props = &res["Properties"];
        let timeout = props["Timeout"].as_f64().unwrap_or(default_timeout);
        for event in props["Events"].as_object().into_iter().flat_map(|e| e.values()) {
            if event["Type"] != "SQS" {
                continue;
            }
            let queue = event["Properties"]["Queue"]["Fn::GetAtt"][0].as_str().unwrap();
            let window = event["Properties"]["MaximumBatchingWindowInSeconds"]
                .as_f64()
                .unwrap_or(0.0);
            let visibility = doc["Resources"][queue]["Properties"]["VisibilityTimeout"]
                .as_f64()
                .unwrap_or(30.0);
            assert!(
                visibility >= 6.0 * timeout + window,
                "{queue}'s visibility timeout {visibility} s is under 6 x {name}'s {timeout} s + {window} s"
            );
            // The lease: the function's *_LEASE_SECONDS, or the lead creator's built-in one.
            let env = props["Environment"]["Variables"].as_object();
            let lease = env
                .and_then(|v| v.iter().find(|(k, _)| k.ends_with("_LEASE_SECONDS")))
                .map(|(_, v)| v.as_str().unwrap().parse::<f64>().unwrap())
                .or_else(|| (name == "LeadCreatorFunction").then(|| lead_runtime::create::LEASE.as_secs_f64()))
                .unwrap_or_else(|| panic!("{name} consumes {queue} and states no lease"));
            assert!(
                lease < visibility,
                "{name}'s lease ({lease} s) outlasts {queue}'s visibility ({visibility} s)"
            );
            assert!(
                lease >= timeout,
                "{name}'s lease ({lease} s) is shorter than its timeout ({timeout} s)"
            );
            checked.push(queue.to_owned());
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        ["EventsQueue", "FollowUpsQueue", "LeadsQueue", "ReconcileQueue"],
        "every queue with a consumer is checked"
    );
}

/// Every alarm notifies someone: the topic the operator gave, or the one the stack creates (and emails).
#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let doc = &template.doc;
    let topic = json!([{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]);
    let alarms: Vec<_> = doc["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 7);
    for (name, alarm) in alarms {
        assert_eq!(alarm["Properties"]["AlarmActions"], topic, "{name}");
        assert_eq!(alarm["Properties"]["OKActions"], topic, "{name}");
    }
    assert_eq!(doc["Resources"]["AlarmTopic"]["Condition"], "CreateAlarmTopic");
    assert_eq!(
        doc["Resources"]["AlarmEmailSubscription"]["Properties"]["Protocol"],
        "email"
    );
}

/// The operations dashboard is valid JSON once CloudFormation has substituted it, and shows every consumed queue's
/// age and every dead-letter queue's depth, the follow-up outcomes the runner counts, reconcile lag and 429s.
#[test]
fn the_operations_dashboard_shows_every_queue_and_the_products_metrics() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let doc = &template.doc;
    let body = doc["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap();
    // ${Resource.QueueName} and ${AWS::Region} become their values; what is left must parse.
    let substituted = placeholders_for_subs(body);
    let dashboard: serde_json::Value = serde_json::from_str(&substituted).expect("the dashboard body is JSON");
    let metrics: Vec<Vec<String>> = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap().clone())
        .map(|m| {
            m.as_array()
                .unwrap()
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    let shows = |metric: &str, value: &str| metrics.iter().any(|m| m[1] == metric && m.iter().any(|x| x == value));
    for (name, res) in doc["Resources"].as_object().unwrap() {
        if res["Type"] == "AWS::SQS::Queue" && name.ends_with("DeadLetterQueue") {
            assert!(
                shows("ApproximateNumberOfMessagesVisible", &format!("<{name}.QueueName>")),
                "{name}"
            );
        }
    }
    for queue in ["EventsQueue", "FollowUpsQueue", "LeadsQueue", "ReconcileQueue"] {
        assert!(
            shows("ApproximateAgeOfOldestMessage", &format!("<{queue}.QueueName>")),
            "{queue}"
        );
    }
    use followup_runner::Outcome;
    for outcome in [
        Outcome::Sent,
        Outcome::Skipped(String::new()),
        Outcome::Deferred(String::new()),
        Outcome::Failed(String::new()),
    ] {
        let metric = outcome.metric().unwrap();
        assert!(shows(metric, "followup-runner"), "{metric}");
    }
    assert!(shows(servicetitan::THROTTLED_METRIC, "servicetitan"));
    assert!(shows("ReconcileLagIntervals", "reconciler"));
}

/// `${Name}` and `${Name.Attr}` replaced by `<Name>` / `<Name.Attr>`, as CloudFormation would put values there.
fn placeholders_for_subs(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed") + start;
        out.push('<');
        out.push_str(&rest[start + 2..end]);
        out.push('>');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// No backfill or lead surge can take the webhook intake's concurrency: every queue consumer is capped, and the
/// intake has its own reservation (a parameter, for accounts with a low limit).
#[test]
fn queue_consumers_are_capped_and_the_intake_has_its_own_concurrency() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let doc = &template.doc;
    let mut consumers = 0;
    for (name, res) in doc["Resources"].as_object().unwrap() {
        for event in res["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
        {
            if event["Type"] == "SQS" {
                let cap = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{name}'s SQS source has no MaximumConcurrency"));
                assert!((2..=1000).contains(&cap), "{name}: {cap}");
                consumers += cap;
            }
        }
    }
    let reserved = doc["Parameters"]["WebhookIntakeReservedConcurrency"]["Default"]
        .as_u64()
        .unwrap();
    assert!(reserved > 0);
    assert_eq!(
        doc["Resources"]["WebhookIntakeFunction"]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][1],
        json!({"Ref": "WebhookIntakeReservedConcurrency"})
    );
    // Under a default account's 1000, with AWS's 100 unreserved kept free.
    assert!(consumers + reserved <= 900, "consumers {consumers} + intake {reserved}");
}

/// The roles that schedule follow-ups pass the Scheduler role to EventBridge Scheduler only, and the one that may
/// delete a tenant's secret can only schedule its deletion, never force it.
#[test]
fn pass_role_and_secret_deletion_are_conditioned() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let mut pass_role = 0;
    let mut delete_secret = 0;
    for (name, res) in template.doc["Resources"].as_object().unwrap() {
        let statements = res["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default());
        for st in statements {
            let actions: Vec<&str> = match &st["Action"] {
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                serde_json::Value::String(a) => vec![a.as_str()],
                _ => vec![],
            };
            if actions.contains(&"iam:PassRole") {
                pass_role += 1;
                assert_eq!(
                    st["Condition"]["StringEquals"]["iam:PassedToService"], "scheduler.amazonaws.com",
                    "{name}: {st}"
                );
            }
            if actions.contains(&"secretsmanager:DeleteSecret") {
                delete_secret += 1;
                assert_eq!(
                    actions,
                    ["secretsmanager:DeleteSecret"],
                    "{name}: alone in its statement"
                );
                assert_eq!(
                    st["Condition"]["BoolIfExists"]["secretsmanager:ForceDeleteWithoutRecovery"], "false",
                    "{name}: {st}"
                );
            }
        }
    }
    assert_eq!((pass_role, delete_secret), (2, 1));
}

/// The ready-to-attach caller policies (issue 16 §2): the platform's never reach `/operator`, the operators' does;
/// every `/admin` route names a tenant, so a bound caller can reach nothing deployment-wide through it.
#[test]
fn the_platforms_policies_never_reach_the_operator_routes() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let resources = |policy: &str| -> Vec<String> {
        let doc = &template.doc["Resources"][policy];
        assert_eq!(doc["Type"], "AWS::IAM::ManagedPolicy", "{policy}");
        doc["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|s| assert_eq!(s["Action"], "execute-api:Invoke", "{policy}: invoke only"))
            .flat_map(|s| s["Resource"].as_array().unwrap().clone())
            .map(|r| r["Fn::Sub"].as_str().expect("an execute-api ARN").to_owned())
            .collect()
    };
    for policy in ["AiPlatformCallerPolicy", "TenantAdminCallerPolicy"] {
        let arns = resources(policy);
        assert!(!arns.is_empty());
        for arn in &arns {
            let route = arn.split("${ServiceTitanApi}/").nth(1).unwrap();
            assert!(!route.contains("operator"), "{policy} reaches {route}");
            assert!(
                !route.ends_with("/*/*") && route != "*" && !route.starts_with("*/*/*"),
                "{policy}: {route} is every route"
            );
        }
    }
    assert!(
        resources("OperatorCallerPolicy")
            .iter()
            .any(|a| a.ends_with("/*/*/operator/*"))
    );
    for output in [
        "AiPlatformCallerPolicyArn",
        "TenantAdminCallerPolicyArn",
        "OperatorCallerPolicyArn",
    ] {
        assert!(template.doc["Outputs"][output]["Value"]["Ref"].is_string(), "{output}");
    }

    let admin = &template.doc["Resources"]["TenantAdminFunction"]["Properties"]["Events"];
    for (name, event) in admin.as_object().unwrap() {
        let path = event["Properties"]["Path"].as_str().unwrap();
        let auth = event["Properties"]["Auth"]["Authorizer"].as_str().unwrap();
        if path.starts_with("/admin/") {
            assert!(
                path.starts_with("/admin/tenants/{tenantId}/"),
                "{name}: {path} names no tenant"
            );
        }
        if path.starts_with("/operator/") || path.starts_with("/admin/") {
            assert_eq!(auth, "AWS_IAM", "{name}");
        } else {
            assert!(path.starts_with("/dashboard/tenants/{tenantId}/"), "{name}: {path}");
        }
    }
    assert_eq!(
        template.doc["Globals"]["Function"]["Environment"]["Variables"]["MACHINE_CALLERS"],
        json!({"Ref": "MachineCallers"})
    );
    assert_eq!(
        template.doc["Parameters"]["MachineCallers"]["Default"], "",
        "binds nobody by default"
    );
}

/// A consumer whose message is busy (another worker holds its lease) sends it back to its own queue as a delayed
/// copy (issue 16 §4), so each may send to the queue it reads.
#[test]
fn every_consumer_may_requeue_to_the_queue_it_reads() {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    for function in [
        "EventProcessorFunction",
        "FollowUpRunnerFunction",
        "LeadCreatorFunction",
        "ReconcilerFunction",
    ] {
        let props = &template.doc["Resources"][function]["Properties"];
        let queue = props["Events"]
            .as_object()
            .unwrap()
            .values()
            .find(|e| e["Type"] == "SQS")
            .map(|e| e["Properties"]["Queue"]["Fn::GetAtt"][0].clone())
            .unwrap_or_else(|| panic!("{function} reads a queue"));
        let may_send = props["Policies"].as_array().unwrap().iter().any(|p| {
            p["Statement"].as_array().into_iter().flatten().any(|s| {
                s["Action"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a == "sqs:SendMessage")
                    && s["Resource"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["Fn::GetAtt"][0] == queue)
            })
        });
        assert!(may_send, "{function} may not send to {queue}, which it reads");
    }
}
