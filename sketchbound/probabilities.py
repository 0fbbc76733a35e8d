"""Sampling probabilities for Algorithm 1: eq. (2), uniform, and "from scores".

This module is the one place that checks a probability vector (:func:`check_probabilities`).
Every sampler in :mod:`sketchbound.sampling` calls it, so bad input fails the same way everywhere.

Conventions follow the paper (§3): ``X`` is ``d x n`` (rows ``X_(i)`` are features, columns are the
``n`` examples) and ``w`` has length ``d``.
"""
from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = [
    "optimal_probabilities",
    "uniform_probabilities",
    "from_scores",
    "check_probabilities",
    "check_matrix_vector",
]

#: relative tolerance on ``sum(p) == 1`` accepted by :func:`check_probabilities`
SUM_RTOL = 1e-6


def _as_float_vector(name: str, v) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be a numeric vector, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty (got length 0)")
    return np.ascontiguousarray(a, dtype=np.float64)


def check_matrix_vector(X, w, *, X_name: str = "X", w_name: str = "w") -> tuple[np.ndarray, np.ndarray]:
    """Validate a data matrix ``X`` (``d x n``) and a weight vector ``w`` (length ``d``).

    Returns float64 copies (or views). Raises ``ValueError`` on shape mismatch or non-finite entries.
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2:
        raise ValueError(f"{X_name} must be a d x n matrix (2-D), got shape {Xa.shape}")
    wa = _as_float_vector(w_name, w)
    if Xa.shape[0] != wa.shape[0]:
        raise ValueError(
            f"shape mismatch: {X_name} has d={Xa.shape[0]} rows but {w_name} has length {wa.shape[0]}; "
            f"X must be d x n with rows as features (paper §3)"
        )
    if not np.all(np.isfinite(Xa)):
        raise ValueError(f"{X_name} contains NaN or inf")
    if not np.all(np.isfinite(wa)):
        raise ValueError(f"{w_name} contains NaN or inf")
    return Xa, wa


def scan_probabilities(p, *, name: str = "p") -> tuple[np.ndarray, float, np.ndarray]:
    """Check ``p`` in one parallel pass and return ``(p as float64, sum(p), per-block sums)``.

    The vector is *not* renormalised (no copy for large ``d``); samplers use the returned sum and the
    block sums of :data:`sketchbound._kernels.BLOCK` entries. Raises like :func:`check_probabilities`.
    """
    a = _as_float_vector(name, p)
    sums, bad, neg = _kernels.scan(a, _kernels.BLOCK)
    if bad.any():
        i = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name} contains NaN or inf (first at index {i}: {a[i]}); probabilities must be finite")
    if neg.any():
        i = int(np.argmin(a))
        raise ValueError(f"{name} has a negative entry ({a[i]!r} at index {i}); probabilities must be >= 0")
    total = float(sums.sum())
    if total <= 0:
        raise ValueError(f"{name} is all zeros; at least one probability must be positive")
    if abs(total - 1.0) > SUM_RTOL:
        raise ValueError(
            f"{name} sums to {total!r}, not 1 (tolerance {SUM_RTOL}); use sketchbound.from_scores(...) "
            f"to turn non-negative scores into probabilities"
        )
    return a, total, sums


def check_probabilities(p, *, name: str = "p", normalize: bool = True) -> np.ndarray:
    """Check that ``p`` is a probability vector and return it as contiguous float64.

    Accepted: a 1-D finite, non-negative vector whose sum is 1 within a relative ``1e-6``. With
    ``normalize=True`` (default) the returned vector is divided by its sum so it sums to 1 up to
    rounding. Anything else raises ``ValueError`` naming the problem: NaN/inf, negative entries,
    all zeros, or a sum far from 1 (use :func:`from_scores` to normalise arbitrary scores).

    >>> check_probabilities([0.25, 0.75])
    array([0.25, 0.75])
    """
    a, total, _ = scan_probabilities(p, name=name)
    if normalize and total != 1.0:
        a = a / total
    return a


def from_scores(scores) -> np.ndarray:
    """Probabilities proportional to a non-negative score vector: ``p_i = score_i / sum(score)``.

    This is how any pruning score (SynFlow, SNIP, magnitude, ...) becomes a sampling distribution for
    Algorithm 1 (paper §5: "we calculate the scores ... and treat them as probabilities").

    >>> from_scores([1.0, 3.0])
    array([0.25, 0.75])
    """
    a = _as_float_vector("scores", scores)
    if not np.all(np.isfinite(a)):
        raise ValueError("scores contain NaN or inf; scores must be finite and non-negative")
    if a.min() < 0:
        bad = int(np.argmin(a))
        raise ValueError(f"scores has a negative entry ({a[bad]!r} at index {bad}); scores must be >= 0")
    total = a.sum()
    if total <= 0:
        raise ValueError("scores are all zero; cannot form probabilities")
    return a / total


def uniform_probabilities(d: int) -> np.ndarray:
    """The uniform distribution ``p_i = 1/d`` used by Lemma 4.5's baseline mask.

    >>> uniform_probabilities(4)
    array([0.25, 0.25, 0.25, 0.25])
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    return np.full(int(d), 1.0 / int(d))


def row_norms(X) -> np.ndarray:
    """Euclidean norms ``||X_(i)||`` of the rows of a ``d x n`` matrix (features, paper §3)."""
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2:
        raise ValueError(f"X must be a d x n matrix (2-D), got shape {Xa.shape}")
    return np.sqrt(np.einsum("ij,ij->i", Xa, Xa))


def optimal_probabilities(X, w) -> np.ndarray:
    """Eq. (2): ``p_i = ||X_(i)|| |w_i| / sum_j ||X_(j)|| |w_j|``  (Drineas et al. 2006, Lemma 4).

    ``X`` is ``d x n`` (rows are features), ``w`` has length ``d``. This is the distribution that
    minimises Algorithm 1's expected error for ``(X, w)`` (Lemma 4.1) and, by §5.1, the normalised
    SynFlow score of a linear model fed ``||X_(i)||``.

    >>> import numpy as np
    >>> optimal_probabilities(np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([1.0, -5.0]))
    array([0.5, 0.5])
    """
    Xa, wa = check_matrix_vector(X, w)
    scores = row_norms(Xa) * np.abs(wa)
    total = scores.sum()
    if total <= 0:
        raise ValueError("eq. (2) is undefined: ||X_(i)|| |w_i| is zero for every i (X or w is all zeros)")
    return scores / total
