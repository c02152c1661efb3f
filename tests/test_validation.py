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
    (dict(hidden=()), ValueError, "hidden must list at least one hidden layer"),
    (dict(hidden=16), TypeError, "hidden must be a sequence of layer widths"),
    (dict(bootstrap=3), ValueError, "bootstrap must be an integer >= 10"),
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


def test_stacked_seed_lists_must_match_the_tasks():
    with pytest.raises(ValueError, match="seed must be an integer >= 0 or a list of 2 seeds, one per task; got a list of 3"):
        estimate_mi(rng.standard_normal((2, 50, 2)), rng.standard_normal((2, 50, 2)), steps=5, seed=[1, 2, 3],
                    progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", torch.device("cuda")], ids=["str", "torch.device"])
def test_cuda_without_a_gpu_is_refused_by_name(device):
    with pytest.raises(ValueError, match="device.*no CUDA GPU"):
        estimate_mi(X, Z, steps=5, device=device, progress=False)


def test_ragged_lists_and_bfloat16():
    with pytest.raises(ValueError, match="x is a ragged sequence"):
        estimate_mi([[1.0, 2.0], [3.0]] * 10, Z[:20], steps=5, progress=False)
    with pytest.raises(ValueError, match="z is a ragged sequence"):
        ksg_mi(X[:3], [[1.0], [2.0, 3.0], [4.0]])
    est = estimate_mi(torch.tensor(X, dtype=torch.bfloat16), torch.tensor(Z, dtype=torch.bfloat16), steps=5,
                      progress=False)
    assert np.isfinite(est.mi)


def _mine_case(x, z, **kw):
    return MINE(2, 1, hidden=(8,), seed=0, **kw).lower_bound(x, z)


@pytest.mark.parametrize("x,z,exc,msg", [
    (torch.randn(64, 3), torch.randn(64, 1), ValueError, r"x must have shape \(n, d\) with d = 2"),
    (torch.randn(64, 2), torch.randn(64, 2), ValueError, r"z must have shape \(n, d\) with d = 1"),
    (torch.randn(64), torch.randn(64, 1), ValueError, r"x must have shape \(n, d\) with d = 2.*\(64,\)"),
    (torch.randn(64, 2), torch.randn(60, 1), ValueError, "same number of rows"),
    (torch.randn(1, 2), torch.randn(1, 1), ValueError, "at least 2 rows"),
    (torch.ones(8, 2, dtype=torch.bool), torch.randn(8, 1), TypeError, "x must hold real numbers"),
    (np.array([["a", "b"]] * 8), torch.randn(8, 1), TypeError, "x must be a numeric array"),
])
def test_mine_checks_its_inputs(x, z, exc, msg):
    with pytest.raises(exc, match=msg):
        _mine_case(x, z)


def test_mine_converts_float64_numpy_and_one_column_inputs():
    """float64 tensors (with their gradient), numpy arrays and a 1-D z for a one-feature z all work; loss too."""
    x = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
    z = torch.randn(64, dtype=torch.float64)
    mine = MINE(2, 1, hidden=(8,), seed=0)
    value = mine(x, z)
    value.backward()
    assert value.dtype == torch.float32 and x.grad is not None and x.grad.dtype == torch.float64
    assert torch.isfinite(mine.lower_bound(x.detach().numpy(), z.numpy()))
    loss, mi = mine.loss(torch.randn(64, 2, dtype=torch.bfloat16), torch.randn(64, 1), torch.randn(64, 1))
    assert torch.isfinite(loss) and torch.isfinite(mi)
    with pytest.raises(ValueError, match="z_marginal must have z's shape"):
        mine.loss(torch.randn(64, 2), torch.randn(64, 1), torch.randn(32, 1))
    stacked = MINE(2, 1, hidden=(8,), members=3, seed=0)
    with pytest.raises(ValueError, match="K = 3"):
        stacked.lower_bound(torch.randn(2, 16, 2), torch.randn(2, 16, 1))
    assert stacked.lower_bound(torch.randn(3, 16, 2), torch.randn(3, 16, 1)).shape == (3,)


def test_mine_refuses_a_linear_critic():
    with pytest.raises(ValueError, match="hidden must list at least one hidden layer.*never above 0"):
        MINE(2, 2, hidden=())
    with pytest.raises(TypeError, match="hidden must be a sequence"):
        MINE(2, 2, hidden=16)


@pytest.mark.parametrize("config,kwargs,exc,msg", [
    ("gan", dict(adam_betas=(0.5,)), ValueError, "adam_betas must be two numbers in"),
    ("gan", dict(adam_betas=(0.5, 1.0)), ValueError, "adam_betas must be two numbers in"),
    ("gan", dict(clip="no"), TypeError, "clip must be True or False"),
    ("bidirectional", dict(variant="ali", steps=5, adam_betas=(0.9, 1.5)), ValueError, "adam_betas"),
    ("bidirectional", dict(variant="ali", steps=5, clip="no"), TypeError, "clip must be True or False"),
])
def test_trainer_settings_name_the_field(config, kwargs, exc, msg):
    from minelib.bidirectional import BidirectionalConfig
    from minelib.gan import GANConfig
    cls = {"gan": GANConfig, "bidirectional": BidirectionalConfig}[config]
    with pytest.raises(exc, match=msg):
        cls(**kwargs)
