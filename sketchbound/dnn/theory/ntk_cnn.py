"""Theorem 6.2 on a small CNN in the NTK parameterisation: the model and its full-batch GD run.

``f(x) = a·mean_pixels(relu(conv₂(relu(conv₁ x))))``, weights ``N(0, 1)`` scaled by ``1/√fan_in``, no
biases, scalar output; Jacobian by ``torch.func.jacrev``. The experiment that compares it with the
chain of Theorem 6.2 is :func:`sketchbound.dnn.experiments.deep_theory.ntk_cnn_experiment`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.seeds import stream_seed
from sketchbound.sampling import check_positive_int

__all__ = ["NTKCNN", "ntk_cnn_run"]


class NTKCNN(nn.Module):
    """Two 3×3 convs (``channels`` each, stride 1, padding 1) + ReLU, mean over pixels, a linear
    read-out to one output; NTK parameterisation (weights N(0,1), scaled by ``1/√fan_in``), no biases.

    The small CNN of the Theorem 6.2 check: float64 parameters ``w1``, ``w2``, ``a``.

    Parameters
    ----------
    in_channels : int, default 1
        Input channels.
    channels : int, default 16
        Channels of both convolutions.
    generator : torch.Generator, optional
        Draws the N(0, 1) weights (same generator state ⇒ same network).

    Examples
    --------
    >>> net = NTKCNN(1, 3, generator=torch.Generator().manual_seed(0))
    >>> net(torch.zeros(2, 1, 4, 4, dtype=torch.float64)).shape
    torch.Size([2])
    """

    def __init__(self, in_channels: int = 1, channels: int = 16, generator=None):
        super().__init__()
        check_positive_int(channels, name="channels", floats=False)
        g = generator
        self.w1 = nn.Parameter(torch.randn(channels, in_channels, 3, 3, generator=g, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.randn(channels, channels, 3, 3, generator=g, dtype=torch.float64))
        self.a = nn.Parameter(torch.randn(channels, generator=g, dtype=torch.float64))
        self.s1, self.s2, self.s3 = (in_channels * 9) ** -0.5, (channels * 9) ** -0.5, channels ** -0.5

    def forward(self, x):
        h = F.relu(F.conv2d(x, self.w1 * self.s1, padding=1))
        h = F.relu(F.conv2d(h, self.w2 * self.s2, padding=1))
        return h.mean(dim=(2, 3)) @ (self.a * self.s3)


def _cnn_jacobian(model: NTKCNN, params: dict, x: torch.Tensor) -> torch.Tensor:
    from torch.func import functional_call, jacrev  # noqa: PLC0415
    jac = jacrev(lambda p: functional_call(model, p, (x,)))(params)
    return torch.cat([jac[k].reshape(x.shape[0], -1) for k in params], dim=1)


def ntk_cnn_run(channels: int = 16, *, n: int = 16, steps: int = 50, lr_factor: float = 0.5, seed: int = 0,
                image_size: int = 14, dataset: str = "fashion-mnist", data_root=None, x=None, y=None) -> dict:
    """Full-batch GD of :class:`NTKCNN` on ``n`` images (downsampled to ``image_size``); returns
    ``theta0, theta_t, J0, Jt`` (numpy) and the trajectory's ``jac_norm``, ``jac_lip``, ``loss``.

    Parameters
    ----------
    channels : int, default 16
        Width of :class:`NTKCNN`.
    n : int, default 16
        Images drawn from ``dataset`` (when ``x`` is not given).
    steps : int, default 50
        Gradient-descent steps on the squared loss.
    lr_factor : float, default 0.5
        Step size as a fraction of ``2 / (λ_min + λ_max)`` of ``J0 J0ᵀ``.
    seed : int, default 0
        Seeds the images' choice and the initialisation.
    image_size : int, default 14
        Side the images are downsampled to.
    dataset : str, default "fashion-mnist"
        Dataset of the images (when ``x`` is not given).
    data_root : str or os.PathLike, optional
        Where the dataset lies.
    x, y : torch.Tensor, optional
        float64 inputs ``(n, C, H, W)`` and targets ``(n,)`` instead of the dataset.

    Returns
    -------
    dict
        ``theta0, theta_t, J0, Jt`` (numpy arrays) and the per-step lists ``loss``, ``jac_norm``, ``jac_lip``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    >>> run = ntk_cnn_run(2, steps=0, x=x, y=y)    # steps=0: the Jacobian at init only
    >>> run["J0"].shape, len(run["loss"])
    ((4, 56), 1)
    """
    if x is None:
        from sketchbound.dnn.data import load_dataset  # noqa: PLC0415
        ds = load_dataset(dataset, data_root)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(ds), generator=g)[:n]
        x = ds.normalized(ds.x_train[idx]).double()
        x = F.interpolate(x, size=(image_size, image_size), mode="area") if image_size != x.shape[-1] else x
        y = (ds.y_train[idx].double() - 4.5) / 4.5
    g = torch.Generator().manual_seed(stream_seed(seed, "ntk-cnn-init"))
    model = NTKCNN(x.shape[1], channels, generator=g)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    shapes = {k: v.shape for k, v in params.items()}
    flat = lambda p: torch.cat([p[k].reshape(-1) for k in shapes])  # noqa: E731

    def unflat(v):
        out, i = {}, 0
        for k, sh in shapes.items():
            m = math.prod(sh)
            out[k] = v[i:i + m].reshape(sh)
            i += m
        return out

    from torch.func import functional_call  # noqa: PLC0415
    th0 = flat(params)
    J0 = _cnn_jacobian(model, params, x)
    ev = torch.linalg.eigvalsh(J0 @ J0.T)
    lmin, lmax = float(ev[0]), float(ev[-1])
    lr = lr_factor * 2.0 / (lmin + lmax)
    th, J = th0.clone(), J0
    f = functional_call(model, unflat(th), (x,))
    loss, jn, jl = [0.5 * float(((f - y) ** 2).sum())], [float(J0.norm())], []
    for _ in range(steps):
        th = th - lr * J.T @ (f - y)
        p = unflat(th)
        J = _cnn_jacobian(model, p, x)
        f = functional_call(model, p, (x,))
        loss.append(0.5 * float(((f - y) ** 2).sum()))
        jn.append(float(J.norm()))
        dth = float((th - th0).norm())
        if dth > 0:
            jl.append(float((J - J0).norm()) / dth)
    return dict(theta0=th0.numpy(), theta_t=th.numpy(), J0=J0.numpy(), Jt=J.numpy(), loss=loss, jac_norm=jn,
                jac_lip=jl, lam_min=lmin, lam_max=lmax, lr=lr, channels=channels, n=int(x.shape[0]), steps=steps)
