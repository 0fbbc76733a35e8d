"""Exact errors of masks other than Algorithm 1's: one fixed mask (eq. 1), any random mask from its first
two moments, and Poisson (Bernoulli) sampling with or without Horvitz–Thompson weights.

Notation as in :mod:`sketchbound.theory` (paper §3): ``X`` is ``d x n`` with rows ``X_(k)``, ``w`` has length
``d``; the error of a mask ``m`` is ``||Xᵀw - Xᵀ(w ⊙ m)||²``. :mod:`sketchbound.theory` re-exports these.
"""
from __future__ import annotations

import numpy as np

from ._scale_safe import scale_safe as _scale_safe
from .probabilities import abridge, as_float_vector, as_real_array, check_matrix_vector, row_norms

__all__ = ["mask_error", "moment_error", "bernoulli_error"]


@_scale_safe(X=2, w=2)
def mask_error(X, w, m) -> float:
    """Error of one fixed mask: ``||Xᵀw - Xᵀ(w ⊙ m)||² = ||Xᵀ(w ⊙ (1 - m))||²`` (eq. 1).

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights.
    m : array_like, shape (d,)
        The mask (binary, or Algorithm 1's weighted counts).

    Returns
    -------
    float
        The squared error of the masked outputs.

    Examples
    --------
    >>> import numpy as np
    >>> mask_error(np.eye(2), [1.0, 2.0], [1.0, 0.0])
    4.0
    """
    Xa, wa = check_matrix_vector(X, w)
    ma = as_float_vector("m", m)
    if ma.shape != wa.shape:
        raise ValueError(f"shape mismatch: m has length {ma.shape[0]}, w has {wa.shape[0]}")
    return float(np.sum((Xa.T @ (wa * (1.0 - ma))) ** 2))


@_scale_safe(X=2, w=2)
def moment_error(X, w, mean_m, second_m) -> float:
    """Exact expected error of any random mask from its first two moments.

    ``E||Xᵀ(w ⊙ (1 - m))||² = Σ_{k,l} G_kl w_k w_l E[(1 - m_k)(1 - m_l)]`` with ``G = X Xᵀ`` and
    ``E[(1-m_k)(1-m_l)] = 1 - E m_k - E m_l + E[m_k m_l]``. Cost ``O(d²)``: for small ``d``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights.
    mean_m : array_like, shape (d,)
        ``E m``.
    second_m : array_like, shape (d, d)
        ``E[m mᵀ]``; ``second_m - mean_m mean_mᵀ`` must be a covariance (symmetric, positive semi-definite).

    Returns
    -------
    float
        The expected error.

    Examples
    --------
    >>> import numpy as np
    >>> moment_error(np.eye(2), [1.0, 1.0], [0.5, 0.5], np.diag([0.5, 0.5]) + 0.0)   # two fair coins
    1.0
    """
    _M2, _mu = as_real_array("second_m", second_m, ndim=2), as_float_vector("mean_m", mean_m)
    if _M2.shape == (_mu.shape[0],) * 2:
        _t = max(1.0, float(np.abs(_mu).max()), float(np.sqrt(np.abs(_M2).max())))
        _C = _M2 / _t / _t - np.outer(_mu / _t, _mu / _t)
        if np.abs(_C - _C.T).max() > 1e-9 or np.linalg.eigvalsh((_C + _C.T) / 2).min() < -1e-9 * _mu.shape[0]:
            raise ValueError(f"second_m - mean_m mean_mᵀ must be a symmetric positive semi-definite covariance; "
                             f"got second_m = {abridge(_M2, 60)}, mean_m = {abridge(_mu, 40)}")
    Xa, wa = check_matrix_vector(X, w)
    mu = as_float_vector("mean_m", mean_m)
    M2 = np.asarray(second_m, dtype=np.float64)
    d = wa.shape[0]
    if mu.shape != (d,) or M2.shape != (d, d):
        raise ValueError(f"mean_m must have shape ({d},) and second_m ({d}, {d}); got {mu.shape}, {M2.shape}")
    E = 1.0 - mu[:, None] - mu[None, :] + M2
    G = Xa @ Xa.T
    return float(wa @ ((G * E) @ wa))


@_scale_safe(X=2, w=2)
def bernoulli_error(X, w, pi, *, weighted: bool = True) -> float:
    """Exact error of Poisson (Bernoulli) sampling with inclusion probabilities ``π``.

    Horvitz–Thompson (``weighted=True``, ``m_k = 1/π_k`` if kept): unbiased, independent entries,
    ``Σ_k ||X_(k)||² w_k² (1/π_k - 1)``. Binary (``weighted=False``):
    ``||Xᵀ(w ⊙ (1 - π))||² + Σ_k ||X_(k)||² w_k² π_k (1 - π_k)``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights.
    pi : array_like, shape (d,)
        The inclusion probabilities, in ``[0, 1]``.
    weighted : bool, optional
        Horvitz–Thompson weights ``1/π_k`` (default) or a binary mask.

    Returns
    -------
    float
        The expected error.

    Examples
    --------
    >>> import numpy as np
    >>> bernoulli_error(np.eye(2), [1.0, 1.0], [0.5, 0.5])
    2.0
    >>> bernoulli_error(np.eye(2), [1.0, 1.0], [0.5, 0.5], weighted=False)
    1.0
    """
    if not isinstance(weighted, (bool, np.bool_)):
        raise ValueError(f"weighted must be True or False, got {abridge(weighted)}")
    Xa, wa = check_matrix_vector(X, w)
    pia = as_float_vector("pi", pi)
    if pia.shape != wa.shape or np.any((pia < 0) | (pia > 1)):
        raise ValueError("pi must have length d with entries in [0, 1]")
    r2w2 = row_norms(Xa) ** 2 * wa**2
    if weighted:
        nz = r2w2 > 0
        if np.any(nz & (pia == 0)):
            k = int(np.flatnonzero(nz & (pia == 0))[0])
            raise ValueError(f"pi[{k}] = 0 where ||X[{k}]|| |w[{k}]| ≠ 0: the Horvitz–Thompson error is infinite")
        return float(np.sum(r2w2[nz] * ((1.0 - pia[nz]) / pia[nz])))  # 1 - π exact for π >= 1/2
    return float(np.sum((Xa.T @ (wa * (1 - pia))) ** 2) + np.sum(r2w2 * pia * (1 - pia)))
