"""sketchbound.dnn — pruning at initialization in PyTorch (paper §5, §7, Appendix A). Needs ``torch``.

Flow: ``models.get_model`` → ``scores.compute_scores(method, model, batch_source, ...)`` →
``masks.make_mask(scores, density, mode, rng=...)`` → ``apply.apply_mask(model, masks)`` (pruned weights stay
zero in any training loop) → ``training.fit.fit(model, data, epochs)`` (§7's schedule, scaled).
Which parameters are prunable is decided by :func:`prunable.prunable_parameters` only.

>>> from sketchbound.dnn import get_model, compute_scores, make_mask, apply_mask
>>> net = get_model("resnet20", 3, 10, 8, width=0.25, seed=0)
>>> m = make_mask(compute_scores("magnitude", net), 0.1, "randomized", rng=0, backend="torch")
>>> _ = apply_mask(net, m)

Importing ``sketchbound.dnn`` itself needs no torch (the names above load on first use), so the CLIs
``python -m sketchbound.dnn.<run|table|prune|bench_train|deep_theory>`` can say in one line (exit 2)
that torch is missing: ``pip install "sketchbound[dnn]"``.
"""
import importlib as _importlib

_WHERE = {
    "INPUT_KINDS": "pruning.inputs", "as_batch_source": "pruning.inputs", "make_input_source": "pruning.inputs",
    "MASK_MODES": "pruning.masks", "apply_mask": "pruning.apply", "remove_masks": "pruning.apply",
    "fit": "training.fit", "keep_counts": "pruning.masks",
    "kept_count": "pruning.masks", "make_mask": "pruning.masks", "mask_summary": "pruning.masks",
    "target_count": "pruning.masks",
    "MODEL_NAMES": "models", "get_model": "models",
    "RandomizedSketch": "pruning.plugin", "global_randomized_sketch": "pruning.plugin",
    "randomized_sketch": "pruning.plugin",
    "count_prunable": "models.prunable", "prunable_parameters": "models.prunable",
    "SCORE_METHODS": "pruning.scores", "compute_scores": "pruning.scores",
}

__all__ = [
    "INPUT_KINDS", "MASK_MODES", "MODEL_NAMES", "SCORE_METHODS", "RandomizedSketch", "apply_mask", "as_batch_source",
    "compute_scores", "count_prunable", "get_model", "global_randomized_sketch", "keep_counts", "kept_count",
    "make_input_source", "make_mask", "mask_summary", "prunable_parameters", "randomized_sketch", "target_count",
    "fit", "remove_masks",
]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'sketchbound.dnn' has no attribute {name!r}")
    try:
        mod = _importlib.import_module(f"sketchbound.dnn.{_WHERE[name]}")
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise ModuleNotFoundError('sketchbound.dnn needs PyTorch: pip install "sketchbound[dnn]"', name="torch") from None
    value = getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
