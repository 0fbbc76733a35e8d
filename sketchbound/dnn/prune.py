"""`python -m sketchbound.dnn.prune` runs :mod:`sketchbound.dnn.experiments.prune` (kept: the pruning command the READMEs document)."""
from sketchbound._cli import run_torch_cli

__all__: list[str] = []  # a command, not an API

if __name__ == "__main__":
    raise SystemExit(run_torch_cli("python -m sketchbound.dnn.prune", "sketchbound.dnn.experiments.prune"))
