"""Do the recorded runs that end at chance have a path from input to output? Effective weights per run.
Recorded result: ``dnn/results/table1_fmnist5k_vgg19_low_effective.csv`` (``dnn/results/README.md``, §2).

For each recorded run of a runs folder (``*/config.json`` + ``result.json``), the run's mask is computed
again on this machine's CPU (``prune_report``: same config, seeds and scores as the run; ``--data-root``
replaces the recorded data folder) and its *effective* weights are counted: the kept weights on some
path from the input to the output (:mod:`sketchbound.dnn.pruning.effective`). A run with none cannot
depend on its input. The CSV has, per run: the recorded accuracy, the recomputed kept count, the largest
per-layer difference between the recomputed and the recorded kept counts (``kept_per_layer``; GPU and
CPU scores can differ in the last bits, so a mask can differ in a few weights), the effective count and
fraction, and ``connected``. No GPU; a VGG-19 SynFlow mask (100 scoring rounds) takes about 2 minutes on
2 cores, a SNIP or random one seconds.

    python dnn/scripts/effective_density.py --runs-dir dnn/results/table1_fmnist5k_vgg19_low_runs --match snip random --out /tmp/eff.csv
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def run_row(run_dir: Path, data_root: str | None) -> dict:
    from sketchbound.dnn.experiments.config import RunConfig
    from sketchbound.dnn.experiments.prune import prune_report
    cfg = json.loads((run_dir / "config.json").read_text())
    res = json.loads((run_dir / "result.json").read_text())
    if data_root is not None:
        cfg["data_root"] = data_root
    rep, _ = prune_report(RunConfig.from_dict(cfg))
    rec = res.get("kept_per_layer") or {}
    diff = max((abs(r["kept"] - rec[r["layer"]]) for r in rep["layers"] if r["layer"] in rec), default=None)
    return {"run": run_dir.name, "method": cfg["method"], "mask": cfg["mask"], "density": cfg["density"],
            "seed": cfg["seed"], "accuracy": res["accuracy"], "kept": rep["kept"], "max_layer_kept_diff": diff,
            "effective": rep["effective"], "effective_fraction": rep["effective"] / rep["kept"] if rep["kept"] else 0.0,
            "connected": rep["connected"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", required=True, help="a folder of recorded run folders")
    ap.add_argument("--match", nargs="+", default=None,
                    help="only runs whose folder name contains one of these strings (e.g. snip random d0.0002)")
    ap.add_argument("--data-root", default=None, help="dataset folder (default: each run's recorded one)")
    ap.add_argument("--out", required=True, help="CSV to write (atomically)")
    a = ap.parse_args(argv)
    runs = sorted(p.parent for p in Path(a.runs_dir).glob("*/config.json"))
    runs = [r for r in runs if "-dense-" not in r.name and (a.match is None or any(m in r.name for m in a.match))]
    if not runs:
        ap.error(f"--runs-dir {a.runs_dir!r}: no pruned run folders (config.json) match")
    import pandas as pd
    from tqdm import tqdm

    from sketchbound._io import atomic_write
    rows = [run_row(r, a.data_root) for r in tqdm(runs, desc="masks", unit="run")]
    df = pd.DataFrame(rows)
    atomic_write(a.out, df.to_csv(index=False))
    summ = df.groupby(["density", "method", "mask"]).agg(
        runs=("run", "size"), accuracy=("accuracy", "mean"), at_chance=("accuracy", lambda s: int((s <= 10.5).sum())),
        connected=("connected", "sum"), effective_fraction=("effective_fraction", "mean"),
        max_layer_kept_diff=("max_layer_kept_diff", "max"))
    print(summ.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
