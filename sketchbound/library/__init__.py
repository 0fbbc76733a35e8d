"""A library of the field's bounds, registered as claims (``python -m sketchbound.validate --library``).

One module per source: :mod:`.dkm06` (approximate matrix multiplication), :mod:`.horvitz_thompson`
(Poisson sampling), :mod:`.priority` (Duffield–Lund–Thorup, Szegedy), :mod:`.leverage` (leverage-score
row sampling), :mod:`.countsketch`, :mod:`.gaussian_jl`, :mod:`.sensitivity` (sensitivity sampling of
a neuron, Baykal et al.). Each claim is a plain :class:`~sketchbound.claims.Claim` with its source,
statement, default scenario and, where one exists, the exact value; :data:`ENTRIES` adds the
assumptions in words. Every claim has the engine's shape: it names its mask law (Algorithm 1,
Poisson/Horvitz–Thompson, priority, CountSketch, Gaussian JL; :mod:`sketchbound.laws`) and the engine
draws it with the core's samplers and sketches.

The claims join the registry only through :func:`register_library` or, for the duration of one
``validate`` call, :func:`library_registered` (so ``--library``, ``--list`` and ``--lemma ID`` see them);
``validate --all`` and the reliability study keep to the paper's claims.
"""
from __future__ import annotations

import contextlib

from ..claims import CLAIMS, register, unregister
from . import countsketch, dkm06, gaussian_jl, horvitz_thompson, leverage, priority, sensitivity
from ._common import Entry

__all__ = ["ENTRIES", "LIBRARY_IDS", "register_library", "library_registered", "library_claims", "entry"]

#: every library entry, grouped by source module (the order of ``validate --library``)
ENTRIES: list[Entry] = [*dkm06.ENTRIES, *horvitz_thompson.ENTRIES, *priority.ENTRIES, *leverage.ENTRIES,
                        *countsketch.ENTRIES, *gaussian_jl.ENTRIES, *sensitivity.ENTRIES]
LIBRARY_IDS: tuple[str, ...] = tuple(e.claim.id for e in ENTRIES)
_BY_ID = {e.claim.id: e for e in ENTRIES}


def register_library() -> list:
    """Add every library claim to :data:`sketchbound.claims.CLAIMS` (idempotent) and return them.

    Returns
    -------
    list of Claim
        The library's claims, in :data:`ENTRIES` order.

    Examples
    --------
    >>> claims = register_library()
    >>> len(claims) == len(LIBRARY_IDS) and register_library() == claims
    True
    """
    present = {c.id for c in CLAIMS}
    for e in ENTRIES:
        if e.claim.id not in present:
            register(e.claim)
    return library_claims()


@contextlib.contextmanager
def library_registered():
    """Register the library's claims for the duration of a ``with`` block, then remove the ones it
    added (the registry is left as it was found).


    Returns
    -------
    contextlib.AbstractContextManager
        Yields nothing; the claims are registered inside the block.

    Examples
    --------
    >>> from sketchbound.claims import claim_ids
    >>> with library_registered():
    ...     "HT-var" in claim_ids()
    True
    """
    before = {c.id for c in CLAIMS}
    register_library()
    try:
        yield
    finally:
        for cid in LIBRARY_IDS:
            if cid not in before:
                unregister(cid)


def library_claims() -> list:
    """The library's claims (registered or not), in :data:`ENTRIES` order.

    Returns
    -------
    list of Claim

    Examples
    --------
    >>> [c.id for c in library_claims()][:2]
    ['DKM06-identity', 'DKM06-frob']
    """
    return [e.claim for e in ENTRIES]


def entry(cid: str) -> Entry:
    """The library entry of claim ``cid`` (``ValueError`` naming the id and the known ones).

    Parameters
    ----------
    cid : str
        A library claim id.

    Returns
    -------
    Entry

    Examples
    --------
    >>> entry("CS-var").claim.mask_law
    'countsketch'
    """
    if cid not in _BY_ID:
        raise ValueError(f"{cid!r} is not a library claim; library claims: {', '.join(LIBRARY_IDS)}")
    return _BY_ID[cid]
