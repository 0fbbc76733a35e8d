"""What the library's claims share: an entry (claim + assumptions), the random stream of a sketch
law that is not Algorithm 1, and small instance helpers.

Laws other than Algorithm 1 (Poisson/Horvitz–Thompson, priority, CountSketch, Gaussian JL) are written
with the engine's redrawn-data mode (``x_mode="redrawn"``): the engine draws, from its seeded stream,
a fresh Gaussian ``X`` for every trial and passes the block of trials to the statistic. A law
statistic (:func:`law_statistic`) uses that block only as entropy: it seeds the law's sampler (the
core's :func:`~sketchbound.sampling.bernoulli` / :func:`~sketchbound.sampling.priority` where it has
one) from the block's bits (:func:`trial_rng`), so the same seed gives the same result and every
block gets its own stream. The Algorithm-1 mask the engine also draws is ignored (the value does not
depend on it, so ``--exact`` enumeration over masks leaves it unchanged). Each engine trial averages
``inner`` independent draws of the law: same mean, ``inner`` times smaller variance, far fewer engine
trials (whose per-trial work dominates the cost).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..claims import Claim, Statistic
from ..sampling import check_size

__all__ = ["Entry", "LawWeights", "trial_rng", "law_statistic", "constant_mask", "law_instance"]


@dataclass(frozen=True)
class Entry:
    """One library claim with what the report needs beyond the :class:`~sketchbound.claims.Claim`.

    ``assumptions``: the hypotheses of the source's statement, in words (what the default scenario
    satisfies); ``exact_value``: the closed form of the measured quantity where one exists, in words
    (the claim's ``exact`` computes it), else ``""``; ``event``: the statistic is an indicator (a
    probability claim), so the report adds the exact binomial upper bound of the measured probability."""

    claim: Claim
    assumptions: str
    exact_value: str = ""
    event: bool = False


def trial_rng(X: np.ndarray) -> np.random.Generator:
    """A generator seeded from the bits of a block of redrawn data ``X`` (the engine's seeded draw).

    Examples
    --------
    >>> X = np.ones((2, 3, 1))
    >>> float(trial_rng(X).random()) == float(trial_rng(X.copy()).random())
    True
    """
    digest = hashlib.blake2b(np.ascontiguousarray(X, dtype=np.float64).tobytes(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def law_statistic(name: str, draw, *, inner: int = 1) -> Statistic:
    """A :class:`~sketchbound.claims.Statistic` for a sketch law other than Algorithm 1.

    Parameters
    ----------
    name : str
        The statistic's name in reports.
    draw : callable
        ``draw(gen, w, k, m) -> values``: ``k`` independent draws of the law's quantity, one value
        (``(k,)``) or ``c`` components (``(k, c)``) each, from the generator ``gen`` (:func:`trial_rng`
        of the engine's block); ``m`` is the scenario's ``n`` (the sketch size where the law has one).
    inner : int
        Independent draws averaged into one engine trial (default 1). The trial's mean is the law's
        mean; its variance is ``1/inner`` of one draw's, so a precision costs ``inner`` times fewer
        engine trials (the engine's per-trial work is the expensive part).

    Returns
    -------
    Statistic
        ``(X, w, M) -> values``, one per engine trial; with one ``X`` (``d x n``, e.g. under
        ``--exact``) the single trial is repeated for every mask row of ``M`` (the law does not
        depend on the mask).

    Examples
    --------
    >>> st = law_statistic("one", lambda gen, w, k, m: np.ones(k), inner=4)
    >>> st(np.zeros((3, 2, 1)), None, np.ones((3, 2))).tolist()
    [1.0, 1.0, 1.0]
    """
    inner = check_size(inner, name="inner")

    def fn(X, w, M):
        X = np.asarray(X, dtype=np.float64)
        X3 = X if X.ndim == 3 else X[None]
        T = X3.shape[0]
        vals = np.asarray(draw(trial_rng(X3), w, T * inner, X3.shape[2]), dtype=np.float64)
        vals = vals.reshape((T, inner) + vals.shape[1:]).mean(axis=1)
        return vals if X.ndim == 3 else np.repeat(vals, np.shape(M)[0], axis=0)
    st = Statistic(name, fn)
    st.inner = inner
    return st


def constant_mask(X_tilde, w0) -> np.ndarray:
    """The (ignored) Algorithm-1 law of the law statistics: uniform over the ``d`` rows of ``w0``."""
    d = np.shape(w0)[0]
    return np.full(d, 1.0 / d)


class LawWeights(np.ndarray):
    """The weights a law statistic acts on, carrying the law's parameters (``.params``: e.g. the
    inclusion probabilities, the sample size ``s``, the queried subset) fixed by the instance."""

    def __new__(cls, values, **params):
        obj = np.asarray(values, dtype=np.float64).view(cls)
        obj.params = dict(params)
        return obj

    def __array_finalize__(self, obj):
        self.params = getattr(obj, "params", {})


def law_instance(w: LawWeights):
    """An :class:`~sketchbound.scenarios.Instance` whose target (``w0 = w*``) is ``w`` (no fixed data)."""
    from ..scenarios import Instance  # noqa: PLC0415
    return Instance(w0=w, w_star=w, X=None, X_tilde=None)
