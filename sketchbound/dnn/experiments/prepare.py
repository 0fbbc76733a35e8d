"""The preparation of runs before they train: the run directory with its config files and log, the data,
the network at initialisation, and the mask (computed, or read back from ``mask.pt``) (§7).

:func:`prepare_job` prepares one run (an :class:`OpenedRun`, then a :class:`PreparedRun`);
:func:`prepare_chunk` the runs of one chunk, where the IMP runs that share their data, level schedule and
rewind step search their masks together (:func:`~sketchbound.dnn.experiments.masking.compute_imp_masks`).
"""
from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from sketchbound._io import atomic_write
from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.experiments.data_cache import data_for
from sketchbound.dnn.experiments.masking import (MaskResult, build_model, compute_imp_masks, compute_mask,
                                                 imp_group_key, read_mask_file, write_mask_file)
from sketchbound.dnn.training import TrainJob

__all__ = ["OpenedRun", "PreparedRun", "prepare_job", "prepare_chunk"]

#: the fewest IMP runs of a chunk that search their masks together (:func:`compute_imp_masks`); fewer
#: take the per-run path of :func:`compute_mask` (a test raises it to compare the two paths)
IMP_MANY_MIN = 2


class RunLog:
    """Appends time-stamped lines to a run's ``log.txt`` (and echoes them on stderr with ``echo``)."""

    def __init__(self, path: Path, echo: bool = False):
        self.path, self.echo = path, echo

    def __call__(self, msg: str) -> None:
        line = f"{_dt.datetime.now().isoformat(timespec='seconds')} {msg}"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, file=sys.stderr)



@dataclass(frozen=True)
class OpenedRun:
    """A run whose directory is open: the first half of :func:`prepare_job`, before its mask.

    Parameters
    ----------
    cfg : RunConfig
        The run (resolved).
    dir : Path
        Its directory ``<runs_dir>/<name>-<hash>`` (holds ``config.json``, ``config.toml``, ``log.txt``).
    log : callable
        Appends one time-stamped line to ``log.txt``.
    data : TensorDataset
        Its training and test data.
    model : torch.nn.Module
        Its network at initialisation, on the run's device.
    command : str
        The command line recorded in ``result.json``.

    Examples
    --------
    >>> import dataclasses
    >>> [f.name for f in dataclasses.fields(OpenedRun)]
    ['cfg', 'dir', 'log', 'data', 'model', 'command']
    """

    cfg: RunConfig
    dir: Path
    log: Callable[[str], None]
    data: TensorDataset
    model: torch.nn.Module
    command: str


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to train: its :class:`~sketchbound.dnn.training.TrainJob` and what ``result.json``
    records beside the training (what :func:`prepare_job` returns).

    Parameters
    ----------
    job : TrainJob
        The training job (the model at its start: IMP's θ_k, else the initialisation; its mask).
    run : OpenedRun
        The run's directory, log, data, model and command.
    mask : MaskResult
        Its mask (computed, or read from ``mask.pt``).
    init_weights : dict of str to Tensor
        The prunable weights at the start of training, on the CPU (``result.json``'s ``c_stats``).
    t0 : float
        ``time.time()`` when the job was made (``result.json``'s ``wall_s``).
    trainer : str
        ``"streams"`` or ``"fused"``: the trainer that trained it (set when its chunk starts).
    fused_compile : str or None
        The fused trainer's ``torch.compile`` mode, when one ran.
    conv_gemm : str
        The fused trainer's convolution GEMM mode (``"off"``: not used).
    sgd_kernel : str
        The masked SGD step (``"foreach"`` by default).
    weight_copies : bool
        Whether the fused trainer kept bfloat16 weight copies.

    Examples
    --------
    The trainer fields are set when the run's chunk starts (``dataclasses.replace``); the others by
    :func:`prepare_job`:

    >>> import dataclasses
    >>> [f.name for f in dataclasses.fields(PreparedRun)][:5]
    ['job', 'run', 'mask', 'init_weights', 't0']
    """

    job: TrainJob
    run: OpenedRun
    mask: MaskResult
    init_weights: dict
    t0: float
    trainer: str = "streams"
    fused_compile: str | None = None
    conv_gemm: str = "off"
    sgd_kernel: str = "foreach"
    weight_copies: bool = False


def prepare_job(cfg: RunConfig, runs_dir, device: torch.device, *, progress: bool = False, echo: bool = False,
                command: str | None = None) -> PreparedRun:
    """Create the run directory, build the model, load (``mask.pt``, verified) or compute the mask.

    Parameters
    ----------
    cfg : RunConfig
        The run.
    runs_dir : str or Path
        The parent of the run directories.
    device : torch.device
        Where the model lives.
    progress : bool, optional
        Say how long the mask step took.
    echo : bool, optional
        Also print the run's log lines on stderr.
    command : str, optional
        The command recorded in ``result.json`` (default: ``sys.argv``).

    Returns
    -------
    PreparedRun

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> d = tempfile.TemporaryDirectory()
    >>> _ = write_idx_split(d.name, 8, 4)  # a tiny MNIST: 8 training and 4 test images
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", data_root=d.name, method="magnitude",
    ...                 density=0.1, width=0.25, batch_size=4)
    >>> prep = prepare_job(cfg, os.path.join(d.name, "runs"), torch.device("cpu"))
    >>> prep.job.masks is prep.mask.masks, (prep.run.dir / "mask.pt").is_file(), sorted(prep.init_weights)
    (True, True, ['fc1.weight', 'fc2.weight', 'fc3.weight'])
    >>> d.cleanup()
    """
    run = _open_run(cfg, runs_dir, device, echo=echo, command=command)
    mask_file = run.dir / "mask.pt"
    if mask_file.exists():  # a directory there is refused by load_verified
        saved = read_mask_file(mask_file, run.cfg)
        run.log("mask: loaded mask.pt (digest and run identity verified)")
    else:
        saved = compute_mask(run.cfg, run.model, run.data, device, run.log, progress=progress)
        write_mask_file(mask_file, saved, run.cfg)
    return _job_from(run, saved)


def _open_run(cfg: RunConfig, runs_dir, device: torch.device, *, echo: bool, command: str | None) -> OpenedRun:
    """The first half of :func:`prepare_job`: the run directory with its config files and log, the data
    and the model at initialisation."""
    cfg = cfg.resolved()
    d = cfg.run_dir(runs_dir)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    atomic_write(d / "config.toml", f"# run {cfg.run_name()}\n[run]\n" + cfg.to_toml())
    log = RunLog(d / "log.txt", echo=echo)
    command = command or " ".join(sys.argv)
    log(f"start: {command}")
    data = data_for(cfg)
    if cfg.batch_size > len(data):  # before the mask step, which can take a minute
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the training set size {len(data)} of {cfg.dataset}")
    model = build_model(cfg, data, device)
    return OpenedRun(cfg=cfg, dir=d, log=log, data=data, model=model, command=command)


def _job_from(run: OpenedRun, saved: MaskResult) -> PreparedRun:
    """The second half of :func:`prepare_job`: the model at its start (IMP: θ_k) and its :class:`PreparedRun`."""
    cfg, model = run.cfg, run.model
    if saved.init_state is not None:
        model.load_state_dict(saved.init_state)
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    # the initial prunable weights (before a weighted mask scales them), for result.json's c_stats
    init_weights = {n: p.detach().cpu().clone() for n, p in prunable_parameters(model)}
    job = TrainJob(model=model, masks=saved.masks, seed=cfg.seed, checkpoint=run.dir / "checkpoint.pt",
                   name=cfg.run_name(), start_step=int(saved.start_step), mask_values=cfg.mask_values, log=run.log)
    return PreparedRun(job=job, run=run, mask=saved, init_weights=init_weights, t0=time.time())


def prepare_chunk(cfgs: Sequence[RunConfig], runs_dir, dev: torch.device, *, progress: bool, echo: bool,
                  command: str | None) -> list:
    """Prepare each run of a chunk, in order: :func:`prepare_job`, except that the IMP runs without a
    saved mask that share :func:`~sketchbound.dnn.experiments.masking.imp_group_key` search their masks
    together (:func:`~sketchbound.dnn.experiments.masking.compute_imp_masks`) when there are at least
    ``IMP_MANY_MIN`` of them. A run that fails leaves ``failed.json`` (an IMP group's failure: in each of
    its runs) and the error propagates.

    Parameters
    ----------
    cfgs : sequence of RunConfig
        The runs of one chunk (:func:`~sketchbound.dnn.experiments.planning.plan_chunks`).
    runs_dir : str or Path
        The parent of the run directories.
    dev : torch.device
        Where the models live.
    progress, echo : bool
        As in :func:`prepare_job`.
    command : str or None
        The command recorded in ``result.json``.

    Returns
    -------
    list of PreparedRun
        One per run, in the order of ``cfgs``.

    Examples
    --------
    An empty chunk prepares nothing:

    >>> prepare_chunk([], "runs", torch.device("cpu"), progress=False, echo=False, command=None)
    []
    """
    groups: dict[tuple, list[RunConfig]] = {}
    for c in cfgs:
        if c.method == "imp" and not (c.run_dir(runs_dir) / "mask.pt").is_file():
            groups.setdefault(imp_group_key(c), []).append(c)
    groups = {k: g for k, g in groups.items() if len(g) >= max(2, IMP_MANY_MIN)}
    together = {c.run_name() for g in groups.values() for c in g}
    prepared: dict[str, PreparedRun] = {}
    opened: dict[str, OpenedRun] = {}
    for c in cfgs:
        try:
            if c.run_name() in together:
                opened[c.run_name()] = _open_run(c, runs_dir, dev, echo=echo, command=command)
            else:
                prepared[c.run_name()] = prepare_job(c, runs_dir, dev, progress=progress, echo=echo, command=command)
        except Exception as e:  # leave a readable trace in the run directory, then stop
            _mark_failed(c.run_dir(runs_dir), e)
            raise
    for g in groups.values():
        runs = [opened[c.run_name()] for c in g]
        try:
            saved = compute_imp_masks([r.cfg for r in runs], [r.model for r in runs], runs[0].data, dev,
                                      [r.log for r in runs], progress=progress)
        except Exception as e:
            for c in g:
                _mark_failed(c.run_dir(runs_dir), e)
            raise
        for r, s in zip(runs, saved):
            write_mask_file(r.dir / "mask.pt", s, r.cfg)
            prepared[r.cfg.run_name()] = _job_from(r, s)
    return [prepared[c.run_name()] for c in cfgs]


def _mark_failed(d: Path, err: BaseException) -> None:
    """Write ``failed.json`` (the error, its type, the date) into a run directory that could not start."""
    if d.is_dir():
        atomic_write(d / "failed.json", json.dumps({
            "error": " ".join(str(err).split()), "type": type(err).__name__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}, indent=2) + "\n")
