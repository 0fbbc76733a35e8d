"""Priority sampling: Duffield, Lund & Thorup (2007), "Priority sampling for estimation of arbitrary
subset sums", J. ACM 54(6), Art. 32; and Szegedy (2006), "The DLT priority sampling is essentially
optimal", STOC 2006, pp. 150–158.

Items with weights ``y_i > 0`` get priorities ``q_i = y_i/u_i`` (``u_i`` uniform); the ``s`` largest
are kept and, with ``τ`` the ``(s+1)``-th largest priority, ``ŵ_i = max(y_i, τ)`` on the kept items, 0
elsewhere (the core's :func:`~sketchbound.sampling.priority`, ``ŵ = y ⊙ m``).

* ``PRI-unbiased`` (DLT07, Theorem 1 — ``E ŵ_i = y_i``): ``E Σ_{i∈I} ŵ_i = Σ_{i∈I} y_i`` for a subset ``I``.
* ``PRI-var`` (DLT07: zero covariances, ``E ŵ_i ŵ_j = y_i y_j``, so ``Var Σ_{i∈I} ŵ_i = Σ_{i∈I} V_i``),
  with the exact ``V_i`` from DLT07's conditioning on ``τ'_i`` (the ``s``-th largest priority among the
  other items): given ``τ'_i = t``, ``i`` is kept with probability ``min(1, y_i/t)`` and then
  ``ŵ_i = max(y_i, t)``, so ``E[ŵ_i² | t] = y_i max(y_i, t)`` and
  ``V_i = y_i E[max(0, τ'_i − y_i)] = y_i ∫_{y_i}^∞ P(τ'_i > t) dt``,
  ``P(τ'_i > t) = P(#{j ≠ i : q_j > t} ≥ s)``, ``P(q_j > t) = min(1, y_j/t)`` (independent:
  a Poisson-binomial tail, computed exactly by recursion and integrated numerically by
  :func:`priority_variances`).
* ``PRI-szegedy`` (Szegedy 2006, the Alon–Duffield–Lund–Thorup conjecture): the standard deviation of
  the estimate of a subset sum ``W`` from ``s`` priority samples is at most ``W/√(s − 1)``; checked on
  the whole set: ``Var Σ_i ŵ_i ≤ W²/(s − 1)``.
* ``PRI-threshold`` (Szegedy 2006, the DLT conjecture): the total variance ``ΣV = Σ_i Var ŵ_i`` of
  priority sampling with ``s`` samples is at most that of threshold sampling (Poisson/HT with
  ``π_i = min(1, y_i/τ)``, the ΣV-optimal scheme, DLT07 §1) with expected size ``s − 1``:
  ``ΣV ≤ Σ_i y_i max(0, τ_{s−1} − y_i)``, ``Σ_i min(1, y_i/τ_{s−1}) = s − 1``.
"""
from __future__ import annotations

import numpy as np
from ..claims import OUTPUT, SQ_DEV, Claim, Statistic
from ..sampling import check_size, inclusion_probabilities
from ..scenarios import Instance
from ._common import Entry

__all__ = ["ENTRIES", "priority_variances", "threshold_total_variance", "pri_instance", "weight_probabilities"]

SOURCE_DLT = "Duffield, Lund & Thorup (2007), J. ACM 54(6), Art. 32"
SOURCE_SZ = "Szegedy (2006), STOC, 'The DLT priority sampling is essentially optimal'"


#: Gauss–Legendre nodes per segment: between the cut points 1/y_j the integrand (in u = 1/t) is
#: smooth, and on the last segment a polynomial of degree <= d + s - 2 (exact for d + s <= 2·_NODES)
_NODES = 96


def _tail_at_least(probs: np.ndarray, s: int) -> np.ndarray:
    """``P(#successes >= s)`` for independent Bernoulli(``probs[:, j]``), one row per point (exact
    recursion on the count, vectorised over the rows)."""
    dist = np.zeros((probs.shape[0], s + 1))  # P(count = 0..s-1), and P(count >= s) in the last cell
    dist[:, 0] = 1.0
    for j in range(probs.shape[1]):
        q = probs[:, j:j + 1]
        top = dist[:, s] + q[:, 0] * dist[:, s - 1]
        dist[:, 1:s] = dist[:, 1:s] * (1.0 - q) + dist[:, :s - 1] * q
        dist[:, 0] *= 1.0 - q[:, 0]
        dist[:, s] = top
    return dist[:, s]


def priority_variances(y, s) -> np.ndarray:
    """``V_i = Var ŵ_i`` of priority sampling with ``s`` samples, exactly up to quadrature error
    (the formula in the module docstring, integrated in ``u = 1/t`` with Gauss–Legendre rules on the
    segments between the points ``1/y_j``).

    Parameters
    ----------
    y : array_like
        Positive weights (``d`` of them).
    s : int
        Sample size; ``s >= d`` keeps every item (``V = 0``); ``s = 1`` with ``d >= 2`` gives ``V = ∞``
        (``E τ' = ∞``).

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> v = priority_variances([1.0, 2.0, 4.0], 2)
    >>> bool(np.all(v > 0))
    True
    """
    y = np.asarray(y, dtype=float)
    s = check_size(s)
    if y.ndim != 1 or y.shape[0] < 1 or not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError(f"y must be a 1-D vector of positive finite weights; got {y!r}")
    d = y.shape[0]
    if s >= d:
        return np.zeros(d)
    if s == 1:
        return np.full(d, np.inf)
    x, wq = np.polynomial.legendre.leggauss(_NODES)
    out = np.empty(d)
    for i in range(d):
        others = np.delete(y, i)
        cuts = np.unique(np.concatenate([[0.0, 1.0 / y[i]], 1.0 / others[others > y[i]]]))
        a, b = cuts[:-1, None], cuts[1:, None]
        u = (0.5 * (b - a) * x + 0.5 * (b + a)).ravel()
        wts = (0.5 * (b - a) * wq).ravel()
        h = _tail_at_least(np.minimum(1.0, np.outer(u, others)), s) / u**2
        out[i] = y[i] * float(np.sum(wts * h))
    return out


def threshold_total_variance(y, k: int) -> float:
    """``Σ_i y_i max(0, τ − y_i)``: the total variance of threshold sampling with expected size ``k``
    (``π_i = min(1, y_i/τ)``, ``Σ π_i = k``; HT variance ``Σ (1 − π_i)/π_i y_i²``).


    Parameters
    ----------
    y : array_like
        Positive weights.
    k : int
        Expected sample size.

    Returns
    -------
    float

    Examples
    --------
    >>> threshold_total_variance([1.0, 1.0], 1)   # τ = 2: Σ 1·(2 − 1)
    2.0
    """
    y = np.asarray(y, dtype=float)
    pi = inclusion_probabilities(y / y.sum(), k)
    return float(np.sum((1.0 - pi) / pi * y**2))


def pri_instance(sc, gen) -> Instance:
    """``d`` weights ``y = e^{N(0,1)}`` (``w0 = w*``) and ``X = 1_I`` (``d x 1``): the statistic's output
    ``Xᵀ(y ⊙ m)`` is the estimated sum over the queried subset ``I`` (even indices).

    Parameters
    ----------
    sc : Scenario
        ``d`` items.
    gen : numpy.random.Generator

    Returns
    -------
    Instance

    Examples
    --------
    >>> from sketchbound.scenarios import Scenario
    >>> pri_instance(Scenario(d=3, n=1), np.random.default_rng(0)).X.ravel().tolist()
    [1.0, 0.0, 1.0]
    """
    y = np.exp(gen.standard_normal(sc.d))
    subset = (np.arange(sc.d) % 2 == 0).astype(float)
    return Instance(w0=y, w_star=y, X=subset[:, None], X_tilde=None)


def weight_probabilities(X_tilde, w0) -> np.ndarray:
    """``p = y / Σ y``: priority sampling's weights are the items' own (``w0 = y``); ``X̃`` is not read.

    Parameters
    ----------
    X_tilde : object
        Ignored.
    w0 : ndarray, ``(d,)``
        The positive weights ``y``.

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> weight_probabilities(None, np.array([1.0, 3.0])).tolist()
    [0.25, 0.75]
    """
    y = np.asarray(w0, dtype=float)
    return y / y.sum()


#: the squared deviation of the total, (Σ_i y_i (m_i − 1))², and Σ_i (ŵ_i − y_i)² = Σ_i y_i² (m_i − 1)²
_TOTAL_SQ = Statistic("priority total squared deviation", lambda X, w, M: ((M - 1.0) @ w) ** 2)
_SIGMA_V = Statistic("priority Σ_i (ŵ_i − y_i)²", lambda X, w, M: (M - 1.0) ** 2 @ w**2)


def _s_at_least_2(inst, sc):
    return None if sc.s >= 2 else f"s = {sc.s}: the bound needs s >= 2 (W/√(s − 1))"


def _s_below_d(inst, sc):
    return None if 2 <= sc.s < sc.d else f"s = {sc.s}, d = {sc.d}: the statement needs 2 <= s < d"


_COMMON = dict(mask_law="priority", probabilities=weight_probabilities, mask_uses_data=False, instance_factory=pri_instance,
               scenario=dict(x_mode="fixed", d=32, n=1, s=16))
_ASSUME = "weights y_i > 0 fixed; priorities y_i/u_i with u_i i.i.d. uniform (ties have probability 0); s < d"

ENTRIES = [
    Entry(Claim(
        id="PRI-unbiased",
        name="Priority sampling: subset sums are unbiased (Duffield–Lund–Thorup 2007)",
        statement="E Σ_{i∈I} ŵ_i = Σ_{i∈I} y_i,  ŵ_i = max(y_i, τ) if kept",
        relation="=",
        quantity="E Σ_{i∈I} ŵ_i (ŵ = y ⊙ m, mask law priority), I = even indices, s priority samples",
        statistic=OUTPUT,
        exact=lambda i, sc: i.X.T @ i.w_star,
        source=SOURCE_DLT + ", Theorem 1", **_COMMON),
        assumptions=_ASSUME,
        exact_value="Σ_{i∈I} y_i"),
    Entry(Claim(
        id="PRI-var",
        name="Priority sampling: subset-sum variance = Σ V_i (zero covariances), V_i exact",
        statement="Var Σ_{i∈I} ŵ_i = Σ_{i∈I} y_i ∫_{y_i}^∞ P(τ'_i > t) dt",
        relation="=",
        quantity="E (Σ_{i∈I} ŵ_i − Σ_{i∈I} y_i)² (mask law priority), I = even indices, s priority samples",
        statistic=SQ_DEV,
        exact=lambda i, sc: i.X.T @ priority_variances(i.w_star, sc.s),
        precondition=_s_below_d,
        max_trials=1_024_000,
        source=SOURCE_DLT + " (zero covariances; V_i by its conditioning on τ'_i)", **_COMMON),
        assumptions=_ASSUME + "; s >= 2 (for s = 1 the V_i are infinite when d = 2)",
        exact_value="Σ_{i∈I} y_i ∫_{y_i}^∞ P(#{j≠i: y_j/u_j > t} ≥ s) dt (quadrature, relative 1e-10)"),
    Entry(Claim(
        id="PRI-szegedy",
        name="Priority sampling: Var Ŵ ≤ W²/(s − 1) (Szegedy 2006, the ADLT conjecture)",
        statement="Var Σ_i ŵ_i ≤ W²/(s − 1),  W = Σ_i y_i",
        relation="<=",
        quantity="E (Σ_i ŵ_i − W)² (mask law priority), s priority samples",
        statistic=_TOTAL_SQ,
        exact=lambda i, sc: float(np.sum(priority_variances(i.w_star, sc.s))),
        bound=lambda i, sc: float(np.sum(i.w_star)) ** 2 / (sc.s - 1) if sc.s >= 2 else float("inf"),
        precondition=_s_below_d,
        max_trials=1_024_000,
        source=SOURCE_SZ + " (first result: standard deviation ≤ W/√(k − 1))", **_COMMON),
        assumptions=_ASSUME + "; s >= 2; applied to the whole set (W the total)",
        exact_value="Σ_i V_i (as PRI-var, over all items)"),
    Entry(Claim(
        id="PRI-threshold",
        name="Priority sampling with s samples beats threshold sampling with s − 1 (Szegedy 2006, the DLT conjecture)",
        statement="Σ_i Var ŵ_i(priority, s) ≤ Σ_i y_i max(0, τ − y_i),  Σ_i min(1, y_i/τ) = s − 1",
        relation="<=",
        quantity="E Σ_i (ŵ_i − y_i)² (mask law priority), s priority samples",
        statistic=_SIGMA_V,
        exact=lambda i, sc: float(np.sum(priority_variances(i.w_star, sc.s))),
        bound=lambda i, sc: threshold_total_variance(i.w_star, sc.s - 1) if sc.s >= 2 else float("inf"),
        precondition=_s_below_d,
        max_trials=1_024_000,
        source=SOURCE_SZ + " (second result); threshold sampling: Duffield, Lund & Thorup (2005)", **_COMMON),
        assumptions=_ASSUME + "; s >= 2",
        exact_value="Σ_i V_i (as PRI-var, over all items)"),
]
