"""Named seed streams: the one place that says how a run's seed becomes the seeds of its parts.

A run has one user seed. Its parts (the mask sampler, the pruning inputs, IMP's random data, a
figure's instance ...) each draw from a *named stream* derived here, so that two parts never share a
stream by accident and the derivation is written down once.

The streams listed in :data:`OFFSET_STREAMS` are derived as ``seed + offset``: the recorded results
were drawn that way, so this keeps them reproducible bit for bit. Any other stream name is
derived with :class:`numpy.random.SeedSequence` from ``(seed, crc32(name))``, which gives
statistically independent streams.

>>> stream_seed(0, "mask"), stream_seed(3, "pruning-inputs")
(1, 31340)
>>> stream_seed(0, "some-new-stream") == stream_seed(0, "some-new-stream")
True
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["OFFSET_STREAMS", "stream_seed", "stream_rng"]

#: stream name → offset added to the user seed; kept because every recorded run's masks and data use it
OFFSET_STREAMS: dict[str, int] = {
    "mask": 1,                      # dnn: randomized mask sampler; prune CLI mask stream
    "pruning-inputs": 31337,        # dnn: data-free pruning inputs (ones/χ/normal/sparse/real batches)
    "imp-random-data": 7919,        # dnn.imp: random-data IMP training set
    "imp-data-order": 104729,       # dnn.imp: data order of the IMP levels
    "deep-theory-columns": 12345,   # dnn theory: the patch columns kept per layer (Lemma 4.3 per layer)
    "deep-theory-data": 777,        # dnn theory: training data order of the Lemma 4.3 study
    "ntk-cnn-init": 1,              # dnn theory: the NTK-CNN's initial weights
    "deep-theory-c": 99,            # dnn theory: c-statistic sampling
    "fig1-masks": 1,                # figures: Fig. 1 random masks
    "fig2-masks": 2,                # figures: Fig. 2 randomized rounds
    "fig3-random": 3,               # figures: Fig. 3 random scores
    "theory-masks": 10,             # figures: theory plots' mask seed
}


def stream_seed(seed: int, name: str) -> int:
    """The integer seed of stream ``name`` for user seed ``seed`` (see the module docstring).

    Parameters
    ----------
    seed : int
        The run's seed, ``>= 0``.
    name : str
        The stream's name: one of :data:`OFFSET_STREAMS` (``seed + offset``), or any other non-empty name
        (a :class:`numpy.random.SeedSequence` of ``(seed, crc32(name))``).

    Returns
    -------
    int
        A seed in ``[0, 2**63)``.

    Examples
    --------
    >>> stream_seed(0, "mask"), stream_seed(3, "pruning-inputs")
    (1, 31340)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    seed = int(seed)
    if name in OFFSET_STREAMS:
        return seed + OFFSET_STREAMS[name]
    ss = np.random.SeedSequence([seed, zlib.crc32(name.encode())])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))  # 63 bits: fits torch.manual_seed


def stream_rng(seed: int, name: str) -> np.random.Generator:
    """``numpy.random.default_rng(stream_seed(seed, name))``.

    Parameters
    ----------
    seed : int
        The run's seed, ``>= 0``.
    name : str
        The stream's name (:func:`stream_seed`).

    Returns
    -------
    numpy.random.Generator
        The stream's generator.

    Examples
    --------
    >>> int(stream_rng(0, "mask").integers(100)) == int(np.random.default_rng(1).integers(100))
    True
    """
    return np.random.default_rng(stream_seed(seed, name))
