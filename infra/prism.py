#!/usr/bin/env python3
"""Serve a validating mock of a provider's published OpenAPI spec with Stoplight Prism.

Prism serves each path at the root and ignores the server's base path. A client configured with
the provider's base *domain* (Pipedrive's company domain, to which it appends `/api/v2/...`)
needs the paths under that prefix, so `--prefix` writes a copy of the spec with every path
prefixed, then runs Prism on it. Prism checks each request against the spec (parameters, auth,
bodies: 4xx when they do not conform) and answers with the spec's examples.

    python infra/prism.py --spec tests/fixtures/openapi/pipedrive-api-v2.openapi.yaml \
        --prefix /api/v2 --port 4010 [--prism PATH]

`--spec` (with its own `--prefix`) may be given several times: one mock then serves the paths
of all of them (a client that writes notes, emails and tasks talks to one HubSpot); shared
component names keep their first definition.

Needs PyYAML (infra/requirements.txt) and Prism (`scripts/test.sh` installs
@stoplight/prism-cli into .tools/prism).
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def prism_friendly(x):
    """HubSpot's files declare error bodies as `*/*`, which Prism cannot serialise, and carry
    `"example": null` on every schema, which Prism would answer as the body: rename the one and
    drop the other (nothing else changes)."""
    if isinstance(x, list):
        return [prism_friendly(v) for v in x]
    if isinstance(x, dict):
        return {("application/json" if k == "*/*" else k): prism_friendly(v)
                for k, v in x.items() if not (k == "example" and v is None)}
    return x


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, action="append")
    ap.add_argument("--prefix", action="append", default=[])
    ap.add_argument("--port", required=True)
    ap.add_argument("--prism", default=str(REPO / ".tools/prism/node_modules/.bin/prism"))
    a = ap.parse_args()
    spec = None
    for i, path in enumerate(a.spec):
        with open(path, encoding="utf-8") as f:
            one = prism_friendly(yaml.safe_load(f))
        prefix = a.prefix[i] if i < len(a.prefix) else ""
        if prefix:
            one["paths"] = {prefix.rstrip("/") + p: v for p, v in one["paths"].items()}
        if spec is None:
            spec = one
            continue
        for p, v in one["paths"].items():
            spec["paths"].setdefault(p, v)
        for kind, items in one.get("components", {}).items():
            spec.setdefault("components", {}).setdefault(kind, {})
            for name, v in items.items():
                spec["components"][kind].setdefault(name, v)
    out = Path(tempfile.mkdtemp(prefix="prism-")) / "spec.json"
    out.write_text(json.dumps(spec))
    if not Path(a.prism).exists():
        sys.exit(f"prism not found at {a.prism}: run scripts/test.sh (it installs @stoplight/prism-cli)")
    os.execv(a.prism, [a.prism, "mock", "-h", "127.0.0.1", "-p", str(a.port), str(out)])


if __name__ == "__main__":
    sys.exit(main())
