"""K independent copies of a network as one module: the members of a multi-seed run, trained at once.

Small networks are bound by per-operation overhead; K of them stacked along a leading member
dimension cost about as many kernel launches as one. :func:`stack` turns K modules built of
``nn.Linear``, ``nn.BatchNorm1d`` and stateless layers (activations) into one that maps (K, n, d)
inputs to (K, n, ...) outputs, each member with its own weights and batch statistics (a
:class:`~minelib.estimator.MINE` with an MLP critic becomes one of K members, its moving average
per member); :func:`unstack` gives member k back as an ordinary module and :func:`copy_member`
writes it into an existing one. Written here rather than with
``torch.func`` (``stack_module_state`` + ``vmap``): the training loops keep their in-place optimiser
and moving-average updates and per-member gradient norms, which vmap would need rewritten as pure
functions.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .estimator import MINE, derangement
from .networks import StatisticsNetwork


class StackedLinear(nn.Module):
    """K ``nn.Linear`` layers: weight (K, in, out), bias (K, 1, out); (K, n, in) -> (K, n, out)."""

    def __init__(self, layers: Sequence[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([l.weight.detach().T for l in layers]).contiguous())
        self.bias = nn.Parameter(torch.stack([l.bias.detach() for l in layers])[:, None].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def copy_member(self, k: int, layer: nn.Linear) -> None:
        layer.weight.data.copy_(self.weight[k].T)
        layer.bias.data.copy_(self.bias[k, 0])


class StackedBatchNorm1d(nn.Module):
    """K ``nn.BatchNorm1d(H)`` layers with per-member batch statistics; (K, n, H) -> (K, n, H).

    The K members' features are laid side by side as K * H channels of one batch norm, which is
    exactly K separate batch norms (same eps, momentum and running-statistics update).
    """

    def __init__(self, layers: Sequence[nn.BatchNorm1d]):
        super().__init__()
        first = layers[0]
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = nn.Parameter(torch.stack([l.weight.detach() for l in layers]).clone())
        self.bias = nn.Parameter(torch.stack([l.bias.detach() for l in layers]).clone())
        self.register_buffer("running_mean", torch.stack([l.running_mean for l in layers]).clone())
        self.register_buffer("running_var", torch.stack([l.running_var for l in layers]).clone())
        # Members train in lockstep, so one count serves them all (as nn.BatchNorm1d keeps it).
        self.register_buffer("num_batches_tracked", first.num_batches_tracked.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        K, n, H = x.shape
        flat = x.transpose(0, 1).reshape(n, K * H)
        momentum = self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average, as nn.BatchNorm1d does
                momentum = 1.0 / float(self.num_batches_tracked)
        y = F.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1), self.weight.view(-1),
                         self.bias.view(-1), self.training, momentum or 0.0, self.eps)
        return y.reshape(n, K, H).transpose(0, 1)

    def copy_member(self, k: int, layer: nn.BatchNorm1d) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(layer, name).data.copy_(getattr(self, name)[k])
        layer.num_batches_tracked.copy_(self.num_batches_tracked)


class StackedMINE(MINE):
    """K single :class:`~minelib.estimator.MINE` modules with MLP critics as one MINE of K members.

    Same bound and moving-average rate; member k starts from mine k's weights and moving average
    (the buffers of its :class:`~minelib.bounds.LogEMA`, its ``started`` flag included).
    """

    def __init__(self, mines: Sequence[MINE]):
        first = mines[0]
        net = first.network
        for m in mines:
            if not (isinstance(m.network, StatisticsNetwork) and m.network.members == 1):
                raise TypeError("only MINEs with a single-member StatisticsNetwork critic can be stacked")
        # Any seed: the weights are overwritten below, and a seed keeps torch's global generator untouched.
        super().__init__(net.x_dim, net.z_dim, first.criterion, first.ema_rate, net.hidden, net.activation,
                         members=len(mines), seed=0, input_noise=net.input_noise, hidden_noise=net.hidden_noise)
        with torch.no_grad():
            for k, m in enumerate(mines):
                for dst, src in zip(self.network.parameters(), m.network.parameters()):
                    dst[k].copy_(src[0])
                for dst, src in zip(self.ema.buffers(), m.ema.buffers()):
                    dst.view(-1)[k] = src

    def copy_member(self, k: int, mine: MINE) -> None:
        with torch.no_grad():
            for dst, src in zip(mine.network.parameters(), self.network.parameters()):
                dst[0].copy_(src[k])
            for dst, src in zip(mine.ema.buffers(), self.ema.buffers()):
                dst.copy_(src.view(-1)[k])


_STACKED = {nn.Linear: StackedLinear, nn.BatchNorm1d: StackedBatchNorm1d, MINE: StackedMINE}


def stack(modules: Sequence[nn.Module]) -> nn.Module:
    """One module running ``modules`` (same architecture) side by side on (K, n, d) inputs.

    Supported layers: ``nn.Linear``, ``nn.BatchNorm1d`` (affine, tracking running statistics),
    :class:`~minelib.estimator.MINE` with an MLP critic, and layers without parameters or buffers
    applied elementwise. Anything else is a TypeError naming the layer.
    """
    if len(modules) < 1:
        raise ValueError("stack needs at least one module")
    # A module's repr names every layer with its sizes and settings (noise levels, bounds, rates): members
    # that differ there would silently train with member 0's settings.
    for k, m in enumerate(modules[1:], 1):
        if repr(m) != repr(modules[0]):
            raise ValueError(f"stack needs modules of one architecture and settings; module {k} differs from "
                             f"module 0:\n{m!r}\nagainst\n{modules[0]!r}")
    if type(modules[0]) in _STACKED:
        return _STACKED[type(modules[0])](modules)
    out = copy.deepcopy(modules[0])
    replaced: list[str] = []
    for name, sub in modules[0].named_modules():
        if any(name.startswith(r + ".") for r in replaced):
            continue  # inside a layer already stacked as a whole
        kind = type(sub)
        if kind in _STACKED:
            if kind is nn.BatchNorm1d and not (sub.affine and sub.track_running_stats):
                raise TypeError(f"{name}: only affine BatchNorm1d with running statistics can be stacked")
            out.set_submodule(name, _STACKED[kind]([m.get_submodule(name) for m in modules]))
            replaced.append(name)
        elif any(True for _ in sub.parameters(recurse=False)) or any(True for _ in sub.buffers(recurse=False)):
            raise TypeError(f"{name}: layers of type {kind.__name__} cannot be stacked; "
                            f"supported: Linear, BatchNorm1d, MINE and parameter-free elementwise layers")
    return out


def copy_member(stacked: nn.Module, target: nn.Module, k: int) -> nn.Module:
    """Write member ``k`` of ``stacked`` into ``target`` (the unstacked architecture), in place; returns it."""
    for name, sub in stacked.named_modules():
        if isinstance(sub, tuple(_STACKED.values())):
            sub.copy_member(k, target.get_submodule(name))
    return target


def unstack(stacked: nn.Module, template: nn.Module, k: int) -> nn.Module:
    """Member ``k`` of ``stacked`` as a copy of ``template`` (the unstacked architecture)."""
    return copy_member(stacked, copy.deepcopy(template), k)


def per_member(generators: Sequence[torch.Generator], draw, stacked: bool, dim: int = 0) -> torch.Tensor:
    """``draw(k, generator)`` for each member, stacked on a new dimension ``dim`` (leading by default; or the one
    draw of a plain run): each member's random numbers come from its own generator, as they would alone."""
    out = [draw(k, g) for k, g in enumerate(generators)]
    return torch.stack(out, dim) if stacked else out[0]


def shuffle_rows(z: torch.Tensor, generators: Sequence[torch.Generator], stacked: bool) -> torch.Tensor:
    """``z`` (n, d), or (K, n, d) when stacked, with its rows shuffled within each member by a derangement
    drawn from that member's generator: the marginal pairs of MINE's minibatch."""
    perm = per_member(generators, lambda k, g: derangement(z.shape[-2], z.device, g), stacked)
    return z[torch.arange(z.shape[0], device=z.device)[:, None], perm] if stacked else z[perm]
