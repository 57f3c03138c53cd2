#!/usr/bin/env python3
"""Cold-start figures for every function: binary size, zipped size, init time and resident memory.

Each release `bootstrap` (from `sam build`, default `.aws-sam/build`) is started against a minimal
Lambda Runtime API served here; init time is from process start to its first
`GET /runtime/invocation/next`, RSS is read from /proc once it waits for an event. Nothing reaches
AWS: the functions build their SDK clients at init but make no request until an event arrives.

    python3 scripts/bench-init.py [--build-dir .aws-sam/build] [--runs 5]
        [--config-s3 s3://BUCKET/KEY --aws-endpoint URL]

With `--config-s3`, each function is also started with DRAFTGATE_CONFIG_S3_URI set (its config
read from that object at init, one S3 GET against the emulator at `--aws-endpoint`), so the table
shows what loading the founder's config from S3 costs next to the bundled config. Push the
object first: `draftgate config push config/draftgate.toml --to s3://BUCKET/KEY`.
"""
import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
import zipfile
import io

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "PIPELINE_TABLE": "bench-pipeline",
    "AUDIT_TABLE": "bench-audit",
    "PUBLIC_BASE_URL": "https://bench.example",
    "EVALUATE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/bench-evaluate.fifo",
    "DRAFT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/bench-draft.fifo",
    "EVENT_BUS_NAME": "bench",
    "FOUNDER_TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:bench-founder",
    "HUBSPOT_CLIENT_SECRET": "bench",
    "HUBSPOT_ACCESS_TOKEN": "bench",
    "PANDADOC_WEBHOOK_KEY": "bench",
    "INBOX_WEBHOOK_SECRET": "bench",
    "GENERIC_WEBHOOK_SECRET": "bench",
    "DRAFTGATE_SIGNING_KEY": "bench",
    "RUST_LOG": "warn",
}


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_poll = None  # set by the bench loop

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.endswith("/runtime/invocation/next"):
            if RuntimeApi.first_poll is not None and not RuntimeApi.first_poll.is_set():
                RuntimeApi.first_poll_at = time.perf_counter()
                RuntimeApi.first_poll.set()
            # Hold the long poll: the function is idle, as between invocations.
            time.sleep(30)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def zipped_size(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(path, "bootstrap")
    return buf.tell()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=".aws-sam/build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config-s3", help="s3://bucket/key of a pushed config bundle")
    ap.add_argument("--aws-endpoint", help="AWS API emulator serving --config-s3")
    args = ap.parse_args()
    modes = [("bundled", {})]
    if args.config_s3:
        if not args.aws_endpoint:
            sys.exit("--config-s3 needs --aws-endpoint")
        modes.append(("S3", {"DRAFTGATE_CONFIG_S3_URI": args.config_s3,
                             "AWS_ENDPOINT_URL": args.aws_endpoint}))
    fns = sorted(d for d in os.listdir(args.build_dir) if os.path.isfile(os.path.join(args.build_dir, d, "bootstrap")))
    if not fns:
        sys.exit(f"no bootstrap binaries under {args.build_dir}: run `sam build --beta-features` first")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"127.0.0.1:{server.server_address[1]}"

    head = f"{'function':<26} {'binary':>9} {'zipped':>9}"
    for name, _ in modes:
        head += f" {'init ms ' + name:>16} {'RSS MiB ' + name:>15}"
    print(head + f"   (medians of {args.runs} starts)")
    for fn in fns:
        path = os.path.join(args.build_dir, fn, "bootstrap")
        row = f"{fn:<26} {os.path.getsize(path)/1e6:>7.1f}MB {zipped_size(path)/1e6:>7.1f}MB"
        for name, extra in modes:
            inits, rss = [], []
            for _ in range(args.runs):
                RuntimeApi.first_poll = threading.Event()
                env = dict(ENV, AWS_LAMBDA_RUNTIME_API=api, PATH=os.environ.get("PATH", ""), **extra)
                start = time.perf_counter()
                proc = subprocess.Popen([path], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                if not RuntimeApi.first_poll.wait(10):
                    proc.kill()
                    out = proc.stdout.read().decode(errors="replace")
                    sys.exit(f"{fn} ({name}): no poll within 10 s\n{out}")
                inits.append((RuntimeApi.first_poll_at - start) * 1000)
                time.sleep(0.05)
                rss.append(rss_kib(proc.pid) / 1024)
                proc.kill()
                proc.wait()
            row += f" {statistics.median(inits):>16.1f} {statistics.median(rss):>15.1f}"
        print(row)
    server.shutdown()


if __name__ == "__main__":
    main()
