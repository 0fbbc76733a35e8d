"""The one atomic writer of the package, and the output-path check every CLI runs before its work.

Every file the toolkit writes (validator reports, figures' CSV/JSON/PNG, run results, masks, tables)
goes through :func:`atomic_write`: a temporary file in the destination folder, ``fsync``, then
``os.replace``, so a reader (or a kill -9) sees either the old file or the new one, never half of
one. The temporary file is removed on any error, and the final file gets the permissions the user's
umask gives a freshly created file (``mkstemp`` alone would leave it 0600).

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); _ = atomic_write(os.path.join(d, "x.txt"), "hi"); open(os.path.join(d, "x.txt")).read()
'hi'
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_json", "atomic_replace_dir", "check_output_path", "umask_mode"]


def umask_mode(base: int = 0o666) -> int:
    """The mode a new file created with ``base`` gets under the current umask."""
    cur = os.umask(0)
    os.umask(cur)
    return base & ~cur


def atomic_write(path, data, *, fsync: bool = True) -> Path:
    """Write ``data`` (``str``, ``bytes`` or a callable ``f(fileobj_binary)``) to ``path`` atomically.

    The parent folder is created. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            elif isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            elif isinstance(data, str):
                f.write(data.encode("utf-8"))
            else:
                raise TypeError(f"data must be str, bytes or a callable; got {type(data).__name__}")
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_json(path, obj, **kw) -> Path:
    """:func:`atomic_write` of ``json.dumps(obj, indent=2, sort_keys=True)`` plus a newline."""
    kw.setdefault("indent", 2)
    kw.setdefault("sort_keys", True)
    return atomic_write(path, json.dumps(obj, **kw) + "\n")


def atomic_replace_dir(build, dest) -> Path:
    """Build a folder's whole content with ``build(tmpdir)`` and swap it in for ``dest``.

    Files of ``dest`` that ``build`` does not write are kept; every file ``build`` writes is moved
    into ``dest`` only after ``build`` finished without error (so a kill during the build leaves
    ``dest`` untouched). Each move is an atomic ``os.replace``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".build."))
    try:
        build(tmp)
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                target = dest / p.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(p, umask_mode())
                os.replace(p, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def check_output_path(path, *, kind: str = "file", suffixes: tuple[str, ...] | None = None,
                      flag: str = "output") -> Path:
    """Check, *before* long work starts, that ``path`` can be written.

    ``kind="file"``: the nearest existing ancestor of the parent folder is a writable directory and
    ``path`` is not a directory; ``kind="dir"``: ``path`` is (or can be created as) a writable
    directory. ``suffixes`` restricts the file extension (e.g. plot formats). Raises ``ValueError``
    naming ``flag``, the value and what is accepted.
    """
    if path is None or str(path) == "":
        raise ValueError(f"{flag} must be a path; got {str(path)!r}")
    p = Path(path)
    if suffixes is not None and kind == "file" and p.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} must end in one of {', '.join(suffixes)}; got {str(path)!r}")
    if kind == "file" and p.is_dir():
        raise ValueError(f"{flag} must be a file path, not a directory; got {str(path)!r}")
    if kind == "dir" and p.exists() and not p.is_dir():
        raise ValueError(f"{flag} must be a directory; got {str(path)!r}, which is a file")
    probe = p if kind == "dir" else p.parent
    probe = Path(os.path.abspath(probe))
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{flag}: {str(probe)!r} is not a directory (from {str(path)!r})")
    if not os.access(probe, os.W_OK | os.X_OK) or str(probe).startswith(("/proc", "/sys")):
        raise ValueError(f"{flag}: directory {str(probe)!r} is not writable (from {str(path)!r})")
    return p
