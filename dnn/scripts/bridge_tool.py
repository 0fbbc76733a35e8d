"""The bridge's deep rungs around the table runner: pilot constants, measured errors, per-rung CSV.

usage (repo root; the same ``--set``/``--epochs`` overrides as the table runs were given)::

    python dnn/scripts/bridge_tool.py constants dnn/configs/bridge_pilot_resnet20.toml --runs-dir runs \\
        --out dnn/configs/bridge_constants_resnet20.json
    python dnn/scripts/bridge_tool.py measure dnn/configs/bridge_resnet20.toml --runs-dir runs
    python dnn/scripts/bridge_tool.py csv dnn/configs/bridge_resnet20.toml --runs-dir runs --rung resnet20 \\
        --out validation/bridge/resnet20.csv

``constants``: (``--check``: exit 0 only if ``--out`` came from this table's pilot runs) per-layer ``c_l``, ``σ_l`` (:func:`sketchbound.dnn.theory.bridge.layer_constants`) from the
table's finished dense runs (pilot seeds): the initial weights rebuilt from the seed, the trained ones from
each run's ``checkpoint.pt``. ``measure``: for every finished run of the table with ``bridge_record``, Lemma
4.3's error of its mask at the weights of the table's dense run of the same seed (needs that run's
``checkpoint.pt`` and the run's ``mask.pt``), written to ``bridge_measured.json`` in the run's folder.
``csv``: one row per finished masked run: rung, model, density, law, procedure, seed, predicted_error,
measured_error, test_acc (a fraction, as the CPU rungs), test_loss, score (empty where a quantity is missing).
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sketchbound._cli import OneLineParser, cli_errors, torch_device  # noqa: E402
from sketchbound._io import atomic_write, atomic_write_json, check_output_path  # noqa: E402

MEASURED_FILE = "bridge_measured.json"
COLUMNS = ("rung", "model", "density", "law", "procedure", "seed", "predicted_error", "measured_error", "test_acc",
           "test_loss", "score")
#: law labels: the §7 randomized and shuffle masks are the tempered law at beta 1 and 0 (same scores, same draws);
#: SynFlow's published threshold (mask global) also thresholds its rounds, so it is not beta=inf's scores
LAWS = {"randomized": "beta=1", "global": "threshold", "shuffled": "beta=0", "variance_aware": "variance-aware"}


def _spec(args):
    from sketchbound.dnn.experiments.table import expand, load_table, parse_overrides  # noqa: PLC0415
    ov = parse_overrides(args.set)
    if args.epochs is not None:
        ov["epochs"] = args.epochs
    if args.data_root is not None:
        ov["data_root"] = args.data_root
    return expand(load_table(args.table, overrides=ov))


def _twin_key(cfg) -> tuple:
    return cfg.trainer_key() + (cfg.model, cfg.width, cfg.init, cfg.seed)


def _trained(cfg, runs_dir, device):
    """The run's network at the weights of its ``checkpoint.pt`` (its last epoch), or None."""
    from sketchbound.dnn.experiments.run import build_model, data_for, load_result  # noqa: PLC0415
    from sketchbound.dnn.training.checkpoint import load_verified  # noqa: PLC0415
    ck = cfg.run_dir(runs_dir) / "checkpoint.pt"
    if load_result(cfg, runs_dir) is None or not ck.is_file():
        return None
    st, _ = load_verified(ck, identity={"kind": "checkpoint", "name": cfg.run_name(), "seed": int(cfg.seed)},
                          map_location=device)
    model = build_model(cfg, data_for(cfg), device)
    model.load_state_dict(st["model"])
    return model


def cmd_constants(args) -> int:
    from sketchbound.dnn.experiments.run import build_model, data_for  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    from sketchbound.dnn.theory.bridge import layer_constants  # noqa: PLC0415
    out = check_output_path(args.out, suffixes=(".json",), flag="out")
    dense = {c.run_name(): c for _, _, c in _spec(args) if c.method == "dense"}
    if args.check:  # exit 0 only when the file exists and came from this table's pilot runs (same overrides)
        try:
            got = {p["run"] for p in json.loads(Path(out).read_text(encoding="utf-8"))["pilots"]}
        except (OSError, ValueError, KeyError, TypeError):
            got = set()
        ok = bool(got) and got <= set(dense)
        print(f"{out}: {'from this table' if ok else 'missing or not from this table pilots'}")
        return 0 if ok else 1
    dev = torch_device("bridge_tool constants", args.device, default="cpu")
    inits, trained, used = [], [], []
    for name, c in dense.items():
        star = _trained(c, args.runs_dir, dev)
        if star is None:
            continue
        init = build_model(c, data_for(c), dev)
        inits.append({n: p.detach() for n, p in prunable_parameters(init)})
        trained.append({n: p.detach() for n, p in prunable_parameters(star)})
        used.append({"run": name, "seed": c.seed})
    if not used:
        raise ValueError(f"table {args.table}: none of its {len(dense)} dense runs is finished with a checkpoint.pt "
                         f"under {args.runs_dir}; accepted: a table of dense pilot runs, trained first")
    atomic_write_json(out, {"layers": layer_constants(inits, trained), "pilots": used, "model": used and
                            dense[used[0]["run"]].model, "table": str(args.table),
                            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                            "how": "per pilot seed c_l = <w*,w0>/|w0|^2, sigma_l^2 = mean((w* - c_l w0)^2); "
                                   "c and sigma^2 averaged over the pilot seeds (sketchbound.dnn.theory.bridge)"})
    print(f"constants of {len(used)} pilot run(s), {len(inits[0])} layers -> {out}")
    return 0


def cmd_measure(args) -> int:
    from sketchbound.dnn.experiments.run import data_for, load_result, mask_identity  # noqa: PLC0415
    from sketchbound.dnn.theory.bridge import layer_patches, measured_errors, probe_batch  # noqa: PLC0415
    from sketchbound.dnn.training.checkpoint import load_verified  # noqa: PLC0415
    dev = torch_device("bridge_tool measure", args.device)
    runs = {c.run_name(): c for _, _, c in _spec(args)}
    twins = {_twin_key(c): c for c in runs.values() if c.method == "dense"}
    stars: dict = {}
    done = missing = 0
    for name, c in runs.items():
        d = c.run_dir(args.runs_dir)
        if c.method == "dense" or not c.bridge_record or (d / MEASURED_FILE).is_file():
            continue
        twin = twins.get(_twin_key(c))
        if load_result(c, args.runs_dir) is None or twin is None or not (d / "mask.pt").is_file():
            missing += 1
            continue
        if twin.run_name() not in stars:
            star = _trained(twin, args.runs_dir, dev)
            x = probe_batch(data_for(c), device=dev)
            stars[twin.run_name()] = (star, x, None if star is None else layer_patches(star, x))
        star, x, patches = stars[twin.run_name()]
        if star is None:
            missing += 1
            continue
        saved, _ = load_verified(d / "mask.pt", identity=mask_identity(c))
        res = measured_errors(star, saved["masks"], x, patches=patches)
        res["dense_run"] = twin.run_name()
        atomic_write_json(d / MEASURED_FILE, res)
        done += 1
    print(f"measured {done} run(s); {missing} without a finished run, mask.pt or dense twin checkpoint")
    return 0


def _fmt(x):
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def cmd_csv(args) -> int:
    from sketchbound.dnn.experiments.run import load_result  # noqa: PLC0415
    out = check_output_path(args.out, suffixes=(".csv",), flag="out")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    seen, n = set(), 0
    for _, _, c in _spec(args):
        if c.method == "dense" or c.run_name() in seen:
            continue
        seen.add(c.run_name())
        res = load_result(c, args.runs_dir)
        if res is None:
            continue
        mf = c.run_dir(args.runs_dir) / MEASURED_FILE
        meas = json.loads(mf.read_text()) if mf.is_file() else {}
        law = f"beta={c.beta:g}" if c.mask == "tempered" else LAWS.get(c.mask, c.mask)
        w.writerow([args.rung, c.model, c.density, law, "sec7", c.seed,
                    _fmt((res.get("bridge") or {}).get("pred_rel_mean")), _fmt(meas.get("meas_rel_mean")),
                    _fmt(None if res.get("accuracy") is None else res["accuracy"] / 100), _fmt(res.get("test_loss")),
                    c.method])
        n += 1
    atomic_write(out, buf.getvalue())
    print(f"{n} row(s) -> {out}")
    return 0


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="bridge_tool", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=OneLineParser)
    for name in ("constants", "measure", "csv"):
        s = sub.add_parser(name)
        s.add_argument("table", help="the table file (TOML) whose runs to read")
        s.add_argument("--runs-dir", default="runs")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="the same overrides the table runs were given")
        s.add_argument("--epochs", type=int, default=None)
        s.add_argument("--data-root", default=None)
        if name != "csv":
            s.add_argument("--device", default=None)
        if name == "constants":
            s.add_argument("--out", required=True, help="constants JSON to write")
            s.add_argument("--check", action="store_true",
                           help="write nothing; exit 0 if --out exists and came from this table's pilots, else 1")
        if name == "csv":
            s.add_argument("--rung", required=True, help="the rung's name in the CSV (e.g. resnet20)")
            s.add_argument("--out", required=True, help="CSV to write (validation/bridge/<rung>.csv)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with cli_errors(f"bridge_tool {args.cmd}"):
        return {"constants": cmd_constants, "measure": cmd_measure, "csv": cmd_csv}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
