"""Masked training: the schedule, masked SGD, the concurrent trainer (CUDA graphs) and checkpoints.

The names of :mod:`sketchbound.dnn.training.trainer` load on first use, so that the torch-free
:mod:`sketchbound.dnn.training.options` (the commands' trainer flags) imports without torch.
"""
import importlib as _importlib

__all__ = ["Schedule", "TrainJob", "TrainResult", "ConcurrentTrainer", "train", "evaluate", "masked_sgd_step",
           "resolve_masks", "mask_density", "MASK_VALUES", "CHECKPOINT_FORMAT"]


def __getattr__(name):
    if name in __all__:
        return getattr(_importlib.import_module("sketchbound.dnn.training.trainer"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
