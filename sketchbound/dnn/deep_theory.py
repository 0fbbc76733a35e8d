"""The paper's quantities measured inside real networks (issue 7): Lemma 4.3 per layer, the constant
``c`` of Theorem 4.4 in practice, and Theorem 6.2 on a small CNN.

Lemma 4.3 per layer (``lemma43``)
---------------------------------
For every prunable layer (conv / linear, :mod:`sketchbound.dnn.prunable`) of a network:

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

import argparse
import copy
import csv
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import ntk as core_ntk
from ..sampling import algorithm1
from .masks import sample_algorithm1, sample_without_replacement
from .prunable import prunable_modules

__all__ = ["kept_weight_stats", "layer_inputs", "patch_matrix", "layer_lemma43", "lemma43_network",
           "lemma43_experiment", "ntk_cnn_experiment", "METHODS", "main"]

METHODS = ("threshold", "randomized", "algorithm1", "uniform")
QUANTILES = (0.5, 0.9, 0.99)


# --------------------------------------------------------------------------------------------- c in practice
def _quantiles(x: np.ndarray, qs=QUANTILES) -> dict:
    if x.size == 0:
        return {f"c_q{int(round(q * 100))}": None for q in qs} | {"c_max": None, "c_mean": None}
    out = {f"c_q{int(round(q * 100))}": float(np.quantile(x, q)) for q in qs}
    out["c_max"] = float(x.max())
    out["c_mean"] = float(x.mean())
    return out


def kept_weight_stats(init: Mapping[str, torch.Tensor], final: Mapping[str, torch.Tensor],
                      masks: Mapping[str, torch.Tensor] | None = None, *, per_layer: bool = False) -> dict:
    """The constant ``c = max_j |w*_j / w⁰_j|`` of Theorem 4.4 *in practice*: quantiles of
    ``|w*_j / w⁰_j|`` over the kept weights (``mask ≠ 0``; all weights if ``masks`` is None), plus the
    ℓ1 and ℓ2 norms of the kept initial weights and ``ℓ1 / (√k ℓ2)`` (1 for equal magnitudes, §4's
    comparison of Thm 4.4 with Lemma 4.5). Weights with ``w⁰_j = 0`` are excluded from the ratio
    (counted in ``zero_init``).

    Returns a flat dict of floats: ``c_q50, c_q90, c_q99, c_max, c_mean, init_l1_kept, init_l2_kept,
    l1_over_sqrtk_l2, kept, zero_init`` (and ``per_layer`` when asked).
    """
    if not isinstance(init, Mapping) or not isinstance(final, Mapping):
        raise ValueError(f"init and final must be dicts name -> tensor, got {type(init).__name__}, {type(final).__name__}")
    ratios, w0s, layers = [], [], {}
    for name, w0 in init.items():
        if name not in final:
            raise ValueError(f"final has no weight {name!r}; it has {', '.join(list(final)[:6])}")
        a = w0.detach().double().cpu().reshape(-1)
        b = final[name].detach().double().cpu().reshape(-1)
        if a.shape != b.shape:
            raise ValueError(f"weight {name!r}: init has {a.numel()} entries, final {b.numel()}")
        if masks is not None and name in masks:
            keep = torch.as_tensor(masks[name]).detach().cpu().reshape(-1) != 0
        elif masks is not None:
            continue  # not a masked layer
        else:
            keep = torch.ones_like(a, dtype=torch.bool)
        a, b = a[keep].numpy(), b[keep].numpy()
        w0s.append(a)
        nz = a != 0
        r = np.abs(b[nz] / a[nz])
        ratios.append(r)
        if per_layer:
            layers[name] = _quantiles(r) | {"kept": int(a.size)}
    r = np.concatenate(ratios) if ratios else np.zeros(0)
    w0 = np.concatenate(w0s) if w0s else np.zeros(0)
    l1, l2 = float(np.abs(w0).sum()), float(np.sqrt((w0**2).sum()))
    out = _quantiles(r) | {"init_l1_kept": l1, "init_l2_kept": l2,
                           "l1_over_sqrtk_l2": (l1 / (math.sqrt(w0.size) * l2)) if w0.size and l2 > 0 else None,
                           "kept": int(w0.size), "zero_init": int(w0.size - r.size)}
    if per_layer:
        out["per_layer"] = layers
    return out


# --------------------------------------------------------------------------------------------- features
@torch.no_grad()
def layer_inputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Inputs of every prunable layer on batch ``x``, ``{"<module>.weight": input}``, with BatchNorm in
    batch-statistics mode, computed on a deep copy (``model`` is left as it was)."""
    net = copy.deepcopy(model)
    net.train()
    got: dict[str, torch.Tensor] = {}
    hooks = []
    for name, m in prunable_modules(net):
        key = f"{name}.weight" if name else "weight"
        hooks.append(m.register_forward_hook(lambda mod, inp, out, key=key: got.__setitem__(key, inp[0].detach())))
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return got


def patch_matrix(module: nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """The layer's input as the ``D × N`` matrix its weight multiplies: conv → unfolded patches
    (``D = C_in·k_h·k_w``, ``N = B·L``), linear → ``in_features × B``."""
    if isinstance(module, nn.Linear):
        return inp.reshape(-1, inp.shape[-1]).T
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise ValueError(f"conv layers with groups != 1 are not supported (got groups={module.groups})")
        if module.padding_mode != "zeros":
            raise ValueError(f"padding_mode must be 'zeros', got {module.padding_mode!r}")
        pad = module.padding
        if isinstance(pad, str):
            raise ValueError(f"string padding {pad!r} is not supported; use explicit padding")
        P = F.unfold(inp, module.kernel_size, dilation=module.dilation, padding=pad, stride=module.stride)
        return P.permute(1, 0, 2).reshape(P.shape[1], -1)
    raise ValueError(f"layer type {type(module).__name__} is not supported (accepted: Linear, Conv2d)")


def _row_norms(P: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(P, dim=1)


def _err(Wr: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """||Wr P||_F² for Wr of shape (..., C_out, D)."""
    return (Wr @ P).pow(2).sum(dim=(-2, -1))


def _alg1_exact(W: torch.Tensor, P: torch.Tensor, p: torch.Tensor, s: int) -> float:
    """Lemma 4.3's equality line for the layer: (1/s) Σ r_j² w*_oj² / p_oj − (1/s)||W* P||²."""
    r2 = _row_norms(P).pow(2)
    term = torch.where(p > 0, r2[None, :] * W.pow(2) / torch.where(p > 0, p, torch.ones_like(p)), torch.zeros_like(p))
    if bool(((p == 0) & (r2[None, :] * W.pow(2) > 0)).any()):
        return float("inf")
    return float((term.sum() - _err(W, P)) / s)


def layer_lemma43(W0: torch.Tensor, Wstar: torch.Tensor, P0: torch.Tensor, Pstar: torch.Tensor, density: float, *,
                  trials: int = 16, seed: int = 0, methods: Sequence[str] = METHODS) -> list[dict]:
    """Lemma 4.3 for one layer (module docstring): one row per mask method with the measured error
    (mean and standard error over ``trials`` masks; one mask for ``threshold``), the Lemma 4.3 exact value
    and bound where they apply, the feature norm ``||W* P||_F²`` and |w*/w⁰| quantiles over the kept weights."""
    if not (0 < density <= 1):
        raise ValueError(f"density must be in (0, 1], got {density!r}")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {m!r}")
    dev = P0.device
    W0 = W0.detach().double().reshape(W0.shape[0], -1).to(dev)
    Ws = Wstar.detach().double().reshape(Wstar.shape[0], -1).to(dev)
    P0 = P0.double()
    Ps = Pstar.double()
    C, D = W0.shape
    if P0.shape[0] != D or Ps.shape != P0.shape:
        raise ValueError(f"patch matrices {tuple(P0.shape)}, {tuple(Ps.shape)} do not match the weight's D={D}")
    d = C * D
    s = max(1, int(round(density * d)))
    score = _row_norms(P0)[None, :] * W0.abs()  # eq. (2) numerator over the whole layer
    p_opt = score / score.sum()
    p_uni = torch.full_like(score, 1.0 / d)
    feat = float(_err(Ws, Ps))
    exact_opt = _alg1_exact(Ws, Ps, p_opt, s)
    r2 = _row_norms(Ps).pow(2)
    num = r2[None, :] * Ws.pow(2)
    bound = float(score.sum() * torch.where(num > 0, num / torch.where(score > 0, score, torch.ones_like(score)),
                                            torch.zeros_like(num)).sum() / s)
    if bool(((score == 0) & (num > 0)).any()):
        bound = float("inf")
    exact_uni = _alg1_exact(Ws, Ps, p_uni, s)
    rows = []
    base = dict(C_out=C, D=D, d=d, n=int(P0.shape[1]), s=s, density=density, features=feat)
    for k, method in enumerate(methods):
        g = seed * 7919 + k
        masks = []
        if method == "threshold":
            idx = torch.topk(score.reshape(-1), s).indices
            m = torch.zeros(d, dtype=torch.float64, device=dev)
            m[idx] = 1.0
            masks.append(m.reshape(C, D))
        else:
            for t in range(trials):
                if method == "randomized":
                    masks.append(sample_without_replacement(score.reshape(-1), s, rng=g * 1000 + t).reshape(C, D).double())
                elif method == "algorithm1":
                    masks.append(sample_algorithm1(score.reshape(-1), s, rng=g * 1000 + t).reshape(C, D).double())
                else:
                    masks.append(sample_algorithm1(torch.ones(d, dtype=torch.float64, device=dev), s,
                                                   rng=g * 1000 + t).reshape(C, D).double())
        errs = torch.tensor([float(_err(Ws * (1 - m), Ps)) for m in masks], dtype=torch.float64)
        kept = torch.stack([m != 0 for m in masks])
        ratio = (Ws / W0).abs()
        q = _quantiles(ratio[kept[0]].cpu().numpy())
        row = dict(base, method=method, trials=len(masks), error=float(errs.mean()),
                   error_se=float(errs.std(unbiased=True) / math.sqrt(len(masks))) if len(masks) > 1 else 0.0,
                   exact=exact_opt if method == "algorithm1" else (exact_uni if method == "uniform" else None),
                   bound=bound if method == "algorithm1" else None,
                   kept=float(kept.sum(dim=(1, 2)).double().mean()),
                   init_l1_kept=float(W0.abs()[kept[0]].sum()), init_l2_kept=float(W0[kept[0]].norm()), **q)
        rows.append(row)
    return rows


def lemma43_network(model0: nn.Module, model_star: nn.Module, x: torch.Tensor, densities=(0.1,), *,
                    columns: int = 1024, trials: int = 16, seed: int = 0, methods: Sequence[str] = METHODS) -> list[dict]:
    """:func:`layer_lemma43` for every prunable layer of a network (init ``model0``, trained
    ``model_star``, same architecture) on the batch ``x``; rows carry ``layer`` and ``kind``."""
    in0, ins = layer_inputs(model0, x), layer_inputs(model_star, x)
    mods0 = dict(prunable_modules(model0))
    mods_s = dict(prunable_modules(model_star))
    g = torch.Generator().manual_seed(seed + 12345)
    rows = []
    for li, (name, m0) in enumerate(mods0.items()):
        key = f"{name}.weight" if name else "weight"
        P0 = patch_matrix(m0, in0[key])
        Ps = patch_matrix(mods_s[name], ins[key])
        if P0.shape[1] > columns:
            cols = torch.randperm(P0.shape[1], generator=g)[:columns].to(P0.device)
            P0, Ps = P0[:, cols], Ps[:, cols]
        for dens in densities:
            for r in layer_lemma43(m0.weight, mods_s[name].weight, P0, Ps, dens, trials=trials, seed=seed + li,
                                   methods=methods):
                rows.append(dict(layer=key, index=li, kind=type(m0).__name__, **r))
    return rows


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
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_COLS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in _CSV_COLS})
    return buf.getvalue()


def rows_to_markdown(rows: list[dict], header: str = "") -> str:
    """One row per (layer, density): relative errors ``error / ||W* P||²`` of each mask, Lemma 4.3's
    exact value and bound (relative), bound/exact, and |w*/w⁰| quantiles over the Algorithm-1 mask's support."""
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
    from ..report import atomic_write  # noqa: PLC0415
    atomic_write(path, text)


# --------------------------------------------------------------------------------------------- experiment
def lemma43_experiment(model_name: str = "resnet20", dataset: str = "fashion-mnist", *, epochs: int = 15,
                       device: str = "cpu", seed: int = 0, densities=(0.1, 0.02), batch: int = 256,
                       columns: int = 1024, trials: int = 16, width: float = 1.0, train_subset: int | None = None,
                       data_root=None, out=None, batch_size: int = 128, lr: float = 0.1,
                       progress: bool = False, command: str | None = None) -> dict:
    """Train ``model_name`` densely (§7 schedule shortened to ``epochs``, :mod:`sketchbound.dnn.train`),
    then measure Lemma 4.3 per layer; writes ``lemma43.csv``, ``lemma43.md``, ``lemma43.png`` and
    ``summary.json`` into ``out`` when given. Returns ``{"rows", "accuracy", "c_stats", ...}``."""
    from .data import load_dataset  # noqa: PLC0415
    from .models import canonical_name, get_model  # noqa: PLC0415
    from .run import environment  # noqa: PLC0415
    from .train import Schedule, train  # noqa: PLC0415
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
    g = torch.Generator().manual_seed(seed + 777)
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


# --------------------------------------------------------------------------------------------- NTK CNN
class NTKCNN(nn.Module):
    """Two 3×3 convs (``channels`` each, stride 1, padding 1) + ReLU, mean over pixels, a linear
    read-out to one output; NTK parameterisation (weights N(0,1), scaled by ``1/√fan_in``), no biases."""

    def __init__(self, in_channels: int = 1, channels: int = 16, generator=None):
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        g = generator
        self.w1 = nn.Parameter(torch.randn(channels, in_channels, 3, 3, generator=g, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.randn(channels, channels, 3, 3, generator=g, dtype=torch.float64))
        self.a = nn.Parameter(torch.randn(channels, generator=g, dtype=torch.float64))
        self.s1, self.s2, self.s3 = (in_channels * 9) ** -0.5, (channels * 9) ** -0.5, channels ** -0.5

    def forward(self, x):
        h = F.relu(F.conv2d(x, self.w1 * self.s1, padding=1))
        h = F.relu(F.conv2d(h, self.w2 * self.s2, padding=1))
        return h.mean(dim=(2, 3)) @ (self.a * self.s3)


def _cnn_jacobian(model: NTKCNN, params: dict, x: torch.Tensor) -> torch.Tensor:
    from torch.func import functional_call, jacrev  # noqa: PLC0415
    jac = jacrev(lambda p: functional_call(model, p, (x,)))(params)
    return torch.cat([jac[k].reshape(x.shape[0], -1) for k in params], dim=1)


def ntk_cnn_run(channels: int = 16, *, n: int = 16, steps: int = 50, lr_factor: float = 0.5, seed: int = 0,
                image_size: int = 14, dataset: str = "fashion-mnist", data_root=None, x=None, y=None) -> dict:
    """Full-batch GD of :class:`NTKCNN` on ``n`` images (downsampled to ``image_size``); returns
    ``theta0, theta_t, J0, Jt`` (numpy) and the trajectory's ``jac_norm``, ``jac_lip``, ``loss``."""
    if x is None:
        from .data import load_dataset  # noqa: PLC0415
        ds = load_dataset(dataset, data_root)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(ds), generator=g)[:n]
        x = ds.normalized(ds.x_train[idx]).double()
        x = F.interpolate(x, size=(image_size, image_size), mode="area") if image_size != x.shape[-1] else x
        y = (ds.y_train[idx].double() - 4.5) / 4.5
    g = torch.Generator().manual_seed(seed + 1)
    model = NTKCNN(x.shape[1], channels, generator=g)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    shapes = {k: v.shape for k, v in params.items()}
    flat = lambda p: torch.cat([p[k].reshape(-1) for k in shapes])  # noqa: E731

    def unflat(v):
        out, i = {}, 0
        for k, sh in shapes.items():
            m = math.prod(sh)
            out[k] = v[i:i + m].reshape(sh)
            i += m
        return out

    from torch.func import functional_call  # noqa: PLC0415
    th0 = flat(params)
    J0 = _cnn_jacobian(model, params, x)
    ev = torch.linalg.eigvalsh(J0 @ J0.T)
    lmin, lmax = float(ev[0]), float(ev[-1])
    lr = lr_factor * 2.0 / (lmin + lmax)
    th, J = th0.clone(), J0
    f = functional_call(model, unflat(th), (x,))
    loss, jn, jl = [0.5 * float(((f - y) ** 2).sum())], [float(J0.norm())], []
    for _ in range(steps):
        th = th - lr * J.T @ (f - y)
        p = unflat(th)
        J = _cnn_jacobian(model, p, x)
        f = functional_call(model, p, (x,))
        loss.append(0.5 * float(((f - y) ** 2).sum()))
        jn.append(float(J.norm()))
        dth = float((th - th0).norm())
        if dth > 0:
            jl.append(float((J - J0).norm()) / dth)
    return dict(theta0=th0.numpy(), theta_t=th.numpy(), J0=J0.numpy(), Jt=J.numpy(), loss=loss, jac_norm=jn,
                jac_lip=jl, lam_min=lmin, lam_max=lmax, lr=lr, channels=channels, n=int(x.shape[0]), steps=steps)


def ntk_cnn_experiment(channels=(8, 32), densities=(0.1, 0.02), *, n: int = 16, steps: int = 50, lr_factor: float = 0.5,
                       seed: int = 0, trials: int = 2000, image_size: int = 14, data_root=None, out=None,
                       command: str | None = None) -> list[dict]:
    """Theorem 6.2 on :class:`NTKCNN` for each channel count and density: Monte-Carlo mean of
    ``||J_tθ_t − J_t(θ_t⊙m)||²`` over ``trials`` Algorithm-1 masks (eq. (2) on ``(J₀, θ₀)``), the
    Lemma 4.3 exact value, every step of the B.5 chain and the estimated constants."""
    rows = []
    for C in channels:
        run = ntk_cnn_run(C, n=n, steps=steps, lr_factor=lr_factor, seed=seed, image_size=image_size, data_root=data_root)
        mlp_like = core_ntk.MLPRun(X=None, y=None, width=C, theta0=run["theta0"], theta_t=run["theta_t"], J0=run["J0"],
                                   Jt=run["Jt"], lr=run["lr"], steps=steps, lam_min=run["lam_min"], lam_max=run["lam_max"],
                                   loss=run["loss"], jac_norm=run["jac_norm"], jac_lip=run["jac_lip"])
        const = core_ntk.estimate_constants(mlp_like)
        X, Xt = run["Jt"].T, run["J0"].T
        p = core_ntk.optimal_probabilities(Xt, run["theta0"])
        d = p.shape[0]
        for dens in densities:
            s = max(1, int(round(dens * d)))
            ch = core_ntk.theorem_6_2_chain(run["J0"], run["Jt"], run["theta0"], run["theta_t"], s, K=const["K"],
                                            lam_min=const["lambda_min"], R0=const["R0"])
            gen = np.random.default_rng(seed + 99)
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
def _floats(name):
    def parse(v):
        try:
            out = [float(x) for x in v.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be numbers separated by commas, got {v!r}")
        if not all(0 < x <= 1 for x in out):
            raise argparse.ArgumentTypeError(f"--{name} must be in (0, 1], got {v!r}")
        return out
    return parse


def _ints(name):
    def parse(v):
        try:
            out = [int(x) for x in v.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be positive integers separated by commas, got {v!r}")
        if not all(x >= 1 for x in out):
            raise argparse.ArgumentTypeError(f"--{name} must be positive integers, got {v!r}")
        return out
    return parse


def _pos(name, typ=int):
    def parse(v):
        try:
            x = typ(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a positive number, got {v!r}")
        if not x > 0:
            raise argparse.ArgumentTypeError(f"--{name} must be positive, got {v!r}")
        return x
    return parse


def build_parser():
    from .config import OneLineParser  # noqa: PLC0415
    p = OneLineParser(prog="python -m sketchbound.dnn.deep_theory", description="Paper quantities inside networks (issue 7).")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("lemma43", help="Lemma 4.3 per layer after dense training")
    a.add_argument("--model", default="resnet20")
    a.add_argument("--dataset", default="fashion-mnist")
    a.add_argument("--epochs", type=_pos("epochs"), default=15)
    a.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--densities", type=_floats("densities"), default=[0.1, 0.02])
    a.add_argument("--batch", type=_pos("batch"), default=256, help="images whose layer inputs form X, X̃")
    a.add_argument("--columns", type=_pos("columns"), default=1024, help="patch columns kept per layer")
    a.add_argument("--trials", type=_pos("trials"), default=16, help="masks per randomized method")
    a.add_argument("--width", type=_pos("width", float), default=1.0, help="channel multiplier (small for tests)")
    a.add_argument("--train-subset", type=_pos("train-subset"), default=None, help="first N training images (smoke runs)")
    a.add_argument("--batch-size", type=_pos("batch-size"), default=128)
    a.add_argument("--data-root", default=None)
    a.add_argument("--out", required=True)
    b = sub.add_parser("ntk-cnn", help="Theorem 6.2 on a small CNN")
    b.add_argument("--channels", type=_ints("channels"), default=[8, 32])
    b.add_argument("--densities", type=_floats("densities"), default=[0.1, 0.02])
    b.add_argument("--n", type=_pos("n"), default=16)
    b.add_argument("--steps", type=_pos("steps"), default=50)
    b.add_argument("--lr-factor", type=_floats("lr-factor"), default=[0.5])
    b.add_argument("--image-size", type=_pos("image-size"), default=14)
    b.add_argument("--trials", type=_pos("trials"), default=2000)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--data-root", default=None)
    b.add_argument("--out", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    command = "python -m sketchbound.dnn.deep_theory " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        if args.cmd == "lemma43":
            res = lemma43_experiment(args.model, args.dataset, epochs=args.epochs, device=args.device, seed=args.seed,
                                     densities=tuple(args.densities), batch=args.batch, columns=args.columns,
                                     trials=args.trials, width=args.width, train_subset=args.train_subset,
                                     data_root=args.data_root, out=args.out, batch_size=args.batch_size, command=command)
            print(Path(args.out, "lemma43.md").read_text())
            print(json.dumps({k: res[k] for k in ("accuracy", "train_seconds", "total_seconds", "device_name")}))
        else:
            rows = ntk_cnn_experiment(tuple(args.channels), tuple(args.densities), n=args.n, steps=args.steps,
                                      lr_factor=args.lr_factor[0], seed=args.seed, trials=args.trials,
                                      image_size=args.image_size, data_root=args.data_root, out=args.out, command=command)
            if args.out:
                print(Path(args.out, "ntk_cnn.md").read_text())
            else:
                for r in rows:
                    print(json.dumps({k: r[k] for k in ("channels", "d", "s", "mc_mean", "chain_exact", "chain_lemma43",
                                                        "chain_final", "K", "lambda_min", "R0")}))
    except (ValueError, FileNotFoundError) as e:
        sys.stderr.write(f"{p.prog}: error: {str(e).splitlines()[0]}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
