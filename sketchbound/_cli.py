"""The one CLI helper: a parser whose errors are one line + exit 2, argument types that name the flag,
the value and what is accepted, and a guard that turns expected failures into one line + exit 2.

Exit codes shared by every CLI: 0 ok, 2 bad input / missing data / missing extra / cannot write
(checked before the long work starts). ``validate`` adds 1 (a claim violated) and 3 (inconclusive).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

__all__ = ["OneLineParser", "arg_type", "pos_int", "die", "require", "cli_errors", "EXIT_USAGE"]

EXIT_USAGE = 2


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
        die(prog, "interrupted", 130)


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
