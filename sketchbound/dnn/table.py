"""`python -m sketchbound.dnn.table`: the command-line entry point of :mod:`sketchbound.dnn.experiments.table`."""
from sketchbound.dnn.experiments.table import main

if __name__ == "__main__":
    raise SystemExit(main())
