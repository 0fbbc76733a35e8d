"""Run one configuration (or many) end to end: init → scores → mask → masked training → result.json (§7).

``python -m sketchbound.dnn.run --model resnet20 --dataset fashion-mnist --method synflow --inputs chi
--mask randomized --density 0.05 --seed 0 --epochs 2`` trains one run in
``<runs-dir>/<name>-<hash>/`` (see :mod:`sketchbound.dnn.experiments.config`), which holds ``config.json``,
``config.toml``, ``log.txt``, ``mask.pt``, ``checkpoint.pt`` (every epoch) and, when finished,
``result.json`` (accuracy, density, per-layer kept counts, ``c_stats`` = |w*/w⁰| quantiles over kept weights
and ℓ1/ℓ2 of the kept initial weights (:func:`sketchbound.dnn.theory.layers.kept_weight_stats`), seed, command, torch version, device name,
git commit, date). A finished run is not run again (``--force`` reruns it); a killed run resumes from
its last checkpoint with the saved mask.

Pipeline of one run (paper §7): the model is built by ``get_model(..., init, seed=seed)``; pruning
scores are computed on a copy of it by ``compute_scores(method, model, inputs)`` with the §5/§7 input
kind (all-ones, χ, matched normal, sparse, real batches of 256), and the mask by
``make_mask(scores, density, mode, rng)``; IMP (§7, Table II) runs :func:`sketchbound.dnn.experiments.imp.imp` and
trains the final mask from the rewind point. Matched-normal inputs use the per-channel mean/std of
the *normalised* training images (the space the network sees).

The IMP runs of one chunk that share the data, the level schedule and the rewind step search their
masks together (:func:`compute_imp_masks`, :func:`~sketchbound.dnn.experiments.imp.imp_many`): their
levels are the jobs of one trainer, with the same masks, rewind states and level records as one IMP
after the other (bit-identical on CPU); ``mask_seconds`` and the levels' ``seconds`` are then the
group's wall time.

:func:`run_configs` trains many runs, grouping those with the same data and schedule into one
:class:`~sketchbound.dnn.training.ConcurrentTrainer` (``concurrent`` jobs at once; default 8 on CUDA), or,
with ``fusion`` (``"auto"``: where measured faster on CUDA), a
:class:`~sketchbound.dnn.training.fused.FusedTrainer` that trains the runs of one architecture as one
horizontally fused network; result.json records which (``"trainer": "fused" | "streams"``). Fusion is
not part of a run's identity (floating-point order only).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from sketchbound._cli import interruptible, torch_device
from sketchbound._io import atomic_write, check_output_path
from sketchbound.dnn.experiments.config import (OneLineParser, RunConfig, add_config_arguments, add_lock_wait_argument,
                                                config_from_args)
from sketchbound.dnn.experiments.data_cache import DATA_CACHE, data_for, preload_data
from sketchbound.dnn.experiments.locks import LOCK_FILE, RunLock, RunLocked, wait_for_lock
from sketchbound.dnn.experiments.masking import (MaskResult, build_model, compute_imp_masks, compute_mask,
                                                 imp_group_key, mask_identity, prune_at_init)
from sketchbound.dnn.experiments.planning import balance_chunks, mask_cost, plan_chunks
from sketchbound.dnn.experiments.results import RESULT_FILE, environment, git_commit, is_finished, load_result
from sketchbound.dnn.experiments.prepare import OpenedRun, PreparedRun, RunLog, prepare_chunk, prepare_job
from sketchbound.dnn.experiments.toml_io import read_toml, run_table
from sketchbound.dnn.data import dataset_info
from sketchbound.dnn.training import ConcurrentTrainer, TrainResult, mask_density
from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel, check_weight_copies
from sketchbound.dnn.training.fused import FusedTrainer, plan_fusion
from sketchbound.dnn.training.options import FUSION_CHOICES, TrainerOptions, check_compile_mode, check_conv_gemm

#: the run's public names; the helpers of its parts (preparation, locks, data cache, masks, planning, results)
#: are re-exported here so that ``from sketchbound.dnn.experiments.run import ...`` keeps working
__all__ = ["run_one", "run_configs", "build_parser", "main", "OpenedRun", "PreparedRun", "MaskResult", "prepare_job",
           "preload_data", "plan_chunks", "balance_chunks", "mask_cost", "RunLock", "RunLocked", "is_finished",
           "load_result", "prune_at_init", "build_model", "compute_mask", "compute_imp_masks", "environment",
           "git_commit", "data_for", "DATA_CACHE", "mask_identity", "imp_group_key", "wait_for_lock", "LOCK_FILE",
           "RESULT_FILE"]


# --------------------------------------------------------------------------------------------- helpers
def _run_with(ctx, f):
    with ctx:
        return f()


def _warn_if_long_on_cpu(pending: Sequence[RunConfig], dev: torch.device) -> None:
    """A GPU-sized job starting on the CPU: one warning with a measured estimate (see ``cpu_warning``)."""
    from sketchbound.dnn.experiments.cpu_warning import warn_if_long_on_cpu  # noqa: PLC0415
    jobs = [(c.epochs * (len(data_for(c)) // c.batch_size), lambda c=c: build_model(c, data_for(c), dev),
             (data_for(c).in_channels, data_for(c).image_size, data_for(c).image_size),
             data_for(c).num_classes, c.batch_size, f"{c.model} x{c.width:g}") for c in pending]
    warn_if_long_on_cpu(jobs, what=f"{len(pending)} run(s) to train", hint="shorten it (--epochs N; "
                        "--set train_subset=N in dnn.table, --train-subset N in dnn.run)")


def _write_result(prep: PreparedRun, res: TrainResult, device: torch.device) -> dict:
    """Write the run's ``result.json`` (atomically) from its training result; returns what it wrote."""
    cfg, run = prep.run.cfg, prep.run
    masks = prep.mask.masks
    if masks:
        density, kept, size = mask_density(masks)
    else:
        density, kept, size = 1.0, {}, {}
    out = {
        "run": cfg.run_name(), "hash": cfg.config_hash(), "config": cfg.to_dict(),
        "accuracy": res.test_accuracy, "test_loss": res.test_loss, "train_loss": res.train_loss,
        "train_accuracy": res.train_accuracy, "density": density, "target_density": cfg.density,
        "kept_per_layer": kept, "size_per_layer": size, "seed": cfg.seed, "epochs": res.epochs_done,
        "steps": res.steps, "resumed_from_epoch": res.resumed_from_epoch, "resume_note": res.resume_note,
        "history": res.history,
        "data": dataset_info(run.data), "command": run.command,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": time.time() - prep.t0, **environment(device), **prep.mask.extra,
        "trainer": prep.trainer,
    }
    if prep.fused_compile:  # only when it ran: the result files of eager runs keep their keys
        out["fused_compile"] = prep.fused_compile
    if prep.conv_gemm != "off":  # likewise: only when the fused trainer ran with it
        out["conv_gemm"] = prep.conv_gemm
    if prep.sgd_kernel != "foreach":  # likewise: only when not the default
        out["sgd_kernel"] = prep.sgd_kernel
    if prep.weight_copies:
        out["weight_copies"] = True
    if run.model is not None and prep.init_weights is not None:
        from sketchbound.dnn.theory.layers import kept_weight_stats  # noqa: PLC0415
        from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
        final = {n: p.detach() for n, p in prunable_parameters(run.model)}
        # |w*/w0| over kept weights and norms of the kept initial weights (Theorem 4.4's c in practice)
        out["c_stats"] = kept_weight_stats(prep.init_weights, final, masks or None)
    atomic_write(run.dir / RESULT_FILE, json.dumps(out, indent=2, default=str) + "\n")
    (run.dir / "failed.json").unlink(missing_ok=True)
    run.log(f"done: accuracy {res.test_accuracy} density {density:.6f}")
    return out


def _train_chunk(chunk: list[RunConfig], runs_dir, dev, *, progress, echo, command, options: TrainerOptions,
                 **trainer_kw) -> list[RunConfig]:
    """Train one chunk under its runs' locks; returns the runs left alone because another live process
    holds them. A run whose result.json exists once its lock is held is not trained again. ``options.fusion``
    (see :func:`~sketchbound.dnn.training.fused.plan_fusion`) decides, per architecture, whether its runs
    train horizontally fused (one :class:`FusedTrainer` built with :meth:`TrainerOptions.fused_kw`:
    ``compile_mode``, ``conv_gemm``, ``weight_copies``) or on streams (one :class:`ConcurrentTrainer`), both
    with :meth:`TrainerOptions.common_kw` (``sgd_kernel``); when a chunk holds both, the two trainers run one
    after the other."""
    locks, mine, busy = [], [], []
    try:
        for c in chunk:
            lock = RunLock(c.run_dir(runs_dir))
            if not lock.try_acquire():
                busy.append(c)
                continue
            locks.append(lock)
            for tmp in c.run_dir(runs_dir).glob(".*.tmp"):  # a killed writer's leftovers (the lock is ours)
                tmp.unlink(missing_ok=True)
            if not (c.run_dir(runs_dir) / RESULT_FILE).is_file():
                mine.append(c)
        if mine:
            prepared = prepare_chunk(mine, runs_dir, dev, progress=progress, echo=echo, command=command)
            c0 = mine[0]
            data = prepared[0].run.data
            fusion, fused_kw, common_kw = options.fusion, options.fused_kw(), options.common_kw()
            kinds = plan_fusion([p.job.model for p in prepared], batch_size=c0.batch_size, device=dev,
                                image_shape=(data.in_channels, data.image_size, data.image_size),
                                num_classes=data.num_classes, fusion=fusion, fused_kw=fused_kw, common_kw=common_kw)
            for kind, cls in (("fused", FusedTrainer), ("streams", ConcurrentTrainer)):
                own = {**common_kw, **(fused_kw if kind == "fused" else {})}
                part = [dataclasses.replace(pm, trainer=kind, fused_compile=own.get("compile_mode"),
                                            conv_gemm=own.get("conv_gemm", "off"),
                                            sgd_kernel=own.get("sgd_kernel", "foreach"),
                                            weight_copies=own.get("weight_copies", False))
                        for pm, k in zip(prepared, kinds) if k == kind]
                if not part:
                    continue
                for pm in part:
                    pm.run.log(f"trainer: {kind} ({len(part)} run(s) together; fusion={fusion}"
                                + (f", torch.compile {own['compile_mode']}" if "compile_mode" in own else "")
                                + (f", conv GEMM {own['conv_gemm']}" if "conv_gemm" in own else "")
                                + (f", SGD kernel {own['sgd_kernel']}" if "sgd_kernel" in own else "")
                                + (", weight copies" if own.get("weight_copies") else "") + ")")
                tr = cls([pm.job for pm in part], data, c0.schedule(), device=dev, augment=c0.augment,
                         eval_every=c0.eval_every, checkpoint_every_s=c0.checkpoint_every_s, progress=progress,
                         **trainer_kw, **own)
                if progress:  # the final test-set evaluation follows the training bar: show it too
                    from sketchbound._progress import elapsed  # noqa: PLC0415
                    for st in tr.states:
                        st.evaluate = (lambda f=st.evaluate, n=st.job.name:
                                       _run_with(elapsed(f"evaluate {n} on the test set"), f))
                results = tr.run()
                for pm, res in zip(part, results):
                    if res.finished:
                        _write_result(pm, res, dev)
                del tr
    finally:
        for lock in locks:
            lock.release()
    return busy


def run_configs(configs: Sequence[RunConfig], runs_dir="runs", *, device=None, concurrent: int | None = None,
                force: bool = False, progress: bool = True, echo: bool = False, command: str | None = None,
                wait: bool = True, lock_wait: float | None = None, options: TrainerOptions | None = None,
                on_chunk=None, **trainer_kw) -> list[dict]:
    """Run every config not finished yet (``force`` reruns) and return all results (in input order).

    Configs sharing :meth:`RunConfig.trainer_key` are trained ``concurrent`` at a time in one
    :class:`~sketchbound.dnn.training.ConcurrentTrainer` (default: 8 on CUDA, 1 on CPU), or horizontally
    fused in a :class:`~sketchbound.dnn.training.fused.FusedTrainer`: ``fusion="on"`` always, ``"off"``
    never, ``"auto"`` where a few measured steps say it is faster (CUDA; on CPU ``"auto"`` keeps the
    unfused trainer). ``options`` (a :class:`~sketchbound.dnn.training.options.TrainerOptions`; default: its
    defaults) says how runs train: ``fusion``, ``fused_compile``, ``conv_gemm``, ``sgd_kernel`` and
    ``weight_copies``, which may also be given as keyword arguments of their own (they replace the
    object's). Fusion changes results only by floating-point order and is not part of a run's
    config hash; result.json says which trainer ran (``"trainer"``). ``fused_compile`` (one of
    :data:`~sketchbound.dnn.training.fused.COMPILE_MODES`; default ``None``: eager) runs the fused
    trainers' step through ``torch.compile`` (Inductor's kernels: the arithmetic is the same up to
    floating-point order, which grows over many steps as any change of order does); not part of the
    hash either, recorded as ``"fused_compile"`` in result.json of the runs it trained; ``fusion="auto"``
    decides on a few steps of the fused trainer as it would run (compiled, and with ``conv_gemm``).
    ``conv_gemm`` (one of :data:`~sketchbound.dnn.training.fused.CONV_GEMM`; default ``"off"``) runs the
    fused trainers' convolutions as batched GEMMs where it says (``FusedTrainer(conv_gemm=...)``); the same
    arithmetic up to floating-point order, not part of the hash, recorded as ``"conv_gemm"``. ``sgd_kernel``
    (one of :data:`~sketchbound.dnn.training.sgd_kernel.SGD_KERNELS`; default ``"foreach"``) is both trainers'
    masked SGD step and ``weight_copies`` (needs ``"triton"``) the fused trainers' bfloat16 weight copies
    (:class:`FusedTrainer`): the same update up to floating-point rounding, not part of the hash, recorded as
    ``"sgd_kernel"``/``"weight_copies"`` when not the default. Each run is
    trained under its :class:`RunLock`: runs another live process holds are left to it and, with
    ``wait``, waited for at the end (and trained here if that process died before finishing them) while
    the holder touches its lock, or :class:`RunLocked` once the lock stays untouched ``lock_wait`` seconds
    (a reused PID; ``None``: no limit); the wait is announced on stderr when ``echo`` or ``progress``.
    ``on_chunk``, when given, is called with each chunk of runs once it has been trained (or left to another
    process): ``dnn.table``'s progress over all runs.

    Parameters
    ----------
    configs : sequence of RunConfig
        The runs.
    runs_dir : str or Path, optional
        The parent of the run directories (default ``"runs"``).
    device : str or torch.device, optional
        Default: ``cuda`` when available, else the CPU.
    concurrent : int, optional
        Runs trained at once (default 8 on CUDA, 1 on the CPU).
    force : bool, optional
        Train finished runs again.
    progress, echo : bool, optional
        Training bars; the runs' log lines on stderr.
    command : str, optional
        Recorded in ``result.json`` (default: ``sys.argv``).
    wait, lock_wait :
        See above.
    options : TrainerOptions, optional
        See above.
    on_chunk : callable, optional
        See above.
    **trainer_kw
        The :class:`TrainerOptions` fields, or the trainers' keyword arguments (``amp``, ``channels_last``, ...).

    Returns
    -------
    list of dict or None
        Each run's ``result.json`` (``None`` for a run that did not finish), in input order.

    Examples
    --------
    Nothing to train, nothing read:

    >>> run_configs([], "no/such/runs", device="cpu", progress=False)
    []
    """
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    k = int(concurrent) if concurrent else (8 if dev.type == "cuda" else 1)
    if k < 1:
        raise ValueError(f"concurrent must be >= 1, got {concurrent!r}")
    options = TrainerOptions.pop_from(options, trainer_kw)
    fusion = options.fusion
    if fusion not in FUSION_CHOICES:
        raise ValueError(f"fusion must be one of {FUSION_CHOICES}, got {fusion!r}")
    check_compile_mode(options.fused_compile, "fused_compile")
    check_conv_gemm(options.conv_gemm, "conv_gemm")
    check_sgd_kernel(options.sgd_kernel, dev, "sgd_kernel")
    check_weight_copies(options.weight_copies, options.sgd_kernel)
    cfgs = [c.resolved() for c in configs]
    kw = dict(progress=progress, echo=echo, command=command, options=options, **trainer_kw)
    busy: list[RunConfig] = []
    chunks = plan_chunks(cfgs, runs_dir, k, force, fusion=fusion)
    if dev.type == "cpu" and chunks:
        _warn_if_long_on_cpu([c for chunk in chunks for c in chunk], dev)
    for chunk in chunks:
        busy += _train_chunk(chunk, runs_dir, dev, **kw)
        if on_chunk is not None:
            on_chunk(chunk)
    while busy and wait:
        for c in busy:  # another live process holds it: wait until it lets go, then train what is left
            lock = RunLock(c.run_dir(runs_dir))
            wait_for_lock(lock, c.run_name(), lock_wait,
                           (lambda m: print(m, file=sys.stderr)) if (echo or progress) else None)
            lock.release()
        busy = [b for chunk in plan_chunks(busy, runs_dir, k, fusion=fusion) for b in _train_chunk(chunk, runs_dir, dev, **kw)]
    return [load_result(c, runs_dir) for c in cfgs]


def run_one(cfg: RunConfig, runs_dir="runs", **kw) -> dict:
    """Run (or load the finished result of) one configuration: :func:`run_configs` of ``[cfg]``.

    Parameters
    ----------
    cfg : RunConfig
        The run.
    runs_dir : str or Path, optional
        The parent of its directory.
    **kw
        As in :func:`run_configs`.

    Returns
    -------
    dict or None
        Its ``result.json``.

    Examples
    --------
    One epoch of a quarter-width LeNet-300-100 on a tiny MNIST written here (the second call loads the result):

    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> d = tempfile.TemporaryDirectory()
    >>> _ = write_idx_split(d.name, 8, 4)  # a tiny MNIST: 8 training and 4 test images
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", data_root=d.name, method="magnitude",
    ...                 mask="randomized", density=0.5, epochs=1, batch_size=4, width=0.25)
    >>> res = run_one(cfg, os.path.join(d.name, "runs"), device="cpu", progress=False)
    >>> res["epochs"], res["steps"], round(res["density"], 3)
    (1, 2, 0.5)
    >>> run_one(cfg, os.path.join(d.name, "runs"), device="cpu", progress=False)["hash"] == res["hash"]
    True
    >>> d.cleanup()
    """
    return run_configs([cfg], runs_dir, **kw)[0]


# --------------------------------------------------------------------------------------------- CLI
def build_parser() -> OneLineParser:
    """The parser of ``python -m sketchbound.dnn.run``: one flag per :class:`RunConfig` field and the run's options.

    Returns
    -------
    OneLineParser

    Examples
    --------
    >>> build_parser().parse_args(["--method", "snip", "--density", "0.05"]).density
    0.05
    """
    p = OneLineParser(prog="python -m sketchbound.dnn.run",
                      description="Prune at initialization and train one run (paper §7); see sketchbound.dnn.experiments.config.")
    p.add_argument("--config", help="TOML file with a [run] table (flags override it)")
    p.add_argument("--runs-dir", default="runs", help="parent of the run directories (default: runs)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--force", action="store_true", help="rerun even if result.json exists; also runs a network "
                                                        "larger than half of this machine's memory (refused otherwise)")
    add_lock_wait_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--print-dir", action="store_true", help="print the run directory and exit")
    p.add_argument("--masks", metavar="FILE", help="train the mask written by python -m sketchbound.dnn.prune --save "
                   "FILE (its run config is the base; training flags may change, flags that change the mask may not)")
    add_config_arguments(p)
    from sketchbound.dnn.experiments.cli_help import flag_helps  # noqa: PLC0415
    helps = flag_helps("cifar10")
    for a in p._actions:
        a.help = helps.get(a.dest, a.help)
    return p


@interruptible("python -m sketchbound.dnn.run")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sketchbound.dnn.run``: prune at initialisation and train one run (see the module docstring).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 (the run's directory, accuracy, density and seed printed as JSON), 1 when it did not finish; bad
        arguments or data: one line on stderr and ``SystemExit(2)``.

    Examples
    --------
    >>> main(["--density", "2"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    p = build_parser()
    args = p.parse_args(argv)
    try:
        base = {}
        if args.config:
            base = run_table(read_toml(args.config), args.config)
        if args.masks:  # the run the file was made for, then the flags; load_masks refuses a mask-changing flag
            from sketchbound.dnn.experiments.masks_file import load_masks  # noqa: PLC0415
            base = {**base, **load_masks(args.masks)[1]}
        cfg = config_from_args(args, base).resolved()
        cfg.check_imp_rewind()  # before loading data: a rewind step no IMP level could reach
        cfg.check_batch_size()
        from sketchbound.dnn.experiments.budget import check_run_budget  # noqa: PLC0415
        check_run_budget(p.prog, [cfg], force=args.force)  # before any network is built
        if args.device is not None:
            torch_device(p.prog, args.device)
        check_output_path(args.runs_dir, kind="dir", flag="--runs-dir")
    except (ValueError, FileNotFoundError) as e:
        p.error(" ".join(str(e).split()))
    if args.print_dir:
        print(cfg.run_dir(args.runs_dir))
        return 0
    argv_list = list(sys.argv[1:] if argv is None else argv)
    cached = not args.force and is_finished(cfg, args.runs_dir)
    try:
        if args.masks:  # the run's mask.pt, after checking the file against the run and its model
            from sketchbound.dnn.experiments.masks_file import place_masks  # noqa: PLC0415
            place_masks(args.masks, cfg, cfg.run_dir(args.runs_dir) / "mask.pt", mask_identity(cfg),
                        build_model(cfg, data_for(cfg), torch.device("cpu")))
        res = run_one(cfg, args.runs_dir, device=args.device, force=args.force, progress=not args.no_progress,
                      echo=True, lock_wait=args.lock_wait, command="python -m sketchbound.dnn.run " + " ".join(argv_list))
    except (FileNotFoundError, ValueError, RunLocked) as e:
        sys.stderr.write(f"{p.prog}: error: {' '.join(str(e).split())}\n")
        raise SystemExit(2) from None
    if res is not None and cfg.data_root is not None and not Path(cfg.data_root).exists():
        # data_root is not part of the run's identity: a finished run is returned without reading any data
        note = (f"note: the run was already finished; --data-root {cfg.data_root} (which does not exist) was not "
                f"read")
        sys.stderr.write(f"{note}\n")
        RunLog(cfg.run_dir(args.runs_dir) / "log.txt")(note)
    if res is None:
        sys.stderr.write(f"{p.prog}: error: run did not finish\n")
        return 1
    if cached:
        sys.stderr.write(f"cached: {cfg.run_dir(args.runs_dir)} (finished before; --force trains it again)\n")
    print(json.dumps({"run_dir": str(cfg.run_dir(args.runs_dir)), "accuracy": res["accuracy"],
                      "density": res["density"], "seed": res["seed"]}))
    classes = (res.get("data") or {}).get("num_classes")
    if classes and res["accuracy"] is not None and res["accuracy"] < 150.0 / classes:
        sys.stderr.write(f"note: test accuracy {res['accuracy']:.1f}% is about chance ({100 / classes:.0f}% for {classes} "
                         f"classes), as expected of a run this short ({cfg.epochs} epoch(s)); the paper trains 160\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
