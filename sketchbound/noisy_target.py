"""Expected Lemma 4.3 error when the weights the mask is applied to are noisy, ``w* = c w0 + ε``.

The closed forms of the bridge between Algorithm 1's error and a trained network (validation/bridge.md):
:func:`expected_algorithm1_error` for any law ``p`` and its minimum over ``p``,
:func:`variance_aware_minimum_error`, attained by
:func:`~sketchbound.probabilities.variance_aware_probabilities`. Both are re-exported by
:mod:`sketchbound.theory`.
"""
from __future__ import annotations

import numpy as np

from .probabilities import as_float_vector, noisy_pair, pow2_exponent, check_matrix_vector, check_probabilities, row_norms
from .sampling import check_size

__all__ = ["expected_algorithm1_error", "variance_aware_minimum_error"]

def _noisy_parts(X, w0, c, sigma):
    """``(r, a, b, shift)``: row norms of ``X 2^-F``, ``c w0 = a 2^E``, ``σ = b 2^E``, ``shift = 2E + 2F``
    (every closed form below is homogeneous of degree 2 in ``X`` and in ``(c w0, σ)`` jointly)."""
    Xa, wa = check_matrix_vector(X, w0, w_name="w0")
    a, b, E = noisy_pair(wa, c, sigma)
    F = pow2_exponent(float(np.max(np.abs(Xa))))
    Xs = np.ldexp(Xa, -F)
    return Xs, row_norms(Xs), a, b, 2 * E + 2 * F


def _finish(val: float, shift: int, s: int, what: str) -> float:
    with np.errstate(over="ignore"):
        out = float(np.ldexp(max(val, 0.0) / s, shift))
    if not np.isfinite(out):
        raise ValueError(f"{what}: the result exceeds float64 for these inputs")
    return out


def expected_algorithm1_error(X, w0, p, s, c, sigma) -> float:
    """Expected Lemma 4.3 error of Algorithm 1 with law ``p`` when ``w* = c w0 + ε``.

    Algorithm 1 draws ``s`` indices with replacement from ``p`` (``m_k = count_k/(s p_k)``); the
    error ``||Xᵀw* − Xᵀ(w* ⊙ m)||²`` is averaged over the mask and over ``ε`` (independent of the mask,
    ``E ε = 0``, ``E ε_k² = σ_k²``, uncorrelated). Only second moments of ``w*`` enter Lemma 4.3's
    equality line (:func:`algorithm1_error`), ``E w*_k² = c_k² w0_k² + σ_k²`` and
    ``E||Xᵀw*||² = ||Xᵀ(c w0)||² + Σ_k σ_k² ||X_(k)||²``, so

        E = (1/s) [Σ_k ||X_(k)||² (c_k² w0_k² + σ_k²) / p_k − ||Xᵀ(c w0)||² − Σ_k σ_k² ||X_(k)||²].

    At ``σ = 0`` this is ``algorithm1_error(X, c w0, p, s)``. Scale-safe (exact power-of-two rescaling).

    Parameters
    ----------
    X : array_like, shape (d, n)
        Data, rows ``X_(k)`` are features (paper §3).
    w0 : array_like, shape (d,)
        Weights at initialisation.
    p : array_like, shape (d,)
        Algorithm 1's law; ``p_k > 0`` wherever ``||X_(k)||² (c_k² w0_k² + σ_k²) > 0``.
    s : int
        Number of draws.
    c, sigma : float or array_like
        Scale and noise standard deviation (``>= 0``), scalars or broadcastable to ``w0``.

    Returns
    -------
    float
        The expected error.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.eye(2); w0 = np.array([1.0, 1.0])
    >>> expected_algorithm1_error(X, w0, [0.5, 0.5], 1, 1.0, 0.0)   # = algorithm1_error(X, w0, p, 1)
    2.0
    >>> expected_algorithm1_error(X, w0, [0.5, 0.5], 1, 1.0, 1.0)   # (2·2 + 2·2) − 2 − 2
    4.0
    """
    s = check_size(s)
    Xs, r, a, b, shift = _noisy_parts(X, w0, c, sigma)
    pa = as_float_vector("p", p)
    if pa.shape != a.shape:
        raise ValueError(f"shape mismatch: p has length {pa.shape[0]} but X has d={a.shape[0]} rows")
    pa = check_probabilities(pa)
    num = r**2 * (a**2 + b**2)
    nz = num > 0
    if np.any(nz & (pa == 0)):
        k = int(np.flatnonzero(nz & (pa == 0))[0])
        raise ValueError(f"p[{k}] = 0 but ||X_({k})||² E w*_{k}² > 0: Algorithm 1 never draws index {k}, so the "
                         f"expected error is infinite")
    val = np.sum(num[nz] / pa[nz]) - np.sum((Xs.T @ a) ** 2) - np.sum(b**2 * r**2)
    return _finish(float(val), shift, s, "expected_algorithm1_error")


def variance_aware_minimum_error(X, w0, s, c, sigma) -> float:
    """The minimum over all laws ``p`` of :func:`expected_algorithm1_error`, attained by
    :func:`~sketchbound.probabilities.variance_aware_probabilities` (Cauchy–Schwarz; validation/bridge.md):

        E_min = (1/s) [(Σ_k ||X_(k)|| sqrt(c_k² w0_k² + σ_k²))² − ||Xᵀ(c w0)||² − Σ_k σ_k² ||X_(k)||²].

    At ``σ = 0`` this is Lemma 4.1's value for ``c w0``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        Data, rows are features.
    w0 : array_like, shape (d,)
        Weights at initialisation.
    s : int
        Number of draws of Algorithm 1.
    c, sigma : float or array_like
        Scale and noise standard deviation (``>= 0``), scalars or broadcastable to ``w0``.

    Returns
    -------
    float
        The minimal expected error.

    Examples
    --------
    >>> import numpy as np
    >>> variance_aware_minimum_error(np.eye(2), np.array([3.0, 4.0]), 1, 1.0, 0.0)   # (3 + 4)² − 25
    24.0
    >>> variance_aware_minimum_error(np.eye(2), np.array([3.0, 0.0]), 1, 1.0, [0.0, 4.0])   # (3 + 4)² − 9 − 16
    24.0
    """
    s = check_size(s)
    Xs, r, a, b, shift = _noisy_parts(X, w0, c, sigma)
    S = float(np.sum(r * np.hypot(a, b)))
    val = S**2 - np.sum((Xs.T @ a) ** 2) - np.sum(b**2 * r**2)
    return _finish(float(val), shift, s, "variance_aware_minimum_error")
