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

import datetime as _dt
import json
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

import torch

from sketchbound._cli import interruptible, torch_device
from sketchbound._io import atomic_write, check_output_path
from sketchbound.dnn.training.checkpoint import load_verified, save_verified
from sketchbound.seeds import stream_seed
from sketchbound.dnn.experiments.config import (OneLineParser, RunConfig, add_config_arguments, add_lock_wait_argument,
                                                config_from_args, read_toml, run_table)
from sketchbound.dnn.data import TensorDataset, dataset_info, load_dataset
from sketchbound.dnn.training import ConcurrentTrainer, TrainJob, TrainResult, mask_density
from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel, check_weight_copies
from sketchbound.dnn.training.fused import (FUSION_CHOICES, FusedTrainer, check_compile_mode, check_conv_gemm,
                                             plan_fusion)

__all__ = ["run_one", "run_configs", "preload_data", "plan_chunks", "balance_chunks", "mask_cost", "RunLock", "RunLocked", "is_finished",
           "load_result", "prepare_job", "prune_at_init", "build_model", "compute_mask", "compute_imp_masks", "main", "environment"]

RESULT_FILE = "result.json"
LOCK_FILE = "lock"
#: the fewest IMP runs of a chunk that search their masks together (:func:`compute_imp_masks`); fewer
#: take the per-run path of :func:`compute_mask` (a test raises it to compare the two paths)
_IMP_MANY_MIN = 2


# --------------------------------------------------------------------------------------------- helpers
class _RunLog:
    def __init__(self, path: Path, echo: bool = False):
        self.path, self.echo = path, echo

    def __call__(self, msg: str) -> None:
        line = f"{_dt.datetime.now().isoformat(timespec='seconds')} {msg}"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, file=sys.stderr)


def _git_commit() -> str | None:
    """The commit of the code that ran: the environment variable ``SKETCHBOUND_COMMIT`` when set (pass it
    when the tree was copied to another machine: a copy's own ``.git`` may be stale), else
    ``git rev-parse HEAD`` (``-dirty`` with local changes), else None."""
    if os.environ.get("SKETCHBOUND_COMMIT"):
        return os.environ["SKETCHBOUND_COMMIT"]
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def environment(device: torch.device) -> dict:
    """Versions and hardware for result.json."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
            "device_name": name, "git_commit": _git_commit(), "host": platform.node()}


def is_finished(cfg: RunConfig, runs_dir: str | Path) -> bool:
    return (cfg.run_dir(runs_dir) / RESULT_FILE).is_file()


def load_result(cfg: RunConfig, runs_dir: str | Path) -> dict | None:
    p = cfg.run_dir(runs_dir) / RESULT_FILE
    if not p.is_file():
        return None
    try:
        out = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{p}: unreadable result ({type(e).__name__}: {' '.join(str(e).split())[:120]}); delete it "
                         f"to train this run again") from None
    if not isinstance(out, dict):
        raise ValueError(f"{p}: not a result (a JSON {type(out).__name__}, expected an object); delete it to train "
                         f"this run again")
    return out


class RunLock:
    """An exclusive claim on one run directory: the file ``<run dir>/lock`` holding ``host pid``.

    Created atomically (``O_CREAT | O_EXCL``), so two trainers (two ``dnn.run`` / ``dnn.table``
    invocations, or two Dask workers) never train the same run at once. A lock is *stale*, and is
    taken over, when its process is dead (same host: ``os.kill(pid, 0)``) or, from another host (a
    cluster with a shared runs folder), when its heartbeat (the file's mtime, touched every
    :attr:`HEARTBEAT_S` seconds while held) is older than :attr:`STALE_S`. A take-over is serialised by a
    second ``O_EXCL`` file, so two processes that find the same stale lock cannot both win.
    """

    #: a holder touches its lock this often: a lock whose holder lives but whose file stays untouched much
    #: longer is held by a process that is no sketchbound run (a reused PID), see :func:`_wait_for_lock`
    HEARTBEAT_S = 2.0
    STALE_S = 300.0
    _held: set = set()
    _beat: threading.Thread | None = None
    _guard = threading.Lock()

    def __init__(self, run_dir):
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_FILE
        self.me = f"{socket.gethostname()} {os.getpid()}"

    def holder(self) -> str | None:
        """The ``host pid`` in the lock file, or None when there is none."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return None

    def _stale(self, text: str | None) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except OSError:
            return False  # gone: the next O_EXCL create decides
        parts = (text or "").split()
        if len(parts) != 2 or not parts[1].isdigit():
            return age > 10.0  # unreadable: a writer that died between create and write
        host, pid = parts[0], int(parts[1])
        if host != socket.gethostname():
            return age > self.STALE_S
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        try:  # a zombie (dead, not reaped yet by its parent) counts as dead
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False

    def try_acquire(self) -> bool:
        """Claim the run (True), or leave it to its live holder (False)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                text = self.holder()
                if not self._stale(text):
                    return False
                take = self.dir / (LOCK_FILE + ".takeover")
                try:
                    os.close(os.open(take, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                except FileExistsError:
                    try:  # a take-over whose process died: cleared after a minute
                        if time.time() - take.stat().st_mtime > 60:
                            take.unlink(missing_ok=True)
                    except OSError:
                        pass
                    return False
                try:
                    if self.holder() == text:  # still the same stale lock
                        self.path.unlink(missing_ok=True)
                finally:
                    take.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.me + "\n")
            with RunLock._guard:
                RunLock._held.add(self.path)
                if RunLock._beat is None or not RunLock._beat.is_alive():
                    RunLock._beat = threading.Thread(target=RunLock._heartbeat, daemon=True, name="run-lock-heartbeat")
                    RunLock._beat.start()
            return True
        return False

    def wait(self, poll: float = 2.0, timeout: float | None = None) -> bool:
        """Block until this process holds the lock (True) or ``timeout`` seconds pass (False)."""
        t0 = time.time()
        while not self.try_acquire():
            if timeout is not None and time.time() - t0 > timeout:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        with RunLock._guard:
            RunLock._held.discard(self.path)
        if self.holder() == self.me:
            self.path.unlink(missing_ok=True)

    @classmethod
    def _heartbeat(cls) -> None:
        while True:
            time.sleep(cls.HEARTBEAT_S)
            with cls._guard:
                held = list(cls._held)
            for p in held:
                try:
                    os.utime(p)
                except OSError:
                    pass


class RunLocked(RuntimeError):
    """A run another live process holds (its :class:`RunLock`) past the wait a caller allowed."""


def _wait_for_lock(lock: RunLock, name: str, wait_s: float | None, say) -> None:
    """Wait until this process holds ``lock``, saying once (``say``) what it waits for.

    A live sketchbound holder touches its lock every :attr:`RunLock.HEARTBEAT_S` seconds, so the wait goes
    on while it does (another trainer finishing the run). A lock left untouched for ``wait_s`` seconds
    while its PID lives is held by a process that is no sketchbound run (a reused PID) or a hung one:
    :class:`RunLocked`, naming the lock file, the holder and what to do. ``wait_s=None``: wait for ever."""
    holder = lock.holder() or "an unknown process"
    if say is not None:
        say(f"run {name} is locked by {holder} ({lock.path}); waiting while its holder lives"
            + (f" and touches the lock (at most {wait_s:g} s without a touch)" if wait_s is not None else ""))
    poll = 2.0 if wait_s is None else min(2.0, max(0.05, wait_s / 4))
    seen, since = None, time.time()
    while not lock.try_acquire():
        try:
            mtime = lock.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime != seen:
            seen, since = mtime, time.time()
        if wait_s is not None and time.time() - since > wait_s:
            holder = lock.holder() or holder
            pid = holder.split()[-1]
            raise RunLocked(f"run {name} is locked by {holder} (lock file {lock.path}), which has not touched the lock "
                            f"for {wait_s:g} s (a sketchbound run does every {RunLock.HEARTBEAT_S:g} s): remove "
                            f"{lock.path} if process {pid} is not a sketchbound run, else wait for it; --lock-wait "
                            f"SECONDS waits longer")
        time.sleep(poll)


_DATA_CACHE: dict[tuple, TensorDataset] = {}


def _data_for(cfg: RunConfig) -> TensorDataset:
    r = cfg.resolved()
    key = (r.dataset, r.data_root, r.pad_to, r.train_subset)
    if key not in _DATA_CACHE:
        base_key = (r.dataset, r.data_root)
        ds = _DATA_CACHE.get(base_key + (None, None))
        if ds is None:
            ds = load_dataset(r.dataset, r.data_root)
            _DATA_CACHE[base_key + (None, None)] = ds
        if r.pad_to is not None:
            ds = ds.pad_to(r.pad_to)
        if r.train_subset is not None:
            ds = ds.subset(r.train_subset)
        _DATA_CACHE[key] = ds
    return _DATA_CACHE[key]


def preload_data(cfgs: Sequence[RunConfig]) -> None:
    """Read every dataset ``cfgs`` train on (cached for their runs by :func:`_data_for`), so that a missing
    or damaged dataset, or a batch larger than the data, stops a sweep before its first run trains."""
    for c in cfgs:
        r = c.resolved()
        data = _data_for(r)
        if r.batch_size > len(data):
            raise ValueError(f"batch_size {r.batch_size} exceeds the training set size {len(data)} of {r.dataset}")


# --------------------------------------------------------------------------------------------- masks
def _batch_source(cfg: RunConfig, data: TensorDataset, device: torch.device):
    from sketchbound.dnn.pruning.inputs import make_input_source  # noqa: PLC0415
    shape = (data.in_channels, data.image_size, data.image_size)
    # SynFlow's objective R = 1ᵀ f(x; |θ|) takes one input (§5.1, eq. (3)/(4)); a batch of identical
    # all-ones inputs only rescales the scores, and for χ inputs one fresh draw per round is §7's protocol
    batch = 1 if cfg.method == "synflow" else cfg.prune_batch_size
    kw = dict(shape=shape, batch_size=batch, num_classes=data.num_classes)
    if cfg.inputs in ("real", "normal"):
        g = torch.Generator().manual_seed(stream_seed(cfg.seed, "pruning-inputs"))
        n = min(len(data), max(10000, cfg.prune_batch_size))
        idx = torch.randperm(len(data), generator=g)[:n]
        xs = data.normalized(data.x_train[idx.to(data.x_train.device)]).cpu()
        kw["data"] = (xs, data.y_train[idx.to(data.y_train.device)].cpu())
    return make_input_source(cfg.inputs, **kw)


def compute_mask(cfg: RunConfig, model: torch.nn.Module, data: TensorDataset, device: torch.device, log,
                 progress: bool = False) -> dict:
    """Mask (and IMP rewind state) of one run; returns ``{"masks", "start_step", "init_state", "extra"}``."""
    cfg = cfg.resolved()
    out = {"masks": None, "start_step": 0, "init_state": None, "extra": {}}
    if cfg.method == "dense":
        return out
    if cfg.method == "imp":
        return compute_imp_masks([cfg], [model], data, device, [log], progress=progress)[0]
    t0 = time.perf_counter()
    from sketchbound.dnn.pruning.masks import make_mask  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415
    source = _batch_source(cfg, data, device)
    kw: dict = {"generator": cfg.seed}
    mask_info: dict = {}  # whether min_per_layer fired and how many weights it kept → result.json
    if cfg.method == "synflow":
        inter = cfg.mask if cfg.mask in ("global", "layerwise", "randomized", "layerwise_randomized") else "randomized"
        kw.update(density=cfg.density, rounds=cfg.synflow_rounds, mode=inter, min_per_layer=cfg.min_per_layer,
                  keep_rule=cfg.keep_rule, info=mask_info)
    elif cfg.method == "snip":
        kw.update(loss=cfg.snip_loss, num_batches=cfg.prune_batches)
    elif cfg.method == "grasp":
        kw.update(num_batches=cfg.prune_batches, variant=cfg.grasp_variant, samples_per_class=cfg.grasp_samples_per_class)
    elif cfg.method == "prospr":
        kw.update(loss=cfg.snip_loss)
    from sketchbound._progress import elapsed  # noqa: PLC0415
    what = f" ({cfg.synflow_rounds} rounds)" if cfg.method == "synflow" else ""
    with elapsed(f"mask: {cfg.method}{what} on {cfg.model}, density {cfg.density}", enabled=progress):
        scores = compute_scores(cfg.method, model, source, **kw)
        law = _bridge_law(cfg, model)
        masks = make_mask(scores, cfg.density, cfg.mask, rng=stream_seed(cfg.seed, "mask"),
                          min_per_layer=cfg.min_per_layer, keep_rule=cfg.keep_rule, info=mask_info, **law)
    out["masks"] = {k: v.detach().cpu() for k, v in masks.items()}
    out["extra"]["mask_info"] = mask_info
    if cfg.bridge_record:  # the theory's predicted error of this mask at init (sketchbound.dnn.theory.bridge)
        from sketchbound.dnn.theory.bridge import predicted_errors, probe_batch  # noqa: PLC0415
        out["extra"]["bridge"] = predicted_errors(model, masks, law["constants"], probe_batch(data, device=device))
    return _mask_done(cfg, out, time.perf_counter() - t0, log)


def _bridge_law(cfg: RunConfig, model: torch.nn.Module) -> dict:
    """``make_mask``'s keyword arguments of the bridge's laws: ``beta``, and ``w0``/``constants`` from
    ``bridge_constants`` (read when set)."""
    from sketchbound.dnn.pruning.bridge_laws import read_constants  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    consts = read_constants(cfg.bridge_constants) if cfg.bridge_constants is not None else None
    return {"beta": cfg.beta, "w0": {n: p.detach() for n, p in prunable_parameters(model)}, "constants": consts}


def _mask_done(cfg: RunConfig, out: dict, seconds: float, log) -> dict:
    out["extra"]["mask_seconds"] = seconds
    log(f"mask: method {cfg.method} inputs {cfg.inputs} mode {cfg.mask} density {cfg.density} ({seconds:.1f}s)")
    return out


def _imp_group_key(cfg: RunConfig) -> tuple:
    """IMP runs with equal keys can search their masks together: same data (the :func:`_data_for` key),
    level schedule and rewind step k (their level trainings are then in lockstep, §7)."""
    r = cfg.resolved()
    return (r.dataset, r.data_root, r.pad_to, r.train_subset, r.imp_schedule(), r.imp_rewind, r.augment)


def compute_imp_masks(cfgs: Sequence[RunConfig], models: Sequence[torch.nn.Module], data: TensorDataset,
                      device: torch.device, logs: Sequence, progress: bool = False) -> list[dict]:
    """The IMP masks (§7, Table II) of several runs, their levels trained together by
    :func:`~sketchbound.dnn.experiments.imp.imp_many`; one :func:`compute_mask` result per run.

    Parameters
    ----------
    cfgs : IMP runs with the same data, level schedule (``imp_epochs``, ``epochs``, ...) and ``imp_rewind``
        (``ValueError`` otherwise); their densities, ``prune_fraction``, seeds, ``imp_data``, ``mask``,
        ``min_per_layer`` and ``keep_rule`` may differ (a run leaves the lockstep when its target is reached).
    models : each run's network at initialisation (:func:`build_model`); modified in place, as by ``imp``.
    data : the runs' training data (:func:`_data_for`).
    logs : one log callable per run.

    Each result equals what :func:`compute_mask` gives for that run alone (bit-identical on CPU),
    except that ``mask_seconds`` and the levels' ``seconds`` are the group's wall time.
    """
    from sketchbound.dnn.experiments.imp import imp_densities, imp_many  # noqa: PLC0415
    cfgs = [c.resolved() for c in cfgs]
    if not cfgs or len(models) != len(cfgs) or len(logs) != len(cfgs):
        raise ValueError(f"need one model and one log per config, got {len(cfgs)} config(s), {len(models)} "
                         f"model(s), {len(logs)} log(s)")
    if any(c.method != "imp" for c in cfgs):
        raise ValueError(f"compute_imp_masks takes IMP runs only, got methods {sorted({c.method for c in cfgs})}")
    if len({_imp_group_key(c) for c in cfgs}) != 1:
        raise ValueError("IMP runs searched together must share dataset, data_root, pad_to, train_subset, the level "
                         "schedule (imp_epochs, epochs, batch_size, lr, momentum, weight_decay), imp_rewind and augment")
    c0 = cfgs[0]
    c0.check_imp_rewind(len(data))
    if len(cfgs) > 1:
        for log in logs:
            log(f"mask: IMP levels searched together with {len(cfgs) - 1} other run(s) in one trainer "
                "(mask_seconds and level seconds are the group's wall time)")
    t0 = time.perf_counter()
    results = imp_many(models, data, c0.schedule(), rewind_step=c0.imp_rewind, seeds=[c.seed for c in cfgs],
                       densities_list=[imp_densities(c.density, c.prune_fraction) for c in cfgs],
                       data_modes=[c.imp_data for c in cfgs], mask_modes=[c.mask for c in cfgs],
                       level_schedule=c0.imp_schedule(), logs=list(logs), device=device, progress=progress,
                       min_per_layer=[c.min_per_layer for c in cfgs], keep_rule=[c.keep_rule for c in cfgs],
                       augment=c0.augment)  # the levels train with the run's own augmentation setting
    seconds = time.perf_counter() - t0
    return [_mask_done(c, {"masks": res.masks, "start_step": res.rewind_step,
                           "init_state": {k: v.cpu() for k, v in res.rewind_state.items()},
                           "extra": {"imp_levels": res.levels}}, seconds, log)
            for c, res, log in zip(cfgs, results, logs)]


def _mask_identity(cfg: RunConfig) -> dict:
    return {"kind": "mask", "run": cfg.resolved().run_name()}


def build_model(cfg: RunConfig, data: TensorDataset, device: torch.device) -> torch.nn.Module:
    """The run's network at initialisation (``get_model(..., init, seed=seed)``), on ``device``."""
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    cfg = cfg.resolved()
    return get_model(cfg.model, data.in_channels, data.num_classes, data.image_size, cfg.init, width=cfg.width,
                     seed=cfg.seed).to(device)


def prune_at_init(cfg: RunConfig, device: torch.device | str = "cpu", *, log=lambda msg: None,
                  progress: bool = False, data: TensorDataset | None = None):
    """The pruning half of a run, without training: ``(model, saved, data)`` where ``saved`` is what
    :func:`compute_mask` returns. Used by :func:`prepare_job` and by ``python -m sketchbound.dnn.prune``,
    so the CLI shows exactly the mask a run would train."""
    device = torch.device(device)
    cfg = cfg.resolved()
    data = _data_for(cfg) if data is None else data
    model = build_model(cfg, data, device)
    return model, compute_mask(cfg, model, data, device, log, progress=progress), data


def _run_with(ctx, f):
    with ctx:
        return f()


def _warn_if_long_on_cpu(pending: Sequence[RunConfig], dev: torch.device) -> None:
    """A GPU-sized job starting on the CPU: one warning with a measured estimate (see ``cpu_warning``)."""
    from sketchbound.dnn.experiments.cpu_warning import warn_if_long_on_cpu  # noqa: PLC0415
    jobs = [(c.epochs * (len(_data_for(c)) // c.batch_size), lambda c=c: build_model(c, _data_for(c), dev),
             (_data_for(c).in_channels, _data_for(c).image_size, _data_for(c).image_size),
             _data_for(c).num_classes, c.batch_size, f"{c.model} x{c.width:g}") for c in pending]
    warn_if_long_on_cpu(jobs, what=f"{len(pending)} run(s) to train", hint="shorten it (--epochs N; "
                        "--set train_subset=N in dnn.table, --train-subset N in dnn.run)")


# --------------------------------------------------------------------------------------------- one run
def prepare_job(cfg: RunConfig, runs_dir, device: torch.device, *, progress: bool = False, echo: bool = False,
                command: str | None = None):
    """Create the run directory, build the model, load or compute the mask; returns ``(TrainJob, meta)``."""
    run = _open_run(cfg, runs_dir, device, echo=echo, command=command)
    cfg, log, mask_file = run["cfg"], run["log"], run["dir"] / "mask.pt"
    if mask_file.exists():  # a directory there is refused by load_verified
        saved, _ = load_verified(mask_file, identity=_mask_identity(cfg))
        log("mask: loaded mask.pt (digest and run identity verified)")
    else:
        saved = compute_mask(cfg, run["model"], run["data"], device, log, progress=progress)
        save_verified(mask_file, saved, identity=_mask_identity(cfg))
    return _job_from(run, saved)


def _open_run(cfg: RunConfig, runs_dir, device: torch.device, *, echo: bool, command: str | None) -> dict:
    """The first half of :func:`prepare_job`: the run directory with its config files and log, the data
    and the model at initialisation."""
    cfg = cfg.resolved()
    d = cfg.run_dir(runs_dir)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    atomic_write(d / "config.toml", f"# run {cfg.run_name()}\n[run]\n" + cfg.to_toml())
    log = _RunLog(d / "log.txt", echo=echo)
    command = command or " ".join(sys.argv)
    log(f"start: {command}")
    data = _data_for(cfg)
    if cfg.batch_size > len(data):  # before the mask step, which can take a minute
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the training set size {len(data)} of {cfg.dataset}")
    model = build_model(cfg, data, device)
    return {"cfg": cfg, "dir": d, "log": log, "data": data, "model": model, "command": command}


def _job_from(run: dict, saved: dict):
    """The second half of :func:`prepare_job`: the model at its start (IMP: θ_k) and ``(TrainJob, meta)``."""
    cfg, d, log, data, model = run["cfg"], run["dir"], run["log"], run["data"], run["model"]
    if saved.get("init_state") is not None:
        model.load_state_dict(saved["init_state"])
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    # the initial prunable weights (before a weighted mask scales them), for result.json's c_stats
    init_weights = {n: p.detach().cpu().clone() for n, p in prunable_parameters(model)}
    job = TrainJob(model=model, masks=saved["masks"], seed=cfg.seed, checkpoint=d / "checkpoint.pt",
                   name=cfg.run_name(), start_step=int(saved.get("start_step", 0)), mask_values=cfg.mask_values, log=log)
    meta = {"cfg": cfg, "dir": d, "log": log, "extra": saved.get("extra", {}), "masks": saved["masks"],
            "data": data, "t0": time.time(), "command": run["command"],
            "model": model, "init_weights": init_weights}
    return job, meta


def _prepare_chunk(cfgs: Sequence[RunConfig], runs_dir, dev: torch.device, *, progress: bool, echo: bool,
                   command: str | None) -> list:
    """:func:`prepare_job` for each run of a chunk (in order), except that the IMP runs without a saved
    mask that share :func:`_imp_group_key` search their masks together (:func:`compute_imp_masks`) when
    there are at least ``_IMP_MANY_MIN`` of them. A run that fails leaves ``failed.json`` (an IMP group's
    failure: in each of its runs) and the error propagates."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in cfgs:
        if c.method == "imp" and not (c.run_dir(runs_dir) / "mask.pt").is_file():
            groups.setdefault(_imp_group_key(c), []).append(c)
    groups = {k: g for k, g in groups.items() if len(g) >= max(2, _IMP_MANY_MIN)}
    together = {c.run_name() for g in groups.values() for c in g}
    prepared: dict[str, tuple] = {}
    opened: dict[str, dict] = {}
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
            saved = compute_imp_masks([r["cfg"] for r in runs], [r["model"] for r in runs], runs[0]["data"], dev,
                                      [r["log"] for r in runs], progress=progress)
        except Exception as e:
            for c in g:
                _mark_failed(c.run_dir(runs_dir), e)
            raise
        for r, s in zip(runs, saved):
            save_verified(r["dir"] / "mask.pt", s, identity=_mask_identity(r["cfg"]))
            prepared[r["cfg"].run_name()] = _job_from(r, s)
    return [prepared[c.run_name()] for c in cfgs]


def _mark_failed(d: Path, err: BaseException) -> None:
    """Write ``failed.json`` (the error, its type, the date) into a run directory that could not start."""
    if d.is_dir():
        atomic_write(d / "failed.json", json.dumps({
            "error": " ".join(str(err).split()), "type": type(err).__name__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}, indent=2) + "\n")


def _write_result(meta: dict, res: TrainResult, device: torch.device) -> dict:
    cfg: RunConfig = meta["cfg"]
    masks = meta["masks"]
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
        "data": dataset_info(meta["data"]), "command": meta["command"],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": time.time() - meta["t0"], **environment(device), **meta["extra"],
        "trainer": meta.get("trainer", "streams"),
    }
    if meta.get("fused_compile"):  # only when it ran: the result files of eager runs keep their keys
        out["fused_compile"] = meta["fused_compile"]
    if meta.get("conv_gemm", "off") != "off":  # likewise: only when the fused trainer ran with it
        out["conv_gemm"] = meta["conv_gemm"]
    if meta.get("sgd_kernel", "foreach") != "foreach":  # likewise: only when not the default
        out["sgd_kernel"] = meta["sgd_kernel"]
    if meta.get("weight_copies"):
        out["weight_copies"] = True
    if meta.get("model") is not None and meta.get("init_weights") is not None:
        from sketchbound.dnn.theory.layers import kept_weight_stats  # noqa: PLC0415
        from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
        final = {n: p.detach() for n, p in prunable_parameters(meta["model"])}
        # |w*/w0| over kept weights and norms of the kept initial weights (Theorem 4.4's c in practice)
        out["c_stats"] = kept_weight_stats(meta["init_weights"], final, masks or None)
    atomic_write(meta["dir"] / RESULT_FILE, json.dumps(out, indent=2, default=str) + "\n")
    (meta["dir"] / "failed.json").unlink(missing_ok=True)
    meta["log"](f"done: accuracy {res.test_accuracy} density {density:.6f}")
    return out


def plan_chunks(configs: Sequence[RunConfig], runs_dir="runs", concurrent: int = 1,
                force: bool = False, fusion: str = "off") -> list[list[RunConfig]]:
    """The unfinished runs of ``configs`` (deduplicated; ``force`` deletes finished results first) in
    chunks of at most ``concurrent`` runs sharing :meth:`RunConfig.trainer_key`: one chunk is what one
    :class:`~sketchbound.dnn.training.ConcurrentTrainer` trains at once (and one Dask task). With
    ``fusion`` other than ``"off"``, runs of the same architecture (model, width) are put next to each
    other (stable order otherwise), so that a chunk fuses as many of them as possible."""
    if fusion not in FUSION_CHOICES:
        raise ValueError(f"fusion must be one of {FUSION_CHOICES}, got {fusion!r}")
    pending = []
    seen = set()
    for c in (c.resolved() for c in configs):
        name = c.run_name()
        if name in seen:
            continue
        seen.add(name)
        d = c.run_dir(runs_dir)
        if force and (d / RESULT_FILE).is_file():
            for f in (RESULT_FILE, "checkpoint.pt", "mask.pt"):
                (d / f).unlink(missing_ok=True)
        if not (d / RESULT_FILE).is_file():
            pending.append(c)
    groups: dict[tuple, list[RunConfig]] = {}
    for c in pending:
        groups.setdefault(c.trainer_key(), []).append(c)
    if fusion != "off":
        groups = {k: sorted(g, key=lambda c: (c.model, c.width)) for k, g in groups.items()}
    return [group[i:i + concurrent] for group in groups.values() for i in range(0, len(group), concurrent)]


def mask_cost(c: RunConfig) -> float:
    """Relative cost of computing ``c``'s mask before training, in scoring passes over the network: SynFlow
    ``synflow_rounds`` passes, SNIP ``prune_batches``, GraSP twice that (a Hessian-vector product), ProsPr
    four times (its meta-steps); dense, random and magnitude none. A randomized mask costs 1.5× (SynFlow
    samples a mask at every round; recorded SynFlow runs of ``table1_fmnist5k``: median 2.27 s threshold,
    3.44 s randomized). IMP is ``inf``: its levels are trainings, never rebalanced. Used by
    :func:`balance_chunks` to even out tasks, so only the ratios matter.

    >>> mask_cost(RunConfig(method="synflow", mask="global")), mask_cost(RunConfig(method="random"))
    (100.0, 0.0)
    """
    passes = {"synflow": c.synflow_rounds, "snip": c.prune_batches, "grasp": 2 * c.prune_batches,
              "prospr": 4 * c.prune_batches, "imp": float("inf")}.get(c.method, 0)
    return float(passes) * (1.5 if "randomized" in c.mask else 1.0)


def balance_chunks(chunks: Sequence[Sequence[RunConfig]], window: int, cost=mask_cost) -> list[list[RunConfig]]:
    """Even out the mask cost of the chunks that start together on ``window`` workers.

    The chunks are taken ``window`` at a time in order, the chunks a cluster of ``window`` workers starts
    at the same moment, so regrouping inside one window changes neither which runs start first nor the
    order of the windows (tables still train in the order listed). A window is regrouped only when all its
    runs share one trainer key and one architecture (fusion and IMP's lockstep are untouched) and no cost
    is infinite: its runs are dealt, costliest first, to the cheapest chunk that has room (sizes kept),
    and the result is kept only if its costliest chunk is cheaper than before. Inside each chunk the runs
    keep their input order. A run's result does not depend on which runs share its chunk, so regrouping
    changes when runs finish, never what they produce.

    >>> rs = [RunConfig(method=m, seed=i) for i, m in enumerate(["random"] * 4 + ["synflow"] * 4)]
    >>> [[c.method for c in ch] for ch in balance_chunks([rs[:4], rs[4:]], window=2)]
    [['random', 'random', 'synflow', 'synflow'], ['random', 'random', 'synflow', 'synflow']]
    """
    if int(window) < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    window = int(window)
    out: list[list[RunConfig]] = []
    for i in range(0, len(chunks), window):
        group = [list(ch) for ch in chunks[i:i + window]]
        runs = [c for ch in group for c in ch]
        same = len({(c.trainer_key(), c.model, c.width) for c in runs}) == 1
        costs = [cost(c) for c in runs]
        if len(group) < 2 or not same or not all(math.isfinite(x) for x in costs):
            out += group
            continue
        sizes = [len(ch) for ch in group]
        order = sorted(range(len(runs)), key=lambda j: (-costs[j], j))
        load, members = [0.0] * len(group), [[] for _ in group]
        for j in order:
            k = min((b for b in range(len(group)) if len(members[b]) < sizes[b]), key=lambda b: (load[b], b))
            members[k].append(j)
            load[k] += costs[j]
        starts = [sum(sizes[:b]) for b in range(len(group))]
        before = max(sum(costs[o:o + n]) for o, n in zip(starts, sizes))
        if max(load) < before:
            out += [[runs[j] for j in sorted(m)] for m in members]
        else:
            out += group
    return out


def _train_chunk(chunk: list[RunConfig], runs_dir, dev, *, progress, echo, command, fusion: str = "auto",
                 fused_kw: dict | None = None, common_kw: dict | None = None, **trainer_kw) -> list[RunConfig]:
    """Train one chunk under its runs' locks; returns the runs left alone because another live process
    holds them. A run whose result.json exists once its lock is held is not trained again. ``fusion``
    (see :func:`~sketchbound.dnn.training.fused.plan_fusion`) decides, per architecture, whether its runs
    train horizontally fused (one :class:`FusedTrainer` built with ``fused_kw``: ``compile_mode``,
    ``conv_gemm``, ``weight_copies``) or on streams (one :class:`ConcurrentTrainer`), both with ``common_kw``
    (``sgd_kernel``); when a chunk holds both, the two trainers run one after the other."""
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
            prepared = _prepare_chunk(mine, runs_dir, dev, progress=progress, echo=echo, command=command)
            c0 = mine[0]
            data = prepared[0][1]["data"]
            fused_kw = dict(fused_kw or {})
            common_kw = dict(common_kw or {})
            kinds = plan_fusion([j.model for j, _ in prepared], batch_size=c0.batch_size, device=dev,
                                image_shape=(data.in_channels, data.image_size, data.image_size),
                                num_classes=data.num_classes, fusion=fusion, fused_kw=fused_kw, common_kw=common_kw)
            for kind, cls in (("fused", FusedTrainer), ("streams", ConcurrentTrainer)):
                part = [pm for pm, k in zip(prepared, kinds) if k == kind]
                if not part:
                    continue
                own = {**common_kw, **(fused_kw if kind == "fused" else {})}
                for _, meta in part:
                    meta["trainer"] = kind
                    meta["fused_compile"] = own.get("compile_mode")
                    meta["conv_gemm"] = own.get("conv_gemm", "off")
                    meta["sgd_kernel"] = own.get("sgd_kernel", "foreach")
                    meta["weight_copies"] = own.get("weight_copies", False)
                    meta["log"](f"trainer: {kind} ({len(part)} run(s) together; fusion={fusion}"
                                + (f", torch.compile {own['compile_mode']}" if "compile_mode" in own else "")
                                + (f", conv GEMM {own['conv_gemm']}" if "conv_gemm" in own else "")
                                + (f", SGD kernel {own['sgd_kernel']}" if "sgd_kernel" in own else "")
                                + (", weight copies" if own.get("weight_copies") else "") + ")")
                tr = cls([j for j, _ in part], data, c0.schedule(), device=dev, augment=c0.augment,
                         eval_every=c0.eval_every, checkpoint_every_s=c0.checkpoint_every_s, progress=progress,
                         **trainer_kw, **own)
                if progress:  # the final test-set evaluation follows the training bar: show it too
                    from sketchbound._progress import elapsed  # noqa: PLC0415
                    for st in tr.states:
                        st.evaluate = (lambda f=st.evaluate, n=st.job.name:
                                       _run_with(elapsed(f"evaluate {n} on the test set"), f))
                results = tr.run()
                for (_, meta), res in zip(part, results):
                    if res.finished:
                        _write_result(meta, res, dev)
                del tr
    finally:
        for lock in locks:
            lock.release()
    return busy


def run_configs(configs: Sequence[RunConfig], runs_dir="runs", *, device=None, concurrent: int | None = None,
                force: bool = False, progress: bool = True, echo: bool = False, command: str | None = None,
                wait: bool = True, lock_wait: float | None = None, fusion: str = "auto", fused_compile: str | None = None,
                conv_gemm: str = "off", sgd_kernel: str = "foreach", weight_copies: bool = False,
                on_chunk=None, **trainer_kw) -> list[dict]:
    """Run every config not finished yet (``force`` reruns) and return all results (in input order).

    Configs sharing :meth:`RunConfig.trainer_key` are trained ``concurrent`` at a time in one
    :class:`~sketchbound.dnn.training.ConcurrentTrainer` (default: 8 on CUDA, 1 on CPU), or horizontally
    fused in a :class:`~sketchbound.dnn.training.fused.FusedTrainer`: ``fusion="on"`` always, ``"off"``
    never, ``"auto"`` where a few measured steps say it is faster (CUDA; on CPU ``"auto"`` keeps the
    unfused trainer). Fusion changes results only by floating-point order and is not part of a run's
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
    """
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    k = int(concurrent) if concurrent else (8 if dev.type == "cuda" else 1)
    if k < 1:
        raise ValueError(f"concurrent must be >= 1, got {concurrent!r}")
    if fusion not in FUSION_CHOICES:
        raise ValueError(f"fusion must be one of {FUSION_CHOICES}, got {fusion!r}")
    check_compile_mode(fused_compile, "fused_compile")
    check_conv_gemm(conv_gemm, "conv_gemm")
    check_sgd_kernel(sgd_kernel, dev, "sgd_kernel")
    check_weight_copies(weight_copies, sgd_kernel)
    # the fused trainers' own options: what fusion="auto" times, and what they train with
    fused_kw = {**({"compile_mode": fused_compile} if fused_compile else {}),
                **({"conv_gemm": conv_gemm} if conv_gemm != "off" else {}),
                **({"weight_copies": True} if weight_copies else {})}
    common_kw = {"sgd_kernel": sgd_kernel} if sgd_kernel != "foreach" else {}
    cfgs = [c.resolved() for c in configs]
    kw = dict(progress=progress, echo=echo, command=command, fusion=fusion, fused_kw=fused_kw, common_kw=common_kw,
              **trainer_kw)
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
            _wait_for_lock(lock, c.run_name(), lock_wait,
                           (lambda m: print(m, file=sys.stderr)) if (echo or progress) else None)
            lock.release()
        busy = [b for chunk in plan_chunks(busy, runs_dir, k, fusion=fusion) for b in _train_chunk(chunk, runs_dir, dev, **kw)]
    return [load_result(c, runs_dir) for c in cfgs]


def run_one(cfg: RunConfig, runs_dir="runs", **kw) -> dict:
    """Run (or load the finished result of) one configuration."""
    return run_configs([cfg], runs_dir, **kw)[0]


# --------------------------------------------------------------------------------------------- CLI
def build_parser() -> OneLineParser:
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
            place_masks(args.masks, cfg, cfg.run_dir(args.runs_dir) / "mask.pt", _mask_identity(cfg),
                        build_model(cfg, _data_for(cfg), torch.device("cpu")))
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
        _RunLog(cfg.run_dir(args.runs_dir) / "log.txt")(note)
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
