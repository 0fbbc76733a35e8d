"""Dask helper: flags, the missing-extra message, ordered results, and Monte-Carlo studies
that give the same verdicts bit for bit on 2 workers as in one process."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from sketchbound import cluster as C
from sketchbound import montecarlo as M
from sketchbound import reliability as R
from sketchbound import validate as V


def test_core_import_needs_neither_dask_nor_torch():
    code = ("import sys, sketchbound.cluster, sketchbound.reliability, sketchbound.validate; "
            "bad = [m for m in ('distributed', 'dask', 'torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("main, argv", [(R.main, ["--seeds", "1", "--workers", "2"]),
                                        (V.main, ["--lemma", "4.3", "--workers", "2"]),
                                        (V.main, ["--lemma", "4.3", "--scheduler", "tcp://127.0.0.1:1"])])
def test_flags_without_dask_say_how_to_get_it(main, argv, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ModuleNotFoundError
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert 'pip install "sketchbound[dask]"' in err and "distributed" in err


def test_workers_and_scheduler_are_exclusive_and_checked(capsys):
    for argv in (["--lemma", "4.3", "--workers", "2", "--scheduler", "tcp://x:1"], ["--lemma", "4.3", "--workers", "0"]):
        with pytest.raises(SystemExit) as e:
            V.main(argv)
        assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_unreachable_scheduler_is_one_line_exit_2(capsys):
    pytest.importorskip("distributed")
    with pytest.raises(SystemExit) as e:
        with C.client_for(scheduler="tcp://127.0.0.1:1", prog="prog", connect_timeout=1):
            pass
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "cannot start/reach" in err


def test_no_flags_no_client():
    with C.client_for(None, None, prog="p") as client:
        assert client is None


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


def _fails_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def test_map_tasks_input_order_chunks_and_errors(client, capsys):
    items = [(i, 3) for i in range(23)]
    for chunk in (None, 1, 5, 100):
        assert C.map_tasks(client, pow, items, progress=False, chunksize=chunk) == [i ** 3 for i in range(23)]
    assert C.map_tasks(client, pow, [], progress=False) == []
    with pytest.raises(ValueError, match="three"):
        C.map_tasks(client, _fails_on_three, [(i,) for i in range(6)], progress=False, chunksize=1)
    # the bar counts weights (e.g. runs per task)
    C.map_tasks(client, pow, [(2, 2), (3, 2)], weights=[4, 6], progress=True, desc="run", chunksize=1)
    assert "10/10" in capsys.readouterr().err


def _started_at(i):
    import time
    t = time.time()
    time.sleep(0.05)
    return t


@pytest.mark.slow  # ≈ 5 s each on 2 cores (a fresh cluster per case); the default run stays under 3 min
@pytest.mark.parametrize("resources", [None, {"GPU": 1}])
def test_map_tasks_start_in_input_order(resources):
    """Tasks start in input order (the table runner promises tables in the order they are listed), also
    with resource restrictions (the table runner's GPU=1 tasks). Without per-task priorities Dask started
    the last tasks of a batch second on a GPU machine: one worker with GPU=1 tasks then ran 0, 15, 14, ...,
    1, and two workers 0, 1, 14, 15, 12, 13, ... (measured by dropping the priority).
    One single-thread worker: the start order is exactly the input order, whatever the machine's load.
    Two workers: a worker starved of CPU can fall behind the other, so the order is only near the input
    order; what must hold is that none of the last quarter of tasks starts among the first quarter."""
    distributed = pytest.importorskip("distributed")
    n = 16
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      resources={"GPU": 1}) as cluster, distributed.Client(cluster) as cl:
            starts = C.map_tasks(cl, _started_at, [(i,) for i in range(n)], progress=False, chunksize=1,
                                 resources=resources)
        rank = sorted(range(n), key=lambda i: starts[i])
        if workers == 1:
            assert rank == list(range(n)), rank
        else:
            assert not set(rank[:n // 4]) & set(range(n - n // 4, n)), rank


FAST = ("4.3b", "4.5", "4.5c", "4.4-datafree", "4.1", "4.3", "B.1")


def _fast_claims():
    """Random (non-deterministic) claims cheap enough for CI."""
    return [c for c in R.CLAIMS if not c.deterministic and c.id in FAST]


@pytest.mark.slow
def test_reliability_study_identical_serial_and_two_workers(client, monkeypatch):
    claims = [c for c in _fast_claims() if c.id in FAST[:4]]
    monkeypatch.setattr(R, "CLAIMS", claims)
    serial = R.study(3, progress=False)
    spread = R.study(3, progress=False, client=client)
    assert len(serial) == 3 * len(claims) == 12
    pd.testing.assert_frame_equal(serial, spread)  # same seeds => same verdicts, trials, ratios, bit for bit
    # the study is not constant: a different seed range changes some trial counts or verdicts
    assert serial.trials.nunique() > 1 or serial.verdict.nunique() > 1


@pytest.mark.slow  # ≈ 5.5 s on 2 cores; the reliability study's serial = 2 workers check stays in the default run
def test_validate_json_identical_serial_and_on_a_running_cluster(client, capsys):
    argv = ["--lemma", "4.1", "--lemma", "4.5", "--json", "--no-progress"]
    assert V.main(argv) == 0
    serial = json.loads(capsys.readouterr().out)
    assert V.main(argv + ["--scheduler", client.scheduler.address]) == 0
    out = capsys.readouterr()
    spread = json.loads(out.out)
    assert "dask: connected to" in out.err
    for r in serial + spread:
        r.pop("command")
    assert serial == spread and len(serial) >= 2


def test_run_jobs_on_a_client_withholds_like_run_jobs_here(monkeypatch):
    """On a cluster the checks run remotely and the last pass (withholding verdicts that lean on a claim
    violated in the same run) runs here: one ``run_jobs``, which validate uses, gives the same levels,
    verdicts and notes with and without a client."""
    jobs = M.expand_jobs([c for c in _fast_claims() if c.id in ("4.3", "4.5", "B.1", "4.1")])

    def fake_check(claim, scenario, **kw):
        r = M.Result.__new__(M.Result)
        r.__dict__.update(claim=claim.id, verdict="violated" if claim.id in ("4.3", "B.1") else "holds",
                          depends_on=["4.3"] if claim.id != "4.3" else [], chain=[], note="n", alpha=kw["alpha"])
        return r

    class LocalClient:  # stands in for a Dask client: map_tasks is replaced below
        pass

    spread_calls = []

    def fake_map(client, fn, items, **kw):
        spread_calls.append(len(items))
        return [fake_check(c, sc, **k) for c, sc, k in items]

    monkeypatch.setattr(M, "run_check", fake_check)
    monkeypatch.setattr(C, "map_tasks", fake_map)
    serial = [(r.claim, r.verdict, r.note, tuple(r.chain), r.alpha) for r in C.run_jobs(jobs, alpha=0.01)]
    assert spread_calls == []  # no client: the checks ran here
    spread = [(r.claim, r.verdict, r.note, tuple(r.chain), r.alpha) for r in C.run_jobs(jobs, LocalClient(), alpha=0.01)]
    assert spread_calls == [len(jobs)]
    assert serial == spread and any(v == "inconclusive" for _, v, _, _, _ in spread)
    assert {a for *_, a in serial} == {0.01 / len(jobs)}
    assert V.run_jobs is C.run_jobs and not hasattr(M, "run_jobs")  # one implementation


def test_run_jobs_here_names_each_check_on_the_bar(monkeypatch):
    """Without a client the caller's bar advances once per check and shows the check it is on."""
    jobs = M.expand_jobs([c for c in _fast_claims() if c.id in ("4.3", "4.1")])
    monkeypatch.setattr(M, "run_check", lambda claim, scenario, **kw: M.Result.__new__(M.Result))
    monkeypatch.setattr(M, "withhold_dependents", lambda results: results)

    class Bar:
        disable = False

        def __init__(self):
            self.n, self.postfix = 0, []

        def update(self, k):
            self.n += k

        def set_postfix_str(self, s):
            self.postfix.append(s)

    bar = Bar()
    assert len(C.run_jobs(jobs, alpha=0.01, progress=bar)) == len(jobs)
    assert bar.n == len(jobs) and bar.postfix == [f"{c.id} s={sc.s}" for c, sc in jobs]
    with pytest.raises(ValueError, match="alpha"):
        C.run_jobs(jobs, alpha=1.5)
