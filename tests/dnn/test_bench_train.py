"""bench_train: every rival measured in one call, ratios, analytic FLOPs, peaks, outputs.

Only the plumbing is tested here (tiny sizes on the CPU); the numbers are the GPU benchmark's
(``benchmarks/scripts/gpu_bench_train.sh``, recorded in benchmarks/RESULTS.md).
"""
import json

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sketchbound.dnn.experiments import bench_train as B  # noqa: E402
from sketchbound.dnn.experiments.bench_data import synthetic_data  # noqa: E402
from sketchbound.dnn.models import get_model  # noqa: E402

TINY = ["--device", "cpu", "--jobs", "2", "--steps", "2", "--warmup", "1", "--n-train", "64", "--batch-size", "16",
        "--image-size", "8", "--width", "0.25"]


@pytest.mark.slow
def test_tiny_cpu_run_measures_every_rival_and_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench"
    assert B.main(TINY + ["--model", "all", "--rivals", "plain,vmap,streams,fused", "--out", str(out)]) == 0
    md_printed = capsys.readouterr().out
    res = json.loads((out / "bench_train.json").read_text())
    md = (out / "bench_train.md").read_text()
    assert md.strip() == md_printed.strip()
    assert list(res["models"]) == ["resnet20", "vgg19"] and res["device"] == "cpu" and res["torch"] == torch.__version__
    for name, m in res["models"].items():
        ways = m["ways"]
        assert set(ways) == {"plain", "vmap", "streams", "fused"}
        for w in ways.values():
            assert w["images_per_s"] > 0
            assert w["tflops"] == pytest.approx(w["images_per_s"] * m["flops_per_image"] / 1e12)
            assert w["fraction_of_peak"] is None  # no peak for a CPU
        for k in ("streams", "fused"):
            assert ways[k]["masks_exact"] is True and ways[k]["models"] == 2
            assert ways[k]["data_fraction"] > 0 and ways[k]["augment_s_per_round"] > 0
        assert ways["fused"]["fused_groups"] == [2]
        rivals = {k: ways[k]["images_per_s"] for k in ("plain", "vmap")}
        ours = {k: ways[k]["images_per_s"] for k in ("streams", "fused")}
        assert m["best_rival"] == max(rivals, key=rivals.get) and m["ours"] == max(ours, key=ours.get)
        assert m["ratios"]["ours/best_rival"] == pytest.approx(max(ours.values()) / max(rivals.values()))
        assert m["ratios"]["fused/streams"] == pytest.approx(ours["fused"] / ours["streams"])
        assert f"## {name}" in md and "FusedTrainer, 2 masked models" in md and "torch.func ensemble" in md
    assert "Ours (" in md and "best rival" in md


def test_flops_per_image_is_the_analytic_count():
    """2 FLOPs per multiply-accumulate × 3 (forward + backward); conv MACs = out elements · C_in/groups · k²,
    linear MACs = out · in."""
    toy = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    macs = 4 * 8 * 8 * 3 * 9 + 8 * 4 * 4 * 2 * 9 + 128 * 5
    assert B.flops_per_image(toy, (3, 8, 8)) == 6 * macs
    # the same count per layer, by module path (conv_flop_factor weighs the convolutions with it)
    assert B.layer_macs(toy, (3, 8, 8)) == {"0": 4 * 8 * 8 * 3 * 9, "2": 8 * 4 * 4 * 2 * 9, "4": 128 * 5}
    assert B.layer_macs(toy, (3, 8, 8), kinds=(nn.Conv2d,)) == {"0": 4 * 8 * 8 * 3 * 9, "2": 8 * 4 * 4 * 2 * 9}
    # CIFAR ResNet-20 with 1x1 projection shortcuts: 40.8M MACs (40.55M + the shortcuts); VGG-19: 398M
    assert B.flops_per_image(get_model("resnet20", 3, 10, 32), (3, 32, 32)) / 6 == pytest.approx(40.81e6, rel=1e-3)
    assert B.flops_per_image(get_model("vgg19", 3, 10, 32), (3, 32, 32)) / 6 == pytest.approx(398.1e6, rel=1e-3)


def test_traffic_model_counts_each_new_tensor_once_per_access():
    """Per leaf module that makes a new tensor: 3·in + 2·out elements (forward read + write; backward reads
    the output gradient and the saved input, writes the input gradient); views (Flatten, in-place ReLU)
    count nothing; parameters: 8 fp32 accesses per batch."""
    toy = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.ReLU(inplace=True), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 5))
    t = B.traffic_per_image(toy, (3, 8, 8))
    conv = 3 * 192 + 2 * 256
    relu = 3 * 256 + 2 * 256
    lin = 3 * 256 + 2 * 5
    assert t == {"activations": conv + relu + lin, "parameters": (4 * 3 * 9 + 4) + (256 * 5 + 5)}
    assert B.bytes_per_image(t, batch_size=4, precision="bf16") == 2 * t["activations"] + 8 * 4 * t["parameters"] / 4
    assert B.bytes_per_image(t, batch_size=4, precision="fp32") == 4 * t["activations"] + 8 * 4 * t["parameters"] / 4
    with pytest.raises(ValueError, match="precision"):
        B.bytes_per_image(t, batch_size=4, precision="fp16")


def test_tiny_run_records_modelled_traffic(tmp_path):
    """tbps_model = images/s × bytes_per_image(traffic, batch, precision) / 1e12; no bandwidth for a CPU."""
    assert B.main(TINY + ["--rivals", "streams", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "bench_train.json").read_text())["models"]["resnet20"]
    w = m["ways"]["streams"]
    assert w["tbps_model"] == pytest.approx(
        w["images_per_s"] * B.bytes_per_image(m["traffic_per_image"], batch_size=16, precision=w["precision"]) / 1e12)
    assert w["fraction_of_bandwidth"] is None and w["peak_tbps"] is None
    assert "TB/s (traffic model)" in (tmp_path / "bench_train.md").read_text()


def test_peaks_by_device_name():
    assert B.peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.0
    assert B.peak_tflops("NVIDIA H100 80GB HBM3", "fp32") == 67.0
    assert B.peak_tflops("NVIDIA H200", "bf16") == 989.0
    assert B.peak_tflops("NVIDIA H100 PCIe", "bf16") == 756.0
    assert B.peak_tflops("NVIDIA GeForce RTX 4090", "bf16") is None
    assert B.peak_tflops("cpu", "fp32") is None
    assert B.peak_tbps("NVIDIA H200") == 4.8 and B.peak_tbps("NVIDIA H100 80GB HBM3") == 3.35
    assert B.peak_tbps("NVIDIA A100-SXM4-80GB") is None and B.peak_tbps("cpu") is None


def test_compile_rival_times_out_instead_of_waiting():
    data = synthetic_data(64, 3, 8, 10)
    r = B.bench_compile("resnet20", data, steps=2, warmup=1, batch_size=16, device="cpu", width=0.25, timeout_s=0.5)
    assert "timed out after 0.5 s" in r["error"] and "images_per_s" not in r
    with pytest.raises(ValueError, match="mode must be one of"):
        B.bench_compile("resnet20", data, steps=2, warmup=1, batch_size=16, device="cpu", mode="fast")


@pytest.mark.slow
def test_compile_rival_runs_in_a_subprocess():  # ≈ 30 s of inductor compilation on 2 CPU cores
    data = synthetic_data(64, 3, 8, 10)
    r = B.bench_compile("resnet20", data, steps=2, warmup=1, batch_size=16, device="cpu", width=0.25, timeout_s=300)
    assert r.get("images_per_s", 0) > 0, r
    assert r["mode"] == "max-autotune" and r["setup_seconds"] > 0


@pytest.mark.parametrize("argv,msg", [
    (["--rivals", "plain,bogus"], "--rivals must be a comma-separated subset"),
    (["--model", "resnet21"], "--model: unknown model"),
    (["--compile-timeout", "-1"], "--compile-timeout must be"),
    (["--fuse-width", "0"], "--fuse-width must be a positive int"),
    (["--conv-block", "0"], "--conv-block must be a positive int, got '0'"),
    (["--conv-block", "2.5"], "--conv-block must be a positive int, got '2.5'"),
    (["--conv-block", "2,4"], "--conv-block must be a positive int, got '2,4'"),
    (["--fused-compile", "reduce-overhead"], "--fused-compile: invalid choice: 'reduce-overhead'"),
    (["--conv-gemm", "yes"], "--conv-gemm: invalid choice: 'yes'"),
    (["--conv-gemm", "strided", "--conv-block", "2"], "--conv-gemm strided needs --conv-block 1, got --conv-block 2"),
    (["--out", "/proc/sketchbound-bench/x"], "--out"),
    (["--sgd-kernel", "fast"], "--sgd-kernel: invalid choice: 'fast'"),
    (["--sgd-kernel", "triton"], "--sgd-kernel='triton' cannot run"),
    (["--weight-copies"], "--weight-copies needs --sgd-kernel triton, got --sgd-kernel foreach"),
])
def test_bad_arguments_exit_2_with_one_line(argv, msg, capsys, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # a CPU without the interpreter cannot run Triton
    with pytest.raises(SystemExit) as e:
        B.main(TINY + argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and msg in err[0], err



@pytest.mark.parametrize("name,fam", [
    ("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc", "convolution"),
    ("cudnn::bn_fw_tr_1C11_singleread_spec<__nv_bfloat16>", "batch norm"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", "elementwise"),
    ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel", "optimizer / mask"),
    ("aten::mkldnn_convolution", "convolution"), ("aten::clamp_min", "elementwise"), ("mystery_kernel", "other"),
    ("triton_per_fused__native_batch_norm_legit_functional_relu_3", "Inductor (Triton)"),
])
def test_profile_step_sorts_kernels_into_families(name, fam, dnn_script):
    """benchmarks/scripts/profile_step.py: a kernel name goes to the first family whose pattern it matches."""
    assert dnn_script("profile_step").family(name) == fam


def test_profile_step_counts_each_kernel_once(dnn_script):
    """A CPU operator's device time is the sum of the kernels it launched, which are events of their own:
    the summary counts device events only (a profile of commit 5bb97d7 counted aten::conv2d & co. twice)."""
    from types import SimpleNamespace as E

    from torch.autograd import DeviceType
    events = [E(key="aten::conv2d", device_type=DeviceType.CPU, device_time_total=300.0, count=2,
                self_cpu_time_total=5.0),
              E(key="sm90_xmma_fprop_implicit_gemm_bf16", device_type=DeviceType.CUDA, device_time_total=200.0,
                count=2, self_cpu_time_total=0.0),
              E(key="void at::native::batch_norm_collect_statistics_kernel", device_type=DeviceType.CUDA,
                device_time_total=100.0, count=2, self_cpu_time_total=0.0)]
    r = dnn_script("profile_step").summarize(events, steps=2, top=5)
    assert r["kernel_us_per_step"] == 150.0
    assert r["families"]["convolution"]["us_per_step"] == 100.0 and r["families"]["batch norm"]["share"] == 0.3333
    assert [t["kernel"] for t in r["top"]] == ["sm90_xmma_fprop_implicit_gemm_bf16",
                                             "void at::native::batch_norm_collect_statistics_kernel"]


@pytest.mark.slow  # one of the longest default tests; CI runs the slow suite
def test_profile_step_tiny_cpu_run_accounts_for_all_kernel_time(tmp_path, capsys, dnn_script):
    """Both trainers profiled on the CPU (aten operators stand in for kernels): the families' shares sum
    to 1 and their times to the total, per step."""
    mod = dnn_script("profile_step")
    assert mod.main(["--device", "cpu", "--jobs", "2", "--steps", "2", "--batch-size", "8", "--image-size", "8",
                     "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "profile_resnet20_j2.json").read_text())
    for way in ("streams", "fused"):
        r = res["ways"][way]
        fams = r["families"]
        assert abs(sum(f["share"] for f in fams.values()) - 1) < 1e-3
        assert abs(sum(f["us_per_step"] for f in fams.values()) - r["kernel_us_per_step"]) < 1 + 1e-3 * r["kernel_us_per_step"]
        assert fams["convolution"]["share"] > 0.1 and r["top"] and r["images_per_s_profiled"] > 0
    with pytest.raises(SystemExit) as e:
        mod.main(["--device", "cpu", "--ways", "streams,bogus", "--out", str(tmp_path)])
    assert e.value.code == 2 and "--ways" in capsys.readouterr().err


def test_profile_step_conv_block_reaches_the_fused_trainer(tmp_path, capsys, dnn_script, fused_init_spy):
    """profile_step --conv-block K builds FusedTrainer(conv_block=K) (only the fused way takes it; the
    streams way is left out here to keep the test short), records K and names the file ..._k<K>.json;
    K < 1 exits 2."""
    mod = dnn_script("profile_step")
    seen = fused_init_spy("conv_block")
    assert mod.main(["--device", "cpu", "--jobs", "2", "--steps", "1", "--batch-size", "4", "--image-size", "8",
                     "--ways", "fused", "--conv-block", "2", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "profile_resnet20_j2_k2.json").read_text())
    assert seen == [2] and res["conv_block"] == 2 and set(res["ways"]) == {"fused"}
    with pytest.raises(SystemExit) as e:
        mod.main(["--device", "cpu", "--conv-block", "0", "--out", str(tmp_path)])
    assert e.value.code == 2 and "--conv-block" in capsys.readouterr().err


def test_profile_step_profiles_training_only(tmp_path, monkeypatch, dnn_script):
    """The profiled epoch is not the run's last, so no model evaluates its test set inside the profile (up to
    commit 77f1d46 every profile held each model's final evaluation)."""
    from sketchbound.dnn.training import trainer as T
    calls = []
    real = T.JobState.evaluate
    monkeypatch.setattr(T.JobState, "evaluate", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    mod = dnn_script("profile_step")
    assert mod.main(["--device", "cpu", "--jobs", "2", "--steps", "1", "--batch-size", "4", "--image-size", "8",
                     "--ways", "streams,fused", "--out", str(tmp_path)]) == 0
    assert calls == []


def test_nchw_flag_reaches_both_of_our_trainers(monkeypatch, tmp_path, dnn_script):
    """--nchw hands channels_last=False to the streams and fused trainers (default None: their own choice,
    channels_last on CUDA) and is recorded in the JSON; profile_step's --nchw likewise."""
    seen = {}

    def spy(way, real):
        def f(*args, channels_last=None, **kw):
            seen[way] = channels_last
            return real(*args, channels_last=channels_last, **kw)
        return f
    monkeypatch.setattr(B, "bench_concurrent", spy("streams", B.bench_concurrent))
    monkeypatch.setattr(B, "bench_fused", spy("fused", B.bench_fused))
    for nchw in (False, True):
        out = tmp_path / str(nchw)
        assert B.main(TINY + ["--rivals", "streams,fused", "--out", str(out)] + (["--nchw"] if nchw else [])) == 0
        assert seen == {"streams": False if nchw else None, "fused": False if nchw else None}
        assert json.loads((out / "bench_train.json").read_text())["nchw"] is nchw
        assert (", NCHW" in (out / "bench_train.md").read_text()) is nchw
    mod = dnn_script("profile_step")
    assert mod.main(["--device", "cpu", "--jobs", "2", "--steps", "1", "--batch-size", "8", "--image-size", "8",
                     "--ways", "fused", "--nchw", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "profile_resnet20_j2.json").read_text())["nchw"] is True


def test_sgd_kernel_reaches_both_of_our_trainers_and_is_recorded(monkeypatch, tmp_path):
    """--sgd-kernel triton hands sgd_kernel='triton' to the streams and the fused way (default 'foreach', as
    before) and is recorded at the top of the JSON; here the trainers are then built with 'foreach' (Triton
    does not run on this CPU; the kernel itself is checked under Triton's interpreter, test_triton_kernels.py)."""
    seen = {}

    real = B._bench_trainer
    way = {"ConcurrentTrainer": "streams", "FusedTrainer": "fused"}

    def spy(cls, *args, sgd_kernel="foreach", **kw):  # the trainers' keyword arguments, as built
        seen[way[cls.__name__]] = sgd_kernel
        return real(cls, *args, sgd_kernel="foreach", **kw)
    monkeypatch.setattr(B, "_bench_trainer", spy)
    monkeypatch.setattr(B, "check_sgd_kernel", lambda k, dev, name: k)
    for kernel in ("foreach", "triton"):
        out = tmp_path / kernel
        assert B.main(TINY + ["--rivals", "streams,fused", "--out", str(out), "--sgd-kernel", kernel]) == 0
        assert seen == {"streams": kernel, "fused": kernel}
        js = json.loads((out / "bench_train.json").read_text())
        assert js["sgd_kernel"] == kernel
        assert all(w["sgd_kernel"] == "foreach" for w in js["models"]["resnet20"]["ways"].values())  # as built


def test_weight_copies_reach_the_fused_way_only_and_are_recorded(monkeypatch, tmp_path):
    """--weight-copies (with --sgd-kernel triton) hands weight_copies=True to the fused way only and is recorded
    at the top of the JSON; the trainers are then built without Triton (it does not run on this CPU)."""
    seen = {}

    real = B._bench_trainer
    way = {"ConcurrentTrainer": "streams", "FusedTrainer": "fused"}

    def spy(cls, *args, sgd_kernel="foreach", **kw):  # the trainers' keyword arguments, as built
        seen[way[cls.__name__]] = kw.pop("weight_copies", "absent")
        return real(cls, *args, sgd_kernel="foreach", **kw)
    monkeypatch.setattr(B, "_bench_trainer", spy)
    monkeypatch.setattr(B, "check_sgd_kernel", lambda k, dev, name: k)
    assert B.main(TINY + ["--rivals", "streams,fused", "--out", str(tmp_path), "--sgd-kernel", "triton",
                          "--weight-copies"]) == 0
    assert seen == {"streams": "absent", "fused": True}
    js = json.loads((tmp_path / "bench_train.json").read_text())
    assert js["weight_copies"] is True and js["models"]["resnet20"]["ways"]["fused"]["weight_copies"] is False


def test_fuse_width_splits_the_fused_rival_into_cohorts(tmp_path):
    """--fuse-width 1 with 2 jobs: two fused cohorts of one model (recorded as groups [1, 1] and in the JSON)."""
    assert B.main(TINY + ["--rivals", "fused", "--fuse-width", "1", "--out", str(tmp_path)]) == 0
    js = json.loads((tmp_path / "bench_train.json").read_text())
    assert js["fuse_width"] == 1
    assert js["models"]["resnet20"]["ways"]["fused"]["fused_groups"] == [1, 1]
    assert "groups [1, 1]" in (tmp_path / "bench_train.md").read_text()


def test_conv_block_reaches_the_fused_way_only_and_is_recorded(monkeypatch, tmp_path):
    """--conv-block K goes to bench_fused only (the streams way never sees it) and is recorded in the JSON
    (top level and the fused record, default 1); the fused record's conv_flop_factor is the convolution work
    done per useful convolution work, Σ_cohorts n·block / Σ n for architectures whose convolutions all use
    one block: 2 for 2 jobs in blocks of 2, (3·3 + 1·1) / 4 = 2.5 for 4 jobs in cohorts [3, 1] at K = 3; the
    reported TFLOP/s stay the useful count (images/s × flops_per_image)."""
    seen = {}

    def spy(way, real):
        def f(*args, **kw):
            seen[way] = kw.get("conv_block", "absent")
            return real(*args, **kw)
        return f
    monkeypatch.setattr(B, "bench_concurrent", spy("streams", B.bench_concurrent))
    monkeypatch.setattr(B, "bench_fused", spy("fused", B.bench_fused))
    runs = [([], 1, 1.0, [2]), (["--conv-block", "2"], 2, 2.0, [2]),
            (["--jobs", "4", "--fuse-width", "3", "--conv-block", "3"], 3, 2.5, [3, 1])]
    for i, (extra, k, factor, groups) in enumerate(runs):
        out = tmp_path / str(i)
        rivals = "streams,fused" if i == 1 else "fused"  # the streams way once: it is slow on a CPU
        assert B.main(TINY + ["--rivals", rivals, "--out", str(out)] + extra) == 0
        assert seen == ({"streams": "absent", "fused": k} if i == 1 else {"fused": k})
        seen.clear()
        js = json.loads((out / "bench_train.json").read_text())
        m = js["models"]["resnet20"]
        fused = m["ways"]["fused"]
        assert js["conv_block"] == k and fused["conv_block"] == k and fused["fused_groups"] == groups
        assert fused["conv_flop_factor"] == pytest.approx(factor)
        assert js["fused_compile"] is None and fused["compile_mode"] is None  # eager unless --fused-compile
        if i == 1:
            assert "conv_block" not in m["ways"]["streams"]
        assert fused["tflops"] == pytest.approx(fused["images_per_s"] * m["flops_per_image"] / 1e12)
        md = (out / "bench_train.md").read_text()
        assert (f"conv block {k} ({factor:.3g}× conv FLOPs)" in md) is (k != 1)


def test_conv_gemm_reaches_the_fused_trainer_and_is_recorded(tmp_path, fused_init_spy):
    """--conv-gemm strided builds FusedTrainer(conv_gemm="strided"), whose four strided ResNet-20 convolutions
    then run in the GEMM form; the choice is recorded at the top of the JSON and in the fused way's entry,
    and the masks stay exact."""
    seen = fused_init_spy("conv_gemm")
    assert B.main(TINY + ["--rivals", "fused", "--conv-gemm", "strided", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "bench_train.json").read_text())
    fused = res["models"]["resnet20"]["ways"]["fused"]
    assert seen == ["strided"] and res["conv_gemm"] == "strided" and fused["conv_gemm"] == "strided"
    assert fused["masks_exact"] and "conv GEMM strided" in (tmp_path / "bench_train.md").read_text()


def test_fused_compile_reaches_the_fused_way_only_and_is_recorded(monkeypatch, tmp_path):
    """--fused-compile MODE hands compile_mode=MODE to the fused way and is recorded at the top of the JSON
    (its default, eager, is checked in the --conv-block test above)."""
    seen = []
    real = B._bench_trainer

    def spy(cls, *args, compile_mode=None, **kw):  # the fused trainer's keyword arguments, as built
        seen.append(compile_mode)
        return real(cls, *args, **kw)  # eager here: the compiled path is tested in test_fused (slow)
    monkeypatch.setattr(B, "_bench_trainer", spy)
    assert B.main(TINY + ["--rivals", "fused", "--fused-compile", "default", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "bench_train.json").read_text())
    assert seen == ["default"] and res["fused_compile"] == "default"


def test_profile_step_fused_compile_reaches_the_fused_trainer(tmp_path, capsys, dnn_script, fused_init_spy):
    """profile_step --fused-compile MODE builds FusedTrainer(compile_mode=MODE) for the fused way only (the
    streams trainer takes no such argument), records it and names the file ..._c<MODE>.json; a mode outside
    fused.COMPILE_MODES exits 2 with one line naming the flag. The trainer is spied, not compiled (the
    compiled step itself is tested in test_fused.py, marked slow)."""
    mod = dnn_script("profile_step")
    seen = fused_init_spy("compile_mode", build_with=None)  # eager here: the flag's path is what is checked
    assert mod.main(["--device", "cpu", "--jobs", "2", "--steps", "1", "--batch-size", "4", "--image-size", "8",
                     "--ways", "fused", "--fused-compile", "default", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "profile_resnet20_j2_cdefault.json").read_text())
    assert seen == ["default"] and res["fused_compile"] == "default" and set(res["ways"]) == {"fused"}
    with pytest.raises(SystemExit) as e:
        mod.main(["--device", "cpu", "--fused-compile", "reduce-overhead", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and "--fused-compile" in err[-1] and "reduce-overhead" in err[-1]


def test_profile_step_conv_gemm_and_sgd_kernel_flags(tmp_path, capsys, dnn_script, fused_init_spy, monkeypatch):
    """profile_step --conv-gemm strided builds FusedTrainer(conv_gemm='strided'), records it and names the file
    ..._gstrided.json; --conv-gemm outside fused.CONV_GEMM and --sgd-kernel triton on a CPU without Triton's
    interpreter exit 2 with one line naming the flag, before anything is profiled."""
    mod = dnn_script("profile_step")
    seen = fused_init_spy("conv_gemm")
    assert mod.main(["--device", "cpu", "--jobs", "2", "--steps", "1", "--batch-size", "4", "--image-size", "8",
                     "--ways", "fused", "--conv-gemm", "strided", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "profile_resnet20_j2_gstrided.json").read_text())
    assert seen == ["strided"] and res["conv_gemm"] == "strided" and res["sgd_kernel"] == "foreach"
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    for argv, flag in ((["--conv-gemm", "some"], "--conv-gemm"), (["--sgd-kernel", "triton"], "--sgd-kernel")):
        with pytest.raises(SystemExit) as e:
            mod.main(["--device", "cpu", "--out", str(tmp_path / "bad")] + argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and flag in err[-1]
    assert not (tmp_path / "bad").exists()



@pytest.mark.parametrize("n", [1, 3])
def test_grouped_conv_bench_alternative_forms_equal_the_strided_convolutions(n, dnn_script):
    """benchmarks/scripts/grouped_conv_bench.py: each stride-1 form ("as ...") equals the stride-2 grouped convolution
    listed before it, in float64 (to 1e-12): a 1×1 convolution with stride 2 is the 1×1 convolution of the input
    at even positions, and a 3×3 one with padding 1 and stride 2 is the even positions of its stride-1 output."""
    mod = dnn_script("grouped_conv_bench")
    cases = mod.cases(n)
    pairs = [(cases[i - 1], c) for i, c in enumerate(cases) if " as " in c[0]]
    assert len(pairs) == 4
    g = torch.Generator().manual_seed(0)
    for (name, cin, cout, size, k, strided), (alt_name, cin2, cout2, size2, k2, alt) in pairs:
        assert (cin, cout, size, k) == (cin2, cout2, size2, k2) and "s2" in name, (name, alt_name)
        x = torch.randn(2, n * cin, size // 4, size // 4, generator=g, dtype=torch.float64)
        w = torch.randn(n * cout, cin, k, k, generator=g, dtype=torch.float64)
        torch.testing.assert_close(alt(x, w), strided(x, w), rtol=1e-12, atol=1e-12)
    gemms = [c for c in cases if c[0].endswith(" GEMM")]  # the GEMM forms equal the grouped convolution too
    conv_of = {c[0]: c for c in cases}
    assert len(gemms) == 5
    for name, cin, cout, size, k, form in gemms:
        ref = conv_of[name[:-len(" GEMM")] + (" (reference)" if " s1 " in name else "")][5]
        x = torch.randn(2, n * cin, size // 4, size // 4, generator=g, dtype=torch.float64)
        w = torch.randn(n * cout, cin, k, k, generator=g, dtype=torch.float64)
        torch.testing.assert_close(form(x, w), ref(x, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model,size,shapes", [("resnet20", 8, 8), ("vgg19", 32, 9)])
def test_grouped_conv_bench_model_cases_are_each_distinct_shape_in_both_forms(model, size, shapes, dnn_script):
    """--model M: one (cuDNN, GEMM) pair per distinct convolution shape of M (ResNet-20: 8 — first layer,
    three 3×3 stride-1 stages, two 3×3 and two 1×1 stride-2; VGG-19: 9), and each GEMM form equals its grouped
    convolution in float64 to 1e-12 (3 models; ResNet-20 on 8×8 images, VGG-19 on 32×32, whose five stages
    would merge shapes below that)."""
    cases = dnn_script("grouped_conv_bench").model_cases(model, 3, image_size=size)
    assert len(cases) == 2 * shapes and len({c[0] for c in cases}) == 2 * shapes
    g = torch.Generator().manual_seed(0)
    for (name, cin, cout, size, k, conv), (gname, *shape, gemm) in zip(cases[::2], cases[1::2]):
        assert gname == name + " GEMM" and tuple(shape) == (cin, cout, size, k)
        x = torch.randn(2, 3 * cin, size, size, generator=g, dtype=torch.float64)
        w = torch.randn(3 * cout, cin, k, k, generator=g, dtype=torch.float64)
        torch.testing.assert_close(gemm(x, w), conv(x, w), rtol=1e-12, atol=1e-12)


def test_grouped_conv_bench_tiny_cpu_run_writes_every_case(tmp_path, capsys, dnn_script):
    """The script runs on a CPU at tiny sizes (no cuDNN kernels to count there), writes one JSON record per
    case, and refuses a non-positive size in one line with exit 2."""
    mod = dnn_script("grouped_conv_bench")
    assert mod.main(["--device", "cpu", "--models", "2", "--batch-size", "2", "--size-div", "8", "--iters", "1",
                     "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "grouped_conv_bench.json").read_text())
    assert len(res["cases"]) == 15 and all(c["ms_fwd_bwd"] > 0 for c in res["cases"].values())
    with pytest.raises(SystemExit) as e:
        mod.main(["--device", "cpu", "--models", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and "--models" in err[-1]
