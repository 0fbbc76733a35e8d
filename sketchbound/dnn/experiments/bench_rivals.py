"""The rivals of the training benchmark (``python -m sketchbound.dnn.bench_train``): a plain fp32 loop, the
same loop under ``torch.compile`` (in a subprocess with a time limit) and the ``torch.func`` ensemble, each
timed on the benchmark's device-resident data (:mod:`~sketchbound.dnn.experiments.bench_train` lists them)."""
from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time

import torch
import torch.nn.functional as F

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.experiments.bench_data import bench_model, synthetic_data, timed

__all__ = ["COMPILE_MODES", "bench_plain", "bench_compile", "bench_vmap"]

#: the ``torch.compile`` modes of the compile rival (``--compile-mode``)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def bench_plain(model_name: str, data: TensorDataset, *, steps: int, warmup: int, batch_size: int, device, width=1.0) -> dict:
    """Images/s of a plain fp32 loop over device-resident normalised data (one model).

    Parameters
    ----------
    model_name : str
        The architecture (``get_model``).
    data : TensorDataset
        Device-resident training data (synthetic in the benchmark).
    steps, warmup : int
        Timed steps, after untimed warm-up steps.
    batch_size : int
        Images per model per step.
    device : torch.device or str
        Where it trains.
    width : float, optional
        Channel multiplier.

    Returns
    -------
    dict
        ``images_per_s``, ``precision``, ``setup_seconds``, ...

    Examples
    --------
    >>> data = synthetic_data(16, 1, 28, 10)  # 16 random images of MNIST's shape; 2 steps of a small LeNet:
    >>> r = bench_plain("lenet300100", data, steps=2, warmup=1, batch_size=4, device="cpu", width=0.25)
    >>> r["models"], r["precision"], r["images_per_s"] > 0
    (1, 'fp32', True)
    """
    dev = torch.device(device)
    model = bench_model(model_name, data, width, 0).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = data.normalized(data.x_train.to(dev))
    y = data.y_train.to(dev)
    n = x.shape[0] // batch_size

    def step(i):
        j = (i % n) * batch_size
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[j:j + batch_size]), y[j:j + batch_size])
        loss.backward()
        opt.step()

    setup, dt = timed(step, warmup, steps, dev)
    return {"images_per_s": steps * batch_size / dt, "ms_per_step": 1e3 * dt / steps, "seconds": dt,
            "setup_seconds": setup, "models": 1, "precision": "fp32"}


def _compile_inprocess(model_name: str, data: TensorDataset, *, steps: int, warmup: int, batch_size: int, device,
                       width=1.0, mode: str = "max-autotune") -> dict:
    dev = torch.device(device)
    model = bench_model(model_name, data, width, 0).to(dev).train()
    cmodel = torch.compile(model, mode=mode)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = data.normalized(data.x_train.to(dev))
    y = data.y_train.to(dev)
    n = x.shape[0] // batch_size
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", lambda: None)

    def step(i):
        j = (i % n) * batch_size
        mark()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(cmodel(x[j:j + batch_size]), y[j:j + batch_size])
        loss.backward()
        opt.step()

    setup, dt = timed(step, max(warmup, 5), steps, dev)  # cudagraph trees record on the 2nd/3rd call
    return {"images_per_s": steps * batch_size / dt, "ms_per_step": 1e3 * dt / steps, "seconds": dt,
            "setup_seconds": setup, "models": 1, "precision": "fp32", "mode": mode}


def _compile_worker(spec_json: str) -> None:
    """Entry point of the compile subprocess: one JSON line with the result on stdout."""
    s = json.loads(spec_json)
    if s["device"].startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    data = synthetic_data(s["n_train"], s["channels"], s["image_size"], s["classes"])
    out = _compile_inprocess(s["model"], data, steps=s["steps"], warmup=s["warmup"], batch_size=s["batch_size"],
                             device=s["device"], width=s["width"], mode=s["mode"])
    print("BENCH_COMPILE_RESULT " + json.dumps(out), flush=True)


def bench_compile(model_name: str, data: TensorDataset, *, steps: int, warmup: int, batch_size: int, device,
                  width=1.0, mode: str = "max-autotune", timeout_s: float | None = 200.0) -> dict:
    """Images/s of the plain loop on ``torch.compile(model, mode=mode)`` (fp32, one model).

    With ``timeout_s`` (seconds, > 0) it runs in a subprocess on the same device and the same synthetic
    data, and is abandoned after ``timeout_s`` (result ``{"error": "timed out ..."}``); ``None`` or 0 runs
    it in this process without a limit.

    Parameters
    ----------
    model_name, data, steps, warmup, batch_size, device, width :
        As in :func:`bench_plain`.
    mode : str, optional
        The ``torch.compile`` mode.
    timeout_s : float or None, optional
        See above.

    Returns
    -------
    dict
        As :func:`bench_plain`, or ``{"error": ...}``.

    Examples
    --------
    Compilation takes minutes, so the measurement itself is not run here:

    >>> data = synthetic_data(16, 1, 28, 10)
    >>> bench_compile("resnet20", data, steps=50, warmup=10, batch_size=8, device="cuda")  # doctest: +SKIP
    {'images_per_s': ..., 'mode': 'max-autotune', ...}
    >>> bench_compile("lenet300100", data, steps=2, warmup=1, batch_size=4, device="cpu", timeout_s=0.05)["error"]
    'timed out after 0.05 s (compilation included); not measured'
    >>> bench_compile("lenet300100", data, steps=2, warmup=1, batch_size=4, device="cpu", mode="fast")
    Traceback (most recent call last):
    ValueError: mode must be one of ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs'), got 'fast'
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"mode must be one of {COMPILE_MODES}, got {mode!r}")
    if not timeout_s:
        return _compile_inprocess(model_name, data, steps=steps, warmup=warmup, batch_size=batch_size, device=device,
                                  width=width, mode=mode)
    spec = {"model": model_name, "n_train": len(data), "channels": data.in_channels, "image_size": data.image_size,
            "classes": data.num_classes, "steps": steps, "warmup": warmup, "batch_size": batch_size,
            "device": str(torch.device(device)), "width": width, "mode": mode}
    code = ("import sys; from sketchbound.dnn.experiments.bench_rivals import _compile_worker; "
            "_compile_worker(sys.argv[1])")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [x for x in [os.environ.get("PYTHONPATH")] if x]))
    t0 = time.perf_counter()
    # its own process group: on a timeout the compile workers that inductor may have started die with it
    p = subprocess.Popen([sys.executable, "-c", code, json.dumps(spec)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)

    def on_term(signum, _frame):  # a `timeout` that ends this process must not leave the child on the GPU
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() else None
    try:
        stdout, stderr = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:g} s (compilation included); not measured", "mode": mode}
    finally:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    for line in stdout.splitlines():
        if line.startswith("BENCH_COMPILE_RESULT "):
            out = json.loads(line.split(" ", 1)[1])
            out["subprocess_seconds"] = time.perf_counter() - t0
            return out
    tail = " | ".join((stderr or stdout).strip().splitlines()[-3:])
    return {"error": f"compile subprocess failed (exit {p.returncode}): {tail}", "mode": mode}


def bench_vmap(model_name: str, data: TensorDataset, *, jobs: int, steps: int, warmup: int, batch_size: int, device,
               width=1.0) -> dict:
    """Aggregate images/s of the ``torch.func`` ensemble of ``jobs`` models (fp32): parameters and buffers
    stacked by ``stack_module_state``, one ``vmap(functional_call)`` forward, loss ``Σ_n mean CE_n``, one
    ``torch.optim.SGD`` step over the stacked parameters; each model gets its own batch.

    Parameters
    ----------
    jobs : int
        Models in the ensemble.
    model_name, data, steps, warmup, batch_size, device, width :
        As in :func:`bench_plain`.

    Returns
    -------
    dict
        As :func:`bench_plain`, summed over the models.

    Examples
    --------
    >>> data = synthetic_data(16, 1, 28, 10)  # two small LeNets, two steps:
    >>> r = bench_vmap("lenet300100", data, jobs=2, steps=2, warmup=1, batch_size=4, device="cpu", width=0.25)
    >>> r["models"], r["images_per_s"] > 0
    (2, True)
    """
    from torch.func import functional_call, stack_module_state  # noqa: PLC0415
    dev = torch.device(device)
    models = [bench_model(model_name, data, width, j).to(dev).train() for j in range(jobs)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    del models

    def f(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    fv = torch.vmap(f)
    opt = torch.optim.SGD(list(params.values()), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = data.normalized(data.x_train.to(dev))
    y = data.y_train.to(dev)
    nb = (x.shape[0] // batch_size) * batch_size
    ar = torch.arange(jobs * batch_size, device=dev)

    def step(i):
        idx = (ar + i * jobs * batch_size) % nb  # model n's batch: the next B images after model n-1's
        xs = x.index_select(0, idx).view((jobs, batch_size) + tuple(x.shape[1:]))
        ys = y.index_select(0, idx).view(jobs, batch_size)
        opt.zero_grad(set_to_none=True)
        out = fv(params, buffers, xs)
        loss = F.cross_entropy(out.reshape(jobs * batch_size, -1), ys.reshape(-1), reduction="none")
        loss.view(jobs, batch_size).mean(1).sum().backward()
        opt.step()

    setup, dt = timed(step, warmup, steps, dev)
    return {"images_per_s": jobs * steps * batch_size / dt, "ms_per_step_per_model": 1e3 * dt / (steps * jobs),
            "seconds": dt, "setup_seconds": setup, "models": jobs, "precision": "fp32"}
