"""Shared by the figure modules: the write-CSV-then-plot-from-it pipeline, styling, and an IMP trace.

Every figure is made the same way (:func:`publish`): the numbers are computed into a
``pandas.DataFrame``, written atomically to ``<stem>.csv``, **read back from that file**, and the plot
function draws from what was read — so the figure shows exactly the CSV's numbers. The PNG and PDF
are written atomically (temporary file in the same folder + ``os.replace``), and ``<stem>.json``
records the command, the arguments, the wall time and the library versions.

:func:`imp_trace` is iterative magnitude pruning with rewinding that *keeps the mask of every level*
(Fig. 1 needs the tickets at all densities, Fig. 3 the ones at 5% and 2% of one run).
:func:`sketchbound.dnn.experiments.imp.imp` returns only the final mask, so this is a small adapter built from the
same public pieces (``imp_scores`` → ``make_mask(..., "global")`` → rewind → masked training with
:class:`~sketchbound.dnn.training.ConcurrentTrainer`) with the same semantics; see its docstring.
"""
from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .._io import atomic_write  # noqa: E402

__all__ = ["STYLE", "COLORS", "float_format", "publish", "redraw", "savefig_atomic"]

#: rcParams used by every figure (readable at 100% zoom in a paper column and on screen)
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,
}

#: one colour per method / sketch, the same in every figure
COLORS = {
    "all": "0.55",
    "imp": "C3",
    "synflow": "C0",
    "synflow_randomized": "C2",
    "random": "C7",
    "random_uniform": "C7",
    "random_layer_matched": "C1",
    "algorithm1": "C0",
    "uniform_algorithm1": "C7",
    "top_s": "C3",
    "successive": "C1",
    "systematic_ht": "C4",
    "bernoulli_ht": "C2",
    "priority": "C5",
    "measured": "C0",
    "exact": "k",
    "bound": "C3",
}

#: CSV floats are written with full precision so that the re-read frame equals the computed one
float_format = "%.17g"


def command_line() -> str:
    return "python -m sketchbound.figures " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def seconds(t0: float) -> float:
    return round(time.perf_counter() - t0, 2)


def savefig_atomic(fig, path: Path) -> Path:
    """``fig.savefig`` through the one atomic writer (:func:`sketchbound._io.atomic_write`).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        The file; its suffix gives the format (``.png``, ``.pdf``, ...).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> fig = plt.figure(figsize=(1, 1))
    >>> with tempfile.TemporaryDirectory() as t:
    ...     savefig_atomic(fig, Path(t) / "empty.png").name
    'empty.png'
    >>> plt.close(fig)
    """
    path = Path(path)
    return atomic_write(path, lambda f: fig.savefig(f, format=path.suffix.lstrip("."), bbox_inches="tight"))


def run_figure(compute: Callable, caption: Callable, plot: Callable, stem: str, args) -> dict:
    """The one way a figure is made: ``compute(args) -> (df, meta)``, time it, caption it, and
    :func:`publish` the CSV and the figure drawn from the CSV read back.

    Parameters
    ----------
    compute : callable
        ``compute(args) -> (pandas.DataFrame, dict)``: the numbers and the metadata.
    caption : callable
        ``caption(meta) -> str``.
    plot : callable
        ``plot(df, caption) -> matplotlib.figure.Figure``, drawn from the CSV read back.
    stem : str
        The files' name, ``<args.out>/<stem>.{csv,png,pdf,json}``.
    args : argparse.Namespace
        The CLI's arguments; ``args.out`` is the folder.

    Returns
    -------
    dict
        ``{"csv", "png", "pdf", "json"}`` → path.
    """
    t0 = time.perf_counter()
    df, meta = compute(args)
    meta["wall_s"] = seconds(t0)
    meta["caption"] = caption(meta)
    return publish(df, lambda d: plot(d, meta["caption"]), args.out, stem, meta)


def publish(df: pd.DataFrame, plot: Callable[[pd.DataFrame], "plt.Figure"], out, stem: str,
            meta: dict | None = None) -> dict[str, Path]:
    """Write ``<out>/<stem>.csv``, re-read it, draw it with ``plot`` and write ``.png``/``.pdf``/``.json``.

    The figure is drawn from the CSV as read back from disk, never from the in-memory frame; every file
    is written atomically, and the JSON records the command, ``meta`` and the library versions.

    Parameters
    ----------
    df : pandas.DataFrame
        The numbers.
    plot : callable
        ``plot(df) -> matplotlib.figure.Figure``.
    out : str or Path
        The folder (created if needed).
    stem : str
        The files' name.
    meta : dict, optional
        Recorded in the JSON.

    Returns
    -------
    dict
        ``{"csv": ..., "png": ..., "pdf": ..., "json": ...}`` → path.

    Examples
    --------
    >>> import tempfile
    >>> df = pd.DataFrame({"s": [1, 2, 4], "error": [1.0, 0.5, 0.25]})
    >>> def plot(d):
    ...     fig, ax = plt.subplots(figsize=(2, 2)); ax.loglog(d.s, d.error); return fig
    >>> with tempfile.TemporaryDirectory() as t:
    ...     sorted(p.name for p in publish(df, plot, t, "demo").values())
    ['demo.csv', 'demo.json', 'demo.pdf', 'demo.png']
    """
    out = Path(out)
    paths = {k: out / f"{stem}.{k}" for k in ("csv", "png", "pdf", "json")}
    atomic_write(paths["csv"], df.to_csv(index=False, float_format=float_format))
    drawn = pd.read_csv(paths["csv"])
    with plt.rc_context(STYLE):
        fig = plot(drawn)
        try:
            savefig_atomic(fig, paths["png"])
            savefig_atomic(fig, paths["pdf"])
        finally:
            plt.close(fig)
    info = dict(meta or {})
    info.setdefault("command", command_line())
    info.update(files={k: p.name for k, p in paths.items()}, rows=int(len(df)), python=platform.python_version(),
                numpy=np.__version__, pandas=pd.__version__, matplotlib=matplotlib.__version__)
    torch = sys.modules.get("torch")  # recorded where the figure used it (the theory figure needs no torch)
    if torch is not None:
        info.setdefault("torch", torch.__version__)
    atomic_write(paths["json"], json.dumps(info, indent=2, default=str) + "\n")
    return paths


def redraw(mod, out, command: str | None = None) -> dict[str, Path]:
    """Redraw ``<out>/<mod.STEM>.png``/``.pdf`` from the CSV and JSON already there, with the current plot and
    caption code and without recomputing anything (for figures whose computation needs a GPU).

    ``mod`` is a figure module with ``STEM``, ``plot(df, caption)``, ``caption(meta)`` and optionally
    ``summarize(df, meta) -> meta``. The JSON keeps the command that computed the numbers and gains
    ``redrawn`` (``command``, default this process's command line) and the new caption.

    Parameters
    ----------
    mod : module
        A figure module (:mod:`~sketchbound.figures.fig2`, ``fig3``, ``fig1``, ``deep``).
    out : str or Path
        The folder holding ``<STEM>.csv`` and ``<STEM>.json``; the PNG/PDF are written there.
    command : str, optional
        The command recorded under ``redrawn``.

    Returns
    -------
    dict
        ``{"csv", "png", "pdf", "json"}`` → path.

    Raises
    ------
    FileNotFoundError
        The CSV or JSON is missing (the CLI turns it into one line, exit 2).

    Examples
    --------
    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> with tempfile.TemporaryDirectory() as t:   # a folder without a full run's CSV
    ...     redraw(SimpleNamespace(STEM="fig2"), t)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: --redraw needs .../fig2.csv (written by a full run of this figure)
    """
    out = Path(out)
    paths = {k: out / f"{mod.STEM}.{k}" for k in ("csv", "png", "pdf", "json")}
    for k in ("csv", "json"):
        if not paths[k].is_file():
            raise FileNotFoundError(f"--redraw needs {paths[k]} (written by a full run of this figure)")
    df = pd.read_csv(paths["csv"])
    meta = json.loads(paths["json"].read_text())
    if hasattr(mod, "summarize"):
        meta = mod.summarize(df, meta)
    meta["caption"] = mod.caption(meta)
    with plt.rc_context(STYLE):
        fig = mod.plot(df, meta["caption"])
        try:
            savefig_atomic(fig, paths["png"])
            savefig_atomic(fig, paths["pdf"])
        finally:
            plt.close(fig)
    meta["redrawn"] = dict(command=command or command_line(), matplotlib=matplotlib.__version__)
    atomic_write(paths["json"], json.dumps(meta, indent=2, default=str) + "\n")
    return paths


# --------------------------------------------------------------------------------------------------
# IMP with every level's mask
# --------------------------------------------------------------------------------------------------
def imp_path(targets, prune_fraction: float = 0.2) -> list[float]:
    """IMP densities ``(1-f), (1-f)², ...`` that stop exactly at every target on the way down.

    ``imp_path([0.05, 0.02])`` = 0.8, 0.64, ..., 0.0550, **0.05**, 0.04, 0.032, 0.0256, 0.0205, **0.02**:
    no level prunes more than ``f`` of the remaining weights, and one run gives the masks of both
    targets (Fig. 3). With one target it equals :func:`sketchbound.dnn.experiments.imp.imp_densities`.
    """
    from sketchbound.dnn.experiments.imp import imp_densities  # noqa: PLC0415

    out, start = [], 1.0
    for t in sorted(set(float(x) for x in targets), reverse=True):
        if not 0 < t < start:
            raise ValueError(f"IMP target densities must be in (0, 1) and distinct, got {targets!r}")
        out += [start * d for d in imp_densities(t / start, prune_fraction)]
        out[-1] = t
        start = t
    return out
