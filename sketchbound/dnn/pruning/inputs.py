"""Inputs for pruning (paper §5, §7): real batches and three data-free distributions.

A *batch source* is any callable ``source(generator) -> (x, y)`` (``y`` may be ``None``); the score
functions of :mod:`sketchbound.dnn.pruning.scores` call it once per batch they need, so a data-free source
is redrawn at every call (e.g. at every SynFlow round, as §7 does for χ inputs).
:func:`as_batch_source` also accepts an ``(x, y)`` tuple (a fixed batch) or any iterable of
batches (a ``DataLoader``; cycled).

Kinds (:func:`make_input_source`):

* ``"real"``: random mini-batches (without replacement inside a batch) of a given dataset.
* ``"normal"``: "matched normal" — ``N(mean_c, std_c²)`` per channel ``c`` with the dataset's
  per-channel mean and std (§7, data-free pruning); labels uniform over the classes.
* ``"chi"``: χ-distributed entries, each ``‖z‖ / √n`` with ``z ~ N(0, I_n)``, ``n = 128`` —
  §5.1's SynFlow input ``sqrt(Σ_i x_i² / n)`` (the ``‖X_(i)‖`` of eq. (4) for normal data);
  ``normalize=False`` gives the plain ``‖z‖``. (SynFlow rankings are invariant to a global scale
  of the input because the ``|θ|``-network is positively homogeneous when biases are zero.)
* ``"sparse"``: for every input entry ``(c, h, w)`` one image of the batch, chosen uniformly, holds
  an ``N(0, 1)`` value and all other images hold 0 — §5.2/§7's data for SNIP, so each row ``X_(j)``
  of the ``d × n`` data matrix has exactly one non-zero.
* ``"ones"``: the all-ones input of the original SynFlow (eq. (3)).

>>> src = make_input_source("chi", shape=(1, 4, 4), batch_size=2)
>>> x, y = src(torch.Generator().manual_seed(0))
>>> tuple(x.shape), bool((x > 0).all())
((2, 1, 4, 4), True)
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np
import torch

from sketchbound.dnn.models.init import as_torch_generator  # re-exported: the one seed → torch.Generator
from sketchbound.sampling import check_positive_int

__all__ = [
    "INPUT_KINDS",
    "as_batch_source",
    "as_torch_generator",
    "channel_stats",
    "chi_input",
    "make_input_source",
    "matched_normal",
    "ones_input",
    "random_labels",
    "real_batches",
    "sparse_random",
]

INPUT_KINDS = ("real", "normal", "chi", "sparse", "ones")

BatchSource = Callable[[torch.Generator | None], tuple[torch.Tensor, torch.Tensor | None]]


def _check_batch(batch_size):
    return check_positive_int(batch_size, name="batch_size", floats=False)


def _check_shape(shape):
    try:
        shp = tuple(int(s) for s in shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of positive ints like (C, H, W), got {shape!r}") from None
    if not shp or any(s < 1 for s in shp):
        raise ValueError(f"shape must be a tuple of positive ints like (C, H, W), got {shape!r}")
    return shp


def random_labels(batch_size: int, num_classes: int, *, generator=None) -> torch.Tensor:
    """Labels uniform over ``{0, …, num_classes-1}`` (the labels of data-free batches).

    Parameters
    ----------
    batch_size : int
        Number of inputs (first dimension).
    num_classes : int
        Number of classes.
    generator : None, int or torch.Generator, optional
        The randomness (:func:`as_torch_generator`).

    Returns
    -------
    torch.Tensor
        int64 labels of shape ``(batch_size,)``.

    Examples
    --------
    >>> y = random_labels(6, 3, generator=0); tuple(y.shape), bool(((y >= 0) & (y < 3)).all())
    ((6,), True)
    """
    num_classes = check_positive_int(num_classes, name="num_classes", floats=False)
    return torch.randint(0, num_classes, (_check_batch(batch_size),), generator=as_torch_generator(generator))


def ones_input(batch_size: int, shape, *, dtype=torch.float32) -> torch.Tensor:
    """The all-ones input of SynFlow (eq. (3)).

    Parameters
    ----------
    batch_size : int
        Number of inputs (first dimension).
    shape : tuple of int
        One input's shape, e.g. ``(C, H, W)``.
    dtype : torch.dtype, default torch.float32
        Of the result.

    Returns
    -------
    torch.Tensor
        Ones of shape ``(batch_size, *shape)``.

    Examples
    --------
    >>> tuple(ones_input(2, (1, 3, 3)).shape)
    (2, 1, 3, 3)
    """
    return torch.ones((_check_batch(batch_size), *_check_shape(shape)), dtype=dtype)


def chi_input(batch_size: int, shape, *, n: int = 128, normalize: bool = True, generator=None,
              dtype=torch.float32) -> torch.Tensor:
    """χ-distributed input (§5.1, §7): each entry ``‖z‖ / √n``, ``z ~ N(0, I_n)``, ``n = 128``.

    With ``normalize=False`` the entries are ``‖z‖`` (χ with ``n`` degrees of freedom).

    Parameters
    ----------
    batch_size : int
        Number of inputs (first dimension).
    shape : tuple of int
        One input's shape, e.g. ``(C, H, W)``.
    n : int, default 128
        Dimension of the normal vector ``z``.
    normalize : bool, default True
        Divide by ``√n`` (so that ``E x² = 1``).
    generator : None, int or torch.Generator, optional
        The randomness (:func:`as_torch_generator`).
    dtype : torch.dtype, default torch.float32
        Of the result.

    Returns
    -------
    torch.Tensor
        Positive entries of shape ``(batch_size, *shape)``.

    Examples
    --------
    >>> x = chi_input(1000, (1, 2, 2), generator=0)
    >>> abs(float((x ** 2).mean()) - 1.0) < 0.05
    True
    """
    b, shp = _check_batch(batch_size), _check_shape(shape)
    n = check_positive_int(n, name="n", floats=False)  # the dimension of the normal vector
    g = as_torch_generator(generator)
    numel = b * int(np.prod(shp))
    # ‖z‖² ~ χ²_n exactly, so draw it directly (O(numel), not O(numel·n)); the numpy stream is seeded
    # from the torch generator so the same generator state gives the same input
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    out = torch.from_numpy(np.sqrt(np.random.default_rng(seed).chisquare(n, size=numel)))
    if normalize:
        out /= float(np.sqrt(n))
    return out.reshape(b, *shp).to(dtype)


def _per_channel(name, v, c):
    t = torch.as_tensor(v, dtype=torch.float64).flatten()
    if t.numel() == 1:
        t = t.expand(c)
    if t.numel() != c:
        raise ValueError(f"{name} must be a scalar or have one value per channel ({c}), got {t.numel()} values")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {v!r}")
    return t


def matched_normal(batch_size: int, shape, mean, std, *, generator=None, dtype=torch.float32) -> torch.Tensor:
    """"Matched normal" data (§7): channel ``c`` is ``N(mean[c], std[c]²)`` i.i.d. over pixels and images.

    Parameters
    ----------
    batch_size : int
        Number of inputs (first dimension).
    shape : tuple of int
        One input's shape, e.g. ``(C, H, W)``.
    mean, std : float or sequence of float
        Per-channel mean and standard deviation (a scalar applies to every channel; ``std >= 0``).
    generator : None, int or torch.Generator, optional
        The randomness (:func:`as_torch_generator`).
    dtype : torch.dtype, default torch.float32
        Of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(batch_size, *shape)``.

    Examples
    --------
    >>> x = matched_normal(4, (3, 2, 2), mean=[0, 1, 2], std=[1, 1, 1], generator=0)
    >>> tuple(x.shape)
    (4, 3, 2, 2)
    """
    b, shp = _check_batch(batch_size), _check_shape(shape)
    c = shp[0]
    mu, sd = _per_channel("mean", mean, c), _per_channel("std", std, c)
    if (sd < 0).any():
        raise ValueError(f"std must be non-negative, got {std!r}")
    z = torch.randn((b, *shp), generator=as_torch_generator(generator), dtype=torch.float64)
    view = (1, c) + (1,) * (len(shp) - 1)
    return (mu.view(view) + sd.view(view) * z).to(dtype)


def sparse_random(batch_size: int, shape, *, generator=None, std: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    """Sparse random data (§5.2, §7): per input entry, one random image of the batch carries ``N(0, std²)``.

    Every entry ``(c, h, w)`` is non-zero in exactly one image (chosen uniformly), so each row of the
    ``d × n`` data matrix has one non-zero — the case where SNIP's scores equal eq. (2).

    Parameters
    ----------
    batch_size : int
        Number of inputs (first dimension).
    shape : tuple of int
        One input's shape, e.g. ``(C, H, W)``.
    generator : None, int or torch.Generator, optional
        The randomness (:func:`as_torch_generator`).
    std : float, default 1.0
        Standard deviation of the non-zero values.
    dtype : torch.dtype, default torch.float32
        Of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(batch_size, *shape)``, one non-zero per entry across the batch.

    Examples
    --------
    >>> x = sparse_random(5, (1, 3, 3), generator=0)
    >>> (x != 0).sum(0).flatten().tolist() == [1] * 9
    True
    """
    b, shp = _check_batch(batch_size), _check_shape(shape)
    g = as_torch_generator(generator)
    d = int(np.prod(shp))
    who = torch.randint(0, b, (d,), generator=g)
    val = torch.randn(d, generator=g, dtype=torch.float64) * float(std)
    val = torch.where(val == 0, torch.full_like(val, 1e-300), val)  # keep exactly one non-zero per entry
    x = torch.zeros((b, d), dtype=torch.float64)
    x[who, torch.arange(d)] = val
    return x.reshape(b, *shp).to(dtype)


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of a dataset tensor ``(N, C, H, W)`` (for :func:`matched_normal`).

    Parameters
    ----------
    x : torch.Tensor
        Data of shape ``(N, C, ...)``.

    Returns
    -------
    mean, std : torch.Tensor
        float64 tensors of shape ``(C,)``.

    Examples
    --------
    >>> m, s = channel_stats(torch.tensor([[[1.0], [0.0]], [[3.0], [0.0]]]))
    >>> m.tolist(), s.tolist()
    ([2.0, 0.0], [1.4142135623730951, 0.0])
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError(f"x must be a tensor of shape (N, C, ...), got {type(x).__name__}")
    xt = x.transpose(0, 1).reshape(x.shape[1], -1).double()
    return xt.mean(1), xt.std(1)


def real_batches(x: torch.Tensor, y: torch.Tensor | None, batch_size: int) -> BatchSource:
    """A source of random mini-batches of ``(x, y)`` (indices drawn without replacement per batch).

    Parameters
    ----------
    x : torch.Tensor
        The dataset's inputs, first dimension ``N``.
    y : torch.Tensor or None
        The labels (``N`` rows) or ``None``.
    batch_size : int
        Number of inputs (first dimension).

    Returns
    -------
    callable
        ``source(generator) -> (x_batch, y_batch)``.

    Examples
    --------
    >>> src = real_batches(torch.arange(10.0).reshape(10, 1), torch.arange(10), 4)
    >>> xb, yb = src(0); tuple(xb.shape), torch.equal(xb[:, 0].long(), yb)
    ((4, 1), True)
    """
    b = _check_batch(batch_size)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if y is not None and (not isinstance(y, torch.Tensor) or y.shape[0] != x.shape[0]):
        raise ValueError("y must be a tensor with as many rows as x")
    if b > x.shape[0]:
        raise ValueError(f"batch_size={b} exceeds the dataset size {x.shape[0]}")

    def source(generator=None):
        idx = torch.randperm(x.shape[0], generator=as_torch_generator(generator))[:b]
        return x[idx], (None if y is None else y[idx])

    return source


def make_input_source(kind: str, *, shape, batch_size: int = 256, num_classes: int = 10, data=None, mean=None,
                      std=None, n: int = 128, dtype=torch.float32) -> BatchSource:
    """A batch source of the given ``kind`` (one of :data:`INPUT_KINDS`).

    ``data=(x, y)`` is required for ``"real"`` (and gives the mean/std for ``"normal"`` when they are
    not passed). Data-free sources return uniform random labels over ``num_classes``.

    Parameters
    ----------
    kind : {"real", "normal", "chi", "sparse", "ones"}
        The input distribution (module docstring).
    shape : tuple of int
        One input's shape, e.g. ``(C, H, W)``.
    batch_size : int, default 256
        Number of inputs (first dimension).
    num_classes : int, default 10
        Classes of the random labels of data-free sources.
    data : (torch.Tensor, torch.Tensor), optional
        ``(x, y)``: required for ``"real"``, gives the statistics of ``"normal"``.
    mean, std : float or sequence of float, optional
        Per-channel statistics of ``"normal"``.
    n : int, default 128
        Degrees of freedom of ``"chi"``.
    dtype : torch.dtype, default torch.float32
        Of the result.

    Returns
    -------
    callable
        ``source(generator) -> (x, y)``; a data-free source draws new inputs at every call.

    Examples
    --------
    >>> x, y = make_input_source("sparse", shape=(1, 2, 2), batch_size=3)(0)
    >>> tuple(x.shape), tuple(y.shape)
    ((3, 1, 2, 2), (3,))
    """
    if kind not in INPUT_KINDS:
        raise ValueError(f"inputs kind must be one of {INPUT_KINDS}, got {kind!r}")
    shp, b = _check_shape(shape), _check_batch(batch_size)
    if kind == "real":
        if data is None:
            raise ValueError("kind='real' needs data=(x, y)")
        return real_batches(data[0], data[1], b)
    if kind == "normal" and (mean is None or std is None):
        if data is None:
            raise ValueError("kind='normal' needs mean and std (per channel) or data=(x, y) to compute them")
        m, s = channel_stats(data[0])
        mean = m if mean is None else mean
        std = s if std is None else std

    def source(generator=None):
        g = as_torch_generator(generator)
        if kind == "ones":
            x = ones_input(b, shp, dtype=dtype)
        elif kind == "chi":
            x = chi_input(b, shp, n=n, generator=g, dtype=dtype)
        elif kind == "normal":
            x = matched_normal(b, shp, mean, std, generator=g, dtype=dtype)
        else:
            x = sparse_random(b, shp, generator=g, dtype=dtype)
        return x, random_labels(b, num_classes, generator=g)

    return source


def as_batch_source(obj) -> BatchSource:
    """Turn ``obj`` into a batch source: a callable (returned as is), an ``(x, y)`` tuple (a fixed batch),
    a tensor ``x`` (fixed batch, no labels) or an iterable of ``(x, y)`` batches (cycled).

    Parameters
    ----------
    obj : callable, tuple, torch.Tensor or iterable
        As above.

    Returns
    -------
    callable
        ``source(generator) -> (x, y)``.

    Examples
    --------
    >>> src = as_batch_source([(torch.zeros(1), torch.ones(1)), (torch.ones(1), None)])
    >>> [src()[0].item() for _ in range(3)]
    [0.0, 1.0, 0.0]
    """
    if obj is None:
        raise ValueError("batch_source is None but this method needs input batches")
    if callable(obj) and not isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, torch.Tensor):
        return lambda generator=None: (obj, None)
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], torch.Tensor):
        return lambda generator=None: obj
    if isinstance(obj, Iterable):
        it = itertools.cycle(obj)

        def source(generator=None):
            batch = next(it)
            return batch[0], (batch[1] if len(batch) > 1 else None)

        return source
    raise ValueError(f"batch_source must be a callable, an (x, y) tuple, a tensor or an iterable of batches, got {type(obj).__name__}")
