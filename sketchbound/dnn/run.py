"""`python -m sketchbound.dnn.run`: the command-line entry point of :mod:`sketchbound.dnn.experiments.run`."""
from sketchbound._cli import interruptible, require

with interruptible("python -m sketchbound.dnn.run"):  # Ctrl-C while torch loads: one line, exit 130
    require("torch", "python -m sketchbound.dnn.run")  # one line + exit 2 without the dnn extra
    from sketchbound.dnn.experiments.run import main

if __name__ == "__main__":
    raise SystemExit(main())
