"""Argument checks shared by the model constructors (private)."""
from __future__ import annotations

import numbers


def _pos_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


def check_common(in_channels, num_classes, image_size, width) -> None:
    _pos_int("in_channels", in_channels)
    _pos_int("num_classes", num_classes)
    _pos_int("image_size", image_size)
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
        raise ValueError(f"width must be a positive number (channel multiplier), got {width!r}")


def scaled(channels: int, width: float) -> int:
    """``max(1, round(channels · width))``: the width multiplier used for toy-size tests."""
    return max(1, int(round(channels * width)))
