"""`python -m sketchbound.dnn.run`: the command-line entry point of :mod:`sketchbound.dnn.experiments.run`."""
from sketchbound.dnn.experiments.run import main

if __name__ == "__main__":
    raise SystemExit(main())
