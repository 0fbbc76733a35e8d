"""`python -m sketchbound.dnn.run`: the command-line entry point of :mod:`sketchbound.dnn.experiments.run`."""
from sketchbound._cli import require

require("torch", "python -m sketchbound.dnn.run")  # one line + exit 2 without the dnn extra
from sketchbound.dnn.experiments.run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
