"""``python -m sketchbound``: with arguments, the validator (``python -m sketchbound.validate ...``);
without, a map of the commands, whether PyTorch is installed and where the data is."""
import importlib.util
import sys

COMMANDS = [
    ("python -m sketchbound.validate --all", "check every claim of the paper (exit 1: one is violated)"),
    ("python -m sketchbound.data", "which datasets are installed, and where"),
    ("python -m sketchbound.figures --fig 2 --quick", "a figure (--fig 1|2|3|theory; --quick: toy size)"),
    ("python -m sketchbound.dnn.prune --help", "prune a network at initialization, per-layer table [dnn]"),
    ("python -m sketchbound.dnn.run --help", "prune + train one run [dnn]"),
    ("python -m sketchbound.dnn.table --help", "a paper table sweep (GPU-sized) [dnn]"),
    ("python -m sketchbound.bench", "Algorithm 1 vs numpy"),
]


def overview() -> int:
    from sketchbound.data import find_dataset  # noqa: PLC0415

    print("sketchbound: pruning at initialization as sketching. Commands:")
    for cmd, what in COMMANDS:
        print(f"  {cmd:<48} {what}")
    torch = importlib.util.find_spec("torch") is not None
    missing = 'missing; [dnn] commands need it: pip install "sketchbound[dnn]"'
    print(f"PyTorch: {'installed' if torch else missing}")
    fm = find_dataset("fashion-mnist")
    print(f"Fashion-MNIST: {fm if fm else 'not found (python -m sketchbound.data says how to get it)'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        from sketchbound.validate import main

        raise SystemExit(main())
    raise SystemExit(overview())
