"""The samplers draw exactly the distributions they claim (Algorithm 1 = Multinomial(s, p) scaled)."""
import numba
import numpy as np
import pytest
from scipy import stats

import sketchbound as sb
from sketchbound import exact
from sketchbound.sampling import _SMALL_D

ALPHA = 1e-4  # per statistical test; tests are seeded, so this is the chance a correct sampler fails


def _chisq_pvalue(observed, expected):
    """Pearson chi-square, pooling cells with expected count < 5 into one."""
    observed = np.asarray(observed, float)
    expected = np.asarray(expected, float)
    small = expected < 5
    if small.any():
        observed = np.append(observed[~small], observed[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
    return stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue


@pytest.mark.parametrize("d,s,trials", [(3, 3, 20000), (5, 4, 20000)])
def test_single_mask_matches_exact_enumeration(d, s, trials):
    """Outcome frequencies of the numba kernel (one mask per call) vs the multinomial pmf of every outcome."""
    p = np.random.default_rng(d).dirichlet(np.ones(d))
    masks, probs = exact.outcomes_algorithm1(p, s)
    counts_of = {tuple(np.round(m * s * p).astype(int)): i for i, m in enumerate(masks)}
    gen = np.random.default_rng(123)
    obs = np.zeros(len(probs))
    for _ in range(trials):
        obs[counts_of[tuple(sb.algorithm1_counts(p, s, rng=gen))]] += 1
    assert _chisq_pvalue(obs, probs * trials) > ALPHA


@pytest.mark.parametrize("d,s", [(3 * 4096 + 17, 50), (3 * 4096 + 17, 200_000)])
def test_large_d_counts_chi_square(d, s):
    """Kernel path (d > one block): few draws (sorted-uniform merge) and many draws (guide table).
    Summed counts of T independent masks are Multinomial(T s, p)."""
    rng = np.random.default_rng(7)
    p = rng.pareto(1.5, d) + 1e-3
    p[rng.random(d) < 0.1] = 0.0  # zeros must never be drawn
    p /= p.sum()
    T = max(1, 400_000 // s)
    total = np.zeros(d)
    gen = np.random.default_rng(11)
    for _ in range(T):
        c = sb.algorithm1_counts(p, s, rng=gen)
        assert c.sum() == s
        total += c
    assert total[p == 0].sum() == 0
    # group indices into ~200 cells of similar expected counts
    order = np.argsort(p)
    cells = np.array_split(order[p[order] > 0], 200)
    obs = [total[c].sum() for c in cells]
    exp_ = [p[c].sum() * T * s for c in cells]
    assert _chisq_pvalue(obs, exp_) > ALPHA


def test_unbiased_and_lemma_b2_variance_of_mask():
    """E[m_i] = 1 where p_i > 0 (Lemma B.1) and Var[m_i] = (1/p_i - 1)/s (Lemma B.2 with X = e_i)."""
    d, s, T = 8, 5, 200_000
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05, 0.0])
    m = sb.algorithm1(p, s, rng=3, trials=T)
    assert np.all(m[:, -1] == 0)
    pos = p > 0
    mean, var = m[:, pos].mean(0), m[:, pos].var(0, ddof=1)
    true_var = (1 / p[pos] - 1) / s
    z = (mean - 1) / np.sqrt(true_var / T)
    assert np.all(np.abs(z) < stats.norm.ppf(1 - ALPHA / (2 * pos.sum())))
    # the sample variance of m_i (bounded support) is within 3% of Lemma B.2's value at T = 2e5
    np.testing.assert_allclose(var, true_var, rtol=0.03)


def test_kernel_path_moments_large_d():
    d = _SMALL_D * 3
    p = sb.from_scores(np.random.default_rng(0).random(d) + 0.1)
    s = 10 * d
    m = np.mean([sb.algorithm1(p, s, rng=i) for i in range(30)], axis=0)
    # E[m_i]=1; the average over 30 masks and d entries has sd sqrt(mean((1/p-1)/s)/(30 d))
    sd = np.sqrt(np.mean((1 / p - 1) / s) / (30 * d))
    assert abs(m.mean() - 1) < 5 * sd


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_mask_any_thread_count(threads):
    d = 5 * 4096 + 3
    p = sb.from_scores(np.random.default_rng(1).random(d))
    ref_threads = numba.get_num_threads()
    numba.set_num_threads(2)
    ref = (sb.algorithm1(p, 1000, rng=42), sb.algorithm1(p, 10 * d, rng=42), sb.without_replacement(p, 100, rng=5), sb.priority(p, 100, rng=5))
    numba.set_num_threads(threads)
    try:
        got = (sb.algorithm1(p, 1000, rng=42), sb.algorithm1(p, 10 * d, rng=42), sb.without_replacement(p, 100, rng=5), sb.priority(p, 100, rng=5))
    finally:
        numba.set_num_threads(ref_threads)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("s", [1, 37, 5000, 200_000])
def test_sparse_form_equals_dense_form(s):
    d = 3 * 4096 + 5
    p = sb.from_scores(np.random.default_rng(2).random(d) ** 3)
    m = sb.algorithm1(p, s, rng=9)
    idx, val = sb.algorithm1_sparse(p, s, rng=9)
    np.testing.assert_array_equal(idx, np.flatnonzero(m))
    np.testing.assert_allclose(val, m[idx], rtol=1e-12)


def test_trials_shape_and_independence():
    p = sb.uniform_probabilities(10)
    m = sb.algorithm1(p, 4, rng=0, trials=7)
    assert m.shape == (7, 10)
    assert not np.all(m[0] == m[1:])
    assert sb.uniform_algorithm1(10, 4, rng=0, trials=7).shape == (7, 10)


def test_top_s_exact_count_with_ties():
    scores = np.ones(100)
    for s in (1, 13, 99, 100):
        m = sb.top_s(scores, s)
        assert m.sum() == s
    m = sb.top_s([3, 1, 2, 2, 2, 0], 3)
    assert m.tolist() == [1, 0, 1, 1, 0, 0]


def test_without_replacement_inclusion_matches_enumeration():
    p = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    s, T = 2, 40_000
    masks, probs = exact.outcomes_successive(p, s)
    pi_exact = probs @ masks
    m = sb.without_replacement(p, s, rng=0, trials=T)
    assert np.all(m.sum(1) == s)
    freq = m.mean(0)
    z = (freq - pi_exact) / np.sqrt(pi_exact * (1 - pi_exact) / T)
    assert np.all(np.abs(z) < stats.norm.ppf(1 - ALPHA / 10))


def test_systematic_ht_is_exactly_unbiased_and_fixed_size():
    p = np.array([0.35, 0.25, 0.2, 0.1, 0.06, 0.04])
    masks, probs = exact.outcomes_systematic(p, 3, weighted=True)
    np.testing.assert_allclose(probs @ masks, np.ones(6), rtol=1e-12)
    assert np.all((masks > 0).sum(1) == 3)
    m = sb.without_replacement(p, 3, rng=1, design="systematic", weighted=True, trials=5)
    assert np.all((m > 0).sum(1) == 3)


def test_bernoulli_and_priority_unbiased():
    p = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    pi = sb.inclusion_probabilities(p, 2)
    assert abs(pi.sum() - 2) < 1e-12 and pi.max() <= 1
    masks, probs = exact.outcomes_bernoulli(pi)
    np.testing.assert_allclose(probs @ masks, np.ones(5), rtol=1e-12)
    T = 100_000
    m = sb.priority(p, 2, rng=0, trials=T)
    assert np.all((m > 0).sum(1) == 2)
    sd = m.std(0, ddof=1) / np.sqrt(T)
    assert np.all(np.abs(m.mean(0) - 1) < stats.norm.ppf(1 - ALPHA / 10) * sd)


BAD_P = [
    ([0.5, np.nan, 0.5], "NaN"),
    ([0.5, np.inf, 0.5], "NaN or inf"),
    ([0.6, -0.1, 0.5], "negative"),
    ([0.0, 0.0], "all zeros"),
    ([0.2, 0.2], "sums to"),
    ([[0.5, 0.5]], "1-dimensional"),
    ([], "empty"),
]


@pytest.mark.parametrize("p,msg", BAD_P)
def test_bad_probabilities_raise(p, msg):
    for f in (sb.algorithm1, sb.algorithm1_counts, sb.algorithm1_sparse, sb.without_replacement, sb.priority, sb.bernoulli):
        with pytest.raises(ValueError, match=msg):
            f(p, 1, rng=0)


@pytest.mark.parametrize("s", [0, -3, 2.5, "4", None, True])
def test_bad_s_raise(s):
    with pytest.raises(ValueError, match="s must be a positive integer"):
        sb.algorithm1([0.5, 0.5], s)


def test_bad_rng_and_trials():
    with pytest.raises(ValueError, match="rng"):
        sb.algorithm1([0.5, 0.5], 2, rng="seed")
    with pytest.raises(ValueError, match="trials"):
        sb.algorithm1([0.5, 0.5], 2, trials=0)
    with pytest.raises(ValueError, match="exceeds"):
        sb.without_replacement([0.5, 0.5, 0.0], 3)
    with pytest.raises(ValueError, match="design"):
        sb.without_replacement([0.5, 0.5], 1, design="bogus")


def test_optimal_probabilities_eq2_and_shape_errors():
    X = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
    w = np.array([1.0, -2.0, 0.0])
    np.testing.assert_allclose(sb.optimal_probabilities(X, w), [5 / 7, 2 / 7, 0.0])
    with pytest.raises(ValueError, match="shape mismatch"):
        sb.optimal_probabilities(X, w[:2])
    with pytest.raises(ValueError, match="d x n"):
        sb.optimal_probabilities(X[0], w)
    with pytest.raises(ValueError, match="undefined"):
        sb.optimal_probabilities(np.zeros((3, 2)), w)
