"""minelib: Mutual Information Neural Estimation (Belghazi et al., 2018).

Public API::

    est = minelib.estimate_mi(x, z, bound="dv")   # train a statistics network, est.mi in nats
    minelib.ksg_mi(x, z, k=3)                     # Kraskov et al. (2004) baseline
    minelib.gaussian_mi(rho, dim)                 # ground truth of the paper's Gaussian task
    mine = minelib.MINE(x_dim, z_dim)             # torch module: mine.lower_bound(x, z) as a loss term
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The public names, by the module that holds them. They load on first use (PEP 562): importing one part of
# minelib (say the bottleneck) then loads only what it needs, so a results record's source hashes name only
# the files its numbers can depend on.
_HOME = {
    "bounds": ("BOUNDS", "DV", "NWJ", "Bound", "InfoNCE", "dv_bound", "get_bound", "nwj_bound"),
    "clipping": ("adaptive_clip",),
    "data": ("correlated_gaussian", "gaussian_mi"),
    "diagnostics": ("MIEstimateWarning",),
    "estimation": ("MIEstimate", "estimate_mi"),
    "estimator": ("MINE", "TrainingDivergedError"),
    "ksg": ("ksg_mi",),
    "metrics": ("grid_mode_metrics", "spiral_coverage"),
    "networks": ("StatisticsNetwork",),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'minelib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
