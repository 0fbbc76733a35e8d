"""The implicit-GEMM Triton grouped convolution (``benchmarks/triton_conv.py``), run on the CPU by
Triton's interpreter: the same kernels, executed with NumPy.

Not collected by itself: ``test_triton_conv.py`` runs this file in a subprocess with ``TRITON_INTERPRET=1``,
which Triton reads when it is imported, so it cannot be switched on inside the main test process.

Math checked: for every group g, position p and output channel o,
``y[p, g, o] = Σ_{i, j, c} x[tap (i, j) of p, g, c] · W[g, o, c, i, j]`` (zero padding), its input gradient
(stride 1: the convolution of ``dy`` with the transposed, flipped weight and padding ``k − 1 − p``) and its
weight gradient (a sum over positions in chunks) — all equal to ``F.conv2d`` and its autograd in float64.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import triton_conv as tc
from hypothesis import given, settings
from hypothesis import strategies as st

import sketchbound.dnn.training.triton_support as ts

if ts._triton()[0] is None or not ts.interpret():
    raise RuntimeError("run this file with Triton importable and TRITON_INTERPRET=1 (test_triton_conv.py does)")


def _case(B, G, ci, co, H, k, s, p, channels_last, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, G * ci, H, H, generator=g, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(G * co, ci, k, k, generator=g, dtype=torch.float64)
    ho = (H + 2 * p - k) // s + 1
    gy = torch.randn(B, G * co, ho, ho, generator=g, dtype=torch.float64)
    return x, w, gy


def _both(x, w, gy, s, p, G, bias=None, gb=1):
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    ya = tc.grouped_conv2d_triton(xa, wa, bias, s, p, G, gb)
    ya.backward(gy)
    xb, wb = x.clone().requires_grad_(), w.clone().requires_grad_()
    yb = F.conv2d(xb, wb, bias, s, p, 1, G)
    yb.backward(gy)
    return (ya, xa.grad, wa.grad), (yb, xb.grad, wb.grad)


@pytest.mark.slow  # triton_conv is a benchmark-only form (the trainer does not use it): the slow suite checks it
@settings(max_examples=12, deadline=None)
@given(G=st.integers(1, 3), ci=st.sampled_from([3, 16, 24]), co=st.sampled_from([8, 16, 40]), H=st.integers(3, 7),
       k=st.sampled_from([1, 3]), s=st.sampled_from([1, 2]), p=st.sampled_from([0, 1]), cl=st.booleans())
def test_triton_conv_equals_conv2d_with_gradients_in_float64(G, ci, co, H, k, s, p, cl):
    """Output, input gradient and weight gradient equal F.conv2d's in float64 (to 1e-10) for groups,
    channel counts below, at and off the 16-wide tiles, kernels 1 and 3, strides 1 and 2, paddings 0 and 1, and
    both memory layouts; the output is channels_last."""
    if H + 2 * p < k:
        return
    x, w, gy = _case(2, G, ci, co, H, k, s, p, cl)
    got, want = _both(x, w, gy, s, p, G)
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.slow  # a benchmark-only form (the trainer does not use it): the slow suite checks it
@settings(max_examples=6, deadline=None)
@given(gb=st.sampled_from([2, 3, 6]), ci=st.sampled_from([3, 8, 16]), co=st.sampled_from([4, 16]), k=st.sampled_from([1, 3]),
       s=st.sampled_from([1, 2]))
def test_triton_conv_group_blocks_equal_conv2d_in_float64(gb, ci, co, k, s):
    """group_block=gb (6 groups, blocks of 2, 3 or 6 run with block-diagonal weights): output, input gradient
    and weight gradient (the diagonal blocks of each block's product) equal F.conv2d's in float64 (to 1e-10)."""
    x, w, gy = _case(2, 6, ci, co, 5, k, s, k // 2, True)
    got, want = _both(x, w, gy, s, k // 2, 6, gb=gb)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_triton_conv_refuses_a_group_block_that_does_not_divide_the_groups():
    """group_block must be a positive divisor of groups; anything else is a ValueError naming it."""
    x, w = torch.randn(1, 32, 4, 4), torch.randn(32, 8, 3, 3)
    for bad in (0, 3, 2.0, True):
        with pytest.raises(ValueError, match="group_block must be a positive divisor of groups=4"):
            tc.grouped_conv2d_triton(x, w, padding=1, groups=4, group_block=bad)


@pytest.mark.slow  # benchmark-only, as above
def test_triton_conv_weight_gradient_over_several_chunks_is_exact_and_repeatable(monkeypatch):
    """With the chunk of positions lowered to 20, the weight gradient is a sum of 7 chunks (147 positions over
    18 programs per chunk): still F.conv2d's in float64, and bit-identical when run again (fixed-order sum)."""
    monkeypatch.setattr(tc, "MIN_CHUNK", 20)
    assert tc._splits(3 * 7 * 7, 2 * 9) == 7
    x, w, gy = _case(3, 2, 16, 16, 7, 3, 1, 1, True, seed=1)
    got, want = _both(x, w, gy, 1, 1, 2)
    torch.testing.assert_close(got[2], want[2], rtol=1e-10, atol=1e-10)
    again, _ = _both(x, w, gy, 1, 1, 2)
    assert all(torch.equal(a, b) for a, b in zip(got, again))


def test_triton_conv_bias_and_float32():
    """A bias is added per output channel; float32 operands give float32 results close to F.conv2d's
    (exact products on the CPU: ``_precision`` uses TF32 only where cuDNN would)."""
    x, w, gy = _case(2, 2, 16, 16, 5, 3, 1, 1, True)
    b = torch.randn(32, dtype=torch.float64)
    got, want = _both(x, w, gy, 1, 1, 2, bias=b)
    torch.testing.assert_close(got[0], want[0], rtol=1e-10, atol=1e-10)
    got, want = _both(x.float(), w.float(), gy.float(), 1, 1, 2)
    assert got[0].dtype == torch.float32
    for a, c in zip(got, want):
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-4)


def test_triton_conv_refuses_mismatched_channels():
    """Channels that do not fit the groups are refused with the shapes named."""
    x, w = torch.randn(1, 32, 4, 4), torch.randn(32, 16, 3, 3)
    with pytest.raises(ValueError, match=r"input channels 32 .* groups=3"):
        tc.grouped_conv2d_triton(x, w, padding=1, groups=3)


def test_triton_conv_runs_under_torch_compile_as_one_opaque_op():
    """torch.compile keeps the custom operator as one call (its fake implementation gives the shapes): the
    compiled forward and backward equal the eager ones."""
    x, w, gy = _case(2, 2, 16, 16, 5, 3, 1, 1, True)
    f = torch.compile(lambda a, b: tc.grouped_conv2d_triton(a, b, None, 1, 1, 2), backend="aot_eager", fullgraph=True)
    xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
    f(xa, wa).backward(gy)
    got, want = _both(x, w, gy, 1, 1, 2)
    torch.testing.assert_close(xa.grad, got[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(wa.grad, want[2], rtol=1e-10, atol=1e-10)


@pytest.mark.slow  # a benchmark-only form (the trainer does not use it): the slow suite checks it
def test_grouped_conv_bench_triton_form_and_bad_forms(tmp_path, capsys, bench_script):
    """grouped_conv_bench --forms: the Triton forms (1 and 2 groups per program) of each ResNet-20 shape equal
    cuDNN's grouped convolution (float64, 2 models, 8×8 images); an unknown form exits 2 with one line naming
    --forms."""
    mod = bench_script("grouped_conv_bench")
    cases = mod.model_cases("resnet20", 2, image_size=8, forms=("cudnn", "triton", "triton2"))
    assert len(cases) == 24 and all(b[0] == a[0] + " Triton" and c[0] == a[0] + " Triton gb2"
                                    for a, b, c in zip(cases[::3], cases[1::3], cases[2::3]))
    g = torch.Generator().manual_seed(0)
    for (name, cin, cout, size, k, conv), t1, t2 in zip(cases[::3], cases[1::3], cases[2::3]):
        x = torch.randn(2, 2 * cin, size, size, generator=g, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
        w = torch.randn(2 * cout, cin, k, k, generator=g, dtype=torch.float64)
        for tri in (t1[5], t2[5]):
            torch.testing.assert_close(tri(x, w), conv(x, w), rtol=1e-10, atol=1e-10)
    with pytest.raises(SystemExit) as e:
        mod.main(["--device", "cpu", "--model", "resnet20", "--forms", "cudnn,winograd", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and "--forms" in err[-1] and "winograd" in err[-1]


def test_gpu_checks_triton_conv_errors_are_small(bench_script):
    """gpu_checks.triton_conv under the interpreter: float32 errors against float64 are small, and a second
    run repeats the bits."""
    (r,) = bench_script("gpu_checks").triton_conv(torch.device("cpu"), "float32", [(2, 2, 16, 16, 5, 3, 1, 1)])
    assert max(r["triton"]) < 1e-5 and r["repeat_equal"]
