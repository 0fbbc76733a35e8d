"""`python -m sketchbound.dnn.deep_theory`: the command-line entry point of :mod:`sketchbound.dnn.experiments.deep_theory`."""
from sketchbound.dnn.experiments.deep_theory import main

if __name__ == "__main__":
    raise SystemExit(main())
