"""The masked SGD step as one Triton kernel (sketchbound.dnn.training.sgd_kernel), run on the CPU by
Triton's interpreter: the same kernels, executed with NumPy.

Not collected by the default run: ``test_triton_kernels.py`` runs this file in a subprocess with
``TRITON_INTERPRET=1``, which Triton reads when it is imported (its library functions, ``tl.zeros`` among
them, are interpreted only if it was set then), so it cannot be switched on inside the main test process.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sketchbound.dnn.training.triton_support as ts

if ts._triton()[0] is None or not ts.interpret():
    raise RuntimeError("run this file with Triton importable and TRITON_INTERPRET=1 (test_triton_kernels.py does)")


# ---- the masked SGD step as one Triton kernel per parameter (sketchbound.dnn.training.sgd_kernel)
def _sgd_state(shapes, masked, cl, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    ps, gs, bs, ms = [], [], [], []
    for shape, mk in zip(shapes, masked):
        t = [torch.randn(shape, generator=g, dtype=dtype) for _ in range(3)]
        m = (torch.rand(shape, generator=g) < 0.4).to(dtype) if mk else None
        if cl and len(shape) == 4:
            t = [x.contiguous(memory_format=torch.channels_last) for x in t]
            m = None if m is None else m.contiguous(memory_format=torch.channels_last)
        if m is not None:
            t[0].mul_(m)  # a masked weight starts at 0, as the trainers leave it
        ps.append(t[0]), gs.append(t[1]), bs.append(t[2]), ms.append(m)
    return ps, gs, bs, ms


@settings(max_examples=12, deadline=None)
@given(n_el=st.sampled_from([1, 7, 2047, 2048, 5000]), masked=st.lists(st.booleans(), min_size=3, max_size=3),
       wd=st.sampled_from([0.0, 5e-4]), mom=st.sampled_from([0.0, 0.9]), cl=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 99))
def test_triton_sgd_equals_the_foreach_step(n_el, masked, wd, mom, cl, dtype, seed):
    """For every parameter ``w' = (w − lr (μ b + g ⊙ m + λ w)) ⊙ m`` and ``b' = μ b + g ⊙ m + λ w`` (no momentum:
    ``w' = (w − lr (g ⊙ m + λ w)) ⊙ m``): the kernel equals the seven foreach passes (float64 to 1e-12, float32 to
    2 ulp-scale), for sizes below, at and across its 2048-element block, 4-D channels_last and contiguous
    parameters, masked or not; a masked weight is exactly 0; the gradients are left as they were."""
    from sketchbound.dnn.training import masked_sgd_step
    shapes = [(n_el,), (3, 2, 3, 3) if n_el > 1 else (1, 1, 1, 1), (max(1, n_el // 9), 1, 3, 3)]
    a = _sgd_state(shapes, masked, cl, dtype, seed)
    b = [[t if t is None else t.clone() for t in ts] for ts in a]
    grads0 = [x.clone() for x in a[1]]
    lr = torch.tensor(0.1)
    mp = [p for p, m in zip(b[0], b[3]) if m is not None]
    masked_sgd_step(b[0], b[1], b[2], lr, mom, wd, mp, [g for g, m in zip(b[1], b[3]) if m is not None],
                    [m for m in b[3] if m is not None])
    masked_sgd_step(a[0], a[1], a[2], lr, mom, wd, [p for p, m in zip(a[0], a[3]) if m is not None],
                    [g for g, m in zip(a[1], a[3]) if m is not None], [m for m in a[3] if m is not None],
                    kernel="triton")
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    for p, q, bp, bq, g0, g, m in zip(a[0], b[0], a[2], b[2], grads0, a[1], a[3]):
        assert p.stride() == q.stride()
        torch.testing.assert_close(p, q, rtol=tol, atol=tol)
        if mom:
            torch.testing.assert_close(bp, bq, rtol=tol, atol=tol)
        assert torch.equal(g, g0)
        if m is not None:
            assert torch.equal(p[m == 0], torch.zeros_like(p[m == 0]))


def test_triton_sgd_refuses_mismatched_layouts_and_a_list_of_rates():
    """A momentum buffer in another memory layout than its parameter, or per-parameter rates, are refused
    with a ValueError before anything is updated."""
    from sketchbound.dnn.training.sgd_kernel import masked_sgd_triton
    p = torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last)
    keep = p.clone()
    with pytest.raises(ValueError, match="strides"):
        masked_sgd_triton([p], [torch.randn_like(p)], [torch.zeros(4, 3, 3, 3)], torch.tensor(0.1), 0.9, 0.0)
    with pytest.raises(ValueError, match="0-d tensor"):
        masked_sgd_triton([p], [torch.randn_like(p)], [torch.zeros_like(p)], [torch.tensor(0.1)], 0.9, 0.0)
    assert torch.equal(p, keep)


@pytest.mark.slow
@pytest.mark.parametrize("fused", [False, True], ids=["streams", "fused"])
def test_trainers_with_the_triton_sgd_kernel_match_foreach_and_keep_masks_exact(fused):
    """Three epochs (12 steps, a learning-rate drop) of two masked ResNet-20s: sgd_kernel='triton' gives the
    foreach trainer's parameters up to float order; pruned weights are exactly 0 after every step."""
    from sketchbound.dnn.training import ConcurrentTrainer
    from sketchbound.dnn.training.fused import FusedTrainer
    from test_fused import SCHED, _jobs, _max_diff, _pruned_weights_are_zero
    from test_train import toy_data
    cls = FusedTrainer if fused else ConcurrentTrainer
    data = toy_data(n=64, size=8)
    ref = cls(_jobs("resnet20", 2), data, SCHED, progress=False)
    ref.run()
    tr = cls(_jobs("resnet20", 2), data, SCHED, progress=False, sgd_kernel="triton")
    seen = []
    tr.run(on_step=lambda s: seen.append(all(_pruned_weights_are_zero(u) for u in tr._units())))
    assert len(seen) == 12 and all(seen)
    for ma, mb in zip(ref.models, tr.models):
        assert _max_diff(ma, mb) < 1e-4


@pytest.mark.slow
def test_resume_after_kill_is_bit_identical_with_the_triton_sgd_kernel(tmp_path):
    """A fused run with the Triton SGD kernel killed after epoch 1 and resumed from its checkpoints with
    freshly built models ends with bit-identical weights and buffers."""
    from sketchbound.dnn.training.fused import FusedTrainer
    from test_fused import SCHED, _jobs
    from test_train import toy_data
    data = toy_data(n=64, size=8)
    ref = FusedTrainer(_jobs("resnet20", 2, tmp_path, "ref"), data, SCHED, progress=False, sgd_kernel="triton")
    ref.run()
    FusedTrainer(_jobs("resnet20", 2, tmp_path, "a"), data, SCHED, progress=False,
                 sgd_kernel="triton").run(stop_after_epochs=1)
    res = FusedTrainer(_jobs("resnet20", 2, tmp_path, "a", model_seed=100), data, SCHED, progress=False,
                       sgd_kernel="triton")
    assert [r.resumed_from_epoch for r in res.run()] == [1, 1]
    for m_ref, m in zip(ref.models, res.models):
        sa, sb = m_ref.state_dict(), m.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_triton_sgd_writes_the_weight_copy_and_takes_its_bfloat16_gradient():
    """With ``copies``, the kernel also writes ``c = bf16(w')`` (round to nearest even, bit-equal to torch's
    ``.to(torch.bfloat16)`` of the updated float32 weight), and a bfloat16 gradient gives the same update as its
    exact float32 value: ``w'`` bit-equal to the step without a copy given ``g.float()``."""
    from sketchbound.dnn.training.sgd_kernel import masked_sgd_triton
    g0 = torch.Generator().manual_seed(3)
    shape = (8, 5, 3, 3)
    w = torch.randn(shape, generator=g0).contiguous(memory_format=torch.channels_last)
    m = (torch.rand(shape, generator=g0) < 0.5).float().contiguous(memory_format=torch.channels_last)
    w.mul_(m)
    g = torch.randn(shape, generator=g0).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    b = torch.randn(shape, generator=g0).contiguous(memory_format=torch.channels_last)
    c = torch.empty_like(w, dtype=torch.bfloat16)
    w2, b2 = w.clone(), b.clone()
    lr = torch.tensor(0.05)
    masked_sgd_triton([w], [g], [b], lr, 0.9, 5e-4, [m], [c])
    masked_sgd_triton([w2], [g.float()], [b2], lr, 0.9, 5e-4, [m])
    assert torch.equal(w, w2) and torch.equal(b, b2)
    assert c.stride() == w.stride() and torch.equal(c, w.to(torch.bfloat16))
    assert torch.equal(c[m == 0].float(), torch.zeros_like(c[m == 0].float()))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet20"])  # convolutions and a linear; VGG-11 takes 20 s interpreted
def test_fused_weight_copies_train_bit_identically(name):
    """FusedTrainer(weight_copies=True): the convolutions and linears read copies of their weights that the
    kernel writes (here, without autocast, in float32): 12 steps give bit-identical parameters and losses to the
    same trainer without copies, and the copies equal the weights."""
    from sketchbound.dnn.training.fused import FusedConv2d, FusedLinear, FusedTrainer
    from test_fused import SCHED, _jobs
    from test_train import toy_data
    data = toy_data(n=64, size=8)
    a = FusedTrainer(_jobs(name, 2), data, SCHED, progress=False, sgd_kernel="triton")
    ra = a.run()
    b = FusedTrainer(_jobs(name, 2), data, SCHED, progress=False, sgd_kernel="triton", weight_copies=True)
    rb = b.run()
    c = b.cohorts[0]
    leaves = [m for m in c.fused.modules() if isinstance(m, (FusedConv2d, FusedLinear))]
    assert leaves and all(m.weight_copy is not None and torch.equal(m.weight_copy, m.weight) for m in leaves)
    assert all(m.weight.grad is None for m in leaves)  # the gradient went to the copies
    for ma, mb in zip(a.models, b.models):
        sa, sb = ma.state_dict(), mb.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [[h["train_loss"] for h in r.history] for r in ra] == [[h["train_loss"] for h in r.history] for r in rb]


def test_triton_sgd_weight_copy_rounds_as_torch_at_ties_and_special_values():
    """The bfloat16 copy of ``w`` (here unchanged: lr 0) equals torch's ``.to(torch.bfloat16)`` bit for bit at
    ties (round half to even both ways), at the largest finite float32 (rounds to inf), at ±inf, ±0 and
    subnormals, and is NaN where ``w`` is."""
    from sketchbound.dnn.training.sgd_kernel import masked_sgd_triton
    one = 1.0
    ties = [one + 2 ** -8, one + 3 * 2 ** -8, -(one + 2 ** -8), 2.0 + 2 ** -7, 3.0 - 2 ** -8]
    special = [0.0, -0.0, float("inf"), float("-inf"), 3.4028234663852886e38, 1e-40, -1e-45, 1.17549435e-38]
    vals = torch.tensor(ties + special + [float("nan")] + torch.randn(200, generator=torch.Generator().manual_seed(0)).tolist())
    w = vals.clone()
    c = torch.empty_like(w, dtype=torch.bfloat16)
    masked_sgd_triton([w], [torch.zeros_like(w)], [torch.zeros_like(w)], torch.tensor(0.0), 0.0, 0.0, None, [c])
    want = vals.to(torch.bfloat16)
    nan = torch.isnan(vals)
    assert torch.isnan(c[nan].float()).all()
    assert torch.equal(c[~nan].view(torch.int16), want[~nan].view(torch.int16))


@pytest.mark.slow
def test_compiled_fused_step_with_weight_copies_equals_it_without():
    """Under torch.compile (Inductor on the CPU) the weight copies change nothing either: one epoch (4 steps)
    with and without them gives bit-identical parameters (the copies' gradients, of size-1 dimensions'
    arbitrary strides under compilation, are accepted by the kernel)."""
    from sketchbound.dnn.training import Schedule
    from sketchbound.dnn.training.fused import FusedTrainer
    from test_fused import _jobs
    from test_train import toy_data
    data = toy_data(n=64, size=8)
    sched = Schedule(epochs=1, batch_size=16, milestones=())
    runs = []
    for copies in (False, True):
        tr = FusedTrainer(_jobs("resnet20", 2), data, sched, progress=False, sgd_kernel="triton",
                          weight_copies=copies, compile_mode="default")
        tr.run()
        runs.append(tr.models)
    for ma, mb in zip(*runs):
        sa, sb = ma.state_dict(), mb.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_gpu_checks_sgd_kernel_reports_agreement(dnn_script):
    """gpu_checks.py's sgd-kernel check, run by the interpreter on small shapes: the Triton step agrees with the
    foreach one to float32 rounding, masked weights are 0, the copy is torch's bfloat16 and a rerun repeats."""
    mod = dnn_script("gpu_checks")
    cases = mod.sgd_kernel_check(torch.device("cpu"), shapes=[(8, 4, 3, 3), (2049,)])
    assert [c["shape"] for c in cases] == [[8, 4, 3, 3], [2049]] and [c["masked"] for c in cases] == [True, False]
    for c in cases:
        assert c["weight_rel_diff"] < 1e-6 and c["momentum_rel_diff"] < 1e-6
        assert c["masked_zero"] and c["copy_is_torch_bf16"] and c["repeat_equal"]
