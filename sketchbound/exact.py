"""Exact enumeration of every outcome of a sketch, for small ``d`` and ``s``.

No noise: expectations are finite sums of ``probability x value``, so closed forms can be checked to
``1e-9`` relative. Each ``outcomes_*`` function returns ``(masks, probs)`` with ``masks`` of shape
``(K, d)`` and ``probs`` of length ``K`` summing to 1.

* Algorithm 1: all ``C(s+d-1, s)`` count vectors, probability = multinomial pmf.
* successive sampling without replacement: all ``d!/(d-s)!`` ordered draws.
* Bernoulli/Poisson sampling: all ``2^d`` subsets.
* systematic πps: the start ``u ~ U[0,1)`` is piecewise constant between ``frac`` breakpoints.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.special import gammaln

from ._scale_safe import scale_safe
from .probabilities import as_real_array, check_matrix_vector, check_probabilities
from .sampling import check_flag, systematic_choice, systematic_layout, check_size, finite_mask, inclusion_probabilities

__all__ = [
    "n_outcomes",
    "outcomes_algorithm1",
    "outcomes_successive",
    "outcomes_bernoulli",
    "outcomes_systematic",
    "expected_error",
    "expectation",
    "MAX_OUTCOMES",
]

#: enumeration refuses to build more outcomes than this
MAX_OUTCOMES = 2_000_000
#: ... or arrays with more entries than this (outcomes x (s + d))
MAX_ENTRIES = 100_000_000


#: :func:`n_outcomes` refuses counts with more decimal digits than this (the big-integer arithmetic
#: alone would take minutes)
MAX_DIGITS = 100_000


def _log_comb(n: int, k: int) -> float:
    return float(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))


def n_outcomes(d: int, s: int) -> int:
    """Number of Algorithm-1 count vectors: ``C(s + d - 1, s)`` (``d, s >= 1``; exact integer).

    Parameters
    ----------
    d : int
        Entries that can be drawn (``p_i > 0``).
    s : int
        Draws of Algorithm 1.

    Returns
    -------
    int
        ``C(s + d - 1, s)``; ``ValueError`` if it has more than :data:`MAX_DIGITS` decimal digits.

    Examples
    --------
    >>> n_outcomes(3, 2)
    6
    """
    d = check_size(d, name="d")
    s = check_size(s)
    if _log_comb(s + d - 1, s) / math.log(10) > MAX_DIGITS:
        raise ValueError(f"n_outcomes(d={d}, s={s}) has more than {MAX_DIGITS} decimal digits; use a smaller d or s")
    return math.comb(s + d - 1, s)


def _guard(k: int, what: str, log_k: float | None = None) -> None:
    if log_k is not None and log_k > math.log(MAX_OUTCOMES) + 1.0:
        raise ValueError(f"exact enumeration of {what} needs about e^{log_k:.3g} outcomes (limit {MAX_OUTCOMES}); "
                         f"use smaller d or s")
    if k > MAX_OUTCOMES:
        raise ValueError(f"exact enumeration of {what} needs {k} outcomes (limit {MAX_OUTCOMES}); use smaller d or s")


def outcomes_algorithm1(p, s) -> tuple[np.ndarray, np.ndarray]:
    """All Algorithm-1 masks ``m = c / (s p)`` with their multinomial probabilities (paper §3).

    Only indices with ``p_i > 0`` can be drawn; the others have ``m_i = 0`` in every outcome.

    Parameters
    ----------
    p : array_like
        Probability vector of length ``d``.
    s : int
        Draws.

    Returns
    -------
    tuple of numpy.ndarray
        ``(masks, probs)``: ``(K, d)`` masks and their ``K`` probabilities (summing to 1).

    Examples
    --------
    >>> masks, probs = outcomes_algorithm1([0.5, 0.5], 2)
    >>> masks.tolist(), probs.tolist()
    ([[2.0, 0.0], [1.0, 1.0], [0.0, 2.0]], [0.25, 0.5, 0.25])
    """
    pa = check_probabilities(p)
    s = check_size(s)
    support = np.flatnonzero(pa > 0)
    k = support.shape[0]
    _guard(0, f"Algorithm 1 with d={k}, s={s}", _log_comb(s + k - 1, s))
    _guard(n_outcomes(k, s), f"Algorithm 1 with d={k}, s={s}")
    if n_outcomes(k, s) * (s + pa.shape[0]) > MAX_ENTRIES:
        raise ValueError(f"exact enumeration of Algorithm 1 with d={k}, s={s} needs {n_outcomes(k, s)} x {s + pa.shape[0]} "
                         f"array entries (limit {MAX_ENTRIES}); use smaller d or s")
    combos = np.array(list(itertools.combinations_with_replacement(range(k), s)), dtype=np.int64)
    counts_sub = np.zeros((combos.shape[0], k), dtype=np.int64)
    rows = np.repeat(np.arange(combos.shape[0]), s)
    np.add.at(counts_sub, (rows, combos.ravel()), 1)
    ps = pa[support]
    logp = gammaln(s + 1) - gammaln(counts_sub + 1).sum(axis=1) + (counts_sub * np.log(ps)).sum(axis=1)
    probs = np.exp(logp)
    masks = np.zeros((combos.shape[0], pa.shape[0]))
    with np.errstate(over="ignore"):
        masks[:, support] = counts_sub / (s * ps)
    return finite_mask(masks, "Algorithm 1 mask 1/(s p_i) of some outcome"), probs / probs.sum()


def outcomes_successive(p, s) -> tuple[np.ndarray, np.ndarray]:
    """All binary masks of successive sampling without replacement (draw ∝ ``p`` among the rest).

    Parameters
    ----------
    p : array_like
        Probability vector of length ``d``.
    s : int
        Draws, at most the number of entries with ``p_i > 0``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(masks, probs)``: ``(K, d)`` 0/1 masks (one per subset) and their probabilities.

    Examples
    --------
    >>> masks, probs = outcomes_successive([0.5, 0.5], 1)
    >>> masks.tolist(), probs.tolist()
    ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5])
    """
    pa = check_probabilities(p)
    s = check_size(s)
    support = np.flatnonzero(pa > 0)
    if s > support.shape[0]:
        raise ValueError(f"s={s} exceeds the number of entries with p_i > 0 ({support.shape[0]})")
    k = support.shape[0]
    _guard(0, f"successive sampling with d={k}, s={s}", float(gammaln(k + 1) - gammaln(k - s + 1)))
    _guard(math.perm(k, s), f"successive sampling with d={k}, s={s}")
    acc: dict[tuple, float] = {}
    rest: dict[frozenset, float] = {}  # exact remaining mass, where 1 - used has cancelled
    for seq in itertools.permutations(support.tolist(), s):
        prob, used = 1.0, 0.0
        for j, i in enumerate(seq):
            left = 1.0 - used
            if left < 1e-3:  # cancellation: sum the not-yet-drawn probabilities instead
                key = frozenset(seq[:j])
                if key not in rest:
                    rest[key] = math.fsum(pa[t] for t in support.tolist() if t not in key)
                left = rest[key]
            prob *= pa[i] / left
            used += pa[i]
        key = tuple(sorted(seq))
        acc[key] = acc.get(key, 0.0) + prob
    masks = np.zeros((len(acc), pa.shape[0]))
    probs = np.empty(len(acc))
    for r, (key, pr) in enumerate(acc.items()):
        masks[r, list(key)] = 1.0
        probs[r] = pr
    return masks, probs / probs.sum()


def outcomes_bernoulli(pi, *, weighted: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All ``2^d`` outcomes of independent inclusion with probabilities ``π`` (HT or binary mask).

    Parameters
    ----------
    pi : array_like
        Inclusion probabilities in ``[0, 1]``.
    weighted : bool
        Horvitz–Thompson masks ``1/π_i`` (default) or 0/1 masks.

    Returns
    -------
    tuple of numpy.ndarray
        ``(masks, probs)`` over the outcomes of positive probability.

    Examples
    --------
    >>> masks, probs = outcomes_bernoulli([0.5, 1.0])
    >>> masks.tolist(), probs.tolist()
    ([[0.0, 1.0], [2.0, 1.0]], [0.5, 0.5])
    """
    pia = as_real_array("pi", pi, ndim=1, what="a 1-D vector of inclusion probabilities in [0, 1]")
    if np.any((pia < 0) | (pia > 1)):
        raise ValueError("pi must be a 1-D vector with entries in [0, 1]")
    weighted = check_flag("weighted", weighted)
    d = pia.shape[0]
    _guard(2**d, f"Bernoulli sampling with d={d}")
    keep = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)
    probs = np.prod(np.where(keep, pia, 1 - pia), axis=1)
    if weighted:
        with np.errstate(divide="ignore", over="ignore"):
            masks = np.where(keep, 1.0 / np.where(pia > 0, pia, 1.0), 0.0)
    else:
        masks = keep.astype(np.float64)
    ok = probs > 0
    return finite_mask(masks[ok], "Horvitz-Thompson mask 1/pi_i of some outcome"), probs[ok] / probs[ok].sum()


def outcomes_systematic(p, s, *, weighted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """All outcomes of systematic πps sampling (:func:`sketchbound.sampling.without_replacement`,
    ``design="systematic"``): the sample is a step function of the start ``u``, so each interval
    between consecutive breakpoints ``frac(cumsum(π))`` is one outcome with its length as probability.

    Parameters
    ----------
    p : array_like
        Probability vector of length ``d``.
    s : int
        Sample size.
    weighted : bool
        Horvitz–Thompson masks ``1/π_i`` or 0/1 masks (default).

    Returns
    -------
    tuple of numpy.ndarray
        ``(masks, probs)``.

    Examples
    --------
    >>> masks, probs = outcomes_systematic([0.25, 0.25, 0.5], 2)
    >>> sorted(masks.sum(axis=1).tolist()), float(probs.sum())
    ([2.0, 2.0], 1.0)
    """
    pa = check_probabilities(p)
    s = check_size(s)
    weighted = check_flag("weighted", weighted)
    pi = inclusion_probabilities(pa, s)
    sure, rest, cum = systematic_layout(pi)
    br = np.unique(np.concatenate(([0.0, 1.0], np.mod(cum, 1.0))))
    br = br[(br >= 0) & (br <= 1)]
    masks, probs = [], []
    for a, b in zip(br[:-1], br[1:]):
        if b - a <= 0:
            continue
        u = 0.5 * (a + b)
        chosen = systematic_choice(sure, rest, cum, s, u)
        m = np.zeros(pa.shape[0])
        with np.errstate(over="ignore"):
            m[chosen] = 1.0 / pi[chosen] if weighted else 1.0
        masks.append(finite_mask(m, "Horvitz-Thompson mask 1/pi_i of some outcome"))
        probs.append(b - a)
    probs = np.array(probs)
    return np.array(masks), probs / probs.sum()


def _check_probs(probs, K: int) -> np.ndarray:
    pr = as_real_array("probs", probs, ndim=1, what="a 1-D vector of finite outcome probabilities")
    if pr.shape[0] != K:
        raise ValueError(f"shape mismatch: probs has length {pr.shape[0]} but there are {K} outcomes")
    return pr


@scale_safe(values=1, probs=1)
def expectation(values, probs) -> np.ndarray:
    """``Σ_k probs_k values_k`` (``values`` of shape ``(K, ...)``, finite; ``probs`` of length ``K``).

    Parameters
    ----------
    values : array_like
        One value (or array) per outcome, outcomes along axis 0.
    probs : array_like
        The outcomes' probabilities.

    Returns
    -------
    numpy.ndarray
        The expectation (shape ``values.shape[1:]``).

    Examples
    --------
    >>> float(expectation([1.0, 3.0], [0.5, 0.5]))
    2.0
    """
    v = as_real_array("values", values, what="an array of finite real numbers, outcomes along axis 0")
    if v.ndim == 0:
        raise ValueError(f"values must have the outcomes along axis 0; got a scalar {values!r}")
    pr = _check_probs(probs, v.shape[0])
    return np.tensordot(pr, v, axes=(0, 0))


@scale_safe(X=2, w=2, probs=1)
def expected_error(X, w, masks, probs) -> float:
    """Exact ``E ||Xᵀw - Xᵀ(w ⊙ m)||²`` over enumerated outcomes ``(masks, probs)`` (the error of
    Lemma 4.3 / Theorem 4.4 with no noise).

    Parameters
    ----------
    X : array_like
        ``(d, n)`` data.
    w : array_like
        Weights of length ``d``.
    masks, probs : array_like
        Outcomes from an ``outcomes_*`` function.

    Returns
    -------
    float
        The expected squared error.

    Examples
    --------
    >>> import numpy as np
    >>> round(expected_error(np.eye(2), [1.0, 1.0], *outcomes_algorithm1([0.5, 0.5], 1)), 6)
    2.0
    """
    Xa, wa = check_matrix_vector(X, w)
    masks = as_real_array("masks", masks, ndim=2, what="a (K, d) matrix of finite masks")
    if masks.shape[1] != wa.shape[0]:
        raise ValueError(f"shape mismatch: masks have d={masks.shape[1]} entries but w has length {wa.shape[0]}")
    probs = _check_probs(probs, masks.shape[0])
    resid = (wa[None, :] * (1.0 - masks)) @ Xa  # (K, n)
    return float(expectation(np.sum(resid**2, axis=1), probs))
