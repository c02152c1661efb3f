"""The bounds against closed form, the corrected gradient against its formula, the registry and the moving average."""
import copy
import math

import numpy as np
import pytest
import torch

from minelib import correlated_gaussian, dv_bound, gaussian_mi, nwj_bound
from minelib.bounds import BOUNDS, DV, LogEMA, corrected_dv_surrogate, get_bound, log_mean_exp, update_log_ema
from minelib.data import gaussian_log_ratio

INFONCE = BOUNDS["infonce"]


def _pair_matrix(rho: float, dim: int, batch: int, seed: int) -> torch.Tensor:
    """The true log density ratio T*(x_i, z_j) on every pair of one batch of the Gaussian task, (batch, batch)."""
    xa, xb = correlated_gaussian(batch, rho, dim, seed=seed)
    return torch.tensor(gaussian_log_ratio(xa[:, None, :], xb[None, :, :], rho))


def _infonce(t: torch.Tensor) -> torch.Tensor:
    return INFONCE.value(t.diagonal(dim1=-2, dim2=-1), t)


@pytest.mark.parametrize("rho,dim", [(0.5, 2), (0.9, 1), (-0.7, 3)])
def test_optimal_critic_gives_truth(rho, dim):
    """Plugging T* = log dP/dQ into DV, and T* = 1 + log dP/dQ into NWJ, gives the true MI."""
    n = 200_000
    xa, xb = correlated_gaussian(n, rho, dim, seed=1)
    xm = xb[np.random.default_rng(2).permutation(n)]  # product of marginals
    t_joint = torch.tensor(gaussian_log_ratio(xa, xb, rho))
    t_marg = torch.tensor(gaussian_log_ratio(xa, xm, rho))
    truth = gaussian_mi(rho, dim)
    # Monte-Carlo error: the joint term's std / sqrt(n) dominates; 5 standard errors.
    tol = 5 * float(t_joint.std()) / math.sqrt(n) + 0.02 * truth
    assert abs(float(dv_bound(t_joint, t_marg)) - truth) < tol
    assert abs(float(nwj_bound(t_joint + 1, t_marg + 1)) - truth) < tol


def test_dv_at_least_nwj_for_any_critic():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        tj, tm = torch.randn(64, generator=g) * 3, torch.randn(64, generator=g) * 3
        assert dv_bound(tj, tm) >= nwj_bound(tj, tm) - 1e-12


def test_bounds_are_stable_for_large_scores():
    tj = torch.full((10,), 500.0, dtype=torch.float64)
    tm = torch.tensor([500.0] + [0.0] * 9, dtype=torch.float64)
    v = dv_bound(tj, tm)
    assert torch.isfinite(v) and abs(float(v) - math.log(10)) < 1e-9


def test_stacked_bounds_are_per_row():
    tj, tm = torch.randn(3, 50), torch.randn(3, 50)
    out = dv_bound(tj, tm)
    assert out.shape == (3,)
    assert torch.allclose(out[1], dv_bound(tj[1], tm[1]))


def test_corrected_gradient_matches_formula():
    """grad of the surrogate = grad mean T_joint - grad(mean e^T_marg) / m_t, with m_t the moving average."""
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    xj, xm = torch.randn(32, 3), torch.randn(32, 3)
    rate, m_prev = 0.1, 1.7
    t_marg = xm @ w
    log_m = update_log_ema(torch.tensor(math.log(m_prev)), log_mean_exp(t_marg), rate)
    m_t = (1 - rate) * m_prev + rate * float(torch.exp(t_marg.detach()).mean())
    assert abs(float(log_m.exp()) - m_t) < 1e-5
    corrected_dv_surrogate(xj @ w, t_marg, log_m).backward()
    e = torch.exp(xm @ w.detach())
    expected = xj.mean(0) - (e[:, None] * xm).mean(0) / m_t
    assert torch.allclose(w.grad, expected, atol=1e-5)


def test_rate_one_is_the_plain_dv_gradient():
    torch.manual_seed(1)
    w = torch.randn(3, requires_grad=True)
    xj, xm = torch.randn(32, 3), torch.randn(32, 3)
    log_m = update_log_ema(torch.tensor(5.0), log_mean_exp(xm @ w), 1.0)
    corrected_dv_surrogate(xj @ w, xm @ w, log_m).backward()
    g1 = w.grad.clone()
    w.grad = None
    dv_bound(xj @ w, xm @ w).backward()
    assert torch.allclose(g1, w.grad, atol=1e-6)


def test_ema_starts_at_first_batch():
    t = torch.randn(100)
    assert torch.allclose(update_log_ema(None, log_mean_exp(t), 0.01), log_mean_exp(t))


def test_registry_lookup():
    assert sorted(BOUNDS) == ["dv", "infonce", "nwj"]
    assert all(get_bound(name).name == name for name in BOUNDS)
    assert get_bound("DV") is BOUNDS["dv"] and get_bound(BOUNDS["nwj"]) is BOUNDS["nwj"]
    with pytest.raises(ValueError, match=r"unknown bound 'mine'; accepted: dv, infonce, nwj"):
        get_bound("mine")


def test_registry_values_are_the_functions():
    """The bound objects and the documented functions compute the same operations: equal to the last bit."""
    g = torch.Generator().manual_seed(3)
    tj, tm = torch.randn(4, 100, generator=g) * 2, torch.randn(4, 100, generator=g) * 2
    assert torch.equal(BOUNDS["dv"].value(tj, tm), dv_bound(tj, tm))
    assert torch.equal(BOUNDS["nwj"].value(tj, tm), nwj_bound(tj, tm))


def test_dv_at_least_nwj_for_the_optimal_critic():
    """Footnote 3 for one critic, T* = log dP/dQ: DV is the truth, NWJ at it is lower (its optimum is T* + 1).

    DV - NWJ = e^(u - 1) - u >= 0 with u = log mean e^T_marg; in float64 the difference is exact to ~1e-15.
    """
    n = 50_000
    xa, xb = correlated_gaussian(n, 0.8, 2, seed=5)
    t_joint = torch.tensor(gaussian_log_ratio(xa, xb, 0.8))
    t_marg = torch.tensor(gaussian_log_ratio(xa, np.roll(xb, 1, axis=0), 0.8))
    dv, nwj = BOUNDS["dv"].value(t_joint, t_marg), BOUNDS["nwj"].value(t_joint, t_marg)
    assert dv >= nwj
    assert BOUNDS["dv"].value(t_joint + 1, t_marg + 1) == pytest.approx(float(dv), abs=1e-12)  # DV ignores shifts


@pytest.mark.parametrize("rho,dim", [(0.9, 1), (0.9, 3)])
def test_infonce_with_the_optimal_critic_approaches_the_truth_from_below(rho, dim):
    """T* = log dP/dQ on every pair: InfoNCE's mean over batches rises with the batch size B towards I(X; Z).

    Each size gets 8,192 rows in all (8,192 / B batches). The deficit is about 0.6 nats at B = 16 for 2.5 nats
    and shrinks with B; the standard error of a mean over batches is 0.01-0.02 nats (measured), far below both.
    """
    truth = gaussian_mi(rho, dim)
    means = []
    for batch in (16, 128, 1024):
        values = np.array([float(_infonce(_pair_matrix(rho, dim, batch, seed=100 + r))) for r in range(8192 // batch)])
        assert (values <= math.log(batch)).all()
        means.append(values.mean())
        stderr = values.std() / math.sqrt(len(values))
        assert values.mean() < truth + 3 * stderr
    assert means[0] < means[1] < means[2]
    assert means[2] > truth - 0.1


def test_infonce_saturates_at_log_batch():
    """At 9.8 nats (rho 0.99, d 5) and B = 128, the optimal critic's InfoNCE sits just under log B = 4.85."""
    value = float(_infonce(_pair_matrix(0.99, 5, 128, seed=1)))
    assert math.log(128) - 0.05 < value <= math.log(128)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_infonce_never_exceeds_log_batch(dtype):
    """For any critic, also adversarial ones (huge diagonals, huge scales), the value is at most log B.

    The bound is log B minus a mean of logsumexp_j T_ij - T_ii >= 0, which holds exactly in floating point, so
    the ceiling is log B as rounded to ``dtype`` (the one rounding in the computation), with no tolerance.
    """
    g = torch.Generator().manual_seed(0)
    for batch in (2, 7, 100, 513):
        ceiling = torch.tensor(math.log(batch), dtype=dtype)
        for scale in (1e-3, 1.0, 30.0, 1e4, 1e30):
            t = (torch.randn(3, batch, batch, generator=g, dtype=torch.float64) * scale).to(dtype)
            for diagonal in (0.0, 1.0, 1e3, 1e6):
                shifted = t.clone()
                shifted.diagonal(dim1=-2, dim2=-1).add_(diagonal * scale)
                value = _infonce(shifted)
                assert value.shape == (3,) and (value <= ceiling).all()


def test_infonce_is_per_row_of_a_stack():
    t = torch.randn(3, 20, 20, dtype=torch.float64)
    assert torch.equal(_infonce(t)[1], _infonce(t[1]))


def test_log_ema_state_travels_in_buffers():
    """log value and started flag are buffers: state_dict and deepcopy carry them; a fresh member starts at the
    batch's value, a started one moves by the rate."""
    ema = LogEMA(members=2, rate=0.25)
    assert [k for k, _ in ema.state_dict().items()] == ["log_value", "started"]
    assert torch.isnan(ema.log_value).all() and not ema.started.any()
    first = torch.tensor([0.5, -1.0], dtype=torch.float64)
    ema.update(first)
    assert torch.equal(ema.log_value, first.float()) and ema.started.all()
    twin = copy.deepcopy(ema)
    second = torch.tensor([2.0, 0.0])
    ema.update(second)
    expected = torch.log(0.75 * torch.exp(first.float()) + 0.25 * torch.exp(second))
    torch.testing.assert_close(ema.log_value, expected)
    loaded = LogEMA(members=2, rate=0.25)
    loaded.load_state_dict(twin.state_dict())
    loaded.update(second)
    assert torch.equal(loaded.log_value, ema.log_value)


def test_dv_objective_updates_the_average_only_when_asked():
    """DV's surrogate divides by the moving average it updates in training (ICML 3.2); its value is the plain DV."""
    tj, tm = torch.randn(4, 64, dtype=torch.float64), torch.randn(4, 64, dtype=torch.float64)
    ema = LogEMA(members=4, rate=0.1)
    surrogate, value = DV().objective(tj, tm, ema, update=True)
    assert torch.equal(value, dv_bound(tj, tm)) and ema.started.all()
    assert torch.equal(surrogate, corrected_dv_surrogate(tj, tm, ema.log_value))
    before = ema.log_value.clone()
    DV().objective(tj, tm, ema, update=False)
    assert torch.equal(before, ema.log_value)
