"""Datasets for the dnn stages: one IDX reader (MNIST / Fashion-MNIST), CIFAR pickles, image folders,
and the GPU-resident :class:`TensorDataset` with on-device augmentation. Nothing is downloaded."""
from sketchbound.dnn.data.datasets import *  # noqa: F401,F403
from sketchbound.dnn.data.datasets import __all__ as _ds_all
from sketchbound.idx import IDX_FILES, find_idx_dir, read_idx, read_idx_split

__all__ = list(_ds_all) + ["IDX_FILES", "find_idx_dir", "read_idx_split"]
