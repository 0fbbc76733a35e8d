"""The bridge's sampling laws (validation/bridge.md): tempered p ∝ p0^β, the variance-aware law, and the
expected Lemma 4.3 error when w* = c w0 + ε — limits, closed forms against exact enumeration, minimality."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import sketchbound as sb
from sketchbound import theory
from sketchbound.exact import expected_error, outcomes_algorithm1, outcomes_successive
from sketchbound.probabilities import row_norms, tempered_probabilities, variance_aware_probabilities

FAST = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def prob_vectors(draw, min_d=1, max_d=8, zeros=True):
    """A probability vector (entries in [0, 1] before normalising, some exact zeros when ``zeros``)."""
    d = draw(st.integers(min_d, max_d))
    lo = 0.0 if zeros else 0.01
    v = np.array(draw(st.lists(st.floats(lo, 1.0), min_size=d, max_size=d)))
    if v.sum() == 0:
        v[0] = 1.0
    return v / v.sum()


@st.composite
def problems(draw, max_d=3, max_n=3, max_s=3):
    """A tiny ``(X, w0, s, c, sigma, p)``: Gaussian-ish entries, a Dirichlet law with full support."""
    d, n, s = draw(st.integers(1, max_d)), draw(st.integers(1, max_n)), draw(st.integers(1, max_s))
    seed = draw(st.integers(0, 2**31 - 1))
    g = np.random.default_rng(seed)
    X, w0 = g.standard_normal((d, n)), g.standard_normal(d)
    c = draw(st.floats(-3.0, 3.0))
    sigma = g.uniform(0.0, 2.0, d) if draw(st.booleans()) else float(g.uniform(0.0, 2.0))
    return X, w0, s, c, sigma, g.dirichlet(np.ones(d))


# ---- tempered laws --------------------------------------------------------------------------------
@FAST
@given(prob_vectors())
def test_beta_zero_is_uniform_over_all_d(p0):
    """β = 0: p_k ∝ p0_k^0 = 1 (0^0 = 1), i.e. uniform over all d indices, zeros of p0 included."""
    np.testing.assert_array_equal(tempered_probabilities(p0, 0), sb.uniform_probabilities(p0.shape[0]))


@FAST
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_beta_one_is_eq2(d, n, seed):
    """β = 1 on p0 = eq. (2) returns eq. (2): p_k = ||X_(k)|| |w_k| / Σ_j ||X_(j)|| |w_j|."""
    g = np.random.default_rng(seed)
    X, w = g.standard_normal((d, n)), g.standard_normal(d)
    p0 = sb.optimal_probabilities(X, w)
    np.testing.assert_allclose(tempered_probabilities(p0, 1.0), p0, rtol=1e-15, atol=0)


@FAST
@given(prob_vectors(), st.sampled_from([0.25, 0.5, 2.0, 4.0]))
def test_tempered_is_the_normalised_power(p0, beta):
    """0 < β < ∞: p_k = p0_k^β / Σ_j p0_j^β (computed in logs; compared where the plain power is exact)."""
    want = p0**beta / np.sum(p0**beta)
    np.testing.assert_allclose(tempered_probabilities(p0, beta), want, rtol=1e-12, atol=1e-300)
    assert np.all(tempered_probabilities(p0, beta)[p0 == 0] == 0)


@FAST
@given(prob_vectors())
def test_beta_infinity_is_uniform_on_the_argmax_set_and_large_beta_tends_to_it(p0):
    """β = ∞: uniform over {k: p0_k = max p0}; any huge finite β gives the same up to rounding, never NaN
    (exp(β (log p0_k − log max p0)) underflows to 0 instead of overflowing)."""
    top = p0 == p0.max()
    want = top / top.sum()
    np.testing.assert_array_equal(tempered_probabilities(p0, np.inf), want)
    big = tempered_probabilities(p0, 1e300)
    assert np.all(np.isfinite(big))
    np.testing.assert_allclose(big, want, atol=1e-12)


def test_large_beta_is_safe_with_tiny_probabilities():
    """p0 entries near 1e-300 and β = 1e6: no overflow or NaN; all mass on the largest entry."""
    p0 = np.array([1e-300, 2e-300, 1.0 - 3e-300])
    np.testing.assert_array_equal(tempered_probabilities(p0, 1e6), [0.0, 0.0, 1.0])
    # two tiny entries only: the ratio 2^β still decides (log-space), no 0/0
    np.testing.assert_allclose(tempered_probabilities(np.array([1e-300, 2e-300]) / 3e-300, 3.0), [1 / 9, 8 / 9])


def _stepwise_successive(p0, s, beta, rng):
    """Sampling without replacement where each draw comes from the tempered law of the remaining entries.
    At β = ∞ each draw is the argmax of what is left."""
    rest, kept = list(range(p0.shape[0])), []
    for _ in range(s):
        q = p0[rest]
        k = rest[int(rng.choice(len(rest), p=tempered_probabilities(q / q.sum(), beta)))]
        kept.append(k)
        rest.remove(k)
    m = np.zeros(p0.shape[0])
    m[kept] = 1.0
    return m


@FAST
@given(prob_vectors(min_d=2, max_d=6, zeros=False), st.data())
def test_beta_infinity_without_replacement_keeps_exactly_top_s(p0, data):
    """§7 inside a layer at β = ∞: successive draws ∝ p0^∞ among the remaining entries = the argmax of what
    is left each time = the threshold's kept set ``top_s`` (distinct p0)."""
    if np.unique(p0).shape[0] < p0.shape[0]:
        return  # ties: top_s breaks them by index, the law uniformly
    s = data.draw(st.integers(1, p0.shape[0]))
    m = _stepwise_successive(p0, s, np.inf, np.random.default_rng(0))
    np.testing.assert_array_equal(m, sb.top_s(p0, s))


def test_large_beta_successive_sampling_keeps_top_s_with_probability_near_one():
    """Exact enumeration of successive sampling from p0^β: P(kept set = top_s) → 1 as β grows (p0 entries
    differ by a factor ≥ 1.25, so a wrong draw has probability ≤ d·1.25^-β), and it increases with β."""
    p0 = np.array([0.05, 0.3, 0.1, 0.4, 0.15])
    s = 2
    top = sb.top_s(p0, s)
    probs_top = []
    for beta in (1.0, 4.0, 30.0, 200.0):
        masks, probs = outcomes_successive(tempered_probabilities(p0, beta), s)
        probs_top.append(float(probs[np.all(masks == top, axis=1)].sum()))
    assert probs_top == sorted(probs_top)
    assert probs_top[-2] > 1 - 5 * 1.25**-30 and probs_top[-1] > 1 - 1e-15


@FAST
@given(prob_vectors(min_d=3, max_d=5, zeros=False), st.sampled_from([0.5, 2.0]))
def test_tempering_commutes_with_restriction(p0, beta):
    """Tempering the remaining entries' renormalised p0 = renormalising the tempered law on them (both
    ∝ p0_k^β): so successive sampling ∝ p0^β is the same procedure whichever is done first."""
    rest = np.array([0, 2] + list(range(3, p0.shape[0])))
    a = tempered_probabilities(p0[rest] / p0[rest].sum(), beta)
    b = tempered_probabilities(p0, beta)[rest]
    np.testing.assert_allclose(a, b / b.sum(), rtol=1e-12)


# ---- the variance-aware law ---------------------------------------------------------------------------
@FAST
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1), st.floats(0.1, 10.0))
def test_variance_aware_at_sigma_zero_is_eq2(d, n, seed, c):
    """σ = 0: p_k ∝ ||X_(k)|| |c w0_k| ∝ ||X_(k)|| |w0_k| = eq. (2) of (X, w0), for any c ≠ 0."""
    g = np.random.default_rng(seed)
    X, w0 = g.standard_normal((d, n)), g.standard_normal(d)
    np.testing.assert_allclose(variance_aware_probabilities(row_norms(X), w0, c, 0.0),
                               sb.optimal_probabilities(X, w0), rtol=1e-12)


@FAST
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_variance_aware_formula_per_layer_and_large_sigma_limit(d, seed):
    """p_k ∝ r_k sqrt(c_k² w0_k² + σ_k²) with per-entry c, σ; σ → ∞ gives p ∝ r (uniform in |w|)."""
    g = np.random.default_rng(seed)
    r, w0 = g.uniform(0.1, 2.0, d), g.standard_normal(d)
    c, sig = g.uniform(0.5, 2.0, d), g.uniform(0.0, 1.0, d)
    want = r * np.sqrt(c**2 * w0**2 + sig**2)
    np.testing.assert_allclose(variance_aware_probabilities(r, w0, c, sig), want / want.sum(), rtol=1e-12)
    np.testing.assert_allclose(variance_aware_probabilities(r, w0, 1.0, 1e12), r / r.sum(), rtol=1e-12)


def test_variance_aware_is_scale_safe():
    """Only the ratios matter: (c w0, σ) scaled by 2^±900 and norms by 2^±1000 give the same law, no overflow."""
    r, w0 = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 0.25])
    base = variance_aware_probabilities(r, w0, 2.0, 0.7)
    for k in (-900, 900):
        got = variance_aware_probabilities(np.ldexp(r, k), np.ldexp(w0, k), 2.0, np.ldexp(0.7, k))
        np.testing.assert_allclose(got, base, rtol=1e-14)
    # c w0 = 2e308 w0 itself overflows float64; σ = 0.7e308 keeps the ratio of the base case
    np.testing.assert_allclose(variance_aware_probabilities(r, w0 * 1e300, 2e8, 0.7e308), base, rtol=1e-14)


# ---- closed forms --------------------------------------------------------------------------------
def _enumerated(X, w0, p, s, c, sigma):
    """E over every Algorithm-1 outcome (multinomial) and over ε_k = ±σ_k (independent, prob 1/2 each:
    mean 0, variance σ_k²; only these two moments enter)."""
    d = w0.shape[0]
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (d,))
    masks, probs = outcomes_algorithm1(p, s)
    return np.mean([expected_error(X, c * w0 + np.array(sg) * sig, masks, probs)
                    for sg in itertools.product((-1.0, 1.0), repeat=d)])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(problems())
def test_expected_error_closed_form_equals_exact_enumeration(prob):
    """(1/s)[Σ_k ||X_(k)||²(c²w0_k² + σ_k²)/p_k − c²||Xᵀw0||² − Σ_k σ_k²||X_(k)||²] = the exact average over
    masks and a two-point ε (relative to the first term, the size of what is subtracted)."""
    X, w0, s, c, sigma, p = prob
    got = theory.expected_algorithm1_error(X, w0, p, s, c, sigma)
    want = _enumerated(X, w0, p, s, c, sigma)
    scale = np.sum(row_norms(X) ** 2 * (c**2 * w0**2 + np.broadcast_to(sigma, w0.shape) ** 2) / p) / s
    assert abs(got - want) <= 1e-9 * scale


@FAST
@given(problems(max_d=5, max_n=4, max_s=8))
def test_sigma_zero_is_the_lemma_4_3_equality_and_the_minimum_is_attained(prob):
    """σ = 0 reduces to algorithm1_error(X, c w0, p, s); the variance-aware law attains
    variance_aware_minimum_error, and that is ≤ the error of the drawn law p (Cauchy–Schwarz)."""
    X, w0, s, c, sigma, p = prob
    np.testing.assert_allclose(theory.expected_algorithm1_error(X, w0, p, s, c, 0.0),
                               theory.algorithm1_error(X, c * w0, p, s), rtol=1e-12, atol=1e-12)
    pva = variance_aware_probabilities(row_norms(X), w0, c, sigma) if np.any(np.abs(c * w0) + sigma > 0) else None
    if pva is None:
        return
    emin = theory.variance_aware_minimum_error(X, w0, s, c, sigma)
    at = theory.expected_algorithm1_error(X, w0, pva, s, c, sigma)
    scale = np.sum(row_norms(X) * np.sqrt(c**2 * w0**2 + np.broadcast_to(sigma, w0.shape) ** 2)) ** 2 / s
    assert abs(emin - at) <= 1e-12 * scale
    assert emin <= theory.expected_algorithm1_error(X, w0, p, s, c, sigma) + 1e-12 * scale


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(2, 40), st.integers(1, 8), st.integers(0, 2**31 - 1), st.floats(0.0, 3.0), st.floats(0.2, 3.0))
def test_variance_aware_beats_random_and_tempered_laws(d, n, seed, sigma, c):
    """Minimality: the variance-aware error ≤ that of 20 Dirichlet(α) laws (α ∈ {0.3, 1, 5}) and of
    p0^β for β ∈ {0, .25, .5, 1, 2, 4} — with equality only where the law coincides (e.g. σ = 0, β = 1)."""
    g = np.random.default_rng(seed)
    X, w0, s = g.standard_normal((d, n)), g.standard_normal(d), int(g.integers(1, 2 * d))
    emin = theory.variance_aware_minimum_error(X, w0, s, c, sigma)
    first = np.sum(row_norms(X) * np.sqrt(c**2 * w0**2 + sigma**2)) ** 2 / s
    p0 = sb.optimal_probabilities(X, w0)
    laws = [tempered_probabilities(p0, b) for b in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)]
    laws += [g.dirichlet(np.full(d, a)) for a in (0.3, 1.0, 5.0) for _ in range(7)][:20]
    for p in laws:
        p = np.maximum(p, 1e-300)
        p = p / p.sum()
        assert emin <= theory.expected_algorithm1_error(X, w0, p, s, c, sigma) + 1e-12 * first


def test_the_claim_statistic_averages_epsilon_exactly():
    """The bridge claim's per-mask value E_ε||Xᵀ((w+ε) ⊙ (1−m))||² = ||Xᵀ(w ⊙ (1−m))||² + σ²Σ_k||X_(k)||²(1−m_k)²
    equals the two-point ε average, mask by mask (σ = rms(w), as the claim sets it)."""
    from sketchbound.claims import get_claim
    g = np.random.default_rng(3)
    X, w = g.standard_normal((3, 4)), g.standard_normal(3)
    M = sb.algorithm1(sb.uniform_probabilities(3), 2, rng=g, trials=5)
    sig = float(np.sqrt(np.mean(w**2)))
    want = np.mean([[theory.mask_error(X, w + np.array(e) * sig, m) for m in M]
                    for e in itertools.product((-1.0, 1.0), repeat=3)], axis=0)
    np.testing.assert_allclose(get_claim("bridge-va").statistic(X, w, M), want, rtol=1e-12)


# ---- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("call, msg", [
    (lambda: tempered_probabilities([0.5, 0.5], -1.0), "beta must be a real number in \\[0, inf\\]"),
    (lambda: tempered_probabilities([0.5, 0.5], np.nan), "beta must be"),
    (lambda: tempered_probabilities([0.5, 0.5], True), "beta must be"),
    (lambda: tempered_probabilities([0.5, 0.5], "2"), "beta must be"),
    (lambda: tempered_probabilities([0.5, 0.6], 2.0), "p0 sums to"),
    (lambda: variance_aware_probabilities([1.0, 1.0], [1.0, 1.0], 1.0, -0.5), "sigma must be >= 0"),
    (lambda: variance_aware_probabilities([1.0, 1.0], [1.0, 1.0], [1.0, 2.0, 3.0], 0.0), "c must be a scalar or broadcastable"),
    (lambda: variance_aware_probabilities([-1.0, 1.0], [1.0, 1.0], 1.0, 0.0), "norms must be >= 0"),
    (lambda: variance_aware_probabilities([1.0], [1.0, 1.0], 1.0, 0.0), "shape mismatch: norms"),
    (lambda: variance_aware_probabilities([1.0, 1.0], [0.0, 0.0], 1.0, 0.0), "undefined"),
    (lambda: variance_aware_probabilities([1.0, 1.0], [1.0, 1.0], 1.0, np.inf), "sigma must be"),
    (lambda: theory.expected_algorithm1_error(np.eye(2), [1.0, 0.0], [1.0, 0.0], 2, 1.0, 1.0), "p\\[1\\] = 0"),
    (lambda: theory.expected_algorithm1_error(np.eye(2), [1.0, 0.0], [1.0], 2, 1.0, 1.0), "shape mismatch: p"),
    (lambda: theory.expected_algorithm1_error(np.eye(2), [1.0, 0.0], [0.5, 0.5], 0, 1.0, 1.0), "s must be a positive integer"),
    (lambda: theory.variance_aware_minimum_error(np.eye(2), [1.0, 0.0], 2, 1.0, [1.0, -1.0]), "sigma must be >= 0"),
])
def test_bad_inputs_name_the_argument(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_closed_forms_are_scale_safe():
    """Degree 2 in X and in (c w0, σ) jointly: 2^600 X and 2^-700 (w0, σ) give 2^-200 times the value."""
    g = np.random.default_rng(1)
    X, w0, p = g.standard_normal((4, 3)), g.standard_normal(4), g.dirichlet(np.ones(4))
    e = theory.expected_algorithm1_error(X, w0, p, 3, 1.5, 0.4)
    m = theory.variance_aware_minimum_error(X, w0, 3, 1.5, 0.4)
    Xb, wb, sb_ = np.ldexp(X, 600), np.ldexp(w0, -700), np.ldexp(0.4, -700)
    np.testing.assert_allclose(theory.expected_algorithm1_error(Xb, wb, p, 3, 1.5, sb_), np.ldexp(e, -200), rtol=1e-13)
    np.testing.assert_allclose(theory.variance_aware_minimum_error(Xb, wb, 3, 1.5, sb_), np.ldexp(m, -200), rtol=1e-13)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(problems(max_d=4, max_n=3, max_s=3))
def test_poisson_ht_form_and_its_minimiser(prob):
    """Poisson sampling with inclusion probabilities π and Horvitz–Thompson weights 1/π_k: independent
    unbiased entries, so E_ε E_m err = Σ_k r_k² (c²w0_k² + σ_k²)(1/π_k − 1) = bernoulli_error(X, √(c²w0² + σ²), π)
    (checked against all 2^d outcomes and ε = ±σ); under Σπ = s it is minimised by π_k = min(1, κ a_k),
    i.e. inclusion_probabilities(p_va, s) (Lagrange with the caps π_k ≤ 1)."""
    from sketchbound.exact import outcomes_bernoulli
    X, w0, s, c, sigma, p = prob
    d = w0.shape[0]
    if s > d or not np.all(np.abs(c * w0) + sigma > 0):
        return
    pi = sb.inclusion_probabilities(p, s)
    masks, probs = outcomes_bernoulli(pi)
    sig = np.broadcast_to(sigma, (d,))
    want = np.mean([expected_error(X, c * w0 + np.array(e) * sig, masks, probs)
                    for e in itertools.product((-1.0, 1.0), repeat=d)])
    amp = np.sqrt(c**2 * w0**2 + sig**2)
    got = theory.bernoulli_error(X, amp, pi)
    assert abs(got - want) <= 1e-9 * max(1.0, np.sum(row_norms(X) ** 2 * amp**2 / pi))
    best = theory.bernoulli_error(X, amp, sb.inclusion_probabilities(variance_aware_probabilities(row_norms(X), w0, c, sigma), s))
    assert best <= got + 1e-12 * max(1.0, got)
