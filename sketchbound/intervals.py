"""The interval and the decision of one look of the sequential Monte-Carlo (:mod:`sketchbound.montecarlo`).

A Student-t interval on the mean of i.i.d. trial values, the rule that turns it into a verdict, the
sample skewness of Cochran's rule, the one-number summary of a vector claim, and two distribution-free
intervals: empirical Bernstein (values in a known range) and exact Clopper–Pearson (event values in {0, 1}).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["INTERVAL", "EVENT_INTERVAL", "bernstein_interval", "clopper_pearson_interval"]

INTERVAL = "Student-t interval on the mean of i.i.d. trials; Bonferroni over sequential looks and components"
#: the interval of an event statistic (values in {0, 1}): exact, so no skewness rule
EVENT_INTERVAL = ("exact Clopper–Pearson interval on the probability of an event (values in {0, 1}; no skewness rule); "
                  "Bonferroni over sequential looks and components")


def look_schedule(batch: int, max_trials: int) -> list[int]:
    out, n = [], batch
    while n < max_trials:
        out.append(n)
        n *= 2
    out.append(max_trials)
    return out


def mean_interval(vals: np.ndarray, level_alpha: float):
    n = vals.shape[0]
    mean = vals.mean(axis=0)
    se = vals.std(axis=0, ddof=1) / np.sqrt(n)
    q = stats.t.ppf(1 - level_alpha / 2, df=n - 1)
    return mean, mean - q * se, mean + q * se


def decide_look(relation: str, lo, hi, exact, bound, precision: float, scale=None) -> str | None:
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


def sample_skewness(vals: np.ndarray) -> float:
    """Largest |sample skewness| over components; a constant component has none (0, not NaN)."""
    v = vals if vals.ndim > 1 else vals[:, None]
    const = np.all(v == v[:1], axis=0)
    if np.all(const):
        return 0.0
    with np.errstate(all="ignore"):
        g = np.abs(np.atleast_1d(stats.skew(v[:, ~const], axis=0, bias=False)))
    return float(np.max(np.nan_to_num(g, nan=0.0)))


def summary_value(x) -> float:
    a = np.asarray(x, dtype=float)
    return float(a) if a.ndim == 0 else float(np.sqrt(np.mean(a**2)))


def bernstein_interval(vals: np.ndarray, level_alpha: float, width: float):
    """A distribution-free interval for the mean of i.i.d. values known to lie in a range of ``width``
    (empirical Bernstein, Maurer & Pontil 2009, Thm 4, two-sided): with probability ``>= 1 − α``,
    ``|mean − E| <= sqrt(2 V ln(4/α) / n) + 7 width ln(4/α) / (3 (n − 1))``, ``V`` the sample variance.
    Valid whatever the skewness; decisive when the bound is far from the mean.

    Parameters
    ----------
    vals : numpy.ndarray
        ``(n,)`` or ``(n, k)`` i.i.d. values.
    level_alpha : float
        The interval's α.
    width : float
        The width of the range every value lies in.

    Returns
    -------
    tuple
        ``(mean, lo, hi)``, scalars for ``(n,)`` input, ``(k,)`` arrays for ``(n, k)``.

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


def clopper_pearson_interval(vals: np.ndarray, level_alpha: float):
    """The exact (Clopper–Pearson) interval for the probability of an event from i.i.d. indicator values.

    With ``x`` events in ``n`` trials, the two-sided interval of level ``1 − α`` is
    ``[B(α/2; x, n − x + 1), B(1 − α/2; x + 1, n − x)]`` (``B`` the beta quantile; the lower end is 0
    when ``x = 0``, the upper 1 when ``x = n``). Its coverage is ``>= 1 − α`` for *every* event
    probability and every ``n``: no skewness rule, no finite-variance assumption — only that the
    trials are i.i.d. Bernoulli (so never for importance-weighted values).

    Parameters
    ----------
    vals : numpy.ndarray
        ``(n,)`` or ``(n, k)`` values, each exactly 0 or 1.
    level_alpha : float
        The interval's α, in (0, 1).

    Returns
    -------
    tuple
        ``(mean, lo, hi)``, scalars for ``(n,)`` input, ``(k,)`` arrays for ``(n, k)``.

    Raises
    ------
    ValueError
        If a value is not 0 or 1, or ``level_alpha`` is not in (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> m, lo, hi = clopper_pearson_interval(np.zeros(1000), 0.05)
    >>> float(lo), round(float(hi), 5)
    (0.0, 0.00368)
    """
    if not (0 < level_alpha < 1):
        raise ValueError(f"level_alpha must be in (0, 1), got {level_alpha!r}")
    v = np.asarray(vals, dtype=float)
    v2 = v if v.ndim > 1 else v[:, None]
    if not np.all((v2 == 0) | (v2 == 1)):
        bad = v2[(v2 != 0) & (v2 != 1)].flat[0]
        raise ValueError(f"vals must be event indicators (each 0 or 1) for a Clopper-Pearson interval; got {bad!r}")
    n = v2.shape[0]
    x = v2.sum(axis=0)
    a = level_alpha / 2
    with np.errstate(all="ignore"):
        lo = np.where(x > 0, stats.beta.ppf(a, np.maximum(x, 1), n - x + 1), 0.0)
        hi = np.where(x < n, stats.beta.ppf(1 - a, x + 1, np.maximum(n - x, 1)), 1.0)
    mean = x / n
    if v.ndim == 1:
        return float(mean[0]), float(lo[0]), float(hi[0])
    return mean, lo, hi
