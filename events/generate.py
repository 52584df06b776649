#!/usr/bin/env python3
"""Writes the sample Lambda events in this folder. Run from the repo root: python3 events/generate.py

The HTTP samples are API Gateway HTTP API (payload v2.0) proxy requests whose bodies are signed with the demo
webhook key that `make demo` stores in the local stack, for the demo tenant it connects (1001). The SQS sample is a
batch as the event source mapping delivers it. tests/tests/sample_events.rs checks every file.

The tenant-admin samples are requests to its AWS_IAM routes, with the caller identity API Gateway adds once the
SigV4 signature checks out (fake values); the connect sample carries the local ServiceTitan sandbox's public demo
credentials (infra/servicetitan-sandbox/src/lib.rs), not real ones. The token-refresh sample is the Input its
EventBridge Scheduler schedule passes (template.yaml), which the function receives as is. The follow-up runner's
sample is a step message on the follow-ups queue; the inbound-messages sample is a customer's reply relayed by the AI
platform to POST /inbound. The lead-intake sample is a chat lead from the AI widget (POST /leads, AWS_IAM); the
lead-creator sample is that lead's message on the leads queue. The reconcile-fanout sample is its schedule's Input;
the reconciler sample is one tenant's reconcile request on the reconcile queue.
"""

import base64
import hashlib
import hmac
import json
import pathlib

DEMO_KEY = b"demo-webhook-hmac-key-0123456789abcdef"  # infra/local-stack/src/demo.rs
TENANT = "1001"
HERE = pathlib.Path(__file__).parent


def apigw(route_key, path, body, path_parameters=None, signed=True, method="POST", headers=None, authorizer=None):
    """`body` None: no body (a GET). `headers` None: a ServiceTitan webhook delivery's, signed unless told not to."""
    if headers is None:
        headers = {"content-type": "application/json", "user-agent": "ServiceTitan-Webhooks"}
        if signed:
            digest = hmac.new(DEMO_KEY, body.encode(), hashlib.sha256).digest()
            headers["x-servicetitan-signature"] = base64.b64encode(digest).decode()
    context = {"accountId": "123456789012", "apiId": "local"}
    if authorizer:
        context["authorizer"] = authorizer
    context.update({
        "domainName": "local.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "local",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10",
                 "userAgent": headers.get("user-agent", "")},
        "requestId": "sample-request-1",
        "routeKey": route_key,
        "stage": "$default",
        "time": "28/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1795860000000,
    })
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": context,
    }
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = False
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


# What API Gateway puts in requestContext.authorizer for an AWS_IAM route once the SigV4 signature checks out: the
# signing identity. Fake values (AWS's documentation examples): a session of the role the local stack binds to every
# tenant (MachineCallers; infra/local-stack/src/http_api.rs LOCAL_OPERATOR).
IAM_CALLER = {"iam": {
    "accessKey": "AKIAIOSFODNN7EXAMPLE",
    "accountId": "123456789012",
    "callerId": "AROACKCEVSQ6C2EXAMPLE:sample",
    "cognitoIdentity": None,
    "principalOrgId": None,
    "userArn": "arn:aws:sts::123456789012:assumed-role/local-operator/sample",
    "userId": "AROACKCEVSQ6C2EXAMPLE:sample",
}}


def admin(method, route, path, path_parameters, body=None):
    """A SigV4-signed request to a tenant-admin route, as API Gateway hands it to the function."""
    headers = {"accept": "application/json", "user-agent": "tenant-admin-sample"}
    if body is not None:
        headers["content-type"] = "application/json"
    return apigw(f"ANY {route}", path, body, path_parameters, method=method, headers=headers, authorizer=IAM_CALLER)


def write(name, obj):
    (HERE / name).write_text(json.dumps(obj, indent=2) + "\n")


# No occurredAt: the intake refuses events older than its replay window (30 days), and a fixed date would age past
# it. Without one the intake takes the time of receipt.
estimate_sent = json.dumps({
    "eventId": "sample-estimate-sent-0001",
    "tenantId": TENANT,
    "data": {"id": 90211, "jobId": 4411, "name": "2-ton AC replacement", "status": {"value": 0, "name": "Open"}},
}, separators=(",", ":"))
write("webhook-intake.json",
      apigw("ANY /webhooks/servicetitan/{event}", "/webhooks/servicetitan/estimate.sent", estimate_sent,
            {"event": "estimate.sent"}))

payment = json.dumps({
    "eventId": "sample-payment-posted-0001",
    "eventType": "payment.posted",
    "tenantId": TENANT,
    "data": {"id": 5521, "invoiceId": 7713, "total": "1249.00"},
}, separators=(",", ":"))
write("webhook-intake-envelope-event.json", apigw("ANY /webhooks/servicetitan", "/webhooks/servicetitan", payment))
write("webhook-intake-unsigned.json", apigw("ANY /webhooks/servicetitan", "/webhooks/servicetitan", payment, signed=False))

queued = {
    "tenant_id": TENANT,
    "event_name": "estimate.sent",
    "event_id": "sample-estimate-sent-0002",
    "event_id_source": "envelope",
    "entity": {"kind": "estimate", "id": "90211"},
    "occurred_at": "2026-11-28T10:00:00.1234567Z",
    "received_at": "2026-11-28T10:00:01Z",
    "payload": {"eventId": "sample-estimate-sent-0002", "tenantId": TENANT, "data": {"id": 90211}},
}
body = json.dumps(queued, separators=(",", ":"))
write("event-processor.json", {"Records": [{
    "messageId": "6f1c2c0e-6f0a-4a57-9d3c-3f4b1e1c0001",
    "receiptHandle": "sample-receipt-handle",
    "body": body,
    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795860001000", "SenderId": "AIDASAMPLE",
                   "ApproximateFirstReceiveTimestamp": "1795860001050"},
    "messageAttributes": {
        "tenant_id": {"stringValue": TENANT, "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "event_name": {"stringValue": "estimate.sent", "stringListValues": [], "binaryListValues": [],
                       "dataType": "String"},
    },
    "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local-EventsQueue",
    "awsRegion": "us-east-1",
}]})

write("tenant-admin-status.json",
      admin("GET", "/admin/tenants/{tenantId}/status", f"/admin/tenants/{TENANT}/status", {"tenantId": TENANT}))
connect = json.dumps({
    "environment": "integration",
    "clientId": "cid.demo1001",  # the sandbox's demo tenant (DEMO_CLIENT_ID etc.)
    "clientSecret": "cs1.demo-secret-1001",
    "appKey": "ak1.demo-app-key",
}, separators=(",", ":"))
write("tenant-admin-connect.json",
      admin("PUT", "/admin/tenants/{tenantId}/servicetitan", f"/admin/tenants/{TENANT}/servicetitan",
            {"tenantId": TENANT}, connect))

# TokenRefreshFunction's ScheduleV2 Input, delivered as the whole event.
write("token-refresh.json", {"source": "token-refresh-schedule"})

# A follow-up step due (a step schedule's Input, as the follow-ups queue delivers it to the runner). The run does not
# exist on a fresh stack, so the runner treats it as stale and does nothing, as it would for a duplicate.
step = json.dumps({
    "kind": "followup.step", "tenantId": TENANT, "runId": "estimate_follow_up.estimate-90211.1",
    "step": 0, "round": 0, "seq": 0, "scheduledTime": "2026-11-29T16:00:00Z",
}, separators=(",", ":"))
write("followup-runner.json", {"Records": [{
    "messageId": "6f1c2c0e-6f0a-4a57-9d3c-3f4b1e1c0002",
    "receiptHandle": "sample-receipt-handle",
    "body": step,
    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795860001000", "SenderId": "AIDASAMPLE",
                   "ApproximateFirstReceiveTimestamp": "1795860001050"},
    "messageAttributes": {},
    "md5OfBody": hashlib.md5(step.encode()).hexdigest(),
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local-FollowUpsQueue",
    "awsRegion": "us-east-1",
}]})

# A customer's reply relayed by the AI platform (SigV4-signed, AWS_IAM route).
reply = json.dumps({"tenantId": TENANT, "channel": "sms", "from": "+15125550181",
                    "text": "Can you come Tuesday instead?"}, separators=(",", ":"))
inbound = admin("POST", "/inbound", "/inbound", None, reply)
write("inbound-messages.json", inbound)
# A chat lead from the AI widget (SigV4-signed, AWS_IAM route). Fake person, 555 number, the demo tenant.
chat_lead = json.dumps({
    "leadId": "sample-chat-lead-0001", "tenantId": TENANT, "source": "chat",
    "name": "Dana Whitfield", "phone": "(512) 555-0142", "email": "dana.whitfield@example.com",
    "address": {"street": "1407 Barton Hills Drive", "unit": "Apt 2", "city": "Austin", "state": "TX",
                "zip": "78704"},
    "service": "AC not cooling", "priority": "high",
    "summary": "Upstairs AC blowing warm air since last night; thermostat set to 72, house at 84.",
    "transcript": "Visitor: my upstairs AC is blowing warm air\nAI: sorry to hear that, when did it start?",
    "consent": {"sms": True, "email": True},
}, separators=(",", ":"))
write("lead-intake.json", admin("POST", "/leads", "/leads", None, chat_lead))

create = json.dumps({"kind": "lead.create", "tenantId": TENANT, "leadId": "sample-chat-lead-0001"},
                    separators=(",", ":"))
write("lead-creator.json", {"Records": [{
    "messageId": "6f1c2c0e-6f0a-4a57-9d3c-3f4b1e1c0003",
    "receiptHandle": "sample-receipt-handle",
    "body": create,
    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795860001000", "SenderId": "AIDASAMPLE",
                   "ApproximateFirstReceiveTimestamp": "1795860001050"},
    "messageAttributes": {},
    "md5OfBody": hashlib.md5(create.encode()).hexdigest(),
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local-LeadsQueue",
    "awsRegion": "us-east-1",
}]})
# ReconcileFanOutFunction's ScheduleV2 Input, delivered as the whole event.
write("reconcile-fanout.json", {"source": "reconcile-schedule"})

reconcile_request = json.dumps({"kind": "reconcile", "tenantId": TENANT, "requestedAt": "2026-11-28T10:00:00Z",
                                "reason": "rerun"}, separators=(",", ":"))
write("reconciler.json", {"Records": [{
    "messageId": "6f1c2c0e-6f0a-4a57-9d3c-3f4b1e1c0004",
    "receiptHandle": "sample-receipt-handle",
    "body": reconcile_request,
    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795860001000", "SenderId": "AIDASAMPLE",
                   "ApproximateFirstReceiveTimestamp": "1795860001050"},
    "messageAttributes": {},
    "md5OfBody": hashlib.md5(reconcile_request.encode()).hexdigest(),
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local-ReconcileQueue",
    "awsRegion": "us-east-1",
}]})
print("wrote", ", ".join(sorted(p.name for p in HERE.glob("*.json"))))
