"""The 2-D toy data sets of the paper's GAN experiments, as seeded samplers.

- :func:`swiss_roll`: the spiral of Fig 3 (paper §4.2; the ALI code's spiral):
  ``pos ~ U(0, 2)``, ``r = (2 pos + 1) / 3``, ``x = (r sin 2 pi pos, r cos 2 pi pos) + 0.1 N(0, I)``.
- :func:`grid_gaussians`: the 25 Gaussians of Fig 4 (paper §4.2; as in PacGAN and VEEGAN): a uniform mixture with means
  on ``{-4, -2, 0, 2, 4}^2`` and standard deviation 0.05.

Both return float32 arrays of shape (n, 2) together with what generated each point (the arc
position, the mode index), for colouring plots and for checking metrics. ``seed`` is anything
``numpy.random.default_rng`` accepts, so a training loop can pass its own generator.
"""
from __future__ import annotations

import numpy as np

from .validation import check_fraction, check_positive_int

SWISS_ROLL_NOISE = 0.1
SWISS_ROLL_POS_RANGE = (0.0, 2.0)
GRID_VALUES = (-4.0, -2.0, 0.0, 2.0, 4.0)
GRID_STD = 0.05
#: The 25 means of the grid, row-major over (first coordinate, second coordinate).
GRID_MEANS = np.array([(a, b) for a in GRID_VALUES for b in GRID_VALUES], dtype=np.float32)


def swiss_roll_curve(pos) -> np.ndarray:
    """The noiseless spiral at arc positions ``pos`` in [0, 2]: shape (len(pos), 2), float64."""
    pos = np.asarray(pos, dtype=np.float64)
    r = (2.0 * pos + 1.0) / 3.0
    return np.stack([r * np.sin(2.0 * np.pi * pos), r * np.cos(2.0 * np.pi * pos)], axis=-1)


def swiss_roll(n: int, seed=0, noise: float = SWISS_ROLL_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points of the spiral; return ``(x, pos)``: x (n, 2) float32, pos (n,) in [0, 2]."""
    n = check_positive_int(n, "n")
    noise = check_fraction(noise, "noise", high=np.inf, closed_low=True)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(*SWISS_ROLL_POS_RANGE, size=n)
    x = swiss_roll_curve(pos) + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), pos.astype(np.float32)


def grid_gaussians(n: int, seed=0, std: float = GRID_STD) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points of the 25-Gaussian grid; return ``(x, mode)``: x (n, 2) float32, mode (n,)
    the index into :data:`GRID_MEANS` of the component each point came from."""
    n = check_positive_int(n, "n")
    std = check_fraction(std, "std", high=np.inf, closed_low=True)
    rng = np.random.default_rng(seed)
    mode = rng.integers(len(GRID_MEANS), size=n)
    x = GRID_MEANS[mode].astype(np.float64) + std * rng.standard_normal((n, 2))
    return x.astype(np.float32), mode


DATASETS = {"swiss_roll": swiss_roll, "grid_gaussians": grid_gaussians}
