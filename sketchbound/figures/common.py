"""Shared by the figure modules: the write-CSV-then-plot-from-it pipeline, styling, and an IMP trace.

Every figure is made the same way (:func:`publish`): the numbers are computed into a
``pandas.DataFrame``, written atomically to ``<stem>.csv``, **read back from that file**, and the plot
function draws from what was read — so the figure shows exactly the CSV's numbers. The PNG and PDF
are written atomically (temporary file in the same folder + ``os.replace``), and ``<stem>.json``
records the command, the arguments, the wall time and the library versions.

:func:`imp_trace` is iterative magnitude pruning with rewinding that *keeps the mask of every level*
(Fig. 1 needs the tickets at all densities, Fig. 3 the ones at 5% and 2% of one run).
:func:`sketchbound.dnn.imp.imp` returns only the final mask, so this is a small adapter built from the
same public pieces (``imp_scores`` → ``make_mask(..., "global")`` → rewind → masked training with
:class:`~sketchbound.dnn.train.ConcurrentTrainer`) with the same semantics; see its docstring.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..report import atomic_write  # noqa: E402

__all__ = ["STYLE", "COLORS", "publish", "run_figure", "savefig_atomic", "imp_path", "imp_trace", "seconds", "command_line",
           "float_format"]

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
    """``fig.savefig`` to a temporary file in the target folder, then ``os.replace`` (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, format=path.suffix.lstrip("."), bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def run_figure(compute: Callable, caption: Callable, plot: Callable, stem: str, args) -> dict:
    """The one way a figure is made: ``compute(args) -> (df, meta)``, time it, caption it, and
    :func:`publish` the CSV and the figure drawn from the CSV read back."""
    t0 = time.perf_counter()
    df, meta = compute(args)
    meta["wall_s"] = seconds(t0)
    meta["caption"] = caption(meta)
    return publish(df, lambda d: plot(d, meta["caption"]), args.out, stem, meta)


def publish(df: pd.DataFrame, plot: Callable[[pd.DataFrame], "plt.Figure"], out, stem: str,
            meta: dict | None = None) -> dict[str, Path]:
    """Write ``<out>/<stem>.csv``, re-read it, draw it with ``plot`` and write ``.png``/``.pdf``/``.json``.

    Returns ``{"csv": ..., "png": ..., "pdf": ..., "json": ...}``. The figure is drawn from the CSV as
    read back from disk, never from the in-memory frame.
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
    try:
        import torch  # noqa: PLC0415

        info.setdefault("torch", torch.__version__)
    except ImportError:  # the theory figure needs no torch
        pass
    atomic_write(paths["json"], json.dumps(info, indent=2, default=str) + "\n")
    return paths


# --------------------------------------------------------------------------------------------------
# IMP with every level's mask
# --------------------------------------------------------------------------------------------------
def imp_path(targets, prune_fraction: float = 0.2) -> list[float]:
    """IMP densities ``(1-f), (1-f)², ...`` that stop exactly at every target on the way down.

    ``imp_path([0.05, 0.02])`` = 0.8, 0.64, ..., 0.0550, **0.05**, 0.04, 0.032, 0.0256, 0.0205, **0.02**:
    no level prunes more than ``f`` of the remaining weights, and one run gives the masks of both
    targets (Fig. 3). With one target it equals :func:`sketchbound.dnn.imp.imp_densities`.
    """
    from ..dnn.imp import imp_densities  # noqa: PLC0415

    out, start = [], 1.0
    for t in sorted(set(float(x) for x in targets), reverse=True):
        if not 0 < t < start:
            raise ValueError(f"IMP target densities must be in (0, 1) and distinct, got {targets!r}")
        out += [start * d for d in imp_densities(t / start, prune_fraction)]
        out[-1] = t
        start = t
    return out


def imp_trace(model, data, schedule, densities, *, rewind_step: int = 0, seed: int = 0, device=None,
              augment: bool = True, log: Callable[[str], None] | None = None, progress: bool = True) -> dict:
    """Iterative magnitude pruning with rewinding (Frankle & Carbin; as :func:`sketchbound.dnn.imp.imp`),
    returning the mask of **every** level.

    Level 0 trains the dense ``model`` from θ₀ with ``schedule`` and records θ_k at iteration
    ``rewind_step`` (k = 0: rewind to θ₀, the original lottery-ticket protocol). For each density of
    ``densities`` (decreasing): global magnitude of the trained weights, previously pruned ones scoring
    0 (``compute_scores("imp", ..., mask=)``), ``make_mask(..., "global")`` keeps exactly
    ``round(density·d)`` weights (at least one per layer), the weights are rewound to θ_k and trained
    again from iteration k with the mask. The last level's mask is not trained (as in ``imp()``).

    Returns ``{"masks": [cpu bool masks per level], "densities": [...], "levels": [{level, density,
    kept, test_accuracy}], "rewind_state": θ_k}``. ``model`` ends rewound to θ_k (unmasked).
    """
    import torch  # noqa: PLC0415

    from ..dnn.masks import kept_count, make_mask  # noqa: PLC0415
    from ..dnn.scores import compute_scores  # noqa: PLC0415
    from ..dnn.train import ConcurrentTrainer, TrainJob  # noqa: PLC0415

    say = log or (lambda s: None)
    kw = dict(device=device, augment=augment, progress=False)

    def train_level(net, masks, start, max_steps, name):
        tr = ConcurrentTrainer([TrainJob(net, masks, seed, None, name, start)], data, schedule, **kw)
        return tr.run(max_steps=max_steps)[0], tr

    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = tqdm(total=len(densities) + 1, desc="IMP levels", unit="level", leave=False, disable=not progress) if tqdm else None
    t0 = time.perf_counter()
    res, tr = train_level(model, None, 0, rewind_step, "imp-L0")
    net = tr.models[0]
    rewind_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    res = tr.run()[0]
    levels = [{"level": 0, "density": 1.0, "kept": None, "test_accuracy": res.test_accuracy, "seconds": seconds(t0)}]
    say(f"IMP level 0 (dense): test accuracy {res.test_accuracy}")
    if bar is not None:
        bar.update(1)
    masks, out = None, []
    for lvl, d in enumerate(densities, start=1):
        t0 = time.perf_counter()
        scores = compute_scores("imp", net, None, mask=masks)
        masks = make_mask(scores, d, "global")
        masks = {n: (m != 0).to(torch.float32) for n, m in masks.items()}
        out.append({n: m.bool().cpu() for n, m in masks.items()})
        net.load_state_dict(rewind_state)
        rec = {"level": lvl, "density": d, "kept": kept_count(masks), "test_accuracy": None}
        if lvl < len(densities):
            res, tr = train_level(net, masks, rewind_step, None, f"imp-L{lvl}")
            net = tr.models[0]
            rec["test_accuracy"] = res.test_accuracy
        rec["seconds"] = seconds(t0)
        levels.append(rec)
        say(f"IMP level {lvl} (density {d:.4f}, kept {rec['kept']}): test accuracy {rec['test_accuracy']}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    net.load_state_dict(rewind_state)
    return {"masks": out, "densities": list(densities), "levels": levels, "rewind_state": rewind_state}
