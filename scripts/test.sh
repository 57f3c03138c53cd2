#!/usr/bin/env bash
# draftgate's one test command. Fast checks first, so they fail fast: nothing refers outside the
# repository, rustfmt, clippy with every warning an error. Then it installs what the tests need (a
# Python venv with the local AWS emulator, cfn-lint and the SAM CLI), checks the template, starts
# the emulator, and runs every Rust test (unit, handler, contract suite on the embedded store and
# on the emulator, CRM APIs against mock servers, end to end on the local runner), then the
# runner's end-to-end tests a second time on `serve --aws` against the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p target

echo "== nothing refers outside the repository"
python3 scripts/check-tree.py --self-test
python3 scripts/check-tree.py

echo "== shared/src keeps its layers (no import against the order, no cycle)"
python3 scripts/check-layers.py --self-test
python3 scripts/check-layers.py

echo "== sizes a newcomer can hold (port traits, functions, files, function mains)"
python3 scripts/check-sizes.py --self-test
python3 scripts/check-sizes.py

echo "== cargo fmt --check"
cargo fmt --all --check
echo "rustfmt: clean"

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "clippy: clean"

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum infra/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing infra/requirements.txt (emulator, cfn-lint, SAM CLI)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
  echo "$want" > "$stamp"
fi

# Stoplight Prism serves validating mocks from the providers' OpenAPI specs (tests/crm_specs.rs).
prism_version=5.14.2
if [ ! -x .tools/prism/node_modules/.bin/prism ] || [ "$(cat .tools/prism/.version 2>/dev/null)" != "$prism_version" ]; then
  echo "== installing @stoplight/prism-cli@$prism_version into .tools/prism"
  mkdir -p .tools/prism
  npm install --silent --no-audit --no-fund --prefix .tools/prism "@stoplight/prism-cli@$prism_version"
  echo "$prism_version" > .tools/prism/.version
fi
export DRAFTGATE_PRISM="$root/.tools/prism/node_modules/.bin/prism"

# The review pages in a real browser: Debian's Chromium, driven by playwright-core.
if [ -z "${DRAFTGATE_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium (browser tests)"
  sudo_=""
  [ "$(id -u)" -ne 0 ] && sudo_="sudo"
  $sudo_ apt-get install -y -qq chromium >/dev/null 2>&1 || { $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq chromium >/dev/null; }
fi
playwright_version=1.64.1
if [ ! -d .tools/playwright/node_modules/playwright-core ] || [ "$(cat .tools/playwright/.version 2>/dev/null)" != "$playwright_version" ]; then
  echo "== installing playwright-core@$playwright_version into .tools/playwright"
  mkdir -p .tools/playwright
  npm install --silent --no-audit --no-fund --prefix .tools/playwright "playwright-core@$playwright_version"
  echo "$playwright_version" > .tools/playwright/.version
fi

echo "== cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "cfn-lint: clean"

echo "== the template's security promises"
.venv/bin/python scripts/check-policy.py --self-test
.venv/bin/python scripts/check-policy.py

echo "== sam validate --lint"
AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint

echo "== starting the AWS emulator (moto)"
endpoint=$(.venv/bin/python infra/emulator.py serve --port 0 --pidfile target/moto.pid --log target/moto.log)
trap '.venv/bin/python infra/emulator.py stop --pidfile target/moto.pid >/dev/null 2>&1 || true' EXIT
echo "emulator at $endpoint"
export DRAFTGATE_TEST_AWS_ENDPOINT="$endpoint"

echo "== cargo test --workspace"
cargo test --workspace --locked 2>&1 | tee target/test.log
echo "== the runner's end-to-end tests again, on serve --aws (DynamoDB, SQS, EventBridge on the emulator)"
DRAFTGATE_E2E_AWS="$endpoint" cargo test -p draftgate --tests --locked 2>&1 | tee target/test-aws.log
echo "== browser (headless Chromium at 390x844)"
node tests/browser/review.mjs target/debug/draftgate 2>&1 | tee target/browser.log
echo "== fuzz (a short run of every target; the long campaign: bash fuzz/run.sh 10000000)"
bash fuzz/run.sh 10000 2>&1 | tee target/fuzz.log
echo "== summary"
awk '/^test result:/ { split($0, a, /[;.] /); for (i in a) if (a[i] ~ /passed|failed/) { split(a[i], b, " "); n[b[2]] += b[1] } }
     END { printf "%d passed, %d failed\n", n["passed"], n["failed"] }' target/test.log
awk '/^test result:/ { split($0, a, /[;.] /); for (i in a) if (a[i] ~ /passed|failed/) { split(a[i], b, " "); n[b[2]] += b[1] } }
     END { printf "on serve --aws: %d passed, %d failed\n", n["passed"], n["failed"] }' target/test-aws.log
grep '^browser:' target/browser.log
grep -c '^fuzz: .* 0 crashes' target/fuzz.log | xargs -I{} echo "fuzz: {} targets, 0 crashes"
