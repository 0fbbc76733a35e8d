"""VGG-11/16/19 with BatchNorm, CIFAR style (as in open_lth and Synaptic-Flow), paper §7.

3×3 convolutions (+BN+ReLU), 2×2 max-pools between stages, global average pooling and one linear
classifier ``512·width → num_classes``. A max-pool is skipped once the feature map is 1×1, so any
``image_size`` works (32 for CIFAR, 28 for Fashion-MNIST, 8 for toy tests).

>>> net = VGG("vgg19", in_channels=3, num_classes=10, image_size=32)
>>> from sketchbound.dnn.models.prunable import count_prunable
>>> count_prunable(net)
20024000
"""
from __future__ import annotations

from torch import nn

from ._checks import check_common, scaled

__all__ = ["VGG", "VGG_CONFIGS"]

VGG_CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}


class VGG(nn.Module):
    """VGG with BatchNorm, CIFAR style: the stages of ``VGG_CONFIGS[name]``, global pooling, one linear layer.

    Parameters
    ----------
    name : {"vgg11", "vgg16", "vgg19"}, default "vgg19"
        The configuration.
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 10
        Output logits.
    image_size : int, default 32
        Side of the square input image (max-pools stop once the map is 1×1).
    width : float, default 1.0
        Multiplier of every channel count.

    Examples
    --------
    >>> import torch
    >>> VGG("vgg11", 3, 10, 8, width=0.05)(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, name: str = "vgg19", in_channels: int = 3, num_classes: int = 10, image_size: int = 32, width: float = 1.0):
        super().__init__()
        if name not in VGG_CONFIGS:
            raise ValueError(f"VGG name must be one of {sorted(VGG_CONFIGS)}, got {name!r}")
        check_common(in_channels, num_classes, image_size, width)
        layers: list[nn.Module] = []
        c, size = in_channels, image_size
        for v in VGG_CONFIGS[name]:
            if v == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            out = scaled(v, width)
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))
