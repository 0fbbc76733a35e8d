"""What a claim measures and how its mask is drawn: the :class:`Claim` record, per-trial statistics,
mask laws and data laws.

The shipped statistics (:data:`ERROR`, :data:`OUTPUT`, :data:`SQ_DEV` for diagonal masks;
:data:`SKETCH_OUTPUT`, :data:`SKETCH_SQ_DEV` for sketches), the ``probabilities`` callables
(:func:`optimal_masks`, :func:`uniform_masks`, :func:`tempered_masks`) of a :class:`Claim`, the names of the mask laws (:data:`MASK_LAWS`), how the engine draws
them (:func:`draw_law`) and a fixed data set as a claim's instance (:func:`fixed_data`). Imported by
:mod:`sketchbound.claims` (the registry), which re-exports them.

Two kinds of law
----------------
* diagonal masks (:data:`DIAGONAL_LAWS`: Algorithm 1, Poisson/Horvitz–Thompson, priority, systematic
  without replacement; :mod:`sketchbound.sampling`): a trial is a mask ``m`` (``d``), the statistic
  gets ``M`` (``T x d``) and the pruned weights of trial ``t`` are ``w ⊙ M[t]``;
* sketches (:data:`SKETCH_LAWS`: CountSketch, Gaussian/JL; :mod:`sketchbound.sketches`): a trial is a
  matrix ``S`` (``k x d``, ``k`` = the scenario's ``s``, the sketch size), the statistic gets ``S``
  (``T x k x d``) and estimates from ``Sx`` and ``Sw`` (:data:`SKETCH_OUTPUT`: ``(SX)ᵀ(Sw)``, unbiased
  for ``Xᵀw``). A statistic says which it takes (``Statistic(..., sketch=True)``); a claim pairing a
  law with a statistic of the other kind is refused (:func:`check_law`).

Data laws: fixed ``X`` (``x_mode="fixed"``: the scenario's Gaussian draw, or a data set of your own
through :func:`fixed_data`), ``X`` redrawn from ``N(0, I/n)`` every trial (``x_mode="redrawn"``) or from
a callable of your own (``Claim.data``, with ``x_mode="redrawn"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import sampling, theory
from .sketches import SKETCHES, draw_sketch
from .probabilities import optimal_probabilities, tempered_probabilities, uniform_probabilities
from .tails import error_unseen_mass, output_unseen_mass, sq_dev_unseen_mass

__all__ = ["Claim", "Statistic", "ERROR", "OUTPUT", "SQ_DEV", "SKETCH_OUTPUT", "SKETCH_SQ_DEV", "MASK_LAWS", "DIAGONAL_LAWS",
           "SKETCH_LAWS", "optimal_masks", "uniform_masks", "tempered_masks", "check_law", "draw_law", "fixed_data",
           "sketched_outputs"]

class Statistic:
    """A named per-trial statistic ``(X, w, M) -> values`` (see the module doc).

    ``given_x``: optional ``(X, w, p, s) -> E_m[statistic]`` for Algorithm 1 with probabilities
    ``p`` on fixed ``X`` (closed form); ``depends_on``: the claims that prove that closed form.
    ``enumerable``: the statistic accepts every Algorithm-1 outcome at once (``M`` of any row count);
    only then does ``estimator="auto"`` enumerate small instances without being asked (``--exact``).
    ``unseen``: optional ``(X, w, p, s, rare) -> U``, the exact part of ``E_m[statistic]`` carried by
    the trials that draw an index of the boolean mask ``rare`` under Algorithm 1; with it the engine
    covers rarely drawn indices exactly (:mod:`sketchbound.tails`). ``unseen_from``: the claims that
    closed form leans on (a claim among them only uses it to refuse ``holds``, never to estimate).
    ``value_range``: optional ``(X, w, p, s) -> (lo, hi)``, bounds every value can take under Algorithm 1
    on fixed ``X`` (bounded or sign-known statistics): where the t-interval's skewness rule blocks a
    look, a distribution-free (empirical Bernstein) interval may still decide it. ``event``: every value
    is 0 or 1 (a probability claim): the engine samples plainly and decides with the exact
    Clopper–Pearson interval (:func:`sketchbound.intervals.clopper_pearson_interval`), valid for any
    event probability, so neither the skewness rule nor rare indices block it. ``sketch``: the statistic
    takes sketch matrices ``S`` (``T x k x d``, a :data:`SKETCH_LAWS` law) in place of diagonal masks;
    the closed forms above are about diagonal masks (Algorithm 1), so a sketch statistic carries none
    of them.

    Parameters
    ----------
    name : str
        The statistic's name in reports.
    fn : callable
        ``(X, w, M) -> values`` (``(T,)`` or ``(T, k)``).
    given_x, depends_on, enumerable, unseen, unseen_from, value_range, event, sketch
        As above (all optional).

    Examples
    --------
    >>> import numpy as np
    >>> S = Statistic("total", lambda X, w, M: (M * w) @ X.sum(axis=1))
    >>> S(np.ones((2, 1)), np.array([1.0, 2.0]), np.ones((3, 2))).tolist()
    [3.0, 3.0, 3.0]
    """

    def __init__(self, name: str, fn: Callable, *, given_x: Callable | None = None,
                 depends_on: tuple[str, ...] = (), enumerable: bool = False, unseen: Callable | None = None,
                 unseen_from: tuple[str, ...] = (), value_range: Callable | None = None, event: bool = False,
                 sketch: bool = False):
        self.name, self.fn, self.given_x, self.depends_on = name, fn, given_x, tuple(depends_on)
        self.enumerable, self.unseen, self.unseen_from = bool(enumerable), unseen, tuple(unseen_from)
        self.value_range, self.event, self.sketch = value_range, bool(event), bool(sketch)
        if self.sketch:
            diag = [f for f in ("given_x", "unseen", "value_range") if getattr(self, f) is not None]
            diag += ["enumerable"] if self.enumerable else []
            if diag:
                raise ValueError(f"statistic {name!r}: sketch=True takes no {', '.join(diag)} (closed forms of "
                                 "Algorithm 1's diagonal mask); accepted with sketch=True: depends_on, event")

    def __call__(self, X, w, M):
        return self.fn(X, w, M)

    def __repr__(self):
        return f"Statistic({self.name!r})"

    def __eq__(self, other):
        # compatibility: code written when statistics were strings compares ``claim.statistic == "output"``
        if isinstance(other, str):
            return self.name == other
        return self is other

    __hash__ = object.__hash__


def error_rows(X, w, M):
    """``||Xᵀw − Xᵀ(w ⊙ m)||²`` for each mask row of ``M``."""
    if X.ndim == 3:  # one X per mask
        R = np.einsum("td,tdn->tn", w * (1.0 - M), X)
    else:
        R = (w * (1.0 - M)) @ X
    return np.einsum("tn,tn->t", R, R)


def _output(X, w, M):
    if X.ndim != 2:
        raise ValueError("the output statistic needs a fixed X")
    return (M * w) @ X


def _sq_dev(X, w, M):
    if X.ndim != 2:
        raise ValueError("the sq_dev statistic needs a fixed X")
    return ((M * w) @ X - X.T @ w) ** 2


def _error_range(X, w, p, s):
    """``0 <= err <= (Σ_k ||w_k X_(k)|| max(1, 1/p_k − 1))²``: Algorithm 1's ``m_k`` lies in ``[0, 1/p_k]``."""
    a = np.abs(w) * np.linalg.norm(X, axis=1)
    pa = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        f = np.where(pa > 0, np.maximum(1.0, 1.0 / np.where(pa > 0, pa, 1.0) - 1.0), 1.0)
    return 0.0, float(np.sum(a * f) ** 2)


#: the error of the masked linear features; its E_m given X is the Lemma 4.3 equality (sum of B.2's
#: variances, unbiased by B.1)
ERROR = Statistic("error", error_rows, given_x=theory.algorithm1_error, depends_on=("B.1", "B.2", "4.3"),
                  enumerable=True, unseen=error_unseen_mass, unseen_from=("B.1", "B.2", "4.3"), value_range=_error_range)
OUTPUT = Statistic("output", _output, enumerable=True, unseen=output_unseen_mass)
SQ_DEV = Statistic("sq_dev", _sq_dev, enumerable=True, unseen=sq_dev_unseen_mass, unseen_from=("B.2",))


def optimal_masks(X_tilde, w0):
    """Algorithm 1's law with eq. (2) of ``(X̃, w0)``.

    Parameters
    ----------
    X_tilde : ndarray, ``(d, n)``
        The data the mask is found on.
    w0 : ndarray, ``(d,)``

    Returns
    -------
    ndarray, ``(d,)``
        ``p_k ∝ ||X̃_(k)|| |w0_k|``.

    Examples
    --------
    >>> optimal_masks(np.ones((2, 1)), np.array([1.0, 3.0])).tolist()
    [0.25, 0.75]
    """
    return optimal_probabilities(X_tilde, w0)


def uniform_masks(X_tilde, w0):
    """Algorithm 1's law with ``p = 1/d`` (Lemma 4.5).

    Parameters
    ----------
    X_tilde : ndarray
        Ignored.
    w0 : ndarray, ``(d,)``

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> uniform_masks(None, np.zeros(4)).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    return uniform_probabilities(np.shape(w0)[0])


def tempered_masks(beta: float) -> Callable:
    """The law ``p ∝ p0^β`` of ``(X̃, w0)`` (β = 0 uniform, β = 1 eq. (2)), as a ``probabilities`` callable.


    Parameters
    ----------
    beta : float
        The temperature ``β``.

    Returns
    -------
    callable
        ``(X̃, w0) -> p``.

    Examples
    --------
    >>> tempered_masks(0.5).__name__
    'tempered_masks(0.5)'
    """
    def law(X_tilde, w0):
        return tempered_probabilities(optimal_probabilities(X_tilde, w0), beta)
    law.__name__ = f"tempered_masks({beta!r})"
    return law


@dataclass(frozen=True)
class Claim:
    """A claim: what is measured and against what, never how (the engine, :mod:`sketchbound.montecarlo`,
    decides; :mod:`sketchbound.claims` registers). Frozen; ``dataclasses.replace`` makes a variant.

    Parameters
    ----------
    id, name, statement, quantity : str
        Identifier (letters, digits, ``._-``), title, the statement in words and what is measured.
    relation : str
        ``"="`` (``exact`` is the measured quantity) or ``"<="`` (``bound`` bounds it).
    statistic : callable
        ``(X, w, M) -> values`` (``(T,)`` or ``(T, k)``), the per-trial quantity: ``M`` holds ``T`` masks
        (``T x d``) or, under a sketch law, ``T`` sketches (``T x s x d``; the statistic must be a
        :class:`Statistic` with ``sketch=True``); ``X`` is ``d x n`` or ``T x d x n``; ``w`` the
        ``target`` weights. Default :data:`ERROR`.
    probabilities : callable
        ``(X_tilde, w0) -> p`` (default eq. (2), :func:`optimal_masks`).
    mask_uses_data : bool
        False when ``probabilities`` ignores ``X̃`` (no ``X̃`` is drawn).
    mask_law : str
        One of :data:`MASK_LAWS` (default ``"algorithm1"``); Rao-Blackwell, derived and enumeration
        routes exist for Algorithm 1 only, ``exact_from`` is refused for :data:`SKETCH_LAWS`.
    data : callable or None
        The data law of a ``x_mode="redrawn"`` claim, ``(scenario, generator) -> X`` (``d x n``), one
        fresh draw per call; ``None``: ``X ~ N(0, I/n)``. ``X̃`` follows the same law.
    target : str
        ``"w_star"`` (default) or ``"w0"``: the weights the statistic gets.
    exact, bound, scale : callable or None
        ``(instance, scenario) -> value``: the measured quantity's closed form, the claimed bound, and
        (``=`` claims) the size a relative precision refers to (default ``|exact|``).
    scenario, hypotheses : dict
        Overrides of the default :class:`~sketchbound.scenarios.Scenario`; the settings the statement
        assumes (a check outside them is flagged).
    source : str
        Where the statement comes from.
    instance_factory : callable or None
        ``(scenario, generator) -> Instance`` instead of ``Scenario.instance`` (Theorem 6.2's MLP;
        :func:`fixed_data` for a data set of your own).
    dimension : callable or None
        ``scenario -> d`` (overrides ``Scenario.d``; the default ``s`` is then 10% of ``d``).
    max_trials : int or None
        Default trial cap (``None``: the engine's default for its ``x_mode``).
    evaluate : callable or None
        Deterministic identities (§5): ``(instance, scenario, generator) -> (value, extra)``; holds if
        ``value <= tolerance``.
    tolerance : float
        See ``evaluate``.
    exact_from : tuple of str
        Claims whose checked equality makes ``exact`` the closed form on this instance (a ``<=``
        claim on fixed inputs then gets a ``derived`` verdict; :func:`sketchbound.claims.exact_from_coverage`).
    precondition : callable or None
        ``(instance, scenario) -> None`` or the reason the drawn instance is outside the statement
        (then ``inconclusive``, flagged).

    Examples
    --------
    >>> c = Claim(id="t", name="n", statement="s", relation="=", quantity="q", exact=lambda i, sc: 0.0)
    >>> c.mask_law, c.deterministic
    ('algorithm1', False)
    """

    id: str
    name: str
    statement: str
    relation: str
    quantity: str
    statistic: Callable = ERROR
    probabilities: Callable = optimal_masks
    mask_uses_data: bool = True
    mask_law: str = "algorithm1"
    data: Callable | None = None
    target: str = "w_star"
    exact: Callable | None = None
    bound: Callable | None = None
    scenario: dict = field(default_factory=dict)
    source: str = ""
    scale: Callable | None = None
    hypotheses: dict = field(default_factory=dict)
    instance_factory: Callable | None = None
    dimension: Callable | None = None
    max_trials: int | None = None
    evaluate: Callable | None = None
    tolerance: float = 1e-10
    exact_from: tuple = ()
    precondition: Callable | None = None

    @property
    def ntk(self) -> bool:
        return self.instance_factory is not None

    @property
    def deterministic(self) -> bool:
        return self.evaluate is not None


#: the diagonal-mask laws, drawn from a claim's probabilities ``p`` and ``s`` (:mod:`sketchbound.sampling`):
#: Algorithm 1 (``s`` i.i.d. draws, ``m = c/(s p)``), Poisson/Horvitz–Thompson (``bernoulli``: independent
#: inclusion with ``π = min(1, κ p)``, ``Σ π = s``, ``m = 1/π``), priority sampling (Duffield–Lund–Thorup)
#: and systematic πps sampling without replacement (Horvitz–Thompson weights)
DIAGONAL_LAWS = ("algorithm1", "bernoulli", "priority", "without-replacement")
#: the sketch laws (:mod:`sketchbound.sketches`): ``k x d`` matrices with ``k = s``, independent of ``p``
SKETCH_LAWS = SKETCHES
#: every law a claim may name (``Claim.mask_law``). Rao-Blackwell, derived and enumeration routes exist
#: for Algorithm 1 only; ``exact_from`` is refused for sketch laws (no enumeration checks their closed forms).
MASK_LAWS = DIAGONAL_LAWS + SKETCH_LAWS


def sketched_outputs(X, w, S) -> np.ndarray:
    """``(S X)ᵀ (S w)`` for every sketch ``S`` (``T x k x d``): the sketched estimate of ``Xᵀw``.

    Parameters
    ----------
    X : ndarray
        ``d x n`` (shared by the sketches) or ``T x d x n`` (one per sketch).
    w : ndarray, ``(d,)``
    S : ndarray, ``(T, k, d)``

    Returns
    -------
    ndarray, ``(T, n)``

    Examples
    --------
    >>> sketched_outputs(np.eye(2), np.array([1.0, 2.0]), np.eye(2)[None]).tolist()
    [[1.0, 2.0]]
    """
    S = np.asarray(S, dtype=float)
    if S.ndim != 3:
        raise ValueError(f"a sketch statistic needs sketches S of shape (T, k, d); got shape {S.shape}")
    SX = S @ X if X.ndim == 2 else np.einsum("tkd,tdn->tkn", S, X)
    return np.einsum("tkn,tk->tn", SX, S @ w)


def _sketch_sq_dev(X, w, S):
    if X.ndim != 2:
        raise ValueError("the sketched sq_dev statistic needs a fixed X")
    return (sketched_outputs(X, w, S) - X.T @ w) ** 2


#: ``⟨S X_{:,j}, S w⟩`` for every output ``j``: unbiased for ``(Xᵀw)_j`` under both sketch laws
SKETCH_OUTPUT = Statistic("sketched output", sketched_outputs, sketch=True)
#: ``(⟨S X_{:,j}, S w⟩ − (Xᵀw)_j)²``: its mean is the variance (:func:`sketchbound.sketches.sketch_inner_variance`)
SKETCH_SQ_DEV = Statistic("sketched sq_dev", _sketch_sq_dev, sketch=True)


def check_law(claim) -> None:
    """Refuse a claim whose statistic does not take the trials of its mask law (``ValueError`` naming the
    claim, the law and what is accepted).

    Parameters
    ----------
    claim : sketchbound.claims.Claim

    Returns
    -------
    None

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> check_law(get_claim("4.1")) is None
    True
    """
    law, stat = claim.mask_law, claim.statistic
    where = f"claim {claim.id!r}"
    if law not in MASK_LAWS:
        raise ValueError(f"{where}: mask_law must be one of {', '.join(MASK_LAWS)}; got {law!r}")
    sketch = bool(getattr(stat, "sketch", False))
    name = getattr(stat, "name", getattr(stat, "__name__", "?"))
    if law in SKETCH_LAWS and not sketch:
        raise ValueError(f"{where}: mask law {law!r} draws sketch matrices S (T x k x d), not diagonal masks; its "
                         f"statistic {name!r} takes diagonal masks. Accepted: a Statistic(..., sketch=True) such as "
                         f"SKETCH_OUTPUT or SKETCH_SQ_DEV, or a diagonal law ({', '.join(DIAGONAL_LAWS)})")
    if law in DIAGONAL_LAWS and sketch:
        raise ValueError(f"{where}: statistic {name!r} takes sketch matrices; mask law {law!r} draws diagonal masks. "
                         f"Accepted with a sketch statistic: mask_law in {', '.join(SKETCH_LAWS)}")


def draw_law(claim, p, s: int, gen, trials: int | None = None) -> np.ndarray:
    """The trials of the claim's mask law: diagonal masks (``trials x d``, or one ``d``-vector) from
    probabilities ``p`` and size ``s``, or sketches (``trials x s x d``; ``p`` gives ``d`` only).

    Parameters
    ----------
    claim : sketchbound.claims.Claim
        Its ``mask_law`` and statistic (checked with :func:`check_law`).
    p : ndarray, ``(d,)``
        The claim's probabilities (a sketch law uses only their length).
    s : int
        Sample size, or the sketch size ``k``.
    gen : numpy.random.Generator
    trials : int, optional
        Number of trials (``None``: one mask, or one ``(1, k, d)`` sketch).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> c = Claim(id="cs", name="n", statement="s", relation="=", quantity="q", exact=lambda i, sc: 0.0,
    ...           statistic=SKETCH_OUTPUT, mask_law="countsketch")
    >>> draw_law(c, np.full(5, 0.2), 3, np.random.default_rng(0), 2).shape  # 2 sketches, k = s = 3, d = 5
    (2, 3, 5)
    """
    check_law(claim)
    law = claim.mask_law
    if law in SKETCH_LAWS:
        return draw_sketch(law, np.shape(p)[0], s, rng=gen, trials=1 if trials is None else trials)
    if law == "algorithm1":
        return sampling.algorithm1(p, s, rng=gen, trials=trials)
    if law == "bernoulli":
        return sampling.bernoulli(p, s, rng=gen, trials=trials)
    if law == "priority":
        return sampling.priority(p, s, rng=gen, trials=trials)
    return sampling.without_replacement(p, s, rng=gen, design="systematic", weighted=True, trials=trials)


def fixed_data(X, w0, w_star=None, X_tilde=None) -> Callable:
    """A claim's ``instance_factory`` for a fixed data set of your own (``x_mode="fixed"``).

    Parameters
    ----------
    X : array_like, ``(d, n)``
        The data (finite).
    w0 : array_like, ``(d,)``
        The weights the mask is found on.
    w_star : array_like, optional
        The weights it is applied to (default ``w0``).
    X_tilde : array_like, optional
        The data the mask is found on (default ``X``).

    Returns
    -------
    callable
        ``(scenario, generator) -> Instance``; the scenario's ``d`` and ``n`` must match ``X``.

    Examples
    --------
    >>> make = fixed_data(np.ones((3, 2)), np.arange(1.0, 4.0))
    >>> make(None, None).w_star.tolist()
    [1.0, 2.0, 3.0]
    """
    from .scenarios import Instance  # noqa: PLC0415

    X = np.array(X, dtype=float)
    w0 = np.array(w0, dtype=float)
    ws = w0.copy() if w_star is None else np.array(w_star, dtype=float)
    Xt = X if X_tilde is None else np.array(X_tilde, dtype=float)
    for name, a, nd in (("X", X, 2), ("w0", w0, 1), ("w_star", ws, 1), ("X_tilde", Xt, 2)):
        if a.ndim != nd or not np.all(np.isfinite(a)) or (X.ndim == 2 and a.shape[0] != X.shape[0]):
            raise ValueError(f"fixed_data: {name} must be a finite {nd}-D array with one row per weight (X is d x n); "
                             f"got shape {a.shape}")
    if Xt.shape != X.shape:
        raise ValueError(f"fixed_data: X_tilde must have X's shape {X.shape}; got {Xt.shape}")

    def factory(sc, gen):
        if sc is not None and (sc.d, sc.n) != X.shape:
            raise ValueError(f"fixed_data: the scenario's (d, n) = ({sc.d}, {sc.n}) must be X's shape {X.shape}")
        return Instance(w0=w0, w_star=ws, X=X, X_tilde=Xt)
    return factory
