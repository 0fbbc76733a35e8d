"""A newcomer's first hour: where the data is, one-line errors for what is missing, progress
and a warning before GPU-sized work on a CPU.

CLI tests call ``main(argv)`` in-process; the one subprocess runs every CLI with torch made
unimportable (``sys.modules["torch"] = None``), as on a machine without the ``dnn`` extra.
"""
from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap

import pytest

import sketchbound.data as data

IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture
def no_defaults(monkeypatch, tmp_path):
    """A fresh machine: no SKETCHBOUND_DATA, no standard location holds anything."""
    monkeypatch.delenv("SKETCHBOUND_DATA", raising=False)
    monkeypatch.setattr(data, "DEFAULT_ROOTS", {k: tuple(str(tmp_path / "nowhere" / k) for _ in v)
                                                for k, v in data.DEFAULT_ROOTS.items()})


def _fake_idx(folder, gz=True):
    """The four IDX files, tiny but valid (the data check reads headers and sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in IDX:
        p = folder / (f + (".gz" if gz else ""))
        dims = (2, 3, 3) if "images" in f else (2,)  # two 3×3 images, two labels
        payload = bytes(2 * 3 * 3 if "images" in f else 2)
        raw = bytes([0, 0, 8, len(dims)]) + b"".join(n.to_bytes(4, "big") for n in dims) + payload
        with (gzip.open if gz else open)(p, "wb") as fh:
            fh.write(raw)
    return folder


# ------------------------------------------------------------------------------------ python -m sketchbound.data
def test_data_check_on_a_fresh_machine(no_defaults, capsys):
    assert data.main([]) == 2
    out, err = capsys.readouterr()
    assert "fashion-mnist  not found" in out and "SKETCHBOUND_DATA unset" in out
    assert "apt-get install dataset-fashion-mnist" in err and "--data-root" in err and err.count("\n") == 1


@pytest.mark.parametrize("layout", ["", "data", "package/data"])
def test_data_check_finds_idx_files_by_flag_and_variable(no_defaults, tmp_path, capsys, monkeypatch, layout):
    root = tmp_path / "fm"
    d = _fake_idx(root / layout if layout else root, gz=layout != "data")
    assert data.main(["--data-root", str(root)]) == 0
    assert f"fashion-mnist  found      {d}" in capsys.readouterr().out
    monkeypatch.setenv("SKETCHBOUND_DATA", str(root))
    assert data.main(["--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    fm = [r for r in rec["datasets"] if r["dataset"] == "fashion-mnist"][0]
    assert fm["found"] and fm["path"] == str(d) and rec["SKETCHBOUND_DATA"] == str(root)


def test_variable_then_subfolder_then_standard_places(no_defaults, tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCHBOUND_DATA", str(tmp_path))
    _fake_idx(tmp_path / "mnist")
    assert data.find_dataset("mnist") == tmp_path / "mnist"
    assert data.candidate_roots("mnist")[:2] == [tmp_path, tmp_path / "mnist"]
    assert data.candidate_roots("mnist", "/x") == [data.Path("/x")]  # --data-root: the only place


def test_one_search_for_the_loaders_too(no_defaults, tmp_path):
    """``dnn.data`` uses the same search and the same one-line message as the check command."""
    dd = pytest.importorskip("sketchbound.dnn.data.datasets")
    assert dd._candidate_roots is data.candidate_roots and dd._missing is data.missing_error
    with pytest.raises(FileNotFoundError) as e:
        dd.load_fashion_mnist()
    msg = str(e.value)
    assert "\n" not in msg and "SKETCHBOUND_DATA" in msg and "python -m sketchbound.data" in msg


def test_the_fixture_and_the_search_agree(fmnist_root):
    """Where the tests find Fashion-MNIST, the CLIs find it too with --data-root."""
    assert data.find_dataset("fashion-mnist", fmnist_root) is not None


# ------------------------------------------------------------------------------------ dnn CLIs: missing data
def test_dnn_run_and_prune_missing_data_one_line_exit_2(tmp_path, capsys):
    pytest.importorskip("torch")
    from sketchbound.dnn.experiments import prune, run

    empty = tmp_path / "empty"
    empty.mkdir()
    common = ["--model", "resnet20", "--dataset", "fashion-mnist", "--method", "synflow", "--density", "0.1",
              "--data-root", str(empty)]
    try:  # a one-line error: returned or raised as SystemExit, exit status 2 either way
        code = run.main([*common, "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fashion-mnist not found" in err and str(empty) in err
    with pytest.raises(SystemExit) as e:
        prune.main(common)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fashion-mnist not found" in err


# ------------------------------------------------------------------------------------ missing torch: one subprocess
CLIS = [  # (module, argv): each must exit 2 with one line naming the extra, without torch
    ("sketchbound.dnn.run", ["--model", "resnet20"]),
    ("sketchbound.dnn.table", ["dnn/configs/table1_fmnist.toml", "--dry-run"]),
    ("sketchbound.dnn.prune", []),
    ("sketchbound.dnn.bench_train", []),
    ("sketchbound.dnn.deep_theory", []),
    ("sketchbound.figures", ["--fig", "1", "--quick", "--out", "OUT"]),
    ("sketchbound.figures", ["--fig", "2", "--quick", "--out", "OUT"]),
    ("sketchbound.figures", ["--fig", "3", "--quick", "--out", "OUT"]),
]


def test_every_cli_without_torch_says_pip_install_in_one_line(tmp_path):
    script = textwrap.dedent(f"""
        import contextlib, io, json, runpy, sys
        sys.modules["torch"] = None  # as if the dnn extra were not installed
        out = []
        for mod, argv in {CLIS!r}:
            argv = [a.replace("OUT", {str(tmp_path / "figs")!r}) for a in argv]
            err = io.StringIO()
            sys.argv = [mod, *argv]
            code = 0
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    runpy.run_module(mod, run_name="__main__", alter_sys=True)
                except SystemExit as e:
                    code = e.code
                except BaseException as e:
                    code = "raised " + type(e).__name__ + ": " + str(e)
            out.append([mod, code, err.getvalue()])
        import sketchbound.dnn  # importing the package itself needs no torch
        try:
            sketchbound.dnn.get_model
        except ModuleNotFoundError as e:
            out.append(["sketchbound.dnn.get_model", 2, str(e) + "\\n"])
        print(json.dumps(out))
    """)
    from sketchbound._docs_check import ROOT

    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(results) == len(CLIS) + 1
    for mod, code, err in results:
        assert code == 2, (mod, code, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (mod, err)
        assert 'pip install "sketchbound[dnn]"' in err, (mod, err)
    assert not (tmp_path / "figs").exists()


def test_the_theory_figure_and_the_data_check_need_no_torch():
    """The torch-free parts must stay torch-free (the architecture test checks imports; this, the CLIs)."""
    from sketchbound._docs_check import ROOT

    code = ("import sys; sys.modules['torch'] = None\n"
            "from sketchbound.figures.__main__ import build_parser, _check_inputs\n"
            "a = build_parser().parse_args(['--fig', 'theory', '--quick', '--out', 'x'])\n"
            "_check_inputs(a)\n"
            "import sketchbound.data as d; d.status(); print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


# ------------------------------------------------------------------------------------ progress and the CPU warning
def test_elapsed_prints_start_and_end_off_a_terminal():
    from sketchbound._progress import elapsed, format_seconds

    buf = io.StringIO()
    with elapsed("mask: synflow", file=buf):
        pass
    lines = buf.getvalue().splitlines()
    assert lines[0] == "mask: synflow ..." and lines[1].startswith("mask: synflow: done in ")
    buf = io.StringIO()
    with elapsed("x", enabled=False, file=buf):
        pass
    assert buf.getvalue() == ""
    assert [format_seconds(s) for s in (5, 600, 7200, 400000)] == ["5 s", "10 min", "2.0 h", "4.6 days"]


def test_cpu_warning_measures_and_estimates(monkeypatch):
    torch = pytest.importorskip("torch")
    from sketchbound.dnn.experiments import cpu_warning as W

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    buf = io.StringIO()
    assert W.warn_if_long_on_cpu([(10, lambda: net, (4,), 3, 8, "tiny")], what="x", hint="y", file=buf) is None
    assert buf.getvalue() == ""  # too small to be timed
    monkeypatch.setattr(W, "seconds_per_step", lambda *a, **k: 2.0)
    est = W.warn_if_long_on_cpu([(18720, lambda: net, (4,), 3, 8, "resnet20 x1")], what="1 run(s) to train",
                                hint="shorten it (--epochs N)", file=buf)
    assert est == 37440.0
    msg = buf.getvalue()
    assert msg.count("\n") == 1 and msg.startswith("warning: ") and "18,720 SGD steps" in msg
    assert "10.4 h" in msg and "--epochs N" in msg and "GPU" in msg
    assert W.seconds_per_step(net, (4,), 3, 8) > 0


def test_python_m_sketchbound_without_arguments_is_a_map(capsys):
    from sketchbound._docs_check import run_command

    r = run_command("python -m sketchbound")
    assert r["exit"] == 0 and "python -m sketchbound.data" in r["output"] and "PyTorch:" in r["output"]
    r = run_command("python -m sketchbound --lemma nope")  # with arguments: the validator, as before
    assert r["exit"] == 2


@pytest.mark.slow  # loads the 60,000 Fashion-MNIST images: ~10 s idle, ~50 s on a loaded 2-core machine
def test_prune_save_is_readable_per_umask(tmp_path, fmnist_root, capsys):
    """``prune --save`` used to leave 0600 files (the atomic writer's temporary file): now the umask rules."""
    pytest.importorskip("torch")
    import os

    from sketchbound.dnn.experiments import prune

    old = os.umask(0o022)
    try:
        out = tmp_path / "m.pt"
        assert prune.main(["--model", "resnet20", "--width", "0.25", "--method", "synflow", "--synflow-rounds", "2",
                           "--density", "0.1", "--data-root", str(fmnist_root), "--save", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
    assert "total" in capsys.readouterr().out
