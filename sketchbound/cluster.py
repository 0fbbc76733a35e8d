"""Bags of independent tasks on Dask distributed: a laptop, a multi-GPU box or a cluster, same code.

Every large job of this toolkit is a bag of independent tasks (a table's runs, the reliability study's
seeds, ``validate``'s checks). This module is the one place that turns ``--workers N`` /
``--scheduler ADDRESS`` into a :class:`distributed.Client`, submits tasks and streams them back with a
tqdm bar, in input order. It imports neither torch nor (until a flag asks for it) dask: the core
works without the ``dask`` extra, and the flags then say how to get it (one line, exit 2)::

    pip install "sketchbound[dask]"
    python -m sketchbound.reliability --seeds 1000 --workers 8        # a LocalCluster of 8 processes
    python -m sketchbound.validate --all --scheduler tcp://head:8786  # a running cluster

Results are identical to the serial run bit for bit: a task is a pure function of its arguments
(each check/run draws from its own seed, never from a worker's state), and results are put back in
input order before anything is aggregated.
"""
from __future__ import annotations

import contextlib
import sys
import uuid
from typing import Callable, Iterable, Sequence

from ._cli import pos_int, require

__all__ = ["EXTRA", "add_cluster_arguments", "require_distributed", "client_for", "map_tasks", "run_checks",
           "run_jobs", "dashboard_line"]

#: how to install the optional dependency (said by every flag that needs it)
EXTRA = "dask"


def require_distributed(prog: str):
    """``import distributed`` or exit 2 with one line: ``pip install "sketchbound[dask]"``.

    Parameters
    ----------
    prog : str
        The CLI's name, said in the error line.

    Returns
    -------
    module
        ``distributed``.

    Examples
    --------
    >>> require_distributed("demo").__name__
    'distributed'
    """
    require("dask", prog, EXTRA)
    return require("distributed", prog, EXTRA)


def add_cluster_arguments(parser, *, what: str = "tasks") -> None:
    """``--workers N`` / ``--scheduler ADDRESS`` (mutually exclusive) in their own argument group.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Gets the two flags.
    what : str, optional
        What the workers run, said in ``--help``.

    Returns
    -------
    None

    Examples
    --------
    >>> from sketchbound._cli import OneLineParser
    >>> p = OneLineParser(prog="demo")
    >>> add_cluster_arguments(p, what="checks")
    >>> p.parse_args(["--workers", "4"]).workers, p.parse_args([]).scheduler
    (4, None)
    """
    g = parser.add_argument_group(f"cluster (Dask; pip install \"sketchbound[{EXTRA}]\")")
    m = g.add_mutually_exclusive_group()
    m.add_argument("--workers", type=pos_int("workers"), default=None, metavar="N",
                   help=f"spread the {what} over a local Dask cluster of N worker processes (default: all in this process)")
    m.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a running Dask cluster, e.g. tcp://head:8786 or a scheduler JSON file")


def dashboard_line(client) -> str:
    """``dask: dashboard http://...`` when the scheduler serves one, else how to get it.

    Parameters
    ----------
    client : distributed.Client
        The connected client.

    Returns
    -------
    str
        One line for stderr.

    Examples
    --------
    >>> class Client:  # a scheduler that serves no dashboard
    ...     def scheduler_info(self):
    ...         return {"services": {}}
    >>> dashboard_line(Client())
    'dask: no dashboard'
    """
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - informational only
        services = {}
    import importlib.util  # noqa: PLC0415

    if "dashboard" not in services:
        return "dask: no dashboard"
    if importlib.util.find_spec("bokeh") is None:
        return f"dask: dashboard {client.dashboard_link} (its pages need bokeh: pip install bokeh)"
    return f"dask: dashboard {client.dashboard_link}"


@contextlib.contextmanager
def client_for(workers: int | None = None, scheduler: str | None = None, *, prog: str,
               make_cluster: Callable[[int], object] | None = None, dashboard: bool = True,
               echo: bool = True, connect_timeout: float = 30):
    """A :class:`distributed.Client` for ``--workers`` / ``--scheduler``, closed on exit; ``None`` (run in
    this process) when neither is given.

    ``workers``: a :class:`distributed.LocalCluster` of that many single-threaded processes, or
    ``make_cluster(workers)`` (e.g. one process per GPU, :mod:`sketchbound.dnn.experiments.cluster`).
    ``scheduler``: an address (``tcp://host:8786``) or a scheduler file (``*.json``). A cluster that
    cannot be reached is one line on stderr and exit 2. With ``echo`` the dashboard address goes to stderr.

    Parameters
    ----------
    workers : int, optional
        Start a local cluster of this many worker processes.
    scheduler : str, optional
        Connect to this running cluster instead.
    prog : str
        The CLI's name, said in error lines.
    make_cluster : callable, optional
        ``make_cluster(workers)`` builds the local cluster (default: a ``LocalCluster`` of processes).
    dashboard : bool, optional
        Serve the dashboard on port 8787 (else on a free port).
    echo : bool, optional
        Say where the tasks run (and the dashboard) on stderr.
    connect_timeout : float, optional
        Seconds to wait for ``scheduler``.

    Returns
    -------
    context manager of distributed.Client or None
        Gives the client, or ``None`` when neither ``workers`` nor ``scheduler`` is given.

    Examples
    --------
    >>> with client_for(prog="demo") as client:
    ...     print(client)
    None
    >>> import distributed
    >>> threads = lambda n: distributed.LocalCluster(n_workers=n, processes=False, dashboard_address=None)
    >>> with client_for(1, prog="demo", make_cluster=threads, echo=False) as client:
    ...     len(client.nthreads())
    1
    """
    if workers is None and scheduler is None:
        yield None
        return
    distributed = require_distributed(prog)
    from ._cli import die  # noqa: PLC0415

    cluster = None
    try:
        if scheduler is not None:
            kw = {"scheduler_file": scheduler} if scheduler.endswith(".json") else {"address": scheduler}
            client = distributed.Client(timeout=connect_timeout, **kw)
            where = f"connected to {scheduler}"
        else:
            if make_cluster is not None:
                cluster = make_cluster(workers)
            else:
                cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                   dashboard_address=":8787" if dashboard else ":0")
            client = distributed.Client(cluster)
            where = f"local cluster of {workers} worker process(es)"
    except (OSError, TimeoutError, ValueError) as e:
        if cluster is not None:
            cluster.close()
        die(prog, f"cannot start/reach the Dask cluster ({scheduler or f'{workers} workers'}): {e}")
    try:
        if echo:
            print(f"dask: {where}; {dashboard_line(client).removeprefix('dask: ')}", file=sys.stderr, flush=True)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _chunk_call(fn, chunk):
    return [fn(*args) for args in chunk]


def map_tasks(client, fn: Callable, items: Sequence[tuple], *, progress=True, desc: str = "task",
              weights: Sequence[int] | None = None, chunksize: int | None = None, resources: dict | None = None,
              unit: str | None = None) -> list:
    """``[fn(*args) for args in items]`` on the cluster, in input order, with a tqdm bar that moves as
    tasks finish anywhere. ``chunksize`` items go to one task (default: about 4 tasks per worker thread,
    so thousands of tiny checks do not drown the scheduler); ``weights`` (per item) count on the bar
    instead of 1 (e.g. runs per task); ``resources`` (e.g. ``{"GPU": 1}``) restrict where tasks run.
    ``progress`` may be a bool or a tqdm bar to advance. Tasks start in input order as workers free up
    (each gets a Dask ``priority`` falling with its position: tasks submitted together otherwise share one
    priority, and Dask then started the *last* tasks of a table second). The first failing task raises
    here, and the tasks not started yet are cancelled.

    Parameters
    ----------
    client : distributed.Client
        Where the tasks run.
    fn : callable
        A pure, picklable function of one item's arguments.
    items : sequence of tuple
        The arguments of each task.
    progress : bool or tqdm bar, optional
        Show a bar (``True``), none (``False``), or advance this bar.
    desc : str, optional
        The bar's label and the tasks' key prefix.
    weights : sequence of int, optional
        How much each item counts on the bar.
    chunksize : int, optional
        Items per Dask task.
    resources : dict, optional
        Dask worker resources each task needs.
    unit : str, optional
        The bar's unit (default: ``desc``).

    Returns
    -------
    list
        ``fn(*args)`` for every item, in input order.

    Examples
    --------
    >>> import distributed, operator
    >>> with distributed.Client(processes=False, n_workers=1, dashboard_address=None) as client:
    ...     map_tasks(client, operator.add, [(1, 2), (3, 4), (5, 6)], progress=False, chunksize=2)
    [3, 7, 11]
    """
    from distributed import as_completed  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    items = list(items)
    n = len(items)
    if n == 0:
        return []
    weights = [1] * n if weights is None else list(weights)
    if chunksize is None:
        threads = sum(client.nthreads().values()) or 1
        chunksize = max(1, n // (4 * threads))
    starts = list(range(0, n, chunksize))
    token = uuid.uuid4().hex[:12]  # fresh keys per call: never reuse a result of an earlier call
    futures = [client.submit(_chunk_call, fn, items[s:s + chunksize], pure=False, resources=resources,
                             key=f"{desc}-{s}-{token}", priority=len(starts) - i) for i, s in enumerate(starts)]
    where = {f.key: s for f, s in zip(futures, starts)}
    own_bar = not hasattr(progress, "update")
    bar = tqdm(total=sum(weights), desc=desc, unit=unit or desc, file=sys.stderr, disable=not progress) if own_bar \
        else progress
    out: list = [None] * n
    try:
        for fut in as_completed(futures):
            s = where[fut.key]
            vals = fut.result()
            out[s:s + len(vals)] = vals
            bar.update(sum(weights[s:s + len(vals)]))
    finally:
        for f in futures:
            if not f.done():
                f.cancel()
        if own_bar:
            bar.close()
    return out


# ------------------------------------------------------------------------------- Monte-Carlo checks
def _check(claim, scenario, kw):
    from .montecarlo import run_check  # noqa: PLC0415
    return run_check(claim, scenario, **kw)


def run_checks(calls: Iterable[tuple], client=None, *, progress=True, desc: str = "check") -> list:
    """``[run_check(claim, scenario, **kw) for claim, scenario, kw in calls]``, on ``client`` when given
    (in input order, identical results: every check draws only from its own ``seed``), else here.

    Parameters
    ----------
    calls : iterable of (Claim, Scenario, dict)
        Each check's claim, scenario and keyword arguments of :func:`~sketchbound.montecarlo.run_check`.
    client : distributed.Client, optional
        Where the checks run; ``None``: in this process.
    progress : bool or tqdm bar, optional
        Show a bar, none, or advance this bar.
    desc : str, optional
        The bar's label on a cluster.

    Returns
    -------
    list of Result
        One per call, in input order.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.montecarlo import claim_scenario
    >>> c = get_claim("4.3")
    >>> rs = run_checks([(c, claim_scenario(c, d=6, n=3, s=2), {"seed": 0, "max_trials": 2000})], progress=False)
    >>> [r.verdict for r in rs]
    ['holds']
    """
    calls = list(calls)
    if client is not None:
        return map_tasks(client, _check, calls, progress=progress, desc=desc, unit="check")
    from tqdm import tqdm  # noqa: PLC0415

    own_bar = not hasattr(progress, "update")
    bar = tqdm(total=len(calls), unit="check", file=sys.stderr, disable=not progress) if own_bar else progress
    out = []
    try:
        for c, sc, kw in calls:
            if hasattr(bar, "set_postfix_str") and not getattr(bar, "disable", False):
                bar.set_postfix_str(f"{c.id} s={sc.s}")
            out.append(_check(c, sc, kw))
            bar.update(1)
    finally:
        if own_bar:
            bar.close()
    return out


def run_jobs(jobs, client=None, *, alpha: float = 0.01, progress=None, **kw) -> list:
    """Run every ``(claim, scenario)`` job with level ``alpha / len(jobs)`` each (Bonferroni across checks:
    the chance of any false ``violated`` stays ``<= alpha``), here or on ``client``; ``kw`` goes to
    :func:`~sketchbound.montecarlo.run_check`. Every check draws only from its own seed, so the verdicts
    are the same bit for bit with or without a client. A verdict that leans on a claim found *violated*
    in the same run is then withheld (``inconclusive``, said in its note and chain;
    :func:`~sketchbound.montecarlo.withhold_dependents`).

    Parameters
    ----------
    jobs : list of (Claim, Scenario)
        The checks, e.g. :func:`~sketchbound.montecarlo.expand_jobs`.
    client : distributed.Client, optional
        Where the checks run (:func:`client_for`); ``None``: in this process.
    alpha : float, optional
        The family-wise level, in (0, 1).
    progress : tqdm bar, optional
        Advanced once per check (``None``: no bar).
    **kw
        ``seed``, ``precision``, ``max_trials``, ... of :func:`~sketchbound.montecarlo.run_check`.

    Returns
    -------
    list of Result
        One per job, in input order.

    Examples
    --------
    >>> from sketchbound.montecarlo import claim_scenario
    >>> from sketchbound.claims import get_claim
    >>> jobs = [(get_claim("4.3"), claim_scenario(get_claim("4.3"), d=6, n=3, s=2))]
    >>> [r.verdict for r in run_jobs(jobs, alpha=0.01, seed=0, max_trials=2000)]
    ['holds']
    """
    from .montecarlo import withhold_dependents  # noqa: PLC0415

    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    each = alpha / len(jobs) if len(jobs) > 1 else alpha
    calls = [(c, sc, dict(kw, alpha=each)) for c, sc in jobs]
    return withhold_dependents(run_checks(calls, client, progress=progress if progress is not None else False))
