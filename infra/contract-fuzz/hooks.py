"""Schemathesis hooks for docs/api.yaml on the local stack (infra/contract-fuzz/run.sh).

Every request is authorised as a caller of that route would be: the admin token (the stack's stand-in for SigV4)
on the IAM routes, a contractor's token on /dashboard, and on the webhook routes an HMAC-SHA256 signature of the
exact bytes sent, with the key run.sh installed. So generated requests reach the handlers, where the document's
rules are what is being tested, while schemathesis's auth checks still see each route refuse no and bad tokens.
"""

import base64
import hashlib
import hmac
import json
import os

import requests
import schemathesis

WEBHOOK_KEY = os.environ["CONTRACT_FUZZ_WEBHOOK_KEY"].encode()
ADMIN_TOKEN = os.environ["CONTRACT_FUZZ_ADMIN_TOKEN"]
OWNER_TOKEN = os.environ["CONTRACT_FUZZ_OWNER_TOKEN"]
API_URL = os.environ["CONTRACT_FUZZ_API_URL"]
CONNECT_BODY = os.environ["CONTRACT_FUZZ_CONNECT"]


# Cached per kind of route: the admin token and the contractor's are different credentials.
@schemathesis.auth(cache_by_key=lambda case, context: case.operation.path.startswith("/dashboard/"))
class LocalStackAuth:
    """The stack's stand-ins for SigV4 (the admin token) and for a contractor's JWT (an owner of the demo tenant).
    As an auth provider, not a header: schemathesis's auth checks take it off to see that each route refuses."""

    def get(self, case, context):
        return OWNER_TOKEN if case.operation.path.startswith("/dashboard/") else ADMIN_TOKEN

    def set(self, case, data, context):
        case.headers = case.headers if case.headers is not None else {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    if not case.operation.path.startswith("/webhooks/"):
        return
    # Sign what goes on the wire: the body as bytes, serialised here once. (A body schemathesis left unset is sent
    # as no body at all.)
    body = case.body
    if isinstance(body, bytes):
        raw = body
    elif body is None:
        raw = b"null"
    else:
        try:
            raw = json.dumps(body).encode()
        except TypeError:
            return
    case.body = raw
    digest = hmac.new(WEBHOOK_KEY, raw, hashlib.sha256).digest()
    case.headers = case.headers if case.headers is not None else {}
    case.headers["X-ServiceTitan-Signature"] = base64.b64encode(digest).decode()


@schemathesis.hook
def after_call(context, case, response):
    # A generated disconnect of the demo tenant would leave every later request on it answering "disconnected":
    # connect it again, so the run keeps testing the connected paths too.
    if case.method.upper() != "DELETE" or not case.operation.path.endswith("/{tenantId}/servicetitan"):
        return
    if response.status_code != 200:
        return
    tenant = (case.path_parameters or {}).get("tenantId")
    reply = requests.put(
        f"{API_URL}/admin/tenants/{tenant}/servicetitan",
        data=CONNECT_BODY,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )
    reply.raise_for_status()
