"""Experiments: typed run configs (dataclass ↔ flags ↔ TOML, hashed run directories), one run, IMP,
paper tables with paired statistics, the pruning CLI, the trainer benchmark and the deep-theory study."""

__all__: list[str] = []  # the API lives in the submodules
