"""The benchmark's report: each rival's images/s against the plain loop, achieved TFLOP/s and bandwidth
against the card's peaks (:func:`summarise`), and the Markdown table of a whole run (:func:`to_markdown`)."""
from __future__ import annotations

from sketchbound.dnn.experiments.bench_costs import bytes_per_image, peak_tbps, peak_tflops

__all__ = ["LABELS", "summarise", "to_markdown"]

LABELS = {"plain": "plain fp32 loop, 1 model", "compile": "torch.compile({mode}), 1 model, fp32",
          "vmap": "torch.func ensemble (stack_module_state + vmap), {jobs} models, fp32",
          "streams": "ConcurrentTrainer, {jobs} masked models (graphs on streams)",
          "fused": "FusedTrainer, {jobs} masked models horizontally fused"}


def summarise(res: dict, flops: float, device_name: str, batch_size: int | None = None) -> None:
    """Add TFLOP/s, fraction of peak, modelled TB/s and fraction of bandwidth (where ``res`` has
    ``traffic_per_image`` and ``batch_size`` is given), best rival and ratios to one model's results (in place).

    Parameters
    ----------
    res : dict
        One model's results: ``ways`` = ``{way: {"images_per_s", "precision", ...}}``.
    flops : float
        Training FLOPs per image (:func:`~sketchbound.dnn.experiments.bench_costs.flops_per_image`).
    device_name : str
        The card (its peaks).
    batch_size : int, optional
        Images per batch (for the traffic model).

    Returns
    -------
    None

    Examples
    --------
    >>> res = {"ways": {"plain": {"images_per_s": 1000.0, "precision": "fp32"},
    ...                 "streams": {"images_per_s": 3000.0, "precision": "bf16"}}}
    >>> summarise(res, 1e9, "cpu")
    >>> res["best_rival"], res["ours"], res["ratios"]["ours/best_rival"], res["ways"]["plain"]["tflops"]
    ('plain', 'streams', 3.0, 1.0)
    """
    for r in res["ways"].values():
        if "images_per_s" not in r:
            continue
        r["tflops"] = r["images_per_s"] * flops / 1e12
        peak = peak_tflops(device_name, r["precision"])
        r["peak_tflops"] = peak
        r["fraction_of_peak"] = r["tflops"] / peak if peak else None
        if "traffic_per_image" in res and batch_size:
            r["tbps_model"] = r["images_per_s"] * bytes_per_image(res["traffic_per_image"], batch_size=batch_size,
                                                                  precision=r["precision"]) / 1e12
            bw = peak_tbps(device_name)
            r["peak_tbps"] = bw
            r["fraction_of_bandwidth"] = r["tbps_model"] / bw if bw else None
    rivals = {k: v["images_per_s"] for k, v in res["ways"].items() if k in ("plain", "compile", "vmap") and "images_per_s" in v}
    ours = {k: v["images_per_s"] for k, v in res["ways"].items() if k in ("streams", "fused") and "images_per_s" in v}
    res["best_rival"] = max(rivals, key=rivals.get) if rivals else None
    res["ours"] = max(ours, key=ours.get) if ours else None
    ratios = {}
    if rivals and ours:
        ratios["ours/best_rival"] = ours[res["ours"]] / rivals[res["best_rival"]]
        for k in ours:
            ratios[f"{k}/best_rival"] = ours[k] / rivals[res["best_rival"]]
    if "streams" in ours and "fused" in ours:
        ratios["fused/streams"] = ours["fused"] / ours["streams"]
    res["ratios"] = ratios


def to_markdown(out: dict) -> str:
    """The benchmark's results as Markdown (one table per model).

    Parameters
    ----------
    out : dict
        The whole run (``device``, ``torch``, ``date``, ``batch_size``, ``jobs``, ``density``, ``command``,
        ``models`` = ``{name: summarised results}``), as ``bench_train.json`` holds it.

    Returns
    -------
    str

    Examples
    --------
    >>> out = {"device": "cpu", "torch": "2", "date": "today", "batch_size": 128, "jobs": 8, "density": 0.1,
    ...        "command": "bench", "models": {}}
    >>> to_markdown(out).splitlines()[0]
    '# bench_train: cpu'
    """
    lines = [f"# bench_train: {out['device']}", "",
             f"torch {out['torch']}, commit {out.get('commit')}, {out['date']}, batch {out['batch_size']}, "
             f"{out['jobs']} models for vmap/streams/fused, masks at density {out['density']} (ours only).",
             f"Command: `{out['command']}`", ""]
    for name, res in out["models"].items():
        lines += [f"## {name} ({res['flops_per_image'] / 1e9:.4g} GFLOP per training image)", "",
                  "| way to train | images/s | TFLOP/s | of peak | TB/s (traffic model) | data share of step | note |",
                  "|---|---|---|---|---|---|---|"]
        for k, r in res["ways"].items():
            label = LABELS[k].format(mode=r.get("mode", out.get("compile_mode")), jobs=out["jobs"])
            if k in ("streams", "fused") and not r.get("cuda_graphs", True):
                label = label.replace(" (graphs on streams)", "") + " (eager, no CUDA graphs)"
            if k in ("streams", "fused") and out.get("nchw"):
                label += ", NCHW"
            if "images_per_s" not in r:
                lines.append(f"| {label} | – | – | – | – | – | {r.get('error', 'not run')} |")
                continue
            frac = f"{100 * r['fraction_of_peak']:.1f}% of {r['peak_tflops']:g} ({r['precision']})" \
                if r.get("fraction_of_peak") is not None else f"n/a ({r['precision']})"
            data = f"{100 * r['data_fraction']:.1f}%" if "data_fraction" in r else "–"
            bw = "–" if "tbps_model" not in r else f"{r['tbps_model']:.2f}" + (
                f" ({100 * r['fraction_of_bandwidth']:.0f}% of {r['peak_tbps']:g})" if r.get("fraction_of_bandwidth") else "")
            note = []
            if "masks_exact" in r:
                note.append("pruned weights exactly 0" if r["masks_exact"] else "MASK VIOLATED")
            if "fused_groups" in r:
                note.append(f"groups {r['fused_groups']}")
            if r.get("compile_mode"):
                note.append(f"torch.compile {r['compile_mode']}")
            if r.get("conv_gemm", "off") != "off":
                note.append(f"conv GEMM {r['conv_gemm']}")
            if r.get("sgd_kernel", "foreach") != "foreach":
                note.append(f"SGD kernel {r['sgd_kernel']}" + (" with weight copies" if r.get("weight_copies") else ""))
            if r.get("conv_block", 1) != 1:
                note.append(f"conv block {r['conv_block']} ({r['conv_flop_factor']:.3g}× conv FLOPs)")
            if "setup_seconds" in r:
                note.append(f"setup {r['setup_seconds']:.1f} s"
                            + (f" after {r['init_seconds']:.1f} s of construction" if r.get("init_seconds", 0) >= 0.5 else ""))
            lines.append(f"| {label} | {r['images_per_s']:,.0f} | {r['tflops']:.2f} | {frac} | {bw} | {data} | {'; '.join(note)} |")
        rt = res["ratios"]
        if "ours/best_rival" in rt:
            lines += ["", f"Ours ({res['ours']}) / best rival ({res['best_rival']}): **{rt['ours/best_rival']:.2f}×**"
                      + (f"; fused / streams: **{rt['fused/streams']:.2f}×**" if "fused/streams" in rt else "")]
        elif "fused/streams" in rt:
            lines += ["", f"fused / streams: **{rt['fused/streams']:.2f}×**"]
        lines.append("")
    blockdense = any(r.get("conv_block", 1) != 1 for res in out["models"].values() for r in res["ways"].values())
    lines += ["Rivals train unmasked models (upper bounds for masked ones). FLOPs are dense (pruned weights count)"
              + (" and useful (the block-dense fused convolutions' extra work on zeros, `conv_flop_factor`, is not "
                 "counted)" if blockdense else "") + "; fp32 rivals may run their convolutions on TF32 tensor cores (cuDNN default), so their share of the fp32 "
              "peak is optimistic. The data share is measured on its own (permutation + crop + flip per epoch, gather + "
              "normalise per step), not overlapped. TB/s is a model, not a measurement: the step's activation and "
              "parameter traffic (`traffic_per_image`) times images/s.", ""]
    return "\n".join(lines)
