#!/bin/bash
# Fuzz every target (cargo-fuzz, libFuzzer, the nightly toolchain), seeded by fuzz/seed.py.
#   bash fuzz/run.sh             # a short run of each target: 20000 executions (the test command)
#   bash fuzz/run.sh 10000000    # the long campaign: 10 M executions per target
#   bash fuzz/run.sh 10000000 hubspot config   # some targets only
#   bash fuzz/run.sh --time 600  # each target for 10 minutes
#   FUZZ_SANITIZER=none bash fuzz/run.sh 10000000   # without AddressSanitizer: the targets are
#                                # safe Rust, so ASan finds little and costs 3-10x the speed
# Prints one line per target: executions, time, and the corpus size; a crash stops with its input
# under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
limit="-runs=${1:-20000}"
if [ "${1:-}" = "--time" ]; then
  limit="-max_total_time=$2"
  shift
fi
shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)"; exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo +nightly install cargo-fuzz --locked --quiet
fi
python3 seed.py
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
sanitizer="${FUZZ_SANITIZER:-address}"
echo "== building the fuzz targets (nightly, sanitizer: $sanitizer)"
cargo +nightly fuzz build -O -s "$sanitizer" >/dev/null
for t in "${targets[@]}"; do
  start=$(date +%s.%N)
  log=$(mktemp)
  if ! cargo +nightly fuzz run -O -s "$sanitizer" "$t" -- "$limit" -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"; echo "fuzz: $t FAILED"; exit 1
  fi
  end=$(date +%s.%N)
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  speed=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  corpus=$(ls corpus/"$t" | wc -l)
  printf "fuzz: %-14s %10s executions in %6.1f s (%s/s), 0 crashes, corpus %s\n" "$t" "$execs" "$(echo "$end - $start" | bc)" "$speed" "$corpus"
  rm -f "$log"
done
