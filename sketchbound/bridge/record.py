"""Writing a rung's results: ``<rung>.csv`` (one row per mask), ``<rung>.json`` (provenance: command,
commit, wall time, machine, settings) and ``<rung>_summary.json`` (:func:`sketchbound.bridge.analysis.summarize`),
each through the one atomic writer. The CSV's first columns are :data:`sketchbound.bridge.analysis.COLUMNS`.
"""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict
from pathlib import Path

from .._io import atomic_write, atomic_write_json
from .analysis import COLUMNS, summarize

__all__ = ["commit", "write_rung"]


def commit() -> str | None:
    """The checkout's ``git`` commit (``+dirty`` when tracked files differ), or None outside a checkout.

    Returns
    -------
    str or None

    Examples
    --------
    >>> isinstance(commit(), (str, type(None)))
    True
    """
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def write_rung(rung: str, rows: list[dict], info: dict, cfg, out, *, command: str, wall_s: float,
               commit_id: str | None = None) -> dict[str, Path]:
    """Write the rung's CSV, provenance JSON and summary JSON into folder ``out``.

    Parameters
    ----------
    rung : str
        ``linear`` or ``ntk`` (the files' stem).
    rows : list of dict
        One per mask.
    info : dict
        The rung's constants (``c, σ``, dense accuracies).
    cfg : dataclass
        The rung's settings.
    out : str or path
    command : str
        The command line that produced the rows.
    wall_s : float
    commit_id : str, optional
        The commit the rows were computed at (read when the run started); default :func:`commit` now.

    Returns
    -------
    dict of pathlib.Path
        ``{"csv", "json", "summary"}``.

    Examples
    --------
    >>> import tempfile
    >>> from sketchbound.bridge.linear import LinearConfig
    >>> rows = [dict(rung="linear", model="m", density=0.1, law=l, procedure="sec7", seed=s, predicted_error=1.0,
    ...              measured_error=1.0, test_acc=0.5, test_loss=0.1) for s in (0, 1) for l in ("beta=1", "beta=0")]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_rung("linear", rows, {}, LinearConfig.quick(), d, command="demo", wall_s=1.0,
    ...                        commit_id="abc")
    ...     sorted(p.name for p in paths.values())
    ['linear.csv', 'linear.json', 'linear_summary.json']
    """
    import pandas as pd  # noqa: PLC0415

    out = Path(out)
    df = pd.DataFrame(rows)
    df = df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]
    paths = {"csv": out / f"{rung}.csv", "json": out / f"{rung}.json", "summary": out / f"{rung}_summary.json"}
    atomic_write(paths["csv"], df.to_csv(index=False, float_format="%.17g"))
    atomic_write_json(paths["summary"], summarize(df))
    atomic_write_json(paths["json"], {
        "rung": rung, "command": command, "commit": commit_id or commit(), "wall_s": round(wall_s, 2), "masks": len(df),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "blas_threads": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
                    "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "settings": asdict(cfg), "constants": info}, default=float)
    return paths
