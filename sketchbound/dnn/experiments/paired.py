"""Paired statistics of a table: is variant A better than variant B on the same seeds?

Runs of two variants that share every grid value (row keys, seed, …) share their initialisation,
data order and pruning scores (the seed streams of :mod:`sketchbound.seeds`), so they are compared
**paired by seed**: per row of the table, Δ_i = acc_A(seed i) − acc_B(seed i), then

* the mean Δ and its 95% Student-t interval over seeds (``scipy.stats.t``),
* the paired t-test p-value (``scipy.stats.ttest_rel``, two-sided),
* ``wins``: seeds with Δ > 0,
* the Holm-corrected p-value across **every** comparison × row of the table (family-wise error
  ≤ 0.05 over the whole table), so a reader can state only what survives correction,
* how informative a comparison that does not survive is: ``mde80``, the smallest |Δ| that this many
  pairs with this spread (the sample sd of the Δ_i) would detect with 80% power at Holm's strictest
  level 0.05/m (m = the table's planned comparisons), and ``seeds80``, the pairs the observed |Δ| would
  need for that power at that level (:func:`detectable_delta`, :func:`pairs_needed`; noncentral t, the
  sd taken as known, so both are planning guides, not tests).

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
>>> round(detectable_delta(1.0, 5, 0.05), 3), pairs_needed(1.0, 1.0, 0.05)   # d = 1.68 at n = 5; n = 10 at d = 1
(1.682, 10)
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from sketchbound.multiple_testing import holm

__all__ = ["paired_comparisons", "paired_markdown", "paired_legend", "detectable_delta", "pairs_needed", "power",
           "COLUMNS", "LEGEND"]

COLUMNS = ["a", "b", "pairs", "mean_a", "mean_b", "delta", "ci_low", "ci_high", "t", "p", "p_holm", "wins",
           "sd", "mde80", "seeds80"]
#: what each column of the paired table means: Markdown heading -> (CSV column, meaning)
LEGEND = {
    "A": ("a", "the variant tested (its runs' accuracies)"),
    "B": ("b", "the variant it is compared with"),
    "mean A": ("mean_a", "test accuracy of A in %, mean over the paired seeds"),
    "mean B": ("mean_b", "test accuracy of B in %, mean over the paired seeds"),
    "Δ (A − B)": ("delta", "mean over the paired seeds of acc_A − acc_B (percentage points)"),
    "95% CI": ("ci_low, ci_high", "95% Student-t interval of the mean Δ over the seeds"),
    "p (paired t)": ("p", "two-sided paired t-test p-value of Δ = 0"),
    "p (Holm)": ("p_holm", "p corrected by Holm over every comparison × row of the table (family-wise error); "
                           "a comparison without a test counts as p = 1 in the family"),
    "wins": ("wins, pairs", "seeds with Δ > 0 / seeds paired"),
    "MDE (80%)": ("mde80", "smallest |Δ| these pairs, with this sd of Δ, detect with 80% power at Holm's strictest "
                           "level 0.05/m (m = the table's comparisons); a planning guide"),
    "seeds for 80%": ("seeds80", "pairs the observed |Δ| would need for 80% power at that level (– : more than "
                                 "10,000 or no test)"),
}
#: the CSV's other columns
CSV_ONLY = {"t": "paired t statistic", "sd": "sample standard deviation of the Δ over the seeds"}
#: target power of ``mde80`` / ``seeds80``, and the largest number of pairs :func:`pairs_needed` reports
POWER, MAX_PAIRS = 0.8, 10_000


def power(delta: float, sd: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` with ``n`` pairs whose differences are
    N(delta, sd²): P(|T| > t_{1−α/2, n−1}) for T ~ noncentral t(n − 1, delta·√n/sd).

    Parameters
    ----------
    delta : float
        The mean difference Δ.
    sd : float
        The standard deviation of the differences (> 0).
    n : int
        The number of pairs (≥ 2).
    alpha : float
        The level, in (0, 1).

    Returns
    -------
    float
        In [alpha, 1).

    Examples
    --------
    >>> round(power(0.0, 1.0, 10, 0.05), 3), power(1.0, 1.0, 10, 0.05) > 0.7
    (0.05, True)
    """
    from scipy import stats  # noqa: PLC0415
    if n < 2 or not sd > 0 or not 0 < alpha < 1:
        raise ValueError(f"power needs n >= 2, sd > 0 and 0 < alpha < 1; got n={n}, sd={sd}, alpha={alpha}")
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    nc = abs(delta) * math.sqrt(n) / sd
    upper = float(stats.nct.sf(crit, n - 1, nc))
    if math.isnan(upper):
        upper = 1.0 - float(stats.nct.cdf(crit, n - 1, nc))
    lower = float(stats.nct.cdf(-crit, n - 1, nc))  # <= alpha/2, falling in nc; scipy gives NaN where it is ~0
    if math.isnan(upper):
        raise ValueError(f"power: no finite value for n={n}, delta/sd={abs(delta) / sd:g}, alpha={alpha:g}")
    return min(1.0, upper + (0.0 if math.isnan(lower) else lower))


def detectable_delta(sd: float, n: int, alpha: float, target: float = POWER) -> float:
    """The smallest |Δ| the two-sided paired t-test with ``n`` pairs of spread ``sd`` detects with power
    ``target`` at level ``alpha`` (:func:`power` is increasing in |Δ|; root by ``scipy.optimize.brentq``).

    Parameters
    ----------
    sd : float
        The standard deviation of the differences.
    n : int
        The number of pairs (≥ 2).
    alpha : float
        The level, in (0, 1).
    target : float, optional
        The power (default :data:`POWER`).

    Returns
    -------
    float

    Examples
    --------
    >>> d = detectable_delta(1.0, 10, 0.05)
    >>> round(power(d, 1.0, 10, 0.05), 6)
    0.8
    """
    from scipy import optimize  # noqa: PLC0415
    power(0.0, sd, n, alpha)  # validates
    hi = sd
    while power(hi, sd, n, alpha) < target:
        hi *= 2
    return float(optimize.brentq(lambda d: power(d, sd, n, alpha) - target, 0.0, hi, xtol=1e-10 * sd))


def pairs_needed(delta: float, sd: float, alpha: float, target: float = POWER) -> int | None:
    """The fewest pairs (≥ 2) for power ``target`` at level ``alpha`` when the differences are
    N(delta, sd²); ``None`` when more than :data:`MAX_PAIRS` (or delta = 0) would be needed.

    Parameters
    ----------
    delta : float
        The mean difference Δ.
    sd : float
        The standard deviation of the differences.
    alpha : float
        The level, in (0, 1).
    target : float, optional
        The power (default :data:`POWER`).

    Returns
    -------
    int or None

    Examples
    --------
    >>> n = pairs_needed(1.0, 1.0, 0.05)
    >>> power(1.0, 1.0, n, 0.05) >= 0.8 > power(1.0, 1.0, n - 1, 0.05), pairs_needed(0.0, 1.0, 0.05)
    (True, None)
    """
    if delta == 0:
        return None
    lo, hi = 2, 2
    while power(delta, sd, hi, alpha) < target:
        if hi >= MAX_PAIRS:
            return None
        lo, hi = hi, min(2 * hi, MAX_PAIRS)
    while lo < hi:  # smallest n in [lo, hi] with enough power (power increases with n)
        mid = (lo + hi) // 2
        if power(delta, sd, mid, alpha) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _one(deltas: np.ndarray) -> dict:
    from scipy import stats  # noqa: PLC0415
    n = deltas.size
    rec = {"pairs": int(n), "delta": float(deltas.mean()) if n else math.nan, "ci_low": math.nan,
           "ci_high": math.nan, "t": math.nan, "p": math.nan, "wins": int((deltas > 0).sum()), "sd": math.nan}
    if n >= 2:
        sd = float(deltas.std(ddof=1))
        rec["sd"] = sd
        if sd > 0:
            se = sd / math.sqrt(n)
            h = float(stats.t.ppf(0.975, n - 1)) * se
            rec.update(ci_low=rec["delta"] - h, ci_high=rec["delta"] + h, t=rec["delta"] / se,
                       p=float(2 * stats.t.sf(abs(rec["delta"] / se), n - 1)))
    return rec


def paired_comparisons(records: pd.DataFrame, rows: Sequence[str], comparisons: Sequence[dict],
                       pair_keys: Sequence[str]) -> pd.DataFrame:
    """Paired statistics from run records, with Holm's correction over the whole table (every planned
    comparison × row; one without a test counts as p = 1).

    Parameters
    ----------
    records : pandas.DataFrame
        One row per finished run with columns ``variant``, ``accuracy``, the ``rows`` keys and the
        ``pair_keys``.
    rows : sequence of str
        The table's row keys (e.g. ``["density"]``).
    comparisons : sequence of dict
        ``[{"a": variant, "b": variant}]``: Δ = A − B.
    pair_keys : sequence of str
        What pairs two runs (e.g. ``["seed"]``).

    Returns
    -------
    pandas.DataFrame
        One row per (row values, comparison) with the ``rows`` keys, :data:`COLUMNS`, ``mde80`` and ``seeds80``.

    Examples
    --------
    >>> recs = pd.DataFrame({"variant": ["A"] * 3 + ["B"] * 3, "seed": [0, 1, 2] * 2,
    ...                      "accuracy": [90.0, 91.0, 92.5, 89.0, 90.5, 91.0]})
    >>> df = paired_comparisons(recs, [], [{"a": "A", "b": "B"}], ["seed"])
    >>> round(float(df["delta"][0]), 3), int(df["pairs"][0]), int(df["wins"][0])
    (1.0, 3, 3)
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
        alpha = 0.05 / len(df)  # Holm's strictest step: what the family's smallest p must beat
        mde, need = [], []
        for r in df.itertuples(index=False):
            ok = not math.isnan(r.p)  # a test exists: n >= 2 and sd > 0
            mde.append(detectable_delta(r.sd, int(r.pairs), alpha) if ok else math.nan)
            k = pairs_needed(r.delta, r.sd, alpha) if ok else None
            need.append(float(k) if k is not None else math.nan)
        df["mde80"], df["seeds80"] = mde, need
    else:
        df["p_holm"], df["mde80"], df["seeds80"] = [], [], []
    return df


def paired_legend(rows: Sequence[str] = ()) -> str:
    """The legend written under a paired table's Markdown: every column in words (:data:`LEGEND`).

    Parameters
    ----------
    rows : sequence of str, optional
        The table's row keys (listed first).

    Returns
    -------
    str

    Examples
    --------
    >>> "p (Holm)" in paired_legend(["density"])
    True
    """
    lead = [f"- `{r}`: the table's row value" for r in rows]
    return "Columns (`–`: no value):\n\n" + "\n".join(lead + [f"- {k}: {v}" for k, (_, v) in LEGEND.items()]) + "\n"


def paired_markdown(df: pd.DataFrame, rows: Sequence[str]) -> str:
    """A pipe table of :func:`paired_comparisons`: Δ = A − B with its 95% CI, paired t p, Holm p, wins/pairs.

    Parameters
    ----------
    df : pandas.DataFrame
        What :func:`paired_comparisons` returns.
    rows : sequence of str
        Its row keys.

    Returns
    -------
    str
        Markdown, one line per row.

    Examples
    --------
    >>> paired_markdown(pd.DataFrame(columns=COLUMNS), []).count("\\n")
    2
    """
    def f(x, fmt):
        return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)
    head = list(rows) + list(LEGEND)  # the legend's headings, in order
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for _, r in df.iterrows():
        cells = [str(r[k]) for k in rows] + [r["a"], r["b"], f(r["mean_a"], ".2f"), f(r["mean_b"], ".2f"),
                                             f(r["delta"], "+.2f"),
                                             f"[{f(r['ci_low'], '+.2f')}, {f(r['ci_high'], '+.2f')}]",
                                             f(r["p"], ".3g"), f(r["p_holm"], ".3g"), f"{r['wins']}/{r['pairs']}",
                                             f(r.get("mde80"), ".2f"), f(r.get("seeds80"), ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
