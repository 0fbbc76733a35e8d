"""The masks file of ``python -m sketchbound.dnn.prune --save FILE``, read by ``python -m sketchbound.dnn.run --masks FILE``.

A plain dict (``torch.save``; loads with ``torch.load(weights_only=True)``, so no code runs on loading):
``kind`` (:data:`MASKS_FILE_KIND`), ``format``, ``config`` (the resolved run config the masks were made
for), ``report`` (the per-layer table), and what a run trains from: ``masks`` (``{"<layer>.weight":
tensor}``), ``start_step`` and ``init_state`` (IMP's rewind point and weights; ``None`` otherwise), ``extra``.
"""
from __future__ import annotations

import dataclasses

__all__ = ["MASKS_FILE_KIND", "TRAINING_ONLY", "save_masks", "load_masks", "place_masks"]

#: the ``kind`` of a file written by ``--save`` (:func:`save_masks`)
MASKS_FILE_KIND = "sketchbound.dnn.prune masks"
#: run fields that do not change the mask of a method other than IMP: a run may differ from the file's in them
TRAINING_ONLY = frozenset({"epochs", "batch_size", "lr", "momentum", "weight_decay", "augment", "mask_values",
                           "data_root", "eval_every", "checkpoint_every_s", "imp_rewind", "imp_data", "imp_epochs",
                           "prune_fraction"})


def save_masks(path, saved, cfg, report: dict) -> None:
    """Write ``saved`` for ``dnn.run --masks``: plain tensors and plain metadata, atomically.

    Parameters
    ----------
    path : str or Path
        The file to write (``torch.save`` format; loads with ``torch.load(weights_only=True)``).
    saved : MaskResult
        The run's pruning half (:func:`sketchbound.dnn.experiments.prune.prune_saved`), written as
        :meth:`~sketchbound.dnn.experiments.masking.MaskResult.to_dict` beside ``kind``, ``format``,
        ``config`` and ``report``.
    cfg : RunConfig
        The run the masks were made for (recorded resolved; :func:`load_masks` checks a run against it).
    report : dict
        The per-layer report printed by the CLI.

    Returns
    -------
    None

    Examples
    --------
    ``python -m sketchbound.dnn.prune ... --save FILE`` calls it; ``python -m sketchbound.dnn.run --masks FILE``
    reads the file back (:func:`load_masks`):

    >>> import pathlib, tempfile, torch
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> from sketchbound.dnn.experiments.masking import MaskResult
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="magnitude", density=0.5)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_masks(pathlib.Path(d, "m.pt"), MaskResult(masks={"fc1.weight": torch.ones(3)}), cfg, {})
    ...     saved, config = load_masks(pathlib.Path(d, "m.pt"), cfg)
    >>> saved.masks["fc1.weight"].tolist(), config["density"]
    ([1.0, 1.0, 1.0], 0.5)
    """
    import torch  # noqa: PLC0415

    from sketchbound._io import atomic_write  # noqa: PLC0415
    init = saved.init_state
    plain = dataclasses.replace(saved, masks={n: m.detach().cpu() for n, m in saved.masks.items()},
                                init_state=None if init is None else {k: v.detach().cpu() for k, v in init.items()})
    obj = {"kind": MASKS_FILE_KIND, "format": 1, "config": cfg.resolved().to_dict(), "report": report,
           **plain.to_dict()}
    atomic_write(path, lambda f: torch.save(obj, f))


def load_masks(path, cfg=None, model=None) -> tuple:
    """Read a ``dnn.prune --save`` file: ``(saved, config dict)``; with ``cfg``, check the file was made for it.

    Parameters
    ----------
    path : str or Path
        The file (``torch.load(weights_only=True)``: no code runs on loading).
    cfg : RunConfig, optional
        The run that will train the masks: every field that changes the mask (all but
        :data:`TRAINING_ONLY`; all fields for IMP, whose search trains) must equal the file's.
    model : nn.Module, optional
        The run's model: every mask must name one of its prunable weights, with its shape.

    Returns
    -------
    tuple
        ``(saved, config)``: ``saved`` a :class:`~sketchbound.dnn.experiments.masking.MaskResult` as
        :func:`~sketchbound.dnn.experiments.masking.compute_mask` returns it (without ``mask_seconds``;
        ``extra["masks_file"]`` = ``path``), ``config`` the run config dict recorded in the file.

    Raises
    ------
    ValueError
        A file that is not a ``dnn.prune --save`` file, or a run it was not made for (message names the field).
    FileNotFoundError
        No such file.

    Examples
    --------
    >>> load_masks("no/such/file.pt")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --masks no/such/file.pt: no such file
    """
    from pathlib import Path  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from sketchbound.dnn.experiments.masking import MaskResult  # noqa: PLC0415
    if not Path(path).is_file():
        raise FileNotFoundError(f"--masks {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file: one line)
        raise ValueError(f"--masks {path}: not a file written by python -m sketchbound.dnn.prune --save "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None
    if not isinstance(obj, dict) or obj.get("kind") != MASKS_FILE_KIND or not isinstance(obj.get("masks"), dict):
        raise ValueError(f"--masks {path}: not a file written by python -m sketchbound.dnn.prune --save")
    conf = obj["config"]
    if cfg is not None:
        cfg = cfg.resolved()
        mine = cfg.to_dict()
        skip = set() if cfg.method == "imp" else TRAINING_ONLY | {"data_root"}
        diff = [k for k in mine if k not in skip and k in conf and mine[k] != conf[k]]
        if diff:
            k = diff[0]
            raise ValueError(f"--masks {path} was made for {k}={conf[k]!r}, this run has {k}={mine[k]!r}; "
                             f"drop --{k.replace('_', '-')} or prune again with it")
    if model is not None:
        from sketchbound.dnn.pruning.masks import check_masks_for  # noqa: PLC0415
        try:
            check_masks_for(model, obj["masks"])
        except ValueError as e:
            raise ValueError(f"--masks {path} does not fit the run's model: {e}") from None
    saved = MaskResult.from_dict(obj)
    extra = {k: v for k, v in saved.extra.items() if k != "mask_seconds"}
    return dataclasses.replace(saved, extra={**extra, "masks_file": str(path)}), conf


def place_masks(path, cfg, mask_file, identity: dict, model) -> None:
    """Make the masks of ``path`` the run's ``mask.pt`` (what ``dnn.run --masks FILE`` does before training).

    Parameters
    ----------
    path : str or Path
        A ``dnn.prune --save`` file, checked against ``cfg`` and ``model`` by :func:`load_masks`.
    cfg : RunConfig
        The run.
    mask_file : Path
        The run's ``mask.pt``. If it exists (the run started or finished before), it must hold the
        same masks (``ValueError`` otherwise) and is left as it is.
    identity : dict
        The run identity ``mask.pt`` is written and verified with.
    model : nn.Module
        The run's model at initialization.

    Returns
    -------
    None

    Examples
    --------
    Called by ``python -m sketchbound.dnn.run --masks FILE``; here the masks of a tiny pruned LeNet:

    >>> import pathlib, tempfile
    >>> from sketchbound.dnn.experiments.bench_data import synthetic_data
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> from sketchbound.dnn.experiments.masking import mask_identity, prune_at_init, read_mask_file
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="magnitude", density=0.1, width=0.25)
    >>> model, saved, _ = prune_at_init(cfg, data=synthetic_data(4, 1, 28, 10))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_masks(pathlib.Path(d, "m.pt"), saved, cfg, {})
    ...     place_masks(pathlib.Path(d, "m.pt"), cfg, pathlib.Path(d, "run", "mask.pt"), mask_identity(cfg), model)
    ...     sorted(read_mask_file(pathlib.Path(d, "run", "mask.pt"), cfg).masks)
    ['fc1.weight', 'fc2.weight', 'fc3.weight']
    """
    from pathlib import Path  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from sketchbound.dnn.experiments.masking import MaskResult  # noqa: PLC0415
    from sketchbound.dnn.training.checkpoint import load_verified, save_verified  # noqa: PLC0415
    saved, _ = load_masks(path, cfg, model=model)
    mask_file = Path(mask_file)
    if mask_file.is_file():
        have = MaskResult.from_dict(load_verified(mask_file, identity=identity)[0]).masks or {}
        if set(have) != set(saved.masks) or any(not torch.equal(have[n], saved.masks[n]) for n in have):
            raise ValueError(f"--masks {path}: the run directory {mask_file.parent} already holds a different "
                             f"mask.pt (remove the directory, or use another --runs-dir)")
        return
    mask_file.parent.mkdir(parents=True, exist_ok=True)
    save_verified(mask_file, saved.to_dict(), identity=identity)
