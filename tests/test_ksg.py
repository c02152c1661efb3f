import numpy as np
import pytest

from minelib import correlated_gaussian, gaussian_mi, ksg_mi


@pytest.mark.parametrize("rho,dim", [(0.5, 1), (0.9, 1), (0.5, 2), (-0.8, 2), (0.0, 2)])
def test_ksg_close_to_truth(rho, dim):
    x, z = correlated_gaussian(5_000, rho, dim, seed=7)
    assert abs(ksg_mi(x, z, k=3) - gaussian_mi(rho, dim)) < 0.05


def test_ksg_invariant_to_scaling_of_each_variable():
    x, z = correlated_gaussian(2_000, 0.7, 1, seed=3)
    assert abs(ksg_mi(x, z) - ksg_mi(100 * x + 5, 0.01 * z)) < 1e-6


def test_ksg_handles_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(500, 1)).astype(float)
    assert np.isfinite(ksg_mi(x, x + rng.integers(0, 2, size=(500, 1))))


def test_ksg_rejects_k_too_large():
    x, z = correlated_gaussian(5, 0.5, 1)
    with pytest.raises(ValueError, match="k must be smaller"):
        ksg_mi(x, z, k=5)
