"""The MI-preserving transforms: rank-to-Gaussian and standardisation, fitted on one split, applied to another."""
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from minelib import estimate_mi, groundtruth as gt
from minelib.transforms import apply_transform, rank_gauss, standardize

rng = np.random.default_rng(0)


def test_rank_gauss_gives_normal_scores_and_keeps_order():
    a = rng.standard_t(1, (1, 500, 2))
    g = rank_gauss(a, a)
    expected = norm.ppf((np.arange(1, 501) - 0.5) / 500)
    np.testing.assert_allclose(np.sort(g[0, :, 0]), expected, rtol=0, atol=1e-12)
    assert (np.argsort(g[0, :, 1]) == np.argsort(a[0, :, 1])).all()


def test_rank_gauss_is_invariant_to_monotone_maps_and_shares_ties():
    ref = rng.standard_normal((2, 300, 3))
    np.testing.assert_array_equal(rank_gauss(ref, ref), rank_gauss(np.exp(ref), np.exp(ref)))
    tied = np.array([[[1.0], [1.0], [2.0], [3.0]]])
    scores = rank_gauss(tied, tied)[0, :, 0]
    assert scores[0] == scores[1] == norm.ppf((1.5 - 0.5) / 4)


def test_rank_gauss_maps_held_out_rows_monotonically_within_the_fitted_range():
    ref, new = rng.standard_normal((1, 200, 1)), rng.standard_normal((1, 1000, 1)) * 3
    out, fitted = rank_gauss(new, ref), rank_gauss(ref, ref)
    order = np.argsort(new[0, :, 0])
    assert (np.diff(out[0, order, 0]) >= 0).all()
    assert fitted.min() <= out.min() and out.max() <= fitted.max()


def test_standardize_is_exact_and_survives_extreme_scales():
    a = rng.standard_normal((3, 100, 2)) * 7 + 2
    plain = (a - a.mean(axis=1, keepdims=True)) / a.std(axis=1, keepdims=True)
    assert np.array_equal(standardize(a, a), plain)  # the power-of-two prescaling is exact
    for scale in (1e200, 1e-200):
        np.testing.assert_allclose(standardize(a * scale, a * scale).std(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(apply_transform("none", a, a), a)


@pytest.mark.parametrize("transform", ["rank_gauss", "standardize"])
def test_extreme_scales_keep_the_estimate(transform):
    """x * 1e200 and z * 1e-200 (1.02 nats): both transforms recover the information; before, 1e-7 came back."""
    task = gt.Transformed(gt.sparse_gaussian(2, 0.8), "x1e200", "x1e-200")
    x, z = task.sample(4_000, 0)
    est = estimate_mi(x, z, steps=300, transform=transform, progress=False)
    assert abs(est.mi - task.mutual_information()) < 0.15


def test_transform_and_standardize_arguments():
    x, z = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    with pytest.raises(ValueError, match="unknown transform 'ranks'; accepted: none, rank_gauss, standardize"):
        estimate_mi(x, z, steps=5, transform="ranks", progress=False)
    with pytest.raises(TypeError, match="standardize must be True or False; got 'no'"):
        estimate_mi(x, z, steps=5, standardize="no", progress=False)
    with pytest.raises(ValueError, match="contradicts"):
        estimate_mi(x, z, steps=5, standardize=True, transform="none", progress=False)
    with pytest.warns(DeprecationWarning, match="transform='none'"):
        est = estimate_mi(x, z, steps=5, standardize=False, progress=False)
    assert est.settings["transform"] == "none"
    with pytest.raises(ValueError, match="x has values up to .*transform='none'"):
        estimate_mi(x * 1e200, z, steps=5, transform="none", progress=False)
