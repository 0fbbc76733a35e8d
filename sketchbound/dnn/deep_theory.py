"""`python -m sketchbound.dnn.deep_theory`: the command-line entry point of :mod:`sketchbound.dnn.experiments.deep_theory`."""
from sketchbound._cli import require

require("torch", "python -m sketchbound.dnn.deep_theory")  # one line + exit 2 without the dnn extra
from sketchbound.dnn.experiments.deep_theory import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
