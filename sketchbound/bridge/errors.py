"""Lemma 4.3's errors for ``k`` weight vectors that share one data matrix, one matrix product each.

The rungs evaluate thousands of masks on matrices of ``10⁷`` entries (``X`` of ``10240 x 1000`` for the
linear model's ten class columns; ``J(θ₀)ᵀ`` of ``69632 x 256`` for the NTK MLP). The one-vector closed
forms of :mod:`sketchbound.theory` check and rescale ``X`` on every call (four passes over it, ~0.3 s
each here); these are the same formulas for the ``k`` columns of ``W`` at once, with ``X``'s row norms
computed once. ``tests/test_bridge_rungs.py`` checks them column by column against
:func:`sketchbound.theory.expected_algorithm1_error` and :func:`sketchbound.theory.mask_error`.

* :func:`expected_alg1_errors`: ``(1/s)[Σ_k ||X_(k)||² (c² w⁰_k² + σ²)/q_k − ||Xᵀ(c w⁰)||² − Σ_k σ² ||X_(k)||²]``
  (Lemma 4.3's equality line averaged over Algorithm 1's draws and over ``ε`` in ``w* = c w⁰ + ε``);
  ``inf`` where some ``q_k = 0`` with ``||X_(k)||² E w*_k² > 0`` (the estimate never draws a needed index).
* :func:`mask_errors`: ``||Xᵀw − Xᵀ(w ⊙ m)||²`` of given masks (eq. (1)).
* :func:`fixed_mask_predictions`: ``E_ε`` of eq. (1) for fixed masks,
  ``||Xᵀ((c w⁰) ⊙ (1 − m))||² + Σ_k σ² ||X_(k)||² (1 − m_k)²``.

``c`` and ``σ`` are scalars or arrays broadcastable to ``W`` (one value per layer repeated over it).
Inputs are used as given (finite float64; the rungs build them), so no per-call validation pass.
"""
from __future__ import annotations

import numpy as np

__all__ = ["expected_alg1_errors", "mask_errors", "fixed_mask_predictions"]


def _cs(W: np.ndarray, c, sigma) -> tuple[np.ndarray, np.ndarray]:
    return np.broadcast_to(np.asarray(c, float), W.shape), np.broadcast_to(np.asarray(sigma, float), W.shape)


def expected_alg1_errors(X: np.ndarray, r2: np.ndarray, W0: np.ndarray, Q: np.ndarray, s: int, c, sigma) -> np.ndarray:
    """Per column ``j`` of ``W0``: the expected Algorithm 1 error with law ``Q[:, j]`` and ``s`` draws when
    ``w* = c w⁰ + ε`` (module docstring; Lemma 4.3, equality line).

    Parameters
    ----------
    X : numpy.ndarray, shape (d, n)
    r2 : numpy.ndarray, shape (d,)
        ``||X_(k)||²``.
    W0, Q : numpy.ndarray, shape (d, k)
        Initial weights and the laws (columns sum to 1).
    s : int
    c, sigma : float or array_like

    Returns
    -------
    numpy.ndarray, shape (k,)

    Examples
    --------
    >>> X = np.eye(2); W0 = np.ones((2, 1)); Q = np.full((2, 1), 0.5)
    >>> expected_alg1_errors(X, np.ones(2), W0, Q, 1, 1.0, 1.0).tolist()
    [4.0]
    """
    C, S = _cs(W0, c, sigma)
    need = r2[:, None] * ((C * W0) ** 2 + S**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(need > 0, need / Q, 0.0)
    first = terms.sum(axis=0)
    fit = np.sum((X.T @ (C * W0)) ** 2, axis=0) + np.sum(r2[:, None] * S**2, axis=0)
    out = (first - fit) / s
    return np.where(np.isinf(first), np.inf, np.maximum(out, 0.0))


def mask_errors(X: np.ndarray, W: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Per column: ``||Xᵀ(W_j ⊙ (1 − M_j))||²`` (eq. (1)).

    Parameters
    ----------
    X : numpy.ndarray, shape (d, n)
    W : numpy.ndarray, shape (d, k)
        The weights (one vector per column).
    M : numpy.ndarray, shape (d, k)
        The masks (0/1, or Algorithm 1's weights ``1/(s q)``).

    Returns
    -------
    numpy.ndarray, shape (k,)

    Examples
    --------
    >>> mask_errors(np.eye(2), np.array([[1.0], [2.0]]), np.array([[1.0], [0.0]])).tolist()
    [4.0]
    """
    return np.sum((X.T @ (W * (1.0 - M))) ** 2, axis=0)


def fixed_mask_predictions(X: np.ndarray, r2: np.ndarray, W0: np.ndarray, M: np.ndarray, c, sigma) -> np.ndarray:
    """Per column: ``E_ε`` of eq. (1) for the fixed mask ``M_j`` when ``w* = c w⁰ + ε`` (module docstring).

    Parameters
    ----------
    X : numpy.ndarray, shape (d, n)
    r2 : numpy.ndarray, shape (d,)
        ``||X_(k)||²``.
    W0, M : numpy.ndarray, shape (d, k)
        Initial weights and the masks.
    c, sigma : float or array_like

    Returns
    -------
    numpy.ndarray, shape (k,)

    Examples
    --------
    >>> fixed_mask_predictions(np.eye(2), np.ones(2), np.array([[1.0], [2.0]]), np.array([[1.0], [0.0]]),
    ...                        1.0, 1.0).tolist()
    [5.0]
    """
    C, S = _cs(W0, c, sigma)
    U = 1.0 - M
    return mask_errors(X, C * W0, M) + np.sum(r2[:, None] * S**2 * U**2, axis=0)
