"""Masked training with the paper's protocol (§7), checkpoints, and many models at once on one GPU.

Protocol (§7): SGD with momentum 0.9, batch 128, learning rate 0.1 multiplied by 0.1 after epochs 80
and 120, 160 epochs, weight decay 1e-4 (CIFAR-10/100, Tiny-ImageNet; also used here for
(Fashion-)MNIST); ImageNet: 90 epochs, batch 100, ×0.1 after 30, 60 and 80. Shorter schedules keep
the milestones at the same fractions of training (:meth:`Schedule.paper` with ``epochs=``).

Masks
-----
A mask is ``{parameter name: tensor}`` over the prunable weights (see :mod:`sketchbound.dnn.models.prunable`).
Pruned weights stay *exactly* zero: the gradient is multiplied by the mask before weight decay and
momentum, and the weight is multiplied by the mask again after every optimizer step (momentum and
weight decay would otherwise move it). Masks of Algorithm 1 may be *weighted* (kept entries hold
``1/(s p_i)``, §3): with ``mask_values="scale-init"`` (default) the mask scales the initial weights
once, ``w0 ← w0 ⊙ m``, and training then keeps the support ``m ≠ 0`` fixed; with ``"support"`` the
values are ignored. Binary masks give the same result under both choices.

The optimizer is implemented here (:func:`masked_sgd_step`, ``torch._foreach`` ops) rather than
``torch.optim.SGD`` so that the learning rate lives in a device tensor (CUDA-graph replay reads it,
the schedule writes it once per epoch) and the masking is fused into the step; it matches
``torch.optim.SGD(momentum, weight_decay, dampening=0, nesterov=False)`` (tested).

Data and determinism
--------------------
Each job owns a ``torch.Generator`` seeded by its ``seed`` that draws, once per epoch and on the
device, the permutation, crop offsets and flips (:func:`sketchbound.dnn.data.augment_epoch`) into a
static epoch buffer; a training step gathers its batch from that buffer by a step counter held in a
device tensor. Incomplete last batches are dropped (static shapes). The checkpoint written at the
end of every epoch (atomic: temporary file + ``os.replace``) holds the model, momentum buffers,
epoch, generator and global RNG states and the history, so a killed run resumes at the last finished
epoch and ends with bit-identical weights (tested on CPU).

Throughput
----------
:class:`ConcurrentTrainer` trains N ``(model, mask, seed)`` jobs of one dataset in lockstep. On CUDA
each job's whole step (batch gather, normalisation, forward under bf16 autocast, backward, masked SGD,
loss/accuracy accumulation, step counter) is captured in its own CUDA graph and replayed on its own
stream, so the jobs' small kernels overlap; on CPU (or ``cuda_graphs=False``) the very same step
function runs eagerly. Without graphs the semantics are identical; with graphs and bf16 the numbers
differ only by floating-point effects.
"""
from __future__ import annotations

import contextlib
import warnings
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.dnn.training.checkpoint import conditions, load_verified, save_verified
from sketchbound.dnn.training.sgd_kernel import SGD_KERNELS, check_sgd_kernel, masked_sgd_triton

from sketchbound.dnn.data import TensorDataset, augment_epoch

try:  # tqdm is a declared dependency, but keep the trainer importable without it
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover
    tqdm = None

__all__ = [
    "Schedule",
    "TrainJob",
    "TrainResult",
    "ConcurrentTrainer",
    "train",
    "evaluate",
    "masked_sgd_step",
    "resolve_masks",
    "mask_density",
    "MASK_VALUES",
    "CHECKPOINT_FORMAT",
]

#: how non-binary (Algorithm-1-weighted) masks are used, see the module docstring
MASK_VALUES = ("scale-init", "support")
CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Schedule:
    """SGD schedule of §7: step decay of the learning rate at epoch milestones.

    ``lr_at(e)`` is the learning rate during epoch ``e`` (0-based): ``lr * gamma**#{m <= e}`` — with
    milestones (80, 120) epochs 0..79 use 0.1, 80..119 use 0.01 and 120..159 use 0.001.
    """

    epochs: int = 160
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (80, 120)
    gamma: float = 0.1

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
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
            if not isinstance(epochs, int) or epochs < 1:
                raise ValueError(f"epochs must be a positive int, got {epochs!r}")
            full = base["epochs"]
            base["milestones"] = tuple(max(1, int(round(m * epochs / full))) for m in base["milestones"])
            base["epochs"] = epochs
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


# --------------------------------------------------------------------------------------------- masks
def resolve_masks(model: nn.Module, masks: Mapping[str, torch.Tensor] | None) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Match mask keys to parameters: ``[(name, parameter, mask)]``.

    Keys are parameter names (``"features.0.weight"``); a module name (``"features.0"``) is accepted
    for its ``weight``; for a layer pruned by :func:`~sketchbound.dnn.pruning.apply.apply_mask` (or
    ``torch.nn.utils.prune``) ``"<layer>.weight"`` names its ``weight_orig``. ``ValueError`` for unknown
    keys or shape mismatches.
    """
    if not masks:
        return []
    params = dict(model.named_parameters())
    out = []
    for key, m in masks.items():
        name = key if key in params else f"{key}_orig" if f"{key}_orig" in params else f"{key}.weight"  # _orig: apply_mask
        if name not in params:
            raise ValueError(f"mask key {key!r} names no parameter of the model; parameters: {', '.join(list(params)[:8])}...")
        p = params[name]
        m = torch.as_tensor(m)
        if tuple(m.shape) != tuple(p.shape):
            raise ValueError(f"mask {key!r} has shape {tuple(m.shape)}, parameter has {tuple(p.shape)}")
        out.append((name, p, m))
    return out


def mask_density(masks: Mapping[str, torch.Tensor]) -> tuple[float, dict[str, int], dict[str, int]]:
    """``(density, kept per layer, size per layer)`` of a mask dict (nonzero entries count as kept)."""
    kept = {k: int(torch.count_nonzero(torch.as_tensor(m)).item()) for k, m in masks.items()}
    size = {k: int(torch.as_tensor(m).numel()) for k, m in masks.items()}
    total = sum(size.values())
    return (sum(kept.values()) / total if total else 1.0), kept, size


@torch.no_grad()
def masked_sgd_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], bufs: Sequence[torch.Tensor],
                    lr: torch.Tensor | Sequence[torch.Tensor], momentum: float, weight_decay: float,
                    masked_params: Sequence[torch.Tensor] = (), masked_grads: Sequence[torch.Tensor] = (),
                    masks: Sequence[torch.Tensor] = (), kernel: str = "foreach",
                    copies: Sequence[torch.Tensor | None] | None = None) -> None:
    """One SGD step with momentum and weight decay, in place, with masked weights kept exactly zero.

    ``g ← g ⊙ m``; ``g ← g + λ w``; ``b ← μ b + g``; ``w ← w − lr·b``; ``w ← w ⊙ m`` (the same update as
    ``torch.optim.SGD`` with ``dampening=0``, whose first-step ``b = g`` equals ``μ·0 + g``). ``lr`` is a
    0-d tensor on the parameters' device, so a captured CUDA graph follows the schedule, or one tensor
    per parameter broadcastable to it (per-model learning rates of horizontally fused models,
    :mod:`sketchbound.dnn.training.fused`).
    ``masked_grads``/``masked_params`` must be the gradients/parameters the ``masks`` belong to.
    ``kernel`` (one of :data:`~sketchbound.dnn.training.sgd_kernel.SGD_KERNELS`): ``"foreach"`` (default) runs
    seven ``torch._foreach_*`` passes and leaves the gradients masked with weight decay added; ``"triton"``
    one kernel per parameter that reads and writes each element once and leaves the gradients as they
    were (:func:`~sketchbound.dnn.training.sgd_kernel.masked_sgd_triton`; a 0-d ``lr``; the same update up
    to floating-point rounding). ``copies`` (Triton only): per parameter a tensor (or ``None``) that receives
    the updated parameter in its own dtype.
    """
    if kernel == "triton":
        mask_of = {id(p): m for p, m in zip(masked_params, masks)}
        masked_sgd_triton(params, grads, bufs, lr, momentum, weight_decay, [mask_of.get(id(p)) for p in params],
                          copies)
        return
    if kernel != "foreach":
        raise ValueError(f"kernel must be one of {', '.join(map(repr, SGD_KERNELS))}, got {kernel!r}")
    if copies is not None and any(c is not None for c in copies):
        raise ValueError(f"copies need kernel='triton' (only the Triton kernel writes them), got kernel={kernel!r}")
    if masks:
        torch._foreach_mul_(list(masked_grads), list(masks))
    if weight_decay:
        torch._foreach_add_(list(grads), list(params), alpha=weight_decay)
    if momentum:
        torch._foreach_mul_(list(bufs), momentum)
        torch._foreach_add_(list(bufs), list(grads))
        update = torch._foreach_mul(list(bufs), lr if isinstance(lr, torch.Tensor) else list(lr))
    else:
        update = torch._foreach_mul(list(grads), lr if isinstance(lr, torch.Tensor) else list(lr))
    torch._foreach_sub_(list(params), update)
    if masks:
        torch._foreach_mul_(list(masked_params), list(masks))


# --------------------------------------------------------------------------------------------- jobs
def masked_update(params: Sequence[torch.Tensor], bufs: Sequence[torch.Tensor], lr, schedule: "Schedule",
                  masked_params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], kernel: str = "foreach",
                  grad_leaves: Sequence[torch.Tensor] | None = None,
                  copies: Sequence[torch.Tensor | None] | None = None) -> None:
    """The optimiser half of a training step after ``backward()``: a zero gradient for parameters the
    forward did not use (keeps the step well defined), then :func:`masked_sgd_step` with the schedule's
    momentum and weight decay (shared by :class:`ConcurrentTrainer` and the fused trainer).
    ``grad_leaves[i]`` (default ``params[i]``) is the tensor whose ``.grad`` is parameter ``i``'s gradient —
    its copy in ``copies[i]`` when the forward reads that copy instead (the fused trainer's weight copies)."""
    grads = []
    for p in (params if grad_leaves is None else grad_leaves):
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    grad_of = {id(p): g for p, g in zip(params, grads)}
    masked_sgd_step(params, grads, bufs, lr, schedule.momentum, schedule.weight_decay,
                    masked_params, [grad_of[id(p)] for p in masked_params], masks, kernel, copies)


def replay_or_run(graph, stream, params: Sequence[torch.Tensor], body: Callable[[], None]) -> None:
    """One training step: replay the captured CUDA ``graph`` on its ``stream``, or, without a graph,
    clear the gradients and run ``body`` eagerly (the same step function)."""
    if graph is not None:
        with torch.cuda.stream(stream):
            graph.replay()
    else:
        for p in params:
            p.grad = None
        body()


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
    """Outcome of one job. ``finished`` is False when the run was stopped early (``stop_after_epochs``/``max_steps``)."""

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


def _normalize(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The trainer's pixel normalisation ``(x·(1/255) − m)/s``. It multiplies by ``1/255`` where
    :func:`sketchbound.dnn.data.normalize` (pruning inputs) divides by 255; the two differ in the last bit
    for half of the pixel values, and both are kept so recorded runs reproduce bit for bit."""
    return (x.float() * (1.0 / 255.0) - m) / s


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std, *, batch_size: int = 1000,
             amp: bool = False, channels_last: bool = False) -> tuple[float, float]:
    """Top-1 accuracy (in %) and mean cross-entropy of ``model`` on ``uint8`` images ``x``."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    m = torch.as_tensor(mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    loss = torch.zeros((), dtype=torch.float64, device=dev)
    for i in range(0, x.shape[0], batch_size):
        xb = _normalize(x[i:i + batch_size].to(dev), m, s)
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


class _JobState:
    """Device-side state of one job: static buffers, the step function and (on CUDA) its graph.

    It is also the unit the lockstep loop steps (``n`` jobs, ``states``), as a fused cohort is."""

    n = 1

    @property
    def states(self) -> list["_JobState"]:
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
        x = _normalize(xb, tr.mean_t, tr.std_t)
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


def capture_step(step_body: Callable[[], None], model: nn.Module, state: Sequence[torch.Tensor],
                 params: Sequence[torch.Tensor], stream, device, *, before_warmup: Callable[[], object] = lambda: None,
                 warmup: int = 3):
    """Capture ``step_body`` (a whole training step) in a CUDA graph and return the graph.

    It runs ``warmup`` times on ``stream`` first (cuDNN/cuBLAS choose their algorithms, allocations
    settle; ``before_warmup`` runs before each, e.g. resetting the step counter), then ``model``'s state
    dict and the tensors ``state`` (momentum buffers, counters) are restored in place — warm-up steps
    must not count — the gradients of ``params`` are dropped so that they are allocated once inside the
    graph's private memory pool, and one step is captured (the CUDA-graph capture rules).
    """
    snap_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    snap = [t.detach().clone() for t in state]
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            for p in params:
                p.grad = None
            before_warmup()
            step_body()
    torch.cuda.current_stream(device).wait_stream(stream)
    with torch.no_grad():  # warm-up steps must not count: restore everything in place
        for k, v in model.state_dict().items():
            v.copy_(snap_model[k])
        for t, v in zip(state, snap):
            t.copy_(v)
    for p in params:
        p.grad = None  # grads are then allocated once, inside the graph's private pool
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=stream):
        step_body()
    torch.cuda.synchronize(device)
    return g


def _auto(flag, default: bool) -> bool:
    return default if flag is None else bool(flag)


class ConcurrentTrainer:
    """Train several masked models on one dataset in lockstep (one CUDA graph + stream per job on GPU).

    Parameters
    ----------
    jobs : the :class:`TrainJob` s; each has its own model, mask, seed (data order) and checkpoint.
    data : a :class:`~sketchbound.dnn.data.TensorDataset`; moved once to ``device``.
    schedule : the §7 :class:`Schedule`.
    device : default CUDA if available, else CPU.
    augment : random crop (zero padding ``padding``) + horizontal flip (``flip``) of §7's CIFAR recipe.
    amp, channels_last, cuda_graphs : default True on CUDA, and forced False on CPU.
    eval_every : also evaluate the test set every this many epochs (0: only at the end).
    checkpoint_every_s : write a job's checkpoint at the end of an epoch only when at least this many
        seconds passed since its last one (and always after the last epoch); 0 (default): after every
        epoch, so a kill loses at most the epoch in progress. A large model on a small epoch (VGG-19,
        160 MB per checkpoint, 39 steps per epoch on 5,000 images) otherwise spends most of its time
        writing checkpoints; a kill then loses at most this many seconds plus the epoch in progress.
    progress : tqdm bar; ``log`` : callable receiving one line per job and epoch.
    sgd_kernel : the masked SGD step's implementation, one of
        :data:`~sketchbound.dnn.training.sgd_kernel.SGD_KERNELS`: ``"foreach"`` (default) or ``"triton"``
        (one kernel per parameter, a third of the memory traffic; needs Triton and CUDA, or
        ``TRITON_INTERPRET=1``). The two give the same update up to floating-point rounding
        (:func:`masked_sgd_step`); the choice is not a checkpoint condition.
    """

    #: added to the conditions recorded in every checkpoint (a resume under other ones is flagged in
    #: ``TrainResult.resume_note``); :class:`~sketchbound.dnn.training.fused.FusedTrainer` adds its fusion
    checkpoint_conditions: dict = {}

    def __init__(self, jobs: Sequence[TrainJob], data: TensorDataset, schedule: Schedule, *, device=None,
                 augment: bool = True, padding: int = 4, flip: bool = True, amp: bool | None = None,
                 channels_last: bool | None = None, cuda_graphs: bool | None = None, eval_every: int = 0,
                 eval_batch_size: int = 1000, progress: bool = True, log: Callable[[str], None] | None = None,
                 checkpoint_every_s: float = 0.0, sgd_kernel: str = "foreach"):
        if not jobs:
            raise ValueError("jobs must be a non-empty sequence of TrainJob")
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        self.sgd_kernel = check_sgd_kernel(sgd_kernel, self.device)
        cuda = self.device.type == "cuda"
        self.amp = _auto(amp, cuda) and cuda
        self.channels_last = _auto(channels_last, cuda) and cuda
        self.cuda_graphs = _auto(cuda_graphs, cuda) and cuda
        if cuda and self.amp and not torch.cuda.is_bf16_supported():
            self.amp = False
        self.schedule = schedule
        self.data = data.to(self.device)
        self.augment, self.padding, self.flip = bool(augment), int(padding), bool(flip)
        self.eval_every, self.eval_batch_size = int(eval_every), int(eval_batch_size)
        if not isinstance(checkpoint_every_s, (int, float)) or isinstance(checkpoint_every_s, bool) \
                or not checkpoint_every_s >= 0 or checkpoint_every_s == float("inf"):
            raise ValueError(f"checkpoint_every_s must be a finite number of seconds >= 0, got {checkpoint_every_s!r}")
        self.checkpoint_every_s = float(checkpoint_every_s)
        self.progress, self.log = progress, log
        self.steps_per_epoch = len(self.data) // schedule.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"batch_size {schedule.batch_size} exceeds the training set size {len(self.data)}")
        self.mean_t = torch.tensor(self.data.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std_t = torch.tensor(self.data.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        names = [j.name for j in jobs]
        self.states = [_JobState(j, self) for j in jobs]
        self._names = names

    def _log(self, st: _JobState, msg: str) -> None:
        fn = st.job.log or self.log
        if fn is not None:
            fn(msg)

    def run(self, *, stop_after_epochs: int | None = None, max_steps: int | None = None,
            on_step: Callable[[int], None] | None = None) -> list[TrainResult]:
        """Train every job to the end of the schedule (or until a stop condition) and return results.

        ``stop_after_epochs`` returns after this many epochs completed *in this call* (a simulated kill
        that happens right after a checkpoint); ``max_steps`` stops each job once its global step count
        reaches it (IMP's rewind point; no checkpoint is written mid-epoch and a later ``run()``
        continues); ``on_step(global_step)`` is called after every lockstep round and may raise to
        simulate a crash mid-epoch.
        """
        E, S = self.schedule.epochs, self.steps_per_epoch
        units = self._units()  # what one step advances: a job here, a fused cohort of jobs in FusedTrainer
        if self.cuda_graphs:
            for u in units:
                if u.graph is None and u.global_step < E * S:
                    u.begin_epoch()  # fill the static epoch buffer before warm-up/capture
                    u._capture()
        limit = E * S if max_steps is None else min(E * S, int(max_steps))
        todo = sum(max(0, limit - st.global_step) for st in self.states)
        bar = None
        if self.progress and tqdm is not None and todo:
            bar = tqdm(total=todo, unit="step", desc=f"train x{len(self.states)}{self._bar_suffix}", leave=False,
                       dynamic_ncols=True)
        epochs_this_call = 0
        try:
            while True:
                active = [u for u in units if u.global_step < limit]
                if not active:
                    break
                for u in active:
                    u.begin_epoch()
                for s in range(S):
                    ran = 0
                    for u in active:
                        if u.pos == s and u.global_step < limit:
                            u.run_step()
                            ran += u.n
                    if bar is not None and ran:
                        bar.update(ran)
                    if on_step is not None and ran:
                        on_step(max(u.global_step for u in active))
                for u in active:
                    if u.pos == S:
                        for st in u.states:
                            self._end_epoch(st, bar)
                epochs_this_call += 1
                if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
                    break
        finally:
            if bar is not None:
                bar.close()
        return [self._result(st) for st in self.states]

    _bar_suffix = ""

    def _units(self) -> list:
        """The units one lockstep step advances (each with ``pos``, ``global_step``, ``begin_epoch``,
        ``run_step``, ``graph``/``_capture``, ``n`` jobs and their ``states``): here every job alone."""
        return self.states

    def _end_epoch(self, st: _JobState, bar) -> None:
        """End ``st``'s epoch (history, evaluation, checkpoint) and log its line."""
        rec = st.end_epoch()
        self._log(st, f"[{st.job.name}] epoch {rec['epoch']}/{self.schedule.epochs} lr {rec['lr']:.4g} "
                  f"loss {rec['train_loss']:.4f} acc {rec['train_accuracy']:.2f}"
                  + (f" test {rec['test_accuracy']:.2f}" if "test_accuracy" in rec else "")
                  + f" ({rec['time_s']:.1f}s)")
        if bar is not None:
            bar.set_postfix(epoch=rec["epoch"], loss=f"{rec['train_loss']:.3f}")

    def _result(self, st: _JobState) -> TrainResult:
        E, S = self.schedule.epochs, self.steps_per_epoch
        finished = st.global_step >= E * S
        res = TrainResult(name=st.job.name, seed=st.job.seed, epochs_done=st.epoch, finished=finished,
                          steps=st.global_step, resumed_from_epoch=st.resumed_from, history=list(st.history),
                          resume_note=st.resume_note)
        if st.history:
            res.train_loss = st.history[-1]["train_loss"]
            res.train_accuracy = st.history[-1]["train_accuracy"]
        if finished:
            res.test_accuracy, res.test_loss = st.evaluate()
        return res

    @property
    def models(self) -> list[nn.Module]:
        return [st.model for st in self.states]


def train(model: nn.Module, data: TensorDataset, schedule: Schedule, *, masks: Mapping[str, torch.Tensor] | None = None,
          seed: int = 0, checkpoint=None, name: str = "run", start_step: int = 0, mask_values: str = "scale-init",
          stop_after_epochs: int | None = None, max_steps: int | None = None, on_step=None, **kw) -> TrainResult:
    """Train one masked model (a :class:`ConcurrentTrainer` with one job); ``kw`` go to the trainer."""
    tr = ConcurrentTrainer([TrainJob(model, masks, seed, checkpoint, name, start_step, mask_values)], data, schedule, **kw)
    return tr.run(stop_after_epochs=stop_after_epochs, max_steps=max_steps, on_step=on_step)[0]
