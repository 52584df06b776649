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
