"""The paper's quantities inside networks: Lemma 4.3 per layer, the constant c in practice
(:mod:`.layers`), and Theorem 6.2 on a small CNN in the NTK parameterisation (:mod:`.ntk_cnn`)."""

__all__: list[str] = []  # the API lives in the submodules
