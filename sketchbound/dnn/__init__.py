"""sketchbound.dnn — pruning at initialization in PyTorch (paper §5, §7, Appendix A). Needs ``torch``.

Flow: ``models.get_model`` → ``scores.compute_scores(method, model, batch_source, ...)`` →
``masks.make_mask(scores, density, mode, rng=...)`` → ``masks.apply_mask(model, masks)``.
Which parameters are prunable is decided by :func:`prunable.prunable_parameters` only.

>>> from sketchbound.dnn import get_model, compute_scores, make_mask, apply_mask
>>> net = get_model("resnet20", 3, 10, 8, width=0.25, seed=0)
>>> m = make_mask(compute_scores("magnitude", net), 0.1, "randomized", rng=0)
>>> _ = apply_mask(net, m)
"""
from sketchbound.dnn.pruning.inputs import INPUT_KINDS, as_batch_source, make_input_source
from sketchbound.dnn.pruning.masks import MASK_MODES, apply_mask, keep_counts, kept_count, make_mask, mask_summary, target_count
from sketchbound.dnn.models import MODEL_NAMES, get_model
from sketchbound.dnn.pruning.plugin import RandomizedSketch, global_randomized_sketch, randomized_sketch
from sketchbound.dnn.models.prunable import count_prunable, prunable_parameters
from sketchbound.dnn.pruning.scores import METHODS, compute_scores

__all__ = [
    "INPUT_KINDS", "MASK_MODES", "METHODS", "MODEL_NAMES", "RandomizedSketch", "apply_mask", "as_batch_source",
    "compute_scores", "count_prunable", "get_model", "global_randomized_sketch", "keep_counts", "kept_count",
    "make_input_source", "make_mask", "mask_summary", "prunable_parameters", "randomized_sketch", "target_count",
]
