"""The Python baseline: the HubSpot webhook handler a founder would otherwise write.

What draftgate's `crm-webhook` does for a HubSpot batch, in Python + boto3 under the Lambda
runtime interface client: verify `X-HubSpot-Signature-v3` (HMAC-SHA256 over method, URL, body
and timestamp, 5-minute window), parse the batch (up to 100 events), normalise each event, and
store each one once (a conditional PutItem on the pipeline table). The boto3 client is built at
init, as the AWS guidance says. `scripts/bench-init.py` starts it next to the Rust functions.
"""

import base64
import hashlib
import hmac
import json
import os
import time

import boto3

DYNAMODB = boto3.client("dynamodb")
SECRET = os.environ["HUBSPOT_CLIENT_SECRET"].encode()
TABLE = os.environ["PIPELINE_TABLE"]
BASE_URL = os.environ["PUBLIC_BASE_URL"].rstrip("/")
KINDS = {
    "deal.creation": "deal_created",
    "deal.propertyChange": "deal_changed",
    "deal.deletion": "deal_deleted",
}


def answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}


def handler(event, _context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    ts = headers.get("x-hubspot-request-timestamp", "")
    given = headers.get("x-hubspot-signature-v3", "")
    if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 300_000:
        return answer(401, {"error": "stale or missing timestamp"})
    url = BASE_URL + event.get("rawPath", "")
    if event.get("rawQueryString"):
        url += "?" + event["rawQueryString"]
    mac = hmac.new(SECRET, ("POST" + url + body + ts).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(mac).decode(), given):
        return answer(401, {"error": "signature does not match"})
    try:
        batch = json.loads(body)
    except ValueError:
        return answer(400, {"error": "body is not JSON"})
    if not isinstance(batch, list) or len(batch) > 100:
        return answer(400, {"error": "expected a batch of at most 100 events"})
    events = []
    for e in batch:
        events.append({
            "id": f"hubspot:{e['eventId']}",
            "deal": f"hubspot:{e['objectId']}",
            "kind": KINDS.get(e.get("subscriptionType"), "other"),
            "property": e.get("propertyName"),
            "value": e.get("propertyValue"),
            "occurred_at": e["occurredAt"],
        })
    events.sort(key=lambda e: e["occurred_at"])
    accepted = duplicates = 0
    for e in events:
        try:
            DYNAMODB.put_item(
                TableName=TABLE,
                Item={"PK": {"S": "EVENT#" + e["id"]}, "SK": {"S": "EVENT"},
                      "doc": {"S": json.dumps(e)}},
                ConditionExpression="attribute_not_exists(PK)",
            )
            accepted += 1
        except DYNAMODB.exceptions.ConditionalCheckFailedException:
            duplicates += 1
    return answer(200, {"accepted": accepted, "duplicates": duplicates})
