#!/usr/bin/env bash
# Prints the figures the webhook-intake issue asks for:
#   1. the intake hot path vs a bare HMAC-SHA256 (median, ratio; measured side by side in one run)
#   2. the stripped arm64 release bootstrap size of each function (cargo-lambda, as SAM builds them)
#   3. the cold start to the first Runtime API `next` request against a local stub (host release build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="$root/.local/venv/bin:$PATH"
functions=(webhook-intake event-processor)

echo "== 1/4 intake hot path" >&2
cargo bench -q -p webhook-intake --bench intake_hot_path 2>/dev/null

echo "== 2/4 ServiceTitan client against the sandbox" >&2
cargo bench -q -p servicetitan --bench client_calls 2>/dev/null

echo "== 3/4 arm64 release bootstrap sizes (cargo lambda build --release --arm64; takes minutes on 2 cores)" >&2
bins=(); for f in "${functions[@]}"; do bins+=(--bin "$f"); done
cargo-lambda lambda build --release --arm64 "${bins[@]}" >&2
echo "bootstrap sizes (stripped, aarch64):"
for f in "${functions[@]}"; do
  size=$(stat -c %s "target/lambda/$f/bootstrap")
  awk -v f="$f" -v s="$size" 'BEGIN { printf "  %-20s %10d bytes  %6.2f MB\n", f, s, s / 1000000 }'
done

echo "== 4/4 cold start (host release build)" >&2
cargo build -q --release "${bins[@]}" --bin coldstart
target/release/coldstart --runs 30 "${functions[@]/#/target/release/}"
