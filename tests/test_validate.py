"""The validator: verdicts come from measurement, the engine has power, the CLI behaves."""
import contextlib
import io
import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from sketchbound.claims import CLAIMS, get_claim, get_claims
from sketchbound.montecarlo import claim_scenario, run_check
from sketchbound.scenarios import Scenario
from sketchbound import validate

SMALL = dict(d=32, n=8, s=4)


def small(cid, **kw):
    return claim_scenario(get_claim(cid), **{**SMALL, **kw})


def test_registry_is_complete_and_declarative():
    ids = {c.id for c in CLAIMS}
    assert {"4.1", "4.2", "4.3", "4.3b", "4.4", "4.5", "4.5c", "B.1", "B.2", "5.1", "5.2",
            "4.2-exact", "4.2-corrected", "4.4-datafree-exact", "4.4-datafree"} <= ids
    for c in CLAIMS:
        assert c.relation in ("=", "<=") and c.statement and c.quantity
        assert (c.bound is not None) == (c.relation == "<=")
    assert [c.id for c in get_claims("4.3")] == ["4.3", "4.3b"]
    assert [c.id for c in get_claims("lemma 4.5")] == ["4.5", "4.5c"]
    assert [c.id for c in get_claims("b1")] == ["B.1"]
    with pytest.raises(ValueError, match="unknown lemma"):
        get_claims("9.9")


@pytest.mark.parametrize("cid", ["4.3b", pytest.param("4.4", marks=pytest.mark.slow)])  # 4.4: 3.5 s, in the slow suite
def test_wrong_bound_is_reported_violated_with_high_power(cid):
    """Inject bound = 0.9 x (true expected error): the engine must say 'violated' nearly always."""
    claim = get_claim(cid)
    seeds = range(20)
    verdicts = [run_check(claim, small(cid), seed=sd, bound_override=lambda i, sc: 0.9 * claim.exact(i, sc),
                          max_trials=16000 if cid == "4.3b" else 4000, estimator="plain").verdict for sd in seeds]
    assert verdicts.count("violated") >= 19, verdicts


def test_wrong_exact_value_is_reported_violated():
    """An equality with a 10% wrong 'exact' value is caught."""
    claim = get_claim("4.1")
    bad = type(claim)(**{**claim.__dict__, "exact": lambda i, sc: 1.1 * get_claim("4.1").exact(i, sc)})
    verdicts = [run_check(bad, small("4.1"), seed=sd).verdict for sd in range(10)]
    assert verdicts.count("violated") == 10


@pytest.mark.slow
def test_true_claims_rarely_violated_over_many_seeds():
    """False-violation rate of a true equality and a true bound over 60 seeds at alpha = 0.05:
    expected <= 3 each; the bound is loose so seeds must also reach 'holds'."""
    for cid in ("4.1", "4.4"):
        vs = [run_check(get_claim(cid), small(cid), seed=sd, alpha=0.05, max_trials=None if cid == "4.1" else 8000).verdict
              for sd in range(60)]
        assert vs.count("violated") <= 6, (cid, vs)
        assert vs.count("holds") >= 50, (cid, vs)


def test_exact_mode_agrees_with_monte_carlo():
    """Same scenario, both modes: same verdicts (exact mode has no noise on fixed-X claims)."""
    for cid in ("4.1", "4.3", "4.3b", "B.1", "B.2", "4.2"):
        sc = claim_scenario(get_claim(cid), d=4, n=3, s=3)
        ex = run_check(get_claim(cid), sc, seed=1, exact=True, max_trials=2000)
        mc = run_check(get_claim(cid), sc, seed=1, max_trials=256000, estimator="plain")
        assert ex.verdict == mc.verdict or "inconclusive" in (mc.verdict,), (cid, ex.verdict, mc.verdict)
        if ex.mode == "exact":
            assert ex.verdict == "holds"


def test_lemma_4_2_measured_violation_matches_closed_form():
    """The finding: Lemma 4.2's bound fails; the measured mean agrees with μ_n²(||w0||₁² − ||w0||²)/s."""
    r = run_check(get_claim("4.2"), small("4.2"), seed=0, max_trials=4000)
    assert r.verdict == "violated" and r.effect > 2
    assert r.ci_low <= r.exact <= r.ci_high


def test_deterministic_section5_identities_hold():
    for cid in ("5.1", "5.2"):
        r = run_check(get_claim(cid), small(cid), seed=3)
        assert r.verdict == "holds" and r.estimate < 1e-10


def test_same_seed_same_result():
    a = run_check(get_claim("4.3"), small("4.3"), seed=5)
    b = run_check(get_claim("4.3"), small("4.3"), seed=5)
    assert a.as_dict() == b.as_dict()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sketchbound.validate", *args], capture_output=True, text=True, timeout=600)


def _main(*args):
    """``validate.main`` in-process (the CLI's behaviour without a 2 s interpreter start per case)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = validate.main(list(args))
        except SystemExit as e:
            rc = e.code
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.mark.parametrize("args,msg", [
    (["--lemma", "9.9"], "unknown lemma"),
    (["--lemma", "4.1", "--s", "0"], "--s"),
    (["--lemma", "4.1", "--d", "0"], "--d"),
    (["--lemma", "4.1", "--d", "abc"], "--d"),
    (["--lemma", "4.1", "--s", "3,x"], "--s"),
    (["--lemma", "4.1", "--alpha", "2"], "--alpha"),
    ([], "say which claims"),
])
def test_cli_bad_input_exits_2_with_one_line(args, msg):
    r = _main(*args, "--no-progress")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr
    assert r.stdout == ""


def test_cli_exact_mode_too_large_exits_2():
    r = _main("--lemma", "4.1", "--exact", "--d", "400", "--s", "40", "--no-progress")
    assert r.returncode == 2 and "enumeration" in r.stderr


@pytest.mark.slow
def test_cli_json_save_plot(tmp_path):
    out = tmp_path / "val"
    png = tmp_path / "p.png"
    r = _cli("--lemma", "4.4", "--d", "32", "--n", "8", "--s", "2,4,8", "--json", "--save", str(out), "--plot", str(png))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 3
    for row in rows:
        for k in ("claim", "scenario", "relation", "verdict", "estimate", "ci_low", "ci_high", "exact", "bound", "trials", "seed"):
            assert k in row
        assert row["claim"] == "4.4" and row["verdict"] == "holds"
    for ext in ("csv", "json", "md"):
        assert (out / f"4.4.{ext}").stat().st_size > 0
    assert png.stat().st_size > 0
    assert not list(out.glob(".*tmp")) and not list(out.glob(".build.*"))
    saved = json.loads((out / "4.4.json").read_text())
    assert all(row["estimator"] == "rao-blackwell" and row["depends_on"] == ["B.1", "B.2", "4.3"] and row["chain"]
               for row in saved)


def test_cli_violation_exit_code_and_list():
    r = _main("--lemma", "4.2", "--d", "16", "--n", "4", "--s", "2", "--no-progress")
    assert r.returncode == 1 and "VIOLATED" in r.stdout
    r = _main("--list")
    assert r.returncode == 0 and "Theorem 4.4" in r.stdout


@pytest.mark.slow  # one of the longest default tests; CI runs the slow suite
def test_search_finds_smallest_lemma_4_2_counterexample():
    from sketchbound.search import search
    out = search(get_claim("4.2"), budget=60, seed=0, x_trials=100)
    assert out["violations_found"] > 0
    assert out["smallest_scenario"]["d"] <= 4
    assert out["confirmation"]["verdict"] == "violated"
    out = search(get_claim("4.4"), budget=20, seed=0, x_trials=50)
    assert out["worst_score"] < 1


# ---- bad input is one line and exit 2, before any work ----------------------------------
@pytest.mark.parametrize("args,msg", [
    (["--lemma", "5.1", "--save", "/proc/x"], "--save"),
    (["--lemma", "5.1", "--save", ""], "--save"),
    (["--lemma", "4.2", "--search", "--save", "x"], "not supported with --search"),
    (["--lemma", "4.2", "--search", "--plot", "x.png"], "not supported with --search"),
    (["--lemma", "4.2", "--search", "--exact"], "not supported with --search"),
    (["--lemma", "4.4", "--plot", "x.txt"], "--plot"),
    (["--lemma", "6.2", "--width", "1", "--n", "1"], "NTK Gram matrix"),
    (["--lemma", "4.1", "--width", "3"], "--width"),
    (["--lemma", "6.2", "--d", "30"], "--d does not apply"),
    (["--lemma", "4.1", "--estimator", "magic"], "--estimator"),
])
def test_cli_more_bad_input_exits_2_with_one_line(args, msg):
    r = _main(*args, "--no-progress")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_cli_help_lists_exit_codes():
    r = _main("--help")
    assert r.returncode == 0 and "exit status" in r.stdout
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"  {code}" in r.stdout


def test_decisive_edge_cases():
    """d = 1: the error is exactly 0 (enumerated, holds); n = 1 with X̃ independent: E[1/χ_1] = ∞, so
    the closed form is infinite and the bound fails (violated, no sampling, flagged as outside 4.4's
    hypotheses)."""
    r = run_check(get_claim("4.3"), claim_scenario(get_claim("4.3"), d=1), seed=0)
    assert r.verdict == "holds" and r.estimator == "enumeration" and r.estimate == 0.0
    r = run_check(get_claim("4.4"), claim_scenario(get_claim("4.4"), x_tilde="independent", n=1), seed=0)
    assert r.verdict == "violated" and r.estimator == "closed-form" and r.exact == float("inf")
    assert not r.within_hypotheses


def test_theorem_6_2b_outside_hypotheses_is_not_holds():
    """n > d makes J₀J₀ᵀ singular (λ_min <= 0): 6.2b must not say holds."""
    c = get_claim("6.2b")
    r = run_check(c, claim_scenario(c, width=2, n=32, steps=5), seed=0)
    assert r.extra["constants"]["lambda_min"] <= 1e-12
    assert r.verdict == "inconclusive" and not r.within_hypotheses and "outside the statement's hypotheses" in r.note


def test_killed_save_leaves_old_files(tmp_path, monkeypatch):
    """A --save that dies half-way leaves the folder as it was (the set is built in a temp dir)."""
    from sketchbound import report
    out = tmp_path / "v"
    out.mkdir()
    (out / "4.1.json").write_text("old")
    real = report.save_reports

    def dying(results, outdir, meta=None):
        real(results[:1], outdir, meta)
        raise KeyboardInterrupt
    monkeypatch.setattr(report, "save_reports", dying)
    with pytest.raises(SystemExit):
        validate.main(["--lemma", "4.1", "--lemma", "5.1", "--save", str(out), "--no-progress", "--d", "16", "--n", "4"])
    assert (out / "4.1.json").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["4.1.json"]


def test_cli_process_bad_input_is_one_line_without_traceback():
    """The real process (not just main()): a bad claims file and an unwritable --save are one line, exit 2."""
    r = _cli("--claims-from", "/nonexistent/claims.py", "--all", "--no-progress")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "/nonexistent/claims.py" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_search_prints_a_readable_line_and_json_on_request(capsys):
    from sketchbound import validate
    assert validate.main(["--lemma", "4.2", "--search", "--budget", "20"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("4.2: ") and "smallest counterexample d=3" in out[0]
    assert validate.main(["--lemma", "4.2", "--search", "--budget", "20", "--json"]) == 1
    import json
    rep = json.loads(capsys.readouterr().out)
    assert rep[0]["claim"] == "4.2" and rep[0]["smallest_scenario"]["d"] == 3


def test_inconclusive_prints_its_reason_and_the_trials_that_would_decide_it():
    """A claim run too short to decide (exit 3) says why, and how many trials (or what precision) would
    decide it, computed from the run's own variance estimate."""
    import re

    args = ["--lemma", "4.3", "--estimator", "plain", "--trials", "1000", "--batch", "1000", "--precision", "0.001",
            "--d", "32", "--n", "8", "--s", "4", "--no-progress"]
    r = _main(*args)
    assert r.returncode == 3
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("?? ")]
    assert len(lines) == 2 and all("is inconclusive: the " in ln and "interval [" in ln for ln in lines)
    res = {d["claim"]: d for d in json.loads(_main(*args, "--json").stdout)}
    for cid, d in res.items():
        assert d["verdict"] == "inconclusive" and d["reason"] in r.stdout
        n, h = d["trials"], (d["ci_high"] - d["ci_low"]) / 2
        if d["relation"] == "<=":  # separate the bound from the closed form: half-width -> bound - exact
            N = int(re.search(r"pass --trials (\d+)\)", d["reason"]).group(1))
            need = n * (h / abs(d["bound"] - d["exact"])) ** 2
        else:  # the equality: half-width -> precision * |exact|, or the precision that holds now
            N = int(re.search(r"pass --trials (\d+)\)", d["reason"]).group(1))
            need = n * (h / (0.001 * abs(d["exact"]))) ** 2
            p = float(re.search(r"--precision ([0-9.e-]+)\)", d["reason"]).group(1))
            assert p == pytest.approx((abs(d["estimate"] - d["exact"]) + h) / abs(d["exact"]), rel=0.05)
        assert need <= N <= 2 * need + 100, (cid, N, need)  # the t-quantile grows with the looks N trials take


def test_every_inconclusive_path_has_a_reason():
    from sketchbound.montecarlo import withhold_dependents
    c = get_claim("6.2b")
    r = run_check(c, claim_scenario(c, width=2, n=32, steps=5), seed=0)  # outside the hypotheses
    assert r.verdict == "inconclusive" and r.reason.startswith("inconclusive: the scenario is outside")
    a = run_check(get_claim("4.3"), small("4.3"), seed=0)
    a.verdict, a.claim = "violated", "X"
    b = run_check(get_claim("4.3b"), small("4.3b"), seed=0)
    b.depends_on = ["X"]
    withhold_dependents([a, b])
    assert b.verdict == "inconclusive" and "leans on X" in b.reason


_DEFECTS = '''
import numpy as np
from sketchbound.claims import Claim, Statistic, register, ERROR
base = dict(name="n", statement="s", quantity="q", scenario=dict(x_mode="fixed", x_tilde="same", d=3, n=2, s=1))
def boom(X, w, M):
    raise RuntimeError("boom")
register(Claim(id="raises", relation="<=", statistic=Statistic("boom", boom), bound=lambda i, sc: 1.0, **base))
register(Claim(id="nan-exact", relation="=", exact=lambda i, sc: float("nan"), **base))
register(Claim(id="bad-shape", relation="<=", statistic=lambda X, w, M: np.ones(36), bound=lambda i, sc: 1.0, **base))
register(Claim(id="my-law", relation="<=", statistic=Statistic("mine", lambda X, w, M: (M**2).sum(axis=1)),
               exact=lambda i, sc: 1.0, bound=lambda i, sc: 2.0, exact_from=("B.1", "B.2", "4.3"), **base))
'''


@pytest.mark.parametrize("cid, msg", [
    ("raises", "claim 'raises': its statistic raised RuntimeError: boom"),
    ("nan-exact", "claim 'nan-exact': its exact returned nan"),
    ("bad-shape", "its statistic must return shape"),
    ("my-law", "does not cover its statistic 'mine'"),
])
def test_defective_user_claims_are_one_line_exit_2(tmp_path, cid, msg):
    """A statistic that raises, a NaN exact value, a wrong output shape (at a size small enough to
    enumerate: no silent switch to enumeration), exact_from naming claims that do not cover the claim's
    statistic: one line, exit 2 — never a traceback, a verdict or exit 1."""
    from sketchbound.claims import unregister
    f = tmp_path / "defects.py"
    f.write_text(_DEFECTS)
    try:
        r = _main("--claims-from", str(f), "--lemma", cid, "--no-progress")
    finally:
        for c in ("raises", "nan-exact", "bad-shape", "my-law"):
            unregister(c)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr and "Traceback" not in r.stderr
    assert "outcomes" not in r.stderr


def test_d1_n1_independent_lemma_4_4_is_zero_not_an_error():
    """m ≡ 1 when d = 1: the truth is 0 whatever ν_1 = ∞ (exit 0, not 2)."""
    r = _main("--lemma", "4.4", "--x-tilde", "independent", "--n", "1", "--d", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert get_claim("4.4").exact is not None
    res = run_check(get_claim("4.4"), claim_scenario(get_claim("4.4"), x_tilde="independent", n=1, d=1), seed=0)
    assert res.exact == 0.0 and res.verdict == "holds"


def test_claims_from_help_says_it_executes_the_file():
    help_text = validate.build_parser().format_help()
    assert " ".join(help_text.split()).lower().count("executed as python code with your privileges") == 1


def test_identical_draws_are_made_once_and_change_nothing():
    """Checks that would draw the same values (same seed, statistic, law and scenario: 4.5 and 4.5c) draw
    them once; every result is field for field the one a run without the cache gives, and a check that
    differs in anything the draws depend on (seed, claim's statistic) draws afresh."""
    from dataclasses import asdict, replace

    from sketchbound import _draw_cache
    from sketchbound.claims import Statistic

    ids = ("4.5", "4.5c", "4.3", "4.3b")

    def run(cid, seed=3, claim=None):
        return asdict(run_check(claim or get_claim(cid), small(cid), seed=seed, max_trials=4000))
    _draw_cache.clear()
    shared = [run(c) for c in ids]
    held = len(_draw_cache._CACHE)
    assert held > 0 and run("4.5c") == shared[1] and len(_draw_cache._CACHE) == held  # a hit
    fresh = []
    for c in ids:
        _draw_cache.clear()
        fresh.append(run(c))
    assert shared == fresh
    other = run("4.5", seed=4)
    assert other["estimate"] != shared[0]["estimate"] and len(_draw_cache._CACHE) > 1
    st = get_claim("4.5").statistic
    twice = Statistic(st.name, st.fn, given_x=lambda *a: 2 * st.given_x(*a), depends_on=st.depends_on)
    doubled = run("4.5", claim=replace(get_claim("4.5"), statistic=twice))
    assert doubled["estimate"] == pytest.approx(2 * shared[0]["estimate"])


def test_validation_readme_is_the_generators_output():
    """validation/README.md is what `validate --all --save` writes: a row per claim of --all, the
    reliability section rendered from validation/reliability.json, and NOTES.md verbatim."""
    from pathlib import Path

    from sketchbound.library import library_registered
    from sketchbound.report import reliability_section

    root = Path(__file__).resolve().parents[1] / "validation"
    text = (root / "README.md").read_text()
    with library_registered():
        ids = [c.id for c in validate.select_claims(None, True)]
    rows = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines() if line.startswith("| ") and " | **" in line]
    assert rows == ids  # every claim of --all, in the order --all checks them (bridge-va included)
    rel = "\n".join(reliability_section(json.loads((root / "reliability.json").read_text())))
    assert rel in text
    assert (root / "NOTES.md").read_text() in text
