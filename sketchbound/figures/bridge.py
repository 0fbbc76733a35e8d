"""The bridge at a glance: along the axis of sampling laws (β of ``p ∝ p0^β``, then the variance-aware
law), the error the theory predicts at init, Lemma 4.3's error measured at the trained weights, and the
masked model's test accuracy — one row of panels per rung and model (in the ladder's order), one panel per density
of that rung (largest first).

Reads every rung CSV under ``--bridge`` (default ``validation/bridge``) that has the shared columns
(:data:`sketchbound.bridge.analysis.COLUMNS`: rung, model, density, law, procedure, seed, predicted_error,
measured_error, test_acc, test_loss): the CPU rungs (``linear.csv``, ``ntk.csv``) and any deep rung written
with the same columns. Trains nothing; means over seeds. Errors are drawn relative to the same
procedure's ``beta=1`` value (log scale), so rungs of very different scales share an axis.

    python -m sketchbound.figures --fig bridge            # from validation/bridge, into figures/
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..bridge.analysis import COLUMNS, rung_order
from ..bridge.laws import LAWS
from .common import run_figure

__all__ = ["STEM", "CAP", "AXIS", "rung_csvs"]

STEM = "bridge"
PROC_COLOR = {"alg1": "C0", "sec7": "C3"}
#: the x-axis: the laws of :data:`LAWS`, then the scoring method's own threshold mask (the confirmatory runs' arm)
AXIS = (*LAWS, "threshold")
#: relative errors above this are drawn at it, with an upward triangle (Algorithm 1 at large β reaches 1e18)
CAP = 1e3


def rung_csvs(folder) -> list[Path]:
    """The CSVs of ``folder`` that have every shared column of the bridge's rungs.

    Parameters
    ----------
    folder : str or Path
        The folder of the rungs' CSVs (e.g. ``validation/bridge``).

    Returns
    -------
    list of pathlib.Path
        The CSVs in the ladder's order (:func:`~sketchbound.bridge.analysis.rung_order` of the file's
        stem); ``FileNotFoundError`` when there is none.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     _ = (Path(t) / "linear.csv").write_text(",".join(COLUMNS))
    ...     _ = (Path(t) / "other.csv").write_text("a,b")
    ...     [p.name for p in rung_csvs(t)]
    ['linear.csv']
    """
    folder = Path(folder)
    out = []
    for p in sorted(folder.glob("*.csv"), key=lambda q: rung_order(q.stem)):
        head = pd.read_csv(p, nrows=0).columns
        if all(c in head for c in COLUMNS):
            out.append(p)
    if not out:
        raise FileNotFoundError(f"--bridge {str(folder)!r}: no rung CSV with the columns {', '.join(COLUMNS)}; run "
                                "python -m sketchbound.bridge --rung linear (and --rung ntk) first")
    return out


def compute(args) -> tuple[pd.DataFrame, dict]:
    files = rung_csvs(getattr(args, "bridge", "validation/bridge"))
    df = pd.concat([pd.read_csv(p)[COLUMNS] for p in files], ignore_index=True)
    g = df.groupby(["rung", "model", "density", "procedure", "law"], sort=False)
    agg = g[["predicted_error", "measured_error", "test_acc", "test_loss"]].mean().reset_index()
    agg["seeds"] = g.seed.nunique().to_numpy()
    ref = agg[agg.law == "beta=1"].set_index(["rung", "model", "density", "procedure"])
    key = list(zip(agg.rung, agg.model, agg.density, agg.procedure))
    for col in ("predicted_error", "measured_error"):
        base = np.array([ref[col].get(k, np.nan) for k in key])
        agg[f"{col}_rel"] = agg[col] / base
    agg["x"] = [AXIS.index(law) if law in AXIS else len(AXIS) for law in agg.law]
    return agg, {"files": [str(p) for p in files], "rungs": list(dict.fromkeys(agg.rung)), "rows": len(agg)}


def caption(meta: dict) -> str:
    return ("Along the axis of sampling laws (x: β of p ∝ p0^β, then the variance-aware law), means over seeds: "
            "predicted error at init (solid) and Lemma 4.3's error measured at the trained weights (dashed), both "
            "relative to β = 1 of the same procedure (left, log; ▲ = above 10³, drawn at 10³), and test accuracy after masked training (dotted, "
            "right); blue: Algorithm 1 (with replacement), red: §7 (threshold's counts, without replacement); "
            "thr.: the scoring method's own threshold mask (SynFlow's rounds thresholds too); each row shows the "
            "densities its rung ran, largest first. "
            "From " + ", ".join(Path(f).name for f in meta["files"]) + ".")


def plot(df: pd.DataFrame, cap: str):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = list(dict.fromkeys(zip(df.rung, df.model)))
    dens_of = {r: sorted(df[(df.rung == r[0]) & (df.model == r[1])].density.unique(), reverse=True) for r in rows}
    ncol = max(len(d) for d in dens_of.values())
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3.3 * ncol, 2.4 * len(rows) + 0.8), squeeze=False)
    labels = [law.replace("beta=", "β=").replace("variance-aware", "VA").replace("threshold", "thr.") for law in AXIS]
    for i, (rung, model) in enumerate(rows):
        for ax in axes[i][len(dens_of[rung, model]):]:  # a rung with fewer densities than the widest row
            ax.axis("off")
        for j, density in enumerate(dens_of[rung, model]):
            ax = axes[i][j]
            acc_ax = ax.twinx()
            d = df[(df.rung == rung) & (df.model == model) & np.isclose(df.density, density)]
            for proc, c in PROC_COLOR.items():
                e = d[d.procedure == proc].set_index("x").reindex(range(len(AXIS)))  # gaps stay gaps
                if e.law.isna().all():
                    continue
                for col, ls, mk in (("predicted_error_rel", "-", "s"), ("measured_error_rel", "--", "D")):
                    v = e[col].to_numpy(dtype=float)
                    ok = ~np.isnan(v)  # a line through the laws the rung has (the confirmatory runs: 4 of 9)
                    ax.plot(e.index[ok], np.minimum(v[ok], CAP), ls, color=c, marker=mk, ms=3)
                    over = v > CAP
                    ax.plot(e.index[over], np.full(over.sum(), CAP), "^", color=c, ms=6)
                ok = e.test_acc.notna().to_numpy()
                acc_ax.plot(e.index[ok], 100 * e.test_acc[ok], ":", color=c, marker="o", ms=3)
            ax.set_yscale("log")
            ax.set_xticks(range(len(AXIS)), labels, rotation=60)
            ax.set_title(f"{rung}: {model}, {100 * density:g}%")
            if j == 0:
                ax.set_ylabel("error / error(β=1)")
            if j == len(dens_of[rung, model]) - 1:
                acc_ax.set_ylabel("test accuracy (%)")
            acc_ax.grid(False)
    fig.suptitle(cap, fontsize=7, wrap=True, y=0.005, va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def run(args):
    return run_figure(compute, caption, plot, STEM, args)
