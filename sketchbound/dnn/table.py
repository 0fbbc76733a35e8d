"""`python -m sketchbound.dnn.table`: the command-line entry point of :mod:`sketchbound.dnn.experiments.table`."""
from sketchbound._cli import require

require("torch", "python -m sketchbound.dnn.table")  # one line + exit 2 without the dnn extra
from sketchbound.dnn.experiments.table import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
