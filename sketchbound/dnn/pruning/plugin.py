"""``torch.nn.utils.prune`` plug-in: the paper's randomized mask as a ``BasePruningMethod`` (§7).

Convention: everywhere else in :mod:`sketchbound.dnn` a mask is given by its **density**, the fraction of
weights *kept* (:func:`~sketchbound.dnn.pruning.masks.make_mask`, :func:`~sketchbound.dnn.pruning.apply.apply_mask`).
Only here, because torch's prune API demands it, the argument is ``amount``, the fraction *pruned*
(``amount = 1 - density``) or an int count of pruned entries, exactly as torch's own methods.

``RandomizedSketch`` keeps ``n - round(amount · n)`` entries sampled without replacement with
probability ∝ importance score (successive sampling, the torch backend of
:mod:`sketchbound.dnn.pruning.masks`). The pruned layers take torch's form ``weight = weight_orig *
weight_mask`` (recomputed before every forward pass), so pruned weights stay exactly zero through any
training loop and optimizer, as after :func:`~sketchbound.dnn.pruning.apply.apply_mask`.

* On one tensor (``RandomizedSketch.apply(module, "weight", amount=…)`` or :func:`randomized_sketch`)
  it is the layerwise randomized mask of Appendix A.
* With ``prune.global_unstructured(params, pruning_method=RandomizedSketch, amount=…,
  importance_scores=…)`` torch hands it the concatenated scores only, so it samples ∝ score over the
  whole network. Pass ``layer_sizes=[p.numel() for p in …]`` (forwarded by ``global_unstructured``)
  or call :func:`global_randomized_sketch` to get the paper's version: per-layer counts from the
  global hard threshold, then per-layer sampling.

Composition: like torch's own methods, both compose with earlier pruning of the same tensors (their own,
``l1_unstructured``, ``global_unstructured``, ...): torch's ``PruningContainer`` hands ``compute_mask``
only the entries still unpruned, and ``amount`` is a fraction of those. So ``layer_sizes`` must count
the *unpruned* entries of each layer (``(module.<name>_mask == 1).sum()``, or ``numel`` for a tensor not
pruned yet); :func:`global_randomized_sketch` computes them. Applied iteratively it keeps, at every
step, the same per-layer counts as ``global_unstructured(..., L1Unstructured, importance_scores=|w|)``
(up to ties in the scores, e.g. among zeros after ``prune.remove``).

Sampling is ∝ the scores; signed scores are shifted by their minimum (as in :mod:`sketchbound.dnn.pruning.masks`).
Default importance: ``|weight|`` for ``apply``/the helpers below (``prune.global_unstructured``
itself defaults to the signed weights, so pass ``importance_scores`` there). ``seed`` makes it reproducible.

>>> import torch, torch.nn as nn
>>> import torch.nn.utils.prune as prune
>>> lin = nn.Linear(10, 10)
>>> _ = RandomizedSketch.apply(lin, "weight", amount=0.9, seed=0)
>>> int(lin.weight_mask.sum())
10
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.dnn.pruning.masks import split_counts, sample_without_replacement

__all__ = ["RandomizedSketch", "randomized_sketch", "global_randomized_sketch"]


class RandomizedSketch(prune.BasePruningMethod):
    """The paper's randomized mask (§7) as a ``torch.nn.utils.prune`` method (module docstring).

    Parameters
    ----------
    amount : float or int
        torch's convention: the fraction (or count) of the entries *pruned*, ``1 - density``.
    seed : int, optional
        Seed of the sampling (same seed ⇒ same mask); ``None`` draws a fresh one.
    layer_sizes : list of int, optional
        Unpruned entries per layer of the concatenated scores: per-layer counts from the global
        threshold, then per-layer sampling (``global_unstructured`` forwards it).

    Examples
    --------
    >>> import torch.nn as nn
    >>> lin = nn.Linear(4, 5)
    >>> _ = RandomizedSketch.apply(lin, "weight", amount=0.5, seed=0)
    >>> int(lin.weight_mask.sum())
    10
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount, seed=None, layer_sizes=None):
        prune._validate_pruning_amount_init(amount)
        self.amount = amount
        self.seed = seed
        if layer_sizes is not None:
            layer_sizes = [int(n) for n in layer_sizes]
            if not layer_sizes or any(n < 0 for n in layer_sizes) or not sum(layer_sizes):
                raise ValueError(f"layer_sizes must be a list of non-negative ints with a positive sum, got {layer_sizes!r}")
        self.layer_sizes = layer_sizes

    def _generator(self, device):
        g = torch.Generator(device=device)
        if self.seed is None:
            g.seed()
        else:
            g.manual_seed(int(self.seed))
        return g

    def compute_mask(self, t, default_mask):
        n = t.nelement()  # torch hands us only the entries not pruned before (PruningContainer slices)
        prune._validate_pruning_amount(self.amount, n)
        keep = n - prune._compute_nparams_toprune(self.amount, n)
        scores = t.detach().reshape(-1).to(torch.float64)
        if not torch.isfinite(scores).all():
            raise ValueError("RandomizedSketch needs finite importance scores")
        if (scores < 0).any():  # signed scores (GraSP): shift by the minimum, as dnn.masks does
            scores = scores - scores.min()
        mask = default_mask.clone().reshape(-1)
        g = self._generator(t.device)
        if self.layer_sizes is None:
            keep_flat = sample_without_replacement(scores, keep, rng=g, backend="torch")
        else:
            if sum(self.layer_sizes) != n:
                raise ValueError(f"layer_sizes sum to {sum(self.layer_sizes)} but the scores have {n} entries: "
                                 "after earlier pruning torch passes only the unpruned entries, so layer_sizes "
                                 "must count those per layer (global_randomized_sketch does)")
            idx = torch.topk(scores, keep, sorted=False).indices if keep else torch.empty(0, dtype=torch.long)
            counts = split_counts(idx, self.layer_sizes)
            parts, pos = [], 0
            for size, k in zip(self.layer_sizes, counts):
                if size == 0:  # a layer pruned entirely before: nothing of it is left to keep
                    parts.append(torch.zeros(0, dtype=torch.bool, device=scores.device))
                    continue
                parts.append(sample_without_replacement(scores[pos: pos + size], k, rng=g, backend="torch"))
                pos += size
            keep_flat = torch.cat(parts)
        mask[~keep_flat] = 0
        return mask.reshape(default_mask.shape)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None, seed=None):
        if importance_scores is None:
            importance_scores = getattr(module, name).detach().abs()
        return super().apply(module, name, amount=amount, importance_scores=importance_scores, seed=seed)


def randomized_sketch(module: nn.Module, name: str, amount, importance_scores=None, seed=None) -> nn.Module:
    """Functional form (like ``prune.l1_unstructured``); default importance ``|module.name|``.

    Parameters
    ----------
    module : nn.Module
        The module holding the tensor.
    name : str
        The parameter's name, e.g. ``"weight"``.
    amount : float or int
        torch's convention, the fraction (or count) of the entries *pruned* (``1 - density``).
    importance_scores : torch.Tensor, optional
        Scores of the parameter's shape; default ``|module.name|``.
    seed : int, optional
        Seed of the sampling (same seed ⇒ same mask).

    Returns
    -------
    nn.Module
        ``module``, with ``<name>_orig`` and ``<name>_mask`` (torch's form).

    Examples
    --------
    >>> import torch.nn as nn
    >>> lin = randomized_sketch(nn.Linear(10, 3), "weight", amount=0.8, seed=0)
    >>> int(lin.weight_mask.sum())
    6
    """
    if importance_scores is None:
        importance_scores = getattr(module, name).detach().abs()
    RandomizedSketch.apply(module, name, amount=amount, importance_scores=importance_scores, seed=seed)
    return module


def global_randomized_sketch(parameters, amount, importance_scores=None, seed=None, *, scores=None) -> None:
    """The paper's randomized mask through ``prune.global_unstructured`` (per-layer counts of the global threshold).

    Scores by ``|weight|`` (magnitude) unless told otherwise: pass ``scores=`` from
    :func:`~sketchbound.dnn.pruning.scores.compute_scores` (SynFlow, SNIP, ...) or torch's ``importance_scores``.

    Parameters
    ----------
    parameters : nn.Module or iterable of (module, name)
        A model (all its prunable weights, :func:`~sketchbound.dnn.models.prunable.prunable_modules`) or
        torch's list of ``(module, "weight")`` pairs.
    amount : float or int
        torch's convention: the fraction of the entries not pruned before that is *pruned*
        (``1 - density``), or a count; composes with earlier pruning of these tensors (module docstring).
    importance_scores : dict, optional
        torch's ``{(module, name): tensor}``; default ``|weight|``.
    seed : int, optional
        Seed of the sampling (same seed ⇒ same mask).
    scores : dict, optional
        ``{"<layer>.weight": tensor}`` as :func:`~sketchbound.dnn.pruning.scores.compute_scores` returns
        it; needs ``parameters`` to be the model the names refer to.

    Returns
    -------
    None
        Each layer gets ``weight_orig`` and ``weight_mask`` (torch's form).

    Examples
    --------
    >>> import torch.nn as nn
    >>> from sketchbound.dnn import compute_scores
    >>> net = nn.Sequential(nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 2))
    >>> global_randomized_sketch(net, amount=0.9, seed=0, scores=compute_scores("magnitude", net))
    >>> int(net[0].weight_mask.sum() + net[2].weight_mask.sum())   # 10% of 220 kept
    22
    """
    if scores is not None and importance_scores is not None:
        raise ValueError("pass scores (from compute_scores) or importance_scores (torch's), not both")
    if isinstance(parameters, nn.Module):
        named = [(f"{n}.weight" if n else "weight", m) for n, m in prunable_modules(parameters)]
        parameters = [(m, "weight") for _, m in named]
        if scores is not None:
            missing = [n for n, _ in named if n not in scores]
            if missing or set(scores) - {n for n, _ in named}:
                raise ValueError(f"scores must have one entry per prunable weight of the model ({len(named)}), keyed "
                                 f"as compute_scores keys them; missing {missing[:3]}, unknown "
                                 f"{sorted(set(scores) - {n for n, _ in named})[:3]}")
            importance_scores = {(m, "weight"): scores[n].detach()
                                 for n, m in named}
    elif scores is not None:
        raise ValueError("scores (keyed by parameter name, from compute_scores) needs parameters to be the model; "
                         f"got {type(parameters).__name__}: pass the nn.Module, or importance_scores keyed by (module, name)")
    parameters = list(parameters)
    if importance_scores is None:
        importance_scores = {(m, n): getattr(m, n).detach().abs() for m, n in parameters}
    sizes = []
    for m, n in parameters:  # torch's PruningContainer slices the scores to the entries with mask == 1
        mask = getattr(m, n + "_mask", None)
        sizes.append(getattr(m, n).numel() if mask is None else int((mask == 1).sum()))

    prune.global_unstructured(parameters, pruning_method=RandomizedSketch, importance_scores=importance_scores,
                              amount=amount, seed=seed, layer_sizes=sizes)
