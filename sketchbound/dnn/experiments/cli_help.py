"""``--help`` texts of the dnn CLIs that name the accepted values and their true defaults (one place)."""
from __future__ import annotations

__all__ = ["flag_helps"]


def flag_helps(dataset_default: str) -> dict[str, str]:
    """``--help`` texts naming the accepted models, datasets, methods and masks with their true defaults
    (shared by ``dnn.prune``, ``dnn.run`` and ``dnn.table``; imports torch for the model list).

    Parameters
    ----------
    dataset_default : str
        The dataset the CLI uses when none is given.

    Returns
    -------
    dict
        ``{field: help text}`` for ``model``, ``dataset``, ``method`` and ``mask``.

    Examples
    --------
    >>> "randomized" in flag_helps("cifar10")["mask"]
    True
    """
    from sketchbound.dnn.data import DATASETS  # noqa: PLC0415
    from sketchbound.dnn.experiments.config import MASKS, RUN_METHODS  # noqa: PLC0415
    from sketchbound.dnn.models import MODEL_NAMES  # noqa: PLC0415
    return {
        "model": f"model name: {', '.join(MODEL_NAMES)} (default: resnet20)",
        "dataset": f"dataset: {', '.join(d for d in DATASETS if d != 'imagenet')} (default: {dataset_default})",
        "method": f"pruning method: {', '.join(RUN_METHODS)} (default: synflow)",
        "mask": (f"mask mode: {', '.join(MASKS)} (default: global, the hard threshold of the published methods; "
                 "the paper's randomized mask of §7: --mask randomized. The default stays global so that recorded "
                 "runs and table files that omit the mask keep their names)"),
    }
