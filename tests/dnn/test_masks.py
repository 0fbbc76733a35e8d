import itertools
import math

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
stats = pytest.importorskip("scipy.stats")
from hypothesis import given, settings, strategies as st

from sketchbound.dnn.pruning.apply import apply_mask
from sketchbound.dnn.pruning.masks import (MASK_MODES, keep_counts, kept_count, make_mask, mask_summary,
                                   sample_algorithm1, sample_without_replacement, target_count)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield

BINARY = [m for m in MASK_MODES if m != "algorithm1"]


def _scores(sizes, seed, tie=False):
    g = torch.Generator().manual_seed(seed)
    if tie:
        return {f"l{i}": torch.full((n,), 0.5) for i, n in enumerate(sizes)}
    # few distinct values → many ties
    return {f"l{i}": torch.randint(0, 4, (n,), generator=g).float() for i, n in enumerate(sizes)}


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5), density=st.floats(0.02, 1.0),
       seed=st.integers(0, 10**6), tie=st.booleans(), mode=st.sampled_from(BINARY),
       backend=st.sampled_from(["numpy", "torch"]))
def test_binary_masks_keep_exactly_round_density_d(sizes, density, seed, tie, mode, backend):
    sc = _scores(sizes, seed, tie)
    d = sum(sizes)
    k = math.floor(density * d + 0.5)
    floor = 1 if sum(min(1, n) for n in sizes) <= k else 0
    if k == 0:
        with pytest.raises(ValueError, match="density"):
            make_mask(sc, density, mode)
        return
    m = make_mask(sc, density, mode, rng=seed, backend=backend, min_per_layer=floor)
    assert kept_count(m) == k == target_count(density, d)
    assert all(set(v.unique().tolist()) <= {0.0, 1.0} for v in m.values())
    scope = "layerwise" if mode.startswith("layerwise") else "global"
    counts = keep_counts(sc, density, scope, min_per_layer=floor)
    assert {n: int(v.sum()) for n, v in m.items()} == counts
    if scope == "layerwise":
        # largest remainders put every layer within 1 of density·n_l; the floor lifts a layer by at most
        # `floor` and takes those weights from the others, at most floor·L in all (sizes [1, 1, 35] at
        # density 0.17: the two 1-weight layers keep 1 each, the big one 4 instead of 6.02)
        for n, v in m.items():
            assert abs(counts[n] - density * v.numel()) <= 1 + floor * len(sizes)


def test_global_threshold_keeps_the_top_and_ties_are_exact():
    sc = {"a": torch.tensor([5.0, 1.0, 1.0, 1.0]), "b": torch.tensor([1.0, 1.0, 9.0, 0.0])}
    m = make_mask(sc, 0.5, "global", min_per_layer=0)
    assert m["a"][0] == 1 and m["b"][2] == 1 and kept_count(m) == 4 and m["b"][3] == 0
    const = {"w": torch.ones(1000)}
    for mode in BINARY:
        assert kept_count(make_mask(const, 0.123, mode, rng=0)) == 123


def test_min_per_layer_prevents_collapse_out_of_the_same_budget():
    sc = {"big": torch.arange(1.0, 101.0), "tiny": torch.zeros(4)}
    assert keep_counts(sc, 0.1, min_per_layer=0) == {"big": 10, "tiny": 0}
    assert keep_counts(sc, 0.1) == {"big": 9, "tiny": 1}
    m = make_mask(sc, 0.1, "global")
    assert int(m["tiny"].sum()) == 1 and kept_count(m) == 10
    with pytest.raises(ValueError, match="min_per_layer=6 needs"):
        make_mask(sc, 0.05, "global", min_per_layer=6)


def _successive_set_probs(w, k):
    """Exact probabilities of each k-set under successive sampling ∝ w (enumerate orders)."""
    w = np.asarray(w, float)
    probs = {}
    for seq in itertools.permutations(range(len(w)), k):
        p, rest = 1.0, w.sum()
        for i in seq:
            p *= w[i] / rest
            rest -= w[i]
        key = tuple(sorted(seq))
        probs[key] = probs.get(key, 0.0) + p
    return probs


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_without_replacement_matches_successive_sampling(backend):
    w = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.5])
    exact = _successive_set_probs(w.numpy(), 2)
    keys = sorted(exact)
    n = 6000
    g = np.random.default_rng(1) if backend == "numpy" else torch.Generator().manual_seed(1)
    counts = dict.fromkeys(keys, 0)
    for _ in range(n):
        s = sample_without_replacement(w, 2, rng=g, backend=backend)
        counts[tuple(torch.nonzero(s).flatten().tolist())] += 1
    obs = np.array([counts[k] for k in keys])
    exp = np.array([exact[k] for k in keys])
    exp = exp / exp.sum() * n
    assert stats.chisquare(obs, exp).pvalue > 1e-4


@pytest.mark.slow
def test_torch_and_numpy_agree_in_distribution_for_the_randomized_mask():
    sc = {"a": torch.tensor([3.0, 2.0, 1.0, 1.0, 0.25]), "b": torch.tensor([2.0, 1.0, 0.5])}
    n = 3000
    tables = []
    for backend, rng in [("numpy", np.random.default_rng(7)), ("torch", torch.Generator().manual_seed(7))]:
        seen = {}
        for _ in range(n):
            m = make_mask(sc, 0.5, "randomized", rng=rng, backend=backend, min_per_layer=0)
            key = tuple(torch.cat([m["a"], m["b"]]).int().tolist())
            seen[key] = seen.get(key, 0) + 1
        tables.append(seen)
    keys = sorted(set(tables[0]) | set(tables[1]))
    table = np.array([[t.get(k, 0) for k in keys] for t in tables])
    assert stats.chi2_contingency(table).pvalue > 1e-4
    # inclusion frequencies: each backend is close to the other
    inc = [sum(np.array(k) * c for k, c in t.items()) / n for t in tables]
    assert np.max(np.abs(inc[0] - inc[1])) < 0.06


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_algorithm1_counts_are_multinomial_and_unbiased(backend):
    w = torch.tensor([0.5, 0.2, 0.2, 0.1, 0.0], dtype=torch.float64)
    p = (w / w.sum()).numpy()
    s, n = 3, 5000
    g = np.random.default_rng(3) if backend == "numpy" else torch.Generator().manual_seed(3)
    masks = torch.stack([sample_algorithm1(w, s, rng=g, backend=backend) for _ in range(n)])
    assert masks.dtype == torch.float64 and float(masks[:, 4].abs().max()) == 0.0
    counts = torch.round(masks * s * torch.from_numpy(p)).long().numpy()
    assert (counts.sum(1) == s).all()
    outcomes = [c for c in itertools.product(range(s + 1), repeat=4) if sum(c) == s]
    exp = np.array([stats.multinomial.pmf(list(c) + [0], s, p) for c in outcomes])
    exp = exp / exp.sum() * n
    obs = np.array([np.sum(np.all(counts[:, :4] == c, axis=1)) for c in outcomes])
    assert stats.chisquare(obs, exp).pvalue > 1e-4
    mean = masks[:, :4].mean(0).numpy()  # E[m_i] = 1 (Lemma B.1)
    se = masks[:, :4].std(0).numpy() / n**0.5
    assert np.all(np.abs(mean - 1) < 5 * se)


def test_algorithm1_mode_keeps_at_most_s_and_is_unbiased():
    sc = {"a": torch.tensor([4.0, 1.0, 1.0]), "b": torch.tensor([2.0, 0.0])}
    for backend in ["numpy", "torch"]:
        ms = [make_mask(sc, 0.6, "algorithm1", rng=i, backend=backend) for i in range(2000)]
        assert all(kept_count(m) <= 3 for m in ms)
        stacked = torch.stack([torch.cat([m["a"], m["b"]]) for m in ms]).double()
        assert float(stacked[:, 4].abs().max()) == 0
        assert torch.all((stacked[:, :4].mean(0) - 1).abs() < 5 * stacked[:, :4].std(0) / 2000**0.5)


def test_same_seed_same_mask_and_rng_kinds():
    sc = {"a": torch.rand(50, generator=torch.Generator().manual_seed(0))}
    for mode in MASK_MODES:
        for backend in ["numpy", "torch"]:
            a = make_mask(sc, 0.2, mode, rng=11, backend=backend)
            b = make_mask(sc, 0.2, mode, rng=11, backend=backend)
            assert torch.equal(a["a"], b["a"])
    make_mask(sc, 0.2, "randomized", rng=torch.Generator().manual_seed(0), backend="numpy")
    make_mask(sc, 0.2, "randomized", rng=np.random.default_rng(0), backend="torch")


@pytest.mark.slow
def test_torch_sampler_beyond_multinomial_limit():
    d = (1 << 24) + 5
    w = torch.ones(d, dtype=torch.float64)
    w[-1] = 1e6  # the last entry carries ~6% of the mass: must be reachable
    keep = sample_without_replacement(w, 1000, rng=0, backend="torch")
    assert int(keep.sum()) == 1000
    m = sample_algorithm1(w, 1000, rng=0, backend="torch")
    assert int((m > 0).sum()) <= 1000 and m[-1] > 0
    counts = torch.round(m * 1000 * (w / w.sum())).sum()
    assert int(counts) == 1000


def test_signed_scores_are_shifted_and_zero_weights_fill_exactly():
    sc = {"a": torch.tensor([-1.0, -1.0, 2.0, 3.0])}
    for backend in ["numpy", "torch"]:
        m = make_mask(sc, 0.75, "randomized", rng=0, backend=backend)
        assert int(m["a"].sum()) == 3 and m["a"][2] == 1 and m["a"][3] == 1


def test_apply_mask_and_summary():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    masks = {"0.weight": torch.zeros(3, 4), "2.weight": torch.ones(3 * 2).reshape(2, 3)}
    masks["0.weight"][0, 0] = 1
    before = net[0].weight.detach().clone()
    rows = mask_summary(net, masks)
    assert [r["kept"] for r in rows] == [1, 6]
    assert rows[0]["mean_abs_kept"] == pytest.approx(float(before[0, 0].abs()))
    # a layer with no kept entry has no mean |w|: None, never a NaN that would pass into a table unnoticed
    assert mask_summary(net, {"0.weight": torch.zeros(3, 4)})[0]["mean_abs_kept"] is None
    apply_mask(net, masks)
    assert int((net[0].weight != 0).sum()) == 1 and float(net[0].bias.detach().abs().sum()) > 0
    with pytest.raises(ValueError, match="shape"):
        apply_mask(net, {"0.weight": torch.ones(4, 3)})
    with pytest.raises(ValueError, match="not prunable"):
        apply_mask(net, {"0.bias": torch.ones(3)})


def test_bad_arguments_name_the_problem():
    sc = {"a": torch.ones(10)}
    with pytest.raises(ValueError, match=r"density must be a number in \(0, 1\].*got 1.5"):
        make_mask(sc, 1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        make_mask(sc, 0.5, "topk")
    with pytest.raises(ValueError, match="NaN"):
        make_mask({"a": torch.tensor([1.0, float("nan")])}, 0.5)
    with pytest.raises(ValueError, match="backend must be one of"):
        make_mask(sc, 0.5, "randomized", backend="cupy")
    with pytest.raises(ValueError, match="keeps round"):
        make_mask(sc, 0.01)


def test_shuffled_mask_keeps_the_thresholds_per_layer_counts_and_is_uniform_inside_layers():
    """'shuffled' = the per-layer counts of the global threshold, weights uniform inside each layer:
    over many draws every weight of a layer is kept with probability k_l / n_l, whatever its score."""
    g = torch.Generator().manual_seed(0)
    scores = {"a": torch.rand(40, generator=g) ** 4, "b": torch.rand(60, generator=g)}
    thr = make_mask(scores, 0.3, "global")
    counts = {n: int(m.sum()) for n, m in thr.items()}
    freq = {n: torch.zeros_like(s) for n, s in scores.items()}
    draws = 2000
    for r in range(draws):
        m = make_mask(scores, 0.3, "shuffled", rng=r)
        assert {n: int(v.sum()) for n, v in m.items()} == counts
        for n in m:
            freq[n] += m[n]
    for n, s in scores.items():
        p = counts[n] / s.numel()
        se = (p * (1 - p) / draws) ** 0.5
        assert torch.all((freq[n] / draws - p).abs() < 5 * se)  # 5 sigma per weight, 100 weights
        # uniform: no correlation with the score (the randomized mode has a strong one)
        assert abs(float(torch.corrcoef(torch.stack([freq[n], s]))[0, 1])) < 0.35
    assert torch.equal(make_mask(scores, 0.3, "shuffled", rng=5)["a"], make_mask(scores, 0.3, "shuffled", rng=5)["a"])
