"""Lemma 4.3 measured inside a network, one layer at a time, and the constant ``c`` in practice.

See :mod:`sketchbound.dnn.experiments.deep_theory` for the experiment that trains a network and
reports these quantities; the maths (a conv layer as a linear-feature problem on its unfolded
patches, ``d = C_out·D`` weights, feature matrix ``I_{C_out} ⊗ P``) is described there.
"""
from __future__ import annotations

import copy
import math
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.dnn.pruning.masks import sample_algorithm1, sample_without_replacement
from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.seeds import stream_seed

__all__ = ["kept_weight_stats", "layer_inputs", "patch_matrix", "layer_lemma43", "lemma43_network", "LEMMA43_MASKS",
           "QUANTILES"]

LEMMA43_MASKS = ("threshold", "randomized", "algorithm1", "uniform")
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

    Parameters
    ----------
    init, final : mapping of str to torch.Tensor
        ``{layer: weight}`` at initialisation and after training (same layers and shapes).
    masks : mapping of str to torch.Tensor, optional
        ``{layer: mask}``; only masked layers count, and only their kept weights. ``None``: all weights.
    per_layer : bool, default False
        Also return the quantiles of each layer.

    Returns
    -------
    dict
        The fields above (``None`` where a quantity is undefined, e.g. no kept weight).

    Examples
    --------
    >>> s = kept_weight_stats({"w": torch.tensor([1.0, -2.0, 0.0])}, {"w": torch.tensor([3.0, 2.0, 5.0])})
    >>> s["c_max"], s["kept"], s["zero_init"]
    (3.0, 3, 1)
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
    batch-statistics mode, computed on a deep copy (``model`` is left as it was).

    Parameters
    ----------
    model : nn.Module
        The network.
    x : torch.Tensor
        The batch.

    Returns
    -------
    dict of str to torch.Tensor
        Each prunable layer's input tensor.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> {k: tuple(v.shape) for k, v in layer_inputs(net, torch.zeros(5, 3)).items()}
    {'0.weight': (5, 3), '2.weight': (5, 2)}
    """
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
    (``D = C_in·k_h·k_w``, ``N = B·L``), linear → ``in_features × B``.

    Parameters
    ----------
    module : nn.Module
        A ``Linear`` or ``Conv2d`` (``groups=1``, zero padding) layer.
    inp : torch.Tensor
        Its input (:func:`layer_inputs`).

    Returns
    -------
    torch.Tensor
        The ``D × N`` feature matrix ``P`` (``W P`` is the layer's pre-activation).

    Examples
    --------
    >>> tuple(patch_matrix(nn.Conv2d(2, 4, 3, padding=1), torch.zeros(1, 2, 5, 5)).shape)
    (18, 25)
    """
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
                  trials: int = 16, seed: int = 0, methods: Sequence[str] = LEMMA43_MASKS) -> list[dict]:
    """Lemma 4.3 for one layer (module docstring): one row per mask method with the measured error
    (mean and standard error over ``trials`` masks; one mask for ``threshold``), the Lemma 4.3 exact value
    and bound where they apply, the feature norm ``||W* P||_F²`` and |w*/w⁰| quantiles over the kept weights.

    Parameters
    ----------
    W0, Wstar : torch.Tensor
        The layer's initial and trained weights (``C_out × D`` after flattening).
    P0, Pstar : torch.Tensor
        The layer's ``D × N`` feature matrices at init and trained (:func:`patch_matrix`).
    density : float
        Fraction of weights kept, in ``(0, 1]`` (``s = round(density · d)``).
    trials : int, default 16
        Masks drawn per random method.
    seed : int, default 0
        Same seed ⇒ same rows.
    methods : sequence of str, default LEMMA43_MASKS
        Among ``threshold``, ``randomized``, ``algorithm1``, ``uniform``.

    Returns
    -------
    list of dict
        One row per method.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> W0, P = torch.randn(2, 3, generator=g), torch.randn(3, 8, generator=g)
    >>> rows = layer_lemma43(W0, 2 * W0, P, P, 0.5, methods=("threshold",))
    >>> [r["method"] for r in rows], rows[0]["s"], rows[0]["d"]
    (['threshold'], 3, 6)
    """
    if not (0 < density <= 1):
        raise ValueError(f"density must be in (0, 1], got {density!r}")
    for m in methods:
        if m not in LEMMA43_MASKS:
            raise ValueError(f"method must be one of {', '.join(LEMMA43_MASKS)}; got {m!r}")
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
                    columns: int = 1024, trials: int = 16, seed: int = 0, methods: Sequence[str] = LEMMA43_MASKS) -> list[dict]:
    """:func:`layer_lemma43` for every prunable layer of a network (init ``model0``, trained
    ``model_star``, same architecture) on the batch ``x``; rows carry ``layer`` and ``kind``.

    Parameters
    ----------
    model0, model_star : nn.Module
        The network at initialisation and trained.
    x : torch.Tensor
        The batch the features are computed on.
    densities : sequence of float, default (0.1,)
        Densities to evaluate.
    columns : int, default 1024
        Feature columns kept per layer (drawn by a seeded generator).
    trials : int, default 16
        Masks drawn per random method.
    seed : int, default 0
        Same seed ⇒ same rows.
    methods : sequence of str, default LEMMA43_MASKS
        The mask methods.

    Returns
    -------
    list of dict
        :func:`layer_lemma43`'s rows for every layer and density.

    Examples
    --------
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> rows = lemma43_network(net, net, torch.randn(6, 3), (0.5,), trials=2, methods=("threshold",))
    >>> [r["layer"] for r in rows]
    ['0.weight', '2.weight']
    """
    in0, ins = layer_inputs(model0, x), layer_inputs(model_star, x)
    mods0 = dict(prunable_modules(model0))
    mods_s = dict(prunable_modules(model_star))
    g = torch.Generator().manual_seed(stream_seed(seed, "deep-theory-columns"))
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


