"""Scale-safe evaluation of closed forms homogeneous in their array arguments (:func:`scale_safe`).

Used by :mod:`sketchbound.theory`, :mod:`sketchbound.gaussian` and :mod:`sketchbound.exact`: ordinary inputs are
computed as written; inputs near ``1e308`` or ``1e-308`` are rescaled by exact powers of two first.
"""
from __future__ import annotations

import numpy as np

from .probabilities import SAFE_EXP, abridge, as_real_array, pow2_exponent

__all__ = ["scale_safe"]

def _in_safe_range(a: np.ndarray) -> bool:
    """Every non-zero ``|a_i|`` lies in ``[2^-SAFE_EXP, 2^SAFE_EXP]``."""
    m = np.abs(a)
    return bool(m.max() <= _HI and m.min(where=m > 0, initial=1.0) >= _LO)


_HI, _LO = 2.0**SAFE_EXP, 2.0**-SAFE_EXP


def _pow2_max(a: np.ndarray) -> int:
    return pow2_exponent(float(np.max(np.abs(a))))


def _min_nonzero(a: np.ndarray) -> float:
    m = np.abs(a)
    return float(m.min(where=m > 0, initial=np.inf))


def _all_finite(v) -> bool:
    try:
        return bool(np.isfinite(v).all())
    except (TypeError, AttributeError):
        return True


def scale_safe(**degrees):
    """Decorator for a closed form homogeneous in some array arguments: ``f(.., 2^k a, ..) = 2^(deg k) f``.

    ``degrees`` maps argument names to their degree. Ordinary inputs (all non-zero magnitudes in
    ``[2^-SAFE_EXP, 2^SAFE_EXP]``) are computed as written, so results are unchanged. Inputs outside
    that range, or whose plain result is not finite, are rescaled by exact powers of two to magnitude
    ~1, computed, and the result scaled back. A result that still is not finite (it exceeds float64,
    or a division by ~0 makes it infinite) raises ``ValueError`` instead of returning inf/NaN.
    Arguments that are not finite real arrays are passed through untouched: the function's own
    checks reject them.
    """
    import functools
    import inspect

    def deco(f):
        sig = inspect.signature(f)
        pos = {k: i for i, k in enumerate(sig.parameters) if k in degrees}

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            args = list(args)
            arrays, in_range = {}, True
            for k, i in pos.items():
                if i < len(args):
                    v = args[i]
                elif k in kwargs:
                    v = kwargs[k]
                else:
                    return f(*args, **kwargs)  # missing argument: f raises TypeError
                try:
                    a = as_real_array(k, v)
                except ValueError:
                    return f(*args, **kwargs)  # let f name the problem
                arrays[k] = (a, i)
                in_range = in_range and _in_safe_range(a)
            if in_range:
                try:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                        out = f(*args, **kwargs)
                except OverflowError:  # Python float arithmetic (x ** 2) overflowed: retry scaled
                    out = np.inf
                if _all_finite(out):
                    return out
            shift = 0
            for k, (a, i) in arrays.items():
                e = _pow2_max(a)
                if 0 < e <= SAFE_EXP and _min_nonzero(a) < 2.0 ** (e - 1022):
                    e = 0  # scaling down would flush its smallest (subnormal) entries to 0; it is not large
                shift += degrees[k] * e
                if i < len(args):
                    args[i] = np.ldexp(a, -e)
                else:
                    kwargs[k] = np.ldexp(a, -e)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                try:
                    out = f(*args, **kwargs)
                    res = np.ldexp(out, shift)
                except OverflowError:
                    out = res = np.inf
            if not _all_finite(res):
                raise ValueError(
                    f"{f.__name__}: the result is not a finite float64 (it overflows, or divides by ~0) for "
                    f"these inputs: " + ", ".join(f"{k} = {abridge(a, 50)}" for k, (a, _) in arrays.items()))
            return float(res) if isinstance(out, float) else res
        return wrapper
    return deco
