"""The answer a rung's CSV gives, as a small machine-readable summary.

Per ``(model, density, procedure)`` cell, over the masks of every law and seed:

* ``law_min_predicted`` / ``law_max_acc``: the law whose mean (over seeds) predicted error is smallest,
  and the law whose mean test accuracy is largest;
* ``spearman``: Spearman's rank correlation between ``predicted_error`` and ``test_acc`` across all the
  cell's masks (laws × seeds pooled; negative = a smaller predicted error goes with a higher accuracy),
  with a 95% percentile bootstrap interval from a **paired (cluster) resampling of seeds**: ``B``
  resamples of the seeds with replacement, each taking every mask of a drawn seed, ρ recomputed
  (``numpy``; stream ``bridge-bootstrap``). With three seeds the interval is coarse (few distinct
  resamples): read it as a spread, not as coverage.
* ``spearman_measured`` (with ``ci_measured_low``/``ci_measured_high``, the same bootstrap): the same rank
  correlation for Lemma 4.3's error measured at the trained weights (``measured_error``); ``None`` where a
  mask of the cell has no measured error (a run without a dense twin). Beside ``spearman`` it tells whether a
  failure is the prediction's (w* unknown at init) or the error's own (the measured error does not order the
  accuracies either).

Per ``(model, density)``: the variance-aware law against §7's randomized mask (``beta=1``, both with
the ``sec7`` procedure): Δ = acc(variance-aware) − acc(beta=1) paired by seed, two-sided paired t-test
(``scipy.stats.ttest_rel``; no p when fewer than 2 pairs or every Δ equal), Holm-corrected over the
model's densities (:func:`sketchbound.multiple_testing.holm`).
"""
from __future__ import annotations

import math

import numpy as np

from ..seeds import stream_rng
from ..multiple_testing import holm

__all__ = ["COLUMNS", "RUNGS", "rung_order", "summarize"]

#: the columns every rung's CSV has (the deep rungs write the same ones)
COLUMNS = ["rung", "model", "density", "law", "procedure", "seed", "predicted_error", "measured_error",
           "test_acc", "test_loss"]
#: the ladder, from the §3 linear model up to VGG-19: the order in which the report and the figure show the rungs
RUNGS = ("linear", "ntk", "lenet", "resnet20", "resnet20-snip", "resnet20-confirm", "vgg19")


def rung_order(name: str) -> tuple[int, str]:
    """Sort key of a rung's name (or of a file named ``<rung>.csv`` / ``<rung>_summary.json`` by its stem):
    the rungs of :data:`RUNGS` in the ladder's order, any other rung after them, alphabetically.

    Parameters
    ----------
    name : str
        A rung's name, e.g. ``"lenet"``.

    Returns
    -------
    tuple of (int, str)

    Examples
    --------
    >>> sorted(["vgg19", "zeta", "linear", "lenet"], key=rung_order)
    ['linear', 'lenet', 'vgg19', 'zeta']
    """
    return (RUNGS.index(name), name) if name in RUNGS else (len(RUNGS), name)


def _spearman(pred: np.ndarray, acc: np.ndarray) -> float:
    from scipy.stats import spearmanr  # noqa: PLC0415

    if np.ptp(np.nan_to_num(pred, posinf=np.finfo(float).max)) == 0 or np.ptp(acc) == 0:
        return math.nan
    return float(spearmanr(pred, acc).statistic)


def _bootstrap(g, n_boot: int, column: str = "predicted_error") -> tuple[float, float]:
    seeds = np.array(sorted(g.seed.unique()))
    by = {s: (g[column].to_numpy()[g.seed.to_numpy() == s], g.test_acc.to_numpy()[g.seed.to_numpy() == s])
          for s in seeds}
    rng = stream_rng(0, "bridge-bootstrap")
    vals, seen = [], {}
    for _ in range(n_boot):
        pick = rng.choice(seeds, seeds.size, replace=True)
        key = tuple(sorted(pick))  # pooled rho depends only on which seeds were drawn, how often: computed once
        if key not in seen:
            pred = np.concatenate([by[s][0] for s in key])
            acc = np.concatenate([by[s][1] for s in key])
            seen[key] = _spearman(pred, acc)
        if not math.isnan(seen[key]):
            vals.append(seen[key])
    if not vals:
        return math.nan, math.nan
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def _rho_ci(g, column: str, n_boot: int) -> tuple[float, float, float]:
    """Spearman's ρ between ``column`` and ``test_acc`` over the cell's masks, and its seed-bootstrap interval;
    all NaN where a mask of the cell has no value of ``column``."""
    if not g[column].notna().all():
        return math.nan, math.nan, math.nan
    return (_spearman(g[column].to_numpy(), g.test_acc.to_numpy()), *_bootstrap(g, n_boot, column))


def _clean(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def _argmin(means):
    """The law with the smallest mean; ``None`` where no law has a value (e.g. no measured error: the
    confirmatory runs have no dense twin)."""
    means = means.dropna()
    return str(means.idxmin()) if len(means) else None


def summarize(rows, n_boot: int = 2000) -> dict:
    """The summary of one rung's rows (module docstring).

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        A rung's CSV rows (at least :data:`COLUMNS`).
    n_boot : int
        Bootstrap resamples.

    Returns
    -------
    dict
        ``{"cells": [...], "variance_aware_vs_randomized": [...]}`` (NaN written as ``None``).

    Examples
    --------
    >>> rows = [dict(rung="r", model="m", density=0.1, law=l, procedure="sec7", seed=s, predicted_error=e,
    ...              measured_error=e, test_acc=a, test_loss=0.0)
    ...         for s in (0, 1) for l, e, a in (("beta=1", 2.0, 0.5), ("variance-aware", 1.0, 0.6 + s / 10))]
    >>> out = summarize(rows, n_boot=10)
    >>> round(out["cells"][0]["spearman"], 3), round(out["variance_aware_vs_randomized"][0]["delta_acc"], 3)
    (-0.943, 0.15)
    """
    import pandas as pd  # noqa: PLC0415
    from scipy.stats import ttest_rel  # noqa: PLC0415


    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"rows must have the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    cells = []
    for (model, density, proc), g in df.groupby(["model", "density", "procedure"], sort=False):
        means = g.groupby("law", sort=False)[["predicted_error", "test_acc", "measured_error"]].mean()
        rho, lo, hi = _rho_ci(g, "predicted_error", n_boot)
        m_rho, m_lo, m_hi = _rho_ci(g, "measured_error", n_boot)
        cells.append(dict(rung=str(g.rung.iloc[0]), model=model, density=float(density), procedure=proc,
                          law_min_predicted=str(means.predicted_error.idxmin()),
                          law_min_measured=_argmin(means.measured_error),
                          law_max_acc=str(means.test_acc.idxmax()), max_mean_acc=float(means.test_acc.max()),
                          spearman=_clean(rho),
                          ci_low=_clean(lo), ci_high=_clean(hi),
                          spearman_measured=_clean(m_rho), ci_measured_low=_clean(m_lo), ci_measured_high=_clean(m_hi),
                          masks=int(len(g)), seeds=int(g.seed.nunique())))
    comps = []
    for model, gm in df[df.procedure == "sec7"].groupby("model", sort=False):
        fam = []
        for density, g in gm.groupby("density", sort=False):
            w = g.pivot_table(index="seed", columns="law", values="test_acc")
            if "variance-aware" not in w or "beta=1" not in w:
                continue
            w = w[["variance-aware", "beta=1"]].dropna()
            delta = (w["variance-aware"] - w["beta=1"]).to_numpy()
            p = t = math.nan
            if delta.size >= 2 and np.ptp(delta) > 0:
                res = ttest_rel(w["variance-aware"], w["beta=1"])
                p, t = float(res.pvalue), float(res.statistic)
            fam.append(dict(rung=str(g.rung.iloc[0]), model=model, density=float(density),
                            delta_acc=float(delta.mean()) if delta.size else math.nan, t=t, p=p,
                            pairs=int(delta.size), wins=int((delta > 0).sum())))
        for rec, ph in zip(fam, holm([r["p"] for r in fam])):
            rec["p_holm"] = ph
            comps.append({k: _clean(v) for k, v in rec.items()})
    return {"cells": cells, "variance_aware_vs_randomized": comps,
            "notes": "spearman (spearman_measured): predicted_error (measured_error) vs test_acc over laws x seeds; CI: percentile bootstrap over "
                     f"seeds (cluster resampling, B={n_boot}); comparison: sec7 variance-aware minus sec7 beta=1, "
                     "paired t over seeds, Holm over the model's densities"}
