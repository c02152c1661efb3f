"""Sample-quality metrics for the 2-D GAN experiments (Fig 3 and Fig 4).

Grid of Gaussians (Fig 4, paper §4.2; the metrics of PacGAN / VEEGAN): each sample is assigned to its
nearest mode; it is *high quality* (HQ) if its Euclidean distance to that mode is at most 3 standard
deviations (for data itself that holds for 1 - e^{-4.5} = 98.9% of the samples, the 2-D Rayleigh
tail); a mode is *covered* if it has at least one HQ sample; the reverse KL is
``sum_j q_j log(q_j K)`` for the histogram ``q`` of HQ samples over the modes that have any
(K = 25 modes, so 0 for a perfectly balanced cover and ``log K`` when every HQ sample sits in one
mode). With no HQ sample at all the histogram does not exist and the KL is NaN.

Spiral (Fig 3, paper §4.2; our measure, the paper gives none): coverage of the arc by arc-length bins. The noiseless curve
``c(pos) = r (sin 2 pi pos, cos 2 pi pos)``, ``r = (2 pos + 1) / 3``, ``pos in [0, 2]`` is cut into
``bins`` pieces of equal arc length (total length about 4 pi). A sample is assigned to the nearest
point of the curve (on a dense grid of ``points_per_bin`` points per bin); it counts as *on the arc*
if that distance is at most ``max_distance = 0.3``, three times the data's noise std 0.1 (the
distance of a data point to the curve is, to first order, the normal component of its noise, a 1-D
N(0, 0.1^2), so 99.7% of data points are on the arc; successive turns are 2/3 apart, so a point within
0.3 has an unambiguous nearest turn). Coverage = bins holding at least one on-arc sample.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from .toy2d import GRID_MEANS, GRID_STD, SWISS_ROLL_NOISE, SWISS_ROLL_POS_RANGE, swiss_roll_curve
from .validation import as_float_array, check_fraction, check_positive_int


def _samples(samples) -> np.ndarray:
    x = as_float_array(samples, "samples")
    if x.shape[1] != 2:
        raise ValueError(f"samples must be 2-D points of shape (n, 2); got shape {x.shape}")
    return x


def grid_mode_metrics(samples, means=GRID_MEANS, std: float = GRID_STD, n_std: float = 3.0) -> dict:
    """Mode coverage of a mixture of Gaussians with equal isotropic ``std`` (default: the 25-grid).

    Returns a dict: ``modes`` (covered modes, int), ``n_modes``, ``hq_percent`` (% of samples within
    ``n_std * std`` of their nearest mode), ``reverse_kl`` (nats; NaN when no sample is HQ) and
    ``counts`` (HQ samples per mode, a list in the order of ``means``).
    """
    x = _samples(samples)
    means = as_float_array(means, "means")
    std = check_fraction(std, "std", high=math.inf)
    n_std = check_fraction(n_std, "n_std", high=math.inf)
    dist = np.linalg.norm(x[:, None, :] - means[None, :, :], axis=-1)
    nearest = dist.argmin(axis=1)
    hq = dist[np.arange(len(x)), nearest] <= n_std * std
    counts = np.bincount(nearest[hq], minlength=len(means))
    total = counts.sum()
    if total > 0:
        q = counts[counts > 0] / total
        kl = max(float(np.sum(q * np.log(q * len(means)))), 0.0)  # >= 0 exactly; drop rounding below it
    else:
        kl = math.nan
    return {"modes": int((counts > 0).sum()), "n_modes": len(means), "hq_percent": 100.0 * float(hq.mean()),
            "reverse_kl": kl, "counts": counts.tolist()}


@lru_cache(maxsize=8)
def _spiral_grid(bins: int, points_per_bin: int):
    """Dense points of the curve, their arc length from the start, and a KD-tree over them."""
    pos = np.linspace(*SWISS_ROLL_POS_RANGE, bins * points_per_bin + 1)
    curve = swiss_roll_curve(pos)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    return curve, s, cKDTree(curve)


def spiral_arc_length() -> float:
    """Length of the noiseless spiral (about 4 pi)."""
    return float(_spiral_grid(100, 50)[1][-1])


def spiral_coverage(samples, bins: int = 100, max_distance: float = 3 * SWISS_ROLL_NOISE,
                    points_per_bin: int = 50) -> dict:
    """Arc-length coverage of the spiral (see the module text for the definitions).

    Returns a dict: ``coverage`` (bins with at least one on-arc sample, int), ``bins``,
    ``on_arc_percent`` (% of samples within ``max_distance`` of the curve) and ``counts`` (on-arc
    samples per bin, a list from the centre outwards).
    """
    x = _samples(samples)
    bins = check_positive_int(bins, "bins")
    points_per_bin = check_positive_int(points_per_bin, "points_per_bin")
    max_distance = check_fraction(max_distance, "max_distance", high=math.inf)
    _, s, tree = _spiral_grid(bins, points_per_bin)
    dist, idx = tree.query(x)
    on = dist <= max_distance
    which = np.minimum((s[idx[on]] / s[-1] * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    return {"coverage": int((counts > 0).sum()), "bins": bins, "on_arc_percent": 100.0 * float(on.mean()),
            "counts": counts.tolist()}
