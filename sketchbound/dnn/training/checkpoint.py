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
"""
from __future__ import annotations

import hashlib
import io
import json
import platform
from pathlib import Path

import torch

from sketchbound._io import atomic_write

__all__ = ["MAGIC", "save_verified", "load_verified", "conditions"]

MAGIC = b"SKETCHBOUND-VERIFIED-1\n"


def conditions(device: torch.device | str = "cpu", extra: dict | None = None) -> dict:
    """What bit-identical training depends on, besides the data and the seed.

    ``extra`` adds the trainer's own conditions (e.g. ``{"fusion": "horizontal"}`` from
    :class:`~sketchbound.dnn.training.fused.FusedTrainer`, whose floating-point order differs)."""
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


def save_verified(path, obj, *, identity: dict, device="cpu", extra_conditions: dict | None = None) -> Path:
    """Write ``obj`` (anything ``torch.save`` takes) to ``path`` atomically with its digest, ``identity``
    and the current :func:`conditions` (plus ``extra_conditions``)."""
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
    digest and that its identity equals ``identity``."""
    path = Path(path)
    raw = path.read_bytes()
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
    obj = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    return obj, core.get("conditions", {})
