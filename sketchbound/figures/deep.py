"""Deep-network evidence for §7 at a glance: randomized − threshold mask of the same scores, per seed.

For each recorded table (``dnn/results/<table>_runs``, trained on GPUs; see ``dnn/results/README.md``)
and each density, the difference Δ = acc(randomized mask) − acc(threshold mask) of one method's scores
is computed per seed from the runs' ``result.json`` files, next to the table's own paired statistics
(mean Δ, 95% Student-t CI, Holm-corrected p over that table's comparisons, from ``<table>_paired.csv``).
The per-seed mean is checked against the recorded paired mean before anything is drawn.

The rows: ResNet-20 on Fashion-MNIST-5k (160 epochs; the exploratory seeds 0–4 and the pre-registered
confirmatory seeds 5–14, SynFlow only), ResNet-20 on full Fashion-MNIST (60 epochs) and VGG-19 on
Fashion-MNIST-5k (with its pre-registered confirmatory seeds 5–14 at 0.02%, SynFlow only), for SynFlow
and SNIP; and the pre-registered transfer tests on MNIST-5k (ResNet-20 at 10 / 2 / 0.5%, VGG-19 at 0.02%,
seeds 0–9, SynFlow only) with the confirmations of ResNet-20's 2% cell on seeds 10–29 and of VGG-19's 0.02%
cell on seeds 10–33. Trains nothing and needs no GPU: it reads recorded files, through the dnn package (so
PyTorch must be installed).

    python -m sketchbound.figures --fig deep                # from dnn/results, into figures/
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .common import run_figure

__all__ = ["STEM", "ROWS", "axis_cut", "check_results"]

STEM = "deep_randomized_vs_threshold"

#: (table, method, setting label); the table's config is ``<configs>/<table>.toml``
ROWS = (
    ("table1_fmnist5k", "SynFlow", "ResNet-20, FMNIST-5k, seeds 0-4"),
    ("table1_fmnist5k_confirm", "SynFlow", "ResNet-20, FMNIST-5k, seeds 5-14 (confirmatory)"),
    ("table1_fmnist_60ep", "SynFlow", "ResNet-20, full FMNIST, 60 epochs"),
    ("table1_fmnist5k_vgg19", "SynFlow", "VGG-19, FMNIST-5k"),
    ("table1_fmnist5k_vgg19_low", "SynFlow", "VGG-19, FMNIST-5k"),
    ("table1_fmnist5k_vgg19_confirm", "SynFlow", "VGG-19, FMNIST-5k, seeds 5-14 (confirmatory)"),
    ("table1_mnist5k_transfer", "SynFlow", "ResNet-20, MNIST-5k, seeds 0-9 (pre-registered)"),
    ("table1_mnist5k_confirm", "SynFlow", "ResNet-20, MNIST-5k, seeds 10-29 (confirmatory)"),
    ("table1_mnist5k_vgg19_transfer", "SynFlow", "VGG-19, MNIST-5k, seeds 0-9 (pre-registered)"),
    ("table1_mnist5k_vgg19_confirm", "SynFlow", "VGG-19, MNIST-5k, seeds 10-33 (confirmatory)"),
    ("table1_fmnist5k", "SNIP", "ResNet-20, FMNIST-5k, seeds 0-4"),
    ("table1_fmnist_60ep", "SNIP", "ResNet-20, full FMNIST, 60 epochs"),
    ("table1_fmnist5k_vgg19", "SNIP", "VGG-19, FMNIST-5k"),
    ("table1_fmnist5k_vgg19_low", "SNIP", "VGG-19, FMNIST-5k"),
)


def check_results(results) -> tuple[Path, Path]:
    """The results folder and its sibling ``configs`` folder, checked to hold every recorded run the figure reads.

    Parameters
    ----------
    results : str or Path
        A copy of ``dnn/results`` (next to ``dnn/configs``).

    Returns
    -------
    tuple of pathlib.Path
        ``(results, configs)``; ``FileNotFoundError`` naming what is missing (the CLI turns it into one line
        and exit 2).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     check_results(Path(t) / "results")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: --results '...': the recorded deep-network results are incomplete (...
    """
    results = Path(results)
    configs = results.parent / "configs"
    need = [configs / f"{t}.toml" for t, _, _ in ROWS] + [results / f"{t}_paired.csv" for t, _, _ in ROWS] \
        + [results / f"{t}_runs" for t, _, _ in ROWS]
    missing = [str(p) for p in dict.fromkeys(need) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"--results {str(results)!r}: the recorded deep-network results are incomplete "
                                f"({len(missing)} missing, first {missing[0]}); run from the repository root or "
                                "pass --results DIR (a copy of dnn/results next to dnn/configs)")
    return results, configs


def compute(args) -> tuple[pd.DataFrame, dict]:
    from sketchbound.dnn.experiments.table import load_table, run_records  # noqa: PLC0415

    results, configs = check_results(args.results)
    frames = []
    for table, method, label in ROWS:
        recs = run_records(load_table(configs / f"{table}.toml"), results / f"{table}_runs")
        paired = pd.read_csv(results / f"{table}_paired.csv")
        a, b = f"{method} randomized", f"{method} threshold"
        wide = recs[recs.variant.isin([a, b])].pivot_table(index=["density", "seed"], columns="variant",
                                                           values="accuracy").dropna()
        delta = (wide[a] - wide[b]).rename("delta").reset_index()
        for density, g in sorted(delta.groupby("density"), key=lambda kv: -kv[0]):  # 10% first
            row = paired[(paired.a == a) & (paired.b == b) & np.isclose(paired.density, density)]
            if len(row) != 1:
                raise ValueError(f"{table}_paired.csv has {len(row)} rows for {a} vs {b} at density {density}")
            row = row.iloc[0]
            if not np.isclose(g.delta.mean(), row.delta, atol=5e-3) or len(g) != row.pairs:
                raise ValueError(f"{table}: the runs give mean delta {g.delta.mean():.3f} over {len(g)} seeds at "
                                 f"density {density}, its paired table {row.delta:.3f} over {row.pairs}")
            frames.append(g.assign(table=table, method=method, setting=label, mean_delta=row.delta,
                                   ci_low=row.ci_low, ci_high=row.ci_high, p=row.p, p_holm=row.p_holm,
                                   holm_family=len(paired), pairs=int(row.pairs)))
    df = pd.concat(frames, ignore_index=True)[["method", "setting", "table", "density", "seed", "delta", "mean_delta",
                                               "ci_low", "ci_high", "p", "p_holm", "holm_family", "pairs"]]
    meta = {"results": str(results), "tables": sorted({t for t, _, _ in ROWS}), "rows": len(df)}
    return df, meta


def caption(meta: dict) -> str:
    return ("Randomized − threshold mask of the same scores (§7), test accuracy in points, per seed (grey) and "
            "mean with 95% CI (green: Holm-corrected p < 0.05 within its table), " + str(len(meta["tables"]))
            + " recorded GPU tables: " + ", ".join(meta["tables"]) + ". Each panel has its own axis, cut where a few "
            "collapsed-threshold seeds would stretch it: values beyond the cut are drawn as triangles at the edge "
            "and their values are in the row's label.")


def axis_cut(deltas, ends=(), factor: float = 5.0, q: float = 0.8) -> float | None:
    """Half-width of a panel's x axis, or ``None`` to keep it whole.

    Parameters
    ----------
    deltas : array-like
        The panel's per-seed Δ (accuracy points).
    ends : array-like
        Other values drawn on the panel (the cells' CI ends).
    factor, q : float
        The cut is ``factor`` × the ``q``-quantile of |Δ| over ``deltas`` (at least ``factor`` × 0.25).

    Returns
    -------
    float or None
        The cut, only when some seed or CI end lies beyond it; else ``None``.

    Examples
    --------
    >>> round(axis_cut([0.1, -0.2, 0.3, 0.2, -0.1, 0.25, 0.15, 0.2, 0.1, 30.0]), 2)
    1.3
    >>> axis_cut([0.1, -0.2, 0.3]) is None
    True
    """
    v = np.abs(np.asarray(deltas, dtype=float))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    lim = factor * max(float(np.quantile(v, q)), 0.25)
    e = np.abs(np.asarray(list(ends), dtype=float))
    top = max(v.max(), float(e[np.isfinite(e)].max()) if np.isfinite(e).any() else 0.0)
    return lim if top > lim else None


def _edge(ax, x: float, y: float, lim: float, colour, size: float) -> float:
    """``x`` if it is on the axis, else a triangle at the edge (the caller prints the value)."""
    if abs(x) <= lim:
        return x
    edge = float(np.sign(x) * lim)
    ax.plot([edge], [y], ">" if x > 0 else "<", color=colour, ms=size, zorder=4, clip_on=False)
    return edge


def plot(df: pd.DataFrame, cap: str):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    methods = list(dict.fromkeys(df.method))
    counts = [df[df.method == m].groupby(["setting", "density"]).ngroups for m in methods]
    # own x axis per method, cut where SNIP's collapsed threshold seeds (Δ ≈ ±30) would squash the rest
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 0.32 * max(counts) + 1.6),
                             squeeze=False)
    for ax, m in zip(axes[0], methods):
        d = df[df.method == m]
        lim = axis_cut(d.delta, np.concatenate([d.ci_low, d.ci_high]))
        cut = lim if lim is not None else np.inf
        cells = list(d.groupby(["setting", "density"], sort=False))
        labels = []
        for y, ((setting, density), g) in enumerate(cells):
            y = -y
            inside = [float(x) for x in g.delta if abs(x) <= cut]
            ax.scatter(inside, np.full(len(inside), y), s=9, color="0.6", zorder=2)
            off = sorted(float(x) for x in g.delta if abs(x) > cut)
            for x in off:
                _edge(ax, x, y, cut, "0.45", 4)
            c = g.iloc[0]
            colour = "C2" if c.p_holm < 0.05 else "k"
            ends = [_edge(ax, float(v), y - 0.12, cut, colour, 4) if np.isfinite(v) else v for v in (c.ci_low, c.ci_high)]
            ax.plot(ends, [y - 0.12, y - 0.12], "-", color=colour, lw=1.3, zorder=3)
            ax.plot([c.mean_delta], [y - 0.12], "o", color=colour, ms=4, zorder=3)
            label = f"{setting}, {100 * density:g}%"
            if off or any(np.isfinite(v) and abs(v) > cut for v in (c.ci_low, c.ci_high)):
                label += (f"\nmean {c.mean_delta:+.1f} [{c.ci_low:+.1f}, {c.ci_high:+.1f}]; off-axis seeds "
                          + ", ".join(f"{x:+.1f}" for x in off))
            labels.append(label)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks([-i for i in range(len(cells))], labels)
        if lim is not None:
            ax.set_xlim(-lim, lim)
            ax.set_title(f"{m} (axis cut at ±{lim:.1f}; off-axis values in the row label)")
        else:
            ax.set_title(m)
        ax.set_xlabel("Δ accuracy (points), randomized − threshold")
    fig.suptitle(cap, fontsize=7, wrap=True, y=0.01, va="bottom")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def run(args):
    return run_figure(compute, caption, plot, STEM, args)
