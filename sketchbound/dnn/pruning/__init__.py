"""Pruning at initialization: inputs (real, matched-normal, χ, sparse, ones) → scores (one function per
method) → masks (threshold / randomized / weighted; the torch twin of the core sampler) → the
``torch.nn.utils.prune`` plug-in. Imports only :mod:`sketchbound.dnn.models`-free code and the core."""

__all__: list[str] = []  # the API lives in the submodules
