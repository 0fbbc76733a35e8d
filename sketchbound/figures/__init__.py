"""Figures of the paper, one module per figure: ``python -m sketchbound.figures --fig 1|2|3|theory``.

* :mod:`.fig1` — IMP winning tickets vs random masks, norm of the kept weights (LeNet-300-100, Fashion-MNIST).
* :mod:`.fig2` — SynFlow scores of all weights vs those kept by hard threshold / randomized mask (VGG-19).
* :mod:`.fig3` — ``|w|`` at initialisation of the weights kept by SynFlow, IMP and a random mask (VGG-19).
* :mod:`.theory` — every claim of the validator vs ``s`` (measured, exact, bound) and the sketches compared.

Every figure is drawn from the CSV written by the same run (:func:`.common.publish`). Nothing in the
package imports this subpackage.
"""

# the figures are made by ``python -m sketchbound.figures`` (one module per figure); no names here
__all__ = []
