#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints, per target, the number of
# executions and of crashes (files libFuzzer left in fuzz/artifacts/<target>/).
#
#   fuzz/run_all.sh 600              # ten minutes per target
#   FUZZ_SANITIZER=none fuzz/run_all.sh 60
#   FUZZ_TARGETS="idx cifar" fuzz/run_all.sh 30
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass its -Z flags. New inputs go to fuzz/work/<target>/ (ignored by git); the
# committed seeds in fuzz/corpus/<target>/ are only read. Runs under `nice -n 19`.
set -u
SECONDS_PER_TARGET="${1:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
TARGETS="${FUZZ_TARGETS:-$(ls fuzz_targets | sed 's/\.rs$//')}"

# FUZZ_NO_BUILD=1 runs the binaries already built (after `cargo fuzz build -s $SANITIZER`).
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    nice -n 19 cargo fuzz build -s "$SANITIZER" || { echo "build failed"; exit 1; }
fi
BIN=target/x86_64-unknown-linux-gnu/release

summary=""
total_crashes=0
for t in $TARGETS; do
    mkdir -p "work/$t" "artifacts/$t"
    # Crashes, leaks, time-outs and out-of-memory inputs (not libFuzzer's slow-unit reports).
    found() { ls "artifacts/$t" | grep -cvE '^slow-unit-'; }
    before=$(found)
    log="work/$t.log"
    nice -n 19 "$BIN/$t" "work/$t" "corpus/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=8192 -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
    after=$(found)
    crashes=$((after - before))
    total_crashes=$((total_crashes + crashes))
    line=$(printf '%-12s executions %-10s crashes %s (exit %s)' "$t" "${execs:-?}" "$crashes" "$rc")
    [ "$crashes" -gt 0 ] && line="$line: $(ls -t "artifacts/$t" | grep -vE '^slow-unit-' | head -"$crashes" | sed "s|^|artifacts/$t/|" | tr '\n' ' ')"
    echo "$line"
    summary="$summary$line"$'\n'
done
echo "---- $SECONDS_PER_TARGET s per target, sanitizer $SANITIZER (logs in fuzz/work/<target>.log)"
printf '%s' "$summary"
[ "$total_crashes" -eq 0 ]
