"""One seeding scheme: every random stream comes from (seed, member, purpose) through numpy's SeedSequence.

A run has a seed (any int >= 0). Each *purpose* (data, initialisation, minibatch order, noise layers,
shuffled pairs, ...) and each *member* of a stacked run gets its own stream,
``SeedSequence(seed, spawn_key=(member, purpose))``: the same derivation as ``SeedSequence(seed).spawn``,
so streams of different purposes, members or seeds never overlap in practice, whatever the ints are
(no offsets such as ``seed * 1000 + s`` that collide once ``s`` reaches 1000, no ``% 2**32`` that makes
``2**32`` equal ``0``). Replicates of an experiment are members of its base seed: :func:`replicate_seeds`.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

# A purpose's index is part of the stream's identity: append new purposes, never reorder.
PURPOSES = ("data", "init", "order", "noise", "shuffle", "eval", "sample", "replicate", "split")


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as a Python int: any integer >= 0 (numpy integers too); bools and floats raise TypeError."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0; got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be >= 0; got {seed}")
    return int(seed)


def sequence(seed: int, purpose: str, member: int = 0) -> np.random.SeedSequence:
    """The SeedSequence of one stream: ``purpose`` (one of :data:`PURPOSES`) of ``member`` under ``seed``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; accepted: {', '.join(PURPOSES)}")
    member = check_seed(member, "member")
    return np.random.SeedSequence(check_seed(seed), spawn_key=(member, PURPOSES.index(purpose)))


def torch_seed(seed: int, purpose: str, member: int = 0) -> int:
    """A 63-bit integer for ``torch.Generator.manual_seed`` from the stream (seed, purpose, member)."""
    return int(sequence(seed, purpose, member).generate_state(1, np.uint64)[0] >> np.uint64(1))


def generator(seed: int, purpose: str, member: int = 0, device: str | torch.device | None = None) -> torch.Generator:
    """A torch generator on ``device`` (default: the CPU) seeded from the stream (seed, purpose, member)."""
    gen = torch.Generator(device=device) if device is not None else torch.Generator()
    return gen.manual_seed(torch_seed(seed, purpose, member))


def rng(seed: int, purpose: str, member: int = 0) -> np.random.Generator:
    """A numpy generator from the stream (seed, purpose, member)."""
    return np.random.default_rng(sequence(seed, purpose, member))


def replicate_seeds(seed: int, n: int) -> list[int]:
    """The seeds of ``n`` replicates under base ``seed``: member k's ``replicate`` stream as an int."""
    return [torch_seed(seed, "replicate", k) for k in range(n)]
