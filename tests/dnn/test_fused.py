"""Horizontal fusion (HFTA, Wang et al. MLSys 2021): N models as one network train exactly like N models.

The math checked here (module docstring of ``sketchbound.dnn.training.fused``): with inputs stacked
model-major along channels, a grouped convolution (groups = N·g) over ``cat_n W_n``, BatchNorm over N·C
channels and a batched matmul over ``[N, out, in]`` compute each model's own forward; the loss
``Σ_n L_n`` gives ``∂L/∂θ_n = ∂L_n/∂θ_n``; masked SGD with a per-model learning-rate vector is
elementwise, so one fused step equals N separate :func:`masked_sgd_step` s. Block-dense convolutions
(``conv_block=k``) run the fused convolution with ``N·g/k`` groups over a block-diagonal weight whose
off-diagonal blocks are zeros, which changes only the floating-point order. The GEMM form
(``conv_gemm``) computes the same grouped convolution as one batched product of unfolded patches,
``y[p, g, o] = Σ_{i,j,c} x_pad[b, s·h + i, s·w + j, g·C_in + c] · W[g·C_out + o, c, i, j]``: the same sums.
"""
import copy
import json
import re
import shutil
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from hypothesis import given, settings, strategies as hst  # noqa: E402

from sketchbound.dnn.models import get_model  # noqa: E402
from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: E402
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob, masked_sgd_step  # noqa: E402
from sketchbound.dnn.training.job import pixel_normalize  # noqa: E402
from sketchbound.dnn.training.fused import (  # noqa: E402
    FusedConv2d, FusedModel, FusedTrainer, architecture_key, choose_fusion, effective_conv_block, fused_cross_entropy,
    choose_conv_gemm, grouped_conv2d_gemm, per_parameter_lr, plan_fusion, stack_inputs,
)

from test_train import toy_data  # noqa: E402


def _models(name, n, size, width=0.25, classes=10, dtype=torch.float32):
    return [get_model(name, 3, classes, size, "kaiming", width=width, seed=i).to(dtype) for i in range(n)]


def _masks(model, density=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(p.shape, generator=g) < density).to(p.dtype) for k, p in prunable_parameters(model)}


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


def _pruned_weights_are_zero(cohort) -> bool:
    """Every fused masked parameter of ``cohort`` is exactly 0 wherever its fused mask is 0."""
    return all(int(((p.detach() != 0) & (m == 0)).sum()) == 0 for p, m in zip(cohort.masked_params, cohort.masks))


def _one_step(name, size, dtype, lrs, batch=16, conv_block=1, conv_gemm="off"):
    """One fused masked-SGD step (convolutions block-dense with ``conv_block``, GEMM form per ``conv_gemm``)
    vs N separate ones from the same state; returns (max |Δ| over all parameters and buffers, per-model
    losses fused, separate)."""
    n = len(lrs)
    models = _models(name, n, size, dtype=dtype)
    masks = [_masks(m, seed=i) for i, m in enumerate(models)]
    with torch.no_grad():
        for m, mk in zip(models, masks):
            for k, p in prunable_parameters(m):
                p.mul_(mk[k])
    ref = [copy.deepcopy(m) for m in models]
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(batch, 3, size, size, generator=g, dtype=dtype) for _ in range(n)]
    ys = [torch.randint(0, 10, (batch,), generator=g) for _ in range(n)]
    lr = torch.tensor(lrs, dtype=dtype)

    fm = FusedModel(models, conv_block=conv_block, conv_gemm=conv_gemm)
    fm.tie(models)
    per = fused_cross_entropy(fm(stack_inputs(xs)), torch.stack(ys, 1), n)
    per.sum().backward()
    params = list(fm.parameters())
    names = {id(p): k for k, p in fm.net.named_parameters()}
    fmask = [fm.fuse_like(names[id(p)], p, [mk.get(names[id(p)]) for mk in masks], 1.0) for p in params]
    masked_sgd_step(params, [p.grad for p in params], [torch.zeros_like(p) for p in params],
                    per_parameter_lr(fm, params, lr), 0.9, 1e-4, params, [p.grad for p in params], fmask)

    sep = []
    for i, (r, x, y) in enumerate(zip(ref, xs, ys)):
        loss = F.cross_entropy(r(x), y)
        loss.backward()
        sep.append(loss.item())
        ps = list(r.parameters())
        mp = [p for k, p in r.named_parameters() if k in masks[i]]
        masked_sgd_step(ps, [p.grad for p in ps], [torch.zeros_like(p) for p in ps], lr[i], 0.9, 1e-4,
                        mp, [p.grad for p in mp], [masks[i][k] for k, p in r.named_parameters() if k in masks[i]])
    return max(_max_diff(m, r) for m, r in zip(models, ref)), per.tolist(), sep, models, masks


@pytest.mark.parametrize("name,size", [("resnet20", 8), ("vgg19", 16), ("lenet300100", 8)])
def test_one_fused_step_equals_separate_steps_float32(name, size):
    """Tied models after one fused step == the same models after one separate masked SGD step each."""
    diff, per, sep, _, _ = _one_step(name, size, torch.float32, [0.1, 0.05, 0.2])
    assert diff < 1e-5, diff
    assert per == pytest.approx(sep, rel=1e-5)


@pytest.mark.parametrize("name", ["resnet20", "vgg11"])
def test_one_fused_step_is_exact_in_float64(name):
    """In float64 the only difference is summation order: agreement to ~1e-12 shows the layout is right
    (a wrong group/slice assignment would give O(1) differences)."""
    diff, per, sep, _, _ = _one_step(name, 16, torch.float64, [0.1, 0.05])
    assert diff < 1e-11, diff
    assert per == pytest.approx(sep, rel=1e-12)


def test_per_model_learning_rates_are_independent():
    """lr = 0 for model 1: its weights and buffers other than BN statistics (which the forward updates)
    do not move, while model 0 trains with its own rate (= the separate step, checked above)."""
    models = _models("resnet20", 2, 8)
    before = [copy.deepcopy(m) for m in models]
    diff, _, _, after, masks = _one_step("resnet20", 8, torch.float32, [0.1, 0.0])
    assert diff < 1e-5
    p1 = dict(after[1].named_parameters())
    for k, p in before[1].named_parameters():  # the masked step of model 1 with lr 0: w ← w ⊙ m only
        expect = p.detach() * masks[1][k] if k in masks[1] else p.detach()
        assert torch.equal(p1[k].detach(), expect), k
    assert any(not torch.equal(a.detach(), b.detach()) for a, b in zip(before[0].parameters(), after[0].parameters()))


def _jobs(name, n, ckpt_dir=None, tag="", model_seed=0, size=8, classes=3):
    out = []
    for i in range(n):
        m = get_model(name, 3, classes, size, "kaiming", width=0.25, seed=i + model_seed)
        mk = _masks(get_model(name, 3, classes, size, "kaiming", width=0.25, seed=i), 0.3, i)
        out.append(TrainJob(m, mk, seed=10 + i, name=f"{tag}j{i}",
                            checkpoint=None if ckpt_dir is None else ckpt_dir / f"{tag}{i}.pt"))
    return out


SCHED = Schedule(epochs=3, batch_size=16, milestones=(2,))


def _copy_state(src, dst) -> None:
    """``dst`` (a job state of either trainer) takes ``src``'s weights, batch-norm statistics and momentum, in
    place (a fused job's tensors are views of its cohort's, so the cohort takes them too)."""
    with torch.no_grad():
        dst.model.load_state_dict(src.model.state_dict())
        for a, b in zip(src.bufs, dst.bufs):
            b.copy_(a)


def _lockstep(ref, other, steps: int, tol: float):
    """Run two trainers ``steps`` global steps, one at a time; after every step each model of ``other`` is
    within ``tol`` of ``ref``'s (max |Δ| over weights and buffers), then takes ``ref``'s state. The largest
    one-step Δ is returned with both runs' results.

    Each step is compared from the same state: the trajectories of this toy configuration amplify float32
    rounding (a ReLU pre-activation within ~1e-4 of 0 changes sign under a ~1e-6 change of the weights, and
    the two trajectories separate by O(1) within a few steps), so two correct implementations with different
    rounding — e.g. ConcurrentTrainer with and without oneDNN convolutions — differ by O(1) after 12 free
    steps. One step of a wrong fused computation (a model's slice, its learning rate, its momentum, its
    augmentation) differs by orders of magnitude more than ``tol``."""
    start = ref.states[0].global_step
    assert all(st.global_step == start for st in (*ref.states, *other.states))
    worst = 0.0
    for s in range(start + 1, start + steps + 1):
        ra, rb = ref.run(max_steps=s), other.run(max_steps=s)
        d = max(_max_diff(a, b) for a, b in zip(ref.models, other.models))
        assert d < tol, (s, d)
        worst = max(worst, d)
        if s < start + steps:  # the last step's state stays other's own
            for a, b in zip(ref.states, other.states):
                _copy_state(a, b)
    return worst, ra, rb


@pytest.mark.parametrize("name", ["resnet20", "vgg11"])
def test_fused_trainer_matches_concurrent_trainer_and_keeps_masks_exact(name):
    """Three epochs (12 steps, lr drop at epoch 2) with augmentation: every step of FusedTrainer equals
    ConcurrentTrainer's from the same state up to float order (:func:`_lockstep`); pruned weights exactly 0
    after every step's re-masking."""
    data = toy_data(n=64, size=8)
    a = ConcurrentTrainer(_jobs(name, 3), data, SCHED, progress=False)
    b = FusedTrainer(_jobs(name, 3), data, SCHED, progress=False)
    assert [c.n for c in b.cohorts] == [3]
    _, ra, rb = _lockstep(a, b, 12, 2e-5)
    for x, y in zip(ra, rb):
        assert y.finished and y.epochs_done == 3 and y.steps == 12
        assert [h["train_loss"] for h in y.history] == pytest.approx([h["train_loss"] for h in x.history], rel=1e-3)
    for st, job in zip(b.states, _jobs(name, 3)):
        params = dict(st.model.named_parameters())
        for k, m in job.masks.items():
            assert torch.equal(params[k].detach() == 0, m == 0), k  # zero exactly where the mask is
        for p, m in zip(st.masked_params, st.masks):  # the job's views of the fused masks
            assert int(((p.detach() != 0) & (m == 0)).sum()) == 0


def test_max_fused_splits_into_cohorts_with_the_same_arithmetic():
    """max_fused=2 on 3 jobs: cohorts of 2 and 1 (hybrid fusion + streams); each model's training is the
    same map as unfused training: every step equals ConcurrentTrainer's from the same state up to float
    order (:func:`_lockstep`)."""
    data = toy_data(n=64, size=8)
    a = ConcurrentTrainer(_jobs("resnet20", 3), data, SCHED, progress=False)
    b = FusedTrainer(_jobs("resnet20", 3), data, SCHED, progress=False, max_fused=2)
    assert [c.n for c in b.cohorts] == [2, 1]
    _, _, rb = _lockstep(a, b, 12, 2e-5)
    assert all(r.finished and r.steps == 12 for r in rb)


@pytest.mark.slow
def test_every_fused_step_is_a_float64_step_from_its_own_state():
    """The check that tells a wrong fused computation from amplified rounding on any CPU: from FusedTrainer's
    own state before each of the 12 steps (weights, batch-norm statistics, momentum), one float64 masked SGD
    step of each model alone on the same batch gives the trainer's float32 state after it, up to float32
    rounding (measured ≤ 5e-7 on weights of magnitude ≤ 1; an error in one model's slice, learning rate,
    momentum or batch would be orders of magnitude larger)."""
    data = toy_data(n=64, size=8)
    jobs = _jobs("resnet20", 3)
    tr = FusedTrainer(_jobs("resnet20", 3), data, SCHED, progress=False)
    S, B = tr.steps_per_epoch, SCHED.batch_size
    for s in range(12):
        tr.run(max_steps=s)
        before = [(copy.deepcopy(st.model), [b.detach().clone() for b in st.bufs]) for st in tr.states]
        tr.run(max_steps=s + 1)
        idx = torch.arange(B) + (s % S) * B
        for st, job, (m, bufs) in zip(tr.states, jobs, before):
            x = pixel_normalize(st.ex.index_select(0, idx), tr.mean_t, tr.std_t).double()
            y = st.ey.index_select(0, idx)
            m = m.double().train()
            F.cross_entropy(m(x), y).backward()
            ps, named = list(m.parameters()), dict(m.named_parameters())
            mk = {k: (v != 0).double() for k, v in job.masks.items()}
            masked_sgd_step(ps, [p.grad for p in ps], [b.double() for b in bufs],
                            torch.tensor(SCHED.lr_at(s // S), dtype=torch.float64), SCHED.momentum,
                            SCHED.weight_decay, [named[k] for k in mk], [named[k].grad for k in mk], list(mk.values()))
            assert _max_diff(m, st.model) < 2e-6, (s + 1, job.name)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_max_fused_rejects_non_positive_ints(bad):
    with pytest.raises(ValueError, match="max_fused"):
        FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False, max_fused=bad)


@pytest.mark.parametrize("cls", [ConcurrentTrainer, FusedTrainer])
def test_sgd_kernel_is_checked_before_training(cls, monkeypatch):
    """sgd_kernel must be 'foreach' or 'triton'; 'triton' on a CPU without Triton's interpreter is refused
    with a ValueError saying why, at construction."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    data = toy_data(n=32, size=8)
    with pytest.raises(ValueError, match="sgd_kernel must be one of 'foreach', 'triton', got 'fast'"):
        cls(_jobs("resnet20", 1), data, SCHED, progress=False, sgd_kernel="fast")
    with pytest.raises(ValueError, match="sgd_kernel='triton' cannot run: .*(CUDA device|not importable)"):
        cls(_jobs("resnet20", 1), data, SCHED, progress=False, sgd_kernel="triton")


def test_foreach_step_refuses_weight_copies_and_unknown_kernels():
    """masked_sgd_step: copies are written by the Triton kernel only, so the foreach step refuses them, and a
    kernel outside SGD_KERNELS is refused; each a ValueError naming the kernel, before any tensor changes."""
    from sketchbound.dnn.training import masked_sgd_step
    w, g, b = torch.ones(3), torch.ones(3), torch.zeros(3)
    with pytest.raises(ValueError, match="copies need kernel='triton'.*got kernel='foreach'"):
        masked_sgd_step([w], [g], [b], torch.tensor(0.1), 0.9, 0.0, copies=[torch.zeros(3)])
    with pytest.raises(ValueError, match="kernel must be one of 'foreach', 'triton', got 'fast'"):
        masked_sgd_step([w], [g], [b], torch.tensor(0.1), 0.9, 0.0, kernel="fast")
    assert torch.equal(w, torch.ones(3)) and torch.equal(b, torch.zeros(3))


def test_weight_copies_need_the_triton_kernel_and_a_bool():
    """FusedTrainer(weight_copies=True) with the foreach SGD step (which cannot write the copies) and a
    non-bool weight_copies are refused with a ValueError naming the argument, at construction."""
    data = toy_data(n=32, size=8)
    with pytest.raises(ValueError, match="weight_copies=True needs sgd_kernel='triton'.*'foreach'"):
        FusedTrainer(_jobs("resnet20", 1), data, SCHED, progress=False, weight_copies=True)
    with pytest.raises(ValueError, match="weight_copies must be True or False, got 1"):
        FusedTrainer(_jobs("resnet20", 1), data, SCHED, progress=False, weight_copies=1)


def test_masks_exact_after_many_steps():
    """40 steps at lr 0.1 with momentum and weight decay: no pruned weight ever leaves 0."""
    data = toy_data(n=160, size=8)
    sched = Schedule(epochs=4, batch_size=16, milestones=())
    jobs = _jobs("resnet20", 2)
    tr = FusedTrainer(jobs, data, sched, progress=False)
    seen = []

    def check(step):
        c = tr.cohorts[0]
        seen.append(_pruned_weights_are_zero(c))

    tr.run(on_step=check)
    assert len(seen) == 40 and all(seen)
    for st, job in zip(tr.states, _jobs("resnet20", 2)):
        params = dict(st.model.named_parameters())
        for k, m in job.masks.items():
            assert torch.equal(params[k].detach() == 0, m == 0)


def test_resume_after_kill_is_bit_identical_with_fusion(tmp_path):
    """A fused run killed after epoch 1 (and another crashed mid-epoch 2), resumed from its checkpoints
    with freshly built (different) models, ends with bit-identical weights, buffers and history."""
    data = toy_data(n=64, size=8)
    ref = FusedTrainer(_jobs("vgg11", 2, tmp_path, "ref"), data, SCHED, progress=False)
    rr = ref.run()
    part = FusedTrainer(_jobs("vgg11", 2, tmp_path, "a"), data, SCHED, progress=False).run(stop_after_epochs=1)
    assert [r.epochs_done for r in part] == [1, 1] and not any(r.finished for r in part)
    res = FusedTrainer(_jobs("vgg11", 2, tmp_path, "a", model_seed=100), data, SCHED, progress=False)
    rq = res.run()
    assert [r.resumed_from_epoch for r in rq] == [1, 1] and all(r.resume_note is None for r in rq)

    class Crash(Exception):
        pass

    def boom(step):
        if step == 6:
            raise Crash

    with pytest.raises(Crash):
        FusedTrainer(_jobs("vgg11", 2, tmp_path, "b"), data, SCHED, progress=False).run(on_step=boom)
    res2 = FusedTrainer(_jobs("vgg11", 2, tmp_path, "b", model_seed=100), data, SCHED, progress=False)
    rq2 = res2.run()
    for resumed, results in ((res, rq), (res2, rq2)):
        for m_ref, m in zip(ref.models, resumed.models):
            sa, sb = m_ref.state_dict(), m.state_dict()
            assert all(torch.equal(sa[k], sb[k]) for k in sa)
        for a, b in zip(rr, results):
            assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
            assert a.test_accuracy == b.test_accuracy


def test_checkpoint_resumes_across_trainers_and_flags_the_change(tmp_path):
    """Same checkpoint files: a fused run resumes unfused (and back); the changed ``fusion`` condition is
    recorded in resume_note, and each resumed epoch equals, step by step up to float order, the other trainer
    resumed from a copy of the same files (:func:`_lockstep`: the first step checks what was restored)."""
    data = toy_data(n=64, size=8)
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()

    def copy_checkpoints():
        for i in range(2):
            shutil.copyfile(tmp_path / f"x{i}.pt", ref_dir / f"x{i}.pt")

    FusedTrainer(_jobs("resnet20", 2, tmp_path, "x"), data, SCHED, progress=False).run(stop_after_epochs=1)
    copy_checkpoints()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = ConcurrentTrainer(_jobs("resnet20", 2, tmp_path, "x", model_seed=50), data, SCHED, progress=False)
        c_ref = FusedTrainer(_jobs("resnet20", 2, ref_dir, "x", model_seed=70), data, SCHED, progress=False)
        _, _, rc = _lockstep(c_ref, c, 4, 2e-5)
    assert all(r.resumed_from_epoch == 1 and r.epochs_done == 2 for r in rc)
    assert all(r.resume_note == {"resumed_under_changed_conditions": {"fusion": ("horizontal", None)}} for r in rc)
    assert any("changed conditions" in str(x.message) for x in w)
    copy_checkpoints()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = FusedTrainer(_jobs("resnet20", 2, tmp_path, "x", model_seed=60), data, SCHED, progress=False)
        f_ref = ConcurrentTrainer(_jobs("resnet20", 2, ref_dir, "x", model_seed=80), data, SCHED, progress=False)
        _, _, rf = _lockstep(f_ref, f, 4, 2e-5)
    assert all(r.finished and r.resumed_from_epoch == 2 for r in rf)
    assert all(r.resume_note == {"resumed_under_changed_conditions": {"fusion": (None, "horizontal")}} for r in rf)


def test_cohorts_split_by_architecture_and_step():
    """Jobs of different architectures, or at different steps, train in separate fused groups."""
    data = toy_data(n=64, size=8)
    jobs = _jobs("resnet20", 2) + _jobs("vgg11", 1)
    jobs[1].start_step = 4  # one epoch ahead (IMP-style rewind start)
    tr = FusedTrainer(jobs, data, SCHED, progress=False)
    assert sorted(c.n for c in tr.cohorts) == [1, 1, 1]
    res = tr.run()
    assert [r.steps for r in res] == [12, 12, 12] and all(r.finished for r in res)


def test_unsupported_modules_raise_value_error():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.ln = nn.LayerNorm(4)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="Odd.*cannot be horizontally fused"):
        architecture_key(Odd())
    with pytest.raises(ValueError, match="module '1' of type .*LayerNorm cannot be horizontally fused"):
        FusedModel([nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm(4))] * 2)
    with pytest.raises(ValueError, match="padding_mode"):
        FusedModel([nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")] * 2)
    with pytest.raises(ValueError, match="momentum=None"):
        FusedModel([nn.BatchNorm2d(4, momentum=None)] * 2)
    with pytest.raises(ValueError, match=r"models\[1\] has another architecture"):
        FusedModel(_models("resnet20", 1, 8) + [get_model("resnet20", 3, 10, 8, width=0.5)])
    with pytest.raises(ValueError, match="fusion must be one of"):
        plan_fusion(_models("resnet20", 1, 8), batch_size=8, device="cpu", image_shape=(3, 8, 8), num_classes=10,
                    fusion="yes")
    with pytest.raises(ValueError, match="cannot be horizontally fused"):
        FusedTrainer([TrainJob(nn.Sequential(nn.Flatten(), nn.Linear(192, 3), nn.Dropout()))], toy_data(), SCHED,
                     progress=False)


def test_choice_on_cpu_is_deterministic_streams():
    m = _models("resnet20", 1, 8)[0]
    for _ in range(2):
        assert choose_fusion(m, batch_size=16, n=4, device="cpu", image_shape=(3, 8, 8), num_classes=10)["trainer"] == "streams"
    assert plan_fusion([m, m], batch_size=16, device="cpu", image_shape=(3, 8, 8), num_classes=10) == ["streams"] * 2
    assert plan_fusion([m, m], batch_size=16, device="cpu", image_shape=(3, 8, 8), num_classes=10, fusion="on") == ["fused"] * 2
    odd = nn.Sequential(nn.Flatten(), nn.Linear(192, 3), nn.Dropout())
    assert choose_fusion(odd, batch_size=16, n=4, device="cpu", image_shape=(3, 8, 8), num_classes=3)["trainer"] == "streams"


def test_choice_times_the_fused_trainer_as_it_would_run(monkeypatch):
    """choose_fusion(fused_kw=...) builds the fused trainer it times with those options (compiled, GEMM
    convolutions) and the streams trainer without them, picks the faster, and caches per options: other
    options are timed again, the same ones are not. The clock is replaced (this runs the CUDA branch's
    logic without a GPU: the trainers are not built)."""
    from sketchbound.dnn.training import fused as FU
    calls = []

    def fake(cls, models, masks, data, batch_size, device, steps, warmup, **kw):
        calls.append((cls.__name__, kw))
        return 1.0 if cls is FU.ConcurrentTrainer else (0.5 if kw.get("conv_gemm") == "strided" else 2.0)
    monkeypatch.setattr(FU, "_time_trainer", fake)
    monkeypatch.setattr(FU, "_CHOICE_CACHE", {})
    m = _models("resnet20", 1, 8)[0]
    args = dict(batch_size=4, n=2, device="cuda", image_shape=(3, 8, 8), num_classes=10, steps=1, warmup=1)
    kw = {"compile_mode": "default", "conv_gemm": "strided"}
    r = choose_fusion(m, fused_kw=kw, **args)
    assert r["trainer"] == "fused" and "compile_mode=default, conv_gemm=strided" in r["reason"]
    assert calls == [("ConcurrentTrainer", {}), ("FusedTrainer", kw)]
    assert choose_fusion(m, **args)["trainer"] == "streams" and len(calls) == 4  # eager: timed again, slower
    choose_fusion(m, fused_kw=dict(kw), **args)
    assert len(calls) == 4  # cached
    assert plan_fusion([m, m], batch_size=4, device="cuda", image_shape=(3, 8, 8), num_classes=10,
                       fused_kw=kw) == ["fused"] * 2 and len(calls) == 4
    # common_kw (the SGD kernel) goes to both trainers and is part of the cache key
    assert plan_fusion([m, m], batch_size=4, device="cuda", image_shape=(3, 8, 8), num_classes=10, fused_kw=kw,
                       common_kw={"sgd_kernel": "triton"}) == ["fused"] * 2
    assert calls[4:] == [("ConcurrentTrainer", {"sgd_kernel": "triton"}), ("FusedTrainer", {"sgd_kernel": "triton", **kw})]


def test_table_runner_times_fusion_with_its_fused_options(tmp_path, monkeypatch):
    """run_configs(fusion="auto", fused_compile=..., conv_gemm=...) asks plan_fusion about the fused trainer
    it would build: the same options reach the decision and the trainer."""
    from sketchbound.dnn.experiments import run as R
    seen = []
    real = R.plan_fusion

    def spy(*a, **kw):
        seen.append(kw.get("fused_kw"))
        return real(*a, **kw)
    monkeypatch.setattr(R, "plan_fusion", spy)
    cfgs = _toy_table_configs(tmp_path / "data")[:2]
    R.run_configs(cfgs, tmp_path / "runs", concurrent=2, progress=False, fusion="auto", conv_gemm="strided")
    assert seen == [{"conv_gemm": "strided"}]


@pytest.mark.parametrize("conv_gemm", ["off", pytest.param("strided", marks=pytest.mark.slow)])  # strided: slow suite
def test_toy_table_fused_equals_unfused(tmp_path, conv_gemm):
    """Four runs of one table (two methods × two seeds, lr 0.01) through run_configs with fusion on and off: the
    same run directories (fusion is not in the hash), results equal up to float order, and result.json
    says which trainer ran; with conv_gemm="strided" too (the GEMM form of the strided convolutions,
    recorded as "conv_gemm" in the fused runs' result.json)."""
    from sketchbound.dnn.experiments.config import RunConfig
    from sketchbound.dnn.experiments.run import run_configs
    from test_runner import _write_cifar10

    root = tmp_path / "data"
    _write_cifar10(root, n=40)
    cfgs = [RunConfig(model="resnet20", dataset="cifar10", method=m, mask="global", density=0.3, seed=s, width=0.25,
                      epochs=2, batch_size=16, lr=0.01, data_root=str(root), train_subset=64, prune_batch_size=8)
            for m in ("random", "magnitude") for s in (0, 1)]
    on = run_configs(cfgs, tmp_path / "on", concurrent=4, progress=False, fusion="on", conv_gemm=conv_gemm)
    off = run_configs(cfgs, tmp_path / "off", concurrent=4, progress=False, fusion="off", conv_gemm=conv_gemm)
    assert [r["run"] for r in on] == [r["run"] for r in off] == [c.run_name() for c in cfgs]
    for a, b in zip(on, off):
        assert a["trainer"] == "fused" and b["trainer"] == "streams"
        assert a.get("conv_gemm", "off") == conv_gemm and "conv_gemm" not in b
        assert a["kept_per_layer"] == b["kept_per_layer"] and a["density"] == b["density"]
        # tolerance: these 8-step toy runs amplify float-order noise to ~1e-3 (the unfused trainer on 1 vs 2
        # threads differs as much); a wrong layout would be off by O(1) from the first epoch
        assert [h["train_loss"] for h in a["history"]] == pytest.approx([h["train_loss"] for h in b["history"]], rel=5e-3)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=2e-3)
        assert abs(a["accuracy"] - b["accuracy"]) <= 100.0 / 40 + 1e-9  # at most one of the 40 test images flips
    auto = run_configs(cfgs, tmp_path / "on", concurrent=4, progress=False)  # finished: nothing retrained
    assert [json.dumps(x, sort_keys=True) for x in auto] == [json.dumps(x, sort_keys=True) for x in on]


def _toy_table_configs(root):
    from sketchbound.dnn.experiments.config import RunConfig
    from test_runner import _write_cifar10
    _write_cifar10(root, n=40)
    return [RunConfig(model="resnet20", dataset="cifar10", method=m, mask="global", density=0.3, seed=s, width=0.25,
                      epochs=2, batch_size=16, lr=0.01, data_root=str(root), train_subset=64, prune_batch_size=8)
            for m in ("random", "magnitude") for s in (0, 1)]


def test_table_runner_hands_fused_compile_to_the_fused_trainer_only(tmp_path, fused_init_spy):
    """run_configs(fused_compile=MODE) builds FusedTrainer(compile_mode=MODE) for the fused runs and records
    ``"fused_compile"`` in their result.json; streams runs get no such argument and no such key; a mode outside
    COMPILE_MODES is a ValueError naming fused_compile before anything trains. The trainer is spied and runs
    eager here (the compiled step itself: the slow tests below and test_compiled_fused_step_...)."""
    from sketchbound.dnn.experiments.run import run_configs
    cfgs = _toy_table_configs(tmp_path / "data")[:2]
    seen = fused_init_spy("compile_mode", build_with=None)
    on = run_configs(cfgs, tmp_path / "on", concurrent=2, progress=False, fusion="on", fused_compile="default")
    assert seen == ["default"] and all(r["trainer"] == "fused" and r["fused_compile"] == "default" for r in on)
    off = run_configs(cfgs, tmp_path / "off", concurrent=2, progress=False, fusion="off", fused_compile="default")
    assert seen == ["default"] and all(r["trainer"] == "streams" and "fused_compile" not in r for r in off)
    with pytest.raises(ValueError, match=r"fused_compile must be None \(eager\) or one of default, "
                                         r"max-autotune-no-cudagraphs, got 'reduce-overhead'"):
        run_configs(cfgs, tmp_path / "bad", concurrent=2, progress=False, fusion="on", fused_compile="reduce-overhead")
    assert not (tmp_path / "bad").exists()


def test_table_runner_hands_conv_gemm_to_the_fused_trainer_only(tmp_path, fused_init_spy):
    """run_configs(conv_gemm=...) builds FusedTrainer(conv_gemm=...) for fused runs only; a value outside
    CONV_GEMM is a ValueError naming conv_gemm before anything trains."""
    from sketchbound.dnn.experiments.run import run_configs
    cfgs = _toy_table_configs(tmp_path / "data")[:2]
    seen = fused_init_spy("conv_gemm")
    on = run_configs(cfgs, tmp_path / "on", concurrent=2, progress=False, fusion="on", conv_gemm="all")
    assert seen == ["all"] and all(r["conv_gemm"] == "all" for r in on)
    with pytest.raises(ValueError, match=r"conv_gemm must be one of off, strided, all, auto, got 'yes'"):
        run_configs(cfgs, tmp_path / "bad", concurrent=2, progress=False, fusion="on", conv_gemm="yes")
    assert not (tmp_path / "bad").exists()


def test_table_cli_offers_the_trainers_choices():
    """The table CLI lists its --conv-gemm, --fusion and --sgd-kernel choices without importing torch (a light
    parser): they are CONV_GEMM, FUSION_CHOICES and SGD_KERNELS, so the two cannot drift apart."""
    from sketchbound.dnn.experiments import table as T
    from sketchbound.dnn.training.fused import CONV_GEMM, FUSION_CHOICES
    from sketchbound.dnn.training.sgd_kernel import SGD_KERNELS
    acts = {a.dest: a for a in T.build_parser()._actions}
    assert tuple(acts["conv_gemm"].choices) == CONV_GEMM and set(acts["fusion"].choices) == set(FUSION_CHOICES)
    assert tuple(acts["sgd_kernel"].choices) == SGD_KERNELS


def test_table_cli_refuses_bad_fused_options_in_one_line(tmp_path, capsys):
    """python -m sketchbound.dnn.table --fused-compile / --conv-gemm: an unknown value, or either with --fusion
    off (nothing fused to change), exits 2 with one line naming the flag, before any run starts."""
    from sketchbound.dnn.experiments import table as T
    from sketchbound.dnn.experiments.config import to_toml
    p = tmp_path / "t.toml"
    p.write_text(to_toml({"table": {"name": "t", "title": "t", "rows": ["density"]},
                          "base": {"dataset": "cifar10", "model": "lenet300100", "epochs": 1,
                                   "data_root": str(tmp_path / "nodata")},
                          "grid": {"density": [0.5], "seed": [0]},
                          "variant": [{"name": "Random", "method": "random", "mask": "global"}]}))
    base = [str(p), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    for extra, want in ((["--fused-compile", "reduce-overhead"], "got 'reduce-overhead'"),
                        (["--fused-compile", "default", "--fusion", "off"], "needs --fusion on or auto"),
                        (["--conv-gemm", "yes"], "invalid choice: 'yes'"),
                        (["--conv-gemm", "strided", "--fusion", "off"], "needs --fusion on or auto"),
                        (["--weight-copies"], "needs --sgd-kernel triton and --fusion on or auto"),
                        (["--sgd-kernel", "triton", "--weight-copies", "--fusion", "off"], "--fusion on or auto"),
                        (["--sgd-kernel", "triton", "--device", "cpu"], "cannot run"),
                        (["--sgd-kernel", "fast"], "invalid choice: 'fast'")):
        with pytest.raises(SystemExit) as e:
            T.main(base + extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and extra[0] in err[0] and want in err[0], err
    assert not (tmp_path / "runs").exists()


def test_table_runner_hands_the_sgd_kernel_to_both_trainers_and_weight_copies_to_the_fused_one(tmp_path, monkeypatch):
    """run_configs(sgd_kernel="triton", weight_copies=True): both trainers are built with sgd_kernel="triton",
    only the fused one with weight_copies=True; result.json records both (only when not the default); a
    weight_copies without the Triton kernel is a ValueError before anything trains. Triton does not run on this
    CPU, so the trainers are spied and then built with the foreach step (the kernel and the copies themselves:
    triton_interp_cases.py)."""
    from sketchbound.dnn.experiments import run as R
    from sketchbound.dnn.training import fused as FU
    cfgs = _toy_table_configs(tmp_path / "data")[:2]
    seen = []

    def spy(cls):
        real = cls.__init__

        def init(self, *args, sgd_kernel="foreach", weight_copies="absent", **kw):
            seen.append((cls.__name__, sgd_kernel, weight_copies))
            real(self, *args, **kw)
        return init
    monkeypatch.setattr(FU.FusedTrainer, "__init__", spy(FU.FusedTrainer))
    monkeypatch.setattr(R.ConcurrentTrainer, "__init__", spy(R.ConcurrentTrainer))
    monkeypatch.setattr(R, "check_sgd_kernel", lambda k, dev, name: k)
    on = R.run_configs(cfgs, tmp_path / "on", concurrent=2, progress=False, fusion="on", sgd_kernel="triton",
                       weight_copies=True)
    assert seen[0] == ("FusedTrainer", "triton", True)  # (FusedTrainer's own __init__ calls the spied base's)
    assert all(r["sgd_kernel"] == "triton" and r["weight_copies"] is True for r in on)
    seen.clear()
    off = R.run_configs(cfgs, tmp_path / "off", concurrent=2, progress=False, fusion="off", sgd_kernel="triton")
    assert seen == [("ConcurrentTrainer", "triton", "absent")]
    assert all(r["sgd_kernel"] == "triton" and "weight_copies" not in r for r in off)
    plain = R.run_configs(cfgs, tmp_path / "plain", concurrent=2, progress=False, fusion="off")
    assert all("sgd_kernel" not in r for r in plain)
    with pytest.raises(ValueError, match="weight_copies=True needs sgd_kernel='triton'"):
        R.run_configs(cfgs, tmp_path / "bad", concurrent=2, progress=False, fusion="on", weight_copies=True)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_toy_table_fused_and_compiled_equals_eager_fused(tmp_path):
    """The toy table of test_toy_table_fused_equals_unfused through run_configs with fusion on, eager and with
    fused_compile="default" (Inductor on the CPU, ≈ 30 s): the same run directories, results equal to the
    tolerance that fused and unfused agree to (float order), masks identical, and result.json says it ran
    compiled."""
    from sketchbound.dnn.experiments.run import run_configs
    cfgs = _toy_table_configs(tmp_path / "data")
    comp = run_configs(cfgs, tmp_path / "c", concurrent=4, progress=False, fusion="on", fused_compile="default")
    eager = run_configs(cfgs, tmp_path / "e", concurrent=4, progress=False, fusion="on")
    assert [r["run"] for r in comp] == [r["run"] for r in eager] == [c.run_name() for c in cfgs]
    for a, b in zip(comp, eager):
        assert a["fused_compile"] == "default" and "fused_compile" not in b
        assert a["kept_per_layer"] == b["kept_per_layer"] and a["density"] == b["density"]
        assert [h["train_loss"] for h in a["history"]] == pytest.approx([h["train_loss"] for h in b["history"]], rel=5e-3)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=2e-3)
        assert abs(a["accuracy"] - b["accuracy"]) <= 100.0 / 40 + 1e-9  # at most one of the 40 test images flips


# --------------------------------------------------------------------------------------------- block-dense convs
# conv_block=k: the fused convolution of N·g groups runs as N·g/k dense groups over the block-diagonal weight
# W_blk[b·k·o + a·o + r, a'·i + s] = δ(a, a')·W[(b·k + a)·o + r, s] (o = C_out/g rows and i = C_in/g columns per
# fused group), built in forward from the stored "cat" weight; k is the largest divisor of N·g that is ≤ the
# requested block.


@pytest.mark.parametrize("name,size,n,k,block,dtype,tol", [
    ("resnet20", 8, 4, 2, 2, torch.float32, 1e-5),  # two dense blocks of two models
    ("resnet20", 8, 4, 4, 4, torch.float32, 1e-5),  # k = N: one dense convolution
    ("resnet20", 8, 4, 3, 2, torch.float32, 1e-5),  # 3 does not divide 4: the largest divisor ≤ 3, 2
    ("vgg11", 16, 3, 2, 1, torch.float32, 1e-5),  # N = 3 prime: k = 2 falls back to 1 (grouped)
    ("vgg11", 16, 3, 8, 3, torch.float32, 1e-5),  # k > N: N
    ("resnet20", 8, 4, 4, 4, torch.float64, 1e-11),  # float64: agreement to ~1e-12, only the order differs
], ids=["resnet20-N4-k2", "resnet20-N4-k4", "resnet20-N4-k3", "vgg11-N3-k2", "vgg11-N3-k8", "resnet20-N4-k4-f64"])
def test_one_fused_step_with_conv_block_equals_separate_steps(name, size, n, k, block, dtype, tol):
    """With conv_block=k the fused network computes y_n = conv(x_n, W_n) for every model (the off-diagonal
    blocks are zeros, which add exact zeros), so after one fused masked SGD step the tied models equal N
    separate steps up to floating-point order (float32 1e-5, float64 1e-11; a leak between models would be
    O(1)); every fused convolution runs the effective block (largest divisor of N ≤ k)."""
    assert set(FusedModel(_models(name, n, size), conv_block=k).conv_blocks().values()) == {block}
    diff, per, sep, _, _ = _one_step(name, size, dtype, [0.1, 0.05, 0.2, 0.15][:n], conv_block=k)
    assert diff < tol, diff
    assert per == pytest.approx(sep, rel=1e-5 if dtype == torch.float32 else 1e-12)


def _fused_pair(conv_kw, n, k, channels_last=False, dtype=torch.float64, seed=0, batch=2, hw=9):
    """N seeded ``Conv2d(**conv_kw)`` fused grouped (block 1) and block-dense (block k), and a fused input."""
    convs = []
    for i in range(n):
        torch.manual_seed(seed + i)
        convs.append(nn.Conv2d(**conv_kw).to(dtype))
    a, b = FusedConv2d(convs), FusedConv2d(convs, block=k)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(batch, n * conv_kw["in_channels"], hw, hw, generator=g, dtype=dtype)
    if channels_last:
        a, b = a.to(memory_format=torch.channels_last), b.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return convs, a, b, x


RESNET_CONVS = {  # ResNet-style convolutions (CIFAR ResNet-20 / ImageNet ResNet)
    "first 3x3 C_in=3": dict(in_channels=3, out_channels=16, kernel_size=3, padding=1, bias=False),
    "3x3 stride 2": dict(in_channels=16, out_channels=32, kernel_size=3, stride=2, padding=1, bias=False),
    "3x3 with bias": dict(in_channels=16, out_channels=16, kernel_size=3, padding=1, bias=True),
    "1x1 shortcut stride 2": dict(in_channels=16, out_channels=32, kernel_size=1, stride=2, bias=False),
    "7x7 stride 2 C_in=3 with bias": dict(in_channels=3, out_channels=8, kernel_size=7, stride=2, padding=3, bias=True),
}


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("spec", list(RESNET_CONVS))
def test_block_dense_conv_forward_equals_grouped(spec, k, channels_last):
    """FusedConv2d(block=k) on random float32 input equals block 1 (one grouped convolution) and each model's
    own ``conv(x_n, W_n)`` to float tolerance (N = 4); the block-diagonal weight is
    ``[N·C_out, k·C_in, kh, kw]``, holds each stored W_n on its diagonal block and exact zeros elsewhere,
    and keeps the stored weight's memory format (contiguous or channels_last)."""
    n = 4
    convs, a, b, x = _fused_pair(RESNET_CONVS[spec], n, k, channels_last, torch.float32)
    ya, yb = a(x), b(x)
    assert b.block == k and ya.shape == yb.shape
    torch.testing.assert_close(yb, ya, rtol=1e-5, atol=1e-5)
    c_in, c_out = convs[0].in_channels, convs[0].out_channels
    for i, m in enumerate(convs):
        torch.testing.assert_close(yb[:, i * c_out:(i + 1) * c_out], m(x[:, i * c_in:(i + 1) * c_in]), rtol=1e-5, atol=1e-5)
    w = b.block_weight().detach()
    assert w.shape == (n * c_out, k * c_in) + tuple(convs[0].kernel_size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert w.is_contiguous(memory_format=fmt)
    for i in range(n):
        blk = w[i * c_out:(i + 1) * c_out].view(c_out, k, c_in, *w.shape[2:])
        for a_ in range(k):
            expect = convs[i].weight.detach() if a_ == i % k else torch.zeros_like(convs[i].weight)
            assert torch.equal(blk[:, a_], expect), (i, a_)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("spec", ["first 3x3 C_in=3", "3x3 stride 2", "3x3 with bias"])
def test_block_dense_conv_weight_gradient_equals_grouped(spec, k):
    """For L = Σ y ⊙ r (r random), ∂L/∂W (stored weight), ∂L/∂b and ∂L/∂x with block k equal block 1 in float64
    to 1e-12: the off-diagonal entries of the block-diagonal weight do receive gradient (x of another model
    times this model's output gradient, checked non-zero here), but they are products with a constant mask,
    not parameters, so none of it reaches the stored weight."""
    n = 4
    _, a, b, x = _fused_pair(RESNET_CONVS[spec], n, k)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    r = torch.randn(a(x).shape, generator=torch.Generator().manual_seed(7), dtype=x.dtype)
    (a(xa) * r).sum().backward()
    wb = b.block_weight()
    wb.retain_grad()
    (F.conv2d(xb, wb, b.bias, b.stride, b.padding, b.dilation, b.groups // b.block) * r).sum().backward()
    off = wb.grad * (wb.detach() == 0)  # the zero entries (off-diagonal blocks, plus any exact zero weight)
    assert off.abs().max() > 1e-3
    torch.testing.assert_close(b.weight.grad, a.weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-12, atol=1e-12)
    if a.bias is not None:
        torch.testing.assert_close(b.bias.grad, a.bias.grad, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=hst.integers(1, 5), g=hst.sampled_from([1, 2, 4]), ci=hst.integers(1, 3), co=hst.integers(1, 3),
       ks=hst.sampled_from([1, 3]), stride=hst.sampled_from([1, 2]), padding=hst.sampled_from([0, 1]),
       bias=hst.booleans(), k=hst.integers(1, 9), channels_last=hst.booleans(), seed=hst.integers(0, 2 ** 16))
def test_block_dense_conv_equals_grouped_for_any_shape(n, g, ci, co, ks, stride, padding, bias, k, channels_last, seed):
    """Any N, grouped originals (g > 1: a dense block holds k consecutive fused groups, the fused groups being
    model-major), any k (also not dividing N·g): the block used is the largest divisor of N·g that is ≤ k, and
    output and the gradients of the stored weight, bias and input equal block 1 in float64 to 1e-12."""
    kw = dict(in_channels=g * ci, out_channels=g * co, kernel_size=ks, stride=stride, padding=padding, groups=g, bias=bias)
    _, a, b, x = _fused_pair(kw, n, k, channels_last, seed=seed, hw=5)
    assert b.block == max(d for d in range(1, k + 1) if (n * g) % d == 0)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = a(xa), b(xb)
    torch.testing.assert_close(yb, ya, rtol=1e-12, atol=1e-12)
    r = torch.randn(ya.shape, generator=torch.Generator().manual_seed(seed), dtype=ya.dtype)
    (ya * r).sum().backward()
    (yb * r).sum().backward()
    torch.testing.assert_close(b.weight.grad, a.weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-12, atol=1e-12)
    if bias:
        torch.testing.assert_close(b.bias.grad, a.bias.grad, rtol=1e-12, atol=1e-12)


def test_effective_block_and_stored_tensors_unchanged():
    """The effective block is the largest divisor of N·g that is ≤ k; the block-dense model stores exactly the
    tensors of the grouped one (same names, shapes, state_dict; the eye mask is a non-persistent helper)."""
    table = {(8, 3): 2, (6, 4): 3, (3, 2): 1, (4, 100): 4, (1, 5): 1, (12, 12): 12, (7, 1): 1}
    assert {key: effective_conv_block(*key) for key in table} == table
    models = _models("resnet20", 6, 8)
    a, b = FusedModel(models), FusedModel(models, conv_block=4)
    assert set(b.conv_blocks().values()) == {3} and set(a.conv_blocks().values()) == {1}
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[key], sb[key]) for key in sa)
    assert b.tensors().keys() == a.tensors().keys() == b.layouts.keys()


def test_fused_trainer_with_conv_block_matches_concurrent_trainer_and_keeps_masks_exact():
    """FusedTrainer(conv_block=2) on 4 jobs (two dense blocks of two models) for 3 epochs with augmentation:
    pruned weights exactly 0 after every step (the masked step acts on the stored weight, untouched by the
    block-diagonal form), and parameters equal ConcurrentTrainer's per model up to float order."""
    data = toy_data(n=64, size=8)
    a = ConcurrentTrainer(_jobs("resnet20", 4), data, SCHED, progress=False)
    a.run()
    b = FusedTrainer(_jobs("resnet20", 4), data, SCHED, progress=False, conv_block=2)
    assert b.conv_block == 2 and [c.n for c in b.cohorts] == [4]
    assert set(b.cohorts[0].fused.conv_blocks().values()) == {2}
    seen = []

    def check(step):
        c = b.cohorts[0]
        seen.append(_pruned_weights_are_zero(c))

    rb = b.run(on_step=check)
    assert len(seen) == 12 and all(seen)
    assert all(r.finished and r.steps == 12 for r in rb)
    for state, job in zip(b.states, _jobs("resnet20", 4)):
        params = dict(state.model.named_parameters())
        for key, m in job.masks.items():
            assert torch.equal(params[key].detach() == 0, m == 0), key
    for ma, mb in zip(a.models, b.models):
        assert _max_diff(ma, mb) < 2e-3


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "2"])
def test_conv_block_rejects_non_positive_ints(bad):
    """conv_block must be a positive int (not a bool): ValueError naming conv_block and the value."""
    msg = r"conv_block must be a positive int.*got " + re.escape(repr(bad))
    with pytest.raises(ValueError, match=msg):
        FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False, conv_block=bad)
    with pytest.raises(ValueError, match=msg):
        FusedModel(_models("resnet20", 2, 8), conv_block=bad)
    with pytest.raises(ValueError, match=msg):
        FusedConv2d([nn.Conv2d(3, 4, 3)] * 2, block=bad)


def test_block_dense_conv_does_not_isolate_non_finite_models():
    """The documented price of block > 1: an inf in model 0's input reaches model 1 of its block as
    0·inf = NaN, while the grouped convolution (block 1) and model 2 (another block) stay finite."""
    n, c_out = 4, 16
    _, a, b, x = _fused_pair(RESNET_CONVS["3x3 with bias"], n, 2, dtype=torch.float32)
    x[:, 0, 4, 4] = float("inf")
    ya, yb = a(x), b(x)
    assert torch.isfinite(ya[:, c_out:]).all()
    assert torch.isnan(yb[:, c_out:2 * c_out]).any() and torch.isfinite(yb[:, 2 * c_out:]).all()


@pytest.mark.slow
@pytest.mark.parametrize("conv_gemm", ["off", "strided"])
def test_compiled_fused_step_matches_eager_and_keeps_masks_exact(conv_gemm):
    """FusedTrainer(compile_mode="default"): the fused forward and backward through torch.compile
    (Inductor; ≈ 20 s to compile on 2 CPU cores). After the first step every model's parameters and
    buffers equal the eager fused trainer's up to floating-point order (|Δ| < 1e-4), and pruned weights
    stay exactly 0 after every one of the 12 steps (the masked SGD step is the same code either way).
    Only the first step is compared: Inductor reorders batch norm's reductions, its gradients differ
    from eager by ~1e-5 relative (measured), and on this toy (width 0.25, 8×8 images, batch 16, lr 0.1)
    training amplifies that: one model's weights differ by 1.7e-3 after 3 steps and a running
    variance by 0.25 after 12, while the streams trainer, whose kernels are eager's, stays within 1e-4.
    With conv_gemm="strided" the compiled step runs the strided convolutions as batched GEMMs and is held
    to the same tolerance against the eager grouped one."""
    data = toy_data(n=64, size=8)
    snaps = {}

    def snap(tr, key):
        return lambda step: snaps.setdefault(key, []).append(
            [{k: v.detach().double().clone() for k, v in m.state_dict().items()} for m in tr.models])
    a = FusedTrainer(_jobs("resnet20", 3), data, SCHED, progress=False)
    a.run(on_step=snap(a, "eager"))
    b = FusedTrainer(_jobs("resnet20", 3), data, SCHED, progress=False, compile_mode="default", conv_gemm=conv_gemm)
    assert b.compile_mode == "default" and b.cohorts[0].forward is not b.cohorts[0].fused
    seen = []

    def check(step):
        snap(b, "compiled")(step)
        c = b.cohorts[0]
        seen.append(_pruned_weights_are_zero(c))

    rb = b.run(on_step=check)
    assert len(seen) == 12 and all(seen) and all(r.finished for r in rb)
    for x, y in zip(snaps["eager"][0], snaps["compiled"][0]):
        assert max((x[k] - y[k]).abs().max().item() for k in x) < 1e-4
    assert all(torch.isfinite(v).all() for m in snaps["compiled"][-1] for v in m.values())


@pytest.mark.parametrize("bad", ["reduce-overhead", "max-autotune", "", 1, True])
def test_compile_mode_accepts_only_modes_without_inductor_graphs(bad):
    """compile_mode is None or one of COMPILE_MODES: Inductor's own CUDA graphs (reduce-overhead,
    max-autotune) would nest inside the trainer's capture, so they are refused with a ValueError naming
    compile_mode, the value and the accepted modes; nothing is compiled before the check."""
    from sketchbound.dnn.training.fused import COMPILE_MODES
    assert COMPILE_MODES == ("default", "max-autotune-no-cudagraphs")
    with pytest.raises(ValueError, match=r"compile_mode must be None \(eager\) or one of default, "
                                         r"max-autotune-no-cudagraphs, got " + re.escape(repr(bad))):
        FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False, compile_mode=bad)
    tr = FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False)
    assert tr.compile_mode is None and tr.cohorts[0].forward is tr.cohorts[0].fused


# conv_gemm: the fused grouped convolution as one batched GEMM over unfolded patches (grouped_conv2d_gemm)


@settings(max_examples=60, deadline=None)
@given(g=hst.integers(1, 5), ci=hst.integers(1, 4), co=hst.integers(1, 4), kh=hst.sampled_from([1, 2, 3, 5]),
       kw=hst.sampled_from([1, 3]), stride=hst.sampled_from([1, 2, 3, (2, 1)]), padding=hst.sampled_from([0, 1, 2, (1, 0)]),
       bias=hst.booleans(), channels_last=hst.booleans(), hw=hst.integers(5, 9), seed=hst.integers(0, 2 ** 16))
def test_gemm_conv_equals_conv2d_values_and_gradients(g, ci, co, kh, kw, stride, padding, bias, channels_last, hw, seed):
    """grouped_conv2d_gemm(x, W, b, stride, padding, groups) equals F.conv2d with the same arguments in
    float64 to 1e-12 (both sum the same products; only the order differs), and so do the gradients of x, W
    and b under a random cotangent: any groups, rectangular kernels, strides and paddings, NCHW or
    channels_last input and weight; the output is channels_last."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, g * ci, hw, hw + 1, generator=gen, dtype=torch.float64)
    w = torch.randn(g * co, ci, kh, kw, generator=gen, dtype=torch.float64)
    b = torch.randn(g * co, generator=gen, dtype=torch.float64) if bias else None
    if channels_last:
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    ts = [t.clone().requires_grad_() for t in (x, w) + ((b,) if bias else ())]
    us = [t.clone().requires_grad_() for t in (x, w) + ((b,) if bias else ())]
    ya = F.conv2d(ts[0], ts[1], ts[2] if bias else None, stride, padding, 1, g)
    yb = grouped_conv2d_gemm(us[0], us[1], us[2] if bias else None, stride, padding, g)
    assert yb.shape == ya.shape and yb.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(yb, ya, rtol=1e-12, atol=1e-12)
    r = torch.randn(ya.shape, generator=gen, dtype=ya.dtype)
    (ya * r).sum().backward()
    (yb * r).sum().backward()
    for t, u in zip(ts, us):
        torch.testing.assert_close(u.grad, t.grad, rtol=1e-12, atol=1e-12)


def test_gemm_conv_rejects_shapes_that_do_not_fit_the_groups():
    """Input channels ≠ groups · C_in/group (or output rows not divisible by groups): ValueError naming both."""
    with pytest.raises(ValueError, match=r"input channels 6 and weight shape \(8, 4, 3, 3\) do not fit groups=2"):
        grouped_conv2d_gemm(torch.zeros(1, 6, 5, 5), torch.zeros(8, 4, 3, 3), groups=2)


@pytest.mark.parametrize("name,size,gemm,dtype,tol", [
    ("resnet20", 8, "strided", torch.float64, 1e-11),
    ("resnet20", 8, "all", torch.float64, 1e-11),
    ("resnet20", 8, "all", torch.float32, 1e-5),
    ("vgg11", 16, "all", torch.float32, 1e-5),
])
def test_one_fused_step_with_conv_gemm_equals_separate_steps(name, size, gemm, dtype, tol):
    """With conv_gemm the fused network still computes y_n = conv(x_n, W_n) per model, so one fused masked SGD
    step equals N separate ones up to floating-point order (float64 1e-11: a group mix-up would be O(1)).
    "strided" puts exactly the convolutions with a stride > 1 in the GEMM form (ResNet-20: two 3×3 and two
    1×1 shortcut convolutions), "all" every one."""
    fm = FusedModel(_models(name, 3, size), conv_gemm=gemm)
    convs = {p: m for p, m in fm.net.named_modules() if isinstance(m, FusedConv2d)}
    expect = [p for p, m in convs.items() if gemm == "all" or max(m.stride) > 1]
    assert fm.gemm_convs() == expect and len(expect) == (4 if gemm == "strided" else len(convs))
    diff, per, sep, _, _ = _one_step(name, size, dtype, [0.1, 0.05, 0.2], conv_gemm=gemm)
    assert diff < tol, diff
    assert per == pytest.approx(sep, rel=1e-5 if dtype == torch.float32 else 1e-12)


def test_fused_trainer_with_conv_gemm_matches_concurrent_trainer_and_keeps_masks_exact():
    """FusedTrainer(conv_gemm="strided") on 4 jobs with augmentation: after its first step every model equals
    ConcurrentTrainer's to 1e-5 (the trainer's data, tying and masked step around the GEMM form), and over
    3 epochs (12 steps) pruned weights stay exactly 0 after every step and everything stays finite.
    Only the first step is compared: this toy is chaotic (measured: a 1e-7 relative perturbation of the
    initial weights moves one model of ConcurrentTrainer itself by 0.59 after 12 steps), so any change of
    floating-point order, as this form's, grows to that size; the exactness of the form is checked in
    float64 above."""
    data = toy_data(n=64, size=8)
    a = ConcurrentTrainer(_jobs("resnet20", 4), data, SCHED, progress=False)
    a.run(max_steps=1)
    b = FusedTrainer(_jobs("resnet20", 4), data, SCHED, progress=False, conv_gemm="strided")
    assert b.conv_gemm == "strided" and len(b.cohorts[0].fused.gemm_convs()) == 4
    seen = []
    b.run(max_steps=1, on_step=lambda step: seen.append(_pruned_weights_are_zero(b.cohorts[0])))
    assert max(_max_diff(ma, mb) for ma, mb in zip(a.models, b.models)) < 1e-5
    rb = b.run(on_step=lambda step: seen.append(_pruned_weights_are_zero(b.cohorts[0])))
    assert len(seen) == 12 and all(seen) and all(r.finished and r.steps == 12 for r in rb)
    assert all(torch.isfinite(v).all() for m in b.models for v in m.state_dict().values())


def test_choose_conv_gemm_picks_the_faster_form_per_convolution_without_side_effects():
    """choose_conv_gemm times both forms of every fused convolution at the shape it sees in the network
    (captured from one eval-mode forward of the fused batch) and picks GEMM where it is faster by more than
    the margin; the forward changes no running statistic. With a clock that calls stride-2 GEMM forms 2×
    faster and the others 2× slower, exactly ResNet-20's four strided convolutions are chosen, and the
    shapes handed to the clock are the layers' real inputs ([B, N·C, H, W] at 8, 4 and 2 pixels)."""
    fm = FusedModel(_models("resnet20", 3, 8), conv_gemm="auto")
    assert fm.gemm_convs() == []  # undecided until measured
    before = {k: v.clone() for k, v in fm.state_dict().items()}
    seen = []

    def clock(f, x, w):
        stride2 = x.shape[-1] // f(x, w).shape[-1] == 2
        seen.append(tuple(x.shape))
        is_gemm = "grouped_conv2d_gemm" in f.__code__.co_names
        return (0.5 if stride2 else 2.0) if is_gemm else 1.0
    choice = choose_conv_gemm(fm, (16, 9, 8, 8), amp=False, channels_last=False, timer=clock)
    strided = [p for p, m in fm.net.named_modules() if isinstance(m, FusedConv2d) and max(m.stride) > 1]
    assert fm.gemm_convs() == strided and len(strided) == 4
    assert {p for p, c in choice.items() if c["gemm"]} == set(strided)
    assert {sh[-1] for sh in seen} == {8, 4, 2} and all(sh[0] == 16 for sh in seen)
    after = fm.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and fm.training


@pytest.mark.slow
def test_choose_conv_gemm_compiles_both_forms_of_every_shape():
    """With compile_mode, choose_conv_gemm times both forms through torch.compile: here on the CPU (Inductor,
    10 s with a warm Inductor cache, longer on a fresh machine), with a clock that runs each compiled form forward + backward once and checks it
    against F.conv2d, for each of ResNet-20's 21 convolutions (a clock bypasses the cache), of 8 distinct
    shapes: at least 16 graphs of two code objects, past dynamo's default limit of 8 recompilations."""
    fm = FusedModel(_models("resnet20", 2, 8), conv_gemm="auto")
    ran = []

    def clock(f, x, w):
        y = f(x, w)
        y.sum().backward()
        m = next(c for c in fm.net.modules() if isinstance(c, FusedConv2d) and tuple(c.weight.shape) == tuple(w.shape)
                 and (x.shape[-1] + 2 * c.padding[0] - w.shape[-1]) // c.stride[0] + 1 == y.shape[-1])
        torch.testing.assert_close(y, F.conv2d(x, w, None, m.stride, m.padding, 1, m.groups), rtol=1e-4, atol=1e-4)
        ran.append(tuple(x.shape))
        return 1.0
    from torch._dynamo.utils import counters
    graphs = counters["stats"]["unique_graphs"]
    choice = choose_conv_gemm(fm, (4, 6, 8, 8), compile_mode="default", amp=False, channels_last=True, timer=clock)
    assert len(ran) == 2 * len(choice) == 2 * 21 and not any(c["gemm"] for c in choice.values())
    assert counters["stats"]["unique_graphs"] - graphs >= 2 * 8  # compiled, not fallen back to eager


def test_gemm_form_is_never_used_for_dilated_convolutions():
    """grouped_conv2d_gemm computes dilation 1 only: a dilated convolution keeps cuDNN's form under "auto"
    (with the reason, and is not even timed), and asking for the GEMM form there ("all") is a ValueError."""
    def net(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
    fm = FusedModel([net(0), net(1)], conv_gemm="auto")
    timed = []
    choice = choose_conv_gemm(fm, (2, 6, 8, 8), amp=False, channels_last=False,
                              timer=lambda f, x, w: timed.append(x.shape) or (0.1 if "grouped_conv2d_gemm" in f.__code__.co_names else 1.0))
    assert not choice["0"]["gemm"] and "dilation 1" in choice["0"]["reason"] and choice["2"]["gemm"]
    assert fm.gemm_convs() == ["2"] and len(timed) == 2  # only the undilated convolution, both forms
    with pytest.raises(ValueError, match=r"gemm=True needs block 1, numeric padding and dilation 1"):
        FusedModel([net(0), net(1)], conv_gemm="all")


def test_conv_gemm_auto_on_cpu_times_nothing_and_keeps_cudnn():
    """FusedTrainer(conv_gemm="auto") off the GPU: nothing is timed (runs stay deterministic), every
    convolution keeps cuDNN's form, and the cohort records why."""
    tr = FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False, conv_gemm="auto")
    c = tr.cohorts[0]
    assert c.fused.gemm_convs() == [] and c.gemm_choice
    assert all(not v["gemm"] and "not on CUDA" in v["reason"] for v in c.gemm_choice.values())


@pytest.mark.parametrize("bad", ["on", "", None, True, 1])
def test_conv_gemm_accepts_only_its_choices(bad):
    """conv_gemm is one of off, strided, all, auto: anything else is a ValueError naming conv_gemm and the value,
    from the trainer and the fused model; with conv_block > 1 it is refused too (another form)."""
    msg = r"conv_gemm must be one of off, strided, all, auto, got " + re.escape(repr(bad))
    with pytest.raises(ValueError, match=msg):
        FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False, conv_gemm=bad)
    with pytest.raises(ValueError, match=msg):
        FusedModel(_models("resnet20", 2, 8), conv_gemm=bad)
    with pytest.raises(ValueError, match=r"conv_gemm='all' needs conv_block=1.*got conv_block=2"):
        FusedModel(_models("resnet20", 2, 8), conv_gemm="all", conv_block=2)
