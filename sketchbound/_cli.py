"""The one CLI helper: a parser whose errors are one line + exit 2, argument types that name the flag,
the value and what is accepted, and a guard that turns expected failures into one line + exit 2.

Exit codes shared by every CLI: 0 ok, 2 bad input / missing data / missing extra / cannot write /
work too large for this machine (checked before the long work starts), 130 interrupted (Ctrl-C).
``validate`` adds 1 (a claim violated) and 3 (inconclusive).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

__all__ = ["OneLineParser", "arg_type", "pos_int", "die", "require", "run_torch_cli", "cli_errors", "interruptible", "check_budget",
           "human_bytes", "EXIT_USAGE", "EXIT_INTERRUPTED", "MAX_REPEATS"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: the cap on counts a CLI repeats work for (``--repeats``, ``--seeds``, ``--epochs``): larger values are
#: typing slips (10⁴ epochs of CIFAR-10 are weeks on a GPU), refused with this limit named
MAX_REPEATS = 10_000


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr and exit status 2."""

    def error(self, message):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def arg_type(name: str, cast, ok=lambda x: True, accepted: str = "a valid value", *, many: bool = False):
    """An argparse ``type``: ``cast`` each (comma-separated when ``many``) value, check it with ``ok``,
    and name the flag, the value and what is accepted when it fails."""
    def parse(v):
        out = []
        for part in (v.split(",") if many else [v]):
            try:
                x = cast(part)
            except (ValueError, OverflowError, TypeError):
                x = None
            try:
                good = x is not None and ok(x)
            except (ValueError, OverflowError, TypeError):
                good = False
            if not good:
                raise argparse.ArgumentTypeError(f"--{name} must be {accepted}, got {v!r}")
            out.append(x)
        return out if many else out[0]
    parse.__name__ = name
    return parse


def pos_int(name: str, *, lo: int = 1, hi: int | None = None):
    """An argparse type for an integer in ``[lo, hi]``."""
    acc = f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")
    return arg_type(name, int, lambda x: x >= lo and (hi is None or x <= hi), acc)


def die(prog: str, message: str, code: int = EXIT_USAGE):
    """Print ``prog: error: message`` (one line) and exit with ``code``."""
    sys.stderr.write(f"{prog}: error: {' '.join(str(message).split())}\n")
    raise SystemExit(code)


def require(module: str, prog: str, extra: str = "dnn"):
    """Import ``module`` or exit 2 with one line saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        die(prog, f"{e.name or module} is not installed; install it with: pip install \"sketchbound[{extra}]\"")


@contextlib.contextmanager
def cli_errors(prog: str, *extra_types: type[BaseException]):
    """Turn ``ValueError``, ``FileNotFoundError``, ``PermissionError`` (and ``extra_types``) raised by
    the library into one line on stderr and exit 2; Ctrl-C exits 130 with one line."""
    try:
        yield
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
            *extra_types) as e:
        die(prog, str(e) or type(e).__name__)
    except KeyboardInterrupt:
        die(prog, "interrupted", EXIT_INTERRUPTED)


@contextlib.contextmanager
def interruptible(prog: str):
    """Ctrl-C → ``prog: error: interrupted`` (one line) and exit status 130, no traceback.

    A context manager and a decorator: every CLI's ``main`` is decorated with it, so an interrupt at any
    moment of a command (parsing, loading, training, writing) ends the same way.

    Parameters
    ----------
    prog : str
        The command named in the line, e.g. ``"python -m sketchbound.bench"``.

    Examples
    --------
    >>> @interruptible("demo")
    ... def main():
    ...     raise KeyboardInterrupt
    >>> main()  # doctest: +SKIP
    Traceback (most recent call last):
    SystemExit: 130
    """
    try:
        yield
    except KeyboardInterrupt:
        die(prog, "interrupted", EXIT_INTERRUPTED)


def run_torch_cli(prog: str, module: str) -> int:
    """Run ``module.main()`` as the command ``prog``: a missing torch is one line and exit 2, Ctrl-C while
    torch loads one line and exit 130 (the entry points ``python -m sketchbound.dnn.<command>`` use it).

    Parameters
    ----------
    prog : str
        The command named in error lines, e.g. ``"python -m sketchbound.dnn.table"``.
    module : str
        The module whose ``main()`` (argv from ``sys.argv``) does the work.

    Returns
    -------
    int
        The exit status ``main()`` returns.

    Examples
    --------
    >>> run_torch_cli("python -m sketchbound.dnn.table", "sketchbound.dnn.experiments.table")  # doctest: +SKIP
    0
    """
    with interruptible(prog):
        require("torch", prog)
        main = importlib.import_module(module).main
    return main()


def human_bytes(n: float) -> str:
    """``n`` bytes in decimal units, two significant figures at least (``8.0 GB``, ``940 TB``).

    Examples
    --------
    >>> human_bytes(8e9), human_bytes(1.5e3), human_bytes(9.4e14)
    ('8.0 GB', '1.5 kB', '940 TB')
    """
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.1f} {unit}" if abs(n) < 100 else f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.0f} EB"  # pragma: no cover


def check_budget(prog: str, flags: str, nbytes: float, what: str, *, force: bool = False,
                 force_flag: str = "--force") -> None:
    """Refuse work that cannot fit this machine before allocating it: one line and exit status 2.

    The one memory limit of the package is :func:`sketchbound.probabilities.memory_limit` (half of the
    physical memory, the limit the core's :func:`~sketchbound.probabilities.check_memory` applies to
    single arrays); a CLI estimates the bytes its arguments need and calls this first.

    Parameters
    ----------
    prog : str
        The command named in the line.
    flags : str
        The flags and values responsible, as typed (``"--d 1000000000 --n 128"``).
    nbytes : float
        Estimated memory the work needs, in bytes (may exceed any integer type: a float).
    what : str
        What the memory holds (``"X (d x n float64)"``).
    force : bool
        Skip the check (the user's ``--force``).
    force_flag : str
        The flag named in the message that skips the check.

    Examples
    --------
    >>> check_budget("demo", "--d 10", 80, "p")  # fits: returns None
    """
    if force:
        return
    from .probabilities import memory_limit  # noqa: PLC0415 - numpy only when a CLI checks sizes

    limit = memory_limit()
    if limit is not None and not nbytes <= limit:
        need = f"~{human_bytes(nbytes)}" if nbytes < float("inf") else "more than 1e308 bytes"
        die(prog, f"{flags} needs {need} for {what} (limit {human_bytes(limit)}, half of this "
                  f"machine's memory; pass {force_flag} to try anyway)")


def torch_device(prog: str, spec: str | None, *, default: str | None = None):
    """``torch.device(spec)`` for a CLI's ``--device`` (``None``: ``default``, else cuda when available, else
    cpu), or one line + exit 2 when torch is missing, the name is not a device or CUDA is absent."""
    torch = require("torch", prog)
    spec = spec if spec is not None else (default or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError):
        die(prog, f"--device must be a torch device such as cpu, cuda or cuda:1; got {spec!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        die(prog, f"--device {spec}: no CUDA device is available")
    return dev
