"""Every CLI refuses work larger than this machine before allocating it (one line naming the flag, the
value and the limit; ``--force`` skips the check), caps repeat counts with the limit named, and ends on
Ctrl-C with "interrupted" and exit status 130. In-process ``main(argv)`` calls: no subprocess, no torch
import for the core CLIs (the dnn ones are in tests/dnn/test_bad_configs.py and test_runner.py)."""
import argparse
import importlib

import pytest

from sketchbound import bench, validate
from sketchbound._cli import check_budget, human_bytes
from sketchbound.figures import __main__ as figures
from sketchbound.probabilities import memory_limit


def _one_line(capsys, main, argv, code=2):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == code and len(err) == 1 and "Traceback" not in err[0], (e.value.code, err)
    return err[0]


@pytest.mark.parametrize("main,argv,needle", [
    (validate.main, ["--lemma", "4.1", "--n", "1000000000", "--d", "1000000"], "--d 1000000 --n 1000000000 needs ~16.0 PB"),
    (validate.main, ["--lemma", "4.1", "--d", "1000000000"], "--d 1000000000 needs ~2.1 TB"),
    (validate.main, ["--lemma", "6.2", "--width", "100000000"], "--width 100000000 needs ~"),
    (figures.main, ["--fig", "theory", "--quick", "--d", "1000000000000"], "--d 1000000000000 needs ~1.9 PB"),
    (bench.main, ["--d", "10000000000000", "--big-d", "0"], "--d 10000000000000 --big-d 0 needs ~240 TB"),
    (bench.main, ["--big-d", "10000000000000", "--quick"], "--big-d 10000000000000 needs ~120 TB"),
])
def test_too_large_is_refused_before_allocating(capsys, tmp_path, main, argv, needle):
    argv = argv + (["--out", str(tmp_path / "o")] if main is figures.main else [])
    line = _one_line(capsys, main, argv)
    assert needle in line and f"limit {human_bytes(memory_limit())}" in line and "pass --force to try anyway" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("main,argv,needle", [
    (bench.main, ["--repeats", "100000000000"], "--repeats must be an integer >= 1 and <= 10000, got '100000000000'"),
    (figures.main, ["--fig", "1", "--epochs-per-level", "100000"], "--epochs-per-level must be an integer >= 1 and <= 10000"),
    (figures.main, ["--fig", "theory", "--d", "0"], "--d must be an integer >= 1"),
])
def test_repeat_counts_are_capped_with_the_limit_named(capsys, main, argv, needle):
    assert needle in _one_line(capsys, main, argv)


def test_force_skips_the_size_check_and_a_fitting_size_passes(capsys):
    check_budget("demo", "--d 10", 10 ** 30, "p", force=True)  # --force: no exit
    check_budget("demo", "--d 10", 80, "p")  # fits
    with pytest.raises(SystemExit) as e:
        check_budget("demo", "--d 10", float("inf"), "p")  # an estimate past any integer type is refused too
    assert e.value.code == 2 and "--d 10 needs more than 1e308 bytes for p" in capsys.readouterr().err
    assert validate.job_bytes.__doc__ and bench.run_bytes(10, 10) == 8 * 40


CLIS = {  # module: the prog its one line names
    "sketchbound.validate": "python -m sketchbound.validate",
    "sketchbound.bench": "python -m sketchbound.bench",
    "sketchbound.figures.__main__": "python -m sketchbound.figures",
    "sketchbound.data": "python -m sketchbound.data",
    "sketchbound.reliability": "python -m sketchbound.reliability",
    "sketchbound.dnn.experiments.run": "python -m sketchbound.dnn.run",
    "sketchbound.dnn.experiments.table": "python -m sketchbound.dnn.table",
    "sketchbound.dnn.experiments.prune": "python -m sketchbound.dnn.prune",
    "sketchbound.dnn.experiments.bench_train": "python -m sketchbound.dnn.bench_train",
    "sketchbound.dnn.experiments.deep_theory": "python -m sketchbound.dnn.deep_theory",
}


@pytest.mark.parametrize("mod", list(CLIS))
def test_ctrl_c_in_every_cli_is_one_line_and_exit_130(mod, capsys, monkeypatch):
    if ".dnn." in mod:
        pytest.importorskip("torch")
    m = importlib.import_module(mod)

    def interrupt(self, *a, **k):  # Ctrl-C at the first thing every main does
        raise KeyboardInterrupt
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", interrupt)
    assert _one_line(capsys, m.main, [], code=130) == f"{CLIS[mod]}: error: interrupted"
