"""LeNet-300-100: the fully connected network of Fig. 1 (Fashion-MNIST, 28×28 inputs).

``in_channels × image_size² → 300·width → 100·width → num_classes`` with ReLU.

>>> net = LeNet300100()
>>> sum(p.numel() for p in net.parameters())
266610
"""
from __future__ import annotations

from torch import nn

from ._checks import check_common, scaled

__all__ = ["LeNet300100"]


class LeNet300100(nn.Module):
    """LeNet-300-100: ``in_channels·image_size² → 300·width → 100·width → num_classes`` with ReLU.

    Parameters
    ----------
    in_channels : int, default 1
        Input channels (1 for Fashion-MNIST).
    num_classes : int, default 10
        Output logits.
    image_size : int, default 28
        Side of the square input image.
    width : float, default 1.0
        Multiplier of the hidden widths (1.0 = the paper's network; small values for tests).

    Examples
    --------
    >>> import torch
    >>> LeNet300100(width=0.1)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, width: float = 1.0):
        super().__init__()
        check_common(in_channels, num_classes, image_size, width)
        h1, h2 = scaled(300, width), scaled(100, width)
        self.fc1 = nn.Linear(in_channels * image_size * image_size, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))
