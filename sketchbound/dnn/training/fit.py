"""One call that trains your own (pruned) ``nn.Module`` with the paper's schedule: :func:`fit`.

It is the toolkit trainer (:func:`sketchbound.dnn.training.train`: masked SGD, momentum 0.9, weight decay
1e-4, learning rate ×0.1 at 50% and 75% of training — the 80/120-of-160 milestones of §7 scaled to the
epochs asked for by :meth:`~sketchbound.dnn.training.Schedule.paper`) behind an interface for a model of
one's own: it takes a dataset name, a :class:`~sketchbound.dnn.data.TensorDataset`, a
``torch.utils.data.DataLoader`` or an ``(x, y)`` tensor pair; it shows a progress bar, evaluates the test
set after every epoch, prints a one-line summary and returns a :class:`FitResult`.

Masks: a model pruned by :func:`~sketchbound.dnn.pruning.apply.apply_mask` keeps its masks (they are read
back from the model); ``masks=`` (density = fraction kept, from
:func:`~sketchbound.dnn.pruning.masks.make_mask`) is applied with ``apply_mask`` first. Pruned weights
stay exactly zero during training and after it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

import torch
from torch import nn

from sketchbound.dnn.data import TensorDataset, canonical_dataset, load_dataset
from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.dnn.pruning.apply import apply_mask, current_masks
from sketchbound.dnn.training.trainer import Schedule, train
from sketchbound.sampling import check_positive_int

__all__ = ["FitResult", "fit", "as_tensor_dataset"]


@dataclass
class FitResult:
    """What :func:`fit` did. Accuracies in %, losses are mean cross-entropies; ``None`` where no test set.

    ``test_accuracy[e]`` / ``test_loss[e]`` are measured after epoch ``e + 1``; ``density`` = ``kept`` /
    ``total`` counts the non-zero *effective* prunable weights after training.

    Parameters
    ----------
    epochs : int
        Epochs trained.
    test_accuracy, test_loss, train_accuracy, train_loss, lr : list of float
        One entry per epoch.
    kept, total : int
        Non-zero and all prunable weights after training.
    density : float
        ``kept / total``.
    wall_s : float
        Training time in seconds.
    device : str
        Where it trained.

    Examples
    --------
    >>> r = FitResult(epochs=1, test_accuracy=[91.5], kept=10, total=100, density=0.1)
    >>> r.final_test_accuracy
    91.5
    """

    epochs: int
    test_accuracy: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    kept: int = 0
    total: int = 0
    density: float = 1.0
    wall_s: float = 0.0
    device: str = "cpu"

    @property
    def final_test_accuracy(self) -> float | None:
        return self.test_accuracy[-1] if self.test_accuracy else None

    def summary(self) -> str:
        """The one line :func:`fit` prints."""
        acc = self.final_test_accuracy
        test = "no test set" if acc is None else f"test accuracy {acc:.2f}% (loss {self.test_loss[-1]:.4f})"
        return (f"fit: {self.epochs} epochs, {test}, train loss {self.train_loss[-1]:.4f}, density {self.density:.4f} "
                f"({self.kept:,} of {self.total:,} prunable weights kept), {self.wall_s:.1f} s on {self.device}")

    def to_dict(self) -> dict:
        return asdict(self)


def _pair(data, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` tensors from a ``DataLoader`` (iterated once) or an ``(x, y)`` pair."""
    if isinstance(data, torch.utils.data.DataLoader):
        xs, ys = [], []
        for batch in data:
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise ValueError(f"{what}: a DataLoader must yield (x, y) batches, got {type(batch).__name__}")
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
        if not xs:
            raise ValueError(f"{what}: the DataLoader yielded no batch")
        return torch.cat(xs), torch.cat(ys)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return data[0], data[1]
    raise ValueError(f"{what} must be a dataset name, a TensorDataset, a torch DataLoader or an (x, y) pair of "
                     f"tensors, got {type(data).__name__}")


def _check_xy(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{what}: images must have shape (N, C, H, W), got {tuple(x.shape)}")
    if y.dim() != 1 or y.shape[0] != x.shape[0] or y.dtype.is_floating_point or (y.numel() and int(y.min()) < 0):
        low = f" min {int(y.min())}" if y.numel() and not y.dtype.is_floating_point else ""
        raise ValueError(f"{what}: labels must be N integer class indices >= 0, got dtype {y.dtype} shape "
                         f"{tuple(y.shape)}{low}")
    if x.dtype.is_floating_point and not torch.isfinite(x).all():
        raise ValueError(f"{what}: images contain NaN or inf")


def as_tensor_dataset(train, test=None, *, name: str = "custom") -> TensorDataset:
    """The toolkit's :class:`~sketchbound.dnn.data.TensorDataset` from a ``DataLoader`` or ``(x, y)`` pair.

    Parameters
    ----------
    train, test : torch.utils.data.DataLoader or tuple of tensors
        ``(N, C, H, W)`` images and integer labels. A loader is iterated once and its batches are held
        in memory (a random transform of the loader is drawn once, not per epoch). ``uint8`` images are
        normalised by the trainer with the training set's per-channel mean/std; float images are used
        as given (already normalised; up to float rounding). ``test=None``: no test set.
    name : str
        The dataset's name in logs.

    Returns
    -------
    TensorDataset

    Examples
    --------
    >>> import torch
    >>> ds = as_tensor_dataset((torch.rand(8, 1, 4, 4), torch.arange(8) % 2))
    >>> len(ds), ds.num_classes, ds.x_test.shape[0]
    (8, 2, 0)
    """
    x, y = _pair(train, "train")
    _check_xy(x, y, "train")
    if test is None:
        xt, yt = x[:0], y[:0]
    else:
        xt, yt = _pair(test, "test")
        _check_xy(xt, yt, "test")
        if xt.shape[1:] != x.shape[1:] or xt.dtype != x.dtype:
            raise ValueError(f"test images {tuple(xt.shape[1:])} {xt.dtype} differ from the training images "
                             f"{tuple(x.shape[1:])} {x.dtype}")
    num_classes = int(max(int(y.max()), int(yt.max()) if yt.numel() else 0)) + 1
    c = x.shape[1]
    if x.dtype == torch.uint8:
        xf = x.double() / 255.0
        mean = tuple(float(v) for v in xf.mean(dim=(0, 2, 3)))
        std = tuple(float(v) if v > 0 else 1.0 for v in xf.std(dim=(0, 2, 3), unbiased=False))
    else:  # the trainer computes (x / 255 - mean) / std: mean 0, std 1/255 leaves float images as they are
        x, xt = x.float(), xt.float()
        mean, std = (0.0,) * c, (1.0 / 255.0,) * c
    return TensorDataset(name, x.contiguous(), y.long(), xt.contiguous(), yt.long(), num_classes, mean, std)


def _density(model: nn.Module) -> tuple[int, int]:
    kept = total = 0
    for _, m in prunable_modules(model):
        w = m.weight.detach()
        kept += int(torch.count_nonzero(w))
        total += w.numel()
    return kept, total


def fit(model: nn.Module, data, epochs: int, *, masks: Mapping[str, torch.Tensor] | None = None, test=None,
        lr: float = 0.1, batch_size: int | None = None, momentum: float = 0.9, weight_decay: float = 1e-4,
        augment: bool | None = None, seed: int = 0, device=None, data_root=None, progress: bool = True,
        log: Callable[[str], None] | None = print) -> FitResult:
    """Train ``model`` (pruned or not) for ``epochs`` with the paper's schedule scaled to them (§7).

    Parameters
    ----------
    model : nn.Module
        Your model, trained in place. If it was pruned by :func:`~sketchbound.dnn.pruning.apply.apply_mask`
        (or ``torch.nn.utils.prune``) its masks are kept: pruned weights stay exactly zero.
    data : str, TensorDataset, DataLoader or (x, y)
        A dataset name the toolkit loads (``"fashion-mnist"``, ``"cifar10"``, ...; see
        :func:`~sketchbound.dnn.data.load_dataset`, nothing is downloaded), a
        :class:`~sketchbound.dnn.data.TensorDataset` (e.g. ``load_dataset(...).subset(5000, 1000)``), or
        training data as a ``DataLoader`` / ``(x, y)`` pair (see :func:`as_tensor_dataset`; then ``test``
        gives the test data).
    epochs : int
        Training epochs; the learning rate drops ×0.1 at 50% and 75% of them (``Schedule.paper(epochs=...)``).
    masks : dict, optional
        ``{"<layer>.weight": mask}`` (density = fraction kept): ``fit`` applies it with ``apply_mask``
        first (composing with masks already applied), so the model stays pruned after training.
    test : DataLoader or (x, y), optional
        Test data for a ``DataLoader``/pair ``data`` (a dataset name or TensorDataset brings its own).
    lr, batch_size, momentum, weight_decay : optional
        The SGD hyper-parameters (defaults: §7's 0.1, 128, 0.9, 1e-4).
    augment : bool, optional
        Random crop (pad 4) + flip of §7; default on for a named dataset, off for your own data.
    seed : int
        Seed of the data order and augmentation (same seed ⇒ same result on the same device).
    device : optional
        Default: CUDA if available, else CPU.
    data_root : optional
        Folder of the dataset files for a dataset name.
    progress : bool
        Show a tqdm progress bar.
    log : callable or None
        Receives one line per epoch and the summary line (default ``print``); ``None``: silent.

    Returns
    -------
    FitResult
        Per-epoch test/train accuracy and loss, learning rates, final density (non-zero effective
        prunable weights / all of them) and wall time.

    Examples
    --------
    >>> import torch, torch.nn as nn
    >>> from sketchbound.dnn import apply_mask, make_mask, compute_scores
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> _ = apply_mask(net, make_mask(compute_scores("magnitude", net), 0.5, "randomized", rng=0, backend="torch"))
    >>> x, y = torch.randn(64, 1, 4, 4), (torch.arange(64) % 2)
    >>> r = fit(net, (x, y), 2, test=(x, y), batch_size=16, progress=False, log=None)
    >>> len(r.test_accuracy), r.kept, r.total
    (2, 72, 144)
    """
    check_positive_int(epochs, name="epochs", floats=False)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = isinstance(data, str)
    if test is not None and (named or isinstance(data, TensorDataset)):
        raise ValueError(f"test={type(test).__name__} is for DataLoader / (x, y) training data; a dataset name or "
                         "TensorDataset has its own")
    if named:
        ds = load_dataset(data, data_root)
    elif isinstance(data, TensorDataset):
        ds = data
    else:
        ds = as_tensor_dataset(data, test)
    try:
        kind = canonical_dataset(ds.name)
    except ValueError:
        kind = "cifar10"  # your own data: the CIFAR schedule (160 epochs, milestones 80/120), scaled
    schedule = Schedule.paper(kind, epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if masks is not None:  # prune through apply_mask, so that the model stays pruned after fit too
        apply_mask(model, dict(masks))
    masks = current_masks(model) or None
    has_test = ds.x_test.shape[0] > 0
    t0 = time.perf_counter()
    res = train(model, ds, schedule, masks=masks, seed=seed, name="fit", device=device,
                augment=named if augment is None else bool(augment), eval_every=1 if has_test else 0,
                progress=progress, log=log)
    wall = time.perf_counter() - t0
    hist = [dict(h) for h in res.history]
    if has_test and hist:
        hist[-1]["test_accuracy"], hist[-1]["test_loss"] = res.test_accuracy, res.test_loss
    kept, total = _density(model)
    out = FitResult(epochs=epochs, test_accuracy=[h["test_accuracy"] for h in hist] if has_test else [],
                    test_loss=[h["test_loss"] for h in hist] if has_test else [],
                    train_accuracy=[h["train_accuracy"] for h in hist], train_loss=[h["train_loss"] for h in hist],
                    lr=[h["lr"] for h in hist], kept=kept, total=total, density=kept / total if total else 1.0,
                    wall_s=wall, device=str(next(model.parameters()).device))
    if log is not None:
        log(out.summary())
    return out
