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

from .linear_scores import snip_linear_scores, synflow_linear_scores  # noqa: F401  (§5, re-exported)
from .probabilities import as_float_vector, pow2_exponent, abridge, as_real_array, check_matrix_vector, optimal_probabilities, row_norms
from .probabilities import scale_safe as _scale_safe
from .sampling import check_positive_int, check_size
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


def _others(a: np.ndarray) -> np.ndarray:
    """``Σ_{j≠k} a_j`` for each ``k`` (``a >= 0``) as a prefix plus a suffix sum: no ``||a||₁ - a_k``
    cancellation when ``a_k`` dominates."""
    pre = np.concatenate(([0.0], np.cumsum(a)[:-1]))
    suf = np.concatenate((np.cumsum(a[::-1])[::-1][1:], [0.0]))
    return pre + suf


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
    return float(np.sum(_excess_columns(Xa, wa, pa)) / s)


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
    return _excess_columns(Xa, wa, pa) / s


@_scale_safe(X=2, w0=2)
def lemma_4_1_value(X, w0, s) -> float:
    """Lemma 4.1 (Drineas et al. 2006, Lemma 4): with ``p = p0`` (eq. 2),
    ``E_m ||Xᵀw0 - Xᵀ(w0 ⊙ m)||² = (1/s)(Σ_k ||X_(k)|| |w0_k|)² - (1/s)||Xᵀw0||²``."""
    Xa, wa = check_matrix_vector(X, w0, w_name="w0")
    s = check_size(s)
    try:
        p0 = optimal_probabilities(Xa, wa)
    except ValueError:  # ||X_(k)|| |w0_k| = 0 for every k: no error at all
        return 0.0
    return float(np.sum(_excess_columns(Xa, wa, p0)) / s)


@_scale_safe(w0=2)
def lemma_4_2_bound(w0, s) -> float:
    """Lemma 4.2's right-hand side ``||w0||² / s`` (claimed bound on ``E_X E_m`` error, X ~ N(0, I/n)).

    Note: the exact left side is ``μ_n² (||w0||₁² - ||w0||²) / s`` (:func:`gaussian_error`); the proof's
    step ``(Σ_k a_k)² ≤ Σ_k a_k²`` goes the wrong way. The validator measures which one holds.
    """
    wa = as_float_vector("w0", w0)
    s = check_size(s)
    return float(np.sum(wa**2) / s)


@_scale_safe(X=2, X_tilde=0, w0=0, w_star=2)
def lemma_4_3_exact(X, X_tilde, w0, w_star, s) -> float:
    """Lemma 4.3, equality line: the exact error when the mask is drawn with ``p0`` of ``(X̃, w0)``
    and applied to ``(X, w*)``: ``(1/s) Σ_k ||X_(k)||² w*_k² / p0_k - (1/s)||Xᵀw*||²``, computed as a
    sum of non-negative terms (no cancellation)."""
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
        raise ValueError(f"||X_tilde[{k}]|| |w0[{k}]| = 0 while ||X[{k}]|| |w_star[{k}]| ≠ 0: Lemma 4.3's "
                             f"bound is infinite")
    return float(a.sum() * np.sum(num[nz] / a[nz]) / s)


def ratio_c(w0, w_star) -> float:
    """``c = max_j |w*_j / w0_j|`` (Theorem 4.4, Lemma 4.5); ``inf`` if some ``w0_j = 0 ≠ w*_j``.
    ``ValueError`` if a ratio of non-zeros exceeds float64 (e.g. ``1e300 / 1e-300``)."""
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
    """Theorem 4.4's right-hand side ``c² ||w0||₁² / s`` with ``c = max_j |w*_j / w0_j|``."""
    s = check_size(s)
    c = ratio_c(w0, w_star)
    if not np.isfinite(c):
        raise ValueError("w0 has a zero where w_star does not: c = max|w*_j / w0_j| is infinite")
    return float(c**2 * np.sum(np.abs(as_float_vector("w0", w0))) ** 2 / s)


@_scale_safe(w_star=2)
def lemma_4_5_bound(w_star, s) -> float:
    """Lemma 4.5's first bound ``(d/s) ||w*||²`` for the uniform mask (Algorithm 1 with ``p = 1/d``)."""
    ws = as_float_vector("w_star", w_star)
    s = check_size(s)
    return float(ws.shape[0] * np.sum(ws**2) / s)


@_scale_safe(w0=0, w_star=2)
def lemma_4_5_bound_c(w0, w_star, s) -> float:
    """Lemma 4.5's second bound ``(d c² / s) ||w0||²`` (``ValueError`` when ``c`` is infinite, as in
    :func:`theorem_4_4_bound`)."""
    if not np.isfinite(ratio_c(w0, w_star)):
        raise ValueError("w0 has a zero where w_star does not: c = max|w*_j / w0_j| is infinite")
    w0a = as_float_vector("w0", w0)
    s = check_size(s)
    c = ratio_c(w0a, w_star)
    return float(w0a.shape[0] * c**2 * np.sum(w0a**2) / s)


#: the largest ``n`` of the Gaussian closed forms (``n / 2`` must be a finite float64)
MAX_N = 1 << 1000


def _check_n(n) -> int:
    return check_positive_int(n, name="n", limit=MAX_N, limit_text="2**1000")


#: Bernoulli numbers ``B_2, B_4, ..., B_16`` for the asymptotic series of :func:`_log_chi_mean`
_BERNOULLI_EVEN = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
#: ``ln(Γ(x + ½) / (Γ(x) √x)) = Σ_{k odd} _LOG_RATIO[k] / x^k`` (Stirling's series of ``ln Γ(x + a)``
#: with Bernoulli polynomials: ``B_{k+1}(½) - B_{k+1}(0) = -(2 - 2^-k) B_{k+1}``); first term ``-1/(8x)``
_LOG_RATIO = tuple(-(2.0 - 2.0 ** -k) * b / (k * (k + 1)) for k, b in zip(range(1, 16, 2), _BERNOULLI_EVEN))
#: the series is summed at ``x >= _SERIES_X``; below, ``x`` is shifted up by Γ's recurrence first
_SERIES_X = 20.0


def _log_chi_mean(n: int) -> float:
    """``ln μ_n = ln(√(2/n) Γ((n+1)/2) / Γ(n/2))``, accurate to a few ulp of 1 for every ``n >= 1``.

    With ``x = n/2``, ``ln μ_n = ln(Γ(x + ½) / (Γ(x) √x))``: an asymptotic series in odd powers of
    ``1/x`` (truncation error below ``1e-20`` for ``x >= 20``); smaller ``x`` is first moved to
    ``x + K >= 20`` with ``Γ(y + ½)/Γ(y) = Γ(y + 3/2)/Γ(y + 1) · y/(y + ½)``. No ``Γ`` or ``ln Γ`` of
    a large argument is formed, so nothing cancels: ``μ_n`` stays right to ``1e-15`` relative at
    ``n = 2**53`` and beyond (where ``exp(ln Γ - ln Γ)`` loses every digit).
    """
    x = n / 2.0
    shift = 0.0
    if x < _SERIES_X:
        k = int(np.ceil(_SERIES_X - x))
        # ln R(x) = ln R(x + k) + Σ_j ln((x + j) / (x + j + ½)); ln √x = ln √(x + k) - ½ ln(1 + k/x)
        shift = sum(np.log1p(-0.5 / (x + j + 0.5)) for j in range(k)) + 0.5 * np.log1p(k / x)
        x += k
    inv, total = 1.0 / x, 0.0
    for c in reversed(_LOG_RATIO):  # Horner in 1/x² on the odd powers
        total = total * inv * inv + c
    return float(total * inv + shift)


def chi_mean(n) -> float:
    """``μ_n = E||X_(k)||`` for ``X ~ N(0, I/n)``: ``√(2/n) Γ((n+1)/2) / Γ(n/2)`` (proof of Thm 4.4).

    Parameters
    ----------
    n : int
        Number of columns of ``X`` (``1 <= n <= 2**1000``).

    Returns
    -------
    float
        ``μ_n`` in ``(0, 1)``, right to ``1e-14`` relative for every ``n`` (series in ``1/n``, see
        :func:`_log_chi_mean`); ``μ_n = 1 - 1/(4n) + O(1/n²)``.

    Examples
    --------
    >>> round(chi_mean(2) ** 2, 12)   # Γ(3/2)² = π/4
    0.785398163397
    """
    n = _check_n(n)
    return float(np.exp(_log_chi_mean(n)))


def inv_chi_mean(n) -> float:
    """``E[1 / ||X_(k)||]`` for ``X ~ N(0, I/n)``: ``√(n/2) Γ((n-1)/2) / Γ(n/2)``; ``inf`` for ``n = 1``.

    Parameters
    ----------
    n : int
        Number of columns of ``X`` (``1 <= n <= 2**1000``).

    Returns
    -------
    float
        ``μ_n n / (n - 1)`` (``Γ((n+1)/2) = ((n-1)/2) Γ((n-1)/2)``), right to ``1e-14`` relative; ``> 1``.

    Examples
    --------
    >>> round(inv_chi_mean(2), 12)   # Γ(1/2) / Γ(1) = √π
    1.772453850906
    """
    n = _check_n(n)
    if n == 1:
        return float("inf")
    return float(np.exp(_log_chi_mean(n) + np.log1p(1.0 / (n - 1))))


def nu(n) -> float:
    """(G2) ``ν_n = E[χ_n] E[1/χ_n] = Γ((n+1)/2)Γ((n-1)/2)/Γ(n/2)² = μ_n² n / (n - 1)`` (``inf`` for ``n = 1``).

    Parameters
    ----------
    n : int
        Number of columns of ``X`` (``1 <= n <= 2**1000``).

    Returns
    -------
    float
        ``ν_n >= 1`` (Jensen), ``ν_n = 1 + 1/(2n) + O(1/n²)``; right to ``1e-14`` relative.

    Examples
    --------
    >>> round(nu(2), 12), round(nu(5) * 9 * np.pi / 32, 12)   # ν_2 = π/2, ν_5 = 32/(9π)
    (1.570796326795, 1.0)
    """
    n = _check_n(n)
    if n == 1:
        return float("inf")
    return max(1.0, float(np.exp(2.0 * _log_chi_mean(n) + np.log1p(1.0 / (n - 1)))))


def _chi_mean_sq(n: int) -> float:
    """``μ_n²`` with one rounding (for the G1 forms)."""
    return float(np.exp(2.0 * _log_chi_mean(n)))


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
    w0a = as_float_vector("w0", w0)
    wsa = as_float_vector("w_star", w_star)
    if w0a.shape != wsa.shape:
        raise ValueError(f"shape mismatch: w0 has length {w0a.shape[0]}, w_star {wsa.shape[0]}")
    s = check_size(s)
    n = _check_n(n)
    if mask == "uniform":
        e = pow2_exponent(float(np.abs(wsa).max()))
        return _unscaled((w0a.shape[0] - 1) * np.sum(np.ldexp(wsa, -e) ** 2) / s, 2 * e,
                         f"w_star = {abridge(wsa, 40)}")
    if mask != "optimal":
        raise ValueError(f"mask must be 'optimal' or 'uniform', got {mask!r}")
    if x_tilde == "same":
        factor = _chi_mean_sq(n)
    elif x_tilde == "independent":
        factor = nu(n)
    else:
        raise ValueError(f"x_tilde must be 'same' or 'independent', got {x_tilde!r}")
    nz = wsa != 0
    if np.any(nz & (w0a == 0)):
        raise ValueError("w0 has a zero where w_star does not: p0 never draws it, the error is infinite")
    return _g1_sum(np.abs(w0a), wsa, nz, factor / s)


def _g1_sum(a: np.ndarray, ws: np.ndarray, nz: np.ndarray, scale: float) -> float:
    """``scale · Σ_{k: nz} w*_k² (Σ_{j≠k} a_j) / a_k`` for any finite input (G1/G2): every factor is split
    into mantissa and power of two (``frexp``), so no product or quotient under- or overflows before the
    last step; ``ValueError`` when the sum itself exceeds float64."""
    if not nz.any():
        return 0.0
    # Σ a < 2^(e_max + bitlen(d)): scaled down (by 2^c) only where it would overflow, so subnormals stay
    c = max(0, pow2_exponent(float(a.max())) + int(a.shape[0]).bit_length() - 1023)
    others = _others(np.ldexp(a, -c))[nz]
    if not np.any(others > 0):
        return 0.0
    mw, ew = np.frexp(ws[nz])
    mo, eo = np.frexp(others)
    ma, ea = np.frexp(a[nz])
    mant = mw * mw * mo / ma  # in (0, 8): no under/overflow
    ex = 2 * ew.astype(np.int64) + eo + c - ea
    top = int(ex[mant > 0].max())
    total = float(np.sum(np.ldexp(mant, np.maximum(ex - top, -2000).astype(np.int32))))
    mt, et = np.frexp(total * scale)
    return _unscaled(mt, min(int(et) + top, 4000),
                     f"w0 = {abridge(a, 40)} (in absolute value), w_star = {abridge(ws, 40)}")


def _unscaled(value: float, e: int, inputs: str) -> float:
    """A Gaussian error summed at scale ``2^-e``, brought back: ``value · 2^e`` (exact, a power of two);
    ``ValueError`` naming ``inputs`` when that exceeds float64."""
    with np.errstate(over="ignore"):
        out = float(np.ldexp(value, e))
    if not np.isfinite(out):
        raise ValueError(f"the Gaussian error exceeds float64 for {inputs}")
    return out


@_scale_safe(X=2, w=2)
def mask_error(X, w, m) -> float:
    """Error of one fixed mask: ``||Xᵀw - Xᵀ(w ⊙ m)||² = ||Xᵀ(w ⊙ (1 - m))||²`` (eq. 1)."""
    Xa, wa = check_matrix_vector(X, w)
    ma = as_float_vector("m", m)
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


# -------------------------------------------------------------------------------------------------
# Corrected statements (validation/ERRATA.md): what Lemma 4.2 and Theorem 4.4 should say
# -------------------------------------------------------------------------------------------------
@_scale_safe(w0=2)
def lemma_4_2_exact(w0, s, n) -> float:
    """Lemma 4.2, corrected (exact): ``E_X E_m ||Xᵀw0 − Xᵀ(w0 ⊙ m)||² = μ_n² (||w0||₁² − ||w0||²) / s``
    for ``X ~ N(0, I/n)`` and Algorithm 1 with eq. (2) of ``(X, w0)`` (formula G1 with ``w* = w0``)."""
    wa = as_float_vector("w0", w0)
    s = check_size(s)
    n = _check_n(n)
    a = np.abs(wa)
    # ||w0||₁² - ||w0||² = 2 Σ_{j<k} |w0_j||w0_k|: non-negative terms, no cancellation
    pre = np.concatenate(([0.0], np.cumsum(a)[:-1]))
    return float(_chi_mean_sq(n) * 2.0 * np.dot(a, pre) / s)


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
    if mask == "optimal" and x_tilde == "independent" and _check_n(n) == 1:
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
    n = _check_n(n)
    return float(nu(n) * theorem_4_4_bound(w0, w_star, s))
