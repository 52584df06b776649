//! Faults the local stack injects on purpose, for the fault matrix (`make chaos`): set through `/_local/faults` or
//! [`crate::LocalStack::faults`], and reported with what they did.
//!
//! - **An AWS service refusing** the functions' calls until a moment on the virtual clock (`refuse`): every call a
//!   function makes to it fails before it is sent, as during an outage. The stack's own calls (its event sources
//!   polling, its scheduler firing) are AWS's side and go on.
//! - **A host killed mid-invocation** (`kill`): the invocation of a function that makes its `atCall`-th AWS call
//!   dies there. Its task is aborted at its next await, every further AWS call it makes fails, and it answers
//!   nothing: an SQS batch returns to its queue whole, an API request gets API Gateway's 502. What it wrote before
//!   stays written, as when a Lambda host dies.
//! - **Duplicated and reordered SQS deliveries** (`sqs`): each batch delivered to two invocations at once (a
//!   message is deleted if either succeeds), and each batch's messages shuffled.
//!
//! ServiceTitan's faults are the sandbox's (`/_sandbox/faults`), the sink's outages the sink's (`/_local/sink`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use shared::clock::SharedClock;

/// The AWS services a function calls, by the name `refuse` takes.
pub const SERVICES: &[&str] = &["dynamodb", "sqs", "scheduler", "secretsmanager"];

/// What `POST /_local/faults` takes; each field given replaces that fault.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    /// Service → seconds (virtual) from now that it refuses the functions' calls; 0 ends a refusal.
    #[serde(default)]
    pub refuse: BTreeMap<String, i64>,
    /// Kills to arm: each the next invocation of its `function` that makes its `atCall`-th AWS call, there.
    #[serde(default)]
    pub kill: Vec<Kill>,
    pub sqs: Option<SqsFaults>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kill {
    /// A function's logical id, e.g. `FollowUpRunnerFunction`.
    pub function: String,
    /// 1 kills at the invocation's first AWS call.
    pub at_call: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqsFaults {
    /// Every batch delivered to two invocations at once.
    #[serde(default)]
    pub duplicate: bool,
    /// Every batch's messages in a shuffled order.
    #[serde(default)]
    pub reorder: bool,
}

/// What the faults did, for the matrix's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultReport {
    /// Calls refused, by service.
    pub refused: BTreeMap<String, u64>,
    /// Invocations killed: (function, at which AWS call).
    pub killed: Vec<Kill>,
    /// SQS batches delivered twice.
    pub duplicated_batches: u64,
    /// SQS batches whose order was shuffled.
    pub reordered_batches: u64,
}

#[derive(Debug, Default)]
struct State {
    refuse: BTreeMap<String, Timestamp>,
    kill: Vec<Kill>,
    sqs: SqsFaults,
    report: FaultReport,
    rng: u64,
}

#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
    clock: SharedClock,
}

impl Faults {
    pub fn new(clock: SharedClock) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                rng: 0x9e37_79b9_7f4a_7c15,
                ..State::default()
            }),
            clock,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a request; field-level reasons when it names what does not exist.
    pub fn apply(&self, req: FaultRequest) -> Result<(), Vec<(String, String)>> {
        let mut errors = Vec::new();
        for (service, secs) in &req.refuse {
            if !SERVICES.contains(&service.as_str()) {
                errors.push((
                    format!("/refuse/{service}"),
                    format!("not one of {}", SERVICES.join(", ")),
                ));
            } else if !(0..=7 * 24 * 3600).contains(secs) {
                errors.push((format!("/refuse/{service}"), "seconds from 0 to a week".into()));
            }
        }
        for (i, k) in req.kill.iter().enumerate() {
            if k.at_call == 0 {
                errors.push((format!("/kill/{i}/atCall"), "1 or more".into()));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let now = self.clock.now();
        let mut s = self.lock();
        for (service, secs) in req.refuse {
            if secs == 0 {
                s.refuse.remove(&service);
            } else {
                s.refuse.insert(service, now + SignedDuration::from_secs(secs));
            }
        }
        s.kill.extend(req.kill);
        if let Some(sqs) = req.sqs {
            s.sqs = sqs;
        }
        Ok(())
    }

    /// Ends every fault; what they did is kept for [`Faults::report`].
    pub fn clear(&self) {
        let mut s = self.lock();
        s.refuse.clear();
        s.kill.clear();
        s.sqs = SqsFaults::default();
    }

    pub fn report(&self) -> FaultReport {
        self.lock().report.clone()
    }

    /// The faults in force, and what they did.
    pub fn view(&self) -> serde_json::Value {
        let s = self.lock();
        serde_json::json!({
            "refuse": s.refuse.iter().map(|(k, v)| (k.clone(), shared::clock::iso_millis(*v))).collect::<BTreeMap<_, _>>(),
            "kill": s.kill,
            "sqs": s.sqs,
            "report": s.report,
        })
    }

    /// The SQS faults in force for one batch, counted.
    pub fn sqs_batch(&self) -> SqsFaults {
        let mut s = self.lock();
        let f = s.sqs;
        s.report.duplicated_batches += u64::from(f.duplicate);
        s.report.reordered_batches += u64::from(f.reorder);
        f
    }

    /// Shuffles `items` (Fisher–Yates on a fixed-seed xorshift, so a run can be repeated).
    pub fn shuffle<T>(&self, items: &mut [T]) {
        let mut s = self.lock();
        for i in (1..items.len()).rev() {
            s.rng ^= s.rng << 13;
            s.rng ^= s.rng >> 7;
            s.rng ^= s.rng << 17;
            items.swap(i, (s.rng % (i as u64 + 1)) as usize);
        }
    }

    /// Decides a function's AWS call: `Err` when its service refuses or its host dies here.
    fn check(&self, service: &'static str, invocation: Option<&Invocation>) -> Result<(), BoxError> {
        if let Some(inv) = invocation {
            if inv.dead.load(Ordering::SeqCst) {
                return Err("the host running this invocation was killed".into());
            }
            let call = inv.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let mut s = self.lock();
            if let Some(i) = s
                .kill
                .iter()
                .position(|k| k.function == inv.function && k.at_call == call)
            {
                let kill = s.kill.remove(i);
                s.report.killed.push(kill);
                drop(s);
                inv.kill();
                return Err("the host running this invocation was killed".into());
            }
        }
        let mut s = self.lock();
        let now = self.clock.now();
        if let Some(until) = s.refuse.get(service).copied() {
            if now < until {
                *s.report.refused.entry(service.to_owned()).or_default() += 1;
                return Err(format!("{service} is refusing calls (an injected outage until {until})").into());
            }
            s.refuse.remove(service);
        }
        Ok(())
    }

    /// The interceptor for one service's client.
    pub fn interceptor(self: &Arc<Self>, service: &'static str) -> FaultInterceptor {
        FaultInterceptor {
            service,
            faults: self.clone(),
        }
    }
}

/// One invocation of a hosted function, as its AWS calls see it (a task-local).
#[derive(Debug)]
pub struct Invocation {
    function: String,
    /// Unique within the process ([`crate::usage`] counts invocations by it).
    id: u64,
    calls: AtomicUsize,
    dead: AtomicBool,
    abort: OnceLock<tokio::task::AbortHandle>,
}

impl Invocation {
    fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        if let Some(a) = self.abort.get() {
            a.abort();
        }
    }
}

tokio::task_local! {
    static INVOCATION: Arc<Invocation>;
}

static NEXT_INVOCATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The function whose invocation is running on this task, and the invocation's id; `None` outside one.
pub(crate) fn current_invocation() -> Option<(String, u64)> {
    INVOCATION.try_with(|i| (i.function.clone(), i.id)).ok()
}

/// Runs one invocation of `function` as a task of its own that a kill can abort. `None` when its host was killed.
pub async fn invoke<T: Send + 'static>(
    function: &str,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let inv = Arc::new(Invocation {
        function: function.to_owned(),
        id: NEXT_INVOCATION.fetch_add(1, Ordering::SeqCst),
        calls: AtomicUsize::new(0),
        dead: AtomicBool::new(false),
        abort: OnceLock::new(),
    });
    let task = tokio::spawn(INVOCATION.scope(inv.clone(), fut));
    let _ = inv.abort.set(task.abort_handle());
    match task.await {
        Ok(out) if !inv.dead.load(Ordering::SeqCst) => Some(out),
        Ok(_) => None,
        Err(e) if e.is_cancelled() => None,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Checks each call of a function's AWS client against the faults, before anything is sent.
#[derive(Debug)]
pub struct FaultInterceptor {
    service: &'static str,
    faults: Arc<Faults>,
}

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "LocalStackFaults"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let invocation = INVOCATION.try_with(Arc::clone).ok();
        self.faults.check(self.service, invocation.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> (Arc<Faults>, Arc<shared::clock::VirtualClock>) {
        let clock = Arc::new(shared::clock::VirtualClock::new());
        (Faults::new(clock.clone()), clock)
    }

    #[test]
    fn a_refusal_lasts_until_its_moment_on_the_virtual_clock() {
        let (f, clock) = faults();
        f.apply(FaultRequest {
            refuse: [("dynamodb".to_owned(), 300)].into(),
            ..FaultRequest::default()
        })
        .unwrap();
        assert!(f.check("dynamodb", None).is_err());
        assert!(f.check("sqs", None).is_ok());
        clock.advance(SignedDuration::from_secs(299));
        assert!(f.check("dynamodb", None).is_err());
        clock.advance(SignedDuration::from_secs(1));
        assert!(f.check("dynamodb", None).is_ok());
        assert_eq!(f.report().refused["dynamodb"], 2);
    }

    #[test]
    fn bad_requests_name_their_fields() {
        let (f, _) = faults();
        let errors = f
            .apply(FaultRequest {
                refuse: [("s3".to_owned(), 60), ("sqs".to_owned(), -1)].into(),
                kill: vec![Kill {
                    function: "X".into(),
                    at_call: 0,
                }],
                sqs: None,
            })
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, vec!["/refuse/s3", "/refuse/sqs", "/kill/0/atCall"]);
        assert_eq!(f.view()["refuse"], serde_json::json!({}));
    }

    #[tokio::test]
    async fn a_killed_invocation_answers_nothing_and_makes_no_call_after_the_kill() {
        let (f, _) = faults();
        f.apply(FaultRequest {
            kill: vec![Kill {
                function: "F".into(),
                at_call: 2,
            }],
            ..FaultRequest::default()
        })
        .unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (f2, c2) = (f.clone(), calls.clone());
        let out = invoke("F", async move {
            for i in 1..=4 {
                let inv = INVOCATION.with(Arc::clone);
                let r = f2.check("dynamodb", Some(&inv));
                c2.lock().unwrap().push((i, r.is_ok()));
                tokio::task::yield_now().await;
            }
            "answered"
        })
        .await;
        assert_eq!(out, None);
        assert_eq!(*calls.lock().unwrap(), vec![(1, true), (2, false)]);
        assert_eq!(f.report().killed.len(), 1);
        // Disarmed: the next invocation runs whole.
        assert_eq!(invoke("F", async { 1 }).await, Some(1));
    }

    #[test]
    fn a_shuffle_is_a_permutation() {
        let (f, _) = faults();
        let mut v: Vec<u32> = (0..10).collect();
        f.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
