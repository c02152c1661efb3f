import os

import pytest
import torch

# Tests run on the CPU with few threads: deterministic and fair to a 2-core CI machine; an explicit
# OMP_NUM_THREADS (a machine shared with other jobs) wins.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", min(2, os.cpu_count() or 1))))


@pytest.fixture
def gaussian():
    """A small correlated-Gaussian task: rho 0.5, d 2 (truth 0.2877 nats)."""
    from minelib import correlated_gaussian

    return correlated_gaussian(20_000, 0.5, 2, seed=123)


@pytest.fixture
def float64():
    """Exactness checks in float64: Adam's normalised steps turn float32 rounding differences of
    near-zero gradients into differences of order lr, so float32 runs drift apart within steps."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)
