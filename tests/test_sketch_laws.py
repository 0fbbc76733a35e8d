"""CountSketch and Gaussian/JL as mask laws of the engine: the math of their inner-product estimates
(unbiased, second moments in closed form, checked by exact enumeration / explicit moment tensors), the
engine's verdicts on claims naming them (true → holds, wrong → violated), the data laws they combine
with, and one-line refusals of misuse."""
import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays

from sketchbound import claims as registry
from sketchbound.claims import SKETCH_OUTPUT, SKETCH_SQ_DEV, Claim, Statistic, check_claim, fixed_data, unregister
from sketchbound.laws import check_law, draw_law, sketched_outputs
from sketchbound.montecarlo import choose_estimator, claim_scenario, run_check
from sketchbound.sketches import (apply_countsketch, countsketch, countsketch_hashes, draw_sketch, gaussian_sketch,
                                  sketch_inner_variance)
from test_validate import _main  # noqa: E402  (tests/ is on sys.path; one in-process CLI runner)

_vec = arrays(np.float64, hst.integers(1, 4), elements=hst.floats(-3, 3, allow_nan=False, width=32))


def _cs_outcomes(d, k):
    """Every CountSketch matrix (k x d) with equal probability: all hashes h in [k]^d and signs in {±1}^d."""
    for h in itertools.product(range(k), repeat=d):
        for sig in itertools.product((-1.0, 1.0), repeat=d):
            S = np.zeros((k, d))
            S[list(h), range(d)] = sig
            yield S


@settings(max_examples=25, deadline=None)
@given(data=hst.data(), k=hst.integers(1, 3))
def test_countsketch_inner_product_unbiased_and_variance_by_enumerating_every_sketch(data, k):
    x = data.draw(_vec)
    w = data.draw(arrays(np.float64, x.shape[0], elements=hst.floats(-3, 3, allow_nan=False, width=32)))
    est = np.array([(S @ x) @ (S @ w) for S in _cs_outcomes(x.shape[0], k)])
    tol = 1e-9 * (1 + np.sum(x**2) * np.sum(w**2))
    assert abs(est.mean() - x @ w) <= tol                                     # E⟨Sx, Sw⟩ = ⟨x, w⟩
    d = x.shape[0]
    brute = sum(x[i] ** 2 * w[j] ** 2 + x[i] * w[i] * x[j] * w[j] for i in range(d) for j in range(d) if i != j) / k
    assert abs(est.var() - brute) <= tol                                      # the brief's closed form, term by term
    assert abs(float(sketch_inner_variance("countsketch", x, w, k)) - est.var()) <= tol


@settings(max_examples=25, deadline=None)
@given(data=hst.data(), k=hst.integers(1, 5))
def test_gaussian_inner_product_moments_from_the_explicit_fourth_moment_tensor(data, k):
    """S = G/√k, G i.i.d. N(0, 1): E SᵀS = I (unbiased) and, row by row independent,
    Var⟨Sx, Sw⟩ = (1/k) Var[(gᵀx)(gᵀw)] with E g_a g_b g_c g_e = δab δce + δac δbe + δae δbc."""
    x = data.draw(_vec)
    w = data.draw(arrays(np.float64, x.shape[0], elements=hst.floats(-3, 3, allow_nan=False, width=32)))
    I = np.eye(x.shape[0])
    m4 = (np.einsum("ab,ce->abce", I, I) + np.einsum("ac,be->abce", I, I) + np.einsum("ae,bc->abce", I, I))
    second = np.einsum("abce,a,b,c,e->", m4, x, w, x, w)                      # E[(gᵀx)²(gᵀw)²]
    mean = x @ I @ w                                                          # E[(gᵀx)(gᵀw)] = xᵀ E[ggᵀ] w
    tol = 1e-9 * (1 + np.sum(x**2) * np.sum(w**2))
    assert abs(mean - x @ w) <= tol
    assert abs(float(sketch_inner_variance("gaussian", x, w, k)) - (second - mean**2) / k) <= tol


def test_core_sketches_shapes_laws_and_seeds():
    S = countsketch(6, 3, rng=0, trials=400)
    assert S.shape == (400, 3, 6) and np.all(np.count_nonzero(S, axis=1) == 1) and set(np.unique(S)) == {-1.0, 0.0, 1.0}
    G = gaussian_sketch(5, 4, rng=1, trials=20000)
    assert abs(G.var() * 4 - 1) < 0.02 and abs(G.mean()) < 0.01             # N(0, 1/k) entries
    assert np.array_equal(draw_sketch("countsketch", 6, 3, rng=7, trials=2), countsketch(6, 3, rng=7, trials=2))
    assert not np.array_equal(gaussian_sketch(3, 2, rng=1), gaussian_sketch(3, 2, rng=2))
    # x = w: the squared-norm variances (the library's old CS-var / JL-var)
    x = np.array([1.0, -2.0, 0.5])
    assert sketch_inner_variance("countsketch", x, x, 2) == pytest.approx(2 / 2 * (np.sum(x**2) ** 2 - np.sum(x**4)))
    assert sketch_inner_variance("gaussian", x, x, 4) == pytest.approx(2 * np.sum(x**2) ** 2 / 4)


@pytest.mark.parametrize("call,msg", [
    (lambda: countsketch(4, 0), "k must be a positive integer"),
    (lambda: gaussian_sketch(0, 2), "d must be a positive integer"),
    (lambda: countsketch(4, 2, trials=1.5), "trials must be a positive integer"),
    (lambda: draw_sketch("srht", 4, 2), "sketch name must be one of countsketch, gaussian; got 'srht'"),
    (lambda: gaussian_sketch(1 << 20, 1 << 10, trials=1), "too many for one call"),
    (lambda: sketch_inner_variance("gaussian", np.ones((3, 2)), np.ones(4), 2), "X must be .* got X \\(3, 2\\)"),
])
def test_sketch_misuse_is_a_one_line_value_error(call, msg):
    with pytest.raises(ValueError, match=msg) as e:
        call()
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------
# claims naming the laws: verdicts
# ------------------------------------------------------------------------------------------------
def _inst(sc, gen):
    w = gen.standard_normal(sc.d) * np.exp(gen.standard_normal(sc.d))
    X = gen.standard_normal((sc.d, sc.n)) * np.exp(gen.standard_normal((sc.d, sc.n)))
    from sketchbound.scenarios import Instance
    return Instance(w0=w, w_star=w, X=X, X_tilde=X)


def _mean_claim(law, **kw):
    base = dict(id=f"t-{law}-mean", name="sketched inner products are unbiased", statement="E⟨Sx,Sw⟩ = ⟨x,w⟩",
                relation="=", quantity="E (SX)ᵀ(Sw)", statistic=SKETCH_OUTPUT, mask_law=law, mask_uses_data=False,
                exact=lambda i, sc: i.X.T @ i.w_star, scale=lambda i, sc: np.linalg.norm(i.X, axis=0) * np.linalg.norm(i.w_star),
                instance_factory=_inst, scenario=dict(x_mode="fixed", d=12, n=2, s=4))
    base.update(kw)
    return Claim(**base)


def _var_claim(law, factor=1.0, **kw):
    return _mean_claim(law, id=f"t-{law}-var", statistic=SKETCH_SQ_DEV, scale=None, max_trials=1_024_000,
                       exact=lambda i, sc: factor * sketch_inner_variance(law, i.X, i.w_star, sc.s), **kw)


@pytest.mark.parametrize("law", ["countsketch", "gaussian"])
def test_unbiasedness_holds_and_a_shifted_mean_is_violated(law):
    c = check_claim(_mean_claim(law))
    r = run_check(c, seed=0)
    assert r.verdict == "holds" and r.estimator == "plain" and r.components == 2, (r.estimate, r.exact, r.note)
    off = dataclasses.replace(c, exact=lambda i, sc: i.X.T @ i.w_star + 0.2 * np.linalg.norm(i.X, axis=0) * np.linalg.norm(i.w_star))
    assert run_check(off, seed=0).verdict == "violated"


@pytest.mark.parametrize("law", ["countsketch", "gaussian"])
def test_variance_closed_form_holds_and_090_of_it_is_violated(law):
    assert run_check(_var_claim(law), seed=1).verdict == "holds"
    assert run_check(_var_claim(law, 0.9), seed=1).verdict == "violated"


@pytest.mark.parametrize("law", ["countsketch", "gaussian"])
def test_a_true_bound_holds_and_a_wrong_one_is_violated(law):
    """``E ||(SX)ᵀSw − Xᵀw||² <= B``: B = 1.2 x the closed form (true) holds, 0.8 x (wrong) is violated."""
    err = Statistic("sketched error", lambda X, w, S: np.sum((sketched_outputs(X, w, S) - X.T @ w) ** 2, axis=1), sketch=True)
    exact = lambda i, sc: float(np.sum(sketch_inner_variance(law, i.X, i.w_star, sc.s)))  # noqa: E731
    c = _mean_claim(law, id=f"t-{law}-bound", relation="<=", statistic=err, scale=None, exact=exact,
                    bound=lambda i, sc: 1.2 * exact(i, sc))
    assert run_check(check_claim(c), seed=2).verdict == "holds"
    assert run_check(c, seed=2, bound_override=lambda i, sc: 0.8 * exact(i, sc)).verdict == "violated"


def test_same_seed_same_result_different_seed_different():
    c = _mean_claim("countsketch")
    a, b = (run_check(c, seed=3, max_trials=2000) for _ in range(2))
    assert (a.estimate, a.ci_low, a.ci_high) == (b.estimate, b.ci_low, b.ci_high)
    assert run_check(c, seed=4, max_trials=2000).estimate != a.estimate


# ------------------------------------------------------------------------------------------------
# data laws: fixed X (scenario's, or your own), redrawn Gaussian, a callable of your own
# ------------------------------------------------------------------------------------------------
def test_every_data_law_is_expressible_with_a_sketch_law():
    g = np.random.default_rng(5)
    X, w = g.standard_normal((10, 2)), g.standard_normal(10)
    mine = _mean_claim("gaussian", instance_factory=fixed_data(X, w), scenario=dict(x_mode="fixed", d=10, n=2, s=4))
    r = run_check(mine, seed=0)
    assert r.verdict == "holds" and np.allclose(mine.exact(mine.instance_factory(claim_scenario(mine), None), None), X.T @ w)
    # the scenario's Gaussian X, fixed (no instance factory)
    plain = _mean_claim("countsketch", instance_factory=None, scenario=dict(x_mode="fixed", d=10, n=2, s=4))
    assert run_check(plain, seed=0).verdict == "holds"
    # X redrawn every trial: N(0, I/n) (E_X Xᵀw = 0), and a data law of your own (E_X X = B)
    B = g.standard_normal((10, 2))
    for data, mean in ((None, np.zeros((2, 10))), (lambda sc, gen: B + 0.3 * gen.standard_normal((sc.d, sc.n)), B.T)):
        c = _mean_claim("gaussian", instance_factory=None, data=data, max_trials=64_000,
                        exact=lambda i, sc, m=mean: m @ i.w_star, scale=lambda i, sc: np.full(2, np.linalg.norm(i.w_star) * 3),
                        scenario=dict(x_mode="redrawn", d=10, n=2, s=4))
        assert run_check(c, seed=0).verdict == "holds", data
        shifted = dataclasses.replace(c, exact=lambda i, sc, m=mean: m @ i.w_star + np.linalg.norm(i.w_star))
        assert run_check(shifted, seed=0).verdict == "violated", data


def test_fixed_data_refuses_bad_arrays_and_a_mismatched_scenario():
    with pytest.raises(ValueError, match="fixed_data: w0 must be a finite 1-D array"):
        fixed_data(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="fixed_data: X must be"):
        fixed_data(np.array([[np.nan]]), np.ones(1))
    make = fixed_data(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="scenario's \\(d, n\\) = \\(4, 2\\) must be X's shape \\(3, 2\\)"):
        make(claim_scenario(_mean_claim("gaussian"), d=4), None)


# ------------------------------------------------------------------------------------------------
# routes refused where their closed forms do not cover the law, and misuse
# ------------------------------------------------------------------------------------------------
def test_closed_form_routes_are_refused_for_sketch_laws():
    c = _mean_claim("gaussian")
    with pytest.raises(ValueError, match="--exact enumerates Algorithm 1's outcomes; claim 't-gaussian-mean' draws its "
                                         "mask with mask_law='gaussian'"):
        choose_estimator(c, "fixed", exact=True)
    with pytest.raises(ValueError, match="mask_law='gaussian'"):
        run_check(c, exact=True)
    # exact_from: refused by the registry and by the engine
    with pytest.raises(ValueError, match="exact_from=\\('B.1',\\) is refused under mask law 'gaussian'"):
        check_claim(dataclasses.replace(c, exact_from=("B.1",)))
    with pytest.raises(ValueError, match="is refused under mask law 'gaussian'"):
        run_check(dataclasses.replace(c, relation="<=", bound=lambda i, sc: 1e9, exact_from=("B.1",)))
    # diagonal laws other than Algorithm 1: its closed forms (given_x, the B.1/B.2/4.3 proofs) are not offered
    from sketchbound.claims import exact_from_coverage, get_claim
    ht45 = dataclasses.replace(get_claim("4.5"), mask_law="bernoulli")
    assert choose_estimator(get_claim("4.5"), "redrawn") == "rao-blackwell" and choose_estimator(ht45, "redrawn") == "plain"
    ht43b = dataclasses.replace(get_claim("4.3b"), mask_law="bernoulli")
    assert choose_estimator(ht43b, "fixed") == "plain"
    assert "does not cover its statistic 'error' under mask law 'bernoulli'" in exact_from_coverage(ht43b)
    with pytest.raises(ValueError, match="under mask law 'bernoulli'"):
        run_check(ht43b, seed=0)
    # redrawn data: never Rao-Blackwell (a sketch statistic carries no given_x: refused at construction)
    assert choose_estimator(dataclasses.replace(c, scenario=dict(x_mode="redrawn")), "redrawn") == "plain"
    for kw, what in ((dict(given_x=lambda X, w, p, s: 0.0), "given_x"), (dict(enumerable=True), "enumerable"),
                     (dict(unseen=lambda *a: 0.0), "unseen"), (dict(value_range=lambda *a: (0, 1)), "value_range")):
        with pytest.raises(ValueError, match=f"statistic 'mine': sketch=True takes no {what}"):
            Statistic("mine", sketched_outputs, sketch=True, **kw)


def test_a_diagonal_statistic_under_a_sketch_law_is_refused_at_run_time_too():
    """An unregistered claim goes straight to the engine: the draw refuses it with the same message."""
    c = _mean_claim("countsketch", statistic=registry.OUTPUT)
    with pytest.raises(ValueError, match="claim 't-countsketch-mean': mask law 'countsketch' draws sketch matrices"):
        run_check(c, seed=0)
    with pytest.raises(ValueError, match="takes sketch matrices; mask law 'priority' draws diagonal masks"):
        draw_law(_mean_claim("priority"), np.full(3, 1 / 3), 2, np.random.default_rng(0), 2)
    assert check_law(_mean_claim("gaussian")) is None


def test_a_bad_sketch_claim_file_exits_2_with_one_line(tmp_path):
    f = tmp_path / "bad_sketch.py"
    f.write_text("from sketchbound.claims import Claim, register\n"
                 "register(Claim(id='bad-cs', name='n', statement='s', relation='=', quantity='q', mask_law='countsketch',\n"
                 "               exact=lambda i, sc: 0.0))\n")
    try:
        r = _main("--claims-from", str(f), "--all", "--no-progress")
    finally:
        if "bad-cs" in registry.claim_ids():
            unregister("bad-cs")
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "mask law 'countsketch' draws sketch matrices" in r.stderr and str(f) in r.stderr


# ------------------------------------------------------------------------------------------------
# derived verdicts under other diagonal laws: the closed form is checked against *that* law
# ------------------------------------------------------------------------------------------------
def test_derived_closed_form_is_compared_with_enumeration_of_the_claim_s_own_law():
    """A Poisson/HT error identity registered as an '=' claim covers a '<=' claim under the same law
    (exact_from); the derived verdict's closed form is compared with enumeration of the HT law (not
    Algorithm 1's): the true one agrees, a 10%-wrong one is caught; priority has no enumeration (said)."""
    from sketchbound import theory
    from sketchbound.claims import ERROR, register
    from sketchbound.crosscheck import law_check, law_outcomes
    from sketchbound.montecarlo import _setup
    from sketchbound.sampling import inclusion_probabilities

    def ht_exact(i, sc, f=1.0):
        p = registry.optimal_masks(i.X_tilde, i.w0)
        return f * theory.bernoulli_error(i.X, i.w_star, inclusion_probabilities(p, sc.s))

    eq = Claim(id="t-ht-eq", name="HT error", statement="E err = Σ ||X_(k)||² w_k² (1/π_k − 1)", relation="=",
               quantity="E_m err, Poisson/HT", statistic=ERROR, mask_law="bernoulli", exact=ht_exact,
               scenario=dict(x_mode="fixed", d=16, n=3, s=4))
    register(eq)
    try:
        le = dataclasses.replace(eq, id="t-ht-le", relation="<=", bound=lambda i, sc: 1.5 * ht_exact(i, sc),
                                 exact_from=("t-ht-eq",))
        assert choose_estimator(le, "fixed") == "derived"
        ok = law_check(_setup(le, None, 0, 0.01, 0.02, 1000, None, None))
        assert ok["ok"] and ok["worst"] < 1e-9, ok
        r = run_check(le, seed=0)
        assert r.verdict == "holds" and r.estimator == "derived", (r.verdict, r.note)
        wrong = dataclasses.replace(le, exact=lambda i, sc: ht_exact(i, sc, 1.1))
        bad = law_check(_setup(wrong, None, 0, 0.01, 0.02, 1000, None, None))
        assert not bad["ok"] and "DIFFER" in bad["line"]
        assert run_check(wrong, seed=0).verdict == "inconclusive"
    finally:
        unregister("t-ht-eq")
    pri = dataclasses.replace(eq, id="t-pri", mask_law="priority")
    line = law_check(_setup(pri, None, 0, 0.01, 0.02, 1000, None, None))
    assert line["ok"] and line["worst"] is None and "no exact enumeration of mask law 'priority'" in line["line"]
    assert law_outcomes("countsketch", np.ones(3), 2) is None
    masks, probs = law_outcomes("without-replacement", np.array([0.5, 0.3, 0.2]), 2)
    assert np.allclose(probs @ masks, 1.0)  # Horvitz–Thompson weights: E m_i = 1


@settings(max_examples=40, deadline=None)
@given(d=hst.integers(1, 12), k=hst.integers(1, 5), trials=hst.integers(1, 3), n=hst.integers(1, 3),
       seed=hst.integers(0, 2**32 - 1))
def test_compact_countsketch_is_the_dense_one(d, k, trials, n, seed):
    # countsketch_hashes draws the same (h, σ) as countsketch: S[t, h_t(i), i] = σ_t(i), every other entry 0;
    # apply_countsketch computes S x from them (one bucket sum per column) without forming S
    S = countsketch(d, k, rng=seed, trials=trials)
    h, sign = countsketch_hashes(d, k, rng=seed, trials=trials)
    rebuilt = np.zeros_like(S)
    for t in range(trials):
        rebuilt[t, h[t], np.arange(d)] = sign[t]
    assert np.array_equal(rebuilt, S)
    x = np.random.default_rng(seed).standard_normal((d, n))
    np.testing.assert_allclose(apply_countsketch(x, h, sign, k), S @ x, atol=1e-12)
    np.testing.assert_allclose(apply_countsketch(x[:, 0], h, sign, k), S @ x[:, 0], atol=1e-12)


def test_compact_countsketch_rejects_mismatched_input():
    h, sign = countsketch_hashes(6, 3, rng=0)
    with pytest.raises(ValueError, match=r"x must be \(d,\) or \(d, n\) with d = 6"):
        apply_countsketch(np.ones(5), h, sign, 3)
    with pytest.raises(ValueError, match=r"h must hold buckets in 0..1 \(k = 2\)"):
        apply_countsketch(np.ones(6), np.full_like(h, 2), sign, 2)
    with pytest.raises(ValueError, match="h and sign must be"):
        apply_countsketch(np.ones(6), h, sign[:, :3], 3)
