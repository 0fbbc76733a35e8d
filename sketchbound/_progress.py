"""Progress for steps that have no count (a mask computation, a final evaluation, a figure's compute).

:func:`elapsed` shows ``desc: 12s`` refreshed every second on a terminal (a tqdm status line, cleared
when the step ends) and, when stderr is not a terminal (CI logs, pipes), one line when the step starts
and one with its wall time when it ends. Steps that do have a count use a plain tqdm bar.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time

__all__ = ["elapsed", "format_seconds"]


def format_seconds(s: float) -> str:
    """``42 s``, ``12 min``, ``3.4 h``, ``2.1 days``."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


@contextlib.contextmanager
def elapsed(desc: str, enabled: bool = True, *, interval: float = 1.0, file=None):
    """Context manager: show that ``desc`` is running, with its elapsed time (see the module docstring)."""
    if not enabled:
        yield
        return
    file = sys.stderr if file is None else file
    t0 = time.perf_counter()
    tty = bool(getattr(file, "isatty", lambda: False)())
    bar = None
    stop = threading.Event()
    th = None
    if tty:
        try:
            from tqdm.auto import tqdm  # noqa: PLC0415
        except ImportError:  # pragma: no cover - tqdm is a declared dependency
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", leave=False, file=file)

            def tick():
                while not stop.wait(interval):
                    bar.refresh()

            th = threading.Thread(target=tick, daemon=True)
            th.start()
    if bar is None:
        print(f"{desc} ...", file=file, flush=True)
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        if th is not None:
            th.join()
        if bar is not None:
            bar.close()
        if ok:
            print(f"{desc}: done in {time.perf_counter() - t0:.1f} s", file=file, flush=True)
