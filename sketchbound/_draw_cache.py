"""Memoised trial draws: two checks that would draw the very same values draw them once.

The checks of one run share their seed, and several claims share their statistic, mask law, probabilities
and scenario (Lemma 4.2 and its corrections, Theorem 4.5 and 4.5c, Theorem 6.2 and 6.2b): the engine's
draws for them are then identical arrays, computed twice. The key holds everything those values depend
on — the claim's callables (by identity; the cache holds them alive, so an identity is never reused),
its mask law and target, the scenario, a digest of the instance, the tail plan's stratification, the
estimator, the generator's state and the number of trials — so a hit returns exactly the array a fresh
draw would return and leaves the generator in exactly the state a fresh draw would leave it in: no
verdict, number or later draw changes, only the time.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

#: the most memory the cached values may hold at once (least recently used first out)
MAX_BYTES = 64 << 20
_CACHE: OrderedDict = OrderedDict()
_BYTES = [0]
_LOCK = threading.Lock()


def _digest(*arrays) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        b = np.ascontiguousarray(a)
        h.update(f"{b.dtype.str}{b.shape};".encode())
        h.update(memoryview(b).cast("B"))
    return h.hexdigest()


def _key(st, estimator: str):
    claim, inst, tail = st.claim, st.inst, st.tail if estimator == "plain" else None
    held = (claim.statistic, claim.probabilities, claim.data)
    key = (estimator, claim.mask_law, claim.target, claim.mask_uses_data, st.sc,
           _digest(inst.w0, inst.w_star, inst.X, inst.X_tilde), tuple(id(o) for o in held))
    if tail is not None:
        key += (tail["mode"], _digest(tail["rare"], tail.get("unseen") if tail["mode"] == "exact" else None))
    return key, held


def memoised(st, estimator: str, draw):
    """``draw`` (``k`` → ``k`` trial values, drawn from ``st.gen``) with its results remembered: a call
    whose key (module doc) was seen before returns a copy of the remembered values and puts ``st.gen``
    in the state the remembered call left it in.

    Parameters
    ----------
    st : the engine's setup of one check (claim, scenario, instance, generator, tail plan).
    estimator : str
        The estimator whose draws these are (``"plain"``, ``"rao-blackwell"``, ...).
    draw : callable
        ``draw(k)``: ``k`` fresh values.

    Returns
    -------
    callable
        ``draw`` with the same values, drawn at most once per key.
    """
    key, held = _key(st, estimator)
    gen = st.gen

    def cached(k):
        full = key + (repr(gen.bit_generator.state), int(k))
        with _LOCK:
            hit = _CACHE.get(full)
            if hit is not None:
                _CACHE.move_to_end(full)
        if hit is not None:
            gen.bit_generator.state = hit[1]
            return hit[0].copy()
        vals = draw(k)
        entry = (np.array(vals, copy=True), gen.bit_generator.state, held)
        with _LOCK:
            if full not in _CACHE:
                _CACHE[full] = entry
                _BYTES[0] += entry[0].nbytes
            while len(_CACHE) > 1 and _BYTES[0] > MAX_BYTES:
                _BYTES[0] -= _CACHE.popitem(last=False)[1][0].nbytes
        return vals
    return cached


def clear() -> None:
    """Forget every remembered draw."""
    with _LOCK:
        _CACHE.clear()
        _BYTES[0] = 0
