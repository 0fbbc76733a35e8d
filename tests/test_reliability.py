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
    df = R.study(3, progress=False)
    summ = R.summarise(df, 0.01)
    assert list(summ.claim) == ["4.4", "4.5"] and set(summ.estimator) == {"rao-blackwell"}
    assert (summ.violated == 0).all() and summ.true_by_closed_form.all()
    pw = R.power(3, 0.99, progress=False, estimators=("auto",))
    ps = R.summarise_power(pw, 0.99)
    assert set(ps.estimator) == {"rao-blackwell"} and (ps.power == 1.0).all() and (ps.seeds == 3).all()
    with pytest.raises(ValueError, match="factor"):
        R.power(1, 1.5)
