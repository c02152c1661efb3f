"""Kraskov-Stögbauer-Grassberger k-nearest-neighbour MI estimator (Kraskov et al. 2004, algorithm 1).

scikit-learn's ``mutual_info_regression`` implements the same estimator but only for a scalar
target, so the multivariate version is written here on scipy's kd-tree. With a GPU it runs there instead, as
blocked brute-force distances in float64: max-norm distances are exact in floating point (a subtraction and an
absolute value per coordinate, then a maximum), so the neighbour counts, and the estimate, are the same to the
last bit on either device (``tests/test_ksg.py``).
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma

from . import seeding
from .diagnostics import emit
from .runtime import resolve_device
from .transforms import DEFAULT_TRANSFORM, apply_transform, resolve_transform
from .validation import check_fraction, check_pair, check_positive_int


def ksg_mi(x, z, k: int = 3, standardize: bool | None = None, jitter: float = 1e-10, seed: int = 0,
           workers: int = -1, transform: str | None = None, device: str | torch.device | None = None) -> float:
    """KSG estimate of I(X; Z) in nats.

    ``I = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_z + 1) >`` with max-norm distances: ``eps_i`` is
    the distance to the k-th neighbour of point i in the joint space, ``n_x(i)`` the number of
    points strictly closer than ``eps_i`` in x alone. O(N log N) with kd-trees in low dimensions;
    in high ones, blocked brute-force distances, which are faster there (see ``_prefer_tree``).

    Args:
        x, z: paired samples of shape (n, dx) / (n, dz) or (n,).
        k: neighbours, ``1 <= k <= (n - 1) // 2``: with more, every neighbourhood spans most of the sample and
            the estimate tends to 0 whatever the dependence (k = n - 1 gives about -1/n).
        transform: a map of each feature that keeps the MI (:mod:`minelib.transforms`), fitted on all rows:
            ``"rank_gauss"`` (the default: Gaussian ranks; chosen by measurement, see ``estimate_mi``),
            ``"standardize"`` (unit variance: the max-norm compares x- and z-distances directly, so without a
            scale the estimate depends on the variables' units, as in scikit-learn) or ``"none"``.
        standardize: deprecated, ``True`` means ``transform="standardize"`` and ``False`` ``"none"``.
        jitter: relative noise added to break ties (repeated values make ``eps_i`` zero), drawn
            from a seeded generator; 0 turns it off.
        seed: seed of the jitter (stream ``data`` of :mod:`minelib.seeding`).
        workers: threads for the neighbour queries (-1: all cores) on the CPU.
        device: where the neighbours are counted. None: the inputs' device when they are CUDA tensors, else CUDA
            when torch sees a GPU (``"auto"``), else the CPU. On the CPU the counts come from kd-trees or blocked
            distances, as :func:`_prefer_tree` picks; on a GPU always from blocked float64 distances. The
            transform, jitter and digammas run in numpy on the CPU either way.

    Warns (:class:`~minelib.diagnostics.MIEstimateWarning`) on a negative estimate, on repeated rows and on
    features with many tied values: KSG assumes continuous data, and repeats make neighbours at distance 0
    (rows repeated three times read 1.17 nats against 0.83 without them).
    """
    dev = _counting_device(device, x, z)
    x, z = check_pair(*(a.detach().cpu() if isinstance(a, torch.Tensor) else a for a in (x, z)), min_rows=2)
    k = check_positive_int(k, "k")
    n = x.shape[0]
    if k >= n:
        raise ValueError(f"k must be smaller than the number of rows; got k={k} with {n} rows")
    if 2 * k > n - 1:
        raise ValueError(f"k={k} is too large for n={n} rows: KSG needs k <= (n - 1) // 2 = {(n - 1) // 2} "
                         f"(Kraskov et al. use 2 to 10); with more neighbours it tends to 0 whatever the data")
    jitter = check_fraction(jitter, "jitter", high=1.0, closed_low=True)
    seed, workers = seeding.check_seed(seed), _check_workers(workers)
    kind = resolve_transform(transform, standardize, DEFAULT_TRANSFORM)
    notes = _continuity_notes(x, z)
    x, z = (apply_transform(kind, a, a, center=False) for a in (x, z))
    if jitter:
        rng = seeding.rng(seed, "data")
        x = x + jitter * x.std(axis=0, keepdims=True).clip(min=1.0) * rng.standard_normal(x.shape)
        z = z + jitter * z.std(axis=0, keepdims=True).clip(min=1.0) * rng.standard_normal(z.shape)
    if dev.type != "cpu":
        nx1, nz1 = _counts_brute_force(x, z, k, workers, rows=_device_rows(n), device=dev)
    else:
        use_tree = _prefer_tree(n, x.shape[1] + z.shape[1])
        nx1, nz1 = (_counts_tree if use_tree else _counts_brute_force)(x, z, k, workers)
    mi = float(digamma(k) + digamma(n) - np.mean(digamma(nx1) + digamma(nz1)))
    if mi < 0:
        notes.append(f"the KSG estimate is negative ({mi:.3g} nats), which MI never is: no dependence was "
                     f"detected at n = {n} (read it as 0)")
    emit(notes)
    return mi


def _check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or not (workers == -1 or workers >= 1):
        raise ValueError(f"workers must be -1 (all cores) or a positive number of threads; got {workers!r}")
    return int(workers)


def _continuity_notes(x: np.ndarray, z: np.ndarray) -> list[str]:
    """Warnings for data KSG's continuity assumption does not fit: repeated rows, features with many ties."""
    notes = []
    joint = np.hstack([x, z])
    repeated = len(joint) - len(np.unique(joint, axis=0))
    if repeated:
        notes.append(f"{repeated} of {len(joint)} rows repeat an earlier row: KSG assumes continuous data, and "
                     f"repeats put neighbours at distance 0 (only the jitter separates them), which biases the "
                     f"estimate (upwards for duplicated rows); drop the duplicates or use estimate_mi")
    for name, a in (("x", x), ("z", z)):
        distinct = min(len(np.unique(a[:, j])) for j in range(a.shape[1]))
        if distinct < 0.5 * len(a) and not repeated:
            notes.append(f"a feature of {name} takes only {distinct} distinct values in {len(a)} rows: KSG "
                         f"assumes continuous data, and ties (broken only by the jitter) bias it; for discrete "
                         f"data use a plug-in estimate or estimate_mi")
    return notes


def _counting_device(device, x, z) -> torch.device:
    """Where :func:`ksg_mi` counts neighbours (see its ``device``)."""
    if device is not None:
        return resolve_device(device)
    on = [a.device for a in (x, z) if isinstance(a, torch.Tensor) and a.device.type != "cpu"]
    return on[0] if on else resolve_device("auto")


def _device_rows(n: int) -> int:
    """Rows of a block on a GPU: three (rows, n) float64 matrices of about 256 MB each at most (n = 10k: 3,355
    rows, 3 blocks), so that a block is a few large kernels rather than many small ones."""
    return max(512, 2 ** 25 // n)


def _prefer_tree(n: int, joint_dim: int) -> bool:
    """kd-trees win in low dimensions; in high ones a query visits nearly every point, with far more
    overhead per point than a vectorised distance matrix. Brute force costs O(n^2), so it wins only
    up to some n. Measured on 2 cores (tree / brute seconds): 20k at 6 + 6 dims 10.5 / 11.5; 7 + 7
    11.5 / 11.7; 8 + 8 20 / 12; 10 + 10 39 / 13; 40k at 10 + 10 115 / 52; 50k at 6 + 6 28 / 73;
    100k at 5 + 5 58 / 269. From 20k to 40k the tree's cost grows as n^1.6 at 10 + 10 dims, so brute
    force stays ahead there up to about 200k (extrapolated).
    """
    return joint_dim <= 14 or (joint_dim < 40 and n > 200_000)


def _counts_tree(x: np.ndarray, z: np.ndarray, k: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_x + 1`` and ``n_z + 1`` per point with kd-trees, O(n log n) in low dimensions."""
    joint = np.hstack([x, z])
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf, workers=workers)[0][:, -1]
    # Counting within the next float below eps counts points strictly closer; the point itself is
    # counted too, which makes the count n_x + 1 directly.
    radius = np.nextafter(eps, 0)
    nx1 = cKDTree(x).query_ball_point(x, radius, p=np.inf, return_length=True, workers=workers)
    nz1 = cKDTree(z).query_ball_point(z, radius, p=np.inf, return_length=True, workers=workers)
    return nx1, nz1


def _counts_brute_force(x: np.ndarray, z: np.ndarray, k: int, workers: int, rows: int = 512,
                        device: torch.device | None = None):
    """The same counts from blocks of the full max-norm distance matrices (torch, float64), on ``device``
    (the CPU by default; ``workers`` is not used: torch's threads do the work).

    The joint max-norm distance is the larger of the x and z distances, so two matrices suffice.
    """
    xt, zt = torch.as_tensor(x, device=device), torch.as_tensor(z, device=device)
    nx1, nz1 = [], []
    for i in range(0, len(xt), rows):
        dx = torch.cdist(xt[i:i + rows], xt, p=float("inf"))
        dz = torch.cdist(zt[i:i + rows], zt, p=float("inf"))
        # k+1: the point itself is at 0. topk is several times faster than kthvalue for small k.
        eps = torch.maximum(dx, dz).topk(k + 1, dim=1, largest=False).values[:, -1:]
        nx1.append(torch.lt(dx, eps).sum(1, dtype=torch.int32))  # int32: half the cost of bool -> int64
        nz1.append(torch.lt(dz, eps).sum(1, dtype=torch.int32))
    return torch.cat(nx1).cpu().numpy(), torch.cat(nz1).cpu().numpy()
