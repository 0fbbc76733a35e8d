"""exact.py: validated inputs, guards that refuse before computing, no NaN/inf outcomes."""
import math

import numpy as np
import pytest

from sketchbound import exact


def test_guards_refuse_before_the_work():
    with pytest.raises(ValueError, match="decimal digits"):
        exact.n_outcomes(2**53, 2**53)
    with pytest.raises(ValueError, match="limit"):
        exact.outcomes_algorithm1([0.5, 0.5], 2**53)
    with pytest.raises(ValueError, match="array entries"):
        exact.outcomes_algorithm1([1.0], 10**9)  # one outcome, but a 1 x 10^9 array
    with pytest.raises(ValueError, match="limit"):
        exact.outcomes_successive(np.full(1000, 1e-3), 500)
    assert exact.n_outcomes(3, 2) == math.comb(4, 2)


def test_successive_with_a_tiny_last_probability_is_not_nan():
    """1 - used cancels to 0 after drawing the two halves: the remaining mass is summed exactly."""
    masks, probs = exact.outcomes_successive([0.5, 0.5, 1.5e-61], 3)
    assert masks.tolist() == [[1.0, 1.0, 1.0]] and probs.tolist() == [1.0]
    masks, probs = exact.outcomes_successive([0.5, 0.5, 1.5e-61], 2)
    np.testing.assert_allclose(probs, [1.0, 2.25e-61, 2.25e-61], rtol=1e-12)


def test_subnormal_probability_masks_overflow_is_an_error():
    with pytest.raises(ValueError, match="overflows float64"):
        exact.outcomes_algorithm1([1.0, 5e-324], 1)
    with pytest.raises(ValueError, match="overflows float64"):
        exact.outcomes_bernoulli([0.5, 1e-310])  # kept with probability 5e-311 > 0, mask 1e310
    masks, probs = exact.outcomes_bernoulli([0.5, 1e-310], weighted=False)
    assert np.all(np.isfinite(masks))


@pytest.mark.parametrize("call,msg", [
    (lambda: exact.outcomes_bernoulli([np.nan, 0.5]), "NaN"),
    (lambda: exact.outcomes_bernoulli([0.5 + 1j, 0.5]), "complex"),
    (lambda: exact.outcomes_bernoulli([0.5, 1.5]), r"\[0, 1\]"),
    (lambda: exact.outcomes_bernoulli([0.5], weighted="yes"), "weighted must be True or False"),
    (lambda: exact.expectation([[1.0], [2.0]], [0.5]), "shape mismatch"),
    (lambda: exact.expectation([1.0, np.nan], [0.5, 0.5]), "NaN"),
    (lambda: exact.expected_error(np.eye(2), [1.0, 1.0], np.ones((3, 2)), [0.5, 0.5]), "shape mismatch"),
    (lambda: exact.expected_error(np.eye(2), [1.0, 1.0], np.ones((1, 3)), [1.0]), "shape mismatch"),
    (lambda: exact.expected_error(np.eye(2), [1.0, np.inf], np.ones((1, 2)), [1.0]), "NaN or inf"),
    (lambda: exact.n_outcomes(0, 2), "d must be a positive integer"),
])
def test_bad_inputs(call, msg):
    with pytest.raises(ValueError, match=msg) as e:
        call()
    assert "\n" not in str(e.value)


def test_expectation_scale_safe():
    assert exact.expectation([1e300, 1e300], [1.0, 1.0]) == 2e300
    X = np.array([[1.0, -2.0], [0.5, 3.0]])
    w = np.array([1.5, -0.25])
    masks, probs = exact.outcomes_algorithm1([0.3, 0.7], 3)
    e1 = exact.expected_error(X, w, masks, probs)
    assert e1 > 0
    # (2^700 X, 2^-300 w): squares of X overflow, of w underflow; the error scales by 2^800 exactly
    e2 = exact.expected_error(np.ldexp(X, 700), np.ldexp(w, -300), masks, probs)
    assert e2 == np.ldexp(e1, 800)
