#!/usr/bin/env bash
# Starts or stops the local stack in the background. State lives in .local/ (git-ignored).
#   infra/stack.sh up     start and wait until .local/endpoints.json exists (the stack writes it when ready)
#   infra/stack.sh down   stop it
#   infra/stack.sh status say whether it runs
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/.local"
pidfile="$state/stack.pid"
log="$state/stack.log"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/local-stack"
mkdir -p "$state"

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
up)
  if running; then
    echo "local stack already running (pid $(cat "$pidfile")); endpoints in .local/endpoints.json" >&2
    exit 0
  fi
  [[ -x $bin ]] || { echo "missing $bin; run 'make build' first" >&2; exit 1; }
  rm -f "$state/endpoints.json"
  # setsid: the stack and its moto child form one process group, so 'down' stops both.
  setsid "$bin" --repo "$root" up >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  printf 'starting the local stack (moto + functions)' >&2
  for _ in $(seq 1 240); do
    if [[ -f $state/endpoints.json ]]; then
      printf ' ready\n' >&2
      echo "API:       $(python3 -c 'import json;print(json.load(open("'"$state"'/endpoints.json"))["api_url"])')" >&2
      echo "endpoints: .local/endpoints.json   log: .local/stack.log   stop: make down" >&2
      exit 0
    fi
    if ! running; then
      printf ' failed\n' >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    printf '.' >&2
    sleep 0.5
  done
  printf ' timed out after 120 s\n' >&2
  tail -n 30 "$log" >&2
  exit 1
  ;;
down)
  if ! running; then
    echo "local stack is not running" >&2
    rm -f "$pidfile" "$state/endpoints.json"
    exit 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile" "$state/endpoints.json"
  echo "local stack stopped" >&2
  ;;
status)
  if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi
  ;;
*)
  echo "usage: infra/stack.sh up|down|status" >&2
  exit 2
  ;;
esac
