"""`python -m sketchbound.dnn.prune`: the command-line entry point of :mod:`sketchbound.dnn.experiments.prune`."""
from sketchbound._cli import interruptible, require

with interruptible("python -m sketchbound.dnn.prune"):  # Ctrl-C while torch loads: one line, exit 130
    require("torch", "python -m sketchbound.dnn.prune")  # one line + exit 2 without the dnn extra
    from sketchbound.dnn.experiments.prune import main

if __name__ == "__main__":
    raise SystemExit(main())
