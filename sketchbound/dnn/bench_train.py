"""`python -m sketchbound.dnn.bench_train` runs :mod:`sketchbound.dnn.experiments.bench_train` (kept: the benchmark command the READMEs and ``benchmarks/RESULTS.md`` document)."""
from sketchbound._cli import run_torch_cli

__all__: list[str] = []  # a command, not an API

if __name__ == "__main__":
    raise SystemExit(run_torch_cli("python -m sketchbound.dnn.bench_train", "sketchbound.dnn.experiments.bench_train"))
