"""`python -m sketchbound.dnn.bench_train`: the command-line entry point of :mod:`sketchbound.dnn.experiments.bench_train`."""
from sketchbound._cli import require

require("torch", "python -m sketchbound.dnn.bench_train")  # one line + exit 2 without the dnn extra
from sketchbound.dnn.experiments.bench_train import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
