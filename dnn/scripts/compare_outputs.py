"""Regenerate the outputs a refactor must not change and compare them with a reference folder.

    python dnn/scripts/compare_outputs.py make OUTDIR      # quick figures' CSVs, the recorded tables, validate --all --json
    python dnn/scripts/compare_outputs.py diff REF OUTDIR   # one line per file: identical / DIFFERENT (+ first difference)

Used for issue 17's acceptance (behaviour unchanged by the restructuring): `make` at the commit before,
`make` at the commit after, then `diff`. Wall-time fields of JSON files are ignored; the figures' CSVs,
the tables and the validator's verdicts and numbers are compared exactly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TABLES = ["table1_fmnist_synflow_snip", "table2_fmnist_datafree"]
VOLATILE = {"wall_s", "seconds", "elapsed_s", "time_s", "timings", "date", "version", "command"}


def make(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SKETCHBOUND_DATA=os.environ.get("SKETCHBOUND_DATA", "/usr/share/datasets/fashion-mnist"))
    for t in TABLES:
        subprocess.run([sys.executable, "-m", "sketchbound.dnn.table", f"dnn/configs/{t}.toml", "--no-train",
                        "--runs-dir", f"dnn/results/{t}_runs", "--epochs", "5", "--out", str(out / "tables"), "--stats"],
                       check=True, env=env, capture_output=True)
    for fig in ("1", "2", "3", "theory"):
        subprocess.run([sys.executable, "-m", "sketchbound.figures", "--fig", fig, "--quick", "--out", str(out / "figs")],
                       check=True, env=env, capture_output=True)
    r = subprocess.run([sys.executable, "-m", "sketchbound.validate", "--all", "--json"], env=env, capture_output=True,
                       text=True)
    (out / "validate_all.json").write_text(r.stdout)


def _strip(o):
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if k not in VOLATILE}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    return o


def diff(ref: Path, new: Path) -> int:
    bad = 0
    for f in sorted(p for p in ref.rglob("*") if p.is_file() and p.suffix in (".csv", ".json", ".md")):
        rel = f.relative_to(ref)
        g = new / rel
        if not g.is_file():
            print(f"MISSING    {rel}")
            bad += 1
            continue
        if f.suffix == ".json":
            try:
                a, b = _strip(json.loads(f.read_text())), _strip(json.loads(g.read_text()))
            except json.JSONDecodeError:
                a, b = f.read_text(), g.read_text()
        else:
            a, b = f.read_text(), g.read_text()
        if a == b:
            print(f"identical  {rel}")
        else:
            bad += 1
            print(f"DIFFERENT  {rel}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        sys.exit(diff(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.stderr.write("usage: compare_outputs.py make OUTDIR | diff REF OUTDIR\n")
        sys.exit(2)
