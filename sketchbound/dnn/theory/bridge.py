"""The bridge's per-run theory quantities for a deep network: per-layer constants, predicted and measured error.

A layer with weight ``W`` (``C_out × D`` after flattening a convolution's kernel) and input patches
``P`` (``D × N``, :func:`~sketchbound.dnn.theory.layers.patch_matrix`) is a linear-feature problem;
Lemma 4.3's error of a binary mask ``M`` at weights ``W`` is ``‖(W ⊙ (1 − M)) P‖_F²``.

**Constants** (:func:`layer_constants`). The variance-aware law assumes ``w*_k = c_l·w⁰_k + ε_k`` with
``E ε_k² = σ_l²`` in layer ``l``. They are estimated from dense (unpruned) networks trained on *pilot*
seeds that no ladder or confirmatory run uses (100-102): for each pilot seed, the least-squares slope
``c_l = ⟨w*, w⁰⟩ / ‖w⁰‖²`` of the layer's trained weights on its initial ones and the residual variance
``σ_l² = mean((w* − c_l w⁰)²)``; the file holds the means over the pilot seeds of ``c_l`` and of
``σ_l²`` (``sigma = √mean σ_l²``) and each seed's values (their spread).

**Predicted error** (:func:`predicted_errors`, recorded in ``result.json`` under ``"bridge"`` when a run
has ``bridge_record = true``). Under the model above, at the run's own initialisation ``w⁰`` and drawn
mask ``M``, with ``P⁰`` the init network's patches on a fixed batch (:func:`probe_batch`):
``E_ε‖(w* ⊙ (1 − M)) P⁰‖² = c_l²‖(w⁰ ⊙ (1 − M)) P⁰‖² + σ_l² Σ_k (1 − M_k) ‖P⁰_(k)‖²`` (ε independent,
zero-mean; ``‖P⁰_(k)‖`` = the norm of the patch row that weight ``k`` multiplies). ``pred_rel`` divides
by the same expectation with everything pruned (``M = 0``), ``E‖w* P⁰‖²``.

**Measured error** (:func:`measured_errors`). A masked run's own trained weights are zero outside its
mask, so Lemma 4.3's error of the mask is measured against the *dense network trained from the same
initialisation* (the table's dense run of the same seed): ``‖(w*_dense ⊙ (1 − M)) P*‖²`` with ``P*`` the
dense trained network's patches on the same batch; ``meas_rel`` divides by ``‖w*_dense P*‖²``. It is a
function of the mask and the seed, not of the masked run's training (that shows in its accuracy).

The scale-free summaries ``pred_rel_mean`` / ``meas_rel_mean`` (mean over layers of the relative errors)
are what the per-rung CSV reports as ``predicted_error`` / ``measured_error``. Patches are subsampled to
``columns`` columns per layer with one fixed generator, the same columns at init and trained.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import nn

from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.dnn.theory.layers import layer_inputs, patch_matrix
from sketchbound.sampling import check_positive_int
from sketchbound.seeds import stream_seed

__all__ = ["probe_batch", "layer_patches", "layer_constants", "predicted_errors", "measured_errors", "PROBE_SIZE",
           "COLUMNS"]

#: images of the fixed probe batch, and patch columns kept per layer
PROBE_SIZE = 256
COLUMNS = 4096


def probe_batch(data, n: int = PROBE_SIZE, device=None) -> torch.Tensor:
    """The fixed probe batch: ``n`` normalised training images chosen by a seed-independent stream.

    Parameters
    ----------
    data : TensorDataset
        The run's training data (:class:`~sketchbound.dnn.data.TensorDataset`, padded as the run).
    n : int, default PROBE_SIZE
        Number of images (at most the training set's size).
    device : torch.device or str, optional
        Where to put the batch (default: the data's device).

    Returns
    -------
    torch.Tensor
        ``(n, C, H, W)`` float32; the same images for every run on the same data.

    Examples
    --------
    >>> import torch
    >>> from sketchbound.dnn.data.datasets import TensorDataset
    >>> x = torch.zeros(10, 1, 4, 4, dtype=torch.uint8); y = torch.zeros(10, dtype=torch.int64)
    >>> probe_batch(TensorDataset("toy", x, y, x, y, 2, (0.5,), (0.25,)), n=3).shape
    torch.Size([3, 1, 4, 4])
    """
    n = check_positive_int(n, name="n", floats=False)  # probe images
    g = torch.Generator().manual_seed(stream_seed(0, "bridge-probe"))
    idx = torch.randperm(len(data), generator=g)[: min(n, len(data))]
    x = data.normalized(data.x_train[idx.to(data.x_train.device)])
    return x if device is None else x.to(device)


def layer_patches(model: nn.Module, x: torch.Tensor, columns: int = COLUMNS) -> dict[str, torch.Tensor]:
    """``{"<layer>.weight": P}`` (float64, ``D × min(N, columns)``) for every prunable layer on batch ``x``.

    The columns kept are drawn by one fixed generator per layer index, so two networks of the same
    architecture on the same batch get the same columns.

    Parameters
    ----------
    model : nn.Module
        The network.
    x : torch.Tensor
        The batch (e.g. :func:`probe_batch`).
    columns : int, default COLUMNS
        Patch columns kept per layer.

    Returns
    -------
    dict of str to torch.Tensor
        float64 ``D × min(N, columns)`` feature matrices, one per prunable layer.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    >>> {k: tuple(v.shape) for k, v in layer_patches(net, torch.zeros(5, 3), columns=4).items()}
    {'0.weight': (3, 4), '2.weight': (2, 4)}
    """
    ins = layer_inputs(model, x)
    out = {}
    for li, (name, m) in enumerate(prunable_modules(model)):
        key = f"{name}.weight" if name else "weight"
        P = patch_matrix(m, ins[key])
        if P.shape[1] > columns:
            g = torch.Generator().manual_seed(stream_seed(li, "bridge-columns"))
            P = P[:, torch.randperm(P.shape[1], generator=g)[:columns].to(P.device)]
        out[key] = P.double()
    return out


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {(f"{n}.weight" if n else "weight"): m.weight.detach().double().reshape(m.weight.shape[0], -1)
            for n, m in prunable_modules(model)}


def layer_constants(inits: list[Mapping[str, torch.Tensor]], trained: list[Mapping[str, torch.Tensor]]) -> dict:
    """Per-layer ``c_l`` and ``σ_l`` of ``w* = c_l w⁰ + ε`` from pilot pairs (module docstring).

    Parameters
    ----------
    inits, trained : list of mapping of str to torch.Tensor
        One ``{layer: weight}`` dict per pilot seed, initial and trained (same layers).

    Returns
    -------
    dict
        ``{layer: {"c", "sigma", "sigma2", "c_per_seed", "sigma2_per_seed", "n"}}``: the means over the pilot
        seeds and each seed's values.

    Examples
    --------
    >>> import torch
    >>> w0 = {"w": torch.tensor([1.0, -1.0, 2.0, 0.0])}
    >>> k = layer_constants([w0], [{"w": torch.tensor([2.0, -2.0, 4.0, 1.0])}])
    >>> k["w"]["c"], k["w"]["sigma2"]
    (2.0, 0.25)
    """
    if not inits or len(inits) != len(trained):
        raise ValueError(f"inits and trained must be equal-length non-empty lists, got {len(inits)} and {len(trained)}")
    out = {}
    for name in inits[0]:
        cs, s2s = [], []
        for a0, b0 in zip(inits, trained):
            if name not in a0 or name not in b0:
                raise ValueError(f"layer {name!r} is missing from a pilot's init or trained weights")
            a = a0[name].detach().double().reshape(-1).cpu()
            b = b0[name].detach().double().reshape(-1).cpu()
            if a.shape != b.shape:
                raise ValueError(f"layer {name!r}: init has {a.numel()} weights, trained {b.numel()}")
            nn0 = float(a @ a)
            c = float(a @ b) / nn0 if nn0 > 0 else 0.0
            cs.append(c)
            s2s.append(float(((b - c * a) ** 2).mean()))
        s2 = sum(s2s) / len(s2s)
        out[name] = {"c": sum(cs) / len(cs), "sigma": math.sqrt(s2), "sigma2": s2, "c_per_seed": cs,
                     "sigma2_per_seed": s2s, "n": int(inits[0][name].numel())}
    return out


def _pruned(masks: Mapping[str, torch.Tensor], name: str, W: torch.Tensor) -> torch.Tensor:
    if name not in masks or masks[name] is None:
        return torch.zeros_like(W)  # a layer without a mask keeps everything
    return (masks[name].to(W.device).reshape(W.shape) == 0).to(W.dtype)


def _summary(layers: dict, key: str) -> dict:
    vals = [v[key] for v in layers.values() if v[key] is not None and math.isfinite(v[key])]
    return sum(vals) / len(vals) if vals else None


def predicted_errors(model0: nn.Module, masks: Mapping[str, torch.Tensor], constants: Mapping[str, tuple],
                     x: torch.Tensor, columns: int = COLUMNS) -> dict:
    """The error the theory predicts at init for the drawn mask, per layer and summed (module docstring).

    Parameters
    ----------
    model0 : nn.Module
        The run's network at initialisation (left unchanged).
    masks : mapping of str to torch.Tensor
        ``{layer: mask}`` of the run (non-zero = kept).
    constants : mapping of str to (float, float)
        ``{layer: (c, sigma)}`` (:func:`sketchbound.dnn.pruning.bridge_laws.read_constants`).
    x : torch.Tensor
        The probe batch (:func:`probe_batch`).
    columns : int, default COLUMNS
        Patch columns kept per layer.

    Returns
    -------
    dict
        ``{"layers": {layer: {"pred", "pred_dense", "pred_rel"}}, "pred_sum", "pred_rel_mean", "columns",
        "probe"}``.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False))
    >>> out = predicted_errors(net, {"0.weight": torch.ones(2, 3)}, {"0.weight": (1.0, 0.0)}, torch.randn(4, 3))
    >>> out["pred_sum"]
    0.0
    """
    P = layer_patches(model0, x, columns)
    W0 = _weights(model0)
    layers = {}
    for name, W in W0.items():
        if name not in constants:
            raise ValueError(f"constants have no layer {name!r}; accepted: one (c, sigma) per prunable layer")
        c, sigma = constants[name]
        Pl = P[name].to(W.device)
        r2 = Pl.pow(2).sum(dim=1)  # ‖P_(j)‖² for each input row j
        off = _pruned(masks, name, W)
        pred = c * c * float(((W * off) @ Pl).pow(2).sum()) + sigma * sigma * float((off * r2[None, :]).sum())
        dense = c * c * float((W @ Pl).pow(2).sum()) + sigma * sigma * W.shape[0] * float(r2.sum())
        layers[name] = {"pred": pred, "pred_dense": dense, "pred_rel": pred / dense if dense > 0 else None}
    return {"layers": layers, "pred_sum": sum(v["pred"] for v in layers.values()),
            "pred_rel_mean": _summary(layers, "pred_rel"), "columns": int(columns), "probe": int(x.shape[0])}


def measured_errors(model_star: nn.Module, masks: Mapping[str, torch.Tensor], x: torch.Tensor,
                    columns: int = COLUMNS, patches: Mapping[str, torch.Tensor] | None = None) -> dict:
    """Lemma 4.3's error of ``masks`` at the dense trained weights ``model_star`` (module docstring).

    Parameters
    ----------
    model_star : nn.Module
        The dense network trained from the run's initialisation.
    masks : mapping of str to torch.Tensor
        ``{layer: mask}`` of the run (non-zero = kept).
    x : torch.Tensor
        The probe batch (:func:`probe_batch`).
    columns : int, default COLUMNS
        Patch columns kept per layer.
    patches : dict of str to torch.Tensor, optional
        ``layer_patches(model_star, x, columns)`` when already computed (several masks, one ``w*``).

    Returns
    -------
    dict
        ``{"layers": {layer: {"meas", "features", "meas_rel"}}, "meas_sum", "meas_rel_mean", "columns", "probe"}``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False))
    >>> m = {"0.weight": torch.zeros(2, 3)}
    >>> measured_errors(net, m, torch.randn(5, 3))["meas_rel_mean"]
    1.0
    """
    P = layer_patches(model_star, x, columns) if patches is None else patches
    layers = {}
    for name, W in _weights(model_star).items():
        Pl = P[name].to(W.device)
        meas = float(((W * _pruned(masks, name, W)) @ Pl).pow(2).sum())
        feat = float((W @ Pl).pow(2).sum())
        layers[name] = {"meas": meas, "features": feat, "meas_rel": meas / feat if feat > 0 else None}
    return {"layers": layers, "meas_sum": sum(v["meas"] for v in layers.values()),
            "meas_rel_mean": _summary(layers, "meas_rel"), "columns": int(columns), "probe": int(x.shape[0])}
