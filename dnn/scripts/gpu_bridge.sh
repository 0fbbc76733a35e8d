#!/usr/bin/env bash
# The bridge's deep rungs on one GPU, one device call per CALL; every result under $OUT.
# usage (repo root, Fashion-MNIST IDX files in .data/fashion-mnist):
#   SKETCHBOUND_COMMIT=<sha> bash dnn/scripts/gpu_bridge.sh CALL
#   CALL 1: ResNet-20 pilots (seeds 100-102) -> dnn/configs/bridge_constants_resnet20.json, then SynFlow's
#           ResNet-20 ladder (bridge_resnet20.toml) until the time is up.
#   CALL 2: the confirmatory table (bridge_resnet20_confirm.toml): the 0.5% row (its 4 arms in one group of 40),
#           then the 2% row in groups of 20 (variance-aware + randomized first); the same run names as the whole
#           table's (--set density=... only picks a row), so its --stats (below) reads them all.
#   CALL 3: what remains of SynFlow's ResNet-20 ladder, SNIP's (bridge_resnet20_snip.toml), then LeNet-300-100 (pilots, constants, ladder), then VGG-19.
#   CALL snip | lenet | vgg19: one of CALL 3's steps alone (SNIP's ResNet-20 ladder with its dense runs; LeNet-300-100's
#           pilots, constants and ladder, which need the full Fashion-MNIST; VGG-19's).
# Every call resumes: runs with a result.json are skipped; a warm machine keeps runs/ (checkpoints, masks) between
# calls; on a fresh one, unpack the previous calls' $OUT/bridge_resume.tgz into .data/bridge_prior/ first (it
# holds the finished runs' small files, the constants JSONs and the ResNet-20/LeNet dense runs' checkpoints).
# Each call leaves under $OUT: env.txt (card, driver, torch, commit, command, wall time), one log per table,
# tables/ (CSV/MD of every table; the confirmatory _paired files), validation/bridge/<rung>.csv, the constants
# JSONs, runs.tgz (result.json, config, log, bridge_measured.json of every finished run) and bridge_resume.tgz.
# Environment: SECS (default 560: the call's budget, including the ~45 s reserved for measuring and packing),
# RUNS (runs), DATA (.data/fashion-mnist), BRIDGE_ARGS (extra --epochs/--set options for every table and the
# tool, e.g. a CPU smoke test: BRIDGE_ARGS="--epochs 1 --set train_subset=256 --set synflow_rounds=2").
set -uo pipefail
export PYTHONUNBUFFERED=1
CALL=${1:?usage: gpu_bridge.sh CALL (1, 2, 3, snip, lenet or vgg19)}
case "$CALL" in 1|2|3|snip|lenet|vgg19) ;; *) echo "gpu_bridge.sh: error: CALL must be 1, 2, 3, snip, lenet or vgg19, got '$CALL'" >&2; exit 2;; esac
OUT=${OUT:-/tmp/out}; SECS=${SECS:-560}; RUNS=${RUNS:-runs}; DATA=${DATA:-.data/fashion-mnist}; RESERVE=${RESERVE:-45}
read -r -a EXTRA <<< "${BRIDGE_ARGS:-}"
mkdir -p "$OUT/validation/bridge" "$OUT/tables" "$RUNS"
t0=$(date +%s); deadline=$((t0 + SECS))
ENV="$OUT/env.txt"
{ date -u +%FT%TZ; nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch, numba, pandas, scipy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numba', numba.__version__)"
  echo "commit ${SKETCHBOUND_COMMIT:-unknown}"; echo "command: bash dnn/scripts/gpu_bridge.sh $CALL (SECS=$SECS BRIDGE_ARGS=${BRIDGE_ARGS:-})"; } > "$ENV" 2>&1

for f in .data/bridge_prior/*.tgz; do  # the previous calls' finished runs, constants and dense checkpoints
  [ -f "$f" ] && tar xzf "$f" --skip-old-files && echo "restored $f" >> "$ENV"
done

left() { echo $(( deadline - $(date +%s) - RESERVE )); }

table() {  # table NAME [table options]: train what is missing within the time left
  local name=$1; shift; local s; s=$(left)
  if [ "$s" -le 15 ]; then echo "$name: skipped, no time left" >> "$ENV"; return 1; fi
  timeout "$s" python3 -m sketchbound.dnn.table "dnn/configs/$name.toml" --data-root "$DATA" --runs-dir "$RUNS" \
    --out "$OUT/tables" --no-progress "${EXTRA[@]}" "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc at +$(( $(date +%s) - t0 )) s" >> "$ENV"
  return $rc
}

tool() {  # tool SUBCOMMAND TABLE [options]: the bridge tool with the tables' overrides
  local sub=$1 name=$2; shift 2
  python3 dnn/scripts/bridge_tool.py "$sub" "dnn/configs/$name.toml" --runs-dir "$RUNS" --data-root "$DATA" \
    "${EXTRA[@]}" "$@" >> "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: bridge_tool $sub exit $rc at +$(( $(date +%s) - t0 )) s" >> "$ENV"
  return $rc
}

constants() {  # constants MODEL PILOT: the per-layer constants JSON (pilots trained here if it is missing)
  local json="dnn/configs/bridge_constants_$1.json"
  if ! tool constants "$2" --out "$json" --check; then  # missing, or from other pilots (e.g. other overrides)
    rm -f "$json"
    table "$2" && tool constants "$2" --out "$json"
  fi
  [ -f "$json" ] && cp "$json" "$OUT/" && echo "constants: $json" >> "$ENV"
  [ -f "$json" ]
}

rung() {  # rung TABLE NAME: train, measure at the dense weights, write the rung's CSV
  table "$1"
  tool measure "$1"
  tool csv "$1" --rung "$2" --out "$OUT/validation/bridge/$2.csv"
}

case "$CALL" in
  1) constants resnet20 bridge_pilot_resnet20 && rung bridge_resnet20 resnet20 ;;
  2) if constants resnet20 bridge_pilot_resnet20; then  # row by row, so a call cut short leaves whole cells
       table bridge_resnet20_confirm --set density=0.005  # the 0.5% row, all four arms: one group of 40
       table bridge_resnet20_confirm --set density=0.02 --concurrent 20  # 2%: VA + randomized, then the other two
     fi
     tool csv bridge_resnet20_confirm --rung resnet20-confirm --out "$OUT/validation/bridge/resnet20-confirm.csv" ;;
  3) constants resnet20 bridge_pilot_resnet20 && rung bridge_resnet20 resnet20 && rung bridge_resnet20_snip resnet20-snip
     constants lenet300100 bridge_pilot_lenet && rung bridge_lenet lenet
     constants vgg19 bridge_pilot_vgg19 && rung bridge_vgg19 vgg19 ;;
  snip) constants resnet20 bridge_pilot_resnet20 && rung bridge_resnet20_snip resnet20-snip ;;
  lenet) constants lenet300100 bridge_pilot_lenet && rung bridge_lenet lenet ;;
  vgg19) constants vgg19 bridge_pilot_vgg19 && rung bridge_vgg19 vgg19 ;;
esac
# the tables' CSV/MD of whatever finished (also those not trained in this call)
python3 -m sketchbound.dnn.table dnn/configs/bridge_resnet20.toml dnn/configs/bridge_resnet20_snip.toml \
  dnn/configs/bridge_resnet20_confirm.toml \
  dnn/configs/bridge_vgg19.toml dnn/configs/bridge_lenet.toml --stats --no-train --runs-dir "$RUNS" \
  --out "$OUT/tables" "${EXTRA[@]}" >> "$OUT/tables.log" 2>&1 || echo "tables: no-train aggregate exit $?" >> "$ENV"

# pack: the finished runs' small files, and what a fresh machine needs to resume
list=$(mktemp)
find "$RUNS" -name result.json | sed 's|/result.json$||' | while read -r d; do
  for f in result.json config.json config.toml log.txt bridge_measured.json; do [ -f "$d/$f" ] && echo "$d/$f"; done
done > "$list"
tar czf "$OUT/runs.tgz" -T "$list" 2>/dev/null
{ cat "$list"; ls dnn/configs/bridge_constants_*.json 2>/dev/null
  find "$RUNS" -path "*-dense-*" -name checkpoint.pt | grep -E "/(resnet20|lenet300100)-" | while read -r c; do
    [ -f "$(dirname "$c")/result.json" ] && grep -q '"bridge_record": true' "$(dirname "$c")/config.json" && echo "$c"; done
} > "$list.resume"
tar czf "$OUT/bridge_resume.tgz" -T "$list.resume" 2>/dev/null
echo "finished runs: $(grep -c /result.json "$list")" >> "$ENV"
echo "wall $(( $(date +%s) - t0 )) s" >> "$ENV"
rm -f "$list" "$list.resume"
