"""Rung 2 of the bridge: the two-layer NTK-regime MLP of :mod:`sketchbound.ntk`, widths 256 → 4096.

Choices (each one is a setting of :class:`NTKConfig`):

* **Model** (:mod:`sketchbound.ntk`): ``f(x; θ) = v · relu(W x) / √width``, ``θ = (vec W, v)`` i.i.d.
  ``N(0, 1)`` (:func:`sketchbound.ntk.init_mlp`, stream ``bridge-ntk-init-<width>`` of the seed),
  ``d = width (d_in + 1)``; two layers, ``W`` and ``v``.
* **Task**, small enough for a CPU: Fashion-MNIST T-shirt/top (class 0, ``y = +1``) against Shirt
  (class 6, ``y = −1``), the hardest pair of upper-body garments; ``n_train`` training images drawn once
  (stream ``bridge-ntk-data`` of seed 0) and every test image of the two classes. Pixels in ``[0, 1]``
  are centred with the training mean, projected on the training set's first ``d_in`` principal
  components and put on the unit sphere (assumption iii of Theorem 6.2, as
  :func:`sketchbound.ntk.make_batch` does).
* **Training** (``θ*`` and every masked model): ``steps`` steps of full-batch GD on
  ``½||f(𝒳) − 𝒴||²`` (:func:`gd`: back-propagation, the iterates of :func:`sketchbound.ntk.train_mlp`
  for the same ``η``) with ``η = lr_factor / λ_max`` of the model's own empirical NTK at its starting
  point (:func:`ntk_lambda_max`; ``< η_critical = 2/(λ_min + λ_max)`` for ``lr_factor = 1``). A masked
  model starts at ``θ₀ ⊙ m`` and only its kept coordinates move; its ``η`` is computed the same way
  at that start, because an Algorithm 1 mask rescales kept weights by ``1/(s p_k)`` (up to ``10⁴`` and
  more) and the dense network's ``η`` then diverges. Safeguard (:func:`train_safeguarded`): a run that
  diverges (non-finite, or ending above its starting training loss) is rerun with ``η`` halved; the
  ``lr`` column records the ``η`` used.
* **Lemma 4.3's setting** (§6, :mod:`sketchbound.ntk`): ``X = J(θ₀)ᵀ`` (d x n), ``w⁰ = θ₀`` for the laws
  and the prediction; the measured error is ``||J(θ_t)θ_t − J(θ_t)(θ_t ⊙ m)||²`` at the trained ``θ_t``.
  The laws act on the whole ``θ``; the §7 procedure takes its per-layer counts from the threshold of
  eq. (2) over ``θ`` and samples inside ``W`` and inside ``v``.
* **c, σ** per layer (``W`` and ``v``) from ``θ*`` of the pilot seeds, per width.
* **Columns** as rung 1 (``predicted_error_gaussian`` is empty: the paper's data-free forms are for
  the linear model); ``c, sigma`` are ``W``'s, ``c_out, sigma_out`` ``v``'s; test loss ``½ mean (f − y)²``,
  accuracy of the prediction ``+1 if f > 0 else −1`` (a dead mask, ``f ≡ 0``, predicts the second class).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ntk import init_mlp, mlp_forward, mlp_jacobian
from ..probabilities import optimal_probabilities, row_norms
from ..seeds import stream_rng
from ._mask_cell import mask_cell
from .laws import LAWS, PROCEDURES, estimate_c_sigma, keep_count, law_beta
from .linear import load_fashion_mnist

__all__ = ["NTKConfig", "ntk_task", "ntk_lambda_max", "gd", "train_safeguarded", "run_ntk"]


@dataclass(frozen=True)
class NTKConfig:
    """Settings of rung 2 (module docstring).

    Parameters
    ----------
    widths : tuple of int
        Hidden widths of the MLP.
    n_train : int
        Training images of the two classes.
    d_in : int
        Principal components kept (the MLP's input size).
    classes : tuple of int
        The ``+1`` and ``−1`` Fashion-MNIST classes.
    steps : int
        GD steps of every training.
    lr_factor : float
        ``η = lr_factor / λ_max``.
    seeds, pilot_seeds : tuple of int
        Evaluation seeds and the seeds whose ``θ*`` give ``c, σ``.
    densities : tuple of float

    Examples
    --------
    >>> NTKConfig.quick().widths
    (64,)
    """

    widths: tuple = (256, 1024, 4096)
    n_train: int = 128
    d_in: int = 16
    classes: tuple = (0, 6)
    steps: int = 50
    lr_factor: float = 1.0
    seeds: tuple = (0, 1, 2)
    pilot_seeds: tuple = (1000, 1001)
    densities: tuple = (0.1, 0.02, 0.005)

    @classmethod
    def quick(cls) -> "NTKConfig":
        """Toy size for the tests (seconds)."""
        return cls(widths=(64,), n_train=64, d_in=8, steps=10, seeds=(0, 1, 2), pilot_seeds=(1000,),
                   densities=(0.1,))


def ntk_task(cfg: NTKConfig, root=None):
    """``(X, y, Xte, yte)``: the two-class task of the module docstring (rows on the unit sphere, ``y = ±1``).

    Parameters
    ----------
    cfg : NTKConfig
    root : str or path, optional
        Fashion-MNIST folder (``--data-root``).

    Returns
    -------
    tuple of numpy.ndarray
        ``X`` (n_train, d_in), ``y`` (n_train,), ``Xte``, ``yte``.

    Examples
    --------
    >>> X, y, Xte, yte = ntk_task(NTKConfig.quick())  # doctest: +SKIP

    A folder without the IDX files is refused:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ntk_task(NTKConfig.quick(), root=d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: fashion-mnist not found ...
    """
    xtr, ytr, xte, yte = load_fashion_mnist(root)
    a, b = cfg.classes
    itr = np.flatnonzero((ytr == a) | (ytr == b))
    itr = np.sort(stream_rng(0, "bridge-ntk-data").choice(itr, cfg.n_train, replace=False))
    ite = np.flatnonzero((yte == a) | (yte == b))
    P = xtr[itr].reshape(itr.size, -1) / 255.0
    T = xte[ite].reshape(ite.size, -1) / 255.0
    mu = P.mean(axis=0)
    V = np.linalg.svd(P - mu, full_matrices=False)[2][: cfg.d_in].T
    X, Xte = (P - mu) @ V, (T - mu) @ V
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Xte /= np.linalg.norm(Xte, axis=1, keepdims=True)
    return X, np.where(ytr[itr] == a, 1.0, -1.0), Xte, np.where(yte[ite] == a, 1.0, -1.0)


def _parts(th, X, width, dtype):
    d_in = X.shape[1]
    W = th[: width * d_in].reshape(width, d_in)
    v = th[width * d_in:]
    H = X @ W.T
    return W, v, H, np.maximum(H, 0.0), (H > 0).astype(dtype), dtype(1.0 / np.sqrt(width))


def ntk_lambda_max(theta: np.ndarray, X: np.ndarray, width: int, keep: np.ndarray | None = None,
                   iters: int = 20) -> float:
    """``λ_max`` of the empirical NTK ``J_K J_Kᵀ`` at ``θ`` (``J_K``: the Jacobian's columns of the kept
    coordinates, all when ``keep`` is None), by ``iters`` power iterations through a Jacobian-vector and
    a vector-Jacobian product (no ``n x d`` Jacobian is formed), from the all-ones vector; float32.

    Parameters
    ----------
    theta : numpy.ndarray, shape (width * (d_in + 1),)
    X : numpy.ndarray, shape (n, d_in)
    width : int
    keep : numpy.ndarray of bool, optional
        The kept coordinates of ``theta``.
    iters : int
        Power iterations.

    Returns
    -------
    float

    Examples
    --------
    >>> from sketchbound.ntk import init_mlp, mlp_jacobian
    >>> X = np.random.default_rng(0).standard_normal((8, 3)); th = init_mlp(3, 16, 0)
    >>> J = mlp_jacobian(th, X, 16)
    >>> bool(abs(ntk_lambda_max(th, X, 16, iters=200) / np.linalg.eigvalsh(J @ J.T)[-1] - 1) < 1e-3)
    True
    """
    dt = np.float32
    X = np.asarray(X, dtype=dt)
    d_in = X.shape[1]
    W, v, H, A, D, rs = _parts(np.asarray(theta, dtype=dt), X, width, dt)
    kW = np.ones_like(W) if keep is None else keep[: width * d_in].reshape(width, d_in).astype(dt)
    kv = np.ones_like(v) if keep is None else keep[width * d_in:].astype(dt)
    z = np.ones(X.shape[0], dtype=dt) / np.sqrt(X.shape[0])
    lam = 0.0
    for _ in range(int(iters)):
        gW = ((z[:, None] * D) * v).T @ X * rs * kW  # VJP, restricted to the kept coordinates
        gv = A.T @ z * rs * kv
        z2 = ((D * (X @ gW.T)) @ v + A @ gv) * rs  # JVP
        lam = float(np.linalg.norm(z2))
        if not lam > 0:
            break
        z = z2 / lam
    return lam


def gd(theta0: np.ndarray, X: np.ndarray, y: np.ndarray, width: int, lr: float, steps: int,
       keep: np.ndarray | None = None, dtype=np.float32) -> np.ndarray:
    """``steps`` steps of GD on ``½||f(X; θ) − y||²`` (back-propagation), only coordinates with ``keep``
    moving (all when ``None``); returns ``θ_t`` (float64). The steps run in ``dtype`` (float32 by default:
    the ``n x width`` activations stay in cache, several times faster than float64 on a CPU).

    Parameters
    ----------
    theta0 : numpy.ndarray, shape (width * (d_in + 1),)
    X : numpy.ndarray, shape (n, d_in)
    y : numpy.ndarray, shape (n,)
    width : int
    lr : float
    steps : int
    keep : numpy.ndarray of bool, optional
    dtype : numpy dtype
        Arithmetic of the steps (``np.float64`` reproduces :func:`sketchbound.ntk.train_mlp`'s iterates).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> th = gd(np.ones(6), np.ones((1, 2)), np.zeros(1), 2, 0.1, 3)
    >>> th.shape
    (6,)
    """
    n, d_in = X.shape
    th = np.array(theta0, dtype=dtype)
    X = np.asarray(X, dtype=dtype)
    y = np.asarray(y, dtype=dtype)
    kW = None if keep is None else keep[: width * d_in].reshape(width, d_in).astype(dtype)
    kv = None if keep is None else keep[width * d_in:].astype(dtype)
    rs = dtype(1.0 / np.sqrt(width))
    lr = dtype(lr)
    for _ in range(int(steps)):
        W = th[: width * d_in].reshape(width, d_in)
        v = th[width * d_in:]
        H = X @ W.T
        A = np.maximum(H, 0.0)
        r = A @ v * rs - y
        gv = A.T @ r * rs
        gW = ((r[:, None] * (H > 0)) * v).T @ X * rs
        if keep is not None:
            gW *= kW
            gv *= kv
        th[: width * d_in] -= lr * gW.ravel()
        th[width * d_in:] -= lr * gv
    return th.astype(np.float64)


def train_safeguarded(theta0, X, y, width, lr_factor, steps, keep=None, retries: int = 12):
    """:func:`gd` from ``theta0`` with ``η = lr_factor / λ_max`` (:func:`ntk_lambda_max`) at ``theta0``, halved and rerun while
    the run diverges (a non-finite iterate, or a final training loss above the starting one);
    returns ``(θ_t, η used)``. ``ValueError`` when ``retries`` halvings do not help. A start whose NTK is
    zero (a dead mask: every kept output weight's unit has no kept input weight, so the output and
    every gradient are 0) is returned unchanged with ``η = 0``.

    Parameters
    ----------
    theta0 : numpy.ndarray, shape (width * (d_in + 1),)
    X : numpy.ndarray, shape (n, d_in)
    y : numpy.ndarray, shape (n,)
    width : int
    lr_factor : float
        ``η = lr_factor / λ_max`` before any halving.
    steps : int
    keep : numpy.ndarray of bool, optional
        Coordinates that move (all when None).
    retries : int
        Halvings of ``η`` tried.

    Returns
    -------
    theta : numpy.ndarray
    lr : float
        The ``η`` used.

    Examples
    --------
    >>> from sketchbound.ntk import init_mlp
    >>> X = np.random.default_rng(0).standard_normal((8, 3)); y = np.sign(X[:, 0])
    >>> th, lr = train_safeguarded(init_mlp(3, 16, 0), X, y, 16, 1.0, 20)
    >>> bool(np.isfinite(th).all())
    True
    """
    lam = ntk_lambda_max(theta0, X, width, keep)
    if not lam > 0:  # a dead mask: no kept unit is connected end to end, no gradient ever moves it
        return np.array(theta0, dtype=float), 0.0
    lr = lr_factor / lam
    start = _evaluate(theta0, X, y, width)[1]
    for _ in range(retries + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            th = gd(theta0, X, y, width, lr, steps, keep)
            ok = bool(np.isfinite(th).all()) and _evaluate(th, X, y, width)[1] <= start
        if ok:
            return th, lr
        lr /= 2
    raise ValueError(f"GD diverges from this start even with η halved {retries} times (width={width})")


def _evaluate(theta, X, y, width) -> tuple[float, float]:
    f = mlp_forward(theta, X, width)
    return float(np.mean(np.where(f > 0, 1.0, -1.0) == y)), float(0.5 * np.mean((f - y) ** 2))


def _layer_constants(cfg, X, y, width, d_in):
    d = width * (d_in + 1)
    sl = (slice(0, width * d_in), slice(width * d_in, d))
    runs = []
    for sd in cfg.pilot_seeds:
        th0 = init_mlp(d_in, width, stream_rng(sd, f"bridge-ntk-init-{width}"))
        runs.append((th0, train_safeguarded(th0, X, y, width, cfg.lr_factor, cfg.steps)[0]))
    cs = [estimate_c_sigma([a[s] for a, _ in runs], [b[s] for _, b in runs]) for s in sl]
    c = np.concatenate([np.full(s.stop - s.start, k.c) for s, k in zip(sl, cs)])
    sig = np.concatenate([np.full(s.stop - s.start, k.sigma) for s, k in zip(sl, cs)])
    return cs, c, sig, list(sl)


def run_ntk(cfg: NTKConfig = NTKConfig(), root=None, progress: bool = True) -> tuple[list[dict], dict]:
    """Rung 2: every (width, seed, density, law, procedure) mask with its predicted and measured errors
    and its masked network's test accuracy / loss (module docstring).

    Parameters
    ----------
    cfg : NTKConfig
    root : str or path, optional
        Fashion-MNIST folder (``--data-root``).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    rows : list of dict
    info : dict
        Per width: ``c, σ`` per layer, step size, dense accuracies.

    Examples
    --------
    >>> rows, info = run_ntk(NTKConfig.quick(), progress=False)  # doctest: +SKIP

    Without Fashion-MNIST in ``root`` it stops before any work:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     run_ntk(NTKConfig.quick(), root=d, progress=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: fashion-mnist not found ...
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    X, y, Xte, yte = ntk_task(cfg, root)
    n, d_in = X.shape
    cells = [(d, law, proc) for d in cfg.densities for law in LAWS for proc in PROCEDURES
             if not (proc == "alg1" and law == "beta=inf")]
    bar = tqdm(total=len(cfg.widths) * len(cfg.seeds) * len(cells), desc="rung ntk", disable=not progress,
               unit="mask")
    rows, info = [], {}
    for width in cfg.widths:
        model = f"mlp-width-{width}"
        d = width * (d_in + 1)
        cs, c, sig, layers = _layer_constants(cfg, X, y, width, d_in)
        info[model] = {"c": [k.c for k in cs], "sigma": [k.sigma for k in cs], "layers": ["W", "v"],
                       "pilot_seeds": list(cfg.pilot_seeds), "d": d, "n": n, "dense": {}}
        for seed in cfg.seeds:
            th0 = init_mlp(d_in, width, stream_rng(seed, f"bridge-ntk-init-{width}"))
            X0 = np.ascontiguousarray(mlp_jacobian(th0, X, width).T)
            tht, lr = train_safeguarded(th0, X, y, width, cfg.lr_factor, cfg.steps)
            Xt = np.ascontiguousarray(mlp_jacobian(tht, X, width).T)
            dense_acc, dense_loss = _evaluate(tht, Xte, yte, width)
            info[model]["dense"][str(seed)] = {"test_acc": dense_acc, "test_loss": dense_loss, "lr": float(lr)}
            p0 = optimal_probabilities(X0, th0)
            norms = row_norms(X0)
            for density, law, proc in cells:
                s = keep_count(density, d)
                rng = stream_rng(seed, f"bridge-ntk-mask-{model}-{density:g}-{law}-{proc}")
                M, pred, meas = mask_cell(law, proc, s, rng, X0, norms, th0[:, None], [p0], c, sig, Xt, tht[:, None],
                                          layers=layers)
                m = M[:, 0]
                thm, lr_m = train_safeguarded(th0 * m, X, y, width, cfg.lr_factor, cfg.steps, keep=m != 0)
                acc, loss = _evaluate(thm, Xte, yte, width)
                _, train_loss = _evaluate(thm, X, y, width)
                rows.append(dict(rung="ntk", model=model, density=density, law=law, beta=law_beta(law),
                                 procedure=proc, seed=seed, d=d, n=n, s=s, kept=int(np.count_nonzero(m)),
                                 predicted_error=float(pred[0]), predicted_error_gaussian=None,
                                 measured_error=float(meas[0]), test_acc=acc, test_loss=loss,
                                 train_loss=train_loss, dense_test_acc=dense_acc, c=cs[0].c, sigma=cs[0].sigma,
                                 c_out=cs[1].c, sigma_out=cs[1].sigma, lr=lr_m))
                bar.update()
    bar.close()
    return rows, info
