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
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

__all__ = ["Problem", "problems", "probability_vectors", "matrices", "weight_vectors", "wild_floats",
           "valid_arrays", "corrupted_arrays", "wild_sizes", "CORRUPTIONS"]

_F = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False)


@dataclass(frozen=True)
class Problem:
    """One linear-features pruning problem (paper §3).

    Parameters
    ----------
    X : numpy.ndarray, shape (d, n)
        The data the mask is applied to (rows are features).
    X_tilde : numpy.ndarray, shape (d, n)
        The data the mask is found with (eq. (2) of ``(X̃, w0)``).
    w0, w_star : numpy.ndarray, shape (d,)
        The weights at initialisation and after training.
    p : numpy.ndarray, shape (d,)
        A probability vector.
    s : int
        The number of draws of Algorithm 1.

    Examples
    --------
    >>> Problem(X=np.eye(2), X_tilde=np.eye(2), w0=np.ones(2), w_star=np.ones(2), p=np.full(2, 0.5), s=1).d
    2
    """

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
    """A strategy for a ``d x n`` matrix with entries in [-10, 10] and every row norm ``>= min_row_norm``.

    Parameters
    ----------
    d, n : int
        The shape.
    min_row_norm : float, optional
        The smallest row norm (eq. (2) then puts mass on every index).

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of float64 arrays of shape ``(d, n)``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    ... @given(matrices(2, 3))
    ... def check(X):
    ...     assert X.shape == (2, 3) and (np.linalg.norm(X, axis=1) >= 0.1).all()
    >>> check()
    """
    vals = draw(st.lists(st.floats(-10, 10, **_F), min_size=d * n, max_size=d * n))
    X = np.array(vals, dtype=np.float64).reshape(d, n)
    first = X[:, 0]
    X[:, 0] = np.where(np.abs(first) < min_row_norm, np.copysign(min_row_norm, first + 0.0), first)
    return X


@st.composite
def weight_vectors(draw, d: int, *, min_abs: float = 1e-2) -> np.ndarray:
    """A strategy for weights with ``min_abs <= |w_i| <= 10`` (Theorem 4.4 assumes ``w0_i ≠ 0``).

    Parameters
    ----------
    d : int
        The length.
    min_abs : float, optional
        The smallest magnitude.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of float64 vectors of length ``d``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    ... @given(weight_vectors(3))
    ... def check(w):
    ...     assert w.shape == (3,) and ((1e-2 <= np.abs(w)) & (np.abs(w) <= 10)).all()
    >>> check()
    """
    mags = draw(st.lists(st.floats(min_abs, 10, **_F), min_size=d, max_size=d))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d))
    return np.array(mags) * np.array(signs)


@st.composite
def probability_vectors(draw, d: int, *, min_weight: float = 1e-3) -> np.ndarray:
    """A strategy for a strictly positive probability vector of length ``d``.

    Parameters
    ----------
    d : int
        The length.
    min_weight : float, optional
        The smallest weight before normalising (each in ``[min_weight, 1]``).

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of float64 vectors summing to 1.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    ... @given(probability_vectors(4))
    ... def check(p):
    ...     assert (p > 0).all() and abs(p.sum() - 1) < 1e-12
    >>> check()
    """
    raw = np.array(draw(st.lists(st.floats(min_weight, 1.0, **_F), min_size=d, max_size=d)))
    return raw / raw.sum()


@st.composite
def problems(draw, max_d: int = 4, max_n: int = 3, max_s: int = 4, min_d: int = 1) -> Problem:
    """A strategy for a random :class:`Problem` small enough for exact enumeration (``C(s+d-1, s)`` outcomes).

    Parameters
    ----------
    max_d, max_n, max_s : int, optional
        The largest ``d``, ``n`` and ``s``.
    min_d : int, optional
        The smallest ``d``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of :class:`Problem`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    ... @given(problems(max_d=3, max_s=2))
    ... def check(prob):
    ...     assert prob.X.shape[0] == prob.d <= 3 and 1 <= prob.s <= 2 and abs(prob.p.sum() - 1) < 1e-12
    >>> check()
    """
    d = draw(st.integers(min_d, max_d))
    n = draw(st.integers(1, max_n))
    s = draw(st.integers(1, max_s))
    X = draw(matrices(d, n))
    Xt = draw(matrices(d, n))
    w0 = draw(weight_vectors(d))
    ratios = np.array(draw(st.lists(st.floats(-3, 3, **_F), min_size=d, max_size=d)))
    p = draw(probability_vectors(d))
    return Problem(X=X, X_tilde=Xt, w0=w0, w_star=w0 * ratios, p=p, s=s)


# ---- wild inputs for fuzzing a numeric API -------------------------------------------------------------
#: float64 values that break naive code: the extremes, subnormals, signed zero
SPECIAL = [0.0, -0.0, 1e308, -1e308, 1.7976931348623157e308, 1e-300, 5e-324, 2.2250738585072014e-308, 1e160,
           1e-160, 1.0, -1.0]
#: any finite float64, with the extremes and subnormals over-represented
wild_floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(SPECIAL),
                        st.floats(-10, 10, allow_nan=False))


def _normalized(raw: np.ndarray) -> np.ndarray:
    raw = np.abs(raw)
    if raw.sum() == 0 or not np.isfinite(raw.sum()):
        raw = np.ones_like(raw)
    return raw / raw.sum()


@st.composite
def valid_arrays(draw, kind: str, shape: tuple[int, ...]):
    """A strategy for a valid float64 array of ``shape``, of one of four kinds.

    Parameters
    ----------
    kind : {"prob", "unit", "nonneg", "real"}
        A probability vector (zeros and tiny entries included), entries in [0, 1], non-negative or any
        real entries (:data:`wild_floats`).
    shape : tuple of int
        The array's shape.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of float64 arrays.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    ... @given(valid_arrays("unit", (3,)))
    ... def check(a):
    ...     assert a.shape == (3,) and ((0 <= a) & (a <= 1)).all()
    >>> check()
    """
    size = int(np.prod(shape))
    if kind == "prob":  # a probability vector (possibly with zeros, tiny entries)
        raw = np.array(draw(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1e-300, 5e-324, 1.0])),
                                     min_size=size, max_size=size)), dtype=float)
        return _normalized(raw).reshape(shape)
    if kind == "unit":  # entries in [0, 1]
        return np.array(draw(st.lists(st.floats(0, 1), min_size=size, max_size=size)), dtype=float).reshape(shape)
    if kind == "nonneg":
        return np.abs(np.array(draw(st.lists(wild_floats, min_size=size, max_size=size)), dtype=float)).reshape(shape)
    return np.array(draw(st.lists(wild_floats, min_size=size, max_size=size)), dtype=float).reshape(shape)


#: the ways :func:`corrupted_arrays` breaks an array
CORRUPTIONS = ["nan", "inf", "-inf", "complex", "object", "str", "empty", "rank+1", "rank-1", "ragged", "negative",
               "length", "float16", "longdouble", "int", "bool", "list", "scalar", "huge-sum"]


@st.composite
def corrupted_arrays(draw, kind: str, shape: tuple[int, ...]):
    """A strategy for a valid array of ``shape`` (7 times in 10) or one corrupted in one of
    :data:`CORRUPTIONS`.

    NaN/inf, complex, object, str, empty, wrong rank, ragged list, a negative entry, wrong length, float16,
    longdouble, int, bool, plain list, scalar, an entry of 1e308: what a fuzz test of a numeric API feeds it
    (``tests/test_fuzz_core.py``); the answer must be a one-line ``ValueError`` or a finite, correct result.

    Parameters
    ----------
    kind : {"prob", "unit", "nonneg", "real"}
        The kind of the valid array (:func:`valid_arrays`).
    shape : tuple of int
        Its shape.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Of arrays, lists or scalars.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True, database=None, deadline=None)
    ... @given(corrupted_arrays("prob", (3,)))
    ... def check(p):
    ...     assert isinstance(p, (np.ndarray, list, float))
    >>> check()
    """
    a = draw(valid_arrays(kind, shape))
    if draw(st.integers(0, 9)) < 7:
        return a
    c = draw(st.sampled_from(CORRUPTIONS))
    flat = a.ravel().copy()
    i = draw(st.integers(0, flat.size - 1))
    if c in ("nan", "inf", "-inf"):
        flat[i] = float(c)
        return flat.reshape(a.shape)
    if c == "complex":
        return (a + 1j * draw(st.sampled_from([0.0, 1.0, 5.0]))).astype(complex)
    if c == "object":
        o = a.astype(object)
        o.ravel()[i] = draw(st.sampled_from([None, "x", 2**70, Fraction(1, 3)]))
        return o
    if c == "str":
        return a.astype(str)
    if c == "empty":
        return np.empty((0,) * a.ndim)
    if c == "rank+1":
        return a[None, ...]
    if c == "rank-1":
        return a.ravel()[0] if a.ndim == 1 else a[0]
    if c == "ragged":
        return [list(a.ravel()), [1.0]]
    if c == "negative":
        flat[i] = -abs(flat[i]) - 0.5
        return flat.reshape(a.shape)
    if c == "length":
        return np.concatenate([a, a[:1]], axis=0)
    if c == "float16":
        with np.errstate(over="ignore"):
            return a.astype(np.float16)
    if c == "longdouble":
        ld = a.astype(np.longdouble)
        ld.ravel()[i] = np.longdouble(draw(st.sampled_from([1.0, 1e4000 if np.finfo(np.longdouble).max > 1e4000 else 1e308])))
        return ld
    if c == "int":
        return np.rint(np.clip(a, -1e6, 1e6)).astype(np.int64)
    if c == "bool":
        return a != 0
    if c == "list":
        return a.tolist()
    if c == "scalar":
        return float(flat[i])
    if c == "huge-sum":
        flat[i] = 1e308
        return flat.reshape(a.shape)
    raise AssertionError(c)


#: sizes (``s``, ``n``, ``d``, ``trials``): small valid integers or values that must be refused
wild_sizes = st.one_of(st.integers(1, 8), st.sampled_from(
    [0, -1, 2**53, 2**53 + 1, 2**63, 10**12, 1e300, float("nan"), float("inf"), 2.5, 3.0, "3", None, True,
     np.int64(4), np.float64(2.0), np.uint64(2**63), 1 + 0j]))
