"""The bridge's CPU rungs: the theory's prediction beside the measured accuracy along one axis of
sampling laws (tempered ``p ∝ p0^β`` and the variance-aware law), numpy only (no torch).

* :mod:`.laws`: the axis, the two procedures (Algorithm 1, §7), ``c, σ`` of ``w* = c w⁰ + ε``;
* :mod:`.errors`: Lemma 4.3's errors for many weight vectors sharing one ``X``;
* :mod:`.linear`: rung 1, the §3 linear model on Fashion-MNIST pixels and random ReLU features;
* :mod:`.ntk_rung`: rung 2, the two-layer NTK-regime MLP of :mod:`sketchbound.ntk`;
* :mod:`.analysis`, :mod:`.record`: the summary (rank correlation, paired tests) and the written files;
* ``python -m sketchbound.bridge --rung linear|ntk``: one command per rung.
"""
from .analysis import COLUMNS, summarize
from .laws import LAWS, PROCEDURES
from .linear import LinearConfig, run_linear
from .ntk_rung import NTKConfig, run_ntk
from .record import write_rung

__all__ = ["COLUMNS", "LAWS", "PROCEDURES", "LinearConfig", "NTKConfig", "run_linear", "run_ntk", "summarize",
           "write_rung"]
