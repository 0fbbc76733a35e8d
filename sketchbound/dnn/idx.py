"""A tiny reader of the IDX format (MNIST / Fashion-MNIST), plain or gzip-compressed.

IDX: 2 zero bytes, a type byte (0x08 = uint8, …), the number of dimensions, then big-endian int32
sizes and the data. Used by the ``prune`` CLI; never downloads anything.

>>> import gzip, io, numpy as np, tempfile, os
>>> raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, "x-idx1-ubyte.gz")
...     with gzip.open(path, "wb") as f: _ = f.write(raw)
...     read_idx(path).tolist()
[7, 8, 9]
"""
from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["read_idx", "find_idx_files", "load_idx_dataset", "IDX_FILES", "DEFAULT_ROOTS"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

#: the standard file names (each may also end in ``.gz``)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: where the Debian packages ``dataset-fashion-mnist`` / ``dataset-mnist`` put the files
DEFAULT_ROOTS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw, detected by its magic bytes) into a numpy array."""
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(data) - offset < count * dtype.itemsize:
        raise ValueError(f"{path} is truncated: expected {count} values of {dtype} after the header")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def find_idx_files(root, split: str = "train") -> tuple[str, str]:
    """Paths of the images/labels files of ``split`` under ``root`` (``.gz`` or raw).

    Raises ``FileNotFoundError`` naming the expected files when they are absent.
    """
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    found = []
    for base in IDX_FILES[split]:
        for cand in (base + ".gz", base):
            p = os.path.join(root, cand)
            if os.path.isfile(p):
                found.append(p)
                break
        else:
            raise FileNotFoundError(
                f"dataset files not found in {root}: expected {' and '.join(f + '[.gz]' for f in IDX_FILES[split])} "
                f"(Fashion-MNIST: apt-get install dataset-fashion-mnist; nothing is downloaded)")
    return found[0], found[1]


def load_idx_dataset(root, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, H, W), labels int64 (N,))`` of an MNIST-like dataset in IDX files."""
    img_path, lab_path = find_idx_files(root, split)
    x, y = read_idx(img_path), read_idx(lab_path)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{img_path} / {lab_path}: expected images (N, H, W) and N labels, got {x.shape} and {y.shape}")
    return x, y.astype(np.int64)
