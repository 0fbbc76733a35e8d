"""The library of the field's bounds (sketchbound.library, ``validate --library``): every claim is
registered with its source and assumptions, its closed forms agree with independent computations,
its verdict on its default scenario is right, and a perturbed closed form / bound is caught."""
import contextlib
import dataclasses
import io
import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from sketchbound import validate
from sketchbound.claims import CLAIMS, claim_ids, get_claims
from sketchbound.library import ENTRIES, LIBRARY_IDS, entry, library_registered
from sketchbound.library.countsketch import countsketch_norms, countsketch_variance
from sketchbound.library.dkm06 import amm_bound, amm_identity, optimal_pairs
from sketchbound.library.horvitz_thompson import ht_variance
from sketchbound.library.leverage import embedding_bound, leverage_probabilities
from sketchbound.library.priority import priority_variances, threshold_total_variance
from sketchbound.library.report import library_markdown, zero_event_upper
from sketchbound.library.sensitivity import sensitivities
from sketchbound.montecarlo import claim_scenario, run_check

ALPHA = 0.01 / len(LIBRARY_IDS)  # the per-check level of a `validate --library` run


def _main(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = validate.main(list(args))
        except SystemExit as e:
            rc = e.code
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


# ------------------------------------------------------------------------------------------------
# registry and metadata
# ------------------------------------------------------------------------------------------------
def test_at_least_ten_claims_from_five_sources_each_with_source_assumptions_scenario():
    assert len(ENTRIES) >= 10 and len(set(LIBRARY_IDS)) == len(LIBRARY_IDS)
    modules = {e.claim.instance_factory.__module__ for e in ENTRIES}
    assert len(modules) >= 5, modules
    for e in ENTRIES:
        c = e.claim
        assert c.source.strip() and e.assumptions.strip(), c.id
        assert c.relation in ("=", "<=")
        if c.relation == "=":
            assert c.exact is not None and e.exact_value, c.id  # an equality names its exact value
        claim_scenario(c)  # a valid default scenario


def test_registered_only_inside_validate_and_all_leaves_them_out():
    assert not set(LIBRARY_IDS) & set(claim_ids())
    n = len(CLAIMS)
    with library_registered():
        assert set(LIBRARY_IDS) <= set(claim_ids())
        for cid in LIBRARY_IDS:
            assert [c.id for c in get_claims(cid)] == [cid]
        assert not set(LIBRARY_IDS) & {c.id for c in validate.select_claims(None, True)}
        assert [c.id for c in validate.select_claims(None, False, True)] == list(LIBRARY_IDS)
    assert len(CLAIMS) == n and not set(LIBRARY_IDS) & set(claim_ids())


def test_list_shows_the_library_under_its_heading():
    r = _main("--list")
    assert r.returncode == 0
    head, _, lib = r.stdout.partition("Library of the field's bounds")
    assert lib and all(cid in lib for cid in LIBRARY_IDS) and "4.3b" in head and "HT-var" not in head
    assert not set(LIBRARY_IDS) & set(claim_ids())  # the registry is restored after the call


def test_entry_of_unknown_id_names_it():
    with pytest.raises(ValueError, match="'nope' is not a library claim"):
        entry("nope")


# ------------------------------------------------------------------------------------------------
# closed forms against independent computations
# ------------------------------------------------------------------------------------------------
def test_priority_variances_match_order_statistics_and_a_double_integral():
    # equal weights, s = 2: τ'_i = 1/U_(2:m) over the m = d − 1 others, V_i = E[1/U_(2:m)] − 1 = m − 1
    assert np.allclose(priority_variances([1.0, 1.0, 1.0], 2), 1.0, rtol=1e-10)
    assert np.allclose(priority_variances([1.0, 1.0, 1.0, 1.0], 2), 2.0, rtol=1e-10)
    from scipy import integrate
    ref = integrate.dblquad(lambda a, b: max(0.0, min(2 / a, 3 / b) - 1.0), 0, 1, 0, 1, epsabs=1e-10)[0]
    assert math.isclose(priority_variances([1.0, 2.0, 3.0], 2)[0], ref, rel_tol=1e-6)
    assert np.all(priority_variances([1.0, 2.0], 2) == 0) and np.all(np.isinf(priority_variances([1.0, 2.0], 1)))
    with pytest.raises(ValueError, match="positive finite"):
        priority_variances([1.0, -1.0], 1)


def test_threshold_and_ht_variance_closed_forms():
    assert threshold_total_variance([1.0, 1.0], 1) == pytest.approx(2.0)
    assert ht_variance([1.0, 2.0], [0.5, 1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pi must be"):
        ht_variance([1.0], [0.0])


def test_countsketch_variance_by_enumerating_every_hash_and_sign():
    x, m = np.array([1.0, -2.0, 0.5]), 2
    vals = []
    for h in itertools.product(range(m), repeat=3):
        for sig in itertools.product((-1.0, 1.0), repeat=3):
            b = np.zeros(m)
            np.add.at(b, list(h), np.array(sig) * x)
            vals.append(b @ b)
    vals = np.array(vals)
    assert vals.mean() == pytest.approx(x @ x)
    assert vals.var() == pytest.approx(countsketch_variance(x, m))
    g = np.random.default_rng(0)
    assert countsketch_norms(x, m, 5, g).shape == (5,)


def test_amm_identity_by_enumeration_and_bound_above_it():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 2))  # X = Aᵀ (d=3 x n=3), W = B
    X = A.T
    p = optimal_pairs(X, B)
    # s = 1: one pair k with probability p_k, CR = A^(k) B_(k) / p_k
    exact = sum(p[k] * np.sum((A @ B - np.outer(A[:, k], B[k]) / p[k]) ** 2) for k in range(3))
    assert amm_identity(X, B, p, 1) == pytest.approx(exact)
    assert amm_identity(X, B, p, 1) <= amm_bound(X, B, 1)


def test_leverage_and_sensitivity_helpers():
    U, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((50, 3)))
    assert leverage_probabilities(U).sum() == pytest.approx(1.0)
    assert embedding_bound(3, 10, 0.5) == 1.0 and embedding_bound(3, 10**4, 0.5) < 1e-10
    A = np.abs(np.random.default_rng(3).standard_normal((20, 4)))
    assert sensitivities(A, np.ones(20)).sum() >= 1.0  # S >= 1: the terms Y_t <= S z
    with pytest.raises(ValueError, match="non-negative"):
        sensitivities(-A, np.ones(20))


def test_leverage_frobenius_unseen_mass_by_enumerating_every_outcome():
    """E[stat] − E[stat | no rare row drawn], both by enumerating every Algorithm-1 outcome, equals the
    closed form the engine adds to LEV-frob's trials (coherent U: leverages 1e-3 to 0.5)."""
    from sketchbound.exact import outcomes_algorithm1
    from sketchbound.library.leverage import _frob, _frob_unseen
    g = np.random.default_rng(4)
    U, _ = np.linalg.qr(g.standard_normal((7, 2)) * np.exp(1.5 * g.standard_normal(7))[:, None])
    p, s = leverage_probabilities(U), 3
    masks, probs = outcomes_algorithm1(p, s)
    vals = _frob(U, None, masks)
    assert np.dot(probs, vals) == pytest.approx(2 / s, rel=1e-12)  # (r² − r)/s
    for rare in (p < np.sort(p)[2], p < np.sort(p)[5]):
        none = ~np.any(masks[:, rare] > 0, axis=1)
        cond = np.dot(probs[none], vals[none]) / probs[none].sum()
        assert _frob_unseen(U, None, p, s, rare) == pytest.approx(2 / s - cond, rel=1e-9, abs=1e-12)


def test_event_claims_are_decided_by_the_exact_interval_past_their_rare_rows():
    r = run_check(entry("LEV-embed").claim, alpha=ALPHA)
    assert r.verdict == "holds" and "Clopper" in r.rests_on and "no stratification" in r.rests_on
    assert r.ci_high == pytest.approx(1 - (ALPHA / 9 / 2) ** (1 / r.trials), rel=1e-9)  # 0 events, 9 looks


def test_every_entry_has_the_engine_claim_shape():
    """One entry shape: each claim names a law of the engine (drawn by the engine from its own stream with
    the core's samplers and sketches), on fixed data of its instance factory, with a statistic (X, w, M)."""
    from sketchbound.laws import MASK_LAWS, SKETCH_LAWS, check_law
    laws = {e.claim.mask_law for e in ENTRIES}
    assert {"algorithm1", "bernoulli", "priority", "countsketch", "gaussian"} <= laws <= set(MASK_LAWS)
    for e in ENTRIES:
        c = e.claim
        check_law(c)
        assert c.scenario["x_mode"] == "fixed" and c.instance_factory is not None, c.id
        assert bool(getattr(c.statistic, "sketch", False)) == (c.mask_law in SKETCH_LAWS), c.id


# ------------------------------------------------------------------------------------------------
# verdicts on the default scenarios (the run `validate --library` makes), and perturbations caught
# ------------------------------------------------------------------------------------------------
_FAST = {"DKM06-frob", "DKM06-beta", "DKM06-identity", "SENS-unbiased", "SENS-prob", "LEV-embed", "LEV-frob",
         "HT-unbiased", "HT-var", "PRI-unbiased", "PRI-szegedy", "PRI-threshold", "CS-mean", "JL-mean"}


@pytest.mark.parametrize("cid", [pytest.param(c, marks=() if c in _FAST else pytest.mark.slow) for c in LIBRARY_IDS])
def test_default_verdict_holds(cid):
    r = run_check(entry(cid).claim, alpha=ALPHA)
    assert r.verdict == "holds", (cid, r.estimate, r.ci_low, r.ci_high, r.exact, r.bound, r.note)
    if r.exact is not None and r.relation == "=" and r.components == 1:
        assert r.ci_low <= r.exact <= r.ci_high


def test_same_seed_same_result_for_a_law_claim():
    c = entry("CS-mean").claim
    a, b = (run_check(c, seed=5, alpha=ALPHA, max_trials=2000) for _ in range(2))
    assert (a.estimate, a.ci_low, a.verdict) == (b.estimate, b.ci_low, b.verdict)
    assert run_check(c, seed=6, alpha=ALPHA, max_trials=2000).estimate != a.estimate


def test_ht_variance_times_095_is_violated():
    c = entry("HT-var").claim
    wrong = dataclasses.replace(c, exact=lambda i, sc: 0.95 * c.exact(i, sc))
    r = run_check(wrong, alpha=ALPHA)
    assert r.verdict == "violated", (r.estimate, r.ci_low, r.ci_high, r.exact)


def test_perturbed_bounds_are_violated():
    # the Frobenius bound scaled to 0.9x the exact expectation (DKM06), the embedding bound to 0 (an
    # event that does happen at s = 20)
    c = entry("DKM06-frob").claim
    r = run_check(c, alpha=ALPHA, bound_override=lambda i, sc: 0.9 * c.exact(i, sc))
    assert r.verdict == "violated"
    lev = entry("LEV-embed").claim
    r = run_check(lev, claim_scenario(lev, s=20), alpha=ALPHA, bound_override=lambda i, sc: 0.05)
    assert r.verdict == "violated", (r.estimate, r.ci_low)


def test_leverage_frobenius_exact_value_scaled_by_095_is_violated():
    c = entry("LEV-frob").claim
    r = run_check(dataclasses.replace(c, exact=lambda i, sc: 0.95 * c.exact(i, sc)), alpha=ALPHA)
    assert r.verdict == "violated", (r.estimate, r.ci_low, r.ci_high, r.exact)


def test_priority_threshold_bound_scaled_below_the_exact_value_is_violated():
    c = entry("PRI-threshold").claim
    r = run_check(c, alpha=ALPHA, bound_override=lambda i, sc: 0.95 * c.exact(i, sc))
    assert r.verdict == "violated"


def test_report_has_one_section_per_claim_with_source_and_command():
    rs = [run_check(entry(cid).claim, alpha=ALPHA) for cid in ("DKM06-frob", "SENS-prob")]
    md = library_markdown(rs, {"command": "python -m sketchbound.validate --library --save"})
    for cid in ("DKM06-frob", "SENS-prob"):
        assert f"## {cid}:" in md and f"--lemma {cid} --seed 0" in md
    assert "Assumptions:" in md and "Source:" in md and "Clopper" in md
    assert zero_event_upper(1000, 0.01) == pytest.approx(1 - 0.01 ** (1 / 1000))


@pytest.mark.slow
def test_validate_library_cli_all_hold(tmp_path):
    r = _main("--library", "--no-progress", "--save", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    md = (tmp_path / "library.md").read_text()
    assert all(f"## {cid}:" in md for cid in LIBRARY_IDS)
    assert not set(LIBRARY_IDS) & set(claim_ids())
