"""probabilities.py: eq. (2) and from_scores are scale-safe; every bad input is a one-line ValueError."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import sketchbound as sb
from sketchbound.probabilities import abridge, as_real_array, check_probabilities, row_norms


def test_eq2_huge_and_tiny_inputs_give_the_right_probabilities():
    """1e160 entries must not give NaN, nor squares of 1e-170 underflow to 0."""
    np.testing.assert_allclose(sb.optimal_probabilities(np.full((6, 3), 1e160), np.ones(6)), np.full(6, 1 / 6), rtol=1e-15)
    np.testing.assert_allclose(sb.optimal_probabilities(np.full((2, 3), 1e-170), [1e170, 2e170]), [1 / 3, 2 / 3], rtol=1e-15)
    # row 0: ||(1e308, 1e308)|| = sqrt(2) 1e308 overflows float64 by itself; p ∝ (sqrt(2) 1e308, 1e308)
    p = sb.optimal_probabilities(np.array([[1e308, 1e308], [1.0, 0.0]]), np.array([1.0, 1e308]))
    np.testing.assert_allclose(p, [np.sqrt(2) / (1 + np.sqrt(2)), 1 / (1 + np.sqrt(2))], rtol=1e-15)
    # subnormal rows keep their share instead of vanishing
    p = sb.optimal_probabilities(np.array([[5e-324], [1e-323]]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(p, [1 / 3, 2 / 3], rtol=1e-15)


def test_from_scores_huge_and_subnormal():
    np.testing.assert_array_equal(sb.from_scores([1e308, 1e308]), [0.5, 0.5])  # was [0, 0]
    np.testing.assert_allclose(sb.from_scores([1.7e308, 1.7e308, 1.7e308]), np.full(3, 1 / 3), rtol=1e-15)
    np.testing.assert_allclose(sb.from_scores([5e-324, 1e-323]), [1 / 3, 2 / 3], rtol=1e-15)


def test_row_norms_scale_safe():
    np.testing.assert_allclose(row_norms(np.full((2, 3), 1e-170)), np.full(2, np.sqrt(3) * 1e-170), rtol=1e-15)
    np.testing.assert_allclose(row_norms(np.full((1, 2), 1e200)), [np.sqrt(2) * 1e200], rtol=1e-15)
    with pytest.raises(ValueError, match="exceeds float64"):
        row_norms(np.full((1, 4), 1e308))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.5, 2.0), min_size=1, max_size=5), st.integers(-1070, 1020))
def test_from_scores_is_invariant_to_power_of_two_scaling(raw, k):
    a = np.array(raw)
    ref = sb.from_scores(a)
    np.testing.assert_allclose(sb.from_scores(np.ldexp(a, k)), ref, rtol=2e-16 * len(raw) if k > -1020 else 1e-12)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 3), st.data())
def test_eq2_matches_exact_rational_reference_at_any_scale(d, n, data):
    """p from eq. (2) of (2^a X, 2^b w) equals p of (X, w) to 1e-14, for exponents up to ±1000."""
    vals = st.floats(0.1, 10) | st.floats(-10, -0.1)
    X = np.array(data.draw(st.lists(vals, min_size=d * n, max_size=d * n))).reshape(d, n)
    w = np.array(data.draw(st.lists(vals, min_size=d, max_size=d)))
    a, b = data.draw(st.integers(-1000, 1000)), data.draw(st.integers(-1000, 1000))
    Xs, ws = np.ldexp(X, a), np.ldexp(w, b)
    if not (np.all(np.isfinite(Xs)) and np.all(Xs != 0) and np.all(np.isfinite(ws)) and np.all(ws != 0)):
        return
    ref = np.sqrt((X**2).sum(1)) * np.abs(w)
    np.testing.assert_allclose(sb.optimal_probabilities(Xs, ws), ref / ref.sum(), rtol=1e-14)


BAD = [
    (np.array([0.5 + 5j, 0.5]), "dtype complex128"),
    (np.array([0.5, None]), "dtype object"),
    (["0.5", "0.5"], "dtype <U3"),
    ([[0.5], [0.5, 1.0]], "got \\[\\[0.5\\], \\[0.5, 1.0\\]\\]"),
    ([], "must not be empty"),
    (0.5, "1-dimensional"),
    ([[0.5, 0.5]], "1-dimensional"),
    ([0.5, np.nan], "NaN"),
    ([0.5, np.inf], "NaN or inf"),
    (np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"), "dtype"),
]


@pytest.mark.parametrize("v,msg", BAD)
def test_bad_vectors_are_one_line_value_errors(v, msg):
    for f in (sb.from_scores, check_probabilities, lambda x: sb.algorithm1(x, 2, rng=0)):
        with pytest.raises(ValueError, match=msg) as e:
            f(v)
        assert "\n" not in str(e.value) and len(str(e.value)) < 400


@pytest.mark.parametrize("X,msg", [
    (np.ones((2, 2)) * (1 + 1j), "complex"),
    (np.ones((2, 0)), "must not be empty"),
    (np.ones(2), "2-D"),
    ([[1.0, np.nan], [1.0, 1.0]], "NaN"),
    ([["1", "2"], ["3", "4"]], "dtype"),
])
def test_bad_matrices(X, msg):
    with pytest.raises(ValueError, match=msg):
        sb.optimal_probabilities(X, [1.0, 1.0])


def test_inputs_are_not_modified_and_valid_dtypes_accepted():
    X = np.array([[3.0, 4.0], [1.0, 0.0]])
    w = np.array([1.0, -5.0])
    Xc, wc = X.copy(), w.copy()
    sb.optimal_probabilities(X, w)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(w, wc)
    np.testing.assert_array_equal(sb.from_scores(np.array([1, 3], dtype=np.int64)), [0.25, 0.75])
    np.testing.assert_array_equal(sb.from_scores(np.array([1, 3], dtype=np.float32)), [0.25, 0.75])
    np.testing.assert_array_equal(sb.from_scores([True, False]), [1.0, 0.0])


def test_uniform_probabilities_limits():
    for d in (0, -1, 2.0, "3", True, None, 10**12):
        with pytest.raises(ValueError, match="d must be an integer"):
            sb.uniform_probabilities(d)


def test_abridge_is_short_and_one_line():
    s = abridge(np.arange(10**6).reshape(1000, 1000))
    assert "\n" not in s and len(s) <= 80
    assert abridge("x" * 500).endswith("...")
    assert as_real_array("a", [1, 2]).dtype == np.float64


def test_from_scores_exact_against_fractions():
    a = np.array([1e300, 3.0, 1e-300, 7.5e-310])
    fr = [Fraction(float(x)) for x in a]
    ref = np.array([float(x / sum(fr)) for x in fr])
    np.testing.assert_allclose(sb.from_scores(a), ref, rtol=1e-15, atol=2.0**-1074)


@pytest.mark.parametrize("call", [
    lambda a: sb.algorithm1(a, 2, rng=0),
    lambda a: check_probabilities(a),
    lambda a: sb.from_scores(a),
    lambda a: sb.optimal_probabilities(np.eye(2), a),
    lambda a: sb.optimal_probabilities(np.ma.array(np.eye(2), mask=[[0, 1], [0, 0]]), [1.0, 1.0]),
    lambda a: sb.bernoulli(a, 1, rng=0),
    lambda a: sb.top_s(a, 1),
])
def test_masked_arrays_are_refused_not_silently_unmasked(call):
    """``np.asarray`` drops a masked array's mask: the one validation helper refuses them instead."""
    a = np.ma.array([0.5, 0.5], mask=[False, True])
    with pytest.raises(ValueError, match=r"not a numpy masked array .* masked entries") as e:
        call(a)
    assert "\n" not in str(e.value)
    from sketchbound import theory
    with pytest.raises(ValueError, match=r"^X must .*masked array"):
        theory.algorithm1_error(np.ma.array(np.eye(2)), [1.0, 1.0], [0.5, 0.5], 1)
