"""The registry of the paper's claims: one small declarative :class:`Claim` per lemma/theorem.

A claim says *what* is measured and against what, never *how*: the Monte-Carlo loop, the
statistics and the verdict live in :mod:`sketchbound.montecarlo`, the reporting in
:mod:`sketchbound.report`. The paper's claims are the entries of ``sketchbound/_paper_claims.py`` (their
closed forms in :mod:`sketchbound.theory`); register one of your own with :func:`register` or from a file
(``validate --claims-from FILE``); the engine never looks at a claim's id. :class:`Claim` and the
statistics and laws live in :mod:`sketchbound.laws` and are re-exported here.

Fields
------
``statistic`` — a callable ``(X, w, M) -> values``: the per-trial quantity the engine samples, for
  masks ``M`` (``T x d``) on data ``X`` (``d x n`` shared by the ``T`` masks, or ``T x d x n``, one
  ``X`` per mask) and the claim's ``target`` weights ``w``; returns ``(T,)`` or ``(T, k)`` (``k``
  components, e.g. one per output). The shipped ones are :data:`ERROR` (``||Xᵀw − Xᵀ(w ⊙ m)||²``),
  :data:`OUTPUT` (the masked outputs, Lemma B.1) and :data:`SQ_DEV` (squared deviation per output,
  Lemma B.2). A :class:`Statistic` may also carry ``given_x``: its expectation over Algorithm 1's
  mask in closed form, ``(X, w, p, s) -> E_m[statistic | X]``, which the Rao-Blackwellised estimator
  uses (Monte-Carlo over ``X`` only).
``probabilities`` — ``(X_tilde, w0) -> p`` (default eq. (2), :func:`optimal_masks`; :func:`uniform_masks`
  for Lemma 4.5, :func:`tempered_masks` for ``p0^β``). ``mask_uses_data=False`` says ``p`` does not
  look at ``X̃`` (no ``X̃`` is drawn for it).
``mask_law`` — how the mask is drawn (:data:`MASK_LAWS`): from ``p``, ``"algorithm1"`` (default),
  ``"bernoulli"`` (Poisson/Horvitz–Thompson), ``"priority"``, ``"without-replacement"`` (systematic πps);
  or a sketch ``S`` (``s x d``) passed to a ``Statistic(..., sketch=True)``: ``"countsketch"``,
  ``"gaussian"`` (:mod:`sketchbound.laws`). Rao-Blackwell, derived and enumeration routes exist for
  Algorithm 1 only; ``exact_from`` is refused for sketch laws.
``data`` — the data law of a ``x_mode="redrawn"`` claim, ``(scenario, generator) -> X`` (default
  ``N(0, I/n)``); ``X̃`` follows the same law.
A :class:`Statistic` may declare ``given_x``, ``enumerable``, ``unseen`` (its unseen mass on rarely
  drawn indices, :mod:`sketchbound.tails`) and ``value_range`` (:mod:`sketchbound.laws`); all optional.
``evaluate`` — for deterministic identities (§5): ``(instance, scenario, generator) -> (value, extra)``;
  the claim holds if ``value <= tolerance``.
``exact`` / ``bound`` — callables ``(instance, scenario) -> value`` (``None`` if not applicable).
``exact_from`` — ids of the claims whose (checked) equality makes ``exact`` the closed form of the
  measured quantity *on this instance*; a ``<=`` claim on fixed inputs with ``exact_from`` gets a
  ``derived`` verdict (exact vs bound), cross-checked by plain Monte-Carlo and by exact enumeration
  of its law on small instances. The ids must cover the claim's statistic and law
  (:func:`exact_from_coverage`: the statistic's ``depends_on`` under Algorithm 1, or registered claims
  measuring the same statistic under the same law); otherwise checking it is a ``ValueError``.
``scenario`` — overrides of the default :class:`~sketchbound.scenarios.Scenario`.
"""
from __future__ import annotations

# error_rows and the names in __all__ stay importable from here (they live in laws.py)
from .laws import (ERROR, MASK_LAWS, OUTPUT, SKETCH_LAWS, SKETCH_OUTPUT, SKETCH_SQ_DEV, SQ_DEV, Claim, Statistic,
                   check_law, error_rows, fixed_data, optimal_masks, tempered_masks, uniform_masks)
from ._paper_claims import PAPER_CLAIMS

__all__ = ["Claim", "Statistic", "CLAIMS", "ERROR", "OUTPUT", "SQ_DEV", "SKETCH_OUTPUT", "SKETCH_SQ_DEV", "MASK_LAWS",
           "get_claim", "get_claims", "claim_ids", "optimal_masks", "uniform_masks", "tempered_masks", "fixed_data",
           "register", "unregister", "check_claim", "exact_from_coverage", "load_claims"]


CLAIMS: list[Claim] = list(PAPER_CLAIMS)

_BY_ID = {c.id: c for c in CLAIMS}
_ALIASES = {"thm4.4": "4.4", "bridge": "bridge-va"}
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_CALLABLE_FIELDS = ("exact", "bound", "scale", "instance_factory", "dimension", "evaluate", "precondition", "data")


# -------------------------------------------------------------------------------------------------
# claims of your own
# -------------------------------------------------------------------------------------------------
def check_claim(claim) -> "Claim":
    """Raise ``ValueError`` naming the claim, the field and what is accepted if ``claim`` is malformed.

    Parameters
    ----------
    claim : Claim

    Returns
    -------
    Claim
        ``claim`` itself.

    Examples
    --------
    >>> check_claim(get_claim("4.1")).id
    '4.1'
    """
    if not isinstance(claim, Claim):
        raise ValueError(f"a claim must be a sketchbound.claims.Claim, got {type(claim).__name__}")
    cid = claim.id
    if not isinstance(cid, str) or not cid or not set(cid) <= _ID_CHARS:
        raise ValueError(f"claim id must be a non-empty string of letters, digits, '.', '_', '-' (it names "
                         f"report files); got {cid!r}")
    where = f"claim {cid!r}"
    for f in ("name", "statement", "quantity"):
        if not isinstance(getattr(claim, f), str) or not getattr(claim, f).strip():
            raise ValueError(f"{where}: {f} must be a non-empty string; got {getattr(claim, f)!r}")
    if claim.relation not in ("=", "<="):
        raise ValueError(f"{where}: relation must be '=' or '<='; got {claim.relation!r}")
    if not callable(claim.statistic) or not callable(claim.probabilities):
        raise ValueError(f"{where}: statistic and probabilities must be callables")
    for f in _CALLABLE_FIELDS:
        v = getattr(claim, f)
        if v is not None and not callable(v):
            raise ValueError(f"{where}: {f} must be a callable or None; got {type(v).__name__}")
    if claim.relation == "<=" and claim.bound is None:
        raise ValueError(f"{where}: a '<=' claim needs a bound callable (instance, scenario) -> value")
    if claim.relation == "=" and claim.exact is None:
        raise ValueError(f"{where}: an '=' claim needs an exact callable (instance, scenario) -> value")
    if claim.target not in ("w0", "w_star"):
        raise ValueError(f"{where}: target must be 'w0' or 'w_star'; got {claim.target!r}")
    if not isinstance(claim.scenario, dict) or not isinstance(claim.hypotheses, dict):
        raise ValueError(f"{where}: scenario and hypotheses must be dicts of Scenario fields")
    from .scenarios import Scenario  # noqa: PLC0415
    fields = set(Scenario.__dataclass_fields__)
    for f in ("scenario", "hypotheses"):
        bad = set(getattr(claim, f)) - fields
        if bad:
            raise ValueError(f"{where}: {f} has unknown keys {sorted(bad)}; known: {', '.join(sorted(fields))}")
    try:
        Scenario().replace(**claim.scenario)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: scenario {claim.scenario!r} is invalid: {e}") from None
    if claim.max_trials is not None and (isinstance(claim.max_trials, bool) or not isinstance(claim.max_trials, int)
                                         or claim.max_trials < 2):
        raise ValueError(f"{where}: max_trials must be an integer >= 2 or None; got {claim.max_trials!r}")
    if not isinstance(claim.exact_from, tuple) or not all(isinstance(x, str) for x in claim.exact_from):
        raise ValueError(f"{where}: exact_from must be a tuple of claim ids; got {claim.exact_from!r}")
    check_law(claim)
    if claim.exact_from and claim.mask_law in SKETCH_LAWS:
        raise ValueError(exact_from_coverage(claim))
    return claim


def exact_from_coverage(claim: Claim) -> str | None:
    """``None`` if the claims named in ``claim.exact_from`` cover its statistic and mask law, else why not.

    They cover it when each id is either one of the claims that prove the statistic's closed form
    (``statistic.depends_on``, results about Algorithm 1 with any ``p``: the claim's law must be
    ``algorithm1``) or a registered claim that measures the same statistic under the same mask law.


    Parameters
    ----------
    claim : Claim

    Returns
    -------
    str or None

    Examples
    --------
    >>> exact_from_coverage(get_claim("4.3b")) is None
    True
    """
    stat = claim.statistic
    if claim.mask_law in SKETCH_LAWS:
        return (f"claim {claim.id!r}: exact_from={claim.exact_from!r} is refused under mask law {claim.mask_law!r}: no "
                "enumeration of a sketch law checks a closed form, so no derived verdict rests on one; accepted: "
                "exact_from=() (the claim is decided by sampling) or a diagonal law")
    proven = set(getattr(stat, "depends_on", ()) or ()) if claim.mask_law == "algorithm1" else set()
    bad = []
    for cid in claim.exact_from:
        other = _BY_ID.get(cid)
        same = other is not None and other.statistic is stat and other.mask_law == claim.mask_law
        if cid not in proven and not same:
            bad.append(cid)
    if not bad:
        return None
    name = getattr(stat, "name", getattr(stat, "__name__", "?"))
    return (f"claim {claim.id!r}: exact_from={claim.exact_from!r} does not cover its statistic {name!r} under mask law "
            f"{claim.mask_law!r} ({', '.join(bad)} prove(s) other statistics or laws); accepted: the claims that prove "
            f"the statistic's closed form under Algorithm 1 ({', '.join(sorted(proven)) or 'none'}) or claims measuring "
            "the same statistic under the same law")


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add ``claim`` to the registry (after :func:`check_claim`): ``validate --lemma ID``, ``--all``,
    the reliability study and the reports then include it. The engine needs nothing else: the claim
    carries its statistic, mask law, exact value and bound as callables. ``replace=True`` swaps a
    claim with the same id.

    Parameters
    ----------
    claim : Claim
    replace : bool
        Swap a registered claim with the same id.

    Returns
    -------
    Claim
        ``claim``.

    Examples
    --------
    >>> import dataclasses
    >>> c = register(dataclasses.replace(get_claim("4.1"), id="my-4.1"))
    >>> unregister("my-4.1"); "my-4.1" in claim_ids()
    False
    """
    check_claim(claim)
    if claim.id in _BY_ID:
        if not replace:
            raise ValueError(f"claim id {claim.id!r} is already registered; choose another id")
        CLAIMS[CLAIMS.index(_BY_ID[claim.id])] = claim
    else:
        CLAIMS.append(claim)
    _BY_ID[claim.id] = claim
    return claim


def unregister(cid: str) -> None:
    """Remove a claim registered with :func:`register` (the paper's own claims cannot be removed).

    Parameters
    ----------
    cid : str
        The id of a claim registered with :func:`register`; an unknown id is ignored.

    Returns
    -------
    None

    Examples
    --------
    >>> unregister("no-such-claim") is None
    True
    """
    if cid in _BUILTIN:
        raise ValueError(f"claim {cid!r} is one of the paper's; it cannot be unregistered")
    c = _BY_ID.pop(cid, None)
    if c is not None:
        CLAIMS.remove(c)


def load_claims(path) -> list[Claim]:
    """Run the Python file ``path``; every claim it registers with :func:`register` (or lists in a module-level
    ``CLAIMS``) joins the registry. Returns the new claims. Errors (no such file, the file raises, a
    malformed claim) are ``ValueError`` naming the file and the problem.

    The file is executed as Python code with the user's privileges, exactly like ``python FILE``: it can
    read, write and run anything the user can, so load only files you trust. Nothing here sandboxes it:
    its side effects happen even when it is then refused, and ``os._exit`` inside it ends the process
    (with its own status) before this function can say anything. What is caught: any exception it raises
    (``SystemExit`` from ``sys.exit`` included) and a file that registers no claim, both ``ValueError``
    naming the file (``python -m sketchbound.validate`` prints one line and exits 2); the registry is left
    as it was.

    Parameters
    ----------
    path : str or pathlib.Path
        The Python file.

    Returns
    -------
    list of Claim
        The claims it added.

    Examples
    --------
    >>> load_claims("no/such/file.py")
    Traceback (most recent call last):
    ValueError: --claims-from 'no/such/file.py': no such file
    """
    import runpy  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    p = Path(path)
    if str(path) == "" or not p.is_file():
        raise ValueError(f"--claims-from {str(path)!r}: no such file")
    before = list(CLAIMS)
    try:
        ns = runpy.run_path(str(p), run_name="sketchbound_user_claims")
        for c in ns.get("CLAIMS", []) or []:
            if not any(c is b for b in CLAIMS):
                register(c)
    except ValueError as e:
        _restore(before)
        raise ValueError(f"--claims-from {str(path)!r}: {e}") from None
    except BaseException as e:  # noqa: BLE001 - a user file may raise anything; say which and what
        _restore(before)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ValueError(f"--claims-from {str(path)!r}: the file raised {type(e).__name__}: {e}") from None
    new = [c for c in CLAIMS if not any(c is b for b in before)]
    if not new:
        raise ValueError(f"--claims-from {str(path)!r}: the file registers no claim (call "
                         "sketchbound.claims.register(Claim(...)) or define CLAIMS = [...])")
    return new


def _restore(before: list) -> None:
    CLAIMS[:] = before
    _BY_ID.clear()
    _BY_ID.update({c.id: c for c in CLAIMS})


def claim_ids() -> list[str]:
    """The ids of the registered claims, in registry order.

    Returns
    -------
    list of str

    Examples
    --------
    >>> claim_ids()[:3]
    ['4.1', '4.2', '4.3']
    """
    return [c.id for c in CLAIMS]


def get_claims(lemma: str) -> list[Claim]:
    """Claims for a user-facing id: ``"4.3"`` gives the equality line and the bound (4.3, 4.3b);
    ``"4.5"`` both bounds; an exact id (``"4.3b"``) just that one. Case-insensitive, ``B.1`` or ``b1``.

    Parameters
    ----------
    lemma : str
        A user-facing id.

    Returns
    -------
    list of Claim

    Examples
    --------
    >>> [c.id for c in get_claims("4.5")]
    ['4.5', '4.5c']
    """
    raw = str(lemma).strip().lower()
    key = raw.replace("lemma", "").replace("theorem", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key in ("b1", "b2"):
        key = "b." + key[1]
    matches = [c for c in CLAIMS if c.id.lower() in (raw, key)]
    family = [c for c in CLAIMS if c.id.lower().startswith(key) and c.id.lower()[len(key):] in ("b", "c")]
    out = matches + [c for c in family if c not in matches]
    if not out:
        raise ValueError(f"unknown lemma {lemma!r}; known: {', '.join(claim_ids())}")
    return out


def get_claim(cid: str) -> Claim:
    """The registered claim with id ``cid`` (exact id; ``ValueError`` naming it and the known ids).

    Parameters
    ----------
    cid : str

    Returns
    -------
    Claim

    Examples
    --------
    >>> get_claim("4.3b").relation
    '<='
    """
    if cid not in _BY_ID:
        raise ValueError(f"unknown claim id {cid!r}; known: {', '.join(claim_ids())}")
    return _BY_ID[cid]


_BUILTIN = frozenset(_BY_ID)
