"""The paper's quantities measured inside real networks: Lemma 4.3 per layer, the constant
``c`` of Theorem 4.4 in practice, and Theorem 6.2 on a small CNN.

Lemma 4.3 per layer (``lemma43``)
---------------------------------
For every prunable layer (conv / linear, :mod:`sketchbound.dnn.models.prunable`) of a network:

* ``w⁰`` = the layer's weights at initialisation, ``X̃`` = its input at initialisation;
* ``w*`` = the weights after *dense* training, ``X`` = its input in the trained network;
  both on the same fixed batch of training images (BatchNorm in batch-statistics mode for both, the
  only mode that is meaningful at initialisation; done on copies, the models are not changed).
* A conv layer is a linear map on its unfolded input patches (``torch.nn.functional.unfold``): the
  patch matrix ``P`` is ``D × L`` (``D = C_in·k_h·k_w``), and output channel ``o`` computes
  ``W_oᵀ P``. **Channels:** the layer is one linear-feature problem with ``d = C_out·D`` weights and
  feature matrix ``I_{C_out} ⊗ P`` (row ``(o, j)`` of it is ``P_(j)``, placed in block ``o``), so
  ``Xᵀ vec(W) = vec(W P)`` and the error is ``||(W* − W*⊙M) P||_F² = Σ_o (error of channel o)``. The
  mask is drawn over the *whole layer* (``s = density·d`` draws of Algorithm 1 among all ``C_out·D``
  weights), and eq. (2)'s ``p_(o,j) ∝ ||P̃_(j)|| |w⁰_(o,j)|``. Lemma 4.3's exact value and bound are
  closed forms in the row norms of ``P`` and ``P̃`` (the Kronecker matrix is never formed). A linear
  layer is the same with ``P`` = its input (``in_features × B``). Biases are not pruned and not part
  of the features (the lemma is about ``Xᵀw``). Columns are a seeded subsample of ``B·L`` patches,
  the same columns at init and after training.
* Masks, all drawn at initialisation with ``k = s = round(density·d)`` (eq. (2) score
  ``||P̃_(j)|| |w⁰_(o,j)|``, which is what SynFlow computes on a linear model, §5.1):
  ``threshold`` (the top-``k`` scores, binary), ``randomized`` (``k`` without replacement ∝ score,
  binary, §7), ``algorithm1`` (Algorithm 1, weighted ``m = c/(s p)``) and ``uniform`` (Algorithm 1
  with ``p = 1/d``, Lemma 4.5). Lemma 4.3's exact value and bound are for ``algorithm1``; the exact
  value for ``uniform`` is the same formula with ``p = 1/d``; the binary masks have no closed form here
  and are measured only.

The constant ``c`` in practice (:func:`kept_weight_stats`)
----------------------------------------------------------
Quantiles of ``|w*_j / w⁰_j|`` over the kept weights (not only the max, which Theorem 4.4 uses), with
``w⁰`` the initial weights the mask was computed from (before a weighted mask scales them), and the
ℓ1 / ℓ2 norms of the kept initial weights. :mod:`sketchbound.dnn.run` writes these into
``result.json`` (``c_stats``); ``python -m sketchbound.dnn.table ... --stats`` shows them.

Theorem 6.2 on a small CNN (``ntk-cnn``)
----------------------------------------
``f(x) = a·mean_pixels(relu(conv₂(relu(conv₁ x))))`` with NTK parameterisation (weights ``N(0, 1)``,
each layer multiplied by ``1/√fan_in``, no biases), scalar output, on a fixed batch of Fashion-MNIST
images with targets ``(label − 4.5)/4.5``; Jacobian by ``torch.func.jacrev``; full-batch GD on
``½||f − y||²`` with ``η = lr_factor·2/(λ_min + λ_max)``; then the same estimates and chain as the MLP
of :mod:`sketchbound.ntk` (numpy), plus a Monte-Carlo mean over Algorithm-1 masks.

CLI::

    python -m sketchbound.dnn.deep_theory lemma43 --model resnet20 --dataset fashion-mnist --epochs 15 \\
        --device cuda --out validation/deep/resnet20
    python -m sketchbound.dnn.deep_theory ntk-cnn --channels 8,32 --steps 50 --out validation/deep/ntk_cnn
"""
from __future__ import annotations

import copy
import csv
import sys
import io
import json
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from sketchbound import ntk as core_ntk
from sketchbound._cli import OneLineParser, arg_type, cli_errors, interruptible, pos_int
from sketchbound._io import atomic_write, check_output_path
from sketchbound.dnn.theory.layers import kept_weight_stats, lemma43_network
from sketchbound.dnn.theory.ntk_cnn import ntk_cnn_run
from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.probabilities import optimal_probabilities
from sketchbound.sampling import algorithm1
from sketchbound.seeds import stream_seed

__all__ = ["main", "rows_to_csv", "rows_to_markdown", "plot_rows", "lemma43_experiment", "ntk_cnn_experiment"]


# --------------------------------------------------------------------------------------------- reports
_CSV_COLS = ["model", "layer", "index", "kind", "C_out", "D", "d", "n", "density", "s", "method", "trials", "error",
             "error_se", "exact", "bound", "features", "kept", "c_q50", "c_q90", "c_q99", "c_max", "c_mean",
             "init_l1_kept", "init_l2_kept"]


def _g(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return "inf" if math.isinf(x) else f"{x:.3g}"
    return str(x)


def rows_to_csv(rows: list[dict]) -> str:
    """The rows of :func:`lemma43_experiment` as CSV (its fixed columns; a missing value is empty).

    Parameters
    ----------
    rows : list of dict
        One row per (layer, density, method).

    Returns
    -------
    str

    Examples
    --------
    >>> row = {"model": "resnet20", "layer": "conv1.weight", "index": 0, "kind": "conv", "d": 27, "s": 3,
    ...        "density": 0.1, "method": "algorithm1", "error": 2.0, "error_se": 0.1, "exact": 2.1, "bound": 4.2,
    ...        "features": 10.0}
    >>> rows_to_csv([row]).splitlines()[1][:40]
    'resnet20,conv1.weight,0,conv,,,27,,0.1,3'
    """
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_COLS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in _CSV_COLS})
    return buf.getvalue()


def rows_to_markdown(rows: list[dict], header: str = "") -> str:
    """One row per (layer, density): relative errors ``error / ||W* P||²`` of each mask, Lemma 4.3's
    exact value and bound (relative), bound/exact, and |w*/w⁰| quantiles over the Algorithm-1 mask's support.

    Parameters
    ----------
    rows : list of dict
        The rows of :func:`lemma43_experiment`.
    header : str, optional
        The first line (e.g. a Markdown heading).

    Returns
    -------
    str

    Examples
    --------
    >>> row = {"model": "resnet20", "layer": "conv1.weight", "index": 0, "kind": "conv", "d": 27, "s": 3,
    ...        "density": 0.1, "method": "algorithm1", "error": 2.0, "error_se": 0.1, "exact": 2.1, "bound": 4.2,
    ...        "features": 10.0}
    >>> rows_to_markdown([row], "# demo").splitlines()[-1]
    '| conv1.weight | conv | 27 | 3 | – | – | 0.2 ± 0.01 | 0.21 | 0.42 | 2 | – | – | – / – / – |'
    """
    by: dict[tuple, dict] = {}
    for r in rows:
        by.setdefault((r["index"], r["layer"], r["density"]), {})[r["method"]] = r
    lines = [header, "",
             "Relative feature error `E‖X^T w* − X^T(w*⊙m)‖² / ‖X^T w*‖²` per layer (mask drawn at init, applied to the "
             "densely trained weights and the trained network's layer input). `alg1 exact` / `L4.3 bound` are Lemma 4.3's "
             "equality line and bound (relative); `unif exact` is the same formula with p = 1/d. "
             "`c q50/q99/max` = quantiles of |w*/w⁰| over the Algorithm-1 mask's kept weights.", "",
             "| layer | kind | d | s | threshold | randomized | alg1 (MC ± se) | alg1 exact | L4.3 bound | bound/exact | "
             "uniform (MC) | unif exact | c q50 / q99 / max |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (_, layer, dens), ms in sorted(by.items()):
        any_r = next(iter(ms.values()))
        f = any_r["features"] or float("nan")
        rel = lambda v: None if v is None else v / f  # noqa: E731
        a = ms.get("algorithm1", {})
        u = ms.get("uniform", {})
        be = (a.get("bound") / a.get("exact")) if a.get("exact") else None
        cq = " / ".join(_g(a.get(k)) for k in ("c_q50", "c_q99", "c_max")) if a else "–"
        lines.append(
            f"| {layer} | {any_r['kind']} | {any_r['d']} | {any_r['s']} | {_g(rel(ms.get('threshold', {}).get('error')))} | "
            f"{_g(rel(ms.get('randomized', {}).get('error')))} | "
            f"{_g(rel(a.get('error')))} ± {_g(rel(a.get('error_se')))} | {_g(rel(a.get('exact')))} | {_g(rel(a.get('bound')))} | "
            f"{_g(be)} | {_g(rel(u.get('error')))} | {_g(rel(u.get('exact')))} | {cq} |")
    return "\n".join(lines) + "\n"


def plot_rows(rows: list[dict], path, title: str = "") -> Path:
    """One panel per density: each mask's relative error per prunable layer, with Lemma 4.3's exact value
    and bound (log scale); written as an image.

    Parameters
    ----------
    rows : list of dict
        The rows of :func:`lemma43_experiment`.
    path : str or Path
        The image file (its folder is created).
    title : str, optional
        Prefix of each panel's title.

    Returns
    -------
    Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> rows = [{"index": i, "density": 0.1, "method": "algorithm1", "error": 2.0 + i, "exact": 2.1 + i,
    ...          "bound": 4.2 + i, "features": 10.0} for i in range(3)]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = plot_rows(rows, pathlib.Path(d, "plots", "lemma43.png"), "demo")
    ...     p.name, p.stat().st_size > 0
    ('lemma43.png', True)
    """
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    dens = sorted({r["density"] for r in rows})
    fig, axes = plt.subplots(1, len(dens), figsize=(6.5 * len(dens), 4), squeeze=False)
    for ax, dd in zip(axes[0], dens):
        rs = [r for r in rows if r["density"] == dd]
        for method, style in (("threshold", "s-"), ("randomized", "^-"), ("algorithm1", "o-"), ("uniform", "x-")):
            pts = sorted((r["index"], r["error"] / r["features"]) for r in rs if r["method"] == method)
            if pts:
                ax.plot(*zip(*pts), style, label=method, ms=4)
        pts = sorted((r["index"], r["exact"] / r["features"]) for r in rs if r["method"] == "algorithm1")
        ax.plot(*zip(*pts), "k--", lw=1, label="alg1 exact (L4.3 =)")
        pts = sorted((r["index"], r["bound"] / r["features"]) for r in rs if r["method"] == "algorithm1")
        ax.plot(*zip(*pts), "r:", lw=2, label="Lemma 4.3 bound")
        ax.set_yscale("log")
        ax.set_xlabel("prunable layer index")
        ax.set_ylabel("error / ||X^T w*||²")
        ax.set_title(f"{title} density {dd:g}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _write(path: Path, text: str) -> None:
    atomic_write(path, text)


# --------------------------------------------------------------------------------------------- experiment
def lemma43_experiment(model_name: str = "resnet20", dataset: str = "fashion-mnist", *, epochs: int = 15,
                       device: str = "cpu", seed: int = 0, densities=(0.1, 0.02), batch: int = 256,
                       columns: int = 1024, trials: int = 16, width: float = 1.0, train_subset: int | None = None,
                       data_root=None, out=None, batch_size: int = 128, lr: float = 0.1,
                       progress: bool = False, command: str | None = None) -> dict:
    """Train ``model_name`` densely (§7 schedule shortened to ``epochs``, :mod:`sketchbound.dnn.training`),
    then measure Lemma 4.3 per layer: the feature error of threshold, randomized, Algorithm-1 (eq. (2))
    and uniform masks drawn at init and applied to the trained weights, against the lemma's exact value
    and bound. Writes ``lemma43.csv``, ``lemma43.md``, ``lemma43.png`` and ``summary.json`` into ``out``
    when given.

    Parameters
    ----------
    model_name, dataset : str
        The network and its data.
    epochs : int
        Dense training epochs.
    device : str
        Where it trains.
    seed : int
        Seed of the init, the data order and the masks.
    densities : tuple of float
        Mask densities.
    batch, columns : int
        Images whose layer inputs form X, and patch columns kept per layer.
    trials : int
        Masks per randomized method.
    width : float
        Channel multiplier.
    train_subset : int, optional
        The first N training images.
    data_root : str, optional
        The dataset folder.
    out : str or Path, optional
        Where the files go.
    batch_size : int
        Training batch size.
    lr : float
        Learning rate.
    progress : bool
        Show the training bar.
    command : str, optional
        Recorded in ``summary.json``.

    Returns
    -------
    dict
        ``rows``, ``accuracy``, ``c_stats``, timings and the device.

    Examples
    --------
    One epoch of a quarter-width LeNet-300-100 on a tiny Fashion-MNIST written here; Lemma 4.3's exact value
    never exceeds its bound:

    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> d = tempfile.TemporaryDirectory()
    >>> _ = write_idx_split(d.name, 8, 4, rng=0)  # a tiny Fashion-MNIST of random images
    >>> res = lemma43_experiment("lenet300100", data_root=d.name, epochs=1, batch_size=4, batch=4, columns=8,
    ...                          trials=4, width=0.25, densities=(0.5,))
    >>> sorted({r["method"] for r in res["rows"]}), res["epochs"]
    (['algorithm1', 'randomized', 'threshold', 'uniform'], 1)
    >>> all(r["exact"] <= r["bound"] for r in res["rows"] if r["method"] == "algorithm1")
    True
    >>> d.cleanup()
    """
    from sketchbound.dnn.data import load_dataset  # noqa: PLC0415
    from sketchbound.dnn.models import canonical_name, get_model  # noqa: PLC0415
    from sketchbound.dnn.experiments.run import environment  # noqa: PLC0415
    from sketchbound.dnn.training import Schedule, train  # noqa: PLC0415
    t0 = time.time()
    dev = torch.device(device)
    name = canonical_name(model_name)
    data = load_dataset(dataset, data_root)
    if data.image_size == 28 and not name.startswith("lenet"):
        data = data.pad_to(32)
    if train_subset is not None:
        data = data.subset(train_subset, max(1000, min(train_subset, 10000)))
    torch.manual_seed(seed)
    model = get_model(name, data.in_channels, data.num_classes, data.image_size, "kaiming", width=width, seed=seed)
    model0 = copy.deepcopy(model)
    sched = Schedule.paper(dataset, epochs=epochs, batch_size=batch_size, lr=lr)
    res = train(model, data, sched, seed=seed, device=dev, progress=progress)
    t_train = time.time() - t0
    model = model.to(dev).float().to(memory_format=torch.contiguous_format)
    model0 = model0.to(dev)
    g = torch.Generator().manual_seed(stream_seed(seed, "deep-theory-data"))
    idx = torch.randperm(len(data), generator=g)[:batch]
    x = data.normalized(data.x_train[idx].to(dev)).float()
    rows = lemma43_network(model0, model, x, densities, columns=columns, trials=trials, seed=seed)
    for r in rows:
        r["model"] = name
    init_w = {f"{n}.weight": m.weight for n, m in prunable_modules(model0)}
    fin_w = {f"{n}.weight": m.weight for n, m in prunable_modules(model)}
    out_d = {"model": name, "dataset": dataset, "epochs": epochs, "schedule": sched.__dict__ if hasattr(sched, "__dict__") else str(sched),
             "accuracy": res.test_accuracy, "train_accuracy": res.train_accuracy, "seed": seed, "densities": list(densities),
             "batch": batch, "columns": columns, "trials": trials, "width": width, "train_seconds": t_train,
             "total_seconds": time.time() - t0, "c_stats_dense": kept_weight_stats(init_w, fin_w),
             "command": command, **environment(dev)}
    if out is not None:
        out = Path(out)
        head = (f"## Lemma 4.3 per layer: {name} on {dataset}, dense training {epochs} epochs, test accuracy "
                f"{res.test_accuracy}\n\nCommand: `{command}`  \nDevice: {out_d['device_name']} ({device}); batch {batch} images, "
                f"{columns} patch columns per layer, {trials} masks per randomized method, seed {seed}.")
        _write(out / "lemma43.csv", rows_to_csv(rows))
        _write(out / "lemma43.md", rows_to_markdown(rows, head))
        _write(out / "summary.json", json.dumps(out_d, indent=2, default=str) + "\n")
        plot_rows(rows, out / "lemma43.png", title=name)
    out_d["rows"] = rows
    return out_d


def ntk_cnn_experiment(channels=(8, 32), densities=(0.1, 0.02), *, n: int = 16, steps: int = 50, lr_factor: float = 0.5,
                       seed: int = 0, trials: int = 2000, image_size: int = 14, data_root=None, out=None,
                       command: str | None = None) -> list[dict]:
    """Theorem 6.2 on :class:`~sketchbound.dnn.theory.ntk_cnn.NTKCNN` for each channel count and density:
    Monte-Carlo mean of ``||J_tθ_t − J_t(θ_t⊙m)||²`` over ``trials`` Algorithm-1 masks (eq. (2) on
    ``(J₀, θ₀)``), the Lemma 4.3 exact value, every step of the B.5 chain and the estimated constants.

    Parameters
    ----------
    channels : tuple of int
        The CNN's channel counts.
    densities : tuple of float
        Mask densities.
    n, steps : int
        Training images and gradient steps.
    lr_factor : float
        The step size as a fraction of the stable one, in (0, 1].
    seed : int
        Seed of everything drawn.
    trials : int
        Masks per (channels, density).
    image_size : int
        Images are resized to this side.
    data_root : str, optional
        The dataset folder.
    out : str or Path, optional
        Where ``ntk_cnn.csv``/``.md`` go.
    command : str, optional
        Recorded with the results.

    Returns
    -------
    list of dict
        One row per (channels, density).

    Examples
    --------
    Two channels, 4 images of 6×6 from a tiny Fashion-MNIST written here, two gradient steps:

    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> d = tempfile.TemporaryDirectory()
    >>> _ = write_idx_split(d.name, 8, 4, rng=0)  # a tiny Fashion-MNIST of random images
    >>> rows = ntk_cnn_experiment((2,), (0.5,), n=4, steps=2, trials=50, image_size=6, data_root=d.name)
    >>> r = rows[0]
    >>> (r["channels"], r["d"], r["s"], r["trials"]), r["verdict_final"]  # every step of the B.5 chain holds
    ((2, 56, 28, 50), 'holds')
    >>> r["mc_mean"] <= r["chain_final"]
    True
    >>> d.cleanup()
    """
    rows = []
    for C in channels:
        run = ntk_cnn_run(C, n=n, steps=steps, lr_factor=lr_factor, seed=seed, image_size=image_size, data_root=data_root)
        mlp_like = core_ntk.MLPRun(X=None, y=None, width=C, theta0=run["theta0"], theta_t=run["theta_t"], J0=run["J0"],
                                   Jt=run["Jt"], lr=run["lr"], steps=steps, lam_min=run["lam_min"], lam_max=run["lam_max"],
                                   loss=run["loss"], jac_norm=run["jac_norm"], jac_lip=run["jac_lip"])
        const = core_ntk.estimate_constants(mlp_like)
        X, Xt = run["Jt"].T, run["J0"].T
        p = optimal_probabilities(Xt, run["theta0"])
        d = p.shape[0]
        for dens in densities:
            s = max(1, int(round(dens * d)))
            ch = core_ntk.theorem_6_2_chain(run["J0"], run["Jt"], run["theta0"], run["theta_t"], s, K=const["K"],
                                            lam_min=const["lambda_min"], R0=const["R0"])
            gen = np.random.default_rng(stream_seed(seed, "deep-theory-c"))
            vals = []
            step = max(1, (1 << 24) // d)
            for t0 in range(0, trials, step):
                M = algorithm1(p, s, rng=gen, trials=min(step, trials - t0))
                R = (run["theta_t"] * (1.0 - M)) @ X
                vals.append(np.einsum("tn,tn->t", R, R))
            v = np.concatenate(vals)
            rows.append(dict(channels=C, d=d, n=run["n"], steps=steps, density=dens, s=s, mc_mean=float(v.mean()),
                             mc_se=float(v.std(ddof=1) / math.sqrt(v.size)), trials=int(v.size),
                             **{f"chain_{k}": float(x) for k, x in ch["values"].items()},
                             **{f"verdict_{k}": x for k, x in ch["verdicts"].items()},
                             **{k: float(c) for k, c in const.items() if k != "steps"}))
    if out is not None:
        out = Path(out)
        cols = list(rows[0])
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
        _write(out / "ntk_cnn.csv", buf.getvalue())
        lines = [f"## Theorem 6.2 on a small CNN (NTK parameterisation), Fashion-MNIST batch\n\nCommand: `{command}`\n",
                 "| channels | d | s | MC E_m (± se) | L4.3 exact | first ineq. (6.2) | final bound (6.2b) | final/MC | "
                 "K̂ | λ_min | R₀ | ‖θ_t−θ₀‖ | 3KR₀/λ | rel. Δθ | rel. ΔJ | violated steps |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            bad = [k[8:] for k, v in r.items() if k.startswith("verdict_") and v != "holds"]
            lines.append(f"| {r['channels']} | {r['d']} | {r['s']} | {_g(r['mc_mean'])} ± {_g(r['mc_se'])} | "
                         f"{_g(r['chain_exact'])} | {_g(r['chain_lemma43'])} | {_g(r['chain_final'])} | "
                         f"{_g(r['chain_final'] / r['mc_mean'])} | {_g(r['K'])} | {_g(r['lambda_min'])} | {_g(r['R0'])} | "
                         f"{_g(r['displacement'])} | {_g(r['chain_g4_radius'])} | {_g(r['relative_displacement'])} | "
                         f"{_g(r['jacobian_change'])} | {', '.join(bad) or 'none'} |")
        _write(out / "ntk_cnn.md", "\n".join(lines) + "\n")
    return rows


# --------------------------------------------------------------------------------------------- CLI
_UNIT = lambda x: 0 < x <= 1  # noqa: E731


def _pos(name, typ=int):
    return arg_type(name, typ, lambda x: x > 0 and math.isfinite(x), "a positive number")


def build_parser():
    p = OneLineParser(prog="python -m sketchbound.dnn.deep_theory", description="Paper quantities inside networks.")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("lemma43", help="Lemma 4.3 per layer after dense training")
    a.add_argument("--model", default="resnet20")
    a.add_argument("--dataset", default="fashion-mnist")
    a.add_argument("--epochs", type=_pos("epochs"), default=15)
    a.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a.add_argument("--seed", type=pos_int("seed", lo=0, hi=2**63 - 1), default=0)
    a.add_argument("--densities", type=arg_type("densities", float, _UNIT, "numbers in (0, 1] separated by commas", many=True), default=[0.1, 0.02])
    a.add_argument("--batch", type=_pos("batch"), default=256, help="images whose layer inputs form X, X̃")
    a.add_argument("--columns", type=_pos("columns"), default=1024, help="patch columns kept per layer")
    a.add_argument("--trials", type=_pos("trials"), default=16, help="masks per randomized method")
    a.add_argument("--width", type=_pos("width", float), default=1.0, help="channel multiplier (small for tests)")
    a.add_argument("--train-subset", type=_pos("train-subset"), default=None, help="first N training images (smoke runs)")
    a.add_argument("--batch-size", type=_pos("batch-size"), default=128)
    a.add_argument("--data-root", default=None)
    a.add_argument("--out", required=True)
    b = sub.add_parser("ntk-cnn", help="Theorem 6.2 on a small CNN")
    b.add_argument("--channels", type=arg_type("channels", int, lambda x: x >= 1, "positive integers separated by commas", many=True), default=[8, 32])
    b.add_argument("--densities", type=arg_type("densities", float, _UNIT, "numbers in (0, 1] separated by commas", many=True), default=[0.1, 0.02])
    b.add_argument("--n", type=_pos("n"), default=16)
    b.add_argument("--steps", type=_pos("steps"), default=50)
    b.add_argument("--lr-factor", type=arg_type("lr-factor", float, _UNIT, "a number in (0, 1]"), default=0.5)
    b.add_argument("--image-size", type=_pos("image-size"), default=14)
    b.add_argument("--trials", type=_pos("trials"), default=2000)
    b.add_argument("--seed", type=pos_int("seed", lo=0, hi=2**63 - 1), default=0)
    b.add_argument("--data-root", default=None)
    b.add_argument("--out", default=None)
    return p


@interruptible("python -m sketchbound.dnn.deep_theory")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sketchbound.dnn.deep_theory lemma43|ntk-cnn ...``: the paper's quantities inside networks.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0; bad arguments: one line on stderr and ``SystemExit(2)``.

    Examples
    --------
    >>> main(["lemma43", "--epochs", "0", "--out", "x"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    p = build_parser()
    args = p.parse_args(argv)
    command = "python -m sketchbound.dnn.deep_theory " + " ".join(sys.argv[1:] if argv is None else argv)
    if getattr(args, "out", None):
        with cli_errors(p.prog):
            check_output_path(args.out, kind="dir", flag="--out")
    with cli_errors(p.prog):
        if args.cmd == "lemma43":
            res = lemma43_experiment(args.model, args.dataset, epochs=args.epochs, device=args.device, seed=args.seed,
                                     densities=tuple(args.densities), batch=args.batch, columns=args.columns,
                                     trials=args.trials, width=args.width, train_subset=args.train_subset,
                                     data_root=args.data_root, out=args.out, batch_size=args.batch_size, command=command)
            print(Path(args.out, "lemma43.md").read_text())
            print(json.dumps({k: res[k] for k in ("accuracy", "train_seconds", "total_seconds", "device_name")}))
        else:
            rows = ntk_cnn_experiment(tuple(args.channels), tuple(args.densities), n=args.n, steps=args.steps,
                                      lr_factor=args.lr_factor, seed=args.seed, trials=args.trials,
                                      image_size=args.image_size, data_root=args.data_root, out=args.out, command=command)
            if args.out:
                print(Path(args.out, "ntk_cnn.md").read_text())
            else:
                for r in rows:
                    print(json.dumps({k: r[k] for k in ("channels", "d", "s", "mc_mean", "chain_exact", "chain_lemma43",
                                                        "chain_final", "K", "lambda_min", "R0")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
