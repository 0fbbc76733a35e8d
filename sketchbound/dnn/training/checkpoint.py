"""Checkpoint and mask files that verify themselves.

A file written by :func:`save_verified` is ``MAGIC``, one JSON header line and a ``torch.save``
payload. The header holds the payload's SHA-256 and length, an *identity* (what the file belongs to:
e.g. the run name, which carries the config hash, and the seed) and the *conditions* the bits depend
on (torch version, device, CPU threads, deterministic flags). :func:`load_verified` checks all of it
before unpickling anything: a truncated, empty, random or bit-flipped file, or one that belongs to
another run, raises ``ValueError`` naming the file, the problem and how to recover (delete it: the
run restarts from the last good state). Changed conditions are returned, not raised: the caller
decides (the trainer resumes, logs a warning and records the difference in the result, because a
resume is bit-identical only under the same conditions).

**No code runs from these files.** The payload holds only tensors and plain data (``str``, ``int``,
``float``, ``bool``, ``None`` and lists, tuples and dicts of those; :func:`save_verified` refuses
anything else) and is read with ``torch.load(..., weights_only=True)``, whose unpickler builds tensors
and containers but never calls an arbitrary function. A crafted file (e.g. a pickle whose
``__reduce__`` calls ``os.system``) is refused with a ``ValueError`` naming the file, before any of it
runs; the command-line tools turn that into one line and exit 2.

**What the digest protects, and what it does not.** The SHA-256 in the header is computed over the
header and payload and stored in the same file. It detects *accidental* damage (truncation, a flipped
bit, a half-written copy): integrity. It is not a signature and gives no authenticity: anyone who can
edit the file can recompute the digest, so a deliberately edited checkpoint or mask (another epoch,
another mask) passes the check. Share and load run folders only from sources you trust; what the
``weights_only`` reader guarantees is that such a file cannot run code, not that its numbers are honest.
"""
from __future__ import annotations

import hashlib
import io
import json
import platform
from pathlib import Path

import numpy as np
import torch

from sketchbound._io import atomic_write

__all__ = ["MAGIC", "save_verified", "load_verified", "conditions"]

MAGIC = b"SKETCHBOUND-VERIFIED-1\n"


def conditions(device: torch.device | str = "cpu", extra: dict | None = None) -> dict:
    """What bit-identical training depends on, besides the data and the seed.

    ``extra`` adds the trainer's own conditions (e.g. ``{"fusion": "horizontal"}`` from
    :class:`~sketchbound.dnn.training.fused.FusedTrainer`, whose floating-point order differs).

    Parameters
    ----------
    device : torch.device or str, default "cpu"
        The training device.
    extra : dict, optional
        The trainer's own conditions.

    Returns
    -------
    dict
        torch version, device type, determinism, and the card (CUDA) or the CPU's threads and machine.

    Examples
    --------
    >>> c = conditions("cpu", {"fusion": "horizontal"})
    >>> c["device_type"], c["fusion"], "torch" in c
    ('cpu', 'horizontal', True)
    """
    device = torch.device(device)
    out = {"torch": torch.__version__, "device_type": device.type,
           "deterministic": bool(torch.are_deterministic_algorithms_enabled())}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
        out["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    else:
        out["cpu_threads"] = int(torch.get_num_threads())
        out["machine"] = platform.machine()
    if extra:
        out.update(extra)
    return out


#: the plain (non-tensor) types a payload may hold; containers: list, tuple, dict with str/int keys
_PLAIN = (str, int, float, bool, type(None))


def _plain(obj, where: str = "obj"):
    """``obj`` as tensors and plain data (numpy scalars become Python numbers, tuples stay tuples);
    ``TypeError`` naming the first value that is neither."""
    if isinstance(obj, torch.Tensor) or type(obj) in _PLAIN:
        return obj
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if type(obj) in (list, tuple):
        return type(obj)(_plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    if type(obj) is dict:
        out = {}
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where} has a key {k!r} of type {type(k).__name__}; keys must be str or int")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}; a verified file holds only "
                    f"tensors, str, int, float, bool, None and lists, tuples and dicts of those")


def save_verified(path, obj, *, identity: dict, device="cpu", extra_conditions: dict | None = None) -> Path:
    """Write ``obj`` to ``path`` atomically with its digest, ``identity`` and the current
    :func:`conditions` (plus ``extra_conditions``).

    Parameters
    ----------
    path : str or Path
        The file to write (replaced atomically).
    obj : tensor, or plain data holding tensors
        Tensors, ``str``, ``int``, ``float``, ``bool``, ``None`` and lists, tuples and dicts of those;
        numpy scalars are stored as Python numbers; anything else raises ``TypeError`` (it could not be read back with ``weights_only=True``).
    identity : dict
        What the file belongs to; :func:`load_verified` refuses a file whose identity differs.
    device : torch.device or str
        The device whose :func:`conditions` are recorded.
    extra_conditions : dict, optional
        The caller's own conditions, recorded with the others.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, torch
    >>> p = Path(tempfile.mkdtemp()) / "x.pt"
    >>> _ = save_verified(p, {"w": torch.ones(2), "epoch": 3}, identity={"kind": "demo"})
    >>> load_verified(p, identity={"kind": "demo"})[0]["epoch"]
    3
    """
    obj = _plain(obj)
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a file; remove or rename it")
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    core = {"bytes": len(payload), "identity": identity, "conditions": conditions(device, extra_conditions)}
    core_bytes = json.dumps(core, sort_keys=True).encode()
    head = {"core": core, "sha256": hashlib.sha256(core_bytes + payload).hexdigest()}
    blob = MAGIC + json.dumps(head, sort_keys=True).encode() + b"\n" + payload
    return atomic_write(path, blob)


def _bad(path, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}; delete this file to recover (the run restarts from its last good state, "
                      f"or from the start if this was the only checkpoint)")


def load_verified(path, *, identity: dict, map_location=None) -> tuple[object, dict]:
    """``(obj, conditions_then)`` from a file of :func:`save_verified`, after checking magic, length,
    digest and that its identity equals ``identity``.

    The digest guards against accidental corruption only, not against deliberate edits (anyone who
    edits the file can recompute it); the payload is read with ``weights_only=True``, so no code in it runs.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save_verified`.
    identity : dict
        The identity the file must carry.
    map_location : optional
        As for ``torch.load``.

    Returns
    -------
    tuple
        ``(obj, conditions)``: the saved object and the :func:`conditions` it was saved under.

    Raises
    ------
    ValueError
        Naming the file: a directory, empty, truncated, padded, changed bytes, another run's file, or a
        payload that is not tensors and plain data (e.g. a pickle that would run code).

    Examples
    --------
    >>> import tempfile, torch
    >>> p = Path(tempfile.mkdtemp()) / "m.pt"
    >>> _ = save_verified(p, [torch.zeros(1)], identity={"kind": "mask"})
    >>> load_verified(p, identity={"kind": "mask"})[0]
    [tensor([0.])]
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a file; remove or rename it (the run then restarts "
                         f"from the start)")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not raw:
        raise _bad(path, "empty file")
    if not raw.startswith(MAGIC):
        raise _bad(path, "not a verified sketchbound file (wrong header: corrupted, or written by another program "
                         "or an older version)")
    nl = raw.find(b"\n", len(MAGIC))
    try:
        head = json.loads(raw[len(MAGIC):nl])
        core, digest = head["core"], str(head["sha256"])
        n = int(core["bytes"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _bad(path, "unreadable header (bytes changed)") from None
    payload = raw[nl + 1:]
    if len(payload) != n:
        raise _bad(path, f"truncated or padded: {len(payload)} payload bytes, header says {n}")
    if hashlib.sha256(json.dumps(core, sort_keys=True).encode() + payload).hexdigest() != digest:
        raise _bad(path, "content does not match its SHA-256 digest (bytes changed)")
    if core.get("identity") != identity:
        raise _bad(path, f"belongs to {core.get('identity')}, not to {identity}")
    try:
        obj = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 — the weights-only unpickler's refusals have several types
        why = " ".join(str(e).split())[:200]
        raise ValueError(f"{path}: refused, its payload is not tensors and plain data (a crafted or foreign "
                         f"pickle; nothing in it was run): {why}") from None
    return obj, core.get("conditions", {})
