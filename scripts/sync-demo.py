#!/usr/bin/env python3
"""Import a mock Pipedrive account into a fresh runner store with `draftgate import`, twice, and
print what each run recorded and how long it took. The mock (stdlib HTTP server, API v2 shapes)
holds N open deals that never sent a webhook, spread over the default pipeline's stages and
idle for 1-20 days, each with a contact and some with a done call.

    cargo build -p draftgate && python3 scripts/sync-demo.py [--deals 30]
"""
import argparse
import json
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parent.parent


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def account(n):
    now = datetime.now(timezone.utc)
    deals, persons, activities = [], {}, {}
    for i in range(1, n + 1):
        entered = now - timedelta(days=1 + i % 20, hours=i)
        deals.append({"id": i, "title": f"Deal {i:03} - Retainer", "value": 1000 * i, "currency": "EUR",
                      "person_id": 1000 + i, "stage_id": 1 + i % 5, "status": "open",
                      "add_time": iso(entered - timedelta(days=3)), "update_time": iso(entered),
                      "stage_change_time": iso(entered)})
        persons[1000 + i] = {"id": 1000 + i, "name": f"Contact {i}", "first_name": f"Contact{i}",
                             "emails": [{"value": f"contact{i}@example.com", "primary": True}]}
        if i % 3 == 0:
            activities[i] = [{"id": 5000 + i, "type": "call", "subject": "Discovery call", "deal_id": i,
                              "done": True, "marked_as_done_time": iso(entered + timedelta(hours=2)),
                              "add_time": iso(entered)}]
    return deals, persons, activities


def serve(n):
    deals, persons, activities = account(n)

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            q = parse_qs(url.query)
            if url.path == "/api/v2/deals":
                since = q.get("updated_since", [None])[0]
                rows = [d for d in deals if since is None or d["update_time"] >= since]
                start = int(q.get("cursor", ["0"])[0])
                limit = int(q.get("limit", ["100"])[0])
                page = rows[start:start + limit]
                nxt = str(start + limit) if start + limit < len(rows) else None
                body = {"success": True, "data": page, "additional_data": {"next_cursor": nxt}}
            elif url.path.startswith("/api/v2/persons/"):
                body = {"success": True, "data": persons[int(url.path.rsplit("/", 1)[1])]}
            elif url.path == "/api/v2/activities":
                body = {"success": True, "data": activities.get(int(q["deal_id"][0]), [])}
            else:
                self.send_response(404)
                self.end_headers()
                return
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=30)
    ap.add_argument("--bin", default=str(REPO / "target/debug/draftgate"))
    a = ap.parse_args()
    base = serve(a.deals)
    with tempfile.TemporaryDirectory() as data:
        env = {"PIPEDRIVE_API_TOKEN": "demo-token", "PIPEDRIVE_API_BASE_URL": base, "RUST_LOG": "warn",
               "PATH": "/usr/bin:/bin"}
        for run in (1, 2):
            start = time.perf_counter()
            out = subprocess.run([a.bin, "import", "--data", data, "--config", str(REPO / "config/draftgate.toml")],
                                 env=env, capture_output=True, text=True, check=True)
            took = time.perf_counter() - start
            crm = json.loads(out.stdout)["crms"][0]
            print(f"run {run}: mode {crm['mode']}, {crm['pages']} page(s), {crm['deals']} deals, "
                  f"{crm['recorded']} events recorded, {crm['unchanged']} already known, {took:.2f} s")


if __name__ == "__main__":
    main()
