"""The bounds against closed form, and the corrected gradient against its formula."""
import math

import numpy as np
import pytest
import torch

from minelib import correlated_gaussian, dv_bound, gaussian_mi, nwj_bound
from minelib.bounds import corrected_dv_surrogate, log_mean_exp, update_log_ema
from minelib.data import gaussian_log_ratio


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
