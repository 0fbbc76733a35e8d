"""Closed forms of the paper (§4, Appendix B).

Notation (paper §3): ``X`` is ``d x n`` with rows ``X_(k)``; ``w0`` the weights at initialisation
(used to build the mask), ``w_star`` the weights the mask is applied to; ``s`` the number of draws
of Algorithm 1; ``p0`` eq. (2). The *error* of a mask ``m`` is ``||Xᵀw - Xᵀ(w ⊙ m)||²``.

Every function names the lemma it implements. Functions ending in ``_bound`` return the right-hand
side of an inequality of the paper; ``*_error`` / ``*_value`` return exact expectations.

The exact Gaussian expectations (``X ~ N(0, I/n)``, formulas G1 and G2) are derived in
:mod:`sketchbound.gaussian`, the exact errors of other masks in :mod:`sketchbound.mask_errors`; both
are re-exported here.
"""
from __future__ import annotations

import numpy as np

from .linear_scores import snip_linear_scores, synflow_linear_scores  # noqa: F401  (§5, re-exported)
from .probabilities import abridge, as_float_vector, check_matrix_vector, optimal_probabilities, row_norms
from ._scale_safe import scale_safe as _scale_safe
from .sampling import check_size
from .gaussian import MAX_N, check_n, chi_mean, chi_mean_squared, gaussian_error, inv_chi_mean, nu  # noqa: F401
from .mask_errors import bernoulli_error, mask_error, moment_error  # noqa: F401
from .noisy_target import expected_algorithm1_error, variance_aware_minimum_error  # noqa: F401  (re-exported)

__all__ = [
    "algorithm1_error",
    "lemma_b1_mean",
    "lemma_b2_variance",
    "lemma_4_1_value",
    "lemma_4_2_bound",
    "lemma_4_3_exact",
    "lemma_4_3_bound",
    "theorem_4_4_bound",
    "ratio_c",
    "lemma_4_5_bound",
    "lemma_4_5_bound_c",
    "chi_mean",
    "inv_chi_mean",
    "nu",
    "gaussian_error",
    "mask_error",
    "moment_error",
    "bernoulli_error",
    "expected_algorithm1_error",
    "variance_aware_minimum_error",
]


def _check_p_for(p, X, w, name="p"):
    pa = as_float_vector(name, p)
    if pa.shape[0] != X.shape[0]:
        raise ValueError(f"shape mismatch: {name} has length {pa.shape[0]} but X has d={X.shape[0]} rows")
    if not np.all(np.isfinite(pa)) or pa.min() < 0:
        raise ValueError(f"{name} must be finite and non-negative")
    tot = pa.sum()
    if tot <= 0 or abs(tot - 1) > 1e-6:
        raise ValueError(f"{name} must sum to 1 (got {tot!r})")
    need = (row_norms(X) * np.abs(w)) > 0
    if np.any(need & (pa == 0)):
        k = int(np.flatnonzero(need & (pa == 0))[0])
        raise ValueError(
            f"{name}[{k}] = 0 but ||X_({k})|| |w_{k}| > 0: Algorithm 1 never draws index {k}, so the "
            f"estimate is biased and the Lemma B.2 / 4.3 expressions are infinite"
        )
    return pa / tot


def _excess_columns(Xa: np.ndarray, wa: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``Σ_k X_ki² w_k² / q_k - (Xᵀw)_i²`` for each output ``i``, without cancellation.

    With ``y_k = w_k X_(k) / q_k`` and ``Σ q_k = 1`` this is the weighted variance
    ``Σ_k q_k (y_ki - (Xᵀw)_i)²`` (terms with ``q_k = 0`` have ``w_k X_(k) = 0`` and drop out): a sum
    of non-negative terms, so a result far below ``Σ_k X_ki² w_k² / q_k`` (e.g. ``w = [1e200, 1e100]``)
    keeps its digits instead of cancelling to 0.
    """
    nz = q > 0
    mean = Xa.T @ wa
    dev = Xa[nz] * (wa[nz] / q[nz])[:, None] - mean[None, :]
    return q[nz] @ (dev * dev)


@_scale_safe(X=2, w=2)
def algorithm1_error(X, w, p, s) -> float:
    """Exact ``E_m ||Xᵀw - Xᵀ(w ⊙ m)||²`` of Algorithm 1 with any ``p`` (Lemma 4.3, equality line).

    ``= (1/s) Σ_k ||X_(k)||² w_k² / p_k - (1/s) ||Xᵀw||²`` — the sum over the ``n`` outputs of
    Lemma B.2's variances (the estimate is unbiased by Lemma B.1). Terms with ``||X_(k)|| w_k = 0``
    are 0 even where ``p_k = 0``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights the mask is applied to.
    p : array_like, shape (d,)
        Algorithm 1's sampling probabilities.
    s : int
        The number of draws.

    Returns
    -------
    float
        The expected error (``ValueError`` when ``p_k = 0`` where ``||X_(k)|| w_k ≠ 0``: it is infinite).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.eye(2); w = np.array([1.0, 1.0])
    >>> algorithm1_error(X, w, [0.5, 0.5], 1)   # (1/1)(2 + 2) - 2
    2.0
    """
    Xa, wa = check_matrix_vector(X, w)
    s = check_size(s)
    pa = _check_p_for(p, Xa, wa)
    return float(np.sum(_excess_columns(Xa, wa, pa)) / s)


@_scale_safe(X=1, w=1)
def lemma_b1_mean(X, w) -> np.ndarray:
    """Lemma B.1: ``E_m[(Xᵀ(w ⊙ m))_i] = (Xᵀw)_i``, the expected masked output of Algorithm 1.

    Holds for any ``p`` with ``p_k > 0`` wherever ``X_(k) w_k ≠ 0``, so it needs no ``p``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``Xᵀw``.

    Examples
    --------
    >>> lemma_b1_mean([[1.0, 0.0], [1.0, 2.0]], [1.0, 3.0])
    array([4., 6.])
    """
    Xa, wa = check_matrix_vector(X, w)
    return Xa.T @ wa


@_scale_safe(X=2, w=2)
def lemma_b2_variance(X, w, p, s) -> np.ndarray:
    """Lemma B.2: ``Var[(Xᵀ(w ⊙ m))_i] = (1/s) Σ_k X_ki² w_k² / p_k - (1/s) (Xᵀw)_i²``, for each ``i``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights.
    p : array_like, shape (d,)
        Algorithm 1's sampling probabilities.
    s : int
        The number of draws.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The variance of each output; their sum is :func:`algorithm1_error`.

    Examples
    --------
    >>> lemma_b2_variance([[1.0, 0.0], [0.0, 1.0]], [1.0, 1.0], [0.5, 0.5], 1)
    array([1., 1.])
    """
    Xa, wa = check_matrix_vector(X, w)
    s = check_size(s)
    pa = _check_p_for(p, Xa, wa)
    return _excess_columns(Xa, wa, pa) / s


@_scale_safe(X=2, w0=2)
def lemma_4_1_value(X, w0, s) -> float:
    """Lemma 4.1 (Drineas et al. 2006, Lemma 4): Algorithm 1's expected error with ``p = p0`` (eq. 2).

    ``E_m ||Xᵀw0 - Xᵀ(w0 ⊙ m)||² = (1/s)(Σ_k ||X_(k)|| |w0_k|)² - (1/s)||Xᵀw0||²``, the smallest over all
    ``p``; 0 when ``||X_(k)|| |w0_k| = 0`` for every ``k``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w0 : array_like, shape (d,)
        The weights (they build ``p0`` and receive the mask).
    s : int
        The number of draws.

    Returns
    -------
    float
        The expected error.

    Examples
    --------
    >>> import numpy as np
    >>> lemma_4_1_value(np.eye(2), [1.0, 1.0], 1)   # (1 + 1)² - 2
    2.0
    """
    Xa, wa = check_matrix_vector(X, w0, w_name="w0")
    s = check_size(s)
    try:
        p0 = optimal_probabilities(Xa, wa)
    except ValueError:  # ||X_(k)|| |w0_k| = 0 for every k: no error at all
        return 0.0
    return float(np.sum(_excess_columns(Xa, wa, p0)) / s)


@_scale_safe(w0=2)
def lemma_4_2_bound(w0, s) -> float:
    """Lemma 4.2's right-hand side ``||w0||² / s``, the paper's bound on the ``E_X E_m`` error for ``X ~ N(0, I/n)``.

    The exact left side is ``μ_n² (||w0||₁² - ||w0||²) / s`` (:func:`lemma_4_2_exact`); the proof's step
    ``(Σ_k a_k)² ≤ Σ_k a_k²`` goes the wrong way (validation/ERRATA.md). The validator measures which holds.

    Parameters
    ----------
    w0 : array_like, shape (d,)
        The weights at initialisation.
    s : int
        The number of draws.

    Returns
    -------
    float
        ``||w0||² / s``.

    Examples
    --------
    >>> lemma_4_2_bound([3.0, 4.0], 5)
    5.0
    """
    wa = as_float_vector("w0", w0)
    s = check_size(s)
    return float(np.sum(wa**2) / s)


@_scale_safe(X=2, X_tilde=0, w0=0, w_star=2)
def lemma_4_3_exact(X, X_tilde, w0, w_star, s) -> float:
    """Lemma 4.3, equality line: the exact error of a mask drawn with ``p0`` of ``(X̃, w0)``, applied to ``(X, w*)``.

    ``(1/s) Σ_k ||X_(k)||² w*_k² / p0_k - (1/s)||Xᵀw*||²``, computed as a sum of non-negative terms (no
    cancellation).

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data the mask is applied to.
    X_tilde : array_like, shape (d, n')
        The data that builds ``p0`` (eq. 2) with ``w0``.
    w0, w_star : array_like, shape (d,)
        The weights that build the mask, and those it is applied to.
    s : int
        The number of draws.

    Returns
    -------
    float
        The expected error (``ValueError`` where it is infinite).

    Examples
    --------
    >>> import numpy as np
    >>> lemma_4_3_exact(np.eye(2), np.eye(2), [1.0, 1.0], [1.0, 3.0], 1)   # (1 + 9)·2 - 10
    10.0
    """
    Xa, ws = check_matrix_vector(X, w_star, w_name="w_star")
    Xt, w0a = check_matrix_vector(X_tilde, w0, X_name="X_tilde", w_name="w0")
    if Xt.shape[0] != Xa.shape[0]:
        raise ValueError(f"shape mismatch: X_tilde has d={Xt.shape[0]} rows but X has d={Xa.shape[0]}")
    s = check_size(s)
    try:
        p0 = optimal_probabilities(Xt, w0a)
    except ValueError:
        raise ValueError("eq. (2) of (X_tilde, w0) is undefined: ||X_tilde_(k)|| |w0_k| = 0 for every k "
                         "(X_tilde or w0 is all zeros)") from None
    need = (row_norms(Xa) * np.abs(ws)) > 0
    if np.any(need & (p0 == 0)):
        k = int(np.flatnonzero(need & (p0 == 0))[0])
        raise ValueError(f"||X_tilde[{k}]|| |w0[{k}]| = 0 while ||X[{k}]|| |w_star[{k}]| ≠ 0: the mask drawn from "
                         f"(X_tilde, w0) never keeps index {k}, so Lemma 4.3's error is infinite")
    return float(np.sum(_excess_columns(Xa, ws, p0)) / s)


@_scale_safe(X=2, X_tilde=0, w0=0, w_star=2)
def lemma_4_3_bound(X, X_tilde, w0, w_star, s) -> float:
    """Lemma 4.3's bound ``(1/s) Σ_k [Σ_j ||X̃_(j)|| |w0_j|] / (||X̃_(k)|| |w0_k|) · ||X_(k)||² w*_k²``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data the mask is applied to.
    X_tilde : array_like, shape (d, n')
        The data that builds ``p0`` (eq. 2) with ``w0``.
    w0, w_star : array_like, shape (d,)
        The weights that build the mask, and those it is applied to.
    s : int
        The number of draws.

    Returns
    -------
    float
        The bound (:func:`lemma_4_3_exact` without its ``- ||Xᵀw*||² / s`` term).

    Examples
    --------
    >>> import numpy as np
    >>> lemma_4_3_bound(np.eye(2), np.eye(2), [1.0, 1.0], [1.0, 3.0], 1)
    20.0
    """
    Xa, ws = check_matrix_vector(X, w_star, w_name="w_star")
    Xt, w0a = check_matrix_vector(X_tilde, w0, X_name="X_tilde", w_name="w0")
    if Xt.shape[0] != Xa.shape[0]:
        raise ValueError(f"shape mismatch: X_tilde has d={Xt.shape[0]} rows but X has d={Xa.shape[0]}")
    s = check_size(s)
    a = row_norms(Xt) * np.abs(w0a)
    num = row_norms(Xa) ** 2 * ws**2
    nz = num > 0
    if np.any(nz & (a == 0)):
        k = int(np.flatnonzero(nz & (a == 0))[0])
        raise ValueError(f"||X_tilde[{k}]|| |w0[{k}]| = 0 while ||X[{k}]|| |w_star[{k}]| ≠ 0: Lemma 4.3's "
                             f"bound is infinite")
    return float(a.sum() * np.sum(num[nz] / a[nz]) / s)


def ratio_c(w0, w_star) -> float:
    """``c = max_j |w*_j / w0_j|``, the constant of Theorem 4.4 and Lemma 4.5.

    Parameters
    ----------
    w0, w_star : array_like, shape (d,)
        The weights at initialisation and the trained (or target) weights.

    Returns
    -------
    float
        ``c``; ``inf`` if some ``w0_j = 0 ≠ w*_j``, 0 if ``w* = 0``. ``ValueError`` if a ratio of non-zeros
        exceeds float64 (e.g. ``1e300 / 1e-300``).

    Examples
    --------
    >>> ratio_c([1.0, -2.0], [3.0, 1.0])
    3.0
    """
    _w0, _ws = as_float_vector("w0", w0), as_float_vector("w_star", w_star)
    if _w0.shape == _ws.shape:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            _r = np.abs(_ws) / np.where(_w0 != 0, np.abs(_w0), 1.0)
        if not np.all(np.isfinite(_r)):
            raise ValueError(f"ratio_c: c = max|w*_j / w0_j| exceeds float64 (w0 = {abridge(_w0, 40)}, "
                             f"w_star = {abridge(_ws, 40)})")
    w0a = as_float_vector("w0", w0)
    wsa = as_float_vector("w_star", w_star)
    if w0a.shape != wsa.shape:
        raise ValueError(f"shape mismatch: w0 has length {w0a.shape[0]}, w_star {wsa.shape[0]}")
    nz = wsa != 0
    if np.any(nz & (w0a == 0)):
        return float("inf")
    if not nz.any():
        return 0.0
    return float(np.max(np.abs(wsa[nz] / w0a[nz])))


@_scale_safe(w0=0, w_star=2)
def theorem_4_4_bound(w0, w_star, s) -> float:
    """Theorem 4.4's right-hand side ``c² ||w0||₁² / s`` with ``c = max_j |w*_j / w0_j|`` (:func:`ratio_c`).

    Parameters
    ----------
    w0, w_star : array_like, shape (d,)
        The weights at initialisation (they build ``p0``) and the weights the mask is applied to.
    s : int
        The number of draws.

    Returns
    -------
    float
        The bound; ``ValueError`` when ``c`` is infinite.

    Examples
    --------
    >>> theorem_4_4_bound([1.0, 1.0], [2.0, 1.0], 4)   # 2² · 2² / 4
    4.0
    """
    s = check_size(s)
    c = ratio_c(w0, w_star)
    if not np.isfinite(c):
        raise ValueError("w0 has a zero where w_star does not: c = max|w*_j / w0_j| is infinite")
    return float(c**2 * np.sum(np.abs(as_float_vector("w0", w0))) ** 2 / s)


@_scale_safe(w_star=2)
def lemma_4_5_bound(w_star, s) -> float:
    """Lemma 4.5's first bound ``(d/s) ||w*||²`` for the uniform mask (Algorithm 1 with ``p = 1/d``).

    Parameters
    ----------
    w_star : array_like, shape (d,)
        The weights the mask is applied to.
    s : int
        The number of draws.

    Returns
    -------
    float
        The bound.

    Examples
    --------
    >>> lemma_4_5_bound([1.0, 1.0], 1)
    4.0
    """
    ws = as_float_vector("w_star", w_star)
    s = check_size(s)
    return float(ws.shape[0] * np.sum(ws**2) / s)


@_scale_safe(w0=0, w_star=2)
def lemma_4_5_bound_c(w0, w_star, s) -> float:
    """Lemma 4.5's second bound ``(d c² / s) ||w0||²`` with ``c = max_j |w*_j / w0_j|`` (:func:`ratio_c`).

    Parameters
    ----------
    w0, w_star : array_like, shape (d,)
        The weights at initialisation and the weights the mask is applied to.
    s : int
        The number of draws.

    Returns
    -------
    float
        The bound; ``ValueError`` when ``c`` is infinite, as in :func:`theorem_4_4_bound`.

    Examples
    --------
    >>> lemma_4_5_bound_c([1.0, 1.0], [2.0, 1.0], 4)   # 2 · 4 · 2 / 4
    4.0
    """
    if not np.isfinite(ratio_c(w0, w_star)):
        raise ValueError("w0 has a zero where w_star does not: c = max|w*_j / w0_j| is infinite")
    w0a = as_float_vector("w0", w0)
    s = check_size(s)
    c = ratio_c(w0a, w_star)
    return float(w0a.shape[0] * c**2 * np.sum(w0a**2) / s)


# -------------------------------------------------------------------------------------------------
# Corrected statements (validation/ERRATA.md): what Lemma 4.2 and Theorem 4.4 should say
# -------------------------------------------------------------------------------------------------
@_scale_safe(w0=2)
def lemma_4_2_exact(w0, s, n) -> float:
    """Lemma 4.2, corrected (exact): ``E_X E_m ||Xᵀw0 − Xᵀ(w0 ⊙ m)||² = μ_n² (||w0||₁² − ||w0||²) / s``
    for ``X ~ N(0, I/n)`` and Algorithm 1 with eq. (2) of ``(X, w0)`` (formula G1 with ``w* = w0``)."""
    wa = as_float_vector("w0", w0)
    s = check_size(s)
    n = check_n(n)
    a = np.abs(wa)
    # ||w0||₁² - ||w0||² = 2 Σ_{j<k} |w0_j||w0_k|: non-negative terms, no cancellation
    pre = np.concatenate(([0.0], np.cumsum(a)[:-1]))
    return float(chi_mean_squared(n) * 2.0 * np.dot(a, pre) / s)


@_scale_safe(w0=2)
def lemma_4_2_corrected_bound(w0, s) -> float:
    """Lemma 4.2, corrected bound: ``||w0||₁² / s`` (valid because ``μ_n² <= 1``; tight as ``n → ∞``
    and ``||w0||² << ||w0||₁²``)."""
    wa = as_float_vector("w0", w0)
    s = check_size(s)
    return float(np.sum(np.abs(wa)) ** 2 / s)


def gaussian_error_or_inf(w0, w_star, s, n, *, mask: str = "optimal", x_tilde: str = "same") -> float:
    """:func:`gaussian_error`, or ``+inf`` where that expectation diverges instead of raising: ``X̃``
    independent of ``X`` and ``n = 1`` (``E[1/χ_1] = ∞``), with some ``w*_k ≠ 0`` next to another
    non-zero ``w0_j``."""
    if mask == "optimal" and x_tilde == "independent" and check_n(n) == 1:
        a = np.abs(as_float_vector("w0", w0))
        ws = as_float_vector("w_star", w_star)
        if ws.shape == a.shape and np.any((ws != 0) & (a.sum() - a > 0)):
            return float("inf")
    return gaussian_error(w0, w_star, s, n, mask=mask, x_tilde=x_tilde)


def theorem_4_4_datafree_exact(w0, w_star, s, n) -> float:
    """Theorem 4.4 in the data-free setting (mask from eq. (2) of an independent ``X̃ ~ N(0, I/n)``,
    applied to ``X``): ``E = (ν_n / s) Σ_k w*_k² (||w0||₁ − |w0_k|) / |w0_k|`` (formula G2);
    ``inf`` for ``n = 1``."""
    return gaussian_error_or_inf(w0, w_star, s, n, x_tilde="independent")


def theorem_4_4_datafree_bound(w0, w_star, s, n) -> float:
    """Theorem 4.4, corrected for the data-free setting: ``ν_n c² ||w0||₁² / s`` with
    ``ν_n = E[χ_n] E[1/χ_n] >= 1`` (:func:`nu`) and ``c = max_j |w*_j / w0_j|``."""
    n = check_n(n)
    return float(nu(n) * theorem_4_4_bound(w0, w_star, s))
