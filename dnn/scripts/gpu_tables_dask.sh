#!/usr/bin/env bash
# Train several tables on all GPUs through one Dask cluster (one worker per GPU) for at most SECS seconds,
# then pack the finished runs' small files into $OUT/runs.tgz (checkpoints stay in RUNS for a later call
# to resume). The tables train as one pool of runs in the order given: `python -m sketchbound.dnn.table`
# with several table files; finished runs are skipped, so the same command resumes.
# usage (repo root; Fashion-MNIST in .data/fashion-mnist; Dask wheels in .whl on a machine without internet):
#   SKETCHBOUND_COMMIT=<sha> SECS=400 RUNS=/tmp/runs bash dnn/scripts/gpu_tables_dask.sh [--concurrent N] [--set K=V] TABLE.toml [TABLE.toml ...]
# FINISHED=<file.tgz>: result.json files of runs finished on earlier calls (paths <run>/result.json, e.g.
#   `tar czf .rj/finished.tgz -C dnn/results/T_runs $(cd dnn/results/T_runs && ls */result.json)`), unpacked
#   into RUNS first so those runs are skipped (a few hundred kB instead of the run folders).
# FUSION=auto|on|off (default off: 8 runs per task on CUDA streams); FUSED_COMPILE=<mode> (with FUSION=on or
#   auto): the fused step through torch.compile (`python -m sketchbound.dnn.table --fused-compile`);
#   CONV_GEMM=strided|all|auto (with FUSION=on or auto): the fused convolutions as batched GEMMs (`--conv-gemm`);
#   SGD_KERNEL=triton: both trainers' masked SGD step as one Triton kernel per parameter (`--sgd-kernel`);
#   WEIGHT_COPIES=1 (with SGD_KERNEL=triton, FUSION=on or auto): bfloat16 weight copies (`--weight-copies`).
# PACK_EVERY=<s> (default 30): $OUT/runs.tgz is refreshed that often while the tables train, so the runs
#   finished before a call is cut at its time limit still come back.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; SECS=${SECS:-400}; RUNS=${RUNS:-runs}; DATA=${DATA:-.data/fashion-mnist}; mkdir -p "$OUT" "$RUNS"
python3 -c "import distributed" 2>/dev/null || bash "$(dirname "$0")/install_carried_wheels.sh" || exit 3
if [ -n "${FINISHED:-}" ]; then tar xzf "$FINISHED" -C "$RUNS" || exit 3; fi
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then n=$(echo "$CUDA_VISIBLE_DEVICES" | tr , "\n" | grep -c .); else n=$(nvidia-smi -L | wc -l); fi
t0=$(date +%s)
packdir=$(mktemp -d)
( while sleep "${PACK_EVERY:-30}"; do
    bash "$(dirname "$0")/pack_runs.sh" "$RUNS" "$packdir" && cp "$packdir/runs.tgz" "$OUT/runs.tgz.part" \
      && mv "$OUT/runs.tgz.part" "$OUT/runs.tgz"  # a rename inside $OUT: a cut call never leaves half a file
  done ) &
packer=$!
timeout "$SECS" python3 -m sketchbound.dnn.table "$@" --workers "$n" --runs-dir "$RUNS" --data-root "$DATA" \
  --fusion "${FUSION:-off}" ${FUSED_COMPILE:+--fused-compile "$FUSED_COMPILE"} ${CONV_GEMM:+--conv-gemm "$CONV_GEMM"} ${SGD_KERNEL:+--sgd-kernel "$SGD_KERNEL"} ${WEIGHT_COPIES:+--weight-copies} --no-progress > "$OUT/tables_dask.log" 2>&1
echo "tables exit $? after $(( $(date +%s) - t0 )) s on $n GPUs" >> "$OUT/env.txt"
kill "$packer" 2>/dev/null; wait "$packer" 2>/dev/null; rm -rf "$packdir"
bash "$(dirname "$0")/pack_runs.sh" "$RUNS" "$OUT"
