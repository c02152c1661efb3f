"""Synthetic data with known mutual information.

The paper's task (section 4.1): ``Xa ~ N(0, I_d)`` and ``Xb = rho * Xa + sqrt(1 - rho^2) * eta``,
component-wise correlated, with ``I(Xa; Xb) = -(d / 2) log(1 - rho^2)`` nats.
"""
from __future__ import annotations

import math

import numpy as np

from .validation import check_positive_int


def _check_rho(rho) -> float:
    rho = float(rho)
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie strictly between -1 and 1 (the MI is infinite at +-1); got {rho}")
    return rho


def gaussian_mi(rho: float, dim: int = 1) -> float:
    """Ground truth ``I(Xa; Xb) = -(dim / 2) log(1 - rho^2)`` in nats for the correlated-Gaussian task."""
    rho, dim = _check_rho(rho), check_positive_int(dim, "dim")
    return -0.5 * dim * math.log1p(-rho * rho)


def correlated_gaussian(n: int, rho: float, dim: int = 1, seed: int | np.random.Generator | None = 0):
    """Draw ``n`` pairs ``(xa, xb)``, each of shape (n, dim), with component-wise correlation ``rho``."""
    n, dim, rho = check_positive_int(n, "n"), check_positive_int(dim, "dim"), _check_rho(rho)
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((n, dim))
    xb = rho * xa + math.sqrt(1.0 - rho * rho) * rng.standard_normal((n, dim))
    return xa, xb


def gaussian_log_ratio(xa: np.ndarray, xb: np.ndarray, rho: float) -> np.ndarray:
    """``log dP/dQ(xa, xb)`` for the task: the optimal DV critic (paper eq. 9, with C = 0).

    Per component, ``log p(a, b) - log p(a) p(b) = -0.5 log(1 - rho^2)
    - (rho^2 (a^2 + b^2) - 2 rho a b) / (2 (1 - rho^2))``, summed over components.
    """
    rho = _check_rho(rho)
    q = 1.0 - rho * rho
    per = -0.5 * math.log(q) - (rho * rho * (xa**2 + xb**2) - 2.0 * rho * xa * xb) / (2.0 * q)
    return per.sum(axis=-1)
