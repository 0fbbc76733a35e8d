"""Memory a run needs, estimated before any network is built: the size check of ``dnn.run``, ``dnn.table``
and ``dnn.prune``.

The parameter count comes from the model constructor's own arithmetic: the network is built at width
``min(width, 1)`` on PyTorch's ``meta`` device (shapes only: no memory, no initialisation) and scaled
by ``max(width, 1)²`` (every convolution and hidden layer has ``channels_in · channels_out`` weights,
each ∝ width; the stem and classifier grow only ∝ width, so the estimate is an upper bound within a few
per cent for large widths). A run holds at least :data:`COPIES_TRAIN` float32 copies of the parameters
(weights, gradients, SGD momentum, mask, the initial weights kept for ``c_stats``); pruning holds
:data:`COPIES_PRUNE` (network, scoring copy, scores, mask). Activations come on top: the estimate is a
lower bound on the need, so a refused run could never have fit. The limit is
:func:`sketchbound.probabilities.memory_limit` through :func:`sketchbound._cli.check_budget`.
"""
from __future__ import annotations

from typing import Sequence

from sketchbound._cli import check_budget

__all__ = ["param_count", "run_bytes", "check_run_budget", "DATASET_SHAPES", "COPIES_TRAIN", "COPIES_PRUNE"]

#: ``(in_channels, num_classes, image_size)`` of each dataset as the loaders return it (before ``pad_to``)
DATASET_SHAPES = {"mnist": (1, 10, 28), "fashion-mnist": (1, 10, 28), "cifar10": (3, 10, 32),
                  "cifar100": (3, 100, 32), "tiny-imagenet": (3, 200, 64), "imagenet": (3, 1000, 224)}
#: float32 copies of the parameters a training run holds at least
COPIES_TRAIN = 5
#: float32 copies of the parameters pruning at initialization holds at least
COPIES_PRUNE = 4
_CACHE: dict[tuple, int] = {}


def param_count(model: str, dataset: str, width: float = 1.0, image_size: int | None = None) -> float:
    """Parameters of ``model`` on ``dataset`` at channel multiplier ``width``, without building it.

    Parameters
    ----------
    model : str
        A name of :data:`sketchbound.dnn.models.MODEL_NAMES` (aliases accepted).
    dataset : str
        A key of :data:`DATASET_SHAPES` (input channels, classes, image size).
    width : float
        The channel multiplier (``RunConfig.width``), > 0.
    image_size : int, optional
        The image side the network sees (``pad_to``); default: the dataset's.

    Returns
    -------
    float
        The exact count for ``width <= 1``; for ``width > 1`` the count at width 1 times ``width²`` (an
        upper bound within a few per cent: see the module docstring). A float: ``width = 1e9`` exceeds int64.

    Examples
    --------
    >>> param_count("resnet20", "cifar10")
    272474.0
    >>> param_count("resnet20", "fashion-mnist", width=1000) > 2.7e11
    True
    """
    import torch  # noqa: PLC0415

    from sketchbound.dnn.models import BUILDERS, canonical_name  # noqa: PLC0415
    name = canonical_name(model)
    c, k, size = DATASET_SHAPES.get(dataset, (3, 10, 32))
    size = int(image_size or size)
    w = min(float(width), 1.0)
    key = (name, c, k, size, w)
    if key not in _CACHE:
        with torch.device("meta"):
            net = BUILDERS[name](c, k, size, w)
        _CACHE[key] = sum(p.numel() for p in net.parameters())
    grow = max(float(width), 1.0)
    return float(_CACHE[key]) * grow * grow  # inf (refused) rather than OverflowError for width = 1e300


def run_bytes(cfg, *, copies: int = COPIES_TRAIN) -> float:
    """The least memory the run ``cfg`` (a :class:`~sketchbound.dnn.experiments.config.RunConfig`) needs:
    ``copies`` float32 copies of its parameters (:func:`param_count`).

    Parameters
    ----------
    cfg : RunConfig
        The run (``model``, ``dataset``, ``width``, ``pad_to``).
    copies : int, optional
        Parameter copies held (:data:`COPIES_TRAIN`, :data:`COPIES_PRUNE`).

    Returns
    -------
    float
        Bytes.

    Examples
    --------
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> run_bytes(RunConfig(model="resnet20", dataset="cifar10")) == 4 * 5 * 272474
    True
    """
    r = cfg.resolved()
    return 4.0 * copies * param_count(r.model, r.dataset, r.width, r.pad_to)


def check_run_budget(prog: str, cfgs: Sequence, *, force: bool = False, copies: int = COPIES_TRAIN,
                     force_flag: str = "--force") -> None:
    """One line on stderr and exit status 2 when the largest of ``cfgs`` cannot fit this machine's memory
    (:func:`sketchbound._cli.check_budget`); nothing with ``force``. Checked before any data is read or
    network built.

    Parameters
    ----------
    prog : str
        The command named in the line.
    cfgs : sequence of RunConfig
        The runs about to start (a table's runs train a chunk at a time; each must fit on its own).
    force : bool
        Skip the check.
    copies : int
        Parameter copies held (:data:`COPIES_TRAIN`, :data:`COPIES_PRUNE`).
    force_flag : str
        The flag named in the message that skips the check.

    Returns
    -------
    None
        When the runs fit (or ``force``); else ``SystemExit(2)``.

    Examples
    --------
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> check_run_budget("demo", [RunConfig(model="resnet20", dataset="cifar10")])  # fits: returns None
    """
    if force or not cfgs:
        return
    big = max(cfgs, key=lambda c: run_bytes(c, copies=copies))
    r = big.resolved()
    n = param_count(r.model, r.dataset, r.width, r.pad_to)
    check_budget(prog, f"--width {r.width:g}", run_bytes(big, copies=copies),
                 f"{copies} float32 copies of {r.model}'s ~{n:.3g} parameters on {r.dataset}", force=False,
                 force_flag=force_flag)
