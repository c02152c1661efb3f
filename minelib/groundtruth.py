"""Tasks with known mutual information: the ground truth that minelib's estimators are measured against.

Every task has a ``name``, ``sample(n, seed) -> (x, z)`` (float64 arrays of shape (n, dx) and (n, dz), drawn
from the ``data`` stream of :mod:`minelib.seeding`) and ``mutual_information()``, I(X; Z) in nats in closed form:

- :class:`GaussianTask`: a joint Gaussian, ``I = (log det S_xx + log det S_zz - log det S) / 2``.
  :func:`sparse_gaussian` is the paper's task (section 4.1; component i of x correlated with component i of z
  only), :func:`dense_gaussian` the same canonical correlations seen through orthogonal mixings of x and of z,
  so that every x_i is correlated with every z_j (MI is invariant under invertible maps of x and of z);
- :class:`StudentTTask`: a multivariate t with ``dof`` degrees of freedom and the same scale matrices, whose MI
  is the Gaussian one plus a term in digamma functions (Arellano-Valle, Contreras-Reyes and Genton 2013, the
  Student-t tasks of Czyż et al. 2023): heavy tails, and dependence even at zero correlation;
- :class:`Transformed`: a task seen through strictly monotone maps of each coordinate (:data:`MAPS`), which
  leave the MI unchanged;
- :func:`staircase`: the paper's task at d = 20 from 2 to 10 nats (the high-MI regime), and :func:`suite`, the
  list the benchmark (:mod:`minelib.benchmark`, run by ``benchmarks/groundtruth.py``) runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from scipy.fft import dct
from scipy.special import digamma, gammaln

from . import seeding
from .data import _check_rho
from .validation import check_fraction, check_positive_int


class Task(Protocol):
    """What every ground-truth task offers."""

    name: str

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` paired rows ``(x, z)`` from the stream ``data`` of ``seed``."""

    def mutual_information(self) -> float:
        """I(X; Z) in nats, in closed form."""


def _block_mi(cov: np.ndarray, dx: int) -> float:
    """The Gaussian MI of a joint covariance whose first ``dx`` coordinates are x."""
    logdet = lambda m: np.linalg.slogdet(m)[1]
    return 0.5 * float(logdet(cov[:dx, :dx]) + logdet(cov[dx:, dx:]) - logdet(cov))


def _check_sample(n, seed) -> tuple[int, int]:
    return check_positive_int(n, "n"), seeding.check_seed(seed)


@dataclass(frozen=True)
class GaussianTask:
    """(x, z) jointly Gaussian with covariance ``cov``, x the first ``dx`` coordinates."""

    name: str
    cov: np.ndarray
    dx: int

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``L g`` with ``cov = L L^T`` and g standard normal."""
        n, seed = _check_sample(n, seed)
        joint = seeding.rng(seed, "data").standard_normal((n, len(self.cov))) @ np.linalg.cholesky(self.cov).T
        return joint[:, :self.dx], joint[:, self.dx:]

    def mutual_information(self) -> float:
        """``(log det S_xx + log det S_zz - log det S) / 2`` nats."""
        return _block_mi(self.cov, self.dx)


@dataclass(frozen=True)
class StudentTTask:
    """A multivariate t: ``g / sqrt(w / dof)`` with g ~ N(0, ``scale``) and w ~ chi-squared(dof)."""

    name: str
    scale: np.ndarray
    dx: int
    dof: float

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian rows divided by one shared chi-squared draw each (what makes x and z dependent)."""
        n, seed = _check_sample(n, seed)
        rng = seeding.rng(seed, "data")
        g = rng.standard_normal((n, len(self.scale))) @ np.linalg.cholesky(self.scale).T
        joint = g / np.sqrt(rng.chisquare(self.dof, size=(n, 1)) / self.dof)
        return joint[:, :self.dx], joint[:, self.dx:]

    def mutual_information(self) -> float:
        """The Gaussian MI of ``scale`` plus :func:`student_t_correction`."""
        dz = len(self.scale) - self.dx
        return _block_mi(self.scale, self.dx) + student_t_correction(self.dof, self.dx, dz)


def student_t_correction(dof: float, dx: int, dz: int) -> float:
    """What a multivariate t's MI adds to the Gaussian MI of its scale matrix, in nats (>= 0; Arellano-Valle et
    al. 2013, eq. 10): ``log[G(v/2) G((v+dx+dz)/2) / (G((v+dx)/2) G((v+dz)/2))] - (v+dx+dz)/2 psi((v+dx+dz)/2)
    + (v+dx)/2 psi((v+dx)/2) + (v+dz)/2 psi((v+dz)/2) - v/2 psi(v/2)``, G the gamma and psi the digamma function."""
    h = lambda d: gammaln((dof + d) / 2.0)
    p = lambda d: (dof + d) / 2.0 * digamma((dof + d) / 2.0)
    return float(h(0) + h(dx + dz) - h(dx) - h(dz) - p(dx + dz) + p(dx) + p(dz) - p(0))


#: Strictly monotone maps of one coordinate, by name: MI is the same before and after.
MAPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "cube": lambda a: a ** 3,
    "exp": np.exp,
    "sinh": np.sinh,
    "x1e200": lambda a: a * 1e200,
    "x1e-200": lambda a: a * 1e-200,
}


@dataclass(frozen=True)
class Transformed:
    """``base`` with map ``x_map`` applied to every coordinate of x and ``z_map`` to every one of z (names in
    :data:`MAPS`); the MI is ``base``'s."""

    base: GaussianTask | StudentTTask | Transformed
    x_map: str
    z_map: str

    @property
    def name(self) -> str:
        """The base task's name with the maps."""
        return f"{self.base.name} | x->{self.x_map}, z->{self.z_map}"

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The base task's rows, mapped."""
        x, z = self.base.sample(n, seed)
        return MAPS[self.x_map](x), MAPS[self.z_map](z)

    def mutual_information(self) -> float:
        """The base task's MI (monotone maps of each coordinate keep it)."""
        return self.base.mutual_information()


def _componentwise(dim: int, rho: float | np.ndarray) -> np.ndarray:
    """The joint covariance with unit variances and corr(x_i, z_i) = rho_i, all else independent."""
    c = np.diag(np.broadcast_to(np.asarray(rho, dtype=np.float64), (dim,)))
    return np.block([[np.eye(dim), c], [c.T, np.eye(dim)]])


def rho_for(mi: float, dim: int) -> float:
    """The correlation per component that gives the paper's task ``mi`` nats at ``dim`` components."""
    mi = check_fraction(mi, "mi", high=math.inf)
    return math.sqrt(-math.expm1(-2.0 * mi / check_positive_int(dim, "dim")))


def sparse_gaussian(dim: int, rho: float) -> GaussianTask:
    """The paper's task (section 4.1): corr(x_i, z_i) = rho, ``I = -(dim / 2) log(1 - rho^2)``."""
    dim = check_positive_int(dim, "dim")
    _check_rho(rho)
    return GaussianTask(f"gaussian sparse d={dim} rho={rho:g}", _componentwise(dim, rho), dim)


def dense_gaussian(dim: int, mi: float) -> GaussianTask:
    """``mi`` nats spread over ``dim`` canonical correlations (from 1 to 0.25 of the strongest, which is set by
    ``mi``), with x and z each mixed by an orthonormal DCT basis: every x_i is correlated with every z_j."""
    dim, mi = check_positive_int(dim, "dim"), check_fraction(mi, "mi", high=math.inf)
    shape = np.linspace(1.0, 0.25, dim)
    # The strongest correlation r with sum_i -log(1 - (r shape_i)^2) / 2 = mi, by bisection (monotone in r).
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if -0.5 * np.log1p(-(mid * shape) ** 2).sum() < mi else (lo, mid)
    q = dct(np.eye(dim), norm="ortho", axis=0) if dim > 1 else np.eye(1)
    mix = np.block([[q, np.zeros((dim, dim))], [np.zeros((dim, dim)), q[::-1]]])
    cov = mix @ _componentwise(dim, lo * shape) @ mix.T
    return GaussianTask(f"gaussian dense d={dim} I={mi:g}", cov, dim)


def student_t(dim: int, dof: float, rho: float = 0.0) -> StudentTTask:
    """A multivariate t of ``dim`` + ``dim`` coordinates, ``dof`` degrees of freedom and the paper's component-wise
    correlation ``rho`` in its scale matrix."""
    dim, dof = check_positive_int(dim, "dim"), check_fraction(dof, "dof", high=math.inf)
    _check_rho(rho)
    return StudentTTask(f"student-t d={dim} dof={dof:g} rho={rho:g}", _componentwise(dim, rho), dim, dof)


def staircase(dim: int = 20, nats: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0)) -> list[GaussianTask]:
    """The paper's task at ``dim`` components for each MI in ``nats``: from the easy regime to the capped one."""
    return [GaussianTask(f"staircase d={dim} I={mi:g}", _componentwise(dim, rho_for(mi, dim)), dim) for mi in nats]


def suite() -> list[Task]:
    """The tasks of the benchmark (:mod:`minelib.benchmark`): Gaussians (sparse and dense, 1 to 20 dimensions), Student-t
    (1 and 3 degrees of freedom, with and without correlation), monotone maps of both (cubes, exponentials, scales
    of 1e200 and 1e-200), and the 2-10 nat staircase at d = 20."""
    return [
        sparse_gaussian(1, 0.5), sparse_gaussian(5, 0.5), dense_gaussian(5, 1.0), dense_gaussian(20, 2.0),
        student_t(1, 1.0, 0.75), student_t(2, 3.0, 0.0), student_t(5, 3.0, 0.0),
        Transformed(sparse_gaussian(5, 0.5), "cube", "exp"), Transformed(student_t(2, 3.0, 0.5), "sinh", "cube"),
        Transformed(sparse_gaussian(2, 0.8), "x1e200", "x1e-200"),
        *staircase(20, (2.0, 6.0, 10.0)),
    ]
