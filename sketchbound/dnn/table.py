"""`python -m sketchbound.dnn.table`: the command-line entry point of :mod:`sketchbound.dnn.experiments.table`."""
from sketchbound._cli import interruptible, require

with interruptible("python -m sketchbound.dnn.table"):  # Ctrl-C while torch loads: one line, exit 130
    require("torch", "python -m sketchbound.dnn.table")  # one line + exit 2 without the dnn extra
    from sketchbound.dnn.experiments.table import main

if __name__ == "__main__":
    raise SystemExit(main())
