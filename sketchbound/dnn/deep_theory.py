"""`python -m sketchbound.dnn.deep_theory`: the command-line entry point of :mod:`sketchbound.dnn.experiments.deep_theory`."""
from sketchbound._cli import interruptible, require

with interruptible("python -m sketchbound.dnn.deep_theory"):  # Ctrl-C while torch loads: one line, exit 130
    require("torch", "python -m sketchbound.dnn.deep_theory")  # one line + exit 2 without the dnn extra
    from sketchbound.dnn.experiments.deep_theory import main

if __name__ == "__main__":
    raise SystemExit(main())
