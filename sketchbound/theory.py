"""Closed forms of the paper (§4, Appendix B) and exact errors of the other sketches.

Notation (paper §3): ``X`` is ``d x n`` with rows ``X_(k)``; ``w0`` the weights at initialisation
(used to build the mask), ``w_star`` the weights the mask is applied to; ``s`` the number of draws
of Algorithm 1; ``p0`` eq. (2). The *error* of a mask ``m`` is ``||Xᵀw - Xᵀ(w ⊙ m)||²``.

Every function names the lemma it implements. Functions ending in ``_bound`` return the right-hand
side of an inequality of the paper; ``*_error`` / ``*_value`` return exact expectations.

Exact Gaussian expectations (derived here, not in the paper)
-------------------------------------------------------------
For ``X ~ N(0, I/n)`` (entries i.i.d. with variance ``1/n``) the row norms ``r_k = ||X_(k)||`` are
i.i.d. ``χ_n / √n`` and independent across rows, with

* ``E[r²] = 1``,
* ``μ_n = E[r] = √(2/n) Γ((n+1)/2) / Γ(n/2)``  (proof of Thm 4.4),
* ``E[1/r] = √(n/2) Γ((n-1)/2) / Γ(n/2)`` for ``n ≥ 2`` (infinite for ``n = 1``),
* ``E||Xᵀw||² = Σ_i E(x_iᵀw)² = ||w||²``.

With ``p0`` from the same ``X`` (Lemma 4.3 equality, ``X̃ = X``):
``||X_(k)||² / p_k = r_k (Σ_j r_j |w0_j|) / |w0_k|``, whose expectation is
``1 + μ_n² (||w0||₁ - |w0_k|) / |w0_k|``. Hence

    E_X E_m[err] = (μ_n² / s) Σ_k w*_k² (||w0||₁ - |w0_k|) / |w0_k|.            (G1)

With ``w* = w0`` this is ``μ_n² (||w0||₁² - ||w0||²) / s`` — the exact left side of Lemma 4.2.
With ``p0`` from an *independent* copy ``X̃`` (data-free pruning: mask from random data, applied to
other data), ``E[r_k² r̃_j / r̃_k] = μ_n E[1/r]`` for ``j ≠ k``, so (G1) holds with ``μ_n²`` replaced by

    ν_n = E[χ_n] E[1/χ_n] = Γ((n+1)/2) Γ((n-1)/2) / Γ(n/2)²  ≥ 1  (Jensen),           (G2)

e.g. ``ν_2 = π/2``. For the uniform mask (Lemma 4.5): ``E_X E_m[err] = (d - 1) ||w*||² / s``.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from .probabilities import _as_float_vector, abridge, as_real_array, check_matrix_vector, optimal_probabilities, row_norms
from .probabilities import scale_safe as _scale_safe
from .sampling import check_size

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
]


def _check_p_for(p, X, w, name="p"):
    pa = _as_float_vector(name, p)
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


@_scale_safe(X=2, w=2)
def algorithm1_error(X, w, p, s) -> float:
    """Exact ``E_m ||Xᵀw - Xᵀ(w ⊙ m)||²`` of Algorithm 1 with any ``p`` (Lemma 4.3, equality line).

    ``= (1/s) Σ_k ||X_(k)||² w_k² / p_k - (1/s) ||Xᵀw||²`` — the sum over the ``n`` outputs of
    Lemma B.2's variances (the estimate is unbiased by Lemma B.1). Terms with ``||X_(k)|| w_k = 0``
    are 0 even where ``p_k = 0``.

    >>> import numpy as np
    >>> X = np.eye(2); w = np.array([1.0, 1.0])
    >>> algorithm1_error(X, w, [0.5, 0.5], 1)   # (1/1)(2 + 2) - 2
    2.0
    """
    Xa, wa = check_matrix_vector(X, w)
    s = check_size(s)
    pa = _check_p_for(p, Xa, wa)
    r2w2 = row_norms(Xa) ** 2 * wa**2
    nz = r2w2 > 0
    first = np.sum(r2w2[nz] / pa[nz])
    return float((first - np.sum((Xa.T @ wa) ** 2)) / s)


@_scale_safe(X=1, w=1)
def lemma_b1_mean(X, w) -> np.ndarray:
    """Lemma B.1: ``E_m[(Xᵀ(w ⊙ m))_i] = (Xᵀw)_i`` — the expected masked output (any ``p`` with
    ``p_k > 0`` wherever ``X_(k) w_k ≠ 0``)."""
    Xa, wa = check_matrix_vector(X, w)
    return Xa.T @ wa


@_scale_safe(X=2, w=2)
def lemma_b2_variance(X, w, p, s) -> np.ndarray:
    """Lemma B.2: ``Var[(Xᵀ(w ⊙ m))_i] = (1/s) Σ_k X_ki² w_k² / p_k - (1/s) (Xᵀw)_i²``, for each ``i``."""
    Xa, wa = check_matrix_vector(X, w)
    s = check_size(s)
    pa = _check_p_for(p, Xa, wa)
    nz = np.abs(wa) * row_norms(Xa) > 0
    inv = np.zeros_like(pa)
    inv[nz] = 1.0 / pa[nz]
    first = (Xa**2 * (wa**2 * inv)[:, None]).sum(axis=0)
    return (first - (Xa.T @ wa) ** 2) / s


@_scale_safe(X=2, w0=2)
def lemma_4_1_value(X, w0, s) -> float:
    """Lemma 4.1 (Drineas et al. 2006, Lemma 4): with ``p = p0`` (eq. 2),
    ``E_m ||Xᵀw0 - Xᵀ(w0 ⊙ m)||² = (1/s)(Σ_k ||X_(k)|| |w0_k|)² - (1/s)||Xᵀw0||²``."""
    Xa, wa = check_matrix_vector(X, w0, w_name="w0")
    s = check_size(s)
    S = np.sum(row_norms(Xa) * np.abs(wa))
    return float((S**2 - np.sum((Xa.T @ wa) ** 2)) / s)


@_scale_safe(w0=2)
def lemma_4_2_bound(w0, s) -> float:
    """Lemma 4.2's right-hand side ``||w0||² / s`` (claimed bound on ``E_X E_m`` error, X ~ N(0, I/n)).

    Note: the exact left side is ``μ_n² (||w0||₁² - ||w0||²) / s`` (:func:`gaussian_error`); the proof's
    step ``(Σ_k a_k)² ≤ Σ_k a_k²`` goes the wrong way. The validator measures which one holds.
    """
    wa = _as_float_vector("w0", w0)
    s = check_size(s)
    return float(np.sum(wa**2) / s)


@_scale_safe(X=2, X_tilde=0, w0=0, w_star=2)
def lemma_4_3_exact(X, X_tilde, w0, w_star, s) -> float:
    """Lemma 4.3, equality line: the exact error when the mask is drawn with ``p0`` of ``(X̃, w0)``
    and applied to ``(X, w*)``: ``(1/s) Σ_k ||X_(k)||² w*_k² / p0_k - (1/s)||Xᵀw*||²``."""
    Xa, ws = check_matrix_vector(X, w_star, w_name="w_star")
    p0 = optimal_probabilities(X_tilde, w0)
    if p0.shape[0] != Xa.shape[0]:
        raise ValueError(f"shape mismatch: X_tilde has d={p0.shape[0]} rows but X has d={Xa.shape[0]}")
    return algorithm1_error(Xa, ws, p0, s)


@_scale_safe(X=2, X_tilde=0, w0=0, w_star=2)
def lemma_4_3_bound(X, X_tilde, w0, w_star, s) -> float:
    """Lemma 4.3's bound ``(1/s) Σ_k [Σ_j ||X̃_(j)|| |w0_j|] / (||X̃_(k)|| |w0_k|) · ||X_(k)||² w*_k²``."""
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
        raise ValueError(f"||X̃_({k})|| |w0_{k}| = 0 while ||X_({k})|| w*_{k} ≠ 0: Lemma 4.3's bound is infinite")
    return float(a.sum() * np.sum(num[nz] / a[nz]) / s)


def ratio_c(w0, w_star) -> float:
    """``c = max_j |w*_j / w0_j|`` (Theorem 4.4, Lemma 4.5); ``inf`` if some ``w0_j = 0 ≠ w*_j``.
    ``ValueError`` if a ratio of non-zeros exceeds float64 (e.g. ``1e300 / 1e-300``)."""
    _w0, _ws = _as_float_vector("w0", w0), _as_float_vector("w_star", w_star)
    if _w0.shape == _ws.shape:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            _r = np.abs(_ws) / np.where(_w0 != 0, np.abs(_w0), 1.0)
        if not np.all(np.isfinite(_r)):
            raise ValueError(f"ratio_c: c = max|w*_j / w0_j| exceeds float64 (w0 = {abridge(_w0, 40)}, "
                             f"w_star = {abridge(_ws, 40)})")
    w0a = _as_float_vector("w0", w0)
    wsa = _as_float_vector("w_star", w_star)
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
    """Theorem 4.4's right-hand side ``c² ||w0||₁² / s`` with ``c = max_j |w*_j / w0_j|``."""
    s = check_size(s)
    c = ratio_c(w0, w_star)
    if not np.isfinite(c):
        raise ValueError("w0 has a zero where w_star does not: c = max|w*_j / w0_j| is infinite")
    return float(c**2 * np.sum(np.abs(_as_float_vector("w0", w0))) ** 2 / s)


@_scale_safe(w_star=2)
def lemma_4_5_bound(w_star, s) -> float:
    """Lemma 4.5's first bound ``(d/s) ||w*||²`` for the uniform mask (Algorithm 1 with ``p = 1/d``)."""
    ws = _as_float_vector("w_star", w_star)
    s = check_size(s)
    return float(ws.shape[0] * np.sum(ws**2) / s)


@_scale_safe(w0=0, w_star=2)
def lemma_4_5_bound_c(w0, w_star, s) -> float:
    """Lemma 4.5's second bound ``(d c² / s) ||w0||²`` (``ValueError`` when ``c`` is infinite, as in
    :func:`theorem_4_4_bound`)."""
    if not np.isfinite(ratio_c(w0, w_star)):
        raise ValueError("w0 has a zero where w_star does not: c = max|w*_j / w0_j| is infinite")
    w0a = _as_float_vector("w0", w0)
    s = check_size(s)
    c = ratio_c(w0a, w_star)
    return float(w0a.shape[0] * c**2 * np.sum(w0a**2) / s)


def _check_n(n) -> int:
    return check_size(n, name="n")


def chi_mean(n) -> float:
    """``μ_n = E||X_(k)||`` for ``X ~ N(0, I/n)``: ``√(2/n) Γ((n+1)/2) / Γ(n/2)`` (proof of Thm 4.4)."""
    n = _check_n(n)
    return float(np.sqrt(2.0 / n) * np.exp(gammaln((n + 1) / 2) - gammaln(n / 2)))


def inv_chi_mean(n) -> float:
    """``E[1 / ||X_(k)||]`` for ``X ~ N(0, I/n)``: ``√(n/2) Γ((n-1)/2) / Γ(n/2)``; ``inf`` for ``n = 1``."""
    n = _check_n(n)
    if n == 1:
        return float("inf")
    return float(np.sqrt(n / 2.0) * np.exp(gammaln((n - 1) / 2) - gammaln(n / 2)))


def nu(n) -> float:
    """(G2) ``ν_n = E[χ_n] E[1/χ_n] = Γ((n+1)/2)Γ((n-1)/2)/Γ(n/2)²`` (``inf`` for ``n = 1``)."""
    return chi_mean(n) * inv_chi_mean(n)


@_scale_safe(w0=0, w_star=2)
def gaussian_error(w0, w_star, s, n, *, mask: str = "optimal", x_tilde: str = "same") -> float:
    """Exact ``E_X E_m ||Xᵀw* - Xᵀ(w* ⊙ m)||²`` for ``X ~ N(0, I/n)`` (derivation in the module doc).

    ``mask="optimal"``: Algorithm 1 with ``p0`` of ``(X̃, w0)`` — ``x_tilde="same"`` (X̃ = X, the
    setting of Lemma 4.2 / Theorem 4.4, formula G1) or ``"independent"`` (X̃ an independent copy, G2).
    ``mask="uniform"``: Algorithm 1 with ``p = 1/d`` (Lemma 4.5): ``(d - 1)||w*||² / s``.

    >>> round(gaussian_error([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], 1, 2), 6)  # μ_2² (9 - 3) = (π/4)·6
    4.712389
    """
    if not isinstance(mask, str) or not isinstance(x_tilde, str):
        raise ValueError(f"mask and x_tilde must be strings, got mask={abridge(mask)}, x_tilde={abridge(x_tilde)}")
    w0a = _as_float_vector("w0", w0)
    wsa = _as_float_vector("w_star", w_star)
    if w0a.shape != wsa.shape:
        raise ValueError(f"shape mismatch: w0 has length {w0a.shape[0]}, w_star {wsa.shape[0]}")
    s = check_size(s)
    n = _check_n(n)
    if mask == "uniform":
        return float((w0a.shape[0] - 1) * np.sum(wsa**2) / s)
    if mask != "optimal":
        raise ValueError(f"mask must be 'optimal' or 'uniform', got {mask!r}")
    if x_tilde == "same":
        factor = chi_mean(n) ** 2
    elif x_tilde == "independent":
        factor = nu(n)
    else:
        raise ValueError(f"x_tilde must be 'same' or 'independent', got {x_tilde!r}")
    nz = wsa != 0
    if np.any(nz & (w0a == 0)):
        raise ValueError("w0 has a zero where w_star does not: p0 never draws it, the error is infinite")
    a = np.abs(w0a)
    l1 = a.sum()
    terms = np.sum(wsa[nz] ** 2 * (l1 - a[nz]) / a[nz])
    # no other non-zero weight (e.g. d = 1): m ≡ 1, the error is 0 whatever the factor (ν_1 = ∞)
    return 0.0 if terms == 0 else float(factor * terms / s)


@_scale_safe(X=2, w=2)
def mask_error(X, w, m) -> float:
    """Error of one fixed mask: ``||Xᵀw - Xᵀ(w ⊙ m)||² = ||Xᵀ(w ⊙ (1 - m))||²`` (eq. 1)."""
    Xa, wa = check_matrix_vector(X, w)
    ma = _as_float_vector("m", m)
    if ma.shape != wa.shape:
        raise ValueError(f"shape mismatch: m has length {ma.shape[0]}, w has {wa.shape[0]}")
    return float(np.sum((Xa.T @ (wa * (1.0 - ma))) ** 2))


@_scale_safe(X=2, w=2)
def moment_error(X, w, mean_m, second_m) -> float:
    """Exact expected error of any random mask from its first two moments.

    ``E||Xᵀ(w ⊙ (1 - m))||² = Σ_{k,l} G_kl w_k w_l E[(1 - m_k)(1 - m_l)]`` with ``G = X Xᵀ`` and
    ``E[(1-m_k)(1-m_l)] = 1 - E m_k - E m_l + E[m_k m_l]``. Cost O(d²): for small ``d``.
    ``second_m - mean_m mean_mᵀ`` must be a covariance (symmetric, positive semi-definite).
    """
    _M2, _mu = as_real_array("second_m", second_m, ndim=2), _as_float_vector("mean_m", mean_m)
    if _M2.shape == (_mu.shape[0],) * 2:
        _t = max(1.0, float(np.abs(_mu).max()), float(np.sqrt(np.abs(_M2).max())))
        _C = _M2 / _t / _t - np.outer(_mu / _t, _mu / _t)
        if np.abs(_C - _C.T).max() > 1e-9 or np.linalg.eigvalsh((_C + _C.T) / 2).min() < -1e-9 * _mu.shape[0]:
            raise ValueError(f"second_m - mean_m mean_mᵀ must be a symmetric positive semi-definite covariance; "
                             f"got second_m = {abridge(_M2, 60)}, mean_m = {abridge(_mu, 40)}")
    Xa, wa = check_matrix_vector(X, w)
    mu = _as_float_vector("mean_m", mean_m)
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
    """
    if not isinstance(weighted, (bool, np.bool_)):
        raise ValueError(f"weighted must be True or False, got {abridge(weighted)}")
    Xa, wa = check_matrix_vector(X, w)
    pia = _as_float_vector("pi", pi)
    if pia.shape != wa.shape or np.any((pia < 0) | (pia > 1)):
        raise ValueError("pi must have length d with entries in [0, 1]")
    r2w2 = row_norms(Xa) ** 2 * wa**2
    if weighted:
        nz = r2w2 > 0
        if np.any(nz & (pia == 0)):
            raise ValueError("pi_k = 0 where ||X_(k)|| w_k ≠ 0: the Horvitz–Thompson error is infinite")
        return float(np.sum(r2w2[nz] * (1.0 / pia[nz] - 1.0)))
    return float(np.sum((Xa.T @ (wa * (1 - pia))) ** 2) + np.sum(r2w2 * pia * (1 - pia)))


# -------------------------------------------------------------------------------------------------
# §5: the score computations of the linear model (SynFlow, SNIP) — checked against eq. (2)
# -------------------------------------------------------------------------------------------------
def _complex_step_grad(f, x: np.ndarray, h: float = 1e-30) -> np.ndarray:
    """Gradient of an analytic function by complex-step differentiation (exact to rounding)."""
    d = x.shape[0]
    Z = x[None, :] + 1j * h * np.eye(d)
    return np.array([f(z) for z in Z]).imag / h


@_scale_safe(X=1, w=1)
def synflow_linear_scores(X, w) -> np.ndarray:
    """§5.1 / eq. (4): SynFlow on the linear model ``f(x; θ) = θᵀx`` with θ = |w| and input
    ``x_i = ||X_(i)||``: ``R(θ) = 1ᵀ f(x; θ)``, score ``(∂R/∂θ) ⊙ θ``; the gradient is taken by
    complex-step differentiation of ``R``, not from the closed form."""
    Xa, wa = check_matrix_vector(X, w)
    x = row_norms(Xa)
    theta = np.abs(wa)
    return _complex_step_grad(lambda th: np.sum(th @ x), theta) * theta


def snip_linear_scores(X, w, y) -> np.ndarray:
    """§5.2: SNIP saliency with ℓ1 loss, ``g_j = (1/n)|∂ Σ_i |x_iᵀ(w ⊙ m) - y_i| / ∂m_j|`` at m = 1.

    ``∂|u_i|/∂m_j = sign(u_i) ∂u_i/∂m_j``; the inner derivative is taken by complex-step
    differentiation of ``u(m) = Xᵀ(w ⊙ m) - y`` for each ``j``."""
    Xa, wa = check_matrix_vector(X, w)
    ya = _as_float_vector("y", y)
    n = Xa.shape[1]
    if ya.shape[0] != n:
        raise ValueError(f"shape mismatch: y has length {ya.shape[0]} but X has n={n} columns")
    h = 1e-30
    u0 = Xa.T @ wa - ya
    Z = np.ones((wa.shape[0], wa.shape[0])) + 1j * h * np.eye(wa.shape[0])  # row j: m = 1 + i h e_j
    J = ((Z * wa) @ Xa - ya).imag / h  # J[j, i] = ∂u_i/∂m_j
    return np.abs(J @ np.sign(u0)) / n


# -------------------------------------------------------------------------------------------------
# Corrected statements (validation/ERRATA.md): what Lemma 4.2 and Theorem 4.4 should say
# -------------------------------------------------------------------------------------------------
@_scale_safe(w0=2)
def lemma_4_2_exact(w0, s, n) -> float:
    """Lemma 4.2, corrected (exact): ``E_X E_m ||Xᵀw0 − Xᵀ(w0 ⊙ m)||² = μ_n² (||w0||₁² − ||w0||²) / s``
    for ``X ~ N(0, I/n)`` and Algorithm 1 with eq. (2) of ``(X, w0)`` (formula G1 with ``w* = w0``)."""
    wa = _as_float_vector("w0", w0)
    s = check_size(s)
    n = _check_n(n)
    return float(chi_mean(n) ** 2 * (np.sum(np.abs(wa)) ** 2 - np.sum(wa**2)) / s)


@_scale_safe(w0=2)
def lemma_4_2_corrected_bound(w0, s) -> float:
    """Lemma 4.2, corrected bound: ``||w0||₁² / s`` (valid because ``μ_n² <= 1``; tight as ``n → ∞``
    and ``||w0||² << ||w0||₁²``)."""
    wa = _as_float_vector("w0", w0)
    s = check_size(s)
    return float(np.sum(np.abs(wa)) ** 2 / s)


def gaussian_error_or_inf(w0, w_star, s, n, *, mask: str = "optimal", x_tilde: str = "same") -> float:
    """:func:`gaussian_error`, or ``+inf`` where that expectation diverges instead of raising: ``X̃``
    independent of ``X`` and ``n = 1`` (``E[1/χ_1] = ∞``), with some ``w*_k ≠ 0`` next to another
    non-zero ``w0_j``."""
    if mask == "optimal" and x_tilde == "independent" and _check_n(n) == 1:
        a = np.abs(_as_float_vector("w0", w0))
        ws = _as_float_vector("w_star", w_star)
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
    n = _check_n(n)
    return float(nu(n) * theorem_4_4_bound(w0, w_star, s))


# -------------------------------------------------------------------------------------------------
# The bridge: expected Lemma 4.3 error when w* = c w0 + ε (validation/bridge.md)
# -------------------------------------------------------------------------------------------------
from .probabilities import _noisy_pair, _pow2_exponent, check_probabilities  # noqa: E402

__all__ += ["expected_algorithm1_error", "variance_aware_minimum_error"]

def _noisy_parts(X, w0, c, sigma):
    """``(r, a, b, shift)``: row norms of ``X 2^-F``, ``c w0 = a 2^E``, ``σ = b 2^E``, ``shift = 2E + 2F``
    (every closed form below is homogeneous of degree 2 in ``X`` and in ``(c w0, σ)`` jointly)."""
    Xa, wa = check_matrix_vector(X, w0, w_name="w0")
    a, b, E = _noisy_pair(wa, c, sigma)
    F = _pow2_exponent(float(np.max(np.abs(Xa))))
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
    pa = _as_float_vector("p", p)
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
