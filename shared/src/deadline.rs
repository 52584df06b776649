//! The invocation's deadline, for every outbound call made while handling it.
//!
//! A Lambda is stopped at its timeout, mid-call if need be: a lead half-created, a lease held to its end. So each
//! handler runs [`within`] its invocation's deadline (Lambda's context says when that is; the local stack uses the
//! template's `Timeout`), and clients ask [`remaining`] how long a request may take or whether a retry still fits.
//! Outside [`within`] there is no deadline, and calls take their own timeouts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Kept back from the deadline for what follows the calls: recording the outcome, releasing a lease, answering.
pub const MARGIN: Duration = Duration::from_secs(3);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `f` with `deadline` as the deadline of every call it makes (on this task).
pub async fn within<F: Future>(deadline: Instant, f: F) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

/// The deadline `timeout` from now (what the local stack gives a hosted function).
pub fn after(timeout: Duration) -> Instant {
    Instant::now() + timeout
}

/// Lambda's deadline (`Context::deadline`, milliseconds since the Unix epoch) as an [`Instant`].
pub fn from_epoch_millis(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// How long calls may still take: the time to the deadline less [`MARGIN`] (zero once that has passed), or `None`
/// outside [`within`].
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|d| d.saturating_duration_since(Instant::now()).saturating_sub(MARGIN))
        .ok()
}

/// `timeout`, shortened to what [`remaining`] allows.
pub fn cap(timeout: Duration) -> Duration {
    remaining().map_or(timeout, |left| timeout.min(left))
}

/// Whether waiting `wait` and then making a call still fits before the deadline.
pub fn fits(wait: Duration) -> bool {
    remaining().is_none_or(|left| wait < left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_outside_an_invocation_have_no_deadline() {
        assert_eq!(remaining(), None);
        assert_eq!(cap(Duration::from_secs(30)), Duration::from_secs(30));
        assert!(fits(Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn inside_one_the_margin_is_kept_back() {
        within(after(Duration::from_secs(10)), async {
            let left = remaining().unwrap();
            assert!(
                left <= Duration::from_secs(7) && left > Duration::from_secs(6),
                "{left:?}"
            );
            assert!(cap(Duration::from_secs(30)) <= Duration::from_secs(7));
            assert_eq!(cap(Duration::from_secs(1)), Duration::from_secs(1));
            assert!(fits(Duration::from_secs(5)));
            assert!(!fits(Duration::from_secs(8)));
        })
        .await;
        within(after(Duration::from_secs(2)), async {
            assert_eq!(remaining(), Some(Duration::ZERO), "less than the margin left: nothing");
        })
        .await;
    }

    #[test]
    fn lambdas_deadline_converts_from_epoch_millis() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            let d = from_epoch_millis(now_ms + 30_000);
            let left = d.saturating_duration_since(Instant::now());
            assert!(
                left > Duration::from_secs(29) && left <= Duration::from_secs(30),
                "{left:?}"
            );
            assert!(
                from_epoch_millis(now_ms - 5_000) <= Instant::now(),
                "a past deadline is now"
            );
        });
    }
}
