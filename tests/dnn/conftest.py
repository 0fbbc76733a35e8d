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
