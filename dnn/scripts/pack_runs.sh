#!/usr/bin/env bash
# Pack the small files of every finished run under RUNS (result.json, config.json/.toml, log.txt; no
# checkpoints or masks) into OUT/runs.tgz and append "finished runs: N" to OUT/env.txt.
# usage: bash dnn/scripts/pack_runs.sh RUNS OUT
set -uo pipefail
runs=$1; out=$2; list=$(mktemp)
find "$runs" -name result.json | sed 's|/result.json||' | while read -r d; do
  for f in result.json config.json config.toml log.txt; do [ -f "$d/$f" ] && echo "$d/$f"; done
done > "$list"
tar czf "$out/runs.tgz" -T "$list" 2>/dev/null
echo "finished runs: $(grep -c /result.json "$list")" >> "$out/env.txt"
rm -f "$list"
