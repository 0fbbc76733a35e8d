"""CIFAR's python pickles, read safely (private): a restricted unpickler that builds only numpy arrays, lists,
bytes and dicts, the folder layout and the checks of each batch. :mod:`sketchbound.dnn.data.datasets` loads
CIFAR-10/100 with :func:`find_cifar_dir` and :func:`read_cifar_arrays`."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

import numpy as np

from sketchbound.data import candidate_roots, missing_error

__all__ = ["find_cifar_dir", "read_cifar_arrays"]


#: the only globals a CIFAR python batch may name: numpy's array reconstruction (old and new module
#: names, pickle protocols 2–5), its dtype, and the harmless builtin containers; anything else (e.g.
#: ``os.system`` in a crafted batch) is refused before it could be called
_CIFAR_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("builtins", "bytes"), ("builtins", "bytearray"), ("builtins", "list"), ("builtins", "dict"),
    ("builtins", "tuple"), ("__builtin__", "bytes"), ("__builtin__", "list"), ("__builtin__", "dict"),
})


class _CifarUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`_CIFAR_GLOBALS`, so reading a batch never
    runs code from it; ``persistent_load`` is refused too."""

    def __init__(self, f, path: Path):
        super().__init__(f, encoding="bytes")
        self._path = path

    def find_class(self, module, name):
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise ValueError(f"{self._path}: refused, it names {module}.{name}, which a CIFAR batch never needs (a "
                         f"crafted or foreign pickle; nothing in it was run); accepted: numpy arrays, lists, "
                         f"bytes and dicts")

    def persistent_load(self, pid):
        raise ValueError(f"{self._path}: refused, it uses persistent ids, which a CIFAR batch never has")


def _unpickle(path: Path) -> dict:
    """One CIFAR batch through :class:`_CifarUnpickler`: ``ValueError`` naming ``path`` when it is not
    such a batch (a refused global, truncated or not a pickle, not a dict)."""
    try:
        with open(path, "rb") as f:
            out = _CifarUnpickler(f, path).load()
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"{path}: not a readable CIFAR batch ({' '.join(str(e).split())[:200]})") from None
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError, MemoryError) as e:
        raise ValueError(f"{path}: not a readable CIFAR batch ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]})") from None
    if not isinstance(out, dict):
        raise ValueError(f"{path}: not a CIFAR batch (a pickled {type(out).__name__}, expected a dict)")
    return out


def find_cifar_dir(name: str, root, folder: str, files: Sequence[str]) -> Path:
    roots = candidate_roots(name, root)
    for r in roots:
        for d in (r / folder, r):
            if all((d / f).is_file() for f in files):
                return d
    raise missing_error(name, roots, f"{folder}/{{{','.join(files)}}} (the standard python pickles)")


def read_cifar_arrays(d: Path, files: Sequence[str], label_key: bytes, num_classes: int):
    xs, ys = [], []
    for f in files:
        entry = _unpickle(d / f)
        if b"data" not in entry or label_key not in entry:
            raise ValueError(f"{d / f}: expected keys b'data' and {label_key!r}, got {sorted(entry)}")
        x, y = entry[b"data"], entry[label_key]
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
            what = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{d / f}: b'data' must be a uint8 array of shape (N, 3072), got a {what}")
        if not isinstance(y, (list, np.ndarray)) or len(y) != len(x) or \
                not all(isinstance(v, (int, np.integer)) for v in (y.tolist() if isinstance(y, np.ndarray) else y)):
            raise ValueError(f"{d / f}: {label_key!r} must be {len(x)} integer labels (one per row of b'data')")
        y = np.asarray(y, dtype=np.int64)
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{d / f}: {label_key!r} must lie in [0, {num_classes}), got values in "
                             f"[{y.min()}, {y.max()}]")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)
