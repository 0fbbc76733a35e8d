import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Toy-size torch ops on one intra-op thread: avoids oversubscription stalls when other processes
    share the 2-core machine; the previous setting is restored afterwards."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def fused_init_spy(monkeypatch):
    """``seen = fused_init_spy("compile_mode", build_with=None)``: every ``FusedTrainer(...)`` built during the
    test appends the value it was given for that keyword (its default when not given) to ``seen``; with
    ``build_with`` the trainer is then built with that value instead (e.g. eager instead of compiled, so the
    test checks the flag's path without compiling)."""
    import inspect

    from sketchbound.dnn.training import fused as FU
    keep = object()

    def install(kwarg: str, build_with=keep) -> list:
        real = FU.FusedTrainer.__init__
        default = inspect.signature(real).parameters[kwarg].default
        seen = []

        def spy(self, *args, **kw):
            seen.append(kw.get(kwarg, default))
            if build_with is not keep:
                kw[kwarg] = build_with
            real(self, *args, **kw)
        monkeypatch.setattr(FU.FusedTrainer, "__init__", spy)
        return seen
    return install
