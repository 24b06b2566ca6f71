#!/usr/bin/env bash
# Data-parallel scaling on this machine: images/s of `convlab train` with 1 process and with
# `mpirun -np 2` (each rank one thread, the same global batch of 64), and the time per step in
# all-reduces. Needs a convlab built with MPI and Open MPI's mpirun:
#
#   cargo build --release -p convlab-cli --features distributed
#   bench/mpi_scaling.sh [MNIST_DIR] [STEPS]      # defaults: ../shared/data/mnist 300
#
# Prints one line per (model, ranks): median images/s over the logged windows (the first
# skipped), median all-reduce milliseconds per step, and the speed-up over one process.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data/mnist}"
STEPS="${2:-300}"
BIN=target/release/convlab
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
WIDE="input(1,28,28) conv(32,3,padding=1) relu conv(32,3,padding=1) relu maxpool(2) conv(64,3,padding=1) relu conv(64,3,padding=1) relu maxpool(2) flatten linear(128) relu linear(10)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "$WIDE" > "$tmp/wide.txt"

median() { # metrics.jsonl field -> median over step records after the first
    python3 - "$1" "$2" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = [r.get(sys.argv[2]) for r in rs if r["kind"] == "step"][1:]
v = [x for x in v if x is not None]
print(f"{statistics.median(v):.3f}" if v else "-")
PY
}

printf '%-10s %5s %12s %14s %8s\n' model ranks images/s allreduce_ms speedup
for model in lenet5 wide; do
    m=$model; [ "$model" = wide ] && m="$tmp/wide.txt"
    args=(train --model "$m" --dataset mnist --data-dir "$DATA" --batch-size 64 --optimizer sgd --lr 0.05
          --steps "$STEPS" --log-every 25 --threads 1 --test-limit 500 --quiet)
    "$BIN" "${args[@]}" --out "$tmp/$model-1" >/dev/null
    "${MPIRUN[@]}" -np 2 "$BIN" "${args[@]}" --out "$tmp/$model-2" >/dev/null
    one=$(median "$tmp/$model-1/metrics.jsonl" images_per_sec)
    for np in 1 2; do
        ips=$(median "$tmp/$model-$np/metrics.jsonl" images_per_sec)
        ar=$(median "$tmp/$model-$np/metrics.jsonl" allreduce_ms)
        printf '%-10s %5s %12s %14s %8s\n' "$model" "$np" "$ips" "$ar" "$(python3 -c "print(f'{$ips/$one:.2f}')")"
    done
done
