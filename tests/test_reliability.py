"""The reliability study's CLI and its two tables (false violations, power against a wrong bound)."""
import contextlib
import io

import pytest

from sketchbound import reliability as R
from sketchbound.claims import get_claim


def _main(*args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = R.main(list(args))
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


@pytest.mark.parametrize("args,msg", [
    (["--seeds", "0"], "--seeds"),
    (["--seeds", "x"], "--seeds"),
    (["--alpha", "1.5"], "--alpha"),
    (["--power-factor", "1.2"], "--power-factor"),
    (["--out", "/proc/nope/rel"], "--out"),
])
def test_usage_errors_are_one_line(args, msg):
    rc, err = _main(*args)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and msg in err, err


def test_study_and_power_tables(monkeypatch):
    monkeypatch.setattr(R, "CLAIMS", [get_claim("4.4"), get_claim("4.5")])
    df = R.study(2, progress=False)
    summ = R.summarise(df, 0.01)
    assert list(summ.claim) == ["4.4", "4.5"] and set(summ.estimator) == {"rao-blackwell"}
    assert (summ.violated == 0).all() and summ.true_by_closed_form.all()
    pw = R.power(2, 0.99, progress=False, estimators=("auto",))
    ps = R.summarise_power(pw, 0.99)
    assert set(ps.estimator) == {"rao-blackwell"} and (ps.power == 1.0).all() and (ps.seeds == 2).all()
    with pytest.raises(ValueError, match="factor"):
        R.power(1, 1.5)


def test_update_replaces_only_the_rows_run_now(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "CLAIMS", [get_claim("4.4"), get_claim("4.5")])
    out = str(tmp_path / "rel")
    assert _main("--seeds", "2", "--power-seeds", "0", "--offset-seeds", "0", "--out", out, "--no-progress")[0] == 0
    before = R.pd.read_csv(out + "_raw.csv", dtype={"claim": str})
    assert _main("--claims", "4.5", "--seeds", "1", "--power-seeds", "0", "--offset-seeds", "0", "--update", "--out", out,
                 "--no-progress")[0] == 0
    after = R.pd.read_csv(out + "_raw.csv", dtype={"claim": str})
    assert (after.claim == "4.5").sum() == 1 and (after.claim == "4.4").sum() == 2
    R.pd.testing.assert_frame_equal(after[after.claim == "4.4"].reset_index(drop=True),
                                    before[before.claim == "4.4"].reset_index(drop=True))
    meta = R.json.loads(open(out + ".json").read())["meta"]
    assert "--update" in meta["updates"][0]["command"] and meta["updates"][0]["claims"] == ["4.5"]
    rc, err = _main("--claims", "9.9", "--out", out)
    assert rc == 2 and "--claims" in err


def test_perturbed_closed_form_design_is_not_tautological(monkeypatch):
    """The closed form itself made wrong (x0.97) says "holds" against a bound 0.99 x the truth: the engine
    must not say holds (its exact check against enumeration of the law catches the wrong closed form)."""
    monkeypatch.setattr(R, "CLAIMS", [get_claim("4.3b"), get_claim("4.5")])
    pw = R.power(2, 0.99, progress=False, estimators=("perturbed",), scenario=dict(d=32, n=8, s=4))
    ps = R.summarise_power(pw, 0.99)
    assert set(ps.design) == {"perturbed"} and set(ps.claim) == {"4.3b", "4.5"}
    assert (ps.false_holds == 0).all() and (ps.seeds == 2).all(), ps


def _offsets_behave(summ, offs):
    from scipy import stats

    for design, g in summ.groupby("design"):
        power = g[g.kind == "power"].sort_values("offset")  # most negative first
        assert list(power.offset) == sorted(o for o in offs if o < 0)
        assert (power.rate.diff().dropna() <= 0).all(), power  # rises with the distance below the truth
        assert power.rate.iloc[0] == 1.0 and power.rate.iloc[-1] < 1.0, power
        alarms = g[g.kind == "false alarm"]
        n = int(alarms.seeds.sum())
        assert n > 0 and alarms.violated.sum() <= stats.binom.ppf(0.999, n, 0.01), alarms
        assert (alarms.limit95 > alarms.rate).all() and (power.limit95 <= power.rate).all()


def test_offsets_power_rises_with_the_offset_and_false_alarms_stay_near_alpha():
    """Bounds (1 + offset) x exact on the derived claim 4.3b, its statistic estimated by plain sampling
    alone (no closed form): the further below the truth, the more often `violated`; above it, `violated`
    (a false alarm) no more often than alpha allows (binomial 99.9% quantile). A seed's draws are the
    same at every offset, so the power is monotone exactly."""
    offs = (-0.3, -0.03, -0.01, 0.3)
    df = R.offsets(4, offs, claims=("4.3b",), scenario=dict(d=16, n=8, s=4), progress=False)
    summ = R.summarise_offsets(df, 0.01)
    assert set(summ.estimator) == {"plain"} and (summ.seeds == 4).all()
    _offsets_behave(summ, offs)
    with pytest.raises(ValueError, match="offsets"):
        R.offsets(1, (0.0,))
    with pytest.raises(ValueError, match="claims"):
        R.offsets(1, (0.1,), claims=("4.3",))
    with pytest.raises(ValueError, match="designs"):
        R.offsets(1, (0.1,), designs=("derived",))
    rc, err = _main("--offsets", "2", "--out", "/tmp/never")
    assert rc == 2 and "--offsets" in err and len(err.strip().splitlines()) == 1
    rc, err = _main("--parts", "offsets", "--out", "/tmp/never")
    assert rc == 2 and "--update" in err


@pytest.mark.slow
def test_offsets_rao_blackwell():
    """The same on a Rao-Blackwell claim: Monte-Carlo over X of the closed form given X, against the
    claim's closed form of the expectation over X."""
    offs = (-0.3, -0.02, -0.002, 0.01, 0.3)
    df = R.offsets(6, offs, claims=("4.2-corrected",), scenario=dict(d=16, n=8, s=4), progress=False,
                   designs=("auto",))
    summ = R.summarise_offsets(df, 0.01)
    assert set(summ.estimator) == {"rao-blackwell"} and (summ.seeds == 6).all()
    _offsets_behave(summ, offs)
