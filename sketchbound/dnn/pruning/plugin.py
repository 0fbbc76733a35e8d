"""``torch.nn.utils.prune`` plug-in: the paper's randomized mask as a ``BasePruningMethod`` (§7).

``RandomizedSketch`` keeps ``n - round(amount · n)`` entries (``amount`` = fraction *pruned*, or an
int count, exactly as torch's own methods) sampled without replacement with probability ∝
importance score (successive sampling, the torch backend of :mod:`sketchbound.dnn.pruning.masks`).

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

from sketchbound.dnn.pruning.masks import _split_counts, sample_without_replacement

__all__ = ["RandomizedSketch", "randomized_sketch", "global_randomized_sketch"]


class RandomizedSketch(prune.BasePruningMethod):
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
            counts = _split_counts(idx, self.layer_sizes)
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
    """Functional form (like ``prune.l1_unstructured``); default importance ``|module.name|``."""
    if importance_scores is None:
        importance_scores = getattr(module, name).detach().abs()
    RandomizedSketch.apply(module, name, amount=amount, importance_scores=importance_scores, seed=seed)
    return module


def global_randomized_sketch(parameters, amount, importance_scores=None, seed=None) -> None:
    """The paper's randomized mask through ``prune.global_unstructured`` (per-layer counts of the global threshold).

    ``parameters``: iterable of ``(module, name)``; ``importance_scores``: dict ``{(module, name): tensor}``
    (default ``|weight|``). ``amount`` is a fraction (or count) of the entries not pruned before, as in
    torch; composes with any earlier pruning of these tensors (see the module docstring).
    """
    parameters = list(parameters)
    if importance_scores is None:
        importance_scores = {(m, n): getattr(m, n).detach().abs() for m, n in parameters}
    sizes = []
    for m, n in parameters:  # torch's PruningContainer slices the scores to the entries with mask == 1
        mask = getattr(m, n + "_mask", None)
        sizes.append(getattr(m, n).numel() if mask is None else int((mask == 1).sum()))

    prune.global_unstructured(parameters, pruning_method=RandomizedSketch, importance_scores=importance_scores,
                              amount=amount, seed=seed, layer_sizes=sizes)
