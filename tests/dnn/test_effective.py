"""Effective masks (kept weights on an input-output path): against boolean reachability computed by hand
for masked MLPs, and against the network itself (no path ⇒ the output does not depend on the input)."""
import pytest

torch = pytest.importorskip("torch")
from hypothesis import example, given, settings, strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from sketchbound.dnn.models import get_model  # noqa: E402
from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: E402
from sketchbound.dnn.pruning.effective import effective_masks, effective_summary  # noqa: E402


def _reachability(ms):
    """Ground truth for a chain of 0/1 matrices M_l (out × in): forward r_l = [M_l r_{l-1} > 0] from all
    inputs, backward b_{l-1} = [M_lᵀ b_l > 0] from all outputs; weight (i, j) of layer l is effective
    iff M_l[i, j] and b_l[i] and r_{l-1}[j]."""
    r = [torch.ones(ms[0].shape[1], dtype=torch.bool)]
    for m in ms:
        r.append((m.double() @ r[-1].double()) > 0)
    b = [torch.ones(ms[-1].shape[0], dtype=torch.bool)]
    for m in reversed(ms):
        b.insert(0, (m.double().T @ b[0].double()) > 0)
    return [m & b[i + 1][:, None] & r[i][None, :] for i, m in enumerate(ms)]


@settings(max_examples=60, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=2, max_size=5), density=st.floats(0.05, 0.9),
       seed=st.integers(0, 2**31 - 1), bn=st.booleans())
def test_mlp_matches_boolean_reachability(widths, density, seed, bn):
    """Any widths, densities, BatchNorm or not, biases present (they carry no input): exact agreement."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers += [nn.BatchNorm1d(widths[i + 1])] if bn else []
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    masks = {n: (torch.rand(p.shape, generator=g) < density).float() for n, p in prunable_parameters(net)}
    eff = effective_masks(net, masks, (widths[0],))
    truth = _reachability([masks[n] != 0 for n, _ in prunable_parameters(net)])
    for (n, _), t in zip(prunable_parameters(net), truth):
        assert torch.equal(eff[n], t), n


def test_on_a_1x1_map_only_the_centre_of_a_3x3_kernel_is_effective():
    """VGG-11 on 8×8 inputs: after three 2×2 pools the last convolutions see 1×1 maps, where the 8 outer
    offsets of each 3×3 kernel read only zero padding: exactly 1/9 of those layers' weights are effective."""
    net = get_model("vgg11", 3, 10, 8, width=0.25)
    masks = {n: torch.ones_like(p) for n, p in prunable_parameters(net)}
    eff = effective_masks(net, masks, (3, 8, 8))
    late = [n for n, p in prunable_parameters(net) if p.dim() == 4 and p.shape[0] >= 128]  # after the third pool
    assert len(late) == 4
    for n in late:
        assert eff[n][:, :, 1, 1].all() and not eff[n][:, :, 0].any() and not eff[n][:, :, :, 2].any(), n
        assert int(eff[n].sum()) * 9 == eff[n].numel()


@pytest.mark.parametrize("name", ["vgg11", "resnet20"])
def test_dense_masks_are_fully_effective_and_an_empty_layer_disconnects(name):
    """Dense: every weight is on a path (the smallest maps are 2×2, where each 3×3 offset still reads a real
    pixel from some output position; max-pools pass every input as average pools). One empty layer:
    nothing is effective, and the masked network's output (eval mode, BatchNorm at its init statistics)
    is the same for two different inputs."""
    size = 32 if name == "vgg11" else 8
    net = get_model(name, 3, 10, size, width=0.25)
    masks = {n: torch.ones_like(p) for n, p in prunable_parameters(net)}
    s = effective_summary(net, masks, (3, size, size))
    assert s["connected"] and s["effective"] == s["kept"] == sum(p.numel() for _, p in prunable_parameters(net))
    first = prunable_parameters(net)[0][0]
    masks[first] = torch.zeros_like(masks[first])
    s = effective_summary(net, masks, (3, size, size))
    assert not s["connected"] and s["effective"] == 0 and s["kept"] > 0
    net.eval()
    with torch.no_grad():
        for n, p in prunable_parameters(net):
            p.mul_(masks[n])
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        y = net(x)
    assert torch.allclose(y[0], y[1])


@settings(max_examples=15, deadline=None)
@given(density=st.floats(0.0005, 0.02), seed=st.integers(0, 2**31 - 1))
@example(density=0.0005, seed=0)  # disconnected (so the output check runs on every run of the test)
def test_no_effective_weight_means_the_output_ignores_the_input(density, seed):
    """Semantic check on a real architecture: whenever effective_summary says 'not connected', the masked
    network in eval mode maps two different inputs to the same output."""
    net = get_model("vgg11", 3, 10, 8, width=0.25).eval()
    g = torch.Generator().manual_seed(seed)
    masks = {n: (torch.rand(p.shape, generator=g) < density).float() for n, p in prunable_parameters(net)}
    s = effective_summary(net, masks, (3, 8, 8))
    with torch.no_grad():
        for n, p in prunable_parameters(net):
            p.mul_(masks[n])
        y = net(torch.randn(2, 3, 8, 8, generator=g))
    if not s["connected"]:
        assert torch.allclose(y[0], y[1])
    assert 0 <= s["effective"] <= s["kept"]


def test_bad_inputs_are_refused():
    net = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2), nn.Linear(2, 1))
    with pytest.raises(ValueError, match="BatchNorm only"):
        effective_masks(net, {}, (2,))
    net = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not prunable weights"):
        effective_masks(net, {"9.weight": torch.ones(2, 2)}, (2,))
    with pytest.raises(ValueError, match="input_shape"):
        effective_masks(net, {}, (0,))
    deep = nn.Sequential(*[nn.Linear(40, 40, bias=False) for _ in range(200)])  # (1/40)^200 underflows
    with pytest.raises(ValueError, match="too deep"):
        effective_masks(deep, {}, (40,))


def test_effective_density_script_on_a_recorded_run(fmnist_root, tmp_path, capsys, one_torch_thread, dnn_script):
    """dnn/scripts/effective_density.py recomputes a recorded run's mask: same per-layer kept counts as
    recorded (difference 0 on the same machine), and a random mask at 1e-4 density on ResNet-20 (27 of
    271k weights) has no input-output path while one at 30% has."""
    import json

    import pandas as pd

    from sketchbound.dnn.experiments.config import RunConfig
    from sketchbound.dnn.experiments.prune import prune_report
    mod = dnn_script("effective_density")
    for density, acc in ((1e-4, 10.0), (0.3, 80.0)):
        cfg = RunConfig(model="resnet20", dataset="fashion-mnist", method="random", density=density, seed=3,
                        pad_to=32, data_root=str(fmnist_root))
        rep, _ = prune_report(cfg)
        d = tmp_path / "runs" / f"run-{density}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps(cfg.to_dict()))
        (d / "result.json").write_text(json.dumps({"accuracy": acc, "kept_per_layer": {r["layer"]: r["kept"] for r in rep["layers"]}}))
    out = tmp_path / "eff.csv"
    assert mod.main(["--runs-dir", str(tmp_path / "runs"), "--out", str(out)]) == 0
    df = pd.read_csv(out).sort_values("density")
    assert list(df.max_layer_kept_diff) == [0, 0]
    assert list(df.connected) == [False, True] and df.effective.iloc[0] == 0
    assert 0 < df.effective_fraction.iloc[1] <= 1
    assert "at_chance" in capsys.readouterr().out
