"""Table runner on Dask: same table as the serial run, a killed worker loses at most the
epoch in progress (no run finished twice, none half-written), per-run-directory locks, the workers'
one-time preparation (data cache, mask samplers) before the first task."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
distributed = pytest.importorskip("distributed")

from sketchbound.dnn.experiments import cluster as DC  # noqa: E402
from sketchbound.dnn.experiments import run as R  # noqa: E402
from sketchbound.dnn.experiments import table as T  # noqa: E402
from sketchbound.dnn.experiments.config import RunConfig, to_toml  # noqa: E402
from sketchbound.dnn.training.checkpoint import load_verified  # noqa: E402
from test_runner import _write_cifar10  # noqa: E402  (tests/dnn is on sys.path; one toy-data writer)


def _table(tmp_path, root, *, epochs=1, subset=96, seeds=(0, 1), name="toy", variants=2) -> Path:
    spec = {
        "table": {"name": name, "title": "toy table", "rows": ["density"]},
        "base": {"dataset": "cifar10", "model": "lenet300100", "width": 0.05, "epochs": epochs, "batch_size": 32,
                 "data_root": str(root), "train_subset": subset, "prune_batch_size": 8},
        "grid": {"density": [0.5, 0.2], "seed": list(seeds)},
        "variant": [{"name": "Random", "method": "random", "mask": "global"},
                    {"name": "Magnitude", "method": "magnitude", "mask": "randomized"}][:variants],
    }
    p = tmp_path / f"{name}.toml"
    p.write_text(to_toml(spec))
    return p


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _write_cifar10(root, 200)
    return root


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


def _done_lines(cfg, runs) -> int:
    return sum(line.split(" ", 1)[1].startswith("done:")
               for line in (cfg.run_dir(runs) / "log.txt").read_text().splitlines())


@pytest.mark.slow
def test_two_workers_give_the_serial_table(tmp_path, data_root, client, capsys, one_torch_thread):
    path = _table(tmp_path, data_root)
    serial, spread = tmp_path / "serial", tmp_path / "spread"
    assert T.main([str(path), "--runs-dir", str(serial), "--no-progress", "--out", str(tmp_path / "o1")]) == 0
    capsys.readouterr()
    spec = T.load_table(path)
    cfgs = [c for _, _, c in T.expand(spec)]
    assert DC.run_table_on(client, cfgs, spread, progress=True) == [True] * len(cfgs)  # one run per task on CPU
    assert "8/8" in capsys.readouterr().err  # the bar moved over every run
    # the CLI on the same folder: everything is finished, it only aggregates (and says where the cluster is)
    assert T.main([str(path), "--runs-dir", str(spread), "--no-progress", "--out", str(tmp_path / "o2"),
                   "--scheduler", client.scheduler.address]) == 0
    assert "dask: connected to" in capsys.readouterr().err
    a, b = (tmp_path / "o1" / "toy.csv").read_text(), (tmp_path / "o2" / "toy.csv").read_text()
    assert a == b and "±" in a
    assert (tmp_path / "o1" / "toy_long.csv").read_text() == (tmp_path / "o2" / "toy_long.csv").read_text()
    for c in cfgs:
        r1, r2 = R.load_result(c, serial), R.load_result(c, spread)
        assert r1["accuracy"] == r2["accuracy"] and r1["kept_per_layer"] == r2["kept_per_layer"]
        assert _done_lines(c, spread) == 1 and not (c.run_dir(spread) / "lock").exists()
        assert r2["host"] == socket.gethostname()
    workers = set(client.run(os.getpid).values())
    assert workers  # the runs were trained by the worker processes, not here
    # nothing left to do: no task is submitted at all
    assert DC.run_table_on(client, cfgs, spread, progress=False) == []


@pytest.mark.slow
def test_killed_worker_loses_at_most_the_epoch_in_progress(tmp_path, client, one_torch_thread):
    root = tmp_path / "data"
    _write_cifar10(root, 400)
    path = _table(tmp_path, root, epochs=6, subset=2000, seeds=(0, 1), name="long", variants=1)
    cfgs = [c for _, _, c in T.expand(T.load_table(path))]
    runs = tmp_path / "runs"
    pids = set(client.run(os.getpid).values())
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("out", DC.run_table_on(client, cfgs, runs, progress=False)))
    th.start()
    killed = None
    t0 = time.time()
    while killed is None and th.is_alive() and time.time() - t0 < 120:
        for c in cfgs:  # a run with a checkpoint (epoch >= 1 done), not finished, held by a worker
            d = c.run_dir(runs)
            holder = (d / "lock").read_text().split() if (d / "lock").is_file() else []
            if (d / "checkpoint.pt").is_file() and not (d / "result.json").is_file() and len(holder) == 2 \
                    and int(holder[1]) in pids:
                os.kill(int(holder[1]), signal.SIGKILL)
                killed = c
                break
        time.sleep(0.02)
    th.join(900)
    assert killed is not None, "no run was caught mid-training"
    assert box["out"] == [True] * len(cfgs)
    res = R.load_result(killed, runs)
    assert res["resumed_from_epoch"] >= 1 and res["epochs"] == 6  # resumed from its checkpoint, not restarted
    assert set(client.run(os.getpid).values()) != pids  # a worker really died (the nanny restarted it)
    for c in cfgs:
        assert _done_lines(c, runs) == 1  # every run finished exactly once
        assert json.loads((c.run_dir(runs) / "result.json").read_text())["accuracy"] is not None
        assert not list(c.run_dir(runs).glob("*.tmp")) and not (c.run_dir(runs) / "lock").exists()
        st, _ = load_verified(c.run_dir(runs) / "checkpoint.pt",  # whole files: the digest verifies
                              identity={"kind": "checkpoint", "name": c.run_name(), "seed": c.seed})
        assert st["epoch"] == 6
    # resuming is bit-identical: the killed run has the accuracy of an uninterrupted serial run
    ref = R.run_configs([killed], tmp_path / "ref", device="cpu", progress=False)[0]
    assert ref["accuracy"] == res["accuracy"]


# ------------------------------------------------------------------------------------- worker preparation
def _toy_configs(root, **kw) -> list:
    base = dict(model="lenet300100", dataset="cifar10", density=0.2, width=0.05, epochs=1, batch_size=32,
                data_root=str(root), train_subset=96, prune_batch_size=8)
    return [RunConfig(**{**base, **kw, "method": m, "mask": mk, "seed": s})
            for m, mk in (("magnitude", "randomized"), ("random", "global")) for s in (0, 1)]


def _worker_state(key):
    """On a worker: whether ``key`` is in its data cache, and whether the successive sampler's numba
    kernels (used by ``randomized`` masks on CPU) are compiled in this process."""
    from sketchbound import _kernels as K
    from sketchbound.dnn.experiments import run as R
    return key in R.DATA_CACHE, bool(K._keys_ser.signatures or K._keys_par.signatures)


@pytest.mark.slow  # ≈ 4 s: keeps the default run under 3 min on 2 cores; CI runs it
def test_prepare_workers_fills_each_workers_data_cache_and_compiles_the_samplers(tmp_path, data_root):
    """On a fresh 2-worker cluster: prepare_workers returns one time per worker; afterwards every worker
    holds the dataset under the key the tasks use (the relative data_root made absolute) and has the mask
    sampler's kernels compiled, neither of which it had before; a missing dataset is a warning, not an error."""
    rel = os.path.relpath(data_root)  # the workers run in this process's folder
    cfgs = _toy_configs(rel)
    key = ("cifar10", str(Path(rel).resolve()), None, 96)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster) as cl:
            cl.wait_for_workers(2, timeout=60)
            assert set(cl.run(_worker_state, key).values()) == {(False, False)}
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no step failed
                secs = DC.prepare_workers(cl, cfgs)
            assert set(secs) == set(cl.scheduler_info()["workers"]) and all(v >= 0 for v in secs.values())
            assert set(cl.run(_worker_state, key).values()) == {(True, True)}
            full = DC.prepare_workers(cl, cfgs, details=True)  # cached now: cheap, same counts
            assert all(v["datasets"] == 1 and v["models"] == 2 and v["masks"] == 2 and v["devices"] == ["cpu"]
                       and not v["errors"] for v in full.values())
            with pytest.warns(RuntimeWarning, match="dataset cifar10"):
                DC.prepare_workers(cl, _toy_configs(tmp_path / "no-such-folder"))
    finally:
        cluster.close()


def test_prepare_here_restores_the_rng_and_runs_the_trainers_gpu_format_on_cpu(data_root, one_torch_thread):
    """prepare_here draws nothing from the global RNGs (a prepared worker trains what an unprepared one
    does); the bf16-autocast + channels_last warm-up (the trainer's CUDA format) runs on CPU too."""
    cfgs = _toy_configs(data_root)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    info = DC.prepare_here(cfgs, "cpu")
    assert not info["errors"] and info["models"] == 2 and info["masks"] == 2
    assert torch.equal(torch.get_rng_state(), before)
    model = DC._warm_model(cfgs[0].resolved(), R.data_for(cfgs[0]), torch.device("cpu"), True, True)
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.slow  # one of the longest default tests; CI runs the slow suite
def test_run_table_on_prepares_once_before_its_tasks_and_changes_no_result(tmp_path, data_root, client,
                                                                          monkeypatch, one_torch_thread):
    """run_table_on prepares the workers once, for the runs it is about to train (absolute data roots);
    not when nothing is left to train nor with prepare=False; prepared and unprepared runs are identical."""
    calls = []
    real = DC.prepare_workers
    monkeypatch.setattr(DC, "prepare_workers", lambda cl, cfgs, **kw: calls.append((list(cfgs), kw)) or real(cl, cfgs, **kw))
    cfgs = _toy_configs(os.path.relpath(data_root))[:2]
    a, b = tmp_path / "a", tmp_path / "b"
    assert DC.run_table_on(client, cfgs, a, progress=False) == [True, True]
    assert len(calls) == 1 and [c.run_name() for c in calls[0][0]] == [c.run_name() for c in cfgs]
    assert all(Path(c.data_root).is_absolute() for c in calls[0][0])
    assert DC.run_table_on(client, cfgs, a, progress=False) == [] and len(calls) == 1  # nothing to do
    assert DC.run_table_on(client, cfgs, b, progress=False, prepare=False) == [True, True] and len(calls) == 1
    for c in cfgs:
        ra, rb = R.load_result(c, a), R.load_result(c, b)
        assert ra["accuracy"] == rb["accuracy"] and ra["kept_per_layer"] == rb["kept_per_layer"]


# ------------------------------------------------------------------------------------------ run locks
def test_run_lock_is_exclusive_and_takes_over_dead_or_silent_holders(tmp_path):
    d = tmp_path / "run"
    a, b = R.RunLock(d), R.RunLock(d)
    assert a.try_acquire() and not b.try_acquire()  # held by a live process (this one)
    assert a.holder() == f"{socket.gethostname()} {os.getpid()}"
    a.release()
    assert not (d / "lock").exists() and b.try_acquire()
    b.release()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (d / "lock").write_text(f"{socket.gethostname()} {dead.pid}\n")
    assert b.try_acquire() and b.holder().endswith(str(os.getpid()))  # a dead holder's lock is taken over
    b.release()
    (d / "lock").write_text("other-host 1\n")  # another host: held while its heartbeat is fresh
    assert not b.try_acquire()
    old = time.time() - R.RunLock.STALE_S - 5
    os.utime(d / "lock", (old, old))
    assert b.try_acquire()
    b.release()
    (d / "lock").write_text("")  # a writer that died between create and write: stale after 10 s
    assert not b.try_acquire()
    os.utime(d / "lock", (time.time() - 20,) * 2)
    assert b.try_acquire()
    b.release()


@pytest.mark.slow  # ≈ 4 s: keeps the default run under 3 min on 2 cores; CI runs it
def test_run_configs_waits_for_a_live_holder_then_trains_what_it_left(tmp_path, data_root, one_torch_thread):
    cfg = RunConfig(model="lenet300100", dataset="cifar10", method="random", density=0.5, width=0.05, epochs=1,
                    batch_size=32, data_root=str(data_root), train_subset=64).resolved()
    d = cfg.run_dir(tmp_path)
    d.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    (d / "lock").write_text(f"{socket.gethostname()} {holder.pid}\n")
    t0 = time.time()
    res = R.run_configs([cfg], tmp_path, device="cpu", progress=False)[0]
    assert holder.poll() is not None and time.time() - t0 >= 1.5  # it waited for the holder to go away
    assert res is not None and _done_lines(cfg, tmp_path) == 1
    holder.wait()
    # wait=False leaves a held run alone
    cfg2 = RunConfig(**{**cfg.to_dict(), "seed": 1}).resolved()
    cfg2.run_dir(tmp_path).mkdir(parents=True)
    (cfg2.run_dir(tmp_path) / "lock").write_text(f"{socket.gethostname()} {os.getppid()}\n")
    assert R.run_configs([cfg2], tmp_path, device="cpu", progress=False, wait=False) == [None]
    assert not (cfg2.run_dir(tmp_path) / "checkpoint.pt").exists()


@pytest.mark.slow
def test_two_table_invocations_on_one_runs_dir(tmp_path, data_root):
    path = _table(tmp_path, data_root, epochs=2)
    runs = tmp_path / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "sketchbound.dnn.table", str(path), "--runs-dir", str(runs), "--no-progress",
           "--device", "cpu"]
    procs = [subprocess.Popen(cmd + ["--out", str(tmp_path / f"o{i}")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    cfgs = [c for _, _, c in T.expand(T.load_table(path))]
    for c in cfgs:
        assert _done_lines(c, runs) == 1  # no run trained twice to completion
        assert R.load_result(c, runs)["epochs"] == 2
    # both invocations waited for each other's runs: both tables are complete and equal
    assert (tmp_path / "o0" / "toy.csv").read_text() == (tmp_path / "o1" / "toy.csv").read_text()
    assert "(1/2)" not in (tmp_path / "o0" / "toy.csv").read_text()


def test_table_flags_without_dask_or_with_bad_combinations(tmp_path, data_root, monkeypatch, capsys):
    path = _table(tmp_path, data_root)
    base = [str(path), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    for argv in (base + ["--gpus-per-worker", "2"], base + ["--workers", "2", "--scheduler", "tcp://x:1"],
                 base + ["--workers", "0"]):
        with pytest.raises(SystemExit) as e:
            T.main(argv)
        assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SystemExit) as e:
        T.main(base + ["--workers", "2"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and 'pip install "sketchbound[dask]"' in err
    assert not (tmp_path / "runs").exists()  # nothing was trained


def test_gpu_cluster_pins_one_card_per_worker():
    """The worker layout of ``--workers 2 --gpus-per-worker 1`` on a (pretend) 3-GPU box (one card and
    cpu_count // 2 CPU threads each), and the error when more cards are asked than there are."""
    cluster = DC.make_cluster(2, 1, gpu_ids=["0", "1", "2"], dashboard=False)
    try:
        with distributed.Client(cluster) as cl:
            env = cl.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
            assert sorted(env.values()) == ["0", "1"]
            # each worker gets its share of the host's cores for torch/numba/BLAS (no thread oversubscription)
            share = str(max(1, (os.cpu_count() or 1) // 2))
            threads = cl.run(lambda: [os.environ.get(v) for v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")])
            assert all(t == [share, share] for t in threads.values())
            assert sorted(w["resources"]["GPU"] for w in cl.scheduler_info()["workers"].values()) == [1, 1]
            assert DC._has_gpu_workers(cl)
    finally:
        cluster.close()
    with pytest.raises(ValueError, match="needs 4 GPUs; 3 visible"):
        DC.make_cluster(2, 2, gpu_ids=["0", "1", "2"], dashboard=False)



@pytest.mark.slow
def test_speedup_script_cpu_smoke_times_both_phases_and_keeps_the_runs_times(tmp_path, data_root, dnn_script):
    """benchmarks/scripts/gpu_dask_speedup.py on CPU workers (--cpu-smoke): the same 4 runs trained by 1 and by 2
    workers give identical accuracies (same seeds => same result wherever a run trains), and the JSON,
    written atomically, holds each phase's per-run wall and mask times beside the speed-up."""
    mod = dnn_script("gpu_dask_speedup")
    table = _table(tmp_path, data_root, seeds=(0,))
    out = tmp_path / "out"
    rc = mod.main(["--cpu-smoke", "--table", str(table), "--model", "lenet300100", "--runs", "4", "--concurrent", "2",
                   "--data-root", str(data_root), "--work", str(tmp_path / "work"), "--out", str(out)])
    res = json.loads((out / "dask_speedup.json").read_text())
    assert rc == 0 and res["finished"] == {"1": 4, "2": 4, "expected": 4}
    assert res["identical_accuracies"] and res["max_abs_accuracy_diff_1_vs_n"] == 0.0
    assert res["one_gpu"]["tasks"] == res["n_gpu"]["tasks"] == 2 and res["prepared"]
    for ph in ("1", "2"):
        assert len(res["runs"][ph]["wall_s"]) == len(res["runs"][ph]["mask_s"]) == 4
        assert all(w > 0 for w in res["runs"][ph]["wall_s"])
    assert res["speedup_table"] == pytest.approx(res["one_gpu"]["table_s"] / res["n_gpu"]["table_s"], rel=1e-2)
    assert not [f for f in out.iterdir() if f.name.endswith(".tmp")]


@pytest.mark.slow
def test_speedup_script_compare_balance_runs_abba_and_pairs_the_phases(tmp_path, data_root, dnn_script):
    """--compare-balance: four N-worker phases in the order off, on, on, off; every phase trains every run
    to the same accuracy (balance regroups tasks, it changes no result), and the ratio is
    sum(off) / sum(on) of the recorded table times."""
    mod = dnn_script("gpu_dask_speedup")
    table = _table(tmp_path, data_root, seeds=(0,))
    out = tmp_path / "out"
    rc = mod.main(["--cpu-smoke", "--compare-balance", "--table", str(table), "--model", "lenet300100", "--runs", "4",
                   "--concurrent", "2", "--data-root", str(data_root), "--work", str(tmp_path / "work"),
                   "--out", str(out)])
    res = json.loads((out / "dask_balance_ab.json").read_text())
    assert rc == 0 and res["identical_accuracies"]
    assert [p["balance"] for p in res["phases"]] == [False, True, True, False]
    assert [p["finished"] for p in res["phases"]] == [4] * 4 and all(p["gpus"] == 2 for p in res["phases"])
    assert res["table_s_off"] == [res["phases"][0]["table_s"], res["phases"][3]["table_s"]]
    assert res["ratio_off_over_on"] == pytest.approx(sum(res["table_s_off"]) / sum(res["table_s_on"]), rel=1e-2)
    assert not (out / "dask_speedup.json").exists()


@pytest.mark.slow
def test_balanced_tasks_give_the_serial_table(tmp_path, data_root, client, capsys, one_torch_thread, monkeypatch):
    """--balance regroups the runs of the tasks that start together (here 2 workers, 4 runs per task, so a
    task of four Random runs and one of four SynFlow runs become two mixed tasks) and changes no result: the
    table equals the serial one, bit for bit; without --workers/--scheduler the flag is refused (exit 2)."""
    spec = {
        "table": {"name": "bal", "title": "balanced toy", "rows": ["density"]},
        "base": {"dataset": "cifar10", "model": "lenet300100", "width": 0.05, "epochs": 1, "batch_size": 32,
                 "data_root": str(data_root), "train_subset": 96, "prune_batch_size": 8, "synflow_rounds": 2},
        "grid": {"density": [0.5, 0.2], "seed": [0, 1]},
        "variant": [{"name": "Random", "method": "random", "mask": "global"},
                    {"name": "SynFlow", "method": "synflow", "inputs": "ones", "mask": "global"}],
    }
    path = tmp_path / "bal.toml"
    path.write_text(to_toml(spec))
    cfgs = [c for _, _, c in T.expand(T.load_table(path))]
    chunks = R.plan_chunks(cfgs, tmp_path / "none", 4)
    assert [[c.method for c in ch] for ch in chunks] == [["random"] * 4, ["synflow"] * 4]
    assert [[c.method for c in ch] for ch in R.balance_chunks(chunks, 2)] == [["random", "random", "synflow", "synflow"]] * 2
    serial, spread = tmp_path / "serial", tmp_path / "spread"
    assert T.main([str(path), "--runs-dir", str(serial), "--no-progress", "--concurrent", "4",
                   "--out", str(tmp_path / "o1")]) == 0
    seen = []
    real = R.balance_chunks
    monkeypatch.setattr(R, "balance_chunks", lambda ch, window: seen.append(
        ([[c.method for c in x] for x in ch], window, [[c.method for c in x] for x in real(ch, window)])) or real(ch, window))
    assert T.main([str(path), "--runs-dir", str(spread), "--no-progress", "--concurrent", "4", "--balance",
                   "--scheduler", client.scheduler.address, "--out", str(tmp_path / "o2")]) == 0
    assert seen == [([["random"] * 4, ["synflow"] * 4], 2, [["random", "random", "synflow", "synflow"]] * 2)]
    assert (tmp_path / "o1" / "bal_long.csv").read_text() == (tmp_path / "o2" / "bal_long.csv").read_text()
    for c in cfgs:
        assert R.load_result(c, serial)["accuracy"] == R.load_result(c, spread)["accuracy"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        T.main([str(path), "--runs-dir", str(spread), "--balance"])
    assert e.value.code == 2 and "--balance needs --workers" in capsys.readouterr().err
