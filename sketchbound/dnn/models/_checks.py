"""Argument checks shared by the model constructors (private)."""
from __future__ import annotations

import numbers

from sketchbound.sampling import check_positive_int


def check_common(in_channels, num_classes, image_size, width) -> None:
    check_positive_int(in_channels, name="in_channels", floats=False)
    check_positive_int(num_classes, name="num_classes", floats=False)
    check_positive_int(image_size, name="image_size", floats=False)
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
        raise ValueError(f"width must be a positive number (channel multiplier), got {width!r}")


def scaled(channels: int, width: float) -> int:
    """``max(1, round(channels · width))``: the width multiplier used for toy-size tests."""
    return max(1, int(round(channels * width)))
