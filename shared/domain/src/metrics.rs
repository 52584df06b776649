//! CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout: Lambda ships them to CloudWatch Logs, which
//! extracts the metrics, with no API call on the request path.
//!
//! Every line carries the tenant id as a property, not a dimension: each distinct dimension value is a separately
//! billed metric, and a deployment serves many contractors. Per-tenant figures come from CloudWatch Logs Insights
//! over the same lines (`filter tenant_id = "1001" | stats sum(TokenRefreshFailures)`).

use std::io::Write;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// The namespace of every metric the product emits.
pub const NAMESPACE: &str = "ServiceTitanFollowUps";

/// One EMF line: counts for `tenant_id`, dimensioned by function only.
pub fn emf_line(function: &str, tenant_id: &str, counts: &[(&str, u64)], at: Timestamp) -> String {
    let metrics: Vec<(&str, f64, &str)> = counts.iter().map(|(n, v)| (*n, *v as f64, "Count")).collect();
    emf_line_with_units(function, tenant_id, &metrics, at)
}

/// One EMF line of `(name, value, unit)` metrics (`Count`, `Seconds`, ...).
pub fn emf_line_with_units(function: &str, tenant_id: &str, metrics: &[(&str, f64, &str)], at: Timestamp) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.as_millisecond(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    line.insert("Function".into(), Value::from(function));
    line.insert("tenant_id".into(), Value::from(tenant_id));
    for (name, value, _) in metrics {
        // Whole numbers stay integers in the line (counts read back as they were written).
        let v = if value.fract() == 0.0 && value.abs() < 9.0e15 {
            Value::from(*value as i64)
        } else {
            Value::from(*value)
        };
        line.insert((*name).to_owned(), v);
    }
    Value::Object(line).to_string()
}

/// Writes one EMF line to stdout (where Lambda collects it).
pub fn emit(function: &str, tenant_id: &str, counts: &[(&str, u64)], at: Timestamp) {
    write_line(&emf_line(function, tenant_id, counts, at));
}

/// Writes one EMF line of metrics with their units to stdout.
pub fn emit_with_units(function: &str, tenant_id: &str, metrics: &[(&str, f64, &str)], at: Timestamp) {
    write_line(&emf_line_with_units(function, tenant_id, metrics, at));
}

fn write_line(line: &str) {
    let mut out = std::io::stdout().lock();
    // A metric that cannot be written is not worth failing the work it describes.
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_emf_with_the_tenant_as_a_property() {
        let at: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let line: Value =
            serde_json::from_str(&emf_line("token-refresh", "1001", &[("TokenRefreshed", 1)], at)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], at.as_millisecond());
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Function"]]),
            "never a per-tenant dimension"
        );
        assert_eq!(directive["Metrics"][0]["Name"], "TokenRefreshed");
        assert_eq!(
            (line["tenant_id"].as_str(), line["TokenRefreshed"].as_u64()),
            (Some("1001"), Some(1))
        );
        assert_eq!(line["Function"], "token-refresh");
    }
}
