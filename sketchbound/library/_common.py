"""What the library's claims share: an entry (claim + assumptions).

Every library claim has the engine's shape (:class:`~sketchbound.claims.Claim`): it names its mask law
(``mask_law``: Algorithm 1, ``bernoulli`` for Poisson/Horvitz–Thompson, ``priority``, ``countsketch``,
``gaussian``; :mod:`sketchbound.laws`), its data (an ``instance_factory`` of fixed data) and a statistic
``(X, w, M)``; the engine draws every mask or sketch from the claim's seeded stream with the core's
samplers (:mod:`sketchbound.sampling`, :mod:`sketchbound.sketches`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..claims import Claim

__all__ = ["Entry"]


@dataclass(frozen=True)
class Entry:
    """One library claim with what the report needs beyond the :class:`~sketchbound.claims.Claim`.

    ``assumptions``: the hypotheses of the source's statement, in words (what the default scenario
    satisfies); ``exact_value``: the closed form of the measured quantity where one exists, in words
    (the claim's ``exact`` computes it), else ``""``; ``event``: the statistic is an indicator (a
    probability claim), so the report adds the exact binomial upper bound of the measured probability.

    Parameters
    ----------
    claim : Claim
        The claim the engine checks.
    assumptions : str
        The source's hypotheses, in words.
    exact_value : str
        The closed form of the measured quantity, in words (``""``: none).
    event : bool
        The statistic is an indicator.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> Entry(get_claim("4.1"), "X fixed").event
    False
    """

    claim: Claim
    assumptions: str
    exact_value: str = ""
    event: bool = False
