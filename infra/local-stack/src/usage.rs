//! What the hosted functions asked of AWS: every SDK call, by function and operation (`DynamoDB.PutItem`), and
//! the invocations that made them. The cost model (`docs/cost.md`) is these counts times AWS's prices, so the
//! counts come from the running code rather than from reading it.
//!
//! Read at `GET /_local/usage`, zeroed by `DELETE /_local/usage`. Calls the local stack makes itself (creating
//! tables, polling queues, firing schedules) are not a function's and are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};

/// One function's share of the usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionUsage {
    /// Invocations that made at least one AWS call.
    pub invocations: u64,
    /// Calls by `Service.Operation`, e.g. `DynamoDB.UpdateItem`.
    pub calls: BTreeMap<String, u64>,
}

/// The usage since the stack started or was last zeroed, by function (the template's logical id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    pub functions: BTreeMap<String, FunctionUsage>,
}

impl UsageReport {
    /// Calls of one `Service.Operation`, over every function.
    pub fn calls(&self, operation: &str) -> u64 {
        self.functions.values().filter_map(|f| f.calls.get(operation)).sum()
    }
}

#[derive(Debug, Default)]
struct State {
    calls: BTreeMap<String, BTreeMap<String, u64>>,
    invocations: BTreeMap<String, BTreeSet<u64>>,
}

#[derive(Debug, Default)]
pub struct Usage {
    state: Mutex<State>,
}

impl Usage {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, function: &str, invocation: u64, operation: String) {
        let mut s = self.lock();
        *s.calls
            .entry(function.to_owned())
            .or_default()
            .entry(operation)
            .or_default() += 1;
        s.invocations.entry(function.to_owned()).or_default().insert(invocation);
    }

    pub fn report(&self) -> UsageReport {
        let s = self.lock();
        let functions = s
            .calls
            .iter()
            .map(|(f, calls)| {
                let invocations = s.invocations.get(f).map_or(0, |i| i.len() as u64);
                (
                    f.clone(),
                    FunctionUsage {
                        invocations,
                        calls: calls.clone(),
                    },
                )
            })
            .collect();
        UsageReport { functions }
    }

    pub fn reset(&self) {
        *self.lock() = State::default();
    }

    /// The interceptor that counts one client's calls.
    pub fn interceptor(self: &Arc<Self>) -> UsageInterceptor {
        UsageInterceptor(self.clone())
    }
}

#[derive(Debug, Clone)]
pub struct UsageInterceptor(Arc<Usage>);

impl Intercept for UsageInterceptor {
    fn name(&self) -> &'static str {
        "LocalStackUsage"
    }

    // Not `read_before_execution`: a client's interceptors run that before the operation's configuration (and its
    // `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some((function, id)), Some(meta)) = (crate::faults::current_invocation(), cfg.load::<Metadata>()) {
            self.0
                .record(&function, id, format!("{}.{}", meta.service(), meta.name()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_function_and_operation_and_invocations_once_each() {
        let u = Usage::new();
        u.record("IntakeFunction", 1, "DynamoDB.GetItem".into());
        u.record("IntakeFunction", 1, "SQS.SendMessage".into());
        u.record("IntakeFunction", 2, "DynamoDB.GetItem".into());
        u.record("ProcessorFunction", 3, "DynamoDB.GetItem".into());
        let r = u.report();
        assert_eq!(r.functions["IntakeFunction"].invocations, 2);
        assert_eq!(r.functions["IntakeFunction"].calls["DynamoDB.GetItem"], 2);
        assert_eq!(r.calls("DynamoDB.GetItem"), 3);
        u.reset();
        assert_eq!(u.report(), UsageReport::default());
    }
}
