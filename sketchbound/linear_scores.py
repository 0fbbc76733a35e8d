"""§5: the score computations of the linear model (SynFlow, SNIP), checked against eq. (2).

The scores are computed as the methods define them (gradients by complex-step differentiation, not
from the closed form), with power-of-two scaling so that every score that is a float64 comes out right.
"""
from __future__ import annotations

import numpy as np

from .probabilities import as_float_vector, pow2_exponent, abridge, check_matrix_vector, row_norms

__all__ = ["synflow_linear_scores", "snip_linear_scores"]

#: complex-step size: a power of two, so ``imag / h`` is exact
_H = 2.0**-100


def _complex_step_grad(f, x: np.ndarray, h: float = _H) -> np.ndarray:
    """Gradient of an analytic function by complex-step differentiation (exact to rounding)."""
    d = x.shape[0]
    Z = x[None, :] + 1j * h * np.eye(d)
    return np.array([f(z) for z in Z]).imag / h


def _finite_scores(out: np.ndarray, what: str, **inputs) -> np.ndarray:
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what}: a score exceeds float64 for " + ", ".join(
            f"{k} = {abridge(v, 50)}" for k, v in inputs.items()))
    return out


def synflow_linear_scores(X, w) -> np.ndarray:
    """§5.1 / eq. (4): SynFlow on the linear model ``f(x; θ) = θᵀx`` with θ = |w| and input
    ``x_i = ||X_(i)||``: ``R(θ) = 1ᵀ f(x; θ)``, score ``(∂R/∂θ) ⊙ θ``; the gradient is taken by
    complex-step differentiation of ``R``, not from the closed form.

    Parameters
    ----------
    X : array_like, shape (d, n)
        Data (rows are features, paper §3).
    w : array_like, shape (d,)
        Weights.

    Returns
    -------
    numpy.ndarray
        ``θ_i ∂R/∂θ_i = |w_i| ||X_(i)||`` — eq. (2) before normalisation. The gradient is taken on
        ``x`` scaled by a power of two and multiplied by ``θ`` entry by entry, so every score that is a
        float64 is returned (``w = [1e300, 1e-300]`` gives ``[1e300, 1e-300]``); a score above float64
        is a ``ValueError``.

    Examples
    --------
    >>> synflow_linear_scores(np.eye(2), [3.0, -0.5])
    array([3. , 0.5])
    """
    Xa, wa = check_matrix_vector(X, w)
    x = row_norms(Xa)
    e = pow2_exponent(float(x.max()))
    theta = np.abs(wa)
    grad = np.ldexp(_complex_step_grad(lambda th: np.sum(th @ np.ldexp(x, -e)), theta), e)
    with np.errstate(over="ignore"):
        return _finite_scores(grad * theta, "synflow_linear_scores", X=Xa, w=wa)


def snip_linear_scores(X, w, y) -> np.ndarray:
    """§5.2: SNIP saliency with ℓ1 loss, ``g_j = (1/n)|∂ Σ_i |x_iᵀ(w ⊙ m) - y_i| / ∂m_j|`` at m = 1.

    ``∂|u_i|/∂m_j = sign(u_i) ∂u_i/∂m_j``; the inner derivative is taken by complex-step
    differentiation of ``u(m) = Xᵀ(w ⊙ m) - y`` for each ``j``.

    Parameters
    ----------
    X : array_like, shape (d, n)
        Data (rows are features).
    w : array_like, shape (d,)
        Weights.
    y : array_like, shape (n,)
        Targets.

    Returns
    -------
    numpy.ndarray
        ``g``, length ``d``. ``X``, ``w`` and ``y`` are scaled by powers of two first (``X`` by
        ``2^-a``, ``w`` by ``2^-b``, ``y`` by ``2^-(a+b)``: ``sign(u)`` is unchanged and ``g`` scales by
        ``2^-(a+b)``), so inputs near 1e308 give the true scores, not NaN; a score above float64 is a
        ``ValueError``.

    Examples
    --------
    >>> snip_linear_scores(np.ones((2, 1)), [2.0, -1.0], [0.0])   # u = 1 > 0: g = |w|
    array([2., 1.])
    """
    Xa, wa = check_matrix_vector(X, w)
    ya = as_float_vector("y", y)
    n = Xa.shape[1]
    if ya.shape[0] != n:
        raise ValueError(f"shape mismatch: y has length {ya.shape[0]} but X has n={n} columns")
    a, b = pow2_exponent(float(np.abs(Xa).max())), pow2_exponent(float(np.abs(wa).max()))
    Xs, ws = np.ldexp(Xa, -a), np.ldexp(wa, -b)
    with np.errstate(over="ignore", under="ignore"):
        ys = np.ldexp(ya, -(a + b))  # may overflow to ±inf only where |y| dwarfs Xᵀw: sign(u) stays right
        u0 = Xs.T @ ws - ys
    Z = np.ones((wa.shape[0], wa.shape[0])) + 1j * _H * np.eye(wa.shape[0])  # row j: m = 1 + i h e_j
    J = ((Z * ws) @ Xs).imag / _H  # J[j, i] = ∂u_i/∂m_j (y has no imaginary part)
    with np.errstate(over="ignore"):
        g = np.ldexp(np.abs(J @ np.sign(u0)) / n, a + b)
    return _finite_scores(g, "snip_linear_scores", X=Xa, w=wa, y=ya)
