"""The checks of a validation run, around the one engine (:func:`sketchbound.montecarlo.run_check`): each
claim's scenario, the claims in the order their verdicts lean on each other, their expansion into
``(claim, scenario)`` jobs, and the last pass that withholds a verdict leaning on a claim the same run
found violated. Re-exported by :mod:`sketchbound.montecarlo`.
"""
from __future__ import annotations

from .claims import Claim
from .results import Result
from .scenarios import Scenario

__all__ = ["claim_scenario", "order_by_dependencies", "expand_jobs", "withhold_dependents"]


def claim_scenario(claim: Claim, **overrides) -> Scenario:
    """The claim's default scenario (``Scenario()`` + the claim's overrides), then the user's overrides.

    For a claim with ``dimension`` (Theorem 6.2) ``d`` follows from the scenario and the default ``s``
    is 10% of it.

    Parameters
    ----------
    claim : Claim
        The claim (:func:`sketchbound.claims.get_claim`).
    **overrides
        :class:`~sketchbound.scenarios.Scenario` fields to set (``None`` values are ignored).

    Returns
    -------
    Scenario
        The scenario a check of ``claim`` runs on.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> sc = claim_scenario(get_claim("4.3"), d=6, n=3, s=2)
    >>> (sc.d, sc.n, sc.s)
    (6, 3, 2)
    """
    user = {k: v for k, v in overrides.items() if v is not None}
    sc = Scenario().replace(**claim.scenario).replace(**user)
    if claim.dimension is not None:
        d = int(claim.dimension(sc))
        sc = sc.replace(d=d, s=user.get("s", max(1, round(0.1 * d))))
    return sc


def _dependencies(claim: Claim) -> tuple[str, ...]:
    """The claim ids a verdict of ``claim`` may lean on (its derived exact value, or its statistic's
    closed form given X for the Rao-Blackwell estimator)."""
    deps = list(claim.exact_from)
    if claim.scenario.get("x_mode") == "redrawn":
        deps += list(getattr(claim.statistic, "depends_on", ()))
    return tuple(dict.fromkeys(d for d in deps if d != claim.id))


def order_by_dependencies(claims: list[Claim], registry: list[Claim] | None = None) -> list[Claim]:
    """``claims`` with the claims others lean on first (taken from ``registry`` when not selected,
    so that ``--all`` checks B.1, B.2 and 4.3 before the verdicts that use them); no duplicates.

    Parameters
    ----------
    claims : list of Claim
        The selected claims.
    registry : list of Claim, optional
        Where dependencies are looked up (default: every claim, :data:`sketchbound.claims.CLAIMS`).

    Returns
    -------
    list of Claim
        The selected claims, each after the claims it leans on.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> [c.id for c in order_by_dependencies([get_claim("4.3b"), get_claim("4.3"), get_claim("4.3")])]
    ['4.3', '4.3b']
    """
    from .claims import CLAIMS  # noqa: PLC0415

    registry = CLAIMS if registry is None else registry
    by_id = {c.id: c for c in registry}
    chosen = list({c.id: c for c in claims}.values())
    needed: list[str] = []

    def visit(c):
        for d in _dependencies(c):
            if d in by_id and d not in needed:
                visit(by_id[d])
                needed.append(d)
    for c in chosen:
        visit(c)
    ids = {c.id for c in chosen}
    first = [c for c in registry if c.id in needed and c.id in ids]
    return first + [c for c in chosen if c.id not in needed]


def expand_jobs(claims: list[Claim], *, overrides: dict | None = None, ntk_overrides: dict | None = None,
                widths: list[int] | None = None, s_values: list[int] | None = None,
                sweep: bool = False) -> list[tuple[Claim, Scenario]]:
    """One ``(claim, scenario)`` per check: each claim's default scenario with ``overrides``, swept over
    ``s_values`` (or the density grid with ``sweep``), and over ``widths`` for claims with an
    instance factory. Raises ``ValueError`` on options that do not apply to the selected claims.

    Parameters
    ----------
    claims : list of Claim
        The claims to check.
    overrides : dict, optional
        Scenario fields set on every claim (``None`` values ignored).
    ntk_overrides : dict, optional
        Scenario fields for claims with their own model (Theorem 6.2).
    widths : list of int, optional
        The widths swept for claims with their own model.
    s_values : list of int, optional
        The ``s`` values swept (default: the scenario's own ``s``).
    sweep : bool, optional
        Sweep ``s`` over the density grid of :func:`sketchbound.scenarios.s_grid`.

    Returns
    -------
    list of (Claim, Scenario)
        One job per check.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> jobs = expand_jobs([get_claim("4.3")], overrides={"d": 6, "n": 3}, s_values=[1, 2])
    >>> [(c.id, sc.d, sc.s) for c, sc in jobs]
    [('4.3', 6, 1), ('4.3', 6, 2)]
    >>> expand_jobs([get_claim("4.3")], widths=[8])
    Traceback (most recent call last):
    ValueError: --width only apply to claims with their own model (e.g. Theorem 6.2, --lemma 6.2); selected: 4.3
    """
    from .scenarios import s_grid  # noqa: PLC0415

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    ntk_overrides = {k: v for k, v in (ntk_overrides or {}).items() if v is not None}
    if (ntk_overrides or widths) and not any(c.ntk for c in claims):
        flags = [f"--{k.replace('_', '-')}" for k in ntk_overrides] + (["--width"] if widths else [])
        raise ValueError(f"{', '.join(flags)} only apply to claims with their own model (e.g. Theorem 6.2, "
                         f"--lemma 6.2); selected: {', '.join(c.id for c in claims)}")
    if "d" in overrides and any(c.dimension is not None for c in claims):
        raise ValueError("--d does not apply to Theorem 6.2 (d = width·(d_in+1)); use --width and --d-in")
    jobs = []
    for c in claims:
        for width in (widths or [None]) if c.ntk else [None]:
            extra = dict(ntk_overrides, width=width) if c.ntk else {}
            base = claim_scenario(c, **overrides, **extra)
            s_list = s_values or (s_grid(base.d) if sweep else
                                  [base.s if "d" not in overrides else max(1, round(0.1 * base.d))])
            jobs += [(c, base.replace(s=s)) for s in s_list]
    return jobs


def withhold_dependents(results: list[Result]) -> list[Result]:
    """The last pass of a run: a verdict that leans on a claim found *violated* in the same run becomes
    ``inconclusive`` (said in its note and chain). Changes ``results`` in place and returns it.

    Parameters
    ----------
    results : list of Result
        The run's results (each with ``claim``, ``verdict``, ``depends_on``, ``chain``, ``note``, ``reason``).

    Returns
    -------
    list of Result
        ``results``, changed in place.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> rs = [R(claim="4.3", verdict="violated", depends_on=()),
    ...       R(claim="4.3b", verdict="holds", depends_on=("4.3",), chain=[], note="", reason="")]
    >>> [r.verdict for r in withhold_dependents(rs)]
    ['violated', 'inconclusive']
    """
    violated = {r.claim for r in results if r.verdict == "violated"}
    for r in results:
        bad = [d for d in r.depends_on if d in violated]
        if bad and r.verdict != "inconclusive":
            r.chain = list(r.chain) + [f"WITHHELD: this verdict leans on {', '.join(bad)}, violated in this run"]
            r.note += f"; verdict withheld: it leans on {', '.join(bad)}, which this run found violated"
            r.reason = (f"inconclusive: the {r.verdict} verdict leans on {', '.join(bad)}, which this run found "
                        f"violated; no number of trials decides it while that fails (check it with --estimator plain)")
            r.verdict = "inconclusive"
    return results
