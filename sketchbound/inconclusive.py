"""Why a check ended ``inconclusive``, and what would decide it (the ``reason`` of a :class:`~sketchbound.montecarlo.Result`).

A sequential Monte-Carlo check (:mod:`sketchbound.montecarlo`) is inconclusive when, at its trial cap,
its interval still contains the reference (the bound of a ``<=`` claim; for an ``=`` claim, the
exact value without being inside ``exact ± precision·scale``), or when the skewness guard (Cochran's
rule, ``n >= 25 g₁²``) did not let a look conclude. The half-width of a Student-t interval shrinks as
``q(n)·sd/√n``, so at the run's own variance estimate a half-width ``h`` measured at ``n`` trials becomes
``h' = h·(q(N)/q(n))·√(n/N)`` at ``N`` trials; :func:`trials_for` solves ``h' = target`` for ``N``.
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["trials_for", "round_up", "sequential_reason"]


def round_up(n: float) -> int:
    """``n`` rounded *up* to two significant digits (a trial count to pass as ``--trials``).

    Parameters
    ----------
    n : float
        The trial count (at least 1 is returned).

    Returns
    -------
    int
        The rounded count.

    Examples
    --------
    >>> round_up(123456.7), round_up(1000), round_up(7.2)
    (130000, 1000, 8)
    """
    n = max(1, math.ceil(n))
    step = 10 ** max(0, len(str(n)) - 2)
    return int(math.ceil(n / step) * step)


def trials_for(n: int, half_width: float, target: float, quantile: Callable[[int], float] | None = None) -> float:
    """Trials ``N`` at which an interval of half-width ``half_width`` at ``n`` trials shrinks to ``target``.

    Parameters
    ----------
    n : int
        Trials behind the current interval.
    half_width : float
        Its half-width ``h``.
    target : float
        The half-width that would decide the check (``> 0``).
    quantile : callable, optional
        ``quantile(N)``: the interval's t-quantile at ``N`` trials (it grows slightly with the number of
        looks); default: the same as at ``n``.

    Returns
    -------
    float
        ``N = n (h q(N) / (target q(n)))²`` (two fixed-point steps for ``q(N)``); ``inf`` if ``target <= 0``.

    Examples
    --------
    >>> trials_for(1000, 0.2, 0.1)
    4000.0
    """
    if not target > 0:
        return math.inf
    N = n * (half_width / target) ** 2
    if quantile is not None:
        q0 = quantile(n)
        for _ in range(2):
            N = n * (half_width * quantile(max(n, int(N))) / (target * q0)) ** 2
    return float(N)


def sequential_reason(*, relation: str, estimate: float, lo: float, hi: float, ref: float, n: int, level: float,
                      g1: float, clt_ok: bool, precision: float | None = None, scale: float | None = None,
                      closed_form: float | None = None, quantile: Callable[[int], float] | None = None) -> str:
    """The one-line reason of an inconclusive sequential check, with the trials (or precision) that would decide it.

    Parameters
    ----------
    relation : str
        ``"<="`` (``ref`` is the bound) or ``"="`` (``ref`` is the exact value).
    estimate, lo, hi : float
        The mean and its interval (the component shown) after ``n`` trials, at confidence ``level``.
    g1 : float
        Sample skewness; ``clt_ok`` whether Cochran's rule ``n >= 25 g1²`` was met.
    precision, scale : float, optional
        ``=`` claims: holds once the interval is inside ``ref ± precision·scale``.
    closed_form : float, optional
        ``<=`` claims: the exact expectation when known, whose distance to the bound (not the noisy
        estimate's) then sets the trials.
    quantile : callable, optional
        See :func:`trials_for`.

    Returns
    -------
    str
        E.g. ``"inconclusive: the 99.9% interval [a, b] contains the bound c; about N trials would
        separate them at the current variance (pass --trials N)"``.

    Examples
    --------
    >>> sequential_reason(relation="<=", estimate=0.98, lo=0.93, hi=1.03, ref=0.99, n=1000, level=0.99, g1=0.1,
    ...                   clt_ok=True)
    'inconclusive: the 99% interval [0.93, 1.03] contains the bound 0.99; about 25000 trials would separate them at the current variance (pass --trials 25000)'
    """
    h = (hi - lo) / 2
    pct = f"{100 * level:.4g}%"
    cochran = 0.0 if clt_ok else 25 * g1 ** 2
    tail = ""
    if relation == "<=":
        gap = abs((closed_form if closed_form is not None else estimate) - ref)
        where = "the closed form's distance to the bound" if closed_form is not None else "the current variance"
        N = trials_for(n, h, gap, quantile)
        head = (f"inconclusive: the {pct} interval [{lo:.4g}, {hi:.4g}] contains the bound {ref:.4g}" if lo <= ref <= hi
                else f"inconclusive: the {pct} interval [{lo:.4g}, {hi:.4g}] vs the bound {ref:.4g}")
        what = f"would separate them at {where}"
    else:
        dev = abs(estimate - ref)
        tol = (precision or 0.0) * (scale if scale is not None else abs(ref))
        N = trials_for(n, h, tol, quantile)  # the interval inside ref ± tol, if the mean is the exact value
        head = (f"inconclusive: the {pct} interval [{lo:.4g}, {hi:.4g}] contains the exact value {ref:.4g} but is not "
                f"within ±{precision:g} (relative) of it")
        what = "would let it hold at the current variance if the mean is the exact value"
        need = (dev + h) / (scale if scale is not None else abs(ref)) if ref else math.inf
        if 0 < need < 1:
            tail = f", or a precision of {need:.2g} would let it hold now (--precision {need:.2g})"
        n_viol = trials_for(n, h, dev, quantile)
        if math.isfinite(n_viol) and n_viol < N:
            tail += (f"; were the mean truly {estimate:.4g}, about {round_up(max(n_viol, n + 1))} trials would show "
                     "the equality violated")
    if cochran > n:
        head += (f"; the sample skewness {g1:.3g} needs n >= {cochran:.3g} trials before a look may conclude "
                 "(Cochran's rule)")
    N = max(N, cochran)
    if not math.isfinite(N):
        return head + "; the estimate sits on the reference, so no number of trials separates them at this variance" + tail
    k = round_up(max(N, n + 1))
    return head + f"; about {k} trials {what} (pass --trials {k})" + tail
