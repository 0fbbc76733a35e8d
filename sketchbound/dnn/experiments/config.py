"""Typed run configurations ↔ command-line flags ↔ TOML, and run directories named by config hash.

One :class:`RunConfig` describes one cell-seed of a paper table (§7): model, dataset, pruning method,
pruning inputs (§5: ones / χ / matched normal / sparse / real), mask mode (hard threshold or the
paper's randomized mask), density, seed and the training schedule. In the open_lth style every
field becomes a flag (``--weight-decay``), a config can be read from / written to TOML, and a run
lives in ``<runs-dir>/<name>-<hash>`` where the hash covers every field that changes the result
(``hash=False`` fields such as ``data_root`` do not). Defaults that depend on other fields (paper
epochs, batch size, 28→32 padding, IMP warm-up) are resolved by :meth:`RunConfig.resolved` before
hashing, so ``--epochs 160`` and the default name the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sketchbound._cli import MAX_REPEATS, OneLineParser, arg_type
from sketchbound.dnn.experiments.toml_io import read_toml, run_table, to_toml

__all__ = [
    "RunConfig",
    "RUN_METHODS",
    "INPUTS",
    "MASKS",
    "MASK_ALIASES",
    "add_config_arguments",
    "add_lock_wait_argument",
    "LOCK_WAIT_S",
    "config_from_args",
    "to_toml",
    "read_toml",
    "HASH_V1_FIELDS",
]

#: pruning methods: ``dense`` (no pruning) + :data:`sketchbound.dnn.pruning.scores.SCORE_METHODS` (``imp`` = :mod:`~sketchbound.dnn.experiments.imp`)
RUN_METHODS = ("dense", "random", "magnitude", "snip", "grasp", "synflow", "prospr", "imp")
#: pruning inputs (:data:`sketchbound.dnn.pruning.inputs.INPUT_KINDS`)
INPUTS = ("real", "normal", "chi", "sparse", "ones")
#: mask modes (:data:`sketchbound.dnn.pruning.masks.MASK_MODES`)
MASKS = ("global", "layerwise", "randomized", "layerwise_randomized", "algorithm1", "shuffled", "tempered",
         "variance_aware")
MASK_ALIASES = {"threshold": "global", "hard": "global", "random": "randomized", "rand": "randomized",
                "shuffle": "shuffled", "variance-aware": "variance_aware"}
INITS = ("kaiming", "normal", "xavier")
MASK_VALUES = ("scale-init", "support")
SNIP_LOSSES = ("cross_entropy", "l1", "mse")
IMP_DATA = ("real", "random")
_SMALL_28 = ("mnist", "fashion-mnist")
#: the largest learning rate a run accepts: SGD on these networks diverges long before (§7 uses 0.1)
MAX_LR = 10.0

#: the hashed fields of the first recorded runs (``dnn/results/*_runs``): always part of the run hash.
#: Never add to this set: a field added later is hashed only when it differs from its default.
HASH_V1_FIELDS = frozenset({
    "model", "dataset", "method", "inputs", "mask", "density", "seed", "init", "width", "pad_to", "epochs",
    "batch_size", "lr", "momentum", "weight_decay", "augment", "mask_values", "prune_batch_size",
    "prune_batches", "synflow_rounds", "snip_loss", "imp_rewind", "imp_data", "imp_epochs", "prune_fraction",
    "train_subset",
})


def _meta(help: str, hash: bool = True, choices=None):
    return {"help": help, "hash": hash, "choices": choices}


@dataclass(frozen=True)
class RunConfig:
    """One training run of §7 (see the module docstring). ``None`` means "the paper's default".

    Its run directory is ``<runs_dir>/<name>-<hash>`` (:meth:`run_dir`); a field added later enters the
    hash only when it differs from its default, so recorded runs keep their names. The parameters (one
    per field, with the help text of its ``--flag``) are listed below.

    Examples
    --------
    >>> cfg = RunConfig(model="lenet300100", dataset="fashion-mnist", method="synflow", density=0.05)
    >>> cfg.resolved().epochs, cfg.run_name() == RunConfig.from_dict(cfg.to_dict()).run_name()
    (160, True)
    """

    model: str = field(default="resnet20", metadata=_meta("model name (sketchbound.dnn.models)"))
    dataset: str = field(default="cifar10", metadata=_meta("dataset (sketchbound.dnn.data.DATASETS)"))
    method: str = field(default="synflow", metadata=_meta("pruning method", choices=RUN_METHODS))
    inputs: str = field(default="ones", metadata=_meta("pruning input (§5): ones, chi, normal, sparse, real", choices=INPUTS))
    mask: str = field(default="global", metadata=_meta("mask mode: global (threshold), randomized (§7), ...", choices=MASKS))
    density: float = field(default=0.1, metadata=_meta("fraction of prunable weights kept"))
    seed: int = field(default=0, metadata=_meta("seed of init, pruning randomness and data order"))
    init: str = field(default="kaiming", metadata=_meta("weight initialisation (Table IV)", choices=INITS))
    width: float = field(default=1.0, metadata=_meta("channel-width multiplier (1 = paper)"))
    pad_to: int | None = field(default=None, metadata=_meta("zero-pad images to this size (default: 28→32 for conv nets)"))
    epochs: int | None = field(default=None, metadata=_meta("training epochs (default: paper, 160 or 90); milestones scale"))
    batch_size: int | None = field(default=None, metadata=_meta("training batch size (default: paper, 128 or 100)"))
    lr: float = field(default=0.1, metadata=_meta("initial learning rate"))
    momentum: float = field(default=0.9, metadata=_meta("SGD momentum"))
    weight_decay: float = field(default=1e-4, metadata=_meta("weight decay"))
    augment: bool = field(default=True, metadata=_meta("random crop (pad 4) + flip"))
    mask_values: str = field(default="scale-init", metadata=_meta("weighted masks: scale-init or support", choices=MASK_VALUES))
    prune_batch_size: int = field(default=256, metadata=_meta("batch size of pruning inputs (§7: 256)"))
    prune_batches: int = field(default=1, metadata=_meta("batches for SNIP/GraSP scores"))
    synflow_rounds: int = field(default=100, metadata=_meta("SynFlow rounds (§7: 100)"))
    snip_loss: str = field(default="cross_entropy", metadata=_meta("SNIP/ProsPr loss", choices=SNIP_LOSSES))
    imp_rewind: int | None = field(default=None, metadata=_meta("IMP warm-up iterations k (default §7: VGG 1000, ResNet-20 2000/6000)"))
    imp_data: str = field(default="real", metadata=_meta("IMP training data: real or random", choices=IMP_DATA))
    imp_epochs: int | None = field(default=None, metadata=_meta("epochs of each IMP level (default: = epochs)"))
    prune_fraction: float = field(default=0.2, metadata=_meta("IMP fraction pruned per level"))
    train_subset: int | None = field(default=None, metadata=_meta("use only the first N training images (smoke runs)"))
    data_root: str | None = field(default=None, metadata=_meta("dataset folder (default: standard locations)", hash=False))
    eval_every: int = field(default=0, metadata=_meta("also evaluate every N epochs (0: only at the end)", hash=False))
    checkpoint_every_s: float = field(default=0.0, metadata=_meta(
        "write a checkpoint at an epoch's end only when this many seconds passed since the last (0: every "
        "epoch); a kill loses at most that much more training", hash=False))
    # ---- fields added after the first recorded runs: hashed only when they differ from their default
    min_per_layer: int = field(default=1, metadata=_meta(
        "weights every layer keeps at least (1: the guard of the first recorded runs; 0: the published "
        "codes' unguarded threshold)"))
    grasp_variant: str = field(default="synflow", metadata=_meta(
        "GraSP as in Synaptic-Flow (synflow: BatchNorm eval) or the GraSP authors' code (original: BatchNorm "
        "train, Xavier re-init of Linear layers, class-balanced half batches)", choices=("synflow", "original")))
    keep_rule: str = field(default="exact", metadata=_meta(
        "global threshold count: exact (round(d*N)) or synflow (Synaptic-Flow's kthvalue rule, also in each "
        "SynFlow round; needs min_per_layer 0)", choices=("exact", "synflow")))
    grasp_samples_per_class: int = field(default=25, metadata=_meta(
        "GraSP (variant original): examples of every class in each batch pair (the published configs use 10, 5 or 1)"))
    beta: float = field(default=1.0, metadata=_meta(
        "mask tempered: sampling weights score**beta inside each layer, beta in [0, inf] (0: shuffle, 1: "
        "randomized, inf: threshold)"))
    bridge_constants: str | None = field(default=None, metadata=_meta(
        "mask variance_aware: JSON of per-layer (c, sigma) written by dnn/scripts/bridge_tool.py constants"))
    bridge_record: bool = field(default=False, metadata=_meta(
        "record the bridge's predicted Lemma 4.3 error of the drawn mask at init in result.json (needs "
        "bridge_constants)"))

    def __post_init__(self):
        for f in fields(self):  # a TOML table or number where a name belongs: one line, not a TypeError
            ch, v = f.metadata.get("choices"), getattr(self, f.name)
            if ch and not isinstance(v, str):
                raise ValueError(f"{f.name} must be a string, one of {', '.join(ch)}; got {type(v).__name__} {v!r}")
        m = MASK_ALIASES.get(self.mask, self.mask)
        object.__setattr__(self, "mask", m)
        for f in fields(self):
            ch = f.metadata.get("choices")
            v = getattr(self, f.name)
            if ch and v not in ch:
                raise ValueError(f"{f.name} must be one of {', '.join(ch)}; got {v!r}")
        self._check_num("density", float, lo=0.0, lo_open=True, hi=1.0)
        self._check_num("width", float, lo=0.0, lo_open=True)
        self._check_num("lr", float, lo=0.0, lo_open=True, hi=MAX_LR)
        self._check_num("momentum", float, lo=0.0, hi=1.0)
        self._check_num("weight_decay", float, lo=0.0)
        self._check_num("prune_fraction", float, lo=0.0, lo_open=True, hi=0.999)
        self._check_num("seed", int, lo=0, hi=2**63 - 1)
        for name in ("prune_batch_size", "prune_batches", "synflow_rounds", "grasp_samples_per_class"):
            self._check_num(name, int, lo=1)
        self._check_num("eval_every", int, lo=0)
        self._check_num("checkpoint_every_s", float, lo=0.0)
        self._check_num("min_per_layer", int, lo=0)
        for name in ("pad_to", "epochs", "batch_size", "imp_epochs", "train_subset"):
            if getattr(self, name) is not None:
                self._check_num(name, int, lo=1, hi=MAX_REPEATS if name in ("epochs", "imp_epochs") else None)
        if self.imp_rewind is not None:
            self._check_num("imp_rewind", int, lo=0)
        for name in ("model", "dataset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string; got {getattr(self, name)!r}")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be true or false; got {self.augment!r}")
        self._check_bridge()
        if self.method == "dense" and self.density != 1.0:
            object.__setattr__(self, "density", 1.0)

    def _check_bridge(self) -> None:
        from sketchbound.dnn.pruning.bridge_laws import check_beta  # noqa: PLC0415
        object.__setattr__(self, "beta", check_beta(self.beta))
        if self.beta != 1.0 and self.mask != "tempered":
            raise ValueError(f"beta={self.beta!r} applies to mask 'tempered' only, got mask {self.mask!r}; "
                             f"accepted: beta = 1 (the default) for other masks")
        if self.bridge_constants is not None and (not isinstance(self.bridge_constants, str) or not self.bridge_constants):
            raise ValueError(f"bridge_constants must be a path (string) or unset, got {self.bridge_constants!r}")
        if not isinstance(self.bridge_record, bool):
            raise ValueError(f"bridge_record must be true or false; got {self.bridge_record!r}")
        if (self.mask == "variance_aware" or self.bridge_record) and self.bridge_constants is None:
            raise ValueError(f"mask {self.mask!r} with bridge_record={self.bridge_record} needs bridge_constants "
                             f"(the per-layer constants JSON), got None")

    def _check_num(self, name, typ, lo=None, hi=None, lo_open=False):
        v = getattr(self, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (typ is int and not float(v).is_integer()):
            raise ValueError(f"{name} must be {'an integer' if typ is int else 'a number'}; got {v!r}")
        if typ is int:
            v = int(v)
        elif not math.isfinite(v):
            raise ValueError(f"{name} must be finite; got {v!r}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}; got {v!r}")
        if hi is not None and v > hi:
            raise ValueError(f"{name} must be <= {hi}; got {v!r}")
        object.__setattr__(self, name, typ(v))

    # ---- derived values
    def canonical(self) -> "RunConfig":
        """Model/dataset names in canonical form (``VGG-19`` → ``vgg19``, ``fmnist`` → ``fashion-mnist``)."""
        from sketchbound.dnn.data import canonical_dataset  # noqa: PLC0415
        try:
            from sketchbound.dnn.models import canonical_name  # noqa: PLC0415
            model = canonical_name(self.model)
        except ImportError:  # pragma: no cover - models package not present
            model = self.model.lower()
        return dataclasses.replace(self, model=model, dataset=canonical_dataset(self.dataset))

    def resolved(self) -> "RunConfig":
        """Fill the paper defaults (§7) for ``None`` fields; idempotent."""
        c = self.canonical()
        imagenet = c.dataset == "imagenet"
        upd: dict[str, Any] = {}
        if c.epochs is None:
            upd["epochs"] = 90 if imagenet else 160
        if c.batch_size is None:
            upd["batch_size"] = 100 if imagenet else 128
        if c.pad_to is None and c.dataset in _SMALL_28 and not c.model.startswith("lenet"):
            upd["pad_to"] = 32
        if c.imp_rewind is None:
            if c.model.startswith("vgg"):
                k = 1000
            elif c.model == "resnet20" and c.dataset == "cifar100":
                k = 6000
            else:
                k = 2000
            upd["imp_rewind"] = k if c.method == "imp" else 0
        return dataclasses.replace(c, **upd)

    def hashed_dict(self) -> dict:
        """The fields that name the run: every hashed field of :data:`HASH_V1_FIELDS` (the fields that
        existed when the first runs were recorded, hashed as they always were), plus any field added
        since **only when it differs from its default** (the open_lth rule), so adding a defaulted
        field never renames a finished run."""
        r = self.resolved()
        out = {}
        for f in fields(r):
            if not f.metadata.get("hash", True):
                continue
            v = getattr(r, f.name)
            if f.name in HASH_V1_FIELDS or v != f.default:
                out[f.name] = v
        return out

    def config_hash(self) -> str:
        """SHA-256 (first 12 hex digits) of the canonical JSON of the hashed, resolved fields."""
        blob = json.dumps(self.hashed_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def run_name(self) -> str:
        """``<model>-<dataset>-<method>-<inputs>-<mask>-d<density>-s<seed>-<hash>`` (readable + unique)."""
        r = self.resolved()
        return f"{r.model}-{r.dataset}-{r.method}-{r.inputs}-{r.mask}-d{r.density:g}-s{r.seed}-{self.config_hash()}"

    def run_dir(self, runs_dir: str | Path = "runs") -> Path:
        return Path(runs_dir) / self.run_name()

    def schedule(self):
        """The :class:`~sketchbound.dnn.training.Schedule` of this run (milestones scaled to ``epochs``)."""
        from sketchbound.dnn.training import Schedule  # noqa: PLC0415
        r = self.resolved()
        return Schedule.paper(r.dataset, r.epochs, batch_size=r.batch_size, lr=r.lr, momentum=r.momentum,
                              weight_decay=r.weight_decay)

    def imp_schedule(self):
        from sketchbound.dnn.training import Schedule  # noqa: PLC0415
        r = self.resolved()
        if r.imp_epochs is None:
            return self.schedule()
        return Schedule.paper(r.dataset, r.imp_epochs, batch_size=r.batch_size, lr=r.lr, momentum=r.momentum,
                              weight_decay=r.weight_decay)

    def check_imp_rewind(self, n_train: int | None = None) -> None:
        """``ValueError`` naming ``imp_rewind`` when an IMP run could train nothing: a rewind step k at or
        past the final training's last step, or at or past an IMP level's last step (θ_k would be the end
        of level 0, §7). ``n_train``: the training images the run sees; ``None`` = an upper bound known
        before loading (``train_subset`` and the dataset's published size), so a table can refuse the run
        before any training starts (the check is then certain only where the bound already fails; it runs
        again with the loaded data's size). Nothing to check for other methods or unknown sizes."""
        from sketchbound.dnn.data import TRAIN_SIZES  # noqa: PLC0415
        r = self.resolved()
        if r.method != "imp":
            return
        if n_train is None:
            sizes = [x for x in (r.train_subset, TRAIN_SIZES.get(r.dataset)) if x is not None]
            if not sizes:
                return
            n_train = min(sizes)
        fin, lev = r.schedule(), r.imp_schedule()
        total = fin.epochs * (n_train // fin.batch_size)
        if r.imp_rewind >= total:  # the final training would start at or after its own end: nothing would train
            raise ValueError(f"imp_rewind={r.imp_rewind} must be smaller than the final training's {total} steps "
                             f"({fin.epochs} epochs x {n_train // fin.batch_size} steps); "
                             "accepted: 0 <= imp_rewind < that")
        level = lev.epochs * (n_train // lev.batch_size)
        if r.imp_rewind >= level:  # θ_k would be the end of level 0 and no later level would train: not IMP
            raise ValueError(f"imp_rewind={r.imp_rewind} must be smaller than an IMP level's {level} steps "
                             f"(imp_epochs={lev.epochs} x {n_train // lev.batch_size} steps); "
                             "accepted: 0 <= imp_rewind < that, or more imp_epochs")

    def check_batch_size(self) -> None:
        """``ValueError`` naming ``batch_size`` when it exceeds the training images the run can see
        (``train_subset`` or the dataset's published size), known before any data is read."""
        from sketchbound.dnn.data import TRAIN_SIZES  # noqa: PLC0415
        r = self.resolved()
        sizes = [(n, w) for n, w in ((r.train_subset, "train_subset"), (TRAIN_SIZES.get(r.dataset), r.dataset))
                 if n is not None]
        if sizes:
            n, what = min(sizes)
            if r.batch_size > n:
                raise ValueError(f"batch_size {r.batch_size} exceeds the {n} training images of {what}; accepted: "
                                 f"batch_size <= {n}")

    def trainer_key(self) -> tuple:
        """Runs with equal keys can share one :class:`~sketchbound.dnn.training.ConcurrentTrainer` (same data/schedule)."""
        r = self.resolved()
        return (r.dataset, r.data_root, r.pad_to, r.train_subset, r.epochs, r.batch_size, r.lr, r.momentum,
                r.weight_decay, r.augment, r.eval_every, r.checkpoint_every_s)

    # ---- (de)serialisation
    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; accepted: {', '.join(sorted(known))}")
        return cls(**d)

    def to_toml(self) -> str:
        """The run's fields as TOML ``key = value`` lines, the body of a ``[run]`` table (``None`` dropped)."""
        return to_toml({k: v for k, v in self.to_dict().items() if v is not None})

    @classmethod
    def from_toml(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(run_table(read_toml(path), path))


# --------------------------------------------------------------------------------------------- TOML
def _parameters_doc(cls) -> str:
    """The numpydoc ``Parameters`` section of a config dataclass, from its fields' help texts (one place)."""
    out = ["Parameters", "----------"]
    for f in fields(cls):
        out += [f"{f.name} : {f.type}, default {f.default!r}", f"    {f.metadata.get('help', '')}"]
    return "\n".join("    " + line for line in out) + "\n\n"


RunConfig.__doc__ = RunConfig.__doc__.replace("    Examples\n", _parameters_doc(RunConfig) + "    Examples\n", 1)


# --------------------------------------------------------------------------------------------- CLI
def _base_type(tp):
    """``int | None`` → (int, True); ``bool`` → (bool, False)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _parse_optional(typ):
    def conv(s: str):
        if s.lower() in ("none", "null", "default"):
            return None
        return typ(s)
    conv.__name__ = typ.__name__
    return conv


def add_config_arguments(parser: argparse.ArgumentParser, cls=RunConfig, *, suppress_defaults: bool = True) -> None:
    """Add one flag per dataclass field (``--weight-decay``; booleans get ``--no-...``), with the field's help.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Gets the flags (anything with an ``add_argument`` method).
    cls : type, optional
        The config dataclass (default :class:`RunConfig`).
    suppress_defaults : bool, optional
        Unset flags are absent from the namespace, so a TOML file can supply them.

    Returns
    -------
    None

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_config_arguments(p)
    >>> vars(p.parse_args(["--density", "0.05", "--no-augment"]))
    {'density': 0.05, 'augment': False}
    """
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        typ, optional = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": f.name, "help": f.metadata.get("help", "") + f" (default: {f.default})"}
        if suppress_defaults:
            kw["default"] = argparse.SUPPRESS
        if typ is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
            continue
        if f.metadata.get("choices"):
            kw["choices"] = list(f.metadata["choices"]) + (list(MASK_ALIASES) if f.name == "mask" else [])
        kw["type"] = _parse_optional(typ) if optional else typ
        kw["metavar"] = typ.__name__.upper()
        parser.add_argument(flag, **kw)


#: how long ``dnn.run`` and ``dnn.table`` wait on a lock its live holder does not touch (a reused PID)
LOCK_WAIT_S = 10.0


def add_lock_wait_argument(parser: argparse.ArgumentParser) -> None:
    """``--lock-wait SECONDS`` (default :data:`LOCK_WAIT_S`): a run another live process holds is waited
    for while that process touches its lock; a lock left untouched this long stops the command (exit 2).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Gets the flag.

    Returns
    -------
    None

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_lock_wait_argument(p)
    >>> p.parse_args([]).lock_wait == LOCK_WAIT_S
    True
    """
    parser.add_argument("--lock-wait", type=arg_type("lock-wait", float, lambda x: 0 <= x < float("inf"),
                                                     "a number of seconds >= 0"),
                        default=LOCK_WAIT_S, metavar="SECONDS",
                        help="a run another live process holds is waited for while that process touches its lock; "
                             f"a lock untouched this long (a reused PID) stops with exit status 2 (default {LOCK_WAIT_S:g})")


def config_from_args(ns: argparse.Namespace, base: dict | None = None, cls=RunConfig) -> RunConfig:
    """Build a config from ``base`` (e.g. a TOML dict) updated with the flags present in ``ns``.

    Parameters
    ----------
    ns : argparse.Namespace
        Parsed flags (:func:`add_config_arguments`).
    base : dict, optional
        Field values the flags override.
    cls : type, optional
        The config dataclass (default :class:`RunConfig`).

    Returns
    -------
    RunConfig

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_config_arguments(p)
    >>> cfg = config_from_args(p.parse_args(["--seed", "3"]), {"model": "vgg19", "seed": 1})
    >>> cfg.model, cfg.seed
    ('vgg19', 3)
    """
    d = dict(base or {})
    for f in fields(cls):
        if hasattr(ns, f.name):
            d[f.name] = getattr(ns, f.name)
    return cls.from_dict(d)
