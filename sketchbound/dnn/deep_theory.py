"""`python -m sketchbound.dnn.deep_theory` runs :mod:`sketchbound.dnn.experiments.deep_theory` (kept: the deep-theory command the READMEs and the validation notes document)."""
from sketchbound._cli import run_torch_cli

__all__: list[str] = []  # a command, not an API

if __name__ == "__main__":
    raise SystemExit(run_torch_cli("python -m sketchbound.dnn.deep_theory", "sketchbound.dnn.experiments.deep_theory"))
