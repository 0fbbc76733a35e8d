"""One training job of the trainers: the §7 schedule, the job and its result, and its device-side state.

:class:`JobState` holds one job's static buffers, step function, CUDA graph and checkpoint; the trainers
(:class:`~sketchbound.dnn.training.trainer.ConcurrentTrainer`, the fused one) step it in lockstep. See
:mod:`sketchbound.dnn.training.trainer` for the protocol, the masks and determinism.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.dnn.data import TensorDataset, augment_epoch
from sketchbound.dnn.training.checkpoint import conditions, load_verified, save_verified
from sketchbound.dnn.training.step import capture_step, masked_update, replay_or_run, resolve_masks
from sketchbound.sampling import check_positive_int

# JobState (one job's device-side state) serves the trainers; importable, not part of the API
__all__ = ["Schedule", "TrainJob", "TrainResult", "evaluate", "pixel_normalize", "MASK_VALUES",
           "CHECKPOINT_FORMAT"]

#: how non-binary (Algorithm-1-weighted) masks are used, see :mod:`sketchbound.dnn.training.trainer`
MASK_VALUES = ("scale-init", "support")
CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Schedule:
    """SGD schedule of §7: step decay of the learning rate at epoch milestones.

    ``lr_at(e)`` is the learning rate during epoch ``e`` (0-based): ``lr * gamma**#{m <= e}`` — with
    milestones (80, 120) epochs 0..79 use 0.1, 80..119 use 0.01 and 120..159 use 0.001.
    :meth:`paper` gives §7's schedule of a dataset, optionally shortened.

    Parameters
    ----------
    epochs : int, default 160
        Training epochs.
    batch_size : int, default 128
        Mini-batch size.
    lr : float, default 0.1
        Initial learning rate.
    momentum : float, default 0.9
        SGD momentum.
    weight_decay : float, default 1e-4
        L2 weight decay.
    milestones : tuple of int, default (80, 120)
        Epochs at which the learning rate is multiplied by ``gamma`` (increasing).
    gamma : float, default 0.1
        The decay factor.

    Examples
    --------
    >>> s = Schedule.paper("cifar10", epochs=16)
    >>> s.milestones, s.lr_at(0), round(s.lr_at(12), 6)
    ((8, 12), 0.1, 0.001)
    """

    epochs: int = 160
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (80, 120)
    gamma: float = 0.1

    def __post_init__(self):
        check_positive_int(self.epochs, name="epochs", floats=False)
        check_positive_int(self.batch_size, name="batch_size", floats=False)
        for name in ("lr", "momentum", "weight_decay", "gamma"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        ms = tuple(int(m) for m in self.milestones)
        if list(ms) != sorted(ms) or any(m < 0 for m in ms):
            raise ValueError(f"milestones must be non-negative and increasing, got {self.milestones!r}")
        object.__setattr__(self, "milestones", ms)

    def lr_at(self, epoch: int) -> float:
        return float(self.lr * self.gamma ** sum(1 for m in self.milestones if m <= epoch))

    @classmethod
    def paper(cls, dataset: str = "cifar10", epochs: int | None = None, **overrides) -> "Schedule":
        """The §7 schedule for ``dataset``; ``epochs`` shortens it, scaling milestones proportionally.

        CIFAR-10/100, Tiny-ImageNet, (Fashion-)MNIST: 160 epochs, batch 128, milestones 80/120.
        ImageNet: 90 epochs, batch 100, milestones 30/60/80. E.g. ``epochs=16`` → milestones 8/12.
        """
        if dataset == "imagenet":
            base = dict(epochs=90, batch_size=100, milestones=(30, 60, 80))
        else:
            base = dict(epochs=160, batch_size=128, milestones=(80, 120))
        if epochs is not None:
            check_positive_int(epochs, name="epochs", floats=False)
            full = base["epochs"]
            base["milestones"] = tuple(max(1, int(round(m * epochs / full))) for m in base["milestones"])
            base["epochs"] = epochs
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)




@dataclass
class TrainJob:
    """One training run: a model, its mask, its seed (data order/augmentation) and its checkpoint file.

    ``start_step`` starts training at that global step of the schedule (IMP rewinding, §7) when no
    checkpoint exists; ``mask_values`` is one of :data:`MASK_VALUES`; ``log`` receives this job's epoch
    lines (default: the trainer's ``log``). ``data`` (default: the trainer's) is this job's own dataset
    — its training images, labels and test set replace the trainer's for this job, e.g. the random
    images of "IMP + rand. data" (§7, Table II) searched next to real-data runs. It must match the
    trainer's data in training-set size, image shape, number of classes and normalisation (mean/std),
    so that every job has the same steps per epoch and shares the normalisation (``ValueError`` otherwise).

    Parameters
    ----------
    model : nn.Module
        The network, trained in place.
    masks : mapping of str to torch.Tensor, optional
        ``{"<layer>.weight": mask}`` (:func:`~sketchbound.dnn.pruning.masks.make_mask`); ``None``: dense.
    seed : int, default 0
        Seeds the data order and augmentation.
    checkpoint : str or os.PathLike, optional
        Checkpoint file (resumed when it exists).
    name : str, default "run"
        The job's name in logs and results.
    start_step : int, default 0
        Global step of the schedule to start at (IMP rewinding).
    mask_values : str, default "scale-init"
        One of :data:`MASK_VALUES`.
    log : callable, optional
        Receives this job's epoch lines.
    data : TensorDataset, optional
        This job's own dataset (above).

    Examples
    --------
    >>> job = TrainJob(torch.nn.Linear(2, 2), seed=3, name="dense")
    >>> job.name, job.seed, job.masks is None
    ('dense', 3, True)
    """

    model: nn.Module
    masks: Mapping[str, torch.Tensor] | None = None
    seed: int = 0
    checkpoint: str | os.PathLike | None = None
    name: str = "run"
    start_step: int = 0
    mask_values: str = "scale-init"
    log: Callable[[str], None] | None = None
    data: TensorDataset | None = None


@dataclass
class TrainResult:
    """Outcome of one job. ``finished`` is False when the run was stopped early (``stop_after_epochs``/``max_steps``).

    Parameters
    ----------
    name : str
        The job's name.
    seed : int
        The job's seed.
    epochs_done : int
        Epochs completed.
    finished : bool
        Whether the whole schedule ran.
    test_accuracy, test_loss, train_loss, train_accuracy : float, optional
        Final metrics (accuracies in %).
    steps : int, default 0
        Optimiser steps taken.
    resumed_from_epoch : int, default 0
        The epoch a checkpoint resumed at.
    history : list of dict
        One row per epoch.
    resume_note : dict, optional
        Set when a checkpoint was resumed under changed conditions.

    Examples
    --------
    >>> TrainResult("run", 0, 1, True, test_accuracy=50.0).to_dict()["test_accuracy"]
    50.0
    """

    name: str
    seed: int
    epochs_done: int
    finished: bool
    test_accuracy: float | None = None
    test_loss: float | None = None
    train_loss: float | None = None
    train_accuracy: float | None = None
    steps: int = 0
    resumed_from_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    resume_note: dict | None = None  # set when a checkpoint was resumed under changed conditions

    def to_dict(self) -> dict:
        return asdict(self)


def pixel_normalize(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The trainer's pixel normalisation ``(x·(1/255) − m)/s``. It multiplies by ``1/255`` where
    :func:`sketchbound.dnn.data.normalize` (pruning inputs) divides by 255; the two differ in the last bit
    for half of the pixel values, and both are kept so recorded runs reproduce bit for bit.

    Parameters
    ----------
    x : torch.Tensor
        ``uint8`` images.
    m, s : torch.Tensor
        Per-channel mean and std, broadcastable to ``x`` (``[1, C, 1, 1]``).

    Returns
    -------
    torch.Tensor
        float32 normalised images.

    Examples
    --------
    >>> pixel_normalize(torch.tensor([0, 255], dtype=torch.uint8), torch.tensor(0.5), torch.tensor(0.5)).tolist()
    [-1.0, 1.0]
    """
    return (x.float() * (1.0 / 255.0) - m) / s


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std, *, batch_size: int = 1000,
             amp: bool = False, channels_last: bool = False) -> tuple[float, float]:
    """Top-1 accuracy (in %) and mean cross-entropy of ``model`` on ``uint8`` images ``x``.

    Parameters
    ----------
    model : nn.Module
        The network (evaluated in eval mode; its mode is restored).
    x, y : torch.Tensor
        ``uint8`` images ``(N, C, H, W)`` and labels.
    mean, std : sequence of float
        Per-channel statistics of the normalisation (:func:`pixel_normalize`).
    batch_size : int, default 1000
        Evaluation batch size.
    amp : bool, default False
        bfloat16 autocast.
    channels_last : bool, default False
        Feed channels_last inputs.

    Returns
    -------
    (float, float)
        Accuracy in % and mean cross-entropy.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> with torch.no_grad(): _ = net[1].weight.zero_(), net[1].bias.copy_(torch.tensor([1.0, 0.0]))
    >>> evaluate(net, torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 0, 0, 1]), (0.5,), (0.25,))[0]
    75.0
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    m = torch.as_tensor(mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    loss = torch.zeros((), dtype=torch.float64, device=dev)
    for i in range(0, x.shape[0], batch_size):
        xb = pixel_normalize(x[i:i + batch_size].to(dev), m, s)
        yb = y[i:i + batch_size].to(dev)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            out = model(xb)
        loss += F.cross_entropy(out.float(), yb, reduction="sum").double()
        correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    n = max(1, x.shape[0])
    return 100.0 * correct.item() / n, loss.item() / n


def _job_data(job: TrainJob, tr: "ConcurrentTrainer") -> TensorDataset:
    """``job.data`` on the trainer's device, after checking that it can share the trainer's lockstep loop."""
    ref, own = tr.data, job.data
    checks = {"training-set size": (len(own), len(ref)),
              "image shape": (tuple(own.x_train.shape[1:]), tuple(ref.x_train.shape[1:])),
              "number of classes": (own.num_classes, ref.num_classes),
              "mean/std": ((tuple(own.mean), tuple(own.std)), (tuple(ref.mean), tuple(ref.std)))}
    bad = [f"{k} {a!r} (trainer: {b!r})" for k, (a, b) in checks.items() if a != b]
    if bad:
        raise ValueError(f"job {job.name!r}: its own data must match the trainer's data; it differs in " + "; ".join(bad))
    return own.to(tr.device)


class JobState:
    """Device-side state of one job: static buffers, the step function and (on CUDA) its graph.

    It is also the unit the lockstep loop steps (``n`` jobs, ``states``), as a fused cohort is."""

    n = 1

    @property
    def states(self) -> list["JobState"]:
        return [self]

    def __init__(self, job: TrainJob, tr: "ConcurrentTrainer"):
        if job.mask_values not in MASK_VALUES:
            raise ValueError(f"mask_values must be one of {MASK_VALUES}, got {job.mask_values!r}")
        self.job, self.tr = job, tr
        dev = tr.device
        self.data = tr.data if job.data is None else _job_data(job, tr)
        model = job.model.to(dev)
        if tr.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        resolved = resolve_masks(model, job.masks)
        ids = {id(p) for p in self.params}
        self.masked_params, self.masks = [], []
        with torch.no_grad():
            for name, p, m in resolved:
                if id(p) not in ids:
                    raise ValueError(f"mask {name!r} is for a parameter that does not require grad")
                m = m.to(device=dev, dtype=p.dtype)
                binary = (m != 0).to(p.dtype)
                if job.mask_values == "scale-init":
                    p.mul_(m)  # weighted masks scale w0 once (no-op change for binary masks: w0 * 1)
                else:
                    p.mul_(binary)
                if tr.channels_last and p.dim() == 4:
                    binary = binary.contiguous(memory_format=torch.channels_last)
                self.masked_params.append(p)
                self.masks.append(binary)
        self.bufs = [torch.zeros_like(p) for p in self.params]
        self.lr = torch.zeros((), dtype=torch.float32, device=dev)
        self.step = torch.zeros((), dtype=torch.int64, device=dev)
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=dev)
        self.correct = torch.zeros((), dtype=torch.int64, device=dev)
        B = tr.schedule.batch_size
        self.arange_b = torch.arange(B, device=dev)
        self.ex = torch.empty_like(self.data.x_train)
        self.ey = torch.empty_like(self.data.y_train)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(int(job.seed))
        self.epoch, self.pos, self.prepared = 0, 0, False
        self.history: list[dict] = []
        self.resumed_from = 0
        self.resume_note: dict | None = None
        self.graph = None
        self.stream = torch.cuda.Stream(device=dev) if tr.cuda_graphs else None
        self.epoch_t0 = 0.0
        self.saved_at = time.perf_counter()  # the last checkpoint (or the start), for checkpoint_every_s
        self._load_or_start()

    # ---- checkpoint
    def _state(self) -> dict:
        st = {"format": CHECKPOINT_FORMAT, "name": self.job.name, "seed": self.job.seed, "epoch": self.epoch,
              "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
              "momentum": [b.detach().clone() for b in self.bufs], "generator": self.gen.get_state(),
              "torch_rng": torch.get_rng_state(), "history": list(self.history),
              "steps_per_epoch": self.tr.steps_per_epoch, "schedule": asdict(self.tr.schedule)}
        if torch.cuda.is_available() and self.tr.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.tr.device)
        return st

    def _identity(self) -> dict:
        return {"kind": "checkpoint", "name": self.job.name, "seed": int(self.job.seed)}

    def save(self) -> None:
        if self.job.checkpoint is not None:
            save_verified(Path(self.job.checkpoint), self._state(), identity=self._identity(), device=self.tr.device,
                          extra_conditions=self.tr.checkpoint_conditions)

    def _load_or_start(self) -> None:
        path = self.job.checkpoint
        if path is not None and Path(path).exists():  # a directory there is refused, not skipped
            st, then = load_verified(path, identity=self._identity(), map_location=self.tr.device)
            now = conditions(self.tr.device, self.tr.checkpoint_conditions)
            if then != now:
                changed = {k: (then.get(k), now.get(k)) for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)}
                self.resume_note = {"resumed_under_changed_conditions": changed}
                msg = (f"warning: resuming {path} under changed conditions {changed}: the run continues, but is not "
                       f"bit-identical to an uninterrupted one (recorded in the result)")
                if self.job.log is not None:
                    self.job.log(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
            if st.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"checkpoint {path} has format {st.get('format')!r}, expected {CHECKPOINT_FORMAT}")
            if st.get("steps_per_epoch") != self.tr.steps_per_epoch:
                raise ValueError(f"checkpoint {path} was written with {st.get('steps_per_epoch')} steps/epoch, "
                                 f"this run has {self.tr.steps_per_epoch} (different data or batch size)")
            self.model.load_state_dict(st["model"])  # copies into the existing tensors (graph-safe)
            with torch.no_grad():
                for b, v in zip(self.bufs, st["momentum"]):
                    b.copy_(v)
            self.gen.set_state(st["generator"].cpu() if hasattr(st["generator"], "cpu") else st["generator"])
            torch.set_rng_state(st["torch_rng"].cpu())
            if "cuda_rng" in st and self.tr.device.type == "cuda":
                torch.cuda.set_rng_state(st["cuda_rng"].cpu(), self.tr.device)
            self.epoch = int(st["epoch"])
            self.history = list(st["history"])
            self.resumed_from = self.epoch
        elif self.job.start_step:
            s = int(self.job.start_step)
            if s < 0:
                raise ValueError(f"start_step must be >= 0, got {s}")
            self.epoch, self.pos = divmod(s, self.tr.steps_per_epoch)

    @property
    def global_step(self) -> int:
        return self.epoch * self.tr.steps_per_epoch + self.pos

    # ---- the step (eager or captured)
    def _normalized_batch(self):
        tr = self.tr
        idx = self.arange_b + self.step * tr.schedule.batch_size
        xb = self.ex.index_select(0, idx)
        yb = self.ey.index_select(0, idx)
        x = pixel_normalize(xb, tr.mean_t, tr.std_t)
        if tr.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, yb

    def _step_body(self) -> None:
        tr = self.tr
        x, y = self._normalized_batch()
        with torch.autocast(tr.device.type, dtype=torch.bfloat16, enabled=tr.amp, cache_enabled=False):
            out = self.model(x)
        loss = F.cross_entropy(out.float(), y)
        loss.backward()
        masked_update(self.params, self.bufs, self.lr, tr.schedule, self.masked_params, self.masks, tr.sgd_kernel)
        with torch.no_grad():
            self.loss_sum.add_(loss.detach())
            self.correct.add_((out.detach().argmax(1) == y).sum())
            self.step.add_(1)

    def _capture(self) -> None:
        """Warm up on the job's stream, restore the state, and capture the whole step in a CUDA graph."""
        self.graph = capture_step(self._step_body, self.model, [*self.bufs, self.step, self.loss_sum, self.correct],
                                  self.params, self.stream, self.tr.device, before_warmup=self.step.zero_)

    def run_step(self) -> None:
        replay_or_run(self.graph, self.stream, self.params, self._step_body)
        self.pos += 1

    # ---- epochs
    def begin_epoch(self) -> None:
        tr = self.tr
        ctx = torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()
        if self.stream is not None:
            self.stream.wait_stream(torch.cuda.current_stream(tr.device))
        with ctx, torch.no_grad():
            self.lr.fill_(tr.schedule.lr_at(self.epoch))
            if not self.prepared:
                augment_epoch(self.data.x_train, self.data.y_train, self.gen, padding=tr.padding if tr.augment else 0,
                              flip=tr.augment and tr.flip, crop=tr.augment, out_x=self.ex, out_y=self.ey)
                self.prepared = True
            self.step.fill_(self.pos)
            if self.pos == 0:
                self.loss_sum.zero_()
                self.correct.zero_()
        self.epoch_t0 = time.perf_counter()

    def end_epoch(self) -> dict:
        tr = self.tr
        if self.stream is not None:
            torch.cuda.current_stream(tr.device).wait_stream(self.stream)
        n = self.pos * tr.schedule.batch_size
        rec = {"epoch": self.epoch + 1, "lr": tr.schedule.lr_at(self.epoch),
               "train_loss": self.loss_sum.item() / max(1, self.pos),
               "train_accuracy": 100.0 * self.correct.item() / max(1, n),
               "time_s": time.perf_counter() - self.epoch_t0}
        self.epoch += 1
        self.pos = 0
        self.prepared = False
        if tr.eval_every and (self.epoch % tr.eval_every == 0) and self.epoch < tr.schedule.epochs:
            rec["test_accuracy"], rec["test_loss"] = self.evaluate()
        self.history.append(rec)
        every = tr.checkpoint_every_s
        if every <= 0 or self.epoch >= tr.schedule.epochs or time.perf_counter() - self.saved_at >= every:
            self.save()
            self.saved_at = time.perf_counter()
        return rec

    def evaluate(self) -> tuple[float, float]:
        tr = self.tr
        return evaluate(self.model, self.data.x_test, self.data.y_test, self.data.mean, self.data.std,
                        batch_size=tr.eval_batch_size, amp=tr.amp, channels_last=tr.channels_last)


