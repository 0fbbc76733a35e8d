"""What a written table ran: its overrides of the table file, the commit, the file and its SHA-256.

:func:`describe` compares the table as run (after ``--epochs``, ``--seeds``, ``--set``) with the file's
own design: when the runs differ, the title is prefixed ``[overridden: epochs=2, seeds=0-2, width=0.25]``
(a title such as "160 epochs … seeds 5-14" is then not printed as if it held) and the metadata says that
the table is not the recorded design. :func:`metadata_markdown` is the block written under a table's
Markdown, :func:`legend` explains its columns; ``<name>_meta.json`` holds the same and the column legend
of every file written (the CSV files stay plain data, readable by ``pandas.read_csv``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.training.options import TrainerOptions

__all__ = ["table_metadata", "write_meta", "markdown_file", "describe", "format_seeds", "legend", "stats_legend",
           "OPTION_DEFAULTS"]

#: command-line options that change how runs train (not which runs): listed when not at these defaults
OPTION_DEFAULTS = {"device": None, "concurrent": None, "data_root": None,
                   **{f.name: f.default for f in fields(TrainerOptions)}}

_STATS_HELP = {
    "variant": "the table file's variant (pruning method and mask)",
    "accuracy": "test accuracy in %, mean over the finished seeds",
    "n": "finished runs (seeds) of the cell",
    "n_stats": "runs of the cell whose result.json has c_stats (runs finished before the field existed have none)",
    "c_q50": "median over the kept weights of |w*/w0| (final over initial weight), the constant c of Theorem 4.4 "
             "in practice; mean over the seeds with c_stats",
    "c_q90": "90% quantile of |w*/w0| over the kept weights (seed mean)",
    "c_q99": "99% quantile of |w*/w0| over the kept weights (seed mean)",
    "c_max": "max of |w*/w0| over the kept weights: Theorem 4.4's c (seed mean)",
    "init_l1_kept": "l1 norm of the kept initial weights (seed mean)",
    "init_l2_kept": "l2 norm of the kept initial weights (seed mean)",
    "l1_over_sqrtk_l2": "l1 / (sqrt(k) l2) of the k kept initial weights: 1 for equal magnitudes (§4, Theorem 4.4 "
                        "against Lemma 4.5; seed mean)",
}


def format_seeds(seeds: Sequence) -> str:
    """Seeds as ranges: ``[0, 1, 2]`` → ``"0-2"``, ``[0, 2, 3]`` → ``"0,2-3"``.

    Parameters
    ----------
    seeds : sequence
        The seeds, in order.

    Returns
    -------
    str

    Examples
    --------
    >>> format_seeds([5, 6, 7, 8]), format_seeds([0, 2, 3]), format_seeds([4])
    ('5-8', '0,2-3', '4')
    """
    out: list[str] = []
    vals = list(seeds)
    i = 0
    while i < len(vals):
        j = i
        while (j + 1 < len(vals) and isinstance(vals[j], int) and isinstance(vals[j + 1], int)
               and vals[j + 1] == vals[j] + 1):
            j += 1
        out.append(str(vals[i]) if j == i else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ",".join(out)


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _config_path(path) -> str:
    p = Path(path)
    try:
        return os.path.relpath(p.resolve(), Path.cwd()) if p.resolve().is_relative_to(Path.cwd()) else str(p)
    except (OSError, ValueError):
        return str(p)


def describe(spec, design, expand, *, epochs=None, seeds=None, sets: dict | None = None, options: dict | None = None,
             commit: str | None = None, run_commits: dict | None = None, finished: int = 0) -> dict:
    """The metadata of one written table (also ``<name>_meta.json``).

    Parameters
    ----------
    spec : TableSpec
        The table as run (overrides applied).
    design : TableSpec
        The same file read without overrides: the recorded design.
    expand : callable
        ``expand(spec)`` → ``(row, variant, RunConfig)`` triples (:func:`sketchbound.dnn.experiments.table.expand`,
        passed in so this module does not import the table runner).
    epochs, seeds : int or None
        ``--epochs`` and ``--seeds`` as given.
    sets : dict, optional
        The ``--set KEY=VALUE`` overrides (parsed).
    options : dict, optional
        Command-line options that change how runs train, listed when not at :data:`OPTION_DEFAULTS`.
    commit : str or None
        The code's commit (``None``: "unknown").
    run_commits : dict, optional
        ``{commit: number of finished runs trained at it}`` from the runs' ``result.json``.
    finished : int
        Finished runs of the table.

    Returns
    -------
    dict
        ``title`` (prefixed when the runs differ from the design), ``recorded_title``, ``config``,
        ``config_sha256``, ``commit``, ``overrides`` (label → value), ``options``, ``recorded_design``
        (bool), ``runs`` (expected, finished, differing from the design), ``run_commits``.

    Examples
    --------
    >>> from sketchbound.dnn.experiments.table_spec import TableSpec, expand
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> import dataclasses
    >>> design = dataclasses.replace(spec, grid={"density": [0.1, 0.05], "seed": [0]})  # the file as written
    >>> describe(spec, design, expand, seeds=2)["title"]
    '[overridden: seeds=0-1] Demo'
    """
    over: dict[str, str] = {}
    if epochs is not None:
        over["epochs"] = str(epochs)
    if seeds is not None:
        over["seeds"] = format_seeds(spec.grid["seed"])
    for k, v in (sets or {}).items():
        over[k] = _value(v)
    opts = {k: _value(v) for k, v in (options or {}).items() if k in OPTION_DEFAULTS and v != OPTION_DEFAULTS[k]}
    ran = [c.run_name() for _, _, c in expand(spec)]
    try:
        recorded = {c.run_name() for _, _, c in expand(design)}
    except ValueError:  # the file as written is no valid design (the overrides made it one): nothing matches
        recorded = set()
    differ = sum(r not in recorded for r in dict.fromkeys(ran))
    same = differ == 0 and len(set(ran)) == len(recorded)
    base = spec.title or spec.name
    shown = base if same or not over else f"[overridden: {', '.join(f'{k}={v}' for k, v in over.items())}] {base}"
    if not same and not over:  # only options (e.g. --data-root) changed the runs: say so all the same
        shown = f"[overridden] {base}"
    path = spec.path
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path is not None else None
    return {"table": spec.name, "title": shown, "recorded_title": base,
            "config": _config_path(path) if path is not None else None, "config_sha256": digest,
            "commit": commit or "unknown", "overrides": over, "options": opts, "recorded_design": same,
            "runs": {"expected": len(set(ran)), "finished": int(finished), "not_in_design": differ,
                     "design": len(recorded)},
            "run_commits": dict(run_commits or {})}


def title(meta: dict, suffix: str = "") -> str:
    """The Markdown heading of a file of the table: ``# <title><suffix>``."""
    return f"# {meta['title']}{suffix}\n\n"


def design_note(meta: dict) -> str:
    """One bold line under the heading when the table is not the file's recorded design, else ``""``."""
    if meta["recorded_design"]:
        return ""
    r = meta["runs"]
    return (f"**Not the recorded design:** {r['not_in_design']} of these {r['expected']} runs are not runs of "
            f"`{meta['config']}` as written (its design has {r['design']}); see \"What ran\" below.\n\n")


def metadata_markdown(meta: dict) -> str:
    """The "What ran" block written under every Markdown file of a table."""
    over = meta["overrides"]
    lines = ["## What ran", "",
             f"- table file: `{meta['config']}` (SHA-256 `{meta['config_sha256']}`)",
             f"- commit of the code that wrote this table: `{meta['commit']}`"]
    if meta["run_commits"]:
        rc = ", ".join(f"`{c}` ({n})" for c, n in meta["run_commits"].items())
        lines.append(f"- commits the finished runs trained at (result.json `git_commit`, runs): {rc}")
    if over:
        lines.append("- overrides of the table file: " + ", ".join(f"{k}={v}" for k, v in over.items())
                     + (" (the same runs as the file's design)" if meta["recorded_design"]
                        else " (**not the recorded design**)"))
    else:
        lines.append("- overrides of the table file: none (the file's recorded design)"
                     if meta["recorded_design"] else "- overrides of the table file: none, but the runs differ "
                                                     "from the file's design")
    if meta["options"]:
        lines.append("- options: " + ", ".join(f"{k}={v}" for k, v in meta["options"].items()))
    r = meta["runs"]
    lines.append(f"- runs: {r['finished']} of {r['expected']} finished")
    if meta["title"] != meta["recorded_title"]:
        lines.append(f"- the file's title: {meta['recorded_title']}")
    return "\n".join(lines) + "\n"


def _key_help(key: str) -> str:
    for f in fields(RunConfig):
        if f.name == key:
            return f.metadata.get("help", key)
    return key


def legend(spec) -> str:
    """The legend under a table's Markdown (``<name>.md``): every column said in words.

    Parameters
    ----------
    spec : TableSpec
        The table.

    Returns
    -------
    str

    Examples
    --------
    >>> from sketchbound.dnn.experiments.table_spec import TableSpec, expand
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> "- seeds: 0-1" in legend(spec)
    True
    """
    names = ", ".join(f"`{v['name']}`" for v in spec.variants)
    keys = [f"- `{k}`: {_key_help(k)}" for k in spec.rows]
    cell = ("test accuracy in % at the end of training, mean ± sample standard deviation (ddof = 1; 0 for one "
            "seed) over the seeds; `(n/N)` after a cell: only n of its N seeds finished; `–`: none finished")
    if spec.transpose:
        lines = [f"- rows: the variants ({names}); columns: the values of {' / '.join(spec.rows)}:", *keys,
                 f"- each cell: {cell}"]
    else:
        lines = [*keys, f"- the variant columns {names}: {cell}"]
    lines += [f"- seeds: {format_seeds(spec.grid['seed'])}",
              "- \"Paper (reference)\", when present: the paper's published numbers for the same cells"]
    return "Columns:\n\n" + "\n".join(lines) + "\n"


def stats_legend(spec) -> str:
    """The legend under ``<name>_stats.md``: the row keys and every ``c_stats`` column in words.

    Parameters
    ----------
    spec : TableSpec
        The table.

    Returns
    -------
    str

    Examples
    --------
    >>> from sketchbound.dnn.experiments.table_spec import TableSpec, expand
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> "Theorem 4.4" in stats_legend(spec)
    True
    """
    lines = [f"- `{k}`: {_key_help(k)}" for k in spec.rows] + [f"- `{k}`: {v}" for k, v in _STATS_HELP.items()]
    return "Columns (`–`: no run of the cell has the value):\n\n" + "\n".join(lines) + "\n"


def stats_columns() -> dict:
    """Column → meaning of ``<name>_stats.csv`` (less the row keys)."""
    return dict(_STATS_HELP)


#: the columns of ``<name>_long.csv`` other than the row keys
LONG_COLUMNS = {"variant": "the table file's variant", "mean": "test accuracy in %, mean over the finished seeds",
                "std": "sample standard deviation over the seeds (ddof = 1; 0 for one seed)",
                "n": "finished seeds", "expected": "seeds the cell has", "reference": "the paper's number, if any"}


def table_metadata(spec, runs_dir, expand, distinct_runs, *, design=None, epochs=None, seeds=None,
                   sets: dict | None = None, options: dict | None = None) -> dict:
    """What ran for one table (:func:`describe`): the overrides against ``design`` (the file read without
    them; default: ``spec`` itself), the commit (``SKETCHBOUND_COMMIT`` when set, else
    ``git rev-parse HEAD``, else "unknown") and the commits the finished runs trained at.

    Parameters
    ----------
    spec : TableSpec
        The table as run.
    runs_dir : str or Path
        The parent of the run directories (their ``result.json`` say the commits).
    expand, distinct_runs : callable
        :func:`~sketchbound.dnn.experiments.table_spec.expand` and
        :func:`~sketchbound.dnn.experiments.table_spec.distinct_runs`.
    design : TableSpec, optional
        The file read without overrides.
    epochs, seeds, sets, options :
        As in :func:`describe`.

    Returns
    -------
    dict
        :func:`describe`'s metadata.

    Examples
    --------
    >>> from sketchbound.dnn.experiments.table_spec import TableSpec, expand
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> from sketchbound.dnn.experiments.table_spec import distinct_runs
    >>> table_metadata(spec, "no/such/runs", expand, distinct_runs)["runs"]
    {'expected': 4, 'finished': 0, 'not_in_design': 0, 'design': 4}
    """
    from collections import Counter  # noqa: PLC0415
    from sketchbound.dnn.experiments.results import git_commit, load_result  # noqa: PLC0415
    commits: Counter = Counter()
    for c in distinct_runs(spec):
        res = load_result(c, runs_dir)
        if res is not None and res.get("accuracy") is not None:
            commits[str(res.get("git_commit") or "unknown")] += 1
    return describe(spec, design if design is not None else spec, expand, epochs=epochs, seeds=seeds, sets=sets,
                    options=options, commit=git_commit(), run_commits=dict(commits.most_common()),
                    finished=sum(commits.values()))


def markdown_file(meta: dict, suffix: str, body: str, legend_text: str) -> str:
    """A Markdown file of the table: heading (overrides said), body, legend, "What ran".

    Parameters
    ----------
    meta : dict
        :func:`describe`'s metadata.
    suffix : str
        Added to the heading (e.g. ``" (paired)"``).
    body : str
        The table(s).
    legend_text : str
        The legend (:func:`legend`).

    Returns
    -------
    str

    Examples
    --------
    >>> from sketchbound.dnn.experiments.table_spec import TableSpec, expand
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> text = markdown_file(describe(spec, spec, expand), "", "| x |", legend(spec))
    >>> text.splitlines()[0], "## What ran" in text
    ('# Demo', True)
    """
    return title(meta, suffix) + design_note(meta) + body + "\n" + legend_text + "\n" + metadata_markdown(meta)


def write_meta(spec, meta: dict, paths: dict[str, Path]) -> Path:
    """``<name>_meta.json`` next to the table's files: ``meta`` and, per file written, its columns in words.

    Parameters
    ----------
    spec : TableSpec
        The table.
    meta : dict
        :func:`describe`'s metadata.
    paths : dict of str to Path
        The files written (``csv``, ``long``, ``md``, ...); the JSON goes next to ``paths["csv"]``.

    Returns
    -------
    Path
        The file written (atomically).

    Examples
    --------
    >>> from sketchbound.dnn.experiments.table_spec import TableSpec, expand
    >>> spec = TableSpec(name="demo", title="Demo", rows=["density"], base={}, variants=[{"name": "Random",
    ...                  "method": "random"}], grid={"density": [0.1, 0.05], "seed": [0, 1]})
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_meta(spec, describe(spec, spec, expand), {"csv": pathlib.Path(d, "demo.csv")}).name
    'demo_meta.json'
    """
    from sketchbound._io import atomic_write_json  # noqa: PLC0415
    from sketchbound.dnn.experiments.paired import CSV_ONLY, LEGEND  # noqa: PLC0415
    rows = {r: f"row key: the run config's {r}" for r in spec.rows}
    paired_cols = {**rows, **{c: f"{head}: {what}" for head, (cols, what) in LEGEND.items() for c in cols.split(", ")},
                   **CSV_ONLY}
    cols = {"csv": legend(spec).strip(), "long": {**rows, **LONG_COLUMNS}, "md": legend(spec).strip(),
            "paired_csv": paired_cols, "paired_md": paired_cols, "stats_csv": {**rows, **stats_columns()},
            "stats_md": stats_legend(spec).strip()}
    path = paths["csv"].with_name(f"{spec.name}_meta.json")
    atomic_write_json(path, {**meta, "files": {p.name: cols[k] for k, p in paths.items() if k in cols}})
    return path
