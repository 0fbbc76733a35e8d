"""The bridge's mask laws in the §7 procedure (tempered, variance-aware) and its per-run theory quantities."""
import json
import math

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
stats = pytest.importorskip("scipy.stats")

from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.pruning.bridge_laws import read_constants, tempered_weights, variance_aware_weights
from sketchbound.dnn.pruning.masks import keep_counts, make_mask
from sketchbound.dnn.theory.bridge import layer_constants, measured_errors, predicted_errors


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield


def _scores(seed=0, sizes=(30, 50, 20)):
    g = torch.Generator().manual_seed(seed)
    return {f"l{i}": torch.rand(n, generator=g) * 10 ** (i - 1) + 1e-3 for i, n in enumerate(sizes)}


def _w0(scores, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(t.shape, generator=g) for n, t in scores.items()}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("beta,twin", [(0, "shuffled"), (1, "randomized")])
def test_tempered_at_beta_0_and_1_is_shuffled_and_randomized_mask_for_mask(beta, twin, backend):
    sc = _scores()
    for seed in range(5):
        a = make_mask(sc, 0.2, "tempered", beta=beta, rng=seed, backend=backend)
        b = make_mask(sc, 0.2, twin, rng=seed, backend=backend)
        assert all(torch.equal(a[n], b[n]) for n in sc)


def test_tempered_at_beta_inf_keeps_the_thresholds_kept_set():
    sc = _scores(3)
    for dens in (0.05, 0.2, 0.6):
        a = make_mask(sc, dens, "tempered", beta=math.inf, rng=0)
        b = make_mask(sc, dens, "global")
        assert all(torch.equal(a[n], b[n]) for n in sc)


@pytest.mark.parametrize("mode,kw", [("tempered", {"beta": 0.5}), ("tempered", {"beta": 4.0}),
                                     ("variance_aware", {})])
def test_per_layer_counts_equal_the_thresholds(mode, kw):
    sc = _scores(4)
    if mode == "variance_aware":
        kw = {"w0": _w0(sc), "constants": {n: (0.7, 0.3) for n in sc}}
    counts = keep_counts(sc, 0.15)
    m = make_mask(sc, 0.15, mode, rng=2, **kw)
    assert {n: int(v.sum()) for n, v in m.items()} == counts


def test_tempered_weights_are_the_power_law_and_stay_finite_on_huge_ranges():
    w = torch.tensor([1e-300, 1e-150, 1.0, 0.0], dtype=torch.float64)
    t = tempered_weights(w, 4.0)
    assert torch.isfinite(t).all() and t[3] == 0 and t[2] == 1.0
    w = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    assert torch.allclose(tempered_weights(w, 0.5), (w / 4) ** 0.5)


def test_tempered_law_inside_a_layer_is_score_to_the_beta():
    """One kept weight out of 3 in a single layer: the first-draw law is p ∝ score^β (chi-square)."""
    sc = {"a": torch.tensor([1.0, 2.0, 4.0])}
    n = 3000
    hits = np.zeros(3)
    for r in range(n):
        hits[int(torch.nonzero(make_mask(sc, 1 / 3, "tempered", beta=0.5, rng=r, backend="torch")["a"]))] += 1
    p = np.array([1.0, 2.0, 4.0]) ** 0.5
    assert stats.chisquare(hits, p / p.sum() * n).pvalue > 1e-3


def test_variance_aware_with_sigma_0_is_the_randomized_law():
    sc = _scores(5)
    w0 = _w0(sc)
    # scores that are |w0| times a factor, as every score of the module docstring
    sc = {n: t * w0[n].abs() for n, t in sc.items()}
    for n in sc:
        va = variance_aware_weights(sc[n].double(), w0[n], 2.0, 0.0)
        assert torch.allclose(va / va.sum(), sc[n].double() / sc[n].double().sum(), rtol=1e-12)
    same = 0
    for seed in range(5):
        a = make_mask(sc, 0.2, "variance_aware", rng=seed, w0=w0, constants={n: (2.0, 0.0) for n in sc})
        b = make_mask(sc, 0.2, "randomized", rng=seed)
        same += all(torch.equal(a[n], b[n]) for n in sc)
    assert same >= 4  # the same draws up to floating-point rounding of the weights


def test_variance_aware_large_sigma_is_proportional_to_the_gradient_factor_and_fills_zero_init():
    s = torch.tensor([2.0, 3.0, 0.0], dtype=torch.float64)
    w0 = torch.tensor([1.0, 0.5, 0.0])
    va = variance_aware_weights(s, w0, 1.0, 1e6)
    g = torch.tensor([2.0, 6.0, 4.0])  # the zero-init weight gets the layer's mean factor
    assert torch.allclose(va / va.sum(), (g / g.sum()).double(), rtol=1e-6)


def test_bad_law_inputs_name_the_argument():
    sc = _scores()
    with pytest.raises(ValueError, match="beta"):
        make_mask(sc, 0.2, "tempered", beta=-1.0)
    with pytest.raises(ValueError, match="constants"):
        make_mask(sc, 0.2, "variance_aware", w0=_w0(sc), constants={})
    with pytest.raises(ValueError, match="sigma"):
        variance_aware_weights(torch.ones(2), torch.ones(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="beta"):
        RunConfig(mask="randomized", beta=2.0)
    with pytest.raises(ValueError, match="bridge_constants"):
        RunConfig(mask="variance_aware")
    with pytest.raises(ValueError, match="bridge_constants"):
        read_constants("/nonexistent/constants.json")


def test_new_fields_enter_the_hash_only_off_default():
    assert "beta" not in RunConfig(mask="tempered").hashed_dict()
    names = {RunConfig(mask="tempered", beta=b).run_name() for b in (0, 0.5, 1, math.inf)}
    assert len(names) == 4
    assert "bridge_record" in RunConfig(bridge_record=True, bridge_constants="k.json").hashed_dict()


def test_layer_constants_recover_a_planted_slope_and_noise():
    g = torch.Generator().manual_seed(0)
    inits, trained = [], []
    for _ in range(3):
        w0 = torch.randn(20000, generator=g)
        inits.append({"w": w0})
        trained.append({"w": 1.7 * w0 + 0.2 * torch.randn(20000, generator=g)})
    k = layer_constants(inits, trained)["w"]
    assert k["c"] == pytest.approx(1.7, abs=0.01) and k["sigma"] == pytest.approx(0.2, abs=0.005)


def _tiny_net(seed):
    from sketchbound.dnn.models import get_model
    return get_model("lenet300100", 1, 10, 8, width=0.05, seed=seed)


def test_predicted_error_is_the_monte_carlo_mean_of_the_planted_model():
    """E_ε‖((c w0 + ε) ⊙ (1 − M)) P‖² against an average over drawn ε (same probe, same columns)."""
    from sketchbound.dnn.models.prunable import prunable_parameters
    from sketchbound.dnn.theory.bridge import layer_patches
    net = _tiny_net(0)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    w0 = {n: p.detach() for n, p in prunable_parameters(net)}
    sc = {n: p.abs() for n, p in w0.items()}
    masks = make_mask(sc, 0.3, "randomized", rng=0)
    consts = {n: (1.3, 0.05) for n in w0}
    pred = predicted_errors(net, masks, consts, x)
    P = layer_patches(net, x)
    g = torch.Generator().manual_seed(2)
    for n, W in w0.items():
        W = W.double().reshape(W.shape[0], -1)
        off = (masks[n].reshape(W.shape) == 0).double()
        mc = np.mean([float((((1.3 * W + 0.05 * torch.randn(W.shape, generator=g, dtype=torch.float64)) * off)
                              @ P[n]).pow(2).sum()) for _ in range(400)])
        assert pred["layers"][n]["pred"] == pytest.approx(mc, rel=0.05)
    assert 0 < pred["pred_rel_mean"] < 1


def test_measured_error_is_zero_when_nothing_is_pruned_and_the_features_when_all_is():
    net = _tiny_net(1)
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    from sketchbound.dnn.models.prunable import prunable_parameters
    ones = {n: torch.ones_like(p) for n, p in prunable_parameters(net)}
    zeros = {n: torch.zeros_like(p) for n, p in prunable_parameters(net)}
    assert measured_errors(net, ones, x)["meas_sum"] == 0
    full = measured_errors(net, zeros, x)
    assert full["meas_rel_mean"] == pytest.approx(1.0)


def test_read_constants_round_trip(tmp_path):
    f = tmp_path / "k.json"
    f.write_text(json.dumps({"layers": {"a.weight": {"c": 2.0, "sigma": 0.5}}}))
    assert read_constants(f) == {"a.weight": (2.0, 0.5)}
