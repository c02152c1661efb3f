"""Variational lower bounds on mutual information, as functions of critic scores.

Every function takes ``t_joint`` (scores T(x_i, z_i) on pairs from the joint distribution) and
``t_marg`` (scores on pairs from the product of marginals) with shape (..., n): leading dimensions
are independent problems (stacked estimators), the last one is the sample. Values are in nats.
"""
from __future__ import annotations

import math

import torch

BOUNDS = ("dv", "nwj")


def log_mean_exp(t: torch.Tensor) -> torch.Tensor:
    """log(mean(exp(t))) over the last dimension, without overflow."""
    return torch.logsumexp(t, dim=-1) - math.log(t.shape[-1])


def dv_bound(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """Donsker-Varadhan bound, the MINE estimator (paper eq. 11 and 13).

    ``I_DV = E_P[T] - log E_Q[e^T]``; tight for ``T = log dP/dQ + C`` (eq. 9).
    """
    return bound_from_parts("dv", t_joint.mean(dim=-1), log_mean_exp(t_marg))


def nwj_bound(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """Nguyen-Wainwright-Jordan f-divergence bound, MINE-f (paper eq. 10).

    ``I_NWJ = E_P[T] - E_Q[e^(T-1)]``; tight for ``T = 1 + log dP/dQ``. For any fixed T it is at
    most the DV bound (paper footnote 3).
    """
    return bound_from_parts("nwj", t_joint.mean(dim=-1), log_mean_exp(t_marg))


def bound_value(bound: str, t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """The value of ``bound`` ("dv" or "nwj") on the given scores."""
    return bound_from_parts(bound, t_joint.mean(dim=-1), log_mean_exp(t_marg))


def bound_from_parts(bound: str, mean_joint: torch.Tensor, lme_marg: torch.Tensor) -> torch.Tensor:
    """Both bounds depend on the scores only through ``mean T_joint`` and ``log mean e^T_marg``;
    a training step computes those once and derives value, loss and moving average from them."""
    if bound == "dv":
        return mean_joint - lme_marg
    if bound == "nwj":
        return mean_joint - torch.exp(lme_marg - 1.0)  # E_Q[e^(T-1)] = e^(log E_Q[e^T] - 1)
    raise ValueError(f"unknown bound {bound!r}; accepted: {', '.join(BOUNDS)}")


def corrected_dv_surrogate(
    t_joint: torch.Tensor, t_marg: torch.Tensor, log_ema: torch.Tensor
) -> torch.Tensor:
    """A surrogate whose gradient is the bias-corrected DV gradient (ICML version, section 3.2).

    The minibatch gradient of ``log mean e^T`` is ``grad(mean e^T) / mean e^T``; the denominator,
    a minibatch mean inside a log, biases it. The correction divides by a moving average ``m``
    instead (``log_ema = log m``, treated as a constant). The surrogate's *value* is meaningless:
    report :func:`dv_bound` instead. Computed in log space so large scores cannot overflow.
    """
    return corrected_dv_from_parts(t_joint.mean(dim=-1), log_mean_exp(t_marg), log_ema)


def corrected_dv_from_parts(mean_joint: torch.Tensor, lme_marg: torch.Tensor, log_ema: torch.Tensor) -> torch.Tensor:
    """:func:`corrected_dv_surrogate` from ``mean T_joint`` and ``log mean e^T_marg``."""
    return mean_joint - torch.exp(lme_marg - log_ema.detach())


def update_log_ema(log_ema: torch.Tensor | None, lme_marg: torch.Tensor, rate: float) -> torch.Tensor:
    """One step of ``m_t = (1 - rate) m_{t-1} + rate * mean e^T`` in log space.

    ``lme_marg`` is this batch's ``log mean e^T_marg`` (:func:`log_mean_exp`). ``log_ema`` is None
    before the first step, where the average starts at the first batch's value. ``rate = 1`` makes
    ``m_t`` the current batch mean: the plain (biased) DV gradient.
    """
    batch = lme_marg.detach()
    if log_ema is None or rate >= 1.0:
        return batch
    return torch.logaddexp(log_ema + math.log1p(-rate), batch + math.log(rate))
