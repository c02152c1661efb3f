"""minelib: Mutual Information Neural Estimation (Belghazi et al., 2018).

Public API::

    est = minelib.estimate_mi(x, z, bound="dv")   # train a statistics network, est.mi in nats
    minelib.ksg_mi(x, z, k=3)                     # Kraskov et al. (2004) baseline
    minelib.gaussian_mi(rho, dim)                 # ground truth of the paper's Gaussian task
    mine = minelib.MINE(x_dim, z_dim)             # torch module: mine.lower_bound(x, z) as a loss term
"""
from .bounds import BOUNDS, DV, NWJ, Bound, InfoNCE, dv_bound, get_bound, nwj_bound
from .clipping import adaptive_clip
from .data import correlated_gaussian, gaussian_mi
from .diagnostics import MIEstimateWarning
from .estimator import MINE, MIEstimate, TrainingDivergedError, estimate_mi
from .ksg import ksg_mi
from .metrics import grid_mode_metrics, spiral_coverage
from .networks import StatisticsNetwork

__version__ = "0.1.0"
__all__ = [
    "BOUNDS", "DV", "NWJ", "Bound", "InfoNCE", "get_bound", "MINE", "MIEstimate", "MIEstimateWarning", "StatisticsNetwork", "TrainingDivergedError", "adaptive_clip", "correlated_gaussian",
    "dv_bound", "estimate_mi", "gaussian_mi", "grid_mode_metrics", "ksg_mi", "nwj_bound", "spiral_coverage",
]
