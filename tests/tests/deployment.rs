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
