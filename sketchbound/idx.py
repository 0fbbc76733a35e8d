"""IDX files (MNIST / Fashion-MNIST): the four files of a split, checked together (torch-free; the dnn stages and the bridge share it).

The reader itself, :func:`read_idx` (plain or gzip-compressed, size limited by the header, every
malformed file a ``ValueError`` naming it), is the torch-free one of :mod:`sketchbound.data`, which the
data check ``python -m sketchbound.data`` uses too; it is re-exported here. Never downloads.

>>> import gzip, numpy as np, tempfile, os
>>> raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, "x-idx1-ubyte.gz")
...     with gzip.open(path, "wb") as f: _ = f.write(raw)
...     read_idx(path).tolist()
[7, 8, 9]
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sketchbound.data import check_idx_shapes, find_idx_dir, idx_paths, read_idx

__all__ = ["read_idx", "find_idx_dir", "read_idx_split", "IDX_FILES"]

#: the standard file names (each may also end in ``.gz``)
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx_split(d: str | os.PathLike, num_classes: int = 10):
    """The four IDX files of folder ``d`` read and checked for consistency.

    Parameters
    ----------
    d : str or PathLike
        The folder holding ``train-images-idx3-ubyte`` … ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``).
    num_classes : int, optional
        Labels must lie in ``[0, num_classes)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(x_train, y_train, x_test, y_test)``: images uint8 ``(N, H, W)``, labels int64.

    Examples
    --------
    >>> import tempfile
    >>> def idx(shape, data):  # a raw uint8 IDX file
    ...     return bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape) + bytes(data)
    >>> with tempfile.TemporaryDirectory() as t:
    ...     for split in ("train", "t10k"):
    ...         _ = (Path(t) / f"{split}-images-idx3-ubyte").write_bytes(idx((2, 1, 1), [0, 255]))
    ...         _ = (Path(t) / f"{split}-labels-idx1-ubyte").write_bytes(idx((2,), [3, 1]))
    ...     x, y, _, _ = read_idx_split(t)
    >>> x.shape, y.tolist()
    ((2, 1, 1), [3, 1])
    """
    d = Path(d)
    found = idx_paths(d)
    if found is None:
        missing = [s + "[.gz]" for s in IDX_FILES.values() if not ((d / s).is_file() or (d / (s + ".gz")).is_file())]
        raise FileNotFoundError(f"{d}: missing {', '.join(missing)}")
    paths = {k: found[s] for k, s in IDX_FILES.items()}
    arr = {k: read_idx(p) for k, p in paths.items()}
    check_idx_shapes(d, found, {found_stem: (arr[k].dtype, arr[k].shape)
                                for k, found_stem in IDX_FILES.items()})
    for k in ("train_y", "test_y"):
        y = arr[k]
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"{paths[k]}: labels must be in [0, {num_classes}), found {int(y.min())}..{int(y.max())}")
    return arr["train_x"], arr["train_y"].astype(np.int64), arr["test_x"], arr["test_y"].astype(np.int64)
