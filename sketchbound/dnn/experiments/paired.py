"""Paired statistics of a table: is variant A better than variant B on the same seeds?

Runs of two variants that share every grid value (row keys, seed, …) share their initialisation,
data order and pruning scores (the seed streams of :mod:`sketchbound.seeds`), so they are compared
**paired by seed**: per row of the table, Δ_i = acc_A(seed i) − acc_B(seed i), then

* the mean Δ and its 95% Student-t interval over seeds (``scipy.stats.t``),
* the paired t-test p-value (``scipy.stats.ttest_rel``, two-sided),
* ``wins``: seeds with Δ > 0,
* the Holm-corrected p-value across **every** comparison × row of the table (family-wise error
  ≤ 0.05 over the whole table), so a reader can state only what survives correction.

The comparisons come from the table file::

    [[compare]]
    a = "SynFlow (randomized)"      # variant names
    b = "SynFlow (threshold)"

A comparison with fewer than 2 pairs, or with every Δ equal (no spread), has no t-test (p = NaN). It
still belongs to the family the table file planned: Holm's correction counts it as p = 1, so a table
with missing runs is never corrected over fewer comparisons than it set out to make (its own p_holm
stays NaN).

>>> [round(x, 6) for x in holm([0.01, 0.04, 0.03])]
[0.03, 0.06, 0.06]
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["holm", "paired_comparisons", "paired_markdown", "COLUMNS"]

COLUMNS = ["a", "b", "pairs", "mean_a", "mean_b", "delta", "ci_low", "ci_high", "t", "p", "p_holm", "wins"]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and are not counted in the family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out.tolist()
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return [float(x) for x in out]


def _one(deltas: np.ndarray) -> dict:
    from scipy import stats  # noqa: PLC0415
    n = deltas.size
    rec = {"pairs": int(n), "delta": float(deltas.mean()) if n else math.nan, "ci_low": math.nan,
           "ci_high": math.nan, "t": math.nan, "p": math.nan, "wins": int((deltas > 0).sum())}
    if n >= 2:
        sd = float(deltas.std(ddof=1))
        if sd > 0:
            se = sd / math.sqrt(n)
            h = float(stats.t.ppf(0.975, n - 1)) * se
            rec.update(ci_low=rec["delta"] - h, ci_high=rec["delta"] + h, t=rec["delta"] / se,
                       p=float(2 * stats.t.sf(abs(rec["delta"] / se), n - 1)))
    return rec


def paired_comparisons(records: pd.DataFrame, rows: Sequence[str], comparisons: Sequence[dict],
                       pair_keys: Sequence[str]) -> pd.DataFrame:
    """Paired statistics from run records.

    ``records``: one row per finished run with columns ``variant``, ``accuracy``, the ``rows`` keys and
    the ``pair_keys`` (e.g. ``seed``). ``comparisons``: ``[{"a": name, "b": name}]``. Returns one row
    per (row values, comparison) with :data:`COLUMNS` and Holm's correction over the whole table (every
    planned comparison × row; one without a test counts as p = 1).
    """
    out = []
    row_vals = records[list(rows)].drop_duplicates().itertuples(index=False, name=None) if rows else [()]
    for rv in row_vals:
        sel = records
        for k, v in zip(rows, rv):
            sel = sel[sel[k] == v]
        for c in comparisons:
            a = sel[sel["variant"] == c["a"]].set_index(list(pair_keys))["accuracy"]
            b = sel[sel["variant"] == c["b"]].set_index(list(pair_keys))["accuracy"]
            common = a.index.intersection(b.index)
            d = (a.loc[common] - b.loc[common]).to_numpy(dtype=float)
            rec = {**dict(zip(rows, rv)), "a": c["a"], "b": c["b"],
                   "mean_a": float(a.loc[common].mean()) if len(common) else math.nan,
                   "mean_b": float(b.loc[common].mean()) if len(common) else math.nan, **_one(d)}
            out.append(rec)
    df = pd.DataFrame.from_records(out, columns=list(rows) + COLUMNS)
    if len(df):  # the planned family: comparisons without a test count as p = 1 (conservative), see above
        planned = df["p"].fillna(1.0).tolist()
        df["p_holm"] = [h if not math.isnan(p) else math.nan for h, p in zip(holm(planned), df["p"].tolist())]
    else:
        df["p_holm"] = []
    return df


def paired_markdown(df: pd.DataFrame, rows: Sequence[str]) -> str:
    """A pipe table: Δ = A − B with its 95% CI, paired t p, Holm p, wins/pairs."""
    def f(x, fmt):
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)
    head = list(rows) + ["A", "B", "mean A", "mean B", "Δ (A − B)", "95% CI", "p (paired t)", "p (Holm)", "wins"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for _, r in df.iterrows():
        cells = [str(r[k]) for k in rows] + [r["a"], r["b"], f(r["mean_a"], ".2f"), f(r["mean_b"], ".2f"),
                                             f(r["delta"], "+.2f"),
                                             f"[{f(r['ci_low'], '+.2f')}, {f(r['ci_high'], '+.2f')}]",
                                             f(r["p"], ".3g"), f(r["p_holm"], ".3g"), f"{r['wins']}/{r['pairs']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
