"""Model registry of paper §7: ``get_model(name, in_channels, num_classes, image_size, init)``.

Names (case-insensitive, ``-``/``_`` ignored): ``lenet300100`` (alias ``fc``), ``vgg11``,
``vgg16``, ``vgg19`` (with BatchNorm), ``resnet20``, ``resnet32``, ``resnet56`` (CIFAR),
``wideresnet20_32`` (alias ``wrn20_32``), ``resnet18`` (Tiny-ImageNet variant), ``resnet50``.

>>> net = get_model("resnet20", in_channels=1, num_classes=10, image_size=28, init="xavier", seed=0)
>>> type(net).__name__
'CifarResNet'
"""
from __future__ import annotations

from torch import nn

from .fc import LeNet300100
from .init import INIT_SCHEMES, initialize
from .resnet import CifarResNet, ImageNetResNet, resnet18, resnet50
from .vgg import VGG, VGG_CONFIGS
from .wide_resnet import WideResNet

__all__ = ["MODEL_NAMES", "get_model", "initialize", "INIT_SCHEMES", "LeNet300100", "VGG", "CifarResNet",
           "ImageNetResNet", "WideResNet", "resnet18", "resnet50", "canonical_name"]

BUILDERS = {
    "lenet300100": lambda c, k, s, w: LeNet300100(c, k, s, w),
    "vgg11": lambda c, k, s, w: VGG("vgg11", c, k, s, w),
    "vgg16": lambda c, k, s, w: VGG("vgg16", c, k, s, w),
    "vgg19": lambda c, k, s, w: VGG("vgg19", c, k, s, w),
    "resnet20": lambda c, k, s, w: CifarResNet(20, c, k, s, w),
    "resnet32": lambda c, k, s, w: CifarResNet(32, c, k, s, w),
    "resnet56": lambda c, k, s, w: CifarResNet(56, c, k, s, w),
    "wideresnet20_32": lambda c, k, s, w: WideResNet(20, 32, c, k, s, w),
    "resnet18": lambda c, k, s, w: resnet18(c, k, s, w),
    "resnet50": lambda c, k, s, w: resnet50(c, k, s, w),
}
_ALIASES = {"fc": "lenet300100", "lenet": "lenet300100", "wrn2032": "wideresnet20_32", "wideresnet2032": "wideresnet20_32"}

#: the canonical model names accepted by :func:`get_model`
MODEL_NAMES = tuple(BUILDERS)


def canonical_name(name: str) -> str:
    """Normalise a model name (``"VGG-19"`` → ``"vgg19"``); ``ValueError`` if unknown.

    Parameters
    ----------
    name : str
        A model name: case, ``-`` and ``_`` are ignored; aliases ``fc``, ``lenet``, ``wrn20_32``.

    Returns
    -------
    str
        One of :data:`MODEL_NAMES`.

    Examples
    --------
    >>> canonical_name("VGG-19"), canonical_name("fc")
    ('vgg19', 'lenet300100')
    """
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string, got {name!r}")
    key = name.lower().replace("-", "").replace("_", "")
    for canon in BUILDERS:
        if canon.replace("_", "") == key:
            return canon
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown model {name!r}; accepted: {', '.join(MODEL_NAMES)}")


def get_model(name: str, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, init: str = "kaiming",
              *, width: float = 1.0, seed=None) -> nn.Module:
    """Build model ``name`` and initialise it with ``init`` (Table IV: kaiming, normal, xavier).

    Parameters
    ----------
    name : str
        A model name (see :func:`canonical_name` and :data:`MODEL_NAMES`).
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 10
        Output logits.
    image_size : int, default 32
        Side of the square input image.
    init : {"kaiming", "normal", "xavier"}, default "kaiming"
        The initialisation (:func:`~sketchbound.dnn.models.init.initialize`).
    width : float, default 1.0
        Multiplies every channel/hidden count (1.0 = the paper's models; small values for tests).
    seed : None, int or torch.Generator, optional
        Makes the initial weights reproducible.

    Returns
    -------
    torch.nn.Module
        The initialised network.

    Examples
    --------
    >>> net = get_model("lenet300100", 1, 10, 28, width=0.1, seed=0)
    >>> type(net).__name__
    'LeNet300100'
    """
    canon = canonical_name(name)
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {init!r}")
    model = BUILDERS[canon](in_channels, num_classes, image_size, width)
    return initialize(model, init, seed=seed)
