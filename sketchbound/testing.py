"""Hypothesis strategies for property-testing samplers and closed forms (needs ``hypothesis``).

Users can check their own sampler the way the test-suite checks ours::

    from hypothesis import given
    from sketchbound.testing import problems
    from sketchbound import exact, theory

    @given(problems(max_d=4, max_s=3))
    def test_my_closed_form(prob):
        masks, probs = exact.outcomes_algorithm1(prob.p, prob.s)
        assert abs(exact.expected_error(prob.X, prob.w_star, masks, probs)
                   - theory.algorithm1_error(prob.X, prob.w_star, prob.p, prob.s)) < 1e-9 * ...

Values are bounded (``|x| <= 10``, ``|w0_i| >= 1e-2``, ``p_i >= 1e-3`` before normalising) so that the
closed forms stay well-conditioned; rows of ``X`` and ``X̃`` have norm ``>= 0.1`` so eq. (2) puts mass on
every index.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

__all__ = ["Problem", "problems", "probability_vectors", "matrices", "weight_vectors"]

_F = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False)


@dataclass(frozen=True)
class Problem:
    """One linear-features pruning problem (paper §3): data ``X`` (d x n), the data ``X̃`` the mask is
    found with, weights ``w0`` (initialisation) and ``w_star`` (after training), a probability vector
    ``p`` and a number of draws ``s``."""

    X: np.ndarray
    X_tilde: np.ndarray
    w0: np.ndarray
    w_star: np.ndarray
    p: np.ndarray
    s: int

    @property
    def d(self) -> int:
        return self.X.shape[0]


@st.composite
def matrices(draw, d: int, n: int, *, min_row_norm: float = 0.1) -> np.ndarray:
    """A ``d x n`` matrix with entries in [-10, 10] and every row norm ``>= min_row_norm``."""
    vals = draw(st.lists(st.floats(-10, 10, **_F), min_size=d * n, max_size=d * n))
    X = np.array(vals, dtype=np.float64).reshape(d, n)
    first = X[:, 0]
    X[:, 0] = np.where(np.abs(first) < min_row_norm, np.copysign(min_row_norm, first + 0.0), first)
    return X


@st.composite
def weight_vectors(draw, d: int, *, min_abs: float = 1e-2) -> np.ndarray:
    """Weights with ``min_abs <= |w_i| <= 10`` (Theorem 4.4 assumes ``w0_i ≠ 0``)."""
    mags = draw(st.lists(st.floats(min_abs, 10, **_F), min_size=d, max_size=d))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d))
    return np.array(mags) * np.array(signs)


@st.composite
def probability_vectors(draw, d: int, *, min_weight: float = 1e-3) -> np.ndarray:
    """A strictly positive probability vector of length ``d``."""
    raw = np.array(draw(st.lists(st.floats(min_weight, 1.0, **_F), min_size=d, max_size=d)))
    return raw / raw.sum()


@st.composite
def problems(draw, max_d: int = 4, max_n: int = 3, max_s: int = 4, min_d: int = 1) -> Problem:
    """A random :class:`Problem` small enough for exact enumeration (``C(s+d-1, s)`` outcomes)."""
    d = draw(st.integers(min_d, max_d))
    n = draw(st.integers(1, max_n))
    s = draw(st.integers(1, max_s))
    X = draw(matrices(d, n))
    Xt = draw(matrices(d, n))
    w0 = draw(weight_vectors(d))
    ratios = np.array(draw(st.lists(st.floats(-3, 3, **_F), min_size=d, max_size=d)))
    p = draw(probability_vectors(d))
    return Problem(X=X, X_tilde=Xt, w0=w0, w_star=w0 * ratios, p=p, s=s)
