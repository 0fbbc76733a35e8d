"""`python -m sketchbound.dnn.run` runs :mod:`sketchbound.dnn.experiments.run` (kept: the command every README and run directory names for one run)."""
from sketchbound._cli import run_torch_cli

__all__: list[str] = []  # a command, not an API

if __name__ == "__main__":
    raise SystemExit(run_torch_cli("python -m sketchbound.dnn.run", "sketchbound.dnn.experiments.run"))
