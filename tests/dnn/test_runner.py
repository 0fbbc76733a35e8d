"""Experiment runner (§7 tables): config ↔ CLI ↔ TOML, run dirs by hash, skipping finished runs, aggregation."""
import json
import math
import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn.experiments import run as R  # noqa: E402
from sketchbound.dnn.experiments import table as T  # noqa: E402
from sketchbound.dnn.experiments.config import RunConfig, to_toml  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "dnn" / "configs"


def test_config_hash_resolves_defaults_and_ignores_data_root():
    a = RunConfig(model="resnet20", dataset="fashion-mnist", method="synflow", density=0.05)
    b = RunConfig(model="ResNet-20", dataset="fmnist", method="synflow", density=0.05, epochs=160, batch_size=128,
                  pad_to=32, data_root="/somewhere")
    assert a.config_hash() == b.config_hash() and a.run_name() == b.run_name()
    assert a.resolved().pad_to == 32 and RunConfig(model="lenet300100", dataset="mnist").resolved().pad_to is None
    assert RunConfig(seed=1).config_hash() != RunConfig(seed=0).config_hash()
    assert RunConfig(mask="threshold").mask == "global"
    assert RunConfig(method="imp", model="vgg19").resolved().imp_rewind == 1000
    assert RunConfig(method="imp", model="resnet20", dataset="cifar100").resolved().imp_rewind == 6000
    with pytest.raises(ValueError, match="density"):
        RunConfig(density=0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        RunConfig(method="obd")
    with pytest.raises(ValueError, match="unknown config keys"):
        RunConfig.from_dict({"modle": "vgg19"})


def test_toml_round_trip(tmp_path):
    cfg = RunConfig(model="vgg19", dataset="cifar100", method="snip", inputs="sparse", mask="randomized",
                    density=0.02, seed=2, epochs=40, data_root="/d \"q\"")
    p = tmp_path / "c.toml"
    p.write_text("[run]\n" + cfg.to_toml())
    assert RunConfig.from_toml(p) == cfg
    d = {"a": 1, "b": [0.1, 0.05], "t": {"x": "é", "y": True}, "v": [{"name": "n1"}, {"name": "n2", "r": {"k/0.1": "1 ± 2"}}]}
    assert tomllib.loads(to_toml(d)) == d


def test_cli_bad_args_exit_2_with_one_line(capsys):
    for argv in (["--density", "1.5"], ["--mask", "bogus"], ["--epochs", "x"], ["--modle", "vgg19"]):
        with pytest.raises(SystemExit) as e:
            R.main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "error" in err
    with pytest.raises(SystemExit) as e:
        T.main(["does-not-exist.toml"])
    assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_paper_configs_parse_and_expand():
    files = sorted(CONFIGS.glob("*.toml"))
    names = {f.stem for f in files}
    assert {"table1", "table2", "table3", "table4", "table5", "table6", "table1_fmnist"} <= names
    for f in files:
        spec = T.load_table(f)
        runs = T.expand(spec)
        by_dir = {}
        for _, _, c in runs:  # two table cells share a run directory only when they are the same run
            assert by_dir.setdefault(c.run_name(), c) == c, f  # (the dense control shown at every density)
    spec = T.load_table(CONFIGS / "table1.toml")
    assert len(T.expand(spec)) == 8 * 2 * 2 * 3 * 3
    ref = spec.variants[0]["reference"]
    assert ref["cifar10/vgg19/0.1"] == "93.01 ± 0.19" and ref["cifar100/resnet20/0.02"] == "23.39 ± 1.04"
    fm = T.load_table(CONFIGS / "table1_fmnist.toml", overrides={"epochs": 8})
    cfgs = [c for _, _, c in T.expand(fm)]
    assert {c.model for c in cfgs} == {"vgg19", "resnet20"} and {c.density for c in cfgs} == {0.1, 0.05, 0.02}
    assert {c.seed for c in cfgs} == {0, 1, 2} and all(c.epochs == 8 and c.pad_to == 32 for c in cfgs)


def _write_cifar10(root: Path, n=40):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        y = rng.integers(0, 10, n)
        x = (rng.integers(0, 100, (n, 3072)) + 15 * y[:, None]).astype(np.uint8)
        with open(d / name, "wb") as f:
            pickle.dump({b"batch_label": b"s", b"labels": y.tolist(), b"data": x, b"filenames": [b"f"] * n}, f)


def _toy_table(tmp_path, root) -> Path:
    spec = {
        "table": {"name": "toy", "title": "toy table", "rows": ["density"]},
        "base": {"dataset": "cifar10", "model": "lenet300100", "width": 0.05, "epochs": 1, "batch_size": 32,
                 "data_root": str(root), "train_subset": 96, "prune_batch_size": 8},
        "grid": {"density": [0.5, 0.2], "seed": [0, 1]},
        "variant": [{"name": "Random", "method": "random", "mask": "global", "reference": {"0.5": "1 ± 0"}},
                    {"name": "Magnitude", "method": "magnitude", "mask": "global"},
                    {"name": "SNIP + normal", "method": "snip", "inputs": "normal", "mask": "global"},
                    {"name": "SynFlow + chi", "method": "synflow", "inputs": "chi", "mask": "global",
                     "synflow_rounds": 2}],
    }
    p = tmp_path / "toy.toml"
    p.write_text(to_toml(spec))
    return p


def test_table_runs_skips_finished_and_aggregates(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root)
    path = _toy_table(tmp_path, root)
    runs = tmp_path / "runs"
    assert T.main([str(path), "--runs-dir", str(runs), "--no-progress", "--out", str(tmp_path / "out")]) == 0
    spec = T.load_table(path)
    cfgs = [c for _, _, c in T.expand(spec)]
    assert len(cfgs) == 16
    for c in cfgs:
        d = c.run_dir(runs)
        res = json.loads((d / "result.json").read_text())
        for k in ("accuracy", "density", "kept_per_layer", "seed", "command", "torch", "device_name", "git_commit", "date"):
            assert k in res
        assert (d / "config.toml").is_file() and (d / "log.txt").is_file() and (d / "checkpoint.pt").is_file()
        assert sum(res["kept_per_layer"].values()) == int(c.density * sum(res["size_per_layer"].values()) + 0.5)
        assert RunConfig.from_dict(json.loads((d / "config.json").read_text())) == c

    # second call: everything is finished, nothing may be trained again
    class NoTraining:
        def __init__(self, *a, **k):
            raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(R, "ConcurrentTrainer", NoTraining)
    mtimes = {c.run_name(): (c.run_dir(runs) / "result.json").stat().st_mtime_ns for c in cfgs}
    assert T.main([str(path), "--runs-dir", str(runs), "--no-progress", "--out", str(tmp_path / "out")]) == 0
    assert mtimes == {c.run_name(): (c.run_dir(runs) / "result.json").stat().st_mtime_ns for c in cfgs}

    # aggregation: overwrite accuracies with known numbers and check mean ± sample std
    known = {}
    for name, row, c in T.expand(spec):
        acc = 10.0 * c.density + 3.0 * c.seed + (5.0 if name == "Magnitude" else 0.0)
        known.setdefault((name, row["density"]), []).append(acc)
        p = c.run_dir(runs) / "result.json"
        res = json.loads(p.read_text())
        res["accuracy"] = acc
        p.write_text(json.dumps(res))
    long = T.collect(spec, runs)
    assert len(long) == 8
    for _, r in long.iterrows():
        vals = known[(r["variant"], r["density"])]
        assert r["mean"] == pytest.approx(np.mean(vals)) and r["std"] == pytest.approx(np.std(vals, ddof=1))
        assert r["n"] == 2
    wide = T.render(spec, long)
    assert list(wide.columns) == ["Random", "Magnitude", "SNIP + normal", "SynFlow + chi"] and list(wide.index) == ["0.5", "0.2"]
    assert wide.loc["0.5", "Magnitude"] == f"{np.mean(known[('Magnitude', 0.5)]):.2f} ± {np.std(known[('Magnitude', 0.5)], ddof=1):.2f}"
    paths = T.write_outputs(spec, long, tmp_path / "out")
    md = paths["md"].read_text()
    assert "| density | Random | Magnitude | SNIP + normal | SynFlow + chi |" in md and "Paper (reference)" in md and "1 ± 0" in md
    assert paths["csv"].read_text().splitlines()[0] == "density,Random,Magnitude,SNIP + normal,SynFlow + chi"

    # a missing seed shows as n/expected
    (cfgs[0].run_dir(runs) / "result.json").unlink()
    long = T.collect(spec, runs)
    row = long[(long["variant"] == "Random") & (long["density"] == 0.5)].iloc[0]
    assert row["n"] == 1 and "(1/2)" in T.render(spec, long).loc["0.5", "Random"]


def test_run_cli_one_run_and_resume_uses_saved_mask(tmp_path, capsys):
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root)
    argv = ["--model", "lenet300100", "--dataset", "cifar10", "--method", "magnitude", "--density", "0.3",
            "--width", "0.05", "--epochs", "2", "--batch-size", "32", "--train-subset", "64", "--data-root", str(root),
            "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--seed", "3"]
    assert R.main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    d = Path(out["run_dir"])
    res = json.loads((d / "result.json").read_text())
    assert res["seed"] == 3 and res["epochs"] == 2 and math.isclose(res["density"], 0.3, abs_tol=1e-3)
    assert res["command"].startswith("python -m sketchbound.dnn.run")
    # simulate a kill after epoch 1: keep mask + checkpoint, drop the result; the rerun resumes
    first_acc = res["accuracy"]
    from sketchbound.dnn.training.checkpoint import load_verified
    ck, _ = load_verified(d / "checkpoint.pt", identity={"kind": "checkpoint", "name": d.name, "seed": 3})
    assert ck["epoch"] == 2
    (d / "result.json").unlink()
    assert R.main(argv) == 0
    res2 = json.loads((d / "result.json").read_text())
    assert res2["accuracy"] == first_acc and res2["resumed_from_epoch"] == 2
    assert "mask: loaded mask.pt" in (d / "log.txt").read_text()


def test_tampered_mask_is_detected_and_named(tmp_path, capsys):
    """A mask.pt replaced by an all-ones mask (a dense network reported as pruned) is refused, by name."""
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root)
    argv = ["--model", "lenet300100", "--dataset", "cifar10", "--method", "magnitude", "--density", "0.3",
            "--width", "0.05", "--epochs", "1", "--batch-size", "32", "--train-subset", "64", "--data-root", str(root),
            "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    assert R.main(argv) == 0
    d = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    (d / "result.json").unlink()
    (d / "checkpoint.pt").unlink()
    masks = {n: torch.ones(3, 3) for n in ("fc1.weight",)}
    torch.save({"masks": masks, "start_step": 0, "init_state": None, "extra": {}}, d / "mask.pt")
    with pytest.raises(SystemExit) as e:
        R.main(argv)
    err = capsys.readouterr().err.strip().splitlines()  # the run's log echo, then one error line
    assert e.value.code == 2 and "Traceback" not in "\n".join(err)
    assert err[-1].startswith("python -m sketchbound.dnn.run: error:") and "mask.pt" in err[-1] and "delete this file" in err[-1]


def test_finished_run_with_missing_data_root_says_so(tmp_path, capsys):
    """data_root is not in the run identity: a finished run is returned (exit 0) and the note says the
    data was not read; a batch larger than the data is refused before the mask step."""
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root)
    argv = ["--model", "lenet300100", "--dataset", "cifar10", "--method", "magnitude", "--density", "0.3",
            "--width", "0.05", "--epochs", "1", "--batch-size", "32", "--train-subset", "64",
            "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    assert R.main(argv + ["--data-root", str(root)]) == 0
    capsys.readouterr()
    assert R.main(argv + ["--data-root", str(tmp_path / "nonexistent")]) == 0
    err = capsys.readouterr().err
    assert "already finished" in err and "was not read" in err
    with pytest.raises(SystemExit) as e:
        R.main([a if a != "32" else "1000" for a in argv[:-3]] + ["--runs-dir", str(tmp_path / "r2"), "--data-root", str(root)])
    assert e.value.code == 2 and "batch_size 1000 exceeds" in capsys.readouterr().err
    assert not list((tmp_path / "r2").glob("*/mask.pt"))  # refused before the mask step


def test_several_tables_train_as_one_pool_and_each_is_written(tmp_path, capsys):
    """Two tables in one call: a run both tables list (same config ⇒ same hash) trains once, each table's
    files are written, and each table equals what its own call would aggregate from the same run files;
    two files naming the same table are refused before any training (exit 2, one line)."""
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root)
    base = {"dataset": "cifar10", "model": "lenet300100", "width": 0.05, "epochs": 1, "batch_size": 32,
            "data_root": str(root), "train_subset": 96}
    a = {"table": {"name": "ta", "rows": ["density"]}, "base": base, "grid": {"density": [0.5], "seed": [0, 1]},
         "variant": [{"name": "Random", "method": "random", "mask": "global"},
                     {"name": "Magnitude", "method": "magnitude", "mask": "global"}]}
    b = {"table": {"name": "tb", "rows": ["density"]}, "base": base, "grid": {"density": [0.5], "seed": [0, 1]},
         "variant": [{"name": "Magnitude", "method": "magnitude", "mask": "global"},
                     {"name": "Magnitude randomized", "method": "magnitude", "mask": "randomized"}]}
    pa, pb = tmp_path / "a.toml", tmp_path / "b.toml"
    pa.write_text(to_toml(a))
    pb.write_text(to_toml(b))
    runs, out = tmp_path / "runs", tmp_path / "out"
    assert T.main([str(pa), str(pb), "--runs-dir", str(runs), "--no-progress", "--out", str(out)]) == 0
    names = {c.run_name() for p in (pa, pb) for _, _, c in T.expand(T.load_table(p))}
    assert len(names) == 6  # 8 cells, the 2 Magnitude runs shared
    logs = [(runs / n / "log.txt").read_text() for n in names]
    assert all(log.count("start:") == 1 for log in logs)  # every run trained exactly once
    text = capsys.readouterr().out
    assert "ta.md" in text and "tb.md" in text
    together = {p: (out / p).read_text() for p in ("ta.md", "tb.md", "ta.csv", "tb.csv")}
    for p in (pa, pb):  # one table at a time, aggregation only: the same files
        assert T.main([str(p), "--runs-dir", str(runs), "--no-train", "--out", str(tmp_path / "one")]) == 0
    assert together == {p: (tmp_path / "one" / p).read_text() for p in together}
    with pytest.raises(SystemExit) as e:
        T.main([str(pa), str(pa), "--runs-dir", str(runs)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "same table 'ta'" in err[0]


def _lock_held_by_sleep(tmp_path, argv):
    """A run directory whose lock names a live process that is no sketchbound run (a reused PID)."""
    import socket
    import subprocess
    import sys
    d = R.build_parser().parse_args(argv)
    from sketchbound.dnn.experiments.config import config_from_args
    run_dir = config_from_args(d).resolved().run_dir(d.runs_dir)
    run_dir.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (run_dir / R.LOCK_FILE).write_text(f"{socket.gethostname()} {sleeper.pid}\n")
    return run_dir, sleeper


def _lock_argv(tmp_path, fmnist_root):
    return ["--model", "lenet300100", "--dataset", "fashion-mnist", "--method", "magnitude", "--no-progress",
            "--runs-dir", str(tmp_path / "runs"), "--data-root", str(fmnist_root), "--train-subset", "256",
            "--epochs", "1"]


def test_lock_held_by_a_live_unrelated_process_stops_after_a_bounded_wait(tmp_path, capsys, fmnist_root):
    import time
    argv = _lock_argv(tmp_path, fmnist_root)
    run_dir, sleeper = _lock_held_by_sleep(tmp_path, argv)
    try:
        t0 = time.perf_counter()
        with pytest.raises(SystemExit) as e:
            R.main(argv + ["--lock-wait", "0.5"])
        waited = time.perf_counter() - t0
        err = [x for x in capsys.readouterr().err.strip().splitlines() if "error" in x]
        assert e.value.code == 2 and len(err) == 1, err
        lock = str(run_dir / R.LOCK_FILE)
        assert f"{sleeper.pid}" in err[0] and lock in err[0] and f"remove {lock} if process {sleeper.pid}" in err[0]
        assert 0.5 <= waited < 10 and sleeper.poll() is None  # bounded; the holder is left alone
        assert (run_dir / R.LOCK_FILE).is_file() and not (run_dir / "result.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_holder_that_touches_its_lock_is_waited_for_past_lock_wait(tmp_path):
    """A live sketchbound holder (its heartbeat touches the lock) is waited for longer than ``lock_wait``."""
    import os
    import socket
    import threading
    import time
    lock = R.RunLock(tmp_path / "run")
    (tmp_path / "run").mkdir()
    lock.path.write_text(f"{socket.gethostname()} {os.getppid()}\n")  # a live process that is not us

    def heartbeat():  # touches the lock for 1.2 s (beyond lock_wait 0.3 s), then lets go
        t0 = time.time()
        while time.time() - t0 < 1.2:
            os.utime(lock.path)
            time.sleep(0.1)
        lock.path.unlink()
    th = threading.Thread(target=heartbeat)
    t0 = time.perf_counter()
    th.start()
    said = []
    R.wait_for_lock(lock, "run", 0.3, said.append)
    th.join()
    assert time.perf_counter() - t0 >= 1.2 and lock.holder() == lock.me and len(said) == 1
    lock.release()


@pytest.mark.slow  # a subprocess importing torch: 4-9 s on 2 shared cores
def test_ctrl_c_in_dnn_run_is_one_line_and_exit_130(tmp_path, fmnist_root):
    """A real SIGINT while dnn.run waits for a locked run: "interrupted", exit 130, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time
    argv = _lock_argv(tmp_path, fmnist_root)
    run_dir, sleeper = _lock_held_by_sleep(tmp_path, argv)
    try:
        p = subprocess.Popen([sys.executable, "-m", "sketchbound.dnn.run", *argv, "--lock-wait", "60"],
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        first = p.stderr.readline()  # the announced wait: the process is inside the lock loop
        assert "waiting while its holder lives" in first and str(sleeper.pid) in first, first
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        rest = p.stderr.read()
        assert p.wait(timeout=30) == 130
        assert rest.strip() == "python -m sketchbound.dnn.run: error: interrupted" and "Traceback" not in rest
    finally:
        sleeper.kill()
        sleeper.wait()
