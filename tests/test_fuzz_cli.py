"""Every numeric flag of every CLI, given a value that is not a finite number, every choice flag given a
value outside its choices, and every output-path flag given an unwritable path, stops at once with one
line on stderr and exit status 2: never a traceback, a NaN carried into the work, or a hang.

The flags are read from each CLI's own argparse parser, so a flag added later is fuzzed automatically.
Each call runs in-process under a time limit (SIGALRM): an accepted bad value that starts the long work
shows up as a timeout and fails the test.
"""
import argparse
import importlib
import signal

import pytest

pytestmark = pytest.mark.slow  # ≈ 450 in-process CLI calls: a few minutes on 2 cores

CLIS = {
    "sketchbound.validate": [],
    "sketchbound.reliability": [],
    "sketchbound.bench": [],
    "sketchbound.figures.__main__": ["--fig", "theory"],
    "sketchbound.dnn.experiments.run": ["--model", "lenet300100", "--dataset", "fashion-mnist"],
    "sketchbound.dnn.experiments.table": ["dnn/configs/table1_fmnist_converged.toml", "--dry-run"],
    "sketchbound.dnn.experiments.prune": ["--model", "resnet20", "--method", "magnitude"],
    "sketchbound.dnn.experiments.bench_train": [],
}
BAD = ["nan", "inf", "abc", "1e400", ""]


def _numeric_flags(parser: argparse.ArgumentParser):
    for a in parser._actions:
        if not a.option_strings or a.nargs == 0 or isinstance(a, argparse._SubParsersAction):
            continue
        t = a.type
        if t in (int, float) or getattr(t, "__name__", "") in ("int", "float") or (
                t is not None and t is not str and _rejects_text(t)):
            yield max(a.option_strings, key=len)


def _rejects_text(t) -> bool:
    try:
        t("abc")
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return True
    return False


class _Got(Exception):
    def __init__(self, parser):
        self.parser = parser


def _parser_of(m):
    """The CLI's parser: ``build_parser()`` where it exists, else the one ``main`` builds (caught at parse time)."""
    if hasattr(m, "build_parser"):
        return m.build_parser()
    orig = argparse.ArgumentParser.parse_args

    def grab(self, *a, **k):
        raise _Got(self)
    argparse.ArgumentParser.parse_args = grab
    try:
        m.main([])
    except _Got as g:
        return g.parser
    finally:
        argparse.ArgumentParser.parse_args = orig
    raise AssertionError(f"{m.__name__}.main never parsed its arguments")


PATH_FLAGS = ("--out", "--save", "--plot", "--runs-dir")


def _other_flags(parser: argparse.ArgumentParser):
    """(flag, bad value) for choice flags (a value outside the choices) and output-path flags (an unwritable path)."""
    for a in parser._actions:
        if not a.option_strings or a.nargs == 0 or isinstance(a, argparse._SubParsersAction):
            continue
        flag = max(a.option_strings, key=len)
        if a.choices is not None:
            yield flag, "zzz-not-a-choice"
        elif flag in PATH_FLAGS:
            yield flag, "/proc/sketchbound-fuzz/x.png" if flag == "--plot" else "/proc/sketchbound-fuzz/x"


def _cases():
    out = []
    for mod, base in CLIS.items():
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        parser = _parser_of(m)
        for flag in _numeric_flags(parser):
            for v in BAD:
                out.append(pytest.param(mod, base, flag, v, id=f"{mod.split('.')[-1]}{flag}={v or 'empty'}"))
        for flag, v in _other_flags(parser):
            out.append(pytest.param(mod, base, flag, v, id=f"{mod.split('.')[-1]}{flag}={v}"))
    return out


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout


@pytest.mark.parametrize("mod,base,flag,value", _cases())
def test_bad_numeric_value_exits_2_with_one_line(mod, base, flag, value, capsys):
    main = importlib.import_module(mod).main
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    try:
        with pytest.raises(SystemExit) as e:
            rc = main(base + [f"{flag}={value}"])
            raise SystemExit(rc)  # a main that returns instead of exiting
    except _Timeout:
        pytest.fail(f"{mod} {flag}={value!r} was accepted and started the long work")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2, (e.value.code, err[-3:])
    assert len(err) == 1 and "Traceback" not in err[0], err
