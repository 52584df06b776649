#!/usr/bin/env bash
# Prints the project's performance figures:
#   1. the intake hot path vs a bare HMAC-SHA256 (median, ratio; measured side by side in one run)
#   2. ServiceTitan client calls per second and overhead per call, against the sandbox
#   3. token sources (in-memory, DynamoDB, token endpoint) side by side, and the connect route, on the local stack
#   4. the stripped arm64 release bootstrap size of each function (cargo-lambda, as SAM builds them)
#   5. the cold start to the first Runtime API `next` request against a local stub (host release build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$root/.local/venv/bin:$PATH"
functions=(webhook-intake event-processor tenant-admin token-refresh)

echo "== 1/5 intake hot path" >&2
cargo bench -q -p webhook-intake --bench intake_hot_path 2>/dev/null

echo "== 2/5 ServiceTitan client against the sandbox" >&2
cargo bench -q -p servicetitan --bench client_calls 2>/dev/null

echo "== 3/5 token sources (memory, DynamoDB, token endpoint) and connect, on the local stack" >&2
cargo bench -q -p integration-tests --bench token_paths 2>/dev/null

echo "== 4/5 arm64 release bootstrap sizes (cargo lambda build --release --arm64; takes minutes on 2 cores)" >&2
# One build per function, as SAM does: features are unified across the packages of one build, and only
# tenant-admin embeds the time zone database.
bins=(); for f in "${functions[@]}"; do bins+=(--bin "$f"); cargo-lambda lambda build --release --arm64 --bin "$f" >&2; done
echo "bootstrap sizes (stripped, aarch64):"
for f in "${functions[@]}"; do
  size=$(stat -c %s "target/lambda/$f/bootstrap")
  awk -v f="$f" -v s="$size" 'BEGIN { printf "  %-20s %10d bytes  %6.2f MB\n", f, s, s / 1000000 }'
done

echo "== 5/5 cold start (host release build)" >&2
cargo build -q --release "${bins[@]}" --bin coldstart
target/release/coldstart --runs 30 "${functions[@]/#/target/release/}"
