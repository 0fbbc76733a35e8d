"""Rung 1 of the bridge: the §3 linear model on real Fashion-MNIST features, every law of the axis.

Choices (each one is a setting of :class:`LinearConfig`):

* **Data.** Fashion-MNIST through the one IDX reader (:mod:`sketchbound.idx`); ``n_train`` training and
  ``n_test`` test images drawn once without replacement (stream ``bridge-linear-data`` of seed 0), the
  same for every evaluation seed. Pixels are scaled to ``[0, 1]``.
* **Features** (the paper's ``X``, ``d x n``, rows are features), two models:
  ``pixels`` (``d = 784``) and ``relu-features-D`` (``D`` random ReLU features ``relu(G x)``,
  ``G`` i.i.d. ``N(0, 1/784)``, drawn once from stream ``bridge-linear-features`` of seed 0; ``D >= 10⁴``
  in the full run). Each feature row is centred with its training mean (the test features with the
  same means): without it the mean direction dominates the spectrum and a fixed optimiser budget
  learns little else. Feature rows that are zero on the training set keep ``p0 = 0``.
* **Model.** Least squares on one-hot targets, ``L(W) = ½ mean_i ||Wᵀx_i − y_i||²``, ``W`` is ``d x 10``,
  no bias; prediction ``argmax``. ``w⁰`` at Kaiming (He) normal init, ``W⁰_kj ~ N(0, 2/d)``.
* **Training** (``w*`` and every masked model): ``iters`` iterations of CGLS (conjugate gradient on the
  normal equations, each class column its own CG recursion, no ridge: the fixed budget is the only
  regulariser), started at ``w⁰`` — or, for a masked model, at ``w⁰ ⊙ m`` with the mask fixed (only the
  kept coordinates move; an Algorithm 1 mask's weights ``1/(s p)`` scale the starting point).
* **Ten outputs.** Each class column ``W_{:,j}`` is one §3 vector ``w`` with the same ``X``: its own
  eq. (2) ``p0_j``, its own law and its own mask of ``s = round(density · d)`` draws / kept weights
  (so every column has the same density, the §7 per-layer counts being the threshold's of that
  column); errors are summed over the ten columns.
* **c, σ** from ``w*`` trained on the pilot seeds (distinct from the evaluation seeds), pooled over
  the ten columns (one layer): :func:`sketchbound.bridge.laws.estimate_c_sigma`.
* **Columns.** ``predicted_error`` (at init, :mod:`sketchbound.bridge.laws`, summed over columns),
  ``predicted_error_gaussian`` (the paper's data-free closed form, ``X ~ N(0, I/n)``, formula G1 /
  Lemma 4.5, averaged over ``ε``; only for Algorithm 1 with β = 1 and β = 0, empty elsewhere),
  ``measured_error`` (``||Xᵀw* − Xᵀ(w* ⊙ m)||²`` of the drawn mask at the trained weights, summed over
  columns), ``test_acc`` / ``test_loss`` of the masked model after training.
* **Seeds.** ``seed`` draws ``w⁰`` (stream ``bridge-linear-init-<model>``) and each mask (stream
  ``bridge-linear-mask-<model>-<density>-<law>-<procedure>``): the same seed gives the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data import candidate_roots, find_dataset, missing_error
from ..idx import read_idx_split
from ..probabilities import optimal_probabilities, row_norms
from ..seeds import stream_rng
from ..theory import gaussian_error
from ._mask_cell import mask_cell
from .laws import LAWS, PROCEDURES, estimate_c_sigma, keep_count, law_beta

__all__ = ["LinearConfig", "load_fashion_mnist", "relu_features", "cgls", "evaluate", "run_linear"]

N_CLASSES = 10


@dataclass(frozen=True)
class LinearConfig:
    """Settings of rung 1 (module docstring).

    Parameters
    ----------
    n_train, n_test : int
        Training and test images drawn from Fashion-MNIST.
    relu_features : int
        ``D`` of the ``relu-features-D`` model.
    iters : int
        CGLS iterations of every training.
    seeds, pilot_seeds : tuple of int
        Evaluation seeds and the seeds whose ``w*`` give ``c, σ``.
    densities : tuple of float
        Kept fractions of each column.
    models : tuple of str
        Among ``pixels`` and ``relu-features``.

    Examples
    --------
    >>> LinearConfig.quick().densities
    (0.1,)
    """

    n_train: int = 1000
    n_test: int = 2000
    relu_features: int = 10240
    iters: int = 30
    seeds: tuple = (0, 1, 2)
    pilot_seeds: tuple = (1000, 1001)
    densities: tuple = (0.1, 0.02, 0.005)
    models: tuple = ("pixels", "relu-features")

    @classmethod
    def quick(cls) -> "LinearConfig":
        """Toy size for the tests (seconds)."""
        return cls(n_train=200, n_test=200, relu_features=1024, iters=8, seeds=(0, 1, 2), pilot_seeds=(1000,),
                   densities=(0.1,))


@dataclass
class Problem:
    """One model's data: training features ``X`` (d x n), test features, labels and one-hot targets."""

    model: str
    X: np.ndarray
    Xte: np.ndarray
    y: np.ndarray
    yte: np.ndarray
    Y: np.ndarray = field(init=False)

    def __post_init__(self):
        self.Y = np.eye(N_CLASSES)[self.y]


def load_fashion_mnist(root=None):
    """``(x_train, y_train, x_test, y_test)`` of Fashion-MNIST (images uint8 ``(N, 28, 28)``), read with the
    one IDX reader from where :func:`sketchbound.data.find_dataset` finds it.

    Parameters
    ----------
    root : str or path, optional
        ``--data-root``; default the standard search.

    Returns
    -------
    tuple of numpy.ndarray

    Examples
    --------
    >>> xtr, ytr, xte, yte = load_fashion_mnist()  # doctest: +SKIP

    A folder without the IDX files is refused:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     load_fashion_mnist(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: fashion-mnist not found ...
    """
    d = find_dataset("fashion-mnist", root)
    if d is None:
        raise missing_error("fashion-mnist", candidate_roots("fashion-mnist", root),
                            "the four IDX files train-images-idx3-ubyte[.gz], ...")
    return read_idx_split(d, N_CLASSES)


def relu_features(pixels: np.ndarray, n_features: int, seed: int = 0) -> np.ndarray:
    """``relu(G x)`` for the rows ``x`` of ``pixels`` (n x 784), ``G`` i.i.d. ``N(0, 1/784)`` from stream
    ``bridge-linear-features`` of ``seed``; returns ``n_features x n`` (rows are features, paper §3).

    Parameters
    ----------
    pixels : numpy.ndarray, shape (n, 784)
    n_features : int
        ``D``.
    seed : int

    Returns
    -------
    numpy.ndarray, shape (n_features, n)

    Examples
    --------
    >>> relu_features(np.ones((3, 784)), 5).shape
    (5, 3)
    """
    g = stream_rng(seed, "bridge-linear-features")
    G = g.standard_normal((n_features, pixels.shape[1])) / np.sqrt(pixels.shape[1])
    return np.ascontiguousarray(np.maximum(G @ pixels.T, 0.0))


def _problems(cfg: LinearConfig, root) -> list[Problem]:
    xtr, ytr, xte, yte = load_fashion_mnist(root)
    g = stream_rng(0, "bridge-linear-data")
    itr = np.sort(g.choice(xtr.shape[0], cfg.n_train, replace=False))
    ite = np.sort(g.choice(xte.shape[0], cfg.n_test, replace=False))
    ptr = xtr[itr].reshape(cfg.n_train, -1) / 255.0
    pte = xte[ite].reshape(cfg.n_test, -1) / 255.0
    out = []
    for model in cfg.models:
        if model == "pixels":
            X, Xte, name = np.ascontiguousarray(ptr.T), np.ascontiguousarray(pte.T), "pixels"
        elif model == "relu-features":
            X, Xte = relu_features(ptr, cfg.relu_features), relu_features(pte, cfg.relu_features)
            name = f"relu-features-{cfg.relu_features}"
        else:
            raise ValueError(f"models must be among pixels, relu-features; got {model!r}")
        mu = X.mean(axis=1, keepdims=True)
        out.append(Problem(name, np.ascontiguousarray(X - mu), np.ascontiguousarray(Xte - mu),
                           ytr[itr], yte[ite]))
    return out


def cgls(X: np.ndarray, Y: np.ndarray, W0: np.ndarray, iters: int, M: np.ndarray | None = None) -> np.ndarray:
    """``iters`` CGLS iterations on ``min ½||Xᵀ(W ⊙ M) − Y||²`` per column, from ``W0`` (only the rows of
    ``X`` with a kept entry are touched; entries with ``M = 0`` stay 0).

    Parameters
    ----------
    X : numpy.ndarray, shape (d, n)
    Y : numpy.ndarray, shape (n, k)
    W0 : numpy.ndarray, shape (d, k)
        Start (already masked when ``M`` is given).
    iters : int
    M : numpy.ndarray of bool, shape (d, k), optional

    Returns
    -------
    numpy.ndarray, shape (d, k)

    Examples
    --------
    >>> X = np.eye(2); Y = np.array([[1.0], [2.0]])
    >>> cgls(X, Y, np.zeros((2, 1)), 2).ravel().tolist()
    [1.0, 2.0]
    """
    W = np.array(W0, dtype=float)
    rows = np.arange(X.shape[0]) if M is None else np.flatnonzero(M.any(axis=1))
    if rows.size == 0 or iters == 0:
        return W * (1.0 if M is None else M)
    Xu = X[rows] if M is not None else X
    Mu = np.ones((rows.size, W.shape[1])) if M is None else M[rows].astype(float)
    x = W[rows] * Mu
    r = Y - Xu.T @ x
    s = (Xu @ r) * Mu
    p = s.copy()
    gamma = np.sum(s * s, axis=0)
    for _ in range(int(iters)):
        q = Xu.T @ p
        qq = np.sum(q * q, axis=0)
        alpha = np.divide(gamma, qq, out=np.zeros_like(gamma), where=qq > 0)
        x += alpha * p
        r -= alpha * q
        s = (Xu @ r) * Mu
        g_new = np.sum(s * s, axis=0)
        beta = np.divide(g_new, gamma, out=np.zeros_like(gamma), where=gamma > 0)
        p = s + beta * p
        gamma = g_new
    out = np.zeros_like(W)
    out[rows] = x
    return out


def evaluate(X: np.ndarray, y: np.ndarray, W: np.ndarray) -> tuple[float, float]:
    """``(accuracy, loss)`` of ``argmax Wᵀx`` and ``½ mean ||Wᵀx − onehot(y)||²`` on features ``X`` (d x n).

    Parameters
    ----------
    X : numpy.ndarray, shape (d, n)
    y : numpy.ndarray of int, shape (n,)
        Class labels.
    W : numpy.ndarray, shape (d, k)

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> evaluate(np.eye(2), np.array([0, 1]), np.eye(2))
    (1.0, 0.0)
    """
    F = X.T @ W
    Y = np.eye(W.shape[1])[y]
    return float(np.mean(np.argmax(F, axis=1) == y)), float(0.5 * np.mean(np.sum((F - Y) ** 2, axis=1)))


def _init(d: int, seed: int, model: str) -> np.ndarray:
    return stream_rng(seed, f"bridge-linear-init-{model}").standard_normal((d, N_CLASSES)) * np.sqrt(2.0 / d)


def _gaussian_prediction(law: str, w0: np.ndarray, c: float, sigma: float, s: int, n: int) -> float | None:
    if law not in ("beta=0", "beta=1"):
        return None
    w_eff = np.sqrt(c**2 * w0**2 + sigma**2)  # G1 and Lemma 4.5 depend on w* only through w*_k²
    return gaussian_error(w0, w_eff, s, n, mask="uniform" if law == "beta=0" else "optimal")


def run_linear(cfg: LinearConfig = LinearConfig(), root=None, progress: bool = True) -> tuple[list[dict], dict]:
    """Rung 1: every (model, seed, density, law, procedure) mask, its predicted and measured errors and
    its masked model's test accuracy / loss (module docstring).

    Parameters
    ----------
    cfg : LinearConfig
    root : str or path, optional
        Fashion-MNIST folder (``--data-root``).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    rows : list of dict
        One per mask (the CSV's rows).
    info : dict
        ``c, σ`` per model and the dense models' accuracies.

    Examples
    --------
    >>> rows, info = run_linear(LinearConfig.quick(), progress=False)  # doctest: +SKIP

    Without Fashion-MNIST in ``root`` it stops before any work:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     run_linear(LinearConfig.quick(), root=d, progress=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: fashion-mnist not found ...
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    probs = _problems(cfg, root)
    cells = [(d, law, proc) for d in cfg.densities for law in LAWS for proc in PROCEDURES
             if not (proc == "alg1" and law == "beta=inf")]
    bar = tqdm(total=len(probs) * len(cfg.seeds) * len(cells), desc="rung linear", disable=not progress,
               unit="mask")
    rows, info = [], {}
    for P in probs:
        d, n = P.X.shape
        norms = row_norms(P.X)
        pilots = [(W0, cgls(P.X, P.Y, W0, cfg.iters)) for W0 in (_init(d, sd, P.model) for sd in cfg.pilot_seeds)]
        cs = estimate_c_sigma([a for a, _ in pilots], [b for _, b in pilots])
        info[P.model] = {"c": cs.c, "sigma": cs.sigma, "pilot_seeds": list(cfg.pilot_seeds), "d": d, "n": n,
                         "dense": {}}
        for seed in cfg.seeds:
            W0 = _init(d, seed, P.model)
            Ws = cgls(P.X, P.Y, W0, cfg.iters)
            dense_acc, dense_loss = evaluate(P.Xte, P.yte, Ws)
            info[P.model]["dense"][str(seed)] = {"test_acc": dense_acc, "test_loss": dense_loss}
            p0 = [optimal_probabilities(P.X, W0[:, j]) for j in range(N_CLASSES)]
            for density, law, proc in cells:
                s = keep_count(density, d)
                rng = stream_rng(seed, f"bridge-linear-mask-{P.model}-{density:g}-{law}-{proc}")
                Mw, pred, meas = mask_cell(law, proc, s, rng, P.X, norms, W0, p0, cs.c, cs.sigma, P.X, Ws)
                pred, meas = float(pred.sum()), float(meas.sum())
                gauss = None
                if proc == "alg1" and law in ("beta=0", "beta=1"):
                    gauss = sum(_gaussian_prediction(law, W0[:, j], cs.c, cs.sigma, s, n) for j in range(N_CLASSES))
                Wm = cgls(P.X, P.Y, W0 * Mw, cfg.iters, Mw != 0)
                acc, loss = evaluate(P.Xte, P.yte, Wm)
                _, train_loss = evaluate(P.X, P.y, Wm)
                rows.append(dict(rung="linear", model=P.model, density=density, law=law, beta=law_beta(law),
                                 procedure=proc, seed=seed, d=d, n=n, s=s, kept=int(np.count_nonzero(Mw)),
                                 predicted_error=pred, predicted_error_gaussian=gauss, measured_error=meas,
                                 test_acc=acc, test_loss=loss, train_loss=train_loss, dense_test_acc=dense_acc,
                                 c=cs.c, sigma=cs.sigma))
                bar.update()
    bar.close()
    return rows, info
