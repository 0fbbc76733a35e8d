#!/usr/bin/env bash
# Train table slices in parallel, one per GPU, and copy the finished runs' small files to $OUT.
# Recorded result: dnn/results/convergence_fmnist_runs and table1_fmnist_converged_runs (their job records
# dnn/results/table1_fmnist_converged_gpu_call{1,2}_env.txt hold the "jobs" line this script writes).
# usage (repo root, Fashion-MNIST IDX files in .data/fashion-mnist):
#   SKETCHBOUND_COMMIT=<sha> SECS=540 bash dnn/scripts/gpu_slices.sh "0:CONFIG[:KEY=VAL]" "1:CONFIG" ...
# Each job: GPU index, table file, optional --set override. Provenance goes to $OUT/env.txt and each
# run's result.json (card, torch, commit, command, wall time).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; SECS=${SECS:-540}; mkdir -p "$OUT" runs
{ date -u +%FT%TZ; nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, numba, pandas, scipy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numba', numba.__version__)"
  echo "commit ${SKETCHBOUND_COMMIT:-unknown}"; echo "jobs $*"; } > "$OUT/env.txt" 2>&1
t0=$(date +%s)
i=0
for job in "$@"; do
  IFS=: read -r gpu cfg set <<< "$job"
  extra=(); [ -n "${set:-}" ] && extra=(--set "$set")
  ( CUDA_VISIBLE_DEVICES=$gpu timeout "$SECS" python3 -m sketchbound.dnn.table "$cfg" "${extra[@]}" \
      --data-root .data/fashion-mnist --runs-dir runs --no-progress > "$OUT/job$i.log" 2>&1
    echo "exit $? after $(( $(date +%s) - t0 )) s" >> "$OUT/job$i.log" ) &
  i=$((i+1))
done
wait
echo "wall $(( $(date +%s) - t0 )) s" >> "$OUT/env.txt"
bash "$(dirname "$0")/pack_runs.sh" runs "$OUT"
