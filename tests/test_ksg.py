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


def test_ksg_refuses_a_k_it_cannot_honour():
    x, z = correlated_gaussian(20, 0.5, 1)
    with pytest.raises(ValueError, match=r"k=19 is too large for n=20 rows"):
        ksg_mi(x, z, k=19)
    with pytest.raises(TypeError, match="standardize must be True or False"):
        ksg_mi(x, z, standardize="no")
    with pytest.raises(ValueError, match="workers must be -1"):
        ksg_mi(x, z, workers=0)


def test_ksg_warns_on_duplicates_ties_and_negative_estimates():
    from minelib import MIEstimateWarning
    x, z = correlated_gaussian(1_000, 0.8, 1, seed=1)
    with pytest.warns(MIEstimateWarning, match="repeat an earlier row"):
        ksg_mi(np.tile(x, (3, 1)), np.tile(z, (3, 1)))
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(400, 1)).astype(float), rng.integers(0, 2, size=(400, 1)).astype(float)
    with pytest.warns(MIEstimateWarning, match="distinct values|repeat"):
        ksg_mi(*bits)
    with pytest.warns(MIEstimateWarning, match="negative"):
        few = np.random.default_rng(0)
        value = ksg_mi(few.standard_normal((7, 1)), few.standard_normal((7, 1)))
    assert value < 0


def test_ksg_rank_gauss_helps_on_heavy_tails():
    """Cauchy-like t (1 degree of freedom, 0.64 nats): Gaussian ranks bring KSG closer to the truth."""
    from minelib import groundtruth
    task = groundtruth.student_t(1, 1.0, 0.75)
    x, z = task.sample(3_000, 0)
    truth = task.mutual_information()
    assert abs(ksg_mi(x, z, transform="rank_gauss") - truth) < 0.05


@pytest.mark.parametrize("dim", [2, 20])
def test_device_path_counts_on_the_cpu_equal_the_cpu_paths_exactly(dim):
    """The GPU's path (blocked float64 distances, blocks sized for a GPU) run on the CPU gives the very counts of
    the path ksg_mi takes on the CPU (kd-trees at d = 2 per variable, small blocks at d = 20): max-norm distances
    are exact in float64, so equality is exact, not approximate."""
    import torch

    from minelib import ksg

    x, z = correlated_gaussian(3_000, 0.6, dim, seed=dim)
    x, z = x.astype(np.float64), z.astype(np.float64)
    cpu_path = (ksg._counts_tree if ksg._prefer_tree(len(x), 2 * dim) else ksg._counts_brute_force)(x, z, 3, 1)
    device_path = ksg._counts_brute_force(x, z, 3, 1, rows=ksg._device_rows(len(x)), device=torch.device("cpu"))
    for ours, theirs in zip(device_path, cpu_path):
        np.testing.assert_array_equal(ours, theirs)


def test_ksg_device_argument_and_tensor_inputs_give_the_cpu_estimate():
    import torch

    x, z = correlated_gaussian(1_000, 0.5, 2, seed=4)
    base = ksg_mi(x, z)
    assert ksg_mi(x, z, device="cpu") == base
    assert ksg_mi(torch.as_tensor(x), torch.as_tensor(z)) == base
