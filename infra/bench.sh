#!/usr/bin/env bash
# Prints the project's performance figures:
#   1. the intake hot path vs a bare HMAC-SHA256 (median, ratio; measured side by side in one run)
#   2. ServiceTitan client calls per second and overhead per call, against the sandbox
#   3. token sources (in-memory, DynamoDB, token endpoint) side by side, and the connect route, on the local stack
#   4. the follow-up engine's CPU per decision and per check before send, vs parsing one ServiceTitan response
#   5. the follow-up engine on the local stack: events, follow-ups and stops per second, ServiceTitan calls each
#   6. leads on the local stack: new customer, matched customer and booking; leads per second, ServiceTitan calls each
#   7. the reconciler on the local stack: backfill records per second, calls per idle reconcile, sale to halted run
#   8. the stripped arm64 release bootstrap size of each function (cargo-lambda, as SAM builds them)
#   9. the cold start to the first Runtime API `next` request against a local stub (host release build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$root/.local/venv/bin:$PATH"
functions=(webhook-intake event-processor followup-runner inbound-messages lead-intake lead-creator reconciler
  reconcile-fanout tenant-admin token-refresh)

echo "== 1/9 intake hot path" >&2
cargo bench -q -p webhook-intake --bench intake_hot_path 2>/dev/null

echo "== 2/9 ServiceTitan client against the sandbox" >&2
cargo bench -q -p integration-tests --bench client_calls 2>/dev/null

echo "== 3/9 token sources (memory, DynamoDB, token endpoint) and connect, on the local stack" >&2
cargo bench -q -p integration-tests --bench token_paths 2>/dev/null

echo "== 4/9 follow-up engine CPU" >&2
cargo bench -q -p followups --bench engine 2>/dev/null

echo "== 5/9 follow-up engine on the local stack (events, follow-ups, stops)" >&2
cargo bench -q -p integration-tests --bench followup_paths 2>/dev/null

echo "== 6/9 leads on the local stack (new customer, matched, booking)" >&2
cargo bench -q -p integration-tests --bench lead_paths 2>/dev/null

echo "== 7/9 reconciler on the local stack (backfill, idle tenant, sale to halted run)" >&2
cargo bench -q -p integration-tests --bench reconcile_paths 2>/dev/null

echo "== 8/9 arm64 release bootstrap sizes (cargo lambda build --release --arm64; takes minutes on 2 cores)" >&2
# One build per function, as SAM does: features are unified across the packages of one build, and only
# the functions that reason about local time (processor, runner, admin) embed the time zone database.
bins=(); for f in "${functions[@]}"; do bins+=(--bin "$f"); cargo-lambda lambda build --release --arm64 --bin "$f" >&2; done
echo "bootstrap sizes (stripped, aarch64):"
for f in "${functions[@]}"; do
  size=$(stat -c %s "target/lambda/$f/bootstrap")
  awk -v f="$f" -v s="$size" 'BEGIN { printf "  %-20s %10d bytes  %6.2f MB\n", f, s, s / 1000000 }'
done

echo "== 9/9 cold start (host release build)" >&2
cargo build -q --release "${bins[@]}" --bin coldstart
target/release/coldstart --runs 30 "${functions[@]/#/target/release/}"
