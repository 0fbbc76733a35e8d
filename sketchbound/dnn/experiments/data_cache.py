"""The training sets of a sweep, read once per process: :func:`data_for` (cached per dataset, root, padding
and subset) and :func:`preload_data` (read them all before the first run trains)."""
from __future__ import annotations

from typing import Sequence

from sketchbound.dnn.data import TensorDataset, load_dataset
from sketchbound.dnn.experiments.config import RunConfig

__all__ = ["DATA_CACHE", "data_for", "preload_data"]

#: (dataset, data_root, pad_to, train_subset) → the dataset, shared by the runs of this process
DATA_CACHE: dict[tuple, TensorDataset] = {}


def data_for(cfg: RunConfig) -> TensorDataset:
    """The training set of ``cfg`` (padded and subset as it asks), read once per process and kept in
    :data:`DATA_CACHE`.

    Parameters
    ----------
    cfg : RunConfig
        The run (``dataset``, ``data_root``, ``pad_to``, ``train_subset``).

    Returns
    -------
    TensorDataset

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sketchbound.data import write_idx_split
    >>> d = tempfile.TemporaryDirectory()
    >>> _ = write_idx_split(d.name, 8, 4)  # a tiny MNIST: 8 training and 4 test images
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", data_root=d.name, train_subset=5)
    >>> data = data_for(cfg)
    >>> len(data), data.y_train.tolist(), data_for(cfg) is data  # read once
    (5, [0, 1, 2, 3, 4], True)
    >>> d.cleanup()
    """
    r = cfg.resolved()
    key = (r.dataset, r.data_root, r.pad_to, r.train_subset)
    if key not in DATA_CACHE:
        base_key = (r.dataset, r.data_root)
        ds = DATA_CACHE.get(base_key + (None, None))
        if ds is None:
            ds = load_dataset(r.dataset, r.data_root)
            DATA_CACHE[base_key + (None, None)] = ds
        if r.pad_to is not None:
            ds = ds.pad_to(r.pad_to)
        if r.train_subset is not None:
            ds = ds.subset(r.train_subset)
        DATA_CACHE[key] = ds
    return DATA_CACHE[key]


def preload_data(cfgs: Sequence[RunConfig]) -> None:
    """Read every dataset ``cfgs`` train on (cached for their runs by :func:`data_for`), so that a missing
    or damaged dataset, or a batch larger than the data, stops a sweep before its first run trains.

    Parameters
    ----------
    cfgs : sequence of RunConfig
        The runs of a sweep.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        A run whose ``batch_size`` exceeds its training set.

    Examples
    --------
    >>> preload_data([])  # nothing to read
    """
    for c in cfgs:
        r = c.resolved()
        data = data_for(r)
        if r.batch_size > len(data):
            raise ValueError(f"batch_size {r.batch_size} exceeds the training set size {len(data)} of {r.dataset}")
