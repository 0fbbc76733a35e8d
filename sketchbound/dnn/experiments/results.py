"""A run's result file and the provenance recorded in it: ``result.json``, whether a run is finished, the
commit and the environment that produced it."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from sketchbound.dnn.experiments.config import RunConfig

__all__ = ["RESULT_FILE", "git_commit", "environment", "is_finished", "load_result"]

RESULT_FILE = "result.json"


def git_commit() -> str | None:
    """The commit of the code that ran: the environment variable ``SKETCHBOUND_COMMIT`` when set (pass it
    when the tree was copied to another machine: a copy's own ``.git`` may be stale), else
    ``git rev-parse HEAD`` (``-dirty`` with local changes), else None.

    Returns
    -------
    str or None

    Examples
    --------
    >>> import os
    >>> os.environ["SKETCHBOUND_COMMIT"] = "abc123"
    >>> git_commit()
    'abc123'
    >>> del os.environ["SKETCHBOUND_COMMIT"]
    """
    if os.environ.get("SKETCHBOUND_COMMIT"):
        return os.environ["SKETCHBOUND_COMMIT"]
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def environment(device: torch.device) -> dict:
    """Versions and hardware recorded in ``result.json``.

    Parameters
    ----------
    device : torch.device
        The device the run trained on (its name is recorded).

    Returns
    -------
    dict
        ``torch``, ``python``, ``device``, ``device_name``, ``git_commit``, ``host``.

    Examples
    --------
    >>> sorted(environment(torch.device("cpu")))
    ['device', 'device_name', 'git_commit', 'host', 'python', 'torch']
    """
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
            "device_name": name, "git_commit": git_commit(), "host": platform.node()}


def is_finished(cfg: RunConfig, runs_dir: str | Path) -> bool:
    """Whether the run ``cfg`` has its ``result.json`` in ``runs_dir``.

    Parameters
    ----------
    cfg : RunConfig
        The run.
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_finished(RunConfig(model="lenet300100", dataset="mnist", method="dense"), "no/such/runs")
    False
    """
    return (cfg.run_dir(runs_dir) / RESULT_FILE).is_file()


def load_result(cfg: RunConfig, runs_dir: str | Path) -> dict | None:
    """The ``result.json`` of the run ``cfg`` in ``runs_dir``, or ``None`` when it has none (not finished).

    Parameters
    ----------
    cfg : RunConfig
        The run.
    runs_dir : str or Path
        The parent of the run directories.

    Returns
    -------
    dict or None

    Raises
    ------
    ValueError
        A result file that cannot be read or is not a JSON object (the message says to delete it).

    Examples
    --------
    >>> load_result(RunConfig(model="lenet300100", dataset="mnist", method="dense"), "no/such/runs") is None
    True
    """
    p = cfg.run_dir(runs_dir) / RESULT_FILE
    if not p.is_file():
        return None
    try:
        out = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{p}: unreadable result ({type(e).__name__}: {' '.join(str(e).split())[:120]}); delete it "
                         f"to train this run again") from None
    if not isinstance(out, dict):
        raise ValueError(f"{p}: not a result (a JSON {type(out).__name__}, expected an object); delete it to train "
                         f"this run again")
    return out
