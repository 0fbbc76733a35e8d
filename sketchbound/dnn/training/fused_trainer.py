"""The fused trainer: :class:`FusedTrainer` trains each group of same-architecture jobs as one :class:`FusedModel`.

See :mod:`sketchbound.dnn.training.fused` for the layout, the loss and the optimiser on fused tensors.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import nn

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.training.fused_conv_choice import choose_conv_gemm
from sketchbound.dnn.training.fused_layers import (FusedConv2d, FusedLinear, architecture_key, check_compile_mode,
                                                   check_conv_block, check_gemm_with_block, check_max_fused)
from sketchbound.dnn.training.fused_model import FusedModel, fused_cross_entropy
from sketchbound.dnn.training.job import JobState, Schedule, TrainJob, pixel_normalize
from sketchbound.dnn.training.sgd_kernel import check_weight_copies
from sketchbound.dnn.training.step import capture_step, masked_update, replay_or_run
from sketchbound.dnn.training.trainer import ConcurrentTrainer

__all__ = ["FusedTrainer"]


class _Cohort:
    """Jobs of one architecture at the same global step, trained as one :class:`FusedModel`.

    Duck-types the parts of a job state that the lockstep loop uses (``pos``, ``global_step``,
    ``begin_epoch``, ``run_step``, ``graph``); per-job bookkeeping (epoch, history, checkpoint,
    generator, evaluation) stays in each job's :class:`JobState`, whose tensors become views of the
    cohort's fused ones.
    """

    def __init__(self, states: Sequence[JobState], tr: "FusedTrainer"):
        self.states, self.tr = list(states), tr
        self.n = N = len(self.states)
        dev = tr.device
        models = [st.model for st in self.states]
        fm = FusedModel(models, conv_block=tr.conv_block, conv_gemm=tr.conv_gemm).to(dev)
        if tr.channels_last:
            fm = fm.to(memory_format=torch.channels_last)
        fm.train()
        self.fused = fm
        self.gemm_choice = None  # conv_gemm="auto": per convolution, which form measured faster
        if tr.conv_gemm == "auto":
            shape = tuple(tr.data.x_train.shape[1:])
            self.gemm_choice = choose_conv_gemm(fm, (tr.schedule.batch_size, N * shape[0]) + shape[1:],
                                                compile_mode=tr.compile_mode, amp=tr.amp,
                                                channels_last=tr.channels_last)
        # the forward (and, through AOTAutograd, the backward) as Inductor kernels: batch norm, ReLU and the
        # residual additions fused into few kernels; compiled at the first step (capture's warm-up on CUDA)
        self.forward = fm if tr.compile_mode is None else torch.compile(fm, mode=tr.compile_mode, dynamic=False)
        self.params = [p for p in fm.parameters() if p.requires_grad]
        names = {id(p): k for k, p in fm.net.named_parameters()}
        per_model = [dict(st.model.named_parameters()) for st in self.states]
        buf_of = [{id(p): b for p, b in zip(st.params, st.bufs)} for st in self.states]
        mask_of = [{id(p): j for j, p in enumerate(st.masked_params)} for st in self.states]
        with torch.no_grad():
            # momentum: each job's buffers (restored from its checkpoint when resuming), in the fused layout
            self.bufs = [fm.fuse_like(names[id(p)], p, [buf_of[i][id(per_model[i][names[id(p)]])] for i in range(N)])
                         for p in self.params]
            self.masked_params, self.masks = [], []
            for p in self.params:
                k = names[id(p)]
                js = [mask_of[i].get(id(per_model[i][k])) for i in range(N)]
                if all(j is None for j in js):
                    continue
                m = fm.fuse_like(k, p, [None if j is None else self.states[i].masks[j] for i, j in enumerate(js)], 1.0)
                self.masked_params.append(p)
                self.masks.append(m)
                for i, j in enumerate(js):  # the job's mask: a view of its slice
                    if j is not None:
                        self.states[i].masks[j] = fm.slice(k, m, i)
            for i, st in enumerate(self.states):
                pos = {id(p): j for j, p in enumerate(st.params)}
                for p, b in zip(self.params, self.bufs):
                    st.bufs[pos[id(per_model[i][names[id(p)]])]] = fm.slice(names[id(p)], b, i)
        fm.tie(models)
        # weight_copies: the convolutions and linears read a copy of their weight in the forward's precision
        # (bfloat16 under autocast), which the Triton SGD kernel writes with the update: no cast of every
        # weight per step, nor of its gradient. The copies are fm parameters outside self.params.
        self.copy_of: dict[int, nn.Parameter] = {}
        if tr.weight_copies:
            for mod in fm.modules():
                if isinstance(mod, (FusedConv2d, FusedLinear)) and mod.weight.requires_grad:
                    self.copy_of[id(mod.weight)] = mod.attach_weight_copy(torch.bfloat16 if tr.amp else None)
        self.copies = [self.copy_of.get(id(p)) for p in self.params]
        self.grad_leaves = [self.copy_of.get(id(p), p) for p in self.params]
        self.lr = torch.zeros(N, dtype=torch.float32, device=dev)  # per job (its state's view), as unfused
        # the jobs of a group are at the same step of one schedule, so they share the learning rate: the
        # step multiplies by one 0-d tensor (the foreach fast path; a per-parameter [C, 1, ...] lr would cost
        # one extra kernel per parameter). begin_epoch checks that the jobs' rates agree.
        self.lr_step = torch.zeros((), dtype=torch.float32, device=dev)
        self.step = torch.zeros((), dtype=torch.int64, device=dev)
        self.loss_sum = torch.zeros(N, dtype=torch.float32, device=dev)
        self.correct = torch.zeros(N, dtype=torch.int64, device=dev)
        x, y = tr.data.x_train, tr.data.y_train
        # the N epoch buffers interleaved, [n_train, N, C, H, W]: one gather gives the fused batch
        self.ex = torch.empty((x.shape[0], N) + tuple(x.shape[1:]), dtype=x.dtype, device=dev)
        self.ey = torch.empty((y.shape[0], N), dtype=y.dtype, device=dev)
        self.stream = torch.cuda.Stream(device=dev) if tr.cuda_graphs else None
        for i, st in enumerate(self.states):
            st.lr, st.step = self.lr[i], self.step
            st.loss_sum, st.correct = self.loss_sum[i], self.correct[i]
            st.ex, st.ey = self.ex[:, i], self.ey[:, i]
            st.stream = self.stream
        self.arange_b = torch.arange(tr.schedule.batch_size, device=dev)
        self.mean_t = tr.mean_t.repeat(1, N, 1, 1)
        self.std_t = tr.std_t.repeat(1, N, 1, 1)
        self.graph = None

    @property
    def pos(self) -> int:
        return self.states[0].pos

    @property
    def global_step(self) -> int:
        return self.states[0].global_step

    def _ctx(self):
        return torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()

    def begin_epoch(self) -> None:
        for st in self.states:
            st.begin_epoch()  # learning rate, augmentation into the views, counters
        rates = {self.tr.schedule.lr_at(st.epoch) for st in self.states}
        if len(rates) != 1:  # cannot happen for jobs at the same step of one schedule; never train silently wrong
            raise RuntimeError(f"fused jobs at different learning rates {sorted(rates)}: they must be at the same step")
        with self._ctx(), torch.no_grad():
            self.lr_step.fill_(rates.pop())
            for p, c in zip(self.params, self.copies):  # equal already unless a weight was set from outside
                if c is not None:
                    c.copy_(p)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused batch of the current step: ``x`` ``[B, N·C, H, W]`` normalised, ``y`` ``[B, N]``."""
        tr = self.tr
        B = tr.schedule.batch_size
        idx = self.arange_b + self.step * B
        xb = self.ex.index_select(0, idx)  # [B, N, C, H, W]
        y = self.ey.index_select(0, idx)  # [B, N]
        x = pixel_normalize(xb.reshape((B, -1) + tuple(xb.shape[3:])), self.mean_t, self.std_t)
        if tr.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def _step_body(self) -> None:
        tr = self.tr
        x, y = self.batch()
        with torch.autocast(tr.device.type, dtype=torch.bfloat16, enabled=tr.amp, cache_enabled=False):
            out = self.forward(x)
        per = fused_cross_entropy(out, y, self.n)
        per.sum().backward()
        masked_update(self.params, self.bufs, self.lr_step, tr.schedule, self.masked_params, self.masks, tr.sgd_kernel,
                      self.grad_leaves, self.copies if self.copy_of else None)
        with torch.no_grad():
            self.loss_sum.add_(per.detach())
            self.correct.add_((self.fused.split(out.detach()).argmax(2) == y).sum(0))
            self.step.add_(1)

    def _capture(self) -> None:
        self.graph = capture_step(self._step_body, self.fused, [*self.bufs, self.step, self.loss_sum, self.correct],
                                  self.grad_leaves, self.stream, self.tr.device, before_warmup=self.step.zero_)

    def run_step(self) -> None:
        replay_or_run(self.graph, self.stream, self.grad_leaves, self._step_body)
        for st in self.states:
            st.pos += 1


class FusedTrainer(ConcurrentTrainer):
    """:class:`~sketchbound.dnn.training.ConcurrentTrainer` with horizontal fusion: the jobs of one
    architecture that are at the same step (normally all of them) train as one :class:`FusedModel`.

    Same parameters, :class:`~sketchbound.dnn.training.TrainJob` s, results, checkpoint files and
    resume semantics as ``ConcurrentTrainer`` (a fused run resumed after a kill is bit-identical on
    CPU; checkpoints record ``"fusion": "horizontal"`` among their conditions, so resuming a run with
    the other trainer is flagged in ``resume_note``). On CUDA each fused group's whole step is one CUDA
    graph (groups of different architectures run on their own streams); on CPU it runs eagerly.
    ``max_fused=W`` splits each group into cohorts of at most ``W`` models, each fused on its own stream
    and graph (a hybrid of fusion and streams; each model's arithmetic is the same either way).
    ``conv_block=k`` runs each cohort's convolutions block-dense, ``k`` consecutive models per dense block
    of one block-diagonal convolution (:class:`FusedConv2d`: ``k``× the convolution FLOPs, results equal up
    to floating-point order; a cohort of ``n`` models uses the largest divisor of ``n`` that is ≤ ``k``).
    ``conv_gemm`` (one of :data:`CONV_GEMM`; default ``"off"``) runs the strided (``"strided"``), all
    (``"all"``) or the measured-faster (``"auto"``, :func:`choose_conv_gemm`, timed once per cohort on CUDA
    in the trainer's precision and compile mode; on CPU none) fused convolutions as one batched GEMM over
    unfolded patches (:func:`grouped_conv2d_gemm`) instead of cuDNN's grouped convolution; results equal
    up to floating-point order.
    ``compile_mode`` (one of :data:`COMPILE_MODES`; default ``None``: eager) runs each cohort's fused
    forward and backward through ``torch.compile`` (Inductor), compiled once at the first step; the
    loss and the masked SGD step stay as they are, and on CUDA the trainer's own graph captures the
    compiled kernels. One step equals the eager one up to floating-point order (Inductor reorders batch
    norm's reductions); over many steps the two trajectories drift apart as reordered arithmetic does.
    ``weight_copies=True`` (needs ``sgd_kernel="triton"``) makes the fused convolutions and linears read a
    copy of their weight in the forward's precision (bfloat16 under ``amp``) that the SGD kernel writes as it
    updates the float32 weight (:meth:`FusedLeaf.attach_weight_copy`): the per-step cast of every weight
    and of its gradient go away, and the arithmetic is the same (autocast rounds the weight to bfloat16 the
    same way; the weight gradient is computed in bfloat16 either way).
    ``ValueError`` when a model cannot be fused (see :func:`architecture_key`).

    Parameters
    ----------
    jobs, data, schedule
        As for ``ConcurrentTrainer``.
    max_fused : int, optional
        The most models per fused cohort (``None``: no limit).
    conv_block : int, default 1
        Block of the block-dense convolutions.
    conv_gemm : str, default "off"
        One of :data:`CONV_GEMM`.
    compile_mode : str, optional
        One of :data:`COMPILE_MODES` (``None``: eager).
    weight_copies : bool, default False
        Low-precision weight copies written by the Triton SGD kernel.
    **kw
        ``ConcurrentTrainer``'s options (``device``, ``progress``, ``sgd_kernel``, ...).

    Examples
    --------
    >>> from sketchbound.dnn.data import TensorDataset
    >>> from sketchbound.dnn.models import get_model
    >>> from sketchbound.dnn.training.job import Schedule
    >>> x = torch.randint(0, 256, (16, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    >>> ds = TensorDataset("toy", x, torch.arange(16) % 2, x, torch.arange(16) % 2, 2, (0.5,), (0.25,))
    >>> jobs = [TrainJob(get_model("lenet300100", 1, 2, 4, width=0.05, seed=i), seed=i, name=f"m{i}") for i in range(2)]
    >>> [r.steps for r in FusedTrainer(jobs, ds, Schedule(epochs=1, batch_size=8), progress=False).run()]
    [2, 2]
    """

    checkpoint_conditions = {"fusion": "horizontal"}

    def __init__(self, jobs: Sequence[TrainJob], data: TensorDataset, schedule: Schedule, *,
                 max_fused: int | None = None, conv_block: int = 1, conv_gemm: str = "off",
                 compile_mode: str | None = None, weight_copies: bool = False, **kw):
        self.weight_copies = check_weight_copies(weight_copies, kw.get("sgd_kernel", "foreach"))
        if max_fused is not None:
            check_max_fused(max_fused)
        check_conv_block(conv_block)
        self.conv_gemm = check_gemm_with_block(conv_gemm, conv_block)
        self.compile_mode = check_compile_mode(compile_mode)
        super().__init__(jobs, data, schedule, **kw)
        groups: dict[tuple, list[JobState]] = {}
        for st in self.states:
            groups.setdefault((architecture_key(st.model), st.global_step), []).append(st)
        self.max_fused = max_fused
        self.conv_block = conv_block
        self.cohorts = [_Cohort(g[i:i + (max_fused or len(g))], self)
                        for g in groups.values() for i in range(0, len(g), max_fused or len(g))]

    _bar_suffix = " fused"

    def _units(self) -> list:
        """The fused cohorts: :meth:`ConcurrentTrainer.run <sketchbound.dnn.training.ConcurrentTrainer.run>`
        steps each cohort (all its jobs at once) where it steps a job."""
        return self.cohorts


