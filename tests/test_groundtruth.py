"""The ground-truth tasks against closed form and Monte Carlo."""
import math

import numpy as np
import pytest
from scipy.stats import multivariate_t

from minelib import gaussian_mi, groundtruth as gt


def test_sparse_gaussian_is_the_papers_task():
    for dim, rho in [(1, 0.5), (5, 0.9), (20, -0.3)]:
        assert gt.sparse_gaussian(dim, rho).mutual_information() == pytest.approx(gaussian_mi(rho, dim), rel=1e-12)


def test_dense_gaussian_hits_its_mi_and_is_dense():
    task = gt.dense_gaussian(5, 1.0)
    assert task.mutual_information() == pytest.approx(1.0, abs=1e-9)
    x, z = task.sample(100_000, 1)
    cov = np.cov(np.hstack([x, z]).T)
    # The plug-in MI of the sample covariance: its error is O(d^2 / n) ~ 3e-4 here, 0.02 is far above it.
    assert gt._block_mi(cov, 5) == pytest.approx(1.0, abs=0.02)
    cross = np.abs(np.corrcoef(np.hstack([x, z]).T)[:5, 5:])
    assert (cross > 0.02).mean() > 0.5  # most x_i are correlated with most z_j, unlike the sparse task


@pytest.mark.parametrize("task", [gt.student_t(1, 1.0, 0.75), gt.student_t(2, 3.0, 0.0)], ids=lambda t: t.name)
def test_student_t_mi_matches_monte_carlo(task):
    """E[log p(x, z) - log p(x) - log p(z)] with scipy's multivariate t densities, 5 standard errors."""
    x, z = task.sample(40_000, 0)
    d = task.dx
    joint = multivariate_t(np.zeros(2 * d), task.scale, df=task.dof).logpdf(np.hstack([x, z]))
    px = multivariate_t(np.zeros(d), task.scale[:d, :d], df=task.dof).logpdf(x)
    pz = multivariate_t(np.zeros(d), task.scale[d:, d:], df=task.dof).logpdf(z)
    ratio = joint - px - pz
    assert abs(ratio.mean() - task.mutual_information()) < 5 * ratio.std() / math.sqrt(len(ratio))


def test_student_t_correction_vanishes_for_many_degrees_of_freedom():
    assert gt.student_t_correction(1.0, 1, 1) > gt.student_t_correction(10.0, 1, 1) > 0
    assert gt.student_t_correction(1e7, 3, 2) == pytest.approx(0.0, abs=1e-5)


def test_transformed_keeps_mi_and_maps_the_same_rows():
    base = gt.sparse_gaussian(2, 0.8)
    task = gt.Transformed(base, "cube", "exp")
    assert task.mutual_information() == base.mutual_information()
    (x, z), (bx, bz) = task.sample(50, 3), base.sample(50, 3)
    np.testing.assert_array_equal(x, bx ** 3)
    np.testing.assert_array_equal(z, np.exp(bz))
    assert "cube" in task.name


def test_staircase_and_suite():
    steps = gt.staircase(20, (2.0, 10.0))
    assert [round(t.mutual_information(), 9) for t in steps] == [2.0, 10.0]
    suite = gt.suite()
    assert len({t.name for t in suite}) == len(suite)
    for t in suite:
        x, z = t.sample(10, 0)
        assert x.shape[0] == z.shape[0] == 10 and np.isfinite(t.mutual_information())


def test_samples_are_seeded_and_arguments_checked():
    task = gt.student_t(2, 3.0)
    np.testing.assert_array_equal(task.sample(20, 5)[0], task.sample(20, 5)[0])
    assert not np.array_equal(task.sample(20, 5)[0], task.sample(20, 6)[0])
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        task.sample(0, 1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        task.sample(5, 1.5)
    with pytest.raises(ValueError, match="rho"):
        gt.sparse_gaussian(2, 1.0)
    with pytest.raises(ValueError, match="dof"):
        gt.student_t(2, -1.0)
