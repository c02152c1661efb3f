"""Marginal transforms that keep mutual information and make the critic's (or KSG's) job easier.

I(X; Z) is invariant under any strictly monotone map of each coordinate of X and of Z (and under invertible
maps in general). A statistics network, though, sees the numbers: heavy tails (Student-t), values of 1e200 or
1e-200 that float32 cannot hold, or a cube of Gaussian data make its optimisation hard, although the MI is the
same. Three transforms, each fitted on reference rows (``estimate_mi``: the training split) and applied to
all rows (the held-out ones too):

- ``"standardize"``: each feature to zero mean and unit variance (an affine map);
- ``"rank_gauss"``: each feature through its empirical CDF, then the standard normal quantile
  (``scipy.stats.norm.ppf``): the marginals become Gaussian whatever they were. Rows outside the fitted ones
  are mapped by linear interpolation between the fitted values (and clamped beyond their range), so the map
  of the held-out rows is fixed by the training rows alone and is monotone;
- ``"none"``: the numbers as given.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import norm

from .validation import check_bool, check_choice

TRANSFORMS = ("standardize", "rank_gauss", "none")
#: The default of ``estimate_mi`` and ``ksg_mi``, chosen by measurement across families (``estimate_mi``'s
#: docstring gives the numbers, from ``benchmarks/groundtruth.py``).
DEFAULT_TRANSFORM = "rank_gauss"


def check_transform(transform, name: str = "transform") -> str:
    """``transform`` as one of :data:`TRANSFORMS`, or a ValueError naming ``name`` and listing them."""
    return check_choice(transform, name, TRANSFORMS)


def resolve_transform(transform, standardize, default: str) -> str:
    """``transform`` (None: ``default``), or the deprecated ``standardize`` (a real bool: True is
    ``"standardize"``, False ``"none"``) mapped onto it with a DeprecationWarning; contradictions raise."""
    if standardize is None:
        return check_transform(default if transform is None else transform)
    standardize = check_bool(standardize, "standardize")
    mapped = "standardize" if standardize else "none"
    if transform is not None and check_transform(transform) != mapped:
        raise ValueError(f"standardize={standardize} contradicts transform={transform!r}; pass transform alone")
    warnings.warn(f"standardize= is deprecated; pass transform={mapped!r} instead", DeprecationWarning, stacklevel=4)
    return mapped


def apply_transform(kind: str, a: np.ndarray, ref: np.ndarray, *, center: bool = True) -> np.ndarray:
    """Map the rows of ``a`` (..., n, d) by transform ``kind`` fitted on the rows of ``ref`` (..., m, d).

    Leading dimensions are independent problems (stacked tasks), each fitted on its own reference rows.
    ``center=False`` makes ``"standardize"`` a scaling only (KSG's convention, which needs no centring).
    """
    if kind == "standardize":
        return standardize(a, ref, center=center)
    if kind == "rank_gauss":
        return rank_gauss(a, ref)
    return a


def standardize(a: np.ndarray, ref: np.ndarray, *, center: bool = True) -> np.ndarray:
    """``(a - mean) / std`` with the mean and std of ``ref`` per feature (a constant feature is left unscaled).

    Each feature is first scaled by a power of two that brings its largest magnitude near 1: exact in floating
    point, so ordinary data give the same bits as the plain formula, while data near 1e200 (whose squares
    overflow) or 1e-200 (whose squares underflow) keep their spread instead of collapsing to 0.
    """
    _, exponent = np.frexp(np.abs(ref).max(axis=-2, keepdims=True))
    power = np.ldexp(1.0, -exponent)
    a, ref = a * power, ref * power
    std = ref.std(axis=-2, keepdims=True)
    shifted = a - ref.mean(axis=-2, keepdims=True) if center else a
    return shifted / np.where(std > 0, std, 1.0)


def rank_gauss(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Normal scores of ``a``'s values under the empirical CDF of ``ref``, per feature (see the module docstring).

    A reference value of average rank r among m (1-based; tied values share their mean rank) gets
    ``norm.ppf((r - 0.5) / m)``; other values are interpolated between the reference values' scores.
    """
    out = np.empty(a.shape, dtype=np.float64)
    m = ref.shape[-2]
    for index in np.ndindex(*a.shape[:-2], a.shape[-1]):
        rows = index[:-1] + (slice(None), index[-1])
        values, counts = np.unique(ref[rows], return_counts=True)
        mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
        out[rows] = np.interp(a[rows], values, norm.ppf((mean_rank - 0.5) / m))
    return out
