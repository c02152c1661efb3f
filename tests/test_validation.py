"""Every kind of bad input gets a clear ValueError or TypeError naming the argument."""
import numpy as np
import pytest
import torch

from minelib import MINE, estimate_mi, gaussian_mi, ksg_mi

rng = np.random.default_rng(0)
X, Z = rng.standard_normal((100, 2)), rng.standard_normal((100, 2))


def with_nan(a):
    a = a.copy()
    a[3, 1] = np.nan
    return a


def with_inf(a):
    a = a.copy()
    a[0, 0] = np.inf
    return a


@pytest.mark.parametrize("fn", [lambda x, z: estimate_mi(x, z, steps=5, progress=False), ksg_mi])
@pytest.mark.parametrize("x,z,exc,msg", [
    (with_nan(X), Z, ValueError, "x contains 1 NaN"),
    (X, with_inf(Z), ValueError, "z contains 1 NaN or infinite"),
    (X[:50], Z, ValueError, "same number of rows"),
    (X[:1], Z[:1], ValueError, "at least"),
    (rng.standard_normal((2, 3, 4, 5)), Z, ValueError, "x must have shape"),
    (np.array([["a", "b"]] * 100), Z, TypeError, "x must be a numeric array"),
    (X.astype(complex), Z, TypeError, "numeric"),
    (np.empty((0, 2)), np.empty((0, 2)), ValueError, "empty"),
    (torch.ones(100, 2, dtype=torch.bool), Z, TypeError, "real numbers"),
])
def test_bad_arrays(fn, x, z, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(x, z)


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(bound="mine-f"), ValueError, "unknown bound 'mine-f'; accepted: dv, infonce, nwj"),
    (dict(steps=0), ValueError, "steps must be an integer >= 1"),
    (dict(steps=2.5), TypeError, "steps must be an integer"),
    (dict(batch_size=-3), ValueError, "batch_size must be an integer >= 2"),
    (dict(lr=0.0), ValueError, "lr must lie in"),
    (dict(test_fraction=0.95), ValueError, "test_fraction must lie in"),
    (dict(activation="swish"), ValueError, "unknown activation 'swish'"),
    (dict(device="tpu"), ValueError, "device"),
    (dict(seed=[1, 2]), ValueError, "seed must be an integer >= 0 or a list of 1 seeds, one per task; got a list of 2"),
    (dict(seed=None), TypeError, "always seeded"),
    (dict(seed=1.5), TypeError, "seed must be an integer >= 0 or a list of 1 of them"),
    (dict(seed="0"), TypeError, "seed must be an integer"),
    (dict(seed=True), TypeError, "seed must be an integer"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(seed=[-1]), ValueError, r"seed\[0\] must be >= 0"),
])
def test_bad_settings(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        estimate_mi(X, Z, progress=False, **{"steps": 5, **kwargs})


def test_stacked_shapes_must_agree():
    with pytest.raises(ValueError, match="same number of tasks"):
        estimate_mi(rng.standard_normal((3, 50, 2)), rng.standard_normal((2, 50, 2)), steps=5, progress=False)


def test_mine_rejects_unknown_bound_and_rate():
    with pytest.raises(ValueError, match="unknown bound"):
        MINE(2, 2, bound="mine-f")
    with pytest.raises(ValueError, match="ema_rate must lie in"):
        MINE(2, 2, ema_rate=0.0)


@pytest.mark.parametrize("rho,dim,exc", [(1.0, 2, ValueError), (-1.5, 2, ValueError), (0.5, 0, ValueError)])
def test_gaussian_mi_rejects(rho, dim, exc):
    with pytest.raises(exc):
        gaussian_mi(rho, dim)


def test_unknown_lr_schedule():
    with pytest.raises(ValueError, match="unknown lr_schedule 'step'; accepted: constant, cosine"):
        estimate_mi(X, Z, steps=5, lr_schedule="step", progress=False)
