"""Statistics networks T(x, z): MLPs on the concatenation [x, z].

One class serves a single critic and K independent critics trained together ("stacked"): weights
carry a leading member dimension and layers are batched matrix products. Small MLPs are bound by
per-step overhead, not arithmetic, so K critics in one model cost little more than one.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from . import seeding
from .validation import check_choice, check_positive_int

ACTIVATIONS = {
    "relu": nn.functional.relu,
    "elu": nn.functional.elu,
    "leaky_relu": lambda h: nn.functional.leaky_relu(h, 0.2),
    "tanh": torch.tanh,
    "softplus": nn.functional.softplus,
}


class StatisticsNetwork(nn.Module):
    """MLP critic ``T(x, z) -> R`` on ``[x, z]``, optionally K independent members.

    Args:
        x_dim, z_dim: feature sizes of x and z.
        hidden: widths of the hidden layers.
        activation: one of ``relu``, ``elu``, ``leaky_relu`` (slope 0.2), ``tanh``, ``softplus``.
        members: number K of independent critics held as one batched model.
        seed: an int or one int per member (:func:`minelib.seeding.member_seeds`: an int with
            ``members > 1`` means ``replicate_seeds(seed, members)``); member k is initialised from the
            ``init`` stream of its seed, so it gets exactly the weights a single network built with
            that seed gets. ``None`` draws from torch's global generator (network constructors only).
            The scheme: :mod:`minelib.seeding`.
        input_noise, hidden_noise: std of additive Gaussian noise on the input and after each hidden
            layer during training (the noisy critics of the ICML version's experiments).

    ``forward(x, z)`` takes (n, d) inputs and returns (n,) scores when ``members == 1``, or
    (K, n, d) inputs and returns (K, n) scores.
    """

    def __init__(
        self,
        x_dim: int,
        z_dim: int,
        hidden: Sequence[int] = (100, 100),
        activation: str = "elu",
        members: int = 1,
        seed: int | Sequence[int] | None = None,
        input_noise: float = 0.0,
        hidden_noise: float = 0.0,
    ):
        super().__init__()
        self.x_dim = check_positive_int(x_dim, "x_dim")
        self.z_dim = check_positive_int(z_dim, "z_dim")
        self.members = check_positive_int(members, "members")
        self.hidden = tuple(check_positive_int(h, "hidden width") for h in hidden)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.input_noise, self.hidden_noise = float(input_noise), float(hidden_noise)
        self.noise_generators: list[torch.Generator] | None = None  # see seeded_noise
        widths = (self.x_dim + self.z_dim, *self.hidden, 1)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(self.members, i, o)) for i, o in zip(widths[:-1], widths[1:])
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.empty(self.members, 1, o)) for o in widths[1:]
        )
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | Sequence[int] | None = None) -> None:
        """Initialise as ``nn.Linear`` does (uniform in +-1/sqrt(fan_in)), member by member."""
        seeds = [None] * self.members if seed is None else seeding.member_seeds(seed, self.members)
        with torch.no_grad():
            for k, s in enumerate(seeds):
                gen = None if s is None else seeding.generator(s, "init")
                for w, b in zip(self.weights, self.biases):
                    bound = 1.0 / math.sqrt(w.shape[1])
                    w[k].copy_(_uniform(w.shape[1:], bound, gen))
                    b[k].copy_(_uniform(b.shape[1:], bound, gen))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, z], dim=-1)
        single = h.dim() == 2
        if single and self.members != 1:
            raise ValueError(f"a network of {self.members} members needs (K, n, d) inputs; got (n, d)")
        if not single and h.shape[0] != self.members:
            raise ValueError(f"expected inputs stacked over {self.members} members; got {h.shape[0]}")
        act = ACTIVATIONS[self.activation]
        if self.training and self.input_noise > 0:
            h = h + self.input_noise * gaussian_like(h, getattr(self, "noise_generators", None))
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            # addmm for one member avoids the batched kernel's overhead on (n, d) inputs.
            h = torch.addmm(b[0], h, w[0]) if single else torch.baddbmm(b, h, w)
            if i < last:
                h = act(h)
                if self.training and self.hidden_noise > 0:
                    h = h + self.hidden_noise * gaussian_like(h, getattr(self, "noise_generators", None))
        return h.squeeze(-1)

    def extra_repr(self) -> str:
        noise = (f", input_noise={self.input_noise:g}, hidden_noise={self.hidden_noise:g}"
                 if self.input_noise or self.hidden_noise else "")
        return (f"x_dim={self.x_dim}, z_dim={self.z_dim}, hidden={self.hidden}, "
                f"activation={self.activation!r}, members={self.members}{noise}")


def gaussian_like(h: torch.Tensor, generators: Sequence[torch.Generator] | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``h``.

    ``generators`` None draws from torch's global generator, one generator draws all of ``h``, and K of
    them draw member k's slice ``h[k]`` of a stacked (K, ...) ``h`` from ``generators[k]``, so that each
    member of a stacked run gets the noise it gets alone.
    """
    if generators is None:
        return torch.randn_like(h)
    if len(generators) == 1:
        return torch.randn(h.shape, generator=generators[0], dtype=h.dtype, device=h.device)
    if h.shape[0] != len(generators):
        raise ValueError(f"noise for {h.shape[0]} stacked members needs {h.shape[0]} generators; got {len(generators)}")
    return torch.stack([torch.randn(h.shape[1:], generator=g, dtype=h.dtype, device=h.device) for g in generators])


@contextmanager
def seeded_noise(module: nn.Module, generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Within the block, every noise layer of ``module`` (those with a ``noise_generators`` attribute)
    draws from ``generators`` (see :func:`gaussian_like`); afterwards from what it drew from before (the
    global generator outside any block), so that blocks nest: an evaluation inside a training loop can draw
    from its own stream (:mod:`minelib.seeding`: ``eval`` inside ``noise_layers``)."""
    layers = [m for m in module.modules() if hasattr(m, "noise_generators")]
    before = [m.noise_generators for m in layers]
    for m in layers:
        m.noise_generators = list(generators)
    try:
        yield
    finally:
        for m, gens in zip(layers, before):
            m.noise_generators = gens


def _uniform(shape, bound: float, gen: torch.Generator | None) -> torch.Tensor:
    return torch.empty(shape).uniform_(-bound, bound, generator=gen)

