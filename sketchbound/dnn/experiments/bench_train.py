"""Throughput of the masked trainers against the strongest rivals, measured in the same call on the same device.

``python -m sketchbound.dnn.bench_train --model all`` (ResNet-20 and VGG-19; CIFAR-shaped synthetic data
resident on the device, batch 128, ``--jobs`` 8 models) prints images/s, summed over models, of

* ``plain``: one model, fp32, ``torch.optim.SGD(momentum=0.9, weight_decay=1e-4)``, batches sliced from
  a normalised float tensor on the device (no masking, no augmentation) — the baseline every other row is compared to;
* ``compile``: the same loop with ``torch.compile(model, mode="max-autotune")`` (fp32), run in a
  subprocess under ``--compile-timeout`` seconds (compiling takes minutes; a timeout is reported, not
  waited out);
* ``vmap``: the ``torch.func`` ensemble of the N models (``stack_module_state`` + ``functional_call`` under
  ``vmap``, fp32, one SGD over the stacked parameters; each model its own batch);
* ``streams``: :class:`~sketchbound.dnn.training.ConcurrentTrainer`, N masked models (on CUDA one CUDA
  graph per model on its own stream, bf16 autocast, channels_last, on-device augmentation);
* ``fused``: :class:`~sketchbound.dnn.training.fused.FusedTrainer`, the N masked models horizontally
  fused into one network (HFTA, Wang et al. MLSys 2021), one CUDA graph for all of them; ``--fuse-width W``
  in cohorts of at most W models, ``--conv-block K`` with block-dense convolutions (K consecutive models
  per dense block of a block-diagonal convolution, K× the convolution FLOPs), ``--conv-gemm strided|all``
  with the strided (or all) fused convolutions as one batched GEMM over unfolded patches instead of cuDNN's
  grouped convolution, ``--fused-compile MODE`` with its forward and backward compiled by ``torch.compile``
  (Inductor) inside the trainer's graph.

The rivals train *unmasked* models (masking only adds work, so their numbers are upper bounds for a
masked version). For every way it reports the achieved TFLOP/s from an analytic count (convolution and
linear multiply-accumulates × 2 × 3 for forward + backward, dense: pruned weights are computed as zeros)
and its fraction of the card's peak for that precision (bf16 dense for the trainers, fp32 for the rivals;
``n/a`` for a card not in :data:`PEAK_TFLOPS`; the count is the useful work, so the block-dense fused way's
extra work on zeros is left out and recorded as its ``conv_flop_factor``), and for the trainers the fraction of step time that the
data path (per-epoch permutation + crop + flip, per-step gather + normalise; measured on its own) takes.
Then the ratio of ours (the faster trainer, which ``fusion="auto"`` picks) to the best rival and of fused to
streams. Warm-up steps, graph capture and compilation are excluded from all timings. ``--out DIR`` writes
``bench_train.json`` and ``bench_train.md`` (atomically, after each model); ``--json`` prints the JSON.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json
import os
import sys
import time
import traceback
from typing import Sequence

import torch

from sketchbound._cli import arg_type, interruptible
from sketchbound._io import atomic_write, atomic_write_json, check_output_path
from sketchbound.dnn.experiments.bench_costs import (PEAK_TBPS, PEAK_TFLOPS, bytes_per_image, conv_flop_factor,
                                                     flops_per_image, layer_macs, peak_tbps, peak_tflops,
                                                     traffic_per_image)
from sketchbound.dnn.experiments.bench_data import bench_model, data_seconds, random_jobs, sync, synthetic_data
from sketchbound.dnn.experiments.bench_rivals import COMPILE_MODES, bench_compile, bench_plain, bench_vmap
from sketchbound.dnn.experiments.bench_report import summarise, to_markdown
from sketchbound.dnn.experiments.config import OneLineParser
from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.training import ConcurrentTrainer, Schedule
from sketchbound.dnn.training.fused import FusedTrainer
from sketchbound.dnn.training.options import TrainerOptions
from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel

#: the benchmark's ways and CLI; the rivals (``bench_plain``, ``bench_compile``, ``bench_vmap``) are
#: :mod:`~sketchbound.dnn.experiments.bench_rivals`'s, its cost model (``flops_per_image``, ``peak_tflops``, ...)
#: :mod:`~sketchbound.dnn.experiments.bench_costs`'s, imported here for the CLI and the report
__all__ = ["main", "build_parser", "bench_plain", "bench_compile", "bench_vmap", "bench_concurrent", "bench_fused",
           "RIVALS", "MODELS_ALL"]

#: the ways to train that the benchmark knows, in the order it runs them
RIVALS = ("plain", "compile", "vmap", "streams", "fused")
#: ``--model all``
MODELS_ALL = ("resnet20", "vgg19")


def _free(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------- ours
def _bench_trainer(cls, model_name: str, data: TensorDataset, *, jobs: int, steps: int, warmup: int, batch_size: int,
                   device, width=1.0, density=0.1, cuda_graphs=None, amp=None, channels_last=None,
                   sgd_kernel: str = "foreach", **trainer_kw) -> dict:
    dev = torch.device(device)
    n_steps = len(data) // batch_size
    epochs = (warmup + steps) // n_steps + 1
    sched = Schedule(epochs=epochs, batch_size=batch_size, milestones=())
    js = random_jobs(model_name, data, jobs, width=width, density=density)
    t0 = time.perf_counter()
    tr = cls(js, data, sched, device=dev, progress=False, cuda_graphs=cuda_graphs, amp=amp, channels_last=channels_last,
             sgd_kernel=sgd_kernel, **trainer_kw)
    init = time.perf_counter() - t0  # construction: fusion, and conv_gemm="auto"'s measurements
    t0 = time.perf_counter()
    tr.run(max_steps=warmup)  # includes graph capture and the first epoch's augmentation
    sync(dev)
    setup = time.perf_counter() - t0
    t = time.perf_counter()
    tr.run(max_steps=warmup + steps)
    sync(dev)
    dt = time.perf_counter() - t
    exact = all(bool(((p.detach() != 0) & (m == 0)).sum() == 0)
                for st in tr.states for p, m in zip(st.masked_params, st.masks))
    out = {"images_per_s": jobs * steps * batch_size / dt, "ms_per_step_per_model": 1e3 * dt / (steps * jobs),
           "masks_exact": exact, "seconds": dt, "setup_seconds": setup, "init_seconds": init, "jobs": jobs, "models": jobs,
           "cuda_graphs": tr.cuda_graphs, "amp": tr.amp, "channels_last": tr.channels_last,
           "precision": "bf16" if tr.amp else "fp32", "sgd_kernel": tr.sgd_kernel}
    d = data_seconds(tr)
    per_round = dt / steps
    out.update(d)
    out["data_fraction"] = (d["augment_s_per_round"] + d["gather_s_per_round"]) / per_round
    if hasattr(tr, "cohorts"):
        out["fused_groups"] = [c.n for c in tr.cohorts]
        out["conv_block"] = tr.conv_block
        out["conv_gemm"] = tr.conv_gemm
        out["gemm_convs"] = sorted({k for c in tr.cohorts for k in c.fused.gemm_convs()})
        if tr.cohorts[0].gemm_choice is not None:  # conv_gemm="auto": what was measured per convolution
            out["conv_gemm_choice"] = tr.cohorts[0].gemm_choice
        out["compile_mode"] = tr.compile_mode
        out["weight_copies"] = tr.weight_copies
        out["conv_flop_factor"] = conv_flop_factor(tr, bench_model(model_name, data, width, 0),
                                                   (data.in_channels, data.image_size, data.image_size))
    del tr, js
    return out


def bench_concurrent(model_name: str, data: TensorDataset, *, jobs: int, steps: int, warmup: int, batch_size: int,
                     device, width=1.0, density=0.1, cuda_graphs=None, amp=None, channels_last=None,
                     options: TrainerOptions | None = None) -> dict:
    """Aggregate images/s of :class:`ConcurrentTrainer` with ``jobs`` masked models (steady state);
    ``options``: the trainer options, of which this trainer takes its masked SGD step's implementation
    (:meth:`~sketchbound.dnn.training.options.TrainerOptions.common_kw`: ``sgd_kernel``).

    Parameters
    ----------
    jobs : int
        Masked models (random masks of ``density``, seeds 0..jobs−1).
    model_name, data, steps, warmup, batch_size, device, width :
        As in :func:`~sketchbound.dnn.experiments.bench_rivals.bench_plain`.
    density : float, optional
        The masks' density.
    cuda_graphs, amp, channels_last : bool or None, optional
        The trainer's settings (``None``: its defaults, on for CUDA).
    options : TrainerOptions, optional
        See above.

    Returns
    -------
    dict
        As :func:`~sketchbound.dnn.experiments.bench_rivals.bench_plain`, plus ``data_fraction`` and ``masks_exact``.

    Examples
    --------
    >>> data = synthetic_data(16, 1, 28, 10)  # two masked small LeNets, two steps:
    >>> r = bench_concurrent("lenet300100", data, jobs=2, steps=2, warmup=1, batch_size=4, device="cpu", width=0.25)
    >>> r["models"], r["masks_exact"], r["cuda_graphs"], 0 < r["data_fraction"]
    (2, True, False, True)
    """
    opts = options if options is not None else TrainerOptions()
    return _bench_trainer(ConcurrentTrainer, model_name, data, jobs=jobs, steps=steps, warmup=warmup,
                          batch_size=batch_size, device=device, width=width, density=density, cuda_graphs=cuda_graphs,
                          amp=amp, channels_last=channels_last, **opts.common_kw())


def bench_fused(model_name: str, data: TensorDataset, *, jobs: int, steps: int, warmup: int, batch_size: int,
                device, width=1.0, density=0.1, cuda_graphs=None, amp=None, channels_last=None,
                max_fused: int | None = None, conv_block: int = 1, options: TrainerOptions | None = None) -> dict:
    """Aggregate images/s of :class:`~sketchbound.dnn.training.fused.FusedTrainer` with ``jobs`` masked models
    (in fused cohorts of at most ``max_fused``, each on its own stream; ``None``: one cohort; convolutions
    block-dense with ``conv_block`` models per dense block, 1: grouped). ``options`` (a
    :class:`~sketchbound.dnn.training.options.TrainerOptions`): ``conv_gemm``, which convolutions run as one
    batched GEMM; ``fused_compile``, the fused forward/backward through ``torch.compile`` (its compilation is
    part of ``setup_seconds``); ``sgd_kernel`` as in :func:`bench_concurrent`; ``weight_copies``, the fused
    weights read as bfloat16 copies written by the Triton SGD kernel. The result also records ``conv_block``,
    ``conv_gemm``, ``compile_mode`` and :func:`conv_flop_factor`.

    Parameters
    ----------
    model_name, data, jobs, steps, warmup, batch_size, device, width, density, cuda_graphs, amp, channels_last :
        As in :func:`bench_concurrent`.
    max_fused, conv_block, options :
        See above.

    Returns
    -------
    dict
        As :func:`bench_concurrent`, plus the fusion settings.

    Examples
    --------
    >>> data = synthetic_data(16, 1, 28, 10)  # two masked small LeNets in one fused cohort, two steps:
    >>> r = bench_fused("lenet300100", data, jobs=2, steps=2, warmup=1, batch_size=4, device="cpu", width=0.25)
    >>> r["models"], r["masks_exact"], r["fused_groups"], r["images_per_s"] > 0
    (2, True, [2], True)
    """
    opts = options if options is not None else TrainerOptions()
    return _bench_trainer(FusedTrainer, model_name, data, jobs=jobs, steps=steps, warmup=warmup,
                          batch_size=batch_size, device=device, width=width, density=density, cuda_graphs=cuda_graphs,
                          amp=amp, channels_last=channels_last, max_fused=max_fused, conv_block=conv_block,
                          **opts.common_kw(), **opts.fused_kw())


# --------------------------------------------------------------------------------------------- CLI
def build_parser() -> OneLineParser:
    """The parser of ``python -m sketchbound.dnn.bench_train``.

    Returns
    -------
    OneLineParser

    Examples
    --------
    >>> build_parser().parse_args(["--model", "resnet20"]).model
    ['resnet20']
    """
    p = OneLineParser(prog="python -m sketchbound.dnn.bench_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="+", default=["resnet20"],
                   help="architectures (default resnet20; 'all' = resnet20 vgg19; see sketchbound.dnn.MODEL_NAMES)")
    p.add_argument("--rivals", type=arg_type("rivals", str, lambda r: r in RIVALS, f"a comma-separated subset of {','.join(RIVALS)}", many=True),
                   default=list(RIVALS), help=f"ways to measure, comma-separated (default all: {','.join(RIVALS)})")
    p.add_argument("--jobs", type=int, default=8, help="models for vmap / streams / fused (default 8)")
    p.add_argument("--steps", type=int, default=400, help="timed steps (default 400)")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps first (default 30)")
    p.add_argument("--batch-size", type=int, default=128, help="SGD batch size (default 128, paper §7)")
    p.add_argument("--n-train", type=int, default=50000, help="synthetic training images (default 50000)")
    p.add_argument("--image-size", type=int, default=32, help="side of the synthetic images (default 32, CIFAR)")
    p.add_argument("--channels", type=int, default=3, help="image channels (default 3)")
    p.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    p.add_argument("--width", type=arg_type("width", float, lambda x: 0 < x < 1e6, "a positive finite number"), default=1.0, help="width multiplier of the model (default 1.0)")
    p.add_argument("--density", type=float, default=0.1, help="density of the random masks, in (0, 1] (default 0.1)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-graphs", action="store_true", help="our trainers without CUDA graphs")
    p.add_argument("--nchw", action="store_true",
                   help="our trainers in the contiguous NCHW layout instead of channels_last (default on CUDA): "
                        "whether cuDNN's layout transforms in the fused grouped convolutions cost the fused step")
    p.add_argument("--fuse-width", type=arg_type("fuse-width", int, lambda x: x >= 1, "a positive int"), default=None,
                   metavar="W", help="the fused rival in cohorts of at most W models, each fused on its own stream "
                                     "(default: all --jobs models in one cohort)")
    p.add_argument("--conv-block", type=arg_type("conv-block", int, lambda x: x >= 1, "a positive int"), default=1,
                   metavar="K", help="the fused rival's convolutions block-dense: K consecutive models per dense block "
                                     "of one block-diagonal convolution, K× the convolution FLOPs (a cohort of n "
                                     "models uses the largest divisor of n <= K; default 1: one grouped convolution)")
    TrainerOptions.add_args(p, skip=("fusion",))  # the rivals name the trainers: no --fusion
    p.add_argument("--compile-mode", choices=COMPILE_MODES, default="max-autotune",
                   help="torch.compile mode of the compile rival (default max-autotune)")
    p.add_argument("--compile-timeout", type=arg_type("compile-timeout", float, lambda x: 0 <= x < 1e6, "a number of seconds >= 0"),
                   default=200.0, help="abandon the compile rival (a subprocess) after this many seconds, compilation "
                                       "included (default 200; 0 = run it in this process, no limit)")
    p.add_argument("--out", default=None, metavar="DIR", help="also write DIR/bench_train.json and DIR/bench_train.md")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text lines")
    return p


def _models_arg(p: OneLineParser, names: Sequence[str]) -> list[str]:
    from sketchbound.dnn.models import canonical_name  # noqa: PLC0415
    out: list[str] = []
    for n in names:
        for part in n.split(","):
            if part == "all":
                out += [m for m in MODELS_ALL if m not in out]
                continue
            try:
                c = canonical_name(part)
            except ValueError as e:
                p.error(f"--model: {e}")
            if c not in out:
                out.append(c)
    return out


@contextlib.contextmanager
def _recorded_failure(ways: dict, key: str):
    """A rival that fails (out of memory, an unsupported op on this card) is recorded, not fatal: the
    benchmark runs once on a rented GPU and the other rivals' numbers must survive (traceback on stderr)."""
    try:
        yield
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        ways[key] = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}


@interruptible("python -m sketchbound.dnn.bench_train")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sketchbound.dnn.bench_train``: measure every way to train (see the module docstring).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0; bad arguments: one line on stderr and ``SystemExit(2)``.

    Examples
    --------
    >>> main(["--jobs", "0"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    p = build_parser()
    a = p.parse_args(argv)
    for name in ("jobs", "steps", "batch_size", "n_train", "image_size", "channels", "classes"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.warmup < 1:
        p.error(f"--warmup must be >= 1, got {a.warmup}")
    if not (0 < a.density <= 1):
        p.error(f"--density must be in (0, 1], got {a.density}")
    if a.n_train < a.batch_size:
        p.error(f"--n-train {a.n_train} must be >= --batch-size {a.batch_size}")
    if a.conv_gemm != "off" and a.conv_block != 1:
        p.error(f"--conv-gemm {a.conv_gemm} needs --conv-block 1, got --conv-block {a.conv_block}")
    models = _models_arg(p, a.model)
    if a.out is not None:
        try:
            check_output_path(a.out, kind="dir", flag="--out")
        except ValueError as e:
            p.error(str(e))
    rivals = [r for r in RIVALS if r in a.rivals]
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    opts = TrainerOptions.from_args(a)
    if (bad := opts.flag_error(fusion_flag=False)) is not None:
        p.error(bad)
    if a.sgd_kernel != "foreach" and {"streams", "fused"} & set(rivals):
        try:
            check_sgd_kernel(a.sgd_kernel, dev, "--sgd-kernel")
        except ValueError as e:
            p.error(str(e))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = synthetic_data(a.n_train, a.channels, a.image_size, a.classes)
    if dev.type == "cpu":  # a GPU benchmark started on the CPU: say so, with a measured estimate
        from sketchbound.dnn.experiments.cpu_warning import warn_if_long_on_cpu  # noqa: PLC0415
        shape = (a.channels, a.image_size, a.image_size)
        per_model = sum({"plain": 1, "compile": 1}.get(r, a.jobs) for r in rivals)
        warn_if_long_on_cpu([((a.warmup + a.steps) * per_model, lambda m=m: bench_model(m, data, a.width, 0), shape,
                              a.classes, a.batch_size, m) for m in models],
                            what=f"this benchmark ({', '.join(rivals)} x {a.warmup + a.steps} steps)",
                            hint="make it smaller (--steps 20 --warmup 2 --jobs 2 --n-train 2048)", threshold_s=60)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    from sketchbound.dnn.experiments.results import git_commit  # noqa: PLC0415 (SKETCHBOUND_COMMIT, else git)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    out = {"device": name, "torch": torch.__version__, "commit": git_commit(),
           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "command": "python -m sketchbound.dnn.bench_train " + " ".join(argv_list), "batch_size": a.batch_size,
           "jobs": a.jobs, "density": a.density, "steps": a.steps, "warmup": a.warmup, "width": a.width,
           "image_size": a.image_size, "compile_mode": a.compile_mode, "nchw": a.nchw,
           "fuse_width": a.fuse_width, "conv_block": a.conv_block, "conv_gemm": a.conv_gemm,
           "fused_compile": a.fused_compile, "sgd_kernel": a.sgd_kernel, "weight_copies": a.weight_copies,
           "rivals": rivals, "models": {}}
    common = dict(steps=a.steps, warmup=a.warmup, batch_size=a.batch_size, device=dev, width=a.width)
    graphs = False if a.no_graphs else None
    layout = False if a.nchw else None  # channels_last: None = the trainers' default (on for CUDA)
    from sketchbound._progress import elapsed  # noqa: PLC0415
    for m in models:
        shape = (a.channels, a.image_size, a.image_size)
        res = {"flops_per_image": flops_per_image(bench_model(m, data, a.width, 0), shape),
               "traffic_per_image": traffic_per_image(bench_model(m, data, a.width, 0), shape), "ways": {}}
        out["models"][m] = res
        for r in rivals:
            with elapsed(f"{m}: {r} ({a.warmup + a.steps} steps)"), _recorded_failure(res["ways"], r):
                if r == "plain":
                    res["ways"][r] = bench_plain(m, data, **common)
                elif r == "compile":
                    res["ways"][r] = bench_compile(m, data, mode=a.compile_mode, timeout_s=a.compile_timeout or None,
                                                   **common)
                elif r == "vmap":
                    res["ways"][r] = bench_vmap(m, data, jobs=a.jobs, **common)
                elif r == "streams":
                    res["ways"][r] = bench_concurrent(m, data, jobs=a.jobs, density=a.density, cuda_graphs=graphs,
                                                      channels_last=layout, options=opts, **common)
                else:
                    res["ways"][r] = bench_fused(m, data, jobs=a.jobs, density=a.density, cuda_graphs=graphs,
                                                 channels_last=layout, max_fused=a.fuse_width,
                                                 conv_block=a.conv_block, options=opts, **common)
            _free(dev)
        summarise(res, res["flops_per_image"], name, a.batch_size)
        if a.out is not None:  # after each model, so a run cut short keeps what it measured
            atomic_write_json(os.path.join(a.out, "bench_train.json"), out)
            atomic_write(os.path.join(a.out, "bench_train.md"), to_markdown(out))
    if a.json:
        print(json.dumps(out))
    else:
        print(to_markdown(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
