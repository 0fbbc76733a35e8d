"""sketchbound: pruning at initialization seen as sketching (Bar & Giryes).

Public names only; see the modules for the maths:
probabilities (eq. 2) → sampling (Algorithm 1; the other sketches in sketches) → theory (the paper's closed
forms; exact Gaussian expectations in gaussian, exact errors of other masks in mask_errors).

>>> import sketchbound as sb
>>> p = sb.optimal_probabilities([[3.0, 4.0], [1.0, 0.0]], [1.0, -5.0])   # eq. (2)
>>> sb.algorithm1(p, 4, rng=0).shape
(2,)
"""
from .probabilities import (
    from_scores,
    optimal_probabilities,
    tempered_probabilities,
    uniform_probabilities,
    variance_aware_probabilities,
)
from .sampling import (
    algorithm1,
    algorithm1_counts,
    algorithm1_sparse,
    bernoulli,
    inclusion_probabilities,
    priority,
    top_s,
    uniform_algorithm1,
    without_replacement,
)

from importlib.metadata import PackageNotFoundError as _NotFound, version as _version

try:  # the installed distribution's version: pyproject.toml is the one place it is written
    __version__ = _version("sketchbound")
except _NotFound:  # a source tree that was never pip-installed
    __version__ = "0+unknown"
del _NotFound, _version

__all__ = [
    "algorithm1",
    "algorithm1_counts",
    "algorithm1_sparse",
    "bernoulli",
    "from_scores",
    "inclusion_probabilities",
    "optimal_probabilities",
    "priority",
    "tempered_probabilities",
    "top_s",
    "uniform_algorithm1",
    "uniform_probabilities",
    "variance_aware_probabilities",
    "without_replacement",
    "__version__",
]
