"""The guards every sampler shares: sizes (``s``, ``trials``), seeds, flags, and the memory and time a call
with ``trials`` may plan to use. :mod:`sketchbound.sampling` re-exports the public ones.

The package's one positive-integer check (:func:`check_positive_int`) and one seed → generator
(:func:`as_generator`) live here.
"""
from __future__ import annotations

import numbers

import numpy as np

from .probabilities import abridge, check_memory

__all__ = ["MAX_SIZE", "as_generator", "check_size", "check_positive_int", "finite_mask", "check_flag",
           "check_trials", "check_dense", "check_budget"]

#: the largest ``s`` (and ``trials``, or any other size checked by :func:`check_size`): 2**53, the
#: largest integer float64 holds exactly (counts, ``s p_i`` and the mask ``c / (s p)`` stay exact)
MAX_SIZE = 1 << 53
_MAX_DENSE_ELEMENTS = 1 << 28  # 2 GiB of float64 for a (trials, d) mask


def as_generator(rng) -> np.random.Generator:
    """The package's one seed → generator: ``None`` → a fresh Generator, int → ``default_rng(int)``,
    Generator → itself.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        The randomness; an int seed must be ``>= 0``.

    Returns
    -------
    numpy.random.Generator
        The generator.

    Examples
    --------
    >>> int(as_generator(0).integers(10)) == int(as_generator(0).integers(10))
    True
    """
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be a non-negative integer, got {rng!r}")
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be None, a non-negative int seed or a numpy.random.Generator, got {abridge(rng)}")


def check_size(s, *, name: str = "s") -> int:
    """``s`` as a positive integer (Algorithm 1: ``s ∈ Z+``) no larger than :data:`MAX_SIZE` (2**53).

    Parameters
    ----------
    s : int or float
        The size; integer-valued floats (``4.0``) are accepted.
    name : str, optional
        The argument's name, used in the ``ValueError`` message.

    Returns
    -------
    int
        ``s`` as a Python int.

    Examples
    --------
    >>> check_size(4.0)
    4
    """
    return check_positive_int(s, name=name, limit=MAX_SIZE, limit_text="2**53")


def check_positive_int(v, *, name: str, limit: int | None = None, limit_text: str | None = None,
                       floats: bool = True) -> int:
    """``v`` as a positive int, else ``ValueError`` naming ``name``, the value and what is accepted. The one
    positive-integer check of the package (core and ``dnn``).

    Parameters
    ----------
    v : object
        The value to check.
    name : str
        The argument's name, used in the message.
    limit : int, optional
        The largest accepted value (``1 <= name <= limit_text`` in the message); ``None``: no upper bound.
    limit_text : str, optional
        How the message writes ``limit`` (e.g. ``"2**53"``); default ``str(limit)``.
    floats : bool
        Accept integer-valued floats (``4.0``); ``False`` accepts integers only.

    Returns
    -------
    int
        ``v`` as a Python int.

    Examples
    --------
    >>> check_positive_int(4.0, name="s", limit=2**53, limit_text="2**53")
    4
    >>> check_positive_int(0, name="rounds")
    Traceback (most recent call last):
    ValueError: rounds must be a positive integer, got 0
    """
    top = limit if limit is not None else float("inf")
    ok = not isinstance(v, (bool, np.bool_)) and (
        (isinstance(v, (numbers.Integral, np.integer)) and 1 <= v <= top)
        or (floats and isinstance(v, (float, np.floating)) and float(v).is_integer() and 1 <= v <= top))
    if not ok:
        rng = "" if limit is None else f" (1 <= {name} <= {limit_text or limit})"
        raise ValueError(f"{name} must be a positive integer{rng}, got {abridge(v)}")
    return int(v)


def finite_mask(m: np.ndarray, what: str = "mask") -> np.ndarray:
    """Return ``m`` if every entry is finite, else ``ValueError``: a weighted mask ``1/(s p_i)`` (or
    ``1/π_i``) overflows float64 only when an index with ``0 < p_i < ~1e-308 / s`` is drawn."""
    if not np.isfinite(m).all():
        raise ValueError(f"the {what} overflows float64: an index with a subnormal probability (< ~1e-308 / s) "
                         f"was drawn; set such probabilities to 0")
    return m


def check_flag(name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {abridge(v)}")
    return bool(v)


def check_trials(trials):
    if trials is None:
        return None
    return check_size(trials, name="trials")


def check_dense(trials: int, d: int) -> None:
    if trials * d > _MAX_DENSE_ELEMENTS:
        raise ValueError(
            f"trials x d = {trials} x {d} does not fit in memory as a dense array "
            f"(limit {_MAX_DENSE_ELEMENTS} entries); loop over trials or use algorithm1_sparse"
        )


#: the most memory one sampler call with ``trials`` may need at its peak (estimated before allocating)
_MAX_CALL_BYTES = 1 << 31
#: the longest one sampler call with ``trials`` may run (estimated before looping)
_MAX_CALL_SECONDS = 600.0
#: a lower bound on the cost of one trial of the samplers that loop over trials in Python
_SECONDS_PER_TRIAL, _SECONDS_PER_ENTRY = 30e-6, 30e-9


def check_budget(trials: int, d: int, what: str, *, bytes_per_entry: int, loops: bool) -> None:
    """Refuse, before allocating or looping, a ``trials`` whose estimated peak memory exceeds
    :data:`_MAX_CALL_BYTES` (or half of this machine's memory) or, for samplers that loop over
    trials (``loops``), whose estimated run time exceeds :data:`_MAX_CALL_SECONDS`."""
    check_dense(trials, d)
    need = bytes_per_entry * trials * d
    hint = "lower trials or call the sampler in a loop"
    if need > _MAX_CALL_BYTES:
        most = max(1, _MAX_CALL_BYTES // (bytes_per_entry * d))
        raise ValueError(f"trials = {trials} is too many for {what} with d = {d}: ~{need / 2**30:.1f} GiB at its "
                         f"peak (limit {_MAX_CALL_BYTES / 2**30:.0f} GiB, trials <= {most}); {hint}")
    check_memory(need, f"{what} with trials = {trials}")
    if loops:
        secs = trials * (_SECONDS_PER_TRIAL + _SECONDS_PER_ENTRY * d)
        if secs > _MAX_CALL_SECONDS:
            most = max(1, int(_MAX_CALL_SECONDS / (_SECONDS_PER_TRIAL + _SECONDS_PER_ENTRY * d)))
            raise ValueError(f"trials = {trials} is too many for {what} with d = {d}: at least ~{secs / 60:.0f} min "
                             f"(limit {_MAX_CALL_SECONDS / 60:.0f} min, trials <= {most}); {hint}")
