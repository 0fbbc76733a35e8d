"""Multiple-testing correction shared by the core (the bridge's analysis) and the dnn tables.

Holm's step-down procedure controls the family-wise error rate at level α for any dependence between
the tests: sort the m p-values, multiply the k-th smallest by (m − k + 1), and make the sequence
non-decreasing (Holm 1979, *Scand. J. Statist.* 6:65–70).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["holm"]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and are not counted in the family).

    Parameters
    ----------
    pvalues : sequence of float
        The family's unadjusted p-values, in any order; NaN marks a test that was not run.

    Returns
    -------
    list of float
        Adjusted p-values in the input order, each in [0, 1]; reject at level α where ≤ α.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    >>> holm([0.02, float("nan")])
    [0.02, nan]
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be a 1-D sequence of p-values, got shape {p.shape}")
    if np.any((p[~np.isnan(p)] < 0) | (p[~np.isnan(p)] > 1)):
        raise ValueError(f"pvalues must lie in [0, 1] (or be NaN), got {p.tolist()}")
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
