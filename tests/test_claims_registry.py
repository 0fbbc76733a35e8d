"""Claims of your own: register one without touching the engine, load one from a file, and refuse a
malformed one with a message naming the file and the problem."""
from pathlib import Path

import numpy as np
import pytest

from sketchbound import claims as registry
from sketchbound.claims import Claim, check_claim, get_claim, load_claims, register, unregister
from sketchbound.montecarlo import claim_scenario, run_check
from test_validate import _main  # noqa: E402  (tests/ is on sys.path; one in-process CLI runner)

AMM = Path(__file__).resolve().parents[1] / "validation" / "examples" / "amm_claims.py"


@pytest.fixture
def clean_registry():
    before = list(registry.CLAIMS)
    yield
    for c in list(registry.CLAIMS):
        if not any(c is b for b in before):
            unregister(c.id)
    assert [c.id for c in registry.CLAIMS] == [c.id for c in before]


def _claim(**kw):
    base = dict(id="my-4.1", name="Lemma 4.1 again", statement="E = (S² − ||Xᵀw0||²)/s", relation="=",
                quantity="E_m error", target="w0", exact=get_claim("4.1").exact, scenario=dict(x_mode="fixed", x_tilde="same"))
    base.update(kw)
    return Claim(**base)


def test_register_a_claim_with_its_own_statistic(clean_registry):
    """A statistic the engine has never seen (4 x the error of w0, a plain lambda) — registered, found
    by id, checked; the same statistic with a wrong exact value is caught."""
    stat = lambda X, w, M: 4.0 * get_claim("4.1").statistic(X, w, M)  # noqa: E731
    c = register(_claim(id="my-scaled", statistic=stat, exact=lambda i, sc: 4.0 * get_claim("4.1").exact(i, sc)))
    assert registry.get_claims("my-scaled") == [c]
    r = run_check(c, claim_scenario(c, d=32, n=8, s=4), seed=0)
    assert r.verdict == "holds" and r.estimator == "plain"
    # the same statistic with a wrong exact value is caught
    bad = register(_claim(id="my-wrong", statistic=stat, exact=lambda i, sc: 3.0 * get_claim("4.1").exact(i, sc)))
    assert run_check(bad, claim_scenario(bad, d=32, n=8, s=4), seed=0).verdict == "violated"
    with pytest.raises(ValueError, match="already registered"):
        register(_claim(id="my-scaled"))
    with pytest.raises(ValueError, match="cannot be unregistered"):
        unregister("4.1")


@pytest.mark.parametrize("kw,msg", [
    (dict(relation="<"), "relation must be"),
    (dict(relation="<="), "needs a bound"),
    (dict(id="a/b"), "claim id must be"),
    (dict(id=""), "claim id must be"),
    (dict(exact=3.0), "exact must be a callable"),
    (dict(statement=""), "statement must be a non-empty string"),
    (dict(scenario=dict(dd=3)), "unknown keys"),
    (dict(scenario=dict(d=0)), "scenario .* is invalid"),
    (dict(target="w1"), "target must be"),
    (dict(max_trials=1), "max_trials"),
    (dict(mask_law="countsketch"), "claim 'my-4.1': mask law 'countsketch' draws sketch matrices .* statistic 'error' "
                                   "takes diagonal masks. Accepted: a Statistic"),
    (dict(mask_law="gaussian"), "mask law 'gaussian' draws sketch matrices"),
    (dict(statistic=registry.SKETCH_OUTPUT), "statistic 'sketched output' takes sketch matrices; mask law 'algorithm1' "
                                             "draws diagonal masks. Accepted with a sketch statistic: mask_law in countsketch"),
    (dict(mask_law="jl"), "mask_law must be one of algorithm1, .*countsketch, gaussian; got 'jl'"),
    (dict(mask_law="gaussian", statistic=registry.SKETCH_OUTPUT, exact_from=("4.3",)),
     "exact_from=\\('4.3',\\) is refused under mask law 'gaussian'"),
])
def test_malformed_claims_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        check_claim(_claim(**kw))


def test_claims_file_errors_name_the_file_and_the_problem(tmp_path, clean_registry):
    raises = tmp_path / "raises.py"
    raises.write_text("raise RuntimeError('boom')\n")
    malformed = tmp_path / "malformed.py"
    malformed.write_text("from sketchbound.claims import Claim, register\n"
                         "register(Claim(id='x1', name='n', statement='s', relation='<', quantity='q'))\n")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    for path, msg in ((tmp_path / "missing.py", "no such file"), (raises, "raised RuntimeError: boom"),
                      (malformed, "relation must be"), (empty, "registers no claim")):
        with pytest.raises(ValueError, match=msg) as e:
            load_claims(path)
        assert str(path) in str(e.value)
        r = _main("--claims-from", str(path), "--all", "--no-progress")
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
        assert str(path) in r.stderr and msg.split(":")[0] in r.stderr
    assert "x1" not in registry.claim_ids()  # a failed load leaves the registry as it was


def test_outside_paper_claim_loaded_from_a_file_and_checked(clean_registry):
    """Drineas-Kannan-Mahoney 2006 (approximate matrix multiplication), shipped in validation/examples."""
    r = _main("--claims-from", str(AMM), "--lemma", "DKM06", "--lemma", "DKM06-exact", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    import json
    rows = {row["claim"]: row for row in json.loads(r.stdout)}
    assert rows["DKM06"]["verdict"] == rows["DKM06-exact"]["verdict"] == "holds"
    assert rows["DKM06"]["estimate"] < rows["DKM06"]["bound"]
    # its exact value equals the enumeration of every outcome at a tiny size (no noise)
    c = get_claim("DKM06-exact")
    e = run_check(c, claim_scenario(c, d=5, n=3, s=3), seed=1, exact=True)
    assert e.verdict == "holds" and e.estimator == "enumeration" and np.isclose(e.estimate, e.exact, rtol=1e-9)
    # and a wrong bound (10% under the truth) is caught
    b = get_claim("DKM06")
    v = run_check(b, claim_scenario(b), seed=0, bound_override=lambda i, sc: 0.9 * b.exact(i, sc))
    assert v.verdict == "violated"


def test_search_uses_the_claim_s_own_instance(clean_registry):
    """--search on a loaded claim draws its instances with the claim's instance_factory (A, B here)."""
    from sketchbound.search import search
    load_claims(AMM)
    out = search(get_claim("DKM06"), budget=12, seed=0)
    assert out["violations_found"] == 0 and 0 < out["worst_score"] < 1


def test_bridge_claim_is_listed_holds_and_has_power():
    """``validate --lemma bridge`` runs the variance-aware optimality claim (listed by --list) and it holds
    decisively on its default scenario; the same claim with Algorithm 1 drawing from the uniform law
    (β = 0, a competitor ~10% worse than the best one) is violated on every seed tried."""
    import dataclasses
    import json

    from sketchbound.probabilities import uniform_probabilities

    assert "bridge-va" in _main("--list").stdout
    r = _main("--lemma", "bridge", "--json", "--no-progress")
    row, = json.loads(r.stdout)
    assert row["claim"] == "bridge-va" and row["verdict"] == "holds" and row["ci_high"] < row["bound"]
    assert abs(row["estimate"] - row["exact"]) <= 0.02 * row["exact"]  # the measured mean sits on the closed form
    c = get_claim("bridge-va")
    wrong = dataclasses.replace(c, probabilities=lambda Xt, w0: uniform_probabilities(w0.shape[0]))
    assert [run_check(wrong, claim_scenario(wrong), seed=sd).verdict for sd in range(3)] == ["violated"] * 3
