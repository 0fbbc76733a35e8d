"""A table file (see :mod:`sketchbound.dnn.experiments.table` for its format): :func:`load_table` reads
and validates it into a :class:`TableSpec`, :func:`expand` lists its runs (variants × grid × seeds) and
:func:`distinct_runs` each run once."""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

from sketchbound._cli import MAX_REPEATS
from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.experiments.toml_io import read_toml

__all__ = ["TableSpec", "load_table", "parse_overrides", "expand", "distinct_runs"]

_CFG_FIELDS = {f.name for f in fields(RunConfig)}


@dataclass
class TableSpec:
    """A parsed table file (see :mod:`sketchbound.dnn.experiments.table` for the format).

    Parameters
    ----------
    name : str
        The table's name (its output files are ``<name>.csv``, ...).
    title : str
        Its heading.
    rows : list of str
        The grid keys that index the rows (the paper's layout).
    base : dict
        RunConfig fields shared by every run.
    grid : dict of str to list
        The cross product of values (``seed`` is averaged over).
    variants : list of dict
        One column each: ``name``, RunConfig fields, optional ``reference``.
    transpose : bool
        Variants as rows (Table II).
    concurrent : int or None
        Runs per trainer on a GPU.
    notes : str
        Text written above the table.
    comparisons : list of dict
        The ``[[compare]]`` pairs ``{"a", "b"}`` of the paired statistics.
    path : Path or None
        The file read.
    extra : dict
        Other keys of ``[table]``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> toml = '''
    ... [table]
    ... name = "demo"
    ... rows = ["density"]
    ... [grid]
    ... density = [0.1, 0.05]
    ... seed = [0, 1]
    ... [[variant]]
    ... name = "Random"
    ... method = "random"
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "demo.toml").write_text(toml)
    ...     spec = load_table(pathlib.Path(d, "demo.toml"))
    >>> spec.name, spec.rows, spec.grid["seed"]
    ('demo', ['density'], [0, 1])
    """

    name: str
    title: str
    rows: list[str]
    base: dict
    grid: dict[str, list]
    variants: list[dict]
    transpose: bool = False
    concurrent: int | None = None
    notes: str = ""
    comparisons: list[dict] = field(default_factory=list)
    path: Path | None = None
    extra: dict = field(default_factory=dict)


def _parse_value(s: str):
    import tomllib  # noqa: PLC0415
    try:
        return tomllib.loads(f"v = {s}")["v"]
    except tomllib.TOMLDecodeError:
        return s


def parse_overrides(items: Sequence[str]) -> dict:
    """``--set KEY=VALUE`` items as a dict of RunConfig overrides (``-`` in a key read as ``_``, values as
    TOML, else as strings); a ValueError names an item without ``=``.

    Parameters
    ----------
    items : sequence of str
        The ``KEY=VALUE`` items.

    Returns
    -------
    dict

    Examples
    --------
    >>> parse_overrides(["train-subset=5000", "mask=randomized"])
    {'train_subset': 5000, 'mask': 'randomized'}
    """
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = _parse_value(v.strip())
    return out


def load_table(path, *, overrides: dict | None = None, seeds: int | None = None) -> TableSpec:
    """Read and validate a table file.

    Parameters
    ----------
    path : str or Path
        The TOML file.
    overrides : dict, optional
        RunConfig fields that replace ``[base]`` and variant values (``--set``).
    seeds : int, optional
        Replace the seed list by ``range(seeds)`` (``--seeds``).

    Returns
    -------
    TableSpec

    Raises
    ------
    ValueError
        A malformed file, an unknown key or a bad value (the message names it).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> toml = '''
    ... [table]
    ... name = "demo"
    ... rows = ["density"]
    ... [grid]
    ... density = [0.1, 0.05]
    ... seed = [0, 1]
    ... [[variant]]
    ... name = "Random"
    ... method = "random"
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "demo.toml").write_text(toml)
    ...     spec = load_table(pathlib.Path(d, "demo.toml"))
    >>> [v["name"] for v in spec.variants], spec.grid["density"]
    (['Random'], [0.1, 0.05])
    """
    t = read_toml(path)
    where = str(path)
    if "table" not in t or "variant" not in t:
        raise ValueError(f"{where}: a table file needs a [table] section and at least one [[variant]]")
    for key, kind in (("table", dict), ("base", dict), ("grid", dict), ("variant", list)):
        if key in t and not isinstance(t[key], kind):
            shape = "[[variant]] tables" if kind is list else f"a [{key}] table"
            raise ValueError(f"{where}: '{key}' must be {shape}, got {type(t[key]).__name__} {t[key]!r}")
    if not t["variant"] or not all(isinstance(v, dict) for v in t["variant"]):
        raise ValueError(f"{where}: every [[variant]] must be a table with a name")
    unknown_top = sorted(set(t) - {"table", "base", "grid", "variant", "compare"})
    if unknown_top:
        raise ValueError(f"{where}: unknown top-level keys {unknown_top}; accepted: table, base, grid, variant, compare")
    tab = t["table"]
    base = dict(t.get("base", {}))
    grid = {k: (v if isinstance(v, list) else [v]) for k, v in t.get("grid", {}).items()}
    for k, v in grid.items():
        if not v:
            raise ValueError(f"{where}: [grid] key {k!r} has no values")
    variants = [dict(v) for v in t["variant"]]
    for k in list(base) + list(grid):
        if k not in _CFG_FIELDS:
            raise ValueError(f"{where}: unknown config key {k!r}; accepted: {', '.join(sorted(_CFG_FIELDS))}")
    for v in variants:
        if "name" not in v:
            raise ValueError(f"{where}: every [[variant]] needs a name")
        bad = set(v) - _CFG_FIELDS - {"name", "reference"}
        if bad:
            raise ValueError(f"{where}: variant {v['name']!r} has unknown keys {sorted(bad)}")
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: variant names must be unique, got {names}")
    comparisons = t.get("compare", [])
    if not isinstance(comparisons, list) or not all(isinstance(c, dict) for c in comparisons):
        raise ValueError(f"{where}: [[compare]] entries must be tables with keys a and b")
    for c in comparisons:
        if set(c) - {"a", "b"} or c.get("a") not in names or c.get("b") not in names:
            raise ValueError(f"{where}: [[compare]] needs a and b naming variants ({', '.join(names)}); got {c}")
    rows = tab.get("rows", [k for k in grid if k != "seed"])
    if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
        raise ValueError(f"{where}: [table] rows must be a list of [grid] keys such as [\"model\", \"density\"], "
                         f"got {rows!r}")
    conc = tab.get("concurrent")
    if conc is not None and (isinstance(conc, bool) or not isinstance(conc, int) or conc < 1):
        raise ValueError(f"{where}: [table] concurrent must be an integer >= 1 (runs trained at once), got {conc!r}")
    if not isinstance(tab.get("transpose", False), bool):
        raise ValueError(f"{where}: [table] transpose must be true or false, got {tab['transpose']!r}")
    if not rows:
        raise ValueError(f"{where}: the table needs at least one row key: a [grid] key other than seed "
                         f"(e.g. density = [0.1]) named in [table] rows")
    name = str(tab.get("name", Path(path).stem))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or ".." in name:
        raise ValueError(f"{where}: [table] name must be a plain file name (letters, digits, _ . -), got {name!r}")
    for r in rows:
        if r not in grid:
            raise ValueError(f"{where}: row key {r!r} is not a [grid] key ({', '.join(grid)})")
    if overrides:
        for k in overrides:
            if k not in _CFG_FIELDS:
                raise ValueError(f"override {k!r} is not a config key; accepted: {', '.join(sorted(_CFG_FIELDS))}")
        for k, val in overrides.items():
            if k in grid:  # a swept key becomes a one-value sweep (rows keep their layout)
                grid[k] = [val]
            else:
                base[k] = val
            for v in variants:
                v.pop(k, None)
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_REPEATS:
            raise ValueError(f"seeds must be an integer in [1, {MAX_REPEATS}], got {seeds!r}")
        grid["seed"] = list(range(seeds))
    grid.setdefault("seed", [0])
    return TableSpec(name=name, title=str(tab.get("title", "")), rows=rows, base=base,
                     grid=grid, variants=variants, transpose=bool(tab.get("transpose", False)),
                     concurrent=tab.get("concurrent"), notes=str(tab.get("notes", "")),
                     comparisons=[dict(c) for c in comparisons], path=Path(path))


def expand(spec: TableSpec) -> list[tuple[str, dict, RunConfig]]:
    """All runs of a table: variants × grid (validated).

    Parameters
    ----------
    spec : TableSpec
        The table.

    Returns
    -------
    list of tuple
        ``(variant name, row values {key: value}, RunConfig)`` per run, in the file's order.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> toml = '''
    ... [table]
    ... name = "demo"
    ... rows = ["density"]
    ... [grid]
    ... density = [0.1, 0.05]
    ... seed = [0, 1]
    ... [[variant]]
    ... name = "Random"
    ... method = "random"
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "demo.toml").write_text(toml)
    ...     spec = load_table(pathlib.Path(d, "demo.toml"))
    >>> len(expand(spec)), expand(spec)[0][:2]
    (4, ('Random', {'density': 0.1}))
    """
    keys = list(spec.grid)
    out = []
    for v in spec.variants:
        vfields = {k: x for k, x in v.items() if k not in ("name", "reference")}
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            point = dict(zip(keys, combo))
            d = {**spec.base, **point, **vfields}
            try:
                cfg = RunConfig.from_dict(d).resolved()
            except ValueError as e:
                raise ValueError(f"variant {v['name']!r} at {point}: {e}") from e
            out.append((v["name"], {k: point[k] for k in spec.rows}, cfg))
    return out


def distinct_runs(spec: TableSpec, limit: int | None = None) -> list[RunConfig]:
    """The table's runs in its order, each once (a dense run fills one cell per density), at most ``limit``:
    the slice a benchmark of the table's first runs trains.

    Parameters
    ----------
    spec : TableSpec
        The table.
    limit : int, optional
        The most runs returned.

    Returns
    -------
    list of RunConfig

    Examples
    --------
    >>> import pathlib, tempfile
    >>> toml = '''
    ... [table]
    ... name = "demo"
    ... rows = ["density"]
    ... [grid]
    ... density = [0.1, 0.05]
    ... seed = [0, 1]
    ... [[variant]]
    ... name = "Random"
    ... method = "random"
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = pathlib.Path(d, "demo.toml").write_text(toml)
    ...     spec = load_table(pathlib.Path(d, "demo.toml"))
    >>> [(c.density, c.seed) for c in distinct_runs(spec, limit=3)]
    [(0.1, 0), (0.1, 1), (0.05, 0)]
    """
    out, seen = [], set()
    for _, _, c in expand(spec):
        if limit is not None and len(out) >= limit:
            break
        if c.run_name() not in seen:
            seen.add(c.run_name())
            out.append(c)
    return out
