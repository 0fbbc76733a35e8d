"""Sweep a paper table (§7, Tables I–VI): run every missing configuration, then print/write mean ± std.

``python -m sketchbound.dnn.table dnn/configs/table1.toml`` expands the TOML sweep (variants × grid ×
seeds), skips runs whose ``result.json`` exists, trains the rest (concurrently on a GPU, see
:func:`sketchbound.dnn.run.run_configs`), and writes ``<out>/<name>.csv`` (the paper's layout, cells
``mean ± std`` over seeds), ``<out>/<name>_long.csv`` (one row per cell: mean, std, n, reference) and
``<out>/<name>.md`` (Markdown, with the paper's numbers below when the file has them), atomically. Each
Markdown file ends with a legend of its columns and a "What ran" block (the table file and its SHA-256,
the commit, every override: :mod:`sketchbound.dnn.experiments.table_meta`), and ``<out>/<name>_meta.json``
holds the same with the meaning of every column of every file written; a table whose overrides change
its runs is titled ``[overridden: epochs=2, seeds=0-2, ...] <title>`` and marked as not the recorded design.

Table file format::

    [table]
    name = "table1_fmnist"
    title = "..."
    rows = ["model", "density"]      # grid keys that index the rows (the paper's row layout)
    transpose = false                # true: variants are rows and `rows` keys become columns (Table II)
    concurrent = 8                   # jobs per ConcurrentTrainer on a GPU (optional)

    [base]                           # RunConfig fields shared by every run
    dataset = "fashion-mnist"

    [grid]                           # cross product; `seed` is averaged over
    model = ["vgg19", "resnet20"]
    density = [0.1, 0.05, 0.02]
    seed = [0, 1, 2]

    [[variant]]                      # one column: a name + RunConfig fields (+ optional reference)
    name = "SynFlow"
    method = "synflow"
    inputs = "ones"
    mask = "global"
    reference = { "vgg19/0.1" = "93.01 ± 0.19" }   # key: row values joined by "/"

The standard deviation is the sample standard deviation over seeds (ddof = 1; 0 for one seed).
"""
from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from sketchbound._cli import MAX_REPEATS, interruptible, pos_int, torch_device
from sketchbound._io import atomic_write, check_output_path
from sketchbound.dnn.experiments.config import OneLineParser, add_lock_wait_argument
from sketchbound.dnn.experiments.table_spec import TableSpec, distinct_runs, expand, load_table, parse_overrides
from sketchbound.dnn.training.options import TrainerOptions

__all__ = ["main", "build_parser", "TableSpec", "load_table", "parse_overrides", "expand", "distinct_runs", "collect",
           "collect_stats", "run_records", "paired_table", "render", "to_markdown", "write_outputs"]


def _fmt_num(x) -> str:
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _row_key(row: dict, rows: Sequence[str]) -> str:
    return "/".join(_fmt_num(row[k]) for k in rows)


def collect(spec: TableSpec, runs_dir) -> pd.DataFrame:
    """The long table: one row per (row values, variant) with the mean and sample standard deviation
    (ddof = 1) of the finished seeds' test accuracy, the finished and expected seed counts and the
    paper's reference.

    Parameters
    ----------
    spec : TableSpec
        The table.
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    pandas.DataFrame
        Columns: the row keys, ``variant``, ``mean``, ``std``, ``n``, ``expected``, ``reference``.

    Examples
    --------
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> long = collect(spec, "no/such/runs")
    >>> long["n"].tolist(), long["expected"].tolist()
    ([0, 0], [2, 2])
    """
    from sketchbound.dnn.experiments.run import load_result  # noqa: PLC0415
    acc: dict[tuple, list[float]] = {}
    expected: dict[tuple, int] = {}
    for name, row, cfg in expand(spec):
        key = tuple(row[k] for k in spec.rows) + (name,)
        expected[key] = expected.get(key, 0) + 1
        res = load_result(cfg, runs_dir)
        acc.setdefault(key, [])
        if res is not None and res.get("accuracy") is not None:
            acc[key].append(float(res["accuracy"]))
    refs = {v["name"]: v.get("reference", {}) for v in spec.variants}
    recs = []
    for key, vals in acc.items():
        row = dict(zip(spec.rows, key[:-1]))
        n = len(vals)
        mean = sum(vals) / n if n else math.nan
        std = (math.sqrt(sum((x - mean) ** 2 for x in vals) / (n - 1)) if n > 1 else 0.0) if n else math.nan
        ref = refs[key[-1]].get(_row_key(row, spec.rows))
        recs.append({**row, "variant": key[-1], "mean": mean, "std": std, "n": n, "expected": expected[key],
                     "reference": "" if ref is None else str(ref)})
    return pd.DataFrame.from_records(recs, columns=list(spec.rows) + ["variant", "mean", "std", "n", "expected", "reference"])


def run_records(spec: TableSpec, runs_dir) -> pd.DataFrame:
    """One row per finished run: the row keys, the other grid values (seed, ...), variant, accuracy, run name.

    Parameters
    ----------
    spec : TableSpec
        The table.
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> list(run_records(spec, "no/such/runs").columns)
    ['density', 'seed', 'variant', 'accuracy', 'run']
    """
    from sketchbound.dnn.experiments.run import load_result  # noqa: PLC0415
    recs = []
    for name, row, cfg in expand(spec):
        res = load_result(cfg, runs_dir)
        if res is None or res.get("accuracy") is None:
            continue
        point = {k: getattr(cfg, k) for k in spec.grid if k not in row}
        recs.append({**row, **point, "variant": name, "accuracy": float(res["accuracy"]), "run": cfg.run_name()})
    return pd.DataFrame.from_records(recs, columns=list(spec.rows) + [k for k in spec.grid if k not in spec.rows]
                                     + ["variant", "accuracy", "run"])


def paired_table(spec: TableSpec, runs_dir) -> pd.DataFrame:
    """The table file's ``[[compare]]`` pairs, paired by every non-row grid key (seed, ...):
    Δ ± 95% CI, paired t p and Holm p over the table (:mod:`sketchbound.dnn.experiments.paired`).

    Parameters
    ----------
    spec : TableSpec
        The table.
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    pandas.DataFrame
        :func:`~sketchbound.dnn.experiments.paired.paired_comparisons` of the finished runs.

    Examples
    --------
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> len(paired_table(spec, "no/such/runs"))  # the file plans no comparison
    0
    """
    from sketchbound.dnn.experiments.paired import paired_comparisons  # noqa: PLC0415
    recs = run_records(spec, runs_dir)
    pair_keys = [k for k in spec.grid if k not in spec.rows]
    return paired_comparisons(recs, spec.rows, spec.comparisons, pair_keys)


STATS = ("c_q50", "c_q90", "c_q99", "c_max", "init_l1_kept", "init_l2_kept", "l1_over_sqrtk_l2")


def collect_stats(spec: TableSpec, runs_dir) -> pd.DataFrame:
    """The long table next to the accuracy: per (row values, variant) the seed-mean accuracy and the seed-mean
    of each ``c_stats`` field of ``result.json`` (:func:`sketchbound.dnn.theory.layers.kept_weight_stats`:
    quantiles of |w*/w⁰| over kept weights, ℓ1/ℓ2 of the kept initial weights, Theorem 4.4's c);
    ``n_stats`` counts the runs that had them (runs finished before the field existed have none).

    Parameters
    ----------
    spec : TableSpec
        The table.
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    pandas.DataFrame
        Columns: the row keys, ``variant``, ``accuracy``, ``n``, ``n_stats`` and :data:`STATS`.

    Examples
    --------
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> collect_stats(spec, "no/such/runs")["n"].tolist()
    [0, 0]
    """
    from sketchbound.dnn.experiments.run import load_result  # noqa: PLC0415
    acc: dict[tuple, list] = {}
    for name, row, cfg in expand(spec):
        key = tuple(row[k] for k in spec.rows) + (name,)
        acc.setdefault(key, [])
        res = load_result(cfg, runs_dir)
        if res is not None and res.get("accuracy") is not None:
            acc[key].append((float(res["accuracy"]), res.get("c_stats") or {}))
    recs = []
    for key, vals in acc.items():
        rec = dict(zip(spec.rows, key[:-1]), variant=key[-1])
        rec["accuracy"] = sum(a for a, _ in vals) / len(vals) if vals else math.nan
        with_stats = [st for _, st in vals if st]
        rec["n"], rec["n_stats"] = len(vals), len(with_stats)
        for f in STATS:
            xs = [float(st[f]) for st in with_stats if st.get(f) is not None]
            rec[f] = sum(xs) / len(xs) if xs else math.nan
        recs.append(rec)
    return pd.DataFrame.from_records(recs, columns=list(spec.rows) + ["variant", "accuracy", "n", "n_stats", *STATS])


def stats_markdown(stats: pd.DataFrame) -> str:
    df = stats.copy()
    for c in ("accuracy", *STATS):
        df[c] = df[c].map(lambda x: "–" if isinstance(x, float) and math.isnan(x) else f"{x:.4g}")
    return to_markdown(df.set_index(list(df.columns[:1])))


def _cell(mean, std, n, expected) -> str:
    if not n or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    s = f"{mean:.2f} ± {std:.2f}"
    return s if n == expected else f"{s} ({n}/{expected})"


def render(spec: TableSpec, long: pd.DataFrame, value: str = "cell") -> pd.DataFrame:
    """The wide table in the paper's layout (rows in the file's grid order, variants as columns).

    Parameters
    ----------
    spec : TableSpec
        The table.
    long : pandas.DataFrame
        :func:`collect`'s long table.
    value : {"cell", "reference"}, optional
        ``"cell"``: ``mean ± std`` strings (``(n/N)`` when seeds are missing, ``–`` when none finished);
        ``"reference"``: the paper's numbers.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> render(spec, collect(spec, "no/such/runs"))["Random"].tolist()
    ['–', '–']
    """
    df = long.copy()
    if value == "cell":
        df["value"] = [_cell(m, s, n, e) for m, s, n, e in zip(df["mean"], df["std"], df["n"], df["expected"])]
    else:
        df["value"] = df["reference"].replace("", "–")
    for r in spec.rows:
        df[r] = df[r].map(_fmt_num)
    order = [v["name"] for v in spec.variants]
    wide = df.pivot(index=spec.rows, columns="variant", values="value")
    wide = wide[[c for c in order if c in wide.columns]]
    # rows in the file's grid order (the paper's order, e.g. densities 10%, 5%, 2%), not sorted
    combos = [tuple(_fmt_num(v) for v in combo) for combo in itertools.product(*(spec.grid[k] for k in spec.rows))]
    combos = [c if len(spec.rows) > 1 else c[0] for c in combos]
    wide = wide.reindex([c for c in combos if c in wide.index])
    if spec.transpose:
        wide = wide.T
    return wide


def to_markdown(df: pd.DataFrame) -> str:
    """A pipe table (no dependency on ``tabulate``); index levels become the first columns.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.

    Returns
    -------
    str

    Examples
    --------
    >>> print(to_markdown(pd.DataFrame({"a": [1], "b": ["x"]}).set_index("a")), end="")
    | a | b |
    |---|---|
    | 1 | x |
    """
    flat = df.reset_index()
    cols = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in flat.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in flat.iterrows():
        lines.append("| " + " | ".join(str(x) for x in r.tolist()) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(spec: TableSpec, long: pd.DataFrame, out_dir, meta: dict | None = None) -> dict[str, Path]:
    """Write ``<name>.csv``, ``<name>_long.csv``, ``<name>.md`` and ``<name>_meta.json`` atomically.

    Parameters
    ----------
    spec : TableSpec
        The table.
    long : pandas.DataFrame
        :func:`collect`'s long table.
    out_dir : str or Path
        The folder written into.
    meta : dict, optional
        :func:`~sketchbound.dnn.experiments.table_meta.table_metadata` (default: the table as given,
        without overrides).

    Returns
    -------
    dict of str to Path
        ``csv``, ``long``, ``md``, ``meta``.

    Examples
    --------
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sorted(p.name for p in write_outputs(spec, collect(spec, "no/such/runs"), d).values())
    ['demo.csv', 'demo.md', 'demo_long.csv', 'demo_meta.json']
    """
    from sketchbound.dnn.experiments.table_meta import legend, markdown_file, write_meta  # noqa: PLC0415
    if meta is None:
        from sketchbound.dnn.experiments.results import git_commit  # noqa: PLC0415
        from sketchbound.dnn.experiments.table_meta import describe  # noqa: PLC0415
        meta = describe(spec, spec, expand, commit=git_commit(), finished=int(long["n"].sum()))
    out = Path(out_dir)
    wide = render(spec, long)
    body = (f"{spec.notes}\n\n" if spec.notes else "") + to_markdown(wide)
    if (long["reference"] != "").any():
        body += "\nPaper (reference):\n\n" + to_markdown(render(spec, long, "reference"))
    paths = {"csv": out / f"{spec.name}.csv", "long": out / f"{spec.name}_long.csv", "md": out / f"{spec.name}.md"}
    atomic_write(paths["csv"], wide.to_csv())
    atomic_write(paths["long"], long.to_csv(index=False))
    atomic_write(paths["md"], markdown_file(meta, "", body, legend(spec)))
    paths["meta"] = write_meta(spec, meta, paths)
    return paths


def build_parser() -> OneLineParser:
    """The parser of ``python -m sketchbound.dnn.table``.

    Returns
    -------
    OneLineParser

    Examples
    --------
    >>> build_parser().parse_args(["t.toml", "--no-train", "--stats"]).no_train
    True
    """
    p = OneLineParser(prog="python -m sketchbound.dnn.table",
                      description="Run a paper table sweep (skipping finished runs) and write it as CSV/Markdown; "
                                  "each Markdown file ends with a legend of its columns and what ran (overrides, "
                                  "commit, table file SHA-256), also in <name>_meta.json.")
    p.add_argument("table", nargs="+", metavar="TABLE",
                   help="table TOML file(s) (dnn/configs/*.toml); several tables train as one pool of runs, in the order "
                        "given (one cluster for all with --workers), then each is written")
    p.add_argument("--runs-dir", default="runs", help="parent of the run directories (default: runs)")
    p.add_argument("--out", default=None, help="output folder for the table files (default: <runs-dir>/tables)")
    p.add_argument("--epochs", type=pos_int("epochs", hi=MAX_REPEATS), default=None,
                   help=f"shorter schedule: train this many epochs (milestones scale; at most {MAX_REPEATS})")
    p.add_argument("--seeds", type=pos_int("seeds", hi=MAX_REPEATS), default=None,
                   help=f"use seeds 0..N-1 instead of the file's list (at most {MAX_REPEATS})")
    from sketchbound.dnn.data import DATASETS  # noqa: PLC0415  (the accepted values, named in --help)
    from sketchbound.dnn.experiments.config import MASKS  # noqa: PLC0415
    from sketchbound.dnn.models import MODEL_NAMES  # noqa: PLC0415
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field for every run (repeatable), e.g. --set width=0.5; KEY is a flag of "
                        "python -m sketchbound.dnn.run without its dashes: model (" + ", ".join(MODEL_NAMES) + "), "
                        "dataset (" + ", ".join(d for d in DATASETS if d != "imagenet") + "), mask (" + ", ".join(MASKS)
                        + "; a table file that names none trains global, the threshold; the paper's §7 mask is "
                        "--set mask=randomized), width, train_subset, ...")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--concurrent", type=pos_int("concurrent"), default=None, help="runs trained at once per GPU (default: the first file's, or 8)")
    TrainerOptions.add_args(p, checked_later=("fused_compile",))  # its message names the accepted modes
    from sketchbound.cluster import add_cluster_arguments  # noqa: PLC0415
    add_cluster_arguments(p, what="runs (a task = one group of --concurrent runs; a worker per GPU)")
    p.add_argument("--gpus-per-worker", type=pos_int("gpus-per-worker"), default=None, metavar="K",
                   help="with --workers: K GPUs (and K threads, resource GPU=K) per worker process (default 1)")
    p.add_argument("--balance", action="store_true",
                   help="with --workers/--scheduler: regroup the runs of the tasks that start together so that their "
                        "mask costs (e.g. SynFlow's 100 rounds) are even; same runs, same results, shorter wait for "
                        "the slowest task")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="dataset folder (default: $SKETCHBOUND_DATA, then the standard locations; "
                        "`python -m sketchbound.data` shows what is installed)")
    p.add_argument("--no-train", action="store_true", help="only aggregate finished runs")
    p.add_argument("--force", action="store_true", help="train networks larger than half of this machine's memory "
                                                        "(refused otherwise, before any is built)")
    add_lock_wait_argument(p)
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether they are finished, the number "
                   "to train and a rough time estimate (from finished runs' wall_s, else documented rates), then exit")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars (the one over all runs, each group's)")
    p.add_argument("--stats", action="store_true",
                   help="also write/print the paired statistics of the file's [[compare]] pairs (<name>_paired.{csv,md}: "
                        "delta by seed, 95%% CI, paired t p, Holm p over the table) and <name>_stats.{csv,md}: accuracy next "
                        "to |w*/w0| quantiles over kept weights and the l1/l2 norms of the kept initial weights")
    return p


def _write_table(spec: TableSpec, args, meta: dict) -> dict[str, Path]:
    """Aggregate one table's finished runs: write its files (and with ``--stats`` its paired statistics and
    |w*/w0| summary) with ``meta`` (:func:`table_metadata`), print them, and return the paths written."""
    out = Path(args.out or Path(args.runs_dir) / "tables")
    long = collect(spec, args.runs_dir)
    paths = write_outputs(spec, long, out, meta)
    print(f"# {meta['title']}")
    print(to_markdown(render(spec, long)))
    if args.stats:
        from sketchbound.dnn.experiments.table_meta import markdown_file, stats_legend, write_meta  # noqa: PLC0415
        if spec.comparisons:
            from sketchbound.dnn.experiments.paired import paired_legend, paired_markdown  # noqa: PLC0415
            pt = paired_table(spec, args.runs_dir)
            pmd = paired_markdown(pt, spec.rows)
            atomic_write(out / f"{spec.name}_paired.csv", pt.to_csv(index=False))
            atomic_write(out / f"{spec.name}_paired.md", markdown_file(
                meta, ": paired differences by seed", "Δ = A − B per seed; 95% Student-t CI over seeds; two-sided "
                "paired t-test; Holm over every row of this table.\n\n" + pmd, paired_legend(spec.rows)))
            paths["paired_csv"], paths["paired_md"] = out / f"{spec.name}_paired.csv", out / f"{spec.name}_paired.md"
            print(pmd)
        stats = collect_stats(spec, args.runs_dir)
        md = stats_markdown(stats)
        atomic_write(out / f"{spec.name}_stats.csv", stats.to_csv(index=False))
        atomic_write(out / f"{spec.name}_stats.md", markdown_file(meta, ": the constant c in practice", md,
                                                                        stats_legend(spec)))
        paths["stats_csv"], paths["stats_md"] = out / f"{spec.name}_stats.csv", out / f"{spec.name}_stats.md"
        print(md)
        paths["meta"] = write_meta(spec, meta, paths)  # again, now with the statistics' files
    return paths


def _dry_run(specs: list[TableSpec], runs_of: list, args) -> None:
    """``--dry-run``: each run, finished or to do, then the count to train and a rough time estimate."""
    from sketchbound.dnn.experiments.run import is_finished  # noqa: PLC0415
    from sketchbound.dnn.experiments.table_estimate import plan_estimate  # noqa: PLC0415
    for sp, runs in zip(specs, runs_of):
        if len(specs) > 1:
            print(f"# {sp.name}")
        done = 0
        for name, row, cfg in runs:
            fin = is_finished(cfg, args.runs_dir)
            done += fin
            print(f"{'done' if fin else 'todo'}  {name:40s} {cfg.run_name()}")
        print(f"{done}/{len(runs)} finished")
    _, line = plan_estimate([c for runs in runs_of for _, _, c in runs], args.runs_dir, device=args.device,
                            concurrent=args.concurrent or specs[0].concurrent, fusion=args.fusion)
    print(line)


@interruptible("python -m sketchbound.dnn.table")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sketchbound.dnn.table TABLE ...``: train every missing run of the table file(s), then write
    each table (see the module docstring).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0; bad arguments or files: one line on stderr and ``SystemExit(2)``.

    Examples
    --------
    >>> main(["no/such/table.toml", "--no-train"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    p = build_parser()
    args = p.parse_args(argv)
    if args.balance and not (args.workers or args.scheduler):
        p.error("--balance needs --workers N or --scheduler ADDRESS (it evens out the tasks that start together "
                "on several workers; one process trains its groups one after another)")
    trainer_options = TrainerOptions.from_args(args)
    if (bad := trainer_options.flag_error()) is not None:
        p.error(bad)
    if args.sgd_kernel != "foreach" and not args.no_train and not (args.workers or args.scheduler or args.gpus_per_worker):
        from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel  # noqa: PLC0415
        import torch  # noqa: PLC0415
        try:  # here, where it trains: a Dask cluster's workers check on their own devices
            check_sgd_kernel(args.sgd_kernel, args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
                             "--sgd-kernel")
        except ValueError as e:
            p.error(str(e))
    try:
        sets = parse_overrides(args.set)
    except ValueError as e:
        p.error(str(e))
    overrides = dict(sets)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.data_root is not None:
        overrides["data_root"] = args.data_root
    try:
        specs = [load_table(t, overrides=overrides, seeds=args.seeds) for t in args.table]
        designs = [load_table(t) for t in args.table]  # as written: what the overrides are measured against
        names = [sp.name for sp in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"table: two files name the same table {dup[0]!r}; accepted: tables of different names")
        runs_of = [expand(sp) for sp in specs]
        for sp, runs in zip(specs, runs_of):  # before any run trains: an IMP rewind no level could reach
            for name, row, cfg in runs:
                try:
                    cfg.check_imp_rewind()
                    cfg.check_batch_size()
                except ValueError as e:
                    raise ValueError(f"{sp.name}: variant {name!r} at {row}: {e}") from e
        check_output_path(args.runs_dir, kind="dir", flag="--runs-dir")
        check_output_path(args.out or Path(args.runs_dir) / "tables", kind="dir", flag="--out")
    except (ValueError, FileNotFoundError) as e:
        p.error(" ".join(str(e).split()))
    cluster = bool(args.workers or args.scheduler or args.gpus_per_worker)
    if not (args.no_train or args.dry_run):
        from sketchbound.dnn.experiments.budget import check_run_budget  # noqa: PLC0415
        check_run_budget(p.prog, [c for runs in runs_of for _, _, c in runs], force=args.force)
        if args.device is not None and not cluster:  # a cluster's workers pick their own devices
            torch_device(p.prog, args.device)
    from sketchbound.dnn.experiments.run import is_finished, run_configs  # noqa: PLC0415
    if args.dry_run:
        _dry_run(specs, runs_of, args)
        return 0
    if not args.no_train:
        from sketchbound.dnn.experiments.run import RunLocked, plan_chunks, preload_data  # noqa: PLC0415
        bar = None
        try:
            if not cluster:  # read (and check) every dataset the pending runs need before the first one trains
                preload_data([c for ch in plan_chunks([c for runs in runs_of for _, _, c in runs], args.runs_dir)
                              for c in ch])
            train = run_configs
            if args.workers or args.scheduler or args.gpus_per_worker:  # Dask: a task per trainer group
                from functools import partial  # noqa: PLC0415
                from sketchbound.dnn.experiments.cluster import run_table  # noqa: PLC0415
                train = partial(run_table, workers=args.workers, scheduler=args.scheduler,
                                gpus_per_worker=args.gpus_per_worker, prog=p.prog, balance=args.balance)
            # one pool, in the order the files list their runs (a run two tables share trains once)
            if not (cluster or args.no_progress):  # one bar over every run still to train, with an estimate
                from sketchbound.dnn.experiments.table_estimate import run_bar  # noqa: PLC0415
                bar = run_bar([c for runs in runs_of for _, _, c in runs], args.runs_dir, device=args.device,
                              concurrent=args.concurrent or specs[0].concurrent, fusion=args.fusion)
            train([c for runs in runs_of for _, _, c in runs], args.runs_dir, device=args.device,
                  concurrent=args.concurrent or specs[0].concurrent, progress=not args.no_progress,
                  options=trainer_options,
                  **({} if cluster else {"lock_wait": args.lock_wait}),
                  **({"on_chunk": lambda ch: bar.update(len(ch))} if bar is not None else {}),
                  command="python -m sketchbound.dnn.table " + " ".join(sys.argv[1:] if argv is None else argv))
        except (FileNotFoundError, ValueError, RunLocked) as e:  # as dnn.run: one line, exit 2
            msg = str(e).splitlines()[0] if isinstance(e, FileNotFoundError) else " ".join(str(e).split())
            sys.stderr.write(f"{p.prog}: error: {msg}\n")
            return 2
        finally:
            if bar is not None:
                bar.close()
    from sketchbound.dnn.experiments.table_meta import OPTION_DEFAULTS, table_metadata  # noqa: PLC0415
    options = {k: getattr(args, k) for k in OPTION_DEFAULTS}
    paths: dict[str, Path] = {}
    for spec, design in zip(specs, designs):
        meta = table_metadata(spec, args.runs_dir, expand, distinct_runs, design=design, epochs=args.epochs, seeds=args.seeds, sets=sets,
                              options=options)
        paths.update({f"{spec.name}:{k}": v for k, v in _write_table(spec, args, meta).items()})
    print(f"written: {', '.join(str(x) for x in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
