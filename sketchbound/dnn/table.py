"""`python -m sketchbound.dnn.table` runs :mod:`sketchbound.dnn.experiments.table` (kept: the command recorded in every table run's provenance, ``result.json``)."""
from sketchbound._cli import run_torch_cli

__all__: list[str] = []  # a command, not an API

if __name__ == "__main__":
    raise SystemExit(run_torch_cli("python -m sketchbound.dnn.table", "sketchbound.dnn.experiments.table"))
