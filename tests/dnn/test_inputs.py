import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
from hypothesis import given, settings, strategies as st

from sketchbound.dnn.pruning.inputs import (as_batch_source, channel_stats, chi_input, make_input_source, matched_normal,
                                    real_batches, sparse_random)


def test_chi_matches_definition():
    x = chi_input(2000, (1, 2, 2), n=128, generator=0).double()
    # ||z||² / n with z ~ N(0, I_128): mean 1, variance 2/n
    sq = x.pow(2).flatten()
    assert abs(float(sq.mean()) - 1) < 4 * (2 / 128 / sq.numel()) ** 0.5
    assert abs(float(sq.var()) - 2 / 128) < 0.2 * 2 / 128
    raw = chi_input(500, (3,), n=4, normalize=False, generator=1).double()
    assert abs(float(raw.pow(2).mean()) - 4) < 0.3
    assert torch.equal(chi_input(3, (2,), generator=5), chi_input(3, (2,), generator=5))


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 6), c=st.integers(1, 3), h=st.integers(1, 4), seed=st.integers(0, 1000))
def test_sparse_random_has_one_nonzero_per_entry(b, c, h, seed):
    x = sparse_random(b, (c, h, h), generator=seed)
    assert x.shape == (b, c, h, h)
    assert torch.equal((x != 0).sum(0), torch.ones(c, h, h, dtype=torch.long))


def test_sparse_random_spreads_over_the_batch():
    x = sparse_random(4, (1, 40, 40), generator=0)
    per_image = (x != 0).flatten(1).sum(1).double()
    assert float(per_image.min()) > 300  # 1600 entries over 4 images, binomial(1600, 1/4)


def test_matched_normal_and_channel_stats():
    x = matched_normal(4000, (2, 3, 3), mean=[1.0, -2.0], std=[0.5, 3.0], generator=0)
    m, s = channel_stats(x)
    assert torch.allclose(m, torch.tensor([1.0, -2.0], dtype=torch.float64), atol=0.1)
    assert torch.allclose(s, torch.tensor([0.5, 3.0], dtype=torch.float64), rtol=0.05)
    with pytest.raises(ValueError, match="one value per channel"):
        matched_normal(2, (2, 3, 3), mean=[0, 0, 0], std=1)


def test_sources():
    x, y = torch.randn(20, 1, 4, 4), torch.arange(20)
    src = real_batches(x, y, 5)
    xb, yb = src(torch.Generator().manual_seed(0))
    assert xb.shape == (5, 1, 4, 4) and torch.equal(x[yb], xb) and len(set(yb.tolist())) == 5
    for kind in ["normal", "chi", "sparse", "ones"]:
        s = make_input_source(kind, shape=(1, 4, 4), batch_size=3, num_classes=4, data=(x, y))
        xb, yb = s(torch.Generator().manual_seed(1))
        assert xb.shape == (3, 1, 4, 4) and yb.shape == (3,) and int(yb.max()) < 4
    assert as_batch_source((x, y))(None)[0] is x
    it = as_batch_source([(x[:2], y[:2]), (x[2:4], y[2:4])])
    assert torch.equal(it(None)[1], y[:2]) and torch.equal(it(None)[1], y[2:4]) and torch.equal(it(None)[1], y[:2])
    with pytest.raises(ValueError, match="inputs kind must be one of"):
        make_input_source("uniform", shape=(1, 2, 2))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        chi_input(0, (1,))
    with pytest.raises(ValueError, match="needs data"):
        make_input_source("real", shape=(1, 2, 2))
