"""A rough wall-time estimate for a table's runs still to train (``dnn.table --dry-run`` and its progress).

Per run, seconds per epoch per training image, in this order:

1. **recorded**: the median ``wall_s / (epochs × n_train)`` of the finished runs under the runs dir of
   the same model, width and dataset on the same kind of device (``cuda``/``cpu``);
2. **documented**: :data:`RATES`, rough rates by model and device kind, each with its basis.

On CUDA a group of runs trained at once (one chunk of ``--concurrent`` runs,
:func:`~sketchbound.dnn.experiments.run.plan_chunks`) takes as long as its slowest run (a run trained in a
group records the group's time as its ``wall_s``); on the CPU the runs of a group share the cores, so a
group takes the sum of its runs. Groups run one after another. A documented CPU rate is scaled by
``width²`` (a convolution's work); CUDA rates are not (small networks do not fill a GPU). Masks that
need many rounds (SynFlow, IMP) and data loading are inside the
recorded times and outside the documented rates: the estimate is a rough one and says so.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

__all__ = ["RATES", "rate_for", "recorded_rates", "estimate", "plan_estimate", "run_bar"]

#: (model, device kind) -> (seconds per epoch per training image, basis). CUDA: medians of the runs in
#: dnn/results/*_runs (H200, 8 ResNet-20 or VGG-19 runs at once on streams, Fashion-MNIST 32×32, each run's
#: ``wall_s``); CPU: one SGD step of batch 32 on 1×28×28/32×32 inputs, one thread of a shared 2-core machine
#: (``cpu_warning.seconds_per_step``). ResNet-32/56 scale ResNet-20's rate by depth; VGG-11/16 take VGG-19's.
RATES = {
    ("resnet20", "cuda"): (1.3e-4, "median of 450 recorded H200 runs, 8 at once"),
    ("vgg19", "cuda"): (1.6e-4, "median of 410 recorded H200 runs, 8 at once"),
    ("resnet20", "cpu"): (2.7e-2, "one thread of a 2-core CPU, batch 32"),
    ("vgg19", "cpu"): (1.7e-1, "one thread of a 2-core CPU, batch 32"),
    ("lenet300100", "cpu"): (1.8e-4, "one thread of a 2-core CPU, batch 32"),
}
_SCALED = {"resnet32": ("resnet20", 32 / 20), "resnet56": ("resnet20", 56 / 20), "vgg11": ("vgg19", 1.0),
           "vgg16": ("vgg19", 1.0)}
#: training images of the full datasets (``train_subset`` replaces them)
N_TRAIN = {"fashion-mnist": 60000, "mnist": 60000, "cifar10": 50000, "cifar100": 50000}


def rate_for(model: str, device: str) -> tuple[float, str] | None:
    """The documented rate of ``model`` on ``device`` (``"cuda"`` or ``"cpu"``) and its basis, or None.

    Parameters
    ----------
    model : str
        The architecture.
    device : {"cuda", "cpu"}
        The kind of device.

    Returns
    -------
    tuple or None
        ``(seconds per epoch per training image, basis)``.

    Examples
    --------
    >>> rate_for("resnet56", "cpu")[1]
    "resnet20's rate × 2.8 (one thread of a 2-core CPU, batch 32)"
    """
    if (model, device) in RATES:
        return RATES[(model, device)]
    if model in _SCALED and (_SCALED[model][0], device) in RATES:
        ref, f = _SCALED[model]
        r, basis = RATES[(ref, device)]
        return r * f, f"{ref}'s rate × {f:.2g} ({basis})"
    return None


def recorded_rates(runs_dir) -> dict[tuple, list[float]]:
    """``{(model, width, dataset, device kind): [s per epoch per image, ...]}`` of the finished runs under
    ``runs_dir`` (``result.json`` with ``wall_s``, ``epochs`` and ``data.n_train``).

    Parameters
    ----------
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    dict

    Examples
    --------
    >>> recorded_rates("no/such/runs")
    {}
    """
    out: dict[tuple, list[float]] = {}
    root = Path(runs_dir)
    if not root.is_dir():
        return out
    for f in root.glob("*/result.json"):
        try:
            r = json.loads(f.read_text())
            c, n = r["config"], int(r["data"]["n_train"])
            wall, epochs = float(r["wall_s"]), int(r["epochs"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if wall > 0 and epochs > 0 and n > 0:
            kind = "cuda" if "cuda" in str(r.get("device", "")) else "cpu"
            key = (c.get("model"), float(c.get("width", 1.0)), c.get("dataset"), kind)
            out.setdefault(key, []).append(wall / (epochs * n))
    return out


def estimate(chunks, runs_dir, device: str) -> dict:
    """Estimated seconds for ``chunks`` (lists of RunConfig trained at once, one after another).

    Parameters
    ----------
    chunks : list of list of RunConfig
        The pending runs as :func:`~sketchbound.dnn.experiments.run.plan_chunks` groups them.
    runs_dir : path
        Where finished runs with recorded ``wall_s`` are looked for.
    device : str
        ``"cuda"`` or ``"cpu"``: the kind of device the runs will train on.

    Returns
    -------
    dict
        ``seconds`` (None when some run has no rate), ``runs``, ``basis`` (one line per model: where its
        rate came from), ``unknown`` (models with no rate).

    Examples
    --------
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> run = RunConfig(model="resnet20", dataset="fashion-mnist", train_subset=5000, epochs=10)
    >>> round(estimate([[run]], "no/such/runs", "cpu")["seconds"])  # 2.7e-2 s × 10 epochs × 5000 images
    1350
    """
    found = recorded_rates(runs_dir)
    recorded = {k: statistics.median(v) for k, v in found.items()}
    basis: dict[str, str] = {}
    unknown: set[str] = set()
    total, runs = 0.0, 0
    for chunk in chunks:
        worst = 0.0
        for c in chunk:
            runs += 1
            n = c.train_subset or N_TRAIN.get(c.dataset)
            key = (c.model, float(c.width), c.dataset, device)
            if key in recorded:
                r = recorded[key]
                basis[c.model] = (f"{r:.3g} s per epoch per image: median of {len(found[key])} "
                                  f"finished {c.model} runs under {runs_dir} on {device}")
            elif rate_for(c.model, device) is not None:
                r, why = rate_for(c.model, device)
                if device == "cpu" and c.width != 1:
                    r, why = r * c.width ** 2, f"{why}; × width² = {c.width ** 2:g}"
                basis[c.model] = f"{r:.3g} s per epoch per image: documented rate ({why})"
            else:
                unknown.add(c.model)
                continue
            if n is None:
                unknown.add(f"{c.model} on {c.dataset}")
                continue
            t = r * c.epochs * n
            worst = worst + t if device == "cpu" else max(worst, t)
        total += worst
    return {"seconds": None if unknown else total, "runs": runs, "basis": basis, "unknown": sorted(unknown)}


def plan_estimate(configs, runs_dir, *, device: str | None, concurrent: int | None, fusion: str = "auto"):
    """The pending runs of ``configs`` in the groups ``run_configs`` would train, and one line saying how
    many there are and about how long they would take (with the estimate's basis).

    Parameters
    ----------
    configs : list of RunConfig
        Every run of the table(s); finished ones are left out.
    runs_dir : path
        The runs directory.
    device : str or None
        The torch device asked for (None: cuda when available).
    concurrent : int or None
        Runs trained at once (None: 8 on CUDA, 1 on the CPU, as ``run_configs``).
    fusion : str
        ``--fusion`` (how runs are grouped).

    Returns
    -------
    tuple
        ``(chunks, line)``: the pending runs as ``run_configs`` groups them (list of list of RunConfig),
        and the line.

    Examples
    --------
    >>> plan_estimate([], "no/such/runs", device="cpu", concurrent=None)[0]
    []
    """
    import torch  # noqa: PLC0415
    from sketchbound._progress import format_seconds  # noqa: PLC0415
    from sketchbound.dnn.experiments.run import plan_chunks  # noqa: PLC0415
    kind = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")).type
    kind = "cuda" if kind == "cuda" else "cpu"
    k = int(concurrent) if concurrent else (8 if kind == "cuda" else 1)
    chunks = plan_chunks(configs, runs_dir, k, fusion=fusion)
    todo = sum(len(ch) for ch in chunks)
    if not todo:
        return chunks, "0 runs to train"
    est = estimate(chunks, runs_dir, kind)
    head = f"{todo} run(s) to train in {len(chunks)} group(s) of up to {k} at once on {kind}"
    if est["seconds"] is None:
        return chunks, f"{head}; no time estimate: no recorded or documented rate for {', '.join(est['unknown'])}"
    basis = "; ".join(f"{m}: {b}" for m, b in est["basis"].items())
    when = format_seconds(est["seconds"]) if est["seconds"] >= 1 else "under 1 s"
    return chunks, (f"{head}; estimated time ≈ {when} (a rough estimate; "
                    f"{'each group as long as its slowest run' if kind == 'cuda' else 'runs one after another'}; "
                    f"{basis})")


def run_bar(configs, runs_dir, *, device: str | None, concurrent: int | None, fusion: str = "auto"):
    """A tqdm bar over every run of ``configs`` still to train ("run k/N", elapsed, time left), after the
    first estimate (:func:`plan_estimate`) is printed on stderr; None when nothing is to train.

    Parameters
    ----------
    configs, runs_dir, device, concurrent, fusion
        As :func:`plan_estimate`.

    Returns
    -------
    tqdm.tqdm or None
        Advance it by the runs of each group trained (``run_configs(..., on_chunk=...)``).

    Examples
    --------
    >>> run_bar([], "no/such/runs", device="cpu", concurrent=None) is None
    True
    """
    from tqdm.auto import tqdm  # noqa: PLC0415
    chunks, line = plan_estimate(configs, runs_dir, device=device, concurrent=concurrent, fusion=fusion)
    todo = sum(len(ch) for ch in chunks)
    if not todo:
        return None
    print(line, file=sys.stderr, flush=True)
    return tqdm(total=todo, desc="run", unit="run", file=sys.stderr, dynamic_ncols=True,
                bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| elapsed {elapsed}, left ~{remaining}")
