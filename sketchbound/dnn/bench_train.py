"""`python -m sketchbound.dnn.bench_train`: the command-line entry point of :mod:`sketchbound.dnn.experiments.bench_train`."""
from sketchbound.dnn.experiments.bench_train import main

if __name__ == "__main__":
    raise SystemExit(main())
