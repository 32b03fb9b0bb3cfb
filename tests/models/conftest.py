"""Fixtures of the model tests: one intra-op thread, and each big network built once per module."""
import pytest
import torch

from galzoo.models import create_model


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes these nets 30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def built(one_thread):
    """``built(name, num_outputs)``: each network is built once per output count (the big ones take a moment
    to initialise), seeded and in eval mode."""
    cache: dict[tuple[str, int], torch.nn.Module] = {}

    def build(name: str, num_outputs: int) -> torch.nn.Module:
        if (name, num_outputs) not in cache:
            torch.manual_seed(0)
            cache[name, num_outputs] = create_model(name, num_outputs=num_outputs, input_size=64).eval()
        return cache[name, num_outputs]

    return build
