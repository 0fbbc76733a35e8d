"""Exact expectations of the pruning error over Gaussian data ``X ~ N(0, I/n)`` (beyond the paper).

Notation as in :mod:`sketchbound.theory` (paper §3): ``X`` is ``d x n``, ``w0`` builds the mask, ``w_star``
receives it, ``s`` draws of Algorithm 1. :mod:`sketchbound.theory` re-exports every public name.

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

from .probabilities import abridge, as_float_vector, pow2_exponent
from .sampling import check_positive_int, check_size

__all__ = ["MAX_N", "chi_mean", "inv_chi_mean", "nu", "gaussian_error"]


#: the largest ``n`` of the Gaussian closed forms (``n / 2`` must be a finite float64)
MAX_N = 1 << 1000


def check_n(n) -> int:
    """``n`` (the number of columns of ``X``) as an int in ``[1, MAX_N]``, else ``ValueError`` naming it."""
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
    n = check_n(n)
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
    n = check_n(n)
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
    n = check_n(n)
    if n == 1:
        return float("inf")
    return max(1.0, float(np.exp(2.0 * _log_chi_mean(n) + np.log1p(1.0 / (n - 1)))))


def chi_mean_squared(n: int) -> float:
    """``μ_n²`` with one rounding (for the G1 forms)."""
    return float(np.exp(2.0 * _log_chi_mean(n)))


def gaussian_error(w0, w_star, s, n, *, mask: str = "optimal", x_tilde: str = "same") -> float:
    """Exact ``E_X E_m ||Xᵀw* - Xᵀ(w* ⊙ m)||²`` for ``X ~ N(0, I/n)`` (formulas G1, G2 of the module doc).

    Parameters
    ----------
    w0 : array_like, shape (d,)
        The weights that build the mask (``p0`` of eq. (2)).
    w_star : array_like, shape (d,)
        The weights the mask is applied to.
    s : int
        The number of draws of Algorithm 1.
    n : int
        The number of columns of ``X`` (``1 <= n <= MAX_N``).
    mask : {"optimal", "uniform"}, optional
        ``"optimal"``: Algorithm 1 with ``p0`` of ``(X̃, w0)``; ``"uniform"``: ``p = 1/d`` (Lemma 4.5),
        whose error is ``(d - 1)||w*||² / s``.
    x_tilde : {"same", "independent"}, optional
        ``"same"``: ``X̃ = X``, the setting of Lemma 4.2 / Theorem 4.4 (G1); ``"independent"``: ``X̃`` an
        independent copy, data-free pruning (G2).

    Returns
    -------
    float
        The expected error; ``ValueError`` where it is infinite (``w0_k = 0 ≠ w*_k``).

    Examples
    --------
    >>> round(gaussian_error([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], 1, 2), 6)  # μ_2² (9 - 3) = (π/4)·6
    4.712389
    >>> gaussian_error([1.0, 1.0, 1.0], [1.0, 2.0, 2.0], 3, 2, mask="uniform")   # (3 - 1) · 9 / 3
    6.0
    """
    if not isinstance(mask, str) or not isinstance(x_tilde, str):
        raise ValueError(f"mask and x_tilde must be strings, got mask={abridge(mask)}, x_tilde={abridge(x_tilde)}")
    w0a = as_float_vector("w0", w0)
    wsa = as_float_vector("w_star", w_star)
    if w0a.shape != wsa.shape:
        raise ValueError(f"shape mismatch: w0 has length {w0a.shape[0]}, w_star {wsa.shape[0]}")
    s = check_size(s)
    n = check_n(n)
    if mask == "uniform":
        e = pow2_exponent(float(np.abs(wsa).max()))
        return _unscaled((w0a.shape[0] - 1) * np.sum(np.ldexp(wsa, -e) ** 2) / s, 2 * e,
                         f"w_star = {abridge(wsa, 40)}")
    if mask != "optimal":
        raise ValueError(f"mask must be 'optimal' or 'uniform', got {mask!r}")
    if x_tilde == "same":
        factor = chi_mean_squared(n)
    elif x_tilde == "independent":
        factor = nu(n)
    else:
        raise ValueError(f"x_tilde must be 'same' or 'independent', got {x_tilde!r}")
    nz = wsa != 0
    if np.any(nz & (w0a == 0)):
        raise ValueError("w0 has a zero where w_star does not: p0 never draws it, the error is infinite")
    return _g1_sum(np.abs(w0a), wsa, nz, factor / s)


def _others(a: np.ndarray) -> np.ndarray:
    """``Σ_{j≠k} a_j`` for each ``k`` (``a >= 0``) as a prefix plus a suffix sum: no ``||a||₁ - a_k``
    cancellation when ``a_k`` dominates."""
    pre = np.concatenate(([0.0], np.cumsum(a)[:-1]))
    suf = np.concatenate((np.cumsum(a[::-1])[::-1][1:], [0.0]))
    return pre + suf


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
