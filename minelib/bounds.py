"""Variational lower bounds on mutual information as objects on critic scores, and DV's moving average.

The bounds differ in one component, how they normalise the critic's scores on pairs from the product of
marginals (torch-mist's "baseline"); everything else (scores, training loop, stacking) is shared. A
:class:`Bound` has a ``name``, the ``value`` it reports and the ``objective`` a critic maximises
(a surrogate where the bound's own minibatch gradient is biased). :data:`BOUNDS` holds the three
minelib trains, :func:`get_bound` looks one up by name:

- ``"dv"``: Donsker-Varadhan, MINE (paper eq. 11 and 13), trained with the bias-corrected gradient
  (ICML version, section 3.2), whose moving average lives in a :class:`LogEMA`;
- ``"nwj"``: Nguyen-Wainwright-Jordan, MINE-f (paper eq. 10), unbiased;
- ``"infonce"``: van den Oord et al. (2018), contrastive over every pair of a batch, at most ``log B``.

Scores: ``t_joint`` are T(x_i, z_i) on joint pairs and ``t_marg`` T on pairs from the product of
marginals, shape (..., n): leading dimensions are independent problems (stacked estimators), the last
one is the sample. An all-pairs bound (``all_pairs = True``) instead takes ``t_marg`` of shape
(..., n, n), the scores T(x_i, z_j) of every pair of the batch, and ``t_joint`` its diagonal. Values
are in nats.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .validation import check_choice


def log_mean_exp(t: torch.Tensor) -> torch.Tensor:
    """log(mean(exp(t))) over the last dimension, without overflow."""
    return torch.logsumexp(t, dim=-1) - math.log(t.shape[-1])


def update_log_ema(log_ema: torch.Tensor | None, lme_marg: torch.Tensor, rate: float) -> torch.Tensor:
    """One step of ``m_t = (1 - rate) m_{t-1} + rate * mean e^T`` in log space.

    ``lme_marg`` is this batch's ``log mean e^T_marg`` (:func:`log_mean_exp`). ``log_ema`` is None
    before the first step, where the average starts at the first batch's value. ``rate = 1`` makes
    ``m_t`` the current batch mean: the plain (biased) DV gradient. In log space, so that large scores
    cannot overflow ``e^T``.
    """
    batch = lme_marg.detach()
    if log_ema is None or rate >= 1.0:
        return batch
    return torch.logaddexp(log_ema + math.log1p(-rate), batch + math.log(rate))


class LogEMA(nn.Module):
    """The moving average ``m_t`` of ``mean e^T_marg`` behind DV's bias-corrected gradient, per member.

    Buffers, so that ``state_dict``, ``copy.deepcopy`` and :mod:`~minelib.ensemble`'s stacking carry it:
    ``log_value`` (``log m_t``; NaN before the first update) and ``started`` (whether member k has
    been updated). ``rate`` in (0, 1] is the weight of the newest batch (validated by the caller).
    """

    def __init__(self, members: int = 1, rate: float = 0.01):
        super().__init__()
        self.rate = rate
        shape = (members,) if members > 1 else ()
        self.register_buffer("log_value", torch.full(shape, math.nan))
        self.register_buffer("started", torch.zeros(shape, dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"

    @torch.no_grad()
    def update(self, lme_marg: torch.Tensor) -> None:
        """Fold in this batch's ``log mean e^T_marg`` (see :func:`update_log_ema`).

        A member not yet started takes the batch's value. The choice is a ``where`` on the ``started``
        buffer, not a Python branch: that would read the flag back from the device every step.
        """
        batch = lme_marg.detach().reshape(self.log_value.shape)  # one member fed (1, n, d) inputs: (1,) -> ()
        moved = update_log_ema(self.log_value, batch, self.rate)
        self.log_value.copy_(torch.where(self.started, moved, batch))
        self.started.fill_(True)


class Bound:
    """A variational lower bound on I(X; Z) computed from critic scores (see the module docstring).

    Attributes:
        name: the registry key (``MINE(bound=name)``, ``estimate_mi(bound=name)``).
        all_pairs: whether the bound scores every pair (x_i, z_j) of a batch rather than n marginal pairs.
    """

    name: str = ""
    all_pairs: bool = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def value(self, t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
        """The bound in nats, differentiable: what is reported, and what a model maximising I uses."""
        raise NotImplementedError

    def objective(self, t_joint: torch.Tensor, t_marg: torch.Tensor, ema: LogEMA,
                  update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(surrogate, value)``: what the critic maximises (its gradient is the training gradient; its
        value may be meaningless) and :meth:`value`. ``update`` lets the bound move ``ema``."""
        value = self.value(t_joint, t_marg)
        return value, value


class MarginalBound(Bound):
    """A bound ``E_P[T] - f(log E_Q[e^T])`` on n joint and n marginal scores.

    Such bounds depend on the scores only through ``mean T_joint`` and ``log mean e^T_marg``; a training
    step computes the two once and derives value, surrogate and moving average from them (the ``*_parts``
    methods). The hand-derived critic step (:mod:`~minelib.critic_step`) also needs :meth:`log_normaliser`.
    """

    def value(self, t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
        return self.value_from_parts(t_joint.mean(dim=-1), log_mean_exp(t_marg))

    def objective(self, t_joint: torch.Tensor, t_marg: torch.Tensor, ema: LogEMA,
                  update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mean_joint, lme_marg = t_joint.mean(dim=-1), log_mean_exp(t_marg)
        value = self.value_from_parts(mean_joint, lme_marg)
        return self.surrogate_from_parts(mean_joint, lme_marg, value, ema, update), value

    def value_from_parts(self, mean_joint: torch.Tensor, lme_marg: torch.Tensor) -> torch.Tensor:
        """:meth:`value` from ``mean T_joint`` and ``log mean e^T_marg``."""
        raise NotImplementedError

    def surrogate_from_parts(self, mean_joint: torch.Tensor, lme_marg: torch.Tensor, value: torch.Tensor,
                             ema: LogEMA, update: bool) -> torch.Tensor:
        """The surrogate of :meth:`objective` from the parts; ``value`` is :meth:`value_from_parts`'s."""
        return value

    def log_normaliser(self, lme_marg: torch.Tensor, ema: LogEMA, update: bool = True) -> torch.Tensor:
        """The ``c`` (per member, treated as a constant) with ``d surrogate / d T = 1/n`` on joint scores
        and ``-e^(T - c)/n`` on marginal ones; moves ``ema`` when the bound uses it and ``update``."""
        raise NotImplementedError


class DV(MarginalBound):
    """Donsker-Varadhan bound, the MINE estimator (paper eq. 11 and 13).

    ``I_DV = E_P[T] - log E_Q[e^T]``; tight for ``T = log dP/dQ + C`` (eq. 9). For any one critic it is
    at least the NWJ bound (paper footnote 3). Its minibatch gradient is biased: the gradient of
    ``log mean e^T`` is ``grad(mean e^T) / mean e^T``, a minibatch mean inside a log. The surrogate divides
    by the moving average ``m_t`` of ``ema`` instead (ICML version, section 3.2); ``ema.rate = 1`` keeps
    the plain gradient. Report :meth:`value`, never the surrogate.
    """

    name = "dv"

    def value_from_parts(self, mean_joint: torch.Tensor, lme_marg: torch.Tensor) -> torch.Tensor:
        return mean_joint - lme_marg

    def surrogate_from_parts(self, mean_joint: torch.Tensor, lme_marg: torch.Tensor, value: torch.Tensor,
                             ema: LogEMA, update: bool) -> torch.Tensor:
        if ema.rate >= 1.0:
            return value
        # Gradient grad mean T_joint - grad(mean e^T_marg) / m_t; in log space so large scores cannot overflow.
        return mean_joint - torch.exp(lme_marg - self.log_normaliser(lme_marg, ema, update).detach())

    def log_normaliser(self, lme_marg: torch.Tensor, ema: LogEMA, update: bool = True) -> torch.Tensor:
        if ema.rate >= 1.0:
            return lme_marg  # the batch's own mean: the plain DV gradient
        if update:
            ema.update(lme_marg)
        return ema.log_value


class NWJ(MarginalBound):
    """Nguyen-Wainwright-Jordan f-divergence bound, MINE-f (paper eq. 10).

    ``I_NWJ = E_P[T] - E_Q[e^(T-1)]``; tight for ``T = 1 + log dP/dQ``. For any fixed T it is at most
    the DV bound (paper footnote 3). Its minibatch gradient is unbiased: no moving average.
    """

    name = "nwj"

    def value_from_parts(self, mean_joint: torch.Tensor, lme_marg: torch.Tensor) -> torch.Tensor:
        return mean_joint - torch.exp(lme_marg - 1.0)  # E_Q[e^(T-1)] = e^(log E_Q[e^T] - 1)

    def log_normaliser(self, lme_marg: torch.Tensor, ema: LogEMA, update: bool = True) -> torch.Tensor:
        return torch.ones_like(lme_marg)


class InfoNCE(Bound):
    """InfoNCE (van den Oord et al. 2018), contrastive over all pairs of a batch of B.

    ``I_NCE = E_i[T(x_i, z_i) - log((1/B) sum_j e^T(x_i, z_j))]``, the sum over every z of the batch,
    z_i included. It can never exceed ``log B``, whatever the critic: each term is ``log B`` minus
    ``log sum_j e^T(x_i, z_j) - T(x_i, z_i) >= 0``. Above about ``log B`` nats it saturates, so
    use batches with ``log B`` well above the MI. Tight, up to that ceiling, for
    ``T = log dP/dQ + c(x)``; its minibatch gradient is used as is. ``t_marg`` is the (..., B, B)
    matrix of scores T(x_i, z_j), ``t_joint`` its diagonal.
    """

    name = "infonce"
    all_pairs = True

    def value(self, t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
        # log B minus a mean of terms that are >= 0 even in floating point (logsumexp is the row's
        # maximum plus the log of a sum >= 1): the ceiling log B holds exactly, not only up to rounding.
        return math.log(t_marg.shape[-1]) - (torch.logsumexp(t_marg, dim=-1) - t_joint).mean(dim=-1)

    def row_terms(self, t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
        """Each x_i's term ``log B - (log sum_j e^T(x_i, z_j) - T(x_i, z_i))``, (..., B): :meth:`value` is their
        mean (up to rounding); a bootstrap over rows resamples them."""
        return math.log(t_marg.shape[-1]) - (torch.logsumexp(t_marg, dim=-1) - t_joint)


BOUNDS: dict[str, Bound] = {b.name: b for b in (DV(), NWJ(), InfoNCE())}


def get_bound(bound: str | Bound) -> Bound:
    """The :class:`Bound` named ``bound`` in :data:`BOUNDS` (a Bound object is returned as is).

    Raises ValueError naming ``bound`` and listing the accepted names.
    """
    if isinstance(bound, Bound):
        return bound
    return BOUNDS[check_choice(bound, "bound", BOUNDS)]


def dv_bound(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """The Donsker-Varadhan bound, MINE (paper eq. 11 and 13): :class:`DV`'s value."""
    return BOUNDS["dv"].value(t_joint, t_marg)


def nwj_bound(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """The NWJ bound, MINE-f (paper eq. 10): :class:`NWJ`'s value; at most :func:`dv_bound` (footnote 3)."""
    return BOUNDS["nwj"].value(t_joint, t_marg)


def bound_value(bound: str | Bound, t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """The value of ``bound`` (a name in :data:`BOUNDS` or a :class:`Bound`) on the given scores."""
    return get_bound(bound).value(t_joint, t_marg)


def corrected_dv_surrogate(t_joint: torch.Tensor, t_marg: torch.Tensor, log_ema: torch.Tensor) -> torch.Tensor:
    """A surrogate whose gradient is DV's bias-corrected one (ICML version, section 3.2), given
    ``log_ema = log m_t`` (treated as a constant); its value is meaningless, report :func:`dv_bound`.
    :meth:`DV.objective` does the same with a :class:`LogEMA` it updates."""
    return t_joint.mean(dim=-1) - torch.exp(log_mean_exp(t_marg) - log_ema.detach())
