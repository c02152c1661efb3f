"""One seeding scheme: every random stream comes from (seed, purpose, member) through numpy's SeedSequence.

This module is the only place where minelib derives seeds; every other module points here.

**Streams.** A run has a seed (any int >= 0: ``2**32`` and ``2**70`` are seeds of their own, and bools, floats,
negatives and None are refused, naming the argument). Each *purpose* of :data:`PURPOSES` gets its own stream,
``SeedSequence(seed, spawn_key=(member, purpose))``: the same derivation as ``SeedSequence(seed).spawn``, so
streams of different purposes, members or seeds never overlap in practice, whatever the ints are (no offsets
such as ``seed * 1000 + s`` that collide once ``s`` reaches 1000, no ``% 2**32`` that makes ``2**32`` equal
``0``). :func:`generator` (torch), :func:`rng` (numpy), :func:`torch_seed` (an int for torch) and
:func:`fork_global` (torch's global generator, privately) turn a stream into a generator. numpy generators take
the stream's full state; torch's CPU generator (mt19937) keeps only the low 32 bits of the 63-bit seed it is
given, so two torch streams coincide with probability 2**-32 per pair: by chance, never by rule
(``manual_seed(2**32)`` is ``manual_seed(0)``, but ``generator(2**32, p)`` is not ``generator(0, p)``).
``member`` tells apart the replicates of one seed (:func:`replicate_seeds`); a run's own streams are member 0's.

**Purposes** (what each one drives; a purpose's index is part of the stream's identity, so new purposes are
appended, never reordered):

- ``data``: which training rows a minibatch takes (``estimate_mi``, MINEGAN, the bidirectional models), a
  data sampler's numpy generator (MINEGAN's ``data`` as a function), synthetic data (the CelebA fixture);
- ``init``: a network's initial weights (the statistics network; MINEGAN's G; the bidirectional models' F
  and G; the bottleneck's classifier; the image classifiers);
- ``order``: the order of an epoch (the bottleneck, the image classifiers);
- ``noise``: the noise a training loop draws as input (MINEGAN's ``z``, the bidirectional prior ``z`` and
  encoder noise ``eps``);
- ``shuffle``: the shuffles (derangements) that make MINE's marginal pairs in training;
- ``eval``: noise drawn to evaluate (the bottleneck's test errors, ``encode`` and ``reconstruct``'s ``eps``,
  the pairs of ``intra_class_ms_ssim``);
- ``sample``: noise of generated samples (MINEGAN's recorded samples and ``generate``, the bidirectional
  ``sample``);
- ``replicate``: the seeds of replicates and of the members of a stacked run (:func:`replicate_seeds`);
- ``split``: which rows are held out or subsampled (``estimate_mi``'s test split, ``load_celeba``'s subsample);
- ``critic``: the statistics network T inside a larger model (MINEGAN, ALI+MINE, the bottleneck). A
  :class:`~minelib.networks.StatisticsNetwork` there gets its own seed ``torch_seed(seed, "critic")``
  (:func:`child_seed`) and initialises from that seed's ``init`` stream;
- ``discriminator``: the initial weights of discriminators (MINEGAN's D, the bidirectional models' D's);
- ``noise_layers``: noise drawn inside modules in training (Gaussian noise layers, the noisy statistics
  networks, the bottleneck's stochastic encoders; see :func:`minelib.networks.seeded_noise`);
- ``global``: layers that draw from torch's global generator (dropout), run inside :func:`fork_global`.

**Members.** A stacked run trains K members at once, one seed each (:func:`member_seeds`, the one rule):
a list of K ints gives member k the k-th; an int with K > 1 members means ``replicate_seeds(seed, K)``; an
int with one member is that int. Member k then draws every stream from its own seed exactly as a run of that
seed alone does, so a member of a stacked run equals the run alone. Replicates of an experiment are members
of its base seed in the same way.

**None** means "torch's global generator" only for network constructors (``StatisticsNetwork``, ``MINE``,
the model builders); trainers and estimators are always seeded.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

# A purpose's index is part of the stream's identity: append new purposes, never reorder.
PURPOSES = ("data", "init", "order", "noise", "shuffle", "eval", "sample", "replicate", "split",
            "critic", "discriminator", "noise_layers", "global")


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


def child_seed(seed: int | None, purpose: str) -> int | None:
    """The seed of a component that takes a seed of its own (the statistics network T of a larger model:
    ``purpose="critic"``): ``torch_seed(seed, purpose)``; None stays None (torch's global generator)."""
    return None if seed is None else torch_seed(seed, purpose)


def generator(seed: int, purpose: str, member: int = 0, device: str | torch.device | None = None) -> torch.Generator:
    """A torch generator on ``device`` (default: the CPU) seeded from the stream (seed, purpose, member)."""
    gen = torch.Generator(device=device) if device is not None else torch.Generator()
    return gen.manual_seed(torch_seed(seed, purpose, member))


def rng(seed: int, purpose: str, member: int = 0) -> np.random.Generator:
    """A numpy generator from the stream (seed, purpose, member)."""
    return np.random.default_rng(sequence(seed, purpose, member))


@contextmanager
def fork_global(seed: int | None, purpose: str, member: int = 0,
                device: str | torch.device | None = None) -> Iterator[None]:
    """Within the block torch's global CPU generator (and ``device``'s, when it is a CUDA device) is seeded from
    the stream (seed, purpose, member); afterwards it is back where it was, so that building a network or
    running dropout from a seed never moves the caller's random numbers. ``seed`` None leaves the generators
    as they are inside the block (still restored afterwards)."""
    value = None if seed is None else torch_seed(seed, purpose, member)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    cuda = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        if value is not None:
            torch.default_generator.manual_seed(value)
            for index in cuda:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(value)
        yield


def replicate_seeds(seed: int, n: int) -> list[int]:
    """The seeds of ``n`` replicates under base ``seed``: member k's ``replicate`` stream as an int."""
    n = check_seed(n, "n")
    return [torch_seed(seed, "replicate", k) for k in range(n)]


def member_seeds(seed, k: int, name: str = "seed", noun: str = "member") -> list[int]:
    """One seed per member of a run of ``k`` members: the one rule of every stacked run.

    A list, tuple or 1-d array of ``k`` ints gives member i the i-th; an int with ``k > 1`` means
    :func:`replicate_seeds` ``(seed, k)``; an int with ``k == 1`` is that int. Anything else raises, naming
    ``name`` (and the ``noun`` a member is: "model", "task"...).
    """
    if isinstance(seed, (list, tuple, np.ndarray)):
        values = list(seed)
        if not values:
            raise ValueError(f"{name} must be an integer >= 0 or a non-empty list of them; got {seed!r}")
        if len(values) != k:
            raise ValueError(f"{name} must be an integer >= 0 or a list of {k} seeds, one per {noun}; "
                             f"got a list of {len(values)}")
        return [check_seed(v, f"{name}[{i}]") for i, v in enumerate(values)]
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0 or a list of {k} of them, one per {noun}; got {seed!r}")
    seed = check_seed(seed, name)
    return [seed] if k == 1 else replicate_seeds(seed, k)


def member_generators(seeds: Sequence[int], purpose: str, device: str | torch.device | None = None
                      ) -> list[torch.Generator]:
    """One torch generator per member seed for stream ``purpose``, on ``device`` (default: the CPU)."""
    return [generator(s, purpose, device=device) for s in seeds]
