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

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.training.job import (CHECKPOINT_FORMAT, MASK_VALUES, JobState, Schedule, TrainJob,
                                          TrainResult, evaluate)
from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel
from sketchbound.dnn.training.step import mask_density, masked_sgd_step, resolve_masks

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



def _auto(flag, default: bool) -> bool:
    return default if flag is None else bool(flag)


class ConcurrentTrainer:
    """Train several masked models on one dataset in lockstep (one CUDA graph + stream per job on GPU).

    Parameters
    ----------
    jobs : sequence of TrainJob
        The :class:`TrainJob` s; each has its own model, mask, seed (data order) and checkpoint.
    data : TensorDataset
        A :class:`~sketchbound.dnn.data.TensorDataset`; moved once to ``device``.
    schedule : Schedule
        The §7 :class:`Schedule`.
    device : torch.device or str, optional
        Default CUDA if available, else CPU.
    augment : bool, default True
        Random crop (zero padding ``padding``) + horizontal flip (``flip``) of §7's CIFAR recipe.
    amp, channels_last, cuda_graphs : bool, optional
        Default True on CUDA, and forced False on CPU.
    eval_every : int, default 0
        Also evaluate the test set every this many epochs (0: only at the end).
    checkpoint_every_s : float, default 0.0
        Write a job's checkpoint at the end of an epoch only when at least this many
        seconds passed since its last one (and always after the last epoch); 0 (default): after every
        epoch, so a kill loses at most the epoch in progress. A large model on a small epoch (VGG-19,
        160 MB per checkpoint, 39 steps per epoch on 5,000 images) otherwise spends most of its time
        writing checkpoints; a kill then loses at most this many seconds plus the epoch in progress.
    progress : bool, default True
        A tqdm progress bar.
    log : callable, optional
        Receives one line per job and epoch.
    sgd_kernel : str, default "foreach"
        The masked SGD step's implementation, one of
        :data:`~sketchbound.dnn.training.sgd_kernel.SGD_KERNELS`: ``"foreach"`` (default) or ``"triton"``
        (one kernel per parameter, a third of the memory traffic; needs Triton and CUDA, or
        ``TRITON_INTERPRET=1``). The two give the same update up to floating-point rounding
        (:func:`masked_sgd_step`); the choice is not a checkpoint condition.
    padding, flip : int, bool
        The augmentation's zero padding (default 4) and horizontal flips (default True).
    eval_batch_size : int, default 1000
        Batch size of the evaluations.

    Examples
    --------
    >>> from sketchbound.dnn.models import get_model
    >>> x = torch.randint(0, 256, (16, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    >>> ds = TensorDataset("toy", x, torch.arange(16) % 2, x, torch.arange(16) % 2, 2, (0.5,), (0.25,))
    >>> jobs = [TrainJob(get_model("lenet300100", 1, 2, 4, width=0.05, seed=i), seed=i, name=f"m{i}") for i in range(2)]
    >>> results = ConcurrentTrainer(jobs, ds, Schedule(epochs=1, batch_size=8), progress=False).run()
    >>> [(r.name, r.steps, r.finished) for r in results]
    [('m0', 2, True), ('m1', 2, True)]
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
        self.states = [JobState(j, self) for j in jobs]
        self._names = names

    def _log(self, st: JobState, msg: str) -> None:
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

    def _end_epoch(self, st: JobState, bar) -> None:
        """End ``st``'s epoch (history, evaluation, checkpoint) and log its line."""
        rec = st.end_epoch()
        self._log(st, f"[{st.job.name}] epoch {rec['epoch']}/{self.schedule.epochs} lr {rec['lr']:.4g} "
                  f"loss {rec['train_loss']:.4f} acc {rec['train_accuracy']:.2f}"
                  + (f" test {rec['test_accuracy']:.2f}" if "test_accuracy" in rec else "")
                  + f" ({rec['time_s']:.1f}s)")
        if bar is not None:
            bar.set_postfix(epoch=rec["epoch"], loss=f"{rec['train_loss']:.3f}")

    def _result(self, st: JobState) -> TrainResult:
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
    """Train one masked model (a :class:`ConcurrentTrainer` with one job); ``kw`` go to the trainer.

    Parameters
    ----------
    model : nn.Module
        The network, trained in place.
    data : TensorDataset
        Training and test data.
    schedule : Schedule
        The §7 schedule.
    masks, seed, checkpoint, name, start_step, mask_values
        As in :class:`TrainJob`.
    stop_after_epochs, max_steps : int, optional
        Stop early (the result is then not ``finished``; a checkpoint resumes it).
    on_step : callable, optional
        Passed to :meth:`ConcurrentTrainer.run`.
    **kw
        :class:`ConcurrentTrainer`'s options (``device``, ``augment``, ``progress``, ...).

    Returns
    -------
    TrainResult
        The job's outcome.

    Examples
    --------
    >>> from sketchbound.dnn.models import get_model
    >>> x = torch.randint(0, 256, (16, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    >>> ds = TensorDataset("toy", x, torch.arange(16) % 2, x, torch.arange(16) % 2, 2, (0.5,), (0.25,))
    >>> r = train(get_model("lenet300100", 1, 2, 4, width=0.05, seed=0), ds, Schedule(epochs=1, batch_size=8), progress=False)
    >>> r.steps, r.finished, 0 <= r.test_accuracy <= 100
    (2, True, True)
    """
    tr = ConcurrentTrainer([TrainJob(model, masks, seed, checkpoint, name, start_step, mask_values)], data, schedule, **kw)
    return tr.run(stop_after_epochs=stop_after_epochs, max_steps=max_steps, on_step=on_step)[0]
