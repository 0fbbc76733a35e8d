"""Masks from scores, shared by every pruning method (paper §3, §7, Appendix A).

``make_mask(scores, density, mode, rng=...)`` turns a dict ``{parameter name: score tensor}`` (from
:func:`sketchbound.dnn.pruning.scores.compute_scores`) into a dict of masks of the same shapes. The number
kept is ``k = round(density × d)`` (``d`` = total prunable weights, ``round`` = half up), **exactly**,
for every binary mode — also when scores tie (no ``score <= threshold`` test: Synaptic-Flow's
issue #12 cannot happen; selection is by ``topk`` with exact counts).

Modes (:data:`MASK_MODES`, then the bridge's :data:`BRIDGE_MODES`):

``"global"``
    Global hard threshold: keep the ``k`` highest scores of the network (SynFlow, SNIP, ... as published).
    By default every layer keeps at least its single best weight (``min_per_layer=1``, out of the same
    ``k``): unguarded SynFlow removes whole 1×1 shortcut convolutions of ResNet-20 at 2% density
    (Synaptic-Flow issue #7, reproduced here); ``min_per_layer=0`` is the unguarded threshold.
``"layerwise"``
    Layerwise hard threshold (Appendix A): every layer keeps ``density × n_l`` of its weights; the
    per-layer counts are rounded by largest remainders so that they sum to exactly ``k``.
``"randomized"``
    The paper's randomized mask (§7): (1) the global threshold of ``"global"``; (2) the per-layer
    counts ``k_l`` hard thresholding would keep; (3) in each layer, ``k_l`` weights sampled without
    replacement with probability ∝ score (successive sampling, :func:`sketchbound.without_replacement`).
``"layerwise_randomized"``
    Appendix A's layerwise variant: the counts of ``"layerwise"``, sampled as in ``"randomized"``.
``"algorithm1"``
    Algorithm 1 itself (§3) over the whole network: ``s = k`` i.i.d. draws with replacement from
    ``p = scores / Σ scores`` and ``m_i = c_i / (s p_i)`` (:func:`sketchbound.algorithm1`). The mask is
    **not binary** and is unbiased (``E[m_i] = 1`` where ``p_i > 0``); its number of non-zeros is the
    number of *distinct* drawn indices, which is ``<= k`` (not ``== k``): Algorithm 1 is kept
    faithful (exactly ``s`` draws) rather than redrawn until ``k`` distinct indices appear.
``"shuffled"``
    The per-layer shuffle control (Su et al. 2020; Frankle et al. 2021): the per-layer counts ``k_l`` of
    ``"global"``, with the ``k_l`` weights of each layer chosen **uniformly** (the scores only set the
    counts). Against ``"randomized"`` it isolates sampling *in proportion to the scores*.
``"tempered"``
    The §7 procedure with sampling weights ``score^β`` inside each layer (``beta`` in ``[0, ∞]``):
    β = 0 draws as ``"shuffled"``, β = 1 as ``"randomized"`` (same ``rng`` ⇒ same mask), β = ∞ keeps
    each layer's ``k_l`` best scores, the global threshold's kept set
    (:mod:`sketchbound.dnn.pruning.bridge_laws`).
``"variance_aware"``
    The §7 procedure with weights ``(score_k/|w⁰_k|)·√(c_l²w⁰_k² + σ_l²)`` (``w0`` and per-layer
    ``constants`` ``{layer: (c_l, σ_l)}``); at σ_l = 0 the law of ``"randomized"``
    (:mod:`sketchbound.dnn.pruning.bridge_laws`).

Keep rules (``keep_rule``, :data:`KEEP_RULES`; for the global-count modes ``"global"``, ``"randomized"``,
``"shuffled"``):

``"exact"`` (default)
    keep exactly ``k = ⌊density·d + 1/2⌋`` (``topk``; ties cannot change the count).
``"synflow"``
    Synaptic-Flow's ``Pruner._global_mask``, reproduced rule for rule so that its masks come out bit
    for bit on the same scores: ``t = kthvalue(scores, int((1 - density)·d))``, keep ``score > t``
    (nothing pruned when ``int((1 - density)·d) < 1``). Without ties it keeps ``d - int((1 - density)·d)``
    weights, usually one more than ``"exact"``; with ties at ``t`` it prunes all of them (its issue #12).
    It has no per-layer guard: it needs ``min_per_layer=0``.

``info``: pass a dict and :func:`make_mask` fills it with what happened: ``keep_rule``,
``min_per_layer``, ``kept`` (non-zeros), ``guard_fired`` (whether ``min_per_layer`` changed the mask),
``guard_kept`` (how many weights the guard kept that the unguarded rule would have pruned) and
``guard_layers`` (``{layer: that number}`` for the layers where it fired). Runs record it in result.json.

Sampling weights for the randomized modes and Algorithm 1 are the scores themselves; signed scores
(GraSP's) are shifted by their global minimum (``w = score - min score``), which keeps their order.
In a layer where fewer than ``k_l`` weights have a positive sampling weight, all of those are kept
and the rest are drawn uniformly among the zero-weight ones, so the count stays exact.

Backends (:mod:`sketchbound.dnn.pruning.samplers`): ``"numpy"`` calls the core samplers of
:mod:`sketchbound.sampling` (numba kernels); ``"torch"`` is their torch twin on the scores' device (VGG-19's
2·10^7 weights included). ``"auto"`` = torch for CUDA scores, numpy otherwise. The two backends agree in
distribution, not draw by draw. Same ``rng`` ⇒ same mask (per backend).

>>> import torch
>>> scores = {"a": torch.tensor([3.0, 1.0, 2.0, 2.0]), "b": torch.ones(4)}
>>> m = make_mask(scores, 0.5, "global")
>>> int(sum(v.sum() for v in m.values()))
4
>>> m = make_mask(scores, 0.5, "randomized", rng=0, backend="torch")
>>> [int(v.sum()) for v in m.values()]
[3, 1]
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from sketchbound.dnn.pruning import bridge_laws as _bridge
from sketchbound.dnn.models.prunable import prunable_parameters
from sketchbound.dnn.pruning.samplers import (BACKENDS, numpy_rng, resolve_backend, sample_algorithm1,
                                              sample_without_replacement, torch_rng)
from sketchbound.sampling import check_positive_int

__all__ = [
    "MASK_MODES",
    "BRIDGE_MODES",
    "KEEP_RULES",
    "BACKENDS",
    "target_count",
    "keep_counts",
    "make_mask",
    "kept_count",
    "mask_summary",
    "sample_without_replacement",
    "sample_algorithm1",
]

MASK_MODES = ("global", "layerwise", "randomized", "layerwise_randomized", "algorithm1", "shuffled")
#: the bridge's laws in the §7 procedure (they take ``beta`` / ``w0`` and ``constants``; see the docstring)
BRIDGE_MODES = ("tempered", "variance_aware")
KEEP_RULES = ("exact", "synflow")


# --------------------------------------------------------------------------------------------------
# checks and counts
# --------------------------------------------------------------------------------------------------
def _check_density(density) -> float:
    if isinstance(density, bool) or not isinstance(density, (numbers.Real, np.floating)) or not (0 < float(density) <= 1):
        raise ValueError(f"density must be a number in (0, 1] (fraction of weights kept), got {density!r}")
    return float(density)


def _exact_density(density) -> Fraction:
    """The density as the number it was written as: a float by its shortest decimal ``repr`` (``0.145``
    is 145/1000, not the binary 0.14499999999999999…), a ``Fraction`` / ``Decimal`` / integer exactly."""
    if isinstance(density, (float, np.floating)):
        return Fraction(str(density))  # numpy scalars print their own shortest decimal too
    return Fraction(density)


def target_count(density, total: int) -> int:
    """``⌊density × total + ½⌋`` (round half up), computed exactly: the number of weights every mask keeps.

    Parameters
    ----------
    density : float, Fraction or Decimal
        Fraction of weights kept, in ``(0, 1]``; a float counts as its shortest decimal (``0.145``).
    total : int
        Number of prunable weights ``N >= 1``.

    Returns
    -------
    int
        ``k`` in ``[1, total]``. In floating point ``0.145 × 100 + 0.5`` is ``14.999…``; here it is 15.

    Examples
    --------
    >>> target_count(0.05, 270896), target_count(0.145, 100)
    (13545, 15)
    """
    _check_density(density)
    check_positive_int(total, name="total", floats=False)
    k = math.floor(_exact_density(density) * int(total) + Fraction(1, 2))
    if k < 1:
        raise ValueError(f"density={density!r} keeps round({density} × {total}) = 0 weights; use a larger density")
    return min(k, int(total))


def _check_scores(scores) -> dict[str, torch.Tensor]:
    if not isinstance(scores, dict) or not scores:
        raise ValueError(f"scores must be a non-empty dict {{parameter name: tensor}}, got {type(scores).__name__}")
    device = None
    for name, t in scores.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"scores[{name!r}] must be a torch.Tensor, got {type(t).__name__}")
        if t.numel() == 0:
            raise ValueError(f"scores[{name!r}] is empty")
        if not torch.isfinite(t).all():
            raise ValueError(f"scores[{name!r}] contains NaN or inf; scores must be finite")
        if device is None:
            device = t.device
        elif t.device != device:
            raise ValueError(f"all scores must be on one device; {name!r} is on {t.device}, others on {device}")
    return scores


def _flat(scores: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).to(torch.float64) for t in scores.values()])


def split_counts(idx: torch.Tensor, sizes: list[int]) -> list[int]:
    bounds = torch.tensor(np.cumsum(sizes), device=idx.device)
    layer = torch.bucketize(idx, bounds, right=True)
    return torch.bincount(layer, minlength=len(sizes)).tolist()


def _check_floor(min_per_layer) -> int:
    if isinstance(min_per_layer, bool) or not isinstance(min_per_layer, (numbers.Integral, np.integer)) or min_per_layer < 0:
        raise ValueError(f"min_per_layer must be a non-negative integer, got {min_per_layer!r}")
    return int(min_per_layer)


def _global_priority(scores: dict[str, torch.Tensor], floor: int, k: int) -> torch.Tensor:
    """Flat float64 scores where each layer's ``floor`` best entries are raised to +inf (reserved)."""
    flat = _flat(scores)
    if floor:
        sizes = [t.numel() for t in scores.values()]
        need = sum(min(floor, n) for n in sizes)
        if need > k:
            raise ValueError(f"min_per_layer={floor} needs {need} weights but density keeps only {k}; "
                             f"lower min_per_layer or raise density")
        pos = 0
        for n in sizes:
            seg = flat[pos: pos + n]
            seg[torch.topk(seg, min(floor, n), sorted=False).indices] = math.inf
            pos += n
    return flat


def _check_keep_rule(keep_rule, floor: int) -> str:
    if keep_rule not in KEEP_RULES:
        raise ValueError(f"keep_rule must be one of {KEEP_RULES}, got {keep_rule!r}")
    if keep_rule == "synflow" and floor:
        raise ValueError(f"keep_rule='synflow' is Synaptic-Flow's unguarded threshold; it needs min_per_layer=0, "
                         f"got {floor}")
    return keep_rule


def _synflow_keep(scores: dict[str, torch.Tensor], density: float) -> torch.Tensor:
    """Flat bool kept set of Synaptic-Flow's ``Pruner._global_mask(sparsity=density)`` (Pruners/pruners.py):
    ``k = int((1 - density)·d)``; if ``k >= 1``: ``t = kthvalue(scores, k)``, keep ``score > t``."""
    flat = _flat(scores)
    k = int((1.0 - float(density)) * flat.numel())
    if k < 1:
        return torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
    t = torch.kthvalue(flat.cpu(), k).values.to(flat.device)  # kthvalue: CPU for any device (deterministic)
    return flat > t


def _guard_report(scores: dict[str, torch.Tensor], counts: dict[str, int], unguarded: dict[str, int]) -> dict:
    forced = {n: counts[n] - unguarded[n] for n in scores if counts[n] > unguarded[n]}
    return {"guard_fired": bool(forced), "guard_kept": int(sum(forced.values())), "guard_layers": forced}


def keep_counts(scores, density, scope: str = "global", *, min_per_layer: int = 1,
                keep_rule: str = "exact") -> dict[str, int]:
    """Per-layer keep counts ``k_l`` that sum to exactly ``round(density × d)``.

    ``scope="global"``: what a global hard threshold keeps in each layer (§7, step 2; ties broken by
    ``topk``, never by ``<=``). ``scope="layerwise"``: ``density × n_l`` per layer, rounded by largest
    remainders (Appendix A). ``min_per_layer`` (default 1): every layer keeps at least that many
    (its best-scored ones), taken out of the same total — so no layer collapses (Synaptic-Flow
    issue #7); ``0`` gives the unguarded threshold. ``keep_rule="synflow"`` (global scope only):
    the counts of Synaptic-Flow's threshold (see the module docstring; they sum to its kept count).

    Parameters
    ----------
    scores : dict of str to torch.Tensor
        ``{parameter name: score tensor}`` (finite, one device), from
        :func:`~sketchbound.dnn.pruning.scores.compute_scores`.
    density : float
        Fraction of weights kept, in ``(0, 1]`` (:func:`target_count`).
    scope : {"global", "layerwise"}, default "global"
        As above.
    min_per_layer : int, default 1
        Weights every layer keeps at least.
    keep_rule : {"exact", "synflow"}, default "exact"
        The global threshold's rule.

    Returns
    -------
    dict of str to int
        ``k_l`` per layer, in the order of ``scores``.

    Examples
    --------
    >>> import torch
    >>> keep_counts({"a": torch.arange(6.0), "b": torch.zeros(4)}, 0.5, min_per_layer=0)
    {'a': 5, 'b': 0}
    >>> keep_counts({"a": torch.arange(6.0), "b": torch.zeros(4)}, 0.5)
    {'a': 4, 'b': 1}
    >>> keep_counts({"a": torch.arange(6.0), "b": torch.zeros(4)}, 0.5, "layerwise")
    {'a': 3, 'b': 2}
    """
    scores = _check_scores(scores)
    floor = _check_floor(min_per_layer)
    _check_keep_rule(keep_rule, floor)
    sizes = [t.numel() for t in scores.values()]
    k = target_count(density, sum(sizes))
    if keep_rule == "synflow":
        if scope != "global":
            raise ValueError(f"keep_rule='synflow' is a global threshold; scope must be 'global', got {scope!r}")
        keep = _synflow_keep(scores, density)
        return dict(zip(scores, split_counts(torch.nonzero(keep).flatten(), sizes)))
    if scope == "global":
        idx = torch.topk(_global_priority(scores, floor, k), k, sorted=False).indices
        return dict(zip(scores, split_counts(idx, sizes)))
    if scope == "layerwise":
        exact = [float(density) * n for n in sizes]
        base = [int(math.floor(e)) for e in exact]
        rem = k - sum(base)
        order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - base[i]), i))
        for i in order[:rem]:
            base[i] += 1
        lows = [min(floor, n) for n in sizes]
        if sum(lows) > k:
            raise ValueError(f"min_per_layer={floor} needs {sum(lows)} weights but density keeps only {k}")
        deficit = sum(max(0, lo - b) for lo, b in zip(lows, base))
        base = [max(lo, b) for lo, b in zip(lows, base)]
        while deficit:  # take the floor's weights from the layers with the largest surplus
            i = max(range(len(sizes)), key=lambda j: (base[j] - lows[j], -j))
            base[i] -= 1
            deficit -= 1
        return dict(zip(scores, base))
    raise ValueError(f"scope must be 'global' or 'layerwise', got {scope!r}")


# --------------------------------------------------------------------------------------------------
# masks for a network
# --------------------------------------------------------------------------------------------------
def _sampling_weights(scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    lo = min(float(t.min()) for t in scores.values())
    shift = lo if lo < 0 else 0.0
    return {n: t.detach().to(torch.float64) - shift for n, t in scores.items()}


def make_mask(scores, density, mode: str = "global", *, rng=None, backend: str = "auto",
              min_per_layer: int = 1, keep_rule: str = "exact", info: dict | None = None, beta=1.0,
              w0: dict | None = None, constants: dict | None = None) -> dict[str, torch.Tensor]:
    """Masks ``{name: float32 tensor}`` (same shapes/device as ``scores``) keeping ``round(density × d)`` weights.

    See the module docstring for ``mode`` (:data:`MASK_MODES`) and ``backend``. ``rng``: ``None``, an
    int seed, a ``numpy.random.Generator`` or a ``torch.Generator`` (used by the randomized modes
    only). Binary modes return 0/1 masks; ``"algorithm1"`` returns ``c / (s p)``. ``min_per_layer``
    (binary modes; default 1) guarantees that many kept weights in every layer out of the same exact
    total (see :func:`keep_counts`); pass 0 for the unguarded published thresholds. ``keep_rule``:
    ``"exact"`` or ``"synflow"`` (Synaptic-Flow's threshold, modes ``"global"``/``"randomized"``/
    ``"shuffled"``; see the module docstring). ``info``: a dict to fill with the guard's report.
    ``beta`` (mode ``"tempered"``), ``w0`` (initial weights ``{name: tensor}``) and ``constants``
    (``{name: (c, sigma)}``, mode ``"variance_aware"``): the bridge's laws (module docstring).

    Parameters
    ----------
    scores : dict of str to torch.Tensor
        ``{parameter name: score tensor}`` (finite, one device), from
        :func:`~sketchbound.dnn.pruning.scores.compute_scores`.
    density : float
        Fraction of weights kept, in ``(0, 1]`` (:func:`target_count`).
    mode : str, default "global"
        One of :data:`MASK_MODES` or :data:`BRIDGE_MODES`.
    rng : None, int, numpy.random.Generator or torch.Generator, optional
        The randomness of the randomized modes; same ``rng`` ⇒ same mask (per backend).
    backend : {"auto", "numpy", "torch"}, default "auto"
        The sampler (module docstring).
    min_per_layer : int, default 1
        Weights every layer keeps at least (binary modes).
    keep_rule : {"exact", "synflow"}, default "exact"
        The global threshold's rule.
    info : dict, optional
        Filled with the guard's report and the kept count.
    beta : float, default 1.0
        Tempering exponent of mode ``"tempered"``, in ``[0, ∞]``.
    w0 : dict of str to torch.Tensor, optional
        Initial weights (mode ``"variance_aware"``).
    constants : dict of str to (float, float), optional
        ``(c, sigma)`` per layer (mode ``"variance_aware"``).

    Returns
    -------
    dict of str to torch.Tensor
        float32 masks of the scores' shapes and device (0/1 except ``"algorithm1"``).

    Examples
    --------
    >>> import torch
    >>> m = make_mask({"w": torch.ones(10)}, 0.3, "global")      # ties: still exactly 3
    >>> int(m["w"].sum())
    3
    """
    scores = _check_scores(scores)
    if mode not in MASK_MODES + BRIDGE_MODES:
        raise ValueError(f"mode must be one of {MASK_MODES + BRIDGE_MODES}, got {mode!r}")
    names = list(scores)
    sizes = [scores[n].numel() for n in names]
    device = scores[names[0]].device
    be = resolve_backend(backend, device)
    k = target_count(density, sum(sizes))
    floor = _check_floor(min_per_layer)
    _check_keep_rule(keep_rule, floor)
    if mode == "variance_aware":
        _check_variance_inputs(scores, w0, constants)
    if keep_rule != "exact" and mode not in ("global", "randomized", "shuffled", "tempered", "variance_aware"):
        raise ValueError(f"keep_rule={keep_rule!r} applies to the global-count modes (global, randomized, shuffled), "
                         f"not to mode {mode!r}")
    if info is not None:
        if not isinstance(info, dict):
            raise ValueError(f"info must be a dict to fill or None, got {type(info).__name__}")
        info.update(keep_rule=keep_rule, min_per_layer=floor, guard_fired=False, guard_kept=0, guard_layers={})
        if floor and mode != "algorithm1":
            scope = "layerwise" if mode.startswith("layerwise") else "global"
            info.update(_guard_report(scores, keep_counts(scores, density, scope, min_per_layer=floor),
                                      keep_counts(scores, density, scope, min_per_layer=0)))
    law = {"beta": _bridge.check_beta(beta), "w0": w0, "constants": constants}
    out = _make_mask(scores, density, mode, rng, be, floor, keep_rule, names, sizes, device, k, law)
    if info is not None:
        info["kept"] = kept_count(out)
    return out


def _check_variance_inputs(scores, w0, constants) -> None:
    for what, d in (("w0", w0), ("constants", constants)):
        if not isinstance(d, dict):
            raise ValueError(f"mode 'variance_aware' needs {what} as a dict {{layer name: ...}}, got {type(d).__name__}")
        missing = [n for n in scores if n not in d]
        if missing:
            raise ValueError(f"{what} has no entry for layer(s) {missing[:5]}; accepted: one per scored layer")


def _make_mask(scores, density, mode, rng, be, floor, keep_rule, names, sizes, device, k, law=None):
    min_per_layer = floor
    if mode == "global" and keep_rule == "synflow":
        return _unflatten(_synflow_keep(scores, density).to(torch.float32), scores)
    if mode == "global":
        flat = torch.zeros(sum(sizes), dtype=torch.float32, device=device)
        flat[torch.topk(_global_priority(scores, floor, k), k, sorted=False).indices] = 1.0
        return _unflatten(flat, scores)
    if mode == "layerwise":
        counts = keep_counts(scores, density, "layerwise", min_per_layer=min_per_layer)
        out = {}
        for n in names:
            m = torch.zeros(sizes[names.index(n)], dtype=torch.float32, device=device)
            if counts[n]:
                m[torch.topk(scores[n].detach().reshape(-1).to(torch.float64), counts[n], sorted=False).indices] = 1.0
            out[n] = m.reshape(scores[n].shape)
        return out

    weights = _sampling_weights(scores)
    gen = numpy_rng(rng) if be == "numpy" else torch_rng(rng, device)
    if mode == "algorithm1":
        flat_w = torch.cat([weights[n].reshape(-1) for n in names])
        m = sample_algorithm1(flat_w, k, rng=gen, backend=be)
        return _unflatten(m.to(torch.float32), scores)
    counts = keep_counts(scores, density, "layerwise" if mode == "layerwise_randomized" else "global",
                         min_per_layer=min_per_layer, keep_rule=keep_rule)
    if mode == "shuffled":  # the per-layer shuffle control: the threshold's per-layer counts, uniform inside a layer
        weights = {n: torch.ones_like(weights[n]) for n in names}
    elif mode == "tempered":  # the bridge's axis: weights score**beta; beta = inf keeps each layer's top k_l
        weights = {n: _bridge.tempered_weights(weights[n], law["beta"]) for n in names}
        if weights[names[0]] is None:
            return {n: _top_mask(scores[n], counts[n]) for n in names}
    elif mode == "variance_aware":
        weights = {n: _bridge.variance_aware_weights(weights[n], law["w0"][n], *law["constants"][n]) for n in names}
    return {n: sample_without_replacement(weights[n], counts[n], rng=gen, backend=be).to(torch.float32) for n in names}


def _top_mask(score: torch.Tensor, k: int) -> torch.Tensor:
    m = torch.zeros(score.numel(), dtype=torch.float32, device=score.device)
    if k:
        m[torch.topk(score.detach().reshape(-1).to(torch.float64), k, sorted=False).indices] = 1.0
    return m.reshape(score.shape)


def _unflatten(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, pos = {}, 0
    for n, t in like.items():
        out[n] = flat[pos: pos + t.numel()].reshape(t.shape).clone()
        pos += t.numel()
    return out


def kept_count(masks: dict[str, torch.Tensor]) -> int:
    """Number of non-zero mask entries (for ``"algorithm1"``: distinct drawn indices).

    Parameters
    ----------
    masks : dict of str to torch.Tensor
        Masks from :func:`make_mask`.

    Returns
    -------
    int
        The number of kept weights.

    Examples
    --------
    >>> import torch
    >>> kept_count({"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([2.5])})
    2
    """
    return int(sum(int((m != 0).sum()) for m in masks.values()))


def check_masks_for(model: nn.Module, masks) -> list[tuple[str, torch.Tensor]]:
    if not isinstance(masks, dict):
        raise ValueError(f"masks must be a dict {{parameter name: tensor}}, got {type(masks).__name__}")
    params = prunable_parameters(model)
    known = {n for n, _ in params}
    extra = set(masks) - known
    if extra:
        raise ValueError(f"masks has names that are not prunable parameters of the model: {sorted(extra)[:5]}")
    for n, p in params:
        if n in masks and tuple(masks[n].shape) != tuple(p.shape):
            raise ValueError(f"mask {n!r} has shape {tuple(masks[n].shape)}, parameter has {tuple(p.shape)}")
    return params


def mask_summary(model: nn.Module, masks: dict[str, torch.Tensor]) -> list[dict]:
    """Per-layer rows ``{layer, shape, total, kept, density, mean_abs_kept}`` (weights of ``model`` as they are).

    ``mean_abs_kept`` is the mean ``|w|`` over kept entries, the quantity of Fig. 1/3; ``None`` for a layer with no
    kept entry (no mean exists, and a NaN would pass silently into a table or a JSON file).

    Parameters
    ----------
    model : nn.Module
        The network whose prunable weights the masks cover.
    masks : dict of str to torch.Tensor
        Masks from :func:`make_mask` (layers without one count as dense).

    Returns
    -------
    list of dict
        One row per prunable weight, in definition order.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> row = mask_summary(net, {"0.weight": torch.tensor([[1.0, 0.0], [0.0, 0.0]])})[0]
    >>> row["layer"], row["kept"], row["density"]
    ('0.weight', 1, 0.25)
    >>> print(mask_summary(net, {"0.weight": torch.zeros(2, 2)})[0]["mean_abs_kept"])
    None
    """
    rows = []
    for n, p in check_masks_for(model, masks):
        m = masks.get(n)
        keep = torch.ones_like(p, dtype=torch.bool) if m is None else (m != 0).to(p.device)
        kept = int(keep.sum())
        mean_abs = float(p.detach().abs()[keep].double().mean()) if kept else None
        rows.append({"layer": n, "shape": list(p.shape), "total": p.numel(), "kept": kept,
                     "density": kept / p.numel(), "mean_abs_kept": mean_abs})
    return rows
