"""`python -m sketchbound.dnn.prune`: the command-line entry point of :mod:`sketchbound.dnn.experiments.prune`."""
from sketchbound.dnn.experiments.prune import main

if __name__ == "__main__":
    raise SystemExit(main())
