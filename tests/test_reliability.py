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
    assert _main("--seeds", "2", "--power-seeds", "0", "--out", out, "--no-progress")[0] == 0
    before = R.pd.read_csv(out + "_raw.csv", dtype={"claim": str})
    assert _main("--claims", "4.5", "--seeds", "1", "--power-seeds", "0", "--update", "--out", out, "--no-progress")[0] == 0
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
