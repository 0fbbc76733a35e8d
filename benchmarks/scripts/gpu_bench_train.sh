#!/usr/bin/env bash
# The masked trainers against their strongest rivals, ResNet-20 and VGG-19, in one call on one GPU.
# usage (from the repo root, one H100/H200): OUT=/some/dir bash benchmarks/scripts/gpu_bench_train.sh
# writes $OUT/fused_check.json (+ .log): FusedTrainer vs ConcurrentTrainer on CUDA (graphs + bf16, and eager fp32),
# 3 short epochs, 4 masked models each of ResNet-20/VGG-19, and choose_fusion's measured pick for 8 models (<= 60 s);
# then $OUT/bench_train.json, $OUT/bench_train.md (after each model, atomically), $OUT/bench_train.log, $OUT/env.txt.
# time: ~1.5 min for plain/vmap/streams/fused of both models + torch.compile(max-autotune) compilation (~2 min per
# model, each capped by --compile-timeout 150); everything is capped at 7.7 min (whatever finished is kept).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export SKETCHBOUND_COMMIT=${SKETCHBOUND_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/sketchbound-inductor}
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  echo "commit $SKETCHBOUND_COMMIT"; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
} > "$OUT/env.txt" 2>&1
PYTHONPATH=. timeout -k 5 60 python3 benchmarks/scripts/gpu_fused_check.py --out "$OUT" > "$OUT/fused_check.log" 2>&1
echo "fused_check exit $?" >> "$OUT/fused_check.log"
timeout -k 10 390 python3 -m sketchbound.dnn.bench_train --model all --jobs "${JOBS:-8}" --steps "${STEPS:-400}" \
  --warmup 30 --compile-timeout "${COMPILE_TIMEOUT:-150}" --out "$OUT" ${BENCH_ARGS:-} > "$OUT/bench_train.log" 2>&1
echo "bench_train exit $?" >> "$OUT/bench_train.log"
tail -n 40 "$OUT/bench_train.log"
