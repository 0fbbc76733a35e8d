"""WideResNet-20-32 of paper §7/Table III.

Depth 20 is not of Zagoruyko & Komodakis' ``6n + 4`` form, so the name follows open_lth (whose
code the paper builds on): ``cifar_resnet_20_32`` = the CIFAR ResNet-20 of :mod:`.resnet` with
the first stage ``32`` channels wide instead of 16 (stages 32, 64, 128). ``WideResNet(depth, k)``
gives any ``cifar_resnet_D_W``.

>>> net = WideResNet(20, 32)
>>> net.conv1.out_channels
32
"""
from __future__ import annotations

from sketchbound.sampling import check_positive_int

from .resnet import CifarResNet

__all__ = ["WideResNet"]


class WideResNet(CifarResNet):
    """CIFAR ResNet of depth ``depth`` whose first stage has ``base_width`` channels (open_lth's ``cifar_resnet_D_W``).

    Parameters
    ----------
    depth : int, default 20
        ``6n + 2`` (as :class:`~sketchbound.dnn.models.resnet.CifarResNet`).
    base_width : int, default 32
        Channels of the first stage (the stages are ``base_width × (1, 2, 4)``).
    in_channels, num_classes, image_size : int
        Input channels, output logits, side of the square input image.
    width : float, default 1.0
        Multiplier of every channel count.

    Examples
    --------
    >>> WideResNet(20, 32, width=0.25).conv1.out_channels
    8
    """

    def __init__(self, depth: int = 20, base_width: int = 32, in_channels: int = 3, num_classes: int = 10,
                 image_size: int = 32, width: float = 1.0):
        check_positive_int(base_width, name="base_width", floats=False)
        super().__init__(depth, in_channels, num_classes, image_size, width, base_width=base_width)
