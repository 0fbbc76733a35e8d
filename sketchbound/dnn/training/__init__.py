"""Masked training: the schedule, masked SGD, the concurrent trainer (CUDA graphs) and checkpoints."""
from sketchbound.dnn.training.trainer import *  # noqa: F401,F403
from sketchbound.dnn.training.trainer import __all__  # noqa: F401
