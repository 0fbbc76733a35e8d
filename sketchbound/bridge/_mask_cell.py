"""One cell of a CPU rung: the masks of one (law, procedure) for ``k`` weight columns sharing one ``X``,
with the prediction at initialisation and the measured error at the trained weights (both rungs).
"""
from __future__ import annotations

import numpy as np

from .errors import expected_alg1_errors, fixed_mask_predictions, mask_errors
from .laws import draw_mask, law_probabilities


def mask_cell(law: str, proc: str, s: int, rng, X0: np.ndarray, norms: np.ndarray, W0: np.ndarray, p0, c, sigma,
              Xt: np.ndarray, Wt: np.ndarray, layers=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one mask per column of ``W0`` and return ``(M, predicted, measured)``.

    Column ``j`` gets the law ``law_probabilities(law, p0[j], norms, W0[:, j], c, sigma)`` and the mask
    ``draw_mask(proc, law, ·, p0[j], s, rng, layers)``, columns drawn in order from the one ``rng``.
    ``predicted`` is Lemma 4.3's expected Algorithm 1 error (``alg1``) or ``E_ε`` of eq. (1) for the
    drawn mask (``sec7``) at ``X0, W0``; ``measured`` is eq. (1) of the drawn mask at ``Xt, Wt``.

    Parameters
    ----------
    law, proc : str
        Law of :data:`sketchbound.bridge.laws.LAWS` and procedure (``alg1`` or ``sec7``).
    s : int
        Draws or kept weights per column.
    rng : numpy.random.Generator
    X0 : numpy.ndarray, shape (d, n)
        The data at initialisation (``norms`` are its row norms).
    norms : numpy.ndarray, shape (d,)
    W0 : numpy.ndarray, shape (d, k)
    p0 : sequence of k numpy.ndarray of shape (d,)
        Eq. (2)'s probabilities of each column.
    c, sigma : float or numpy.ndarray of shape (d,)
        ``w* = c w⁰ + ε`` (one value, or one per coordinate).
    Xt, Wt : numpy.ndarray
        Data and weights at which the error is measured (shapes of ``X0``, ``W0``).
    layers : list of slice, optional
        The §7 procedure's layers (one layer when None).

    Returns
    -------
    M : numpy.ndarray, shape (d, k)
        The masks (an Algorithm 1 mask holds its weights ``1/(s q)``).
    predicted, measured : numpy.ndarray, shape (k,)
    """
    Q = np.zeros_like(W0)
    M = np.zeros_like(W0)
    for j in range(W0.shape[1]):
        Q[:, j] = law_probabilities(law, p0[j], norms, W0[:, j], c, sigma)
        M[:, j] = draw_mask(proc, law, Q[:, j], p0[j], s, rng, layers=layers)
    cc, ss = (c, sigma) if np.ndim(c) == 0 else (np.asarray(c)[:, None], np.asarray(sigma)[:, None])
    r2 = norms**2
    if proc == "alg1":
        pred = expected_alg1_errors(X0, r2, W0, Q, s, cc, ss)
    else:
        pred = fixed_mask_predictions(X0, r2, W0, M, cc, ss)
    return M, pred, mask_errors(Xt, Wt, M)
