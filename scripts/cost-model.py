#!/usr/bin/env python3
"""What draftgate costs to run, from counted requests priced at AWS list prices.

1. Starts the AWS emulator (infra/emulator.py), which counts every API request by operation and
   estimates DynamoDB request units from each item's size, and creates the template's resources.
2. Runs `cargo run -p draftgate-tests --example cost_model -- DEALS`: draftgate's own services on
   the AWS adapters go through webhooks, a sweep, evaluations, drafts, approvals and CRM write-back
   (tests/examples/cost_model.rs), reporting the requests of each phase.
3. Prices them per unit (per webhook, per due deal, per draft, per approval, per sweep) and for
   two months: a 30-deal founder, and 100 k deals with 10 M webhooks.

    python3 scripts/cost-model.py [--deals 30] [--json target/cost-model.json]

Prices: us-east-1 list prices (on-demand, no free tier), in PRICES below. Lambda at 128 MB on
arm64 (the template's defaults), billed per ms of handler time measured here against the
emulator. DynamoDB units follow DynamoDB's item-size rules, on the larger of each written
item's size before and after the write (as DynamoDB bills a replacing put or an update).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"

# US East (N. Virginia) list prices, USD.
PRICES = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s_arm64": 0.0000133334,
    "http_api_request": 1.00 / 1e6,        # API Gateway HTTP API, first 300 M a month
    "dynamodb_wru": 0.625 / 1e6,           # on-demand write request unit
    "dynamodb_rru": 0.125 / 1e6,           # on-demand read request unit
    "sqs_fifo_request": 0.50 / 1e6,        # per 64 KB chunk
    "sqs_standard_request": 0.40 / 1e6,
    "eventbridge_event": 1.00 / 1e6,       # custom events put on a bus
    "scheduler_invocation": 1.00 / 1e6,    # EventBridge Scheduler
    "sns_publish": 0.50 / 1e6,
    "sns_email": 2.00 / 1e5,               # per email notification delivered
    "ses_email": 0.10 / 1e3,
    "secrets_secret_month": 0.40,
    "secrets_api": 0.05 / 1e4,
    "alarm_month": 0.10,
}
MEMORY_GB = 128 / 1024
# Lambda's SQS event source mapping long-polls each queue (20 s waits, about 5 pollers when
# idle): requests made whether or not anything happens, billed as SQS requests.
IDLE_POLLS_PER_QUEUE_MONTH = 5 * 3 * 60 * 24 * 30
QUEUES_POLLED = 3          # evaluate, drafts, CRM write-back (all FIFO)
ALARMS = 12                # the template's CloudWatch alarms (5 DLQs, 7 function errors)
SECRETS = 2                # the mailbox's read and send grants
SWEEPS_A_MONTH = 4 * 24 * 30
SYNCS_A_MONTH = 24 * 30


def price_counts(counts: dict, lambda_ms: float, invocations: int, api_requests: int) -> dict:
    """Dollars by service for one phase's counted requests."""
    out = {"Lambda": invocations * PRICES["lambda_request"]
           + math.ceil(lambda_ms) / 1000 * MEMORY_GB * PRICES["lambda_gb_s_arm64"],
           "API Gateway": api_requests * PRICES["http_api_request"],
           "DynamoDB": counts.get("DynamoDB:WriteUnits", 0) * PRICES["dynamodb_wru"]
           + counts.get("DynamoDB:ReadUnits", 0) * PRICES["dynamodb_rru"],
           "SQS": 0.0, "EventBridge": 0.0, "SNS": 0.0, "SES": 0.0, "Secrets Manager": 0.0}
    for op, n in counts.items():
        service = op.split(".", 1)[0]
        if service == "SQS":
            out["SQS"] += n * PRICES["sqs_fifo_request"]
        elif op == "EventBridge.PutEvents":
            out["EventBridge"] += n * PRICES["eventbridge_event"]
        elif op == "SNS.Publish":
            out["SNS"] += n * (PRICES["sns_publish"] + PRICES["sns_email"])
        elif service == "SES" or op.startswith("SESV2") or "outbound-emails" in op:
            out["SES"] += n * PRICES["ses_email"]
        elif service == "SecretsManager":
            out["Secrets Manager"] += n * PRICES["secrets_api"]
    return out


def run_counts(deals: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        pid = Path(tmp) / "moto.pid"
        endpoint = subprocess.check_output(
            [str(PY), "infra/emulator.py", "serve", "--port", "0", "--pidfile", str(pid),
             "--log", str(Path(tmp) / "moto.log")], cwd=ROOT, text=True).strip()
        try:
            env_file = Path(tmp) / "aws.env"
            subprocess.check_call([str(PY), "infra/emulator.py", "up", "--endpoint", endpoint,
                                   "--prefix", "cost", "--env-file", str(env_file)], cwd=ROOT,
                                  stderr=subprocess.DEVNULL)
            # Write units from each written item's stored size before and after the write.
            urllib.request.urlopen(urllib.request.Request(
                f"{endpoint}/draftgate/counts", data=b'{"item_sizes": true}', method="POST"))
            env = dict(os.environ)
            for line in env_file.read_text().splitlines():
                k, v = line.split("=", 1)
                env[k] = v
            env["RUST_LOG"] = "warn"
            out = subprocess.check_output(
                ["cargo", "run", "-q", "--locked", "-p", "draftgate-tests", "--example",
                 "cost_model", "--", str(deals)], cwd=ROOT, env=env, text=True)
        finally:
            subprocess.call([str(PY), "infra/emulator.py", "stop", "--pidfile", str(pid)], cwd=ROOT)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def per_unit(phase: dict) -> dict:
    """One phase's requests per unit, and its price per unit by service."""
    units = max(phase["units"], 1)
    name = phase["phase"]
    one_each = ("webhook_new_deal", "webhook", "webhook_redelivered", "approve")
    # mail-events: one EventBridge invocation per SES Send event (SES's events to the default
    # bus cost nothing).
    invocations = units if name in one_each + ("send_event",) else {
        "sweep": 1, "idle_sweep": 1}.get(name, math.ceil(units / 10))  # SQS batches of 10
    api = units if name in one_each else 0
    cost = price_counts(phase["counts"], phase["lambda_ms"], invocations, api)
    return {"requests": {k: v / units for k, v in phase["counts"].items()},
            "cost": {k: v / units for k, v in cost.items()},
            "lambda_ms": phase["lambda_ms"] / units}


def fmt(d: float) -> str:
    return f"${d:,.2f}" if d >= 0.01 or d == 0 else f"${d:.4f}"


def month(name: str, units: dict, volumes: dict) -> dict:
    lines = {}
    for phase, n in volumes.items():
        for service, usd in units[phase]["cost"].items():
            lines[service] = lines.get(service, 0.0) + usd * n
    fixed = {
        "SQS (idle long polls of 3 queues)": QUEUES_POLLED * IDLE_POLLS_PER_QUEUE_MONTH
        * PRICES["sqs_fifo_request"],
        "EventBridge Scheduler (sweep + sync)": (SWEEPS_A_MONTH + SYNCS_A_MONTH)
        * PRICES["scheduler_invocation"],
        "Secrets Manager (2 grants)": SECRETS * PRICES["secrets_secret_month"],
        "CloudWatch alarms": ALARMS * PRICES["alarm_month"],
    }
    return {"name": name, "volumes": volumes, "usage": lines, "fixed": fixed,
            "total": sum(lines.values()) + sum(fixed.values())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=30)
    ap.add_argument("--json")
    args = ap.parse_args()
    phases = run_counts(args.deals)
    units = {p["phase"]: per_unit(p) for p in phases}

    print(f"Requests counted per unit ({args.deals} deals through the emulator)")
    ops = sorted({op for p in phases for op in p["counts"]})
    names = [p["phase"] for p in phases]
    print(f"{'':<28}" + "".join(f"{n[:12]:>13}" for n in names))
    print(f"{'units in the run':<28}" + "".join(f"{p['units']:>13}" for p in phases))
    for op in ops:
        print(f"{op:<28}" + "".join(
            f"{units[n]['requests'].get(op, 0):>13.2f}" for n in names))
    print(f"{'handler ms':<28}" + "".join(f"{units[n]['lambda_ms']:>13.1f}" for n in names))
    print()
    print("Price per unit, USD (list prices, us-east-1)")
    services = ["API Gateway", "Lambda", "DynamoDB", "SQS", "EventBridge", "SNS", "SES"]
    print(f"{'':<28}" + "".join(f"{n[:12]:>13}" for n in names))
    for s in services:
        print(f"{s:<28}" + "".join(f"{units[n]['cost'].get(s, 0) * 1e6:>12.2f}µ" for n in names))
    print(f"{'total (µ$ = per million $)':<28}" + "".join(
        f"{sum(units[n]['cost'].values()) * 1e6:>12.2f}µ" for n in names))
    per_m = sum(units["webhook"]["cost"].values()) * 1e6
    per_m_new = sum(units["webhook_new_deal"]["cost"].values()) * 1e6
    print(f"\nOne million webhooks, all-in (API Gateway + Lambda + DynamoDB + ...): {fmt(per_m)} "
          f"(each an event on a known deal; {fmt(per_m_new)} if each created a deal)")
    api_m = units["webhook"]["cost"].get("API Gateway", 0) * 1e6
    print(f"With WebhookEndpoint=FunctionUrl (webhooks on the functions' own URLs, no API Gateway "
          f"request charge): {fmt(per_m - api_m)}")

    # Monthly volumes. The 30-deal founder: ~30 CRM/mail events per deal a month, 1 % redelivered,
    # each deal evaluated ~10 times, 60 drafts, 50 approved and written back.
    founder = month("30-deal founder", units, {
        "webhook_new_deal": 30, "webhook": 870, "webhook_redelivered": 9, "sweep": SWEEPS_A_MONTH * 0, "idle_sweep": SWEEPS_A_MONTH,
        "evaluate": 300, "draft": 60, "approve": 50, "send_event": 50, "crm_write": 50})
    # 100 k deals and 10 M webhooks a month: 100 events per deal; each deal evaluated 4 times a
    # month; 30 k drafts, 25 k approved and written back; every sweep finds deals due.
    big = month("100 k deals, 10 M webhooks", units, {
        "webhook_new_deal": 100_000, "webhook": 9_900_000, "webhook_redelivered": 100_000, "sweep": SWEEPS_A_MONTH,
        "evaluate": 400_000, "draft": 30_000, "approve": 25_000, "send_event": 25_000, "crm_write": 25_000})
    for m in (founder, big):
        print(f"\n{m['name']}, a month: " + ", ".join(f"{k} {v:,}" for k, v in m["volumes"].items() if v))
        for k, v in sorted(m["usage"].items(), key=lambda kv: -kv[1]):
            if v:
                print(f"  {k:<40} {fmt(v):>12}")
        for k, v in m["fixed"].items():
            print(f"  {k:<40} {fmt(v):>12}")
        print(f"  {'total':<40} {fmt(m['total']):>12}")
    if args.json:
        Path(args.json).write_text(json.dumps({"phases": phases, "per_unit": units,
                                               "months": [founder, big]}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
