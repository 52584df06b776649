#!/usr/bin/env bash
# Contract fuzzing: schemathesis (pinned in infra/requirements-tools.txt) generates requests from docs/api.yaml for
# every operation and checks each answer against the document: no 5xx, documented status codes, content types,
# headers and schemas, schema-valid data accepted and invalid data refused. Runs against the local stack that
# `make up` started (`make contract` does both), with a webhook key and a connected demo tenant set up here, and
# hooks.py signing and authorising each request. Prints schemathesis's summary; exit status is schemathesis's.
#   CONTRACT_MAX_EXAMPLES (default 25) examples per operation and phase.
# Every check runs but missing_required_header, which expects 401 for a request without Authorization: API
# Gateway's IAM authorizer answers 403 (docs/api.yaml says so), and ignored_auth still sees every secured route
# refuse a missing and a wrong token. schemathesis.toml beside this script makes 422 a pass for schema-valid data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENDPOINTS="${ROOT}/.local/endpoints.json"
VENV="${ROOT}/.local/venv"
log() { echo "contract-fuzz: $*" >&2; }

[[ -f "${ENDPOINTS}" ]] || { log "no ${ENDPOINTS#"${ROOT}"/}: start the stack with make up"; exit 2; }
field() { "${VENV}/bin/python" -c "import json,sys; d=json.load(open('${ENDPOINTS}')); print(eval(sys.argv[1]))" "$1"; }
API="$(field 'd["api_url"]')"
TOKEN="$(field 'd["admin_token"]')"
KEY="contract-fuzz-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

call() { # method path [json]
  curl -sS -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer ${TOKEN}" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} "${API}$2"
}
log "installing a webhook signing key and connecting the demo tenant"
status="$(call POST /operator/webhook-keys "{\"id\": \"contract-fuzz-$(date +%s)\", \"secret\": \"${KEY}\"}")"
[[ "${status}" == 201 ]] || { log "adding the key answered ${status}"; exit 1; }
TENANT="$(field 'd["demo_tenant"]["tenantId"]')"
connect="$(field 'json.dumps({"environment": "integration", "clientId": d["demo_tenant"]["clientId"], "clientSecret": d["demo_tenant"]["clientSecret"], "appKey": d["demo_tenant"]["appKey"]})')"
status="$(call PUT "/admin/tenants/${TENANT}/servicetitan" "${connect}")"
[[ "${status}" == 200 ]] || { log "connecting tenant ${TENANT} answered ${status}"; exit 1; }
OWNER="$(curl -sS -X POST -H "Authorization: Bearer ${TOKEN}" -H 'Content-Type: application/json' \
  -d "{\"tenantId\": \"${TENANT}\", \"role\": \"owner\"}" "${API}/_local/login" |
  "${VENV}/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

log "schemathesis over docs/api.yaml at ${API} ($(grep -c '^  /' "${ROOT}/docs/api.yaml") paths)"
cd "${ROOT}/infra/contract-fuzz"
CONTRACT_FUZZ_WEBHOOK_KEY="${KEY}" CONTRACT_FUZZ_ADMIN_TOKEN="${TOKEN}" CONTRACT_FUZZ_OWNER_TOKEN="${OWNER}" \
CONTRACT_FUZZ_API_URL="${API}" CONTRACT_FUZZ_CONNECT="${connect}" \
SCHEMATHESIS_HOOKS=hooks \
  "${VENV}/bin/schemathesis" run "${ROOT}/docs/api.yaml" \
    --url "${API}" \
    --checks all \
    --exclude-checks missing_required_header \
    --max-examples "${CONTRACT_MAX_EXAMPLES:-25}" \
    --workers 2 \
    --seed "${CONTRACT_SEED:-16}" \
    --no-color \
    "$@"
