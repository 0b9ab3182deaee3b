"""Test-session settings: one torch/OpenMP thread per pytest-xdist worker.

The suite runs as ``pytest -n 2`` on two cores; two workers each using two OpenMP threads
oversubscribe the cores, and spinning OpenMP threads then make small training steps
tens of times slower (measured: 1.36 s vs 0.029 s per TCN step). Child processes the
tests start (CLI runs, torchrun) inherit ``OMP_NUM_THREADS``.
"""

import os

import pytest

# No run in the tests measures its precision and memory layout (convkit.train.runtime's
# probe: seconds per model, and a choice that differs between machines); a test that
# checks the probe turns it on itself. Child processes inherit it.
os.environ["CONVKIT_RUNTIME_PROBE"] = "0"

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """torch on one thread for the test (small models run fastest so, and do not fight a
    parallel test worker); the count is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
