"""Lemma 4.3 per layer inside networks, c in practice, Theorem 6.2 on a small CNN (CPU toys)."""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import copy  # noqa: E402

from sketchbound.dnn.experiments import deep_theory as DT  # noqa: E402
from sketchbound.dnn.theory import layers as L  # noqa: E402
from sketchbound.dnn.theory import ntk_cnn as N  # noqa: E402
from sketchbound.theory import lemma_4_3_bound, lemma_4_3_exact  # noqa: E402


def _kron_rows(P, C):
    """The explicit feature matrix I_C ⊗ P (d = C·D rows, C·n columns) the layer is reduced to."""
    D, n = P.shape
    X = np.zeros((C * D, C * n))
    for o in range(C):
        X[o * D:(o + 1) * D, o * n:(o + 1) * n] = P
    return X


def test_conv_patch_matrix_reproduces_the_layer():
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, stride=2, bias=False)
    x = torch.randn(2, 3, 7, 7, generator=g)
    P = L.patch_matrix(conv, x)
    out = conv(x)  # (2, 4, 4, 4)
    ref = out.permute(1, 0, 2, 3).reshape(4, -1)
    torch.testing.assert_close(conv.weight.reshape(4, -1) @ P, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="groups"):
        L.patch_matrix(nn.Conv2d(4, 4, 3, groups=2), torch.randn(1, 4, 5, 5))


@pytest.mark.slow
def test_layer_closed_forms_equal_lemma_4_3_on_the_kronecker_matrix():
    """Channels as C_out vectors over one patch matrix == Lemma 4.3 on X = I ⊗ P (checked against the core)."""
    g = torch.Generator().manual_seed(1)
    C, D, n = 3, 5, 6
    W0, Ws = torch.randn(C, D, generator=g, dtype=torch.float64), torch.randn(C, D, generator=g, dtype=torch.float64)
    P0, Ps = torch.randn(D, n, generator=g, dtype=torch.float64), torch.randn(D, n, generator=g, dtype=torch.float64)
    rows = L.layer_lemma43(W0, Ws, P0, Ps, 0.4, trials=4000, seed=0)
    a = {r["method"]: r for r in rows}["algorithm1"]
    X, Xt = _kron_rows(Ps.numpy(), C), _kron_rows(P0.numpy(), C)
    s = a["s"]
    assert s == round(0.4 * C * D)
    assert math.isclose(a["exact"], lemma_4_3_exact(X, Xt, W0.numpy().ravel(), Ws.numpy().ravel(), s), rel_tol=1e-10)
    assert math.isclose(a["bound"], lemma_4_3_bound(X, Xt, W0.numpy().ravel(), Ws.numpy().ravel(), s), rel_tol=1e-10)
    assert math.isclose(a["features"], float(np.sum((Ws.numpy() @ Ps.numpy()) ** 2)), rel_tol=1e-10)
    # Monte-Carlo over masks agrees with the exact value (4000 masks: within 5 standard errors)
    assert abs(a["error"] - a["exact"]) < 5 * a["error_se"]
    u = {r["method"]: r for r in rows}["uniform"]
    assert abs(u["error"] - u["exact"]) < 5 * u["error_se"]
    thr = {r["method"]: r for r in rows}["threshold"]
    assert thr["trials"] == 1 and thr["kept"] == s


def test_kept_weight_stats():
    w0 = {"a": torch.tensor([1.0, -2.0, 4.0, 0.5]), "b": torch.tensor([[1.0, 1.0]])}
    ws = {"a": torch.tensor([2.0, -2.0, 1.0, 0.5]), "b": torch.tensor([[3.0, 0.0]])}
    st = L.kept_weight_stats(w0, ws)
    assert st["kept"] == 6 and st["c_max"] == 3.0 and st["c_q50"] == 1.0
    m = {"a": torch.tensor([1.0, 0.0, 1.0, 0.0]), "b": torch.tensor([[0.0, 2.5]])}
    st = L.kept_weight_stats(w0, ws, m, per_layer=True)
    assert st["kept"] == 3 and st["c_max"] == 2.0 and math.isclose(st["init_l1_kept"], 6.0)
    assert math.isclose(st["init_l2_kept"], math.sqrt(18.0)) and set(st["per_layer"]) == {"a", "b"}
    assert 0 < st["l1_over_sqrtk_l2"] <= 1
    with pytest.raises(ValueError, match="final has no weight"):
        L.kept_weight_stats(w0, {"a": ws["a"]})


@pytest.mark.slow  # one of the longest default tests; CI runs the slow suite
def test_lemma43_network_toy_cpu(tmp_path):
    """A toy network end to end on CPU: per-layer table, CSV, Markdown, plot; Lemma 4.3 holds per layer."""
    torch.manual_seed(0)
    net0 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, stride=2, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 3 * 3, 5))
    net1 = copy.deepcopy(net0)
    with torch.no_grad():
        for p in net1.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(8, 1, 8, 8)
    rows = L.lemma43_network(net0, net1, x, (0.2, 0.5), columns=64, trials=3, seed=0)
    assert {r["layer"] for r in rows} == {"0.weight", "3.weight", "6.weight"}
    for r in rows:
        if r["method"] == "algorithm1":
            assert r["exact"] <= r["bound"] * (1 + 1e-12)
        assert r["n"] <= 64
    (tmp_path / "t.csv").write_text(DT.rows_to_csv(rows))
    md = DT.rows_to_markdown(rows, "## toy")
    assert md.count("\n| ") >= 6
    DT.plot_rows(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0


@pytest.mark.slow  # one of the longest default tests; CI runs the slow suite
def test_lemma43_cli_cpu_on_fashion_mnist(tmp_path):
    try:
        from sketchbound.dnn.data import load_dataset
        load_dataset("fashion-mnist")
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST files not present")
    rc = DT.main(["lemma43", "--model", "resnet20", "--width", "0.25", "--train-subset", "256", "--epochs", "1",
                  "--device", "cpu", "--columns", "64", "--trials", "2", "--batch", "16", "--densities", "0.1",
                  "--out", str(tmp_path)])
    assert rc == 0
    for f in ("lemma43.csv", "lemma43.md", "lemma43.png", "summary.json"):
        assert (tmp_path / f).is_file()
    summ = json.loads((tmp_path / "summary.json").read_text())
    assert "c_q99" in summ["c_stats_dense"] and summ["command"].startswith("python -m sketchbound.dnn.deep_theory lemma43")


def test_ntk_cnn_small():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 1, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randn(6, generator=g, dtype=torch.float64)
    run = N.ntk_cnn_run(3, steps=5, x=x, y=y)
    model = N.NTKCNN(1, 3)
    d = sum(p.numel() for p in model.parameters())
    assert run["J0"].shape == (6, d) and run["loss"][-1] < run["loss"][0]
    # Jacobian by finite differences on one coordinate
    from torch.func import functional_call
    params = {k: v.detach().clone() for k, v in N.NTKCNN(1, 3, generator=torch.Generator().manual_seed(1)).named_parameters()}
    J = N._cnn_jacobian(model, params, x)
    k0 = next(iter(params))
    e = torch.zeros_like(params[k0]).reshape(-1)
    e[2] = 1e-6
    pp = dict(params); pm = dict(params)
    pp[k0] = params[k0] + e.reshape(params[k0].shape)
    pm[k0] = params[k0] - e.reshape(params[k0].shape)
    fd = (functional_call(model, pp, (x,)) - functional_call(model, pm, (x,))) / 2e-6
    torch.testing.assert_close(J[:, 2], fd, rtol=1e-5, atol=1e-8)


def test_bad_args():
    with pytest.raises(ValueError, match="density"):
        L.layer_lemma43(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 3), torch.ones(2, 3), 0.0)
    with pytest.raises(ValueError, match="method"):
        L.layer_lemma43(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 3), torch.ones(2, 3), 0.5, methods=("bogus",))
    with pytest.raises(SystemExit):
        DT.main(["lemma43", "--densities", "2", "--out", "x"])
