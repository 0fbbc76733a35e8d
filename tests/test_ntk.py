"""Theorem 6.2 machinery (sketchbound.ntk, numpy only) and its claims 6.2 / 6.2b in the validator."""
import json

import numpy as np
import pytest

from sketchbound import ntk
from sketchbound.claims import get_claim, get_claims
from sketchbound.montecarlo import claim_scenario, run_check
from sketchbound.theory import lemma_4_3_bound, lemma_4_3_exact
from sketchbound import validate


def test_jacobian_matches_finite_differences():
    g = np.random.default_rng(0)
    X, _ = ntk.make_batch(5, 3, g)
    th = ntk.init_mlp(3, 7, g)
    J = ntk.mlp_jacobian(th, X, 7)
    assert J.shape == (5, ntk.param_count(3, 7)) == (5, 28)
    h = 1e-6
    fd = np.stack([(ntk.mlp_forward(th + h * e, X, 7) - ntk.mlp_forward(th - h * e, X, 7)) / (2 * h)
                   for e in np.eye(th.size)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-7)
    # linearised features at θ equal f(θ) for this positively homogeneous net (Euler): J(θ)θ = 2 f(θ)
    np.testing.assert_allclose(J @ th, 2 * ntk.mlp_forward(th, X, 7), rtol=1e-10)


def test_gd_converges_and_constants_are_consistent():
    run = ntk.mlp_run(d_in=4, n=8, width=128, steps=50, seed=1)
    c = ntk.estimate_constants(run)
    assert run.loss[-1] < 0.1 * run.loss[0]
    assert c["lr"] <= c["eta_critical"] and c["K"] >= max(1.0, c["K_jac_norm"], c["K_jac_lipschitz"])
    assert c["lambda_min"] > 0 and np.isclose(c["R0"], np.sqrt(2 * run.loss[0]))
    # K from the trajectory bounds every recorded Jacobian norm
    assert max(run.jac_norm) <= c["K"]


def test_chain_is_monotone_and_ends_in_the_theorem():
    run = ntk.mlp_run(d_in=4, n=8, width=64, steps=30, seed=2)
    c = ntk.estimate_constants(run)
    s = 30
    ch = ntk.theorem_6_2_chain(run.J0, run.Jt, run.theta0, run.theta_t, s, K=c["K"], lam_min=c["lambda_min"], R0=c["R0"])
    v = ch["values"]
    assert all(ch["verdicts"][k] == "holds" for k in ntk.CHAIN_STEPS[1:]), ch["verdicts"]
    assert np.isclose(v["exact"], lemma_4_3_exact(run.Jt.T, run.J0.T, run.theta0, run.theta_t, s))
    assert np.isclose(v["lemma43"], lemma_4_3_bound(run.Jt.T, run.J0.T, run.theta0, run.theta_t, s))
    assert v["final"] == ntk.theorem_6_2_bound(run.J0, run.theta0, s, c["K"], c["lambda_min"], c["R0"])
    # the 1/s scaling of every step
    ch2 = ntk.theorem_6_2_chain(run.J0, run.Jt, run.theta0, run.theta_t, 2 * s, K=c["K"], lam_min=c["lambda_min"], R0=c["R0"])
    for k in ntk.CHAIN_STEPS:
        assert np.isclose(ch2["values"][k], v[k] / 2)


def test_g4_step_can_fail_and_is_reported():
    """With a deliberately wrong (far too large) λ_min the G.4 radius shrinks and the displacement step must say violated."""
    run = ntk.mlp_run(d_in=4, n=8, width=64, steps=30, seed=2)
    c = ntk.estimate_constants(run)
    ch = ntk.theorem_6_2_chain(run.J0, run.Jt, run.theta0, run.theta_t, 10, K=c["K"], lam_min=1e6, R0=c["R0"])
    assert ch["verdicts"]["g4_displacement"] == "violated" and ch["verdicts"]["g4"] == "violated"


def test_bad_arguments():
    g = np.random.default_rng(0)
    X, y = ntk.make_batch(4, 2, g)
    th = ntk.init_mlp(2, 3, g)
    with pytest.raises(ValueError, match="lr_factor"):
        ntk.train_mlp(X, y, 3, th, 5, lr_factor=1.5)
    with pytest.raises(ValueError, match="steps"):
        ntk.train_mlp(X, y, 3, th, -1)
    with pytest.raises(ValueError, match="width"):
        ntk.param_count(3, 0)


def test_claims_registered_and_engine_measures_them():
    assert [c.id for c in get_claims("6.2")] == ["6.2", "6.2b"]
    sc = claim_scenario(get_claim("6.2"), width=32, steps=20, n=8, d_in=4)
    assert sc.d == 32 * 5 and sc.s == 16
    r = run_check(get_claim("6.2b"), sc, seed=0, max_trials=4000)
    assert r.verdict == "holds"
    assert {"K", "lambda_min", "R0"} <= set(r.extra["constants"]) and "final" in r.extra["chain"]["values"]
    # the measured mean agrees with the closed form (Lemma 4.3 equality with the Jacobians)
    assert abs(r.estimate / r.exact - 1) < 0.15
    # same seed => same instance and numbers
    r2 = run_check(get_claim("6.2b"), sc, seed=0, max_trials=4000)
    assert r2.estimate == r.estimate and r2.extra["constants"] == r.extra["constants"]


def test_engine_catches_a_wrong_bound_on_the_ntk_claim():
    claim = get_claim("6.2")
    sc = claim_scenario(claim, width=32, steps=20, n=8, d_in=4)
    r = run_check(claim, sc, seed=0, max_trials=32000, bound_override=lambda i, s: 0.8 * claim.exact(i, s))
    assert r.verdict == "violated"


def test_cli(capsys):
    rc = validate.main(["--lemma", "6.2", "--width", "16,32", "--steps", "10", "--n", "6", "--d-in", "3",
                        "--trials", "2000", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc in (0, 3) and len(out) == 4
    assert {o["scenario"]["width"] for o in out} == {16, 32}
    assert all("constants" in o["extra"] for o in out)
    rc = validate.main(["--lemma", "6.2b", "--width", "16", "--steps", "10", "--trials", "2000", "--no-progress"])
    text = capsys.readouterr().out
    assert "Theorem 6.2 chain" in text and "estimated constants: K=" in text and "g4 check" in text
    with pytest.raises(SystemExit) as e:
        validate.main(["--lemma", "4.3", "--width", "16"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        validate.main(["--lemma", "6.2", "--width", "0"])
    assert e.value.code == 2
