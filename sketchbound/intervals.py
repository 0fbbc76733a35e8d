"""The interval and the decision of one look of the sequential Monte-Carlo (:mod:`sketchbound.montecarlo`).

A Student-t interval on the mean of i.i.d. trial values, the rule that turns it into a verdict, the
sample skewness of Cochran's rule, and the one-number summary of a vector claim.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["INTERVAL", "bernstein_interval"]

INTERVAL = "Student-t interval on the mean of i.i.d. trials; Bonferroni over sequential looks and components"


def _looks(batch: int, max_trials: int) -> list[int]:
    out, n = [], batch
    while n < max_trials:
        out.append(n)
        n *= 2
    out.append(max_trials)
    return out


def _interval(vals: np.ndarray, level_alpha: float):
    n = vals.shape[0]
    mean = vals.mean(axis=0)
    se = vals.std(axis=0, ddof=1) / np.sqrt(n)
    q = stats.t.ppf(1 - level_alpha / 2, df=n - 1)
    return mean, mean - q * se, mean + q * se


def _decide(relation: str, lo, hi, exact, bound, precision: float, scale=None) -> str | None:
    if relation == "<=":
        if np.any(lo > bound):
            return "violated"
        if np.all(hi <= bound):
            return "holds"
        return None
    ex = np.asarray(exact, dtype=float)
    if np.any((ex < lo) | (ex > hi)):
        return "violated"
    if scale is None:
        scale = np.abs(ex)
    if np.all(np.maximum(hi - ex, ex - lo) <= precision * np.maximum(scale, 1e-300)):
        return "holds"
    return None


def _skew(vals: np.ndarray) -> float:
    """Largest |sample skewness| over components; a constant component has none (0, not NaN)."""
    v = vals if vals.ndim > 1 else vals[:, None]
    const = np.all(v == v[:1], axis=0)
    if np.all(const):
        return 0.0
    with np.errstate(all="ignore"):
        g = np.abs(np.atleast_1d(stats.skew(v[:, ~const], axis=0, bias=False)))
    return float(np.max(np.nan_to_num(g, nan=0.0)))


def _summary(x) -> float:
    a = np.asarray(x, dtype=float)
    return float(a) if a.ndim == 0 else float(np.sqrt(np.mean(a**2)))


def bernstein_interval(vals: np.ndarray, level_alpha: float, width: float):
    """A distribution-free interval for the mean of i.i.d. values known to lie in a range of ``width``
    (empirical Bernstein, Maurer & Pontil 2009, Thm 4, two-sided): with probability ``>= 1 − α``,
    ``|mean − E| <= sqrt(2 V ln(4/α) / n) + 7 width ln(4/α) / (3 (n − 1))``, ``V`` the sample variance.
    Valid whatever the skewness; decisive when the bound is far from the mean.

    Examples
    --------
    >>> import numpy as np
    >>> m, lo, hi = bernstein_interval(np.array([0.0, 1.0] * 500), 0.01, 1.0)
    >>> bool(lo < 0.5 < hi), round(float(hi - lo), 3)
    (True, 0.138)
    """
    v = vals if vals.ndim > 1 else vals[:, None]
    n = v.shape[0]
    mean = v.mean(axis=0)
    L = np.log(4.0 / level_alpha)
    half = np.sqrt(2 * v.var(axis=0, ddof=1) * L / n) + 7 * width * L / (3 * (n - 1))
    if vals.ndim == 1:
        mean, half = mean[0], half[0]
    return mean, mean - half, mean + half
