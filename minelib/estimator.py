"""MINE, the module: a statistics network and the bound it maximises, to use as a term in any model.

Algorithm 1 of the paper: draw a minibatch of joint pairs, shuffle z within it for pairs from the
product of marginals, ascend the bound. As a loss term, ``MINE`` shuffles with torch's global generator
unless given ``z_marginal``, and checks its input once, naming the argument. Reading a number off a trained
critic (a held-out split, transforms, an interval and warnings) is :mod:`minelib.estimation`'s job.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .bounds import Bound, LogEMA, get_bound
from .networks import StatisticsNetwork
from .validation import as_float_array, check_fraction, check_positive_int, check_widths


class TrainingDivergedError(FloatingPointError):
    """Raised when a training estimate becomes NaN or infinite."""


def derangement(n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of ``range(n)`` without fixed points (one random cycle), for ``n >= 2``.

    Shuffling z with a plain permutation leaves about one row paired with its own partner. The draw
    happens on ``generator``'s device (the CPU without one).
    """
    order = torch.randperm(n, generator=generator, device=generator.device if generator is not None else "cpu")
    target = torch.empty_like(order)
    target[order] = order.roll(-1)
    return target.to(device)


def all_pairs(x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs pairing every ``x_i`` with every ``z_j`` of a batch: (..., n * n, d) each, pair (i, j) in row
    ``i * n + j``, so that the network's (..., n * n) scores unflatten to the (..., n, n) matrix T(x_i, z_j)."""
    n = x.shape[-2]
    xi = x.unsqueeze(-2).expand(*x.shape[:-1], n, x.shape[-1])
    zj = z.unsqueeze(-3).expand(*z.shape[:-2], n, n, z.shape[-1])
    return xi.reshape(*x.shape[:-2], n * n, x.shape[-1]), zj.reshape(*z.shape[:-2], n * n, z.shape[-1])


class MINE(nn.Module):
    """A statistics network with the bound it maximises, for use as a term in any model.

    Args:
        x_dim, z_dim: feature sizes.
        bound: a name in :data:`~minelib.bounds.BOUNDS`, ``"dv"`` (MINE, eq. 13), ``"nwj"`` (MINE-f,
            eq. 10) or ``"infonce"`` (van den Oord et al. 2018; at most log of the batch size), or a
            :class:`~minelib.bounds.Bound`.
        ema_rate: rate of the moving average in the bias-corrected DV gradient (ICML 3.2); ``1``
            gives the plain minibatch gradient. Ignored by the other bounds, whose gradients need none.
        hidden, activation, members, seed, input_noise, hidden_noise: passed to
            :class:`~minelib.networks.StatisticsNetwork` when ``network`` is None.
        network: any module mapping ``(x, z)`` to scores of shape (..., n), used instead.

    Attributes: ``criterion`` (the :class:`~minelib.bounds.Bound`), ``bound`` (its name), ``ema`` (the
    :class:`~minelib.bounds.LogEMA` of DV's corrected gradient) and ``log_ema`` (its log value).

    Use :meth:`lower_bound` where a model needs the (differentiable) estimate, for example
    ``loss_G = adv_loss - beta * mine.lower_bound(G(z), z)``, and :meth:`loss` to train the critic.
    """

    def __init__(
        self,
        x_dim: int,
        z_dim: int,
        bound: str | Bound = "dv",
        ema_rate: float = 0.01,
        hidden: Sequence[int] = (100, 100),
        activation: str = "elu",
        members: int = 1,
        seed: int | Sequence[int] | None = None,
        input_noise: float = 0.0,
        hidden_noise: float = 0.0,
        network: nn.Module | None = None,
    ):
        super().__init__()
        self.criterion = get_bound(bound)
        ema_rate = check_fraction(ema_rate, "ema_rate")
        self.members = check_positive_int(members, "members")
        if network is None:
            network = StatisticsNetwork(x_dim, z_dim, check_hidden(hidden), activation, members, seed,
                                        input_noise, hidden_noise)
        self.network = network
        self.ema = LogEMA(self.members, ema_rate)

    @property
    def bound(self) -> str:
        """The name of the bound trained and reported."""
        return self.criterion.name

    @property
    def ema_rate(self) -> float:
        """The moving-average rate of DV's corrected gradient."""
        return self.ema.rate

    @property
    def log_ema(self) -> torch.Tensor:
        """log of the moving average of ``mean e^T`` on marginal pairs, per member; NaN until the first step."""
        return self.ema.log_value

    def extra_repr(self) -> str:
        return f"bound={self.bound!r}, ema_rate={self.ema_rate:g}, members={self.members}"

    def scores(self, x: torch.Tensor, z: torch.Tensor, z_marginal: torch.Tensor | None = None):
        """Critic scores on joint pairs ``(x, z)`` and on marginal pairs ``(x, z_marginal)``.

        ``z_marginal`` defaults to z shuffled within the batch (paper section 3.1) by a random
        derangement from torch's global generator, so that no joint pair poses as a marginal one (the
        trainers pass their own seeded shuffles). Both sets go through the network
        in one call. For an all-pairs bound (InfoNCE) the marginal scores are the (..., n, n) matrix
        T(x_i, z_j) of every pair of the batch, the joint ones its diagonal, and ``z_marginal`` must be None.
        """
        x, z, z_marginal = self._check_inputs(x, z, z_marginal)
        n = x.shape[-2]
        if self.criterion.all_pairs:
            if z_marginal is not None:
                raise ValueError(f"z_marginal must be None for the {self.bound!r} bound, which pairs every x "
                                 f"with every z of the batch")
            t = self.network(*all_pairs(x, z)).unflatten(-1, (n, n))
            return t.diagonal(dim1=-2, dim2=-1), t
        if z_marginal is None:
            z_marginal = z[..., derangement(z.shape[-2], z.device), :]
        t = self.network(torch.cat([x, x], dim=-2), torch.cat([z, z_marginal], dim=-2))
        return t[..., :n], t[..., n:]

    def _check_inputs(self, x, z, z_marginal):
        """The inputs as tensors of the network's dtype and device, (n, d) (or (K, n, d) stacked), checked once.

        Numpy arrays and nested lists are converted; float64, float16, bfloat16 and integer tensors are cast
        to the network's dtype (differentiably); a 1-D input is n rows of one feature. Widths, row counts
        (at least 2) and the member dimension are checked against the network, naming the argument.
        """
        param = next(self.network.parameters())
        width = {"x": getattr(self.network, "x_dim", None), "z": getattr(self.network, "z_dim", None)}
        out = {}
        for name, a in (("x", x), ("z", z), ("z_marginal", z_marginal)):
            if a is None:
                continue
            out[name] = _as_critic_input(a, name, param, width["x" if name == "x" else "z"], self.members)
        x, z = out["x"], out["z"]
        if x.shape[:-1] != z.shape[:-1]:
            raise ValueError(f"x and z must have the same number of rows (paired samples); got shapes "
                             f"{tuple(x.shape)} and {tuple(z.shape)}")
        if "z_marginal" in out and out["z_marginal"].shape != z.shape:
            raise ValueError(f"z_marginal must have z's shape {tuple(z.shape)}; got {tuple(out['z_marginal'].shape)}")
        if x.shape[-2] < 2:
            raise ValueError(f"x and z need at least 2 rows (one joint pair and one other to pair it with); "
                             f"got {x.shape[-2]}")
        return x, z, out.get("z_marginal")

    def forward(self, x: torch.Tensor, z: torch.Tensor, z_marginal: torch.Tensor | None = None) -> torch.Tensor:
        """``mine(x, z)`` is :meth:`lower_bound`."""
        return self.lower_bound(x, z, z_marginal)

    def lower_bound(self, x: torch.Tensor, z: torch.Tensor, z_marginal: torch.Tensor | None = None) -> torch.Tensor:
        """The differentiable bound on I(X; Z) in nats (per member when stacked)."""
        return self.criterion.value(*self.scores(x, z, z_marginal))

    def loss(self, x: torch.Tensor, z: torch.Tensor, z_marginal: torch.Tensor | None = None):
        """Return ``(loss, value)``: the loss the critic minimises and the detached bound value.

        For DV the loss's gradient is the bias-corrected one; the moving average is updated here
        while the module is in training mode. ``loss`` sums over stacked members, whose gradients
        therefore stay independent.
        """
        return self.loss_from_scores(*self.scores(x, z, z_marginal))

    def loss_from_scores(self, t_joint: torch.Tensor, t_marg: torch.Tensor, reduce: bool = True):
        """:meth:`loss` on scores already computed (a loop that scores joint and marginal pairs in one call).

        The bound computes what value, surrogate and moving average share once: this runs every step.
        ``reduce=False`` returns the loss per stacked member instead of their sum.
        """
        objective, value = self.criterion.objective(t_joint, t_marg, self.ema, update=self.training)
        return (-objective.sum() if reduce else -objective), value.detach()


def _as_critic_input(a, name: str, param: torch.Tensor, width: int | None, members: int) -> torch.Tensor:
    """One input of :class:`MINE` as a tensor like ``param`` (see ``MINE._check_inputs``); ``width`` None (a
    custom network) leaves the shape to the network."""
    if not isinstance(a, torch.Tensor):
        a = torch.as_tensor(as_float_array(a, name, stacked=members > 1 and np.ndim(a) == 3), dtype=param.dtype)
    elif a.is_complex() or a.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers; got a torch tensor of dtype {a.dtype}")
    if a.device != param.device:
        raise ValueError(f"{name} is on {a.device} but the statistics network on {param.device}; move one of them")
    a = a if a.dtype == param.dtype else a.to(param.dtype)
    if width is None:
        return a
    # One network also takes (1, n, d): a stacked run of one member (the trainers' K = 1).
    want = 3 if members > 1 or (a.dim() == 3 and a.shape[0] == 1) else 2
    if a.dim() == want - 1 and width == 1:
        a = a.unsqueeze(-1)
    shape = "(K, n, d)" if members > 1 else "(n, d)"
    if a.dim() != want or a.shape[-1] != width or (want == 3 and a.shape[0] != members):
        raise ValueError(f"{name} must have shape {shape} with d = {width}" + (f" and K = {members}" if members > 1
                         else "") + f" for this statistics network; got {tuple(a.shape)}")
    return a


def check_hidden(hidden, name: str = "hidden") -> tuple[int, ...]:
    """Hidden widths of a critic: at least one layer of positive ints (a linear critic cannot detect dependence:
    ``E_P[a.x + b.z] - log E_Q[e^(a.x + b.z)] <= 0`` for every a, b, by Jensen's inequality)."""
    widths = check_widths(hidden, name)
    if not widths:
        raise ValueError(f"{name} must list at least one hidden layer width; got {hidden!r}: a critic without "
                         f"a hidden layer is linear, a.x + b.z, and its bound is never above 0")
    return widths
