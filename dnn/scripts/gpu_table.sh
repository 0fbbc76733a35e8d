#!/usr/bin/env bash
# Run (part of) the Fashion-MNIST Table I analogue on a GPU and copy what finished to $OUT.
# Recorded result: dnn/results/table1_fmnist_synflow_snip_runs, table2_fmnist_datafree_runs (dnn/results/README.md).
# usage: bash dnn/scripts/gpu_table.sh MODEL EPOCHS SECONDS   (run from the repo root, data in .data/fashion-mnist)
set -uo pipefail
export PYTHONUNBUFFERED=1
MODEL=$1; EPOCHS=$2; SECS=$3; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; git rev-parse HEAD 2>/dev/null; python3 -c "import torch; print('torch', torch.__version__)"; } > "$OUT/env_$MODEL.txt" 2>&1
timeout "$SECS" python3 -m sketchbound.dnn.table dnn/configs/${TABLE:-table1_fmnist_synflow_snip}.toml --epochs "$EPOCHS" \
  --set model="$MODEL" --data-root .data/fashion-mnist --runs-dir runs --no-progress > "$OUT/table_$MODEL.log" 2>&1
echo "table exit $?" >> "$OUT/table_$MODEL.log"
tar czf "$OUT/runs_$MODEL.tgz" $(ls -d runs/*/ 2>/dev/null | grep -v tables | while read d; do for f in result.json config.json config.toml log.txt; do [ -f "$d$f" ] && echo "$d$f"; done; done) 2>/dev/null
ls runs/*/result.json 2>/dev/null | wc -l >> "$OUT/table_$MODEL.log"
