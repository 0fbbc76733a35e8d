"""`python -m sketchbound.dnn.prune`: the command-line entry point of :mod:`sketchbound.dnn.experiments.prune`."""
from sketchbound._cli import require

require("torch", "python -m sketchbound.dnn.prune")  # one line + exit 2 without the dnn extra
from sketchbound.dnn.experiments.prune import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
