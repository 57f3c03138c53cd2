#!/usr/bin/env python3
"""Cold start and footprint of every function, next to its floors and the Python baseline.

Each binary is started against a Lambda Runtime API served here, the way Lambda drives it:

- **init**: process start to its first `GET /runtime/invocation/next`;
- **RSS**: resident memory once it waits for an event (read from /proc);
- **binary / zipped**: the `bootstrap` and its deployment zip (deflate, level 9);
- **first invoke** (with `--env-file`, an emulator's resources): the event is waiting at the first
  poll, as on a cold start; the time from handing it over to the function's response, i.e. the
  first request's cost, connections included, and RSS after it.

Rows, in the same run: every draftgate function; `floor-runtime` (a bare `lambda_runtime`
function) and `floor-sdk` (aws-config + one DynamoDB client, what every SDK-using function pays);
and `python+boto3`, the same HubSpot webhook handler (verify v3, parse, store each event) in
Python + boto3 under `awslambdaric` (bench/python). Ratios compare each function with floor-sdk
(with an emulator, with `floor-sdk warm`: both then open their DynamoDB connection in init) and
with Python (like for like: `crm-webhook nowarm`, which opens nothing in init, as the Python
handler does not). With an emulator, two variants show what opening the DynamoDB connection in init
is worth: `floor-sdk warm` (FLOOR_WARM=1) and `crm-webhook nowarm`
(DRAFTGATE_WARM_CONNECTIONS=0; the functions warm it by default).

    python3 scripts/bench-init.py [--bin-dir target/release] [--runs 5] [--events 10]
        [--env-file target/bench-aws.env [--config-s3] [--tls-ca CA.pem]]
        [--python target/bench-venv/bin/python]

`scripts/bench` builds the release binaries, the Python venv and the emulator, then runs this.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists())
FLOORS = ["floor-runtime", "floor-sdk"]
PYTHON_ROW = "python+boto3"
WARM_ROW = "floor-sdk warm"  # floor-sdk with FLOOR_WARM=1: the connection opened in init
COLD_ROW = "crm-webhook nowarm"  # DRAFTGATE_WARM_CONNECTIONS=0: the first request connects
VARIANTS = {WARM_ROW: ("floor-sdk", {"FLOOR_WARM": "1"}),
            COLD_ROW: ("crm-webhook", {"DRAFTGATE_WARM_CONNECTIONS": "0"})}
HUBSPOT_SECRET = "bench-hubspot-client-secret"
BASE_URL = "https://bench.example"

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "PIPELINE_TABLE": "bench-pipeline",
    "AUDIT_TABLE": "bench-audit",
    "PUBLIC_BASE_URL": BASE_URL,
    "EVALUATE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/bench-evaluate.fifo",
    "DRAFT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/bench-draft.fifo",
    "CRM_WRITE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/bench-crm-write.fifo",
    "EVENT_BUS_NAME": "bench",
    "FOUNDER_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:bench-founder",
    "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
    "PANDADOC_WEBHOOK_KEY": "bench",
    "INBOX_WEBHOOK_SECRET": "bench",
    "GENERIC_WEBHOOK_SECRET": "bench",
    "DRAFTGATE_SIGNING_KEY": "bench",
    "MAIL_FROM": "founder@bench.example",
    "RUST_LOG": "warn",
}


class Run:
    """One start of one binary: what the Runtime API saw."""

    def __init__(self, event=None):
        self.pending = [event] if event is not None else []
        self.first_poll_at = None
        self.delivered_at = None
        self.responded_at = None
        self.response = None
        self.error = None
        self.waiting = threading.Event()  # polling with nothing to hand over
        self.done = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    run: Run = Run()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        run = RuntimeApi.run
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_response(404)
            self.end_headers()
            return
        now = time.perf_counter()
        if run.first_poll_at is None:
            run.first_poll_at = now
        if not run.pending:
            run.waiting.set()
            time.sleep(60)  # the long poll: idle, as between invocations
            return
        body = json.dumps(run.pending.pop()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.end_headers()
        run.delivered_at = time.perf_counter()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        run = RuntimeApi.run
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/response" in self.path:
            run.responded_at = time.perf_counter()
            run.response = body
        else:
            run.error = body.decode(errors="replace")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        run.done.set()

    def log_message(self, *args):
        pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def zipped_size(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for path, name in files:
            z.write(path, name)
    return buf.tell()


def hubspot_event(n, tag):
    """An API Gateway (HTTP API) event of a signed HubSpot batch of `n` deal events."""
    now_ms = int(time.time() * 1000)
    batch = []
    for i in range(n):
        batch.append({
            "eventId": int(f"{tag}{i:04d}"), "subscriptionId": 2465712, "portalId": 44556677,
            "appId": 1160452, "occurredAt": now_ms - 60_000 + i,
            "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
            "objectId": 18544520000 + i % 30, "propertyName": "dealstage",
            "propertyValue": "presentationscheduled", "changeSource": "CRM_UI",
        })
    body = json.dumps(batch)
    ts = str(now_ms)
    url = BASE_URL + "/webhooks/hubspot"
    sig = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), ("POST" + url + body + ts).encode(),
                                    hashlib.sha256).digest()).decode()
    return {
        "version": "2.0", "routeKey": "POST /webhooks/{provider}", "rawPath": "/webhooks/hubspot",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "bench.example",
                    "user-agent": "HubSpot Webhooks", "x-hubspot-request-timestamp": ts,
                    "x-hubspot-signature-v3": sig},
        "requestContext": {"accountId": "000000000000", "apiId": "bench",
                           "domainName": "bench.example", "domainPrefix": "bench",
                           "http": {"method": "POST", "path": "/webhooks/hubspot",
                                    "protocol": "HTTP/1.1", "sourceIp": "203.0.113.24",
                                    "userAgent": "HubSpot Webhooks"},
                           "requestId": f"bench-{tag}", "routeKey": "POST /webhooks/{provider}",
                           "stage": "$default", "time": "30/Nov/2026:10:00:00 +0000",
                           "timeEpoch": now_ms},
        "pathParameters": {"provider": "hubspot"}, "body": body, "isBase64Encoded": False,
    }


def start_one(cmd, env, cwd, event, label):
    RuntimeApi.run = run = Run(event)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if event is None:
            if not run.waiting.wait(20):
                raise SystemExit(f"{label}: no poll within 20 s\n{drain(proc)}")
            time.sleep(0.05)
            return (run.first_poll_at - start) * 1000, rss_kib(proc.pid) / 1024, None, None
        if not run.done.wait(60):
            raise SystemExit(f"{label}: no response within 60 s\n{drain(proc)}")
        if run.error is not None:
            raise SystemExit(f"{label}: the invocation failed: {run.error}\n{drain(proc)}")
        answer = json.loads(run.response or b"null")
        if isinstance(answer, dict) and answer.get("statusCode", 200) >= 300:
            raise SystemExit(f"{label}: answered {answer}\n{drain(proc)}")
        run.waiting.wait(5)
        time.sleep(0.05)
        return ((run.first_poll_at - start) * 1000, None,
                (run.responded_at - run.delivered_at) * 1000, rss_kib(proc.pid) / 1024)
    finally:
        proc.kill()
        proc.wait()


def drain(proc):
    proc.kill()
    return proc.stdout.read().decode(errors="replace")[-3000:]


def read_env_file(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=str(ROOT / "target" / "release"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, default=10, help="HubSpot events in the invoked batch")
    ap.add_argument("--config-s3", action="store_true",
                    help="keep DRAFTGATE_CONFIG_S3_URI from --env-file: each function then reads "
                    "the founder's config from S3 at init (one GET to the emulator)")
    ap.add_argument("--env-file", help="the emulator's resources (infra/emulator.py up): "
                    "adds the first-invoke columns")
    ap.add_argument("--tls-ca", help="the emulator serves HTTPS with this CA (infra/emulator.py "
                    "serve --tls-dir), trusted through SSL_CERT_FILE and AWS_CA_BUNDLE")
    ap.add_argument("--python", default=str(ROOT / "target" / "bench-venv" / "bin" / "python"))
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--only", help="comma-separated functions to measure (the floors and the "
                    "Python row are always measured); default: every function")
    args = ap.parse_args()

    env_base = dict(ENV, PATH=os.environ.get("PATH", ""))
    if not args.env_file:
        # No AWS to reach: the functions skip their connection warm-up.
        env_base["DRAFTGATE_WARM_CONNECTIONS"] = "0"
    if args.env_file:
        env_base.update(read_env_file(args.env_file))
        if not args.config_s3:
            env_base.pop("DRAFTGATE_CONFIG_S3_URI", None)
    if args.tls_ca:
        env_base["SSL_CERT_FILE"] = env_base["AWS_CA_BUNDLE"] = str(Path(args.tls_ca).resolve())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env_base["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"

    rows = []
    functions = FUNCTIONS
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in FUNCTIONS]
        if unknown:
            ap.error(f"no such function: {', '.join(unknown)}")
        functions = wanted
    names = functions + FLOORS + ([WARM_ROW, COLD_ROW] if args.env_file else []) + [PYTHON_ROW]
    for name in names:
        binary, extra = VARIANTS.get(name, (name, {}))
        env_row = dict(env_base, **extra)
        if name == PYTHON_ROW:
            if not Path(args.python).exists():
                print(f"(no {args.python}: the Python row is left out)", file=sys.stderr)
                continue
            handler = ROOT / "bench" / "python" / "hubspot_webhook.py"
            cmd, cwd = [args.python, "-m", "awslambdaric", "hubspot_webhook.handler"], handler.parent
            size, zipped = handler.stat().st_size, zipped_size([(handler, handler.name)])
        else:
            path = Path(args.bin_dir) / binary
            if not path.exists():
                raise SystemExit(f"no {path}: build it first (scripts/bench does)")
            cmd, cwd = [str(path)], None
            size, zipped = path.stat().st_size, zipped_size([(path, "bootstrap")])
        invoke_event = None
        if args.env_file and name in ("crm-webhook", COLD_ROW, PYTHON_ROW, "floor-sdk", WARM_ROW):
            invoke_event = "hubspot" if name in ("crm-webhook", COLD_ROW, PYTHON_ROW) else "get_item"
        inits, rss, invokes, rss_after = [], [], [], []
        for i in range(args.runs):
            init, r, _, _ = start_one(cmd, env_row, cwd, None, name)
            inits.append(init)
            rss.append(r)
            if invoke_event:
                tag = f"{int(time.time()) % 100000}{i}"
                event = (hubspot_event(args.events, tag) if invoke_event == "hubspot" else
                         {"get_item": {"table": env_base["PIPELINE_TABLE"],
                                       "key": {"PK": "BENCH", "SK": "BENCH"}}})
                _, _, took, r_after = start_one(cmd, env_row, cwd, event, name)
                invokes.append(took)
                rss_after.append(r_after)
        rows.append({
            "name": name, "size": size, "zipped": zipped,
            "init_ms": statistics.median(inits), "rss_mib": statistics.median(rss),
            "invoke": invoke_event,
            "invoke_ms": statistics.median(invokes) if invokes else None,
            "rss_after_mib": statistics.median(rss_after) if rss_after else None,
        })

    by = {r["name"]: r for r in rows}
    # With an emulator the functions open their DynamoDB connection in init (the default), so
    # their floor is floor-sdk doing the same; without one, the plain floor-sdk.
    floor, py = by.get(WARM_ROW) or by.get("floor-sdk"), by.get(PYTHON_ROW)
    if floor:
        print(f"Function rows: x floor against `{floor['name']}`")
    print(f"Cold start, medians of {args.runs} starts"
          + (f"; first invoke: HubSpot batch of {args.events} events stored in DynamoDB (emulator)"
             if args.env_file else ""))
    head = (f"{'':<18} {'binary':>8} {'zipped':>8} {'init ms':>8} {'RSS MiB':>8}"
            f" {'x floor init/RSS/zip':>21} {'vs Python init/RSS':>19}")
    if args.env_file:
        head += f" {'1st invoke ms':>14} {'RSS after':>10}"
    print(head)
    for r in rows:
        line = (f"{r['name']:<18} {r['size']/1e6:>6.2f}MB {r['zipped']/1e6:>6.2f}MB"
                f" {r['init_ms']:>8.1f} {r['rss_mib']:>8.1f}")
        if floor and r["name"] not in FLOORS + [WARM_ROW, COLD_ROW, PYTHON_ROW]:
            line += (f" {r['init_ms']/floor['init_ms']:>8.2f}/{r['rss_mib']/floor['rss_mib']:.2f}"
                     f"/{r['zipped']/floor['zipped']:.2f}")
        else:
            line += f" {'':>21}"
        if py and r["name"] != PYTHON_ROW:
            line += f" {py['init_ms']/r['init_ms']:>9.0f}x/{py['rss_mib']/r['rss_mib']:.1f}x"
        else:
            line += f" {'':>19}"
        if args.env_file:
            line += (f" {r['invoke_ms']:>14.1f} {r['rss_after_mib']:>10.1f}" if r["invoke_ms"]
                     else f" {'':>14} {'':>10}")
        print(line)
    if py:
        print(f"({PYTHON_ROW}: zipped is the handler alone; boto3 and the runtime client come "
              "with the Lambda Python runtime)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    server.shutdown()


if __name__ == "__main__":
    main()
