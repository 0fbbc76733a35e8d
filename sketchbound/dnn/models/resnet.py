"""ResNets of paper §7: CIFAR ResNet-20/32/56 (He et al. 2016, §4.2), ResNet-18 (Tiny-ImageNet
variant) and ResNet-50 (ImageNet).

* CIFAR ResNet-(6n+2): a 3×3 stem with ``16·width`` channels, three stages of ``n`` basic blocks with
  ``16, 32, 64`` (×width) channels, global average pooling, one linear layer. When a block changes
  shape its shortcut is a 1×1 convolution + BN (open_lth's choice; these small 1×1 layers are the
  ones SynFlow must not collapse, Synaptic-Flow issue #7). ``base_width`` changes 16 (used by the
  WideResNet-20-32 of :mod:`.wide_resnet`).
* ResNet-18, Tiny-ImageNet variant: basic blocks ``[2, 2, 2, 2]`` with 64…512 channels and a 3×3
  stride-1 stem without max-pool (the usual modification for 64×64 inputs).
* ResNet-50: bottleneck blocks ``[3, 4, 6, 3]``, 7×7 stride-2 stem + max-pool (ImageNet).

>>> net = CifarResNet(20)
>>> sum(p.numel() for p in net.parameters() if p.dim() > 1)
270896
"""
from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ._checks import check_common, scaled

__all__ = ["BasicBlock", "Bottleneck", "CifarResNet", "ImageNetResNet", "resnet18", "resnet50"]


class BasicBlock(nn.Module):
    """Two 3×3 conv + BN layers with a shortcut (a 1×1 conv + BN when the shape changes).

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    stride : int, default 1
        Stride of the first convolution and of the shortcut.

    Examples
    --------
    >>> import torch
    >>> BasicBlock(2, 4, stride=2)(torch.zeros(1, 2, 8, 8)).shape
    torch.Size([1, 4, 4, 4])
    """

    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 conv + BN bottleneck with ``planes × 4`` output channels and a shortcut.

    Parameters
    ----------
    c_in : int
        Input channels.
    planes : int
        Channels of the inner convolutions (output: ``4 · planes``).
    stride : int, default 1
        Stride of the 3×3 convolution and of the shortcut.

    Examples
    --------
    >>> import torch
    >>> Bottleneck(8, 2)(torch.zeros(1, 8, 4, 4)).shape
    torch.Size([1, 8, 4, 4])
    """

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1):
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet of depth ``6n + 2`` (20, 32, 56, ...).

    Parameters
    ----------
    depth : int, default 20
        ``6n + 2`` with ``n >= 1``: ``n`` basic blocks per stage.
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 10
        Output logits.
    image_size : int, default 32
        Side of the square input image.
    width : float, default 1.0
        Multiplier of every channel count.
    base_width : int, default 16
        Channels of the first stage (stages ``base_width × (1, 2, 4)``).

    Examples
    --------
    >>> import torch
    >>> CifarResNet(8, 3, 10, 8, width=0.25)(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, depth: int = 20, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 width: float = 1.0, base_width: int = 16):
        super().__init__()
        check_common(in_channels, num_classes, image_size, width)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (20, 32, 56, ...), got {depth!r}")
        n = (depth - 2) // 6
        c = scaled(base_width, width)
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        blocks: list[nn.Module] = []
        c_in = c
        for stage, mult in enumerate((1, 2, 4)):
            c_out = scaled(base_width * mult, width)
            for i in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if (stage > 0 and i == 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return self.fc(self.pool(self.blocks(out)).flatten(1))


class ImageNetResNet(nn.Module):
    """Four-stage ResNet (64…512 channels × width) with basic or bottleneck blocks.

    ``stem="imagenet"``: 7×7 stride-2 conv + 3×3 stride-2 max-pool; ``stem="cifar"``: 3×3 stride-1
    conv, no max-pool (Tiny-ImageNet variant).

    Parameters
    ----------
    block : type
        :class:`BasicBlock` or :class:`Bottleneck`.
    layers : sequence of int
        Blocks per stage (``[2, 2, 2, 2]`` for ResNet-18, ``[3, 4, 6, 3]`` for ResNet-50).
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 1000
        Output logits.
    image_size : int, default 224
        Side of the square input image.
    width : float, default 1.0
        Multiplier of every channel count.
    stem : {"imagenet", "cifar"}, default "imagenet"
        The first layers, as above.

    Examples
    --------
    >>> import torch
    >>> net = ImageNetResNet(BasicBlock, [1, 1], 3, 5, 16, width=0.05, stem="cifar")
    >>> net(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 5])
    """

    def __init__(self, block: type, layers, in_channels: int = 3, num_classes: int = 1000, image_size: int = 224,
                 width: float = 1.0, stem: str = "imagenet"):
        super().__init__()
        check_common(in_channels, num_classes, image_size, width)
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        c = scaled(64, width)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, c, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(c)
        blocks: list[nn.Module] = []
        c_in = c
        for stage, nblocks in enumerate(layers):
            planes = scaled(64 * 2**stage, width)
            for i in range(nblocks):
                blocks.append(block(c_in, planes, 2 if (stage > 0 and i == 0) else 1))
                c_in = planes * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        out = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.fc(self.pool(self.blocks(out)).flatten(1))


def resnet18(in_channels=3, num_classes=200, image_size=64, width=1.0) -> ImageNetResNet:
    """ResNet-18, Tiny-ImageNet variant (3×3 stride-1 stem, no max-pool).

    Parameters
    ----------
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 200
        Output logits.
    image_size : int, default 64
        Side of the square input image.
    width : float, default 1.0
        Multiplier of every channel count.

    Returns
    -------
    ImageNetResNet
        The network (default initialisation; :func:`~sketchbound.dnn.models.get_model` applies Table IV's).

    Examples
    --------
    >>> len(resnet18(width=0.05).blocks)
    8
    """
    return ImageNetResNet(BasicBlock, [2, 2, 2, 2], in_channels, num_classes, image_size, width, stem="cifar")


def resnet50(in_channels=3, num_classes=1000, image_size=224, width=1.0) -> ImageNetResNet:
    """ResNet-50 (ImageNet stem, bottleneck blocks [3, 4, 6, 3]).

    Parameters
    ----------
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 1000
        Output logits.
    image_size : int, default 224
        Side of the square input image.
    width : float, default 1.0
        Multiplier of every channel count.

    Returns
    -------
    ImageNetResNet
        The network (default initialisation; :func:`~sketchbound.dnn.models.get_model` applies Table IV's).

    Examples
    --------
    >>> len(resnet50(width=0.05).blocks)
    16
    """
    return ImageNetResNet(Bottleneck, [3, 4, 6, 3], in_channels, num_classes, image_size, width, stem="imagenet")
