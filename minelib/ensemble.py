"""K independent copies of a network as one module: the members of a multi-seed run, trained at once.

Small networks are bound by per-operation overhead; K of them stacked along a leading member
dimension cost about as many kernel launches as one. :func:`stack` turns K modules built of
``nn.Linear``, ``nn.BatchNorm1d`` and stateless layers (activations) into one that maps (K, n, d)
inputs to (K, n, ...) outputs, each member with its own weights and batch statistics;
:func:`unstack` gives member k back as an ordinary module. Written here rather than with
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        K, n, H = x.shape
        flat = x.transpose(0, 1).reshape(n, K * H)
        y = F.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1), self.weight.view(-1),
                         self.bias.view(-1), self.training, self.momentum, self.eps)
        return y.reshape(n, K, H).transpose(0, 1)

    def copy_member(self, k: int, layer: nn.BatchNorm1d) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(layer, name).data.copy_(getattr(self, name)[k])


_STACKED = {nn.Linear: StackedLinear, nn.BatchNorm1d: StackedBatchNorm1d}


def stack(modules: Sequence[nn.Module]) -> nn.Module:
    """One module running ``modules`` (same architecture) side by side on (K, n, d) inputs.

    Supported layers: ``nn.Linear``, ``nn.BatchNorm1d`` (affine, tracking running statistics) and
    layers without parameters or buffers applied elementwise. Anything else is a TypeError.
    """
    if len(modules) < 1:
        raise ValueError("stack needs at least one module")
    out = copy.deepcopy(modules[0])
    for name, sub in modules[0].named_modules():
        kind = type(sub)
        if kind in _STACKED:
            if kind is nn.BatchNorm1d and not (sub.affine and sub.track_running_stats):
                raise TypeError(f"{name}: only affine BatchNorm1d with running statistics can be stacked")
            out.set_submodule(name, _STACKED[kind]([m.get_submodule(name) for m in modules]))
        elif any(True for _ in sub.parameters(recurse=False)) or any(True for _ in sub.buffers(recurse=False)):
            raise TypeError(f"{name}: layers of type {kind.__name__} cannot be stacked; "
                            f"supported: Linear, BatchNorm1d and parameter-free elementwise layers")
    return out


def unstack(stacked: nn.Module, template: nn.Module, k: int) -> nn.Module:
    """Member ``k`` of ``stacked`` as a copy of ``template`` (the unstacked architecture)."""
    out = copy.deepcopy(template)
    for name, sub in stacked.named_modules():
        if isinstance(sub, (StackedLinear, StackedBatchNorm1d)):
            sub.copy_member(k, out.get_submodule(name))
    return out
