#!/usr/bin/env bash
# A real table slice on 1 GPU and on N GPUs through Dask in one call; prints the speed-up as JSON.
# usage (repo root; Fashion-MNIST in .data/fashion-mnist; Dask wheels in .whl, see dnn/scripts/install_carried_wheels.sh):
#   bash benchmarks/scripts/gpu_dask_speedup.sh [ARGS of benchmarks/scripts/gpu_dask_speedup.py, e.g. --gpus 4 --runs 64 --epochs 1]
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
bash dnn/scripts/install_carried_wheels.sh
python3 benchmarks/scripts/gpu_dask_speedup.py --out "$OUT" "$@" 2> "$OUT/dask_speedup_stderr.log"
