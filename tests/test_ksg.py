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


@pytest.mark.parametrize("dim", [1, 3, 12])
def test_tree_and_brute_force_counts_agree(dim):
    from minelib import ksg

    x, z = correlated_gaussian(700, 0.6, dim, seed=dim)
    tree = ksg._counts_tree(x, z, 3, 1)
    brute = ksg._counts_brute_force(x, z, 3, 1, rows=128)
    np.testing.assert_array_equal(tree[0], brute[0])
    np.testing.assert_array_equal(tree[1], brute[1])


def test_ksg_high_dimension_runs_brute_force_and_is_biased_low():
    """At d = 20 + 20 the estimate is finite and, as Kraskov's estimator is known to be, well below the truth."""
    x, z = correlated_gaussian(2_000, 0.5, 20, seed=0)
    est = ksg_mi(x, z)
    assert np.isfinite(est) and 0 < est < gaussian_mi(0.5, 20)
