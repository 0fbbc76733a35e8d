"""`python -m sketchbound.dnn.bench_train`: the command-line entry point of :mod:`sketchbound.dnn.experiments.bench_train`."""
from sketchbound._cli import interruptible, require

with interruptible("python -m sketchbound.dnn.bench_train"):  # Ctrl-C while torch loads: one line, exit 130
    require("torch", "python -m sketchbound.dnn.bench_train")  # one line + exit 2 without the dnn extra
    from sketchbound.dnn.experiments.bench_train import main

if __name__ == "__main__":
    raise SystemExit(main())
