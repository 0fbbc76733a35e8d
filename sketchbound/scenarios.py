"""Scenarios: how ``X``, ``X̃``, ``w0`` and ``w*`` are drawn for a check (paper §3–§4).

A :class:`Scenario` is a small frozen dataclass (d, n, s, init, c, x_mode, x_tilde, seed) that
becomes CLI flags (``--d --n --s --init --c``) and a row of the report. ``instance(seed)`` draws the
fixed parts (``w0``, ``w*``, and ``X``, ``X̃`` when they are fixed); ``draw_x(rng)`` draws a fresh
``X ~ N(0, I/n)`` (Theorem 4.4's data model) for checks whose expectation runs over ``X``.

Initialisations of ``w0`` (Table IV): ``kaiming`` N(0, 2/d), ``normal`` N(0, 0.01²), ``xavier``
N(0, 2/(d+1)) (a single output), ``uniform`` U[-1/√d, 1/√d] (PyTorch's default linear init). The
errors and bounds are homogeneous of degree 2 in the weights, so only the *shape* of the distribution
matters for verdicts, not its scale.

``w* = w0 ⊙ r`` with ``r_j ~ U[-c, c]`` and ``|r_j| = c`` for one ``j``, so ``max_j |w*_j/w0_j| = c``
exactly (Theorem 4.4's ``c``); ``c = 1`` and ``ratio="equal"`` gives ``w* = w0``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .sampling import as_generator, check_size

INITS = ("kaiming", "normal", "xavier", "uniform")
X_MODES = ("fixed", "redrawn")
X_TILDES = ("same", "independent")
RATIOS = ("uniform", "equal")
#: "linear": the §4 linear-feature scenarios; "mlp2": Theorem 6.2's two-layer MLP (sketchbound.ntk)
MODELS = ("linear", "mlp2")

__all__ = ["Scenario", "Instance", "INITS"]


@dataclass(frozen=True)
class Instance:
    """The drawn fixed parts of a scenario (``X``/``X̃`` are ``None`` when redrawn every trial).

    Parameters
    ----------
    w0, w_star : numpy.ndarray
        The initial weights ``w0`` and the target ``w* = w0 ⊙ r`` (length ``d``).
    X, X_tilde : numpy.ndarray or None
        The ``(d, n)`` data the error is measured on and the data the mask is found on.
    info : dict
        What a claim's instance factory measured on the way.

    Examples
    --------
    >>> inst = Scenario(d=4, n=2, s=2).instance(0)
    >>> inst.w0.shape, inst.X.shape
    ((4,), (4, 2))
    """

    w0: np.ndarray
    w_star: np.ndarray
    X: np.ndarray | None
    X_tilde: np.ndarray | None
    #: what a claim's instance factory measured on the way (e.g. Theorem 6.2's constants), reported in
    #: the Result's ``extra``
    info: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """Parameters of one check. Defaults: a 512-weight layer, 128 examples, 10% density (s = 51).

    Parameters
    ----------
    d, n, s : int
        Weights, examples (columns of ``X``) and draws of Algorithm 1.
    init : str
        Initialisation of ``w0``, one of :data:`INITS`.
    c : float
        ``max |w*/w0|`` (Theorem 4.4's ``c``).
    ratio : str
        ``"uniform"`` (``w* = w0 ⊙ U[-c, c]``) or ``"equal"`` (``w* = c·w0``).
    x_mode : str
        ``"fixed"`` or ``"redrawn"`` (the expectation runs over ``X``).
    x_tilde : str
        ``"same"`` or ``"independent"``: the data the mask is found on.
    model : str
        ``"linear"`` or ``"mlp2"`` (Theorem 6.2).
    width, steps, d_in, lr_factor
        Theorem 6.2's MLP: hidden width, GD steps, input dimension, η / η_critical.

    Examples
    --------
    >>> Scenario(d=8, s=2).label()
    'd=8 n=128 s=2 init=kaiming c=1 ratio=uniform X=fixed X~=independent'
    """

    d: int = 512
    n: int = 128
    s: int = 51
    init: str = "kaiming"
    c: float = 1.0
    ratio: str = "uniform"
    x_mode: str = "fixed"
    x_tilde: str = "independent"
    #: Theorem 6.2 (model="mlp2" only): hidden width, GD steps, input dimension, η / η_critical
    model: str = "linear"
    width: int = 256
    steps: int = 100
    d_in: int = 8
    lr_factor: float = 0.5

    def __post_init__(self):
        for name in ("d", "n", "s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
        if not (isinstance(self.c, (int, float)) and np.isfinite(self.c) and self.c > 0):
            raise ValueError(f"c must be a positive finite number, got {self.c!r}")
        if self.ratio not in RATIOS:
            raise ValueError(f"ratio must be one of {', '.join(RATIOS)}; got {self.ratio!r}")
        if self.x_mode not in X_MODES:
            raise ValueError(f"x_mode must be one of {', '.join(X_MODES)}; got {self.x_mode!r}")
        if self.x_tilde not in X_TILDES:
            raise ValueError(f"x_tilde must be one of {', '.join(X_TILDES)}; got {self.x_tilde!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}; got {self.model!r}")
        for name in ("width", "d_in"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {self.steps!r}")
        if not (isinstance(self.lr_factor, (int, float)) and 0 < self.lr_factor <= 1):
            raise ValueError(f"lr_factor must be in (0, 1] (η ≤ η_critical), got {self.lr_factor!r}")

    def replace(self, **kw) -> "Scenario":
        return dataclasses.replace(self, **kw)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def label(self) -> str:
        if self.model == "mlp2":
            return (f"mlp2 width={self.width} d_in={self.d_in} (d={self.d}) n={self.n} s={self.s} "
                    f"steps={self.steps} lr={self.lr_factor:g}·η_crit")
        return (f"d={self.d} n={self.n} s={self.s} init={self.init} c={self.c:g} ratio={self.ratio} "
                f"X={self.x_mode} X~={self.x_tilde}")

    # -- drawing ----------------------------------------------------------------------------------
    def draw_w0(self, rng) -> np.ndarray:
        g = as_generator(rng)
        d = self.d
        if self.init == "kaiming":
            w = g.normal(0.0, np.sqrt(2.0 / d), d)
        elif self.init == "normal":
            w = g.normal(0.0, 0.01, d)
        elif self.init == "xavier":
            w = g.normal(0.0, np.sqrt(2.0 / (d + 1)), d)
        else:
            w = g.uniform(-1.0 / np.sqrt(d), 1.0 / np.sqrt(d), d)
        # Theorem 4.4 assumes w0_j ≠ 0 (true with probability one; guard against exact zeros)
        w[w == 0] = np.finfo(float).tiny
        return w

    def draw_w_star(self, w0: np.ndarray, rng) -> np.ndarray:
        g = as_generator(rng)
        if self.ratio == "equal":
            return w0 * self.c
        r = g.uniform(-self.c, self.c, w0.shape[0])
        r[g.integers(w0.shape[0])] = self.c
        return w0 * r

    def draw_x(self, rng, size: int | None = None) -> np.ndarray:
        """``X ~ N(0, I/n)``: ``d x n`` (or ``size x d x n``), entries i.i.d. with variance ``1/n``."""
        g = as_generator(rng)
        shape = (self.d, self.n) if size is None else (size, self.d, self.n)
        return g.standard_normal(shape) / np.sqrt(self.n)

    def instance(self, seed) -> Instance:
        """Draw ``w0``, ``w*`` (and fixed ``X``, ``X̃``) reproducibly from ``seed``."""
        g = as_generator(seed)
        w0 = self.draw_w0(g)
        ws = self.draw_w_star(w0, g)
        if self.x_mode == "fixed":
            X = self.draw_x(g)
            Xt = X if self.x_tilde == "same" else self.draw_x(g)
        else:
            X = Xt = None
        return Instance(w0=w0, w_star=ws, X=X, X_tilde=Xt)


def s_grid(d: int) -> list[int]:
    """The default sweep over ``s``: densities 1%, 2%, 5%, 10%, 20%, 50% of ``d`` (at least 1)."""
    check_size(d, name="d")
    return sorted({max(1, int(round(f * d))) for f in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)})


def sparse_rows(X_shape: tuple[int, int], gen) -> np.ndarray:
    """§5.2 / §7 sparse data: for each row (feature) one randomly chosen example carries N(0, 1)."""
    d, n = X_shape
    g = as_generator(gen)
    X = np.zeros((d, n))
    X[np.arange(d), g.integers(0, n, d)] = g.standard_normal(d)
    return X
