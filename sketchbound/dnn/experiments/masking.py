"""The pruning half of a run: the network at initialisation, its scores and mask (§5, §7), and IMP's masks
searched together for the runs that share their data and level schedule (§7, Table II)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.experiments.data_cache import data_for
from sketchbound.seeds import stream_seed

__all__ = ["MaskResult", "compute_mask", "compute_imp_masks", "imp_group_key", "mask_identity", "build_model",
           "prune_at_init", "read_mask_file", "write_mask_file"]


@dataclass(frozen=True)
class MaskResult:
    """The pruning half of one run: what :func:`compute_mask` returns and a run's ``mask.pt`` holds.

    Parameters
    ----------
    masks : dict of str to Tensor, or None
        One mask per prunable weight (``{"<layer>.weight": tensor}``, on the CPU); ``None`` for ``dense``.
    start_step : int
        The step training starts from: IMP's rewind step k (§7, Table II), else 0.
    init_state : dict of str to Tensor, or None
        IMP's rewind weights θ_k (the model's ``state_dict``), else ``None`` (training starts from the
        network at initialisation).
    extra : dict
        Plain data that goes into the run's ``result.json``: ``mask_seconds``, ``mask_info`` (whether
        ``min_per_layer`` fired), ``imp_levels``, ``bridge``, ``masks_file``, as the method gives them.

    On disk (``mask.pt``, ``dnn.prune --save``) it is the plain dict of :meth:`to_dict`, which
    ``torch.load(weights_only=True)`` reads; :meth:`from_dict` reads it back.

    Examples
    --------
    >>> import torch
    >>> r = MaskResult(masks={"fc.weight": torch.ones(2, 3)}, extra={"mask_seconds": 0.5})
    >>> sorted(r.to_dict()), MaskResult.from_dict(r.to_dict()).start_step
    (['extra', 'init_state', 'masks', 'start_step'], 0)
    """

    masks: dict | None = None
    start_step: int = 0
    init_state: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The plain dict of a ``mask.pt`` file: ``{"masks", "start_step", "init_state", "extra"}``.

        Returns
        -------
        dict
            The four fields, in that order (what ``save_verified`` writes).

        Examples
        --------
        >>> list(MaskResult().to_dict())
        ['masks', 'start_step', 'init_state', 'extra']
        """
        return {"masks": self.masks, "start_step": int(self.start_step), "init_state": self.init_state,
                "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, obj: dict) -> "MaskResult":
        """A :class:`MaskResult` from the plain dict of a ``mask.pt`` file (missing keys: the defaults).

        Parameters
        ----------
        obj : dict
            A dict with (some of) the keys ``masks``, ``start_step``, ``init_state``, ``extra``.

        Returns
        -------
        MaskResult

        Examples
        --------
        >>> MaskResult.from_dict({"masks": None, "start_step": 3})
        MaskResult(masks=None, start_step=3, init_state=None, extra={})
        """
        if not isinstance(obj, dict):
            raise ValueError(f"obj must be a dict with the keys masks, start_step, init_state, extra; got "
                             f"{type(obj).__name__}")
        return cls(masks=obj.get("masks"), start_step=int(obj.get("start_step", 0) or 0),
                   init_state=obj.get("init_state"), extra=dict(obj.get("extra") or {}))


def write_mask_file(path, result: MaskResult, cfg: RunConfig) -> None:
    """Write ``result`` as the run ``cfg``'s ``mask.pt`` (a verified file: digest and run identity).

    Parameters
    ----------
    path : str or Path
        The file, ``<run dir>/mask.pt``.
    result : MaskResult
        The run's mask (written as :meth:`MaskResult.to_dict`).
    cfg : RunConfig
        The run (its :func:`mask_identity`).

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="dense")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_mask_file(pathlib.Path(d) / "mask.pt", MaskResult(), cfg)
    ...     read_mask_file(pathlib.Path(d) / "mask.pt", cfg).masks is None
    True
    """
    from sketchbound.dnn.training.checkpoint import save_verified  # noqa: PLC0415
    save_verified(path, result.to_dict(), identity=mask_identity(cfg))


def read_mask_file(path, cfg: RunConfig) -> MaskResult:
    """Read the run ``cfg``'s ``mask.pt`` (its digest and run identity verified: a mask of another run is refused).

    Parameters
    ----------
    path : str or Path
        The file written by :func:`write_mask_file`.
    cfg : RunConfig
        The run it must belong to.

    Returns
    -------
    MaskResult

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="magnitude")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_mask_file(pathlib.Path(d) / "mask.pt", MaskResult(masks={"fc1.weight": torch.ones(2)}), cfg)
    ...     read_mask_file(pathlib.Path(d) / "mask.pt", cfg).masks["fc1.weight"].tolist()
    [1.0, 1.0]
    """
    from sketchbound.dnn.training.checkpoint import load_verified  # noqa: PLC0415
    return MaskResult.from_dict(load_verified(path, identity=mask_identity(cfg))[0])


def _batch_source(cfg: RunConfig, data: TensorDataset, device: torch.device):
    from sketchbound.dnn.pruning.inputs import make_input_source  # noqa: PLC0415
    shape = (data.in_channels, data.image_size, data.image_size)
    # SynFlow's objective R = 1ᵀ f(x; |θ|) takes one input (§5.1, eq. (3)/(4)); a batch of identical
    # all-ones inputs only rescales the scores, and for χ inputs one fresh draw per round is §7's protocol
    batch = 1 if cfg.method == "synflow" else cfg.prune_batch_size
    kw = dict(shape=shape, batch_size=batch, num_classes=data.num_classes)
    if cfg.inputs in ("real", "normal"):
        g = torch.Generator().manual_seed(stream_seed(cfg.seed, "pruning-inputs"))
        n = min(len(data), max(10000, cfg.prune_batch_size))
        idx = torch.randperm(len(data), generator=g)[:n]
        xs = data.normalized(data.x_train[idx.to(data.x_train.device)]).cpu()
        kw["data"] = (xs, data.y_train[idx.to(data.y_train.device)].cpu())
    return make_input_source(cfg.inputs, **kw)


def compute_mask(cfg: RunConfig, model: torch.nn.Module, data: TensorDataset, device: torch.device,
                 log: Callable[[str], None], progress: bool = False) -> MaskResult:
    """The mask (and IMP's rewind state) of one run: its method's scores at initialisation (§5, §7) made a
    mask of density ``cfg.density`` by ``cfg.mask`` (``make_mask``), or IMP's search (Table II).

    Parameters
    ----------
    cfg : RunConfig
        The run.
    model : torch.nn.Module
        Its network at initialisation (:func:`build_model`); IMP trains it in place.
    data : TensorDataset
        Its training data (:func:`~sketchbound.dnn.experiments.data_cache.data_for`): the real/normal
        inputs of data-driven methods and IMP's levels.
    device : torch.device
        Where scores are computed.
    log : callable
        Takes one line (the run's ``log.txt``).
    progress : bool, optional
        Say on stderr how long the mask step took.

    Returns
    -------
    MaskResult
        ``masks=None`` for ``dense``; ``extra["mask_seconds"]`` otherwise.

    Examples
    --------
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="dense")
    >>> compute_mask(cfg, None, None, torch.device("cpu"), print).masks is None
    True
    """
    cfg = cfg.resolved()
    if cfg.method == "dense":
        return MaskResult()
    if cfg.method == "imp":
        return compute_imp_masks([cfg], [model], data, device, [log], progress=progress)[0]
    t0 = time.perf_counter()
    from sketchbound.dnn.pruning.masks import make_mask  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415
    source = _batch_source(cfg, data, device)
    kw: dict = {"generator": cfg.seed}
    mask_info: dict = {}  # whether min_per_layer fired and how many weights it kept → result.json
    if cfg.method == "synflow":
        inter = cfg.mask if cfg.mask in ("global", "layerwise", "randomized", "layerwise_randomized") else "randomized"
        kw.update(density=cfg.density, rounds=cfg.synflow_rounds, mode=inter, min_per_layer=cfg.min_per_layer,
                  keep_rule=cfg.keep_rule, info=mask_info)
    elif cfg.method == "snip":
        kw.update(loss=cfg.snip_loss, num_batches=cfg.prune_batches)
    elif cfg.method == "grasp":
        kw.update(num_batches=cfg.prune_batches, variant=cfg.grasp_variant, samples_per_class=cfg.grasp_samples_per_class)
    elif cfg.method == "prospr":
        kw.update(loss=cfg.snip_loss)
    from sketchbound._progress import elapsed  # noqa: PLC0415
    what = f" ({cfg.synflow_rounds} rounds)" if cfg.method == "synflow" else ""
    with elapsed(f"mask: {cfg.method}{what} on {cfg.model}, density {cfg.density}", enabled=progress):
        scores = compute_scores(cfg.method, model, source, **kw)
        law = _bridge_law(cfg, model)
        masks = make_mask(scores, cfg.density, cfg.mask, rng=stream_seed(cfg.seed, "mask"),
                          min_per_layer=cfg.min_per_layer, keep_rule=cfg.keep_rule, info=mask_info, **law)
    extra: dict = {"mask_info": mask_info}
    if cfg.bridge_record:  # the theory's predicted error of this mask at init (sketchbound.dnn.theory.bridge)
        from sketchbound.dnn.theory.bridge import predicted_errors, probe_batch  # noqa: PLC0415
        extra["bridge"] = predicted_errors(model, masks, law["constants"], probe_batch(data, device=device))
    out = MaskResult(masks={k: v.detach().cpu() for k, v in masks.items()}, extra=extra)
    return _mask_done(cfg, out, time.perf_counter() - t0, log)


def _bridge_law(cfg: RunConfig, model: torch.nn.Module) -> dict:
    """``make_mask``'s keyword arguments of the bridge's laws: ``beta``, and ``w0``/``constants`` from
    ``bridge_constants`` (read when set)."""
    from sketchbound.dnn.pruning.bridge_laws import read_constants  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    consts = read_constants(cfg.bridge_constants) if cfg.bridge_constants is not None else None
    return {"beta": cfg.beta, "w0": {n: p.detach() for n, p in prunable_parameters(model)}, "constants": consts}


def _mask_done(cfg: RunConfig, out: MaskResult, seconds: float, log) -> MaskResult:
    log(f"mask: method {cfg.method} inputs {cfg.inputs} mode {cfg.mask} density {cfg.density} ({seconds:.1f}s)")
    return dataclasses.replace(out, extra={**out.extra, "mask_seconds": seconds})


def imp_group_key(cfg: RunConfig) -> tuple:
    """The key of the IMP runs that can search their masks together: same data (the :func:`data_for` key),
    level schedule and rewind step k (their level trainings are then in lockstep, §7).

    Parameters
    ----------
    cfg : RunConfig
        An IMP run.

    Returns
    -------
    tuple
        ``(dataset, data_root, pad_to, train_subset, level schedule, imp_rewind, augment)``.

    Examples
    --------
    >>> a = RunConfig(model="lenet300100", dataset="mnist", method="imp", density=0.2, seed=0)
    >>> imp_group_key(a) == imp_group_key(RunConfig.from_dict({**a.to_dict(), "seed": 1, "density": 0.1}))
    True
    """
    r = cfg.resolved()
    return (r.dataset, r.data_root, r.pad_to, r.train_subset, r.imp_schedule(), r.imp_rewind, r.augment)


def compute_imp_masks(cfgs: Sequence[RunConfig], models: Sequence[torch.nn.Module], data: TensorDataset,
                      device: torch.device, logs: Sequence, progress: bool = False) -> list[MaskResult]:
    """The IMP masks (§7, Table II) of several runs, their levels trained together by
    :func:`~sketchbound.dnn.experiments.imp.imp_many`.

    Each result equals what :func:`compute_mask` gives for that run alone (bit-identical on CPU),
    except that ``mask_seconds`` and the levels' ``seconds`` are the group's wall time.

    Parameters
    ----------
    cfgs : sequence of RunConfig
        IMP runs with the same data, level schedule (``imp_epochs``, ``epochs``, ...) and ``imp_rewind``
        (``ValueError`` otherwise); their densities, ``prune_fraction``, seeds, ``imp_data``, ``mask``,
        ``min_per_layer`` and ``keep_rule`` may differ (a run leaves the lockstep when its target is reached).
    models : sequence of torch.nn.Module
        Each run's network at initialisation (:func:`build_model`); modified in place, as by ``imp``.
    data : TensorDataset
        The runs' training data (:func:`data_for`).
    device : torch.device
        Where the levels train.
    logs : sequence of callable
        One log callable per run.
    progress : bool, optional
        Show the levels' training bars.

    Returns
    -------
    list of MaskResult
        One per run, in the order of ``cfgs``: the final mask, the rewind step k and θ_k, and
        ``extra["imp_levels"]``.

    Examples
    --------
    >>> compute_imp_masks([RunConfig(model="lenet300100", dataset="mnist", method="synflow")], [None], None,
    ...                   torch.device("cpu"), [print])
    Traceback (most recent call last):
    ...
    ValueError: compute_imp_masks takes IMP runs only, got methods ['synflow']
    """
    from sketchbound.dnn.experiments.imp import imp_densities, imp_many  # noqa: PLC0415
    cfgs = [c.resolved() for c in cfgs]
    if not cfgs or len(models) != len(cfgs) or len(logs) != len(cfgs):
        raise ValueError(f"need one model and one log per config, got {len(cfgs)} config(s), {len(models)} "
                         f"model(s), {len(logs)} log(s)")
    if any(c.method != "imp" for c in cfgs):
        raise ValueError(f"compute_imp_masks takes IMP runs only, got methods {sorted({c.method for c in cfgs})}")
    if len({imp_group_key(c) for c in cfgs}) != 1:
        raise ValueError("IMP runs searched together must share dataset, data_root, pad_to, train_subset, the level "
                         "schedule (imp_epochs, epochs, batch_size, lr, momentum, weight_decay), imp_rewind and augment")
    c0 = cfgs[0]
    c0.check_imp_rewind(len(data))
    if len(cfgs) > 1:
        for log in logs:
            log(f"mask: IMP levels searched together with {len(cfgs) - 1} other run(s) in one trainer "
                "(mask_seconds and level seconds are the group's wall time)")
    t0 = time.perf_counter()
    results = imp_many(models, data, c0.schedule(), rewind_step=c0.imp_rewind, seeds=[c.seed for c in cfgs],
                       densities_list=[imp_densities(c.density, c.prune_fraction) for c in cfgs],
                       data_modes=[c.imp_data for c in cfgs], mask_modes=[c.mask for c in cfgs],
                       level_schedule=c0.imp_schedule(), logs=list(logs), device=device, progress=progress,
                       min_per_layer=[c.min_per_layer for c in cfgs], keep_rule=[c.keep_rule for c in cfgs],
                       augment=c0.augment)  # the levels train with the run's own augmentation setting
    seconds = time.perf_counter() - t0
    return [_mask_done(c, MaskResult(masks=res.masks, start_step=res.rewind_step,
                                     init_state={k: v.cpu() for k, v in res.rewind_state.items()},
                                     extra={"imp_levels": res.levels}), seconds, log)
            for c, res, log in zip(cfgs, results, logs)]


def mask_identity(cfg: RunConfig) -> dict:
    """The identity a run's ``mask.pt`` is saved and verified with: a mask of another run is refused.

    Parameters
    ----------
    cfg : RunConfig
        The run.

    Returns
    -------
    dict
        ``{"kind": "mask", "run": <run name>}``.

    Examples
    --------
    >>> mask_identity(RunConfig(model="lenet300100", dataset="mnist", method="dense"))["kind"]
    'mask'
    """
    return {"kind": "mask", "run": cfg.resolved().run_name()}


def build_model(cfg: RunConfig, data: TensorDataset, device: torch.device) -> torch.nn.Module:
    """The run's network at initialisation (``get_model(..., init, seed=seed)``), on ``device``.

    Parameters
    ----------
    cfg : RunConfig
        The run (``model``, ``width``, ``init``, ``seed``).
    data : TensorDataset
        Its data (input channels, classes, image size); any object with those attributes.
    device : torch.device
        Where the network goes.

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="dense", width=0.25)
    >>> net = build_model(cfg, SimpleNamespace(in_channels=1, num_classes=10, image_size=28), torch.device("cpu"))
    >>> sum(p.numel() for p in net.parameters()) > 0
    True
    """
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    cfg = cfg.resolved()
    return get_model(cfg.model, data.in_channels, data.num_classes, data.image_size, cfg.init, width=cfg.width,
                     seed=cfg.seed).to(device)


def prune_at_init(cfg: RunConfig, device: torch.device | str = "cpu", *, log=lambda msg: None,
                  progress: bool = False, data: TensorDataset | None = None):
    """The pruning half of a run, without training. Used by
    :func:`~sketchbound.dnn.experiments.prepare.prepare_job` and by ``python -m sketchbound.dnn.prune``,
    so the CLI shows exactly the mask a run would train.

    Parameters
    ----------
    cfg : RunConfig
        The run.
    device : torch.device or str, optional
        Where the network and its scores live (default ``"cpu"``).
    log : callable, optional
        Takes one line (default: drop it).
    progress : bool, optional
        Say how long the mask step took.
    data : TensorDataset, optional
        The run's data (default: :func:`data_for`, which reads the dataset).

    Returns
    -------
    tuple
        ``(model, saved, data)``: the network at initialisation, its :class:`MaskResult` and the data.

    Examples
    --------
    With ``data`` given nothing is read (here four random images of MNIST's shape):

    >>> from sketchbound.dnn.experiments.bench_data import synthetic_data
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="magnitude", density=0.1, width=0.25)
    >>> model, saved, data = prune_at_init(cfg, data=synthetic_data(4, 1, 28, 10))
    >>> sorted(saved.masks), sum(int(m.sum()) for m in saved.masks.values())  # round(0.1 * 60925) kept
    (['fc1.weight', 'fc2.weight', 'fc3.weight'], 6093)
    """
    device = torch.device(device)
    cfg = cfg.resolved()
    data = data_for(cfg) if data is None else data
    model = build_model(cfg, data, device)
    return model, compute_mask(cfg, model, data, device, log, progress=progress), data
