"""Closed forms of sketchbound.theory against exact enumeration and against each other.

Property (for arbitrary X, w0, w*, p and small d, s): the closed form equals the finite sum over all
outcomes, to 1e-9 relative to the size of the terms involved (the form is a difference of sums, so the
scale is the first sum, not the possibly tiny difference).
"""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from scipy import integrate, stats

import sketchbound as sb
from sketchbound import exact, theory
from sketchbound.testing import Problem, problems

REL = 1e-9


def _close(a, b, scale):
    assert abs(a - b) <= REL * max(abs(scale), abs(a), abs(b), 1e-300), (a, b, scale)


@settings(max_examples=60, deadline=None)
@given(problems(max_d=4, max_n=3, max_s=4))
def test_algorithm1_error_equals_enumeration(prob):
    """Lemma 4.3 equality / Σ_i Lemma B.2: E_m err = (1/s)Σ||X_k||²w_k²/p_k - (1/s)||Xᵀw||², any p."""
    X, w0, ws, p, s = prob.X, prob.w0, prob.w_star, prob.p, prob.s
    masks, probs = exact.outcomes_algorithm1(p, s)
    enum = exact.expected_error(X, ws, masks, probs)
    closed = theory.algorithm1_error(X, ws, p, s)
    scale = np.sum(sb.probabilities.row_norms(X) ** 2 * ws**2 / p) / s
    _close(closed, enum, scale)


@settings(max_examples=60, deadline=None)
@given(problems(max_d=4, max_n=3, max_s=4))
@example(Problem(X=np.array([[0.1, 0.0], [0.1, 1.0]]), X_tilde=np.array([[0.1, 0.0], [0.1, 0.0]]),
                 w0=np.array([-1.0, -1.0]), w_star=np.array([-0.0, -3.1900887887383987e-158]),
                 p=np.array([0.5, 0.5]), s=1))  # subnormal w*²: fails without the scale floor
def test_lemma_b1_b2_per_output_equal_enumeration(prob):
    X, ws, p, s = prob.X, prob.w_star, prob.p, prob.s
    masks, probs = exact.outcomes_algorithm1(p, s)
    out = (masks * ws) @ X  # (K, n) masked outputs
    mean = probs @ out
    var = probs @ (out - mean) ** 2
    # the scales get the floor 1e-300 that _close uses: below the smallest normal float (2.2e-308) numbers
    # are subnormal and carry fewer bits than REL asks for (hypothesis found w* = -3e-158: w*² ≈ 1e-315,
    # closed form and enumeration 1 subnormal ulp apart, a relative 5e-9)
    scale = max(np.abs(X.T @ ws).max() + np.abs(X).max() * np.abs(ws).sum(), 1e-300)
    np.testing.assert_allclose(mean, theory.lemma_b1_mean(X, ws), rtol=0, atol=REL * scale)
    v = theory.lemma_b2_variance(X, ws, p, s)
    vscale = max((X**2 * (ws**2 / p)[:, None]).sum(0).max() / s, 1e-300)
    np.testing.assert_allclose(var, v, rtol=0, atol=REL * vscale)


@settings(max_examples=60, deadline=None)
@given(problems(max_d=4, max_n=3, max_s=4))
def test_lemma_4_1_and_4_3_equalities_equal_enumeration(prob):
    X, Xt, w0, ws, s = prob.X, prob.X_tilde, prob.w0, prob.w_star, prob.s
    p0 = sb.optimal_probabilities(X, w0)
    masks, probs = exact.outcomes_algorithm1(p0, s)
    enum = exact.expected_error(X, w0, masks, probs)
    scale = np.sum(sb.probabilities.row_norms(X) * np.abs(w0)) ** 2 / s
    _close(theory.lemma_4_1_value(X, w0, s), enum, scale)
    # Lemma 4.3: mask from (X̃, w0), applied to (X, w*); the bound dominates the exact value
    p0t = sb.optimal_probabilities(Xt, w0)
    masks, probs = exact.outcomes_algorithm1(p0t, s)
    enum = exact.expected_error(X, ws, masks, probs)
    bound = theory.lemma_4_3_bound(X, Xt, w0, ws, s)
    _close(theory.lemma_4_3_exact(X, Xt, w0, ws, s), enum, bound)
    assert enum <= bound * (1 + REL)


@settings(max_examples=40, deadline=None)
@given(problems(max_d=4, max_n=3, max_s=3), st.sampled_from(["successive", "bernoulli_ht", "bernoulli_bin", "systematic_ht"]))
def test_other_sketch_errors_match_moment_formula(prob, kind):
    """Each sketch's enumerated error equals the general second-moment formula (theory.moment_error),
    and Bernoulli's equals its closed form."""
    X, ws, p, s = prob.X, prob.w_star, prob.p, min(prob.s, int(np.count_nonzero(prob.p)))
    if kind == "successive":
        masks, probs = exact.outcomes_successive(p, s)
    elif kind == "systematic_ht":
        masks, probs = exact.outcomes_systematic(p, s, weighted=True)
    else:
        pi = sb.inclusion_probabilities(p, s)
        masks, probs = exact.outcomes_bernoulli(pi, weighted=kind == "bernoulli_ht")
        closed = theory.bernoulli_error(X, ws, pi, weighted=kind == "bernoulli_ht")
        scale = np.sum(sb.probabilities.row_norms(X) ** 2 * ws**2 / np.where(pi > 0, pi, 1))
        _close(closed, exact.expected_error(X, ws, masks, probs), scale)
    mean = probs @ masks
    second = (masks * probs[:, None]).T @ masks
    scale = np.sum((np.abs(X) @ np.abs(X).T) * np.outer(np.abs(ws), np.abs(ws)) * (1 + np.abs(second)))
    _close(theory.moment_error(X, ws, mean, second), exact.expected_error(X, ws, masks, probs), scale)


def test_gaussian_moments_against_quadrature():
    """μ_n, E[1/r] and ν_n against numerical integration of the χ_n density (scaled by 1/√n)."""
    for n in (1, 2, 5, 128):
        dist = stats.chi(n, scale=1 / np.sqrt(n))
        mu = integrate.quad(lambda r: r * dist.pdf(r), 0, np.inf)[0]
        assert abs(theory.chi_mean(n) - mu) < 1e-8
        if n > 1:
            inv = integrate.quad(lambda r: dist.pdf(r) / r, 0, np.inf)[0]
            assert abs(theory.inv_chi_mean(n) - inv) < 1e-7
    assert theory.inv_chi_mean(1) == np.inf
    assert abs(theory.nu(2) - np.pi / 2) < 1e-12


@pytest.mark.parametrize("T", [pytest.param(40_000, marks=pytest.mark.slow), 6_000])
@pytest.mark.slow
def test_gaussian_error_against_monte_carlo_over_X(T):
    """(G1)/(G2): E_X of the exact conditional error, averaged over many X, matches the closed form.
    The conditional error given X is exact (Lemma 4.3 equality), so only X is sampled here."""
    rng = np.random.default_rng(0)
    d, n, s = 6, 3, 4
    w0 = rng.normal(size=d)
    ws = w0 * rng.uniform(-2, 2, size=d)
    for x_tilde in ("same", "independent"):
        vals = np.empty(T)
        for t in range(T):
            X = rng.normal(size=(d, n)) / np.sqrt(n)
            Xt = X if x_tilde == "same" else rng.normal(size=(d, n)) / np.sqrt(n)
            vals[t] = theory.lemma_4_3_exact(X, Xt, w0, ws, s)
        closed = theory.gaussian_error(w0, ws, s, n, x_tilde=x_tilde)
        se = vals.std(ddof=1) / np.sqrt(T)
        assert abs(vals.mean() - closed) < 4.5 * se, (x_tilde, vals.mean(), closed, se)
    # uniform mask: (d - 1)||w*||²/s
    vals = [theory.algorithm1_error(rng.normal(size=(d, n)) / np.sqrt(n), ws, sb.uniform_probabilities(d), s) for _ in range(T)]
    closed = theory.gaussian_error(w0, ws, s, n, mask="uniform")
    assert abs(np.mean(vals) - closed) < 4.5 * np.std(vals, ddof=1) / np.sqrt(T)


def test_bounds_values_and_errors():
    w0 = np.array([1.0, -2.0, 0.5])
    ws = np.array([2.0, -2.0, 0.0])
    assert theory.ratio_c(w0, ws) == 2.0
    assert theory.theorem_4_4_bound(w0, ws, 2) == pytest.approx(4 * 3.5**2 / 2)
    assert theory.lemma_4_2_bound(w0, 2) == pytest.approx(5.25 / 2)
    assert theory.lemma_4_5_bound(ws, 3) == pytest.approx(3 * 8 / 3)
    assert theory.lemma_4_5_bound_c(w0, ws, 3) == pytest.approx(3 * 4 * 5.25 / 3)
    with pytest.raises(ValueError, match="infinite"):
        theory.theorem_4_4_bound([0.0, 1.0], [1.0, 1.0], 1)
    X = np.eye(2)
    with pytest.raises(ValueError, match=r"p\[1\] = 0"):
        theory.algorithm1_error(X, [1.0, 1.0], [1.0, 0.0], 3)
    with pytest.raises(ValueError, match="shape mismatch"):
        theory.algorithm1_error(X, [1.0, 1.0, 1.0], [0.5, 0.5], 3)
    with pytest.raises(ValueError, match="s must be a positive integer"):
        theory.lemma_4_1_value(X, [1.0, 1.0], 0)
    with pytest.raises(ValueError, match="infinite"):
        theory.gaussian_error([0.0, 1.0], [1.0, 1.0], 1, 3)


# --- property tests stating each bound's relation to the exact expectation (hypothesis) -----------
_F = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1e-2, 10, **_F), min_size=1, max_size=40), st.data())
def test_gaussian_bounds_relations(mags, data):
    """For X ~ N(0, I/n), any w0 (no zeros), w* = w0 ⊙ r with |r| <= c:
    Thm 4.4: μ_n² Σ_k w*_k²(‖w0‖₁−|w0_k|)/|w0_k| / s <= c²‖w0‖₁²/s (holds since μ_n <= 1);
    Lemma 4.5: (d−1)‖w*‖²/s <= d‖w*‖²/s <= d c²‖w0‖²/s;
    Lemma 4.2: its bound holds iff μ_n²(‖w0‖₁² − ‖w0‖²) <= ‖w0‖² (false for d >= 3 equal weights)."""
    w0 = np.array(mags) * np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=len(mags), max_size=len(mags))))
    r = np.array(data.draw(st.lists(st.floats(-3, 3, **_F), min_size=len(mags), max_size=len(mags))))
    ws = w0 * r
    s = data.draw(st.integers(1, 50))
    n = data.draw(st.integers(1, 200))
    if np.any(ws != 0):
        assert theory.gaussian_error(w0, ws, s, n) <= theory.theorem_4_4_bound(w0, ws, s) * (1 + 1e-12)
    eu = theory.gaussian_error(w0, ws, s, n, mask="uniform")
    assert eu <= theory.lemma_4_5_bound(ws, s) * (1 + 1e-12)
    assert theory.lemma_4_5_bound(ws, s) <= theory.lemma_4_5_bound_c(w0, ws, s) * (1 + 1e-12)
    e42 = theory.gaussian_error(w0, w0, s, n)
    mu2 = theory.chi_mean(n) ** 2
    l1, l2 = np.abs(w0).sum() ** 2, np.sum(w0**2)
    assert (e42 <= theory.lemma_4_2_bound(w0, s) * (1 + 1e-12)) == (mu2 * (l1 - l2) <= l2 * (1 + 1e-12))


@settings(max_examples=40, deadline=None)
@given(problems(max_d=8, max_n=5, max_s=1))
def test_section5_identities(prob):
    """§5.1: SynFlow (complex-step gradient of R = 1ᵀf(‖X_(i)‖; |w|)) ∝ eq. (2); §5.2: SNIP with ℓ1
    loss on data with one non-zero per row ∝ eq. (2), for any labels y."""
    from sketchbound.montecarlo import snip_linear_scores, sparse_rows, synflow_linear_scores
    X, w = prob.X, prob.w0
    sf = synflow_linear_scores(X, w)
    np.testing.assert_allclose(sf / sf.sum(), sb.optimal_probabilities(X, w), rtol=1e-10, atol=1e-14)
    rng = np.random.default_rng(int(abs(X[0, 0]) * 1e6) % 2**32)
    Xs = sparse_rows(X.shape, rng)
    if np.all(np.abs(Xs).sum(1) > 1e-3):
        y = rng.standard_normal(X.shape[1]) * 10
        g = snip_linear_scores(Xs, w, y)
        np.testing.assert_allclose(g / g.sum(), sb.optimal_probabilities(Xs, w), rtol=1e-10, atol=1e-14)


# ---- input validation and scale safety ------------------------------------------------------------
def test_closed_forms_reject_nan_and_overflow_with_one_line_errors():
    for call in (lambda: theory.lemma_4_2_bound([np.nan, 1.0], 2),
                 lambda: theory.ratio_c([1.0, 1.0], [np.inf, 1.0]),
                 lambda: theory.algorithm1_error(np.eye(2), [1.0, np.nan], [0.5, 0.5], 1),
                 lambda: theory.lemma_4_2_bound(np.array([1 + 1j, 1.0]), 2)):
        with pytest.raises(ValueError, match="NaN or inf|complex") as e:
            call()
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="not a finite float64"):
        theory.lemma_4_2_bound([1e200, 1e200], 1)  # ||w0||² = 2e400
    with pytest.raises(ValueError, match="exceeds float64"):
        theory.ratio_c([1e-300, 1.0], [1e300, 1.0])
    assert theory.ratio_c([0.0, 1.0], [1.0, 1.0]) == np.inf  # documented
    with pytest.raises(ValueError, match="infinite"):
        theory.lemma_4_5_bound_c([0.0, 1.0], [1.0, 1.0], 2)  # was inf (and NaN for w0 = 0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        theory.moment_error(np.eye(2), [1.0, 1.0], [0.0, 0.0], [[0.0, 0.0], [0.0, -2.0]])


def test_closed_forms_scale_safe_exact_power_of_two():
    X = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.25]])
    w = np.array([1.5, -0.25, 0.75])
    p = sb.optimal_probabilities(X, w)
    e = theory.algorithm1_error(X, w, p, 3)
    # squares of 2^600 X overflow and of 2^-700 w underflow; the result is 2^(1200-1400) e exactly
    assert theory.algorithm1_error(np.ldexp(X, 600), np.ldexp(w, -700), p, 3) == np.ldexp(e, -200)
    assert theory.lemma_4_2_bound(np.ldexp(w, 500), 2) == np.ldexp(theory.lemma_4_2_bound(w, 2), 1000)  # squares overflow
    g = theory.gaussian_error(w, w * 0.5, 3, 4)
    assert theory.gaussian_error(np.ldexp(w, -1000), np.ldexp(w * 0.5, 500), 3, 4) == np.ldexp(g, 1000)


# ---- the extremes: χ moments for every n, cancellation-free forms, argument names -------------------
HUGE_N = [2**20, 2**30, 2**40, 2**53 - 1, 2**53, 2**53 + 1, 10**18, 2**200, 2**1000]


def _mp_moments(n):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(40 + len(str(n))):  # enough digits that ln Γ(n/2) keeps 30 after the point
        x = mpmath.mpf(n) / 2
        mu = mpmath.exp(mpmath.loggamma(x + mpmath.mpf(1) / 2) - mpmath.loggamma(x)) / mpmath.sqrt(x)
        inv = mpmath.sqrt(x) * mpmath.exp(mpmath.loggamma(x - mpmath.mpf(1) / 2) - mpmath.loggamma(x)) if n > 1 else None
        return mu, inv


@pytest.mark.parametrize("n", list(range(1, 60)) + [99, 100, 341, 1000, 12345] + HUGE_N)
def test_chi_moments_right_to_1e_12_for_every_n(n):
    """μ_n, E[1/r], ν_n against 40-digit mpmath (the old exp(ln Γ - ln Γ) gave μ_{2^53} = 1.5e-8)."""
    mu, inv = _mp_moments(n)
    assert abs(theory.chi_mean(n) / float(mu) - 1) < 1e-12
    if n > 1:
        assert abs(theory.inv_chi_mean(n) / float(inv) - 1) < 1e-12
        assert abs(theory.nu(n) / float(mu * inv) - 1) < 1e-12
        assert theory.nu(n) >= 1.0


def test_chi_moments_exact_values_and_recurrence():
    """Without mpmath: exact values, ν ≥ 1, the asymptotics, and μ_{n+2}/μ_n = (n+1)/√(n(n+2))
    (Γ(x+1) = xΓ(x)) across the switch between the shifted and the plain series."""
    assert theory.nu(2) == pytest.approx(np.pi / 2, rel=1e-15)
    assert theory.nu(5) == pytest.approx(32 / (9 * np.pi), rel=1e-15)
    assert theory.chi_mean(1) == pytest.approx(np.sqrt(2 / np.pi), rel=1e-15)
    assert theory.inv_chi_mean(2) == pytest.approx(np.sqrt(np.pi), rel=1e-15)
    for n in list(range(1, 120)) + [2**k + j for k in (20, 40, 52) for j in (0, 1)]:
        ratio = theory.chi_mean(n + 2) / theory.chi_mean(n)
        assert ratio == pytest.approx((n + 1) / np.sqrt(n * (n + 2.0)), rel=2e-15, abs=0)
    for n in HUGE_N:
        assert theory.chi_mean(n) == pytest.approx(1 - 1 / (4 * n), rel=1e-14)
        assert theory.inv_chi_mean(n) == pytest.approx(1 + 3 / (4 * n), rel=1e-14)
        assert theory.nu(n) >= 1.0 and theory.nu(n) == pytest.approx(1 + 1 / (2 * n), rel=1e-14)
    assert theory.chi_mean(2.0**60) == theory.chi_mean(2**60)  # integer-valued floats accepted
    with pytest.raises(ValueError, match=r"n must be a positive integer \(1 <= n <= 2\*\*1000\)"):
        theory.chi_mean(2**1001)


def test_gaussian_forms_follow_the_chi_moments_at_huge_n():
    n = 2**53
    mu2 = 1 - 1 / (2 * n)
    assert theory.lemma_4_2_exact([1.0, 2, 3], 1, n) == pytest.approx(22 * mu2, rel=1e-14)  # was 4.9e-15
    assert theory.gaussian_error([1.0, 2, 3], [1.0, 2, 3], 1, n) == pytest.approx(22 * mu2, rel=1e-14)
    nu = 1 + 1 / (2 * n)
    assert theory.theorem_4_4_datafree_exact([1.0, 2, 3], [1.0, 2, 3], 1, n) == pytest.approx(22 * nu, rel=1e-14)
    assert theory.theorem_4_4_datafree_bound([1.0, 2, 3], [1.0, 2, 3], 1, n) == pytest.approx(36 * nu, rel=1e-14)


def test_closed_forms_do_not_cancel():
    """‖w‖₁² − ‖w‖² and S² − ‖Xᵀw‖² are sums of non-negative terms: the true value, not 0."""
    assert theory.lemma_4_1_value(np.eye(2), [1e200, 1e100], 1) == pytest.approx(2e300, rel=1e-14)
    assert theory.lemma_4_1_value(np.eye(2), [1, 1e-20], 1) == pytest.approx(2e-20, rel=1e-14)
    mu2 = theory.chi_mean(3) ** 2
    assert theory.lemma_4_2_exact([1e200, 1e100], 1, 3) == pytest.approx(2e300 * mu2, rel=1e-14)
    assert theory.lemma_4_2_exact([1, 1e-20], 1, 3) == pytest.approx(2e-20 * mu2, rel=1e-14)
    assert theory.gaussian_error([1, 1e-20], [1, 1e-20], 1, 3) == pytest.approx(2e-20 * mu2, rel=1e-14)
    assert theory.theorem_4_4_datafree_exact([1, 1e-20], [1, 1e-20], 1, 3) == pytest.approx(2e-20 * theory.nu(3), rel=1e-14)
    # the same shape in Lemma 4.3 (X̃ = X, w* = w0 is Lemma 4.1), Algorithm 1 with any p, Lemma B.2
    assert theory.lemma_4_3_exact(np.eye(2), np.eye(2), [1e200, 1e100], [1e200, 1e100], 1) == pytest.approx(2e300, rel=1e-14)
    p = sb.optimal_probabilities(np.eye(2), [1, 1e-20])
    assert theory.algorithm1_error(np.eye(2), [1, 1e-20], p, 1) == pytest.approx(2e-20, rel=1e-14)
    np.testing.assert_allclose(theory.lemma_b2_variance(np.eye(2), [1, 1e-20], p, 1), [1e-20, 1e-20], rtol=1e-14)
    # Horvitz–Thompson with π near 1: (1 - π)/π, not 1/π - 1 (which kept 6 digits of 1e-10)
    pi = 1 - 2.0**-33
    assert theory.bernoulli_error(np.eye(1), [1.0], [pi]) == pytest.approx(2.0**-33 / pi, rel=1e-15)
    # an ordinary input is unchanged to rounding by the rewrite
    X = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.25]])
    w = np.array([1.5, -0.25, 0.75])
    S = np.sum(np.sqrt((X**2).sum(1)) * np.abs(w))
    assert theory.lemma_4_1_value(X, w, 2) == pytest.approx((S**2 - np.sum((X.T @ w) ** 2)) / 2, rel=1e-13)


def test_linear_scores_at_the_float64_edges():
    """§5 scores: scaled by powers of two, so inputs near 1e308 give the true scores (was NaN) and a
    score of 1e-300 next to one of 1e300 is not flushed to 0; a score above float64 is one line."""
    np.testing.assert_array_equal(theory.snip_linear_scores(np.ones((2, 1)), [1e308, 1e308], [0.0]), [1e308, 1e308])
    np.testing.assert_array_equal(theory.synflow_linear_scores(np.ones((2, 1)), [1e300, 1e-300]), [1e300, 1e-300])
    np.testing.assert_allclose(theory.snip_linear_scores(np.array([[1e-300, 2e-300], [3e-300, 1e-300]]), [1e-300, -1.0],
                                                         [1e300, -1e300]), [0.0, 1e-300], rtol=1e-15)
    for call in (lambda: theory.synflow_linear_scores(np.full((2, 1), 1e300), [1e300, 1.0]),
                 lambda: theory.snip_linear_scores(np.full((2, 1), 1e300), [1e300, 1.0], [0.0])):
        with pytest.raises(ValueError, match="exceeds float64") as e:
            call()
        assert "\n" not in str(e.value)


_VALID = dict(X=np.array([[1.0, 2], [3, 4], [5, 6]]), X_tilde=np.array([[2.0, 1], [1, 3], [4, 1]]),
              w=np.array([1.0, -2, 3]), w0=np.array([1.0, -2, 3]), w_star=np.array([0.5, 1, -1]),
              p=np.array([0.2, 0.3, 0.5]), s=2, n=3, m=np.array([1.0, 0, 1]), mean_m=np.array([0.5, 0.5, 0.5]),
              second_m=np.full((3, 3), 0.25) + 0.1 * np.eye(3), pi=np.array([0.5, 0.5, 1.0]),
              y=np.array([1.0, -1]), mask="optimal", x_tilde="same", weighted=True, c=2.0, sigma=0.5)
_BAD_SCALARS = dict(s=[0, 2.5, "2"], n=[0, 2**1001, "3"], mask=["bogus", 3], x_tilde=["bogus"], weighted=["yes"],
                    c=[np.nan, np.inf, "x"], sigma=[-1.0, np.nan, "x"])
_PUBLIC = sorted(k for k, f in vars(theory).items()
                 if callable(f) and not k.startswith("_")
                 and getattr(f, "__module__", None) in (theory.__name__, "sketchbound.linear_scores"))


def _bad_values(name):
    if name in _BAD_SCALARS:
        return _BAD_SCALARS[name]
    v = _VALID[name]
    nan = v.copy()
    nan.flat[1] = np.nan
    return [nan, "x", np.zeros(v.shape), v.astype(complex), np.ma.array(v), np.stack([v, v]), v[:-1]]


@pytest.mark.parametrize("fname", _PUBLIC)
def test_every_error_names_the_argument_that_is_wrong(fname):
    """Each argument of each public function of theory, given bad values one at a time: every
    ``ValueError`` names that argument (``lemma_4_3_exact`` said "X must…", "w must…" or "p[1] = 0"
    for a bad ``X_tilde`` / ``w0``)."""
    import inspect
    import re
    f = getattr(theory, fname)
    names = list(inspect.signature(f).parameters)
    kw = {k: _VALID[k] for k in names}
    f(**kw)  # the valid call works
    raised = 0
    for a in names:
        for bad in _bad_values(a):
            try:
                f(**{**kw, a: bad})
            except ValueError as e:
                raised += 1
                assert re.search(rf"(?<!\w){re.escape(a)}(?!\w)", str(e)), (a, abridge_repr(bad), str(e))
                assert "\n" not in str(e)
    assert raised >= len(names)


def abridge_repr(v):
    return " ".join(repr(v).split())[:60]


def test_gaussian_error_overflow_is_one_line_naming_the_inputs():
    """Both forms of the Gaussian error (uniform mask; G1/G2) scale their sum back in one helper: a result
    above float64 is one ValueError naming the inputs, and a result just inside it is the exact power-of-two
    multiple of the scaled one."""
    for kw, names in ((dict(mask="uniform"), ("w_star",)), (dict(), ("w0", "w_star")),
                      (dict(x_tilde="independent"), ("w0", "w_star"))):
        with pytest.raises(ValueError, match="the Gaussian error exceeds float64") as e:
            theory.gaussian_error([1.0, 1.0, 1.0], [1e200, 1e200, 1e200], 1, 3, **kw)
        assert "\n" not in str(e.value) and all(f"{n} = " in str(e.value) for n in names)
        small = theory.gaussian_error([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], 1, 3, **kw)
        assert theory.gaussian_error([1.0, 1.0, 1.0], [2.0**500] * 3, 1, 3, **kw) == np.ldexp(small, 1000)


def test_split_modules_are_reexported_by_theory():
    """The Gaussian expectations and the errors of other masks live in their own modules; theory's names
    are the same objects, so every ``theory.X`` call keeps working."""
    from sketchbound import gaussian, mask_errors
    for mod, names in ((gaussian, ("MAX_N", "chi_mean", "inv_chi_mean", "nu", "gaussian_error")),
                       (mask_errors, ("mask_error", "moment_error", "bernoulli_error"))):
        for name in names:
            assert getattr(theory, name) is getattr(mod, name), name
